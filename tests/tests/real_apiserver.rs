//! The kq-apiserver harness itself: the real kube-apiserver starts, loads
//! fixtures with their status, and enforces RBAC for the limited user.
//! (kq is not run here; this proves the ground the real-server tests
//! stand on.)

use std::path::PathBuf;

use kq_tests::apiserver::{RealServer, RealServerOptions};
use kq_tests::{kubectl, stderr, stdout};

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures")
        .join(name)
}

#[tokio::test]
async fn harness_loads_fixtures_and_enforces_rbac() {
    let server = RealServer::start(RealServerOptions {
        fixtures: vec![
            fixture("broken-apiservice.yaml"),
            fixture("real-smoke.yaml"),
        ],
        ..Default::default()
    })
    .await;

    // The pod keeps the phase its fixture gave it (written through the
    // status subresource), and the server-owned metadata is the server's.
    let out = kubectl(&server.kubeconfig, &["get", "pods", "-A", "-o", "json"]).await;
    assert!(out.status.success(), "{}", stderr(&out));
    let pods: serde_json::Value = serde_json::from_str(&stdout(&out)).expect("pods JSON");
    let pod = pods["items"]
        .as_array()
        .expect("items")
        .iter()
        .find(|p| p["metadata"]["name"] == "web-5d4f8c7b9-abcde")
        .unwrap_or_else(|| panic!("the fixture pod is missing: {pods}"));
    assert_eq!(pod["metadata"]["namespace"], "smoke");
    assert_eq!(pod["status"]["phase"], "Running", "{pod}");
    assert_ne!(
        pod["metadata"]["uid"], "00000000-0000-0000-0000-000000000001",
        "the fixture's uid must be stripped"
    );

    let out = kubectl(&server.kubeconfig, &["get", "node", "node-1", "-o", "json"]).await;
    assert!(out.status.success(), "{}", stderr(&out));
    let node: serde_json::Value = serde_json::from_str(&stdout(&out)).expect("node JSON");
    let ready = node["status"]["conditions"]
        .as_array()
        .expect("node conditions")
        .iter()
        .any(|c| c["type"] == "Ready" && c["status"] == "True");
    assert!(ready, "{node}");

    let out = kubectl(
        &server.kubeconfig,
        &["get", "deployment", "web", "-n", "smoke", "-o", "json"],
    )
    .await;
    assert!(out.status.success(), "{}", stderr(&out));
    let deployment: serde_json::Value = serde_json::from_str(&stdout(&out)).expect("JSON");
    assert_eq!(deployment["status"]["readyReplicas"], 1, "{deployment}");

    // kq-limited reads team-a and nothing cluster-wide.
    let out = kubectl(
        &server.kubeconfig,
        &["--context", "real-limited", "get", "pods", "-n", "team-a"],
    )
    .await;
    assert!(out.status.success(), "{}", stderr(&out));
    let out = kubectl(
        &server.kubeconfig,
        &["--context", "real-limited", "get", "pods", "-A"],
    )
    .await;
    assert!(!out.status.success(), "kq-limited listed pods cluster-wide");
    assert!(stderr(&out).contains("forbidden"), "{}", stderr(&out));

    // The client-certificate context is an admin too.
    let out = kubectl(
        &server.kubeconfig,
        &["--context", "real-admin-cert", "get", "ns"],
    )
    .await;
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).contains("smoke"), "{}", stdout(&out));

    // A copy of the kubeconfig with another current context.
    let limited = server.context_kubeconfig("real-limited");
    let out = kubectl(&limited, &["get", "pods"]).await;
    assert!(out.status.success(), "{}", stderr(&out));

    // The admin endpoint compacts etcd.
    let before = server.revision();
    assert!(server.compact() >= before);
}
