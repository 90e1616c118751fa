//! The AWS provider: AWS resources as tables in schema `aws`.
//!
//! Each table is listed, per scan, from every selected account and region
//! concurrently through the official SDK. Filters on `account_id` and
//! `region` prune targets before any call, id filters go to the API's own
//! filters, and projected-away columns skip the detail calls that fill
//! them. A failing account or region (AccessDenied, throttling after the
//! SDK's retries, an unreachable endpoint) is recorded in the session's
//! failure log and never hides the others' rows.

pub mod connect;
pub mod table;
mod tables;

use std::collections::BTreeMap;
use std::sync::Arc;

use async_trait::async_trait;
use datafusion::catalog::SchemaProvider;
use datafusion::datasource::TableProvider;
use datafusion::error::Result as DfResult;

use connect::AwsContext;
pub use connect::{AwsError, AwsOptions, SharedAwsError};
use table::AwsTable;

use crate::failures::FailureLog;

/// Name of the schema AWS tables live in.
pub const SCHEMA: &str = "aws";

/// Schema `aws` of a session.
pub struct AwsSchema {
    context: Arc<AwsContext>,
    /// Every table, built once (schemas included) per session.
    tables: BTreeMap<&'static str, Arc<AwsTable>>,
}

impl std::fmt::Debug for AwsSchema {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AwsSchema")
            .field("tables", &self.tables.len())
            .finish()
    }
}

impl AwsSchema {
    pub fn new(options: AwsOptions, failures: FailureLog) -> Self {
        let context = Arc::new(AwsContext::new(options, failures));
        let tables = tables::builtin_tables()
            .into_iter()
            .map(|def| (def.name(), Arc::new(AwsTable::new(def, context.clone()))))
            .collect();
        Self { context, tables }
    }

    /// Resolves accounts and regions now (otherwise the first query of an
    /// AWS table does): a configuration error is the session's error.
    pub async fn connect(&self) -> Result<(), SharedAwsError> {
        self.context.accounts().await.map(|_| ())
    }

    /// (table, description) of every AWS table, in name order.
    pub fn descriptions(&self) -> Vec<(&'static str, &'static str)> {
        self.tables
            .iter()
            .map(|(name, t)| (*name, t.description()))
            .collect()
    }
}

#[async_trait]
impl SchemaProvider for AwsSchema {
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

/// An SDK error as one line of its causes' messages, outermost first.
///
/// The SDK's `DisplayErrorContext` ends with the whole error's Debug text
/// (raw responses, headers, bodies), which no user should read; the chain
/// of Display messages says the same thing in words.
pub(crate) fn error_text(error: &(dyn std::error::Error + 'static)) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut next = Some(error);
    while let Some(e) = next {
        let words = e
            .to_string()
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ");
        // Each part ends where the next begins, so no sentence-final dots.
        let text = words.trim_end_matches('.').to_string();
        // Wrappers often repeat their source's message; say it once.
        if !text.is_empty() && !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
        next = e.source();
    }
    parts.join(": ")
}

#[cfg(test)]
mod tests {
    use super::error_text;

    #[derive(Debug, thiserror::Error)]
    #[error("failed to load IMDS session token")]
    struct Outer(#[source] Inner);

    #[derive(Debug, thiserror::Error)]
    #[error("request   forbidden:\n IMDS is disabled.")]
    struct Inner;

    #[test]
    fn an_error_is_its_causes_in_words_without_debug_text() {
        let text = error_text(&Outer(Inner));
        assert_eq!(
            text,
            "failed to load IMDS session token: request forbidden: IMDS is disabled"
        );
    }
}
