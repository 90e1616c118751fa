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

use std::collections::HashMap;
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

use super::{Col, equality_set, inexact_where, items_batch, record_warnings, restrict};
use crate::failures::{FailureKind, FailureLog, Severity};
use crate::kubernetes::tables::model::{self, Cell, ColType};

/// How many scopes one scan reads at once.
const SCOPE_CONCURRENCY: usize = 8;
/// How many per-item detail calls (one per service account) run at once.
pub(crate) const DETAIL_CONCURRENCY: usize = 8;

/// What one fetch is asked for: the values the query pins narrowing
/// columns to.
#[derive(Clone, Debug, Default)]
pub struct Request {
    pins: HashMap<&'static str, Vec<String>>,
}

impl Request {
    /// Values the query pins `column` to, when it does.
    #[cfg_attr(not(feature = "gcp"), allow(dead_code))]
    pub(crate) fn pinned(&self, column: &str) -> Option<&[String]> {
        self.pins.get(column).map(Vec::as_slice)
    }
}

/// What a provider gives the scoped tables: how to resolve its scopes
/// (with the clients that read them) from the command line's options,
/// and its names.
#[async_trait]
pub trait Provider: Send + Sync + 'static {
    type Options: Send + Sync + 'static;
    type Clients: Send + Sync + 'static;
    /// A configuration error: the session cannot read the cloud at all.
    type Error: std::error::Error + Send + Sync + 'static;
    /// The schema, which prefixes table names in failures (`gcp`).
    const SCHEMA: &'static str;
    /// The first column of every table (`project`).
    const SCOPE_COLUMN: &'static str;
    const SCOPE_DESCRIPTION: &'static str;
    /// Prefix of failure sources (`gcp:`), see [`crate::failures`].
    const SOURCE_PREFIX: &'static str;
    async fn resolve(
        options: &Self::Options,
        failures: &FailureLog,
    ) -> Result<Scopes<Self::Clients>, Self::Error>;
    /// Every table of the schema.
    fn tables() -> Vec<Arc<dyn TableDef<Self::Clients>>>;
}

/// A configuration error every caller of a session sees the same way.
#[derive(Debug, thiserror::Error)]
#[error(transparent)]
pub struct Shared<E: std::error::Error + 'static>(pub Arc<E>);

impl<E: std::error::Error + 'static> Clone for Shared<E> {
    fn clone(&self) -> Self {
        Self(self.0.clone())
    }
}

/// The outcome of resolving a provider's scopes, kept for the session.
type Resolution<P> = Result<Arc<Scopes<<P as Provider>::Clients>>, Arc<<P as Provider>::Error>>;

/// A session's state for one provider: options, failure log, and the
/// scopes once resolved (on first use; a configuration error is kept and
/// returned to every later caller too).
pub struct Context<P: Provider> {
    options: P::Options,
    pub(crate) failures: FailureLog,
    resolved: tokio::sync::OnceCell<Resolution<P>>,
}

impl<P: Provider> Context<P> {
    pub fn new(options: P::Options, failures: FailureLog) -> Self {
        Self {
            options,
            failures,
            resolved: tokio::sync::OnceCell::new(),
        }
    }

    pub async fn scopes(&self) -> Result<Arc<Scopes<P::Clients>>, Shared<P::Error>> {
        self.resolved
            .get_or_init(|| async {
                P::resolve(&self.options, &self.failures)
                    .await
                    .map(Arc::new)
                    .map_err(Arc::new)
            })
            .await
            .clone()
            .map_err(Shared)
    }
}

/// The scopes a session reads, and the clients that read them.
pub struct Scopes<C> {
    pub scopes: Vec<String>,
    pub(crate) clients: C,
}

/// Where a fetch goes: one scope, through the session's clients.
pub struct Target<'a, C> {
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
pub trait TableDef<C>: Send + Sync {
    fn name(&self) -> &'static str;
    fn description(&self) -> &'static str;
    fn narrowing(&self) -> &'static [&'static str];
    /// Built once per table, by [`ScopedTable::new`], with the scope
    /// column first.
    fn schema(&self, scope_column: &'static str, scope_description: &'static str) -> SchemaRef;
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
pub struct ScopedTable<P: Provider> {
    def: Arc<dyn TableDef<P::Clients>>,
    context: Arc<Context<P>>,
    schema: SchemaRef,
}

impl<P: Provider> fmt::Debug for ScopedTable<P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ScopedTable")
            .field("schema", &P::SCHEMA)
            .field("name", &self.def.name())
            .finish()
    }
}

impl<P: Provider> ScopedTable<P> {
    /// One line saying what the table holds.
    pub fn description(&self) -> &'static str {
        self.def.description()
    }

    pub(crate) fn new(def: Arc<dyn TableDef<P::Clients>>, context: Arc<Context<P>>) -> Self {
        let schema = def.schema(P::SCOPE_COLUMN, P::SCOPE_DESCRIPTION);
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
        column == P::SCOPE_COLUMN || self.def.narrowing().contains(&column)
    }
}

#[async_trait]
impl<P: Provider> TableProvider for ScopedTable<P> {
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
        Ok(inexact_where(filters, |f| self.usable(f)))
    }

    async fn scan(
        &self,
        _state: &dyn Session,
        projection: Option<&Vec<usize>>,
        filters: &[Expr],
        _limit: Option<usize>,
    ) -> DfResult<Arc<dyn ExecutionPlan>> {
        let resolved = self
            .context
            .scopes()
            .await
            .map_err(|e| DataFusionError::External(Box::new(e)))?;
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
            if column == P::SCOPE_COLUMN {
                restrict(&mut scopes, values);
            } else if let Some(&pin) = self.def.narrowing().iter().find(|c| **c == column) {
                let mut pinned = request.pins.remove(pin);
                restrict(&mut pinned, values);
                request.pins.insert(pin, pinned.unwrap_or_default());
            }
        }
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
struct ScopedStream<P: Provider> {
    def: Arc<dyn TableDef<P::Clients>>,
    context: Arc<Context<P>>,
    jobs: Arc<Vec<String>>,
    request: Arc<Request>,
    projection: Arc<Vec<usize>>,
    schema: SchemaRef,
}

impl<P: Provider> fmt::Debug for ScopedStream<P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ScopedFetch")
            .field("schema", &P::SCHEMA)
            .field("table", &self.def.name())
            .field("scopes", &self.jobs)
            .field("pins", &self.request.pins)
            .finish()
    }
}

impl<P: Provider> PartitionStream for ScopedStream<P> {
    fn schema(&self) -> &SchemaRef {
        &self.schema
    }

    fn execute(&self, _ctx: Arc<TaskContext>) -> SendableRecordBatchStream {
        let def = self.def.clone();
        let context = self.context.clone();
        let request = self.request.clone();
        let projection = self.projection.clone();
        let table = format!("{}.{}", P::SCHEMA, def.name());
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
                    let source = format!("{}{scope}", P::SOURCE_PREFIX);
                    context.failures.attempted_table(&source, &table);
                    let resolved = context.scopes().await.ok()?;
                    let target = Target {
                        scope: &scope,
                        clients: &resolved.clients,
                    };
                    match def
                        .fetch(&target, &request, &projection, schema.clone())
                        .await
                    {
                        Ok((batch, warnings)) => {
                            record_warnings(
                                &context.failures,
                                &source,
                                &table,
                                "rows or columns are missing",
                                warnings,
                                |w| (w.operation, w.status.clone()),
                                CallError::kind,
                            );
                            Some(batch)
                        }
                        Err(error) => {
                            context.failures.record(
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
pub struct ScopedSchema<P: Provider> {
    pub(crate) context: Arc<Context<P>>,
    tables: std::collections::BTreeMap<&'static str, Arc<ScopedTable<P>>>,
}

impl<P: Provider> fmt::Debug for ScopedSchema<P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ScopedSchema")
            .field("schema", &P::SCHEMA)
            .field("tables", &self.tables.len())
            .finish()
    }
}

impl<P: Provider> ScopedSchema<P> {
    pub fn new(options: P::Options, failures: FailureLog) -> Self {
        let context = Arc::new(Context::new(options, failures));
        let tables = P::tables()
            .into_iter()
            .map(|def| (def.name(), Arc::new(ScopedTable::new(def, context.clone()))))
            .collect();
        Self { context, tables }
    }

    /// Resolves the scopes now (otherwise the first query of a table
    /// does): a configuration error is the session's error.
    pub async fn connect(&self) -> Result<(), Shared<P::Error>> {
        self.context.scopes().await.map(|_| ())
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
impl<P: Provider> datafusion::catalog::SchemaProvider for ScopedSchema<P> {
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
