//! What every way into kq shares: running a statement and printing it,
//! collecting a result, the partial-failure verdict, and the `tables` and
//! `describe` listings. The one-shot run, the shell, `watch`, `report` and
//! `diff` import from here; nothing here imports them.

use std::io::{IsTerminal, Write};
use std::sync::Arc;

use datafusion::arrow::array::{ArrayRef, RecordBatch, StringBuilder};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use futures::StreamExt;

use kq_engine::{Engine, EngineError};

use crate::Failure;
use crate::args::Output;
use crate::print::{OutputFormat, PrintOptions, Printer, print_failure};
use crate::progress::Progress;

pub(crate) fn print_options(output: &Output) -> PrintOptions {
    let terminal = std::io::stdout().is_terminal();
    let width = if terminal {
        terminal_size::terminal_size().map(|(w, _)| w.0)
    } else {
        None
    };
    PrintOptions {
        format: output.format().unwrap_or(OutputFormat::Table),
        max_rows: output.max_rows,
        header: !output.no_header,
        width,
    }
}

pub(crate) fn engine_failure(error: EngineError) -> Failure {
    Failure::usage(error.to_string())
}

/// Writing into a closed pipe (`kq ... | head`) is not an error.
fn output_failure(error: std::io::Error) -> Option<Failure> {
    if error.kind() == std::io::ErrorKind::BrokenPipe {
        None
    } else {
        Some(Failure {
            code: 2,
            message: format!("cannot write output: {error}"),
        })
    }
}

pub(crate) async fn run_statement(
    engine: &Engine,
    statement: datafusion::sql::parser::Statement,
    options: &PrintOptions,
    progress: &mut Progress,
    mark: kq_providers::failures::Mark,
) -> Result<(), Failure> {
    let tag = command_tag(&statement);
    let output = engine
        .run_statement(statement)
        .await
        .map_err(engine_failure)?;
    // A command (CREATE EXTERNAL TABLE, CREATE VIEW, SET…) answers no
    // columns: its tag is said where the row count would be, and stdout
    // stays free of an empty table or `[]` a script would have to skip.
    if let Some(tag) = tag
        && output.schema.fields().is_empty()
    {
        let mut stream = output.stream;
        while let Some(batch) = stream.next().await {
            batch.map_err(query_failure)?;
        }
        progress.finish().await;
        // CREATE TABLE AS over clusters that all failed made nothing.
        if every_cluster_failed(engine, mark) {
            return Ok(());
        }
        footer(&tag);
        return Ok(());
    }
    let stdout = std::io::stdout();
    let mut printer = Printer::new(stdout.lock(), output.schema.clone(), options.clone());
    let mut stream = output.stream;
    let mut rows = 0usize;
    while let Some(batch) = stream.next().await {
        let batch = batch.map_err(query_failure)?;
        progress.finish().await;
        // An aggregate answers only after every list ended: if every
        // cluster failed by then, its "0" is no answer at all, and a
        // script must not read one.
        if rows == 0 && every_cluster_failed(engine, mark) {
            return Ok(());
        }
        rows += batch.num_rows();
        if let Err(e) = printer.write_batch(&batch) {
            return match output_failure(e) {
                None => Ok(()),
                Some(f) => Err(f),
            };
        }
    }
    progress.finish().await;
    // When every cluster failed there is no answer, only errors: print
    // nothing rather than an empty table that looks like one.
    if rows == 0 && every_cluster_failed(engine, mark) {
        return Ok(());
    }
    let summary = match printer.finish() {
        Ok(summary) => summary,
        Err(e) => {
            return match output_failure(e) {
                None => Ok(()),
                Some(f) => Err(f),
            };
        }
    };
    if options.format == OutputFormat::Table {
        let count = if summary.rows_printed < summary.rows_seen {
            format!(
                "(showing {} of {} rows)",
                summary.rows_printed, summary.rows_seen
            )
        } else if summary.rows_seen == 1 {
            "(1 row)".to_string()
        } else {
            format!("({} rows)", summary.rows_seen)
        };
        footer(&count);
    } else if summary.rows_printed < summary.rows_seen {
        eprintln!(
            "kq: showing {} of {} rows (--max-rows)",
            summary.rows_printed, summary.rows_seen
        );
    }
    Ok(())
}

/// The row count or command tag after a statement: on stdout at a
/// terminal (as psql prints it), on stderr when stdout is data.
fn footer(text: &str) {
    if std::io::stdout().is_terminal() {
        println!("{text}");
    } else {
        eprintln!("{text}");
    }
}

/// psql's name for a command that answers no rows (`CREATE EXTERNAL
/// TABLE`, `CREATE VIEW`, `DROP TABLE`, `SET`); `None` for statements
/// that answer rows.
fn command_tag(statement: &datafusion::sql::parser::Statement) -> Option<String> {
    use datafusion::sql::parser::Statement as Kq;
    use datafusion::sql::sqlparser::ast::Statement as Sql;
    let tag = match statement {
        Kq::CreateExternalTable(_) => "CREATE EXTERNAL TABLE".to_string(),
        Kq::Reset(_) => "RESET".to_string(),
        Kq::Statement(inner) => match inner.as_ref() {
            Sql::CreateView(_) => "CREATE VIEW".to_string(),
            Sql::CreateTable(_) => "CREATE TABLE".to_string(),
            Sql::CreateSchema { .. } => "CREATE SCHEMA".to_string(),
            Sql::CreateDatabase { .. } => "CREATE DATABASE".to_string(),
            Sql::CreateFunction(_) => "CREATE FUNCTION".to_string(),
            Sql::Drop { object_type, .. } => format!("DROP {object_type}"),
            Sql::DropFunction(_) => "DROP FUNCTION".to_string(),
            Sql::Set(_) => "SET".to_string(),
            Sql::Prepare { .. } => "PREPARE".to_string(),
            Sql::Deallocate { .. } => "DEALLOCATE".to_string(),
            _ => return None,
        },
        _ => return None,
    };
    Some(tag)
}

/// Whether every cluster asked since `mark` failed with an error: then
/// there is no answer, only errors.
pub(crate) fn every_cluster_failed(engine: &Engine, mark: kq_providers::failures::Mark) -> bool {
    engine.failures().every_attempt_failed_since(mark)
}

/// Runs a statement to the end and keeps its batches (for the shell and
/// `kq watch`, which need the whole result before printing).
pub(crate) async fn collect_statement(
    engine: &Engine,
    statement: datafusion::sql::parser::Statement,
) -> Result<(SchemaRef, Vec<RecordBatch>), Failure> {
    let output = engine
        .run_statement(statement)
        .await
        .map_err(engine_failure)?;
    let mut stream = output.stream;
    let mut batches = Vec::new();
    while let Some(batch) = stream.next().await {
        batches.push(batch.map_err(query_failure)?);
    }
    Ok((output.schema, batches))
}

/// A batch that failed while the query ran.
fn query_failure(error: datafusion::error::DataFusionError) -> Failure {
    Failure::usage(format!(
        "query failed: {}",
        kq_engine::clean_message(&error)
    ))
}

/// Prints this statement's partial failures; decides the exit code.
pub(crate) fn report_failures(
    engine: &Engine,
    mark: kq_providers::failures::Mark,
    strict: bool,
) -> Result<u8, Failure> {
    use kq_providers::failures::Severity;
    let failures: Vec<_> = engine
        .failures()
        .since(mark)
        .into_iter()
        .filter(|f| f.severity != Severity::Info)
        .collect();
    if failures.is_empty() {
        return Ok(0);
    }
    failures.iter().for_each(print_failure);
    if every_cluster_failed(engine, mark) {
        let sources = engine.failures().attempted_since(mark);
        let kinds: Vec<&str> = sources
            .iter()
            .map(|s| kq_providers::failures::source_kind(s).0)
            .collect();
        let clouds: Vec<&str> = [
            ("aws", "AWS account/region"),
            ("gcp", "GCP project"),
            ("azure", "Azure subscription"),
        ]
        .iter()
        .filter(|(kind, _)| kinds.contains(kind))
        .map(|(_, what)| *what)
        .collect();
        let what = match clouds.as_slice() {
            [] => "no cluster could be read".to_string(),
            [one] => format!("no cluster or {one} could be read"),
            many => format!("no cluster, {} could be read", many.join(" or ")),
        };
        return Err(Failure::usage(format!(
            "{what} ({}); see the errors above",
            sources.join(", ")
        )));
    }
    let any_error = failures.iter().any(|f| f.severity == Severity::Error);
    Ok(u8::from(strict && any_error))
}

/// Writes generated text (completions, a man page) to stdout; a closed
/// pipe is not an error.
pub(crate) fn write_stdout(bytes: &[u8]) -> Result<(), Failure> {
    let mut stdout = std::io::stdout().lock();
    match stdout.write_all(bytes).and_then(|_| stdout.flush()) {
        Ok(()) => Ok(()),
        Err(e) => output_failure(e).map_or(Ok(()), Err),
    }
}

pub(crate) fn print_batch(batch: RecordBatch, options: &PrintOptions) -> Result<(), Failure> {
    let stdout = std::io::stdout();
    let mut printer = Printer::new(stdout.lock(), batch.schema(), options.clone());
    let result = printer.write_batch(&batch).and_then(|_| printer.finish());
    if let Err(e) = result
        && let Some(failure) = output_failure(e)
    {
        return Err(failure);
    }
    let _ = std::io::stdout().flush();
    Ok(())
}

fn text_schema(names: &[&str]) -> SchemaRef {
    Arc::new(Schema::new(
        names
            .iter()
            .map(|n| Field::new(*n, DataType::Utf8, true))
            .collect::<Vec<_>>(),
    ))
}

pub(crate) fn text_batch(names: &[&str], rows: Vec<Vec<String>>) -> RecordBatch {
    let mut builders: Vec<StringBuilder> = names.iter().map(|_| StringBuilder::new()).collect();
    for row in rows {
        for (builder, value) in builders.iter_mut().zip(row) {
            builder.append_value(value);
        }
    }
    let columns: Vec<ArrayRef> = builders
        .into_iter()
        .map(|mut b| Arc::new(b.finish()) as ArrayRef)
        .collect();
    // The schema and columns are built from the same names: cannot mismatch.
    RecordBatch::try_new(text_schema(names), columns)
        .unwrap_or_else(|_| RecordBatch::new_empty(text_schema(names)))
}

pub(crate) async fn tables_batch(engine: &Engine) -> RecordBatch {
    let names = engine.table_names().await;
    let mut rows = Vec::new();
    for name in names {
        let description = match (
            kq_engine::views::description(&name),
            engine.table(&name).await,
        ) {
            (Some(view), _) => view.to_string(),
            (None, Some(table)) => table_description(table.as_ref()),
            _ => String::new(),
        };
        rows.push(vec![name, description]);
    }
    text_batch(&["table", "description"], rows)
}

fn table_description(table: &dyn datafusion::datasource::TableProvider) -> String {
    let any: &dyn std::any::Any = table;
    if let Some(kube) = any.downcast_ref::<kq_providers::kubernetes::scan::KubeTable>() {
        return kube.def().description.clone();
    }
    if any
        .downcast_ref::<kq_providers::failures::FailureTable>()
        .is_some()
    {
        return "Partial failures of this session: which cluster, which table, what went wrong"
            .to_string();
    }
    if let Some(snapshot) = any.downcast_ref::<kq_engine::snapshot::read::SnapshotTable>() {
        return snapshot.description();
    }
    #[cfg(feature = "aws")]
    if let Some(aws) = any.downcast_ref::<kq_providers::aws::table::AwsTable>() {
        return aws.description().to_string();
    }
    #[cfg(feature = "gcp")]
    if let Some(gcp) = any.downcast_ref::<kq_providers::gcp::table::GcpTable>() {
        return gcp.description().to_string();
    }
    #[cfg(feature = "azure")]
    if let Some(azure) = any.downcast_ref::<kq_providers::azure::table::AzureTable>() {
        return azure.description().to_string();
    }
    // Tables over files (the report history) say it in their schema.
    table
        .schema()
        .metadata()
        .get("description")
        .cloned()
        .unwrap_or_default()
}

pub(crate) async fn describe_batch(engine: &Engine, table: &str) -> Result<RecordBatch, Failure> {
    let provider = match engine.table(table).await {
        Some(provider) => provider,
        _ => {
            let names = engine.table_names().await;
            let hint = kq_engine::closest(table, &names)
                .map(|best| format!("; did you mean '{best}'?"))
                .unwrap_or_else(|| "; `kq tables` lists the available tables".to_string());
            return Err(Failure::usage(format!("unknown table '{table}'{hint}")));
        }
    };
    let schema = provider.schema();
    let rows = schema
        .fields()
        .iter()
        .map(|field| {
            vec![
                field.name().clone(),
                type_name(field),
                field
                    .metadata()
                    .get("description")
                    .cloned()
                    .unwrap_or_default(),
            ]
        })
        .collect();
    Ok(text_batch(&["column", "type", "description"], rows))
}

/// SQL-flavoured type names users recognise.
pub fn type_name(field: &Field) -> String {
    if field.metadata().get("kq.json").map(String::as_str) == Some("true") {
        return "json".to_string();
    }
    data_type_name(field.data_type())
}

fn data_type_name(data_type: &DataType) -> String {
    match data_type {
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => "text".into(),
        DataType::Int64 => "bigint".into(),
        DataType::Int32 => "int".into(),
        DataType::Float64 => "double".into(),
        DataType::Boolean => "boolean".into(),
        DataType::Timestamp(_, _) => "timestamp".into(),
        DataType::List(inner) | DataType::LargeList(inner) => {
            format!("list<{}>", data_type_name(inner.data_type()))
        }
        DataType::Map(entries, _) => match entries.data_type() {
            DataType::Struct(fields) if fields.len() == 2 => format!(
                "map<{},{}>",
                data_type_name(fields[0].data_type()),
                data_type_name(fields[1].data_type())
            ),
            other => format!("map<{other}>"),
        },
        other => other.to_string().to_lowercase(),
    }
}

/// A channel that changes on every SIGINT (Ctrl-C), with the handler
/// registered before this returns: the shell's line editor swaps its own
/// handler in for each line and puts back the one it found, so a listener
/// registered later (tokio's `ctrl_c()` registers on first poll) would be
/// replaced by the default action. `kq watch` uses it too, so Ctrl-C
/// during start-up ends the watch cleanly.
pub(crate) fn interrupt_listener() -> Result<tokio::sync::watch::Receiver<()>, Failure> {
    let (tx, rx) = tokio::sync::watch::channel(());
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let mut sigint = signal(SignalKind::interrupt())
            .map_err(|e| Failure::usage(format!("cannot listen for Ctrl-C: {e}")))?;
        tokio::spawn(async move {
            while sigint.recv().await.is_some() {
                if tx.send(()).is_err() {
                    return;
                }
            }
        });
    }
    #[cfg(not(unix))]
    tokio::spawn(async move {
        while tokio::signal::ctrl_c().await.is_ok() {
            if tx.send(()).is_err() {
                return;
            }
        }
    });
    Ok(rx)
}

/// Waits for Ctrl-C or SIGTERM (what a container runtime sends).
pub(crate) async fn stop_requested() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

/// A `HOST:PORT` flag (`--listen`, `--metrics-listen`) as an address; the
/// error names the flag and shows `example`.
pub(crate) fn socket_address(
    flag: &str,
    text: &str,
    example: &str,
) -> Result<std::net::SocketAddr, Failure> {
    use std::net::ToSocketAddrs;
    text.to_socket_addrs()
        .ok()
        .and_then(|mut addresses| addresses.next())
        .ok_or_else(|| {
            Failure::usage(format!(
                "{flag} '{text}' is not an address; use HOST:PORT, e.g. {example}"
            ))
        })
}

#[cfg(test)]
mod tests {
    use super::command_tag;
    use datafusion::sql::parser::DFParser;

    fn parse(sql: &str) -> datafusion::sql::parser::Statement {
        DFParser::parse_sql(sql)
            .unwrap_or_else(|e| panic!("{sql}: {e}"))
            .pop_front()
            .expect("one statement")
    }

    #[test]
    fn commands_are_tagged_as_psql_tags_them() {
        for (sql, tag) in [
            (
                "CREATE EXTERNAL TABLE owners STORED AS CSV LOCATION 'o.csv'",
                "CREATE EXTERNAL TABLE",
            ),
            ("CREATE OR REPLACE VIEW v AS SELECT 1", "CREATE VIEW"),
            ("CREATE TABLE IF NOT EXISTS t AS SELECT 1", "CREATE TABLE"),
            ("DROP VIEW IF EXISTS v", "DROP VIEW"),
            ("DROP TABLE temp", "DROP TABLE"),
            ("CREATE TEMPORARY VIEW v AS SELECT 1", "CREATE VIEW"),
            ("SET datafusion.execution.batch_size = 1024", "SET"),
            ("PREPARE q AS SELECT 1", "PREPARE"),
        ] {
            assert_eq!(command_tag(&parse(sql)).as_deref(), Some(tag), "{sql}");
        }
        for sql in ["SELECT 1", "EXPLAIN SELECT 1", "SHOW TABLES", "EXECUTE q"] {
            assert_eq!(command_tag(&parse(sql)), None, "{sql}");
        }
    }
}
