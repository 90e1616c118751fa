//! Building a session from arguments: kubeconfig or the demo fleet.

use std::sync::Arc;

use kq_engine::Engine;
use kq_engine::snapshot::{self, Location, Selection, SnapshotSchema};
use kq_providers::failures::{FailureKind, FailureLog, Severity};
use kq_providers::kubernetes::KubeSchema;
use kq_providers::kubernetes::config::{
    ConfigError, ConnectOptions, ContextSelector, KubeconfigSource, connect_loaded,
    load_kubeconfig, select_contexts,
};
use kq_providers::kubernetes::manifests::{self, LoadOptions, ManifestSet, ManifestSource};
use kq_providers::kubernetes::scan::ScanOptions;
use kq_providers::kubernetes::tables::TableOptions;

use crate::Failure;
use crate::args::Sources;

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

/// The session of a query front end (one-shot or shell): on Ballista when
/// `--ballista` names a scheduler.
pub async fn open(
    sources: &Sources,
    ballista: Option<&str>,
    live: bool,
) -> Result<Session, Failure> {
    let session = build(sources, live).await?;
    match ballista {
        Some(url) => on_ballista(session, url).await,
        None => Ok(session),
    }
}

/// Builds the session; `live` keeps every table read current by watches.
pub async fn build(args: &Sources, live: bool) -> Result<Session, Failure> {
    build_reusing(args, live, None).await
}

/// Like [`build`], but a REPL switching clusters keeps the demo fleet of
/// its previous session instead of starting a new one.
pub async fn build_reusing(
    args: &Sources,
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
        timeout: args.timeout,
        in_cluster_name: args.in_cluster_name.clone(),
        impersonate_user: args.as_user.clone(),
        impersonate_groups: args.as_group.clone(),
    };
    // Reading only snapshots or report history needs no cluster:
    // unqualified names read them. Naming clusters (--context, -A, --demo) adds the live tables, and
    // snapshots are then schema `snapshots`.
    let offline = (args.snapshots.is_some() || args.reports.is_some() || args.reads_manifests())
        && !args.demo
        && !args.needs_clusters
        && args.context.is_none()
        && !args.all_contexts;
    let loaded = if offline {
        kq_providers::kubernetes::config::LoadedKubeconfig {
            config: None,
            origin: String::new(),
        }
    } else {
        load_kubeconfig(&source).map_err(|e| Failure::usage(e.to_string()))?
    };
    // Someone asking only about AWS need not have a kubeconfig: without
    // one, the Kubernetes tables are empty (no cluster selected).
    let aws_only = ((cfg!(feature = "aws")
        && (!args.aws_profile.is_empty() || !args.aws_region.is_empty()))
        || (cfg!(feature = "gcp") && !args.gcp_project.is_empty())
        || (cfg!(feature = "azure") && !args.azure_subscription.is_empty()))
        && args.kubeconfig.is_none()
        && args.context.is_none()
        && !args.all_contexts;
    let conns = if offline {
        Vec::new()
    } else {
        match connect_loaded(&loaded, &selector, &options).await {
            Ok(conns) => conns,
            Err(ConfigError::NoKubeconfig) if aws_only => Vec::new(),
            Err(e) => return Err(Failure::usage(e.to_string())),
        }
    };
    // Settings kubectl accepts silently but a user must know about, once.
    for warning in conns.iter().flat_map(|c| c.warnings()) {
        eprintln!("kq: warning: {warning}");
    }
    let mut clusters: Vec<String> = conns.iter().map(|c| c.name.clone()).collect();
    // kubectl's -A means all namespaces; kq's means every context. Someone
    // at a terminal sees which clusters that is before the answer.
    if args.all_contexts && std::io::IsTerminal::is_terminal(&std::io::stderr()) {
        eprintln!(
            "kq: -A reads every kubeconfig context ({}): {}",
            clusters.len(),
            clusters.join(", ")
        );
    }
    let contexts = loaded
        .config
        .as_ref()
        .and_then(|config| select_contexts(config, &loaded.origin, &ContextSelector::All).ok())
        .unwrap_or_else(|| clusters.clone());
    let manifests = load_manifests(args)?;
    let manifest_names: Vec<String> = manifests.iter().map(|set| set.name.clone()).collect();
    clusters.extend(manifest_names.iter().cloned());
    let failures = FailureLog::new();
    // Objects left out of the manifests: said once here, kept in kq_errors.
    for set in &manifests {
        for problem in &set.problems {
            failures.record(
                &set.name,
                manifests::PROBLEMS_TABLE,
                Severity::Warning,
                FailureKind::Manifest,
                problem.to_string(),
            );
        }
    }
    failures.all().iter().for_each(crate::print::print_failure);
    let schema = KubeSchema::with_manifests(
        conns,
        manifests,
        failures.clone(),
        ScanOptions {
            page_size: args.chunk_size,
            fallback_namespaces: args.namespaces.clone(),
            namespace_scope: args.namespace.clone(),
            live,
            ..ScanOptions::default()
        },
        TableOptions {
            show_secret_values: args.show_secret_values,
        },
    );
    let mut extra = aws_schemas(args, &failures).await?;
    extra.extend(gcp_schemas(args, &failures).await?);
    extra.extend(azure_schemas(args, &failures).await?);
    let mut snapshot_location = None;
    if let Some(url) = &args.snapshots {
        let location = Location::parse(url, false).map_err(|e| Failure::usage(e.to_string()))?;
        let selection = match (args.at, args.history) {
            (Some(at), _) => Selection::At(at),
            (None, true) => Selection::History,
            (None, false) => Selection::Latest,
        };
        snapshot_location = Some(location.clone());
        let mark = failures.mark();
        let snapshots = SnapshotSchema::open(location, selection, failures.clone())
            .await
            .map_err(|e| Failure::usage(e.to_string()))?;
        // Rows answered from an older snapshot, or missing: said once here.
        failures
            .since(mark)
            .iter()
            .for_each(crate::print::print_failure);
        if offline {
            // What a report or the progress line calls "the clusters".
            clusters = snapshots.clusters();
            clusters.extend(manifest_names.iter().cloned());
        }
        extra.push((snapshot::SCHEMA.to_string(), Arc::new(snapshots)));
    }
    let mut engine =
        Engine::new(schema, failures, extra).map_err(|e| Failure::usage(e.to_string()))?;
    if let Some(location) = &snapshot_location {
        engine.register_location(location);
    }
    if offline && args.snapshots.is_some() {
        engine = engine
            .with_default_schema(snapshot::SCHEMA)
            .map_err(|e| Failure::usage(e.to_string()))?;
    }
    // In the default schema: over the snapshots when offline.
    engine
        .install_views()
        .await
        .map_err(|e| Failure::usage(e.to_string()))?;
    if let Some(dir) = &args.reports {
        engine
            .register_report_history(dir)
            .map_err(|e| Failure::usage(e.to_string()))?;
    }
    Ok(Session {
        engine,
        clusters,
        contexts,
        demo,
    })
}

/// The objects of `--manifests` and `--kustomize`; with `--strict`, a
/// problem in a file is the command's error.
fn load_manifests(args: &Sources) -> Result<Vec<ManifestSet>, Failure> {
    let specs = args
        .manifests
        .iter()
        .map(|spec| ManifestSource::parse(spec, false))
        .chain(
            args.kustomize
                .iter()
                .map(|spec| ManifestSource::parse(spec, true)),
        )
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| Failure::usage(e.to_string()))?;
    if specs.is_empty() {
        return Ok(Vec::new());
    }
    let options = LoadOptions {
        // As kubectl apply -n: objects that name no namespace land there.
        default_namespace: match args.namespace.as_slice() {
            [only] => only.clone(),
            _ => "default".to_string(),
        },
        ..LoadOptions::default()
    };
    let sets = manifests::load(&specs, &options).map_err(|e| Failure::usage(e.to_string()))?;
    if args.strict {
        let problems: Vec<_> = sets.iter().flat_map(|set| &set.problems).collect();
        if let Some(first) = problems.first() {
            let more = match problems.len() {
                1 => String::new(),
                n => format!(" ({} more problems)", n - 1),
            };
            return Err(Failure::usage(format!(
                "{first}{more}; fix the file, or drop --strict to read the rest and list the problems in kq_errors"
            )));
        }
    }
    Ok(sets)
}

/// The session's queries planned here and run on the Ballista scheduler at
/// `url` (`--ballista`), or on one started in this process (`standalone`).
pub async fn on_ballista(mut session: Session, url: &str) -> Result<Session, Failure> {
    session.engine = ballista_engine(session.engine, url).await?;
    Ok(session)
}

#[cfg(feature = "ballista")]
async fn ballista_engine(engine: Engine, url: &str) -> Result<Engine, Failure> {
    use kq_engine::distributed;
    let url = if url == "standalone" {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        distributed::start_standalone(cores)
            .await
            .map_err(|e| Failure::usage(e.to_string()))?
    } else {
        url.to_string()
    };
    engine
        .on_ballista(&url)
        .map_err(|e| Failure::usage(e.to_string()))
}

#[cfg(not(feature = "ballista"))]
async fn ballista_engine(_engine: Engine, _url: &str) -> Result<Engine, Failure> {
    Err(Failure::usage(
        "this kq was built without Ballista support; build it with `cargo build --release -p kq-cli --features ballista`, or drop --ballista to run the query here",
    ))
}

/// Schema `gcp`. With --gcp-project the credentials and projects are
/// resolved now, so a bad project id or missing credentials is the
/// command's error; otherwise on first use.
#[cfg(feature = "gcp")]
async fn gcp_schemas(
    args: &Sources,
    failures: &FailureLog,
) -> Result<Vec<(String, Arc<dyn datafusion::catalog::SchemaProvider>)>, Failure> {
    use kq_providers::gcp::{GcpOptions, GcpSchema, SCHEMA};
    let options = GcpOptions {
        projects: args.gcp_project.clone(),
        timeout: args.timeout,
    };
    let schema = GcpSchema::new(options, failures.clone());
    if !args.gcp_project.is_empty() {
        schema
            .connect()
            .await
            .map_err(|e| Failure::usage(e.to_string()))?;
    }
    Ok(vec![(SCHEMA.to_string(), Arc::new(schema))])
}

/// Without the `gcp` feature: --gcp-project is an error, and schema `gcp`
/// answers every table with how to get a kq that has it.
#[cfg(not(feature = "gcp"))]
async fn gcp_schemas(
    args: &Sources,
    _failures: &FailureLog,
) -> Result<Vec<(String, Arc<dyn datafusion::catalog::SchemaProvider>)>, Failure> {
    if !args.gcp_project.is_empty() {
        return Err(Failure::usage(NO_GCP.to_string()));
    }
    Ok(vec![("gcp".to_string(), Arc::new(MissingProvider(NO_GCP)))])
}

#[cfg(not(feature = "gcp"))]
const NO_GCP: &str = "this kq was built without GCP support; build it with `cargo build --release -p kq-cli --features gcp` to query schema gcp and use --gcp-project";

/// Schema `azure`. With --azure-subscription the cloud, credentials and
/// subscriptions are resolved now, so an unknown subscription or missing
/// credentials is the command's error; otherwise on first use.
#[cfg(feature = "azure")]
async fn azure_schemas(
    args: &Sources,
    failures: &FailureLog,
) -> Result<Vec<(String, Arc<dyn datafusion::catalog::SchemaProvider>)>, Failure> {
    use kq_providers::azure::{AzureOptions, AzureSchema, SCHEMA};
    let options = AzureOptions {
        subscriptions: args.azure_subscription.clone(),
        timeout: args.timeout,
    };
    let schema = AzureSchema::new(options, failures.clone());
    if !args.azure_subscription.is_empty() {
        schema
            .connect()
            .await
            .map_err(|e| Failure::usage(e.to_string()))?;
    }
    Ok(vec![(SCHEMA.to_string(), Arc::new(schema))])
}

/// Without the `azure` feature: --azure-subscription is an error, and
/// schema `azure` answers every table with how to get a kq that has it.
#[cfg(not(feature = "azure"))]
async fn azure_schemas(
    args: &Sources,
    _failures: &FailureLog,
) -> Result<Vec<(String, Arc<dyn datafusion::catalog::SchemaProvider>)>, Failure> {
    if !args.azure_subscription.is_empty() {
        return Err(Failure::usage(NO_AZURE.to_string()));
    }
    Ok(vec![(
        "azure".to_string(),
        Arc::new(MissingProvider(NO_AZURE)),
    )])
}

#[cfg(not(feature = "azure"))]
const NO_AZURE: &str = "this kq was built without Azure support; build it with `cargo build --release -p kq-cli --features azure` to query schema azure and use --azure-subscription";

/// Schema `aws`. With AWS flags the accounts are resolved now, so a bad
/// profile or region is the command's error; otherwise on first use.
#[cfg(feature = "aws")]
async fn aws_schemas(
    args: &Sources,
    failures: &FailureLog,
) -> Result<Vec<(String, Arc<dyn datafusion::catalog::SchemaProvider>)>, Failure> {
    use kq_providers::aws::{AwsOptions, AwsSchema, SCHEMA};
    let options = AwsOptions {
        profiles: args.aws_profile.clone(),
        regions: args.aws_region.clone(),
        timeout: args.timeout,
    };
    let schema = AwsSchema::new(options, failures.clone());
    if !args.aws_profile.is_empty() || !args.aws_region.is_empty() {
        schema
            .connect()
            .await
            .map_err(|e| Failure::usage(e.to_string()))?;
    }
    Ok(vec![(SCHEMA.to_string(), Arc::new(schema))])
}

/// Without the `aws` feature: AWS flags are an error, and schema `aws`
/// answers every table with how to get a kq that has it.
#[cfg(not(feature = "aws"))]
async fn aws_schemas(
    args: &Sources,
    _failures: &FailureLog,
) -> Result<Vec<(String, Arc<dyn datafusion::catalog::SchemaProvider>)>, Failure> {
    if !args.aws_profile.is_empty() || !args.aws_region.is_empty() {
        return Err(Failure::usage(NO_AWS.to_string()));
    }
    Ok(vec![("aws".to_string(), Arc::new(MissingProvider(NO_AWS)))])
}

#[cfg(not(feature = "aws"))]
const NO_AWS: &str = "this kq was built without AWS support; build it with `cargo build --release -p kq-cli --features aws` to query schema aws and use --aws-profile/--aws-region";

/// A cloud schema this build leaves out: no tables, and any table name
/// answers with how to build a kq that has them.
#[cfg(any(not(feature = "aws"), not(feature = "gcp"), not(feature = "azure")))]
#[derive(Debug)]
struct MissingProvider(&'static str);

#[cfg(any(not(feature = "aws"), not(feature = "gcp"), not(feature = "azure")))]
#[async_trait::async_trait]
impl datafusion::catalog::SchemaProvider for MissingProvider {
    fn table_names(&self) -> Vec<String> {
        Vec::new()
    }

    async fn table(
        &self,
        _name: &str,
    ) -> datafusion::error::Result<Option<Arc<dyn datafusion::datasource::TableProvider>>> {
        Err(datafusion::error::DataFusionError::Plan(self.0.to_string()))
    }

    fn table_exist(&self, _name: &str) -> bool {
        false
    }
}
