//! Queries over snapshots on an Apache Ballista cluster (feature
//! `ballista`): the client side of `kq --ballista`, an in-process
//! standalone cluster, and the scheduler and executor processes of
//! `kq-ballista`, all carrying kq's functions and snapshot tables.
//!
//! A Ballista client sends its logical plan to the scheduler, which plans
//! stages and sends physical plans to executors. Both hops decode names:
//! functions by name from the receiver's registry (so every process
//! registers kq's functions), tables through a codec (so every process
//! uses [`KqCodec`], which carries a snapshot table as the list of its
//! files). Live tables cannot travel: they read from clusters only the
//! client can reach, so a plan naming one is refused with one sentence.

use std::net::SocketAddr;
use std::sync::Arc;

use ballista_core::extension::{SessionConfigExt, SessionStateExt};
use ballista_core::registry::BallistaFunctionRegistry;
use ballista_core::serde::BallistaLogicalExtensionCodec;
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::catalog::TableProvider;
use datafusion::common::TableReference;
use datafusion::error::{DataFusionError, Result as DfResult};
use datafusion::execution::{SessionState, SessionStateBuilder, TaskContext};
use datafusion::logical_expr::{AggregateUDF, Extension, LogicalPlan, ScalarUDF, WindowUDF};
use datafusion::prelude::{SessionConfig, SessionContext};
use datafusion_proto::logical_plan::LogicalExtensionCodec;

use crate::snapshot::read::SnapshotTable;
use crate::{Engine, EngineError};

/// The port Ballista's scheduler listens on unless told otherwise.
pub const DEFAULT_SCHEDULER_PORT: u16 = 50050;

/// Marks a table in a plan as a kq snapshot table.
const SNAPSHOT_TAG: &[u8] = b"kq-snapshot\0";

/// Ballista's logical codec, plus kq's snapshot tables.
#[derive(Debug, Default)]
pub struct KqCodec {
    ballista: BallistaLogicalExtensionCodec,
}

impl LogicalExtensionCodec for KqCodec {
    fn try_decode(
        &self,
        buf: &[u8],
        inputs: &[LogicalPlan],
        ctx: &TaskContext,
    ) -> DfResult<Extension> {
        self.ballista.try_decode(buf, inputs, ctx)
    }

    fn try_encode(&self, node: &Extension, buf: &mut Vec<u8>) -> DfResult<()> {
        self.ballista.try_encode(node, buf)
    }

    fn try_decode_table_provider(
        &self,
        buf: &[u8],
        table_ref: &TableReference,
        schema: SchemaRef,
        ctx: &TaskContext,
    ) -> DfResult<Arc<dyn TableProvider>> {
        match buf.strip_prefix(SNAPSHOT_TAG) {
            Some(bytes) => SnapshotTable::from_bytes(bytes, schema)
                .map(|table| Arc::new(table) as Arc<dyn TableProvider>)
                .map_err(|e| DataFusionError::Plan(e.to_string())),
            None => self
                .ballista
                .try_decode_table_provider(buf, table_ref, schema, ctx),
        }
    }

    fn try_encode_table_provider(
        &self,
        table_ref: &TableReference,
        node: Arc<dyn TableProvider>,
        buf: &mut Vec<u8>,
    ) -> DfResult<()> {
        let any: &dyn std::any::Any = node.as_ref();
        match any.downcast_ref::<SnapshotTable>() {
            Some(table) => {
                buf.extend_from_slice(SNAPSHOT_TAG);
                buf.extend_from_slice(&table.to_bytes());
                Ok(())
            }
            None => Err(DataFusionError::Plan(format!(
                "table {table_ref} cannot be read on Ballista: only snapshot tables can (kq --ballista URL --snapshots DIR); drop --ballista to query live clusters"
            ))),
        }
    }

    fn try_decode_file_format(
        &self,
        buf: &[u8],
        ctx: &TaskContext,
    ) -> DfResult<Arc<dyn datafusion::datasource::file_format::FileFormatFactory>> {
        self.ballista.try_decode_file_format(buf, ctx)
    }

    fn try_encode_file_format(
        &self,
        buf: &mut Vec<u8>,
        node: Arc<dyn datafusion::datasource::file_format::FileFormatFactory>,
    ) -> DfResult<()> {
        self.ballista.try_encode_file_format(buf, node)
    }

    fn try_decode_udf(&self, name: &str, buf: &[u8]) -> DfResult<Arc<ScalarUDF>> {
        self.ballista.try_decode_udf(name, buf)
    }

    fn try_encode_udf(&self, node: &ScalarUDF, buf: &mut Vec<u8>) -> DfResult<()> {
        self.ballista.try_encode_udf(node, buf)
    }

    fn try_decode_udaf(&self, name: &str, buf: &[u8]) -> DfResult<Arc<AggregateUDF>> {
        self.ballista.try_decode_udaf(name, buf)
    }

    fn try_encode_udaf(&self, node: &AggregateUDF, buf: &mut Vec<u8>) -> DfResult<()> {
        self.ballista.try_encode_udaf(node, buf)
    }

    fn try_decode_udwf(&self, name: &str, buf: &[u8]) -> DfResult<Arc<WindowUDF>> {
        self.ballista.try_decode_udwf(name, buf)
    }

    fn try_encode_udwf(&self, node: &WindowUDF, buf: &mut Vec<u8>) -> DfResult<()> {
        self.ballista.try_encode_udwf(node, buf)
    }
}

/// A session state that knows kq's functions and codec: what a scheduler
/// plans with and an executor runs with.
pub fn kq_state(config: SessionConfig) -> DfResult<SessionState> {
    let config = without_dynamic_filters(config)
        .with_ballista_logical_extension_codec(Arc::new(KqCodec::default()));
    let mut ctx = SessionContext::new_with_config(config);
    crate::register_functions(&mut ctx)?;
    Ok(ctx.state())
}

/// Dynamic filters are shared state between operators of one process; a
/// plan cut into Ballista stages and decoded elsewhere loses the sharing
/// (a TopK decoded on an executor panics on it), so sessions that travel
/// go without them.
fn without_dynamic_filters(mut config: SessionConfig) -> SessionConfig {
    config
        .options_mut()
        .optimizer
        .enable_dynamic_filter_pushdown = false;
    config
        .options_mut()
        .optimizer
        .enable_topk_dynamic_filter_pushdown = false;
    config
        .options_mut()
        .optimizer
        .enable_join_dynamic_filter_pushdown = false;
    config
        .options_mut()
        .optimizer
        .enable_aggregate_dynamic_filter_pushdown = false;
    config
}

/// `df://host[:port]` (Ballista's own form), `host:port` or `host`, as
/// the `http://host:port` address of a scheduler's gRPC service.
pub fn scheduler_address(url: &str) -> Result<String, EngineError> {
    let (host, port) = scheduler_host_port(url)?;
    Ok(format!("http://{host}:{port}"))
}

/// The host and port of a scheduler address, as [`scheduler_address`] reads it.
fn scheduler_host_port(url: &str) -> Result<(String, u16), EngineError> {
    let bad = |why: &str| {
        EngineError::Setup(format!(
            "'{url}' is not a Ballista scheduler address: {why}; use df://HOST:PORT"
        ))
    };
    let rest = match url.split_once("://") {
        Some(("df" | "http", rest)) => rest,
        Some((scheme, _)) => return Err(bad(&format!("{scheme}:// is not df://"))),
        None => url,
    };
    let rest = rest.trim_end_matches('/');
    if rest.is_empty() || rest.contains('/') {
        return Err(bad("it names no host"));
    }
    let (host, port) = match rest.rsplit_once(':') {
        Some((host, port)) => (
            host,
            port.parse::<u16>()
                .map_err(|_| bad(&format!("'{port}' is not a port")))?,
        ),
        None => (rest, DEFAULT_SCHEDULER_PORT),
    };
    if host.is_empty() {
        return Err(bad("it names no host"));
    }
    Ok((host.to_string(), port))
}

impl Engine {
    /// Runs this session's queries on the Ballista scheduler at `url`.
    /// Catalog, functions and views stay as they are; only the planner
    /// changes, so plans go to the scheduler instead of running here.
    pub fn on_ballista(mut self, url: &str) -> Result<Self, EngineError> {
        let address = scheduler_address(url)?;
        let state = self.ctx.state();
        let config = without_dynamic_filters(state.config().clone())
            .with_ballista_logical_extension_codec(Arc::new(KqCodec::default()));
        let state = SessionStateBuilder::new_from_existing(state)
            .with_config(config)
            .build()
            .upgrade_for_ballista(address)
            .map_err(|e| EngineError::Setup(crate::clean_message(&e)))?;
        // Ballista's upgrade replaces the session's functions with its own
        // set, so kq's are registered again.
        self.ctx = SessionContext::new_with_state(state);
        crate::register_functions(&mut self.ctx)
            .map_err(|e| EngineError::Setup(crate::clean_message(&e)))?;
        self.distributed = Some(url.to_string());
        Ok(self)
    }
}

/// Refuses, in one sentence, a plan that reads a table only this process
/// can read: a live cluster's, `kq_errors`, or an in-memory one.
pub(crate) fn check_plan(plan: &LogicalPlan) -> Result<(), EngineError> {
    use datafusion::common::tree_node::TreeNodeRecursion;
    use datafusion::datasource::source_as_provider;
    let mut refused = None;
    plan.apply_with_subqueries(|node| {
        if let LogicalPlan::TableScan(scan) = node {
            let readable = source_as_provider(&scan.source).is_ok_and(|provider| {
                let any: &dyn std::any::Any = provider.as_ref();
                any.is::<SnapshotTable>()
            });
            if !readable {
                refused = Some(scan.table_name.to_string());
                return Ok(TreeNodeRecursion::Stop);
            }
        }
        Ok(TreeNodeRecursion::Continue)
    })
    .map_err(|e| EngineError::Plan(crate::clean_message(&e)))?;
    match refused {
        Some(table) => Err(EngineError::Plan(format!(
            "table {table} cannot be read on Ballista: only snapshot tables can travel to its executors; drop --ballista to read it here"
        ))),
        None => Ok(()),
    }
}

/// A Ballista transport failure, when the query starts or while its
/// results stream, as one sentence naming the scheduler.
pub(crate) fn explain_failure(
    result: Result<crate::QueryOutput, EngineError>,
    scheduler: &str,
) -> Result<crate::QueryOutput, EngineError> {
    use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
    use futures::StreamExt;
    match result {
        Ok(output) => {
            let scheduler = scheduler.to_string();
            let stream = output.stream.map(move |item| {
                item.map_err(|e| match transport_failure(&e.to_string(), &scheduler) {
                    Some(sentence) => DataFusionError::Execution(sentence),
                    None => e,
                })
            });
            Ok(crate::QueryOutput {
                schema: output.schema.clone(),
                stream: Box::pin(RecordBatchStreamAdapter::new(output.schema, stream)),
            })
        }
        Err(error) => match transport_failure(&error.to_string(), scheduler) {
            Some(sentence) => Err(EngineError::Execution(sentence)),
            None => Err(error),
        },
    }
}

fn transport_failure(text: &str, scheduler: &str) -> Option<String> {
    let why = if text.contains("ConnectionRefused") || text.contains("Connection refused") {
        "connection refused; start one with `kq-ballista scheduler`, or check the --ballista address"
    } else if text.contains("Unimplemented") {
        "it does not answer as a scheduler (an executor's port?); give the address kq-ballista scheduler listens on"
    } else if text.contains("dns error") || text.contains("failed to lookup address") {
        "its host name does not resolve; check the --ballista address"
    } else if text.contains("tonic::transport") || text.contains("Status {") {
        "the connection failed; check that kq-ballista scheduler runs there and is reachable"
    } else {
        return None;
    };
    Some(format!(
        "cannot run the query on the Ballista scheduler at {scheduler}: {why}"
    ))
}

/// Starts a scheduler and one executor in this process, as Ballista's
/// standalone mode does, both with kq's functions and codec; returns the
/// scheduler's `df://` address.
pub async fn start_standalone(vcores: usize) -> Result<String, EngineError> {
    let setup = |e: &dyn std::fmt::Display| {
        EngineError::Setup(format!("cannot start the in-process Ballista cluster: {e}"))
    };
    let state = kq_state(SessionConfig::new_with_ballista()).map_err(|e| setup(&e))?;
    let address = ballista_scheduler::standalone::new_standalone_scheduler_from_state(&state)
        .await
        .map_err(|e| setup(&e))?;
    // The scheduler's listener is bound before this returns, so the first
    // connection is accepted.
    let scheduler =
        ballista_core::serde::protobuf::scheduler_grpc_client::SchedulerGrpcClient::connect(
            format!("http://localhost:{}", address.port()),
        )
        .await
        .map_err(|e| setup(&e))?;
    ballista_executor::new_standalone_executor_from_state(scheduler, vcores.max(1), &state)
        .await
        .map_err(|e| setup(&e))?;
    Ok(format!("df://localhost:{}", address.port()))
}

/// Runs a scheduler with kq's functions and codec until the process ends.
pub async fn run_scheduler(bind: SocketAddr, external_host: &str) -> Result<(), EngineError> {
    use ballista_scheduler::cluster::BallistaCluster;
    use ballista_scheduler::config::SchedulerConfig;
    let config = SchedulerConfig {
        bind_host: bind.ip().to_string(),
        bind_port: bind.port(),
        external_host: external_host.to_string(),
        override_logical_codec: Some(Arc::new(KqCodec::default())),
        ..SchedulerConfig::default()
    }
    .with_override_session_builder(Arc::new(kq_state));
    let cluster = BallistaCluster::new_from_config(&config)
        .await
        .map_err(|e| EngineError::Setup(format!("cannot start the scheduler: {e}")))?;
    ballista_scheduler::scheduler_process::start_server(cluster, bind, Arc::new(config))
        .await
        .map_err(|e| EngineError::Setup(format!("the scheduler stopped: {e}")))
}

/// Where an executor listens and which scheduler it serves.
#[derive(Clone, Debug)]
pub struct ExecutorOptions {
    /// `host:port` of the scheduler.
    pub scheduler: String,
    /// The address to listen on (its port serves shuffle data).
    pub bind: SocketAddr,
    /// The executor's gRPC port (Ballista's push mode; reserved in pull mode).
    pub grpc_port: u16,
    /// The host name the scheduler and other executors reach this one by.
    pub external_host: Option<String>,
    /// Tasks run at once; 0 means every core.
    pub vcores: usize,
    /// Where shuffle files go; a temporary directory if unset.
    pub work_dir: Option<String>,
}

/// Runs an executor with kq's functions and codec until the process ends.
pub async fn run_executor(options: ExecutorOptions) -> Result<(), EngineError> {
    use ballista_executor::executor_process::{ExecutorProcessConfig, start_executor_process};
    let (host, port) = scheduler_host_port(&options.scheduler)?;
    let state = kq_state(SessionConfig::new_with_ballista())
        .map_err(|e| EngineError::Setup(e.to_string()))?;
    let mut config = ExecutorProcessConfig {
        bind_host: options.bind.ip().to_string(),
        port: options.bind.port(),
        grpc_port: options.grpc_port,
        external_host: options.external_host,
        scheduler_host: host,
        scheduler_port: port,
        // Executors started before their scheduler wait for it.
        scheduler_connect_timeout_seconds: 60,
        work_dir: options.work_dir,
        override_function_registry: Some(Arc::new(BallistaFunctionRegistry::from(&state))),
        override_logical_codec: Some(Arc::new(KqCodec::default())),
        override_config_producer: Some(Arc::new(move || {
            SessionConfig::new_with_ballista()
                .with_ballista_logical_extension_codec(Arc::new(KqCodec::default()))
        })),
        ..ExecutorProcessConfig::default()
    };
    if options.vcores > 0 {
        config.vcores = options.vcores;
    }
    config.override_runtime_producer = Some(Arc::new(|_config: &SessionConfig| {
        Ok(Arc::new(
            datafusion::execution::runtime_env::RuntimeEnvBuilder::new()
                .with_object_store_registry(Arc::new(EnvObjectStores::default()))
                .build()?,
        ))
    }));
    start_executor_process(Arc::new(config))
        .await
        .map_err(|e| EngineError::Setup(format!("the executor stopped: {e}")))
}

/// Object stores for `s3://`, `gs://` and `az://` buckets, configured
/// from the environment as `kq snapshot --to` is, so executors read the
/// bucket the client named without any registration of their own.
#[derive(Debug, Default)]
struct EnvObjectStores {
    inner: datafusion::execution::object_store::DefaultObjectStoreRegistry,
}

impl datafusion::execution::object_store::ObjectStoreRegistry for EnvObjectStores {
    fn register_store(
        &self,
        url: &url::Url,
        store: Arc<dyn object_store::ObjectStore>,
    ) -> Option<Arc<dyn object_store::ObjectStore>> {
        self.inner.register_store(url, store)
    }

    fn deregister_store(&self, url: &url::Url) -> DfResult<Arc<dyn object_store::ObjectStore>> {
        self.inner.deregister_store(url)
    }

    fn get_store(&self, url: &url::Url) -> DfResult<Arc<dyn object_store::ObjectStore>> {
        if let Ok(store) = self.inner.get_store(url) {
            return Ok(store);
        }
        if url.scheme() == "file" {
            return self.inner.get_store(url);
        }
        let bucket = url.host_str().unwrap_or_default();
        let store = crate::snapshot::location::bucket_store(url.scheme(), bucket)
            .map_err(|e| DataFusionError::External(Box::new(e)))?;
        let base = url::Url::parse(&format!("{}://{bucket}", url.scheme()))
            .map_err(|e| DataFusionError::External(Box::new(e)))?;
        self.inner.register_store(&base, store.clone());
        Ok(store)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scheduler_addresses() {
        assert_eq!(
            scheduler_address("df://10.0.0.5:50070").unwrap(),
            "http://10.0.0.5:50070"
        );
        assert_eq!(
            scheduler_address("df://sched").unwrap(),
            "http://sched:50050"
        );
        assert_eq!(
            scheduler_address("localhost:7000").unwrap(),
            "http://localhost:7000"
        );
        for bad in ["", "df://", "grpc://x:1", "df://x:port", "df://x/y"] {
            let message = scheduler_address(bad).unwrap_err().to_string();
            assert!(message.contains("df://HOST:PORT"), "{bad}: {message}");
        }
    }
}
