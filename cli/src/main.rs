//! kq: SQL over live Kubernetes fleets.
//!
//! `main` parses arguments, builds the session (clusters from kubeconfig or
//! the embedded demo fleet) and hands off to one module per job: `oneshot`
//! dispatches and runs one-shot queries, `repl` is the interactive shell,
//! `watch` keeps one query live, `report` runs compliance controls (once or
//! on a schedule), `snapshot` writes tables as Parquet, `diff` compares two
//! states, `serve` answers Postgres clients. `exec` holds what they all
//! share (running and printing a statement, failure verdicts, table
//! listings) and imports none of them; `print` renders results. Exit codes mean something: 0 success, 1 a
//! report found failing controls or a cluster failed under `--strict`, 2 a
//! usage, SQL or configuration error.

mod args;
mod cron;
mod diff;
mod exec;
mod metrics;
mod oneshot;
mod print;
mod progress;
mod repl;
mod report;
#[cfg(feature = "serve")]
mod serve;
mod session;
mod snapshot;
mod verbose;
mod watch;

use std::io::Write;
use std::process::ExitCode;

/// A failure that ends the run, with its exit code.
#[derive(Debug)]
pub struct Failure {
    pub code: u8,
    pub message: String,
}

impl Failure {
    /// A usage, SQL or configuration error: exit 2.
    pub fn usage(message: impl Into<String>) -> Self {
        Self {
            code: 2,
            message: message.into(),
        }
    }
}

fn main() -> ExitCode {
    let cli = match args::parse() {
        Ok(cli) => cli,
        Err(message) => {
            eprintln!("kq: {message}");
            return ExitCode::from(2);
        }
    };
    verbose::install(cli.output.verbose);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("kq: cannot start the async runtime: {e}");
            return ExitCode::from(2);
        }
    };
    let outcome = runtime.block_on(oneshot::run(cli));
    // Dropping the runtime waits for blocking tasks; do not let a stuck
    // connection hold the process after the answer is printed.
    runtime.shutdown_background();
    match outcome {
        Ok(code) => ExitCode::from(code),
        Err(failure) => {
            let _ = std::io::stdout().flush();
            eprintln!("kq: {}", failure.message);
            ExitCode::from(failure.code)
        }
    }
}
