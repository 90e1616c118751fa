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

use std::sync::Arc;

use connect::Clients;
pub use connect::{GcpError, GcpOptions, SharedGcpError};

use crate::cloud::scoped::{Context, Provider, ScopedSchema, Scopes, TableDef};
use crate::failures::{FailureLog, GCP_SOURCE_PREFIX};
pub use tables::GLOBAL_REGION;

/// Name of the schema GCP tables live in.
pub const SCHEMA: &str = "gcp";

/// The GCP provider, as the scoped cloud tables see it.
pub struct Gcp;

#[async_trait::async_trait]
impl Provider for Gcp {
    type Options = GcpOptions;
    type Clients = Clients;
    type Error = GcpError;
    const SCHEMA: &'static str = SCHEMA;
    const SCOPE_COLUMN: &'static str = "project";
    const SCOPE_DESCRIPTION: &'static str = "GCP project id";
    const SOURCE_PREFIX: &'static str = GCP_SOURCE_PREFIX;

    async fn resolve(
        options: &GcpOptions,
        failures: &FailureLog,
    ) -> Result<Scopes<Clients>, GcpError> {
        connect::resolve(options, failures).await
    }

    fn tables() -> Vec<Arc<dyn TableDef<Clients>>> {
        tables::builtin_tables()
    }
}

/// The session's GCP state: options, failure log, scopes once resolved.
pub type GcpContext = Context<Gcp>;

/// Schema `gcp` of a session.
pub type GcpSchema = ScopedSchema<Gcp>;
