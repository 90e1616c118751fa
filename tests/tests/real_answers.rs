//! Answers parity: the upstream kube-apiserver and the simulator, holding
//! the same objects, give the same kq answers (DESIGN.md, "Two test
//! peers"). Where they disagree the real server is right.
//!
//! One sim cluster is exported with `export_fixtures()` and loaded into a
//! real kube-apiserver (`target/kq-apiserver`). Then, in order:
//!
//! 1. The same manifests are created, then changed, through each server's
//!    API (kubectl create, label, patch, ...): what each server stores must
//!    match, so objects written through the sim are defaulted the way the
//!    real server defaults them.
//! 2. Every typed and child table, all columns but the ones each server
//!    generates itself, must hold the same rows on both (the fixtures and
//!    the objects created in step 1).
//! 3. Every example query of `queries/examples/` must answer the same on
//!    both, and on the real server as kubectl + jq answer it.
//!
//! The test fails (never skips) when the harness, kubectl or jq is missing.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::time::Instant;

use kq_providers::kubernetes::tables::{TableOptions, builtin_tables};
use kq_tests::apiserver::{RealServer, RealServerOptions};
use kq_tests::{
    FleetConfig, TestFleet, kubectl, kubectl_binary, ok, required_on_path, run_kq, stderr, stdout,
};
use serde_json::{Map, Value, json};

/// The sim cluster's context name, and the real server's.
const SIM_CONTEXT: &str = "cluster-0";
const REAL_CONTEXT: &str = "real-admin";

/// How comparisons name the two sides.
const SIDES: (&str, &str) = ("kq on the real server", "kq on the sim");

/// Where step 1 creates its objects (cluster-scoped ones are prefixed so).
const CREATED: &str = "kq-parity";

/// kube-apiserver flags that make the harness behave like the Kubernetes
/// release the sim imitates (`ServerVersion::DEFAULT`, 1.33): the
/// MaxUnavailableStatefulSet gate turned on by default only in 1.37, and
/// with it a default `maxUnavailable: 1` in every StatefulSet's
/// `updateStrategy.rollingUpdate`, which a 1.33 server does not write.
const APISERVER_ARGS: &[&str] = &["--feature-gates=MaxUnavailableStatefulSet=false"];

/// Columns every server fills in itself: object and owner uids (the real
/// server assigns new ones; they also leak into a Job's selector labels,
/// masked for the created objects) and the creation time.
fn server_generated(column: &str) -> bool {
    column == "uid" || column.ends_with("_uid") || column == "created"
}

/// kube-apiserver's own controllers that record Events. Its ClusterIP
/// repair controller watches Services and IPAddresses separately and, when
/// it sees a new Service before its IPAddress, records a Warning
/// `ClusterIPNotAllocated` ("is not allocated; repairing") although
/// nothing is wrong; the default-ServiceCIDR controller, when it runs
/// before the default ServiceCIDR is ready, a Warning
/// `KubernetesDefaultServiceCIDRInconsistent`. Both are races of informers
/// at start-up or when Services are created (fixtures, step 1), so whether
/// a run gets them is chance. Such Events are the real server's
/// bookkeeping, not objects the test gave it: they are left out of every
/// comparison and deleted before the example queries run.
const APISERVER_EVENT_SOURCES: &[&str] = &[
    "ipallocator-repair-controller",
    "portallocator-repair-controller",
    "kubernetes-service-cidr-controller",
];

/// Whether an Event (object or `events` row) is one of kube-apiserver's own.
fn apiserver_event(source: Option<&str>) -> bool {
    source.is_some_and(|s| APISERVER_EVENT_SOURCES.contains(&s))
}

/// Objects only the real server holds, by `(kind, namespace, name)`: the harness's own RBAC for its
/// `real-limited` context, and the ConfigMaps kube-apiserver writes in
/// kube-system for itself (its client CA bundle; the date it started
/// tracking legacy service-account tokens).
const REAL_ONLY: &[(&str, &str, &str)] = &[
    ("ClusterRole", "", "kq-reader"),
    ("RoleBinding", "team-a", "kq-limited-reader"),
    (
        "ConfigMap",
        "kube-system",
        "extension-apiserver-authentication",
    ),
    (
        "ConfigMap",
        "kube-system",
        "kube-apiserver-legacy-service-account-token-tracking",
    ),
];

#[tokio::test]
async fn kq_answers_alike_on_the_real_server_and_the_sim() {
    let jq = required_on_path(
        "jq",
        "the real-server answers test (tests/tests/real_answers.rs)",
        ".ci/setup installs it (Debian package jq)",
    );
    kubectl_binary();
    let started = Instant::now();

    let sim = TestFleet::start(FleetConfig::uniform(1, 100, 42)).await;
    let cluster = &sim.fleet.clusters()[0];
    assert_eq!(cluster.name(), SIM_CONTEXT);
    let fixtures = sim.dir.path().join("fixtures.json");
    let exported = cluster.export_fixtures();
    std::fs::write(
        &fixtures,
        serde_json::to_vec(&exported).expect("serialize the fixtures"),
    )
    .expect("write the fixtures");
    let real = RealServer::start(RealServerOptions {
        fixtures: vec![fixtures],
        apiserver_args: APISERVER_ARGS.iter().map(|a| a.to_string()).collect(),
        ..Default::default()
    })
    .await;
    for (kind, ns, name) in REAL_ONLY {
        let exported_too = exported["items"].as_array().into_iter().flatten().any(|o| {
            o["kind"] == *kind
                && o["metadata"]["name"] == *name
                && o["metadata"]["namespace"].as_str().unwrap_or("") == *ns
        });
        assert!(!exported_too, "the sim generates {kind} {ns}/{name} too");
    }
    eprintln!(
        "real_answers: sim and real server ready in {:.1?}",
        started.elapsed()
    );

    let step = Instant::now();
    created_objects_are_stored_alike(&sim.kubeconfig, &real.kubeconfig, sim.dir.path()).await;
    eprintln!(
        "real_answers: step 1 (created objects) {:.1?}",
        step.elapsed()
    );

    let step = Instant::now();
    typed_tables_agree(&sim.kubeconfig, &real.kubeconfig).await;
    eprintln!("real_answers: step 2 (typed tables) {:.1?}", step.elapsed());

    let step = Instant::now();
    let postgres = cluster
        .objects("secrets")
        .into_iter()
        .find(|s| s["metadata"]["name"] == "postgres-credentials")
        .and_then(|s| s["metadata"]["namespace"].as_str().map(str::to_string))
        .expect("the fleet has a postgres-credentials Secret");
    examples_agree(
        &sim.kubeconfig,
        &real.kubeconfig,
        &jq,
        sim.dir.path(),
        &postgres,
    )
    .await;
    eprintln!("real_answers: step 3 (examples) {:.1?}", step.elapsed());
    eprintln!("real_answers: total {:.1?}", started.elapsed());
}

// ---------------------------------------------------------------------------
// Step 1: objects created through each API
// ---------------------------------------------------------------------------

/// One manifest of each kind kq has a table for, written the way people
/// write them (no defaults, quantities in odd spellings, a stringData
/// Secret). Pods name their service account: the harness runs without the
/// ServiceAccount admission plugin, which would otherwise fill it in.
const MANIFESTS: &str = r#"
apiVersion: v1
kind: Namespace
metadata: {name: kq-parity}
---
apiVersion: v1
kind: Pod
metadata: {name: web, namespace: kq-parity, labels: {app: web}}
spec:
  serviceAccountName: default
  containers:
  - name: web
    image: nginx
    ports: [{containerPort: 80, name: http}]
    resources: {requests: {cpu: "0.5", memory: "1.5Gi"}, limits: {cpu: "1e3", memory: "2.5e9"}}
    env:
    - {name: POD, valueFrom: {fieldRef: {fieldPath: metadata.name}}}
    - {name: CPU, valueFrom: {resourceFieldRef: {resource: limits.cpu}}}
    readinessProbe: {httpGet: {port: 80}}
    livenessProbe: {tcpSocket: {port: http}}
  - name: sidecar
    image: busybox:1.36
    resources: {limits: {cpu: 100m, memory: 64Mi}}
  initContainers:
  - name: init
    image: busybox@sha256:0000000000000000000000000000000000000000000000000000000000000000
  volumes:
  - {name: config, configMap: {name: settings}}
  - {name: secret, secret: {secretName: creds}}
  - {name: scratch, emptyDir: {sizeLimit: "0.5Gi"}}
  - {name: host, hostPath: {path: /var/log}}
  - {name: projected, projected: {sources: [{configMap: {name: settings}}, {serviceAccountToken: {path: token}}]}}
  - {name: downward, downwardAPI: {items: [{path: name, fieldRef: {fieldPath: metadata.name}}]}}
  - {name: claim, persistentVolumeClaim: {claimName: data}}
---
apiVersion: v1
kind: Pod
metadata: {name: node-agent, namespace: kq-parity}
spec:
  serviceAccountName: default
  hostNetwork: true
  containers:
  - name: agent
    image: registry.example.com/agent:1.2
    ports: [{containerPort: 9100, name: metrics}, {containerPort: 53, protocol: UDP}]
    resources: {limits: {cpu: "1", memory: 1Gi}}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: api, namespace: kq-parity}
spec:
  selector: {matchLabels: {app: api}}
  template:
    metadata: {labels: {app: api}}
    spec:
      hostNetwork: true
      containers: [{name: api, image: "ghcr.io/acme/api:latest", ports: [{containerPort: 8080}], resources: {limits: {cpu: "0.25"}}}]
---
apiVersion: apps/v1
kind: StatefulSet
metadata: {name: db, namespace: kq-parity}
spec:
  serviceName: db
  selector: {matchLabels: {app: db}}
  template:
    metadata: {labels: {app: db}}
    spec: {containers: [{name: db, image: "mysql:8.4"}]}
  volumeClaimTemplates:
  - metadata: {name: data}
    spec: {accessModes: [ReadWriteOnce], resources: {requests: {storage: "1.5Gi"}}}
---
apiVersion: apps/v1
kind: DaemonSet
metadata: {name: logs, namespace: kq-parity}
spec:
  selector: {matchLabels: {app: logs}}
  template:
    metadata: {labels: {app: logs}}
    spec: {containers: [{name: logs, image: fluent/fluent-bit}]}
---
apiVersion: apps/v1
kind: ReplicaSet
metadata: {name: cache, namespace: kq-parity}
spec:
  selector: {matchLabels: {app: cache}}
  template:
    metadata: {labels: {app: cache}}
    spec: {containers: [{name: cache, image: "redis:7"}]}
---
apiVersion: batch/v1
kind: Job
metadata: {name: migrate, namespace: kq-parity}
spec:
  template:
    spec: {restartPolicy: Never, containers: [{name: migrate, image: busybox}]}
---
apiVersion: batch/v1
kind: CronJob
metadata: {name: report, namespace: kq-parity}
spec:
  schedule: "0 * * * *"
  jobTemplate:
    spec:
      template:
        metadata: {labels: {app: report}}
        spec: {restartPolicy: OnFailure, containers: [{name: report, image: busybox}]}
---
apiVersion: v1
kind: Service
metadata: {name: web, namespace: kq-parity}
spec:
  selector: {app: web}
  ports: [{port: 80}]
---
apiVersion: v1
kind: Service
metadata: {name: web-nodeport, namespace: kq-parity}
spec:
  type: NodePort
  selector: {app: web}
  ports: [{port: 80, targetPort: http}]
---
apiVersion: v1
kind: Service
metadata: {name: web-lb, namespace: kq-parity}
spec:
  type: LoadBalancer
  selector: {app: web}
  ports: [{port: 80, name: http}, {port: 443, name: https, protocol: TCP}]
---
apiVersion: v1
kind: Service
metadata: {name: web-sticky, namespace: kq-parity}
spec:
  selector: {app: web}
  sessionAffinity: ClientIP
  ports: [{port: 80}]
---
apiVersion: v1
kind: Service
metadata: {name: db, namespace: kq-parity}
spec:
  clusterIP: None
  selector: {app: db}
  ports: [{port: 3306}]
---
apiVersion: v1
kind: Service
metadata: {name: external, namespace: kq-parity}
spec:
  type: ExternalName
  externalName: db.example.com
---
apiVersion: v1
kind: ConfigMap
metadata: {name: settings, namespace: kq-parity}
data: {mode: fast}
---
apiVersion: v1
kind: Secret
metadata: {name: creds, namespace: kq-parity}
stringData: {password: hunter2}
---
apiVersion: v1
kind: PersistentVolumeClaim
metadata: {name: data, namespace: kq-parity}
spec:
  accessModes: [ReadWriteOnce]
  resources: {requests: {storage: "1.5Gi"}}
---
apiVersion: v1
kind: PersistentVolume
metadata: {name: kq-parity-volume}
spec:
  capacity: {storage: 10Gi}
  accessModes: [ReadWriteOnce]
  hostPath: {path: /srv/volume}
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {name: web, namespace: kq-parity}
spec:
  rules:
  - host: web.example.com
    http:
      paths:
      - {path: /, pathType: Prefix, backend: {service: {name: web, port: {number: 80}}}}
---
apiVersion: networking.k8s.io/v1
kind: IngressClass
metadata: {name: kq-parity-class}
spec: {controller: example.com/ingress}
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: allow-http, namespace: kq-parity}
spec:
  podSelector: {}
  ingress: [{ports: [{port: 80}]}]
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: allow-egress, namespace: kq-parity}
spec:
  podSelector: {}
  egress: [{}]
---
apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata: {name: api, namespace: kq-parity}
spec:
  scaleTargetRef: {apiVersion: apps/v1, kind: Deployment, name: api}
  maxReplicas: 5
---
apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata: {name: api-memory, namespace: kq-parity}
spec:
  scaleTargetRef: {apiVersion: apps/v1, kind: Deployment, name: api}
  maxReplicas: 5
  metrics: [{type: Resource, resource: {name: memory, target: {type: AverageValue, averageValue: "1.5Gi"}}}]
  behavior: {scaleDown: {stabilizationWindowSeconds: 60}}
---
apiVersion: policy/v1
kind: PodDisruptionBudget
metadata: {name: web, namespace: kq-parity}
spec:
  minAvailable: 1
  selector: {matchLabels: {app: web}}
---
apiVersion: storage.k8s.io/v1
kind: StorageClass
metadata: {name: kq-parity-class}
provisioner: ebs.csi.aws.com
---
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: {name: reader, namespace: kq-parity}
rules: [{apiGroups: [""], resources: [pods, secrets], verbs: [get, list]}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: reader, namespace: kq-parity}
roleRef: {kind: Role, name: reader}
subjects: [{kind: User, name: alice}, {kind: Group, name: devs}, {kind: ServiceAccount, name: default, namespace: kq-parity}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: kq-parity-role}
rules: [{apiGroups: ["*"], resources: ["*"], verbs: [get]}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: kq-parity-binding}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: kq-parity-role}
subjects: [{kind: ServiceAccount, name: default, namespace: kq-parity}]
---
apiVersion: v1
kind: ServiceAccount
metadata: {name: robot, namespace: kq-parity}
---
apiVersion: v1
kind: LimitRange
metadata: {name: defaults, namespace: kq-parity}
spec:
  limits:
  - {type: Container, default: {cpu: "0.5"}, defaultRequest: {memory: "1.5Gi"}, max: {memory: 4Gi}}
---
apiVersion: v1
kind: ResourceQuota
metadata: {name: quota, namespace: kq-parity}
spec:
  hard: {requests.cpu: "1.5", requests.memory: 8Gi, pods: "10"}
---
apiVersion: v1
kind: Endpoints
metadata: {name: manual, namespace: kq-parity}
subsets: [{addresses: [{ip: 10.0.0.1}], ports: [{port: 80}]}]
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: manual, namespace: kq-parity, labels: {kubernetes.io/service-name: manual}}
addressType: IPv4
endpoints: [{addresses: [10.0.0.1]}]
ports: [{port: 80}]
---
apiVersion: v1
kind: Event
metadata: {name: web.parity, namespace: kq-parity}
involvedObject: {kind: Pod, name: web, namespace: kq-parity}
reason: Parity
message: created by the answers parity test
type: Warning
count: 2
"#;

/// Changes made to the created objects the ways people make them (label,
/// annotate, set image, JSON and merge patches): the real server defaults
/// what it decodes on update too, bumps `metadata.generation` when a spec
/// (or a Deployment's annotations) changes, and drops what a Service's
/// new type has no use for.
const UPDATES: &[&[&str]] = &[
    &["label", "pod", "web", "tier=front"],
    &["annotate", "deployment", "api", "note=reviewed"],
    &["set", "image", "deployment/api", "api=ghcr.io/acme/api:v2"],
    &[
        "patch",
        "daemonset",
        "logs",
        "--type=json",
        "-p",
        r#"[{"op": "replace", "path": "/spec/template/spec/containers/0/image", "value": "fluent/fluent-bit:3"}]"#,
    ],
    &[
        "patch",
        "service",
        "web-nodeport",
        "--type=merge",
        "-p",
        r#"{"spec": {"type": "ClusterIP"}}"#,
    ],
    &[
        "patch",
        "service",
        "web-lb",
        "--type=merge",
        "-p",
        r#"{"spec": {"type": "NodePort"}}"#,
    ],
    &[
        "patch",
        "cronjob",
        "report",
        "--type=merge",
        "-p",
        r#"{"spec": {"suspend": true}}"#,
    ],
    &[
        "patch",
        "pod",
        "web",
        "--type=merge",
        "-p",
        r#"{"spec": {"activeDeadlineSeconds": 60}}"#,
    ],
    &[
        "patch",
        "statefulset",
        "db",
        "--type=merge",
        "-p",
        r#"{"spec": {"replicas": 2}}"#,
    ],
    &[
        "patch",
        "configmap",
        "settings",
        "--type=merge",
        "-p",
        r#"{"data": {"mode": "slow"}}"#,
    ],
];

/// The kinds [`MANIFESTS`] holds, as kubectl names them.
const CREATED_KINDS: &str = "pods,deployments,statefulsets,daemonsets,replicasets,jobs,cronjobs,\
services,configmaps,secrets,persistentvolumeclaims,ingresses,networkpolicies,\
horizontalpodautoscalers,poddisruptionbudgets,roles,rolebindings,serviceaccounts,limitranges,\
resourcequotas,endpoints,endpointslices,events";
const CREATED_CLUSTER_SCOPED: &[&str] = &[
    "namespace/kq-parity",
    "persistentvolume/kq-parity-volume",
    "ingressclass/kq-parity-class",
    "storageclass/kq-parity-class",
    "clusterrole/kq-parity-role",
    "clusterrolebinding/kq-parity-binding",
];

/// Runs kubectl and returns its stdout; fails the test otherwise.
async fn kubectl_out(kubeconfig: &Path, args: &[&str]) -> String {
    let out = kubectl(kubeconfig, args).await;
    assert!(
        out.status.success(),
        "kubectl {args:?} against {} failed:\n{}{}",
        kubeconfig.display(),
        stdout(&out),
        stderr(&out)
    );
    stdout(&out)
}

/// What a server stores for the created objects, keyed by kind and name,
/// with what each server assigns itself masked: uid (also where a Job's
/// selector repeats it), resourceVersion, creationTimestamp,
/// managedFields, ClusterIPs and NodePorts (random on the real server)
/// and a PersistentVolume's phase transition time.
async fn created_objects(kubeconfig: &Path) -> BTreeMap<String, Value> {
    let namespaced: Value = serde_json::from_str(
        &kubectl_out(
            kubeconfig,
            &["get", CREATED_KINDS, "-n", CREATED, "-o", "json"],
        )
        .await,
    )
    .expect("kubectl JSON");
    let mut args = vec!["get"];
    args.extend_from_slice(CREATED_CLUSTER_SCOPED);
    args.extend_from_slice(&["-o", "json"]);
    let cluster_scoped: Value =
        serde_json::from_str(&kubectl_out(kubeconfig, &args).await).expect("kubectl JSON");
    let mut out = BTreeMap::new();
    for mut obj in namespaced["items"]
        .as_array()
        .into_iter()
        .chain(cluster_scoped["items"].as_array())
        .flatten()
        .cloned()
    {
        let uid = obj["metadata"]["uid"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        if let Some(m) = obj["metadata"].as_object_mut() {
            for k in [
                "uid",
                "resourceVersion",
                "creationTimestamp",
                "managedFields",
            ] {
                m.remove(k);
            }
        }
        if !uid.is_empty() {
            replace_string(&mut obj, &uid, "<uid>");
        }
        mask_allocated(&mut obj);
        if obj["kind"] == "Event"
            && apiserver_event(
                obj["reportingComponent"]
                    .as_str()
                    .filter(|s| !s.is_empty())
                    .or(obj["source"]["component"].as_str()),
            )
        {
            continue;
        }
        let key = format!(
            "{} {}/{}",
            obj["kind"].as_str().unwrap_or("?"),
            obj["metadata"]["namespace"].as_str().unwrap_or(""),
            obj["metadata"]["name"].as_str().unwrap_or("?")
        );
        out.insert(key, obj);
    }
    out
}

/// Replaces every string equal to `from`, and every occurrence inside a
/// longer string, with `to`.
fn replace_string(v: &mut Value, from: &str, to: &str) {
    match v {
        Value::String(s) if s.contains(from) => *s = s.replace(from, to),
        Value::Array(a) => a.iter_mut().for_each(|x| replace_string(x, from, to)),
        Value::Object(o) => o.values_mut().for_each(|x| replace_string(x, from, to)),
        _ => {}
    }
}

/// Masks what the server allocates or timestamps itself in a created
/// object (whole objects, or a table's `spec`/`status` columns).
fn mask_allocated(obj: &mut Value) {
    let mask = |v: &mut Value| {
        if !v.is_null() {
            *v = json!("<allocated>");
        }
    };
    if obj["kind"] == "Service" || obj.get("clusterIP").is_some() {
        let spec = if obj["kind"] == "Service" {
            obj.get_mut("spec")
        } else {
            Some(&mut *obj)
        };
        if let Some(spec) = spec.and_then(Value::as_object_mut) {
            if spec.get("clusterIP").and_then(Value::as_str) != Some("None") {
                for k in ["clusterIP", "clusterIPs"] {
                    if let Some(v) = spec.get_mut(k) {
                        mask(v);
                    }
                }
            }
            for p in spec
                .get_mut("ports")
                .and_then(Value::as_array_mut)
                .into_iter()
                .flatten()
            {
                if let Some(v) = p.get_mut("nodePort") {
                    mask(v);
                }
            }
        }
    }
    if let Some(v) = obj.pointer_mut("/status/lastPhaseTransitionTime") {
        mask(v);
    }
    if let Some(v) = obj.get_mut("lastPhaseTransitionTime") {
        mask(v);
    }
}

async fn created_objects_are_stored_alike(sim: &Path, real: &Path, dir: &Path) {
    let manifests = dir.join("manifests.yaml");
    std::fs::write(&manifests, MANIFESTS).expect("write the manifests");
    let manifests = manifests.display().to_string();
    for kubeconfig in [real, sim] {
        kubectl_out(kubeconfig, &["create", "-f", &manifests]).await;
        for update in UPDATES {
            let mut args = vec!["-n", CREATED];
            args.extend_from_slice(update);
            kubectl_out(kubeconfig, &args).await;
        }
    }
    let (real_objects, sim_objects) = tokio::join!(created_objects(real), created_objects(sim));
    let expected = MANIFESTS.matches("\nkind: ").count();
    assert_eq!(
        real_objects.len(),
        expected,
        "the real server holds {:?}",
        real_objects.keys()
    );
    let mut failures = Vec::new();
    for (key, real_obj) in &real_objects {
        match sim_objects.get(key) {
            None => failures.push(format!("{key}: the sim does not hold it")),
            Some(sim_obj) if sim_obj != real_obj => {
                let mut diffs = Vec::new();
                json_diff(real_obj, sim_obj, String::new(), &mut diffs);
                failures.push(format!("{key}:\n    {}", diffs.join("\n    ")));
            }
            Some(_) => {}
        }
    }
    for key in sim_objects.keys() {
        if !real_objects.contains_key(key) {
            failures.push(format!("{key}: only the sim holds it"));
        }
    }
    assert!(
        failures.is_empty(),
        "objects created through the sim's API are stored unlike the real server stores them \
         (real vs sim):\n{}",
        failures.join("\n")
    );
}

/// Paths where two JSON values differ, with both sides.
fn json_diff(real: &Value, sim: &Value, path: String, out: &mut Vec<String>) {
    match (real, sim) {
        (Value::Object(a), Value::Object(b)) => {
            let keys: BTreeSet<&String> = a.keys().chain(b.keys()).collect();
            for k in keys {
                let p = format!("{path}/{k}");
                match (a.get(k), b.get(k)) {
                    (Some(x), Some(y)) => json_diff(x, y, p, out),
                    (x, y) => {
                        let show = |v: Option<&Value>| v.map_or("absent".into(), Value::to_string);
                        out.push(format!("{p}: real {} sim {}", show(x), show(y)));
                    }
                }
            }
        }
        (Value::Array(a), Value::Array(b)) if a.len() == b.len() => {
            for (i, (x, y)) in a.iter().zip(b).enumerate() {
                json_diff(x, y, format!("{path}/{i}"), out);
            }
        }
        (a, b) if a != b => out.push(format!("{path}: real {a} sim {b}")),
        _ => {}
    }
}

// ---------------------------------------------------------------------------
// Step 2: typed and child tables
// ---------------------------------------------------------------------------

/// Runs one query with kq against a kubeconfig; rows as JSON objects.
async fn kq_rows(kubeconfig: &Path, args: &[&str]) -> Vec<Value> {
    let mut full = vec!["-o", "ndjson", "--strict"];
    full.extend_from_slice(args);
    let out = run_kq(kubeconfig, &full).await;
    ok(&out)
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("bad ndjson {l:?}: {e}")))
        .collect()
}

/// The identity `(kind, namespace, name)` of the object a row of `table`
/// comes from, for the tables whose rows [`REAL_ONLY`] objects produce.
fn row_object(table: &str, row: &Map<String, Value>) -> Option<(String, String, String)> {
    let s = |k: &str| row.get(k).and_then(Value::as_str).unwrap_or("").to_string();
    match table {
        "cluster_roles" => Some(("ClusterRole".into(), String::new(), s("name"))),
        "role_bindings" => Some(("RoleBinding".into(), s("namespace"), s("name"))),
        "config_maps" => Some(("ConfigMap".into(), s("namespace"), s("name"))),
        "role_rules" => Some((s("role_kind"), s("namespace"), s("role_name"))),
        "role_binding_subjects" => Some((s("binding_kind"), s("namespace"), s("binding_name"))),
        _ => None,
    }
}

/// Whether a row comes from an object step 1 created.
fn created_row(row: &Map<String, Value>) -> bool {
    [
        "namespace",
        "name",
        "role_name",
        "binding_name",
        "pod_name",
        "service_name",
        "ingress_name",
        "workload_name",
    ]
    .iter()
    .any(|k| {
        row.get(*k)
            .and_then(Value::as_str)
            .is_some_and(|v| v.starts_with(CREATED))
    })
}

/// A row as compared: the `cluster` column names no context, server
/// generated columns are gone, JSON columns are parsed (member order means
/// nothing), and the differences each server legitimately has are masked.
fn normalise_row(
    table: &str,
    mut row: Map<String, Value>,
    context: &str,
    json_columns: &BTreeSet<String>,
) -> Value {
    if row.get("cluster").and_then(Value::as_str) == Some(context) {
        row.insert("cluster".into(), json!("<cluster>"));
    }
    let created = created_row(&row);
    let uids: Vec<String> = row
        .iter()
        .filter(|(k, _)| *k == "uid" || k.ends_with("_uid"))
        .filter_map(|(_, v)| v.as_str().map(str::to_string))
        .filter(|v| !v.is_empty())
        .collect();
    row.retain(|k, _| !server_generated(k));
    for (k, v) in row.iter_mut() {
        if json_columns.contains(k)
            && let Some(text) = v.as_str()
        {
            *v = serde_json::from_str(text)
                .unwrap_or_else(|e| panic!("{table}.{k} is not JSON ({e}): {text}"));
        }
    }
    if created {
        // A Job's selector and labels repeat its uid.
        let mut value = Value::Object(row);
        for uid in &uids {
            replace_string(&mut value, uid, "<uid>");
        }
        row = match value {
            Value::Object(m) => m,
            _ => unreachable!(),
        };
        match table {
            "services" => {
                if row.get("cluster_ip").and_then(Value::as_str) != Some("None")
                    && let Some(v) = row.get_mut("cluster_ip")
                    && !v.is_null()
                {
                    *v = json!("<allocated>");
                }
                for k in ["spec", "ports"] {
                    if let Some(v) = row.get_mut(k) {
                        match v {
                            Value::Array(ports) => {
                                for p in ports {
                                    if let Some(n) = p.get_mut("nodePort") {
                                        *n = json!("<allocated>");
                                    }
                                }
                            }
                            other => mask_allocated(other),
                        }
                    }
                }
            }
            "service_ports" => {
                if let Some(v) = row.get_mut("node_port")
                    && !v.is_null()
                {
                    *v = json!("<allocated>");
                }
            }
            "persistent_volumes" => {
                if let Some(status) = row.get_mut("status") {
                    mask_allocated(status);
                }
            }
            _ => {}
        }
    } else {
        match table {
            // The harness sets a loaded Job's manualSelector (its selector
            // names the sim's uid, which the real server would refuse).
            "jobs" => {
                if let Some(spec) = row.get_mut("spec").and_then(Value::as_object_mut) {
                    spec.remove("manualSelector");
                }
            }
            // Each server establishes a CRD itself, at its own time.
            "custom_resource_definitions" => {
                for c in row
                    .get_mut("status")
                    .and_then(|s| s.get_mut("conditions"))
                    .and_then(Value::as_array_mut)
                    .into_iter()
                    .flatten()
                {
                    if let Some(c) = c.as_object_mut() {
                        c.remove("lastTransitionTime");
                    }
                }
            }
            _ => {}
        }
    }
    Value::Object(row)
}

/// JSON with object members sorted, so equal values print equal.
fn canonical(v: &Value) -> String {
    fn sorted(v: &Value) -> Value {
        match v {
            Value::Object(m) => {
                let ordered: BTreeMap<&String, Value> =
                    m.iter().map(|(k, v)| (k, sorted(v))).collect();
                json!(ordered)
            }
            Value::Array(a) => Value::Array(a.iter().map(sorted).collect()),
            other => other.clone(),
        }
    }
    sorted(v).to_string()
}

/// Sorted rows of both sides must be equal; returns a failure message
/// naming what only one side (`names`) has.
fn compare(what: &str, names: (&str, &str), real: Vec<String>, sim: Vec<String>) -> Option<String> {
    let mut real = real;
    let mut sim = sim;
    real.sort();
    sim.sort();
    if real == sim {
        return None;
    }
    let real_set: BTreeMap<&String, usize> = real.iter().fold(BTreeMap::new(), |mut m, r| {
        *m.entry(r).or_default() += 1;
        m
    });
    let sim_set: BTreeMap<&String, usize> = sim.iter().fold(BTreeMap::new(), |mut m, r| {
        *m.entry(r).or_default() += 1;
        m
    });
    let (left, right) = names;
    let only = |a: &BTreeMap<&String, usize>, b: &BTreeMap<&String, usize>| -> Vec<String> {
        a.iter()
            .filter(|(r, n)| b.get(*r) != Some(n))
            .map(|(r, n)| format!("      {n}x {r}"))
            .take(8)
            .collect()
    };
    Some(format!(
        "{what}: {} rows from {left}, {} from {right}\n    only from {left}:\n{}\n    only from {right}:\n{}",
        real.len(),
        sim.len(),
        only(&real_set, &sim_set).join("\n"),
        only(&sim_set, &real_set).join("\n"),
    ))
}

async fn typed_tables_agree(sim: &Path, real: &Path) {
    let tables = builtin_tables(TableOptions::default());
    assert!(tables.len() > 30, "only {} typed tables", tables.len());
    let mut failures = Vec::new();
    let mut compared = 0;
    for table in &tables {
        let schema = table.schema();
        let columns: Vec<&str> = schema.fields().iter().map(|f| f.name().as_str()).collect();
        let json_columns: BTreeSet<String> = schema
            .fields()
            .iter()
            .filter(|f| f.metadata().get("kq.json").is_some_and(|v| v == "true"))
            .map(|f| f.name().clone())
            .collect();
        let sql = format!(
            "SELECT {} FROM {}",
            columns
                .iter()
                .map(|c| format!("\"{c}\""))
                .collect::<Vec<_>>()
                .join(", "),
            table.name
        );
        let args = [sql.as_str()];
        let (real_rows, sim_rows) = tokio::join!(kq_rows(real, &args), kq_rows(sim, &args));
        assert!(
            !sim_rows.is_empty(),
            "{}: the sim fleet has no rows, so nothing is compared",
            table.name
        );
        let real_rows: Vec<String> = real_rows
            .into_iter()
            .filter_map(|r| match r {
                Value::Object(m) => Some(m),
                _ => None,
            })
            .filter(|m| {
                table.name != "events"
                    || !apiserver_event(m.get("source_component").and_then(Value::as_str))
            })
            .filter(|m| {
                row_object(&table.name, m).is_none_or(|(kind, ns, name)| {
                    !REAL_ONLY
                        .iter()
                        .any(|(k, n, o)| *k == kind && *n == ns && *o == name)
                })
            })
            .map(|m| canonical(&normalise_row(&table.name, m, REAL_CONTEXT, &json_columns)))
            .collect();
        let sim_rows: Vec<String> = sim_rows
            .into_iter()
            .filter_map(|r| match r {
                Value::Object(m) => Some(m),
                _ => None,
            })
            .map(|m| canonical(&normalise_row(&table.name, m, SIM_CONTEXT, &json_columns)))
            .collect();
        compared += real_rows.len();
        if let Some(f) = compare(&table.name, SIDES, real_rows, sim_rows) {
            failures.push(f);
        }
    }
    eprintln!(
        "real_answers: {} typed tables, {compared} rows compared",
        tables.len()
    );
    assert!(
        failures.is_empty(),
        "kq reads the same objects differently from the real server and the sim:\n{}",
        failures.join("\n")
    );
}

// ---------------------------------------------------------------------------
// Step 3: the example queries, and kubectl + jq on the real server
// ---------------------------------------------------------------------------

/// The kinds the oracles read, in one kubectl call.
const ORACLE_KINDS: &str = "pods,services,nodes,namespaces,resourcequotas,events,secrets,roles,\
rolebindings,clusterroles,clusterrolebindings";

/// jq helpers shared by the oracles (`$cluster`, `$ns` and `$name` are set
/// by the caller).
const JQ_PRELUDE: &str = r#"
def of($k): [.items[] | select(.kind == $k)];
def has_value($x): any(.[]?; . == $x);
def trimmed: sub("^\\s+"; "") | sub("\\s+$"; "");
"#;

/// One independent answer per example, from the example's comment and the
/// table descriptions, never from its SQL: a jq program over `kubectl get
/// ORACLE_KINDS -A -o json` printing the rows as a JSON array.
fn oracle(example: &str) -> Option<&'static str> {
    Some(match example {
        // LoadBalancer Services not annotated internal (the clouds the
        // `services.internal` column names) that select pods (a non-empty
        // selector), and the Running pods of their namespace they select.
        "internet_exposed_pods" => {
            r#"
def internal:
  (.metadata.annotations // {}) as $a
  | [ ["service.beta.kubernetes.io/aws-load-balancer-internal", []],
      ["service.beta.kubernetes.io/aws-load-balancer-scheme", ["internal"]],
      ["networking.gke.io/load-balancer-type", ["internal"]],
      ["cloud.google.com/load-balancer-type", ["internal"]],
      ["service.beta.kubernetes.io/azure-load-balancer-internal", ["true"]],
      ["service.beta.kubernetes.io/openstack-internal-load-balancer", ["true"]],
      ["service.beta.kubernetes.io/oci-load-balancer-internal", ["true"]],
      ["oci-network-load-balancer.oraclecloud.com/internal", ["true"]],
      ["service.kubernetes.io/ibm-load-balancer-cloud-provider-ip-type", ["private"]],
      ["service.beta.kubernetes.io/alibaba-cloud-loadbalancer-address-type", ["intranet"]],
      ["service.kubernetes.io/qcloud-loadbalancer-internal-subnetid", []],
      ["service.beta.kubernetes.io/cce-load-balancer-internal-vpc", ["true"]] ]
  | any(.[]; .[0] as $k | .[1] as $values
        | ($a[$k] | if type == "string" then trimmed | ascii_downcase else null end) as $v
        | $v != null and (if ($values | length) == 0 then $v != "" and $v != "false"
                          else ($values | has_value($v)) end));
of("Pod") as $pods
| [ of("Service")[]
    | select(.spec.type == "LoadBalancer" and (internal | not)
             and ((.spec.selector // {}) | length) > 0) as $s
    | $pods[]
    | select(.metadata.namespace == $s.metadata.namespace and .status.phase == "Running")
    | select((.metadata.labels // {}) as $l
             | $s.spec.selector | to_entries | all(.[]; $l[.key] == .value))
    | {cluster: $cluster, namespace: .metadata.namespace, pod: .metadata.name,
       service: $s.metadata.name,
       load_balancer: [($s.status.loadBalancer.ingress // [])[] | .hostname | select(. != null)],
       source_ranges: $s.spec.loadBalancerSourceRanges} ]
"#
        }
        // Pods bound to a node whose MemoryPressure condition is True.
        "memory_pressure_pods" => {
            r#"
of("Pod") as $pods
| [ of("Node")[]
    | select(any(.status.conditions[]?; .type == "MemoryPressure" and .status == "True")) as $n
    | $pods[] | select(.spec.nodeName == $n.metadata.name)
    | {cluster: $cluster, node: $n.metadata.name, namespace: .metadata.namespace,
       pod: .metadata.name, qos_class: .status.qosClass} ]
"#
        }
        // Every image of every pod container (init, regular, ephemeral)
        // that mentions mysql, with how many containers run it.
        "mysql_images" => {
            r#"
[ of("Pod")[] | (.spec.initContainers // [])[], (.spec.containers // [])[],
                (.spec.ephemeralContainers // [])[]
  | .image | select(test("mysql")) ]
| group_by(.) | map({image: .[0], clusters: 1, containers: length})
"#
        }
        // Namespaces no ResourceQuota lives in.
        "namespaces_without_quota" => {
            r#"
[ of("ResourceQuota")[] | .metadata.namespace ] as $quota
| [ of("Namespace")[] | .metadata.name | select(. as $n | $quota | has_value($n) | not)
    | {cluster: $cluster, namespace: .} ]
"#
        }
        // Service accounts bound (by a ClusterRoleBinding, or a RoleBinding
        // in the secret's namespace) to a role with a rule that gets
        // secrets in the core group, unless resourceNames leave it out.
        "secret_readers" => {
            r#"
def grants($name):
  any(.rules[]?;
      ((.verbs // []) | has_value("get") or has_value("*"))
      and ((.resources // []) | has_value("secrets") or has_value("*"))
      and ((.apiGroups // []) | has_value("") or has_value("*"))
      and ((.resourceNames // []) | length == 0 or has_value($name)));
(of("ClusterRole") + of("Role")) as $roles
| if (of("Secret") | any(.[]; .metadata.namespace == $ns and .metadata.name == $name)) | not
  then []
  else [ .items[]
         | select(.kind == "ClusterRoleBinding"
                  or (.kind == "RoleBinding" and .metadata.namespace == $ns)) as $b
         | $b.subjects[]? | select(.kind == "ServiceAccount") as $s
         | $roles[]
         | select(.kind == $b.roleRef.kind and .metadata.name == $b.roleRef.name
                  and (.kind == "ClusterRole" or .metadata.namespace == $b.metadata.namespace))
         | select(grants($name))
         | {cluster: $cluster, sa_namespace: $s.namespace, service_account: $s.name,
            binding_kind: $b.kind, binding_name: $b.metadata.name,
            role_kind: .kind, role_name: .metadata.name} ]
       | unique
  end
"#
        }
        // Warning events by the kind of their object: how many events, how
        // many times they happened in all (an event without a count, or a
        // series count, happened once).
        "warning_events_by_kind" => {
            r#"
[ of("Event")[] | select(.type == "Warning") ]
| group_by(.involvedObject.kind)
| map({involved_kind: .[0].involvedObject.kind, events: length,
       occurrences: (map(.count // .series.count // 1) | add),
       clusters: 1})
"#
        }
        _ => return None,
    })
}

/// Runs jq with `program` over `input`; the rows it prints.
async fn jq_rows(
    jq: &Path,
    program: String,
    input: String,
    args: Vec<(String, String)>,
) -> Vec<Value> {
    let jq = jq.to_path_buf();
    tokio::task::spawn_blocking(move || {
        use std::io::Write;
        let mut command = std::process::Command::new(&jq);
        command.arg("-c");
        for (name, value) in &args {
            command.args(["--arg", name, value]);
        }
        let mut child = command
            .arg(format!("{JQ_PRELUDE}\n{program}\n| .[]"))
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("start jq");
        let mut stdin = child.stdin.take().expect("jq stdin");
        let writer = std::thread::spawn(move || stdin.write_all(input.as_bytes()));
        let out = child.wait_with_output().expect("run jq");
        writer.join().expect("join the jq writer").expect("feed jq");
        assert!(
            out.status.success(),
            "jq failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter(|l| !l.trim().is_empty())
            .map(|l| serde_json::from_str(l).expect("jq printed JSON"))
            .collect()
    })
    .await
    .expect("join jq")
}

/// Deletes the Events kube-apiserver recorded about its own bookkeeping
/// (see [`APISERVER_EVENT_SOURCES`]), so that the example queries see the
/// objects both servers hold. They come from Services created earlier
/// (step 1, the fixtures): recording them takes milliseconds, and nothing
/// creates Services afterwards.
async fn delete_apiserver_events(real: &Path) {
    let events: Value =
        serde_json::from_str(&kubectl_out(real, &["get", "events", "-A", "-o", "json"]).await)
            .expect("kubectl JSON");
    for e in events["items"].as_array().into_iter().flatten() {
        let source = e["reportingComponent"]
            .as_str()
            .filter(|s| !s.is_empty())
            .or(e["source"]["component"].as_str());
        if apiserver_event(source) {
            let ns = e["metadata"]["namespace"].as_str().unwrap_or("default");
            let name = e["metadata"]["name"].as_str().unwrap_or_default();
            kubectl_out(
                real,
                &["delete", "event", name, "-n", ns, "--ignore-not-found"],
            )
            .await;
        }
    }
}

/// The examples' directory.
fn examples_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../queries/examples")
}

/// Rows of an answer, with the `cluster` column naming no context.
fn answer(rows: &[Value], context: &str) -> Vec<String> {
    rows.iter()
        .map(|r| {
            let mut r = r.clone();
            if r.get("cluster").and_then(Value::as_str) == Some(context) {
                r["cluster"] = json!("<cluster>");
            }
            canonical(&r)
        })
        .collect()
}

async fn examples_agree(sim: &Path, real: &Path, jq: &Path, dir: &Path, postgres_ns: &str) {
    let mut examples: Vec<PathBuf> = std::fs::read_dir(examples_dir())
        .expect("read queries/examples")
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "sql"))
        .collect();
    examples.sort();
    assert!(examples.len() >= 6, "examples: {examples:?}");

    // secret_readers asks about billing/postgres-credentials, which this
    // fleet may not hold; its header says to edit the target, so it also
    // runs against a postgres-credentials Secret the fleet has.
    let secret_readers = examples_dir().join("secret_readers.sql");
    let text = std::fs::read_to_string(&secret_readers).expect("read secret_readers.sql");
    let target = "SELECT 'billing' AS namespace, 'postgres-credentials' AS name";
    assert!(
        text.contains(target),
        "secret_readers.sql no longer says {target:?}"
    );
    let edited = dir.join("secret_readers_edited.sql");
    std::fs::write(
        &edited,
        text.replace(
            target,
            &format!("SELECT '{postgres_ns}' AS namespace, 'postgres-credentials' AS name"),
        ),
    )
    .expect("write the edited example");

    delete_apiserver_events(real).await;
    let state = kubectl_out(real, &["get", ORACLE_KINDS, "-A", "-o", "json"]).await;
    let mut runs: Vec<(PathBuf, String, String, String)> = examples
        .iter()
        .map(|p| {
            let stem = p.file_stem().unwrap().to_string_lossy().into_owned();
            (
                p.clone(),
                stem,
                "billing".to_string(),
                "postgres-credentials".to_string(),
            )
        })
        .collect();
    runs.push((
        edited,
        "secret_readers".into(),
        postgres_ns.into(),
        "postgres-credentials".into(),
    ));

    let mut failures = Vec::new();
    for (path, stem, ns, name) in runs {
        let file = path.display().to_string();
        let label = format!("{stem} ({})", path.file_name().unwrap().to_string_lossy());
        let args = ["-f", file.as_str()];
        let (real_rows, sim_rows) = tokio::join!(kq_rows(real, &args), kq_rows(sim, &args));
        let program = oracle(&stem)
            .unwrap_or_else(|| panic!("queries/examples/{stem}.sql has no oracle here; write one"));
        let expected = jq_rows(
            jq,
            program.to_string(),
            state.clone(),
            vec![
                ("cluster".into(), REAL_CONTEXT.into()),
                ("ns".into(), ns.clone()),
                ("name".into(), name.clone()),
            ],
        )
        .await;
        let billing_missing = stem == "secret_readers" && ns == "billing";
        if !billing_missing {
            assert!(
                !real_rows.is_empty(),
                "{label} answers nothing on the real server, so it proves nothing"
            );
        }
        eprintln!("real_answers: {label}: {} rows", real_rows.len());
        if let Some(f) = compare(
            &label,
            SIDES,
            answer(&real_rows, REAL_CONTEXT),
            answer(&sim_rows, SIM_CONTEXT),
        ) {
            failures.push(f);
        }
        if let Some(f) = compare(
            &label,
            ("kq on the real server", "kubectl + jq on the real server"),
            answer(&real_rows, REAL_CONTEXT),
            answer(&expected, REAL_CONTEXT),
        ) {
            failures.push(f);
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
