//! The Azure provider: Azure Resource Manager resources as tables in
//! schema `azure`.
//!
//! Azure has no official Rust management-plane crates, so each table is a
//! documented ARM list call sent through azure_core's pipeline (retries
//! that honour Retry-After, request ids, bearer tokens from
//! azure_identity), from every selected subscription concurrently. A
//! filter on `subscription_id` prunes subscriptions before any call. A
//! failing subscription (AuthorizationFailed, throttling after retries,
//! an unreachable endpoint) is recorded in the session's failure log and
//! never hides the others' rows.

pub mod connect;
pub mod table;
mod tables;

use std::sync::Arc;

use connect::AzureContext;
pub use connect::{AzureError, AzureOptions, SharedAzureError};

use crate::cloud::scoped::ScopedSchema;
use crate::failures::FailureLog;

/// Name of the schema Azure tables live in.
pub const SCHEMA: &str = "azure";

/// Schema `azure` of a session.
pub type AzureSchema = ScopedSchema<AzureContext>;

impl ScopedSchema<AzureContext> {
    pub fn new(options: AzureOptions, failures: FailureLog) -> Self {
        let context = Arc::new(AzureContext::new(options, failures));
        Self::with_tables(context, tables::builtin_tables())
    }

    /// Resolves the cloud, credentials and subscriptions now (otherwise
    /// the first query of an Azure table does): a configuration error is
    /// the session's error.
    pub async fn connect(&self) -> Result<(), SharedAzureError> {
        self.context.resolved().await.map(|_| ())
    }
}
