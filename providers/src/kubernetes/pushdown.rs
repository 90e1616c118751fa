//! Turning SQL filters into requests the API server can answer.
//!
//! Every filter kq recognises here is reported to DataFusion as `Inexact`:
//! kq narrows what it asks the server for (clusters, namespaces, label and
//! field selectors), and DataFusion still re-applies the filter, so SQL
//! semantics (NULLs, `!=` on a missing label) stay exactly DataFusion's.

use datafusion::common::ScalarValue;
use datafusion::logical_expr::{BinaryExpr, Expr, Operator, TableProviderFilterPushDown};

use super::labels::{valid_label_key, valid_label_value};
use super::tables::TableDef;

/// The server-side narrowing derived from a query's filters.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ScanRequest {
    /// Cluster names allowed by `cluster = / IN / LIKE`; `None` = all selected.
    pub clusters: Option<ClusterFilter>,
    /// Namespaces to list one by one; `None` = cluster-wide.
    pub namespaces: Option<Vec<String>>,
    pub label_selector: Option<String>,
    pub field_selector: Option<String>,
}

/// Cluster pruning: exact names or SQL LIKE patterns, all of which must hold.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ClusterFilter {
    pub names: Option<Vec<String>>,
    pub like: Vec<String>,
    pub not_like: Vec<String>,
}

impl ClusterFilter {
    pub fn allows(&self, cluster: &str) -> bool {
        self.names
            .as_ref()
            .is_none_or(|names| names.iter().any(|n| n == cluster))
            && self.like.iter().all(|p| like_matches(p, cluster))
            && !self.not_like.iter().any(|p| like_matches(p, cluster))
    }
}

/// Whether kq can use `filter` to narrow requests for this table.
pub fn classify(def: &TableDef, filter: &Expr) -> TableProviderFilterPushDown {
    let mut probe = ScanRequest::default();
    if absorb(def, filter, &mut probe) {
        TableProviderFilterPushDown::Inexact
    } else {
        TableProviderFilterPushDown::Unsupported
    }
}

/// Builds the request from all filters DataFusion handed to `scan`.
pub fn plan(def: &TableDef, filters: &[Expr]) -> ScanRequest {
    let mut request = ScanRequest::default();
    for filter in filters {
        absorb(def, filter, &mut request);
    }
    request
}

/// Folds one conjunct into the request; returns whether it was understood.
fn absorb(def: &TableDef, filter: &Expr, request: &mut ScanRequest) -> bool {
    match filter {
        Expr::BinaryExpr(BinaryExpr { left, op, right }) if *op == Operator::And => {
            let l = absorb(def, left, request);
            let r = absorb(def, right, request);
            l || r
        }
        Expr::BinaryExpr(BinaryExpr { left, op, right })
            if matches!(op, Operator::Eq | Operator::NotEq) =>
        {
            let (column_side, value) = match (string_literal(right), string_literal(left)) {
                (Some(v), _) => (left.as_ref(), v),
                (None, Some(v)) => (right.as_ref(), v),
                _ => return false,
            };
            let eq = *op == Operator::Eq;
            if let Some(column) = column_name(column_side) {
                if column == "cluster" && eq {
                    restrict_clusters(request, vec![value]);
                    return true;
                }
                if def.pushdown.namespace_column == Some(column) && eq {
                    restrict_namespaces(request, vec![value]);
                    return true;
                }
                if let Some((_, field)) = def
                    .pushdown
                    .field_selectors
                    .iter()
                    .find(|(c, _)| *c == column)
                    && valid_selector_value(&value)
                {
                    let term = format!("{field}{}{value}", if eq { "=" } else { "!=" });
                    push_term(&mut request.field_selector, term);
                    return true;
                }
                return false;
            }
            if let Some(key) = label_key(def, column_side)
                && valid_label_value(&value)
            {
                let term = format!("{key}{}{value}", if eq { "=" } else { "!=" });
                push_term(&mut request.label_selector, term);
                return true;
            }
            false
        }
        Expr::InList(in_list) if !in_list.negated => {
            let Some(values) = in_list
                .list
                .iter()
                .map(string_literal)
                .collect::<Option<Vec<String>>>()
            else {
                return false;
            };
            if values.is_empty() {
                return false;
            }
            if let Some(column) = column_name(&in_list.expr) {
                if column == "cluster" {
                    restrict_clusters(request, values);
                    return true;
                }
                if def.pushdown.namespace_column == Some(column) {
                    restrict_namespaces(request, values);
                    return true;
                }
                return false;
            }
            if let Some(key) = label_key(def, &in_list.expr)
                && values.iter().all(|v| valid_label_value(v))
            {
                push_term(
                    &mut request.label_selector,
                    format!("{key} in ({})", values.join(",")),
                );
                return true;
            }
            false
        }
        Expr::Like(like) if !like.case_insensitive && like.escape_char.is_none() => {
            if column_name(&like.expr) != Some("cluster") {
                return false;
            }
            let Some(pattern) = string_literal(&like.pattern) else {
                return false;
            };
            let filter = request.clusters.get_or_insert_with(ClusterFilter::default);
            if like.negated {
                filter.not_like.push(pattern);
            } else {
                filter.like.push(pattern);
            }
            true
        }
        Expr::IsNotNull(inner) => match label_key(def, inner) {
            Some(key) => {
                push_term(&mut request.label_selector, key);
                true
            }
            None => false,
        },
        _ => false,
    }
}

fn restrict_clusters(request: &mut ScanRequest, values: Vec<String>) {
    let filter = request.clusters.get_or_insert_with(ClusterFilter::default);
    filter.names = Some(match filter.names.take() {
        None => values,
        Some(existing) => existing
            .into_iter()
            .filter(|n| values.contains(n))
            .collect(),
    });
}

fn restrict_namespaces(request: &mut ScanRequest, mut values: Vec<String>) {
    values.sort();
    values.dedup();
    request.namespaces = Some(match request.namespaces.take() {
        None => values,
        Some(existing) => existing
            .into_iter()
            .filter(|n| values.contains(n))
            .collect(),
    });
}

fn push_term(selector: &mut Option<String>, term: String) {
    match selector {
        Some(existing) => {
            existing.push(',');
            existing.push_str(&term);
        }
        None => *selector = Some(term),
    }
}

fn column_name(expr: &Expr) -> Option<&str> {
    match expr {
        Expr::Column(column) => Some(column.name.as_str()),
        _ => None,
    }
}

fn string_literal(expr: &Expr) -> Option<String> {
    match expr {
        Expr::Literal(
            ScalarValue::Utf8(Some(s))
            | ScalarValue::Utf8View(Some(s))
            | ScalarValue::LargeUtf8(Some(s)),
            _,
        ) => Some(s.clone()),
        Expr::Cast(cast) => string_literal(&cast.expr),
        _ => None,
    }
}

/// `labels['app']` (planned as `get_field(labels, 'app')`) on the table's labels column.
fn label_key(def: &TableDef, expr: &Expr) -> Option<String> {
    let labels_column = def.pushdown.labels_column?;
    let Expr::ScalarFunction(function) = expr else {
        return None;
    };
    if function.name() != "get_field" || function.args.len() != 2 {
        return None;
    }
    if column_name(&function.args[0]) != Some(labels_column) {
        return None;
    }
    let key = string_literal(&function.args[1])?;
    valid_label_key(&key).then_some(key)
}

/// Field selector values cannot carry the selector's own separators.
fn valid_selector_value(value: &str) -> bool {
    !value.contains([',', '=', '!', '\\'])
}

/// SQL LIKE with `%` and `_`, case-sensitive.
pub fn like_matches(pattern: &str, text: &str) -> bool {
    fn go(p: &[char], t: &[char]) -> bool {
        match p.split_first() {
            None => t.is_empty(),
            Some(('%', rest)) => (0..=t.len()).any(|i| go(rest, &t[i..])),
            Some(('_', rest)) => !t.is_empty() && go(rest, &t[1..]),
            Some((c, rest)) => t.first() == Some(c) && go(rest, &t[1..]),
        }
    }
    let p: Vec<char> = pattern.chars().collect();
    let t: Vec<char> = text.chars().collect();
    go(&p, &t)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn like_patterns() {
        assert!(like_matches("prod-%", "prod-eu"));
        assert!(!like_matches("prod-%", "staging"));
        assert!(like_matches("d_v", "dev"));
        assert!(like_matches("%", ""));
        assert!(!like_matches("a", "ab"));
    }

    #[test]
    fn cluster_filters_combine() {
        let filter = ClusterFilter {
            names: Some(vec!["prod".into(), "dev".into()]),
            like: vec!["%d%".into()],
            not_like: vec!["dev".into()],
        };
        assert!(filter.allows("prod"));
        assert!(!filter.allows("dev"));
        assert!(!filter.allows("staging"));
    }
}
