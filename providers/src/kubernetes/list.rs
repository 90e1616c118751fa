//! Paginated, retrying list requests against one cluster.
//!
//! The API server is shared infrastructure, so a list is polite: it pages
//! with `limit`/`continue`, honours `Retry-After` on 429, backs off on
//! transient 5xx, and on a stale continue token (410) restarts the list in
//! one unpaged request while skipping objects already emitted, so no row
//! is lost or doubled.

use http::StatusCode;
use serde::Deserialize;
use sonic_rs::{JsonValueTrait as _, Value};
use std::collections::HashSet;

use super::fetch;
use super::resource::ResourceRef;

/// What to list and how.
#[derive(Clone, Debug, Default)]
pub struct ListParams {
    pub namespace: Option<String>,
    pub label_selector: Option<String>,
    pub field_selector: Option<String>,
    /// Objects per page; 0 asks for everything in one response.
    pub page_size: u32,
    /// Stop after this many objects (only when every object is a result row).
    pub max_objects: Option<usize>,
}

/// Why a list failed, in words a user can act on.
#[derive(Debug, thiserror::Error)]
pub enum ListError {
    #[error("{verb} {resource} forbidden: {message}")]
    Forbidden {
        verb: &'static str,
        resource: String,
        message: String,
    },
    #[error("{verb} {resource} unauthorized (credentials rejected or expired): {message}")]
    Unauthorized {
        verb: &'static str,
        resource: String,
        message: String,
    },
    #[error("{verb} {resource} failed with HTTP {code}: {message}")]
    Status {
        verb: &'static str,
        resource: String,
        code: u16,
        message: String,
    },
    #[error("{verb} {resource} failed: {message}")]
    Transport {
        verb: &'static str,
        resource: String,
        message: String,
    },
    #[error("cannot decode the {resource} list: {message}")]
    Decode { resource: String, message: String },
}

impl ListError {
    /// A 403: the caller may retry per namespace.
    pub fn is_forbidden(&self) -> bool {
        matches!(self, ListError::Forbidden { .. })
    }
}

/// One page of a `<Kind>List`: items stay untyped (sonic-rs values), so a
/// page costs one fast parse and no per-kind struct.
#[derive(Deserialize)]
pub struct ListPage {
    #[serde(default)]
    metadata: ListMeta,
    /// `null` or absent when the list is empty.
    #[serde(default, deserialize_with = "null_as_empty")]
    pub items: Vec<Value>,
}

fn null_as_empty<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<Value>, D::Error> {
    Ok(Option::<Vec<Value>>::deserialize(d)?.unwrap_or_default())
}

impl ListPage {
    /// Parses a list response body.
    pub fn parse(body: &[u8]) -> Result<ListPage, sonic_rs::Error> {
        sonic_rs::from_slice(body)
    }
}

#[derive(Deserialize, Default)]
struct ListMeta {
    #[serde(rename = "continue", default)]
    continue_token: Option<String>,
    #[serde(rename = "resourceVersion", default)]
    resource_version: Option<String>,
}

const MAX_RESTARTS: u64 = 5;

/// A list in progress: call [`Lister::next_page`] until it returns `None`.
/// A resource the server does not serve (404) is simply empty.
pub struct Lister {
    client: kube::Client,
    resource: ResourceRef,
    params: ListParams,
    seen: HashSet<String>,
    continue_token: Option<String>,
    done: bool,
    /// Objects emitted so far, for `max_objects`.
    objects: usize,
    /// Restarts after an expired continue token.
    restarts: u64,
    /// After an expired continue token the list restarts in one request,
    /// as client-go's pager does: a list slower than the server's
    /// compaction would otherwise expire again on every attempt.
    unpaged: bool,
    /// Drop objects already emitted when a list restarts (see [`Lister::for_snapshot`]).
    dedup: bool,
    /// The list's resourceVersion, from the latest page.
    resource_version: Option<String>,
}

impl Lister {
    pub fn new(client: kube::Client, resource: ResourceRef, params: ListParams) -> Self {
        Self {
            client,
            resource,
            params,
            seen: HashSet::new(),
            continue_token: None,
            done: false,
            objects: 0,
            restarts: 0,
            unpaged: false,
            dedup: true,
            resource_version: None,
        }
    }

    /// A list whose pages together must form one consistent snapshot (the
    /// live cache watches from its resourceVersion). A restart re-sends
    /// every object instead of skipping those already emitted: callers
    /// drop what they collected when [`Lister::restarts`] grows.
    pub fn for_snapshot(mut self) -> Self {
        self.dedup = false;
        self
    }

    /// How often the list restarted after an expired continue token.
    pub fn restarts(&self) -> u64 {
        self.restarts
    }

    /// The resourceVersion of the snapshot served so far: a watch from it
    /// misses no change made after the list.
    pub fn resource_version(&self) -> Option<&str> {
        self.resource_version.as_deref()
    }

    /// The next page's new objects; `None` when the list is complete.
    pub async fn next_page(&mut self) -> Result<Option<Vec<Value>>, ListError> {
        loop {
            if self.done {
                return Ok(None);
            }
            let url = if self.unpaged {
                let whole = ListParams {
                    page_size: 0,
                    ..self.params.clone()
                };
                list_url(&self.resource, &whole, self.continue_token.as_deref())
            } else {
                list_url(&self.resource, &self.params, self.continue_token.as_deref())
            };
            let body = match fetch_page(&self.client, &self.resource, &url).await {
                Ok(Some(body)) => body,
                Ok(None) => {
                    self.done = true;
                    return Ok(None);
                }
                Err(FetchError::Expired) if self.continue_token.is_some() => {
                    // The snapshot behind our continue token is gone. Start
                    // over; `seen` drops what was already emitted, so the
                    // result stays a set with no duplicate uid.
                    self.restarts += 1;
                    if self.restarts > MAX_RESTARTS {
                        return Err(
                            self.status_error(410, "continue token expired repeatedly; giving up")
                        );
                    }
                    self.continue_token = None;
                    self.unpaged = true;
                    continue;
                }
                Err(FetchError::Expired) => {
                    return Err(self.status_error(410, "resource version expired"));
                }
                Err(FetchError::List(e)) => return Err(e),
            };
            let page = ListPage::parse(&body).map_err(|e| ListError::Decode {
                resource: self.resource.plural.clone(),
                message: e.to_string(),
            })?;
            let mut items = page.items;
            if let Some(version) = page.metadata.resource_version.filter(|v| !v.is_empty()) {
                self.resource_version = Some(version);
            }
            let seen = &mut self.seen;
            let dedup = self.dedup;
            // A uid seen before can only come from a restarted list: drop it
            // so the result never holds the same object twice.
            items.retain(|item| {
                if !dedup {
                    return true;
                }
                match item
                    .get("metadata")
                    .and_then(|m| m.get("uid"))
                    .and_then(|u| u.as_str())
                {
                    Some(uid) => seen.insert(uid.to_string()),
                    None => true,
                }
            });
            self.objects += items.len();
            let reached_max = self
                .params
                .max_objects
                .is_some_and(|max| self.objects >= max);
            match page.metadata.continue_token.filter(|t| !t.is_empty()) {
                Some(token) if !reached_max => self.continue_token = Some(token),
                _ => self.done = true,
            }
            if items.is_empty() {
                continue;
            }
            return Ok(Some(items));
        }
    }

    fn status_error(&self, code: u16, message: &str) -> ListError {
        ListError::Status {
            verb: "list",
            resource: self.resource.plural.clone(),
            code,
            message: message.to_string(),
        }
    }
}

fn list_url(resource: &ResourceRef, params: &ListParams, continue_token: Option<&str>) -> String {
    let mut query: Vec<(&str, String)> = Vec::new();
    // page_size 0 asks for the whole list at once (still capped by max_objects).
    let limit = match (params.page_size, params.max_objects) {
        (0, None) => None,
        (0, Some(max)) => Some(max.max(1)),
        (size, None) => Some(size as usize),
        (size, Some(max)) => Some((size as usize).min(max.max(1))),
    };
    if let Some(limit) = limit {
        query.push(("limit", limit.to_string()));
    }
    if let Some(selector) = &params.label_selector {
        query.push(("labelSelector", selector.clone()));
    }
    if let Some(selector) = &params.field_selector {
        query.push(("fieldSelector", selector.clone()));
    }
    if let Some(token) = continue_token {
        query.push(("continue", token.to_string()));
    }
    let encoded: Vec<String> = query
        .into_iter()
        .map(|(k, v)| format!("{k}={}", percent_encode(&v)))
        .collect();
    format!(
        "{}?{}",
        resource.list_path(params.namespace.as_deref()),
        encoded.join("&")
    )
}

/// Encodes a query value (RFC 3986 unreserved characters pass through).
pub fn percent_encode(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for byte in value.bytes() {
        match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(byte as char)
            }
            _ => out.push_str(&format!("%{byte:02X}")),
        }
    }
    out
}

enum FetchError {
    Expired,
    List(ListError),
}

/// GETs one page with the shared retry policy. `Ok(None)` means the
/// server does not serve this resource.
async fn fetch_page(
    client: &kube::Client,
    resource: &ResourceRef,
    url: &str,
) -> Result<Option<bytes::Bytes>, FetchError> {
    let plural = || resource.plural.clone();
    let response = fetch::get_with_retries(client, url, "application/json")
        .await
        .map_err(|message| {
            FetchError::List(ListError::Transport {
                verb: "list",
                resource: plural(),
                message,
            })
        })?;
    if response.status.is_success() {
        return Ok(Some(response.body));
    }
    let message = fetch::status_message(&response.body);
    let error = match response.status {
        StatusCode::NOT_FOUND => return Ok(None),
        StatusCode::GONE => return Err(FetchError::Expired),
        StatusCode::FORBIDDEN => ListError::Forbidden {
            verb: "list",
            resource: plural(),
            message,
        },
        StatusCode::UNAUTHORIZED => ListError::Unauthorized {
            verb: "list",
            resource: plural(),
            message,
        },
        status => ListError::Status {
            verb: "list",
            resource: plural(),
            code: status.as_u16(),
            message,
        },
    };
    Err(FetchError::List(error))
}

/// An error and its sources joined with ": ", skipping repeats, so the
/// root cause ("Connection refused") reaches the user.
pub fn error_chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut current: Option<&(dyn std::error::Error + 'static)> = Some(error);
    while let Some(e) = current {
        let text = e.to_string();
        if !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
        current = e.source();
    }
    parts.join(": ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn list_urls_carry_selectors_and_tokens() {
        let pods = ResourceRef::new("", "v1", "Pod", "pods", true);
        let params = ListParams {
            namespace: Some("team-a".into()),
            label_selector: Some("app in (web,api)".into()),
            field_selector: Some("status.phase=Running".into()),
            page_size: 500,
            max_objects: Some(10),
        };
        assert_eq!(
            list_url(&pods, &params, Some("abc=")),
            "/api/v1/namespaces/team-a/pods?limit=10&labelSelector=app%20in%20%28web%2Capi%29&fieldSelector=status.phase%3DRunning&continue=abc%3D"
        );
    }

    #[test]
    fn empty_lists_parse_with_null_or_absent_items() {
        for body in [
            r#"{"kind":"PodList","metadata":{},"items":null}"#,
            r#"{"kind":"PodList","metadata":{}}"#,
        ] {
            assert!(ListPage::parse(body.as_bytes()).unwrap().items.is_empty());
        }
    }
}
