//! `kq-azure-sim`: serves the fake Azure Resource Manager and its
//! managed-identity endpoint until SIGINT/SIGTERM, for benchmarks and demos.
//! The first three stdout lines are the ARM URL, the identity endpoint URL
//! and the path of the CA file that signed the ARM certificate.

use std::process::ExitCode;

use clap::Parser;
use kq_sim::azure::{AzureFake, AzureFaults, AzureFleetConfig, IDENTITY_HEADER};

/// Serve a fake Azure Resource Manager (Compute, Network, AKS,
/// Authorization, Storage) over HTTPS on 127.0.0.1, plus a managed-identity
/// token endpoint over HTTP, and print their URLs and the CA file.
#[derive(Debug, Parser)]
#[command(name = "kq-azure-sim", version)]
struct Args {
    /// Seed of the deterministic generator.
    #[arg(long, value_name = "N", default_value_t = 42)]
    seed: u64,

    /// Comma-separated subscription display names.
    #[arg(
        long,
        value_name = "NAME,...",
        value_delimiter = ',',
        default_value = "prod,staging"
    )]
    subscriptions: Vec<String>,

    /// ARM port on 127.0.0.1 (0 picks a free one); the identity endpoint's is always free-picked.
    #[arg(long, value_name = "PORT", default_value_t = 0)]
    port: u16,

    /// The most items one list page holds (0: only $top, else 1000).
    #[arg(long, value_name = "N", default_value_t = 2)]
    page_size: usize,

    /// Subscription ids every read inside of is 403 AuthorizationFailed.
    #[arg(long, value_name = "ID,...", value_delimiter = ',')]
    forbidden_subscriptions: Vec<String>,

    /// The first N requests to each path are 429 TooManyRequests.
    #[arg(long, value_name = "N", default_value_t = 0)]
    throttle_first: usize,

    /// The next N requests to each path are 503 ServiceUnavailable.
    #[arg(long, value_name = "N", default_value_t = 0)]
    unavailable_first: usize,

    /// Where to write the CA PEM (default: kq-azure-sim-ca-PORT.pem in the temp dir).
    #[arg(long, value_name = "FILE")]
    ca_file: Option<std::path::PathBuf>,
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = Args::parse();
    let config = AzureFleetConfig {
        seed: args.seed,
        subscriptions: args.subscriptions,
        page_size: args.page_size,
        faults: AzureFaults {
            forbidden_subscriptions: args.forbidden_subscriptions,
            throttle_first: args.throttle_first,
            unavailable_first: args.unavailable_first,
        },
    };
    let fake = match AzureFake::start_on(config, args.port).await {
        Ok(f) => f,
        Err(e) => {
            eprintln!("kq-azure-sim: {e}");
            return ExitCode::from(1);
        }
    };
    let port = fake.arm_url().rsplit(':').next().unwrap_or("0").to_string();
    let ca_file = args
        .ca_file
        .unwrap_or_else(|| std::env::temp_dir().join(format!("kq-azure-sim-ca-{port}.pem")));
    if let Err(e) = std::fs::write(&ca_file, fake.ca_pem()) {
        eprintln!("kq-azure-sim: writing {}: {e}", ca_file.display());
        fake.shutdown().await;
        return ExitCode::from(1);
    }
    println!("{}", fake.arm_url());
    println!("{}", fake.identity_url());
    println!("{}", ca_file.display());
    eprintln!(
        "kq-azure-sim: serving {} subscription(s); clients need IDENTITY_ENDPOINT={} IDENTITY_HEADER={IDENTITY_HEADER} and the CA (REQUESTS_CA_BUNDLE / SSL_CERT_FILE)",
        fake.fleet().subscriptions().len(),
        fake.identity_url()
    );
    for s in fake.fleet().subscriptions() {
        eprintln!("kq-azure-sim: subscription {} = {}", s.name, s.id);
    }
    kq_sim::wait_for_signal().await;
    fake.shutdown().await;
    ExitCode::SUCCESS
}
