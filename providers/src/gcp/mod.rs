//! The GCP provider: Google Cloud resources as tables in schema `gcp`.
//!
//! Each table is listed, per scan, from every selected project
//! concurrently through the official google-cloud-rust clients (the
//! storage JSON API directly, see `tables/storage.rs`). A filter on
//! `project` prunes projects before any call; `zone`, `region` and
//! `location` filters narrow the calls where the API allows. A failing
//! project (PERMISSION_DENIED, throttling after retries, an unreachable
//! endpoint) is recorded in the session's failure log and never hides the
//! others' rows; zones an aggregated list could not reach are a warning.

pub mod connect;
pub mod table;
mod tables;

use std::collections::BTreeMap;
use std::sync::Arc;

use async_trait::async_trait;
use datafusion::catalog::SchemaProvider;
use datafusion::datasource::TableProvider;
use datafusion::error::Result as DfResult;

use connect::GcpContext;
pub use connect::{GcpError, GcpOptions, SharedGcpError};
use table::GcpTable;
pub use tables::GLOBAL_REGION;

use crate::failures::FailureLog;

/// Name of the schema GCP tables live in.
pub const SCHEMA: &str = "gcp";

/// Schema `gcp` of a session.
pub struct GcpSchema {
    context: Arc<GcpContext>,
    tables: BTreeMap<&'static str, Arc<GcpTable>>,
}

impl std::fmt::Debug for GcpSchema {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GcpSchema")
            .field("tables", &self.tables.len())
            .finish()
    }
}

impl GcpSchema {
    pub fn new(options: GcpOptions, failures: FailureLog) -> Self {
        let context = Arc::new(GcpContext::new(options, failures));
        let tables = tables::builtin_tables()
            .into_iter()
            .map(|def| (def.name(), Arc::new(GcpTable::new(def, context.clone()))))
            .collect();
        Self { context, tables }
    }

    /// Resolves credentials and projects now (otherwise the first query
    /// of a GCP table does): a configuration error is the session's error.
    pub async fn connect(&self) -> Result<(), SharedGcpError> {
        self.context.resolved().await.map(|_| ())
    }

    /// (table, description) of every GCP table, in name order.
    pub fn descriptions(&self) -> Vec<(&'static str, &'static str)> {
        self.tables
            .iter()
            .map(|(name, t)| (*name, t.description()))
            .collect()
    }
}

#[async_trait]
impl SchemaProvider for GcpSchema {
    fn table_names(&self) -> Vec<String> {
        self.tables.keys().map(|n| n.to_string()).collect()
    }

    async fn table(&self, name: &str) -> DfResult<Option<Arc<dyn TableProvider>>> {
        Ok(self
            .tables
            .get(name)
            .map(|table| table.clone() as Arc<dyn TableProvider>))
    }

    fn table_exist(&self, name: &str) -> bool {
        self.tables.contains_key(name)
    }
}
