//! The dispatcher and the one-shot run: `kq "SQL"`, `kq -f FILE`,
//! `kq query`, `kq tables`, `kq describe TABLE` run here, and the shell
//! completions and man page are printed here; `kq` alone hands over to the
//! REPL, `kq watch`, `report`, `snapshot` and `diff` to their modules.

use std::io::Read;

use clap::CommandFactory;

use crate::Failure;
use crate::args::{Cli, Command, Output, QueryArgs, Sources};
use crate::exec::{
    describe_batch, engine_failure, print_batch, print_options, report_failures, run_statement,
    tables_batch,
};
use crate::progress::Progress;
use crate::session;

/// Runs the command line; returns the exit code.
pub async fn run(cli: Cli) -> Result<u8, Failure> {
    let Cli {
        command,
        query,
        sources,
        output,
    } = cli;
    let table_output = |command: &str| output.check_table(command).map_err(Failure::usage);
    if sources.all_namespaces {
        eprintln!(
            "kq: note: --all-namespaces changes nothing: kq reads every namespace unless -n is given (-A means every kubeconfig context)"
        );
    }
    if let Some(command) = &command {
        let query_flag = [
            (query.file.is_some(), "-f/--file"),
            (query.ballista.is_some(), "--ballista"),
        ]
        .into_iter()
        .find_map(|(given, flag)| given.then_some(flag));
        if let Some(flag) = query_flag {
            return Err(Failure::usage(format!(
                "{flag} applies to queries (kq \"SQL\", kq query), not to kq {}",
                command.name()
            )));
        }
    }
    // Standard input is read once: by the manifests or for SQL, not both.
    if sources
        .manifests
        .iter()
        .any(|m| m == "-" || m.ends_with("=-"))
    {
        let sql_from_stdin = match &command {
            None => {
                query.file.as_deref() == Some(std::path::Path::new("-"))
                    || (query.query.is_empty() && query.file.is_none())
            }
            Some(Command::Query(q)) => q.file.as_deref() == Some(std::path::Path::new("-")),
            _ => false,
        };
        if sql_from_stdin {
            return Err(Failure::usage(
                "--manifests - reads the objects from standard input, so give the SQL as an argument or with -f FILE",
            ));
        }
    }
    match command {
        None if query.query.is_empty() && query.file.is_none() => {
            table_output("the shell")?;
            crate::repl::run(sources, output, query.ballista).await
        }
        None => {
            table_output("kq")?;
            run_query(&query, &sources, &output).await
        }
        Some(Command::Query(query)) => {
            if query.query.is_empty() && query.file.is_none() {
                return Err(Failure::usage(
                    "kq query needs SQL or -f FILE, e.g. kq query \"SELECT count(*) FROM pods\"",
                ));
            }
            table_output("kq query")?;
            run_query(&query, &sources, &output).await
        }
        Some(Command::Tables) => {
            table_output("kq tables")?;
            let session = session::build(&sources, false).await?;
            let batch = tables_batch(&session.engine).await;
            print_batch(batch, &print_options(&output))?;
            report_failures(
                &session.engine,
                kq_providers::failures::Mark::default(),
                output.strict,
            )
        }
        Some(Command::Describe { table }) => {
            let Some(table) = table else {
                return Err(Failure::usage(
                    "describe needs a table name, e.g. kq describe pods",
                ));
            };
            table_output("kq describe")?;
            let session = session::build(&sources, false).await?;
            let batch = describe_batch(&session.engine, &table).await?;
            print_batch(batch, &print_options(&output))?;
            Ok(0)
        }
        Some(Command::Watch(watch)) => {
            table_output("kq watch")?;
            crate::watch::run(&sources, &output, &watch).await
        }
        Some(Command::Report(report)) => crate::report::run(&sources, &output, &report).await,
        Some(Command::Snapshot(snapshot)) => {
            if !output.formats.is_empty() {
                return Err(Failure::usage(
                    "kq snapshot writes Parquet and prints a summary; -o does not apply",
                ));
            }
            crate::snapshot::run(&sources, &output, &snapshot).await
        }
        Some(Command::Diff(diff)) => {
            table_output("kq diff")?;
            crate::diff::run(&sources, &output, &diff).await
        }
        Some(Command::Serve(args)) => serve(&sources, &output, &args).await,
        Some(Command::Completions { shell }) => {
            let mut script = Vec::new();
            clap_complete::generate(shell, &mut Cli::command(), "kq", &mut script);
            crate::exec::write_stdout(&script)?;
            Ok(0)
        }
        Some(Command::Man { subcommand }) => print_man_page(subcommand.as_deref()),
    }
}

/// `kq man` is kq(1); `kq man report` is kq-report(1).
fn print_man_page(subcommand: Option<&str>) -> Result<u8, Failure> {
    let mut command = Cli::command();
    command.build();
    let (page, title) = match subcommand {
        None => (command, "kq".to_string()),
        Some(name) => {
            let Some(sub) = command.find_subcommand(name) else {
                let names: Vec<&str> = command.get_subcommands().map(|s| s.get_name()).collect();
                return Err(Failure::usage(format!(
                    "kq has no subcommand '{name}'; man pages exist for {}",
                    names.join(", ")
                )));
            };
            (sub.clone(), format!("kq-{name}"))
        }
    };
    let mut roff = Vec::new();
    clap_mangen::Man::new(page)
        .title(title)
        .render(&mut roff)
        .map_err(|e| Failure::usage(format!("cannot render the man page: {e}")))?;
    crate::exec::write_stdout(&roff)?;
    Ok(0)
}

/// The SQL of a one-shot run: the words, or a file, or standard input.
fn script(query: &QueryArgs) -> Result<String, Failure> {
    match &query.file {
        Some(path) if path.as_os_str() == "-" => {
            let mut text = String::new();
            std::io::stdin()
                .read_to_string(&mut text)
                .map_err(|e| Failure::usage(format!("cannot read SQL from standard input: {e}")))?;
            Ok(text)
        }
        Some(path) => std::fs::read_to_string(path)
            .map_err(|e| Failure::usage(format!("cannot read SQL file {}: {e}", path.display()))),
        None => Ok(query.query.join(" ")),
    }
}

async fn run_query(query: &QueryArgs, sources: &Sources, output: &Output) -> Result<u8, Failure> {
    let sql = script(query)?;
    let session = session::open(sources, query.ballista.as_deref(), false).await?;
    let engine = &session.engine;
    let options = print_options(output);
    let statements = engine.parse(&sql).map_err(engine_failure)?;
    if statements.is_empty() {
        return Err(Failure::usage("the query is empty"));
    }
    let mut code = 0;
    for statement in statements {
        let mark = engine.failures().mark();
        let mut progress = Progress::start(engine.kube_schema());
        let result = run_statement(engine, statement, &options, &mut progress, mark).await;
        progress.finish().await;
        result?;
        code = code.max(report_failures(engine, mark, output.strict)?);
    }
    Ok(code)
}

#[cfg(feature = "serve")]
async fn serve(
    sources: &Sources,
    output: &Output,
    args: &crate::args::ServeArgs,
) -> Result<u8, Failure> {
    crate::serve::run(sources, output, args).await
}

#[cfg(not(feature = "serve"))]
async fn serve(
    _sources: &Sources,
    _output: &Output,
    _args: &crate::args::ServeArgs,
) -> Result<u8, Failure> {
    Err(Failure::usage(
        "this kq was built without kq serve; build it with `cargo build --release -p kq-cli --features serve`",
    ))
}
