//! The namespace fallback after a forbidden cluster-wide list.
//!
//! A namespace-scoped user cannot list cluster-wide. Rather than returning
//! nothing, kq lists the namespaces it may read: those the server's rules
//! review allows, those it could not judge (a failed review, or another
//! authorizer than RBAC), and always the context's namespace. A 403 on any
//! of them only marks it unreadable. The outcome is said once: a warning
//! naming the covered and refused namespaces, or an error when nothing
//! could be read. One-shot scans and the live cache both plan it with
//! [`Fallback::plan`], list each namespace their own way, [`Fallback::record`]
//! how it went, and log [`Fallback::outcome`].

use super::access::AccessCache;
use super::config::ClusterConn;
use super::error::RequestError;
use super::resource::ResourceRef;
use crate::failures::{FailureKind, Severity};

/// How listing one namespace went.
pub(crate) enum ScopeOutcome {
    Listed,
    /// 403, before any row was delivered: the namespace is not readable.
    Forbidden,
    Failed(RequestError),
}

/// A fallback in progress: the namespaces to try, and how each went.
pub(crate) struct Fallback {
    to_try: Vec<String>,
    covered: Vec<String>,
    denied: Vec<String>,
    failed: Vec<(String, RequestError)>,
}

impl Fallback {
    /// Asks which namespaces are worth trying (rules reviews, cached per session).
    pub(crate) async fn plan(
        access: &AccessCache,
        cluster: &ClusterConn,
        resource: &ResourceRef,
    ) -> Self {
        let (to_try, denied) = candidates(access, cluster, resource).await;
        Self {
            to_try,
            covered: Vec::new(),
            denied,
            failed: Vec::new(),
        }
    }

    /// The namespaces to list, in order.
    pub(crate) fn namespaces(&self) -> Vec<String> {
        self.to_try.clone()
    }

    /// How listing `namespace` went.
    pub(crate) fn record(&mut self, namespace: &str, outcome: ScopeOutcome) {
        let namespace = namespace.to_string();
        match outcome {
            ScopeOutcome::Listed => self.covered.push(namespace),
            ScopeOutcome::Forbidden => self.denied.push(namespace),
            ScopeOutcome::Failed(error) => self.failed.push((namespace, error)),
        }
    }
}

/// The namespaces worth trying (allowed by the rules review, not judged
/// by it, and the context's) and those the review denies.
async fn candidates(
    access: &AccessCache,
    cluster: &ClusterConn,
    resource: &ResourceRef,
) -> (Vec<String>, Vec<String>) {
    let access = access.readable_namespaces(cluster, resource).await;
    let mut to_try: Vec<String> = access.readable.clone();
    to_try.extend(access.unknown.iter().cloned());
    if !to_try.contains(&cluster.default_namespace) {
        to_try.push(cluster.default_namespace.clone());
    }
    let denied = access
        .denied
        .iter()
        .filter(|n| !to_try.contains(n))
        .cloned()
        .collect();
    (to_try, denied)
}

impl Fallback {
    /// Whether nothing at all could be read.
    pub(crate) fn nothing_readable(&self) -> bool {
        self.covered.is_empty() && self.failed.is_empty()
    }

    /// What the failure log records: a warning naming the covered and
    /// refused namespaces, or an error when nothing was read or a
    /// namespace failed otherwise.
    pub(crate) fn outcome(
        &self,
        error: &RequestError,
        plural: &str,
    ) -> (Severity, FailureKind, String) {
        let mut denied: Vec<&str> = self.denied.iter().map(String::as_str).collect();
        denied.sort_unstable();
        if self.nothing_readable() {
            return (
                Severity::Error,
                FailureKind::Forbidden,
                format!(
                    "{error}; no namespace allows listing {plural} (checked {}); name readable ones with --namespaces",
                    quoted_list(&denied)
                ),
            );
        }
        let covered: Vec<&str> = self.covered.iter().map(String::as_str).collect();
        let mut message = format!(
            "cannot list {plural} cluster-wide ({error}); covered namespace{} {} only",
            if covered.len() == 1 { "" } else { "s" },
            quoted_list(&covered)
        );
        if !denied.is_empty() {
            message.push_str(&format!("; not permitted in {}", quoted_list(&denied)));
        }
        match self.failed.first() {
            None => (Severity::Warning, FailureKind::Forbidden, message),
            Some((_, first)) => {
                let failed: Vec<String> = self
                    .failed
                    .iter()
                    .map(|(namespace, e)| format!("namespace '{namespace}': {e}"))
                    .collect();
                message.push_str(&format!("; failed: {}", failed.join("; ")));
                (Severity::Error, first.kind(), message)
            }
        }
    }
}

fn quoted_list(names: &[&str]) -> String {
    const SHOWN: usize = 8;
    if names.is_empty() {
        return "none".to_string();
    }
    let mut text = names
        .iter()
        .take(SHOWN)
        .map(|n| format!("'{n}'"))
        .collect::<Vec<_>>()
        .join(", ");
    if names.len() > SHOWN {
        text.push_str(&format!(" and {} more", names.len() - SHOWN));
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    fn forbidden() -> RequestError {
        RequestError::Status {
            server: "https://x".into(),
            operation: "list pods".into(),
            code: 403,
            message: "pods is forbidden".into(),
            attempts: 1,
        }
    }

    #[test]
    fn outcomes_name_what_was_covered() {
        let partial = Fallback {
            to_try: Vec::new(),
            covered: vec!["team-a".into()],
            denied: vec!["default".into()],
            failed: Vec::new(),
        };
        let (severity, kind, message) = partial.outcome(&forbidden(), "pods");
        assert_eq!(
            (severity, kind),
            (Severity::Warning, FailureKind::Forbidden)
        );
        assert!(
            message.contains("covered namespace 'team-a' only"),
            "{message}"
        );
        assert!(message.contains("not permitted in 'default'"), "{message}");
        let none = Fallback {
            to_try: Vec::new(),
            covered: Vec::new(),
            denied: vec!["b".into(), "a".into()],
            failed: Vec::new(),
        };
        let (severity, _, message) = none.outcome(&forbidden(), "secrets");
        assert_eq!(severity, Severity::Error);
        assert!(
            message.contains("no namespace allows listing secrets (checked 'a', 'b')"),
            "{message}"
        );
    }
}
