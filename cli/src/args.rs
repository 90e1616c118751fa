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

    /// Inside a pod without a kubeconfig: the name the cluster goes by (the `cluster` column; default `in-cluster`).
    #[arg(long, value_name = "NAME", env = "KQ_CLUSTER_NAME")]
    pub in_cluster_name: Option<String>,

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

    /// AWS profiles to read, comma-separated (default: AWS_PROFILE, else `default`); tables in schema `aws`.
    #[arg(
        long,
        value_name = "NAMES",
        value_delimiter = ',',
        help_heading = "AWS (kq built with --features aws)"
    )]
    pub aws_profile: Vec<String>,

    /// AWS regions to read, comma-separated, or `all` for every enabled region (default: each profile's region).
    #[arg(
        long,
        value_name = "REGIONS",
        value_delimiter = ',',
        help_heading = "AWS (kq built with --features aws)"
    )]
    pub aws_region: Vec<String>,

    /// Read tables from the snapshots in DIR (written by kq snapshot) as schema `snapshots`; without --context/-A/--demo no cluster is read and unqualified names read the snapshots.
    #[arg(long, value_name = "DIR", help_heading = "Snapshots")]
    pub snapshots: Option<String>,

    /// With --snapshots: the latest snapshot at or before TIME (2026-12-05T10:00:00Z, 2026-12-05 10:00, 2026-12-05; UTC).
    #[arg(long, value_name = "TIME", value_parser = parse_time, requires = "snapshots", conflicts_with = "history", help_heading = "Snapshots")]
    pub at: Option<chrono::DateTime<chrono::Utc>>,

    /// With --snapshots: every snapshot, not only the latest (rows differ by observed_at).
    #[arg(long, requires = "snapshots", help_heading = "Snapshots")]
    pub history: bool,

    /// With --snapshots and no cluster: run queries on the Apache Ballista scheduler at df://HOST:PORT (kq-ballista), or `standalone` for a scheduler and executor in this process (kq built with --features ballista).
    #[arg(long, value_name = "URL", requires = "snapshots", conflicts_with_all = ["context", "all_contexts", "demo"], help_heading = "Snapshots")]
    pub ballista: Option<String>,

    /// kq diff: the older state, a TIME as for --at (the latest snapshot at or before it).
    #[arg(long, value_name = "TIME", value_parser = parse_time, help_heading = "Snapshots")]
    pub from: Option<chrono::DateTime<chrono::Utc>>,

    /// kq snapshot: the directory to write snapshots to (created if missing). kq diff: the newer state, a TIME or `now` (the live clusters); default the latest snapshot.
    #[arg(long, value_name = "DIR", help_heading = "kq snapshot")]
    pub to: Option<String>,

    /// kq snapshot: the tables to write, comma-separated (default: every built-in table).
    #[arg(
        long,
        value_name = "NAMES",
        value_delimiter = ',',
        conflicts_with = "all_tables",
        help_heading = "kq snapshot"
    )]
    pub tables: Vec<String>,

    /// kq snapshot: every table, including each resource the clusters serve (CRDs too).
    #[arg(long, help_heading = "kq snapshot")]
    pub all_tables: bool,

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

    /// kq report: packs to run (baseline, cis, nsa, practices, or a directory of .sql controls). Default: every built-in pack.
    #[arg(
        long,
        value_name = "NAMES",
        value_delimiter = ',',
        help_heading = "kq report"
    )]
    pub pack: Vec<String>,

    /// kq report: only these controls (ids or globs such as `cis.5_1_*`).
    #[arg(
        long,
        value_name = "IDS",
        value_delimiter = ',',
        help_heading = "kq report"
    )]
    pub control: Vec<String>,

    /// kq report: formats to write (json, junit, sarif, markdown, csv, html); without --out, one format goes to stdout.
    #[arg(
        long,
        value_name = "FORMATS",
        value_delimiter = ',',
        help_heading = "kq report"
    )]
    pub format: Vec<String>,

    /// kq report: directory for the reports; each run is kept under OUT/runs/ and OUT/latest points to the newest.
    #[arg(long, value_name = "DIR", help_heading = "kq report")]
    pub out: Option<PathBuf>,

    /// kq report: exit 1 when a control of at least this severity alarms (info, low, medium, high, critical; default low).
    #[arg(long, value_name = "SEVERITY", help_heading = "kq report")]
    pub fail_on: Option<String>,

    /// kq report: a control parameter, NAME=VALUE (lists as A,B,C); repeatable.
    #[arg(long = "param", value_name = "NAME=VALUE", help_heading = "kq report")]
    pub params: Vec<String>,

    /// kq report: a YAML file of parameters (`params: {trusted_registries: [...]}`).
    #[arg(long, value_name = "FILE", help_heading = "kq report")]
    pub params_file: Option<PathBuf>,

    /// kq report: a YAML file of waivers (control, resource, reason, expires).
    #[arg(long, value_name = "FILE", help_heading = "kq report")]
    pub waivers: Option<PathBuf>,

    /// kq report, kq snapshot: run again every DURATION (30m, 1h, 24h) until interrupted.
    #[arg(long, value_name = "DURATION", value_parser = crate::watch::parse_duration, conflicts_with = "cron", help_heading = "kq report")]
    pub every: Option<std::time::Duration>,

    /// kq report, kq snapshot: run on a cron schedule, in UTC ("0 6 * * *"), until interrupted.
    #[arg(long, value_name = "EXPR", help_heading = "kq report")]
    pub cron: Option<String>,

    /// kq report: keep the newest N runs under --out, removing older ones.
    #[arg(long, value_name = "N", help_heading = "kq report")]
    pub keep: Option<usize>,

    /// kq report: list the controls (with --pack/--control, only those) and exit.
    #[arg(long, help_heading = "kq report")]
    pub list: bool,
}

impl Args {
    /// The report-only flags given, by name, to reject them elsewhere.
    pub fn report_flags(&self) -> Vec<&'static str> {
        let mut flags = Vec::new();
        let given = [
            (!self.pack.is_empty(), "--pack"),
            (!self.control.is_empty(), "--control"),
            (!self.format.is_empty(), "--format"),
            (self.out.is_some(), "--out"),
            (self.fail_on.is_some(), "--fail-on"),
            (!self.params.is_empty(), "--param"),
            (self.params_file.is_some(), "--params-file"),
            (self.waivers.is_some(), "--waivers"),
            (self.keep.is_some(), "--keep"),
            (self.list, "--list"),
        ];
        for (set, flag) in given {
            if set {
                flags.push(flag);
            }
        }
        flags
    }

    /// The snapshot-writing flags given, by name, to reject them elsewhere.
    pub fn snapshot_flags(&self) -> Vec<&'static str> {
        let given = [
            (self.to.is_some(), "--to"),
            (!self.tables.is_empty(), "--tables"),
            (self.all_tables, "--all-tables"),
        ];
        given
            .into_iter()
            .filter_map(|(set, flag)| set.then_some(flag))
            .collect()
    }

    /// The schedule flags (kq report and kq snapshot).
    pub fn schedule_flags(&self) -> Vec<&'static str> {
        let given = [
            (self.every.is_some(), "--every"),
            (self.cron.is_some(), "--cron"),
        ];
        given
            .into_iter()
            .filter_map(|(set, flag)| set.then_some(flag))
            .collect()
    }

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
  kq report --demo --pack baseline --format html,sarif --out reports/
  kq report -A --fail-on high --waivers waivers.yaml --every 1h --out /var/lib/kq
  kq snapshot --context 'prod-*' --to ./snapshots --every 1h
  kq diff --snapshots ./snapshots --from 2026-12-01 --to now pods,deployments
  kq --snapshots ./snapshots --at 2026-12-01 \"SELECT cluster, count(*) FROM pods GROUP BY cluster\"
  kq tables
  kq describe containers";

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
