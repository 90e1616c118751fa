//! JSON: the whole [`Report`], serialized. History reads it back, so it
//! is the one format that must stay loss-free.

use crate::Report;

pub fn render(report: &Report) -> String {
    let mut text = serde_json::to_string_pretty(report).expect("a report always serializes");
    text.push('\n');
    text
}
