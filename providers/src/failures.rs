//! The session's record of partial failures, also queryable as `kq_errors`.
//!
//! A failing cluster (or, later, cloud account) never hides the others'
//! rows, so its failure has to go somewhere a user will see it: the CLI
//! prints new records after each query and `SELECT * FROM kq_errors` shows
//! them all.

use std::sync::{Arc, Mutex, MutexGuard};

use arrow::array::{ArrayRef, StringBuilder, TimestampMicrosecondBuilder};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use arrow::record_batch::RecordBatch;
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use datafusion::catalog::Session;
use datafusion::datasource::{MemTable, TableProvider, TableType};
use datafusion::error::Result as DfResult;
use datafusion::logical_expr::Expr;
use datafusion::physical_plan::ExecutionPlan;

/// Sources of AWS failures are `aws:ACCOUNT/REGION` (or `aws:profile/NAME`
/// before the account is known); every other source is a cluster.
pub const AWS_SOURCE_PREFIX: &str = "aws:";
/// Sources of GCP failures are `gcp:PROJECT`.
pub const GCP_SOURCE_PREFIX: &str = "gcp:";
/// Sources of Azure failures are `azure:SUBSCRIPTION_ID`.
pub const AZURE_SOURCE_PREFIX: &str = "azure:";

/// What kind of source a failure's source is, and its name within that
/// kind: `("cluster", "prod")` or `("aws", "123456789012/us-east-1")`.
pub fn source_kind(source: &str) -> (&'static str, &str) {
    if let Some(account) = source.strip_prefix(AWS_SOURCE_PREFIX) {
        ("aws", account)
    } else if let Some(project) = source.strip_prefix(GCP_SOURCE_PREFIX) {
        ("gcp", project)
    } else if let Some(subscription) = source.strip_prefix(AZURE_SOURCE_PREFIX) {
        ("azure", subscription)
    } else {
        ("cluster", source)
    }
}

/// How bad a recorded failure is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Severity {
    /// Rows are missing (a cluster or table could not be read).
    Error,
    /// Rows are complete for what could be read, but coverage was reduced
    /// (e.g. a 403 fell back to the readable namespaces).
    Warning,
    /// Rows are complete; something worth knowing happened on the way (a
    /// selector the server rejected was evaluated by kq instead). Kept in
    /// `kq_errors`, not printed: the answer is the same as without it.
    Info,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Error => "error",
            Severity::Warning => "warning",
            Severity::Info => "info",
        }
    }
}

/// What kind of failure a record is, for scripts reading `kq_errors.kind`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FailureKind {
    /// The server's certificate was not trusted, or TLS could not be set up.
    Tls,
    /// Credentials were rejected (401) or could not be produced (exec plugin, token file).
    Auth,
    /// The server refused the request (403).
    Forbidden,
    /// No connection: refused, reset, DNS, proxy.
    Unreachable,
    /// No answer within `--timeout`.
    Timeout,
    /// The server answered with an error (5xx, 429 after retries, an unexpected status).
    Server,
    /// A selector the server does not support (kq evaluated it itself).
    Selector,
    /// An answer kq could not decode.
    Decode,
    /// The kubeconfig or other local configuration is unusable for this source.
    Config,
    /// A manifest file held something that is not a readable Kubernetes object.
    Manifest,
}

impl FailureKind {
    pub fn as_str(self) -> &'static str {
        match self {
            FailureKind::Tls => "tls",
            FailureKind::Auth => "auth",
            FailureKind::Forbidden => "forbidden",
            FailureKind::Unreachable => "unreachable",
            FailureKind::Timeout => "timeout",
            FailureKind::Server => "server",
            FailureKind::Selector => "selector",
            FailureKind::Decode => "decode",
            FailureKind::Config => "config",
            FailureKind::Manifest => "manifest",
        }
    }
}

/// One failure: which source, which table, what happened, when.
#[derive(Clone, Debug)]
pub struct FailureRecord {
    /// The cluster (kubeconfig context) or account the failure belongs to.
    pub source: String,
    pub table: String,
    pub severity: Severity,
    pub kind: FailureKind,
    pub message: String,
    pub time: DateTime<Utc>,
}

#[derive(Default)]
struct Inner {
    records: Vec<FailureRecord>,
    /// Sources asked for data, with the table when a source's tables fail
    /// independently (an AWS account/region denied one service only).
    attempted: Vec<(String, Option<String>)>,
}

/// Shared, append-only failure log of one session.
#[derive(Clone, Default)]
pub struct FailureLog {
    inner: Arc<Mutex<Inner>>,
}

/// A position in the log, to ask what happened since.
#[derive(Clone, Copy, Debug, Default)]
pub struct Mark {
    records: usize,
    attempted: usize,
}

impl FailureLog {
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panic elsewhere must not make failures unreportable.
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn record(
        &self,
        source: &str,
        table: &str,
        severity: Severity,
        kind: FailureKind,
        message: String,
    ) {
        self.lock().records.push(FailureRecord {
            source: source.to_string(),
            table: table.to_string(),
            severity,
            kind,
            message,
            time: Utc::now(),
        });
    }

    /// Notes that a source was asked for data, so callers can tell
    /// "every source failed" from "some did".
    pub fn attempted(&self, source: &str) {
        self.lock().attempted.push((source.to_string(), None));
    }

    /// Like [`attempted`](Self::attempted) for a source whose tables fail
    /// independently: only an error of this table counts against it.
    pub fn attempted_table(&self, source: &str, table: &str) {
        self.lock()
            .attempted
            .push((source.to_string(), Some(table.to_string())));
    }

    /// Whether something was asked after `mark` and every attempt failed
    /// (no rows at all could be read).
    pub fn every_attempt_failed_since(&self, mark: Mark) -> bool {
        let inner = self.lock();
        let records = &inner.records[mark.records..];
        let attempted = &inner.attempted[mark.attempted..];
        !attempted.is_empty()
            && attempted.iter().all(|(source, table)| {
                records.iter().any(|r| {
                    r.severity == Severity::Error
                        && &r.source == source
                        && table.as_ref().is_none_or(|t| &r.table == t)
                })
            })
    }

    pub fn mark(&self) -> Mark {
        let inner = self.lock();
        Mark {
            records: inner.records.len(),
            attempted: inner.attempted.len(),
        }
    }

    /// Records added after `mark`.
    pub fn since(&self, mark: Mark) -> Vec<FailureRecord> {
        self.lock().records[mark.records..].to_vec()
    }

    /// Distinct sources attempted after `mark`.
    pub fn attempted_since(&self, mark: Mark) -> Vec<String> {
        let inner = self.lock();
        let mut sources: Vec<String> = inner.attempted[mark.attempted..]
            .iter()
            .map(|(source, _)| source.clone())
            .collect();
        sources.sort();
        sources.dedup();
        sources
    }

    pub fn all(&self) -> Vec<FailureRecord> {
        self.lock().records.clone()
    }

    fn schema() -> SchemaRef {
        let field = |name: &str, data_type: DataType, nullable: bool, description: &str| {
            Field::new(name, data_type, nullable).with_metadata(
                [("description".to_string(), description.to_string())]
                    .into_iter()
                    .collect(),
            )
        };
        Arc::new(Schema::new(vec![
            field(
                "cluster",
                DataType::Utf8,
                false,
                "Cluster (kubeconfig context) or account that failed",
            ),
            field("table", DataType::Utf8, false, "Table being read"),
            field(
                "severity",
                DataType::Utf8,
                false,
                "error (rows missing), warning (reduced coverage) or info (rows complete)",
            ),
            field(
                "kind",
                DataType::Utf8,
                false,
                "tls, auth, forbidden, unreachable, timeout, server, selector, decode or config",
            ),
            field("error", DataType::Utf8, false, "What went wrong"),
            field(
                "time",
                DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
                false,
                "When it happened",
            ),
        ]))
    }

    fn batch(&self) -> DfResult<RecordBatch> {
        let records = self.all();
        let mut cluster = StringBuilder::new();
        let mut table = StringBuilder::new();
        let mut severity = StringBuilder::new();
        let mut kind = StringBuilder::new();
        let mut error = StringBuilder::new();
        let mut time = TimestampMicrosecondBuilder::new().with_timezone("UTC");
        for r in &records {
            cluster.append_value(&r.source);
            table.append_value(&r.table);
            severity.append_value(r.severity.as_str());
            kind.append_value(r.kind.as_str());
            error.append_value(&r.message);
            time.append_value(r.time.timestamp_micros());
        }
        let columns: Vec<ArrayRef> = vec![
            Arc::new(cluster.finish()),
            Arc::new(table.finish()),
            Arc::new(severity.finish()),
            Arc::new(kind.finish()),
            Arc::new(error.finish()),
            Arc::new(time.finish()),
        ];
        Ok(RecordBatch::try_new(Self::schema(), columns)?)
    }
}

/// `kq_errors`: the failure log as a table, read at scan time.
#[derive(Clone)]
pub struct FailureTable {
    log: FailureLog,
}

impl FailureTable {
    pub fn new(log: FailureLog) -> Self {
        Self { log }
    }
}

impl std::fmt::Debug for FailureTable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("FailureTable")
    }
}

#[async_trait]
impl TableProvider for FailureTable {
    fn schema(&self) -> SchemaRef {
        FailureLog::schema()
    }

    fn table_type(&self) -> TableType {
        TableType::View
    }

    async fn scan(
        &self,
        state: &dyn Session,
        projection: Option<&Vec<usize>>,
        filters: &[Expr],
        limit: Option<usize>,
    ) -> DfResult<Arc<dyn ExecutionPlan>> {
        let snapshot = MemTable::try_new(self.schema(), vec![vec![self.log.batch()?]])?;
        snapshot.scan(state, projection, filters, limit).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn marks_separate_queries() {
        let log = FailureLog::new();
        log.attempted("a");
        log.record(
            "a",
            "pods",
            Severity::Error,
            FailureKind::Server,
            "boom".into(),
        );
        let mark = log.mark();
        assert!(log.since(mark).is_empty());
        log.attempted("b");
        log.attempted("b");
        log.record(
            "b",
            "pods",
            Severity::Warning,
            FailureKind::Forbidden,
            "partial".into(),
        );
        assert_eq!(log.since(mark).len(), 1);
        assert_eq!(log.attempted_since(mark), ["b"]);
        assert_eq!(log.batch().unwrap().num_rows(), 2);
        assert!(!log.every_attempt_failed_since(mark));
    }

    #[test]
    fn a_source_failing_one_table_still_answered_another() {
        let log = FailureLog::new();
        let mark = log.mark();
        log.attempted_table("aws:1/r", "aws.a");
        log.attempted_table("aws:1/r", "aws.b");
        log.record(
            "aws:1/r",
            "aws.b",
            Severity::Error,
            FailureKind::Forbidden,
            "denied".into(),
        );
        assert!(!log.every_attempt_failed_since(mark));
        log.record(
            "aws:1/r",
            "aws.a",
            Severity::Error,
            FailureKind::Forbidden,
            "denied".into(),
        );
        assert!(log.every_attempt_failed_since(mark));
    }
}
