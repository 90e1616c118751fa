//! Snapshots: what a snapshot costs to write, and the seed query answered
//! from snapshots beside the same query against the live clusters and
//! beside the kubectl + jq loop a user would otherwise run, in one run
//! against one simulated fleet:
//!
//! ```text
//! kq snapshot -A --to DIR --tables pods,containers
//! kq --snapshots DIR "SELECT DISTINCT image FROM containers WHERE image LIKE '%mysql%'"
//! kq -A "…same query…"
//! for c in $contexts; do kubectl --context $c get pods -A -o json | jq …; done | sort -u
//! ```
//!
//! `KQ_BENCH_CLUSTERS=10 KQ_BENCH_PODS=10000 cargo bench -p kq-benches --bench snapshots`
//! (defaults: 10 clusters of 10 000 pods). Every variant must return the
//! same images. The write rate is objects (pods) and Parquet bytes per
//! second of the whole `kq snapshot` process, listing included.

use kq_benches::{
    BenchFleet, Measured, env_size, kq_binary, lines, measure_labeled, parquet_bytes, progress,
    sh_quote,
};

const QUERY: &str = "SELECT DISTINCT image FROM containers WHERE image LIKE '%mysql%'";
const FLEET_QUERY: &str = "SELECT cluster, phase, count(*) AS pods FROM pods GROUP BY cluster, phase ORDER BY cluster, phase";
const JQ: &str = r#"[.items[].spec | (.initContainers // [])[], .containers[], (.ephemeralContainers // [])[] | .image | select(contains("mysql"))] | unique[]"#;

fn main() {
    let pods = env_size("KQ_BENCH_PODS", 10_000);
    let clusters = env_size("KQ_BENCH_CLUSTERS", 10).max(1);
    let kq = kq_binary();
    let fleet = BenchFleet::start(clusters, pods);
    fleet.warm_kubectl();
    let contexts: Vec<String> = fleet.contexts().iter().map(|c| sh_quote(c)).collect();
    let all = contexts.join(" ");
    let dir = fleet.dir().join("snapshots");
    let dir_arg = sh_quote(&dir.display().to_string());
    let query = sh_quote(QUERY);
    let fleet_query = sh_quote(FLEET_QUERY);
    let jq = sh_quote(JQ);

    let run = |label: &str, script: String| measure_labeled(label, &script);

    let write = run(
        "kq snapshot (pods, containers)",
        fleet.kq_command(
            &kq,
            &format!("snapshot -A --to {dir_arg} --tables pods,containers"),
        ),
    );
    let bytes = parquet_bytes(&dir);
    let from_snapshot = run(
        "kq --snapshots, seed query",
        format!(
            "{} --snapshots {dir_arg} -o csv --no-header {query}",
            kq.path().display()
        ),
    );
    let live = run(
        "kq -A, seed query",
        fleet.kq_command(&kq, &format!("-A -o csv --no-header {query}")),
    );
    let loop_ = run(
        "kubectl + jq loop, seed query",
        format!(
            "for c in {all}; do {} | jq -r {jq}; done | sort -u",
            fleet.kubectl_command("--context \"$c\" get pods -A -o json")
        ),
    );
    let fleet_snapshot = run(
        "kq --snapshots, fleet GROUP BY",
        format!(
            "{} --snapshots {dir_arg} -o csv --no-header {fleet_query}",
            kq.path().display()
        ),
    );
    let fleet_live = run(
        "kq -A, fleet GROUP BY",
        fleet.kq_command(&kq, &format!("-A -o csv --no-header {fleet_query}")),
    );

    progress("comparing answers");
    let images = lines(&live.stdout);
    assert_eq!(
        images,
        lines(&from_snapshot.stdout),
        "snapshot and live disagree"
    );
    assert_eq!(images, lines(&loop_.stdout), "kq and kubectl + jq disagree");
    assert_eq!(
        lines(&fleet_live.stdout),
        lines(&fleet_snapshot.stdout),
        "the fleet GROUP BY differs between snapshot and live"
    );

    let total = clusters * pods;
    println!("snapshots: {clusters} clusters x {pods} pods = {total} pods");
    println!(
        "  kq snapshot -A --tables pods,containers: {:.2} s, {:.0} MB peak; {:.0} pods/s, {:.1} MB Parquet ({:.1} MB/s)",
        write.seconds,
        write.rss_mb(),
        total as f64 / write.seconds.max(0.001),
        bytes as f64 / 1e6,
        bytes as f64 / 1e6 / write.seconds.max(0.001),
    );
    println!("  {:<40} {:>8} {:>10}", "variant", "wall s", "peak MB");
    for (label, m) in [
        ("seed query, kq --snapshots", &from_snapshot),
        ("seed query, kq -A (live)", &live),
        ("seed query, kubectl + jq loop", &loop_),
        ("fleet GROUP BY, kq --snapshots", &fleet_snapshot),
        ("fleet GROUP BY, kq -A (live)", &fleet_live),
    ] {
        println!("  {label:<40} {:>8.2} {:>10.0}", m.seconds, m.rss_mb());
    }
    let ratio = |a: &Measured, b: &Measured| a.seconds / b.seconds.max(0.001);
    println!(
        "  seed query from snapshots: {:.1}x faster than live kq, {:.1}x faster than the kubectl + jq loop",
        ratio(&live, &from_snapshot),
        ratio(&loop_, &from_snapshot),
    );
    println!(
        "  fleet GROUP BY from snapshots: {:.1}x faster than live kq",
        ratio(&fleet_live, &fleet_snapshot),
    );
    fleet.shutdown();
}
