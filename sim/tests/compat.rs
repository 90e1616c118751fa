//! What kq's compatibility tests lean on, judged by the real kubectl:
//! every serving-certificate shape, client-certificate authentication,
//! token rotation, and older API server releases (/version, aggregated
//! discovery, field selectors).
//!
//! The stderr of every kubectl failure is printed (run with `--nocapture`)
//! so kq can match kubectl's verdict and wording.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use base64::Engine;
use common::{Harness, Resp};
use kq_sim::{FleetConfig, ServerVersion, SimUser, TlsShape};
use serde_json::{Value, json};

const KUBECTL: &str = "/usr/bin/kubectl";
/// Upper bound for one expected watch line; a failure bound, not synchronization.
const LINE_TIMEOUT: Duration = Duration::from_secs(30);
const KUBECTL_DISCOVERY_ACCEPT: &str = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList,application/json";

fn kubectl_path() -> PathBuf {
    let p = PathBuf::from(KUBECTL);
    // Never skip: a missing kubectl must be visible, in CI and locally.
    assert!(
        p.exists(),
        "kubectl not found at {KUBECTL}; these tests need the real kubectl"
    );
    p
}

fn version(minor: u32) -> ServerVersion {
    ServerVersion::new(1, minor).unwrap()
}

/// How a kubeconfig user authenticates.
enum Auth {
    Token(String),
    ClientCert { cert_pem: String, key_pem: String },
}

/// A one-context kubeconfig for the harness' first cluster.
struct Kubeconfig {
    ca_pem: String,
    tls_server_name: Option<String>,
    auth: Auth,
}

impl Kubeconfig {
    fn token(h: &Harness, user: SimUser) -> Self {
        Kubeconfig {
            ca_pem: h.cluster().ca_pem(),
            tls_server_name: None,
            auth: Auth::Token(h.cluster().token(user)),
        }
    }

    fn yaml(&self, server: &str) -> String {
        let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
        let mut cluster =
            json!({"server": server, "certificate-authority-data": b64(&self.ca_pem)});
        if let Some(name) = &self.tls_server_name {
            cluster["tls-server-name"] = json!(name);
        }
        let user = match &self.auth {
            Auth::Token(t) => json!({"token": t}),
            Auth::ClientCert { cert_pem, key_pem } => json!({
                "client-certificate-data": b64(cert_pem),
                "client-key-data": b64(key_pem),
            }),
        };
        serde_yaml::to_string(&json!({
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [{"name": "sim", "cluster": cluster}],
            "users": [{"name": "sim", "user": user}],
            "contexts": [{"name": "sim", "context": {"cluster": "sim", "user": "sim"}}],
            "current-context": "sim",
        }))
        .unwrap()
    }

    fn command(&self, h: &Harness, args: &[&str]) -> Command {
        let path = h.dir.path().join(format!(
            "kc-{}.yaml",
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos()
        ));
        std::fs::write(&path, self.yaml(&h.cluster().url())).unwrap();
        let cache = h.dir.path().join("cache");
        let mut c = Command::new(kubectl_path());
        c.arg("--kubeconfig")
            .arg(&path)
            .arg("--cache-dir")
            .arg(&cache)
            .args(args)
            .env_remove("KUBECONFIG");
        c
    }

    fn run(&self, h: &Harness, args: &[&str]) -> Output {
        self.command(h, args).output().expect("run kubectl")
    }

    fn ok(&self, h: &Harness, args: &[&str]) -> String {
        let out = self.run(h, args);
        assert!(
            out.status.success(),
            "kubectl {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }

    /// Runs a command that must fail, prints and returns its stderr.
    fn fails(&self, h: &Harness, what: &str, args: &[&str]) -> String {
        let out = self.run(h, args);
        let err = String::from_utf8_lossy(&out.stderr).into_owned();
        assert!(
            !out.status.success(),
            "kubectl {args:?} unexpectedly succeeded ({what})"
        );
        eprintln!(
            "--- kubectl stderr, {what} (exit {:?}):\n{err}---",
            out.status.code()
        );
        err
    }
}

fn pod_count(h: &Harness) -> usize {
    h.cluster().objects("pods").len()
}

fn lists_every_pod(h: &Harness, kc: &Kubeconfig) {
    let out = kc.ok(h, &["get", "pods", "-A", "-o", "name"]);
    assert_eq!(out.lines().count(), pod_count(h), "{out}");
}

fn tls_harness(shape: TlsShape) -> Harness {
    Harness::start_with(FleetConfig::uniform(1, 0, 7).with_tls(shape))
}

#[test]
fn ca_signed_serving_certificates_are_trusted() {
    let h = tls_harness(TlsShape::CaSigned);
    assert_ne!(h.cluster().ca_pem(), h.cluster().serving_cert_pem());
    lists_every_pod(&h, &Kubeconfig::token(&h, SimUser::Admin));
}

#[test]
fn a_pinned_serving_leaf_is_trusted() {
    let h = tls_harness(TlsShape::CaSigned);
    let mut kc = Kubeconfig::token(&h, SimUser::Admin);
    kc.ca_pem = h.cluster().serving_cert_pem();
    lists_every_pod(&h, &kc);
}

#[test]
fn intermediate_chains_verify_against_the_root() {
    let h = tls_harness(TlsShape::Intermediate);
    assert_ne!(h.cluster().ca_pem(), h.cluster().serving_cert_pem());
    lists_every_pod(&h, &Kubeconfig::token(&h, SimUser::Admin));
}

#[test]
fn self_signed_ca_certificates_are_their_own_trust_anchor() {
    let h = tls_harness(TlsShape::SelfSignedCa);
    assert_eq!(h.cluster().ca_pem(), h.cluster().serving_cert_pem());
    lists_every_pod(&h, &Kubeconfig::token(&h, SimUser::Admin));
}

#[test]
fn expired_serving_certificates_fail_with_the_x509_expiry_error() {
    let h = tls_harness(TlsShape::Expired);
    let err = Kubeconfig::token(&h, SimUser::Admin).fails(
        &h,
        "expired serving certificate",
        &["get", "pods", "-A", "-o", "name"],
    );
    assert!(
        err.contains("x509: certificate has expired or is not yet valid"),
        "{err}"
    );
}

#[test]
fn a_certificate_for_another_host_needs_tls_server_name() {
    let h = tls_harness(TlsShape::Hosts(vec!["kubernetes.default.svc".into()]));
    let mut kc = Kubeconfig::token(&h, SimUser::Admin);
    let err = kc.fails(
        &h,
        "serving certificate for kubernetes.default.svc only, no tls-server-name",
        &["get", "pods", "-A", "-o", "name"],
    );
    assert!(
        err.contains(
            "x509: cannot validate certificate for 127.0.0.1 because it doesn't contain any IP SANs"
        ),
        "{err}"
    );
    kc.tls_server_name = Some("kubernetes.default.svc".into());
    lists_every_pod(&h, &kc);
}

fn client_cert_kubeconfig(h: &Harness, cert_pem: String, key_pem: String) -> Kubeconfig {
    Kubeconfig {
        ca_pem: h.cluster().ca_pem(),
        tls_server_name: None,
        auth: Auth::ClientCert { cert_pem, key_pem },
    }
}

#[test]
fn client_certificates_authenticate_as_their_common_name() {
    let h = Harness::start(1, false);
    let c = h.cluster();
    let key = rcgen::KeyPair::generate().unwrap(); // EC P-256
    let key_pem = key.serialize_pem();
    assert!(key_pem.starts_with("-----BEGIN PRIVATE KEY-----"));
    let admin = c.issue_client_cert(SimUser::Admin, &key_pem).unwrap();
    assert!(admin.starts_with("-----BEGIN CERTIFICATE-----"));
    assert!(c.client_ca_pem().starts_with("-----BEGIN CERTIFICATE-----"));
    c.reset_counters();
    lists_every_pod(&h, &client_cert_kubeconfig(&h, admin, key_pem.clone()));
    let users: Vec<String> = c.counters().requests.into_iter().map(|r| r.user).collect();
    assert!(!users.is_empty());
    assert!(users.iter().all(|u| u == "kq-sim-admin"), "{users:?}");

    // The CN is the user: team-a-reader may read team-a only.
    let reader = c.issue_client_cert(SimUser::TeamAReader, &key_pem).unwrap();
    let kc = client_cert_kubeconfig(&h, reader, key_pem);
    let err = kc.fails(
        &h,
        "team-a-reader client certificate listing all namespaces",
        &["get", "pods", "-A"],
    );
    assert!(err.contains("User \"team-a-reader\" cannot list"), "{err}");
    kc.ok(&h, &["get", "pods", "-n", "team-a", "-o", "name"]);
}

/// Test-only keys made with `openssl genpkey` (PKCS#8) and converted with
/// `openssl rsa -traditional` (PKCS#1) / `openssl ec` (SEC1): the sim is handed
/// the PKCS#8 form, the kubeconfig carries the other encoding of the same key.
const KEY_FIXTURES: &[(&str, &str, &str)] = &[
    (
        "RSA 2048, PKCS#1 in the kubeconfig",
        include_str!("../../tests/fixtures/tls/rsa2048.pkcs8.pem"),
        include_str!("../../tests/fixtures/tls/rsa2048.pkcs1.pem"),
    ),
    (
        "RSA 2048, PKCS#8 in the kubeconfig",
        include_str!("../../tests/fixtures/tls/rsa2048.pkcs8.pem"),
        include_str!("../../tests/fixtures/tls/rsa2048.pkcs8.pem"),
    ),
    (
        "EC P-256, SEC1 in the kubeconfig",
        include_str!("../../tests/fixtures/tls/ecp256.pkcs8.pem"),
        include_str!("../../tests/fixtures/tls/ecp256.sec1.pem"),
    ),
];

#[test]
fn client_certificates_work_for_rsa_and_ec_keys_in_every_pem_flavour() {
    let h = Harness::start(1, false);
    for (what, pkcs8, in_kubeconfig) in KEY_FIXTURES {
        let cert = h
            .cluster()
            .issue_client_cert(SimUser::Admin, pkcs8)
            .unwrap_or_else(|e| panic!("{what}: {e}"));
        let out = client_cert_kubeconfig(&h, cert, in_kubeconfig.to_string())
            .run(&h, &["get", "pods", "-A", "-o", "name"]);
        assert!(
            out.status.success(),
            "{what}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(
            String::from_utf8_lossy(&out.stdout).lines().count(),
            pod_count(&h),
            "{what}"
        );
    }
}

#[test]
fn client_certificates_from_another_ca_are_unauthorized() {
    let h = Harness::start(2, false);
    let key = rcgen::KeyPair::generate().unwrap();
    let key_pem = key.serialize_pem();
    // cluster-1's client CA means nothing to cluster-0.
    let foreign = h.fleet().clusters()[1]
        .issue_client_cert(SimUser::Admin, &key_pem)
        .unwrap();
    let err = client_cert_kubeconfig(&h, foreign, key_pem).fails(
        &h,
        "client certificate from another CA",
        &["get", "pods", "-A", "-o", "name"],
    );
    // Discovery fails first (nothing cached), and client-go words a 401 on a raw
    // request as "the server has asked for the client to provide credentials".
    assert!(
        err.contains("error: You must be logged in to the server (the server has asked for the client to provide credentials)"),
        "{err}"
    );
}

/// Lists pods with kube-rs (rustls), which sends its client certificate whatever CA
/// the server hints at, so the server, not the client, decides.
fn kube_rs_list_pods(h: &Harness, kc: &Kubeconfig) -> Result<usize, kube::Error> {
    let yaml = kc.yaml(&h.cluster().url());
    h.rt.block_on(async {
        let kubeconfig = kube::config::Kubeconfig::from_yaml(&yaml).unwrap();
        let config = kube::Config::from_custom_kubeconfig(kubeconfig, &Default::default())
            .await
            .unwrap();
        let client = kube::Client::try_from(config).unwrap();
        let pods: kube::Api<k8s_openapi::api::core::v1::Pod> = kube::Api::all(client);
        pods.list(&Default::default()).await.map(|l| l.items.len())
    })
}

#[test]
fn a_presented_foreign_certificate_completes_the_handshake_and_gets_401() {
    let h = Harness::start(2, false);
    let key_pem = rcgen::KeyPair::generate().unwrap().serialize_pem();
    let own = h
        .cluster()
        .issue_client_cert(SimUser::Admin, &key_pem)
        .unwrap();
    let listed = kube_rs_list_pods(&h, &client_cert_kubeconfig(&h, own, key_pem.clone()));
    assert_eq!(listed.unwrap(), pod_count(&h));
    let foreign = h.fleet().clusters()[1]
        .issue_client_cert(SimUser::Admin, &key_pem)
        .unwrap();
    match kube_rs_list_pods(&h, &client_cert_kubeconfig(&h, foreign, key_pem)) {
        Err(kube::Error::Api(status)) => {
            assert_eq!(status.code, 401, "{status:?}");
            assert_eq!(status.reason, "Unauthorized");
        }
        other => panic!("expected a 401 Status, got {other:?}"),
    }
}

#[test]
fn issuing_client_certificates_needs_a_pkcs8_key_and_tls() {
    let h = Harness::start(1, false);
    let err = h
        .cluster()
        .issue_client_cert(
            SimUser::Admin,
            "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n",
        )
        .unwrap_err();
    assert!(matches!(err, kq_sim::SimError::ClientCert { .. }), "{err}");
    let plain = Harness::start(1, true);
    let key = rcgen::KeyPair::generate().unwrap().serialize_pem();
    assert!(
        plain
            .cluster()
            .issue_client_cert(SimUser::Admin, &key)
            .is_err()
    );
    assert_eq!(plain.cluster().client_ca_pem(), "");
}

#[test]
fn rotated_tokens_stop_working_but_open_watches_continue() {
    let h = Harness::start(1, false);
    let c = h.cluster();
    let old = Kubeconfig::token(&h, SimUser::Admin);
    let mut child = old
        .command(
            &h,
            &["get", "pods", "-n", "team-b", "-w", "--output-watch-events"],
        )
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
    let expect = |what: &str| loop {
        match rx.recv_timeout(LINE_TIMEOUT) {
            Ok(line) if line.contains(what) => return,
            Ok(_) => continue,
            Err(e) => panic!("waiting for {what}: {e}"),
        }
    };
    let first = c
        .objects("pods")
        .into_iter()
        .find(|p| p["metadata"]["namespace"] == "team-b")
        .unwrap();
    expect(first["metadata"]["name"].as_str().unwrap());
    // kubectl prints the list before it opens the watch; rotate once the watch is open.
    let deadline = std::time::Instant::now() + LINE_TIMEOUT;
    while c.counters().watches_open == 0 {
        assert!(
            std::time::Instant::now() < deadline,
            "kubectl never opened its watch"
        );
        std::thread::sleep(Duration::from_millis(20));
    }

    let new_token = c.rotate_token(SimUser::Admin);
    assert_eq!(c.token(SimUser::Admin), new_token);
    let err = old.fails(
        &h,
        "rotated-away token",
        &["get", "pods", "-A", "-o", "name"],
    );
    assert!(
        err.contains("You must be logged in to the server (Unauthorized)"),
        "{err}"
    );
    lists_every_pod(&h, &Kubeconfig::token(&h, SimUser::Admin));

    // The watch opened with the old token still delivers events.
    let mut pod = first.clone();
    pod["metadata"] = json!({"name": "after-rotation", "namespace": "team-b"});
    c.upsert(pod).unwrap();
    expect("after-rotation");
    let _ = child.kill();
    let _ = child.wait();
}

/// GET over plain HTTP as the admin.
fn get(h: &Harness, path: &str, accept: Option<&str>) -> Resp {
    let c = h.cluster();
    let addr = c.url().trim_start_matches("http://").to_string();
    let mut req = format!(
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nAuthorization: Bearer {}\r\n",
        c.token(SimUser::Admin)
    );
    if let Some(a) = accept {
        req.push_str(&format!("Accept: {a}\r\n"));
    }
    req.push_str("\r\n");
    let mut s = TcpStream::connect(&addr).unwrap();
    s.write_all(req.as_bytes()).unwrap();
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).unwrap();
    common::parse_response(&raw)
}

fn plain_harness(v: ServerVersion) -> Harness {
    let mut cfg = FleetConfig::uniform(1, 0, 7).with_server_version(v);
    cfg.plain_http = true;
    Harness::start_with(cfg)
}

const LB_SERVICES: &str = "/api/v1/services?fieldSelector=spec.type%3DLoadBalancer";

#[test]
fn older_servers_reject_the_service_field_selectors_they_lack() {
    let old = plain_harness(version(27));
    let r = get(&old, LB_SERVICES, None);
    assert_eq!(r.status, 400, "{}", String::from_utf8_lossy(&r.body));
    let status = r.json();
    assert_eq!(status["kind"], "Status");
    assert_eq!(status["reason"], "BadRequest");
    assert_eq!(status["code"], 400);
    // Before 1.31 Service has no field-label conversion, so the generic one answers.
    assert_eq!(
        status["message"],
        r#""spec.type" is not a known field selector: only "metadata.name", "metadata.namespace""#
    );
    let r = get(
        &old,
        "/api/v1/services?fieldSelector=metadata.name%3Dx",
        None,
    );
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["kind"], "ServiceList");
    // Pods' hostNetwork selector arrived in 1.28.
    let r = get(
        &old,
        "/api/v1/pods?fieldSelector=spec.hostNetwork%3Dtrue",
        None,
    );
    assert_eq!(r.status, 400);
    assert_eq!(
        r.json()["message"],
        "field label not supported: spec.hostNetwork"
    );

    let current = plain_harness(ServerVersion::default());
    let r = get(&current, LB_SERVICES, None);
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(r.json()["kind"], "ServiceList");
    let r = get(
        &current,
        "/api/v1/pods?fieldSelector=spec.hostNetwork%3Dtrue",
        None,
    );
    assert_eq!(r.status, 200);
}

#[test]
fn version_reports_the_claimed_release() {
    let h = plain_harness(version(27));
    assert_eq!(h.cluster().server_version(), version(27));
    let v = get(&h, "/version", None).json();
    assert_eq!(v["major"], "1");
    assert_eq!(v["minor"], "27");
    assert_eq!(v["gitVersion"], "v1.27.16");
    let v = get(&plain_harness(ServerVersion::default()), "/version", None).json();
    assert_eq!(v["minor"], "33");
}

#[test]
fn discovery_negotiates_what_the_release_serves() {
    let aggregated =
        |v: &str| format!("application/json;g=apidiscovery.k8s.io;v={v};as=APIGroupDiscoveryList");
    // 1.27 has v2beta1 only: a v2-first request gets v2beta1.
    let h = plain_harness(version(27));
    let r = get(&h, "/apis", Some(KUBECTL_DISCOVERY_ACCEPT));
    assert_eq!(
        r.header("content-type").unwrap_or(""),
        aggregated("v2beta1")
    );
    assert_eq!(r.json()["apiVersion"], "apidiscovery.k8s.io/v2beta1");
    assert_eq!(r.json()["kind"], "APIGroupDiscoveryList");

    // 1.25 has none: the legacy documents, whatever was asked.
    let h = plain_harness(version(25));
    let r = get(&h, "/apis", Some(KUBECTL_DISCOVERY_ACCEPT));
    assert_eq!(r.header("content-type").unwrap_or(""), "application/json");
    assert_eq!(r.json()["kind"], "APIGroupList");
    let r = get(&h, "/api", Some(&aggregated("v2beta1")));
    assert_eq!(r.json()["kind"], "APIVersions");

    // 1.30 serves v2 (and still v2beta1).
    let h = plain_harness(version(30));
    let r = get(&h, "/api", Some(KUBECTL_DISCOVERY_ACCEPT));
    assert_eq!(r.header("content-type").unwrap_or(""), aggregated("v2"));
    let r = get(
        &h,
        "/api",
        Some(&format!("{},application/json", aggregated("v2beta1"))),
    );
    assert_eq!(
        r.header("content-type").unwrap_or(""),
        aggregated("v2beta1")
    );

    // 1.33 (the default) no longer serves v2beta1.
    let h = plain_harness(ServerVersion::default());
    let r = get(&h, "/apis", Some(KUBECTL_DISCOVERY_ACCEPT));
    assert_eq!(r.header("content-type").unwrap_or(""), aggregated("v2"));
    let r = get(
        &h,
        "/apis",
        Some(&format!("{},application/json", aggregated("v2beta1"))),
    );
    assert_eq!(r.json()["kind"], "APIGroupList");
}

#[test]
fn kubectl_against_an_older_release() {
    let h = Harness::start_with(FleetConfig::uniform(1, 0, 7).with_server_version(version(27)));
    let kc = Kubeconfig::token(&h, SimUser::Admin);
    lists_every_pod(&h, &kc);
    let v: Value = serde_json::from_str(&kc.ok(&h, &["get", "--raw", "/version"])).unwrap();
    assert_eq!(v["gitVersion"], "v1.27.16");
    assert!(kc.ok(&h, &["api-resources"]).contains("deployments"));
    let err = kc.fails(
        &h,
        "spec.type field selector on a 1.27 server",
        &[
            "get",
            "services",
            "-A",
            "--field-selector",
            "spec.type=LoadBalancer",
        ],
    );
    assert!(err.contains("Error from server (BadRequest)"), "{err}");
    assert!(
        err.contains(r#""spec.type" is not a known field selector: only "metadata.name", "metadata.namespace""#),
        "{err}"
    );
}

#[test]
fn the_cli_rejects_bad_versions_and_shapes_in_one_line() {
    let bin = env!("CARGO_BIN_EXE_kq-sim");
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = dir.path().join("kc");
    for (flag, value, needle) in [
        ("--server-version", "1.19", "--server-version"),
        ("--server-version", "1.34", "--server-version"),
        ("--server-version", "v1.27", "--server-version"),
        ("--tls-shape", "hosts", "--tls-shape"),
    ] {
        let out = Command::new(bin)
            .arg("--kubeconfig")
            .arg(&kubeconfig)
            .args(["--clusters", "1", "--pods", "0", flag, value])
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{flag} {value}: {err}");
        assert_eq!(err.trim_end().lines().count(), 1, "{err}");
        assert!(err.contains(needle), "{err}");
        assert!(!kubeconfig.exists());
    }
}
