//! Controls: one SQL file each, with a comment header saying what it is.
//!
//! ```sql
//! -- id: baseline.privileged
//! -- title: Containers do not run privileged
//! -- severity: critical
//! -- frameworks: PSS baseline, CIS 5.2.1
//! -- rationale: A privileged container has every capability and every
//! --   host device; escaping it is trivial.
//! -- remediation: Remove securityContext.privileged.
//! -- param: trusted_registries[] = registry.k8s.io/, docker.io/library/
//! SELECT ...
//! ```
//!
//! `-- live: WHY` marks a control that needs a live cluster's state (nodes,
//! what a cluster runs, other clusters of the fleet); on objects read from
//! manifests it is reported as not evaluated, never as passing.
//!
//! A header line continues on following lines that start with `--` and at
//! least two spaces. `param: NAME = VALUE` declares a text parameter and
//! `NAME[] = A, B` a list; the SQL uses it as `{{NAME}}`, which becomes a
//! SQL string literal or a `make_array(...)` of them. The packs in
//! `queries/` are compiled into the binary; a directory of `.sql` files is
//! a user's own pack.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use crate::{ControlInfo, Severity};

include!(concat!(env!("OUT_DIR"), "/embedded_packs.rs"));

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ControlError {
    #[error("{file}:{line}: {message}")]
    Header {
        file: String,
        line: usize,
        message: String,
    },
    #[error("cannot read control pack {path}: {message}")]
    Read { path: String, message: String },
    #[error("unknown pack '{name}'; the packs are {known}, or give a directory of .sql files")]
    UnknownPack { name: String, known: String },
    #[error("unknown control '{id}'; list them with `kq report --list`")]
    UnknownControl { id: String },
    #[error("control id '{id}' is defined twice: in {first} and {second}")]
    DuplicateId {
        id: String,
        first: String,
        second: String,
    },
    #[error("unknown parameter '{name}'; the selected controls take {known}")]
    UnknownParam { name: String, known: String },
    #[error("bad parameter '{text}': write NAME=VALUE (lists as A,B,C)")]
    BadParam { text: String },
    #[error("cannot read parameters from {path}: {message}")]
    ParamFile { path: String, message: String },
}

/// A declared parameter and its default.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Param {
    pub name: String,
    pub default: ParamValue,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ParamValue {
    Text(String),
    List(Vec<String>),
}

impl ParamValue {
    /// The value as a SQL expression.
    pub fn to_sql(&self) -> String {
        match self {
            ParamValue::Text(t) => sql_string(t),
            // A typed NULL keeps an empty list's element type Utf8.
            ParamValue::List(items) if items.is_empty() => {
                "make_array(CAST(NULL AS VARCHAR))".into()
            }
            ParamValue::List(items) => format!(
                "make_array({})",
                items
                    .iter()
                    .map(|i| sql_string(i))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        }
    }

    /// The value as a person writes it (`A,B`), for reports.
    pub fn display(&self) -> String {
        match self {
            ParamValue::Text(t) => t.clone(),
            ParamValue::List(items) => items.join(","),
        }
    }

    /// Parses `text` as a value of the same kind as `self`.
    fn parse_like(&self, text: &str) -> ParamValue {
        match self {
            ParamValue::Text(_) => ParamValue::Text(text.to_string()),
            ParamValue::List(_) => ParamValue::List(split_list(text)),
        }
    }
}

fn sql_string(text: &str) -> String {
    format!("'{}'", text.replace('\'', "''"))
}

fn split_list(text: &str) -> Vec<String> {
    text.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(String::from)
        .collect()
}

/// One control: its header and its SQL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Control {
    pub info: ControlInfo,
    pub params: Vec<Param>,
    /// The SQL as written, with `{{param}}` placeholders.
    pub sql: String,
}

impl Control {
    /// Parses a control file. `source` names it in errors and reports.
    pub fn parse(pack: &str, source: &str, text: &str) -> Result<Control, ControlError> {
        let err = |line: usize, message: String| ControlError::Header {
            file: source.to_string(),
            line,
            message,
        };
        let mut fields: BTreeMap<String, (usize, String)> = BTreeMap::new();
        let mut params = Vec::new();
        let mut last: Option<String> = None;
        for (index, line) in text.lines().enumerate() {
            let number = index + 1;
            let Some(comment) = line.trim_start().strip_prefix("--") else {
                if line.trim().is_empty() {
                    last = None;
                    continue;
                }
                break;
            };
            if comment.starts_with("  ")
                && !comment.trim().is_empty()
                && let Some(key) = &last
            {
                let entry = fields.get_mut(key).expect("continued field exists");
                entry.1.push(' ');
                entry.1.push_str(comment.trim());
                continue;
            }
            let comment = comment.trim();
            let Some((key, value)) = comment.split_once(':') else {
                last = None;
                continue;
            };
            let key = key.trim().to_ascii_lowercase();
            let value = value.trim().to_string();
            match key.as_str() {
                "param" => {
                    params.push(parse_param(&value).map_err(|m| err(number, m))?);
                    last = None;
                }
                "id" | "title" | "severity" | "frameworks" | "rationale" | "remediation"
                | "live" => {
                    if fields.contains_key(&key) {
                        return Err(err(number, format!("'{key}' is given twice")));
                    }
                    fields.insert(key.clone(), (number, value));
                    last = Some(key);
                }
                _ => last = None,
            }
        }
        let take = |key: &str| -> Result<(usize, String), ControlError> {
            match fields.get(key) {
                Some((line, v)) if !v.is_empty() => Ok((*line, v.clone())),
                Some((line, _)) => Err(err(*line, format!("'{key}' is empty"))),
                None => Err(err(
                    1,
                    format!(
                        "the header has no '-- {key}:' line; a control starts with id, title, severity, \
                         frameworks, rationale and remediation"
                    ),
                )),
            }
        };
        let (id_line, id) = take("id")?;
        if !id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
        {
            return Err(err(
                id_line,
                format!("control id '{id}' may only hold letters, digits, '.', '_' and '-'"),
            ));
        }
        let (sev_line, sev) = take("severity")?;
        let severity = Severity::parse(&sev).ok_or_else(|| {
            err(
                sev_line,
                format!("unknown severity '{sev}'; use info, low, medium, high or critical"),
            )
        })?;
        let frameworks = take("frameworks")?
            .1
            .split(',')
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty())
            .collect();
        let sql = text.to_string();
        let control = Control {
            info: ControlInfo {
                id,
                pack: pack.to_string(),
                title: take("title")?.1,
                severity,
                frameworks,
                rationale: take("rationale")?.1,
                remediation: take("remediation")?.1,
                source: source.to_string(),
                live: fields.get("live").map(|(_, why)| why.clone()),
            },
            params,
            sql,
        };
        let declared: BTreeSet<&str> = control.params.iter().map(|p| p.name.as_str()).collect();
        for used in placeholders(&control.sql) {
            if !declared.contains(used.as_str()) {
                return Err(err(
                    1,
                    format!(
                        "the SQL uses {{{{{used}}}}} but the header declares no '-- param: {used}'"
                    ),
                ));
            }
        }
        Ok(control)
    }

    /// The SQL with every placeholder replaced by its value (`values`
    /// overrides the declared defaults).
    pub fn bind(&self, values: &BTreeMap<String, ParamValue>) -> String {
        let mut sql = self.sql.clone();
        for p in &self.params {
            let value = values.get(&p.name).unwrap_or(&p.default);
            sql = sql.replace(&format!("{{{{{}}}}}", p.name), &value.to_sql());
        }
        sql
    }
}

fn parse_param(text: &str) -> Result<Param, String> {
    let (name, default) = text.split_once('=').ok_or_else(|| {
        format!("a parameter is declared as 'NAME = VALUE' or 'NAME[] = A, B', not '{text}'")
    })?;
    let name = name.trim();
    let (name, list) = match name.strip_suffix("[]") {
        Some(n) => (n.trim(), true),
        None => (name, false),
    };
    if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
        return Err(format!(
            "parameter name '{name}' may only hold letters, digits and '_'"
        ));
    }
    let default = if list {
        ParamValue::List(split_list(default))
    } else {
        ParamValue::Text(default.trim().to_string())
    };
    Ok(Param {
        name: name.to_string(),
        default,
    })
}

/// Names used as `{{name}}` in the SQL.
fn placeholders(sql: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let mut rest = sql;
    while let Some(start) = rest.find("{{") {
        let after = &rest[start + 2..];
        let Some(end) = after.find("}}") else { break };
        out.insert(after[..end].trim().to_string());
        rest = &after[end + 2..];
    }
    out
}

/// A named set of controls.
#[derive(Debug, Clone)]
pub struct Pack {
    pub name: String,
    pub controls: Vec<Control>,
}

/// The packs compiled into the binary, in name order.
pub fn embedded_packs() -> Result<Vec<Pack>, ControlError> {
    let mut packs: Vec<Pack> = Vec::new();
    for (pack, file, text) in EMBEDDED_CONTROLS {
        let control = Control::parse(pack, &format!("queries/{pack}/{file}"), text)?;
        match packs.iter_mut().find(|p| p.name == *pack) {
            Some(p) => p.controls.push(control),
            None => packs.push(Pack {
                name: pack.to_string(),
                controls: vec![control],
            }),
        }
    }
    packs.sort_by(|a, b| a.name.cmp(&b.name));
    for p in &mut packs {
        p.controls.sort_by(|a, b| a.info.id.cmp(&b.info.id));
    }
    Ok(packs)
}

/// A user's pack: every `.sql` file of a directory (or one `.sql` file).
pub fn load_pack_dir(path: &Path) -> Result<Pack, ControlError> {
    let read_err = |message: String| ControlError::Read {
        path: path.display().to_string(),
        message,
    };
    let name = path
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "custom".into());
    let files: Vec<std::path::PathBuf> = if path.is_file() {
        vec![path.to_path_buf()]
    } else {
        let mut files: Vec<_> = std::fs::read_dir(path)
            .map_err(|e| read_err(e.to_string()))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "sql"))
            .collect();
        files.sort();
        files
    };
    if files.is_empty() {
        return Err(read_err("it holds no .sql files".into()));
    }
    let mut controls = Vec::new();
    for file in files {
        let text = std::fs::read_to_string(&file).map_err(|e| ControlError::Read {
            path: file.display().to_string(),
            message: e.to_string(),
        })?;
        controls.push(Control::parse(&name, &file.display().to_string(), &text)?);
    }
    controls.sort_by(|a, b| a.info.id.cmp(&b.info.id));
    Ok(Pack { name, controls })
}

/// What `--pack`, `--control` and the parameters chose.
#[derive(Debug, Clone)]
pub struct Selection {
    pub packs: Vec<String>,
    pub controls: Vec<Control>,
    pub params: BTreeMap<String, ParamValue>,
    /// Every control id kq knows this run (embedded packs and the chosen
    /// directories), for checking the ids a waiver file names.
    pub known_ids: Vec<String>,
}

/// Packs that read a cloud provider's schema: they run when named
/// (`--pack gcp`), never by default, so a Kubernetes report never calls a
/// cloud its user did not ask about.
pub const OPT_IN_PACKS: &[&str] = &["azure", "gcp"];

/// Picks controls: every control of the named packs (names of embedded
/// packs or paths to directories), narrowed to `ids` when given (an id
/// alone also selects its control from any embedded pack). No pack and no
/// id means every embedded pack but the [`OPT_IN_PACKS`]. Then resolves parameters: the file's
/// values, overridden by `--param` pairs.
pub fn select(
    packs: &[String],
    ids: &[String],
    param_file: Option<&Path>,
    param_pairs: &[String],
) -> Result<Selection, ControlError> {
    let embedded = embedded_packs()?;
    let mut chosen: Vec<Pack> = Vec::new();
    for name in packs {
        if let Some(p) = embedded.iter().find(|p| p.name == *name) {
            chosen.push(p.clone());
        } else if name.contains('/') || name.ends_with(".sql") || Path::new(name).is_dir() {
            chosen.push(load_pack_dir(Path::new(name))?);
        } else {
            return Err(ControlError::UnknownPack {
                name: name.clone(),
                known: embedded
                    .iter()
                    .map(|p| p.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", "),
            });
        }
    }
    if chosen.is_empty() {
        chosen = embedded
            .iter()
            .filter(|p| !OPT_IN_PACKS.contains(&p.name.as_str()))
            .cloned()
            .collect();
    }
    let mut controls: Vec<Control> = Vec::new();
    let mut seen: BTreeMap<String, String> = BTreeMap::new();
    for p in &chosen {
        for c in &p.controls {
            if let Some(first) = seen.insert(c.info.id.clone(), c.info.source.clone()) {
                if first != c.info.source {
                    return Err(ControlError::DuplicateId {
                        id: c.info.id.clone(),
                        first,
                        second: c.info.source.clone(),
                    });
                }
                continue;
            }
            controls.push(c.clone());
        }
    }
    let mut known_ids: Vec<String> = embedded
        .iter()
        .flat_map(|p| p.controls.iter())
        .chain(controls.iter())
        .map(|c| c.info.id.clone())
        .collect();
    known_ids.sort();
    known_ids.dedup();
    if !ids.is_empty() {
        let all: Vec<&Control> = controls
            .iter()
            .chain(embedded.iter().flat_map(|p| p.controls.iter()))
            .collect();
        let mut picked: Vec<Control> = Vec::new();
        for id in ids {
            let matches: Vec<&&Control> = all
                .iter()
                .filter(|c| c.info.id == *id || id_glob_matches(id, &c.info.id))
                .collect();
            if matches.is_empty() {
                return Err(ControlError::UnknownControl { id: id.clone() });
            }
            for c in matches {
                if !picked.iter().any(|p| p.info.id == c.info.id) {
                    picked.push((*c).clone());
                }
            }
        }
        controls = picked;
    }
    let mut pack_names: Vec<String> = controls.iter().map(|c| c.info.pack.clone()).collect();
    pack_names.sort();
    pack_names.dedup();
    let params = resolve_params(&controls, param_file, param_pairs)?;
    Ok(Selection {
        packs: pack_names,
        controls,
        params,
        known_ids,
    })
}

/// Whether a control-id pattern (`baseline.*`) matches an id.
pub fn id_glob_matches(pattern: &str, id: &str) -> bool {
    pattern.contains(['*', '?', '[']) && glob::Pattern::new(pattern).is_ok_and(|p| p.matches(id))
}

fn resolve_params(
    controls: &[Control],
    file: Option<&Path>,
    pairs: &[String],
) -> Result<BTreeMap<String, ParamValue>, ControlError> {
    let mut declared: BTreeMap<String, ParamValue> = BTreeMap::new();
    for c in controls {
        for p in &c.params {
            declared
                .entry(p.name.clone())
                .or_insert_with(|| p.default.clone());
        }
    }
    let known = || {
        if declared.is_empty() {
            "no parameters".to_string()
        } else {
            declared.keys().cloned().collect::<Vec<_>>().join(", ")
        }
    };
    let mut values = declared.clone();
    if let Some(path) = file {
        let file_err = |message: String| ControlError::ParamFile {
            path: path.display().to_string(),
            message,
        };
        let text = std::fs::read_to_string(path).map_err(|e| file_err(e.to_string()))?;
        let doc: serde_yaml::Value =
            serde_yaml::from_str(&text).map_err(|e| file_err(e.to_string()))?;
        let map = doc
            .get("params")
            .unwrap_or(&doc)
            .as_mapping()
            .ok_or_else(|| {
                file_err("expected a map of parameter names to values (under 'params:')".into())
            })?;
        for (key, value) in map {
            let name = key
                .as_str()
                .ok_or_else(|| file_err("parameter names must be strings".into()))?;
            let Some(kind) = declared.get(name) else {
                // A shared file may set parameters of packs not run now.
                continue;
            };
            let parsed = match value {
                serde_yaml::Value::Sequence(items) => ParamValue::List(
                    items
                        .iter()
                        .map(|i| {
                            yaml_scalar(i).ok_or_else(|| {
                                file_err(format!("'{name}' holds a non-scalar item"))
                            })
                        })
                        .collect::<Result<_, _>>()?,
                ),
                other => kind.parse_like(
                    &yaml_scalar(other)
                        .ok_or_else(|| file_err(format!("'{name}' must be a scalar or a list")))?,
                ),
            };
            values.insert(name.to_string(), parsed);
        }
    }
    for pair in pairs {
        let (name, value) = pair
            .split_once('=')
            .ok_or_else(|| ControlError::BadParam { text: pair.clone() })?;
        let name = name.trim();
        let Some(kind) = declared.get(name) else {
            return Err(ControlError::UnknownParam {
                name: name.to_string(),
                known: known(),
            });
        };
        values.insert(name.to_string(), kind.parse_like(value.trim()));
    }
    Ok(values)
}

fn yaml_scalar(v: &serde_yaml::Value) -> Option<String> {
    match v {
        serde_yaml::Value::String(s) => Some(s.clone()),
        serde_yaml::Value::Number(n) => Some(n.to_string()),
        serde_yaml::Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = "-- id: t.one\n-- title: One\n-- severity: high\n-- frameworks: A, B\n\
        -- rationale: first part\n--   second part\n-- remediation: fix\n\
        -- param: regs[] = a/, b'c/\n-- param: label = team\n\
        SELECT {{regs}} AS r, {{label}} AS l\n";

    #[test]
    fn parses_header_continuations_and_params() {
        let c = Control::parse("t", "t/one.sql", GOOD).unwrap();
        assert_eq!(c.info.id, "t.one");
        assert_eq!(c.info.severity, Severity::High);
        assert_eq!(c.info.frameworks, vec!["A", "B"]);
        assert_eq!(c.info.rationale, "first part second part");
        let sql = c.bind(&BTreeMap::new());
        assert!(
            sql.contains("SELECT make_array('a/', 'b''c/') AS r, 'team' AS l"),
            "{sql}"
        );
        let sql = c.bind(&BTreeMap::from([(
            "regs".to_string(),
            ParamValue::List(vec![]),
        )]));
        assert!(sql.contains("make_array(CAST(NULL AS VARCHAR))"), "{sql}");
    }

    #[test]
    fn header_errors_name_file_and_line() {
        let bad = GOOD.replace("severity: high", "severity: urgent");
        let e = Control::parse("t", "t/one.sql", &bad)
            .unwrap_err()
            .to_string();
        assert_eq!(
            e,
            "t/one.sql:3: unknown severity 'urgent'; use info, low, medium, high or critical"
        );
        let missing = GOOD.replace("-- title: One\n", "");
        let e = Control::parse("t", "t/one.sql", &missing)
            .unwrap_err()
            .to_string();
        assert!(e.contains("no '-- title:' line"), "{e}");
        let undeclared = GOOD.replace("-- param: label = team\n", "");
        let e = Control::parse("t", "t/one.sql", &undeclared)
            .unwrap_err()
            .to_string();
        assert!(e.contains("uses {{label}}"), "{e}");
    }

    #[test]
    fn every_embedded_control_parses_with_a_unique_id() {
        let packs = embedded_packs().unwrap();
        let mut ids = BTreeSet::new();
        for p in &packs {
            for c in &p.controls {
                assert!(ids.insert(c.info.id.clone()), "duplicate id {}", c.info.id);
                assert!(
                    c.info.id.starts_with(&format!("{}.", p.name)),
                    "{} should start with its pack name",
                    c.info.id
                );
            }
        }
    }

    #[test]
    fn params_come_from_file_then_pairs() {
        let c = Control::parse("t", "t/one.sql", GOOD).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("params.yaml");
        std::fs::write(
            &file,
            "params:\n  regs: [x/, y/]\n  label: owner\n  other_pack: 1\n",
        )
        .unwrap();
        let values = resolve_params(
            std::slice::from_ref(&c),
            Some(&file),
            &["label=team".into()],
        )
        .unwrap();
        assert_eq!(
            values["regs"],
            ParamValue::List(vec!["x/".into(), "y/".into()])
        );
        assert_eq!(values["label"], ParamValue::Text("team".into()));
        let e = resolve_params(std::slice::from_ref(&c), None, &["nope=1".into()]).unwrap_err();
        assert_eq!(
            e.to_string(),
            "unknown parameter 'nope'; the selected controls take label, regs"
        );
        let e = resolve_params(std::slice::from_ref(&c), None, &["regs".into()]).unwrap_err();
        assert!(e.to_string().starts_with("bad parameter 'regs'"));
    }
}
