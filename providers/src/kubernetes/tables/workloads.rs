//! Workload tables: deployments, replica_sets, stateful_sets, daemon_sets, jobs, cron_jobs,
//! pod_disruption_budgets, horizontal_pod_autoscalers.
//!
//! Replica counts use the same four names on every controller (`replicas`,
//! `ready_replicas`, `available_replicas`, `updated_replicas`) so one query
//! reads across kinds; DaemonSets map their scheduled counts onto them.

use sonic_rs::{JsonValueTrait as _, Value};

use super::TableDef;
use super::common::object_table;
use super::model::{Cell, Col, ColType as T, RowSource, array_at, at, col, condition_true, obj};
use crate::kubernetes::resource::builtin;

pub(crate) fn tables() -> Vec<TableDef> {
    vec![
        deployments(),
        replica_sets(),
        stateful_sets(),
        daemon_sets(),
        jobs(),
        cron_jobs(),
        pod_disruption_budgets(),
        horizontal_pod_autoscalers(),
    ]
}

fn selector() -> Col {
    obj(
        "selector",
        T::Json,
        "Label selector (JSON LabelSelector; use with selector_matches)",
        &["spec", "selector"],
    )
}

fn template_labels() -> Col {
    obj(
        "template_labels",
        T::Map,
        "Labels of the pod template",
        &["spec", "template", "metadata", "labels"],
    )
}

fn service_account() -> Col {
    obj(
        "service_account",
        T::Utf8,
        "Service account of the pod template",
        &["spec", "template", "spec", "serviceAccountName"],
    )
}

fn replica_columns(status: [&'static [&'static str]; 4]) -> Vec<Col> {
    let [ready, available, updated, desired] = status;
    vec![
        obj("replicas", T::Int64, "Desired replicas", desired),
        obj("ready_replicas", T::Int64, "Ready replicas", ready),
        obj(
            "available_replicas",
            T::Int64,
            "Available replicas",
            available,
        ),
        obj(
            "updated_replicas",
            T::Int64,
            "Replicas at the current template",
            updated,
        ),
    ]
}

fn deployments() -> TableDef {
    let mut cols = replica_columns([
        &["status", "readyReplicas"],
        &["status", "availableReplicas"],
        &["status", "updatedReplicas"],
        &["spec", "replicas"],
    ]);
    cols.extend([
        selector(),
        obj(
            "strategy",
            T::Utf8,
            "RollingUpdate or Recreate",
            &["spec", "strategy", "type"],
        ),
        col(
            "paused",
            T::Boolean,
            "Rollout paused (false when unset)",
            |r| Cell::Bool(at(r.obj, &["spec", "paused"]).and_then(Value::as_bool) == Some(true)),
        ),
        obj(
            "min_ready_seconds",
            T::Int64,
            "minReadySeconds",
            &["spec", "minReadySeconds"],
        ),
        template_labels(),
        service_account(),
        col(
            "available",
            T::Boolean,
            "Available condition is True",
            |r| {
                Cell::bool(condition_true(
                    r.obj,
                    &["status", "conditions"],
                    "Available",
                ))
            },
        ),
    ]);
    TableDef::new(
        "deployments",
        "Deployments",
        vec![builtin::deployments()],
        RowSource::Object,
        object_table(cols),
        vec![("name", "metadata.name")],
    )
}

fn replica_sets() -> TableDef {
    let mut cols = replica_columns([
        &["status", "readyReplicas"],
        &["status", "availableReplicas"],
        &["status", "fullyLabeledReplicas"],
        &["spec", "replicas"],
    ]);
    // ReplicaSets have no "updated" count; fully labeled replicas is the closest meaning.
    cols[3] = obj(
        "fully_labeled_replicas",
        T::Int64,
        "Replicas whose labels match the template",
        &["status", "fullyLabeledReplicas"],
    );
    cols.extend([selector(), template_labels(), service_account()]);
    TableDef::new(
        "replica_sets",
        "ReplicaSets",
        vec![builtin::replicasets()],
        RowSource::Object,
        object_table(cols),
        vec![("name", "metadata.name")],
    )
}

fn stateful_sets() -> TableDef {
    let mut cols = replica_columns([
        &["status", "readyReplicas"],
        &["status", "availableReplicas"],
        &["status", "updatedReplicas"],
        &["spec", "replicas"],
    ]);
    cols.extend([
        obj(
            "current_replicas",
            T::Int64,
            "Replicas at the current revision",
            &["status", "currentReplicas"],
        ),
        selector(),
        obj(
            "strategy",
            T::Utf8,
            "RollingUpdate or OnDelete",
            &["spec", "updateStrategy", "type"],
        ),
        obj(
            "service_name",
            T::Utf8,
            "Governing headless service",
            &["spec", "serviceName"],
        ),
        obj(
            "pod_management_policy",
            T::Utf8,
            "OrderedReady or Parallel",
            &["spec", "podManagementPolicy"],
        ),
        template_labels(),
        service_account(),
    ]);
    TableDef::new(
        "stateful_sets",
        "StatefulSets",
        vec![builtin::statefulsets()],
        RowSource::Object,
        object_table(cols),
        vec![("name", "metadata.name")],
    )
}

fn daemon_sets() -> TableDef {
    let mut cols = replica_columns([
        &["status", "numberReady"],
        &["status", "numberAvailable"],
        &["status", "updatedNumberScheduled"],
        &["status", "desiredNumberScheduled"],
    ]);
    cols[0].description = "Nodes that should run the daemon pod (desiredNumberScheduled)";
    cols.extend([
        obj(
            "current_scheduled",
            T::Int64,
            "Nodes running the daemon pod (currentNumberScheduled)",
            &["status", "currentNumberScheduled"],
        ),
        obj(
            "misscheduled",
            T::Int64,
            "Nodes running the daemon pod that should not",
            &["status", "numberMisscheduled"],
        ),
        selector(),
        obj(
            "strategy",
            T::Utf8,
            "RollingUpdate or OnDelete",
            &["spec", "updateStrategy", "type"],
        ),
        obj(
            "node_selector",
            T::Map,
            "Node selector of the pod template",
            &["spec", "template", "spec", "nodeSelector"],
        ),
        template_labels(),
        service_account(),
    ]);
    TableDef::new(
        "daemon_sets",
        "DaemonSets",
        vec![builtin::daemonsets()],
        RowSource::Object,
        object_table(cols),
        vec![("name", "metadata.name")],
    )
}

fn jobs() -> TableDef {
    TableDef::new(
        "jobs",
        "Jobs",
        vec![builtin::jobs()],
        RowSource::Object,
        object_table(vec![
            obj(
                "completions",
                T::Int64,
                "Desired completions",
                &["spec", "completions"],
            ),
            obj(
                "parallelism",
                T::Int64,
                "Maximum parallel pods",
                &["spec", "parallelism"],
            ),
            obj(
                "backoff_limit",
                T::Int64,
                "Retries before failing",
                &["spec", "backoffLimit"],
            ),
            obj("suspend", T::Boolean, "Suspended", &["spec", "suspend"]),
            obj("active", T::Int64, "Running pods", &["status", "active"]),
            obj(
                "succeeded",
                T::Int64,
                "Succeeded pods",
                &["status", "succeeded"],
            ),
            obj("failed", T::Int64, "Failed pods", &["status", "failed"]),
            obj(
                "start_time",
                T::Timestamp,
                "Start time",
                &["status", "startTime"],
            ),
            obj(
                "completion_time",
                T::Timestamp,
                "Completion time",
                &["status", "completionTime"],
            ),
            col("complete", T::Boolean, "Complete condition is True", |r| {
                Cell::Bool(
                    condition_true(r.obj, &["status", "conditions"], "Complete") == Some(true),
                )
            }),
            col("job_failed", T::Boolean, "Failed condition is True", |r| {
                Cell::Bool(condition_true(r.obj, &["status", "conditions"], "Failed") == Some(true))
            }),
            selector(),
            template_labels(),
            service_account(),
        ]),
        vec![("name", "metadata.name")],
    )
}

fn cron_jobs() -> TableDef {
    TableDef::new(
        "cron_jobs",
        "CronJobs",
        vec![builtin::cronjobs()],
        RowSource::Object,
        object_table(vec![
            obj("schedule", T::Utf8, "Cron schedule", &["spec", "schedule"]),
            obj(
                "time_zone",
                T::Utf8,
                "Time zone of the schedule",
                &["spec", "timeZone"],
            ),
            col("suspend", T::Boolean, "Suspended (false when unset)", |r| {
                Cell::Bool(at(r.obj, &["spec", "suspend"]).and_then(Value::as_bool) == Some(true))
            }),
            obj(
                "concurrency_policy",
                T::Utf8,
                "Allow, Forbid or Replace",
                &["spec", "concurrencyPolicy"],
            ),
            obj(
                "last_schedule",
                T::Timestamp,
                "Last time a job was scheduled",
                &["status", "lastScheduleTime"],
            ),
            obj(
                "last_successful",
                T::Timestamp,
                "Last time a job completed successfully",
                &["status", "lastSuccessfulTime"],
            ),
            col("active_jobs", T::Int64, "Currently running jobs", |r| {
                Cell::Int(array_at(r.obj, &["status", "active"]).len() as i64)
            }),
            obj(
                "template_labels",
                T::Map,
                "Labels of the job's pod template",
                &[
                    "spec",
                    "jobTemplate",
                    "spec",
                    "template",
                    "metadata",
                    "labels",
                ],
            ),
            obj(
                "service_account",
                T::Utf8,
                "Service account of the job's pod template",
                &[
                    "spec",
                    "jobTemplate",
                    "spec",
                    "template",
                    "spec",
                    "serviceAccountName",
                ],
            ),
        ]),
        vec![("name", "metadata.name")],
    )
}

fn pod_disruption_budgets() -> TableDef {
    TableDef::new(
        "pod_disruption_budgets",
        "PodDisruptionBudgets",
        vec![builtin::poddisruptionbudgets()],
        RowSource::Object,
        object_table(vec![
            obj(
                "min_available",
                T::Utf8,
                "minAvailable (number or percentage)",
                &["spec", "minAvailable"],
            ),
            obj(
                "max_unavailable",
                T::Utf8,
                "maxUnavailable (number or percentage)",
                &["spec", "maxUnavailable"],
            ),
            selector(),
            obj(
                "current_healthy",
                T::Int64,
                "Healthy pods",
                &["status", "currentHealthy"],
            ),
            obj(
                "desired_healthy",
                T::Int64,
                "Minimum healthy pods wanted",
                &["status", "desiredHealthy"],
            ),
            obj(
                "disruptions_allowed",
                T::Int64,
                "Disruptions currently allowed",
                &["status", "disruptionsAllowed"],
            ),
            obj(
                "expected_pods",
                T::Int64,
                "Pods counted by the budget",
                &["status", "expectedPods"],
            ),
        ]),
        vec![("name", "metadata.name")],
    )
}

fn horizontal_pod_autoscalers() -> TableDef {
    TableDef::new(
        "horizontal_pod_autoscalers",
        "HorizontalPodAutoscalers (autoscaling/v2)",
        vec![builtin::horizontalpodautoscalers()],
        RowSource::Object,
        object_table(vec![
            obj(
                "target_kind",
                T::Utf8,
                "Kind of the scaled object",
                &["spec", "scaleTargetRef", "kind"],
            ),
            obj(
                "target_name",
                T::Utf8,
                "Name of the scaled object",
                &["spec", "scaleTargetRef", "name"],
            ),
            obj(
                "min_replicas",
                T::Int64,
                "Minimum replicas",
                &["spec", "minReplicas"],
            ),
            obj(
                "max_replicas",
                T::Int64,
                "Maximum replicas",
                &["spec", "maxReplicas"],
            ),
            obj(
                "current_replicas",
                T::Int64,
                "Current replicas",
                &["status", "currentReplicas"],
            ),
            obj(
                "desired_replicas",
                T::Int64,
                "Desired replicas",
                &["status", "desiredReplicas"],
            ),
            obj(
                "metrics",
                T::Json,
                "Metric specs (JSON)",
                &["spec", "metrics"],
            ),
        ]),
        vec![("name", "metadata.name")],
    )
}
