//! Fan-out: the seed query over every context of a fleet, beside the same
//! query on one cluster, and beside the loop a user would write with
//! kubectl + jq, all in one run against the same simulated fleet:
//!
//! ```text
//! kq -A "SELECT DISTINCT image FROM containers WHERE image LIKE '%mysql%'"
//! kq --context cluster-0 "…"
//! for c in $contexts; do kubectl --context $c get pods -A -o json | jq …; done | sort -u
//! for c in $contexts; do (kubectl --context $c get pods -A -o json | jq … > out.$c) & done; wait
//! ```
//!
//! `KQ_BENCH_CLUSTERS=10 KQ_BENCH_PODS=10000 cargo bench -p kq-benches --bench fanout`
//! (defaults: 10 clusters of 10 000 pods). The single-cluster runs use
//! `cluster-0` of the same fleet. kq's target: fan-out wall time ≤ 1.3×
//! the single cluster's. Peak RSS is the largest single process (for the
//! parallel loop, one of the concurrent kubectl/jq processes; their sum is
//! far higher), so the baseline's figures are flattering. kubectl's
//! discovery cache is warm. Every variant must return the same images.

use kq_benches::{
    BenchFleet, Measured, env_size, kq_binary, lines, measure_labeled, progress, sh_quote,
};

const QUERY: &str = "SELECT DISTINCT image FROM containers WHERE image LIKE '%mysql%'";
const JQ: &str = r#"[.items[].spec | (.initContainers // [])[], .containers[], (.ephemeralContainers // [])[] | .image | select(contains("mysql"))] | unique[]"#;

fn main() {
    let pods = env_size("KQ_BENCH_PODS", 10_000);
    let clusters = env_size("KQ_BENCH_CLUSTERS", 10).max(1);
    let kq = kq_binary();
    let fleet = BenchFleet::start(clusters, pods);
    fleet.warm_kubectl();
    let contexts = fleet.contexts();
    let first = sh_quote(&contexts[0]);
    let all: Vec<String> = contexts.iter().map(|c| sh_quote(c)).collect();
    let all = all.join(" ");
    let query = sh_quote(QUERY);
    let jq = sh_quote(JQ);

    let run = |label: &str, script: String| measure_labeled(label, &script);

    let kq_single = run(
        "kq, 1 cluster",
        fleet.kq_command(
            &kq,
            &format!("--context {first} -o csv --no-header {query}"),
        ),
    );
    let kq_fanout = run(
        &format!("kq -A, {clusters} clusters"),
        fleet.kq_command(&kq, &format!("-A -o csv --no-header {query}")),
    );
    let kubectl_single = run(
        "kubectl + jq, 1 cluster",
        format!(
            "{} | jq -r {jq}",
            fleet.kubectl_command(&format!("--context {first} get pods -A -o json"))
        ),
    );
    let kubectl_loop = run(
        &format!("kubectl + jq loop, {clusters} clusters, one after another"),
        format!(
            "for c in {all}; do {} | jq -r {jq}; done | sort -u",
            fleet.kubectl_command("--context \"$c\" get pods -A -o json")
        ),
    );
    let out = fleet.dir().join("parallel");
    std::fs::create_dir_all(&out).expect("output dir");
    let out = sh_quote(&out.display().to_string());
    let kubectl_parallel = run(
        &format!("kubectl + jq loop, {clusters} clusters, in parallel (& + wait)"),
        format!(
            "for c in {all}; do ({} | jq -r {jq} > {out}/\"$c\") & done; wait; cat {out}/* | sort -u",
            fleet.kubectl_command("--context \"$c\" get pods -A -o json")
        ),
    );

    progress("comparing answers");
    let single = lines(&kq_single.stdout);
    let fanout = lines(&kq_fanout.stdout);
    assert_eq!(
        single,
        lines(&kubectl_single.stdout),
        "kq and kubectl + jq disagree on one cluster"
    );
    assert_eq!(
        fanout,
        lines(&kubectl_loop.stdout),
        "kq -A and the kubectl loop disagree"
    );
    assert_eq!(
        fanout,
        lines(&kubectl_parallel.stdout),
        "kq -A and the parallel kubectl loop disagree"
    );

    let total = clusters * pods;
    println!(
        "fan-out, seed query: {clusters} clusters x {pods} pods = {total} pods ({} images; 1 cluster: {} images)",
        fanout.len(),
        single.len()
    );
    println!("  {:<44} {:>8} {:>10}", "variant", "wall s", "peak MB");
    for (label, m) in [
        ("kq --context cluster-0".to_string(), &kq_single),
        (format!("kq -A ({clusters} clusters)"), &kq_fanout),
        ("kubectl + jq, cluster-0".to_string(), &kubectl_single),
        (
            format!("kubectl + jq loop ({clusters}, sequential)"),
            &kubectl_loop,
        ),
        (
            format!("kubectl + jq loop ({clusters}, parallel)"),
            &kubectl_parallel,
        ),
    ] {
        println!("  {label:<44} {:>8.2} {:>10.0}", m.seconds, m.rss_mb());
    }
    let ratio = |a: &Measured, b: &Measured| a.seconds / b.seconds.max(0.01);
    let mem = |a: &Measured, b: &Measured| a.max_rss_kb as f64 / b.max_rss_kb.max(1) as f64;
    println!(
        "  kq fan-out / single: {:.2}x wall (target <= 1.3x), {:.2}x peak memory, for {clusters}x the pods",
        ratio(&kq_fanout, &kq_single),
        mem(&kq_fanout, &kq_single),
    );
    println!(
        "  kubectl + jq fan-out / single: {:.2}x sequential, {:.2}x parallel",
        ratio(&kubectl_loop, &kubectl_single),
        ratio(&kubectl_parallel, &kubectl_single),
    );
    println!(
        "  kq -A vs the loops: {:.1}x faster than sequential, {:.1}x faster than parallel; 1/{:.1} and 1/{:.1} of the (single-process) peak memory",
        ratio(&kubectl_loop, &kq_fanout),
        ratio(&kubectl_parallel, &kq_fanout),
        mem(&kubectl_loop, &kq_fanout),
        mem(&kubectl_parallel, &kq_fanout),
    );
    println!(
        "  kq vs kubectl + jq on one cluster: {:.1}x faster, 1/{:.1} of the memory",
        ratio(&kubectl_single, &kq_single),
        mem(&kubectl_single, &kq_single),
    );
    fleet.shutdown();
}
