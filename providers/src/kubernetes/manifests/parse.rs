//! From file text to JSON objects with the line each one starts on.
//!
//! A YAML stream is split at its document markers by line, so every
//! document knows where it begins in the file; each document is then read
//! with serde_yaml and converted to the JSON a server would hold, the way
//! kubectl's YAML-to-JSON step does it (keys always strings).

use serde_yaml::Value as Yaml;
use sonic_rs::Value;

/// One document of a file: its object, or why it could not be read.
#[derive(Debug)]
pub(crate) struct Document {
    /// 1-based line of the document's first content (not a comment or blank).
    pub line: usize,
    pub content: Result<Value, DocumentError>,
    /// The template a renderer made the document from: Helm's
    /// `# Source: chart/templates/x.yaml` comment above the content.
    pub rendered_from: Option<String>,
    /// For a YAML `List`: the file line each entry of its top-level
    /// `items:` starts on (what `kubectl get -o yaml` writes).
    pub item_lines: Vec<usize>,
}

/// Why a document is not an object, with the line the parser names.
#[derive(Debug, PartialEq)]
pub(crate) struct DocumentError {
    pub line: usize,
    pub message: String,
}

/// Splits YAML text at `---`/`...` lines; documents with no content are
/// dropped (templating renders many).
pub(crate) fn yaml_documents(text: &str) -> Vec<Document> {
    let mut documents = Vec::new();
    let mut current = String::new();
    // The file line of the current document's first text line: a
    // parser's line L within the document is the file's `start + L - 1`.
    let mut start = 1usize;
    let mut line_number = 0usize;
    let flush = |current: &mut String, start: usize, documents: &mut Vec<Document>| {
        let text = std::mem::take(current);
        if let Some(first) = first_content_line(&text) {
            documents.push(Document {
                line: start + first,
                content: parse_yaml(&text, start),
                rendered_from: rendered_from(&text, first),
                item_lines: item_lines(&text, start),
            });
        }
    };
    for line in text.split_inclusive('\n') {
        line_number += 1;
        let bare = line.trim_end_matches(['\n', '\r']);
        if is_marker(bare, "---") {
            flush(&mut current, start, &mut documents);
            start = line_number;
            // `--- {kind: …}` puts content on the marker's own line.
            current.push_str(&" ".repeat(3));
            current.push_str(&line[3..]);
        } else if is_marker(bare, "...") {
            flush(&mut current, start, &mut documents);
            start = line_number + 1;
        } else {
            current.push_str(line);
        }
    }
    flush(&mut current, start, &mut documents);
    documents
}

/// Lines where the entries of a top-level `items:` sequence start: the
/// first `- ` after `items:` sets the entries' indentation, and a line at
/// a shallower level (or another top-level key) ends them. Empty when the
/// document has no such sequence.
fn item_lines(text: &str, start: usize) -> Vec<usize> {
    let mut lines = text.lines().enumerate();
    if !lines.any(|(_, line)| line.trim_end() == "items:") {
        return Vec::new();
    }
    let mut indent: Option<usize> = None;
    let mut found = Vec::new();
    for (i, line) in lines {
        let content = line.trim_start();
        if content.is_empty() || content.starts_with('#') {
            continue;
        }
        let depth = line.len() - content.len();
        let entry = content == "-" || content.starts_with("- ");
        match indent {
            None if entry => {
                indent = Some(depth);
                found.push(start + i);
            }
            None => break,
            Some(level) if depth == level && entry => found.push(start + i),
            Some(level) if depth < level || (depth == level && !entry) => break,
            Some(_) => {}
        }
    }
    found
}

/// Helm's `# Source: PATH` among the comments before the content.
fn rendered_from(text: &str, first_content: usize) -> Option<String> {
    text.lines()
        .take(first_content)
        .filter_map(|line| line.trim().strip_prefix("# Source:"))
        .map(|path| path.trim().to_string())
        .find(|path| !path.is_empty())
}

fn is_marker(line: &str, marker: &str) -> bool {
    line.strip_prefix(marker)
        .is_some_and(|rest| rest.is_empty() || rest.starts_with([' ', '\t']))
}

/// 0-based index of the first line that is neither blank nor a comment.
fn first_content_line(text: &str) -> Option<usize> {
    text.lines().position(|line| {
        let t = line.trim();
        !t.is_empty() && !t.starts_with('#')
    })
}

fn parse_yaml(text: &str, start: usize) -> Result<Value, DocumentError> {
    let yaml: Yaml = serde_yaml::from_str(text).map_err(|e| DocumentError {
        // serde_yaml counts lines from 1 within the document.
        line: e
            .location()
            .map_or(start, |l| start + l.line().saturating_sub(1)),
        message: without_position(&e.to_string()),
    })?;
    Ok(to_json(yaml))
}

/// A parser's message without its trailing " at line L column C" (kq
/// says the line itself, in the file's numbering).
fn without_position(text: &str) -> String {
    match text.find(" at line ") {
        Some(i) => text[..i].to_string(),
        None => text.to_string(),
    }
}

/// A JSON file: one object (or a List), with serde_json's line on error.
pub(crate) fn json_document(text: &str) -> Vec<Document> {
    let line = first_content_line(text).map_or(1, |i| i + 1);
    let content = serde_json::from_str::<serde_json::Value>(text)
        .map_err(|e| DocumentError {
            line: e.line().max(1),
            message: without_position(&e.to_string()),
        })
        .map(|v| sonic_rs::to_value(&v).unwrap_or_default());
    vec![Document {
        line,
        content,
        rendered_from: None,
        item_lines: Vec::new(),
    }]
}

/// YAML to JSON as the API machinery converts it: mapping keys become
/// strings (`80: http` is the key "80"), tags are dropped.
fn to_json(yaml: Yaml) -> Value {
    match yaml {
        Yaml::Null => Value::new(),
        Yaml::Bool(b) => Value::from(b),
        Yaml::Number(n) => {
            if let Some(i) = n.as_i64() {
                Value::from(i)
            } else if let Some(u) = n.as_u64() {
                Value::from(u)
            } else {
                n.as_f64()
                    .and_then(|f| sonic_rs::to_value(&f).ok())
                    .unwrap_or_default()
            }
        }
        Yaml::String(s) => Value::from(s.as_str()),
        Yaml::Sequence(items) => {
            let mut array = sonic_rs::Array::with_capacity(items.len());
            for item in items {
                array.push(to_json(item));
            }
            array.into_value()
        }
        Yaml::Mapping(map) => {
            let mut object = sonic_rs::Object::new();
            for (key, value) in map {
                object.insert(&key_text(key), to_json(value));
            }
            object.into_value()
        }
        Yaml::Tagged(tagged) => to_json(tagged.value),
    }
}

fn key_text(key: Yaml) -> String {
    match key {
        Yaml::String(s) => s,
        Yaml::Null => "null".to_string(),
        Yaml::Bool(b) => b.to_string(),
        Yaml::Number(n) => n.to_string(),
        Yaml::Tagged(tagged) => key_text(tagged.value),
        // A sequence or mapping as a key: its YAML text, as sigs.k8s.io/yaml would fail on; kept readable.
        other => serde_yaml::to_string(&other)
            .unwrap_or_default()
            .trim()
            .to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sonic_rs::JsonValueTrait as _;

    #[test]
    fn documents_know_their_first_line() {
        let text = "# Source: chart/templates/a.yaml\napiVersion: v1\nkind: ConfigMap\n---\n\n---\n# only a comment\n---\napiVersion: v1\nkind: Service\n...\n---\nkind: Pod\n";
        let docs = yaml_documents(text);
        let lines: Vec<usize> = docs.iter().map(|d| d.line).collect();
        assert_eq!(lines, [2, 9, 13]);
        let kinds: Vec<&str> = docs
            .iter()
            .map(|d| d.content.as_ref().unwrap()["kind"].as_str().unwrap())
            .collect();
        assert_eq!(kinds, ["ConfigMap", "Service", "Pod"]);
    }

    #[test]
    fn a_parse_error_names_the_files_line() {
        let text =
            "apiVersion: v1\nkind: A\n---\napiVersion: v1\nkind: B\nmetadata:\n  name: [unclosed\n";
        let docs = yaml_documents(text);
        let error = docs[1].content.as_ref().unwrap_err();
        assert!((7..=8).contains(&error.line), "{error:?}");
        assert!(!error.message.contains("at line"), "{error:?}");
    }

    #[test]
    fn keys_become_strings_and_numbers_stay_numbers() {
        let docs = yaml_documents("data:\n  80: http\n  true: yes\nreplicas: 3\nratio: 0.5\n");
        let v = docs[0].content.as_ref().unwrap();
        assert_eq!(v["data"]["80"].as_str(), Some("http"));
        assert_eq!(v["data"]["true"].as_str(), Some("yes"));
        assert_eq!(v["replicas"].as_i64(), Some(3));
        assert_eq!(v["ratio"].as_f64(), Some(0.5));
    }

    #[test]
    fn list_items_know_their_lines() {
        let text = "apiVersion: v1\nkind: List\nitems:\n- apiVersion: v1\n  kind: A\n  spec:\n    ports:\n    - port: 1\n- apiVersion: v1\n  kind: B\nmetadata: {}\n";
        assert_eq!(yaml_documents(text)[0].item_lines, [4, 9]);
        let indented = "---\nkind: List\nitems:\n  - kind: A\n  - kind: B\n";
        assert_eq!(yaml_documents(indented)[0].item_lines, [4, 5]);
    }

    #[test]
    fn helm_source_comments_name_the_template() {
        let docs = yaml_documents(
            "---\n# Source: shop/templates/a.yaml\nkind: A\n---\n# a comment\nkind: B\n# Source: not/above.yaml\n",
        );
        let sources: Vec<Option<&str>> = docs.iter().map(|d| d.rendered_from.as_deref()).collect();
        assert_eq!(sources, [Some("shop/templates/a.yaml"), None]);
    }

    #[test]
    fn content_on_the_marker_line_is_read() {
        let docs = yaml_documents("--- {apiVersion: v1, kind: Namespace}\n");
        assert_eq!(docs[0].line, 1);
        assert_eq!(
            docs[0].content.as_ref().unwrap()["kind"].as_str(),
            Some("Namespace")
        );
    }

    #[test]
    fn json_errors_carry_a_line() {
        let docs = json_document("{\n  \"kind\": \"Pod\",\n  oops\n}\n");
        assert_eq!(docs[0].content.as_ref().unwrap_err().line, 3);
    }
}
