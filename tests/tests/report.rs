//! `kq report` against the sim: waivers, history across runs, every
//! format, schedules that survive a failing run, bad input, politeness
//! (one list per resource for a whole report, read-only verbs) and the
//! in-cluster CronJob manifest.
//!
//! The fleet is changed with kubectl between runs, so "new", "resolved"
//! and "persisting" are caused by real API writes, not by editing files.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use kq_tests::{FleetConfig, KqProcess, TestFleet, kubectl_ok, latest_report_json, stderr, stdout};
use serde_json::Value;

/// A control whose alarms the test decides: namespaces labelled kq-test=bad.
const LABELLED: &str = "-- id: t.labelled_namespaces
-- title: Namespaces are not labelled kq-test=bad
-- severity: high
-- frameworks: kq tests
-- rationale: The test labels namespaces to create and fix findings.
-- remediation: Remove the label.
SELECT cluster, CAST(NULL AS VARCHAR) AS namespace, 'Namespace' AS kind, name,
       CASE WHEN labels['kq-test'] = 'bad' THEN 'alarm' ELSE 'ok' END AS status,
       CASE WHEN labels['kq-test'] = 'bad' THEN 'namespace ' || name || ' is labelled kq-test=bad'
            ELSE 'not labelled bad' END AS reason
FROM namespaces
";

/// A low-severity control that always has one alarm per cluster, for --fail-on.
const LOW: &str = "-- id: t.low_default
-- title: The default namespace is noted
-- severity: low
-- frameworks: kq tests
-- rationale: Gives --fail-on a low alarm to ignore.
-- remediation: None.
SELECT cluster, CAST(NULL AS VARCHAR) AS namespace, 'Namespace' AS kind, name,
       CASE WHEN name = 'default' THEN 'alarm' ELSE 'ok' END AS status,
       'checked' AS reason
FROM namespaces
";

fn write_pack(dir: &Path, name: &str, files: &[(&str, &str)]) -> String {
    let pack = dir.join(name);
    std::fs::create_dir_all(&pack).expect("create pack dir");
    for (file, text) in files {
        std::fs::write(pack.join(file), text).expect("write control");
    }
    pack.display().to_string()
}

fn namespace(name: &str, label: &str) -> String {
    format!(
        "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: {name}\n  labels:\n    kq-test: {label}\n"
    )
}

async fn apply(fleet: &TestFleet, context: &str, yaml: &str) {
    let file = fleet.dir.path().join(format!("apply-{}.yaml", yaml.len()));
    std::fs::write(&file, yaml).expect("write manifest");
    kubectl_ok(
        &fleet.kubeconfig,
        &["--context", context, "apply", "-f", file.to_str().unwrap()],
    )
    .await;
}

/// `(resource path, status)` of one control's findings in a JSON report.
fn statuses(report: &Value, control: &str) -> BTreeMap<String, String> {
    let c = report["controls"]
        .as_array()
        .expect("controls")
        .iter()
        .find(|c| c["control"]["id"] == control)
        .unwrap_or_else(|| panic!("no control {control} in the report"));
    c["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .filter(|f| f["name"].as_str().is_some_and(|n| n.starts_with("kqt-")))
        .map(|f| {
            let path = format!(
                "{}/{}",
                f["cluster"].as_str().unwrap(),
                f["name"].as_str().unwrap()
            );
            (path, f["status"].as_str().unwrap().to_string())
        })
        .collect()
}

fn map(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect()
}

fn run_dirs(out: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(out.join("runs"))
        .expect("runs dir")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

fn as_strs(args: &[String]) -> Vec<&str> {
    args.iter().map(String::as_str).collect()
}

fn validate_sarif(path: &Path) {
    let schema_path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../report/tests/fixtures/sarif-schema-2.1.0.json");
    let schema: Value =
        serde_json::from_str(&std::fs::read_to_string(schema_path).expect("read SARIF schema"))
            .expect("schema is JSON");
    let doc: Value = serde_json::from_str(&std::fs::read_to_string(path).expect("read SARIF"))
        .expect("SARIF is JSON");
    let config = jsonschema_valid::Config::from_schema(
        &schema,
        Some(jsonschema_valid::schemas::Draft::Draft7),
    )
    .expect("compile the SARIF schema");
    let errors: Vec<String> = match config.validate(&doc) {
        Ok(()) => Vec::new(),
        Err(errors) => errors.map(|e| e.to_string()).collect(),
    };
    assert!(errors.is_empty(), "SARIF is not valid 2.1.0: {errors:#?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn waivers_history_and_formats_follow_real_changes() {
    let fleet = TestFleet::start(FleetConfig::uniform(2, 20, 71)).await;
    let pack = write_pack(fleet.dir.path(), "tpack", &[("labelled.sql", LABELLED)]);
    let out = fleet.dir.path().join("reports");
    let waivers = fleet.dir.path().join("waivers.yaml");
    std::fs::write(
        &waivers,
        "waivers:\n\
         - control: t.labelled_namespaces\n  resource: cluster-0/-/Namespace/kqt-2\n  reason: accepted until the migration\n  expires: 2099-12-31\n\
         - control: t.*\n  resource: cluster-0/-/Namespace/kqt-3\n  reason: old exception\n  expires: 2020-01-01\n",
    )
    .unwrap();
    for (name, label) in [("kqt-1", "bad"), ("kqt-2", "bad"), ("kqt-3", "bad")] {
        apply(&fleet, "cluster-0", &namespace(name, label)).await;
    }
    apply(&fleet, "cluster-1", &namespace("kqt-9", "good")).await;
    let args = |formats: &str| {
        vec![
            "report".to_string(),
            "-A".into(),
            "--pack".into(),
            pack.clone(),
            "--waivers".into(),
            waivers.display().to_string(),
            "--format".into(),
            formats.to_string(),
            "--out".into(),
            out.display().to_string(),
            "--keep".into(),
            "1".into(),
        ]
    };
    let first_args = args("json,junit,sarif,markdown,csv,html");
    let first = fleet.kq(&as_strs(&first_args)).await;
    assert_eq!(
        first.status.code(),
        Some(1),
        "alarms at high fail the run: {}",
        stderr(&first)
    );
    let err = stderr(&first);
    assert!(
        err.contains("waiver 2 (t.* on cluster-0/-/Namespace/kqt-3) expired on 2020-01-01"),
        "{err}"
    );
    let report = latest_report_json(&out);
    assert_eq!(
        statuses(&report, "t.labelled_namespaces"),
        map(&[
            ("cluster-0/kqt-1", "alarm"),
            ("cluster-0/kqt-2", "waived"),
            ("cluster-0/kqt-3", "alarm"),
            ("cluster-1/kqt-9", "ok"),
        ])
    );
    assert!(
        report.get("comparison").is_none(),
        "the first run has nothing to compare with"
    );
    let run = out.join("latest");
    for file in [
        "report.json",
        "report.junit.xml",
        "report.sarif",
        "report.md",
        "report.csv",
        "report.html",
    ] {
        assert!(run.join(file).is_file(), "{file} written");
    }
    validate_sarif(&run.join("report.sarif"));
    let junit = std::fs::read_to_string(run.join("report.junit.xml")).unwrap();
    assert_eq!(junit.matches("<testcase").count(), 1, "{junit}");
    assert_eq!(
        junit.matches("<failure").count(),
        2,
        "two alarms, the waived one is not a failure: {junit}"
    );
    let csv = std::fs::read_to_string(run.join("report.csv")).unwrap();
    assert!(
        csv.contains("kqt-2") && csv.contains("accepted until the migration"),
        "{csv}"
    );
    let summary = stdout(&first);
    assert!(summary.contains("t.labelled_namespaces"), "{summary}");
    assert!(summary.contains("2 alarms in 1 of 1 controls"), "{summary}");

    // Fix kqt-1, break kqt-4: one resolved, one new, kqt-3 persists.
    apply(&fleet, "cluster-0", &namespace("kqt-1", "good")).await;
    apply(&fleet, "cluster-0", &namespace("kqt-4", "bad")).await;
    let second_args = args("json");
    let second = fleet.kq(&as_strs(&second_args)).await;
    assert_eq!(second.status.code(), Some(1), "{}", stderr(&second));
    let report = latest_report_json(&out);
    assert_eq!(
        statuses(&report, "t.labelled_namespaces"),
        map(&[
            ("cluster-0/kqt-1", "ok"),
            ("cluster-0/kqt-2", "waived"),
            ("cluster-0/kqt-3", "alarm"),
            ("cluster-0/kqt-4", "alarm"),
            ("cluster-1/kqt-9", "ok"),
        ])
    );
    let comparison = &report["comparison"];
    assert_eq!(comparison["new"], 1);
    assert_eq!(comparison["persisting"], 1);
    let resolved: Vec<&str> = comparison["resolved"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["finding"]["name"].as_str().unwrap())
        .collect();
    assert_eq!(resolved, vec!["kqt-1"]);
    let change = |name: &str| {
        report["controls"][0]["findings"]
            .as_array()
            .unwrap()
            .iter()
            .find(|f| f["name"] == name)
            .map(|f| f["change"].clone())
            .unwrap()
    };
    assert_eq!(change("kqt-4"), "new");
    assert_eq!(change("kqt-3"), "persisting");
    assert!(
        stdout(&second).contains("1 new, 1 resolved, 1 persisting"),
        "{}",
        stdout(&second)
    );
    // --keep 1: only the newest run stays, and latest names it.
    let runs = run_dirs(&out);
    assert_eq!(runs.len(), 1, "{runs:?}");
    assert_eq!(
        std::fs::read_link(out.join("latest")).unwrap(),
        Path::new("runs").join(&runs[0])
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fail_on_and_stdout_formats() {
    let fleet = TestFleet::start(FleetConfig::uniform(1, 10, 72)).await;
    let pack = write_pack(fleet.dir.path(), "lowpack", &[("low.sql", LOW)]);
    let low = fleet
        .kq(&["report", "--pack", &pack, "--fail-on", "medium"])
        .await;
    assert_eq!(
        low.status.code(),
        Some(0),
        "a low alarm passes --fail-on medium: {}",
        stderr(&low)
    );
    let low = fleet.kq(&["report", "--pack", &pack]).await;
    assert_eq!(
        low.status.code(),
        Some(1),
        "the default --fail-on low fails it"
    );
    // Without --out one format goes to stdout, and it is the whole report.
    let json = fleet
        .kq(&[
            "report",
            "--pack",
            &pack,
            "--format",
            "json",
            "--fail-on",
            "critical",
        ])
        .await;
    assert_eq!(json.status.code(), Some(0));
    let report: Value = serde_json::from_str(&stdout(&json)).expect("JSON on stdout");
    assert_eq!(report["totals"]["alarm"], 1);
    assert_eq!(report["clusters"], serde_json::json!(["cluster-0"]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_is_one_sentence_and_exit_2() {
    let fleet = TestFleet::start(FleetConfig::uniform(1, 5, 73)).await;
    let dir = fleet.dir.path();
    let bad_column = write_pack(
        dir,
        "badcol",
        &[(
            "x.sql",
            &LABELLED.replace("labels['kq-test']", "no_such_column"),
        )],
    );
    let no_status = write_pack(
        dir,
        "nostatus",
        &[(
            "x.sql",
            &LABELLED.replace(" END AS status", " END AS state"),
        )],
    );
    let no_title = write_pack(
        dir,
        "notitle",
        &[(
            "x.sql",
            &LABELLED.replace("-- title: Namespaces are not labelled kq-test=bad\n", ""),
        )],
    );
    let two = write_pack(dir, "two", &[("x.sql", &format!("{LABELLED};\nSELECT 1"))]);
    let waivers = dir.join("bad-waivers.yaml");
    std::fs::write(
        &waivers,
        "waivers:\n- control: baseline.no_such_control\n  resource: '*'\n  reason: x\n  expires: never\n",
    )
    .unwrap();
    let waivers = waivers.display().to_string();
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (
            vec!["report", "--pack", "nosuchpack"],
            "unknown pack 'nosuchpack'",
        ),
        (
            vec!["report", "--control", "baseline.nope"],
            "unknown control 'baseline.nope'",
        ),
        (
            vec!["report", "--pack", &bad_column],
            "control t.labelled_namespaces (",
        ),
        (vec!["report", "--pack", &no_status], "lacks status"),
        (vec!["report", "--pack", &no_title], "no '-- title:' line"),
        (vec!["report", "--pack", &two], "holds 2 statements"),
        (
            vec!["report", "--waivers", &waivers],
            "waiver 1: unknown control 'baseline.no_such_control'",
        ),
        (
            vec!["report", "--param", "nope=1"],
            "unknown parameter 'nope'",
        ),
        (
            vec!["report", "--format", "pdf"],
            "unknown report format 'pdf'",
        ),
        (
            vec!["report", "--fail-on", "urgent"],
            "--fail-on 'urgent' is not a severity",
        ),
        (vec!["report", "--every", "1h"], "needs --out"),
        (
            vec!["report", "--cron", "0 6 * *", "--out", "x"],
            "has 4 fields",
        ),
        (vec!["report", "--format", "json,html"], "need --out"),
        (vec!["report", "baseline"], "kq report takes flags"),
        (
            vec!["report", "--metrics-listen", "127.0.0.1:0"],
            "--metrics-listen serves a scheduled report's metrics",
        ),
        (
            vec!["--pack", "baseline", "SELECT 1"],
            "--pack only applies to kq report",
        ),
    ];
    for (args, want) in cases {
        let output = fleet.kq(&args).await;
        let err = stderr(&output);
        assert_eq!(output.status.code(), Some(2), "{args:?}: {err}");
        assert!(
            err.contains(want),
            "{args:?}: {err:?} should contain {want:?}"
        );
        assert_eq!(
            err.trim_end().lines().count(),
            1,
            "{args:?}: one line, got {err:?}"
        );
        assert!(err.starts_with("kq: "), "{err}");
        assert!(!err.contains("panicked"), "{err}");
        assert!(stdout(&output).is_empty(), "{args:?}: nothing on stdout");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_scheduled_report_survives_a_failing_run() {
    let fleet = TestFleet::start(FleetConfig::uniform(1, 5, 74)).await;
    let pack = write_pack(fleet.dir.path(), "tpack", &[("labelled.sql", LABELLED)]);
    let out = fleet.dir.path().join("scheduled");
    let out_arg = out.display().to_string();
    let mut kq = KqProcess::spawn(
        &fleet.kubeconfig,
        &[
            "report",
            "--pack",
            &pack,
            "--every",
            "1s",
            "--out",
            &out_arg,
            "--keep",
            "2",
            "--timeout",
            "2",
        ],
    );
    let line = kq.next_line().await;
    assert!(line.contains(" ok: score 100.0/100"), "{line}");
    let cluster = fleet.cluster("cluster-0");
    cluster.set_faults(kq_tests::Faults {
        down: true,
        ..Default::default()
    });
    // Runs already under way may still finish; wait for the failure.
    let mut line = kq.next_line().await;
    while line.contains(" ok: ") {
        line = kq.next_line().await;
    }
    assert!(line.contains(" failed: no cluster could be read"), "{line}");
    cluster.set_faults(kq_tests::Faults::default());
    let mut line = kq.next_line().await;
    while line.contains(" failed: ") {
        line = kq.next_line().await;
    }
    assert!(line.contains(" ok: "), "{line}");
    // A second good run proves the loop goes on, then Ctrl-C ends it.
    let line = kq.next_line().await;
    assert!(line.contains(" ok: "), "{line}");
    kq.interrupt();
    let (code, _) = kq.wait().await;
    assert_eq!(code, Some(0));
    let runs = run_dirs(&out);
    assert_eq!(runs.len(), 2, "--keep 2: {runs:?}");
    assert!(
        runs.iter().all(|r| !r.starts_with('.')),
        "no half-written run is left: {runs:?}"
    );
    let report = latest_report_json(&out);
    assert_eq!(
        std::fs::read_link(out.join("latest")).unwrap(),
        Path::new("runs").join(runs.last().unwrap())
    );
    assert_eq!(
        report["run"]
            .as_str()
            .map(|r| runs.last().unwrap().starts_with(r)),
        Some(true)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_report_lists_each_resource_once_and_only_reads() {
    let fleet = TestFleet::start(FleetConfig::uniform(2, 30, 75)).await;
    for cluster in fleet.fleet.clusters() {
        cluster.reset_counters();
    }
    let out = fleet.dir.path().join("full");
    let output = fleet
        .kq(&[
            "report",
            "-A",
            "--out",
            out.to_str().unwrap(),
            "--format",
            "html",
        ])
        .await;
    assert!(
        matches!(output.status.code(), Some(0 | 1)),
        "the built-in packs run: {}",
        stderr(&output)
    );
    let report = latest_report_json(&out);
    let controls = report["controls"].as_array().unwrap();
    assert!(
        controls.len() >= 30,
        "every built-in control ran: {}",
        controls.len()
    );
    for c in controls {
        assert!(
            c.get("error").is_none(),
            "control {} failed: {}",
            c["control"]["id"],
            c["error"]
        );
    }
    for cluster in fleet.fleet.clusters() {
        let counters = cluster.counters();
        let verbs: BTreeSet<&str> = counters.by_verb.keys().map(String::as_str).collect();
        assert!(
            verbs.is_subset(&BTreeSet::from(["get", "list", "watch"])),
            "kq only reads: {verbs:?}"
        );
        let mut lists: BTreeMap<String, usize> = BTreeMap::new();
        for r in counters.requests.iter().filter(|r| r.verb == "list") {
            *lists.entry(r.path.clone()).or_default() += 1;
        }
        assert!(!lists.is_empty());
        assert!(
            !lists.keys().any(|p| p.ends_with("/secrets")),
            "no control needs to read Secrets: {lists:?}"
        );
        for (path, n) in &lists {
            assert_eq!(
                *n,
                1,
                "{}: {path} listed {n} times for one report",
                cluster.name()
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cronjob_manifest_applies_and_its_role_only_reads() {
    let fleet = TestFleet::start(FleetConfig::uniform(1, 5, 76)).await;
    let manifest =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../deploy/kq-report-cronjob.yaml");
    kubectl_ok(
        &fleet.kubeconfig,
        &["apply", "-f", manifest.to_str().unwrap()],
    )
    .await;
    let rules = fleet
        .kq(&[
            "-o",
            "ndjson",
            "SELECT verbs, resources FROM role_rules WHERE role_kind = 'ClusterRole' AND role_name = 'kq-report'",
        ])
        .await;
    let rows = kq_tests::ndjson_rows(&rules);
    assert!(rows.len() >= 5, "{rows:?}");
    for row in &rows {
        for verb in row["verbs"].as_array().unwrap() {
            assert!(
                ["get", "list", "watch"].contains(&verb.as_str().unwrap()),
                "the ClusterRole only reads: {row}"
            );
        }
        for resource in row["resources"].as_array().unwrap() {
            assert_ne!(resource, "secrets", "no access to Secrets: {row}");
            assert_ne!(resource, "*", "no wildcard: {row}");
        }
    }
    let job = fleet
        .kq(&[
            "-o",
            "ndjson",
            "SELECT schedule, service_account, concurrency_policy FROM cron_jobs WHERE namespace = 'kq-report' AND name = 'kq-report'",
        ])
        .await;
    let rows = kq_tests::ndjson_rows(&job);
    assert_eq!(rows.len(), 1, "{}", stderr(&job));
    assert_eq!(rows[0]["schedule"], "0 6 * * *");
    assert_eq!(rows[0]["service_account"], "kq-report");
    assert_eq!(rows[0]["concurrency_policy"], "Forbid");
    // Its arguments are ones kq accepts.
    let args = fleet
        .kq(&[
            "-o",
            "ndjson",
            "SELECT args FROM workload_containers WHERE namespace = 'kq-report' AND workload_name = 'kq-report'",
        ])
        .await;
    let rows = kq_tests::ndjson_rows(&args);
    let job_args: Vec<String> = rows[0]["args"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap().to_string())
        .collect();
    assert_eq!(job_args[0], "report");
    let out = fleet.dir.path().join("cronjob-out");
    let mut replayed: Vec<String> = job_args.clone();
    let at = replayed
        .iter()
        .position(|a| a == "/reports")
        .expect("--out /reports");
    replayed[at] = out.display().to_string();
    let replay = fleet.kq(&as_strs(&replayed)).await;
    assert!(
        matches!(replay.status.code(), Some(0 | 1)),
        "the CronJob's arguments run: {}",
        stderr(&replay)
    );
    assert!(out.join("latest/report.sarif").is_file());
}

/// Parses OpenMetrics text with Python's prometheus_client, with both its
/// OpenMetrics parser and its Prometheus text parser (node_exporter's
/// textfile format); prints `{metric: [[labels, value], …]}`.
const PARSE_METRICS: &str = r#"
import json, sys
from prometheus_client.openmetrics.parser import text_string_to_metric_families as openmetrics
from prometheus_client.parser import text_string_to_metric_families as prometheus
text = sys.stdin.read()
out = {}
for family in openmetrics(text):
    for sample in family.samples:
        out.setdefault(sample.name, []).append([sample.labels, sample.value])
text_names = sorted({s.name for f in prometheus(text) for s in f.samples})
assert text_names == sorted(out), (text_names, sorted(out))
print(json.dumps(out))
"#;

fn parse_metrics(text: &str) -> Value {
    use std::io::Write;
    let python = kq_tests::required_on_path("python3", "the metrics test", "install python3");
    let mut child = std::process::Command::new(python)
        .args(["-c", PARSE_METRICS])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("run python3");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(text.as_bytes())
        .expect("write metrics");
    let output = child.wait_with_output().expect("python ran");
    assert!(
        output.status.success(),
        "prometheus_client rejects the metrics (.ci/setup installs it): {}\n{text}",
        stderr(&output)
    );
    serde_json::from_slice(&output.stdout).expect("JSON")
}

fn metric(parsed: &Value, name: &str) -> Vec<(BTreeMap<String, String>, f64)> {
    parsed[name]
        .as_array()
        .unwrap_or_else(|| panic!("no {name} in {parsed}"))
        .iter()
        .map(|sample| {
            let labels = sample[0]
                .as_object()
                .expect("labels")
                .iter()
                .map(|(k, v)| (k.clone(), v.as_str().expect("label").to_string()))
                .collect();
            (labels, sample[1].as_f64().expect("value"))
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn openmetrics_agree_with_the_json_report_and_are_served_on_a_schedule() {
    let fleet = TestFleet::start(FleetConfig::uniform(2, 15, 75)).await;
    let json_out = fleet
        .kq(&["report", "-A", "--pack", "baseline", "-o", "json"])
        .await;
    let report: Value = serde_json::from_str(&stdout(&json_out)).expect("a JSON report");
    let metrics_out = fleet
        .kq(&["report", "-A", "--pack", "baseline", "-o", "openmetrics"])
        .await;
    let parsed = parse_metrics(&stdout(&metrics_out));

    let score = metric(&parsed, "kq_report_score");
    assert_eq!(score.len(), 1);
    assert_eq!(score[0].1, report["score"].as_f64().expect("score"));
    // Alarms per control and cluster add up to the JSON's, control by control.
    let alarms = metric(&parsed, "kq_report_alarms");
    for control in report["controls"].as_array().expect("controls") {
        let id = control["control"]["id"].as_str().expect("id");
        let expected = control["counts"]["alarm"].as_f64().expect("alarms");
        let got: f64 = alarms
            .iter()
            .filter(|(labels, _)| labels["control"] == id)
            .map(|(labels, value)| {
                assert_eq!(
                    labels["severity"],
                    control["control"]["severity"].as_str().expect("severity")
                );
                value
            })
            .sum();
        assert_eq!(got, expected, "{id}");
        // One sample per cluster, zeros included, so an alert sees an alarm clear.
        assert_eq!(
            alarms.iter().filter(|(l, _)| l["control"] == id).count(),
            2,
            "{id}"
        );
    }
    let findings = metric(&parsed, "kq_report_findings");
    let alarm_total = findings
        .iter()
        .find(|(l, _)| l["status"] == "alarm")
        .expect("alarm total")
        .1;
    assert_eq!(
        alarm_total,
        report["totals"]["alarm"].as_f64().expect("total")
    );
    assert!(
        parsed
            .get("kq_report_last_success_timestamp_seconds")
            .is_some()
    );
    assert!(parsed.get("kq_report_duration_seconds").is_some());
    assert_eq!(metric(&parsed, "kq_report_controls_errored")[0].1, 0.0);

    // Scheduled: the latest run's metrics on /metrics.
    let out = fleet.dir.path().join("scheduled-metrics");
    let out_arg = out.display().to_string();
    let mut kq = KqProcess::spawn(
        &fleet.kubeconfig,
        &[
            "report",
            "-A",
            "--pack",
            "baseline",
            "--every",
            "1h",
            "--out",
            &out_arg,
            "--metrics-listen",
            "127.0.0.1:0",
        ],
    );
    let serving = kq.next_line().await;
    let url = serving
        .strip_prefix("kq report: serving metrics on ")
        .unwrap_or_else(|| panic!("{serving}"))
        .to_string();
    let first_run = kq.next_line().await;
    assert!(first_run.contains(" ok: "), "{first_run}");
    let fetch = format!(
        "import urllib.request; r = urllib.request.urlopen(urllib.request.Request('{url}', headers={{'Accept': 'application/openmetrics-text; version=1.0.0'}})); print(r.headers['Content-Type']); print(r.read().decode(), end='')"
    );
    let fetched = std::process::Command::new("python3")
        .args(["-c", &fetch])
        .output()
        .expect("run python3");
    let body = stdout(&fetched);
    let (content_type, text) = body.split_once('\n').expect("a content type line");
    assert!(
        content_type.starts_with("application/openmetrics-text"),
        "{content_type}"
    );
    let served = parse_metrics(text);
    assert_eq!(metric(&served, "kq_report_score")[0].1, score[0].1);
    // A run's metrics are also a file node_exporter's textfile collector reads.
    assert!(
        !out.join("latest").join("report.prom").exists(),
        "only formats asked for are written"
    );
    kq.interrupt();
    let (code, _) = kq.wait().await;
    assert_eq!(code, Some(0));
}
