//! Shared pieces of kq's benchmarks: sizes from the environment, peak-RSS
//! probes, and a client for the simulated fleet.
//!
//! Benchmarks print figures; they never assert on time (tests do not
//! either). BENCHMARKS.md records the figures and the commands.

use std::time::Duration;

/// Reads a size from the environment (e.g. `KQ_BENCH_PODS=100000`), so the
/// same bench runs small in a smoke check and large on purpose.
pub fn env_size(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.replace('_', "").parse().ok())
        .unwrap_or(default)
}

/// Megabytes per second.
pub fn mb_per_sec(bytes: u64, elapsed: Duration) -> f64 {
    bytes as f64 / 1_000_000.0 / elapsed.as_secs_f64().max(1e-9)
}

/// A kube client for one context of the fleet's kubeconfig.
pub async fn client_for(fleet: &kq_sim::Fleet, context: &str) -> kube::Client {
    let kubeconfig = kube::config::Kubeconfig::from_yaml(&fleet.kubeconfig_yaml())
        .expect("sim kubeconfig parses");
    let options = kube::config::KubeConfigOptions {
        context: Some(context.to_string()),
        ..Default::default()
    };
    let config = kube::Config::from_custom_kubeconfig(kubeconfig, &options)
        .await
        .expect("sim kubeconfig is usable");
    kube::Client::try_from(config).expect("client")
}

/// GETs a path and returns the body.
pub async fn get_bytes(client: &kube::Client, path: &str) -> Vec<u8> {
    use http_body_util::BodyExt;
    let request = http::Request::get(path)
        .header(http::header::ACCEPT, "application/json")
        .body(kube::client::Body::empty())
        .expect("request");
    let response = client.send(request).await.expect("send");
    assert!(
        response.status().is_success(),
        "GET {path}: {}",
        response.status()
    );
    response
        .into_body()
        .collect()
        .await
        .expect("body")
        .to_bytes()
        .to_vec()
}
