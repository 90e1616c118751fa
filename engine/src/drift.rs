//! `kq_drift`: what the manifests declare against what the live clusters
//! run, one row per missing object, changed field or extra object.
//!
//! Every kind a manifest set declares is listed from every live cluster of
//! the session, in the files' own version and only in the namespaces the
//! files use, then compared by [`crate::diff`] in desired mode. The table
//! is computed when scanned, so in the shell and `kq serve` it follows the
//! watch-fed cache.

use std::collections::HashSet;
use std::sync::Arc;

use arrow::array::{ArrayRef, Int64Array, RecordBatch, StringArray};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use async_trait::async_trait;
use datafusion::catalog::Session;
use datafusion::datasource::{TableProvider, TableType};
use datafusion::error::{DataFusionError, Result as DfResult};
use datafusion::logical_expr::{Expr, col, lit};
use datafusion::physical_plan::ExecutionPlan;
use futures::StreamExt as _;

use kq_providers::failures::{FailureLog, Severity};
use kq_providers::kubernetes::DeclaredKind;

use crate::diff::{Change, DiffOptions, DiffSide, Mode, desired::scalar_text, diff_table};

/// The table's name in every session that reads manifests.
pub const DRIFT_TABLE: &str = "kq_drift";
/// Kinds compared at once; each is one list per cluster and namespace.
const KINDS_AT_ONCE: usize = 4;

/// `kq_drift` over a session's manifest sets and live clusters.
pub struct DriftTable {
    kinds: Vec<DeclaredKind>,
    live: Vec<String>,
    failures: FailureLog,
}

impl std::fmt::Debug for DriftTable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DriftTable")
            .field("kinds", &self.kinds.len())
            .finish()
    }
}

impl DriftTable {
    pub fn new(kinds: Vec<DeclaredKind>, live: Vec<String>, failures: FailureLog) -> Self {
        DriftTable {
            kinds,
            live,
            failures,
        }
    }

    pub fn schema() -> SchemaRef {
        let field = |name: &str, data_type: DataType, description: &str| {
            Field::new(name, data_type, true).with_metadata(
                [("description".to_string(), description.to_string())]
                    .into_iter()
                    .collect(),
            )
        };
        Arc::new(Schema::new(vec![
            field(
                "cluster",
                DataType::Utf8,
                "Live cluster (kubeconfig context) compared",
            ),
            field(
                "namespace",
                DataType::Utf8,
                "Namespace of the object (null for cluster-scoped kinds)",
            ),
            field("name", DataType::Utf8, "Object name"),
            field("kind", DataType::Utf8, "Kind of the object"),
            field(
                "api_version",
                DataType::Utf8,
                "apiVersion the manifest declares (and the cluster was read in)",
            ),
            field(
                "change",
                DataType::Utf8,
                "missing (declared, not in the cluster), changed (one field differs) or extra (in the cluster, in a namespace and kind the files use, declared by no file and owned by no controller)",
            ),
            field(
                "field",
                DataType::Utf8,
                "For changed: the field's path, e.g. spec.template.spec.containers[name=web].image",
            ),
            field(
                "desired",
                DataType::Utf8,
                "For changed: the manifest's value (JSON unless a string)",
            ),
            field(
                "live",
                DataType::Utf8,
                "For changed: the cluster's value; null when the cluster does not have the field",
            ),
            field(
                "manifests",
                DataType::Utf8,
                "Manifest set (--manifests NAME=PATH) the object is declared in",
            ),
            field(
                "source_path",
                DataType::Utf8,
                "File the object is declared in",
            ),
            field(
                "source_line",
                DataType::Int64,
                "Line of the file where the object starts",
            ),
            field(
                "uid",
                DataType::Utf8,
                "UID of the live object (null when missing)",
            ),
        ]))
    }

    /// The kinds the files declare, for choosing among them by name.
    pub fn kind_names(&self) -> Vec<KindName> {
        let mut names: Vec<KindName> = self
            .kinds
            .iter()
            .map(|k| KindName {
                kind: k.resource.kind.clone(),
                plural: k.resource.plural.clone(),
                qualified: table_name(k),
            })
            .collect();
        names.sort_by(|a, b| a.kind.cmp(&b.kind));
        names.dedup();
        names
    }

    /// The namespaces the files' objects are in, across kinds.
    pub fn declared_namespaces(&self) -> Vec<String> {
        let mut namespaces: Vec<String> = self
            .kinds
            .iter()
            .flat_map(|k| k.namespaces.iter().cloned())
            .collect();
        namespaces.sort();
        namespaces.dedup();
        namespaces
    }

    /// Every drift, in a stable order: cluster, kind, namespace, name, field.
    pub async fn compute(&self) -> Result<Vec<Drift>, DataFusionError> {
        if self.live.is_empty() {
            // Empty would read as "no drift".
            return Err(DataFusionError::Plan(format!(
                "{DRIFT_TABLE} compares the manifests with live clusters, and this session reads none; add --context CTX or -A"
            )));
        }
        let mark = self.failures.mark();
        let live: HashSet<String> = self.live.iter().cloned().collect();
        let compared = futures::stream::iter(self.kinds.iter().cloned().map(|kind| {
            let live = live.clone();
            async move {
                let changes = compare_kind(&kind, live).await;
                (kind, changes)
            }
        }))
        .buffer_unordered(KINDS_AT_ONCE)
        .collect::<Vec<_>>()
        .await;
        // A cluster whose list failed answered no rows for that kind: that
        // is no answer, not every object missing. The failure is in
        // kq_errors and printed; the kind is left out for that cluster.
        let failed: HashSet<(String, String)> = self
            .failures
            .since(mark)
            .into_iter()
            .filter(|f| f.severity == Severity::Error)
            .map(|f| (f.source, f.table))
            .collect();
        let mut drifts = Vec::new();
        for (kind, result) in compared {
            let changes = result.map_err(|e| DataFusionError::External(Box::new(e)))?;
            drifts.extend(
                changes
                    .into_iter()
                    .filter(|c| !failed.contains(&(c.cluster.clone(), c.table.clone())))
                    .flat_map(|change| Drift::from_change(&kind, change)),
            );
        }
        drifts.sort();
        Ok(drifts)
    }
}

async fn compare_kind(
    kind: &DeclaredKind,
    live: HashSet<String>,
) -> Result<Vec<Change>, crate::diff::DiffError> {
    let in_namespaces = |filter: Expr| {
        if kind.namespaces.is_empty() {
            return filter;
        }
        let namespaces = kind.namespaces.iter().map(|n| lit(n.clone())).collect();
        filter.and(col("namespace").in_list(namespaces, false))
    };
    let from = DiffSide {
        provider: kind.table.clone(),
        clusters: [kind.set.clone()].into_iter().collect(),
        filter: Some(in_namespaces(col("source_path").is_not_null())),
    };
    let to = DiffSide {
        provider: kind.table.clone(),
        clusters: live.clone(),
        filter: Some(in_namespaces(col("source_path").is_null())),
    };
    let mut pairs: Vec<(String, String)> = live
        .into_iter()
        .map(|cluster| (kind.set.clone(), cluster))
        .collect();
    pairs.sort();
    let name = table_name(kind);
    let found = diff_table(
        &name,
        from,
        to,
        &DiffOptions {
            mode: Mode::Desired,
            pairs,
        },
    )
    .await?;
    Ok(found.changes)
}

/// How a user may name a declared kind: `Deployment`, `deployments`,
/// `deployments.apps`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KindName {
    pub kind: String,
    pub plural: String,
    pub qualified: String,
}

impl KindName {
    /// Whether `name` (lower case) names this kind.
    pub fn matches(&self, name: &str) -> bool {
        self.kind.to_lowercase() == name || self.plural == name || self.qualified == name
    }
}

/// The `plural.group` name a declared kind's table and failures carry.
fn table_name(kind: &DeclaredKind) -> String {
    let resource = &kind.resource;
    if resource.group.is_empty() {
        resource.plural.clone()
    } else {
        format!("{}.{}", resource.plural, resource.group)
    }
}

/// One row of `kq_drift`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Drift {
    pub cluster: String,
    pub kind: String,
    pub namespace: Option<String>,
    pub name: String,
    pub field: Option<String>,
    pub api_version: String,
    pub change: &'static str,
    pub desired: Option<String>,
    pub live: Option<String>,
    pub manifests: String,
    pub source_path: Option<String>,
    pub source_line: Option<i64>,
    pub uid: Option<String>,
}

impl Drift {
    /// One row per changed field; one for a missing or extra object.
    pub fn from_change(kind: &DeclaredKind, change: Change) -> Vec<Drift> {
        let base = Drift {
            cluster: change.cluster.clone(),
            kind: kind.resource.kind.clone(),
            namespace: Some(change.namespace.clone()).filter(|n| !n.is_empty()),
            name: change.name.clone(),
            field: None,
            api_version: kind.resource.api_version(),
            change: change.change,
            desired: None,
            live: None,
            manifests: change.from_cluster.clone(),
            source_path: change.source_path.clone(),
            source_line: change.source_line,
            uid: Some(change.uid.clone()).filter(|u| !u.is_empty()),
        };
        if change.fields.is_empty() {
            return vec![base];
        }
        change
            .fields
            .iter()
            .map(|field| Drift {
                field: Some(field.path.clone()),
                desired: Some(&field.desired)
                    .filter(|v| !v.is_null())
                    .map(scalar_text),
                live: field.live.as_ref().map(scalar_text),
                ..base.clone()
            })
            .collect()
    }
}

/// The rows as a batch of [`DriftTable::schema`].
pub fn drift_batch(drifts: &[Drift]) -> DfResult<RecordBatch> {
    let text = |get: &dyn Fn(&Drift) -> Option<String>| -> ArrayRef {
        Arc::new(drifts.iter().map(get).collect::<StringArray>())
    };
    let columns: Vec<ArrayRef> = vec![
        text(&|d| Some(d.cluster.clone())),
        text(&|d| d.namespace.clone()),
        text(&|d| Some(d.name.clone())),
        text(&|d| Some(d.kind.clone())),
        text(&|d| Some(d.api_version.clone())),
        text(&|d| Some(d.change.to_string())),
        text(&|d| d.field.clone()),
        text(&|d| d.desired.clone()),
        text(&|d| d.live.clone()),
        text(&|d| Some(d.manifests.clone())),
        text(&|d| d.source_path.clone()),
        Arc::new(drifts.iter().map(|d| d.source_line).collect::<Int64Array>()),
        text(&|d| d.uid.clone()),
    ];
    Ok(RecordBatch::try_new(DriftTable::schema(), columns)?)
}

#[async_trait]
impl TableProvider for DriftTable {
    fn schema(&self) -> SchemaRef {
        DriftTable::schema()
    }

    fn table_type(&self) -> TableType {
        TableType::View
    }

    async fn scan(
        &self,
        _state: &dyn Session,
        projection: Option<&Vec<usize>>,
        _filters: &[Expr],
        _limit: Option<usize>,
    ) -> DfResult<Arc<dyn ExecutionPlan>> {
        let batch = drift_batch(&self.compute().await?)?;
        let exec = datafusion::datasource::memory::MemorySourceConfig::try_new_exec(
            &[vec![batch]],
            self.schema(),
            projection.cloned(),
        )?;
        Ok(exec)
    }
}
