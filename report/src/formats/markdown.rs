//! Markdown (GitHub flavoured): a report to paste into a pull request,
//! an issue or a wiki page.
//!
//! Everything that comes from the report is escaped as text: a resource
//! name like `web<script>` must render as itself, not as HTML, and a `|`
//! must not split a table cell. Only alarming or erroring controls get a
//! section of their own; ok results are counted in the summary, not listed.

use std::fmt::Write;

use super::{plural, took};
use crate::{Change, ControlResult, Finding, Report, Status};

pub fn render(report: &Report) -> String {
    let mut out = String::new();
    out.push_str("# kq compliance report\n\n");
    header_line(&mut out, report);
    problems(&mut out, report);
    summary(&mut out, report);
    changes(&mut out, report);
    controls(&mut out, report);
    out
}

fn header_line(out: &mut String, report: &Report) {
    let _ = write!(out, "**Score {:.1} / 100**", report.score);
    let _ = write!(out, " · run {}", code(&report.run));
    let _ = write!(out, " · started {}", text(&report.started));
    if let Some(took) = took(report) {
        let _ = write!(out, ", took {took}");
    }
    let _ = write!(out, " · clusters: {}", list(&report.clusters));
    let _ = write!(out, " · packs: {}", list(&report.packs));
    let _ = writeln!(out, " · kq {}\n", text(&report.kq_version));
    if !report.params.is_empty() {
        let params: Vec<String> = report
            .params
            .iter()
            .map(|(k, v)| format!("{} = {}", code(k), code(v)))
            .collect();
        let _ = writeln!(out, "Parameters: {}\n", params.join(", "));
    }
}

fn problems(out: &mut String, report: &Report) {
    if !report.cluster_failures.is_empty() {
        out.push_str(
            "> [!CAUTION]\n> **Incomplete:** these clusters could not be (fully) read.\n>\n",
        );
        for f in &report.cluster_failures {
            let _ = writeln!(out, "> - **{}**: {}", text(&f.cluster), text(&f.message));
        }
        out.push('\n');
    }
    if !report.warnings.is_empty() {
        out.push_str("> [!WARNING]\n");
        for w in &report.warnings {
            let _ = writeln!(out, "> - {}", text(w));
        }
        out.push('\n');
    }
}

fn summary(out: &mut String, report: &Report) {
    let t = &report.totals;
    let failing = report.failing();
    out.push_str("## Summary\n\n");
    let broken = report.unevaluated();
    let _ = write!(
        out,
        "{}, {failing} failing: {} alarm, {} waived, {} error, {} ok results.",
        plural(report.controls.len(), "control"),
        t.alarm,
        t.waived,
        t.error,
        t.ok,
    );
    if broken > 0 {
        let _ = write!(
            out,
            " {} could not be evaluated.",
            plural(broken, "control")
        );
    }
    out.push_str("\n\n");
    if report.controls.is_empty() {
        return;
    }
    out.push_str("| Control | Title | Severity | OK | Alarm | Waived | Error |\n");
    out.push_str("|---|---|---|--:|--:|--:|--:|\n");
    for c in &report.controls {
        let n = &c.counts;
        let error = if c.error.is_some() {
            "failed".to_string()
        } else {
            n.error.to_string()
        };
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} | {} | {} |",
            code(&c.control.id),
            text(&c.control.title),
            c.control.severity,
            n.ok,
            bold_if(n.alarm),
            n.waived,
            error
        );
    }
    let _ = writeln!(
        out,
        "| **Total** | | | {} | {} | {} | {} |\n",
        t.ok, t.alarm, t.waived, t.error
    );
}

fn changes(out: &mut String, report: &Report) {
    let Some(cmp) = &report.comparison else {
        return;
    };
    let _ = writeln!(out, "## Changes since {}\n", code(&cmp.previous_run));
    let _ = writeln!(
        out,
        "{} new, {} persisting, {} resolved.\n",
        cmp.new,
        cmp.persisting,
        cmp.resolved.len()
    );
    let new: Vec<(&str, &Finding)> = report
        .controls
        .iter()
        .flat_map(|c| c.findings.iter().map(move |f| (c.control.id.as_str(), f)))
        .filter(|(_, f)| f.change == Some(Change::New))
        .collect();
    if !new.is_empty() {
        out.push_str("### New alarms\n\n");
        change_table(out, new);
    }
    if !cmp.resolved.is_empty() {
        out.push_str("### Resolved\n\n");
        change_table(
            out,
            cmp.resolved
                .iter()
                .map(|r| (r.control.as_str(), &r.finding))
                .collect(),
        );
    }
}

fn change_table(out: &mut String, rows: Vec<(&str, &Finding)>) {
    out.push_str("| Control | Resource | Reason |\n|---|---|---|\n");
    for (control, f) in rows {
        let _ = writeln!(
            out,
            "| {} | {} | {} |",
            code(control),
            text(&f.resource_label()),
            text(&f.reason)
        );
    }
    out.push('\n');
}

fn controls(out: &mut String, report: &Report) {
    let shown: Vec<&ControlResult> = report
        .controls
        .iter()
        .filter(|c| c.counts.alarm > 0 || c.errored())
        .collect();
    if shown.is_empty() {
        return;
    }
    out.push_str("## Findings\n");
    for c in shown {
        let info = &c.control;
        let _ = writeln!(out, "\n### {}: {}\n", code(&info.id), text(&info.title));
        let _ = write!(out, "**Severity:** {}", info.severity);
        if !info.frameworks.is_empty() {
            let _ = write!(out, " · **Frameworks:** {}", list(&info.frameworks));
        }
        let _ = writeln!(out, " · **Source:** {}\n", code(&info.source));
        if !info.rationale.is_empty() {
            let _ = writeln!(out, "**Rationale:** {}\n", text(&info.rationale));
        }
        if !info.remediation.is_empty() {
            let _ = writeln!(out, "**Remediation:** {}\n", text(&info.remediation));
        }
        if let Some(error) = &c.error {
            let _ = writeln!(
                out,
                "**The control could not be evaluated:** {}\n",
                text(error)
            );
        }
        let rows: Vec<&Finding> = c
            .findings
            .iter()
            .filter(|f| matches!(f.status, Status::Alarm | Status::Error | Status::Waived))
            .collect();
        if rows.is_empty() {
            continue;
        }
        let details = rows.iter().any(|f| !f.dimensions.is_empty());
        out.push_str("| Status | Cluster | Namespace | Kind | Name | Reason |");
        out.push_str(if details { " Details |" } else { "" });
        out.push_str(" Change | Waiver |\n|---|---|---|---|---|---|");
        out.push_str(if details { "---|" } else { "" });
        out.push_str("---|---|\n");
        for f in rows {
            let status = match f.status {
                Status::Alarm => "**alarm**",
                s => s.as_str(),
            };
            let _ = write!(
                out,
                "| {status} | {} | {} | {} | {} | {} |",
                text(&f.cluster),
                text(f.namespace.as_deref().unwrap_or("")),
                text(&f.kind),
                text(&f.name),
                text(&f.reason)
            );
            if details {
                let dims: Vec<String> = f
                    .dimensions
                    .iter()
                    .map(|(k, v)| format!("{k}={v}"))
                    .collect();
                let _ = write!(out, " {} |", text(&dims.join(", ")));
            }
            let change = f.change.map_or("", |c| c.as_str());
            let waiver = match &f.waiver {
                Some(w) => match &w.expires {
                    Some(until) => text(&format!("{} (until {until})", w.reason)),
                    None => text(&w.reason),
                },
                None => String::new(),
            };
            let _ = writeln!(out, " {change} | {waiver} |");
        }
    }
}

fn bold_if(n: u64) -> String {
    if n > 0 {
        format!("**{n}**")
    } else {
        n.to_string()
    }
}

fn list(items: &[String]) -> String {
    if items.is_empty() {
        return "none".into();
    }
    items.iter().map(|i| text(i)).collect::<Vec<_>>().join(", ")
}

/// Report text as inline Markdown that renders as exactly itself: HTML,
/// emphasis, links, code and entities are escaped, line breaks become
/// `<br>` so a value never ends a table row or a list item.
fn text(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' | '`' | '*' | '_' | '[' | ']' | '<' | '>' | '|' | '~' => {
                out.push('\\');
                out.push(c);
            }
            '&' if chars
                .peek()
                .is_some_and(|n| n.is_ascii_alphanumeric() || *n == '#') =>
            {
                out.push_str("\\&")
            }
            '\r' if chars.peek() == Some(&'\n') => {}
            '\n' | '\r' => out.push_str("<br>"),
            c if c.is_control() => out.extend(c.escape_default()),
            c => out.push(c),
        }
    }
    out
}

/// A code span for identifiers (control ids, run ids); text that a code
/// span cannot hold safely falls back to escaped text.
fn code(s: &str) -> String {
    if s.is_empty() || s.contains(['`', '|', '\n', '\r']) || s.chars().any(char::is_control) {
        text(s)
    } else {
        format!("`{s}`")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sample;

    #[test]
    fn renders_the_sample() {
        let md = render(&sample::report());
        assert!(md.starts_with("# kq compliance report\n"));
        assert!(
            md.contains("**Score 55.6 / 100** · run `2026-11-21T06-00-00Z`"),
            "{md}"
        );
        assert!(md.contains("took 2.0 s"), "{md}");
        assert!(
            md.contains("clusters: dev, prod · packs: baseline, cis"),
            "{md}"
        );
        assert!(
            md.contains("> - **staging**: cannot reach the API server"),
            "{md}"
        );
        assert!(
            md.contains("> - waiver 3 (baseline.latest\\_tag) expired on 2026-10-01"),
            "{md}"
        );
        assert!(md.contains(
            "| `baseline.privileged` | Title of baseline.privileged | critical | 1 | **1** | 1 | 0 |"
        ));
        assert!(md.contains(
            "| `cis.default_namespace` | Title of cis.default\\_namespace | low | 1 | 0 | 0 | 0 |"
        ));
        assert!(md.contains("| **Total** | | | 2 | 1 | 1 | 0 |"), "{md}");
        assert!(
            md.contains("## Changes since `2026-11-20T06-00-00Z`"),
            "{md}"
        );
        assert!(md.contains("1 new, 0 persisting, 1 resolved."), "{md}");
        assert!(
            md.contains("| `baseline.privileged` | dev/shop/Pod/debug | debug is alarm |"),
            "{md}"
        );
        // The summary lists controls worst first; only failing ones get a section.
        let privileged = md.find("| `baseline.privileged` |").unwrap();
        assert!(privileged < md.find("| `cis.default_namespace` |").unwrap());
        assert!(md.contains("### `baseline.privileged`: Title of baseline.privileged"));
        assert!(!md.contains("### `cis.default_namespace`"));
        assert!(
            md.contains("**Rationale:** Because \\<it\\> matters & more."),
            "{md}"
        );
        assert!(md.contains("**Remediation:** Fix it."));
        // Alarms and waived are listed, ok results are not.
        assert!(md.contains(
            "| **alarm** | prod | shop | Deployment | web\\<script\\> | web\\<script\\> is alarm | container=app | new |  |"
        ), "{md}");
        assert!(md.contains("| waived | prod | kube-system | DaemonSet | kube-proxy | kube-proxy is waived |  |  | system component (until 2027-01-31) |"), "{md}");
        assert!(!md.contains("| ok |"));
        assert!(!md.contains("<script>"));
    }

    #[test]
    fn escapes_cells_and_line_breaks() {
        let mut report = sample::report();
        let f = &mut report.controls[0].findings[0];
        f.name = "a|b".into();
        f.reason = "line one\r\nline *two* [x](y) &amp; `z`".into();
        let md = render(&report);
        assert!(md.contains("| a\\|b |"), "{md}");
        assert!(
            md.contains("line one<br>line \\*two\\* \\[x\\](y) \\&amp; \\`z\\`"),
            "{md}"
        );
        // Every table row still has the header's cell count.
        for line in md.lines().filter(|l| l.starts_with("| **alarm**")) {
            let cells = line.replace("\\|", "").matches('|').count();
            assert_eq!(cells, 10, "{line}");
        }
        assert_eq!(code("a`b"), "a\\`b");
    }

    #[test]
    fn a_clean_report_has_no_findings_section() {
        let mut report = sample::report();
        report.controls.remove(0);
        report.totals = Report::compute_totals(&report.controls);
        report.cluster_failures.clear();
        report.warnings.clear();
        report.comparison = None;
        let md = render(&report);
        assert!(!md.contains("## Findings"));
        assert!(!md.contains("## Changes"));
        assert!(!md.contains("[!CAUTION]"));
        assert!(
            md.contains("1 control, 0 failing: 0 alarm, 0 waived, 0 error, 1 ok results."),
            "{md}"
        );
    }
}
