//! Label and field selectors as kq sends them, and as kq evaluates them
//! itself when a server will not.
//!
//! Pushdown (the `pushdown` module) turns SQL filters into these terms; the
//! list path renders them as `labelSelector`/`fieldSelector`. A server that
//! rejects one (an older release without a field, an aggregated API that
//! supports none) gets the list without it, and [`LabelSelector::matches`]
//! and [`FieldSelector::matches`] keep exactly the objects the server
//! would have kept: the API server's own semantics, so filters declared
//! `Exact` to DataFusion stay exact.

use std::fmt;

use sonic_rs::{JsonValueTrait as _, Value};

/// One requirement on labels.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LabelTerm {
    /// `k=v`: the label exists and equals v.
    Equals(String, String),
    /// `k!=v`: the label is missing or differs (the server's semantics).
    NotEquals(String, String),
    /// `k in (a,b)`: the label exists and is one of the values.
    In(String, Vec<String>),
    /// `k`: the label exists.
    Exists(String),
}

/// A conjunction of label terms; empty selects everything.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LabelSelector(pub Vec<LabelTerm>);

impl LabelSelector {
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn push(&mut self, term: LabelTerm) {
        self.0.push(term);
    }

    /// Whether an object (its JSON) satisfies every term.
    pub fn matches(&self, object: &Value) -> bool {
        let labels = object.get("metadata").and_then(|m| m.get("labels"));
        let label = |key: &str| labels.and_then(|l| l.get(key)).and_then(|v| v.as_str());
        self.0.iter().all(|term| match term {
            LabelTerm::Equals(key, value) => label(key) == Some(value.as_str()),
            LabelTerm::NotEquals(key, value) => label(key) != Some(value.as_str()),
            LabelTerm::In(key, values) => label(key).is_some_and(|v| values.iter().any(|x| x == v)),
            LabelTerm::Exists(key) => label(key).is_some(),
        })
    }
}

impl fmt::Display for LabelSelector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, term) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            match term {
                LabelTerm::Equals(k, v) => write!(f, "{k}={v}")?,
                LabelTerm::NotEquals(k, v) => write!(f, "{k}!={v}")?,
                LabelTerm::In(k, values) => write!(f, "{k} in ({})", values.join(","))?,
                LabelTerm::Exists(k) => f.write_str(k)?,
            }
        }
        Ok(())
    }
}

/// One `field=value` or `field!=value` requirement.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FieldTerm {
    /// The server's field path (`status.phase`, `metadata.name`).
    pub field: String,
    pub value: String,
    pub negated: bool,
}

/// A conjunction of field terms; empty selects everything.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FieldSelector(pub Vec<FieldTerm>);

impl FieldSelector {
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn push(&mut self, term: FieldTerm) {
        self.0.push(term);
    }

    /// Whether an object satisfies every term. As on the server, a
    /// missing field compares as the empty string.
    pub fn matches(&self, object: &Value) -> bool {
        self.0.iter().all(|term| {
            let value = field_value(object, &term.field);
            (value == term.value) != term.negated
        })
    }
}

impl fmt::Display for FieldSelector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, term) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            let op = if term.negated { "!=" } else { "=" };
            write!(f, "{}{op}{}", term.field, term.value)?;
        }
        Ok(())
    }
}

/// The text of a field as the server's field sets render it: strings as
/// they are, booleans and numbers as text, an absent field as the server's
/// default for it ("" for most).
fn field_value(object: &Value, field: &str) -> String {
    // The few selectable fields whose name is not their path, or whose
    // absence the server reports as a value.
    let (path, default) = match field {
        "status.successful" => ("status.succeeded", "0"),
        "status.replicas" => ("status.replicas", "0"),
        "source" => ("source.component", ""),
        "spec.hostNetwork" | "spec.unschedulable" => (field, "false"),
        _ => (field, ""),
    };
    let mut current = Some(object);
    for part in path.split('.') {
        current = current.and_then(|v| v.get(part));
    }
    match current {
        Some(v) if v.is_str() => v.as_str().unwrap_or_default().to_string(),
        Some(v) if v.is_boolean() => v.as_bool().unwrap_or_default().to_string(),
        Some(v) if v.is_number() => v.to_string(),
        _ => default.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn object(text: &str) -> Value {
        sonic_rs::from_str(text).unwrap()
    }

    #[test]
    fn label_selectors_render_and_match_as_the_server_does() {
        let mut selector = LabelSelector::default();
        selector.push(LabelTerm::Exists("tier".into()));
        selector.push(LabelTerm::NotEquals("tier".into(), "db".into()));
        selector.push(LabelTerm::In(
            "app".into(),
            vec!["web".into(), "api".into()],
        ));
        assert_eq!(selector.to_string(), "tier,tier!=db,app in (web,api)");
        let web = object(r#"{"metadata":{"labels":{"app":"web","tier":"front"}}}"#);
        let db = object(r#"{"metadata":{"labels":{"app":"web","tier":"db"}}}"#);
        let bare = object(r#"{"metadata":{"labels":{"app":"web"}}}"#);
        assert!(selector.matches(&web));
        assert!(!selector.matches(&db));
        assert!(!selector.matches(&bare));
        let not_db = LabelSelector(vec![LabelTerm::NotEquals("tier".into(), "db".into())]);
        assert!(not_db.matches(&bare), "k!=v keeps objects without k");
        assert!(!LabelSelector(vec![LabelTerm::Equals("x".into(), "".into())]).matches(&bare));
    }

    #[test]
    fn field_selectors_compare_missing_fields_as_empty() {
        let selector = FieldSelector(vec![
            FieldTerm {
                field: "status.phase".into(),
                value: "Running".into(),
                negated: false,
            },
            FieldTerm {
                field: "spec.nodeName".into(),
                value: "n1".into(),
                negated: true,
            },
        ]);
        assert_eq!(
            selector.to_string(),
            "status.phase=Running,spec.nodeName!=n1"
        );
        assert!(selector.matches(&object(r#"{"status":{"phase":"Running"}}"#)));
        assert!(!selector.matches(&object(
            r#"{"status":{"phase":"Running"},"spec":{"nodeName":"n1"}}"#
        )));
        let empty = FieldSelector(vec![FieldTerm {
            field: "spec.type".into(),
            value: "".into(),
            negated: false,
        }]);
        assert!(empty.matches(&object(r#"{"spec":{}}"#)));
        let host = FieldSelector(vec![FieldTerm {
            field: "spec.hostNetwork".into(),
            value: "true".into(),
            negated: false,
        }]);
        assert!(host.matches(&object(r#"{"spec":{"hostNetwork":true}}"#)));
    }
}
