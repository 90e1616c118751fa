//! `kq snapshot`, `kq --snapshots`, `--at`, `--history` and `kq diff`,
//! end to end: the real binary against the sim, expected rows from the
//! sim's store or from kq's live answer over the same state, never from
//! the snapshot itself.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Output;

use kq_sim::{Faults, FleetConfig};
use kq_tests::{KqProcess, TestFleet, ndjson_rows, ok, stderr, stdout, text};
use serde_json::{Value, json};

const SEED: u64 = 1705;

fn manifests(dir: &Path) -> Vec<Value> {
    let mut paths: Vec<PathBuf> = std::fs::read_dir(dir.join("_kq/manifests"))
        .map(|entries| entries.map(|e| e.expect("dir entry").path()).collect())
        .unwrap_or_default();
    paths.sort();
    paths
        .iter()
        .map(|p| {
            serde_json::from_slice(&std::fs::read(p).expect("read manifest"))
                .expect("manifest JSON")
        })
        .collect()
}

/// (cluster, uid) of every pod the sim holds.
fn sim_pods(fleet: &TestFleet) -> BTreeSet<(String, String)> {
    let mut truth = BTreeSet::new();
    for cluster in fleet.fleet.clusters() {
        for pod in cluster.objects("pods") {
            truth.insert((
                cluster.name().to_string(),
                pod["metadata"]["uid"].as_str().expect("uid").to_string(),
            ));
        }
    }
    truth
}

fn cluster_uids(out: &Output) -> BTreeSet<(String, String)> {
    ndjson_rows(out)
        .iter()
        .map(|r| (text(r, "cluster"), text(r, "uid")))
        .collect()
}

/// Rows as sorted JSON text, for comparing whole tables.
fn sorted_rows(out: &Output) -> Vec<String> {
    let mut rows: Vec<String> = ndjson_rows(out).iter().map(Value::to_string).collect();
    rows.sort();
    rows
}

#[track_caller]
fn assert_usage_error(out: &Output, needle: &str) {
    assert_eq!(
        out.status.code(),
        Some(2),
        "exit 2\nstderr:\n{}",
        stderr(out)
    );
    assert!(stdout(out).is_empty(), "nothing on stdout: {}", stdout(out));
    let err = stderr(out);
    assert_eq!(err.trim().lines().count(), 1, "one line: {err}");
    assert!(err.contains(needle), "stderr says {needle:?}: {err}");
    assert!(
        !err.contains("panicked") && !err.contains("Error {"),
        "{err}"
    );
}

/// Every table the snapshot holds equals kq's live answer over the same
/// (unchanged) state, column for column; the layout is Hive's.
#[tokio::test(flavor = "multi_thread")]
async fn a_snapshot_holds_every_table_as_the_live_clusters_answer() {
    let fleet = TestFleet::start(FleetConfig::uniform(2, 40, SEED)).await;
    let dir = tempfile::tempdir().expect("temp dir");
    let snap = dir.path().join("snap");
    let snap_arg = snap.to_str().expect("utf-8 path");
    let out = fleet.kq(&["snapshot", "-A", "--to", snap_arg]).await;
    ok(&out);
    assert!(stderr(&out).contains("kq snapshot: "), "{}", stderr(&out));

    let written = manifests(&snap);
    assert_eq!(written.len(), 1);
    let manifest = &written[0];
    let id = manifest["id"].as_str().expect("id");
    assert!(
        manifest["clusters"]
            .as_array()
            .expect("clusters")
            .iter()
            .all(|c| c["status"] == "ok"),
        "{manifest}"
    );
    let tables: Vec<String> = manifest["tables"]
        .as_array()
        .expect("tables")
        .iter()
        .map(|t| t.as_str().expect("name").to_string())
        .collect();
    for table in [
        "pods",
        "containers",
        "deployments",
        "services",
        "nodes",
        "role_rules",
    ] {
        assert!(tables.contains(&table.to_string()), "{table} in {tables:?}");
    }
    // One file per (table, cluster), where Hive readers look for it.
    let files = manifest["files"].as_array().expect("files");
    assert_eq!(files.len(), tables.len() * 2);
    let today = chrono::Utc::now().format("%Y-%m-%d").to_string();
    for file in files {
        let path = file["path"].as_str().expect("path");
        let table = file["table"].as_str().expect("table");
        let cluster = file["cluster"].as_str().expect("cluster");
        assert!(
            path == format!("table={table}/cluster={cluster}/date={today}/{id}.parquet")
                || !path.contains(&today),
            "{path}"
        );
        assert!(snap.join(path).is_file(), "{path} exists");
    }

    // The pods are the sim's, each with the list's resourceVersion.
    let out = fleet
        .kq(&[
            "--snapshots",
            snap_arg,
            "-o",
            "ndjson",
            "SELECT cluster, uid, observed_at, resource_version FROM pods",
        ])
        .await;
    assert_eq!(cluster_uids(&out), sim_pods(&fleet));
    let versions: BTreeMap<String, BTreeSet<String>> =
        ndjson_rows(&out).iter().fold(BTreeMap::new(), |mut m, r| {
            m.entry(text(r, "cluster"))
                .or_default()
                .insert(text(r, "resource_version"));
            m
        });
    for (cluster, set) in &versions {
        assert_eq!(
            set.len(),
            1,
            "one resourceVersion per cluster's list: {cluster} {set:?}"
        );
        assert!(!set.iter().next().expect("one").is_empty(), "{cluster}");
    }

    // Every table, every column: the snapshot answers what the clusters
    // answered (maps, lists, timestamps and JSON survive the round trip).
    for table in &tables {
        let live = fleet
            .kq(&["-A", "-o", "ndjson", &format!("SELECT * FROM {table}")])
            .await;
        let stored = fleet
            .kq(&[
                "--snapshots",
                snap_arg,
                "-o",
                "ndjson",
                &format!("SELECT * EXCLUDE (observed_at, resource_version) FROM {table}"),
            ])
            .await;
        let (live, stored) = (sorted_rows(&live), sorted_rows(&stored));
        assert_eq!(live.len(), stored.len(), "{table}: row count");
        assert!(
            live == stored,
            "{table}: rows differ; first live {:?}, first stored {:?}",
            live.first(),
            stored.first()
        );
    }

    // Any engine reads the layout with no kq code: DataFusion's own
    // Hive-partitioned listing over table=pods/ (cluster and date from paths).
    let ctx = datafusion::prelude::SessionContext::new();
    let options = datafusion::prelude::ParquetReadOptions::default().table_partition_cols(vec![
        (
            "cluster".to_string(),
            datafusion::arrow::datatypes::DataType::Utf8,
        ),
        (
            "date".to_string(),
            datafusion::arrow::datatypes::DataType::Utf8,
        ),
    ]);
    ctx.register_parquet(
        "pods",
        snap.join("table=pods").to_str().expect("path"),
        options,
    )
    .await
    .expect("DataFusion reads the layout");
    let batches = ctx
        .sql("SELECT cluster, count(*) AS n FROM pods GROUP BY cluster ORDER BY cluster")
        .await
        .expect("plan")
        .collect()
        .await
        .expect("run");
    let text = datafusion::arrow::util::pretty::pretty_format_batches(&batches)
        .expect("format")
        .to_string();
    for cluster in fleet.fleet.clusters() {
        let line = format!("| {} | {}", cluster.name(), cluster.objects("pods").len());
        assert!(text.contains(&line), "{line} in\n{text}");
    }

    // A compliance report over the snapshot judges exactly what it judges
    // over the clusters (views such as template_containers included).
    let live_report = fleet.kq(&["report", "-A", "--format", "json"]).await;
    let stored_report = fleet
        .kq(&["report", "--snapshots", snap_arg, "--format", "json"])
        .await;
    assert_eq!(live_report.status.code(), stored_report.status.code());
    let verdicts = |out: &Output| -> (Value, Vec<(String, Value)>, Value) {
        let report: Value = serde_json::from_str(&stdout(out)).expect("report JSON");
        let mut controls: Vec<(String, Value)> = report["controls"]
            .as_array()
            .expect("controls")
            .iter()
            .map(|c| (c["control"]["id"].to_string(), c["counts"].clone()))
            .collect();
        controls.sort_by(|a, b| a.0.cmp(&b.0));
        (
            report["totals"].clone(),
            controls,
            report["clusters"].clone(),
        )
    };
    let (live_totals, live_controls, live_clusters) = verdicts(&live_report);
    let (stored_totals, stored_controls, stored_clusters) = verdicts(&stored_report);
    assert_eq!(live_totals, stored_totals);
    assert!(
        live_totals["alarm"].as_u64().expect("alarms") > 0,
        "{live_totals}"
    );
    assert_eq!(live_controls, stored_controls);
    let mut live_clusters: Vec<String> = serde_json::from_value(live_clusters).expect("names");
    live_clusters.sort();
    assert_eq!(json!(live_clusters), stored_clusters);

    // Snapshot tables join live ones, under schema `snapshots`.
    let out = fleet
        .kq(&[
            "-A",
            "--snapshots",
            snap_arg,
            "-o",
            "ndjson",
            "SELECT l.cluster, l.uid FROM pods l JOIN snapshots.pods s ON l.cluster = s.cluster AND l.uid = s.uid",
        ])
        .await;
    assert_eq!(cluster_uids(&out), sim_pods(&fleet));
}

fn pod(namespace: &str, name: &str) -> Value {
    json!({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": namespace, "labels": {"app": name}},
        "spec": {"containers": [{"name": "main", "image": "nginx:1.27"}], "nodeName": "node-0"},
        "status": {"phase": "Running"}
    })
}

/// Two snapshots with changes between them: latest, `--at`, `--history`
/// and `kq diff` (snapshot to snapshot and snapshot to now).
#[tokio::test(flavor = "multi_thread")]
async fn time_travel_and_diff_follow_the_changes() {
    let fleet = TestFleet::start(FleetConfig::uniform(2, 30, SEED)).await;
    let dir = tempfile::tempdir().expect("temp dir");
    let snap = dir.path().join("snap");
    let snap_arg = snap.to_str().expect("utf-8 path");
    ok(&fleet
        .kq(&[
            "snapshot",
            "-A",
            "--to",
            snap_arg,
            "--tables",
            "pods,deployments,containers",
        ])
        .await);
    let before = sim_pods(&fleet);

    // Between the snapshots: one pod deleted, one created, one deployment scaled.
    let cluster = fleet.cluster("cluster-1");
    let victim = cluster.objects("pods")[0].clone();
    let victim_ns = victim["metadata"]["namespace"]
        .as_str()
        .expect("ns")
        .to_string();
    let victim_name = victim["metadata"]["name"]
        .as_str()
        .expect("name")
        .to_string();
    cluster
        .delete("pods", Some(&victim_ns), &victim_name)
        .expect("delete");
    let created = cluster.upsert(pod("default", "newcomer")).expect("create");
    let mut deployment = cluster.objects("deployments")[0].clone();
    let old_replicas = deployment["spec"]["replicas"].as_i64().unwrap_or(1);
    deployment["spec"]["replicas"] = json!(old_replicas + 3);
    let deployment_name = deployment["metadata"]["name"]
        .as_str()
        .expect("name")
        .to_string();
    cluster.upsert(deployment).expect("scale");

    ok(&fleet
        .kq(&[
            "snapshot",
            "-A",
            "--to",
            snap_arg,
            "--tables",
            "pods,deployments,containers",
        ])
        .await);
    let after = sim_pods(&fleet);
    let written = manifests(&snap);
    assert_eq!(written.len(), 2);
    let first_at = written[0]["taken_at"]
        .as_str()
        .expect("taken_at")
        .to_string();

    let fleet_ref = &fleet;
    let pods = |extra: &[&str]| {
        let mut args = vec!["--snapshots", snap_arg, "-o", "ndjson"];
        args.extend_from_slice(extra);
        args.push("SELECT cluster, uid, observed_at FROM pods");
        let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
        async move {
            let refs: Vec<&str> = args.iter().map(String::as_str).collect();
            fleet_ref.kq(&refs).await
        }
    };
    assert_eq!(cluster_uids(&(pods(&[])).await), after, "latest");
    assert_eq!(
        cluster_uids(&(pods(&["--at", &first_at])).await),
        before,
        "--at the first"
    );
    let history = (pods(&["--history"])).await;
    assert_eq!(ndjson_rows(&history).len(), before.len() + after.len());
    let instants: BTreeSet<String> = ndjson_rows(&history)
        .iter()
        .map(|r| text(r, "observed_at"))
        .collect();
    assert!(instants.len() >= 2, "two snapshots' times: {instants:?}");

    // kq diff between the two snapshots: exactly the three changes.
    let out = fleet
        .kq(&[
            "diff",
            "--snapshots",
            snap_arg,
            "--from",
            &first_at,
            "-o",
            "ndjson",
            "pods",
            "deployments",
        ])
        .await;
    assert_eq!(
        out.status.code(),
        Some(1),
        "changes exit 1\n{}",
        stderr(&out)
    );
    let changes: BTreeSet<(String, String, String, String)> = ndjson_rows(&out)
        .iter()
        .map(|r| {
            (
                text(r, "table"),
                text(r, "cluster"),
                text(r, "name"),
                text(r, "change"),
            )
        })
        .collect();
    let expected: BTreeSet<(String, String, String, String)> = [
        ("pods", victim_name.as_str(), "removed"),
        ("pods", "newcomer", "added"),
        ("deployments", deployment_name.as_str(), "changed"),
    ]
    .iter()
    .map(|(t, n, c)| {
        (
            t.to_string(),
            "cluster-1".to_string(),
            n.to_string(),
            c.to_string(),
        )
    })
    .collect();
    assert_eq!(changes, expected);
    let scaled = ndjson_rows(&out)
        .into_iter()
        .find(|r| text(r, "change") == "changed")
        .expect("the scaled deployment");
    let columns = text(&scaled, "columns");
    assert!(columns.split(',').any(|c| c == "replicas"), "{columns}");
    assert!(columns.split(',').any(|c| c == "spec"), "{columns}");
    assert!(
        !columns.contains("observed_at") && !columns.contains("resource_version"),
        "{columns}"
    );
    assert_eq!(
        text(
            ndjson_rows(&out)
                .iter()
                .find(|r| text(r, "name") == "newcomer")
                .expect("added"),
            "uid"
        ),
        created["metadata"]["uid"].as_str().expect("uid")
    );

    // No change from the latest snapshot to itself; against now, a new change.
    let latest_at = written[1]["taken_at"].as_str().expect("taken_at");
    let out = fleet
        .kq(&["diff", "--snapshots", snap_arg, "--from", latest_at, "pods"])
        .await;
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    cluster
        .delete("pods", Some("default"), "newcomer")
        .expect("delete");
    let out = fleet
        .kq(&[
            "diff",
            "-A",
            "--snapshots",
            snap_arg,
            "--from",
            latest_at,
            "--to",
            "now",
            "-o",
            "ndjson",
            "pods",
        ])
        .await;
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let rows = ndjson_rows(&out);
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!(text(&rows[0], "name"), "newcomer");
    assert_eq!(text(&rows[0], "change"), "removed");

    // Before the first snapshot there is nothing to travel to.
    let out = fleet
        .kq(&[
            "--snapshots",
            snap_arg,
            "--at",
            "2000-01-01",
            "SELECT count(*) FROM pods",
        ])
        .await;
    assert_usage_error(&out, "no snapshot");
}

/// A cluster that cannot be read is recorded as failed, never as zero
/// rows; readers fall back to its last good snapshot and say so.
#[tokio::test(flavor = "multi_thread")]
async fn a_failed_cluster_is_recorded_failed_and_readers_say_so() {
    let fleet = TestFleet::start(FleetConfig::uniform(2, 20, SEED)).await;
    let dir = tempfile::tempdir().expect("temp dir");
    let snap = dir.path().join("snap");
    let snap_arg = snap.to_str().expect("utf-8 path");
    let before = sim_pods(&fleet);
    ok(&fleet
        .kq(&["snapshot", "-A", "--to", snap_arg, "--tables", "pods"])
        .await);

    let dead = fleet.cluster("cluster-1");
    dead.set_faults(Faults {
        down: true,
        ..Faults::default()
    });
    let out = fleet
        .kq(&[
            "snapshot",
            "-A",
            "--to",
            snap_arg,
            "--tables",
            "pods",
            "--timeout",
            "2",
        ])
        .await;
    assert_eq!(
        out.status.code(),
        Some(0),
        "partial is not an error\n{}",
        stderr(&out)
    );
    assert!(
        stderr(&out).contains("cluster 'cluster-1'"),
        "{}",
        stderr(&out)
    );
    let out = fleet
        .kq(&[
            "snapshot",
            "-A",
            "--strict",
            "--to",
            snap_arg,
            "--tables",
            "pods",
            "--timeout",
            "2",
        ])
        .await;
    assert_eq!(out.status.code(), Some(1), "--strict\n{}", stderr(&out));
    let written = manifests(&snap);
    let latest = written.last().expect("manifest");
    let status: BTreeMap<String, String> = latest["clusters"]
        .as_array()
        .expect("clusters")
        .iter()
        .map(|c| (text(c, "name"), text(c, "status")))
        .collect();
    assert_eq!(status["cluster-1"], "failed");
    assert_eq!(status["cluster-0"], "ok");
    assert!(
        latest["files"]
            .as_array()
            .expect("files")
            .iter()
            .all(|f| f["cluster"] == "cluster-0"),
        "no file, not an empty one, for the failed cluster"
    );
    assert!(
        latest["failures"]
            .as_array()
            .expect("failures")
            .iter()
            .any(|f| f["cluster"] == "cluster-1" && f["severity"] == "error"),
        "{latest}"
    );

    // The latest view: cluster-1 from the first snapshot, with a warning.
    let out = fleet
        .kq(&[
            "--snapshots",
            snap_arg,
            "-o",
            "ndjson",
            "SELECT cluster, uid FROM pods",
        ])
        .await;
    assert_eq!(cluster_uids(&out), before);
    assert!(
        stderr(&out).contains("cluster 'cluster-1'")
            && stderr(&out).contains("rows are from snapshot"),
        "{}",
        stderr(&out)
    );
    let out = fleet
        .kq(&[
            "--snapshots",
            snap_arg,
            "-o",
            "ndjson",
            "SELECT cluster, severity FROM kq_errors",
        ])
        .await;
    assert!(
        ndjson_rows(&out)
            .iter()
            .any(|r| text(r, "cluster") == "cluster-1" && text(r, "severity") == "warning"),
        "{}",
        stdout(&out)
    );

    // Nothing readable at all: exit 2 (the manifest still records why).
    let out = fleet
        .kq(&[
            "snapshot",
            "--context",
            "cluster-1",
            "--to",
            dir.path().join("dead-only").to_str().expect("path"),
            "--timeout",
            "2",
        ])
        .await;
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stdout(&out).is_empty());
    assert_eq!(manifests(&dir.path().join("dead-only")).len(), 1);

    // A store where cluster-1 was never read: an error row, not zero rows.
    let only_failed = dir.path().join("only-failed");
    let only_arg = only_failed.to_str().expect("path");
    let out = fleet
        .kq(&[
            "snapshot",
            "-A",
            "--to",
            only_arg,
            "--tables",
            "pods",
            "--timeout",
            "2",
        ])
        .await;
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let out = fleet
        .kq(&[
            "--snapshots",
            only_arg,
            "-o",
            "ndjson",
            "SELECT cluster, count(*) AS n FROM pods GROUP BY cluster",
        ])
        .await;
    let clusters: Vec<String> = ndjson_rows(&out)
        .iter()
        .map(|r| text(r, "cluster"))
        .collect();
    assert_eq!(clusters, vec!["cluster-0".to_string()]);
    assert!(
        stderr(&out).contains("no snapshot could read this table"),
        "{}",
        stderr(&out)
    );
}

/// Files without a manifest (an interrupted run) are never read; the next
/// snapshot removes them once old, and leaves other files alone.
#[tokio::test(flavor = "multi_thread")]
async fn an_interrupted_snapshot_is_invisible_and_cleaned_up() {
    let fleet = TestFleet::start(FleetConfig::uniform(1, 10, SEED)).await;
    let dir = tempfile::tempdir().expect("temp dir");
    let snap = dir.path().join("snap");
    let snap_arg = snap.to_str().expect("utf-8 path");
    ok(&fleet
        .kq(&["snapshot", "-A", "--to", snap_arg, "--tables", "pods"])
        .await);
    let manifest = &manifests(&snap)[0];
    let real = snap.join(manifest["files"][0]["path"].as_str().expect("path"));
    let partition = real.parent().expect("partition dir");

    // What a run killed before its manifest leaves: a complete-looking file.
    let orphan = partition.join("20200101T000000.000Z-0badf00d.parquet");
    let young = partition.join("20200101T000000.000Z-0000beef.parquet");
    let foreign = partition.join("part-00000.parquet");
    for path in [&orphan, &young, &foreign] {
        std::fs::copy(&real, path).expect("copy");
    }
    let old = std::time::SystemTime::now() - std::time::Duration::from_secs(2 * 3600);
    for path in [&orphan, &foreign] {
        std::fs::File::options()
            .write(true)
            .open(path)
            .and_then(|f| f.set_modified(old))
            .expect("age the file");
    }
    let out = fleet
        .kq(&[
            "--snapshots",
            snap_arg,
            "-o",
            "ndjson",
            "SELECT cluster, uid FROM pods",
        ])
        .await;
    assert_eq!(cluster_uids(&out), sim_pods(&fleet));
    assert_eq!(
        ndjson_rows(&out).len(),
        sim_pods(&fleet).len(),
        "no row read twice"
    );

    ok(&fleet
        .kq(&["snapshot", "-A", "--to", snap_arg, "--tables", "pods"])
        .await);
    assert!(!orphan.exists(), "the old orphan is removed");
    assert!(young.exists(), "a young one may be a writer still running");
    assert!(foreign.exists(), "files kq did not write are never touched");
    assert!(real.exists(), "files a manifest names stay");
}

/// Bad locations, manifests and files: one sentence, exit 2, no stdout.
#[tokio::test(flavor = "multi_thread")]
async fn bad_snapshot_input_is_one_sentence() {
    let fleet = TestFleet::start(FleetConfig::uniform(1, 5, SEED)).await;
    let dir = tempfile::tempdir().expect("temp dir");
    let snap = dir.path().join("snap");
    let snap_arg = snap.to_str().expect("utf-8 path");

    assert_usage_error(&fleet.kq(&["snapshot", "-A"]).await, "needs --to");
    assert_usage_error(
        &fleet
            .kq(&["snapshot", "-A", "--to", snap_arg, "--tables", "podz"])
            .await,
        "did you mean 'pods'",
    );
    assert_usage_error(
        &fleet
            .kq(&[
                "--snapshots",
                dir.path().join("missing").to_str().expect("p"),
                "SELECT 1",
            ])
            .await,
        "no such directory",
    );
    assert_usage_error(
        &fleet
            .kq(&["--snapshots", dir.path().to_str().expect("p"), "SELECT 1"])
            .await,
        "no snapshot in",
    );
    assert_usage_error(
        &fleet
            .kq(&["snapshot", "-A", "--to", "ftp://bucket/prefix"])
            .await,
        "ftp:// is not supported",
    );
    assert_usage_error(
        &fleet.kq(&["snapshot", "-A", "--to", "gs://"]).await,
        "names no bucket",
    );
    // A lean kq says how to get each store; one built with it tries the bucket.
    #[cfg(not(feature = "aws"))]
    assert_usage_error(
        &fleet
            .kq(&["snapshot", "-A", "--to", "s3://bucket/prefix"])
            .await,
        "built without S3 support",
    );
    #[cfg(not(feature = "gcs"))]
    assert_usage_error(
        &fleet
            .kq(&["snapshot", "-A", "--to", "gs://bucket/prefix"])
            .await,
        "built without Google Cloud Storage support",
    );
    #[cfg(not(feature = "azure-blob"))]
    assert_usage_error(
        &fleet
            .kq(&["snapshot", "-A", "--to", "az://container/prefix"])
            .await,
        "built without Azure Blob Storage support",
    );
    assert_usage_error(
        &fleet
            .kq(&["watch", "--snapshots", snap_arg, "SELECT 1"])
            .await,
        "snapshots do not change",
    );
    assert_usage_error(
        &fleet.kq(&["-A", "--to", snap_arg, "SELECT 1"]).await,
        "only applies to kq snapshot",
    );
    let file = dir.path().join("a-file");
    std::fs::write(&file, "x").expect("write");
    assert_usage_error(
        &fleet
            .kq(&["snapshot", "-A", "--to", file.to_str().expect("p")])
            .await,
        "cannot create the directory",
    );

    ok(&fleet
        .kq(&["snapshot", "-A", "--to", snap_arg, "--tables", "pods"])
        .await);
    let manifest_path = std::fs::read_dir(snap.join("_kq/manifests"))
        .expect("manifests")
        .next()
        .expect("one")
        .expect("entry")
        .path();
    let original = std::fs::read(&manifest_path).expect("read");
    let mut manifest: Value = serde_json::from_slice(&original).expect("json");

    // A Parquet file that is not one.
    let parquet = snap.join(manifest["files"][0]["path"].as_str().expect("path"));
    let parquet_bytes = std::fs::read(&parquet).expect("read");
    std::fs::write(&parquet, b"not parquet at all").expect("write");
    assert_usage_error(
        &fleet
            .kq(&["--snapshots", snap_arg, "SELECT count(*) FROM pods"])
            .await,
        "cannot read Parquet file",
    );
    std::fs::write(&parquet, parquet_bytes).expect("restore");

    // A manifest from a newer kq, then one that is not a manifest.
    manifest["format"] = json!(99);
    std::fs::write(&manifest_path, manifest.to_string()).expect("write");
    assert_usage_error(
        &fleet
            .kq(&["--snapshots", snap_arg, "SELECT count(*) FROM pods"])
            .await,
        "newer kq",
    );
    std::fs::write(&manifest_path, b"{\"tables\": 3}").expect("write");
    assert_usage_error(
        &fleet
            .kq(&["--snapshots", snap_arg, "SELECT count(*) FROM pods"])
            .await,
        "not a kq snapshot manifest",
    );
    std::fs::write(&manifest_path, original).expect("restore");
    ok(&fleet
        .kq(&["--snapshots", snap_arg, "SELECT count(*) FROM pods"])
        .await);
}

/// `--every`: the first snapshot lists, later ones read the watch-fed
/// cache, so the server sees one list per resource and cluster.
#[tokio::test(flavor = "multi_thread")]
async fn repeated_snapshots_read_the_watch_fed_cache() {
    let fleet = TestFleet::start(FleetConfig::uniform(1, 25, SEED)).await;
    let dir = tempfile::tempdir().expect("temp dir");
    let snap = dir.path().join("snap");
    let snap_arg = snap.to_str().expect("utf-8 path");
    let cluster = fleet.cluster("cluster-0");
    cluster.reset_counters();
    let process = KqProcess::spawn(
        &fleet.kubeconfig,
        &[
            "snapshot",
            "-A",
            "--to",
            snap_arg,
            "--tables",
            "pods,containers",
            "--every",
            "200ms",
        ],
    );
    // Each run ends with one stderr summary line; wait for three.
    let mut summaries = 0;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
    while summaries < 3 {
        assert!(
            std::time::Instant::now() < deadline,
            "three snapshots: {}",
            process.stderr()
        );
        summaries = process.stderr().matches("kq snapshot: 2").count();
        tokio::task::yield_now().await;
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    process.interrupt();
    let (code, _) = process.wait().await;
    assert_eq!(code, Some(0));
    let written = manifests(&snap);
    assert!(written.len() >= 3, "{} snapshots", written.len());
    for manifest in &written {
        assert_eq!(
            manifest["files"].as_array().expect("files").len(),
            2,
            "{manifest}"
        );
    }
    let pod_lists = cluster
        .counters()
        .requests
        .iter()
        .filter(|r| r.verb == "list" && r.path == "/api/v1/pods")
        .count();
    assert_eq!(
        pod_lists, 1,
        "pods and containers, every run: one list, then the watch"
    );
    assert!(
        cluster
            .counters()
            .requests
            .iter()
            .any(|r| r.verb == "watch"),
        "a watch keeps the cache current"
    );
}

/// S3 credentials of the moto fleet's `default` profile, as environment
/// variables (object_store reads the environment, not profile files).
#[cfg(feature = "aws")]
fn s3_env(moto: &kq_tests::aws::MotoFleet) -> Vec<(String, String)> {
    let credentials = std::fs::read_to_string(moto.credentials_file()).expect("credentials");
    let default: Vec<&str> = credentials
        .split("\n[")
        .find(|section| section.trim_start_matches('[').starts_with("default]"))
        .expect("a [default] profile")
        .lines()
        .collect();
    let value = |key: &str| {
        default
            .iter()
            .find_map(|line| line.strip_prefix(key))
            .and_then(|rest| rest.split_once('=').map(|(_, v)| v))
            .map(|v| v.trim().to_string())
            .unwrap_or_else(|| panic!("{key} in [default]"))
    };
    vec![
        ("AWS_ACCESS_KEY_ID".into(), value("aws_access_key_id")),
        (
            "AWS_SECRET_ACCESS_KEY".into(),
            value("aws_secret_access_key"),
        ),
        ("AWS_REGION".into(), "us-east-1".into()),
        (
            "AWS_ENDPOINT".into(),
            moto.info["endpoint"]
                .as_str()
                .expect("endpoint")
                .to_string(),
        ),
        ("AWS_ALLOW_HTTP".into(), "true".into()),
        ("AWS_EC2_METADATA_DISABLED".into(), "true".into()),
    ]
}

/// S3 that throttles every other request is retried through; S3 that
/// refuses every Parquet upload fails the snapshot, and the manifest is
/// never written, so readers still see only complete snapshots.
#[cfg(feature = "aws")]
#[tokio::test(flavor = "multi_thread")]
async fn throttled_and_failed_uploads_never_leave_a_manifest_naming_a_missing_file() {
    use hyper::StatusCode;
    use kq_tests::faulty::FaultyProxy;
    use std::sync::Arc;
    let fleet = TestFleet::start(FleetConfig::uniform(2, 15, SEED)).await;
    let moto = kq_tests::aws::MotoFleet::start_with(&["--no-auth"]);
    let bucket = moto.list("s3_buckets")[0]["name"]
        .as_str()
        .expect("bucket")
        .to_string();
    let endpoint = moto.info["endpoint"]
        .as_str()
        .expect("endpoint")
        .to_string();
    let url = format!("s3://{bucket}/faults");
    let kubeconfig = fleet.kubeconfig.to_str().expect("path").to_string();
    let run = |args: &[&str], endpoint: &str| {
        let mut all = vec!["--kubeconfig".to_string(), kubeconfig.clone()];
        all.extend(args.iter().map(|a| a.to_string()));
        let mut env = s3_env(&moto);
        env.retain(|(key, _)| key != "AWS_ENDPOINT");
        env.push(("AWS_ENDPOINT".into(), endpoint.to_string()));
        kq_tests::run_kq_env(all, env)
    };
    let snapshot = [
        "snapshot",
        "-A",
        "--to",
        &url,
        "--tables",
        "pods,containers",
    ];
    let history = [
        "--snapshots",
        &url,
        "--history",
        "-o",
        "ndjson",
        "SELECT cluster, uid FROM pods",
    ];

    let throttling = FaultyProxy::start(
        &endpoint,
        Arc::new(|_, _, n| (n % 2 == 1).then_some(StatusCode::SERVICE_UNAVAILABLE)),
    )
    .await;
    ok(&run(&snapshot, &throttling.url).await);
    assert!(throttling.failed() > 0, "the proxy throttled something");
    let out = run(&history, &endpoint).await;
    assert_eq!(cluster_uids(&out), sim_pods(&fleet), "{}", stderr(&out));
    assert_eq!(ndjson_rows(&out).len(), sim_pods(&fleet).len());

    let failing = FaultyProxy::start(
        &endpoint,
        Arc::new(|method, path, _| {
            (method == "PUT" && path.ends_with(".parquet"))
                .then_some(StatusCode::INTERNAL_SERVER_ERROR)
        }),
    )
    .await;
    let out = run(&snapshot, &failing.url).await;
    assert_ne!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(failing.failed() > 0, "the proxy refused an upload");
    assert!(
        stderr(&out).contains("cannot write"),
        "the failure is said: {}",
        stderr(&out)
    );
    // Still one snapshot: the failed one named nothing.
    let out = run(&history, &endpoint).await;
    ok(&out);
    assert_eq!(ndjson_rows(&out).len(), sim_pods(&fleet).len());
}

/// Snapshots in S3 (moto's): written, read back, compared; a missing
/// bucket is one sentence. moto runs without IAM enforcement here: moto
/// 5.2.1 rejects the signature of any ListObjectsV2 with a prefix (boto3's
/// too), so enforcement would test moto, not kq.
#[cfg(feature = "aws")]
#[tokio::test(flavor = "multi_thread")]
async fn snapshots_live_in_s3_too() {
    let moto = kq_tests::aws::MotoFleet::start_with(&["--no-auth"]);
    let bucket = moto.list("s3_buckets")[0]["name"]
        .as_str()
        .expect("bucket")
        .to_string();
    snapshots_round_trip_in_a_bucket(
        &format!("s3://{bucket}/kq/snapshots"),
        "s3://no-such-bucket-kq/x",
        s3_env(&moto),
    )
    .await;
}

/// Snapshots in Google Cloud Storage (fake-gcs-server).
#[cfg(feature = "gcs")]
#[tokio::test(flavor = "multi_thread")]
async fn snapshots_live_in_google_cloud_storage_too() {
    let gcs = kq_tests::emulators::Emulator::gcs(&["kq-audit"]);
    snapshots_round_trip_in_a_bucket(
        "gs://kq-audit/kq/snapshots",
        "gs://no-such-bucket-kq/x",
        gcs.gcs_env(),
    )
    .await;
}

/// Snapshots in Azure Blob Storage (Azurite).
#[cfg(feature = "azure-blob")]
#[tokio::test(flavor = "multi_thread")]
async fn snapshots_live_in_azure_blob_storage_too() {
    let azurite = kq_tests::emulators::Emulator::azurite(&["kq-audit"]);
    snapshots_round_trip_in_a_bucket(
        "az://kq-audit/kq/snapshots",
        "az://no-such-container-kq/x",
        azurite.azurite_env(),
    )
    .await;
}

/// Two snapshots written to `url`, read back (latest and history), a diff
/// before the first, one against live; then a snapshot to a bucket that
/// does not exist is one sentence naming it.
#[cfg(any(feature = "aws", feature = "gcs", feature = "azure-blob"))]
async fn snapshots_round_trip_in_a_bucket(url: &str, missing: &str, env: Vec<(String, String)>) {
    let fleet = TestFleet::start(FleetConfig::uniform(2, 15, SEED)).await;
    let kubeconfig = fleet.kubeconfig.to_str().expect("path").to_string();
    let run = |args: &[&str]| {
        let mut all = vec!["--kubeconfig".to_string(), kubeconfig.clone()];
        all.extend(args.iter().map(|a| a.to_string()));
        kq_tests::run_kq_env(all, env.clone())
    };
    for _ in 0..2 {
        ok(&run(&["snapshot", "-A", "--to", url, "--tables", "pods,containers"]).await);
    }
    let out = run(&[
        "--snapshots",
        url,
        "-o",
        "ndjson",
        "SELECT cluster, uid FROM pods",
    ])
    .await;
    assert_eq!(cluster_uids(&out), sim_pods(&fleet), "{}", stderr(&out));
    let out = run(&[
        "--snapshots",
        url,
        "--history",
        "-o",
        "ndjson",
        "SELECT cluster, uid FROM pods",
    ])
    .await;
    assert_eq!(ndjson_rows(&out).len(), 2 * sim_pods(&fleet).len());
    let out = run(&["diff", "--snapshots", url, "--from", "2000-01-01", "pods"]).await;
    assert_usage_error(&out, "no snapshot");
    let out = run(&[
        "diff",
        "-A",
        "--snapshots",
        url,
        "--from",
        "2100-01-01",
        "--to",
        "now",
        "pods",
    ])
    .await;
    assert_eq!(
        out.status.code(),
        Some(0),
        "no change since: {}",
        stderr(&out)
    );

    let out = run(&["snapshot", "-A", "--to", missing, "--tables", "pods"]).await;
    let bucket = missing
        .split_once("://")
        .and_then(|(_, rest)| rest.split('/').next())
        .expect("a bucket in the URL");
    assert_usage_error(&out, bucket);
}

/// deploy/kq-snapshot-cronjob.yaml: kubectl accepts it, its ClusterRole
/// only reads, and its arguments run (with a directory for the bucket).
#[tokio::test(flavor = "multi_thread")]
async fn the_snapshot_cronjob_applies_and_its_role_only_reads() {
    let fleet = TestFleet::start(FleetConfig::uniform(1, 5, SEED)).await;
    let manifest =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../deploy/kq-snapshot-cronjob.yaml");
    kq_tests::kubectl_ok(
        &fleet.kubeconfig,
        &["apply", "-f", manifest.to_str().expect("path")],
    )
    .await;
    let rules = fleet
        .kq(&[
            "-o",
            "ndjson",
            "SELECT verbs, resources FROM role_rules WHERE role_kind = 'ClusterRole' AND role_name = 'kq-snapshot'",
        ])
        .await;
    let rows = ndjson_rows(&rules);
    assert!(rows.len() >= 5, "{rows:?}");
    for row in &rows {
        for verb in row["verbs"].as_array().expect("verbs") {
            assert!(
                ["get", "list", "watch"].contains(&verb.as_str().expect("verb")),
                "{row}"
            );
        }
        for resource in row["resources"].as_array().expect("resources") {
            assert_ne!(resource, "secrets", "{row}");
            assert_ne!(resource, "*", "{row}");
        }
    }
    let out = fleet
        .kq(&[
            "-o",
            "ndjson",
            "SELECT args FROM workload_containers WHERE namespace = 'kq-snapshot' AND workload_name = 'kq-snapshot'",
        ])
        .await;
    let rows = ndjson_rows(&out);
    let mut args: Vec<String> = rows[0]["args"]
        .as_array()
        .expect("args")
        .iter()
        .map(|a| a.as_str().expect("arg").to_string())
        .collect();
    assert_eq!(args[0], "snapshot");
    let dir = tempfile::tempdir().expect("temp dir");
    let to = args
        .iter()
        .position(|a| a.starts_with("s3://"))
        .expect("an s3:// destination");
    args[to] = dir.path().join("snap").display().to_string();
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    ok(&fleet.kq(&refs).await);
    assert_eq!(manifests(&dir.path().join("snap")).len(), 1);
}
