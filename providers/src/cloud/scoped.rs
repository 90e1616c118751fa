//! One GCP table: its columns, how it is fetched, and the DataFusion
//! `TableProvider` that fans a scan out over projects.
//!
//! A table is a [`Spec`] over the client library's own item type, with
//! the `project` column first. GCP's list calls are per project (compute
//! aggregates every zone and region into one paged list), so a scan makes
//! one fetch per selected project; a filter on `zone`, `region` or
//! `location` narrows the calls (a zonal list instead of the aggregate)
//! where the API allows it, and DataFusion re-checks every filter.

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

use super::connect::{Clients, GcpContext};
use crate::cloud::{Col, equality_set, items_batch, restrict, summarize};
use crate::failures::{FailureKind, GCP_SOURCE_PREFIX, Severity};
use crate::kubernetes::tables::model::{self, Cell, ColType};

/// How many projects one scan reads at once.
const PROJECT_CONCURRENCY: usize = 8;
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
    pub(crate) fn pinned(&self, column: &str) -> Option<&[String]> {
        self.pins.get(column).map(Vec::as_slice)
    }

    /// Whether the query reads `column`.
    #[allow(dead_code)]
    pub(crate) fn wants(&self, column: &str) -> bool {
        self.projected.contains(column)
    }
}

/// Where a fetch goes: one project, through the session's clients.
pub(crate) struct Target<'a> {
    pub project: &'a str,
    pub clients: &'a Clients,
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

pub(crate) type FetchFn<T> =
    for<'a> fn(&'a Target<'a>, &'a Request) -> BoxFuture<'a, Result<Fetched<T>, CallError>>;

/// A table over items of type `T`.
pub(crate) struct Spec<T> {
    pub name: &'static str,
    pub description: &'static str,
    /// Columns after `project`.
    pub columns: Vec<Col<T>>,
    /// Columns whose `=`/`IN` values the fetch may use to ask for less.
    pub narrowing: &'static [&'static str],
    pub fetch: FetchFn<T>,
}

/// A failed GCP call: the operation, the API's status, its message.
#[derive(Clone, Debug)]
pub struct CallError {
    pub operation: &'static str,
    /// The API's status (`PERMISSION_DENIED`, `NOT_FOUND`, …), or the HTTP
    /// status when the answer had no Google error body.
    pub status: Option<String>,
    pub message: String,
    kind: FailureKind,
}

impl CallError {
    /// From the client libraries' error, keeping the API's status.
    pub(crate) fn from_gax(operation: &'static str, error: google_cloud_gax::error::Error) -> Self {
        use google_cloud_gax::error::rpc::Code;
        if let Some(status) = error.status() {
            let kind = match status.code {
                Code::PermissionDenied => FailureKind::Forbidden,
                Code::Unauthenticated => FailureKind::Auth,
                Code::DeadlineExceeded => FailureKind::Timeout,
                _ => FailureKind::Server,
            };
            return Self {
                operation,
                status: Some(status.code.name().to_string()),
                message: status.message.clone(),
                kind,
            };
        }
        let kind = if error.is_authentication() {
            FailureKind::Auth
        } else if error.is_timeout() {
            FailureKind::Timeout
        } else if error.is_connect() || error.is_io() || error.is_transport() {
            FailureKind::Unreachable
        } else if error.is_deserialization() {
            FailureKind::Decode
        } else {
            match error.http_status_code() {
                Some(401) => FailureKind::Auth,
                Some(403) => FailureKind::Forbidden,
                _ => FailureKind::Server,
            }
        };
        Self {
            operation,
            status: error.http_status_code().map(|code| format!("HTTP {code}")),
            message: error.to_string(),
            kind,
        }
    }

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
        self.status.as_deref() == Some("NOT_FOUND") || self.status.as_deref() == Some("HTTP 404")
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
pub(crate) trait GcpTableDef: Send + Sync {
    fn name(&self) -> &'static str;
    fn description(&self) -> &'static str;
    fn narrowing(&self) -> &'static [&'static str];
    /// Built once per table, by [`GcpTable::new`].
    fn schema(&self) -> SchemaRef;
    /// Column names in schema order.
    fn column_names(&self) -> Vec<&'static str>;
    /// Fetches one project into a batch of the projected columns
    /// (`schema` is their schema), with the warnings of partial answers.
    fn fetch<'a>(
        &'a self,
        target: &'a Target<'a>,
        request: &'a Request,
        projection: &'a [usize],
        schema: SchemaRef,
    ) -> BoxFuture<'a, Result<(RecordBatch, Vec<CallError>), CallError>>;
}

impl<T: Send + Sync + 'static> GcpTableDef for Spec<T> {
    fn name(&self) -> &'static str {
        self.name
    }

    fn description(&self) -> &'static str {
        self.description
    }

    fn narrowing(&self) -> &'static [&'static str] {
        self.narrowing
    }

    fn schema(&self) -> SchemaRef {
        let mut fields = vec![model::field(
            "project",
            ColType::Utf8,
            false,
            "GCP project id",
        )];
        fields.extend(
            self.columns
                .iter()
                .map(|c| model::field(c.name, c.ty, true, c.description)),
        );
        Arc::new(Schema::new(fields))
    }

    fn column_names(&self) -> Vec<&'static str> {
        let mut names = vec!["project"];
        names.extend(self.columns.iter().map(|c| c.name));
        names
    }

    fn fetch<'a>(
        &'a self,
        target: &'a Target<'a>,
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
                |_, _| Cell::str(Some(target.project)),
            )
            .map_err(|e| CallError::new("build rows", None, e.to_string(), FailureKind::Decode))?;
            Ok((batch, fetched.warnings))
        })
    }
}

/// A GCP table as DataFusion sees it.
pub struct GcpTable {
    def: Arc<dyn GcpTableDef>,
    context: Arc<GcpContext>,
    schema: SchemaRef,
}

impl fmt::Debug for GcpTable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GcpTable")
            .field("name", &self.def.name())
            .finish()
    }
}

impl GcpTable {
    /// One line saying what the table holds.
    pub fn description(&self) -> &'static str {
        self.def.description()
    }

    pub(crate) fn new(def: Arc<dyn GcpTableDef>, context: Arc<GcpContext>) -> Self {
        let schema = def.schema();
        Self {
            def,
            context,
            schema,
        }
    }

    /// Whether kq can use `filter` to prune projects or narrow calls.
    fn usable(&self, filter: &Expr) -> bool {
        let Some((column, _)) = equality_set(filter) else {
            return false;
        };
        column == "project" || self.def.narrowing().contains(&column)
    }
}

#[async_trait]
impl TableProvider for GcpTable {
    fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }

    fn table_type(&self) -> TableType {
        TableType::Base
    }

    /// Filters only prune what kq asks GCP for; DataFusion re-checks
    /// every one.
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
        let resolved = self
            .context
            .resolved()
            .await
            .map_err(|e| DataFusionError::External(Box::new(e)))?;
        let schema = self.schema.clone();
        let projection: Vec<usize> = match projection {
            Some(p) => p.clone(),
            None => (0..schema.fields().len()).collect(),
        };
        let mut projects: Option<Vec<String>> = None;
        let mut request = Request::default();
        for filter in filters {
            let Some((column, values)) = equality_set(filter) else {
                continue;
            };
            if column == "project" {
                restrict(&mut projects, values);
            } else if let Some(&pin) = self.def.narrowing().iter().find(|c| **c == column) {
                let mut pinned = request.pins.remove(pin);
                restrict(&mut pinned, values);
                request.pins.insert(pin, pinned.unwrap_or_default());
            }
        }
        let names = self.def.column_names();
        request.projected = projection.iter().map(|&i| names[i]).collect();
        // Contradictory filters (`zone = 'a' AND zone = 'b'`): nothing to ask.
        let contradictory = request.pins.values().any(Vec::is_empty);
        let jobs: Vec<String> = resolved
            .projects
            .iter()
            .filter(|p| !contradictory && projects.as_ref().is_none_or(|ids| ids.contains(p)))
            .cloned()
            .collect();
        let projected = Arc::new(schema.project(&projection)?);
        let stream = GcpStream {
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

/// The scan's one partition: every project, concurrently, in a stable order.
struct GcpStream {
    def: Arc<dyn GcpTableDef>,
    context: Arc<GcpContext>,
    jobs: Arc<Vec<String>>,
    request: Arc<Request>,
    projection: Arc<Vec<usize>>,
    schema: SchemaRef,
}

impl fmt::Debug for GcpStream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GcpFetch")
            .field("table", &self.def.name())
            .field("projects", &self.jobs)
            .field("pins", &self.request.pins)
            .finish()
    }
}

impl PartitionStream for GcpStream {
    fn schema(&self) -> &SchemaRef {
        &self.schema
    }

    fn execute(&self, _ctx: Arc<TaskContext>) -> SendableRecordBatchStream {
        let def = self.def.clone();
        let context = self.context.clone();
        let request = self.request.clone();
        let projection = self.projection.clone();
        let table = format!("gcp.{}", def.name());
        let schema = self.schema.clone();
        let jobs = (0..self.jobs.len()).map({
            let jobs = self.jobs.clone();
            move |i| jobs[i].clone()
        });
        let batches = futures::stream::iter(jobs)
            .map(move |project| {
                let def = def.clone();
                let context = context.clone();
                let request = request.clone();
                let projection = projection.clone();
                let table = table.clone();
                let schema = schema.clone();
                async move {
                    let source = format!("{GCP_SOURCE_PREFIX}{project}");
                    context.failures.attempted_table(&source, &table);
                    let resolved = context.resolved().await.ok()?;
                    let target = Target {
                        project: &project,
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
                                context.failures.record(
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
            .buffered(PROJECT_CONCURRENCY)
            .filter_map(|batch| async move { batch.map(Ok::<_, DataFusionError>) });
        Box::pin(RecordBatchStreamAdapter::new(self.schema.clone(), batches))
    }
}
