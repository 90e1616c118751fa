//! The one comparison engine behind `kq diff` and `kq_drift`: two states
//! of a table, keyed per object, and what differs between them.
//!
//! - [`Mode::Exact`] compares two states of the same fleet (two snapshots,
//!   a snapshot and the live clusters): rows are keyed by (cluster,
//!   namespace, name, uid), whichever of those the table has, and every
//!   column counts. Child tables (containers, rules, …) have several rows
//!   per key; they are compared as a set, so a new container in a pod is a
//!   change of that pod's key.
//! - [`Mode::Desired`] compares what files declare with what runs: keyed
//!   by (namespace, name), a manifest set's cluster paired with live ones,
//!   and only the fields the manifest sets count ([`desired`]).
//!
//! Only clusters read in both states are compared: a cluster missing on
//! one side is skipped and named, never reported as everything added or
//! removed.

pub mod desired;

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::sync::Arc;

use arrow::array::{Array, RecordBatch};
use arrow::util::display::{ArrayFormatter, FormatOptions};
use datafusion::datasource::TableProvider;
use datafusion::prelude::{Expr, SessionContext};

use crate::snapshot::{OBSERVED_AT, RESOURCE_VERSION};
pub use desired::FieldChange;

/// Columns that identify an object, in this order, when the table has them.
const KEY_COLUMNS: [&str; 4] = ["cluster", "namespace", "name", "uid"];
/// The whole object, which desired mode compares field by field.
const OBJECT_COLUMN: &str = "object";
/// Where a manifest's object was declared.
const SOURCE_COLUMNS: [&str; 2] = ["source_path", "source_line"];
/// Set on objects a controller made (a Deployment's ReplicaSets, Pods):
/// never extra, whatever the files say.
const OWNER_COLUMN: &str = "owner_kind";

#[derive(Debug, thiserror::Error)]
#[error("cannot compare table {table}: {why}")]
pub struct DiffError {
    pub table: String,
    pub why: String,
}

/// How two sides are compared.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Every column, both ways: `added`, `removed`, `changed`.
    Exact,
    /// Two declared states (two manifest sets: before and after a change
    /// to the files): `removed`, `added`, and `changed` with every field
    /// that differs either way.
    Declared,
    /// `from` is desired (manifests), `to` is live: `missing`, `changed`
    /// (only fields `from` sets) and `extra` (live objects of a namespaced
    /// kind that no file declares and no controller owns).
    Desired,
}

/// One side of a comparison: a table and the clusters it holds rows for.
pub struct DiffSide {
    pub provider: Arc<dyn TableProvider>,
    /// Clusters whose rows this side has (read, not failed).
    pub clusters: HashSet<String>,
    /// Keeps only this side's rows when one table holds both sides
    /// (`source_path IS NOT NULL` for a manifest set's rows).
    pub filter: Option<Expr>,
}

/// What to compare with what.
#[derive(Debug, Clone)]
pub struct DiffOptions {
    pub mode: Mode,
    /// Which cluster of `from` is compared with which of `to`; empty means
    /// each cluster with itself.
    pub pairs: Vec<(String, String)>,
}

impl DiffOptions {
    pub fn exact() -> Self {
        DiffOptions {
            mode: Mode::Exact,
            pairs: Vec::new(),
        }
    }
}

/// One object that differs.
#[derive(Debug, Clone, PartialEq)]
pub struct Change {
    pub table: String,
    /// The `to` side's cluster (the live one in desired mode).
    pub cluster: String,
    /// The `from` side's cluster (the manifest set in desired mode).
    pub from_cluster: String,
    pub namespace: String,
    pub name: String,
    pub uid: String,
    /// `added`, `removed`, `changed` (exact); `missing`, `changed`,
    /// `extra` (desired).
    pub change: &'static str,
    /// For `changed`: the columns whose values differ.
    pub columns: Vec<String>,
    /// For `changed` in desired mode: each field that differs.
    pub fields: Vec<FieldChange>,
    /// Where the `from` side's object was declared, when its table says.
    pub source_path: Option<String>,
    pub source_line: Option<i64>,
}

/// What a table comparison found, and the clusters it could not compare.
#[derive(Debug, Default)]
pub struct TableDiff {
    pub changes: Vec<Change>,
    /// Clusters present on one side only.
    pub skipped_clusters: Vec<String>,
}

/// Compares `table` between two sides.
pub async fn diff_table(
    table: &str,
    from: DiffSide,
    to: DiffSide,
    options: &DiffOptions,
) -> Result<TableDiff, DiffError> {
    let failed = |why: String| DiffError {
        table: table.to_string(),
        why,
    };
    let from_schema = from.provider.schema();
    let to_schema = to.provider.schema();
    let read: Vec<String> = to_schema
        .fields()
        .iter()
        .map(|f| f.name().clone())
        .filter(|name| name != OBSERVED_AT && name != RESOURCE_VERSION)
        .filter(|name| from_schema.field_with_name(name).is_ok())
        // Matching by object reads the whole object once; the typed
        // columns (spec, status, …) would be formatted for nothing.
        .filter(|name| {
            options.mode == Mode::Exact
                || KEY_COLUMNS
                    .iter()
                    .chain(&SOURCE_COLUMNS)
                    .chain(&[OBJECT_COLUMN, OWNER_COLUMN])
                    .any(|c| c == name)
        })
        .collect();
    let position = |column: &str| read.iter().position(|c| c == column);
    let layout = Layout {
        keys: KEY_COLUMNS.map(position),
        object: position(OBJECT_COLUMN),
        owner: position(OWNER_COLUMN),
        source: SOURCE_COLUMNS.map(position),
    };
    if layout.keys[0].is_none() {
        return Err(failed("it has no cluster column".to_string()));
    }
    if options.mode != Mode::Exact && layout.object.is_none() {
        return Err(failed(
            "it has no object column to compare fields in".to_string(),
        ));
    }
    let pairs: Vec<(String, String)> = if options.pairs.is_empty() {
        let mut both: Vec<String> = from.clusters.intersection(&to.clusters).cloned().collect();
        both.sort();
        both.into_iter().map(|c| (c.clone(), c)).collect()
    } else {
        options
            .pairs
            .iter()
            .filter(|(f, t)| from.clusters.contains(f) && to.clusters.contains(t))
            .cloned()
            .collect()
    };
    let paired_from: HashSet<&str> = pairs.iter().map(|(f, _)| f.as_str()).collect();
    let paired_to: HashSet<&str> = pairs.iter().map(|(_, t)| t.as_str()).collect();
    // Paired by name, a cluster read in one state only is named; explicit
    // pairs are the caller's choice and skip nothing.
    let skipped: Vec<String> = if options.pairs.is_empty() {
        let mut one_side: Vec<String> = from
            .clusters
            .symmetric_difference(&to.clusters)
            .cloned()
            .collect();
        one_side.sort();
        one_side
    } else {
        Vec::new()
    };
    // Desired and declared modes match objects across clusters, whose
    // uids differ by nature.
    let by_name = options.mode != Mode::Exact;
    let from_rows = rows(from, &read, &layout, by_name, &paired_from)
        .await
        .map_err(failed)?;
    let to_rows = rows(to, &read, &layout, by_name, &paired_to)
        .await
        .map_err(failed)?;
    let mut changes = Vec::new();
    for (from_cluster, to_cluster) in &pairs {
        let empty = BTreeMap::new();
        let old_rows = from_rows.get(from_cluster).unwrap_or(&empty);
        let new_rows = to_rows.get(to_cluster).unwrap_or(&empty);
        let keys: BTreeSet<&ObjectKey> = old_rows.keys().chain(new_rows.keys()).collect();
        for key in keys {
            let old = old_rows.get(key);
            let new = new_rows.get(key);
            // Where to look: the newer files for two declared states (a
            // pull request's), the desired side otherwise.
            let located = match options.mode {
                Mode::Declared => new.or(old),
                _ => old,
            };
            let source = located.and_then(|rows| rows.first()).map(|row| {
                let text = |i: Option<usize>| i.and_then(|i| row[i].clone());
                (text(layout.source[0]), text(layout.source[1]))
            });
            let uid = new
                .or(old)
                .and_then(|rows| rows.first())
                .and_then(|row| layout.keys[3].and_then(|i| row[i].clone()))
                .unwrap_or_default();
            let change = |change: &'static str, columns: Vec<String>, fields: Vec<FieldChange>| {
                let (source_path, source_line) = source.clone().unwrap_or_default();
                Change {
                    table: table.to_string(),
                    cluster: to_cluster.clone(),
                    from_cluster: from_cluster.clone(),
                    namespace: key[0].clone(),
                    name: key[1].clone(),
                    uid: uid.clone(),
                    change,
                    columns,
                    fields,
                    source_path,
                    source_line: source_line.and_then(|l| l.parse().ok()),
                }
            };
            match (old, new, options.mode) {
                (None, Some(_), Mode::Exact) => {
                    changes.push(change("added", Vec::new(), Vec::new()))
                }
                (Some(_), None, Mode::Exact) => {
                    changes.push(change("removed", Vec::new(), Vec::new()))
                }
                (Some(old), Some(new), Mode::Exact) if old != new => {
                    let columns = read
                        .iter()
                        .enumerate()
                        .filter(|(i, _)| column_values(old, *i) != column_values(new, *i))
                        .map(|(_, name)| name.clone())
                        .collect();
                    changes.push(change("changed", columns, Vec::new()));
                }
                (Some(_), None, Mode::Desired) => {
                    changes.push(change("missing", Vec::new(), Vec::new()))
                }
                (None, Some(new), Mode::Desired) => {
                    let owned = new
                        .iter()
                        .any(|row| layout.owner.is_some_and(|i| row[i].is_some()));
                    // A cluster-scoped kind has no namespace to bound it:
                    // every namespace or ClusterRole of the cluster would
                    // be "extra" to one repository's files.
                    let namespaced = !key[0].is_empty();
                    if namespaced
                        && !owned
                        && !desired::made_by_the_cluster(&object_of(new, &layout))
                    {
                        changes.push(change("extra", Vec::new(), Vec::new()));
                    }
                }
                (Some(_), None, Mode::Declared) => {
                    changes.push(change("removed", Vec::new(), Vec::new()))
                }
                (None, Some(_), Mode::Declared) => {
                    changes.push(change("added", Vec::new(), Vec::new()))
                }
                (Some(old), Some(new), Mode::Declared) => {
                    let fields =
                        desired::compare_both(&object_of(old, &layout), &object_of(new, &layout));
                    if !fields.is_empty() {
                        changes.push(change("changed", vec![OBJECT_COLUMN.to_string()], fields));
                    }
                }
                (Some(old), Some(new), Mode::Desired) => {
                    let fields =
                        desired::compare(&object_of(old, &layout), &object_of(new, &layout));
                    if !fields.is_empty() {
                        changes.push(change("changed", vec![OBJECT_COLUMN.to_string()], fields));
                    }
                }
                _ => {}
            }
        }
    }
    Ok(TableDiff {
        changes,
        skipped_clusters: skipped,
    })
}

/// Where the columns a comparison needs are in a read row.
struct Layout {
    keys: [Option<usize>; 4],
    object: Option<usize>,
    owner: Option<usize>,
    source: [Option<usize>; 2],
}

/// (namespace, name, uid) within one cluster; uid empty in desired mode.
type ObjectKey = [String; 3];
/// Each cluster's rows by object.
type ByCluster = BTreeMap<String, BTreeMap<ObjectKey, Rows>>;
/// Rows of one key, each as its compared columns' text (`None` for NULL),
/// sorted.
type Rows = Vec<Vec<Option<String>>>;

fn column_values(rows: &Rows, column: usize) -> Vec<Option<&str>> {
    let mut values: Vec<Option<&str>> = rows.iter().map(|r| r[column].as_deref()).collect();
    values.sort_unstable();
    values
}

/// The first row's object, parsed (`null` if absent or not JSON).
fn object_of(rows: &Rows, layout: &Layout) -> serde_json::Value {
    rows.first()
        .and_then(|row| layout.object.and_then(|i| row[i].as_deref()))
        .and_then(|text| serde_json::from_str(text).ok())
        .unwrap_or_default()
}

async fn rows(
    side: DiffSide,
    read: &[String],
    layout: &Layout,
    by_name: bool,
    clusters: &HashSet<&str>,
) -> Result<ByCluster, String> {
    let ctx = SessionContext::new();
    let any: &dyn std::any::Any = side.provider.as_ref();
    if let Some(location) = any
        .downcast_ref::<crate::snapshot::read::SnapshotTable>()
        .and_then(|table| table.location())
    {
        location.register(&ctx);
    }
    let columns: Vec<&str> = read.iter().map(String::as_str).collect();
    let mut listed: Vec<Expr> = clusters
        .iter()
        .map(|c| datafusion::prelude::lit(c.to_string()))
        .collect();
    listed.sort_by_key(|e| e.to_string());
    let mut frame = ctx
        .read_table(side.provider)
        .map_err(|e| crate::clean_message(&e))?;
    // Pruning here keeps a manifest set's comparison from listing every
    // cluster (and the other way round).
    frame = frame
        .filter(datafusion::prelude::col("cluster").in_list(listed, false))
        .map_err(|e| crate::clean_message(&e))?;
    if let Some(filter) = side.filter {
        frame = frame.filter(filter).map_err(|e| crate::clean_message(&e))?;
    }
    let batches: Vec<RecordBatch> = frame
        .select_columns(&columns)
        .map_err(|e| crate::clean_message(&e))?
        .collect()
        .await
        .map_err(|e| crate::clean_message(&e))?;
    let options = FormatOptions::default();
    let mut grouped = ByCluster::new();
    for batch in &batches {
        let formatters = batch
            .columns()
            .iter()
            .map(|column| ArrayFormatter::try_new(column.as_ref(), &options))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| e.to_string())?;
        for row in 0..batch.num_rows() {
            let values: Vec<Option<String>> = formatters
                .iter()
                .zip(batch.columns())
                .map(|(f, column)| (!column.is_null(row)).then(|| f.value(row).to_string()))
                .collect();
            let part = |i: usize| {
                layout.keys[i]
                    .and_then(|k| values[k].clone())
                    .unwrap_or_default()
            };
            let uid = if by_name { String::new() } else { part(3) };
            grouped
                .entry(part(0))
                .or_default()
                .entry([part(1), part(2), uid])
                .or_default()
                .push(values);
        }
    }
    for rows in grouped.values_mut().flat_map(BTreeMap::values_mut) {
        rows.sort();
    }
    Ok(grouped)
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::{Int64Array, StringArray};
    use arrow::datatypes::{DataType, Field, Schema};
    use datafusion::datasource::MemTable;

    /// (cluster, namespace, name, uid, owner_kind, object, source_path, source_line)
    type Row<'a> = (
        &'a str,
        &'a str,
        &'a str,
        &'a str,
        Option<&'a str>,
        &'a str,
        Option<&'a str>,
    );

    fn table(rows: &[Row]) -> Arc<dyn TableProvider> {
        let text = |name: &str| Field::new(name, DataType::Utf8, true);
        let schema = Arc::new(Schema::new(vec![
            text("cluster"),
            text("namespace"),
            text("name"),
            text("uid"),
            text("owner_kind"),
            text("object"),
            text("source_path"),
            Field::new("source_line", DataType::Int64, true),
        ]));
        let column = |get: &dyn Fn(&Row) -> Option<String>| -> arrow::array::ArrayRef {
            Arc::new(rows.iter().map(get).collect::<StringArray>())
        };
        let batch = RecordBatch::try_new(
            schema.clone(),
            vec![
                column(&|r| Some(r.0.to_string())),
                column(&|r| Some(r.1.to_string()).filter(|n| !n.is_empty())),
                column(&|r| Some(r.2.to_string())),
                column(&|r| Some(r.3.to_string()).filter(|u| !u.is_empty())),
                column(&|r| r.4.map(str::to_string)),
                column(&|r| Some(r.5.to_string())),
                column(&|r| r.6.map(str::to_string)),
                Arc::new(rows.iter().map(|r| r.6.map(|_| 7)).collect::<Int64Array>()),
            ],
        )
        .unwrap();
        Arc::new(MemTable::try_new(schema, vec![vec![batch]]).unwrap())
    }

    fn side(rows: &[Row], clusters: &[&str]) -> DiffSide {
        DiffSide {
            provider: table(rows),
            clusters: clusters.iter().map(|c| c.to_string()).collect(),
            filter: None,
        }
    }

    #[tokio::test]
    async fn desired_mode_pairs_sets_with_clusters_by_namespace_and_name() {
        let cm = |kind: &str, data: &str| {
            format!(r#"{{"kind":"{kind}","metadata":{{"name":"x"}},"data":{{"a":"{data}"}}}}"#)
        };
        let same = cm("ConfigMap", "1");
        let other = cm("ConfigMap", "2");
        let desired = [
            (
                "git",
                "shop",
                "same",
                "",
                None,
                same.as_str(),
                Some("a.yaml"),
            ),
            (
                "git",
                "shop",
                "edited",
                "",
                None,
                same.as_str(),
                Some("a.yaml"),
            ),
            (
                "git",
                "shop",
                "gone",
                "",
                None,
                same.as_str(),
                Some("a.yaml"),
            ),
        ];
        let live = [
            ("prod", "shop", "same", "u1", None, same.as_str(), None),
            ("prod", "shop", "edited", "u2", None, other.as_str(), None),
            ("prod", "shop", "stray", "u3", None, same.as_str(), None),
            (
                "prod",
                "shop",
                "owned",
                "u4",
                Some("ReplicaSet"),
                same.as_str(),
                None,
            ),
            ("prod", "", "cluster-wide", "u5", None, same.as_str(), None),
            (
                "dev",
                "shop",
                "not-compared",
                "u6",
                None,
                same.as_str(),
                None,
            ),
        ];
        let found = diff_table(
            "configmaps",
            side(&desired, &["git"]),
            side(&live, &["prod", "dev"]),
            &DiffOptions {
                mode: Mode::Desired,
                pairs: vec![("git".into(), "prod".into())],
            },
        )
        .await
        .unwrap();
        let summary: Vec<(String, &str, Vec<String>, Option<String>)> = found
            .changes
            .iter()
            .map(|c| {
                (
                    format!("{}/{}/{}", c.cluster, c.namespace, c.name),
                    c.change,
                    c.fields.iter().map(|f| f.path.clone()).collect(),
                    c.source_path.clone(),
                )
            })
            .collect();
        assert_eq!(
            summary,
            [
                (
                    "prod/shop/edited".into(),
                    "changed",
                    vec!["data.a".into()],
                    Some("a.yaml".into())
                ),
                (
                    "prod/shop/gone".into(),
                    "missing",
                    vec![],
                    Some("a.yaml".into())
                ),
                ("prod/shop/stray".into(), "extra", vec![], None),
            ]
        );
        assert_eq!(found.changes[0].uid, "u2");
        assert_eq!(found.changes[0].source_line, Some(7));
        assert!(found.skipped_clusters.is_empty());
    }

    #[tokio::test]
    async fn exact_mode_names_clusters_read_on_one_side_only() {
        let obj = r#"{"a":1}"#;
        let found = diff_table(
            "t",
            side(&[("a", "ns", "x", "u", None, obj, None)], &["a", "b"]),
            side(
                &[("a", "ns", "x", "u", None, r#"{"a":2}"#, None)],
                &["a", "c"],
            ),
            &DiffOptions::exact(),
        )
        .await
        .unwrap();
        assert_eq!(found.skipped_clusters, ["b", "c"]);
        assert_eq!(found.changes.len(), 1);
        assert_eq!(found.changes[0].change, "changed");
        assert_eq!(found.changes[0].columns, ["object"]);
    }
}
