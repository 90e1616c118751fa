//! kq's SQL helper functions (DataFusion scalar UDFs) for the classic Kubernetes questions.
//!
//! - `selector_matches(selector, labels)`: label-selector matching, selector as
//!   a map (Service selectors), label-selector text (`app=web,tier in (a,b),!x`)
//!   or LabelSelector JSON (`{"matchLabels":…,"matchExpressions":…}`).
//! - `host_matches(pattern, host)`: Ingress host wildcard matching.
//! - `parse_quantity`, `cpu_millicores`, `memory_bytes`: Kubernetes quantities.
//! - `image_registry`, `image_repository`, `image_tag`, `image_digest`,
//!   `image_normalize`: image references normalized like the container runtime.
//!
//! All are vectorized, return NULL for NULL input and NULL (not an error) for
//! malformed input, so one odd object never fails a fleet-wide query.

use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::sync::Arc;

use datafusion::arrow::array::{
    Array, ArrayRef, AsArray, BooleanArray, Float64Array, Int64Array, MapArray, StringArray,
};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, Field};
use datafusion::common::{Result, ScalarValue, plan_err};
use datafusion::logical_expr::{
    ColumnarValue, DocSection, Documentation, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl,
    Signature, Volatility,
};
use serde_json::Value;

use kq_providers::image::{ImageRef, parse_image};
use kq_providers::kubernetes::labels::{valid_label_key, valid_label_value};
use kq_providers::kubernetes::tables::host_matches;
use kq_providers::quantity::parse_quantity;

const DOC_SECTION: DocSection = DocSection {
    include: true,
    label: "Kubernetes functions",
    description: Some(
        "Helpers for label selectors, Ingress hosts, quantities and image references",
    ),
};

/// Every kq SQL function, ready to register with `SessionContext::register_udf`.
pub fn kq_functions() -> Vec<ScalarUDF> {
    [
        Kind::SelectorMatches,
        Kind::HostMatches,
        Kind::ParseQuantity,
        Kind::CpuMillicores,
        Kind::MemoryBytes,
        Kind::ImageRegistry,
        Kind::ImageRepository,
        Kind::ImageTag,
        Kind::ImageDigest,
        Kind::ImageNormalize,
        Kind::StartsWithAny,
    ]
    .into_iter()
    .map(|kind| ScalarUDF::new_from_impl(KqFunction::new(kind)))
    .collect()
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum Kind {
    SelectorMatches,
    HostMatches,
    ParseQuantity,
    CpuMillicores,
    MemoryBytes,
    ImageRegistry,
    ImageRepository,
    ImageTag,
    ImageDigest,
    ImageNormalize,
    StartsWithAny,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::SelectorMatches => "selector_matches",
            Kind::HostMatches => "host_matches",
            Kind::ParseQuantity => "parse_quantity",
            Kind::CpuMillicores => "cpu_millicores",
            Kind::MemoryBytes => "memory_bytes",
            Kind::ImageRegistry => "image_registry",
            Kind::ImageRepository => "image_repository",
            Kind::ImageTag => "image_tag",
            Kind::ImageDigest => "image_digest",
            Kind::ImageNormalize => "image_normalize",
            Kind::StartsWithAny => "starts_with_any",
        }
    }

    fn arity(self) -> usize {
        match self {
            Kind::SelectorMatches | Kind::HostMatches | Kind::StartsWithAny => 2,
            _ => 1,
        }
    }

    fn return_type(self) -> DataType {
        match self {
            Kind::SelectorMatches | Kind::HostMatches | Kind::StartsWithAny => DataType::Boolean,
            Kind::ParseQuantity => DataType::Float64,
            Kind::CpuMillicores | Kind::MemoryBytes => DataType::Int64,
            _ => DataType::Utf8,
        }
    }

    fn documentation(self) -> Documentation {
        let b = |desc: &str, syntax: &str| Documentation::builder(DOC_SECTION, desc, syntax);
        let image = "Image reference, e.g. `nginx` or `quay.io/org/app:1.2`.";
        let quantity = "Kubernetes quantity text, e.g. `100m`, `1.5`, `2Gi`, `129e6`.";
        match self {
            Kind::SelectorMatches => b(
                "True when the labels satisfy the selector. The selector is a map (all pairs must match, \
                 e.g. services.selector), label-selector text (`app=web,tier in (a,b),!canary`, also \
                 `!=`, `notin`, `key`, `>`/`<`) or LabelSelector JSON (matchLabels and matchExpressions). \
                 An empty selector matches everything; NULL selector or labels give NULL; a malformed \
                 selector gives NULL.",
                "selector_matches(selector, labels)",
            )
            .with_argument("selector", "Map<Utf8,Utf8>, label-selector text or LabelSelector JSON text.")
            .with_argument("labels", "Map<Utf8,Utf8> of labels, e.g. pods.labels.")
            .with_sql_example(
                "SELECT p.name FROM services s JOIN pods p ON p.namespace = s.namespace \
                 AND selector_matches(s.selector, p.labels) WHERE s.type = 'LoadBalancer'",
            ),
            Kind::HostMatches => b(
                "True when some host name satisfies both arguments, with Kubernetes Ingress wildcard \
                 semantics: `*.example.com` matches exactly one extra DNS label (`a.example.com`, not \
                 `example.com` nor `a.b.example.com`). Symmetric, case-insensitive, ignores a trailing \
                 dot; two wildcards overlap only when equal; an empty string (a rule without host) \
                 matches every host.",
                "host_matches(pattern, host)",
            )
            .with_argument("pattern", "Host or wildcard host.")
            .with_argument("host", "Host or wildcard host.")
            .with_sql_example(
                "SELECT a.ingress_name, b.ingress_name FROM ingress_rules a JOIN ingress_rules b \
                 ON a.ingress_uid < b.ingress_uid AND host_matches(a.host, b.host)",
            ),
            Kind::ParseQuantity => b(
                "A Kubernetes quantity in base units as a float (`100m` → 0.1, `2Gi` → 2147483648). \
                 NULL when malformed.",
                "parse_quantity(text)",
            )
            .with_argument("text", quantity),
            Kind::CpuMillicores => b(
                "A CPU quantity in millicores, rounded up as Kubernetes does (`100m` → 100, `1.5` → 1500). \
                 NULL when malformed.",
                "cpu_millicores(text)",
            )
            .with_argument("text", quantity),
            Kind::MemoryBytes => b(
                "A memory or storage quantity in bytes, rounded up (`2Gi` → 2147483648, `500M` → 500000000). \
                 NULL when malformed.",
                "memory_bytes(text)",
            )
            .with_argument("text", quantity),
            Kind::ImageRegistry => b(
                "Registry of an image reference, normalized (`nginx` → docker.io). NULL when malformed.",
                "image_registry(image)",
            )
            .with_argument("image", image),
            Kind::ImageRepository => b(
                "Repository of an image reference, normalized (`nginx` → library/nginx). NULL when malformed.",
                "image_repository(image)",
            )
            .with_argument("image", image),
            Kind::ImageTag => b(
                "Tag of an image reference; `latest` when neither tag nor digest is given, NULL when \
                 only a digest is. NULL when malformed.",
                "image_tag(image)",
            )
            .with_argument("image", image),
            Kind::ImageDigest => b(
                "Digest of an image reference (`sha256:…`), NULL when absent or malformed.",
                "image_digest(image)",
            )
            .with_argument("image", image),
            Kind::ImageNormalize => b(
                "Fully qualified image reference (`nginx` → docker.io/library/nginx:latest). NULL when malformed.",
                "image_normalize(image)",
            )
            .with_argument("image", image),
            Kind::StartsWithAny => b(
                "True when the text starts with any of the prefixes (Gatekeeper's any_prefix_match). \
                 NULL text gives NULL; NULL prefixes are ignored.",
                "starts_with_any(text, prefixes)",
            )
            .with_argument("text", "Text, e.g. containers.image_ref.")
            .with_argument("prefixes", "List of text, e.g. make_array('registry.k8s.io/', 'docker.io/library/').")
            .with_sql_example(
                "SELECT image_ref FROM containers \
                 WHERE NOT starts_with_any(image_ref, make_array('registry.k8s.io/'))",
            ),
        }
        .build()
    }
}

#[derive(Debug)]
struct KqFunction {
    kind: Kind,
    signature: Signature,
    documentation: Documentation,
}

impl KqFunction {
    fn new(kind: Kind) -> Self {
        KqFunction {
            kind,
            // Argument types are checked in return_type; inputs are cast there-after.
            signature: Signature::any(kind.arity(), Volatility::Immutable),
            documentation: kind.documentation(),
        }
    }
}

impl PartialEq for KqFunction {
    fn eq(&self, other: &Self) -> bool {
        self.kind == other.kind
    }
}

impl Eq for KqFunction {}

impl Hash for KqFunction {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.kind.hash(state);
    }
}

fn is_text(t: &DataType) -> bool {
    matches!(
        t,
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View | DataType::Null
    )
}

fn is_map_of_strings(t: &DataType) -> bool {
    match t {
        DataType::Map(entries, _) => match entries.data_type() {
            DataType::Struct(fields) => {
                fields.len() == 2 && fields.iter().all(|f| is_text(f.data_type()))
            }
            _ => false,
        },
        DataType::Null => true,
        _ => false,
    }
}

impl ScalarUDFImpl for KqFunction {
    fn name(&self) -> &str {
        self.kind.name()
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, arg_types: &[DataType]) -> Result<DataType> {
        let name = self.kind.name();
        match self.kind {
            Kind::SelectorMatches => {
                if !(is_text(&arg_types[0]) || is_map_of_strings(&arg_types[0])) {
                    return plan_err!(
                        "{name}: the selector must be a map or text, not {}",
                        arg_types[0]
                    );
                }
                if !is_map_of_strings(&arg_types[1]) {
                    return plan_err!(
                        "{name}: the labels must be a map of strings, not {}",
                        arg_types[1]
                    );
                }
            }
            Kind::StartsWithAny => {
                if !is_text(&arg_types[0]) {
                    return plan_err!("{name}: the text must be text, not {}", arg_types[0]);
                }
                let ok = match &arg_types[1] {
                    DataType::List(f) | DataType::LargeList(f) | DataType::FixedSizeList(f, _) => {
                        is_text(f.data_type())
                    }
                    DataType::Null => true,
                    _ => false,
                };
                if !ok {
                    return plan_err!(
                        "{name}: the prefixes must be a list of text, not {}",
                        arg_types[1]
                    );
                }
            }
            Kind::ParseQuantity | Kind::CpuMillicores | Kind::MemoryBytes => {
                let t = &arg_types[0];
                if !(is_text(t) || t.is_numeric()) {
                    return plan_err!("{name}: expects a quantity as text or number, not {t}");
                }
            }
            _ => {
                if let Some(t) = arg_types.iter().find(|t| !is_text(t)) {
                    return plan_err!("{name}: expects text arguments, not {t}");
                }
            }
        }
        Ok(self.kind.return_type())
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let all_scalar = args
            .args
            .iter()
            .all(|a| matches!(a, ColumnarValue::Scalar(_)));
        let arrays = ColumnarValue::values_to_arrays(&args.args)?;
        let out: ArrayRef = match self.kind {
            Kind::SelectorMatches => {
                let scalar_selector = matches!(args.args[0], ColumnarValue::Scalar(_));
                selector_matches(&arrays[0], &arrays[1], scalar_selector)?
            }
            Kind::HostMatches => {
                let a = as_utf8(&arrays[0])?;
                let b = as_utf8(&arrays[1])?;
                let (a, b) = (a.as_string::<i32>(), b.as_string::<i32>());
                Arc::new(
                    a.iter()
                        .zip(b.iter())
                        .map(|(x, y)| Some(host_matches(x?, y?)))
                        .collect::<BooleanArray>(),
                )
            }
            Kind::ParseQuantity => {
                let text = as_utf8(&arrays[0])?;
                Arc::new(
                    text.as_string::<i32>()
                        .iter()
                        .map(|s| parse_quantity(s?).ok().map(|q| q.as_f64()))
                        .collect::<Float64Array>(),
                )
            }
            Kind::CpuMillicores | Kind::MemoryBytes => {
                let text = as_utf8(&arrays[0])?;
                let convert: fn(&str) -> Option<i64> = if self.kind == Kind::CpuMillicores {
                    kq_providers::quantity::cpu_millicores
                } else {
                    kq_providers::quantity::memory_bytes
                };
                Arc::new(
                    text.as_string::<i32>()
                        .iter()
                        .map(|s| convert(s?))
                        .collect::<Int64Array>(),
                )
            }
            Kind::ImageRegistry => image_fn(&arrays[0], |i| Some(i.registry))?,
            Kind::ImageRepository => image_fn(&arrays[0], |i| Some(i.repository))?,
            Kind::ImageTag => image_fn(&arrays[0], |i| i.tag)?,
            Kind::ImageDigest => image_fn(&arrays[0], |i| i.digest)?,
            Kind::ImageNormalize => image_fn(&arrays[0], |i| Some(i.normalized()))?,
            Kind::StartsWithAny => starts_with_any(&arrays[0], &arrays[1])?,
        };
        if all_scalar {
            Ok(ColumnarValue::Scalar(ScalarValue::try_from_array(&out, 0)?))
        } else {
            Ok(ColumnarValue::Array(out))
        }
    }

    fn documentation(&self) -> Option<&Documentation> {
        Some(&self.documentation)
    }
}

/// Any text or numeric array as Utf8 (NULL arrays become all-null Utf8).
fn as_utf8(a: &ArrayRef) -> Result<ArrayRef> {
    Ok(cast(a, &DataType::Utf8)?)
}

fn image_fn(a: &ArrayRef, part: fn(ImageRef) -> Option<String>) -> Result<ArrayRef> {
    let text = as_utf8(a)?;
    Ok(Arc::new(
        text.as_string::<i32>()
            .iter()
            .map(|s| parse_image(s?).ok().and_then(part))
            .collect::<StringArray>(),
    ))
}

fn starts_with_any(text: &ArrayRef, prefixes: &ArrayRef) -> Result<ArrayRef> {
    let text = as_utf8(text)?;
    let text = text.as_string::<i32>();
    let lists = cast(
        prefixes,
        &DataType::List(Arc::new(Field::new_list_field(DataType::Utf8, true))),
    )?;
    let lists = lists.as_list::<i32>();
    Ok(Arc::new(
        (0..text.len())
            .map(|row| {
                if text.is_null(row) {
                    return None;
                }
                let t = text.value(row);
                if lists.is_null(row) {
                    return Some(false);
                }
                let values = lists.value(row);
                let values = values.as_string::<i32>();
                Some(values.iter().flatten().any(|p| t.starts_with(p)))
            })
            .collect::<BooleanArray>(),
    ))
}

/// One requirement of a label selector.
#[derive(Debug, Clone, PartialEq)]
enum Requirement {
    Equals(String, String),
    NotEquals(String, String),
    In(String, Vec<String>),
    NotIn(String, Vec<String>),
    Exists(String),
    DoesNotExist(String),
    GreaterThan(String, i64),
    LessThan(String, i64),
}

impl Requirement {
    fn matches(&self, labels: &HashMap<&str, &str>) -> bool {
        match self {
            Requirement::Equals(k, v) => labels.get(k.as_str()) == Some(&v.as_str()),
            Requirement::NotEquals(k, v) => labels.get(k.as_str()) != Some(&v.as_str()),
            Requirement::In(k, vs) => labels
                .get(k.as_str())
                .is_some_and(|l| vs.iter().any(|v| v == l)),
            Requirement::NotIn(k, vs) => labels
                .get(k.as_str())
                .is_none_or(|l| !vs.iter().any(|v| v == l)),
            Requirement::Exists(k) => labels.contains_key(k.as_str()),
            Requirement::DoesNotExist(k) => !labels.contains_key(k.as_str()),
            Requirement::GreaterThan(k, n) => labels
                .get(k.as_str())
                .and_then(|l| l.parse::<i64>().ok())
                .is_some_and(|l| l > *n),
            Requirement::LessThan(k, n) => labels
                .get(k.as_str())
                .and_then(|l| l.parse::<i64>().ok())
                .is_some_and(|l| l < *n),
        }
    }
}

/// Builds a requirement from a key and a value of an operator term.
type MakeRequirement = fn(String, String) -> Option<Requirement>;

/// A parsed selector: all requirements must hold (none: matches everything).
type Selector = Vec<Requirement>;

/// Splits on commas outside parentheses.
fn split_terms(s: &str) -> Option<Vec<&str>> {
    let mut terms = Vec::new();
    let mut depth = 0i32;
    let mut start = 0;
    for (i, c) in s.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => {
                depth -= 1;
                if depth < 0 {
                    return None;
                }
            }
            ',' if depth == 0 => {
                terms.push(&s[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    if depth != 0 {
        return None;
    }
    terms.push(&s[start..]);
    Some(terms)
}

fn parse_set(rest: &str) -> Option<Vec<String>> {
    let inner = rest.trim().strip_prefix('(')?.strip_suffix(')')?;
    let values: Vec<String> = inner.split(',').map(|v| v.trim().to_string()).collect();
    values
        .iter()
        .all(|v| valid_label_value(v))
        .then_some(values)
}

/// Parses label-selector text (`a=b,c!=d,e in (f,g),h notin (i),j,!k,l>3`).
fn parse_label_selector(text: &str) -> Option<Selector> {
    let text = text.trim();
    if text.is_empty() {
        return Some(Vec::new());
    }
    let mut reqs = Vec::new();
    for term in split_terms(text)? {
        let term = term.trim();
        if let Some(key) = term.strip_prefix('!') {
            let key = key.trim();
            if !valid_label_key(key) {
                return None;
            }
            reqs.push(Requirement::DoesNotExist(key.to_string()));
            continue;
        }
        let ops: [(&str, MakeRequirement); 5] = [
            ("!=", |k, v| Some(Requirement::NotEquals(k, v))),
            ("==", |k, v| Some(Requirement::Equals(k, v))),
            ("=", |k, v| Some(Requirement::Equals(k, v))),
            (">", |k, v| {
                v.parse().ok().map(|n| Requirement::GreaterThan(k, n))
            }),
            ("<", |k, v| {
                v.parse().ok().map(|n| Requirement::LessThan(k, n))
            }),
        ];
        if let Some((pos, op, make)) = ops
            .iter()
            .filter_map(|(op, make)| term.find(op).map(|p| (p, *op, make)))
            .min_by_key(|(p, op, _)| (*p, std::cmp::Reverse(op.len())))
        {
            let key = term[..pos].trim();
            let value = term[pos + op.len()..].trim();
            if !valid_label_key(key) || !valid_label_value(value) {
                return None;
            }
            reqs.push(make(key.to_string(), value.to_string())?);
            continue;
        }
        let mut words = term.splitn(2, char::is_whitespace);
        let key = words.next().unwrap_or_default();
        if !valid_label_key(key) {
            return None;
        }
        match words.next().map(str::trim_start) {
            None => reqs.push(Requirement::Exists(key.to_string())),
            Some(rest) => {
                if let Some(set) = rest.strip_prefix("notin") {
                    reqs.push(Requirement::NotIn(key.to_string(), parse_set(set)?));
                } else if let Some(set) = rest.strip_prefix("in") {
                    reqs.push(Requirement::In(key.to_string(), parse_set(set)?));
                } else {
                    return None;
                }
            }
        }
    }
    Some(reqs)
}

/// Parses a LabelSelector object (`matchLabels`, `matchExpressions`).
fn parse_json_selector(v: &Value) -> Option<Selector> {
    let obj = v.as_object()?;
    let mut reqs = Vec::new();
    match obj.get("matchLabels") {
        None | Some(Value::Null) => {}
        Some(Value::Object(m)) => {
            for (k, v) in m {
                reqs.push(Requirement::Equals(k.clone(), v.as_str()?.to_string()));
            }
        }
        Some(_) => return None,
    }
    match obj.get("matchExpressions") {
        None | Some(Value::Null) => {}
        Some(Value::Array(exprs)) => {
            for e in exprs {
                let key = e.get("key")?.as_str()?.to_string();
                let values = || -> Option<Vec<String>> {
                    match e.get("values") {
                        None | Some(Value::Null) => Some(Vec::new()),
                        Some(Value::Array(vs)) => {
                            vs.iter().map(|v| v.as_str().map(str::to_string)).collect()
                        }
                        Some(_) => None,
                    }
                };
                reqs.push(match e.get("operator")?.as_str()? {
                    "In" => Requirement::In(key, values()?),
                    "NotIn" => Requirement::NotIn(key, values()?),
                    "Exists" => Requirement::Exists(key),
                    "DoesNotExist" => Requirement::DoesNotExist(key),
                    _ => return None,
                });
            }
        }
        Some(_) => return None,
    }
    Some(reqs)
}

/// A text selector: LabelSelector JSON when it looks like an object, else label-selector syntax.
fn parse_text_selector(text: &str) -> Option<Selector> {
    let t = text.trim();
    if t.starts_with('{') {
        parse_json_selector(&serde_json::from_str(t).ok()?)
    } else {
        parse_label_selector(t)
    }
}

/// Key/value pairs of one map row (`None` when the row is NULL).
fn map_row(map: &MapArray, row: usize) -> Option<Vec<(String, Option<String>)>> {
    if map.is_null(row) {
        return None;
    }
    let entries = map.value(row);
    let keys = cast(entries.column(0), &DataType::Utf8).ok()?;
    let values = cast(entries.column(1), &DataType::Utf8).ok()?;
    let (keys, values) = (keys.as_string::<i32>(), values.as_string::<i32>());
    Some(
        (0..keys.len())
            .map(|i| {
                let v = (!values.is_null(i)).then(|| values.value(i).to_string());
                (keys.value(i).to_string(), v)
            })
            .collect(),
    )
}

fn selector_matches(selector: &ArrayRef, labels: &ArrayRef, scalar: bool) -> Result<ArrayRef> {
    let rows = labels.len();
    // One selector per row; a literal selector is parsed once.
    let selector_at: Box<dyn Fn(usize) -> Option<Option<Selector>>> = match selector.data_type() {
        DataType::Null => Box::new(|_| None),
        DataType::Map(_, _) => {
            let map = selector.as_map().clone();
            Box::new(move |row| {
                map_row(&map, row).map(|pairs| {
                    pairs
                        .into_iter()
                        .map(|(k, v)| v.map(|v| Requirement::Equals(k, v)))
                        .collect::<Option<Selector>>()
                })
            })
        }
        _ => {
            let text = as_utf8(selector)?;
            let text = text.as_string::<i32>().clone();
            if scalar && rows > 0 && !text.is_empty() {
                let parsed = (!text.is_null(0)).then(|| parse_text_selector(text.value(0)));
                Box::new(move |_| parsed.clone())
            } else {
                Box::new(move |row| {
                    (!text.is_null(row)).then(|| parse_text_selector(text.value(row)))
                })
            }
        }
    };
    let label_map = match labels.data_type() {
        DataType::Map(_, _) => Some(labels.as_map()),
        _ => None,
    };
    let mut out = BooleanArray::builder(rows);
    for row in 0..rows {
        let Some(parsed) = selector_at(row) else {
            out.append_null();
            continue;
        };
        let Some(pairs) = label_map.and_then(|m| map_row(m, row)) else {
            out.append_null();
            continue;
        };
        let Some(reqs) = parsed else {
            out.append_null();
            continue;
        };
        let labels: HashMap<&str, &str> = pairs
            .iter()
            .filter_map(|(k, v)| v.as_deref().map(|v| (k.as_str(), v)))
            .collect();
        out.append_value(reqs.iter().all(|r| r.matches(&labels)));
    }
    Ok(Arc::new(out.finish()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::array::{MapBuilder, MapFieldNames, StringBuilder};
    use datafusion::arrow::record_batch::RecordBatch;
    use datafusion::arrow::util::pretty::pretty_format_batches;
    use datafusion::datasource::MemTable;
    use datafusion::prelude::SessionContext;

    fn labels(m: &[(&str, &str)]) -> HashMap<String, String> {
        m.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn matches(selector: &str, l: &HashMap<String, String>) -> Option<bool> {
        let reqs = parse_text_selector(selector)?;
        let l: HashMap<&str, &str> = l.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        Some(reqs.iter().all(|r| r.matches(&l)))
    }

    #[test]
    fn label_selector_syntax() {
        let l = labels(&[("app", "web"), ("tier", "front"), ("rank", "5")]);
        assert_eq!(matches("", &l), Some(true));
        assert_eq!(matches("app=web", &l), Some(true));
        assert_eq!(matches("app==web", &l), Some(true));
        assert_eq!(matches("app = web , tier=front", &l), Some(true));
        assert_eq!(matches("app=db", &l), Some(false));
        assert_eq!(matches("app!=db", &l), Some(true));
        assert_eq!(matches("missing!=x", &l), Some(true));
        assert_eq!(matches("tier in (back, front)", &l), Some(true));
        assert_eq!(matches("tier in (back)", &l), Some(false));
        assert_eq!(matches("missing in (x)", &l), Some(false));
        assert_eq!(matches("tier notin (back)", &l), Some(true));
        assert_eq!(matches("missing notin (x)", &l), Some(true));
        assert_eq!(matches("app", &l), Some(true));
        assert_eq!(matches("!app", &l), Some(false));
        assert_eq!(matches("!canary", &l), Some(true));
        assert_eq!(matches("rank>3,rank<6", &l), Some(true));
        assert_eq!(matches("rank>5", &l), Some(false));
        assert_eq!(matches("app=web,tier in (a,front),!canary", &l), Some(true));
        for bad in [
            "app=",
            "=web",
            "tier in back",
            "tier in (a",
            "a b c",
            "app=we b",
            "x>y",
        ] {
            if bad == "app=" {
                // An empty value is valid: it matches an empty label value.
                assert_eq!(matches(bad, &l), Some(false));
                continue;
            }
            assert_eq!(matches(bad, &l), None, "{bad:?}");
        }
    }

    #[test]
    fn json_label_selectors() {
        let l = labels(&[("app", "web"), ("env", "prod")]);
        assert_eq!(matches("{}", &l), Some(true));
        assert_eq!(matches(r#"{"matchLabels":{"app":"web"}}"#, &l), Some(true));
        assert_eq!(matches(r#"{"matchLabels":{"app":"db"}}"#, &l), Some(false));
        let expr = r#"{"matchLabels":{"app":"web"},"matchExpressions":[
            {"key":"env","operator":"In","values":["prod","stage"]},
            {"key":"canary","operator":"DoesNotExist"}]}"#;
        assert_eq!(matches(expr, &l), Some(true));
        let expr = r#"{"matchExpressions":[{"key":"env","operator":"NotIn","values":["prod"]}]}"#;
        assert_eq!(matches(expr, &l), Some(false));
        let expr = r#"{"matchExpressions":[{"key":"app","operator":"Exists"}]}"#;
        assert_eq!(matches(expr, &l), Some(true));
        assert_eq!(
            matches(
                r#"{"matchExpressions":[{"key":"a","operator":"Bogus"}]}"#,
                &l
            ),
            None
        );
        assert_eq!(matches("{not json", &l), None);
    }

    fn map_array(rows: &[Option<&[(&str, &str)]>]) -> ArrayRef {
        let names = MapFieldNames {
            entry: "entries".into(),
            key: "key".into(),
            value: "value".into(),
        };
        let mut b = MapBuilder::new(Some(names), StringBuilder::new(), StringBuilder::new());
        for row in rows {
            match row {
                Some(pairs) => {
                    for (k, v) in *pairs {
                        b.keys().append_value(k);
                        b.values().append_value(v);
                    }
                    b.append(true).unwrap();
                }
                None => b.append(false).unwrap(),
            }
        }
        Arc::new(b.finish())
    }

    async fn context() -> SessionContext {
        let ctx = SessionContext::new();
        for f in kq_functions() {
            ctx.register_udf(f);
        }
        let selector = map_array(&[
            Some(&[("app", "web")]),
            Some(&[]),
            None,
            Some(&[("app", "db")]),
        ]);
        let labels = map_array(&[
            Some(&[("app", "web"), ("tier", "front")]),
            Some(&[("x", "y")]),
            Some(&[("app", "web")]),
            None,
        ]);
        let text: ArrayRef = Arc::new(StringArray::from(vec![
            Some("app=web"),
            Some(""),
            None,
            Some("app in ("),
        ]));
        let schema = Arc::new(datafusion::arrow::datatypes::Schema::new(vec![
            datafusion::arrow::datatypes::Field::new("id", DataType::Int64, false),
            datafusion::arrow::datatypes::Field::new(
                "selector",
                selector.data_type().clone(),
                true,
            ),
            datafusion::arrow::datatypes::Field::new("labels", labels.data_type().clone(), true),
            datafusion::arrow::datatypes::Field::new("text", DataType::Utf8, true),
        ]));
        let ids: ArrayRef = Arc::new(Int64Array::from(vec![1, 2, 3, 4]));
        let batch =
            RecordBatch::try_new(schema.clone(), vec![ids, selector, labels, text]).unwrap();
        let table = MemTable::try_new(schema, vec![vec![batch]]).unwrap();
        ctx.register_table("t", Arc::new(table)).unwrap();
        ctx
    }

    async fn query(ctx: &SessionContext, sql: &str) -> String {
        let batches = ctx.sql(sql).await.unwrap().collect().await.unwrap();
        pretty_format_batches(&batches).unwrap().to_string()
    }

    fn lines(s: &str) -> Vec<String> {
        s.lines()
            .filter(|l| l.starts_with('|'))
            .skip(1)
            .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
            .collect()
    }

    #[tokio::test]
    async fn selector_matches_in_sql() {
        let ctx = context().await;
        let out = query(
            &ctx,
            "SELECT id, selector_matches(selector, labels) AS m, selector_matches(text, labels) AS t, \
             selector_matches('tier=front', labels) AS lit, \
             selector_matches('{\"matchLabels\":{\"app\":\"web\"}}', labels) AS js, \
             selector_matches(NULL, labels) AS n FROM t ORDER BY id",
        )
        .await;
        assert_eq!(
            lines(&out),
            vec![
                "| 1 | true | true | true | true | |",
                "| 2 | true | true | false | false | |",
                "| 3 | | | false | true | |",
                "| 4 | | | | | |",
            ],
            "{out}"
        );
    }

    #[tokio::test]
    async fn host_quantity_and_image_functions_in_sql() {
        let ctx = context().await;
        let out = query(
            &ctx,
            "SELECT host_matches('*.example.com', 'a.example.com') AS a, \
             host_matches('*.example.com', 'a.b.example.com') AS b, \
             host_matches('*.example.com', '*.example.com') AS c, \
             host_matches(NULL, 'x') AS d",
        )
        .await;
        assert_eq!(lines(&out), vec!["| true | false | true | |"], "{out}");

        let out = query(
            &ctx,
            "SELECT parse_quantity('100m') AS a, cpu_millicores('1.5') AS b, memory_bytes('1.5Gi') AS c, \
             memory_bytes('129e6') AS d, cpu_millicores('bogus') AS e, cpu_millicores(NULL) AS f, \
             memory_bytes(2) AS g",
        )
        .await;
        assert_eq!(
            lines(&out),
            vec!["| 0.1 | 1500 | 1610612736 | 129000000 | | | 2 |"],
            "{out}"
        );

        let out = query(
            &ctx,
            "SELECT image_registry(i) AS r, image_repository(i) AS p, image_tag(i) AS t, \
             image_digest(i) AS d, image_normalize(i) AS n FROM (VALUES ('nginx'), \
             ('localhost:5000/app:1.2'), ('Not Valid'), (NULL)) AS v(i)",
        )
        .await;
        assert_eq!(
            lines(&out),
            vec![
                "| docker.io | library/nginx | latest | | docker.io/library/nginx:latest |",
                "| localhost:5000 | app | 1.2 | | localhost:5000/app:1.2 |",
                "| | | | | |",
                "| | | | | |",
            ],
            "{out}"
        );
    }

    #[tokio::test]
    async fn functions_vectorize_over_columns_and_reject_wrong_types() {
        let ctx = context().await;
        let out = query(
            &ctx,
            "SELECT id, image_registry(text) AS r, cpu_millicores(text) AS c FROM t ORDER BY id",
        )
        .await;
        assert_eq!(lines(&out).len(), 4, "{out}");
        let err = ctx
            .sql("SELECT selector_matches(labels, id) FROM t")
            .await
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(
            err.contains("selector_matches: the labels must be a map"),
            "{err}"
        );
        let err = ctx
            .sql("SELECT image_tag(labels) FROM t")
            .await
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(err.contains("image_tag: expects text"), "{err}");
    }

    #[tokio::test]
    async fn information_schema_shows_the_documentation() {
        use datafusion::prelude::SessionConfig;
        let ctx =
            SessionContext::new_with_config(SessionConfig::new().with_information_schema(true));
        for f in kq_functions() {
            ctx.register_udf(f);
        }
        let out = query(
            &ctx,
            "SELECT DISTINCT routine_name, description FROM information_schema.routines \
             WHERE routine_name = 'cpu_millicores'",
        )
        .await;
        assert!(out.contains("A CPU quantity in millicores"), "{out}");
    }

    #[tokio::test]
    async fn starts_with_any_matches_prefixes_and_keeps_nulls() {
        let ctx = context().await;
        let out = query(
            &ctx,
            "SELECT t, starts_with_any(t, make_array('docker.io/library/', 'registry.k8s.io/')) AS ok, \
                    starts_with_any(t, make_array(CAST(NULL AS VARCHAR))) AS none \
             FROM (VALUES ('docker.io/library/nginx:1'), ('ghcr.io/x/y:2'), (NULL)) v(t) ORDER BY t",
        )
        .await;
        let rows = lines(&out);
        assert!(
            rows.iter()
                .any(|r| r == "| docker.io/library/nginx:1 | true | false |"),
            "{out}"
        );
        assert!(
            rows.iter()
                .any(|r| r == "| ghcr.io/x/y:2 | false | false |"),
            "{out}"
        );
        assert!(
            rows.iter().any(|r| r == "| | | |"),
            "NULL text gives NULL: {out}"
        );
    }

    #[test]
    fn every_function_is_documented() {
        let fs = kq_functions();
        assert_eq!(fs.len(), 11);
        for f in fs {
            let doc = f.documentation().expect("documented");
            assert!(!doc.description.is_empty());
            assert!(doc.syntax_example.starts_with(f.name()));
        }
    }
}
