//! `kq snapshot`: the selected tables of the selected clusters written as
//! Parquet to a directory, once or on a schedule (`--every`, `--cron`).
//!
//! The session is live, so tables that come from the same resource share
//! one list per cluster, and a scheduled run keeps that session: from the
//! second snapshot on, rows come from memory kept current by watches and a
//! snapshot costs a write, not a re-list.

use std::time::Duration;

use kq_engine::snapshot::{Location, Manifest, SnapshotOptions, write_snapshot};

use crate::Failure;
use crate::args::{Output, SnapshotArgs, Sources};
use crate::cron::{self, Schedule};
use crate::session::{self, Session};

/// Files no manifest names are removed after this long (an interrupted
/// run's); younger ones may belong to a writer still running.
const ORPHAN_GRACE: Duration = Duration::from_secs(3600);

pub async fn run(sources: &Sources, output: &Output, args: &SnapshotArgs) -> Result<u8, Failure> {
    if sources.snapshots.is_some() {
        return Err(Failure::usage(
            "kq snapshot reads clusters, not snapshots; drop --snapshots (and --at/--history)",
        ));
    }
    if sources.reports.is_some() {
        return Err(Failure::usage(
            "kq snapshot reads clusters, not report history; drop --reports",
        ));
    }
    let Some(to) = &args.to else {
        return Err(Failure::usage(
            "kq snapshot needs --to DIR, e.g. kq snapshot --to ./snapshots",
        ));
    };
    let location = Location::parse(to, true).map_err(|e| Failure::usage(e.to_string()))?;
    let schedule = Schedule::from_args(&args.schedule)?;
    let session = session::build(sources, true).await?;
    let tables = choose_tables(&session, args).await?;
    let options = SnapshotOptions {
        tables,
        clusters: session.clusters.clone(),
        orphan_grace: ORPHAN_GRACE,
        concurrency: 4,
    };
    match schedule {
        Schedule::Once => {
            let manifest = write_snapshot(&session.engine, &location, &options)
                .await
                .map_err(|e| Failure::usage(e.to_string()))?;
            outcome(&manifest, &location, output.strict)
        }
        schedule => run_scheduled(&session, &location, &options, schedule, output.strict).await,
    }
}

/// `--tables`, checked against the session; else every built-in table
/// (`--all-tables`: discovered resources too).
async fn choose_tables(session: &Session, args: &SnapshotArgs) -> Result<Vec<String>, Failure> {
    let engine = &session.engine;
    if args.tables.is_empty() {
        let mut tables = engine.kube().typed_table_names();
        if args.all_tables {
            let names = engine.table_names().await;
            let views: Vec<&str> = kq_engine::views::builtin_views()
                .iter()
                .map(|v| v.name)
                .collect();
            tables.extend(names.into_iter().filter(|name| {
                !name.contains('.')
                    && name != kq_providers::kubernetes::FAILURES_TABLE
                    && !views.contains(&name.as_str())
            }));
            tables.sort();
            tables.dedup();
        }
        return Ok(tables);
    }
    let known = engine.table_names().await;
    let mut tables = Vec::new();
    for name in &args.tables {
        let name = name.trim();
        if name.contains('.') || !known.iter().any(|k| k == name) {
            let hint = kq_engine::closest(name, &known)
                .map(|best| format!("; did you mean '{best}'?"))
                .unwrap_or_else(|| "; `kq tables` lists the available tables".to_string());
            return Err(Failure::usage(format!(
                "--tables: '{name}' is not a Kubernetes table kq can snapshot{hint}"
            )));
        }
        tables.push(name.to_string());
    }
    Ok(tables)
}

/// Prints the snapshot's summary and problems; decides the exit code.
fn outcome(manifest: &Manifest, location: &Location, strict: bool) -> Result<u8, Failure> {
    for failure in &manifest.failures {
        if failure.severity == "info" {
            continue;
        }
        eprintln!(
            "kq: {} cluster '{}' ({}): {}",
            failure.severity, failure.cluster, failure.table, failure.message
        );
    }
    let rows: u64 = manifest.files.iter().map(|f| f.rows).sum();
    let bytes: u64 = manifest.files.iter().map(|f| f.bytes).sum();
    let failed: Vec<&str> = manifest
        .clusters
        .iter()
        .filter(|c| c.status != "ok")
        .map(|c| c.name.as_str())
        .collect();
    eprintln!(
        "kq snapshot: {} written to {}: {} tables, {} clusters, {} files, {rows} rows, {bytes} bytes{}",
        manifest.id,
        location.display,
        manifest.tables.len(),
        manifest.clusters.len(),
        manifest.files.len(),
        if failed.is_empty() {
            String::new()
        } else {
            format!("; not fully read: {}", failed.join(", "))
        }
    );
    let every_failed =
        !manifest.clusters.is_empty() && manifest.clusters.iter().all(|c| c.status == "failed");
    if every_failed {
        return Err(Failure::usage(
            "no cluster could be read; the snapshot records the failures and holds no rows",
        ));
    }
    Ok(u8::from(strict && !failed.is_empty()))
}

async fn run_scheduled(
    session: &Session,
    location: &Location,
    options: &SnapshotOptions,
    schedule: Schedule,
    strict: bool,
) -> Result<u8, Failure> {
    cron::run_scheduled("kq snapshot", &schedule, |_| async move {
        // A failing run is reported and the schedule goes on: the next one
        // may succeed (a cluster back, a disk freed).
        match write_snapshot(&session.engine, location, options).await {
            Ok(manifest) => {
                if let Err(failure) = outcome(&manifest, location, strict) {
                    eprintln!("kq snapshot: {}", failure.message);
                }
            }
            Err(e) => eprintln!("kq snapshot: run failed: {e}"),
        }
    })
    .await
}
