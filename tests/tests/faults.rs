//! Failure semantics, end to end: the real `kq` binary against a simulated
//! fleet with injected faults (throttling, 5xx, expired continue tokens,
//! slow, untrusted, unauthorized and dead clusters).
//!
//! Every test checks the exact row set against the sim's store (no row
//! lost, none doubled), what stderr says (which cluster, what cause) and
//! the exit code.
//!
//! Determinism: the sim draws its random faults from a per-cluster RNG
//! seeded by the fleet seed. These tests query one typed table whose list
//! runs as a single job per cluster, so each cluster sees its requests one
//! after the other and the sequence of faults it serves is a function of
//! the seed alone: a given seed passes or fails every time. The rates are
//! still chosen so that, whatever the draws, a spurious give-up is
//! negligible: kq tries a page up to 6 times, so a rate of 0.1 gives up on
//! a page with probability 1e-6 (about 1e-4 over the 90 pages of a test),
//! while the chance that no fault at all is served over 90 requests is
//! 0.9^90 < 1e-4.

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::process::Output;
use std::time::{Duration, Instant};

use kq_sim::{ClusterHandle, Faults, FleetConfig};
use kq_tests::{TestFleet, ndjson_rows, ok, pod_uids, run_kq, stderr, stdout, text};
use serde_json::Value;

/// Pods per cluster in these fleets.
const PODS: usize = 150;

/// Asserts that the output rows are exactly `truth`: same set, no duplicate.
#[track_caller]
fn assert_exact_pods(out: &Output, truth: &BTreeSet<(String, String)>) {
    let rows = ndjson_rows(out);
    let got: BTreeSet<(String, String)> = rows
        .iter()
        .map(|r| (text(r, "cluster"), text(r, "uid")))
        .collect();
    let missing: Vec<_> = truth.difference(&got).collect();
    let invented: Vec<_> = got.difference(truth).collect();
    assert!(
        missing.is_empty() && invented.is_empty(),
        "{} rows missing (first: {:?}), {} rows invented (first: {:?})\nstderr:\n{}",
        missing.len(),
        missing.first(),
        invented.len(),
        invented.first(),
        stderr(out)
    );
    assert_eq!(
        rows.len(),
        truth.len(),
        "no row is duplicated\nstderr:\n{}",
        stderr(out)
    );
}

/// Asserts that kq reported no failure at all.
#[track_caller]
fn assert_no_failure_reported(out: &Output) {
    let err = stderr(out);
    assert!(
        !err.contains("kq: error") && !err.contains("kq: warning"),
        "no failure is reported: {err}"
    );
}

/// Statuses of the pod list requests one cluster served, in order.
/// The stderr line (lower-cased) reporting `failed`; fails the test when
/// there is none or when any cluster in `fine` is reported too.
#[track_caller]
fn failure_line(err: &str, failed: &ClusterHandle, fine: &[ClusterHandle]) -> String {
    let names = |c: &ClusterHandle| format!("cluster '{}'", c.name());
    let line = err
        .lines()
        .find(|l| l.contains(&names(failed)))
        .unwrap_or_else(|| panic!("stderr names cluster {}: {err}", failed.name()));
    for cluster in fine {
        assert!(
            !err.contains(&names(cluster)),
            "only {} is reported: {err}",
            failed.name()
        );
    }
    line.to_lowercase()
}

/// `SELECT cluster, uid FROM pods` on every cluster, `pods_per_page` per list request.
async fn all_pods_in_pages_of(fleet: &TestFleet, pods_per_page: u32) -> Output {
    let page = pods_per_page.to_string();
    fleet
        .kq(&[
            "-A",
            "--chunk-size",
            &page,
            "-o",
            "ndjson",
            "SELECT cluster, uid FROM pods",
        ])
        .await
}

/// How many pod lists each cluster answered with `status`.
fn statuses_per_cluster(fleet: &TestFleet, status: u16) -> Vec<usize> {
    fleet
        .fleet
        .clusters()
        .iter()
        .map(|c| count(&pod_list_statuses(c), status))
        .collect()
}

fn pod_list_statuses(cluster: &ClusterHandle) -> Vec<u16> {
    cluster
        .counters()
        .requests
        .iter()
        .filter(|r| r.verb == "list" && r.path == "/api/v1/pods")
        .map(|r| r.status)
        .collect()
}

fn count(statuses: &[u16], status: u16) -> usize {
    statuses.iter().filter(|s| **s == status).count()
}

/// The fleet's admin kubeconfig as JSON data, to rewrite it.
fn kubeconfig_doc(fleet: &TestFleet) -> Value {
    serde_yaml::from_str(&fleet.fleet.kubeconfig_yaml()).expect("the sim's kubeconfig is YAML")
}

/// The `clusters[]` entry of context `name`.
fn cluster_entry<'a>(doc: &'a mut Value, name: &str) -> &'a mut Value {
    doc["clusters"]
        .as_array_mut()
        .expect("clusters")
        .iter_mut()
        .find(|c| c["name"] == name)
        .unwrap_or_else(|| panic!("no cluster {name} in the kubeconfig"))
}

/// The `users[]` entry that context `name` authenticates with.
fn user_entry<'a>(doc: &'a mut Value, name: &str) -> &'a mut Value {
    let user = doc["contexts"]
        .as_array()
        .expect("contexts")
        .iter()
        .find(|c| c["name"] == name)
        .and_then(|c| c["context"]["user"].as_str())
        .unwrap_or_else(|| panic!("no context {name} in the kubeconfig"))
        .to_string();
    doc["users"]
        .as_array_mut()
        .expect("users")
        .iter_mut()
        .find(|u| u["name"] == user.as_str())
        .unwrap_or_else(|| panic!("no user {user} in the kubeconfig"))
}

/// Writes a kubeconfig document next to the fleet's own (JSON is YAML).
fn write_kubeconfig(fleet: &TestFleet, file: &str, doc: &Value) -> PathBuf {
    let path = fleet.dir.path().join(file);
    std::fs::write(&path, doc.to_string()).expect("write kubeconfig");
    path
}

/// A kubeconfig in which the listed contexts present a token the sim does not know.
fn kubeconfig_with_bad_tokens(fleet: &TestFleet, clusters: &[&str]) -> PathBuf {
    let mut doc = kubeconfig_doc(fleet);
    for name in clusters {
        user_entry(&mut doc, name)["user"]["token"] =
            Value::from(format!("kqsim-admin-{:032x}", 0xbad_u64));
    }
    write_kubeconfig(
        fleet,
        &format!("kubeconfig-bad-token-{}", clusters.join("-")),
        &doc,
    )
}

/// Gives a cluster these faults and starts its counters afresh.
fn inject_faults(cluster: &ClusterHandle, faults: Faults) {
    cluster.set_faults(faults);
    cluster.reset_counters();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn throttled_lists_honour_retry_after_and_lose_no_row() {
    let fleet = TestFleet::start(FleetConfig::uniform(3, PODS, 21)).await;
    for cluster in fleet.fleet.clusters() {
        inject_faults(
            cluster,
            Faults {
                throttle_rate: 0.1,
                retry_after_secs: 1,
                ..Faults::default()
            },
        );
    }
    let started = Instant::now();
    // 30 pages per cluster, 90 list requests in all.
    let out = all_pods_in_pages_of(&fleet, 5).await;
    let elapsed = started.elapsed();
    ok(&out);
    assert_exact_pods(&out, &pod_uids(fleet.fleet.clusters()));
    assert_no_failure_reported(&out);

    let throttled = statuses_per_cluster(&fleet, 429);
    assert!(
        throttled.iter().sum::<usize>() > 0,
        "the sim served 429s: {throttled:?}"
    );
    // Each cluster's list is sequential and waits Retry-After (1 s) after
    // each of its 429s, so the run lasts at least the longest such wait.
    let waited = Duration::from_secs(*throttled.iter().max().unwrap_or(&0) as u64);
    assert!(
        elapsed >= waited,
        "kq honours Retry-After: {throttled:?} 429s per cluster, done in {elapsed:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transient_5xx_are_retried_and_lose_no_row() {
    let fleet = TestFleet::start(FleetConfig::uniform(3, PODS, 22)).await;
    for cluster in fleet.fleet.clusters() {
        inject_faults(
            cluster,
            Faults {
                error_rate_5xx: 0.1,
                ..Faults::default()
            },
        );
    }
    let out = all_pods_in_pages_of(&fleet, 5).await;
    ok(&out);
    assert_exact_pods(&out, &pod_uids(fleet.fleet.clusters()));
    assert_no_failure_reported(&out);
    let failed = statuses_per_cluster(&fleet, 500);
    assert!(
        failed.iter().sum::<usize>() > 0,
        "the sim served 500s: {failed:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expired_continue_token_restarts_the_list_without_duplicates() {
    let fleet = TestFleet::start(FleetConfig::uniform(2, PODS, 23)).await;
    // 150 pods in pages of 20 is 8 pages; every continue token that would
    // fetch the 4th page or later is answered 410 Expired.
    for cluster in fleet.fleet.clusters() {
        inject_faults(
            cluster,
            Faults {
                continue_expires_after_pages: Some(3),
                ..Faults::default()
            },
        );
    }
    let out = all_pods_in_pages_of(&fleet, 20).await;
    let statuses: Vec<(String, Vec<u16>)> = fleet
        .fleet
        .clusters()
        .iter()
        .map(|c| (c.name().to_string(), pod_list_statuses(c)))
        .collect();
    assert!(
        out.status.success(),
        "kq failed with {:?}; list statuses per cluster: {statuses:?}\nstderr:\n{}",
        out.status.code(),
        stderr(&out)
    );
    assert_exact_pods(&out, &pod_uids(fleet.fleet.clusters()));
    assert_no_failure_reported(&out);
    for (cluster, statuses) in &statuses {
        assert!(
            count(statuses, 410) > 0,
            "{cluster} served a 410 for an expired continue token: {statuses:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_cluster_times_out_and_the_others_answer() {
    let fleet = TestFleet::start(FleetConfig::uniform(3, PODS, 24)).await;
    let slow = fleet.fleet.clusters()[1].clone();
    // Healthy clusters keep a wide margin under --timeout even on a
    // loaded CI machine; the slow one is far beyond it.
    slow.set_faults(Faults {
        latency_ms: 8_000,
        ..Faults::default()
    });
    let healthy: Vec<ClusterHandle> = fleet
        .fleet
        .clusters()
        .iter()
        .filter(|c| c.name() != slow.name())
        .cloned()
        .collect();
    let truth = pod_uids(&healthy);
    let sql = "SELECT cluster, uid FROM pods";

    let out = fleet
        .kq(&["-A", "--timeout", "3", "-o", "ndjson", sql])
        .await;
    ok(&out);
    assert_exact_pods(&out, &truth);
    let line = failure_line(&stderr(&out), &slow, &healthy);
    assert!(
        line.contains("timed out") || line.contains("timeout"),
        "says the slow cluster timed out: {line}"
    );

    let strict = fleet
        .kq(&["-A", "--strict", "--timeout", "3", "-o", "ndjson", sql])
        .await;
    assert_eq!(
        strict.status.code(),
        Some(1),
        "--strict turns the timeout into exit 1: {}",
        stderr(&strict)
    );
    assert_exact_pods(&strict, &truth);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_untrusted_certificate_fails_only_its_cluster() {
    let fleet = TestFleet::start(FleetConfig::uniform(2, PODS, 25)).await;
    let clusters = fleet.fleet.clusters();
    let (good, bad) = (&clusters[0], &clusters[1]);
    // The bad context trusts the good cluster's CA, which did not sign the
    // bad cluster's serving certificate.
    let mut doc = kubeconfig_doc(&fleet);
    let other_ca =
        cluster_entry(&mut doc, good.name())["cluster"]["certificate-authority-data"].clone();
    assert!(other_ca.is_string(), "the sim's kubeconfig embeds its CAs");
    cluster_entry(&mut doc, bad.name())["cluster"]["certificate-authority-data"] = other_ca;
    let kubeconfig = write_kubeconfig(&fleet, "kubeconfig-wrong-ca", &doc);

    let out = run_kq(
        &kubeconfig,
        &["-A", "-o", "ndjson", "SELECT cluster, uid FROM pods"],
    )
    .await;
    ok(&out);
    assert_exact_pods(&out, &pod_uids([good]));
    let line = failure_line(&stderr(&out), bad, std::slice::from_ref(good));
    assert!(
        line.contains("certificate"),
        "gives a certificate cause: {line}"
    );
    assert!(
        bad.counters().requests.is_empty(),
        "no request reaches a server whose certificate is not trusted"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rejected_token_is_reported_as_unauthorized() {
    let fleet = TestFleet::start(FleetConfig::uniform(2, PODS, 26)).await;
    let clusters = fleet.fleet.clusters();
    let (good, bad) = (&clusters[0], &clusters[1]);
    let kubeconfig = kubeconfig_with_bad_tokens(&fleet, &[bad.name()]);
    let sql = "SELECT cluster, uid FROM pods";

    let out = run_kq(&kubeconfig, &["-A", "-o", "ndjson", sql]).await;
    ok(&out);
    assert_exact_pods(&out, &pod_uids([good]));
    let err = stderr(&out);
    let line = failure_line(&err, bad, std::slice::from_ref(good));
    assert!(
        line.contains("unauthorized"),
        "says the credentials were rejected: {line}"
    );
    assert!(!err.contains("kqsim-"), "no token is ever printed: {err}");
    let requests = bad.counters().requests;
    assert!(
        !requests.is_empty() && requests.iter().all(|r| r.status == 401),
        "the sim rejected every request of the bad token: {requests:?}"
    );

    let strict = run_kq(&kubeconfig, &["-A", "--strict", "-o", "ndjson", sql]).await;
    assert_eq!(
        strict.status.code(),
        Some(1),
        "--strict turns the 401 into exit 1: {}",
        stderr(&strict)
    );
    assert_exact_pods(&strict, &pod_uids([good]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kq_errors_holds_the_failure_of_the_same_session() {
    let fleet = TestFleet::start(FleetConfig::uniform(2, PODS, 27)).await;
    let clusters = fleet.fleet.clusters();
    let (good, bad) = (&clusters[0], &clusters[1]);
    let kubeconfig = kubeconfig_with_bad_tokens(&fleet, &[bad.name()]);
    let out = run_kq(
        &kubeconfig,
        &[
            "-A",
            "-o",
            "ndjson",
            "SELECT count(*) AS n FROM pods; SELECT cluster, \"table\", error FROM kq_errors",
        ],
    )
    .await;
    ok(&out);
    let rows = ndjson_rows(&out);
    let counts: Vec<&Value> = rows.iter().filter(|r| r.get("n").is_some()).collect();
    assert_eq!(counts.len(), 1, "one count row: {rows:?}");
    assert_eq!(
        counts[0]["n"].as_u64(),
        Some(good.objects("pods").len() as u64),
        "the count covers the healthy cluster"
    );
    let errors: Vec<&Value> = rows.iter().filter(|r| r.get("error").is_some()).collect();
    assert_eq!(errors.len(), 1, "one kq_errors row: {errors:?}");
    let error = errors[0];
    assert_eq!(text(error, "cluster"), bad.name());
    assert_eq!(text(error, "table"), "pods");
    assert!(
        text(error, "error").to_lowercase().contains("unauthorized"),
        "the error says why: {error}"
    );
    assert_eq!(rows.len(), 2, "nothing else is printed: {rows:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn when_every_cluster_fails_there_is_no_answer_and_exit_2() {
    let fleet = TestFleet::start(FleetConfig::uniform(2, PODS, 28)).await;
    let names: Vec<&str> = fleet.fleet.clusters().iter().map(|c| c.name()).collect();
    let sql = "SELECT cluster, uid FROM pods";

    let check = |what: &str, out: &Output| {
        let err = stderr(out);
        assert_eq!(out.status.code(), Some(2), "{what}: exit 2: {err}");
        assert!(stdout(out).is_empty(), "{what}: nothing on stdout");
        for name in &names {
            assert!(
                err.contains(&format!("cluster '{name}'")),
                "{what}: stderr names {name}: {err}"
            );
        }
        assert!(
            err.contains("no cluster could be read"),
            "{what}: says nothing could be read: {err}"
        );
        assert!(!err.contains("panicked"), "{what}: {err}");
    };

    // Every credential rejected.
    let kubeconfig = kubeconfig_with_bad_tokens(&fleet, &names);
    let out = run_kq(&kubeconfig, &["-A", sql]).await;
    check("all 401", &out);
    let err = stderr(&out).to_lowercase();
    assert_eq!(
        err.lines().filter(|l| l.contains("unauthorized")).count(),
        names.len(),
        "each cluster is reported unauthorized once: {err}"
    );

    // Every cluster down.
    for cluster in fleet.fleet.clusters() {
        cluster.set_faults(Faults {
            down: true,
            ..Faults::default()
        });
    }
    let out = fleet.kq(&["-A", sql]).await;
    check("all down", &out);
    let out = fleet.kq(&["-A", "--strict", "-o", "ndjson", sql]).await;
    check("all down, --strict", &out);
    // An aggregate answers only once every list ended: when all of them
    // failed, its count of 0 is no answer and must not reach a script.
    for format in ["json", "table", "csv"] {
        let out = fleet
            .kq(&["-A", "-o", format, "SELECT count(*) FROM pods"])
            .await;
        check(&format!("all down, count(*), -o {format}"), &out);
    }
}

/// A metrics-server whose backend is down, as the real server shows it.
const BROKEN_GROUP: &str = "metrics.k8s.io/v1beta1";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broken_api_group_fails_only_its_own_tables() {
    // Aggregated discovery (1.33: the group is Stale) and the legacy walk
    // (1.25: /apis/metrics.k8s.io/v1beta1 answers 503) both.
    for minor in [33, 25] {
        let version = kq_sim::ServerVersion::new(1, minor).expect("a version");
        let config = FleetConfig::uniform(1, 20, 29).with_server_version(version);
        let fleet = TestFleet::start(config).await;
        let cluster = &fleet.fleet.clusters()[0];
        cluster.set_faults(Faults {
            unavailable_api_groups: vec![BROKEN_GROUP.to_string()],
            ..Faults::default()
        });
        let what = format!("1.{minor}");
        // kubectl still works, as on a real cluster with a broken metrics-server.
        kq_tests::kubectl_ok(&fleet.kubeconfig, &["get", "pods", "-A", "-o", "name"]).await;

        let out = fleet
            .kq(&[
                "-o",
                "ndjson",
                "SELECT count(*) AS n FROM certificates; \
                 SELECT severity, kind, \"table\", error FROM kq_errors",
            ])
            .await;
        ok(&out);
        let rows = ndjson_rows(&out);
        assert_eq!(
            rows[0]["n"].as_u64(),
            Some(cluster.objects("certificates").len() as u64),
            "{what}: the CRD table answers: {rows:?}"
        );
        let errors: Vec<&Value> = rows.iter().filter(|r| r.get("kind").is_some()).collect();
        assert_eq!(errors.len(), 1, "{what}: one record: {errors:?}");
        assert_eq!(errors[0]["severity"], "warning", "{what}");
        assert_eq!(errors[0]["table"], "(discovery)", "{what}");
        let message = text(errors[0], "error");
        assert!(
            message.contains(BROKEN_GROUP),
            "{what}: names the group: {message}"
        );
        let err = stderr(&out);
        assert!(
            err.contains("warning") && err.contains(BROKEN_GROUP),
            "{what}: said on stderr: {err}"
        );

        let tables = fleet.kq(&["tables"]).await;
        let listed = ok(&tables);
        for table in ["pods", "certificates", "containers"] {
            assert!(listed.contains(table), "{what}: kq tables lists {table}");
        }
        assert!(
            stderr(&tables).contains(BROKEN_GROUP),
            "{what}: kq tables names the broken group: {}",
            stderr(&tables)
        );
    }
}
