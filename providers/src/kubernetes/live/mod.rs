//! The live cache: Kubernetes resources kept current in memory by watches.
//!
//! The first query that reads a table lists each of its resources once per
//! cluster; from then on one watch per (cluster, resource) applies every
//! change, so later queries read memory and never wait on the network. It
//! is the reflector pattern of client-go and kube-runtime, in three parts
//! that depend one way:
//! - this module, the registry: one [`Source`] per (cluster, resource),
//!   its health, and the rows it answers queries with;
//! - [`reflector`]: the list-then-watch loop that keeps a source current,
//!   on kq's own list path (sonic-rs parsing, the shared retry policy, the
//!   403 namespace fallback), so the list that fills the cache is the one a
//!   one-shot query would send;
//! - [`store`]: the objects and their cached Arrow columns.
//!
//! A cluster that becomes unreachable keeps its last known rows, reported
//! as stale on every query that reads them, until it answers again.

mod reflector;
mod store;

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex, MutexGuard};

use arrow::record_batch::RecordBatch;
use chrono::{DateTime, Utc};
use tokio::sync::{Semaphore, watch};

use super::access::AccessCache;
use super::config::ClusterConn;
use super::list::SelectorSupport;
use super::resource::ResourceRef;
use super::tables::{DecodeError, TableDef};
use super::task::AbortOnDrop;
use crate::failures::{FailureKind, Severity};
use store::Store;

/// Settings of a live cache.
#[derive(Clone)]
pub struct LiveOptions {
    pub page_size: u32,
    pub permits: Arc<Semaphore>,
    pub access: AccessCache,
    pub selectors: SelectorSupport,
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
    /// The resourceVersion the rows reflect (the latest list or event).
    pub resource_version: Option<String>,
    /// Failure-log entries for this read (stale rows, partial coverage).
    pub notes: Vec<(Severity, FailureKind, String)>,
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
        let driver = tokio::spawn(reflector::drive(source.clone(), self.inner.options.clone()));
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
    /// Per scope (namespace, or "" for cluster-wide): since when it is
    /// failing, and why.
    failing: HashMap<String, (DateTime<Utc>, FailureKind, String)>,
    /// Set when a forbidden cluster-wide list fell back to namespaces.
    coverage: Option<(Severity, FailureKind, String)>,
    tables: BTreeSet<String>,
    /// The newest resourceVersion seen, from a list or an event.
    resource_version: Option<String>,
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
        first_failure(&state).map(|(since, _, message)| format!("{message} (since {since})"))
    }

    fn stats(&self) -> SourceStats {
        let state = lock(&self.state);
        let memory_bytes = state.store.memory_bytes();
        let status = match first_failure(&state) {
            Some((since, _, message)) => format!("failing since {since}: {message}"),
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
        if let Some((since, kind, message)) = first_failure(&state) {
            if state.synced {
                notes.push((
                    Severity::Warning,
                    kind,
                    format!(
                        "rows are as of {} (cluster unreachable since {since}: {message}); kq keeps retrying",
                        state
                            .last_event
                            .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
                            .unwrap_or_else(|| "the first list".to_string())
                    ),
                ));
            } else {
                notes.push((Severity::Error, kind, message));
                return Ok(Snapshot {
                    batches: Vec::new(),
                    resource_version: None,
                    notes,
                });
            }
        }
        let batches = state
            .store
            .batches(def, &self.cluster.name, &self.resource, projection)?;
        Ok(Snapshot {
            batches,
            resource_version: state.resource_version.clone(),
            notes,
        })
    }

    fn notify(&self) {
        self.changes.send_modify(|n| *n = n.wrapping_add(1));
    }

    /// Marks a scope failing; readers are notified only when that is news
    /// (every retry of a down cluster must not re-run `kq watch` queries).
    fn set_failing(&self, scope: &str, kind: FailureKind, message: String) {
        let mut state = lock(&self.state);
        let (since, news) = match state.failing.get(scope) {
            Some((since, _, old)) => (*since, *old != message),
            None => (Utc::now(), true),
        };
        state
            .failing
            .insert(scope.to_string(), (since, kind, message));
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

fn first_failure(state: &SourceState) -> Option<(String, FailureKind, String)> {
    let mut scopes: Vec<&String> = state.failing.keys().collect();
    scopes.sort();
    let scope = scopes.first()?;
    let (since, kind, message) = &state.failing[*scope];
    let since = since.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    Some((since, *kind, message.clone()))
}
