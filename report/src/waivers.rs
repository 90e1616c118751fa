//! Waivers: alarms a team has accepted, each with a reason and an expiry.
//!
//! ```yaml
//! waivers:
//!   - control: baseline.privileged          # an id, or a glob such as baseline.*
//!     resource: prod/kube-system/DaemonSet/* # cluster/namespace/kind/name, globs per part
//!     reason: kube-proxy manages iptables on the host
//!     expires: 2027-01-31                    # last day it applies, or `never`
//! ```
//!
//! A waived alarm is reported as `waived`, not hidden. An expired waiver
//! no longer applies and the report warns about it; so does a waiver that
//! matched nothing (it is probably stale). `*` never crosses a `/`, and a
//! cluster-scoped resource's namespace part is `-`.

use std::path::Path;

use chrono::NaiveDate;
use glob::{MatchOptions, Pattern};
use serde::Deserialize;

use crate::{AppliedWaiver, ControlResult, Counts, Status, control::id_glob_matches};

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum WaiverError {
    #[error("cannot read the waiver file {path}: {message}")]
    Read { path: String, message: String },
    #[error("{path}: {message}")]
    Invalid { path: String, message: String },
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    waivers: Vec<Entry>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Entry {
    control: String,
    resource: String,
    reason: String,
    expires: serde_yaml::Value,
}

/// One waiver, validated.
#[derive(Debug, Clone)]
pub struct Waiver {
    /// 1-based position in the file, how warnings name it.
    pub number: usize,
    pub control: String,
    pub resource: String,
    pattern: Option<Pattern>,
    pub reason: String,
    pub expires: Option<NaiveDate>,
}

impl Waiver {
    fn covers_control(&self, control_id: &str) -> bool {
        self.control == control_id || id_glob_matches(&self.control, control_id)
    }

    fn matches(&self, control_id: &str, resource_path: &str) -> bool {
        let control = self.covers_control(control_id);
        let options = MatchOptions {
            case_sensitive: true,
            require_literal_separator: true,
            require_literal_leading_dot: false,
        };
        control
            && self
                .pattern
                .as_ref()
                .is_none_or(|p| p.matches_with(resource_path, options))
    }

    fn expired(&self, today: NaiveDate) -> bool {
        self.expires.is_some_and(|last| today > last)
    }

    fn describe(&self) -> String {
        format!(
            "waiver {} ({} on {})",
            self.number, self.control, self.resource
        )
    }
}

/// The waivers of one file.
#[derive(Debug, Clone, Default)]
pub struct Waivers {
    pub source: String,
    pub list: Vec<Waiver>,
}

impl Waivers {
    /// Reads and validates a waiver file. `known_ids` are every control id
    /// kq knows, so a misspelled id is an error rather than a waiver that
    /// silently never applies.
    pub fn load(path: &Path, known_ids: &[String]) -> Result<Waivers, WaiverError> {
        let text = std::fs::read_to_string(path).map_err(|e| WaiverError::Read {
            path: path.display().to_string(),
            message: e.to_string(),
        })?;
        Waivers::parse(&path.display().to_string(), &text, known_ids)
    }

    pub fn parse(source: &str, text: &str, known_ids: &[String]) -> Result<Waivers, WaiverError> {
        let invalid = |message: String| WaiverError::Invalid {
            path: source.to_string(),
            message,
        };
        let file: File = serde_yaml::from_str(text).map_err(|e| {
            invalid(format!(
                "{e}; a waiver file is `waivers:` followed by a list of control, resource, reason and expires"
            ))
        })?;
        let mut list = Vec::new();
        for (index, entry) in file.waivers.into_iter().enumerate() {
            let number = index + 1;
            let at = |message: String| invalid(format!("waiver {number}: {message}"));
            let control = entry.control.trim().to_string();
            let is_glob = control.contains(['*', '?', '[']);
            if is_glob {
                if !known_ids.iter().any(|id| id_glob_matches(&control, id)) {
                    return Err(at(format!(
                        "control pattern '{control}' matches no control"
                    )));
                }
            } else if !known_ids.contains(&control) {
                return Err(at(format!(
                    "unknown control '{control}'; `kq report --list` shows the ids"
                )));
            }
            let resource = entry.resource.trim().to_string();
            let pattern = if resource == "*" {
                None
            } else {
                if resource.split('/').count() != 4 {
                    return Err(at(format!(
                        "resource '{resource}' must be cluster/namespace/kind/name (globs allowed, `-` \
                         for a cluster-scoped resource's namespace), or `*`"
                    )));
                }
                Some(Pattern::new(&resource).map_err(|e| {
                    at(format!("resource '{resource}' is not a valid pattern: {e}"))
                })?)
            };
            if entry.reason.trim().is_empty() {
                return Err(at(
                    "the reason is empty; say why the alarm is accepted".into()
                ));
            }
            let expires = match &entry.expires {
                serde_yaml::Value::String(s) if s.trim().eq_ignore_ascii_case("never") => None,
                serde_yaml::Value::String(s) => Some(
                    NaiveDate::parse_from_str(s.trim(), "%Y-%m-%d").map_err(|_| {
                        at(format!(
                            "expires '{s}' is not a date; write YYYY-MM-DD or never"
                        ))
                    })?,
                ),
                other => {
                    return Err(at(format!(
                        "expires must be a date (YYYY-MM-DD) or never, not {}",
                        serde_yaml::to_string(other).unwrap_or_default().trim()
                    )));
                }
            };
            list.push(Waiver {
                number,
                control,
                resource,
                pattern,
                reason: entry.reason.trim().to_string(),
                expires,
            });
        }
        Ok(Waivers {
            source: source.to_string(),
            list,
        })
    }

    /// Marks the alarms a live waiver covers as waived (first matching
    /// waiver wins) and recounts; [`crate::Report::finish`] orders them. Returns warnings for expired waivers and
    /// for waivers of evaluated controls that matched nothing.
    pub fn apply(&self, results: &mut [ControlResult], today: NaiveDate) -> Vec<String> {
        let mut used = vec![false; self.list.len()];
        let mut warnings = Vec::new();
        for result in results.iter_mut() {
            let id = result.control.id.clone();
            for finding in &mut result.findings {
                if finding.status != Status::Alarm {
                    continue;
                }
                let path = finding.resource_path();
                for (i, w) in self.list.iter().enumerate() {
                    if !w.matches(&id, &path) {
                        continue;
                    }
                    used[i] = true;
                    if w.expired(today) {
                        continue;
                    }
                    finding.status = Status::Waived;
                    finding.waiver = Some(AppliedWaiver {
                        resource: w.resource.clone(),
                        reason: w.reason.clone(),
                        expires: w.expires.map(|d| d.to_string()),
                    });
                    break;
                }
            }
            result.counts = Counts::of(&result.findings);
        }
        for (i, w) in self.list.iter().enumerate() {
            if w.expired(today) {
                let last = w.expires.map(|d| d.to_string()).unwrap_or_default();
                warnings.push(format!(
                    "{} expired on {last}; its alarms count again (renew or remove it in {})",
                    w.describe(),
                    self.source
                ));
            } else if !used[i] && results.iter().any(|r| w.covers_control(&r.control.id)) {
                warnings.push(format!(
                    "{} matched no alarm; remove it from {} if the issue is fixed",
                    w.describe(),
                    self.source
                ));
            }
        }
        warnings
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Severity;
    use crate::sample::{control, finding};

    fn ids() -> Vec<String> {
        vec!["baseline.privileged".into(), "baseline.latest_tag".into()]
    }

    fn day(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
    }

    #[test]
    fn waives_matching_alarms_and_warns_on_expired_and_unused() {
        let text = "waivers:\n\
            - control: baseline.privileged\n  resource: prod/kube-system/*/*\n  reason: system\n  expires: 2027-01-31\n\
            - control: baseline.*\n  resource: prod/shop/Deployment/web\n  reason: old\n  expires: 2026-01-01\n\
            - control: baseline.privileged\n  resource: dev/*/*/*\n  reason: unused\n  expires: never\n";
        let w = Waivers::parse("w.yaml", text, &ids()).unwrap();
        let mut results = vec![control(
            "baseline.privileged",
            Severity::Critical,
            vec![
                finding(
                    "prod",
                    Some("kube-system"),
                    "DaemonSet",
                    "kube-proxy",
                    Status::Alarm,
                ),
                finding("prod", Some("shop"), "Deployment", "web", Status::Alarm),
                finding("prod", Some("shop"), "Deployment", "api", Status::Ok),
            ],
        )];
        let warnings = w.apply(&mut results, day("2026-11-21"));
        let r = &results[0];
        assert_eq!(r.counts.waived, 1);
        assert_eq!(r.counts.alarm, 1, "the expired waiver no longer applies");
        let waived = r
            .findings
            .iter()
            .find(|f| f.status == Status::Waived)
            .unwrap();
        assert_eq!(waived.name, "kube-proxy");
        assert_eq!(waived.waiver.as_ref().unwrap().reason, "system");
        assert_eq!(warnings.len(), 2, "{warnings:?}");
        assert!(warnings[0].starts_with(
            "waiver 2 (baseline.* on prod/shop/Deployment/web) expired on 2026-01-01"
        ));
        assert!(
            warnings[1].starts_with("waiver 3 (baseline.privileged on dev/*/*/*) matched no alarm")
        );
    }

    #[test]
    fn star_does_not_cross_slashes() {
        let text = "waivers:\n- control: baseline.privileged\n  resource: prod/*/web\n  reason: x\n  expires: never\n";
        let e = Waivers::parse("w.yaml", text, &ids())
            .unwrap_err()
            .to_string();
        assert!(e.contains("must be cluster/namespace/kind/name"), "{e}");
        let text = "waivers:\n- control: baseline.privileged\n  resource: prod/*/*/web\n  reason: x\n  expires: never\n";
        let w = Waivers::parse("w.yaml", text, &ids()).unwrap();
        assert!(w.list[0].matches("baseline.privileged", "prod/shop/Deployment/web"));
        assert!(!w.list[0].matches("baseline.privileged", "prod/shop/Deployment/web/x"));
        assert!(!w.list[0].matches("baseline.latest_tag", "prod/shop/Deployment/web"));
    }

    #[test]
    fn malformed_files_name_the_waiver_and_the_problem() {
        let cases = [
            (
                "waivers:\n- control: baseline.nope\n  resource: '*'\n  reason: x\n  expires: never\n",
                "waiver 1: unknown control 'baseline.nope'",
            ),
            (
                "waivers:\n- control: baseline.privileged\n  resource: '*'\n  reason: x\n  expires: 31/01/2027\n",
                "waiver 1: expires '31/01/2027' is not a date",
            ),
            (
                "waivers:\n- control: baseline.privileged\n  resource: '*'\n  reason: ' '\n  expires: never\n",
                "waiver 1: the reason is empty",
            ),
            (
                "waivers:\n- control: baseline.privileged\n  resource: '*'\n  reason: x\n  expiry: never\n",
                "unknown field `expiry`",
            ),
            (
                "waivers:\n- control: cis.*\n  resource: '*'\n  reason: x\n  expires: never\n",
                "matches no control",
            ),
        ];
        for (text, want) in cases {
            let e = Waivers::parse("w.yaml", text, &ids())
                .unwrap_err()
                .to_string();
            assert!(e.starts_with("w.yaml: "), "{e}");
            assert!(e.contains(want), "{e} should contain {want}");
        }
    }
}
