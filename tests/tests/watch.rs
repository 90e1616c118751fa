//! `kq watch` against the sim, with kubectl (a real client) making the
//! changes: the exact sequence of change lines for create, update, delete,
//! a forced relist and a cluster outage.
//!
//! Each step waits for the line kq prints, never for time to pass.

use kq_tests::{Faults, FleetConfig};
use kq_tests::{KqProcess, TestFleet, kubectl_ok, stderr, stdout};
use serde_json::{Value, json};

const QUERY: &str = "SELECT cluster, namespace, name, labels['tier'] AS tier FROM pods \
                     WHERE namespace = 'kqwatch' ORDER BY cluster, name";

#[track_caller]
fn assert_change(line: &Value, op: &str, row: Value, old: Option<Value>) {
    assert_eq!(line["op"], op, "{line}");
    assert_eq!(line["row"], row, "{line}");
    assert_eq!(line.get("old").cloned(), old, "{line}");
    assert!(
        line["ts"].as_str().is_some_and(|t| t.ends_with('Z')),
        "{line}"
    );
}

#[track_caller]
fn assert_status(line: &Value, cluster: &str, state: &str) {
    assert_eq!(line["op"], "status", "{line}");
    assert_eq!(line["cluster"], cluster, "{line}");
    assert_eq!(line["state"], state, "{line}");
}

fn row(cluster: &str, name: &str, tier: &str) -> Value {
    json!({"cluster": cluster, "namespace": "kqwatch", "name": name, "tier": tier})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watch_emits_exact_changes_through_relist_and_outage() {
    let fleet = TestFleet::start(FleetConfig::uniform(2, 0, 7)).await;
    let kc = fleet.kubeconfig.as_path();
    let dir = fleet.dir.path();
    for context in ["cluster-0", "cluster-1"] {
        kubectl_ok(
            kc,
            &["--context", context, "create", "namespace", "kqwatch"],
        )
        .await;
    }
    let web_a = kq_tests::pod_manifest(dir, "kqwatch", "web", "a");
    let web_b = kq_tests::pod_manifest(dir, "kqwatch", "web", "b");
    let api = kq_tests::pod_manifest(dir, "kqwatch", "api", "a");
    let cart = kq_tests::pod_manifest(dir, "kqwatch", "cart", "a");
    kubectl_ok(kc, &["--context", "cluster-0", "apply", "-f", path(&web_a)]).await;
    kubectl_ok(kc, &["--context", "cluster-1", "apply", "-f", path(&api)]).await;

    let mut kq = KqProcess::spawn(
        kc,
        &["-A", "watch", "--changes", "--max-changes", "5", QUERY],
    );
    // The initial result, as added rows in the query's order.
    assert_change(
        &kq.next_json().await,
        "added",
        row("cluster-0", "web", "a"),
        None,
    );
    assert_change(
        &kq.next_json().await,
        "added",
        row("cluster-1", "api", "a"),
        None,
    );

    // Create.
    kubectl_ok(kc, &["--context", "cluster-1", "apply", "-f", path(&cart)]).await;
    assert_change(
        &kq.next_json().await,
        "added",
        row("cluster-1", "cart", "a"),
        None,
    );

    // Update: same row identity (cluster, namespace, name), new values.
    kubectl_ok(kc, &["--context", "cluster-0", "apply", "-f", path(&web_b)]).await;
    assert_change(
        &kq.next_json().await,
        "updated",
        row("cluster-0", "web", "b"),
        Some(row("cluster-0", "web", "a")),
    );

    // Delete.
    kubectl_ok(
        kc,
        &[
            "--context",
            "cluster-1",
            "delete",
            "pod",
            "cart",
            "-n",
            "kqwatch",
        ],
    )
    .await;
    assert_change(
        &kq.next_json().await,
        "removed",
        row("cluster-1", "cart", "a"),
        None,
    );

    // A forced relist (history compacted: the watch gets 410 Gone) emits
    // nothing for unchanged rows; the next line is the next real change.
    let cluster0 = fleet.cluster("cluster-0");
    let lists_before = list_requests(cluster0);
    cluster0.force_watch_expiry();
    kubectl_ok(kc, &["--context", "cluster-0", "apply", "-f", path(&cart)]).await;
    assert_change(
        &kq.next_json().await,
        "added",
        row("cluster-0", "cart", "a"),
        None,
    );

    // An outage is a status line; the cluster's rows stay (no removals).
    let cluster1 = fleet.cluster("cluster-1");
    cluster1.set_faults(Faults {
        down: true,
        ..Faults::default()
    });
    assert_status(&kq.next_json().await, "cluster-1", "unreachable");
    cluster1.set_faults(Faults::default());
    assert_status(&kq.next_json().await, "cluster-1", "live");

    // After it returns, changes on it flow again; this is change 5 of 5.
    kubectl_ok(
        kc,
        &[
            "--context",
            "cluster-1",
            "delete",
            "pod",
            "api",
            "-n",
            "kqwatch",
        ],
    )
    .await;
    assert_change(
        &kq.next_json().await,
        "removed",
        row("cluster-1", "api", "a"),
        None,
    );

    let err = kq.stderr();
    let (code, rest) = kq.wait().await;
    assert_eq!(code, Some(0), "stderr:\n{err}");
    assert!(rest.is_empty(), "lines after --max-changes: {rest:?}");
    // The relist really happened: the cluster was listed again.
    assert!(
        list_requests(cluster0) > lists_before,
        "no relist after the forced expiry"
    );
    assert!(err.contains("cluster 'cluster-1' is unreachable"), "{err}");
    assert!(err.contains("cluster 'cluster-1' answers again"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watch_aggregates_update_in_place_and_stops_after_for() {
    let fleet = TestFleet::start(FleetConfig::uniform(1, 0, 3)).await;
    let kc = fleet.kubeconfig.as_path();
    kubectl_ok(kc, &["create", "namespace", "kqwatch"]).await;
    let web = kq_tests::pod_manifest(fleet.dir.path(), "kqwatch", "web", "a");
    kubectl_ok(kc, &["apply", "-f", path(&web)]).await;
    let mut kq = KqProcess::spawn(
        kc,
        &[
            "watch",
            "-o",
            "ndjson",
            "--max-changes",
            "1",
            "SELECT namespace, count(*) AS pods FROM pods GROUP BY namespace",
        ],
    );
    assert_change(
        &kq.next_json().await,
        "added",
        json!({"namespace": "kqwatch", "pods": 1}),
        None,
    );
    let api = kq_tests::pod_manifest(fleet.dir.path(), "kqwatch", "api", "a");
    kubectl_ok(kc, &["apply", "-f", path(&api)]).await;
    // The group is the identity, the count its value.
    assert_change(
        &kq.next_json().await,
        "updated",
        json!({"namespace": "kqwatch", "pods": 2}),
        Some(json!({"namespace": "kqwatch", "pods": 1})),
    );
    let (code, _) = kq.wait().await;
    assert_eq!(code, Some(0));

    // --for ends a quiet watch cleanly.
    let output = kq_tests::run_kq(
        kc,
        &[
            "watch",
            "--changes",
            "--for",
            "300ms",
            "SELECT name FROM namespaces WHERE name = 'kqwatch'",
        ],
    )
    .await;
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let lines: Vec<&str> = std::str::from_utf8(&output.stdout)
        .unwrap()
        .lines()
        .collect();
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert!(
        lines[0].contains(r#""row":{"name":"kqwatch"}"#),
        "{lines:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watch_rejects_bad_input_with_one_line() {
    let fleet = TestFleet::start(FleetConfig::uniform(1, 0, 3)).await;
    for (args, expected) in [
        (vec!["watch"], "kq watch needs a query"),
        (
            vec!["watch", "SELECT 1; SELECT 2"],
            "kq watch follows one query",
        ),
        (
            vec!["watch", "--changes", "-o", "table", "SELECT name FROM pods"],
            "--changes writes one JSON object per line",
        ),
        (
            vec![
                "watch",
                "--key",
                "nope",
                "--for",
                "1s",
                "SELECT name FROM pods",
            ],
            "--key column 'nope' is not in the result",
        ),
        (
            vec!["--changes", "SELECT name FROM pods"],
            "--changes only applies to kq watch",
        ),
        (
            vec!["watch", "--for", "soon", "SELECT 1"],
            "is not a duration",
        ),
        (vec!["watch", "SELECT nope FROM pods"], "nope"),
    ] {
        let output = fleet.kq(&args).await;
        let err = stderr(&output);
        assert_eq!(output.status.code(), Some(2), "{args:?}: {err}");
        assert!(err.contains(expected), "{args:?}: {err}");
        assert!(!err.contains("panicked"), "{args:?}: {err}");
        assert!(stdout(&output).is_empty(), "{args:?}");
    }
}

fn path(p: &std::path::Path) -> &str {
    p.to_str().expect("utf-8 path")
}

fn list_requests(cluster: &kq_tests::ClusterHandle) -> usize {
    cluster
        .counters()
        .requests
        .iter()
        .filter(|r| r.verb == "list" && r.path.ends_with("/pods"))
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watch_draws_in_bold_only_when_colour_is_allowed() {
    let fleet = TestFleet::start(FleetConfig::uniform(1, 3, 17)).await;
    for (env, bold_expected) in [("", true), ("NO_COLOR=1 ", false)] {
        let tmux = kq_tests::Tmux::start(&format!(
            "env {env}{} --kubeconfig {} watch --for 1m 'SELECT count(*) AS pods FROM pods'",
            kq_tests::kq_binary().display(),
            fleet.kubeconfig.display()
        ));
        tmux.wait_for("Ctrl-C exits").await;
        let styled = tmux.styled_screen();
        assert!(styled.contains("kq watch"), "{styled}");
        assert_eq!(
            styled.contains("\u{1b}[1m"),
            bold_expected,
            "{env:?}: {styled:?}"
        );
        tmux.keys(&["C-c"]);
    }
}
