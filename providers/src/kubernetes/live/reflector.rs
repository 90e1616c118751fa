//! The reflector loop of one live source: list, then watch, forever.
//!
//! [`drive`] lists a (cluster, resource) once (falling back to the readable
//! namespaces after a 403), marks the source ready, and starts one
//! [`keep_current`] loop per listed scope. Each loop is an explicit state
//! machine over [`Next`]: a watch that ends is resumed from the last
//! resourceVersion (bookmarks included); a 410 Gone relists and applies
//! only the differences; a resource that cannot be watched is polled; a
//! failing cluster is retried with backoff while its last rows stay
//! readable, reported as stale.

use std::sync::Arc;
use std::time::Duration;

use ::http::StatusCode;
use chrono::Utc;
use sonic_rs::{JsonValueMutTrait as _, JsonValueTrait as _, Value};

use super::store::Entry;
use super::{LiveOptions, Source, lock};
use crate::kubernetes::error::{RequestError, status_message};
use crate::kubernetes::fallback::{Fallback, ScopeOutcome};
use crate::kubernetes::http::{self, WatchAnswer, percent_encode};
use crate::kubernetes::list::{ListParams, Lister};
use crate::kubernetes::task::AbortOnDrop;

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

/// Starts a source: lists it (falling back to readable namespaces on a
/// 403), marks it ready, then keeps each listed scope current.
pub(super) async fn drive(source: Arc<Source>, options: LiveOptions) {
    let mut scopes: Vec<(Option<String>, Next)> = Vec::new();
    match list_scope(&source, &options, None).await {
        Ok(version) => scopes.push((None, Next::after_list(version))),
        Err(error) if error.is_forbidden() && source.resource.namespaced => {
            let mut outcome =
                Fallback::plan(&options.access, &source.cluster, &source.resource).await;
            for namespace in outcome.namespaces() {
                let result = match list_scope(&source, &options, Some(&namespace)).await {
                    Ok(version) => {
                        scopes.push((Some(namespace.clone()), Next::after_list(version)));
                        ScopeOutcome::Listed
                    }
                    Err(e) if e.is_forbidden() => ScopeOutcome::Forbidden,
                    Err(e) => {
                        // Retried by its own loop, like any failing scope.
                        scopes.push((Some(namespace.clone()), Next::List));
                        ScopeOutcome::Failed(e)
                    }
                };
                outcome.record(&namespace, result);
            }
            let (severity, kind, message) = outcome.outcome(&error, &source.resource.plural);
            let mut state = lock(&source.state);
            if outcome.nothing_readable() {
                // Nothing is readable: a failure, not a coverage note.
                state
                    .failing
                    .insert(String::new(), (Utc::now(), kind, message));
            } else {
                state.synced = true;
                state.coverage = Some((severity, kind, message));
            }
        }
        Err(error) => {
            source.set_failing("", error.kind(), error.to_string());
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
                    let denied = e.is_forbidden() || e.is_unauthorized();
                    source.set_failing(&scope, e.kind(), e.to_string());
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
                    Err(error) => {
                        source.set_failing(&scope, error.kind(), error.to_string());
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
    http::backoff(attempt).min(MAX_RETRY_WAIT)
}

/// Lists one scope completely and applies it as the new truth for that
/// scope: changed objects are replaced, vanished ones removed, unchanged
/// ones left alone. Returns the list's resourceVersion, if it has one.
async fn list_scope(
    source: &Source,
    options: &LiveOptions,
    namespace: Option<&str>,
) -> Result<Option<String>, RequestError> {
    let params = ListParams {
        namespace: namespace.map(str::to_string),
        page_size: options.page_size,
        ..ListParams::default()
    };
    let mut lister = Lister::new(
        source.cluster.clone(),
        source.resource.clone(),
        params,
        options.selectors.clone(),
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
    if version.is_some() {
        state.resource_version.clone_from(&version);
    }
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
) -> Result<WatchEnd, RequestError> {
    let url = format!(
        "{}?watch=1&allowWatchBookmarks=true&resourceVersion={}&timeoutSeconds={WATCH_TIMEOUT_SECS}",
        source.resource.list_path(namespace),
        percent_encode(version)
    );
    let plural = &source.resource.plural;
    let operation = || match namespace {
        Some(namespace) => format!("watch {plural} in namespace {namespace}"),
        None => format!("watch {plural}"),
    };
    let mut lines = match http::watch(&source.cluster, &url).await? {
        WatchAnswer::Events(lines) => lines,
        WatchAnswer::Refused(response) => {
            return match response.status {
                StatusCode::GONE => Ok(WatchEnd::Gone),
                StatusCode::FORBIDDEN | StatusCode::METHOD_NOT_ALLOWED => Ok(WatchEnd::Refused),
                _ => Err(response.error(&source.cluster, operation())),
            };
        }
    };
    // The cluster answers: a failing scope is live again.
    source.set_healthy(namespace.unwrap_or_default());
    while let Some(batch) = lines.next_lines().await {
        let mut events = Vec::with_capacity(batch.len());
        for line in batch {
            events.push(parse_event(&line).map_err(|message| RequestError::Decode {
                server: source.cluster.server().to_string(),
                operation: operation(),
                message,
            })?);
        }
        if events.is_empty() {
            continue;
        }
        if let Some(end) = apply_events(source, events, version) {
            return end;
        }
    }
    // A dropped connection is resumed like the server's timeout; if the
    // cluster is really gone, the next request says so.
    Ok(WatchEnd::Closed)
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
            message: status_message(&sonic_rs::to_vec(&object).unwrap_or_default()),
        },
        other => return Err(format!("unknown event type '{other}'")),
    })
}

/// Applies a batch of events under one lock; `Some` ends the watch.
fn apply_events(
    source: &Source,
    events: Vec<Event>,
    version: &mut String,
) -> Option<Result<WatchEnd, RequestError>> {
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
                    end = Some(Err(RequestError::Status {
                        server: source.cluster.server().to_string(),
                        operation: format!("watch {}", source.resource.plural),
                        code: u16::try_from(code).unwrap_or(500),
                        message,
                        attempts: 1,
                    }));
                    break;
                }
            }
        }
        if changed {
            state.last_event = Some(Utc::now());
        }
        if !version.is_empty() {
            state.resource_version = Some(version.clone());
        }
    }
    if changed {
        source.notify();
    }
    end
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_parse_with_bookmarks_and_errors() {
        let added = parse_event(
            br#"{"type":"ADDED","object":{"metadata":{"uid":"u1","resourceVersion":"7"}}}"#,
        )
        .unwrap();
        assert!(matches!(added, Event::Upsert(e) if &*e.uid == "u1"));
        let bookmark =
            parse_event(br#"{"type":"BOOKMARK","object":{"metadata":{"resourceVersion":"9"}}}"#)
                .unwrap();
        assert!(matches!(bookmark, Event::Bookmark(v) if v == "9"));
        let gone = parse_event(
            br#"{"type":"ERROR","object":{"kind":"Status","code":410,"message":"too old resource version"}}"#,
        )
        .unwrap();
        assert!(
            matches!(gone, Event::Error { code: 410, ref message } if message == "too old resource version")
        );
        assert!(parse_event(br#"{"type":"SURPRISE","object":{}}"#).is_err());
    }
}
