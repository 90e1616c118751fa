//! Container child tables: `containers` (pods), `workload_containers` (pod templates of
//! Deployments, StatefulSets, DaemonSets, Jobs and CronJobs) and `container_ports`.
//!
//! Both container tables share [`container_columns`], so a control written
//! against one reads the same against the other.

use std::borrow::Cow;

use sonic_rs::{JsonContainerTrait as _, JsonValueTrait as _, Value};

use super::TableDef;
use super::common::{
    cluster, namespace, owner_kind, owner_name, parent_columns, pod_workload, source_kind,
};
use super::model::{
    Cell, Child, Col, ColType as T, Row, RowSource, array_at, at, aux, col, item, obj,
};
use crate::kubernetes::resource::{ResourceRef, builtin};

pub(crate) fn tables() -> Vec<TableDef> {
    vec![containers(), workload_containers(), container_ports()]
}

/// (spec list, status list, container_type) in the order a pod runs them.
const CONTAINER_LISTS: [(&str, &str, &str); 3] = [
    ("initContainers", "initContainerStatuses", "init"),
    ("containers", "containerStatuses", "regular"),
    (
        "ephemeralContainers",
        "ephemeralContainerStatuses",
        "ephemeral",
    ),
];

fn explode_pod<'a>(pod: &'a Value, _: &ResourceRef, out: &mut Vec<Child<'a>>) {
    let spec = pod.get("spec");
    for (list, statuses, tag) in CONTAINER_LISTS {
        for c in array_at(pod, &["spec", list]) {
            let name = c.get("name").filter(|n| n.is_str());
            let status = name.and_then(|n| {
                array_at(pod, &["status", statuses])
                    .iter()
                    .find(|s| s.get("name") == Some(n))
            });
            out.push(Child {
                item: c,
                aux: status,
                pod_spec: spec,
                tag,
            });
        }
    }
}

/// The pod spec of a workload's template (a CronJob's is inside its jobTemplate).
fn template_spec(workload: &Value) -> Option<&Value> {
    at(
        workload,
        &["spec", "jobTemplate", "spec", "template", "spec"],
    )
    .or_else(|| at(workload, &["spec", "template", "spec"]))
}

fn explode_workload<'a>(workload: &'a Value, _: &ResourceRef, out: &mut Vec<Child<'a>>) {
    let Some(spec) = template_spec(workload) else {
        return;
    };
    for (list, _, tag) in CONTAINER_LISTS {
        for c in array_at(spec, &[list]) {
            out.push(Child {
                item: c,
                aux: None,
                pod_spec: Some(spec),
                tag,
            });
        }
    }
}

fn explode_ports<'a>(pod: &'a Value, _: &ResourceRef, out: &mut Vec<Child<'a>>) {
    for (list, _, tag) in CONTAINER_LISTS {
        for c in array_at(pod, &["spec", list]) {
            for p in array_at(c, &["ports"]) {
                out.push(Child {
                    item: p,
                    aux: Some(c),
                    pod_spec: pod.get("spec"),
                    tag,
                });
            }
        }
    }
}

/// A security-context field of the container, else (for fields the pod level
/// also has) of the pod: the value the kubelet applies.
fn security<'a>(r: &Row<'a>, field: &str, pod_level: bool) -> Option<&'a Value> {
    at(r.item, &["securityContext", field])
        .filter(|v| !v.is_null())
        .or_else(|| {
            if pod_level {
                r.pod_spec
                    .and_then(|p| at(p, &["securityContext", field]))
                    .filter(|v| !v.is_null())
            } else {
                None
            }
        })
}

fn pod_flag<'a>(r: &Row<'a>, field: &str) -> Cell<'a> {
    Cell::Bool(
        r.pod_spec
            .and_then(|p| p.get(field))
            .and_then(Value::as_bool)
            == Some(true),
    )
}

fn has<'a>(r: &Row<'a>, field: &str) -> Cell<'a> {
    Cell::Bool(r.item.get(field).is_some_and(|v| !v.is_null()))
}

/// Columns describing one container spec; shared by `containers` and `workload_containers`.
pub(crate) fn container_columns() -> Vec<Col> {
    vec![
        col(
            "container_type",
            T::Utf8,
            "init, regular or ephemeral",
            |r| Cell::str(Some(r.tag)),
        ),
        item("name", T::Utf8, "Container name", &["name"]),
        item("image", T::Utf8, "Image as written in the spec", &["image"]),
        col(
            "image_ref",
            T::Utf8,
            "Normalized full reference (nginx → docker.io/library/nginx:latest); null when unparsable",
            |r| Cell::string(r.image().map(|i| i.normalized())),
        ),
        col(
            "registry",
            T::Utf8,
            "Image registry, normalized (docker.io when none is named)",
            |r| Cell::string(r.image().map(|i| i.registry.clone())),
        ),
        col(
            "repository",
            T::Utf8,
            "Image repository within the registry (library/nginx)",
            |r| Cell::string(r.image().map(|i| i.repository.clone())),
        ),
        col(
            "tag",
            T::Utf8,
            "Image tag (latest when neither tag nor digest is given)",
            |r| Cell::string(r.image().and_then(|i| i.tag.clone())),
        ),
        col("digest", T::Utf8, "Image digest (sha256:...)", |r| {
            Cell::string(r.image().and_then(|i| i.digest.clone()))
        }),
        item(
            "image_pull_policy",
            T::Utf8,
            "Always, IfNotPresent or Never",
            &["imagePullPolicy"],
        ),
        item(
            "cpu_request",
            T::Cpu,
            "CPU request, millicores",
            &["resources", "requests", "cpu"],
        ),
        item(
            "cpu_limit",
            T::Cpu,
            "CPU limit, millicores",
            &["resources", "limits", "cpu"],
        ),
        item(
            "memory_request",
            T::Bytes,
            "Memory request, bytes",
            &["resources", "requests", "memory"],
        ),
        item(
            "memory_limit",
            T::Bytes,
            "Memory limit, bytes",
            &["resources", "limits", "memory"],
        ),
        item(
            "ephemeral_storage_request",
            T::Bytes,
            "Ephemeral storage request, bytes",
            &["resources", "requests", "ephemeral-storage"],
        ),
        item(
            "ephemeral_storage_limit",
            T::Bytes,
            "Ephemeral storage limit, bytes",
            &["resources", "limits", "ephemeral-storage"],
        ),
        col(
            "privileged",
            T::Boolean,
            "securityContext.privileged (null when unset, which means false)",
            |r| Cell::raw(security(r, "privileged", false)),
        ),
        col(
            "allow_privilege_escalation",
            T::Boolean,
            "securityContext.allowPrivilegeEscalation (null when unset, which allows escalation)",
            |r| Cell::raw(security(r, "allowPrivilegeEscalation", false)),
        ),
        col(
            "run_as_non_root",
            T::Boolean,
            "runAsNonRoot of the container, else of the pod (null when unset)",
            |r| Cell::raw(security(r, "runAsNonRoot", true)),
        ),
        col(
            "run_as_user",
            T::Int64,
            "runAsUser of the container, else of the pod",
            |r| Cell::raw(security(r, "runAsUser", true)),
        ),
        col(
            "run_as_group",
            T::Int64,
            "runAsGroup of the container, else of the pod",
            |r| Cell::raw(security(r, "runAsGroup", true)),
        ),
        col(
            "read_only_root_filesystem",
            T::Boolean,
            "securityContext.readOnlyRootFilesystem (null when unset)",
            |r| Cell::raw(security(r, "readOnlyRootFilesystem", false)),
        ),
        item(
            "capabilities_add",
            T::List,
            "Added Linux capabilities",
            &["securityContext", "capabilities", "add"],
        ),
        item(
            "capabilities_drop",
            T::List,
            "Dropped Linux capabilities",
            &["securityContext", "capabilities", "drop"],
        ),
        col(
            "seccomp_profile",
            T::Utf8,
            "seccompProfile.type of the container, else of the pod (RuntimeDefault, Localhost, Unconfined)",
            |r| Cell::raw(security(r, "seccompProfile", true).and_then(|p| p.get("type"))),
        ),
        col(
            "apparmor_profile",
            T::Utf8,
            "appArmorProfile.type of the container, else of the pod",
            |r| Cell::raw(security(r, "appArmorProfile", true).and_then(|p| p.get("type"))),
        ),
        item(
            "proc_mount",
            T::Utf8,
            "securityContext.procMount",
            &["securityContext", "procMount"],
        ),
        col(
            "readiness_probe",
            T::Boolean,
            "Has a readiness probe",
            |r| has(r, "readinessProbe"),
        ),
        col("liveness_probe", T::Boolean, "Has a liveness probe", |r| {
            has(r, "livenessProbe")
        }),
        col("startup_probe", T::Boolean, "Has a startup probe", |r| {
            has(r, "startupProbe")
        }),
        item("command", T::List, "Entrypoint override", &["command"]),
        item("args", T::List, "Arguments", &["args"]),
        item(
            "env",
            T::Json,
            "Environment (JSON array as in the spec: values from Secrets appear as references, never values)",
            &["env"],
        ),
        item(
            "env_from",
            T::Json,
            "envFrom sources (JSON: ConfigMap and Secret references)",
            &["envFrom"],
        ),
        item(
            "volume_mounts",
            T::Json,
            "Volume mounts (JSON array of {name, mountPath, readOnly, ...})",
            &["volumeMounts"],
        ),
        col(
            "host_network",
            T::Boolean,
            "The pod uses the node's network namespace",
            |r| pod_flag(r, "hostNetwork"),
        ),
        col(
            "host_pid",
            T::Boolean,
            "The pod uses the node's PID namespace",
            |r| pod_flag(r, "hostPID"),
        ),
        col(
            "host_ipc",
            T::Boolean,
            "The pod uses the node's IPC namespace",
            |r| pod_flag(r, "hostIPC"),
        ),
        col(
            "host_path_volumes",
            T::List,
            "hostPath paths of the pod's volumes",
            |r| {
                Cell::List(
                    r.pod_spec
                        .map(|p| array_at(p, &["volumes"]))
                        .unwrap_or_default()
                        .iter()
                        .filter_map(|v| at(v, &["hostPath", "path"]).and_then(Value::as_str))
                        .map(Cow::Borrowed)
                        .collect(),
                )
            },
        ),
        col(
            "host_ports",
            T::List,
            "hostPort values of the container's ports",
            |r| {
                Cell::List(
                    array_at(r.item, &["ports"])
                        .iter()
                        .filter_map(|p| p.get("hostPort").and_then(Value::as_i64))
                        .filter(|p| *p != 0)
                        .map(|p| Cow::Owned(p.to_string()))
                        .collect(),
                )
            },
        ),
        col(
            "service_account",
            T::Utf8,
            "Service account of the pod",
            |r| Cell::raw(r.pod_spec.and_then(|p| p.get("serviceAccountName"))),
        ),
        col(
            "automount_service_account_token",
            T::Boolean,
            "Pod's automountServiceAccountToken (null when unset: the service account decides)",
            |r| {
                Cell::raw(
                    r.pod_spec
                        .and_then(|p| p.get("automountServiceAccountToken")),
                )
            },
        ),
    ]
}

/// The key of the status's `state` object: running, waiting or terminated.
fn state_name(status: &Value) -> Option<&str> {
    let state = status.get("state")?.as_object()?;
    ["running", "waiting", "terminated"]
        .into_iter()
        .find(|k| state.get(k).is_some_and(|v| !v.is_null()))
}

fn status_columns() -> Vec<Col> {
    vec![
        aux("ready", T::Boolean, "Container is ready", &["ready"]),
        aux("started", T::Boolean, "Container has started", &["started"]),
        aux(
            "restart_count",
            T::Int64,
            "Restarts of the container",
            &["restartCount"],
        ),
        col(
            "state",
            T::Utf8,
            "Current state: running, waiting or terminated",
            |r| Cell::str(r.aux.and_then(state_name)),
        ),
        col(
            "state_reason",
            T::Utf8,
            "Reason of the waiting or terminated state (CrashLoopBackOff, Completed, ...)",
            |r| {
                Cell::raw(r.aux.and_then(|s| {
                    let name = state_name(s)?;
                    at(s, &["state", name, "reason"])
                }))
            },
        ),
        aux(
            "last_termination_reason",
            T::Utf8,
            "Reason of the previous termination (e.g. OOMKilled)",
            &["lastState", "terminated", "reason"],
        ),
        aux(
            "image_id",
            T::Utf8,
            "Image ID the runtime resolved (with digest)",
            &["imageID"],
        ),
    ]
}

fn pod_parent_columns() -> Vec<Col> {
    let mut cols = parent_columns("pod_name", "Pod name", "pod_uid", "Pod UID");
    cols.extend([
        obj("pod_labels", T::Map, "Labels of the pod", &["metadata", "labels"]),
        owner_kind(),
        owner_name(),
        col(
            "workload_kind",
            T::Utf8,
            "Kind of the managing workload (ReplicaSet owners resolved to their Deployment; Pod when unowned)",
            |r| Cell::str(pod_workload(r.obj).0),
        ),
        col(
            "workload_name",
            T::Utf8,
            "Name of the managing workload",
            |r| Cell::str(pod_workload(r.obj).1),
        ),
        obj("node_name", T::Utf8, "Node of the pod", &["spec", "nodeName"]),
        obj("phase", T::Utf8, "Phase of the pod", &["status", "phase"]),
    ]);
    cols
}

fn containers() -> TableDef {
    let mut cols = pod_parent_columns();
    cols.extend(container_columns());
    cols.extend(status_columns());
    TableDef::new(
        "containers",
        "Containers of pods (init, regular and ephemeral), with parsed images, resources and security context",
        vec![builtin::pods()],
        RowSource::Explode(explode_pod),
        cols,
        vec![
            ("pod_name", "metadata.name"),
            ("node_name", "spec.nodeName"),
            ("phase", "status.phase"),
        ],
    )
    .with_labels_column("pod_labels")
}

pub(crate) fn workload_refs() -> Vec<ResourceRef> {
    vec![
        builtin::deployments(),
        builtin::statefulsets(),
        builtin::daemonsets(),
        builtin::jobs(),
        builtin::cronjobs(),
    ]
}

fn workload_containers() -> TableDef {
    let mut cols = vec![
        cluster(),
        namespace(),
        col(
            "workload_kind",
            T::Utf8,
            "Deployment, StatefulSet, DaemonSet, Job or CronJob",
            source_kind,
        ),
        obj(
            "workload_name",
            T::Utf8,
            "Workload name",
            &["metadata", "name"],
        ),
        obj(
            "workload_uid",
            T::Utf8,
            "Workload UID",
            &["metadata", "uid"],
        ),
        obj(
            "workload_labels",
            T::Map,
            "Labels of the workload",
            &["metadata", "labels"],
        ),
        owner_kind(),
        owner_name(),
    ];
    cols.extend(container_columns());
    TableDef::new(
        "workload_containers",
        "Pod-template containers of Deployments, StatefulSets, DaemonSets, Jobs and CronJobs",
        workload_refs(),
        RowSource::Explode(explode_workload),
        cols,
        vec![("workload_name", "metadata.name")],
    )
    .with_labels_column("workload_labels")
}

fn container_ports() -> TableDef {
    let mut cols = pod_parent_columns();
    cols.extend([
        aux("container_name", T::Utf8, "Container name", &["name"]),
        col(
            "container_type",
            T::Utf8,
            "init, regular or ephemeral",
            |r| Cell::str(Some(r.tag)),
        ),
        item("name", T::Utf8, "Port name", &["name"]),
        item(
            "container_port",
            T::Int64,
            "Port number in the container",
            &["containerPort"],
        ),
        super::common::port_protocol(),
        item(
            "host_port",
            T::Int64,
            "Port exposed on the node",
            &["hostPort"],
        ),
        item(
            "host_ip",
            T::Utf8,
            "Node IP the host port binds",
            &["hostIP"],
        ),
    ]);
    TableDef::new(
        "container_ports",
        "Ports declared by pod containers",
        vec![builtin::pods()],
        RowSource::Explode(explode_ports),
        cols,
        vec![
            ("pod_name", "metadata.name"),
            ("node_name", "spec.nodeName"),
            ("phase", "status.phase"),
        ],
    )
    .with_labels_column("pod_labels")
}
