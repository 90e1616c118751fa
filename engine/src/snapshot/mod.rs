//! Snapshots: kq's tables written as Parquet, and read back as tables.
//!
//! A snapshot is one run of `kq snapshot`: for every selected table and
//! cluster, one Parquet file under Hive-style partitions
//! (`table=pods/cluster=prod/date=2026-12-05/<id>.parquet`), so any engine
//! that reads Hive layouts (Spark, Trino, DuckDB, Athena, DataFusion) reads
//! it without kq. The `cluster` column lives in the path, as Hive expects;
//! each file adds `observed_at` and `resource_version` to its table's
//! columns. A manifest (`_kq/manifests/<id>.json`), written last, names
//! the files, the clusters, the tables and the failures: a snapshot without
//! its manifest does not exist for readers, so an interrupted run leaves
//! nothing visible.
//!
//! [`location`] resolves where snapshots live, [`manifest`] is the
//! manifest format, [`write`] takes a snapshot through an [`Engine`]
//! session, [`read`] serves snapshots as a DataFusion schema, [`diff`]
//! compares two states of a table.
//!
//! [`Engine`]: crate::Engine

pub mod location;
pub mod manifest;
pub mod read;
pub mod write;

pub use location::Location;
pub use manifest::Manifest;
pub use read::{Selection, SnapshotSchema};
pub use write::{SnapshotOptions, write_snapshot};

/// The schema snapshot tables are registered under.
pub const SCHEMA: &str = "snapshots";

/// Columns every snapshot row adds to its table's columns.
pub const OBSERVED_AT: &str = "observed_at";
pub const RESOURCE_VERSION: &str = "resource_version";

#[derive(Debug, thiserror::Error)]
pub enum SnapshotError {
    #[error("'{url}' is not a snapshot location kq can use: {why}")]
    BadLocation { url: String, why: String },
    #[error("cannot {action} {what}: {}", store_reason(source))]
    Store {
        action: &'static str,
        what: String,
        #[source]
        source: object_store::Error,
    },
    #[error(
        "{what} is not a kq snapshot manifest: {why}; remove it or point --snapshots elsewhere"
    )]
    BadManifest { what: String, why: String },
    #[error(
        "{what} was written by a newer kq (manifest format {found}, this kq reads up to {supported}); upgrade kq to read it"
    )]
    NewerFormat {
        what: String,
        found: u32,
        supported: u32,
    },
    #[error("cannot read Parquet file {what}: {why}")]
    BadParquet { what: String, why: String },
    #[error("{0}")]
    NoSnapshot(String),
    #[error("cannot write Parquet for table {table}, cluster {cluster}: {why}")]
    Encode {
        table: String,
        cluster: String,
        why: String,
    },
    #[error("cannot snapshot table {table}: {why}")]
    Query { table: String, why: String },
    #[error("{0}")]
    BadPlan(String),
}

/// An object store's failure in one line: S3 and Azure answer with an XML
/// body whose code and message say more than the HTTP status around them
/// (Azure's message goes on with request-id and time lines, dropped).
fn store_reason(error: &object_store::Error) -> String {
    let text = error.to_string();
    let tag = |name: &str| {
        let open = format!("<{name}>");
        let start = text.find(&open)? + open.len();
        let end = text[start..].find(&format!("</{name}>"))? + start;
        Some(text[start..end].to_string())
    };
    let hint = match error {
        object_store::Error::PermissionDenied { .. }
        | object_store::Error::Unauthenticated { .. } => {
            "; check the store's credentials in the environment"
        }
        _ => "",
    };
    match (tag("Code"), tag("Message")) {
        (Some(code), Some(message)) => {
            let message = message.lines().next().unwrap_or_default().trim();
            format!("{code}: {message}{hint}")
        }
        _ => {
            // GCS answers with JSON: {"error": {"code": 404, "message": "…"}}.
            if let Some(message) = json_message(&text) {
                let first = text.split(": {").next().unwrap_or_default();
                return format!("{first}: {message}{hint}");
            }
            let first = text.lines().next().unwrap_or_default();
            let first = first.split(": <?xml").next().unwrap_or(first);
            format!("{first}{hint}")
        }
    }
}

/// The first `"message"` of a JSON error body inside `text`.
fn json_message(text: &str) -> Option<String> {
    let body = &text[text.find('{')?..];
    let value: serde_json::Value = serde_json::Deserializer::from_str(body)
        .into_iter::<serde_json::Value>()
        .next()?
        .ok()?;
    value["error"]["message"]
        .as_str()
        .or_else(|| value["message"].as_str())
        .map(str::to_string)
}

/// Hive's escaping of a partition value: everything but letters, digits,
/// `.`, `_` and `-` as `%XX`, so a context name such as
/// `arn:aws:eks:eu-west-1:1:cluster/prod` stays one path segment.
pub fn escape_partition_value(value: &str) -> String {
    let mut escaped = String::with_capacity(value.len());
    for byte in value.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'.' | b'_' | b'-') {
            escaped.push(byte as char);
        } else {
            escaped.push_str(&format!("%{byte:02X}"));
        }
    }
    escaped
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partition_values_stay_one_segment() {
        assert_eq!(escape_partition_value("prod-eu_1.a"), "prod-eu_1.a");
        assert_eq!(
            escape_partition_value("arn:aws:eks:eu-west-1:1:cluster/prod"),
            "arn%3Aaws%3Aeks%3Aeu-west-1%3A1%3Acluster%2Fprod"
        );
        assert_eq!(escape_partition_value("kind kind"), "kind%20kind");
        assert_eq!(escape_partition_value("ü"), "%C3%BC");
    }

    fn generic(text: &str) -> object_store::Error {
        object_store::Error::Generic {
            store: "test",
            source: text.to_string().into(),
        }
    }

    #[test]
    fn store_errors_are_one_line() {
        let azure = generic(
            "Error performing list request: <?xml version=\"1.0\"?><Error><Code>ContainerNotFound</Code><Message>The specified container does not exist.\nRequestId:66b2\nTime:2026-12-06T04:22:33Z</Message></Error>",
        );
        assert_eq!(
            store_reason(&azure),
            "ContainerNotFound: The specified container does not exist."
        );
        let gcs = generic(
            "Error performing PUT http://x/b/o - Server returned non-2xx status code: 404 Not Found: {\"error\":{\"code\":404,\"message\":\"bucket not found\"}}",
        );
        let reason = store_reason(&gcs);
        assert!(reason.ends_with(": bucket not found"), "{reason}");
        assert!(!reason.contains('{'), "{reason}");
        let plain = generic("connection refused\nmore detail");
        assert_eq!(store_reason(&plain).lines().count(), 1);
    }
}
