//! kq-sim: a simulated Kubernetes API server fleet.
//!
//! Tests, benchmarks and `kq --demo` need real-looking clusters and none can
//! run on our machines, so this crate serves the Kubernetes API (HTTPS,
//! bearer tokens, discovery, list/watch, selectors, CRUD, RBAC, faults) over
//! a seeded, deterministic fleet of objects. Clusters can serve several
//! certificate shapes ([`TlsShape`]), authenticate client certificates, rotate
//! tokens, and imitate older Kubernetes releases ([`ServerVersion`]). The
//! [`gcp`] module is a separate fake of the Google Cloud REST APIs (Compute,
//! GKE, IAM, Resource Manager, Storage) that the real gcloud accepts, and
//! the [`azure`] module one of Azure Resource Manager that the real az accepts.
//!
//! ```no_run
//! # async fn demo() -> Result<(), kq_sim::SimError> {
//! let fleet = kq_sim::start(kq_sim::FleetConfig::uniform(2, 100, 7)).await?;
//! fleet.write_kubeconfig(std::path::Path::new("/tmp/sim.kubeconfig")).ok();
//! let pods = fleet.clusters()[0].objects("pods");
//! # drop(pods); fleet.shutdown().await; Ok(()) }
//! ```
//!
//! Behaviour worth knowing:
//! - Strategic merge patch is approximated (see the `patch` module docs):
//!   lists of objects merge by a conventional key, other lists are replaced.
//! - Server-side apply (`application/apply-patch+yaml`) is approximated by a
//!   create-or-strategic-merge; no managedFields are kept.
//! - A malformed continue token is a 400; a well-formed one whose snapshot
//!   is gone (or that the `continue_expires_after_pages` fault expires) is
//!   the real 410 Expired.
//! - When a cluster is `down`, its `/sim/` admin endpoint is unreachable too;
//!   use [`ClusterHandle::set_faults`] to bring it back.
//! - A bearer token, when sent, decides who the caller is (an unknown one is
//!   401 even with a valid client certificate); without one, a client
//!   certificate that chains to the cluster's client CA authenticates as the
//!   [`SimUser`] named by its subject CN. The real API server tries the
//!   certificate first; the two differ only for a request carrying both.
//! - An older [`ServerVersion`] changes `/version`, aggregated discovery and
//!   the accepted field selectors; it does not change which API groups and
//!   versions are served.

pub mod azure;
mod cloud_fake;
mod defaults;
mod discovery;
mod error;
mod fleet;
pub mod gcp;
pub mod generate;
mod http_util;
mod patch;
mod proto;
mod rbac;
mod registry;
mod selector;
mod server;
mod status;
mod store;
mod table;
mod tls;
mod version;

pub use error::SimError;
pub use fleet::{ClusterHandle, Counters, Faults, Fleet, FleetConfig, RequestRecord, start};
pub use generate::{ClusterProfile, Flavor};
pub use rbac::{SimUser, TEAM_A_NAMESPACE};
pub use tls::TlsShape;
pub use version::ServerVersion;

/// Returns on Ctrl-C or SIGTERM: how the sim binaries serve until stopped.
pub async fn wait_for_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
