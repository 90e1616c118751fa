//! The real `gcloud` against the sim's GCP fake, for the GCP provider
//! tests; kq runs with the same environment (`GcpFake::gcloud_env`), as it
//! reads gcloud's endpoint overrides and access-token file.

use std::path::Path;

use kq_sim::gcp::GcpFake;
use serde_json::Value;

/// `gcloud ARGS --format json` against `fake`; the test fails, naming the
/// command, when gcloud is missing or fails.
pub async fn gcloud_json(fake: &GcpFake, args: &[&str]) -> Value {
    assert!(
        Path::new("/usr/bin/gcloud").exists(),
        "gcloud is not installed at /usr/bin/gcloud; the GCP tests compare kq with the real Google Cloud SDK (package google-cloud-cli)"
    );
    let dir = tempfile::tempdir().expect("temporary gcloud config dir");
    let mut command = fake.gcloud_command(&dir.path().join("config"));
    command.args(args).args(["--format", "json"]);
    let argv = args.join(" ");
    let output = tokio::task::spawn_blocking(move || command.output())
        .await
        .expect("gcloud task")
        .expect("run gcloud");
    assert!(
        output.status.success(),
        "gcloud {argv} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout)
        .unwrap_or_else(|e| panic!("gcloud {argv} printed no JSON ({e})"))
}
