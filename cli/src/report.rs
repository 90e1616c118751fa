//! `kq report`: compliance controls over the fleet, once or on a schedule.
//!
//! One run: pick controls and parameters, check the waiver file, build a
//! live session (each resource of each cluster is listed once for all
//! controls, then kept current by a watch while the controls run), let the
//! engine evaluate the controls, apply waivers, compare with the previous
//! run under `--out`, then write the formats and print a summary.
//!
//! Scheduled (`--every`, `--cron`): the same run in a loop. Each run builds
//! a fresh session, so rotated credentials and a changed kubeconfig are
//! picked up and no watch stays open between runs; a failing run is
//! reported and the loop goes on. Ctrl-C or SIGTERM ends the loop between
//! or during runs; a run that is interrupted writes nothing.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use chrono::{DateTime, SecondsFormat, Utc};

use kq_engine::history as report_history;
use kq_report::control::{Selection, select};
use kq_report::formats::Format;
use kq_report::waivers::Waivers;
use kq_report::{Report, Severity, TrendPoint, history};

use crate::Failure;
use crate::args::{Output, ReportArgs, Sources, Window};
use crate::cron::{self, Schedule};
use crate::exec::{every_cluster_failed, print_batch, text_batch};
use crate::print::{OutputFormat, PrintOptions};
use crate::session;

/// Everything a run needs that does not change between runs.
struct Plan {
    selection: Selection,
    waivers: Option<Waivers>,
    formats: Vec<Format>,
    fail_on: Severity,
    sources: Sources,
    out: Option<PathBuf>,
    keep: Option<usize>,
    since: Option<Window>,
    keep_history: Option<std::time::Duration>,
    strict: bool,
}

pub async fn run(sources: &Sources, output: &Output, args: &ReportArgs) -> Result<u8, Failure> {
    let selection = select(
        &args.pack,
        &args.control,
        args.params_file.as_deref(),
        &args.params,
    )
    .map_err(|e| Failure::usage(e.to_string()))?;
    if args.list {
        return list(&selection);
    }
    let formats = parse_formats(&output.formats)?;
    let fail_on = match args.fail_on.as_deref() {
        None => Severity::Low,
        Some(text) => Severity::parse(text).ok_or_else(|| {
            Failure::usage(format!(
                "--fail-on '{text}' is not a severity; use info, low, medium, high or critical"
            ))
        })?,
    };
    let schedule = Schedule::from_args(&args.schedule)?;
    if args.out.is_none() {
        if !matches!(schedule, Schedule::Once) {
            return Err(Failure::usage(
                "a scheduled report needs --out DIR to keep its runs",
            ));
        }
        if formats.len() > 1 {
            return Err(Failure::usage(
                "several -o formats need --out DIR; without it one format is printed to stdout",
            ));
        }
    }
    if args.keep == Some(0) {
        return Err(Failure::usage("--keep must be at least 1"));
    }
    if sources.reports.is_some() {
        return Err(Failure::usage(
            "kq report reads clusters and writes its history under --out; --reports DIR is for queries over that history: kq --reports DIR \"SQL\"",
        ));
    }
    if let (Some(keep), Some(since)) = (args.keep_history, &args.since)
        && keep < since.duration
    {
        return Err(Failure::usage(format!(
            "--keep-history {} would remove runs of the --since {} window; keep the history at least as long as the window",
            humantime::format_duration(keep),
            since.text
        )));
    }
    let metrics_address = match &args.metrics_listen {
        None => None,
        Some(_) if matches!(schedule, Schedule::Once) => {
            return Err(Failure::usage(
                "--metrics-listen serves a scheduled report's metrics; add --every or --cron, or write them once with -o openmetrics",
            ));
        }
        Some(listen) => Some(crate::exec::socket_address(
            "--metrics-listen",
            listen,
            "127.0.0.1:9464",
        )?),
    };
    let waivers = match &args.waivers {
        Some(path) => Some(
            Waivers::load(path, &selection.known_ids).map_err(|e| Failure::usage(e.to_string()))?,
        ),
        None => None,
    };
    let plan = Plan {
        selection,
        waivers,
        formats,
        fail_on,
        sources: sources.clone(),
        out: args.out.clone(),
        keep: args.keep,
        since: args.since.clone(),
        keep_history: args.keep_history,
        strict: output.strict,
    };
    match schedule {
        Schedule::Once => run_once(&plan).await,
        schedule => {
            let metrics = match metrics_address {
                None => None,
                Some(address) => {
                    let latest = crate::metrics::Latest::default();
                    let bound = crate::metrics::serve(address, latest.clone())
                        .await
                        .map_err(Failure::usage)?;
                    println!("kq report: serving metrics on http://{bound}/metrics");
                    Some(latest)
                }
            };
            run_scheduled(&plan, schedule, metrics).await
        }
    }
}

fn parse_formats(names: &[String]) -> Result<Vec<Format>, Failure> {
    let mut formats = Vec::new();
    for name in names {
        let format = Format::parse(name).ok_or_else(|| {
            Failure::usage(format!(
                "unknown report format '{name}'; use {}",
                Format::ALL.map(|f| f.name()).join(", ")
            ))
        })?;
        if !formats.contains(&format) {
            formats.push(format);
        }
    }
    Ok(formats)
}

fn list(selection: &Selection) -> Result<u8, Failure> {
    let rows = selection
        .controls
        .iter()
        .map(|c| {
            vec![
                c.info.id.clone(),
                c.info.severity.to_string(),
                c.info.title.clone(),
                c.info.frameworks.join(", "),
            ]
        })
        .collect();
    let batch = text_batch(&["control", "severity", "title", "frameworks"], rows);
    print_batch(batch, &table_options())?;
    Ok(0)
}

fn table_options() -> PrintOptions {
    PrintOptions {
        format: OutputFormat::Table,
        max_rows: None,
        header: true,
        width: None,
    }
}

/// The outcome of one run that produced a report.
struct RunOutcome {
    report: Report,
    written: Option<PathBuf>,
}

/// One run, start to end. Errors here are configuration errors (a control
/// that does not plan, an unreadable previous report) or "no cluster could
/// be read at all".
async fn evaluate(plan: &Plan) -> Result<RunOutcome, Failure> {
    let started = Utc::now();
    let session = session::build(&plan.sources, true).await?;
    let mark = session.engine.failures().mark();
    let (results, cluster_failures) =
        kq_engine::report::run_controls(&session.engine, &plan.selection)
            .await
            .map_err(|e| Failure::usage(e.to_string()))?;
    if every_cluster_failed(&session.engine, mark) {
        let reasons: Vec<String> = cluster_failures
            .iter()
            .map(|f| format!("{}: {}", f.cluster, f.message))
            .collect();
        return Err(Failure::usage(format!(
            "no cluster could be read, so no report was written ({})",
            reasons.join("; ")
        )));
    }
    let finished = Utc::now();
    let mut report = Report {
        run: history::run_id(started),
        kq_version: env!("CARGO_PKG_VERSION").to_string(),
        started: started.to_rfc3339_opts(SecondsFormat::Secs, true),
        finished: finished.to_rfc3339_opts(SecondsFormat::Secs, true),
        clusters: session.clusters.clone(),
        packs: plan.selection.packs.clone(),
        params: plan
            .selection
            .params
            .iter()
            .map(|(k, v)| (k.clone(), v.display()))
            .collect::<BTreeMap<_, _>>(),
        controls: results,
        cluster_failures,
        warnings: Vec::new(),
        score: 0.0,
        totals: Default::default(),
        comparison: None,
        trend: Vec::new(),
    };
    if let Some(waivers) = &plan.waivers {
        report.warnings = waivers.apply(&mut report.controls, started.date_naive());
    }
    let live_only: Vec<&str> = report
        .controls
        .iter()
        .filter(|c| c.control.live.is_some())
        .map(|c| c.control.id.as_str())
        .collect();
    if plan.sources.reads_manifests() && !live_only.is_empty() {
        report.warnings.push(format!(
            "{} control{} need{} a live cluster and {} not evaluated on manifests (status skip): {}",
            live_only.len(),
            if live_only.len() == 1 { "" } else { "s" },
            if live_only.len() == 1 { "s" } else { "" },
            if live_only.len() == 1 { "was" } else { "were" },
            live_only.join(", ")
        ));
    }
    let mut written = None;
    if let Some(out) = &plan.out {
        let usage = |e: &dyn std::fmt::Display| Failure::usage(e.to_string());
        backfill_history(out).map_err(|e| usage(&e))?;
        let baseline = match &plan.since {
            None => history::previous_report(out).map_err(|e| usage(&e))?,
            Some(window) => {
                let oldest = oldest_run_in(out, window, started).map_err(|e| usage(&e))?;
                if oldest.is_none() {
                    report.warnings.push(format!(
                        "no earlier run in the last {} to compare with (history under {})",
                        window.text,
                        out.display()
                    ));
                }
                oldest
            }
        };
        if let Some(previous) = baseline {
            history::compare(&previous, &mut report);
            if let (Some(cmp), Some(window)) = (&mut report.comparison, &plan.since) {
                cmp.window = Some(window.text.clone());
            }
        }
        report.finish();
        // The directory and the history use one name (`-1` when a second
        // run starts in the same second).
        let name = history::free_run_name(out, &report.run);
        report.trend =
            trend(out, plan.since.as_ref(), started, &name, &report).map_err(|e| usage(&e))?;
        let dir = history::write_run(out, &name, &report, &plan.formats).map_err(|e| usage(&e))?;
        report_history::append(out, &name, &report).map_err(|e| usage(&e))?;
        if let Some(keep) = plan.keep {
            history::prune(out, keep).map_err(|e| usage(&e))?;
        }
        if let Some(age) = plan.keep_history {
            report_history::prune(out, window_start(started, age), &name).map_err(|e| usage(&e))?;
        }
        written = Some(dir);
    } else {
        report.finish();
    }
    Ok(RunOutcome { report, written })
}

/// `now` minus `span`, or the earliest time there is when `span` reaches
/// further back (`--since 300000y` is "everything", not an overflow).
fn window_start(now: DateTime<Utc>, span: std::time::Duration) -> DateTime<Utc> {
    chrono::Duration::from_std(span)
        .ok()
        .and_then(|span| now.checked_sub_signed(span))
        .unwrap_or(DateTime::<Utc>::MIN_UTC)
}

/// An out directory written before the history existed (runs/ without
/// history/) gets its history from the runs' `report.json` once, so
/// `--since` and the chart see them.
fn backfill_history(out: &Path) -> Result<(), Box<dyn std::error::Error>> {
    if out.join("history").exists() {
        return Ok(());
    }
    for name in history::runs(out) {
        let path = out.join("runs").join(&name).join(Format::Json.file_name());
        let Ok(text) = std::fs::read_to_string(&path) else {
            continue;
        };
        let report: Report = serde_json::from_str(&text).map_err(|e| {
            format!(
                "cannot read {} into the history: {e} (move the out directory aside to start a new history)",
                path.display()
            )
        })?;
        report_history::append(out, &name, &report)?;
    }
    Ok(())
}

/// The oldest run of the history that started within `window` before
/// `now`, loaded for comparison.
fn oldest_run_in(
    out: &Path,
    window: &Window,
    now: DateTime<Utc>,
) -> Result<Option<Report>, report_history::HistoryError> {
    let cutoff = window_start(now, window.duration);
    let oldest = report_history::run_names(out)?
        .into_iter()
        .find(|run| history::run_time(run).is_some_and(|t| t >= cutoff));
    oldest
        .map(|run| report_history::load_violations(out, &run))
        .transpose()
}

/// The most earlier runs the trend chart shows: the newest ones without
/// `--since`; with it, runs spread evenly over the window, first and
/// last included, so a long window reads a bounded number of files.
const TREND_RUNS: usize = 200;

/// Score and alarms of the earlier runs, then this run (named `name`).
fn trend(
    out: &Path,
    since: Option<&Window>,
    now: DateTime<Utc>,
    name: &str,
    report: &Report,
) -> Result<Vec<TrendPoint>, report_history::HistoryError> {
    let names = report_history::run_names(out)?;
    let earlier: Vec<String> = match since {
        Some(window) => {
            let cutoff = window_start(now, window.duration);
            let within: Vec<String> = names
                .into_iter()
                .filter(|run| history::run_time(run).is_some_and(|t| t >= cutoff))
                .collect();
            spread(within, TREND_RUNS)
        }
        None => {
            let skip = names.len().saturating_sub(TREND_RUNS);
            names.into_iter().skip(skip).collect()
        }
    };
    let mut points = report_history::trend(out, &earlier)?;
    points.push(TrendPoint {
        run: name.to_string(),
        time: report.started.clone(),
        score: report.score,
        alarm: report.totals.alarm,
    });
    Ok(points)
}

/// At most `most` of `items`, evenly spaced, keeping the first and last.
fn spread<T>(items: Vec<T>, most: usize) -> Vec<T> {
    let n = items.len();
    if n <= most || most < 2 {
        return items;
    }
    let picks: std::collections::BTreeSet<usize> =
        (0..most).map(|i| i * (n - 1) / (most - 1)).collect();
    items
        .into_iter()
        .enumerate()
        .filter(|(i, _)| picks.contains(i))
        .map(|(_, item)| item)
        .collect()
}

/// The exit code a finished report asks for.
fn exit_code(report: &Report, plan: &Plan, strict: bool) -> u8 {
    if report.errors() > 0 {
        2
    } else if report.fails_at(plan.fail_on) || (strict && !report.cluster_failures.is_empty()) {
        1
    } else {
        0
    }
}

async fn run_once(plan: &Plan) -> Result<u8, Failure> {
    let outcome = evaluate(plan).await?;
    let report = &outcome.report;
    for warning in &report.warnings {
        eprintln!("kq: warning: {warning}");
    }
    for failure in &report.cluster_failures {
        // A cloud scope (`azure:SUB`) is named as the query path names it.
        let (kind, source) = kq_providers::failures::source_kind(&failure.cluster);
        eprintln!(
            "kq: {kind} '{source}' was not fully read: {}",
            failure.message
        );
    }
    for c in report.controls.iter().filter(|c| c.error.is_some()) {
        eprintln!(
            "kq: control {} could not be evaluated: {}",
            c.control.id,
            c.error.as_deref().unwrap_or_default()
        );
    }
    match (&outcome.written, plan.formats.first()) {
        (None, Some(format)) => {
            use std::io::Write;
            let text = format.render(report);
            let mut stdout = std::io::stdout().lock();
            if let Err(e) = stdout
                .write_all(text.as_bytes())
                .and_then(|()| stdout.flush())
                && e.kind() != std::io::ErrorKind::BrokenPipe
            {
                return Err(Failure::usage(format!("cannot write the report: {e}")));
            }
        }
        _ => print_summary(report, outcome.written.as_deref())?,
    }
    Ok(exit_code(report, plan, plan.strict))
}

fn print_summary(report: &Report, written: Option<&Path>) -> Result<(), Failure> {
    let rows = report
        .controls
        .iter()
        .map(|c| {
            vec![
                c.control.id.clone(),
                c.control.severity.to_string(),
                c.counts.ok.to_string(),
                c.counts.alarm.to_string(),
                c.counts.waived.to_string(),
                if c.error.is_some() {
                    "failed".to_string()
                } else {
                    c.counts.error.to_string()
                },
                c.control.title.clone(),
            ]
        })
        .collect();
    let batch = text_batch(
        &[
            "control", "severity", "ok", "alarm", "waived", "error", "title",
        ],
        rows,
    );
    print_batch(batch, &table_options())?;
    println!("{}", headline(report));
    if let Some(dir) = written {
        println!("written to {}", dir.display());
    }
    Ok(())
}

/// One line: score, alarm counts, and what changed since the previous run.
fn headline(report: &Report) -> String {
    let failing = report
        .controls
        .iter()
        .filter(|c| c.counts.alarm > 0)
        .count();
    let mut line = format!(
        "score {:.1}/100: {} alarm{} in {} of {} controls, {} ok, {} waived over {} cluster{}",
        report.score,
        report.totals.alarm,
        if report.totals.alarm == 1 { "" } else { "s" },
        failing,
        report.controls.len(),
        report.totals.ok,
        report.totals.waived,
        report.clusters.len(),
        if report.clusters.len() == 1 { "" } else { "s" },
    );
    if let Some(c) = &report.comparison {
        let window = c
            .window
            .as_ref()
            .map(|w| format!(" (the oldest run of the last {w})"))
            .unwrap_or_default();
        line.push_str(&format!(
            "; since {}{window}: {} new, {} resolved, {} persisting",
            c.previous_run,
            c.new,
            c.resolved.len(),
            c.persisting
        ));
    }
    if !report.cluster_failures.is_empty() {
        let names: Vec<&str> = report
            .cluster_failures
            .iter()
            .map(|f| f.cluster.as_str())
            .collect();
        line.push_str(&format!("; not fully read: {}", names.join(", ")));
    }
    line
}

async fn run_scheduled(
    plan: &Plan,
    schedule: Schedule,
    metrics: Option<crate::metrics::Latest>,
) -> Result<u8, Failure> {
    let metrics = &metrics;
    cron::run_scheduled("kq report", &schedule, |start| async move {
        let outcome = evaluate(plan).await;
        match outcome {
            Ok(outcome) => {
                if let Some(latest) = metrics {
                    latest.set(Format::OpenMetrics.render(&outcome.report));
                }
                for warning in &outcome.report.warnings {
                    eprintln!("kq: warning: {warning}");
                }
                let dir = outcome
                    .written
                    .as_deref()
                    .map(|d| d.display().to_string())
                    .unwrap_or_default();
                println!(
                    "kq report: run {} ok: {}; written to {dir}",
                    outcome.report.run,
                    headline(&outcome.report)
                );
            }
            Err(failure) => {
                // A failing run is reported and the schedule goes on: the
                // next run may well succeed (a cluster back, a token renewed).
                println!(
                    "kq report: run {} failed: {}",
                    history::run_id(start),
                    failure.message
                );
            }
        }
        use std::io::Write;
        let _ = std::io::stdout().flush();
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::{spread, window_start};
    use chrono::{DateTime, Utc};

    #[test]
    fn spread_keeps_first_and_last_and_at_most_the_limit() {
        let items: Vec<usize> = (0..1000).collect();
        let picked = spread(items.clone(), 200);
        assert_eq!(picked.len(), 200);
        assert_eq!(picked.first(), Some(&0));
        assert_eq!(picked.last(), Some(&999));
        assert!(picked.windows(2).all(|w| w[0] < w[1]));
        assert_eq!(spread(items[..50].to_vec(), 200), items[..50]);
    }

    #[test]
    fn a_window_longer_than_time_is_everything() {
        let now = Utc::now();
        let far = std::time::Duration::from_secs(u64::MAX / 4);
        assert_eq!(window_start(now, far), DateTime::<Utc>::MIN_UTC);
        let day = std::time::Duration::from_secs(86_400);
        assert_eq!(now - window_start(now, day), chrono::Duration::days(1));
    }
}
