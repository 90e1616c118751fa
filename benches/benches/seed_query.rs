//! The seed query, kq beside the pipeline a user would otherwise run, in
//! the same run against the same simulated cluster:
//!
//! ```text
//! kq "SELECT DISTINCT image FROM containers WHERE image LIKE '%mysql%'"
//! kubectl get pods -A -o json | jq '[.items[].spec | ... | select(contains("mysql"))] | unique'
//! ```
//!
//! `KQ_BENCH_PODS=100000 cargo bench -p kq-benches --bench seed_query`
//! (default 10 000 pods). Wall time and peak RSS come from `/usr/bin/time`;
//! for the pipeline, peak RSS is the larger of kubectl's and jq's (they run
//! at once, so the true combined peak is higher: the figure favours the
//! baseline). kubectl's discovery cache is warm, as a user's would be.
//! `KQ_BIN` picks the kq binary (default: this workspace's, built in the
//! bench's own profile). Both sides must return the same images, or the
//! bench fails. Progress lines go to stderr, one per phase.
//!
//! Memory: the harness holds neither side's list in memory (kubectl pipes
//! into jq; only the few matching images come back). At 100 000 pods the
//! sim keeps ~0.5 GB of serialized objects, kubectl + jq need several GB.

use kq_benches::{BenchFleet, env_size, kq_binary, lines, measure, progress, sh_quote};

const QUERY: &str = "SELECT DISTINCT image FROM containers WHERE image LIKE '%mysql%'";
const JQ: &str = r#"[.items[].spec | (.initContainers // [])[], .containers[], (.ephemeralContainers // [])[] | .image | select(contains("mysql"))] | unique[]"#;

fn main() {
    let pods = env_size("KQ_BENCH_PODS", 10_000);
    let kq = kq_binary();
    let fleet = BenchFleet::start(1, pods);
    fleet.warm_kubectl();

    progress(format!("kq: {QUERY}"));
    let kq_run =
        measure(&fleet.kq_command(&kq, &format!("-o csv --no-header {}", sh_quote(QUERY))));
    progress(format!(
        "kq done in {:.2} s; kubectl get pods -A -o json | jq",
        kq_run.seconds
    ));
    let baseline = measure(&format!(
        "{} | jq -r {}",
        fleet.kubectl_command("get pods -A -o json"),
        sh_quote(JQ)
    ));
    progress(format!(
        "kubectl + jq done in {:.2} s; comparing answers",
        baseline.seconds
    ));
    assert_eq!(
        lines(&kq_run.stdout),
        lines(&baseline.stdout),
        "kq and kubectl + jq disagree"
    );
    println!(
        "seed query, {pods} pods ({} images): kq {:.2} s, {:.0} MB peak | kubectl + jq {:.2} s, {:.0} MB peak | kq is {:.1}x faster with 1/{:.1} of the memory",
        lines(&kq_run.stdout).len(),
        kq_run.seconds,
        kq_run.rss_mb(),
        baseline.seconds,
        baseline.rss_mb(),
        baseline.seconds / kq_run.seconds.max(0.01),
        baseline.max_rss_kb as f64 / kq_run.max_rss_kb.max(1) as f64,
    );
    fleet.shutdown();
}
