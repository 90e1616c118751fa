//! Pushdown against the sim: the exact requests each filter produces, the
//! proof that every filter kq claims as `Exact` returns what DataFusion's
//! own filtering of an unfiltered snapshot returns (NULLs included), and
//! the namespace fallback of a user who may not list cluster-wide.

use std::collections::{BTreeMap, BTreeSet};

use kq_sim::{ClusterHandle, FleetConfig, SimUser, TEAM_A_NAMESPACE};
use kq_tests::{TestFleet, ndjson_rows, ok, run_kq, stderr};
use serde_json::{Value, json};

/// Pods whose labels and phase sit on the edges SQL and selectors may
/// disagree about: no labels, an empty label value, no phase, empty phase.
fn add_edge_pods(cluster: &ClusterHandle) -> String {
    let template = cluster.objects("pods")[0].clone();
    let namespace = template["metadata"]["namespace"]
        .as_str()
        .expect("pod namespace")
        .to_string();
    let variants: Vec<(&str, Option<Value>, Option<&str>)> = vec![
        ("edge-no-labels", None, Some("Running")),
        ("edge-empty-app", Some(json!({"app": ""})), Some("Running")),
        ("edge-web", Some(json!({"app": "web"})), Some("Pending")),
        ("edge-no-phase", Some(json!({"app": "mysql"})), None),
        ("edge-empty-phase", Some(json!({"app": "mysql"})), Some("")),
    ];
    for (name, labels, phase) in variants {
        let mut pod = template.clone();
        let meta = pod["metadata"].as_object_mut().expect("metadata");
        meta.insert("name".into(), json!(name));
        meta.remove("uid");
        meta.remove("resourceVersion");
        meta.remove("ownerReferences");
        match labels {
            Some(labels) => meta.insert("labels".into(), labels),
            None => meta.remove("labels"),
        };
        let status = pod["status"].as_object_mut().expect("status");
        match phase {
            Some(phase) => status.insert("phase".into(), json!(phase)),
            None => status.remove("phase"),
        };
        cluster.upsert(pod).expect("add an edge pod");
    }
    namespace
}

/// Filters kq pushes down, and whether it claims them as Exact.
const FILTERS: &[(&str, bool)] = &[
    ("namespace = '{ns}'", true),
    ("namespace IN ('{ns}', 'kube-system')", true),
    ("labels['app'] = 'mysql'", true),
    ("labels['app'] = ''", true),
    ("labels['app'] != 'mysql'", true),
    ("labels['app'] IN ('mysql', 'web')", true),
    ("labels['app'] IS NOT NULL", true),
    ("name = 'edge-web'", true),
    ("name != 'edge-web'", true),
    ("phase = 'Running'", true),
    ("node_name = '{node}'", true),
    ("cluster = '{cluster}'", true),
    ("cluster LIKE '{cluster_prefix}%'", true),
    ("cluster NOT LIKE '{cluster}'", true),
    ("labels['app'] = 'mysql' AND namespace = '{ns}'", true),
    // The server compares a missing field as "": these only narrow.
    ("phase != 'Running'", false),
    ("phase = ''", false),
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exact_pushdown_returns_what_datafusion_filtering_returns() {
    let fleet = TestFleet::start(FleetConfig::uniform(2, 60, 11)).await;
    let target = fleet.fleet.clusters()[0].clone();
    let ns = add_edge_pods(&target);
    let node = target.objects("pods")[0]["spec"]["nodeName"]
        .as_str()
        .expect("a scheduled pod")
        .to_string();
    let cluster = target.name().to_string();
    let cluster_prefix: String = cluster.chars().take(cluster.len() - 1).collect();
    for (template, exact) in FILTERS {
        let filter = template
            .replace("{ns}", &ns)
            .replace("{node}", &node)
            .replace("{cluster_prefix}", &cluster_prefix)
            .replace("{cluster}", &cluster);
        // `snap` is a memory table: DataFusion filters it itself.
        let sql = format!(
            "CREATE TABLE snap AS SELECT * FROM pods; \
             SELECT 'datafusion' AS side, cluster, uid FROM snap WHERE {filter} \
             UNION ALL SELECT 'kq', cluster, uid FROM pods WHERE {filter}"
        );
        let out = fleet.kq(&["-A", "-o", "ndjson", &sql]).await;
        ok(&out);
        let mut sides: BTreeMap<String, Vec<(String, String)>> = BTreeMap::new();
        for row in ndjson_rows(&out) {
            sides
                .entry(row["side"].as_str().unwrap_or_default().to_string())
                .or_default()
                .push((
                    row["cluster"].as_str().unwrap_or_default().to_string(),
                    row["uid"].as_str().unwrap_or_default().to_string(),
                ));
        }
        let reference = sides.remove("datafusion").unwrap_or_default();
        let pushed = sides.remove("kq").unwrap_or_default();
        assert!(!reference.is_empty(), "{filter}: the fixture matches rows");
        let reference_set: BTreeSet<_> = reference.iter().cloned().collect();
        let pushed_set: BTreeSet<_> = pushed.iter().cloned().collect();
        assert_eq!(
            pushed.len(),
            pushed_set.len(),
            "{filter}: no duplicate rows"
        );
        assert_eq!(pushed_set, reference_set, "{filter}: pushed = filtered");

        let explain = fleet
            .kq(&[
                "-A",
                "-o",
                "ndjson",
                &format!("EXPLAIN SELECT uid FROM pods WHERE {filter}"),
            ])
            .await;
        let plan = ok(&explain);
        assert_eq!(
            !plan.contains("FilterExec"),
            *exact,
            "{filter}: exact = {exact}, plan:\n{plan}"
        );
    }
}

/// `path?query` of every list request the cluster served, query decoded.
fn lists(cluster: &ClusterHandle) -> Vec<String> {
    cluster
        .counters()
        .requests
        .into_iter()
        .filter(|r| r.verb == "list")
        .map(|r| format!("{}?{}", r.path, percent_decode(&r.query)))
        .collect()
}

fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && let Some(hex) = text.get(i + 1..i + 3)
            && let Ok(byte) = u8::from_str_radix(hex, 16)
        {
            out.push(byte);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8(out).expect("utf-8 query")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_filter_becomes_exactly_these_requests() {
    let fleet = TestFleet::start(FleetConfig::uniform(2, 60, 12)).await;
    let [a, b] = [
        fleet.fleet.clusters()[0].clone(),
        fleet.fleet.clusters()[1].clone(),
    ];
    let ns = a.objects("pods")[0]["metadata"]["namespace"]
        .as_str()
        .expect("namespace")
        .to_string();
    let (an, bn) = (a.name().to_string(), b.name().to_string());
    let cases: Vec<(String, Vec<String>, Vec<String>)> = vec![
        (
            format!("SELECT name FROM pods WHERE namespace = '{ns}'"),
            vec![format!("/api/v1/namespaces/{ns}/pods?limit=500")],
            vec![format!("/api/v1/namespaces/{ns}/pods?limit=500")],
        ),
        (
            format!("SELECT name FROM pods WHERE namespace IN ('{ns}', 'zz-none')"),
            vec![
                format!("/api/v1/namespaces/{ns}/pods?limit=500"),
                "/api/v1/namespaces/zz-none/pods?limit=500".to_string(),
            ],
            vec![
                format!("/api/v1/namespaces/{ns}/pods?limit=500"),
                "/api/v1/namespaces/zz-none/pods?limit=500".to_string(),
            ],
        ),
        (
            format!("SELECT name FROM pods WHERE cluster = '{an}' AND labels['app'] = 'mysql'"),
            vec!["/api/v1/pods?limit=500&labelSelector=app=mysql".to_string()],
            vec![],
        ),
        (
            format!("SELECT name FROM pods WHERE cluster LIKE '{bn}' AND labels['app'] != 'mysql'"),
            vec![],
            vec!["/api/v1/pods?limit=500&labelSelector=app,app!=mysql".to_string()],
        ),
        (
            "SELECT name FROM pods WHERE labels['tier'] IN ('web', 'db') AND labels['app'] IS NOT NULL"
                .to_string(),
            vec!["/api/v1/pods?limit=500&labelSelector=tier in (web,db),app".to_string()],
            vec!["/api/v1/pods?limit=500&labelSelector=tier in (web,db),app".to_string()],
        ),
        (
            "SELECT name FROM pods WHERE name = 'x' AND phase = 'Running'".to_string(),
            vec![
                "/api/v1/pods?limit=500&fieldSelector=metadata.name=x,status.phase=Running"
                    .to_string(),
            ],
            vec![
                "/api/v1/pods?limit=500&fieldSelector=metadata.name=x,status.phase=Running"
                    .to_string(),
            ],
        ),
        // A LIMIT with every filter exact becomes the page size.
        (
            format!("SELECT name FROM pods WHERE cluster = '{an}' LIMIT 3"),
            vec!["/api/v1/pods?limit=3".to_string()],
            vec![],
        ),
        (
            format!("SELECT name FROM pods WHERE cluster = '{bn}' AND labels['app'] = 'mysql' LIMIT 2"),
            vec![],
            vec!["/api/v1/pods?limit=2&labelSelector=app=mysql".to_string()],
        ),
        // A residual filter keeps the LIMIT in DataFusion.
        (
            format!("SELECT name FROM pods WHERE cluster = '{an}' AND restarts > 0 LIMIT 2"),
            vec!["/api/v1/pods?limit=500".to_string()],
            vec![],
        ),
        // Child tables push down through their parent.
        (
            format!(
                "SELECT image FROM containers WHERE cluster = '{bn}' AND namespace = '{ns}' AND phase = 'Running'"
            ),
            vec![],
            vec![format!(
                "/api/v1/namespaces/{ns}/pods?limit=500&fieldSelector=status.phase=Running"
            )],
        ),
    ];
    for (sql, want_a, want_b) in cases {
        a.reset_counters();
        b.reset_counters();
        let out = fleet.kq(&["-A", "-o", "ndjson", &sql]).await;
        ok(&out);
        let mut got_a = lists(&a);
        let mut got_b = lists(&b);
        got_a.sort();
        got_b.sort();
        assert_eq!(got_a, want_a, "{sql}: requests to {an}");
        assert_eq!(got_b, want_b, "{sql}: requests to {bn}");
    }
}

fn reviews(cluster: &ClusterHandle) -> usize {
    cluster
        .counters()
        .requests
        .iter()
        .filter(|r| r.verb == "create" && r.path.ends_with("/selfsubjectrulesreviews"))
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_forbidden_list_falls_back_to_the_namespaces_the_rules_allow() {
    let fleet = TestFleet::start(FleetConfig::uniform(1, 80, 3)).await;
    let cluster = fleet.fleet.clusters()[0].clone();
    let kubeconfig = fleet.kubeconfig_for(SimUser::TeamAReader);
    let truth: BTreeSet<String> = cluster
        .objects("pods")
        .iter()
        .filter(|p| p["metadata"]["namespace"] == TEAM_A_NAMESPACE)
        .map(|p| {
            p["metadata"]["uid"]
                .as_str()
                .unwrap_or_default()
                .to_string()
        })
        .collect();
    assert!(!truth.is_empty(), "the fleet has team-a pods");

    // The context names team-a; `default` is configured but not permitted.
    cluster.reset_counters();
    let out = run_kq(
        &kubeconfig,
        &[
            "--namespaces",
            "default",
            "-o",
            "ndjson",
            "SELECT uid FROM pods",
        ],
    )
    .await;
    ok(&out);
    let uids: Vec<String> = ndjson_rows(&out)
        .iter()
        .map(|r| r["uid"].as_str().unwrap_or_default().to_string())
        .collect();
    assert_eq!(uids.len(), truth.len(), "no duplicate rows");
    assert_eq!(uids.into_iter().collect::<BTreeSet<_>>(), truth);
    let err = stderr(&out);
    assert!(
        err.contains("covered namespace 'team-a' only")
            && err.contains("not permitted in 'default'"),
        "names what was covered and what was not: {err}"
    );
    assert_eq!(
        reviews(&cluster),
        2,
        "one rules review per candidate namespace"
    );
    let mut listed = lists(&cluster);
    listed.sort();
    assert_eq!(
        listed,
        vec![
            "/api/v1/namespaces/team-a/pods?limit=500",
            "/api/v1/namespaces?limit=500",
            "/api/v1/pods?limit=500",
        ],
        "kq never lists a namespace the rules deny"
    );

    // A user whose rules allow no namespace gets one error naming what was checked.
    let kubeconfig = fleet.kubeconfig_for(SimUser::NoSecrets);
    let out = run_kq(&kubeconfig, &["-o", "ndjson", "SELECT name FROM secrets"]).await;
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "every cluster failed: {err}");
    assert!(
        err.contains("no namespace allows listing secrets"),
        "says why nothing was listed: {err}"
    );
    assert!(ndjson_rows(&out).is_empty(), "nothing on stdout");
}

/// Service filters kq declares Exact, with field selectors older servers
/// lack (`spec.type`, `spec.clusterIP` arrived in 1.31). Each result
/// names its query in `q`.
const SERVICE_QUERIES: &[&str] = &[
    "SELECT 'lb' AS q, namespace, name FROM services WHERE type = 'LoadBalancer'",
    "SELECT 'np' AS q, namespace, name FROM services WHERE type = 'NodePort' AND labels['app'] IS NOT NULL",
    "SELECT 'headless' AS q, namespace, name FROM services WHERE cluster_ip = 'None'",
    "SELECT 'ports' AS q, namespace, service_name AS name, port FROM service_ports WHERE service_type = 'ClusterIP'",
    // A LIMIT the old server cannot narrow: kq stops at 3 rows that all
    // satisfy the filter.
    "SELECT 'limit' AS q, type FROM services WHERE type = 'ClusterIP' LIMIT 3",
];

/// Each query's rows (by `q`), sorted.
fn answers(out: &std::process::Output) -> BTreeMap<String, Vec<String>> {
    let mut answers: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for row in ndjson_rows(out) {
        let q = row["q"].as_str().expect("q").to_string();
        answers.entry(q).or_default().push(row.to_string());
    }
    for rows in answers.values_mut() {
        rows.sort();
    }
    answers
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_older_server_gets_the_same_rows_without_the_selectors_it_lacks() {
    let version = kq_sim::ServerVersion::new(1, 27).expect("a version");
    let current = TestFleet::start(FleetConfig::uniform(1, 80, 12)).await;
    let old = TestFleet::start(FleetConfig::uniform(1, 80, 12).with_server_version(version)).await;
    let sql = SERVICE_QUERIES.join("; ");
    let on_current = current.kq(&["-o", "ndjson", &sql]).await;
    let on_old = old.kq(&["-o", "ndjson", &sql]).await;
    ok(&on_current);
    ok(&on_old);
    let (mut want, mut got) = (answers(&on_current), answers(&on_old));
    let limited = got.remove("limit").unwrap_or_default();
    assert_eq!(
        limited,
        vec![r#"{"q":"limit","type":"ClusterIP"}"#; 3],
        "LIMIT 3 on the old server, filtered by kq"
    );
    want.remove("limit");
    assert_eq!(want.len(), 4, "every query has rows on 1.33: {want:?}");
    assert_eq!(got, want, "the same rows on 1.27");
    let err = stderr(&on_old);
    assert!(
        !err.contains("error") && !err.contains("warning"),
        "nothing failed: {err}"
    );

    // The rejection cost one request, once per session.
    let cluster = &old.fleet.clusters()[0];
    let rejected: Vec<_> = cluster
        .counters()
        .requests
        .into_iter()
        .filter(|r| r.status == 400)
        .collect();
    assert_eq!(rejected.len(), 1, "one 400 per session: {rejected:?}");
    assert!(rejected[0].query.contains("fieldSelector"), "{rejected:?}");
    let service_lists: Vec<String> = lists(cluster)
        .into_iter()
        .filter(|l| l.starts_with("/api/v1/services"))
        .collect();
    assert_eq!(
        service_lists
            .iter()
            .filter(|l| l.contains("fieldSelector"))
            .count(),
        1,
        "only the first list sent the field selector: {service_lists:?}"
    );
    assert!(
        service_lists.iter().any(|l| l.contains("labelSelector")),
        "the label selector the server supports is still sent: {service_lists:?}"
    );

    // kq_errors says why, as information, with kind 'selector'.
    let out = old
        .kq(&[
            "-o",
            "ndjson",
            "SELECT name FROM services WHERE type = 'LoadBalancer'; \
             SELECT severity, kind, error FROM kq_errors",
        ])
        .await;
    ok(&out);
    let notes: Vec<Value> = ndjson_rows(&out)
        .into_iter()
        .filter(|r| r.get("kind").is_some())
        .collect();
    assert_eq!(notes.len(), 1, "{notes:?}");
    assert_eq!(notes[0]["severity"], "info");
    assert_eq!(notes[0]["kind"], "selector");
    assert!(
        notes[0]["error"]
            .as_str()
            .is_some_and(|e| e.contains("fieldSelector spec.type=LoadBalancer")),
        "{notes:?}"
    );
}
