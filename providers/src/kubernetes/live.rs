//! The live cache: Kubernetes resources kept current in memory by watches.
//!
//! The first query that reads a table lists each of its resources once per
//! cluster; from then on one watch per (cluster, resource) applies every
//! change, so later queries read memory and never wait on the network. It
//! is the reflector pattern of client-go and kube-runtime, written over the
//! same `kube::Client` but on kq's own list path (sonic-rs parsing, the
//! shared retry policy, the 403 namespace fallback): the list that fills
//! the cache is the one a one-shot query would send, and a watch resumes
//! from its resourceVersion.
//!
//! Objects are stored as compact JSON (managedFields stripped) in slots
//! grouped into segments. A segment caches the Arrow columns each table
//! has asked for; a change clears only its own segment, so after one pod
//! changes a query re-decodes a few hundred objects, not the fleet.
//!
//! A watch that ends is resumed from the last resourceVersion; a 410 Gone
//! relists and applies only the differences, so unchanged objects stay
//! untouched. A cluster that becomes unreachable keeps its last known rows,
//! reported as stale on every query that reads them, until it answers again.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use arrow::array::ArrayRef;
use arrow::record_batch::{RecordBatch, RecordBatchOptions};
use bytes::BytesMut;
use chrono::{DateTime, Utc};
use http::{Request, StatusCode};
use sonic_rs::{JsonValueMutTrait as _, JsonValueTrait as _, Value};
use tokio::sync::{Semaphore, watch};

use super::access::AccessCache;
use super::config::ClusterConn;
use super::fetch;
use super::list::{ListError, ListParams, Lister, error_chain, percent_encode};
use super::resource::ResourceRef;
use super::scan::{AbortOnDrop, fallback_candidates, fallback_outcome};
use super::tables::{DecodeError, TableDef};
use crate::failures::Severity;

/// Objects per segment: the unit of re-decoding after a change.
const SEGMENT_OBJECTS: usize = 512;
/// Watches ask the server to end them after about this long (client-go
/// uses 5 to 10 minutes); kq then resumes from the last resourceVersion.
const WATCH_TIMEOUT_SECS: u64 = 300;
/// Longest wait between attempts to reach a failing cluster.
const MAX_RETRY_WAIT: Duration = Duration::from_secs(5);
/// Wait before asking again after a 401/403: permissions and credentials
/// change slowly, and a refused user must not be hammered.
const DENIED_RETRY_WAIT: Duration = Duration::from_secs(60);
/// A resource that cannot be watched (not served, no resourceVersion, or
/// watch refused with 403/405) is kept current by relisting this often.
const POLL_INTERVAL: Duration = Duration::from_secs(30);

/// Settings of a live cache.
#[derive(Clone)]
pub struct LiveOptions {
    pub page_size: u32,
    pub permits: Arc<Semaphore>,
    pub access: AccessCache,
}

/// The session's live cache: one [`Source`] per (cluster, resource), started
/// on first use and kept until refreshed or the session ends.
#[derive(Clone)]
pub struct LiveCache {
    inner: Arc<CacheInner>,
}

struct CacheInner {
    options: LiveOptions,
    sources: Mutex<HashMap<SourceKey, Arc<Source>>>,
    /// Bumped whenever any source changes (objects or health).
    changes: watch::Sender<u64>,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, PartialOrd, Ord)]
struct SourceKey {
    cluster: String,
    group: String,
    plural: String,
}

/// What `\cache` shows for one cached (cluster, resource).
#[derive(Clone, Debug)]
pub struct SourceStats {
    pub cluster: String,
    pub resource: String,
    /// Tables that read this resource so far.
    pub tables: Vec<String>,
    pub objects: usize,
    pub last_event: Option<DateTime<Utc>>,
    /// Stored JSON plus cached Arrow columns.
    pub memory_bytes: usize,
    /// `live`, `syncing`, or `failing: …`.
    pub state: String,
}

/// A source's answer to a query: its rows and what a user must be told.
pub struct Snapshot {
    pub batches: Vec<RecordBatch>,
    /// Failure-log entries for this read (stale rows, partial coverage).
    pub notes: Vec<(Severity, String)>,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic in one reader must not take the cache down with it.
    mutex.lock().unwrap_or_else(|p| p.into_inner())
}

impl LiveCache {
    pub fn new(options: LiveOptions) -> Self {
        let (changes, _) = watch::channel(0);
        Self {
            inner: Arc::new(CacheInner {
                options,
                sources: Mutex::new(HashMap::new()),
                changes,
            }),
        }
    }

    /// The source for a (cluster, resource), started (list, then watch) on
    /// first use. Await [`Source::ready`] before reading it.
    pub fn source(&self, cluster: &ClusterConn, resource: &ResourceRef) -> Arc<Source> {
        let key = SourceKey {
            cluster: cluster.name.clone(),
            group: resource.group.clone(),
            plural: resource.plural.clone(),
        };
        let mut sources = lock(&self.inner.sources);
        if let Some(source) = sources.get(&key) {
            return source.clone();
        }
        let (ready, _) = watch::channel(false);
        let source = Arc::new(Source {
            cluster: cluster.clone(),
            resource: resource.clone(),
            state: Mutex::new(SourceState::default()),
            ready,
            changes: self.inner.changes.clone(),
            tasks: Mutex::new(Some(Vec::new())),
        });
        let driver = tokio::spawn(drive(source.clone(), self.inner.options.clone()));
        source.adopt(vec![AbortOnDrop(driver)]);
        sources.insert(key, source.clone());
        source
    }

    /// Drops cached sources (all, or those read by `table`) so the next
    /// query lists afresh. Returns how many were dropped.
    pub fn refresh(&self, table: Option<&str>) -> usize {
        let mut sources = lock(&self.inner.sources);
        let before = sources.len();
        sources.retain(|_, source| {
            let keep = match table {
                None => false,
                Some(table) => !lock(&source.state).tables.contains(table),
            };
            if !keep {
                source.stop();
            }
            keep
        });
        before - sources.len()
    }

    /// A receiver that sees a new value after every change to any source.
    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.inner.changes.subscribe()
    }

    /// One entry per cached (cluster, resource), sorted.
    pub fn stats(&self) -> Vec<SourceStats> {
        let sources = lock(&self.inner.sources);
        let mut keys: Vec<&SourceKey> = sources.keys().collect();
        keys.sort();
        keys.into_iter().map(|key| sources[key].stats()).collect()
    }

    /// Every cached source, for status headers.
    pub fn sources(&self) -> Vec<Arc<Source>> {
        let sources = lock(&self.inner.sources);
        let mut all: Vec<(SourceKey, Arc<Source>)> = sources
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        all.sort_by(|a, b| a.0.cmp(&b.0));
        all.into_iter().map(|(_, s)| s).collect()
    }
}

impl Drop for CacheInner {
    /// The watch tasks hold their source: stop them with the cache (a REPL
    /// switching clusters must not leave the old session's watches open).
    fn drop(&mut self) {
        for source in lock(&self.sources).values() {
            source.stop();
        }
    }
}

/// One resource of one cluster, kept current.
pub struct Source {
    cluster: ClusterConn,
    resource: ResourceRef,
    state: Mutex<SourceState>,
    /// True once the first sync ended (in rows or in a failure).
    ready: watch::Sender<bool>,
    changes: watch::Sender<u64>,
    /// The driver and watch loops; `None` once stopped.
    tasks: Mutex<Option<Vec<AbortOnDrop>>>,
}

#[derive(Default)]
struct SourceState {
    store: Store,
    /// Set once a full list has been applied.
    synced: bool,
    last_event: Option<DateTime<Utc>>,
    /// Per scope (namespace, or "" for cluster-wide): why it is failing, since when.
    failing: HashMap<String, (DateTime<Utc>, String)>,
    /// Set when a forbidden cluster-wide list fell back to namespaces.
    coverage: Option<(Severity, String)>,
    tables: BTreeSet<String>,
}

impl Source {
    pub fn cluster(&self) -> &str {
        &self.cluster.name
    }

    /// Keeps tasks running for this source, or stops them at once if the
    /// source was already stopped.
    fn adopt(&self, tasks: Vec<AbortOnDrop>) {
        if let Some(running) = lock(&self.tasks).as_mut() {
            running.extend(tasks);
        }
    }

    /// Aborts the list and watch tasks; the source answers no more changes.
    fn stop(&self) {
        // Dropping the handles aborts the tasks (outside the lock).
        let tasks = lock(&self.tasks).take();
        drop(tasks);
    }

    pub fn resource(&self) -> &ResourceRef {
        &self.resource
    }

    /// Waits until the first sync has ended, in rows or in a failure.
    pub async fn ready(&self) {
        let mut ready = self.ready.subscribe();
        // The sender lives in self, so this cannot fail while we wait.
        let _ = ready.wait_for(|r| *r).await;
    }

    pub fn object_count(&self) -> usize {
        lock(&self.state).store.len()
    }

    pub fn last_event(&self) -> Option<DateTime<Utc>> {
        lock(&self.state).last_event
    }

    /// The reason this source is failing now, if it is.
    pub fn failing(&self) -> Option<String> {
        let state = lock(&self.state);
        first_failure(&state).map(|(since, message)| format!("{message} (since {since})"))
    }

    fn stats(&self) -> SourceStats {
        let state = lock(&self.state);
        let memory_bytes = state.store.memory_bytes();
        let status = match first_failure(&state) {
            Some((since, message)) => format!("failing since {since}: {message}"),
            None if state.synced => "live".to_string(),
            None => "syncing".to_string(),
        };
        SourceStats {
            cluster: self.cluster.name.clone(),
            resource: self.resource.plural.clone(),
            tables: state.tables.iter().cloned().collect(),
            objects: state.store.len(),
            last_event: state.last_event,
            memory_bytes,
            state: status,
        }
    }

    /// The table's rows from memory (projected columns only) and the notes
    /// a reader must see: stale rows of a failing cluster, partial coverage.
    pub fn snapshot(
        &self,
        def: &TableDef,
        projection: Option<&[usize]>,
    ) -> Result<Snapshot, DecodeError> {
        let mut state = lock(&self.state);
        state.tables.insert(def.name.clone());
        let mut notes = Vec::new();
        if let Some(coverage) = &state.coverage {
            notes.push(coverage.clone());
        }
        if let Some((since, message)) = first_failure(&state) {
            if state.synced {
                notes.push((
                    Severity::Warning,
                    format!(
                        "rows are as of {} (cluster unreachable since {since}: {message}); kq keeps retrying",
                        state
                            .last_event
                            .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
                            .unwrap_or_else(|| "the first list".to_string())
                    ),
                ));
            } else {
                notes.push((Severity::Error, message));
                return Ok(Snapshot {
                    batches: Vec::new(),
                    notes,
                });
            }
        }
        let batches = state
            .store
            .batches(def, &self.cluster.name, &self.resource, projection)?;
        Ok(Snapshot { batches, notes })
    }

    fn notify(&self) {
        self.changes.send_modify(|n| *n = n.wrapping_add(1));
    }

    /// Marks a scope failing; readers are notified only when that is news
    /// (every retry of a down cluster must not re-run `kq watch` queries).
    fn set_failing(&self, scope: &str, message: String) {
        let mut state = lock(&self.state);
        let (since, news) = match state.failing.get(scope) {
            Some((since, old)) => (*since, *old != message),
            None => (Utc::now(), true),
        };
        state.failing.insert(scope.to_string(), (since, message));
        drop(state);
        if news {
            self.notify();
        }
    }

    fn set_healthy(&self, scope: &str) {
        let recovered = lock(&self.state).failing.remove(scope).is_some();
        if recovered {
            self.notify();
        }
    }
}

fn first_failure(state: &SourceState) -> Option<(String, String)> {
    let mut scopes: Vec<&String> = state.failing.keys().collect();
    scopes.sort();
    let scope = scopes.first()?;
    let (since, message) = &state.failing[*scope];
    let since = since.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    Some((since, message.clone()))
}

/// Starts a source: lists it (falling back to readable namespaces on a
/// 403), marks it ready, then keeps each listed scope current.
async fn drive(source: Arc<Source>, options: LiveOptions) {
    let mut scopes: Vec<(Option<String>, Next)> = Vec::new();
    match list_scope(&source, &options, None).await {
        Ok(version) => scopes.push((None, Next::after_list(version))),
        Err(error) if error.is_forbidden() && source.resource.namespaced => {
            let (to_try, mut denied) =
                fallback_candidates(&options.access, &source.cluster, &source.resource).await;
            let mut covered = Vec::new();
            let mut failed = Vec::new();
            for namespace in to_try {
                match list_scope(&source, &options, Some(&namespace)).await {
                    Ok(version) => {
                        covered.push(namespace.clone());
                        scopes.push((Some(namespace), Next::after_list(version)));
                    }
                    Err(e) if e.is_forbidden() => denied.push(namespace),
                    Err(e) => {
                        failed.push(format!("namespace '{namespace}': {e}"));
                        // Retried by its own loop, like any failing scope.
                        scopes.push((Some(namespace), Next::List));
                    }
                }
            }
            let covered: Vec<&str> = covered.iter().map(String::as_str).collect();
            let denied: Vec<&str> = denied.iter().map(String::as_str).collect();
            let outcome =
                fallback_outcome(&error, &source.resource.plural, &covered, &denied, &failed);
            let mut state = lock(&source.state);
            if covered.is_empty() && failed.is_empty() {
                // Nothing is readable: a failure, not a coverage note.
                state.failing.insert(String::new(), (Utc::now(), outcome.1));
            } else {
                state.synced = true;
                state.coverage = Some(outcome);
            }
        }
        Err(error) => {
            source.set_failing("", error.to_string());
            scopes.push((None, Next::List));
        }
    }
    source.ready.send_replace(true);
    let loops: Vec<AbortOnDrop> = scopes
        .into_iter()
        .map(|(namespace, next)| {
            AbortOnDrop(tokio::spawn(keep_current(
                source.clone(),
                options.clone(),
                namespace,
                next,
            )))
        })
        .collect();
    source.adopt(loops);
}

/// Watches one scope for as long as the source lives: resumes after a
/// watch ends, relists after 410 Gone, polls what cannot be watched,
/// retries a failing cluster.
async fn keep_current(
    source: Arc<Source>,
    options: LiveOptions,
    namespace: Option<String>,
    mut next: Next,
) {
    let scope = namespace.clone().unwrap_or_default();
    let mut attempt: u32 = 0;
    loop {
        next = match next {
            Next::List => match list_scope(&source, &options, namespace.as_deref()).await {
                Ok(version) => {
                    source.set_healthy(&scope);
                    attempt = 0;
                    Next::after_list(version)
                }
                Err(e) => {
                    let denied = matches!(
                        e,
                        ListError::Forbidden { .. } | ListError::Unauthorized { .. }
                    );
                    source.set_failing(&scope, e.to_string());
                    attempt += 1;
                    let wait = if denied {
                        DENIED_RETRY_WAIT
                    } else {
                        retry_wait(attempt)
                    };
                    tokio::time::sleep(wait).await;
                    Next::List
                }
            },
            Next::Poll => {
                tokio::time::sleep(POLL_INTERVAL).await;
                Next::List
            }
            Next::Watch(mut version) => {
                match watch_scope(&source, namespace.as_deref(), &mut version).await {
                    Ok(WatchEnd::Closed) => {
                        attempt = 0;
                        Next::Watch(version)
                    }
                    // History is compacted past our version: relist (only
                    // the differences are applied) and watch from the new one.
                    Ok(WatchEnd::Gone) => Next::List,
                    // Listable but not watchable (RBAC without `watch`, or
                    // a server without watch support): poll by relisting.
                    Ok(WatchEnd::Refused) => Next::Poll,
                    Err(message) => {
                        source.set_failing(&scope, message);
                        attempt += 1;
                        tokio::time::sleep(retry_wait(attempt)).await;
                        Next::Watch(version)
                    }
                }
            }
        };
    }
}

/// What a scope's loop does next.
enum Next {
    /// List the scope (first sync failed, 410 Gone, or time to poll).
    List,
    /// Watch from this resourceVersion.
    Watch(String),
    /// The scope cannot be watched: relist after [`POLL_INTERVAL`].
    Poll,
}

impl Next {
    /// After a list: watch from its resourceVersion, or poll without one.
    fn after_list(version: Option<String>) -> Next {
        version.map_or(Next::Poll, Next::Watch)
    }
}

fn retry_wait(attempt: u32) -> Duration {
    fetch::backoff(attempt).min(MAX_RETRY_WAIT)
}

/// Lists one scope completely and applies it as the new truth for that
/// scope: changed objects are replaced, vanished ones removed, unchanged
/// ones left alone. Returns the list's resourceVersion, if it has one.
async fn list_scope(
    source: &Source,
    options: &LiveOptions,
    namespace: Option<&str>,
) -> Result<Option<String>, ListError> {
    let params = ListParams {
        namespace: namespace.map(str::to_string),
        page_size: options.page_size,
        ..ListParams::default()
    };
    let mut lister = Lister::new(
        source.cluster.client.clone(),
        source.resource.clone(),
        params,
    )
    .for_snapshot();
    let mut entries: Vec<Entry> = Vec::new();
    let mut restarts = 0;
    loop {
        let page = {
            let _permit = options.permits.acquire().await;
            lister.next_page().await?
        };
        if lister.restarts() != restarts {
            // A restarted list re-sends everything at a newer version.
            restarts = lister.restarts();
            entries.clear();
        }
        let Some(items) = page else { break };
        entries.extend(items.into_iter().filter_map(Entry::from_value));
    }
    // No resourceVersion: the resource is not served here (404, an empty
    // table, as in one-shot queries) or its server cannot be watched.
    let version = lister.resource_version().map(str::to_string);
    let mut state = lock(&source.state);
    let changed = state.store.replace_scope(namespace, entries);
    state.synced = true;
    if changed || state.last_event.is_none() {
        state.last_event = Some(Utc::now());
    }
    drop(state);
    if changed {
        source.notify();
    }
    Ok(version)
}

enum WatchEnd {
    /// The server ended the watch (timeout) or the connection dropped: resume.
    Closed,
    /// 410 Gone: the version is too old; relist.
    Gone,
    /// 403 or 405: this resource cannot be watched by us; poll instead.
    Refused,
}

/// One watch request, applying events until it ends; `version` follows
/// every event and bookmark so the caller resumes where it stopped.
async fn watch_scope(
    source: &Source,
    namespace: Option<&str>,
    version: &mut String,
) -> Result<WatchEnd, String> {
    use http_body_util::BodyExt;
    let url = format!(
        "{}?watch=1&allowWatchBookmarks=true&resourceVersion={}&timeoutSeconds={WATCH_TIMEOUT_SECS}",
        source.resource.list_path(namespace),
        percent_encode(version)
    );
    let request = Request::get(&url)
        .header(http::header::ACCEPT, "application/json")
        .body(kube::client::Body::empty())
        .map_err(|e| e.to_string())?;
    let plural = &source.resource.plural;
    let response = source
        .cluster
        .watch_client
        .send(request)
        .await
        .map_err(|e| format!("watch {plural} failed: {}", error_chain(&e)))?;
    let status = response.status();
    match status {
        StatusCode::GONE => return Ok(WatchEnd::Gone),
        StatusCode::FORBIDDEN | StatusCode::METHOD_NOT_ALLOWED => return Ok(WatchEnd::Refused),
        _ => {}
    }
    let mut body = response.into_body();
    if status.is_success() {
        // The cluster answers: a failing scope is live again.
        source.set_healthy(namespace.unwrap_or_default());
    } else {
        let bytes = body
            .collect()
            .await
            .map(|c| c.to_bytes())
            .unwrap_or_default();
        return Err(format!(
            "watch {plural} failed with HTTP {}: {}",
            status.as_u16(),
            fetch::status_message(&bytes)
        ));
    }
    let mut buffer = BytesMut::new();
    loop {
        let frame = match body.frame().await {
            None => return Ok(WatchEnd::Closed),
            // A dropped connection is resumed like a timeout; if the
            // cluster is really gone, the next request says so.
            Some(Err(_)) => return Ok(WatchEnd::Closed),
            Some(Ok(frame)) => frame,
        };
        let Ok(data) = frame.into_data() else {
            continue;
        };
        buffer.extend_from_slice(&data);
        let mut events = Vec::new();
        while let Some(end) = buffer.iter().position(|&b| b == b'\n') {
            let line = buffer.split_to(end + 1);
            let line = &line[..end];
            if line.iter().all(u8::is_ascii_whitespace) {
                continue;
            }
            events.push(parse_event(line).map_err(|e| format!("watch {plural}: {e}"))?);
        }
        if events.is_empty() {
            continue;
        }
        if let Some(end) = apply_events(source, events, version) {
            return end;
        }
    }
}

enum Event {
    Upsert(Entry),
    Delete(Entry),
    Bookmark(String),
    Error { code: u64, message: String },
}

fn parse_event(line: &[u8]) -> Result<Event, String> {
    let mut value: Value = sonic_rs::from_slice(line).map_err(|e| format!("bad event: {e}"))?;
    let kind = value
        .get("type")
        .and_then(|t| t.as_str())
        .unwrap_or_default()
        .to_string();
    let object = value
        .as_object_mut()
        .and_then(|o| o.remove(&"object"))
        .unwrap_or_default();
    let entry = |object| Entry::from_value(object).ok_or("event object without metadata.uid");
    Ok(match kind.as_str() {
        "ADDED" | "MODIFIED" => Event::Upsert(entry(object)?),
        "DELETED" => Event::Delete(entry(object)?),
        "BOOKMARK" => Event::Bookmark(
            object
                .get("metadata")
                .and_then(|m| m.get("resourceVersion"))
                .and_then(|v| v.as_str())
                .unwrap_or_default()
                .to_string(),
        ),
        "ERROR" => Event::Error {
            code: object.get("code").and_then(|c| c.as_u64()).unwrap_or(0),
            message: fetch::status_message(&sonic_rs::to_vec(&object).unwrap_or_default()),
        },
        other => return Err(format!("unknown event type '{other}'")),
    })
}

/// Applies a batch of events under one lock; `Some` ends the watch.
fn apply_events(
    source: &Source,
    events: Vec<Event>,
    version: &mut String,
) -> Option<Result<WatchEnd, String>> {
    let mut changed = false;
    let mut end = None;
    {
        let mut state = lock(&source.state);
        for event in events {
            match event {
                Event::Upsert(entry) => {
                    version.replace_range(.., &entry.resource_version);
                    changed |= state.store.upsert(entry);
                }
                Event::Delete(entry) => {
                    version.replace_range(.., &entry.resource_version);
                    changed |= state.store.remove(&entry.uid);
                }
                Event::Bookmark(v) => {
                    if !v.is_empty() {
                        *version = v;
                    }
                }
                Event::Error { code: 410, .. } => {
                    end = Some(Ok(WatchEnd::Gone));
                    break;
                }
                Event::Error { code, message } => {
                    end = Some(Err(format!(
                        "watch {} failed with HTTP {code}: {message}",
                        source.resource.plural
                    )));
                    break;
                }
            }
        }
        if changed {
            state.last_event = Some(Utc::now());
        }
    }
    if changed {
        source.notify();
    }
    end
}

/// One stored object: identity, version and its JSON without managedFields.
struct Entry {
    uid: Box<str>,
    resource_version: Box<str>,
    namespace: Box<str>,
    json: Box<[u8]>,
}

impl Entry {
    fn from_value(mut object: Value) -> Option<Entry> {
        let metadata = object.get_mut("metadata")?;
        // managedFields is bookkeeping for server-side apply: often the
        // largest part of an object and never a column.
        if let Some(meta) = metadata.as_object_mut() {
            meta.remove(&"managedFields");
        }
        let text = |key: &str| -> Box<str> {
            metadata
                .get(key)
                .and_then(|v| v.as_str())
                .unwrap_or_default()
                .into()
        };
        let uid = text("uid");
        if uid.is_empty() {
            return None;
        }
        let resource_version = text("resourceVersion");
        let namespace = text("namespace");
        let json = sonic_rs::to_vec(&object).ok()?.into_boxed_slice();
        Some(Entry {
            uid,
            resource_version,
            namespace,
            json,
        })
    }
}

/// Objects in slots; slots in segments that cache decoded columns.
#[derive(Default)]
struct Store {
    slots: Vec<Option<Entry>>,
    free: Vec<usize>,
    index: HashMap<Box<str>, usize>,
    segments: Vec<Segment>,
    json_bytes: usize,
}

#[derive(Default)]
struct Segment {
    /// Decoded columns per table; cleared when any object of the segment changes.
    tables: HashMap<String, SegmentColumns>,
}

struct SegmentColumns {
    rows: Option<usize>,
    columns: Vec<Option<ArrayRef>>,
}

impl Store {
    fn len(&self) -> usize {
        self.index.len()
    }

    fn memory_bytes(&self) -> usize {
        let columns: usize = self
            .segments
            .iter()
            .flat_map(|s| s.tables.values())
            .flat_map(|t| t.columns.iter().flatten())
            .map(|a| a.get_array_memory_size())
            .sum();
        self.json_bytes + columns + self.slots.len() * std::mem::size_of::<Option<Entry>>()
    }

    fn touch(&mut self, slot: usize) {
        if let Some(segment) = self.segments.get_mut(slot / SEGMENT_OBJECTS) {
            segment.tables.clear();
        }
    }

    /// Inserts or replaces; false when the same version is already stored.
    fn upsert(&mut self, entry: Entry) -> bool {
        if let Some(&slot) = self.index.get(&entry.uid) {
            if let Some(old) = &self.slots[slot] {
                // A resourceVersion names one state of an object; the bytes
                // may differ (watch events carry kind/apiVersion, list
                // items do not, and key order is not stable).
                let same = if entry.resource_version.is_empty() {
                    old.json == entry.json
                } else {
                    old.resource_version == entry.resource_version
                };
                if same {
                    return false;
                }
                self.json_bytes -= old.json.len();
            }
            self.json_bytes += entry.json.len();
            self.slots[slot] = Some(entry);
            self.touch(slot);
            return true;
        }
        let slot = match self.free.pop() {
            Some(slot) => slot,
            None => {
                self.slots.push(None);
                let slot = self.slots.len() - 1;
                if slot / SEGMENT_OBJECTS >= self.segments.len() {
                    self.segments.push(Segment::default());
                }
                slot
            }
        };
        self.json_bytes += entry.json.len();
        self.index.insert(entry.uid.clone(), slot);
        self.slots[slot] = Some(entry);
        self.touch(slot);
        true
    }

    fn remove(&mut self, uid: &str) -> bool {
        let Some(slot) = self.index.remove(uid) else {
            return false;
        };
        if let Some(old) = self.slots[slot].take() {
            self.json_bytes -= old.json.len();
        }
        self.free.push(slot);
        self.touch(slot);
        true
    }

    /// Makes `entries` the contents of one scope (a namespace, or all);
    /// true when anything changed.
    fn replace_scope(&mut self, namespace: Option<&str>, entries: Vec<Entry>) -> bool {
        let listed: HashSet<Box<str>> = entries.iter().map(|e| e.uid.clone()).collect();
        let vanished: Vec<Box<str>> = self
            .slots
            .iter()
            .flatten()
            .filter(|e| namespace.is_none_or(|n| *e.namespace == *n))
            .filter(|e| !listed.contains(&e.uid))
            .map(|e| e.uid.clone())
            .collect();
        let mut changed = false;
        for uid in vanished {
            changed |= self.remove(&uid);
        }
        for entry in entries {
            changed |= self.upsert(entry);
        }
        changed
    }

    /// The table's rows, one batch per non-empty segment, decoding only
    /// the projected columns a segment does not have yet.
    fn batches(
        &mut self,
        def: &TableDef,
        cluster: &str,
        resource: &ResourceRef,
        projection: Option<&[usize]>,
    ) -> Result<Vec<RecordBatch>, DecodeError> {
        let schema = def.schema();
        let all: Vec<usize>;
        let projection = match projection {
            Some(p) => p,
            None => {
                all = (0..schema.fields().len()).collect();
                &all
            }
        };
        let projected =
            Arc::new(
                schema
                    .project(projection)
                    .map_err(|source| DecodeError::Arrow {
                        table: def.name.clone(),
                        source,
                    })?,
            );
        let mut batches = Vec::new();
        for (index, segment) in self.segments.iter_mut().enumerate() {
            let start = index * SEGMENT_OBJECTS;
            let end = (start + SEGMENT_OBJECTS).min(self.slots.len());
            let objects = &self.slots[start..end];
            if objects.iter().all(Option::is_none) {
                continue;
            }
            let cached = segment
                .tables
                .entry(def.name.clone())
                .or_insert_with(|| SegmentColumns {
                    rows: None,
                    columns: vec![None; schema.fields().len()],
                });
            let missing: Vec<usize> = projection
                .iter()
                .copied()
                .filter(|&c| cached.columns.get(c).is_some_and(Option::is_none))
                .collect();
            if !missing.is_empty() || cached.rows.is_none() {
                let items: Vec<Value> = objects
                    .iter()
                    .flatten()
                    .filter_map(|e| sonic_rs::from_slice(&e.json).ok())
                    .collect();
                let batch = def.decode(cluster, resource, &items, Some(&missing))?;
                cached.rows = Some(batch.num_rows());
                for (position, &column) in missing.iter().enumerate() {
                    cached.columns[column] = Some(batch.column(position).clone());
                }
            }
            let rows = cached.rows.unwrap_or(0);
            if rows == 0 {
                continue;
            }
            let arrays: Vec<ArrayRef> = projection
                .iter()
                .filter_map(|&c| cached.columns.get(c).cloned().flatten())
                .collect();
            let batch = RecordBatch::try_new_with_options(
                projected.clone(),
                arrays,
                &RecordBatchOptions::new().with_row_count(Some(rows)),
            )
            .map_err(|source| DecodeError::Arrow {
                table: def.name.clone(),
                source,
            })?;
            batches.push(batch);
        }
        Ok(batches)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(uid: &str, namespace: &str, version: &str) -> Entry {
        Entry::from_value(
            sonic_rs::from_str(&format!(
                r#"{{"metadata":{{"uid":"{uid}","namespace":"{namespace}","name":"{uid}","resourceVersion":"{version}","managedFields":[{{"manager":"kubectl"}}]}}}}"#
            ))
            .unwrap(),
        )
        .unwrap()
    }

    #[test]
    fn entries_drop_managed_fields() {
        let e = entry("u1", "a", "1");
        let text = std::str::from_utf8(&e.json).unwrap();
        assert!(!text.contains("managedFields"), "{text}");
        assert_eq!(&*e.namespace, "a");
    }

    #[test]
    fn relisting_a_scope_changes_only_what_differs() {
        let mut store = Store::default();
        assert!(store.replace_scope(None, vec![entry("u1", "a", "1"), entry("u2", "b", "1")]));
        assert!(!store.replace_scope(None, vec![entry("u1", "a", "1"), entry("u2", "b", "1")]));
        // A namespace relist never removes another namespace's objects.
        assert!(store.replace_scope(Some("a"), vec![entry("u3", "a", "2")]));
        let mut uids: Vec<&str> = store.index.keys().map(|k| &**k).collect();
        uids.sort_unstable();
        assert_eq!(uids, ["u2", "u3"]);
        assert!(store.remove("u2"));
        assert!(!store.remove("u2"));
        assert_eq!(store.len(), 1);
        // The freed slot is reused.
        assert!(store.upsert(entry("u4", "b", "3")));
        assert_eq!(store.slots.len(), 2);
    }

    fn pod(uid: &str, version: &str, images: &[&str]) -> Entry {
        let containers: Vec<String> = images
            .iter()
            .enumerate()
            .map(|(i, image)| format!(r#"{{"name":"c{i}","image":"{image}"}}"#))
            .collect();
        Entry::from_value(
            sonic_rs::from_str(&format!(
                r#"{{"metadata":{{"uid":"{uid}","namespace":"ns","name":"{uid}","resourceVersion":"{version}"}},"spec":{{"containers":[{}]}}}}"#,
                containers.join(",")
            ))
            .unwrap(),
        )
        .unwrap()
    }

    fn images(store: &mut Store, def: &TableDef) -> Vec<String> {
        let column = def.schema().index_of("image").unwrap();
        let pods = super::super::resource::builtin::pods();
        let mut out: Vec<String> = store
            .batches(def, "c", &pods, Some(&[column]))
            .unwrap()
            .iter()
            .flat_map(|b| {
                let array = b
                    .column(0)
                    .as_any()
                    .downcast_ref::<arrow::array::StringArray>()
                    .unwrap();
                (0..arrow::array::Array::len(array))
                    .map(|i| array.value(i).to_string())
                    .collect::<Vec<_>>()
            })
            .collect();
        out.sort();
        out
    }

    #[test]
    fn cached_columns_follow_changes_in_child_tables() {
        let defs = super::super::tables::builtin_tables(Default::default());
        let containers = defs.iter().find(|d| d.name == "containers").unwrap();
        let mut store = Store::default();
        store.upsert(pod("p1", "1", &["nginx", "redis"]));
        store.upsert(pod("p2", "1", &["mysql"]));
        assert_eq!(images(&mut store, containers), ["mysql", "nginx", "redis"]);
        // Cached now; a change to p1 must not serve its old containers.
        store.upsert(pod("p1", "2", &["nginx:2"]));
        assert_eq!(images(&mut store, containers), ["mysql", "nginx:2"]);
        store.remove("p2");
        assert_eq!(images(&mut store, containers), ["nginx:2"]);
        // An empty projection (count(*)) still counts rows per table.
        let pods = super::super::resource::builtin::pods();
        let rows: usize = store
            .batches(containers, "c", &pods, Some(&[]))
            .unwrap()
            .iter()
            .map(RecordBatch::num_rows)
            .sum();
        assert_eq!(rows, 1);
    }
}
