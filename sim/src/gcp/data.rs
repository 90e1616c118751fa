//! Seeded generation of the fake GCP fleet: per project, the Compute, GKE,
//! IAM, Resource Manager and Cloud Storage resources, each already in the
//! JSON shape its REST API serves.
//!
//! A project's resources depend only on the seed and the project id (not on
//! its position in the list), and nothing reads the clock, so the same seed
//! always serves the same bytes. The resources are consistent the way a real
//! project's are: node VMs belong to node pools, firewall target tags match
//! instance tags, a static address is used by a forwarding rule, node pools
//! run as service accounts that exist.

use base64::Engine;
use serde_json::{Value, json};

use crate::generate::dice::{BASE_EPOCH, Dice, ts};

/// Every Compute Engine `selfLink` starts with this.
pub(crate) const COMPUTE_BASE: &str = "https://www.googleapis.com/compute/v1";

/// The regions each project uses and their zones, sorted, as aggregated
/// lists order their scopes.
pub(crate) const REGIONS: &[(&str, &[&str])] = &[
    ("europe-west1", &["europe-west1-b", "europe-west1-c"]),
    ("us-central1", &["us-central1-a", "us-central1-b"]),
];

/// The generated resources of every project.
#[derive(Clone, Debug, PartialEq)]
pub struct GcpFleet {
    /// The numeric id of the organization every project sits under.
    pub organization: String,
    pub(crate) projects: Vec<GcpProject>,
}

/// One project's resources, each a `serde_json::Value` exactly as served.
#[derive(Clone, Debug, PartialEq)]
pub struct GcpProject {
    pub id: String,
    /// The project number, as a decimal string.
    pub number: String,
    /// RFC 3339 creation time (Resource Manager's `createTime`).
    pub create_time: String,
    pub instances: Vec<Value>,
    pub networks: Vec<Value>,
    pub subnetworks: Vec<Value>,
    pub firewalls: Vec<Value>,
    /// Regional forwarding rules (the project has no global ones).
    pub forwarding_rules: Vec<Value>,
    /// Regional addresses (the project has no global ones).
    pub addresses: Vec<Value>,
    /// GKE clusters, each with its `nodePools` embedded.
    pub clusters: Vec<Value>,
    pub service_accounts: Vec<Value>,
    /// (service account email, key), in service-account order.
    pub service_account_keys: Vec<(String, Value)>,
    pub iam_policy: Value,
    pub buckets: Vec<Value>,
}

impl GcpFleet {
    pub fn projects(&self) -> &[GcpProject] {
        &self.projects
    }

    /// The project with this id or number.
    pub fn project(&self, id_or_number: &str) -> Option<&GcpProject> {
        self.projects
            .iter()
            .find(|p| p.id == id_or_number || p.number == id_or_number)
    }

    /// Every zone a project may use, sorted.
    pub fn zones(&self) -> Vec<String> {
        REGIONS
            .iter()
            .flat_map(|(_, zones)| zones.iter().map(|z| z.to_string()))
            .collect()
    }

    /// Every region a project may use, sorted.
    pub fn regions(&self) -> Vec<String> {
        REGIONS.iter().map(|(r, _)| r.to_string()).collect()
    }
}

impl GcpProject {
    /// The default Compute Engine service account, which GKE node pools
    /// configured with `serviceAccount: "default"` run as.
    pub fn default_compute_sa(&self) -> String {
        format!("{}-compute@developer.gserviceaccount.com", self.number)
    }
}

pub(crate) fn generate(seed: u64, projects: &[String]) -> GcpFleet {
    let mut d = Dice::new(seed, "gcp-organization");
    let organization = d.range(100_000_000_000, 999_999_999_999).to_string();
    GcpFleet {
        organization,
        projects: projects.iter().map(|p| project(seed, p)).collect(),
    }
}

/// The part of a project id after its last dash (`kq-prod` → `prod`), so
/// resource names differ between projects the way teams name them.
fn env_of(project: &str) -> &str {
    project.rsplit('-').next().unwrap_or(project)
}

struct Gen {
    d: Dice,
    p: String,
    number: String,
    env: String,
    /// Next host number per subnetwork (`region/name`), so every networkIP is unique.
    next_host: Vec<(String, u32)>,
}

impl Gen {
    fn url(&self, rest: &str) -> String {
        format!("{COMPUTE_BASE}/projects/{}/{rest}", self.p)
    }

    /// Compute resource ids: unsigned 64-bit numbers, sent as decimal strings.
    fn id(&mut self) -> String {
        self.d
            .range(1_000_000_000_000_000_000, 9_000_000_000_000_000_000)
            .to_string()
    }

    /// Compute's `creationTimestamp` style: milliseconds and a Pacific offset.
    fn compute_ts(&mut self, min_days: i64, max_days: i64) -> String {
        let ago = self.d.range(min_days * 86_400, max_days * 86_400);
        let millis = self.d.range(0, 999);
        let t = chrono::DateTime::from_timestamp(BASE_EPOCH - ago, (millis * 1_000_000) as u32)
            .unwrap_or_default();
        let format = "%Y-%m-%dT%H:%M:%S%.3f%:z";
        match chrono::FixedOffset::west_opt(7 * 3600) {
            Some(pacific) => t.with_timezone(&pacific).format(format).to_string(),
            None => t.format(format).to_string(),
        }
    }

    /// RFC 3339 in UTC with a random age in days.
    fn utc_ts(&mut self, min_days: i64, max_days: i64) -> String {
        let ago = self.d.range(min_days * 86_400, max_days * 86_400);
        ts(ago)
    }

    /// The 8-byte fingerprints Compute puts on mutable sub-resources, in
    /// the URL-safe base64 Compute serves (the Rust client rejects `+`/`/`).
    fn fingerprint(&mut self) -> String {
        base64::engine::general_purpose::URL_SAFE.encode(self.d.u64().to_be_bytes())
    }

    fn public_ip(&mut self) -> String {
        let first = if self.d.chance(0.5) { 34 } else { 35 };
        format!(
            "{first}.{}.{}.{}",
            self.d.range(64, 250),
            self.d.range(0, 255),
            self.d.range(2, 254)
        )
    }

    /// The next free address of a subnetwork (`10.128.0.0/20` → `10.128.0.N`).
    fn host_ip(&mut self, region: &str, subnet: &Subnet) -> String {
        let key = format!("{region}/{}", subnet.name);
        let n = match self.next_host.iter_mut().find(|(k, _)| *k == key) {
            Some((_, n)) => {
                *n += 1;
                *n
            }
            None => {
                self.next_host.push((key, 2));
                2
            }
        };
        let base = subnet.cidr.split('/').next().unwrap_or("10.0.0.0");
        let octets: Vec<u32> = base.split('.').filter_map(|o| o.parse().ok()).collect();
        let (a, b, c) = match octets.as_slice() {
            [a, b, c, _] => (*a, *b, *c),
            _ => (10, 0, 0),
        };
        format!("{a}.{b}.{}.{}", c + n / 250, n % 250)
    }
}

struct Subnet {
    name: &'static str,
    network: &'static str,
    region: &'static str,
    cidr: &'static str,
    private_google_access: bool,
    secondary: &'static [(&'static str, &'static str)],
}

const SUBNETS: &[Subnet] = &[
    Subnet {
        name: "default",
        network: "default",
        region: "europe-west1",
        cidr: "10.132.0.0/20",
        private_google_access: false,
        secondary: &[],
    },
    Subnet {
        name: "default",
        network: "default",
        region: "us-central1",
        cidr: "10.128.0.0/20",
        private_google_access: false,
        secondary: &[],
    },
    Subnet {
        name: "prod-europe-west1",
        network: "prod-vpc",
        region: "europe-west1",
        cidr: "10.20.0.0/20",
        private_google_access: true,
        secondary: &[],
    },
    Subnet {
        name: "prod-us-central1",
        network: "prod-vpc",
        region: "us-central1",
        cidr: "10.10.0.0/20",
        private_google_access: true,
        secondary: &[
            ("gke-pods", "10.12.0.0/14"),
            ("gke-services", "10.16.0.0/20"),
        ],
    },
];

fn subnet(network: &str, region: &str) -> &'static Subnet {
    SUBNETS
        .iter()
        .find(|s| s.network == network && s.region == region)
        .unwrap_or(&SUBNETS[0])
}

fn region_of(zone: &str) -> &str {
    zone.rsplit_once('-').map_or(zone, |(r, _)| r)
}

/// The scopes GKE gives nodes that run as the default compute service
/// account unless told otherwise.
const LEGACY_NODE_SCOPES: &[&str] = &[
    "https://www.googleapis.com/auth/devstorage.read_only",
    "https://www.googleapis.com/auth/logging.write",
    "https://www.googleapis.com/auth/monitoring",
    "https://www.googleapis.com/auth/service.management.readonly",
    "https://www.googleapis.com/auth/servicecontrol",
    "https://www.googleapis.com/auth/trace.append",
];
const CLOUD_PLATFORM: &str = "https://www.googleapis.com/auth/cloud-platform";

struct PoolSpec {
    name: &'static str,
    machine: &'static str,
    /// Runs as `"default"` (the default compute SA) instead of gke-nodes@.
    default_sa: bool,
    scopes: &'static [&'static str],
    autoscaling: Option<(u32, u32)>,
    auto_upgrade: bool,
    gke_metadata: bool,
    secure_boot: bool,
    version: &'static str,
}

struct ClusterSpec {
    name: String,
    location: &'static str,
    zones: &'static [&'static str],
    private: bool,
    network: &'static str,
    master_version: &'static str,
    authorized_networks: bool,
    workload_identity: bool,
    network_policy: bool,
    legacy_abac: bool,
    shielded_nodes: bool,
    channel: &'static str,
    pools: Vec<PoolSpec>,
}

fn cluster_specs(env: &str) -> Vec<ClusterSpec> {
    vec![
        ClusterSpec {
            name: format!("{env}-web"),
            location: "us-central1",
            zones: &["us-central1-a", "us-central1-b"],
            private: false,
            network: "prod-vpc",
            master_version: "1.33.5-gke.1201000",
            // Production's API is fenced; the others' is open to anyone,
            // the classic GKE finding.
            authorized_networks: env == "prod",
            workload_identity: true,
            network_policy: true,
            legacy_abac: false,
            shielded_nodes: true,
            channel: "REGULAR",
            pools: vec![
                PoolSpec {
                    name: "default-pool",
                    machine: "e2-standard-4",
                    default_sa: false,
                    scopes: &[CLOUD_PLATFORM],
                    autoscaling: Some((1, 5)),
                    auto_upgrade: true,
                    gke_metadata: true,
                    secure_boot: true,
                    version: "1.33.5-gke.1201000",
                },
                PoolSpec {
                    name: "batch-pool",
                    machine: "e2-highmem-4",
                    default_sa: true,
                    scopes: &[CLOUD_PLATFORM],
                    autoscaling: None,
                    auto_upgrade: false,
                    gke_metadata: false,
                    secure_boot: false,
                    version: "1.31.13-gke.1023000",
                },
            ],
        },
        ClusterSpec {
            name: format!("{env}-ops"),
            location: "europe-west1-b",
            zones: &["europe-west1-b"],
            private: true,
            network: "default",
            master_version: "1.32.9-gke.1108000",
            authorized_networks: false,
            workload_identity: false,
            network_policy: false,
            legacy_abac: true,
            shielded_nodes: false,
            channel: "STABLE",
            pools: vec![PoolSpec {
                name: "default-pool",
                machine: "e2-standard-4",
                default_sa: false,
                scopes: LEGACY_NODE_SCOPES,
                autoscaling: Some((2, 4)),
                auto_upgrade: true,
                gke_metadata: false,
                secure_boot: true,
                version: "1.32.9-gke.1108000",
            }],
        },
    ]
}

fn project(seed: u64, id: &str) -> GcpProject {
    let mut d = Dice::new(seed, id);
    let number = d.range(100_000_000_000, 999_999_999_999).to_string();
    let mut g = Gen {
        d,
        p: id.to_string(),
        number,
        env: env_of(id).to_string(),
        next_host: Vec::new(),
    };
    let create_time = g.utc_ts(400, 900);
    let (networks, subnetworks) = networks(&mut g);
    let gke_sa = format!("gke-nodes@{}.iam.gserviceaccount.com", g.p);
    let mut instances = Vec::new();
    let mut clusters = Vec::new();
    let mut node_tags = Vec::new();
    for spec in cluster_specs(&g.env) {
        let (cluster, tag) = cluster(&mut g, &spec, &gke_sa, &mut instances);
        clusters.push(cluster);
        node_tags.push(tag);
    }
    instances.extend(standalone_instances(&mut g));
    instances.sort_by(|a, b| {
        let key = |v: &Value| {
            (
                v["zone"].as_str().unwrap_or("").to_string(),
                v["name"].as_str().unwrap_or("").to_string(),
            )
        };
        key(a).cmp(&key(b))
    });
    let firewalls = firewalls(&mut g, node_tags.first().map_or("", String::as_str));
    let (forwarding_rules, addresses) = load_balancing(&mut g);
    let (service_accounts, service_account_keys) = service_accounts(&mut g, &gke_sa);
    let iam_policy = iam_policy(&mut g);
    let buckets = buckets(&mut g);
    GcpProject {
        id: g.p.clone(),
        number: g.number.clone(),
        create_time,
        instances,
        networks,
        subnetworks,
        firewalls,
        forwarding_rules,
        addresses,
        clusters,
        service_accounts,
        service_account_keys,
        iam_policy,
        buckets,
    }
}

fn networks(g: &mut Gen) -> (Vec<Value>, Vec<Value>) {
    let mut subnetworks = Vec::new();
    for s in SUBNETS {
        let id = g.id();
        let created = g.compute_ts(300, 700);
        let fingerprint = g.fingerprint();
        let cidr_base = s.cidr.split('/').next().unwrap_or("");
        let gateway = format!(
            "{}.1",
            cidr_base.rsplit_once('.').map_or("10.0.0", |(a, _)| a)
        );
        let mut sub = json!({
            "kind": "compute#subnetwork",
            "id": id,
            "creationTimestamp": created,
            "name": s.name,
            "network": g.url(&format!("global/networks/{}", s.network)),
            "ipCidrRange": s.cidr,
            "gatewayAddress": gateway,
            "region": g.url(&format!("regions/{}", s.region)),
            "selfLink": g.url(&format!("regions/{}/subnetworks/{}", s.region, s.name)),
            "privateIpGoogleAccess": s.private_google_access,
            "fingerprint": fingerprint,
            "purpose": "PRIVATE",
            "stackType": "IPV4_ONLY",
        });
        if !s.secondary.is_empty() {
            sub["secondaryIpRanges"] = s
                .secondary
                .iter()
                .map(|(name, cidr)| json!({"rangeName": name, "ipCidrRange": cidr}))
                .collect();
        }
        if s.network == "prod-vpc" {
            sub["logConfig"] = json!({"enable": true, "aggregationInterval": "INTERVAL_5_SEC", "flowSampling": 0.5, "metadata": "INCLUDE_ALL_METADATA"});
        }
        subnetworks.push(sub);
    }
    let mut networks = Vec::new();
    for (name, auto, description) in [
        ("default", true, "Default network for the project"),
        ("prod-vpc", false, "Production VPC (custom subnets)"),
    ] {
        let id = g.id();
        let created = g.compute_ts(700, 900);
        let subs: Vec<String> = SUBNETS
            .iter()
            .filter(|s| s.network == name)
            .map(|s| g.url(&format!("regions/{}/subnetworks/{}", s.region, s.name)))
            .collect();
        networks.push(json!({
            "kind": "compute#network",
            "id": id,
            "creationTimestamp": created,
            "name": name,
            "description": description,
            "selfLink": g.url(&format!("global/networks/{name}")),
            "selfLinkWithId": g.url(&format!("global/networks/{id}")),
            "autoCreateSubnetworks": auto,
            "subnetworks": subs,
            "routingConfig": {"routingMode": "REGIONAL"},
            "mtu": 1460,
            "networkFirewallPolicyEnforcementOrder": "AFTER_CLASSIC_FIREWALL",
        }));
    }
    (networks, subnetworks)
}

/// One GKE cluster with its node pools; the pools' node VMs go to
/// `instances`. Returns the cluster and its node network tag.
fn cluster(
    g: &mut Gen,
    spec: &ClusterSpec,
    gke_sa: &str,
    instances: &mut Vec<Value>,
) -> (Value, String) {
    let p = g.p.clone();
    let cluster_hash = g.d.hex(8);
    let node_tag = format!("gke-{}-{cluster_hash}-node", spec.name);
    let region = region_of(spec.zones[0]);
    let sub = subnet(spec.network, region);
    let created = g.utc_ts(60, 300);
    let mut pools = Vec::new();
    let mut all_igs = Vec::new();
    let mut node_count = 0;
    for pool in &spec.pools {
        let nodes = g.d.range(2, 3) as usize;
        node_count += nodes;
        let sa_email = if pool.default_sa {
            format!("{}-compute@developer.gserviceaccount.com", g.number)
        } else {
            gke_sa.to_string()
        };
        let mut igs = Vec::new();
        for (zi, zone) in spec.zones.iter().enumerate() {
            let ig_hash = g.d.hex(8);
            let ig = format!("gke-{}-{}-{ig_hash}-grp", spec.name, pool.name);
            igs.push(g.url(&format!("zones/{zone}/instanceGroupManagers/{ig}")));
            let in_zone = (0..nodes).filter(|n| n % spec.zones.len() == zi).count();
            for _ in 0..in_zone {
                let vm = format!(
                    "gke-{}-{}-{ig_hash}-{}",
                    spec.name,
                    pool.name,
                    g.d.suffix(4)
                );
                let nat = (!spec.private).then(|| g.public_ip());
                let network_ip = g.host_ip(region, sub);
                let created_by = format!(
                    "projects/{}/zones/{zone}/instanceGroupManagers/{ig}",
                    g.number
                );
                let metadata = vec![
                    ("cluster-location", spec.location.to_string()),
                    ("cluster-name", spec.name.clone()),
                    ("created-by", created_by),
                    ("disable-legacy-endpoints", "true".to_string()),
                ];
                let labels = json!({
                    "goog-gke-node": "",
                    "goog-k8s-cluster-location": spec.location,
                    "goog-k8s-cluster-name": spec.name,
                    "goog-k8s-node-pool-name": pool.name,
                });
                let vm = instance(
                    g,
                    &InstanceSpec {
                        name: &vm,
                        zone,
                        machine: pool.machine,
                        status: "RUNNING",
                        tags: std::slice::from_ref(&node_tag),
                        network: spec.network,
                        subnet: sub,
                        network_ip,
                        nat_ip: nat,
                        sa: &sa_email,
                        scopes: pool.scopes,
                        metadata,
                        labels,
                        can_ip_forward: true,
                        secure_boot: pool.secure_boot,
                        disk_gb: 100,
                    },
                );
                instances.push(vm);
            }
        }
        let config = json!({
            "machineType": pool.machine,
            "diskSizeGb": 100,
            "oauthScopes": pool.scopes,
            "metadata": {"disable-legacy-endpoints": "true"},
            "imageType": "COS_CONTAINERD",
            "serviceAccount": if pool.default_sa { "default" } else { gke_sa },
            "diskType": "pd-balanced",
            "shieldedInstanceConfig": if pool.secure_boot {
                json!({"enableSecureBoot": true, "enableIntegrityMonitoring": true})
            } else {
                json!({"enableIntegrityMonitoring": true})
            },
            "workloadMetadataConfig": {"mode": if pool.gke_metadata { "GKE_METADATA" } else { "GCE_METADATA" }},
        });
        let autoscaling = match pool.autoscaling {
            Some((min, max)) => {
                json!({"enabled": true, "minNodeCount": min, "maxNodeCount": max, "locationPolicy": "BALANCED"})
            }
            None => json!({}),
        };
        let per_zone = nodes.div_ceil(spec.zones.len());
        let etag = g.d.hex(8);
        all_igs.extend(igs.iter().cloned());
        pools.push(json!({
            "name": pool.name,
            "config": config,
            "initialNodeCount": per_zone,
            "autoscaling": autoscaling,
            "management": if pool.auto_upgrade { json!({"autoUpgrade": true, "autoRepair": true}) } else { json!({"autoRepair": true}) },
            "maxPodsConstraint": {"maxPodsPerNode": "110"},
            "podIpv4CidrSize": 24,
            "locations": spec.zones,
            "selfLink": format!("https://container.googleapis.com/v1/projects/{p}/locations/{}/clusters/{}/nodePools/{}", spec.location, spec.name, pool.name),
            "version": pool.version,
            "instanceGroupUrls": igs,
            "status": "RUNNING",
            "upgradeSettings": {"maxSurge": 1, "strategy": "SURGE"},
            "etag": etag,
        }));
    }
    let public_endpoint = g.public_ip();
    let private_endpoint = if spec.private {
        "172.16.0.2".to_string()
    } else {
        g.host_ip(region, sub)
    };
    let endpoint = if spec.private {
        private_endpoint.clone()
    } else {
        public_endpoint.clone()
    };
    let private_config = if spec.private {
        json!({
            "enablePrivateNodes": true,
            "enablePrivateEndpoint": true,
            "masterIpv4CidrBlock": "172.16.0.0/28",
            "privateEndpoint": private_endpoint,
            "publicEndpoint": public_endpoint,
        })
    } else {
        json!({"privateEndpoint": private_endpoint, "publicEndpoint": public_endpoint})
    };
    let (pods_cidr, services_cidr) = if sub.secondary.len() >= 2 {
        (sub.secondary[0].1, sub.secondary[1].1)
    } else {
        ("10.64.0.0/14", "10.68.0.0/20")
    };
    let ca = base64::engine::general_purpose::STANDARD.encode(format!(
        "-----BEGIN CERTIFICATE-----\nkq-gcp-sim cluster CA for {}\n-----END CERTIFICATE-----\n",
        spec.name
    ));
    let first_config = pools
        .first()
        .map(|np| np["config"].clone())
        .unwrap_or_default();
    let node_version = spec
        .pools
        .iter()
        .map(|p| p.version)
        .min_by_key(|v| version_key(v))
        .unwrap_or(spec.master_version);
    let cluster_id = g.d.hex(32);
    let label_fingerprint = g.d.hex(8);
    let etag = g.d.hex(8);
    let mut c = serde_json::Map::new();
    let mut put = |k: &str, v: Value| {
        c.insert(k.to_string(), v);
    };
    put("name", json!(spec.name));
    put("nodeConfig", first_config);
    put("masterAuth", json!({"clusterCaCertificate": ca}));
    put("loggingService", json!("logging.googleapis.com/kubernetes"));
    put(
        "monitoringService",
        json!("monitoring.googleapis.com/kubernetes"),
    );
    put("network", json!(spec.network));
    put("clusterIpv4Cidr", json!(pods_cidr));
    put(
        "addonsConfig",
        json!({
            "httpLoadBalancing": {},
            "horizontalPodAutoscaling": {},
            "networkPolicyConfig": if spec.network_policy { json!({}) } else { json!({"disabled": true}) },
        }),
    );
    put("subnetwork", json!(sub.name));
    put("nodePools", Value::Array(pools));
    put("locations", json!(spec.zones));
    put("labelFingerprint", json!(label_fingerprint));
    // proto3 JSON leaves false booleans out, so a disabled feature is `{}`.
    put(
        "legacyAbac",
        if spec.legacy_abac {
            json!({"enabled": true})
        } else {
            json!({})
        },
    );
    if spec.network_policy {
        put(
            "networkPolicy",
            json!({"provider": "CALICO", "enabled": true}),
        );
    }
    put(
        "ipAllocationPolicy",
        json!({
            "useIpAliases": true,
            "clusterIpv4Cidr": pods_cidr,
            "servicesIpv4Cidr": services_cidr,
            "clusterIpv4CidrBlock": pods_cidr,
            "servicesIpv4CidrBlock": services_cidr,
            "stackType": "IPV4",
        }),
    );
    if spec.authorized_networks {
        put(
            "masterAuthorizedNetworksConfig",
            json!({
                "enabled": true,
                "cidrBlocks": [
                    {"displayName": "office", "cidrBlock": "203.0.113.0/24"},
                    {"displayName": "vpn", "cidrBlock": "198.51.100.16/28"},
                ],
            }),
        );
    }
    put(
        "networkConfig",
        json!({
            "network": format!("projects/{p}/global/networks/{}", spec.network),
            "subnetwork": format!("projects/{p}/regions/{region}/subnetworks/{}", sub.name),
            "defaultSnatStatus": {},
        }),
    );
    put("defaultMaxPodsConstraint", json!({"maxPodsPerNode": "110"}));
    put("privateClusterConfig", private_config);
    put("databaseEncryption", json!({"state": "DECRYPTED"}));
    put(
        "shieldedNodes",
        if spec.shielded_nodes {
            json!({"enabled": true})
        } else {
            json!({})
        },
    );
    put("releaseChannel", json!({"channel": spec.channel}));
    if spec.workload_identity {
        put(
            "workloadIdentityConfig",
            json!({"workloadPool": format!("{p}.svc.id.goog")}),
        );
    }
    put(
        "selfLink",
        json!(format!(
            "https://container.googleapis.com/v1/projects/{p}/locations/{}/clusters/{}",
            spec.location, spec.name
        )),
    );
    put("zone", json!(spec.location));
    put("endpoint", json!(endpoint));
    put("initialClusterVersion", json!("1.29.4-gke.1043002"));
    put("currentMasterVersion", json!(spec.master_version));
    put("currentNodeVersion", json!(node_version));
    put("createTime", json!(created));
    put("status", json!("RUNNING"));
    put("servicesIpv4Cidr", json!(services_cidr));
    put("instanceGroupUrls", json!(all_igs));
    put("currentNodeCount", json!(node_count));
    put("location", json!(spec.location));
    put("id", json!(cluster_id));
    put("etag", json!(etag));
    (Value::Object(c), node_tag)
}

/// Orders GKE versions (`1.31.13-gke.1023000`) numerically.
fn version_key(v: &str) -> Vec<u64> {
    v.split(['.', '-'])
        .filter_map(|p| p.trim_start_matches("gke").parse().ok())
        .collect()
}

struct InstanceSpec<'a> {
    name: &'a str,
    zone: &'a str,
    machine: &'a str,
    status: &'a str,
    tags: &'a [String],
    network: &'a str,
    subnet: &'a Subnet,
    network_ip: String,
    nat_ip: Option<String>,
    sa: &'a str,
    scopes: &'a [&'a str],
    metadata: Vec<(&'a str, String)>,
    labels: Value,
    can_ip_forward: bool,
    secure_boot: bool,
    disk_gb: u32,
}

fn instance(g: &mut Gen, s: &InstanceSpec) -> Value {
    let id = g.id();
    let created = g.compute_ts(1, 120);
    let zone = s.zone;
    let mut nic = json!({
        "kind": "compute#networkInterface",
        "network": g.url(&format!("global/networks/{}", s.network)),
        "subnetwork": g.url(&format!("regions/{}/subnetworks/{}", s.subnet.region, s.subnet.name)),
        "networkIP": s.network_ip,
        "name": "nic0",
    });
    if let Some(nat) = &s.nat_ip {
        nic["accessConfigs"] = json!([{
            "kind": "compute#accessConfig",
            "type": "ONE_TO_ONE_NAT",
            "name": "external-nat",
            "natIP": nat,
            "networkTier": "PREMIUM",
        }]);
    }
    nic["fingerprint"] = json!(g.fingerprint());
    nic["stackType"] = json!("IPV4_ONLY");
    let tags_fp = g.fingerprint();
    let meta_fp = g.fingerprint();
    let label_fp = g.fingerprint();
    let fp = g.fingerprint();
    let items: Vec<Value> = s
        .metadata
        .iter()
        .map(|(k, v)| json!({"key": k, "value": v}))
        .collect();
    let mut vm = json!({
        "kind": "compute#instance",
        "id": id,
        "creationTimestamp": created,
        "name": s.name,
        "tags": {"items": s.tags, "fingerprint": tags_fp},
        "machineType": g.url(&format!("zones/{zone}/machineTypes/{}", s.machine)),
        "status": s.status,
        "zone": g.url(&format!("zones/{zone}")),
        "canIpForward": s.can_ip_forward,
        "networkInterfaces": [nic],
        "disks": [{
            "kind": "compute#attachedDisk",
            "type": "PERSISTENT",
            "mode": "READ_WRITE",
            "source": g.url(&format!("zones/{zone}/disks/{}", s.name)),
            "deviceName": "persistent-disk-0",
            "index": 0,
            "boot": true,
            "autoDelete": true,
            "interface": "SCSI",
            "diskSizeGb": s.disk_gb.to_string(),
            "architecture": "X86_64",
        }],
        "metadata": {"kind": "compute#metadata", "fingerprint": meta_fp, "items": items},
        "serviceAccounts": [{"email": s.sa, "scopes": s.scopes}],
        "selfLink": g.url(&format!("zones/{zone}/instances/{}", s.name)),
        "scheduling": {
            "onHostMaintenance": "MIGRATE",
            "automaticRestart": true,
            "preemptible": false,
            "provisioningModel": "STANDARD",
        },
        "cpuPlatform": if s.status == "RUNNING" { "Intel Broadwell" } else { "Unknown CPU Platform" },
        "labels": s.labels,
        "labelFingerprint": label_fp,
        "startRestricted": false,
        "deletionProtection": false,
        "shieldedInstanceConfig": {
            "enableSecureBoot": s.secure_boot,
            "enableVtpm": true,
            "enableIntegrityMonitoring": true,
        },
        "shieldedInstanceIntegrityPolicy": {"updateAutoLearnPolicy": true},
        "fingerprint": fp,
    });
    let started = g.compute_ts(0, 1);
    vm["lastStartTimestamp"] = json!(started);
    if s.status == "TERMINATED" {
        vm["lastStopTimestamp"] = json!(started);
    }
    vm
}

/// The VMs nobody manages through GKE: a bastion reachable from the
/// internet and a stopped worker on the default service account.
fn standalone_instances(g: &mut Gen) -> Vec<Value> {
    let default_sa = format!("{}-compute@developer.gserviceaccount.com", g.number);
    let bastion_sub = subnet("prod-vpc", "us-central1");
    let ip = g.host_ip("us-central1", bastion_sub);
    let nat = g.public_ip();
    let bastion = instance(
        g,
        &InstanceSpec {
            name: "bastion",
            zone: "us-central1-a",
            machine: "e2-small",
            status: "RUNNING",
            tags: &["ssh".to_string()],
            network: "prod-vpc",
            subnet: bastion_sub,
            network_ip: ip,
            nat_ip: Some(nat),
            sa: &default_sa,
            scopes: LEGACY_NODE_SCOPES,
            metadata: vec![("enable-oslogin", "FALSE".to_string())],
            labels: json!({"role": "bastion", "team": "platform"}),
            can_ip_forward: false,
            secure_boot: false,
            disk_gb: 10,
        },
    );
    let worker_sub = subnet("default", "europe-west1");
    let ip = g.host_ip("europe-west1", worker_sub);
    let worker = instance(
        g,
        &InstanceSpec {
            name: "legacy-worker",
            zone: "europe-west1-c",
            machine: "n1-standard-2",
            status: "TERMINATED",
            tags: &[],
            network: "default",
            subnet: worker_sub,
            network_ip: ip,
            nat_ip: None,
            sa: &default_sa,
            scopes: &[CLOUD_PLATFORM],
            metadata: vec![("startup-script", "#!/bin/sh\n/opt/etl/run.sh\n".to_string())],
            labels: json!({"team": "data"}),
            can_ip_forward: false,
            secure_boot: false,
            disk_gb: 50,
        },
    );
    vec![bastion, worker]
}

fn firewalls(g: &mut Gen, web_node_tag: &str) -> Vec<Value> {
    let mysql_range = format!("203.0.113.{}/32", g.d.range(10, 200));
    let default_sa = format!("{}-compute@developer.gserviceaccount.com", g.number);
    let rules = vec![
        json!({
            "name": "allow-egress-dns", "description": "Resolvers the batch jobs use",
            "network": "prod-vpc", "priority": 900, "direction": "EGRESS",
            "destinationRanges": ["8.8.8.8/32", "8.8.4.4/32"],
            "allowed": [{"IPProtocol": "udp", "ports": ["53"]}, {"IPProtocol": "tcp", "ports": ["53"]}],
            "disabled": false, "logConfig": {"enable": false},
        }),
        json!({
            "name": "allow-internal", "description": "East-west traffic inside RFC 1918 space",
            "network": "prod-vpc", "priority": 1000, "direction": "INGRESS",
            "sourceRanges": ["10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16"],
            "allowed": [{"IPProtocol": "all"}],
            "disabled": false, "logConfig": {"enable": false},
        }),
        json!({
            "name": "allow-rdp-from-anywhere", "description": "Windows jump hosts (temporary)",
            "network": "default", "priority": 1000, "direction": "INGRESS",
            "sourceRanges": ["0.0.0.0/0"],
            "allowed": [{"IPProtocol": "tcp", "ports": ["3389"]}],
            "disabled": false, "logConfig": {"enable": false},
        }),
        json!({
            "name": "allow-ssh-from-anywhere", "description": "SSH to the bastion and web nodes",
            "network": "prod-vpc", "priority": 1000, "direction": "INGRESS",
            "sourceRanges": ["0.0.0.0/0"],
            "targetTags": [web_node_tag, "ssh"],
            "allowed": [{"IPProtocol": "tcp", "ports": ["22"]}],
            "disabled": false, "logConfig": {"enable": true, "metadata": "INCLUDE_ALL_METADATA"},
        }),
        // Targets the web cluster's batch pool by the service account its
        // nodes run as (the Compute default), not by a network tag.
        json!({
            "name": "allow-ssh-default-sa", "description": "Debug access to batch nodes",
            "network": "prod-vpc", "priority": 1000, "direction": "INGRESS",
            "sourceRanges": ["0.0.0.0/0"],
            "targetServiceAccounts": [default_sa],
            "allowed": [{"IPProtocol": "tcp", "ports": ["22", "2222"]}],
            "disabled": false, "logConfig": {"enable": false},
        }),
        json!({
            "name": "allow-web-from-lb", "description": "Load balancer to web backends",
            "network": "prod-vpc", "priority": 1000, "direction": "INGRESS",
            "sourceTags": ["web-lb"],
            "targetTags": ["web"],
            "allowed": [{"IPProtocol": "tcp", "ports": ["80", "443", "8080-8090"]}],
            "disabled": false, "logConfig": {"enable": false},
        }),
        json!({
            "name": "deny-telnet", "description": "Never allow telnet",
            "network": "prod-vpc", "priority": 100, "direction": "INGRESS",
            "sourceRanges": ["0.0.0.0/0"],
            "denied": [{"IPProtocol": "tcp", "ports": ["23"]}],
            "disabled": false, "logConfig": {"enable": true, "metadata": "EXCLUDE_ALL_METADATA"},
        }),
        json!({
            "name": "legacy-allow-mysql", "description": "Old reporting host (disabled)",
            "network": "default", "priority": 1000, "direction": "INGRESS",
            "sourceRanges": [mysql_range],
            "allowed": [{"IPProtocol": "tcp", "ports": ["3306"]}],
            "disabled": true, "logConfig": {"enable": false},
        }),
    ];
    rules
        .into_iter()
        .map(|r| {
            let name = r["name"].as_str().unwrap_or_default().to_string();
            let network = r["network"].as_str().unwrap_or_default().to_string();
            let mut out = serde_json::Map::new();
            out.insert("kind".into(), json!("compute#firewall"));
            out.insert("id".into(), json!(g.id()));
            out.insert("creationTimestamp".into(), json!(g.compute_ts(30, 600)));
            if let Value::Object(fields) = r {
                for (k, v) in fields {
                    let v = if k == "network" {
                        json!(g.url(&format!("global/networks/{network}")))
                    } else {
                        v
                    };
                    out.insert(k, v);
                }
            }
            out.insert(
                "selfLink".into(),
                json!(g.url(&format!("global/firewalls/{name}"))),
            );
            Value::Object(out)
        })
        .collect()
}

/// Regional forwarding rules (two from GKE LoadBalancer Services, one
/// internal) and the regional addresses, one of them used by a rule.
fn load_balancing(g: &mut Gen) -> (Vec<Value>, Vec<Value>) {
    let mut rules = Vec::new();
    let frontend_ip = g.public_ip();
    let services = [
        ("shop/frontend", "80-80", frontend_ip.clone()),
        ("shop/checkout", "443-443", g.public_ip()),
    ];
    for (svc, ports, ip) in services {
        // GKE names a Service's rule `a` + its UID without dashes.
        let name = format!("a{}", g.d.hex(31));
        let id = g.id();
        let created = g.compute_ts(5, 90);
        let fp = g.fingerprint();
        rules.push(json!({
            "kind": "compute#forwardingRule",
            "id": id,
            "creationTimestamp": created,
            "name": name,
            "description": json!({"kubernetes.io/service-name": svc}).to_string(),
            "region": g.url("regions/us-central1"),
            "IPAddress": ip,
            "IPProtocol": "TCP",
            "portRange": ports,
            "target": g.url(&format!("regions/us-central1/targetPools/{name}")),
            "selfLink": g.url(&format!("regions/us-central1/forwardingRules/{name}")),
            "loadBalancingScheme": "EXTERNAL",
            "networkTier": "PREMIUM",
            "labelFingerprint": "42WmSpB8rSM=",
            "fingerprint": fp,
        }));
    }
    let ilb_sub = subnet("default", "europe-west1");
    let ilb_ip = g.host_ip("europe-west1", ilb_sub);
    let name = format!("a{}", g.d.hex(31));
    let id = g.id();
    let created = g.compute_ts(5, 90);
    let fp = g.fingerprint();
    rules.push(json!({
        "kind": "compute#forwardingRule",
        "id": id,
        "creationTimestamp": created,
        "name": name,
        "description": json!({"kubernetes.io/service-name": "ops/metrics"}).to_string(),
        "region": g.url("regions/europe-west1"),
        "IPAddress": ilb_ip,
        "IPProtocol": "TCP",
        "ports": ["8080"],
        "backendService": g.url(&format!("regions/europe-west1/backendServices/{name}")),
        "selfLink": g.url(&format!("regions/europe-west1/forwardingRules/{name}")),
        "loadBalancingScheme": "INTERNAL",
        "network": g.url("global/networks/default"),
        "subnetwork": g.url("regions/europe-west1/subnetworks/default"),
        "networkTier": "PREMIUM",
        "labelFingerprint": "42WmSpB8rSM=",
        "fingerprint": fp,
        "allowGlobalAccess": false,
    }));
    let frontend_rule = rules[0]["selfLink"].clone();
    let env = g.env.clone();
    let mut addresses = Vec::new();
    for (name, region, ip, used_by) in [
        (
            format!("{env}-frontend-ip"),
            "us-central1",
            frontend_ip,
            Some(frontend_rule),
        ),
        (
            format!("{env}-spare-ip"),
            "europe-west1",
            g.public_ip(),
            None,
        ),
    ] {
        let id = g.id();
        let created = g.compute_ts(30, 400);
        let mut a = json!({
            "kind": "compute#address",
            "id": id,
            "creationTimestamp": created,
            "name": name,
            "description": "",
            "address": ip,
            "status": if used_by.is_some() { "IN_USE" } else { "RESERVED" },
            "region": g.url(&format!("regions/{region}")),
            "selfLink": g.url(&format!("regions/{region}/addresses/{name}")),
        });
        if let Some(u) = used_by {
            a["users"] = json!([u]);
        }
        a["networkTier"] = json!("PREMIUM");
        a["labelFingerprint"] = json!("42WmSpB8rSM=");
        a["addressType"] = json!("EXTERNAL");
        addresses.push(a);
    }
    (rules, addresses)
}

fn service_accounts(g: &mut Gen, gke_sa: &str) -> (Vec<Value>, Vec<(String, Value)>) {
    let p = g.p.clone();
    let accounts = [
        (
            format!("{}-compute@developer.gserviceaccount.com", g.number),
            "Compute Engine default service account",
            false,
            false,
        ),
        (gke_sa.to_string(), "GKE node service account", false, false),
        (
            format!("ci-deployer@{p}.iam.gserviceaccount.com"),
            "CI deployer",
            false,
            true,
        ),
        (
            format!("old-etl@{p}.iam.gserviceaccount.com"),
            "Retired ETL job",
            true,
            false,
        ),
    ];
    let mut sas = Vec::new();
    let mut keys = Vec::new();
    for (email, display, disabled, user_key) in accounts {
        let unique = format!("1{}", g.d.digits(20));
        let mut sa = json!({
            "name": format!("projects/{p}/serviceAccounts/{email}"),
            "projectId": p,
            "uniqueId": unique,
            "email": email,
            "displayName": display,
            "etag": "MDEwMjE5MjA=",
            "oauth2ClientId": unique,
        });
        if disabled {
            sa["disabled"] = json!(true);
        }
        sas.push(sa);
        let system_after = g.d.range(3, 80);
        let key = json!({
            "name": format!("projects/{p}/serviceAccounts/{email}/keys/{}", g.d.hex(40)),
            "validAfterTime": ts(system_after * 86_400),
            "validBeforeTime": ts((system_after - 730) * 86_400),
            "keyAlgorithm": "KEY_ALG_RSA_2048",
            "keyOrigin": "GOOGLE_PROVIDED",
            "keyType": "SYSTEM_MANAGED",
        });
        keys.push((email.clone(), key));
        if user_key {
            let age = g.d.range(900, 1400);
            let key = json!({
                "name": format!("projects/{p}/serviceAccounts/{email}/keys/{}", g.d.hex(40)),
                "validAfterTime": ts(age * 86_400),
                "validBeforeTime": "9999-12-31T23:59:59Z",
                "keyAlgorithm": "KEY_ALG_RSA_2048",
                "keyOrigin": "GOOGLE_PROVIDED",
                "keyType": "USER_MANAGED",
            });
            keys.push((email, key));
        }
    }
    (sas, keys)
}

/// Bindings sorted by role and members sorted, as the API returns them.
fn iam_policy(g: &mut Gen) -> Value {
    let p = g.p.clone();
    let env = g.env.clone();
    let mut owners = vec![
        format!("serviceAccount:ci-deployer@{p}.iam.gserviceaccount.com"),
        "user:alice@example.com".to_string(),
    ];
    if g.d.chance(0.5) {
        owners.push("user:bob@example.com".to_string());
    }
    let mut bindings = vec![
        json!({"role": "roles/container.developer", "members": ["group:devs@example.com", format!("group:{env}-devs@example.com")]}),
        json!({"role": "roles/editor", "members": [format!("serviceAccount:{}-compute@developer.gserviceaccount.com", g.number)]}),
        json!({"role": "roles/owner", "members": owners}),
        json!({
            "role": "roles/storage.objectViewer",
            "members": ["group:contractors@example.com"],
            "condition": {
                "title": "contractors-until-2027",
                "description": "Temporary read access for the audit",
                "expression": "request.time < timestamp(\"2027-01-01T00:00:00Z\")",
            },
        }),
        json!({"role": "roles/viewer", "members": ["domain:example.com"]}),
    ];
    if g.d.chance(0.5) {
        bindings.insert(
            2,
            json!({"role": "roles/iam.serviceAccountTokenCreator", "members": [format!("serviceAccount:gke-nodes@{p}.iam.gserviceaccount.com")]}),
        );
    }
    let etag = base64::engine::general_purpose::STANDARD.encode(g.d.u64().to_be_bytes());
    json!({"version": 3, "etag": etag, "bindings": bindings})
}

fn buckets(g: &mut Gen) -> Vec<Value> {
    let p = g.p.clone();
    let specs = [
        (
            format!("{p}-assets"),
            "US",
            "multi-region",
            "STANDARD",
            false,
            "inherited",
            false,
            json!({"team": "web"}),
        ),
        (
            format!("{p}-logs"),
            "EUROPE-WEST1",
            "region",
            "NEARLINE",
            true,
            "enforced",
            true,
            json!({"team": "platform", "retention": "1y"}),
        ),
        (
            format!("{p}-tfstate"),
            "US-CENTRAL1",
            "region",
            "STANDARD",
            true,
            "enforced",
            true,
            json!({}),
        ),
    ];
    let mut out = Vec::new();
    for (name, location, location_type, class, uniform, pap, versioning, labels) in specs {
        let created_ago = g.d.range(60, 800) * 86_400;
        let created = ts(created_ago);
        let updated = ts(created_ago - g.d.range(0, 59) * 86_400);
        let mut uniform_cfg = json!({"enabled": uniform});
        if uniform {
            uniform_cfg["lockedTime"] = json!(ts(created_ago - 90 * 86_400));
        }
        let mut b = json!({
            "kind": "storage#bucket",
            "selfLink": format!("https://www.googleapis.com/storage/v1/b/{name}"),
            "id": name,
            "name": name,
            "projectNumber": g.number,
            "generation": g.d.range(1_600_000_000_000_000, 1_700_000_000_000_000).to_string(),
            "metageneration": "1",
            "location": location,
            "storageClass": class,
            "etag": "CAE=",
            "timeCreated": created,
            "updated": updated,
            "softDeletePolicy": {"retentionDurationSeconds": "604800", "effectiveTime": created},
            "iamConfiguration": {
                "bucketPolicyOnly": uniform_cfg.clone(),
                "uniformBucketLevelAccess": uniform_cfg,
                "publicAccessPrevention": pap,
            },
            "locationType": location_type,
            "rpo": "DEFAULT",
        });
        if versioning {
            b["versioning"] = json!({"enabled": true});
        }
        if labels.as_object().is_some_and(|l| !l.is_empty()) {
            b["labels"] = labels;
        }
        out.push(b);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn demo() -> GcpFleet {
        generate(7, &["kq-prod".to_string(), "kq-staging".to_string()])
    }

    #[test]
    fn same_seed_same_bytes() {
        let a = demo();
        let b = demo();
        assert_eq!(a, b);
        for (pa, pb) in a.projects().iter().zip(b.projects()) {
            assert_eq!(
                serde_json::to_string(&pa.instances).unwrap(),
                serde_json::to_string(&pb.instances).unwrap()
            );
        }
        assert_ne!(
            generate(8, &["kq-prod".to_string()]).projects()[0],
            a.projects()[0]
        );
    }

    #[test]
    fn a_project_does_not_depend_on_its_neighbours() {
        let alone = generate(7, &["kq-staging".to_string()]);
        assert_eq!(alone.projects()[0], demo().projects()[1]);
    }

    #[test]
    fn resources_are_consistent() {
        let fleet = demo();
        for p in fleet.projects() {
            let nodes: usize = p
                .clusters
                .iter()
                .map(|c| c["currentNodeCount"].as_u64().unwrap() as usize)
                .sum();
            assert_eq!(p.instances.len(), nodes + 2);
            let mut names: Vec<&str> = p
                .instances
                .iter()
                .map(|i| i["name"].as_str().unwrap())
                .collect();
            names.sort();
            names.dedup();
            assert_eq!(names.len(), p.instances.len());
            let ips: std::collections::HashSet<&str> = p
                .instances
                .iter()
                .map(|i| i["networkInterfaces"][0]["networkIP"].as_str().unwrap())
                .collect();
            assert_eq!(ips.len(), p.instances.len());
            let used = &p.addresses[0]["users"][0];
            assert!(p.forwarding_rules.iter().any(|r| &r["selfLink"] == used));
            let etag = p.iam_policy["etag"].as_str().unwrap();
            assert!(
                base64::engine::general_purpose::STANDARD
                    .decode(etag)
                    .is_ok()
            );
            for (email, _) in &p.service_account_keys {
                assert!(
                    p.service_accounts
                        .iter()
                        .any(|s| s["email"] == email.as_str())
                );
            }
        }
    }
}
