//! Kubernetes objects as typed Arrow tables: the catalog of table definitions and their decoding.
//!
//! A [`TableDef`] names a table, the API resources listed to fill it, what
//! the API server can filter for it ([`PushdownHints`]), and how a page of
//! list items becomes a [`RecordBatch`]. The definitions themselves are
//! short descriptions in the submodules (`core`, `workloads`, `containers`,
//! `network`, `rbac`, `cluster`); [`model`] holds the vocabulary and the one
//! builder loop shared by all of them.

mod cluster;
mod common;
mod containers;
mod core;
mod generic;
pub(crate) mod model;
mod network;
mod rbac;
mod workloads;

use std::fmt::Write as _;
use std::sync::Arc;

use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use arrow::error::ArrowError;
use arrow::record_batch::{RecordBatch, RecordBatchOptions};

use crate::kubernetes::manifests::Origin;
use crate::kubernetes::resource::ResourceRef;
use model::{Cell, Col, ColType, RowSource, build_columns, col};

pub use generic::generic_table;
pub use network::host_matches;

/// What the API server can evaluate for a table (see DESIGN.md, "Pushdown").
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PushdownHints {
    /// Column equal to the listed object's `metadata.namespace` (normally
    /// `namespace`); `None` when no source of the table is namespaced.
    pub namespace_column: Option<&'static str>,
    /// Column holding the listed object's labels map, if any.
    pub labels_column: Option<&'static str>,
    /// `(column, server field path)` pairs the API server filters on for all
    /// sources of the table with identical semantics for non-null values.
    pub field_selectors: Vec<(&'static str, &'static str)>,
    /// Each listed object yields exactly one row.
    pub one_row_per_object: bool,
}

/// Options that change what tables expose.
#[derive(Clone, Copy, Debug, Default)]
pub struct TableOptions {
    /// Expose decoded Secret values (`secrets.data`). Off by default: kq never shows them otherwise.
    pub show_secret_values: bool,
}

/// Errors from decoding list items into a record batch.
#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    #[error("decode table {table}: projection index {index} out of range ({columns} columns)")]
    Projection {
        table: String,
        index: usize,
        columns: usize,
    },
    #[error("decode table {table}: parse list body: {message}")]
    Parse { table: String, message: String },
    #[error("decode table {table}: build record batch: {source}")]
    Arrow {
        table: String,
        #[source]
        source: ArrowError,
    },
}

/// A table: its name, sources, pushdown hints, schema and row extraction.
#[derive(Clone)]
pub struct TableDef {
    /// Plural snake_case: `pods`, `containers`, `cluster_role_bindings`.
    pub name: String,
    /// One line.
    pub description: String,
    /// Resources listed to fill the table.
    pub sources: Vec<ResourceRef>,
    pub pushdown: PushdownHints,
    /// Other names the table may be registered under: the kubectl plural of an
    /// object table whose name differs (`configmaps` for `config_maps`).
    pub aliases: Vec<String>,
    columns: Arc<[Col]>,
    rows: RowSource,
    schema: SchemaRef,
}

impl std::fmt::Debug for TableDef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TableDef")
            .field("name", &self.name)
            .field("sources", &self.sources)
            .field("pushdown", &self.pushdown)
            .finish_non_exhaustive()
    }
}

impl TableDef {
    /// Assembles a definition; `field_selectors` are added to the hints derived from the shape.
    pub(crate) fn new(
        name: &str,
        description: &str,
        sources: Vec<ResourceRef>,
        rows: RowSource,
        columns: Vec<Col>,
        field_selectors: Vec<(&'static str, &'static str)>,
    ) -> Self {
        let mut columns = columns;
        columns.extend(origin_columns());
        let fields: Vec<Field> = columns
            .iter()
            .map(|c| model::field(c.name, c.ty, c.nullable, c.description))
            .collect();
        let has = |n: &str| columns.iter().any(|c| c.name == n);
        let one_row_per_object = matches!(rows, RowSource::Object);
        let pushdown = PushdownHints {
            namespace_column: (sources.iter().any(|s| s.namespaced) && has("namespace"))
                .then_some("namespace"),
            labels_column: if one_row_per_object && has("labels") {
                Some("labels")
            } else {
                None
            },
            field_selectors,
            one_row_per_object,
        };
        let plural = sources.first().map(|s| s.plural.clone());
        let aliases = match plural {
            Some(p) if one_row_per_object && sources.len() == 1 && p != name => vec![p],
            _ => Vec::new(),
        };
        TableDef {
            name: name.to_string(),
            description: description.to_string(),
            sources,
            pushdown,
            aliases,
            columns: columns.into(),
            rows,
            schema: Arc::new(Schema::new(fields)),
        }
    }

    /// Overrides the labels column of a child table (the listed object's labels under another name).
    pub(crate) fn with_labels_column(mut self, column: &'static str) -> Self {
        self.pushdown.labels_column = Some(column);
        self
    }

    /// Stable column order; every field carries metadata `description`, JSON text columns also `kq.json`.
    pub fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }

    /// Rows for one page of list items (items may lack apiVersion/kind; `source` says what was listed).
    /// Only projected columns are computed; an empty projection still yields the row count.
    pub fn decode(
        &self,
        cluster: &str,
        source: &ResourceRef,
        items: &[sonic_rs::Value],
        projection: Option<&[usize]>,
    ) -> Result<RecordBatch, DecodeError> {
        self.decode_with_origins(cluster, source, items, None, projection)
    }

    /// Like [`decode`](Self::decode) for objects read from manifests:
    /// `origins` has one entry per item, and fills `source_path`/`source_line`.
    pub fn decode_with_origins(
        &self,
        cluster: &str,
        source: &ResourceRef,
        items: &[sonic_rs::Value],
        origins: Option<&[Origin]>,
        projection: Option<&[usize]>,
    ) -> Result<RecordBatch, DecodeError> {
        let all: Vec<usize>;
        let projection = match projection {
            Some(p) => p,
            None => {
                all = (0..self.columns.len()).collect();
                &all
            }
        };
        if let Some(&index) = projection.iter().find(|&&i| i >= self.columns.len()) {
            return Err(DecodeError::Projection {
                table: self.name.clone(),
                index,
                columns: self.columns.len(),
            });
        }
        let arrow_err = |source| DecodeError::Arrow {
            table: self.name.clone(),
            source,
        };
        let schema = Arc::new(self.schema.project(projection).map_err(arrow_err)?);
        let (arrays, rows) = build_columns(
            &self.columns,
            self.rows,
            projection,
            cluster,
            source,
            items,
            origins,
        );
        RecordBatch::try_new_with_options(
            schema,
            arrays,
            &RecordBatchOptions::new().with_row_count(Some(rows)),
        )
        .map_err(arrow_err)
    }
}

/// The last two columns of every table: where a row's object was declared
/// when it was read from a file (`--manifests`); NULL for what a server listed.
fn origin_columns() -> [Col; 2] {
    [
        col(
            "source_path",
            ColType::Utf8,
            "File the object was read from (--manifests, --kustomize); NULL for objects a server listed",
            |r| Cell::str(r.origin.map(|o| &*o.path)),
        ),
        col(
            "source_line",
            ColType::Int64,
            "Line of the file where the object starts; NULL for objects a server listed and for rendered output",
            |r| Cell::int(r.origin.and_then(|o| o.line).map(i64::from)),
        ),
    ]
}

/// Rows for one `<Kind>List` response body: the path a list page takes,
/// bytes to one sonic-rs parse to Arrow builders for the projected columns.
pub fn decode_list_body(
    def: &TableDef,
    cluster: &str,
    source: &ResourceRef,
    body: &[u8],
    projection: Option<&[usize]>,
) -> Result<RecordBatch, DecodeError> {
    let page = crate::kubernetes::list::ListPage::parse(body).map_err(|e| DecodeError::Parse {
        table: def.name.clone(),
        message: e.to_string(),
    })?;
    def.decode(cluster, source, &page.items, projection)
}

/// Every typed table kq ships, in catalog order.
pub fn builtin_tables(options: TableOptions) -> Vec<TableDef> {
    let mut tables = Vec::new();
    tables.extend(cluster::tables());
    tables.extend(core::tables(options));
    tables.extend(workloads::tables());
    tables.extend(containers::tables());
    tables.extend(network::tables());
    tables.extend(rbac::tables());
    tables
}

fn type_name(dt: &DataType) -> String {
    match dt {
        DataType::Utf8 => "Utf8".to_string(),
        DataType::Int64 => "Int64".to_string(),
        DataType::Boolean => "Boolean".to_string(),
        DataType::Timestamp(_, _) => "Timestamp (UTC)".to_string(),
        DataType::Map(_, _) => "Map<Utf8, Utf8>".to_string(),
        DataType::List(_) => "List<Utf8>".to_string(),
        other => other.to_string(),
    }
}

/// A README-ready Markdown reference: one section per table with its columns.
pub fn markdown_reference(tables: &[TableDef]) -> String {
    let mut out = String::new();
    for t in tables {
        let _ = writeln!(out, "### `{}`\n\n{}\n", t.name, t.description);
        let _ = writeln!(out, "| column | type | description |");
        let _ = writeln!(out, "|---|---|---|");
        for f in t.schema.fields() {
            let mut ty = type_name(f.data_type());
            if f.metadata().get("kq.json").is_some_and(|v| v == "true") {
                ty = "JSON (Utf8)".to_string();
            }
            let desc = f
                .metadata()
                .get("description")
                .map(|d| d.replace('|', "\\|"))
                .unwrap_or_default();
            let _ = writeln!(out, "| `{}` | {} | {} |", f.name(), ty, desc);
        }
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests;
