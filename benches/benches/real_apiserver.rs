//! The seed query against the upstream kube-apiserver (the kq-apiserver
//! harness, `target/kq-apiserver`, built by `.ci/setup`), in one run:
//!
//! 1. the floor: the server's own time to serve the list, as paged raw
//!    GETs (`limit=500`, the page size kq uses) whose bodies are dropped
//!    unread; no client can be faster;
//! 2. kq: `SELECT DISTINCT image FROM containers WHERE image LIKE '%mysql%'`;
//! 3. `kubectl get pods -A -o json | jq …`, the pipeline kq replaces.
//!
//! `KQ_BENCH_PODS=10000 cargo bench -p kq-benches --bench real_apiserver`
//! (default 10 000 pods; `KQ_BENCH_RUNS`, default 3, runs of each side,
//! medians reported). The fixtures are the sim's generated namespaces,
//! nodes and pods, loaded into the real server through its API before the
//! clock starts; loading time is reported on its own. Both sides must
//! return the same images, or the bench fails.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use kq_benches::{env_size, kq_binary, lines, measure, progress, sh_quote};
use sonic_rs::JsonValueTrait as _;

const QUERY: &str = "SELECT DISTINCT image FROM containers WHERE image LIKE '%mysql%'";
const JQ: &str = r#"[.items[].spec | (.initContainers // [])[], .containers[], (.ephemeralContainers // [])[] | .image | select(contains("mysql"))] | unique[]"#;
const PAGE: usize = 500;

/// The harness, stopped (SIGTERM) when dropped.
struct Harness {
    child: Child,
    kubeconfig: PathBuf,
}

impl Drop for Harness {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let _ = self.child.wait();
    }
}

fn harness_binary() -> PathBuf {
    let path = std::env::var_os("KQ_APISERVER")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/kq-apiserver"));
    assert!(
        path.exists(),
        "{} is missing: .ci/setup builds it (or set KQ_APISERVER)",
        path.display()
    );
    path
}

/// Starts the harness with `fixtures` and waits for its kubeconfig; returns
/// it and the seconds it took.
fn start(dir: &Path, name: &str, fixtures: Option<&Path>) -> (Harness, f64) {
    let kubeconfig = dir.join(format!("{name}.kubeconfig"));
    let log = std::fs::File::create(dir.join(format!("{name}.log"))).expect("log file");
    let mut command = Command::new(harness_binary());
    command
        .arg("--kubeconfig")
        .arg(&kubeconfig)
        .arg("--data-dir")
        .arg(dir.join(name))
        .stdout(Stdio::null())
        .stderr(log);
    if let Some(fixtures) = fixtures {
        command.arg("--fixtures").arg(fixtures);
    }
    let started = Instant::now();
    let mut child = command.spawn().expect("start kq-apiserver");
    // Waiting on a condition (the kubeconfig is written once the server is
    // ready and loaded), bounded by a generous deadline.
    while !kubeconfig.exists() {
        if let Ok(Some(status)) = child.try_wait() {
            panic!(
                "kq-apiserver exited ({status}): {}",
                std::fs::read_to_string(dir.join(format!("{name}.log"))).unwrap_or_default()
            );
        }
        assert!(
            started.elapsed() < Duration::from_secs(3600),
            "kq-apiserver not ready after an hour"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let seconds = started.elapsed().as_secs_f64();
    (Harness { child, kubeconfig }, seconds)
}

/// The sim's namespaces, nodes and pods for `pods` pods, as a `List`.
fn fixtures(pods: usize, path: &Path) -> usize {
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let fleet = runtime
        .block_on(kq_sim::start(kq_sim::FleetConfig::uniform(1, pods, 42)))
        .expect("sim starts");
    let mut list = fleet.clusters()[0].export_fixtures();
    let items = list["items"].as_array_mut().expect("items");
    items.retain(|o| matches!(o["kind"].as_str(), Some("Namespace" | "Node" | "Pod")));
    let count = items.len();
    std::fs::write(path, serde_json::to_vec(&list).expect("JSON")).expect("write fixtures");
    runtime.block_on(fleet.shutdown());
    count
}

/// Seconds for the server to serve every page of the pod list, bodies
/// dropped: the floor.
fn floor(kubeconfig: &Path) -> (f64, usize) {
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    runtime.block_on(async {
        let text = std::fs::read_to_string(kubeconfig).expect("kubeconfig");
        let config = kube::Config::from_custom_kubeconfig(
            kube::config::Kubeconfig::from_yaml(&text).expect("kubeconfig parses"),
            &kube::config::KubeConfigOptions::default(),
        )
        .await
        .expect("kubeconfig is usable");
        let client = kube::Client::try_from(config).expect("client");
        let started = Instant::now();
        let mut token: Option<String> = None;
        let mut pages = 0;
        loop {
            let mut path = format!("/api/v1/pods?limit={PAGE}");
            if let Some(token) = &token {
                path.push_str("&continue=");
                path.push_str(&kq_providers::kubernetes::http::percent_encode(token));
            }
            let body = kq_benches::get_bytes(&client, &path).await;
            pages += 1;
            // Only the continue token is read; the items are dropped.
            token = sonic_rs::get_from_slice(&body, &["metadata", "continue"])
                .ok()
                .and_then(|v| v.as_str().map(str::to_string))
                .filter(|t| !t.is_empty());
            if token.is_none() {
                break;
            }
        }
        (started.elapsed().as_secs_f64(), pages)
    })
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(|a, b| a.total_cmp(b));
    values[values.len() / 2]
}

fn main() {
    let pods = env_size("KQ_BENCH_PODS", 10_000);
    let runs = env_size("KQ_BENCH_RUNS", 3).max(1);
    let kq = kq_binary();
    let scratch = tempfile::Builder::new()
        .prefix("kq-bench-real-")
        .tempdir()
        .expect("temp dir");
    let dir = scratch.path();

    progress("starting an empty kube-apiserver (start-up alone)");
    let (empty, empty_seconds) = start(dir, "empty", None);
    drop(empty);
    let fixture = dir.join("fixtures.json");
    let objects = fixtures(pods, &fixture);
    progress(format!(
        "loading {objects} objects ({pods} pods) into the real server"
    ));
    let (server, loaded_seconds) = start(dir, "loaded", Some(&fixture));
    let version = measure(&format!(
        "kubectl --kubeconfig {} version -o json | jq -r .serverVersion.gitVersion",
        sh_quote(&server.kubeconfig.display().to_string())
    ))
    .stdout
    .trim()
    .to_string();
    progress(format!(
        "kube-apiserver {version}: empty start {empty_seconds:.1} s, start + load {loaded_seconds:.1} s"
    ));
    let kc = sh_quote(&server.kubeconfig.display().to_string());
    let cache = sh_quote(&dir.join("kubectl-cache").display().to_string());
    let kubectl = |args: &str| format!("kubectl --kubeconfig {kc} --cache-dir {cache} {args}");
    measure(&kubectl("get namespaces -o name >/dev/null"));

    let mut floors = Vec::new();
    let mut pages = 0;
    let mut kq_runs = Vec::new();
    let mut baseline_runs = Vec::new();
    for run in 1..=runs {
        progress(format!("run {run}/{runs}: raw paged GETs"));
        let (seconds, served) = floor(&server.kubeconfig);
        floors.push(seconds);
        pages = served;
        progress(format!("run {run}/{runs}: kq"));
        kq_runs.push(measure(&format!(
            "{} --kubeconfig {kc} -o csv --no-header {}",
            sh_quote(&kq.path().display().to_string()),
            sh_quote(QUERY)
        )));
        progress(format!("run {run}/{runs}: kubectl + jq"));
        baseline_runs.push(measure(&format!(
            "{} | jq -r {}",
            kubectl("get pods -A -o json"),
            sh_quote(JQ)
        )));
    }
    let answer = lines(&kq_runs[0].stdout);
    for run in kq_runs.iter().chain(&baseline_runs) {
        assert_eq!(lines(&run.stdout), answer, "kq and kubectl + jq disagree");
    }
    let floor = median(floors);
    let kq_seconds = median(kq_runs.iter().map(|m| m.seconds).collect());
    let kq_rss = kq_runs.iter().map(|m| m.rss_mb()).fold(0.0, f64::max);
    let baseline_seconds = median(baseline_runs.iter().map(|m| m.seconds).collect());
    let baseline_rss = baseline_runs.iter().map(|m| m.rss_mb()).fold(0.0, f64::max);
    println!(
        "real kube-apiserver {version}, {pods} pods ({objects} objects loaded in {:.1} s after a {empty_seconds:.1} s empty start), {} images, medians of {runs}:",
        loaded_seconds - empty_seconds,
        answer.len()
    );
    println!("  floor (raw paged GETs, {pages} pages of {PAGE}, bodies dropped): {floor:.2} s");
    println!(
        "  kq:           {kq_seconds:.2} s, {kq_rss:.0} MB peak = {:.2}x the floor ({:+.0}%)",
        kq_seconds / floor,
        (kq_seconds / floor - 1.0) * 100.0
    );
    println!(
        "  kubectl + jq: {baseline_seconds:.2} s, {baseline_rss:.0} MB peak = {:.2}x the floor; kq is {:.1}x faster with 1/{:.1} of the memory",
        baseline_seconds / floor,
        baseline_seconds / kq_seconds.max(0.01),
        baseline_rss / kq_rss.max(1.0)
    );
    drop(server);
}
