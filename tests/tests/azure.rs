//! The Azure provider against the sim's Azure Resource Manager fake,
//! cross-checked with the real `az`: az logs in to the fake (a registered
//! custom cloud, a managed identity), kq reads az's own configuration to
//! find the same cloud, and every table's rows must be what az lists.
//! Expected values come from az's output or the fake's seeded fleet,
//! never from kq.
#![cfg(feature = "azure")]

use std::collections::BTreeSet;
use std::path::Path;
use std::process::Output;

use kq_sim::FleetConfig;
use kq_sim::azure::{AzureFake, AzureFaults, AzureFleetConfig};
use kq_tests::azure::{az_json, login};
use kq_tests::{
    TestFleet, kubectl_ok, latest_report_json, report_verdicts, run_kq_env, stderr, stdout,
};
use serde_json::{Value, json};

async fn fake(faults: AzureFaults) -> AzureFake {
    let mut config = AzureFleetConfig::demo(30);
    config.faults = faults;
    AzureFake::start(config)
        .await
        .expect("start the Azure fake")
}

/// A logged-in az config dir and kq's environment for it.
struct Session {
    dir: tempfile::TempDir,
    env: Vec<(String, String)>,
}

fn session(fake: &AzureFake) -> Session {
    let dir = tempfile::tempdir().expect("temp dir");
    let env = login(fake, &dir.path().join("az"));
    Session { dir, env }
}

impl Session {
    fn az_dir(&self) -> std::path::PathBuf {
        self.dir.path().join("az")
    }

    async fn kq(&self, kubeconfig: Option<&Path>, args: &[&str]) -> Output {
        let mut full: Vec<String> = Vec::new();
        if let Some(k) = kubeconfig {
            full.extend(["--kubeconfig".to_string(), k.display().to_string()]);
        }
        full.extend(args.iter().map(|a| a.to_string()));
        run_kq_env(full, self.env.clone()).await
    }

    /// A query that must succeed without a word on stderr, as JSON rows.
    async fn rows(&self, kubeconfig: Option<&Path>, args: &[&str]) -> Vec<Value> {
        let mut full = vec!["-o", "json"];
        full.extend_from_slice(args);
        let output = self.kq(kubeconfig, &full).await;
        assert!(
            output.status.success() && stderr(&output).is_empty(),
            "kq {args:?} failed or complained: {}{}",
            stdout(&output),
            stderr(&output)
        );
        serde_json::from_str(&stdout(&output)).expect("kq -o json output")
    }
}

fn text(v: &Value) -> String {
    v.as_str().unwrap_or_default().to_string()
}

fn sorted(mut rows: Vec<Value>) -> Vec<Value> {
    rows.sort_by_key(|r| r.to_string());
    rows
}

fn subscriptions(fake: &AzureFake) -> Vec<String> {
    fake.fleet()
        .subscriptions()
        .iter()
        .map(|s| s.id.clone())
        .collect()
}

/// Whether a security rule of the fake lets the internet reach tcp 22 or
/// 3389: inbound, allow, tcp or any protocol, from *, Internet, Any or
/// 0.0.0.0/0.
fn opens_admin_port(rule: &Value) -> bool {
    let p = &rule["properties"];
    let sources: Vec<String> = p["sourceAddressPrefixes"]
        .as_array()
        .into_iter()
        .flatten()
        .map(text)
        .chain(p["sourceAddressPrefix"].as_str().map(str::to_string))
        .collect();
    let ports: Vec<String> = p["destinationPortRanges"]
        .as_array()
        .into_iter()
        .flatten()
        .map(text)
        .chain(p["destinationPortRange"].as_str().map(str::to_string))
        .collect();
    let covers = |port: i64| {
        ports.iter().any(|r| {
            if r == "*" {
                return true;
            }
            let (a, b) = r.split_once('-').unwrap_or((r, r));
            a.parse::<i64>().is_ok_and(|a| a <= port) && b.parse::<i64>().is_ok_and(|b| port <= b)
        })
    };
    p["direction"] == "Inbound"
        && p["access"] == "Allow"
        && (p["protocol"] == "Tcp" || p["protocol"] == "*")
        && sources
            .iter()
            .any(|s| ["*", "Internet", "Any", "0.0.0.0/0", "::/0"].contains(&s.as_str()))
        && (covers(22) || covers(3389))
}

/// az's list for each subscription, each item tagged with it.
async fn per_subscription(fake: &AzureFake, s: &Session, args: &[&str]) -> Vec<(String, Value)> {
    let mut all = Vec::new();
    for id in subscriptions(fake) {
        let mut full = args.to_vec();
        full.extend(["--subscription", &id]);
        let listed = az_json(fake, &s.az_dir(), &full).await;
        all.extend(
            listed
                .as_array()
                .cloned()
                .unwrap_or_default()
                .into_iter()
                .map(|item| (id.clone(), item)),
        );
    }
    all
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_table_answers_what_az_lists() {
    let fake = fake(AzureFaults::default()).await;
    let s = session(&fake);
    let subs = subscriptions(&fake).join(",");
    let sub = ["--azure-subscription", subs.as_str()];

    // Virtual machines (az flattens properties).
    let listed = per_subscription(&fake, &s, &["vm", "list"]).await;
    let want: Vec<Value> = listed
        .iter()
        .map(|(id, v)| json!({"subscription_id": id, "name": v["name"], "vm_size": v["hardwareProfile"]["vmSize"], "os_type": v["storageProfile"]["osDisk"]["osType"], "location": v["location"]}))
        .collect();
    assert!(!want.is_empty());
    let got = s.rows(None, &[sub[0], sub[1], "SELECT subscription_id, name, vm_size, os_type, location FROM azure.virtual_machines"]).await;
    assert_eq!(sorted(got), sorted(want));

    // Scale sets, with their model's network, as az lists them.
    let sets = per_subscription(&fake, &s, &["vmss", "list"]).await;
    let want: Vec<Value> = sets
        .iter()
        .map(|(id, v)| {
            let nic = &v["virtualMachineProfile"]["networkProfile"]["networkInterfaceConfigurations"][0];
            json!({"subscription_id": id, "name": v["name"], "vm_size": v["sku"]["name"], "capacity": v["sku"]["capacity"],
                "aks_pool": v["tags"]["aks-managed-poolName"], "nsg_id": nic["networkSecurityGroup"]["id"],
                "subnet_id": nic["ipConfigurations"][0]["subnet"]["id"]})
        })
        .collect();
    assert!(!want.is_empty());
    let got = s.rows(None, &[sub[0], sub[1], "SELECT subscription_id, name, vm_size, capacity, aks_pool, nsg_id, subnet_id FROM azure.scale_sets"]).await;
    assert_eq!(sorted(got), sorted(want));
    // Every node's providerID starts with exactly one scale set's prefix.
    let prefixes: Vec<String> = s
        .rows(
            None,
            &[
                sub[0],
                sub[1],
                "SELECT provider_id_prefix FROM azure.scale_sets",
            ],
        )
        .await
        .iter()
        .map(|r| text(&r["provider_id_prefix"]).to_lowercase())
        .collect();
    for (node, provider_id) in fake
        .fleet()
        .subscriptions()
        .iter()
        .flat_map(|s| s.node_provider_ids())
    {
        let matching = prefixes
            .iter()
            .filter(|p| provider_id.to_lowercase().starts_with(p.as_str()))
            .count();
        assert_eq!(matching, 1, "{node}: {provider_id} in {prefixes:?}");
    }

    // Scale-set instances: the AKS nodes, with the providerID AKS writes.
    let mut want = Vec::new();
    for (id, set) in sets {
        let instances = az_json(
            &fake,
            &s.az_dir(),
            &[
                "vmss",
                "list-instances",
                "-g",
                &text(&set["resourceGroup"]),
                "-n",
                &text(&set["name"]),
                "--subscription",
                &id,
            ],
        )
        .await;
        for i in instances.as_array().into_iter().flatten() {
            // The NSG and subnet of the instance's primary NIC, as az shows it.
            let nic = &i["networkProfileConfiguration"]["networkInterfaceConfigurations"][0];
            want.push(json!({"subscription_id": id, "scale_set": set["name"], "instance_id": i["instanceId"], "computer_name": i["osProfile"]["computerName"],
                "nsg_id": nic["networkSecurityGroup"]["id"], "subnet_id": nic["ipConfigurations"][0]["subnet"]["id"]}));
        }
    }
    assert!(!want.is_empty());
    assert!(
        want.iter()
            .all(|w| w["nsg_id"].is_string() && w["subnet_id"].is_string()),
        "{want:?}"
    );
    let got = s.rows(None, &[sub[0], sub[1], "SELECT subscription_id, scale_set, instance_id, computer_name, nsg_id, subnet_id FROM azure.vmss_instances"]).await;
    assert_eq!(sorted(got), sorted(want));
    let want: BTreeSet<String> = fake
        .fleet()
        .subscriptions()
        .iter()
        .flat_map(|s| s.node_provider_ids())
        .map(|(_, id)| id)
        .collect();
    let got: BTreeSet<String> = s
        .rows(
            None,
            &[
                sub[0],
                sub[1],
                "SELECT provider_id FROM azure.vmss_instances",
            ],
        )
        .await
        .iter()
        .map(|r| text(&r["provider_id"]))
        .collect();
    assert_eq!(got, want, "provider ids as AKS writes them");

    // NSG rules, one row per source prefix and port range.
    let mut want = BTreeSet::new();
    for (id, nsg) in per_subscription(&fake, &s, &["network", "nsg", "list"]).await {
        for (key, _) in [("securityRules", false), ("defaultSecurityRules", true)] {
            for rule in nsg[key].as_array().into_iter().flatten() {
                let mut sources: Vec<String> = rule["sourceAddressPrefixes"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(text)
                    .collect();
                if let Some(one) = rule["sourceAddressPrefix"]
                    .as_str()
                    .filter(|p| !p.is_empty())
                {
                    sources.insert(0, one.to_string());
                }
                let mut ports: Vec<String> = rule["destinationPortRanges"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(text)
                    .collect();
                if let Some(one) = rule["destinationPortRange"]
                    .as_str()
                    .filter(|p| !p.is_empty())
                {
                    ports.insert(0, one.to_string());
                }
                for port in &ports {
                    for source in &sources {
                        want.insert((
                            id.clone(),
                            text(&nsg["name"]),
                            text(&rule["name"]),
                            text(&rule["access"]).to_lowercase(),
                            source.clone(),
                            port.clone(),
                        ));
                    }
                }
            }
        }
    }
    assert!(!want.is_empty());
    let got: BTreeSet<_> = s
        .rows(
            None,
            &[
                sub[0],
                sub[1],
                "SELECT subscription_id, nsg, name, access, source, ports FROM azure.nsg_rules",
            ],
        )
        .await
        .iter()
        .map(|r| {
            (
                text(&r["subscription_id"]),
                text(&r["nsg"]),
                text(&r["name"]),
                text(&r["access"]),
                text(&r["source"]),
                text(&r["ports"]),
            )
        })
        .collect();
    assert_eq!(got, want);

    // Public IPs and load balancers.
    let listed = per_subscription(&fake, &s, &["network", "public-ip", "list"]).await;
    let want: Vec<Value> = listed
        .iter()
        .map(|(id, ip)| json!({"subscription_id": id, "name": ip["name"], "ip_address": ip["ipAddress"], "attached_to": ip["ipConfiguration"]["id"]}))
        .collect();
    let got = s
        .rows(
            None,
            &[
                sub[0],
                sub[1],
                "SELECT subscription_id, name, ip_address, attached_to FROM azure.public_ips",
            ],
        )
        .await;
    assert_eq!(sorted(got), sorted(want));
    let listed = per_subscription(&fake, &s, &["network", "lb", "list"]).await;
    let want: Vec<Value> = listed
        .iter()
        .map(|(id, lb)| {
            let ips: Vec<Value> = lb["frontendIPConfigurations"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|f| f["publicIPAddress"]["id"].as_str().map(|s| json!(s)))
                .collect();
            json!({"subscription_id": id, "name": lb["name"], "frontend_public_ips": ips})
        })
        .collect();
    let got = s
        .rows(
            None,
            &[
                sub[0],
                sub[1],
                "SELECT subscription_id, name, frontend_public_ips FROM azure.load_balancers",
            ],
        )
        .await;
    assert_eq!(sorted(got), sorted(want));

    // AKS clusters and agent pools.
    let listed = per_subscription(&fake, &s, &["aks", "list"]).await;
    let want: Vec<Value> = listed
        .iter()
        .map(|(id, c)| {
            let private = c["apiServerAccessProfile"]["enablePrivateCluster"] == true;
            let ranges = c["apiServerAccessProfile"]["authorizedIpRanges"].as_array().map_or(0, Vec::len);
            json!({"subscription_id": id, "name": c["name"], "kubernetes_version": c["kubernetesVersion"], "private_cluster": private, "open_api_server": !private && ranges == 0, "network_policy": c["networkProfile"]["networkPolicy"]})
        })
        .collect();
    assert!(want.iter().any(|c| c["open_api_server"] == true));
    let got = s.rows(None, &[sub[0], sub[1], "SELECT subscription_id, name, kubernetes_version, private_cluster, open_api_server, network_policy FROM azure.aks_clusters"]).await;
    assert_eq!(sorted(got), sorted(want));
    let want: Vec<Value> = listed
        .iter()
        .flat_map(|(id, c)| {
            c["agentPoolProfiles"].as_array().cloned().unwrap_or_default().into_iter().map(move |p| json!({"subscription_id": id, "cluster": c["name"], "name": p["name"], "mode": p["mode"], "vm_size": p["vmSize"]}))
        })
        .collect();
    let got = s
        .rows(
            None,
            &[
                sub[0],
                sub[1],
                "SELECT subscription_id, cluster, name, mode, vm_size FROM azure.aks_agent_pools",
            ],
        )
        .await;
    assert_eq!(sorted(got), sorted(want));

    // Role assignments (with the role's name) and definitions.
    let listed = per_subscription(
        &fake,
        &s,
        &[
            "role",
            "assignment",
            "list",
            "--all",
            "--fill-principal-name",
            "false",
        ],
    )
    .await;
    let want: Vec<Value> = listed
        .iter()
        .map(|(id, a)| json!({"subscription_id": id, "principal_id": a["principalId"], "role_name": a["roleDefinitionName"], "scope": a["scope"]}))
        .collect();
    assert!(want.iter().any(|a| a["role_name"] == "Owner"));
    let got = s.rows(None, &[sub[0], sub[1], "SELECT subscription_id, principal_id, role_name, scope FROM azure.role_assignments"]).await;
    assert_eq!(sorted(got), sorted(want));
    let listed = per_subscription(
        &fake,
        &s,
        &["role", "definition", "list", "--custom-role-only", "false"],
    )
    .await;
    let want: Vec<Value> = listed
        .iter()
        .map(|(id, d)| json!({"subscription_id": id, "role_name": d["roleName"], "role_type": d["roleType"]}))
        .collect();
    let got = s
        .rows(
            None,
            &[
                sub[0],
                sub[1],
                "SELECT subscription_id, role_name, role_type FROM azure.role_definitions",
            ],
        )
        .await;
    assert_eq!(sorted(got), sorted(want));

    // Storage accounts.
    let listed = per_subscription(&fake, &s, &["storage", "account", "list"]).await;
    let want: Vec<Value> = listed
        .iter()
        .map(|(id, a)| json!({"subscription_id": id, "name": a["name"], "allow_blob_public_access": a["allowBlobPublicAccess"], "https_only": a["enableHttpsTrafficOnly"], "minimum_tls_version": a["minimumTlsVersion"]}))
        .collect();
    let got = s.rows(None, &[sub[0], sub[1], "SELECT subscription_id, name, allow_blob_public_access, https_only, minimum_tls_version FROM azure.storage_accounts"]).await;
    assert_eq!(sorted(got), sorted(want));

    // Without --azure-subscription (beside a cluster) kq reads every
    // subscription az lists; by name works as by id.
    let listed: BTreeSet<String> = az_json(&fake, &s.az_dir(), &["account", "list"])
        .await
        .as_array()
        .into_iter()
        .flatten()
        .map(|a| text(&a["id"]))
        .collect();
    let sim = TestFleet::start(FleetConfig::uniform(1, 5, 85)).await;
    let got: BTreeSet<String> = s
        .rows(
            Some(&sim.kubeconfig),
            &["SELECT DISTINCT subscription_id FROM azure.storage_accounts"],
        )
        .await
        .iter()
        .map(|r| text(&r["subscription_id"]))
        .collect();
    assert_eq!(got, listed);
    let first = &fake.fleet().subscriptions()[0];
    let got = s
        .rows(
            None,
            &[
                "--azure-subscription",
                &first.name,
                "SELECT DISTINCT subscription_id FROM azure.aks_clusters",
            ],
        )
        .await;
    assert_eq!(got, vec![json!({"subscription_id": first.id})]);

    // Everything kq and az sent was a GET.
    for request in fake.requests() {
        assert_eq!(request.method, "GET", "{} {}", request.method, request.path);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failures_are_per_subscription_and_throttling_is_retried() {
    let fake = fake(AzureFaults::default()).await;
    let s = session(&fake);
    let subs = subscriptions(&fake);
    let (first, second) = (subs[0].clone(), subs[1].clone());
    fake.set_faults(AzureFaults {
        forbidden_subscriptions: vec![second.clone()],
        ..AzureFaults::default()
    });
    let output = s
        .kq(
            None,
            &[
                "--azure-subscription",
                &subs.join(","),
                "-o",
                "json",
                "SELECT DISTINCT subscription_id FROM azure.virtual_machines",
            ],
        )
        .await;
    assert!(output.status.success(), "{}", stderr(&output));
    let got: Value = serde_json::from_str(&stdout(&output)).expect("json");
    assert_eq!(got, json!([{"subscription_id": first}]));
    let err = stderr(&output);
    assert!(
        err.contains(&format!("azure '{second}'")) && err.contains("AuthorizationFailed"),
        "{err}"
    );
    let output = s
        .kq(
            None,
            &[
                "--strict",
                "--azure-subscription",
                &subs.join(","),
                "SELECT count(*) FROM azure.storage_accounts",
            ],
        )
        .await;
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));

    // 429 and 503 on every path are retried; the answer is complete.
    fake.set_faults(AzureFaults {
        throttle_first: 1,
        unavailable_first: 1,
        ..AzureFaults::default()
    });
    let want: usize = fake
        .fleet()
        .subscriptions()
        .iter()
        .map(|s| s.storage_accounts.len())
        .sum();
    let got = s
        .rows(
            None,
            &[
                "--azure-subscription",
                &subs.join(","),
                "SELECT name FROM azure.storage_accounts",
            ],
        )
        .await;
    assert_eq!(got.len(), want);
    let statuses: Vec<u16> = fake.requests().iter().map(|r| r.status).collect();
    assert!(statuses.contains(&429) && statuses.contains(&503));

    // Bad input: one sentence, exit 2.
    let output = s
        .kq(
            None,
            &["--azure-subscription", "no-such-subscription", "SELECT 1"],
        )
        .await;
    assert_eq!(output.status.code(), Some(2));
    let err = stderr(&output);
    assert!(
        err.contains("'no-such-subscription' in --azure-subscription"),
        "{err}"
    );
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(stdout(&output).is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn aks_nodes_and_services_join_the_azure_objects_behind_them() {
    let fake = fake(AzureFaults::default()).await;
    let s = session(&fake);
    let subs = subscriptions(&fake).join(",");
    let sim = TestFleet::start(FleetConfig::uniform(1, 5, 86)).await;
    let k = sim.kubeconfig.as_path();
    let first = &fake.fleet().subscriptions()[0];
    let mut manifests = String::new();
    for (name, provider_id) in first.node_provider_ids() {
        manifests.push_str(&format!(
            "---\napiVersion: v1\nkind: Node\nmetadata:\n  name: {name}\nspec:\n  providerID: {provider_id}\n"
        ));
    }
    // A LoadBalancer Service on an attached public IP, and a pod behind it.
    let ip = first
        .public_ips
        .iter()
        .find(|ip| {
            ip["properties"]["ipConfiguration"]["id"].is_string()
                && ip["properties"]["ipAddress"].is_string()
        })
        .expect("an attached public IP");
    manifests.push_str(&format!(
        "---\napiVersion: v1\nkind: Service\nmetadata:\n  name: web\n  namespace: default\nspec:\n  type: LoadBalancer\n  selector:\n    app: web\n  ports:\n  - port: 80\nstatus:\n  loadBalancer:\n    ingress:\n    - ip: {}\n---\napiVersion: v1\nkind: Pod\nmetadata:\n  name: web-1\n  namespace: default\n  labels:\n    app: web\nspec:\n  containers:\n  - name: web\n    image: nginx:1.27\n",
        text(&ip["properties"]["ipAddress"])
    ));
    let file = sim.dir.path().join("aks.yaml");
    std::fs::write(&file, manifests).expect("write manifests");
    kubectl_ok(k, &["apply", "-f", &file.display().to_string()]).await;

    let examples = Path::new(env!("CARGO_MANIFEST_DIR")).join("../queries/examples/azure");
    let example = |name: &str| examples.join(name).display().to_string();
    let got: BTreeSet<String> = s
        .rows(
            Some(k),
            &[
                "--azure-subscription",
                &subs,
                "-f",
                &example("aks_nodes.sql"),
            ],
        )
        .await
        .iter()
        .map(|r| text(&r["node"]))
        .collect();
    let want: BTreeSet<String> = first
        .node_provider_ids()
        .into_iter()
        .map(|(name, _)| name)
        .collect();
    assert!(!want.is_empty());
    assert_eq!(got, want);
    let got = s
        .rows(
            Some(k),
            &[
                "--azure-subscription",
                &subs,
                "-f",
                &example("internet_reachable_pods.sql"),
            ],
        )
        .await;
    assert_eq!(got.len(), 1, "{got:?}");
    assert_eq!(got[0]["pod"], "web-1");
    assert_eq!(got[0]["public_ip"], ip["name"]);

    // The other examples agree with the seeded objects.
    let got: BTreeSet<String> = s
        .rows(
            None,
            &[
                "--azure-subscription",
                &subs,
                "-f",
                &example("open_api_servers.sql"),
            ],
        )
        .await
        .iter()
        .map(|r| text(&r["cluster"]))
        .collect();
    let want: BTreeSet<String> = fake
        .fleet()
        .subscriptions()
        .iter()
        .flat_map(|s| s.managed_clusters.iter())
        .filter(|c| {
            let access = &c["properties"]["apiServerAccessProfile"];
            access["enablePrivateCluster"] != true
                && access["authorizedIPRanges"]
                    .as_array()
                    .is_none_or(Vec::is_empty)
        })
        .map(|c| text(&c["name"]))
        .collect();
    assert!(!want.is_empty());
    assert_eq!(got, want);
    // Nodes an NSG rule opens to SSH/RDP: the NSG on the scale set's NIC
    // configuration, or on the subnet it puts the NIC in.
    let got: BTreeSet<(String, String)> = s
        .rows(
            Some(k),
            &[
                "--azure-subscription",
                &subs,
                "-f",
                &example("admin_ports_open.sql"),
            ],
        )
        .await
        .iter()
        .map(|r| (text(&r["node"]), text(&r["rule"])))
        .collect();
    let mut want = BTreeSet::new();
    for (set_id, vm) in &first.scale_set_vms {
        let set = first
            .scale_sets
            .iter()
            .find(|ss| ss["id"] == set_id.as_str())
            .expect("the instance's scale set");
        let nic = &set["properties"]["virtualMachineProfile"]["networkProfile"]["networkInterfaceConfigurations"]
            [0]["properties"];
        let nsg_id = text(&nic["networkSecurityGroup"]["id"]).to_lowercase();
        let subnet = text(&nic["ipConfigurations"][0]["properties"]["subnet"]["id"]);
        let node = text(&vm["properties"]["osProfile"]["computerName"]);
        for nsg in &first.network_security_groups {
            let on_nic = text(&nsg["id"]).to_lowercase() == nsg_id;
            let on_subnet = nsg["properties"]["subnets"]
                .as_array()
                .into_iter()
                .flatten()
                .any(|s| s["id"] == subnet.as_str());
            if !(on_nic || on_subnet) {
                continue;
            }
            for rule in nsg["properties"]["securityRules"]
                .as_array()
                .into_iter()
                .flatten()
            {
                if opens_admin_port(rule) {
                    want.insert((node.clone(), text(&rule["name"])));
                }
            }
        }
    }
    assert!(!want.is_empty(), "the fake opens SSH on some AKS nodes");
    assert_eq!(got, want);
    let got: BTreeSet<(String, String)> = s
        .rows(
            None,
            &[
                "--azure-subscription",
                &subs,
                "-f",
                &example("owners_and_contributors.sql"),
            ],
        )
        .await
        .iter()
        .map(|r| (text(&r["role_name"]), text(&r["principal_id"])))
        .collect();
    assert!(got.iter().any(|(role, _)| role == "Owner"), "{got:?}");
}

/// Every control's verdicts, from its `-- alarms:` header, over the fake's
/// seeded subscriptions.
fn expected_verdicts(fake: &AzureFake) -> BTreeSet<(String, String, String)> {
    let status = |alarm: bool| if alarm { "alarm" } else { "ok" }.to_string();
    let mut want = BTreeSet::new();
    let mut add = |control: &str, sub: &str, name: String, alarm: bool| {
        want.insert((
            format!("azure.{control}"),
            format!("{sub}/{name}"),
            status(alarm),
        ));
    };
    for s in fake.fleet().subscriptions() {
        let sub = s.id.as_str();
        for c in &s.managed_clusters {
            let p = &c["properties"];
            let name = text(&c["name"]);
            let api = &p["apiServerAccessProfile"];
            let ranges = api["authorizedIPRanges"].as_array().map_or(0, Vec::len);
            let public = api["enablePrivateCluster"] != true;
            add(
                "aks_api_server_exposure",
                sub,
                name.clone(),
                public && ranges == 0,
            );
            let policy = p["networkProfile"]["networkPolicy"]
                .as_str()
                .is_some_and(|p| p != "none");
            add("aks_network_policy", sub, name.clone(), !policy);
            let identity_gap = p["enableRBAC"] != true
                || p["aadProfile"]["managed"] != true
                || p["disableLocalAccounts"] != true;
            add("aks_identity", sub, name.clone(), identity_gap);
            for pool in p["agentPoolProfiles"].as_array().into_iter().flatten() {
                add(
                    "aks_private_nodes",
                    sub,
                    format!("{name}/{}", text(&pool["name"])),
                    pool["enableNodePublicIP"] == true,
                );
            }
        }
        for nsg in &s.network_security_groups {
            for rule in nsg["properties"]["securityRules"]
                .as_array()
                .into_iter()
                .flatten()
            {
                add(
                    "nsg_admin_ports_open",
                    sub,
                    format!("{}/{}", text(&nsg["name"]), text(&rule["name"])),
                    opens_admin_port(rule),
                );
            }
        }
        let role_name = |definition_id: &str| {
            let guid = definition_id.rsplit('/').next().unwrap_or_default();
            s.role_definitions
                .iter()
                .find(|d| d["name"] == guid)
                .map(|d| text(&d["properties"]["roleName"]))
                .unwrap_or_default()
        };
        let sub_scope = format!("/subscriptions/{sub}");
        let mut principals: std::collections::BTreeMap<String, bool> = Default::default();
        for a in &s.role_assignments {
            let p = &a["properties"];
            if p["principalType"] != "ServicePrincipal" {
                continue;
            }
            let privileged = text(&p["scope"]) == sub_scope
                && ["Owner", "Contributor"]
                    .contains(&role_name(&text(&p["roleDefinitionId"])).as_str());
            *principals.entry(text(&p["principalId"])).or_default() |= privileged;
        }
        for (principal, privileged) in principals {
            add("service_principal_privileges", sub, principal, privileged);
        }
        for d in &s.role_definitions {
            let p = &d["properties"];
            if p["type"] != "CustomRole" {
                continue;
            }
            let everything = p["permissions"]
                .as_array()
                .into_iter()
                .flatten()
                .any(|perm| {
                    perm["actions"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .any(|a| a == "*")
                });
            let wide = p["assignableScopes"]
                .as_array()
                .into_iter()
                .flatten()
                .any(|scope| *scope == "/" || *scope == sub_scope.as_str());
            add(
                "custom_subscription_admin_roles",
                sub,
                text(&p["roleName"]),
                everything && wide,
            );
        }
        for account in &s.storage_accounts {
            let p = &account["properties"];
            let weak_tls = !matches!(p["minimumTlsVersion"].as_str(), Some("TLS1_2" | "TLS1_3"));
            let bad = p["supportsHttpsTrafficOnly"] == false
                || weak_tls
                || p["allowBlobPublicAccess"] != false;
            add("storage_account_security", sub, text(&account["name"]), bad);
        }
    }
    want
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_azure_pack_judges_the_seeded_subscriptions() {
    let fake = fake(AzureFaults::default()).await;
    let s = session(&fake);
    let subs = subscriptions(&fake);
    let out = s.dir.path().join("reports");
    let joined = subs.join(",");
    let report_args = |rest: &[&'static str]| {
        let mut args = vec!["report", "--pack", "azure", "--azure-subscription", &joined];
        args.extend_from_slice(rest);
        args
    };
    let out_arg = out.display().to_string();
    let mut args = report_args(&["-o", "json,junit,sarif,markdown,csv,html", "--out"]);
    args.push(&out_arg);
    let output = s.kq(None, &args).await;
    assert_eq!(
        output.status.code(),
        Some(1),
        "high alarms fail the run: {}",
        stderr(&output)
    );
    let run = out.join("latest");
    let got = report_verdicts(&latest_report_json(&out));
    let want = expected_verdicts(&fake);
    let controls: BTreeSet<&str> = want.iter().map(|(c, _, _)| c.as_str()).collect();
    assert_eq!(controls.len(), 8, "{controls:?}");
    for control in controls {
        for verdict in ["alarm", "ok"] {
            assert!(
                want.iter().any(|(c, _, s)| c == control && s == verdict),
                "the fake gives {control} something to judge {verdict}"
            );
        }
    }
    assert_eq!(got, want);

    // Every format names every alarming resource.
    for file in [
        "report.junit.xml",
        "report.sarif",
        "report.md",
        "report.csv",
        "report.html",
    ] {
        let rendered = std::fs::read_to_string(run.join(file)).expect(file);
        for (control, resource, _) in want.iter().filter(|(_, _, s)| s == "alarm") {
            let name = resource.split_once('/').map_or("", |(_, n)| n);
            assert!(
                rendered.contains(control) && rendered.contains(name),
                "{file} lacks {control} on {resource}"
            );
        }
    }

    // A subscription kq cannot read fails the report; it never passes.
    fake.set_faults(AzureFaults {
        forbidden_subscriptions: vec![subs[1].clone()],
        ..AzureFaults::default()
    });
    let output = s.kq(None, &report_args(&["-o", "json"])).await;
    let err = stderr(&output);
    assert!(
        err.contains(&format!("azure '{}'", subs[1])) && err.contains("AuthorizationFailed"),
        "{err}"
    );
    assert_ne!(output.status.code(), Some(0), "{err}");
    let report: Value = serde_json::from_str(&stdout(&output)).expect("JSON report");
    let got = report_verdicts(&report);
    assert!(
        got.iter()
            .all(|(_, resource, _)| !resource.starts_with(&subs[1])),
        "findings for the unreadable subscription: {got:?}"
    );
    assert!(
        got.iter()
            .any(|(_, resource, _)| resource.starts_with(&subs[0])),
        "the readable subscription is still judged"
    );
    fake.set_faults(AzureFaults::default());

    // Kubernetes reports never run the pack unless it is named.
    let sim = TestFleet::start(FleetConfig::uniform(1, 5, 87)).await;
    let k = sim.kubeconfig.as_path();
    let output = s.kq(Some(k), &["report", "--list"]).await;
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(!stdout(&output).contains("azure."), "{}", stdout(&output));
    let before = fake.requests().len();
    let output = s.kq(Some(k), &["report", "-o", "json"]).await;
    let report: Value = serde_json::from_str(&stdout(&output)).expect("JSON report");
    assert!(
        report["controls"]
            .as_array()
            .expect("controls")
            .iter()
            .all(|c| !text(&c["control"]["id"]).starts_with("azure."))
    );
    assert_eq!(
        fake.requests().len(),
        before,
        "a Kubernetes report called Azure"
    );
}
