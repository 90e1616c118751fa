//! Just enough Kubernetes protobuf decoding for the typed create requests
//! kubectl sends (`kubectl create namespace|configmap|secret|serviceaccount`).
//!
//! Typed client-go clients encode bodies as `k8s\0` + runtime.Unknown
//! {typeMeta, raw}; the sim stores JSON, so it decodes the object's
//! ObjectMeta (name, generateName, namespace, labels, annotations) and the
//! payload fields of those few kinds. Any other kind gets a 415 that says so.

use base64::Engine;
use serde_json::{Map, Value, json};

use crate::status::ApiError;

const MAGIC: &[u8] = b"k8s\0";

enum Field<'a> {
    Varint(u64),
    Bytes(&'a [u8]),
    Fixed,
}

fn varint(buf: &[u8], pos: &mut usize) -> Option<u64> {
    let mut out = 0u64;
    for shift in (0..64).step_by(7) {
        let b = *buf.get(*pos)?;
        *pos += 1;
        out |= u64::from(b & 0x7f) << shift;
        if b & 0x80 == 0 {
            return Some(out);
        }
    }
    None
}

/// Iterates the (field number, value) pairs of one message.
fn fields(buf: &[u8]) -> Option<Vec<(u64, Field<'_>)>> {
    let mut pos = 0;
    let mut out = Vec::new();
    while pos < buf.len() {
        let key = varint(buf, &mut pos)?;
        let (num, wire) = (key >> 3, key & 7);
        let f = match wire {
            0 => Field::Varint(varint(buf, &mut pos)?),
            1 => {
                pos = pos.checked_add(8).filter(|p| *p <= buf.len())?;
                Field::Fixed
            }
            2 => {
                let len = usize::try_from(varint(buf, &mut pos)?).ok()?;
                let end = pos.checked_add(len).filter(|e| *e <= buf.len())?;
                let b = &buf[pos..end];
                pos = end;
                Field::Bytes(b)
            }
            5 => {
                pos = pos.checked_add(4).filter(|p| *p <= buf.len())?;
                Field::Fixed
            }
            _ => return None,
        };
        out.push((num, f));
    }
    Some(out)
}

fn string(b: &[u8]) -> Option<String> {
    String::from_utf8(b.to_vec()).ok()
}

/// A map entry message {1: key, 2: value}.
fn entry(b: &[u8]) -> Option<(String, Vec<u8>)> {
    let mut k = String::new();
    let mut v = Vec::new();
    for (n, f) in fields(b)? {
        match (n, f) {
            (1, Field::Bytes(x)) => k = string(x)?,
            (2, Field::Bytes(x)) => v = x.to_vec(),
            _ => {}
        }
    }
    Some((k, v))
}

fn object_meta(b: &[u8]) -> Option<Value> {
    let mut m = Map::new();
    let mut labels = Map::new();
    let mut annotations = Map::new();
    for (n, f) in fields(b)? {
        if let Field::Bytes(x) = f {
            match n {
                1 => {
                    m.insert("name".into(), json!(string(x)?));
                }
                2 => {
                    m.insert("generateName".into(), json!(string(x)?));
                }
                3 => {
                    m.insert("namespace".into(), json!(string(x)?));
                }
                11 => {
                    let (k, v) = entry(x)?;
                    labels.insert(k, json!(string(&v)?));
                }
                12 => {
                    let (k, v) = entry(x)?;
                    annotations.insert(k, json!(string(&v)?));
                }
                _ => {}
            }
        }
    }
    if !labels.is_empty() {
        m.insert("labels".into(), Value::Object(labels));
    }
    if !annotations.is_empty() {
        m.insert("annotations".into(), Value::Object(annotations));
    }
    Some(Value::Object(m))
}

fn decode_object(api_version: &str, kind: &str, raw: &[u8]) -> Option<Result<Value, String>> {
    let b64 = base64::engine::general_purpose::STANDARD;
    let mut obj = Map::new();
    obj.insert("apiVersion".into(), json!(api_version));
    obj.insert("kind".into(), json!(kind));
    let mut data = Map::new();
    let mut string_data = Map::new();
    let mut binary = Map::new();
    let supported = matches!(
        (api_version, kind),
        (
            "v1",
            "Namespace" | "ConfigMap" | "Secret" | "ServiceAccount"
        ) | (
            "authorization.k8s.io/v1",
            "SelfSubjectAccessReview" | "SelfSubjectRulesReview"
        )
    );
    if !supported {
        return Some(Err(format!(
            "the protobuf body of a {kind} ({api_version}) is not understood by kq-sim; send application/json"
        )));
    }
    for (n, f) in fields(raw)? {
        let Field::Bytes(x) = f else {
            if let (4 | 5, Field::Varint(v)) = (n, &f)
                && ((kind == "ConfigMap" && n == 4) || (kind == "Secret" && n == 5))
            {
                obj.insert("immutable".into(), json!(*v != 0));
            }
            continue;
        };
        match (kind, n) {
            (_, 1) => {
                obj.insert("metadata".into(), object_meta(x)?);
            }
            ("ConfigMap", 2) => {
                let (k, v) = entry(x)?;
                data.insert(k, json!(string(&v)?));
            }
            ("ConfigMap", 3) => {
                let (k, v) = entry(x)?;
                binary.insert(k, json!(b64.encode(v)));
            }
            ("Secret", 2) => {
                let (k, v) = entry(x)?;
                data.insert(k, json!(b64.encode(v)));
            }
            ("Secret", 3) => {
                obj.insert("type".into(), json!(string(x)?));
            }
            ("Secret", 4) => {
                let (k, v) = entry(x)?;
                string_data.insert(k, json!(string(&v)?));
            }
            ("SelfSubjectAccessReview", 2) => {
                obj.insert("spec".into(), access_review_spec(x)?);
            }
            ("SelfSubjectRulesReview", 2) => {
                let mut spec = Map::new();
                for (n, f) in fields(x)? {
                    if let (1, Field::Bytes(ns)) = (n, f) {
                        spec.insert("namespace".into(), json!(string(ns)?));
                    }
                }
                obj.insert("spec".into(), Value::Object(spec));
            }
            _ => {}
        }
    }
    if !data.is_empty() {
        obj.insert("data".into(), Value::Object(data));
    }
    if !binary.is_empty() {
        obj.insert("binaryData".into(), Value::Object(binary));
    }
    if !string_data.is_empty() {
        // The real server folds stringData into data on write.
        let d = obj.entry("data").or_insert_with(|| json!({}));
        if let Some(d) = d.as_object_mut() {
            for (k, v) in string_data {
                d.insert(k, json!(b64.encode(v.as_str().unwrap_or("").as_bytes())));
            }
        }
    }
    Some(Ok(Value::Object(obj)))
}

/// Strings of a message, by field number, under the given JSON names.
fn string_fields(b: &[u8], names: &[(u64, &str)]) -> Option<Value> {
    let mut m = Map::new();
    for (n, f) in fields(b)? {
        if let Field::Bytes(x) = f
            && let Some((_, name)) = names.iter().find(|(num, _)| *num == n)
        {
            m.insert((*name).to_string(), json!(string(x)?));
        }
    }
    Some(Value::Object(m))
}

fn access_review_spec(b: &[u8]) -> Option<Value> {
    let mut spec = Map::new();
    for (n, f) in fields(b)? {
        match (n, f) {
            (1, Field::Bytes(x)) => {
                let ra = string_fields(
                    x,
                    &[
                        (1, "namespace"),
                        (2, "verb"),
                        (3, "group"),
                        (4, "version"),
                        (5, "resource"),
                        (6, "subresource"),
                        (7, "name"),
                    ],
                )?;
                spec.insert("resourceAttributes".into(), ra);
            }
            (2, Field::Bytes(x)) => {
                let nra = string_fields(x, &[(1, "path"), (2, "verb")])?;
                spec.insert("nonResourceAttributes".into(), nra);
            }
            _ => {}
        }
    }
    Some(Value::Object(spec))
}

/// Decodes a `k8s\0`-framed protobuf object body into its JSON form.
pub(crate) fn decode(body: &[u8]) -> Result<Value, ApiError> {
    let bad = || ApiError::bad_request("couldn't get version/kind; protobuf decode error");
    let rest = body.strip_prefix(MAGIC).ok_or_else(bad)?;
    let mut api_version = String::new();
    let mut kind = String::new();
    let mut raw: &[u8] = &[];
    for (n, f) in fields(rest).ok_or_else(bad)? {
        match (n, f) {
            (1, Field::Bytes(tm)) => {
                for (tn, tf) in fields(tm).ok_or_else(bad)? {
                    match (tn, tf) {
                        (1, Field::Bytes(x)) => api_version = string(x).ok_or_else(bad)?,
                        (2, Field::Bytes(x)) => kind = string(x).ok_or_else(bad)?,
                        _ => {}
                    }
                }
            }
            (2, Field::Bytes(x)) => raw = x,
            _ => {}
        }
    }
    match decode_object(&api_version, &kind, raw) {
        Some(Ok(v)) => Ok(v),
        Some(Err(msg)) => Err(ApiError::new(415, "UnsupportedMediaType", msg)),
        None => Err(bad()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn field_bytes(num: u64, b: &[u8]) -> Vec<u8> {
        let mut out = vec![((num << 3) | 2) as u8, b.len() as u8];
        out.extend_from_slice(b);
        out
    }

    #[test]
    fn decodes_a_namespace_create() {
        let type_meta = [field_bytes(1, b"v1"), field_bytes(2, b"Namespace")].concat();
        let label = [field_bytes(1, b"team"), field_bytes(2, b"x")].concat();
        let meta = [field_bytes(1, b"newns"), field_bytes(11, &label)].concat();
        let raw = field_bytes(1, &meta);
        let body = [
            MAGIC.to_vec(),
            field_bytes(1, &type_meta),
            field_bytes(2, &raw),
        ]
        .concat();
        let v = decode(&body).unwrap();
        assert_eq!(v["kind"], "Namespace");
        assert_eq!(v["metadata"]["name"], "newns");
        assert_eq!(v["metadata"]["labels"]["team"], "x");
    }

    #[test]
    fn rejects_garbage_and_unknown_kinds() {
        assert_eq!(decode(b"nope").unwrap_err().code, 400);
        assert_eq!(decode(b"k8s\0\xff\xff").unwrap_err().code, 400);
        let type_meta = [field_bytes(1, b"apps/v1"), field_bytes(2, b"Deployment")].concat();
        let body = [MAGIC.to_vec(), field_bytes(1, &type_meta)].concat();
        assert_eq!(decode(&body).unwrap_err().code, 415);
    }
}
