//! kq-engine: builds the DataFusion session kq queries run in.
//!
//! The engine knows about sources only through DataFusion's catalog
//! traits: the Kubernetes provider is the default schema, later providers
//! (AWS, manifests) register their own schemas. It adds kq's SQL functions
//! and the JSON functions, and turns planning failures into one clear
//! sentence a user can act on.

pub mod diff;
#[cfg(feature = "ballista")]
pub mod distributed;
pub mod drift;
pub mod functions;
pub mod history;
pub mod report;
pub mod snapshot;
pub mod views;

use std::collections::VecDeque;
use std::sync::Arc;

use datafusion::arrow::datatypes::SchemaRef;
use datafusion::catalog::{CatalogProvider, MemoryCatalogProvider, SchemaProvider};
use datafusion::common::TableReference;
use datafusion::error::DataFusionError;
use datafusion::execution::SendableRecordBatchStream;
use datafusion::logical_expr::LogicalPlan;
use datafusion::prelude::{SessionConfig, SessionContext};
use datafusion::sql::parser::{DFParser, Statement};

use kq_providers::failures::FailureLog;
use kq_providers::kubernetes::KubeSchema;

/// The catalog and schema kq registers its tables under.
pub const CATALOG: &str = "kq";
pub const DEFAULT_SCHEMA: &str = "public";

#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error("SQL syntax error: {0}")]
    Syntax(String),
    #[error("unknown table '{name}'{hint}")]
    UnknownTable { name: String, hint: String },
    #[error("{0}")]
    Plan(String),
    #[error("query failed: {0}")]
    Execution(String),
    #[error("cannot set up the session: {0}")]
    Setup(String),
    #[error(transparent)]
    History(#[from] history::HistoryError),
}

/// kq's SQL functions and the JSON functions, in every session that plans
/// or runs kq's SQL (a Ballista scheduler and executor included).
fn register_functions(ctx: &mut SessionContext) -> Result<(), DataFusionError> {
    datafusion_functions_json::register_all(ctx)?;
    for udf in functions::kq_functions() {
        ctx.register_udf(udf);
    }
    Ok(())
}

/// One statement's result, streaming.
pub struct QueryOutput {
    pub schema: SchemaRef,
    pub stream: SendableRecordBatchStream,
}

/// A kq session: DataFusion context plus the sources behind it.
pub struct Engine {
    ctx: SessionContext,
    kube: Arc<KubeSchema>,
    failures: FailureLog,
    /// Other providers' schemas (`aws`, `snapshots`), by name.
    extra: Vec<(String, Arc<dyn SchemaProvider>)>,
    /// The schema unqualified names resolve in (`public` unless offline).
    default_schema: String,
    /// The Ballista scheduler queries run on (see [`distributed`]).
    #[cfg_attr(not(feature = "ballista"), allow(dead_code))]
    distributed: Option<String>,
}

impl Engine {
    /// A session over the given Kubernetes schema; `extra_schemas` are
    /// further providers' schemas (e.g. `aws`).
    pub fn new(
        kube: KubeSchema,
        failures: FailureLog,
        extra_schemas: Vec<(String, Arc<dyn SchemaProvider>)>,
    ) -> Result<Self, EngineError> {
        // No cache of directory listings: a long-lived session (the REPL,
        // kq serve) must see the report runs and files written after it
        // started. DataFusion's default cache never expires.
        let runtime = datafusion::execution::runtime_env::RuntimeEnvBuilder::new()
            .with_cache_manager(
                datafusion::execution::cache::cache_manager::CacheManagerConfig::default()
                    .with_list_files_cache_limit(0),
            )
            .build_arc()
            .map_err(|e| EngineError::Setup(e.to_string()))?;
        Self::with_runtime(kube, failures, extra_schemas, runtime)
    }

    fn with_runtime(
        kube: KubeSchema,
        failures: FailureLog,
        extra_schemas: Vec<(String, Arc<dyn SchemaProvider>)>,
        runtime: Arc<datafusion::execution::runtime_env::RuntimeEnv>,
    ) -> Result<Self, EngineError> {
        let config = SessionConfig::new()
            .with_information_schema(true)
            .with_default_catalog_and_schema(CATALOG, DEFAULT_SCHEMA)
            .with_create_default_catalog_and_schema(false);
        let mut ctx = SessionContext::new_with_config_rt(config, runtime);
        let kube = Arc::new(kube);
        let catalog = MemoryCatalogProvider::new();
        catalog
            .register_schema(DEFAULT_SCHEMA, kube.clone())
            .map_err(|e| EngineError::Setup(e.to_string()))?;
        for (name, schema) in &extra_schemas {
            catalog
                .register_schema(name, schema.clone())
                .map_err(|e| EngineError::Setup(e.to_string()))?;
        }
        if kube.reads_manifests() {
            let drift = drift::DriftTable::new(
                kube.declared_kinds(),
                kube.live_cluster_names(),
                failures.clone(),
            );
            kube.register_table(drift::DRIFT_TABLE.to_string(), Arc::new(drift))
                .map_err(|e| EngineError::Setup(e.to_string()))?;
        }
        ctx.register_catalog(CATALOG, Arc::new(catalog));
        register_functions(&mut ctx).map_err(|e| EngineError::Setup(e.to_string()))?;
        Ok(Self {
            ctx,
            kube,
            failures,
            extra: extra_schemas,
            default_schema: DEFAULT_SCHEMA.to_string(),
            distributed: None,
        })
    }

    /// This session without its manifests: the same clusters, caches,
    /// failure log, other schemas and object stores, and the built-in
    /// views planned again over live rows only. Controls that judge live
    /// state run here, so a manifest set is never one more fleet member
    /// and a set named like a context never hides that context's rows.
    pub async fn without_manifests(&self) -> Result<Engine, EngineError> {
        let engine = Engine::with_runtime(
            self.kube.without_manifests(),
            self.failures.clone(),
            self.extra.clone(),
            self.ctx.runtime_env(),
        )?
        .with_default_schema(&self.default_schema)?;
        engine.install_views().await?;
        Ok(engine)
    }

    /// Lets queries read files at a snapshot location (S3 needs this).
    pub fn register_location(&self, location: &snapshot::Location) {
        location.register(&self.ctx);
    }

    /// Resolves unqualified table names in another registered schema
    /// (`snapshots` when kq reads only snapshots).
    pub fn with_default_schema(mut self, name: &str) -> Result<Self, EngineError> {
        if name != DEFAULT_SCHEMA && !self.extra.iter().any(|(s, _)| s == name) {
            return Err(EngineError::Setup(format!("no schema named {name}")));
        }
        self.ctx
            .state_ref()
            .write()
            .config_mut()
            .options_mut()
            .catalog
            .default_schema = name.to_string();
        self.default_schema = name.to_string();
        Ok(self)
    }

    /// The provider of the schema unqualified names resolve in.
    fn default_schema_provider(&self) -> Option<Arc<dyn SchemaProvider>> {
        if self.default_schema == DEFAULT_SCHEMA {
            return Some(self.kube.clone());
        }
        self.extra
            .iter()
            .find(|(s, _)| *s == self.default_schema)
            .map(|(_, provider)| provider.clone())
    }

    /// Defines kq's built-in views (see [`views`]) in the default schema.
    /// Planning a view reads only the tables' schemas, so this sends no
    /// request to any cluster. The view is registered directly rather than
    /// through `CREATE VIEW`, which would first look the new name up in the
    /// schema and so run discovery against every cluster at start-up.
    ///
    /// Over snapshots, a view whose tables were not snapshotted is left
    /// out (the query naming it gets "unknown table"), never planned over
    /// the empty live tables.
    pub async fn install_views(&self) -> Result<(), EngineError> {
        let Some(target) = self.default_schema_provider() else {
            return Ok(());
        };
        for views::View { name, sql, .. } in views::builtin_views() {
            let setup = |e: DataFusionError| {
                EngineError::Setup(format!("view {name}: {}", clean_message(&e)))
            };
            let plan = match self.ctx.sql(&sql).await {
                Ok(frame) => frame.into_unoptimized_plan(),
                Err(_) if self.default_schema != DEFAULT_SCHEMA => continue,
                Err(e) => return Err(setup(e)),
            };
            let view = datafusion::datasource::ViewTable::new(plan, Some(sql));
            target
                .register_table(name.to_string(), Arc::new(view))
                .map_err(setup)?;
        }
        Ok(())
    }

    /// Registers `kq_history` and `kq_runs` over the report history under
    /// `out` (a `kq report --out` directory) in the default schema.
    pub fn register_report_history(&self, out: &std::path::Path) -> Result<(), EngineError> {
        let target = self
            .default_schema_provider()
            .unwrap_or_else(|| self.kube.clone());
        let tables = history::tables(out)?;
        for (name, table) in tables {
            target
                .register_table(name.to_string(), table)
                .map_err(|e| EngineError::Setup(format!("table {name}: {}", clean_message(&e))))?;
        }
        Ok(())
    }

    pub fn failures(&self) -> &FailureLog {
        &self.failures
    }

    pub fn kube(&self) -> &KubeSchema {
        &self.kube
    }

    /// The Kubernetes schema, shareable with background tasks.
    pub fn kube_schema(&self) -> Arc<KubeSchema> {
        self.kube.clone()
    }

    /// Every table name, discovered resources included; other schemas'
    /// tables qualified (`aws.ec2_instances`).
    pub async fn table_names(&self) -> Vec<String> {
        let mut names = Vec::new();
        if self.default_schema == DEFAULT_SCHEMA {
            self.kube.discover().await;
            names = self.kube.table_names();
        }
        for (schema, provider) in &self.extra {
            if *schema == self.default_schema {
                names.extend(provider.table_names());
                continue;
            }
            names.extend(
                provider
                    .table_names()
                    .into_iter()
                    .map(|table| format!("{schema}.{table}")),
            );
        }
        names
    }

    /// The table a name resolves to: a Kubernetes table, or `schema.table`.
    pub async fn table(
        &self,
        name: &str,
    ) -> Option<Arc<dyn datafusion::datasource::TableProvider>> {
        if let Some((schema, table)) = name.split_once('.')
            && let Some((_, provider)) = self.extra.iter().find(|(s, _)| s == schema)
        {
            return provider.table(table).await.ok().flatten();
        }
        if let Some((_, provider)) = self.extra.iter().find(|(s, _)| *s == self.default_schema) {
            return provider.table(name).await.ok().flatten();
        }
        self.kube.table(name).await.ok().flatten()
    }

    /// Names of every SQL function the session knows (for completion).
    pub fn function_names(&self) -> Vec<String> {
        let state = self.ctx.state();
        let mut names: Vec<String> = state
            .scalar_functions()
            .keys()
            .chain(state.aggregate_functions().keys())
            .chain(state.window_functions().keys())
            .cloned()
            .collect();
        names.sort();
        names.dedup();
        names
    }

    /// Splits a script into statements.
    pub fn parse(&self, sql: &str) -> Result<VecDeque<Statement>, EngineError> {
        let sql = quote_clause_words_used_as_columns(sql);
        DFParser::parse_sql(&sql).map_err(|e| EngineError::Syntax(clean_message(&e)))
    }

    /// Plans and starts one statement.
    pub async fn run_statement(&self, statement: Statement) -> Result<QueryOutput, EngineError> {
        let plan = self.plan_statement(statement).await?;
        self.execute_plan(plan).await
    }

    /// Plans one statement without running it: unknown tables, columns
    /// and type errors surface here, before any cluster is asked.
    pub async fn plan_statement(&self, statement: Statement) -> Result<LogicalPlan, EngineError> {
        let state = self.ctx.state();
        let references = state
            .resolve_table_references(&statement)
            .map_err(|e| EngineError::Plan(clean_message(&e)))?;
        let created = created_table(&statement);
        for reference in &references {
            // The table a CREATE TABLE/VIEW names is new, not misspelled.
            if created.as_deref() == Some(reference.table()) {
                continue;
            }
            self.check_table(reference).await?;
        }
        state
            .statement_to_plan(statement)
            .await
            .map_err(|e| EngineError::Plan(clean_message(&e)))
    }

    /// Starts a planned statement.
    pub async fn execute_plan(&self, plan: LogicalPlan) -> Result<QueryOutput, EngineError> {
        #[cfg(feature = "ballista")]
        if let Some(scheduler) = &self.distributed {
            distributed::check_plan(&plan)?;
            return distributed::explain_failure(self.execute_here(plan).await, scheduler);
        }
        self.execute_here(plan).await
    }

    /// Starts a planned statement whose operators (sorts, joins,
    /// aggregates) draw memory from `pool` instead of the session's: a
    /// server gives each query its own budget, so one cannot starve the rest.
    pub async fn execute_plan_in_pool(
        &self,
        plan: LogicalPlan,
        pool: Arc<dyn datafusion::execution::memory_pool::MemoryPool>,
    ) -> Result<QueryOutput, EngineError> {
        use datafusion::execution::runtime_env::RuntimeEnvBuilder;
        use datafusion::execution::session_state::SessionStateBuilder;
        let state = self.ctx.state();
        let runtime = RuntimeEnvBuilder::from_runtime_env(state.runtime_env())
            .with_memory_pool(pool)
            .build_arc()
            .map_err(|e| EngineError::Setup(clean_message(&e)))?;
        let state = SessionStateBuilder::new_from_existing(state)
            .with_runtime_env(runtime)
            .build();
        start(&SessionContext::new_with_state(state), plan).await
    }

    /// The DataFusion session behind this engine (shared state: what is
    /// registered on it is visible to the engine's queries), for front ends
    /// that bring their own protocol, such as `kq serve`.
    pub fn session_context(&self) -> SessionContext {
        self.ctx.clone()
    }

    async fn execute_here(&self, plan: LogicalPlan) -> Result<QueryOutput, EngineError> {
        start(&self.ctx, plan).await
    }

    /// Fails early, with a suggestion, on a table nobody serves.
    async fn check_table(&self, reference: &TableReference) -> Result<(), EngineError> {
        let schema = reference.schema().unwrap_or(&self.default_schema);
        if reference.catalog().is_some_and(|c| c != CATALOG) {
            return Ok(());
        }
        let name = reference.table();
        // `FROM generate_series(1, 3)` names a table function, not a table.
        if reference.schema().is_none() && self.ctx.state().table_functions().contains_key(name) {
            return Ok(());
        }
        let (exists, names) = if schema == DEFAULT_SCHEMA {
            let exists = self
                .kube
                .table(name)
                .await
                .map_err(|e| EngineError::Plan(clean_message(&e)))?
                .is_some();
            (exists, None)
        } else if let Some((_, provider)) = self.extra.iter().find(|(s, _)| s == schema)
            && schema == self.default_schema
        {
            (provider.table_exist(name), Some(provider.table_names()))
        } else {
            return Ok(());
        };
        if exists {
            return Ok(());
        }
        let names = match names {
            Some(names) => names,
            None => self.table_names().await,
        };
        let hint = match closest(name, &names) {
            Some(best) => format!("; did you mean '{best}'? (`kq tables` lists them all)"),
            None => "; `kq tables` lists the available tables".to_string(),
        };
        Err(EngineError::UnknownTable {
            name: name.to_string(),
            hint,
        })
    }
}

/// Quotes `cluster` (and Hive's `sort`, `distribute`) where it follows a
/// comma and is not a `... BY` clause.
///
/// The generic dialect accepts a trailing comma in a projection and ends
/// the list at any word reserved for clauses, so `SELECT name, cluster
/// FROM pods` would fail on kq's most common column. Quoting it (lower
/// case, as an unquoted name would resolve) keeps the column a column.
fn quote_clause_words_used_as_columns(sql: &str) -> std::borrow::Cow<'_, str> {
    use datafusion::sql::sqlparser::dialect::GenericDialect;
    use datafusion::sql::sqlparser::keywords::Keyword;
    use datafusion::sql::sqlparser::tokenizer::{Location, Token, Tokenizer};
    let dialect = GenericDialect {};
    let Ok(tokens) = Tokenizer::new(&dialect, sql).tokenize_with_location() else {
        // The parser reports the tokenizer's error itself.
        return std::borrow::Cow::Borrowed(sql);
    };
    let significant = |from: usize| {
        tokens[from..]
            .iter()
            .position(|t| !matches!(t.token, Token::Whitespace(_)))
            .map(|i| i + from)
    };
    // Only the words' own spans change, so literals and escapes in the
    // rest of the text stay exactly as written.
    let mut spans: Vec<(Location, Location, String)> = Vec::new();
    for (i, token) in tokens.iter().enumerate() {
        if token.token != Token::Comma {
            continue;
        }
        let Some(w) = significant(i + 1) else {
            continue;
        };
        let Token::Word(word) = &tokens[w].token else {
            continue;
        };
        if word.quote_style.is_some()
            || !matches!(
                word.keyword,
                Keyword::CLUSTER | Keyword::SORT | Keyword::DISTRIBUTE
            )
        {
            continue;
        }
        let by_follows = significant(w + 1).is_some_and(
            |n| matches!(&tokens[n].token, Token::Word(next) if next.keyword == Keyword::BY),
        );
        if !by_follows {
            let span = tokens[w].span;
            spans.push((span.start, span.end, word.value.to_lowercase()));
        }
    }
    if spans.is_empty() {
        return std::borrow::Cow::Borrowed(sql);
    }
    let line_starts: Vec<usize> = std::iter::once(0)
        .chain(sql.match_indices('\n').map(|(i, _)| i + 1))
        .collect();
    // Locations count lines and characters from 1.
    let offset = |at: Location| -> Option<usize> {
        let start = *line_starts.get(usize::try_from(at.line).ok()?.checked_sub(1)?)?;
        let column = usize::try_from(at.column).ok()?.checked_sub(1)?;
        let line = &sql[start..];
        Some(
            start
                + line
                    .char_indices()
                    .nth(column)
                    .map_or(line.len(), |(i, _)| i),
        )
    };
    let mut out = sql.to_string();
    for (start, end, name) in spans.into_iter().rev() {
        let (Some(start), Some(end)) = (offset(start), offset(end)) else {
            return std::borrow::Cow::Borrowed(sql);
        };
        out.replace_range(start..end, &format!("\"{name}\""));
    }
    std::borrow::Cow::Owned(out)
}

/// The bare name a CREATE TABLE or CREATE VIEW statement defines.
fn created_table(statement: &Statement) -> Option<String> {
    use datafusion::sql::sqlparser::ast::Statement as Sql;
    let name = match statement {
        Statement::Statement(sql) => match sql.as_ref() {
            Sql::CreateTable(create) => &create.name,
            Sql::CreateView(create) => &create.name,
            _ => return None,
        },
        // CREATE EXTERNAL TABLE owners … LOCATION 'owners.csv': a file joined with the fleet.
        Statement::CreateExternalTable(create) => &create.name,
        _ => return None,
    };
    name.0
        .last()
        .and_then(|part| part.as_ident())
        .map(|ident| ident.value.clone())
}

/// Starts a planned statement on `ctx`: its schema and its stream.
async fn start(ctx: &SessionContext, plan: LogicalPlan) -> Result<QueryOutput, EngineError> {
    let frame = ctx
        .execute_logical_plan(plan)
        .await
        .map_err(|e| EngineError::Plan(clean_message(&e)))?;
    let schema: SchemaRef = Arc::new(frame.schema().as_arrow().clone());
    let stream = frame
        .execute_stream()
        .await
        .map_err(|e| EngineError::Execution(clean_message(&e)))?;
    Ok(QueryOutput { schema, stream })
}

/// The closest name by edit distance, if it is close enough to be a typo.
pub fn closest<'a>(name: &str, candidates: &'a [String]) -> Option<&'a str> {
    let name_lower = name.to_lowercase();
    candidates
        .iter()
        .map(|c| (edit_distance(&name_lower, &c.to_lowercase()), c))
        .filter(|(d, c)| *d <= (c.len() / 3).max(2))
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c.as_str())
}

fn edit_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let mut previous: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.iter().enumerate() {
        let mut current = vec![i + 1];
        for (j, cb) in b.iter().enumerate() {
            let cost = usize::from(ca != cb);
            current.push(
                (previous[j] + cost)
                    .min(previous[j + 1] + 1)
                    .min(current[j] + 1),
            );
        }
        previous = current;
    }
    previous[b.len()]
}

/// The sentence a user needs from a DataFusion error: the deepest error
/// of the chain, without its layer prefix ("Error during planning: "),
/// backtrace, or DataFusion's list of every valid field.
pub fn clean_message(error: &DataFusionError) -> String {
    let mut text = error.find_root().message().into_owned();
    for cut in [DataFusionError::BACK_TRACE_SEP, "\nValid fields are"] {
        if let Some(index) = text.find(cut) {
            text.truncate(index);
        }
    }
    // sqlparser reports "ParserError(\"Expected ..., found: x at Line: 1, Column: 8\")".
    if let Some(inner) = text
        .strip_prefix("ParserError(\"")
        .and_then(|t| t.strip_suffix("\")"))
    {
        text = inner.replace("\\\"", "\"");
    }
    text.trim().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cluster_after_a_comma_stays_a_column() {
        assert_eq!(
            quote_clause_words_used_as_columns("SELECT name, cluster FROM pods"),
            "SELECT name, \"cluster\" FROM pods"
        );
        assert_eq!(
            quote_clause_words_used_as_columns("SELECT a,\n  CLUSTER FROM t"),
            "SELECT a,\n  \"cluster\" FROM t"
        );
        let untouched = [
            "SELECT cluster, name FROM pods",
            "SELECT a FROM t CLUSTER BY a",
            "SELECT a, \"cluster\" FROM t",
            "SELECT ',cluster' FROM t",
        ];
        assert_eq!(
            quote_clause_words_used_as_columns(
                "SELECT name, cluster, \"we\"\"ird\" FROM pods WHERE name = 'it''s' OR n = E'a\\'b'"
            ),
            "SELECT name, \"cluster\", \"we\"\"ird\" FROM pods WHERE name = 'it''s' OR n = E'a\\'b'"
        );
        for sql in untouched {
            assert_eq!(quote_clause_words_used_as_columns(sql), sql);
        }
    }

    #[test]
    fn suggestions_catch_typos_only() {
        let names: Vec<String> = ["pods", "nodes", "containers", "services"]
            .into_iter()
            .map(String::from)
            .collect();
        assert_eq!(closest("pod", &names), Some("pods"));
        assert_eq!(closest("contaners", &names), Some("containers"));
        assert_eq!(closest("zzzzzzzz", &names), None);
    }

    #[test]
    fn messages_lose_their_layer_prefixes() {
        let error = DataFusionError::Plan("table 'x' not found".into());
        assert_eq!(clean_message(&error), "table 'x' not found");
    }
}
