//! One AWS table: its columns, how it is fetched, and the DataFusion
//! `TableProvider` that fans a scan out over accounts and regions.
//!
//! A table is a [`Spec`] over the SDK's own item type: columns are
//! (name, type, description, extractor) like the Kubernetes tables, so an
//! item is read where it is described and a projected-away column costs
//! nothing. Fetching returns items, not rows, so a detail call a column
//! needs (an S3 bucket's encryption, an IAM role's attached policies) is
//! made only when that column is projected.

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::sync::Arc;

use arrow::datatypes::{Schema, SchemaRef};
use arrow::record_batch::RecordBatch;
use async_trait::async_trait;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;
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

use super::connect::{Account, AwsContext};
pub(crate) use crate::cloud::{Col, col};
use crate::cloud::{equality_set, inexact_where, items_batch, record_warnings, restrict};
use crate::failures::{AWS_SOURCE_PREFIX, FailureKind, Severity};
use crate::kubernetes::tables::model::{self, Cell, ColType};

/// How many (account, region) fetches of one scan run at once.
const TARGET_CONCURRENCY: usize = 16;
/// How many per-item detail calls (one per bucket, role, cluster) run at once.
pub(crate) const DETAIL_CONCURRENCY: usize = 8;

/// Where a table's items live, which decides how a scan fans out.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Scope {
    /// Listed in every selected region.
    Regional,
    /// One list per account; rows carry region `global` (IAM).
    Global,
    /// One list per account whose items each live in a region (S3 buckets):
    /// rows outside the selected regions are dropped.
    PerAccount,
}

/// The region value of a global table's rows.
pub const GLOBAL_REGION: &str = "global";

/// What one fetch is asked for: ids to hand to the API, and the projected
/// columns (so detail calls are made only for columns someone reads).
#[derive(Clone, Debug, Default)]
pub(crate) struct Request {
    ids: HashMap<&'static str, Vec<String>>,
    projected: HashSet<&'static str>,
}

impl Request {
    /// Values the query pins `column` to, when it does.
    pub(crate) fn ids(&self, column: &str) -> Option<&[String]> {
        self.ids.get(column).map(Vec::as_slice)
    }

    /// Whether the query reads `column`.
    pub(crate) fn wants(&self, column: &str) -> bool {
        self.projected.contains(column)
    }
}

/// Where a fetch goes: one account, and one region of it (or its home
/// region for global and per-account tables).
pub(crate) struct Target<'a> {
    pub account: &'a Account,
    pub config: aws_config::SdkConfig,
    pub region: String,
    /// The regions whose items become rows: a per-account table's fetch
    /// can skip detail calls for the others.
    pub regions: &'a [String],
}

/// Items of one fetch, plus what could not be read about some of them.
pub(crate) struct Fetched<T> {
    pub items: Vec<T>,
    /// Detail calls that failed: the row is there with NULLs in the
    /// columns those calls fill (e.g. AccessDenied on one bucket's policy).
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

/// Per-item results of detail calls: the item (none when it has to be
/// left out) and the calls about it that failed.
impl<T> FromIterator<(Option<T>, Vec<CallError>)> for Fetched<T> {
    fn from_iter<I: IntoIterator<Item = (Option<T>, Vec<CallError>)>>(results: I) -> Self {
        let mut fetched = Fetched::from(Vec::new());
        for (item, warnings) in results {
            fetched.items.extend(item);
            fetched.warnings.extend(warnings);
        }
        fetched
    }
}

pub(crate) type FetchFn<T> =
    for<'a> fn(&'a Target<'a>, &'a Request) -> BoxFuture<'a, Result<Fetched<T>, CallError>>;

/// A table over items of type `T`.
pub(crate) struct Spec<T> {
    pub name: &'static str,
    pub description: &'static str,
    pub scope: Scope,
    /// Columns after `account_id` and `region`.
    pub columns: Vec<Col<T>>,
    /// Columns whose `=`/`IN` values the fetch hands to the API.
    pub id_columns: &'static [&'static str],
    pub fetch: FetchFn<T>,
    /// The region of an item of a [`Scope::PerAccount`] table.
    pub region_of: Option<fn(&T) -> Option<String>>,
}

/// A failed AWS call: the operation, the service's error code, its message.
#[derive(Clone, Debug)]
pub struct CallError {
    pub operation: &'static str,
    pub code: Option<String>,
    pub message: String,
}

impl CallError {
    /// From any SDK error, keeping the service's code (AccessDenied,
    /// Throttling, …) when there is one.
    pub(crate) fn from_sdk<E>(operation: &'static str, error: E) -> Self
    where
        E: ProvideErrorMetadata + std::error::Error + 'static,
    {
        let code = error.code().map(str::to_string);
        let message = match error.message() {
            Some(message) => message.to_string(),
            None => super::error_text(&error),
        };
        Self {
            operation,
            code,
            message,
        }
    }

    /// What kind of failure this is, from the service's error code; a
    /// call without a code never reached the service.
    pub(crate) fn kind(&self) -> FailureKind {
        let Some(code) = self.code.as_deref() else {
            return FailureKind::Unreachable;
        };
        if code.contains("AccessDenied") || code.contains("Unauthorized") || code == "Forbidden" {
            FailureKind::Forbidden
        } else if code.contains("Token")
            || code.contains("AuthFailure")
            || code.contains("UnrecognizedClient")
            || code.contains("SignatureDoesNotMatch")
        {
            FailureKind::Auth
        } else {
            FailureKind::Server
        }
    }

    /// Whether the service said the thing asked for does not exist
    /// (an id filter naming a missing resource).
    pub(crate) fn is_not_found(&self) -> bool {
        self.code
            .as_deref()
            .is_some_and(|code| code.contains("NotFound") || code.starts_with("NoSuch"))
    }
}

/// A list call whose "not found" answer means no rows: naming a resource
/// that does not exist (in this region) is an empty answer, not a failure.
pub(crate) fn empty_if_not_found<T>(
    result: Result<Vec<T>, CallError>,
) -> Result<Vec<T>, CallError> {
    match result {
        Err(error) if error.is_not_found() => Ok(Vec::new()),
        other => other,
    }
}

impl fmt::Display for CallError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.code {
            Some(code) => write!(f, "{}: {code}: {}", self.operation, self.message),
            None => write!(f, "{}: {}", self.operation, self.message),
        }
    }
}

impl std::error::Error for CallError {}

/// The type-erased face of a [`Spec`], so the schema can hold every table.
pub(crate) trait AwsTableDef: Send + Sync {
    fn name(&self) -> &'static str;
    fn description(&self) -> &'static str;
    fn scope(&self) -> Scope;
    fn id_columns(&self) -> &'static [&'static str];
    /// Built once per table, by [`AwsTable::new`].
    fn schema(&self) -> SchemaRef;
    /// Column names in schema order.
    fn column_names(&self) -> Vec<&'static str>;
    /// Fetches one target into a batch of the projected columns (`schema`
    /// is their schema), with the warnings of detail calls that failed.
    fn fetch<'a>(
        &'a self,
        target: &'a Target<'a>,
        request: &'a Request,
        projection: &'a [usize],
        schema: SchemaRef,
    ) -> BoxFuture<'a, Result<(RecordBatch, Vec<CallError>), CallError>>;
}

impl<T: Send + Sync + 'static> AwsTableDef for Spec<T> {
    fn name(&self) -> &'static str {
        self.name
    }

    fn description(&self) -> &'static str {
        self.description
    }

    fn scope(&self) -> Scope {
        self.scope
    }

    fn id_columns(&self) -> &'static [&'static str] {
        self.id_columns
    }

    fn schema(&self) -> SchemaRef {
        let mut fields = vec![
            model::field(
                "account_id",
                ColType::Utf8,
                false,
                "AWS account id (12 digits)",
            ),
            model::field(
                "region",
                ColType::Utf8,
                false,
                "AWS region (`global` for account-wide services such as IAM)",
            ),
        ];
        fields.extend(
            self.columns
                .iter()
                .map(|c| model::field(c.name, c.ty, true, c.description)),
        );
        Arc::new(Schema::new(fields))
    }

    fn column_names(&self) -> Vec<&'static str> {
        let mut names = vec!["account_id", "region"];
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
            let items: Vec<(String, &T)> = fetched
                .items
                .iter()
                .filter_map(|item| match (self.scope, self.region_of) {
                    (Scope::PerAccount, Some(region_of)) => {
                        let region = region_of(item)?;
                        target.regions.contains(&region).then_some((region, item))
                    }
                    _ => Some((target.region.clone(), item)),
                })
                .collect();
            let batch = items_batch(
                schema,
                projection,
                2,
                &self.columns,
                &items,
                |(_, item)| *item,
                |index, (region, _)| match index {
                    0 => Cell::str(Some(&target.account.id)),
                    _ => Cell::str(Some(region)),
                },
            )
            .map_err(|e| CallError {
                operation: "build rows",
                code: None,
                message: e.to_string(),
            })?;
            Ok((batch, fetched.warnings))
        })
    }
}

/// An AWS table as DataFusion sees it.
pub struct AwsTable {
    def: Arc<dyn AwsTableDef>,
    context: Arc<AwsContext>,
    schema: SchemaRef,
}

impl fmt::Debug for AwsTable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AwsTable")
            .field("name", &self.def.name())
            .finish()
    }
}

impl AwsTable {
    /// One line saying what the table holds.
    pub fn description(&self) -> &'static str {
        self.def.description()
    }

    pub(crate) fn new(def: Arc<dyn AwsTableDef>, context: Arc<AwsContext>) -> Self {
        let schema = def.schema();
        Self {
            def,
            context,
            schema,
        }
    }

    /// Whether kq can use `filter` to prune accounts, regions or ids.
    fn usable(&self, filter: &Expr) -> bool {
        let Some((column, _)) = equality_set(filter) else {
            return false;
        };
        column == "account_id" || column == "region" || self.def.id_columns().contains(&column)
    }
}

#[async_trait]
impl TableProvider for AwsTable {
    fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }

    fn table_type(&self) -> TableType {
        TableType::Base
    }

    /// Filters only prune what kq asks AWS for; DataFusion re-checks every
    /// one (an API's id filter may match more loosely than SQL's `=`).
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
            .accounts()
            .await
            .map_err(|e| DataFusionError::External(Box::new(e)))?;
        let table = format!("aws.{}", self.def.name());
        for (source, kind, message) in &resolved.failed {
            self.context.failures.attempted_table(source, &table);
            self.context
                .failures
                .record(source, &table, Severity::Error, *kind, message.clone());
        }
        let accounts = &resolved.accounts;
        let schema = self.schema.clone();
        let projection: Vec<usize> = match projection {
            Some(p) => p.clone(),
            None => (0..schema.fields().len()).collect(),
        };
        let mut account_ids: Option<Vec<String>> = None;
        let mut region_names: Option<Vec<String>> = None;
        let mut request = Request::default();
        for filter in filters {
            let Some((column, values)) = equality_set(filter) else {
                continue;
            };
            match column {
                "account_id" => restrict(&mut account_ids, values),
                "region" => restrict(&mut region_names, values),
                _ => {
                    if let Some(&id) = self.def.id_columns().iter().find(|c| **c == column) {
                        let mut ids = request.ids.remove(id);
                        restrict(&mut ids, values);
                        request.ids.insert(id, ids.unwrap_or_default());
                    }
                }
            }
        }
        let names = self.def.column_names();
        request.projected = projection.iter().map(|&i| names[i]).collect();
        let mut jobs = Vec::new();
        // Contradictory filters (`id = 'a' AND id = 'b'`): nothing to ask.
        let contradictory = request.ids.values().any(Vec::is_empty)
            || account_ids.as_ref().is_some_and(Vec::is_empty)
            || region_names.as_ref().is_some_and(Vec::is_empty);
        for account in accounts.iter().filter(|_| !contradictory) {
            if let Some(ids) = &account_ids
                && !ids.contains(&account.id)
            {
                continue;
            }
            let allowed = |region: &String| {
                region_names
                    .as_ref()
                    .is_none_or(|names| names.contains(region))
            };
            match self.def.scope() {
                Scope::Regional => {
                    for region in account.regions.iter().filter(|r| allowed(r)) {
                        jobs.push(Job {
                            account: account.clone(),
                            region: region.clone(),
                            regions: vec![region.clone()],
                        });
                    }
                }
                Scope::Global => {
                    if allowed(&GLOBAL_REGION.to_string()) {
                        jobs.push(Job {
                            account: account.clone(),
                            region: GLOBAL_REGION.to_string(),
                            regions: vec![GLOBAL_REGION.to_string()],
                        });
                    }
                }
                Scope::PerAccount => {
                    let regions: Vec<String> = account
                        .regions
                        .iter()
                        .filter(|r| allowed(r))
                        .cloned()
                        .collect();
                    if !regions.is_empty() {
                        jobs.push(Job {
                            account: account.clone(),
                            region: account.home_region.clone(),
                            regions,
                        });
                    }
                }
            }
        }
        let projected = Arc::new(schema.project(&projection)?);
        let stream = AwsStream {
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

/// One (account, region) fetch of a scan.
#[derive(Clone)]
struct Job {
    account: Arc<Account>,
    /// The region called; the home region for global and per-account tables.
    region: String,
    /// The regions whose items become rows.
    regions: Vec<String>,
}

impl Job {
    /// The failure log's name for this fetch.
    fn source(&self, scope: Scope) -> String {
        // A per-account list (S3) is one global call, like IAM's.
        let region = match scope {
            Scope::Regional => self.region.as_str(),
            Scope::Global | Scope::PerAccount => GLOBAL_REGION,
        };
        format!("{AWS_SOURCE_PREFIX}{}/{region}", self.account.id)
    }
}

/// The scan's one partition: every job, concurrently, in a stable order.
struct AwsStream {
    def: Arc<dyn AwsTableDef>,
    context: Arc<AwsContext>,
    jobs: Arc<Vec<Job>>,
    request: Arc<Request>,
    projection: Arc<Vec<usize>>,
    schema: SchemaRef,
}

impl fmt::Debug for AwsStream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AwsFetch")
            .field("table", &self.def.name())
            .field("targets", &self.jobs.len())
            .field("ids", &self.request.ids)
            .finish()
    }
}

impl PartitionStream for AwsStream {
    fn schema(&self) -> &SchemaRef {
        &self.schema
    }

    fn execute(&self, _ctx: Arc<TaskContext>) -> SendableRecordBatchStream {
        let def = self.def.clone();
        let context = self.context.clone();
        let request = self.request.clone();
        let projection = self.projection.clone();
        let table = format!("aws.{}", def.name());
        let schema = self.schema.clone();
        let jobs = (0..self.jobs.len()).map({
            let jobs = self.jobs.clone();
            move |i| jobs[i].clone()
        });
        let batches = futures::stream::iter(jobs)
            .map(move |job| {
                let def = def.clone();
                let context = context.clone();
                let request = request.clone();
                let projection = projection.clone();
                let table = table.clone();
                let schema = schema.clone();
                async move {
                    let source = job.source(def.scope());
                    context.failures.attempted_table(&source, &table);
                    let target = Target {
                        account: &job.account,
                        config: job.account.config_for(&job.region),
                        region: job.region.clone(),
                        regions: &job.regions,
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
                                "some columns are NULL",
                                warnings,
                                |w| (w.operation, w.code.clone()),
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
            .buffered(TARGET_CONCURRENCY)
            .filter_map(|batch| async move { batch.map(Ok::<_, DataFusionError>) });
        Box::pin(RecordBatchStreamAdapter::new(self.schema.clone(), batches))
    }
}
