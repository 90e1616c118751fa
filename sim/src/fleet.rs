//! The public face of the simulator: fleet configuration, start-up,
//! per-cluster handles (store access, faults, counters) and kubeconfigs.

use std::collections::{BTreeMap, VecDeque};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};

use base64::Engine;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde_json::{Value, json};
use tokio::task::JoinHandle;

use crate::error::SimError;
use crate::generate::{ClusterProfile, Flavor, generate_cluster_with};
use crate::rbac::SimUser;
use crate::store::Store;
use crate::tls::{ClientAuth, TlsShape};
use crate::version::ServerVersion;

/// What fleet to start.
#[derive(Clone, Debug)]
pub struct FleetConfig {
    pub clusters: Vec<ClusterProfile>,
    pub seed: u64,
    /// Faults every cluster starts with (change them later per cluster).
    pub faults: Faults,
    /// Serve plain HTTP instead of HTTPS (kubectl then sends no token: tests only).
    pub plain_http: bool,
    /// The shape of every cluster's serving certificate.
    pub tls: TlsShape,
    /// The Kubernetes release every cluster claims to be (and behaves like).
    pub server_version: ServerVersion,
}

impl FleetConfig {
    /// The demo fleet: prod (~600 pods), staging (~200), dev (~60), seed 42.
    pub fn demo() -> Self {
        let c = |name: &str, pods, flavor| ClusterProfile {
            name: name.to_string(),
            pods,
            flavor,
        };
        FleetConfig {
            clusters: vec![
                c("prod", 600, Flavor::Prod),
                c("staging", 200, Flavor::Staging),
                c("dev", 60, Flavor::Dev),
            ],
            seed: 42,
            faults: Faults::default(),
            plain_http: false,
            tls: TlsShape::default(),
            server_version: ServerVersion::default(),
        }
    }

    /// `clusters` generic clusters named cluster-0.. with `pods_per_cluster` pods each.
    pub fn uniform(clusters: usize, pods_per_cluster: usize, seed: u64) -> Self {
        FleetConfig {
            clusters: (0..clusters)
                .map(|i| ClusterProfile {
                    name: format!("cluster-{i}"),
                    pods: pods_per_cluster,
                    flavor: Flavor::Generic,
                })
                .collect(),
            seed,
            faults: Faults::default(),
            plain_http: false,
            tls: TlsShape::default(),
            server_version: ServerVersion::default(),
        }
    }

    /// The same fleet, serving certificates of `shape`.
    pub fn with_tls(mut self, shape: TlsShape) -> Self {
        self.tls = shape;
        self
    }

    /// The same fleet, claiming to be (and behaving like) Kubernetes `version`.
    pub fn with_server_version(mut self, version: ServerVersion) -> Self {
        self.server_version = version;
        self
    }
}

/// Injected misbehaviour of one cluster. Random faults draw from a seeded RNG.
#[derive(Clone, Debug, Default, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(default)]
pub struct Faults {
    /// Added to every API request before it is answered.
    pub latency_ms: u64,
    /// Fraction (0..=1) of API requests answered 500 InternalError.
    pub error_rate_5xx: f64,
    /// Fraction (0..=1) of API requests answered 429 TooManyRequests.
    pub throttle_rate: f64,
    /// Retry-After seconds sent with 429s (0 means 1).
    pub retry_after_secs: u64,
    /// Continue tokens expire (410) once the list has served this many pages.
    pub continue_expires_after_pages: Option<u32>,
    /// Watches end after sending this many events.
    pub watch_drop_after_events: Option<u32>,
    /// Watches end after this many seconds.
    pub watch_drop_after_secs: Option<u64>,
    /// The cluster drops every connection, like a dead API server.
    pub down: bool,
    /// Aggregated API group versions (`metrics.k8s.io/v1beta1`) registered
    /// by an APIService whose backend is down, answered as the real server
    /// answers them: listed in `/apis`, `Stale` with no resources in
    /// aggregated discovery, and 503 `service unavailable` (plain text) for
    /// the group version's documents and resources.
    pub unavailable_api_groups: Vec<String>,
}

/// One served API request, as counted by the sim.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct RequestRecord {
    /// Kubernetes verb: get, list, watch, create, update, patch, delete, deletecollection
    /// (discovery, /version and /openapi count as get).
    pub verb: String,
    pub path: String,
    pub query: String,
    pub user: String,
    pub status: u16,
}

/// A snapshot of one cluster's request counters.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Counters {
    pub by_verb: BTreeMap<String, u64>,
    /// The most recent requests (at most 100 000), oldest first.
    pub requests: Vec<RequestRecord>,
    pub bytes_sent: u64,
    pub watches_open: u64,
}

const MAX_RECORDS: usize = 100_000;

#[derive(Default)]
pub(crate) struct CounterLog {
    by_verb: BTreeMap<String, u64>,
    requests: VecDeque<RequestRecord>,
}

/// Everything one running cluster shares between its connections.
pub(crate) struct ClusterState {
    pub name: String,
    pub addr: SocketAddr,
    pub plain_http: bool,
    /// Bearer tokens, one per user; rotation replaces a user's token.
    tokens: RwLock<Vec<(SimUser, String)>>,
    pub ca_pem: String,
    pub serving_cert_pem: String,
    /// The client CA (None when serving plain HTTP).
    pub client_auth: Option<Arc<ClientAuth>>,
    pub server_version: ServerVersion,
    pub store: Store,
    faults: Mutex<Faults>,
    rng: Mutex<ChaCha8Rng>,
    log: Mutex<CounterLog>,
    pub bytes_sent: AtomicU64,
    pub watches_open: AtomicU64,
    /// Bumped whenever faults change so connection tasks can notice `down`.
    pub fault_changes: tokio::sync::watch::Sender<u64>,
}

impl ClusterState {
    pub fn faults(&self) -> Faults {
        self.faults
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    pub fn set_faults(&self, f: Faults) {
        *self.faults.lock().unwrap_or_else(|p| p.into_inner()) = f;
        self.fault_changes.send_modify(|v| *v += 1);
    }

    /// A uniform draw in [0, 1) from the cluster's seeded RNG.
    pub fn draw(&self) -> f64 {
        self.rng
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .random::<f64>()
    }

    pub fn user_for_token(&self, token: &str) -> Option<SimUser> {
        self.tokens
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .find(|(_, t)| t == token)
            .map(|(u, _)| *u)
    }

    /// The user a verified client certificate's subject CN names, as the
    /// real API server maps CN to the user name.
    pub fn user_for_common_name(&self, common_name: &str) -> Option<SimUser> {
        SimUser::ALL
            .into_iter()
            .find(|u| u.username() == common_name)
    }

    /// Replaces `user`'s token with a fresh one; the old one stops working.
    pub fn rotate_token(&self, user: SimUser) -> String {
        let token = new_token(user, crate::tls::random_u128());
        let mut tokens = self.tokens.write().unwrap_or_else(|p| p.into_inner());
        match tokens.iter_mut().find(|(u, _)| *u == user) {
            Some(entry) => entry.1 = token.clone(),
            None => tokens.push((user, token.clone())),
        }
        token
    }

    pub fn record(&self, rec: RequestRecord) {
        let mut log = self.log.lock().unwrap_or_else(|p| p.into_inner());
        *log.by_verb.entry(rec.verb.clone()).or_default() += 1;
        log.requests.push_back(rec);
        if log.requests.len() > MAX_RECORDS {
            log.requests.pop_front();
        }
    }

    pub fn add_bytes(&self, n: u64) {
        self.bytes_sent.fetch_add(n, Ordering::Relaxed);
    }

    pub fn counters(&self) -> Counters {
        let log = self.log.lock().unwrap_or_else(|p| p.into_inner());
        Counters {
            by_verb: log.by_verb.clone(),
            requests: log.requests.iter().cloned().collect(),
            bytes_sent: self.bytes_sent.load(Ordering::Relaxed),
            watches_open: self.watches_open.load(Ordering::Relaxed),
        }
    }

    pub fn reset_counters(&self) {
        let mut log = self.log.lock().unwrap_or_else(|p| p.into_inner());
        *log = CounterLog::default();
        self.bytes_sent.store(0, Ordering::Relaxed);
    }

    pub fn url(&self) -> String {
        let scheme = if self.plain_http { "http" } else { "https" };
        format!("{scheme}://{}", self.addr)
    }

    pub fn token(&self, user: SimUser) -> String {
        self.tokens
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .find(|(u, _)| *u == user)
            .map(|(_, t)| t.clone())
            .unwrap_or_default()
    }
}

/// A running simulated cluster. Cheap to clone.
#[derive(Clone)]
pub struct ClusterHandle {
    pub(crate) state: Arc<ClusterState>,
}

impl std::fmt::Debug for ClusterHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClusterHandle")
            .field("name", &self.state.name)
            .field("url", &self.state.url())
            .finish()
    }
}

impl ClusterHandle {
    /// The cluster (and kubeconfig context) name.
    pub fn name(&self) -> &str {
        &self.state.name
    }

    /// `https://127.0.0.1:PORT` (or `http://` with `plain_http`).
    pub fn url(&self) -> String {
        self.state.url()
    }

    /// The bearer token of `user` on this cluster.
    pub fn token(&self, user: SimUser) -> String {
        self.state.token(user)
    }

    /// The trust anchor a kubeconfig carries (`certificate-authority-data`, PEM):
    /// the CA that signed the serving certificate, the root of an
    /// [`TlsShape::Intermediate`] chain, or the serving certificate itself for
    /// [`TlsShape::SelfSignedCa`]. Empty with `plain_http`.
    pub fn ca_pem(&self) -> String {
        self.state.ca_pem.clone()
    }

    /// The leaf certificate the server presents (PEM), for tests that pin it
    /// in `certificate-authority-data`. Empty with `plain_http`.
    pub fn serving_cert_pem(&self) -> String {
        self.state.serving_cert_pem.clone()
    }

    /// The CA that client certificates must chain to (PEM). Empty with `plain_http`.
    pub fn client_ca_pem(&self) -> String {
        self.state
            .client_auth
            .as_ref()
            .map(|c| c.ca_pem())
            .unwrap_or_default()
    }

    /// A client certificate (PEM) that authenticates as `user` (subject CN =
    /// `user.username()`, extended key usage clientAuth, signed by the client
    /// CA, valid from an hour ago for a year) for the public key of
    /// `subject_key_pem`, a PKCS#8 (`PRIVATE KEY`) PEM of an RSA or EC P-256 key.
    pub fn issue_client_cert(
        &self,
        user: SimUser,
        subject_key_pem: &str,
    ) -> Result<String, SimError> {
        let fail = |message: String| SimError::ClientCert {
            cluster: self.state.name.clone(),
            message,
        };
        let auth = self
            .state
            .client_auth
            .as_ref()
            .ok_or_else(|| fail("the cluster serves plain HTTP, without TLS".into()))?;
        auth.issue(user.username(), subject_key_pem).map_err(fail)
    }

    /// Issues a new bearer token for `user` and revokes the old one: later
    /// requests with it get 401 Unauthorized. Requests already being served
    /// (open watches) are not cut.
    pub fn rotate_token(&self, user: SimUser) -> String {
        self.state.rotate_token(user)
    }

    /// The Kubernetes release this cluster claims to be.
    pub fn server_version(&self) -> ServerVersion {
        self.state.server_version
    }

    pub fn counters(&self) -> Counters {
        self.state.counters()
    }

    pub fn reset_counters(&self) {
        self.state.reset_counters()
    }

    pub fn faults(&self) -> Faults {
        self.state.faults()
    }

    pub fn set_faults(&self, faults: Faults) {
        self.state.set_faults(faults)
    }

    /// Current contents of a resource (`pods`, or `plural.group`), sorted by (namespace, name).
    pub fn objects(&self, plural: &str) -> Vec<Value> {
        self.state.store.objects(plural)
    }

    /// Creates or replaces an object in-process (watchers see ADDED/MODIFIED).
    pub fn upsert(&self, obj: Value) -> Result<Value, SimError> {
        self.state
            .store
            .upsert(obj)
            .map_err(|e| SimError::InvalidObject(e.message))
    }

    /// Deletes an object in-process (watchers see DELETED).
    pub fn delete(
        &self,
        plural: &str,
        namespace: Option<&str>,
        name: &str,
    ) -> Result<(), SimError> {
        let (p, g) = match plural.split_once('.') {
            Some((p, g)) => (p, Some(g)),
            None => (plural, None),
        };
        let rt = self
            .state
            .store
            .with_registry(|r| {
                r.types()
                    .iter()
                    .find(|t| t.plural == p && g.is_none_or(|g| g == t.group))
                    .cloned()
            })
            .ok_or_else(|| SimError::UnknownResource(plural.to_string()))?;
        self.state
            .store
            .delete(&rt, namespace, name, false)
            .map(|_| ())
            .map_err(|e| {
                if e.code == 404 {
                    SimError::NotFound(e.message)
                } else {
                    SimError::Store(e.message)
                }
            })
    }

    /// Every object this cluster holds as one `List`, for another server to
    /// load (`kq-sim --export`, the kube-apiserver harness's `--fixtures`):
    /// namespaces and CRDs first, server-owned metadata left to the loader
    /// to strip.
    pub fn export_fixtures(&self) -> Value {
        json!({
            "apiVersion": "v1",
            "kind": "List",
            "items": self.state.store.all_objects(),
        })
    }

    /// Compacts all history: open watches get a 410 ERROR event, old resourceVersions and
    /// continue tokens become too old.
    pub fn force_watch_expiry(&self) {
        self.state.store.force_expiry()
    }
}

/// A running fleet of simulated clusters.
pub struct Fleet {
    clusters: Vec<ClusterHandle>,
    shutdown: tokio::sync::watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
}

impl std::fmt::Debug for Fleet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Fleet")
            .field("clusters", &self.clusters)
            .finish()
    }
}

fn new_token(user: SimUser, secret: u128) -> String {
    format!("kqsim-{}-{secret:032x}", user.slug())
}

fn tokens_for(seed: u64, index: usize) -> Vec<(SimUser, String)> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed.wrapping_mul(31).wrapping_add(index as u64 + 7));
    SimUser::ALL
        .iter()
        .map(|u| (*u, new_token(*u, rng.random())))
        .collect()
}

/// Streams a generated cluster into `store`, each object serialized as it is made, so no
/// Value outlives its own loading (a Value takes about ten times its JSON size).
fn load_generated(store: &Store, profile: &ClusterProfile, seed: u64) -> Result<(), String> {
    let mut loader = store.loader();
    let mut failed = None;
    generate_cluster_with(profile, seed, &mut |obj| {
        // The generator cannot be stopped; after the first error the rest is dropped unseen.
        if failed.is_none()
            && let Err(e) = loader.add(obj)
        {
            failed = Some(e);
        }
    });
    match failed {
        Some(e) => Err(e),
        None => {
            loader.finish();
            Ok(())
        }
    }
}

/// Starts every cluster of `config` on its own 127.0.0.1 ephemeral port; returns once all listen.
pub async fn start(config: FleetConfig) -> Result<Fleet, SimError> {
    let mut names = std::collections::HashSet::new();
    for c in &config.clusters {
        if c.name.is_empty() || !names.insert(c.name.clone()) {
            return Err(SimError::Config(format!(
                "cluster names must be unique and non-empty (got {:?})",
                c.name
            )));
        }
    }
    // Generation and loading are CPU-bound: run them off the async workers, in parallel.
    let mut loads = Vec::new();
    for (i, profile) in config.clusters.iter().cloned().enumerate() {
        let seed = config.seed;
        let plain = config.plain_http;
        let shape = config.tls.clone();
        loads.push(tokio::task::spawn_blocking(move || {
            let cluster_seed = seed.wrapping_add(i as u64);
            let store = Store::new(cluster_seed);
            load_generated(&store, &profile, seed).map_err(|message| SimError::Load {
                cluster: profile.name.clone(),
                message,
            })?;
            let tls = if plain {
                None
            } else {
                Some(
                    crate::tls::generate(&profile.name, &shape).map_err(|message| {
                        SimError::Tls {
                            cluster: profile.name.clone(),
                            message,
                        }
                    })?,
                )
            };
            Ok::<_, SimError>((profile, store, tls))
        }));
    }
    let (shutdown, shutdown_rx) = tokio::sync::watch::channel(false);
    let mut clusters = Vec::new();
    let mut tasks = Vec::new();
    for (i, load) in loads.into_iter().enumerate() {
        let (profile, store, tls) = load
            .await
            .map_err(|e| SimError::Config(format!("generating a cluster failed: {e}")))??;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .map_err(|source| SimError::Bind {
                cluster: profile.name.clone(),
                source,
            })?;
        let addr = listener.local_addr().map_err(|source| SimError::Bind {
            cluster: profile.name.clone(),
            source,
        })?;
        let (ca_pem, serving_cert_pem, client_auth, acceptor) = match &tls {
            Some(t) => (
                t.ca_pem.clone(),
                t.serving_cert_pem.clone(),
                Some(t.client_auth.clone()),
                Some(tokio_rustls::TlsAcceptor::from(t.server_config.clone())),
            ),
            None => (String::new(), String::new(), None, None),
        };
        let (fault_changes, _) = tokio::sync::watch::channel(0);
        let state = Arc::new(ClusterState {
            name: profile.name.clone(),
            addr,
            plain_http: config.plain_http,
            tokens: RwLock::new(tokens_for(config.seed, i)),
            ca_pem,
            serving_cert_pem,
            client_auth,
            server_version: config.server_version,
            store,
            faults: Mutex::new(config.faults.clone()),
            rng: Mutex::new(ChaCha8Rng::seed_from_u64(
                config.seed ^ (0x9e37_79b9_7f4a_7c15u64.wrapping_mul(i as u64 + 1)),
            )),
            log: Mutex::new(CounterLog::default()),
            bytes_sent: AtomicU64::new(0),
            watches_open: AtomicU64::new(0),
            fault_changes,
        });
        tasks.push(tokio::spawn(crate::server::serve(
            listener,
            state.clone(),
            acceptor,
            shutdown_rx.clone(),
        )));
        clusters.push(ClusterHandle { state });
    }
    Ok(Fleet {
        clusters,
        shutdown,
        tasks,
    })
}

impl Fleet {
    pub fn clusters(&self) -> &[ClusterHandle] {
        &self.clusters
    }

    pub fn cluster(&self, name: &str) -> Option<&ClusterHandle> {
        self.clusters.iter().find(|c| c.name() == name)
    }

    /// A kubeconfig with one context per cluster (context = cluster = name) and the admin token.
    pub fn kubeconfig_yaml(&self) -> String {
        self.kubeconfig_yaml_for(SimUser::Admin)
    }

    /// The same contexts, authenticating as `user`.
    pub fn kubeconfig_yaml_for(&self, user: SimUser) -> String {
        let b64 = base64::engine::general_purpose::STANDARD;
        let clusters: Vec<Value> = self
            .clusters
            .iter()
            .map(|c| {
                let mut cluster = json!({"server": c.url()});
                if !c.state.plain_http
                    && let Some(o) = cluster.as_object_mut()
                {
                    o.insert(
                        "certificate-authority-data".into(),
                        json!(b64.encode(c.ca_pem())),
                    );
                }
                json!({"name": c.name(), "cluster": cluster})
            })
            .collect();
        let users: Vec<Value> = self
            .clusters
            .iter()
            .map(|c| {
                json!({"name": format!("{}-{}", c.name(), user.slug()), "user": {"token": c.token(user)}})
            })
            .collect();
        let contexts: Vec<Value> = self
            .clusters
            .iter()
            .map(|c| {
                let mut context =
                    json!({"cluster": c.name(), "user": format!("{}-{}", c.name(), user.slug())});
                // A team's kubeconfig names the namespace it may read, as
                // the ones cluster admins hand out do.
                if user == SimUser::TeamAReader {
                    context["namespace"] = json!(crate::rbac::TEAM_A_NAMESPACE);
                }
                json!({"name": c.name(), "context": context})
            })
            .collect();
        let current = self
            .clusters
            .first()
            .map(|c| c.name().to_string())
            .unwrap_or_default();
        let doc = json!({
            "apiVersion": "v1",
            "kind": "Config",
            "preferences": {},
            "clusters": clusters,
            "users": users,
            "contexts": contexts,
            "current-context": current,
        });
        serde_yaml::to_string(&doc).unwrap_or_default()
    }

    /// Writes the admin kubeconfig atomically (temporary file in the same directory, then rename).
    pub fn write_kubeconfig(&self, path: &std::path::Path) -> std::io::Result<()> {
        write_atomic(path, self.kubeconfig_yaml().as_bytes())
    }

    /// Stops every cluster: listeners close and open connections are dropped.
    pub async fn shutdown(self) {
        let _ = self.shutdown.send(true);
        for t in self.tasks {
            let _ = t.await;
        }
    }
}

pub(crate) fn write_atomic(path: &std::path::Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or_else(|| std::path::Path::new("."));
    let file_name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "kubeconfig".into());
    let tmp = dir.join(format!(".{file_name}.tmp-{}", std::process::id()));
    {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o600))?;
    }
    std::fs::rename(&tmp, path).inspect_err(|_| {
        let _ = std::fs::remove_file(&tmp);
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::generate::generate_cluster;

    #[test]
    fn streamed_load_stores_what_a_whole_load_stores() {
        let profile = ClusterProfile {
            name: "c".into(),
            pods: 60,
            flavor: Flavor::Staging,
        };
        let streamed = Store::new(3);
        load_generated(&streamed, &profile, 9).unwrap();
        let whole = Store::new(3);
        whole.load(generate_cluster(&profile, 9)).unwrap();
        assert_eq!(streamed.head(), whole.head());
        for plural in [
            "pods",
            "services",
            "deployments.apps",
            "namespaces",
            "events",
        ] {
            let (a, b) = (streamed.objects(plural), whole.objects(plural));
            assert!(!a.is_empty(), "{plural}");
            assert_eq!(a, b, "{plural}");
        }
    }
}
