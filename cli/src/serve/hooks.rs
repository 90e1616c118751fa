//! What `kq serve` lets a statement do, and how a query runs.
//!
//! [`ReadOnly`] is an allow-list run before anything else: queries,
//! EXPLAIN, SHOW, transaction control and the session settings clients set
//! on connect pass; everything that would write, read server files or
//! change the shared session is refused with SQLSTATE 25006 (or 42501 for
//! `datafusion.*` settings). [`KqQuery`] runs queries through kq's engine
//! (kq's table checks and messages) with a deadline, a memory pool of its
//! own, and a watch on the client's socket; the rows are collected, so the
//! partial failures they met can be sent as NOTICEs before them.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use datafusion::arrow::array::RecordBatch;
use datafusion::arrow::datatypes::{DataType, SchemaRef};
use datafusion::common::ParamValues;
use datafusion::execution::memory_pool::{GreedyMemoryPool, MemoryConsumer, MemoryPool};
use datafusion::logical_expr::LogicalPlan;
use datafusion::prelude::SessionContext;
use datafusion::sql::sqlparser::ast::{Set, Statement};
use datafusion_postgres::QueryHook;
use datafusion_postgres::arrow_pg::datatypes::{arrow_schema_to_pg_fields, encode_recordbatch};
use datafusion_postgres::hooks::HookClient;
use futures::StreamExt;
use pgwire::api::ClientInfo;
use pgwire::api::portal::Format;
use pgwire::api::results::{QueryResponse, Response, Tag};
use pgwire::error::{ErrorInfo, PgWireError, PgWireResult};
use pgwire::messages::PgWireBackendMessage;
use pgwire::messages::response::NoticeResponse;
use pgwire::types::format::FormatOptions;

use kq_engine::EngineError;

use super::Shared;

/// A query's budget.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    pub timeout: Duration,
    pub memory: usize,
}

tokio::task_local! {
    /// The result format a Bind asked for (text or binary per column): the
    /// extended protocol's portal knows it, the hook API does not.
    pub static RESULT_FORMAT: Format;
}

pub(super) fn user_error(code: &str, message: impl Into<String>) -> PgWireError {
    PgWireError::UserError(Box::new(ErrorInfo::new(
        "ERROR".to_string(),
        code.to_string(),
        message.into(),
    )))
}

/// An error of kq's engine as the client sees it: kq's sentence, and the
/// SQLSTATE a Postgres server would send for the same mistake.
pub(super) fn engine_error(error: EngineError) -> PgWireError {
    let code = match &error {
        EngineError::Syntax(_) => "42601",
        EngineError::UnknownTable { .. } => "42P01",
        EngineError::Plan(message) if message.contains("No field named") => "42703",
        EngineError::Plan(message) if message.contains("not found") => "42P01",
        EngineError::Plan(_) => "42000",
        EngineError::Execution(message) if message.contains("Resources exhausted") => "53200",
        EngineError::Execution(_) | EngineError::Setup(_) => "XX000",
        // Reading or writing the report history's files.
        EngineError::History(_) => "58030",
    };
    user_error(code, error.to_string())
}

/// Session settings a client may change: they live in the connection's
/// metadata (datafusion-postgres's SET hook) and touch nothing shared.
const CLIENT_SETTINGS: &[&str] = &[
    "statement_timeout",
    "datestyle",
    "bytea_output",
    "intervalstyle",
    "application_name",
    "extra_float_digits",
    "search_path",
];

pub struct ReadOnly;

impl ReadOnly {
    /// `None` lets the statement go on down the hooks; `Some` answers it.
    fn verdict(statement: &Statement) -> Option<PgWireResult<Response>> {
        match statement {
            Statement::Query(_)
            | Statement::Explain { .. }
            | Statement::ExplainTable { .. }
            | Statement::ShowVariable { .. }
            | Statement::ShowVariables { .. }
            | Statement::ShowStatus { .. }
            | Statement::ShowTables { .. }
            | Statement::ShowColumns { .. }
            | Statement::ShowCatalogs { .. }
            | Statement::ShowSchemas { .. }
            | Statement::StartTransaction { .. }
            | Statement::Commit { .. }
            | Statement::Rollback { .. } => None,
            // SQL-level prepared statements: kq's query hook keeps them per
            // connection; only a query may be prepared.
            Statement::Prepare { statement, .. } => Self::verdict(statement).map(|_| {
                Err(user_error(
                    "25006",
                    "kq serve is read-only: only queries can be prepared",
                ))
            }),
            Statement::Execute { .. } | Statement::Deallocate { .. } => None,
            // Connection poolers reset sessions this way; there is no state to drop.
            Statement::Discard { .. } => Some(Ok(Response::Execution(Tag::new("DISCARD ALL")))),
            Statement::Set(set) => Self::set(set),
            Statement::Declare { .. } | Statement::Fetch { .. } | Statement::Close { .. } => {
                Some(Err(user_error(
                    "0A000",
                    "kq serve does not support cursors (DECLARE/FETCH); run the query itself",
                )))
            }
            other => Some(Err(user_error(
                "25006",
                format!(
                    "kq serve is read-only: {} is not allowed; it answers queries (SELECT, EXPLAIN, SHOW)",
                    statement_kind(other)
                ),
            ))),
        }
    }

    fn set(set: &Set) -> Option<PgWireResult<Response>> {
        match set {
            Set::SingleAssignment { variable, .. } => {
                let name = variable.to_string().to_lowercase();
                if CLIENT_SETTINGS.contains(&name.as_str()) {
                    None
                } else if name.starts_with("datafusion.") {
                    Some(Err(user_error(
                        "42501",
                        format!(
                            "kq serve shares one session among its clients: {name} cannot be changed here"
                        ),
                    )))
                } else {
                    // What drivers set on connect (client_encoding,
                    // standard_conforming_strings…) is what kq does anyway.
                    Some(Ok(Response::Execution(Tag::new("SET"))))
                }
            }
            Set::SetTimeZone { local: false, .. } => None,
            _ => Some(Ok(Response::Execution(Tag::new("SET")))),
        }
    }
}

/// The statement's leading keywords, for "CREATE TABLE is not allowed".
fn statement_kind(statement: &Statement) -> String {
    let text = statement.to_string();
    let words: Vec<&str> = text.split_whitespace().take(2).collect();
    match words.as_slice() {
        [first, second]
            if matches!(
                first.to_ascii_uppercase().as_str(),
                "CREATE" | "DROP" | "ALTER" | "TRUNCATE"
            ) =>
        {
            format!(
                "{} {}",
                first.to_ascii_uppercase(),
                second.to_ascii_uppercase()
            )
        }
        [first, ..] => first.to_ascii_uppercase(),
        [] => "this statement".to_string(),
    }
}

#[async_trait]
impl QueryHook for ReadOnly {
    async fn handle_simple_query(
        &self,
        statement: &Statement,
        _ctx: &SessionContext,
        _client: &mut dyn HookClient,
    ) -> Option<PgWireResult<Response>> {
        Self::verdict(statement)
    }

    async fn handle_extended_parse_query(
        &self,
        statement: &Statement,
        _ctx: &SessionContext,
        _client: &(dyn ClientInfo + Send + Sync),
    ) -> Option<PgWireResult<LogicalPlan>> {
        // Refused at Parse; an allowed SET or DISCARD is answered at Execute.
        match Self::verdict(statement) {
            Some(Err(error)) => Some(Err(error)),
            _ => None,
        }
    }

    async fn handle_extended_query(
        &self,
        statement: &Statement,
        _plan: &LogicalPlan,
        _params: &ParamValues,
        _ctx: &SessionContext,
        _client: &mut dyn HookClient,
    ) -> Option<PgWireResult<Response>> {
        Self::verdict(statement)
    }
}

/// `SHOW server_version` and the other server-wide settings, as kq states
/// them (datafusion-postgres answers the per-session ones).
pub struct ShowServerSettings;

#[async_trait]
impl QueryHook for ShowServerSettings {
    async fn handle_simple_query(
        &self,
        statement: &Statement,
        _ctx: &SessionContext,
        client: &mut dyn HookClient,
    ) -> Option<PgWireResult<Response>> {
        let Statement::ShowVariable { variable } = statement else {
            return None;
        };
        let name = variable
            .iter()
            .map(|part| part.value.to_lowercase())
            .collect::<Vec<_>>()
            .join(" ");
        if CLIENT_SETTINGS.contains(&name.as_str()) || name == "time zone" {
            return None;
        }
        let value = super::settings::setting(&name)?;
        Some(text_response(&name, value, client))
    }

    async fn handle_extended_parse_query(
        &self,
        _statement: &Statement,
        _ctx: &SessionContext,
        _client: &(dyn ClientInfo + Send + Sync),
    ) -> Option<PgWireResult<LogicalPlan>> {
        None
    }

    async fn handle_extended_query(
        &self,
        statement: &Statement,
        _plan: &LogicalPlan,
        _params: &ParamValues,
        ctx: &SessionContext,
        client: &mut dyn HookClient,
    ) -> Option<PgWireResult<Response>> {
        self.handle_simple_query(statement, ctx, client).await
    }
}

/// Runs queries (and EXPLAIN) through kq's engine.
pub struct KqQuery {
    pub shared: Arc<Shared>,
}

fn is_query(statement: &Statement) -> bool {
    matches!(statement, Statement::Query(_) | Statement::Explain { .. })
}

#[async_trait]
impl QueryHook for KqQuery {
    async fn handle_simple_query(
        &self,
        statement: &Statement,
        _ctx: &SessionContext,
        client: &mut dyn HookClient,
    ) -> Option<PgWireResult<Response>> {
        match statement {
            Statement::Prepare { .. } => Some(self.prepare(statement, client).await),
            Statement::Execute {
                name: Some(name),
                parameters,
                ..
            } => Some(self.execute(&name.to_string(), parameters, client).await),
            Statement::Deallocate { name, .. } => {
                let prepared = client
                    .session_extensions()
                    .get_or_insert_with(Prepared::default);
                let mut plans = prepared.lock();
                if name.value.eq_ignore_ascii_case("all") {
                    plans.clear();
                } else if plans.remove(&name.value).is_none() {
                    return Some(Err(user_error(
                        "26000",
                        format!("prepared statement \"{}\" does not exist", name.value),
                    )));
                }
                Some(Ok(Response::Execution(Tag::new("DEALLOCATE"))))
            }
            statement if is_query(statement) => {
                let planned = self.plan(statement).await;
                Some(match planned {
                    Ok(plan) => self.run(plan, client, &Format::UnifiedText).await,
                    Err(error) => Err(error),
                })
            }
            _ => None,
        }
    }

    async fn handle_extended_parse_query(
        &self,
        statement: &Statement,
        _ctx: &SessionContext,
        _client: &(dyn ClientInfo + Send + Sync),
    ) -> Option<PgWireResult<LogicalPlan>> {
        if matches!(
            statement,
            Statement::Prepare { .. } | Statement::Execute { .. } | Statement::Deallocate { .. }
        ) {
            return Some(Err(user_error(
                "0A000",
                "PREPARE and EXECUTE are for simple queries; the extended protocol prepares statements itself",
            )));
        }
        if !is_query(statement) {
            return None;
        }
        Some(self.plan(statement).await)
    }

    async fn handle_extended_query(
        &self,
        statement: &Statement,
        plan: &LogicalPlan,
        params: &ParamValues,
        _ctx: &SessionContext,
        client: &mut dyn HookClient,
    ) -> Option<PgWireResult<Response>> {
        if !is_query(statement) {
            return None;
        }
        let bound = match plan.clone().replace_params_with_values(params) {
            Ok(plan) => plan,
            Err(e) => return Some(Err(user_error("22023", kq_engine::clean_message(&e)))),
        };
        let format = RESULT_FORMAT
            .try_with(Clone::clone)
            .unwrap_or(Format::UnifiedText);
        Some(self.run(bound, client, &format).await)
    }
}

/// A connection's SQL-level prepared statements (PREPARE name AS …), by
/// name: kept with the connection, never in the shared session.
#[derive(Default)]
struct Prepared(std::sync::Mutex<std::collections::HashMap<String, Arc<LogicalPlan>>>);

impl Prepared {
    fn lock(
        &self,
    ) -> std::sync::MutexGuard<'_, std::collections::HashMap<String, Arc<LogicalPlan>>> {
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// A one-row, one-column text result (`SHOW name`).
fn text_response(name: &str, value: &str, client: &dyn HookClient) -> PgWireResult<Response> {
    use datafusion::arrow::array::StringArray;
    use datafusion::arrow::datatypes::{Field, Schema};
    let schema = Arc::new(Schema::new(vec![Field::new(name, DataType::Utf8, false)]));
    let batch = RecordBatch::try_new(
        schema.clone(),
        vec![Arc::new(StringArray::from(vec![value.to_string()]))],
    )
    .map_err(|e| user_error("XX000", e.to_string()))?;
    respond(schema, vec![batch], client, &Format::UnifiedText)
}

/// Rows in the client's format.
fn respond(
    schema: SchemaRef,
    batches: Vec<RecordBatch>,
    client: &dyn HookClient,
    format: &Format,
) -> PgWireResult<Response> {
    let options = Arc::new(FormatOptions::from_client_metadata(client.metadata()));
    let fields = Arc::new(arrow_schema_to_pg_fields(&schema, format, Some(options))?);
    let row_fields = fields.clone();
    let rows = futures::stream::iter(batches).flat_map(move |batch| {
        futures::stream::iter(encode_recordbatch(row_fields.clone(), batch))
    });
    Ok(Response::Query(QueryResponse::new(fields, rows)))
}

impl KqQuery {
    /// PREPARE name [(types)] AS query: planned now, kept per connection.
    async fn prepare(
        &self,
        statement: &Statement,
        client: &mut dyn HookClient,
    ) -> PgWireResult<Response> {
        let Statement::Prepare { name, .. } = statement else {
            return Err(user_error("XX000", "not a PREPARE statement"));
        };
        let plan = self.plan(statement).await?;
        let LogicalPlan::Statement(datafusion::logical_expr::Statement::Prepare(prepared)) = plan
        else {
            return Err(user_error(
                "XX000",
                "PREPARE did not plan as a prepared statement",
            ));
        };
        let statements = client
            .session_extensions()
            .get_or_insert_with(Prepared::default);
        let mut plans = statements.lock();
        if plans.contains_key(&name.value) {
            return Err(user_error(
                "42P05",
                format!("prepared statement \"{}\" already exists", name.value),
            ));
        }
        plans.insert(name.value.clone(), prepared.input);
        Ok(Response::Execution(Tag::new("PREPARE")))
    }

    /// EXECUTE name (values): the prepared plan with its parameters bound.
    async fn execute(
        &self,
        name: &str,
        parameters: &[datafusion::sql::sqlparser::ast::Expr],
        client: &mut dyn HookClient,
    ) -> PgWireResult<Response> {
        let plan = client
            .session_extensions()
            .get_or_insert_with(Prepared::default)
            .lock()
            .get(name)
            .cloned()
            .ok_or_else(|| {
                user_error(
                    "26000",
                    format!("prepared statement \"{name}\" does not exist"),
                )
            })?;
        let values = self.evaluate(parameters).await?;
        let bound = plan
            .as_ref()
            .clone()
            .replace_params_with_values(&ParamValues::from(values))
            .map_err(|e| user_error("22023", kq_engine::clean_message(&e)))?;
        self.run(bound, client, &Format::UnifiedText).await
    }

    /// EXECUTE's parameters (literals, maybe cast) as values: one
    /// `SELECT` of them all.
    async fn evaluate(
        &self,
        expressions: &[datafusion::sql::sqlparser::ast::Expr],
    ) -> PgWireResult<Vec<datafusion::common::ScalarValue>> {
        if expressions.is_empty() {
            return Ok(Vec::new());
        }
        let list = expressions
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(", ");
        let invalid = |e: datafusion::error::DataFusionError| {
            user_error("22023", kq_engine::clean_message(&e))
        };
        let batches = self
            .shared
            .session
            .engine
            .session_context()
            .sql(&format!("SELECT {list}"))
            .await
            .map_err(invalid)?
            .collect()
            .await
            .map_err(invalid)?;
        let batch = batches
            .first()
            .filter(|batch| batch.num_rows() == 1)
            .ok_or_else(|| {
                user_error(
                    "22023",
                    format!("EXECUTE parameters ({list}) are not values"),
                )
            })?;
        batch
            .columns()
            .iter()
            .map(|column| {
                datafusion::common::ScalarValue::try_from_array(column, 0).map_err(invalid)
            })
            .collect()
    }

    async fn plan(&self, statement: &Statement) -> PgWireResult<LogicalPlan> {
        let statement = datafusion::sql::parser::Statement::Statement(Box::new(statement.clone()));
        self.shared
            .session
            .engine
            .plan_statement(statement)
            .await
            .map_err(engine_error)
    }

    /// Runs a planned query within its budget, then answers with its rows,
    /// after a NOTICE for each partial failure they met.
    async fn run(
        &self,
        plan: LogicalPlan,
        client: &mut dyn HookClient,
        format: &Format,
    ) -> PgWireResult<Response> {
        let engine = &self.shared.session.engine;
        let limits = self.shared.limits;
        let timeout = match datafusion_statement_timeout(client) {
            Some(asked) if asked < limits.timeout => asked,
            _ => limits.timeout,
        };
        let probe = self.shared.probes.get(&client.socket_addr());
        let mark = engine.failures().mark();
        let collected = tokio::select! {
            collected = tokio::time::timeout(timeout, collect(engine, plan, limits.memory)) => match collected {
                Ok(collected) => collected?,
                Err(_) => return Err(user_error(
                    "57014",
                    format!("canceling statement due to statement timeout ({})", humantime::format_duration(timeout)),
                )),
            },
            // The client hung up: dropping the query stops its work.
            _ = hung_up(probe) => {
                eprintln!(
                    "kq serve: client {} hung up during a query; the query was stopped",
                    client.socket_addr()
                );
                return Err(user_error("08006", "the client closed the connection"));
            }
        };
        for failure in engine.failures().since(mark) {
            if failure.severity == kq_providers::failures::Severity::Info {
                continue;
            }
            let mut notice = ErrorInfo::new(
                "NOTICE".to_string(),
                "01000".to_string(),
                crate::print::failure_sentence(&failure),
            );
            notice.hint =
                Some("SELECT * FROM kq_errors lists the session's partial failures".to_string());
            client
                .send_message(PgWireBackendMessage::NoticeResponse(NoticeResponse::from(
                    notice,
                )))
                .await?;
        }
        if crate::exec::every_cluster_failed(engine, mark) {
            return Err(user_error(
                "58000",
                format!(
                    "no cluster could be read ({}); see the notices above",
                    engine.failures().attempted_since(mark).join(", ")
                ),
            ));
        }
        let (schema, batches) = collected;
        respond(schema, batches, client, format)
    }
}

/// A client's `SET statement_timeout`, as datafusion-postgres keeps it.
fn datafusion_statement_timeout(client: &dyn HookClient) -> Option<Duration> {
    client
        .metadata()
        .get("statement_timeout_ms")
        .and_then(|ms| ms.parse::<u64>().ok())
        .filter(|ms| *ms > 0)
        .map(Duration::from_millis)
}

/// Runs the plan to the end in a memory pool of its own; the collected
/// rows are charged to the same pool.
async fn collect(
    engine: &kq_engine::Engine,
    plan: LogicalPlan,
    memory: usize,
) -> PgWireResult<(SchemaRef, Vec<RecordBatch>)> {
    let pool: Arc<dyn MemoryPool> = Arc::new(GreedyMemoryPool::new(memory));
    let output = engine
        .execute_plan_in_pool(plan, pool.clone())
        .await
        .map_err(engine_error)?;
    let result = MemoryConsumer::new("kq serve result").register(&pool);
    let mut stream = output.stream;
    let mut batches = Vec::new();
    while let Some(batch) = stream.next().await {
        let batch = batch
            .map_err(|e| engine_error(EngineError::Execution(kq_engine::clean_message(&e))))?;
        if result.try_grow(batch.get_array_memory_size()).is_err() {
            return Err(user_error(
                "53200",
                format!(
                    "the result is larger than --query-memory ({} bytes); select fewer columns, add a WHERE or a LIMIT",
                    memory
                ),
            ));
        }
        batches.push(batch);
    }
    Ok((output.schema, batches))
}

/// Resolves when the client's socket reports that the peer hung up;
/// never when there is no probe.
async fn hung_up(probe: Option<Arc<tokio::net::TcpStream>>) {
    let Some(probe) = probe else {
        return std::future::pending().await;
    };
    loop {
        match probe.ready(tokio::io::Interest::READABLE).await {
            Ok(ready) if ready.is_read_closed() => return,
            // Readable: the client sent more (a pipelined message) that
            // pgwire will read later; look again in a while.
            Ok(_) => tokio::time::sleep(Duration::from_millis(200)).await,
            Err(_) => return,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::sql::sqlparser::dialect::PostgreSqlDialect;
    use datafusion::sql::sqlparser::parser::Parser;

    fn verdict(sql: &str) -> Result<Option<String>, (String, String)> {
        let statement = Parser::parse_sql(&PostgreSqlDialect {}, sql)
            .expect("parses")
            .remove(0);
        match ReadOnly::verdict(&statement) {
            None => Ok(None),
            Some(Ok(_)) => Ok(Some("answered".to_string())),
            Some(Err(PgWireError::UserError(info))) => {
                Err((info.code.clone(), info.message.clone()))
            }
            Some(Err(other)) => panic!("{sql}: {other}"),
        }
    }

    #[test]
    fn queries_and_client_settings_pass() {
        for sql in [
            "SELECT 1",
            "WITH x AS (SELECT 1) SELECT * FROM x",
            "EXPLAIN SELECT 1",
            "SHOW server_version",
            "BEGIN",
            "COMMIT",
            "SET application_name = 'grafana'",
            "SET statement_timeout = '5s'",
            "SET TIME ZONE 'UTC'",
        ] {
            assert_eq!(verdict(sql), Ok(None), "{sql}");
        }
        for sql in ["SET client_encoding = 'UTF8'", "DISCARD ALL"] {
            assert_eq!(verdict(sql), Ok(Some("answered".to_string())), "{sql}");
        }
    }

    #[test]
    fn writes_and_shared_settings_are_refused() {
        for (sql, code, words) in [
            (
                "CREATE TABLE t (a INT)",
                "25006",
                "CREATE TABLE is not allowed",
            ),
            (
                "CREATE VIEW v AS SELECT 1",
                "25006",
                "CREATE VIEW is not allowed",
            ),
            ("DROP TABLE pods", "25006", "DROP TABLE is not allowed"),
            ("INSERT INTO t VALUES (1)", "25006", "INSERT is not allowed"),
            ("DELETE FROM pods", "25006", "DELETE is not allowed"),
            ("COPY pods TO '/tmp/x'", "25006", "COPY is not allowed"),
            (
                "SET datafusion.execution.batch_size = 1",
                "42501",
                "cannot be changed",
            ),
            ("DECLARE c CURSOR FOR SELECT 1", "0A000", "cursors"),
        ] {
            let (got_code, message) = verdict(sql).expect_err(sql);
            assert_eq!(got_code, code, "{sql}: {message}");
            assert!(message.contains(words), "{sql}: {message}");
        }
    }
}
