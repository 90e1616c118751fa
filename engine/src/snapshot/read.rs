//! Reading snapshots: schema `snapshots`, one table per snapshotted table,
//! answering from the Parquet files the chosen manifests name.
//!
//! Only files a manifest names are read, so an interrupted snapshot is
//! never seen. Filters on `cluster` choose files before anything is
//! opened; DataFusion's Parquet reader prunes row groups on the column
//! statistics the writer keeps.

use std::collections::{BTreeMap, HashSet};
use std::sync::{Arc, RwLock};

use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use datafusion::catalog::{SchemaProvider, Session};
use datafusion::common::ScalarValue;
use datafusion::datasource::listing::PartitionedFile;
use datafusion::datasource::physical_plan::{FileGroup, FileScanConfigBuilder, ParquetSource};
use datafusion::datasource::source::DataSourceExec;
use datafusion::datasource::table_schema::TableSchema;
use datafusion::datasource::{TableProvider, TableType};
use datafusion::error::{DataFusionError, Result as DfResult};
use datafusion::execution::object_store::ObjectStoreUrl;
use datafusion::logical_expr::{Expr, Operator, TableProviderFilterPushDown};
use datafusion::physical_plan::ExecutionPlan;
use datafusion::physical_plan::empty::EmptyExec;
use futures::{StreamExt, TryStreamExt};
use object_store::{ObjectMeta, ObjectStoreExt};
use parquet::errors::ParquetError;
use parquet::file::metadata::ParquetMetaDataReader;

use kq_providers::failures::{FailureKind, FailureLog, FailureTable, Severity};
use kq_providers::kubernetes::{FAILURES_TABLE, pushdown};

use super::SnapshotError;
use super::location::Location;
use super::manifest::{FileEntry, MANIFEST_DIR, Manifest};

/// Which snapshots a session sees.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Selection {
    /// The latest complete snapshot of each (table, cluster).
    Latest,
    /// The latest at or before this time.
    At(DateTime<Utc>),
    /// Every snapshot; rows differ by `observed_at`.
    History,
}

/// The manifests' objects at the location, by listing alone. No manifest
/// directory means no snapshot yet (an empty list), not an error.
pub async fn list_manifests(location: &Location) -> Result<Vec<ObjectMeta>, SnapshotError> {
    let dir = location.path(MANIFEST_DIR)?;
    let listed: Vec<ObjectMeta> = match location.store.list(Some(&dir)).try_collect().await {
        Ok(listed) => listed,
        Err(object_store::Error::NotFound { .. }) => Vec::new(),
        Err(source) => {
            return Err(SnapshotError::Store {
                action: "list",
                what: location.describe(MANIFEST_DIR),
                source,
            });
        }
    };
    Ok(listed
        .into_iter()
        .filter(|object| object.location.extension() == Some("json"))
        .collect())
}

/// Manifests read at once: each is a small GET, and an object store's
/// latency, not its bandwidth, bounds how fast they arrive.
const MANIFEST_READS_IN_FLIGHT: usize = 16;

/// Every manifest at the location, oldest first.
pub async fn load_manifests(location: &Location) -> Result<Vec<Manifest>, SnapshotError> {
    let listed = list_manifests(location).await?;
    let reads = listed.into_iter().map(|object| async move {
        let name = object.location.filename().unwrap_or_default().to_string();
        let what = location.describe(&format!("{MANIFEST_DIR}/{name}"));
        let failed = |source| SnapshotError::Store {
            action: "read",
            what: what.clone(),
            source,
        };
        let bytes = location
            .store
            .get(&object.location)
            .await
            .map_err(failed)?
            .bytes()
            .await
            .map_err(failed)?;
        Manifest::decode(&bytes, &what)
    });
    let mut manifests: Vec<Manifest> = futures::stream::iter(reads)
        .buffer_unordered(MANIFEST_READS_IN_FLIGHT)
        .try_collect()
        .await?;
    manifests.sort_by(|a, b| (a.taken_at, &a.id).cmp(&(b.taken_at, &b.id)));
    Ok(manifests)
}

/// Schema `snapshots`.
#[derive(Debug)]
pub struct SnapshotSchema {
    tables: BTreeMap<String, Arc<SnapshotTable>>,
    /// kq's views over the snapshot tables, when reading offline.
    views: RwLock<BTreeMap<String, Arc<dyn TableProvider>>>,
    /// `kq_errors`, so a session reading only snapshots can query it too.
    errors: Arc<FailureTable>,
}

impl SnapshotSchema {
    /// A snapshot table by name, with its files (for `kq diff`).
    pub fn snapshot_table(&self, name: &str) -> Option<Arc<SnapshotTable>> {
        self.tables.get(name).cloned()
    }

    /// Every cluster some table has rows for, sorted.
    pub fn clusters(&self) -> Vec<String> {
        let mut clusters: Vec<String> = self
            .tables
            .values()
            .flat_map(|t| t.clusters())
            .collect::<HashSet<_>>()
            .into_iter()
            .collect();
        clusters.sort();
        clusters
    }

    /// The snapshotted table names (without `kq_errors`).
    pub fn snapshot_table_names(&self) -> Vec<String> {
        self.tables.keys().cloned().collect()
    }

    /// Reads the manifests and each table's schema. Stale rows (a cluster
    /// whose latest snapshot of a table failed, answered from an older
    /// one) are reported in `failures`, as `kq_errors` rows.
    pub async fn open(
        location: Location,
        selection: Selection,
        failures: FailureLog,
    ) -> Result<Self, SnapshotError> {
        let manifests = load_manifests(&location).await?;
        let Some(first) = manifests.first() else {
            return Err(SnapshotError::NoSnapshot(format!(
                "there is no snapshot in {}; write one with kq snapshot --to {}",
                location.display, location.display
            )));
        };
        let visible: Vec<&Manifest> = match selection {
            Selection::At(at) => {
                let visible: Vec<&Manifest> =
                    manifests.iter().filter(|m| m.taken_at <= at).collect();
                if visible.is_empty() {
                    return Err(SnapshotError::NoSnapshot(format!(
                        "there is no snapshot in {} at or before {}; the first was taken at {}",
                        location.display,
                        at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
                        first
                            .taken_at
                            .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
                    )));
                }
                visible
            }
            Selection::Latest | Selection::History => manifests.iter().collect(),
        };
        let chosen = match selection {
            Selection::History => visible.iter().flat_map(|m| m.files.iter()).collect(),
            Selection::Latest | Selection::At(_) => latest_files(&visible, &failures),
        };
        let mut per_table: BTreeMap<String, Vec<&FileEntry>> = BTreeMap::new();
        for file in chosen {
            per_table.entry(file.table.clone()).or_default().push(file);
        }
        let errors = Arc::new(FailureTable::new(failures.clone()));
        let location = Arc::new(location);
        let mut tables = BTreeMap::new();
        for (name, files) in per_table {
            let table = SnapshotTable::open(location.clone(), files).await?;
            tables.insert(name, Arc::new(table));
        }
        Ok(Self {
            tables,
            views: RwLock::new(BTreeMap::new()),
            errors,
        })
    }
}

/// For each (table, cluster), the file of the newest snapshot that read
/// it. When a newer snapshot failed to read it, the older rows are used
/// and the session's failure log says so.
fn latest_files<'a>(manifests: &[&'a Manifest], failures: &FailureLog) -> Vec<&'a FileEntry> {
    let mut seen = HashSet::new();
    let mut chosen = Vec::new();
    let mut newer_failure: BTreeMap<(String, String), &Manifest> = BTreeMap::new();
    for manifest in manifests.iter().rev() {
        for table in &manifest.tables {
            for cluster in &manifest.clusters {
                let key = (table.clone(), cluster.name.clone());
                if seen.contains(&key) {
                    continue;
                }
                match manifest.file_for(table, &cluster.name) {
                    Some(file) => {
                        if let Some(failed) = newer_failure.get(&key) {
                            failures.record(
                                &cluster.name,
                                table,
                                Severity::Warning,
                                FailureKind::Server,
                                format!(
                                    "snapshot {} could not read this table on this cluster; its rows are from snapshot {} ({})",
                                    failed.id,
                                    manifest.id,
                                    file.observed_at
                                        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
                                ),
                            );
                        }
                        seen.insert(key);
                        chosen.push(file);
                    }
                    None => {
                        newer_failure.entry(key).or_insert(manifest);
                    }
                }
            }
        }
    }
    // Read by no snapshot at all: say so rather than answer zero rows.
    for ((table, cluster), manifest) in newer_failure {
        if !seen.contains(&(table.clone(), cluster.clone())) {
            let why = manifest
                .failures
                .iter()
                .find(|f| f.cluster == cluster && f.table == table)
                .map(|f| f.message.clone())
                .unwrap_or_else(|| "no rows were written".to_string());
            failures.record(
                &cluster,
                &table,
                Severity::Error,
                FailureKind::Server,
                format!("no snapshot could read this table on this cluster (latest: {why})"),
            );
        }
    }
    chosen
}

#[async_trait]
impl SchemaProvider for SnapshotSchema {
    fn table_names(&self) -> Vec<String> {
        let mut names: Vec<String> = self.tables.keys().cloned().collect();
        names.push(FAILURES_TABLE.to_string());
        if let Ok(views) = self.views.read() {
            names.extend(views.keys().cloned());
        }
        names.sort();
        names
    }

    async fn table(&self, name: &str) -> DfResult<Option<Arc<dyn TableProvider>>> {
        if name == FAILURES_TABLE {
            return Ok(Some(self.errors.clone()));
        }
        if let Some(view) = self.views.read().ok().and_then(|v| v.get(name).cloned()) {
            return Ok(Some(view));
        }
        Ok(self
            .tables
            .get(name)
            .map(|t| t.clone() as Arc<dyn TableProvider>))
    }

    fn table_exist(&self, name: &str) -> bool {
        name == FAILURES_TABLE
            || self.tables.contains_key(name)
            || self.views.read().is_ok_and(|v| v.contains_key(name))
    }

    fn register_table(
        &self,
        name: String,
        table: Arc<dyn TableProvider>,
    ) -> DfResult<Option<Arc<dyn TableProvider>>> {
        let mut views = self
            .views
            .write()
            .map_err(|_| DataFusionError::Internal("view registry poisoned".into()))?;
        Ok(views.insert(name, table))
    }
}

/// One table's snapshot files.
#[derive(Debug)]
pub struct SnapshotTable {
    /// The store the files are read from, by the URL DataFusion (and a
    /// Ballista executor) resolves it with.
    store_url: ObjectStoreUrl,
    /// Where the files are, with the store to read them; `None` in a
    /// table rebuilt from a plan, whose reader resolves `store_url` itself.
    location: Option<Arc<Location>>,
    /// What users see: `cluster` first, then the file's columns.
    schema: SchemaRef,
    /// The Parquet files' columns (no `cluster`).
    file_schema: SchemaRef,
    files: Vec<SnapshotFile>,
    description: String,
}

#[derive(Debug, Clone)]
struct SnapshotFile {
    cluster: String,
    meta: ObjectMeta,
}

impl SnapshotTable {
    async fn open(
        location: Arc<Location>,
        entries: Vec<&FileEntry>,
    ) -> Result<Self, SnapshotError> {
        let mut files = Vec::new();
        for entry in &entries {
            files.push(SnapshotFile {
                cluster: entry.cluster.clone(),
                meta: ObjectMeta {
                    location: location.path(&entry.path)?,
                    last_modified: entry.observed_at,
                    size: entry.bytes,
                    e_tag: None,
                    version: None,
                },
            });
        }
        // The newest file's columns are the table's: older files with
        // fewer columns read as NULL there.
        let newest = entries
            .iter()
            .zip(&files)
            .max_by_key(|(entry, _)| entry.observed_at)
            .map(|(entry, file)| (entry.path.clone(), file.meta.clone()));
        let file_schema = match newest {
            Some((path, meta)) => read_schema(&location, &path, &meta).await?,
            None => Arc::new(Schema::empty()),
        };
        let description = file_schema
            .metadata()
            .get(super::write::DESCRIPTION_KEY)
            .cloned()
            .unwrap_or_default();
        // Schema-level metadata (the writer's, the Arrow schema hint) stays
        // in the files: plans compare schemas with their metadata, and the
        // scan would not carry it the way the logical plan does.
        let file_schema = Arc::new(Schema::new(file_schema.fields().clone()));
        let mut fields = vec![cluster_field()];
        fields.extend(file_schema.fields().iter().map(|f| f.as_ref().clone()));
        let schema = Arc::new(Schema::new(fields));
        Ok(Self {
            description,
            store_url: location.store_url.clone(),
            location: Some(location),
            schema,
            file_schema,
            files,
        })
    }

    /// Where the table's files are, when this process opened them.
    pub fn location(&self) -> Option<&Location> {
        self.location.as_deref()
    }

    /// The table as bytes a plan can carry to another process (a Ballista
    /// scheduler): which files, of which clusters, in which store. The
    /// schema travels in the plan itself.
    pub fn to_bytes(&self) -> Vec<u8> {
        let wire = TableWire {
            format: WIRE_FORMAT,
            store_url: self.store_url.as_str().to_string(),
            description: self.description.clone(),
            files: self
                .files
                .iter()
                .map(|f| FileWire {
                    cluster: f.cluster.clone(),
                    path: f.meta.location.to_string(),
                    size: f.meta.size,
                    last_modified: f.meta.last_modified,
                })
                .collect(),
        };
        serde_json::to_vec(&wire).unwrap_or_default()
    }

    /// The table [`Self::to_bytes`] wrote, with `schema` (`cluster` first)
    /// from the plan. Reads nothing: the files are opened by whoever scans.
    pub fn from_bytes(bytes: &[u8], schema: SchemaRef) -> Result<Self, SnapshotError> {
        let bad = |why: String| SnapshotError::BadPlan(why);
        let wire: TableWire = serde_json::from_slice(bytes)
            .map_err(|e| bad(format!("the snapshot table in the plan is unreadable: {e}")))?;
        if wire.format != WIRE_FORMAT {
            return Err(bad(format!(
                "the plan's snapshot table has format {}, this kq reads {WIRE_FORMAT}; run the same kq version on every Ballista process",
                wire.format
            )));
        }
        if schema.fields().first().map(|f| f.name().as_str()) != Some("cluster") {
            return Err(bad(
                "the plan's snapshot table has no leading cluster column".to_string(),
            ));
        }
        let store_url =
            ObjectStoreUrl::parse(&wire.store_url).map_err(|e| bad(crate::clean_message(&e)))?;
        let file_schema = Arc::new(Schema::new(schema.fields()[1..].to_vec()));
        let files = wire
            .files
            .into_iter()
            .map(|f| {
                Ok(SnapshotFile {
                    cluster: f.cluster,
                    meta: ObjectMeta {
                        location: object_store::path::Path::parse(&f.path).map_err(|e| {
                            bad(format!("the plan names a bad file path {}: {e}", f.path))
                        })?,
                        last_modified: f.last_modified,
                        size: f.size,
                        e_tag: None,
                        version: None,
                    },
                })
            })
            .collect::<Result<Vec<_>, SnapshotError>>()?;
        Ok(Self {
            store_url,
            location: None,
            schema,
            file_schema,
            files,
            description: wire.description,
        })
    }

    /// The clusters this table has rows for.
    pub fn clusters(&self) -> HashSet<String> {
        self.files.iter().map(|f| f.cluster.clone()).collect()
    }

    /// What the table holds, as the live table describes itself.
    pub fn description(&self) -> String {
        let clusters: HashSet<&str> = self.files.iter().map(|f| f.cluster.as_str()).collect();
        let base = if self.description.is_empty() {
            "Snapshot rows".to_string()
        } else {
            self.description.clone()
        };
        format!(
            "{base} (snapshot: {} files, {} clusters)",
            self.files.len(),
            clusters.len()
        )
    }

    /// The clusters a filter list allows (`cluster = 'x'`, `IN (…)`), if it limits them.
    fn allowed_clusters(filters: &[Expr]) -> Option<HashSet<String>> {
        let mut allowed: Option<HashSet<String>> = None;
        for filter in filters {
            if let Some(set) = cluster_values(filter) {
                allowed = Some(match allowed {
                    Some(previous) => previous.intersection(&set).cloned().collect(),
                    None => set,
                });
            }
        }
        allowed
    }
}

/// Bumped when [`TableWire`] changes meaning.
const WIRE_FORMAT: u32 = 1;

#[derive(serde::Serialize, serde::Deserialize)]
struct TableWire {
    format: u32,
    store_url: String,
    description: String,
    files: Vec<FileWire>,
}

#[derive(serde::Serialize, serde::Deserialize)]
struct FileWire {
    cluster: String,
    path: String,
    size: u64,
    last_modified: DateTime<Utc>,
}

fn cluster_field() -> Field {
    Field::new("cluster", DataType::Utf8, false).with_metadata(
        [(
            "description".to_string(),
            "The kubeconfig context the rows were read from".to_string(),
        )]
        .into(),
    )
}

fn is_cluster_column(expr: &Expr) -> bool {
    pushdown::column_name(expr) == Some("cluster")
}

/// The cluster names a filter restricts rows to, when it is an equality or
/// an IN list on `cluster`.
fn cluster_values(filter: &Expr) -> Option<HashSet<String>> {
    match filter {
        Expr::BinaryExpr(binary) if binary.op == Operator::Eq => {
            let (column, value) = if is_cluster_column(&binary.left) {
                (&binary.left, &binary.right)
            } else {
                (&binary.right, &binary.left)
            };
            if !is_cluster_column(column) {
                return None;
            }
            pushdown::string_literal(value).map(|v| HashSet::from([v]))
        }
        Expr::InList(list) if !list.negated && is_cluster_column(&list.expr) => {
            list.list.iter().map(pushdown::string_literal).collect()
        }
        _ => None,
    }
}

async fn read_schema(
    location: &Location,
    path: &str,
    meta: &ObjectMeta,
) -> Result<SchemaRef, SnapshotError> {
    let bad = |why: String| SnapshotError::BadParquet {
        what: location.describe(path),
        why,
    };
    // Only the footer is read: a guess at its size first, then exactly
    // what the metadata says it needs.
    let size = meta.size;
    let mut tail = size.min(64 * 1024);
    let mut reader = ParquetMetaDataReader::new();
    loop {
        let bytes = location
            .store
            .get_range(&meta.location, size - tail..size)
            .await
            .map_err(|e| bad(e.to_string()))?;
        match reader.try_parse_sized(&bytes, size) {
            Ok(()) => break,
            Err(ParquetError::NeedMoreData(needed)) if (needed as u64) > tail => {
                tail = needed as u64;
            }
            Err(e) => return Err(bad(e.to_string())),
        }
    }
    let metadata = reader.finish().map_err(|e| bad(e.to_string()))?;
    let file = metadata.file_metadata();
    let schema = Arc::new(
        parquet::arrow::parquet_to_arrow_schema(file.schema_descr(), file.key_value_metadata())
            .map_err(|e| bad(e.to_string()))?,
    );
    for column in [super::OBSERVED_AT, super::RESOURCE_VERSION] {
        if schema.field_with_name(column).is_err() {
            return Err(bad(format!(
                "it has no {column} column, so kq did not write it"
            )));
        }
    }
    Ok(schema)
}

#[async_trait]
impl TableProvider for SnapshotTable {
    fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }

    fn table_type(&self) -> TableType {
        TableType::Base
    }

    fn supports_filters_pushdown(
        &self,
        filters: &[&Expr],
    ) -> DfResult<Vec<TableProviderFilterPushDown>> {
        // Cluster filters choose files; DataFusion still applies them.
        Ok(filters
            .iter()
            .map(|f| match cluster_values(f) {
                Some(_) => TableProviderFilterPushDown::Inexact,
                None => TableProviderFilterPushDown::Unsupported,
            })
            .collect())
    }

    async fn scan(
        &self,
        state: &dyn Session,
        projection: Option<&Vec<usize>>,
        filters: &[Expr],
        limit: Option<usize>,
    ) -> DfResult<Arc<dyn ExecutionPlan>> {
        let allowed = Self::allowed_clusters(filters);
        let files: Vec<PartitionedFile> = self
            .files
            .iter()
            .filter(|f| allowed.as_ref().is_none_or(|a| a.contains(&f.cluster)))
            .map(|f| {
                PartitionedFile::new_from_meta(f.meta.clone())
                    .with_partition_values(vec![ScalarValue::Utf8(Some(f.cluster.clone()))])
            })
            .collect();
        let projected = match projection {
            Some(p) => Arc::new(self.schema.project(p)?),
            None => self.schema.clone(),
        };
        if files.is_empty() {
            return Ok(Arc::new(EmptyExec::new(projected)));
        }
        // The scan's columns are the file's, then `cluster` (a partition
        // column); users see `cluster` first.
        let cluster_index = self.file_schema.fields().len();
        let all: Vec<usize> = (0..self.schema.fields().len()).collect();
        let mapped: Vec<usize> = projection
            .unwrap_or(&all)
            .iter()
            .map(|&i| if i == 0 { cluster_index } else { i - 1 })
            .collect();
        let table_schema = TableSchema::builder(self.file_schema.clone())
            .with_table_partition_cols(vec![Arc::new(cluster_field())])
            .build();
        let source = ParquetSource::new(table_schema);
        let partitions = state.config().target_partitions().max(1);
        let mut groups: Vec<Vec<PartitionedFile>> = vec![Vec::new(); partitions.min(files.len())];
        let group_count = groups.len();
        for (i, file) in files.into_iter().enumerate() {
            groups[i % group_count].push(file);
        }
        let config = FileScanConfigBuilder::new(self.store_url.clone(), Arc::new(source))
            .with_file_groups(groups.into_iter().map(FileGroup::new).collect())
            .with_limit(limit)
            .with_projection_indices(Some(mapped))?
            .build();
        let exec: Arc<dyn ExecutionPlan> = DataSourceExec::from_data_source(config);
        if exec.schema().fields().len() != projected.fields().len() {
            return Err(DataFusionError::Internal(
                "snapshot scan produced an unexpected schema".to_string(),
            ));
        }
        Ok(exec)
    }
}
