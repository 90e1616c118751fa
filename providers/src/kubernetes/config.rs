//! Which clusters a session talks to: kubeconfig loading and context selection.
//!
//! kq resolves kubeconfig exactly as kubectl does (`--kubeconfig`, else the
//! merged `KUBECONFIG` list, else `~/.kube/config`, else in-cluster), then
//! selects contexts by name, glob or all. Every selected context becomes one
//! [`ClusterConn`]; the context name is the value of the `cluster` column.

use std::path::{Path, PathBuf};
use std::time::Duration;

use kube::config::{KubeConfigOptions, Kubeconfig, KubeconfigError};

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
}

impl Default for ConnectOptions {
    fn default() -> Self {
        Self {
            timeout: Duration::from_secs(30),
        }
    }
}

/// One selected cluster: its context name and a ready client.
#[derive(Clone)]
pub struct ClusterConn {
    /// The kubeconfig context name; the `cluster` column of every row.
    pub name: String,
    pub client: kube::Client,
    /// The same credentials for long-lived watches: no per-read timeout
    /// (an idle watch is silent for minutes), only a dead-connection bound.
    pub watch_client: kube::Client,
    /// The context's namespace (or `default`): what a namespace-scoped user can read at least.
    pub default_namespace: String,
}

impl std::fmt::Debug for ClusterConn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The client holds credentials: never print it.
        f.debug_struct("ClusterConn")
            .field("name", &self.name)
            .field("default_namespace", &self.default_namespace)
            .finish()
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
    #[error("cannot create a client for context '{context}': {source}")]
    BuildClient {
        context: String,
        #[source]
        source: Box<kube::Error>,
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

/// Builds one client per selected context. Building does no I/O: exec
/// credential plugins and TLS run on the first request, so a broken cluster
/// shows up as a per-cluster failure at query time, not here.
pub async fn connect(
    source: &KubeconfigSource,
    selector: &ContextSelector,
    options: &ConnectOptions,
) -> Result<Vec<ClusterConn>, ConfigError> {
    connect_loaded(&load_kubeconfig(source)?, selector, options).await
}

/// [`connect`] for a kubeconfig already loaded (a caller that also reads
/// its context list loads it once).
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
        let config = kube::Config::from_custom_kubeconfig(kubeconfig.clone(), &kube_options)
            .await
            .map_err(|e| ConfigError::BuildConfig {
                context: context.clone(),
                path: loaded.origin.clone(),
                source: Box::new(e),
            })?;
        let (client, watch_client) = clients(config, options, &context)?;
        let default_namespace = client.default_namespace().to_string();
        conns.push(ClusterConn {
            name: context,
            client,
            watch_client,
            default_namespace,
        });
    }
    Ok(conns)
}

fn connect_in_cluster(options: &ConnectOptions) -> Result<Vec<ClusterConn>, ConfigError> {
    let config = kube::Config::incluster().map_err(|_| ConfigError::NoKubeconfig)?;
    let (client, watch_client) = clients(config, options, "in-cluster")?;
    let default_namespace = client.default_namespace().to_string();
    Ok(vec![ClusterConn {
        name: "in-cluster".to_string(),
        client,
        watch_client,
        default_namespace,
    }])
}

/// Watches ask the server to end them within this long; a watch connection
/// silent for longer than this plus a margin is presumed dead.
const WATCH_READ_TIMEOUT: Duration = Duration::from_secs(360);

/// The request client and the watch client of one context.
fn clients(
    mut config: kube::Config,
    options: &ConnectOptions,
    context: &str,
) -> Result<(kube::Client, kube::Client), ConfigError> {
    config.connect_timeout = Some(options.timeout);
    config.read_timeout = Some(options.timeout);
    let mut watch_config = config.clone();
    watch_config.read_timeout = Some(WATCH_READ_TIMEOUT);
    let build = |config: kube::Config| {
        kube::Client::try_from(config).map_err(|e| ConfigError::BuildClient {
            context: context.to_string(),
            source: Box::new(e),
        })
    };
    Ok((build(config)?, build(watch_config)?))
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
