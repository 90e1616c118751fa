//! Which namespaces a user may list a resource in, for the 403 fallback.
//!
//! A namespace-scoped user cannot list cluster-wide. Rather than returning
//! nothing, kq finds the namespaces it may read: the configured ones
//! (`--namespaces`), the context's namespace, and every namespace when the
//! user may list namespaces; then asks the server, with one
//! SelfSubjectRulesReview per candidate namespace, which of them allow
//! `list` on the resource. Answers are cached for the session, so a query
//! touching many tables asks once per cluster and namespace.

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex};

use futures::StreamExt as _;
use k8s_openapi::api::authorization::v1::{
    ResourceRule, SelfSubjectRulesReview, SelfSubjectRulesReviewSpec,
};

use super::config::ClusterConn;
use super::error::RequestError;
use super::http;
use super::list::{ListParams, Lister, SelectorSupport};
use super::resource::{ResourceRef, builtin};

/// Where a candidate namespace came from, for the coverage message.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum NamespaceOrigin {
    Configured,
    Context,
    Listed,
}

/// The outcome of the fallback search for one cluster and resource.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct NamespaceAccess {
    /// Namespaces where the rules allow listing the resource.
    pub readable: Vec<String>,
    /// Candidates the rules deny.
    pub denied: Vec<String>,
    /// Candidates whose rules could not be read (review failed).
    pub unknown: Vec<String>,
    /// Whether the namespace list itself was readable.
    pub namespaces_listed: bool,
}

/// Session-wide cache of candidate namespaces and rules, per cluster.
#[derive(Clone, Default)]
pub struct AccessCache {
    /// Namespaces named on the command line, tried on every cluster.
    configured: Arc<Vec<String>>,
    candidates: Arc<Mutex<HashMap<String, Arc<Candidates>>>>,
    rules: Arc<Mutex<RulesByNamespace>>,
}

/// What a SelfSubjectRulesReview answered for one namespace.
#[derive(Debug)]
struct Rules {
    rules: Vec<ResourceRule>,
    /// The server could not list every rule (e.g. a webhook authorizer).
    incomplete: bool,
}

/// A rules review's outcome (or why it failed), per (cluster, namespace).
type Review = Arc<Result<Rules, RequestError>>;
type RulesByNamespace = HashMap<(String, String), Review>;

#[derive(Debug)]
struct Candidates {
    namespaces: Vec<(String, NamespaceOrigin)>,
    listed: bool,
}

impl std::fmt::Debug for AccessCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AccessCache")
            .field("configured", &self.configured)
            .finish_non_exhaustive()
    }
}

impl AccessCache {
    pub fn new(configured: Vec<String>) -> Self {
        Self {
            configured: Arc::new(configured),
            ..Self::default()
        }
    }

    /// The namespaces of `cluster` where `resource` may be listed.
    pub async fn readable_namespaces(
        &self,
        cluster: &ClusterConn,
        resource: &ResourceRef,
    ) -> NamespaceAccess {
        let candidates = self.candidates(cluster).await;
        let mut access = NamespaceAccess {
            namespaces_listed: candidates.listed,
            ..NamespaceAccess::default()
        };
        // Reviews are independent questions: ask a few at a time.
        let reviews: Vec<_> = candidates
            .namespaces
            .iter()
            .map(|(namespace, _)| {
                let namespace = namespace.clone();
                async move {
                    let review = self.rules(cluster, &namespace).await;
                    (namespace, review)
                }
            })
            .collect();
        let verdicts: Vec<(String, Review)> =
            futures::stream::iter(reviews).buffered(8).collect().await;
        for (namespace, review) in verdicts {
            match &*review {
                Ok(rules) if allows_list(&rules.rules, resource) => access.readable.push(namespace),
                // An incomplete review (another authorizer may still allow
                // it) is no proof of denial.
                Ok(rules) if rules.incomplete => access.unknown.push(namespace),
                Ok(_) => access.denied.push(namespace),
                Err(_) => access.unknown.push(namespace),
            }
        }
        access
    }

    async fn candidates(&self, cluster: &ClusterConn) -> Arc<Candidates> {
        if let Some(found) = self.lock_candidates().get(&cluster.name) {
            return found.clone();
        }
        let mut namespaces: Vec<(String, NamespaceOrigin)> = self
            .configured
            .iter()
            .map(|n| (n.clone(), NamespaceOrigin::Configured))
            .collect();
        namespaces.push((cluster.default_namespace.clone(), NamespaceOrigin::Context));
        let listed = match list_namespace_names(cluster).await {
            Ok(names) => {
                namespaces.extend(names.into_iter().map(|n| (n, NamespaceOrigin::Listed)));
                true
            }
            Err(_) => false,
        };
        // First origin wins: a configured namespace stays "configured".
        let mut seen = BTreeSet::new();
        namespaces.retain(|(n, _)| seen.insert(n.clone()));
        let found = Arc::new(Candidates { namespaces, listed });
        self.lock_candidates()
            .insert(cluster.name.clone(), found.clone());
        found
    }

    async fn rules(&self, cluster: &ClusterConn, namespace: &str) -> Review {
        let key = (cluster.name.clone(), namespace.to_string());
        if let Some(found) = self.lock_rules().get(&key) {
            return found.clone();
        }
        let found = Arc::new(rules_review(cluster, namespace).await);
        // A failed review may be passing trouble: ask again next time.
        if found.is_ok() {
            self.lock_rules().insert(key, found.clone());
        }
        found
    }

    fn lock_candidates(&self) -> std::sync::MutexGuard<'_, HashMap<String, Arc<Candidates>>> {
        // A panic elsewhere cannot leave the map half-written: inserts are single calls.
        self.candidates
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn lock_rules(&self) -> std::sync::MutexGuard<'_, RulesByNamespace> {
        self.rules
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

async fn list_namespace_names(cluster: &ClusterConn) -> Result<Vec<String>, RequestError> {
    let params = ListParams {
        page_size: 500,
        ..ListParams::default()
    };
    let mut lister = Lister::new(
        cluster.clone(),
        builtin::namespaces(),
        params,
        SelectorSupport::default(),
    );
    let mut names = Vec::new();
    while let Some(items) = lister.next_page().await? {
        use sonic_rs::JsonValueTrait as _;
        names.extend(
            items
                .iter()
                .filter_map(|i| i.get("metadata")?.get("name")?.as_str().map(str::to_string)),
        );
    }
    Ok(names)
}

/// Asks the server which rules apply to the user in `namespace`. A POST,
/// but a read: the API models questions as created review objects.
async fn rules_review(cluster: &ClusterConn, namespace: &str) -> Result<Rules, RequestError> {
    const PATH: &str = "/apis/authorization.k8s.io/v1/selfsubjectrulesreviews";
    let review = SelfSubjectRulesReview {
        spec: SelfSubjectRulesReviewSpec {
            namespace: Some(namespace.to_string()),
        },
        ..SelfSubjectRulesReview::default()
    };
    let operation = || format!("review the rules of namespace {namespace}");
    let body = serde_json::to_vec(&review).map_err(|e| RequestError::Decode {
        server: cluster.server().to_string(),
        operation: operation(),
        message: e.to_string(),
    })?;
    let response = http::post_json(cluster, PATH, &body).await?;
    if !response.status.is_success() {
        return Err(response.error(cluster, operation()));
    }
    let created: SelfSubjectRulesReview =
        serde_json::from_slice(&response.body).map_err(|e| RequestError::Decode {
            server: cluster.server().to_string(),
            operation: operation(),
            message: e.to_string(),
        })?;
    let status = created.status.unwrap_or_default();
    Ok(Rules {
        rules: status.resource_rules,
        incomplete: status.incomplete,
    })
}

/// Whether some rule grants `list` on the resource (RBAC's own matching:
/// `*` wildcards, no resourceNames, since a list names no object).
pub fn allows_list(rules: &[ResourceRule], resource: &ResourceRef) -> bool {
    let has = |values: &[String], wanted: &str| values.iter().any(|v| v == "*" || v == wanted);
    rules.iter().any(|rule| {
        has(&rule.verbs, "list")
            && has(
                rule.api_groups.as_deref().unwrap_or_default(),
                &resource.group,
            )
            && has(
                rule.resources.as_deref().unwrap_or_default(),
                &resource.plural,
            )
            && rule.resource_names.as_ref().is_none_or(Vec::is_empty)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(verbs: &[&str], groups: &[&str], resources: &[&str]) -> ResourceRule {
        let strings = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        ResourceRule {
            verbs: strings(verbs),
            api_groups: Some(strings(groups)),
            resources: Some(strings(resources)),
            resource_names: None,
        }
    }

    #[test]
    fn rules_match_as_rbac_does() {
        let pods = builtin::pods();
        let deployments = builtin::deployments();
        assert!(allows_list(&[rule(&["*"], &["*"], &["*"])], &pods));
        assert!(allows_list(
            &[rule(&["get", "list"], &[""], &["pods"])],
            &pods
        ));
        assert!(!allows_list(&[rule(&["get"], &[""], &["pods"])], &pods));
        assert!(!allows_list(
            &[rule(&["list"], &["apps"], &["pods"])],
            &pods
        ));
        assert!(allows_list(
            &[rule(&["list"], &["apps"], &["*"])],
            &deployments
        ));
        assert!(!allows_list(
            &[rule(&["list"], &[""], &["deployments"])],
            &deployments
        ));
        let mut named = rule(&["list"], &[""], &["pods"]);
        named.resource_names = Some(vec!["one".into()]);
        assert!(!allows_list(&[named], &pods));
        assert!(!allows_list(&[], &pods));
    }
}
