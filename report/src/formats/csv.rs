//! CSV: one row per finding, for spreadsheets and ad-hoc scripts.
//!
//! RFC 4180 quoting with `\n` line ends (as kq's query output and
//! `psql --csv` write them). A spreadsheet runs a cell that starts with
//! `=`, `+`, `-`, `@`, a tab or a carriage return as a formula, and a
//! resource name or reason comes from the cluster, so such cells get a
//! leading `'` (OWASP's advice against CSV injection). A control that could
//! not be evaluated at all has no findings; it still gets one `error` row
//! with empty resource columns, so the file never hides it. `location` is
//! `file:line` for resources read from manifests.

use crate::{Finding, Report};

const HEADER: [&str; 13] = [
    "control",
    "severity",
    "title",
    "cluster",
    "namespace",
    "kind",
    "name",
    "status",
    "reason",
    "change",
    "waiver_reason",
    "waiver_expires",
    "location",
];

pub fn render(report: &Report) -> String {
    let mut out = String::new();
    push_row(&mut out, HEADER);
    for result in &report.controls {
        let c = &result.control;
        if let Some(error) = &result.error {
            push_row(
                &mut out,
                [
                    c.id.as_str(),
                    c.severity.as_str(),
                    &c.title,
                    "",
                    "",
                    "",
                    "",
                    "error",
                    error,
                    "",
                    "",
                    "",
                    "",
                ],
            );
        }
        for f in &result.findings {
            let Finding {
                cluster,
                namespace,
                kind,
                name,
                status,
                reason,
                change,
                waiver,
                location,
                ..
            } = f;
            let location = location.as_ref().map(ToString::to_string);
            push_row(
                &mut out,
                [
                    c.id.as_str(),
                    c.severity.as_str(),
                    &c.title,
                    cluster,
                    namespace.as_deref().unwrap_or(""),
                    kind,
                    name,
                    status.as_str(),
                    reason,
                    change.map_or("", |c| c.as_str()),
                    waiver.as_ref().map_or("", |w| w.reason.as_str()),
                    waiver
                        .as_ref()
                        .and_then(|w| w.expires.as_deref())
                        .unwrap_or(""),
                    location.as_deref().unwrap_or(""),
                ],
            );
        }
    }
    out
}

fn push_row<'a>(out: &mut String, cells: impl IntoIterator<Item = &'a str>) {
    for (i, cell) in cells.into_iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        push_cell(out, cell);
    }
    out.push('\n');
}

/// One cell: defused against formula injection, then quoted when it holds
/// a comma, a quote or a line break.
fn push_cell(out: &mut String, text: &str) {
    let defuse = text.starts_with(['=', '+', '-', '@', '\t', '\r']);
    let quote = text.contains([',', '"', '\n', '\r']);
    if quote {
        out.push('"');
    }
    if defuse {
        out.push('\'');
    }
    for c in text.chars() {
        if c == '"' {
            out.push('"');
        }
        out.push(c);
    }
    if quote {
        out.push('"');
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sample;

    /// A minimal RFC 4180 reader, to check the writer against.
    fn parse(text: &str) -> Vec<Vec<String>> {
        let mut rows = Vec::new();
        let mut row = Vec::new();
        let mut cell = String::new();
        let mut chars = text.chars().peekable();
        let mut quoted = false;
        while let Some(c) = chars.next() {
            match (quoted, c) {
                (true, '"') if chars.peek() == Some(&'"') => {
                    chars.next();
                    cell.push('"');
                }
                (true, '"') => quoted = false,
                (true, c) => cell.push(c),
                (false, '"') => quoted = true,
                (false, ',') => row.push(std::mem::take(&mut cell)),
                (false, '\n') => {
                    row.push(std::mem::take(&mut cell));
                    rows.push(std::mem::take(&mut row));
                }
                (false, c) => cell.push(c),
            }
        }
        assert!(
            cell.is_empty() && row.is_empty(),
            "text ends with a line break"
        );
        rows
    }

    #[test]
    fn one_row_per_finding_in_report_order() {
        let text = render(&sample::report());
        let rows = parse(&text);
        assert_eq!(rows[0].join(","), HEADER.join(","));
        assert!(rows.iter().all(|r| r.len() == HEADER.len()), "{rows:?}");
        let body: Vec<(&str, &str, &str)> = rows[1..]
            .iter()
            .map(|r| (r[0].as_str(), r[6].as_str(), r[7].as_str()))
            .collect();
        assert_eq!(
            body,
            [
                ("baseline.privileged", "web<script>", "alarm"),
                ("baseline.privileged", "kube-proxy", "waived"),
                ("baseline.privileged", "api", "ok"),
                ("cis.default_namespace", "default", "ok"),
            ]
        );
        let alarm = &rows[1];
        assert_eq!(alarm[1], "critical");
        assert_eq!(alarm[3..6], ["prod", "shop", "Deployment"]);
        assert_eq!(alarm[9], "new");
        let waived = &rows[2];
        assert_eq!(waived[10..], ["system component", "2027-01-31", ""]);
        // A cluster-scoped resource has an empty namespace.
        assert_eq!(rows[4][4], "");
    }

    #[test]
    fn a_finding_from_a_manifest_names_its_file_and_line() {
        let mut report = sample::report();
        report.controls[0].findings[0].location = Some(crate::SourceLocation {
            path: "deploy/web.yaml".into(),
            line: Some(12),
        });
        let rows = parse(&render(&report));
        assert_eq!(rows[1][12], "deploy/web.yaml:12");
        assert_eq!(rows[2][12], "");
    }

    #[test]
    fn quotes_and_defuses_formulas() {
        let mut report = sample::report();
        let f = &mut report.controls[0].findings[0];
        f.name = "=HYPERLINK(\"http://x\",\"y\")".into();
        f.reason = "line one,\nline \"two\"".into();
        f.kind = "-2+3".into();
        f.cluster = "@SUM(A1)".into();
        f.namespace = Some("\tx".into());
        let text = render(&report);
        assert!(
            text.contains("\"'=HYPERLINK(\"\"http://x\"\",\"\"y\"\")\""),
            "{text}"
        );
        let rows = parse(&text);
        let row = &rows[1];
        assert_eq!(row[3], "'@SUM(A1)");
        assert_eq!(row[4], "'\tx");
        assert_eq!(row[5], "'-2+3");
        assert_eq!(row[6], "'=HYPERLINK(\"http://x\",\"y\")");
        assert_eq!(row[8], "line one,\nline \"two\"");
        assert_eq!(rows.len(), 5);
    }

    #[test]
    fn an_errored_control_still_has_a_row() {
        let mut report = sample::report();
        report.controls[1].findings.clear();
        report.controls[1].error = Some("table pods: no such column".into());
        let rows = parse(&render(&report));
        let last = rows.last().unwrap();
        assert_eq!(last[0], "cis.default_namespace");
        assert_eq!(last[7], "error");
        assert_eq!(last[8], "table pods: no such column");
        assert_eq!(last[3..7], ["", "", "", ""]);
    }
}
