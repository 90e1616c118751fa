//! The interactive shell: `kq` with no query.
//!
//! A psql-like loop over a live session: the first query that reads a
//! table lists it, then watches keep it current, so later queries answer
//! from memory. SQL runs until `;` (several lines are fine); backslash
//! commands (`\?` lists them) end at the line. Ctrl-C cancels the running
//! query or clears the line, Ctrl-D exits. Errors are printed and the
//! session goes on; a failing cluster is reported and the others answer.
//! History lives in `$KQ_HISTORY`, else `$XDG_DATA_HOME/kq/history`, else
//! `~/.local/share/kq/history`.

mod commands;
mod complete;
mod display;

use std::io::IsTerminal;
use std::path::PathBuf;
use std::sync::{Arc, RwLock};
use std::time::Instant;

use clap::ValueEnum;
use datafusion::arrow::record_batch::RecordBatch;
use rustyline::error::ReadlineError;
use rustyline::history::FileHistory;
use rustyline::{CompletionType, Config, Editor};

use kq_providers::failures::Mark;

use crate::Failure;
use crate::args::{Output, Sources};
use crate::exec::{
    collect_statement, describe_batch, interrupt_listener, tables_batch, text_batch,
};
use crate::print::{OutputFormat, PrintOptions, Printer, print_failure};
use crate::progress::Progress;
use crate::session::{self, Session};
use commands::{Backslash, COMMANDS};
use complete::{CompletionData, ReplHelper};
use display::{Display, Expanded};

struct Repl {
    /// Changes on every Ctrl-C while a statement or command runs.
    interrupts: tokio::sync::watch::Receiver<()>,
    sources: Sources,
    output: Output,
    /// `--ballista`: queries run on a Ballista scheduler over snapshots.
    ballista: Option<String>,
    session: Session,
    settings: Display,
    completion: Arc<RwLock<CompletionData>>,
}

enum Flow {
    Continue,
    Quit,
}

/// Runs the shell until `\q` or Ctrl-D; returns the exit code.
pub async fn run(
    sources: Sources,
    output: Output,
    ballista: Option<String>,
) -> Result<u8, Failure> {
    let session = session::open(&sources, ballista.as_deref(), true).await?;
    // One SIGINT listener for the whole session, registered before the
    // line editor exists: from here on Ctrl-C cancels what runs instead of
    // killing the shell.
    let interrupts = interrupt_listener()?;
    let completion = Arc::new(RwLock::new(CompletionData::default()));
    let config = Config::builder()
        .auto_add_history(false)
        .completion_type(CompletionType::List)
        .history_ignore_dups(true)
        .map_err(|e| Failure::usage(format!("cannot set up the line editor: {e}")))?
        .build();
    let mut editor: Editor<ReplHelper, FileHistory> = Editor::with_config(config)
        .map_err(|e| Failure::usage(format!("cannot set up the line editor: {e}")))?;
    editor.set_helper(Some(ReplHelper {
        data: completion.clone(),
    }));
    let history = history_path();
    if let Some(path) = &history {
        // A missing file is a first run; an unreadable one just starts empty.
        let _ = editor.load_history(path);
    }
    let mut repl = Repl {
        interrupts,
        settings: Display::new(output.format().unwrap_or(OutputFormat::Table)),
        sources,
        output,
        ballista,
        session,
        completion,
    };
    repl.refresh_completion();
    if std::io::stdin().is_terminal() {
        println!(
            "kq {}: {} ({}). Tables stay live in memory after their first query.\nType \\? for help, \\q or Ctrl-D to quit.",
            env!("CARGO_PKG_VERSION"),
            plural(repl.session.clusters.len(), "cluster"),
            repl.session.clusters.join(", ")
        );
    }
    let mut history_warned = false;
    loop {
        let line = tokio::task::block_in_place(|| editor.readline("kq> "));
        let input = match line {
            Ok(input) => input,
            // Ctrl-C at the prompt clears the line, as in psql.
            Err(ReadlineError::Interrupted) => continue,
            Err(ReadlineError::Eof) => break,
            Err(e) => return Err(Failure::usage(format!("cannot read input: {e}"))),
        };
        let input = input.trim();
        if input.is_empty() {
            continue;
        }
        let _ = editor.add_history_entry(input);
        if let Some(path) = &history
            && let Err(e) = save_history(&mut editor, path)
            && !history_warned
        {
            history_warned = true;
            eprintln!(
                "kq: cannot write history to {}: {e}; set KQ_HISTORY to another file",
                path.display()
            );
        }
        if let Flow::Quit = repl.handle(input).await {
            break;
        }
    }
    Ok(0)
}

fn save_history(
    editor: &mut Editor<ReplHelper, FileHistory>,
    path: &PathBuf,
) -> Result<(), String> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|e| e.to_string())?;
    }
    editor.append_history(path).map_err(|e| e.to_string())
}

fn history_path() -> Option<PathBuf> {
    if let Some(path) = std::env::var_os("KQ_HISTORY").filter(|p| !p.is_empty()) {
        return Some(PathBuf::from(path));
    }
    let data = std::env::var_os("XDG_DATA_HOME")
        .filter(|p| !p.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".local/share")))?;
    Some(data.join("kq").join("history"))
}

fn plural(n: usize, word: &str) -> String {
    if n == 1 {
        format!("1 {word}")
    } else {
        format!("{n} {word}s")
    }
}

fn human_bytes(bytes: usize) -> String {
    const UNITS: &[&str] = &["B", "KB", "MB", "GB", "TB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes} B")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

impl Repl {
    /// Fills completion with what is known now (typed tables, functions,
    /// contexts) and, in the background, with discovered tables: the
    /// prompt never waits on a slow cluster's discovery.
    fn refresh_completion(&self) {
        let kube = self.session.engine.kube_schema();
        let functions = self.session.engine.function_names();
        let contexts = self.session.contexts.clone();
        let completion = self.completion.clone();
        tokio::spawn(async move {
            for discover in [false, true] {
                if discover {
                    kube.discover().await;
                }
                let data = completion_data(&kube, functions.clone(), contexts.clone()).await;
                *completion.write().unwrap_or_else(|p| p.into_inner()) = data;
            }
        });
    }

    async fn handle(&mut self, input: &str) -> Flow {
        if input.starts_with('\\') {
            // A command may wait on the network too (\c, \d): Ctrl-C stops it.
            let mut interrupts = self.interrupts.clone();
            interrupts.borrow_and_update();
            return tokio::select! {
                flow = self.command(input) => flow,
                _ = interrupts.changed() => {
                    eprintln!("kq: cancelled");
                    Flow::Continue
                }
            };
        }
        self.run_sql(input).await;
        Flow::Continue
    }

    async fn command(&mut self, input: &str) -> Flow {
        let command = match Backslash::parse(input) {
            Ok(command) => command,
            Err(message) => {
                eprintln!("kq: {message}");
                return Flow::Continue;
            }
        };
        match command {
            Backslash::Quit => return Flow::Quit,
            Backslash::Help => {
                let rows = COMMANDS
                    .iter()
                    .map(|(name, help)| vec![name.to_string(), help.to_string()])
                    .collect();
                self.print_text(text_batch(&["command", "description"], rows));
            }
            Backslash::Describe(None) => {
                let batch = tables_batch(&self.session.engine).await;
                self.print_text(batch);
            }
            Backslash::Describe(Some(table)) => {
                match describe_batch(&self.session.engine, &table).await {
                    Ok(batch) => self.print_text(batch),
                    Err(failure) => eprintln!("kq: {}", failure.message),
                }
            }
            Backslash::Timing => {
                self.settings.timing = !self.settings.timing;
                println!(
                    "Timing is {}.",
                    if self.settings.timing { "on" } else { "off" }
                );
            }
            Backslash::Expanded(None) => {
                self.settings.expanded = match self.settings.expanded {
                    Expanded::Off => Expanded::On,
                    Expanded::On | Expanded::Auto => Expanded::Off,
                };
                println!("Expanded display is {}.", self.settings.expanded.name());
            }
            Backslash::Expanded(Some(mode)) => {
                self.settings.expanded = match mode.to_ascii_lowercase().as_str() {
                    "on" => Expanded::On,
                    "off" => Expanded::Off,
                    "auto" => Expanded::Auto,
                    other => {
                        eprintln!("kq: \\x takes on, off or auto, not '{other}'");
                        return Flow::Continue;
                    }
                };
                println!("Expanded display is {}.", self.settings.expanded.name());
            }
            Backslash::Output(Some(name)) if OutputFormat::from_str(&name, true).is_ok() => {
                // The shell's \o once set the format; psql's sends output
                // to a file. A format name gets the old meaning and the new way.
                eprintln!(
                    "kq: \\o FILE sends results to a file, as in psql; setting the format with \\pset format {name}"
                );
                self.set_format(&name);
            }
            Backslash::Output(path) => {
                if let Err(message) = self.settings.send_to(path.as_deref()) {
                    eprintln!("kq: {message}");
                }
            }
            Backslash::Pset(None, _) => println!(
                "format is {}; pager is {}; expanded is {}.",
                format_name(self.settings.format),
                if self.settings.pager { "on" } else { "off" },
                self.settings.expanded.name()
            ),
            Backslash::Pset(Some(option), value) => match (option.as_str(), value.as_deref()) {
                ("format", None) => {
                    println!("Output format is {}.", format_name(self.settings.format))
                }
                ("format", Some(name)) => self.set_format(name),
                ("pager", value) => {
                    self.settings.pager = match value {
                        None => !self.settings.pager,
                        Some("on") => true,
                        Some("off") => false,
                        Some(other) => {
                            eprintln!("kq: \\pset pager takes on or off, not '{other}'");
                            return Flow::Continue;
                        }
                    };
                    println!(
                        "Pager usage is {}.",
                        if self.settings.pager { "on" } else { "off" }
                    );
                }
                (other, _) => eprintln!("kq: \\pset knows format and pager, not '{other}'"),
            },
            Backslash::Connect(None) => println!(
                "Querying {}: {}.",
                plural(self.session.clusters.len(), "cluster"),
                self.session.clusters.join(", ")
            ),
            Backslash::Connect(Some(contexts)) => self.switch_clusters(&contexts).await,
            Backslash::Include(path) => match std::fs::read_to_string(&path) {
                Ok(text) => self.run_sql(&text).await,
                Err(e) => eprintln!("kq: cannot read SQL file {path}: {e}"),
            },
            Backslash::Refresh(table) => {
                let dropped = self
                    .session
                    .engine
                    .kube()
                    .live()
                    .map_or(0, |live| live.refresh(table.as_deref()));
                println!(
                    "Dropped {} from the cache; the next query lists afresh.",
                    plural(dropped, "cached resource")
                );
            }
            Backslash::Cache => self.print_text(self.cache_batch()),
        }
        Flow::Continue
    }

    async fn switch_clusters(&mut self, contexts: &str) {
        if self.ballista.is_some() {
            eprintln!(
                "kq: this shell runs on Ballista over snapshots; start kq without --ballista to query clusters"
            );
            return;
        }
        let mut sources = self.sources.clone();
        if contexts == "*" {
            sources.all_contexts = true;
            sources.context = None;
        } else {
            sources.all_contexts = false;
            sources.context = Some(contexts.to_string());
        }
        match session::build_reusing(&sources, true, Some(&self.session)).await {
            Ok(session) => {
                self.session = session;
                self.sources = sources;
                self.refresh_completion();
                println!(
                    "Now querying {}: {}.",
                    plural(self.session.clusters.len(), "cluster"),
                    self.session.clusters.join(", ")
                );
            }
            Err(failure) => eprintln!("kq: {}", failure.message),
        }
    }

    fn cache_batch(&self) -> RecordBatch {
        let stats = self
            .session
            .engine
            .kube()
            .live()
            .map(|live| live.stats())
            .unwrap_or_default();
        let rows = stats
            .into_iter()
            .map(|s| {
                vec![
                    s.tables.join(", "),
                    s.cluster,
                    s.resource,
                    s.objects.to_string(),
                    s.last_event
                        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
                        .unwrap_or_default(),
                    human_bytes(s.memory_bytes),
                    s.state,
                ]
            })
            .collect();
        text_batch(
            &[
                "tables",
                "cluster",
                "resource",
                "objects",
                "last_event",
                "memory",
                "state",
            ],
            rows,
        )
    }

    fn print_options(&self) -> PrintOptions {
        let width = if std::io::stdout().is_terminal() {
            terminal_size::terminal_size().map(|(w, _)| w.0)
        } else {
            None
        };
        PrintOptions {
            format: self.settings.format,
            max_rows: self.output.max_rows,
            header: !self.output.no_header,
            width,
        }
    }

    fn set_format(&mut self, name: &str) {
        match OutputFormat::from_str(name, true) {
            Ok(format) => {
                self.settings.format = format;
                println!("Output format is {}.", format_name(format));
            }
            Err(_) => eprintln!(
                "kq: unknown output format '{name}'; use table, json, ndjson, csv or markdown"
            ),
        }
    }

    /// Command output always uses the table format.
    fn print_text(&mut self, batch: RecordBatch) {
        let options = PrintOptions {
            format: OutputFormat::Table,
            ..self.print_options()
        };
        let mut buffer = Vec::new();
        let mut printer = Printer::new(&mut buffer, batch.schema(), options);
        let printed = printer.write_batch(&batch).and_then(|_| printer.finish());
        match printed {
            Ok(_) => self.settings.emit(&String::from_utf8_lossy(&buffer)),
            Err(e) => eprintln!("kq: cannot write output: {e}"),
        }
    }

    /// Runs each statement in turn; Ctrl-C cancels the running one (and
    /// the rest of the input).
    async fn run_sql(&mut self, sql: &str) {
        let statements = match self.session.engine.parse(sql) {
            Ok(statements) => statements,
            Err(e) => {
                eprintln!("kq: {e}");
                return;
            }
        };
        for statement in statements {
            let mark = self.session.engine.failures().mark();
            let started = Instant::now();
            let mut interrupts = self.interrupts.clone();
            interrupts.borrow_and_update();
            // The same "querying N clusters…" line as one-shot runs, so a
            // slow cluster shows as waiting, not as a hung shell.
            let mut progress = Progress::start(self.session.engine.kube_schema());
            let outcome = tokio::select! {
                outcome = self.run_statement(statement, &mut progress) => outcome,
                _ = interrupts.changed() => Err(Failure::usage("query cancelled")),
            };
            progress.finish().await;
            self.report_failures(mark);
            if let Err(failure) = &outcome {
                eprintln!("kq: {}", failure.message);
            }
            if self.settings.timing {
                println!("Time: {:.3} ms", started.elapsed().as_secs_f64() * 1000.0);
            }
            if outcome.is_err() {
                return;
            }
        }
    }

    async fn run_statement(
        &mut self,
        statement: datafusion::sql::parser::Statement,
        progress: &mut Progress,
    ) -> Result<(), Failure> {
        let collected = collect_statement(&self.session.engine, statement).await;
        // The progress line is cleared before anything is printed.
        progress.finish().await;
        let (schema, batches) = collected?;
        let text = self
            .settings
            .render(schema, &batches, self.print_options())
            .map_err(Failure::usage)?;
        self.settings.emit(&text);
        Ok(())
    }

    fn report_failures(&self, mark: Mark) {
        self.session
            .engine
            .failures()
            .since(mark)
            .iter()
            .for_each(print_failure);
    }
}

fn format_name(format: OutputFormat) -> String {
    format
        .to_possible_value()
        .map(|v| v.get_name().to_string())
        .unwrap_or_default()
}

async fn completion_data(
    kube: &kq_providers::kubernetes::KubeSchema,
    functions: Vec<String>,
    contexts: Vec<String>,
) -> CompletionData {
    use datafusion::catalog::SchemaProvider;
    let tables = kube.table_names();
    let mut columns = std::collections::BTreeMap::new();
    for table in &tables {
        if let Ok(Some(provider)) = kube.table(table).await {
            let names = provider
                .schema()
                .fields()
                .iter()
                .map(|f| f.name().clone())
                .collect();
            columns.insert(table.clone(), names);
        }
    }
    CompletionData {
        tables,
        columns,
        functions,
        contexts,
    }
}
