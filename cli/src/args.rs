//! Command-line arguments.

use std::path::PathBuf;

use clap::Parser;

use crate::print::OutputFormat;

/// SQL over live Kubernetes fleets.
///
/// kq QUERY runs one query (several when separated by `;`); `kq tables`
/// lists the tables; `kq describe TABLE` shows a table's columns; `kq
/// watch QUERY` keeps a query live as the clusters change.
#[derive(Parser, Debug, Clone)]
#[command(name = "kq", version, about, long_about = None, after_help = EXAMPLES)]
pub struct Args {
    /// The SQL to run, or `tables`, or `describe TABLE`.
    #[arg(value_name = "QUERY")]
    pub query: Vec<String>,

    /// Run the statements in FILE (separated by `;`).
    #[arg(
        short = 'f',
        long = "file",
        value_name = "FILE",
        conflicts_with = "query"
    )]
    pub file: Option<PathBuf>,

    /// Kubeconfig file (default: $KUBECONFIG, merged as kubectl does, else ~/.kube/config, else in-cluster).
    #[arg(long, value_name = "PATH", env = "KQ_KUBECONFIG")]
    pub kubeconfig: Option<PathBuf>,

    /// Contexts to query: names and globs, comma-separated (`prod-*,staging`). Default: the current context.
    #[arg(long, value_name = "NAMES", conflicts_with = "all_contexts")]
    pub context: Option<String>,

    /// Query every context in the kubeconfig.
    #[arg(short = 'A', long)]
    pub all_contexts: bool,

    /// Query the embedded demo fleet (three simulated clusters, no kubeconfig needed).
    #[arg(long, conflicts_with = "kubeconfig")]
    pub demo: bool,

    /// Output format (default: table).
    #[arg(short = 'o', long = "output", value_enum, value_name = "FORMAT")]
    pub output: Option<OutputFormat>,

    /// Print at most N rows.
    #[arg(long, value_name = "N")]
    pub max_rows: Option<usize>,

    /// Omit the header line (table, csv, markdown).
    #[arg(long)]
    pub no_header: bool,

    /// Namespaces to read when a cluster-wide list is forbidden (comma-separated), besides the context's namespace.
    #[arg(long, value_name = "NAMES", value_delimiter = ',')]
    pub namespaces: Vec<String>,

    /// Exit with code 1 if any cluster failed (rows from the others are still printed).
    #[arg(long)]
    pub strict: bool,

    /// Per-cluster timeout for connecting and for each response, in seconds.
    #[arg(long, value_name = "SECONDS", default_value_t = 30)]
    pub timeout: u64,

    /// Objects per list request (page size).
    #[arg(long, value_name = "N", default_value_t = 500, value_parser = clap::value_parser!(u32).range(1..=10000))]
    pub chunk_size: u32,

    /// Show Secret values in the `secrets` table (never shown otherwise).
    #[arg(long)]
    pub show_secret_values: bool,

    /// kq watch: print only changes, one JSON object per line.
    #[arg(long, help_heading = "kq watch")]
    pub changes: bool,

    /// kq watch: stop after DURATION (500ms, 30s, 5m, 1h).
    #[arg(long = "for", value_name = "DURATION", value_parser = crate::watch::parse_duration, help_heading = "kq watch")]
    pub for_duration: Option<std::time::Duration>,

    /// kq watch: stop after N changes (the initial result does not count).
    #[arg(long, value_name = "N", help_heading = "kq watch")]
    pub max_changes: Option<u64>,

    /// kq watch: wait this many milliseconds after a change before re-running, so a burst is one re-run.
    #[arg(
        long,
        value_name = "MS",
        default_value_t = 50,
        help_heading = "kq watch"
    )]
    pub debounce: u64,

    /// kq watch: the result columns that identify a row (default: see `kq watch --help`).
    #[arg(
        long,
        value_name = "COLUMNS",
        value_delimiter = ',',
        help_heading = "kq watch"
    )]
    pub key: Vec<String>,
}

impl Args {
    /// The watch-only flags given, by name, to reject them elsewhere.
    pub fn watch_flags(&self) -> Vec<&'static str> {
        let mut flags = Vec::new();
        if self.changes {
            flags.push("--changes");
        }
        if self.for_duration.is_some() {
            flags.push("--for");
        }
        if self.max_changes.is_some() {
            flags.push("--max-changes");
        }
        if !self.key.is_empty() {
            flags.push("--key");
        }
        flags
    }
}

const EXAMPLES: &str = "Examples:
  kq --demo \"SELECT DISTINCT image FROM containers WHERE image LIKE '%mysql%'\"
  kq --context 'prod-*' \"SELECT cluster, namespace, name FROM pods WHERE phase = 'Pending'\"
  kq -A -o json \"SELECT * FROM services WHERE type = 'LoadBalancer'\"
  kq watch \"SELECT namespace, phase, count(*) FROM pods GROUP BY namespace, phase\"
  kq watch --changes \"SELECT cluster, namespace, name, phase FROM pods\"
  kq tables
  kq describe containers";
