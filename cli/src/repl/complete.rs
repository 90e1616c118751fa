//! The REPL's line-editor helper: tab completion and multi-line input.
//!
//! Completion offers, for the word under the cursor: backslash commands;
//! after `\c`, context names; after `\d`/`\refresh`, table names; after
//! `\pset format`, formats; after `\x`, on/off/auto; in SQL, table names (first after FROM/JOIN), the columns
//! of the tables the statement names, function names and keywords. SQL
//! input continues over several lines until it ends with `;`.

use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};

use rustyline::completion::{Completer, Pair};
use rustyline::highlight::Highlighter;
use rustyline::hint::Hinter;
use rustyline::validate::{ValidationContext, ValidationResult, Validator};
use rustyline::{Context, Helper};

use super::commands::COMMANDS;

/// What completion can offer; refreshed when the session changes.
#[derive(Default)]
pub struct CompletionData {
    pub tables: Vec<String>,
    /// Columns per table.
    pub columns: BTreeMap<String, Vec<String>>,
    pub functions: Vec<String>,
    pub contexts: Vec<String>,
}

const FORMATS: &[&str] = &["table", "json", "ndjson", "csv", "markdown"];

const KEYWORDS: &[&str] = &[
    "SELECT",
    "FROM",
    "WHERE",
    "GROUP",
    "BY",
    "ORDER",
    "HAVING",
    "LIMIT",
    "OFFSET",
    "JOIN",
    "LEFT",
    "RIGHT",
    "FULL",
    "INNER",
    "OUTER",
    "CROSS",
    "ON",
    "USING",
    "AS",
    "AND",
    "OR",
    "NOT",
    "IN",
    "IS",
    "NULL",
    "LIKE",
    "ILIKE",
    "BETWEEN",
    "CASE",
    "WHEN",
    "THEN",
    "ELSE",
    "END",
    "DISTINCT",
    "UNION",
    "ALL",
    "EXCEPT",
    "INTERSECT",
    "WITH",
    "ASC",
    "DESC",
    "NULLS",
    "FIRST",
    "LAST",
    "EXISTS",
    "EXPLAIN",
    "ANALYZE",
    "CREATE",
    "TABLE",
    "VIEW",
    "DROP",
    "TRUE",
    "FALSE",
    "CAST",
    "INTERVAL",
    "OVER",
    "PARTITION",
    "SHOW",
    "TABLES",
    "COLUMNS",
];

/// The rustyline helper: completion from shared [`CompletionData`].
pub struct ReplHelper {
    pub data: Arc<RwLock<CompletionData>>,
}

impl Helper for ReplHelper {}

impl Hinter for ReplHelper {
    type Hint = String;
}

impl Highlighter for ReplHelper {}

impl Validator for ReplHelper {
    /// SQL continues until `;`; commands and empty lines end at Enter.
    fn validate(&self, ctx: &mut ValidationContext) -> rustyline::Result<ValidationResult> {
        let input = ctx.input().trim();
        // `SELECT 1; -- why` is complete: look past a trailing comment.
        let last_line = input.rsplit('\n').next().unwrap_or(input);
        let code = match last_line.find("--") {
            Some(at) if !last_line[..at].contains('\'') => {
                input[..input.len() - last_line.len() + at].trim_end()
            }
            _ => input,
        };
        if input.is_empty() || input.starts_with('\\') || code.ends_with(';') {
            Ok(ValidationResult::Valid(None))
        } else {
            Ok(ValidationResult::Incomplete)
        }
    }
}

impl Completer for ReplHelper {
    type Candidate = Pair;

    fn complete(
        &self,
        line: &str,
        pos: usize,
        _ctx: &Context<'_>,
    ) -> rustyline::Result<(usize, Vec<Pair>)> {
        let data = self.data.read().unwrap_or_else(|p| p.into_inner());
        Ok(complete(&data, line, pos))
    }
}

fn is_word_char(c: char) -> bool {
    c.is_alphanumeric() || matches!(c, '_' | '-' | '.' | '*' | '\\')
}

fn pairs<'a>(candidates: impl IntoIterator<Item = &'a str>, word: &str) -> Vec<Pair> {
    let lower = word.to_lowercase();
    let mut out: Vec<Pair> = candidates
        .into_iter()
        .filter(|c| c.to_lowercase().starts_with(&lower))
        .map(|c| Pair {
            display: c.to_string(),
            replacement: c.to_string(),
        })
        .collect();
    out.sort_by(|a, b| a.display.cmp(&b.display));
    out.dedup_by(|a, b| a.display == b.display);
    out
}

/// Candidates for the word before `pos`; returns where that word starts.
pub fn complete(data: &CompletionData, line: &str, pos: usize) -> (usize, Vec<Pair>) {
    let before = &line[..pos];
    let trimmed = before.trim_start();
    if trimmed.starts_with('\\') {
        return complete_command(data, before);
    }
    let start = before
        .char_indices()
        .rev()
        .find(|(_, c)| !(c.is_alphanumeric() || *c == '_'))
        .map(|(i, c)| i + c.len_utf8())
        .unwrap_or(0);
    let word = &before[start..];
    let previous = before[..start]
        .split(|c: char| !(c.is_alphanumeric() || c == '_'))
        .rfind(|w| !w.is_empty())
        .unwrap_or("")
        .to_uppercase();
    if matches!(previous.as_str(), "FROM" | "JOIN") {
        return (start, pairs(data.tables.iter().map(String::as_str), word));
    }
    let mut candidates: Vec<String> = Vec::new();
    let named = tables_named(line, data);
    if named.is_empty() {
        // No FROM yet (columns are typed first): every table's columns.
        candidates.extend(data.columns.values().flatten().cloned());
    }
    for table in named {
        if let Some(columns) = data.columns.get(&table) {
            candidates.extend(columns.iter().cloned());
        }
    }
    candidates.extend(data.tables.iter().cloned());
    candidates.extend(data.functions.iter().cloned());
    // Keywords in the case the user types them.
    let upper = word.chars().next().is_some_and(char::is_uppercase);
    candidates.extend(KEYWORDS.iter().map(|k| {
        if upper {
            k.to_string()
        } else {
            k.to_lowercase()
        }
    }));
    (start, pairs(candidates.iter().map(String::as_str), word))
}

fn complete_command(data: &CompletionData, before: &str) -> (usize, Vec<Pair>) {
    let trimmed = before.trim_start();
    let offset = before.len() - trimmed.len();
    let Some((command, argument)) = trimmed.split_once(char::is_whitespace) else {
        let names = COMMANDS.iter().map(|(name, _)| *name);
        return (offset, pairs(names, trimmed));
    };
    let argument = argument.trim_start();
    let argument_start = before.len() - argument.len();
    match command {
        "\\c" => {
            // Context lists are comma-separated: complete the last one.
            let last = argument.rsplit(',').next().unwrap_or("");
            let start = before.len() - last.len();
            (start, pairs(data.contexts.iter().map(String::as_str), last))
        }
        "\\d" | "\\refresh" => (
            argument_start,
            pairs(data.tables.iter().map(String::as_str), argument),
        ),
        "\\pset" => match argument.split_once(char::is_whitespace) {
            Some(("format", value)) => {
                let value = value.trim_start();
                (
                    before.len() - value.len(),
                    pairs(FORMATS.iter().copied(), value),
                )
            }
            Some(("pager", value)) => {
                let value = value.trim_start();
                (before.len() - value.len(), pairs(["on", "off"], value))
            }
            Some(_) => (argument_start, Vec::new()),
            None => (argument_start, pairs(["format", "pager"], argument)),
        },
        "\\x" => (argument_start, pairs(["on", "off", "auto"], argument)),
        _ => (argument_start, Vec::new()),
    }
}

/// Tables the statement names after FROM or JOIN (known tables only).
fn tables_named(line: &str, data: &CompletionData) -> Vec<String> {
    let words: Vec<&str> = line
        .split(|c: char| !(is_word_char(c) || c == '"'))
        .filter(|w| !w.is_empty())
        .collect();
    let mut tables = Vec::new();
    for pair in words.windows(2) {
        if matches!(pair[0].to_uppercase().as_str(), "FROM" | "JOIN") {
            let name = pair[1].trim_matches('"');
            let name = name.rsplit('.').next().unwrap_or(name);
            if data.columns.contains_key(name) {
                tables.push(name.to_string());
            }
        }
    }
    tables
}

#[cfg(test)]
mod tests {
    use super::*;

    fn data() -> CompletionData {
        let mut columns = BTreeMap::new();
        columns.insert(
            "pods".to_string(),
            vec![
                "name".to_string(),
                "namespace".to_string(),
                "node_name".to_string(),
            ],
        );
        columns.insert("nodes".to_string(), vec!["kubelet_version".to_string()]);
        CompletionData {
            tables: vec!["nodes".into(), "pods".into(), "pod_conditions".into()],
            columns,
            functions: vec!["count".into(), "parse_quantity".into()],
            contexts: vec!["prod".into(), "staging".into()],
        }
    }

    fn names(result: (usize, Vec<Pair>)) -> (usize, Vec<String>) {
        (
            result.0,
            result.1.into_iter().map(|p| p.replacement).collect(),
        )
    }

    #[test]
    fn completes_tables_after_from_and_columns_of_named_tables() {
        let d = data();
        assert_eq!(
            names(complete(&d, "SELECT * FROM po", 16)),
            (14, vec!["pod_conditions".into(), "pods".into()])
        );
        let line = "SELECT nam FROM pods";
        assert_eq!(
            names(complete(&d, line, 10)),
            (7, vec!["name".into(), "namespace".into()])
        );
        assert_eq!(names(complete(&d, "sel", 3)), (0, vec!["select".into()]));
        assert_eq!(
            names(complete(&d, "SELECT kubelet_v", 16)),
            (7, vec!["kubelet_version".into()])
        );
        assert_eq!(names(complete(&d, "SEL", 3)), (0, vec!["SELECT".into()]));
        assert_eq!(
            names(complete(&d, "SELECT parse_q", 14)),
            (7, vec!["parse_quantity".into()])
        );
    }

    #[test]
    fn completes_commands_contexts_tables_and_formats() {
        let d = data();
        assert_eq!(names(complete(&d, "\\ti", 3)), (0, vec!["\\timing".into()]));
        assert_eq!(
            names(complete(&d, "\\c prod,st", 10)),
            (8, vec!["staging".into()])
        );
        assert_eq!(names(complete(&d, "\\d no", 5)), (3, vec!["nodes".into()]));
        assert_eq!(
            names(complete(&d, "\\pset format nd", 15)),
            (13, vec!["ndjson".into()])
        );
        assert_eq!(
            names(complete(&d, "\\pset pa", 8)),
            (6, vec!["pager".into()])
        );
        assert_eq!(names(complete(&d, "\\x au", 5)), (3, vec!["auto".into()]));
    }
}
