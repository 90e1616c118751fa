//! Shared fixtures for the kq-sim integration tests: a small, hand-built
//! cluster (independent of the generator) and helpers to start a fleet.

#![allow(dead_code)]

use kq_sim::{ClusterHandle, Fleet, FleetConfig};
use serde_json::{Value, json};

pub const NAMESPACES: &[&str] = &["default", "kube-system", "team-a", "team-b"];

pub fn namespace(name: &str) -> Value {
    json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name, "labels": {"team": name}}})
}

pub fn pod(ns: &str, name: &str, app: &str, phase: &str, node: Option<&str>) -> Value {
    let mut spec = json!({
        "containers": [{"name": app, "image": format!("{app}:1.0")}],
        "restartPolicy": "Always",
        "serviceAccountName": "default",
        "schedulerName": "default-scheduler",
    });
    if let Some(n) = node {
        spec["nodeName"] = json!(n);
    }
    if app == "agent" {
        spec["hostNetwork"] = json!(true);
    }
    let ready = phase == "Running";
    json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": name, "namespace": ns, "labels": {"app": app, "tier": if app == "db" { "backend" } else { "frontend" }}},
        "spec": spec,
        "status": {
            "phase": phase,
            "podIP": if node.is_some() { json!(format!("10.0.{}.{}", name.len(), ns.len())) } else { Value::Null },
            "containerStatuses": [{"name": app, "ready": ready, "restartCount": 0, "state": if ready { json!({"running": {}}) } else { json!({"waiting": {"reason": "ContainerCreating"}}) }}]
        }
    })
}

pub fn crd() -> Value {
    json!({
        "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
        "metadata": {"name": "certificates.cert.example.io"},
        "spec": {
            "group": "cert.example.io", "scope": "Namespaced",
            "names": {"plural": "certificates", "singular": "certificate", "kind": "Certificate", "shortNames": ["cert"], "listKind": "CertificateList"},
            "versions": [{"name": "v1", "served": true, "storage": true,
                "schema": {"openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": true}},
                "additionalPrinterColumns": [{"name": "Secret", "type": "string", "jsonPath": ".spec.secretName"}]}]
        }
    })
}

/// The fixture objects, in load order (CRD and namespaces first).
pub fn fixture_objects() -> Vec<Value> {
    let mut objs = vec![crd()];
    objs.extend(NAMESPACES.iter().map(|n| namespace(n)));
    for i in 0..3 {
        objs.push(json!({"apiVersion": "v1", "kind": "Node", "metadata": {"name": format!("node-{i}"), "labels": {"kubernetes.io/hostname": format!("node-{i}")}},
            "spec": {"unschedulable": i == 2},
            "status": {"conditions": [{"type": "Ready", "status": "True"}], "nodeInfo": {"kubeletVersion": "v1.33.1"}}}));
    }
    let apps = ["web", "db", "cache", "agent"];
    let phases = ["Running", "Running", "Pending", "Failed", "Succeeded"];
    for (i, ns) in NAMESPACES.iter().enumerate() {
        for j in 0..12 {
            let app = apps[(i + j) % apps.len()];
            let phase = phases[(i * 3 + j) % phases.len()];
            let node = if phase == "Pending" {
                None
            } else {
                Some(format!("node-{}", j % 3))
            };
            objs.push(pod(
                ns,
                &format!("{app}-{i}-{j:02}"),
                app,
                phase,
                node.as_deref(),
            ));
        }
    }
    for (ns, name, ty) in [
        ("default", "db-password", "Opaque"),
        ("team-a", "tls-cert", "kubernetes.io/tls"),
        ("team-b", "registry", "kubernetes.io/dockerconfigjson"),
    ] {
        objs.push(json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": name, "namespace": ns}, "type": ty, "data": {"k": "dmFsdWU="}}));
    }
    for (ns, name) in [("default", "www"), ("team-a", "api"), ("team-b", "shop")] {
        objs.push(json!({"apiVersion": "cert.example.io/v1", "kind": "Certificate", "metadata": {"name": name, "namespace": ns}, "spec": {"secretName": format!("{name}-tls"), "dnsNames": [format!("{name}.example.com")]}}));
    }
    objs.push(json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web", "namespace": "default"},
        "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "web"}}, "template": {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [{"name": "web", "image": "web:1.0"}]}}}}));
    objs.push(json!({"apiVersion": "v1", "kind": "Event", "metadata": {"name": "web-0-00.1", "namespace": "default"},
        "involvedObject": {"kind": "Pod", "namespace": "default", "name": "web-0-00", "apiVersion": "v1"}, "reason": "BackOff", "type": "Warning", "message": "Back-off restarting failed container", "source": {"component": "kubelet"}}));
    objs
}

/// Cluster-scoped kinds the generator may produce (namespaced ones go with their namespace).
const CLUSTER_SCOPED: &[&str] = &[
    "customresourcedefinitions",
    "namespaces",
    "nodes",
    "persistentvolumes",
    "clusterroles",
    "clusterrolebindings",
    "storageclasses",
    "ingressclasses",
];

/// Removes whatever the generator put in the cluster, so fixtures start from nothing.
pub fn empty_cluster(c: &ClusterHandle) {
    for plural in CLUSTER_SCOPED {
        for o in c.objects(plural) {
            let name = o["metadata"]["name"]
                .as_str()
                .unwrap_or_default()
                .to_string();
            c.delete(plural, None, &name)
                .expect("delete generated object");
        }
    }
}

/// Starts a fleet of `n` clusters named cluster-0.., empties them and loads the fixture,
/// so these tests never depend on the generator's output.
pub async fn fixture_fleet(n: usize, plain_http: bool) -> Fleet {
    let mut cfg = FleetConfig::uniform(n, 0, 7);
    cfg.plain_http = plain_http;
    fixture_fleet_with(cfg).await
}

/// [`fixture_fleet`] for any configuration (its clusters are emptied and loaded with the fixture).
pub async fn fixture_fleet_with(cfg: FleetConfig) -> Fleet {
    let fleet = kq_sim::start(cfg).await.expect("start fleet");
    for c in fleet.clusters() {
        empty_cluster(c);
        load_fixture(c);
    }
    fleet
}

pub fn load_fixture(c: &ClusterHandle) {
    for o in fixture_objects() {
        c.upsert(o).expect("load fixture object");
    }
}

pub fn uids(items: &[Value]) -> Vec<String> {
    let mut v: Vec<String> = items
        .iter()
        .map(|o| o["metadata"]["uid"].as_str().unwrap_or("").to_string())
        .collect();
    v.sort();
    v
}

/// A fleet running on its own runtime, so tests can block on subprocesses and sockets.
pub struct Harness {
    pub rt: tokio::runtime::Runtime,
    pub fleet: Option<Fleet>,
    pub dir: tempfile::TempDir,
}

impl Harness {
    pub fn start(clusters: usize, plain_http: bool) -> Self {
        let mut cfg = FleetConfig::uniform(clusters, 0, 7);
        cfg.plain_http = plain_http;
        Self::start_with(cfg)
    }

    /// A harness over any configuration (pods per cluster are replaced by the fixture).
    pub fn start_with(cfg: FleetConfig) -> Self {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("runtime");
        let fleet = rt.block_on(fixture_fleet_with(cfg));
        Harness {
            rt,
            fleet: Some(fleet),
            dir: tempfile::tempdir().expect("tempdir"),
        }
    }

    pub fn fleet(&self) -> &Fleet {
        self.fleet.as_ref().expect("fleet running")
    }

    pub fn cluster(&self) -> &ClusterHandle {
        &self.fleet().clusters()[0]
    }
}

impl Drop for Harness {
    fn drop(&mut self) {
        if let Some(f) = self.fleet.take() {
            self.rt.block_on(f.shutdown());
        }
    }
}

/// A plain-HTTP response read off the socket: status, headers, body.
pub struct Resp {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Resp {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&self.body)))
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

fn dechunk(mut b: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some(pos) = b.windows(2).position(|w| w == b"\r\n") {
        let size =
            usize::from_str_radix(std::str::from_utf8(&b[..pos]).unwrap().trim(), 16).unwrap();
        if size == 0 {
            break;
        }
        out.extend_from_slice(&b[pos + 2..pos + 2 + size]);
        b = &b[pos + 2 + size + 2..];
    }
    out
}

/// Parses a whole HTTP/1.1 response (the connection was closed after it).
pub fn parse_response(resp: &[u8]) -> Resp {
    let split = resp
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or_else(|| panic!("no header end in {:?}", String::from_utf8_lossy(resp)));
    let head = std::str::from_utf8(&resp[..split]).unwrap();
    let mut lines = head.lines();
    let status: u16 = lines
        .next()
        .unwrap()
        .split(' ')
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .collect();
    let body = &resp[split + 4..];
    let chunked = headers
        .iter()
        .any(|(k, v)| k.eq_ignore_ascii_case("transfer-encoding") && v.contains("chunked"));
    Resp {
        status,
        headers,
        body: if chunked {
            dechunk(body)
        } else {
            body.to_vec()
        },
    }
}
