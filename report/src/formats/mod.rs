//! The files a report is written as. Each format renders a whole
//! [`Report`] to text; none of them reads anything else.

mod csv;
mod html;
mod json;
mod junit;
mod markdown;
mod openmetrics;
mod sarif;

use crate::Report;

/// How long the run took, from its RFC 3339 start and finish.
pub(crate) fn took(report: &Report) -> Option<String> {
    let start = chrono::DateTime::parse_from_rfc3339(&report.started).ok()?;
    let end = chrono::DateTime::parse_from_rfc3339(&report.finished).ok()?;
    let secs = (end - start).num_milliseconds().max(0) as f64 / 1000.0;
    Some(if secs < 60.0 {
        format!("{secs:.1} s")
    } else {
        format!("{}m {:02}s", secs as u64 / 60, secs as u64 % 60)
    })
}

/// An RFC 3339 time in UTC, in `format`; the text unchanged if it does not parse.
pub(crate) fn fmt_utc(rfc3339: &str, format: &str) -> String {
    match chrono::DateTime::parse_from_rfc3339(rfc3339) {
        Ok(t) => t.naive_utc().format(format).to_string(),
        Err(_) => rfc3339.to_string(),
    }
}

/// `1 control`, `2 controls`.
pub(crate) fn plural(n: usize, noun: &str) -> String {
    if n == 1 {
        format!("1 {noun}")
    } else {
        format!("{n} {noun}s")
    }
}

/// A report format, as `--format` names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Format {
    Json,
    Junit,
    Sarif,
    Markdown,
    Csv,
    Html,
    /// Gauges for Prometheus (node_exporter's textfile collector).
    OpenMetrics,
}

impl Format {
    pub const ALL: [Format; 7] = [
        Format::Json,
        Format::Junit,
        Format::Sarif,
        Format::Markdown,
        Format::Csv,
        Format::Html,
        Format::OpenMetrics,
    ];

    /// The name `--format` takes.
    pub fn name(self) -> &'static str {
        match self {
            Format::Json => "json",
            Format::Junit => "junit",
            Format::Sarif => "sarif",
            Format::Markdown => "markdown",
            Format::Csv => "csv",
            Format::Html => "html",
            Format::OpenMetrics => "openmetrics",
        }
    }

    pub fn parse(text: &str) -> Option<Format> {
        let text = text.trim().to_ascii_lowercase();
        match text.as_str() {
            "md" => Some(Format::Markdown),
            "xml" => Some(Format::Junit),
            "prometheus" | "prom" => Some(Format::OpenMetrics),
            _ => Format::ALL.into_iter().find(|f| f.name() == text),
        }
    }

    /// The file a run directory holds this format in.
    pub fn file_name(self) -> &'static str {
        match self {
            Format::Json => "report.json",
            Format::Junit => "report.junit.xml",
            Format::Sarif => "report.sarif",
            Format::Markdown => "report.md",
            Format::Csv => "report.csv",
            Format::Html => "report.html",
            // node_exporter's textfile collector reads *.prom files.
            Format::OpenMetrics => "report.prom",
        }
    }

    pub fn render(self, report: &Report) -> String {
        match self {
            Format::Json => json::render(report),
            Format::Junit => junit::render(report),
            Format::Sarif => sarif::render(report),
            Format::Markdown => markdown::render(report),
            Format::Csv => csv::render(report),
            Format::Html => html::render(report),
            Format::OpenMetrics => openmetrics::render(report),
        }
    }
}
