//! Which clusters a session talks to: kubeconfig loading and context selection.
//!
//! kq resolves kubeconfig exactly as kubectl does (`--kubeconfig`, else the
//! merged `KUBECONFIG` list, else `~/.kube/config`, else in-cluster), then
//! selects contexts by name, glob or all. Every selected context becomes one
//! [`ClusterConn`]; the context name is the value of the `cluster` column.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use kube::config::{KubeConfigOptions, Kubeconfig, KubeconfigError};

use super::transport::{BuildFailure, Timeouts, Transport};

/// Where the kubeconfig comes from.
#[derive(Clone, Debug, Default)]
pub enum KubeconfigSource {
    /// kubectl's resolution order: `KUBECONFIG`, `~/.kube/config`, in-cluster.
    #[default]
    Default,
    /// An explicit file (`--kubeconfig`).
    File(PathBuf),
    /// Kubeconfig text held in memory (the embedded demo fleet).
    Inline(String),
}

/// Which contexts of the kubeconfig to query.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum ContextSelector {
    /// The kubeconfig's current context.
    #[default]
    Current,
    /// Names or glob patterns (`prod-*`), in the user's order.
    Patterns(Vec<String>),
    /// Every context in the kubeconfig.
    All,
}

impl ContextSelector {
    /// Parses `--context a,b,prod-*`; an empty list means the current context.
    pub fn from_flag(value: &str) -> Self {
        let patterns: Vec<String> = value
            .split(',')
            .map(str::trim)
            .filter(|p| !p.is_empty())
            .map(str::to_string)
            .collect();
        if patterns.is_empty() {
            Self::Current
        } else if patterns.iter().any(|p| p == "*") {
            Self::All
        } else {
            Self::Patterns(patterns)
        }
    }
}

/// Per-cluster connection settings.
#[derive(Clone, Debug)]
pub struct ConnectOptions {
    /// Bound on connecting and on each read from the API server.
    pub timeout: Duration,
    /// The `cluster` value of an in-cluster connection (default
    /// `in-cluster`): agents in many clusters writing one snapshot store
    /// need distinct names.
    pub in_cluster_name: Option<String>,
    /// `--as`: the user every request impersonates (kubectl's `--as`);
    /// replaces the kubeconfig's `as`.
    pub impersonate_user: Option<String>,
    /// `--as-group`: the groups impersonated with it.
    pub impersonate_groups: Vec<String>,
}

impl ConnectOptions {
    /// The connection's config with `--as`/`--as-group` applied: the
    /// Impersonate-* headers kube-rs adds, as kubectl sends them.
    fn impersonating(&self, mut config: kube::Config) -> kube::Config {
        if let Some(user) = &self.impersonate_user {
            config.auth_info.impersonate = Some(user.clone());
            config.auth_info.impersonate_groups =
                (!self.impersonate_groups.is_empty()).then(|| self.impersonate_groups.clone());
        }
        config
    }
}

impl Default for ConnectOptions {
    fn default() -> Self {
        Self {
            timeout: Duration::from_secs(30),
            in_cluster_name: None,
            impersonate_user: None,
            impersonate_groups: Vec::new(),
        }
    }
}

/// One selected cluster: its context name and its connection.
#[derive(Clone)]
pub struct ClusterConn {
    /// The kubeconfig context name; the `cluster` column of every row.
    pub name: String,
    /// The context's namespace (or `default`): what a namespace-scoped user can read at least.
    pub default_namespace: String,
    pub(crate) transport: Arc<Transport>,
    /// How far this cluster's lists have got (shared by every list).
    pub progress: Arc<super::progress::ListProgress>,
}

impl std::fmt::Debug for ClusterConn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The transport holds credentials: never print it.
        f.debug_struct("ClusterConn")
            .field("name", &self.name)
            .field("server", &self.server())
            .field("default_namespace", &self.default_namespace)
            .finish()
    }
}

impl ClusterConn {
    /// The API server URL, as the kubeconfig gives it.
    pub fn server(&self) -> &str {
        self.transport.server()
    }

    /// Warnings about this cluster's settings a user must see once per
    /// session (kubectl allows them silently; kq says so).
    pub fn warnings(&self) -> Vec<String> {
        let mut warnings = Vec::new();
        if self.transport.skips_tls_verification() {
            warnings.push(format!(
                "cluster '{}': TLS certificate verification is disabled (insecure-skip-tls-verify in the kubeconfig); anyone on the network path to {} can read and change what kq receives",
                self.name,
                self.server()
            ));
        }
        warnings
    }

    /// A cluster whose kubeconfig entry is unusable: every request fails
    /// with `failure`, the other clusters answer.
    fn unusable(
        name: String,
        server: &str,
        default_namespace: String,
        failure: BuildFailure,
        options: &ConnectOptions,
    ) -> Self {
        Self {
            name,
            default_namespace,
            transport: Arc::new(Transport::unusable(server, failure, timeouts(options))),
            progress: Arc::default(),
        }
    }

    #[cfg(test)]
    pub(crate) fn for_tests(name: &str, server: &str) -> Self {
        Self::unusable(
            name.to_string(),
            server,
            "default".to_string(),
            BuildFailure::Config("test cluster".into()),
            &ConnectOptions::default(),
        )
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read kubeconfig {path}: {source}")]
    ReadKubeconfig {
        path: String,
        #[source]
        source: Box<KubeconfigError>,
    },
    #[error(
        "no kubeconfig found (looked at KUBECONFIG, ~/.kube/config and the in-cluster service account); pass --kubeconfig PATH or try --demo"
    )]
    NoKubeconfig,
    #[error(
        "kubeconfig {path} has no current-context; pass --context NAME (available: {available})"
    )]
    NoCurrentContext { path: String, available: String },
    #[error("unknown context '{name}' in kubeconfig {path}; available contexts: {available}")]
    UnknownContext {
        name: String,
        path: String,
        available: String,
    },
    #[error("invalid context pattern '{pattern}': {reason}")]
    BadPattern { pattern: String, reason: String },
    #[error("cannot configure context '{context}' from kubeconfig {path}: {source}")]
    BuildConfig {
        context: String,
        path: String,
        #[source]
        source: Box<KubeconfigError>,
    },
}

/// A loaded kubeconfig and a description of where it came from, for messages.
pub struct LoadedKubeconfig {
    pub config: Option<Kubeconfig>,
    pub origin: String,
}

/// Loads the kubeconfig as kubectl would; `config` is `None` only when
/// nothing exists and the caller may fall back to in-cluster config.
pub fn load_kubeconfig(source: &KubeconfigSource) -> Result<LoadedKubeconfig, ConfigError> {
    let read_error = |path: &str, e: KubeconfigError| ConfigError::ReadKubeconfig {
        path: path.to_string(),
        source: Box::new(e),
    };
    match source {
        KubeconfigSource::Inline(text) => Ok(LoadedKubeconfig {
            config: Some(Kubeconfig::from_yaml(text).map_err(|e| read_error("(inline)", e))?),
            origin: "(inline)".to_string(),
        }),
        KubeconfigSource::File(path) => {
            let shown = path.display().to_string();
            Ok(LoadedKubeconfig {
                config: Some(Kubeconfig::read_from(path).map_err(|e| read_error(&shown, e))?),
                origin: shown,
            })
        }
        KubeconfigSource::Default => {
            if let Some(value) = std::env::var_os("KUBECONFIG").filter(|v| !v.is_empty()) {
                let shown = value.to_string_lossy().to_string();
                // Kubeconfig::from_env panics on NUL; reject it ourselves first.
                if shown.contains('\0') {
                    return Err(read_error(&shown, KubeconfigError::FindPath));
                }
                let config = Kubeconfig::from_env().map_err(|e| read_error(&shown, e))?;
                return Ok(LoadedKubeconfig {
                    config,
                    origin: format!("KUBECONFIG={shown}"),
                });
            }
            match default_kubeconfig_path() {
                Some(path) if path.exists() => {
                    let shown = path.display().to_string();
                    Ok(LoadedKubeconfig {
                        config: Some(
                            Kubeconfig::read_from(&path).map_err(|e| read_error(&shown, e))?,
                        ),
                        origin: shown,
                    })
                }
                _ => Ok(LoadedKubeconfig {
                    config: None,
                    origin: "in-cluster".to_string(),
                }),
            }
        }
    }
}

fn default_kubeconfig_path() -> Option<PathBuf> {
    std::env::var_os("HOME").map(|home| Path::new(&home).join(".kube").join("config"))
}

/// Resolves the selector against the kubeconfig's contexts, in kubeconfig order
/// for globs and `All`, in the user's order for plain names.
pub fn select_contexts(
    kubeconfig: &Kubeconfig,
    origin: &str,
    selector: &ContextSelector,
) -> Result<Vec<String>, ConfigError> {
    let names: Vec<&str> = kubeconfig
        .contexts
        .iter()
        .map(|c| c.name.as_str())
        .collect();
    let available = || {
        if names.is_empty() {
            "none".to_string()
        } else {
            names.join(", ")
        }
    };
    match selector {
        ContextSelector::All => Ok(names.iter().map(|n| n.to_string()).collect()),
        ContextSelector::Current => match &kubeconfig.current_context {
            Some(current) if !current.is_empty() => {
                if names.contains(&current.as_str()) {
                    Ok(vec![current.clone()])
                } else {
                    Err(ConfigError::UnknownContext {
                        name: current.clone(),
                        path: origin.to_string(),
                        available: available(),
                    })
                }
            }
            _ => Err(ConfigError::NoCurrentContext {
                path: origin.to_string(),
                available: available(),
            }),
        },
        ContextSelector::Patterns(patterns) => {
            let mut selected: Vec<String> = Vec::new();
            for pattern in patterns {
                let matched: Vec<&str> = if is_glob(pattern) {
                    let compiled =
                        glob::Pattern::new(pattern).map_err(|e| ConfigError::BadPattern {
                            pattern: pattern.clone(),
                            reason: e.msg.to_string(),
                        })?;
                    names
                        .iter()
                        .copied()
                        .filter(|n| compiled.matches(n))
                        .collect()
                } else {
                    names.iter().copied().filter(|n| n == pattern).collect()
                };
                if matched.is_empty() {
                    return Err(ConfigError::UnknownContext {
                        name: pattern.clone(),
                        path: origin.to_string(),
                        available: available(),
                    });
                }
                for name in matched {
                    if !selected.iter().any(|s| s == name) {
                        selected.push(name.to_string());
                    }
                }
            }
            Ok(selected)
        }
    }
}

fn is_glob(pattern: &str) -> bool {
    pattern.contains(['*', '?', '['])
}

/// Makes one connection per selected context. Nothing is sent yet: TLS,
/// exec credential plugins and token files are used on a cluster's first
/// request, so a broken cluster shows up as that cluster's failure at
/// query time, not here.
pub async fn connect(
    source: &KubeconfigSource,
    selector: &ContextSelector,
    options: &ConnectOptions,
) -> Result<Vec<ClusterConn>, ConfigError> {
    connect_loaded(&load_kubeconfig(source)?, selector, options).await
}

/// [`connect`] for a kubeconfig already loaded (a caller that also reads
/// its context list loads it once).
///
/// A context that names no cluster, or a cluster without a usable server
/// URL, makes the kubeconfig malformed: an error. A context whose files or
/// certificate data cannot be read is that cluster's failure only.
pub async fn connect_loaded(
    loaded: &LoadedKubeconfig,
    selector: &ContextSelector,
    options: &ConnectOptions,
) -> Result<Vec<ClusterConn>, ConfigError> {
    let Some(kubeconfig) = &loaded.config else {
        return connect_in_cluster(options);
    };
    let contexts = select_contexts(kubeconfig, &loaded.origin, selector)?;
    let mut conns = Vec::with_capacity(contexts.len());
    for context in contexts {
        let kube_options = KubeConfigOptions {
            context: Some(context.clone()),
            ..Default::default()
        };
        match kube::Config::from_custom_kubeconfig(kubeconfig.clone(), &kube_options).await {
            Ok(config) => conns.push(ClusterConn {
                name: context,
                default_namespace: config.default_namespace.clone(),
                transport: Arc::new(Transport::new(
                    options.impersonating(config),
                    timeouts(options),
                )),
                progress: Arc::default(),
            }),
            Err(error) => match cluster_failure(&error) {
                Some(failure) => {
                    let (server, namespace) = context_server(kubeconfig, &context);
                    conns.push(ClusterConn::unusable(
                        context, &server, namespace, failure, options,
                    ));
                }
                None => {
                    return Err(ConfigError::BuildConfig {
                        context,
                        path: loaded.origin.clone(),
                        source: Box::new(error),
                    });
                }
            },
        }
    }
    Ok(conns)
}

/// Errors of one context's files and data: that cluster's failure, not
/// the kubeconfig's.
fn cluster_failure(error: &KubeconfigError) -> Option<BuildFailure> {
    let text = error.to_string();
    match error {
        KubeconfigError::LoadCertificateAuthority(_) | KubeconfigError::ParseCertificates(_) => {
            Some(BuildFailure::Tls(format!(
                "{text}; check certificate-authority(-data) in the kubeconfig"
            )))
        }
        KubeconfigError::LoadClientCertificate(_) | KubeconfigError::LoadClientKey(_) => {
            Some(BuildFailure::Credentials(format!(
                "{text}; check client-certificate(-data) and client-key(-data) in the kubeconfig"
            )))
        }
        KubeconfigError::ParseProxyUrl(_) => Some(BuildFailure::Config(format!(
            "{text}; check proxy-url in the kubeconfig"
        ))),
        _ => None,
    }
}

/// The server URL and namespace a context names, read from the raw
/// kubeconfig (for messages about a context kube-rs could not load).
fn context_server(kubeconfig: &Kubeconfig, context: &str) -> (String, String) {
    let named = kubeconfig.contexts.iter().find(|c| c.name == context);
    let details = named.and_then(|c| c.context.as_ref());
    let namespace = details
        .and_then(|c| c.namespace.clone())
        .unwrap_or_else(|| "default".to_string());
    let server = details
        .and_then(|c| kubeconfig.clusters.iter().find(|k| k.name == c.cluster))
        .and_then(|k| k.cluster.as_ref())
        .and_then(|k| k.server.clone())
        .unwrap_or_else(|| format!("(the server of context {context})"));
    (server, namespace)
}

fn connect_in_cluster(options: &ConnectOptions) -> Result<Vec<ClusterConn>, ConfigError> {
    let config = kube::Config::incluster().map_err(|_| ConfigError::NoKubeconfig)?;
    Ok(vec![ClusterConn {
        name: options
            .in_cluster_name
            .clone()
            .unwrap_or_else(|| "in-cluster".to_string()),
        default_namespace: config.default_namespace.clone(),
        transport: Arc::new(Transport::new(
            options.impersonating(config),
            timeouts(options),
        )),
        progress: Arc::default(),
    }])
}

/// Watches ask the server to end them within this long; a watch connection
/// silent for longer than this plus a margin is presumed dead.
const WATCH_READ_TIMEOUT: Duration = Duration::from_secs(360);

fn timeouts(options: &ConnectOptions) -> Timeouts {
    Timeouts {
        request: options.timeout,
        watch_read: WATCH_READ_TIMEOUT,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kubeconfig(current: Option<&str>, contexts: &[&str]) -> Kubeconfig {
        let mut yaml = String::from("apiVersion: v1\nkind: Config\n");
        if let Some(current) = current {
            yaml.push_str(&format!("current-context: {current}\n"));
        }
        yaml.push_str("clusters:\n");
        for c in contexts {
            yaml.push_str(&format!(
                "- name: {c}\n  cluster:\n    server: https://127.0.0.1:1\n"
            ));
        }
        yaml.push_str("users:\n- name: u\n  user:\n    token: t\ncontexts:\n");
        for c in contexts {
            yaml.push_str(&format!(
                "- name: {c}\n  context:\n    cluster: {c}\n    user: u\n"
            ));
        }
        Kubeconfig::from_yaml(&yaml).unwrap()
    }

    #[test]
    fn selects_current_names_globs_and_all() {
        let k = kubeconfig(Some("dev"), &["prod-eu", "prod-us", "staging", "dev"]);
        assert_eq!(
            select_contexts(&k, "x", &ContextSelector::Current).unwrap(),
            ["dev"]
        );
        assert_eq!(
            select_contexts(&k, "x", &ContextSelector::from_flag("prod-*,dev")).unwrap(),
            ["prod-eu", "prod-us", "dev"]
        );
        assert_eq!(
            select_contexts(&k, "x", &ContextSelector::from_flag("staging,prod-us")).unwrap(),
            ["staging", "prod-us"]
        );
        assert_eq!(
            select_contexts(&k, "x", &ContextSelector::All)
                .unwrap()
                .len(),
            4
        );
        assert_eq!(ContextSelector::from_flag("*"), ContextSelector::All);
    }

    #[test]
    fn unknown_contexts_list_the_available_ones() {
        let k = kubeconfig(Some("dev"), &["prod", "dev"]);
        let err = select_contexts(&k, "/tmp/kc", &ContextSelector::from_flag("qa"))
            .unwrap_err()
            .to_string();
        assert_eq!(
            err,
            "unknown context 'qa' in kubeconfig /tmp/kc; available contexts: prod, dev"
        );
        let err = select_contexts(&k, "/tmp/kc", &ContextSelector::from_flag("qa-*"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("unknown context 'qa-*'"), "{err}");
    }

    #[test]
    fn missing_current_context_is_a_clear_error() {
        let k = kubeconfig(None, &["a"]);
        let err = select_contexts(&k, "kc", &ContextSelector::Current)
            .unwrap_err()
            .to_string();
        assert!(err.contains("has no current-context"), "{err}");
    }
}
