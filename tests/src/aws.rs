//! A local AWS for the AWS provider tests: moto's server, seeded by
//! `tests/aws/moto_fleet.py`, on an ephemeral port, with AWS config and
//! credentials files whose profiles point at it.

use std::io::{BufRead as _, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};

use serde_json::Value;

/// A running, seeded moto server. Dropping it closes the script's stdin,
/// which shuts the server down (so does the test process ending).
pub struct MotoFleet {
    child: Child,
    stdin: Option<ChildStdin>,
    pub dir: tempfile::TempDir,
    /// Everything the script seeded: ids, ARNs, DNS names (see the script).
    pub info: Value,
}

impl MotoFleet {
    /// Starts and seeds the fleet; fails (never skips) without python3 or moto.
    pub fn start() -> MotoFleet {
        Self::start_with(&[])
    }

    /// Like [`start`](Self::start), with extra flags for the script
    /// (`--no-auth`: moto does not check signatures or IAM).
    pub fn start_with(flags: &[&str]) -> MotoFleet {
        let python = crate::required_on_path(
            "python3",
            "the AWS provider tests (moto server)",
            ".ci/setup installs moto[server] with pip",
        );
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("aws/moto_fleet.py");
        let dir = tempfile::tempdir().expect("temp dir for AWS config");
        let mut child = Command::new(python)
            .arg(&script)
            .arg("--dir")
            .arg(dir.path())
            .args(flags)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start tests/aws/moto_fleet.py");
        let stdout = child.stdout.take().expect("moto stdout");
        let mut line = String::new();
        BufReader::new(stdout)
            .read_line(&mut line)
            .expect("read the moto fleet's seed line");
        assert!(
            !line.trim().is_empty(),
            "tests/aws/moto_fleet.py printed nothing (is moto[server] installed? CI={}; .ci/setup installs it)",
            std::env::var("CI").unwrap_or_default()
        );
        let info: Value = serde_json::from_str(&line).expect("moto fleet JSON line");
        let stdin = child.stdin.take();
        MotoFleet {
            child,
            stdin,
            dir,
            info,
        }
    }

    pub fn config_file(&self) -> PathBuf {
        self.dir.path().join("config")
    }

    pub fn credentials_file(&self) -> PathBuf {
        self.dir.path().join("credentials")
    }

    /// Environment for kq: the fleet's AWS files, and no instance
    /// metadata lookups (nothing answers them here).
    pub fn env(&self) -> Vec<(String, String)> {
        vec![
            (
                "AWS_CONFIG_FILE".into(),
                self.config_file().display().to_string(),
            ),
            (
                "AWS_SHARED_CREDENTIALS_FILE".into(),
                self.credentials_file().display().to_string(),
            ),
            ("AWS_EC2_METADATA_DISABLED".into(), "true".into()),
        ]
    }

    /// `info[key]` as an array.
    pub fn list(&self, key: &str) -> &Vec<Value> {
        self.info[key]
            .as_array()
            .unwrap_or_else(|| panic!("moto fleet info has no list '{key}'"))
    }
}

impl Drop for MotoFleet {
    fn drop(&mut self) {
        drop(self.stdin.take());
        let _ = self.child.wait();
    }
}
