//! The real kubectl against the sim: listing, paging, selectors, discovery,
//! CRDs, apply/delete, watch, RBAC and expired continue tokens.

mod common;

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use common::{Harness, uids};
use kq_sim::{Faults, SimUser};
use serde_json::Value;

const KUBECTL: &str = "/usr/bin/kubectl";
/// /usr/bin/kubectl on the machine image is a dispatcher that picks the kubectl matching the
/// server's minor version; this is the v1.32 binary it ships, pinned explicitly.
const KUBECTL_1_32: &str = "/usr/lib/google-cloud-sdk/bin/kubectl.1.32";
/// Upper bound for one expected watch line; a failure bound, not synchronization.
const LINE_TIMEOUT: Duration = Duration::from_secs(30);

fn kubectl_path() -> PathBuf {
    let p = PathBuf::from(KUBECTL);
    if !p.exists() {
        // Never skip: a missing kubectl must be visible, in CI and locally.
        let ci = std::env::var_os("CI").is_some();
        panic!(
            "kubectl not found at {KUBECTL}; these tests need the real kubectl (v1.32){}",
            if ci { " and CI must provide it" } else { "" }
        );
    }
    p
}

struct Kubectl {
    bin: PathBuf,
    kubeconfig: PathBuf,
    cache: tempfile::TempDir,
}

impl Kubectl {
    fn new(h: &Harness, user: SimUser) -> Self {
        Self::with_bin(h, user, kubectl_path())
    }

    fn with_bin(h: &Harness, user: SimUser, bin: PathBuf) -> Self {
        let kubeconfig = h.dir.path().join(format!("{}.kubeconfig", user.slug()));
        std::fs::write(&kubeconfig, h.fleet().kubeconfig_yaml_for(user)).unwrap();
        Kubectl {
            bin,
            kubeconfig,
            cache: tempfile::tempdir().unwrap(),
        }
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut c = Command::new(&self.bin);
        c.arg("--kubeconfig")
            .arg(&self.kubeconfig)
            .arg("--cache-dir")
            .arg(self.cache.path())
            .args(args)
            .env_remove("KUBECONFIG");
        c
    }

    fn run(&self, args: &[&str]) -> Output {
        self.command(args).output().expect("run kubectl")
    }

    fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(
            out.status.success(),
            "kubectl {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }

    fn json(&self, args: &[&str]) -> Value {
        let mut a = args.to_vec();
        a.extend(["-o", "json"]);
        serde_json::from_str(&self.ok(&a)).unwrap()
    }

    fn fails_with(&self, args: &[&str], needle: &str) -> String {
        let out = self.run(args);
        let err = String::from_utf8_lossy(&out.stderr).into_owned();
        assert!(
            !out.status.success(),
            "kubectl {args:?} unexpectedly succeeded"
        );
        assert!(
            err.contains(needle),
            "kubectl {args:?}: expected {needle:?} in {err}"
        );
        err
    }
}

fn items(v: &Value) -> Vec<Value> {
    v["items"].as_array().cloned().unwrap_or_default()
}

fn names(items: &[Value]) -> BTreeSet<String> {
    items
        .iter()
        .map(|o| {
            format!(
                "{}/{}",
                o["metadata"]["namespace"].as_str().unwrap_or(""),
                o["metadata"]["name"].as_str().unwrap_or("")
            )
        })
        .collect()
}

#[test]
fn list_all_namespaces_matches_the_store_with_and_without_chunking() {
    let h = Harness::start(1, false);
    let k = Kubectl::new(&h, SimUser::Admin);
    let truth = h.cluster().objects("pods");
    assert!(truth.len() > 20);
    let listed = items(&k.json(&["get", "pods", "-A"]));
    assert_eq!(uids(&listed), uids(&truth));
    let chunked = items(&k.json(&["get", "pods", "-A", "--chunk-size=7"]));
    assert_eq!(uids(&chunked), uids(&truth));
    // The human table has one line per pod and the pod columns.
    let table = k.ok(&["get", "pods", "-A"]);
    let mut lines = table.lines();
    let header = lines.next().unwrap();
    for col in ["NAMESPACE", "NAME", "READY", "STATUS", "RESTARTS", "AGE"] {
        assert!(header.contains(col), "{header}");
    }
    assert_eq!(lines.count(), truth.len());
    let lists = h
        .cluster()
        .counters()
        .requests
        .iter()
        .filter(|r| r.verb == "list" && r.query.contains("limit=7"))
        .count();
    assert!(lists >= truth.len() / 7, "chunked list used {lists} pages");
}

#[test]
fn selectors_return_exactly_the_client_side_subset() {
    let h = Harness::start(1, false);
    let k = Kubectl::new(&h, SimUser::Admin);
    let truth = h.cluster().objects("pods");
    let label = |o: &Value, key: &str| o["metadata"]["labels"][key].as_str().map(str::to_string);
    type Filter = Box<dyn Fn(&Value) -> bool>;
    let cases: Vec<(Vec<&str>, Filter)> = vec![
        (
            vec!["-l", "app=web"],
            Box::new(move |o| label(o, "app").as_deref() == Some("web")),
        ),
        (
            vec!["-l", "app in (web,db),tier!=backend"],
            Box::new(move |o| {
                matches!(label(o, "app").as_deref(), Some("web" | "db"))
                    && label(o, "tier").as_deref() != Some("backend")
            }),
        ),
        (
            vec!["-l", "!missing,app notin (agent)"],
            Box::new(move |o| label(o, "app").as_deref() != Some("agent")),
        ),
        (
            vec!["--field-selector", "status.phase=Running"],
            Box::new(|o| o["status"]["phase"] == "Running"),
        ),
        (
            vec![
                "--field-selector",
                "spec.nodeName=node-1,status.phase!=Failed",
            ],
            Box::new(|o| o["spec"]["nodeName"] == "node-1" && o["status"]["phase"] != "Failed"),
        ),
        (
            vec!["--field-selector", "spec.nodeName="],
            Box::new(|o| o["spec"]["nodeName"].as_str().unwrap_or("").is_empty()),
        ),
        (
            vec![
                "--field-selector",
                "spec.hostNetwork=true",
                "-l",
                "tier=frontend",
            ],
            Box::new(|o| {
                o["spec"]["hostNetwork"] == true && o["metadata"]["labels"]["tier"] == "frontend"
            }),
        ),
    ];
    for (args, keep) in cases {
        let expected: Vec<Value> = truth.iter().filter(|o| keep(o)).cloned().collect();
        assert!(
            !expected.is_empty(),
            "{args:?} selects nothing in the fixture"
        );
        let mut a = vec!["get", "pods", "-A"];
        a.extend(args.iter().copied());
        let got = items(&k.json(&a));
        assert_eq!(names(&got), names(&expected), "{args:?}");
    }
    k.fails_with(
        &["get", "pods", "-A", "--field-selector", "spec.bogus=1"],
        "field label not supported: spec.bogus",
    );
    k.fails_with(
        &["get", "pods", "-A", "-l", "app in (web"],
        "Error from server (BadRequest)",
    );
}

#[test]
fn discovery_crds_and_version() {
    let h = Harness::start(1, false);
    let k = Kubectl::new(&h, SimUser::Admin);
    let version: Value = serde_json::from_str(&k.ok(&["get", "--raw", "/version"])).unwrap();
    assert_eq!(version["major"], "1");
    let resources = k.ok(&["api-resources"]);
    for needle in [
        "pods ",
        "deployments ",
        "cronjobs ",
        "ingresses ",
        "customresourcedefinitions ",
        "endpointslices ",
        "horizontalpodautoscalers ",
        "certificates ",
    ] {
        assert!(resources.contains(needle), "api-resources lacks {needle}");
    }
    assert!(resources.contains("cert.example.io/v1"));
    let certs = items(&k.json(&["get", "certificates", "-A"]));
    assert_eq!(uids(&certs), uids(&h.cluster().objects("certificates")));
    let short = k.ok(&["get", "cert", "-A"]);
    assert!(short.lines().next().unwrap().contains("SECRET"), "{short}");
    let crds = k.ok(&["get", "crd"]);
    assert!(crds.contains("certificates.cert.example.io"));
}

#[test]
fn apply_get_update_delete_and_create_namespace() {
    let h = Harness::start(1, false);
    let k = Kubectl::new(&h, SimUser::Admin);
    let manifest = h.dir.path().join("pod.yaml");
    let write = |image: &str| {
        std::fs::write(
            &manifest,
            format!(
                "apiVersion: v1\nkind: Pod\nmetadata:\n  name: applied\n  namespace: team-a\n  labels: {{app: applied}}\nspec:\n  containers:\n  - name: c\n    image: {image}\n"
            ),
        )
        .unwrap()
    };
    let path = manifest.to_str().unwrap();
    write("nginx:1.25");
    assert!(k.ok(&["apply", "-f", path]).contains("pod/applied created"));
    let got = k.json(&["get", "pod", "applied", "-n", "team-a"]);
    assert_eq!(got["spec"]["containers"][0]["image"], "nginx:1.25");
    write("nginx:1.26");
    assert!(k.ok(&["apply", "-f", path]).contains("configured"));
    let stored = h
        .cluster()
        .objects("pods")
        .into_iter()
        .find(|p| p["metadata"]["name"] == "applied")
        .unwrap();
    assert_eq!(stored["spec"]["containers"][0]["image"], "nginx:1.26");
    assert!(k.ok(&["delete", "-f", path]).contains("deleted"));
    assert!(
        !h.cluster()
            .objects("pods")
            .iter()
            .any(|p| p["metadata"]["name"] == "applied")
    );

    assert!(
        k.ok(&["create", "namespace", "scratch"])
            .contains("namespace/scratch created")
    );
    assert!(k.ok(&["get", "ns", "scratch"]).contains("Active"));
    k.ok(&[
        "create",
        "configmap",
        "cfg",
        "-n",
        "scratch",
        "--from-literal=a=b",
    ]);
    assert_eq!(h.cluster().objects("configmaps").len(), 1);
    k.ok(&["delete", "namespace", "scratch"]);
    assert!(h.cluster().objects("configmaps").is_empty());
    k.fails_with(
        &["get", "pod", "nope", "-n", "default"],
        "Error from server (NotFound)",
    );
}

fn expect_line(rx: &mpsc::Receiver<String>, what: impl Fn(&str) -> bool, desc: &str) {
    loop {
        match rx.recv_timeout(LINE_TIMEOUT) {
            Ok(line) if what(&line) => return,
            Ok(_) => continue,
            Err(e) => panic!("waiting for {desc}: {e}"),
        }
    }
}

#[test]
fn watch_sees_apply_and_delete() {
    let h = Harness::start(1, false);
    let k = Kubectl::new(&h, SimUser::Admin);
    let mut child = k
        .command(&["get", "pods", "-n", "team-b", "-w", "--output-watch-events"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    // The initial list arrives first (as ADDED events).
    let first = h
        .cluster()
        .objects("pods")
        .into_iter()
        .find(|p| p["metadata"]["namespace"] == "team-b")
        .unwrap();
    let first_name = first["metadata"]["name"].as_str().unwrap().to_string();
    expect_line(&rx, |l| l.contains(&first_name), "the initial list");
    let manifest = h.dir.path().join("w.yaml");
    std::fs::write(
        &manifest,
        "apiVersion: v1\nkind: Pod\nmetadata:\n  name: watched\n  namespace: team-b\nspec:\n  containers:\n  - name: c\n    image: busybox\n",
    )
    .unwrap();
    k.ok(&["apply", "-f", manifest.to_str().unwrap()]);
    expect_line(
        &rx,
        |l| l.starts_with("ADDED") && l.contains("watched"),
        "ADDED watched",
    );
    k.ok(&["delete", "pod", "watched", "-n", "team-b"]);
    expect_line(
        &rx,
        |l| l.starts_with("DELETED") && l.contains("watched"),
        "DELETED watched",
    );
    let _ = child.kill();
    let _ = child.wait();
}

#[test]
fn limited_tokens_are_forbidden() {
    let h = Harness::start(1, false);
    let reader = Kubectl::new(&h, SimUser::TeamAReader);
    let err = reader.fails_with(&["get", "pods", "-A"], "Error from server (Forbidden)");
    assert!(
        err.contains("User \"team-a-reader\" cannot list resource \"pods\" in API group \"\" at the cluster scope"),
        "{err}"
    );
    let in_team_a = items(&reader.json(&["get", "pods", "-n", "team-a"]));
    assert_eq!(
        in_team_a.len(),
        h.cluster()
            .objects("pods")
            .iter()
            .filter(|p| p["metadata"]["namespace"] == "team-a")
            .count()
    );
    reader.fails_with(
        &["delete", "pod", "-n", "team-a", "--all"],
        "Error from server (Forbidden)",
    );
    assert_eq!(
        reader
            .ok(&["auth", "can-i", "list", "pods", "-n", "team-a"])
            .trim(),
        "yes"
    );
    let no_secrets = Kubectl::new(&h, SimUser::NoSecrets);
    no_secrets.fails_with(&["get", "secrets", "-A"], "Error from server (Forbidden)");
    let pods = items(&no_secrets.json(&["get", "pods", "-A"]));
    assert_eq!(uids(&pods), uids(&h.cluster().objects("pods")));
}

#[test]
fn stale_continue_token_is_expired() {
    let h = Harness::start(1, false);
    let k = Kubectl::new(&h, SimUser::Admin);
    h.cluster().set_faults(Faults {
        continue_expires_after_pages: Some(2),
        ..Faults::default()
    });
    k.fails_with(
        &["get", "pods", "-A", "--chunk-size=7", "-o", "name"],
        "Error from server (Expired)",
    );
    h.cluster().set_faults(Faults::default());
    let all = k.ok(&["get", "pods", "-A", "--chunk-size=7", "-o", "name"]);
    assert_eq!(all.lines().count(), h.cluster().objects("pods").len());
}

#[test]
fn generated_fleet_lists_like_the_generator_says() {
    // Independent of the fixture: whatever the generator produced must list back exactly.
    let rt = tokio::runtime::Runtime::new().unwrap();
    let config = kq_sim::FleetConfig::uniform(1, 40, 11);
    let profile = config.clusters[0].clone();
    let generated = kq_sim::generate::generate_cluster(&profile, config.seed);
    let generated_pods = generated.iter().filter(|o| o["kind"] == "Pod").count();
    let fleet = rt.block_on(kq_sim::start(config)).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let kc = dir.path().join("kc");
    fleet.write_kubeconfig(&kc).unwrap();
    let cache = tempfile::tempdir().unwrap();
    let out = Command::new(kubectl_path())
        .args(["--kubeconfig", kc.to_str().unwrap(), "--cache-dir"])
        .arg(cache.path())
        .args(["get", "pods", "-A", "-o", "json", "--chunk-size=50"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let listed: Value = serde_json::from_slice(&out.stdout).unwrap();
    let truth = fleet.clusters()[0].objects("pods");
    assert_eq!(truth.len(), generated_pods);
    assert_eq!(uids(&items(&listed)), uids(&truth));
    rt.block_on(fleet.shutdown());
}

#[test]
fn kubeconfig_is_written_atomically_with_every_context() {
    let h = Harness::start(2, false);
    let path: &Path = &h.dir.path().join("written.kubeconfig");
    h.fleet().write_kubeconfig(path).unwrap();
    let text = std::fs::read_to_string(path).unwrap();
    let doc: serde_yaml::Value = serde_yaml::from_str(&text).unwrap();
    assert_eq!(doc["current-context"].as_str(), Some("cluster-0"));
    assert_eq!(doc["contexts"].as_sequence().unwrap().len(), 2);
    let leftovers: Vec<_> = std::fs::read_dir(h.dir.path())
        .unwrap()
        .filter_map(Result::ok)
        .filter(|e| e.file_name().to_string_lossy().contains(".tmp"))
        .collect();
    assert!(leftovers.is_empty());
    let k = Kubectl {
        bin: kubectl_path(),
        kubeconfig: path.to_path_buf(),
        cache: tempfile::tempdir().unwrap(),
    };
    let second = k.ok(&["--context", "cluster-1", "get", "ns", "-o", "name"]);
    assert!(second.contains("namespace/team-a"));
}

#[test]
fn pinned_kubectl_1_32_core_flows() {
    // Falls back to the default kubectl (never skips) where the pinned binary is not installed.
    let pinned = PathBuf::from(KUBECTL_1_32);
    let bin = if pinned.exists() {
        pinned
    } else {
        kubectl_path()
    };
    let h = Harness::start(1, false);
    let k = Kubectl::with_bin(&h, SimUser::Admin, bin);
    let truth = h.cluster().objects("pods");
    assert_eq!(
        uids(&items(&k.json(&["get", "pods", "-A", "--chunk-size=7"]))),
        uids(&truth)
    );
    let manifest = h.dir.path().join("cm.yaml");
    std::fs::write(
        &manifest,
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: pinned\n  namespace: team-a\ndata:\n  k: v\n",
    )
    .unwrap();
    assert!(
        k.ok(&["apply", "-f", manifest.to_str().unwrap()])
            .contains("configmap/pinned created")
    );
    assert!(
        k.ok(&["create", "namespace", "pinned-ns"])
            .contains("created")
    );
    assert!(k.ok(&["api-resources"]).contains("certificates"));
    let reader = Kubectl::with_bin(&h, SimUser::TeamAReader, k.bin.clone());
    reader.fails_with(&["get", "pods", "-A"], "Error from server (Forbidden)");
}
