//! Kubernetes objects read from files, stdin or `kubectl kustomize` instead of a server.
//!
//! `--manifests [NAME=]PATH` makes a set of objects that every table reads
//! as if a cluster named NAME had listed them: the same typed columns and
//! child tables, with `source_path`/`source_line` saying where each row was
//! declared. Fields only a server sets (uid, status, resourceVersion) stay
//! absent. What kubectl apply would do to an object before the server sees
//! it is done here too: a namespaced object without a namespace gets the
//! one given (`-n`) or `default`, and a Secret's `stringData` becomes
//! `data`. Problems in the files (bad YAML, a document without `kind`, a
//! duplicate) are collected, not fatal: the CLI decides (`--strict`) and
//! files them in `kq_errors` under the table [`PROBLEMS_TABLE`].

pub mod kinds;
mod parse;

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::io::Read as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use base64::Engine as _;
use sonic_rs::{JsonContainerTrait as _, JsonValueMutTrait as _, JsonValueTrait as _, Value};

use crate::kubernetes::resource::ResourceRef;
use crate::kubernetes::tables::{TableOptions, builtin_tables};
use kinds::{KindResolver, KindSource};
use parse::Document;

/// The `cluster` value of manifests given without `NAME=`.
pub const DEFAULT_SET_NAME: &str = "manifests";

/// The `table` of a manifest problem in `kq_errors`.
pub const PROBLEMS_TABLE: &str = "files";

/// The `source_path` of objects read from standard input.
pub const STDIN_PATH: &str = "<stdin>";

/// Where a row's object was declared.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Origin {
    pub path: Arc<str>,
    /// 1-based line of the object's first line; unknown for rendered output.
    pub line: Option<u32>,
}

/// One `--manifests`/`--kustomize` argument.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ManifestSource {
    /// The `cluster` value of its rows.
    pub name: String,
    pub input: Input,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Input {
    /// A file, a directory (read recursively) or a glob.
    Path(String),
    /// `-`: standard input.
    Stdin,
    /// A kustomization directory, rendered by `kubectl kustomize`.
    Kustomize(PathBuf),
}

/// Inputs kq cannot read at all: the command line is wrong, not a file.
#[derive(Debug, thiserror::Error)]
pub enum ManifestError {
    #[error(
        "--manifests {path}: no such file or directory; give a file, a directory, a glob or - for stdin"
    )]
    Missing { path: String },
    #[error("--manifests {pattern}: no file matches the glob")]
    NoMatch { pattern: String },
    #[error("--manifests {pattern}: invalid glob: {source}")]
    Glob {
        pattern: String,
        #[source]
        source: glob::PatternError,
    },
    #[error("--manifests -: cannot read standard input: {source}")]
    Stdin {
        #[source]
        source: std::io::Error,
    },
    #[error("--manifests - is given twice; standard input can be read once")]
    StdinTwice,
    #[error("--kustomize {dir}: cannot run kubectl kustomize: {source}; kubectl must be on PATH")]
    KubectlMissing {
        dir: String,
        #[source]
        source: std::io::Error,
    },
    #[error("--kustomize {dir}: kubectl kustomize failed: {message}")]
    Kustomize { dir: String, message: String },
    #[error("{flag} {spec}: the name before '=' is empty; write NAME=PATH or just PATH")]
    EmptyName { flag: &'static str, spec: String },
}

/// Something wrong in a file: the object is left out, the rest is read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Problem {
    pub path: Arc<str>,
    pub line: Option<usize>,
    pub message: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.line {
            Some(line) => write!(f, "{}:{line}: {}", self.path, self.message),
            None => write!(f, "{}: {}", self.path, self.message),
        }
    }
}

/// The objects of one kind in a set, as a server's list would hold them.
#[derive(Debug)]
pub struct Bucket {
    pub resource: ResourceRef,
    pub kind_source: KindSource,
    pub items: Vec<Value>,
    pub origins: Vec<Origin>,
}

/// The objects of one `NAME`, by (group, kind).
#[derive(Debug)]
pub struct ManifestSet {
    pub name: String,
    buckets: BTreeMap<(String, String), Bucket>,
    /// What is wrong in the files (objects left out, or read although no
    /// current server would accept them), and why; the CLI files them in
    /// `kq_errors`.
    pub problems: Vec<Problem>,
}

impl ManifestSet {
    /// The objects of `group`/`kind`, if any.
    pub fn bucket(&self, group: &str, kind: &str) -> Option<&Bucket> {
        self.buckets.get(&(group.to_string(), kind.to_string()))
    }

    pub fn buckets(&self) -> impl Iterator<Item = &Bucket> {
        self.buckets.values()
    }

    /// Where an object of `kind` was declared (the first of that name
    /// when several groups share the kind).
    pub fn origin_of(&self, kind: &str, namespace: Option<&str>, name: &str) -> Option<&Origin> {
        self.buckets
            .values()
            .filter(|b| b.resource.kind == kind)
            .find_map(|b| {
                b.items.iter().zip(&b.origins).find_map(|(object, origin)| {
                    let metadata = &object["metadata"];
                    let matches = metadata["name"].as_str() == Some(name)
                        && metadata["namespace"].as_str().filter(|n| !n.is_empty()) == namespace;
                    matches.then_some(origin)
                })
            })
    }

    pub fn object_count(&self) -> usize {
        self.buckets.values().map(|b| b.items.len()).sum()
    }
}

impl ManifestSource {
    /// Parses `[NAME=]PATH`; `kustomize` for `--kustomize`.
    pub fn parse(spec: &str, kustomize: bool) -> Result<Self, ManifestError> {
        let flag = if kustomize {
            "--kustomize"
        } else {
            "--manifests"
        };
        // NAME= is taken only when what precedes '=' could not be a path.
        let (name, path) = match spec.split_once('=') {
            Some((name, path)) if !name.contains(['/', '\\', '.', '*']) => {
                if name.is_empty() {
                    return Err(ManifestError::EmptyName {
                        flag,
                        spec: spec.to_string(),
                    });
                }
                (name.to_string(), path)
            }
            _ => (DEFAULT_SET_NAME.to_string(), spec),
        };
        let input = if kustomize {
            Input::Kustomize(PathBuf::from(path))
        } else if path == "-" {
            Input::Stdin
        } else {
            Input::Path(path.to_string())
        };
        Ok(Self { name, input })
    }
}

/// How objects are completed as kubectl apply would.
#[derive(Clone, Debug)]
pub struct LoadOptions {
    /// For namespaced objects that name none (`-n`, else `default`).
    pub default_namespace: String,
    /// The kubectl that renders `--kustomize`.
    pub kubectl: PathBuf,
}

impl Default for LoadOptions {
    fn default() -> Self {
        Self {
            default_namespace: "default".to_string(),
            kubectl: PathBuf::from("kubectl"),
        }
    }
}

/// One object read, before its kind is resolved.
struct Declared {
    set: usize,
    object: Value,
    origin: Origin,
}

/// Reads every source into sets (sources with the same name share one).
pub fn load(
    sources: &[ManifestSource],
    options: &LoadOptions,
) -> Result<Vec<ManifestSet>, ManifestError> {
    let mut names: Vec<String> = Vec::new();
    let mut problems: Vec<Vec<Problem>> = Vec::new();
    let mut declared = Vec::new();
    let mut stdin_read = false;
    for source in sources {
        let set = match names.iter().position(|n| *n == source.name) {
            Some(i) => i,
            None => {
                names.push(source.name.clone());
                problems.push(Vec::new());
                names.len() - 1
            }
        };
        let mut files = Vec::new();
        match &source.input {
            Input::Stdin => {
                if std::mem::replace(&mut stdin_read, true) {
                    return Err(ManifestError::StdinTwice);
                }
                let mut text = String::new();
                std::io::stdin()
                    .read_to_string(&mut text)
                    .map_err(|source| ManifestError::Stdin { source })?;
                files.push(FileText::yaml(STDIN_PATH, text));
            }
            Input::Path(path) => {
                for file in expand(path)? {
                    match std::fs::read_to_string(&file) {
                        Ok(text) => files.push(FileText::new(&file, text)),
                        Err(e) => problems[set].push(Problem {
                            path: display(&file).into(),
                            line: None,
                            message: format!("cannot read the file: {e}"),
                        }),
                    }
                }
            }
            Input::Kustomize(dir) => files.push(kustomize(dir, &options.kubectl)?),
        }
        for file in files {
            read_file(set, &file, &mut declared, &mut problems[set]);
        }
    }
    let typed: Vec<ResourceRef> = builtin_tables(TableOptions::default())
        .into_iter()
        .flat_map(|t| t.sources)
        .collect();
    let mut resolver = KindResolver::new(&typed);
    for d in &declared {
        if d.object["kind"].as_str() == Some("CustomResourceDefinition")
            && d.object["apiVersion"]
                .as_str()
                .is_some_and(|v| v.starts_with("apiextensions.k8s.io/"))
        {
            resolver.learn_definition(&d.object);
        }
    }
    let mut sets: Vec<ManifestSet> = names
        .into_iter()
        .zip(problems)
        .map(|(name, problems)| ManifestSet {
            name,
            buckets: BTreeMap::new(),
            problems,
        })
        .collect();
    // (set, group, kind, namespace, name) → where it was first declared.
    let mut seen: HashMap<(usize, String, String, String, String), Origin> = HashMap::new();
    for Declared {
        set,
        mut object,
        origin,
    } in declared
    {
        let api_version = object["apiVersion"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        let kind = object["kind"].as_str().unwrap_or_default().to_string();
        if let Some(removed) = kinds::removed_version(&api_version, &kind) {
            // Still read, so the file's other checks run; said, because
            // applying it would fail on any current cluster.
            sets[set].problems.push(Problem {
                path: origin.path.clone(),
                line: origin.line.map(|l| l as usize),
                message: format!(
                    "{api_version} {kind} is no longer served (removed in Kubernetes {}), so kubectl apply would fail; use {}",
                    removed.removed_in, removed.replacement
                ),
            });
        }
        let (mut resource, kind_source) = resolver.resolve(&api_version, &kind);
        if resource.group == "autoscaling"
            && kind == "HorizontalPodAutoscaler"
            && resource.version == "v1"
        {
            // Read as the server stores it, so its table's v2 columns and
            // a drift comparison (listed in v2) see the same fields.
            hpa_v1_to_v2(&mut object);
            resource.version = "v2".to_string();
        }
        complete(&mut object, &resource, &options.default_namespace);
        let namespace = object["metadata"]["namespace"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        if let Some(name) = object["metadata"]["name"].as_str() {
            let key = (
                set,
                resource.group.clone(),
                kind.clone(),
                namespace.clone(),
                name.to_string(),
            );
            if let Some(first) = seen.get(&key) {
                let scope = if namespace.is_empty() {
                    String::new()
                } else {
                    format!(" in namespace {namespace}")
                };
                sets[set].problems.push(Problem {
                    path: origin.path.clone(),
                    line: origin.line.map(|l| l as usize),
                    message: format!(
                        "{kind} {name}{scope} is declared again (first at {}); the first is kept",
                        location(first)
                    ),
                });
                continue;
            }
            seen.insert(key, origin.clone());
        }
        let bucket = sets[set]
            .buckets
            .entry((resource.group.clone(), kind.clone()))
            .or_insert_with(|| Bucket {
                resource,
                kind_source,
                items: Vec::new(),
                origins: Vec::new(),
            });
        bucket.items.push(object);
        bucket.origins.push(origin);
    }
    Ok(sets)
}

fn location(origin: &Origin) -> String {
    match origin.line {
        Some(line) => format!("{}:{line}", origin.path),
        None => origin.path.to_string(),
    }
}

/// What kubectl apply does to an object before the server sees it.
fn complete(object: &mut Value, resource: &ResourceRef, default_namespace: &str) {
    if object.get("metadata").is_none_or(|m| !m.is_object()) {
        object.insert("metadata", sonic_rs::Object::new().into_value());
    }
    let Some(metadata) = object.get_mut("metadata") else {
        return;
    };
    let has_namespace = metadata["namespace"]
        .as_str()
        .is_some_and(|n| !n.is_empty());
    if resource.namespaced && !has_namespace {
        metadata.insert("namespace", Value::from(default_namespace));
    } else if !resource.namespaced && metadata.get("namespace").is_some() {
        // The server ignores a namespace on a cluster-scoped object.
        if let Some(metadata) = metadata.as_object_mut() {
            metadata.remove(&"namespace");
        }
    }
    if resource.group.is_empty() && resource.kind == "Secret" {
        merge_string_data(object);
    }
}

/// autoscaling/v1's CPU target as autoscaling/v2 spells it: the
/// apiserver's own conversion of `targetCPUUtilizationPercentage`.
fn hpa_v1_to_v2(hpa: &mut Value) {
    hpa.insert("apiVersion", Value::from("autoscaling/v2"));
    let Some(spec) = hpa.get_mut("spec").and_then(|s| s.as_object_mut()) else {
        return;
    };
    let Some(target) = spec.remove(&"targetCPUUtilizationPercentage") else {
        return;
    };
    let metric = sonic_rs::json!([{
        "type": "Resource",
        "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": target}}
    }]);
    spec.insert(&"metrics", metric);
}

/// The server stores a Secret's `stringData` base64-encoded in `data`,
/// where it wins over a key of the same name.
fn merge_string_data(secret: &mut Value) {
    let Some(string_data) = secret
        .get("stringData")
        .and_then(|v| v.as_object())
        .cloned()
    else {
        return;
    };
    if let Some(fields) = secret.as_object_mut() {
        fields.remove(&"stringData");
    }
    if secret.get("data").is_none_or(|d| !d.is_object()) {
        secret.insert("data", sonic_rs::Object::new().into_value());
    }
    let Some(data) = secret.get_mut("data") else {
        return;
    };
    for (key, value) in string_data.iter() {
        let text = value
            .as_str()
            .map(str::to_string)
            .unwrap_or_else(|| value.to_string());
        let encoded = base64::engine::general_purpose::STANDARD.encode(text.as_bytes());
        data.insert(key, Value::from(encoded.as_str()));
    }
}

/// A file's text and how to read it.
struct FileText {
    path: Arc<str>,
    text: String,
    json: bool,
    /// Rendered output: lines do not point into a file a user wrote.
    rendered: Option<PathBuf>,
}

impl FileText {
    fn new(path: &Path, text: String) -> Self {
        let json = path
            .extension()
            .is_some_and(|e| e.eq_ignore_ascii_case("json"));
        Self {
            path: display(path).into(),
            text,
            json,
            rendered: None,
        }
    }

    fn yaml(path: &str, text: String) -> Self {
        Self {
            path: path.into(),
            text,
            json: false,
            rendered: None,
        }
    }
}

fn display(path: &Path) -> String {
    let text = path.to_string_lossy();
    text.strip_prefix("./").unwrap_or(&text).to_string()
}

/// The files a `--manifests` path names, in a stable order: the file
/// itself, the YAML and JSON files under a directory (recursively, as
/// kubectl apply -R reads them), or a glob's matches.
fn expand(path: &str) -> Result<Vec<PathBuf>, ManifestError> {
    let is_glob = path.contains(['*', '?', '[']);
    let roots: Vec<PathBuf> = if is_glob {
        let matches: Vec<PathBuf> = glob::glob(path)
            .map_err(|source| ManifestError::Glob {
                pattern: path.to_string(),
                source,
            })?
            .filter_map(Result::ok)
            .collect();
        if matches.is_empty() {
            return Err(ManifestError::NoMatch {
                pattern: path.to_string(),
            });
        }
        matches
    } else {
        let root = PathBuf::from(path);
        if !root.exists() {
            return Err(ManifestError::Missing {
                path: path.to_string(),
            });
        }
        vec![root]
    };
    let mut files = Vec::new();
    for root in roots {
        if root.is_dir() {
            walk(&root, &mut files);
        } else {
            files.push(root);
        }
    }
    Ok(files)
}

fn walk(dir: &Path, files: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        // Unreadable: read_to_string on it reports why, as a problem.
        files.push(dir.to_path_buf());
        return;
    };
    let mut paths: Vec<PathBuf> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
    paths.sort();
    for path in paths {
        let hidden = path
            .file_name()
            .is_some_and(|n| n.to_string_lossy().starts_with('.'));
        if hidden {
            continue;
        }
        if path.is_dir() {
            walk(&path, files);
        } else if path.extension().is_some_and(|e| {
            ["yaml", "yml", "json"]
                .iter()
                .any(|x| e.eq_ignore_ascii_case(x))
        }) {
            files.push(path);
        }
    }
}

/// `kubectl kustomize DIR`'s output; objects keep the kustomization
/// directory as their path (and the file named by a
/// `config.kubernetes.io/origin` annotation when kustomize adds one).
fn kustomize(dir: &Path, kubectl: &Path) -> Result<FileText, ManifestError> {
    let shown = display(dir);
    let output = std::process::Command::new(kubectl)
        .arg("kustomize")
        .arg(dir)
        .output()
        .map_err(|source| ManifestError::KubectlMissing {
            dir: shown.clone(),
            source,
        })?;
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        return Err(ManifestError::Kustomize {
            dir: shown,
            message: stderr.trim().replace('\n', "; "),
        });
    }
    Ok(FileText {
        path: shown.into(),
        text: String::from_utf8_lossy(&output.stdout).into_owned(),
        json: false,
        rendered: Some(dir.to_path_buf()),
    })
}

/// The objects of one file, `List`s expanded.
fn read_file(set: usize, file: &FileText, out: &mut Vec<Declared>, problems: &mut Vec<Problem>) {
    let documents = if file.json {
        parse::json_document(&file.text)
    } else {
        parse::yaml_documents(&file.text)
    };
    for Document {
        line,
        content,
        rendered_from,
        item_lines,
    } in documents
    {
        // Helm's output on stdin: the template is the only path a reader
        // (or GitHub code scanning) can open; a line of the stream is not.
        let rendered_from = rendered_from.filter(|_| &*file.path == STDIN_PATH);
        let problem = |line: usize, message: String| Problem {
            path: file.path.clone(),
            line: file.rendered.is_none().then_some(line),
            message,
        };
        let object = match content {
            Ok(object) => object,
            Err(e) => {
                problems.push(problem(
                    e.line,
                    format!("not valid YAML or JSON: {}", e.message),
                ));
                continue;
            }
        };
        if object.is_null() {
            continue;
        }
        let origin = |object: &Value, line: usize| match &rendered_from {
            Some(template) => Origin {
                path: template.as_str().into(),
                line: None,
            },
            None => Origin {
                path: match &file.rendered {
                    Some(dir) => kustomize_origin(dir, object).unwrap_or_else(|| file.path.clone()),
                    None => file.path.clone(),
                },
                line: if file.rendered.is_some() {
                    None
                } else {
                    u32::try_from(line).ok()
                },
            },
        };
        let is_list = object["kind"].as_str().is_some_and(|k| k.ends_with("List"))
            && object["items"].is_array();
        if is_list {
            let items = object["items"].as_array().map(|a| a.len()).unwrap_or(0);
            // Each item's own line when the List's lines could be told
            // apart (YAML as kubectl writes it), else the List's.
            let lines: Vec<usize> = if item_lines.len() == items {
                item_lines.clone()
            } else {
                vec![line; items]
            };
            for (item, &item_line) in object["items"].as_array().into_iter().flatten().zip(&lines) {
                match check(item) {
                    Ok(()) => out.push(Declared {
                        set,
                        object: item.clone(),
                        origin: origin(item, item_line),
                    }),
                    Err(message) => {
                        problems.push(problem(item_line, format!("an item of the List {message}")))
                    }
                }
            }
            continue;
        }
        match check(&object) {
            Ok(()) => {
                let origin = origin(&object, line);
                out.push(Declared {
                    set,
                    object,
                    origin,
                });
            }
            Err(message) => problems.push(problem(line, format!("the document {message}"))),
        }
    }
}

/// Whether a value can be an object a server would accept, in words if not.
fn check(object: &Value) -> Result<(), String> {
    if !object.is_object() {
        return Err("is not a mapping, so it is not a Kubernetes object".to_string());
    }
    let missing: Vec<&str> = ["apiVersion", "kind"]
        .into_iter()
        .filter(|k| object[*k].as_str().is_none_or(str::is_empty))
        .collect();
    if !missing.is_empty() {
        return Err(format!(
            "has no {}; every Kubernetes object needs apiVersion and kind",
            missing.join(" and ")
        ));
    }
    let named = ["name", "generateName"].into_iter().any(|k| {
        object["metadata"][k]
            .as_str()
            .is_some_and(|n| !n.is_empty())
    });
    if !named {
        return Err(format!(
            "({}) has no metadata.name",
            object["kind"].as_str().unwrap_or_default()
        ));
    }
    Ok(())
}

/// The file a `config.kubernetes.io/origin` annotation names (kustomize's
/// `buildMetadata: [originAnnotations]`), under the kustomization `dir`.
fn kustomize_origin(dir: &Path, object: &Value) -> Option<Arc<str>> {
    let annotation = object["metadata"]["annotations"]["config.kubernetes.io/origin"].as_str()?;
    let path = annotation
        .lines()
        .find_map(|l| l.trim().strip_prefix("path:"))?
        .trim()
        .trim_matches(['"', '\'']);
    if path.is_empty() || path.contains("://") {
        return None;
    }
    Some(display(&dir.join(path)).into())
}

#[cfg(test)]
mod tests;
