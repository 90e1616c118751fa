//! Pod templates, the scheduler, and pods with realistic status.
//!
//! A workload builds one `Template` and every pod it owns is a copy of the
//! template's spec plus what the API server and kubelet add (service account
//! token volume, default tolerations, node name, status). Outcomes
//! (crash loops, unschedulable, evicted, …) come with the events a real
//! cluster would record for them.

use serde_json::{Value, json};

use super::catalog::{Hardening, Res, TRUSTED_REPOS, image_repository, normalize_image};
use super::dice::{hash_hex, ts};
use super::{Gen, Meta, Obj, PodRef, involved, object};

/// One container of a template, before it is rendered to JSON.
pub(crate) struct CtrSpec {
    pub name: String,
    pub image: String,
    pub res: Res,
    pub ports: Vec<(&'static str, i64, &'static str)>,
    pub hardening: Hardening,
    pub probes: bool,
    pub env: Vec<Value>,
    pub env_from: Vec<Value>,
    pub mounts: Vec<Value>,
    pub args: Option<Value>,
    /// A native sidecar: an init container with `restartPolicy: Always`.
    pub sidecar: bool,
}

impl CtrSpec {
    pub(crate) fn new(name: &str, image: &str, res: Res) -> Self {
        Self {
            name: name.to_string(),
            image: image.to_string(),
            res,
            ports: Vec::new(),
            hardening: Hardening::Unset,
            probes: false,
            env: Vec::new(),
            env_from: Vec::new(),
            mounts: Vec::new(),
            args: None,
            sidecar: false,
        }
    }
}

/// A pod spec before rendering.
pub(crate) struct PodIn {
    pub containers: Vec<CtrSpec>,
    pub inits: Vec<CtrSpec>,
    pub service_account: String,
    pub automount: bool,
    pub host_network: bool,
    pub host_pid: bool,
    pub volumes: Vec<Value>,
    pub hardening: Hardening,
    pub restart_policy: &'static str,
    pub pull_secret: Option<String>,
    pub priority_class: Option<(&'static str, i64)>,
    pub tolerations: Vec<Value>,
    pub node_selector: Option<Obj>,
}

impl PodIn {
    pub(crate) fn new(containers: Vec<CtrSpec>, service_account: &str) -> Self {
        Self {
            containers,
            inits: Vec::new(),
            service_account: service_account.to_string(),
            automount: true,
            host_network: false,
            host_pid: false,
            volumes: Vec::new(),
            hardening: Hardening::Unset,
            restart_policy: "Always",
            pull_secret: None,
            priority_class: None,
            tolerations: Vec::new(),
            node_selector: None,
        }
    }
}

/// What pods need to know about a container of their template.
pub(crate) struct CtrInfo {
    pub name: String,
    pub image: String,
    pub status_image: String,
    pub image_id: String,
    pub trusted: bool,
    pub sidecar: bool,
}

/// A rendered pod template shared by a workload and all its pods.
pub(crate) struct Template {
    pub labels: Obj,
    pub annotations: Obj,
    pub spec: Value,
    /// What every pod of the template starts from: the spec plus admission
    /// defaults, with `volumes` first (possibly empty, filled per pod).
    pub pod_spec: Value,
    pub containers: Vec<CtrInfo>,
    pub inits: Vec<CtrInfo>,
    pub cpu: u64,
    pub mem: u64,
    pub qos: &'static str,
    pub readiness: bool,
    pub automount: bool,
}

impl Template {
    /// `{metadata: {labels, annotations}, spec}` as workloads store it.
    pub(crate) fn to_value(&self, extra_labels: &[(&str, &str)]) -> Value {
        let mut meta = Obj::new();
        let mut labels = self.labels.clone();
        for (k, v) in extra_labels {
            labels.insert((*k).to_string(), (*v).into());
        }
        if !labels.is_empty() {
            meta.insert("labels".into(), Value::Object(labels));
        }
        if !self.annotations.is_empty() {
            meta.insert(
                "annotations".into(),
                Value::Object(self.annotations.clone()),
            );
        }
        json!({"metadata": Value::Object(meta), "spec": self.spec.clone()})
    }
}

/// How a pod is expected to live.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Life {
    /// Long-running application pod: mostly healthy, sometimes not.
    Service,
    /// Cluster service pod: always running.
    System,
    /// A job's pod that ran to completion (or failed).
    Job { succeed: bool },
}

/// Where a pod goes.
#[derive(Clone, Copy)]
pub(crate) enum Placement {
    Schedule,
    Pinned(usize),
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Outcome {
    Ready,
    Unready,
    CrashLoop,
    ImagePull,
    OomRestarted,
    Unschedulable,
    Evicted,
    Succeeded,
    Failed,
}

/// Everything a pod adds on top of its template.
pub(crate) struct PodArgs<'a> {
    pub ns: &'a str,
    pub name: String,
    pub generate_name: Option<String>,
    pub labels: Vec<(&'static str, String)>,
    pub owner: Option<Value>,
    pub placement: Placement,
    pub life: Life,
    pub ago: i64,
    pub extra_volumes: Vec<Value>,
    pub hostname: Option<(String, String)>,
}

fn quantity_map(cpu: Option<(&str, u64)>, mem: Option<(&str, u64)>) -> Option<Value> {
    let mut m = Obj::new();
    if let Some((s, _)) = cpu {
        m.insert("cpu".into(), s.into());
    }
    if let Some((s, _)) = mem {
        m.insert("memory".into(), s.into());
    }
    (!m.is_empty()).then_some(Value::Object(m))
}

fn container_security(h: Hardening) -> Option<Value> {
    Some(match h {
        Hardening::Hardened => json!({
            "allowPrivilegeEscalation": false,
            "capabilities": {"drop": ["ALL"]},
            "readOnlyRootFilesystem": true,
            "runAsNonRoot": true,
        }),
        Hardening::Partial => json!({"allowPrivilegeEscalation": false}),
        Hardening::Unset => return None,
        Hardening::Root => json!({
            "allowPrivilegeEscalation": true,
            "runAsNonRoot": false,
            "runAsUser": 0,
        }),
        Hardening::NetAdmin => json!({"capabilities": {"add": ["NET_ADMIN", "NET_RAW"]}}),
        Hardening::SysAdmin => json!({
            "allowPrivilegeEscalation": true,
            "capabilities": {"add": ["SYS_ADMIN"]},
        }),
        Hardening::Privileged => json!({"privileged": true}),
    })
}

fn pod_security(h: Hardening) -> Value {
    match h {
        Hardening::Hardened => json!({
            "fsGroup": 10001,
            "runAsGroup": 10001,
            "runAsNonRoot": true,
            "runAsUser": 10001,
            "seccompProfile": {"type": "RuntimeDefault"},
        }),
        Hardening::Partial => {
            json!({"runAsNonRoot": true, "seccompProfile": {"type": "RuntimeDefault"}})
        }
        _ => json!({}),
    }
}

fn pull_policy(image: &str) -> &'static str {
    if image.contains('@') {
        return "IfNotPresent";
    }
    let last = image.rsplit('/').next().unwrap_or(image);
    match last.split_once(':') {
        None => "Always",
        Some((_, "latest")) => "Always",
        Some(_) => "IfNotPresent",
    }
}

fn probe(path: &str, port: Option<&str>) -> Value {
    let handler = match port {
        Some(p) => json!({"httpGet": {"path": path, "port": p, "scheme": "HTTP"}}),
        None => json!({"exec": {"command": ["cat", "/tmp/healthy"]}}),
    };
    let mut o = handler.as_object().cloned().unwrap_or_default();
    o.insert("initialDelaySeconds".into(), 5.into());
    o.insert("timeoutSeconds".into(), 1.into());
    o.insert("periodSeconds".into(), 10.into());
    o.insert("successThreshold".into(), 1.into());
    o.insert("failureThreshold".into(), 3.into());
    Value::Object(o)
}

fn render_container(c: &CtrSpec) -> Value {
    let mut o = Obj::new();
    o.insert("name".into(), c.name.clone().into());
    o.insert("image".into(), c.image.clone().into());
    if let Some(a) = &c.args {
        o.insert("args".into(), a.clone());
    }
    if !c.ports.is_empty() {
        let ports: Vec<Value> = c
            .ports
            .iter()
            .map(|(n, p, proto)| json!({"name": n, "containerPort": p, "protocol": proto}))
            .collect();
        o.insert("ports".into(), Value::Array(ports));
    }
    if !c.env_from.is_empty() {
        o.insert("envFrom".into(), Value::Array(c.env_from.clone()));
    }
    if !c.env.is_empty() {
        o.insert("env".into(), Value::Array(c.env.clone()));
    }
    let mut res = Obj::new();
    if let Some(l) = quantity_map(c.res.cpu_lim, c.res.mem_lim) {
        res.insert("limits".into(), l);
    }
    if let Some(r) = quantity_map(c.res.cpu_req, c.res.mem_req) {
        res.insert("requests".into(), r);
    }
    o.insert("resources".into(), Value::Object(res));
    if c.sidecar {
        o.insert("restartPolicy".into(), "Always".into());
    }
    if !c.mounts.is_empty() {
        o.insert("volumeMounts".into(), Value::Array(c.mounts.clone()));
    }
    if c.probes {
        let port = c.ports.first().map(|(n, _, _)| *n);
        o.insert("livenessProbe".into(), probe("/livez", port));
        o.insert("readinessProbe".into(), probe("/healthz", port));
    }
    o.insert(
        "terminationMessagePath".into(),
        "/dev/termination-log".into(),
    );
    o.insert("terminationMessagePolicy".into(), "File".into());
    o.insert("imagePullPolicy".into(), pull_policy(&c.image).into());
    if let Some(sc) = container_security(c.hardening) {
        o.insert("securityContext".into(), sc);
    }
    Value::Object(o)
}

fn info(c: &CtrSpec) -> CtrInfo {
    let status_image = normalize_image(&c.image);
    let digest = match c.image.split_once('@') {
        Some((_, d)) => d.to_string(),
        None => format!("sha256:{}", hash_hex(&status_image, 64)),
    };
    let image_id = format!("{}@{digest}", image_repository(&status_image));
    CtrInfo {
        name: c.name.clone(),
        image: c.image.clone(),
        status_image,
        image_id,
        trusted: TRUSTED_REPOS.iter().any(|p| c.image.starts_with(p)),
        sidecar: c.sidecar,
    }
}

/// The pod's QoS class, computed the way the kubelet does.
fn qos_class(all: &[&CtrSpec]) -> &'static str {
    let any = all.iter().any(|c| {
        c.res.cpu_req.is_some()
            || c.res.mem_req.is_some()
            || c.res.cpu_lim.is_some()
            || c.res.mem_lim.is_some()
    });
    if !any {
        return "BestEffort";
    }
    let guaranteed = all.iter().all(|c| {
        matches!((c.res.cpu_req, c.res.cpu_lim), (Some(a), Some(b)) if a.1 == b.1)
            && matches!((c.res.mem_req, c.res.mem_lim), (Some(a), Some(b)) if a.1 == b.1)
    });
    if guaranteed {
        "Guaranteed"
    } else {
        "Burstable"
    }
}

/// The pod spec admission would produce from a template spec, minus the
/// per-pod parts (token volume, node name).
fn pod_base(template_spec: &Value, priority: i64) -> Value {
    let mut base = Obj::new();
    base.insert("volumes".into(), Value::Array(Vec::new()));
    if let Some(t) = template_spec.as_object() {
        for (k, v) in t {
            match k.as_str() {
                "volumes" => {
                    base.insert(k.clone(), v.clone());
                }
                "tolerations" => {}
                _ => {
                    base.insert(k.clone(), v.clone());
                }
            }
        }
    }
    let mut tol = template_spec
        .get("tolerations")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let tolerates_all = tol
        .iter()
        .any(|x| x.get("operator") == Some(&Value::from("Exists")) && x.get("key").is_none());
    if !tolerates_all {
        tol.extend(default_tolerations());
    }
    base.insert("tolerations".into(), Value::Array(tol));
    base.insert("priority".into(), priority.into());
    base.insert("enableServiceLinks".into(), true.into());
    base.insert("preemptionPolicy".into(), "PreemptLowerPriority".into());
    Value::Object(base)
}

fn default_tolerations() -> [Value; 2] {
    [
        json!({"key": "node.kubernetes.io/not-ready", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 300}),
        json!({"key": "node.kubernetes.io/unreachable", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 300}),
    ]
}

impl Gen<'_> {
    /// Renders a pod template; `labels` become the pod labels.
    pub(crate) fn template(&mut self, labels: Obj, annotations: Obj, p: PodIn) -> Template {
        let mut spec = Obj::new();
        if !p.volumes.is_empty() {
            spec.insert("volumes".into(), Value::Array(p.volumes.clone()));
        }
        if !p.inits.is_empty() {
            spec.insert(
                "initContainers".into(),
                Value::Array(p.inits.iter().map(render_container).collect()),
            );
        }
        spec.insert(
            "containers".into(),
            Value::Array(p.containers.iter().map(render_container).collect()),
        );
        spec.insert("restartPolicy".into(), p.restart_policy.into());
        spec.insert("terminationGracePeriodSeconds".into(), 30.into());
        spec.insert(
            "dnsPolicy".into(),
            if p.host_network {
                "ClusterFirstWithHostNet"
            } else {
                "ClusterFirst"
            }
            .into(),
        );
        if let Some(sel) = &p.node_selector {
            spec.insert("nodeSelector".into(), Value::Object(sel.clone()));
        }
        spec.insert(
            "serviceAccountName".into(),
            p.service_account.clone().into(),
        );
        spec.insert("serviceAccount".into(), p.service_account.clone().into());
        if !p.automount {
            spec.insert("automountServiceAccountToken".into(), false.into());
        }
        if p.host_network {
            spec.insert("hostNetwork".into(), true.into());
        }
        if p.host_pid {
            spec.insert("hostPID".into(), true.into());
        }
        spec.insert("securityContext".into(), pod_security(p.hardening));
        if let Some(s) = &p.pull_secret {
            spec.insert("imagePullSecrets".into(), json!([{"name": s}]));
        }
        spec.insert("schedulerName".into(), "default-scheduler".into());
        if !p.tolerations.is_empty() {
            spec.insert("tolerations".into(), Value::Array(p.tolerations.clone()));
        }
        if let Some((class, _)) = p.priority_class {
            spec.insert("priorityClassName".into(), class.into());
        }
        let spec = Value::Object(spec);
        let pod_spec = pod_base(&spec, p.priority_class.map_or(0, |c| c.1));
        let all: Vec<&CtrSpec> = p.inits.iter().chain(p.containers.iter()).collect();
        let running = p
            .containers
            .iter()
            .chain(p.inits.iter().filter(|c| c.sidecar));
        let (mut cpu, mut mem) = (0, 0);
        for c in running {
            cpu += c.res.cpu_req.map_or(0, |q| q.1);
            mem += c.res.mem_req.map_or(0, |q| q.1);
        }
        Template {
            labels,
            annotations,
            spec,
            pod_spec,
            qos: qos_class(&all),
            readiness: p.containers.iter().any(|c| c.probes),
            containers: p.containers.iter().map(info).collect(),
            inits: p.inits.iter().map(info).collect(),
            cpu,
            mem,
            automount: p.automount,
        }
    }

    /// Picks a node that fits; `None` means the cluster is full.
    fn place(&mut self, cpu: u64, mem: u64) -> Option<usize> {
        let n = self.nodes.len();
        if n == 0 {
            return None;
        }
        let fits = |node: &super::NodeRec| {
            node.pods < node.max_pods
                && node.cpu_used + cpu <= node.cpu_alloc
                && node.mem_used + mem <= node.mem_alloc
        };
        for _ in 0..4 {
            let i = self.d.below(n);
            if fits(&self.nodes[i]) {
                return Some(i);
            }
        }
        for k in 0..n {
            let i = (self.cursor + k) % n;
            if fits(&self.nodes[i]) {
                self.cursor = i + 1;
                return Some(i);
            }
        }
        None
    }

    fn outcome(&mut self, life: Life, t: &Template, node: Option<usize>) -> Outcome {
        match life {
            Life::System => return Outcome::Ready,
            Life::Job { succeed: true } => return Outcome::Succeeded,
            Life::Job { succeed: false } => return Outcome::Failed,
            Life::Service => {}
        }
        self.seq.pod += 1;
        // Early pods get each unhealthy outcome once so small clusters show them all.
        let forced = match self.seq.pod {
            3 => Some(Outcome::CrashLoop),
            7 => Some(Outcome::Unschedulable),
            11 => Some(Outcome::OomRestarted),
            13 => Some(Outcome::ImagePull),
            17 if t.readiness => Some(Outcome::Unready),
            _ => None,
        };
        if let Some(o) = forced {
            return o;
        }
        let pressure = node.is_some_and(|i| self.nodes[i].memory_pressure);
        if pressure && self.d.chance(0.15) {
            return Outcome::Evicted;
        }
        let roll = self.d.below(1000);
        match roll {
            0..=24 => Outcome::CrashLoop,
            25..=44 => Outcome::Unschedulable,
            45..=54 => Outcome::ImagePull,
            55..=84 => Outcome::OomRestarted,
            85..=109 if t.readiness => Outcome::Unready,
            _ => Outcome::Ready,
        }
    }

    /// Creates one pod from `t`; returns its JSON and what owners need to know.
    pub(crate) fn pod(&mut self, t: &Template, a: PodArgs<'_>) -> (Value, PodRef) {
        let uid = self.d.uid();
        let mut node = match a.placement {
            Placement::Pinned(i) => Some(i),
            Placement::Schedule => self.place(t.cpu, t.mem),
        };
        let mut outcome = self.outcome(a.life, t, node);
        if node.is_none() {
            outcome = Outcome::Unschedulable;
        }
        if outcome == Outcome::Unschedulable {
            node = None;
        }
        let terminal = matches!(
            outcome,
            Outcome::Evicted | Outcome::Succeeded | Outcome::Failed
        );
        if let Some(i) = node {
            let n = &mut self.nodes[i];
            n.pods += 1;
            if !terminal {
                n.cpu_used += t.cpu;
                n.mem_used += t.mem;
            }
        }
        // A pod is never older than the node it runs on.
        let ago = match node {
            Some(i) => a.ago.min((self.nodes[i].ago - 60).max(0)),
            None => a.ago,
        };
        let a = PodArgs { ago, ..a };
        let host_network = t.spec.get("hostNetwork").and_then(Value::as_bool) == Some(true);
        let ip = node.map(|i| {
            if host_network {
                self.nodes[i].ip.clone()
            } else {
                self.next_pod_ip()
            }
        });
        let ready = matches!(outcome, Outcome::Ready | Outcome::OomRestarted);
        let recent = a.ago < 3600;

        // Metadata.
        let mut labels = t.labels.clone();
        for (k, v) in &a.labels {
            labels.insert((*k).to_string(), v.clone().into());
        }
        let mut meta = Meta {
            name: &a.name,
            namespace: Some(a.ns),
            uid: &uid,
            ago: a.ago,
            labels,
            annotations: t.annotations.clone(),
            owner: a.owner,
        }
        .build();
        if let (Some(g), Some(m)) = (&a.generate_name, meta.as_object_mut()) {
            // generateName sits right after name in real objects.
            let mut ordered = Obj::new();
            for (k, v) in std::mem::take(m) {
                let is_name = k == "name";
                ordered.insert(k, v);
                if is_name {
                    ordered.insert("generateName".into(), g.clone().into());
                }
            }
            *m = ordered;
        }

        // Spec: the template plus what admission and the scheduler add.
        let mut spec = t.pod_spec.clone();
        if let Some(s) = spec.as_object_mut() {
            if let Some(Value::Array(volumes)) = s.get_mut("volumes") {
                volumes.extend(a.extra_volumes);
                if t.automount {
                    let vol_name = format!("kube-api-access-{}", self.d.suffix(5));
                    volumes.push(json!({
                        "name": vol_name,
                        "projected": {
                            "defaultMode": 420,
                            "sources": [
                                {"serviceAccountToken": {"expirationSeconds": 3607, "path": "token"}},
                                {"configMap": {"name": "kube-root-ca.crt", "items": [{"key": "ca.crt", "path": "ca.crt"}]}},
                                {"downwardAPI": {"items": [{"fieldRef": {"apiVersion": "v1", "fieldPath": "metadata.namespace"}, "path": "namespace"}]}},
                            ],
                        },
                    }));
                    let mount = json!({
                        "name": vol_name,
                        "readOnly": true,
                        "mountPath": "/var/run/secrets/kubernetes.io/serviceaccount",
                    });
                    for key in ["initContainers", "containers"] {
                        let Some(Value::Array(cs)) = s.get_mut(key) else {
                            continue;
                        };
                        for c in cs.iter_mut().filter_map(Value::as_object_mut) {
                            match c.get_mut("volumeMounts") {
                                Some(Value::Array(ms)) => ms.push(mount.clone()),
                                _ => {
                                    c.insert("volumeMounts".into(), json!([mount]));
                                }
                            }
                        }
                    }
                }
            }
            if s.get("volumes")
                .and_then(Value::as_array)
                .is_some_and(Vec::is_empty)
            {
                s.shift_remove("volumes");
            }
            if let Some(i) = node {
                s.insert("nodeName".into(), self.nodes[i].name.clone().into());
            }
            if let Some((host, sub)) = &a.hostname {
                s.insert("hostname".into(), host.clone().into());
                s.insert("subdomain".into(), sub.clone().into());
            }
            if let Placement::Pinned(i) = a.placement {
                s.insert(
                    "affinity".into(),
                    json!({"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {
                        "nodeSelectorTerms": [{"matchFields": [{"key": "metadata.name", "operator": "In", "values": [self.nodes[i].name]}]}]
                    }}}),
                );
            }
        }

        let mut status =
            self.pod_status(t, &a.name, a.ns, &uid, node, ip.as_deref(), outcome, a.ago);
        // Someone ran `kubectl debug` on an occasional healthy pod.
        if a.life == Life::Service
            && outcome == Outcome::Ready
            && (self.seq.ephemeral == 0 || self.d.chance(0.002))
        {
            self.seq.ephemeral += 1;
            self.add_ephemeral(t, &mut spec, &mut status);
        }
        let pod = object("v1", "Pod", meta, Some(spec), Some(status));

        // Findings the policy engine's audit reports.
        let audited = a.ns != "kube-system" && a.ns != "gatekeeper-system";
        for c in t.inits.iter().chain(t.containers.iter()) {
            if audited && !c.trusted {
                self.untrusted_total += 1;
                if self.untrusted.len() < 20 {
                    self.untrusted.push((
                        a.ns.to_string(),
                        a.name.clone(),
                        c.name.clone(),
                        c.image.clone(),
                    ));
                }
            }
        }

        self.pod_events(t, &a.name, a.ns, &uid, node, outcome, recent, a.ago);
        let r = PodRef {
            name: a.name,
            uid,
            ip,
            node,
            ready,
            terminal,
            cpu: t.cpu,
            mem: t.mem,
            ago: a.ago,
        };
        (pod, r)
    }

    fn add_ephemeral(&mut self, t: &Template, spec: &mut Value, status: &mut Value) {
        let name = format!("debugger-{}", self.d.suffix(5));
        let image = "busybox:1.36";
        let target = t.containers.first().map_or("app", |c| c.name.as_str());
        if let Some(s) = spec.as_object_mut() {
            s.insert(
                "ephemeralContainers".into(),
                json!([{
                    "name": name,
                    "image": image,
                    "resources": {},
                    "terminationMessagePath": "/dev/termination-log",
                    "terminationMessagePolicy": "File",
                    "imagePullPolicy": "IfNotPresent",
                    "stdin": true,
                    "tty": true,
                    "targetContainerName": target,
                }]),
            );
        }
        let normalized = normalize_image(image);
        let image_id = format!(
            "{}@sha256:{}",
            image_repository(&normalized),
            hash_hex(&normalized, 64)
        );
        let started = ts(self.d.range(60, 3000));
        if let Some(s) = status.as_object_mut() {
            s.insert(
                "ephemeralContainerStatuses".into(),
                json!([{
                    "name": name,
                    "state": {"running": {"startedAt": started}},
                    "lastState": {},
                    "ready": false,
                    "restartCount": 0,
                    "image": normalized,
                    "imageID": image_id,
                    "containerID": format!("containerd://{}", self.d.hex(64)),
                }]),
            );
        }
    }

    fn next_pod_ip(&mut self) -> String {
        let k = self.pod_ip_seq;
        self.pod_ip_seq += 1;
        // 10.128.0.0/9, skipping .0 and .255 host octets.
        let host = k % 254 + 1;
        let rest = k / 254;
        format!("10.{}.{}.{}", 128 + (rest / 256) % 128, rest % 256, host)
    }

    #[allow(clippy::too_many_arguments)]
    fn pod_status(
        &mut self,
        t: &Template,
        name: &str,
        ns: &str,
        uid: &str,
        node: Option<usize>,
        ip: Option<&str>,
        outcome: Outcome,
        ago: i64,
    ) -> Value {
        let start = ago.saturating_sub(1).max(0);
        let running_since = ago.saturating_sub(8).max(0);
        let cond = |ty: &str, ok: bool, reason: Option<&str>, at: i64| {
            let mut c = Obj::new();
            c.insert("type".into(), ty.into());
            c.insert("status".into(), if ok { "True" } else { "False" }.into());
            c.insert("lastProbeTime".into(), Value::Null);
            c.insert("lastTransitionTime".into(), ts(at).into());
            if let Some(r) = reason {
                c.insert("reason".into(), r.into());
            }
            Value::Object(c)
        };
        let mut st = Obj::new();
        if outcome == Outcome::Unschedulable {
            let n = self.nodes.len();
            st.insert("phase".into(), "Pending".into());
            let mut c = cond("PodScheduled", false, Some("Unschedulable"), ago);
            if let Some(o) = c.as_object_mut() {
                o.insert(
                    "message".into(),
                    format!("0/{n} nodes are available: {n} Insufficient cpu. preemption: 0/{n} nodes are available: {n} No preemption victims found for incoming pod.").into(),
                );
            }
            st.insert("conditions".into(), json!([c]));
            st.insert("qosClass".into(), t.qos.into());
            return Value::Object(st);
        }
        let phase = match outcome {
            Outcome::ImagePull => "Pending",
            Outcome::Succeeded => "Succeeded",
            Outcome::Failed | Outcome::Evicted => "Failed",
            _ => "Running",
        };
        st.insert("phase".into(), phase.into());
        let ready = matches!(outcome, Outcome::Ready | Outcome::OomRestarted);
        let terminal = matches!(
            outcome,
            Outcome::Succeeded | Outcome::Failed | Outcome::Evicted
        );
        let ready_reason = match outcome {
            Outcome::Succeeded => Some("PodCompleted"),
            Outcome::Failed | Outcome::Evicted => Some("PodFailed"),
            _ if !ready => Some("ContainersNotReady"),
            _ => None,
        };
        let sandbox_ok = outcome != Outcome::Evicted;
        st.insert(
            "conditions".into(),
            json!([
                cond(
                    "PodReadyToStartContainers",
                    sandbox_ok && !terminal,
                    None,
                    start
                ),
                cond("Initialized", true, None, start),
                cond("Ready", ready, ready_reason, running_since),
                cond("ContainersReady", ready, ready_reason, running_since),
                cond("PodScheduled", true, None, ago),
            ]),
        );
        if outcome == Outcome::Evicted {
            st.insert("message".into(), format!(
                "The node was low on resource: memory. Threshold quantity: 100Mi, available: 92160Ki. Container {} was using 1459616Ki, request is 0, has larger consumption of memory. ",
                t.containers.first().map_or("app", |c| c.name.as_str())
            ).into());
            st.insert("reason".into(), "Evicted".into());
        }
        if let Some(i) = node {
            let hip = self.nodes[i].ip.clone();
            st.insert("hostIP".into(), hip.clone().into());
            st.insert("hostIPs".into(), json!([{"ip": hip}]));
        }
        if let (Some(ip), false) = (ip, outcome == Outcome::Evicted) {
            st.insert("podIP".into(), ip.into());
            st.insert("podIPs".into(), json!([{"ip": ip}]));
        }
        st.insert("startTime".into(), ts(start).into());

        let container_id = |d: &mut super::Dice| format!("containerd://{}", d.hex(64));
        if !t.inits.is_empty() {
            let mut v = Vec::with_capacity(t.inits.len());
            for c in &t.inits {
                let state = if c.sidecar && !terminal {
                    json!({"running": {"startedAt": ts(start)}})
                } else {
                    json!({"terminated": {"exitCode": 0, "reason": "Completed", "startedAt": ts(start), "finishedAt": ts(start.saturating_sub(2).max(0)), "containerID": container_id(&mut self.d)}})
                };
                v.push(json!({
                    "name": c.name,
                    "state": state,
                    "lastState": {},
                    "ready": c.sidecar && !terminal,
                    "restartCount": 0,
                    "image": c.status_image,
                    "imageID": c.image_id,
                    "containerID": container_id(&mut self.d),
                    "started": c.sidecar && !terminal,
                }));
            }
            st.insert("initContainerStatuses".into(), Value::Array(v));
        }
        let mut v = Vec::with_capacity(t.containers.len());
        for (i, c) in t.containers.iter().enumerate() {
            let first = i == 0;
            let cid = container_id(&mut self.d);
            let (state, last, ready_c, started, restarts) = match outcome {
                Outcome::CrashLoop if first => {
                    let restarts = self.d.range(8, 400);
                    (
                        json!({"waiting": {"reason": "CrashLoopBackOff", "message": format!("back-off 5m0s restarting failed container={} pod={name}_{ns}({uid})", c.name)}}),
                        json!({"terminated": {"exitCode": 1, "reason": "Error", "startedAt": ts(180), "finishedAt": ts(170), "containerID": cid}}),
                        false,
                        false,
                        restarts,
                    )
                }
                Outcome::ImagePull if first => (
                    json!({"waiting": {"reason": "ImagePullBackOff", "message": format!("Back-off pulling image \"{}\"", c.image)}}),
                    json!({}),
                    false,
                    false,
                    0,
                ),
                Outcome::OomRestarted if first => (
                    json!({"running": {"startedAt": ts(running_since / 2)}}),
                    json!({"terminated": {"exitCode": 137, "reason": "OOMKilled", "startedAt": ts(running_since), "finishedAt": ts(running_since / 2), "containerID": container_id(&mut self.d)}}),
                    true,
                    true,
                    self.d.range(1, 6),
                ),
                Outcome::Succeeded => (
                    json!({"terminated": {"exitCode": 0, "reason": "Completed", "startedAt": ts(start), "finishedAt": ts(start.saturating_sub(40).max(0)), "containerID": cid}}),
                    json!({}),
                    false,
                    false,
                    0,
                ),
                Outcome::Failed => (
                    json!({"terminated": {"exitCode": 1, "reason": "Error", "startedAt": ts(start), "finishedAt": ts(start.saturating_sub(20).max(0)), "containerID": cid}}),
                    json!({}),
                    false,
                    false,
                    0,
                ),
                Outcome::Evicted => (
                    json!({"terminated": {"exitCode": 137, "reason": "ContainerStatusUnknown", "message": "The container could not be located when the pod was terminated", "startedAt": ts(start), "finishedAt": ts(start / 2)}}),
                    json!({}),
                    false,
                    false,
                    0,
                ),
                Outcome::Unready if first => (
                    json!({"running": {"startedAt": ts(running_since)}}),
                    json!({}),
                    false,
                    true,
                    0,
                ),
                Outcome::ImagePull => (
                    json!({"waiting": {"reason": "ContainerCreating"}}),
                    json!({}),
                    false,
                    false,
                    0,
                ),
                _ => (
                    json!({"running": {"startedAt": ts(running_since)}}),
                    json!({}),
                    true,
                    true,
                    0,
                ),
            };
            let mut o = Obj::new();
            o.insert("name".into(), c.name.clone().into());
            o.insert("state".into(), state);
            o.insert("lastState".into(), last);
            o.insert("ready".into(), ready_c.into());
            o.insert("restartCount".into(), restarts.into());
            o.insert("image".into(), c.status_image.clone().into());
            o.insert("imageID".into(), c.image_id.clone().into());
            // Containers never created (image pull) or lost (eviction) have no ID.
            if !matches!(outcome, Outcome::ImagePull | Outcome::Evicted) {
                o.insert("containerID".into(), cid.into());
            }
            o.insert("started".into(), started.into());
            v.push(Value::Object(o));
        }
        st.insert("containerStatuses".into(), Value::Array(v));
        st.insert("qosClass".into(), t.qos.into());
        Value::Object(st)
    }

    #[allow(clippy::too_many_arguments)]
    fn pod_events(
        &mut self,
        t: &Template,
        name: &str,
        ns: &str,
        uid: &str,
        node: Option<usize>,
        outcome: Outcome,
        recent: bool,
        ago: i64,
    ) {
        let host = node.map(|i| self.nodes[i].name.clone());
        let host = host.as_deref();
        let first = t.containers.first().map_or("app", |c| c.name.as_str());
        let field = format!("spec.containers{{{first}}}");
        let inv = |fp: Option<&str>| involved("v1", "Pod", Some(ns), name, uid, fp);
        match outcome {
            Outcome::Unschedulable => {
                let n = self.nodes.len();
                let count = self.d.range(1, 40);
                let at0 = self.d.range(10, 600);
                self.event(
                    ns,
                    inv(None),
                    true,
                    "FailedScheduling",
                    format!("0/{n} nodes are available: {n} Insufficient cpu. preemption: 0/{n} nodes are available: {n} No preemption victims found for incoming pod."),
                    count,
                    at0,
                    "default-scheduler",
                    None,
                );
            }
            Outcome::CrashLoop => {
                let count = self.d.range(20, 2000);
                let at0 = self.d.range(5, 300);
                self.event(
                    ns,
                    inv(Some(&field)),
                    true,
                    "BackOff",
                    format!(
                        "Back-off restarting failed container {first} in pod {name}_{ns}({uid})"
                    ),
                    count,
                    at0,
                    "kubelet",
                    host,
                );
            }
            Outcome::ImagePull => {
                let image = t.containers.first().map_or("", |c| c.image.as_str());
                let count = self.d.range(3, 200);
                let at0 = self.d.range(5, 300);
                self.event(
                    ns,
                    inv(Some(&field)),
                    true,
                    "Failed",
                    format!("Failed to pull image \"{image}\": rpc error: code = NotFound desc = failed to pull and unpack image \"{image}\": not found"),
                    count,
                    at0,
                    "kubelet",
                    host,
                );
                let at0 = self.d.range(5, 300);
                self.event(
                    ns,
                    inv(Some(&field)),
                    false,
                    "BackOff",
                    format!("Back-off pulling image \"{image}\""),
                    count * 4,
                    at0,
                    "kubelet",
                    host,
                );
            }
            Outcome::Unready => {
                let count = self.d.range(5, 900);
                let at0 = self.d.range(5, 300);
                self.event(
                    ns,
                    inv(Some(&field)),
                    true,
                    "Unhealthy",
                    "Readiness probe failed: HTTP probe failed with statuscode: 503".into(),
                    count,
                    at0,
                    "kubelet",
                    host,
                );
            }
            Outcome::Evicted => {
                let at0 = self.d.range(600, 3000);
                self.event(
                    ns,
                    inv(None),
                    true,
                    "Evicted",
                    "The node was low on resource: memory.".into(),
                    1,
                    at0,
                    "kubelet",
                    host,
                );
            }
            _ => {}
        }
        if recent && node.is_some() && outcome != Outcome::Unschedulable {
            let node_name = host.unwrap_or("");
            let image = t.containers.first().map_or("", |c| c.image.as_str());
            let steps: [(&str, String, Option<&str>, &str); 4] = [
                (
                    "Scheduled",
                    format!("Successfully assigned {ns}/{name} to {node_name}"),
                    None,
                    "default-scheduler",
                ),
                (
                    "Pulled",
                    format!("Container image \"{image}\" already present on machine"),
                    Some(field.as_str()),
                    "kubelet",
                ),
                (
                    "Created",
                    format!("Created container {first}"),
                    Some(field.as_str()),
                    "kubelet",
                ),
                (
                    "Started",
                    format!("Started container {first}"),
                    Some(field.as_str()),
                    "kubelet",
                ),
            ];
            for (i, (reason, msg, fp, comp)) in steps.into_iter().enumerate() {
                let at = (ago - i as i64).max(0);
                let h = if comp == "kubelet" { host } else { None };
                self.event(ns, inv(fp), false, reason, msg, 1, at, comp, h);
            }
        }
    }
}
