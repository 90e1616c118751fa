//! Shared pieces of kq's benchmarks: sizes from the environment, progress
//! lines, wall time and peak RSS of shell pipelines, the kq binary under
//! test, a simulated fleet with its kubeconfig, and a client for it.
//!
//! Benchmarks print figures; they never assert on time (tests do not
//! either). They may assert that kq and the baseline agree on the answer.
//! BENCHMARKS.md records the figures and the commands.

use std::collections::BTreeSet;
use std::fmt::Display;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

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

fn bench_start() -> Instant {
    static START: OnceLock<Instant> = OnceLock::new();
    *START.get_or_init(Instant::now)
}

/// One progress line on stderr, stamped with the seconds since the bench
/// began, so a long run (100k pods) shows which phase it is in.
pub fn progress(message: impl Display) {
    let elapsed = bench_start().elapsed().as_secs_f64();
    eprintln!("[bench {elapsed:7.1}s] {message}");
}

/// Quotes a string for `sh -c`.
pub fn sh_quote(text: &str) -> String {
    format!("'{}'", text.replace('\'', r"'\''"))
}

/// A prefix for `sh -c` scripts run against a cloud fake: unsets every
/// variable of this process's environment that `steers` names (e.g.
/// [`kq_sim::gcp::steers_gcloud`]), then exports `vars`, so the CLI and kq
/// in the script see the fake's environment and nothing of the machine's.
pub fn shell_env(vars: &[(String, String)], steers: fn(&str) -> bool) -> String {
    let mut script = String::new();
    for (name, _) in std::env::vars_os() {
        let name = name.to_string_lossy();
        if steers(&name) && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            script.push_str(&format!("unset {name}; "));
        }
    }
    for (name, value) in vars {
        script.push_str(&format!("export {name}={}; ", sh_quote(value)));
    }
    script
}

/// The non-empty, trimmed lines of an output, as a set (order-free comparison).
pub fn lines(text: &str) -> BTreeSet<String> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(str::to_string)
        .collect()
}

/// The non-empty, trimmed lines of an output, sorted, duplicates kept
/// (a comparison of answers that counts rows, not only distinct ones).
pub fn sorted_rows(text: &str) -> Vec<String> {
    let mut rows: Vec<String> = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(str::to_string)
        .collect();
    rows.sort();
    rows
}

/// One side of a kq-against-a-cloud-CLI comparison: its run and the
/// requests it sent to the cloud fake and to the Kubernetes sim.
pub struct Side {
    pub label: String,
    pub run: Measured,
    pub cloud_requests: usize,
    pub kube_requests: u64,
}

/// Asserts that kq and the baseline printed the same rows (order-free,
/// duplicates counted), prints `question` with the row count and the two
/// sides side by side, and returns the rows.
pub fn same_answer_side_by_side(question: &str, kq: &Side, baseline: &Side) -> Vec<String> {
    let (kq_rows, baseline_rows) = (
        sorted_rows(&kq.run.stdout),
        sorted_rows(&baseline.run.stdout),
    );
    assert_eq!(
        kq_rows, baseline_rows,
        "kq and {} disagree on {question}",
        baseline.label
    );
    println!("{question}: {} rows, the same from both", kq_rows.len());
    print_side_by_side(kq, baseline);
    kq_rows
}

/// Prints kq and the baseline side by side (wall, peak RSS, requests),
/// then the ratios baseline / kq.
fn print_side_by_side(kq: &Side, baseline: &Side) {
    println!(
        "{:<28}{:>10}{:>12}{:>16}{:>14}",
        "", "wall", "peak RSS", "cloud requests", "k8s requests"
    );
    for side in [kq, baseline] {
        println!(
            "{:<28}{:>8.2} s{:>9.0} MB{:>16}{:>14}",
            side.label,
            side.run.seconds,
            side.run.rss_mb(),
            side.cloud_requests,
            side.kube_requests
        );
    }
    // A count neither side sent has no ratio.
    let ratio = |baseline: f64, kq: f64| {
        if kq > 0.0 {
            format!("{:.2}x", baseline / kq)
        } else {
            "-".to_string()
        }
    };
    println!(
        "{:<28}{:>9.1}x{:>11.2}x{:>16}{:>14}",
        "baseline / kq",
        baseline.run.seconds / kq.run.seconds.max(0.01),
        baseline.run.max_rss_kb as f64 / kq.run.max_rss_kb.max(1) as f64,
        ratio(baseline.cloud_requests as f64, kq.cloud_requests as f64),
        ratio(baseline.kube_requests as f64, kq.kube_requests as f64),
    );
}

/// Wall seconds and peak RSS of one shell command, from `/usr/bin/time`.
#[derive(Debug, Clone)]
pub struct Measured {
    pub seconds: f64,
    /// For a pipeline or a loop: the largest RSS of any one process in it
    /// (what `wait4` reports), not their sum.
    pub max_rss_kb: u64,
    /// The command's stdout (keep it small: pipe big outputs into jq or wc).
    pub stdout: String,
}

impl Measured {
    pub fn rss_mb(&self) -> f64 {
        self.max_rss_kb as f64 / 1024.0
    }
}

/// Runs `script` under `sh -c` inside `/usr/bin/time`; panics if it fails.
/// [`measure`] with progress lines naming the variant before and after.
pub fn measure_labeled(label: &str, script: &str) -> Measured {
    progress(format!("{label}: running"));
    let m = measure(script);
    progress(format!(
        "{label}: {:.2} s, {:.0} MB peak",
        m.seconds,
        m.rss_mb()
    ));
    m
}

/// Bytes of every Parquet file under `dir` (a snapshot location).
pub fn parquet_bytes(dir: &Path) -> u64 {
    let mut total = 0;
    let mut stack = vec![dir.to_path_buf()];
    while let Some(path) = stack.pop() {
        for entry in std::fs::read_dir(&path).into_iter().flatten().flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|e| e == "parquet") {
                total += entry.metadata().map(|m| m.len()).unwrap_or(0);
            }
        }
    }
    total
}

pub fn measure(script: &str) -> Measured {
    let scratch = tempfile::Builder::new()
        .prefix("kq-bench-time-")
        .tempdir()
        .expect("temp dir");
    let times = scratch.path().join("time.txt");
    let output = Command::new("/usr/bin/time")
        .arg("-f")
        .arg("%e %M")
        .arg("-o")
        .arg(&times)
        .arg("sh")
        .arg("-c")
        .arg(script)
        .stdin(Stdio::null())
        .output()
        .expect("/usr/bin/time is needed (Debian package `time`)");
    assert!(
        output.status.success(),
        "{script} failed ({}): {}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    let text = std::fs::read_to_string(&times).expect("time output");
    // The last line: earlier ones are warnings such as "Command exited with non-zero status".
    let last = text.lines().last().unwrap_or_default();
    let mut fields = last.split_whitespace();
    let seconds = fields.next().and_then(|f| f.parse().ok()).expect("seconds");
    let max_rss_kb = fields.next().and_then(|f| f.parse().ok()).expect("max rss");
    Measured {
        seconds,
        max_rss_kb,
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
    }
}

/// The kq binary under test, kept alive for the whole bench.
pub struct KqBinary {
    path: PathBuf,
    _private: Option<tempfile::TempDir>,
}

impl KqBinary {
    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// The kq binary under test: `KQ_BIN`, else this workspace's `kq`, built
/// in the bench's own profile.
///
/// Right after the build, the binary is hard-linked (or copied) into a
/// private directory: a target directory shared with another checkout
/// gets its `target/<profile>/kq` replaced by that checkout's builds, and
/// the bench must keep running the binary it built.
pub fn kq_binary() -> KqBinary {
    kq_binary_with_features(&[])
}

/// [`kq_binary`] built with kq-cli's `features` (`serve`, `ballista`…).
pub fn kq_binary_with_features(features: &[&str]) -> KqBinary {
    if let Some(path) = std::env::var_os("KQ_BIN") {
        return KqBinary {
            path: PathBuf::from(path),
            _private: None,
        };
    }
    let profile_dir = std::env::current_exe()
        .ok()
        .and_then(|exe| exe.parent().and_then(Path::parent).map(Path::to_path_buf))
        .expect("bench binary lives in target/<profile>/deps");
    let profile = match profile_dir.file_name().and_then(|n| n.to_str()) {
        Some("debug") | None => "dev".to_string(),
        Some(other) => other.to_string(),
    };
    progress(format!("building kq (profile {profile})"));
    let mut build = Command::new(env!("CARGO"));
    build
        .args(["build", "-p", "kq-cli", "--bin", "kq", "--profile"])
        .arg(&profile)
        .arg("--message-format=json-render-diagnostics");
    if !features.is_empty() {
        build.arg("--features").arg(features.join(","));
    }
    let output = build
        .stderr(Stdio::inherit())
        .output()
        .expect("cargo build");
    assert!(output.status.success(), "building kq failed");
    let built = String::from_utf8_lossy(&output.stdout)
        .lines()
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
        .filter(|m| m["reason"] == "compiler-artifact" && m["target"]["name"] == "kq")
        .find_map(|m| m["executable"].as_str().map(PathBuf::from))
        .unwrap_or_else(|| profile_dir.join("kq"));
    // Same file system as the build, so the hard link is instant.
    let private = tempfile::Builder::new()
        .prefix("kq-bench-bin-")
        .tempdir_in(&profile_dir)
        .expect("temp dir for the kq binary");
    let path = private.path().join("kq");
    if std::fs::hard_link(&built, &path).is_err() {
        std::fs::copy(&built, &path).expect("copy the kq binary");
    }
    progress(format!("kq under test: {}", built.display()));
    KqBinary {
        path,
        _private: Some(private),
    }
}

/// A running simulated fleet, its runtime, and its admin kubeconfig on disk.
///
/// The runtime's worker threads serve the fleet while the bench's main
/// thread runs kq and kubectl as child processes.
pub struct BenchFleet {
    runtime: tokio::runtime::Runtime,
    fleet: Option<kq_sim::Fleet>,
    scratch: tempfile::TempDir,
    kubeconfig: PathBuf,
}

impl BenchFleet {
    /// Starts `clusters` uniform clusters (`cluster-0`, …) of `pods` pods each, seed 42.
    ///
    /// `KQ_BENCH_LATENCY_MS` (default 0) adds that much latency to every API
    /// request, for figures closer to a remote API server than a loopback one.
    pub fn start(clusters: usize, pods: usize) -> Self {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
            .expect("runtime");
        let latency_ms = env_size("KQ_BENCH_LATENCY_MS", 0) as u64;
        progress(format!(
            "starting the sim: {clusters} cluster(s) x {pods} pods, {latency_ms} ms added latency (generate, serialize, index)"
        ));
        let started = Instant::now();
        let mut config = kq_sim::FleetConfig::uniform(clusters, pods, 42);
        config.faults.latency_ms = latency_ms;
        let fleet = runtime
            .block_on(kq_sim::start(config))
            .expect("fleet starts");
        progress(format!(
            "sim ready in {:.1} s ({:.0} pods/s)",
            started.elapsed().as_secs_f64(),
            (clusters * pods) as f64 / started.elapsed().as_secs_f64().max(1e-9)
        ));
        let scratch = tempfile::Builder::new()
            .prefix("kq-bench-")
            .tempdir()
            .expect("temp dir");
        let kubeconfig = scratch.path().join("kubeconfig");
        fleet.write_kubeconfig(&kubeconfig).expect("kubeconfig");
        BenchFleet {
            runtime,
            fleet: Some(fleet),
            scratch,
            kubeconfig,
        }
    }

    pub fn fleet(&self) -> &kq_sim::Fleet {
        self.fleet.as_ref().expect("fleet is running")
    }

    /// Context names, in the kubeconfig's order (the first is current).
    pub fn contexts(&self) -> Vec<String> {
        self.fleet()
            .clusters()
            .iter()
            .map(|c| c.name().to_string())
            .collect()
    }

    pub fn kubeconfig(&self) -> &Path {
        &self.kubeconfig
    }

    /// A directory that lives as long as the fleet.
    pub fn dir(&self) -> &Path {
        self.scratch.path()
    }

    /// Runs a future on the fleet's runtime.
    pub fn block_on<F: std::future::Future>(&self, future: F) -> F::Output {
        self.runtime.block_on(future)
    }

    /// `kq --kubeconfig K <args>`, ready for `sh -c` (args are not quoted).
    pub fn kq_command(&self, kq: &KqBinary, args: &str) -> String {
        format!(
            "{} --kubeconfig {} {args}",
            sh_quote(&kq.path().display().to_string()),
            sh_quote(&self.kubeconfig.display().to_string()),
        )
    }

    /// `kubectl --kubeconfig K --cache-dir C <args>` with a discovery cache
    /// private to this fleet, ready for `sh -c` (args are not quoted).
    pub fn kubectl_command(&self, args: &str) -> String {
        format!(
            "kubectl --kubeconfig {} --cache-dir {} {args}",
            sh_quote(&self.kubeconfig.display().to_string()),
            sh_quote(&self.dir().join("kubectl-cache").display().to_string()),
        )
    }

    /// Fills kubectl's discovery cache for every context, as a user's
    /// day-to-day cache would be, so timed runs measure the list itself.
    pub fn warm_kubectl(&self) {
        progress("warming kubectl's discovery cache");
        for context in self.contexts() {
            let script = self.kubectl_command(&format!(
                "--context {} get namespaces -o name >/dev/null",
                sh_quote(&context)
            ));
            measure(&script);
        }
    }

    /// Writes `manifests` (YAML documents) to `name` in [`BenchFleet::dir`]
    /// and creates them in the first cluster with `kubectl apply`.
    pub fn apply(&self, name: &str, manifests: &str) {
        let file = self.dir().join(name);
        std::fs::write(&file, manifests).expect("write manifests");
        measure(&self.kubectl_command(&format!(
            "apply -f {} >/dev/null",
            sh_quote(&file.display().to_string())
        )));
    }

    /// Sums (bytes sent, requests served) over every cluster since the last reset.
    pub fn traffic(&self) -> Traffic {
        let mut total = Traffic::default();
        for cluster in self.fleet().clusters() {
            let counters = cluster.counters();
            total.bytes_sent += counters.bytes_sent;
            total.requests += counters.by_verb.values().sum::<u64>();
            total.lists += counters.by_verb.get("list").copied().unwrap_or(0);
        }
        total
    }

    pub fn reset_traffic(&self) {
        for cluster in self.fleet().clusters() {
            cluster.reset_counters();
        }
    }

    /// Stops the fleet and removes the scratch directory.
    pub fn shutdown(mut self) {
        progress("stopping the sim");
        if let Some(fleet) = self.fleet.take() {
            self.runtime.block_on(fleet.shutdown());
        }
    }
}

/// What the sim served, summed over clusters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Traffic {
    pub bytes_sent: u64,
    /// Every request (discovery included).
    pub requests: u64,
    /// `list` requests only (each page counts once).
    pub lists: u64,
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
