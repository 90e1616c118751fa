//! A deterministic local fake of Azure Resource Manager (ARM): the
//! subscription, resource group, Compute, Network, AKS, Authorization and
//! Storage reads kq makes, over HTTPS on 127.0.0.1, plus an App-Service-style
//! managed-identity token endpoint over plain HTTP. The real `az` (set up by
//! [`AzureFake::az_login`]) and azure_core/azure_identity (with
//! `IDENTITY_ENDPOINT`/`IDENTITY_HEADER` and the CA in `SSL_CERT_FILE`)
//! accept it.
//!
//! Why HTTPS: azure-core's bearer-token policy (Python and Rust) refuses to
//! send a token to a non-https URL, so a plain-http ARM fake is unusable.
//! The identity endpoint may be http, and is, so clients need no CA for it.
//!
//! ```no_run
//! # async fn demo() -> Result<(), kq_sim::SimError> {
//! use kq_sim::azure::{AzureFake, AzureFleetConfig};
//! let fake = AzureFake::start(AzureFleetConfig::demo(7)).await?;
//! let dir = std::path::Path::new("/tmp/az-cfg");
//! fake.az_login(dir).expect("az login");
//! let out = fake.az_command(dir).args(["vm", "list", "-o", "json"]).output();
//! # drop(out); fake.shutdown().await; Ok(()) }
//! ```
//!
//! Behaviour worth knowing:
//! - Only `GET` is served; any other method is a 405 (and is recorded, so
//!   tests can prove nothing wrote).
//! - Every ARM request needs `api-version` (else 400
//!   MissingApiVersionParameter) and `Authorization: Bearer` the token the
//!   identity endpoint issues (else 401); the check comes first, so a
//!   request without a token is a 401 whatever else is wrong with it.
//! - Paths match case-insensitively, as ARM's do (az sends `resourcegroups`).
//! - Lists return at most `min(page_size, $top)` items a page, with an
//!   absolute `nextLink` carrying an opaque `$skipToken` bound to the path;
//!   a token that does not decode, or belongs to another path, is a 400.
//! - Subscriptions in `forbidden_subscriptions` are 403 AuthorizationFailed
//!   for every read inside them but are still listed by `GET /subscriptions`.
//! - The token never expires (2100-01-01) and does not change while the fake
//!   runs; it is derived from the fleet and the ARM port.

mod data;
mod server;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use tokio::task::JoinHandle;

use crate::error::SimError;

pub use data::{AzureFleet, AzureSubscription};

/// The `IDENTITY_HEADER` secret [`AzureFake::az_env`] hands clients; the
/// identity endpoint answers only requests carrying it as `X-IDENTITY-HEADER`.
pub const IDENTITY_HEADER: &str = "kq-azure-sim-identity-header";

/// The custom cloud [`AzureFake::az_login`] registers in az.
pub const AZ_CLOUD_NAME: &str = "KqAzureSim";

/// Whether a variable of the machine's environment would steer az (or kq)
/// away from the fake: Azure settings, managed-identity endpoints, CA
/// bundles. [`AzureFake::az_command`] removes these; a shell script run
/// against the fake should unset them.
pub fn steers_az(name: &str) -> bool {
    name.starts_with("AZURE_")
        || name.starts_with("IDENTITY_")
        || name.starts_with("MSI_")
        || name == "REQUESTS_CA_BUNDLE"
        || name == "CURL_CA_BUNDLE"
}

/// What fake to start.
#[derive(Clone, Debug)]
pub struct AzureFleetConfig {
    /// Seed of the generated resources (same seed and names, same bytes).
    pub seed: u64,
    /// Subscription display names, each generated independently of the others.
    pub subscriptions: Vec<String>,
    /// The most items a list page holds, whatever `$top` asks (0: only
    /// `$top` applies, 1000 when it is absent).
    pub page_size: usize,
    pub faults: AzureFaults,
}

impl AzureFleetConfig {
    /// Subscriptions `prod` and `staging`, two items a page, no faults.
    pub fn demo(seed: u64) -> Self {
        AzureFleetConfig {
            seed,
            subscriptions: vec!["prod".to_string(), "staging".to_string()],
            page_size: 2,
            faults: AzureFaults::default(),
        }
    }
}

/// Injected misbehaviour of the ARM listener (the identity endpoint never
/// misbehaves). Applied after the method, token and api-version checks, in
/// this order: 429s, then 503s, then forbidden subscriptions.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AzureFaults {
    /// Subscription ids: every read inside them is 403 AuthorizationFailed;
    /// `GET /subscriptions` still lists them.
    pub forbidden_subscriptions: Vec<String>,
    /// The first N requests to each distinct path are 429 TooManyRequests
    /// (with `Retry-After: 0` and `x-ms-retry-after-ms: 0`).
    pub throttle_first: usize,
    /// The next N requests to each distinct path are 503 ServiceUnavailable
    /// (with the same headers).
    pub unavailable_first: usize,
}

impl crate::cloud_fake::FirstN for AzureFaults {
    fn throttle_first(&self) -> usize {
        self.throttle_first
    }

    fn unavailable_first(&self) -> usize {
        self.unavailable_first
    }
}

/// One request the fake answered (ARM and identity endpoint alike).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AzureRequest {
    pub method: String,
    /// The path as sent (still percent-encoded).
    pub path: String,
    /// The raw query string (empty when there is none).
    pub query: String,
    pub authorization: Option<String>,
    /// The HTTP status the fake answered with.
    pub status: u16,
}

/// A running fake. Dropping it without [`AzureFake::shutdown`] leaves the
/// server tasks running until the runtime ends.
pub struct AzureFake {
    state: Arc<server::State>,
    identity_addr: SocketAddr,
    ca_pem: String,
    shutdown: tokio::sync::watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
}

impl std::fmt::Debug for AzureFake {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AzureFake")
            .field("arm_url", &self.arm_url())
            .field("identity_url", &self.identity_url())
            .finish()
    }
}

async fn bind(port: u16, what: &str) -> Result<(tokio::net::TcpListener, SocketAddr), SimError> {
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let bind_err = |source| SimError::Bind {
        cluster: format!("azure fake {what} on {addr}"),
        source,
    };
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(bind_err)?;
    let local = listener.local_addr().map_err(bind_err)?;
    Ok((listener, local))
}

impl AzureFake {
    /// Generates the fleet and serves ARM and the identity endpoint on
    /// ephemeral 127.0.0.1 ports.
    pub async fn start(config: AzureFleetConfig) -> Result<AzureFake, SimError> {
        Self::start_on(config, 0).await
    }

    /// The same with ARM on 127.0.0.1:`port` (0 picks an ephemeral one); the
    /// identity endpoint always gets an ephemeral port.
    pub async fn start_on(config: AzureFleetConfig, port: u16) -> Result<AzureFake, SimError> {
        let mut seen = std::collections::HashSet::new();
        if let Some(bad) = config
            .subscriptions
            .iter()
            .find(|s| s.is_empty() || s.contains('/') || !seen.insert(s.as_str()))
        {
            return Err(SimError::Config(format!(
                "Azure subscription names must be unique, non-empty and contain no '/' (got {bad:?})"
            )));
        }
        let tls =
            crate::tls::generate("azure-arm", &crate::TlsShape::CaSigned).map_err(|message| {
                SimError::Tls {
                    cluster: "azure-arm".into(),
                    message,
                }
            })?;
        let (arm, arm_addr) = bind(port, "ARM").await?;
        let (identity, identity_addr) = bind(0, "identity endpoint").await?;
        let fleet = data::generate(config.seed, &config.subscriptions);
        let state = Arc::new(server::State::new(
            arm_addr,
            fleet,
            IDENTITY_HEADER.to_string(),
            config.page_size,
            config.faults,
        ));
        let (shutdown, shutdown_rx) = tokio::sync::watch::channel(false);
        let acceptor = tokio_rustls::TlsAcceptor::from(tls.server_config.clone());
        let tasks = vec![
            tokio::spawn(server::serve(
                arm,
                Some(acceptor),
                state.clone(),
                shutdown_rx.clone(),
            )),
            tokio::spawn(server::serve(identity, None, state.clone(), shutdown_rx)),
        ];
        Ok(AzureFake {
            state,
            identity_addr,
            ca_pem: tls.ca_pem,
            shutdown,
            tasks,
        })
    }

    /// `https://127.0.0.1:PORT`, the ARM endpoint (no trailing slash).
    pub fn arm_url(&self) -> String {
        format!("https://{}", self.state.arm_addr)
    }

    /// `http://127.0.0.1:PORT/msi/token`, the `IDENTITY_ENDPOINT`.
    pub fn identity_url(&self) -> String {
        format!("http://{}/msi/token", self.identity_addr)
    }

    /// The PEM of the CA that signed the ARM certificate (for 127.0.0.1 and localhost).
    pub fn ca_pem(&self) -> &str {
        &self.ca_pem
    }

    /// The bearer token the identity endpoint issues and ARM requires.
    pub fn access_token(&self) -> &str {
        &self.state.token
    }

    /// The seeded resources being served.
    pub fn fleet(&self) -> &AzureFleet {
        &self.state.fleet
    }

    /// Every request served so far (the most recent 100 000), oldest first.
    pub fn requests(&self) -> Vec<AzureRequest> {
        self.state.requests()
    }

    /// Replaces the faults; the per-path throttle/unavailable counters restart.
    pub fn set_faults(&self, faults: AzureFaults) {
        self.state.set_faults(faults)
    }

    /// The environment that points az at this fake, with `dir` as its
    /// configuration directory (created, with the CA written to `dir/ca.pem`).
    /// If `dir` cannot be written, az itself reports the missing CA bundle.
    pub fn az_env(&self, dir: &Path) -> Vec<(String, String)> {
        let ca = dir.join("ca.pem");
        let _ = std::fs::create_dir_all(dir);
        let _ = std::fs::write(&ca, &self.ca_pem);
        let pairs: Vec<(&str, String)> = vec![
            ("AZURE_CONFIG_DIR", dir.display().to_string()),
            ("AZURE_CORE_COLLECT_TELEMETRY", "false".into()),
            ("AZURE_CORE_ONLY_SHOW_ERRORS", "true".into()),
            ("AZURE_CORE_NO_COLOR", "true".into()),
            ("AZURE_CORE_SURVEY_MESSAGE", "false".into()),
            // No interactive subscription picker or upgrade checks in tests.
            ("AZURE_CORE_LOGIN_EXPERIENCE_V2", "false".into()),
            ("AZURE_CORE_CHECK_FOR_UPGRADE", "false".into()),
            // msal's App Service managed identity: az login --identity.
            ("IDENTITY_ENDPOINT", self.identity_url()),
            ("IDENTITY_HEADER", IDENTITY_HEADER.into()),
            // requests (az's HTTP client) trusts only this bundle.
            ("REQUESTS_CA_BUNDLE", ca.display().to_string()),
            // A proxy configured on the machine must not carry loopback traffic.
            ("NO_PROXY", "127.0.0.1,localhost".into()),
            ("no_proxy", "127.0.0.1,localhost".into()),
        ];
        pairs.into_iter().map(|(k, v)| (k.to_string(), v)).collect()
    }

    /// The az the tests use: `target/az-venv/bin/az` under the workspace
    /// root (installed by `.ci/setup`) when it exists, else `az` on PATH.
    pub fn az_program() -> PathBuf {
        let venv = Path::new(env!("CARGO_MANIFEST_DIR"))
            .parent()
            .unwrap_or_else(|| Path::new("."))
            .join("target/az-venv/bin/az");
        if venv.exists() {
            venv
        } else {
            PathBuf::from("az")
        }
    }

    /// An `az` command pointed at this fake (see [`AzureFake::az_env`]),
    /// without the machine's own Azure, managed-identity or CA-bundle
    /// variables, which would otherwise leak into the run.
    pub fn az_command(&self, dir: &Path) -> std::process::Command {
        let mut command = std::process::Command::new(Self::az_program());
        for (name, _) in std::env::vars_os() {
            let name = name.to_string_lossy();
            if steers_az(&name) {
                command.env_remove(name.as_ref());
            }
        }
        command
            .envs(self.az_env(dir))
            .stdin(std::process::Stdio::null());
        command
    }

    /// Registers this fake as az's custom cloud [`AZ_CLOUD_NAME`] in config
    /// dir `dir`, selects it and logs in with the managed identity. Blocks
    /// (az runs as a child process); on failure returns az's stderr.
    pub fn az_login(&self, dir: &Path) -> Result<(), String> {
        let arm = self.arm_url();
        let arm_slash = format!("{arm}/");
        let endpoints = [
            "--endpoint-resource-manager",
            &arm_slash,
            "--endpoint-active-directory",
            &arm,
            "--endpoint-active-directory-resource-id",
            &arm_slash,
            "--endpoint-management",
            &arm_slash,
            // az role assignment list builds a Graph client even when it
            // will not use it, and fails if the cloud has no Graph endpoint.
            "--endpoint-microsoft-graph-resource-id",
            &arm_slash,
            "--skip-endpoint-discovery",
        ];
        let run = |args: &[&str]| -> Result<std::process::Output, String> {
            self.az_command(dir)
                .args(args)
                .output()
                .map_err(|e| format!("running {:?} {args:?}: {e}", Self::az_program()))
        };
        let failed = |args: &[&str], out: &std::process::Output| {
            format!(
                "az {} failed ({}): {}",
                args.join(" "),
                out.status,
                String::from_utf8_lossy(&out.stderr)
            )
        };
        // A config dir used with an earlier fake already has the cloud: update
        // its endpoints (another port) instead.
        let register: Vec<&str> = ["cloud", "register", "-n", AZ_CLOUD_NAME]
            .into_iter()
            .chain(endpoints)
            .collect();
        let out = run(&register)?;
        if !out.status.success() {
            if !String::from_utf8_lossy(&out.stderr).contains("already registered") {
                return Err(failed(&register, &out));
            }
            let update: Vec<&str> = ["cloud", "update", "-n", AZ_CLOUD_NAME]
                .into_iter()
                .chain(endpoints)
                .collect();
            let out = run(&update)?;
            if !out.status.success() {
                return Err(failed(&update, &out));
            }
        }
        for args in [
            &["cloud", "set", "-n", AZ_CLOUD_NAME][..],
            &["login", "--identity", "-o", "none"][..],
        ] {
            let out = run(args)?;
            if !out.status.success() {
                return Err(failed(args, &out));
            }
        }
        Ok(())
    }

    /// Stops serving: the listeners close and open connections are dropped.
    pub async fn shutdown(self) {
        let _ = self.shutdown.send(true);
        for task in self.tasks {
            let _ = task.await;
        }
    }
}
