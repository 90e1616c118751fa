//! What the cloud providers (`aws`, `gcp`, `azure`) share: columns over
//! an item type, the equality filters that prune what a scan asks a cloud
//! for, the loop that turns fetched items into one Arrow batch, and (in
//! [`scoped`]) the table that fans out over projects or subscriptions.
//!
//! A cloud table is not a Kubernetes table: its items are typed SDK
//! structs, not JSON, and a scan fans out over accounts or projects
//! rather than clusters. Only these pieces are common to every cloud; the
//! fan-out, credentials and error vocabulary stay in each provider.

#[cfg(any(feature = "gcp", feature = "azure"))]
pub(crate) mod scoped;

use arrow::array::ArrayRef;
use arrow::datatypes::SchemaRef;
use arrow::error::ArrowError;
use arrow::record_batch::{RecordBatch, RecordBatchOptions};
use datafusion::logical_expr::{BinaryExpr, Expr, Operator, TableProviderFilterPushDown};

use crate::failures::{FailureKind, FailureLog, Severity};

use crate::kubernetes::pushdown::{column_name, string_literal};
use crate::kubernetes::tables::model::{Cell, ColBuilder, ColType};

/// One column of a table over items of type `T`.
pub(crate) struct Col<T> {
    pub name: &'static str,
    pub ty: ColType,
    pub description: &'static str,
    pub get: fn(&T) -> Cell<'_>,
}

pub(crate) fn col<T>(
    name: &'static str,
    ty: ColType,
    description: &'static str,
    get: fn(&T) -> Cell<'_>,
) -> Col<T> {
    Col {
        name,
        ty,
        description,
        get,
    }
}

/// `col = 'v'`, `col IN ('a', 'b')` and `col = 'a' OR col = 'b'`, as the
/// column and its value set.
pub(crate) fn equality_set(filter: &Expr) -> Option<(&str, Vec<String>)> {
    match filter {
        Expr::BinaryExpr(BinaryExpr { left, op, right }) if *op == Operator::Eq => {
            match (column_name(left), string_literal(right)) {
                (Some(c), Some(v)) => Some((c, vec![v])),
                _ => Some((column_name(right)?, vec![string_literal(left)?])),
            }
        }
        Expr::BinaryExpr(BinaryExpr { left, op, right }) if *op == Operator::Or => {
            let (l, mut lv) = equality_set(left)?;
            let (r, rv) = equality_set(right)?;
            if l != r {
                return None;
            }
            lv.extend(rv);
            Some((l, lv))
        }
        Expr::InList(list) if !list.negated => {
            let column = column_name(&list.expr)?;
            let values = list
                .list
                .iter()
                .map(string_literal)
                .collect::<Option<Vec<_>>>()?;
            Some((column, values))
        }
        _ => None,
    }
}

/// Intersects a column's allowed values with another conjunct's.
pub(crate) fn restrict(allowed: &mut Option<Vec<String>>, values: Vec<String>) {
    *allowed = Some(match allowed.take() {
        None => values,
        Some(previous) => previous
            .into_iter()
            .filter(|v| values.contains(v))
            .collect(),
    });
}

/// The projected columns of `items` as one batch. The first `leading`
/// schema columns are the provider's own (account and region, project),
/// filled by `leading_cell(index, item)`; the rest come from `columns`.
pub(crate) fn items_batch<'c, I, T: 'c>(
    schema: SchemaRef,
    projection: &[usize],
    leading: usize,
    columns: &[Col<T>],
    items: &'c [I],
    item: impl Fn(&'c I) -> &'c T,
    leading_cell: impl Fn(usize, &'c I) -> Cell<'c>,
) -> Result<RecordBatch, ArrowError> {
    let arrays: Vec<ArrayRef> = projection
        .iter()
        .map(|&index| {
            let ty = if index < leading {
                ColType::Utf8
            } else {
                columns[index - leading].ty
            };
            let mut builder = ColBuilder::new(ty, items.len());
            for entry in items {
                let cell = if index < leading {
                    leading_cell(index, entry)
                } else {
                    (columns[index - leading].get)(item(entry))
                };
                builder.append(ty, cell);
            }
            builder.finish()
        })
        .collect();
    let options = RecordBatchOptions::new().with_row_count(Some(items.len()));
    RecordBatch::try_new_with_options(schema, arrays, &options)
}

/// Records a fetch's partial failures as warnings, grouped by `key` so
/// AccessDenied on every bucket is one line with a count, not one line
/// per bucket; `what` says what the rows lack ("some columns are NULL").
pub(crate) fn record_warnings<E: std::fmt::Display, K: PartialEq>(
    failures: &FailureLog,
    source: &str,
    table: &str,
    what: &str,
    warnings: Vec<E>,
    key: impl Fn(&E) -> K,
    kind: impl Fn(&E) -> FailureKind,
) {
    let mut groups: Vec<(E, usize)> = Vec::new();
    for warning in warnings {
        match groups.iter_mut().find(|(g, _)| key(g) == key(&warning)) {
            Some((_, count)) => *count += 1,
            None => groups.push((warning, 1)),
        }
    }
    for (warning, count) in groups {
        let resources = if count == 1 {
            String::new()
        } else {
            format!(" ({count} resources)")
        };
        failures.record(
            source,
            table,
            Severity::Warning,
            kind(&warning),
            format!("{what}: {warning}{resources}"),
        );
    }
}

/// Pushdown answers for a cloud table: filters kq can prune calls with
/// are Inexact (DataFusion re-checks every one), the rest Unsupported.
pub(crate) fn inexact_where(
    filters: &[&Expr],
    usable: impl Fn(&Expr) -> bool,
) -> Vec<TableProviderFilterPushDown> {
    filters
        .iter()
        .map(|f| {
            if usable(f) {
                TableProviderFilterPushDown::Inexact
            } else {
                TableProviderFilterPushDown::Unsupported
            }
        })
        .collect()
}
