//! Taking a snapshot: every selected table of every selected cluster read
//! through the session (so pushdown, the live cache and the failure log
//! work as for any query), written as one Parquet file per (table,
//! cluster), then the manifest.
//!
//! The session should be live (`ScanOptions::live`): tables derived from
//! the same resource (`pods`, `containers`, `container_ports`, …) then
//! share one list per cluster and reflect the same resourceVersion, and a
//! repeated snapshot (`--every`) reads memory kept current by watches
//! instead of listing again.

use std::sync::Arc;
use std::time::Duration;

use arrow::array::{ArrayRef, RecordBatch, StringArray, TimestampMicrosecondArray};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use chrono::{DateTime, Utc};
use futures::{StreamExt, TryStreamExt};
use object_store::{ObjectStoreExt, PutPayload};
use parquet::arrow::ArrowWriter;
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::properties::{EnabledStatistics, WriterProperties};

use kq_providers::failures::Severity;

use super::location::Location;
use super::manifest::{self, ClusterEntry, FailureEntry, FileEntry, MANIFEST_DIR, Manifest};
use super::{OBSERVED_AT, RESOURCE_VERSION, SnapshotError, escape_partition_value};
use crate::Engine;

/// What to snapshot.
#[derive(Clone, Debug)]
pub struct SnapshotOptions {
    pub tables: Vec<String>,
    /// The session's clusters (kubeconfig contexts), in order.
    pub clusters: Vec<String>,
    /// Files no manifest names are removed once older than this: a
    /// concurrent writer's files are younger, an interrupted run's older.
    pub orphan_grace: Duration,
    /// (table, cluster) reads in flight at once.
    pub concurrency: usize,
}

/// Takes one snapshot and returns its manifest (already written).
pub async fn write_snapshot(
    engine: &Engine,
    location: &Location,
    options: &SnapshotOptions,
) -> Result<Manifest, SnapshotError> {
    let taken_at = Utc::now();
    let id = manifest::new_id(taken_at);
    remove_orphans(location, options.orphan_grace).await?;
    let mut files = Vec::new();
    let mut failures = Vec::new();
    let mut failed: Vec<(String, String)> = Vec::new();
    for table in &options.tables {
        let reads = options
            .clusters
            .iter()
            .map(|cluster| snapshot_one(engine, location, &id, table, cluster));
        let results: Vec<_> = futures::stream::iter(reads)
            .buffered(options.concurrency.max(1))
            .try_collect()
            .await?;
        for (cluster, outcome) in options.clusters.iter().zip(results) {
            failures.extend(outcome.notes);
            match outcome.file {
                Some(file) => files.push(file),
                None => failed.push((table.clone(), cluster.clone())),
            }
        }
    }
    let clusters = options
        .clusters
        .iter()
        .map(|name| {
            let failed_tables = failed.iter().filter(|(_, c)| c == name).count();
            let status = if failed_tables == 0 {
                "ok"
            } else if failed_tables == options.tables.len() {
                "failed"
            } else {
                "partial"
            };
            ClusterEntry {
                name: name.clone(),
                status: status.to_string(),
            }
        })
        .collect();
    let manifest = Manifest {
        format: manifest::FORMAT,
        kq_version: env!("CARGO_PKG_VERSION").to_string(),
        id,
        taken_at,
        completed_at: Utc::now(),
        tables: options.tables.clone(),
        clusters,
        files,
        failures,
    };
    // Written last: until this put completes, the snapshot does not exist.
    put(location, &manifest.relative_path(), manifest.encode()).await?;
    Ok(manifest)
}

struct Outcome {
    /// `None` when the cluster's rows of this table could not be read.
    file: Option<FileEntry>,
    notes: Vec<FailureEntry>,
}

async fn snapshot_one(
    engine: &Engine,
    location: &Location,
    id: &str,
    table: &str,
    cluster: &str,
) -> Result<Outcome, SnapshotError> {
    let query_error = |why: String| SnapshotError::Query {
        table: table.to_string(),
        why,
    };
    let mark = engine.failures().mark();
    let sql = format!(
        "SELECT * FROM \"{}\" WHERE cluster = '{}'",
        table.replace('"', "\"\""),
        cluster.replace('\'', "''")
    );
    let mut statements = engine.parse(&sql).map_err(|e| query_error(e.to_string()))?;
    let statement = statements
        .pop_front()
        .ok_or_else(|| query_error("empty statement".to_string()))?;
    let output = engine
        .run_statement(statement)
        .await
        .map_err(|e| query_error(e.to_string()))?;
    let batches: Vec<RecordBatch> = output
        .stream
        .try_collect()
        .await
        .map_err(|e| query_error(crate::clean_message(&e)))?;
    let notes: Vec<FailureEntry> = engine
        .failures()
        .since(mark)
        .into_iter()
        .filter(|f| f.source == cluster && (f.table == table || f.table == "(discovery)"))
        .map(|f| FailureEntry {
            cluster: f.source.clone(),
            table: f.table.clone(),
            severity: f.severity.as_str().to_string(),
            kind: f.kind.as_str().to_string(),
            message: f.message.clone(),
        })
        .collect();
    let failed = notes
        .iter()
        .any(|n| n.table == table && n.severity == Severity::Error.as_str());
    if failed {
        return Ok(Outcome { file: None, notes });
    }
    let observation = engine.kube().observed().get(cluster, table);
    let observed_at = observation
        .as_ref()
        .map_or_else(Utc::now, |o| o.observed_at);
    let resource_version = observation.map(|o| o.resource_version).unwrap_or_default();
    let encode_error = |why: String| SnapshotError::Encode {
        table: table.to_string(),
        cluster: cluster.to_string(),
        why,
    };
    let description = table_description(engine, table).await;
    let schema = file_schema(&output.schema, &description).map_err(encode_error)?;
    let mut rows = 0u64;
    let mut buffer = Vec::new();
    {
        let mut writer = ArrowWriter::try_new(&mut buffer, schema.clone(), Some(writer_props()))
            .map_err(|e| encode_error(e.to_string()))?;
        for batch in &batches {
            let batch =
                file_batch(&schema, batch, observed_at, &resource_version).map_err(encode_error)?;
            rows += batch.num_rows() as u64;
            writer
                .write(&batch)
                .map_err(|e| encode_error(e.to_string()))?;
        }
        writer.close().map_err(|e| encode_error(e.to_string()))?;
    }
    let path = format!(
        "table={}/cluster={}/date={}/{id}.parquet",
        escape_partition_value(table),
        escape_partition_value(cluster),
        observed_at.format("%Y-%m-%d")
    );
    let bytes = buffer.len() as u64;
    put(location, &path, buffer).await?;
    Ok(Outcome {
        file: Some(FileEntry {
            table: table.to_string(),
            cluster: cluster.to_string(),
            path,
            rows,
            bytes,
            observed_at,
            resource_version,
        }),
        notes,
    })
}

/// Statistics per column chunk and page (readers prune on them); zstd,
/// which every Parquet reader of note decodes.
fn writer_props() -> WriterProperties {
    WriterProperties::builder()
        .set_compression(Compression::ZSTD(ZstdLevel::default()))
        .set_statistics_enabled(EnabledStatistics::Page)
        .set_created_by(format!("kq {}", env!("CARGO_PKG_VERSION")))
        .build()
}

/// The table's columns without `cluster` (the partition carries it), plus
/// `observed_at` and `resource_version`.
pub(crate) fn file_schema(table: &SchemaRef, description: &str) -> Result<SchemaRef, String> {
    let mut fields: Vec<Field> = Vec::new();
    for field in table.fields() {
        if field.name() == "cluster" {
            continue;
        }
        if field.name() == OBSERVED_AT || field.name() == RESOURCE_VERSION {
            return Err(format!(
                "the table already has a column named {}",
                field.name()
            ));
        }
        fields.push(field.as_ref().clone());
    }
    fields.extend(snapshot_columns());
    let mut metadata = table.metadata().clone();
    metadata.insert(DESCRIPTION_KEY.to_string(), description.to_string());
    Ok(Arc::new(Schema::new_with_metadata(fields, metadata)))
}

/// The Parquet key-value metadata entry holding the table's description.
pub(crate) const DESCRIPTION_KEY: &str = "kq.table_description";

async fn table_description(engine: &Engine, table: &str) -> String {
    let Some(provider) = engine.table(table).await else {
        return String::new();
    };
    let any: &dyn std::any::Any = provider.as_ref();
    any.downcast_ref::<kq_providers::kubernetes::scan::KubeTable>()
        .map(|t| t.def().description.clone())
        .unwrap_or_default()
}

/// The two columns a snapshot adds, with descriptions for `\d`.
pub(crate) fn snapshot_columns() -> [Field; 2] {
    let described = |field: Field, text: &str| {
        field.with_metadata([("description".to_string(), text.to_string())].into())
    };
    [
        described(
            Field::new(
                OBSERVED_AT,
                DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
                false,
            ),
            "When kq read these rows from the cluster (the list, or the watch-fed cache, at snapshot time)",
        ),
        described(
            Field::new(RESOURCE_VERSION, DataType::Utf8, false),
            "The cluster's resourceVersion of the list these rows reflect (empty if the server sent none)",
        ),
    ]
}

fn file_batch(
    schema: &SchemaRef,
    batch: &RecordBatch,
    observed_at: DateTime<Utc>,
    resource_version: &str,
) -> Result<RecordBatch, String> {
    let rows = batch.num_rows();
    let mut columns: Vec<ArrayRef> = batch
        .schema()
        .fields()
        .iter()
        .zip(batch.columns())
        .filter(|(field, _)| field.name() != "cluster")
        .map(|(_, column)| column.clone())
        .collect();
    let at = TimestampMicrosecondArray::from(vec![observed_at.timestamp_micros(); rows])
        .with_timezone("UTC");
    columns.push(Arc::new(at));
    columns.push(Arc::new(StringArray::from(vec![resource_version; rows])));
    RecordBatch::try_new(schema.clone(), columns).map_err(|e| e.to_string())
}

async fn put(location: &Location, relative: &str, bytes: Vec<u8>) -> Result<(), SnapshotError> {
    let path = location.path(relative)?;
    location
        .store
        .put(&path, PutPayload::from(bytes))
        .await
        .map_err(|source| SnapshotError::Store {
            action: "write",
            what: location.describe(relative),
            source,
        })?;
    Ok(())
}

/// Whether `path` has the shape kq writes (`table=…/cluster=…/date=…/<id>.parquet`):
/// other files in the directory are never touched.
fn is_snapshot_file(path: &object_store::path::Path) -> bool {
    let parts: Vec<String> = path.parts().map(|p| p.as_ref().to_string()).collect();
    let [.., table, cluster, date, file] = parts.as_slice() else {
        return false;
    };
    let Some(id) = file.strip_suffix(".parquet") else {
        return false;
    };
    // `20261205T211000.123Z-0a1b2c3d`
    let shape = id.len() == 29
        && id.as_bytes()[8] == b'T'
        && id.as_bytes()[19] == b'Z'
        && id.as_bytes()[20] == b'-'
        && id[21..].bytes().all(|b| b.is_ascii_hexdigit());
    shape
        && table.starts_with("table=")
        && cluster.starts_with("cluster=")
        && date.starts_with("date=")
}

/// Removes Parquet files that no manifest names and that are older than
/// `grace`: what an interrupted run left behind.
async fn remove_orphans(location: &Location, grace: Duration) -> Result<usize, SnapshotError> {
    // A file is named by its snapshot's id, and only a complete snapshot
    // has a manifest: listing the manifests' names is enough, however
    // many snapshots the store holds.
    let complete: std::collections::HashSet<String> = super::read::list_manifests(location)
        .await?
        .iter()
        .filter_map(|m| {
            m.location
                .filename()
                .map(|f| f.trim_end_matches(".json").to_string())
        })
        .collect();
    let root = location.root()?;
    let manifest_root = location.path(MANIFEST_DIR)?;
    let cutoff = Utc::now() - chrono::Duration::from_std(grace).unwrap_or_default();
    let objects: Vec<_> = location
        .store
        .list(Some(&root))
        .try_collect()
        .await
        .map_err(|source| SnapshotError::Store {
            action: "list",
            what: location.display.clone(),
            source,
        })?;
    let mut removed = 0;
    for object in objects {
        let is_manifest = object.location.prefix_matches(&manifest_root);
        let id = object
            .location
            .filename()
            .and_then(|f| f.strip_suffix(".parquet"))
            .unwrap_or_default();
        if !is_snapshot_file(&object.location)
            || is_manifest
            || complete.contains(id)
            || object.last_modified > cutoff
        {
            continue;
        }
        location
            .store
            .delete(&object.location)
            .await
            .map_err(|source| SnapshotError::Store {
                action: "remove the orphaned file",
                what: object.location.to_string(),
                source,
            })?;
        removed += 1;
    }
    Ok(removed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_files_of_kq_shape_count_as_orphans() {
        let kq = object_store::path::Path::from(
            "data/table=pods/cluster=a/date=2026-12-05/20261205T211000.123Z-0a1b2c3d.parquet",
        );
        assert!(is_snapshot_file(&kq));
        for other in [
            "data/table=pods/cluster=a/date=2026-12-05/part-0.parquet",
            "data/pods/a/2026/20261205T211000.123Z-0a1b2c3d.parquet",
            "data/table=pods/cluster=a/date=2026-12-05/20261205T211000.123Z-0a1b2c3d.json",
        ] {
            assert!(
                !is_snapshot_file(&object_store::path::Path::from(other)),
                "{other}"
            );
        }
    }
}
