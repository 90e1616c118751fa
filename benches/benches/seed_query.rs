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
//! baseline). `KQ_BIN` picks the kq binary (default: this workspace's,
//! built in the bench's own profile). Both sides must return the same
//! images, or the bench fails.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use kq_benches::env_size;

const QUERY: &str = "SELECT DISTINCT image FROM containers WHERE image LIKE '%mysql%'";
const JQ: &str = r#"[.items[].spec | (.initContainers // [])[], .containers[], (.ephemeralContainers // [])[] | .image | select(contains("mysql"))] | unique[]"#;

/// Wall seconds and peak RSS (KB) of one command, from /usr/bin/time.
struct Measured {
    seconds: f64,
    max_rss_kb: u64,
    stdout: String,
}

fn measure(script: &str) -> Measured {
    let dir = tempfile_dir();
    let times = dir.join("time.txt");
    let output = Command::new("/usr/bin/time")
        .arg("-f")
        .arg("%e %M")
        .arg("-o")
        .arg(&times)
        .arg("sh")
        .arg("-c")
        .arg(script)
        .output()
        .expect("/usr/bin/time is needed (Debian package `time`)");
    assert!(
        output.status.success(),
        "{script} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let text = std::fs::read_to_string(&times).expect("time output");
    let mut fields = text.split_whitespace();
    let seconds = fields.next().and_then(|f| f.parse().ok()).expect("seconds");
    let max_rss_kb = fields.next().and_then(|f| f.parse().ok()).expect("max rss");
    Measured {
        seconds,
        max_rss_kb,
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
    }
}

fn tempfile_dir() -> PathBuf {
    let dir = std::env::temp_dir().join(format!("kq-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir
}

fn kq_binary() -> PathBuf {
    if let Some(path) = std::env::var_os("KQ_BIN") {
        return PathBuf::from(path);
    }
    let profile_dir = std::env::current_exe()
        .ok()
        .and_then(|exe| exe.parent().and_then(Path::parent).map(Path::to_path_buf))
        .expect("bench binary lives in target/<profile>/deps");
    let release = profile_dir.ends_with("release");
    let mut build = Command::new(env!("CARGO"));
    build.args(["build", "--quiet", "-p", "kq-cli", "--bin", "kq"]);
    if release {
        build.arg("--release");
    }
    assert!(build.status().expect("cargo build").success());
    profile_dir.join("kq")
}

fn lines(text: &str) -> BTreeSet<String> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(str::to_string)
        .collect()
}

fn main() {
    let pods = env_size("KQ_BENCH_PODS", 10_000);
    let kq = kq_binary();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let fleet = runtime
        .block_on(kq_sim::start(kq_sim::FleetConfig::uniform(1, pods, 42)))
        .expect("fleet starts");
    let dir = tempfile_dir();
    let kubeconfig = dir.join("kubeconfig");
    fleet.write_kubeconfig(&kubeconfig).expect("kubeconfig");
    let kc = kubeconfig.display();

    let kq_run = measure(&format!(
        "'{}' --kubeconfig '{kc}' -o csv --no-header \"{QUERY}\"",
        kq.display()
    ));
    let cache = dir.join("kubectl-cache");
    let baseline = measure(&format!(
        "kubectl --kubeconfig '{kc}' --cache-dir '{}' get pods -A -o json | jq -r '{JQ}'",
        cache.display()
    ));
    assert_eq!(
        lines(&kq_run.stdout),
        lines(&baseline.stdout),
        "kq and kubectl + jq disagree"
    );
    println!(
        "seed query, {pods} pods ({} images): kq {:.2} s, {} MB peak | kubectl + jq {:.2} s, {} MB peak | kq is {:.1}x faster with 1/{:.1} of the memory",
        lines(&kq_run.stdout).len(),
        kq_run.seconds,
        kq_run.max_rss_kb / 1024,
        baseline.seconds,
        baseline.max_rss_kb / 1024,
        baseline.seconds / kq_run.seconds.max(0.01),
        baseline.max_rss_kb as f64 / kq_run.max_rss_kb.max(1) as f64,
    );
    runtime.block_on(fleet.shutdown());
    let _ = std::fs::remove_dir_all(&dir);
}
