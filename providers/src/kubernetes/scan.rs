//! The shared scan: one `TableProvider` for every Kubernetes table.
//!
//! A table is a [`TableDef`] (schema, row extraction, pushdown hints); this
//! module does the rest: it prunes clusters, fans out one paginated list per
//! (cluster, source resource, namespace) with bounded concurrency, decodes
//! each page into a `RecordBatch` as it arrives and streams it to
//! DataFusion. A failing cluster is recorded in the [`FailureLog`] and
//! its rows are simply absent; the other clusters answer.

use std::collections::HashMap;
use std::sync::Arc;

use arrow::datatypes::SchemaRef;
use arrow::record_batch::RecordBatch;
use async_trait::async_trait;
use datafusion::catalog::Session;
use datafusion::datasource::{TableProvider, TableType};
use datafusion::error::Result as DfResult;
use datafusion::execution::{SendableRecordBatchStream, TaskContext};
use datafusion::logical_expr::{Expr, TableProviderFilterPushDown};
use datafusion::physical_plan::ExecutionPlan;
use datafusion::physical_plan::stream::RecordBatchReceiverStream;
use datafusion::physical_plan::streaming::{PartitionStream, StreamingTableExec};
use tokio::sync::Semaphore;

use super::access::AccessCache;
use super::config::ClusterConn;
use super::error::RequestError;
use super::fallback::{Fallback, ScopeOutcome};
use super::list::{ListParams, Lister, SelectorSupport};
use super::live::{LiveCache, LiveOptions};
use super::manifests::{ManifestSet, Origin};
use super::observed::ObservedVersions;
use super::pushdown::{self, ScanRequest};
use super::resource::ResourceRef;
use super::tables::TableDef;
use super::task::AbortOnDrop;
use crate::failures::{FailureKind, FailureLog, Severity};
use sonic_rs::JsonValueTrait as _;

/// Settings shared by every scan of a session.
#[derive(Clone, Debug)]
pub struct ScanOptions {
    /// Objects per list page.
    pub page_size: u32,
    /// Lists in flight at once across all clusters.
    pub max_concurrent_lists: usize,
    /// Namespaces to try, besides the context's, when a cluster-wide list is forbidden.
    pub fallback_namespaces: Vec<String>,
    /// Keep every table read current in memory by watches (REPL, `kq watch`).
    pub live: bool,
    /// `-n`: only these namespaces. Every namespaced table reads as if the
    /// query said `namespace IN (…)`: lists go to the namespaces'
    /// endpoints, and rows from elsewhere (a live cache holds the whole
    /// cluster) are dropped. Empty: every namespace.
    pub namespace_scope: Vec<String>,
}

impl Default for ScanOptions {
    fn default() -> Self {
        Self {
            page_size: 500,
            max_concurrent_lists: 16,
            fallback_namespaces: Vec::new(),
            live: false,
            namespace_scope: Vec::new(),
        }
    }
}

/// Everything a scan needs, shared by all tables of a session.
#[derive(Clone)]
pub struct ScanContext {
    pub clusters: Arc<Vec<ClusterConn>>,
    pub failures: FailureLog,
    pub options: ScanOptions,
    pub permits: Arc<Semaphore>,
    pub access: AccessCache,
    /// Selectors each (cluster, resource) rejected: sent no more, evaluated by kq.
    pub selectors: SelectorSupport,
    /// Set in live sessions: tables are read from memory, kept current by watches.
    pub live: Option<LiveCache>,
    /// The server state each completed read reflected (for snapshots).
    pub observed: ObservedVersions,
    /// Objects read from files (`--manifests`), answered like a cluster's.
    pub manifests: Arc<Vec<ManifestSet>>,
}

impl ScanContext {
    pub fn new(clusters: Vec<ClusterConn>, failures: FailureLog, options: ScanOptions) -> Self {
        let permits = Arc::new(Semaphore::new(options.max_concurrent_lists.max(1)));
        let access = AccessCache::new(options.fallback_namespaces.clone());
        let selectors = SelectorSupport::default();
        let live = options.live.then(|| {
            LiveCache::new(LiveOptions {
                page_size: options.page_size,
                permits: permits.clone(),
                access: access.clone(),
                selectors: selectors.clone(),
            })
        });
        Self {
            clusters: Arc::new(clusters),
            failures,
            options,
            permits,
            access,
            selectors,
            live,
            observed: ObservedVersions::default(),
            manifests: Arc::new(Vec::new()),
        }
    }

    /// The same context, with objects read from files as further sources.
    pub fn with_manifests(mut self, manifests: Vec<ManifestSet>) -> Self {
        self.manifests = Arc::new(manifests);
        self
    }
}

/// Whether a manifest object is one the server would return for `request`
/// (namespaces, label and field selectors); cluster pruning is the caller's.
fn request_matches(
    request: &ScanRequest,
    resource: &ResourceRef,
    object: &sonic_rs::Value,
) -> bool {
    if let Some(namespaces) = &request.namespaces {
        if !resource.namespaced {
            return false;
        }
        let namespace = object
            .get("metadata")
            .and_then(|m| m.get("namespace"))
            .and_then(|n| n.as_str())
            .unwrap_or_default();
        if !namespaces.iter().any(|n| n == namespace) {
            return false;
        }
    }
    request.labels.matches(object) && request.fields.matches(object)
}

/// A Kubernetes table over the session's clusters.
pub struct KubeTable {
    def: Arc<TableDef>,
    context: ScanContext,
    /// For discovered resources: the version each cluster serves. Clusters
    /// missing from the map do not serve the resource and contribute no rows.
    per_cluster: Option<HashMap<String, ResourceRef>>,
}

impl std::fmt::Debug for KubeTable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KubeTable")
            .field("table", &self.def.name)
            .finish()
    }
}

impl KubeTable {
    pub fn new(def: TableDef, context: ScanContext) -> Self {
        Self {
            def: Arc::new(def),
            context,
            per_cluster: None,
        }
    }

    /// A discovered resource whose version may differ per cluster.
    pub fn discovered(
        def: TableDef,
        context: ScanContext,
        per_cluster: HashMap<String, ResourceRef>,
    ) -> Self {
        Self {
            def: Arc::new(def),
            context,
            per_cluster: Some(per_cluster),
        }
    }

    pub fn def(&self) -> &TableDef {
        &self.def
    }

    /// Exactness is proven for the built-in kinds only: a discovered
    /// resource may be served by an aggregated API server that ignores a
    /// selector, so DataFusion re-checks every filter on it.
    ///
    /// A live table is read from memory: DataFusion applies every filter
    /// (pushdown would only prune clusters, which the scan does anyway).
    fn classify(&self, filter: &Expr) -> TableProviderFilterPushDown {
        match pushdown::classify(&self.def, filter) {
            TableProviderFilterPushDown::Exact
                if self.per_cluster.is_some() || self.context.live.is_some() =>
            {
                TableProviderFilterPushDown::Inexact
            }
            other => other,
        }
    }

    /// The clusters and resources a scan reads, after cluster pruning.
    fn sources(&self, request: &ScanRequest) -> Vec<(ClusterConn, ResourceRef)> {
        let mut sources = Vec::new();
        for cluster in self.context.clusters.iter() {
            if let Some(filter) = &request.clusters
                && !filter.allows(&cluster.name)
            {
                continue;
            }
            match &self.per_cluster {
                Some(map) => {
                    if let Some(resource) = map.get(&cluster.name) {
                        sources.push((cluster.clone(), resource.clone()));
                    }
                }
                None => {
                    for resource in &self.def.sources {
                        sources.push((cluster.clone(), resource.clone()));
                    }
                }
            }
        }
        sources
    }

    /// The rows the session's manifests hold for this table, filtered as
    /// a server would filter the request, so pushed-down filters stay exact.
    fn manifest_batches(
        &self,
        request: &ScanRequest,
        projection: Option<&[usize]>,
    ) -> DfResult<Vec<RecordBatch>> {
        let mut batches = Vec::new();
        for set in self.context.manifests.iter() {
            if let Some(filter) = &request.clusters
                && !filter.allows(&set.name)
            {
                continue;
            }
            self.context.failures.attempted(&set.name);
            for source in &self.def.sources {
                let Some(bucket) = set.bucket(&source.group, &source.kind) else {
                    continue;
                };
                let keep: Vec<usize> = (0..bucket.items.len())
                    .filter(|&i| request_matches(request, source, &bucket.items[i]))
                    .collect();
                let decoded = if keep.len() == bucket.items.len() {
                    self.def.decode_with_origins(
                        &set.name,
                        source,
                        &bucket.items,
                        Some(&bucket.origins),
                        projection,
                    )
                } else if keep.is_empty() {
                    continue;
                } else {
                    let items: Vec<sonic_rs::Value> =
                        keep.iter().map(|&i| bucket.items[i].clone()).collect();
                    let origins: Vec<Origin> =
                        keep.iter().map(|&i| bucket.origins[i].clone()).collect();
                    self.def.decode_with_origins(
                        &set.name,
                        source,
                        &items,
                        Some(&origins),
                        projection,
                    )
                };
                batches.push(
                    decoded
                        .map_err(|e| datafusion::error::DataFusionError::External(Box::new(e)))?,
                );
            }
        }
        Ok(batches)
    }

    /// A live scan: waits for first syncs only, then reads memory.
    async fn scan_live(
        &self,
        live: &LiveCache,
        request: &ScanRequest,
        projection: Option<&Vec<usize>>,
        schema: SchemaRef,
    ) -> DfResult<Arc<dyn ExecutionPlan>> {
        let sources: Vec<_> = self
            .sources(request)
            .into_iter()
            .map(|(cluster, resource)| live.source(&cluster, &resource))
            .collect();
        futures::future::join_all(sources.iter().map(|s| s.ready())).await;
        let mut batches = Vec::new();
        for source in &sources {
            self.context.failures.attempted(source.cluster());
            let snapshot = source
                .snapshot(&self.def, projection.map(Vec::as_slice))
                .map_err(|e| datafusion::error::DataFusionError::External(Box::new(e)))?;
            if let Some(version) = &snapshot.resource_version {
                self.context
                    .observed
                    .record(source.cluster(), &self.def.name, Some(version));
            }
            for (severity, kind, message) in snapshot.notes {
                self.context.failures.record(
                    source.cluster(),
                    &self.def.name,
                    severity,
                    kind,
                    message,
                );
            }
            batches.extend(snapshot.batches);
        }
        batches.extend(self.manifest_batches(request, projection.map(Vec::as_slice))?);
        let exec = datafusion::datasource::memory::MemorySourceConfig::try_new_exec(
            &[batches],
            schema,
            None,
        )?;
        Ok(exec)
    }
}

#[async_trait]
impl TableProvider for KubeTable {
    fn schema(&self) -> SchemaRef {
        self.def.schema()
    }

    fn table_type(&self) -> TableType {
        TableType::Base
    }

    fn supports_filters_pushdown(
        &self,
        filters: &[&Expr],
    ) -> DfResult<Vec<TableProviderFilterPushDown>> {
        Ok(filters.iter().map(|f| self.classify(f)).collect())
    }

    async fn scan(
        &self,
        _state: &dyn Session,
        projection: Option<&Vec<usize>>,
        filters: &[Expr],
        limit: Option<usize>,
    ) -> DfResult<Arc<dyn ExecutionPlan>> {
        let mut request = pushdown::plan(&self.def, filters);
        let scope = &self.context.options.namespace_scope;
        let scoped = match self.def.pushdown.namespace_column {
            Some(column) if !scope.is_empty() => {
                pushdown::restrict_namespaces(&mut request, scope.clone());
                self.def.schema().index_of(column).ok()
            }
            _ => None,
        };
        let Some(namespace_index) = scoped else {
            return self.scan_request(request, projection, filters, limit).await;
        };
        // The namespace column rides along for the scope's filter, and is
        // dropped again if the query did not ask for it.
        let wanted: Vec<usize> = match projection {
            Some(p) => p.clone(),
            None => (0..self.def.schema().fields().len()).collect(),
        };
        let mut read = wanted.clone();
        if !read.contains(&namespace_index) {
            read.push(namespace_index);
        }
        // A limit applies after the scope's filter, never before it.
        let plan = self
            .scan_request(request, Some(&read), filters, None)
            .await?;
        let schema = plan.schema();
        let position = read
            .iter()
            .position(|&i| i == namespace_index)
            .expect("the namespace column is read");
        use datafusion::physical_expr::expressions::{Column, in_list, lit};
        let predicate = in_list(
            Arc::new(Column::new(schema.field(position).name(), position)),
            scope.iter().map(|n| lit(n.clone())).collect(),
            &false,
            &schema,
        )?;
        let filtered: Arc<dyn ExecutionPlan> = Arc::new(
            datafusion::physical_plan::filter::FilterExec::try_new(predicate, plan)?,
        );
        if read.len() == wanted.len() {
            return Ok(filtered);
        }
        let columns = (0..wanted.len())
            .map(|i| {
                let name = schema.field(i).name().clone();
                (
                    Arc::new(Column::new(&name, i))
                        as Arc<dyn datafusion::physical_expr::PhysicalExpr>,
                    name,
                )
            })
            .collect::<Vec<_>>();
        Ok(Arc::new(
            datafusion::physical_plan::projection::ProjectionExec::try_new(columns, filtered)?,
        ))
    }
}

impl KubeTable {
    /// The scan of one request: lists (or the live cache) for the sources
    /// it names, in `projection`'s columns.
    async fn scan_request(
        &self,
        request: ScanRequest,
        projection: Option<&Vec<usize>>,
        filters: &[Expr],
        limit: Option<usize>,
    ) -> DfResult<Arc<dyn ExecutionPlan>> {
        // A LIMIT can shorten lists only when DataFusion has no filter left
        // to apply and every object is exactly one row.
        let all_exact = filters
            .iter()
            .all(|f| self.classify(f) == TableProviderFilterPushDown::Exact);
        let max_objects = if self.def.pushdown.one_row_per_object && all_exact {
            limit
        } else {
            None
        };
        let full_schema = self.def.schema();
        let schema = match projection {
            Some(p) => Arc::new(full_schema.project(p)?),
            None => full_schema,
        };
        if let Some(live) = &self.context.live {
            return self.scan_live(live, &request, projection, schema).await;
        }
        let manifest_rows = self.manifest_batches(&request, projection.map(Vec::as_slice))?;
        let stream = KubeListStream {
            def: self.def.clone(),
            context: self.context.clone(),
            manifest_rows,
            sources: self.sources(&request),
            request,
            projection: projection.cloned(),
            max_objects,
            schema: schema.clone(),
        };
        let exec = StreamingTableExec::try_new(
            schema,
            vec![Arc::new(stream) as Arc<dyn PartitionStream>],
            None,
            Vec::new(),
            false,
            limit,
        )?;
        Ok(Arc::new(exec))
    }
}

/// One partition that lists every (cluster, source, namespace) concurrently.
struct KubeListStream {
    def: Arc<TableDef>,
    context: ScanContext,
    /// Rows from manifests, sent before the lists' pages.
    manifest_rows: Vec<RecordBatch>,
    /// (cluster, resource) pairs left after cluster pruning.
    sources: Vec<(ClusterConn, ResourceRef)>,
    request: ScanRequest,
    projection: Option<Vec<usize>>,
    max_objects: Option<usize>,
    schema: SchemaRef,
}

impl std::fmt::Debug for KubeListStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KubeList")
            .field("table", &self.def.name)
            .field("request", &self.request)
            .finish()
    }
}

/// One list to run.
struct ListJob {
    cluster: ClusterConn,
    resource: ResourceRef,
    namespace: Option<String>,
}

impl KubeListStream {
    fn jobs(&self) -> Vec<ListJob> {
        let mut jobs = Vec::new();
        for (cluster, resource) in &self.sources {
            let job = |namespace| ListJob {
                cluster: cluster.clone(),
                resource: resource.clone(),
                namespace,
            };
            match &self.request.namespaces {
                // Cluster-scoped objects have no namespace, so a
                // namespace filter excludes all of their rows.
                Some(_) if !resource.namespaced => {}
                Some(namespaces) => {
                    jobs.extend(namespaces.iter().map(|n| job(Some(n.clone()))));
                }
                None => jobs.push(job(None)),
            }
        }
        jobs
    }
}

impl PartitionStream for KubeListStream {
    fn schema(&self) -> &SchemaRef {
        &self.schema
    }

    fn execute(&self, _ctx: Arc<TaskContext>) -> SendableRecordBatchStream {
        let mut builder = RecordBatchReceiverStream::builder(self.schema.clone(), 8);
        if !self.manifest_rows.is_empty() {
            let tx = builder.tx();
            let rows = self.manifest_rows.clone();
            builder.spawn(async move {
                for batch in rows {
                    if tx.send(Ok(batch)).await.is_err() {
                        break;
                    }
                }
                Ok(())
            });
        }
        let jobs = self.jobs();
        for job in &jobs {
            self.context.failures.attempted(&job.cluster.name);
        }
        for job in jobs {
            let tx = builder.tx();
            let def = self.def.clone();
            let context = self.context.clone();
            let projection = self.projection.clone();
            // The namespace comes from each job (see list_to_channel).
            let params = ListParams {
                namespace: None,
                labels: self.request.labels.clone(),
                fields: self.request.fields.clone(),
                page_size: context.options.page_size,
                max_objects: self.max_objects,
            };
            // Permits are taken per request (in list_to_channel), never
            // while a job waits for its consumer: in a join, the side read
            // second must not hold the permits the first side needs.
            builder.spawn(async move {
                run_list(&def, &context, &job, params, projection.as_deref(), &tx).await;
                Ok(())
            });
        }
        builder.build()
    }
}

type BatchSender = tokio::sync::mpsc::Sender<DfResult<arrow::record_batch::RecordBatch>>;

/// Lists one job into the channel; failures go to the failure log.
async fn run_list(
    def: &TableDef,
    context: &ScanContext,
    job: &ListJob,
    params: ListParams,
    projection: Option<&[usize]>,
    tx: &BatchSender,
) {
    let mut emitted = 0;
    let result = list_to_channel(def, context, job, &params, projection, tx, &mut emitted).await;
    let error = match result {
        Ok(()) => return,
        Err(error) => error,
    };
    // A namespace-scoped user cannot list cluster-wide: fall back to the
    // namespaces the server says it may list, and say what was covered.
    // A 403 after rows were sent (RBAC changed mid-list) is an error:
    // listing namespaces now would send some rows twice.
    if error.is_forbidden() && emitted == 0 && job.namespace.is_none() && job.resource.namespaced {
        let JobError::List(error) = error else {
            unreachable!("is_forbidden holds only for list errors")
        };
        let mut outcome = Fallback::plan(&context.access, &job.cluster, &job.resource).await;
        for namespace in outcome.namespaces() {
            let scoped = ListJob {
                cluster: job.cluster.clone(),
                resource: job.resource.clone(),
                namespace: Some(namespace.clone()),
            };
            let mut emitted = 0;
            let result =
                match list_to_channel(def, context, &scoped, &params, projection, tx, &mut emitted)
                    .await
                {
                    Ok(()) => ScopeOutcome::Listed,
                    Err(e) if e.is_forbidden() && emitted == 0 => ScopeOutcome::Forbidden,
                    Err(JobError::List(e)) => ScopeOutcome::Failed(e),
                    Err(JobError::Decode(message)) => ScopeOutcome::Failed(RequestError::Decode {
                        server: job.cluster.server().to_string(),
                        operation: format!("list {} in namespace {namespace}", job.resource.plural),
                        message,
                    }),
                };
            outcome.record(&namespace, result);
        }
        let (severity, kind, message) = outcome.outcome(&error, &job.resource.plural);
        context
            .failures
            .record(&job.cluster.name, &def.name, severity, kind, message);
        return;
    }
    context.failures.record(
        &job.cluster.name,
        &def.name,
        Severity::Error,
        error.kind(),
        error.to_string(),
    );
}

#[derive(Debug, thiserror::Error)]
enum JobError {
    #[error(transparent)]
    List(#[from] RequestError),
    #[error("{0}")]
    Decode(String),
}

impl JobError {
    fn is_forbidden(&self) -> bool {
        matches!(self, JobError::List(e) if e.is_forbidden())
    }

    fn kind(&self) -> FailureKind {
        match self {
            JobError::List(e) => e.kind(),
            JobError::Decode(_) => FailureKind::Decode,
        }
    }
}

/// Streams one list's pages into the channel as batches (the job names
/// the namespace; `params` the selectors and paging); `emitted` counts
/// the batches sent, so a caller knows whether a retry would repeat rows.
async fn list_to_channel(
    def: &TableDef,
    context: &ScanContext,
    job: &ListJob,
    params: &ListParams,
    projection: Option<&[usize]>,
    tx: &BatchSender,
    emitted: &mut usize,
) -> Result<(), JobError> {
    let params = ListParams {
        namespace: job.namespace.clone(),
        ..params.clone()
    };
    let mut lister = Lister::new(
        job.cluster.clone(),
        job.resource.clone(),
        params,
        context.selectors.clone(),
    );
    // The next page is requested and parsed while this one is decoded, so
    // the network and both cores stay busy. Two pages in flight keep memory
    // bounded by the channels, not by the cluster's size.
    let (pages_tx, mut pages) = tokio::sync::mpsc::channel(1);
    let permits = context.permits.clone();
    let failures = context.failures.clone();
    let observed = context.observed.clone();
    let (cluster, table) = (job.cluster.name.clone(), def.name.clone());
    let fetch = tokio::spawn(async move {
        loop {
            // Bounds requests in flight across the session, politely.
            let Ok(permit) = permits.acquire().await else {
                return;
            };
            let page = lister.next_page().await;
            drop(permit);
            // A selector the server rejected: the rows are the same, but
            // the session's errors table says why the list was wider.
            for note in lister.take_notes() {
                failures.record(
                    &cluster,
                    &table,
                    Severity::Info,
                    FailureKind::Selector,
                    note,
                );
            }
            let last = !matches!(page, Ok(Some(_)));
            if matches!(page, Ok(None)) {
                observed.record(&cluster, &table, lister.resource_version());
            }
            if pages_tx.send(page).await.is_err() || last {
                return;
            }
        }
    });
    let _fetch = AbortOnDrop(fetch);
    while let Some(page) = pages.recv().await {
        let Some(items) = page? else {
            return Ok(());
        };
        let batch = def
            .decode(&job.cluster.name, &job.resource, &items, projection)
            .map_err(|e| JobError::Decode(e.to_string()))?;
        if tx.send(Ok(batch)).await.is_err() {
            // The consumer stopped (LIMIT reached or query cancelled).
            return Ok(());
        }
        *emitted += 1;
    }
    // The fetch task ended without saying the list was complete: it
    // panicked. The rows so far are partial, never silently complete.
    Err(JobError::Decode(format!(
        "listing {} stopped unexpectedly; rows are incomplete",
        job.resource.plural
    )))
}
