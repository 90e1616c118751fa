//! The GCP provider against the sim's GCP fake, cross-checked with the
//! real `gcloud`: kq and gcloud read one fake through one environment
//! (gcloud's endpoint overrides and access-token file), and every table's
//! rows must be what gcloud lists. Expected values come from gcloud's
//! output or the fake's seeded fleet, never from kq.
#![cfg(feature = "gcp")]

use std::collections::BTreeSet;
use std::path::Path;
use std::process::Output;

use kq_sim::FleetConfig;
use kq_sim::gcp::{GcpFake, GcpFaults, GcpFleetConfig};
use kq_tests::gcp::gcloud_json;
use kq_tests::{TestFleet, kubectl_ok, report_verdicts, run_kq_env, stderr, stdout};
use serde_json::{Value, json};

const PROJECTS: &str = "kq-prod,kq-staging";

async fn fake(faults: GcpFaults) -> GcpFake {
    let mut config = GcpFleetConfig::demo(20);
    config.faults = faults;
    GcpFake::start(config).await.expect("start the GCP fake")
}

/// Runs kq with the fake's environment (and `kubeconfig`, when given).
async fn kq(fake: &GcpFake, kubeconfig: Option<&Path>, args: &[&str]) -> Output {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut full: Vec<String> = Vec::new();
    if let Some(k) = kubeconfig {
        full.extend(["--kubeconfig".to_string(), k.display().to_string()]);
    }
    full.extend(args.iter().map(|a| a.to_string()));
    let output = run_kq_env(full, fake.gcloud_env(&dir.path().join("config"))).await;
    drop(dir);
    output
}

/// A query that must succeed without a word on stderr, as JSON rows.
async fn rows(fake: &GcpFake, kubeconfig: Option<&Path>, args: &[&str]) -> Vec<Value> {
    let mut full = vec!["-o", "json"];
    full.extend_from_slice(args);
    let output = kq(fake, kubeconfig, &full).await;
    assert!(
        output.status.success() && stderr(&output).is_empty(),
        "kq {args:?} failed or complained: {}{}",
        stdout(&output),
        stderr(&output)
    );
    serde_json::from_str(&stdout(&output)).expect("kq -o json output")
}

fn text(v: &Value) -> String {
    v.as_str().unwrap_or_default().to_string()
}

fn last(v: &Value) -> String {
    text(v).rsplit('/').next().unwrap_or_default().to_string()
}

fn texts(v: &Value) -> Vec<String> {
    v.as_array().into_iter().flatten().map(text).collect()
}

fn sorted(mut rows: Vec<Value>) -> Vec<Value> {
    rows.sort_by_key(|r| r.to_string());
    rows
}

/// gcloud's list for each project, each item tagged with its project.
async fn per_project(fake: &GcpFake, args: &[&str]) -> Vec<(String, Value)> {
    let mut all = Vec::new();
    for project in PROJECTS.split(',') {
        let mut full = args.to_vec();
        full.extend(["--project", project]);
        let listed = gcloud_json(fake, &full).await;
        all.extend(
            listed
                .as_array()
                .cloned()
                .unwrap_or_default()
                .into_iter()
                .map(|item| (project.to_string(), item)),
        );
    }
    all
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_table_answers_what_gcloud_lists() {
    let fake = fake(GcpFaults::default()).await;
    let p = ["--gcp-project", PROJECTS];

    // Instances: the GKE nodes, the bastion and the stopped worker.
    let listed = per_project(&fake, &["compute", "instances", "list"]).await;
    let want: Vec<Value> = listed
        .iter()
        .map(|(project, i)| {
            let nics = i["networkInterfaces"].as_array().cloned().unwrap_or_default();
            json!({
                "project": project, "zone": last(&i["zone"]), "name": i["name"],
                "status": i["status"], "machine_type": last(&i["machineType"]),
                "internal_ips": nics.iter().map(|n| n["networkIP"].clone()).collect::<Vec<_>>(),
                "external_ips": nics.iter().flat_map(|n| n["accessConfigs"].as_array().cloned().unwrap_or_default()).filter_map(|a| a.get("natIP").cloned()).collect::<Vec<_>>(),
                "network_tags": i["tags"]["items"].as_array().cloned().unwrap_or_default(),
                "service_accounts": i["serviceAccounts"].as_array().into_iter().flatten().map(|s| s["email"].clone()).collect::<Vec<_>>(),
                "provider_id": format!("gce://{project}/{}/{}", last(&i["zone"]), text(&i["name"])),
            })
        })
        .collect();
    assert!(want.len() > 4, "the fake seeds instances in both projects");
    let got = rows(&fake, None, &[p[0], p[1], "SELECT project, zone, name, status, machine_type, internal_ips, external_ips, network_tags, service_accounts, provider_id FROM gcp.compute_instances"]).await;
    assert_eq!(sorted(got), sorted(want));

    // Firewall rules: one row per protocol × port × source; compared as
    // the (rule, protocol, ports, source) set gcloud's rules imply.
    let listed = per_project(&fake, &["compute", "firewall-rules", "list"]).await;
    let mut want = BTreeSet::new();
    for (project, rule) in &listed {
        let ingress = rule["direction"] == "INGRESS";
        let mut sources: Vec<String> = if ingress {
            texts(&rule["sourceRanges"])
                .into_iter()
                .chain(
                    texts(&rule["sourceTags"])
                        .into_iter()
                        .map(|t| format!("tag:{t}")),
                )
                .collect()
        } else {
            texts(&rule["destinationRanges"])
        };
        if sources.is_empty() {
            sources.push("0.0.0.0/0".into());
        }
        for (action, key) in [("allow", "allowed"), ("deny", "denied")] {
            for entry in rule[key].as_array().into_iter().flatten() {
                let ports = texts(&entry["ports"]);
                let ports: Vec<Option<String>> = if ports.is_empty() {
                    vec![None]
                } else {
                    ports.into_iter().map(Some).collect()
                };
                for port in &ports {
                    for source in &sources {
                        want.insert((
                            project.clone(),
                            text(&rule["name"]),
                            action.to_string(),
                            text(&entry["IPProtocol"]),
                            port.clone(),
                            source.clone(),
                        ));
                    }
                }
            }
        }
    }
    let got: BTreeSet<_> = rows(&fake, None, &[p[0], p[1], "SELECT project, name, action, protocol, ports, coalesce(cidr, 'tag:' || source_tag) AS source FROM gcp.compute_firewall_rules"])
        .await
        .iter()
        .map(|r| {
            (
                text(&r["project"]),
                text(&r["name"]),
                text(&r["action"]),
                text(&r["protocol"]),
                r["ports"].as_str().map(str::to_string),
                text(&r["source"]),
            )
        })
        .collect();
    assert_eq!(got, want);
    // Ports are numbers too: the SSH rule covers 22 and nothing else.
    let ssh = rows(&fake, None, &[p[0], p[1], "SELECT DISTINCT name FROM gcp.compute_firewall_rules WHERE direction = 'ingress' AND action = 'allow' AND open_to_world AND NOT disabled AND 22 BETWEEN from_port AND to_port ORDER BY name"]).await;
    let want: BTreeSet<String> = listed
        .iter()
        .filter(|(_, r)| {
            r["direction"] == "INGRESS"
                && r["disabled"] != true
                && texts(&r["sourceRanges"]).contains(&"0.0.0.0/0".to_string())
                && r["allowed"].as_array().into_iter().flatten().any(|a| {
                    a["IPProtocol"] == "all"
                        || (a["IPProtocol"] == "tcp"
                            && (texts(&a["ports"]).is_empty()
                                || texts(&a["ports"]).iter().any(|p| p == "22")))
                })
        })
        .map(|(_, r)| text(&r["name"]))
        .collect();
    assert!(!want.is_empty());
    assert_eq!(
        ssh.iter()
            .map(|r| text(&r["name"]))
            .collect::<BTreeSet<_>>(),
        want
    );

    // Networks and subnetworks.
    let listed = per_project(&fake, &["compute", "networks", "list"]).await;
    let want: Vec<Value> = listed
        .iter()
        .map(|(project, n)| json!({"project": project, "name": n["name"], "auto_create_subnetworks": n["autoCreateSubnetworks"]}))
        .collect();
    let got = rows(
        &fake,
        None,
        &[
            p[0],
            p[1],
            "SELECT project, name, auto_create_subnetworks FROM gcp.compute_networks",
        ],
    )
    .await;
    assert_eq!(sorted(got), sorted(want));
    let listed = per_project(&fake, &["compute", "networks", "subnets", "list"]).await;
    let want: Vec<Value> = listed
        .iter()
        .map(|(project, s)| json!({"project": project, "region": last(&s["region"]), "name": s["name"], "network": last(&s["network"]), "ip_cidr_range": s["ipCidrRange"]}))
        .collect();
    let got = rows(
        &fake,
        None,
        &[
            p[0],
            p[1],
            "SELECT project, region, name, network, ip_cidr_range FROM gcp.compute_subnetworks",
        ],
    )
    .await;
    assert_eq!(sorted(got), sorted(want));

    // Forwarding rules, with the Service GKE made each for, and addresses.
    let listed = per_project(&fake, &["compute", "forwarding-rules", "list"]).await;
    let want: Vec<Value> = listed
        .iter()
        .map(|(project, r)| {
            let service: Value = serde_json::from_str(r["description"].as_str().unwrap_or("null")).unwrap_or(Value::Null);
            json!({"project": project, "region": last(&r["region"]), "name": r["name"], "ip_address": r["IPAddress"], "load_balancing_scheme": r["loadBalancingScheme"], "kubernetes_service": service["kubernetes.io/service-name"]})
        })
        .collect();
    let got = rows(&fake, None, &[p[0], p[1], "SELECT project, region, name, ip_address, load_balancing_scheme, kubernetes_service FROM gcp.compute_forwarding_rules"]).await;
    assert_eq!(sorted(got), sorted(want));
    let listed = per_project(&fake, &["compute", "addresses", "list"]).await;
    let want: Vec<Value> = listed
        .iter()
        .map(|(project, a)| json!({"project": project, "name": a["name"], "address": a["address"], "status": a["status"], "users": a["users"].as_array().cloned().unwrap_or_default()}))
        .collect();
    let got = rows(
        &fake,
        None,
        &[
            p[0],
            p[1],
            "SELECT project, name, address, status, users FROM gcp.compute_addresses",
        ],
    )
    .await;
    assert_eq!(sorted(got), sorted(want));

    // GKE clusters and their node pools.
    let listed = per_project(&fake, &["container", "clusters", "list"]).await;
    let want: Vec<Value> = listed
        .iter()
        .map(|(project, c)| {
            let private_endpoint = c["privateClusterConfig"]["enablePrivateEndpoint"] == true;
            json!({
                "project": project, "location": c["location"], "name": c["name"],
                "master_version": c["currentMasterVersion"], "endpoint": c["endpoint"],
                "public_endpoint": !private_endpoint,
                "master_authorized_networks_enabled": c["masterAuthorizedNetworksConfig"]["enabled"] == true,
                "workload_pool": c["workloadIdentityConfig"]["workloadPool"],
                "release_channel": c["releaseChannel"]["channel"],
                "legacy_abac": c["legacyAbac"]["enabled"] == true,
            })
        })
        .collect();
    assert!(want.len() >= 2);
    let got = rows(&fake, None, &[p[0], p[1], "SELECT project, location, name, master_version, endpoint, public_endpoint, master_authorized_networks_enabled, workload_pool, release_channel, legacy_abac FROM gcp.gke_clusters"]).await;
    assert_eq!(sorted(got), sorted(want));
    let mut want = Vec::new();
    for (project, c) in &listed {
        let pools = gcloud_json(
            &fake,
            &[
                "container",
                "node-pools",
                "list",
                "--cluster",
                &text(&c["name"]),
                "--location",
                &text(&c["location"]),
                "--project",
                project,
            ],
        )
        .await;
        for pool in pools.as_array().into_iter().flatten() {
            want.push(json!({
                "project": project, "cluster": c["name"], "name": pool["name"], "version": pool["version"],
                "machine_type": pool["config"]["machineType"], "service_account": pool["config"]["serviceAccount"],
                "auto_upgrade": pool["management"]["autoUpgrade"] == true, "auto_repair": pool["management"]["autoRepair"] == true,
            }));
        }
    }
    let got = rows(&fake, None, &[p[0], p[1], "SELECT project, cluster, name, version, machine_type, service_account, auto_upgrade, auto_repair FROM gcp.gke_node_pools"]).await;
    assert_eq!(sorted(got), sorted(want));

    // Service accounts and their keys.
    let listed = per_project(&fake, &["iam", "service-accounts", "list"]).await;
    let want: Vec<Value> = listed
        .iter()
        .map(|(project, s)| json!({"project": project, "email": s["email"], "disabled": s["disabled"] == true}))
        .collect();
    let got = rows(
        &fake,
        None,
        &[
            p[0],
            p[1],
            "SELECT project, email, disabled FROM gcp.iam_service_accounts",
        ],
    )
    .await;
    assert_eq!(sorted(got), sorted(want));
    let mut want = Vec::new();
    for (project, account) in &listed {
        let keys = gcloud_json(
            &fake,
            &[
                "iam",
                "service-accounts",
                "keys",
                "list",
                "--iam-account",
                &text(&account["email"]),
                "--project",
                project,
            ],
        )
        .await;
        for key in keys.as_array().into_iter().flatten() {
            want.push(json!({"project": project, "service_account": account["email"], "key_id": last(&key["name"]), "key_type": key["keyType"]}));
        }
    }
    assert!(want.iter().any(|k| k["key_type"] == "USER_MANAGED"));
    let got = rows(
        &fake,
        None,
        &[
            p[0],
            p[1],
            "SELECT project, service_account, key_id, key_type FROM gcp.iam_service_account_keys",
        ],
    )
    .await;
    assert_eq!(sorted(got), sorted(want));

    // The IAM policy, one row per role × member, conditions kept.
    let mut want = Vec::new();
    for project in PROJECTS.split(',') {
        let policy = gcloud_json(&fake, &["projects", "get-iam-policy", project]).await;
        for binding in policy["bindings"].as_array().into_iter().flatten() {
            for member in texts(&binding["members"]) {
                want.push(json!({"project": project, "role": binding["role"], "member": member, "condition_title": binding["condition"]["title"]}));
            }
        }
    }
    assert!(want.iter().any(|b| !b["condition_title"].is_null()));
    let got = rows(
        &fake,
        None,
        &[
            p[0],
            p[1],
            "SELECT project, role, member, condition_title FROM gcp.iam_policy_bindings",
        ],
    )
    .await;
    assert_eq!(sorted(got), sorted(want));

    // Buckets, as gcloud storage prints them.
    let listed = per_project(&fake, &["storage", "buckets", "list"]).await;
    let want: Vec<Value> = listed
        .iter()
        .map(|(project, b)| json!({"project": project, "name": b["name"], "uniform_bucket_level_access": b["uniform_bucket_level_access"] == true, "public_access_prevention": b["public_access_prevention"]}))
        .collect();
    let got = rows(&fake, None, &[p[0], p[1], "SELECT project, name, uniform_bucket_level_access, public_access_prevention FROM gcp.storage_buckets"]).await;
    assert_eq!(sorted(got), sorted(want));

    // Without --gcp-project (here beside a cluster), kq reads every
    // project the credentials can list, as `gcloud projects list` shows.
    let projects: BTreeSet<String> = gcloud_json(&fake, &["projects", "list"])
        .await
        .as_array()
        .into_iter()
        .flatten()
        .map(|p| text(&p["projectId"]))
        .collect();
    let sim = TestFleet::start(FleetConfig::uniform(1, 5, 83)).await;
    let got: BTreeSet<String> = rows(
        &fake,
        Some(&sim.kubeconfig),
        &["SELECT DISTINCT project FROM gcp.iam_service_accounts"],
    )
    .await
    .iter()
    .map(|r| text(&r["project"]))
    .collect();
    assert_eq!(got, projects);

    // Every request kq and gcloud sent was a read: GETs, and the
    // getIamPolicy POST that IAM reads through.
    for request in fake.requests() {
        assert!(
            request.method == "GET"
                || (request.method == "POST" && request.path.ends_with(":getIamPolicy")),
            "{} {} is not a read",
            request.method,
            request.path
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn filters_on_project_and_zone_narrow_the_calls() {
    let fake = fake(GcpFaults::default()).await;
    let prod = &fake.fleet().projects()[0];
    let zone = last(&prod.instances[0]["zone"]);
    let want: BTreeSet<String> = prod
        .instances
        .iter()
        .filter(|i| last(&i["zone"]) == zone)
        .map(|i| text(&i["name"]))
        .collect();
    let before = fake.requests().len();
    let sql = format!(
        "SELECT name FROM gcp.compute_instances WHERE project = '{}' AND zone = '{zone}'",
        prod.id
    );
    let got: BTreeSet<String> = rows(&fake, None, &["--gcp-project", PROJECTS, &sql])
        .await
        .iter()
        .map(|r| text(&r["name"]))
        .collect();
    assert_eq!(got, want);
    let paths: Vec<String> = fake.requests()[before..]
        .iter()
        .map(|r| r.path.clone())
        .collect();
    assert!(
        paths.iter().all(|p| !p.contains("kq-staging")),
        "the other project was read: {paths:?}"
    );
    assert!(
        paths.iter().all(|p| !p.contains("/aggregated/")),
        "a pinned zone is one zonal list, not the aggregate: {paths:?}"
    );
    assert!(
        paths
            .iter()
            .any(|p| p.contains(&format!("/zones/{zone}/instances")))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_forbidden_project_is_reported_and_the_other_answers() {
    let fake = fake(GcpFaults {
        forbidden_projects: vec!["kq-staging".into()],
        ..GcpFaults::default()
    })
    .await;
    let output = kq(
        &fake,
        None,
        &[
            "--gcp-project",
            PROJECTS,
            "-o",
            "json",
            "SELECT DISTINCT project FROM gcp.compute_instances",
        ],
    )
    .await;
    assert!(output.status.success(), "{}", stderr(&output));
    let got: Value = serde_json::from_str(&stdout(&output)).expect("json");
    assert_eq!(got, json!([{"project": "kq-prod"}]));
    let err = stderr(&output);
    assert!(
        err.contains("gcp 'kq-staging'") && err.contains("PERMISSION_DENIED"),
        "{err}"
    );
    assert!(
        !err.contains("panicked") && !err.contains("Error {"),
        "{err}"
    );
    // --strict makes a partial answer a failure (exit 1), still printed.
    let output = kq(
        &fake,
        None,
        &[
            "--strict",
            "--gcp-project",
            PROJECTS,
            "SELECT count(*) FROM gcp.storage_buckets",
        ],
    )
    .await;
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    // The failure is queryable, after the query that met it.
    let output = kq(
        &fake,
        None,
        &["--gcp-project", PROJECTS, "-o", "json", "SELECT count(*) AS n FROM gcp.iam_service_accounts; SELECT cluster, \"table\", severity, kind FROM kq_errors"],
    )
    .await;
    let out = stdout(&output);
    assert!(
        out.contains(r#""cluster":"gcp:kq-staging""#)
            || out.contains(r#""cluster": "gcp:kq-staging""#),
        "{out}\n{}",
        stderr(&output)
    );
    assert!(out.contains("forbidden"), "{out}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn throttling_is_retried_and_unreachable_zones_are_said() {
    let fake = fake(GcpFaults {
        throttle_first: 1,
        unavailable_first: 1,
        ..GcpFaults::default()
    })
    .await;
    let want: usize = fake
        .fleet()
        .projects()
        .iter()
        .map(|p| p.buckets.len())
        .sum();
    let got = rows(
        &fake,
        None,
        &[
            "--gcp-project",
            PROJECTS,
            "SELECT name FROM gcp.storage_buckets",
        ],
    )
    .await;
    assert_eq!(got.len(), want);
    let got = rows(
        &fake,
        None,
        &[
            "--gcp-project",
            PROJECTS,
            "SELECT email FROM gcp.iam_service_accounts",
        ],
    )
    .await;
    let want: usize = fake
        .fleet()
        .projects()
        .iter()
        .map(|p| p.service_accounts.len())
        .sum();
    assert_eq!(got.len(), want);
    let statuses: Vec<u16> = fake.requests().iter().map(|r| r.status).collect();
    assert!(
        statuses.contains(&429) && statuses.contains(&503),
        "{statuses:?}"
    );

    // A zone GCP cannot reach: its instances are missing, and kq says so.
    let zone = fake.fleet().zones()[0].clone();
    fake.set_faults(GcpFaults {
        unreachable_zones: vec![zone.clone()],
        ..GcpFaults::default()
    });
    let output = kq(
        &fake,
        None,
        &[
            "--gcp-project",
            "kq-prod",
            "-o",
            "json",
            "SELECT zone, name FROM gcp.compute_instances",
        ],
    )
    .await;
    assert!(output.status.success(), "{}", stderr(&output));
    let got: Vec<Value> = serde_json::from_str(&stdout(&output)).expect("json");
    let prod = &fake.fleet().projects()[0];
    let want = prod
        .instances
        .iter()
        .filter(|i| last(&i["zone"]) != zone)
        .count();
    assert_eq!(got.len(), want);
    assert!(got.iter().all(|r| r["zone"] != zone.as_str()));
    let err = stderr(&output);
    assert!(
        err.contains("warning gcp 'kq-prod'") && err.contains(&zone),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_gcp_input_is_one_sentence_and_exit_2() {
    let fake = fake(GcpFaults::default()).await;
    let output = kq(&fake, None, &["--gcp-project", "Not_A_Project", "SELECT 1"]).await;
    assert_eq!(output.status.code(), Some(2));
    let err = stderr(&output);
    assert!(
        err.contains("'Not_A_Project' in --gcp-project is not a GCP project id"),
        "{err}"
    );
    assert!(stdout(&output).is_empty());
    assert_eq!(err.trim().lines().count(), 1, "{err}");

    // A token file that is not there.
    let output = run_kq_env(
        vec!["--gcp-project".into(), "kq-prod".into(), "SELECT 1".into()],
        vec![(
            "CLOUDSDK_AUTH_ACCESS_TOKEN_FILE".into(),
            "/nonexistent/token".into(),
        )],
    )
    .await;
    assert_eq!(output.status.code(), Some(2));
    let err = stderr(&output);
    assert!(
        err.contains("CLOUDSDK_AUTH_ACCESS_TOKEN_FILE") && err.contains("/nonexistent/token"),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gke_nodes_and_services_join_the_cloud_objects_behind_them() {
    let fake = fake(GcpFaults::default()).await;
    let sim = TestFleet::start(FleetConfig::uniform(1, 5, 82)).await;
    let k = sim.kubeconfig.as_path();
    let prod = &fake.fleet().projects()[0];
    // Every instance of the first project is a node, named as GKE names
    // it, with the providerID GKE's cloud provider writes.
    let mut manifests = String::new();
    for i in &prod.instances {
        let (zone, name) = (last(&i["zone"]), text(&i["name"]));
        manifests.push_str(&format!(
            "---\napiVersion: v1\nkind: Node\nmetadata:\n  name: {name}\n  labels:\n    topology.kubernetes.io/zone: {zone}\nspec:\n  providerID: gce://{}/{zone}/{name}\n",
            prod.id
        ));
    }
    // The Services GKE made the external forwarding rules for, with the
    // rule's address as their load balancer ingress, and a pod behind each.
    let external: Vec<&Value> = prod
        .forwarding_rules
        .iter()
        .filter(|r| r["loadBalancingScheme"] == "EXTERNAL")
        .collect();
    assert!(!external.is_empty());
    manifests.push_str("---\napiVersion: v1\nkind: Namespace\nmetadata:\n  name: shop\n");
    for rule in &external {
        let service: Value =
            serde_json::from_str(rule["description"].as_str().unwrap_or("{}")).unwrap_or_default();
        let full = text(&service["kubernetes.io/service-name"]);
        let name = full.rsplit('/').next().unwrap_or_default();
        manifests.push_str(&format!(
            "---\napiVersion: v1\nkind: Service\nmetadata:\n  name: {name}\n  namespace: shop\nspec:\n  type: LoadBalancer\n  selector:\n    app: {name}\n  ports:\n  - port: 80\nstatus:\n  loadBalancer:\n    ingress:\n    - ip: {ip}\n---\napiVersion: v1\nkind: Pod\nmetadata:\n  name: {name}-1\n  namespace: shop\n  labels:\n    app: {name}\nspec:\n  containers:\n  - name: app\n    image: nginx:1.27\n",
            ip = text(&rule["IPAddress"]),
        ));
    }
    let file = sim.dir.path().join("gke.yaml");
    std::fs::write(&file, manifests).expect("write manifests");
    kubectl_ok(k, &["apply", "-f", &file.display().to_string()]).await;

    let examples = Path::new(env!("CARGO_MANIFEST_DIR")).join("../queries/examples/gcp");
    let example = |name: &str| examples.join(name).display().to_string();

    // Nodes a firewall rule opens to SSH from anywhere: the rule's network
    // is the node's, and it targets one of the node's tags (or every
    // instance). Computed here from the seeded rules and instances.
    let got: BTreeSet<(String, String)> = rows(
        &fake,
        Some(k),
        &[
            "--gcp-project",
            &prod.id,
            "-f",
            &example("ssh_open_nodes.sql"),
        ],
    )
    .await
    .iter()
    .map(|r| (text(&r["node"]), text(&r["firewall_rule"])))
    .collect();
    let mut want = BTreeSet::new();
    for rule in &prod.firewalls {
        let open_ssh = rule["direction"] == "INGRESS"
            && rule["disabled"] != true
            && texts(&rule["sourceRanges"])
                .iter()
                .any(|r| r == "0.0.0.0/0")
            && rule["allowed"].as_array().into_iter().flatten().any(|a| {
                a["IPProtocol"] == "all"
                    || (a["IPProtocol"] == "tcp"
                        && (texts(&a["ports"]).is_empty()
                            || texts(&a["ports"]).iter().any(|p| p == "22")))
            });
        if !open_ssh {
            continue;
        }
        let targets = texts(&rule["targetTags"]);
        let target_accounts = texts(&rule["targetServiceAccounts"]);
        for i in &prod.instances {
            let same_network = i["networkInterfaces"][0]["network"]
                .as_str()
                .map(|n| n.rsplit('/').next())
                == Some(Some(last(&rule["network"]).as_str()));
            let tags = texts(&i["tags"]["items"]);
            let accounts: Vec<String> = i["serviceAccounts"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|a| text(&a["email"]))
                .collect();
            let targeted = (targets.is_empty() && target_accounts.is_empty())
                || targets.iter().any(|t| tags.contains(t))
                || target_accounts.iter().any(|a| accounts.contains(a));
            if same_network && targeted {
                want.insert((text(&i["name"]), text(&rule["name"])));
            }
        }
    }
    assert!(!want.is_empty(), "the fake seeds SSH open to the world");
    assert!(
        want.iter().any(|(_, rule)| rule == "allow-ssh-default-sa"),
        "the fake opens SSH to nodes by their service account"
    );
    assert_eq!(got, want);

    // Pods reachable from the internet, and through which address.
    let got: BTreeSet<(String, String)> = rows(
        &fake,
        Some(k),
        &[
            "--gcp-project",
            &prod.id,
            "-f",
            &example("internet_reachable_pods.sql"),
        ],
    )
    .await
    .iter()
    .map(|r| (text(&r["pod"]), text(&r["ip_address"])))
    .collect();
    let want: BTreeSet<(String, String)> = external
        .iter()
        .map(|rule| {
            let service: Value = serde_json::from_str(rule["description"].as_str().unwrap_or("{}"))
                .unwrap_or_default();
            let full = text(&service["kubernetes.io/service-name"]);
            (
                format!("{}-1", full.rsplit('/').next().unwrap_or_default()),
                text(&rule["IPAddress"]),
            )
        })
        .collect();
    assert_eq!(got, want);

    // Clusters with a public endpoint and no authorized networks, and
    // identities holding Owner or Editor: the examples agree with the
    // seeded objects.
    let got: BTreeSet<String> = rows(
        &fake,
        None,
        &[
            "--gcp-project",
            PROJECTS,
            "-f",
            &example("public_gke_endpoints.sql"),
        ],
    )
    .await
    .iter()
    .map(|r| format!("{}/{}", text(&r["project"]), text(&r["cluster"])))
    .collect();
    let want: BTreeSet<String> = fake
        .fleet()
        .projects()
        .iter()
        .flat_map(|p| p.clusters.iter().map(move |c| (p, c)))
        .filter(|(_, c)| {
            c["privateClusterConfig"]["enablePrivateEndpoint"] != true
                && c["masterAuthorizedNetworksConfig"]["enabled"] != true
        })
        .map(|(p, c)| format!("{}/{}", p.id, text(&c["name"])))
        .collect();
    assert!(!want.is_empty(), "the fake seeds an open control plane");
    assert_eq!(got, want);
    let got: BTreeSet<(String, String)> = rows(
        &fake,
        None,
        &[
            "--gcp-project",
            &prod.id,
            "-f",
            &example("owners_and_editors.sql"),
        ],
    )
    .await
    .iter()
    .map(|r| (text(&r["role"]), text(&r["member"])))
    .collect();
    let want: BTreeSet<(String, String)> = prod.iam_policy["bindings"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|b| {
            (b["role"] == "roles/owner" || b["role"] == "roles/editor")
                && b.get("condition").is_none()
        })
        .flat_map(|b| {
            texts(&b["members"])
                .into_iter()
                .map(|m| (text(&b["role"]), m))
                .collect::<Vec<_>>()
        })
        .collect();
    assert!(!want.is_empty());
    assert_eq!(got, want);
}

/// Whether a firewall rule of the fake opens tcp `port` to the world.
fn opens(rule: &Value, port: i64) -> bool {
    rule["direction"] == "INGRESS"
        && rule["disabled"] != true
        && texts(&rule["sourceRanges"])
            .iter()
            .any(|r| r == "0.0.0.0/0" || r == "::/0")
        && rule["allowed"].as_array().into_iter().flatten().any(|a| {
            let ports = texts(&a["ports"]);
            (a["IPProtocol"] == "all" || a["IPProtocol"] == "tcp")
                && (ports.is_empty()
                    || ports.iter().any(|p| {
                        let (from, to) = p.split_once('-').unwrap_or((p, p));
                        from.parse::<i64>().is_ok_and(|f| f <= port)
                            && to.parse::<i64>().is_ok_and(|t| port <= t)
                    }))
        })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_gcp_pack_judges_the_seeded_projects() {
    let fake = fake(GcpFaults::default()).await;
    let output = kq(
        &fake,
        None,
        &[
            "report",
            "--pack",
            "gcp",
            "--gcp-project",
            PROJECTS,
            "-o",
            "json",
        ],
    )
    .await;
    assert_eq!(
        output.status.code(),
        Some(1),
        "high alarms fail the run: {}",
        stderr(&output)
    );
    assert!(
        stderr(&output).trim().is_empty() || !stderr(&output).contains("error"),
        "{}",
        stderr(&output)
    );
    let report: Value = serde_json::from_str(&stdout(&output)).expect("JSON report");
    let got = report_verdicts(&report);

    // The same verdicts, from each control's -- alarms: header, over the
    // fake's seeded objects.
    let status = |alarm: bool| if alarm { "alarm" } else { "ok" }.to_string();
    let mut want = BTreeSet::new();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs() as i64;
    for p in fake.fleet().projects() {
        for c in &p.clusters {
            let public = c["privateClusterConfig"]["enablePrivateEndpoint"] != true;
            let authorized = c["masterAuthorizedNetworksConfig"]["enabled"] == true;
            want.insert((
                "gcp.gke_control_plane_exposure".into(),
                format!("{}/{}", p.id, text(&c["name"])),
                status(public && !authorized),
            ));
            let policy = c["networkPolicy"]["enabled"] == true
                || c["networkConfig"]["datapathProvider"] == "ADVANCED_DATAPATH";
            let bad = !policy
                || c["legacyAbac"]["enabled"] == true
                || c["shieldedNodes"]["enabled"] != true;
            want.insert((
                "gcp.gke_hardening".into(),
                format!("{}/{}", p.id, text(&c["name"])),
                status(bad),
            ));
            for pool in c["nodePools"].as_array().into_iter().flatten() {
                let account = text(&pool["config"]["serviceAccount"]);
                let default_account = account == "default"
                    || account.ends_with("-compute@developer.gserviceaccount.com");
                let exposed = pool["config"]["workloadMetadataConfig"]["mode"] != "GKE_METADATA";
                want.insert((
                    "gcp.gke_node_identity".into(),
                    format!("{}/{}/{}", p.id, text(&c["name"]), text(&pool["name"])),
                    status(default_account || exposed),
                ));
            }
        }
        for rule in &p.firewalls {
            want.insert((
                "gcp.firewall_admin_ports_open".into(),
                format!("{}/{}", p.id, text(&rule["name"])),
                status(opens(rule, 22) || opens(rule, 3389)),
            ));
        }
        let basic: BTreeSet<String> = p.iam_policy["bindings"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|b| b["role"] == "roles/owner" || b["role"] == "roles/editor")
            .flat_map(|b| texts(&b["members"]))
            .filter_map(|m| m.strip_prefix("serviceAccount:").map(str::to_string))
            .collect();
        for account in &p.service_accounts {
            let email = text(&account["email"]);
            want.insert((
                "gcp.service_account_privileges".into(),
                format!("{}/{email}", p.id),
                status(basic.contains(&email)),
            ));
        }
        for (email, key) in &p.service_account_keys {
            if key["keyType"] != "USER_MANAGED" {
                continue;
            }
            let created = chrono::DateTime::parse_from_rfc3339(&text(&key["validAfterTime"]))
                .expect("key time")
                .timestamp();
            let old = key["disabled"] != true && now - created > 90 * 86_400;
            want.insert((
                "gcp.user_managed_keys".into(),
                format!("{}/{email}/{}", p.id, last(&key["name"])),
                status(old),
            ));
        }
        for bucket in &p.buckets {
            let uniform = bucket["iamConfiguration"]["uniformBucketLevelAccess"]["enabled"] == true;
            let enforced = bucket["iamConfiguration"]["publicAccessPrevention"] == "enforced";
            want.insert((
                "gcp.bucket_access".into(),
                format!("{}/{}", p.id, text(&bucket["name"])),
                status(!(uniform && enforced)),
            ));
        }
    }
    for control in [
        "gcp.gke_control_plane_exposure",
        "gcp.gke_hardening",
        "gcp.gke_node_identity",
        "gcp.firewall_admin_ports_open",
        "gcp.service_account_privileges",
        "gcp.user_managed_keys",
        "gcp.bucket_access",
    ] {
        let statuses: BTreeSet<&str> = want
            .iter()
            .filter(|(c, _, _)| c == control)
            .map(|(_, _, s)| s.as_str())
            .collect();
        assert!(
            statuses.contains("alarm"),
            "the fake gives {control} something to alarm on"
        );
    }
    assert_eq!(got, want);

    // Kubernetes reports never run the pack unless it is named.
    let sim = TestFleet::start(FleetConfig::uniform(1, 5, 84)).await;
    let output = kq(&fake, Some(&sim.kubeconfig), &["report", "--list"]).await;
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(!stdout(&output).contains("gcp."), "{}", stdout(&output));
    let before = fake.requests().len();
    let output = kq(&fake, Some(&sim.kubeconfig), &["report", "-o", "json"]).await;
    let report: Value = serde_json::from_str(&stdout(&output)).expect("JSON report");
    assert!(
        report["controls"]
            .as_array()
            .expect("controls")
            .iter()
            .all(|c| !text(&c["control"]["id"]).starts_with("gcp."))
    );
    assert_eq!(
        fake.requests().len(),
        before,
        "a Kubernetes report called GCP"
    );
}
