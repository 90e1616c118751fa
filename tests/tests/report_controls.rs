//! Every control of the built-in packs against the sim's seeded fleet, with
//! its findings asserted exactly.
//!
//! For each control an oracle written here from the control's `-- alarms:`
//! header (and the pack README), never from its SQL, computes the expected
//! `(cluster, namespace, kind, name, status)` of every finding from the raw
//! objects the sim holds. The test runs `kq report --format json` once per
//! pack and compares. A control the report has but no oracle covers fails
//! the test, so a new control cannot slip through unchecked; every mismatch
//! of a pack is reported at once.
//!
//! The baseline and nsa packs are also run on manifests (`kq report
//! --manifests`): one cluster's objects written as a chart would hold them,
//! checked against the same oracles.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::process::Output;
use std::time::Instant;

use chrono::{DateTime, NaiveDate, NaiveDateTime, TimeDelta, Utc};
use kq_sim::{ClusterProfile, Flavor};
use kq_tests::{FleetConfig, TestFleet, stderr, stdout};
use serde_json::Value;

// ---------------------------------------------------------------------------
// The fleet, the run and the comparison
// ---------------------------------------------------------------------------

/// `(cluster, namespace, kind, name)` of a finding.
type Key = (String, Option<String>, String, String);
/// Expected (or reported) status of every finding of one control.
type Findings = BTreeMap<Key, &'static str>;
type Oracle = fn(&World) -> Findings;

const OK: &str = "ok";
const ALARM: &str = "alarm";
const SKIP: &str = "skip";
const ERROR: &str = "error";

/// Three flavors, so the fleet controls see real drift.
fn fleet_config() -> FleetConfig {
    let c = |name: &str, pods, flavor| ClusterProfile {
        name: name.to_string(),
        pods,
        flavor,
    };
    FleetConfig {
        clusters: vec![
            c("prod", 80, Flavor::Prod),
            c("staging", 40, Flavor::Staging),
            c("dev", 30, Flavor::Dev),
        ],
        seed: 42,
        ..FleetConfig::demo()
    }
}

/// The resources the oracles read (plural names in the sim's store).
const RESOURCES: &[&str] = &[
    "namespaces",
    "nodes",
    "pods",
    "replicasets",
    "deployments",
    "statefulsets",
    "daemonsets",
    "jobs",
    "cronjobs",
    "roles",
    "clusterroles",
    "rolebindings",
    "clusterrolebindings",
    "serviceaccounts",
    "configmaps",
    "services",
    "ingresses",
    "networkpolicies",
    "persistentvolumeclaims",
    "resourcequotas",
    "limitranges",
    "horizontalpodautoscalers",
    "poddisruptionbudgets",
    "customresourcedefinitions",
];

struct Cluster {
    name: String,
    objects: BTreeMap<&'static str, Vec<Value>>,
}

impl Cluster {
    fn all(&self, plural: &str) -> &[Value] {
        self.objects
            .get(plural)
            .unwrap_or_else(|| panic!("the oracle reads {plural}, which RESOURCES lacks"))
    }

    fn in_ns<'a>(&'a self, plural: &str, ns: &'a str) -> impl Iterator<Item = &'a Value> + use<'a> {
        self.all(plural)
            .iter()
            .filter(move |o| str_at(o, "/metadata/namespace") == Some(ns))
    }

    fn find(&self, plural: &str, ns: Option<&str>, name: &str) -> Option<&Value> {
        self.all(plural).iter().find(|o| {
            str_at(o, "/metadata/namespace") == ns && str_at(o, "/metadata/name") == Some(name)
        })
    }
}

/// What the oracles see: every cluster's objects and the time of the run.
struct World {
    clusters: Vec<Cluster>,
    now: DateTime<Utc>,
}

impl World {
    fn snapshot(fleet: &TestFleet, now: DateTime<Utc>) -> World {
        let clusters: Vec<Cluster> = fleet
            .fleet
            .clusters()
            .iter()
            .map(|c| Cluster {
                name: c.name().to_string(),
                objects: RESOURCES.iter().map(|r| (*r, c.objects(r))).collect(),
            })
            .collect();
        // A misspelt plural would read as "no objects" and pass vacuously.
        for r in RESOURCES {
            assert!(
                clusters.iter().any(|c| !c.all(r).is_empty()),
                "the sim holds no {r} on any cluster"
            );
        }
        World { clusters, now }
    }

    /// The clusters of the run: the distinct clusters of `namespaces`.
    fn fleet(&self) -> impl Iterator<Item = &Cluster> {
        self.clusters
            .iter()
            .filter(|c| !c.all("namespaces").is_empty())
    }
}

/// Checks every control of PACK against `oracles`, first on the seeded
/// fleet, then with the edge cases added; panics with every mismatch of both
/// runs at once.
async fn check_pack(
    pack: &str,
    extra: &[&str],
    params: &[(&str, &str)],
    oracles: &[(&str, Oracle)],
) {
    let fleet = TestFleet::start(fleet_config()).await;
    let mut problems = compare_run(&fleet, "seeded fleet", pack, extra, params, oracles).await;
    add_edge_cases(&fleet);
    problems.extend(compare_run(&fleet, "with edge cases", pack, extra, params, oracles).await);
    assert!(
        problems.is_empty(),
        "pack {pack}: {} problem(s)\n{}",
        problems.len(),
        problems.join("\n")
    );
}

/// Runs `kq report -A --pack PACK --format json` once and compares every
/// control with its oracle; returns the mismatches.
async fn compare_run(
    fleet: &TestFleet,
    phase: &str,
    pack: &str,
    extra: &[&str],
    params: &[(&str, &str)],
    oracles: &[(&str, Oracle)],
) -> Vec<String> {
    let started = Instant::now();
    let mut args = vec!["report", "-A", "--pack", pack, "--format", "json"];
    args.extend_from_slice(extra);
    let output = fleet.kq(&args).await;
    let now = Utc::now();
    let world = World::snapshot(fleet, now);
    compare_output(&output, started, &world, phase, pack, params, oracles)
}

/// Compares every control of one `kq report --format json` run (`output`,
/// begun at `started`) with its oracle on `world`; returns the mismatches.
fn compare_output(
    output: &Output,
    started: Instant,
    world: &World,
    phase: &str,
    pack: &str,
    params: &[(&str, &str)],
    oracles: &[(&str, Oracle)],
) -> Vec<String> {
    // 1 is the --fail-on exit for alarms, 2 for error findings; anything
    // else is a failed run.
    assert!(
        matches!(output.status.code(), Some(0..=2)),
        "kq report failed with {:?}\nstderr:\n{}",
        output.status.code(),
        stderr(output)
    );
    let report: Value = serde_json::from_str(&stdout(output)).unwrap_or_else(|e| {
        panic!(
            "kq report did not print JSON ({e}):\n{}\nstderr:\n{}",
            stdout(output),
            stderr(output)
        )
    });
    assert_eq!(
        report["cluster_failures"],
        serde_json::json!([]),
        "clusters failed"
    );
    let errors = report["totals"]["error"].as_u64().expect("totals.error")
        + report["controls"]
            .as_array()
            .expect("controls")
            .iter()
            .filter(|c| !c["error"].is_null())
            .count() as u64;
    assert_eq!(
        output.status.code() == Some(2),
        errors > 0,
        "exit code {:?} with {errors} errors",
        output.status.code()
    );

    let mut problems: Vec<String> = Vec::new();
    // The parameters the oracles assume are the ones kq used.
    for (name, value) in params {
        if report["params"][name].as_str() != Some(value) {
            problems.push(format!(
                "parameter {name}: kq used {}, the oracle assumes {value:?}",
                report["params"][name]
            ));
        }
    }
    let controls = report["controls"].as_array().expect("controls array");
    let reported: BTreeSet<&str> = controls
        .iter()
        .map(|c| c["control"]["id"].as_str().expect("control id"))
        .collect();
    for (id, _) in oracles {
        if !reported.contains(id) {
            problems.push(format!(
                "{id}: the oracle covers it but kq report did not run it"
            ));
        }
    }
    let mut summary = Vec::new();
    for control in controls {
        let id = control["control"]["id"].as_str().expect("control id");
        let Some((_, oracle)) = oracles.iter().find(|(o, _)| *o == id) else {
            problems.push(format!(
                "{id}: kq report ran it but no oracle covers it (write one in report_controls.rs)"
            ));
            continue;
        };
        if !control["error"].is_null() {
            problems.push(format!("{id}: the control failed: {}", control["error"]));
            continue;
        }
        let mut actual = Findings::new();
        let mut duplicates = Vec::new();
        for f in control["findings"].as_array().expect("findings array") {
            let key = (
                f["cluster"].as_str().expect("cluster").to_string(),
                f["namespace"].as_str().map(str::to_string),
                f["kind"].as_str().expect("kind").to_string(),
                f["name"].as_str().expect("name").to_string(),
            );
            let status = match f["status"].as_str().expect("status") {
                "ok" => OK,
                "alarm" => ALARM,
                "skip" => SKIP,
                "error" => ERROR,
                other => panic!("{id}: unexpected status {other} in {f}"),
            };
            if actual.insert(key.clone(), status).is_some() {
                duplicates.push(key);
            }
        }
        let expected = oracle(world);
        let counts = |m: &Findings| {
            let mut c: BTreeMap<&str, usize> = BTreeMap::new();
            for s in m.values() {
                *c.entry(s).or_default() += 1;
            }
            c
        };
        summary.push(format!("{id}: {:?}", counts(&expected)));
        let missing: Vec<String> = expected
            .iter()
            .filter(|(k, _)| !actual.contains_key(*k))
            .map(|(k, s)| show(k, s))
            .collect();
        let unexpected: Vec<String> = actual
            .iter()
            .filter(|(k, _)| !expected.contains_key(*k))
            .map(|(k, s)| show(k, s))
            .collect();
        let differing: Vec<String> = actual
            .iter()
            .filter_map(|(k, s)| {
                let e = expected.get(k)?;
                (e != s).then(|| format!("{}: kq {s}, oracle {e}", show(k, "")))
            })
            .collect();
        if missing.is_empty()
            && unexpected.is_empty()
            && differing.is_empty()
            && duplicates.is_empty()
        {
            continue;
        }
        let mut text = format!(
            "{id}: {} findings from kq, {} from the oracle",
            actual.len(),
            expected.len()
        );
        for (heading, lines) in [
            ("missing (the oracle has them, kq does not)", &missing),
            ("unexpected (kq has them, the oracle does not)", &unexpected),
            ("status differs", &differing),
        ] {
            if !lines.is_empty() {
                text.push_str(&format!("\n  {heading}:"));
                for l in lines {
                    text.push_str(&format!("\n    {l}"));
                }
            }
        }
        for d in duplicates {
            text.push_str(&format!("\n  reported twice: {}", show(&d, "")));
        }
        problems.push(text);
    }
    eprintln!(
        "pack {pack}, {phase}: {} controls checked in {:.1?}\n  {}",
        controls.len(),
        started.elapsed(),
        summary.join("\n  ")
    );
    problems
        .into_iter()
        .map(|p| format!("[{phase}] {p}"))
        .collect()
}

/// `(cluster, namespace, kind, name, status)`; `-` for no namespace.
fn show(k: &Key, status: &str) -> String {
    let resource = format!(
        "{}, {}, {}, {}",
        k.0,
        k.1.as_deref().unwrap_or("-"),
        k.2,
        k.3
    );
    if status.is_empty() {
        format!("({resource})")
    } else {
        format!("({resource}, {status})")
    }
}

// ---------------------------------------------------------------------------
// Edge cases the generator never makes
// ---------------------------------------------------------------------------

/// Objects for the rules of the `-- alarms:` headers that the seeded
/// generator never exercises (wildcard subresources, impersonation,
/// Unconfined seccomp, host ports, LimitRange defaults, HPAs, PDB
/// expressions, fleet drift that text order gets wrong, ...), added to the
/// fleet for the second run. The oracles see them like any other object, so
/// each is asserted exactly too; the comments say what each one probes.
fn add_edge_cases(fleet: &TestFleet) {
    for (cluster, manifests) in [
        ("prod", EDGE_PROD),
        ("staging", EDGE_STAGING),
        ("dev", EDGE_DEV),
    ] {
        let c = fleet.cluster(cluster);
        for doc in manifests.split("\n---\n") {
            let obj: Value = serde_yaml::from_str(doc)
                .unwrap_or_else(|e| panic!("bad edge-case manifest ({e}):\n{doc}"));
            if let Err(e) = c.upsert(obj) {
                panic!("the sim refused an edge case on {cluster} ({e}):\n{doc}");
            }
        }
    }
}

const EDGE_PROD: &str = r#"
apiVersion: v1
kind: Namespace
metadata: {name: kq-edge}
---
# No kubelet version: NULL differs from the fleet's newest. The node is
# also one more than prod's log shipper covers.
apiVersion: v1
kind: Node
metadata: {name: edge-node}
status: {nodeInfo: {}}
---
# 1.10.0 is newer than staging's 1.9.9 although it sorts lower as text.
apiVersion: apps/v1
kind: Deployment
metadata: {name: edge-tool, namespace: monitoring}
spec:
  replicas: 2
  selector: {matchLabels: {app: edge-tool}}
  template:
    metadata: {labels: {app: edge-tool}}
    spec: {containers: [{name: c, image: "example.com/tool:1.10.0"}]}
---
# No tag is latest, as staging's explicit :latest.
apiVersion: apps/v1
kind: StatefulSet
metadata: {name: edge-same, namespace: kube-system}
spec:
  replicas: 2
  selector: {matchLabels: {app: edge-same}}
  template:
    metadata: {labels: {app: edge-same}}
    spec: {containers: [{name: c, image: example.com/same}]}
---
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: widgets.edge.example.com, labels: {app.kubernetes.io/version: "1.10.0"}}
spec:
  group: edge.example.com
  names: {plural: widgets, kind: Widget, singular: widget}
  scope: Namespaced
  versions: [{name: v1, served: true, storage: true, schema: {openAPIV3Schema: {type: object}}}]
---
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: gadgets.edge.example.com}
spec:
  group: edge.example.com
  names: {plural: gadgets, kind: Gadget, singular: gadget}
  scope: Namespaced
  versions:
  - {name: v1beta1, served: true, storage: true, schema: {openAPIV3Schema: {type: object}}}
  - {name: v1alpha1, served: true, storage: false, schema: {openAPIV3Schema: {type: object}}}
---
# Guardrails, and Secrets (which a report does not read), do not make the
# default namespace used.
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: edge-default-deny, namespace: default}
spec: {podSelector: {}, policyTypes: [Ingress, Egress]}
---
apiVersion: v1
kind: ResourceQuota
metadata: {name: edge-no-pods, namespace: default}
spec: {hard: {pods: "0"}}
---
apiVersion: v1
kind: LimitRange
metadata: {name: edge-lr, namespace: default}
spec: {limits: [{type: Container, default: {cpu: 100m}}]}
---
apiVersion: v1
kind: Secret
metadata: {name: edge-secret, namespace: default}
type: Opaque
data: {a: Yg==}
---
# Host matching: a wildcard covers exactly one label, in any case, with a
# trailing dot; TLS coverage follows the same rule.
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {name: edge-wild, namespace: kq-edge, annotations: {kubernetes.io/ingress.allow-http: "false"}}
spec:
  rules: [{host: "*.edge.example.com", http: {paths: [{path: /, pathType: Prefix, backend: {service: {name: x, port: {number: 80}}}}]}}]
  tls: [{hosts: ["*.edge.example.com"], secretName: s}]
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {name: edge-upper, namespace: kq-edge, annotations: {kubernetes.io/ingress.allow-http: "false"}}
spec:
  rules: [{host: Api.Edge.Example.com., http: {paths: [{path: /, pathType: Prefix, backend: {service: {name: x, port: {number: 80}}}}]}}]
  tls: [{hosts: ["*.edge.example.com"], secretName: s}]
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {name: edge-deep, namespace: kq-edge, annotations: {kubernetes.io/ingress.allow-http: "false"}}
spec:
  rules: [{host: a.b.edge.example.com, http: {paths: [{path: /, pathType: Prefix, backend: {service: {name: x, port: {number: 80}}}}]}}]
  tls: [{hosts: ["*.edge.example.com"], secretName: s}]
"#;

const EDGE_STAGING: &str = r#"
apiVersion: v1
kind: Namespace
metadata: {name: kq-edge}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: edge-tool, namespace: monitoring}
spec:
  replicas: 2
  selector: {matchLabels: {app: edge-tool}}
  template:
    metadata: {labels: {app: edge-tool}}
    spec: {containers: [{name: c, image: "example.com/tool:1.9.9"}]}
---
apiVersion: apps/v1
kind: StatefulSet
metadata: {name: edge-same, namespace: kube-system}
spec:
  replicas: 2
  selector: {matchLabels: {app: edge-same}}
  template:
    metadata: {labels: {app: edge-same}}
    spec: {containers: [{name: c, image: "example.com/same:latest"}]}
---
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: widgets.edge.example.com, labels: {app.kubernetes.io/version: "1.9.0"}}
spec:
  group: edge.example.com
  names: {plural: widgets, kind: Widget, singular: widget}
  scope: Namespaced
  versions: [{name: v1, served: true, storage: true, schema: {openAPIV3Schema: {type: object}}}]
---
# Storage v1 (GA) is the fleet's newest gadgets: above prod's v1beta1 and
# dev's v2alpha1 in Kubernetes' version priority.
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: gadgets.edge.example.com}
spec:
  group: edge.example.com
  names: {plural: gadgets, kind: Gadget, singular: gadget}
  scope: Namespaced
  versions:
  - {name: v1, served: true, storage: true, schema: {openAPIV3Schema: {type: object}}}
  - {name: v1beta1, served: true, storage: false, schema: {openAPIV3Schema: {type: object}}}
---
# Any Role makes the default namespace used.
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: {name: edge-default-role, namespace: default}
rules: []
---
# A wildcard rule host is covered only by the same wildcard.
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {name: edge-wild-rule, namespace: kq-edge, annotations: {kubernetes.io/ingress.allow-http: "false"}}
spec:
  rules: [{host: "*.x.example.com", http: {paths: [{path: /, pathType: Prefix, backend: {service: {name: x, port: {number: 80}}}}]}}]
  tls: [{hosts: [a.x.example.com], secretName: s}]
---
# "False" turns plain HTTP off too: the controller parses the value as a bool.
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {name: edge-capital-false, namespace: kq-edge, annotations: {kubernetes.io/ingress.allow-http: "False"}}
spec:
  rules: [{host: c.example.com, http: {paths: [{path: /, pathType: Prefix, backend: {service: {name: x, port: {number: 80}}}}]}}]
  tls: [{hosts: [c.example.com], secretName: s}]
---
# A default backend is no rule: no host to cover, none to overlap.
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {name: edge-default-backend, namespace: kq-edge, annotations: {kubernetes.io/ingress.allow-http: "false"}}
spec:
  defaultBackend: {service: {name: x, port: {number: 80}}}
  tls: [{hosts: [z.example.com], secretName: s}]
"#;

const EDGE_DEV: &str = r#"
# A blank owner; forever and a date far ahead never expire.
apiVersion: v1
kind: Namespace
metadata:
  name: kq-edge
  annotations: {owner: "  ", team: edge, janitor/ttl: forever, janitor/expires: "2099-01-01"}
---
# An unparsable TTL next to a valid expiry: error.
apiVersion: v1
kind: Namespace
metadata:
  name: kq-edge-2
  annotations: {owner: a, team: b, janitor/ttl: bogus, janitor/expires: "2099-12-31T23:59"}
---
# The earliest expiry decides.
apiVersion: v1
kind: Namespace
metadata:
  name: kq-edge-3
  annotations: {janitor/expires: "2020-01-01", janitor/ttl: 30d}
---
# Spaces around and inside a TTL.
apiVersion: v1
kind: Namespace
metadata: {name: kq-edge-4, annotations: {janitor/ttl: " 3 w "}}
---
apiVersion: v1
kind: Namespace
metadata: {name: kq-edge-5, annotations: {janitor/ttl: FOREVER, owner: x, team: y}}
---
# The longest TTL (capped at 200 years).
apiVersion: v1
kind: Namespace
metadata: {name: kq-edge-6, annotations: {janitor/ttl: 999999999w}}
---
apiVersion: v1
kind: Namespace
metadata: {name: kq-edge-lr}
---
apiVersion: v1
kind: Namespace
metadata: {name: kq-edge-pdb}
---
# RBAC. Impersonating users, userextras/* and escalating are flagged;
# impersonate in another API group is not.
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: edge-impersonate-users}
rules: [{apiGroups: [""], resources: [users], verbs: [impersonate]}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: edge-impersonate-extras}
rules: [{apiGroups: [authentication.k8s.io], resources: [userextras/scopes], verbs: [impersonate]}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: edge-impersonate-apps}
rules: [{apiGroups: [apps], resources: [users], verbs: [impersonate]}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: edge-escalate}
rules: [{apiGroups: [rbac.authorization.k8s.io], resources: [clusterroles], verbs: [escalate]}]
---
# A * inside a URL or a subresource is a wildcard too.
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: edge-urls}
rules: [{nonResourceURLs: ["/api/*"], verbs: [get]}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: edge-scale}
rules: [{apiGroups: [apps], resources: ["*/scale"], verbs: [get]}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: edge-star}
rules: [{apiGroups: ["*"], resources: ["*"], verbs: ["*"]}]
---
# get on pods/* allows exec (over WebSocket); it does not create pods.
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: edge-exec-get}
rules: [{apiGroups: ["*"], resources: ["pods/*"], verbs: [get]}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: "system:edge"}
rules: [{apiGroups: [""], resources: [secrets], verbs: [get]}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: edge-bootstrapped, labels: {kubernetes.io/bootstrapping: rbac-defaults}}
rules: [{apiGroups: [""], resources: [secrets], verbs: [list]}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: {name: edge-exec, namespace: kq-edge}
rules: [{apiGroups: [""], resources: [pods/exec], verbs: [create]}]
---
# Bound only by a RoleBinding of another namespace, which cannot reach it.
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: {name: edge-exec-elsewhere, namespace: kq-edge}
rules: [{apiGroups: [""], resources: [pods/exec], verbs: [create]}]
---
# resourceNames do not make reading Secrets harmless; another group's
# "secrets" are not Secrets.
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: {name: edge-secret-names, namespace: kq-edge}
rules: [{apiGroups: [""], resources: [secrets], resourceNames: [only-this], verbs: [get]}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: {name: edge-secret-apps, namespace: kq-edge}
rules: [{apiGroups: [apps], resources: [secrets], verbs: [get]}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: {name: edge-empty, namespace: kq-edge}
rules: []
---
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: {name: edge-star-role, namespace: kq-edge}
rules: [{apiGroups: ["*"], resources: ["*"], verbs: ["*"]}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: {name: edge-kube-system, namespace: kube-system}
rules: [{apiGroups: [""], resources: [secrets], verbs: [get]}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: edge-exec, namespace: kq-edge}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: edge-exec}
subjects: [{kind: User, apiGroup: rbac.authorization.k8s.io, name: alice}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: edge-exec-elsewhere, namespace: kq-edge-2}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: edge-exec-elsewhere}
subjects: [{kind: User, apiGroup: rbac.authorization.k8s.io, name: alice}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: edge-exec-get, namespace: kq-edge}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: edge-exec-get}
subjects: [{kind: Group, apiGroup: rbac.authorization.k8s.io, name: devs}]
---
# An all-* role is an admin grant: fine for system:masters alone, not for
# bob, whether it is a ClusterRole or a Role.
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: edge-star-masters, namespace: kq-edge}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: edge-star}
subjects: [{kind: Group, apiGroup: rbac.authorization.k8s.io, name: "system:masters"}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: edge-star-bob, namespace: kq-edge}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: edge-star}
subjects: [{kind: User, apiGroup: rbac.authorization.k8s.io, name: bob}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: edge-star-role-bob, namespace: kq-edge}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: edge-star-role}
subjects: [{kind: User, apiGroup: rbac.authorization.k8s.io, name: bob}]
---
# cluster-admin through a RoleBinding, to a service account and to a
# system: user; through ClusterRoleBindings to nobody, and to system:
# subjects of which only the group is system:masters.
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: edge-admin-sa, namespace: kq-edge}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: cluster-admin}
subjects: [{kind: ServiceAccount, name: builder}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: edge-admin-anonymous, namespace: kq-edge}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: cluster-admin}
subjects: [{kind: User, apiGroup: rbac.authorization.k8s.io, name: "system:anonymous"}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: edge-admin-nobody}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: cluster-admin}
subjects: []
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: edge-admin-system}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: cluster-admin}
subjects:
- {kind: Group, apiGroup: rbac.authorization.k8s.io, name: "system:masters"}
- {kind: User, apiGroup: rbac.authorization.k8s.io, name: "system:admin"}
---
# Default service accounts that mount nothing: bound from a
# ClusterRoleBinding, bound from a RoleBinding naming no namespace
# (the binding's), and not bound at all.
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: edge-default-sa}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: view}
subjects: [{kind: ServiceAccount, name: default, namespace: kq-edge-2}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: edge-default-implicit, namespace: kq-edge-3}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: view}
subjects: [{kind: ServiceAccount, name: default}]
---
apiVersion: v1
kind: ServiceAccount
metadata: {name: default, namespace: kq-edge}
automountServiceAccountToken: false
---
apiVersion: v1
kind: ServiceAccount
metadata: {name: default, namespace: kq-edge-2}
automountServiceAccountToken: false
---
apiVersion: v1
kind: ServiceAccount
metadata: {name: default, namespace: kq-edge-3}
automountServiceAccountToken: false
---
apiVersion: v1
kind: ServiceAccount
metadata: {name: edge-sa, namespace: kq-edge}
automountServiceAccountToken: false
---
# Pods no controller owns. edge-a: the container's Unconfined overrides the
# pod's RuntimeDefault and its runAsUser 0 the pod's 1000; CAP_sys_admin is
# SYS_ADMIN; hostPort 0 is no host port; cpu "0" is no limit; a digest pins
# the image.
apiVersion: v1
kind: Pod
metadata: {name: edge-a, namespace: kq-edge}
spec:
  serviceAccountName: edge-sa
  securityContext: {seccompProfile: {type: RuntimeDefault}, runAsNonRoot: true, runAsUser: 1000}
  containers:
  - name: c
    image: nginx@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef
    securityContext:
      seccompProfile: {type: Unconfined}
      procMount: Unmasked
      capabilities: {add: [CAP_sys_admin], drop: [ALL]}
      allowPrivilegeEscalation: false
      readOnlyRootFilesystem: true
      runAsUser: 0
    ports: [{containerPort: 80, hostPort: 0}]
    resources: {limits: {cpu: "0", memory: 1Gi}}
---
# edge-b: a missing service account mounts a token; the ephemeral
# container's Secret in env counts, its missing limits do not.
apiVersion: v1
kind: Pod
metadata: {name: edge-b, namespace: kq-edge}
spec:
  serviceAccountName: edge-missing
  containers:
  - name: c
    image: registry.corp.example.com/x/y:latest
    securityContext:
      runAsUser: 1000
      seccompProfile: {type: Localhost, localhostProfile: p.json}
      capabilities: {drop: [NET_RAW], add: [NET_BIND_SERVICE]}
    ports: [{containerPort: 443, hostPort: 8443}]
    resources: {limits: {cpu: 250m, memory: 128Mi}}
  ephemeralContainers:
  - name: debug
    image: busybox:1.36
    env: [{name: TOKEN, valueFrom: {secretKeyRef: {name: s, key: k}}}]
    securityContext:
      runAsUser: 2000
      seccompProfile: {type: RuntimeDefault}
      allowPrivilegeEscalation: false
      readOnlyRootFilesystem: true
      capabilities: {drop: [ALL]}
---
# The pod's AppArmor profile hardens its container.
apiVersion: v1
kind: Pod
metadata: {name: edge-apparmor, namespace: kq-edge}
spec:
  securityContext: {appArmorProfile: {type: RuntimeDefault}}
  containers: [{name: c, image: "registry.k8s.io/pause:3.9"}]
---
# An unmounted hostPath volume and hostIPC alone; an untagged image.
apiVersion: v1
kind: Pod
metadata: {name: edge-host, namespace: kq-edge}
spec:
  hostIPC: true
  hostNetwork: false
  automountServiceAccountToken: false
  volumes: [{name: h, hostPath: {path: /var/run}}]
  containers: [{name: c, image: acme/frontend, envFrom: [{secretRef: {name: creds}}]}]
---
# An unparsable image; the pod's explicit true beats its account's false.
apiVersion: v1
kind: Pod
metadata: {name: edge-badimage, namespace: kq-edge}
spec:
  serviceAccountName: edge-sa
  automountServiceAccountToken: true
  containers: [{name: c, image: "registry.corp.example.com/app:bad tag"}]
---
# A pod of a custom controller (an Argo Workflow), none of the five kinds.
apiVersion: v1
kind: Pod
metadata:
  name: edge-argo
  namespace: kq-edge
  ownerReferences:
  - {apiVersion: argoproj.io/v1alpha1, kind: Workflow, name: wf, uid: 00000000-0000-0000-0000-000000000001, controller: true}
spec:
  containers: [{name: c, image: "registry.k8s.io/pause:3.9"}]
---
# A ReplicaSet its Deployment orphaned (kubectl delete --cascade=orphan):
# no owner, so its pod is one that no controller of the five kinds owns.
apiVersion: apps/v1
kind: ReplicaSet
metadata:
  name: edge-web-7c9f8d6b5
  namespace: kq-edge
  labels: {app: edge-web, pod-template-hash: 7c9f8d6b5}
spec:
  replicas: 1
  selector: {matchLabels: {app: edge-web, pod-template-hash: 7c9f8d6b5}}
  template:
    metadata: {labels: {app: edge-web, pod-template-hash: 7c9f8d6b5}}
    spec: {containers: [{name: c, image: "registry.k8s.io/pause:3.9"}]}
---
apiVersion: v1
kind: Pod
metadata:
  name: edge-web-7c9f8d6b5-x2x4z
  namespace: kq-edge
  labels: {app: edge-web, pod-template-hash: 7c9f8d6b5}
  ownerReferences:
  - {apiVersion: apps/v1, kind: ReplicaSet, name: edge-web-7c9f8d6b5, uid: 00000000-0000-0000-0000-000000000002, controller: true}
spec:
  containers: [{name: c, image: "registry.k8s.io/pause:3.9"}]
---
# LimitRange defaults stand in for missing limits, not for an explicit 0.
apiVersion: v1
kind: LimitRange
metadata: {name: defaults, namespace: kq-edge-lr}
spec: {limits: [{type: Container, default: {cpu: 500m, memory: 512Mi}}]}
---
apiVersion: v1
kind: Pod
metadata: {name: edge-defaults, namespace: kq-edge-lr}
spec:
  containers: [{name: c, image: "registry.k8s.io/pause:3.9"}]
  initContainers: [{name: init, image: "registry.k8s.io/pause:3.9", resources: {limits: {cpu: 100m}}}]
---
apiVersion: v1
kind: Pod
metadata: {name: edge-zero-memory, namespace: kq-edge-lr}
spec:
  containers: [{name: c, image: "registry.k8s.io/pause:3.9", resources: {limits: {memory: "0"}}}]
---
# Replicas: the smallest HPA minimum (unset counts 1) wins over replicas; 0
# replicas without HPA is skipped, with one it is not; unset replicas are
# 1; an HPA of another kind does not count. Probes: init containers need
# none, every regular one does.
apiVersion: apps/v1
kind: Deployment
metadata: {name: edge-hpa-min, namespace: kq-edge-pdb}
spec:
  replicas: 1
  selector: {matchLabels: {app: a}}
  template:
    metadata: {labels: {app: a, tier: web}}
    spec:
      initContainers: [{name: i, image: "registry.k8s.io/pause:3.9"}]
      containers: [{name: c, image: "registry.k8s.io/pause:3.9", readinessProbe: {tcpSocket: {port: 80}}}]
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: edge-hpa-ok, namespace: kq-edge-pdb}
spec:
  replicas: 1
  selector: {matchLabels: {app: b}}
  template:
    metadata: {labels: {app: b, team: x}}
    spec: {containers: [{name: c, image: "registry.k8s.io/pause:3.9", readinessProbe: {tcpSocket: {port: 80}}}]}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: edge-zero, namespace: kq-edge-pdb}
spec:
  replicas: 0
  selector: {matchLabels: {app: c}}
  template:
    metadata: {labels: {app: c}}
    spec: {containers: [{name: c, image: "registry.k8s.io/pause:3.9", readinessProbe: {tcpSocket: {port: 80}}}]}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: edge-zero-hpa, namespace: kq-edge-pdb}
spec:
  replicas: 0
  selector: {matchLabels: {app: d}}
  template:
    metadata: {labels: {app: d}}
    spec: {containers: [{name: c, image: "registry.k8s.io/pause:3.9", readinessProbe: {tcpSocket: {port: 80}}}]}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: edge-default-replicas, namespace: kq-edge-pdb}
spec:
  selector: {matchLabels: {app: e}}
  template:
    metadata: {labels: {app: e}}
    spec:
      containers:
      - {name: c, image: "registry.k8s.io/pause:3.9", readinessProbe: {tcpSocket: {port: 80}}}
      - {name: sidecar, image: "registry.k8s.io/pause:3.9"}
---
apiVersion: apps/v1
kind: StatefulSet
metadata: {name: edge-sts, namespace: kq-edge-pdb}
spec:
  replicas: 3
  selector: {matchLabels: {app: f}}
  template:
    metadata: {labels: {app: f, tier: db}}
    spec: {containers: [{name: c, image: "registry.k8s.io/pause:3.9", readinessProbe: {tcpSocket: {port: 80}}}]}
---
apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata: {name: edge-hpa-1, namespace: kq-edge-pdb}
spec: {scaleTargetRef: {apiVersion: apps/v1, kind: Deployment, name: edge-hpa-min}, minReplicas: 3, maxReplicas: 10}
---
apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata: {name: edge-hpa-2, namespace: kq-edge-pdb}
spec: {scaleTargetRef: {apiVersion: apps/v1, kind: Deployment, name: edge-hpa-min}, maxReplicas: 10}
---
apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata: {name: edge-hpa-3, namespace: kq-edge-pdb}
spec: {scaleTargetRef: {apiVersion: apps/v1, kind: Deployment, name: edge-hpa-ok}, minReplicas: 2, maxReplicas: 10}
---
apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata: {name: edge-hpa-4, namespace: kq-edge-pdb}
spec: {scaleTargetRef: {apiVersion: apps/v1, kind: Deployment, name: edge-zero-hpa}, minReplicas: 2, maxReplicas: 10}
---
apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata: {name: edge-hpa-5, namespace: kq-edge-pdb}
spec: {scaleTargetRef: {apiVersion: apps/v1, kind: Deployment, name: edge-sts}, minReplicas: 1, maxReplicas: 10}
---
# Budgets: matchLabels with In, Exists, NotIn; no selector matches nothing,
# an empty one everything (but not a template without labels).
apiVersion: policy/v1
kind: PodDisruptionBudget
metadata: {name: edge-pdb-expr, namespace: kq-edge-pdb}
spec:
  maxUnavailable: 1
  selector:
    matchLabels: {app: a}
    matchExpressions: [{key: tier, operator: In, values: [web]}]
---
apiVersion: policy/v1
kind: PodDisruptionBudget
metadata: {name: edge-pdb-null, namespace: kq-edge-pdb}
spec: {maxUnavailable: 1}
---
apiVersion: policy/v1
kind: PodDisruptionBudget
metadata: {name: edge-pdb-exists, namespace: kq-edge-pdb}
spec:
  maxUnavailable: 1
  selector: {matchExpressions: [{key: team, operator: Exists}]}
---
apiVersion: policy/v1
kind: PodDisruptionBudget
metadata: {name: edge-pdb-notin, namespace: kq-edge-pdb}
spec:
  maxUnavailable: 1
  selector:
    matchLabels: {app: f}
    matchExpressions: [{key: tier, operator: NotIn, values: [db]}]
---
apiVersion: policy/v1
kind: PodDisruptionBudget
metadata: {name: edge-pdb-all, namespace: kq-edge-3}
spec: {maxUnavailable: 1, selector: {}}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: edge-any, namespace: kq-edge-3}
spec:
  replicas: 2
  selector: {matchLabels: {app: z}}
  template:
    metadata: {labels: {app: z}}
    spec: {containers: [{name: c, image: "registry.k8s.io/pause:3.9", readinessProbe: {tcpSocket: {port: 80}}}]}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: edge-nolabels, namespace: kq-edge-3}
spec:
  replicas: 2
  selector: {}
  template:
    spec: {containers: [{name: c, image: "registry.k8s.io/pause:3.9", readinessProbe: {tcpSocket: {port: 80}}}]}
---
# Cluster services: Kyverno as a DaemonSet is no policy engine (a
# Deployment is); cert-manager found by its k8s-app label; a log shipper
# (by app.kubernetes.io/name) exactly as wide as dev's 3 nodes.
apiVersion: apps/v1
kind: DaemonSet
metadata: {name: kyverno, namespace: kq-edge}
spec:
  selector: {matchLabels: {app: kyverno}}
  template:
    metadata: {labels: {app: kyverno}}
    spec: {containers: [{name: c, image: "registry.k8s.io/pause:3.9"}]}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: edge-certs, namespace: kq-edge, labels: {k8s-app: cert-manager}}
spec:
  replicas: 2
  selector: {matchLabels: {app: certs}}
  template:
    metadata: {labels: {app: certs}}
    spec: {containers: [{name: c, image: "registry.k8s.io/pause:3.9"}]}
---
apiVersion: apps/v1
kind: DaemonSet
metadata: {name: edge-shipper, namespace: kq-edge, labels: {app.kubernetes.io/name: vector}}
spec:
  selector: {matchLabels: {app: shipper}}
  template:
    metadata: {labels: {app: shipper}}
    spec: {containers: [{name: c, image: "registry.k8s.io/pause:3.9"}]}
status: {desiredNumberScheduled: 3}
---
# v2 matches no N.N: the lowest version. Versions of several containers
# are ordered by container name; init containers do not count.
apiVersion: apps/v1
kind: Deployment
metadata: {name: edge-tool, namespace: monitoring}
spec:
  replicas: 2
  selector: {matchLabels: {app: edge-tool}}
  template:
    metadata: {labels: {app: edge-tool}}
    spec: {containers: [{name: c, image: "example.com/tool:v2"}]}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: edge-multi, namespace: monitoring}
spec:
  replicas: 2
  selector: {matchLabels: {app: edge-multi}}
  template:
    metadata: {labels: {app: edge-multi}}
    spec:
      initContainers: [{name: 0init, image: "example.com/init:9.9.9"}]
      containers:
      - {name: b, image: "example.com/b:1.2.3"}
      - {name: a, image: "example.com/a@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"}
---
# No release label sorts lowest.
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: widgets.edge.example.com}
spec:
  group: edge.example.com
  names: {plural: widgets, kind: Widget, singular: widget}
  scope: Namespaced
  versions:
  - {name: v1, served: true, storage: true, schema: {openAPIV3Schema: {type: object}}}
  - {name: v1beta1, served: false, storage: false, schema: {openAPIV3Schema: {type: object}}}
---
# Kubernetes' version priority puts every GA version above every alpha.
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: gadgets.edge.example.com}
spec:
  group: edge.example.com
  names: {plural: gadgets, kind: Gadget, singular: gadget}
  scope: Namespaced
  versions: [{name: v2alpha1, served: true, storage: true, schema: {openAPIV3Schema: {type: object}}}]
---
# Network policies: default deny of egress only; no policyTypes with no
# rules governs ingress only; an empty matchLabels selects every pod and
# an empty ingress rule allows everything; a policy for some pods.
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: deny-egress, namespace: kq-edge}
spec: {podSelector: {}, policyTypes: [Egress]}
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: implicit-ingress, namespace: kq-edge-2}
spec: {podSelector: {}}
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: empty-labels, namespace: kq-edge-3}
spec: {podSelector: {matchLabels: {}}, policyTypes: [Ingress, Egress], ingress: [{}]}
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: some-pods, namespace: kq-edge-4}
spec: {podSelector: {matchLabels: {app: x}}, policyTypes: [Ingress, Egress]}
---
# Quotas: counting objects only is no CPU or memory quota; limits.memory
# and bare cpu are.
apiVersion: v1
kind: ResourceQuota
metadata: {name: count-only, namespace: kq-edge}
spec: {hard: {pods: "10"}}
---
apiVersion: v1
kind: ResourceQuota
metadata: {name: memory-limits, namespace: kq-edge-2}
spec: {hard: {limits.memory: 1Gi}}
---
apiVersion: v1
kind: ResourceQuota
metadata: {name: bare-cpu, namespace: kq-edge-3}
spec: {hard: {cpu: "2"}}
---
# A ConfigMap makes the default namespace used.
apiVersion: v1
kind: ConfigMap
metadata: {name: edge-config, namespace: default}
data: {a: b}
---
# Load balancers: source ranges from the spec or the annotation (spaces
# and empty entries dropped), an open range, internal annotations.
apiVersion: v1
kind: Service
metadata: {name: edge-lb-ranges, namespace: kq-edge}
spec: {type: LoadBalancer, ports: [{port: 80}], loadBalancerSourceRanges: [10.0.0.0/8]}
---
apiVersion: v1
kind: Service
metadata: {name: edge-lb-open, namespace: kq-edge}
spec: {type: LoadBalancer, ports: [{port: 80}], loadBalancerSourceRanges: [10.0.0.0/8, 0.0.0.0/0]}
---
apiVersion: v1
kind: Service
metadata:
  name: edge-lb-annotation
  namespace: kq-edge
  annotations: {service.beta.kubernetes.io/load-balancer-source-ranges: "10.0.0.0/8, 192.168.0.0/16"}
spec: {type: LoadBalancer, ports: [{port: 80}]}
---
apiVersion: v1
kind: Service
metadata:
  name: edge-lb-annotation-empty
  namespace: kq-edge
  annotations: {service.beta.kubernetes.io/load-balancer-source-ranges: " , "}
spec: {type: LoadBalancer, ports: [{port: 80}]}
---
apiVersion: v1
kind: Service
metadata:
  name: edge-lb-annotation-v6
  namespace: kq-edge
  annotations: {service.beta.kubernetes.io/load-balancer-source-ranges: "::/0"}
spec: {type: LoadBalancer, ports: [{port: 80}]}
---
apiVersion: v1
kind: Service
metadata:
  name: edge-lb-azure
  namespace: kq-edge
  annotations: {service.beta.kubernetes.io/azure-load-balancer-internal: "true"}
spec: {type: LoadBalancer, ports: [{port: 80}]}
---
apiVersion: v1
kind: Service
metadata:
  name: edge-lb-gke
  namespace: kq-edge
  annotations: {networking.gke.io/load-balancer-type: Internal}
spec: {type: LoadBalancer, ports: [{port: 80}]}
---
apiVersion: v1
kind: Service
metadata: {name: edge-external-name, namespace: kq-edge}
spec: {type: ExternalName, externalName: example.com, ports: [{port: 80}]}
---
# A rule without host serves every host: it overlaps every other Ingress,
# and only a TLS entry without hosts covers it.
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {name: edge-nohost, namespace: kq-edge, annotations: {kubernetes.io/ingress.allow-http: "false"}}
spec:
  rules: [{http: {paths: [{path: /, pathType: Prefix, backend: {service: {name: x, port: {number: 80}}}}]}}]
  tls: [{secretName: s}]
"#;

// ---------------------------------------------------------------------------
// JSON helpers
// ---------------------------------------------------------------------------

/// The value at a JSON pointer; JSON null reads as absent.
fn at<'a>(v: &'a Value, pointer: &str) -> Option<&'a Value> {
    v.pointer(pointer).filter(|x| !x.is_null())
}

fn str_at<'a>(v: &'a Value, pointer: &str) -> Option<&'a str> {
    at(v, pointer).and_then(Value::as_str)
}

fn bool_at(v: &Value, pointer: &str) -> Option<bool> {
    at(v, pointer).and_then(Value::as_bool)
}

fn arr<'a>(v: &'a Value, pointer: &str) -> &'a [Value] {
    at(v, pointer)
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default()
}

/// An array of strings (non-strings skipped).
fn strs<'a>(v: &'a Value, pointer: &str) -> Vec<&'a str> {
    arr(v, pointer).iter().filter_map(Value::as_str).collect()
}

fn name(v: &Value) -> &str {
    str_at(v, "/metadata/name").expect("metadata.name")
}

fn namespace(v: &Value) -> Option<&str> {
    str_at(v, "/metadata/namespace")
}

/// metadata.labels[key] (keys hold '/', which JSON pointers would need escaped).
fn label<'a>(v: &'a Value, key: &str) -> Option<&'a str> {
    at(v, "/metadata/labels")
        .and_then(|m| m.get(key))
        .and_then(Value::as_str)
}

fn annotation<'a>(v: &'a Value, key: &str) -> Option<&'a str> {
    at(v, "/metadata/annotations")
        .and_then(|m| m.get(key))
        .and_then(Value::as_str)
}

fn key(cluster: &str, ns: Option<&str>, kind: &str, name: &str) -> Key {
    (
        cluster.to_string(),
        ns.map(str::to_string),
        kind.to_string(),
        name.to_string(),
    )
}

fn alarm_if(cond: bool) -> &'static str {
    if cond { ALARM } else { OK }
}

fn any_in(values: &[&str], set: &[&str]) -> bool {
    values.iter().any(|v| set.contains(v))
}

/// The controller ownerReference, else the first one.
fn controller(v: &Value) -> Option<&Value> {
    let refs = arr(v, "/metadata/ownerReferences");
    refs.iter()
        .find(|r| r.get("controller").and_then(Value::as_bool) == Some(true))
        .or_else(|| refs.first())
}

const EXEMPT_NAMESPACES: &[&str] = &["kube-system", "kube-public", "kube-node-lease"];

fn exempt_ns(ns: &str) -> bool {
    EXEMPT_NAMESPACES.contains(&ns)
}

// ---------------------------------------------------------------------------
// Workloads as authored (the template_containers view, from raw objects)
// ---------------------------------------------------------------------------

const WORKLOAD_KINDS: &[(&str, &str)] = &[
    ("deployments", "Deployment"),
    ("statefulsets", "StatefulSet"),
    ("daemonsets", "DaemonSet"),
    ("jobs", "Job"),
    ("cronjobs", "CronJob"),
];

/// Whether a Deployment, StatefulSet, DaemonSet, Job or CronJob manages the
/// object, following ReplicaSets (by their ownerReferences) up to their
/// owner. "Top-level" is read as "managed by none of these five": a Job a
/// CronJob created is covered by the CronJob, while a workload an operator's
/// custom resource owns is still evaluated. (kq's view drops such a
/// workload, and its pods, entirely; the headers do not settle which is
/// meant, so no edge case below has one.)
fn managed_by_workload(c: &Cluster, v: &Value) -> bool {
    let Some(owner) = controller(v) else {
        return false;
    };
    let kind = owner
        .get("kind")
        .and_then(Value::as_str)
        .unwrap_or_default();
    if WORKLOAD_KINDS.iter().any(|(_, k)| *k == kind) {
        return true;
    }
    if kind == "ReplicaSet"
        && let Some(owner_name) = owner.get("name").and_then(Value::as_str)
        && let Some(rs) = c.find("replicasets", namespace(v), owner_name)
    {
        return managed_by_workload(c, rs);
    }
    false
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum CType {
    Init,
    Regular,
    Ephemeral,
}

struct Workload<'a> {
    cluster: &'a str,
    namespace: &'a str,
    kind: &'static str,
    name: &'a str,
    /// The pod spec (a template's, or the pod's).
    pod: &'a Value,
    containers: Vec<(CType, &'a Value)>,
}

impl Workload<'_> {
    fn key(&self) -> Key {
        key(self.cluster, Some(self.namespace), self.kind, self.name)
    }

    /// The pod's service account: serviceAccountName, else the deprecated
    /// serviceAccount, else default.
    fn service_account(&self) -> &str {
        str_at(self.pod, "/serviceAccountName")
            .or_else(|| str_at(self.pod, "/serviceAccount"))
            .unwrap_or("default")
    }

    /// A securityContext field of the container, else of the pod.
    fn effective<'b>(&'b self, container: &'b Value, field: &str) -> Option<&'b Value> {
        at(container, &format!("/securityContext{field}"))
            .or_else(|| at(self.pod, &format!("/securityContext{field}")))
    }

    fn seccomp<'b>(&'b self, container: &'b Value) -> Option<&'b str> {
        self.effective(container, "/seccompProfile/type")
            .and_then(Value::as_str)
    }

    fn any_container(&self, pred: impl Fn(&Value) -> bool) -> bool {
        self.containers.iter().any(|(_, c)| pred(c))
    }
}

fn containers_of(pod: &Value) -> Vec<(CType, &Value)> {
    let mut out = Vec::new();
    for (field, t) in [
        ("/initContainers", CType::Init),
        ("/containers", CType::Regular),
        ("/ephemeralContainers", CType::Ephemeral),
    ] {
        out.extend(arr(pod, field).iter().map(|c| (t, c)));
    }
    out
}

static NULL: Value = Value::Null;

/// Top-level workloads' pod templates and the pods no such workload manages;
/// those without any container are left out (they have no container rows).
fn workloads(c: &Cluster) -> Vec<Workload<'_>> {
    let mut out = Vec::new();
    for (plural, kind) in WORKLOAD_KINDS {
        let template = if *kind == "CronJob" {
            "/spec/jobTemplate/spec/template"
        } else {
            "/spec/template"
        };
        for w in c.all(plural) {
            if managed_by_workload(c, w) {
                continue;
            }
            let pod = at(w, &format!("{template}/spec")).unwrap_or(&NULL);
            out.push(Workload {
                cluster: &c.name,
                namespace: namespace(w).expect("namespaced workload"),
                kind,
                name: name(w),
                pod,
                containers: containers_of(pod),
            });
        }
    }
    for p in c.all("pods") {
        if managed_by_workload(c, p) {
            continue;
        }
        let pod = at(p, "/spec").unwrap_or(&NULL);
        out.push(Workload {
            cluster: &c.name,
            namespace: namespace(p).expect("namespaced pod"),
            kind: "Pod",
            name: name(p),
            pod,
            containers: containers_of(pod),
        });
    }
    out.retain(|w| !w.containers.is_empty());
    out
}

/// One finding per workload of every cluster; `skip_exempt` skips the
/// exempt namespaces.
fn per_workload(
    w: &World,
    skip_exempt: bool,
    alarm: impl Fn(&Cluster, &Workload) -> bool,
) -> Findings {
    let mut out = Findings::new();
    for c in &w.clusters {
        for wl in workloads(c) {
            let status = if skip_exempt && exempt_ns(wl.namespace) {
                SKIP
            } else {
                alarm_if(alarm(c, &wl))
            };
            out.insert(wl.key(), status);
        }
    }
    out
}

// ---------------------------------------------------------------------------
// RBAC
// ---------------------------------------------------------------------------

struct Role<'a> {
    namespace: Option<&'a str>,
    kind: &'static str,
    obj: &'a Value,
}

fn roles(c: &Cluster) -> Vec<Role<'_>> {
    let mut out: Vec<Role> = c
        .all("roles")
        .iter()
        .map(|r| Role {
            namespace: namespace(r),
            kind: "Role",
            obj: r,
        })
        .collect();
    out.extend(c.all("clusterroles").iter().map(|r| Role {
        namespace: None,
        kind: "ClusterRole",
        obj: r,
    }));
    out
}

struct Rule<'a> {
    verbs: Vec<&'a str>,
    resources: Vec<&'a str>,
    groups: Vec<&'a str>,
    urls: Vec<&'a str>,
}

fn rules(role: &Value) -> Vec<Rule<'_>> {
    arr(role, "/rules")
        .iter()
        .map(|r| Rule {
            verbs: strs(r, "/verbs"),
            resources: strs(r, "/resources"),
            groups: strs(r, "/apiGroups"),
            urls: strs(r, "/nonResourceURLs"),
        })
        .collect()
}

/// The cis pack's role exemption (README "Exemptions").
fn cis_role_exempt(role: &Role) -> bool {
    name(role.obj).starts_with("system:")
        || label(role.obj, "kubernetes.io/bootstrapping") == Some("rbac-defaults")
        || (role.kind == "Role" && role.namespace.is_some_and(exempt_ns))
}

fn cis_role_control(w: &World, grants: fn(&Rule) -> bool) -> Findings {
    let mut out = Findings::new();
    for c in &w.clusters {
        for role in roles(c) {
            let status = if cis_role_exempt(&role) {
                SKIP
            } else {
                alarm_if(rules(role.obj).iter().any(grants))
            };
            out.insert(
                key(&c.name, role.namespace, role.kind, name(role.obj)),
                status,
            );
        }
    }
    out
}

struct Binding<'a> {
    namespace: Option<&'a str>,
    kind: &'static str,
    obj: &'a Value,
}

impl Binding<'_> {
    fn role_ref(&self) -> (&str, &str) {
        (
            str_at(self.obj, "/roleRef/kind").unwrap_or_default(),
            str_at(self.obj, "/roleRef/name").unwrap_or_default(),
        )
    }

    /// (kind, name, namespace) of each subject; a ServiceAccount's namespace
    /// defaults to the binding's.
    fn subjects(&self) -> Vec<(&str, &str, Option<&str>)> {
        arr(self.obj, "/subjects")
            .iter()
            .map(|s| {
                let kind = str_at(s, "/kind").unwrap_or_default();
                let ns = str_at(s, "/namespace").or(if kind == "ServiceAccount" {
                    self.namespace
                } else {
                    None
                });
                (kind, str_at(s, "/name").unwrap_or_default(), ns)
            })
            .collect()
    }
}

fn bindings(c: &Cluster) -> Vec<Binding<'_>> {
    let mut out: Vec<Binding> = c
        .all("rolebindings")
        .iter()
        .map(|b| Binding {
            namespace: namespace(b),
            kind: "RoleBinding",
            obj: b,
        })
        .collect();
    out.extend(c.all("clusterrolebindings").iter().map(|b| Binding {
        namespace: None,
        kind: "ClusterRoleBinding",
        obj: b,
    }));
    out
}

// ---------------------------------------------------------------------------
// cis
// ---------------------------------------------------------------------------

const CIS: &[(&str, Oracle)] = &[
    ("cis.cluster_admin_bindings", cis_cluster_admin_bindings),
    ("cis.secret_access", cis_secret_access),
    ("cis.rbac_wildcards", cis_rbac_wildcards),
    ("cis.pod_create_access", cis_pod_create_access),
    ("cis.default_service_accounts", cis_default_service_accounts),
    (
        "cis.service_account_token_mount",
        cis_service_account_token_mount,
    ),
    (
        "cis.bind_escalate_impersonate",
        cis_bind_escalate_impersonate,
    ),
    ("cis.namespace_network_policy", cis_namespace_network_policy),
    ("cis.secrets_as_env", cis_secrets_as_env),
    ("cis.seccomp_profile", cis_seccomp_profile),
    ("cis.default_namespace_unused", cis_default_namespace_unused),
];

fn cis_cluster_admin_bindings(w: &World) -> Findings {
    let mut out = Findings::new();
    for c in &w.clusters {
        for b in bindings(c) {
            if b.role_ref() != ("ClusterRole", "cluster-admin") {
                continue;
            }
            let alarm = b
                .subjects()
                .iter()
                .any(|(_, name, _)| !name.starts_with("system:"));
            out.insert(
                key(&c.name, b.namespace, b.kind, name(b.obj)),
                alarm_if(alarm),
            );
        }
    }
    out
}

fn cis_secret_access(w: &World) -> Findings {
    cis_role_control(w, |r| {
        any_in(&r.groups, &["", "*"])
            && any_in(&r.resources, &["secrets", "*"])
            && any_in(&r.verbs, &["get", "list", "watch", "*"])
    })
}

fn cis_rbac_wildcards(w: &World) -> Findings {
    cis_role_control(w, |r| {
        [&r.verbs, &r.resources, &r.groups, &r.urls]
            .iter()
            .any(|list| list.iter().any(|e| e.contains('*')))
    })
}

fn cis_pod_create_access(w: &World) -> Findings {
    cis_role_control(w, |r| {
        any_in(&r.groups, &["", "*"])
            && any_in(&r.resources, &["pods", "*"])
            && any_in(&r.verbs, &["create", "*"])
    })
}

fn cis_bind_escalate_impersonate(w: &World) -> Findings {
    cis_role_control(w, |r| {
        let bind_escalate = any_in(&r.verbs, &["bind", "escalate", "*"])
            && any_in(&r.resources, &["roles", "clusterroles", "*"])
            && any_in(&r.groups, &["rbac.authorization.k8s.io", "*"]);
        let impersonate = any_in(&r.verbs, &["impersonate", "*"])
            && r.resources.iter().any(|x| {
                ["users", "groups", "serviceaccounts", "uids", "*"].contains(x)
                    || x.starts_with("userextras")
            })
            && any_in(&r.groups, &["", "authentication.k8s.io", "*"]);
        bind_escalate || impersonate
    })
}

fn cis_default_service_accounts(w: &World) -> Findings {
    let mut out = Findings::new();
    for c in &w.clusters {
        for sa in c.all("serviceaccounts") {
            if name(sa) != "default" {
                continue;
            }
            let ns = namespace(sa).expect("namespaced");
            let status = if exempt_ns(ns) {
                SKIP
            } else {
                let automount = bool_at(sa, "/automountServiceAccountToken") != Some(false);
                let bound = bindings(c).iter().any(|b| {
                    b.subjects()
                        .contains(&("ServiceAccount", "default", Some(ns)))
                });
                alarm_if(automount || bound)
            };
            out.insert(key(&c.name, Some(ns), "ServiceAccount", "default"), status);
        }
    }
    out
}

/// Whether the pod's service account token is mounted: the pod's setting,
/// else its service account's (an unset or missing account mounts).
fn token_mounted(c: &Cluster, wl: &Workload) -> bool {
    match bool_at(wl.pod, "/automountServiceAccountToken") {
        Some(pod) => pod,
        None => {
            c.find("serviceaccounts", Some(wl.namespace), wl.service_account())
                .and_then(|sa| bool_at(sa, "/automountServiceAccountToken"))
                != Some(false)
        }
    }
}

fn cis_service_account_token_mount(w: &World) -> Findings {
    per_workload(w, true, token_mounted)
}

fn cis_namespace_network_policy(w: &World) -> Findings {
    per_namespace(w, true, |c, ns| {
        c.in_ns("networkpolicies", ns).next().is_none()
    })
}

/// A container's env entries from Secrets (secretKeyRef) or envFrom Secrets.
fn secret_in_env(container: &Value) -> bool {
    arr(container, "/env")
        .iter()
        .any(|e| at(e, "/valueFrom/secretKeyRef/name").is_some())
        || arr(container, "/envFrom")
            .iter()
            .any(|e| at(e, "/secretRef/name").is_some())
}

fn cis_secrets_as_env(w: &World) -> Findings {
    per_workload(w, true, |_, wl| wl.any_container(secret_in_env))
}

fn cis_seccomp_profile(w: &World) -> Findings {
    per_workload(w, true, |_, wl| {
        wl.containers
            .iter()
            .any(|(_, ct)| matches!(wl.seccomp(ct), None | Some("Unconfined")))
    })
}

fn cis_default_namespace_unused(w: &World) -> Findings {
    let mut out = Findings::new();
    for c in &w.clusters {
        if c.find("namespaces", None, "default").is_none() {
            continue;
        }
        let ns = "default";
        let mut used = workloads(c).iter().any(|wl| wl.namespace == ns);
        used |= c.in_ns("services", ns).any(|s| name(s) != "kubernetes");
        used |= c.in_ns("ingresses", ns).next().is_some();
        used |= c
            .in_ns("configmaps", ns)
            .any(|m| name(m) != "kube-root-ca.crt");
        // Secrets are not read (a report needs no access to them).
        used |= c.in_ns("serviceaccounts", ns).any(|s| name(s) != "default");
        for plural in ["persistentvolumeclaims", "roles", "rolebindings"] {
            used |= c.in_ns(plural, ns).next().is_some();
        }
        out.insert(key(&c.name, None, "Namespace", ns), alarm_if(used));
    }
    out
}

/// One finding per Namespace of every cluster.
fn per_namespace(w: &World, skip_exempt: bool, alarm: impl Fn(&Cluster, &str) -> bool) -> Findings {
    let mut out = Findings::new();
    for c in &w.clusters {
        for n in c.all("namespaces") {
            let ns = name(n);
            let status = if skip_exempt && exempt_ns(ns) {
                SKIP
            } else {
                alarm_if(alarm(c, ns))
            };
            out.insert(key(&c.name, None, "Namespace", ns), status);
        }
    }
    out
}

// ---------------------------------------------------------------------------
// practices
// ---------------------------------------------------------------------------

const PRACTICES: &[(&str, Oracle)] = &[
    ("practices.namespace_owner", practices_namespace_owner),
    ("practices.namespace_expiry", practices_namespace_expiry),
    ("practices.namespace_quota", practices_namespace_quota),
    ("practices.log_shipping", practices_log_shipping),
    ("practices.monitoring", practices_monitoring),
    ("practices.policy_engine", practices_policy_engine),
    ("practices.ingress_controller", practices_ingress_controller),
    ("practices.cert_manager", practices_cert_manager),
    ("practices.app_replicas", practices_app_replicas),
    (
        "practices.app_disruption_budget",
        practices_app_disruption_budget,
    ),
    (
        "practices.app_readiness_probes",
        practices_app_readiness_probes,
    ),
    (
        "practices.fleet_cluster_services",
        practices_fleet_cluster_services,
    ),
    ("practices.fleet_crds", practices_fleet_crds),
    (
        "practices.fleet_kubelet_versions",
        practices_fleet_kubelet_versions,
    ),
];

fn practices_namespace_owner(w: &World) -> Findings {
    let mut out = Findings::new();
    for c in &w.clusters {
        for n in c.all("namespaces") {
            let blank = |k| annotation(n, k).is_none_or(|v| v.trim_matches(' ').is_empty());
            let status = if exempt_ns(name(n)) {
                SKIP
            } else {
                alarm_if(blank("owner") || blank("team"))
            };
            out.insert(key(&c.name, None, "Namespace", name(n)), status);
        }
    }
    out
}

/// A kube-janitor TTL: digits (at most 9) and a unit, spaces allowed.
fn parse_ttl(value: &str) -> Option<TimeDelta> {
    let v = value.trim_matches(' ');
    let unit = v.chars().last()?;
    let number = v[..v.len() - unit.len_utf8()].trim_matches(' ');
    if number.is_empty() || number.len() > 9 || !number.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let n: i64 = number.parse().ok()?;
    let seconds = match unit {
        's' => 1,
        'm' => 60,
        'h' => 3600,
        'd' => 86_400,
        'w' => 7 * 86_400,
        _ => return None,
    };
    let cap = 200 * 365 * 86_400;
    Some(TimeDelta::seconds((n * seconds).min(cap)))
}

fn parse_expiry(value: &str) -> Option<DateTime<Utc>> {
    if let Ok(t) = DateTime::parse_from_rfc3339(value) {
        return Some(t.with_timezone(&Utc));
    }
    if let Ok(t) = NaiveDateTime::parse_from_str(value, "%Y-%m-%dT%H:%M") {
        return Some(t.and_utc());
    }
    NaiveDate::parse_from_str(value, "%Y-%m-%d")
        .ok()
        .map(|d| d.and_hms_opt(0, 0, 0).expect("midnight").and_utc())
}

/// The expiry an annotation value sets: `Ok(None)` for forever, `Err` when
/// the value cannot be parsed.
fn expiry_of(value: &str, created: DateTime<Utc>, ttl: bool) -> Result<Option<DateTime<Utc>>, ()> {
    if value.trim_matches(' ').eq_ignore_ascii_case("forever") {
        return Ok(None);
    }
    let expiry = if ttl {
        parse_ttl(value).map(|d| created + d)
    } else {
        parse_expiry(value)
    };
    expiry.map(Some).ok_or(())
}

fn practices_namespace_expiry(w: &World) -> Findings {
    let annotations = [
        ("janitor/ttl", true),
        ("janitor/expires", false),
        ("kq.example.com/expires", false),
    ];
    let mut out = Findings::new();
    for c in &w.clusters {
        for n in c.all("namespaces") {
            let created = str_at(n, "/metadata/creationTimestamp")
                .and_then(parse_expiry)
                .expect("creationTimestamp");
            let values: Vec<_> = annotations
                .iter()
                .filter_map(|(k, ttl)| annotation(n, k).map(|v| expiry_of(v, created, *ttl)))
                .collect();
            if values.is_empty() {
                continue;
            }
            let earliest = values.iter().filter_map(|v| v.ok().flatten()).min();
            let status = if earliest.is_some_and(|e| e <= w.now) {
                ALARM
            } else if values.iter().any(Result::is_err) {
                ERROR
            } else {
                OK
            };
            out.insert(key(&c.name, None, "Namespace", name(n)), status);
        }
    }
    out
}

fn practices_namespace_quota(w: &World) -> Findings {
    per_namespace(w, true, |c, ns| {
        c.in_ns("resourcequotas", ns).next().is_none()
    })
}

/// Whether the object's name, or its label app.kubernetes.io/name, app or
/// k8s-app, is one of `names`.
fn named_as(v: &Value, names: &[&str]) -> bool {
    names.contains(&name(v))
        || ["app.kubernetes.io/name", "app", "k8s-app"]
            .iter()
            .any(|l| label(v, l).is_some_and(|x| names.contains(&x)))
}

fn per_cluster(w: &World, status: impl Fn(&Cluster) -> &'static str) -> Findings {
    w.fleet()
        .map(|c| (key(&c.name, None, "Cluster", &c.name), status(c)))
        .collect()
}

fn has_named(c: &Cluster, plurals: &[&str], names: &[&str]) -> bool {
    plurals
        .iter()
        .any(|p| c.all(p).iter().any(|o| named_as(o, names)))
}

const LOG_SHIPPERS: &[&str] = &[
    "fluent-bit",
    "aws-for-fluent-bit",
    "fluentd",
    "vector",
    "promtail",
    "filebeat",
    "datadog-agent",
    "grafana-agent",
    "alloy",
    "otel-collector",
];

fn practices_log_shipping(w: &World) -> Findings {
    per_cluster(w, |c| {
        let desired: Vec<i64> = c
            .all("daemonsets")
            .iter()
            .filter(|d| named_as(d, LOG_SHIPPERS))
            .map(|d| {
                at(d, "/status/desiredNumberScheduled")
                    .and_then(Value::as_i64)
                    .unwrap_or(0)
            })
            .collect();
        let nodes = c.all("nodes").len() as i64;
        match desired.iter().max() {
            None => ALARM,
            Some(_) if nodes == 0 => ERROR,
            Some(max) => alarm_if(*max < nodes),
        }
    })
}

fn practices_monitoring(w: &World) -> Findings {
    per_cluster(w, |c| {
        let prometheus = has_named(
            c,
            &["deployments", "statefulsets"],
            &["prometheus", "prometheus-server", "prometheus-k8s"],
        );
        let exporter = has_named(
            c,
            &["daemonsets"],
            &["node-exporter", "prometheus-node-exporter"],
        );
        alarm_if(!(prometheus && exporter))
    })
}

fn practices_policy_engine(w: &World) -> Findings {
    per_cluster(w, |c| {
        alarm_if(!has_named(
            c,
            &["deployments"],
            &[
                "gatekeeper-controller-manager",
                "kyverno",
                "kyverno-admission-controller",
            ],
        ))
    })
}

fn practices_ingress_controller(w: &World) -> Findings {
    per_cluster(w, |c| {
        alarm_if(!has_named(
            c,
            &["daemonsets", "deployments"],
            &[
                "ingress-nginx-controller",
                "ingress-nginx",
                "nginx-ingress-controller",
                "nginx-ingress",
                "traefik",
                "haproxy-ingress",
                "kong",
                "contour",
                "istio-ingressgateway",
                "emissary-ingress",
            ],
        ))
    })
}

fn practices_cert_manager(w: &World) -> Findings {
    per_cluster(w, |c| {
        alarm_if(!has_named(c, &["deployments"], &["cert-manager"]))
    })
}

/// Deployments and StatefulSets: (kind, object).
fn apps(c: &Cluster) -> impl Iterator<Item = (&'static str, &Value)> {
    c.all("deployments")
        .iter()
        .map(|d| ("Deployment", d))
        .chain(c.all("statefulsets").iter().map(|s| ("StatefulSet", s)))
}

fn per_app(w: &World, status: impl Fn(&Cluster, &str, &Value) -> &'static str) -> Findings {
    let mut out = Findings::new();
    for c in &w.clusters {
        for (kind, app) in apps(c) {
            let ns = namespace(app).expect("namespaced");
            let s = if exempt_ns(ns) {
                SKIP
            } else {
                status(c, kind, app)
            };
            out.insert(key(&c.name, Some(ns), kind, name(app)), s);
        }
    }
    out
}

fn practices_app_replicas(w: &World) -> Findings {
    per_app(w, |c, kind, app| {
        let ns = namespace(app).expect("namespaced");
        let hpa_min = c
            .in_ns("horizontalpodautoscalers", ns)
            .filter(|h| {
                str_at(h, "/spec/scaleTargetRef/kind") == Some(kind)
                    && str_at(h, "/spec/scaleTargetRef/name") == Some(name(app))
            })
            .map(|h| {
                at(h, "/spec/minReplicas")
                    .and_then(Value::as_i64)
                    .unwrap_or(1)
            })
            .min();
        match hpa_min {
            Some(min) => alarm_if(min < 2),
            None => {
                let replicas = at(app, "/spec/replicas")
                    .and_then(Value::as_i64)
                    .unwrap_or(1);
                if replicas == 0 {
                    SKIP
                } else {
                    alarm_if(replicas < 2)
                }
            }
        }
    })
}

/// selector_matches: a LabelSelector (JSON) against labels; a missing
/// selector or missing labels match nothing, an empty selector everything.
fn selector_matches(selector: Option<&Value>, labels: Option<&Value>) -> bool {
    let (Some(selector), Some(labels)) = (selector, labels) else {
        return false;
    };
    let get = |k: &str| labels.get(k).and_then(Value::as_str);
    if let Some(m) = at(selector, "/matchLabels").and_then(Value::as_object)
        && m.iter().any(|(k, v)| get(k) != v.as_str())
    {
        return false;
    }
    arr(selector, "/matchExpressions").iter().all(|e| {
        let k = str_at(e, "/key").unwrap_or_default();
        let values = strs(e, "/values");
        match str_at(e, "/operator") {
            Some("In") => get(k).is_some_and(|v| values.contains(&v)),
            Some("NotIn") => get(k).is_none_or(|v| !values.contains(&v)),
            Some("Exists") => get(k).is_some(),
            Some("DoesNotExist") => get(k).is_none(),
            _ => false,
        }
    })
}

fn practices_app_disruption_budget(w: &World) -> Findings {
    per_app(w, |c, _, app| {
        let ns = namespace(app).expect("namespaced");
        let labels = at(app, "/spec/template/metadata/labels");
        alarm_if(
            !c.in_ns("poddisruptionbudgets", ns)
                .any(|p| selector_matches(at(p, "/spec/selector"), labels)),
        )
    })
}

fn practices_app_readiness_probes(w: &World) -> Findings {
    per_app(w, |_, _, app| {
        alarm_if(
            arr(app, "/spec/template/spec/containers")
                .iter()
                .any(|ct| at(ct, "/readinessProbe").is_none()),
        )
    })
}

/// The first match of N.N[.N][non-digits N] in `s`: up to four numbers,
/// missing ones 0.
fn version_key(s: &str) -> Option<[u128; 4]> {
    let b = s.as_bytes();
    let digits = |mut i: usize| {
        let start = i;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        (i, s[start..i].parse::<u128>().unwrap_or(u128::MAX))
    };
    let mut i = 0;
    while i < b.len() {
        if !b[i].is_ascii_digit() || (i > 0 && b[i - 1].is_ascii_digit()) {
            i += 1;
            continue;
        }
        let (end1, n1) = digits(i);
        if end1 + 1 < b.len() && b[end1] == b'.' && b[end1 + 1].is_ascii_digit() {
            let (mut end, n2) = digits(end1 + 1);
            let mut key = [n1, n2, 0, 0];
            if end + 1 < b.len() && b[end] == b'.' && b[end + 1].is_ascii_digit() {
                let (e, n3) = digits(end + 1);
                key[2] = n3;
                end = e;
            }
            let mut j = end;
            while j < b.len() && !b[j].is_ascii_digit() {
                j += 1;
            }
            if j > end && j < b.len() {
                key[3] = digits(j).1;
            }
            return Some(key);
        }
        i = end1;
    }
    None
}

/// A parsed image reference (Docker's normalization).
struct Image {
    tag: Option<String>,
    digest: Option<String>,
    /// registry/repository[:tag][@digest], with docker.io and library/ filled in.
    image_ref: String,
}

fn parse_image(image: &str) -> Option<Image> {
    let (rest, digest) = match image.split_once('@') {
        Some((r, d)) => {
            let (algo, hex) = d.split_once(':')?;
            if algo.is_empty() || hex.len() < 32 || !hex.bytes().all(|c| c.is_ascii_hexdigit()) {
                return None;
            }
            (r, Some(d.to_string()))
        }
        None => (image, None),
    };
    let last_slash = rest.rfind('/').map_or(0, |i| i + 1);
    let (path, tag) = match rest[last_slash..].rfind(':') {
        Some(i) => (
            &rest[..last_slash + i],
            Some(rest[last_slash + i + 1..].to_string()),
        ),
        None => (rest, None),
    };
    if let Some(t) = &tag {
        let ok = !t.is_empty()
            && t.len() <= 128
            && !t.starts_with(['.', '-'])
            && t.bytes()
                .all(|c| c.is_ascii_alphanumeric() || b"_.-".contains(&c));
        if !ok {
            return None;
        }
    }
    let (registry, repository) = match path.split_once('/') {
        Some((first, repo))
            if first.contains('.') || first.contains(':') || first == "localhost" =>
        {
            (first.to_string(), repo.to_string())
        }
        _ => ("docker.io".to_string(), path.to_string()),
    };
    let registry = if registry == "index.docker.io" {
        "docker.io".to_string()
    } else {
        registry
    };
    let repository = if registry == "docker.io" && !repository.contains('/') {
        format!("library/{repository}")
    } else {
        repository
    };
    let component_ok = |c: &str| {
        !c.is_empty()
            && c.bytes()
                .all(|x| x.is_ascii_lowercase() || x.is_ascii_digit() || b"._-".contains(&x))
            && c.as_bytes()[0].is_ascii_alphanumeric()
            && c.as_bytes()[c.len() - 1].is_ascii_alphanumeric()
    };
    if !repository.split('/').all(component_ok) {
        return None;
    }
    let tag = match (&tag, &digest) {
        (None, None) => Some("latest".to_string()),
        _ => tag,
    };
    let mut image_ref = format!("{registry}/{repository}");
    if let Some(t) = &tag {
        image_ref.push(':');
        image_ref.push_str(t);
    }
    if let Some(d) = &digest {
        image_ref.push('@');
        image_ref.push_str(d);
    }
    Some(Image {
        tag,
        digest,
        image_ref,
    })
}

/// Orders versions by key (no key lowest), then by the string.
fn newest<'a>(versions: impl Iterator<Item = &'a str>) -> Option<&'a str> {
    versions.max_by(|a, b| (version_key(a), *a).cmp(&(version_key(b), *b)))
}

const FLEET_NAMESPACES: &[&str] = &[
    "kube-system",
    "monitoring",
    "logging",
    "ingress-nginx",
    "cert-manager",
    "gatekeeper-system",
    "kyverno",
    "istio-system",
];

fn practices_fleet_cluster_services(w: &World) -> Findings {
    // (namespace, kind, name) -> cluster -> version
    let mut services: BTreeMap<(String, &str, String), BTreeMap<String, String>> = BTreeMap::new();
    for c in w.fleet() {
        for (plural, kind) in [
            ("deployments", "Deployment"),
            ("daemonsets", "DaemonSet"),
            ("statefulsets", "StatefulSet"),
        ] {
            for o in c.all(plural) {
                let ns = namespace(o).expect("namespaced");
                if !FLEET_NAMESPACES.contains(&ns) {
                    continue;
                }
                let mut containers: Vec<(&str, String)> = arr(o, "/spec/template/spec/containers")
                    .iter()
                    .map(|ct| {
                        let image = parse_image(str_at(ct, "/image").unwrap_or_default());
                        let version = image
                            .and_then(|i| i.tag.or(i.digest))
                            .unwrap_or_else(|| "?".to_string());
                        (str_at(ct, "/name").unwrap_or_default(), version)
                    })
                    .collect();
                containers.sort();
                let version = containers
                    .into_iter()
                    .map(|(_, v)| v)
                    .collect::<Vec<_>>()
                    .join(", ");
                services
                    .entry((ns.to_string(), kind, name(o).to_string()))
                    .or_default()
                    .insert(c.name.clone(), version);
            }
        }
    }
    let mut out = Findings::new();
    for ((ns, kind, svc), versions) in &services {
        let reference = newest(versions.values().map(String::as_str)).expect("one version");
        for c in w.fleet() {
            let status = match versions.get(&c.name) {
                None => ALARM,
                Some(v) => alarm_if(v != reference),
            };
            out.insert(key(&c.name, Some(ns), kind, svc), status);
        }
    }
    out
}

/// Kubernetes API-version priority: vN > vNbetaM > vNalphaM; others lowest.
fn api_version_priority(v: Option<&str>) -> (i8, u64, u64) {
    let Some(rest) = v.and_then(|v| v.strip_prefix('v')) else {
        return (-1, 0, 0);
    };
    let n_end = rest
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(rest.len());
    let Ok(n) = rest[..n_end].parse::<u64>() else {
        return (-1, 0, 0);
    };
    let tail = &rest[n_end..];
    if tail.is_empty() {
        return (2, n, 0);
    }
    for (word, level) in [("beta", 1), ("alpha", 0)] {
        if let Some(m) = tail.strip_prefix(word)
            && !m.is_empty()
            && m.bytes().all(|c| c.is_ascii_digit())
        {
            return (level, n, m.parse().unwrap_or(u64::MAX));
        }
    }
    (-1, 0, 0)
}

fn practices_fleet_crds(w: &World) -> Findings {
    struct Crd {
        label: Option<String>,
        storage: Option<String>,
        text: String,
    }
    let mut crds: BTreeMap<String, BTreeMap<String, Crd>> = BTreeMap::new();
    for c in w.fleet() {
        for crd in c.all("customresourcedefinitions") {
            let versions = arr(crd, "/spec/versions");
            let storage = versions
                .iter()
                .find(|v| bool_at(v, "/storage") == Some(true))
                .and_then(|v| str_at(v, "/name"));
            let mut served: Vec<&str> = versions
                .iter()
                .filter(|v| bool_at(v, "/served") == Some(true))
                .filter_map(|v| str_at(v, "/name"))
                .collect();
            served.sort();
            let release = label(crd, "app.kubernetes.io/version");
            let text = format!(
                "{}(storage {}, served {})",
                release.map(|l| format!("{l} ")).unwrap_or_default(),
                storage.unwrap_or("?"),
                served.join(",")
            );
            crds.entry(name(crd).to_string()).or_default().insert(
                c.name.clone(),
                Crd {
                    label: release.map(str::to_string),
                    storage: storage.map(str::to_string),
                    text,
                },
            );
        }
    }
    let mut out = Findings::new();
    for (crd, per_cluster) in &crds {
        let order = |x: &Crd| {
            (
                x.label.as_deref().and_then(version_key),
                api_version_priority(x.storage.as_deref()),
                x.text.clone(),
            )
        };
        let reference = per_cluster
            .values()
            .max_by_key(|x| order(x))
            .expect("one cluster has it");
        for c in w.fleet() {
            let status = match per_cluster.get(&c.name) {
                None => ALARM,
                Some(x) => alarm_if(x.text != reference.text),
            };
            out.insert(key(&c.name, None, "CustomResourceDefinition", crd), status);
        }
    }
    out
}

fn practices_fleet_kubelet_versions(w: &World) -> Findings {
    fn kubelet(n: &Value) -> Option<&str> {
        str_at(n, "/status/nodeInfo/kubeletVersion")
    }
    let all: Vec<&str> = w
        .fleet()
        .flat_map(|c| c.all("nodes").iter().filter_map(kubelet))
        .collect();
    let reference = newest(all.into_iter());
    per_cluster(w, |c| {
        let nodes = c.all("nodes");
        if nodes.is_empty() {
            ERROR
        } else {
            alarm_if(nodes.iter().any(|n| kubelet(n) != reference))
        }
    })
}

// ---------------------------------------------------------------------------
// baseline (Pod Security Standards and Kubernetes Best Practices)
// ---------------------------------------------------------------------------

/// The trusted registries passed to the baseline run.
const TRUSTED: &[&str] = &[
    "registry.k8s.io/",
    "registry.corp.example.com/",
    "docker.io/library/",
];

const BASELINE: &[(&str, Oracle)] = &[
    (
        "baseline.capabilities_baseline",
        baseline_capabilities_baseline,
    ),
    (
        "baseline.capabilities_restricted",
        baseline_capabilities_restricted,
    ),
    ("baseline.host_namespaces", host_namespaces),
    ("baseline.host_path_volumes", host_path_volumes),
    ("baseline.host_ports", host_ports),
    ("baseline.image_tag_pinned", baseline_image_tag_pinned),
    ("baseline.ingress_host_unique", baseline_ingress_host_unique),
    ("baseline.ingress_https_only", baseline_ingress_https_only),
    ("baseline.privilege_escalation", privilege_escalation),
    ("baseline.privileged", privileged),
    ("baseline.proc_mount", baseline_proc_mount),
    ("baseline.resource_limits", resource_limits),
    ("baseline.run_as_non_root", baseline_run_as_non_root),
    (
        "baseline.seccomp_not_unconfined",
        baseline_seccomp_not_unconfined,
    ),
    ("baseline.seccomp_required", baseline_seccomp_required),
    ("baseline.services_not_public", baseline_services_not_public),
    ("baseline.trusted_registries", baseline_trusted_registries),
];

const PSS_BASELINE_CAPABILITIES: &[&str] = &[
    "AUDIT_WRITE",
    "CHOWN",
    "DAC_OVERRIDE",
    "FOWNER",
    "FSETID",
    "KILL",
    "MKNOD",
    "NET_BIND_SERVICE",
    "SETFCAP",
    "SETGID",
    "SETPCAP",
    "SETUID",
    "SYS_CHROOT",
];

fn added(ct: &Value) -> Vec<&str> {
    strs(ct, "/securityContext/capabilities/add")
}

fn dropped(ct: &Value) -> Vec<&str> {
    strs(ct, "/securityContext/capabilities/drop")
}

fn baseline_capabilities_baseline(w: &World) -> Findings {
    per_workload(w, false, |_, wl| {
        wl.any_container(|ct| {
            added(ct)
                .iter()
                .any(|c| !PSS_BASELINE_CAPABILITIES.contains(c))
        })
    })
}

fn baseline_capabilities_restricted(w: &World) -> Findings {
    per_workload(w, false, |_, wl| {
        wl.any_container(|ct| {
            !dropped(ct).contains(&"ALL") || added(ct).iter().any(|c| *c != "NET_BIND_SERVICE")
        })
    })
}

fn host_namespaces(w: &World) -> Findings {
    per_workload(w, false, |_, wl| {
        ["/hostNetwork", "/hostPID", "/hostIPC"]
            .iter()
            .any(|f| bool_at(wl.pod, f) == Some(true))
    })
}

fn host_path_volumes(w: &World) -> Findings {
    per_workload(w, false, |_, wl| {
        arr(wl.pod, "/volumes")
            .iter()
            .any(|v| str_at(v, "/hostPath/path").is_some())
    })
}

fn host_ports(w: &World) -> Findings {
    per_workload(w, false, |_, wl| {
        wl.any_container(|ct| {
            arr(ct, "/ports").iter().any(|p| {
                at(p, "/hostPort")
                    .and_then(Value::as_i64)
                    .is_some_and(|h| h != 0)
            })
        })
    })
}

fn baseline_image_tag_pinned(w: &World) -> Findings {
    per_workload(w, false, |_, wl| {
        wl.any_container(
            |ct| match parse_image(str_at(ct, "/image").unwrap_or_default()) {
                None => true,
                Some(i) => i.digest.is_none() && i.tag.as_deref().is_none_or(|t| t == "latest"),
            },
        )
    })
}

/// Lower-cased, trailing dot removed.
fn norm_host(h: &str) -> String {
    h.strip_suffix('.').unwrap_or(h).to_ascii_lowercase()
}

/// Whether some host name satisfies both (Ingress wildcard semantics; ''
/// matches every host; two wildcards overlap only when equal).
fn host_matches(a: &str, b: &str) -> bool {
    let (a, b) = (norm_host(a), norm_host(b));
    if a.is_empty() || b.is_empty() || a == b {
        return true;
    }
    wildcard_covers(&a, &b) || wildcard_covers(&b, &a)
}

/// `*.suffix` covers a concrete host exactly one label below `suffix`.
fn wildcard_covers(w: &str, h: &str) -> bool {
    w.strip_prefix("*.").is_some_and(|suffix| {
        !h.starts_with("*.")
            && h.split_once('.')
                .is_some_and(|(first, rest)| !first.is_empty() && rest == suffix)
    })
}

/// The hosts of an Ingress's rules ('' for a rule without host).
fn rule_hosts(ing: &Value) -> Vec<&str> {
    arr(ing, "/spec/rules")
        .iter()
        .map(|r| str_at(r, "/host").unwrap_or(""))
        .collect()
}

fn baseline_ingress_host_unique(w: &World) -> Findings {
    let mut out = Findings::new();
    for c in &w.clusters {
        let ingresses = c.all("ingresses");
        for (i, ing) in ingresses.iter().enumerate() {
            let overlaps = rule_hosts(ing).iter().any(|h| {
                ingresses
                    .iter()
                    .enumerate()
                    .filter(|(j, _)| *j != i)
                    .any(|(_, other)| rule_hosts(other).iter().any(|o| host_matches(h, o)))
            });
            out.insert(
                key(&c.name, namespace(ing), "Ingress", name(ing)),
                alarm_if(overlaps),
            );
        }
    }
    out
}

fn baseline_ingress_https_only(w: &World) -> Findings {
    let mut out = Findings::new();
    for c in &w.clusters {
        for ing in c.all("ingresses") {
            let tls = arr(ing, "/spec/tls");
            let allow_http = !annotation(ing, "kubernetes.io/ingress.allow-http")
                .is_some_and(|v| v.trim().eq_ignore_ascii_case("false"));
            let covered = |rule_host: &str| {
                if rule_host.is_empty() {
                    return tls.iter().any(|t| strs(t, "/hosts").is_empty());
                }
                let r = norm_host(rule_host);
                tls.iter().flat_map(|t| strs(t, "/hosts")).any(|t| {
                    let t = norm_host(t);
                    t == r || wildcard_covers(&t, &r)
                })
            };
            let uncovered = rule_hosts(ing).iter().any(|h| !covered(h));
            out.insert(
                key(&c.name, namespace(ing), "Ingress", name(ing)),
                alarm_if(tls.is_empty() || allow_http || uncovered),
            );
        }
    }
    out
}

fn privilege_escalation(w: &World) -> Findings {
    per_workload(w, false, |_, wl| {
        wl.any_container(|ct| {
            bool_at(ct, "/securityContext/allowPrivilegeEscalation") != Some(false)
        })
    })
}

fn privileged(w: &World) -> Findings {
    per_workload(w, false, |_, wl| {
        wl.any_container(|ct| bool_at(ct, "/securityContext/privileged") == Some(true))
    })
}

fn baseline_proc_mount(w: &World) -> Findings {
    per_workload(w, false, |_, wl| {
        wl.any_container(|ct| {
            str_at(ct, "/securityContext/procMount").is_some_and(|p| p != "Default")
        })
    })
}

/// The numeric value of a Kubernetes quantity (suffix ignored: only its
/// sign matters here); None when malformed.
fn quantity_positive(q: &Value) -> Option<bool> {
    if let Some(n) = q.as_f64() {
        return Some(n > 0.0);
    }
    let s = q.as_str()?.trim();
    let end = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.' || c == '+' || c == '-'))
        .unwrap_or(s.len());
    let n: f64 = s[..end].parse().ok()?;
    Some(n > 0.0)
}

fn resource_limits(w: &World) -> Findings {
    per_workload(w, false, |c, wl| {
        let default = |resource: &str| {
            c.in_ns("limitranges", wl.namespace).any(|lr| {
                arr(lr, "/spec/limits").iter().any(|l| {
                    str_at(l, "/type") == Some("Container")
                        && at(l, &format!("/default/{resource}")).is_some()
                })
            })
        };
        wl.containers
            .iter()
            .filter(|(t, _)| *t != CType::Ephemeral)
            .any(|(_, ct)| {
                ["cpu", "memory"].iter().any(|r| {
                    let present = match at(ct, &format!("/resources/limits/{r}")) {
                        Some(q) => quantity_positive(q) == Some(true),
                        None => default(r),
                    };
                    !present
                })
            })
    })
}

fn baseline_run_as_non_root(w: &World) -> Findings {
    per_workload(w, false, |_, wl| {
        wl.containers.iter().any(|(_, ct)| {
            wl.effective(ct, "/runAsUser").and_then(Value::as_i64) == Some(0)
                || wl.effective(ct, "/runAsNonRoot").and_then(Value::as_bool) != Some(true)
        })
    })
}

fn baseline_seccomp_not_unconfined(w: &World) -> Findings {
    per_workload(w, false, |_, wl| {
        wl.containers
            .iter()
            .any(|(_, ct)| wl.seccomp(ct) == Some("Unconfined"))
    })
}

fn baseline_seccomp_required(w: &World) -> Findings {
    per_workload(w, false, |_, wl| {
        wl.containers
            .iter()
            .any(|(_, ct)| !matches!(wl.seccomp(ct), Some("RuntimeDefault" | "Localhost")))
    })
}

/// Cloud annotations that make a LoadBalancer internal: (annotation, value
/// or None for any non-empty value).
const INTERNAL_LB: &[(&str, Option<&str>)] = &[
    (
        "service.beta.kubernetes.io/aws-load-balancer-internal",
        Some("true"),
    ),
    (
        "service.beta.kubernetes.io/aws-load-balancer-scheme",
        Some("internal"),
    ),
    ("networking.gke.io/load-balancer-type", Some("Internal")),
    ("cloud.google.com/load-balancer-type", Some("Internal")),
    (
        "service.beta.kubernetes.io/azure-load-balancer-internal",
        Some("true"),
    ),
    (
        "service.beta.kubernetes.io/openstack-internal-load-balancer",
        Some("true"),
    ),
    (
        "service.beta.kubernetes.io/oci-load-balancer-internal",
        Some("true"),
    ),
    (
        "oci-network-load-balancer.oraclecloud.com/internal",
        Some("true"),
    ),
    (
        "service.kubernetes.io/ibm-load-balancer-cloud-provider-ip-type",
        Some("private"),
    ),
    (
        "service.beta.kubernetes.io/alibaba-cloud-loadbalancer-address-type",
        Some("intranet"),
    ),
    (
        "service.kubernetes.io/qcloud-loadbalancer-internal-subnetid",
        None,
    ),
];

fn baseline_services_not_public(w: &World) -> Findings {
    let mut out = Findings::new();
    for c in &w.clusters {
        for s in c.all("services") {
            let status = match str_at(s, "/spec/type") {
                Some("NodePort") => ALARM,
                Some("LoadBalancer") => {
                    let internal = INTERNAL_LB
                        .iter()
                        .any(|(a, v)| match (annotation(s, a), v) {
                            (Some(x), Some(v)) => x.eq_ignore_ascii_case(v),
                            (Some(x), None) => !x.is_empty(),
                            (None, _) => false,
                        });
                    if internal {
                        OK
                    } else {
                        let mut ranges: Vec<String> = strs(s, "/spec/loadBalancerSourceRanges")
                            .iter()
                            .map(|r| r.to_string())
                            .collect();
                        if ranges.is_empty() {
                            ranges = annotation(
                                s,
                                "service.beta.kubernetes.io/load-balancer-source-ranges",
                            )
                            .unwrap_or_default()
                            .split(',')
                            .map(|r| r.chars().filter(|c| !c.is_whitespace()).collect::<String>())
                            .filter(|r| !r.is_empty())
                            .collect();
                        }
                        alarm_if(ranges.is_empty() || ranges.iter().any(|r| r.ends_with("/0")))
                    }
                }
                _ => OK,
            };
            out.insert(key(&c.name, namespace(s), "Service", name(s)), status);
        }
    }
    out
}

fn baseline_trusted_registries(w: &World) -> Findings {
    per_workload(w, false, |_, wl| {
        wl.any_container(
            |ct| match parse_image(str_at(ct, "/image").unwrap_or_default()) {
                None => true,
                Some(i) => !TRUSTED.iter().any(|p| i.image_ref.starts_with(p)),
            },
        )
    })
}

// ---------------------------------------------------------------------------
// nsa (NSA/CISA Kubernetes Hardening Guide)
// ---------------------------------------------------------------------------

const NSA: &[(&str, Oracle)] = &[
    ("nsa.cluster_admin_bindings", nsa_cluster_admin_bindings),
    ("nsa.exec_into_container", nsa_exec_into_container),
    ("nsa.host_namespaces", host_namespaces),
    ("nsa.host_path_volumes", host_path_volumes),
    ("nsa.host_ports", host_ports),
    ("nsa.insecure_capabilities", nsa_insecure_capabilities),
    ("nsa.linux_hardening", nsa_linux_hardening),
    (
        "nsa.namespace_default_deny_egress",
        nsa_namespace_default_deny_egress,
    ),
    (
        "nsa.namespace_default_deny_ingress",
        nsa_namespace_default_deny_ingress,
    ),
    ("nsa.namespace_limit_range", nsa_namespace_limit_range),
    ("nsa.namespace_resource_quota", nsa_namespace_resource_quota),
    ("nsa.non_root_containers", nsa_non_root_containers),
    ("nsa.privilege_escalation", privilege_escalation),
    ("nsa.privileged_containers", privileged),
    (
        "nsa.read_only_root_filesystem",
        nsa_read_only_root_filesystem,
    ),
    ("nsa.resource_limits", resource_limits),
    ("nsa.secrets_in_env", nsa_secrets_in_env),
    (
        "nsa.service_account_token_automount",
        nsa_service_account_token_automount,
    ),
];

fn nsa_cluster_admin_bindings(w: &World) -> Findings {
    let mut out = Findings::new();
    for c in &w.clusters {
        let all_star = |role: Option<&Value>| {
            role.is_some_and(|r| {
                rules(r).iter().any(|rule| {
                    rule.verbs.contains(&"*")
                        && rule.resources.contains(&"*")
                        && rule.groups.contains(&"*")
                })
            })
        };
        for b in bindings(c) {
            let admin = match b.role_ref() {
                ("ClusterRole", "cluster-admin") => true,
                ("ClusterRole", role) => all_star(c.find("clusterroles", None, role)),
                ("Role", role) if b.kind == "RoleBinding" => {
                    all_star(c.find("roles", b.namespace, role))
                }
                _ => false,
            };
            let others = b
                .subjects()
                .iter()
                .any(|(kind, name, _)| (*kind, *name) != ("Group", "system:masters"));
            out.insert(
                key(&c.name, b.namespace, b.kind, name(b.obj)),
                alarm_if(admin && others),
            );
        }
    }
    out
}

fn nsa_exec_into_container(w: &World) -> Findings {
    let mut out = Findings::new();
    for c in &w.clusters {
        let bindings = bindings(c);
        for role in roles(c) {
            let exec = rules(role.obj).iter().any(|r| {
                any_in(&r.verbs, &["create", "get", "*"])
                    && any_in(&r.resources, &["pods/exec", "pods/*", "*"])
                    && any_in(&r.groups, &["", "*"])
            });
            let bound = bindings.iter().any(|b| {
                b.role_ref() == (role.kind, name(role.obj))
                    && (role.kind == "ClusterRole" || b.namespace == role.namespace)
            });
            out.insert(
                key(&c.name, role.namespace, role.kind, name(role.obj)),
                alarm_if(exec && bound),
            );
        }
    }
    out
}

const INSECURE_CAPABILITIES: &[&str] = &[
    "ALL",
    "BPF",
    "MAC_ADMIN",
    "MAC_OVERRIDE",
    "NET_ADMIN",
    "NET_RAW",
    "PERFMON",
    "SETPCAP",
    "SYS_ADMIN",
    "SYS_BOOT",
    "SYS_MODULE",
    "SYS_PTRACE",
    "SYS_RAWIO",
];

fn nsa_insecure_capabilities(w: &World) -> Findings {
    per_workload(w, false, |_, wl| {
        wl.any_container(|ct| {
            added(ct).iter().any(|c| {
                let upper = c.to_ascii_uppercase();
                let bare = upper.strip_prefix("CAP_").unwrap_or(&upper);
                INSECURE_CAPABILITIES.contains(&bare)
            })
        })
    })
}

fn nsa_linux_hardening(w: &World) -> Findings {
    per_workload(w, false, |_, wl| {
        wl.containers.iter().any(|(_, ct)| {
            let lsm = |v: Option<&str>| matches!(v, Some("RuntimeDefault" | "Localhost"));
            let hardened = lsm(wl.seccomp(ct))
                || lsm(wl
                    .effective(ct, "/appArmorProfile/type")
                    .and_then(Value::as_str))
                || !dropped(ct).is_empty();
            !hardened
        })
    })
}

/// (selects every pod, denies all ingress, denies all egress) of a
/// NetworkPolicy; policyTypes defaulted as the API server does.
fn policy_shape(p: &Value) -> (bool, bool, bool) {
    let selector = at(p, "/spec/podSelector");
    let selects_all = selector.is_none_or(|s| {
        at(s, "/matchLabels")
            .and_then(Value::as_object)
            .is_none_or(|m| m.is_empty())
            && arr(s, "/matchExpressions").is_empty()
    });
    let ingress = arr(p, "/spec/ingress");
    let egress = arr(p, "/spec/egress");
    let declared = strs(p, "/spec/policyTypes");
    let types: Vec<&str> = if declared.is_empty() {
        let mut t = vec!["Ingress"];
        if at(p, "/spec/egress").is_some() {
            t.push("Egress");
        }
        t
    } else {
        declared
    };
    (
        selects_all,
        types.contains(&"Ingress") && ingress.is_empty(),
        types.contains(&"Egress") && egress.is_empty(),
    )
}

fn nsa_namespace_default_deny_egress(w: &World) -> Findings {
    per_namespace(w, true, |c, ns| {
        !c.in_ns("networkpolicies", ns).any(|p| {
            let (all, _, egress) = policy_shape(p);
            all && egress
        })
    })
}

fn nsa_namespace_default_deny_ingress(w: &World) -> Findings {
    per_namespace(w, true, |c, ns| {
        !c.in_ns("networkpolicies", ns).any(|p| {
            let (all, ingress, _) = policy_shape(p);
            all && ingress
        })
    })
}

fn nsa_namespace_limit_range(w: &World) -> Findings {
    per_namespace(w, true, |c, ns| c.in_ns("limitranges", ns).next().is_none())
}

fn nsa_namespace_resource_quota(w: &World) -> Findings {
    per_namespace(w, true, |c, ns| {
        !c.in_ns("resourcequotas", ns).any(|q| {
            [
                "requests.cpu",
                "cpu",
                "requests.memory",
                "memory",
                "limits.cpu",
                "limits.memory",
            ]
            .iter()
            .any(|k| {
                at(q, "/spec/hard")
                    .and_then(|h| h.get(*k))
                    .is_some_and(|v| !v.is_null())
            })
        })
    })
}

fn nsa_non_root_containers(w: &World) -> Findings {
    per_workload(w, false, |_, wl| {
        wl.containers.iter().any(|(_, ct)| {
            let user = wl.effective(ct, "/runAsUser").and_then(Value::as_i64);
            let non_root = wl.effective(ct, "/runAsNonRoot").and_then(Value::as_bool);
            let ok = match user {
                Some(u) => u > 0,
                None => non_root == Some(true),
            };
            !ok
        })
    })
}

fn nsa_read_only_root_filesystem(w: &World) -> Findings {
    per_workload(w, false, |_, wl| {
        wl.any_container(|ct| bool_at(ct, "/securityContext/readOnlyRootFilesystem") != Some(true))
    })
}

fn nsa_secrets_in_env(w: &World) -> Findings {
    per_workload(w, false, |_, wl| wl.any_container(secret_in_env))
}

fn nsa_service_account_token_automount(w: &World) -> Findings {
    per_workload(w, false, token_mounted)
}

// ---------------------------------------------------------------------------
// The same oracles on manifests (kq report --manifests)
// ---------------------------------------------------------------------------

/// Kinds only controllers (or the kubelet) create: a chart never holds them.
const CONTROLLER_MADE: &[&str] = &["pods", "replicasets", "endpoints", "events", "nodes"];

/// Metadata only an API server sets.
const SERVER_METADATA: &[&str] = &[
    "uid",
    "resourceVersion",
    "creationTimestamp",
    "generation",
    "managedFields",
    "selfLink",
    "deletionTimestamp",
];

/// The manifest set's name, which kq reports as the findings' cluster.
const CHART: &str = "chart";

/// The directory of a chart's cluster-scoped objects (no namespace can be
/// named so: it is checked).
const CLUSTER_SCOPED_DIR: &str = "cluster-scoped";

/// The namespace whose objects the chart holds as one JSON `List`.
const LIST_NAMESPACE: &str = "default";

/// One cluster's objects as a project's chart holds them, written as files.
struct Chart {
    /// Holds `chart/`, the directory given to `--manifests`.
    dir: tempfile::TempDir,
    /// What kq should see once it has read the files: the objects as
    /// written, with metadata.namespace completed as `kubectl apply` would
    /// (`default` where the file names none, none on cluster-scoped
    /// objects). Every RESOURCES entry is present.
    objects: BTreeMap<&'static str, Vec<Value>>,
}

impl Chart {
    fn path(&self) -> PathBuf {
        self.dir.path().join("chart")
    }
}

/// An object as its author wrote it: no status, no metadata only a server
/// sets.
fn authored(mut object: Value) -> Value {
    assert!(
        str_at(&object, "/apiVersion").is_some() && str_at(&object, "/kind").is_some(),
        "the sim's object has no apiVersion or kind: {object}"
    );
    let fields = object.as_object_mut().expect("an object is a mapping");
    fields.remove("status");
    let metadata = fields
        .get_mut("metadata")
        .and_then(Value::as_object_mut)
        .expect("metadata");
    for field in SERVER_METADATA {
        metadata.remove(*field);
    }
    object
}

/// Writes `cluster`'s objects of the RESOURCES kinds as a chart would hold
/// them: no object a controller creates (pods, ReplicaSets, nodes, anything
/// with ownerReferences), no field only a server sets; Namespaces kept.
///
/// The layout is `chart/NAMESPACE/PLURAL.yaml` and
/// `chart/cluster-scoped/PLURAL.yaml`, each a `---`-separated stream as
/// `helm template` prints it. Every other object of namespace `default` is
/// written without metadata.namespace and every other cluster-scoped object
/// with `namespace: default`, so kq must complete both as `kubectl apply`
/// would. Namespace `default`'s objects, of every kind, are written as
/// one JSON `List` instead (`chart/default/objects.json`, as `kubectl get
/// -o json` prints them).
fn write_chart(cluster: &kq_sim::ClusterHandle) -> Chart {
    let mut objects: BTreeMap<&'static str, Vec<Value>> = BTreeMap::new();
    for plural in RESOURCES {
        let kept: Vec<Value> = if CONTROLLER_MADE.contains(plural) {
            Vec::new()
        } else {
            cluster
                .objects(plural)
                .into_iter()
                .filter(|o| arr(o, "/metadata/ownerReferences").is_empty())
                .map(authored)
                .collect()
        };
        objects.insert(*plural, kept);
    }
    assert!(
        objects["namespaces"]
            .iter()
            .all(|n| name(n) != CLUSTER_SCOPED_DIR),
        "a namespace is named {CLUSTER_SCOPED_DIR}"
    );

    // (directory, plural) → the documents of its file, as written.
    let mut files: BTreeMap<(String, &str), Vec<Value>> = BTreeMap::new();
    let (mut defaulted, mut dropped) = (0usize, 0usize);
    for (plural, list) in &objects {
        for object in list {
            let mut written = object.clone();
            let metadata = written["metadata"]
                .as_object_mut()
                .expect("metadata is a mapping");
            let dir = match namespace(object) {
                Some(ns) => {
                    if ns == "default" {
                        if defaulted.is_multiple_of(2) {
                            metadata.remove("namespace");
                        }
                        defaulted += 1;
                    }
                    ns.to_string()
                }
                None => {
                    if dropped.is_multiple_of(2) {
                        metadata.insert("namespace".into(), Value::from("default"));
                    }
                    dropped += 1;
                    CLUSTER_SCOPED_DIR.to_string()
                }
            };
            files.entry((dir, *plural)).or_default().push(written);
        }
    }
    assert!(
        defaulted >= 2 && dropped >= 2,
        "too few objects to exercise namespace completion: {defaulted} in default, \
         {dropped} cluster-scoped"
    );
    let dir = tempfile::tempdir().expect("temp dir");
    let root = dir.path().join("chart");
    // Namespace default's objects, of every kind, as one List.
    let mut list_items: Vec<&Value> = Vec::new();
    for ((sub, plural), docs) in &files {
        if sub == LIST_NAMESPACE {
            list_items.extend(docs);
            continue;
        }
        let sub_dir = root.join(sub);
        std::fs::create_dir_all(&sub_dir).expect("create the chart's directory");
        let text: Vec<String> = docs
            .iter()
            .map(|d| {
                let yaml = serde_yaml::to_string(d).expect("YAML");
                format!("# Source: {CHART}/templates/{sub}/{plural}.yaml\n{yaml}")
            })
            .collect();
        std::fs::write(
            sub_dir.join(format!("{plural}.yaml")),
            format!("---\n{}", text.join("---\n")),
        )
        .expect("write a chart file");
    }
    assert!(
        list_items.len() >= 2,
        "the List of namespace {LIST_NAMESPACE} would hold {} item(s)",
        list_items.len()
    );
    let list = serde_json::json!({"apiVersion": "v1", "kind": "List", "items": list_items});
    std::fs::create_dir_all(root.join(LIST_NAMESPACE)).expect("create the chart's directory");
    std::fs::write(
        root.join(LIST_NAMESPACE).join("objects.json"),
        serde_json::to_string_pretty(&list).expect("JSON"),
    )
    .expect("write a chart file");
    eprintln!(
        "chart of {}: {} objects ({} of namespace {LIST_NAMESPACE}, in a List; {} cluster-scoped)",
        cluster.name(),
        objects.values().map(Vec::len).sum::<usize>(),
        defaulted,
        dropped,
    );
    Chart { dir, objects }
}

/// Runs `kq report --manifests chart=DIR --pack PACK --format json` (no
/// kubeconfig: no live cluster) on `cluster`'s objects written as a chart
/// and compares every control with its oracle; returns the mismatches.
///
/// The oracles need no change for manifests: they read the objects as the
/// chart declares them, and a chart has no pods, so every finding is a
/// workload's template (or a namespace's, an Ingress's, ...), as on a
/// cluster. Fleet checks (the `-- live:` controls, which kq skips on
/// manifests) are in neither the baseline nor the nsa pack.
async fn compare_manifests_run(
    cluster: &kq_sim::ClusterHandle,
    phase: &str,
    pack: &str,
    extra: &[&str],
    params: &[(&str, &str)],
    oracles: &[(&str, Oracle)],
) -> Vec<String> {
    let chart = write_chart(cluster);
    let started = Instant::now();
    let mut args: Vec<String> = vec![
        "report".into(),
        "--manifests".into(),
        format!("{CHART}={}", chart.path().display()),
        "--pack".into(),
        pack.into(),
        "--format".into(),
        "json".into(),
    ];
    args.extend(extra.iter().map(|a| a.to_string()));
    let output = kq_tests::run_kq_raw(args).await;
    let now = Utc::now();
    let world = World {
        clusters: vec![Cluster {
            name: CHART.to_string(),
            objects: chart.objects,
        }],
        now,
    };
    compare_output(&output, started, &world, phase, pack, params, oracles)
}

/// Checks every control of PACK against `oracles` on manifests: staging's
/// seeded objects as a chart, then dev's with the edge cases added (the
/// edge cases a chart can hold: everything but their pods and orphaned
/// ReplicaSet); panics with every mismatch of both runs at once.
async fn check_pack_on_manifests(
    pack: &str,
    extra: &[&str],
    params: &[(&str, &str)],
    oracles: &[(&str, Oracle)],
) {
    let fleet = TestFleet::start(fleet_config()).await;
    let mut problems = compare_manifests_run(
        fleet.cluster("staging"),
        "staging as manifests",
        pack,
        extra,
        params,
        oracles,
    )
    .await;
    add_edge_cases(&fleet);
    problems.extend(
        compare_manifests_run(
            fleet.cluster("dev"),
            "dev with edge cases as manifests",
            pack,
            extra,
            params,
            oracles,
        )
        .await,
    );
    assert!(
        problems.is_empty(),
        "pack {pack} on manifests: {} problem(s)\n{}",
        problems.len(),
        problems.join("\n")
    );
}

// ---------------------------------------------------------------------------
// The tests: one kq report run per pack
// ---------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cis_findings_match_the_oracle() {
    check_pack(
        "cis",
        &[],
        &[
            ("admin_cluster_roles", "cluster-admin"),
            (
                "cis_exempt_namespaces",
                "kube-system,kube-public,kube-node-lease",
            ),
            ("cis_exempt_role_prefixes", "system:"),
            ("cis_exempt_subject_prefixes", "system:"),
        ],
        CIS,
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn practices_findings_match_the_oracle() {
    check_pack(
        "practices",
        &[],
        &[
            (
                "practices_exempt_namespaces",
                "kube-system,kube-public,kube-node-lease",
            ),
            ("min_replicas", "2"),
            ("owner_annotation", "owner"),
            ("team_annotation", "team"),
            ("ttl_annotations", "janitor/ttl"),
            (
                "expiry_annotations",
                "janitor/expires,kq.example.com/expires",
            ),
            ("cert_managers", "cert-manager"),
        ],
        PRACTICES,
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn baseline_findings_match_the_oracle() {
    let trusted = TRUSTED.join(",");
    let param = format!("trusted_registries={trusted}");
    check_pack(
        "baseline",
        &["--param", &param],
        &[("trusted_registries", &trusted)],
        BASELINE,
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nsa_findings_match_the_oracle() {
    check_pack(
        "nsa",
        &[],
        &[
            (
                "exempt_namespaces",
                "kube-system,kube-public,kube-node-lease",
            ),
            ("insecure_capabilities", &INSECURE_CAPABILITIES.join(",")),
        ],
        NSA,
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn baseline_findings_on_manifests_match_the_oracle() {
    let trusted = TRUSTED.join(",");
    let param = format!("trusted_registries={trusted}");
    check_pack_on_manifests(
        "baseline",
        &["--param", &param],
        &[("trusted_registries", &trusted)],
        BASELINE,
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nsa_findings_on_manifests_match_the_oracle() {
    check_pack_on_manifests(
        "nsa",
        &[],
        &[
            (
                "exempt_namespaces",
                "kube-system,kube-public,kube-node-lease",
            ),
            ("insecure_capabilities", &INSECURE_CAPABILITIES.join(",")),
        ],
        NSA,
    )
    .await;
}

#[test]
fn oracle_helpers_follow_their_specs() {
    assert_eq!(
        version_key("v1.30.4-eks-a737599"),
        Some([1, 30, 4, 737_599])
    );
    assert_eq!(version_key("v1.16-1"), Some([1, 16, 0, 1]));
    assert_eq!(version_key("2.2.2"), Some([2, 2, 2, 0]));
    assert_eq!(version_key("latest"), None);
    assert_eq!(version_key("12x3.4"), Some([3, 4, 0, 0]));
    let i = parse_image("nginx").expect("parses");
    assert_eq!(i.image_ref, "docker.io/library/nginx:latest");
    assert_eq!(i.tag.as_deref(), Some("latest"));
    let i = parse_image(
        "quay.io/a/b@sha256:d6c26aca02fa6addbedc8abbd51f9a49c86afa6d15088dbefd330df9d17727ce",
    )
    .expect("parses");
    assert_eq!(i.tag, None);
    assert!(i.image_ref.starts_with("quay.io/a/b@sha256:"));
    assert_eq!(
        parse_image("localhost:5000/x:1").expect("parses").image_ref,
        "localhost:5000/x:1"
    );
    assert!(parse_image("UPPER/case").is_none());
    assert!(host_matches("*.apps.example.com", "shop.apps.example.com"));
    assert!(host_matches("Shop.Apps.example.com.", "*.apps.example.com"));
    assert!(!host_matches("*.example.com", "a.b.example.com"));
    assert!(!host_matches("*.a.example.com", "*.example.com"));
    assert!(host_matches("", "x.example.com"));
    assert_eq!(parse_ttl(" 7 d "), Some(TimeDelta::days(7)));
    assert_eq!(parse_ttl("1234567890s"), None);
    assert_eq!(api_version_priority(Some("v1")), (2, 1, 0));
    assert!(api_version_priority(Some("v1beta1")) > api_version_priority(Some("v1alpha1")));
    assert!(api_version_priority(Some("v1alpha1")) > api_version_priority(Some("x1")));
}
