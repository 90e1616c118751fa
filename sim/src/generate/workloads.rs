//! Controllers and their children: Deployments → ReplicaSets → Pods,
//! StatefulSets (with PVCs bound to PVs), DaemonSets, CronJobs → Jobs →
//! Pods, bare pods; plus the objects that point at workloads (HPAs, PDBs)
//! and namespace guard rails (ResourceQuotas, LimitRanges).
//!
//! Each builder creates the pods first (their outcomes decide the owner's
//! status), then pushes owner, intermediate owners and pods in that order.

use std::collections::HashSet;

use serde_json::{Value, json};

use super::dice::{BASE_EPOCH, ts, ts_abs};
use super::pods::{Life, Placement, PodArgs, Template};
use super::{Gen, Meta, NsState, Obj, PodRef, involved, object, owner_ref};

/// Identity of a workload object.
pub(crate) struct Wl<'a> {
    pub ns: &'a str,
    pub name: &'a str,
    pub ago: i64,
    pub labels: Obj,
    pub selector: Obj,
}

/// Pods built for a workload, pushed after their owners.
#[derive(Default)]
struct Batch {
    json: Vec<Value>,
    refs: Vec<PodRef>,
}

fn count_ready(refs: &[PodRef]) -> (usize, usize) {
    let live = refs.iter().filter(|r| !r.terminal).count();
    let ready = refs.iter().filter(|r| !r.terminal && r.ready).count();
    (live, ready)
}

/// Adds `key: n` unless n is zero (the API server omits zero counters).
fn put_nonzero(o: &mut Obj, key: &str, n: usize) {
    if n > 0 {
        o.insert(key.into(), n.into());
    }
}

fn with(mut base: Obj, key: &str, value: &str) -> Obj {
    base.insert(key.into(), value.into());
    base
}

impl Gen<'_> {
    /// A pod's age under an owner of age `parent`: mostly old, a few fresh.
    pub(crate) fn pod_age(&mut self, parent: i64) -> i64 {
        if parent <= 3600 || self.d.chance(0.05) {
            self.d.range(60, parent.clamp(61, 3599))
        } else {
            self.d.range(3600, parent)
        }
    }

    fn fresh_suffix(&mut self, used: &mut HashSet<String>) -> String {
        loop {
            let s = self.d.suffix(5);
            if used.insert(s.clone()) {
                return s;
            }
        }
    }

    pub(crate) fn deployment(
        &mut self,
        w: &Wl<'_>,
        t: &Template,
        pods: usize,
        life: Life,
    ) -> Vec<PodRef> {
        let dep_uid = self.d.uid();
        let rs_uid = self.d.uid();
        let hash = self.d.suffix(10);
        let rs_name = format!("{}-{hash}", w.name);
        let rs_ago = if w.ago > 7200 && self.d.chance(0.6) {
            self.d.range(3600, w.ago)
        } else {
            w.ago
        };
        let owner = owner_ref("apps/v1", "ReplicaSet", &rs_name, &rs_uid);
        let mut batch = Batch::default();
        let mut used = HashSet::new();
        for _ in 0..pods {
            let suffix = self.fresh_suffix(&mut used);
            let ago = self.pod_age(rs_ago);
            let (p, r) = self.pod(
                t,
                PodArgs {
                    ns: w.ns,
                    name: format!("{rs_name}-{suffix}"),
                    generate_name: Some(format!("{rs_name}-")),
                    labels: vec![("pod-template-hash", hash.clone())],
                    owner: Some(owner.clone()),
                    placement: Placement::Schedule,
                    life,
                    ago,
                    extra_volumes: Vec::new(),
                    hostname: None,
                },
            );
            batch.json.push(p);
            batch.refs.push(r);
        }
        let (replicas, ready) = count_ready(&batch.refs);
        let revision = if rs_ago < w.ago {
            self.d.range(2, 12)
        } else {
            1
        };
        let rev = revision.to_string();
        let mut rs_selector = w.selector.clone();
        rs_selector.insert("pod-template-hash".into(), hash.clone().into());

        // Deployment.
        let available = replicas == 0 || ready * 4 >= replicas * 3;
        let mut status = Obj::new();
        status.insert("observedGeneration".into(), revision.into());
        put_nonzero(&mut status, "replicas", replicas);
        put_nonzero(&mut status, "updatedReplicas", replicas);
        put_nonzero(&mut status, "readyReplicas", ready);
        put_nonzero(&mut status, "availableReplicas", ready);
        put_nonzero(&mut status, "unavailableReplicas", replicas - ready);
        status.insert(
            "conditions".into(),
            json!([
                {
                    "type": "Available",
                    "status": if available { "True" } else { "False" },
                    "lastUpdateTime": ts(rs_ago.min(3000)),
                    "lastTransitionTime": ts(rs_ago.min(3000)),
                    "reason": if available { "MinimumReplicasAvailable" } else { "MinimumReplicasUnavailable" },
                    "message": if available { "Deployment has minimum availability." } else { "Deployment does not have minimum availability." },
                },
                {
                    "type": "Progressing",
                    "status": "True",
                    "lastUpdateTime": ts(rs_ago),
                    "lastTransitionTime": ts(w.ago),
                    "reason": "NewReplicaSetAvailable",
                    "message": format!("ReplicaSet \"{rs_name}\" has successfully progressed."),
                },
            ]),
        );
        let mut meta = Meta {
            name: w.name,
            namespace: Some(w.ns),
            uid: &dep_uid,
            ago: w.ago,
            labels: w.labels.clone(),
            annotations: super::kv(&[("deployment.kubernetes.io/revision", &rev)]),
            owner: None,
        }
        .build();
        set_generation(&mut meta, revision);
        self.emit(object(
            "apps/v1",
            "Deployment",
            meta,
            Some(json!({
                "replicas": replicas,
                "selector": {"matchLabels": w.selector},
                "template": t.to_value(&[]),
                "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": "25%", "maxSurge": "25%"}},
                "revisionHistoryLimit": 10,
                "progressDeadlineSeconds": 600,
            })),
            Some(Value::Object(status)),
        ));

        // An older, scaled-down ReplicaSet kept as rollout history.
        let dep_owner = owner_ref("apps/v1", "Deployment", w.name, &dep_uid);
        if revision > 1 {
            let old_hash = self.d.suffix(10);
            let old_name = format!("{}-{old_hash}", w.name);
            let old_uid = self.d.uid();
            let old_rev = (revision - 1).to_string();
            let mut sel = w.selector.clone();
            sel.insert("pod-template-hash".into(), old_hash.clone().into());
            let meta = Meta {
                name: &old_name,
                namespace: Some(w.ns),
                uid: &old_uid,
                ago: w.ago,
                labels: with(t.labels.clone(), "pod-template-hash", &old_hash),
                annotations: super::kv(&[
                    (
                        "deployment.kubernetes.io/desired-replicas",
                        &replicas.to_string(),
                    ),
                    (
                        "deployment.kubernetes.io/max-replicas",
                        &(replicas + replicas.div_ceil(4)).to_string(),
                    ),
                    ("deployment.kubernetes.io/revision", &old_rev),
                ]),
                owner: Some(dep_owner.clone()),
            }
            .build();
            self.emit(object(
                "apps/v1",
                "ReplicaSet",
                meta,
                Some(json!({
                    "replicas": 0,
                    "selector": {"matchLabels": sel},
                    "template": t.to_value(&[("pod-template-hash", &old_hash)]),
                })),
                Some(json!({"replicas": 0, "observedGeneration": 2})),
            ));
        }

        let mut rs_status = Obj::new();
        rs_status.insert("replicas".into(), replicas.into());
        put_nonzero(&mut rs_status, "fullyLabeledReplicas", replicas);
        put_nonzero(&mut rs_status, "readyReplicas", ready);
        put_nonzero(&mut rs_status, "availableReplicas", ready);
        rs_status.insert("observedGeneration".into(), 1.into());
        let meta = Meta {
            name: &rs_name,
            namespace: Some(w.ns),
            uid: &rs_uid,
            ago: rs_ago,
            labels: with(t.labels.clone(), "pod-template-hash", &hash),
            annotations: super::kv(&[
                (
                    "deployment.kubernetes.io/desired-replicas",
                    &replicas.to_string(),
                ),
                (
                    "deployment.kubernetes.io/max-replicas",
                    &(replicas + replicas.div_ceil(4)).to_string(),
                ),
                ("deployment.kubernetes.io/revision", &rev),
            ]),
            owner: Some(dep_owner),
        }
        .build();
        self.emit(object(
            "apps/v1",
            "ReplicaSet",
            meta,
            Some(json!({
                "replicas": replicas,
                "selector": {"matchLabels": rs_selector},
                "template": t.to_value(&[("pod-template-hash", &hash)]),
            })),
            Some(Value::Object(rs_status)),
        ));
        if rev != "1" {
            let inv = involved("apps/v1", "Deployment", Some(w.ns), w.name, &dep_uid, None);
            let ago = rs_ago.min(3000);
            self.event(
                w.ns,
                inv,
                false,
                "ScalingReplicaSet",
                format!("Scaled up replica set {rs_name} to {replicas}"),
                1,
                ago,
                "deployment-controller",
                None,
            );
        }
        self.emit_all(batch.json);
        batch.refs
    }

    /// A StatefulSet; `claim` is the size and class of each pod's `data` volume.
    pub(crate) fn statefulset(
        &mut self,
        w: &Wl<'_>,
        t: &Template,
        pods: usize,
        service_name: &str,
        claim: Option<(&str, &str)>,
    ) -> Vec<PodRef> {
        let uid = self.d.uid();
        let revision = format!("{}-{}", w.name, self.d.suffix(10));
        let owner = owner_ref("apps/v1", "StatefulSet", w.name, &uid);
        let mut batch = Batch::default();
        let mut claims = Vec::new();
        for i in 0..pods {
            let name = format!("{}-{i}", w.name);
            let ago = self.pod_age(w.ago);
            let claim_name = format!("data-{name}");
            let extra = if claim.is_some() {
                vec![json!({"name": "data", "persistentVolumeClaim": {"claimName": claim_name}})]
            } else {
                Vec::new()
            };
            let (p, r) = self.pod(
                t,
                PodArgs {
                    ns: w.ns,
                    name: name.clone(),
                    generate_name: Some(format!("{}-", w.name)),
                    labels: vec![
                        ("apps.kubernetes.io/pod-index", i.to_string()),
                        ("controller-revision-hash", revision.clone()),
                        ("statefulset.kubernetes.io/pod-name", name.clone()),
                    ],
                    owner: Some(owner.clone()),
                    placement: Placement::Schedule,
                    life: Life::Service,
                    ago,
                    extra_volumes: extra,
                    hostname: Some((name.clone(), service_name.to_string())),
                },
            );
            if claim.is_some() {
                claims.push((claim_name, r.node, r.ago));
            }
            batch.json.push(p);
            batch.refs.push(r);
        }
        let (replicas, ready) = count_ready(&batch.refs);
        let mut spec = Obj::new();
        spec.insert("replicas".into(), pods.into());
        spec.insert("selector".into(), json!({"matchLabels": w.selector}));
        spec.insert("template".into(), t.to_value(&[]));
        if let Some((size, class)) = claim {
            spec.insert(
                "volumeClaimTemplates".into(),
                json!([{
                    "apiVersion": "v1",
                    "kind": "PersistentVolumeClaim",
                    "metadata": {"name": "data"},
                    "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": size}}, "storageClassName": class, "volumeMode": "Filesystem"},
                    "status": {"phase": "Pending"},
                }]),
            );
        }
        spec.insert("serviceName".into(), service_name.into());
        spec.insert("podManagementPolicy".into(), "OrderedReady".into());
        spec.insert(
            "updateStrategy".into(),
            json!({"type": "RollingUpdate", "rollingUpdate": {"partition": 0}}),
        );
        spec.insert("revisionHistoryLimit".into(), 10.into());
        spec.insert(
            "persistentVolumeClaimRetentionPolicy".into(),
            json!({"whenDeleted": "Retain", "whenScaled": "Retain"}),
        );
        let mut status = Obj::new();
        status.insert("observedGeneration".into(), 1.into());
        status.insert("replicas".into(), replicas.into());
        put_nonzero(&mut status, "readyReplicas", ready);
        put_nonzero(&mut status, "currentReplicas", replicas);
        put_nonzero(&mut status, "updatedReplicas", replicas);
        status.insert("currentRevision".into(), revision.clone().into());
        status.insert("updateRevision".into(), revision.into());
        status.insert("collisionCount".into(), 0.into());
        put_nonzero(&mut status, "availableReplicas", ready);
        let mut meta = Meta {
            name: w.name,
            namespace: Some(w.ns),
            uid: &uid,
            ago: w.ago,
            labels: w.labels.clone(),
            annotations: Obj::new(),
            owner: None,
        }
        .build();
        set_generation(&mut meta, 1);
        self.emit(object(
            "apps/v1",
            "StatefulSet",
            meta,
            Some(Value::Object(spec)),
            Some(Value::Object(status)),
        ));
        if let Some((size, class)) = claim {
            for (name, node, ago) in claims {
                self.pvc(w.ns, &name, &t.labels, size, class, node, ago);
            }
        }
        self.emit_all(batch.json);
        batch.refs
    }

    /// A PVC, bound to a freshly provisioned PV when its pod was scheduled
    /// (WaitForFirstConsumer), Pending otherwise.
    #[allow(clippy::too_many_arguments)]
    fn pvc(
        &mut self,
        ns: &str,
        name: &str,
        labels: &Obj,
        size: &str,
        class: &str,
        node: Option<usize>,
        ago: i64,
    ) {
        let uid = self.d.uid();
        let pv_name = format!("pvc-{uid}");
        let provisioner = if class == "gp2" {
            "kubernetes.io/aws-ebs"
        } else {
            "ebs.csi.aws.com"
        };
        let mut ann = super::kv(&[
            ("volume.beta.kubernetes.io/storage-provisioner", provisioner),
            ("volume.kubernetes.io/storage-provisioner", provisioner),
        ]);
        if let Some(i) = node {
            ann.insert("pv.kubernetes.io/bind-completed".into(), "yes".into());
            ann.insert("pv.kubernetes.io/bound-by-controller".into(), "yes".into());
            ann.insert(
                "volume.kubernetes.io/selected-node".into(),
                self.nodes[i].name.clone().into(),
            );
        }
        let mut meta = Meta {
            name,
            namespace: Some(ns),
            uid: &uid,
            ago: ago + 1,
            labels: labels.clone(),
            annotations: ann,
            owner: None,
        }
        .build();
        if let Some(m) = meta.as_object_mut() {
            m.insert("finalizers".into(), json!(["kubernetes.io/pvc-protection"]));
        }
        let mut spec = json!({
            "accessModes": ["ReadWriteOnce"],
            "resources": {"requests": {"storage": size}},
            "storageClassName": class,
            "volumeMode": "Filesystem",
        });
        let status = match node {
            Some(_) => {
                if let Some(s) = spec.as_object_mut() {
                    s.insert("volumeName".into(), pv_name.clone().into());
                }
                json!({"phase": "Bound", "accessModes": ["ReadWriteOnce"], "capacity": {"storage": size}})
            }
            None => json!({"phase": "Pending"}),
        };
        self.emit(object(
            "v1",
            "PersistentVolumeClaim",
            meta,
            Some(spec),
            Some(status),
        ));
        let Some(i) = node else {
            return;
        };
        let zone = self.nodes[i].zone.clone();
        let volume_handle = format!("vol-0{}", self.d.hex(16));
        let pv_uid = self.d.uid();
        let mut meta = Meta {
            name: &pv_name,
            namespace: None,
            uid: &pv_uid,
            ago,
            labels: Obj::new(),
            annotations: super::kv(&[
                ("pv.kubernetes.io/provisioned-by", provisioner),
                ("volume.kubernetes.io/provisioner-deletion-secret-name", ""),
                (
                    "volume.kubernetes.io/provisioner-deletion-secret-namespace",
                    "",
                ),
            ]),
            owner: None,
        }
        .build();
        if let Some(m) = meta.as_object_mut() {
            m.insert(
                "finalizers".into(),
                json!([
                    "external-provisioner.volume.kubernetes.io/finalizer",
                    "kubernetes.io/pv-protection"
                ]),
            );
        }
        self.emit(object(
            "v1",
            "PersistentVolume",
            meta,
            Some(json!({
                "capacity": {"storage": size},
                "csi": {
                    "driver": "ebs.csi.aws.com",
                    "fsType": "ext4",
                    "volumeAttributes": {"storage.kubernetes.io/csiProvisionerIdentity": "1717000000000-8081-ebs.csi.aws.com"},
                    "volumeHandle": volume_handle,
                },
                "accessModes": ["ReadWriteOnce"],
                "claimRef": {"kind": "PersistentVolumeClaim", "namespace": ns, "name": name, "uid": uid, "apiVersion": "v1"},
                "persistentVolumeReclaimPolicy": "Delete",
                "storageClassName": class,
                "volumeMode": "Filesystem",
                "nodeAffinity": {"required": {"nodeSelectorTerms": [{"matchExpressions": [
                    {"key": "topology.ebs.csi.aws.com/zone", "operator": "In", "values": [zone]}
                ]}]}},
            })),
            Some(json!({"phase": "Bound", "lastPhaseTransitionTime": ts(ago)})),
        ));
    }

    /// A DaemonSet with one pod on each node in `nodes`.
    pub(crate) fn daemonset(&mut self, w: &Wl<'_>, t: &Template, nodes: &[usize]) -> Vec<PodRef> {
        let uid = self.d.uid();
        let hash = self.d.suffix(10);
        let owner = owner_ref("apps/v1", "DaemonSet", w.name, &uid);
        let mut batch = Batch::default();
        let mut used = HashSet::new();
        for &node in nodes {
            let suffix = self.fresh_suffix(&mut used);
            let ago = self.pod_age(w.ago);
            let (p, r) = self.pod(
                t,
                PodArgs {
                    ns: w.ns,
                    name: format!("{}-{suffix}", w.name),
                    generate_name: Some(format!("{}-", w.name)),
                    labels: vec![
                        ("controller-revision-hash", hash.clone()),
                        ("pod-template-generation", "1".to_string()),
                    ],
                    owner: Some(owner.clone()),
                    placement: Placement::Pinned(node),
                    life: Life::System,
                    ago,
                    extra_volumes: Vec::new(),
                    hostname: None,
                },
            );
            batch.json.push(p);
            batch.refs.push(r);
        }
        let (live, ready) = count_ready(&batch.refs);
        let mut status = Obj::new();
        status.insert("currentNumberScheduled".into(), live.into());
        status.insert("numberMisscheduled".into(), 0.into());
        status.insert("desiredNumberScheduled".into(), nodes.len().into());
        status.insert("numberReady".into(), ready.into());
        status.insert("observedGeneration".into(), 1.into());
        put_nonzero(&mut status, "updatedNumberScheduled", live);
        put_nonzero(&mut status, "numberAvailable", ready);
        put_nonzero(&mut status, "numberUnavailable", nodes.len() - ready);
        let mut meta = Meta {
            name: w.name,
            namespace: Some(w.ns),
            uid: &uid,
            ago: w.ago,
            labels: w.labels.clone(),
            annotations: super::kv(&[("deprecated.daemonset.template.generation", "1")]),
            owner: None,
        }
        .build();
        set_generation(&mut meta, 1);
        self.emit(object(
            "apps/v1",
            "DaemonSet",
            meta,
            Some(json!({
                "selector": {"matchLabels": w.selector},
                "template": t.to_value(&[]),
                "updateStrategy": {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 1, "maxSurge": 0}},
                "revisionHistoryLimit": 10,
            })),
            Some(Value::Object(status)),
        ));
        self.emit_all(batch.json);
        batch.refs
    }

    /// A Job with one pod; `owner` is its CronJob, if any.
    fn job(
        &mut self,
        w: &Wl<'_>,
        t: &Template,
        succeed: bool,
        owner: Option<Value>,
        backoff_limit: i64,
    ) -> (Vec<Value>, PodRef) {
        let uid = self.d.uid();
        let mut sel = Obj::new();
        sel.insert(
            "batch.kubernetes.io/controller-uid".into(),
            uid.clone().into(),
        );
        let job_labels: [(&str, &str); 4] = [
            ("batch.kubernetes.io/controller-uid", &uid),
            ("batch.kubernetes.io/job-name", w.name),
            ("controller-uid", &uid),
            ("job-name", w.name),
        ];
        let pod_ago = (w.ago - 1).max(0);
        let pod_name = format!("{}-{}", w.name, self.d.suffix(5));
        let (pod, r) = self.pod(
            t,
            PodArgs {
                ns: w.ns,
                name: pod_name,
                generate_name: Some(format!("{}-", w.name)),
                labels: job_labels
                    .iter()
                    .map(|(k, v)| (*k, (*v).to_string()))
                    .collect(),
                owner: Some(owner_ref("batch/v1", "Job", w.name, &uid)),
                placement: Placement::Schedule,
                life: Life::Job { succeed },
                ago: pod_ago,
                extra_volumes: Vec::new(),
                hostname: None,
            },
        );
        // An unschedulable job pod is still pending, not finished.
        let finished = r.node.is_some();
        let pod_ago = r.ago;
        let duration = self.d.range(20, 600).min(pod_ago);
        let mut status = Obj::new();
        let mut conds = Vec::new();
        if finished && succeed {
            conds.push(json!({"type": "SuccessCriteriaMet", "status": "True", "lastProbeTime": ts(pod_ago - duration), "lastTransitionTime": ts(pod_ago - duration)}));
            conds.push(json!({"type": "Complete", "status": "True", "lastProbeTime": ts(pod_ago - duration), "lastTransitionTime": ts(pod_ago - duration)}));
        } else if finished {
            conds.push(json!({"type": "FailureTarget", "status": "True", "reason": "BackoffLimitExceeded", "message": "Job has reached the specified backoff limit", "lastProbeTime": ts(pod_ago - duration), "lastTransitionTime": ts(pod_ago - duration)}));
            conds.push(json!({"type": "Failed", "status": "True", "reason": "BackoffLimitExceeded", "message": "Job has reached the specified backoff limit", "lastProbeTime": ts(pod_ago - duration), "lastTransitionTime": ts(pod_ago - duration)}));
        }
        if !conds.is_empty() {
            status.insert("conditions".into(), Value::Array(conds));
        }
        status.insert("startTime".into(), ts(pod_ago).into());
        if finished && succeed {
            status.insert("completionTime".into(), ts(pod_ago - duration).into());
            status.insert("succeeded".into(), 1.into());
        } else if finished {
            status.insert("failed".into(), 1.into());
        } else {
            status.insert("active".into(), 1.into());
        }
        status.insert("terminating".into(), 0.into());
        status.insert("ready".into(), 0.into());
        status.insert("uncountedTerminatedPods".into(), json!({}));
        let mut labels = w.labels.clone();
        for (k, v) in &job_labels {
            labels.insert((*k).to_string(), (*v).into());
        }
        let meta = Meta {
            name: w.name,
            namespace: Some(w.ns),
            uid: &uid,
            ago: w.ago,
            labels,
            annotations: super::kv(&[("batch.kubernetes.io/job-tracking", "")]),
            owner,
        }
        .build();
        let extra: Vec<(&str, &str)> = job_labels.to_vec();
        let job = object(
            "batch/v1",
            "Job",
            meta,
            Some(json!({
                "parallelism": 1,
                "completions": 1,
                "backoffLimit": backoff_limit,
                "selector": {"matchLabels": sel},
                "manualSelector": false,
                "template": t.to_value(&extra),
                "completionMode": "NonIndexed",
                "suspend": false,
                "podReplacementPolicy": "TerminatingOrFailed",
            })),
            Some(Value::Object(status)),
        );
        if finished && !succeed {
            let inv = involved("batch/v1", "Job", Some(w.ns), w.name, &uid, None);
            let ago = (pod_ago - duration).max(0);
            self.event(
                w.ns,
                inv,
                true,
                "BackoffLimitExceeded",
                "Job has reached the specified backoff limit".into(),
                1,
                ago,
                "job-controller",
                None,
            );
        }
        (vec![job, pod], r)
    }

    /// A standalone Job that ran one pod.
    pub(crate) fn standalone_job(&mut self, w: &Wl<'_>, t: &Template, succeed: bool) -> PodRef {
        let (objs, r) = self.job(w, t, succeed, None, 6);
        self.emit_all(objs);
        r
    }

    /// A CronJob with one Job (and pod) per entry of `outcomes`, newest first.
    pub(crate) fn cronjob(
        &mut self,
        w: &Wl<'_>,
        t: &Template,
        outcomes: &[bool],
        schedule: (&str, i64),
    ) -> Vec<PodRef> {
        let uid = self.d.uid();
        let (expr, every) = schedule;
        let owner = owner_ref("batch/v1", "CronJob", w.name, &uid);
        let last_slot = (BASE_EPOCH / every) * every;
        let mut objs = Vec::new();
        let mut refs = Vec::new();
        let mut last_success = None;
        for (i, ok) in outcomes.iter().enumerate() {
            let at = last_slot - every * i as i64;
            let ago = (BASE_EPOCH - at).max(1);
            let name = format!("{}-{}", w.name, at / 60);
            let jw = Wl {
                ns: w.ns,
                name: &name,
                ago,
                labels: Obj::new(),
                selector: Obj::new(),
            };
            let (o, r) = self.job(&jw, t, *ok, Some(owner.clone()), 0);
            if *ok && last_success.is_none() && r.node.is_some() {
                last_success = Some(at + 60);
            }
            objs.extend(o);
            refs.push(r);
        }
        let mut status = Obj::new();
        if !outcomes.is_empty() {
            status.insert("lastScheduleTime".into(), ts_abs(last_slot).into());
        }
        if let Some(s) = last_success {
            status.insert("lastSuccessfulTime".into(), ts_abs(s).into());
        }
        let meta = Meta {
            name: w.name,
            namespace: Some(w.ns),
            uid: &uid,
            ago: w.ago,
            labels: w.labels.clone(),
            annotations: Obj::new(),
            owner: None,
        }
        .build();
        self.emit(object(
            "batch/v1",
            "CronJob",
            meta,
            Some(json!({
                "schedule": expr,
                "concurrencyPolicy": "Forbid",
                "suspend": false,
                "jobTemplate": {"metadata": {}, "spec": {"backoffLimit": 0, "template": t.to_value(&[])}},
                "successfulJobsHistoryLimit": 3,
                "failedJobsHistoryLimit": 1,
            })),
            Some(Value::Object(status)),
        ));
        self.emit_all(objs);
        refs
    }

    /// A pod nobody owns (a debug pod someone left behind).
    pub(crate) fn bare_pod(&mut self, ns: &str, name: &str, t: &Template, ago: i64) -> PodRef {
        let (p, r) = self.pod(
            t,
            PodArgs {
                ns,
                name: name.to_string(),
                generate_name: None,
                labels: Vec::new(),
                owner: None,
                placement: Placement::Schedule,
                life: Life::Service,
                ago,
                extra_volumes: Vec::new(),
                hostname: None,
            },
        );
        self.emit(p);
        r
    }

    /// An autoscaler targeting Deployment `target`, which runs `replicas` pods.
    pub(crate) fn hpa(&mut self, ns: &str, target: &str, replicas: usize, ago: i64) {
        let uid = self.d.uid();
        let min = (replicas / 2).max(1);
        let max = (replicas * 3).max(min + 1);
        let util = self.d.range(20, 95);
        let last_scale = self.d.range(600, ago.max(601));
        let meta = Meta {
            name: target,
            namespace: Some(ns),
            uid: &uid,
            ago,
            labels: Obj::new(),
            annotations: Obj::new(),
            owner: None,
        }
        .build();
        self.emit(object(
            "autoscaling/v2",
            "HorizontalPodAutoscaler",
            meta,
            Some(json!({
                "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": target},
                "minReplicas": min,
                "maxReplicas": max,
                "metrics": [{"type": "Resource", "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": 70}}}],
            })),
            Some(json!({
                "lastScaleTime": ts(last_scale),
                "currentReplicas": replicas,
                "desiredReplicas": replicas.max(min),
                "currentMetrics": [{"type": "Resource", "resource": {"name": "cpu", "current": {"averageUtilization": util, "averageValue": format!("{}m", util * 3)}}}],
                "conditions": [
                    {"type": "AbleToScale", "status": "True", "lastTransitionTime": ts(ago), "reason": "ReadyForNewScale", "message": "recommended size matches current size"},
                    {"type": "ScalingActive", "status": "True", "lastTransitionTime": ts(ago), "reason": "ValidMetricFound", "message": "the HPA was able to successfully calculate a replica count from cpu resource utilization (percentage of request)"},
                    {"type": "ScalingLimited", "status": "False", "lastTransitionTime": ts(ago), "reason": "DesiredWithinRange", "message": "the desired count is within the acceptable range"},
                ],
            })),
        ));
    }

    /// A PodDisruptionBudget over the pods `selector` matches (`pods`).
    pub(crate) fn pdb(&mut self, ns: &str, name: &str, selector: &Obj, pods: &[PodRef], ago: i64) {
        let uid = self.d.uid();
        let (expected, healthy) = count_ready(pods);
        let (rule_key, rule_val, desired) = if self.d.chance(0.5) {
            ("minAvailable", json!(1), 1)
        } else {
            ("maxUnavailable", json!(1), expected.saturating_sub(1))
        };
        let allowed = healthy.saturating_sub(desired);
        let meta = Meta {
            name,
            namespace: Some(ns),
            uid: &uid,
            ago,
            labels: Obj::new(),
            annotations: Obj::new(),
            owner: None,
        }
        .build();
        let mut spec = Obj::new();
        spec.insert(rule_key.into(), rule_val);
        spec.insert("selector".into(), json!({"matchLabels": selector}));
        self.emit(object(
            "policy/v1",
            "PodDisruptionBudget",
            meta,
            Some(Value::Object(spec)),
            Some(json!({
                "observedGeneration": 1,
                "disruptionsAllowed": allowed,
                "currentHealthy": healthy,
                "desiredHealthy": desired,
                "expectedPods": expected,
                "conditions": [{
                    "type": "DisruptionAllowed",
                    "status": if allowed > 0 { "True" } else { "False" },
                    "reason": if allowed > 0 { "SufficientPods" } else { "InsufficientPods" },
                    "message": "",
                    "observedGeneration": 1,
                    "lastTransitionTime": ts(ago),
                }],
            })),
        ));
    }

    /// A quota sized above what the namespace already uses.
    pub(crate) fn resource_quota(&mut self, ns: &NsState, cpu_m: u64, mem: u64, pods: usize) {
        let uid = self.d.uid();
        let gi = 1u64 << 30;
        let hard_cpu = (cpu_m * 3 / 2).div_ceil(1000).max(2);
        let hard_mem = (mem * 3 / 2).div_ceil(gi).max(4);
        let hard_pods = (pods * 2).max(10);
        let hard = json!({
            "pods": hard_pods.to_string(),
            "requests.cpu": hard_cpu.to_string(),
            "requests.memory": format!("{hard_mem}Gi"),
        });
        let ago = self.d.range(3600, ns.ago.max(3601));
        let meta = Meta {
            name: "compute-quota",
            namespace: Some(&ns.name),
            uid: &uid,
            ago,
            labels: Obj::new(),
            annotations: Obj::new(),
            owner: None,
        }
        .build();
        self.emit(object(
            "v1",
            "ResourceQuota",
            meta,
            Some(json!({"hard": hard})),
            Some(json!({
                "hard": hard,
                "used": {
                    "pods": pods.to_string(),
                    "requests.cpu": format!("{cpu_m}m"),
                    "requests.memory": mem.to_string(),
                },
            })),
        ));
    }

    pub(crate) fn limit_range(&mut self, ns: &NsState) {
        let uid = self.d.uid();
        let meta = Meta {
            name: "default-limits",
            namespace: Some(&ns.name),
            uid: &uid,
            ago: ns.ago,
            labels: Obj::new(),
            annotations: Obj::new(),
            owner: None,
        }
        .build();
        self.emit(object(
            "v1",
            "LimitRange",
            meta,
            Some(json!({"limits": [{
                "type": "Container",
                "default": {"cpu": "500m", "memory": "512Mi"},
                "defaultRequest": {"cpu": "100m", "memory": "128Mi"},
            }]})),
            None,
        ));
    }
}

fn set_generation(meta: &mut Value, generation: i64) {
    if let Some(m) = meta.as_object_mut() {
        let mut ordered = Obj::new();
        for (k, v) in std::mem::take(m) {
            let is_uid = k == "uid";
            ordered.insert(k, v);
            if is_uid {
                ordered.insert("generation".into(), generation.into());
            }
        }
        *m = ordered;
    }
}
