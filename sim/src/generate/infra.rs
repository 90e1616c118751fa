//! Cluster infrastructure: CRDs, namespaces (with their default service
//! account and root CA), nodes, storage classes, cluster-wide RBAC, the
//! policy engine's instances and node events.

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use serde_json::{Value, json};

use super::catalog::{INSTANCE_TYPES, NAMESPACE_NAMES, OWNERS, TEAMS, TRUSTED_REPOS};
use super::dice::{BASE_EPOCH, ts, ts_abs};
use super::{Flavor, Gen, Meta, NsState, Obj, involved, kv, object};

pub(crate) const FAKE_CA: &str = "-----BEGIN CERTIFICATE-----\nMIIDBTCCAe2gAwIBAgIIKqSimulatedCAwDQYJKoZIhvcNAQELBQAwFTETMBEGA1UE\nAxMKa3ViZXJuZXRlczAeFw0yNTAxMDEwMDAwMDBaFw0zNTAxMDEwMDAwMDBaMBUx\nEzARBgNVBAMTCmt1YmVybmV0ZXMwggEiMA0GCSqGSIb3DQEBAQUAA4IBDwAwggEK\n-----END CERTIFICATE-----\n";

/// The bootstrap RBAC policy of kube-apiserver v1.37.2: every object
/// labelled `kubernetes.io/bootstrapping=rbac-defaults` that a freshly
/// started `target/kq-apiserver` holds, without server-owned metadata
/// (`kubectl get clusterroles,clusterrolebindings,roles,rolebindings -A
/// -l kubernetes.io/bootstrapping=rbac-defaults -o json`, one object a line).
const BOOTSTRAP_RBAC: &str = include_str!("bootstrap_rbac.json");

/// What the clusterrole-aggregation controller does: a ClusterRole with an
/// `aggregationRule` gets the rules of every ClusterRole its selectors
/// match (by name order, each distinct rule once), until nothing changes.
fn aggregate_cluster_roles(objects: &mut [Value]) {
    let matches = |labels: Option<&Value>, selector: &Value| {
        selector
            .get("matchLabels")
            .and_then(Value::as_object)
            .is_some_and(|want| {
                want.iter()
                    .all(|(k, v)| labels.and_then(|l| l.get(k)) == Some(v))
            })
    };
    for _ in 0..objects.len() {
        let mut changed = false;
        for i in 0..objects.len() {
            let Some(selectors) = objects[i]
                .pointer("/aggregationRule/clusterRoleSelectors")
                .and_then(Value::as_array)
                .cloned()
            else {
                continue;
            };
            let name = objects[i].pointer("/metadata/name").cloned();
            let mut rules: Vec<Value> = Vec::new();
            for selector in &selectors {
                let mut sources: Vec<&Value> = objects
                    .iter()
                    .filter(|o| o.get("kind") == Some(&json!("ClusterRole")))
                    .filter(|o| o.pointer("/metadata/name") != name.as_ref())
                    .filter(|o| matches(o.pointer("/metadata/labels"), selector))
                    .collect();
                sources.sort_by_key(|o| o.pointer("/metadata/name").and_then(Value::as_str));
                for source in sources {
                    for rule in source
                        .get("rules")
                        .and_then(Value::as_array)
                        .into_iter()
                        .flatten()
                    {
                        if !rules.contains(rule) {
                            rules.push(rule.clone());
                        }
                    }
                }
            }
            let rules = Value::Array(rules);
            if objects[i].get("rules") != Some(&rules) {
                objects[i]["rules"] = rules;
                changed = true;
            }
        }
        if !changed {
            break;
        }
    }
}

pub(crate) fn b64(s: &str) -> String {
    B64.encode(s.as_bytes())
}

/// A rule of a Role or ClusterRole.
pub(crate) fn rule(groups: &[&str], resources: &[&str], verbs: &[&str]) -> Value {
    json!({"apiGroups": groups, "resources": resources, "verbs": verbs})
}

/// A subject of a binding.
pub(crate) fn subject(kind: &str, name: &str, ns: Option<&str>) -> Value {
    match (kind, ns) {
        ("ServiceAccount", Some(ns)) => json!({"kind": kind, "name": name, "namespace": ns}),
        _ => json!({"kind": kind, "apiGroup": "rbac.authorization.k8s.io", "name": name}),
    }
}

struct CrdDef<'a> {
    group: &'a str,
    plural: &'a str,
    singular: &'a str,
    kind: &'a str,
    short: &'a [&'a str],
    cluster_scoped: bool,
    versions: &'a [(&'a str, bool, bool)],
    labels: Obj,
    categories: &'a [&'a str],
}

impl Gen<'_> {
    fn crd(&mut self, c: CrdDef<'_>) {
        let name = format!("{}.{}", c.plural, c.group);
        let uid = self.d.uid();
        let ago = self.d.range(86_400, self.cluster_age / 2);
        let schema = json!({"openAPIV3Schema": {
            "type": "object",
            "properties": {
                "apiVersion": {"type": "string"},
                "kind": {"type": "string"},
                "metadata": {"type": "object"},
                "spec": {"type": "object", "x-kubernetes-preserve-unknown-fields": true},
                "status": {"type": "object", "x-kubernetes-preserve-unknown-fields": true},
            },
        }});
        let versions: Vec<Value> = c
            .versions
            .iter()
            .map(|(v, served, storage)| {
                json!({
                    "name": v,
                    "served": served,
                    "storage": storage,
                    "schema": schema,
                    "subresources": {"status": {}},
                    "additionalPrinterColumns": [{"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"}],
                })
            })
            .collect();
        let storage: Vec<&str> = c.versions.iter().filter(|v| v.2).map(|v| v.0).collect();
        let mut names = Obj::new();
        names.insert("plural".into(), c.plural.into());
        names.insert("singular".into(), c.singular.into());
        names.insert("kind".into(), c.kind.into());
        names.insert("listKind".into(), format!("{}List", c.kind).into());
        if !c.short.is_empty() {
            names.insert("shortNames".into(), json!(c.short));
        }
        if !c.categories.is_empty() {
            names.insert("categories".into(), json!(c.categories));
        }
        let spec = json!({
            "group": c.group,
            "names": names,
            "scope": if c.cluster_scoped { "Cluster" } else { "Namespaced" },
            "versions": versions,
            "conversion": {"strategy": "None"},
        });
        let status = json!({
            "acceptedNames": names,
            "conditions": [
                {"type": "NamesAccepted", "status": "True", "lastTransitionTime": ts(ago), "reason": "NoConflicts", "message": "no conflicts found"},
                {"type": "Established", "status": "True", "lastTransitionTime": ts(ago), "reason": "InitialNamesAccepted", "message": "the initial names have been accepted"},
            ],
            "storedVersions": storage,
        });
        let meta = Meta {
            name: &name,
            namespace: None,
            uid: &uid,
            ago,
            labels: c.labels,
            annotations: Obj::new(),
            owner: None,
        }
        .build();
        self.crds.push(object(
            "apiextensions.k8s.io/v1",
            "CustomResourceDefinition",
            meta,
            Some(spec),
            Some(status),
        ));
    }

    /// The storage version of the gatekeeper constraint template CRD.
    pub(crate) fn template_version(&self) -> &'static str {
        self.v
            .gatekeeper_template_versions
            .iter()
            .find(|v| v.2)
            .map_or("v1", |v| v.0)
    }

    pub(crate) fn crds(&mut self) {
        if let Some(cm) = self.v.cert_manager {
            let labels = || {
                kv(&[
                    ("app", "cert-manager"),
                    ("app.kubernetes.io/instance", "cert-manager"),
                    ("app.kubernetes.io/name", "cert-manager"),
                    ("app.kubernetes.io/version", cm),
                ])
            };
            let v1: &[(&str, bool, bool)] = &[("v1", true, true)];
            for (plural, singular, kind, short, cluster) in [
                (
                    "certificates",
                    "certificate",
                    "Certificate",
                    &["cert", "certs"][..],
                    false,
                ),
                (
                    "certificaterequests",
                    "certificaterequest",
                    "CertificateRequest",
                    &["cr", "crs"][..],
                    false,
                ),
                ("issuers", "issuer", "Issuer", &[][..], false),
                (
                    "clusterissuers",
                    "clusterissuer",
                    "ClusterIssuer",
                    &[][..],
                    true,
                ),
            ] {
                self.crd(CrdDef {
                    group: "cert-manager.io",
                    plural,
                    singular,
                    kind,
                    short,
                    cluster_scoped: cluster,
                    versions: v1,
                    labels: labels(),
                    categories: &["cert-manager"],
                });
            }
        }
        if let Some(gk) = self.v.gatekeeper {
            let labels = || {
                kv(&[
                    ("app", "gatekeeper"),
                    ("control-plane", "controller-manager"),
                    ("gatekeeper.sh/system", "yes"),
                    ("app.kubernetes.io/version", gk),
                ])
            };
            self.crd(CrdDef {
                group: "templates.gatekeeper.sh",
                plural: "constrainttemplates",
                singular: "constrainttemplate",
                kind: "ConstraintTemplate",
                short: &["constraints"],
                cluster_scoped: true,
                versions: self.v.gatekeeper_template_versions,
                labels: labels(),
                categories: &[],
            });
            let constraint_versions: &[(&str, bool, bool)] = if gk.starts_with("v3.16") {
                &[
                    ("v1", true, false),
                    ("v1alpha1", true, false),
                    ("v1beta1", true, true),
                ]
            } else {
                &[("v1alpha1", true, false), ("v1beta1", true, true)]
            };
            let mut l = labels();
            l.insert("gatekeeper.sh/constraint".into(), "yes".into());
            self.crd(CrdDef {
                group: "constraints.gatekeeper.sh",
                plural: "k8sallowedrepos",
                singular: "k8sallowedrepos",
                kind: "K8sAllowedRepos",
                short: &[],
                cluster_scoped: true,
                versions: constraint_versions,
                labels: l,
                categories: &["constraint", "constraints"],
            });
        }
    }

    pub(crate) fn storage_classes(&mut self) {
        let mut classes = vec![
            (
                "gp2",
                "kubernetes.io/aws-ebs",
                false,
                json!({"type": "gp2", "fsType": "ext4"}),
            ),
            (
                "gp3",
                "ebs.csi.aws.com",
                true,
                json!({"type": "gp3", "encrypted": "true"}),
            ),
        ];
        if matches!(self.flavor, Flavor::Prod | Flavor::Generic) {
            classes.push((
                "io2",
                "ebs.csi.aws.com",
                false,
                json!({"type": "io2", "iopsPerGB": "50", "encrypted": "true"}),
            ));
        }
        for (name, provisioner, default, params) in classes {
            let uid = self.d.uid();
            let mut ann = Obj::new();
            if default {
                ann.insert(
                    "storageclass.kubernetes.io/is-default-class".into(),
                    "true".into(),
                );
            }
            let meta = Meta {
                name,
                namespace: None,
                uid: &uid,
                ago: self.cluster_age,
                labels: Obj::new(),
                annotations: ann,
                owner: None,
            }
            .build();
            let mut o = Obj::new();
            o.insert("apiVersion".into(), "storage.k8s.io/v1".into());
            o.insert("kind".into(), "StorageClass".into());
            o.insert("metadata".into(), meta);
            o.insert("provisioner".into(), provisioner.into());
            o.insert("parameters".into(), params);
            o.insert("reclaimPolicy".into(), "Delete".into());
            o.insert("allowVolumeExpansion".into(), true.into());
            o.insert("volumeBindingMode".into(), "WaitForFirstConsumer".into());
            self.emit(Value::Object(o));
        }
    }

    pub(crate) fn nodes(&mut self, n: usize) {
        let region = self.v.region;
        let pressured = if self.v.memory_pressure > 0.0 {
            ((n as f64 * self.v.memory_pressure).ceil() as usize).max(1)
        } else {
            0
        };
        let stride = (n / pressured.max(1)).max(1);
        let offset = self.d.below(stride);
        let groups = [
            format!("general-{}", self.d.hex(8)),
            format!("compute-{}", self.d.hex(8)),
        ];
        for i in 0..n {
            let it = &self.d.weighted(INSTANCE_TYPES);
            let (it_name, cpu, mem_gi, max_pods) = (it.name, it.cpu, it.mem_gi, it.max_pods);
            let zone_idx = i % 3;
            let zone = format!("{region}{}", ['a', 'b', 'c'][zone_idx]);
            let k = i / 3;
            let ip = format!("10.0.{}.{}", zone_idx * 64 + (k / 250) % 64, k % 250 + 4);
            let name = format!("ip-{}.{region}.compute.internal", ip.replace('.', "-"));
            let uid = self.d.uid();
            let instance = format!("i-0{}", self.d.hex(16));
            let ago = self.d.range(3600, 60 * 86_400);
            let memory_pressure = pressured > 0 && i % stride == offset && i / stride < pressured;
            let logging = match self.v.fluent_bit {
                Some((_, true)) => true,
                Some((_, false)) => self.d.chance(0.6),
                None => false,
            };
            let kubelet = match self.v.kubelet_lagging {
                Some((old, share)) if self.d.chance(share) => old,
                _ => self.v.kubelet,
            };
            let group = &groups[usize::from(cpu > 8)];
            let cap_ki = mem_gi * 1024 * 1024 - 561_000;
            let alloc_ki = cap_ki - if mem_gi <= 32 { 1_010_000 } else { 1_700_000 };
            let cpu_alloc = cpu * 1000 - if cpu <= 8 { 90 } else { 110 };
            let mut labels = kv(&[
                ("beta.kubernetes.io/arch", "amd64"),
                ("beta.kubernetes.io/instance-type", it_name),
                ("beta.kubernetes.io/os", "linux"),
                ("alpha.eksctl.io/cluster-name", &self.cluster),
                ("eks.amazonaws.com/capacityType", "ON_DEMAND"),
                ("eks.amazonaws.com/nodegroup", group),
                ("failure-domain.beta.kubernetes.io/region", region),
                ("failure-domain.beta.kubernetes.io/zone", &zone),
                ("kubernetes.io/arch", "amd64"),
                ("kubernetes.io/hostname", &name),
                ("kubernetes.io/os", "linux"),
                ("node.kubernetes.io/instance-type", it_name),
                ("topology.ebs.csi.aws.com/zone", &zone),
                ("topology.kubernetes.io/region", region),
                ("topology.kubernetes.io/zone", &zone),
            ]);
            if logging && matches!(self.v.fluent_bit, Some((_, false))) {
                labels.insert("kq.example.com/logging".into(), "enabled".into());
            }
            let annotations = kv(&[
                ("alpha.kubernetes.io/provided-node-ip", &ip),
                ("node.alpha.kubernetes.io/ttl", "0"),
                (
                    "volumes.kubernetes.io/controller-managed-attach-detach",
                    "true",
                ),
            ]);
            let meta = Meta {
                name: &name,
                namespace: None,
                uid: &uid,
                ago,
                labels,
                annotations,
                owner: None,
            }
            .build();
            let mut spec = Obj::new();
            spec.insert(
                "providerID".into(),
                format!("aws:///{zone}/{instance}").into(),
            );
            if memory_pressure {
                spec.insert(
                    "taints".into(),
                    json!([{"key": "node.kubernetes.io/memory-pressure", "effect": "NoSchedule", "timeAdded": ts(1800)}]),
                );
            }
            let heartbeat = ts(self.d.range(5, 40));
            let cond = |ty: &str,
                        bad: bool,
                        ok_reason: &str,
                        ok_msg: &str,
                        bad_reason: &str,
                        bad_msg: &str| {
                json!({
                    "type": ty,
                    "status": if bad { "True" } else { "False" },
                    "lastHeartbeatTime": heartbeat,
                    "lastTransitionTime": ts(if bad { 1800 } else { ago }),
                    "reason": if bad { bad_reason } else { ok_reason },
                    "message": if bad { bad_msg } else { ok_msg },
                })
            };
            let conditions = json!([
                cond(
                    "MemoryPressure",
                    memory_pressure,
                    "KubeletHasSufficientMemory",
                    "kubelet has sufficient memory available",
                    "KubeletHasInsufficientMemory",
                    "kubelet has insufficient memory available"
                ),
                cond(
                    "DiskPressure",
                    false,
                    "KubeletHasNoDiskPressure",
                    "kubelet has no disk pressure",
                    "",
                    ""
                ),
                cond(
                    "PIDPressure",
                    false,
                    "KubeletHasSufficientPID",
                    "kubelet has sufficient PID available",
                    "",
                    ""
                ),
                {
                    "type": "Ready",
                    "status": "True",
                    "lastHeartbeatTime": heartbeat,
                    "lastTransitionTime": ts(ago - 30),
                    "reason": "KubeletReady",
                    "message": "kubelet is posting ready status",
                },
            ]);
            let status = json!({
                "capacity": {
                    "cpu": cpu.to_string(),
                    "ephemeral-storage": "83873772Ki",
                    "hugepages-1Gi": "0",
                    "hugepages-2Mi": "0",
                    "memory": format!("{cap_ki}Ki"),
                    "pods": max_pods.to_string(),
                },
                "allocatable": {
                    "cpu": format!("{cpu_alloc}m"),
                    "ephemeral-storage": "76224326324",
                    "hugepages-1Gi": "0",
                    "hugepages-2Mi": "0",
                    "memory": format!("{alloc_ki}Ki"),
                    "pods": max_pods.to_string(),
                },
                "conditions": conditions,
                "addresses": [
                    {"type": "InternalIP", "address": ip},
                    {"type": "InternalDNS", "address": name},
                    {"type": "Hostname", "address": name},
                ],
                "daemonEndpoints": {"kubeletEndpoint": {"Port": 10250}},
                "nodeInfo": {
                    "machineID": self.d.hex(32),
                    "systemUUID": format!("ec2{}", &self.d.uid()[3..]),
                    "bootID": self.d.uid(),
                    "kernelVersion": "5.10.219-208.866.amzn2.x86_64",
                    "osImage": "Amazon Linux 2",
                    "containerRuntimeVersion": "containerd://1.7.11",
                    "kubeletVersion": kubelet,
                    "kubeProxyVersion": kubelet,
                    "operatingSystem": "linux",
                    "architecture": "amd64",
                },
            });
            self.emit(object(
                "v1",
                "Node",
                meta,
                Some(Value::Object(spec)),
                Some(status),
            ));
            self.nodes.push(super::NodeRec {
                name,
                uid,
                ip,
                zone,
                cpu_alloc,
                mem_alloc: alloc_ki * 1024,
                max_pods,
                cpu_used: 0,
                mem_used: 0,
                pods: 0,
                memory_pressure,
                ago,
                logging,
            });
        }
    }

    /// Emits a Namespace with its default ServiceAccount and root CA ConfigMap.
    fn namespace(&mut self, name: &str, ago: i64, labels: Obj, annotations: Obj) -> NsState {
        let uid = self.d.uid();
        let mut l = kv(&[("kubernetes.io/metadata.name", name)]);
        l.extend(labels);
        let meta = Meta {
            name,
            namespace: None,
            uid: &uid,
            ago,
            labels: l,
            annotations,
            owner: None,
        }
        .build();
        self.namespaces.push(object(
            "v1",
            "Namespace",
            meta,
            Some(json!({"finalizers": ["kubernetes"]})),
            Some(json!({"phase": "Active"})),
        ));
        let mut st = NsState {
            name: name.to_string(),
            ago,
            ..NsState::default()
        };
        self.service_account(&mut st, "default", false);
        let cm_uid = self.d.uid();
        let meta = Meta {
            name: "kube-root-ca.crt",
            namespace: Some(name),
            uid: &cm_uid,
            ago,
            labels: Obj::new(),
            annotations: kv(&[(
                "kubernetes.io/description",
                "Contains a CA bundle that can be used to verify the kube-apiserver when using internal endpoints such as the internal service IP or kubernetes.default.svc. No other usage is guaranteed across distributions of Kubernetes clusters.",
            )]),
            owner: None,
        }
        .build();
        let mut cm = Obj::new();
        cm.insert("apiVersion".into(), "v1".into());
        cm.insert("kind".into(), "ConfigMap".into());
        cm.insert("metadata".into(), meta);
        cm.insert("data".into(), json!({"ca.crt": FAKE_CA}));
        self.emit(Value::Object(cm));
        st
    }

    /// Creates a ServiceAccount in `ns` unless it already exists.
    pub(crate) fn service_account(&mut self, ns: &mut NsState, name: &str, no_automount: bool) {
        let key = format!("sa/{name}");
        if !ns.names.insert(key) {
            return;
        }
        let uid = self.d.uid();
        let ago = ns.ago;
        let meta = Meta {
            name,
            namespace: Some(&ns.name),
            uid: &uid,
            ago,
            labels: Obj::new(),
            annotations: Obj::new(),
            owner: None,
        }
        .build();
        let mut o = Obj::new();
        o.insert("apiVersion".into(), "v1".into());
        o.insert("kind".into(), "ServiceAccount".into());
        o.insert("metadata".into(), meta);
        if no_automount {
            o.insert("automountServiceAccountToken".into(), false.into());
        }
        self.emit(Value::Object(o));
        if name == "ci-admin" {
            // A long-lived legacy token, the kind audits look for.
            let token = format!("eyJhbGciOiJSUzI1NiJ9.{}", self.d.hex(48));
            self.secret(
                &ns.name,
                "ci-admin-token",
                "kubernetes.io/service-account-token",
                vec![
                    ("ca.crt", FAKE_CA.to_string()),
                    ("namespace", ns.name.clone()),
                    ("token", token),
                ],
                kv(&[
                    ("kubernetes.io/service-account.name", name),
                    ("kubernetes.io/service-account.uid", &uid),
                ]),
                ago,
            );
        }
    }

    /// Emits a Secret with base64-encoded data.
    pub(crate) fn secret(
        &mut self,
        ns: &str,
        name: &str,
        ty: &str,
        data: Vec<(&str, String)>,
        annotations: Obj,
        ago: i64,
    ) {
        let uid = self.d.uid();
        let meta = Meta {
            name,
            namespace: Some(ns),
            uid: &uid,
            ago,
            labels: Obj::new(),
            annotations,
            owner: None,
        }
        .build();
        let data: Obj = data
            .into_iter()
            .map(|(k, v)| (k.to_string(), Value::String(b64(&v))))
            .collect();
        let mut o = Obj::new();
        o.insert("apiVersion".into(), "v1".into());
        o.insert("kind".into(), "Secret".into());
        o.insert("metadata".into(), meta);
        o.insert("data".into(), Value::Object(data));
        o.insert("type".into(), ty.into());
        self.emit(Value::Object(o));
    }

    /// Emits a ConfigMap.
    pub(crate) fn config_map(&mut self, ns: &str, name: &str, data: Obj, ago: i64) {
        let uid = self.d.uid();
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
        let mut o = Obj::new();
        o.insert("apiVersion".into(), "v1".into());
        o.insert("kind".into(), "ConfigMap".into());
        o.insert("metadata".into(), meta);
        o.insert("data".into(), Value::Object(data));
        self.emit(Value::Object(o));
    }

    /// `default`, `kube-*` and the namespaces of this flavor's cluster services.
    pub(crate) fn system_namespaces(&mut self) -> Vec<NsState> {
        let age = self.cluster_age;
        let mut out = Vec::new();
        for name in ["default", "kube-system", "kube-public", "kube-node-lease"] {
            let mut ns = self.namespace(name, age, Obj::new(), Obj::new());
            if name == "kube-system" {
                for sa in std::mem::take(&mut self.controller_service_accounts) {
                    self.service_account(&mut ns, &sa, false);
                }
            }
            out.push(ns);
        }
        let mut services = vec!["monitoring", "ingress-nginx"];
        if self.v.fluent_bit.is_some() {
            services.push("logging");
        }
        if self.v.cert_manager.is_some() {
            services.push("cert-manager");
        }
        if self.v.gatekeeper.is_some() {
            services.push("gatekeeper-system");
        }
        for name in services {
            let ago = age - self.d.range(3600, 30 * 86_400);
            let ann = kv(&[("owner", "sre@example.com"), ("team", "platform")]);
            let mut labels = Obj::new();
            if name == "gatekeeper-system" {
                labels.insert(
                    "admission.gatekeeper.sh/ignore".into(),
                    "no-self-managing".into(),
                );
            }
            let mut st = self.namespace(name, ago, labels, ann);
            st.team = "platform".into();
            out.push(st);
        }
        out
    }

    /// Application namespaces: count scales with pods, clamped to [5, 200].
    pub(crate) fn app_namespaces(&mut self) -> Vec<NsState> {
        let count = (self.total_pods / 40).clamp(5, 200);
        let mut out = Vec::with_capacity(count);
        for i in 0..count {
            let base = NAMESPACE_NAMES[i % NAMESPACE_NAMES.len()];
            let name = if i < NAMESPACE_NAMES.len() {
                base.to_string()
            } else {
                format!("{base}-{}", i / NAMESPACE_NAMES.len() + 1)
            };
            let team = if name == "team-a" {
                "storefront"
            } else {
                *self.d.pick(TEAMS)
            };
            let ago = self.d.range(2 * 86_400, self.cluster_age - 86_400);
            let mut ann = Obj::new();
            // The first few namespaces each show one annotation pattern.
            let (owner, team_ann, ttl) = match i {
                0 => (true, true, 0),
                1 => (true, false, 1),
                2 => (false, false, 0),
                3 => (false, true, 2),
                4 => (true, true, 3),
                _ => {
                    let ttl = if self.d.chance(self.v.namespace_ttl_share) {
                        self.d.range(1, 3)
                    } else {
                        0
                    };
                    (self.d.chance(0.65), self.d.chance(0.6), ttl)
                }
            };
            if owner {
                ann.insert("owner".into(), (*self.d.pick(OWNERS)).into());
            }
            if team_ann {
                ann.insert("team".into(), team.into());
            }
            match ttl {
                1 => {
                    let expired = BASE_EPOCH - self.d.range(86_400, 90 * 86_400);
                    ann.insert("kq.example.com/expires".into(), ts_abs(expired).into());
                }
                2 => {
                    ann.insert(
                        "kq.example.com/expires".into(),
                        "2099-12-31T00:00:00Z".into(),
                    );
                }
                3 => {
                    let ttl = *self.d.pick(&["7d", "24h", "30d", "2w"]);
                    ann.insert("janitor/ttl".into(), ttl.into());
                }
                _ => {}
            }
            let mut labels = kv(&[("team", team)]);
            match self.d.below(4) {
                0 => {
                    labels.insert(
                        "pod-security.kubernetes.io/enforce".into(),
                        "restricted".into(),
                    );
                }
                1 => {
                    labels.insert(
                        "pod-security.kubernetes.io/enforce".into(),
                        "baseline".into(),
                    );
                }
                _ => {}
            }
            let mut st = self.namespace(&name, ago, labels, ann);
            st.team = team.to_string();
            st.registry_style = match i {
                0 => 2,
                1 => 0,
                _ => *self.d.weighted(&[(0usize, 3), (1, 4), (2, 2), (3, 1)]),
            };
            let lr_share = match self.flavor {
                Flavor::Prod => 0.5,
                Flavor::Staging => 0.35,
                Flavor::Dev => 0.1,
                Flavor::Generic => 0.4,
            };
            st.limit_range = i != 0 && self.d.chance(lr_share);
            out.push(st);
        }
        out
    }

    /// Cluster-wide roles and bindings, including the risky ones audits hunt for.
    pub(crate) fn cluster_rbac(&mut self) {
        self.bootstrap_rbac();
        let read = ["get", "list", "watch"];
        let custom = kv(&[("app.kubernetes.io/managed-by", "platform-team")]);
        self.cluster_role(
            "ci-deployer",
            custom.clone(),
            Obj::new(),
            vec![rule(
                &["", "apps"],
                &["pods", "deployments", "services", "configmaps"],
                &["create", "update", "patch", "get", "list"],
            )],
        );
        self.cluster_role(
            "secret-reader",
            custom.clone(),
            Obj::new(),
            vec![rule(&[""], &["secrets"], &["get", "list", "watch"])],
        );
        self.cluster_role(
            "ops-readonly",
            custom.clone(),
            Obj::new(),
            vec![rule(&["*"], &["*"], &read)],
        );
        self.cluster_role(
            "legacy-superuser",
            custom.clone(),
            Obj::new(),
            vec![rule(&["*"], &["*"], &["*"])],
        );
        self.cluster_role(
            "pod-exec",
            custom.clone(),
            Obj::new(),
            vec![
                rule(&[""], &["pods"], &["get", "list"]),
                rule(&[""], &["pods/exec"], &["create"]),
            ],
        );
        self.cluster_role(
            "apps-operator",
            custom,
            Obj::new(),
            vec![rule(&["apps", "batch"], &["*"], &["*"])],
        );

        self.cluster_role_binding(
            "ci-admin",
            "cluster-admin",
            vec![subject("ServiceAccount", "ci-admin", Some("kube-system"))],
            Obj::new(),
        );
        self.cluster_role_binding(
            "platform-admins",
            "cluster-admin",
            vec![
                subject("User", "alice@example.com", None),
                subject("Group", "platform-admins", None),
            ],
            Obj::new(),
        );
        self.cluster_role_binding(
            "oncall-view",
            "view",
            vec![subject("Group", "oncall", None)],
            Obj::new(),
        );
        self.cluster_role_binding(
            "auditors-secrets",
            "secret-reader",
            vec![
                subject("Group", "auditors", None),
                subject("User", "erin@example.com", None),
            ],
            Obj::new(),
        );
        self.cluster_role_binding(
            "ops-readonly",
            "ops-readonly",
            vec![subject("Group", "sre", None)],
            Obj::new(),
        );
        self.cluster_role_binding(
            "ci-deployer",
            "ci-deployer",
            vec![subject("ServiceAccount", "ci-admin", Some("kube-system"))],
            Obj::new(),
        );
        if !matches!(self.flavor, Flavor::Prod) {
            // Drift: a shortcut someone took outside prod.
            self.cluster_role_binding(
                "default-sa-superuser",
                "legacy-superuser",
                vec![subject("ServiceAccount", "default", Some("default"))],
                Obj::new(),
            );
        }
    }

    /// The roles and bindings every kube-apiserver creates at start-up
    /// (`bootstrap_rbac.json`, as kube-apiserver v1.37.2 stores them), with
    /// the aggregated ClusterRoles (`admin`, `edit`, `view`) holding the
    /// rules the clusterrole-aggregation controller gives them.
    fn bootstrap_rbac(&mut self) {
        let mut objects: Vec<Value> = serde_json::from_str(BOOTSTRAP_RBAC)
            .unwrap_or_else(|e| panic!("bootstrap_rbac.json is not a JSON array: {e}"));
        aggregate_cluster_roles(&mut objects);
        for o in &objects {
            for sub in o
                .get("subjects")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                if sub.get("kind") == Some(&json!("ServiceAccount"))
                    && sub.get("namespace") == Some(&json!("kube-system"))
                    && let Some(name) = sub.get("name").and_then(Value::as_str)
                    && !self.controller_service_accounts.iter().any(|n| n == name)
                {
                    self.controller_service_accounts.push(name.to_string());
                }
            }
        }
        for mut o in objects {
            let uid = self.d.uid();
            let ago = self.cluster_age;
            if let Some(m) = o.as_object_mut() {
                let kind = m.remove("kind").unwrap_or(Value::Null);
                let mut meta = m.remove("metadata").unwrap_or_else(|| json!({}));
                if let Some(meta) = meta.as_object_mut() {
                    meta.insert("uid".into(), uid.into());
                    meta.insert("creationTimestamp".into(), ts(ago).into());
                }
                let mut full = Obj::new();
                full.insert("apiVersion".into(), "rbac.authorization.k8s.io/v1".into());
                full.insert("kind".into(), kind);
                full.insert("metadata".into(), meta);
                full.extend(std::mem::take(m));
                o = Value::Object(full);
            }
            self.emit(o);
        }
    }

    pub(crate) fn cluster_role(&mut self, name: &str, labels: Obj, ann: Obj, rules: Vec<Value>) {
        let uid = self.d.uid();
        let meta = Meta {
            name,
            namespace: None,
            uid: &uid,
            ago: self.cluster_age,
            labels,
            annotations: ann,
            owner: None,
        }
        .build();
        let mut o = Obj::new();
        o.insert("apiVersion".into(), "rbac.authorization.k8s.io/v1".into());
        o.insert("kind".into(), "ClusterRole".into());
        o.insert("metadata".into(), meta);
        o.insert("rules".into(), Value::Array(rules));
        self.emit(Value::Object(o));
    }

    pub(crate) fn cluster_role_binding(
        &mut self,
        name: &str,
        role: &str,
        subjects: Vec<Value>,
        labels: Obj,
    ) {
        let uid = self.d.uid();
        let ago = self.d.range(86_400, self.cluster_age);
        let meta = Meta {
            name,
            namespace: None,
            uid: &uid,
            ago,
            labels,
            annotations: Obj::new(),
            owner: None,
        }
        .build();
        let mut o = Obj::new();
        o.insert("apiVersion".into(), "rbac.authorization.k8s.io/v1".into());
        o.insert("kind".into(), "ClusterRoleBinding".into());
        o.insert("metadata".into(), meta);
        o.insert(
            "roleRef".into(),
            json!({"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": role}),
        );
        o.insert("subjects".into(), Value::Array(subjects));
        self.emit(Value::Object(o));
    }

    /// A namespaced Role (when `rules` is some) and a RoleBinding to it or to a ClusterRole.
    pub(crate) fn role_binding(
        &mut self,
        ns: &NsState,
        name: &str,
        rules: Option<Vec<Value>>,
        cluster_role: Option<&str>,
        subjects: Vec<Value>,
    ) {
        let ago = self.d.range(3600, ns.ago.max(3601));
        if let Some(rules) = rules {
            let uid = self.d.uid();
            let meta = Meta {
                name,
                namespace: Some(&ns.name),
                uid: &uid,
                ago,
                labels: Obj::new(),
                annotations: Obj::new(),
                owner: None,
            }
            .build();
            let mut o = Obj::new();
            o.insert("apiVersion".into(), "rbac.authorization.k8s.io/v1".into());
            o.insert("kind".into(), "Role".into());
            o.insert("metadata".into(), meta);
            o.insert("rules".into(), Value::Array(rules));
            self.emit(Value::Object(o));
        }
        let uid = self.d.uid();
        let meta = Meta {
            name,
            namespace: Some(&ns.name),
            uid: &uid,
            ago,
            labels: Obj::new(),
            annotations: Obj::new(),
            owner: None,
        }
        .build();
        let role_ref = match cluster_role {
            Some(cr) => {
                json!({"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": cr})
            }
            None => json!({"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": name}),
        };
        let mut o = Obj::new();
        o.insert("apiVersion".into(), "rbac.authorization.k8s.io/v1".into());
        o.insert("kind".into(), "RoleBinding".into());
        o.insert("metadata".into(), meta);
        o.insert("roleRef".into(), role_ref);
        o.insert("subjects".into(), Value::Array(subjects));
        self.emit(Value::Object(o));
    }

    /// The policy engine's template and constraint, with an audit status
    /// computed from the pods actually generated.
    pub(crate) fn policy_instances(&mut self) {
        let Some(gk) = self.v.gatekeeper else {
            return;
        };
        let labels = kv(&[("app.kubernetes.io/managed-by", "platform-team")]);
        let uid = self.d.uid();
        let ago = self.d.range(86_400, 200 * 86_400);
        let meta = Meta {
            name: "k8sallowedrepos",
            namespace: None,
            uid: &uid,
            ago,
            labels: labels.clone(),
            annotations: kv(&[("metadata.gatekeeper.sh/title", "Allowed Repositories")]),
            owner: None,
        }
        .build();
        let rego = "package k8sallowedrepos\n\nviolation[{\"msg\": msg}] {\n  container := input.review.object.spec.containers[_]\n  not strings.any_prefix_match(container.image, input.parameters.repos)\n  msg := sprintf(\"container <%v> has an invalid image repo <%v>, allowed repos are %v\", [container.name, container.image, input.parameters.repos])\n}\n";
        let template_version = self.template_version();
        self.emit(object(
            &format!("templates.gatekeeper.sh/{template_version}"),
            "ConstraintTemplate",
            meta,
            Some(json!({
                "crd": {"spec": {"names": {"kind": "K8sAllowedRepos"}, "validation": {"openAPIV3Schema": {"type": "object", "properties": {"repos": {"type": "array", "items": {"type": "string"}}}}}}},
                "targets": [{"target": "admission.k8s.gatekeeper.sh", "rego": rego}],
            })),
            Some(json!({"created": true, "observedGeneration": 1})),
        ));

        let repos = json!(TRUSTED_REPOS);
        let action = if matches!(self.flavor, Flavor::Prod) {
            "deny"
        } else {
            "dryrun"
        };
        let violations: Vec<Value> = self
            .untrusted
            .iter()
            .map(|(ns, pod, c, image)| {
                json!({
                    "enforcementAction": action,
                    "group": "",
                    "kind": "Pod",
                    "message": format!("container <{c}> has an invalid image repo <{image}>, allowed repos are {repos}"),
                    "name": pod,
                    "namespace": ns,
                    "version": "v1",
                })
            })
            .collect();
        let uid = self.d.uid();
        let meta = Meta {
            name: "repo-is-corp",
            namespace: None,
            uid: &uid,
            ago: ago - 3600,
            labels,
            annotations: Obj::new(),
            owner: None,
        }
        .build();
        let _ = gk;
        self.emit(object(
            "constraints.gatekeeper.sh/v1beta1",
            "K8sAllowedRepos",
            meta,
            Some(json!({
                "enforcementAction": action,
                "match": {
                    "kinds": [{"apiGroups": [""], "kinds": ["Pod"]}],
                    "excludedNamespaces": ["kube-system", "gatekeeper-system"],
                },
                "parameters": {"repos": repos},
            })),
            Some(json!({
                "auditTimestamp": ts(60),
                "totalViolations": self.untrusted_total,
                "violations": violations,
                "byPod": [{"id": "gatekeeper-audit", "observedGeneration": 1, "enforced": true, "constraintUID": uid}],
            })),
        ));
    }

    /// Node-level warnings: memory pressure and kernel OOM kills.
    pub(crate) fn node_events(&mut self) {
        for i in 0..self.nodes.len() {
            if !self.nodes[i].memory_pressure {
                continue;
            }
            let (name, uid) = (self.nodes[i].name.clone(), self.nodes[i].uid.clone());
            let inv = involved("v1", "Node", None, &name, &uid, None);
            self.event(
                "default",
                inv.clone(),
                false,
                "NodeHasInsufficientMemory",
                format!("Node {name} status is now: NodeHasInsufficientMemory"),
                1,
                1800,
                "kubelet",
                Some(&name),
            );
            let count = self.d.range(1, 30);
            let at0 = self.d.range(1000, 60000);
            let at1 = self.d.range(2_000_000, 9_000_000);
            let at2 = self.d.range(60, 1800);
            let at3 = self.d.range(500_000, 2_000_000);
            self.event(
                "default",
                inv.clone(),
                true,
                "OOMKilling",
                format!(
                    "Memory cgroup out of memory: Killed process {} (java) total-vm:{}kB, anon-rss:{}kB, file-rss:0kB, shmem-rss:0kB",
                    at0,
                    at1,
                    at3
                ),
                count,
                at2,
                "kernel-monitor",
                Some(&name),
            );
            let at0 = self.d.range(60, 1800);
            self.event(
                "default",
                inv,
                true,
                "EvictionThresholdMet",
                "Attempting to reclaim memory".into(),
                count,
                at0,
                "kubelet",
                Some(&name),
            );
        }
    }
}
