//! The real upstream kube-apiserver (with embedded etcd) for tests that
//! must hold kq to a real server's behaviour, not the simulator's.
//!
//! The server is `kq-apiserver`, a Go harness in `tests/kube-apiserver/`,
//! built to `target/kq-apiserver` by `.ci/setup` (or here, on first use,
//! when missing or older than its sources). Each [`RealServer`] is one
//! harness process with its own etcd, certificates and random tokens.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant, SystemTime};

/// How long a harness may take to start and load its fixtures (10 000 pods
/// load in well under a minute; a slow CI machine gets ample room).
const START_DEADLINE: Duration = Duration::from_secs(300);

fn harness_source_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("kube-apiserver")
}

pub(crate) fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../target"))
}

/// The newest modification time of the harness's sources.
fn newest_source(dir: &Path) -> SystemTime {
    let mut newest = SystemTime::UNIX_EPOCH;
    let entries = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("read the harness sources in {}: {e}", dir.display()));
    for entry in entries.flatten() {
        let path = entry.path();
        let Ok(meta) = entry.metadata() else { continue };
        let modified = if meta.is_dir() {
            newest_source(&path)
        } else {
            meta.modified().unwrap_or(SystemTime::UNIX_EPOCH)
        };
        newest = newest.max(modified);
    }
    newest
}

/// Path of the `kq-apiserver` harness, built once per test process when it
/// is missing or older than any file in `tests/kube-apiserver/`. Fails
/// (never skips) without Go.
pub fn harness_binary() -> PathBuf {
    static BINARY: OnceLock<PathBuf> = OnceLock::new();
    BINARY
        .get_or_init(|| {
            go_harness(
                "kq-apiserver",
                &harness_source_dir(),
                "the real kube-apiserver tests (tests/kube-apiserver)",
            )
        })
        .clone()
}

/// `target/NAME`, built from the Go module in `source` with `go build` when
/// it is missing or older than any of the module's files (`.ci/setup`
/// builds it ahead). Fails (never skips) without Go.
pub(crate) fn go_harness(name: &str, source: &Path, needed_by: &str) -> PathBuf {
    let binary = target_dir().join(name);
    let fresh = std::fs::metadata(&binary)
        .and_then(|m| m.modified())
        .is_ok_and(|built| built >= newest_source(source));
    if fresh {
        return binary;
    }
    let go = crate::required_on_path(
        "go",
        needed_by,
        &format!(".ci/setup builds target/{name} with it; install Go and run .ci/setup"),
    );
    let dir = binary.parent().expect("target dir").to_path_buf();
    std::fs::create_dir_all(&dir).expect("create the target dir");
    // Test binaries build concurrently: each writes its own temp file and
    // renames it into place.
    let temp = dir.join(format!(".{name}.tmp-{}", std::process::id()));
    let output = Command::new(go)
        .args(["build", "-o"])
        .arg(&temp)
        .arg(".")
        .current_dir(source)
        .output()
        .unwrap_or_else(|e| panic!("run go build for {name}: {e}"));
    if !output.status.success() {
        let _ = std::fs::remove_file(&temp);
        panic!(
            "go build of {name} in {} failed:\n{}{}",
            source.display(),
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
    }
    std::fs::rename(&temp, &binary)
        .unwrap_or_else(|e| panic!("move the built {name} into place: {e}"));
    binary
}

/// What a [`RealServer`] starts with.
#[derive(Debug, Clone, Default)]
pub struct RealServerOptions {
    /// Fixture files (YAML or JSON, Lists allowed), loaded before start
    /// returns.
    pub fixtures: Vec<PathBuf>,
    /// Turn on the JSON audit log (Metadata level, every request).
    pub audit_log: bool,
    /// Extra kube-apiserver flags, `--flag=value`, applied last.
    pub apiserver_args: Vec<String>,
}

/// A running real kube-apiserver. Its kubeconfig has the contexts
/// `real-admin` (current; token, system:masters), `real-limited` (token of
/// user kq-limited, who may only read namespace team-a; context namespace
/// team-a) and `real-admin-cert` (client certificate, system:masters).
///
/// Dropping it stops the harness, which removes what it created.
pub struct RealServer {
    pub kubeconfig: PathBuf,
    /// host:port of the harness's plain-HTTP admin endpoint.
    pub admin_addr: String,
    /// The JSON-lines audit log, when asked for.
    pub audit_log: Option<PathBuf>,
    dir: tempfile::TempDir,
    child: Child,
}

impl RealServer {
    /// Starts the harness and waits until it has written its kubeconfig
    /// (the server is ready and the fixtures are loaded). Fails the test
    /// with the harness's error if it exits first or takes over 5 minutes.
    ///
    /// The harness dies with the thread that started it (PR_SET_PDEATHSIG),
    /// so it is spawned here, on the test's own thread, never on a
    /// short-lived blocking thread.
    pub async fn start(options: RealServerOptions) -> RealServer {
        let binary = tokio::task::spawn_blocking(harness_binary)
            .await
            .expect("join the harness build");
        let dir = tempfile::tempdir().expect("create a temp dir for the harness");
        let kubeconfig = dir.path().join("kubeconfig");
        let admin_file = dir.path().join("admin-addr");
        let audit_log = options.audit_log.then(|| dir.path().join("audit.log"));
        let mut command = Command::new(&binary);
        command
            .arg("--kubeconfig")
            .arg(&kubeconfig)
            .arg("--data-dir")
            .arg(dir.path().join("data"))
            .arg("--admin-addr-file")
            .arg(&admin_file);
        for fixture in &options.fixtures {
            command.arg("--fixtures").arg(fixture);
        }
        if let Some(audit) = &audit_log {
            command.arg("--audit-log").arg(audit);
        }
        for arg in &options.apiserver_args {
            command.arg(format!("--apiserver-arg={arg}"));
        }
        let stdout = std::fs::File::create(dir.path().join("stdout")).expect("harness stdout file");
        let stderr = std::fs::File::create(dir.path().join("stderr")).expect("harness stderr file");
        let mut child = command
            .stdin(Stdio::null())
            .stdout(stdout)
            .stderr(stderr)
            .spawn()
            .unwrap_or_else(|e| panic!("start {}: {e}", binary.display()));

        let started = Instant::now();
        loop {
            if kubeconfig.exists() {
                break;
            }
            if let Some(status) = child.try_wait().expect("poll the harness") {
                panic!(
                    "kq-apiserver exited ({status}) before writing its kubeconfig:\n{}",
                    harness_output(dir.path())
                );
            }
            if started.elapsed() > START_DEADLINE {
                let _ = child.kill();
                let _ = child.wait();
                panic!(
                    "kq-apiserver wrote no kubeconfig within {START_DEADLINE:?}:\n{}",
                    harness_output(dir.path())
                );
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let admin_addr = std::fs::read_to_string(&admin_file)
            .expect("read the harness's admin address")
            .trim()
            .to_string();
        RealServer {
            kubeconfig,
            admin_addr,
            audit_log,
            dir,
            child,
        }
    }

    /// Sends one request to the admin endpoint; returns the body.
    fn admin(&self, method: &str, path: &str) -> String {
        let mut stream = TcpStream::connect(&self.admin_addr).unwrap_or_else(|e| {
            panic!(
                "connect to the harness admin endpoint {}: {e}",
                self.admin_addr
            )
        });
        stream
            .set_read_timeout(Some(Duration::from_secs(120)))
            .expect("admin read timeout");
        write!(
            stream,
            "{method} {path} HTTP/1.1\r\nHost: {}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
            self.admin_addr
        )
        .expect("send the admin request");
        let mut response = String::new();
        stream
            .read_to_string(&mut response)
            .expect("read the admin response");
        let (head, body) = response
            .split_once("\r\n\r\n")
            .unwrap_or_else(|| panic!("malformed admin response: {response:?}"));
        assert!(
            head.starts_with("HTTP/1.1 200"),
            "admin {method} {path} failed: {response}"
        );
        body.to_string()
    }

    /// Compacts etcd past every resourceVersion seen so far (it writes a
    /// marker key twice outside /registry, then compacts to that revision,
    /// physically, before this returns) and returns the compacted revision.
    ///
    /// What answers 410 Gone then depends on the watch cache. With
    /// `--watch-cache=false` (in `apiserver_args`) every request goes to
    /// etcd: a continue token from before is 410 at once, and a watch from
    /// an older resourceVersion is a 200 whose only event is an ERROR
    /// Status with code 410. With the watch cache on (the default), a
    /// watch from an older resourceVersion is still served from the
    /// cache's history (200, the events since), and a continue token keeps
    /// working until the cache drops its snapshots, within about 15 s.
    pub fn compact(&self) -> u64 {
        let body = self.admin("POST", "/compact");
        body.trim()
            .parse()
            .unwrap_or_else(|e| panic!("compact answered {body:?}: {e}"))
    }

    /// etcd's current revision.
    pub fn revision(&self) -> u64 {
        let body = self.admin("GET", "/revision");
        body.trim()
            .parse()
            .unwrap_or_else(|e| panic!("revision answered {body:?}: {e}"))
    }

    /// Every audit event so far (the audit log is written before each
    /// response returns). Includes the harness's own set-up requests, made
    /// by user kq-admin with user agent `kq-apiserver-harness`.
    pub fn audit_entries(&self) -> Vec<serde_json::Value> {
        let path = self
            .audit_log
            .as_ref()
            .expect("audit_entries needs RealServerOptions { audit_log: true }");
        let text = std::fs::read_to_string(path)
            .unwrap_or_else(|e| panic!("read the audit log {}: {e}", path.display()));
        text.lines()
            .filter(|line| !line.trim().is_empty())
            .map(|line| {
                serde_json::from_str(line)
                    .unwrap_or_else(|e| panic!("audit log line is not JSON ({e}): {line}"))
            })
            .collect()
    }

    /// A copy of the kubeconfig whose current-context is `context`.
    pub fn context_kubeconfig(&self, context: &str) -> PathBuf {
        let text = std::fs::read_to_string(&self.kubeconfig).expect("read the kubeconfig");
        let mut config: serde_yaml::Value =
            serde_yaml::from_str(&text).expect("parse the kubeconfig");
        config["current-context"] = serde_yaml::Value::String(context.to_string());
        let path = self.dir.path().join(format!("kubeconfig-{context}"));
        std::fs::write(
            &path,
            serde_yaml::to_string(&config).expect("serialize the kubeconfig"),
        )
        .expect("write the kubeconfig copy");
        path
    }

    /// The harness's log (klog, etcd): for diagnosing a failed test.
    pub fn log_file(&self) -> PathBuf {
        self.dir.path().join("data").join("kq-apiserver.log")
    }
}

/// The harness's stderr and the tail of its log, for a failure message.
fn harness_output(dir: &Path) -> String {
    let stderr = std::fs::read_to_string(dir.join("stderr")).unwrap_or_default();
    let log =
        std::fs::read_to_string(dir.join("data").join("kq-apiserver.log")).unwrap_or_default();
    let lines: Vec<&str> = log.lines().collect();
    let tail = lines[lines.len().saturating_sub(40)..].join("\n");
    format!("stderr:\n{stderr}\nlast lines of its log:\n{tail}")
}

impl Drop for RealServer {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            match self.child.try_wait() {
                Ok(Some(_)) | Err(_) => return,
                Ok(None) if Instant::now() > deadline => {
                    let _ = self.child.kill();
                    let _ = self.child.wait();
                    return;
                }
                Ok(None) => std::thread::sleep(Duration::from_millis(20)),
            }
        }
    }
}
