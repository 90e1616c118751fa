//! A deterministic local fake of the Google Cloud JSON REST APIs kq reads:
//! Compute Engine v1, GKE (container v1), IAM v1, Resource Manager v1/v3 and
//! the Cloud Storage JSON API, over plain HTTP on 127.0.0.1. The real
//! `gcloud` (pointed at it by [`GcpFake::gcloud_env`]) and the google-cloud
//! Rust crates (with `with_endpoint(fake.url())`) accept it.
//!
//! ```no_run
//! # async fn demo() -> Result<(), kq_sim::SimError> {
//! use kq_sim::gcp::{GcpFake, GcpFleetConfig};
//! let fake = GcpFake::start(GcpFleetConfig::demo(7)).await?;
//! let env = fake.gcloud_env(std::path::Path::new("/tmp/gcloud-cfg"));
//! let vms = &fake.fleet().projects()[0].instances;
//! # drop((env, vms)); fake.shutdown().await; Ok(()) }
//! ```
//!
//! Behaviour worth knowing:
//! - Only reads are served: `GET`, plus `POST …:getIamPolicy`. Any other
//!   method is a 405 (and is recorded, so tests can prove nothing wrote).
//! - Authorization is recorded but never checked: gcloud sends the token of
//!   [`GcpFake::gcloud_env`], the Rust crates with anonymous credentials none.
//! - Lists return at most `min(maxResults|pageSize, page_size)` items a page
//!   with opaque page tokens bound to the request path; a token that does not
//!   decode, or belongs to another path, is a 400 INVALID_ARGUMENT.
//! - Aggregated Compute lists always behave as with `returnPartialSuccess`:
//!   an unreachable scope is named (first page only) in `unreachables` and as
//!   an `UNREACHABLE` scope warning, which is what gcloud reports.
//! - Unknown projects are 404; projects in `forbidden_projects` are 403 for
//!   every read inside them but still appear in project listings.

mod data;
mod server;

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;

use tokio::task::JoinHandle;

use crate::error::SimError;

pub use data::{GcpFleet, GcpProject};

/// The access token [`GcpFake::gcloud_env`] hands gcloud; its requests
/// carry `Authorization: Bearer` this.
pub const GCLOUD_ACCESS_TOKEN: &str = "kq-gcp-sim-token";

/// Whether a variable of the machine's environment would steer gcloud (or
/// kq) away from the fake: gcloud's own settings, Google credentials,
/// metadata server addresses. [`GcpFake::gcloud_command`] removes these;
/// a shell script run against the fake should unset them.
pub fn steers_gcloud(name: &str) -> bool {
    name.starts_with("CLOUDSDK_") || name.starts_with("GOOGLE_") || name.starts_with("GCE_")
}

/// What fake to start.
#[derive(Clone, Debug)]
pub struct GcpFleetConfig {
    /// Seed of the generated resources (same seed and projects, same bytes).
    pub seed: u64,
    /// Project ids, each generated independently of the others.
    pub projects: Vec<String>,
    /// The most items a list page holds, whatever the client asks (0: only
    /// the client's page size applies, 500 when it sends none).
    pub page_size: usize,
    pub faults: GcpFaults,
}

impl GcpFleetConfig {
    /// Projects `kq-prod` and `kq-staging`, two items a page, no faults.
    pub fn demo(seed: u64) -> Self {
        GcpFleetConfig {
            seed,
            projects: vec!["kq-prod".to_string(), "kq-staging".to_string()],
            page_size: 2,
            faults: GcpFaults::default(),
        }
    }
}

/// Injected misbehaviour. Faults apply to every path except the metadata
/// server's (`/computeMetadata/`), in this order: 429s, then 503s, then the
/// per-project and per-zone faults.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct GcpFaults {
    /// Every read inside these projects (id or number) is 403 PERMISSION_DENIED.
    pub forbidden_projects: Vec<String>,
    /// The first N requests to each distinct path are 429 RESOURCE_EXHAUSTED
    /// (with `Retry-After: 0`).
    pub throttle_first: usize,
    /// The next N requests to each distinct path are 503 UNAVAILABLE.
    pub unavailable_first: usize,
    /// Zones (or regions) whose resources are missing from aggregated lists
    /// (named in `unreachables`) and whose own lists are 503 UNAVAILABLE;
    /// GKE lists leave their clusters out and name them in `missingZones`.
    pub unreachable_zones: Vec<String>,
}

impl crate::cloud_fake::FirstN for GcpFaults {
    fn throttle_first(&self) -> usize {
        self.throttle_first
    }

    fn unavailable_first(&self) -> usize {
        self.unavailable_first
    }
}

/// One request the fake answered.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GcpRequest {
    pub method: String,
    /// The path as sent (still percent-encoded).
    pub path: String,
    /// The raw query string (empty when there is none).
    pub query: String,
    pub authorization: Option<String>,
    /// The HTTP status the fake answered with.
    pub status: u16,
}

/// A running fake. Dropping it without [`GcpFake::shutdown`] leaves the
/// server task running until the runtime ends.
pub struct GcpFake {
    state: Arc<server::State>,
    shutdown: tokio::sync::watch::Sender<bool>,
    task: JoinHandle<()>,
}

impl std::fmt::Debug for GcpFake {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GcpFake").field("url", &self.url()).finish()
    }
}

impl GcpFake {
    /// Generates the fleet and serves it on an ephemeral 127.0.0.1 port.
    pub async fn start(config: GcpFleetConfig) -> Result<GcpFake, SimError> {
        Self::start_on(config, 0).await
    }

    /// The same on 127.0.0.1:`port` (0 picks an ephemeral one).
    pub async fn start_on(config: GcpFleetConfig, port: u16) -> Result<GcpFake, SimError> {
        let mut seen = std::collections::HashSet::new();
        if let Some(bad) = config
            .projects
            .iter()
            .find(|p| p.is_empty() || p.contains('/') || !seen.insert(p.as_str()))
        {
            return Err(SimError::Config(format!(
                "GCP project ids must be unique, non-empty and contain no '/' (got {bad:?})"
            )));
        }
        let bind = SocketAddr::from(([127, 0, 0, 1], port));
        let listener = tokio::net::TcpListener::bind(bind)
            .await
            .map_err(|source| SimError::Bind {
                cluster: format!("gcp fake on {bind}"),
                source,
            })?;
        let addr = listener.local_addr().map_err(|source| SimError::Bind {
            cluster: format!("gcp fake on {bind}"),
            source,
        })?;
        let fleet = data::generate(config.seed, &config.projects);
        let state = Arc::new(server::State::new(
            addr,
            fleet,
            config.page_size,
            config.faults,
        ));
        let (shutdown, shutdown_rx) = tokio::sync::watch::channel(false);
        let task = tokio::spawn(server::serve(listener, state.clone(), shutdown_rx));
        Ok(GcpFake {
            state,
            shutdown,
            task,
        })
    }

    /// `http://127.0.0.1:PORT`, the endpoint the Rust crates take.
    pub fn url(&self) -> String {
        format!("http://{}", self.state.addr)
    }

    /// The seeded resources being served.
    pub fn fleet(&self) -> &GcpFleet {
        &self.state.fleet
    }

    /// Every request served so far (the most recent 100 000), oldest first.
    pub fn requests(&self) -> Vec<GcpRequest> {
        self.state.requests()
    }

    /// Replaces the faults; the per-path throttle/unavailable counters restart.
    pub fn set_faults(&self, faults: GcpFaults) {
        self.state.set_faults(faults)
    }

    /// The environment that points gcloud at this fake, with `dir` as its
    /// configuration directory (created, and holding the access-token file).
    /// If `dir` cannot be written, gcloud itself reports the missing token file.
    pub fn gcloud_env(&self, dir: &Path) -> Vec<(String, String)> {
        let token = dir.join("access-token");
        let _ = std::fs::create_dir_all(dir);
        let _ = std::fs::write(&token, GCLOUD_ACCESS_TOKEN);
        let url = self.url();
        let host = self.state.addr.to_string();
        let project = self
            .state
            .fleet
            .projects()
            .first()
            .map(|p| p.id.clone())
            .unwrap_or_default();
        let pairs: Vec<(&str, String)> = vec![
            ("CLOUDSDK_CONFIG", dir.display().to_string()),
            ("CLOUDSDK_CORE_PROJECT", project),
            (
                "CLOUDSDK_AUTH_ACCESS_TOKEN_FILE",
                token.display().to_string(),
            ),
            ("CLOUDSDK_CORE_DISABLE_PROMPTS", "1".into()),
            ("CLOUDSDK_CORE_DISABLE_USAGE_REPORTING", "true".into()),
            (
                "CLOUDSDK_COMPONENT_MANAGER_DISABLE_UPDATE_CHECK",
                "true".into(),
            ),
            // Otherwise a 403 counts as "API not enabled" and gcloud offers to enable it.
            ("CLOUDSDK_CORE_SHOULD_PROMPT_TO_ENABLE_API", "false".into()),
            (
                "CLOUDSDK_API_ENDPOINT_OVERRIDES_COMPUTE",
                format!("{url}/compute/v1/"),
            ),
            (
                "CLOUDSDK_API_ENDPOINT_OVERRIDES_CONTAINER",
                format!("{url}/"),
            ),
            ("CLOUDSDK_API_ENDPOINT_OVERRIDES_IAM", format!("{url}/")),
            (
                "CLOUDSDK_API_ENDPOINT_OVERRIDES_CLOUDRESOURCEMANAGER",
                format!("{url}/"),
            ),
            (
                "CLOUDSDK_API_ENDPOINT_OVERRIDES_STORAGE",
                format!("{url}/storage/v1/"),
            ),
            // Without these gcloud (and google-auth) probe metadata.google.internal
            // to learn whether they run on GCE; the fake's 404 says no.
            ("GCE_METADATA_ROOT", host.clone()),
            ("GCE_METADATA_HOST", host.clone()),
            ("GCE_METADATA_IP", host),
            // A proxy configured on the machine must not carry loopback traffic.
            ("NO_PROXY", "127.0.0.1,localhost".into()),
            ("no_proxy", "127.0.0.1,localhost".into()),
        ];
        pairs.into_iter().map(|(k, v)| (k.to_string(), v)).collect()
    }

    /// A `gcloud` command pointed at this fake (see [`GcpFake::gcloud_env`]),
    /// without the machine's own gcloud settings, Google credentials or
    /// metadata server variables, which would otherwise leak into the run.
    pub fn gcloud_command(&self, dir: &Path) -> std::process::Command {
        let mut command = std::process::Command::new("gcloud");
        for (name, _) in std::env::vars_os() {
            let name = name.to_string_lossy();
            if steers_gcloud(&name) {
                command.env_remove(name.as_ref());
            }
        }
        command
            .envs(self.gcloud_env(dir))
            .stdin(std::process::Stdio::null());
        command
    }

    /// Stops serving: the listener closes and open connections are dropped.
    pub async fn shutdown(self) {
        let _ = self.shutdown.send(true);
        let _ = self.task.await;
    }
}
