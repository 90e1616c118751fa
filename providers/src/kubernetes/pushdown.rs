//! Turning SQL filters into requests the API server can answer.
//!
//! kq narrows what it asks the server for (clusters, namespaces, label and
//! field selectors). A filter is reported `Exact` only where the server's
//! answer is provably what SQL would keep, NULLs included; everything else
//! is `Inexact` and DataFusion re-applies it, so SQL semantics stay
//! exactly DataFusion's.

use datafusion::common::ScalarValue;
use datafusion::logical_expr::{BinaryExpr, Expr, Operator, TableProviderFilterPushDown};

use super::labels::{valid_label_key, valid_label_value};
use super::selector::{FieldSelector, FieldTerm, LabelSelector, LabelTerm};
use super::tables::TableDef;

/// The server-side narrowing derived from a query's filters.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ScanRequest {
    /// Cluster names allowed by `cluster = / IN / LIKE`; `None` = all selected.
    pub clusters: Option<ClusterFilter>,
    /// Namespaces to list one by one; `None` = cluster-wide.
    pub namespaces: Option<Vec<String>>,
    pub labels: LabelSelector,
    pub fields: FieldSelector,
}

/// Cluster pruning: exact names or SQL LIKE patterns, all of which must hold.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ClusterFilter {
    pub names: Option<Vec<String>>,
    pub like: Vec<String>,
    pub not_like: Vec<String>,
    /// Names excluded by `cluster != 'x'` (what `NOT LIKE` without wildcards becomes).
    pub excluded: Vec<String>,
}

impl ClusterFilter {
    pub fn allows(&self, cluster: &str) -> bool {
        self.names
            .as_ref()
            .is_none_or(|names| names.iter().any(|n| n == cluster))
            && self.like.iter().all(|p| like_matches(p, cluster))
            && !self.not_like.iter().any(|p| like_matches(p, cluster))
            && !self.excluded.iter().any(|n| n == cluster)
    }
}

/// How completely kq enforces a filter it absorbed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Absorbed {
    /// Every row kq returns satisfies the filter, NULLs included, and none
    /// that satisfies it is missing: DataFusion need not re-check it.
    Exact,
    /// kq narrows its requests with it, DataFusion still applies it.
    Inexact,
}

impl Absorbed {
    fn and(self, other: Absorbed) -> Absorbed {
        if self == Absorbed::Exact && other == Absorbed::Exact {
            Absorbed::Exact
        } else {
            Absorbed::Inexact
        }
    }
}

/// Whether kq can use `filter` to narrow requests for this table, and
/// whether the narrowing is the whole filter.
///
/// `Exact` is claimed only for forms whose server-side semantics equal
/// SQL's, NULLs included (proven against the sim in
/// `tests/tests/pushdown.rs`): cluster pruning (kq's own), `namespace =/IN`
/// (namespaced endpoints), label `=`, `!=` (sent as `k,k!=v`), `IN` and
/// `IS NOT NULL`, and field selectors with `=` on a non-empty value or on
/// `metadata.name`, which is never empty.
pub fn classify(def: &TableDef, filter: &Expr) -> TableProviderFilterPushDown {
    let mut probe = ScanRequest::default();
    match absorb(def, filter, &mut probe) {
        Some(Absorbed::Exact) => TableProviderFilterPushDown::Exact,
        Some(Absorbed::Inexact) => TableProviderFilterPushDown::Inexact,
        None => TableProviderFilterPushDown::Unsupported,
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

/// Folds one conjunct into the request; `None` when kq cannot use it.
fn absorb(def: &TableDef, filter: &Expr, request: &mut ScanRequest) -> Option<Absorbed> {
    match filter {
        Expr::BinaryExpr(BinaryExpr { left, op, right }) if *op == Operator::And => {
            match (absorb(def, left, request), absorb(def, right, request)) {
                (Some(l), Some(r)) => Some(l.and(r)),
                (Some(_), None) | (None, Some(_)) => Some(Absorbed::Inexact),
                (None, None) => None,
            }
        }
        // `x IN (a, b)`, and DataFusion's rewrite of a short one, `x = a OR x = b`.
        Expr::BinaryExpr(BinaryExpr {
            op: Operator::Or, ..
        })
        | Expr::InList(_) => {
            let (target, values) = equality_set(def, filter)?;
            restrict(request, target, values);
            Some(Absorbed::Exact)
        }
        Expr::BinaryExpr(BinaryExpr { left, op, right })
            if matches!(op, Operator::Eq | Operator::NotEq) =>
        {
            let (column_side, value) = match (string_literal(right), string_literal(left)) {
                (Some(v), _) => (left.as_ref(), v),
                (None, Some(v)) => (right.as_ref(), v),
                _ => return None,
            };
            let eq = *op == Operator::Eq;
            if eq && let Some((target, values)) = equality_set(def, filter) {
                restrict(request, target, values);
                return Some(Absorbed::Exact);
            }
            if let Some(column) = column_name(column_side) {
                if column == "cluster" && !eq {
                    request
                        .clusters
                        .get_or_insert_with(ClusterFilter::default)
                        .excluded
                        .push(value);
                    return Some(Absorbed::Exact);
                }
                let (_, field) = def
                    .pushdown
                    .field_selectors
                    .iter()
                    .find(|(c, _)| *c == column)?;
                if !valid_selector_value(&value) {
                    return None;
                }
                request.fields.push(FieldTerm {
                    field: field.to_string(),
                    value: value.clone(),
                    negated: !eq,
                });
                // The server compares a missing field as "": `!=` keeps
                // objects whose column is NULL (SQL drops them) and `= ''`
                // matches them. metadata.name is never missing or empty.
                let exact = *field == "metadata.name" || (eq && !value.is_empty());
                return Some(if exact {
                    Absorbed::Exact
                } else {
                    Absorbed::Inexact
                });
            }
            // Label `=` was a one-value set above; what is left is `!=`.
            let key = label_key(def, column_side)?;
            if eq || !valid_label_value(&value) {
                return None;
            }
            // SQL's `labels['k'] != 'v'` is NULL without the label; the
            // selector `k!=v` alone would keep such objects.
            request.labels.push(LabelTerm::Exists(key.clone()));
            request.labels.push(LabelTerm::NotEquals(key, value));
            Some(Absorbed::Exact)
        }
        Expr::Like(like) if !like.case_insensitive && like.escape_char.is_none() => {
            if column_name(&like.expr) != Some("cluster") {
                return None;
            }
            let pattern = string_literal(&like.pattern)?;
            // DataFusion reads `\` in a pattern as an escape; `like_matches`
            // does not, so such a pattern could prune a matching cluster.
            if pattern.contains('\\') {
                return None;
            }
            let filter = request.clusters.get_or_insert_with(ClusterFilter::default);
            if like.negated {
                filter.not_like.push(pattern);
            } else {
                filter.like.push(pattern);
            }
            Some(Absorbed::Exact)
        }
        Expr::IsNotNull(inner) => {
            let key = label_key(def, inner)?;
            request.labels.push(LabelTerm::Exists(key));
            Some(Absorbed::Exact)
        }
        _ => None,
    }
}

/// What a set of equalities constrains.
#[derive(Clone, Debug, PartialEq, Eq)]
enum EqTarget {
    Cluster,
    Namespace,
    Label(String),
}

/// `t = 'a' OR t = 'b' OR t IN ('c')` on one target, as its value set.
fn equality_set(def: &TableDef, expr: &Expr) -> Option<(EqTarget, Vec<String>)> {
    let target_of = |column_side: &Expr| -> Option<EqTarget> {
        match column_name(column_side) {
            Some("cluster") => Some(EqTarget::Cluster),
            Some(c) if def.pushdown.namespace_column == Some(c) => Some(EqTarget::Namespace),
            Some(_) => None,
            None => label_key(def, column_side).map(EqTarget::Label),
        }
    };
    let (target, values) = match expr {
        Expr::BinaryExpr(BinaryExpr { left, op, right }) if *op == Operator::Or => {
            let (l_target, mut l_values) = equality_set(def, left)?;
            let (r_target, r_values) = equality_set(def, right)?;
            if l_target != r_target {
                return None;
            }
            l_values.extend(r_values);
            (l_target, l_values)
        }
        Expr::BinaryExpr(BinaryExpr { left, op, right }) if *op == Operator::Eq => {
            match (string_literal(right), string_literal(left)) {
                (Some(v), _) => (target_of(left)?, vec![v]),
                (None, Some(v)) => (target_of(right)?, vec![v]),
                _ => return None,
            }
        }
        Expr::InList(in_list) if !in_list.negated => {
            let values = in_list
                .list
                .iter()
                .map(string_literal)
                .collect::<Option<Vec<String>>>()?;
            (target_of(&in_list.expr)?, values)
        }
        _ => return None,
    };
    if values.is_empty()
        || matches!(target, EqTarget::Label(_)) && !values.iter().all(|v| valid_label_value(v))
    {
        return None;
    }
    Some((target, values))
}

/// Narrows the request to a set of values of one target.
fn restrict(request: &mut ScanRequest, target: EqTarget, values: Vec<String>) {
    match target {
        EqTarget::Cluster => restrict_clusters(request, values),
        EqTarget::Namespace => restrict_namespaces(request, values),
        EqTarget::Label(key) => {
            let term = match <[String; 1]>::try_from(values) {
                Ok([one]) => LabelTerm::Equals(key, one),
                Err(values) => LabelTerm::In(key, values),
            };
            request.labels.push(term);
        }
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

pub(crate) fn restrict_namespaces(request: &mut ScanRequest, mut values: Vec<String>) {
    // No object lives in a namespace that is not a DNS label: such a value
    // matches nothing, and must never reach a URL path.
    values.retain(|v| valid_namespace(v));
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

/// The column an expression names, if it is a bare column.
pub fn column_name(expr: &Expr) -> Option<&str> {
    match expr {
        Expr::Column(column) => Some(column.name.as_str()),
        _ => None,
    }
}

/// A text literal (through casts), if the expression is one.
pub fn string_literal(expr: &Expr) -> Option<String> {
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

/// A namespace name: an RFC 1123 DNS label.
fn valid_namespace(value: &str) -> bool {
    !value.is_empty()
        && value.len() <= 63
        && value
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !value.starts_with('-')
        && !value.ends_with('-')
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
            excluded: vec!["staging".into()],
        };
        assert!(filter.allows("prod"));
        assert!(!filter.allows("dev"));
        assert!(!filter.allows("staging"));
    }
}
