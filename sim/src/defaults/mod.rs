//! What the real kube-apiserver does to an object before it stores it, so
//! that what the sim serves looks like what a real server serves.
//!
//! Two layers, as in the real server:
//!
//! - [`apply`]: the defaulting the API machinery runs whenever it decodes
//!   a built-in object (every create, update and patch): the
//!   `SetDefaults_*` functions of `k8s.io/kubernetes/pkg/apis/*/v1`, the
//!   declarative `+default` markers, canonical resource quantities, and the
//!   fields Go's JSON encoding always writes (`resources: {}`,
//!   `status: {loadBalancer: {}}`, zero counters without `omitempty`).
//!   The generator runs its output through it too, so generated objects
//!   are stored the way a real server would store them.
//! - [`prepare_for_create`]: what a resource's registry strategy adds on
//!   create (`metadata.generation`, a Job's selector, a new pod's phase
//!   and QoS class, ...). ClusterIP and NodePort allocation needs the
//!   store's state and lives there.
//!
//! Modelled on Kubernetes v1.33 (the release the sim reports by default):
//! beta features that are off there (the StatefulSet `maxUnavailable`
//! default, HTTP probe `protocol`) are off here. Admission plugins are not
//! defaulting and are not modelled here (the store keeps its own
//! ServiceAccount default for pods).

mod quantity;

use base64::Engine;
use serde_json::{Map, Value, json};

pub(crate) use quantity::{canonical, canonicalize};

type Obj = Map<String, Value>;

/// The API group of an `apiVersion` (`apps/v1` → `apps`, `v1` → ``).
fn group_of(api_version: &str) -> &str {
    api_version.rsplit_once('/').map_or("", |(g, _)| g)
}

fn group_kind(obj: &Value) -> (String, String) {
    let api_version = obj.get("apiVersion").and_then(Value::as_str).unwrap_or("");
    let kind = obj.get("kind").and_then(Value::as_str).unwrap_or("");
    (group_of(api_version).to_string(), kind.to_string())
}

/// Whether a value counts as unset for a Go pointer or slice field.
fn unset(v: Option<&Value>) -> bool {
    matches!(v, None | Some(Value::Null))
}

/// Whether a value counts as unset for a Go string field.
fn unset_str(v: Option<&Value>) -> bool {
    matches!(v, None | Some(Value::Null)) || v.and_then(Value::as_str) == Some("")
}

fn default_val(m: &mut Obj, key: &str, v: Value) {
    if unset(m.get(key)) {
        m.insert(key.to_string(), v);
    }
}

fn default_str(m: &mut Obj, key: &str, v: &str) {
    if unset_str(m.get(key)) {
        m.insert(key.to_string(), Value::from(v));
    }
}

/// The object at `key`, created (`{}`) when absent or null.
fn child<'a>(m: &'a mut Obj, key: &str) -> Option<&'a mut Obj> {
    if unset(m.get(key)) {
        m.insert(key.to_string(), json!({}));
    }
    m.get_mut(key)?.as_object_mut()
}

/// The object at `key`, if there is one.
fn existing<'a>(m: &'a mut Obj, key: &str) -> Option<&'a mut Obj> {
    m.get_mut(key)?.as_object_mut()
}

/// Every object in the array at `key`.
fn each<'a>(m: &'a mut Obj, key: &str) -> impl Iterator<Item = &'a mut Obj> {
    m.get_mut(key)
        .and_then(Value::as_array_mut)
        .into_iter()
        .flatten()
        .filter_map(Value::as_object_mut)
}

/// Canonical quantities in the map at `key` (a `ResourceList` when `in_list`).
fn quantities(m: &mut Obj, key: &str, in_list: bool) {
    if let Some(map) = existing(m, key) {
        for v in map.values_mut() {
            canonicalize(v, in_list);
        }
    }
}

fn quantity(m: &mut Obj, key: &str) {
    if let Some(v) = m.get_mut(key) {
        canonicalize(v, false);
    }
}

/// Defaulting of a built-in object as the API machinery decodes it. Objects
/// of other kinds (custom resources) are stored as sent.
pub(crate) fn apply(obj: &mut Value) {
    let (group, kind) = group_kind(obj);
    let Some(o) = obj.as_object_mut() else {
        return;
    };
    match (group.as_str(), kind.as_str()) {
        ("", "Pod") => pod(o),
        ("", "PodTemplate") => {
            if let Some(t) = existing(o, "template") {
                pod_template(t);
            }
        }
        ("", "ReplicationController") => replication_controller(o),
        ("", "Service") => service(o),
        ("", "Endpoints") => {
            for subset in each(o, "subsets") {
                for port in each(subset, "ports") {
                    default_str(port, "protocol", "TCP");
                }
            }
        }
        ("", "Namespace") => namespace(o),
        ("", "Secret") => secret(o),
        ("", "PersistentVolume") => persistent_volume(o),
        ("", "PersistentVolumeClaim") => persistent_volume_claim(o),
        ("", "Node") => node(o),
        ("", "LimitRange") => limit_range(o),
        ("", "ResourceQuota") => {
            if let Some(spec) = existing(o, "spec") {
                quantities(spec, "hard", true);
            }
            if let Some(status) = child(o, "status") {
                quantities(status, "hard", true);
                quantities(status, "used", true);
            }
        }
        ("", "Event") => {
            default_val(o, "eventTime", Value::Null);
            default_val(o, "firstTimestamp", Value::Null);
            default_val(o, "lastTimestamp", Value::Null);
            default_val(o, "reportingComponent", json!(""));
            default_val(o, "reportingInstance", json!(""));
            child(o, "source");
            child(o, "involvedObject");
        }
        ("apps", "Deployment") => deployment(o),
        ("apps", "StatefulSet") => stateful_set(o),
        ("apps", "DaemonSet") => daemon_set(o),
        ("apps", "ReplicaSet") => {
            if let Some(spec) = existing(o, "spec") {
                default_val(spec, "replicas", json!(1));
                if let Some(t) = existing(spec, "template") {
                    pod_template(t);
                }
            }
            if let Some(status) = child(o, "status") {
                default_val(status, "replicas", json!(0));
            }
        }
        ("batch", "Job") => job(o),
        ("batch", "CronJob") => cron_job(o),
        ("discovery.k8s.io", "EndpointSlice") => {
            for port in each(o, "ports") {
                default_val(port, "name", json!(""));
                default_val(port, "protocol", json!("TCP"));
            }
            for endpoint in each(o, "endpoints") {
                child(endpoint, "conditions");
            }
        }
        ("networking.k8s.io", "NetworkPolicy") => network_policy(o),
        ("networking.k8s.io", "Ingress") => {
            if let Some(status) = child(o, "status") {
                child(status, "loadBalancer");
            }
        }
        ("networking.k8s.io", "IngressClass") => {
            if let Some(p) = existing(o, "spec").and_then(|s| existing(s, "parameters")) {
                default_val(p, "scope", json!("Cluster"));
            }
        }
        ("autoscaling", "HorizontalPodAutoscaler") => hpa(o),
        ("policy", "PodDisruptionBudget") => {
            if let Some(status) = child(o, "status") {
                for k in [
                    "currentHealthy",
                    "desiredHealthy",
                    "disruptionsAllowed",
                    "expectedPods",
                ] {
                    default_val(status, k, json!(0));
                }
            }
        }
        ("storage.k8s.io", "StorageClass") => {
            default_val(o, "reclaimPolicy", json!("Delete"));
            default_val(o, "volumeBindingMode", json!("Immediate"));
        }
        ("rbac.authorization.k8s.io", "RoleBinding" | "ClusterRoleBinding") => {
            if let Some(r) = existing(o, "roleRef") {
                default_str(r, "apiGroup", "rbac.authorization.k8s.io");
            }
            for s in each(o, "subjects") {
                if unset_str(s.get("apiGroup")) {
                    match s.get("kind").and_then(Value::as_str) {
                        Some("User" | "Group") => {
                            s.insert("apiGroup".into(), json!("rbac.authorization.k8s.io"));
                        }
                        Some("ServiceAccount") => {
                            s.remove("apiGroup");
                        }
                        _ => {}
                    }
                }
            }
        }
        ("scheduling.k8s.io", "PriorityClass") => {
            default_val(o, "preemptionPolicy", json!("PreemptLowerPriority"));
        }
        _ => {}
    }
}

/// Kinds whose registry strategy keeps `metadata.generation` (set to 1 on
/// create, bumped when the spec changes); custom resources always do.
pub(crate) fn tracks_generation(group: &str, kind: &str) -> bool {
    matches!(
        (group, kind),
        ("", "Pod" | "PodTemplate" | "ReplicationController")
            | (
                "apps",
                "Deployment" | "StatefulSet" | "DaemonSet" | "ReplicaSet"
            )
            | ("batch", "Job" | "CronJob")
            | (
                "networking.k8s.io",
                "Ingress" | "IngressClass" | "NetworkPolicy"
            )
            | ("discovery.k8s.io", "EndpointSlice")
            | ("policy", "PodDisruptionBudget")
            | ("autoscaling", "HorizontalPodAutoscaler")
            | ("scheduling.k8s.io", "PriorityClass")
            | ("storage.k8s.io", "CSIDriver")
            | (
                "flowcontrol.apiserver.k8s.io",
                "FlowSchema" | "PriorityLevelConfiguration"
            )
            | (
                "admissionregistration.k8s.io",
                "ValidatingWebhookConfiguration"
                    | "MutatingWebhookConfiguration"
                    | "ValidatingAdmissionPolicy"
                    | "ValidatingAdmissionPolicyBinding"
                    | "MutatingAdmissionPolicy"
                    | "MutatingAdmissionPolicyBinding"
            )
            | (
                "resource.k8s.io",
                "DeviceClass" | "ResourceSlice" | "DeviceTaintRule"
            )
            | ("apiextensions.k8s.io", "CustomResourceDefinition")
    )
}

/// What a registry strategy adds to a new object (after [`apply`], before
/// storing); `uid` is the new object's uid, `now` the creation time.
///
/// The real server drops a status sent with a create; the sim keeps it (a
/// test sets up an object's state in one call, as a create followed by a
/// write to the status subresource would).
pub(crate) fn prepare_for_create(obj: &mut Value, custom: bool, uid: &str, now: &str) {
    let (group, kind) = group_kind(obj);
    let Some(o) = obj.as_object_mut() else {
        return;
    };
    if let Some(m) = child(o, "metadata") {
        if custom || tracks_generation(&group, &kind) {
            m.insert("generation".into(), json!(1));
        } else {
            m.remove("generation");
        }
    }
    match (group.as_str(), kind.as_str()) {
        ("", "Pod") => {
            // A status sent with the pod is kept: the sim lets a client
            // create a pod and write its status in one call.
            let sent = o
                .get("status")
                .and_then(Value::as_object)
                .is_some_and(|s| !s.is_empty());
            if !sent {
                let qos = qos_class(o.get("spec"));
                o.insert(
                    "status".into(),
                    json!({"phase": "Pending", "qosClass": qos}),
                );
            }
        }
        ("", "Namespace") => {
            // The strategy starts every namespace Active and makes sure the
            // namespace controller's finalizer is there.
            o.insert("status".into(), json!({"phase": "Active"}));
            if let Some(spec) = child(o, "spec") {
                let finalizers = spec.entry("finalizers").or_insert_with(|| json!([]));
                if !finalizers.is_array() {
                    *finalizers = json!([]);
                }
                if let Some(list) = finalizers.as_array_mut()
                    && !list.iter().any(|f| f == "kubernetes")
                {
                    list.push(json!("kubernetes"));
                }
            }
        }
        ("", "PersistentVolume") => {
            if let Some(status) = child(o, "status") {
                default_val(status, "lastPhaseTransitionTime", json!(now));
            }
        }
        ("apps", "DaemonSet") => {
            if let Some(ann) = child(o, "metadata").and_then(|m| child(m, "annotations")) {
                ann.insert(
                    "deprecated.daemonset.template.generation".into(),
                    json!("1"),
                );
            }
        }
        ("batch", "Job") => job_selector(o, uid),
        _ => {}
    }
}

/// The pod QoS class from its (defaulted) containers, as
/// `qos.GetPodQOS` computes it: Guaranteed when every container limits CPU
/// and memory at its requests, BestEffort when none requests or limits
/// anything, Burstable otherwise.
pub(crate) fn qos_class(spec: Option<&Value>) -> &'static str {
    let containers: Vec<&Value> = ["initContainers", "containers"]
        .iter()
        .filter_map(|k| spec.and_then(|s| s.get(*k)).and_then(Value::as_array))
        .flatten()
        .collect();
    let list = |c: &Value, which: &str| -> Vec<(String, String)> {
        c.get("resources")
            .and_then(|r| r.get(which))
            .and_then(Value::as_object)
            .map(|m| {
                m.iter()
                    .filter(|(k, _)| matches!(k.as_str(), "cpu" | "memory"))
                    .filter_map(|(k, v)| {
                        let q = match v {
                            Value::String(s) => canonical(s)?,
                            Value::Number(n) => canonical(&n.to_string())?,
                            _ => return None,
                        };
                        (q != "0").then(|| (k.clone(), q))
                    })
                    .collect()
            })
            .unwrap_or_default()
    };
    let mut any = false;
    let mut guaranteed = true;
    for c in &containers {
        let requests = list(c, "requests");
        let limits = list(c, "limits");
        any |= !requests.is_empty() || !limits.is_empty();
        for r in ["cpu", "memory"] {
            let limit = limits.iter().find(|(k, _)| k == r);
            let request = requests.iter().find(|(k, _)| k == r);
            match (request, limit) {
                (Some(a), Some(b)) if a.1 == b.1 => {}
                (None, Some(_)) => {}
                _ => guaranteed = false,
            }
        }
    }
    match (any, guaranteed) {
        (false, _) => "BestEffort",
        (true, true) => "Guaranteed",
        (true, false) => "Burstable",
    }
}

/// `generateSelector` of the Job strategy: unless `manualSelector`, the
/// selector is the Job's uid and the template carries the matching labels.
fn job_selector(o: &mut Obj, uid: &str) {
    let name = o
        .get("metadata")
        .and_then(|m| m.get("name"))
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    let Some(spec) = existing(o, "spec") else {
        return;
    };
    if spec.get("manualSelector").and_then(Value::as_bool) == Some(true) {
        return;
    }
    let labels = json!({
        "batch.kubernetes.io/controller-uid": uid,
        "batch.kubernetes.io/job-name": name,
        "controller-uid": uid,
        "job-name": name,
    });
    spec.insert(
        "selector".into(),
        json!({"matchLabels": {"batch.kubernetes.io/controller-uid": uid}}),
    );
    let Some(t) = child(spec, "template") else {
        return;
    };
    let Some(tl) = child(t, "metadata").and_then(|m| child(m, "labels")) else {
        return;
    };
    if let Some(l) = labels.as_object() {
        for (k, v) in l {
            tl.entry(k.clone()).or_insert_with(|| v.clone());
        }
    }
    let template_labels = tl.clone();
    // SetDefaults_Job copied the template's labels to an unlabelled Job
    // before the selector labels existed; the strategy copies them again.
    if let Some(m) = child(o, "metadata") {
        let unlabelled = m
            .get("labels")
            .and_then(Value::as_object)
            .is_none_or(Map::is_empty);
        if let Some(jl) = child(m, "labels")
            && unlabelled
        {
            *jl = template_labels;
        }
    }
}

fn pod(o: &mut Obj) {
    if let Some(spec) = existing(o, "spec") {
        pod_spec(spec);
        // SetDefaults_Pod: not applied to templates.
        for key in ["containers", "initContainers"] {
            for c in each(spec, key) {
                let Some(limits) = c
                    .get("resources")
                    .and_then(|r| r.get("limits"))
                    .and_then(Value::as_object)
                    .cloned()
                else {
                    continue;
                };
                if let Some(requests) = child(c, "resources").and_then(|r| child(r, "requests")) {
                    for (k, v) in limits {
                        requests.entry(k).or_insert(v);
                    }
                }
            }
        }
        default_val(spec, "enableServiceLinks", json!(true));
        if spec.get("hostNetwork").and_then(Value::as_bool) == Some(true) {
            for key in ["containers", "initContainers"] {
                for c in each(spec, key) {
                    for p in each(c, "ports") {
                        let host = p.get("hostPort").and_then(Value::as_i64).unwrap_or(0);
                        if host == 0
                            && let Some(port) = p.get("containerPort").cloned()
                        {
                            p.insert("hostPort".into(), port);
                        }
                    }
                }
            }
        }
    }
    if let Some(status) = existing(o, "status") {
        let ip = status.get("podIP").and_then(Value::as_str).unwrap_or("");
        let first = status
            .get("podIPs")
            .and_then(Value::as_array)
            .and_then(|a| a.first())
            .and_then(|p| p.get("ip"))
            .and_then(Value::as_str)
            .map(str::to_string);
        match (ip.is_empty(), first) {
            (false, None) => {
                let ips = json!([{"ip": ip}]);
                status.insert("podIPs".into(), ips);
            }
            (true, Some(f)) => {
                status.insert("podIP".into(), json!(f));
            }
            (false, Some(f)) if f != ip => {
                let ips = json!([{"ip": ip}]);
                status.insert("podIPs".into(), ips);
            }
            _ => {}
        }
        for key in [
            "containerStatuses",
            "initContainerStatuses",
            "ephemeralContainerStatuses",
        ] {
            for cs in each(status, key) {
                quantities(cs, "allocatedResources", true);
                if let Some(r) = existing(cs, "resources") {
                    quantities(r, "requests", true);
                    quantities(r, "limits", true);
                }
            }
        }
    }
}

/// A PodTemplateSpec: `metadata` is always written, the spec defaulted.
fn pod_template(t: &mut Obj) {
    child(t, "metadata");
    if let Some(spec) = existing(t, "spec") {
        pod_spec(spec);
    }
}

fn pod_spec(spec: &mut Obj) {
    let name = spec
        .get("serviceAccountName")
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .or_else(|| spec.get("serviceAccount").and_then(Value::as_str))
        .unwrap_or("")
        .to_string();
    if name.is_empty() {
        spec.remove("serviceAccount");
    } else {
        spec.insert("serviceAccountName".into(), json!(name));
        spec.insert("serviceAccount".into(), json!(name));
    }
    default_str(spec, "dnsPolicy", "ClusterFirst");
    default_str(spec, "restartPolicy", "Always");
    default_val(spec, "securityContext", json!({}));
    default_val(spec, "terminationGracePeriodSeconds", json!(30));
    default_str(spec, "schedulerName", "default-scheduler");
    for v in each(spec, "volumes") {
        volume(v);
    }
    for key in ["containers", "initContainers", "ephemeralContainers"] {
        for c in each(spec, key) {
            container(c);
        }
    }
    if let Some(r) = existing(spec, "resources") {
        quantities(r, "requests", true);
        quantities(r, "limits", true);
    }
    quantities(spec, "overhead", true);
}

fn volume(v: &mut Obj) {
    if v.keys().all(|k| k == "name") {
        v.insert("emptyDir".into(), json!({}));
    }
    if let Some(h) = existing(v, "hostPath") {
        default_val(h, "type", json!(""));
    }
    for key in ["secret", "configMap", "downwardAPI", "projected"] {
        if let Some(s) = existing(v, key) {
            default_val(s, "defaultMode", json!(420));
        }
    }
    if let Some(d) = existing(v, "downwardAPI") {
        downward_items(d);
    }
    if let Some(e) = existing(v, "emptyDir") {
        quantity(e, "sizeLimit");
    }
    if let Some(p) = existing(v, "projected") {
        for s in each(p, "sources") {
            if let Some(d) = existing(s, "downwardAPI") {
                downward_items(d);
            }
            if let Some(t) = existing(s, "serviceAccountToken") {
                default_val(t, "expirationSeconds", json!(3600));
            }
        }
    }
    if let Some(spec) = existing(v, "ephemeral")
        .and_then(|e| existing(e, "volumeClaimTemplate"))
        .and_then(|t| existing(t, "spec"))
    {
        claim_spec(spec);
    }
}

fn downward_items(d: &mut Obj) {
    for item in each(d, "items") {
        field_refs(item);
    }
}

/// `fieldRef.apiVersion` defaults to v1; `resourceFieldRef.divisor` is a
/// Quantity that is always written (`"0"` when unset).
fn field_refs(m: &mut Obj) {
    if let Some(f) = existing(m, "fieldRef") {
        default_str(f, "apiVersion", "v1");
    }
    if let Some(r) = existing(m, "resourceFieldRef") {
        default_val(r, "divisor", json!("0"));
        quantity(r, "divisor");
    }
}

fn container(c: &mut Obj) {
    if unset_str(c.get("imagePullPolicy")) {
        let image = c.get("image").and_then(Value::as_str).unwrap_or("");
        c.insert("imagePullPolicy".into(), json!(pull_policy(image)));
    }
    default_str(c, "terminationMessagePath", "/dev/termination-log");
    default_str(c, "terminationMessagePolicy", "File");
    if let Some(r) = child(c, "resources") {
        quantities(r, "requests", true);
        quantities(r, "limits", true);
    }
    for p in each(c, "ports") {
        default_str(p, "protocol", "TCP");
    }
    for e in each(c, "env") {
        if let Some(from) = existing(e, "valueFrom") {
            field_refs(from);
            if let Some(f) = existing(from, "fileKeyRef") {
                default_val(f, "optional", json!(false));
            }
        }
    }
    for key in ["livenessProbe", "readinessProbe", "startupProbe"] {
        if let Some(p) = existing(c, key) {
            default_val(p, "timeoutSeconds", json!(1));
            default_val(p, "periodSeconds", json!(10));
            default_val(p, "successThreshold", json!(1));
            default_val(p, "failureThreshold", json!(3));
            handler(p);
            if let Some(g) = existing(p, "grpc") {
                default_val(g, "service", json!(""));
            }
        }
    }
    if let Some(l) = existing(c, "lifecycle") {
        for key in ["postStart", "preStop"] {
            if let Some(h) = existing(l, key) {
                handler(h);
            }
        }
    }
}

fn handler(h: &mut Obj) {
    if let Some(g) = existing(h, "httpGet") {
        default_str(g, "path", "/");
        default_str(g, "scheme", "HTTP");
    }
}

/// `Always` for `:latest` (or no tag and no digest), else `IfNotPresent`,
/// as `SetDefaults_Container` decides from `parsers.ParseImageName`.
pub(crate) fn pull_policy(image: &str) -> &'static str {
    let (name, digest) = match image.split_once('@') {
        Some((n, d)) => (n, Some(d)),
        None => (image, None),
    };
    let last = name.rsplit('/').next().unwrap_or(name);
    let tag = last.split_once(':').map(|(_, t)| t);
    match (tag, digest) {
        (Some("latest"), _) | (None, None) => "Always",
        _ => "IfNotPresent",
    }
}

fn replication_controller(o: &mut Obj) {
    let template_labels = o
        .get("spec")
        .and_then(|s| s.get("template"))
        .and_then(|t| t.get("metadata"))
        .and_then(|m| m.get("labels"))
        .filter(|l| l.is_object())
        .cloned();
    if let Some(spec) = existing(o, "spec") {
        default_val(spec, "replicas", json!(1));
        if let Some(labels) = &template_labels {
            let empty = spec
                .get("selector")
                .and_then(Value::as_object)
                .is_none_or(Map::is_empty);
            if empty {
                spec.insert("selector".into(), labels.clone());
            }
        }
        if let Some(t) = existing(spec, "template") {
            pod_template(t);
        }
    }
    labels_from_template(o, template_labels);
    if let Some(status) = child(o, "status") {
        default_val(status, "replicas", json!(0));
    }
}

fn service(o: &mut Obj) {
    if let Some(spec) = child(o, "spec") {
        default_str(spec, "sessionAffinity", "None");
        match spec.get("sessionAffinity").and_then(Value::as_str) {
            Some("None") => {
                spec.remove("sessionAffinityConfig");
            }
            Some("ClientIP") => {
                let has_timeout = spec
                    .get("sessionAffinityConfig")
                    .and_then(|c| c.get("clientIP"))
                    .and_then(|c| c.get("timeoutSeconds"))
                    .is_some_and(|t| !t.is_null());
                if !has_timeout {
                    spec.insert(
                        "sessionAffinityConfig".into(),
                        json!({"clientIP": {"timeoutSeconds": 10800}}),
                    );
                }
            }
            _ => {}
        }
        default_str(spec, "type", "ClusterIP");
        for p in each(spec, "ports") {
            default_str(p, "protocol", "TCP");
            let target_unset = match p.get("targetPort") {
                None | Some(Value::Null) => true,
                Some(Value::Number(n)) => n.as_i64() == Some(0),
                Some(Value::String(s)) => s.is_empty(),
                _ => false,
            };
            if target_unset && let Some(port) = p.get("port").cloned() {
                p.insert("targetPort".into(), port);
            }
        }
        let ty = spec
            .get("type")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string();
        let external_ips = spec
            .get("externalIPs")
            .and_then(Value::as_array)
            .is_some_and(|a| !a.is_empty());
        let externally_accessible =
            ty == "LoadBalancer" || ty == "NodePort" || (ty == "ClusterIP" && external_ips);
        if externally_accessible {
            default_str(spec, "externalTrafficPolicy", "Cluster");
        }
        if matches!(ty.as_str(), "NodePort" | "LoadBalancer" | "ClusterIP") {
            default_val(spec, "internalTrafficPolicy", json!("Cluster"));
        }
        if ty == "LoadBalancer" {
            default_val(spec, "allocateLoadBalancerNodePorts", json!(true));
        }
    }
    let lb = o
        .get("spec")
        .and_then(|s| s.get("type"))
        .and_then(Value::as_str)
        == Some("LoadBalancer");
    if let Some(status) = child(o, "status")
        && let Some(balancer) = child(status, "loadBalancer")
        && lb
    {
        for ing in each(balancer, "ingress") {
            let has_ip = ing
                .get("ip")
                .and_then(Value::as_str)
                .is_some_and(|s| !s.is_empty());
            if has_ip {
                default_val(ing, "ipMode", json!("VIP"));
            }
        }
    }
}

fn namespace(o: &mut Obj) {
    let name = o
        .get("metadata")
        .and_then(|m| m.get("name"))
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    if !name.is_empty()
        && let Some(labels) = child(o, "metadata").and_then(|m| child(m, "labels"))
    {
        labels.insert("kubernetes.io/metadata.name".into(), json!(name));
    }
    if let Some(status) = child(o, "status") {
        default_str(status, "phase", "Active");
    }
}

fn secret(o: &mut Obj) {
    default_str(o, "type", "Opaque");
    // stringData is write-only: the server merges it into data.
    if let Some(Value::Object(strings)) = o.remove("stringData") {
        let engine = base64::engine::general_purpose::STANDARD;
        if let Some(data) = child(o, "data") {
            for (k, v) in strings {
                let text = v.as_str().unwrap_or_default();
                data.insert(k, json!(engine.encode(text)));
            }
        }
    }
}

fn persistent_volume(o: &mut Obj) {
    if let Some(spec) = child(o, "spec") {
        default_str(spec, "persistentVolumeReclaimPolicy", "Retain");
        default_val(spec, "volumeMode", json!("Filesystem"));
        quantities(spec, "capacity", true);
        if let Some(h) = existing(spec, "hostPath") {
            default_val(h, "type", json!(""));
        }
    }
    if let Some(status) = child(o, "status") {
        default_str(status, "phase", "Pending");
    }
}

fn claim_spec(spec: &mut Obj) {
    default_val(spec, "volumeMode", json!("Filesystem"));
    if let Some(r) = existing(spec, "resources") {
        quantities(r, "requests", true);
        quantities(r, "limits", true);
    }
}

fn persistent_volume_claim(o: &mut Obj) {
    if let Some(spec) = child(o, "spec") {
        claim_spec(spec);
    }
    if let Some(status) = child(o, "status") {
        default_str(status, "phase", "Pending");
        quantities(status, "capacity", true);
        quantities(status, "allocatedResources", true);
    }
}

fn node(o: &mut Obj) {
    if let Some(status) = existing(o, "status") {
        if unset(status.get("allocatable"))
            && let Some(capacity) = status.get("capacity").cloned()
        {
            status.insert("allocatable".into(), capacity);
        }
        quantities(status, "capacity", true);
        quantities(status, "allocatable", true);
    }
}

fn limit_range(o: &mut Obj) {
    let Some(spec) = existing(o, "spec") else {
        return;
    };
    for item in each(spec, "limits") {
        for key in [
            "max",
            "min",
            "default",
            "defaultRequest",
            "maxLimitRequestRatio",
        ] {
            quantities(item, key, true);
        }
        if item.get("type").and_then(Value::as_str) != Some("Container") {
            continue;
        }
        let copy = |item: &mut Obj, from: &str, to: &str| {
            let Some(source) = item.get(from).and_then(Value::as_object).cloned() else {
                return;
            };
            if let Some(target) = child(item, to) {
                for (k, v) in source {
                    target.entry(k).or_insert(v);
                }
            }
        };
        copy(item, "max", "default");
        copy(item, "default", "defaultRequest");
        copy(item, "min", "defaultRequest");
        for key in ["default", "defaultRequest"] {
            if item
                .get(key)
                .and_then(Value::as_object)
                .is_some_and(Map::is_empty)
            {
                item.remove(key);
            }
        }
    }
}

fn deployment(o: &mut Obj) {
    if let Some(spec) = existing(o, "spec") {
        default_val(spec, "replicas", json!(1));
        if let Some(strategy) = child(spec, "strategy") {
            default_str(strategy, "type", "RollingUpdate");
            if strategy.get("type").and_then(Value::as_str) == Some("RollingUpdate")
                && let Some(r) = child(strategy, "rollingUpdate")
            {
                default_val(r, "maxUnavailable", json!("25%"));
                default_val(r, "maxSurge", json!("25%"));
            }
        }
        default_val(spec, "revisionHistoryLimit", json!(10));
        default_val(spec, "progressDeadlineSeconds", json!(600));
        if let Some(t) = existing(spec, "template") {
            pod_template(t);
        }
    }
    child(o, "status");
}

fn stateful_set(o: &mut Obj) {
    if let Some(spec) = existing(o, "spec") {
        default_str(spec, "podManagementPolicy", "OrderedReady");
        if let Some(strategy) = child(spec, "updateStrategy") {
            if unset_str(strategy.get("type")) {
                strategy.insert("type".into(), json!("RollingUpdate"));
                default_val(strategy, "rollingUpdate", json!({}));
            }
            if strategy.get("type").and_then(Value::as_str) == Some("RollingUpdate")
                && let Some(r) = existing(strategy, "rollingUpdate")
            {
                default_val(r, "partition", json!(0));
            }
        }
        if let Some(p) = child(spec, "persistentVolumeClaimRetentionPolicy") {
            default_str(p, "whenDeleted", "Retain");
            default_str(p, "whenScaled", "Retain");
        }
        default_val(spec, "replicas", json!(1));
        default_val(spec, "revisionHistoryLimit", json!(10));
        if let Some(t) = existing(spec, "template") {
            pod_template(t);
        }
        for claim in each(spec, "volumeClaimTemplates") {
            default_str(claim, "apiVersion", "v1");
            default_str(claim, "kind", "PersistentVolumeClaim");
            child(claim, "metadata");
            if let Some(s) = child(claim, "spec") {
                claim_spec(s);
            }
            if let Some(status) = child(claim, "status") {
                default_str(status, "phase", "Pending");
            }
        }
    }
    if let Some(status) = child(o, "status") {
        default_val(status, "replicas", json!(0));
        default_val(status, "availableReplicas", json!(0));
    }
}

fn daemon_set(o: &mut Obj) {
    if let Some(spec) = existing(o, "spec") {
        if let Some(strategy) = child(spec, "updateStrategy") {
            default_str(strategy, "type", "RollingUpdate");
            if strategy.get("type").and_then(Value::as_str) == Some("RollingUpdate")
                && let Some(r) = child(strategy, "rollingUpdate")
            {
                default_val(r, "maxUnavailable", json!(1));
                default_val(r, "maxSurge", json!(0));
            }
        }
        default_val(spec, "revisionHistoryLimit", json!(10));
        if let Some(t) = existing(spec, "template") {
            pod_template(t);
        }
    }
    if let Some(status) = child(o, "status") {
        for k in [
            "currentNumberScheduled",
            "numberMisscheduled",
            "desiredNumberScheduled",
            "numberReady",
        ] {
            default_val(status, k, json!(0));
        }
    }
}

fn job_spec(spec: &mut Obj) {
    if unset(spec.get("completions")) && unset(spec.get("parallelism")) {
        spec.insert("completions".into(), json!(1));
        spec.insert("parallelism".into(), json!(1));
    }
    default_val(spec, "parallelism", json!(1));
    if unset(spec.get("backoffLimit")) {
        let limit = if unset(spec.get("backoffLimitPerIndex")) {
            6
        } else {
            i64::from(i32::MAX)
        };
        spec.insert("backoffLimit".into(), json!(limit));
    }
    default_val(spec, "completionMode", json!("NonIndexed"));
    default_val(spec, "suspend", json!(false));
    if unset(spec.get("podReplacementPolicy")) {
        let policy = if unset(spec.get("podFailurePolicy")) {
            "TerminatingOrFailed"
        } else {
            "Failed"
        };
        spec.insert("podReplacementPolicy".into(), json!(policy));
    }
    default_val(spec, "manualSelector", json!(false));
    if let Some(policy) = existing(spec, "podFailurePolicy") {
        for rule in each(policy, "rules") {
            for pattern in each(rule, "onPodConditions") {
                default_str(pattern, "status", "True");
            }
        }
    }
}

fn job(o: &mut Obj) {
    let template_labels = o
        .get("spec")
        .and_then(|s| s.get("template"))
        .and_then(|t| t.get("metadata"))
        .and_then(|m| m.get("labels"))
        .filter(|l| l.is_object())
        .cloned();
    if let Some(spec) = existing(o, "spec") {
        job_spec(spec);
        if let Some(t) = existing(spec, "template") {
            pod_template(t);
        }
    }
    labels_from_template(o, template_labels);
    child(o, "status");
}

fn cron_job(o: &mut Obj) {
    if let Some(spec) = existing(o, "spec") {
        default_str(spec, "concurrencyPolicy", "Allow");
        default_val(spec, "suspend", json!(false));
        default_val(spec, "successfulJobsHistoryLimit", json!(3));
        default_val(spec, "failedJobsHistoryLimit", json!(1));
        if let Some(jt) = existing(spec, "jobTemplate") {
            child(jt, "metadata");
            if let Some(t) = existing(jt, "spec").and_then(|s| existing(s, "template")) {
                pod_template(t);
            }
        }
    }
    child(o, "status");
}

fn network_policy(o: &mut Obj) {
    let Some(spec) = existing(o, "spec") else {
        return;
    };
    let no_types = spec
        .get("policyTypes")
        .and_then(Value::as_array)
        .is_none_or(Vec::is_empty);
    if no_types {
        let egress = spec
            .get("egress")
            .and_then(Value::as_array)
            .is_some_and(|a| !a.is_empty());
        let types = if egress {
            json!(["Ingress", "Egress"])
        } else {
            json!(["Ingress"])
        };
        spec.insert("policyTypes".into(), types);
    }
    for key in ["ingress", "egress"] {
        for rule in each(spec, key) {
            for port in each(rule, "ports") {
                default_val(port, "protocol", json!("TCP"));
            }
        }
    }
}

fn metric_target(t: &mut Obj) {
    quantity(t, "value");
    quantity(t, "averageValue");
}

fn hpa(o: &mut Obj) {
    if let Some(spec) = existing(o, "spec") {
        default_val(spec, "minReplicas", json!(1));
        let no_metrics = spec
            .get("metrics")
            .and_then(Value::as_array)
            .is_none_or(Vec::is_empty);
        if no_metrics {
            spec.insert(
                "metrics".into(),
                json!([{"type": "Resource", "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": 80}}}]),
            );
        }
        for m in each(spec, "metrics") {
            for source in [
                "resource",
                "containerResource",
                "pods",
                "object",
                "external",
            ] {
                if let Some(t) = existing(m, source).and_then(|s| existing(s, "target")) {
                    metric_target(t);
                }
            }
        }
        if let Some(b) = existing(spec, "behavior") {
            let up = child(b, "scaleUp");
            if let Some(up) = up {
                default_val(up, "stabilizationWindowSeconds", json!(0));
                default_val(up, "selectPolicy", json!("Max"));
                default_val(
                    up,
                    "policies",
                    json!([
                        {"type": "Pods", "value": 4, "periodSeconds": 15},
                        {"type": "Percent", "value": 100, "periodSeconds": 15},
                    ]),
                );
            }
            if let Some(down) = child(b, "scaleDown") {
                default_val(down, "selectPolicy", json!("Max"));
                default_val(
                    down,
                    "policies",
                    json!([{"type": "Percent", "value": 100, "periodSeconds": 15}]),
                );
            }
        }
    }
    if let Some(status) = child(o, "status") {
        default_val(status, "currentMetrics", Value::Null);
        default_val(status, "desiredReplicas", json!(0));
        for m in each(status, "currentMetrics") {
            for source in [
                "resource",
                "containerResource",
                "pods",
                "object",
                "external",
            ] {
                if let Some(c) = existing(m, source).and_then(|s| existing(s, "current")) {
                    metric_target(c);
                }
            }
        }
    }
}

/// A workload without labels of its own takes its pod template's, as the
/// real server's defaulting does (ReplicaSet, Job, …).
fn labels_from_template(o: &mut Map<String, Value>, template_labels: Option<Value>) {
    if let (Some(labels), Some(m)) = (template_labels, child(o, "metadata")) {
        let empty = m
            .get("labels")
            .and_then(Value::as_object)
            .is_none_or(Map::is_empty);
        if empty {
            m.insert("labels".into(), labels);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn defaulted(mut v: Value) -> Value {
        apply(&mut v);
        v
    }

    #[test]
    fn a_pod_is_defaulted_like_the_real_server_does() {
        let pod = defaulted(json!({
            "apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": "p", "namespace": "d"},
            "spec": {
                "hostNetwork": true,
                "containers": [{
                    "name": "c", "image": "nginx",
                    "ports": [{"containerPort": 80}],
                    "resources": {"limits": {"cpu": "0.5", "memory": "1.5Gi"}},
                    "readinessProbe": {"httpGet": {"port": 80}},
                    "env": [{"name": "A", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}}],
                }],
                "initContainers": [{"name": "i", "image": "busybox@sha256:00"}],
                "volumes": [{"name": "cm", "configMap": {"name": "x"}}, {"name": "e"}, {"name": "h", "hostPath": {"path": "/tmp"}}],
            },
        }));
        let spec = &pod["spec"];
        let c = &spec["containers"][0];
        assert_eq!(c["imagePullPolicy"], "Always");
        assert_eq!(c["terminationMessagePath"], "/dev/termination-log");
        assert_eq!(c["terminationMessagePolicy"], "File");
        assert_eq!(
            c["ports"][0],
            json!({"containerPort": 80, "protocol": "TCP", "hostPort": 80})
        );
        assert_eq!(
            c["resources"],
            json!({"limits": {"cpu": "500m", "memory": "1536Mi"}, "requests": {"cpu": "500m", "memory": "1536Mi"}})
        );
        assert_eq!(
            c["readinessProbe"],
            json!({"httpGet": {"port": 80, "path": "/", "scheme": "HTTP"}, "timeoutSeconds": 1, "periodSeconds": 10, "successThreshold": 1, "failureThreshold": 3})
        );
        assert_eq!(c["env"][0]["valueFrom"]["fieldRef"]["apiVersion"], "v1");
        assert_eq!(spec["initContainers"][0]["imagePullPolicy"], "IfNotPresent");
        assert_eq!(spec["initContainers"][0]["resources"], json!({}));
        assert_eq!(spec["volumes"][0]["configMap"]["defaultMode"], 420);
        assert_eq!(spec["volumes"][1]["emptyDir"], json!({}));
        assert_eq!(spec["volumes"][2]["hostPath"]["type"], "");
        for (k, v) in [
            ("dnsPolicy", json!("ClusterFirst")),
            ("restartPolicy", json!("Always")),
            ("schedulerName", json!("default-scheduler")),
            ("securityContext", json!({})),
            ("terminationGracePeriodSeconds", json!(30)),
            ("enableServiceLinks", json!(true)),
        ] {
            assert_eq!(spec[k], v, "{k}");
        }
        assert!(spec.get("serviceAccount").is_none());
        // The init container limits nothing.
        assert_eq!(qos_class(Some(spec)), "Burstable");
    }

    #[test]
    fn templates_get_pod_spec_defaults_but_not_pod_only_ones() {
        let d = defaulted(json!({
            "apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "d"},
            "spec": {"selector": {"matchLabels": {"a": "b"}}, "template": {"spec": {
                "hostNetwork": true, "serviceAccountName": "sa",
                "containers": [{"name": "c", "image": "nginx:1", "ports": [{"containerPort": 80}], "resources": {"limits": {"cpu": "1"}}}],
            }}},
        }));
        let t = &d["spec"]["template"];
        assert_eq!(t["metadata"], json!({}));
        assert!(
            t["spec"]["containers"][0]["ports"][0]
                .get("hostPort")
                .is_none()
        );
        assert!(
            t["spec"]["containers"][0]["resources"]
                .get("requests")
                .is_none()
        );
        assert!(t["spec"].get("enableServiceLinks").is_none());
        assert_eq!(t["spec"]["serviceAccount"], "sa");
        assert_eq!(
            d["spec"]["strategy"],
            json!({"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": "25%", "maxSurge": "25%"}})
        );
        assert_eq!(d["spec"]["revisionHistoryLimit"], 10);
        assert_eq!(d["spec"]["progressDeadlineSeconds"], 600);
        assert_eq!(d["spec"]["replicas"], 1);
        assert_eq!(d["status"], json!({}));
    }

    #[test]
    fn services_jobs_and_secrets() {
        let s = defaulted(json!({
            "apiVersion": "v1", "kind": "Service", "metadata": {"name": "s"},
            "spec": {"type": "LoadBalancer", "ports": [{"port": 80}]},
        }));
        assert_eq!(s["spec"]["ports"][0]["targetPort"], 80);
        assert_eq!(s["spec"]["ports"][0]["protocol"], "TCP");
        assert_eq!(s["spec"]["externalTrafficPolicy"], "Cluster");
        assert_eq!(s["spec"]["internalTrafficPolicy"], "Cluster");
        assert_eq!(s["spec"]["allocateLoadBalancerNodePorts"], true);
        assert_eq!(s["spec"]["sessionAffinity"], "None");
        assert_eq!(s["status"], json!({"loadBalancer": {}}));

        let mut j = defaulted(json!({
            "apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "j"},
            "spec": {"template": {"spec": {"restartPolicy": "Never", "containers": [{"name": "c", "image": "busybox"}]}}},
        }));
        prepare_for_create(&mut j, false, "u-1", "2026-01-01T00:00:00Z");
        assert_eq!(j["metadata"]["generation"], 1);
        assert_eq!(
            j["spec"]["selector"],
            json!({"matchLabels": {"batch.kubernetes.io/controller-uid": "u-1"}})
        );
        assert_eq!(j["metadata"]["labels"]["job-name"], "j");
        assert_eq!(
            j["spec"]["template"]["metadata"]["labels"]["controller-uid"],
            "u-1"
        );
        for (k, v) in [
            ("completions", json!(1)),
            ("parallelism", json!(1)),
            ("backoffLimit", json!(6)),
            ("completionMode", json!("NonIndexed")),
            ("suspend", json!(false)),
            ("podReplacementPolicy", json!("TerminatingOrFailed")),
            ("manualSelector", json!(false)),
        ] {
            assert_eq!(j["spec"][k], v, "{k}");
        }

        let secret = defaulted(json!({
            "apiVersion": "v1", "kind": "Secret", "metadata": {"name": "x"},
            "stringData": {"a": "b"},
        }));
        assert_eq!(
            secret,
            json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "x"}, "type": "Opaque", "data": {"a": "Yg=="}})
        );
    }

    #[test]
    fn defaulting_is_idempotent_and_leaves_custom_resources_alone() {
        let cr = json!({"apiVersion": "example.io/v1", "kind": "Widget", "metadata": {"name": "w"}, "spec": {"cpu": "0.5"}});
        assert_eq!(defaulted(cr.clone()), cr);
        let pod = defaulted(json!({
            "apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"},
            "spec": {"containers": [{"name": "c", "image": "nginx"}]},
        }));
        assert_eq!(defaulted(pod.clone()), pod);
    }

    #[test]
    fn qos_classes() {
        let spec = |res: Value| json!({"containers": [{"name": "c", "resources": res}]});
        assert_eq!(qos_class(Some(&spec(json!({})))), "BestEffort");
        assert_eq!(
            qos_class(Some(&spec(json!({"requests": {"cpu": "100m"}})))),
            "Burstable"
        );
        assert_eq!(
            qos_class(Some(&spec(
                json!({"requests": {"cpu": "1", "memory": "1Gi"}, "limits": {"cpu": "1000m", "memory": "1024Mi"}})
            ))),
            "Guaranteed"
        );
        assert_eq!(qos_class(None), "BestEffort");
    }
}
