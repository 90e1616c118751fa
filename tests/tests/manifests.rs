//! Manifests as a source: objects read from files answer every table as a
//! cluster's would, each row pointing at its file and line; problems in
//! files are listed or fatal; stdin, kustomize and a live cluster combine;
//! `kq report` on manifests points its findings at files.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use kq_tests::{FleetConfig, TestFleet, kq_binary, kubectl_binary, ok, stderr, stdout};
use serde_json::Value;

/// Runs kq in `dir` with a clean environment (no kubeconfig), feeding
/// `stdin` when given.
fn kq_in(dir: &Path, args: &[&str], stdin: Option<&str>) -> Output {
    let home = tempfile::tempdir().expect("temp HOME");
    let mut child = Command::new(kq_binary())
        .args(args)
        .current_dir(dir)
        .env_remove("KUBECONFIG")
        .env_remove("KQ_KUBECONFIG")
        .env("HOME", home.path())
        .env("RUST_BACKTRACE", "1")
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run kq");
    if let Some(text) = stdin {
        use std::io::Write as _;
        let mut pipe = child.stdin.take().expect("stdin pipe");
        pipe.write_all(text.as_bytes()).expect("write stdin");
    }
    child.wait_with_output().expect("kq output")
}

fn json_rows(output: &Output) -> Vec<Value> {
    let text = ok(output);
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"))
}

/// A YAML stream of `docs`, and the line each document's object starts
/// on (its first line that is not a comment).
fn yaml_stream(docs: &[&str]) -> (String, Vec<usize>) {
    let mut text = String::new();
    let mut lines = Vec::new();
    for (i, doc) in docs.iter().enumerate() {
        if i > 0 {
            text.push_str("---\n");
        }
        let before = text.lines().count();
        let first = doc
            .lines()
            .position(|l| !l.trim().is_empty() && !l.trim_start().starts_with('#'))
            .expect("a document with content");
        lines.push(before + first + 1);
        text.push_str(doc);
    }
    (text, lines)
}

/// The chart the tests read: where each named object was written.
/// (kind, name) → (path relative to the chart's parent, line).
type Declared = Vec<((String, String), (String, Option<usize>))>;

struct Chart {
    dir: tempfile::TempDir,
    at: Declared,
}

impl Chart {
    fn line(&self, kind: &str, name: &str) -> (String, Option<usize>) {
        self.at
            .iter()
            .find(|((k, n), _)| k == kind && n == name)
            .unwrap_or_else(|| panic!("the chart has no {kind} {name}"))
            .1
            .clone()
    }

    /// The directory that holds `chart/`: kq runs there, so paths are relative.
    fn root(&self) -> &Path {
        self.dir.path()
    }
}

const WEB: &str = "# The shop's web front end
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  labels: {app: web, tier: front}
spec:
  replicas: 3
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      initContainers:
      - name: migrate
        image: registry.corp.example.com/shop/migrate:1.2
      containers:
      - name: app
        image: registry.corp.example.com/shop/web:2.0
        resources: {limits: {cpu: 500m, memory: 256Mi}}
        securityContext: {runAsNonRoot: true, allowPrivilegeEscalation: false}
      - name: sidecar
        image: nginx
        securityContext: {privileged: true}
";

const WEB_SERVICE: &str = "apiVersion: v1
kind: Service
metadata:
  name: web
  labels: {app: web}
spec:
  type: LoadBalancer
  selector: {app: web}
  ports:
  - port: 443
    targetPort: 8443
";

const DB: &str = "apiVersion: apps/v1
kind: StatefulSet
metadata:
  name: db
  namespace: data
spec:
  serviceName: db
  selector: {matchLabels: {app: db}}
  template:
    metadata: {labels: {app: db}}
    spec:
      containers:
      - name: postgres
        image: postgres:16.3
";

const CRON: &str = "apiVersion: batch/v1
kind: CronJob
metadata:
  name: nightly
spec:
  schedule: '0 3 * * *'
  jobTemplate:
    spec:
      template:
        spec:
          restartPolicy: OnFailure
          containers:
          - name: report
            image: busybox:1.36
";

const CRD: &str = "apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: widgets.example.com
spec:
  group: example.com
  scope: Namespaced
  names: {kind: Widget, plural: widgets, singular: widget}
  versions:
  - name: v1
    served: true
    storage: true
    schema: {openAPIV3Schema: {type: object, x-kubernetes-preserve-unknown-fields: true}}
";

const WIDGET: &str = "apiVersion: example.com/v1
kind: Widget
metadata:
  name: spinner
  namespace: toys
spec: {speed: 3}
";

const GADGET: &str = "apiVersion: gadgets.example.org/v1alpha1
kind: Gadget
metadata:
  name: g1
";

const SECRET: &str = "apiVersion: v1
kind: Secret
metadata:
  name: creds
stringData:
  password: hunter2
";

/// The RBAC objects, as one JSON List.
const RBAC_LIST: &str = r#"{
  "apiVersion": "v1",
  "kind": "List",
  "items": [
    {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role",
     "metadata": {"name": "reader"},
     "rules": [{"apiGroups": [""], "resources": ["pods", "secrets"], "verbs": ["get", "list"]}]},
    {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
     "metadata": {"name": "everything", "namespace": "ignored"},
     "rules": [{"apiGroups": ["*"], "resources": ["*"], "verbs": ["*"]}]}
  ]
}
"#;

fn write_chart() -> Chart {
    let dir = tempfile::tempdir().expect("chart dir");
    let chart = dir.path().join("chart");
    let mut at = Vec::new();
    let mut file = |path: &str, docs: &[(&str, &str, &str)]| {
        let (text, lines) = yaml_stream(&docs.iter().map(|d| d.2).collect::<Vec<_>>());
        let full = chart.join(path);
        std::fs::create_dir_all(full.parent().unwrap()).unwrap();
        std::fs::write(&full, text).unwrap();
        for ((kind, name, _), line) in docs.iter().zip(lines) {
            at.push((
                (kind.to_string(), name.to_string()),
                (format!("chart/{path}"), Some(line)),
            ));
        }
    };
    file(
        "templates/web.yaml",
        &[("Deployment", "web", WEB), ("Service", "web", WEB_SERVICE)],
    );
    file("templates/data/db.yml", &[("StatefulSet", "db", DB)]);
    file(
        "templates/jobs.yaml",
        &[("CronJob", "nightly", CRON), ("Secret", "creds", SECRET)],
    );
    file(
        "crds/widgets.yaml",
        &[
            ("CustomResourceDefinition", "widgets.example.com", CRD),
            ("Widget", "spinner", WIDGET),
            ("Gadget", "g1", GADGET),
        ],
    );
    std::fs::write(chart.join("templates/rbac.json"), RBAC_LIST).unwrap();
    for name in ["reader", "everything"] {
        let kind = if name == "reader" {
            "Role"
        } else {
            "ClusterRole"
        };
        at.push((
            (kind.to_string(), name.to_string()),
            ("chart/templates/rbac.json".to_string(), Some(1)),
        ));
    }
    // Not Kubernetes input: kubectl apply -R skips them, so does kq.
    std::fs::write(chart.join("README.md"), "# the chart\n").unwrap();
    std::fs::write(chart.join("templates/NOTES.txt"), "Thank you\n").unwrap();
    Chart { dir, at }
}

fn query(chart: &Chart, extra: &[&str], sql: &str) -> Vec<Value> {
    let mut args = vec!["--manifests", "shop=chart", "-o", "json"];
    args.extend_from_slice(extra);
    args.push(sql);
    json_rows(&kq_in(chart.root(), &args, None))
}

fn origin(row: &Value) -> (String, Option<usize>) {
    (
        row["source_path"]
            .as_str()
            .expect("source_path")
            .to_string(),
        row["source_line"].as_u64().map(|l| l as usize),
    )
}

#[test]
fn manifests_answer_every_table_with_file_and_line() {
    let chart = write_chart();

    let rows = query(
        &chart,
        &[],
        "SELECT cluster, namespace, name, replicas, uid, created, source_path, source_line FROM deployments",
    );
    assert_eq!(rows.len(), 1, "{rows:?}");
    let web = &rows[0];
    assert_eq!(web["cluster"], "shop");
    // No namespace in the file: where kubectl apply would put it.
    assert_eq!(web["namespace"], "default");
    assert_eq!(web["replicas"], 3);
    // Only a server sets these; nothing is invented.
    assert!(web["uid"].is_null() && web["created"].is_null(), "{web}");
    assert_eq!(origin(web), chart.line("Deployment", "web"));

    // -n NS: objects without a namespace land there, as with kubectl apply -n.
    let rows = query(
        &chart,
        &["-n", "shop"],
        "SELECT namespace, name FROM deployments",
    );
    assert_eq!(
        rows,
        [serde_json::json!({"namespace": "shop", "name": "web"})]
    );

    // Child tables: one row per container, each pointing at its object.
    let rows = query(
        &chart,
        &[],
        "SELECT workload_kind, workload_name, name, container_type, privileged, source_path, source_line \
         FROM workload_containers ORDER BY workload_kind, workload_name, name",
    );
    let got: Vec<(String, String, String)> = rows
        .iter()
        .map(|r| {
            (
                r["workload_kind"].as_str().unwrap().to_string(),
                r["workload_name"].as_str().unwrap().to_string(),
                r["name"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    let want = [
        ("CronJob", "nightly", "report"),
        ("Deployment", "web", "app"),
        ("Deployment", "web", "migrate"),
        ("Deployment", "web", "sidecar"),
        ("StatefulSet", "db", "postgres"),
    ]
    .map(|(k, w, n)| (k.to_string(), w.to_string(), n.to_string()));
    assert_eq!(got, want);
    for row in &rows {
        let kind = row["workload_kind"].as_str().unwrap();
        let name = row["workload_name"].as_str().unwrap();
        assert_eq!(origin(row), chart.line(kind, name), "{row}");
    }
    let sidecar = rows.iter().find(|r| r["name"] == "sidecar").unwrap();
    assert_eq!(sidecar["privileged"], true);

    // The view the packs read works on manifests too.
    let rows = query(
        &chart,
        &[],
        "SELECT kind, name, count(*) AS containers FROM template_containers GROUP BY kind, name ORDER BY kind, name",
    );
    assert_eq!(rows.len(), 3, "{rows:?}");

    // Custom resources: a CRD in the files names the table; an unknown
    // kind gets kubectl's guessed plural.
    let rows = query(
        &chart,
        &[],
        "SELECT namespace, name, source_path, source_line FROM widgets",
    );
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!(rows[0]["namespace"], "toys");
    assert_eq!(origin(&rows[0]), chart.line("Widget", "spinner"));
    let rows = query(&chart, &[], "SELECT namespace, name, object FROM gadgets");
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!(rows[0]["namespace"], "default");
    // JSON columns print as JSON in -o json; as text elsewhere.
    let object = match &rows[0]["object"] {
        Value::String(text) => serde_json::from_str(text).unwrap(),
        other => other.clone(),
    };
    assert_eq!(object["kind"], "Gadget");

    // A JSON List: every item is an object; a cluster-scoped one keeps no namespace.
    let rows = query(
        &chart,
        &[],
        "SELECT 'Role' AS kind, namespace, name, source_path, source_line FROM roles \
         UNION ALL SELECT 'ClusterRole', NULL, name, source_path, source_line FROM cluster_roles ORDER BY kind",
    );
    assert_eq!(rows.len(), 2, "{rows:?}");
    for row in &rows {
        let (kind, name) = (row["kind"].as_str().unwrap(), row["name"].as_str().unwrap());
        assert_eq!(origin(row), chart.line(kind, name));
    }
    let rows = query(
        &chart,
        &[],
        "SELECT verbs, resources FROM role_rules WHERE role_name = 'reader'",
    );
    assert_eq!(rows.len(), 1, "{rows:?}");

    // Filters pushed down are exact on manifests as on a server.
    let rows = query(
        &chart,
        &[],
        "SELECT name FROM services WHERE namespace = 'default' AND labels['app'] = 'web' AND name = 'web'",
    );
    assert_eq!(rows.len(), 1, "{rows:?}");
    let rows = query(
        &chart,
        &[],
        "SELECT name FROM services WHERE namespace = 'elsewhere' OR cluster = 'prod'",
    );
    assert!(rows.is_empty(), "{rows:?}");

    // A Secret's stringData is stored as data, and its values stay hidden.
    let rows = query(&chart, &[], "SELECT name, keys FROM secrets");
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!(rows[0]["keys"], serde_json::json!(["password"]));
    let all = ok(&kq_in(
        chart.root(),
        &[
            "--manifests",
            "shop=chart",
            "-o",
            "json",
            "SELECT * FROM secrets",
        ],
        None,
    ));
    assert!(
        !all.contains("hunter2") && !all.contains("aHVudGVyMg"),
        "{all}"
    );
}

#[test]
fn problems_in_files_are_listed_or_fatal_with_strict() {
    let dir = tempfile::tempdir().unwrap();
    let (text, lines) = yaml_stream(&[
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: good\n",
        "metadata:\n  name: no-kind\n",
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: [unclosed\n",
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: good\n",
    ]);
    std::fs::create_dir_all(dir.path().join("m")).unwrap();
    std::fs::write(dir.path().join("m/app.yaml"), text).unwrap();
    let out = kq_in(
        dir.path(),
        &[
            "--manifests",
            "m",
            "-o",
            "json",
            "SELECT name, (SELECT count(*) FROM kq_errors WHERE kind = 'manifest') AS problems FROM config_maps",
        ],
        None,
    );
    let rows = json_rows(&out);
    assert_eq!(
        rows,
        [serde_json::json!({"name": "good", "problems": 3})],
        "the good object is read once"
    );
    let warnings = stderr(&out);
    assert!(
        warnings.contains(&format!(
            "m/app.yaml:{}: the document has no apiVersion and kind",
            lines[1]
        )),
        "{warnings}"
    );
    assert!(warnings.contains("not valid YAML or JSON"), "{warnings}");
    assert!(
        warnings.contains(&format!(
            "m/app.yaml:{}: ConfigMap good in namespace default is declared again (first at m/app.yaml:{})",
            lines[3], lines[0]
        )),
        "{warnings}"
    );
    let listed = json_rows(&kq_in(
        dir.path(),
        &[
            "--manifests",
            "m",
            "-o",
            "json",
            "SELECT cluster, \"table\", severity, error FROM kq_errors ORDER BY error",
        ],
        None,
    ));
    assert_eq!(listed.len(), 3, "{listed:?}");
    assert!(listed.iter().all(|r| r["cluster"] == "manifests"
        && r["table"] == "files"
        && r["severity"] == "warning"));

    // --strict: exit 2, one line naming the file and line, nothing on stdout.
    let strict = kq_in(
        dir.path(),
        &[
            "--manifests",
            "m",
            "--strict",
            "SELECT name FROM config_maps",
        ],
        None,
    );
    assert_eq!(strict.status.code(), Some(2), "{}", stderr(&strict));
    assert!(stdout(&strict).is_empty(), "{}", stdout(&strict));
    let message = stderr(&strict);
    assert!(
        message.starts_with(&format!("kq: m/app.yaml:{}: the document has no", lines[1]))
            && message.contains("(2 more problems)")
            && message.trim().lines().count() == 1,
        "{message}"
    );

    // Bad paths are the command line's error, whatever --strict says.
    for (args, expected) in [
        (
            vec!["--manifests", "nope", "SELECT 1"],
            "kq: --manifests nope: no such file or directory",
        ),
        (
            vec!["--manifests", "m/*.json", "SELECT 1"],
            "kq: --manifests m/*.json: no file matches the glob",
        ),
        (
            vec!["--manifests", "=m", "SELECT 1"],
            "kq: --manifests =m: the name before '=' is empty",
        ),
        (
            vec!["--manifests", "-", "-f", "-"],
            "kq: --manifests - reads the objects from standard input",
        ),
    ] {
        let out = kq_in(dir.path(), &args, Some(""));
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", stderr(&out));
        assert!(
            stderr(&out).starts_with(expected),
            "{args:?}: {}",
            stderr(&out)
        );
        assert!(!stderr(&out).contains("panicked"), "{}", stderr(&out));
    }
}

#[test]
fn stdin_and_kustomize_are_sources_too() {
    let chart = write_chart();
    // helm template … | kq --manifests -
    let rendered = std::fs::read_to_string(chart.root().join("chart/templates/web.yaml")).unwrap();
    let rows = json_rows(&kq_in(
        chart.root(),
        &[
            "--manifests",
            "rendered=-",
            "-o",
            "json",
            "SELECT cluster, name, source_path, source_line FROM deployments",
        ],
        Some(&rendered),
    ));
    let (_, line) = chart.line("Deployment", "web");
    assert_eq!(
        rows,
        [
            serde_json::json!({"cluster": "rendered", "name": "web", "source_path": "<stdin>", "source_line": line})
        ]
    );

    // What helm template prints: each document after a `# Source:` comment
    // naming its template, the only path a reader can open.
    let helm = format!(
        "---\n# Source: shop/templates/web.yaml\n{}---\n# Source: shop/templates/cm.yaml\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: shop-settings\n",
        rendered.trim_start_matches("---\n")
    );
    let rows = json_rows(&kq_in(
        chart.root(),
        &[
            "--manifests",
            "-",
            "-o",
            "json",
            "SELECT name, source_path, source_line FROM deployments UNION ALL SELECT name, source_path, source_line FROM config_maps ORDER BY name",
        ],
        Some(&helm),
    ));
    assert_eq!(
        rows,
        [
            serde_json::json!({"name": "shop-settings", "source_path": "shop/templates/cm.yaml", "source_line": null}),
            serde_json::json!({"name": "web", "source_path": "shop/templates/web.yaml", "source_line": null}),
        ]
    );

    // kubectl kustomize renders; rows keep the kustomization's directory.
    let _ = kubectl_binary();
    // (kustomize reads only files in or below the kustomization's directory.)
    std::fs::write(
        chart.root().join("chart/kustomization.yaml"),
        "namespace: prod\nnamePrefix: prod-\nresources:\n- templates/web.yaml\n- templates/data/db.yml\n",
    )
    .unwrap();
    let rows = json_rows(&kq_in(
        chart.root(),
        &[
            "--kustomize",
            "prod=chart",
            "-o",
            "json",
            "SELECT cluster, namespace, name, source_path, source_line FROM deployments \
             UNION ALL SELECT cluster, namespace, name, source_path, source_line FROM stateful_sets ORDER BY name",
        ],
        None,
    ));
    assert_eq!(
        rows,
        [
            serde_json::json!({"cluster": "prod", "namespace": "prod", "name": "prod-db", "source_path": "chart", "source_line": null}),
            serde_json::json!({"cluster": "prod", "namespace": "prod", "name": "prod-web", "source_path": "chart", "source_line": null}),
        ]
    );
    let broken = chart.root().join("broken");
    std::fs::create_dir_all(&broken).unwrap();
    std::fs::write(
        broken.join("kustomization.yaml"),
        "resources:\n- missing.yaml\n",
    )
    .unwrap();
    let out = kq_in(chart.root(), &["--kustomize", "broken", "SELECT 1"], None);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).starts_with("kq: --kustomize broken: kubectl kustomize failed: "),
        "{}",
        stderr(&out)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn manifests_and_a_live_cluster_answer_one_query() {
    let fleet = TestFleet::start(FleetConfig::uniform(1, 20, 7)).await;
    let chart = write_chart();
    let chart_dir: PathBuf = chart.root().join("chart");
    let out = fleet
        .kq(&[
            "--context",
            "cluster-0",
            "--manifests",
            &format!("desired={}", chart_dir.display()),
            "-o",
            "json",
            "SELECT cluster, count(*) AS objects, count(source_path) AS from_files FROM deployments GROUP BY cluster ORDER BY cluster",
        ])
        .await;
    let rows: Vec<Value> = serde_json::from_str(&ok(&out)).unwrap();
    assert_eq!(rows.len(), 2, "{rows:?}");
    assert_eq!(rows[0]["cluster"], "cluster-0");
    assert!(rows[0]["objects"].as_u64().unwrap() > 0);
    assert_eq!(rows[0]["from_files"], 0, "live rows have no source_path");
    assert_eq!(
        rows[1],
        serde_json::json!({"cluster": "desired", "objects": 1, "from_files": 1})
    );
}

#[test]
fn a_report_on_manifests_points_findings_at_files() {
    let chart = write_chart();
    let out_dir = chart.root().join("out");
    let out = kq_in(
        chart.root(),
        &[
            "report",
            "--manifests",
            "shop=chart",
            "--pack",
            "baseline",
            "--pack",
            "practices",
            "-o",
            "sarif,json,junit",
            "--out",
            "out",
        ],
        None,
    );
    assert!(matches!(out.status.code(), Some(0 | 1)), "{}", stderr(&out));
    let run = std::fs::read_dir(out_dir.join("runs"))
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let sarif: Value =
        serde_json::from_str(&std::fs::read_to_string(run.join("report.sarif")).unwrap()).unwrap();
    let results = sarif["runs"][0]["results"].as_array().unwrap();
    assert!(!results.is_empty());
    let mut privileged_seen = false;
    for result in results {
        let location = &result["locations"][0];
        let logical = location["logicalLocations"][0]["fullyQualifiedName"]
            .as_str()
            .unwrap();
        // shop/<namespace>/<kind>/<name>
        let parts: Vec<&str> = logical.split('/').collect();
        let (kind, name) = (parts[2], parts[3]);
        let (path, line) = chart.line(kind, name);
        let physical = &location["physicalLocation"];
        assert_eq!(
            physical["artifactLocation"]["uri"],
            path.as_str(),
            "{result}"
        );
        assert_eq!(
            physical["region"]["startLine"].as_u64().map(|l| l as usize),
            line,
            "{result}"
        );
        if result["ruleId"] == "baseline.privileged" {
            privileged_seen = true;
            assert_eq!(logical, "shop/default/Deployment/web");
        }
    }
    assert!(privileged_seen, "the privileged sidecar is an alarm");

    let report: Value =
        serde_json::from_str(&std::fs::read_to_string(run.join("report.json")).unwrap()).unwrap();
    let controls = report["controls"].as_array().unwrap();
    // A control that needs a live cluster is not evaluated on files, and says so.
    let monitoring = controls
        .iter()
        .find(|c| c["control"]["id"] == "practices.monitoring")
        .expect("practices.monitoring ran");
    let findings = monitoring["findings"].as_array().unwrap();
    assert_eq!(findings.len(), 1, "{findings:?}");
    assert_eq!(findings[0]["status"], "skip");
    assert!(
        findings[0]["reason"]
            .as_str()
            .unwrap()
            .starts_with("not evaluated on manifests"),
        "{findings:?}"
    );
    let warnings = report["warnings"].as_array().unwrap();
    assert!(
        warnings.iter().any(|w| w
            .as_str()
            .unwrap()
            .contains("need a live cluster and were not evaluated on manifests")),
        "{warnings:?}"
    );
    // Every alarm of a JSON finding carries its location.
    for c in controls {
        for f in c["findings"].as_array().unwrap() {
            if f["status"] == "alarm" {
                let (path, line) =
                    chart.line(f["kind"].as_str().unwrap(), f["name"].as_str().unwrap());
                assert_eq!(f["location"]["path"], path.as_str(), "{f}");
                assert_eq!(
                    f["location"]["line"].as_u64().map(|l| l as usize),
                    line,
                    "{f}"
                );
            }
        }
    }
    let junit = std::fs::read_to_string(run.join("report.junit.xml")).unwrap();
    let (path, line) = chart.line("Deployment", "web");
    assert!(
        junit.contains(&format!(
            "shop/default/Deployment/web ({path}:{})",
            line.unwrap()
        )),
        "{junit}"
    );
}

/// Each `-- live:` control's findings, as `cluster kind/name status`
/// (the skips for manifest sets apart).
fn live_control_findings(report: &Value) -> std::collections::BTreeSet<String> {
    let mut out = std::collections::BTreeSet::new();
    for control in report["controls"].as_array().expect("controls") {
        if control["control"]["live"].is_null() {
            continue;
        }
        let id = control["control"]["id"].as_str().unwrap();
        for f in control["findings"].as_array().expect("findings") {
            let reason = f["reason"].as_str().unwrap_or_default();
            let tag = if reason.starts_with("not evaluated on manifests") {
                "manifest-skip"
            } else {
                f["status"].as_str().unwrap()
            };
            out.insert(format!(
                "{id} {} {}/{} {tag}",
                f["cluster"].as_str().unwrap(),
                f["kind"].as_str().unwrap(),
                f["name"].as_str().unwrap()
            ));
        }
    }
    out
}

/// In a report over files and a live cluster, controls that judge live
/// state see the live cluster exactly as without the files (the set is no
/// extra fleet member), even when the set is named like the context.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn live_controls_judge_the_live_cluster_alone_beside_manifests() {
    let fleet = TestFleet::start(FleetConfig::uniform(2, 20, 8)).await;
    let chart = write_chart();
    let chart_dir = chart.root().join("chart").display().to_string();
    let run = |extra: Vec<String>, out: PathBuf| {
        let fleet = &fleet;
        async move {
            let mut args: Vec<String> = [
                "-A",
                "report",
                "--pack",
                "practices",
                "--pack",
                "cis",
                "-o",
                "json",
                "--out",
            ]
            .iter()
            .map(|a| a.to_string())
            .collect();
            args.push(out.display().to_string());
            args.extend(extra);
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            let output = fleet.kq(&args).await;
            assert!(
                matches!(output.status.code(), Some(0 | 1)),
                "{}",
                stderr(&output)
            );
            live_control_findings(&kq_tests::latest_report_json(&out))
        }
    };
    let alone = run(Vec::new(), chart.root().join("alone")).await;
    assert!(
        alone
            .iter()
            .any(|f| f.ends_with(" ok") || f.ends_with(" alarm")),
        "the live controls judged something: {alone:?}"
    );
    let mixed = run(
        vec!["--manifests".into(), format!("cluster-1={chart_dir}")],
        chart.root().join("mixed"),
    )
    .await;
    let (skips, judged): (Vec<String>, Vec<String>) = mixed
        .into_iter()
        .partition(|f| f.ends_with("manifest-skip"));
    assert_eq!(
        judged
            .into_iter()
            .collect::<std::collections::BTreeSet<_>>(),
        alone,
        "the live verdicts do not change when files join"
    );
    let live_controls: std::collections::BTreeSet<&str> =
        skips.iter().map(|s| s.split(' ').next().unwrap()).collect();
    assert_eq!(
        live_controls.len(),
        skips.len(),
        "one skip per live control for the set: {skips:?}"
    );
    assert!(
        live_controls.contains("cis.default_service_accounts")
            && live_controls.contains("practices.fleet_crds"),
        "{live_controls:?}"
    );
    assert!(
        skips
            .iter()
            .all(|s| s.contains(" cluster-1 Cluster/cluster-1 ")),
        "{skips:?}"
    );
}

/// `template_containers` holds each workload no other workload owns: a Job
/// its CronJob made is covered by the CronJob, while a StatefulSet an
/// operator's custom resource owns is its own (and so is judged).
#[test]
fn template_containers_keeps_workloads_an_operator_owns() {
    let dir = tempfile::tempdir().unwrap();
    let owner = |kind: &str, name: &str| {
        format!(
            "  ownerReferences:\n  - apiVersion: example.com/v1\n    kind: {kind}\n    name: {name}\n    uid: u-{name}\n    controller: true\n"
        )
    };
    let pod = "    spec:\n      containers:\n      - name: main\n        image: busybox:1.36\n";
    let text = format!(
        "apiVersion: batch/v1\nkind: CronJob\nmetadata:\n  name: nightly\nspec:\n  schedule: '0 0 * * *'\n  jobTemplate:\n    spec:\n      template:\n        spec:\n          containers:\n          - name: main\n            image: busybox:1.36\n---\napiVersion: batch/v1\nkind: Job\nmetadata:\n  name: nightly-29000000\n{}spec:\n  template:\n{pod}---\napiVersion: apps/v1\nkind: StatefulSet\nmetadata:\n  name: prometheus-main\n{}spec:\n  serviceName: prometheus\n  selector:\n    matchLabels: {{app: prometheus}}\n  template:\n    metadata:\n      labels: {{app: prometheus}}\n{pod}---\napiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\nspec:\n  selector:\n    matchLabels: {{app: web}}\n  template:\n    metadata:\n      labels: {{app: web}}\n{pod}",
        owner("CronJob", "nightly").replace("example.com/v1", "batch/v1"),
        owner("Prometheus", "main"),
    );
    std::fs::write(dir.path().join("workloads.yaml"), text).unwrap();
    let rows = json_rows(&kq_in(
        dir.path(),
        &[
            "--manifests",
            "workloads.yaml",
            "-o",
            "json",
            "SELECT kind, name FROM template_containers ORDER BY kind, name",
        ],
        None,
    ));
    assert_eq!(
        rows,
        [
            serde_json::json!({"kind": "CronJob", "name": "nightly"}),
            serde_json::json!({"kind": "Deployment", "name": "web"}),
            serde_json::json!({"kind": "StatefulSet", "name": "prometheus-main"}),
        ]
    );
}
