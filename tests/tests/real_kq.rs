//! kq against the upstream kube-apiserver (the kq-apiserver harness):
//! pushdown the real server accepts and answers exactly, the namespace
//! fallback driven by the real SelfSubjectRulesReview, the live cache and
//! `kq watch` through dropped connections and 410 Gone, a broken
//! aggregated API, CRDs as tables, and the audit log's proof that kq only
//! reads.
//!
//! Each step waits for what kq prints or the server records, never for
//! time to pass.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use kq_tests::apiserver::{RealServer, RealServerOptions};
use kq_tests::proxy::ConnectProxy;
use kq_tests::{KqProcess, kubectl, kubectl_ok, ndjson_rows, ok, run_kq, stderr, stdout};
use serde_json::{Value, json};

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures")
        .join(name)
}

async fn server(extra: &[&str], args: &[&str]) -> RealServer {
    let mut fixtures = vec![fixture("real-kq.yaml")];
    fixtures.extend(extra.iter().map(|f| fixture(f)));
    RealServer::start(RealServerOptions {
        fixtures,
        audit_log: true,
        apiserver_args: args.iter().map(|a| a.to_string()).collect(),
    })
    .await
}

/// kq's own requests in the audit log (its user agent says kq/…).
fn kq_requests(server: &RealServer) -> Vec<Value> {
    server
        .audit_entries()
        .into_iter()
        .filter(|e| {
            e["userAgent"]
                .as_str()
                .is_some_and(|agent| agent.starts_with("kq/"))
        })
        .collect()
}

/// Every request kq sent was a read: get, list, watch, or the
/// SelfSubjectRulesReview the namespace fallback asks.
#[track_caller]
fn assert_read_only(server: &RealServer) {
    let requests = kq_requests(server);
    assert!(!requests.is_empty(), "the audit log holds kq's requests");
    for request in &requests {
        let verb = request["verb"].as_str().unwrap_or_default();
        let resource = request["objectRef"]["resource"]
            .as_str()
            .unwrap_or_default();
        let read = matches!(verb, "get" | "list" | "watch")
            || (verb == "create" && resource == "selfsubjectrulesreviews");
        assert!(read, "kq sent a write: {request}");
    }
}

/// Lists kq sent, as `requestURI`s, with their status codes.
fn kq_lists(server: &RealServer) -> Vec<(String, u64)> {
    kq_requests(server)
        .into_iter()
        .filter(|e| e["verb"] == "list")
        .map(|e| {
            (
                e["requestURI"].as_str().unwrap_or_default().to_string(),
                e["responseStatus"]["code"].as_u64().unwrap_or_default(),
            )
        })
        .collect()
}

/// Pod filters kq pushes down, and whether it claims them as Exact.
const POD_FILTERS: &[(&str, bool)] = &[
    ("namespace = 'app-a'", true),
    ("namespace IN ('app-a', 'team-a')", true),
    ("labels['app'] = 'mysql'", true),
    ("labels['app'] = ''", true),
    ("labels['app'] != 'mysql'", true),
    ("labels['app'] IN ('mysql', 'web')", true),
    ("labels['app'] IS NOT NULL", true),
    ("name = 'web'", true),
    ("name != 'web'", true),
    ("phase = 'Running'", true),
    ("node_name = 'node-2'", true),
    ("service_account = 'default'", true),
    (
        "labels['app'] = 'web' AND namespace = 'app-b' AND phase = 'Pending'",
        true,
    ),
    ("phase != 'Running'", false),
];

const SERVICE_FILTERS: &[(&str, bool)] = &[
    ("type = 'LoadBalancer'", true),
    ("type = 'NodePort' AND labels['app'] = 'api'", true),
    ("cluster_ip = 'None'", true),
    ("type != 'ClusterIP'", false),
];

/// `uid`s of `table` filtered by DataFusion over a snapshot and by kq
/// with pushdown, in one session.
async fn both_ways(
    kubeconfig: &Path,
    table: &str,
    filter: &str,
) -> (BTreeSet<String>, Vec<String>) {
    let sql = format!(
        "CREATE TABLE snap AS SELECT * FROM {table}; \
         SELECT 'datafusion' AS side, uid FROM snap WHERE {filter} \
         UNION ALL SELECT 'kq', uid FROM {table} WHERE {filter}"
    );
    let out = run_kq(kubeconfig, &["-o", "ndjson", &sql]).await;
    ok(&out);
    let mut reference = BTreeSet::new();
    let mut pushed = Vec::new();
    for row in ndjson_rows(&out) {
        let uid = row["uid"].as_str().unwrap_or_default().to_string();
        if row["side"] == "datafusion" {
            reference.insert(uid);
        } else {
            pushed.push(uid);
        }
    }
    (reference, pushed)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pushdown_is_accepted_and_exact_on_the_real_server() {
    let server = server(&[], &[]).await;
    for (table, filters) in [("pods", POD_FILTERS), ("services", SERVICE_FILTERS)] {
        for (filter, exact) in filters {
            let (reference, pushed) = both_ways(&server.kubeconfig, table, filter).await;
            assert!(
                !reference.is_empty(),
                "{table} {filter}: the fixture matches rows"
            );
            let pushed_set: BTreeSet<String> = pushed.iter().cloned().collect();
            assert_eq!(
                pushed.len(),
                pushed_set.len(),
                "{filter}: no duplicate rows"
            );
            assert_eq!(pushed_set, reference, "{table} {filter}: pushed = filtered");
            let explain = run_kq(
                &server.kubeconfig,
                &[
                    "-o",
                    "ndjson",
                    &format!("EXPLAIN SELECT uid FROM {table} WHERE {filter}"),
                ],
            )
            .await;
            assert_eq!(
                !ok(&explain).contains("FilterExec"),
                *exact,
                "{table} {filter}: exact = {exact}"
            );
        }
    }
    // Every selector kq sent, the real server accepted.
    let lists = kq_lists(&server);
    let with_selectors: Vec<&(String, u64)> = lists
        .iter()
        .filter(|(uri, _)| uri.contains("Selector="))
        .collect();
    assert!(
        with_selectors
            .iter()
            .any(|(uri, _)| uri.contains("fieldSelector=spec.type")),
        "service type filters were pushed: {lists:?}"
    );
    assert!(
        with_selectors.iter().all(|(_, code)| *code == 200),
        "the real server accepted every selector: {with_selectors:?}"
    );
    assert_read_only(&server);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_namespace_scoped_user_gets_what_the_real_rules_allow() {
    let server = server(&[], &[]).await;
    let limited = server.context_kubeconfig("real-limited");
    let truth = kubectl(&limited, &["get", "pods", "-n", "team-a", "-o", "name"]).await;
    let truth: BTreeSet<String> = stdout(&truth)
        .lines()
        .map(|l| l.trim_start_matches("pod/").to_string())
        .collect();
    assert!(!truth.is_empty(), "team-a has pods");

    let out = run_kq(
        &limited,
        &[
            "--namespaces",
            "app-a,team-a",
            "-o",
            "ndjson",
            "SELECT namespace, name FROM pods",
        ],
    )
    .await;
    ok(&out);
    let rows = ndjson_rows(&out);
    assert!(rows.iter().all(|r| r["namespace"] == "team-a"), "{rows:?}");
    let names: BTreeSet<String> = rows
        .iter()
        .map(|r| r["name"].as_str().unwrap_or_default().to_string())
        .collect();
    assert_eq!(names, truth, "every pod of team-a, nothing else");
    let err = stderr(&out);
    assert!(
        err.contains("covered namespace 'team-a' only") && err.contains("not permitted in 'app-a'"),
        "names what was covered and refused: {err}"
    );
    // The rules review answered for app-a: kq never listed it.
    let lists = kq_lists(&server);
    assert!(
        lists
            .iter()
            .any(|(uri, code)| uri.starts_with("/api/v1/pods?") && *code == 403),
        "the cluster-wide list was refused first: {lists:?}"
    );
    assert!(
        !lists
            .iter()
            .any(|(uri, _)| uri.contains("/namespaces/app-a/")),
        "kq listed a namespace the rules deny: {lists:?}"
    );
    let reviews = kq_requests(&server)
        .into_iter()
        .filter(|e| e["objectRef"]["resource"] == "selfsubjectrulesreviews")
        .count();
    assert!(
        reviews >= 1,
        "the fallback asked the real SelfSubjectRulesReview"
    );

    // The admin's kubeconfig with --as: the real server authorizes every
    // request as kq-limited, as it does kubectl's --as.
    let admin = server.context_kubeconfig("real-admin");
    let impersonated = run_kq(
        &admin,
        &[
            "--as",
            "kq-limited",
            "-n",
            "team-a",
            "-o",
            "ndjson",
            "SELECT namespace, name FROM pods",
        ],
    )
    .await;
    ok(&impersonated);
    let names: BTreeSet<String> = ndjson_rows(&impersonated)
        .iter()
        .map(|r| r["name"].as_str().unwrap_or_default().to_string())
        .collect();
    assert_eq!(names, truth, "--as kq-limited reads what kq-limited may");
    let refused = run_kq(
        &admin,
        &[
            "--as",
            "kq-limited",
            "-n",
            "kube-system",
            "SELECT count(*) FROM pods",
        ],
    )
    .await;
    assert!(
        stderr(&refused).contains("kube-system"),
        "kq-limited may not read kube-system: {}",
        stderr(&refused)
    );
    let as_limited = kq_requests(&server)
        .into_iter()
        .filter(|e| e["impersonatedUser"]["username"] == "kq-limited")
        .count();
    assert!(
        as_limited >= 2,
        "the audit log shows the impersonated requests"
    );
    assert_read_only(&server);
}

#[track_caller]
fn assert_change(line: &Value, op: &str, name: &str, tier: &str) {
    assert_eq!(line["op"], op, "{line}");
    assert_eq!(line["row"]["name"], name, "{line}");
    assert_eq!(line["row"]["tier"], tier, "{line}");
}

/// A kubeconfig for kq that reaches the server through `proxy`.
fn proxied(server: &RealServer, proxy: &ConnectProxy, dir: &Path) -> PathBuf {
    let text = std::fs::read_to_string(&server.kubeconfig).expect("read the kubeconfig");
    let mut doc: Value = serde_yaml::from_str(&text).expect("kubeconfig YAML");
    for cluster in doc["clusters"].as_array_mut().expect("clusters") {
        cluster["cluster"]["proxy-url"] = json!(proxy.url);
    }
    let path = dir.join("proxied.kubeconfig");
    std::fs::write(&path, serde_yaml::to_string(&doc).expect("YAML")).expect("write");
    path
}

const WATCH_QUERY: &str = "SELECT name, labels['tier'] AS tier FROM pods \
                           WHERE namespace = 'kqwatch' ORDER BY name";

/// Create, update, delete with kubectl, then dropped connections: with the
/// watch cache the resumed watch replays what happened meanwhile; without
/// it, after etcd compaction, the resumed watch is 410 Gone and kq
/// relists. Either way: every change once, no ghost of a deleted pod.
async fn watch_through_drops(watch_cache: bool) {
    let args: &[&str] = if watch_cache {
        &[]
    } else {
        &["--watch-cache=false"]
    };
    let server = server(&[], args).await;
    let dir = tempfile::tempdir().expect("temp dir");
    let kc = server.kubeconfig.as_path();
    let proxy = ConnectProxy::start().await;
    let through_proxy = proxied(&server, &proxy, dir.path());
    let apply = |name: &str, tier: &str| {
        let path = kq_tests::pod_manifest(dir.path(), "kqwatch", name, tier);
        async move { kubectl_ok(kc, &["apply", "-f", &path.display().to_string()]).await }
    };
    apply("web", "a").await;
    let mut kq = KqProcess::spawn(&through_proxy, &["watch", "--changes", WATCH_QUERY]);
    assert_change(&kq.next_json().await, "added", "web", "a");

    apply("cart", "a").await;
    assert_change(&kq.next_json().await, "added", "cart", "a");
    apply("web", "b").await;
    let line = kq.next_json().await;
    assert_change(&line, "updated", "web", "b");
    assert_eq!(line["old"]["tier"], "a", "{line}");
    kubectl_ok(
        kc,
        &["delete", "pod", "cart", "-n", "kqwatch", "--wait=false"],
    )
    .await;
    assert_change(&kq.next_json().await, "removed", "cart", "a");

    // The connection drops and kq cannot reconnect; meanwhile one pod is
    // created and one deleted.
    let watches_before = kq_watches(&server);
    proxy.hold();
    proxy.cut();
    apply("api", "a").await;
    kubectl_ok(
        kc,
        &["delete", "pod", "web", "-n", "kqwatch", "--wait=false"],
    )
    .await;
    if !watch_cache {
        // History is gone: the resumed watch must get 410 Gone.
        server.compact();
    }
    proxy.release();
    let mut seen: BTreeMap<String, String> = BTreeMap::new();
    for _ in 0..2 {
        let line = kq.next_json().await;
        seen.insert(
            line["row"]["name"].as_str().unwrap_or_default().to_string(),
            line["op"].as_str().unwrap_or_default().to_string(),
        );
    }
    assert_eq!(
        seen,
        BTreeMap::from([
            ("api".to_string(), "added".to_string()),
            ("web".to_string(), "removed".to_string()),
        ]),
        "what happened while disconnected, once each"
    );
    assert!(kq_watches(&server) > watches_before, "kq watched again");
    if !watch_cache {
        let relisted = kq_lists(&server)
            .iter()
            .filter(|(uri, _)| uri.starts_with("/api/v1/pods"))
            .count();
        assert!(relisted >= 2, "the 410 made kq list again");
    }
    // And the cache is exact afterwards: a fresh query through the same
    // process's view agrees with kubectl.
    apply("last", "z").await;
    assert_change(&kq.next_json().await, "added", "last", "z");
    let truth = kubectl(kc, &["get", "pods", "-n", "kqwatch", "-o", "name"]).await;
    assert_eq!(
        stdout(&truth).lines().collect::<BTreeSet<_>>(),
        BTreeSet::from(["pod/api", "pod/last"])
    );
    drop(kq);
    assert_read_only(&server);
}

/// Watch requests kq sent.
fn kq_watches(server: &RealServer) -> usize {
    kq_requests(server)
        .iter()
        .filter(|e| e["verb"] == "watch")
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kq_watch_resumes_a_dropped_watch_from_the_watch_cache() {
    watch_through_drops(true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kq_watch_relists_after_410_gone_from_compacted_etcd() {
    watch_through_drops(false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crds_and_a_broken_aggregated_api() {
    let server = server(&["broken-apiservice.yaml"], &[]).await;
    let out = run_kq(
        &server.kubeconfig,
        &[
            "-o",
            "ndjson",
            "SELECT namespace, name, spec->>'color' AS color, CAST(spec->>'size' AS BIGINT) AS size, \
                    status->>'ready' AS ready FROM widgets ORDER BY namespace, name; \
             SELECT count(*) AS pods FROM pods; \
             SELECT severity, \"table\", error FROM kq_errors",
        ],
    )
    .await;
    ok(&out);
    let rows = ndjson_rows(&out);
    let widgets: Vec<&Value> = rows.iter().filter(|r| r.get("color").is_some()).collect();
    assert_eq!(
        widgets,
        vec![
            &json!({"namespace": "app-a", "name": "large", "color": "blue", "size": 9, "ready": "false"}),
            &json!({"namespace": "app-a", "name": "small", "color": "red", "size": 1, "ready": "true"}),
            &json!({"namespace": "app-b", "name": "medium", "color": "green", "size": 5, "ready": "true"}),
        ],
        "the CRD's custom resources, status included"
    );
    let truth = kubectl(&server.kubeconfig, &["get", "pods", "-A", "-o", "name"]).await;
    let pods = rows
        .iter()
        .find(|r| r.get("pods").is_some())
        .expect("count");
    assert_eq!(
        pods["pods"].as_u64(),
        Some(stdout(&truth).lines().count() as u64)
    );
    let errors: Vec<&Value> = rows
        .iter()
        .filter(|r| r.get("severity").is_some())
        .collect();
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert_eq!(errors[0]["severity"], "warning");
    assert!(
        errors[0]["error"]
            .as_str()
            .is_some_and(|e| e.contains("metrics.k8s.io/v1beta1")),
        "names the unavailable group: {errors:?}"
    );
    let tables = run_kq(&server.kubeconfig, &["tables"]).await;
    let listed = ok(&tables);
    for table in ["pods", "widgets", "containers"] {
        assert!(listed.contains(table), "kq tables lists {table}");
    }
    assert!(
        stderr(&tables).contains("metrics.k8s.io/v1beta1"),
        "{}",
        stderr(&tables)
    );
    assert_read_only(&server);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_shell_sees_changes_made_with_kubectl() {
    let server = server(&[], &[]).await;
    let dir = tempfile::tempdir().expect("temp dir");
    let shell = kq_tests::Tmux::start(&format!(
        "env -u KUBECONFIG HOME={home} {kq} --kubeconfig {kc}",
        home = dir.path().display(),
        kq = kq_tests::kq_binary().display(),
        kc = server.kubeconfig.display(),
    ));
    let mut prompts = 1;
    shell.wait_for_count("kq> ", prompts).await;
    let query = "SELECT count(*) AS n FROM pods WHERE namespace = 'kqwatch';";
    shell.line(query);
    prompts += 1;
    let screen = shell.wait_for_count("kq> ", prompts).await;
    assert!(screen.contains("│ 0 │"), "{screen}");
    let path = kq_tests::pod_manifest(dir.path(), "kqwatch", "from-kubectl", "a");
    kubectl_ok(
        &server.kubeconfig,
        &["apply", "-f", &path.display().to_string()],
    )
    .await;
    // The live cache applies the watch event; the same query then reads
    // it from memory. Each run waits for its prompt; wait_for_count bounds
    // the whole by a minute.
    loop {
        shell.line(query);
        prompts += 1;
        let screen = shell.wait_for_count("kq> ", prompts).await;
        let last = screen.rsplit(query).next().unwrap_or_default();
        if last.contains("│ 1 │") {
            break;
        }
        assert!(last.contains("│ 0 │"), "{last}");
    }
    shell.keys(&["C-d"]);
    assert_read_only(&server);
}
