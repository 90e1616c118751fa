//! `kq-sim`: serves a simulated Kubernetes fleet until SIGINT/SIGTERM.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use kq_sim::{Faults, FleetConfig, ServerVersion, TlsShape};

/// Serve a fleet of simulated Kubernetes clusters (HTTPS on 127.0.0.1
/// ephemeral ports) and write a kubeconfig with one context per cluster;
/// or, with --export, write the generated objects as fixtures and exit.
#[derive(Debug, Parser)]
#[command(name = "kq-sim", version)]
struct Args {
    /// Where to write the kubeconfig (atomically, once every cluster is ready).
    #[arg(long, value_name = "PATH", required_unless_present = "export")]
    kubeconfig: Option<PathBuf>,

    /// Write every object of the generated fleet as fixtures (a JSON `List`) the
    /// kube-apiserver harness loads, then exit: one cluster to PATH, several to
    /// PATH/<cluster>.json.
    #[arg(long, value_name = "PATH", conflicts_with = "kubeconfig")]
    export: Option<PathBuf>,

    /// Number of generic clusters (cluster-0, cluster-1, ...). Without it the demo fleet
    /// (prod, staging, dev) is served.
    #[arg(long, value_name = "N")]
    clusters: Option<usize>,

    /// Pods per cluster for --clusters (default 100), or for every demo cluster when given.
    #[arg(long, value_name = "N")]
    pods: Option<usize>,

    /// Seed of the deterministic generator (and of random faults).
    #[arg(long, value_name = "N", default_value_t = 42)]
    seed: u64,

    /// Serve the demo fleet (prod ~600 pods, staging ~200, dev ~60); the default.
    #[arg(long, conflicts_with = "clusters")]
    demo: bool,

    /// Serve plain HTTP instead of HTTPS (kubectl only sends tokens over TLS).
    #[arg(long)]
    plain_http: bool,

    /// Latency added to every API request, in milliseconds.
    #[arg(long, value_name = "MS", default_value_t = 0)]
    latency_ms: u64,

    /// Fraction (0..1) of API requests answered with 500 InternalError.
    #[arg(long, value_name = "RATE", default_value_t = 0.0)]
    error_rate: f64,

    /// Fraction (0..1) of API requests answered with 429 TooManyRequests.
    #[arg(long, value_name = "RATE", default_value_t = 0.0)]
    throttle_rate: f64,

    /// Retry-After seconds sent with 429 responses.
    #[arg(long, value_name = "SECS", default_value_t = 1)]
    retry_after_secs: u64,

    /// Continue tokens expire (410 Expired) after this many pages of a list.
    #[arg(long, value_name = "N")]
    continue_expires_after_pages: Option<u32>,

    /// Watches are closed after sending this many events.
    #[arg(long, value_name = "N")]
    watch_drop_after_events: Option<u32>,

    /// Watches are closed after this many seconds.
    #[arg(long, value_name = "SECS")]
    watch_drop_after_secs: Option<u64>,

    /// Aggregated API group versions (e.g. metrics.k8s.io/v1beta1) every cluster serves as
    /// an APIService whose backend is down (503 for the group, Stale in discovery).
    #[arg(long, value_name = "GROUP/VERSION", value_delimiter = ',')]
    unavailable_api_group: Vec<String>,

    /// Comma-separated cluster names that start down (they drop every connection).
    #[arg(long, value_name = "CLUSTER,...", value_delimiter = ',')]
    down: Vec<String>,

    /// The Kubernetes release every cluster imitates (1.20 up to the default, 1.33):
    /// /version, aggregated discovery and field selectors follow it.
    #[arg(long, value_name = "MAJOR.MINOR")]
    server_version: Option<String>,

    /// The shape of the serving certificates: ca-signed (default), intermediate,
    /// self-signed-ca or expired.
    #[arg(long, value_name = "SHAPE")]
    tls_shape: Option<String>,
}

const TLS_SHAPES: &str = "ca-signed, intermediate, self-signed-ca, expired";

fn tls_shape(name: &str) -> Option<TlsShape> {
    match name {
        "ca-signed" => Some(TlsShape::CaSigned),
        "intermediate" => Some(TlsShape::Intermediate),
        "self-signed-ca" => Some(TlsShape::SelfSignedCa),
        "expired" => Some(TlsShape::Expired),
        _ => None,
    }
}

fn config(args: &Args) -> FleetConfig {
    let mut config = match args.clusters {
        Some(n) => FleetConfig::uniform(n, args.pods.unwrap_or(100), args.seed),
        None => {
            let mut c = FleetConfig::demo();
            c.seed = args.seed;
            if let Some(p) = args.pods {
                for cl in &mut c.clusters {
                    cl.pods = p;
                }
            }
            c
        }
    };
    config.plain_http = args.plain_http;
    config.faults = Faults {
        latency_ms: args.latency_ms,
        error_rate_5xx: args.error_rate,
        throttle_rate: args.throttle_rate,
        retry_after_secs: args.retry_after_secs,
        continue_expires_after_pages: args.continue_expires_after_pages,
        watch_drop_after_events: args.watch_drop_after_events,
        watch_drop_after_secs: args.watch_drop_after_secs,
        down: false,
        unavailable_api_groups: args.unavailable_api_group.clone(),
    };
    config
}

/// Writes each cluster's objects as fixtures (see `--export`).
fn export(fleet: &kq_sim::Fleet, path: &std::path::Path) -> std::io::Result<()> {
    let write = |path: &std::path::Path, cluster: &kq_sim::ClusterHandle| {
        let text = serde_json::to_vec(&cluster.export_fixtures()).map_err(std::io::Error::other)?;
        std::fs::write(path, text)
    };
    match fleet.clusters() {
        [one] => write(path, one),
        several => {
            std::fs::create_dir_all(path)?;
            for cluster in several {
                write(&path.join(format!("{}.json", cluster.name())), cluster)?;
            }
            Ok(())
        }
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = Args::parse();
    for rate in [args.error_rate, args.throttle_rate] {
        if !(0.0..=1.0).contains(&rate) {
            eprintln!("kq-sim: rates must be between 0 and 1 (got {rate})");
            return ExitCode::from(2);
        }
    }
    let mut config = config(&args);
    if let Some(v) = &args.server_version {
        match v.parse::<ServerVersion>() {
            Ok(v) => config.server_version = v,
            Err(e) => {
                eprintln!("kq-sim: --server-version: {e}");
                return ExitCode::from(2);
            }
        }
    }
    if let Some(name) = &args.tls_shape {
        match tls_shape(name) {
            Some(shape) => config.tls = shape,
            None => {
                eprintln!("kq-sim: --tls-shape must be one of {TLS_SHAPES} (got {name:?})");
                return ExitCode::from(2);
            }
        }
    }
    for d in &args.down {
        if !config.clusters.iter().any(|c| &c.name == d) {
            eprintln!("kq-sim: --down names an unknown cluster {d:?}");
            return ExitCode::from(2);
        }
    }
    let fleet = match kq_sim::start(config).await {
        Ok(f) => f,
        Err(e) => {
            eprintln!("kq-sim: starting the fleet: {e}");
            return ExitCode::from(1);
        }
    };
    for d in &args.down {
        if let Some(c) = fleet.cluster(d) {
            let mut f = c.faults();
            f.down = true;
            c.set_faults(f);
        }
    }
    if let Some(path) = &args.export {
        let code = match export(&fleet, path) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("kq-sim: writing fixtures to {}: {e}", path.display());
                ExitCode::from(1)
            }
        };
        fleet.shutdown().await;
        return code;
    }
    let Some(kubeconfig) = &args.kubeconfig else {
        eprintln!("kq-sim: pass --kubeconfig PATH (or --export PATH)");
        return ExitCode::from(2);
    };
    if let Err(e) = fleet.write_kubeconfig(kubeconfig) {
        eprintln!(
            "kq-sim: writing the kubeconfig {}: {e}",
            kubeconfig.display()
        );
        fleet.shutdown().await;
        return ExitCode::from(1);
    }
    let names: Vec<&str> = fleet.clusters().iter().map(|c| c.name()).collect();
    println!(
        "kq-sim: {} cluster(s) ready ({}); kubeconfig written to {}",
        names.len(),
        names.join(", "),
        kubeconfig.display()
    );
    kq_sim::wait_for_signal().await;
    fleet.shutdown().await;
    ExitCode::SUCCESS
}
