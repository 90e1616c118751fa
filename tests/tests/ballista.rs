//! `kq --ballista`: queries over snapshots run on Apache Ballista give the
//! rows kq gives running them itself, on an in-process standalone cluster
//! and on a scheduler and two executors as separate `kq-ballista`
//! processes; what cannot run there is refused in one sentence.
#![cfg(feature = "ballista")]

use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use kq_sim::FleetConfig;
use kq_tests::{
    Processes, TestFleet, free_port, kq_ballista_binary, ndjson_rows, ok, run_kq_raw, stderr,
    stdout,
};
use serde_json::Value;

/// The seed query, a GROUP BY over every cluster, and a join through kq's
/// functions (selector_matches, image_registry, parse_quantity).
const QUERIES: [&str; 3] = [
    "SELECT DISTINCT image FROM containers WHERE image LIKE '%mysql%'",
    "SELECT cluster, namespace, phase, count(*) AS pods, sum(restarts) AS restarts \
     FROM pods GROUP BY cluster, namespace, phase",
    "SELECT s.cluster, s.namespace, s.name AS service, image_registry(c.image) AS registry, \
     count(*) AS containers, sum(parse_quantity(c.cpu_request)) AS cpu \
     FROM services s \
     JOIN pods p ON p.cluster = s.cluster AND p.namespace = s.namespace \
      AND selector_matches(s.selector, p.labels) \
     JOIN containers c ON c.cluster = p.cluster AND c.pod_uid = p.uid \
     GROUP BY 1, 2, 3, 4",
];

/// Rows as sorted JSON text: Ballista's stages may return them in any order.
fn sorted_rows(out: &Output) -> Vec<String> {
    let mut rows: Vec<String> = ndjson_rows(out).iter().map(Value::to_string).collect();
    rows.sort();
    rows
}

async fn query(snapshots: &str, ballista: Option<&str>, sql: &str) -> Output {
    let mut args = vec!["--snapshots".to_string(), snapshots.to_string()];
    if let Some(url) = ballista {
        args.extend(["--ballista".to_string(), url.to_string()]);
    }
    args.extend(["-o".to_string(), "ndjson".to_string(), sql.to_string()]);
    run_kq_raw(args).await
}

/// Snapshots of the demo fleet, written by the real binary.
async fn demo_snapshots(dir: &Path) -> String {
    let fleet = TestFleet::start(FleetConfig::demo()).await;
    let snap = dir.join("snap").to_str().expect("utf-8 path").to_string();
    ok(&fleet.kq(&["snapshot", "-A", "--to", &snap]).await);
    snap
}

async fn assert_same_rows_as_local(snap: &str, ballista: &str) {
    for sql in QUERIES {
        let local = query(snap, None, sql).await;
        ok(&local);
        let expected = sorted_rows(&local);
        assert!(!expected.is_empty(), "the query finds rows: {sql}");
        let remote = query(snap, Some(ballista), sql).await;
        ok(&remote);
        assert_eq!(sorted_rows(&remote), expected, "{sql} on {ballista}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn an_in_process_ballista_cluster_answers_as_kq_does() {
    let dir = tempfile::tempdir().expect("temp dir");
    let snap = demo_snapshots(dir.path()).await;
    assert_same_rows_as_local(&snap, "standalone").await;

    // The plan really went through Ballista's stages.
    let explain = query(
        &snap,
        Some("standalone"),
        "EXPLAIN SELECT cluster, count(*) FROM pods GROUP BY cluster",
    )
    .await;
    ok(&explain);
    assert!(
        stdout(&explain).contains("distributed_plan"),
        "{}",
        stdout(&explain)
    );
}

fn spawn_ballista(args: &[String]) -> Child {
    Command::new(kq_ballista_binary())
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start kq-ballista")
}

/// Waits until the scheduler accepts connections (or fails the test).
fn wait_for_listener(port: u16, processes: &mut Processes) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        for child in &mut processes.0 {
            if let Ok(Some(status)) = child.try_wait() {
                panic!("a kq-ballista process exited early: {status}");
            }
        }
        assert!(Instant::now() < deadline, "the scheduler never listened");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_scheduler_and_two_executor_processes_answer_as_kq_does() {
    let dir = tempfile::tempdir().expect("temp dir");
    let snap = demo_snapshots(dir.path()).await;

    let scheduler_port = free_port();
    let mut processes = Processes(vec![spawn_ballista(&[
        "scheduler".into(),
        "--bind".into(),
        format!("127.0.0.1:{scheduler_port}"),
    ])]);
    wait_for_listener(scheduler_port, &mut processes);
    for _ in 0..2 {
        processes.0.push(spawn_ballista(&[
            "executor".into(),
            "--scheduler".into(),
            format!("127.0.0.1:{scheduler_port}"),
            "--bind".into(),
            format!("127.0.0.1:{}", free_port()),
            "--grpc-port".into(),
            free_port().to_string(),
            "--external-host".into(),
            "127.0.0.1".into(),
            "--vcores".into(),
            "2".into(),
        ]));
    }
    let url = format!("df://127.0.0.1:{scheduler_port}");
    assert_same_rows_as_local(&snap, &url).await;

    // A live table cannot travel to the executors: one sentence, before
    // anything is sent.
    let live = query(&snap, Some(&url), "SELECT count(*) FROM public.pods").await;
    assert_one_line_error(&live, "cannot be read on Ballista");
}

#[track_caller]
fn assert_one_line_error(out: &Output, needle: &str) {
    assert_eq!(out.status.code(), Some(2), "exit 2: {}", stderr(out));
    assert!(stdout(out).is_empty(), "nothing on stdout: {}", stdout(out));
    let err = stderr(out);
    assert_eq!(err.trim().lines().count(), 1, "one line: {err}");
    assert!(err.contains(needle), "stderr says {needle:?}: {err}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_scheduler_that_is_not_there_is_one_sentence() {
    let dir = tempfile::tempdir().expect("temp dir");
    let snap = demo_snapshots(dir.path()).await;
    // A port nothing listens on: bound, then released.
    let closed = format!("df://127.0.0.1:{}", free_port());
    let out = query(&snap, Some(&closed), "SELECT count(*) FROM pods").await;
    assert_one_line_error(
        &out,
        "connection refused; start one with `kq-ballista scheduler`",
    );

    let out = query(&snap, Some("ftp://host"), "SELECT count(*) FROM pods").await;
    assert_one_line_error(&out, "use df://HOST:PORT");

    // Writing snapshots, diffs and watches run here, never on Ballista.
    let out = run_kq_raw(vec![
        "diff".into(),
        "--snapshots".into(),
        snap.clone(),
        "--ballista".into(),
        "standalone".into(),
    ])
    .await;
    assert_one_line_error(&out, "--ballista only applies to queries");
}
