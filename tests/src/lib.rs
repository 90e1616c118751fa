//! Shared helpers for kq's integration tests: a simulated fleet with a
//! kubeconfig on disk, and the real `kq` and `kubectl` binaries run against it.
//!
//! Tests here drive kq exactly as a user would: a separate process, a
//! kubeconfig file, TLS and bearer tokens to the sim.

pub mod apiserver;
pub mod aws;
pub mod azure;
pub mod browser;
pub mod emulators;
pub mod faulty;
pub mod gcp;
pub mod proxy;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output};
use std::sync::OnceLock;

pub use kq_sim::{ClusterHandle, Faults, Fleet, FleetConfig, SimUser};

/// A running fleet and the kubeconfig files that reach it.
pub struct TestFleet {
    pub fleet: Fleet,
    pub dir: tempfile::TempDir,
    /// Admin kubeconfig, one context per cluster.
    pub kubeconfig: PathBuf,
}

impl TestFleet {
    pub async fn start(config: FleetConfig) -> TestFleet {
        let fleet = kq_sim::start(config)
            .await
            .expect("start the simulated fleet");
        let dir = tempfile::tempdir().expect("create a temp dir");
        let kubeconfig = dir.path().join("kubeconfig");
        fleet
            .write_kubeconfig(&kubeconfig)
            .expect("write the kubeconfig");
        TestFleet {
            fleet,
            dir,
            kubeconfig,
        }
    }

    /// A kubeconfig whose contexts use a limited user's token.
    pub fn kubeconfig_for(&self, user: SimUser) -> PathBuf {
        let path = self.dir.path().join(format!("kubeconfig-{user:?}"));
        std::fs::write(&path, self.fleet.kubeconfig_yaml_for(user)).expect("write kubeconfig");
        path
    }

    pub fn cluster(&self, name: &str) -> &ClusterHandle {
        self.fleet
            .cluster(name)
            .unwrap_or_else(|| panic!("no cluster {name} in the fleet"))
    }

    /// Runs kq with this fleet's admin kubeconfig.
    pub async fn kq(&self, args: &[&str]) -> Output {
        run_kq(&self.kubeconfig, args).await
    }
}

/// Path of the `kq` binary, built on first use when a package-filtered
/// test run did not build it.
pub fn kq_binary() -> &'static Path {
    static BINARY: OnceLock<PathBuf> = OnceLock::new();
    BINARY.get_or_init(|| {
        let target = std::env::var_os("CARGO_TARGET_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../target"));
        let binary = target.join("debug").join("kq");
        // With the `aws` feature the tests need (and `cargo test
        // --all-features` built) a kq with AWS support; building it without
        // would replace that binary.
        build_cli_binary("kq");
        assert!(
            binary.exists(),
            "kq binary not found at {}",
            binary.display()
        );
        binary
    })
}

/// Builds one of kq-cli's binaries with the features this test run has,
/// so it does not replace the binary `cargo test --all-features` built.
fn build_cli_binary(name: &str) {
    let mut features = Vec::new();
    if cfg!(feature = "aws") {
        features.push("kq-cli/aws");
    }
    if cfg!(feature = "ballista") {
        features.push("kq-cli/ballista");
    }
    if cfg!(feature = "gcp") {
        features.push("kq-cli/gcp");
    }
    if cfg!(feature = "azure") {
        features.push("kq-cli/azure");
    }
    if cfg!(feature = "gcs") {
        features.push("kq-cli/gcs");
    }
    if cfg!(feature = "azure-blob") {
        features.push("kq-cli/azure-blob");
    }
    if cfg!(feature = "serve") {
        features.push("kq-cli/serve");
    }
    let joined = features.join(",");
    let mut build = vec!["build", "--quiet", "-p", "kq-cli", "--bin", name];
    if !features.is_empty() {
        build.extend(["--features", joined.as_str()]);
    }
    let status = Command::new(env!("CARGO"))
        .args(&build)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .status()
        .expect("run cargo build for a kq binary");
    assert!(status.success(), "building the {name} binary failed");
}

/// Path of the `kq-ballista` scheduler/executor binary (feature `ballista`).
#[cfg(feature = "ballista")]
pub fn kq_ballista_binary() -> &'static Path {
    static BINARY: OnceLock<PathBuf> = OnceLock::new();
    BINARY.get_or_init(|| {
        let binary = kq_binary().with_file_name("kq-ballista");
        build_cli_binary("kq-ballista");
        assert!(
            binary.exists(),
            "kq-ballista binary not found at {}",
            binary.display()
        );
        binary
    })
}

/// Runs kq with an explicit kubeconfig, off the async runtime's threads.
pub async fn run_kq(kubeconfig: &Path, args: &[&str]) -> Output {
    let mut full: Vec<String> = vec!["--kubeconfig".into(), kubeconfig.display().to_string()];
    full.extend(args.iter().map(|a| a.to_string()));
    run_kq_raw(full).await
}

/// Runs kq with exactly these arguments and a clean environment.
pub async fn run_kq_raw(args: Vec<String>) -> Output {
    run_kq_env(args, Vec::new()).await
}

/// Runs kq with these arguments and extra environment variables (on top
/// of a clean kubeconfig environment and a throw-away HOME).
pub async fn run_kq_env(args: Vec<String>, env: Vec<(String, String)>) -> Output {
    let binary = kq_binary().to_path_buf();
    tokio::task::spawn_blocking(move || {
        let home = tempfile::tempdir().expect("temp HOME");
        let mut command = Command::new(binary);
        // The machine's own gcloud/az settings and cloud credentials must not
        // reach a kq run against the cloud fakes (or make another test call a
        // real cloud).
        for (name, _) in std::env::vars_os() {
            let name = name.to_string_lossy();
            if name.starts_with("CLOUDSDK_")
                || name.starts_with("GOOGLE_")
                || name.starts_with("GCE_")
            {
                command.env_remove(name.as_ref());
            }
        }
        let output = command
            .args(&args)
            .env_remove("KUBECONFIG")
            .env_remove("KQ_KUBECONFIG")
            .env_remove("AWS_PROFILE")
            .env_remove("AWS_REGION")
            .env_remove("AWS_DEFAULT_REGION")
            .env_remove("AWS_ACCESS_KEY_ID")
            .env_remove("AWS_SECRET_ACCESS_KEY")
            .env_remove("AWS_SESSION_TOKEN")
            .env_remove("AWS_ENDPOINT_URL")
            .env_remove("AWS_CONFIG_FILE")
            .env_remove("AWS_SHARED_CREDENTIALS_FILE")
            .env_remove("AWS_WEB_IDENTITY_TOKEN_FILE")
            .env_remove("AWS_ROLE_ARN")
            .env_remove("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI")
            .env_remove("AWS_CONTAINER_CREDENTIALS_FULL_URI")
            .env("HOME", home.path())
            .env("RUST_BACKTRACE", "1")
            .envs(env)
            .output()
            .expect("run kq");
        drop(home);
        output
    })
    .await
    .expect("join kq")
}

/// Path of kubectl. Tests that use it fail (never skip) when it is missing.
pub fn kubectl_binary() -> PathBuf {
    required_on_path("kubectl", "this test", "install kubectl")
}

/// Path of Debian's Chromium (the HTML report test). Fails, never skips, when missing.
pub fn chromium_binary() -> PathBuf {
    required_on_path(
        "chromium",
        "the HTML report test",
        ".ci/setup installs it (Debian package chromium)",
    )
}

/// A program the tests need, found on PATH; a missing one fails the test
/// loudly (saying whether this is CI), never skips it.
pub fn required_on_path(program: &str, needed_by: &str, remedy: &str) -> PathBuf {
    let found = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|p| p.join(program))
            .find(|p| p.is_file())
    });
    match found {
        Some(path) => path,
        None => panic!(
            "{program} is required by {needed_by} and was not found on PATH (CI={}); {remedy}",
            std::env::var("CI").unwrap_or_default()
        ),
    }
}

/// Runs kubectl against a kubeconfig with a throw-away cache directory.
pub async fn kubectl(kubeconfig: &Path, args: &[&str]) -> Output {
    let binary = kubectl_binary();
    let cache = tempfile::tempdir().expect("kubectl cache dir");
    let mut full: Vec<String> = vec![
        "--kubeconfig".into(),
        kubeconfig.display().to_string(),
        "--cache-dir".into(),
        cache.path().display().to_string(),
    ];
    full.extend(args.iter().map(|a| a.to_string()));
    tokio::task::spawn_blocking(move || {
        let output = Command::new(binary)
            .args(&full)
            .output()
            .expect("run kubectl");
        drop(cache);
        output
    })
    .await
    .expect("join kubectl")
}

/// Runs kubectl and fails the test, with its output, unless it succeeds.
pub async fn kubectl_ok(kubeconfig: &Path, args: &[&str]) {
    let output = kubectl(kubeconfig, args).await;
    assert!(
        output.status.success(),
        "kubectl {args:?} failed:\n{}{}",
        stdout(&output),
        stderr(&output)
    );
}

/// Writes a one-container pod manifest (`kubectl apply -f` input) with a
/// `tier` label, named `<name>-<tier>.yaml` in `dir`.
pub fn pod_manifest(dir: &Path, namespace: &str, name: &str, tier: &str) -> PathBuf {
    let path = dir.join(format!("{name}-{tier}.yaml"));
    std::fs::write(
        &path,
        format!(
            "apiVersion: v1\nkind: Pod\nmetadata:\n  name: {name}\n  namespace: {namespace}\n  labels:\n    tier: {tier}\nspec:\n  containers:\n  - name: app\n    image: nginx:1.27\n"
        ),
    )
    .expect("write manifest");
    path
}

pub fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

pub fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// Parses `-o ndjson` output into rows.
pub fn ndjson_rows(output: &Output) -> Vec<serde_json::Value> {
    stdout(output)
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("bad ndjson line {l:?}: {e}")))
        .collect()
}

/// The JSON of the newest run `kq report --out OUT` wrote.
pub fn latest_report_json(out: &Path) -> serde_json::Value {
    let text = std::fs::read_to_string(out.join("latest/report.json")).expect("latest report.json");
    serde_json::from_str(&text).expect("report.json is JSON")
}

/// `(control id, cluster/name, status)` of every finding of a JSON report.
pub fn report_verdicts(report: &serde_json::Value) -> BTreeSet<(String, String, String)> {
    let mut verdicts = BTreeSet::new();
    for control in report["controls"].as_array().expect("controls") {
        let id = str_at(control, "/control/id");
        for finding in control["findings"].as_array().into_iter().flatten() {
            verdicts.insert((
                id.to_string(),
                format!(
                    "{}/{}",
                    str_at(finding, "/cluster"),
                    str_at(finding, "/name")
                ),
                str_at(finding, "/status").to_string(),
            ));
        }
    }
    verdicts
}

/// Asserts kq succeeded and returns its stdout.
#[track_caller]
pub fn ok(output: &Output) -> String {
    assert!(
        output.status.success(),
        "kq failed with {:?}\nstdout:\n{}\nstderr:\n{}",
        output.status.code(),
        stdout(output),
        stderr(output)
    );
    stdout(output)
}

/// The string at a JSON pointer of a sim object, or "" when absent.
pub fn str_at<'a>(value: &'a serde_json::Value, pointer: &str) -> &'a str {
    value
        .pointer(pointer)
        .and_then(serde_json::Value::as_str)
        .unwrap_or_default()
}

/// A string column of an output row (the column must be a string).
#[track_caller]
pub fn text(row: &serde_json::Value, column: &str) -> String {
    match row[column].as_str() {
        Some(value) => value.to_string(),
        None => panic!("column {column} is not a string in {row}"),
    }
}

/// (cluster, uid) of every pod of these clusters, from the sim's store.
pub fn pod_uids<'a>(
    clusters: impl IntoIterator<Item = &'a ClusterHandle>,
) -> BTreeSet<(String, String)> {
    let mut out = BTreeSet::new();
    for cluster in clusters {
        for pod in cluster.objects("pods") {
            out.insert((
                cluster.name().to_string(),
                str_at(&pod, "/metadata/uid").to_string(),
            ));
        }
    }
    out
}

/// A long-running kq (`kq watch`) whose stdout is read line by line as it
/// is written, so a test can act after kq has printed what it waits for.
pub struct KqProcess {
    child: std::process::Child,
    lines: tokio::sync::mpsc::UnboundedReceiver<String>,
    stderr: std::sync::Arc<std::sync::Mutex<String>>,
    _home: tempfile::TempDir,
}

impl KqProcess {
    /// Starts kq with this kubeconfig and arguments.
    pub fn spawn(kubeconfig: &Path, args: &[&str]) -> KqProcess {
        use std::io::{BufRead, Read};
        let home = tempfile::tempdir().expect("temp HOME");
        let mut child = Command::new(kq_binary())
            .arg("--kubeconfig")
            .arg(kubeconfig)
            .args(args)
            .env_remove("KUBECONFIG")
            .env_remove("KQ_KUBECONFIG")
            .env("HOME", home.path())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("start kq");
        let stdout = child.stdout.take().expect("kq stdout");
        let mut stderr_pipe = child.stderr.take().expect("kq stderr");
        let (tx, lines) = tokio::sync::mpsc::unbounded_channel();
        std::thread::spawn(move || {
            for line in std::io::BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let stderr = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
        let sink = stderr.clone();
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n) = stderr_pipe.read(&mut buf) {
                if n == 0 {
                    break;
                }
                sink.lock()
                    .expect("stderr buffer")
                    .push_str(&String::from_utf8_lossy(&buf[..n]));
            }
        });
        KqProcess {
            child,
            lines,
            stderr,
            _home: home,
        }
    }

    /// The next stdout line. Fails the test when kq exits or stays silent
    /// for a minute (a hang, not a timing assumption).
    pub async fn next_line(&mut self) -> String {
        match tokio::time::timeout(std::time::Duration::from_secs(60), self.lines.recv()).await {
            Ok(Some(line)) => line,
            Ok(None) => panic!("kq ended its output early; stderr:\n{}", self.stderr()),
            Err(_) => panic!("kq printed nothing for 60 s; stderr:\n{}", self.stderr()),
        }
    }

    /// The next stdout line as JSON.
    pub async fn next_json(&mut self) -> serde_json::Value {
        let line = self.next_line().await;
        serde_json::from_str(&line).unwrap_or_else(|e| panic!("bad JSON line {line:?}: {e}"))
    }

    pub fn stderr(&self) -> String {
        self.stderr.lock().expect("stderr buffer").clone()
    }

    /// Waits until kq's stderr contains `needle`; fails the test after a
    /// minute (a hang, not a timing assumption).
    pub async fn wait_for_stderr(&self, needle: &str) -> String {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
        loop {
            let text = self.stderr();
            if text.contains(needle) {
                return text;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "kq never wrote {needle:?} to stderr; it wrote:\n{text}"
            );
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    }

    /// Sends SIGINT, as Ctrl-C in a terminal would.
    pub fn interrupt(&self) {
        let status = Command::new("kill")
            .args(["-INT", &self.child.id().to_string()])
            .status()
            .expect("run kill");
        assert!(status.success(), "kill -INT failed");
    }

    /// Waits for kq to exit by itself; returns its exit code and any stdout lines left.
    pub async fn wait(mut self) -> (Option<i32>, Vec<String>) {
        let mut rest = Vec::new();
        while let Ok(Some(line)) =
            tokio::time::timeout(std::time::Duration::from_secs(60), self.lines.recv()).await
        {
            rest.push(line);
        }
        let status = tokio::task::spawn_blocking(move || self.child.wait())
            .await
            .expect("join kq")
            .expect("wait for kq");
        (status.code(), rest)
    }
}

impl Drop for KqProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Path of tmux. Terminal tests fail (never skip) when it is missing.
pub fn tmux_binary() -> PathBuf {
    required_on_path("tmux", "the terminal tests", ".ci/setup installs it")
}

/// A program in a real pseudo-terminal (a private tmux server): keys are
/// typed with send-keys, the screen is read with capture-pane.
pub struct Tmux {
    socket: String,
    _dir: tempfile::TempDir,
}

impl Tmux {
    /// Starts `command` (a shell command line) in a 200x50 terminal.
    /// The shell execs it, so the program is the pane's only process: a
    /// Ctrl-C then reaches the program alone, not a shell that would die of
    /// it and take the pane along.
    pub fn start(command: &str) -> Tmux {
        let command = format!("exec {command}");
        static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let dir = tempfile::tempdir().expect("tmux dir");
        let socket = dir
            .path()
            .join(format!(
                "tmux-{}-{}",
                std::process::id(),
                NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
            ))
            .display()
            .to_string();
        let tmux = Tmux { socket, _dir: dir };
        tmux.run(&[
            "-f",
            "/dev/null",
            "new-session",
            "-d",
            "-s",
            "kq",
            "-x",
            "200",
            "-y",
            "50",
            &command,
        ]);
        tmux.run(&["set-option", "-t", "kq", "remain-on-exit", "on"]);
        tmux.run(&["set-option", "-t", "kq", "history-limit", "50000"]);
        tmux
    }

    fn run(&self, args: &[&str]) -> String {
        let output = Command::new(tmux_binary())
            .arg("-S")
            .arg(&self.socket)
            .args(args)
            .output()
            .expect("run tmux");
        assert!(
            output.status.success(),
            "tmux {args:?} failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8_lossy(&output.stdout).into_owned()
    }

    /// Sends keys by tmux name (`Enter`, `Tab`, `C-c`, `C-d`).
    pub fn keys(&self, keys: &[&str]) {
        let mut args = vec!["send-keys", "-t", "kq"];
        args.extend_from_slice(keys);
        self.run(&args);
    }

    /// Types text literally (a final `;` included) without pressing Enter.
    pub fn type_text(&self, text: &str) {
        // tmux reads an argument ending in ';' as a command separator.
        let (body, semicolon) = match text.strip_suffix(';') {
            Some(body) => (body, true),
            None => (text, false),
        };
        if !body.is_empty() {
            self.run(&["send-keys", "-t", "kq", "-l", body]);
        }
        if semicolon {
            self.run(&["send-keys", "-t", "kq", "\\;"]);
        }
    }

    /// Types a line and presses Enter.
    pub fn line(&self, text: &str) {
        self.type_text(text);
        self.keys(&["Enter"]);
    }

    /// Everything the terminal showed, scrollback included, lines joined.
    pub fn screen(&self) -> String {
        self.run(&["capture-pane", "-p", "-J", "-S", "-", "-t", "kq"])
    }

    /// The visible screen with its styling as escape sequences (bold is
    /// `ESC[1m`), to check what kq asked the terminal to draw.
    pub fn styled_screen(&self) -> String {
        self.run(&["capture-pane", "-p", "-e", "-t", "kq"])
    }

    /// Waits until `needle` appears on screen at least `count` times; fails
    /// the test after a minute (a hang, not a timing assumption).
    pub async fn wait_for_count(&self, needle: &str, count: usize) -> String {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
        loop {
            let screen = self.screen();
            if screen.matches(needle).count() >= count {
                return screen;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "waited a minute for {needle:?} x{count}; the screen:\n{screen}"
            );
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
    }

    pub async fn wait_for(&self, needle: &str) -> String {
        self.wait_for_count(needle, 1).await
    }

    /// Whether the program has exited.
    pub fn exited(&self) -> bool {
        self.run(&["list-panes", "-t", "kq", "-F", "#{pane_dead}"])
            .trim()
            == "1"
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = Command::new(tmux_binary())
            .arg("-S")
            .arg(&self.socket)
            .arg("kill-server")
            .output();
    }
}

/// A loopback port that was free when asked, for a server that must be
/// told its port before it starts (or for one that nothing listens on).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free loopback port")
        .port()
}

/// Child processes that are killed when the test ends, passed or not.
pub struct Processes(pub Vec<Child>);

impl Drop for Processes {
    fn drop(&mut self) {
        for child in &mut self.0 {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}
