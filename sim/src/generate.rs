//! Seeded, deterministic generator of realistic, self-consistent clusters.
//!
//! `generate_cluster` returns every object of one simulated cluster as the
//! API server would return it from GET (without `resourceVersion`, which the
//! server assigns). Objects are consistent with each other the way a real
//! cluster's are: owners exist before their dependents, Services select pods
//! and their Endpoints list exactly the ready pods' IPs, pods sit on nodes that
//! fit them, referenced ConfigMaps, Secrets, ServiceAccounts and PVCs exist,
//! and events point at real objects.
//!
//! The work is split by concern: `dice` (seeded randomness, ids, time),
//! `catalog` (static data and per-flavor versions), `infra` (CRDs,
//! namespaces, nodes, storage, RBAC), `pods` (pod
//! templates, scheduling, pod status, events), `workloads` (controllers), `apps`
//! (cluster services and the application mix) and `network` (Services, Endpoints, Ingresses,
//! NetworkPolicies).

mod apps;
mod catalog;
pub(crate) mod dice;
mod infra;
mod network;
mod pods;
mod workloads;

#[cfg(test)]
mod tests;

use std::collections::HashSet;

use serde_json::{Map, Value, json};

use catalog::Versions;
use dice::{Dice, ts};

/// The shape of one generated cluster.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Flavor {
    Prod,
    Staging,
    Dev,
    Generic,
}

/// What to generate for one cluster.
#[derive(Debug, Clone)]
pub struct ClusterProfile {
    /// Cluster (and kubeconfig context) name.
    pub name: String,
    /// Exact number of pods the cluster will hold.
    pub pods: usize,
    pub flavor: Flavor,
}

/// Generates every object of one cluster, CRDs first, then namespaces, then the rest.
///
/// The same `(profile, seed)` always yields byte-identical output.
pub fn generate_cluster(profile: &ClusterProfile, seed: u64) -> Vec<Value> {
    let mut out = Vec::with_capacity(profile.pods.saturating_mul(3));
    generate_cluster_with(profile, seed, &mut |v| out.push(v));
    out
}

/// Like [`generate_cluster`], but hands each object to `sink` as soon as
/// it may be emitted, in the same order `generate_cluster` returns them.
///
/// A `serde_json::Value` takes about ten times its serialized size in
/// memory, so callers that serialize right away (the server) keep peak
/// memory near the serialized size instead of holding every Value.
pub fn generate_cluster_with(profile: &ClusterProfile, seed: u64, sink: &mut dyn FnMut(Value)) {
    let mut g = Gen::new(profile, seed, sink);
    g.run();
    g.finish();
}

/// A generated object as the API server stores it: defaulted the way the
/// real server defaults what it decodes (canonical quantities, probe and
/// port defaults, `status.loadBalancer: {}`, a hostNetwork pod's host
/// ports, ...), and with `metadata.generation` on the kinds that keep one
/// (as high as what its controller has observed).
fn stored(mut v: Value) -> Value {
    crate::defaults::apply(&mut v);
    let api_version = v.get("apiVersion").and_then(Value::as_str).unwrap_or("");
    let group = api_version.rsplit_once('/').map_or("", |(g, _)| g);
    let kind = v.get("kind").and_then(Value::as_str).unwrap_or("");
    // Built-in groups are `apps`, `batch`, ... and `*.k8s.io`; the rest are
    // custom resources, which always keep a generation.
    let builtin = group.is_empty() || !group.contains('.') || group.ends_with(".k8s.io");
    if !builtin || crate::defaults::tracks_generation(group, kind) {
        let observed = v
            .pointer("/status/observedGeneration")
            .and_then(Value::as_i64)
            .unwrap_or(1)
            .max(1);
        if let Some(m) = v.get_mut("metadata").and_then(Value::as_object_mut)
            && !m.contains_key("generation")
        {
            m.insert("generation".into(), observed.into());
        }
    }
    v
}

/// A JSON object map, the unit every generated field is built from.
pub(crate) type Obj = Map<String, Value>;

/// Builds a string-to-string map (labels, annotations, selectors).
pub(crate) fn kv(pairs: &[(&str, &str)]) -> Obj {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_string(), Value::String((*v).to_string())))
        .collect()
}

/// An owner reference as controllers write it.
pub(crate) fn owner_ref(api_version: &str, kind: &str, name: &str, uid: &str) -> Value {
    json!({
        "apiVersion": api_version,
        "kind": kind,
        "name": name,
        "uid": uid,
        "controller": true,
        "blockOwnerDeletion": true,
    })
}

/// A whole object in the API server's field order.
pub(crate) fn object(
    api_version: &str,
    kind: &str,
    metadata: Value,
    spec: Option<Value>,
    status: Option<Value>,
) -> Value {
    let mut o = Obj::new();
    o.insert("apiVersion".into(), api_version.into());
    o.insert("kind".into(), kind.into());
    o.insert("metadata".into(), metadata);
    if let Some(s) = spec {
        o.insert("spec".into(), s);
    }
    if let Some(s) = status {
        o.insert("status".into(), s);
    }
    Value::Object(o)
}

/// Metadata of a new object; empty labels/annotations are omitted as the API server does.
pub(crate) struct Meta<'a> {
    pub name: &'a str,
    pub namespace: Option<&'a str>,
    pub uid: &'a str,
    pub ago: i64,
    pub labels: Obj,
    pub annotations: Obj,
    pub owner: Option<Value>,
}

impl Meta<'_> {
    pub(crate) fn build(self) -> Value {
        let mut m = Obj::new();
        m.insert("name".into(), self.name.into());
        if let Some(ns) = self.namespace {
            m.insert("namespace".into(), ns.into());
        }
        m.insert("uid".into(), self.uid.into());
        m.insert("creationTimestamp".into(), ts(self.ago).into());
        if !self.labels.is_empty() {
            m.insert("labels".into(), Value::Object(self.labels));
        }
        if !self.annotations.is_empty() {
            m.insert("annotations".into(), Value::Object(self.annotations));
        }
        if let Some(o) = self.owner {
            m.insert("ownerReferences".into(), Value::Array(vec![o]));
        }
        Value::Object(m)
    }
}

/// A node as the scheduler sees it while pods are placed.
pub(crate) struct NodeRec {
    pub name: String,
    pub uid: String,
    pub ip: String,
    pub zone: String,
    pub cpu_alloc: u64,
    pub mem_alloc: u64,
    pub max_pods: u64,
    pub cpu_used: u64,
    pub mem_used: u64,
    pub pods: u64,
    pub memory_pressure: bool,
    /// Age of the node; no pod on it is older.
    pub ago: i64,
    /// Carries the label that staging's fluent-bit DaemonSet selects.
    pub logging: bool,
}

/// What a workload needs to know about a pod it created.
#[derive(Clone, Debug)]
pub(crate) struct PodRef {
    pub name: String,
    pub uid: String,
    pub ip: Option<String>,
    pub node: Option<usize>,
    pub ready: bool,
    /// Failed or Succeeded: controllers and endpoints ignore these.
    pub terminal: bool,
    pub cpu: u64,
    pub mem: u64,
    /// Age of the pod (capped by its node's age).
    pub ago: i64,
}

/// Per-namespace bookkeeping, so references always point at objects that exist.
#[derive(Default)]
pub(crate) struct NsState {
    pub name: String,
    pub ago: i64,
    pub team: String,
    pub limit_range: bool,
    pub regcred: bool,
    /// Registry style for the namespace's own images (0 = trusted only … 3 = anything goes).
    pub registry_style: usize,
    pub names: HashSet<String>,
}

/// Running counters that force the rare-but-important variety to appear
/// early, so even small clusters have an answer to every classic question.
#[derive(Default)]
pub(crate) struct Seq {
    pub workload: usize,
    pub service: usize,
    pub ingress: usize,
    pub pod: usize,
    pub cronjobs: usize,
    pub debug_pods: usize,
    pub ephemeral: usize,
}

pub(crate) struct Gen<'s> {
    /// Receives objects once CRDs and namespaces are out (see `flush_head`).
    sink: &'s mut dyn FnMut(Value),
    /// Objects made before every namespace exists wait here.
    pending: Vec<Value>,
    streaming: bool,
    pub cluster: String,
    pub flavor: Flavor,
    pub v: &'static Versions,
    pub d: Dice,
    pub crds: Vec<Value>,
    pub namespaces: Vec<Value>,
    pub nodes: Vec<NodeRec>,
    /// Pods still to be created; the total is exactly `profile.pods`.
    pub budget: usize,
    pub total_pods: usize,
    pub pod_ip_seq: u32,
    pub svc_ip_seq: u32,
    pub node_ports: HashSet<i64>,
    pub seq: Seq,
    /// Hostname of the ingress controller's load balancer, when one exists.
    pub ingress_lb: Option<String>,
    pub cert_manager: bool,
    /// Images outside the trusted registries: (namespace, pod, container, image).
    pub untrusted: Vec<(String, String, String, String)>,
    pub untrusted_total: usize,
    pub cursor: usize,
    pub cluster_age: i64,
    /// Ingress hosts so far, with their namespace, to create overlaps on purpose.
    pub hosts: Vec<(String, String)>,
    pub overlap_made: bool,
    /// kube-system ServiceAccounts the bootstrap bindings name (the
    /// controllers', created by kube-controller-manager).
    pub controller_service_accounts: Vec<String>,
}

impl<'s> Gen<'s> {
    fn new(profile: &ClusterProfile, seed: u64, sink: &'s mut dyn FnMut(Value)) -> Self {
        let v = catalog::versions(&profile.flavor);
        Self {
            sink,
            pending: Vec::new(),
            streaming: false,
            cluster: profile.name.clone(),
            flavor: profile.flavor.clone(),
            v,
            d: Dice::new(seed, &profile.name),
            crds: Vec::new(),
            namespaces: Vec::new(),
            nodes: Vec::new(),
            budget: profile.pods,
            total_pods: profile.pods,
            pod_ip_seq: 0,
            svc_ip_seq: 10,
            node_ports: HashSet::new(),
            seq: Seq::default(),
            ingress_lb: None,
            cert_manager: false,
            untrusted: Vec::new(),
            untrusted_total: 0,
            cursor: 0,
            cluster_age: 0,
            hosts: Vec::new(),
            overlap_made: false,
            controller_service_accounts: Vec::new(),
        }
    }

    fn run(&mut self) {
        self.cluster_age = self.d.range(300, 900) * 86_400;
        self.crds();
        let node_count = self.total_pods.div_ceil(30).max(3);
        self.storage_classes();
        self.nodes(node_count);
        self.cluster_rbac();
        let mut system = self.system_namespaces();
        let mut apps = self.app_namespaces();
        self.flush_head();
        self.cluster_services(&mut system);
        self.applications(&mut apps);
        self.policy_instances();
        self.node_events();
    }

    /// Emits CRDs, then namespaces, then whatever was made meanwhile; from
    /// here on objects go straight to the sink.
    fn flush_head(&mut self) {
        for v in std::mem::take(&mut self.crds)
            .into_iter()
            .chain(std::mem::take(&mut self.namespaces))
            .chain(std::mem::take(&mut self.pending))
        {
            (self.sink)(stored(v));
        }
        self.streaming = true;
    }

    fn finish(&mut self) {
        if !self.streaming {
            self.flush_head();
        }
    }

    /// Emits a finished object (owners are always emitted before dependents).
    pub(crate) fn emit(&mut self, v: Value) {
        if self.streaming {
            (self.sink)(stored(v));
        } else {
            self.pending.push(v);
        }
    }

    pub(crate) fn emit_all(&mut self, vs: Vec<Value>) {
        for v in vs {
            self.emit(v);
        }
    }

    /// Reserves up to `want` pods of the remaining budget.
    pub(crate) fn grant(&mut self, want: usize) -> usize {
        let n = want.min(self.budget);
        self.budget -= n;
        n
    }

    /// A fresh name in `ns` based on `base` (`api`, `api-2`, …).
    pub(crate) fn unique_name(ns: &mut NsState, base: &str) -> String {
        if ns.names.insert(base.to_string()) {
            return base.to_string();
        }
        let mut i = 2;
        loop {
            let candidate = format!("{base}-{i}");
            if ns.names.insert(candidate.clone()) {
                return candidate;
            }
            i += 1;
        }
    }

    /// Records an event about `involved`, which must be an existing object.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn event(
        &mut self,
        ns: &str,
        involved: Value,
        warning: bool,
        reason: &str,
        message: String,
        count: i64,
        last_ago: i64,
        component: &str,
        host: Option<&str>,
    ) {
        let obj_name = involved
            .get("name")
            .and_then(Value::as_str)
            .unwrap_or("object")
            .to_string();
        let name = format!("{obj_name}.{}", self.d.hex(16));
        let uid = self.d.uid();
        let first_ago = last_ago
            + if count > 1 {
                self.d.range(60, 86_400)
            } else {
                0
            };
        let mut source = Obj::new();
        source.insert("component".into(), component.into());
        if let Some(h) = host {
            source.insert("host".into(), h.into());
        }
        let meta = Meta {
            name: &name,
            namespace: Some(ns),
            uid: &uid,
            ago: first_ago,
            labels: Obj::new(),
            annotations: Obj::new(),
            owner: None,
        }
        .build();
        let mut o = Obj::new();
        o.insert("apiVersion".into(), "v1".into());
        o.insert("kind".into(), "Event".into());
        o.insert("metadata".into(), meta);
        o.insert("involvedObject".into(), involved);
        o.insert("reason".into(), reason.into());
        o.insert("message".into(), message.into());
        o.insert("source".into(), Value::Object(source));
        o.insert("firstTimestamp".into(), ts(first_ago).into());
        o.insert("lastTimestamp".into(), ts(last_ago).into());
        o.insert("count".into(), count.into());
        o.insert(
            "type".into(),
            if warning { "Warning" } else { "Normal" }.into(),
        );
        o.insert("eventTime".into(), Value::Null);
        o.insert("reportingComponent".into(), component.into());
        o.insert("reportingInstance".into(), host.unwrap_or("").into());
        self.emit(Value::Object(o));
    }
}

/// The `involvedObject` of an event.
pub(crate) fn involved(
    api_version: &str,
    kind: &str,
    ns: Option<&str>,
    name: &str,
    uid: &str,
    field_path: Option<&str>,
) -> Value {
    let mut o = Obj::new();
    o.insert("kind".into(), kind.into());
    if let Some(ns) = ns {
        o.insert("namespace".into(), ns.into());
    }
    o.insert("name".into(), name.into());
    o.insert("uid".into(), uid.into());
    o.insert("apiVersion".into(), api_version.into());
    if let Some(f) = field_path {
        o.insert("fieldPath".into(), f.into());
    }
    Value::Object(o)
}
