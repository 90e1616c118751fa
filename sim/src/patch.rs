//! PATCH bodies: JSON merge patch (RFC 7386), an approximation of strategic
//! merge patch, and JSON patch (RFC 6902).
//!
//! Strategic merge patch is approximated without the Go type schemas: maps
//! merge as in a merge patch, `$`-directives (`$patch`, `$setElementOrder`,
//! `$retainKeys`, `$deleteFromPrimitiveList`) are honoured where cheap, and
//! a list of objects is merged by a conventional merge key (`name`,
//! `containerPort`, `port`, `mountPath`, `devicePath`, `ip`, `type`) when
//! every element on both sides carries it; any other list is replaced,
//! which is also what a merge patch does.

use serde_json::{Map, Value};

use crate::status::ApiError;

/// RFC 7386: null deletes, objects merge recursively, anything else replaces.
pub(crate) fn merge_patch(target: Value, patch: &Value) -> Value {
    match patch {
        Value::Object(p) => {
            let mut t = match target {
                Value::Object(t) => t,
                _ => Map::new(),
            };
            for (k, v) in p {
                if v.is_null() {
                    t.remove(k);
                } else {
                    let cur = t.remove(k).unwrap_or(Value::Null);
                    t.insert(k.clone(), merge_patch(cur, v));
                }
            }
            Value::Object(t)
        }
        other => other.clone(),
    }
}

const MERGE_KEYS: &[&str] = &[
    "name",
    "containerPort",
    "port",
    "mountPath",
    "devicePath",
    "ip",
    "type",
];

fn merge_key(target: &[Value], patch: &[Value]) -> Option<&'static str> {
    MERGE_KEYS.iter().copied().find(|k| {
        patch
            .iter()
            .all(|p| p.as_object().is_some_and(|o| o.contains_key(*k)))
            && target
                .iter()
                .all(|t| t.as_object().is_some_and(|o| o.contains_key(*k)))
            && !patch.is_empty()
    })
}

fn strategic_list(target: Vec<Value>, patch: &[Value], order: Option<&Vec<Value>>) -> Value {
    let Some(key) = merge_key(&target, patch) else {
        let cleaned: Vec<Value> = patch
            .iter()
            .filter(|p| p.get("$patch").is_none())
            .map(|p| strategic_merge(Value::Null, p))
            .collect();
        return Value::Array(cleaned);
    };
    let mut out = target;
    for p in patch {
        let id = p.get(key).cloned();
        let pos = out.iter().position(|t| t.get(key) == id.as_ref());
        let directive = p.get("$patch").and_then(Value::as_str);
        match (pos, directive) {
            (Some(i), Some("delete")) => {
                out.remove(i);
            }
            (None, Some("delete")) => {}
            (Some(i), Some("replace")) => {
                out[i] = strategic_merge(Value::Null, p);
            }
            (Some(i), _) => {
                let cur = std::mem::take(&mut out[i]);
                out[i] = strategic_merge(cur, p);
            }
            (None, _) => out.push(strategic_merge(Value::Null, p)),
        }
    }
    if let Some(order) = order {
        let rank = |v: &Value| {
            order
                .iter()
                .position(|o| o.get(key) == v.get(key))
                .unwrap_or(usize::MAX)
        };
        out.sort_by_key(rank);
    }
    Value::Array(out)
}

/// Strategic merge patch as described in the module docs.
pub(crate) fn strategic_merge(target: Value, patch: &Value) -> Value {
    let Value::Object(p) = patch else {
        return patch.clone();
    };
    if p.get("$patch").and_then(Value::as_str) == Some("replace") {
        let mut p = p.clone();
        p.remove("$patch");
        return strategic_merge(Value::Null, &Value::Object(p));
    }
    if p.get("$patch").and_then(Value::as_str) == Some("delete") {
        return Value::Null;
    }
    let mut t = match target {
        Value::Object(t) => t,
        _ => Map::new(),
    };
    if let Some(Value::Array(keep)) = p.get("$retainKeys") {
        let keep: Vec<&str> = keep.iter().filter_map(Value::as_str).collect();
        t.retain(|k, _| keep.contains(&k.as_str()));
    }
    for (k, v) in p {
        if k.starts_with('$') {
            continue;
        }
        if v.is_null() {
            t.remove(k);
            continue;
        }
        let cur = t.remove(k).unwrap_or(Value::Null);
        let merged = match (cur, v) {
            (Value::Array(cur), Value::Array(pv)) => {
                let order = p
                    .get(&format!("$setElementOrder/{k}"))
                    .and_then(Value::as_array);
                strategic_list(cur, pv, order)
            }
            (cur, pv) => strategic_merge(cur, pv),
        };
        if !merged.is_null() {
            t.insert(k.clone(), merged);
        }
    }
    for (k, v) in p {
        if let Some(field) = k.strip_prefix("$deleteFromPrimitiveList/")
            && let (Some(Value::Array(cur)), Value::Array(del)) = (t.get_mut(field), v)
        {
            cur.retain(|x| !del.contains(x));
        }
    }
    Value::Object(t)
}

fn unescape_pointer(token: &str) -> String {
    token.replace("~1", "/").replace("~0", "~")
}

fn pointer_parent<'a>(doc: &'a mut Value, path: &str) -> Result<(&'a mut Value, String), ApiError> {
    let bad = || ApiError::bad_request(format!("json patch: invalid path {path:?}"));
    if !path.starts_with('/') {
        return Err(bad());
    }
    let (parent, last) = path.rsplit_once('/').ok_or_else(bad)?;
    let target = if parent.is_empty() {
        doc
    } else {
        doc.pointer_mut(parent).ok_or_else(bad)?
    };
    Ok((target, unescape_pointer(last)))
}

fn pointer_add(doc: &mut Value, path: &str, value: Value) -> Result<(), ApiError> {
    if path.is_empty() {
        *doc = value;
        return Ok(());
    }
    let (parent, last) = pointer_parent(doc, path)?;
    match parent {
        Value::Object(o) => {
            o.insert(last, value);
            Ok(())
        }
        Value::Array(a) => {
            if last == "-" {
                a.push(value);
                return Ok(());
            }
            let i: usize = last
                .parse()
                .map_err(|_| ApiError::bad_request(format!("json patch: bad index {last:?}")))?;
            if i > a.len() {
                return Err(ApiError::bad_request(format!(
                    "json patch: index {i} out of range"
                )));
            }
            a.insert(i, value);
            Ok(())
        }
        _ => Err(ApiError::bad_request(format!(
            "json patch: cannot add at {path:?}"
        ))),
    }
}

fn pointer_remove(doc: &mut Value, path: &str) -> Result<Value, ApiError> {
    let missing = || ApiError::bad_request(format!("json patch: missing path {path:?}"));
    let (parent, last) = pointer_parent(doc, path)?;
    match parent {
        Value::Object(o) => o.remove(&last).ok_or_else(missing),
        Value::Array(a) => {
            let i: usize = last.parse().map_err(|_| missing())?;
            if i < a.len() {
                Ok(a.remove(i))
            } else {
                Err(missing())
            }
        }
        _ => Err(missing()),
    }
}

/// RFC 6902 JSON patch.
pub(crate) fn json_patch(mut doc: Value, ops: &Value) -> Result<Value, ApiError> {
    let ops = ops.as_array().ok_or_else(|| {
        ApiError::bad_request("json patch: the body must be an array of operations")
    })?;
    for op in ops {
        let kind = op.get("op").and_then(Value::as_str).unwrap_or("");
        let path = op
            .get("path")
            .and_then(Value::as_str)
            .ok_or_else(|| ApiError::bad_request("json patch: operation without a path"))?;
        let from = op.get("from").and_then(Value::as_str);
        let value = op.get("value").cloned();
        match (kind, value, from) {
            ("add", Some(v), _) => pointer_add(&mut doc, path, v)?,
            ("replace", Some(v), _) => {
                pointer_remove(&mut doc, path)?;
                pointer_add(&mut doc, path, v)?;
            }
            ("remove", _, _) => {
                pointer_remove(&mut doc, path)?;
            }
            ("test", Some(v), _) => {
                if doc.pointer(path) != Some(&v) {
                    return Err(ApiError::new(
                        422,
                        "Invalid",
                        format!("json patch: test operation failed at {path:?}"),
                    ));
                }
            }
            ("move", _, Some(f)) => {
                let v = pointer_remove(&mut doc, f)?;
                pointer_add(&mut doc, path, v)?;
            }
            ("copy", _, Some(f)) => {
                let v = doc.pointer(f).cloned().ok_or_else(|| {
                    ApiError::bad_request(format!("json patch: missing path {f:?}"))
                })?;
                pointer_add(&mut doc, path, v)?;
            }
            _ => {
                return Err(ApiError::bad_request(format!(
                    "json patch: unsupported or incomplete operation {kind:?}"
                )));
            }
        }
    }
    Ok(doc)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn merge_patch_rfc7386() {
        let t = json!({"a": 1, "b": {"c": 2, "d": 3}, "l": [1, 2]});
        let p = json!({"a": null, "b": {"c": 5}, "l": [3]});
        assert_eq!(merge_patch(t, &p), json!({"b": {"c": 5, "d": 3}, "l": [3]}));
    }

    #[test]
    fn strategic_merges_containers_by_name() {
        let t = json!({"spec": {"containers": [
            {"name": "a", "image": "nginx:1", "ports": [{"containerPort": 80}]},
            {"name": "b", "image": "redis:6"}
        ]}});
        let p = json!({"spec": {
            "$setElementOrder/containers": [{"name": "b"}, {"name": "a"}],
            "containers": [{"name": "a", "image": "nginx:2"}]
        }});
        let out = strategic_merge(t, &p);
        let cs = out["spec"]["containers"].as_array().unwrap();
        assert_eq!(cs[0]["name"], "b");
        assert_eq!(cs[1]["image"], "nginx:2");
        assert_eq!(cs[1]["ports"][0]["containerPort"], 80);
    }

    #[test]
    fn strategic_delete_directive_and_primitive_lists() {
        let t =
            json!({"l": [{"name": "x"}, {"name": "y"}], "args": ["a", "b"], "fin": ["f1", "f2"]});
        let p = json!({"l": [{"name": "x", "$patch": "delete"}], "args": ["c"], "$deleteFromPrimitiveList/fin": ["f1"]});
        let out = strategic_merge(t, &p);
        assert_eq!(out["l"], json!([{"name": "y"}]));
        assert_eq!(out["args"], json!(["c"]));
        assert_eq!(out["fin"], json!(["f2"]));
    }

    #[test]
    fn json_patch_operations() {
        let doc = json!({"metadata": {"labels": {"a": "1"}}, "l": [1, 2]});
        let ops = json!([
            {"op": "add", "path": "/metadata/labels/b", "value": "2"},
            {"op": "replace", "path": "/metadata/labels/a", "value": "3"},
            {"op": "remove", "path": "/l/0"},
            {"op": "add", "path": "/l/-", "value": 9},
            {"op": "test", "path": "/l/0", "value": 2},
            {"op": "copy", "from": "/l", "path": "/m"}
        ]);
        let out = json_patch(doc, &ops).unwrap();
        assert_eq!(
            out,
            json!({"metadata": {"labels": {"a": "3", "b": "2"}}, "l": [2, 9], "m": [2, 9]})
        );
        assert_eq!(json_patch(json!({}), &json!({})).unwrap_err().code, 400);
        assert_eq!(
            json_patch(json!({}), &json!([{"op": "remove", "path": "/x"}]))
                .unwrap_err()
                .code,
            400
        );
    }
}
