//! `kq watch SQL`: a query that stays up and follows the clusters.
//!
//! Every table the query reads is kept current by the live cache (one
//! watch per cluster and resource). When anything changes, the query is
//! re-run over memory only, at most once per debounce window; a change clears the
//! cached columns of just the few hundred objects around it, so a re-run
//! costs the query, not a re-decode of the fleet. Any SQL works: joins,
//! GROUP BY, ORDER BY, LIMIT.
//!
//! The new result is compared with the previous one by row identity:
//!
//! 1. the columns named with `--key`, else
//! 2. when the result has a column that pins an object (`name`, `uid`,
//!    `pod_name`, `pod_uid`): those of its columns among `cluster`,
//!    `namespace`, `kind`, `name`, `uid`, `pod_name`, `pod_uid`,
//!    `container`, `container_name`, else
//! 3. every non-numeric column (so a GROUP BY's groups are the identity
//!    and its counts the values);
//!
//! rows with equal identity are told apart by their order of appearance.
//! A row whose identity is new is `added`, one whose identity vanished is
//! `removed`, one whose other values changed is `updated`.
//!
//! Output: with `--changes` or `-o ndjson`, one JSON object per change
//! (`{"op":"added"|"removed"|"updated","row":{…},"old":{…},"ts":"…"}`;
//! the initial result comes first as `added` rows), plus `{"op":"status"}`
//! lines when a cluster becomes unreachable or comes back. On a terminal
//! the result is redrawn in place under a status header, changed rows
//! highlighted. Otherwise each changed result is printed in full.
//!
//! An unreachable cluster keeps its last known rows (they are not
//! removed), and a status line says so; when it answers again, the watch
//! resumes or relists and only real differences are emitted.

use std::collections::{BTreeMap, HashMap};
use std::io::{IsTerminal, Write};

use datafusion::arrow::datatypes::SchemaRef;
use datafusion::arrow::record_batch::RecordBatch;
use kq_engine::Engine;
use kq_providers::kubernetes::live::LiveCache;

use crate::Failure;
use crate::args::{Output, Sources, WatchArgs};
use crate::exec::{collect_statement, every_cluster_failed, interrupt_listener};
use crate::print::print_failure;
use crate::print::{self, OutputFormat, PrintOptions, PrintSummary, Printer};
use crate::session;

/// Columns that pin one object; identity rule 2 applies only when the
/// result has one of them (a `namespace` alone names a group, not a row).
const OBJECT_COLUMNS: &[&str] = &["name", "uid", "pod_name", "pod_uid"];

/// Result columns that name an object, in the order they form a row's identity.
const IDENTITY_COLUMNS: &[&str] = &[
    "cluster",
    "namespace",
    "kind",
    "name",
    "uid",
    "pod_name",
    "pod_uid",
    "container",
    "container_name",
];

#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// One JSON line per change.
    Changes,
    /// Redraw the result in place on a terminal.
    Redraw,
    /// Print every changed result in full (not a terminal).
    Full,
}

/// Runs `kq watch`; returns the exit code.
pub async fn run(sources: &Sources, output: &Output, args: &WatchArgs) -> Result<u8, Failure> {
    if args.query.is_empty() {
        return Err(Failure::usage(
            "kq watch needs a query, e.g. kq watch \"SELECT namespace, count(*) FROM pods GROUP BY namespace\"",
        ));
    }
    if sources.snapshots.is_some() {
        return Err(Failure::usage(
            "kq watch follows live clusters; snapshots do not change, so query them with kq --snapshots DIR \"SQL\"",
        ));
    }
    let sql = args.query.join(" ");
    let format = output.format().unwrap_or(if args.changes {
        OutputFormat::Ndjson
    } else {
        OutputFormat::Table
    });
    if args.changes && format != OutputFormat::Ndjson {
        return Err(Failure::usage(
            "kq watch --changes writes one JSON object per line; drop -o or use -o ndjson",
        ));
    }
    let mode = if format == OutputFormat::Ndjson {
        Mode::Changes
    } else if std::io::stdout().is_terminal() {
        Mode::Redraw
    } else {
        Mode::Full
    };
    let mut interrupted = interrupt_listener()?;
    let session = tokio::select! {
        session = session::build(sources, true) => session?,
        _ = interrupted.changed() => return Ok(0),
    };
    let engine = &session.engine;
    let Some(live) = engine.kube().live().cloned() else {
        return Err(Failure::usage("cannot start the live cache for kq watch"));
    };
    let mut statements = engine
        .parse(&sql)
        .map_err(|e| Failure::usage(e.to_string()))?;
    let statement = match (statements.pop_front(), statements.is_empty()) {
        (Some(statement), true) => statement,
        (None, _) => return Err(Failure::usage("the query is empty")),
        (Some(_), false) => {
            return Err(Failure::usage(
                "kq watch follows one query; remove the other statements",
            ));
        }
    };
    let debounce = args.debounce;
    let deadline = args.for_duration.map(|d| tokio::time::Instant::now() + d);
    let mut changes = live.subscribe();
    let mut state = WatchState::new(mode, format, output);
    let mut first = true;
    let mut reported: std::collections::HashSet<(String, String, String)> = Default::default();
    loop {
        changes.borrow_and_update();
        let last_run = tokio::time::Instant::now();
        let mark = engine.failures().mark();
        let evaluated = tokio::select! {
            evaluated = collect_statement(engine, statement.clone()) => evaluated,
            _ = interrupted.changed() => return Ok(state.finish()),
        };
        match evaluated {
            Ok((schema, batches)) => {
                if first {
                    state.key = identity_columns(&schema, &args.key)?;
                    if every_cluster_failed(engine, mark) {
                        report_clusters(&mut state, &live);
                        return Err(Failure::usage(
                            "no cluster could be read; see the errors above",
                        ));
                    }
                }
                report_clusters(&mut state, &live);
                report_notes(engine, mark, &state, &mut reported);
                state.show(&schema, &batches, &live, args.max_changes)?;
            }
            Err(failure) if first => return Err(failure),
            // The query planned and ran before: a later failure is a
            // cluster's, reported; the watch goes on.
            Err(failure) => eprintln!("kq: {}", failure.message),
        }
        first = false;
        if args.max_changes.is_some_and(|max| state.changes >= max) {
            return Ok(0);
        }
        let sleep_until = async {
            match deadline {
                Some(deadline) => tokio::time::sleep_until(deadline).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            changed = changes.changed() => {
                if changed.is_err() {
                    return Ok(0);
                }
            }
            _ = sleep_until => return Ok(state.finish()),
            _ = interrupted.changed() => return Ok(state.finish()),
        }
        // At most one re-run per debounce window: a change after a quiet
        // spell is shown at once, a burst (a rollout) becomes one re-run.
        tokio::select! {
            _ = tokio::time::sleep_until(last_run + debounce) => {}
            _ = interrupted.changed() => return Ok(state.finish()),
        }
    }
}

/// Prints partial-failure notes (e.g. the 403 fallback's coverage) once
/// each; unreachable clusters are reported by [`report_clusters`].
fn report_notes(
    engine: &Engine,
    mark: kq_providers::failures::Mark,
    state: &WatchState,
    reported: &mut std::collections::HashSet<(String, String, String)>,
) {
    for failure in engine.failures().since(mark) {
        if state
            .cluster_state
            .get(&failure.source)
            .is_some_and(Option::is_some)
        {
            continue;
        }
        let key = (
            failure.source.clone(),
            failure.table.clone(),
            failure.message.clone(),
        );
        if reported.insert(key) {
            print_failure(&failure);
        }
    }
}

/// Which result columns identify a row (see the module docs).
fn identity_columns(schema: &SchemaRef, requested: &[String]) -> Result<Vec<usize>, Failure> {
    let names: Vec<&str> = schema.fields().iter().map(|f| f.name().as_str()).collect();
    if !requested.is_empty() {
        return requested
            .iter()
            .map(|key| {
                names.iter().position(|n| n == key).ok_or_else(|| {
                    Failure::usage(format!(
                        "--key column '{key}' is not in the result; its columns are: {}",
                        names.join(", ")
                    ))
                })
            })
            .collect();
    }
    let names_an_object = OBJECT_COLUMNS.iter().any(|c| names.contains(c));
    let mut key: Vec<usize> = if names_an_object {
        IDENTITY_COLUMNS
            .iter()
            .filter_map(|wanted| names.iter().position(|n| n == wanted))
            .collect()
    } else {
        Vec::new()
    };
    if key.is_empty() {
        key = schema
            .fields()
            .iter()
            .enumerate()
            .filter(|(_, f)| !f.data_type().is_numeric())
            .map(|(i, _)| i)
            .collect();
    }
    Ok(key)
}

/// A row's identity: its key cells and which occurrence of them it is.
type RowKey = (Vec<String>, usize);

struct Row {
    key: RowKey,
    cells: Vec<String>,
}

enum Change<'a> {
    Added(&'a Row),
    Removed(&'a Row),
    Updated { old: &'a Row, new: &'a Row },
}

struct WatchState {
    mode: Mode,
    format: OutputFormat,
    print: PrintOptions,
    key: Vec<usize>,
    previous: Option<(SchemaRef, Vec<Row>)>,
    /// Change lines emitted after the initial result.
    changes: u64,
    /// Per cluster: the failure last reported, if it is failing.
    cluster_state: BTreeMap<String, Option<String>>,
    last_change: Option<chrono::DateTime<chrono::Utc>>,
}

fn now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

impl WatchState {
    fn new(mode: Mode, format: OutputFormat, output: &Output) -> Self {
        let width = if mode == Mode::Redraw {
            terminal_size::terminal_size().map(|(w, _)| w.0)
        } else {
            None
        };
        Self {
            mode,
            format,
            print: PrintOptions {
                format,
                max_rows: output.max_rows,
                header: !output.no_header,
                width,
            },
            key: Vec::new(),
            previous: None,
            changes: 0,
            cluster_state: BTreeMap::new(),
            last_change: None,
        }
    }

    fn rows(&self, batches: &[RecordBatch]) -> Result<Vec<Row>, Failure> {
        let mut seen: HashMap<Vec<String>, usize> = HashMap::new();
        let mut rows = Vec::new();
        for batch in batches {
            let cells = print::json_cells(batch)
                .map_err(|e| Failure::usage(format!("cannot render the result: {e}")))?;
            for cells in cells {
                let key_cells: Vec<String> = self.key.iter().map(|&i| cells[i].clone()).collect();
                let occurrence = seen.entry(key_cells.clone()).or_insert(0);
                let key = (key_cells, *occurrence);
                *occurrence += 1;
                rows.push(Row { key, cells });
            }
        }
        Ok(rows)
    }

    /// Compares with the previous result and shows what changed.
    fn show(
        &mut self,
        schema: &SchemaRef,
        batches: &[RecordBatch],
        live: &LiveCache,
        max_changes: Option<u64>,
    ) -> Result<(), Failure> {
        let rows = self.rows(batches)?;
        let initial = self.previous.is_none();
        let empty = Vec::new();
        let old_rows = self.previous.as_ref().map(|(_, r)| r).unwrap_or(&empty);
        let mut changes = diff(old_rows, &rows);
        if let Some(max) = max_changes.filter(|_| !initial && self.mode == Mode::Changes) {
            // --max-changes N prints N changes, even from one large re-run.
            let left = max.saturating_sub(self.changes);
            changes.truncate(usize::try_from(left).unwrap_or(usize::MAX));
        }
        if !initial && !changes.is_empty() {
            self.last_change = Some(chrono::Utc::now());
        }
        let result = match self.mode {
            Mode::Changes => {
                let lines = change_lines(schema, &changes);
                if !initial {
                    self.changes += changes.len() as u64;
                }
                write_stdout(&lines)
            }
            Mode::Redraw => {
                let highlighted: Vec<bool> = highlighted_rows(&rows, &changes, initial);
                let text = self.redraw_text(schema, batches, &highlighted, live)?;
                if !initial {
                    self.changes += changes.len() as u64;
                }
                write_stdout(&text)
            }
            Mode::Full => {
                if !initial && changes.is_empty() {
                    Ok(())
                } else {
                    if !initial {
                        self.changes += changes.len() as u64;
                    }
                    let mut out = Vec::new();
                    if matches!(self.format, OutputFormat::Table | OutputFormat::Markdown) {
                        let _ = writeln!(out, "-- {} · {} rows", now(), rows.len());
                    }
                    render(&mut out, schema, batches, self.print.clone())?;
                    write_stdout(&String::from_utf8_lossy(&out))
                }
            }
        };
        drop(changes);
        self.previous = Some((schema.clone(), rows));
        result
    }

    fn redraw_text(
        &self,
        schema: &SchemaRef,
        batches: &[RecordBatch],
        highlighted: &[bool],
        live: &LiveCache,
    ) -> Result<String, Failure> {
        let total: usize = batches.iter().map(RecordBatch::num_rows).sum();
        let height = terminal_size::terminal_size()
            .map(|(_, h)| h.0 as usize)
            .unwrap_or(40);
        let mut options = self.print.clone();
        // Header, table frame and footer take about six lines.
        let fits = height.saturating_sub(6).max(1);
        options.max_rows = Some(options.max_rows.map_or(fits, |m| m.min(fits)));
        let mut table = Vec::new();
        let summary = render(&mut table, schema, batches, options)?;
        let table = String::from_utf8_lossy(&table);
        let lines: Vec<&str> = table.lines().collect();
        // Rows are lines 3.. when no row spilled over several lines.
        let one_line_rows = lines.len() == summary.rows_printed + 4;
        let colour = colour_allowed();
        let mut out = String::from("\x1b[H\x1b[2J");
        out.push_str(&status_header(live, self.last_change, colour));
        out.push('\n');
        for (index, line) in lines.iter().enumerate() {
            let row = index.checked_sub(3);
            let highlight = colour
                && one_line_rows
                && row.is_some_and(|r| r < summary.rows_printed && highlighted[r]);
            if highlight {
                out.push_str("\x1b[7m");
                out.push_str(line);
                out.push_str("\x1b[0m\n");
            } else {
                out.push_str(line);
                out.push('\n');
            }
        }
        if summary.rows_printed < total {
            out.push_str(&format!(
                "(showing {} of {total} rows)\n",
                summary.rows_printed
            ));
        } else {
            out.push_str(&format!(
                "({total} row{})\n",
                if total == 1 { "" } else { "s" }
            ));
        }
        Ok(out)
    }

    /// The exit code after --for or Ctrl-C: a clean stop.
    fn finish(&self) -> u8 {
        if self.mode == Mode::Redraw {
            let _ = write_stdout("\n");
        }
        0
    }
}

/// A whole result through the normal printer, into memory.
fn render(
    out: &mut Vec<u8>,
    schema: &SchemaRef,
    batches: &[RecordBatch],
    options: PrintOptions,
) -> Result<PrintSummary, Failure> {
    let cannot = |e: std::io::Error| Failure::usage(format!("cannot render the result: {e}"));
    let mut printer = Printer::new(out, schema.clone(), options);
    for batch in batches {
        printer.write_batch(batch).map_err(cannot)?;
    }
    printer.finish().map_err(cannot)
}

fn write_stdout(text: &str) -> Result<(), Failure> {
    let mut stdout = std::io::stdout().lock();
    let result = stdout
        .write_all(text.as_bytes())
        .and_then(|_| stdout.flush());
    match result {
        Ok(()) => Ok(()),
        // `kq watch … | head` ending the pipe is the reader's way to stop.
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => std::process::exit(0),
        Err(e) => Err(Failure::usage(format!("cannot write output: {e}"))),
    }
}

/// Changes in a stable order: removals (old order), then additions and
/// updates in the order of the new result.
fn diff<'a>(old: &'a [Row], new: &'a [Row]) -> Vec<Change<'a>> {
    let old_index: HashMap<&RowKey, &Row> = old.iter().map(|r| (&r.key, r)).collect();
    let new_keys: HashMap<&RowKey, ()> = new.iter().map(|r| (&r.key, ())).collect();
    let mut changes: Vec<Change<'a>> = old
        .iter()
        .filter(|r| !new_keys.contains_key(&r.key))
        .map(Change::Removed)
        .collect();
    for row in new {
        match old_index.get(&row.key) {
            None => changes.push(Change::Added(row)),
            Some(old) if old.cells != row.cells => changes.push(Change::Updated { old, new: row }),
            Some(_) => {}
        }
    }
    changes
}

fn highlighted_rows(rows: &[Row], changes: &[Change<'_>], initial: bool) -> Vec<bool> {
    if initial {
        return vec![false; rows.len()];
    }
    let changed: HashMap<&RowKey, ()> = changes
        .iter()
        .filter_map(|c| match c {
            Change::Added(row) | Change::Updated { new: row, .. } => Some((&row.key, ())),
            Change::Removed(_) => None,
        })
        .collect();
    rows.iter().map(|r| changed.contains_key(&r.key)).collect()
}

fn json_object(schema: &SchemaRef, cells: &[String]) -> String {
    let mut out = String::from("{");
    for (i, (field, cell)) in schema.fields().iter().zip(cells).enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str(&print::json_string(field.name()));
        out.push(':');
        out.push_str(cell);
    }
    out.push('}');
    out
}

fn change_lines(schema: &SchemaRef, changes: &[Change<'_>]) -> String {
    let ts = print::json_string(&now());
    let mut out = String::new();
    for change in changes {
        match change {
            Change::Added(row) => out.push_str(&format!(
                "{{\"op\":\"added\",\"row\":{},\"ts\":{ts}}}\n",
                json_object(schema, &row.cells)
            )),
            Change::Removed(row) => out.push_str(&format!(
                "{{\"op\":\"removed\",\"row\":{},\"ts\":{ts}}}\n",
                json_object(schema, &row.cells)
            )),
            Change::Updated { old, new } => out.push_str(&format!(
                "{{\"op\":\"updated\",\"row\":{},\"old\":{},\"ts\":{ts}}}\n",
                json_object(schema, &new.cells),
                json_object(schema, &old.cells)
            )),
        }
    }
    out
}

/// Reports clusters that became unreachable or came back: on stderr, and
/// in change mode also as `{"op":"status"}` lines in the stream.
fn report_clusters(state: &mut WatchState, live: &LiveCache) {
    let mut now_failing: BTreeMap<String, Option<String>> = BTreeMap::new();
    for source in live.sources() {
        let entry = now_failing.entry(source.cluster().to_string()).or_default();
        if entry.is_none() {
            *entry = source.failing();
        }
    }
    let mut lines = String::new();
    for (cluster, failing) in &now_failing {
        let before = state.cluster_state.get(cluster).cloned().flatten();
        let ts = print::json_string(&now());
        let name = print::json_string(cluster);
        match (before.is_some(), failing) {
            (false, Some(message)) => {
                eprintln!(
                    "kq: cluster '{cluster}' is unreachable: {message}; its rows are kept as last seen until it answers"
                );
                lines.push_str(&format!(
                    "{{\"op\":\"status\",\"cluster\":{name},\"state\":\"unreachable\",\"message\":{},\"ts\":{ts}}}\n",
                    print::json_string(message)
                ));
            }
            (true, None) => {
                eprintln!("kq: cluster '{cluster}' answers again");
                lines.push_str(&format!(
                    "{{\"op\":\"status\",\"cluster\":{name},\"state\":\"live\",\"ts\":{ts}}}\n"
                ));
            }
            _ => {}
        }
    }
    state.cluster_state = now_failing;
    if state.mode == Mode::Changes && !lines.is_empty() {
        let _ = write_stdout(&lines);
    }
}

/// One line: clusters with object counts (or why they fail), last change.
fn status_header(
    live: &LiveCache,
    last_change: Option<chrono::DateTime<chrono::Utc>>,
    colour: bool,
) -> String {
    let mut clusters: BTreeMap<String, (usize, Option<String>)> = BTreeMap::new();
    for source in live.sources() {
        let entry = clusters.entry(source.cluster().to_string()).or_default();
        entry.0 += source.object_count();
        if entry.1.is_none() {
            entry.1 = source.failing();
        }
    }
    let parts: Vec<String> = clusters
        .iter()
        .map(|(name, (objects, failing))| match failing {
            Some(message) => format!("{name}: unreachable ({message})"),
            None => format!("{name}: {objects} objects"),
        })
        .collect();
    let changed = last_change
        .map(|t| t.format("%H:%M:%S").to_string())
        .unwrap_or_else(|| "none yet".to_string());
    let title = if colour {
        "\x1b[1mkq watch\x1b[0m"
    } else {
        "kq watch"
    };
    format!(
        "{title} · {} · last change {changed} · Ctrl-C exits",
        parts.join(", ")
    )
}

/// Bold and reverse video only where the user has not asked for none
/// (<https://no-color.org>: `NO_COLOR` set and not empty). Redrawing
/// itself happens only on a terminal.
fn colour_allowed() -> bool {
    std::env::var_os("NO_COLOR").is_none_or(|value| value.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(key: &[&str], occurrence: usize, cells: &[&str]) -> Row {
        Row {
            key: (key.iter().map(|s| s.to_string()).collect(), occurrence),
            cells: cells.iter().map(|s| s.to_string()).collect(),
        }
    }

    #[test]
    fn diffs_follow_identity() {
        let old = vec![
            row(&["a"], 0, &["a", "1"]),
            row(&["b"], 0, &["b", "2"]),
            row(&["c"], 0, &["c", "3"]),
        ];
        let new = vec![
            row(&["a"], 0, &["a", "1"]),
            row(&["c"], 0, &["c", "4"]),
            row(&["d"], 0, &["d", "5"]),
        ];
        let ops: Vec<String> = diff(&old, &new)
            .iter()
            .map(|c| match c {
                Change::Added(r) => format!("+{}", r.cells[0]),
                Change::Removed(r) => format!("-{}", r.cells[0]),
                Change::Updated { old, new } => {
                    format!("~{}{}{}", old.cells[0], old.cells[1], new.cells[1])
                }
            })
            .collect();
        assert_eq!(ops, ["-b", "~c34", "+d"]);
    }
}
