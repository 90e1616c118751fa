//! Cluster-scoped tables: namespaces, nodes, node_conditions, storage_classes, custom_resource_definitions.

use std::borrow::Cow;

use sonic_rs::{JsonContainerTrait as _, JsonValueTrait as _, Value};

use super::TableDef;
use super::common::{object_table, parent_columns};
use super::model::{
    Cell, Child, ColType as T, RowSource, array_at, at, col, condition_true, item, obj, str_at,
};
use crate::kubernetes::resource::{ResourceRef, builtin};

pub(crate) fn tables() -> Vec<TableDef> {
    vec![
        namespaces(),
        nodes(),
        node_conditions(),
        storage_classes(),
        custom_resource_definitions(),
    ]
}

fn namespaces() -> TableDef {
    TableDef::new(
        "namespaces",
        "Namespaces",
        vec![builtin::namespaces()],
        RowSource::Object,
        object_table(vec![obj(
            "phase",
            T::Utf8,
            "Namespace phase: Active or Terminating",
            &["status", "phase"],
        )]),
        vec![("name", "metadata.name"), ("phase", "status.phase")],
    )
}

/// The instance identifier at the end of a providerID (`aws:///us-east-1a/i-0abc` → `i-0abc`).
pub(crate) fn provider_instance_id(provider_id: &str) -> Option<&str> {
    let rest = provider_id
        .split_once("://")
        .map_or(provider_id, |(_, r)| r);
    rest.split('/').rev().find(|s| !s.is_empty())
}

fn label<'a>(v: &'a Value, keys: &[&str]) -> Option<&'a str> {
    let labels = at(v, &["metadata", "labels"])?;
    keys.iter()
        .find_map(|k| labels.get(*k).and_then(Value::as_str))
}

fn node_address<'a>(v: &'a Value, kind: &str) -> Option<&'a str> {
    array_at(v, &["status", "addresses"])
        .iter()
        .find(|a| a.get("type").and_then(Value::as_str) == Some(kind))
        .and_then(|a| a.get("address").and_then(Value::as_str))
}

fn node_roles(v: &Value) -> Vec<Cow<'_, str>> {
    let mut roles: Vec<Cow<'_, str>> = at(v, &["metadata", "labels"])
        .and_then(Value::as_object)
        .map(|labels| {
            labels
                .iter()
                .filter_map(|(k, _)| k.strip_prefix("node-role.kubernetes.io/"))
                .filter(|r| !r.is_empty())
                .map(Cow::Borrowed)
                .collect()
        })
        .unwrap_or_default();
    if let Some(role) = label(v, &["kubernetes.io/role"])
        && !roles.iter().any(|r| r == role)
    {
        roles.push(Cow::Borrowed(role));
    }
    roles.sort();
    roles
}

fn nodes() -> TableDef {
    let cond = |name: &'static str, kind: &'static str, desc: &'static str| {
        col(name, T::Boolean, desc, move |r| {
            Cell::bool(condition_true(r.obj, &["status", "conditions"], kind))
        })
    };
    TableDef::new(
        "nodes",
        "Nodes, with capacity, allocatable resources and health conditions",
        vec![builtin::nodes()],
        RowSource::Object,
        object_table(vec![
            obj(
                "provider_id",
                T::Utf8,
                "Cloud provider ID (spec.providerID)",
                &["spec", "providerID"],
            ),
            col(
                "provider",
                T::Utf8,
                "Cloud provider, the scheme of providerID (aws, gce, azure, ...)",
                |r| {
                    Cell::str(
                        str_at(r.obj, &["spec", "providerID"])
                            .and_then(|p| p.split_once("://"))
                            .map(|(s, _)| s),
                    )
                },
            ),
            col(
                "instance_id",
                T::Utf8,
                "Cloud instance ID parsed from providerID (e.g. i-0abc for AWS)",
                |r| {
                    Cell::str(str_at(r.obj, &["spec", "providerID"]).and_then(provider_instance_id))
                },
            ),
            col(
                "region",
                T::Utf8,
                "Region label (topology.kubernetes.io/region)",
                |r| {
                    Cell::str(label(
                        r.obj,
                        &[
                            "topology.kubernetes.io/region",
                            "failure-domain.beta.kubernetes.io/region",
                        ],
                    ))
                },
            ),
            col(
                "zone",
                T::Utf8,
                "Zone label (topology.kubernetes.io/zone)",
                |r| {
                    Cell::str(label(
                        r.obj,
                        &[
                            "topology.kubernetes.io/zone",
                            "failure-domain.beta.kubernetes.io/zone",
                        ],
                    ))
                },
            ),
            col(
                "instance_type",
                T::Utf8,
                "Instance type label (node.kubernetes.io/instance-type)",
                |r| {
                    Cell::str(label(
                        r.obj,
                        &[
                            "node.kubernetes.io/instance-type",
                            "beta.kubernetes.io/instance-type",
                        ],
                    ))
                },
            ),
            col(
                "roles",
                T::List,
                "Roles from node-role.kubernetes.io/<role> labels",
                |r| Cell::List(node_roles(r.obj)),
            ),
            obj(
                "kubelet_version",
                T::Utf8,
                "Kubelet version",
                &["status", "nodeInfo", "kubeletVersion"],
            ),
            obj(
                "container_runtime",
                T::Utf8,
                "Container runtime and version",
                &["status", "nodeInfo", "containerRuntimeVersion"],
            ),
            obj(
                "os_image",
                T::Utf8,
                "Operating system image",
                &["status", "nodeInfo", "osImage"],
            ),
            obj(
                "kernel_version",
                T::Utf8,
                "Kernel version",
                &["status", "nodeInfo", "kernelVersion"],
            ),
            obj(
                "operating_system",
                T::Utf8,
                "Operating system (linux, windows)",
                &["status", "nodeInfo", "operatingSystem"],
            ),
            obj(
                "architecture",
                T::Utf8,
                "CPU architecture",
                &["status", "nodeInfo", "architecture"],
            ),
            col("internal_ip", T::Utf8, "First InternalIP address", |r| {
                Cell::str(node_address(r.obj, "InternalIP"))
            }),
            col("external_ip", T::Utf8, "First ExternalIP address", |r| {
                Cell::str(node_address(r.obj, "ExternalIP"))
            }),
            obj("pod_cidr", T::Utf8, "Pod CIDR", &["spec", "podCIDR"]),
            obj(
                "cpu_capacity",
                T::Cpu,
                "CPU capacity in millicores",
                &["status", "capacity", "cpu"],
            ),
            obj(
                "memory_capacity",
                T::Bytes,
                "Memory capacity in bytes",
                &["status", "capacity", "memory"],
            ),
            obj(
                "pods_capacity",
                T::Int64,
                "Maximum number of pods",
                &["status", "capacity", "pods"],
            ),
            obj(
                "cpu_allocatable",
                T::Cpu,
                "Allocatable CPU in millicores",
                &["status", "allocatable", "cpu"],
            ),
            obj(
                "memory_allocatable",
                T::Bytes,
                "Allocatable memory in bytes",
                &["status", "allocatable", "memory"],
            ),
            obj(
                "ephemeral_storage_allocatable",
                T::Bytes,
                "Allocatable ephemeral storage in bytes",
                &["status", "allocatable", "ephemeral-storage"],
            ),
            obj(
                "pods_allocatable",
                T::Int64,
                "Allocatable pods",
                &["status", "allocatable", "pods"],
            ),
            cond("ready", "Ready", "Ready condition is True"),
            cond(
                "memory_pressure",
                "MemoryPressure",
                "MemoryPressure condition is True",
            ),
            cond(
                "disk_pressure",
                "DiskPressure",
                "DiskPressure condition is True",
            ),
            cond(
                "pid_pressure",
                "PIDPressure",
                "PIDPressure condition is True",
            ),
            cond(
                "network_unavailable",
                "NetworkUnavailable",
                "NetworkUnavailable condition is True",
            ),
            col(
                "unschedulable",
                T::Boolean,
                "Cordoned (spec.unschedulable); false when unset",
                |r| {
                    Cell::Bool(
                        at(r.obj, &["spec", "unschedulable"]).and_then(Value::as_bool)
                            == Some(true),
                    )
                },
            ),
            obj(
                "taints",
                T::Json,
                "Taints (JSON array of {key, value, effect})",
                &["spec", "taints"],
            ),
        ]),
        vec![("name", "metadata.name")],
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

/// Columns of a condition row (nodes and pods share them).
pub(crate) fn condition_columns(heartbeat: &'static str) -> Vec<super::model::Col> {
    vec![
        item(
            "type",
            T::Utf8,
            "Condition type (Ready, MemoryPressure, ...)",
            &["type"],
        ),
        item(
            "status",
            T::Utf8,
            "Condition status: True, False or Unknown",
            &["status"],
        ),
        col("is_true", T::Boolean, "Condition status is True", |r| {
            Cell::bool(
                r.item
                    .get("status")
                    .and_then(Value::as_str)
                    .map(|s| s == "True"),
            )
        }),
        item("reason", T::Utf8, "Machine-readable reason", &["reason"]),
        item("message", T::Utf8, "Human-readable message", &["message"]),
        item(
            "last_transition",
            T::Timestamp,
            "Last time the status changed",
            &["lastTransitionTime"],
        ),
        col(
            heartbeat,
            T::Timestamp,
            "Last time the condition was probed or reported",
            |r| {
                Cell::raw(
                    r.item
                        .get("lastHeartbeatTime")
                        .or_else(|| r.item.get("lastProbeTime")),
                )
            },
        ),
    ]
}

fn node_conditions() -> TableDef {
    let mut cols = parent_columns("node_name", "Node name", "node_uid", "Node UID");
    cols.extend(condition_columns("last_heartbeat"));
    TableDef::new(
        "node_conditions",
        "One row per node condition",
        vec![builtin::nodes()],
        RowSource::Explode(explode_conditions),
        cols,
        vec![("node_name", "metadata.name")],
    )
}

fn storage_classes() -> TableDef {
    TableDef::new(
        "storage_classes",
        "StorageClasses",
        vec![builtin::storageclasses()],
        RowSource::Object,
        object_table(vec![
            obj(
                "provisioner",
                T::Utf8,
                "Volume provisioner",
                &["provisioner"],
            ),
            obj(
                "reclaim_policy",
                T::Utf8,
                "Reclaim policy (Delete, Retain)",
                &["reclaimPolicy"],
            ),
            obj(
                "volume_binding_mode",
                T::Utf8,
                "Volume binding mode (Immediate, WaitForFirstConsumer)",
                &["volumeBindingMode"],
            ),
            obj(
                "allow_volume_expansion",
                T::Boolean,
                "Volumes may be expanded",
                &["allowVolumeExpansion"],
            ),
            col(
                "is_default",
                T::Boolean,
                "Annotated as the default class (storageclass.kubernetes.io/is-default-class)",
                |r| {
                    let ann = |k: &str| str_at(r.obj, &["metadata", "annotations", k]);
                    Cell::Bool(
                        ann("storageclass.kubernetes.io/is-default-class") == Some("true")
                            || ann("storageclass.beta.kubernetes.io/is-default-class")
                                == Some("true"),
                    )
                },
            ),
            obj(
                "parameters",
                T::Map,
                "Provisioner parameters",
                &["parameters"],
            ),
            obj("mount_options", T::List, "Mount options", &["mountOptions"]),
        ]),
        vec![("name", "metadata.name")],
    )
}

fn custom_resource_definitions() -> TableDef {
    TableDef::new(
        "custom_resource_definitions",
        "CustomResourceDefinitions",
        vec![builtin::customresourcedefinitions()],
        RowSource::Object,
        object_table(vec![
            obj("group", T::Utf8, "API group", &["spec", "group"]),
            obj("kind", T::Utf8, "Kind", &["spec", "names", "kind"]),
            obj(
                "plural",
                T::Utf8,
                "Plural resource name",
                &["spec", "names", "plural"],
            ),
            obj(
                "singular",
                T::Utf8,
                "Singular resource name",
                &["spec", "names", "singular"],
            ),
            obj(
                "short_names",
                T::List,
                "Short names",
                &["spec", "names", "shortNames"],
            ),
            obj(
                "scope",
                T::Utf8,
                "Namespaced or Cluster",
                &["spec", "scope"],
            ),
            col("versions", T::List, "Version names, in spec order", |r| {
                Cell::List(
                    array_at(r.obj, &["spec", "versions"])
                        .iter()
                        .filter_map(|v| v.get("name").and_then(Value::as_str))
                        .map(Cow::Borrowed)
                        .collect(),
                )
            }),
            col(
                "served_versions",
                T::List,
                "Versions served by the API",
                |r| {
                    Cell::List(
                        array_at(r.obj, &["spec", "versions"])
                            .iter()
                            .filter(|v| v.get("served").and_then(Value::as_bool) == Some(true))
                            .filter_map(|v| v.get("name").and_then(Value::as_str))
                            .map(Cow::Borrowed)
                            .collect(),
                    )
                },
            ),
            col(
                "storage_version",
                T::Utf8,
                "Version persisted in etcd",
                |r| {
                    Cell::raw(
                        array_at(r.obj, &["spec", "versions"])
                            .iter()
                            .find(|v| v.get("storage").and_then(Value::as_bool) == Some(true))
                            .and_then(|v| v.get("name")),
                    )
                },
            ),
            col(
                "established",
                T::Boolean,
                "Established condition is True",
                |r| {
                    Cell::bool(condition_true(
                        r.obj,
                        &["status", "conditions"],
                        "Established",
                    ))
                },
            ),
        ]),
        vec![("name", "metadata.name")],
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn instance_ids_from_provider_ids() {
        assert_eq!(
            provider_instance_id("aws:///us-east-1a/i-0123456789abcdef0"),
            Some("i-0123456789abcdef0")
        );
        assert_eq!(
            provider_instance_id("gce://my-project/europe-west1-b/gke-node-1"),
            Some("gke-node-1")
        );
        assert_eq!(
            provider_instance_id(
                "azure:///subscriptions/s/resourceGroups/g/providers/Microsoft.Compute/virtualMachines/vm-1"
            ),
            Some("vm-1")
        );
        assert_eq!(provider_instance_id("digitalocean://12345"), Some("12345"));
        assert_eq!(
            provider_instance_id("kind://docker/kind/kind-worker/"),
            Some("kind-worker")
        );
        assert_eq!(provider_instance_id(""), None);
    }
}
