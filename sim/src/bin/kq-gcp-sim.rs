//! `kq-gcp-sim`: serves the fake Google Cloud REST APIs until SIGINT/SIGTERM,
//! for benchmarks and demos. The first stdout line is the fake's URL.

use std::process::ExitCode;

use clap::Parser;
use kq_sim::gcp::{GcpFake, GcpFaults, GcpFleetConfig};

/// Serve the fake Google Cloud JSON APIs (Compute, GKE, IAM, Resource
/// Manager, Storage) over plain HTTP on 127.0.0.1 and print their URL.
#[derive(Debug, Parser)]
#[command(name = "kq-gcp-sim", version)]
struct Args {
    /// Seed of the deterministic generator.
    #[arg(long, value_name = "N", default_value_t = 42)]
    seed: u64,

    /// Comma-separated project ids.
    #[arg(
        long,
        value_name = "ID,...",
        value_delimiter = ',',
        default_value = "kq-prod,kq-staging"
    )]
    projects: Vec<String>,

    /// Port on 127.0.0.1 (0 picks a free one).
    #[arg(long, value_name = "PORT", default_value_t = 0)]
    port: u16,

    /// The most items one list page holds (0: only the client's page size, else 500).
    #[arg(long, value_name = "N", default_value_t = 2)]
    page_size: usize,

    /// Projects every read inside of is 403 PERMISSION_DENIED.
    #[arg(long, value_name = "ID,...", value_delimiter = ',')]
    forbidden_projects: Vec<String>,

    /// Zones (or regions) aggregated lists report as unreachable.
    #[arg(long, value_name = "ZONE,...", value_delimiter = ',')]
    unreachable_zones: Vec<String>,

    /// The first N requests to each path are 429 RESOURCE_EXHAUSTED.
    #[arg(long, value_name = "N", default_value_t = 0)]
    throttle_first: usize,

    /// The next N requests to each path are 503 UNAVAILABLE.
    #[arg(long, value_name = "N", default_value_t = 0)]
    unavailable_first: usize,
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = Args::parse();
    let config = GcpFleetConfig {
        seed: args.seed,
        projects: args.projects,
        page_size: args.page_size,
        faults: GcpFaults {
            forbidden_projects: args.forbidden_projects,
            unreachable_zones: args.unreachable_zones,
            throttle_first: args.throttle_first,
            unavailable_first: args.unavailable_first,
        },
    };
    let fake = match GcpFake::start_on(config, args.port).await {
        Ok(f) => f,
        Err(e) => {
            eprintln!("kq-gcp-sim: {e}");
            return ExitCode::from(1);
        }
    };
    println!("{}", fake.url());
    eprintln!(
        "kq-gcp-sim: serving {} project(s); point gcloud at it with CLOUDSDK_API_ENDPOINT_OVERRIDES_* (see kq_sim::gcp::GcpFake::gcloud_env)",
        fake.fleet().projects().len()
    );
    kq_sim::wait_for_signal().await;
    fake.shutdown().await;
    ExitCode::SUCCESS
}
