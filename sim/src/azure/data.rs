//! Seeded generation of the fake Azure fleet: per subscription, the
//! resource groups, AKS clusters (with the VM scale sets that are their
//! nodes), standalone VMs, NSGs, public IPs, load balancers, role
//! assignments and definitions and storage accounts, each already in the
//! JSON shape ARM serves.
//!
//! A subscription's resources depend only on the seed and its name (not on
//! its position in the list), and nothing reads the clock, so the same seed
//! always serves the same bytes. The resources are consistent the way a real
//! subscription's are: AKS node resource groups are named
//! `MC_{rg}_{cluster}_{location}` and hold the node scale sets, the AKS NSG
//! and the `kubernetes` load balancer; a public IP's `ipConfiguration` names
//! the load-balancer frontend or NIC that uses it, and back; every role
//! assignment names a role definition that is listed.

use serde_json::{Value, json};

use crate::generate::dice::{Dice, stable_hash, ts};

/// The built-in role definitions every subscription lists (name, GUID, description).
pub(crate) const BUILT_IN_ROLES: &[(&str, &str, &str)] = &[
    (
        "Owner",
        "8e3af657-a8ff-443c-a75c-2fe8c4bcb635",
        "Grants full access to manage all resources, including the ability to assign roles in Azure RBAC.",
    ),
    (
        "Contributor",
        "b24988ac-6180-42a0-ab88-20f7382dd24c",
        "Grants full access to manage all resources, but does not allow you to assign roles in Azure RBAC.",
    ),
    (
        "Reader",
        "acdd72a7-3385-48ef-bd42-f606fba81ae7",
        "View all resources, but does not allow you to make any changes.",
    ),
];

/// The generated resources of every subscription, and the tenant they share.
#[derive(Clone, Debug, PartialEq)]
pub struct AzureFleet {
    /// The Entra ID tenant every subscription belongs to (a GUID).
    pub tenant_id: String,
    /// The managed identity the fake's tokens are issued to (`oid`).
    pub principal_id: String,
    /// Its client (application) id (`appid`).
    pub client_id: String,
    pub(crate) subscriptions: Vec<AzureSubscription>,
}

/// One subscription's resources, each a `serde_json::Value` exactly as served.
#[derive(Clone, Debug, PartialEq)]
pub struct AzureSubscription {
    /// The subscription id (a GUID).
    pub id: String,
    /// The display name (the configured name, e.g. `prod`).
    pub name: String,
    pub resource_groups: Vec<Value>,
    pub virtual_machines: Vec<Value>,
    pub scale_sets: Vec<Value>,
    /// (scale set id, instance), in scale-set order.
    pub scale_set_vms: Vec<(String, Value)>,
    /// NSGs with `securityRules` and `defaultSecurityRules` embedded.
    pub network_security_groups: Vec<Value>,
    pub public_ips: Vec<Value>,
    pub load_balancers: Vec<Value>,
    /// AKS clusters with `agentPoolProfiles` embedded.
    pub managed_clusters: Vec<Value>,
    /// At subscription and resource-group scope.
    pub role_assignments: Vec<Value>,
    /// The built-in Owner, Contributor and Reader plus one custom role.
    pub role_definitions: Vec<Value>,
    pub storage_accounts: Vec<Value>,
}

impl AzureFleet {
    pub fn subscriptions(&self) -> &[AzureSubscription] {
        &self.subscriptions
    }

    /// The subscription with this id (any case) or display name.
    pub fn subscription(&self, id_or_name: &str) -> Option<&AzureSubscription> {
        self.subscriptions
            .iter()
            .find(|s| s.id.eq_ignore_ascii_case(id_or_name) || s.name == id_or_name)
    }
}

impl AzureSubscription {
    /// The instances of the scale set with this id (compared case-insensitively, as ARM does).
    pub fn instances_of(&self, scale_set_id: &str) -> Vec<&Value> {
        self.scale_set_vms
            .iter()
            .filter(|(id, _)| id.eq_ignore_ascii_case(scale_set_id))
            .map(|(_, v)| v)
            .collect()
    }

    /// (computer name, Kubernetes `spec.providerID`) of every AKS node, as
    /// the cloud provider sets them on the Node objects.
    pub fn node_provider_ids(&self) -> Vec<(String, String)> {
        self.scale_set_vms
            .iter()
            .map(|(ss, vm)| {
                let computer = vm["properties"]["osProfile"]["computerName"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string();
                (
                    computer,
                    provider_id(ss, vm["instanceId"].as_str().unwrap_or_default()),
                )
            })
            .collect()
    }

    /// Every resource `GET /subscriptions/{id}/resources` lists (the
    /// generic shape: id, name, type, location, tags, and kind/sku/managedBy
    /// where the resource has them), sorted by id like ARM.
    pub fn generic_resources(&self) -> Vec<Value> {
        let mut out: Vec<Value> = [
            &self.virtual_machines,
            &self.scale_sets,
            &self.network_security_groups,
            &self.public_ips,
            &self.load_balancers,
            &self.managed_clusters,
            &self.storage_accounts,
        ]
        .into_iter()
        .flatten()
        .map(|r| {
            let mut g = serde_json::Map::new();
            for key in [
                "id",
                "name",
                "type",
                "sku",
                "kind",
                "managedBy",
                "location",
                "identity",
                "zones",
                "tags",
            ] {
                if let Some(v) = r.get(key) {
                    g.insert(key.into(), v.clone());
                }
            }
            Value::Object(g)
        })
        .collect();
        out.sort_by_key(|r| r["id"].as_str().unwrap_or_default().to_lowercase());
        out
    }
}

/// The Kubernetes providerID of a scale-set instance: the cloud provider
/// lower-cases the resource group (and only that).
pub(crate) fn provider_id(scale_set_id: &str, instance_id: &str) -> String {
    let parts: Vec<&str> = scale_set_id.split('/').collect();
    let lowered: Vec<String> = parts
        .iter()
        .enumerate()
        .map(|(i, p)| {
            if i > 0 && parts[i - 1].eq_ignore_ascii_case("resourceGroups") {
                p.to_lowercase()
            } else {
                p.to_string()
            }
        })
        .collect();
    format!(
        "azure://{}/virtualMachines/{instance_id}",
        lowered.join("/")
    )
}

pub(crate) fn generate(seed: u64, subscriptions: &[String]) -> AzureFleet {
    let mut d = Dice::new(seed, "azure-tenant");
    let tenant_id = d.uid();
    let principal_id = d.uid();
    let client_id = d.uid();
    let subscriptions = subscriptions
        .iter()
        .map(|s| subscription(seed, &tenant_id, s))
        .collect();
    AzureFleet {
        tenant_id,
        principal_id,
        client_id,
        subscriptions,
    }
}

/// `v` without its null-valued object fields, at any depth.
fn without_nulls(v: Value) -> Value {
    match v {
        Value::Object(o) => Value::Object(
            o.into_iter()
                .filter(|(_, x)| !x.is_null())
                .map(|(k, x)| (k, without_nulls(x)))
                .collect(),
        ),
        Value::Array(a) => Value::Array(a.into_iter().map(without_nulls).collect()),
        other => other,
    }
}

/// Lower-case letters and digits only, as storage account names must be.
fn alnum(s: &str) -> String {
    s.chars()
        .filter(char::is_ascii_alphanumeric)
        .map(|c| c.to_ascii_lowercase())
        .collect()
}

struct Gen {
    d: Dice,
    tenant: String,
    sub: String,
    env: String,
}

impl Gen {
    fn rg_id(&self, rg: &str) -> String {
        format!("/subscriptions/{}/resourceGroups/{rg}", self.sub)
    }

    fn res_id(&self, rg: &str, provider_type: &str, name: &str) -> String {
        format!("{}/providers/{provider_type}/{name}", self.rg_id(rg))
    }

    fn etag(&mut self) -> String {
        format!("W/\"{}\"", self.d.uid())
    }

    fn public_ip(&mut self) -> String {
        let first = *self.d.pick(&[20, 40, 52, 104]);
        format!(
            "{first}.{}.{}.{}",
            self.d.range(1, 250),
            self.d.range(0, 255),
            self.d.range(2, 254)
        )
    }

    fn created(&mut self) -> String {
        let ago = self.d.range(30 * 86_400, 700 * 86_400);
        ts(ago)
    }

    fn tags(&self, extra: &[(&str, &str)]) -> Value {
        let mut t = serde_json::Map::new();
        t.insert("env".into(), json!(self.env));
        t.insert("owner".into(), json!("platform-team"));
        for (k, v) in extra {
            t.insert((*k).into(), json!(v));
        }
        Value::Object(t)
    }
}

struct PoolSpec {
    name: &'static str,
    mode: &'static str,
    vm_size: &'static str,
    zones: &'static [&'static str],
}

struct ClusterSpec {
    suffix: &'static str,
    location: &'static str,
    private: bool,
    pools: &'static [PoolSpec],
}

const CLUSTERS: &[ClusterSpec] = &[
    ClusterSpec {
        suffix: "core",
        location: "eastus",
        private: true,
        pools: &[
            PoolSpec {
                name: "system",
                mode: "System",
                vm_size: "Standard_D4s_v5",
                zones: &["1", "2", "3"],
            },
            PoolSpec {
                name: "apps",
                mode: "User",
                vm_size: "Standard_D8s_v5",
                zones: &["1", "2"],
            },
        ],
    },
    ClusterSpec {
        suffix: "web",
        location: "westeurope",
        private: false,
        pools: &[PoolSpec {
            name: "nodepool1",
            mode: "System",
            vm_size: "Standard_D2s_v5",
            zones: &[],
        }],
    },
];

const K8S_VERSIONS: &[&str] = &["1.31.8", "1.32.4", "1.33.1"];

fn subscription(seed: u64, tenant: &str, name: &str) -> AzureSubscription {
    let mut d = Dice::new(seed, &format!("azure-subscription/{name}"));
    let id = d.uid();
    let mut g = Gen {
        d,
        tenant: tenant.to_string(),
        sub: id.clone(),
        env: name.to_string(),
    };
    let aks_rg = format!("{name}-aks-rg");
    let net_rg = format!("{name}-net-rg");
    let mut out = AzureSubscription {
        id: id.clone(),
        name: name.to_string(),
        resource_groups: Vec::new(),
        virtual_machines: Vec::new(),
        scale_sets: Vec::new(),
        scale_set_vms: Vec::new(),
        network_security_groups: Vec::new(),
        public_ips: Vec::new(),
        load_balancers: Vec::new(),
        managed_clusters: Vec::new(),
        role_assignments: Vec::new(),
        role_definitions: Vec::new(),
        storage_accounts: Vec::new(),
    };
    out.resource_groups
        .push(resource_group(&g, &aks_rg, "eastus", None));
    out.resource_groups
        .push(resource_group(&g, &net_rg, "eastus", None));
    for spec in CLUSTERS {
        aks(&mut g, &mut out, &aks_rg, spec);
    }
    standalone(&mut g, &mut out, &net_rg, &aks_rg);
    roles(&mut g, &mut out, &aks_rg, &net_rg);
    storage(&mut g, &mut out, &net_rg);
    // ARM lists come back sorted by (case-insensitive) id within a subscription.
    for list in [
        &mut out.resource_groups,
        &mut out.virtual_machines,
        &mut out.scale_sets,
        &mut out.network_security_groups,
        &mut out.public_ips,
        &mut out.load_balancers,
        &mut out.managed_clusters,
        &mut out.storage_accounts,
    ] {
        list.sort_by_key(|r| r["id"].as_str().unwrap_or_default().to_lowercase());
    }
    out
}

fn resource_group(g: &Gen, name: &str, location: &str, managed_by: Option<&str>) -> Value {
    let mut rg = json!({
        "id": g.rg_id(name),
        "name": name,
        "type": "Microsoft.Resources/resourceGroups",
        "location": location,
        "tags": g.tags(&[]),
        "properties": {"provisioningState": "Succeeded"},
    });
    if let Some(m) = managed_by {
        rg["managedBy"] = json!(m);
        rg["tags"] = json!({"aks-managed-cluster-name": m.rsplit('/').next().unwrap_or(m),
            "aks-managed-cluster-rg": m.split('/').nth(4).unwrap_or_default()});
    }
    rg
}

fn aks(g: &mut Gen, out: &mut AzureSubscription, rg: &str, spec: &ClusterSpec) {
    let name = format!("{}-{}", g.env, spec.suffix);
    let loc = spec.location;
    let id = g.res_id(rg, "Microsoft.ContainerService/managedClusters", &name);
    let mc_rg = format!("MC_{rg}_{name}_{loc}");
    out.resource_groups
        .push(resource_group(g, &mc_rg, loc, Some(&id)));
    let version = *g.d.pick(K8S_VERSIONS);
    let digits = g.d.digits(8);
    let dns_prefix = format!("{name}-dns");
    let hcp = g.d.hex(8);
    let fqdn_host = format!("{dns_prefix}-{hcp}");
    let nsg_name = format!("aks-agentpool-{digits}-nsg");
    let nsg_id = g.res_id(&mc_rg, "Microsoft.Network/networkSecurityGroups", &nsg_name);
    let kubelet_identity = g.d.uid();
    let mut pools = Vec::new();
    // The NICs of every node: the AKS NSG sits on the scale sets' NIC
    // configuration, so Azure lists them as the NSG's interfaces.
    let mut node_nics = Vec::new();
    for pool in spec.pools {
        let count = g.d.range(2, 3) as usize;
        let vmss = format!("aks-{}-{digits}-vmss", pool.name);
        let vmss_id = g.res_id(&mc_rg, "Microsoft.Compute/virtualMachineScaleSets", &vmss);
        let tags = json!({
            "aks-managed-createOperationID": g.d.uid(),
            "aks-managed-creationSource": format!("vmssclient-{vmss}"),
            "aks-managed-kubeletIdentityClientID": kubelet_identity,
            "aks-managed-orchestrator": format!("Kubernetes:{version}"),
            "aks-managed-poolName": pool.name,
            "aks-managed-resourceNameSuffix": digits,
        });
        let mut ss = json!({
            "id": vmss_id,
            "name": vmss,
            "type": "Microsoft.Compute/virtualMachineScaleSets",
            "location": loc,
            "tags": tags,
            "sku": {"name": pool.vm_size, "tier": "Standard", "capacity": count},
            "properties": {
                "singlePlacementGroup": false,
                "orchestrationMode": "Uniform",
                "upgradePolicy": {"mode": "Manual"},
                "overprovision": false,
                "doNotRunExtensionsOnOverprovisionedVMs": false,
                "provisioningState": "Succeeded",
                "uniqueId": g.d.uid(),
                "timeCreated": g.created(),
                "virtualMachineProfile": {
                    "osProfile": {
                        "computerNamePrefix": vmss,
                        "adminUsername": "azureuser",
                        "linuxConfiguration": {"disablePasswordAuthentication": true, "provisionVMAgent": true},
                        "secrets": [],
                    },
                    "storageProfile": {
                        "osDisk": {"osType": "Linux", "createOption": "FromImage", "caching": "ReadOnly",
                            "managedDisk": {"storageAccountType": "Premium_LRS"}, "diskSizeGB": 128},
                        "imageReference": {"id": format!("/subscriptions/109a5e88-712a-48ae-9078-9ca8b3c81345/resourceGroups/AKS-Ubuntu/providers/Microsoft.Compute/galleries/AKSUbuntu/images/2204gen2containerd/versions/202605.{}.0", g.d.range(1, 28))},
                    },
                    "networkProfile": {"networkInterfaceConfigurations": [{
                        "name": vmss,
                        "properties": {"primary": true, "enableAcceleratedNetworking": true,
                            "networkSecurityGroup": {"id": nsg_id},
                            "ipConfigurations": [{"name": "ipconfig1", "properties": {"primary": true,
                                "subnet": {"id": format!("{}/providers/Microsoft.Network/virtualNetworks/aks-vnet-{digits}/subnets/aks-subnet", g.rg_id(&mc_rg))}}}]},
                    }]},
                },
            },
        });
        if !pool.zones.is_empty() {
            ss["zones"] = json!(pool.zones);
        }
        for n in 0..count {
            let vm = json!({
                "id": format!("{vmss_id}/virtualMachines/{n}"),
                "name": format!("{vmss}_{n}"),
                "type": "Microsoft.Compute/virtualMachineScaleSets/virtualMachines",
                "location": loc,
                "tags": ss["tags"],
                "instanceId": n.to_string(),
                "sku": {"name": pool.vm_size, "tier": "Standard"},
                "zones": if pool.zones.is_empty() { Value::Null } else { json!([pool.zones[n % pool.zones.len()]]) },
                "properties": {
                    "latestModelApplied": n + 1 < count || g.d.chance(0.5),
                    "vmId": g.d.uid(),
                    "hardwareProfile": {"vmSize": pool.vm_size},
                    "storageProfile": {"osDisk": {"osType": "Linux", "name": format!("{vmss}_OsDisk_1_{}", g.d.hex(32)),
                        "createOption": "FromImage", "caching": "ReadOnly", "diskSizeGB": 128}},
                    "osProfile": {"computerName": format!("{vmss}00000{n}"), "adminUsername": "azureuser",
                        "linuxConfiguration": {"disablePasswordAuthentication": true, "provisionVMAgent": true}},
                    "networkProfile": {"networkInterfaces": [{"id": format!("{vmss_id}/virtualMachines/{n}/networkInterfaces/{vmss}")}]},
                    // A uniform scale set's instance carries its copy of the model's NICs.
                    "networkProfileConfiguration": ss["properties"]["virtualMachineProfile"]["networkProfile"],
                    "provisioningState": "Succeeded",
                    "timeCreated": g.created(),
                },
            });
            let mut vm = vm;
            if pool.zones.is_empty()
                && let Some(o) = vm.as_object_mut()
            {
                o.remove("zones");
            }
            node_nics.push(format!(
                "{vmss_id}/virtualMachines/{n}/networkInterfaces/{vmss}"
            ));
            out.scale_set_vms.push((vmss_id.clone(), vm));
        }
        pools.push(json!({
            "name": pool.name,
            "count": count,
            "vmSize": pool.vm_size,
            "osDiskSizeGB": 128,
            "osDiskType": "Managed",
            "kubeletDiskType": "OS",
            "maxPods": 110,
            "type": "VirtualMachineScaleSets",
            "availabilityZones": if pool.zones.is_empty() { Value::Null } else { json!(pool.zones) },
            "enableAutoScaling": false,
            "provisioningState": "Succeeded",
            "powerState": {"code": "Running"},
            "orchestratorVersion": version,
            "currentOrchestratorVersion": version,
            // The public cluster is the legacy shape: nodes with their own public IPs.
            "enableNodePublicIP": !spec.private,
            "mode": pool.mode,
            "osType": "Linux",
            "osSKU": "Ubuntu",
            "nodeImageVersion": "AKSUbuntu-2204gen2containerd-202605.20.0",
            "enableFIPS": false,
        }));
        out.scale_sets.push(ss);
    }
    // The AKS NSG; the public cluster's holds the rule the cloud provider
    // adds for its LoadBalancer Service.
    let mut rules = Vec::new();
    if !spec.private {
        let svc_uid = g.d.hex(32);
        let frontend = format!("a{svc_uid}");
        let lb_id = g.res_id(&mc_rg, "Microsoft.Network/loadBalancers", "kubernetes");
        let pip_name = format!("kubernetes-{frontend}");
        let pip_id = g.res_id(&mc_rg, "Microsoft.Network/publicIPAddresses", &pip_name);
        let fe_id = format!("{lb_id}/frontendIPConfigurations/{frontend}");
        let ip = g.public_ip();
        out.public_ips.push(json!({
            "id": pip_id,
            "name": pip_name,
            "type": "Microsoft.Network/publicIPAddresses",
            "location": loc,
            "etag": g.etag(),
            "tags": {"k8s-azure-cluster-name": "kubernetes", "k8s-azure-service": "default/web-frontend"},
            "sku": {"name": "Standard", "tier": "Regional"},
            "properties": {
                "provisioningState": "Succeeded",
                "resourceGuid": g.d.uid(),
                "ipAddress": ip,
                "publicIPAddressVersion": "IPv4",
                "publicIPAllocationMethod": "Static",
                "idleTimeoutInMinutes": 4,
                "ipTags": [],
                "ipConfiguration": {"id": fe_id},
            },
        }));
        let pool_id = format!("{lb_id}/backendAddressPools/kubernetes");
        let lb_rules: Vec<Value> = [80, 443]
            .iter()
            .map(|port| {
                json!({
                    "name": format!("{frontend}-TCP-{port}"),
                    "id": format!("{lb_id}/loadBalancingRules/{frontend}-TCP-{port}"),
                    "type": "Microsoft.Network/loadBalancers/loadBalancingRules",
                    "properties": {
                        "provisioningState": "Succeeded",
                        "frontendIPConfiguration": {"id": fe_id},
                        "frontendPort": port,
                        "backendPort": port,
                        "enableFloatingIP": true,
                        "idleTimeoutInMinutes": 4,
                        "protocol": "Tcp",
                        "enableTcpReset": true,
                        "loadDistribution": "Default",
                        "disableOutboundSnat": true,
                        "backendAddressPool": {"id": pool_id},
                        "probe": {"id": format!("{lb_id}/probes/{frontend}-TCP-{port}")},
                    },
                })
            })
            .collect();
        let probes: Vec<Value> = [80, 443]
            .iter()
            .map(|port| json!({
                "name": format!("{frontend}-TCP-{port}"),
                "id": format!("{lb_id}/probes/{frontend}-TCP-{port}"),
                "type": "Microsoft.Network/loadBalancers/probes",
                "properties": {"provisioningState": "Succeeded", "protocol": "Tcp", "port": 30000 + port,
                    "intervalInSeconds": 5, "numberOfProbes": 2, "probeThreshold": 1,
                    "loadBalancingRules": [{"id": format!("{lb_id}/loadBalancingRules/{frontend}-TCP-{port}")}]},
            }))
            .collect();
        let rule_ids: Vec<Value> = lb_rules.iter().map(|r| json!({"id": r["id"]})).collect();
        out.load_balancers.push(json!({
            "id": lb_id,
            "name": "kubernetes",
            "type": "Microsoft.Network/loadBalancers",
            "location": loc,
            "etag": g.etag(),
            "tags": {"aks-managed-cluster-name": name},
            "sku": {"name": "Standard", "tier": "Regional"},
            "properties": {
                "provisioningState": "Succeeded",
                "resourceGuid": g.d.uid(),
                "frontendIPConfigurations": [{
                    "name": frontend,
                    "id": fe_id,
                    "type": "Microsoft.Network/loadBalancers/frontendIPConfigurations",
                    "properties": {
                        "provisioningState": "Succeeded",
                        "privateIPAllocationMethod": "Dynamic",
                        "publicIPAddress": {"id": pip_id},
                        "loadBalancingRules": rule_ids,
                    },
                }],
                "backendAddressPools": [{"name": "kubernetes", "id": pool_id,
                    "type": "Microsoft.Network/loadBalancers/backendAddressPools",
                    "properties": {"provisioningState": "Succeeded"}}],
                "loadBalancingRules": lb_rules,
                "probes": probes,
                "inboundNatRules": [],
                "outboundRules": [],
                "inboundNatPools": [],
            },
        }));
        rules.push(rule(
            &nsg_id,
            &format!("k8s-azure-lb_allow_IPv4_{}", g.d.hex(32)),
            Rule {
                priority: 500,
                direction: "Inbound",
                access: "Allow",
                protocol: "Tcp",
                source: Prefix::One("Internet"),
                ports: Ports::Many(&["443", "80"]),
                destination: ip,
            },
        ));
    }
    if !spec.private {
        // Opened by hand to debug a node, and never closed.
        rules.push(rule(
            &nsg_id,
            "allow-ssh-debug",
            Rule {
                priority: 200,
                direction: "Inbound",
                access: "Allow",
                protocol: "Tcp",
                source: Prefix::One("*"),
                ports: Ports::One("22"),
                destination: "*".to_string(),
            },
        ));
    }
    out.network_security_groups
        .push(nsg(g, &nsg_id, loc, json!({}), rules, &node_nics));
    let mut api = json!({"enablePrivateCluster": spec.private});
    if spec.private {
        api["authorizedIPRanges"] = json!([
            "203.0.113.0/24",
            format!("198.51.100.{}/32", g.d.range(2, 250))
        ]);
        api["privateDNSZone"] = json!("system");
        api["enablePrivateClusterPublicFQDN"] = json!(false);
    }
    let mut network = json!({
        "networkPlugin": "azure",
        "loadBalancerSku": "standard",
        "outboundType": "loadBalancer",
        "serviceCidr": "10.0.0.0/16",
        "dnsServiceIP": "10.0.0.10",
        "ipFamilies": ["IPv4"],
    });
    if spec.private {
        network["networkPolicy"] = json!("calico");
    }
    let mut props = json!({
        "provisioningState": "Succeeded",
        "powerState": {"code": "Running"},
        "kubernetesVersion": version,
        "currentKubernetesVersion": version,
        "dnsPrefix": dns_prefix,
        "azurePortalFQDN": format!("{fqdn_host}.portal.hcp.{loc}.azmk8s.io"),
        "agentPoolProfiles": pools,
        "servicePrincipalProfile": {"clientId": "msi"},
        "nodeResourceGroup": mc_rg,
        "enableRBAC": true,
        "supportPlan": "KubernetesOfficial",
        "networkProfile": network,
        "maxAgentPools": 100,
        "apiServerAccessProfile": api,
        "identityProfile": {"kubeletidentity": {
            "resourceId": g.res_id(&mc_rg, "Microsoft.ManagedIdentity/userAssignedIdentities", &format!("{name}-agentpool")),
            "clientId": kubelet_identity,
            "objectId": g.d.uid(),
        }},
        "disableLocalAccounts": spec.private,
        "oidcIssuerProfile": {"enabled": spec.private,
            "issuerURL": if spec.private { json!(format!("https://{loc}.oic.prod-aks.azure.com/{}/{}/", g.sub, g.d.uid())) } else { Value::Null }},
        "securityProfile": {"workloadIdentity": {"enabled": spec.private}},
    });
    if spec.private {
        props["privateFQDN"] = json!(format!(
            "{fqdn_host}.{}.privatelink.{loc}.azmk8s.io",
            g.d.uid()
        ));
        props["aadProfile"] = json!({"managed": true, "enableAzureRBAC": true, "tenantID": g.tenant,
            "adminGroupObjectIDs": [g.d.uid()]});
    } else {
        props["fqdn"] = json!(format!("{fqdn_host}.hcp.{loc}.azmk8s.io"));
    }
    // ARM leaves unset optional fields out rather than sending nulls.
    out.managed_clusters.push(without_nulls(json!({
        "id": id,
        "location": loc,
        "name": name,
        "tags": g.tags(&[("service", spec.suffix)]),
        "type": "Microsoft.ContainerService/ManagedClusters",
        "properties": props,
        "identity": {"type": "SystemAssigned", "principalId": g.d.uid(), "tenantId": g.tenant},
        "sku": {"name": "Base", "tier": if spec.private { "Standard" } else { "Free" }},
    })));
}

enum Prefix {
    One(&'static str),
    Many(&'static [&'static str]),
}

enum Ports {
    One(&'static str),
    Many(&'static [&'static str]),
}

struct Rule {
    priority: u32,
    direction: &'static str,
    access: &'static str,
    protocol: &'static str,
    source: Prefix,
    ports: Ports,
    destination: String,
}

/// A security rule as ARM serves it: the singular field set, or the plural
/// one with the singular left out (ARM always sends the plural arrays).
fn rule(nsg_id: &str, name: &str, r: Rule) -> Value {
    let mut p = json!({
        "provisioningState": "Succeeded",
        "protocol": r.protocol,
        "sourcePortRange": "*",
        "destinationAddressPrefix": r.destination,
        "access": r.access,
        "priority": r.priority,
        "direction": r.direction,
        "sourcePortRanges": [],
        "destinationPortRanges": [],
        "sourceAddressPrefixes": [],
        "destinationAddressPrefixes": [],
    });
    match r.source {
        Prefix::One(s) => p["sourceAddressPrefix"] = json!(s),
        Prefix::Many(s) => p["sourceAddressPrefixes"] = json!(s),
    }
    match r.ports {
        Ports::One(s) => p["destinationPortRange"] = json!(s),
        Ports::Many(s) => p["destinationPortRanges"] = json!(s),
    }
    json!({
        "name": name,
        "id": format!("{nsg_id}/securityRules/{name}"),
        "etag": format!("W/\"{:016x}\"", stable_hash(&format!("{nsg_id}/{name}"))),
        "type": "Microsoft.Network/networkSecurityGroups/securityRules",
        "properties": p,
    })
}

fn default_rules(nsg_id: &str) -> Vec<Value> {
    let defaults = [
        (
            "AllowVnetInBound",
            65000,
            "Inbound",
            "Allow",
            "VirtualNetwork",
            "VirtualNetwork",
            "Allow inbound traffic from all VMs in VNET",
        ),
        (
            "AllowAzureLoadBalancerInBound",
            65001,
            "Inbound",
            "Allow",
            "AzureLoadBalancer",
            "*",
            "Allow inbound traffic from azure load balancer",
        ),
        (
            "DenyAllInBound",
            65500,
            "Inbound",
            "Deny",
            "*",
            "*",
            "Deny all inbound traffic",
        ),
        (
            "AllowVnetOutBound",
            65000,
            "Outbound",
            "Allow",
            "VirtualNetwork",
            "VirtualNetwork",
            "Allow outbound traffic from all VMs to all VMs in VNET",
        ),
        (
            "AllowInternetOutBound",
            65001,
            "Outbound",
            "Allow",
            "*",
            "Internet",
            "Allow outbound traffic from all VMs to Internet",
        ),
        (
            "DenyAllOutBound",
            65500,
            "Outbound",
            "Deny",
            "*",
            "*",
            "Deny all outbound traffic",
        ),
    ];
    defaults
        .iter()
        .map(
            |(name, priority, direction, access, src, dst, description)| {
                json!({
                    "name": name,
                    "id": format!("{nsg_id}/defaultSecurityRules/{name}"),
                    "etag": format!("W/\"{:016x}\"", stable_hash(nsg_id)),
                    "type": "Microsoft.Network/networkSecurityGroups/defaultSecurityRules",
                    "properties": {
                        "provisioningState": "Succeeded",
                        "description": description,
                        "protocol": "*",
                        "sourcePortRange": "*",
                        "destinationPortRange": "*",
                        "sourceAddressPrefix": src,
                        "destinationAddressPrefix": dst,
                        "access": access,
                        "priority": priority,
                        "direction": direction,
                        "sourcePortRanges": [],
                        "destinationPortRanges": [],
                        "sourceAddressPrefixes": [],
                        "destinationAddressPrefixes": [],
                    },
                })
            },
        )
        .collect()
}

fn nsg(g: &mut Gen, id: &str, loc: &str, tags: Value, rules: Vec<Value>, nics: &[String]) -> Value {
    let name = id.rsplit('/').next().unwrap_or_default();
    let mut props = json!({
        "provisioningState": "Succeeded",
        "resourceGuid": g.d.uid(),
        "securityRules": rules,
        "defaultSecurityRules": default_rules(id),
    });
    if !nics.is_empty() {
        props["networkInterfaces"] =
            json!(nics.iter().map(|n| json!({"id": n})).collect::<Vec<_>>());
    }
    json!({
        "name": name,
        "id": id,
        "etag": g.etag(),
        "type": "Microsoft.Network/networkSecurityGroups",
        "location": loc,
        "tags": tags,
        "properties": props,
    })
}

/// The jumpbox (Linux, public IP, SSH open) and the build agent (Windows,
/// RDP open from anywhere), their NSGs, an app NSG with port ranges and an
/// unattached public IP.
fn standalone(g: &mut Gen, out: &mut AzureSubscription, net_rg: &str, aks_rg: &str) {
    let loc = "eastus";
    let env = g.env.clone();
    let specs = [
        (format!("{env}-jumpbox"), net_rg, "Standard_B2s", "Linux"),
        (
            format!("{env}-build-agent"),
            aks_rg,
            "Standard_D4s_v5",
            "Windows",
        ),
    ];
    for (name, rg, size, os) in specs {
        let id = g.res_id(rg, "Microsoft.Compute/virtualMachines", &name);
        let nic_id = g.res_id(
            rg,
            "Microsoft.Network/networkInterfaces",
            &format!("{name}-nic"),
        );
        let nsg_id = g.res_id(
            rg,
            "Microsoft.Network/networkSecurityGroups",
            &format!("{name}-nsg"),
        );
        let linux = os == "Linux";
        let os_profile = if linux {
            json!({"computerName": name, "adminUsername": "azureuser",
                "linuxConfiguration": {"disablePasswordAuthentication": true, "provisionVMAgent": true,
                    "patchSettings": {"patchMode": "ImageDefault", "assessmentMode": "ImageDefault"}},
                "secrets": [], "allowExtensionOperations": true, "requireGuestProvisionSignal": true})
        } else {
            // Windows computer names are at most 15 characters.
            let computer: String = name.chars().filter(|c| *c != '-').take(15).collect();
            json!({"computerName": computer, "adminUsername": "azureadmin",
                "windowsConfiguration": {"provisionVMAgent": true, "enableAutomaticUpdates": true,
                    "patchSettings": {"patchMode": "AutomaticByOS", "assessmentMode": "ImageDefault"}},
                "secrets": [], "allowExtensionOperations": true, "requireGuestProvisionSignal": true})
        };
        let image = if linux {
            json!({"publisher": "Canonical", "offer": "ubuntu-24_04-lts", "sku": "server", "version": "latest",
                "exactVersion": "24.04.202605010"})
        } else {
            json!({"publisher": "MicrosoftWindowsServer", "offer": "WindowsServer", "sku": "2022-datacenter-azure-edition",
                "version": "latest", "exactVersion": "20348.3561.250505"})
        };
        out.virtual_machines.push(json!({
            "name": name,
            "id": id,
            "type": "Microsoft.Compute/virtualMachines",
            "location": loc,
            "tags": g.tags(&[("role", if linux { "jumpbox" } else { "ci" })]),
            "properties": {
                "vmId": g.d.uid(),
                "hardwareProfile": {"vmSize": size},
                "storageProfile": {
                    "imageReference": image,
                    "osDisk": {"osType": os, "name": format!("{name}_OsDisk_1_{}", g.d.hex(32)), "createOption": "FromImage",
                        "caching": "ReadWrite", "managedDisk": {"storageAccountType": "Premium_LRS",
                            "id": g.res_id(rg, "Microsoft.Compute/disks", &format!("{name}_OsDisk"))},
                        "deleteOption": "Delete", "diskSizeGB": if linux { 30 } else { 127 }},
                    "dataDisks": [],
                },
                "osProfile": os_profile,
                "networkProfile": {"networkInterfaces": [{"id": nic_id, "properties": {"deleteOption": "Detach"}}]},
                "diagnosticsProfile": {"bootDiagnostics": {"enabled": true}},
                "provisioningState": "Succeeded",
                "timeCreated": g.created(),
            },
        }));
        let rules = if linux {
            let src = *g.d.pick(&["*", "Internet"]);
            vec![rule(
                &nsg_id,
                "AllowSSH",
                Rule {
                    priority: 100,
                    direction: "Inbound",
                    access: "Allow",
                    protocol: "Tcp",
                    source: Prefix::One(src),
                    ports: Ports::One("22"),
                    destination: "*".into(),
                },
            )]
        } else {
            vec![
                rule(
                    &nsg_id,
                    "AllowRDP",
                    Rule {
                        priority: 300,
                        direction: "Inbound",
                        access: "Allow",
                        protocol: "Tcp",
                        source: Prefix::One("0.0.0.0/0"),
                        ports: Ports::One("3389"),
                        destination: "*".into(),
                    },
                ),
                rule(
                    &nsg_id,
                    "DenyOutboundSMTP",
                    Rule {
                        priority: 200,
                        direction: "Outbound",
                        access: "Deny",
                        protocol: "Tcp",
                        source: Prefix::One("*"),
                        ports: Ports::One("25"),
                        destination: "Internet".into(),
                    },
                ),
            ]
        };
        out.network_security_groups.push(nsg(
            g,
            &nsg_id,
            loc,
            g.tags(&[]),
            rules,
            std::slice::from_ref(&nic_id),
        ));
        if linux {
            let pip_name = format!("{name}-pip");
            let ip = g.public_ip();
            out.public_ips.push(json!({
                "name": pip_name,
                "id": g.res_id(rg, "Microsoft.Network/publicIPAddresses", &pip_name),
                "etag": g.etag(),
                "location": loc,
                "tags": g.tags(&[]),
                "type": "Microsoft.Network/publicIPAddresses",
                "sku": {"name": "Standard", "tier": "Regional"},
                "zones": ["1"],
                "properties": {
                    "provisioningState": "Succeeded",
                    "resourceGuid": g.d.uid(),
                    "ipAddress": ip,
                    "publicIPAddressVersion": "IPv4",
                    "publicIPAllocationMethod": "Static",
                    "idleTimeoutInMinutes": 4,
                    "ipTags": [],
                    "ipConfiguration": {"id": format!("{nic_id}/ipConfigurations/ipconfig1")},
                },
            }));
        }
    }
    let app_nsg = g.res_id(
        net_rg,
        "Microsoft.Network/networkSecurityGroups",
        &format!("{env}-app-nsg"),
    );
    let rules = vec![
        rule(
            &app_nsg,
            "AllowAppPorts",
            Rule {
                priority: 110,
                direction: "Inbound",
                access: "Allow",
                protocol: "Tcp",
                source: Prefix::Many(&["10.0.0.0/8", "192.168.0.0/16"]),
                ports: Ports::Many(&["8000-8100", "9090"]),
                destination: "VirtualNetwork".into(),
            },
        ),
        rule(
            &app_nsg,
            "DenyAllInternetInbound",
            Rule {
                priority: 4000,
                direction: "Inbound",
                access: "Deny",
                protocol: "*",
                source: Prefix::One("Internet"),
                ports: Ports::One("*"),
                destination: "*".into(),
            },
        ),
    ];
    out.network_security_groups.push(nsg(
        g,
        &app_nsg,
        "westeurope",
        g.tags(&[("service", "app")]),
        rules,
        &[],
    ));
    let pip_name = format!("{env}-unused-pip");
    let ip = g.public_ip();
    out.public_ips.push(json!({
        "name": pip_name,
        "id": g.res_id(net_rg, "Microsoft.Network/publicIPAddresses", &pip_name),
        "etag": g.etag(),
        "location": "westeurope",
        "tags": g.tags(&[]),
        "type": "Microsoft.Network/publicIPAddresses",
        "sku": {"name": "Basic", "tier": "Regional"},
        "properties": {
            "provisioningState": "Succeeded",
            "resourceGuid": g.d.uid(),
            "ipAddress": ip,
            "publicIPAddressVersion": "IPv4",
            "publicIPAllocationMethod": "Static",
            "idleTimeoutInMinutes": 4,
            "ipTags": [],
        },
    }));
}

/// A custom role definition assignable in the subscription at `sub_scope`.
fn custom_role(
    g: &mut Gen,
    sub_scope: &str,
    name: &str,
    description: &str,
    actions: &[&str],
) -> Value {
    let guid = g.d.uid();
    json!({
        "id": format!("{sub_scope}/providers/Microsoft.Authorization/roleDefinitions/{guid}"),
        "name": guid,
        "type": "Microsoft.Authorization/roleDefinitions",
        "properties": {
            "roleName": name,
            "type": "CustomRole",
            "description": description,
            "assignableScopes": [sub_scope],
            "permissions": [{"actions": actions, "notActions": [], "dataActions": [], "notDataActions": []}],
            "createdOn": g.created(),
            "updatedOn": g.created(),
            "createdBy": g.d.uid(),
            "updatedBy": Value::Null,
        },
    })
}

fn roles(g: &mut Gen, out: &mut AzureSubscription, aks_rg: &str, net_rg: &str) {
    let sub_scope = format!("/subscriptions/{}", g.sub);
    let def_id = |guid: &str| {
        format!("{sub_scope}/providers/Microsoft.Authorization/roleDefinitions/{guid}")
    };
    for (name, guid, description) in BUILT_IN_ROLES {
        let actions = match *name {
            "Reader" => json!(["*/read"]),
            _ => json!(["*"]),
        };
        let not_actions = match *name {
            "Contributor" => json!([
                "Microsoft.Authorization/*/Delete",
                "Microsoft.Authorization/*/Write",
                "Microsoft.Authorization/elevateAccess/Action",
            ]),
            _ => json!([]),
        };
        out.role_definitions.push(json!({
            "id": def_id(guid),
            "name": guid,
            "type": "Microsoft.Authorization/roleDefinitions",
            "properties": {
                "roleName": name,
                "type": "BuiltInRole",
                "description": description,
                "assignableScopes": ["/"],
                "permissions": [{"actions": actions, "notActions": not_actions, "dataActions": [], "notDataActions": []}],
                "createdOn": "2015-02-02T21:55:09.8806423Z",
                "updatedOn": "2024-04-17T15:40:01.5023651Z",
                "createdBy": Value::Null,
                "updatedBy": Value::Null,
            },
        }));
    }
    let custom = custom_role(
        g,
        &sub_scope,
        &format!("AKS Node Operator ({})", g.env),
        "Restart and inspect AKS node scale sets.",
        &[
            "Microsoft.Compute/virtualMachineScaleSets/read",
            "Microsoft.Compute/virtualMachineScaleSets/restart/action",
            "Microsoft.Compute/virtualMachineScaleSets/virtualMachines/read",
        ],
    );
    out.role_definitions.push(custom.clone());
    let custom = custom["name"].as_str().unwrap_or_default().to_string();
    // A custom role with every action at subscription scope: what CIS Azure
    // 1.23 calls a custom subscription administrator role.
    let admin = custom_role(
        g,
        &sub_scope,
        &format!("Subscription Operator ({})", g.env),
        "Legacy break-glass role for the platform team.",
        &["*"],
    );
    out.role_definitions.push(admin);
    let owner = BUILT_IN_ROLES[0].1;
    let contributor = BUILT_IN_ROLES[1].1;
    let reader = BUILT_IN_ROLES[2].1;
    let aks_scope = g.rg_id(aks_rg);
    let net_scope = g.rg_id(net_rg);
    let assignments = [
        (sub_scope.clone(), owner.to_string(), "User"),
        (sub_scope.clone(), owner.to_string(), "ServicePrincipal"),
        (
            sub_scope.clone(),
            contributor.to_string(),
            "ServicePrincipal",
        ),
        (sub_scope.clone(), reader.to_string(), "Group"),
        // The CI deployer: a service principal scoped to the AKS resource group.
        (aks_scope, contributor.to_string(), "ServicePrincipal"),
        (net_scope, custom.clone(), "Group"),
    ];
    for (scope, role, principal_type) in assignments {
        let guid = g.d.uid();
        let created = g.created();
        out.role_assignments.push(json!({
            "id": format!("{scope}/providers/Microsoft.Authorization/roleAssignments/{guid}"),
            "name": guid,
            "type": "Microsoft.Authorization/roleAssignments",
            "properties": {
                "roleDefinitionId": def_id(&role),
                "principalId": g.d.uid(),
                "principalType": principal_type,
                "scope": scope,
                "condition": Value::Null,
                "conditionVersion": Value::Null,
                "createdOn": created,
                "updatedOn": created,
                "createdBy": g.d.uid(),
                "updatedBy": g.d.uid(),
                "delegatedManagedIdentityResourceId": Value::Null,
                "description": Value::Null,
            },
        }));
    }
}

fn storage(g: &mut Gen, out: &mut AzureSubscription, rg: &str) {
    let env = alnum(&g.env);
    let env: String = env.chars().take(10).collect();
    // (purpose, kind, sku, public blobs, https only, minimum TLS, location)
    let specs = [
        (
            "logs",
            "StorageV2",
            "Standard_LRS",
            false,
            true,
            "TLS1_2",
            "eastus",
        ),
        (
            "data",
            "StorageV2",
            "Standard_GRS",
            true,
            true,
            "TLS1_2",
            "westeurope",
        ),
        (
            "legacy",
            "Storage",
            "Standard_LRS",
            false,
            false,
            "TLS1_0",
            "eastus",
        ),
    ];
    for (purpose, kind, sku, public, https, tls, loc) in specs {
        let name = format!("{env}{purpose}{}", g.d.hex(6));
        let tier = if sku.starts_with("Premium") {
            "Premium"
        } else {
            "Standard"
        };
        let endpoints = json!({
            "blob": format!("https://{name}.blob.core.windows.net/"),
            "queue": format!("https://{name}.queue.core.windows.net/"),
            "table": format!("https://{name}.table.core.windows.net/"),
            "file": format!("https://{name}.file.core.windows.net/"),
        });
        let mut props = json!({
            "provisioningState": "Succeeded",
            "creationTime": g.created(),
            "primaryEndpoints": endpoints,
            "primaryLocation": loc,
            "statusOfPrimary": "available",
            "allowBlobPublicAccess": public,
            "supportsHttpsTrafficOnly": https,
            "minimumTlsVersion": tls,
            "publicNetworkAccess": "Enabled",
            "allowSharedKeyAccess": true,
            "networkAcls": {"bypass": "AzureServices", "virtualNetworkRules": [], "ipRules": [],
                "defaultAction": if public { "Allow" } else { "Deny" }},
            "encryption": {"services": {"blob": {"enabled": true, "keyType": "Account"},
                "file": {"enabled": true, "keyType": "Account"}}, "keySource": "Microsoft.Storage"},
        });
        if kind == "StorageV2" {
            props["accessTier"] = json!("Hot");
        }
        out.storage_accounts.push(json!({
            "sku": {"name": sku, "tier": tier},
            "kind": kind,
            "id": g.res_id(rg, "Microsoft.Storage/storageAccounts", &name),
            "name": name,
            "type": "Microsoft.Storage/storageAccounts",
            "location": loc,
            "tags": g.tags(&[("purpose", purpose)]),
            "properties": props,
        }));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn demo() -> AzureFleet {
        generate(7, &["prod".to_string(), "staging".to_string()])
    }

    #[test]
    fn same_seed_same_bytes() {
        let a = demo();
        let b = demo();
        assert_eq!(a, b);
        assert_eq!(
            serde_json::to_string(&a.subscriptions()[0].managed_clusters).unwrap(),
            serde_json::to_string(&b.subscriptions()[0].managed_clusters).unwrap()
        );
        assert_ne!(
            generate(8, &["prod".to_string()]).subscriptions()[0],
            a.subscriptions()[0]
        );
    }

    #[test]
    fn a_subscription_does_not_depend_on_its_neighbours() {
        let alone = generate(7, &["staging".to_string()]);
        assert_eq!(alone.subscriptions()[0], demo().subscriptions()[1]);
    }

    #[test]
    fn resources_are_consistent() {
        let fleet = demo();
        for s in fleet.subscriptions() {
            assert_eq!(s.managed_clusters.len(), 2);
            let pools: u64 = s
                .managed_clusters
                .iter()
                .flat_map(|c| c["properties"]["agentPoolProfiles"].as_array().unwrap())
                .map(|p| p["count"].as_u64().unwrap())
                .sum();
            assert_eq!(s.scale_set_vms.len() as u64, pools);
            for c in &s.managed_clusters {
                let mc = c["properties"]["nodeResourceGroup"].as_str().unwrap();
                assert!(mc.starts_with("MC_"), "{mc}");
                assert!(s.resource_groups.iter().any(|rg| rg["name"] == mc));
            }
            for (ss, _) in &s.scale_set_vms {
                assert!(s.scale_sets.iter().any(|v| v["id"] == ss.as_str()));
            }
            for (_, pid) in s.node_provider_ids() {
                assert!(
                    pid.starts_with(&format!(
                        "azure:///subscriptions/{}/resourceGroups/mc_",
                        s.id
                    )),
                    "{pid}"
                );
            }
            for pip in &s.public_ips {
                if let Some(cfg) = pip["properties"]["ipConfiguration"]["id"].as_str()
                    && cfg.contains("/loadBalancers/")
                {
                    let lb = s
                        .load_balancers
                        .iter()
                        .find(|lb| cfg.starts_with(lb["id"].as_str().unwrap()))
                        .expect("the LB of a frontend");
                    assert_eq!(
                        lb["properties"]["frontendIPConfigurations"][0]["properties"]["publicIPAddress"]
                            ["id"],
                        pip["id"]
                    );
                }
            }
            for ra in &s.role_assignments {
                assert!(
                    s.role_definitions
                        .iter()
                        .any(|d| d["id"] == ra["properties"]["roleDefinitionId"])
                );
            }
            assert_eq!(s.storage_accounts.len(), 3);
            for sa in &s.storage_accounts {
                let n = sa["name"].as_str().unwrap();
                assert!(
                    (3..=24).contains(&n.len()) && n.chars().all(|c| c.is_ascii_alphanumeric())
                );
            }
        }
    }

    #[test]
    fn provider_ids_lower_case_only_the_resource_group() {
        assert_eq!(
            provider_id(
                "/subscriptions/S/resourceGroups/MC_rg_Name_eastus/providers/Microsoft.Compute/virtualMachineScaleSets/aks-a-1-vmss",
                "2"
            ),
            "azure:///subscriptions/S/resourceGroups/mc_rg_name_eastus/providers/Microsoft.Compute/virtualMachineScaleSets/aks-a-1-vmss/virtualMachines/2"
        );
    }
}
