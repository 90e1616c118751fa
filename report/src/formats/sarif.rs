//! SARIF 2.1.0, for code-scanning dashboards (GitHub code scanning,
//! Azure DevOps, DefectDojo) and any SARIF viewer.
//!
//! One run; every control is a rule, every alarm a result. A Kubernetes
//! resource is not a file, so results carry a *logical* location whose
//! fully qualified name is the resource path (`cluster/namespace/kind/name`);
//! a resource read from a manifest also has a *physical* location (its
//! file and first line), which code scanning annotates in a pull request,
//! and a partial fingerprint `kqResource/v1` = `<control id>|<resource
//! path>`, which lets a dashboard follow one finding across runs. Waived
//! alarms are results with an external suppression (the waiver's reason);
//! against a previous run, alarms are `new` or `unchanged` and resolved
//! ones come back as `absent` results of kind `pass`. Clusters kq could not
//! read, report warnings and controls that failed are tool execution
//! notifications, and the invocation is unsuccessful when any cluster or
//! control failed.

use serde_json::{Map, Value, json};

use crate::{Change, ControlResult, Finding, Report, Severity, Status};

const SCHEMA: &str =
    "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json";
const INFORMATION_URI: &str = "https://github.com/kq-dev/kq";
const FINGERPRINT: &str = "kqResource/v1";

pub fn render(report: &Report) -> String {
    let rules: Vec<Value> = report.controls.iter().map(rule).collect();
    let rule_index = |id: &str| report.controls.iter().position(|c| c.control.id == id);

    let mut results = Vec::new();
    for (index, c) in report.controls.iter().enumerate() {
        for f in &c.findings {
            if matches!(f.status, Status::Alarm | Status::Waived) {
                results.push(result(&c.control.id, Some((index, c.control.severity)), f));
            }
        }
    }
    if let Some(cmp) = &report.comparison {
        for resolved in &cmp.resolved {
            let rule =
                rule_index(&resolved.control).map(|i| (i, report.controls[i].control.severity));
            let mut r = result(&resolved.control, rule, &resolved.finding);
            r["kind"] = "pass".into();
            r["level"] = "none".into();
            r["baselineState"] = "absent".into();
            r["message"] = json!({
                "text": format!("resolved since {}: {}", cmp.previous_run, message(&resolved.finding))
            });
            results.push(r);
        }
    }

    let mut notifications = Vec::new();
    for failure in &report.cluster_failures {
        notifications.push(json!({
            "level": "error",
            "message": { "text": format!("cluster {}: {}", failure.cluster, failure.message) },
            "properties": { "cluster": failure.cluster },
        }));
    }
    for (index, c) in report.controls.iter().enumerate() {
        let rule = json!({ "id": c.control.id, "index": index });
        if let Some(error) = &c.error {
            notifications.push(json!({
                "level": "error",
                "message": { "text": format!("control {} could not be evaluated: {error}", c.control.id) },
                "associatedRule": rule,
            }));
        }
        for f in c.findings.iter().filter(|f| f.status == Status::Error) {
            notifications.push(json!({
                "level": "error",
                "message": { "text": format!("control {}: {}", c.control.id, message(f)) },
                "associatedRule": rule,
            }));
        }
    }
    for warning in &report.warnings {
        notifications.push(json!({ "level": "warning", "message": { "text": warning } }));
    }

    let mut invocation = json!({
        "executionSuccessful": report.cluster_failures.is_empty()
            && report.controls.iter().all(|c| c.error.is_none()),
        "startTimeUtc": report.started,
        "endTimeUtc": report.finished,
    });
    if !notifications.is_empty() {
        invocation["toolExecutionNotifications"] = notifications.into();
    }

    let log = json!({
        "$schema": SCHEMA,
        "version": "2.1.0",
        "runs": [{
            "tool": {
                "driver": {
                    "name": "kq",
                    "version": report.kq_version,
                    "informationUri": INFORMATION_URI,
                    "rules": rules,
                }
            },
            "automationDetails": { "id": format!("kq/{}", report.run) },
            "invocations": [invocation],
            "results": results,
            "properties": {
                "run": report.run,
                "clusters": report.clusters,
                "packs": report.packs,
                "params": report.params,
                "score": report.score,
            },
        }],
    });
    let mut text = serde_json::to_string_pretty(&log).expect("a SARIF log always serializes");
    text.push('\n');
    text
}

/// A SARIF artifact URI: a relative path with `/` separators and
/// percent-encoded reserved characters; an absolute path as a file URI.
fn artifact_uri(path: &str) -> String {
    let mut uri = String::new();
    if path.starts_with('/') {
        uri.push_str("file://");
    }
    for byte in path.replace('\\', "/").bytes() {
        match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' | b'/' => {
                uri.push(byte as char)
            }
            other => uri.push_str(&format!("%{other:02X}")),
        }
    }
    uri
}

fn rule(c: &ControlResult) -> Value {
    let info = &c.control;
    let mut tags = vec!["security".to_string()];
    tags.extend(info.frameworks.iter().cloned());
    json!({
        "id": info.id,
        "name": rule_name(&info.id),
        "shortDescription": { "text": info.title },
        "fullDescription": { "text": non_empty(&info.rationale, &info.title) },
        "help": { "text": non_empty(&info.remediation, &info.title) },
        "defaultConfiguration": { "level": level(info.severity) },
        "properties": {
            "tags": tags,
            "security-severity": security_severity(info.severity),
            "severity": info.severity,
            "pack": info.pack,
            "source": info.source,
        },
    })
}

/// A result for `f`; `rule` is the control's rule index and severity,
/// none for a resolved finding of a control this run did not evaluate.
fn result(control: &str, rule: Option<(usize, Severity)>, f: &Finding) -> Value {
    let path = f.resource_path();
    let mut r = Map::new();
    r.insert("ruleId".into(), control.into());
    if let Some((index, severity)) = rule {
        r.insert("ruleIndex".into(), index.into());
        r.insert("level".into(), level(severity).into());
    }
    r.insert("kind".into(), "fail".into());
    r.insert("message".into(), json!({ "text": message(f) }));
    let mut location = json!({
        "logicalLocations": [{
            "name": f.name,
            "fullyQualifiedName": path,
            "kind": "resource",
        }],
    });
    if let Some(file) = &f.location {
        // What code scanning annotates: the file (relative to the
        // checkout, as kq was given it) and the object's first line.
        let mut physical = json!({ "artifactLocation": { "uri": artifact_uri(&file.path) } });
        if let Some(line) = file.line {
            physical["region"] = json!({ "startLine": line });
        }
        location["physicalLocation"] = physical;
    }
    r.insert("locations".into(), json!([location]));
    r.insert(
        "partialFingerprints".into(),
        json!({ FINGERPRINT: format!("{control}|{path}") }),
    );
    match f.change {
        Some(Change::New) => r.insert("baselineState".into(), "new".into()),
        Some(Change::Persisting) => r.insert("baselineState".into(), "unchanged".into()),
        None => None,
    };
    if let Some(w) = &f.waiver {
        let mut properties = json!({ "resource": w.resource });
        if let Some(until) = &w.expires {
            properties["expires"] = until.clone().into();
        }
        r.insert(
            "suppressions".into(),
            json!([{
                "kind": "external",
                "status": "accepted",
                "justification": w.reason,
                "properties": properties,
            }]),
        );
    }
    let mut properties = json!({
        "cluster": f.cluster,
        "namespace": f.namespace,
        "kind": f.kind,
        "name": f.name,
        "status": f.status,
    });
    if !f.dimensions.is_empty() {
        properties["dimensions"] = json!(f.dimensions);
    }
    r.insert("properties".into(), properties);
    Value::Object(r)
}

fn message(f: &Finding) -> String {
    format!("{}: {}", f.resource_label(), f.reason)
}

fn non_empty<'a>(text: &'a str, fallback: &'a str) -> &'a str {
    if text.trim().is_empty() {
        fallback
    } else {
        text
    }
}

/// `baseline.privileged` → `Privileged`, `cis.default_namespace` →
/// `DefaultNamespace`: SARIF's readable rule name.
fn rule_name(id: &str) -> String {
    let last = id.rsplit('.').next().unwrap_or(id);
    last.split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(|w| {
            let mut chars = w.chars();
            chars
                .next()
                .map(|first| first.to_uppercase().chain(chars).collect::<String>())
                .unwrap_or_default()
        })
        .collect()
}

fn level(severity: Severity) -> &'static str {
    match severity {
        Severity::Critical | Severity::High => "error",
        Severity::Medium => "warning",
        Severity::Low | Severity::Info => "note",
    }
}

/// GitHub's `security-severity`: a number in a string, 9.0+ critical,
/// 7.0+ high, 4.0+ medium, above 0 low.
fn security_severity(severity: Severity) -> &'static str {
    match severity {
        Severity::Critical => "9.5",
        Severity::High => "8.0",
        Severity::Medium => "5.5",
        Severity::Low => "3.0",
        Severity::Info => "0.0",
    }
}

#[cfg(test)]
mod tests {
    //! The schema under `tests/fixtures` is the SARIF 2.1.0 JSON schema
    //! (draft-07) as OASIS publishes it in oasis-tcs/sarif-spec
    //! (`Schemata/sarif-schema-2.1.0.json`, its `$id`), copied unchanged
    //! from the serde-sarif 0.8.0 crate, which ships it as `src/schema.json`.

    use super::*;
    use crate::{Counts, sample};

    fn schema() -> Value {
        serde_json::from_str(include_str!("../../tests/fixtures/sarif-schema-2.1.0.json"))
            .expect("the vendored schema is JSON")
    }

    /// The schema's complaints about `log`, one line each.
    fn violations(log: &Value) -> Vec<String> {
        let schema = schema();
        let config = jsonschema_valid::Config::from_schema(
            &schema,
            Some(jsonschema_valid::schemas::Draft::Draft7),
        )
        .expect("the vendored schema compiles");
        match config.validate(log) {
            Ok(()) => Vec::new(),
            Err(errors) => errors
                .map(|e| {
                    format!(
                        "{} at /{}",
                        e.msg,
                        e.instance_path
                            .iter()
                            .rev()
                            .cloned()
                            .collect::<Vec<_>>()
                            .join("/")
                    )
                })
                .collect(),
        }
    }

    fn assert_valid(text: &str) -> Value {
        let log: Value = serde_json::from_str(text).expect("SARIF output is JSON");
        let errors = violations(&log);
        assert!(errors.is_empty(), "invalid SARIF: {errors:#?}\n{text}");
        log
    }

    #[test]
    fn a_finding_from_a_manifest_has_a_physical_location() {
        let mut report = sample::report();
        report.controls[0].findings[0].location = Some(crate::SourceLocation {
            path: "charts/shop/templates/web deploy.yaml".into(),
            line: Some(12),
        });
        report.controls[0].findings[1].location = Some(crate::SourceLocation {
            path: "/abs/rendered".into(),
            line: None,
        });
        let log = assert_valid(&render(&report));
        let results = log["runs"][0]["results"].as_array().unwrap();
        let physical = &results[0]["locations"][0]["physicalLocation"];
        assert_eq!(
            physical["artifactLocation"]["uri"],
            "charts/shop/templates/web%20deploy.yaml"
        );
        assert_eq!(physical["region"]["startLine"], 12);
        // The logical location stays, so fingerprints do not change.
        assert_eq!(
            results[0]["locations"][0]["logicalLocations"][0]["kind"],
            "resource"
        );
        let rendered = &results[1]["locations"][0]["physicalLocation"];
        assert_eq!(rendered["artifactLocation"]["uri"], "file:///abs/rendered");
        assert!(rendered.get("region").is_none());
        assert!(
            results[0]["message"]["text"]
                .as_str()
                .unwrap()
                .contains("(charts/shop/templates/web deploy.yaml:12)")
        );
    }

    #[test]
    fn the_sample_is_valid_sarif() {
        let log = assert_valid(&render(&sample::report()));
        let run = &log["runs"][0];
        let driver = &run["tool"]["driver"];
        assert_eq!(driver["name"], "kq");
        assert_eq!(driver["version"], "0.1.0");
        assert_eq!(driver["informationUri"], INFORMATION_URI);
        let rules = driver["rules"].as_array().unwrap();
        assert_eq!(rules.len(), 2);
        assert_eq!(rules[0]["id"], "baseline.privileged");
        assert_eq!(rules[0]["name"], "Privileged");
        assert_eq!(rules[1]["name"], "DefaultNamespace");
        assert_eq!(
            rules[0]["shortDescription"]["text"],
            "Title of baseline.privileged"
        );
        assert_eq!(
            rules[0]["fullDescription"]["text"],
            "Because <it> matters & more."
        );
        assert_eq!(rules[0]["help"]["text"], "Fix it.");
        assert_eq!(rules[0]["defaultConfiguration"]["level"], "error");
        assert_eq!(rules[1]["defaultConfiguration"]["level"], "note");
        assert_eq!(rules[0]["properties"]["security-severity"], "9.5");
        assert_eq!(rules[1]["properties"]["security-severity"], "3.0");
        assert_eq!(
            rules[0]["properties"]["tags"],
            json!(["security", "CIS 5.1.1"])
        );

        let results = run["results"].as_array().unwrap();
        assert_eq!(results.len(), 3, "{results:#?}");
        let alarm = &results[0];
        assert_eq!(alarm["ruleId"], "baseline.privileged");
        assert_eq!(alarm["ruleIndex"], 0);
        assert_eq!(alarm["level"], "error");
        assert_eq!(alarm["baselineState"], "new");
        assert_eq!(
            alarm["message"]["text"],
            "prod/shop/Deployment/web<script>: web<script> is alarm"
        );
        let logical = &alarm["locations"][0]["logicalLocations"][0];
        assert_eq!(
            logical["fullyQualifiedName"],
            "prod/shop/Deployment/web<script>"
        );
        assert_eq!(logical["kind"], "resource");
        assert_eq!(
            alarm["partialFingerprints"][FINGERPRINT],
            "baseline.privileged|prod/shop/Deployment/web<script>"
        );
        assert_eq!(alarm["properties"]["dimensions"]["container"], "app");
        assert_eq!(alarm["properties"]["namespace"], "shop");
        assert!(alarm.get("suppressions").is_none());

        let waived = &results[1];
        assert_eq!(waived["suppressions"][0]["kind"], "external");
        assert_eq!(
            waived["suppressions"][0]["justification"],
            "system component"
        );
        assert_eq!(
            waived["suppressions"][0]["properties"]["expires"],
            "2027-01-31"
        );

        let resolved = &results[2];
        assert_eq!(resolved["baselineState"], "absent");
        assert_eq!(resolved["kind"], "pass");
        assert_eq!(resolved["level"], "none");
        assert_eq!(
            resolved["partialFingerprints"][FINGERPRINT],
            "baseline.privileged|dev/shop/Pod/debug"
        );

        let invocation = &run["invocations"][0];
        assert_eq!(invocation["executionSuccessful"], false);
        let notes = invocation["toolExecutionNotifications"].as_array().unwrap();
        assert_eq!(notes.len(), 2);
        assert_eq!(notes[0]["level"], "error");
        assert_eq!(
            notes[0]["message"]["text"],
            "cluster staging: cannot reach the API server"
        );
        assert_eq!(notes[1]["level"], "warning");
    }

    #[test]
    fn an_empty_report_is_valid_sarif() {
        let report = Report {
            controls: vec![],
            cluster_failures: vec![],
            warnings: vec![],
            comparison: None,
            trend: Vec::new(),
            totals: Counts::default(),
            score: 100.0,
            ..sample::report()
        };
        let log = assert_valid(&render(&report));
        let run = &log["runs"][0];
        assert_eq!(run["results"], json!([]));
        assert_eq!(run["tool"]["driver"]["rules"], json!([]));
        assert_eq!(run["invocations"][0]["executionSuccessful"], true);
        assert!(
            run["invocations"][0]
                .get("toolExecutionNotifications")
                .is_none()
        );
    }

    #[test]
    fn control_errors_and_orphaned_resolutions_are_valid() {
        let mut report = sample::report();
        report.controls[1].error = Some("no such table".into());
        report.controls[1]
            .findings
            .push(sample::finding("dev", None, "Node", "n1", Status::Error));
        report.comparison.as_mut().unwrap().resolved[0].control = "gone.control".into();
        let log = assert_valid(&render(&report));
        let run = &log["runs"][0];
        let notes = run["invocations"][0]["toolExecutionNotifications"]
            .as_array()
            .unwrap();
        assert_eq!(notes.len(), 4, "{notes:#?}");
        assert_eq!(
            notes[1]["associatedRule"],
            json!({ "id": "cis.default_namespace", "index": 1 })
        );
        let resolved = run["results"].as_array().unwrap().last().unwrap().clone();
        assert_eq!(resolved["ruleId"], "gone.control");
        assert!(resolved.get("ruleIndex").is_none());
    }

    #[test]
    fn the_schema_rejects_a_broken_log() {
        let schema = schema();
        let config = jsonschema_valid::Config::from_schema(
            &schema,
            Some(jsonschema_valid::schemas::Draft::Draft7),
        )
        .unwrap();
        assert!(
            config.validate_schema().is_ok(),
            "the vendored schema is a valid draft-07 schema"
        );
        let mut log: Value = serde_json::from_str(&render(&sample::report())).unwrap();
        log["runs"][0]["results"][0]["level"] = "fatal".into();
        log["runs"][0]["results"][1]["suppressions"][0]["kind"] = "waiver".into();
        log["runs"][0]["tool"]["driver"]["informationUri"] = "not a uri".into();
        let errors = violations(&log);
        assert_eq!(errors.len(), 3, "{errors:#?}");
        assert!(
            errors.iter().any(|e| e.contains("/runs/0/results/0/level")),
            "{errors:#?}"
        );
        assert!(!violations(&json!({ "version": "2.1.0" })).is_empty());
        assert!(!violations(&json!({ "version": "2.1.0", "runs": [{}] })).is_empty());
    }

    #[test]
    fn rule_names() {
        assert_eq!(rule_name("baseline.run_as-root"), "RunAsRoot");
        assert_eq!(rule_name("plain"), "Plain");
    }
}
