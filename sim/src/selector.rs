//! Label and field selectors, parsed and evaluated with the real API
//! server's grammar and error messages, plus the per-kind selectable fields.
//!
//! Which field labels a resource accepts, and how a rejection is worded,
//! follow the kube-apiserver's field-label conversion functions for that
//! kind and release (see [`FieldSelector::validate`]): kq drops a pushed-down
//! selector the server rejects, so the sim must reject exactly what a real
//! server of the claimed [`ServerVersion`] rejects.

use serde_json::Value;

use crate::registry::{ResKey, ResourceType};
use crate::status::ApiError;
use crate::version::ServerVersion;

#[derive(Clone, Debug, PartialEq, Eq)]
enum LabelOp {
    Eq(String),
    NotEq(String),
    In(Vec<String>),
    NotIn(Vec<String>),
    Exists,
    NotExists,
    Gt(i64),
    Lt(i64),
}

#[derive(Clone, Debug, PartialEq, Eq)]
struct LabelRequirement {
    key: String,
    op: LabelOp,
}

/// A parsed `labelSelector`; empty matches everything.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct LabelSelector {
    reqs: Vec<LabelRequirement>,
}

fn label_err(detail: impl std::fmt::Display) -> ApiError {
    ApiError::bad_request(format!("unable to parse requirement: {detail}"))
}

fn valid_label_value(v: &str) -> bool {
    v.is_empty()
        || (v.len() <= 63
            && v.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.')
            && v.starts_with(|c: char| c.is_ascii_alphanumeric())
            && v.ends_with(|c: char| c.is_ascii_alphanumeric()))
}

fn valid_label_key(k: &str) -> bool {
    let (prefix, name) = match k.rsplit_once('/') {
        Some((p, n)) => (Some(p), n),
        None => (None, k),
    };
    if let Some(p) = prefix
        && (p.is_empty()
            || p.len() > 253
            || !p
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '.'))
    {
        return false;
    }
    !name.is_empty() && valid_label_value(name)
}

fn check_key(key: &str) -> Result<(), ApiError> {
    if valid_label_key(key) {
        Ok(())
    } else {
        Err(label_err(format!(
            "invalid label key \"{key}\": name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character"
        )))
    }
}

fn check_value(v: &str) -> Result<(), ApiError> {
    if valid_label_value(v) {
        Ok(())
    } else {
        Err(label_err(format!(
            "invalid label value: \"{v}\": at key: a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character"
        )))
    }
}

/// Splits on commas that are not inside parentheses.
fn split_top_level(s: &str) -> Result<Vec<&str>, ApiError> {
    let mut out = Vec::new();
    let mut depth = 0i32;
    let mut start = 0;
    for (i, c) in s.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => {
                depth -= 1;
                if depth < 0 {
                    return Err(label_err("found ')', expected: identifier"));
                }
            }
            ',' if depth == 0 => {
                out.push(&s[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    if depth != 0 {
        return Err(label_err("found '', expected: ')'"));
    }
    out.push(&s[start..]);
    Ok(out)
}

fn parse_set(rest: &str) -> Result<Vec<String>, ApiError> {
    let rest = rest.trim();
    let inner = rest
        .strip_prefix('(')
        .and_then(|r| r.strip_suffix(')'))
        .ok_or_else(|| label_err(format!("found '{rest}', expected: '('")))?;
    let mut vals = Vec::new();
    for v in inner.split(',') {
        let v = v.trim();
        check_value(v)?;
        vals.push(v.to_string());
    }
    Ok(vals)
}

impl LabelSelector {
    pub fn parse(s: &str) -> Result<Self, ApiError> {
        let s = s.trim();
        if s.is_empty() {
            return Ok(Self::default());
        }
        let mut reqs = Vec::new();
        for part in split_top_level(s)? {
            let part = part.trim();
            if part.is_empty() {
                return Err(label_err(
                    "found '', expected: !, identifier, or 'end of string'",
                ));
            }
            reqs.push(parse_requirement(part)?);
        }
        Ok(LabelSelector { reqs })
    }

    pub fn is_empty(&self) -> bool {
        self.reqs.is_empty()
    }

    pub fn matches(&self, labels: &[(String, String)]) -> bool {
        let get = |k: &str| {
            labels
                .binary_search_by(|(lk, _)| lk.as_str().cmp(k))
                .ok()
                .map(|i| labels[i].1.as_str())
        };
        self.reqs.iter().all(|r| {
            let v = get(&r.key);
            match &r.op {
                LabelOp::Eq(x) => v == Some(x.as_str()),
                LabelOp::NotEq(x) => v != Some(x.as_str()),
                LabelOp::In(xs) => v.is_some_and(|v| xs.iter().any(|x| x == v)),
                LabelOp::NotIn(xs) => !v.is_some_and(|v| xs.iter().any(|x| x == v)),
                LabelOp::Exists => v.is_some(),
                LabelOp::NotExists => v.is_none(),
                LabelOp::Gt(n) => v
                    .and_then(|v| v.parse::<i64>().ok())
                    .is_some_and(|v| v > *n),
                LabelOp::Lt(n) => v
                    .and_then(|v| v.parse::<i64>().ok())
                    .is_some_and(|v| v < *n),
            }
        })
    }
}

fn parse_requirement(part: &str) -> Result<LabelRequirement, ApiError> {
    if let Some(key) = part.strip_prefix('!') {
        let key = key.trim();
        check_key(key)?;
        return Ok(LabelRequirement {
            key: key.into(),
            op: LabelOp::NotExists,
        });
    }
    // Operators, longest first so "==" and "!=" win over "=".
    for (tok, kind) in [("!=", 1), ("==", 2), ("=", 2), (">", 3), ("<", 4)] {
        if let Some(idx) = part.find(tok) {
            let key = part[..idx].trim();
            let val = part[idx + tok.len()..].trim();
            if key.contains(['=', '!', '<', '>']) {
                continue;
            }
            check_key(key)?;
            let op = match kind {
                1 | 2 => {
                    if val.contains(['=', '!', ' ', '(', ')']) {
                        return Err(label_err(format!("found '{val}', expected: identifier")));
                    }
                    check_value(val)?;
                    if kind == 1 {
                        LabelOp::NotEq(val.into())
                    } else {
                        LabelOp::Eq(val.into())
                    }
                }
                _ => {
                    let n: i64 = val.parse().map_err(|_| {
                        label_err(format!(
                            "for 'Gt', 'Lt' operators, the value must be an integer (got \"{val}\")"
                        ))
                    })?;
                    if kind == 3 {
                        LabelOp::Gt(n)
                    } else {
                        LabelOp::Lt(n)
                    }
                }
            };
            return Ok(LabelRequirement {
                key: key.into(),
                op,
            });
        }
    }
    let mut words = part.splitn(2, char::is_whitespace);
    let key = words.next().unwrap_or("").trim();
    let rest = words.next().unwrap_or("").trim();
    if rest.is_empty() {
        check_key(key)?;
        return Ok(LabelRequirement {
            key: key.into(),
            op: LabelOp::Exists,
        });
    }
    check_key(key)?;
    if let Some(set) = rest.strip_prefix("notin") {
        return Ok(LabelRequirement {
            key: key.into(),
            op: LabelOp::NotIn(parse_set(set)?),
        });
    }
    if let Some(set) = rest.strip_prefix("in") {
        return Ok(LabelRequirement {
            key: key.into(),
            op: LabelOp::In(parse_set(set)?),
        });
    }
    Err(label_err(format!(
        "found '{rest}', expected: in, notin, =, ==, !=, gt, lt"
    )))
}

/// One `field=value` / `field!=value` term.
#[derive(Clone, Debug, PartialEq, Eq)]
struct FieldTerm {
    field: String,
    value: String,
    negate: bool,
}

/// A parsed `fieldSelector`; empty matches everything.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct FieldSelector {
    terms: Vec<FieldTerm>,
}

/// Splits on unescaped `sep`, keeping escapes for a later unescape.
fn split_unescaped(s: &str, sep: char) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut escaped = false;
    for c in s.chars() {
        if escaped {
            cur.push('\\');
            cur.push(c);
            escaped = false;
        } else if c == '\\' {
            escaped = true;
        } else if c == sep {
            out.push(std::mem::take(&mut cur));
        } else {
            cur.push(c);
        }
    }
    if escaped {
        cur.push('\\');
    }
    out.push(cur);
    out
}

fn unescape(s: &str) -> Result<String, String> {
    let mut out = String::new();
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            match chars.next() {
                Some(e @ ('\\' | ',' | '=' | '!')) => out.push(e),
                Some(e) => return Err(format!("invalid escape sequence: \\{e}")),
                None => return Err("unterminated escape sequence".into()),
            }
        } else {
            out.push(c);
        }
    }
    Ok(out)
}

impl FieldSelector {
    pub fn parse(s: &str) -> Result<Self, ApiError> {
        let s = s.trim();
        if s.is_empty() {
            return Ok(Self::default());
        }
        let mut terms = Vec::new();
        for part in split_unescaped(s, ',') {
            let bad = || {
                ApiError::bad_request(format!(
                    "invalid selector: '{s}'; can't understand '{part}'"
                ))
            };
            // Find the first unescaped operator.
            let bytes = part.as_bytes();
            let mut idx = None;
            let mut i = 0;
            while i < bytes.len() {
                match bytes[i] {
                    b'\\' => i += 2,
                    b'!' if bytes.get(i + 1) == Some(&b'=') => {
                        idx = Some((i, 2, true));
                        break;
                    }
                    b'=' => {
                        let len = if bytes.get(i + 1) == Some(&b'=') {
                            2
                        } else {
                            1
                        };
                        idx = Some((i, len, false));
                        break;
                    }
                    _ => i += 1,
                }
            }
            let (i, len, negate) = idx.ok_or_else(bad)?;
            let field = unescape(part[..i].trim()).map_err(ApiError::bad_request)?;
            let value = unescape(&part[i + len..]).map_err(ApiError::bad_request)?;
            if field.is_empty() {
                return Err(bad());
            }
            terms.push(FieldTerm {
                field,
                value,
                negate,
            });
        }
        Ok(FieldSelector { terms })
    }

    pub fn is_empty(&self) -> bool {
        self.terms.is_empty()
    }

    /// Rejects field labels the resource does not support on `version`,
    /// with the real server's message, and resolves label aliases.
    pub fn validate(&mut self, rt: &ResourceType, version: ServerVersion) -> Result<(), ApiError> {
        let labels = FieldLabels::of(rt, version);
        for t in &mut self.terms {
            if let Some(target) = labels.alias(&t.field) {
                t.field = target.to_string();
                continue;
            }
            if !labels.accepts(&t.field) {
                return Err(ApiError::bad_request(labels.rejection(&t.field)));
            }
        }
        Ok(())
    }

    /// The exact name this selector pins, if any (used to watch one object).
    pub fn matches(&self, namespace: &str, name: &str, fields: &[(&'static str, String)]) -> bool {
        self.terms.iter().all(|t| {
            let v = match t.field.as_str() {
                "metadata.name" => name,
                "metadata.namespace" => namespace,
                f => fields
                    .iter()
                    .find(|(k, _)| *k == f)
                    .map(|(_, v)| v.as_str())
                    .unwrap_or(""),
            };
            (v == t.value) != t.negate
        })
    }
}

/// A selectable field: its label, where its value sits in the (v1) object,
/// the value when absent, and the first minor release that accepts it.
struct FieldSpec {
    field: &'static str,
    path: &'static [&'static str],
    absent: &'static str,
    since_minor: u32,
}

const fn spec(
    field: &'static str,
    path: &'static [&'static str],
    absent: &'static str,
) -> FieldSpec {
    FieldSpec {
        field,
        path,
        absent,
        since_minor: 0,
    }
}

const fn spec_since(
    field: &'static str,
    path: &'static [&'static str],
    absent: &'static str,
    since_minor: u32,
) -> FieldSpec {
    FieldSpec {
        field,
        path,
        absent,
        since_minor,
    }
}

// Sources (kubernetes/kubernetes): pkg/apis/core/v1/conversion.go (the
// accepted labels per kind), pkg/registry/core/*/strategy.go (the values),
// pkg/apis/batch/v1/conversion.go; release notes for when a label arrived.
const POD_FIELDS: &[FieldSpec] = &[
    spec("spec.nodeName", &["spec", "nodeName"], ""),
    spec("spec.restartPolicy", &["spec", "restartPolicy"], ""),
    spec("spec.schedulerName", &["spec", "schedulerName"], ""),
    spec(
        "spec.serviceAccountName",
        &["spec", "serviceAccountName"],
        "",
    ),
    // kubernetes PR 110477, in v1.28.0 ("Added support for pod hostNetwork field selector").
    spec_since("spec.hostNetwork", &["spec", "hostNetwork"], "false", 28),
    spec("status.phase", &["status", "phase"], ""),
    spec("status.podIP", &["status", "podIP"], ""),
    spec(
        "status.nominatedNodeName",
        &["status", "nominatedNodeName"],
        "",
    ),
];
/// Accepted by the Pod label conversion (since 1.17, for the downward API)
/// but absent from the pod's selectable field set, so it only ever equals "".
const POD_ACCEPTED_EMPTY: &[&str] = &["status.podIPs"];
const SECRET_FIELDS: &[FieldSpec] = &[spec("type", &["type"], "")];
const EVENT_FIELDS: &[FieldSpec] = &[
    spec("involvedObject.kind", &["involvedObject", "kind"], ""),
    spec(
        "involvedObject.namespace",
        &["involvedObject", "namespace"],
        "",
    ),
    spec("involvedObject.name", &["involvedObject", "name"], ""),
    spec("involvedObject.uid", &["involvedObject", "uid"], ""),
    spec(
        "involvedObject.apiVersion",
        &["involvedObject", "apiVersion"],
        "",
    ),
    spec(
        "involvedObject.resourceVersion",
        &["involvedObject", "resourceVersion"],
        "",
    ),
    spec(
        "involvedObject.fieldPath",
        &["involvedObject", "fieldPath"],
        "",
    ),
    spec("reason", &["reason"], ""),
    spec("reportingComponent", &["reportingComponent"], ""),
    spec("source", &["source", "component"], ""),
    spec("type", &["type"], ""),
];
const NODE_FIELDS: &[FieldSpec] = &[spec(
    "spec.unschedulable",
    &["spec", "unschedulable"],
    "false",
)];
const NAMESPACE_FIELDS: &[FieldSpec] = &[spec("status.phase", &["status", "phase"], "")];
const RC_FIELDS: &[FieldSpec] = &[spec("status.replicas", &["status", "replicas"], "0")];
const JOB_FIELDS: &[FieldSpec] = &[spec("status.successful", &["status", "succeeded"], "0")];
/// kubernetes PR 123905, in v1.31.0 ("Services implement a field selector for
/// the ClusterIP and Type fields"); before it Service had no label conversion.
const SERVICE_SINCE_MINOR: u32 = 31;
const SERVICE_FIELDS: &[FieldSpec] = &[
    spec_since(
        "spec.clusterIP",
        &["spec", "clusterIP"],
        "",
        SERVICE_SINCE_MINOR,
    ),
    spec_since("spec.type", &["spec", "type"], "", SERVICE_SINCE_MINOR),
];

/// The kind-specific selectable fields, in every release (metadata.name/namespace are universal).
fn field_specs(key: &ResKey) -> &'static [FieldSpec] {
    match (key.group.as_str(), key.plural.as_str()) {
        ("", "pods") => POD_FIELDS,
        ("", "secrets") => SECRET_FIELDS,
        ("", "events") => EVENT_FIELDS,
        ("", "nodes") => NODE_FIELDS,
        ("", "namespaces") => NAMESPACE_FIELDS,
        ("", "replicationcontrollers") => RC_FIELDS,
        ("batch", "jobs") => JOB_FIELDS,
        ("", "services") => SERVICE_FIELDS,
        _ => &[],
    }
}

/// How the real server words a rejected field label: each kind's
/// conversion function has its own message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Rejection {
    /// core/v1 kinds with a conversion function, and custom resources.
    NotSupported,
    /// batch/v1 Job.
    BatchJob,
    /// Kinds without a conversion function (`DefaultMetaV1FieldSelectorConversion`).
    NotKnown,
}

/// The field labels one resource accepts on one release.
struct FieldLabels {
    namespace: bool,
    fields: Vec<&'static str>,
    accepted_empty: &'static [&'static str],
    pod_aliases: bool,
    rejection: Rejection,
}

impl FieldLabels {
    fn of(rt: &ResourceType, version: ServerVersion) -> Self {
        let key = rt.key();
        let fields: Vec<&'static str> = field_specs(&key)
            .iter()
            .filter(|s| version.at_least(s.since_minor))
            .map(|s| s.field)
            .collect();
        let (namespace, rejection) = if rt.crd.is_some() {
            // apiextensions' converter: metadata.namespace only for namespaced resources.
            (rt.namespaced, Rejection::NotSupported)
        } else {
            match (key.group.as_str(), key.plural.as_str()) {
                // The Node and Namespace conversions accept metadata.name but not metadata.namespace.
                ("", "nodes" | "namespaces") => (false, Rejection::NotSupported),
                ("", "pods" | "secrets" | "events" | "replicationcontrollers") => {
                    (true, Rejection::NotSupported)
                }
                ("", "services") if version.at_least(SERVICE_SINCE_MINOR) => {
                    (true, Rejection::NotSupported)
                }
                ("batch", "jobs") => (true, Rejection::BatchJob),
                _ => (true, Rejection::NotKnown),
            }
        };
        let pods = key.group.is_empty() && key.plural == "pods";
        FieldLabels {
            namespace,
            fields,
            accepted_empty: if pods { POD_ACCEPTED_EMPTY } else { &[] },
            pod_aliases: pods,
            rejection,
        }
    }

    /// The label a legacy label stands for (`spec.host` is the pre-1.0 name of `spec.nodeName`).
    fn alias(&self, label: &str) -> Option<&'static str> {
        (self.pod_aliases && label == "spec.host").then_some("spec.nodeName")
    }

    fn accepts(&self, label: &str) -> bool {
        label == "metadata.name"
            || (self.namespace && label == "metadata.namespace")
            || self.fields.contains(&label)
            || self.accepted_empty.contains(&label)
    }

    fn rejection(&self, label: &str) -> String {
        match self.rejection {
            Rejection::NotSupported => format!("field label not supported: {label}"),
            Rejection::BatchJob => format!("field label {label:?} not supported for batchv1.Job"),
            Rejection::NotKnown => format!(
                "{label:?} is not a known field selector: only \"metadata.name\", \"metadata.namespace\""
            ),
        }
    }
}

/// Extracts the selectable field values of one object.
pub(crate) fn extract_fields(key: &ResKey, obj: &Value) -> Vec<(&'static str, String)> {
    field_specs(key)
        .iter()
        .map(|spec| {
            let mut cur = Some(obj);
            for p in spec.path {
                cur = cur.and_then(|c| c.get(p));
            }
            let v = match cur {
                Some(Value::String(s)) => s.clone(),
                Some(Value::Bool(b)) => b.to_string(),
                Some(Value::Number(n)) => n.to_string(),
                _ => spec.absent.to_string(),
            };
            (spec.field, v)
        })
        .collect()
}

/// Sorted (key, value) label pairs of one object.
pub(crate) fn extract_labels(obj: &Value) -> Vec<(String, String)> {
    let mut labels: Vec<(String, String)> = obj
        .get("metadata")
        .and_then(|m| m.get("labels"))
        .and_then(Value::as_object)
        .map(|m| {
            m.iter()
                .filter_map(|(k, v)| v.as_str().map(|v| (k.clone(), v.to_string())))
                .collect()
        })
        .unwrap_or_default();
    labels.sort();
    labels
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn labels(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        let mut v: Vec<_> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        v.sort();
        v
    }

    #[test]
    fn label_selector_operators() {
        let l = labels(&[("app", "web"), ("tier", "frontend"), ("n", "5")]);
        let ok = |s: &str| LabelSelector::parse(s).unwrap().matches(&l);
        assert!(ok("app=web"));
        assert!(ok("app==web"));
        assert!(!ok("app!=web"));
        assert!(ok("missing!=x"));
        assert!(ok("tier in (frontend, backend)"));
        assert!(!ok("tier notin (frontend)"));
        assert!(ok("missing notin (a)"));
        assert!(ok("app,!missing"));
        assert!(!ok("!app"));
        assert!(ok("app=web,tier in (frontend)"));
        assert!(ok("n>3"));
        assert!(!ok("n<3"));
        assert!(ok("example.com/x notin (a,b),app"));
        assert!(ok(""));
    }

    #[test]
    fn bad_label_selectors_are_400() {
        for s in ["app=(x", "a b c", "=x", "app in x", "app=web=x", "in (a"] {
            let e = LabelSelector::parse(s).unwrap_err();
            assert_eq!(e.code, 400, "{s}");
        }
    }

    #[test]
    fn field_selectors_validate_and_match() {
        let key = ResKey {
            group: "".into(),
            plural: "pods".into(),
        };
        let pod = json!({"spec": {"nodeName": "n1"}, "status": {"phase": "Running"}});
        let fields = extract_fields(&key, &pod);
        let pods = rt("", "pods");
        let v = ServerVersion::default();
        let mut fs = FieldSelector::parse("spec.nodeName=n1,status.phase!=Pending").unwrap();
        fs.validate(&pods, v).unwrap();
        assert!(fs.matches("default", "p", &fields));
        let fs = FieldSelector::parse("spec.hostNetwork=false").unwrap();
        assert!(fs.matches("default", "p", &fields));
        let fs = FieldSelector::parse("metadata.name==p,metadata.namespace=default").unwrap();
        assert!(fs.matches("default", "p", &fields));
        let e = FieldSelector::parse("spec.bogus=1")
            .unwrap()
            .validate(&pods, v)
            .unwrap_err();
        assert_eq!(e.message, "field label not supported: spec.bogus");
        assert_eq!(FieldSelector::parse("novalue").unwrap_err().code, 400);
        let fs = FieldSelector::parse(r"metadata.name=a\,b").unwrap();
        assert!(fs.matches("", "a,b", &[]));
    }

    fn rt(group: &str, plural: &str) -> ResourceType {
        crate::registry::Registry::builtins()
            .types()
            .iter()
            .find(|t| t.group == group && t.plural == plural)
            .cloned()
            .unwrap()
    }

    fn rejected(group: &str, plural: &str, selector: &str, minor: u32) -> Option<String> {
        let v = ServerVersion::new(1, minor).unwrap();
        FieldSelector::parse(selector)
            .unwrap()
            .validate(&rt(group, plural), v)
            .err()
            .map(|e| e.message)
    }

    #[test]
    fn accepted_labels_follow_the_kind_and_release() {
        assert_eq!(rejected("", "services", "spec.type=LoadBalancer", 33), None);
        assert_eq!(rejected("", "services", "spec.clusterIP=None", 31), None);
        assert_eq!(
            rejected("", "services", "spec.type=LoadBalancer", 30).as_deref(),
            Some(
                r#""spec.type" is not a known field selector: only "metadata.name", "metadata.namespace""#
            )
        );
        assert_eq!(rejected("", "services", "metadata.name=x", 27), None);
        assert_eq!(
            rejected("", "services", "spec.bogus=1", 33).as_deref(),
            Some("field label not supported: spec.bogus")
        );
        assert_eq!(rejected("", "pods", "spec.hostNetwork=true", 28), None);
        assert_eq!(
            rejected("", "pods", "spec.hostNetwork=true", 27).as_deref(),
            Some("field label not supported: spec.hostNetwork")
        );
        assert_eq!(rejected("", "pods", "status.podIPs=10.0.0.1", 20), None);
        assert_eq!(
            rejected("", "nodes", "metadata.namespace=x", 33).as_deref(),
            Some("field label not supported: metadata.namespace")
        );
        assert_eq!(
            rejected("", "persistentvolumes", "metadata.namespace=", 33),
            None
        );
        assert_eq!(
            rejected("batch", "jobs", "status.failed=1", 33).as_deref(),
            Some(r#"field label "status.failed" not supported for batchv1.Job"#)
        );
        assert_eq!(
            rejected("apps", "replicasets", "status.replicas=1", 33).as_deref(),
            Some(
                r#""status.replicas" is not a known field selector: only "metadata.name", "metadata.namespace""#
            )
        );
    }

    #[test]
    fn spec_host_is_spec_node_name_and_pod_ips_never_match() {
        let mut fs = FieldSelector::parse("spec.host=n1").unwrap();
        fs.validate(&rt("", "pods"), ServerVersion::default())
            .unwrap();
        let key = rt("", "pods").key();
        let fields = extract_fields(&key, &json!({"spec": {"nodeName": "n1"}}));
        assert!(fs.matches("ns", "p", &fields));
        let fs = FieldSelector::parse("status.podIPs=10.0.0.1").unwrap();
        let fields = extract_fields(
            &key,
            &json!({"status": {"podIP": "10.0.0.1", "podIPs": [{"ip": "10.0.0.1"}]}}),
        );
        assert!(!fs.matches("ns", "p", &fields));
    }

    #[test]
    fn job_successful_reads_status_succeeded() {
        let key = ResKey {
            group: "batch".into(),
            plural: "jobs".into(),
        };
        let f = extract_fields(&key, &json!({"status": {"succeeded": 2}}));
        assert_eq!(f, vec![("status.successful", "2".to_string())]);
        let f = extract_fields(&key, &json!({}));
        assert_eq!(f, vec![("status.successful", "0".to_string())]);
    }
}
