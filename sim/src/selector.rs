//! Label and field selectors, parsed and evaluated with the real API
//! server's grammar and error messages, plus the per-kind selectable fields.

use serde_json::Value;

use crate::registry::ResKey;
use crate::status::ApiError;

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

    /// Rejects fields the resource does not support, as the server does.
    pub fn validate(&self, key: &ResKey) -> Result<(), ApiError> {
        let specs = field_specs(key);
        for t in &self.terms {
            let known = t.field == "metadata.name"
                || t.field == "metadata.namespace"
                || specs.iter().any(|s| s.0 == t.field);
            if !known {
                return Err(ApiError::bad_request(format!(
                    "field label not supported: {}",
                    t.field
                )));
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

/// (field, JSON path, value when absent)
type FieldSpec = (&'static str, &'static [&'static str], &'static str);

const POD_FIELDS: &[FieldSpec] = &[
    ("spec.nodeName", &["spec", "nodeName"], ""),
    ("spec.restartPolicy", &["spec", "restartPolicy"], ""),
    ("spec.schedulerName", &["spec", "schedulerName"], ""),
    (
        "spec.serviceAccountName",
        &["spec", "serviceAccountName"],
        "",
    ),
    ("spec.hostNetwork", &["spec", "hostNetwork"], "false"),
    ("status.phase", &["status", "phase"], ""),
    ("status.podIP", &["status", "podIP"], ""),
    (
        "status.nominatedNodeName",
        &["status", "nominatedNodeName"],
        "",
    ),
];
const SECRET_FIELDS: &[FieldSpec] = &[("type", &["type"], "")];
const EVENT_FIELDS: &[FieldSpec] = &[
    ("involvedObject.kind", &["involvedObject", "kind"], ""),
    (
        "involvedObject.namespace",
        &["involvedObject", "namespace"],
        "",
    ),
    ("involvedObject.name", &["involvedObject", "name"], ""),
    ("involvedObject.uid", &["involvedObject", "uid"], ""),
    (
        "involvedObject.apiVersion",
        &["involvedObject", "apiVersion"],
        "",
    ),
    (
        "involvedObject.resourceVersion",
        &["involvedObject", "resourceVersion"],
        "",
    ),
    (
        "involvedObject.fieldPath",
        &["involvedObject", "fieldPath"],
        "",
    ),
    ("reason", &["reason"], ""),
    ("reportingComponent", &["reportingComponent"], ""),
    ("source", &["source", "component"], ""),
    ("type", &["type"], ""),
];
const NODE_FIELDS: &[FieldSpec] = &[("spec.unschedulable", &["spec", "unschedulable"], "false")];
const NAMESPACE_FIELDS: &[FieldSpec] = &[("status.phase", &["status", "phase"], "")];
const REPLICAS_FIELDS: &[FieldSpec] = &[("status.replicas", &["status", "replicas"], "0")];
const JOB_FIELDS: &[FieldSpec] = &[("status.successful", &["status", "succeeded"], "0")];
const SERVICE_FIELDS: &[FieldSpec] = &[
    ("spec.clusterIP", &["spec", "clusterIP"], ""),
    ("spec.type", &["spec", "type"], ""),
];

/// The kind-specific selectable fields (metadata.name/namespace are universal).
pub(crate) fn field_specs(key: &ResKey) -> &'static [FieldSpec] {
    match (key.group.as_str(), key.plural.as_str()) {
        ("", "pods") => POD_FIELDS,
        ("", "secrets") => SECRET_FIELDS,
        ("", "events") => EVENT_FIELDS,
        ("", "nodes") => NODE_FIELDS,
        ("", "namespaces") => NAMESPACE_FIELDS,
        ("", "replicationcontrollers") | ("apps", "replicasets") => REPLICAS_FIELDS,
        ("batch", "jobs") => JOB_FIELDS,
        ("", "services") => SERVICE_FIELDS,
        _ => &[],
    }
}

/// Extracts the selectable field values of one object.
pub(crate) fn extract_fields(key: &ResKey, obj: &Value) -> Vec<(&'static str, String)> {
    field_specs(key)
        .iter()
        .map(|(field, path, default)| {
            let mut cur = Some(obj);
            for p in *path {
                cur = cur.and_then(|c| c.get(p));
            }
            let v = match cur {
                Some(Value::String(s)) => s.clone(),
                Some(Value::Bool(b)) => b.to_string(),
                Some(Value::Number(n)) => n.to_string(),
                _ => default.to_string(),
            };
            (*field, v)
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
        let fs = FieldSelector::parse("spec.nodeName=n1,status.phase!=Pending").unwrap();
        fs.validate(&key).unwrap();
        assert!(fs.matches("default", "p", &fields));
        let fs = FieldSelector::parse("spec.hostNetwork=false").unwrap();
        assert!(fs.matches("default", "p", &fields));
        let fs = FieldSelector::parse("metadata.name==p,metadata.namespace=default").unwrap();
        assert!(fs.matches("default", "p", &fields));
        let e = FieldSelector::parse("spec.bogus=1")
            .unwrap()
            .validate(&key)
            .unwrap_err();
        assert_eq!(e.message, "field label not supported: spec.bogus");
        assert_eq!(FieldSelector::parse("novalue").unwrap_err().code, 400);
        let fs = FieldSelector::parse(r"metadata.name=a\,b").unwrap();
        assert!(fs.matches("", "a,b", &[]));
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
