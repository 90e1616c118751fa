//! Building a session from arguments: kubeconfig or the demo fleet.

use std::sync::Arc;
use std::time::Duration;

use kq_engine::Engine;
use kq_providers::failures::FailureLog;
use kq_providers::kubernetes::KubeSchema;
use kq_providers::kubernetes::config::{
    ConnectOptions, ContextSelector, KubeconfigSource, connect_loaded, load_kubeconfig,
    select_contexts,
};
use kq_providers::kubernetes::scan::ScanOptions;
use kq_providers::kubernetes::tables::TableOptions;

use crate::Failure;
use crate::args::Args;

/// A ready session, and the demo fleet behind it when `--demo` is used
/// (kept alive for as long as the session).
pub struct Session {
    pub engine: Engine,
    /// The selected contexts, in query order.
    pub clusters: Vec<String>,
    /// Every context of the kubeconfig (what `\c` can switch to).
    pub contexts: Vec<String>,
    demo: Option<Arc<kq_sim::Fleet>>,
}

/// Builds the session; `live` keeps every table read current by watches.
pub async fn build(args: &Args, live: bool) -> Result<Session, Failure> {
    build_reusing(args, live, None).await
}

/// Like [`build`], but a REPL switching clusters keeps the demo fleet of
/// its previous session instead of starting a new one.
pub async fn build_reusing(
    args: &Args,
    live: bool,
    previous: Option<&Session>,
) -> Result<Session, Failure> {
    let demo = match (args.demo, previous.and_then(|p| p.demo.clone())) {
        (false, _) => None,
        (true, Some(fleet)) => Some(fleet),
        (true, None) => Some(Arc::new(
            kq_sim::start(kq_sim::FleetConfig::demo())
                .await
                .map_err(|e| Failure::usage(format!("cannot start the demo fleet: {e}")))?,
        )),
    };
    let source = match (&demo, &args.kubeconfig) {
        (Some(fleet), _) => KubeconfigSource::Inline(fleet.kubeconfig_yaml()),
        (None, Some(path)) => KubeconfigSource::File(path.clone()),
        (None, None) => KubeconfigSource::Default,
    };
    let selector = if args.all_contexts {
        ContextSelector::All
    } else if let Some(flag) = &args.context {
        ContextSelector::from_flag(flag)
    } else if demo.is_some() {
        // The demo is about the fleet: all of it unless told otherwise.
        ContextSelector::All
    } else {
        ContextSelector::Current
    };
    let options = ConnectOptions {
        timeout: Duration::from_secs(args.timeout.max(1)),
    };
    let loaded = load_kubeconfig(&source).map_err(|e| Failure::usage(e.to_string()))?;
    let conns = connect_loaded(&loaded, &selector, &options)
        .await
        .map_err(|e| Failure::usage(e.to_string()))?;
    let clusters: Vec<String> = conns.iter().map(|c| c.name.clone()).collect();
    let contexts = loaded
        .config
        .as_ref()
        .and_then(|config| select_contexts(config, &loaded.origin, &ContextSelector::All).ok())
        .unwrap_or_else(|| clusters.clone());
    let failures = FailureLog::new();
    let schema = KubeSchema::new(
        conns,
        failures.clone(),
        ScanOptions {
            page_size: args.chunk_size,
            fallback_namespaces: args.namespaces.clone(),
            live,
            ..ScanOptions::default()
        },
        TableOptions {
            show_secret_values: args.show_secret_values,
        },
    );
    let engine =
        Engine::new(schema, failures, Vec::new()).map_err(|e| Failure::usage(e.to_string()))?;
    engine
        .install_views()
        .await
        .map_err(|e| Failure::usage(e.to_string()))?;
    Ok(Session {
        engine,
        clusters,
        contexts,
        demo,
    })
}
