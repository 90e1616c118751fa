//! Server-side `Table` rendering (meta.k8s.io/v1) for kubectl's human output.
//!
//! Column sets follow the real printers for the common kinds (pods get
//! NAME READY STATUS RESTARTS AGE plus the wide columns); every other kind
//! gets NAME + AGE, and custom resources their CRD's additionalPrinterColumns.

use serde_json::{Value, json};

use crate::registry::{PrinterColumn, ResourceType};

/// The `includeObject` query parameter.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum IncludeObject {
    None,
    Metadata,
    Object,
}

impl IncludeObject {
    pub fn parse(s: Option<&str>) -> Self {
        match s {
            Some("None") => IncludeObject::None,
            Some("Object") => IncludeObject::Object,
            _ => IncludeObject::Metadata,
        }
    }
}

type Cell = fn(&Value) -> Value;

struct Col {
    name: &'static str,
    ty: &'static str,
    format: &'static str,
    priority: i64,
    cell: Cell,
}

const fn col(name: &'static str, ty: &'static str, priority: i64, cell: Cell) -> Col {
    Col {
        name,
        ty,
        format: "",
        priority,
        cell,
    }
}

fn at<'a>(v: &'a Value, path: &[&str]) -> Option<&'a Value> {
    let mut cur = v;
    for p in path {
        cur = cur.get(p)?;
    }
    Some(cur)
}

fn s_at(v: &Value, path: &[&str]) -> String {
    match at(v, path) {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Number(n)) => n.to_string(),
        Some(Value::Bool(b)) => b.to_string(),
        _ => String::new(),
    }
}

fn i_at(v: &Value, path: &[&str]) -> i64 {
    at(v, path).and_then(Value::as_i64).unwrap_or(0)
}

fn or_none(s: String) -> Value {
    if s.is_empty() {
        json!("<none>")
    } else {
        json!(s)
    }
}

fn arr<'a>(v: &'a Value, path: &[&str]) -> &'a [Value] {
    at(v, path)
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or(&[])
}

/// kubectl's HumanDuration.
pub(crate) fn human_duration(secs: i64) -> String {
    if secs < -1 {
        return "<invalid>".into();
    }
    let secs = secs.max(0);
    if secs < 120 {
        return format!("{secs}s");
    }
    let minutes = secs / 60;
    if minutes < 10 {
        let s = secs % 60;
        return if s == 0 {
            format!("{minutes}m")
        } else {
            format!("{minutes}m{s}s")
        };
    }
    if minutes < 180 {
        return format!("{minutes}m");
    }
    let hours = minutes / 60;
    if hours < 8 {
        let m = minutes % 60;
        return if m == 0 {
            format!("{hours}h")
        } else {
            format!("{hours}h{m}m")
        };
    }
    if hours < 48 {
        return format!("{hours}h");
    }
    let days = hours / 24;
    if hours < 24 * 8 {
        let h = hours % 24;
        return if h == 0 {
            format!("{days}d")
        } else {
            format!("{days}d{h}h")
        };
    }
    if hours < 24 * 365 * 2 {
        return format!("{days}d");
    }
    let years = days / 365;
    if hours < 24 * 365 * 8 {
        let d = days % 365;
        return if d == 0 {
            format!("{years}y")
        } else {
            format!("{years}y{d}d")
        };
    }
    format!("{years}y")
}

fn since(ts: &str) -> Value {
    match chrono::DateTime::parse_from_rfc3339(ts) {
        Ok(t) => {
            let secs = (chrono::Utc::now() - t.with_timezone(&chrono::Utc)).num_seconds();
            json!(human_duration(secs))
        }
        Err(_) => json!("<unknown>"),
    }
}

fn name(o: &Value) -> Value {
    json!(s_at(o, &["metadata", "name"]))
}

fn age(o: &Value) -> Value {
    since(&s_at(o, &["metadata", "creationTimestamp"]))
}

fn pod_ready(o: &Value) -> Value {
    let total = arr(o, &["spec", "containers"]).len();
    let ready = arr(o, &["status", "containerStatuses"])
        .iter()
        .filter(|c| c.get("ready").and_then(Value::as_bool) == Some(true))
        .count();
    json!(format!("{ready}/{total}"))
}

fn pod_restarts(o: &Value) -> Value {
    let sum: i64 = arr(o, &["status", "containerStatuses"])
        .iter()
        .chain(arr(o, &["status", "initContainerStatuses"]))
        .map(|c| c.get("restartCount").and_then(Value::as_i64).unwrap_or(0))
        .sum();
    json!(sum)
}

/// The STATUS column, following kubectl's printPod.
pub(crate) fn pod_status(o: &Value) -> String {
    let mut reason = s_at(o, &["status", "phase"]);
    let r = s_at(o, &["status", "reason"]);
    if !r.is_empty() {
        reason = r;
    }
    let init_specs = arr(o, &["spec", "initContainers"]);
    let mut initializing = false;
    for (i, c) in arr(o, &["status", "initContainerStatuses"])
        .iter()
        .enumerate()
    {
        let term = c.get("state").and_then(|s| s.get("terminated"));
        let wait = c.get("state").and_then(|s| s.get("waiting"));
        if term.is_some_and(|t| t.get("exitCode").and_then(Value::as_i64) == Some(0)) {
            continue;
        }
        let sidecar = init_specs
            .get(i)
            .and_then(|s| s.get("restartPolicy"))
            .and_then(Value::as_str)
            == Some("Always");
        if sidecar && c.get("started").and_then(Value::as_bool) == Some(true) {
            continue;
        }
        if let Some(t) = term {
            let tr = s_at(t, &["reason"]);
            reason = if tr.is_empty() {
                format!("Init:ExitCode:{}", i_at(t, &["exitCode"]))
            } else {
                format!("Init:{tr}")
            };
        } else if let Some(w) = wait.filter(|w| {
            let r = s_at(w, &["reason"]);
            !r.is_empty() && r != "PodInitializing"
        }) {
            reason = format!("Init:{}", s_at(w, &["reason"]));
        } else {
            reason = format!("Init:{i}/{}", init_specs.len());
        }
        initializing = true;
        break;
    }
    if !initializing {
        let mut has_running = false;
        for c in arr(o, &["status", "containerStatuses"]).iter().rev() {
            let state = c.get("state");
            let wait = state.and_then(|s| s.get("waiting"));
            let term = state.and_then(|s| s.get("terminated"));
            if let Some(w) = wait.filter(|w| !s_at(w, &["reason"]).is_empty()) {
                reason = s_at(w, &["reason"]);
            } else if let Some(t) = term {
                let tr = s_at(t, &["reason"]);
                reason = if tr.is_empty() {
                    format!("ExitCode:{}", i_at(t, &["exitCode"]))
                } else {
                    tr
                };
            } else if c.get("ready").and_then(Value::as_bool) == Some(true)
                && state.and_then(|s| s.get("running")).is_some()
            {
                has_running = true;
            }
        }
        if reason == "Completed" && has_running {
            reason = "Running".into();
        }
    }
    if at(o, &["metadata", "deletionTimestamp"]).is_some_and(|v| !v.is_null()) {
        reason = if s_at(o, &["status", "reason"]) == "NodeLost" {
            "Unknown".into()
        } else {
            "Terminating".into()
        };
    }
    reason
}

fn node_status(o: &Value) -> Value {
    let ready = arr(o, &["status", "conditions"])
        .iter()
        .find(|c| c.get("type").and_then(Value::as_str) == Some("Ready"))
        .map(|c| s_at(c, &["status"]));
    let mut s = match ready.as_deref() {
        Some("True") => "Ready".to_string(),
        _ => "NotReady".to_string(),
    };
    if at(o, &["spec", "unschedulable"]).and_then(Value::as_bool) == Some(true) {
        s.push_str(",SchedulingDisabled");
    }
    json!(s)
}

fn node_roles(o: &Value) -> Value {
    let mut roles: Vec<String> = at(o, &["metadata", "labels"])
        .and_then(Value::as_object)
        .map(|l| {
            l.keys()
                .filter_map(|k| k.strip_prefix("node-role.kubernetes.io/"))
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default();
    roles.sort();
    or_none(roles.join(","))
}

fn node_address(o: &Value, kind: &str) -> Value {
    or_none(
        arr(o, &["status", "addresses"])
            .iter()
            .find(|a| a.get("type").and_then(Value::as_str) == Some(kind))
            .map(|a| s_at(a, &["address"]))
            .unwrap_or_default(),
    )
}

fn svc_external(o: &Value) -> Value {
    let mut ips: Vec<String> = arr(o, &["status", "loadBalancer", "ingress"])
        .iter()
        .map(|i| {
            let ip = s_at(i, &["ip"]);
            if ip.is_empty() {
                s_at(i, &["hostname"])
            } else {
                ip
            }
        })
        .collect();
    ips.extend(
        arr(o, &["spec", "externalIPs"])
            .iter()
            .filter_map(|v| v.as_str().map(str::to_string)),
    );
    if ips.is_empty() && s_at(o, &["spec", "type"]) == "LoadBalancer" {
        return json!("<pending>");
    }
    or_none(ips.join(","))
}

fn svc_ports(o: &Value) -> Value {
    let ports: Vec<String> = arr(o, &["spec", "ports"])
        .iter()
        .map(|p| {
            let proto = {
                let p = s_at(p, &["protocol"]);
                if p.is_empty() { "TCP".to_string() } else { p }
            };
            let node = i_at(p, &["nodePort"]);
            if node > 0 {
                format!("{}:{node}/{proto}", i_at(p, &["port"]))
            } else {
                format!("{}/{proto}", i_at(p, &["port"]))
            }
        })
        .collect();
    or_none(ports.join(","))
}

fn map_len(o: &Value, key: &str) -> usize {
    o.get(key).and_then(Value::as_object).map_or(0, |m| m.len())
}

fn selector_string(o: &Value, path: &[&str]) -> Value {
    let sel = at(o, path).and_then(Value::as_object);
    or_none(
        sel.map(|m| {
            m.iter()
                .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or("")))
                .collect::<Vec<_>>()
                .join(",")
        })
        .unwrap_or_default(),
    )
}

fn images(o: &Value, path: &[&str]) -> Value {
    json!(
        arr(o, path)
            .iter()
            .map(|c| s_at(c, &["image"]))
            .collect::<Vec<_>>()
            .join(",")
    )
}

fn container_names(o: &Value, path: &[&str]) -> Value {
    json!(
        arr(o, path)
            .iter()
            .map(|c| s_at(c, &["name"]))
            .collect::<Vec<_>>()
            .join(",")
    )
}

fn builtin_columns(rt: &ResourceType) -> Vec<Col> {
    let name_col = col("Name", "string", 0, name);
    let age_col = col("Age", "string", 0, age);
    match (rt.group.as_str(), rt.plural.as_str()) {
        ("", "pods") => vec![
            name_col,
            col("Ready", "string", 0, pod_ready),
            col("Status", "string", 0, |o| json!(pod_status(o))),
            col("Restarts", "string", 0, pod_restarts),
            age_col,
            col("IP", "string", 1, |o| {
                or_none(s_at(o, &["status", "podIP"]))
            }),
            col("Node", "string", 1, |o| {
                or_none(s_at(o, &["spec", "nodeName"]))
            }),
            col("Nominated Node", "string", 1, |o| {
                or_none(s_at(o, &["status", "nominatedNodeName"]))
            }),
            col("Readiness Gates", "string", 1, |_| json!("<none>")),
        ],
        ("", "namespaces") => vec![
            name_col,
            col("Status", "string", 0, |o| {
                json!(s_at(o, &["status", "phase"]))
            }),
            age_col,
        ],
        ("", "nodes") => vec![
            name_col,
            col("Status", "string", 0, node_status),
            col("Roles", "string", 0, node_roles),
            age_col,
            col("Version", "string", 0, |o| {
                json!(s_at(o, &["status", "nodeInfo", "kubeletVersion"]))
            }),
            col("Internal-IP", "string", 1, |o| {
                node_address(o, "InternalIP")
            }),
            col("External-IP", "string", 1, |o| {
                node_address(o, "ExternalIP")
            }),
            col("OS-Image", "string", 1, |o| {
                json!(s_at(o, &["status", "nodeInfo", "osImage"]))
            }),
            col("Kernel-Version", "string", 1, |o| {
                json!(s_at(o, &["status", "nodeInfo", "kernelVersion"]))
            }),
            col("Container-Runtime", "string", 1, |o| {
                json!(s_at(o, &["status", "nodeInfo", "containerRuntimeVersion"]))
            }),
        ],
        ("", "services") => vec![
            name_col,
            col("Type", "string", 0, |o| json!(s_at(o, &["spec", "type"]))),
            col("Cluster-IP", "string", 0, |o| {
                or_none(s_at(o, &["spec", "clusterIP"]))
            }),
            col("External-IP", "string", 0, svc_external),
            col("Port(s)", "string", 0, svc_ports),
            age_col,
            col("Selector", "string", 1, |o| {
                selector_string(o, &["spec", "selector"])
            }),
        ],
        ("", "configmaps") => vec![
            name_col,
            col("Data", "integer", 0, |o| {
                json!(map_len(o, "data") + map_len(o, "binaryData"))
            }),
            age_col,
        ],
        ("", "secrets") => vec![
            name_col,
            col("Type", "string", 0, |o| json!(s_at(o, &["type"]))),
            col("Data", "integer", 0, |o| json!(map_len(o, "data"))),
            age_col,
        ],
        ("", "events") => vec![
            col("Last Seen", "string", 0, |o| {
                let last = s_at(o, &["lastTimestamp"]);
                if last.is_empty() {
                    since(&s_at(o, &["eventTime"]))
                } else {
                    since(&last)
                }
            }),
            col("Type", "string", 0, |o| json!(s_at(o, &["type"]))),
            col("Reason", "string", 0, |o| json!(s_at(o, &["reason"]))),
            col("Object", "string", 0, |o| {
                json!(format!(
                    "{}/{}",
                    s_at(o, &["involvedObject", "kind"]).to_ascii_lowercase(),
                    s_at(o, &["involvedObject", "name"])
                ))
            }),
            col("Message", "string", 0, |o| json!(s_at(o, &["message"]))),
        ],
        ("apps", "deployments") => vec![
            name_col,
            col("Ready", "string", 0, |o| {
                json!(format!(
                    "{}/{}",
                    i_at(o, &["status", "readyReplicas"]),
                    i_at(o, &["spec", "replicas"])
                ))
            }),
            col("Up-to-date", "integer", 0, |o| {
                json!(i_at(o, &["status", "updatedReplicas"]))
            }),
            col("Available", "integer", 0, |o| {
                json!(i_at(o, &["status", "availableReplicas"]))
            }),
            age_col,
            col("Containers", "string", 1, |o| {
                container_names(o, &["spec", "template", "spec", "containers"])
            }),
            col("Images", "string", 1, |o| {
                images(o, &["spec", "template", "spec", "containers"])
            }),
            col("Selector", "string", 1, |o| {
                selector_string(o, &["spec", "selector", "matchLabels"])
            }),
        ],
        ("apps", "replicasets") => vec![
            name_col,
            col("Desired", "integer", 0, |o| {
                json!(i_at(o, &["spec", "replicas"]))
            }),
            col("Current", "integer", 0, |o| {
                json!(i_at(o, &["status", "replicas"]))
            }),
            col("Ready", "integer", 0, |o| {
                json!(i_at(o, &["status", "readyReplicas"]))
            }),
            age_col,
        ],
        ("apps", "statefulsets") => vec![
            name_col,
            col("Ready", "string", 0, |o| {
                json!(format!(
                    "{}/{}",
                    i_at(o, &["status", "readyReplicas"]),
                    i_at(o, &["spec", "replicas"])
                ))
            }),
            age_col,
        ],
        ("apps", "daemonsets") => vec![
            name_col,
            col("Desired", "integer", 0, |o| {
                json!(i_at(o, &["status", "desiredNumberScheduled"]))
            }),
            col("Current", "integer", 0, |o| {
                json!(i_at(o, &["status", "currentNumberScheduled"]))
            }),
            col("Ready", "integer", 0, |o| {
                json!(i_at(o, &["status", "numberReady"]))
            }),
            col("Up-to-date", "integer", 0, |o| {
                json!(i_at(o, &["status", "updatedNumberScheduled"]))
            }),
            col("Available", "integer", 0, |o| {
                json!(i_at(o, &["status", "numberAvailable"]))
            }),
            col("Node Selector", "string", 0, |o| {
                selector_string(o, &["spec", "template", "spec", "nodeSelector"])
            }),
            age_col,
        ],
        ("batch", "jobs") => vec![
            name_col,
            col("Completions", "string", 0, |o| {
                let want = at(o, &["spec", "completions"])
                    .and_then(Value::as_i64)
                    .unwrap_or(1);
                json!(format!("{}/{want}", i_at(o, &["status", "succeeded"])))
            }),
            age_col,
        ],
        ("batch", "cronjobs") => vec![
            name_col,
            col("Schedule", "string", 0, |o| {
                json!(s_at(o, &["spec", "schedule"]))
            }),
            col("Suspend", "boolean", 0, |o| {
                json!(
                    at(o, &["spec", "suspend"])
                        .and_then(Value::as_bool)
                        .unwrap_or(false)
                )
            }),
            col("Active", "integer", 0, |o| {
                json!(arr(o, &["status", "active"]).len())
            }),
            col("Last Schedule", "string", 0, |o| {
                let t = s_at(o, &["status", "lastScheduleTime"]);
                if t.is_empty() {
                    json!("<none>")
                } else {
                    since(&t)
                }
            }),
            age_col,
        ],
        ("networking.k8s.io", "ingresses") => vec![
            name_col,
            col("Class", "string", 0, |o| {
                or_none(s_at(o, &["spec", "ingressClassName"]))
            }),
            col("Hosts", "string", 0, |o| {
                let hosts: Vec<String> = arr(o, &["spec", "rules"])
                    .iter()
                    .map(|r| {
                        let h = s_at(r, &["host"]);
                        if h.is_empty() { "*".to_string() } else { h }
                    })
                    .collect();
                json!(if hosts.is_empty() {
                    "*".to_string()
                } else {
                    hosts.join(",")
                })
            }),
            col("Address", "string", 0, |o| {
                json!(
                    arr(o, &["status", "loadBalancer", "ingress"])
                        .iter()
                        .map(|i| {
                            let ip = s_at(i, &["ip"]);
                            if ip.is_empty() {
                                s_at(i, &["hostname"])
                            } else {
                                ip
                            }
                        })
                        .collect::<Vec<_>>()
                        .join(",")
                )
            }),
            col("Ports", "string", 0, |o| {
                json!(if arr(o, &["spec", "tls"]).is_empty() {
                    "80"
                } else {
                    "80, 443"
                })
            }),
            age_col,
        ],
        ("", "persistentvolumeclaims") => vec![
            name_col,
            col("Status", "string", 0, |o| {
                json!(s_at(o, &["status", "phase"]))
            }),
            col("Volume", "string", 0, |o| {
                json!(s_at(o, &["spec", "volumeName"]))
            }),
            col("Capacity", "string", 0, |o| {
                json!(s_at(o, &["status", "capacity", "storage"]))
            }),
            col("StorageClass", "string", 0, |o| {
                or_none(s_at(o, &["spec", "storageClassName"]))
            }),
            age_col,
        ],
        ("apiextensions.k8s.io", "customresourcedefinitions") => vec![
            name_col,
            Col {
                name: "Created At",
                ty: "date",
                format: "",
                priority: 0,
                cell: |o| json!(s_at(o, &["metadata", "creationTimestamp"])),
            },
        ],
        _ => vec![name_col, age_col],
    }
}

/// Evaluates the simple JSONPath subset CRD printer columns use (`.a.b`, `.a[0].b`).
fn json_path(o: &Value, path: &str) -> Value {
    let mut cur = o;
    for seg in path.trim_start_matches('.').split('.') {
        if seg.is_empty() {
            continue;
        }
        let (field, index) = match seg.split_once('[') {
            Some((f, rest)) => (f, rest.trim_end_matches(']').parse::<usize>().ok()),
            None => (seg, None),
        };
        match cur.get(field) {
            Some(v) => cur = v,
            None => return Value::Null,
        }
        if let Some(i) = index {
            match cur.get(i) {
                Some(v) => cur = v,
                None => return Value::Null,
            }
        }
    }
    cur.clone()
}

fn crd_cell(o: &Value, c: &PrinterColumn) -> Value {
    let v = json_path(o, &c.json_path);
    if c.type_ == "date"
        && let Some(s) = v.as_str()
    {
        return since(s);
    }
    v
}

fn column_def(name: &str, ty: &str, format: &str, priority: i64, description: &str) -> Value {
    json!({"name": name, "type": ty, "format": format, "description": description, "priority": priority})
}

/// Column definitions for a resource.
pub(crate) fn column_definitions(rt: &ResourceType) -> Vec<Value> {
    if rt.crd.is_some() && !rt.printer_columns.is_empty() {
        let mut defs = vec![column_def(
            "Name",
            "string",
            "name",
            0,
            "Name must be unique within a namespace.",
        )];
        defs.extend(
            rt.printer_columns
                .iter()
                .map(|c| column_def(&c.name, &c.type_, &c.format, c.priority, &c.description)),
        );
        return defs;
    }
    builtin_columns(rt)
        .iter()
        .map(|c| {
            let format = if c.name == "Name" { "name" } else { c.format };
            column_def(c.name, c.ty, format, c.priority, "")
        })
        .collect()
}

/// The cells of one row.
pub(crate) fn cells(rt: &ResourceType, o: &Value) -> Vec<Value> {
    if rt.crd.is_some() && !rt.printer_columns.is_empty() {
        let mut row = vec![name(o)];
        row.extend(rt.printer_columns.iter().map(|c| crd_cell(o, c)));
        return row;
    }
    builtin_columns(rt).iter().map(|c| (c.cell)(o)).collect()
}

/// A table row, with the object or its metadata as `includeObject` asks.
pub(crate) fn row(rt: &ResourceType, o: &Value, include: IncludeObject) -> Value {
    let mut r = json!({"cells": cells(rt, o)});
    let object = match include {
        IncludeObject::None => None,
        IncludeObject::Object => Some(o.clone()),
        IncludeObject::Metadata => Some(partial_metadata(o)),
    };
    if let (Some(obj), Some(m)) = (object, r.as_object_mut()) {
        m.insert("object".into(), obj);
    }
    r
}

/// The PartialObjectMetadata view of an object.
pub(crate) fn partial_metadata(o: &Value) -> Value {
    json!({
        "kind": "PartialObjectMetadata",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": o.get("metadata").cloned().unwrap_or(json!({})),
    })
}

/// A whole Table response.
pub(crate) fn table(
    rt: &ResourceType,
    table_version: &str,
    list_meta: Value,
    rows: Vec<Value>,
) -> Value {
    json!({
        "kind": "Table",
        "apiVersion": format!("meta.k8s.io/{table_version}"),
        "metadata": list_meta,
        "columnDefinitions": column_definitions(rt),
        "rows": rows,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry::Registry;

    #[test]
    fn human_durations_like_kubectl() {
        assert_eq!(human_duration(5), "5s");
        assert_eq!(human_duration(150), "2m30s");
        assert_eq!(human_duration(60 * 30), "30m");
        assert_eq!(human_duration(3600 * 5 + 60), "5h1m");
        assert_eq!(human_duration(3600 * 30), "30h");
        assert_eq!(human_duration(86400 * 3), "3d");
        assert_eq!(human_duration(86400 * 30), "30d");
        assert_eq!(human_duration(86400 * 365 * 3), "3y");
    }

    #[test]
    fn pod_status_reports_crash_loops_and_init() {
        let crash = json!({"spec": {"containers": [{"name": "a"}]}, "status": {"phase": "Running",
            "containerStatuses": [{"ready": false, "restartCount": 7, "state": {"waiting": {"reason": "CrashLoopBackOff"}}}]}});
        assert_eq!(pod_status(&crash), "CrashLoopBackOff");
        let init = json!({"spec": {"initContainers": [{"name": "i"}], "containers": [{"name": "a"}]}, "status": {"phase": "Pending",
            "initContainerStatuses": [{"state": {"running": {}}}]}});
        assert_eq!(pod_status(&init), "Init:0/1");
        let ok = json!({"status": {"phase": "Running", "containerStatuses": [{"ready": true, "state": {"running": {}}}]}});
        assert_eq!(pod_status(&ok), "Running");
    }

    #[test]
    fn pod_table_row_has_the_kubectl_columns() {
        let r = Registry::builtins();
        let pods = r.lookup("", "v1", "pods").unwrap();
        let defs: Vec<String> = column_definitions(pods)
            .iter()
            .map(|d| d["name"].as_str().unwrap().to_string())
            .collect();
        assert_eq!(&defs[..5], ["Name", "Ready", "Status", "Restarts", "Age"]);
        let pod = json!({"metadata": {"name": "p", "namespace": "n", "creationTimestamp": "2020-01-01T00:00:00Z"},
            "spec": {"containers": [{"name": "a"}, {"name": "b"}]},
            "status": {"phase": "Running", "containerStatuses": [{"ready": true, "restartCount": 2, "state": {"running": {}}}]}});
        let row = row(pods, &pod, IncludeObject::Metadata);
        assert_eq!(row["cells"][0], "p");
        assert_eq!(row["cells"][1], "1/2");
        assert_eq!(row["cells"][3], 2);
        assert_eq!(row["object"]["metadata"]["namespace"], "n");
        assert_eq!(row["object"]["kind"], "PartialObjectMetadata");
    }

    #[test]
    fn crd_printer_columns_use_json_path() {
        let o = json!({"metadata": {"name": "c"}, "status": {"conditions": [{"status": "True"}]}});
        assert_eq!(json_path(&o, ".status.conditions[0].status"), "True");
        assert_eq!(json_path(&o, ".spec.missing"), Value::Null);
    }
}
