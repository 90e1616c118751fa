//! The real `kq` binary against the simulated fleet, over TLS with a
//! written kubeconfig: results compared with the sim's store (the
//! generator's truth) and with kubectl's view of the same objects.

use std::collections::{BTreeMap, BTreeSet};

use kq_sim::{Faults, FleetConfig, SimUser};
use kq_tests::{TestFleet, kubectl, ndjson_rows, ok, pod_uids, stderr, stdout, str_at, text};
use serde_json::Value;

fn small_fleet() -> FleetConfig {
    FleetConfig::uniform(2, 40, 7)
}

fn row_set(rows: &[Value], a: &str, b: &str) -> BTreeSet<(String, String)> {
    rows.iter()
        .map(|r| {
            (
                r[a].as_str().unwrap_or_default().to_string(),
                r[b].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_pod_of_every_cluster_comes_back_once() {
    let fleet = TestFleet::start(small_fleet()).await;
    let out = fleet
        .kq(&[
            "--all-contexts",
            "-o",
            "ndjson",
            "SELECT cluster, uid FROM pods",
        ])
        .await;
    ok(&out);
    let rows = ndjson_rows(&out);
    let truth = pod_uids(fleet.fleet.clusters());
    assert_eq!(rows.len(), truth.len(), "no duplicated rows");
    assert_eq!(row_set(&rows, "cluster", "uid"), truth);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kq_and_kubectl_see_the_same_pods() {
    let fleet = TestFleet::start(FleetConfig::uniform(1, 60, 11)).await;
    let listed = kubectl(&fleet.kubeconfig, &["get", "pods", "-A", "-o", "json"]).await;
    assert!(
        listed.status.success(),
        "kubectl failed: {}",
        stderr(&listed)
    );
    let doc: Value = serde_json::from_slice(&listed.stdout).expect("kubectl json");
    let kubectl_view: BTreeSet<(String, String)> = doc["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|p| {
            (
                str_at(p, "/metadata/namespace").to_string(),
                str_at(p, "/metadata/name").to_string(),
            )
        })
        .collect();
    let out = fleet
        .kq(&["-o", "ndjson", "SELECT namespace, name FROM pods"])
        .await;
    ok(&out);
    assert_eq!(
        row_set(&ndjson_rows(&out), "namespace", "name"),
        kubectl_view
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn containers_flatten_init_regular_and_ephemeral_containers() {
    let fleet = TestFleet::start(small_fleet()).await;
    let mut truth: BTreeMap<(String, String), usize> = BTreeMap::new();
    for cluster in fleet.fleet.clusters() {
        for pod in cluster.objects("pods") {
            for (list, kind) in [
                ("initContainers", "init"),
                ("containers", "regular"),
                ("ephemeralContainers", "ephemeral"),
            ] {
                let n = pod["spec"][list].as_array().map_or(0, Vec::len);
                *truth
                    .entry((cluster.name().to_string(), kind.to_string()))
                    .or_default() += n;
            }
        }
    }
    truth.retain(|_, n| *n > 0);
    let out = fleet
        .kq(&[
            "-A",
            "-o",
            "ndjson",
            "SELECT cluster, container_type, count(*) AS n FROM containers GROUP BY 1, 2",
        ])
        .await;
    ok(&out);
    let got: BTreeMap<(String, String), usize> = ndjson_rows(&out)
        .iter()
        .map(|r| {
            (
                (text(r, "cluster"), text(r, "container_type")),
                r["n"].as_u64().unwrap() as usize,
            )
        })
        .collect();
    assert_eq!(got, truth);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_seed_query_finds_every_mysql_image() {
    let fleet = TestFleet::start(FleetConfig::demo()).await;
    let mut truth = BTreeSet::new();
    for cluster in fleet.fleet.clusters() {
        for pod in cluster.objects("pods") {
            for list in ["initContainers", "containers", "ephemeralContainers"] {
                for c in pod["spec"][list].as_array().into_iter().flatten() {
                    let image = c["image"].as_str().unwrap_or_default();
                    if image.contains("mysql") {
                        truth.insert(image.to_string());
                    }
                }
            }
        }
    }
    assert!(truth.len() >= 3, "the demo fleet has several MySQL images");
    let out = fleet
        .kq(&[
            "-A",
            "-o",
            "ndjson",
            "SELECT DISTINCT image FROM containers WHERE image LIKE '%mysql%'",
        ])
        .await;
    ok(&out);
    let got: BTreeSet<String> = ndjson_rows(&out).iter().map(|r| text(r, "image")).collect();
    assert_eq!(got, truth);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn filters_become_server_side_requests() {
    let fleet = TestFleet::start(small_fleet()).await;
    let target = fleet.fleet.clusters()[0].clone();
    let other = fleet.fleet.clusters()[1].clone();
    let namespace = str_at(&target.objects("pods")[0], "/metadata/namespace").to_string();
    target.reset_counters();
    other.reset_counters();
    let sql = format!(
        "SELECT name FROM containers WHERE cluster = '{}' AND namespace = '{namespace}'",
        target.name()
    );
    let out = fleet.kq(&["-A", "-o", "ndjson", &sql]).await;
    ok(&out);
    let expected: usize = target
        .objects("pods")
        .iter()
        .filter(|p| str_at(p, "/metadata/namespace") == namespace)
        .map(|p| {
            ["initContainers", "containers", "ephemeralContainers"]
                .iter()
                .map(|l| p["spec"][*l].as_array().map_or(0, Vec::len))
                .sum::<usize>()
        })
        .sum();
    assert_eq!(ndjson_rows(&out).len(), expected);
    let lists: Vec<_> = target
        .counters()
        .requests
        .into_iter()
        .filter(|r| r.verb == "list")
        .collect();
    assert!(!lists.is_empty());
    for request in &lists {
        assert_eq!(
            request.path,
            format!("/api/v1/namespaces/{namespace}/pods"),
            "only the namespace's pods are listed"
        );
    }
    assert_eq!(
        other.counters().by_verb.get("list"),
        None,
        "the pruned cluster is never asked to list"
    );

    target.reset_counters();
    let out = fleet
        .kq(&[
            "-o",
            "ndjson",
            "SELECT name FROM pods WHERE labels['app'] = 'mysql' AND phase = 'Running'",
        ])
        .await;
    ok(&out);
    let list = target
        .counters()
        .requests
        .into_iter()
        .find(|r| r.verb == "list")
        .expect("a list request");
    assert!(
        list.query.contains("labelSelector=app%3Dmysql")
            || list.query.contains("labelSelector=app=mysql"),
        "label filter pushed down: {}",
        list.query
    );
    assert!(
        list.query.contains("fieldSelector=status.phase"),
        "phase filter pushed down: {}",
        list.query
    );
    let expected = target
        .objects("pods")
        .iter()
        .filter(|p| {
            str_at(p, "/metadata/labels/app") == "mysql" && str_at(p, "/status/phase") == "Running"
        })
        .count();
    assert_eq!(ndjson_rows(&out).len(), expected);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kq_only_reads() {
    let fleet = TestFleet::start(small_fleet()).await;
    for cluster in fleet.fleet.clusters() {
        cluster.reset_counters();
    }
    for path in example_files() {
        let file = path.display().to_string();
        let out = fleet.kq(&["-A", "-o", "ndjson", "-f", &file]).await;
        ok(&out);
    }
    ok(&fleet.kq(&["-A", "tables"]).await);
    // A limited user makes kq ask which namespaces it may read: a rules
    // review, which the server answers without storing anything.
    let limited = fleet.kubeconfig_for(SimUser::TeamAReader);
    for path in example_files() {
        let file = path.display().to_string();
        // Cluster-scoped tables fail for this user; only the verbs matter here.
        kq_tests::run_kq(&limited, &["-A", "-o", "ndjson", "-f", &file]).await;
    }
    for cluster in fleet.fleet.clusters() {
        let counters = cluster.counters();
        assert!(counters.by_verb.get("list").copied().unwrap_or(0) > 0);
        for request in &counters.requests {
            let read = ["get", "list", "watch"].contains(&request.verb.as_str());
            let question = request.verb == "create"
                && request.path == "/apis/authorization.k8s.io/v1/selfsubjectrulesreviews";
            assert!(
                read || question,
                "kq sent {} {} to {}",
                request.verb,
                request.path,
                cluster.name()
            );
        }
    }
}

fn example_files() -> Vec<std::path::PathBuf> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../queries/examples");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .expect("queries/examples exists")
        .map(|e| e.expect("dir entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "sql"))
        .collect();
    files.sort();
    assert!(!files.is_empty());
    files
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_cluster_never_hides_the_others() {
    let fleet = TestFleet::start(small_fleet()).await;
    let dead = fleet.fleet.clusters()[1].clone();
    dead.set_faults(Faults {
        down: true,
        ..Faults::default()
    });
    let healthy = fleet.fleet.clusters()[0].clone();
    let script = fleet.dir.path().join("partial.sql");
    std::fs::write(
        &script,
        "SELECT cluster, uid FROM pods;\nSELECT cluster, \"table\", severity FROM kq_errors;",
    )
    .unwrap();
    let args = ["-A", "-o", "ndjson", "-f", script.to_str().unwrap()];
    let out = fleet.kq(&args).await;
    ok(&out);
    let rows = ndjson_rows(&out);
    let pods: BTreeSet<(String, String)> = rows
        .iter()
        .filter(|r| r.get("uid").is_some())
        .map(|r| (text(r, "cluster"), text(r, "uid")))
        .collect();
    let healthy_truth: BTreeSet<(String, String)> = healthy
        .objects("pods")
        .iter()
        .map(|p| {
            (
                healthy.name().to_string(),
                str_at(p, "/metadata/uid").to_string(),
            )
        })
        .collect();
    assert_eq!(
        pods, healthy_truth,
        "every row of the healthy cluster, none invented"
    );
    let errors: Vec<&Value> = rows
        .iter()
        .filter(|r| r.get("severity").is_some())
        .collect();
    assert!(
        errors.iter().any(|e| e["cluster"] == dead.name()
            && e["table"] == "pods"
            && e["severity"] == "error"),
        "kq_errors names the dead cluster: {errors:?}"
    );
    let err = stderr(&out);
    assert!(
        err.contains(&format!("cluster '{}'", dead.name())),
        "stderr names the cluster: {err}"
    );

    let strict = fleet
        .kq(&["-A", "--strict", "-o", "ndjson", "SELECT uid FROM pods"])
        .await;
    assert_eq!(
        strict.status.code(),
        Some(1),
        "--strict turns a failure into exit 1"
    );
    assert_eq!(ndjson_rows(&strict).len(), healthy_truth.len());

    let only_dead = fleet
        .kq(&["--context", dead.name(), "SELECT uid FROM pods"])
        .await;
    assert_eq!(only_dead.status.code(), Some(2), "{}", stderr(&only_dead));
    assert!(stderr(&only_dead).contains("no cluster could be read"));
    assert!(stdout(&only_dead).is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_namespace_scoped_user_gets_its_namespace_and_a_warning() {
    let fleet = TestFleet::start(FleetConfig::uniform(1, 80, 3)).await;
    let kubeconfig = fleet.kubeconfig_for(SimUser::TeamAReader);
    let out = kq_tests::run_kq(
        &kubeconfig,
        &["-o", "ndjson", "SELECT namespace, name FROM pods"],
    )
    .await;
    ok(&out);
    let rows = ndjson_rows(&out);
    let cluster = &fleet.fleet.clusters()[0];
    let truth: BTreeSet<(String, String)> = cluster
        .objects("pods")
        .iter()
        .filter(|p| str_at(p, "/metadata/namespace") == kq_sim::TEAM_A_NAMESPACE)
        .map(|p| {
            (
                str_at(p, "/metadata/namespace").to_string(),
                str_at(p, "/metadata/name").to_string(),
            )
        })
        .collect();
    assert_eq!(row_set(&rows, "namespace", "name"), truth);
    let err = stderr(&out);
    assert!(
        err.contains("warning") && err.contains(kq_sim::TEAM_A_NAMESPACE),
        "says coverage was reduced: {err}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_gets_one_sentence_and_exit_2() {
    let fleet = TestFleet::start(FleetConfig::uniform(1, 5, 1)).await;
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (vec!["SELEC name FROM pods"], "SQL syntax error"),
        (
            vec!["SELECT * FROM podz"],
            "unknown table 'podz'; did you mean 'pods'?",
        ),
        (vec!["SELECT podname FROM pods"], "podname"),
        (
            vec!["--context", "nope", "SELECT 1"],
            "unknown context 'nope'",
        ),
        (vec!["describe", "nodez"], "unknown table 'nodez'"),
    ];
    for (args, expected) in cases {
        let out = fleet.kq(&args).await;
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert!(err.contains(expected), "{args:?}: {err}");
        assert!(err.starts_with("kq: "), "{args:?}: {err}");
        assert_eq!(
            err.trim_end().lines().count(),
            1,
            "{args:?}: one line: {err}"
        );
        assert!(
            !err.contains("panicked") && !err.contains("backtrace"),
            "{err}"
        );
        assert!(stdout(&out).is_empty(), "{args:?}: no partial output");
    }

    let broken = fleet.dir.path().join("broken-kubeconfig");
    std::fs::write(&broken, "apiVersion: v1\nclusters: [oops").unwrap();
    let out = kq_tests::run_kq(&broken, &["SELECT 1"]).await;
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(
        err.contains("cannot read kubeconfig") && err.contains("broken-kubeconfig"),
        "{err}"
    );
    assert!(!err.contains("panicked"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_closed_pipe_ends_quietly() {
    let fleet = TestFleet::start(small_fleet()).await;
    let binary = kq_tests::kq_binary().display().to_string();
    let kubeconfig = fleet.kubeconfig.display().to_string();
    let out = tokio::task::spawn_blocking(move || {
        std::process::Command::new("sh")
            .arg("-c")
            .arg(format!(
                "'{binary}' --kubeconfig '{kubeconfig}' -A -o csv 'SELECT * FROM containers CROSS JOIN (SELECT 1 AS x UNION ALL SELECT 2 UNION ALL SELECT 3) t' | head -1; echo \"status=${{PIPESTATUS:-done}}\""
            ))
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    let err = stderr(&out);
    assert!(
        !err.contains("panicked") && !err.contains("Broken pipe"),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crds_are_tables_too() {
    let fleet = TestFleet::start(small_fleet()).await;
    let cluster = &fleet.fleet.clusters()[0];
    let certificates = cluster.objects("certificates");
    assert!(
        !certificates.is_empty(),
        "the fleet has cert-manager Certificates"
    );
    let out = fleet
        .kq(&[
            "-o",
            "ndjson",
            "SELECT namespace, name, spec FROM certificates",
        ])
        .await;
    ok(&out);
    let rows = ndjson_rows(&out);
    assert_eq!(rows.len(), certificates.len());
    let listed = fleet.kq(&["tables"]).await;
    assert!(ok(&listed).contains("certificates"));
    let described = fleet.kq(&["describe", "pods"]).await;
    let text = ok(&described);
    assert!(
        text.contains("labels") && text.contains("map<text,text>"),
        "{text}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_output_format_carries_the_same_rows() {
    let fleet = TestFleet::start(FleetConfig::uniform(1, 12, 5)).await;
    let sql = "SELECT namespace, name, labels, created, restarts, host_network, spec FROM pods ORDER BY namespace, name";
    let truth = fleet.fleet.clusters()[0].objects("pods");

    let json = fleet.kq(&["-o", "json", sql]).await;
    let rows: Vec<Value> = serde_json::from_str(&ok(&json)).expect("one JSON array");
    assert_eq!(rows.len(), truth.len());
    assert!(rows[0]["labels"].is_object(), "maps are JSON objects");
    assert!(rows[0]["spec"].is_object(), "JSON columns are nested JSON");
    assert!(rows[0]["restarts"].is_number());
    assert!(rows[0]["host_network"].is_boolean() || rows[0]["host_network"].is_null());
    assert!(
        rows[0]["created"].as_str().unwrap().ends_with('Z'),
        "UTC timestamps"
    );

    let ndjson = fleet.kq(&["-o", "ndjson", sql]).await;
    assert_eq!(ndjson_rows(&ndjson), rows, "ndjson = json, line by line");

    let csv = fleet.kq(&["-o", "csv", sql]).await;
    let text = ok(&csv);
    let mut lines = text.lines();
    assert_eq!(
        lines.next(),
        Some("namespace,name,labels,created,restarts,host_network,spec")
    );
    let csv_no_header = fleet.kq(&["-o", "csv", "--no-header", sql]).await;
    assert_eq!(ok(&csv_no_header).lines().count(), truth.len());

    let markdown = fleet.kq(&["-o", "markdown", sql]).await;
    let text = ok(&markdown);
    assert!(text.starts_with("| namespace | name |"), "{text}");
    assert_eq!(text.lines().count(), truth.len() + 2);

    let table = fleet.kq(&["--max-rows", "3", sql]).await;
    let text = ok(&table);
    assert!(text.contains("namespace") && text.contains('│'), "{text}");
    assert!(
        stderr(&table).contains(&format!("(showing 3 of {} rows)", truth.len())),
        "{}",
        stderr(&table)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubeconfig_is_resolved_as_kubectl_does() {
    let fleet = TestFleet::start(FleetConfig::uniform(2, 6, 9)).await;
    let clusters = fleet.fleet.clusters();
    let (first, second) = (&clusters[0], &clusters[1]);
    let full: serde_json::Value =
        parse_yaml(&fleet.fleet.kubeconfig_yaml()).expect("kubeconfig yaml");

    // Split the kubeconfig in two files, one context each, and merge them
    // through KUBECONFIG as kubectl would.
    let part = |index: usize| {
        let mut doc = full.clone();
        for key in ["clusters", "users", "contexts"] {
            let item = doc[key][index].clone();
            doc[key] = serde_json::json!([item]);
        }
        doc
    };
    let dir = fleet.dir.path();
    let a = dir.join("a.json");
    let b = dir.join("b.json");
    std::fs::write(&a, part(0).to_string()).unwrap();
    std::fs::write(&b, part(1).to_string()).unwrap();
    let merged = format!("{}:{}", a.display(), b.display());
    let out = kq_tests::run_kq_env(
        vec![
            "-A".into(),
            "-o".into(),
            "ndjson".into(),
            "SELECT DISTINCT cluster FROM namespaces ORDER BY cluster".into(),
        ],
        vec![("KUBECONFIG".into(), merged)],
    )
    .await;
    ok(&out);
    let seen: Vec<String> = ndjson_rows(&out)
        .iter()
        .map(|r| text(r, "cluster"))
        .collect();
    assert_eq!(seen, [first.name(), second.name()]);

    // An exec credential plugin (as EKS and GKE use) supplies the token.
    let plugin = dir.join("credential-plugin.sh");
    std::fs::write(
        &plugin,
        format!(
            "#!/bin/sh\necho '{{\"apiVersion\":\"client.authentication.k8s.io/v1\",\"kind\":\"ExecCredential\",\"status\":{{\"token\":\"{}\"}}}}'\n",
            first.token(SimUser::Admin)
        ),
    )
    .unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&plugin, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    let mut exec = part(0);
    exec["users"][0]["user"] = serde_json::json!({
        "exec": {
            "apiVersion": "client.authentication.k8s.io/v1",
            "command": plugin.display().to_string(),
            "interactiveMode": "Never"
        }
    });
    let exec_path = dir.join("exec.json");
    std::fs::write(&exec_path, exec.to_string()).unwrap();
    let out = kq_tests::run_kq(
        &exec_path,
        &["-o", "ndjson", "SELECT count(*) AS n FROM pods"],
    )
    .await;
    ok(&out);
    assert_eq!(
        ndjson_rows(&out)[0]["n"].as_u64(),
        Some(first.objects("pods").len() as u64)
    );
}

/// The sim's kubeconfig as JSON data, to split and rewrite it.
fn parse_yaml(yaml: &str) -> Result<serde_json::Value, String> {
    serde_yaml::from_str(yaml).map_err(|e| e.to_string())
}

/// Runs one shipped example against the demo fleet and returns its rows.
async fn run_example(fleet: &TestFleet, name: &str) -> Vec<Value> {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../queries/examples")
        .join(name);
    let out = fleet
        .kq(&["-A", "-o", "ndjson", "-f", path.to_str().unwrap()])
        .await;
    ok(&out);
    ndjson_rows(&out)
}

fn is_true(value: &Value, condition: &str) -> bool {
    value["status"]["conditions"]
        .as_array()
        .into_iter()
        .flatten()
        .any(|c| c["type"] == condition && c["status"] == "True")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_examples_answer_what_the_fleet_holds() {
    let fleet = TestFleet::start(FleetConfig::demo()).await;

    // Pods on nodes under memory pressure.
    let mut truth = BTreeSet::new();
    for cluster in fleet.fleet.clusters() {
        let pressured: BTreeSet<String> = cluster
            .objects("nodes")
            .iter()
            .filter(|n| is_true(n, "MemoryPressure"))
            .map(|n| str_at(n, "/metadata/name").to_string())
            .collect();
        for pod in cluster.objects("pods") {
            if pressured.contains(str_at(&pod, "/spec/nodeName")) {
                truth.insert((
                    cluster.name().to_string(),
                    str_at(&pod, "/metadata/namespace").to_string(),
                    str_at(&pod, "/metadata/name").to_string(),
                ));
            }
        }
    }
    assert!(!truth.is_empty(), "the demo fleet has pressured nodes");
    let got: BTreeSet<(String, String, String)> = run_example(&fleet, "memory_pressure_pods.sql")
        .await
        .iter()
        .map(|r| (text(r, "cluster"), text(r, "namespace"), text(r, "pod")))
        .collect();
    assert_eq!(got, truth);

    // Namespaces without a ResourceQuota.
    let mut truth = BTreeSet::new();
    for cluster in fleet.fleet.clusters() {
        let with_quota: BTreeSet<String> = cluster
            .objects("resourcequotas")
            .iter()
            .map(|q| str_at(q, "/metadata/namespace").to_string())
            .collect();
        for ns in cluster.objects("namespaces") {
            let name = str_at(&ns, "/metadata/name");
            if !with_quota.contains(name) {
                truth.insert((cluster.name().to_string(), name.to_string()));
            }
        }
    }
    let got = row_set(
        &run_example(&fleet, "namespaces_without_quota.sql").await,
        "cluster",
        "namespace",
    );
    assert_eq!(got, truth);

    // Warning events by involved kind.
    let mut truth: BTreeMap<String, u64> = BTreeMap::new();
    for cluster in fleet.fleet.clusters() {
        for event in cluster.objects("events") {
            if str_at(&event, "/type") == "Warning" {
                *truth
                    .entry(str_at(&event, "/involvedObject/kind").to_string())
                    .or_default() += 1;
            }
        }
    }
    let got: BTreeMap<String, u64> = run_example(&fleet, "warning_events_by_kind.sql")
        .await
        .iter()
        .map(|r| (text(r, "involved_kind"), r["events"].as_u64().unwrap()))
        .collect();
    assert_eq!(got, truth);

    // Pods exposed through internet-facing LoadBalancer Services.
    let internal_annotations = [
        (
            "service.beta.kubernetes.io/aws-load-balancer-scheme",
            "internal",
        ),
        (
            "service.beta.kubernetes.io/aws-load-balancer-internal",
            "true",
        ),
        ("networking.gke.io/load-balancer-type", "Internal"),
        ("cloud.google.com/load-balancer-type", "Internal"),
        (
            "service.beta.kubernetes.io/azure-load-balancer-internal",
            "true",
        ),
    ];
    let mut truth = BTreeSet::new();
    for cluster in fleet.fleet.clusters() {
        let pods = cluster.objects("pods");
        for svc in cluster.objects("services") {
            if str_at(&svc, "/spec/type") != "LoadBalancer" {
                continue;
            }
            let annotations = &svc["metadata"]["annotations"];
            if internal_annotations.iter().any(|(k, v)| {
                annotations[*k]
                    .as_str()
                    .is_some_and(|a| a.eq_ignore_ascii_case(v))
            }) {
                continue;
            }
            let Some(selector) = svc["spec"]["selector"]
                .as_object()
                .filter(|s| !s.is_empty())
            else {
                continue;
            };
            for pod in &pods {
                let same_ns =
                    str_at(pod, "/metadata/namespace") == str_at(&svc, "/metadata/namespace");
                let selected = selector
                    .iter()
                    .all(|(k, v)| pod["metadata"]["labels"][k] == *v);
                if same_ns && selected && str_at(pod, "/status/phase") == "Running" {
                    truth.insert((
                        cluster.name().to_string(),
                        str_at(pod, "/metadata/name").to_string(),
                        str_at(&svc, "/metadata/name").to_string(),
                    ));
                }
            }
        }
    }
    assert!(!truth.is_empty(), "the demo fleet exposes pods");
    let got: BTreeSet<(String, String, String)> = run_example(&fleet, "internet_exposed_pods.sql")
        .await
        .iter()
        .map(|r| (text(r, "cluster"), text(r, "pod"), text(r, "service")))
        .collect();
    assert_eq!(got, truth);
}
