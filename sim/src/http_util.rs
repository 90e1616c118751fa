//! Small HTTP helpers: query-string decoding, Accept negotiation and
//! response construction.

use std::convert::Infallible;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, combinators::BoxBody};
use hyper::Response;
use serde_json::Value;

use crate::status::ApiError;

pub(crate) type Body = BoxBody<Bytes, Infallible>;

fn hex(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// Decodes `application/x-www-form-urlencoded` text (`+` is a space), leaving bad escapes as-is.
pub(crate) fn url_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            b'%' if i + 2 < b.len() => match (hex(b[i + 1]), hex(b[i + 2])) {
                (Some(h), Some(l)) => {
                    out.push(h * 16 + l);
                    i += 3;
                }
                _ => {
                    out.push(b'%');
                    i += 1;
                }
            },
            c => {
                out.push(c);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Decoded query parameters, in order.
#[derive(Debug, Default, Clone)]
pub(crate) struct Query(Vec<(String, String)>);

impl Query {
    pub fn parse(q: Option<&str>) -> Self {
        let Some(q) = q else {
            return Query::default();
        };
        Query(
            q.split('&')
                .filter(|p| !p.is_empty())
                .map(|p| match p.split_once('=') {
                    Some((k, v)) => (url_decode(k), url_decode(v)),
                    None => (url_decode(p), String::new()),
                })
                .collect(),
        )
    }

    pub fn get(&self, key: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// Every value of a repeated parameter, in order.
    pub fn get_all<'a>(&'a self, key: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.0
            .iter()
            .filter(move |(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    pub fn flag(&self, key: &str) -> bool {
        matches!(self.get(key), Some("true" | "1" | "True" | ""))
            && self.0.iter().any(|(k, _)| k == key)
    }
}

/// What the client's Accept header asks for.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(crate) struct Accept {
    /// meta.k8s.io version of a requested Table.
    pub table: Option<String>,
    /// apidiscovery.k8s.io version of a requested aggregated discovery document.
    pub aggregated: Option<String>,
    /// Whether PartialObjectMetadata(List) was asked for.
    pub partial_metadata: bool,
}

impl Accept {
    /// Takes the first alternative the sim can serve, in the client's order;
    /// aggregated discovery only in the versions `serves_aggregated` allows
    /// (older releases skip those alternatives, as their negotiation does).
    pub fn parse(header: Option<&str>, serves_aggregated: impl Fn(&str) -> bool) -> Self {
        let mut out = Accept::default();
        let Some(h) = header else {
            return out;
        };
        for alt in h.split(',') {
            let mut parts = alt.split(';').map(str::trim);
            let media = parts.next().unwrap_or("");
            let mut params = std::collections::HashMap::new();
            for p in parts {
                if let Some((k, v)) = p.split_once('=') {
                    params.insert(k.trim(), v.trim());
                }
            }
            if media != "application/json" && media != "*/*" {
                continue;
            }
            let g = params.get("g").copied();
            let v = params.get("v").copied();
            match (params.get("as").copied(), g, v) {
                (Some("Table"), Some("meta.k8s.io"), Some(v @ ("v1" | "v1beta1"))) => {
                    out.table = Some(v.to_string());
                    return out;
                }
                (Some("APIGroupDiscoveryList"), Some("apidiscovery.k8s.io"), Some(v))
                    if serves_aggregated(v) =>
                {
                    out.aggregated = Some(v.to_string());
                    return out;
                }
                (
                    Some("PartialObjectMetadata" | "PartialObjectMetadataList"),
                    Some("meta.k8s.io"),
                    _,
                ) => {
                    out.partial_metadata = true;
                    return out;
                }
                (None, _, _) => return out,
                _ => {}
            }
        }
        out
    }
}

pub(crate) fn full(bytes: impl Into<Bytes>) -> Body {
    Full::new(bytes.into()).boxed()
}

pub(crate) fn bytes_response(status: u16, content_type: &str, body: Bytes) -> Response<Body> {
    let mut r = Response::new(full(body));
    *r.status_mut() = hyper::StatusCode::from_u16(status).unwrap_or(hyper::StatusCode::OK);
    if let Ok(v) = hyper::header::HeaderValue::from_str(content_type) {
        r.headers_mut().insert(hyper::header::CONTENT_TYPE, v);
    }
    r
}

pub(crate) fn json_response(status: u16, v: &Value) -> Response<Body> {
    bytes_response(
        status,
        "application/json",
        Bytes::from(serde_json::to_vec(v).unwrap_or_default()),
    )
}

pub(crate) fn error_response(e: &ApiError) -> Response<Body> {
    let mut r = json_response(e.code, &e.to_status());
    if let Some(secs) = e.retry_after
        && let Ok(v) = hyper::header::HeaderValue::from_str(&secs.to_string())
    {
        r.headers_mut().insert(hyper::header::RETRY_AFTER, v);
    }
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_go_query_encoding() {
        assert_eq!(url_decode("env+in+%28a%2Cb%29"), "env in (a,b)");
        assert_eq!(url_decode("bad%zz%"), "bad%zz%");
        let q = Query::parse(Some(
            "watch=1&labelSelector=app%3Dweb&limit=7&allowWatchBookmarks=true",
        ));
        assert!(q.flag("watch"));
        assert!(q.flag("allowWatchBookmarks"));
        assert!(!q.flag("missing"));
        assert_eq!(q.get("labelSelector"), Some("app=web"));
    }

    #[test]
    fn aggregated_discovery_skips_versions_the_release_lacks() {
        let header = Some(
            "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList,application/json",
        );
        let a = Accept::parse(header, |v| v == "v2beta1");
        assert_eq!(a.aggregated.as_deref(), Some("v2beta1"));
        assert_eq!(Accept::parse(header, |_| false), Accept::default());
    }

    #[test]
    fn accept_negotiation_follows_client_order() {
        let all = |_: &str| true;
        let a = Accept::parse(
            Some(
                "application/json;as=Table;v=v1;g=meta.k8s.io,application/json;as=Table;v=v1beta1;g=meta.k8s.io,application/json",
            ),
            all,
        );
        assert_eq!(a.table.as_deref(), Some("v1"));
        let a = Accept::parse(
            Some(
                "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,application/json",
            ),
            all,
        );
        assert_eq!(a.aggregated.as_deref(), Some("v2"));
        let a = Accept::parse(Some("application/json, */*"), all);
        assert_eq!(a, Accept::default());
        let a = Accept::parse(
            Some(
                "application/vnd.kubernetes.protobuf;as=Table;v=v1;g=meta.k8s.io,application/json",
            ),
            all,
        );
        assert_eq!(a, Accept::default());
    }
}
