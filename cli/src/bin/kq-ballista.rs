//! kq-ballista: an Apache Ballista scheduler or executor that knows kq's
//! SQL functions and snapshot tables, for `kq --ballista df://HOST:PORT`.
//!
//! Upstream `ballista-scheduler`/`ballista-executor` binaries cannot run
//! kq's plans: they know neither `selector_matches` and the other kq
//! functions nor how a snapshot table travels in a plan.

use std::net::SocketAddr;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use kq_engine::distributed::{self, ExecutorOptions};

#[derive(Parser)]
#[command(
    name = "kq-ballista",
    version,
    about = "A Ballista scheduler or executor for kq --ballista"
)]
struct Args {
    #[command(subcommand)]
    role: Role,
}

#[derive(Subcommand)]
enum Role {
    /// Plans queries into stages and hands their tasks to executors.
    Scheduler {
        /// The address to listen on (clients and executors connect here).
        #[arg(long, default_value = "0.0.0.0:50050")]
        bind: SocketAddr,
        /// The host name executors and clients reach this scheduler by.
        #[arg(long, default_value = "localhost")]
        external_host: String,
    },
    /// Runs tasks; the machine must read the snapshots' location (the same
    /// directory path, or S3 credentials in the environment).
    Executor {
        /// The scheduler, as HOST:PORT or df://HOST:PORT.
        #[arg(long, default_value = "localhost:50050")]
        scheduler: String,
        /// The address to listen on for shuffle reads from other executors.
        #[arg(long, default_value = "0.0.0.0:50051")]
        bind: SocketAddr,
        /// The executor's gRPC port.
        #[arg(long, default_value_t = 50052)]
        grpc_port: u16,
        /// The host name other executors reach this one by (default: this machine's).
        #[arg(long)]
        external_host: Option<String>,
        /// Tasks at once (default: every core).
        #[arg(long, default_value_t = 0)]
        vcores: usize,
        /// Where shuffle files go (default: a temporary directory).
        #[arg(long)]
        work_dir: Option<String>,
    },
}

fn main() -> ExitCode {
    let args = Args::parse();
    // Decoding and planning deep plans (a compliance report's controls)
    // recurses further than tokio's 2 MiB worker stacks allow; Ballista's
    // own scheduler binary runs with 32 MiB for the same reason.
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_stack_size(32 * 1024 * 1024)
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("kq-ballista: cannot start the runtime: {e}");
            return ExitCode::from(2);
        }
    };
    runtime.block_on(run(args))
}

async fn run(args: Args) -> ExitCode {
    let result = match args.role {
        Role::Scheduler {
            bind,
            external_host,
        } => distributed::run_scheduler(bind, &external_host).await,
        Role::Executor {
            scheduler,
            bind,
            grpc_port,
            external_host,
            vcores,
            work_dir,
        } => {
            distributed::run_executor(ExecutorOptions {
                scheduler,
                bind,
                grpc_port,
                external_host,
                vcores,
                work_dir,
            })
            .await
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("kq-ballista: {e}");
            ExitCode::from(2)
        }
    }
}
