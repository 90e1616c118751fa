//! Generic tables for any discovered resource without a typed table (CRDs included).

use serde::ser::{Serialize, SerializeMap, Serializer};
use sonic_rs::{JsonContainerTrait as _, Value};

use super::TableDef;
use super::common::object_table;
use super::model::{Cell, ColType as T, RowSource, col};
use crate::kubernetes::resource::ResourceRef;

/// The object as JSON with `apiVersion`/`kind` restored from the listed
/// resource, `metadata.managedFields` dropped, and listed top-level fields
/// (a Secret's data) left out.
struct ObjectView<'a> {
    obj: &'a Value,
    api_version: &'a str,
    kind: &'a str,
    hidden: &'a [&'a str],
}

struct Metadata<'a>(&'a sonic_rs::Object);

impl Serialize for Metadata<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(None)?;
        for (k, v) in self.0 {
            if k != "managedFields" {
                m.serialize_entry(k, v)?;
            }
        }
        m.end()
    }
}

impl Serialize for ObjectView<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(None)?;
        m.serialize_entry("apiVersion", self.api_version)?;
        m.serialize_entry("kind", self.kind)?;
        if let Some(fields) = self.obj.as_object() {
            for (k, v) in fields {
                if k == "apiVersion" || k == "kind" || self.hidden.contains(&k) {
                    continue;
                }
                match (k, v.as_object()) {
                    ("metadata", Some(meta)) => m.serialize_entry(k, &Metadata(meta))?,
                    _ => m.serialize_entry(k, v)?,
                }
            }
        }
        m.end()
    }
}

/// Table for any discovered resource without a typed table: common columns + spec, status, object JSON.
pub fn generic_table(name: &str, resource: ResourceRef) -> TableDef {
    let mut cols = object_table(Vec::new());
    cols.push(col(
        "object",
        T::Json,
        "The whole object (JSON, without managedFields)",
        |r| {
            // Secret values never leave through the generic path either.
            let hidden: &[&str] = if r.source.group.is_empty() && r.source.kind == "Secret" {
                &["data", "stringData"]
            } else {
                &[]
            };
            let view = ObjectView {
                obj: r.obj,
                api_version: &r.source.api_version(),
                kind: &r.source.kind,
                hidden,
            };
            Cell::string(sonic_rs::to_string(&view).ok())
        },
    ));
    let description = format!("{} ({})", resource.kind, resource.api_version());
    let field_selectors = vec![("name", "metadata.name")];
    let mut table = TableDef::new(
        name,
        &description,
        vec![resource],
        RowSource::Object,
        cols,
        field_selectors,
    );
    // The caller chose the name (possibly group-qualified after a clash); the plural is not an alias.
    table.aliases.clear();
    table
}
