//! SARIF 2.1.0, for code-scanning dashboards (GitHub code scanning,
//! Azure DevOps, DefectDojo) and any SARIF viewer.
//!
//! One run; every control is a rule, every alarm a result. A Kubernetes
//! resource is not a file, so results carry a *logical* location whose
//! fully qualified name is the resource path (`cluster/namespace/kind/name`)
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

const SCHEMA: &str = "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json";
const INFORMATION_URI: &str = "https://github.com/kq-dev/kq";
const FINGERPRINT: &str = "kqResource/v1";

pub fn render(report: &Report) -> String {
    let rules: Vec<Value> = report.controls.iter().map(rule).collect();
    let rule_index = |id: &str| report.controls.iter().position(|c| c.control.id == id);

    let mut results = Vec::new();
    for (index, c) in report.controls.iter().enumerate() {
        for f in &c.findings {
            if matches!(f.status, Status::Alarm | Status::Waived) {
                results.push(result(c, Some(index), f));
            }
        }
    }
    if let Some(cmp) = &report.comparison {
        for resolved in &cmp.resolved {
            let index = rule_index(&resolved.control);
            let mut r = match index {
                Some(i) => result(&report.controls[i], Some(i), &resolved.finding),
                None => orphan_result(&resolved.control, &resolved.finding),
            };
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

fn result(c: &ControlResult, rule_index: Option<usize>, f: &Finding) -> Value {
    let mut r = orphan_result(&c.control.id, f);
    if let Some(i) = rule_index {
        r["ruleIndex"] = i.into();
    }
    r["level"] = level(c.control.severity).into();
    r
}

/// A result without its rule's details (a resolved finding of a control
/// this run did not evaluate has no rule to point at).
fn orphan_result(control: &str, f: &Finding) -> Value {
    let path = f.resource_path();
    let mut properties = Map::new();
    properties.insert("cluster".into(), f.cluster.clone().into());
    if let Some(ns) = &f.namespace {
        properties.insert("namespace".into(), ns.clone().into());
    }
    properties.insert("kind".into(), f.kind.clone().into());
    properties.insert("name".into(), f.name.clone().into());
    properties.insert("status".into(), f.status.as_str().into());
    for (k, v) in &f.dimensions {
        properties.entry(k.clone()).or_insert_with(|| v.clone().into());
    }
    let mut r = json!({
        "ruleId": control,
        "kind": "fail",
        "message": { "text": message(f) },
        "locations": [{
            "logicalLocations": [{
                "name": f.name,
                "fullyQualifiedName": path,
                "kind": "resource",
            }],
        }],
        "partialFingerprints": { FINGERPRINT: format!("{control}|{path}") },
    });
    match f.change {
        Some(Change::New) => r["baselineState"] = "new".into(),
        Some(Change::Persisting) => r["baselineState"] = "unchanged".into(),
        None => {}
    }
    if let Some(w) = &f.waiver {
        let mut suppression = json!({
            "kind": "external",
            "status": "accepted",
            "justification": w.reason,
            "properties": { "resource": w.resource },
        });
        if let Some(until) = &w.expires {
            suppression["properties"]["expires"] = until.clone().into();
        }
        r["suppressions"] = json!([suppression]);
    }
    r["properties"] = properties.into();
    r
}

fn message(f: &Finding) -> String {
    format!("{}: {}", f.resource_path(), f.reason)
}

fn non_empty<'a>(text: &'a str, fallback: &'a str) -> &'a str {
    if text.trim().is_empty() { fallback } else { text }
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

    fn validator() -> jsonschema::Validator {
        let schema: Value = serde_json::from_str(include_str!("../../tests/fixtures/sarif-schema-2.1.0.json"))
            .expect("the vendored schema is JSON");
        jsonschema::draft7::options()
            .should_validate_formats(true)
            .build(&schema)
            .expect("the vendored schema compiles")
    }

    fn assert_valid(text: &str) -> Value {
        let log: Value = serde_json::from_str(text).expect("SARIF output is JSON");
        let validator = validator();
        let errors: Vec<String> = validator
            .iter_errors(&log)
            .map(|e| format!("{} at {}", e, e.instance_path()))
            .collect();
        assert!(errors.is_empty(), "invalid SARIF: {errors:#?}\n{text}");
        log
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
        assert_eq!(rules[0]["shortDescription"]["text"], "Title of baseline.privileged");
        assert_eq!(rules[0]["fullDescription"]["text"], "Because <it> matters & more.");
        assert_eq!(rules[0]["help"]["text"], "Fix it.");
        assert_eq!(rules[0]["defaultConfiguration"]["level"], "error");
        assert_eq!(rules[1]["defaultConfiguration"]["level"], "note");
        assert_eq!(rules[0]["properties"]["security-severity"], "9.5");
        assert_eq!(rules[1]["properties"]["security-severity"], "3.0");
        assert_eq!(rules[0]["properties"]["tags"], json!(["security", "CIS 5.1.1"]));

        let results = run["results"].as_array().unwrap();
        assert_eq!(results.len(), 3, "{results:#?}");
        let alarm = &results[0];
        assert_eq!(alarm["ruleId"], "baseline.privileged");
        assert_eq!(alarm["ruleIndex"], 0);
        assert_eq!(alarm["level"], "error");
        assert_eq!(alarm["baselineState"], "new");
        assert_eq!(alarm["message"]["text"], "prod/shop/Deployment/web<script>: web<script> is alarm");
        let logical = &alarm["locations"][0]["logicalLocations"][0];
        assert_eq!(logical["fullyQualifiedName"], "prod/shop/Deployment/web<script>");
        assert_eq!(logical["kind"], "resource");
        assert_eq!(
            alarm["partialFingerprints"][FINGERPRINT],
            "baseline.privileged|prod/shop/Deployment/web<script>"
        );
        assert_eq!(alarm["properties"]["container"], "app");
        assert!(alarm.get("suppressions").is_none());

        let waived = &results[1];
        assert_eq!(waived["suppressions"][0]["kind"], "external");
        assert_eq!(waived["suppressions"][0]["justification"], "system component");
        assert_eq!(waived["suppressions"][0]["properties"]["expires"], "2027-01-31");

        let resolved = &results[2];
        assert_eq!(resolved["baselineState"], "absent");
        assert_eq!(resolved["kind"], "pass");
        assert_eq!(resolved["level"], "none");
        assert_eq!(resolved["partialFingerprints"][FINGERPRINT], "baseline.privileged|dev/shop/Pod/debug");

        let invocation = &run["invocations"][0];
        assert_eq!(invocation["executionSuccessful"], false);
        let notes = invocation["toolExecutionNotifications"].as_array().unwrap();
        assert_eq!(notes.len(), 2);
        assert_eq!(notes[0]["level"], "error");
        assert_eq!(notes[0]["message"]["text"], "cluster staging: cannot reach the API server");
        assert_eq!(notes[1]["level"], "warning");
    }

    #[test]
    fn an_empty_report_is_valid_sarif() {
        let report = Report {
            controls: vec![],
            cluster_failures: vec![],
            warnings: vec![],
            comparison: None,
            totals: Counts::default(),
            score: 100.0,
            ..sample::report()
        };
        let log = assert_valid(&render(&report));
        let run = &log["runs"][0];
        assert_eq!(run["results"], json!([]));
        assert_eq!(run["tool"]["driver"]["rules"], json!([]));
        assert_eq!(run["invocations"][0]["executionSuccessful"], true);
        assert!(run["invocations"][0].get("toolExecutionNotifications").is_none());
    }

    #[test]
    fn control_errors_and_orphaned_resolutions_are_valid() {
        let mut report = sample::report();
        report.controls[1].error = Some("no such table".into());
        report.controls[1].findings.push(sample::finding("dev", None, "Node", "n1", Status::Error));
        report.comparison.as_mut().unwrap().resolved[0].control = "gone.control".into();
        let log = assert_valid(&render(&report));
        let run = &log["runs"][0];
        let notes = run["invocations"][0]["toolExecutionNotifications"].as_array().unwrap();
        assert_eq!(notes.len(), 4, "{notes:#?}");
        assert_eq!(notes[1]["associatedRule"], json!({ "id": "cis.default_namespace", "index": 1 }));
        let resolved = run["results"].as_array().unwrap().last().unwrap().clone();
        assert_eq!(resolved["ruleId"], "gone.control");
        assert!(resolved.get("ruleIndex").is_none());
    }

    #[test]
    fn the_schema_rejects_a_broken_log() {
        let mut log: Value = serde_json::from_str(&render(&sample::report())).unwrap();
        log["runs"][0]["results"][0]["level"] = "fatal".into();
        log["runs"][0]["results"][1]["suppressions"][0]["kind"] = "waiver".into();
        let validator = validator();
        assert!(!validator.is_valid(&log));
        assert_eq!(validator.iter_errors(&log).count(), 2);
        assert!(!validator.is_valid(&json!({ "version": "2.1.0" })));
    }

    #[test]
    fn rule_names() {
        assert_eq!(rule_name("baseline.run_as-root"), "RunAsRoot");
        assert_eq!(rule_name("plain"), "Plain");
    }
}
