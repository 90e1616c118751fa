//! Core namespaced tables: pods, pod_conditions, config_maps, secrets, service_accounts, events,
//! persistent volumes and claims, resource_quotas, limit_ranges.

use std::borrow::Cow;

use base64::Engine as _;
use sonic_rs::{JsonContainerTrait as _, JsonValueTrait as _, Value};

use super::TableDef;
use super::TableOptions;
use super::cluster::condition_columns;
use super::common::{
    cluster, metadata_columns, namespace, object_table, parent_columns, pod_workload, spec, status,
};
use super::model::{
    Cell, Child, Col, ColType as T, RowSource, array_at, at, col, condition_true, obj, str_at,
};
use crate::kubernetes::resource::{ResourceRef, builtin};

/// Annotation holding the last applied manifest, which for a Secret contains its data.
const LAST_APPLIED: &str = "kubectl.kubernetes.io/last-applied-configuration";

pub(crate) fn tables(options: TableOptions) -> Vec<TableDef> {
    vec![
        pods(),
        pod_conditions(),
        config_maps(),
        secrets(options),
        service_accounts(),
        events(),
        persistent_volumes(),
        persistent_volume_claims(),
        resource_quotas(),
        limit_ranges(),
    ]
}

fn flag(v: &Value, path: &[&str]) -> bool {
    at(v, path).and_then(Value::as_bool) == Some(true)
}

fn pods() -> TableDef {
    TableDef::new(
        "pods",
        "Pods",
        vec![builtin::pods()],
        RowSource::Object,
        object_table(vec![
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
            obj(
                "phase",
                T::Utf8,
                "Pod phase: Pending, Running, Succeeded, Failed, Unknown",
                &["status", "phase"],
            ),
            obj(
                "reason",
                T::Utf8,
                "Reason for the phase (e.g. Evicted)",
                &["status", "reason"],
            ),
            obj(
                "node_name",
                T::Utf8,
                "Node the pod is scheduled on",
                &["spec", "nodeName"],
            ),
            obj("pod_ip", T::Utf8, "Pod IP", &["status", "podIP"]),
            obj(
                "host_ip",
                T::Utf8,
                "IP of the pod's node",
                &["status", "hostIP"],
            ),
            obj(
                "service_account",
                T::Utf8,
                "Service account the pod runs as",
                &["spec", "serviceAccountName"],
            ),
            obj(
                "automount_service_account_token",
                T::Boolean,
                "spec.automountServiceAccountToken (null when unset: the service account decides)",
                &["spec", "automountServiceAccountToken"],
            ),
            col(
                "host_network",
                T::Boolean,
                "Uses the node's network namespace",
                |r| Cell::Bool(flag(r.obj, &["spec", "hostNetwork"])),
            ),
            col(
                "host_pid",
                T::Boolean,
                "Uses the node's PID namespace",
                |r| Cell::Bool(flag(r.obj, &["spec", "hostPID"])),
            ),
            col(
                "host_ipc",
                T::Boolean,
                "Uses the node's IPC namespace",
                |r| Cell::Bool(flag(r.obj, &["spec", "hostIPC"])),
            ),
            col(
                "restarts",
                T::Int64,
                "Sum of container restart counts",
                |r| {
                    Cell::Int(
                        ["initContainerStatuses", "containerStatuses"]
                            .iter()
                            .flat_map(|k| array_at(r.obj, &["status", k]))
                            .filter_map(|s| s.get("restartCount").and_then(Value::as_i64))
                            .sum(),
                    )
                },
            ),
            col("ready", T::Boolean, "Ready condition is True", |r| {
                Cell::bool(condition_true(r.obj, &["status", "conditions"], "Ready"))
            }),
            col(
                "container_count",
                T::Int64,
                "Number of regular containers",
                |r| Cell::Int(array_at(r.obj, &["spec", "containers"]).len() as i64),
            ),
            obj(
                "qos_class",
                T::Utf8,
                "QoS class: Guaranteed, Burstable, BestEffort",
                &["status", "qosClass"],
            ),
            obj(
                "priority_class",
                T::Utf8,
                "Priority class name",
                &["spec", "priorityClassName"],
            ),
            obj(
                "priority",
                T::Int64,
                "Resolved priority",
                &["spec", "priority"],
            ),
            obj(
                "restart_policy",
                T::Utf8,
                "Restart policy",
                &["spec", "restartPolicy"],
            ),
            obj(
                "scheduler_name",
                T::Utf8,
                "Scheduler",
                &["spec", "schedulerName"],
            ),
            obj(
                "node_selector",
                T::Map,
                "Node selector",
                &["spec", "nodeSelector"],
            ),
            obj(
                "start_time",
                T::Timestamp,
                "Time the kubelet acknowledged the pod",
                &["status", "startTime"],
            ),
            obj(
                "deleted",
                T::Timestamp,
                "Deletion timestamp when the pod is terminating",
                &["metadata", "deletionTimestamp"],
            ),
        ]),
        vec![
            ("name", "metadata.name"),
            ("phase", "status.phase"),
            ("node_name", "spec.nodeName"),
            ("service_account", "spec.serviceAccountName"),
            ("pod_ip", "status.podIP"),
            ("restart_policy", "spec.restartPolicy"),
            ("scheduler_name", "spec.schedulerName"),
        ],
    )
}

fn explode_conditions<'a>(v: &'a Value, _: &ResourceRef, out: &mut Vec<Child<'a>>) {
    for c in array_at(v, &["status", "conditions"]) {
        out.push(Child {
            item: c,
            aux: None,
            pod_spec: None,
            tag: "",
        });
    }
}

fn pod_conditions() -> TableDef {
    let mut cols = parent_columns("pod_name", "Pod name", "pod_uid", "Pod UID");
    cols.extend(condition_columns("last_probe"));
    TableDef::new(
        "pod_conditions",
        "One row per pod condition",
        vec![builtin::pods()],
        RowSource::Explode(explode_conditions),
        cols,
        vec![("pod_name", "metadata.name")],
    )
}

fn keys_of<'a>(v: &'a Value, fields: &[&str]) -> Vec<Cow<'a, str>> {
    let mut keys: Vec<Cow<'a, str>> = fields
        .iter()
        .filter_map(|f| v.get(*f).and_then(Value::as_object))
        .flat_map(|m| m.iter().map(|(k, _)| Cow::Borrowed(k)))
        .collect();
    keys.sort();
    keys.dedup();
    keys
}

fn config_maps() -> TableDef {
    TableDef::new(
        "config_maps",
        "ConfigMaps",
        vec![builtin::configmaps()],
        RowSource::Object,
        object_table(vec![
            col(
                "keys",
                T::List,
                "Keys of data and binaryData, sorted",
                |r| Cell::List(keys_of(r.obj, &["data", "binaryData"])),
            ),
            obj("data", T::Map, "Text data (map: data['key'])", &["data"]),
            obj("immutable", T::Boolean, "Immutable", &["immutable"]),
        ]),
        vec![("name", "metadata.name")],
    )
}

/// Annotations with the last-applied manifest redacted: for a Secret it holds the values.
fn redacted_annotations(options: TableOptions) -> Col {
    col(
        "annotations",
        T::Map,
        "Annotations (map); the last-applied-configuration value is redacted unless secret values are shown",
        move |r| {
            let Some(map) = at(r.obj, &["metadata", "annotations"]).and_then(Value::as_object)
            else {
                return Cell::Null;
            };
            Cell::Pairs(
                map.iter()
                    .map(|(k, v)| {
                        let value = if k == LAST_APPLIED && !options.show_secret_values {
                            Some(Cow::Borrowed("<redacted>"))
                        } else {
                            super::model::scalar_text(v)
                        };
                        (Cow::Borrowed(k), value)
                    })
                    .collect(),
            )
        },
    )
}

fn secrets(options: TableOptions) -> TableDef {
    let mut cols = vec![cluster(), namespace()];
    cols.extend(metadata_columns().into_iter().map(|c| {
        if c.name == "annotations" {
            redacted_annotations(options)
        } else {
            c
        }
    }));
    cols.extend([
        obj(
            "type",
            T::Utf8,
            "Secret type (Opaque, kubernetes.io/tls, ...)",
            &["type"],
        ),
        col(
            "keys",
            T::List,
            "Keys of data, sorted (never the values)",
            |r| Cell::List(keys_of(r.obj, &["data", "stringData"])),
        ),
        obj("immutable", T::Boolean, "Immutable", &["immutable"]),
    ]);
    if options.show_secret_values {
        cols.push(col(
            "data",
            T::Map,
            "Decoded values (shown only because secret values were explicitly requested)",
            |r| {
                let Some(map) = r.obj.get("data").and_then(Value::as_object) else {
                    return Cell::Null;
                };
                Cell::Pairs(
                    map.iter()
                        .map(|(k, v)| {
                            let decoded = v.as_str().and_then(|s| {
                                base64::engine::general_purpose::STANDARD
                                    .decode(s)
                                    .ok()
                                    .map(|b| Cow::Owned(String::from_utf8_lossy(&b).into_owned()))
                            });
                            (Cow::Borrowed(k), decoded)
                        })
                        .collect(),
                )
            },
        ));
    }
    cols.push(spec());
    cols.push(status());
    TableDef::new(
        "secrets",
        "Secrets: type, keys and metadata (values only with an explicit flag)",
        vec![builtin::secrets()],
        RowSource::Object,
        cols,
        vec![("name", "metadata.name"), ("type", "type")],
    )
}

fn names_of<'a>(v: &'a Value, field: &str) -> Vec<Cow<'a, str>> {
    array_at(v, &[field])
        .iter()
        .filter_map(|s| s.get("name").and_then(Value::as_str))
        .map(Cow::Borrowed)
        .collect()
}

fn service_accounts() -> TableDef {
    TableDef::new(
        "service_accounts",
        "ServiceAccounts",
        vec![builtin::serviceaccounts()],
        RowSource::Object,
        object_table(vec![
            obj(
                "automount_token",
                T::Boolean,
                "automountServiceAccountToken (null when unset: tokens are mounted)",
                &["automountServiceAccountToken"],
            ),
            col("secrets", T::List, "Names of referenced secrets", |r| {
                Cell::List(names_of(r.obj, "secrets"))
            }),
            col(
                "image_pull_secrets",
                T::List,
                "Names of image pull secrets",
                |r| Cell::List(names_of(r.obj, "imagePullSecrets")),
            ),
        ]),
        vec![("name", "metadata.name")],
    )
}

fn events() -> TableDef {
    TableDef::new(
        "events",
        "Events (core/v1)",
        vec![builtin::events()],
        RowSource::Object,
        object_table(vec![
            obj("type", T::Utf8, "Normal or Warning", &["type"]),
            obj(
                "reason",
                T::Utf8,
                "Short machine-readable reason",
                &["reason"],
            ),
            obj("message", T::Utf8, "Human-readable message", &["message"]),
            obj(
                "involved_kind",
                T::Utf8,
                "Kind of the object the event is about",
                &["involvedObject", "kind"],
            ),
            obj(
                "involved_namespace",
                T::Utf8,
                "Namespace of the involved object",
                &["involvedObject", "namespace"],
            ),
            obj(
                "involved_name",
                T::Utf8,
                "Name of the involved object",
                &["involvedObject", "name"],
            ),
            obj(
                "involved_uid",
                T::Utf8,
                "UID of the involved object",
                &["involvedObject", "uid"],
            ),
            obj(
                "involved_field_path",
                T::Utf8,
                "Field of the involved object (e.g. spec.containers{app})",
                &["involvedObject", "fieldPath"],
            ),
            col(
                "count",
                T::Int64,
                "Number of occurrences (count, else series.count, else 1)",
                |r| {
                    Cell::int(
                        r.obj
                            .get("count")
                            .and_then(Value::as_i64)
                            .or_else(|| at(r.obj, &["series", "count"]).and_then(Value::as_i64))
                            .or(Some(1)),
                    )
                },
            ),
            col(
                "first_seen",
                T::Timestamp,
                "First occurrence (firstTimestamp, else eventTime)",
                |r| Cell::raw(non_null(r.obj, &["firstTimestamp", "eventTime"])),
            ),
            col(
                "last_seen",
                T::Timestamp,
                "Last occurrence (lastTimestamp, else series.lastObservedTime, else eventTime)",
                |r| {
                    Cell::raw(
                        non_null(r.obj, &["lastTimestamp"])
                            .or_else(|| {
                                at(r.obj, &["series", "lastObservedTime"]).filter(|v| !v.is_null())
                            })
                            .or_else(|| non_null(r.obj, &["eventTime"])),
                    )
                },
            ),
            col(
                "source_component",
                T::Utf8,
                "Reporting component (source.component, else reportingComponent)",
                |r| {
                    Cell::str(
                        str_at(r.obj, &["source", "component"])
                            .filter(|s| !s.is_empty())
                            .or_else(|| str_at(r.obj, &["reportingComponent"])),
                    )
                },
            ),
            obj(
                "source_host",
                T::Utf8,
                "Reporting host",
                &["source", "host"],
            ),
        ]),
        vec![
            ("name", "metadata.name"),
            ("type", "type"),
            ("reason", "reason"),
            ("involved_kind", "involvedObject.kind"),
            ("involved_namespace", "involvedObject.namespace"),
            ("involved_name", "involvedObject.name"),
            ("involved_uid", "involvedObject.uid"),
        ],
    )
}

/// The first of `fields` present and non-null.
fn non_null<'a>(v: &'a Value, fields: &[&str]) -> Option<&'a Value> {
    fields
        .iter()
        .filter_map(|f| v.get(*f))
        .find(|x| !x.is_null())
}

fn persistent_volumes() -> TableDef {
    TableDef::new(
        "persistent_volumes",
        "PersistentVolumes",
        vec![builtin::persistentvolumes()],
        RowSource::Object,
        object_table(vec![
            obj(
                "capacity_bytes",
                T::Bytes,
                "Capacity in bytes",
                &["spec", "capacity", "storage"],
            ),
            obj(
                "access_modes",
                T::List,
                "Access modes",
                &["spec", "accessModes"],
            ),
            obj(
                "reclaim_policy",
                T::Utf8,
                "Reclaim policy",
                &["spec", "persistentVolumeReclaimPolicy"],
            ),
            obj(
                "storage_class",
                T::Utf8,
                "Storage class",
                &["spec", "storageClassName"],
            ),
            obj(
                "volume_mode",
                T::Utf8,
                "Filesystem or Block",
                &["spec", "volumeMode"],
            ),
            obj(
                "phase",
                T::Utf8,
                "Phase: Available, Bound, Released, Failed",
                &["status", "phase"],
            ),
            obj(
                "claim_namespace",
                T::Utf8,
                "Namespace of the bound claim",
                &["spec", "claimRef", "namespace"],
            ),
            obj(
                "claim_name",
                T::Utf8,
                "Name of the bound claim",
                &["spec", "claimRef", "name"],
            ),
            obj(
                "csi_driver",
                T::Utf8,
                "CSI driver",
                &["spec", "csi", "driver"],
            ),
            obj(
                "host_path",
                T::Utf8,
                "hostPath path, when the volume is a node directory",
                &["spec", "hostPath", "path"],
            ),
        ]),
        vec![("name", "metadata.name")],
    )
}

fn persistent_volume_claims() -> TableDef {
    TableDef::new(
        "persistent_volume_claims",
        "PersistentVolumeClaims",
        vec![builtin::persistentvolumeclaims()],
        RowSource::Object,
        object_table(vec![
            obj(
                "phase",
                T::Utf8,
                "Phase: Pending, Bound, Lost",
                &["status", "phase"],
            ),
            obj(
                "storage_class",
                T::Utf8,
                "Storage class",
                &["spec", "storageClassName"],
            ),
            obj(
                "volume_name",
                T::Utf8,
                "Bound volume",
                &["spec", "volumeName"],
            ),
            obj(
                "access_modes",
                T::List,
                "Requested access modes",
                &["spec", "accessModes"],
            ),
            obj(
                "volume_mode",
                T::Utf8,
                "Filesystem or Block",
                &["spec", "volumeMode"],
            ),
            obj(
                "requested_bytes",
                T::Bytes,
                "Requested storage in bytes",
                &["spec", "resources", "requests", "storage"],
            ),
            obj(
                "capacity_bytes",
                T::Bytes,
                "Provisioned capacity in bytes",
                &["status", "capacity", "storage"],
            ),
        ]),
        vec![("name", "metadata.name")],
    )
}

fn resource_quotas() -> TableDef {
    TableDef::new(
        "resource_quotas",
        "ResourceQuotas",
        vec![builtin::resourcequotas()],
        RowSource::Object,
        object_table(vec![
            obj(
                "hard",
                T::Map,
                "Hard limits (map of quantity strings)",
                &["spec", "hard"],
            ),
            obj(
                "used",
                T::Map,
                "Current usage (map of quantity strings)",
                &["status", "used"],
            ),
            obj("scopes", T::List, "Quota scopes", &["spec", "scopes"]),
            col(
                "cpu_requests_hard",
                T::Cpu,
                "Hard limit on CPU requests, millicores (requests.cpu, else cpu)",
                |r| Cell::raw(hard(r.obj, "requests.cpu", "cpu")),
            ),
            col(
                "memory_requests_hard",
                T::Bytes,
                "Hard limit on memory requests, bytes (requests.memory, else memory)",
                |r| Cell::raw(hard(r.obj, "requests.memory", "memory")),
            ),
            obj(
                "cpu_limits_hard",
                T::Cpu,
                "Hard limit on CPU limits, millicores (limits.cpu)",
                &["spec", "hard", "limits.cpu"],
            ),
            obj(
                "memory_limits_hard",
                T::Bytes,
                "Hard limit on memory limits, bytes (limits.memory)",
                &["spec", "hard", "limits.memory"],
            ),
        ]),
        vec![("name", "metadata.name")],
    )
}

fn limit_ranges() -> TableDef {
    TableDef::new(
        "limit_ranges",
        "LimitRanges",
        vec![builtin::limitranges()],
        RowSource::Object,
        object_table(vec![
            obj(
                "limits",
                T::Json,
                "Limit items (JSON array of {type, default, defaultRequest, max, min, ...})",
                &["spec", "limits"],
            ),
            col(
                "default_cpu_limit",
                T::Cpu,
                "Default CPU limit for containers, millicores",
                |r| Cell::raw(container_limit(r.obj, "default", "cpu")),
            ),
            col(
                "default_memory_limit",
                T::Bytes,
                "Default memory limit for containers, bytes",
                |r| Cell::raw(container_limit(r.obj, "default", "memory")),
            ),
            col(
                "default_cpu_request",
                T::Cpu,
                "Default CPU request for containers, millicores",
                |r| Cell::raw(container_limit(r.obj, "defaultRequest", "cpu")),
            ),
            col(
                "default_memory_request",
                T::Bytes,
                "Default memory request for containers, bytes",
                |r| Cell::raw(container_limit(r.obj, "defaultRequest", "memory")),
            ),
        ]),
        vec![("name", "metadata.name")],
    )
}

/// A hard quota under its qualified name, else its short alias.
fn hard<'a>(v: &'a Value, qualified: &str, short: &str) -> Option<&'a Value> {
    at(v, &["spec", "hard", qualified]).or_else(|| at(v, &["spec", "hard", short]))
}

/// A value of the `Container` item of a LimitRange.
fn container_limit<'a>(v: &'a Value, field: &str, resource: &str) -> Option<&'a Value> {
    array_at(v, &["spec", "limits"])
        .iter()
        .find(|l| l.get("type").and_then(Value::as_str) == Some("Container"))
        .and_then(|l| at(l, &[field, resource]))
}
