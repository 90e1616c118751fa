//! Comparing two states of the fleet, table by table: which objects were
//! added, removed or changed, and in which columns.
//!
//! Rows are keyed by (cluster, namespace, name, uid), whichever of those
//! the table has. Child tables (containers, rules, …) have several rows per
//! key; their rows are compared as a set, so a new container in a pod is a
//! change of that pod's key. Only clusters read in both states are
//! compared: a cluster missing on one side is skipped and named, never
//! reported as everything added or removed.

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::sync::Arc;

use arrow::array::RecordBatch;
use arrow::util::display::{ArrayFormatter, FormatOptions};
use datafusion::datasource::TableProvider;
use datafusion::prelude::SessionContext;

use super::{OBSERVED_AT, RESOURCE_VERSION, SnapshotError};

/// Columns that identify an object, in this order, when the table has them.
const KEY_COLUMNS: [&str; 4] = ["cluster", "namespace", "name", "uid"];

/// One side of a comparison: a table and the clusters it holds rows for.
pub struct DiffSide {
    pub provider: Arc<dyn TableProvider>,
    /// Clusters whose rows this side has (read, not failed).
    pub clusters: HashSet<String>,
}

/// One object that differs.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Change {
    pub table: String,
    /// The key columns' values, in [`KEY_COLUMNS`] order (empty when absent).
    pub cluster: String,
    pub namespace: String,
    pub name: String,
    pub uid: String,
    /// `added`, `removed` or `changed`.
    pub change: &'static str,
    /// For `changed`: the columns whose values differ.
    pub columns: Vec<String>,
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
) -> Result<TableDiff, SnapshotError> {
    let failed = |why: String| SnapshotError::Query {
        table: table.to_string(),
        why,
    };
    let from_schema = from.provider.schema();
    let to_schema = to.provider.schema();
    let compared: Vec<String> = to_schema
        .fields()
        .iter()
        .map(|f| f.name().clone())
        .filter(|name| name != OBSERVED_AT && name != RESOURCE_VERSION)
        .filter(|name| from_schema.field_with_name(name).is_ok())
        .collect();
    let keys: Vec<usize> = KEY_COLUMNS
        .iter()
        .map(|k| compared.iter().position(|c| c == k))
        .map(|p| p.unwrap_or(usize::MAX))
        .collect();
    if keys[0] == usize::MAX {
        return Err(failed("it has no cluster column".to_string()));
    }
    let both: HashSet<&String> = from.clusters.intersection(&to.clusters).collect();
    let mut skipped: Vec<String> = from
        .clusters
        .symmetric_difference(&to.clusters)
        .cloned()
        .collect();
    skipped.sort();
    let from_rows = rows(from.provider, &compared, &keys, &both)
        .await
        .map_err(failed)?;
    let to_rows = rows(to.provider, &compared, &keys, &both)
        .await
        .map_err(failed)?;
    let mut changes = Vec::new();
    let all_keys: BTreeSet<&Key> = from_rows.keys().chain(to_rows.keys()).collect();
    for key in all_keys {
        let change = |change: &'static str, columns: Vec<String>| Change {
            table: table.to_string(),
            cluster: key[0].clone(),
            namespace: key[1].clone(),
            name: key[2].clone(),
            uid: key[3].clone(),
            change,
            columns,
        };
        match (from_rows.get(key), to_rows.get(key)) {
            (None, Some(_)) => changes.push(change("added", Vec::new())),
            (Some(_), None) => changes.push(change("removed", Vec::new())),
            (Some(old), Some(new)) if old != new => {
                let columns = compared
                    .iter()
                    .enumerate()
                    .filter(|(i, _)| column_values(old, *i) != column_values(new, *i))
                    .map(|(_, name)| name.clone())
                    .collect();
                changes.push(change("changed", columns));
            }
            _ => {}
        }
    }
    Ok(TableDiff {
        changes,
        skipped_clusters: skipped,
    })
}

type Key = [String; 4];
/// Rows of one key, each as its compared columns' text, sorted.
type Rows = Vec<Vec<String>>;

fn column_values(rows: &Rows, column: usize) -> Vec<&str> {
    let mut values: Vec<&str> = rows.iter().map(|r| r[column].as_str()).collect();
    values.sort_unstable();
    values
}

async fn rows(
    provider: Arc<dyn TableProvider>,
    compared: &[String],
    keys: &[usize],
    clusters: &HashSet<&String>,
) -> Result<BTreeMap<Key, Rows>, String> {
    let ctx = SessionContext::new();
    let any: &dyn std::any::Any = provider.as_ref();
    if let Some(location) = any
        .downcast_ref::<super::read::SnapshotTable>()
        .and_then(|table| table.location())
    {
        location.register(&ctx);
    }
    let columns: Vec<&str> = compared.iter().map(String::as_str).collect();
    let batches: Vec<RecordBatch> = ctx
        .read_table(provider)
        .and_then(|frame| frame.select_columns(&columns))
        .map_err(|e| crate::clean_message(&e))?
        .collect()
        .await
        .map_err(|e| crate::clean_message(&e))?;
    let options = FormatOptions::default().with_null("NULL");
    let mut grouped: BTreeMap<Key, Rows> = BTreeMap::new();
    for batch in &batches {
        let formatters = batch
            .columns()
            .iter()
            .map(|column| ArrayFormatter::try_new(column.as_ref(), &options))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| e.to_string())?;
        for row in 0..batch.num_rows() {
            let values: Vec<String> = formatters
                .iter()
                .map(|f| f.value(row).to_string())
                .collect();
            if !clusters.contains(&values[keys[0]]) {
                continue;
            }
            let part = |i: usize| {
                keys.get(i)
                    .and_then(|&k| values.get(k))
                    .cloned()
                    .unwrap_or_default()
            };
            let key = [part(0), part(1), part(2), part(3)];
            grouped.entry(key).or_default().push(values);
        }
    }
    for rows in grouped.values_mut() {
        rows.sort();
    }
    Ok(grouped)
}
