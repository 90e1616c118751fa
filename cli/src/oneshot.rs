//! The dispatcher and the one-shot run: `kq "SQL"`, `kq -f FILE`,
//! `kq tables`, `kq describe TABLE` run here; `kq` alone hands over to the
//! REPL, `kq watch`, `report`, `snapshot` and `diff` to their modules.

use crate::Failure;
use crate::args::Args;
use crate::exec::{
    describe_batch, engine_failure, print_batch, print_options, report_failures, run_statement,
    tables_batch,
};
use crate::progress::Progress;
use crate::session;

enum Job {
    Repl,
    Script(String),
    Watch(String),
    Report,
    Snapshot,
    Diff(Vec<String>),
    Tables,
    Describe(String),
}

fn job_from(args: &Args) -> Result<Job, Failure> {
    if let Some(path) = &args.file {
        let text = std::fs::read_to_string(path)
            .map_err(|e| Failure::usage(format!("cannot read SQL file {}: {e}", path.display())))?;
        return Ok(Job::Script(text));
    }
    let words: Vec<&str> = args.query.iter().map(String::as_str).collect();
    match words.as_slice() {
        [] => Ok(Job::Repl),
        ["watch"] => Err(Failure::usage(
            "kq watch needs a query, e.g. kq watch \"SELECT namespace, count(*) FROM pods GROUP BY namespace\"",
        )),
        ["watch", rest @ ..] => Ok(Job::Watch(rest.join(" "))),
        ["report"] => Ok(Job::Report),
        ["report", extra, ..] => Err(Failure::usage(format!(
            "kq report takes flags, not '{extra}'; choose controls with --pack and --control (kq report --list shows them)"
        ))),
        ["snapshot"] => Ok(Job::Snapshot),
        ["snapshot", extra, ..] => Err(Failure::usage(format!(
            "kq snapshot takes flags, not '{extra}'; choose tables with --tables (kq tables lists them)"
        ))),
        ["diff", tables @ ..] => Ok(Job::Diff(
            tables
                .iter()
                .flat_map(|t| t.split(','))
                .filter(|t| !t.is_empty())
                .map(str::to_string)
                .collect(),
        )),
        ["tables"] => Ok(Job::Tables),
        ["describe", table] => Ok(Job::Describe(table.to_string())),
        ["describe"] => Err(Failure::usage(
            "describe needs a table name, e.g. kq describe pods",
        )),
        _ => Ok(Job::Script(args.query.join(" "))),
    }
}

/// Runs the job; returns the exit code.
pub async fn run(args: Args) -> Result<u8, Failure> {
    let job = job_from(&args)?;
    if args.ballista.is_some()
        && matches!(
            job,
            Job::Snapshot | Job::Diff(_) | Job::Watch(_) | Job::Report
        )
    {
        return Err(Failure::usage(
            "--ballista runs queries over --snapshots, e.g. kq --ballista df://HOST:50050 --snapshots DIR \"SQL\"; kq report, snapshot, diff and watch run here",
        ));
    }
    if let Job::Report = job {
        if let Some(flag) = args.snapshot_flags().first() {
            return Err(Failure::usage(format!(
                "{flag} only applies to kq snapshot, e.g. kq snapshot {flag} …"
            )));
        }
        return crate::report::run(&args).await;
    }

    if let Job::Snapshot = job {
        return crate::snapshot::run(&args).await;
    }
    if let Job::Diff(tables) = &job {
        return crate::diff::run(&args, tables).await;
    }
    if args.from.is_some() {
        return Err(Failure::usage(
            "--from only applies to kq diff, e.g. kq diff --snapshots DIR --from 2026-12-01",
        ));
    }
    if let Some(flag) = args.snapshot_flags().first() {
        return Err(Failure::usage(format!(
            "{flag} only applies to kq snapshot, e.g. kq snapshot {flag} …"
        )));
    }
    if let Some(flag) = args.schedule_flags().first() {
        return Err(Failure::usage(format!(
            "{flag} only applies to kq report and kq snapshot, e.g. kq report {flag} …"
        )));
    }
    if let Some(flag) = args.report_flags().first() {
        return Err(Failure::usage(format!(
            "{flag} only applies to kq report, e.g. kq report {flag} …"
        )));
    }
    if let Job::Watch(sql) = &job {
        if args.snapshots.is_some() {
            return Err(Failure::usage(
                "kq watch follows live clusters; snapshots do not change, so query them with kq --snapshots DIR \"SQL\"",
            ));
        }
        return crate::watch::run(&args, sql).await;
    }
    if let Some(flag) = args.watch_flags().first() {
        return Err(Failure::usage(format!(
            "{flag} only applies to kq watch, e.g. kq watch {flag} … \"SELECT …\""
        )));
    }
    if let Job::Repl = job {
        return crate::repl::run(args).await;
    }
    let session = session::build(&args, false).await?;
    let engine = &session.engine;
    let options = print_options(&args);
    match job {
        Job::Tables => {
            let batch = tables_batch(engine).await;
            print_batch(batch, &options)?;
            report_failures(engine, kq_providers::failures::Mark::default(), &args)
        }
        Job::Describe(table) => {
            let batch = describe_batch(engine, &table).await?;
            print_batch(batch, &options)?;
            Ok(0)
        }
        Job::Watch(_) | Job::Repl | Job::Report | Job::Snapshot | Job::Diff(_) => Ok(0),
        Job::Script(sql) => {
            let statements = engine.parse(&sql).map_err(engine_failure)?;
            if statements.is_empty() {
                return Err(Failure::usage("the query is empty"));
            }
            let mut code = 0;
            for statement in statements {
                let mark = engine.failures().mark();
                let mut progress = Progress::start(session.clusters.len());
                let result = run_statement(engine, statement, &options, &mut progress, mark).await;
                progress.finish().await;
                result?;
                code = code.max(report_failures(engine, mark, &args)?);
            }
            Ok(code)
        }
    }
}
