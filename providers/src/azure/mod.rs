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

use connect::Clients;
pub use connect::{AzureError, AzureOptions, SharedAzureError};

use crate::cloud::scoped::{Context, Provider, ScopedSchema, Scopes, TableDef};
use crate::failures::{AZURE_SOURCE_PREFIX, FailureLog};

/// Name of the schema Azure tables live in.
pub const SCHEMA: &str = "azure";

/// The Azure provider, as the scoped cloud tables see it.
pub struct Azure;

#[async_trait::async_trait]
impl Provider for Azure {
    type Options = AzureOptions;
    type Clients = Clients;
    type Error = AzureError;
    const SCHEMA: &'static str = SCHEMA;
    const SCOPE_COLUMN: &'static str = "subscription_id";
    const SCOPE_DESCRIPTION: &'static str = "Azure subscription id";
    const SOURCE_PREFIX: &'static str = AZURE_SOURCE_PREFIX;

    async fn resolve(
        options: &AzureOptions,
        failures: &FailureLog,
    ) -> Result<Scopes<Clients>, AzureError> {
        connect::resolve(options, failures).await
    }

    fn tables() -> Vec<Arc<dyn TableDef<Clients>>> {
        tables::builtin_tables()
    }
}

/// The session's Azure state: options, failure log, scopes once resolved.
pub type AzureContext = Context<Azure>;

/// Schema `azure` of a session.
pub type AzureSchema = ScopedSchema<Azure>;
