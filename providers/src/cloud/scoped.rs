//! A cloud table whose scan fans out over one scope per call: GCP
//! projects, Azure subscriptions. Its columns, how it is fetched, and the
//! DataFusion `TableProvider`.
//!
//! A table is a [`Spec`] over the provider's own item type, with the
//! scope column (`project`, `subscription_id`) first. Both clouds list
//! per scope (GCP's compute aggregates every zone into one paged list,
//! ARM every resource group), so a scan makes one fetch per selected
//! scope; a filter on a narrowing column (`zone`, `region`, `location`)
//! narrows the calls where the API allows it, and DataFusion re-checks
//! every filter.

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::sync::Arc;

use arrow::datatypes::{Schema, SchemaRef};
use arrow::record_batch::RecordBatch;
use async_trait::async_trait;
use datafusion::catalog::Session;
use datafusion::datasource::{TableProvider, TableType};
use datafusion::error::{DataFusionError, Result as DfResult};
use datafusion::execution::TaskContext;
use datafusion::logical_expr::{Expr, TableProviderFilterPushDown};
use datafusion::physical_plan::ExecutionPlan;
use datafusion::physical_plan::SendableRecordBatchStream;
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::physical_plan::streaming::{PartitionStream, StreamingTableExec};
use futures::StreamExt as _;
use futures::future::BoxFuture;

use super::{Col, equality_set, items_batch, restrict, summarize};
use crate::failures::{FailureKind, FailureLog, Severity};
use crate::kubernetes::tables::model::{self, Cell, ColType};

/// How many scopes one scan reads at once.
const SCOPE_CONCURRENCY: usize = 8;
/// How many per-item detail calls (one per service account) run at once.
pub(crate) const DETAIL_CONCURRENCY: usize = 8;

/// What one fetch is asked for: values the query pins narrowing columns
/// to, and the projected columns (so detail calls are made only for
/// columns someone reads).
#[derive(Clone, Debug, Default)]
pub(crate) struct Request {
    pins: HashMap<&'static str, Vec<String>>,
    projected: HashSet<&'static str>,
}

impl Request {
    /// Values the query pins `column` to, when it does.
    #[cfg_attr(not(feature = "gcp"), allow(dead_code))]
    pub(crate) fn pinned(&self, column: &str) -> Option<&[String]> {
        self.pins.get(column).map(Vec::as_slice)
    }

    /// Whether the query reads `column`.
    #[allow(dead_code)]
    pub(crate) fn wants(&self, column: &str) -> bool {
        self.projected.contains(column)
    }
}

/// What a provider gives the scoped tables: its scopes, resolved once per
/// session with the clients that read them, and where failures go.
#[async_trait]
pub trait Scoped: Send + Sync + 'static {
    type Clients: Send + Sync + 'static;
    /// The schema, which prefixes table names in failures (`gcp`).
    const SCHEMA: &'static str;
    /// The first column of every table (`project`).
    const SCOPE_COLUMN: &'static str;
    const SCOPE_DESCRIPTION: &'static str;
    /// Prefix of failure sources (`gcp:`), see [`crate::failures`].
    const SOURCE_PREFIX: &'static str;
    /// The scopes and clients; a configuration error fails the scan.
    async fn resolve(&self) -> Result<Arc<Scopes<Self::Clients>>, DataFusionError>;
    fn failures(&self) -> &FailureLog;
}

/// The scopes a session reads, and the clients that read them.
pub struct Scopes<C> {
    pub scopes: Vec<String>,
    pub(crate) clients: C,
}

/// Where a fetch goes: one scope, through the session's clients.
pub(crate) struct Target<'a, C> {
    pub scope: &'a str,
    pub clients: &'a C,
}

/// Items of one fetch, plus what could not be read about some of them.
pub(crate) struct Fetched<T> {
    pub items: Vec<T>,
    /// Parts of the answer that are missing: zones the API could not
    /// reach (`unreachables`), detail calls that failed (the row is there
    /// with NULLs in the columns those calls fill).
    pub warnings: Vec<CallError>,
}

impl<T> From<Vec<T>> for Fetched<T> {
    fn from(items: Vec<T>) -> Self {
        Self {
            items,
            warnings: Vec::new(),
        }
    }
}

pub(crate) type FetchFn<T, C> =
    for<'a> fn(&'a Target<'a, C>, &'a Request) -> BoxFuture<'a, Result<Fetched<T>, CallError>>;

/// A table over items of type `T`, read through clients `C`.
pub(crate) struct Spec<T, C> {
    pub name: &'static str,
    pub description: &'static str,
    /// Columns after the scope column.
    pub columns: Vec<Col<T>>,
    /// Columns whose `=`/`IN` values the fetch may use to ask for less.
    pub narrowing: &'static [&'static str],
    pub fetch: FetchFn<T, C>,
}

/// A failed cloud call: the operation, the API's status or error code,
/// its message, and what kind of failure that is.
#[derive(Clone, Debug)]
pub struct CallError {
    pub operation: &'static str,
    /// The API's status or code (`PERMISSION_DENIED`, `AuthorizationFailed`,
    /// …), or the HTTP status when the answer had no error body.
    pub status: Option<String>,
    pub message: String,
    kind: FailureKind,
}

impl CallError {
    pub(crate) fn new(
        operation: &'static str,
        status: Option<String>,
        message: String,
        kind: FailureKind,
    ) -> Self {
        Self {
            operation,
            status,
            message,
            kind,
        }
    }

    /// What kind of failure this is.
    pub(crate) fn kind(&self) -> FailureKind {
        self.kind
    }

    /// Whether the API said the thing asked for does not exist (a zone
    /// or location filter naming one that is not there).
    pub(crate) fn is_not_found(&self) -> bool {
        matches!(
            self.status.as_deref(),
            Some(
                "NOT_FOUND"
                    | "HTTP 404"
                    | "ResourceNotFound"
                    | "ResourceGroupNotFound"
                    | "NotFound"
            )
        )
    }
}

impl fmt::Display for CallError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.status {
            Some(status) => write!(f, "{}: {status}: {}", self.operation, self.message),
            None => write!(f, "{}: {}", self.operation, self.message),
        }
    }
}

impl std::error::Error for CallError {}

/// The type-erased face of a [`Spec`], so the schema can hold every table.
pub(crate) trait TableDef<C>: Send + Sync {
    fn name(&self) -> &'static str;
    fn description(&self) -> &'static str;
    fn narrowing(&self) -> &'static [&'static str];
    /// Built once per table, by [`ScopedTable::new`], with the scope
    /// column first.
    fn schema(&self, scope_column: &'static str, scope_description: &'static str) -> SchemaRef;
    /// Column names after the scope column, in schema order.
    fn column_names(&self) -> Vec<&'static str>;
    /// Fetches one scope into a batch of the projected columns (`schema`
    /// is their schema), with the warnings of partial answers.
    fn fetch<'a>(
        &'a self,
        target: &'a Target<'a, C>,
        request: &'a Request,
        projection: &'a [usize],
        schema: SchemaRef,
    ) -> BoxFuture<'a, Result<(RecordBatch, Vec<CallError>), CallError>>;
}

impl<T: Send + Sync + 'static, C: Send + Sync + 'static> TableDef<C> for Spec<T, C> {
    fn name(&self) -> &'static str {
        self.name
    }

    fn description(&self) -> &'static str {
        self.description
    }

    fn narrowing(&self) -> &'static [&'static str] {
        self.narrowing
    }

    fn schema(&self, scope_column: &'static str, scope_description: &'static str) -> SchemaRef {
        let mut fields = vec![model::field(
            scope_column,
            ColType::Utf8,
            false,
            scope_description,
        )];
        fields.extend(
            self.columns
                .iter()
                .map(|c| model::field(c.name, c.ty, true, c.description)),
        );
        Arc::new(Schema::new(fields))
    }

    fn column_names(&self) -> Vec<&'static str> {
        self.columns.iter().map(|c| c.name).collect()
    }

    fn fetch<'a>(
        &'a self,
        target: &'a Target<'a, C>,
        request: &'a Request,
        projection: &'a [usize],
        schema: SchemaRef,
    ) -> BoxFuture<'a, Result<(RecordBatch, Vec<CallError>), CallError>> {
        Box::pin(async move {
            let fetched = (self.fetch)(target, request).await?;
            let batch = items_batch(
                schema,
                projection,
                1,
                &self.columns,
                &fetched.items,
                |item| item,
                |_, _| Cell::str(Some(target.scope)),
            )
            .map_err(|e| CallError::new("build rows", None, e.to_string(), FailureKind::Decode))?;
            Ok((batch, fetched.warnings))
        })
    }
}

/// A scoped cloud table as DataFusion sees it.
pub struct ScopedTable<X: Scoped> {
    def: Arc<dyn TableDef<X::Clients>>,
    context: Arc<X>,
    schema: SchemaRef,
}

impl<X: Scoped> fmt::Debug for ScopedTable<X> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ScopedTable")
            .field("schema", &X::SCHEMA)
            .field("name", &self.def.name())
            .finish()
    }
}

impl<X: Scoped> ScopedTable<X> {
    /// One line saying what the table holds.
    pub fn description(&self) -> &'static str {
        self.def.description()
    }

    pub(crate) fn new(def: Arc<dyn TableDef<X::Clients>>, context: Arc<X>) -> Self {
        let schema = def.schema(X::SCOPE_COLUMN, X::SCOPE_DESCRIPTION);
        Self {
            def,
            context,
            schema,
        }
    }

    /// Whether kq can use `filter` to prune scopes or narrow calls.
    fn usable(&self, filter: &Expr) -> bool {
        let Some((column, _)) = equality_set(filter) else {
            return false;
        };
        column == X::SCOPE_COLUMN || self.def.narrowing().contains(&column)
    }
}

#[async_trait]
impl<X: Scoped> TableProvider for ScopedTable<X> {
    fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }

    fn table_type(&self) -> TableType {
        TableType::Base
    }

    /// Filters only prune what kq asks the cloud for; DataFusion
    /// re-checks every one.
    fn supports_filters_pushdown(
        &self,
        filters: &[&Expr],
    ) -> DfResult<Vec<TableProviderFilterPushDown>> {
        Ok(filters
            .iter()
            .map(|f| {
                if self.usable(f) {
                    TableProviderFilterPushDown::Inexact
                } else {
                    TableProviderFilterPushDown::Unsupported
                }
            })
            .collect())
    }

    async fn scan(
        &self,
        _state: &dyn Session,
        projection: Option<&Vec<usize>>,
        filters: &[Expr],
        _limit: Option<usize>,
    ) -> DfResult<Arc<dyn ExecutionPlan>> {
        let resolved = self.context.resolve().await?;
        let schema = self.schema.clone();
        let projection: Vec<usize> = match projection {
            Some(p) => p.clone(),
            None => (0..schema.fields().len()).collect(),
        };
        let mut scopes: Option<Vec<String>> = None;
        let mut request = Request::default();
        for filter in filters {
            let Some((column, values)) = equality_set(filter) else {
                continue;
            };
            if column == X::SCOPE_COLUMN {
                restrict(&mut scopes, values);
            } else if let Some(&pin) = self.def.narrowing().iter().find(|c| **c == column) {
                let mut pinned = request.pins.remove(pin);
                restrict(&mut pinned, values);
                request.pins.insert(pin, pinned.unwrap_or_default());
            }
        }
        let mut names = vec![X::SCOPE_COLUMN];
        names.extend(self.def.column_names());
        request.projected = projection.iter().map(|&i| names[i]).collect();
        // Contradictory filters (`zone = 'a' AND zone = 'b'`): nothing to ask.
        let contradictory = request.pins.values().any(Vec::is_empty);
        let jobs: Vec<String> = resolved
            .scopes
            .iter()
            .filter(|s| !contradictory && scopes.as_ref().is_none_or(|ids| ids.contains(s)))
            .cloned()
            .collect();
        let projected = Arc::new(schema.project(&projection)?);
        let stream = ScopedStream {
            def: self.def.clone(),
            context: self.context.clone(),
            jobs: Arc::new(jobs),
            request: Arc::new(request),
            projection: Arc::new(projection),
            schema: projected.clone(),
        };
        Ok(Arc::new(StreamingTableExec::try_new(
            projected,
            vec![Arc::new(stream) as Arc<dyn PartitionStream>],
            None,
            Vec::new(),
            false,
            None,
        )?))
    }
}

/// The scan's one partition: every scope, concurrently, in a stable order.
struct ScopedStream<X: Scoped> {
    def: Arc<dyn TableDef<X::Clients>>,
    context: Arc<X>,
    jobs: Arc<Vec<String>>,
    request: Arc<Request>,
    projection: Arc<Vec<usize>>,
    schema: SchemaRef,
}

impl<X: Scoped> fmt::Debug for ScopedStream<X> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ScopedFetch")
            .field("schema", &X::SCHEMA)
            .field("table", &self.def.name())
            .field("scopes", &self.jobs)
            .field("pins", &self.request.pins)
            .finish()
    }
}

impl<X: Scoped> PartitionStream for ScopedStream<X> {
    fn schema(&self) -> &SchemaRef {
        &self.schema
    }

    fn execute(&self, _ctx: Arc<TaskContext>) -> SendableRecordBatchStream {
        let def = self.def.clone();
        let context = self.context.clone();
        let request = self.request.clone();
        let projection = self.projection.clone();
        let table = format!("{}.{}", X::SCHEMA, def.name());
        let schema = self.schema.clone();
        let jobs = (0..self.jobs.len()).map({
            let jobs = self.jobs.clone();
            move |i| jobs[i].clone()
        });
        let batches = futures::stream::iter(jobs)
            .map(move |scope| {
                let def = def.clone();
                let context = context.clone();
                let request = request.clone();
                let projection = projection.clone();
                let table = table.clone();
                let schema = schema.clone();
                async move {
                    let source = format!("{}{scope}", X::SOURCE_PREFIX);
                    context.failures().attempted_table(&source, &table);
                    let resolved = context.resolve().await.ok()?;
                    let target = Target {
                        scope: &scope,
                        clients: &resolved.clients,
                    };
                    match def
                        .fetch(&target, &request, &projection, schema.clone())
                        .await
                    {
                        Ok((batch, warnings)) => {
                            for (warning, count) in
                                summarize(warnings, |w| (w.operation, w.status.clone()))
                            {
                                let resources = if count == 1 {
                                    String::new()
                                } else {
                                    format!(" ({count} resources)")
                                };
                                context.failures().record(
                                    &source,
                                    &table,
                                    Severity::Warning,
                                    warning.kind(),
                                    format!("rows or columns are missing: {warning}{resources}"),
                                );
                            }
                            Some(batch)
                        }
                        Err(error) => {
                            context.failures().record(
                                &source,
                                &table,
                                Severity::Error,
                                error.kind(),
                                error.to_string(),
                            );
                            None
                        }
                    }
                }
            })
            .buffered(SCOPE_CONCURRENCY)
            .filter_map(|batch| async move { batch.map(Ok::<_, DataFusionError>) });
        Box::pin(RecordBatchStreamAdapter::new(self.schema.clone(), batches))
    }
}

/// A scoped provider's schema (`gcp`, `azure`): every table, built once
/// (schemas included) per session over one shared context.
pub struct ScopedSchema<X: Scoped> {
    pub(crate) context: Arc<X>,
    tables: std::collections::BTreeMap<&'static str, Arc<ScopedTable<X>>>,
}

impl<X: Scoped> fmt::Debug for ScopedSchema<X> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ScopedSchema")
            .field("schema", &X::SCHEMA)
            .field("tables", &self.tables.len())
            .finish()
    }
}

impl<X: Scoped> ScopedSchema<X> {
    pub(crate) fn with_tables(context: Arc<X>, defs: Vec<Arc<dyn TableDef<X::Clients>>>) -> Self {
        let tables = defs
            .into_iter()
            .map(|def| (def.name(), Arc::new(ScopedTable::new(def, context.clone()))))
            .collect();
        Self { context, tables }
    }

    /// (table, description) of every table, in name order.
    pub fn descriptions(&self) -> Vec<(&'static str, &'static str)> {
        self.tables
            .iter()
            .map(|(name, t)| (*name, t.description()))
            .collect()
    }
}

#[async_trait]
impl<X: Scoped> datafusion::catalog::SchemaProvider for ScopedSchema<X> {
    fn table_names(&self) -> Vec<String> {
        self.tables.keys().map(|n| n.to_string()).collect()
    }

    async fn table(&self, name: &str) -> DfResult<Option<Arc<dyn TableProvider>>> {
        Ok(self
            .tables
            .get(name)
            .map(|table| table.clone() as Arc<dyn TableProvider>))
    }

    fn table_exist(&self, name: &str) -> bool {
        self.tables.contains_key(name)
    }
}
