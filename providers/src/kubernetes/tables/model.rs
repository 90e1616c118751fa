//! The table-description vocabulary and the one builder loop that turns JSON into Arrow.
//!
//! A table is a list of [`Col`]s (name, [`ColType`], one-line description,
//! extractor) and a [`RowSource`]: either one row per listed object, or an
//! explode function yielding child rows that keep access to their parent.
//! Extractors return a [`Cell`]; most return [`Cell::Raw`] (a JSON value) and
//! let the column type decide the conversion, so a missing or odd field is
//! NULL and a malformed quantity is NULL instead of failing the whole page.

use std::borrow::Cow;
use std::cell::OnceCell;
use std::collections::HashMap;
use std::sync::Arc;

use arrow::array::{
    ArrayRef, BooleanBuilder, Int64Builder, ListBuilder, MapBuilder, MapFieldNames, StringBuilder,
    TimestampMicrosecondBuilder,
};
use arrow::datatypes::{DataType, Field, FieldRef, TimeUnit};
use sonic_rs::{JsonContainerTrait as _, JsonValueTrait as _, Value};

use crate::image::{ImageRef, parse_image};
use crate::kubernetes::manifests::Origin;
use crate::kubernetes::resource::ResourceRef;
use crate::quantity::{cpu_millicores, memory_bytes};

/// Column types kq tables use, with the conversion applied to raw JSON values.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ColType {
    Utf8,
    /// JSON text (Utf8 with field metadata `kq.json = true`).
    Json,
    Int64,
    Boolean,
    /// UTC timestamp, microseconds; raw values are RFC 3339 strings.
    Timestamp,
    /// `Map<Utf8, Utf8>`, so `labels['app']` works.
    Map,
    /// `List<Utf8>`.
    List,
    /// Int64 millicores from a Kubernetes quantity.
    Cpu,
    /// Int64 bytes from a Kubernetes quantity.
    Bytes,
}

impl ColType {
    pub(crate) fn data_type(self) -> DataType {
        match self {
            ColType::Utf8 | ColType::Json => DataType::Utf8,
            ColType::Int64 | ColType::Cpu | ColType::Bytes => DataType::Int64,
            ColType::Boolean => DataType::Boolean,
            ColType::Timestamp => DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
            ColType::Map => DataType::Map(map_entries_field(), false),
            ColType::List => DataType::List(list_item_field()),
        }
    }
}

fn map_field_names() -> MapFieldNames {
    MapFieldNames {
        entry: "entries".to_string(),
        key: "key".to_string(),
        value: "value".to_string(),
    }
}

fn map_key_field() -> FieldRef {
    Arc::new(Field::new("key", DataType::Utf8, false))
}

fn map_value_field() -> FieldRef {
    Arc::new(Field::new("value", DataType::Utf8, true))
}

fn map_entries_field() -> FieldRef {
    Arc::new(Field::new(
        "entries",
        DataType::Struct(vec![map_key_field(), map_value_field()].into()),
        false,
    ))
}

fn list_item_field() -> FieldRef {
    Arc::new(Field::new_list_field(DataType::Utf8, true))
}

/// One value produced by an extractor, converted according to the column type.
pub(crate) enum Cell<'a> {
    Null,
    /// A JSON value from the object; the column type decides the conversion.
    Raw(&'a Value),
    Str(Cow<'a, str>),
    Int(i64),
    Bool(bool),
    List(Vec<Cow<'a, str>>),
    Pairs(Vec<(Cow<'a, str>, Option<Cow<'a, str>>)>),
}

impl<'a> Cell<'a> {
    pub(crate) fn raw(v: Option<&'a Value>) -> Self {
        match v {
            Some(v) if !v.is_null() => Cell::Raw(v),
            _ => Cell::Null,
        }
    }

    pub(crate) fn str(v: Option<&'a str>) -> Self {
        v.map_or(Cell::Null, |s| Cell::Str(Cow::Borrowed(s)))
    }

    pub(crate) fn string(v: Option<String>) -> Self {
        v.map_or(Cell::Null, |s| Cell::Str(Cow::Owned(s)))
    }

    pub(crate) fn bool(v: Option<bool>) -> Self {
        v.map_or(Cell::Null, Cell::Bool)
    }

    pub(crate) fn int(v: Option<i64>) -> Self {
        v.map_or(Cell::Null, Cell::Int)
    }
}

/// One child row of an exploded object, borrowing from the listed object.
#[derive(Clone, Copy)]
pub(crate) struct Child<'a> {
    /// The element the row describes (a container, a rule, a subject).
    pub item: &'a Value,
    /// A second element when the row is a pair (a container's status, an ingress rule of a path).
    pub aux: Option<&'a Value>,
    /// The pod spec governing a container row (pod-level security context, volumes).
    pub pod_spec: Option<&'a Value>,
    /// A constant label of the row's origin (`init`, `regular`, `ephemeral`, ...).
    pub tag: &'static str,
}

/// Context handed to every extractor.
pub(crate) struct Row<'a> {
    pub cluster: &'a str,
    pub source: &'a ResourceRef,
    /// The listed object.
    pub obj: &'a Value,
    /// The row's element; the object itself for one-row-per-object tables.
    pub item: &'a Value,
    pub aux: Option<&'a Value>,
    pub pod_spec: Option<&'a Value>,
    pub tag: &'static str,
    /// Where the object was declared, for objects read from manifests.
    pub origin: Option<&'a Origin>,
    image: OnceCell<Option<ImageRef>>,
}

impl<'a> Row<'a> {
    fn new(
        cluster: &'a str,
        source: &'a ResourceRef,
        obj: &'a Value,
        child: Child<'a>,
        origin: Option<&'a Origin>,
    ) -> Self {
        Row {
            cluster,
            source,
            obj,
            item: child.item,
            aux: child.aux,
            pod_spec: child.pod_spec,
            tag: child.tag,
            origin,
            image: OnceCell::new(),
        }
    }

    /// The row item's `image`, parsed once per row however many image columns are projected.
    pub(crate) fn image(&self) -> Option<&ImageRef> {
        self.image
            .get_or_init(|| {
                self.item
                    .get("image")
                    .and_then(Value::as_str)
                    .and_then(|s| parse_image(s).ok())
            })
            .as_ref()
    }
}

pub(crate) type Extractor = Arc<dyn for<'a> Fn(&Row<'a>) -> Cell<'a> + Send + Sync>;

/// Child rows of one listed object.
pub(crate) type Explode = for<'a> fn(&'a Value, &ResourceRef, &mut Vec<Child<'a>>);

#[derive(Clone, Copy)]
pub(crate) enum RowSource {
    Object,
    Explode(Explode),
}

/// One column: name, type, one-line description and extractor.
#[derive(Clone)]
pub(crate) struct Col {
    pub name: &'static str,
    pub ty: ColType,
    pub nullable: bool,
    pub description: &'static str,
    pub extract: Extractor,
}

impl std::fmt::Debug for Col {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Col")
            .field("name", &self.name)
            .field("ty", &self.ty)
            .finish_non_exhaustive()
    }
}

/// A column with a custom extractor.
pub(crate) fn col<F>(name: &'static str, ty: ColType, description: &'static str, f: F) -> Col
where
    F: for<'a> Fn(&Row<'a>) -> Cell<'a> + Send + Sync + 'static,
{
    Col {
        name,
        ty,
        nullable: true,
        description,
        extract: Arc::new(f),
    }
}

/// A column read from a JSON path of the row's item.
pub(crate) fn item(
    name: &'static str,
    ty: ColType,
    description: &'static str,
    path: &'static [&'static str],
) -> Col {
    col(name, ty, description, move |r| Cell::raw(at(r.item, path)))
}

/// A column read from a JSON path of the listed object.
pub(crate) fn obj(
    name: &'static str,
    ty: ColType,
    description: &'static str,
    path: &'static [&'static str],
) -> Col {
    col(name, ty, description, move |r| Cell::raw(at(r.obj, path)))
}

/// A column read from a JSON path of the row's second element.
pub(crate) fn aux(
    name: &'static str,
    ty: ColType,
    description: &'static str,
    path: &'static [&'static str],
) -> Col {
    col(name, ty, description, move |r| {
        Cell::raw(r.aux.and_then(|a| at(a, path)))
    })
}

/// The value at a path of object keys.
pub(crate) fn at<'a>(v: &'a Value, path: &[&str]) -> Option<&'a Value> {
    path.iter().try_fold(v, |v, key| v.get(key))
}

pub(crate) fn str_at<'a>(v: &'a Value, path: &[&str]) -> Option<&'a str> {
    at(v, path).and_then(Value::as_str)
}

/// Elements of the array at `path` (none when missing or not an array).
pub(crate) fn array_at<'a>(v: &'a Value, path: &[&str]) -> &'a [Value] {
    at(v, path)
        .and_then(Value::as_array)
        .map_or(&[], |a| a.as_slice())
}

/// Element of `conditions` (at `path`) whose `type` is `kind`.
pub(crate) fn condition<'a>(v: &'a Value, path: &[&str], kind: &str) -> Option<&'a Value> {
    array_at(v, path)
        .iter()
        .find(|c| c.get("type").and_then(Value::as_str) == Some(kind))
}

/// `Some(true)` when the condition's status is `True`, `Some(false)` for any
/// other status, `None` when the condition is absent.
pub(crate) fn condition_true(v: &Value, path: &[&str], kind: &str) -> Option<bool> {
    condition(v, path, kind).map(|c| c.get("status").and_then(Value::as_str) == Some("True"))
}

/// Text of a scalar JSON value; containers and null yield `None`.
pub(crate) fn scalar_text(v: &Value) -> Option<Cow<'_, str>> {
    if let Some(s) = v.as_str() {
        Some(Cow::Borrowed(s))
    } else if v.is_null() {
        None
    } else {
        // Numbers, booleans and containers print as their JSON text.
        Some(Cow::Owned(v.to_string()))
    }
}

fn parse_timestamp(s: &str) -> Option<i64> {
    chrono::DateTime::parse_from_rfc3339(s)
        .ok()
        .map(|t| t.timestamp_micros())
}

fn raw_int(v: &Value) -> Option<i64> {
    if v.is_number() {
        v.as_i64().or_else(|| {
            v.as_f64()
                .filter(|f| f.fract() == 0.0 && f.abs() < 9.2e18)
                .map(|f| f as i64)
        })
    } else {
        v.as_str().and_then(|s| s.trim().parse().ok())
    }
}

fn raw_bool(v: &Value) -> Option<bool> {
    v.as_bool().or_else(|| v.as_str().and_then(text_bool))
}

fn text_bool(s: &str) -> Option<bool> {
    if s.eq_ignore_ascii_case("true") {
        Some(true)
    } else if s.eq_ignore_ascii_case("false") {
        Some(false)
    } else {
        None
    }
}

/// One Arrow builder per projected column.
pub(crate) enum ColBuilder {
    Str(StringBuilder),
    Int(Int64Builder),
    Bool(BooleanBuilder),
    Ts(TimestampMicrosecondBuilder),
    Map(MapBuilder<StringBuilder, StringBuilder>),
    List(ListBuilder<StringBuilder>),
}

impl ColBuilder {
    pub(crate) fn new(ty: ColType, capacity: usize) -> Self {
        match ty {
            ColType::Utf8 | ColType::Json => {
                ColBuilder::Str(StringBuilder::with_capacity(capacity, capacity * 16))
            }
            ColType::Int64 | ColType::Cpu | ColType::Bytes => {
                ColBuilder::Int(Int64Builder::with_capacity(capacity))
            }
            ColType::Boolean => ColBuilder::Bool(BooleanBuilder::with_capacity(capacity)),
            ColType::Timestamp => ColBuilder::Ts(
                TimestampMicrosecondBuilder::with_capacity(capacity).with_timezone("UTC"),
            ),
            ColType::Map => ColBuilder::Map(
                MapBuilder::new(
                    Some(map_field_names()),
                    StringBuilder::new(),
                    StringBuilder::new(),
                )
                .with_keys_field(map_key_field())
                .with_values_field(map_value_field()),
            ),
            ColType::List => ColBuilder::List(
                ListBuilder::with_capacity(StringBuilder::new(), capacity)
                    .with_field(list_item_field()),
            ),
        }
    }

    pub(crate) fn append(&mut self, ty: ColType, cell: Cell<'_>) {
        match self {
            ColBuilder::Str(b) => {
                let text: Option<Cow<'_, str>> = match cell {
                    Cell::Null => None,
                    Cell::Raw(v) if ty == ColType::Json => Some(Cow::Owned(v.to_string())),
                    Cell::Raw(v) => scalar_text(v),
                    Cell::Str(s) => Some(s),
                    Cell::Int(i) => Some(Cow::Owned(i.to_string())),
                    Cell::Bool(x) => Some(Cow::Owned(x.to_string())),
                    Cell::List(items) => sonic_rs::to_string(&items).ok().map(Cow::Owned),
                    Cell::Pairs(pairs) => {
                        let map: std::collections::BTreeMap<_, _> = pairs.into_iter().collect();
                        sonic_rs::to_string(&map).ok().map(Cow::Owned)
                    }
                };
                b.append_option(text);
            }
            ColBuilder::Int(b) => {
                let value = match cell {
                    Cell::Int(i) => Some(i),
                    Cell::Raw(v) => match ty {
                        ColType::Cpu => scalar_text(v).and_then(|s| cpu_millicores(&s)),
                        ColType::Bytes => scalar_text(v).and_then(|s| memory_bytes(&s)),
                        _ => raw_int(v),
                    },
                    Cell::Str(s) => match ty {
                        ColType::Cpu => cpu_millicores(&s),
                        ColType::Bytes => memory_bytes(&s),
                        _ => s.trim().parse().ok(),
                    },
                    _ => None,
                };
                b.append_option(value);
            }
            ColBuilder::Bool(b) => {
                let value = match cell {
                    Cell::Bool(x) => Some(x),
                    Cell::Raw(v) => raw_bool(v),
                    Cell::Str(s) => text_bool(&s),
                    _ => None,
                };
                b.append_option(value);
            }
            ColBuilder::Ts(b) => {
                let value = match cell {
                    Cell::Raw(v) => v.as_str().and_then(parse_timestamp),
                    Cell::Str(s) => parse_timestamp(&s),
                    Cell::Int(micros) => Some(micros),
                    _ => None,
                };
                b.append_option(value);
            }
            ColBuilder::Map(b) => match cell {
                Cell::Raw(v) if v.is_object() => {
                    for (k, v) in v.as_object().into_iter().flat_map(|o| o.iter()) {
                        b.keys().append_value(k);
                        b.values().append_option(scalar_text(v));
                    }
                    b.append(true).unwrap_or_default();
                }
                Cell::Pairs(pairs) => {
                    for (k, v) in pairs {
                        b.keys().append_value(k);
                        b.values().append_option(v);
                    }
                    b.append(true).unwrap_or_default();
                }
                // Keys and values stay balanced (nothing appended), so append cannot fail.
                _ => b.append(false).unwrap_or_default(),
            },
            ColBuilder::List(b) => match cell {
                Cell::Raw(v) if v.is_array() => {
                    for v in v.as_array().into_iter().flat_map(|a| a.iter()) {
                        b.values().append_option(scalar_text(v));
                    }
                    b.append(true);
                }
                Cell::Raw(v) if v.is_str() => {
                    b.values().append_option(scalar_text(v));
                    b.append(true);
                }
                Cell::List(items) => {
                    for s in items {
                        b.values().append_value(s);
                    }
                    b.append(true);
                }
                _ => b.append(false),
            },
        }
    }

    pub(crate) fn finish(&mut self) -> ArrayRef {
        match self {
            ColBuilder::Str(b) => Arc::new(b.finish()),
            ColBuilder::Int(b) => Arc::new(b.finish()),
            ColBuilder::Bool(b) => Arc::new(b.finish()),
            ColBuilder::Ts(b) => Arc::new(b.finish()),
            ColBuilder::Map(b) => Arc::new(b.finish()),
            ColBuilder::List(b) => Arc::new(b.finish()),
        }
    }
}

/// The shared builder loop: rows of `items` into one array per projected column.
/// Returns the arrays and the row count (needed when nothing is projected).
/// `origins`, when given, holds one entry per item.
pub(crate) fn build_columns(
    columns: &[Col],
    rows: RowSource,
    projection: &[usize],
    cluster: &str,
    source: &ResourceRef,
    items: &[Value],
    origins: Option<&[Origin]>,
) -> (Vec<ArrayRef>, usize) {
    let origin = |i: usize| origins.and_then(|o| o.get(i));
    let selected: Vec<&Col> = projection.iter().map(|&i| &columns[i]).collect();
    let mut builders: Vec<ColBuilder> = selected
        .iter()
        .map(|c| ColBuilder::new(c.ty, items.len()))
        .collect();
    let mut count = 0usize;
    let mut emit = |row: &Row<'_>| {
        for (c, b) in selected.iter().zip(builders.iter_mut()) {
            b.append(c.ty, (c.extract)(row));
        }
        count += 1;
    };
    match rows {
        RowSource::Object => {
            for (i, obj) in items.iter().enumerate() {
                let child = Child {
                    item: obj,
                    aux: None,
                    pod_spec: None,
                    tag: "",
                };
                emit(&Row::new(cluster, source, obj, child, origin(i)));
            }
        }
        RowSource::Explode(explode) => {
            let mut children = Vec::new();
            for (i, obj) in items.iter().enumerate() {
                children.clear();
                explode(obj, source, &mut children);
                for child in children.iter().copied() {
                    emit(&Row::new(cluster, source, obj, child, origin(i)));
                }
            }
        }
    }
    let arrays = builders.iter_mut().map(ColBuilder::finish).collect();
    (arrays, count)
}

/// The Arrow field of a column, with kq's metadata: its description, and
/// the JSON marker on JSON text columns.
pub(crate) fn field(name: &str, ty: ColType, nullable: bool, description: &str) -> Field {
    let mut metadata = HashMap::from([("description".to_string(), description.to_string())]);
    if ty == ColType::Json {
        metadata.insert("kq.json".to_string(), "true".to_string());
    }
    Field::new(name, ty.data_type(), nullable).with_metadata(metadata)
}
