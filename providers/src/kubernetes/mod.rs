//! The Kubernetes provider: every resource of every selected cluster as a table.
//!
//! Typed tables (pods, containers, services, …) are always present. Every
//! other resource the clusters serve, CRDs included, becomes a generic table
//! the first time a query names a table kq does not know, or when the
//! catalog is listed; discovery runs once per session, concurrently on all
//! clusters.
//!
//! The I/O path is layered, each module using only those before it:
//! `tls` and `transport` (certificate checks with client-go's verdicts;
//! credentials) → `config` (kubeconfig → one [`config::ClusterConn`] per
//! context) → `error` and `http` (why a request failed, in words; one retry
//! policy; watch streams) → `list` (pages, selectors a server rejects) →
//! `access` and `fallback` (what a namespace-scoped user can read) →
//! `discovery`, `live` (the watch-fed cache), `observed` (which server
//! state each read reflected) and `scan` (the `TableProvider`).

pub mod access;
pub mod config;
pub mod discovery;
pub mod error;
mod fallback;
pub mod http;
pub mod labels;
pub mod list;
pub mod live;
pub mod manifests;
pub mod observed;
pub mod progress;
pub mod pushdown;
pub mod resource;
pub mod scan;
pub mod selector;
pub mod tables;
mod task;
mod tls;
mod transport;

pub use tables::decode_list_body;

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::sync::{Arc, RwLock};

use async_trait::async_trait;
use datafusion::catalog::SchemaProvider;
use datafusion::datasource::TableProvider;
use datafusion::error::{DataFusionError, Result as DfResult};
use sonic_rs::JsonValueTrait as _;
use tokio::sync::OnceCell;

use crate::failures::{FailureKind, FailureLog, FailureTable, Severity};
use config::ClusterConn;
use resource::ResourceRef;
use scan::{KubeTable, ScanContext, ScanOptions};
use tables::TableOptions;

/// Name of the failure table every session has.
pub const FAILURES_TABLE: &str = "kq_errors";

/// Discovered generic tables by name.
type Discovered = BTreeMap<String, DiscoveredTable>;

/// A resource no typed table covers: where it is served or declared.
#[derive(Clone, Debug, Default, PartialEq)]
struct DiscoveredTable {
    /// Cluster → the version that cluster serves.
    live: HashMap<String, ResourceRef>,
    /// The resource as manifests declare it (their apiVersion and kind).
    manifests: Option<ResourceRef>,
}

/// A kind one manifest set declares, with a table that reads its objects
/// whole (the `object` JSON column) from the set and from every live
/// cluster, in the version the files declare: what drift compares.
#[derive(Clone)]
pub struct DeclaredKind {
    /// The manifest set's name (its rows' `cluster`).
    pub set: String,
    pub resource: ResourceRef,
    /// The namespaces the set's objects of this kind are in; empty for a
    /// cluster-scoped kind.
    pub namespaces: Vec<String>,
    /// Named `plural.group` (kubectl's resource notation), which is also the
    /// `table` its failures are recorded under.
    pub table: Arc<dyn TableProvider>,
}

/// The default schema of a kq session: Kubernetes tables plus `kq_errors`
/// and whatever views the user creates.
pub struct KubeSchema {
    context: ScanContext,
    table_options: TableOptions,
    typed: BTreeMap<String, Arc<dyn TableProvider>>,
    /// (group, plural) pairs that typed tables already expose.
    covered: HashSet<(String, String)>,
    /// Other names of typed tables (kubectl's plurals): resolvable, not listed.
    aliases: HashMap<String, String>,
    /// Shared with [`KubeSchema::without_manifests`]: discovery runs once.
    discovered: Arc<OnceCell<Discovered>>,
    user_tables: RwLock<BTreeMap<String, Arc<dyn TableProvider>>>,
}

impl std::fmt::Debug for KubeSchema {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KubeSchema")
            .field("clusters", &self.context.clusters.len())
            .finish()
    }
}

impl KubeSchema {
    pub fn new(
        clusters: Vec<ClusterConn>,
        failures: FailureLog,
        scan_options: ScanOptions,
        table_options: TableOptions,
    ) -> Self {
        Self::with_manifests(clusters, Vec::new(), failures, scan_options, table_options)
    }

    /// A schema over clusters and over objects read from files, whose
    /// rows every table holds as if a cluster of the set's name listed them.
    pub fn with_manifests(
        clusters: Vec<ClusterConn>,
        manifests: Vec<manifests::ManifestSet>,
        failures: FailureLog,
        scan_options: ScanOptions,
        table_options: TableOptions,
    ) -> Self {
        let context =
            ScanContext::new(clusters, failures.clone(), scan_options).with_manifests(manifests);
        Self::over(context, table_options, Arc::new(OnceCell::new()))
    }

    /// The same clusters, connections, caches and failure log without the
    /// manifests: what a control that judges live state alone must read.
    pub fn without_manifests(&self) -> Self {
        let mut context = self.context.clone();
        context.manifests = Arc::new(Vec::new());
        Self::over(context, self.table_options, self.discovered.clone())
    }

    fn over(
        context: ScanContext,
        table_options: TableOptions,
        discovered: Arc<OnceCell<Discovered>>,
    ) -> Self {
        let failures = context.failures.clone();
        let mut typed: BTreeMap<String, Arc<dyn TableProvider>> = BTreeMap::new();
        let mut covered = HashSet::new();
        let mut aliases = HashMap::new();
        for def in tables::builtin_tables(table_options) {
            for alias in &def.aliases {
                aliases.insert(alias.clone(), def.name.clone());
            }
            if def.pushdown.one_row_per_object {
                for source in &def.sources {
                    covered.insert((source.group.clone(), source.plural.clone()));
                }
            }
            typed.insert(
                def.name.clone(),
                Arc::new(KubeTable::new(def, context.clone())),
            );
        }
        typed.insert(
            FAILURES_TABLE.to_string(),
            Arc::new(FailureTable::new(failures)),
        );
        Self {
            context,
            table_options,
            typed,
            covered,
            aliases,
            discovered,
            user_tables: RwLock::new(BTreeMap::new()),
        }
    }

    /// The live cache of a live session (REPL, `kq watch`).
    pub fn live(&self) -> Option<&live::LiveCache> {
        self.context.live.as_ref()
    }

    /// The resourceVersion and time of each (cluster, table) read so far.
    pub fn observed(&self) -> &observed::ObservedVersions {
        &self.context.observed
    }

    /// Each cluster's list progress, in query order.
    pub fn progress(&self) -> Vec<(String, progress::ProgressReading)> {
        self.context
            .clusters
            .iter()
            .map(|cluster| (cluster.name.clone(), cluster.progress.read()))
            .collect()
    }

    /// Where a resource of a manifest set was declared; `None` for a live
    /// cluster's and for names no manifest declares.
    pub fn manifest_origin(
        &self,
        cluster: &str,
        namespace: Option<&str>,
        kind: &str,
        name: &str,
    ) -> Option<manifests::Origin> {
        self.context
            .manifests
            .iter()
            .filter(|set| set.name == cluster)
            .find_map(|set| set.origin_of(kind, namespace, name))
            .cloned()
    }

    /// The `cluster` values of the manifest sets.
    pub fn manifest_set_names(&self) -> Vec<String> {
        self.context
            .manifests
            .iter()
            .map(|set| set.name.clone())
            .collect()
    }

    /// The live clusters' names (contexts), not the manifest sets'.
    pub fn live_cluster_names(&self) -> Vec<String> {
        self.context
            .clusters
            .iter()
            .map(|cluster| cluster.name.clone())
            .collect()
    }

    /// Every kind each manifest set declares, ready to compare with the
    /// live clusters. The live side is listed in the files' own version, so
    /// the server converts and both sides have the same field paths.
    pub fn declared_kinds(&self) -> Vec<DeclaredKind> {
        let mut kinds = Vec::new();
        for set in self.context.manifests.iter() {
            for bucket in set.buckets() {
                let resource = bucket.resource.clone();
                let name = if resource.group.is_empty() {
                    resource.plural.clone()
                } else {
                    format!("{}.{}", resource.plural, resource.group)
                };
                let per_cluster = self
                    .context
                    .clusters
                    .iter()
                    .map(|cluster| (cluster.name.clone(), resource.clone()))
                    .collect();
                let def = tables::generic_table(&name, resource.clone());
                let namespaces: BTreeSet<String> = if resource.namespaced {
                    bucket
                        .items
                        .iter()
                        .filter_map(|item| item["metadata"]["namespace"].as_str())
                        .map(str::to_string)
                        .collect()
                } else {
                    BTreeSet::new()
                };
                kinds.push(DeclaredKind {
                    set: set.name.clone(),
                    resource,
                    namespaces: namespaces.into_iter().collect(),
                    table: Arc::new(KubeTable::discovered(
                        def,
                        self.context.clone(),
                        per_cluster,
                    )),
                });
            }
        }
        kinds
    }

    /// Whether any rows come from manifests.
    pub fn reads_manifests(&self) -> bool {
        !self.context.manifests.is_empty()
    }

    /// The names of the built-in typed tables (not discovered ones, not
    /// `kq_errors`).
    pub fn typed_table_names(&self) -> Vec<String> {
        self.typed
            .keys()
            .filter(|name| name.as_str() != FAILURES_TABLE)
            .cloned()
            .collect()
    }

    /// Runs discovery on every cluster (once per session) so generic tables
    /// are known. Clusters that fail discovery are recorded and skipped.
    pub async fn discover(&self) {
        self.discovered().await;
    }

    async fn discovered(&self) -> &Discovered {
        self.discovered
            .get_or_init(|| async {
                let futures = self.context.clusters.iter().map(|cluster| async move {
                    (cluster.name.clone(), discovery::discover(cluster).await)
                });
                let results = futures::future::join_all(futures).await;
                let mut per_cluster = Vec::new();
                for (cluster, result) in results {
                    match result {
                        Ok(found) => {
                            // A broken API group costs only its own tables:
                            // coverage is reduced, nothing else is missing.
                            for (group_version, why) in found.unavailable {
                                self.context.failures.record(
                                    &cluster,
                                    "(discovery)",
                                    Severity::Warning,
                                    FailureKind::Server,
                                    format!(
                                        "API group {group_version} is unavailable, so its tables are missing or failing: {why}"
                                    ),
                                );
                            }
                            per_cluster.push((cluster, found.resources));
                        }
                        Err(e) => self.context.failures.record(
                            &cluster,
                            "(discovery)",
                            Severity::Error,
                            e.kind(),
                            e.to_string(),
                        ),
                    }
                }
                let typed_names: HashSet<&str> = self
                    .typed
                    .keys()
                    .chain(self.aliases.keys())
                    .map(String::as_str)
                    .collect();
                let declared = self
                    .context
                    .manifests
                    .iter()
                    .flat_map(|set| set.buckets().map(|b| b.resource.clone()))
                    .collect();
                assign_generic_names(&typed_names, &self.covered, per_cluster, declared)
            })
            .await
    }

    fn generic_table(&self, name: &str, found: &DiscoveredTable) -> Option<Arc<dyn TableProvider>> {
        // Any cluster's resource gives the table its identity; versions
        // may differ per cluster and the scan uses each cluster's own.
        let resource = found
            .live
            .iter()
            .min_by_key(|(cluster, _)| *cluster)
            .map(|(_, resource)| resource)
            .or(found.manifests.as_ref())?
            .clone();
        let def = tables::generic_table(name, resource);
        Some(Arc::new(KubeTable::discovered(
            def,
            self.context.clone(),
            found.live.clone(),
        )))
    }
}

/// Names discovered (and declared) resources that no typed table covers:
/// the plural when it is unique, else `plural_group` with dots and dashes
/// as underscores.
fn assign_generic_names(
    typed_names: &HashSet<&str>,
    covered: &HashSet<(String, String)>,
    per_cluster: Vec<(String, Vec<ResourceRef>)>,
    declared: Vec<ResourceRef>,
) -> Discovered {
    let mut by_resource: BTreeMap<(String, String), DiscoveredTable> = BTreeMap::new();
    for (cluster, resources) in per_cluster {
        for resource in resources {
            let key = (resource.group.clone(), resource.plural.clone());
            if covered.contains(&key) {
                continue;
            }
            by_resource
                .entry(key)
                .or_default()
                .live
                .insert(cluster.clone(), resource);
        }
    }
    for resource in declared {
        let key = (resource.group.clone(), resource.plural.clone());
        if covered.contains(&key) {
            continue;
        }
        by_resource
            .entry(key)
            .or_default()
            .manifests
            .get_or_insert(resource);
    }
    let mut plural_groups: HashMap<String, usize> = HashMap::new();
    for (_, plural) in by_resource.keys() {
        *plural_groups.entry(plural.clone()).or_default() += 1;
    }
    let mut out = Discovered::new();
    for ((group, plural), clusters) in by_resource {
        let base = plural.replace(['-', '.'], "_");
        let clash = plural_groups.get(&plural).copied().unwrap_or(0) > 1
            || typed_names.contains(base.as_str());
        let name = if clash && !group.is_empty() {
            format!("{base}_{}", group.replace(['-', '.'], "_"))
        } else {
            base
        };
        out.insert(name, clusters);
    }
    out
}

#[async_trait]
impl SchemaProvider for KubeSchema {
    fn table_names(&self) -> Vec<String> {
        let mut names: Vec<String> = self.typed.keys().cloned().collect();
        if let Some(discovered) = self.discovered.get() {
            names.extend(discovered.keys().cloned());
        }
        if let Ok(user) = self.user_tables.read() {
            names.extend(user.keys().cloned());
        }
        names.sort();
        names.dedup();
        names
    }

    async fn table(&self, name: &str) -> DfResult<Option<Arc<dyn TableProvider>>> {
        if let Some(table) = self.typed.get(name) {
            return Ok(Some(table.clone()));
        }
        if let Some(table) = self.aliases.get(name).and_then(|n| self.typed.get(n)) {
            return Ok(Some(table.clone()));
        }
        if let Some(table) = self
            .user_tables
            .read()
            .map_err(|_| DataFusionError::Internal("table registry poisoned".into()))?
            .get(name)
        {
            return Ok(Some(table.clone()));
        }
        let discovered = self.discovered().await;
        Ok(discovered
            .get(name)
            .and_then(|found| self.generic_table(name, found)))
    }

    fn register_table(
        &self,
        name: String,
        table: Arc<dyn TableProvider>,
    ) -> DfResult<Option<Arc<dyn TableProvider>>> {
        if self.typed.contains_key(&name) {
            return Err(DataFusionError::Plan(format!(
                "'{name}' is a built-in table and cannot be replaced"
            )));
        }
        let mut user = self
            .user_tables
            .write()
            .map_err(|_| DataFusionError::Internal("table registry poisoned".into()))?;
        Ok(user.insert(name, table))
    }

    fn deregister_table(&self, name: &str) -> DfResult<Option<Arc<dyn TableProvider>>> {
        let mut user = self
            .user_tables
            .write()
            .map_err(|_| DataFusionError::Internal("table registry poisoned".into()))?;
        Ok(user.remove(name))
    }

    fn table_exist(&self, name: &str) -> bool {
        self.typed.contains_key(name)
            || self.aliases.contains_key(name)
            || self.discovered.get().is_some_and(|d| d.contains_key(name))
            || self.user_tables.read().is_ok_and(|u| u.contains_key(name))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generic_names_are_plural_unless_they_clash() {
        let typed: HashSet<&str> = ["pods", "events"].into_iter().collect();
        let covered: HashSet<(String, String)> = [
            ("".to_string(), "pods".to_string()),
            ("".to_string(), "events".to_string()),
        ]
        .into_iter()
        .collect();
        let cert = ResourceRef::new("cert-manager.io", "v1", "Certificate", "certificates", true);
        let events = ResourceRef::new("events.k8s.io", "v1", "Event", "events", true);
        let pods = ResourceRef::new("", "v1", "Pod", "pods", true);
        let other_cert = ResourceRef::new("example.com", "v1", "Certificate", "certificates", true);
        let names = assign_generic_names(
            &typed,
            &covered,
            vec![
                ("a".into(), vec![cert.clone(), events, pods]),
                ("b".into(), vec![other_cert]),
            ],
            Vec::new(),
        );
        let keys: Vec<&String> = names.keys().collect();
        assert_eq!(
            keys,
            [
                "certificates_cert_manager_io",
                "certificates_example_com",
                "events_events_k8s_io"
            ]
        );
        assert_eq!(names["certificates_cert_manager_io"].live["a"], cert);
    }
}
