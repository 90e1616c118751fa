//! Services with their Endpoints and EndpointSlices, Ingresses (with TLS
//! secrets and cert-manager Certificates), IngressClasses and NetworkPolicies.
//!
//! Endpoints are derived from the very pods a Service selects, so "truth"
//! computed by a client from labels and pod status matches them exactly.

use serde_json::{Value, json};

use super::dice::{BASE_EPOCH, ts, ts_abs};
use super::{Gen, Meta, NsState, Obj, PodRef, kv, object, owner_ref};

/// kube-dns's ClusterIP, 172.20.0.10, as an offset into the service range.
const KUBE_DNS_IP_INDEX: u32 = 10;

/// Size of the default NodePort range (30000-32767).
const NODE_PORTS: i64 = 2768;

/// How a LoadBalancer is marked internal (or not).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum LbScheme {
    External,
    /// AWS Load Balancer Controller, `internet-facing` spelled out.
    ExternalNlb,
    AwsSchemeInternal,
    AwsInternalTrue,
    GkeInternal,
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum SvcType {
    ClusterIp,
    Headless,
    NodePort,
    LoadBalancer {
        scheme: LbScheme,
        source_ranges: bool,
    },
}

/// One Service port; `target` is the container port number, `target_name`
/// the named port the Service refers to (when it uses a name).
#[derive(Clone, Copy)]
pub(crate) struct SvcPort {
    pub name: &'static str,
    pub port: i64,
    pub target: i64,
    pub target_name: Option<&'static str>,
    pub proto: &'static str,
}

pub(crate) struct SvcSpec<'a> {
    pub ns: &'a str,
    pub name: &'a str,
    pub ago: i64,
    pub labels: Obj,
    pub selector: Obj,
    pub ty: SvcType,
    pub ports: Vec<SvcPort>,
    pub cluster_ip: Option<String>,
}

impl Gen<'_> {
    /// The next free ClusterIP of 172.20.0.0/16. The range's first address
    /// belongs to `kubernetes.default` and 172.20.0.10 to kube-dns, whose
    /// Services ask for them by address: the sequence skips both, as the
    /// real allocator never hands out an address that is taken.
    fn next_cluster_ip(&mut self) -> String {
        let mut k = self.svc_ip_seq;
        while k == 1 || k == KUBE_DNS_IP_INDEX {
            k += 1;
        }
        self.svc_ip_seq = k + 1;
        format!("172.{}.{}.{}", 20 + k / 65_536, (k / 256) % 256, k % 256)
    }

    /// A free port of the 30000-32767 range (callers keep the range from filling up).
    fn node_port(&mut self) -> i64 {
        let start = self.d.range(0, NODE_PORTS - 1);
        for k in 0..NODE_PORTS {
            let p = 30_000 + (start + k) % NODE_PORTS;
            if self.node_ports.insert(p) {
                return p;
            }
        }
        30_000 + start
    }

    /// The next Service type for a public-facing app: the first few cover
    /// every exposure pattern once, the rest are mostly ClusterIP.
    pub(crate) fn next_service_type(&mut self) -> SvcType {
        self.seq.service += 1;
        let lb = |scheme, source_ranges| SvcType::LoadBalancer {
            scheme,
            source_ranges,
        };
        match self.seq.service {
            1 => lb(LbScheme::External, false),
            2 => lb(LbScheme::AwsSchemeInternal, false),
            3 => SvcType::NodePort,
            4 => lb(LbScheme::AwsInternalTrue, false),
            5 => lb(LbScheme::External, true),
            6 => lb(LbScheme::GkeInternal, false),
            7 => lb(LbScheme::ExternalNlb, false),
            _ => *self.d.weighted(&[
                (SvcType::ClusterIp, 65),
                (lb(LbScheme::External, false), 8),
                (lb(LbScheme::ExternalNlb, false), 3),
                (lb(LbScheme::AwsSchemeInternal, false), 5),
                (lb(LbScheme::AwsInternalTrue, false), 4),
                (lb(LbScheme::External, true), 3),
                (SvcType::NodePort, 12),
            ]),
        }
    }

    fn elb_hostname(&mut self, internal: bool) -> String {
        format!(
            "{}a{}-{}.{}.elb.amazonaws.com",
            if internal { "internal-" } else { "" },
            self.d.hex(32),
            self.d.digits(10),
            self.v.region
        )
    }

    /// Emits a Service and, when it has a selector, its Endpoints and
    /// EndpointSlices listing `pods` (the pods the selector matches).
    /// Returns the load balancer hostname, if any.
    pub(crate) fn service(&mut self, mut s: SvcSpec<'_>, pods: &[PodRef]) -> Option<String> {
        // A real cluster runs out of node ports too; big fleets fall back to ClusterIP.
        let wants_ports = matches!(s.ty, SvcType::NodePort | SvcType::LoadBalancer { .. });
        if wants_ports && self.node_ports.len() + s.ports.len() > (NODE_PORTS as usize) * 9 / 10 {
            s.ty = SvcType::ClusterIp;
        }
        let uid = self.d.uid();
        let mut annotations = Obj::new();
        let mut lb_host = None;
        let mut lb_status = json!({});
        if let SvcType::LoadBalancer { scheme, .. } = s.ty {
            match scheme {
                LbScheme::External => {}
                LbScheme::ExternalNlb => {
                    annotations.extend(kv(&[
                        (
                            "service.beta.kubernetes.io/aws-load-balancer-type",
                            "external",
                        ),
                        (
                            "service.beta.kubernetes.io/aws-load-balancer-nlb-target-type",
                            "ip",
                        ),
                        (
                            "service.beta.kubernetes.io/aws-load-balancer-scheme",
                            "internet-facing",
                        ),
                    ]));
                }
                LbScheme::AwsSchemeInternal => {
                    annotations.extend(kv(&[
                        (
                            "service.beta.kubernetes.io/aws-load-balancer-type",
                            "external",
                        ),
                        (
                            "service.beta.kubernetes.io/aws-load-balancer-nlb-target-type",
                            "ip",
                        ),
                        (
                            "service.beta.kubernetes.io/aws-load-balancer-scheme",
                            "internal",
                        ),
                    ]));
                }
                LbScheme::AwsInternalTrue => {
                    annotations.insert(
                        "service.beta.kubernetes.io/aws-load-balancer-internal".into(),
                        "true".into(),
                    );
                }
                LbScheme::GkeInternal => {
                    annotations.insert(
                        "networking.gke.io/load-balancer-type".into(),
                        "Internal".into(),
                    );
                }
            }
            if scheme == LbScheme::GkeInternal {
                let ip = format!("10.0.250.{}", self.d.range(2, 250));
                lb_status = json!({"loadBalancer": {"ingress": [{"ip": ip, "ipMode": "VIP"}]}});
            } else {
                let internal = matches!(
                    scheme,
                    LbScheme::AwsSchemeInternal | LbScheme::AwsInternalTrue
                );
                let host = self.elb_hostname(internal);
                lb_status = json!({"loadBalancer": {"ingress": [{"hostname": host}]}});
                lb_host = Some(host);
            }
        }
        let cluster_ip = match (s.ty, s.cluster_ip.clone()) {
            (SvcType::Headless, _) => "None".to_string(),
            (_, Some(ip)) => ip,
            _ => self.next_cluster_ip(),
        };
        let node_ports = matches!(s.ty, SvcType::NodePort | SvcType::LoadBalancer { .. });
        let mut ports = Vec::with_capacity(s.ports.len());
        for p in &s.ports {
            let mut o = Obj::new();
            o.insert("name".into(), p.name.into());
            o.insert("protocol".into(), p.proto.into());
            o.insert("port".into(), p.port.into());
            o.insert(
                "targetPort".into(),
                match p.target_name {
                    Some(n) => Value::from(n),
                    None => Value::from(p.target),
                },
            );
            if node_ports {
                o.insert("nodePort".into(), self.node_port().into());
            }
            ports.push(Value::Object(o));
        }
        let type_name = match s.ty {
            SvcType::ClusterIp | SvcType::Headless => "ClusterIP",
            SvcType::NodePort => "NodePort",
            SvcType::LoadBalancer { .. } => "LoadBalancer",
        };
        let mut spec = Obj::new();
        spec.insert("ports".into(), Value::Array(ports));
        if !s.selector.is_empty() {
            spec.insert("selector".into(), Value::Object(s.selector.clone()));
        }
        spec.insert("clusterIP".into(), cluster_ip.clone().into());
        spec.insert("clusterIPs".into(), json!([cluster_ip]));
        spec.insert("type".into(), type_name.into());
        spec.insert("sessionAffinity".into(), "None".into());
        if let SvcType::LoadBalancer {
            source_ranges: true,
            ..
        } = s.ty
        {
            spec.insert(
                "loadBalancerSourceRanges".into(),
                json!(["203.0.113.0/24", "198.51.100.17/32"]),
            );
        }
        if node_ports {
            spec.insert("externalTrafficPolicy".into(), "Cluster".into());
        }
        spec.insert("ipFamilies".into(), json!(["IPv4"]));
        spec.insert("ipFamilyPolicy".into(), "SingleStack".into());
        if matches!(s.ty, SvcType::LoadBalancer { .. }) {
            spec.insert("allocateLoadBalancerNodePorts".into(), true.into());
        }
        spec.insert("internalTrafficPolicy".into(), "Cluster".into());
        let meta = Meta {
            name: s.name,
            namespace: Some(s.ns),
            uid: &uid,
            ago: s.ago,
            labels: s.labels.clone(),
            annotations,
            owner: None,
        }
        .build();
        self.emit(object(
            "v1",
            "Service",
            meta,
            Some(Value::Object(spec)),
            Some(lb_status),
        ));
        if !s.selector.is_empty() {
            self.endpoints(&s, &uid, pods);
        }
        lb_host
    }

    fn endpoints(&mut self, s: &SvcSpec<'_>, svc_uid: &str, pods: &[PodRef]) {
        let live: Vec<&PodRef> = pods
            .iter()
            .filter(|p| !p.terminal && p.ip.is_some() && p.node.is_some())
            .collect();
        let addr = |g: &Gen, p: &PodRef| {
            let node = p.node.map(|i| g.nodes[i].name.clone()).unwrap_or_default();
            json!({
                "ip": p.ip,
                "nodeName": node,
                "targetRef": {"kind": "Pod", "namespace": s.ns, "name": p.name, "uid": p.uid},
            })
        };
        let ready: Vec<Value> = live
            .iter()
            .filter(|p| p.ready)
            .map(|p| addr(self, p))
            .collect();
        let not_ready: Vec<Value> = live
            .iter()
            .filter(|p| !p.ready)
            .map(|p| addr(self, p))
            .collect();
        let ep_ports: Vec<Value> = s
            .ports
            .iter()
            .map(|p| json!({"name": p.name, "port": p.target, "protocol": p.proto}))
            .collect();
        let mut labels = s.labels.clone();
        if s.ty == SvcType::Headless {
            labels.insert("service.kubernetes.io/headless".into(), "".into());
        }
        let uid = self.d.uid();
        let meta = Meta {
            name: s.name,
            namespace: Some(s.ns),
            uid: &uid,
            ago: s.ago,
            labels: labels.clone(),
            annotations: kv(&[(
                "endpoints.kubernetes.io/last-change-trigger-time",
                &ts(self.d.range(60, s.ago.max(61))),
            )]),
            owner: None,
        }
        .build();
        let mut ep = Obj::new();
        ep.insert("apiVersion".into(), "v1".into());
        ep.insert("kind".into(), "Endpoints".into());
        ep.insert("metadata".into(), meta);
        if !live.is_empty() {
            let mut subset = Obj::new();
            if !ready.is_empty() {
                subset.insert("addresses".into(), Value::Array(ready));
            }
            if !not_ready.is_empty() {
                subset.insert("notReadyAddresses".into(), Value::Array(not_ready));
            }
            subset.insert("ports".into(), Value::Array(ep_ports.clone()));
            ep.insert("subsets".into(), json!([subset]));
        }
        self.emit(Value::Object(ep));

        // EndpointSlices hold at most 100 endpoints each.
        let chunks: Vec<&[&PodRef]> = if live.is_empty() {
            vec![&[]]
        } else {
            live.chunks(100).collect()
        };
        for chunk in chunks {
            let name = format!("{}-{}", s.name, self.d.suffix(5));
            let uid = self.d.uid();
            let mut l = labels.clone();
            l.insert(
                "endpointslice.kubernetes.io/managed-by".into(),
                "endpointslice-controller.k8s.io".into(),
            );
            l.insert("kubernetes.io/service-name".into(), s.name.into());
            let meta = Meta {
                name: &name,
                namespace: Some(s.ns),
                uid: &uid,
                ago: s.ago,
                labels: l,
                annotations: Obj::new(),
                owner: Some(owner_ref("v1", "Service", s.name, svc_uid)),
            }
            .build();
            let endpoints: Vec<Value> = chunk
                .iter()
                .map(|p| {
                    let (node, zone) = p
                        .node
                        .map(|i| (self.nodes[i].name.clone(), self.nodes[i].zone.clone()))
                        .unwrap_or_default();
                    json!({
                        "addresses": [p.ip],
                        "conditions": {"ready": p.ready, "serving": p.ready, "terminating": false},
                        "targetRef": {"kind": "Pod", "namespace": s.ns, "name": p.name, "uid": p.uid},
                        "nodeName": node,
                        "zone": zone,
                    })
                })
                .collect();
            let mut o = Obj::new();
            o.insert("apiVersion".into(), "discovery.k8s.io/v1".into());
            o.insert("kind".into(), "EndpointSlice".into());
            o.insert("metadata".into(), meta);
            o.insert("addressType".into(), "IPv4".into());
            o.insert("endpoints".into(), Value::Array(endpoints));
            o.insert("ports".into(), Value::Array(ep_ports.clone()));
            self.emit(Value::Object(o));
        }
    }

    /// The API server's own Service in `default`, with no selector.
    pub(crate) fn kubernetes_service(&mut self) {
        let uid = self.d.uid();
        let age = self.cluster_age;
        let meta = Meta {
            name: "kubernetes",
            namespace: Some("default"),
            uid: &uid,
            ago: age,
            labels: kv(&[("component", "apiserver"), ("provider", "kubernetes")]),
            annotations: Obj::new(),
            owner: None,
        }
        .build();
        self.emit(object(
            "v1",
            "Service",
            meta,
            Some(json!({
                "ports": [{"name": "https", "protocol": "TCP", "port": 443, "targetPort": 443}],
                "clusterIP": "172.20.0.1",
                "clusterIPs": ["172.20.0.1"],
                "type": "ClusterIP",
                "sessionAffinity": "None",
                "ipFamilies": ["IPv4"],
                "ipFamilyPolicy": "SingleStack",
                "internalTrafficPolicy": "Cluster",
            })),
            Some(json!({"loadBalancer": {}})),
        ));
        let api_ips = ["10.0.10.51", "10.0.74.200"];
        let ep_uid = self.d.uid();
        let meta = Meta {
            name: "kubernetes",
            namespace: Some("default"),
            uid: &ep_uid,
            ago: age,
            labels: kv(&[("endpointslice.kubernetes.io/skip-mirror", "true")]),
            annotations: Obj::new(),
            owner: None,
        }
        .build();
        let mut ep = Obj::new();
        ep.insert("apiVersion".into(), "v1".into());
        ep.insert("kind".into(), "Endpoints".into());
        ep.insert("metadata".into(), meta);
        ep.insert(
            "subsets".into(),
            json!([{"addresses": api_ips.iter().map(|ip| json!({"ip": ip})).collect::<Vec<_>>(), "ports": [{"name": "https", "port": 443, "protocol": "TCP"}]}]),
        );
        self.emit(Value::Object(ep));
        let slice_uid = self.d.uid();
        let meta = Meta {
            name: "kubernetes",
            namespace: Some("default"),
            uid: &slice_uid,
            ago: age,
            labels: kv(&[("kubernetes.io/service-name", "kubernetes")]),
            annotations: Obj::new(),
            owner: None,
        }
        .build();
        let mut o = Obj::new();
        o.insert("apiVersion".into(), "discovery.k8s.io/v1".into());
        o.insert("kind".into(), "EndpointSlice".into());
        o.insert("metadata".into(), meta);
        o.insert("addressType".into(), "IPv4".into());
        o.insert(
            "endpoints".into(),
            Value::Array(
                api_ips
                    .iter()
                    .map(|ip| json!({"addresses": [ip], "conditions": {"ready": true}}))
                    .collect(),
            ),
        );
        o.insert(
            "ports".into(),
            json!([{"name": "https", "port": 443, "protocol": "TCP"}]),
        );
        self.emit(Value::Object(o));
    }

    pub(crate) fn ingress_class(&mut self, name: &str, controller: &str, default: bool) {
        let uid = self.d.uid();
        let ann = if default {
            kv(&[("ingressclass.kubernetes.io/is-default-class", "true")])
        } else {
            Obj::new()
        };
        let meta = Meta {
            name,
            namespace: None,
            uid: &uid,
            ago: self.cluster_age - 86_400,
            labels: kv(&[("app.kubernetes.io/component", "controller")]),
            annotations: ann,
            owner: None,
        }
        .build();
        self.emit(object(
            "networking.k8s.io/v1",
            "IngressClass",
            meta,
            Some(json!({"controller": controller})),
            None,
        ));
    }

    /// The host an ingress serves: the first few cover overlap and
    /// wildcards, later ones mostly get their own host.
    fn ingress_host(&mut self, ns: &str, svc: &str) -> String {
        self.seq.ingress += 1;
        let host = match self.seq.ingress {
            1 => "shop.apps.example.com".to_string(),
            2 => "*.apps.example.com".to_string(),
            _ => {
                let want_overlap = !self.overlap_made || self.d.chance(0.1);
                let other: Vec<&(String, String)> = if want_overlap {
                    self.hosts.iter().filter(|(_, n)| n != ns).collect()
                } else {
                    Vec::new()
                };
                if !other.is_empty() {
                    let h = other[self.d.below(other.len())].0.clone();
                    self.overlap_made = true;
                    h
                } else if self.d.chance(0.05) {
                    format!("*.{ns}.example.com")
                } else {
                    format!("{svc}.{ns}.apps.example.com")
                }
            }
        };
        self.hosts.push((host.clone(), ns.to_string()));
        host
    }

    /// An Ingress routing to Service `svc` (port `port`), maybe with TLS.
    pub(crate) fn ingress(&mut self, ns: &mut NsState, svc: &str, port: i64, ago: i64) {
        let name = Gen::unique_name(ns, &format!("ing/{svc}"));
        let name = name.trim_start_matches("ing/").to_string();
        let host = self.ingress_host(&ns.name, svc);
        let (tls, https_only) = match self.seq.ingress {
            1 => (true, true),
            2 => (false, false),
            3 => (true, false),
            _ => {
                let tls = self.d.chance(0.6);
                (tls, tls && self.d.chance(0.5))
            }
        };
        let uid = self.d.uid();
        let mut ann = Obj::new();
        let secret_name = format!("{name}-tls");
        if tls && self.cert_manager {
            ann.insert(
                "cert-manager.io/cluster-issuer".into(),
                "letsencrypt-prod".into(),
            );
        }
        if https_only {
            ann.insert("kubernetes.io/ingress.allow-http".into(), "false".into());
            ann.insert(
                "nginx.ingress.kubernetes.io/force-ssl-redirect".into(),
                "true".into(),
            );
        }
        let meta = Meta {
            name: &name,
            namespace: Some(&ns.name),
            uid: &uid,
            ago,
            labels: kv(&[("app", svc)]),
            annotations: ann,
            owner: None,
        }
        .build();
        let mut spec = Obj::new();
        spec.insert("ingressClassName".into(), "nginx".into());
        if tls {
            spec.insert(
                "tls".into(),
                json!([{"hosts": [host], "secretName": secret_name}]),
            );
        }
        spec.insert(
            "rules".into(),
            json!([{"host": host, "http": {"paths": [{
                "path": "/",
                "pathType": "Prefix",
                "backend": {"service": {"name": svc, "port": {"number": port}}},
            }]}}]),
        );
        let status = match &self.ingress_lb {
            Some(h) => json!({"loadBalancer": {"ingress": [{"hostname": h}]}}),
            None => json!({"loadBalancer": {}}),
        };
        if tls {
            let key = format!("secret/{secret_name}");
            if ns.names.insert(key) {
                let ann = if self.cert_manager {
                    kv(&[
                        ("cert-manager.io/certificate-name", &secret_name),
                        ("cert-manager.io/issuer-kind", "ClusterIssuer"),
                        ("cert-manager.io/issuer-name", "letsencrypt-prod"),
                        ("cert-manager.io/common-name", &host),
                    ])
                } else {
                    Obj::new()
                };
                let crt = format!(
                    "-----BEGIN CERTIFICATE-----\n{}\n-----END CERTIFICATE-----\n",
                    self.d.hex(64)
                );
                let key = format!(
                    "-----BEGIN PRIVATE KEY-----\n{}\n-----END PRIVATE KEY-----\n",
                    self.d.hex(64)
                );
                self.secret(
                    &ns.name,
                    &secret_name,
                    "kubernetes.io/tls",
                    vec![("tls.crt", crt), ("tls.key", key)],
                    ann,
                    ago,
                );
            }
        }
        self.emit(object(
            "networking.k8s.io/v1",
            "Ingress",
            meta,
            Some(Value::Object(spec)),
            Some(status),
        ));
        if tls && self.cert_manager {
            self.certificate(&ns.name, &secret_name, &host, &name, &uid, ago);
        }
    }

    /// A cert-manager Certificate owned by the Ingress that asked for it.
    fn certificate(
        &mut self,
        ns: &str,
        secret: &str,
        host: &str,
        ingress: &str,
        ingress_uid: &str,
        ago: i64,
    ) {
        let uid = self.d.uid();
        let meta = Meta {
            name: secret,
            namespace: Some(ns),
            uid: &uid,
            ago,
            labels: Obj::new(),
            annotations: Obj::new(),
            owner: Some(owner_ref(
                "networking.k8s.io/v1",
                "Ingress",
                ingress,
                ingress_uid,
            )),
        }
        .build();
        // Most certificates are fresh; a few are close to or past expiry.
        let not_after = match self.d.below(20) {
            0 => BASE_EPOCH - self.d.range(86_400, 20 * 86_400),
            1 | 2 => BASE_EPOCH + self.d.range(3600, 7 * 86_400),
            _ => BASE_EPOCH + self.d.range(20 * 86_400, 89 * 86_400),
        };
        let not_before = not_after - 90 * 86_400;
        let expired = not_after < BASE_EPOCH;
        let revision = self.d.range(1, 6);
        let cond = if expired {
            json!({"type": "Ready", "status": "False", "reason": "Expired", "message": format!("Certificate expired on {}", ts_abs(not_after)), "lastTransitionTime": ts_abs(not_after), "observedGeneration": 1})
        } else {
            json!({"type": "Ready", "status": "True", "reason": "Ready", "message": "Certificate is up to date and has not expired", "lastTransitionTime": ts_abs(not_before), "observedGeneration": 1})
        };
        self.emit(object(
            "cert-manager.io/v1",
            "Certificate",
            meta,
            Some(json!({
                "dnsNames": [host],
                "issuerRef": {"group": "cert-manager.io", "kind": "ClusterIssuer", "name": "letsencrypt-prod"},
                "secretName": secret,
                "usages": ["digital signature", "key encipherment"],
            })),
            Some(json!({
                "conditions": [cond],
                "notAfter": ts_abs(not_after),
                "notBefore": ts_abs(not_before),
                "renewalTime": ts_abs(not_after - 30 * 86_400),
                "revision": revision,
            })),
        ));
    }

    /// A default-deny policy plus an allow rule for the ingress controller.
    pub(crate) fn network_policies(&mut self, ns: &NsState, allow_app: Option<(&str, i64)>) {
        let uid = self.d.uid();
        let ago = self.d.range(3600, ns.ago.max(3601));
        let meta = Meta {
            name: "default-deny-ingress",
            namespace: Some(&ns.name),
            uid: &uid,
            ago,
            labels: Obj::new(),
            annotations: Obj::new(),
            owner: None,
        }
        .build();
        self.emit(object(
            "networking.k8s.io/v1",
            "NetworkPolicy",
            meta,
            Some(json!({"podSelector": {}, "policyTypes": ["Ingress"]})),
            None,
        ));
        if let Some((app, port)) = allow_app {
            let uid = self.d.uid();
            let meta = Meta {
                name: "allow-from-ingress-nginx",
                namespace: Some(&ns.name),
                uid: &uid,
                ago,
                labels: Obj::new(),
                annotations: Obj::new(),
                owner: None,
            }
            .build();
            self.emit(object(
                "networking.k8s.io/v1",
                "NetworkPolicy",
                meta,
                Some(json!({
                    "podSelector": {"matchLabels": {"app": app}},
                    "ingress": [{
                        "from": [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "ingress-nginx"}}}],
                        "ports": [{"protocol": "TCP", "port": port}],
                    }],
                    "policyTypes": ["Ingress"],
                })),
                None,
            ));
        }
    }
}
