//! kq connects wherever kubectl connects: every kubeconfig shape, kubectl
//! and kq side by side against the sim serving it, with the same verdict.
//!
//! Certificate shapes (CA-signed, with an intermediate, self-signed with
//! CA:TRUE, a pinned leaf in data or in a file, expired, wrong CA, wrong
//! host, `tls-server-name`, `insecure-skip-tls-verify`), servers by IP and
//! by name, client certificates of every PEM flavour, tokens, token files,
//! exec plugins, the in-cluster service account and `proxy-url`. Where
//! kubectl fails, kq fails too, with one sentence naming the cluster, the
//! server and what to do, and never a library's internals.

use std::path::{Path, PathBuf};
use std::process::Output;

use base64::Engine as _;
use kq_tests::proxy::ConnectProxy;
use kq_tests::{
    FleetConfig, KqProcess, SimUser, TestFleet, free_port, kubectl, ndjson_rows, run_kq, stderr,
    stdout,
};
use serde_json::{Value, json};

use kq_sim::TlsShape;

const PODS: usize = 6;
const QUERY: &str = "SELECT uid FROM pods";

/// How the kubeconfig trusts the server.
#[derive(Clone)]
enum Trust {
    /// `certificate-authority-data` with this PEM.
    Data(String),
    /// `certificate-authority` naming a file with this PEM.
    File(String),
    /// `insecure-skip-tls-verify: true`, and optionally a CA as well.
    Insecure(Option<String>),
}

/// How the kubeconfig's user authenticates.
#[derive(Clone)]
enum User {
    Token(String),
    TokenFile(PathBuf),
    CertData {
        cert: String,
        key: String,
    },
    CertFiles {
        cert: PathBuf,
        key: PathBuf,
    },
    Exec {
        script: PathBuf,
        interactive: &'static str,
    },
}

/// One cluster, one user, one context: the shape under test.
#[derive(Clone)]
struct Shape {
    server: String,
    trust: Trust,
    tls_server_name: Option<String>,
    proxy_url: Option<String>,
    user: User,
}

impl Shape {
    fn new(fleet: &TestFleet) -> Shape {
        let cluster = &fleet.fleet.clusters()[0];
        Shape {
            server: cluster.url(),
            trust: Trust::Data(cluster.ca_pem()),
            tls_server_name: None,
            proxy_url: None,
            user: User::Token(cluster.token(SimUser::Admin)),
        }
    }

    fn write(&self, dir: &Path, name: &str) -> PathBuf {
        let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
        let mut cluster = json!({"server": self.server});
        match &self.trust {
            Trust::Data(pem) => cluster["certificate-authority-data"] = json!(b64(pem)),
            Trust::File(pem) => {
                let path = dir.join(format!("{name}-ca.pem"));
                std::fs::write(&path, pem).expect("write the CA file");
                cluster["certificate-authority"] = json!(path);
            }
            Trust::Insecure(ca) => {
                cluster["insecure-skip-tls-verify"] = json!(true);
                if let Some(pem) = ca {
                    cluster["certificate-authority-data"] = json!(b64(pem));
                }
            }
        }
        if let Some(name) = &self.tls_server_name {
            cluster["tls-server-name"] = json!(name);
        }
        if let Some(url) = &self.proxy_url {
            cluster["proxy-url"] = json!(url);
        }
        let user = match &self.user {
            User::Token(token) => json!({"token": token}),
            User::TokenFile(path) => json!({"tokenFile": path}),
            User::CertData { cert, key } => {
                json!({"client-certificate-data": b64(cert), "client-key-data": b64(key)})
            }
            User::CertFiles { cert, key } => {
                json!({"client-certificate": cert, "client-key": key})
            }
            User::Exec {
                script,
                interactive,
            } => json!({"exec": {
                "apiVersion": "client.authentication.k8s.io/v1",
                "command": script,
                "interactiveMode": interactive,
            }}),
        };
        let doc = json!({
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [{"name": "c", "cluster": cluster}],
            "users": [{"name": "u", "user": user}],
            "contexts": [{"name": name, "context": {"cluster": "c", "user": "u"}}],
            "current-context": name,
        });
        let path = dir.join(format!("{name}.kubeconfig"));
        std::fs::write(&path, serde_yaml::to_string(&doc).expect("kubeconfig YAML"))
            .expect("write the kubeconfig");
        path
    }
}

/// kubectl's and kq's answers to the same kubeconfig.
struct Verdicts {
    kubectl: Output,
    kq: Output,
}

async fn both(fleet: &TestFleet, shape: &Shape, name: &str) -> Verdicts {
    let path = shape.write(fleet.dir.path(), name);
    let kubectl = kubectl(&path, &["get", "pods", "-A", "-o", "name"]).await;
    let kq = run_kq(&path, &["-o", "ndjson", QUERY]).await;
    Verdicts { kubectl, kq }
}

impl Verdicts {
    /// Both read every pod.
    #[track_caller]
    fn both_read(&self, what: &str, pods: usize) {
        assert!(
            self.kubectl.status.success(),
            "{what}: kubectl fails: {}",
            stderr(&self.kubectl)
        );
        assert_eq!(
            stdout(&self.kubectl).lines().count(),
            pods,
            "{what}: kubectl lists every pod"
        );
        assert!(
            self.kq.status.success(),
            "{what}: kq fails where kubectl succeeds: {}",
            stderr(&self.kq)
        );
        assert_eq!(
            ndjson_rows(&self.kq).len(),
            pods,
            "{what}: kq reads every pod"
        );
    }

    /// Both refuse; kq says so in one sentence containing `expected`.
    #[track_caller]
    fn both_refuse(&self, what: &str, expected: &str) -> String {
        assert!(
            !self.kubectl.status.success(),
            "{what}: kubectl was expected to refuse; it printed {}",
            stdout(&self.kubectl)
        );
        assert_eq!(
            self.kq.status.code(),
            Some(2),
            "{what}: kq refuses too (exit 2): stdout {} stderr {}",
            stdout(&self.kq),
            stderr(&self.kq)
        );
        assert!(stdout(&self.kq).is_empty(), "{what}: nothing on stdout");
        let err = stderr(&self.kq);
        assert_clean(what, &err);
        assert!(
            err.contains(expected),
            "{what}: kq says {expected:?}: {err}"
        );
        err
    }
}

/// No library internals, Debug output or secrets in what a person reads.
#[track_caller]
fn assert_clean(what: &str, err: &str) {
    for internal in [
        "ServiceError",
        "client error",
        "Other(",
        "OtherError",
        "hyper",
        "Os {",
        "kind:",
        "panicked",
        "kqsim-",
    ] {
        assert!(
            !err.contains(internal),
            "{what}: stderr shows {internal:?}: {err}"
        );
    }
}

fn fixture(name: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures/tls")
        .join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()))
}

async fn fleet(shape: TlsShape, seed: u64) -> TestFleet {
    TestFleet::start(FleetConfig::uniform(1, PODS, seed).with_tls(shape)).await
}

fn pods(fleet: &TestFleet) -> usize {
    fleet.fleet.clusters()[0].objects("pods").len()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn certificate_shapes_get_kubectls_verdict() {
    // Signed by the kubeconfig's CA, by IP and by name.
    let signed = fleet(TlsShape::CaSigned, 61).await;
    let n = pods(&signed);
    let shape = Shape::new(&signed);
    both(&signed, &shape, "ca-signed")
        .await
        .both_read("CA-signed", n);
    let by_name = Shape {
        server: shape.server.replace("127.0.0.1", "localhost"),
        ..shape.clone()
    };
    both(&signed, &by_name, "by-name")
        .await
        .both_read("addressed as localhost", n);
    // The server's own leaf pinned as the CA, in data and in a file.
    let leaf = signed.fleet.clusters()[0].serving_cert_pem();
    let pinned = Shape {
        trust: Trust::Data(leaf.clone()),
        ..shape.clone()
    };
    both(&signed, &pinned, "pinned-data")
        .await
        .both_read("leaf pinned in certificate-authority-data", n);
    let pinned_file = Shape {
        trust: Trust::File(leaf),
        ..shape.clone()
    };
    both(&signed, &pinned_file, "pinned-file")
        .await
        .both_read("leaf pinned in a certificate-authority file", n);
    // Another cluster's CA: both refuse, kq says why.
    let other = fleet(TlsShape::CaSigned, 62).await;
    let wrong_ca = Shape {
        trust: Trust::Data(other.fleet.clusters()[0].ca_pem()),
        ..shape.clone()
    };
    let err = both(&signed, &wrong_ca, "wrong-ca")
        .await
        .both_refuse("wrong CA", "not signed by the CA in your kubeconfig");
    assert!(err.contains(&shape.server), "names the server: {err}");
    assert!(
        err.contains("cluster 'wrong-ca'"),
        "names the cluster: {err}"
    );

    // An intermediate between the kubeconfig's root and the leaf.
    let chained = fleet(TlsShape::Intermediate, 63).await;
    both(&chained, &Shape::new(&chained), "intermediate")
        .await
        .both_read("intermediate CA", pods(&chained));

    // Self-signed with CA:TRUE, trusted as its own CA.
    let self_signed = fleet(TlsShape::SelfSignedCa, 64).await;
    both(&self_signed, &Shape::new(&self_signed), "self-signed")
        .await
        .both_read(
            "self-signed CA:TRUE serving certificate",
            pods(&self_signed),
        );

    // Expired.
    let expired = fleet(TlsShape::Expired, 65).await;
    both(&expired, &Shape::new(&expired), "expired")
        .await
        .both_refuse("expired certificate", "certificate expired");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn host_names_follow_tls_server_name() {
    let named = fleet(TlsShape::Hosts(vec!["kubernetes.default.svc".into()]), 66).await;
    let n = pods(&named);
    let shape = Shape::new(&named);
    let err = both(&named, &shape, "no-server-name")
        .await
        .both_refuse("certificate for another host", "not valid for 127.0.0.1");
    assert!(
        err.contains("kubernetes.default.svc") && err.contains("tls-server-name"),
        "names the certificate's host and the fix: {err}"
    );
    let with_name = Shape {
        tls_server_name: Some("kubernetes.default.svc".into()),
        ..shape.clone()
    };
    both(&named, &with_name, "server-name")
        .await
        .both_read("tls-server-name", n);
    let wrong_name = Shape {
        tls_server_name: Some("elsewhere.example".into()),
        ..shape
    };
    both(&named, &wrong_name, "wrong-server-name")
        .await
        .both_refuse(
            "tls-server-name the certificate lacks",
            "not valid for elsewhere.example",
        );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn insecure_skip_tls_verify_works_with_a_warning() {
    let expired = fleet(TlsShape::Expired, 67).await;
    let shape = Shape {
        trust: Trust::Insecure(None),
        ..Shape::new(&expired)
    };
    let verdicts = both(&expired, &shape, "insecure").await;
    verdicts.both_read("insecure-skip-tls-verify", pods(&expired));
    let err = stderr(&verdicts.kq);
    assert_eq!(
        err.lines()
            .filter(|l| l.contains("verification is disabled"))
            .count(),
        1,
        "one warning line: {err}"
    );
    // kubectl refuses insecure-skip-tls-verify beside a CA; so does kq.
    let both_set = Shape {
        trust: Trust::Insecure(Some(expired.fleet.clusters()[0].ca_pem())),
        ..shape
    };
    both(&expired, &both_set, "insecure-and-ca")
        .await
        .both_refuse(
            "insecure-skip-tls-verify with a CA",
            "insecure-skip-tls-verify",
        );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_certificates_of_every_pem_flavour() {
    let signed = fleet(TlsShape::CaSigned, 68).await;
    let n = pods(&signed);
    let cluster = &signed.fleet.clusters()[0];
    for (flavour, pkcs8, key) in [
        ("rsa-pkcs1", "rsa2048.pkcs8.pem", "rsa2048.pkcs1.pem"),
        ("rsa-pkcs8", "rsa2048.pkcs8.pem", "rsa2048.pkcs8.pem"),
        ("ec-sec1", "ecp256.pkcs8.pem", "ecp256.sec1.pem"),
        ("ec-pkcs8", "ecp256.pkcs8.pem", "ecp256.pkcs8.pem"),
    ] {
        let cert = cluster
            .issue_client_cert(SimUser::Admin, &fixture(pkcs8))
            .expect("issue a client certificate");
        let key = fixture(key);
        let data = Shape {
            user: User::CertData {
                cert: cert.clone(),
                key: key.clone(),
            },
            ..Shape::new(&signed)
        };
        both(&signed, &data, flavour)
            .await
            .both_read(&format!("client certificate, {flavour} key, inline"), n);
        let dir = signed.dir.path();
        let (cert_path, key_path) = (
            dir.join(format!("{flavour}.crt")),
            dir.join(format!("{flavour}.key")),
        );
        std::fs::write(&cert_path, &cert).expect("write the certificate");
        std::fs::write(&key_path, &key).expect("write the key");
        let files = Shape {
            user: User::CertFiles {
                cert: cert_path,
                key: key_path,
            },
            ..Shape::new(&signed)
        };
        both(&signed, &files, &format!("{flavour}-files"))
            .await
            .both_read(&format!("client certificate, {flavour} key, files"), n);
    }
    // A certificate of a CA the server does not trust is rejected.
    let other = fleet(TlsShape::CaSigned, 69).await;
    let foreign = other.fleet.clusters()[0]
        .issue_client_cert(SimUser::Admin, &fixture("ecp256.pkcs8.pem"))
        .expect("issue a foreign certificate");
    let shape = Shape {
        user: User::CertData {
            cert: foreign,
            key: fixture("ecp256.pkcs8.pem"),
        },
        ..Shape::new(&signed)
    };
    both(&signed, &shape, "foreign-cert")
        .await
        .both_refuse("client certificate from another CA", "unauthorized");
}

/// An exec credential plugin that prints the token in `token_file` and
/// counts its runs in `runs_file`.
fn exec_plugin(dir: &Path, name: &str, token_file: &Path, runs_file: &Path) -> PathBuf {
    let script = dir.join(format!("{name}.sh"));
    std::fs::write(
        &script,
        format!(
            "#!/bin/sh\necho run >> '{runs}'\nprintf '{{\"apiVersion\":\"client.authentication.k8s.io/v1\",\"kind\":\"ExecCredential\",\"status\":{{\"token\":\"%s\"}}}}' \"$(cat '{token}')\"\n",
            runs = runs_file.display(),
            token = token_file.display()
        ),
    )
    .expect("write the plugin");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755))
            .expect("make the plugin executable");
    }
    script
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokens_token_files_and_exec_plugins() {
    let signed = fleet(TlsShape::CaSigned, 70).await;
    let n = pods(&signed);
    let dir = signed.dir.path();
    let token = signed.fleet.clusters()[0].token(SimUser::Admin);
    let token_file = dir.join("token");
    std::fs::write(&token_file, &token).expect("write the token file");
    let shape = Shape {
        user: User::TokenFile(token_file.clone()),
        ..Shape::new(&signed)
    };
    both(&signed, &shape, "token-file")
        .await
        .both_read("tokenFile", n);
    for interactive in ["Never", "IfAvailable"] {
        let runs = dir.join(format!("runs-{interactive}"));
        let script = exec_plugin(dir, interactive, &token_file, &runs);
        let shape = Shape {
            user: User::Exec {
                script,
                interactive,
            },
            ..Shape::new(&signed)
        };
        both(&signed, &shape, &format!("exec-{interactive}"))
            .await
            .both_read(&format!("exec plugin, interactiveMode {interactive}"), n);
    }
    // A plugin that fails: one sentence naming it, no token or output dump.
    let broken = dir.join("broken.sh");
    std::fs::write(
        &broken,
        "#!/bin/sh\necho 'login expired, run: sso login' >&2\nexit 3\n",
    )
    .expect("write the plugin");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::set_permissions(&broken, std::fs::Permissions::from_mode(0o755))
            .expect("make the plugin executable");
    }
    let shape = Shape {
        user: User::Exec {
            script: broken,
            interactive: "Never",
        },
        ..Shape::new(&signed)
    };
    let err = both(&signed, &shape, "exec-broken")
        .await
        .both_refuse("a failing exec plugin", "credential plugin");
    assert!(
        err.contains("login expired, run: sso login"),
        "says what the plugin said: {err}"
    );
}

/// A running `kq watch` over one namespace's pod names.
fn watch(kubeconfig: &Path) -> KqProcess {
    KqProcess::spawn(
        kubeconfig,
        &[
            "watch",
            "--changes",
            "SELECT name FROM pods WHERE namespace = 'rotation' ORDER BY name",
        ],
    )
}

fn rotation_pod(name: &str) -> Value {
    json!({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": "rotation"},
        "spec": {"containers": [{"name": "app", "image": "nginx:1.27"}]},
    })
}

/// A cluster with one pod in namespace `rotation`, and a file holding the
/// admin's token.
async fn rotation_fleet(seed: u64) -> (TestFleet, PathBuf) {
    let fleet = TestFleet::start(FleetConfig::uniform(1, 0, seed)).await;
    let cluster = &fleet.fleet.clusters()[0];
    cluster
        .upsert(json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "rotation"}}))
        .expect("create the namespace");
    cluster
        .upsert(rotation_pod("before"))
        .expect("create a pod");
    let token_file = fleet.dir.path().join("token");
    std::fs::write(&token_file, cluster.token(SimUser::Admin)).expect("write the token file");
    (fleet, token_file)
}

/// Rotates the admin token (the old one is revoked), writes the new one to
/// `token_file`, and makes kq's open watch end, so its next request carries
/// the revoked token: kq must produce credentials again, not give up.
async fn rotate_under(fleet: &TestFleet, kq: &mut KqProcess, token_file: &Path) {
    let cluster = &fleet.fleet.clusters()[0];
    let fresh = cluster.rotate_token(SimUser::Admin);
    std::fs::write(token_file, fresh).expect("rotate the token file");
    cluster.force_watch_expiry();
    cluster
        .upsert(rotation_pod("after"))
        .expect("create a pod after the rotation");
    let line = kq.next_json().await;
    assert_eq!(line["op"], "added", "{line}");
    assert_eq!(line["row"]["name"], "after", "{line}");
    assert!(
        cluster.counters().requests.iter().any(|r| r.status == 401),
        "the revoked token was refused on the way"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rotated_token_file_is_read_again() {
    let (signed, token_file) = rotation_fleet(71).await;
    let shape = Shape {
        user: User::TokenFile(token_file.clone()),
        ..Shape::new(&signed)
    };
    let kubeconfig = shape.write(signed.dir.path(), "rotating-file");
    let mut kq = watch(&kubeconfig);
    assert_eq!(kq.next_json().await["row"]["name"], "before");
    rotate_under(&signed, &mut kq, &token_file).await;
    assert!(
        !kq.stderr().contains("error"),
        "no failure on the way: {}",
        kq.stderr()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_exec_credential_that_expires_mid_run_is_refreshed() {
    let (signed, token_file) = rotation_fleet(72).await;
    let dir = signed.dir.path();
    let runs = dir.join("runs");
    let script = exec_plugin(dir, "plugin", &token_file, &runs);
    let shape = Shape {
        user: User::Exec {
            script,
            interactive: "Never",
        },
        ..Shape::new(&signed)
    };
    let kubeconfig = shape.write(dir, "rotating-exec");
    let mut kq = watch(&kubeconfig);
    assert_eq!(kq.next_json().await["row"]["name"], "before");
    let runs_before = std::fs::read_to_string(&runs)
        .unwrap_or_default()
        .lines()
        .count();
    rotate_under(&signed, &mut kq, &token_file).await;
    let runs_after = std::fs::read_to_string(&runs)
        .unwrap_or_default()
        .lines()
        .count();
    assert!(
        runs_after > runs_before,
        "the plugin ran again after the 401 ({runs_before} → {runs_after} runs)"
    );
    assert!(
        !kq.stderr().contains("error"),
        "no failure on the way: {}",
        kq.stderr()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn proxy_url_tunnels_through_an_http_proxy() {
    let signed = fleet(TlsShape::CaSigned, 73).await;
    let proxy = ConnectProxy::start().await;
    let shape = Shape {
        proxy_url: Some(proxy.url.clone()),
        ..Shape::new(&signed)
    };
    let before = proxy.tunnels();
    let verdicts = both(&signed, &shape, "proxied").await;
    verdicts.both_read("proxy-url", pods(&signed));
    assert!(
        proxy.tunnels() >= before + 2,
        "kubectl and kq both went through the proxy ({} tunnels)",
        proxy.tunnels() - before
    );
    // A proxy that is not there: both fail, kq names the proxy.
    let dead = Shape {
        proxy_url: Some(format!("http://127.0.0.1:{}", free_port())),
        ..Shape::new(&signed)
    };
    both(&signed, &dead, "dead-proxy")
        .await
        .both_refuse("a proxy that is down", "cannot connect");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unreachable_servers_get_a_sentence_naming_the_cause() {
    let signed = fleet(TlsShape::CaSigned, 74).await;
    let refused = Shape {
        server: format!("https://127.0.0.1:{}", free_port()),
        ..Shape::new(&signed)
    };
    let err = both(&signed, &refused, "refused")
        .await
        .both_refuse("connection refused", "connection refused");
    assert!(err.contains(&refused.server), "{err}");
    let unresolvable = Shape {
        server: "https://kq-test-host.invalid:6443".into(),
        ..Shape::new(&signed)
    };
    both(&signed, &unresolvable, "dns")
        .await
        .both_refuse("a host name that does not resolve", "does not resolve");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kq_errors_has_a_kind_to_match_on() {
    let fleet = TestFleet::start(FleetConfig::uniform(2, PODS, 75)).await;
    let clusters = fleet.fleet.clusters();
    let mut doc: Value =
        serde_yaml::from_str(&fleet.fleet.kubeconfig_yaml()).expect("the sim's kubeconfig");
    // cluster-1's server is a port nothing listens on.
    let dead = format!("https://127.0.0.1:{}", free_port());
    for entry in doc["clusters"].as_array_mut().expect("clusters") {
        if entry["name"] == clusters[1].name() {
            entry["cluster"]["server"] = json!(dead);
        }
    }
    let path = fleet.dir.path().join("half-dead");
    std::fs::write(&path, serde_yaml::to_string(&doc).expect("YAML")).expect("write");
    let out = run_kq(
        &path,
        &[
            "-A",
            "-o",
            "ndjson",
            "SELECT count(*) AS n FROM pods; SELECT cluster, severity, kind, error FROM kq_errors",
        ],
    )
    .await;
    assert!(out.status.success(), "{}", stderr(&out));
    let rows = ndjson_rows(&out);
    let errors: Vec<&Value> = rows.iter().filter(|r| r.get("kind").is_some()).collect();
    assert_eq!(errors.len(), 1, "{rows:?}");
    assert_eq!(errors[0]["cluster"], clusters[1].name());
    assert_eq!(errors[0]["kind"], "unreachable");
    assert_eq!(errors[0]["severity"], "error");
    let message = errors[0]["error"].as_str().expect("error text");
    assert!(
        message.contains(&dead) && message.contains("connection refused"),
        "{message}"
    );
    assert_clean("kq_errors", message);
}

/// Runs `program args` with the in-cluster service account of `cluster`
/// mounted where Kubernetes mounts it, in a private mount namespace.
async fn in_cluster(fleet: &TestFleet, program: &Path, args: &[&str]) -> Output {
    let cluster = &fleet.fleet.clusters()[0];
    let secrets = fleet.dir.path().join("serviceaccount");
    std::fs::create_dir_all(&secrets).expect("create the service account dir");
    std::fs::write(secrets.join("token"), cluster.token(SimUser::TeamAReader)).expect("token");
    std::fs::write(secrets.join("ca.crt"), cluster.ca_pem()).expect("ca.crt");
    std::fs::write(secrets.join("namespace"), kq_sim::TEAM_A_NAMESPACE).expect("namespace");
    let port = cluster.url().rsplit(':').next().expect("port").to_string();
    let unshare =
        kq_tests::required_on_path("unshare", "the in-cluster test", "install util-linux");
    let script = "mount -t tmpfs tmpfs /run && mkdir -p /run/secrets/kubernetes.io/serviceaccount \
                  && cp \"$1\"/* /run/secrets/kubernetes.io/serviceaccount/ && shift && exec \"$@\"";
    let mut full: Vec<String> = vec![
        "-m".into(),
        "sh".into(),
        "-c".into(),
        script.into(),
        "sh".into(),
        secrets.display().to_string(),
        program.display().to_string(),
    ];
    full.extend(args.iter().map(|a| a.to_string()));
    let home = tempfile::tempdir().expect("HOME");
    let home_path = home.path().to_path_buf();
    let output = tokio::task::spawn_blocking(move || {
        std::process::Command::new(unshare)
            .args(&full)
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", home_path)
            .env("KUBERNETES_SERVICE_HOST", "127.0.0.1")
            .env("KUBERNETES_SERVICE_PORT", port)
            .output()
            .expect("run unshare")
    })
    .await
    .expect("join");
    drop(home);
    output
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_in_cluster_service_account_is_used_without_a_kubeconfig() {
    let signed = fleet(TlsShape::CaSigned, 76).await;
    let cluster = &signed.fleet.clusters()[0];
    cluster
        .upsert(json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": kq_sim::TEAM_A_NAMESPACE}}))
        .expect("namespace");
    for name in ["one", "two"] {
        cluster
            .upsert(json!({
                "apiVersion": "v1", "kind": "Pod",
                "metadata": {"name": name, "namespace": kq_sim::TEAM_A_NAMESPACE},
                "spec": {"containers": [{"name": "app", "image": "nginx:1.27"}]},
            }))
            .expect("pod");
    }
    let kubectl = in_cluster(
        &signed,
        &kq_tests::kubectl_binary(),
        &["get", "pods", "-o", "name"],
    )
    .await;
    assert!(
        kubectl.status.success(),
        "kubectl in-cluster: {}",
        stderr(&kubectl)
    );
    assert_eq!(stdout(&kubectl).lines().count(), 2, "{}", stdout(&kubectl));
    let kq = in_cluster(
        &signed,
        kq_tests::kq_binary(),
        &[
            "-o",
            "ndjson",
            "SELECT cluster, name FROM pods WHERE namespace = 'team-a' ORDER BY name",
        ],
    )
    .await;
    assert!(kq.status.success(), "kq in-cluster: {}", stderr(&kq));
    let rows = ndjson_rows(&kq);
    assert_eq!(
        rows,
        vec![
            json!({"cluster": "in-cluster", "name": "one"}),
            json!({"cluster": "in-cluster", "name": "two"}),
        ]
    );
}
