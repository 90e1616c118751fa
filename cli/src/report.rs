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
        run: started.format("%Y-%m-%dT%H-%M-%SZ").to_string(),
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
    let mut written = None;
    if let Some(out) = &plan.out {
        let usage = |e: &dyn std::fmt::Display| Failure::usage(e.to_string());
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
        report.trend = trend(out, plan.since.as_ref(), started, &report).map_err(|e| usage(&e))?;
        let dir = history::write_run(out, &report, &plan.formats).map_err(|e| usage(&e))?;
        // The history names a run as its directory does (`-1` when two
        // runs share a second).
        let run_name = dir
            .file_name()
            .map_or_else(|| report.run.clone(), |n| n.to_string_lossy().into_owned());
        report_history::append(out, &run_name, &report).map_err(|e| usage(&e))?;
        if let Some(keep) = plan.keep {
            history::prune(out, keep).map_err(|e| usage(&e))?;
        }
        if let Some(age) = plan.keep_history {
            let cutoff = started - chrono::Duration::from_std(age).unwrap_or(chrono::Duration::MAX);
            report_history::prune(out, cutoff).map_err(|e| usage(&e))?;
        }
        written = Some(dir);
    } else {
        report.finish();
    }
    Ok(RunOutcome { report, written })
}

/// The oldest run of the history that started within `window` before
/// `now`, loaded for comparison.
fn oldest_run_in(
    out: &Path,
    window: &Window,
    now: DateTime<Utc>,
) -> Result<Option<Report>, report_history::HistoryError> {
    let cutoff = now - chrono::Duration::from_std(window.duration).unwrap_or(chrono::Duration::MAX);
    let oldest = report_history::run_names(out)?
        .into_iter()
        .find(|run| report_history::run_time(run).is_some_and(|t| t >= cutoff));
    oldest
        .map(|run| report_history::load_violations(out, &run))
        .transpose()
}

/// The most runs the trend chart shows without `--since`.
const TREND_RUNS: usize = 100;

/// Score and alarms of the earlier runs (those within `--since`, else the
/// newest ones), then this run.
fn trend(
    out: &Path,
    since: Option<&Window>,
    now: DateTime<Utc>,
    report: &Report,
) -> Result<Vec<TrendPoint>, report_history::HistoryError> {
    let names = report_history::run_names(out)?;
    let earlier: Vec<String> = match since {
        Some(window) => {
            let cutoff =
                now - chrono::Duration::from_std(window.duration).unwrap_or(chrono::Duration::MAX);
            names
                .into_iter()
                .filter(|run| report_history::run_time(run).is_some_and(|t| t >= cutoff))
                .collect()
        }
        None => {
            let skip = names.len().saturating_sub(TREND_RUNS - 1);
            names.into_iter().skip(skip).collect()
        }
    };
    let mut points = report_history::trend(out, &earlier)?;
    points.push(TrendPoint {
        run: report.run.clone(),
        time: report.started.clone(),
        score: report.score,
        alarm: report.totals.alarm,
    });
    Ok(points)
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
        eprintln!(
            "kq: cluster '{}' was not fully read: {}",
            failure.cluster, failure.message
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
                    start.format("%Y-%m-%dT%H-%M-%SZ"),
                    failure.message
                );
            }
        }
        use std::io::Write;
        let _ = std::io::stdout().flush();
    })
    .await
}
