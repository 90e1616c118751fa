//! The simulator's list throughput: how fast a fleet of N pods starts and
//! how many MB/s a paginated `list pods` streams over HTTPS.
//!
//! `KQ_BENCH_PODS=100000 cargo bench -p kq-benches --bench sim_list`
//! (default 10 000 pods). Prints figures; asserts nothing about time.

use std::time::Instant;

use kq_benches::{client_for, env_size, get_bytes, mb_per_sec};

fn main() {
    let pods = env_size("KQ_BENCH_PODS", 10_000);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async move {
        let started = Instant::now();
        let fleet = kq_sim::start(kq_sim::FleetConfig::uniform(1, pods, 42))
            .await
            .expect("fleet starts");
        let startup = started.elapsed();
        let cluster = fleet.clusters()[0].name().to_string();
        let client = client_for(&fleet, &cluster).await;

        for page_size in [500usize, 5000] {
            let started = Instant::now();
            let mut bytes = 0u64;
            let mut pages = 0usize;
            let mut token: Option<String> = None;
            loop {
                let mut path = format!("/api/v1/pods?limit={page_size}");
                if let Some(t) = &token {
                    path.push_str("&continue=");
                    path.push_str(&kq_providers::kubernetes::http::percent_encode(t));
                }
                let body = get_bytes(&client, &path).await;
                bytes += body.len() as u64;
                pages += 1;
                // Only the list metadata (first in the body) is read, so the
                // figure is the server's and the wire's, not a JSON parser's.
                token = continue_token(&body);
                if token.is_none() {
                    break;
                }
            }
            let elapsed = started.elapsed();
            assert_eq!(pages, pods.div_ceil(page_size).max(1), "every page served");
            println!(
                "sim list pods: {pods} pods, limit={page_size}: {:.1} MB in {:.2?} = {:.0} MB/s ({:.0} B/pod)",
                bytes as f64 / 1e6,
                elapsed,
                mb_per_sec(bytes, elapsed),
                bytes as f64 / pods as f64
            );
        }
        println!("sim startup: {pods} pods in {startup:.2?}");
        fleet.shutdown().await;
    });
}

/// The `metadata.continue` of a list body, read from its head.
fn continue_token(body: &[u8]) -> Option<String> {
    let head = &body[..body.len().min(4096)];
    let text = String::from_utf8_lossy(head);
    let start = text.find("\"continue\":\"")? + "\"continue\":\"".len();
    let end = start + text[start..].find('"')?;
    let token = &text[start..end];
    (!token.is_empty()).then(|| token.to_string())
}
