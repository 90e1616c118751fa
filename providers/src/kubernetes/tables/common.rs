//! Columns every table shares: identity, metadata, owners, raw spec/status; and parent columns of child tables.

use sonic_rs::{JsonContainerTrait as _, JsonValueTrait as _, Value};

use super::model::{Cell, Col, ColType as T, Row, at, col, obj, str_at};

/// `cluster`: the kubeconfig context the row came from (never null).
pub(crate) fn cluster() -> Col {
    let mut c = col(
        "cluster",
        T::Utf8,
        "Kubeconfig context (cluster) the row was read from",
        |r| Cell::str(Some(r.cluster)),
    );
    c.nullable = false;
    c
}

/// `namespace` of the listed object (null for cluster-scoped objects).
pub(crate) fn namespace() -> Col {
    obj(
        "namespace",
        T::Utf8,
        "Namespace of the object (null for cluster-scoped objects)",
        &["metadata", "namespace"],
    )
}

/// The controller ownerReference, else the first one.
pub(crate) fn owner(v: &Value) -> Option<&Value> {
    let refs = at(v, &["metadata", "ownerReferences"])?.as_array()?;
    refs.iter()
        .find(|r| r.get("controller").and_then(Value::as_bool) == Some(true))
        .or_else(|| refs.first())
}

pub(crate) fn owner_kind() -> Col {
    col(
        "owner_kind",
        T::Utf8,
        "Kind of the controlling owner (ownerReference with controller=true, else the first)",
        |r| Cell::raw(owner(r.obj).and_then(|o| o.get("kind"))),
    )
}

pub(crate) fn owner_name() -> Col {
    col(
        "owner_name",
        T::Utf8,
        "Name of the controlling owner",
        |r| Cell::raw(owner(r.obj).and_then(|o| o.get("name"))),
    )
}

/// `(kind, name)` of the workload that ultimately manages a pod: a ReplicaSet
/// owner carrying the pod's `pod-template-hash` is resolved to its Deployment;
/// a pod without owner is its own workload (`Pod`).
pub(crate) fn pod_workload(pod: &Value) -> (Option<&str>, Option<&str>) {
    let Some(o) = owner(pod) else {
        return (Some("Pod"), str_at(pod, &["metadata", "name"]));
    };
    let kind = o.get("kind").and_then(Value::as_str);
    let name = o.get("name").and_then(Value::as_str);
    if kind == Some("ReplicaSet")
        && let (Some(name), Some(hash)) = (
            name,
            str_at(pod, &["metadata", "labels", "pod-template-hash"]),
        )
        && let Some(base) = name.strip_suffix(hash).and_then(|b| b.strip_suffix('-'))
        && !base.is_empty()
    {
        return (Some("Deployment"), Some(base));
    }
    (kind, name)
}

/// Metadata columns after `cluster` and `namespace`: name … owner_name.
pub(crate) fn metadata_columns() -> Vec<Col> {
    vec![
        obj("name", T::Utf8, "Object name", &["metadata", "name"]),
        obj("uid", T::Utf8, "Object UID", &["metadata", "uid"]),
        obj(
            "labels",
            T::Map,
            "Labels (map: labels['app'])",
            &["metadata", "labels"],
        ),
        obj(
            "annotations",
            T::Map,
            "Annotations (map: annotations['key'])",
            &["metadata", "annotations"],
        ),
        obj(
            "created",
            T::Timestamp,
            "Creation timestamp (UTC)",
            &["metadata", "creationTimestamp"],
        ),
        owner_kind(),
        owner_name(),
    ]
}

/// The common leading columns of an object table.
pub(crate) fn object_columns() -> Vec<Col> {
    let mut cols = vec![cluster(), namespace()];
    cols.extend(metadata_columns());
    cols
}

pub(crate) fn spec() -> Col {
    obj("spec", T::Json, "Raw spec (JSON text)", &["spec"])
}

pub(crate) fn status() -> Col {
    obj("status", T::Json, "Raw status (JSON text)", &["status"])
}

/// An object table's columns: common columns, then `typed`, then spec and status.
pub(crate) fn object_table(typed: Vec<Col>) -> Vec<Col> {
    let mut cols = object_columns();
    cols.extend(typed);
    cols.push(spec());
    cols.push(status());
    cols
}

/// Columns identifying the parent object of a child row: cluster, namespace, `<parent>_name`, `<parent>_uid`.
pub(crate) fn parent_columns(
    name_col: &'static str,
    name_desc: &'static str,
    uid_col: &'static str,
    uid_desc: &'static str,
) -> Vec<Col> {
    vec![
        cluster(),
        namespace(),
        obj(name_col, T::Utf8, name_desc, &["metadata", "name"]),
        obj(uid_col, T::Utf8, uid_desc, &["metadata", "uid"]),
    ]
}

/// The listed object's kind (items usually lack `kind`; the listed resource knows it).
pub(crate) fn source_kind<'a>(r: &Row<'a>) -> Cell<'a> {
    Cell::str(Some(r.source.kind.as_str()))
}

/// A port's protocol; the API server defaults it to TCP, so kq does too.
pub(crate) fn port_protocol() -> Col {
    col(
        "protocol",
        T::Utf8,
        "TCP, UDP or SCTP (TCP when unset)",
        |r| {
            Cell::str(
                r.item
                    .get("protocol")
                    .and_then(Value::as_str)
                    .or(Some("TCP")),
            )
        },
    )
}
