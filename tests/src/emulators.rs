//! Local stand-ins for Google Cloud Storage and Azure Blob Storage, for
//! the `gs://` and `az://` snapshot tests: fake-gcs-server (through the Go
//! harness in `tests/fake-gcs/`) and Microsoft's Azurite (npm, installed
//! into `target/azurite` by `.ci/setup`, started by `tests/azure/azurite.mjs`).
//! Both listen on ephemeral loopback ports and stop when dropped.

use std::io::{BufRead as _, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::OnceLock;

use serde_json::Value;

/// A running emulator: its child process, whose stdin keeps it alive, and
/// the URL it printed.
pub struct Emulator {
    child: Child,
    stdin: Option<ChildStdin>,
    pub url: String,
}

impl Emulator {
    /// Spawns `command`, which prints `{"url": …}` on its first line once
    /// its buckets exist and serves until its stdin closes.
    fn spawn(mut command: Command, what: &str) -> Emulator {
        let mut child = command
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap_or_else(|e| panic!("start {what}: {e}"));
        let stdout = child.stdout.take().expect("emulator stdout");
        let mut line = String::new();
        BufReader::new(stdout)
            .read_line(&mut line)
            .unwrap_or_else(|e| panic!("read {what}'s address: {e}"));
        let info: Value = serde_json::from_str(&line)
            .unwrap_or_else(|e| panic!("{what} printed no address ({e}): {line:?}"));
        let url = info["url"]
            .as_str()
            .unwrap_or_else(|| panic!("{what} printed no url: {line}"))
            .to_string();
        let stdin = child.stdin.take();
        Emulator { child, stdin, url }
    }

    /// fake-gcs-server with `buckets` created.
    pub fn gcs(buckets: &[&str]) -> Emulator {
        static BINARY: OnceLock<PathBuf> = OnceLock::new();
        let binary = BINARY.get_or_init(|| {
            crate::apiserver::go_harness(
                "kq-fake-gcs",
                &Path::new(env!("CARGO_MANIFEST_DIR")).join("fake-gcs"),
                "the gs:// snapshot tests (tests/fake-gcs)",
            )
        });
        let mut command = Command::new(binary);
        command.args(buckets);
        Self::spawn(command, "kq-fake-gcs (fake-gcs-server)")
    }

    /// Environment for kq against [`gcs`](Self::gcs): the emulator's base
    /// URL over plain HTTP, and a key that turns OAuth off, so neither
    /// gcloud's credentials on this machine nor a metadata server is asked.
    pub fn gcs_env(&self) -> Vec<(String, String)> {
        vec![
            ("GOOGLE_BASE_URL".into(), self.url.clone()),
            ("GOOGLE_ALLOW_HTTP".into(), "true".into()),
            (
                "GOOGLE_SERVICE_ACCOUNT_KEY".into(),
                r#"{"private_key":"","private_key_id":"","client_email":"kq-test@example.invalid","disable_oauth":true}"#.into(),
            ),
        ]
    }

    /// Azurite's blob service with `containers` created.
    pub fn azurite(containers: &[&str]) -> Emulator {
        let node = crate::required_on_path(
            "node",
            "the az:// snapshot tests (Azurite)",
            "install Node.js and run .ci/setup, which installs Azurite into target/azurite",
        );
        let azurite = crate::apiserver::target_dir().join("azurite/node_modules/.bin/azurite-blob");
        assert!(
            azurite.is_file(),
            "{} is missing (CI={}): the az:// snapshot tests need Azurite; .ci/setup installs it with npm",
            azurite.display(),
            std::env::var("CI").unwrap_or_default()
        );
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("azure/azurite.mjs");
        let mut command = Command::new(node);
        command.arg(script).arg(azurite).args(containers);
        Self::spawn(command, "Azurite (tests/azure/azurite.mjs)")
    }

    /// Environment for kq against [`azurite`](Self::azurite): emulator
    /// mode, whose well-known account and key object_store knows.
    pub fn azurite_env(&self) -> Vec<(String, String)> {
        vec![
            ("AZURE_STORAGE_USE_EMULATOR".into(), "true".into()),
            ("AZURITE_BLOB_STORAGE_URL".into(), self.url.clone()),
        ]
    }
}

impl Drop for Emulator {
    fn drop(&mut self) {
        // Closing stdin asks the emulator to stop; wait so no process
        // outlives the test.
        drop(self.stdin.take());
        if self.child.wait().is_err() {
            let _ = self.child.kill();
        }
    }
}
