//! Desired against live: whether a live object holds what a manifest sets.
//!
//! Only the fields the manifest sets are compared, so everything a server
//! or a controller adds (status, uid, defaulted fields, annotations such as
//! `deployment.kubernetes.io/revision`) is never drift. Where a server
//! would have filled a field the manifest also sets, the comparison
//! accepts the server's form: quantities by value (`1000m` is `1`), Go's
//! omitted zero values (`hostNetwork: false`), and the defaults the
//! apiserver applies (`replicas: 1`, `protocol: TCP`, `imagePullPolicy`
//! from the image's tag, …) when a server left them out.
//!
//! Lists whose items have a merge key (`name`, `containerPort`, `port`,
//! `mountPath`) are matched by it, as `kubectl apply` merges them: an item
//! only the live object has (an injected sidecar, an env var added by
//! hand) is not something the manifest sets. Other lists are compared by
//! position and length.

use serde_json::{Map, Value};

use kq_providers::quantity::parse_quantity;

/// One field whose live value differs from the manifest's.
#[derive(Debug, Clone, PartialEq)]
pub struct FieldChange {
    /// `spec.template.spec.containers[name=web].image`.
    pub path: String,
    pub desired: Value,
    /// `None` when the live object does not have the field.
    pub live: Option<Value>,
}

/// Top-level fields that are the object's identity or the server's own.
const NOT_DESIRED: [&str; 3] = ["apiVersion", "kind", "status"];
/// The metadata a manifest sets and a cluster keeps as given; name and
/// namespace are the key, the rest (uid, resourceVersion, …) the server's.
const DESIRED_METADATA: [&str; 2] = ["labels", "annotations"];
/// Keys `kubectl apply` (strategic merge) matches list items by, in the
/// order they are tried; the first every desired item has, uniquely, wins.
const MERGE_KEYS: [&str; 4] = ["mountPath", "name", "containerPort", "port"];
/// Maps whose values are resource quantities, compared by value.
const QUANTITY_MAPS: [&str; 9] = [
    "requests",
    "limits",
    "hard",
    "capacity",
    "overhead",
    "default",
    "defaultRequest",
    "max",
    "min",
];

/// The fields of `desired` (a manifest's object) that `live` does not hold.
pub fn compare(desired: &Value, live: &Value) -> Vec<FieldChange> {
    let mut changes = Vec::new();
    let Some(fields) = desired.as_object() else {
        return changes;
    };
    let empty = Map::new();
    let live = live.as_object().unwrap_or(&empty);
    for (key, value) in fields {
        if NOT_DESIRED.contains(&key.as_str()) {
            continue;
        }
        if key == "metadata" {
            let live_meta = live.get("metadata").and_then(Value::as_object);
            for field in DESIRED_METADATA {
                if let Some(value) = value.get(field) {
                    let path = Path::root().key("metadata").key(field);
                    let live_value = live_meta.and_then(|m| m.get(field));
                    compare_value(&path, value, live_value, value, &mut changes);
                }
            }
            continue;
        }
        compare_value(
            &Path::root().key(key),
            value,
            live.get(key),
            desired,
            &mut changes,
        );
    }
    changes
}

/// Every field two declared versions of an object (before and after a
/// change to the files) disagree on, both ways: a field only `after` sets
/// has `desired` null, one only `before` sets has `live` `None`. Nothing
/// is defaulted (neither side went through a server); quantities still
/// compare by value and keyed lists match by their merge key.
pub fn compare_both(before: &Value, after: &Value) -> Vec<FieldChange> {
    let mut changes = Vec::new();
    let empty = Map::new();
    let declared = |object: &Value| -> Map<String, Value> {
        let fields = object.as_object().unwrap_or(&empty);
        let mut kept: Map<String, Value> = fields
            .iter()
            .filter(|(k, _)| !NOT_DESIRED.contains(&k.as_str()) && *k != "metadata")
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        let mut metadata = Map::new();
        for field in DESIRED_METADATA {
            if let Some(value) = fields.get("metadata").and_then(|m| m.get(field)) {
                metadata.insert(field.to_string(), value.clone());
            }
        }
        if !metadata.is_empty() {
            kept.insert("metadata".to_string(), Value::Object(metadata));
        }
        kept
    };
    both_ways(
        &Path::root(),
        Some(&Value::Object(declared(before))),
        Some(&Value::Object(declared(after))),
        &mut changes,
    );
    changes
}

fn both_ways(
    path: &Path,
    before: Option<&Value>,
    after: Option<&Value>,
    out: &mut Vec<FieldChange>,
) {
    let differ = |out: &mut Vec<FieldChange>| {
        out.push(FieldChange {
            path: path.text.clone(),
            desired: before.cloned().unwrap_or(Value::Null),
            live: after.cloned(),
        })
    };
    match (before, after) {
        (Some(Value::Object(a)), Some(Value::Object(b))) => {
            let keys: std::collections::BTreeSet<&String> = a.keys().chain(b.keys()).collect();
            for key in keys {
                both_ways(&path.key(key), a.get(key), b.get(key), out);
            }
        }
        (Some(Value::Array(a)), Some(Value::Array(b))) => {
            let key = MERGE_KEYS.into_iter().find(|key| {
                (!a.is_empty() || !b.is_empty()) && keyed_by(a, key) && keyed_by(b, key)
            });
            match key {
                Some(key) => {
                    let mut ids: Vec<String> = Vec::new();
                    for item in a.iter().chain(b) {
                        let id = scalar_text(&item[key]);
                        if !ids.contains(&id) {
                            ids.push(id);
                        }
                    }
                    let find = |items: &[Value], id: &str| {
                        items.iter().find(|i| scalar_text(&i[key]) == id).cloned()
                    };
                    for id in ids {
                        let label = format!("{key}={id}");
                        both_ways(
                            &path.item(label),
                            find(a, &id).as_ref(),
                            find(b, &id).as_ref(),
                            out,
                        );
                    }
                }
                None if a.len() == b.len() => {
                    for (i, (x, y)) in a.iter().zip(b).enumerate() {
                        both_ways(&path.item(i.to_string()), Some(x), Some(y), out);
                    }
                }
                None => differ(out),
            }
        }
        (None, None) => {}
        (Some(a), Some(b)) if scalar_equal(path, a, b) => {}
        _ => differ(out),
    }
}

/// Objects a cluster makes for itself without an owner reference (in
/// every namespace, at bootstrap, for every Service): never `extra`.
pub fn made_by_the_cluster(object: &Value) -> bool {
    let text = |v: &Value| v.as_str().unwrap_or_default().to_string();
    let metadata = &object["metadata"];
    let (kind, name, namespace) = (
        text(&object["kind"]),
        text(&metadata["name"]),
        text(&metadata["namespace"]),
    );
    let bootstrapped = metadata["labels"]["kubernetes.io/bootstrapping"].is_string();
    bootstrapped
        || matches!(
            (kind.as_str(), name.as_str()),
            ("ConfigMap", "kube-root-ca.crt")
                | ("ServiceAccount", "default")
                | ("Endpoints" | "EndpointSlice" | "Event" | "Lease", _)
        )
        || (kind == "Service" && name == "kubernetes" && namespace == "default")
        || (kind == "Namespace" && (name == "default" || name.starts_with("kube-")))
        || (kind == "Secret" && text(&object["type"]) == "kubernetes.io/service-account-token")
}

/// A field's path, as segments and as text.
#[derive(Clone)]
struct Path {
    segments: Vec<String>,
    text: String,
}

impl Path {
    fn root() -> Self {
        Path {
            segments: Vec::new(),
            text: String::new(),
        }
    }

    fn key(&self, key: &str) -> Self {
        let mut next = self.clone();
        let plain = !key.is_empty()
            && key
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
        if plain {
            if !next.text.is_empty() {
                next.text.push('.');
            }
            next.text.push_str(key);
        } else {
            next.text.push_str(&format!("[{}]", Value::from(key)));
        }
        next.segments.push(key.to_string());
        next
    }

    fn item(&self, label: String) -> Self {
        let mut next = self.clone();
        next.text.push_str(&format!("[{label}]"));
        next
    }

    fn last(&self) -> &str {
        self.segments.last().map(String::as_str).unwrap_or_default()
    }

    fn parent(&self) -> &str {
        let n = self.segments.len();
        if n >= 2 { &self.segments[n - 2] } else { "" }
    }
}

fn compare_value(
    path: &Path,
    desired: &Value,
    live: Option<&Value>,
    parent: &Value,
    changes: &mut Vec<FieldChange>,
) {
    let differ = |changes: &mut Vec<FieldChange>| {
        changes.push(FieldChange {
            path: path.text.clone(),
            desired: desired.clone(),
            live: live.cloned(),
        })
    };
    match (desired, live) {
        // `null` in a manifest unsets nothing the comparison can see.
        (Value::Null, _) => {}
        (Value::Object(fields), Some(Value::Object(live_fields))) => {
            for (key, value) in fields {
                compare_value(
                    &path.key(key),
                    value,
                    live_fields.get(key),
                    desired,
                    changes,
                );
            }
        }
        // A server omits an empty object; its fields may still be defaults.
        (Value::Object(fields), None) => {
            for (key, value) in fields {
                compare_value(&path.key(key), value, None, desired, changes);
            }
        }
        (Value::Array(items), Some(Value::Array(live_items))) => {
            compare_list(path, items, live_items, changes);
        }
        (_, None) if is_zero(desired) || default_for(path, parent).as_ref() == Some(desired) => {}
        (_, None) => differ(changes),
        (_, Some(live)) if scalar_equal(path, desired, live) => {}
        _ => differ(changes),
    }
}

fn compare_list(path: &Path, items: &[Value], live: &[Value], changes: &mut Vec<FieldChange>) {
    if let Some(key) = merge_key(items) {
        for item in items {
            let id = &item[key];
            let label = format!("{key}={}", scalar_text(id));
            let matching = live
                .iter()
                .find(|l| l.get(key).is_some_and(|v| same_id(v, id)));
            match matching {
                Some(live_item) => {
                    compare_value(&path.item(label), item, Some(live_item), item, changes)
                }
                None => changes.push(FieldChange {
                    path: path.item(label).text,
                    desired: item.clone(),
                    live: None,
                }),
            }
        }
        return;
    }
    if items.len() != live.len() {
        changes.push(FieldChange {
            path: path.text.clone(),
            desired: Value::Array(items.to_vec()),
            live: Some(Value::Array(live.to_vec())),
        });
        return;
    }
    for (i, (item, live_item)) in items.iter().zip(live).enumerate() {
        compare_value(
            &path.item(i.to_string()),
            item,
            Some(live_item),
            item,
            changes,
        );
    }
}

/// The merge key every item has, with no two items sharing its value.
fn merge_key(items: &[Value]) -> Option<&'static str> {
    if items.is_empty() {
        return None;
    }
    MERGE_KEYS.into_iter().find(|key| keyed_by(items, key))
}

/// Whether every item is an object with a distinct, non-null `key`.
fn keyed_by(items: &[Value], key: &str) -> bool {
    let ids: Vec<String> = items
        .iter()
        .filter_map(|item| item.as_object()?.get(key))
        .filter(|id| !id.is_null())
        .map(scalar_text)
        .collect();
    let mut unique = ids.clone();
    unique.sort();
    unique.dedup();
    ids.len() == items.len() && unique.len() == ids.len()
}

fn same_id(a: &Value, b: &Value) -> bool {
    a == b || scalar_text(a) == scalar_text(b)
}

/// A scalar as a person reads it: strings without quotes.
pub fn scalar_text(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn scalar_equal(path: &Path, desired: &Value, live: &Value) -> bool {
    if desired == live {
        return true;
    }
    if let (Some(a), Some(b)) = (desired.as_f64(), live.as_f64()) {
        return a == b;
    }
    if QUANTITY_MAPS.contains(&path.parent()) || path.last() == "storage" {
        return quantities_equal(desired, live);
    }
    false
}

fn quantities_equal(a: &Value, b: &Value) -> bool {
    let quantity = |v: &Value| match v {
        Value::String(s) => parse_quantity(s).ok(),
        Value::Number(n) => parse_quantity(&n.to_string()).ok(),
        _ => None,
    };
    match (quantity(a), quantity(b)) {
        (Some(a), Some(b)) => match (a.to_millis(), b.to_millis()) {
            (Ok(a), Ok(b)) => a == b,
            _ => a.as_f64() == b.as_f64(),
        },
        _ => false,
    }
}

/// Go's zero values, which `omitempty` leaves out of a server's answer.
fn is_zero(value: &Value) -> bool {
    match value {
        Value::Bool(b) => !b,
        Value::Number(n) => n.as_f64() == Some(0.0),
        Value::String(s) => s.is_empty(),
        Value::Array(items) => items.is_empty(),
        Value::Object(fields) => fields.is_empty(),
        Value::Null => true,
    }
}

/// What the apiserver's defaulting would have put at `path`, for the
/// fields a manifest commonly spells out; `parent` is the object holding
/// the field (a container for `imagePullPolicy`, a port for `targetPort`).
fn default_for(path: &Path, parent: &Value) -> Option<Value> {
    let value = match path.last() {
        "replicas" | "completions" | "parallelism" => Value::from(1),
        "protocol" => Value::from("TCP"),
        "imagePullPolicy" => {
            let image = parent.get("image").and_then(Value::as_str)?;
            Value::from(pull_policy_for(image))
        }
        "targetPort" => parent.get("port")?.clone(),
        "restartPolicy" => Value::from("Always"),
        "dnsPolicy" => Value::from("ClusterFirst"),
        "schedulerName" => Value::from("default-scheduler"),
        "terminationGracePeriodSeconds" => Value::from(30),
        "terminationMessagePath" => Value::from("/dev/termination-log"),
        "terminationMessagePolicy" => Value::from("File"),
        "revisionHistoryLimit" => Value::from(10),
        "progressDeadlineSeconds" => Value::from(600),
        "sessionAffinity" => Value::from("None"),
        "podManagementPolicy" => Value::from("OrderedReady"),
        "concurrencyPolicy" => Value::from("Allow"),
        "successfulJobsHistoryLimit" => Value::from(3),
        "failedJobsHistoryLimit" => Value::from(1),
        "backoffLimit" => Value::from(6),
        _ => return None,
    };
    Some(value)
}

/// The pull policy the apiserver gives a container without one: `Always`
/// for `:latest` or no tag (and no digest), else `IfNotPresent`.
pub fn pull_policy_for(image: &str) -> &'static str {
    if image.contains('@') {
        return "IfNotPresent";
    }
    let last = image.rsplit('/').next().unwrap_or(image);
    match last.split_once(':') {
        Some((_, "latest")) | None => "Always",
        Some(_) => "IfNotPresent",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn paths(desired: Value, live: Value) -> Vec<String> {
        compare(&desired, &live)
            .into_iter()
            .map(|c| c.path)
            .collect()
    }

    #[test]
    fn only_what_the_manifest_sets_is_compared() {
        let desired = json!({
            "apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "web", "namespace": "shop", "labels": {"app": "web"}},
            "spec": {"replicas": 2, "template": {"spec": {"containers": [
                {"name": "web", "image": "nginx:1.25", "ports": [{"containerPort": 80}],
                 "resources": {"limits": {"cpu": "1000m", "memory": "1Gi"}}}
            ]}}}
        });
        let live = json!({
            "apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "web", "namespace": "shop", "uid": "u",
                          "labels": {"app": "web", "extra": "x"},
                          "annotations": {"deployment.kubernetes.io/revision": "1"}},
            "spec": {"replicas": 2, "revisionHistoryLimit": 10, "template": {"spec": {
                "dnsPolicy": "ClusterFirst",
                "containers": [
                    {"name": "sidecar", "image": "envoy"},
                    {"name": "web", "image": "nginx:1.25", "imagePullPolicy": "IfNotPresent",
                     "ports": [{"containerPort": 80, "protocol": "TCP"}],
                     "resources": {"limits": {"cpu": "1", "memory": "1024Mi"}}}
                ]}}},
            "status": {"replicas": 2}
        });
        assert_eq!(paths(desired.clone(), live.clone()), Vec::<String>::new());
        let mut scaled = live.clone();
        scaled["spec"]["replicas"] = json!(5);
        scaled["spec"]["template"]["spec"]["containers"][1]["image"] = json!("nginx:1.26");
        let changes = compare(&desired, &scaled);
        assert_eq!(
            changes.iter().map(|c| c.path.as_str()).collect::<Vec<_>>(),
            [
                "spec.replicas",
                "spec.template.spec.containers[name=web].image"
            ]
        );
        assert_eq!(changes[0].live, Some(json!(5)));
    }

    #[test]
    fn defaults_zero_values_and_missing_items() {
        let desired = json!({"spec": {
            "replicas": 1, "hostNetwork": false, "selector": {},
            "containers": [{"name": "a", "image": "busybox", "imagePullPolicy": "Always"},
                           {"name": "b", "image": "x:1"}],
            "ports": [{"port": 80, "protocol": "TCP", "targetPort": 80}]
        }});
        // A server that defaults nothing and omits zero values.
        let live = json!({"spec": {
            "containers": [{"name": "a", "image": "busybox"}],
            "ports": [{"port": 80}]
        }});
        assert_eq!(paths(desired, live), ["spec.containers[name=b]"]);
    }

    #[test]
    fn unkeyed_lists_compare_by_position_and_map_keys_are_quoted() {
        let desired = json!({"metadata": {"labels": {"app.kubernetes.io/name": "web"}},
                             "rules": [{"verbs": ["get"]}]});
        let live = json!({"metadata": {"labels": {"app.kubernetes.io/name": "api"}},
                          "rules": [{"verbs": ["get", "list"]}]});
        assert_eq!(
            paths(desired, live),
            [
                "metadata.labels[\"app.kubernetes.io/name\"]",
                "rules[0].verbs"
            ]
        );
    }

    #[test]
    fn two_declared_versions_differ_both_ways() {
        let before = json!({"kind": "Deployment", "metadata": {"name": "web", "labels": {"app": "web"}},
            "spec": {"replicas": 2, "template": {"spec": {"containers": [
                {"name": "web", "image": "nginx:1.25", "resources": {"limits": {"cpu": "1"}}},
                {"name": "old", "image": "busybox"}]}}}});
        let after = json!({"kind": "Deployment", "metadata": {"name": "web", "labels": {"app": "web", "team": "a"}},
            "spec": {"replicas": 2, "template": {"spec": {"containers": [
                {"name": "web", "image": "nginx:1.26", "resources": {"limits": {"cpu": "1000m"}}},
                {"name": "new", "image": "busybox"}]}}}});
        let changes = compare_both(&before, &after);
        let summary: Vec<(&str, Value, Option<Value>)> = changes
            .iter()
            .map(|c| (c.path.as_str(), c.desired.clone(), c.live.clone()))
            .collect();
        assert_eq!(
            summary,
            [
                ("metadata.labels.team", Value::Null, Some(json!("a"))),
                (
                    "spec.template.spec.containers[name=web].image",
                    json!("nginx:1.25"),
                    Some(json!("nginx:1.26"))
                ),
                (
                    "spec.template.spec.containers[name=old]",
                    json!({"name": "old", "image": "busybox"}),
                    None
                ),
                (
                    "spec.template.spec.containers[name=new]",
                    Value::Null,
                    Some(json!({"name": "new", "image": "busybox"}))
                ),
            ]
        );
        assert!(compare_both(&before, &before).is_empty());
    }

    #[test]
    fn pull_policy_follows_the_tag() {
        assert_eq!(pull_policy_for("nginx"), "Always");
        assert_eq!(pull_policy_for("nginx:latest"), "Always");
        assert_eq!(pull_policy_for("registry:5000/nginx"), "Always");
        assert_eq!(pull_policy_for("registry:5000/nginx:1.2"), "IfNotPresent");
        assert_eq!(pull_policy_for("nginx@sha256:abc"), "IfNotPresent");
    }
}
