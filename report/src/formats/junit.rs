//! JUnit XML, for CI systems that show test results (GitLab, Jenkins,
//! Azure DevOps, GitHub test-report actions).
//!
//! One `<testsuite>` per pack and one `<testcase>` per control. A test
//! case is *failed* when the control alarms (one `<failure>` per alarm),
//! *errored* when the control could not be evaluated or returned `error`
//! results and no alarm, *skipped* when it returned only `skip` results,
//! and passed otherwise. Waived alarms are not failures: they are listed
//! in the case's `<system-out>`, with the waiver's reason. The counts on
//! a suite are counts of test cases, so `tests >= failures + errors +
//! skipped` holds as the JUnit schema expects.
//!
//! Clusters kq could not read and report warnings get a suite of their
//! own, `kq`, with one errored case per failed cluster: CI shows an
//! incomplete report as such instead of a clean one.

use std::fmt::Write;

use super::fmt_utc;
use crate::{Change, ControlResult, Finding, Report, Status};

pub fn render(report: &Report) -> String {
    let since = match report.comparison.as_ref().and_then(|c| c.window.as_ref()) {
        Some(window) => format!(
            "run {} (the oldest of the last {window})",
            report
                .comparison
                .as_ref()
                .map_or("", |c| c.previous_run.as_str())
        ),
        None => "the previous run".to_string(),
    };
    let mut suites: Vec<Suite> = Vec::new();
    let mut packs: Vec<&str> = report.packs.iter().map(String::as_str).collect();
    for c in &report.controls {
        if !packs.contains(&c.control.pack.as_str()) {
            packs.push(&c.control.pack);
        }
    }
    for pack in packs {
        let cases: Vec<Case> = report
            .controls
            .iter()
            .filter(|c| c.control.pack == pack)
            .map(|c| control_case(c, &since))
            .collect();
        if !cases.is_empty() {
            suites.push(Suite::new(pack, cases, String::new()));
        }
    }
    if !report.cluster_failures.is_empty() || !report.warnings.is_empty() {
        let cases = report
            .cluster_failures
            .iter()
            .map(|f| Case {
                classname: "kq".into(),
                name: format!("cluster {} is readable", f.cluster),
                time_ms: 0,
                outcome: Outcome::Error,
                body: format!(
                    "      <error message=\"{}\" type=\"cluster\">{}</error>\n",
                    attr(&format!("{}: {}", f.cluster, f.message)),
                    text(&f.message)
                ),
            })
            .collect();
        let out = report
            .warnings
            .iter()
            .map(|w| format!("warning: {w}\n"))
            .collect();
        suites.push(Suite::new("kq", cases, out));
    }

    // JUnit's schema wants a timestamp without a zone; the report's are UTC.
    let started = attr(&fmt_utc(&report.started, "%Y-%m-%dT%H:%M:%S"));
    let count = |outcome: Outcome| suites.iter().map(|s| s.count(outcome)).sum::<usize>();
    let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let _ = writeln!(
        out,
        "<testsuites name=\"{}\" tests=\"{}\" failures=\"{}\" errors=\"{}\" skipped=\"{}\" time=\"{}\" timestamp=\"{}\">",
        attr(&format!("kq report {}", report.run)),
        suites.iter().map(|s| s.cases.len()).sum::<usize>(),
        count(Outcome::Failure),
        count(Outcome::Error),
        count(Outcome::Skipped),
        seconds(suites.iter().map(|s| s.time_ms).sum::<u64>()),
        started,
    );
    for suite in &suites {
        suite.write(&mut out, report, &started);
    }
    out.push_str("</testsuites>\n");
    out
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    Pass,
    Failure,
    Error,
    Skipped,
}

struct Case {
    classname: String,
    name: String,
    time_ms: u64,
    outcome: Outcome,
    /// The case's child elements, already escaped and indented.
    body: String,
}

struct Suite {
    name: String,
    cases: Vec<Case>,
    time_ms: u64,
    system_out: String,
}

impl Suite {
    fn new(name: &str, cases: Vec<Case>, system_out: String) -> Suite {
        Suite {
            name: name.into(),
            time_ms: cases.iter().map(|c| c.time_ms).sum(),
            cases,
            system_out,
        }
    }

    fn count(&self, outcome: Outcome) -> usize {
        self.cases.iter().filter(|c| c.outcome == outcome).count()
    }

    fn write(&self, out: &mut String, report: &Report, started: &str) {
        let _ = writeln!(
            out,
            "  <testsuite name=\"{}\" tests=\"{}\" failures=\"{}\" errors=\"{}\" skipped=\"{}\" time=\"{}\" timestamp=\"{}\">",
            attr(&self.name),
            self.cases.len(),
            self.count(Outcome::Failure),
            self.count(Outcome::Error),
            self.count(Outcome::Skipped),
            seconds(self.time_ms),
            started,
        );
        out.push_str("    <properties>\n");
        let mut property = |name: &str, value: &str| {
            let _ = writeln!(
                out,
                "      <property name=\"{}\" value=\"{}\"/>",
                attr(name),
                attr(value)
            );
        };
        property("kq.run", &report.run);
        property("kq.version", &report.kq_version);
        property("kq.clusters", &report.clusters.join(","));
        property("kq.score", &format!("{:.1}", report.score));
        for (name, value) in &report.params {
            property(&format!("param.{name}"), value);
        }
        out.push_str("    </properties>\n");
        for case in &self.cases {
            let _ = write!(
                out,
                "    <testcase classname=\"{}\" name=\"{}\" time=\"{}\"",
                attr(&case.classname),
                attr(&case.name),
                seconds(case.time_ms)
            );
            if case.body.is_empty() {
                out.push_str("/>\n");
            } else {
                let _ = write!(out, ">\n{}    </testcase>\n", case.body);
            }
        }
        if !self.system_out.is_empty() {
            let _ = writeln!(
                out,
                "    <system-out>{}</system-out>",
                text(&self.system_out)
            );
        }
        out.push_str("  </testsuite>\n");
    }
}

fn control_case(c: &ControlResult, since: &str) -> Case {
    let info = &c.control;
    let mut body = String::new();
    let alarms: Vec<&Finding> = c
        .findings
        .iter()
        .filter(|f| f.status == Status::Alarm)
        .collect();
    let errors: Vec<&Finding> = c
        .findings
        .iter()
        .filter(|f| f.status == Status::Error)
        .collect();
    let outcome = if let Some(error) = &c.error {
        let _ = writeln!(
            body,
            "      <error message=\"{}\" type=\"control\">{}</error>",
            attr(error),
            text(&format!(
                "{error}\n\ncontrol: {}\nsource: {}\n",
                info.id, info.source
            ))
        );
        Outcome::Error
    } else if !alarms.is_empty() {
        for f in &alarms {
            let _ = writeln!(
                body,
                "      <failure message=\"{}\" type=\"{}\">{}</failure>",
                attr(&format!("{}: {}", f.resource_label(), f.reason)),
                info.severity,
                text(&details(c, f, since))
            );
        }
        Outcome::Failure
    } else if !errors.is_empty() {
        for f in &errors {
            let _ = writeln!(
                body,
                "      <error message=\"{}\" type=\"result\">{}</error>",
                attr(&format!("{}: {}", f.resource_label(), f.reason)),
                text(&details(c, f, since))
            );
        }
        Outcome::Error
    } else if c.counts.skip > 0 && c.counts.skip == c.counts.total() {
        let _ = writeln!(
            body,
            "      <skipped message=\"{}\"/>",
            attr(c.findings.first().map_or("skipped", |f| f.reason.as_str()))
        );
        Outcome::Skipped
    } else {
        Outcome::Pass
    };
    // What a reader of a failed case also wants to see, but not as failures.
    let mut system_out = String::new();
    for f in c.findings.iter().filter(|f| f.status == Status::Waived) {
        let _ = write!(system_out, "waived: {}: {}", f.resource_label(), f.reason);
        if let Some(w) = &f.waiver {
            let _ = write!(system_out, " (waiver {}: {}", w.resource, w.reason);
            if let Some(until) = &w.expires {
                let _ = write!(system_out, ", until {until}");
            }
            system_out.push(')');
        }
        system_out.push('\n');
    }
    if outcome == Outcome::Failure {
        for f in &errors {
            let _ = writeln!(system_out, "error: {}: {}", f.resource_label(), f.reason);
        }
    }
    let _ = writeln!(
        system_out,
        "{}: {} ok, {} alarm, {} waived, {} error, {} info, {} skip",
        info.id,
        c.counts.ok,
        c.counts.alarm,
        c.counts.waived,
        c.counts.error,
        c.counts.info,
        c.counts.skip
    );
    let _ = writeln!(body, "      <system-out>{}</system-out>", text(&system_out));
    Case {
        classname: info.pack.clone(),
        name: format!("{}: {}", info.id, info.title),
        time_ms: c.duration_ms,
        outcome,
        body,
    }
}

/// The body of a failure: everything about the finding, one per line.
/// `since` says what "new" is relative to.
fn details(c: &ControlResult, f: &Finding, since: &str) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "control:     {} ({})",
        c.control.id, c.control.severity
    );
    let _ = writeln!(out, "resource:    {}", f.resource_path());
    if let Some(location) = &f.location {
        let _ = writeln!(out, "file:        {location}");
    }
    let _ = writeln!(out, "cluster:     {}", f.cluster);
    let _ = writeln!(
        out,
        "namespace:   {}",
        f.namespace.as_deref().unwrap_or("-")
    );
    let _ = writeln!(out, "kind:        {}", f.kind);
    let _ = writeln!(out, "name:        {}", f.name);
    let _ = writeln!(out, "reason:      {}", f.reason);
    for (k, v) in &f.dimensions {
        let _ = writeln!(out, "{:<12} {v}", format!("{k}:"));
    }
    match f.change {
        Some(Change::New) => {
            let _ = writeln!(out, "change:      new since {since}");
        }
        Some(Change::Persisting) => out.push_str("change:      persisting\n"),
        None => {}
    }
    if !c.control.remediation.is_empty() {
        let _ = writeln!(out, "remediation: {}", c.control.remediation);
    }
    out
}

fn seconds(ms: u64) -> String {
    format!("{}.{:03}", ms / 1000, ms % 1000)
}

/// Escapes text content. Characters XML 1.0 cannot hold at all (most
/// control characters) become U+FFFD.
fn text(s: &str) -> String {
    escape(s, false)
}

/// Escapes an attribute value; line breaks and tabs become character
/// references so attribute normalization keeps them.
fn attr(s: &str) -> String {
    escape(s, true)
}

fn escape(s: &str, attribute: bool) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' if attribute => out.push_str("&quot;"),
            '\'' if attribute => out.push_str("&apos;"),
            '\n' if attribute => out.push_str("&#10;"),
            '\r' => out.push_str("&#13;"),
            '\t' if attribute => out.push_str("&#9;"),
            '\n' | '\t' => out.push(c),
            c if c.is_control() || c == '\u{FFFE}' || c == '\u{FFFF}' => out.push('\u{FFFD}'),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Severity, sample};

    /// `name="value"` attributes of the first `<tag ` element whose name
    /// attribute starts with `name`.
    fn element<'a>(xml: &'a str, tag: &str, name: &str) -> &'a str {
        let needle = format!("<{tag} name=\"{name}");
        let start = xml
            .find(&needle)
            .unwrap_or_else(|| panic!("no {needle} in {xml}"));
        let end = start + xml[start..].find('>').unwrap();
        &xml[start..=end]
    }

    #[test]
    fn suites_cases_and_counts() {
        let xml = render(&sample::report());
        assert!(xml.starts_with("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites "));
        assert!(
            xml.contains(
                "<testsuites name=\"kq report 2026-11-21T06-00-00Z\" tests=\"3\" failures=\"1\" errors=\"1\" skipped=\"0\" time=\"0.024\" timestamp=\"2026-11-21T06:00:00\">"
            ),
            "{xml}"
        );
        assert_eq!(
            element(&xml, "testsuite", "baseline"),
            "<testsuite name=\"baseline\" tests=\"1\" failures=\"1\" errors=\"0\" skipped=\"0\" time=\"0.012\" timestamp=\"2026-11-21T06:00:00\">"
        );
        assert!(
            element(&xml, "testsuite", "cis").contains("tests=\"1\" failures=\"0\" errors=\"0\"")
        );
        assert!(
            element(&xml, "testsuite", "kq").contains("tests=\"1\" failures=\"0\" errors=\"1\"")
        );
        // Suites follow the packs, then kq's own.
        let order: Vec<usize> = ["baseline", "cis", "kq"]
            .iter()
            .map(|p| xml.find(&format!("<testsuite name=\"{p}\"")).unwrap())
            .collect();
        assert!(order.is_sorted(), "{xml}");
        assert!(xml.contains(
            "<testcase classname=\"baseline\" name=\"baseline.privileged: Title of baseline.privileged\" time=\"0.012\">"
        ));
        assert_eq!(xml.matches("<failure ").count(), 1);
        assert!(
            xml.contains(
                "<failure message=\"prod/shop/Deployment/web&lt;script&gt;: web&lt;script&gt; is alarm\" type=\"critical\">"
            ),
            "{xml}"
        );
        assert!(xml.contains("container:   app\n"));
        assert!(xml.contains("change:      new since the previous run\n"));
        // The waived alarm is output, not a failure.
        assert!(xml.contains(
            "waived: prod/kube-system/DaemonSet/kube-proxy: kube-proxy is waived (waiver */kube-system/*/*: system component, until 2027-01-31)"
        ));
        assert!(
            xml.contains(
                "<error message=\"staging: cannot reach the API server\" type=\"cluster\">"
            )
        );
        assert!(xml.contains("warning: waiver 3 (baseline.latest_tag) expired on 2026-10-01"));
        assert!(xml.contains(
            "<property name=\"param.trusted_registries\" value=\"registry.corp.example.com/\"/>"
        ));
        assert!(!xml.contains("<script>"));
        assert_eq!(
            xml.matches("<testsuite ").count(),
            xml.matches("</testsuite>").count()
        );
        assert_eq!(xml.matches("<testcase ").count(), 3);
    }

    #[test]
    fn errors_skips_and_passes() {
        let mut report = sample::report();
        report.cluster_failures.clear();
        report.warnings.clear();
        let mut broken = sample::control("baseline.broken", Severity::High, vec![]);
        broken.error = Some("no such table: \"pods2\"".into());
        let erroring = sample::control(
            "baseline.erroring",
            Severity::Medium,
            vec![sample::finding("dev", None, "Node", "n1", Status::Error)],
        );
        let skipped = sample::control(
            "cis.skipped",
            Severity::Low,
            vec![sample::finding("dev", None, "Node", "n1", Status::Skip)],
        );
        report.controls.extend([broken, erroring, skipped]);
        let xml = render(&report);
        assert!(
            element(&xml, "testsuite", "baseline")
                .contains("tests=\"3\" failures=\"1\" errors=\"2\" skipped=\"0\"")
        );
        assert!(
            element(&xml, "testsuite", "cis")
                .contains("tests=\"2\" failures=\"0\" errors=\"0\" skipped=\"1\"")
        );
        assert!(xml.contains("<testsuites name=\"kq report 2026-11-21T06-00-00Z\" tests=\"5\" failures=\"1\" errors=\"2\" skipped=\"1\""));
        assert!(!xml.contains("<testsuite name=\"kq\""));
        assert!(
            xml.contains("<error message=\"no such table: &quot;pods2&quot;\" type=\"control\">"),
            "{xml}"
        );
        assert!(xml.contains("<error message=\"dev/-/Node/n1: n1 is error\" type=\"result\">"));
        assert!(xml.contains("<skipped message=\"n1 is skip\"/>"));
    }

    #[test]
    fn escapes_what_xml_cannot_hold() {
        assert_eq!(
            attr("a\"b'c<d>&\n\t"),
            "a&quot;b&apos;c&lt;d&gt;&amp;&#10;&#9;"
        );
        assert_eq!(text("x\u{1}y\u{1b}z\r\n"), "x\u{FFFD}y\u{FFFD}z&#13;\n");
        assert_eq!(text("]]>"), "]]&gt;");
    }
}
