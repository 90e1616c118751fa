//! Static data the generator draws from: images, instance types, resource
//! spellings, security presets, names, and the per-flavor versions of the
//! cluster services (the source of fleet drift).

use super::Flavor;

pub(crate) const MYSQL_IMAGES: &[&str] = &[
    "mysql:5.7",
    "mysql:8.0.36",
    "docker.io/library/mysql:8.4",
    "bitnami/mysql:8.0",
    "registry.corp.example.com/db/mysql:8.0.35",
    "mysql",
];

pub(crate) const POSTGRES_IMAGES: &[&str] = &[
    "postgres:16.2",
    "postgres:15",
    "docker.io/bitnami/postgresql:15.4.0",
    "registry.corp.example.com/db/postgres:14.11",
    "postgres:13-alpine",
];

pub(crate) const REDIS_IMAGES: &[&str] = &[
    "redis:7.2",
    "redis:6.2-alpine",
    "bitnami/redis:7.0.15",
    "quay.io/opstree/redis:v7.0.12",
    "redis:latest",
];

pub(crate) const NGINX_IMAGES: &[&str] = &[
    "nginx",
    "nginx:1.25",
    "nginx:1.21.6-alpine",
    "nginx:latest",
    "nginxinc/nginx-unprivileged:1.25-alpine",
    "localhost:5000/nginx:1.2",
];

/// Sidecars people bolt onto pods; a mix of trusted and untrusted registries.
pub(crate) const SIDECAR_IMAGES: &[(&str, &str)] = &[
    ("envoy", "envoyproxy/envoy:v1.29.2"),
    ("istio-proxy", "docker.io/istio/proxyv2:1.20.3"),
    ("log-forwarder", "fluent/fluentd:v1.16-1"),
    (
        "metrics-agent",
        "registry.corp.example.com/platform/metrics-agent:2.3.1",
    ),
];

/// Trusted prefixes of the fleet's `K8sAllowedRepos` constraint.
pub(crate) const TRUSTED_REPOS: &[&str] = &[
    "registry.corp.example.com/",
    "123456789012.dkr.ecr.",
    "602401143452.dkr.ecr.",
];

pub(crate) const APP_NAMES: &[&str] = &[
    "frontend",
    "api",
    "checkout",
    "cart",
    "catalog",
    "payments",
    "orders",
    "search",
    "auth",
    "users",
    "notifications",
    "billing",
    "inventory",
    "shipping",
    "reviews",
    "recommendations",
    "gateway",
    "reporting",
    "pricing",
    "ledger",
];

pub(crate) const NAMESPACE_NAMES: &[&str] = &[
    "team-a",
    "shop",
    "payments",
    "checkout",
    "identity",
    "search",
    "analytics",
    "billing",
    "orders",
    "inventory",
    "notifications",
    "data-platform",
    "ml-serving",
    "marketing",
    "support",
    "team-b",
    "team-c",
    "partners",
    "mobile-api",
    "fraud",
];

pub(crate) const TEAMS: &[&str] = &[
    "platform",
    "storefront",
    "payments",
    "identity",
    "data",
    "growth",
    "sre",
];

pub(crate) const OWNERS: &[&str] = &[
    "alice@example.com",
    "bob@example.com",
    "carol@example.com",
    "dave@example.com",
    "erin@example.com",
];

/// One container's resources: each field is (spelling, value in millicores or bytes).
#[derive(Clone, Copy)]
pub(crate) struct Res {
    pub cpu_req: Option<(&'static str, u64)>,
    pub mem_req: Option<(&'static str, u64)>,
    pub cpu_lim: Option<(&'static str, u64)>,
    pub mem_lim: Option<(&'static str, u64)>,
}

const GI: u64 = 1 << 30;
const MI: u64 = 1 << 20;

pub(crate) const NO_RES: Res = Res {
    cpu_req: None,
    mem_req: None,
    cpu_lim: None,
    mem_lim: None,
};

/// Requests and limits as people write them, in every spelling Kubernetes
/// accepts; generated objects store them the way the API server does, in
/// canonical form (`0.5` becomes `500m`, `1.5Gi` `1536Mi`: see the sim's
/// `defaults` module). Limits never sit below requests and limits never
/// appear without requests (the API server would default such requests,
/// and templates must match their pods).
pub(crate) const RESOURCES: &[(Res, u32)] = &[
    (NO_RES, 14),
    (
        Res {
            cpu_req: Some(("100m", 100)),
            mem_req: Some(("128Mi", 128 * MI)),
            cpu_lim: None,
            mem_lim: None,
        },
        14,
    ),
    (
        Res {
            cpu_req: Some(("250m", 250)),
            mem_req: Some(("512Mi", 512 * MI)),
            cpu_lim: Some(("500m", 500)),
            mem_lim: Some(("1Gi", GI)),
        },
        16,
    ),
    (
        Res {
            cpu_req: Some(("0.5", 500)),
            mem_req: Some(("512M", 512_000_000)),
            cpu_lim: Some(("1", 1000)),
            mem_lim: Some(("1.5Gi", 3 * GI / 2)),
        },
        10,
    ),
    (
        Res {
            cpu_req: Some(("1", 1000)),
            mem_req: Some(("1Gi", GI)),
            cpu_lim: Some(("1", 1000)),
            mem_lim: Some(("1Gi", GI)),
        },
        8,
    ),
    (
        Res {
            cpu_req: Some(("50m", 50)),
            mem_req: Some(("129e6", 129_000_000)),
            cpu_lim: None,
            mem_lim: Some(("256Mi", 256 * MI)),
        },
        12,
    ),
    (
        Res {
            cpu_req: Some(("100m", 100)),
            mem_req: Some(("64Mi", 64 * MI)),
            cpu_lim: Some(("1e3", 1_000_000)),
            mem_lim: Some(("128Mi", 128 * MI)),
        },
        4,
    ),
    (
        Res {
            cpu_req: Some(("0.25", 250)),
            mem_req: Some(("256Mi", 256 * MI)),
            cpu_lim: None,
            mem_lim: None,
        },
        10,
    ),
    (
        Res {
            cpu_req: Some(("200m", 200)),
            mem_req: Some(("1e9", 1_000_000_000)),
            cpu_lim: Some(("2", 2000)),
            mem_lim: Some(("2Gi", 2 * GI)),
        },
        6,
    ),
    (
        Res {
            cpu_req: Some(("10m", 10)),
            mem_req: Some(("32Mi", 32 * MI)),
            cpu_lim: Some(("100m", 100)),
            mem_lim: Some(("64Mi", 64 * MI)),
        },
        6,
    ),
];

/// Resources for small system and sidecar containers.
pub(crate) const SMALL_RES: Res = Res {
    cpu_req: Some(("10m", 10)),
    mem_req: Some(("32Mi", 32 * MI)),
    cpu_lim: Some(("100m", 100)),
    mem_lim: Some(("128Mi", 128 * MI)),
};

pub(crate) const DB_RES: Res = Res {
    cpu_req: Some(("500m", 500)),
    mem_req: Some(("1Gi", GI)),
    cpu_lim: Some(("2", 2000)),
    mem_lim: Some(("2Gi", 2 * GI)),
};

/// How locked-down a pod is.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Hardening {
    Hardened,
    Partial,
    Unset,
    Root,
    NetAdmin,
    SysAdmin,
    Privileged,
}

pub(crate) const HARDENING: &[(Hardening, u32)] = &[
    (Hardening::Hardened, 30),
    (Hardening::Partial, 20),
    (Hardening::Unset, 34),
    (Hardening::Root, 8),
    (Hardening::NetAdmin, 3),
    (Hardening::SysAdmin, 2),
    (Hardening::Privileged, 3),
];

/// An EC2 instance type: vCPU, memory (GiB), max pods (ENI limit).
pub(crate) struct InstanceType {
    pub name: &'static str,
    pub cpu: u64,
    pub mem_gi: u64,
    pub max_pods: u64,
}

pub(crate) const INSTANCE_TYPES: &[(InstanceType, u32)] = &[
    (
        InstanceType {
            name: "m5.2xlarge",
            cpu: 8,
            mem_gi: 32,
            max_pods: 58,
        },
        2,
    ),
    (
        InstanceType {
            name: "m5.4xlarge",
            cpu: 16,
            mem_gi: 64,
            max_pods: 110,
        },
        4,
    ),
    (
        InstanceType {
            name: "c5.4xlarge",
            cpu: 16,
            mem_gi: 32,
            max_pods: 110,
        },
        2,
    ),
    (
        InstanceType {
            name: "r5.2xlarge",
            cpu: 8,
            mem_gi: 64,
            max_pods: 58,
        },
        1,
    ),
    (
        InstanceType {
            name: "m6i.4xlarge",
            cpu: 16,
            mem_gi: 64,
            max_pods: 110,
        },
        3,
    ),
];

/// Versions of everything that drifts between clusters of one fleet.
pub(crate) struct Versions {
    pub region: &'static str,
    pub kubelet: &'static str,
    /// Nodes not yet upgraded: (version, share of nodes).
    pub kubelet_lagging: Option<(&'static str, f64)>,
    pub kube_proxy_image: &'static str,
    pub coredns_image: &'static str,
    pub cni_image: &'static str,
    /// fluent-bit image and whether it runs on every node (else only on
    /// nodes labelled for logging).
    pub fluent_bit: Option<(&'static str, bool)>,
    pub node_exporter: &'static str,
    pub prometheus: &'static str,
    pub kube_state_metrics: &'static str,
    pub ingress_nginx: &'static str,
    pub cert_manager: Option<&'static str>,
    pub gatekeeper: Option<&'static str>,
    /// Versions of the constrainttemplates CRD: (name, served, storage).
    pub gatekeeper_template_versions: &'static [(&'static str, bool, bool)],
    /// Share of nodes under memory pressure (at least one when > 0).
    pub memory_pressure: f64,
    pub namespace_ttl_share: f64,
}

const PROD: Versions = Versions {
    region: "eu-west-1",
    kubelet: "v1.30.4-eks-a737599",
    kubelet_lagging: None,
    kube_proxy_image: "602401143452.dkr.ecr.eu-west-1.amazonaws.com/eks/kube-proxy:v1.30.0-minimal-eksbuild.3",
    coredns_image: "602401143452.dkr.ecr.eu-west-1.amazonaws.com/eks/coredns:v1.11.1-eksbuild.9",
    cni_image: "602401143452.dkr.ecr.eu-west-1.amazonaws.com/amazon-k8s-cni:v1.18.1-eksbuild.1",
    fluent_bit: Some(("cr.fluentbit.io/fluent/fluent-bit:3.0.4", true)),
    node_exporter: "quay.io/prometheus/node-exporter:v1.8.0",
    prometheus: "quay.io/prometheus/prometheus:v2.51.2",
    kube_state_metrics: "registry.k8s.io/kube-state-metrics/kube-state-metrics:v2.12.0",
    ingress_nginx: "registry.k8s.io/ingress-nginx/controller:v1.10.1@sha256:e24f39d3eed6bcc239a56f20098878845f62baa34b9f2be2fd2c38ce9fb0f29e",
    cert_manager: Some("v1.14.4"),
    gatekeeper: Some("v3.16.3"),
    gatekeeper_template_versions: &[("v1", true, true), ("v1beta1", true, false)],
    memory_pressure: 0.04,
    namespace_ttl_share: 0.1,
};

const STAGING: Versions = Versions {
    region: "eu-west-1",
    kubelet: "v1.30.2-eks-1552ad0",
    kubelet_lagging: Some(("v1.29.6-eks-1552ad0", 0.3)),
    kube_proxy_image: "602401143452.dkr.ecr.eu-west-1.amazonaws.com/eks/kube-proxy:v1.29.3-minimal-eksbuild.2",
    coredns_image: "602401143452.dkr.ecr.eu-west-1.amazonaws.com/eks/coredns:v1.11.1-eksbuild.4",
    cni_image: "602401143452.dkr.ecr.eu-west-1.amazonaws.com/amazon-k8s-cni:v1.16.4-eksbuild.2",
    fluent_bit: Some(("cr.fluentbit.io/fluent/fluent-bit:2.2.2", false)),
    node_exporter: "quay.io/prometheus/node-exporter:v1.7.0",
    prometheus: "quay.io/prometheus/prometheus:v2.48.1",
    kube_state_metrics: "registry.k8s.io/kube-state-metrics/kube-state-metrics:v2.10.1",
    ingress_nginx: "registry.k8s.io/ingress-nginx/controller:v1.9.4",
    cert_manager: Some("v1.12.3"),
    gatekeeper: Some("v3.11.1"),
    gatekeeper_template_versions: &[("v1", true, false), ("v1beta1", true, true)],
    memory_pressure: 0.05,
    namespace_ttl_share: 0.3,
};

const DEV: Versions = Versions {
    region: "us-east-1",
    kubelet: "v1.29.3-eks-ae9a62a",
    kubelet_lagging: Some(("v1.28.8-eks-ae9a62a", 0.2)),
    kube_proxy_image: "602401143452.dkr.ecr.us-east-1.amazonaws.com/eks/kube-proxy:v1.29.1-minimal-eksbuild.2",
    coredns_image: "602401143452.dkr.ecr.us-east-1.amazonaws.com/eks/coredns:v1.11.1-eksbuild.4",
    cni_image: "602401143452.dkr.ecr.us-east-1.amazonaws.com/amazon-k8s-cni:v1.15.1-eksbuild.1",
    fluent_bit: None,
    node_exporter: "quay.io/prometheus/node-exporter:v1.6.1",
    prometheus: "quay.io/prometheus/prometheus:v2.45.0",
    kube_state_metrics: "registry.k8s.io/kube-state-metrics/kube-state-metrics:v2.9.2",
    ingress_nginx: "registry.k8s.io/ingress-nginx/controller:v1.8.0",
    cert_manager: None,
    gatekeeper: None,
    gatekeeper_template_versions: &[],
    memory_pressure: 0.0,
    namespace_ttl_share: 0.6,
};

const GENERIC: Versions = Versions {
    memory_pressure: 0.04,
    namespace_ttl_share: 0.2,
    ..PROD
};

pub(crate) fn versions(flavor: &Flavor) -> &'static Versions {
    match flavor {
        Flavor::Prod => &PROD,
        Flavor::Staging => &STAGING,
        Flavor::Dev => &DEV,
        Flavor::Generic => &GENERIC,
    }
}

/// The image reference as the container runtime reports it in
/// `status.containerStatuses[].image` (`nginx` → `docker.io/library/nginx:latest`).
pub(crate) fn normalize_image(image: &str) -> String {
    let (name, digest) = match image.split_once('@') {
        Some((n, d)) => (n, Some(d)),
        None => (image, None),
    };
    let first = name.split('/').next().unwrap_or(name);
    let has_registry =
        name.contains('/') && (first.contains('.') || first.contains(':') || first == "localhost");
    let mut full = if has_registry {
        name.to_string()
    } else if name.contains('/') {
        format!("docker.io/{name}")
    } else {
        format!("docker.io/library/{name}")
    };
    let last = full.rsplit('/').next().unwrap_or("");
    if !last.contains(':') && digest.is_none() {
        full.push_str(":latest");
    }
    if let Some(d) = digest {
        full.push('@');
        full.push_str(d);
    }
    full
}

/// The repository part of a normalized reference (no tag, no digest).
pub(crate) fn image_repository(normalized: &str) -> &str {
    let no_digest = normalized.split('@').next().unwrap_or(normalized);
    match no_digest.rfind(':') {
        Some(i) if !no_digest[i..].contains('/') => &no_digest[..i],
        _ => no_digest,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalizes_like_the_runtime() {
        assert_eq!(normalize_image("nginx"), "docker.io/library/nginx:latest");
        assert_eq!(
            normalize_image("bitnami/mysql:8.0"),
            "docker.io/bitnami/mysql:8.0"
        );
        assert_eq!(
            normalize_image("localhost:5000/nginx:1.2"),
            "localhost:5000/nginx:1.2"
        );
        assert_eq!(
            normalize_image("quay.io/a/b@sha256:00"),
            "quay.io/a/b@sha256:00"
        );
        assert_eq!(
            image_repository("localhost:5000/nginx:1.2"),
            "localhost:5000/nginx"
        );
        assert_eq!(
            image_repository("localhost:5000/nginx"),
            "localhost:5000/nginx"
        );
    }

    #[test]
    fn limits_never_below_requests() {
        for (r, _) in RESOURCES {
            if let (Some(a), Some(b)) = (r.cpu_req, r.cpu_lim) {
                assert!(a.1 <= b.1);
            }
            if let (Some(a), Some(b)) = (r.mem_req, r.mem_lim) {
                assert!(a.1 <= b.1);
            }
            assert!(r.cpu_lim.is_none() || r.cpu_req.is_some());
            assert!(r.mem_lim.is_none() || r.mem_req.is_some());
        }
    }
}
