//! The sim's Azure Resource Manager fake as the Azure provider tests use
//! it: `az` logged in to it (a registered custom cloud and a managed
//! identity), and kq reading az's own configuration directory, so both
//! reach the same fake through the same environment.

use std::path::Path;

use kq_sim::azure::AzureFake;
use serde_json::Value;

/// Logs az in to `fake` with config dir `dir`, and returns the
/// environment for kq: exactly az's, so kq finds the cloud where az does.
pub fn login(fake: &AzureFake, dir: &Path) -> Vec<(String, String)> {
    let env = fake.az_env(dir);
    // az runs as a child process; the fake keeps serving on other threads.
    let result = tokio::task::block_in_place(|| fake.az_login(dir));
    if let Err(e) = result {
        panic!(
            "az login to the fake failed (.ci/setup installs azure-cli into target/az-venv): {e}"
        );
    }
    env
}

/// `az ARGS -o json` against `fake` with the logged-in config dir `dir`;
/// the test fails, naming the command, when az fails.
pub async fn az_json(fake: &AzureFake, dir: &Path, args: &[&str]) -> Value {
    let mut command = fake.az_command(dir);
    command.args(args).args(["-o", "json"]);
    let argv = args.join(" ");
    let output = tokio::task::spawn_blocking(move || command.output())
        .await
        .expect("az task")
        .expect("run az");
    assert!(
        output.status.success(),
        "az {argv} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout)
        .unwrap_or_else(|e| panic!("az {argv} printed no JSON ({e})"))
}
