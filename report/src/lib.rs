//! kq-report: what a compliance report is, independent of how it was run.
//!
//! The engine evaluates controls (SQL) over the fleet and hands this crate
//! rows; everything after that lives here: control files and their
//! headers (`control`), waivers (`waivers`), run history and the
//! new/resolved comparison (`history`), scoring, and the file formats a
//! report is written in (`formats`). Nothing here touches the network or a
//! terminal, so every piece is tested on plain values.

pub mod control;
pub mod formats;
pub mod history;
pub mod waivers;

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};

pub use control::{Control, ControlError, Pack, Param, ParamValue};

/// How much an alarm of a control matters, lowest first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Info,
    Low,
    Medium,
    High,
    Critical,
}

impl Severity {
    pub const ALL: [Severity; 5] = [
        Severity::Info,
        Severity::Low,
        Severity::Medium,
        Severity::High,
        Severity::Critical,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Low => "low",
            Severity::Medium => "medium",
            Severity::High => "high",
            Severity::Critical => "critical",
        }
    }

    /// Weight of one result in the score (see [`Report::score`]).
    pub fn weight(self) -> u64 {
        match self {
            Severity::Info => 0,
            Severity::Low => 1,
            Severity::Medium => 2,
            Severity::High => 3,
            Severity::Critical => 4,
        }
    }

    pub fn parse(text: &str) -> Option<Severity> {
        Severity::ALL
            .into_iter()
            .find(|s| s.as_str().eq_ignore_ascii_case(text.trim()))
    }
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The status of one evaluated resource. The first five come from the
/// control's SQL (the Powerpipe contract); `Waived` is an alarm a valid
/// waiver covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Alarm,
    Error,
    Waived,
    Info,
    Skip,
    Ok,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Ok => "ok",
            Status::Alarm => "alarm",
            Status::Info => "info",
            Status::Skip => "skip",
            Status::Error => "error",
            Status::Waived => "waived",
        }
    }

    /// A status a control's SQL may return (`waived` is kq's, not the SQL's).
    pub fn from_sql(text: &str) -> Option<Status> {
        match text {
            "ok" => Some(Status::Ok),
            "alarm" => Some(Status::Alarm),
            "info" => Some(Status::Info),
            "skip" => Some(Status::Skip),
            "error" => Some(Status::Error),
            _ => None,
        }
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How an alarm relates to the previous run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Change {
    New,
    Persisting,
}

impl Change {
    pub fn as_str(self) -> &'static str {
        match self {
            Change::New => "new",
            Change::Persisting => "persisting",
        }
    }
}

/// The waiver that turned an alarm into `waived`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AppliedWaiver {
    /// The waiver's resource pattern, as written in the file.
    pub resource: String,
    pub reason: String,
    /// `YYYY-MM-DD`, the last day the waiver applies; none = never expires.
    pub expires: Option<String>,
}

/// One evaluated resource of one control.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Finding {
    pub cluster: String,
    pub namespace: Option<String>,
    pub kind: String,
    pub name: String,
    pub status: Status,
    pub reason: String,
    /// Further columns the control returned, as text (e.g. `container`).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub dimensions: BTreeMap<String, String>,
    /// Only on alarms, and only when a previous run exists.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub change: Option<Change>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub waiver: Option<AppliedWaiver>,
    /// Where the resource is declared, for findings on objects read from
    /// manifests (`--manifests`): a file and its line.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub location: Option<SourceLocation>,
}

/// A file and line a resource was read from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SourceLocation {
    /// As given on the command line (relative paths stay relative).
    pub path: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub line: Option<u32>,
}

impl std::fmt::Display for SourceLocation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.line {
            Some(line) => write!(f, "{}:{line}", self.path),
            None => f.write_str(&self.path),
        }
    }
}

impl Finding {
    /// The resource path, followed by `(file:line)` when it was read from a manifest.
    pub fn resource_label(&self) -> String {
        match &self.location {
            Some(location) => format!("{} ({location})", self.resource_path()),
            None => self.resource_path(),
        }
    }

    /// `cluster/namespace/kind/name`, with `-` for a cluster-scoped
    /// resource's namespace: what waivers match and what history compares.
    pub fn resource_path(&self) -> String {
        format!(
            "{}/{}/{}/{}",
            self.cluster,
            self.namespace.as_deref().unwrap_or("-"),
            self.kind,
            self.name
        )
    }
}

/// What a control is, as its file header says.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ControlInfo {
    pub id: String,
    pub pack: String,
    pub title: String,
    pub severity: Severity,
    pub frameworks: Vec<String>,
    pub rationale: String,
    pub remediation: String,
    /// Where the SQL came from (`queries/baseline/privileged.sql`, or a user's path).
    pub source: String,
    /// Why the control needs a live cluster (`-- live:` in its header):
    /// objects read from manifests cannot answer it, so it is not
    /// evaluated for them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub live: Option<String>,
}

/// Counts of a control's findings by status.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counts {
    pub ok: u64,
    pub alarm: u64,
    pub waived: u64,
    pub info: u64,
    pub skip: u64,
    pub error: u64,
}

impl Counts {
    pub fn add(&mut self, status: Status) {
        match status {
            Status::Ok => self.ok += 1,
            Status::Alarm => self.alarm += 1,
            Status::Waived => self.waived += 1,
            Status::Info => self.info += 1,
            Status::Skip => self.skip += 1,
            Status::Error => self.error += 1,
        }
    }

    pub fn of(findings: &[Finding]) -> Counts {
        let mut c = Counts::default();
        for f in findings {
            c.add(f.status);
        }
        c
    }

    pub fn total(&self) -> u64 {
        self.ok + self.alarm + self.waived + self.info + self.skip + self.error
    }
}

/// One control's outcome.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ControlResult {
    pub control: ControlInfo,
    pub counts: Counts,
    /// Worst first (alarm, error, waived, info, skip, ok), then by resource.
    pub findings: Vec<Finding>,
    /// Set when the control could not be evaluated at all.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    pub duration_ms: u64,
}

impl ControlResult {
    /// Whether the control could not be evaluated or returned error rows.
    pub fn errored(&self) -> bool {
        self.error.is_some() || self.counts.error > 0
    }

    /// Whether this control alarms at or above `threshold`.
    pub fn fails_at(&self, threshold: Severity) -> bool {
        self.counts.alarm > 0 && self.control.severity >= threshold
    }
}

/// A cluster kq could not (fully) read during the run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClusterFailure {
    pub cluster: String,
    pub message: String,
}

/// An alarm of the previous run that is gone now.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Resolved {
    pub control: String,
    pub finding: Finding,
}

/// The comparison with the previous run under the same out directory.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Comparison {
    /// The id of the run compared with (its directory name).
    pub previous_run: String,
    /// With `--since`: the window whose oldest run `previous_run` is
    /// (`30d`); without it, `previous_run` is simply the previous run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub window: Option<String>,
    pub new: u64,
    pub persisting: u64,
    pub resolved: Vec<Resolved>,
}

/// A complete report: the JSON format is exactly this, serialized.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Report {
    /// The run id: its start time, `2026-11-21T06-00-00Z`, also its directory name.
    pub run: String,
    pub kq_version: String,
    /// RFC 3339, UTC.
    pub started: String,
    pub finished: String,
    pub clusters: Vec<String>,
    pub packs: Vec<String>,
    pub params: BTreeMap<String, String>,
    /// Worst first: failing controls by severity, then erroring, then clean.
    pub controls: Vec<ControlResult>,
    pub cluster_failures: Vec<ClusterFailure>,
    /// Warnings a reader must see: expired waivers, waivers that matched nothing.
    pub warnings: Vec<String>,
    pub score: f64,
    pub totals: Counts,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comparison: Option<Comparison>,
    /// Score and alarms of the runs in the history, oldest first, this one
    /// last (empty without `--out`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub trend: Vec<TrendPoint>,
}

/// One run on the trend chart.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrendPoint {
    pub run: String,
    /// RFC 3339, UTC: when the run started.
    pub time: String,
    pub score: f64,
    pub alarm: u64,
}

impl Report {
    /// Score from 0 to 100, Polaris-style but weighted by severity: every
    /// ok and alarm result weighs its control's severity (low 1 … critical
    /// 4); the score is the ok share of that weight. Waived, info, skip
    /// and error results do not count. 100 when nothing was evaluated.
    pub fn compute_score(controls: &[ControlResult]) -> f64 {
        let (mut passed, mut total) = (0u64, 0u64);
        for c in controls {
            let w = c.control.severity.weight();
            passed += w * c.counts.ok;
            total += w * (c.counts.ok + c.counts.alarm);
        }
        if total == 0 {
            100.0
        } else {
            // One decimal, so JSON and every format agree on the printed value.
            (1000.0 * passed as f64 / total as f64).round() / 10.0
        }
    }

    /// Orders controls worst first: alarming ones by severity then alarm
    /// count, then controls that errored, then the rest by id.
    pub fn sort_controls(controls: &mut [ControlResult]) {
        controls.sort_by(|a, b| {
            let rank = |c: &ControlResult| {
                if c.counts.alarm > 0 {
                    0
                } else if c.errored() {
                    1
                } else {
                    2
                }
            };
            rank(a)
                .cmp(&rank(b))
                .then(b.control.severity.cmp(&a.control.severity))
                .then(b.counts.alarm.cmp(&a.counts.alarm))
                .then(a.control.id.cmp(&b.control.id))
        });
    }

    /// Sum of every control's counts.
    pub fn compute_totals(controls: &[ControlResult]) -> Counts {
        let mut t = Counts::default();
        for c in controls {
            t.ok += c.counts.ok;
            t.alarm += c.counts.alarm;
            t.waived += c.counts.waived;
            t.info += c.counts.info;
            t.skip += c.counts.skip;
            t.error += c.counts.error;
        }
        t
    }

    /// Puts a report in its final shape after waivers and the comparison:
    /// findings and controls worst first, counts, totals and the score.
    pub fn finish(&mut self) {
        for c in &mut self.controls {
            sort_findings(&mut c.findings);
            c.counts = Counts::of(&c.findings);
        }
        Report::sort_controls(&mut self.controls);
        self.totals = Report::compute_totals(&self.controls);
        self.score = Report::compute_score(&self.controls);
    }

    /// Controls that could not be evaluated, or returned error rows.
    pub fn errors(&self) -> usize {
        self.controls.iter().filter(|c| c.errored()).count()
    }

    /// Controls with at least one alarm.
    pub fn failing(&self) -> usize {
        self.controls.iter().filter(|c| c.counts.alarm > 0).count()
    }

    /// Controls that could not be evaluated at all.
    pub fn unevaluated(&self) -> usize {
        self.controls.iter().filter(|c| c.error.is_some()).count()
    }

    /// Whether the run should exit 1 under `--fail-on threshold`.
    pub fn fails_at(&self, threshold: Severity) -> bool {
        self.controls.iter().any(|c| c.fails_at(threshold))
    }
}

/// Sorts findings worst first, then by resource, so every format and
/// every run lists them in the same order.
pub fn sort_findings(findings: &mut [Finding]) {
    findings.sort_by(|a, b| {
        a.status
            .cmp(&b.status)
            .then_with(|| a.cluster.cmp(&b.cluster))
            .then_with(|| a.namespace.cmp(&b.namespace))
            .then_with(|| a.kind.cmp(&b.kind))
            .then_with(|| a.name.cmp(&b.name))
            .then_with(|| a.dimensions.cmp(&b.dimensions))
            .then_with(|| a.reason.cmp(&b.reason))
    });
}

#[cfg(test)]
pub(crate) mod sample {
    //! A small report every format's tests render.
    use super::*;

    pub fn finding(
        cluster: &str,
        ns: Option<&str>,
        kind: &str,
        name: &str,
        status: Status,
    ) -> Finding {
        Finding {
            cluster: cluster.into(),
            namespace: ns.map(Into::into),
            kind: kind.into(),
            name: name.into(),
            status,
            reason: format!("{name} is {status}"),
            dimensions: BTreeMap::new(),
            change: None,
            waiver: None,
            location: None,
        }
    }

    pub fn control(id: &str, severity: Severity, findings: Vec<Finding>) -> ControlResult {
        ControlResult {
            control: ControlInfo {
                id: id.into(),
                pack: id.split('.').next().unwrap_or("custom").into(),
                title: format!("Title of {id}"),
                severity,
                frameworks: vec!["CIS 5.1.1".into()],
                rationale: "Because <it> matters & more.".into(),
                remediation: "Fix it.".into(),
                source: format!("queries/{}.sql", id.replace('.', "/")),
                live: None,
            },
            counts: Counts::of(&findings),
            findings,
            error: None,
            duration_ms: 12,
        }
    }

    pub fn report() -> Report {
        let mut alarm = finding(
            "prod",
            Some("shop"),
            "Deployment",
            "web<script>",
            Status::Alarm,
        );
        alarm.change = Some(Change::New);
        alarm.dimensions.insert("container".into(), "app".into());
        let mut waived = finding(
            "prod",
            Some("kube-system"),
            "DaemonSet",
            "kube-proxy",
            Status::Waived,
        );
        waived.waiver = Some(AppliedWaiver {
            resource: "*/kube-system/*/*".into(),
            reason: "system component".into(),
            expires: Some("2027-01-31".into()),
        });
        let controls = vec![
            control(
                "baseline.privileged",
                Severity::Critical,
                vec![
                    alarm,
                    waived,
                    finding("dev", Some("shop"), "Deployment", "api", Status::Ok),
                ],
            ),
            control(
                "cis.default_namespace",
                Severity::Low,
                vec![finding("dev", None, "Namespace", "default", Status::Ok)],
            ),
        ];
        Report {
            run: "2026-11-21T06-00-00Z".into(),
            kq_version: "0.1.0".into(),
            started: "2026-11-21T06:00:00Z".into(),
            finished: "2026-11-21T06:00:02Z".into(),
            clusters: vec!["dev".into(), "prod".into()],
            packs: vec!["baseline".into(), "cis".into()],
            params: BTreeMap::from([(
                "trusted_registries".into(),
                "registry.corp.example.com/".into(),
            )]),
            score: Report::compute_score(&controls),
            totals: Report::compute_totals(&controls),
            controls,
            cluster_failures: vec![ClusterFailure {
                cluster: "staging".into(),
                message: "cannot reach the API server".into(),
            }],
            warnings: vec!["waiver 3 (baseline.latest_tag) expired on 2026-10-01".into()],
            comparison: Some(Comparison {
                previous_run: "2026-11-20T06-00-00Z".into(),
                window: None,
                new: 1,
                persisting: 0,
                resolved: vec![Resolved {
                    control: "baseline.privileged".into(),
                    finding: finding("dev", Some("shop"), "Pod", "debug", Status::Alarm),
                }],
            }),
            trend: vec![
                TrendPoint {
                    run: "2026-11-19T06-00-00Z".into(),
                    time: "2026-11-19T06:00:00Z".into(),
                    score: 40.0,
                    alarm: 3,
                },
                TrendPoint {
                    run: "2026-11-20T06-00-00Z".into(),
                    time: "2026-11-20T06:00:00Z".into(),
                    score: 50.0,
                    alarm: 1,
                },
            ],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn score_weighs_severity_and_ignores_waived() {
        let r = sample::report();
        // critical: 1 ok, 1 alarm (waived ignored) → 4 of 8; low: 1 ok → 1 of 1.
        assert_eq!(r.score, (1000.0f64 * 5.0 / 9.0).round() / 10.0);
        assert_eq!(Report::compute_score(&[]), 100.0);
    }

    #[test]
    fn fail_on_threshold() {
        let r = sample::report();
        assert!(r.fails_at(Severity::Critical));
        assert!(r.fails_at(Severity::Low));
        let mut clean = r.clone();
        clean.controls.retain(|c| c.counts.alarm == 0);
        assert!(!clean.fails_at(Severity::Info));
    }

    #[test]
    fn json_round_trips() {
        let r = sample::report();
        let text = serde_json::to_string(&r).unwrap();
        let back: Report = serde_json::from_str(&text).unwrap();
        assert_eq!(back, r);
    }
}
