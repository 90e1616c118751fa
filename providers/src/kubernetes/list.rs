//! Paginated list requests against one cluster.
//!
//! The API server is shared infrastructure, so a list is polite: it pages
//! with `limit`/`continue`, goes through the shared retry policy
//! ([`super::http`]), and on a stale continue token (410) restarts in one
//! unpaged request while skipping objects already emitted, so no row is
//! lost or doubled.
//!
//! Pushdown is an optimisation, never a requirement: a server that answers
//! 400 to a selector (a release without that field selector, an aggregated
//! API without selector support) is asked again without it, and the
//! [`Lister`] applies the selector itself with the server's semantics. The
//! rejection is remembered per (cluster, resource) in [`SelectorSupport`],
//! so it costs one extra request per session.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};

use ::http::StatusCode;
use serde::Deserialize;
use sonic_rs::{JsonValueTrait as _, Value};

use super::config::ClusterConn;
use super::error::RequestError;
use super::http::{self, percent_encode};
use super::resource::ResourceRef;
use super::selector::{FieldSelector, LabelSelector};

/// What to list and how.
#[derive(Clone, Debug, Default)]
pub struct ListParams {
    pub namespace: Option<String>,
    pub labels: LabelSelector,
    pub fields: FieldSelector,
    /// Objects per page; 0 asks for everything in one response.
    pub page_size: u32,
    /// Stop after this many objects (only when every object is a result row).
    pub max_objects: Option<usize>,
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
    /// The server's estimate of objects after this page (paged lists only).
    #[serde(rename = "remainingItemCount", default)]
    remaining_item_count: Option<u64>,
}

/// (cluster, group, plural)
type ResourceKey = (String, String, String);

/// Which selectors each (cluster, resource) rejected in this session.
#[derive(Clone, Default)]
pub struct SelectorSupport {
    rejected: Arc<Mutex<HashMap<ResourceKey, Rejected>>>,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Rejected {
    fields: bool,
    labels: bool,
}

impl std::fmt::Debug for SelectorSupport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SelectorSupport")
    }
}

impl SelectorSupport {
    fn key(cluster: &str, resource: &ResourceRef) -> ResourceKey {
        (
            cluster.to_string(),
            resource.group.clone(),
            resource.plural.clone(),
        )
    }

    fn get(&self, cluster: &str, resource: &ResourceRef) -> Rejected {
        self.lock()
            .get(&Self::key(cluster, resource))
            .copied()
            .unwrap_or_default()
    }

    fn set(&self, cluster: &str, resource: &ResourceRef, rejected: Rejected) {
        self.lock().insert(Self::key(cluster, resource), rejected);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<ResourceKey, Rejected>> {
        // Entries are single inserts: a panic elsewhere cannot leave one half-written.
        self.rejected
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

const MAX_RESTARTS: u64 = 5;

/// A list in progress: call [`Lister::next_page`] until it returns `None`.
/// A resource the server does not serve (404) is simply empty.
pub struct Lister {
    cluster: ClusterConn,
    resource: ResourceRef,
    params: ListParams,
    support: SelectorSupport,
    /// Selectors still sent to the server (false once it rejected them).
    send_labels: bool,
    send_fields: bool,
    /// What kq had to evaluate itself, said once per session.
    notes: Vec<String>,
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
    /// What this list last added to its cluster's remaining estimate.
    remaining: u64,
}

impl Drop for Lister {
    fn drop(&mut self) {
        self.cluster.progress.list_ended(self.remaining);
    }
}

enum PageError {
    /// 410: the continue token's snapshot is gone.
    Expired,
    /// 400: the server rejected the request (a selector, usually).
    Rejected(RequestError),
    Failed(RequestError),
}

impl Lister {
    pub fn new(
        cluster: ClusterConn,
        resource: ResourceRef,
        params: ListParams,
        support: SelectorSupport,
    ) -> Self {
        let rejected = support.get(&cluster.name, &resource);
        cluster.progress.list_started();
        Self {
            send_labels: !rejected.labels,
            send_fields: !rejected.fields,
            cluster,
            resource,
            params,
            support,
            notes: Vec::new(),
            seen: HashSet::new(),
            continue_token: None,
            done: false,
            objects: 0,
            restarts: 0,
            unpaged: false,
            dedup: true,
            resource_version: None,
            remaining: 0,
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

    /// Selectors this list found the server does not support (first
    /// discovery in this session only), as sentences.
    pub fn take_notes(&mut self) -> Vec<String> {
        std::mem::take(&mut self.notes)
    }

    /// Whether kq filters this list's objects itself.
    fn filters_locally(&self) -> bool {
        (!self.send_labels && !self.params.labels.is_empty())
            || (!self.send_fields && !self.params.fields.is_empty())
    }

    fn operation(&self) -> String {
        match &self.params.namespace {
            Some(namespace) if self.resource.namespaced => {
                format!("list {} in namespace {namespace}", self.resource.plural)
            }
            _ => format!("list {}", self.resource.plural),
        }
    }

    /// The next page's new objects; `None` when the list is complete.
    pub async fn next_page(&mut self) -> Result<Option<Vec<Value>>, RequestError> {
        loop {
            if self.done {
                return Ok(None);
            }
            let url = self.url();
            let body = match self.fetch(&url).await {
                Ok(Some(body)) => body,
                Ok(None) => {
                    self.done = true;
                    return Ok(None);
                }
                Err(PageError::Expired) if self.continue_token.is_some() => {
                    // The snapshot behind our continue token is gone. Start
                    // over; `seen` drops what was already emitted, so the
                    // result stays a set with no duplicate uid.
                    self.restarts += 1;
                    if self.restarts > MAX_RESTARTS {
                        return Err(self.status_error(
                            410,
                            "the continue token expired repeatedly; giving up",
                        ));
                    }
                    self.continue_token = None;
                    self.unpaged = true;
                    continue;
                }
                Err(PageError::Expired) => {
                    return Err(self.status_error(410, "the resource version expired"));
                }
                Err(PageError::Rejected(error))
                    if self.continue_token.is_none() && self.drop_a_selector(&error) =>
                {
                    continue;
                }
                Err(PageError::Rejected(error) | PageError::Failed(error)) => return Err(error),
            };
            let page = ListPage::parse(&body).map_err(|e| RequestError::Decode {
                server: self.cluster.server().to_string(),
                operation: self.operation(),
                message: e.to_string(),
            })?;
            let mut items = page.items;
            let remaining = page.metadata.remaining_item_count.unwrap_or(0);
            self.cluster
                .progress
                .page(items.len(), self.remaining, remaining);
            self.remaining = remaining;
            if let Some(version) = page.metadata.resource_version.filter(|v| !v.is_empty()) {
                self.resource_version = Some(version);
            }
            if self.filters_locally() {
                let labels = (!self.send_labels).then_some(&self.params.labels);
                let fields = (!self.send_fields).then_some(&self.params.fields);
                items.retain(|item| {
                    labels.is_none_or(|l| l.matches(item)) && fields.is_none_or(|f| f.matches(item))
                });
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
            if let Some(max) = self.params.max_objects {
                items.truncate(max.saturating_sub(self.objects));
            }
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

    /// After a 400: stops sending one selector (fields first: they are what
    /// releases differ in) and remembers it; false when none is left.
    fn drop_a_selector(&mut self, error: &RequestError) -> bool {
        let mut rejected = self.support.get(&self.cluster.name, &self.resource);
        let message = error.server_message().unwrap_or("HTTP 400");
        let dropped = if self.send_fields && !self.params.fields.is_empty() {
            self.send_fields = false;
            rejected.fields = true;
            format!("fieldSelector {}", self.params.fields)
        } else if self.send_labels && !self.params.labels.is_empty() {
            self.send_labels = false;
            rejected.labels = true;
            format!("labelSelector {}", self.params.labels)
        } else {
            return false;
        };
        self.support
            .set(&self.cluster.name, &self.resource, rejected);
        self.notes.push(format!(
            "the server does not support the {dropped} on {} ({message}); kq filtered the rows itself, with the same result",
            self.resource.plural
        ));
        true
    }

    fn status_error(&self, code: u16, message: &str) -> RequestError {
        RequestError::Status {
            server: self.cluster.server().to_string(),
            operation: self.operation(),
            code,
            message: message.to_string(),
            attempts: 1,
        }
    }

    fn url(&self) -> String {
        let mut query: Vec<(&str, String)> = Vec::new();
        // page_size 0 asks for the whole list at once; `max_objects` caps a
        // page only while the server applies every filter.
        let page = if self.unpaged {
            0
        } else {
            self.params.page_size as usize
        };
        let cap = self.params.max_objects.filter(|_| !self.filters_locally());
        let limit = match (page, cap) {
            (0, None) => None,
            (0, Some(max)) => Some(max.max(1)),
            (size, None) => Some(size),
            (size, Some(max)) => Some(size.min(max.max(1))),
        };
        if let Some(limit) = limit {
            query.push(("limit", limit.to_string()));
        }
        if self.send_labels && !self.params.labels.is_empty() {
            query.push(("labelSelector", self.params.labels.to_string()));
        }
        if self.send_fields && !self.params.fields.is_empty() {
            query.push(("fieldSelector", self.params.fields.to_string()));
        }
        if let Some(token) = &self.continue_token {
            query.push(("continue", token.clone()));
        }
        let encoded: Vec<String> = query
            .into_iter()
            .map(|(k, v)| format!("{k}={}", percent_encode(&v)))
            .collect();
        format!(
            "{}?{}",
            self.resource.list_path(self.params.namespace.as_deref()),
            encoded.join("&")
        )
    }

    /// GETs one page. `Ok(None)` means the server does not serve this resource.
    async fn fetch(&self, url: &str) -> Result<Option<bytes::Bytes>, PageError> {
        let response = http::get(&self.cluster, url, "application/json")
            .await
            .map_err(PageError::Failed)?;
        match response.status {
            status if status.is_success() => Ok(Some(response.body)),
            StatusCode::NOT_FOUND => Ok(None),
            StatusCode::GONE => Err(PageError::Expired),
            StatusCode::BAD_REQUEST => Err(PageError::Rejected(
                response.error(&self.cluster, self.operation()),
            )),
            _ => Err(PageError::Failed(
                response.error(&self.cluster, self.operation()),
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kubernetes::selector::{FieldTerm, LabelTerm};

    fn lister(params: ListParams, support: &SelectorSupport) -> Lister {
        Lister::new(
            ClusterConn::for_tests("c", "https://127.0.0.1:1"),
            ResourceRef::new("", "v1", "Pod", "pods", true),
            params,
            support.clone(),
        )
    }

    fn params() -> ListParams {
        ListParams {
            namespace: Some("team-a".into()),
            labels: LabelSelector(vec![LabelTerm::In(
                "app".into(),
                vec!["web".into(), "api".into()],
            )]),
            fields: FieldSelector(vec![FieldTerm {
                field: "status.phase".into(),
                value: "Running".into(),
                negated: false,
            }]),
            page_size: 500,
            max_objects: Some(10),
        }
    }

    #[test]
    fn list_urls_carry_selectors_and_tokens() {
        let mut list = lister(params(), &SelectorSupport::default());
        list.continue_token = Some("abc=".into());
        assert_eq!(
            list.url(),
            "/api/v1/namespaces/team-a/pods?limit=10&labelSelector=app%20in%20%28web%2Capi%29&fieldSelector=status.phase%3DRunning&continue=abc%3D"
        );
    }

    #[test]
    fn a_rejected_selector_is_dropped_remembered_and_applied_locally() {
        let support = SelectorSupport::default();
        let mut list = lister(params(), &support);
        let rejection = RequestError::Status {
            server: "https://127.0.0.1:1".into(),
            operation: "list pods".into(),
            code: 400,
            message: "field label not supported: status.phase".into(),
            attempts: 1,
        };
        assert!(list.drop_a_selector(&rejection));
        // Filtering locally, a page is no longer capped by the LIMIT.
        assert_eq!(
            list.url(),
            "/api/v1/namespaces/team-a/pods?limit=500&labelSelector=app%20in%20%28web%2Capi%29"
        );
        let notes = list.take_notes();
        assert_eq!(notes.len(), 1);
        assert!(
            notes[0].contains("fieldSelector status.phase=Running"),
            "{notes:?}"
        );
        // The next list of the session does not send it at all.
        let next = lister(params(), &support);
        assert!(!next.url().contains("fieldSelector"), "{}", next.url());
        // Then the label selector, then nothing is left to drop.
        assert!(list.drop_a_selector(&rejection));
        assert!(!list.url().contains("labelSelector"));
        assert!(!list.drop_a_selector(&rejection));
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
