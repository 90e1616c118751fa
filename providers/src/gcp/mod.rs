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

use connect::GcpContext;
pub use connect::{GcpError, GcpOptions, SharedGcpError};
pub use tables::GLOBAL_REGION;

use crate::cloud::scoped::ScopedSchema;

use crate::failures::FailureLog;

/// Name of the schema GCP tables live in.
pub const SCHEMA: &str = "gcp";

/// Schema `gcp` of a session.
pub type GcpSchema = ScopedSchema<GcpContext>;

impl ScopedSchema<GcpContext> {
    pub fn new(options: GcpOptions, failures: FailureLog) -> Self {
        let context = Arc::new(GcpContext::new(options, failures));
        Self::with_tables(context, tables::builtin_tables())
    }

    /// Resolves credentials and projects now (otherwise the first query
    /// of a GCP table does): a configuration error is the session's error.
    pub async fn connect(&self) -> Result<(), SharedGcpError> {
        self.context.resolved().await.map(|_| ())
    }
}
