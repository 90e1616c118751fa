//! OpenMetrics text: what node_exporter's textfile collector reads and
//! what `kq report --every … --metrics-listen` serves on `/metrics`.
//!
//! Gauges only (a report is a state, not a count since start), so the
//! text is valid OpenMetrics (with `# EOF`) and valid Prometheus text
//! exposition alike.

use std::collections::BTreeMap;
use std::fmt::Write;

use crate::{Report, Status};

pub fn render(report: &Report) -> String {
    let mut out = String::new();
    gauge(
        &mut out,
        "kq_report_score",
        "Compliance score of the run, 0 to 100 (severity-weighted share of passing results).",
        &[(vec![], report.score)],
    );

    // Alarms per control and cluster; controls without alarms show 0 for
    // every cluster, so an alert sees an alarm go away.
    let mut alarms = Vec::new();
    for result in &report.controls {
        let mut per_cluster: BTreeMap<&str, u64> =
            report.clusters.iter().map(|c| (c.as_str(), 0)).collect();
        for finding in &result.findings {
            if finding.status == Status::Alarm {
                *per_cluster.entry(finding.cluster.as_str()).or_default() += 1;
            }
        }
        for (cluster, count) in per_cluster {
            alarms.push((
                vec![
                    ("control", result.control.id.clone()),
                    ("severity", result.control.severity.as_str().to_string()),
                    ("cluster", cluster.to_string()),
                ],
                count as f64,
            ));
        }
    }
    gauge(
        &mut out,
        "kq_report_alarms",
        "Alarming findings of the run, per control (with its severity) and cluster.",
        &alarms,
    );

    let totals = &report.totals;
    let findings: Vec<_> = [
        ("ok", totals.ok),
        ("alarm", totals.alarm),
        ("waived", totals.waived),
        ("info", totals.info),
        ("skip", totals.skip),
        ("error", totals.error),
    ]
    .into_iter()
    .map(|(status, n)| (vec![("status", status.to_string())], n as f64))
    .collect();
    gauge(
        &mut out,
        "kq_report_findings",
        "Findings of the run by status.",
        &findings,
    );

    let errored = report.controls.iter().filter(|c| c.errored()).count();
    gauge(
        &mut out,
        "kq_report_controls_errored",
        "Controls that could not be evaluated, or returned error rows.",
        &[(vec![], errored as f64)],
    );
    gauge(
        &mut out,
        "kq_report_controls",
        "Controls evaluated in the run.",
        &[(vec![], report.controls.len() as f64)],
    );

    let failed: Vec<&str> = report
        .cluster_failures
        .iter()
        .map(|f| f.cluster.as_str())
        .collect();
    let readable: Vec<_> = report
        .clusters
        .iter()
        .map(|cluster| {
            let up = !failed.contains(&cluster.as_str());
            (
                vec![("cluster", cluster.clone())],
                if up { 1.0 } else { 0.0 },
            )
        })
        .collect();
    gauge(
        &mut out,
        "kq_report_cluster_read",
        "1 when the run read the cluster completely, 0 when it did not.",
        &readable,
    );

    if let Some(finished) = unix_seconds(&report.finished) {
        gauge(
            &mut out,
            "kq_report_last_run_timestamp_seconds",
            "When the run finished (Unix time).",
            &[(vec![], finished)],
        );
        if report.cluster_failures.is_empty() && errored == 0 {
            gauge(
                &mut out,
                "kq_report_last_success_timestamp_seconds",
                "When the last run that read every cluster and evaluated every control finished (Unix time).",
                &[(vec![], finished)],
            );
        }
    }
    if let (Some(start), Some(end)) = (
        unix_seconds(&report.started),
        unix_seconds(&report.finished),
    ) {
        gauge(
            &mut out,
            "kq_report_duration_seconds",
            "How long the run took.",
            &[(vec![], (end - start).max(0.0))],
        );
    }
    gauge(
        &mut out,
        "kq_report_info",
        "The run and the kq that made it.",
        &[(
            vec![
                ("run", report.run.clone()),
                ("version", report.kq_version.clone()),
            ],
            1.0,
        )],
    );
    out.push_str("# EOF\n");
    out
}

type Sample = (Vec<(&'static str, String)>, f64);

fn gauge(out: &mut String, name: &str, help: &str, samples: &[Sample]) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} gauge");
    for (labels, value) in samples {
        out.push_str(name);
        if !labels.is_empty() {
            out.push('{');
            for (i, (key, value)) in labels.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                let _ = write!(out, "{key}=\"{}\"", escape_label(value));
            }
            out.push('}');
        }
        let _ = writeln!(out, " {}", number(*value));
    }
}

fn escape_label(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

fn number(value: f64) -> String {
    if value.fract() == 0.0 && value.abs() < 1e15 {
        format!("{}", value as i64)
    } else {
        format!("{value}")
    }
}

fn unix_seconds(rfc3339: &str) -> Option<f64> {
    chrono::DateTime::parse_from_rfc3339(rfc3339)
        .ok()
        .map(|t| t.timestamp_millis() as f64 / 1000.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_are_escaped_and_numbers_plain() {
        assert_eq!(escape_label("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
        assert_eq!(number(3.0), "3");
        assert_eq!(number(87.5), "87.5");
    }
}
