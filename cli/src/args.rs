//! Command-line arguments: one clap definition per subcommand, each with
//! its own flags, and the flags every subcommand shares (where to read,
//! how to print) in two global groups accepted before or after the
//! subcommand's name. Shell completions and the man page are generated
//! from these same definitions, and clap's errors are reworded here into
//! kq's one sentence.

use std::path::PathBuf;
use std::time::Duration;

use clap::error::{ContextKind, ContextValue, ErrorKind};
use clap::{Args, CommandFactory, Parser, Subcommand, ValueEnum};

use crate::print::OutputFormat;

/// SQL over live Kubernetes fleets.
///
/// `kq "SQL"` runs one query (several when separated by `;`); `kq` alone
/// opens the interactive shell. The subcommands below are the other ways in.
#[derive(Parser, Debug)]
#[command(
    name = "kq",
    version,
    about = "SQL over live Kubernetes fleets",
    long_about = None,
    after_help = EXAMPLES,
    disable_help_subcommand = true
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
    #[command(flatten)]
    pub query: QueryArgs,
    #[command(flatten)]
    pub sources: Sources,
    #[command(flatten)]
    pub output: Output,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Run SQL: what `kq "SQL"` does, spelled out.
    Query(QueryArgs),
    /// List the tables, with the clusters and snapshots they read.
    Tables,
    /// Show a table's columns and types.
    Describe {
        /// The table, e.g. `pods` or `aws.security_group_rules`.
        #[arg(value_name = "TABLE")]
        table: Option<String>,
    },
    /// Keep one query live: its result is re-drawn as the clusters change.
    Watch(WatchArgs),
    /// Run compliance controls (packs of SQL) and write reports, once or on a schedule.
    Report(ReportArgs),
    /// Write tables as Parquet snapshots, once or on a schedule.
    Snapshot(SnapshotArgs),
    /// Compare two states: two snapshots, a snapshot and the live clusters, manifests and the live clusters (drift: --manifests/--kustomize), or two manifest sets (--manifests before=OLD --manifests after=NEW).
    Diff(DiffArgs),
    /// Serve the tables over the Postgres wire protocol (psql, Grafana, Metabase, drivers), from memory kept current by watches.
    Serve(ServeArgs),
    /// Print shell completions: `kq completions bash > /etc/bash_completion.d/kq`.
    Completions {
        #[arg(value_name = "SHELL")]
        shell: clap_complete::Shell,
    },
    /// Print the man page (roff): `kq man | man -l -`, `kq man report`.
    Man {
        /// A subcommand's own page (kq-report(1)) instead of kq(1).
        #[arg(value_name = "SUBCOMMAND")]
        subcommand: Option<String>,
    },
}

impl Command {
    /// The subcommand's name, as typed.
    pub fn name(&self) -> &'static str {
        match self {
            Command::Query(_) => "query",
            Command::Tables => "tables",
            Command::Describe { .. } => "describe",
            Command::Watch(_) => "watch",
            Command::Report(_) => "report",
            Command::Snapshot(_) => "snapshot",
            Command::Diff(_) => "diff",
            Command::Serve(_) => "serve",
            Command::Completions { .. } => "completions",
            Command::Man { .. } => "man",
        }
    }
}

/// What to run in the default mode (`kq "SQL"`, `kq -f FILE`, `kq query`).
#[derive(Args, Debug, Clone, Default)]
pub struct QueryArgs {
    /// The SQL to run; several statements are separated by `;`.
    #[arg(value_name = "SQL")]
    pub query: Vec<String>,

    /// Run the statements in FILE (`-` reads standard input).
    #[arg(
        short = 'f',
        long = "file",
        value_name = "FILE",
        conflicts_with = "query"
    )]
    pub file: Option<PathBuf>,

    /// With --snapshots and no cluster: run queries on the Apache Ballista scheduler at df://HOST:PORT (kq-ballista), or `standalone` for a scheduler and executor in this process (kq built with --features ballista).
    #[arg(long, value_name = "URL", requires = "snapshots", conflicts_with_all = ["context", "all_contexts", "demo"], help_heading = "Snapshots")]
    pub ballista: Option<String>,
}

/// Where rows come from: clusters, clouds, snapshots. Every subcommand
/// accepts these.
#[derive(Args, Debug, Clone, Default)]
#[command(next_help_heading = "Clusters")]
pub struct Sources {
    /// Kubeconfig file (default: $KUBECONFIG, merged as kubectl does, else ~/.kube/config, else in-cluster).
    #[arg(long, value_name = "PATH", env = "KQ_KUBECONFIG", global = true)]
    pub kubeconfig: Option<PathBuf>,

    /// Contexts to query: names and globs, comma-separated (`prod-*,staging`). Default: the current context.
    #[arg(
        long,
        value_name = "NAMES",
        conflicts_with = "all_contexts",
        global = true
    )]
    pub context: Option<String>,

    /// Query every context in the kubeconfig. Unlike kubectl's -A (all namespaces), this widens a query to every cluster; all namespaces are always read.
    #[arg(short = 'A', long, global = true)]
    pub all_contexts: bool,

    /// Inside a pod without a kubeconfig: the name the cluster goes by (the `cluster` column; default `in-cluster`).
    #[arg(long, value_name = "NAME", env = "KQ_CLUSTER_NAME", global = true)]
    pub in_cluster_name: Option<String>,

    /// Impersonate this user on every request, as kubectl's --as (kq stays read-only).
    #[arg(long = "as", value_name = "USER", global = true)]
    pub as_user: Option<String>,

    /// With --as: impersonate these groups too (repeatable or comma-separated), as kubectl's --as-group.
    #[arg(
        long = "as-group",
        value_name = "GROUP",
        value_delimiter = ',',
        requires = "as_user",
        global = true
    )]
    pub as_group: Vec<String>,

    /// Query the embedded demo fleet (three simulated clusters, no kubeconfig needed).
    #[arg(long, conflicts_with = "kubeconfig", global = true)]
    pub demo: bool,

    /// Only these namespaces (comma-separated), as kubectl's -n: every namespaced table reads as if the query said `namespace IN (…)`, and kq lists only there.
    #[arg(
        short = 'n',
        long = "namespace",
        value_name = "NAMES",
        value_delimiter = ',',
        global = true
    )]
    pub namespace: Vec<String>,

    /// Accepted for kubectl's sake, and changes nothing: kq reads every namespace unless -n is given.
    #[arg(long, global = true, conflicts_with = "namespace")]
    pub all_namespaces: bool,

    /// Namespaces to read when a cluster-wide list is forbidden (comma-separated), besides the context's namespace.
    #[arg(long, value_name = "NAMES", value_delimiter = ',', global = true)]
    pub namespaces: Vec<String>,

    /// Per-cluster timeout for connecting and for each response (30s, 1m30s; a bare number is seconds).
    #[arg(long, value_name = "DURATION", default_value = "30s", value_parser = positive_seconds, global = true)]
    pub timeout: Duration,

    /// Objects per list request (page size).
    #[arg(long, value_name = "N", default_value_t = 500, value_parser = clap::value_parser!(u32).range(1..=10000), global = true)]
    pub chunk_size: u32,

    /// Show Secret values in the `secrets` table (never shown otherwise).
    #[arg(long, global = true)]
    pub show_secret_values: bool,

    /// AWS profiles to read, comma-separated (default: AWS_PROFILE, else `default`); tables in schema `aws`.
    #[arg(
        long,
        value_name = "NAMES",
        value_delimiter = ',',
        global = true,
        help_heading = "AWS (kq built with --features aws)"
    )]
    pub aws_profile: Vec<String>,

    /// AWS regions to read, comma-separated, or `all` for every enabled region (default: each profile's region).
    #[arg(
        long,
        value_name = "REGIONS",
        value_delimiter = ',',
        global = true,
        help_heading = "AWS (kq built with --features aws)"
    )]
    pub aws_region: Vec<String>,

    /// GCP project ids to read, comma-separated (default: every active project the credentials can list); tables in schema `gcp`.
    #[arg(
        long,
        value_name = "IDS",
        value_delimiter = ',',
        global = true,
        help_heading = "GCP (kq built with --features gcp)"
    )]
    pub gcp_project: Vec<String>,

    /// Azure subscriptions to read (ids or names), comma-separated (default: every enabled subscription the credentials can list); tables in schema `azure`.
    #[arg(
        long,
        value_name = "IDS",
        value_delimiter = ',',
        global = true,
        help_heading = "Azure (kq built with --features azure)"
    )]
    pub azure_subscription: Vec<String>,

    /// Read tables from the snapshots in DIR or bucket URL (written by kq snapshot) as schema `snapshots`; without --context/-A/--demo no cluster is read and unqualified names read the snapshots.
    #[arg(long, value_name = "DIR", global = true, help_heading = "Snapshots")]
    pub snapshots: Option<String>,

    /// With --snapshots: the latest snapshot at or before TIME (2026-12-05T10:00:00Z, 2026-12-05 10:00, 2026-12-05; UTC).
    #[arg(long, value_name = "TIME", value_parser = parse_time, requires = "snapshots", conflicts_with = "history", global = true, help_heading = "Snapshots")]
    pub at: Option<chrono::DateTime<chrono::Utc>>,

    /// With --snapshots: every snapshot, not only the latest (rows differ by observed_at).
    #[arg(
        long,
        requires = "snapshots",
        global = true,
        help_heading = "Snapshots"
    )]
    pub history: bool,

    /// Read Kubernetes objects from files as if a cluster named NAME (default `manifests`) listed them: a file, a directory (recursively), a glob, or - for stdin; YAML streams, JSON and Lists. Repeatable; rows carry source_path and source_line. Without --context/-A/--demo no cluster is read.
    #[arg(
        long,
        value_name = "[NAME=]PATH",
        global = true,
        help_heading = "Manifests"
    )]
    pub manifests: Vec<String>,

    /// Like --manifests, for what `kubectl kustomize DIR` renders. Helm: `helm template … | kq --manifests -`.
    #[arg(
        long,
        value_name = "[NAME=]DIR",
        global = true,
        help_heading = "Manifests"
    )]
    pub kustomize: Vec<String>,

    /// `--strict` (an Output flag, copied here by [`parse`]): a problem in
    /// a manifest file ends kq with exit 2 instead of a warning.
    #[arg(skip)]
    pub strict: bool,

    /// Set by `kq diff --manifests`: the files are compared with clusters,
    /// so the current context is read as kubectl would, even without
    /// --context.
    #[arg(skip)]
    pub needs_clusters: bool,

    /// Query the report history under DIR (the --out directory of kq report) as tables kq_history (every run's findings) and kq_runs (one row per run); without --context/-A/--demo no cluster is read.
    #[arg(
        long,
        value_name = "DIR",
        global = true,
        help_heading = "Report history"
    )]
    pub reports: Option<PathBuf>,
}

impl Sources {
    /// Whether objects are read from files (`--manifests`, `--kustomize`).
    pub fn reads_manifests(&self) -> bool {
        !self.manifests.is_empty() || !self.kustomize.is_empty()
    }
}

/// How results are printed, and what a partial failure means.
#[derive(Args, Debug, Clone, Default)]
#[command(next_help_heading = "Output")]
pub struct Output {
    /// Output format (default table). kq report writes json, junit, sarif, markdown, csv or html, several at once with --out (repeat -o or separate with commas).
    #[arg(
        short = 'o',
        long = "output",
        visible_alias = "format",
        value_name = "FORMAT",
        value_delimiter = ',',
        value_parser = FormatName,
        global = true
    )]
    pub formats: Vec<String>,

    /// Print at most N rows.
    #[arg(long, value_name = "N", global = true)]
    pub max_rows: Option<usize>,

    /// Show each request kq sends on stderr (method, path with selectors, status, bytes, time); -vv adds retries. Credentials are never shown.
    #[arg(short = 'v', long = "verbose", action = clap::ArgAction::Count, global = true)]
    pub verbose: u8,

    /// Omit the header line (table, csv, markdown).
    #[arg(long, global = true)]
    pub no_header: bool,

    /// Exit with code 1 if any cluster failed (rows from the others are still printed); with --manifests, a problem in a file (invalid YAML, a document without kind, a duplicate, an unreadable file) exits 2 before anything is read.
    #[arg(long, global = true)]
    pub strict: bool,
}

/// Every value `-o` takes: the table formats, then kq report's own.
const FORMAT_NAMES: [&str; 9] = [
    "table",
    "json",
    "ndjson",
    "csv",
    "markdown",
    "junit",
    "sarif",
    "html",
    "openmetrics",
];

/// `-o`'s values: offered to help and completion, but checked by the
/// subcommand, which knows which of them it prints.
#[derive(Clone)]
struct FormatName;

impl clap::builder::TypedValueParser for FormatName {
    type Value = String;

    fn parse_ref(
        &self,
        _cmd: &clap::Command,
        _arg: Option<&clap::Arg>,
        value: &std::ffi::OsStr,
    ) -> Result<String, clap::Error> {
        Ok(value.to_string_lossy().into_owned())
    }

    fn possible_values(
        &self,
    ) -> Option<Box<dyn Iterator<Item = clap::builder::PossibleValue> + '_>> {
        Some(Box::new(
            FORMAT_NAMES
                .iter()
                .map(|name| clap::builder::PossibleValue::new(*name)),
        ))
    }
}

impl Output {
    /// The one table format given, if any; `-o` was checked by [`Output::check_table`].
    pub fn format(&self) -> Option<OutputFormat> {
        self.formats
            .first()
            .and_then(|name| OutputFormat::from_str(name, true).ok())
    }

    /// Outside kq report, `-o` names one table format.
    pub fn check_table(&self, command: &str) -> Result<(), String> {
        match self.formats.as_slice() {
            [] => Ok(()),
            [name] if OutputFormat::from_str(name, true).is_ok() => Ok(()),
            [name] if FORMAT_NAMES.contains(&name.as_str()) => Err(format!(
                "-o {name} is a kq report format; {command} prints table, json, ndjson, csv or markdown"
            )),
            [name] => Err(format!(
                "unknown output format '{name}'; use table, json, ndjson, csv or markdown"
            )),
            [..] => Err(format!(
                "{command} prints one format, not {}; several formats are for kq report",
                self.formats.join(",")
            )),
        }
    }
}

#[derive(Args, Debug, Clone, Default)]
pub struct WatchArgs {
    /// The query to keep live.
    #[arg(value_name = "SQL")]
    pub query: Vec<String>,

    /// Print only changes, one JSON object per line.
    #[arg(long)]
    pub changes: bool,

    /// Stop after DURATION (500ms, 30s, 5m, 1h30m).
    #[arg(long = "for", value_name = "DURATION", value_parser = positive_seconds)]
    pub for_duration: Option<Duration>,

    /// Stop after N changes (the initial result does not count).
    #[arg(long, value_name = "N")]
    pub max_changes: Option<u64>,

    /// Wait this long after a change before re-running, so a burst is one re-run (a bare number is milliseconds).
    #[arg(long, value_name = "DURATION", default_value = "50ms", value_parser = parse_millis)]
    pub debounce: Duration,

    /// The result columns that identify a row (default: cluster, namespace, name and uid when present, else every column).
    #[arg(long, value_name = "COLUMNS", value_delimiter = ',')]
    pub key: Vec<String>,
}

/// `--every` and `--cron`: kq report and kq snapshot run again until interrupted.
#[derive(Args, Debug, Clone, Default)]
pub struct ScheduleArgs {
    /// Run again every DURATION (30m, 1h, 1d) until interrupted.
    #[arg(long, value_name = "DURATION", value_parser = positive_seconds, conflicts_with = "cron")]
    pub every: Option<Duration>,

    /// Run on a cron schedule, in UTC ("0 6 * * *", "@daily"), until interrupted.
    #[arg(long, value_name = "EXPR")]
    pub cron: Option<String>,
}

#[derive(Args, Debug, Clone, Default)]
pub struct ReportArgs {
    /// Packs to run (baseline, cis, nsa, practices, gcp, azure, or a directory of .sql controls). Default: every built-in Kubernetes pack (gcp and azure run only when named).
    #[arg(long, value_name = "NAMES", value_delimiter = ',')]
    pub pack: Vec<String>,

    /// Only these controls (ids or globs such as `cis.5_1_*`).
    #[arg(long, value_name = "IDS", value_delimiter = ',')]
    pub control: Vec<String>,

    /// Directory for the reports; each run is kept under OUT/runs/ and OUT/latest points to the newest. Without it, one format goes to stdout.
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,

    /// Exit 1 when a control of at least this severity alarms (info, low, medium, high, critical; default low).
    #[arg(long, value_name = "SEVERITY")]
    pub fail_on: Option<String>,

    /// A control parameter, NAME=VALUE (lists as A,B,C); repeatable.
    #[arg(long = "param", value_name = "NAME=VALUE")]
    pub params: Vec<String>,

    /// A YAML file of parameters (`params: {trusted_registries: [...]}`).
    #[arg(long, value_name = "FILE")]
    pub params_file: Option<PathBuf>,

    /// A YAML file of waivers (control, resource, reason, expires).
    #[arg(long, value_name = "FILE")]
    pub waivers: Option<PathBuf>,

    #[command(flatten)]
    pub schedule: ScheduleArgs,

    /// With --every/--cron: serve the latest run's metrics (OpenMetrics) on http://ADDR/metrics for Prometheus.
    #[arg(long, value_name = "HOST:PORT")]
    pub metrics_listen: Option<String>,

    /// Keep the newest N runs under --out, removing older ones (the history that kq_history reads is kept; see --keep-history).
    #[arg(long, value_name = "N")]
    pub keep: Option<usize>,

    /// Compare with the oldest run of the last DURATION in the history (30d, 1w) rather than with the previous run; needs --out.
    #[arg(long, value_name = "DURATION", value_parser = parse_window, requires = "out")]
    pub since: Option<Window>,

    /// Remove history (kq_history, kq_runs) of runs older than DURATION (90d); default: keep it all.
    #[arg(long, value_name = "DURATION", value_parser = positive_seconds, requires = "out")]
    pub keep_history: Option<Duration>,

    /// List the controls (with --pack/--control, only those) and exit.
    #[arg(long)]
    pub list: bool,
}

#[derive(Args, Debug, Clone, Default)]
pub struct SnapshotArgs {
    /// Where to write: a directory (created if missing), s3://, gs:// or az:// bucket URL.
    #[arg(long, value_name = "DIR")]
    pub to: Option<String>,

    /// The tables to write, comma-separated (default: every built-in table).
    #[arg(
        long,
        value_name = "NAMES",
        value_delimiter = ',',
        conflicts_with = "all_tables"
    )]
    pub tables: Vec<String>,

    /// Every table, including each resource the clusters serve (CRDs too).
    #[arg(long)]
    pub all_tables: bool,

    #[command(flatten)]
    pub schedule: ScheduleArgs,
}

#[derive(Args, Debug, Clone, Default)]
pub struct DiffArgs {
    /// Tables to compare, space- or comma-separated (default: every table in the older snapshot); with --manifests, kinds (Deployment, deployments or deployments.apps; default: every kind the files declare).
    #[arg(value_name = "TABLES")]
    pub tables: Vec<String>,

    /// With --manifests: also list live objects in the namespaces and kinds the files use that no file declares (objects a controller owns, and those every cluster makes for itself, excepted).
    #[arg(long)]
    pub extra: bool,

    /// The older state: a TIME as for --at (the latest snapshot at or before it).
    #[arg(long, value_name = "TIME", value_parser = parse_time)]
    pub from: Option<chrono::DateTime<chrono::Utc>>,

    /// The newer state: a TIME, or `now` for the live clusters (default: the latest snapshot).
    #[arg(long, value_name = "TIME")]
    pub to: Option<String>,
}

#[derive(Args, Debug, Clone)]
pub struct ServeArgs {
    /// Address to listen on (port 0 picks a free port). Beyond loopback, --password-file and --tls-cert/--tls-key are required.
    #[arg(long, value_name = "HOST:PORT", default_value = "127.0.0.1:5433")]
    pub listen: String,

    /// A file holding the password clients must give (SCRAM-SHA-256); any user name is accepted.
    #[arg(long, value_name = "FILE")]
    pub password_file: Option<PathBuf>,

    /// TLS certificate chain (PEM); with it, clients must connect over TLS.
    #[arg(long, value_name = "FILE", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,

    /// TLS private key (PEM: PKCS#8, PKCS#1 or SEC1).
    #[arg(long, value_name = "FILE", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,

    /// Longest a query may run; a client's shorter `SET statement_timeout` wins.
    #[arg(long, value_name = "DURATION", default_value = "2m", value_parser = positive_seconds)]
    pub query_timeout: Duration,

    /// Memory one query may use for sorts, joins, aggregates and its result (512MB, 2GiB).
    #[arg(long, value_name = "SIZE", default_value = "512MiB", value_parser = parse_size)]
    pub query_memory: usize,

    /// Most clients connected at once; more are turned away with an error.
    #[arg(long, value_name = "N", default_value_t = 64, value_parser = clap::value_parser!(u32).range(1..))]
    pub max_connections: u32,
}

/// A byte size: a number with an optional unit (KB, MB, GB are powers of
/// 1000; KiB, MiB, GiB of 1024).
pub fn parse_size(text: &str) -> Result<usize, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let number: usize = number
        .parse()
        .map_err(|_| format!("'{text}' is not a size; use e.g. 512MB or 2GiB"))?;
    let scale: usize = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "kb" => 1000,
        "mb" => 1_000_000,
        "gb" => 1_000_000_000,
        "kib" => 1 << 10,
        "mib" => 1 << 20,
        "gib" => 1 << 30,
        other => {
            return Err(format!(
                "unknown size unit '{other}' in '{text}'; use KB, MB, GB, KiB, MiB or GiB"
            ));
        }
    };
    match number.checked_mul(scale) {
        Some(0) | None => Err(format!("'{text}' is not a usable size")),
        Some(bytes) => Ok(bytes),
    }
}

const EXAMPLES: &str = "Examples:
  kq --demo \"SELECT DISTINCT image FROM containers WHERE image LIKE '%mysql%'\"
  kq --context 'prod-*' \"SELECT cluster, namespace, name FROM pods WHERE phase = 'Pending'\"
  kq -A -o json \"SELECT * FROM services WHERE type = 'LoadBalancer'\"
  kq watch \"SELECT namespace, phase, count(*) FROM pods GROUP BY namespace, phase\"
  kq watch --changes \"SELECT cluster, namespace, name, phase FROM pods\"
  kq report --demo --pack baseline -o html,sarif --out reports/
  kq report -A --fail-on high --waivers waivers.yaml --every 1h --out /var/lib/kq
  kq snapshot --context 'prod-*' --to ./snapshots --every 1h
  kq diff --snapshots ./snapshots --from 2026-12-01 --to now pods,deployments
  kq --snapshots ./snapshots --at 2026-12-01 \"SELECT cluster, count(*) FROM pods GROUP BY cluster\"
  kq tables
  kq describe containers
  kq serve -A --listen 127.0.0.1:5433   # then: psql -h 127.0.0.1 -p 5433 kq
  kq completions bash > ~/.local/share/bash-completion/completions/kq";

/// `--at`: RFC 3339, or a UTC date and time without zone, or a date (midnight UTC).
pub fn parse_time(text: &str) -> Result<chrono::DateTime<chrono::Utc>, String> {
    use chrono::{NaiveDate, NaiveDateTime, TimeZone, Utc};
    let text = text.trim();
    if let Ok(at) = chrono::DateTime::parse_from_rfc3339(text) {
        return Ok(at.with_timezone(&Utc));
    }
    for format in [
        "%Y-%m-%d %H:%M:%S",
        "%Y-%m-%d %H:%M",
        "%Y-%m-%dT%H:%M:%S",
        "%Y-%m-%dT%H:%M",
    ] {
        if let Ok(at) = NaiveDateTime::parse_from_str(text, format) {
            return Ok(Utc.from_utc_datetime(&at));
        }
    }
    if let Ok(day) = NaiveDate::parse_from_str(text, "%Y-%m-%d")
        && let Some(at) = day.and_hms_opt(0, 0, 0)
    {
        return Ok(Utc.from_utc_datetime(&at));
    }
    Err(format!(
        "'{text}' is not a time; use 2026-12-05T10:00:00Z, 2026-12-05 10:00 or 2026-12-05 (UTC)"
    ))
}

/// A duration as humantime writes them (`250ms`, `1h30m`, `1d`); a bare
/// number counts in `bare` units, as the flag's older integer form did.
fn parse_duration_with(text: &str, bare: Duration) -> Result<Duration, String> {
    let text = text.trim();
    if let Ok(count) = text.parse::<u32>() {
        return Ok(bare * count);
    }
    humantime::parse_duration(text)
        .map_err(|_| format!("'{text}' is not a duration; use e.g. 250ms, 30s, 5m, 1h30m or 1d"))
}

/// A duration longer than zero; a bare number is seconds.
pub fn positive_seconds(text: &str) -> Result<Duration, String> {
    let duration = parse_duration_with(text, Duration::from_secs(1))?;
    if duration.is_zero() {
        return Err("it must be longer than 0".to_string());
    }
    Ok(duration)
}

/// A span of time back from now, as the user wrote it and as a duration.
#[derive(Debug, Clone)]
pub struct Window {
    pub text: String,
    pub duration: Duration,
}

/// `--since`: a positive duration; a bare number is seconds.
fn parse_window(text: &str) -> Result<Window, String> {
    Ok(Window {
        text: text.trim().to_string(),
        duration: positive_seconds(text)?,
    })
}

/// A duration; a bare number is milliseconds.
fn parse_millis(text: &str) -> Result<Duration, String> {
    parse_duration_with(text, Duration::from_millis(1))
}

/// Parses the command line; a usage error is one sentence, and `--help`
/// or `--version` print and exit here.
pub fn parse() -> Result<Cli, String> {
    let words: Vec<String> = std::env::args().collect();
    match Cli::try_parse_from(&words) {
        Ok(mut cli) => {
            cli.sources.strict = cli.output.strict;
            Ok(cli)
        }
        Err(error)
            if matches!(
                error.kind(),
                ErrorKind::DisplayHelp
                    | ErrorKind::DisplayVersion
                    | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand
            ) =>
        {
            error.exit()
        }
        Err(error) => Err(one_sentence(&error, &words)),
    }
}

/// clap's error, reworded into one line: a flag given to the wrong
/// subcommand names the subcommands it belongs to.
fn one_sentence(error: &clap::Error, words: &[String]) -> String {
    let invalid = match error.get(ContextKind::InvalidArg) {
        Some(ContextValue::String(arg)) => Some(arg.clone()),
        _ => None,
    };
    if error.kind() == ErrorKind::UnknownArgument
        && let Some(arg) = &invalid
    {
        let subcommand = words
            .iter()
            .skip(1)
            .find(|word| Cli::command().find_subcommand(word).is_some());
        if !arg.starts_with('-')
            && let Some(name) = &subcommand
        {
            return format!("kq {name} takes flags, not '{arg}'; kq {name} --help lists them");
        }
        let flag = arg.split('=').next().unwrap_or(arg);
        let owners = subcommands_with_flag(flag);
        // The query flags are also the top level's: `kq --ballista … "SQL"`.
        if owners == ["query"] {
            return format!(
                "{flag} only applies to queries: kq {flag} … \"SQL\" or kq query {flag} … \"SQL\""
            );
        }
        if !owners.is_empty() {
            let list = owners
                .iter()
                .map(|name| format!("kq {name}"))
                .collect::<Vec<_>>()
                .join(" and ");
            return format!(
                "{flag} only applies to {list}, e.g. kq {} {flag} …",
                owners[0]
            );
        }
    }
    let rendered = error.render().to_string();
    let mut lines = rendered.lines();
    let mut first = lines
        .next()
        .unwrap_or_default()
        .trim_start_matches("error: ")
        .to_string();
    // "the following required arguments were not provided:" lists them on
    // the indented lines below; they belong in the sentence.
    if first.ends_with(':') {
        let listed: Vec<&str> = lines
            .take_while(|line| line.starts_with("  "))
            .map(str::trim)
            .collect();
        first = format!("{} {}", first, listed.join(", "));
    }
    match error.kind() {
        ErrorKind::InvalidSubcommand | ErrorKind::UnknownArgument => {
            format!("{first}; kq --help lists the flags and subcommands")
        }
        _ => first,
    }
}

/// The subcommands that define `flag` (`--pack`) as their own.
fn subcommands_with_flag(flag: &str) -> Vec<String> {
    let Some(long) = flag.strip_prefix("--") else {
        return Vec::new();
    };
    Cli::command()
        .get_subcommands()
        .filter(|sub| {
            sub.get_arguments()
                .any(|arg| !arg.is_global_set() && arg.get_long() == Some(long))
        })
        .map(|sub| sub.get_name().to_string())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_from(words: &[&str]) -> Result<Cli, clap::Error> {
        Cli::try_parse_from(std::iter::once("kq").chain(words.iter().copied()))
    }

    fn refusal(words: &[&str]) -> String {
        let error = parse_from(words).expect_err("refused");
        let words: Vec<String> = std::iter::once("kq")
            .chain(words.iter().copied())
            .map(str::to_string)
            .collect();
        one_sentence(&error, &words)
    }

    #[test]
    fn the_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn shared_flags_go_before_or_after_the_subcommand() {
        for words in [
            &["--demo", "-o", "json", "tables"][..],
            &["tables", "--demo", "-o", "json"][..],
        ] {
            let cli = parse_from(words).expect("parses");
            assert!(matches!(cli.command, Some(Command::Tables)), "{words:?}");
            assert!(cli.sources.demo, "{words:?}");
            assert_eq!(cli.output.formats, ["json"], "{words:?}");
        }
        let cli =
            parse_from(&["report", "--pack", "baseline", "-A", "-o", "json,html"]).expect("parses");
        let Some(Command::Report(report)) = cli.command else {
            panic!("a report");
        };
        assert_eq!(report.pack, ["baseline"]);
        assert!(cli.sources.all_contexts);
        assert_eq!(cli.output.formats, ["json", "html"]);
    }

    #[test]
    fn sql_is_the_default_subcommand() {
        let cli = parse_from(&["--demo", "SELECT 1"]).expect("parses");
        assert!(cli.command.is_none());
        assert_eq!(cli.query.query, ["SELECT 1"]);
    }

    #[test]
    fn durations_parse_as_humantime_with_bare_numbers_in_the_flags_unit() {
        assert_eq!(positive_seconds("1h30m"), Ok(Duration::from_secs(5400)));
        assert_eq!(positive_seconds("1d"), Ok(Duration::from_secs(86_400)));
        assert_eq!(positive_seconds("30"), Ok(Duration::from_secs(30)));
        assert_eq!(parse_millis("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_millis("50"), Ok(Duration::from_millis(50)));
        assert!(positive_seconds("0s").is_err());
        assert!(
            positive_seconds("soon")
                .unwrap_err()
                .contains("is not a duration")
        );
    }

    #[test]
    fn sizes_parse_in_both_unit_systems() {
        assert_eq!(parse_size("512MiB"), Ok(512 << 20));
        assert_eq!(parse_size("2GB"), Ok(2_000_000_000));
        assert_eq!(parse_size("4096"), Ok(4096));
        assert!(parse_size("0MB").is_err());
        assert!(parse_size("lots").unwrap_err().contains("is not a size"));
        assert!(
            parse_size("3 parsecs")
                .unwrap_err()
                .contains("unknown size unit")
        );
    }

    #[test]
    fn a_flag_of_another_subcommand_names_its_owner() {
        assert_eq!(
            refusal(&["--pack", "baseline", "SELECT 1"]),
            "--pack only applies to kq report, e.g. kq report --pack …"
        );
        let to = refusal(&["--to", "x", "SELECT 1"]);
        assert!(
            to.starts_with("--to only applies to kq snapshot and kq diff"),
            "{to}"
        );
        assert_eq!(
            refusal(&["diff", "--ballista", "standalone"]),
            "--ballista only applies to queries: kq --ballista … \"SQL\" or kq query --ballista … \"SQL\""
        );
        assert_eq!(
            refusal(&["report", "baseline"]),
            "kq report takes flags, not 'baseline'; kq report --help lists them"
        );
    }
}
