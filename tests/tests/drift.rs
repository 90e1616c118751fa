//! Drift between manifests and a live cluster: `kq diff --manifests` and
//! `kq_drift`, on the sim and on the upstream kube-apiserver.
//!
//! The files are applied with kubectl, so the cluster holds them as the
//! server stored them (defaults filled, quantities canonical): nothing may
//! show as drift. Then each kubectl change (scale, set image, label,
//! delete, create) must add exactly its own drift line.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Output;

use kq_tests::apiserver::{RealServer, RealServerOptions};
use kq_tests::{FleetConfig, TestFleet, kubectl_ok, ok, run_kq, stderr, stdout};
use serde_json::Value;

/// A small app as a team would keep it in git: server defaults left out
/// or spelled differently from what the server stores (`1000m`,
/// `0.125Gi`, `protocol: TCP`, `imagePullPolicy: Always` for an untagged
/// image).
const APP: &str = r#"apiVersion: v1
kind: Namespace
metadata:
  name: kq-drift
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  namespace: kq-drift
  labels:
    app: web
spec:
  replicas: 2
  selector:
    matchLabels:
      app: web
  template:
    metadata:
      labels:
        app: web
    spec:
      containers:
        - name: web
          image: nginx:1.25
          ports:
            - containerPort: 80
          resources:
            requests:
              cpu: 1000m
              memory: 0.125Gi
            limits:
              cpu: "2"
              memory: 256Mi
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: api
  namespace: kq-drift
spec:
  selector:
    matchLabels:
      app: api
  template:
    metadata:
      labels:
        app: api
    spec:
      containers:
        - name: api
          image: busybox
          imagePullPolicy: Always
          args: ["sleep", "3600"]
          env:
            - name: MODE
              value: blue
---
apiVersion: v1
kind: Service
metadata:
  name: web
  namespace: kq-drift
spec:
  selector:
    app: web
  ports:
    - port: 80
      protocol: TCP
"#;

/// A second file, so rows point at the file they came from.
const SETTINGS: &str = r#"apiVersion: v1
kind: ConfigMap
metadata:
  name: settings
  namespace: kq-drift
  labels:
    team: a
data:
  mode: blue
"#;

fn write_app() -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("temp dir");
    let app = dir.path().join("app");
    std::fs::create_dir(&app).unwrap();
    std::fs::write(app.join("app.yaml"), APP).unwrap();
    std::fs::write(app.join("settings.yaml"), SETTINGS).unwrap();
    dir
}

/// kq's drift rows as `change kind ns/name field: desired -> live @file:line`.
fn lines(output: &Output) -> BTreeSet<String> {
    let rows: Vec<Value> = serde_json::from_str(&stdout(output)).unwrap_or_else(|e| {
        panic!(
            "kq printed no JSON ({e}):\n{}{}",
            stdout(output),
            stderr(output)
        )
    });
    rows.iter().map(line).collect()
}

fn line(row: &Value) -> String {
    let text = |key: &str| match &row[key] {
        Value::Null => "-".to_string(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    let file = Path::new(&text("source_path"))
        .file_name()
        .map(|f| f.to_string_lossy().into_owned())
        .unwrap_or_else(|| "-".to_string());
    format!(
        "{} {} {}/{} {}: {} -> {} @{file}:{}",
        text("change"),
        text("kind"),
        text("namespace"),
        text("name"),
        text("field"),
        text("desired"),
        text("live"),
        text("source_line"),
    )
}

fn set(lines: &[&str]) -> BTreeSet<String> {
    lines.iter().map(|l| l.to_string()).collect()
}

/// Runs `kq diff --manifests APP [--extra]`; checks the exit code says
/// whether anything drifted.
async fn diff(kubeconfig: &Path, context: &str, app: &Path, extra: bool) -> BTreeSet<String> {
    let app = app.display().to_string();
    let mut args = vec![
        "--context",
        context,
        "diff",
        "--manifests",
        &app,
        "-o",
        "json",
    ];
    if extra {
        args.push("--extra");
    }
    let out = run_kq(kubeconfig, &args).await;
    let found = lines(&out);
    let expected_code = i32::from(!found.is_empty());
    assert_eq!(
        out.status.code(),
        Some(expected_code),
        "exit code 1 exactly when something drifted: {found:?}\n{}",
        stderr(&out)
    );
    assert!(
        !stderr(&out).contains("error"),
        "no cluster failed: {}",
        stderr(&out)
    );
    found
}

/// The whole story on one cluster: apply, then change with kubectl.
async fn drift_story(kubeconfig: &Path, context: &str) {
    let dir = write_app();
    let app: PathBuf = dir.path().join("app");
    let kc = |args: &[&str]| {
        let mut full = vec!["--context", context];
        full.extend_from_slice(args);
        full.iter().map(|a| a.to_string()).collect::<Vec<_>>()
    };
    let kubectl = |args: Vec<String>| async move {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        kubectl_ok(kubeconfig, &args).await
    };
    let app_arg = app.display().to_string();
    kubectl(kc(&["apply", "-f", &app_arg])).await;

    // As applied: whatever the server defaulted or canonicalised, no drift.
    assert_eq!(diff(kubeconfig, context, &app, false).await, set(&[]));
    assert_eq!(diff(kubeconfig, context, &app, true).await, set(&[]));

    kubectl(kc(&[
        "scale",
        "deployment",
        "web",
        "-n",
        "kq-drift",
        "--replicas=5",
    ]))
    .await;
    let scaled = "changed Deployment kq-drift/web spec.replicas: 2 -> 5 @app.yaml:6";
    assert_eq!(diff(kubeconfig, context, &app, false).await, set(&[scaled]));

    kubectl(kc(&[
        "set",
        "image",
        "deployment/web",
        "web=nginx:1.26",
        "-n",
        "kq-drift",
    ]))
    .await;
    let image = "changed Deployment kq-drift/web spec.template.spec.containers[name=web].image: nginx:1.25 -> nginx:1.26 @app.yaml:6";
    assert_eq!(
        diff(kubeconfig, context, &app, false).await,
        set(&[scaled, image])
    );

    kubectl(kc(&[
        "label",
        "configmap",
        "settings",
        "team=b",
        "--overwrite",
        "-n",
        "kq-drift",
    ]))
    .await;
    let label = "changed ConfigMap kq-drift/settings metadata.labels.team: a -> b @settings.yaml:1";
    kubectl(kc(&["delete", "service", "web", "-n", "kq-drift"])).await;
    let deleted = "missing Service kq-drift/web -: - -> - @app.yaml:59";
    // An env var set by hand on a container the file names: the file sets
    // MODE, so a changed MODE is drift and an added var is not.
    kubectl(kc(&[
        "set",
        "env",
        "deployment/api",
        "MODE=green",
        "DEBUG=1",
        "-n",
        "kq-drift",
    ]))
    .await;
    let env = "changed Deployment kq-drift/api spec.template.spec.containers[name=api].env[name=MODE].value: blue -> green @app.yaml:36";
    let changed = set(&[scaled, image, label, deleted, env]);
    assert_eq!(diff(kubeconfig, context, &app, false).await, changed);

    // An object nobody declared: extra, but only when asked.
    kubectl(kc(&[
        "create",
        "configmap",
        "stray",
        "-n",
        "kq-drift",
        "--from-literal=a=b",
    ]))
    .await;
    assert_eq!(diff(kubeconfig, context, &app, false).await, changed);
    let stray = "extra ConfigMap kq-drift/stray -: - -> - @-:-";
    let mut with_extra = changed.clone();
    with_extra.insert(stray.to_string());
    assert_eq!(diff(kubeconfig, context, &app, true).await, with_extra);

    // The same drift is a table, for SQL and report packs.
    let out = run_kq(
        kubeconfig,
        &[
            "--context",
            context,
            "--manifests",
            &app_arg,
            "-o",
            "json",
            "SELECT * FROM kq_drift",
        ],
    )
    .await;
    assert_eq!(lines(&out), with_extra, "{}", stderr(&out));
    let out = run_kq(
        kubeconfig,
        &[
            "--context",
            context,
            "--manifests",
            &format!("git={app_arg}"),
            "-o",
            "csv",
            "--no-header",
            "SELECT cluster, manifests, count(*) FROM kq_drift WHERE change = 'changed' GROUP BY 1, 2",
        ],
    )
    .await;
    assert_eq!(ok(&out), format!("{context},git,4\n"));

    // Only the changes of one kind, by any of its names.
    for name in ["configmap", "ConfigMap", "configmaps"] {
        let app = app.display().to_string();
        let out = run_kq(
            kubeconfig,
            &[
                "--context",
                context,
                "diff",
                "--manifests",
                &app,
                "-o",
                "json",
                name,
            ],
        )
        .await;
        assert_eq!(lines(&out), set(&[label]), "{name}");
    }

    // Back to what the files say: no drift again.
    kubectl(kc(&["apply", "-f", &app_arg])).await;
    kubectl(kc(&[
        "set",
        "env",
        "deployment/api",
        "DEBUG-",
        "-n",
        "kq-drift",
    ]))
    .await;
    kubectl(kc(&["delete", "configmap", "stray", "-n", "kq-drift"])).await;
    assert_eq!(diff(kubeconfig, context, &app, true).await, set(&[]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drift_on_the_sim_is_each_kubectl_change_and_nothing_else() {
    let fleet = TestFleet::start(FleetConfig::uniform(1, 5, 11)).await;
    drift_story(&fleet.kubeconfig, "cluster-0").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drift_on_the_real_apiserver_is_each_kubectl_change_and_nothing_else() {
    let server = RealServer::start(RealServerOptions {
        audit_log: true,
        ..RealServerOptions::default()
    })
    .await;
    drift_story(&server.kubeconfig, "real-admin").await;
    // Drift is computed from lists: kq never wrote, never dry-ran.
    let kq_requests: Vec<Value> = server
        .audit_entries()
        .into_iter()
        .filter(|e| {
            e["userAgent"]
                .as_str()
                .is_some_and(|a| a.starts_with("kq/"))
        })
        .collect();
    assert!(!kq_requests.is_empty());
    for request in &kq_requests {
        let verb = request["verb"].as_str().unwrap_or_default();
        assert!(
            matches!(verb, "get" | "list" | "watch"),
            "kq sent a write: {request}"
        );
        assert!(
            !request["requestURI"]
                .as_str()
                .unwrap_or_default()
                .contains("dryRun"),
            "{request}"
        );
    }
    // The lists went to the namespaces the files use, not cluster-wide.
    let lists: BTreeSet<String> = kq_requests
        .iter()
        .filter(|e| e["verb"] == "list")
        .filter_map(|e| e["requestURI"].as_str())
        .map(|uri| uri.split('?').next().unwrap_or_default().to_string())
        .collect();
    assert_eq!(
        lists,
        set(&[
            "/api/v1/namespaces",
            "/api/v1/namespaces/kq-drift/configmaps",
            "/api/v1/namespaces/kq-drift/services",
            "/apis/apps/v1/namespaces/kq-drift/deployments",
        ]),
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_drift_input_is_one_sentence_and_exit_2() {
    let fleet = TestFleet::start(FleetConfig::uniform(1, 5, 11)).await;
    let dir = write_app();
    let app = dir.path().join("app").display().to_string();
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (
            vec!["--context", "cluster-0", "diff", "--extra"],
            "kq: --extra lists live objects no manifest declares, so it needs --manifests PATH or --kustomize DIR\n",
        ),
        (
            vec![
                "--context",
                "cluster-0",
                "diff",
                "--manifests",
                &app,
                "Ingress",
            ],
            "kq: the manifests declare no kind 'ingress'; they declare ConfigMap, Deployment, Namespace, Service\n",
        ),
        (
            vec![
                "--context",
                "cluster-0",
                "diff",
                "--manifests",
                &app,
                "--to",
                "now",
            ],
            "kq: kq diff --manifests compares the files with the live clusters; --from, --to and --snapshots compare snapshots, so use one or the other\n",
        ),
    ];
    for (args, message) in cases {
        let out = fleet.kq(&args).await;
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", stderr(&out));
        assert_eq!(stderr(&out), message, "{args:?}");
        assert_eq!(stdout(&out), "", "{args:?}");
    }
    // -n narrows both sides' namespaced kinds; what it leaves out is said,
    // not silently "no drift".
    let out = fleet
        .kq(&[
            "--context",
            "cluster-0",
            "diff",
            "--manifests",
            &app,
            "-n",
            "default",
            "-o",
            "json",
        ])
        .await;
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    // Cluster-scoped kinds are not narrowed by -n: the Namespace is missing.
    assert_eq!(
        lines(&out),
        set(&["missing Namespace -/kq-drift -: - -> - @app.yaml:1"])
    );
    assert_eq!(
        stderr(&out),
        "kq: warning: objects in namespaces kq-drift are outside -n default and were not compared\n"
    );
}

/// Drift rows with their cluster and manifest set.
fn cluster_lines(output: &Output) -> BTreeSet<String> {
    let rows: Vec<Value> = serde_json::from_str(&stdout(output)).unwrap_or_else(|e| {
        panic!(
            "kq printed no JSON ({e}):\n{}{}",
            stdout(output),
            stderr(output)
        )
    });
    rows.iter()
        .map(|row| {
            let manifests = row["manifests"].as_str().map(|m| format!(" from {m}"));
            format!(
                "{}{}: {}",
                row["cluster"].as_str().unwrap_or("-"),
                manifests.unwrap_or_default(),
                line(row)
            )
        })
        .collect()
}

/// Two clusters, one of which cannot list Deployments: its Deployments are
/// not compared (and not "missing"), its other kinds are, the failure is
/// said; and a manifest set may share its name with the cluster it checks.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_list_is_no_drift_and_sets_pair_with_every_cluster() {
    let fleet = TestFleet::start(FleetConfig::uniform(2, 5, 12)).await;
    let dir = write_app();
    let app = dir.path().join("app").display().to_string();
    for context in ["cluster-0", "cluster-1"] {
        kubectl_ok(
            &fleet.kubeconfig,
            &["--context", context, "apply", "-f", &app],
        )
        .await;
    }
    kubectl_ok(
        &fleet.kubeconfig,
        &[
            "--context",
            "cluster-1",
            "delete",
            "service",
            "web",
            "-n",
            "kq-drift",
        ],
    )
    .await;
    kubectl_ok(
        &fleet.kubeconfig,
        &[
            "--context",
            "cluster-0",
            "delete",
            "deployment",
            "api",
            "-n",
            "kq-drift",
        ],
    )
    .await;
    let missing_api = "missing Deployment kq-drift/api -: - -> - @app.yaml:36";
    let missing_web = "missing Service kq-drift/web -: - -> - @app.yaml:59";
    let out = fleet
        .kq(&["-A", "diff", "--manifests", &app, "-o", "json"])
        .await;
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert_eq!(
        cluster_lines(&out),
        set(&[
            &format!("cluster-0: {missing_api}"),
            &format!("cluster-1: {missing_web}"),
        ])
    );

    fleet.cluster("cluster-1").set_faults(kq_sim::Faults {
        unavailable_api_groups: vec!["apps/v1".to_string()],
        ..kq_sim::Faults::default()
    });
    let out = fleet
        .kq(&["-A", "diff", "--manifests", &app, "-o", "json"])
        .await;
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert_eq!(
        cluster_lines(&out),
        set(&[
            &format!("cluster-0: {missing_api}"),
            &format!("cluster-1: {missing_web}"),
        ]),
        "cluster-1's Deployments are unknown, not missing"
    );
    let err = stderr(&out);
    assert!(
        err.lines()
            .any(|l| l.starts_with("kq: error cluster 'cluster-1' (deployments.apps): ")),
        "the failed list is said: {err}"
    );

    // A set named like the cluster it is compared with, as in
    // `--manifests staging=./deploy --context staging`.
    let out = fleet
        .kq(&[
            "--context",
            "cluster-0",
            "--manifests",
            &format!("cluster-0={app}"),
            "-o",
            "json",
            "SELECT * FROM kq_drift",
        ])
        .await;
    assert_eq!(
        cluster_lines(&out),
        set(&[&format!("cluster-0 from cluster-0: {missing_api}")]),
        "{}",
        stderr(&out)
    );
}

/// What `kubectl get -o yaml` exports (a List, server fields and status
/// included) is its cluster's state: no drift, and each object's row
/// points at the line its List item starts on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_kubectl_export_has_no_drift_and_each_item_its_line() {
    let fleet = TestFleet::start(FleetConfig::uniform(1, 30, 13)).await;
    let dir = tempfile::tempdir().expect("temp dir");
    let export = dir.path().join("export.yaml");
    let out = kq_tests::kubectl(
        &fleet.kubeconfig,
        &[
            "--context",
            "cluster-0",
            "get",
            "deployments,services,configmaps,serviceaccounts",
            "-A",
            "-o",
            "yaml",
        ],
    )
    .await;
    std::fs::write(&export, ok(&out)).unwrap();
    let file = export.display().to_string();
    let out = fleet
        .kq(&[
            "--context",
            "cluster-0",
            "diff",
            "--manifests",
            &file,
            "--extra",
            "-o",
            "json",
        ])
        .await;
    assert_eq!(lines(&out), set(&[]), "{}", stderr(&out));
    assert_eq!(out.status.code(), Some(0));

    let text = std::fs::read_to_string(&export).unwrap();
    let file_lines: Vec<&str> = text.lines().collect();
    let out = fleet
        .kq(&[
            "--manifests",
            &file,
            "-o",
            "json",
            "SELECT name, source_line FROM deployments UNION ALL SELECT name, source_line FROM config_maps",
        ])
        .await;
    let rows: Vec<Value> = serde_json::from_str(&ok(&out)).unwrap();
    assert!(rows.len() > 10, "{rows:?}");
    for row in &rows {
        let name = row["name"].as_str().unwrap();
        let start = row["source_line"].as_u64().unwrap() as usize;
        assert!(file_lines[start - 1].starts_with("- apiVersion: "), "{row}");
        let item: Vec<&str> = file_lines[start..]
            .iter()
            .take_while(|l| !l.starts_with("- "))
            .copied()
            .collect();
        assert!(
            item.contains(&format!("    name: {name}").as_str()),
            "line {start} starts {name}: {item:?}"
        );
    }
}

/// `kq watch` on `kq_drift`: each kubectl change to a declared object
/// arrives as it happens, from the watch-fed cache.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drift_is_watchable() {
    let fleet = TestFleet::start(FleetConfig::uniform(1, 5, 14)).await;
    let dir = write_app();
    let app = dir.path().join("app").display().to_string();
    let kc = fleet.kubeconfig.as_path();
    kubectl_ok(kc, &["--context", "cluster-0", "apply", "-f", &app]).await;
    let mut watch = kq_tests::KqProcess::spawn(
        kc,
        &[
            "--context",
            "cluster-0",
            "--manifests",
            &app,
            "watch",
            "--changes",
            "SELECT kind, name, change, field, live FROM kq_drift",
        ],
    );
    kubectl_ok(
        kc,
        &[
            "--context",
            "cluster-0",
            "scale",
            "deployment",
            "web",
            "-n",
            "kq-drift",
            "--replicas=3",
        ],
    )
    .await;
    let line = watch.next_json().await;
    assert_eq!(line["op"], "added", "{line}");
    assert_eq!(
        line["row"],
        serde_json::json!({"kind": "Deployment", "name": "web", "change": "changed", "field": "spec.replicas", "live": "3"})
    );
    kubectl_ok(
        kc,
        &[
            "--context",
            "cluster-0",
            "delete",
            "configmap",
            "settings",
            "-n",
            "kq-drift",
        ],
    )
    .await;
    let line = watch.next_json().await;
    assert_eq!(line["op"], "added", "{line}");
    assert_eq!(
        line["row"],
        serde_json::json!({"kind": "ConfigMap", "name": "settings", "change": "missing", "field": null, "live": null})
    );
    kubectl_ok(
        kc,
        &[
            "--context",
            "cluster-0",
            "scale",
            "deployment",
            "web",
            "-n",
            "kq-drift",
            "--replicas=2",
        ],
    )
    .await;
    let line = watch.next_json().await;
    assert_eq!(line["op"], "removed", "{line}");
    assert_eq!(line["row"]["field"], "spec.replicas", "{line}");
    watch.interrupt();
    let (code, _) = watch.wait().await;
    assert_eq!(code, Some(0), "{}", "watch ends cleanly on interrupt");
}

/// Two manifest sets and no cluster: what a change to the files changes,
/// field by field both ways (a pull request's rendered manifests against
/// main's).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_manifest_sets_compare_before_and_after() {
    let dir = write_app();
    let before = dir.path().join("app");
    let after = dir.path().join("branch");
    std::fs::create_dir(&after).unwrap();
    let app = APP
        .replace("replicas: 2", "replicas: 3")
        .replace("image: nginx:1.25", "image: nginx:1.26")
        .replace("cpu: 1000m", "cpu: \"1\"");
    let without_service = &app[..app.rfind("---\napiVersion: v1\nkind: Service").unwrap()];
    std::fs::write(after.join("app.yaml"), without_service).unwrap();
    std::fs::write(
        after.join("settings.yaml"),
        SETTINGS.replace("team: a", "team: b") + "---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: flags\n  namespace: kq-drift\n",
    )
    .unwrap();
    let no_kubeconfig = dir.path().join("no-kubeconfig");
    let compare = |newer: &Path| {
        let args = [
            "diff".to_string(),
            "--manifests".to_string(),
            format!("before={}", before.display()),
            "--manifests".to_string(),
            format!("after={}", newer.display()),
            "-o".to_string(),
            "json".to_string(),
        ];
        let no_kubeconfig = no_kubeconfig.clone();
        async move {
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            run_kq(&no_kubeconfig, &args).await
        }
    };
    let out = compare(&after).await;
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let rows: Vec<Value> = serde_json::from_str(&stdout(&out)).unwrap();
    let found: BTreeSet<String> = rows
        .iter()
        .map(|r| {
            let text = |k: &str| r[k].as_str().map(str::to_string).unwrap_or("-".into());
            let file = Path::new(&text("source_path"))
                .file_name()
                .map(|f| f.to_string_lossy().into_owned())
                .unwrap_or_default();
            format!(
                "{} {} {}: {}: {} -> {} @{}/{file}:{}",
                text("change"),
                text("kind"),
                text("name"),
                text("field"),
                text("before"),
                text("after"),
                Path::new(&text("source_path"))
                    .parent()
                    .and_then(|p| p.file_name())
                    .map(|d| d.to_string_lossy().into_owned())
                    .unwrap_or_default(),
                r["source_line"]
            )
        })
        .collect();
    assert_eq!(
        found,
        set(&[
            "changed Deployment web: spec.replicas: 2 -> 3 @branch/app.yaml:6",
            "changed Deployment web: spec.template.spec.containers[name=web].image: nginx:1.25 -> nginx:1.26 @branch/app.yaml:6",
            "changed ConfigMap settings: metadata.labels.team: a -> b @branch/settings.yaml:1",
            "removed Service web: -: - -> - @app/app.yaml:59",
            "added ConfigMap flags: -: - -> - @branch/settings.yaml:11",
        ]),
        "1000m and \"1\" are the same quantity; nothing else changed"
    );
    // The same files on both sides: nothing, exit 0.
    let out = compare(&before).await;
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(stdout(&out).trim(), "[]");
}
