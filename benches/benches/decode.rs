//! Decode throughput of one list page: 500 pods exactly as the sim serves
//! them (`GET /api/v1/pods?limit=500`, objects from the seeded generator),
//! through generic JSON parsers and through kq's decoding into Arrow.
//!
//! ```text
//! cargo bench -p kq-benches --bench decode
//! cargo bench -p kq-benches --bench decode -- --sample-size 100 containers
//! ```
//!
//! Cases: `serde_json::Value`, `sonic_rs::Value`, kq's `pods` (all
//! columns), kq's `containers` projected to `image` (the seed query) and
//! `containers` with all columns. Throughput is in bytes of list body.
//! After criterion's report, one summary line per case gives MB/s and the
//! ratio to sonic-rs (kq's target: at least 0.5x sonic-rs). The summary
//! uses the median time per iteration over every sample criterion took.

use std::hint::black_box;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput};
use kq_benches::{BenchFleet, client_for, get_bytes, progress};
use kq_providers::kubernetes::decode_list_body;
use kq_providers::kubernetes::tables::{TableDef, TableOptions, builtin_tables};

const PODS: usize = 500;
const CLUSTER: &str = "cluster-0";

/// Per-iteration times of every sample criterion took for one case.
type Samples = Arc<Mutex<Vec<f64>>>;

/// One page of `PODS` pods, as the sim sends it.
fn list_page() -> Vec<u8> {
    let fleet = BenchFleet::start(1, PODS);
    let body = fleet.block_on(async {
        let client = client_for(fleet.fleet(), CLUSTER).await;
        get_bytes(&client, &format!("/api/v1/pods?limit={PODS}")).await
    });
    fleet.shutdown();
    let list: serde_json::Value = serde_json::from_slice(&body).expect("pod list");
    let items = list["items"].as_array().map_or(0, Vec::len);
    assert_eq!(items, PODS, "one page holds every pod");
    body
}

fn table(tables: &[TableDef], name: &str) -> TableDef {
    tables
        .iter()
        .find(|t| t.name == name)
        .cloned()
        .unwrap_or_else(|| panic!("kq has a `{name}` table"))
}

fn main() {
    let body = list_page();
    let bytes = body.len() as u64;
    progress(format!(
        "list page: {PODS} pods, {bytes} bytes ({:.0} B/pod)",
        bytes as f64 / PODS as f64
    ));

    let tables = builtin_tables(TableOptions::default());
    let pods = table(&tables, "pods");
    let containers = table(&tables, "containers");
    let image = containers
        .schema()
        .index_of("image")
        .expect("containers has an image column");
    let image_only = [image];
    let containers_per_page =
        decode_list_body(&containers, CLUSTER, &containers.sources[0], &body, None)
            .expect("containers decode")
            .num_rows();
    progress(format!(
        "{} pods columns, {} containers columns, {containers_per_page} containers per page",
        pods.schema().fields().len(),
        containers.schema().fields().len(),
    ));

    type Case<'a> = (&'static str, Box<dyn Fn() -> usize + 'a>);
    let cases: Vec<Case> = vec![
        (
            "serde_json::Value",
            Box::new(|| {
                let v: serde_json::Value = serde_json::from_slice(black_box(&body)).expect("json");
                v["items"].as_array().map_or(0, Vec::len)
            }),
        ),
        (
            "sonic_rs::Value",
            Box::new(|| {
                let v: sonic_rs::Value = sonic_rs::from_slice(black_box(&body)).expect("json");
                usize::from(!sonic_rs::JsonValueTrait::is_null(&v))
            }),
        ),
        (
            "kq pods (all columns)",
            Box::new(|| {
                decode_list_body(&pods, CLUSTER, &pods.sources[0], black_box(&body), None)
                    .expect("pods decode")
                    .num_rows()
            }),
        ),
        (
            "kq containers (image only)",
            Box::new(|| {
                decode_list_body(
                    &containers,
                    CLUSTER,
                    &containers.sources[0],
                    black_box(&body),
                    Some(&image_only),
                )
                .expect("containers decode")
                .num_rows()
            }),
        ),
        (
            "kq containers (all columns)",
            Box::new(|| {
                decode_list_body(
                    &containers,
                    CLUSTER,
                    &containers.sources[0],
                    black_box(&body),
                    None,
                )
                .expect("containers decode")
                .num_rows()
            }),
        ),
    ];

    // Debug builds take ~0.1 s per iteration; keep the default run short.
    // Criterion's own flags (`-- --sample-size 100`) still override these.
    let mut criterion = Criterion::default()
        .sample_size(20)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(5))
        .configure_from_args();
    let mut samples: Vec<(&str, Samples)> = Vec::new();
    {
        let mut group = criterion.benchmark_group("decode_500_pods");
        group.throughput(Throughput::Bytes(bytes));
        for (name, run) in &cases {
            let record: Samples = Arc::default();
            samples.push((name, record.clone()));
            group.bench_function(*name, |b| {
                b.iter_custom(|iters| {
                    let started = Instant::now();
                    for _ in 0..iters {
                        black_box(run());
                    }
                    let elapsed = started.elapsed();
                    if let Ok(mut times) = record.lock() {
                        times.push(elapsed.as_secs_f64() / iters.max(1) as f64);
                    }
                    elapsed
                });
            });
        }
        group.finish();
    }
    criterion.final_summary();

    let mb_s = |record: &Samples| -> Option<f64> {
        let mut times = record.lock().ok()?.clone();
        if times.is_empty() {
            return None;
        }
        times.sort_by(f64::total_cmp);
        let median = times[times.len() / 2];
        Some(bytes as f64 / 1e6 / median.max(1e-12))
    };
    let sonic = samples
        .iter()
        .find(|(name, _)| *name == "sonic_rs::Value")
        .and_then(|(_, r)| mb_s(r));
    println!("decode summary: one page of {PODS} pods = {bytes} bytes (median of every sample)");
    for (name, record) in &samples {
        let Some(rate) = mb_s(record) else {
            println!("  {name:<30}       (filtered out)");
            continue;
        };
        match sonic {
            Some(sonic) => println!(
                "  {name:<30} {rate:>9.1} MB/s  {:>5.2}x sonic-rs{}",
                rate / sonic,
                if name.starts_with("kq") {
                    " (target >= 0.5x)"
                } else {
                    ""
                }
            ),
            None => println!("  {name:<30} {rate:>9.1} MB/s"),
        }
    }
}
