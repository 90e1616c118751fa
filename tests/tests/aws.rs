//! The AWS provider against a real AWS API implementation: moto's server,
//! seeded by `tests/aws/moto_fleet.py` (VPCs, subnets, security groups,
//! instances, load balancers, EKS, ECR, IAM, S3, RDS in two regions of one
//! account, and a second account), reached through the SDK's standard
//! credential chain from AWS config files, exactly as a user's would be.
//! Expected values come from what the script seeded, never from kq.
#![cfg(feature = "aws")]

use std::collections::BTreeSet;
use std::path::Path;
use std::process::Output;
use std::sync::OnceLock;

use kq_sim::FleetConfig;
use kq_tests::aws::MotoFleet;
use kq_tests::{TestFleet, kubectl_ok, run_kq_env, stderr, stdout};
use serde_json::{Value, json};

const ACCOUNT: &str = "123456789012";
const SECOND_ACCOUNT: &str = "111111111111";
const REGIONS: &str = "us-east-1,eu-west-1";

/// One seeded moto server for the read-only tests of this binary (the
/// script's stdin closes, and moto stops, when the test process ends).
fn moto() -> &'static MotoFleet {
    static MOTO: OnceLock<MotoFleet> = OnceLock::new();
    MOTO.get_or_init(MotoFleet::start)
}

/// Runs kq against a sim kubeconfig with the moto fleet's AWS files.
async fn kq(moto: &MotoFleet, kubeconfig: &Path, args: &[&str]) -> Output {
    let mut full: Vec<String> = vec!["--kubeconfig".into(), kubeconfig.display().to_string()];
    full.extend(args.iter().map(|a| a.to_string()));
    run_kq_env(full, moto.env()).await
}

/// Runs a query that must succeed and returns its rows as JSON objects.
async fn rows(moto: &MotoFleet, kubeconfig: &Path, args: &[&str]) -> Vec<Value> {
    let mut full = vec!["-o", "json"];
    full.extend_from_slice(args);
    let output = kq(moto, kubeconfig, &full).await;
    assert!(
        output.status.success(),
        "kq {args:?} failed: {}{}",
        stdout(&output),
        stderr(&output)
    );
    assert!(
        stderr(&output).is_empty(),
        "kq {args:?} reported problems: {}",
        stderr(&output)
    );
    serde_json::from_str(&stdout(&output)).expect("kq -o json output")
}

fn strs(v: &Value) -> Vec<String> {
    v.as_array()
        .map(|a| {
            a.iter()
                .filter_map(|s| s.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

fn sorted(mut v: Vec<String>) -> Vec<String> {
    v.sort();
    v
}

/// Sorts expected rows by a text column, as the queries' ORDER BY does.
fn sort_by(rows: &mut [Value], column: &str) {
    rows.sort_by_key(|v| v[column].as_str().unwrap_or_default().to_string());
}

/// Seeded items of `key` that belong to the main account.
fn seeded<'a>(moto: &'a MotoFleet, key: &str) -> Vec<&'a Value> {
    moto.list(key)
        .iter()
        .filter(|v| v["account_id"].as_str().is_none_or(|a| a == ACCOUNT))
        .collect()
}

async fn small_sim() -> TestFleet {
    TestFleet::start(FleetConfig::uniform(1, 5, 81)).await
}

#[tokio::test]
async fn every_table_answers_from_the_seeded_estate() {
    let moto = moto();
    let sim = small_sim().await;
    let k = &sim.kubeconfig;
    let region = ["--aws-region", REGIONS];

    // EC2 instances, with tags and the IMDSv2 flag.
    let got = rows(moto, k, &[region[0], region[1], "SELECT account_id, region, instance_id, name, state, vpc_id, subnet_id, imds_v2_required, tags['team'] AS team, security_group_ids FROM aws.ec2_instances ORDER BY instance_id"]).await;
    let mut want: Vec<Value> = seeded(moto, "instances")
        .iter()
        .map(|i| {
            json!({
                "account_id": ACCOUNT, "region": i["region"], "instance_id": i["instance_id"],
                "name": i["name"], "state": i["state"], "vpc_id": i["vpc_id"], "subnet_id": i["subnet_id"],
                "imds_v2_required": i["http_tokens"] == "required", "team": i["tags"]["team"],
                "security_group_ids": i["security_groups"],
            })
        })
        .collect();
    sort_by(&mut want, "instance_id");
    assert_eq!(got.len(), 5, "{got:?}");
    for (g, w) in got.iter().zip(&want) {
        let mut g = g.clone();
        let mut w = w.clone();
        // Group order is the API's; compare as sets.
        g["security_group_ids"] = json!(sorted(strs(&g["security_group_ids"])));
        w["security_group_ids"] = json!(sorted(strs(&w["security_group_ids"])));
        assert_eq!(g, w);
    }

    // Rules: the groups that allow SSH from anywhere, computed in SQL, are
    // exactly the ones the script opened.
    let got: Vec<String> = rows(moto, k, &[region[0], region[1], "SELECT DISTINCT group_id FROM aws.security_group_rules WHERE direction = 'ingress' AND open_to_world AND protocol IN ('tcp', 'all') AND 22 BETWEEN from_port AND to_port ORDER BY 1"]).await
        .iter()
        .map(|r| r["group_id"].as_str().unwrap_or_default().to_string())
        .collect();
    let want: Vec<String> = sorted(
        seeded(moto, "security_groups")
            .iter()
            .filter(|g| g["ssh_from_anywhere"] == true)
            .map(|g| g["group_id"].as_str().unwrap_or_default().to_string())
            .collect(),
    );
    assert!(!want.is_empty());
    assert_eq!(got, want);
    // A group reference is a typed source, not a CIDR.
    let by_reference = rows(moto, k, &[region[0], region[1], "SELECT group_name, source_group_id, cidr_ipv4, from_port, to_port FROM aws.security_group_rules WHERE direction = 'ingress' AND source_group_id IS NOT NULL AND group_name = 'internal'"]).await;
    assert!(!by_reference.is_empty());
    for r in &by_reference {
        assert_eq!(r["cidr_ipv4"], Value::Null);
        assert_eq!(
            (r["from_port"].as_i64(), r["to_port"].as_i64()),
            (Some(0), Some(65535))
        );
    }

    // VPCs and subnets.
    let got = rows(
        moto,
        k,
        &[
            region[0],
            region[1],
            "SELECT region, vpc_id, cidr_block, is_default FROM aws.ec2_vpcs ORDER BY vpc_id",
        ],
    )
    .await;
    let mut want: Vec<Value> = seeded(moto, "vpcs")
        .iter()
        .map(|v| json!({"region": v["region"], "vpc_id": v["vpc_id"], "cidr_block": v["cidr_block"], "is_default": v["is_default"]}))
        .collect();
    sort_by(&mut want, "vpc_id");
    assert_eq!(got, want);
    let got = rows(moto, k, &[region[0], region[1], "SELECT subnet_id, vpc_id, cidr_block, map_public_ip_on_launch FROM aws.ec2_subnets WHERE name LIKE 'fleet-%' ORDER BY subnet_id"]).await;
    let mut want: Vec<Value> = seeded(moto, "subnets")
        .iter()
        .map(|s| json!({"subnet_id": s["subnet_id"], "vpc_id": s["vpc_id"], "cidr_block": s["cidr_block"], "map_public_ip_on_launch": s["map_public_ip_on_launch"]}))
        .collect();
    sort_by(&mut want, "subnet_id");
    assert_eq!(got, want);

    // Load balancers and their listeners.
    let got = rows(moto, k, &[region[0], region[1], "SELECT region, name, scheme, type, dns_name, vpc_id, security_groups, tags FROM aws.elbv2_load_balancers ORDER BY name"]).await;
    let mut want: Vec<Value> = seeded(moto, "load_balancers")
        .iter()
        .map(|l| json!({"region": l["region"], "name": l["name"], "scheme": l["scheme"], "type": l["type"], "dns_name": l["dns_name"], "vpc_id": l["vpc_id"], "security_groups": l["security_groups"], "tags": l["tags"]}))
        .collect();
    sort_by(&mut want, "name");
    assert_eq!(got, want);
    let got = rows(moto, k, &[region[0], region[1], "SELECT load_balancer_arn, port, protocol FROM aws.elbv2_listeners ORDER BY load_balancer_arn, port"]).await;
    let mut want: Vec<Value> = seeded(moto, "load_balancers")
        .iter()
        .flat_map(|l| {
            strs_listeners(l)
                .into_iter()
                .map(|(port, protocol)| json!({"load_balancer_arn": l["arn"], "port": port, "protocol": protocol}))
                .collect::<Vec<_>>()
        })
        .collect();
    want.sort_by_key(|v| {
        (
            v["load_balancer_arn"]
                .as_str()
                .unwrap_or_default()
                .to_string(),
            v["port"].as_i64(),
        )
    });
    assert_eq!(got, want);

    // EKS clusters and node groups.
    let got = rows(moto, k, &[region[0], region[1], "SELECT region, name, version, endpoint_public_access, endpoint_private_access, public_access_cidrs, enabled_log_types, tags FROM aws.eks_clusters ORDER BY name"]).await;
    let mut want: Vec<Value> = seeded(moto, "eks_clusters")
        .iter()
        .map(|c| json!({"region": c["region"], "name": c["name"], "version": c["version"], "endpoint_public_access": c["endpoint_public_access"], "endpoint_private_access": c["endpoint_private_access"], "public_access_cidrs": if c["public_access_cidrs"].is_null() { json!([]) } else { c["public_access_cidrs"].clone() }, "enabled_log_types": c["logging_enabled_types"], "tags": c["tags"]}))
        .collect();
    sort_by(&mut want, "name");
    assert_eq!(got, want);
    let got = rows(moto, k, &[region[0], region[1], "SELECT cluster_name, nodegroup_name, instance_types, desired_size FROM aws.eks_nodegroups ORDER BY nodegroup_name"]).await;
    let mut want: Vec<Value> = seeded(moto, "eks_clusters")
        .iter()
        .flat_map(|c| {
            c["nodegroups"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|n| json!({"cluster_name": c["name"], "nodegroup_name": n["name"], "instance_types": n["instance_types"], "desired_size": n["desired_size"]}))
                .collect::<Vec<_>>()
        })
        .collect();
    sort_by(&mut want, "nodegroup_name");
    assert_eq!(got, want);

    // ECR repositories.
    let got = rows(moto, k, &[region[0], region[1], "SELECT region, repository_name, repository_uri, scan_on_push, image_tag_mutability, encryption_type, tags FROM aws.ecr_repositories ORDER BY repository_name"]).await;
    let mut want: Vec<Value> = seeded(moto, "ecr_repositories")
        .iter()
        .map(|r| json!({"region": r["region"], "repository_name": r["name"], "repository_uri": r["uri"], "scan_on_push": r["scan_on_push"], "image_tag_mutability": r["image_tag_mutability"], "encryption_type": r["encryption_type"], "tags": r["tags"]}))
        .collect();
    sort_by(&mut want, "repository_name");
    assert_eq!(got, want);

    // Names in two regions, each missing from the other: both found (one
    // missing name must not empty a region's answer).
    let names: Vec<String> = seeded(moto, "ecr_repositories")
        .iter()
        .map(|r| format!("'{}'", r["name"].as_str().unwrap_or_default()))
        .collect();
    let sql = format!(
        "SELECT repository_name FROM aws.ecr_repositories WHERE repository_name IN ({}) OR repository_name = 'no/such' ORDER BY 1",
        names.join(", ")
    );
    let got = rows(moto, k, &[region[0], region[1], &sql]).await;
    assert_eq!(got.len(), names.len(), "{got:?}");

    // IAM roles: global, so region `global` whatever regions are selected.
    let got = rows(moto, k, &[region[0], region[1], "SELECT account_id, region, role_name, path, trusted_principals, attached_policy_arns, inline_policy_names, tags FROM aws.iam_roles ORDER BY role_name"]).await;
    let mut want: Vec<Value> = moto
        .list("iam_roles")
        .iter()
        .map(|r| {
            let principals: BTreeSet<String> = r["trust_policy"]["Statement"]
                .as_array()
                .into_iter()
                .flatten()
                .filter(|s| s["Effect"] == "Allow")
                .flat_map(|s| s["Principal"].as_object().into_iter().flatten().flat_map(|(_, v)| match v {
                    Value::String(s) => vec![s.clone()],
                    other => strs(other),
                }))
                .collect();
            json!({"account_id": ACCOUNT, "region": "global", "role_name": r["name"], "path": r["path"], "trusted_principals": principals, "attached_policy_arns": r["attached_policies"], "inline_policy_names": r["inline_policies"], "tags": r["tags"]})
        })
        .collect();
    sort_by(&mut want, "role_name");
    assert_eq!(got, want);

    // S3: listed once per account, each bucket in its own region.
    let got = rows(moto, k, &[region[0], region[1], "SELECT region, name, public_access_blocked, encryption_algorithm, versioning, tags FROM aws.s3_buckets ORDER BY name"]).await;
    let mut want: Vec<Value> = seeded(moto, "s3_buckets")
        .iter()
        .map(|b| {
            let blocked = b["public_access_block"]
                .as_object()
                .is_some_and(|flags| flags.len() == 4 && flags.values().all(|f| f == true));
            json!({"region": b["region"], "name": b["name"], "public_access_blocked": blocked, "encryption_algorithm": b["encryption"], "versioning": b["versioning"].as_str().unwrap_or("Disabled"), "tags": b["tags"]})
        })
        .collect();
    sort_by(&mut want, "name");
    assert_eq!(got, want);
    // Only the selected regions' buckets are rows.
    let got = rows(
        moto,
        k,
        &[
            "--aws-region",
            "eu-west-1",
            "SELECT name FROM aws.s3_buckets",
        ],
    )
    .await;
    let want: Vec<&Value> = seeded(moto, "s3_buckets")
        .into_iter()
        .filter(|b| b["region"] == "eu-west-1")
        .collect();
    assert_eq!(got.len(), want.len());
    assert_eq!(got[0]["name"], want[0]["name"]);

    // RDS.
    let got = rows(moto, k, &[region[0], region[1], "SELECT region, db_instance_identifier, engine, publicly_accessible, storage_encrypted, security_group_ids, tags FROM aws.rds_db_instances ORDER BY db_instance_identifier"]).await;
    let mut want: Vec<Value> = seeded(moto, "rds_instances")
        .iter()
        .map(|d| json!({"region": d["region"], "db_instance_identifier": d["identifier"], "engine": d["engine"], "publicly_accessible": d["publicly_accessible"], "storage_encrypted": d["storage_encrypted"], "security_group_ids": d["vpc_security_groups"], "tags": d["tags"]}))
        .collect();
    sort_by(&mut want, "db_instance_identifier");
    assert_eq!(got, want);

    // The default region is the profile's: us-east-1 only.
    let got = rows(moto, k, &["SELECT DISTINCT region FROM aws.ec2_instances"]).await;
    assert_eq!(got, vec![json!({"region": "us-east-1"})]);
}

/// (port, protocol) of a seeded load balancer's listeners.
fn strs_listeners(lb: &Value) -> Vec<(i64, String)> {
    lb["listeners"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|l| {
            (
                l["port"].as_i64().unwrap_or_default(),
                l["protocol"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect()
}

/// A Node whose providerID names an EC2 instance, as the AWS cloud
/// provider writes it.
fn node_manifest(name: &str, zone: &str, instance_id: &str) -> String {
    format!(
        "apiVersion: v1\nkind: Node\nmetadata:\n  name: {name}\n  labels:\n    kubernetes.io/hostname: {name}\n    topology.kubernetes.io/zone: {zone}\nspec:\n  providerID: aws:///{zone}/{instance_id}\n"
    )
}

#[tokio::test]
async fn kubernetes_joins_aws_on_instance_ids_load_balancers_and_images() {
    let moto = moto();
    let sim = small_sim().await;
    let k = sim.kubeconfig.as_path();
    let instances = seeded(moto, "instances");
    // Every seeded instance of the main account is a node of the cluster.
    let mut manifests = String::new();
    for i in &instances {
        manifests.push_str("---\n");
        manifests.push_str(&node_manifest(
            &format!("node-{}", i["name"].as_str().unwrap_or_default()),
            i["availability_zone"].as_str().unwrap_or_default(),
            i["instance_id"].as_str().unwrap_or_default(),
        ));
    }
    // A LoadBalancer Service provisioned as the internet-facing ALB, one as
    // the internal one, and pods behind both; the web pods run an image
    // from the ECR repository without scan on push.
    let lbs = seeded(moto, "load_balancers");
    let public = lbs
        .iter()
        .find(|l| l["scheme"] == "internet-facing")
        .expect("public LB");
    let internal = lbs
        .iter()
        .find(|l| l["scheme"] == "internal")
        .expect("internal LB");
    let repos = seeded(moto, "ecr_repositories");
    let unscanned = repos
        .iter()
        .find(|r| r["scan_on_push"] == false)
        .expect("unscanned repo");
    let scanned = repos
        .iter()
        .find(|r| r["scan_on_push"] == true)
        .expect("scanned repo");
    manifests.push_str(&format!(
        r#"---
apiVersion: v1
kind: Namespace
metadata:
  name: shop
---
apiVersion: v1
kind: Service
metadata:
  name: storefront
  namespace: shop
spec:
  type: LoadBalancer
  selector:
    app: storefront
  ports:
  - port: 443
    targetPort: 8443
status:
  loadBalancer:
    ingress:
    - hostname: {public_dns}
---
apiVersion: v1
kind: Service
metadata:
  name: backoffice
  namespace: shop
spec:
  type: LoadBalancer
  selector:
    app: backoffice
  ports:
  - port: 80
status:
  loadBalancer:
    ingress:
    - hostname: {internal_dns}
---
apiVersion: v1
kind: Pod
metadata:
  name: storefront-1
  namespace: shop
  labels:
    app: storefront
spec:
  containers:
  - name: web
    image: {unscanned_uri}:1.4.2
---
apiVersion: v1
kind: Pod
metadata:
  name: backoffice-1
  namespace: shop
  labels:
    app: backoffice
spec:
  containers:
  - name: api
    image: {scanned_uri}:2.0.0
"#,
        public_dns = public["dns_name"].as_str().unwrap_or_default(),
        internal_dns = internal["dns_name"].as_str().unwrap_or_default(),
        unscanned_uri = unscanned["uri"].as_str().unwrap_or_default(),
        scanned_uri = scanned["uri"].as_str().unwrap_or_default(),
    ));
    let file = sim.dir.path().join("aws-joined.yaml");
    std::fs::write(&file, manifests).expect("write manifests");
    kubectl_ok(k, &["apply", "-f", &file.display().to_string()]).await;
    // The sim keeps status as applied; make sure it is what the join needs.
    let services = rows(moto, k, &["SELECT name, load_balancer_hostname FROM services WHERE namespace = 'shop' ORDER BY name"]).await;
    assert_eq!(
        services[1]["load_balancer_hostname"], public["dns_name"],
        "{services:?}"
    );

    let examples = Path::new(env!("CARGO_MANIFEST_DIR")).join("../queries/examples/aws");
    let example = |name: &str| examples.join(name).display().to_string();

    // Nodes whose instance allows SSH from anywhere.
    let got = rows(
        moto,
        k,
        &[
            "--aws-region",
            REGIONS,
            "-f",
            &example("ssh_open_nodes.sql"),
        ],
    )
    .await;
    let ssh_open: BTreeSet<String> = strs(&moto.info["ssh_open_group_ids"]).into_iter().collect();
    let want: BTreeSet<(String, String)> = instances
        .iter()
        .flat_map(|i| {
            strs(&i["security_groups"])
                .into_iter()
                .filter(|g| ssh_open.contains(g))
                .map(|g| {
                    (
                        format!("node-{}", i["name"].as_str().unwrap_or_default()),
                        g,
                    )
                })
                .collect::<Vec<_>>()
        })
        .collect();
    let got_pairs: BTreeSet<(String, String)> = got
        .iter()
        .map(|r| {
            (
                r["node"].as_str().unwrap_or_default().to_string(),
                r["group_id"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect();
    assert!(!want.is_empty());
    assert_eq!(got_pairs, want, "{got:?}");
    for r in &got {
        assert_eq!(r["source"], "0.0.0.0/0");
    }

    // Pods reachable from the internet: only the storefront, on 443 (the
    // public ALB's web-open group opens 443 to the world, not 80).
    let got = rows(
        moto,
        k,
        &[
            "--aws-region",
            REGIONS,
            "-f",
            &example("internet_reachable_pods.sql"),
        ],
    )
    .await;
    let pods: Vec<(String, String, i64)> = got
        .iter()
        .map(|r| {
            (
                r["pod"].as_str().unwrap_or_default().to_string(),
                r["load_balancer"].as_str().unwrap_or_default().to_string(),
                r["port"].as_i64().unwrap_or_default(),
            )
        })
        .collect();
    let public_name = public["name"].as_str().unwrap_or_default().to_string();
    let open_ports: Vec<i64> = strs_listeners(public)
        .into_iter()
        .map(|(port, _)| port)
        .filter(|port| {
            seeded(moto, "security_groups").iter().any(|g| {
                strs(&public["security_groups"])
                    .contains(&g["group_id"].as_str().unwrap_or_default().to_string())
                    && g["ingress"].as_array().into_iter().flatten().any(|r| {
                        (r["cidr"] == "0.0.0.0/0" || r["cidr"] == "::/0")
                            && r["from_port"].as_i64().is_some_and(|f| f <= *port)
                            && r["to_port"].as_i64().is_some_and(|t| t >= *port)
                    })
            })
        })
        .collect();
    assert!(!open_ports.is_empty());
    let want: Vec<(String, String, i64)> = open_ports
        .iter()
        .map(|port| ("storefront-1".to_string(), public_name.clone(), *port))
        .collect();
    assert_eq!(pods, want, "{got:?}");

    // Images from ECR repositories without scan on push.
    let got = rows(
        moto,
        k,
        &[
            "--aws-region",
            REGIONS,
            "-f",
            &example("ecr_images_without_scan_on_push.sql"),
        ],
    )
    .await;
    assert_eq!(got.len(), 1, "{got:?}");
    assert_eq!(got[0]["pod_name"], "storefront-1");
    assert_eq!(got[0]["repository_name"], unscanned["name"]);

    // The remaining examples run and answer from the seeded estate.
    let got = rows(
        moto,
        k,
        &[
            "--aws-region",
            REGIONS,
            "-f",
            &example("public_eks_endpoints.sql"),
        ],
    )
    .await;
    let want: Vec<&Value> = seeded(moto, "eks_clusters")
        .into_iter()
        .filter(|c| c["endpoint_public_access"] == true)
        .collect();
    assert_eq!(got.len(), want.len());
    assert_eq!(got[0]["name"], want[0]["name"]);
    let got = rows(
        moto,
        k,
        &[
            "--aws-region",
            REGIONS,
            "-f",
            &example("public_databases.sql"),
        ],
    )
    .await;
    let want: BTreeSet<&str> = seeded(moto, "rds_instances")
        .iter()
        .filter(|d| d["publicly_accessible"] == true || d["storage_encrypted"] == false)
        .filter_map(|d| d["identifier"].as_str())
        .collect();
    let got_ids: BTreeSet<&str> = got
        .iter()
        .filter_map(|r| r["db_instance_identifier"].as_str())
        .collect();
    assert_eq!(got_ids, want);
    let got = rows(
        moto,
        k,
        &[
            "--aws-region",
            REGIONS,
            "-f",
            &example("buckets_without_public_access_block.sql"),
        ],
    )
    .await;
    let want: BTreeSet<&str> = seeded(moto, "s3_buckets")
        .iter()
        .filter(|b| {
            !b["public_access_block"]
                .as_object()
                .is_some_and(|f| f.values().all(|v| v == true))
        })
        .filter_map(|b| b["name"].as_str())
        .collect();
    let got_names: BTreeSet<&str> = got.iter().filter_map(|r| r["name"].as_str()).collect();
    assert_eq!(got_names, want);
}

#[tokio::test]
async fn accounts_profiles_and_regions() {
    let moto = moto();
    let sim = small_sim().await;
    let k = sim.kubeconfig.as_path();
    // Two profiles, two accounts, read concurrently; each row says whose.
    let got = rows(moto, k, &["--aws-profile", "default,second", "SELECT account_id, count(*) AS n FROM aws.ec2_instances GROUP BY account_id ORDER BY account_id"]).await;
    let count = |account: &str| {
        moto.list("instances")
            .iter()
            .filter(|i| i["account_id"] == account && i["region"] == "us-east-1")
            .count() as i64
    };
    assert_eq!(
        got,
        vec![
            json!({"account_id": SECOND_ACCOUNT, "n": count(SECOND_ACCOUNT)}),
            json!({"account_id": ACCOUNT, "n": count(ACCOUNT)}),
        ]
    );
    // Two profiles of one account read it once.
    let got = rows(
        moto,
        k,
        &[
            "--aws-profile",
            "default,fleet",
            "SELECT count(*) AS n FROM aws.ec2_instances",
        ],
    )
    .await;
    assert_eq!(got, vec![json!({"n": count(ACCOUNT)})]);
    // `all` is every region the account has enabled.
    let got = rows(moto, k, &["--aws-region", "all", "SELECT count(DISTINCT region) AS regions, count(*) FILTER (WHERE is_default) AS default_vpcs FROM aws.ec2_vpcs"]).await;
    let regions = got[0]["regions"].as_i64().unwrap_or_default();
    assert!(regions > 2, "{got:?}");
    assert_eq!(got[0]["default_vpcs"].as_i64(), Some(regions));
    // No kubeconfig at all: AWS questions still answer.
    let output = run_kq_env(
        [
            "--aws-region",
            "us-east-1",
            "-o",
            "json",
            "SELECT count(*) AS n FROM aws.ec2_instances",
        ]
        .map(String::from)
        .to_vec(),
        moto.env(),
    )
    .await;
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(
        serde_json::from_str::<Value>(&stdout(&output)).expect("json"),
        json!([{"n": count(ACCOUNT)}])
    );
    // `kq tables` and `kq describe` know the AWS tables.
    let output = kq(moto, k, &["tables"]).await;
    assert!(
        stdout(&output).contains("aws.ec2_instances"),
        "{}",
        stdout(&output)
    );
    let output = kq(moto, k, &["describe", "aws.security_group_rules"]).await;
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(stdout(&output).contains("open_to_world"));
}

#[tokio::test]
async fn configuration_errors_are_one_sentence_and_exit_2() {
    let moto = moto();
    let sim = small_sim().await;
    let k = sim.kubeconfig.as_path();
    /// (flags, environment, what the one line must say)
    type Case<'a> = (Vec<&'a str>, Vec<(String, String)>, &'a str);
    let cases: Vec<Case> = vec![
        (
            vec!["--aws-profile", "nope"],
            moto.env(),
            "aws profile 'nope' is not defined",
        ),
        (
            vec!["--aws-profile", "noregion"],
            moto.env(),
            "no AWS region for profile 'noregion'",
        ),
        (
            vec!["--aws-region", "us-east-1,mars"],
            moto.env(),
            "'mars' in --aws-region is not an AWS region name",
        ),
        // No config files, no environment: no credentials anywhere.
        (
            vec!["--aws-region", "us-east-1"],
            vec![("AWS_EC2_METADATA_DISABLED".into(), "true".into())],
            "no AWS credentials found for the default profile",
        ),
        // The instance metadata service answers, but refuses: the SDK's
        // error carries the raw response, which must stay out of the line.
        (
            vec!["--aws-region", "us-east-1"],
            vec![(
                "AWS_EC2_METADATA_SERVICE_ENDPOINT".into(),
                format!("http://{}", forbidding_metadata_service()),
            )],
            "failed to load IMDS session token",
        ),
    ];
    for (flags, env, expected) in cases {
        let mut args: Vec<String> = vec!["--kubeconfig".into(), k.display().to_string()];
        args.extend(flags.iter().map(|f| f.to_string()));
        args.push("SELECT count(*) FROM aws.ec2_instances".into());
        let output = run_kq_env(args, env).await;
        let err = stderr(&output);
        assert_eq!(output.status.code(), Some(2), "{flags:?}: {err}");
        assert!(err.contains(expected), "{flags:?}: {err}");
        assert_eq!(err.trim().lines().count(), 1, "{flags:?}: {err}");
        assert!(
            !err.contains("panicked") && !err.contains("backtrace"),
            "{err}"
        );
        assert!(
            !err.contains("Error(") && !err.contains("Error {") && !err.contains("headers:"),
            "Debug text in the sentence: {err}"
        );
        assert!(stdout(&output).is_empty(), "{flags:?}");
    }
}

/// An instance metadata endpoint that answers every request 403, as a
/// machine whose IMDS is disabled or firewalled does; its address.
fn forbidding_metadata_service() -> std::net::SocketAddr {
    use std::io::{Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("address");
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut buf = [0u8; 4096];
            let _ = stream.read(&mut buf);
            let _ = stream.write_all(
                b"HTTP/1.1 403 Forbidden\r\ncontent-type: text/plain\r\ncontent-length: 6\r\nconnection: close\r\n\r\ndenied",
            );
        }
    });
    addr
}

#[tokio::test]
async fn a_denied_service_is_named_and_the_rest_answers() {
    let moto = moto();
    let sim = small_sim().await;
    let k = sim.kubeconfig.as_path();
    // `denied` may read everything but ECR. A query over EC2 and ECR
    // answers with the EC2 rows and names the ECR failure, on stderr and
    // in kq_errors.
    let sql = "SELECT 'instances' AS t, count(*) AS n FROM aws.ec2_instances UNION ALL SELECT 'repositories', count(*) FROM aws.ecr_repositories ORDER BY t";
    let output = kq(moto, k, &["--aws-profile", "denied", "-o", "json", sql]).await;
    let err = stderr(&output);
    assert_eq!(output.status.code(), Some(0), "{err}");
    let got: Vec<Value> = serde_json::from_str(&stdout(&output)).expect("json rows");
    let instances = seeded(moto, "instances")
        .iter()
        .filter(|i| i["region"] == "us-east-1")
        .count();
    assert_eq!(
        got,
        vec![
            json!({"t": "instances", "n": instances}),
            json!({"t": "repositories", "n": 0})
        ]
    );
    assert!(
        err.contains(&format!("kq: error aws '{ACCOUNT}/us-east-1' (aws.ecr_repositories): ecr DescribeRepositories: AccessDeniedException")),
        "{err}"
    );
    assert_eq!(err.lines().count(), 1, "{err}");
    // --strict makes it exit 1; kq_errors holds it for later queries.
    let output = kq(moto, k, &["--aws-profile", "denied", "--strict", sql]).await;
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    let script = sim.dir.path().join("denied.sql");
    std::fs::write(
        &script,
        format!("{sql};\nSELECT \"cluster\", \"table\", severity, error FROM kq_errors;\n"),
    )
    .expect("write script");
    let output = kq(
        moto,
        k,
        &[
            "--aws-profile",
            "denied",
            "-o",
            "ndjson",
            "-f",
            &script.display().to_string(),
        ],
    )
    .await;
    let recorded: Vec<Value> = stdout(&output)
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|r| r.get("error").is_some())
        .collect();
    assert_eq!(recorded.len(), 1, "{}", stdout(&output));
    assert_eq!(recorded[0]["cluster"], format!("aws:{ACCOUNT}/us-east-1"));
    assert_eq!(recorded[0]["table"], "aws.ecr_repositories");
    assert_eq!(recorded[0]["severity"], "error");
    // A query over ECR alone: nothing could be read, exit 2, the cause named.
    let output = kq(
        moto,
        k,
        &[
            "--aws-profile",
            "denied",
            "SELECT * FROM aws.ecr_repositories",
        ],
    )
    .await;
    assert_eq!(output.status.code(), Some(2), "{}", stderr(&output));
    assert!(stderr(&output).contains("AccessDeniedException"));
    assert!(stderr(&output).contains("no cluster or AWS account/region could be read"));
}

/// The request journal of a private moto fleet (the shared one serves
/// concurrent tests).
fn journal(moto: &MotoFleet, reset: bool) -> Vec<Value> {
    use std::io::{Read as _, Write as _};
    let endpoint = moto.info["endpoint"].as_str().expect("endpoint");
    let address = endpoint.trim_start_matches("http://");
    let method = if reset { "DELETE" } else { "GET" };
    let mut stream = std::net::TcpStream::connect(address).expect("connect to moto");
    write!(
        stream,
        "{method} /_fleet/requests HTTP/1.0\r\nHost: {address}\r\n\r\n"
    )
    .expect("ask for the journal");
    let mut response = String::new();
    stream
        .read_to_string(&mut response)
        .expect("read the journal");
    let body = response.split_once("\r\n\r\n").map_or("", |(_, b)| b);
    serde_json::from_str(body).expect("journal JSON")
}

#[tokio::test]
async fn filters_prune_accounts_and_regions_and_reach_the_api() {
    let moto = MotoFleet::start();
    let sim = small_sim().await;
    let k = sim.kubeconfig.as_path();
    let instance = seeded(&moto, "instances")
        .into_iter()
        .find(|i| i["region"] == "eu-west-1")
        .cloned()
        .expect("an eu-west-1 instance");
    let id = instance["instance_id"].as_str().unwrap_or_default();

    let mut seen: Vec<Value> = Vec::new();
    journal(&moto, true);
    let sql = format!(
        "SELECT instance_id, name FROM aws.ec2_instances WHERE region = 'eu-west-1' AND instance_id = '{id}'"
    );
    let got = rows(&moto, k, &["--aws-region", REGIONS, &sql]).await;
    assert_eq!(
        got,
        vec![json!({"instance_id": id, "name": instance["name"]})]
    );
    seen.extend(journal(&moto, false));
    let calls: Vec<&Value> = seen
        .iter()
        .filter(|c| c["action"] == "DescribeInstances")
        .collect();
    // One call, in eu-west-1 only, with the id as an API filter.
    assert_eq!(calls.len(), 1, "{calls:?}");
    assert_eq!(calls[0]["region"], "eu-west-1");
    assert_eq!(calls[0]["params"]["Filter.1.Name"], "instance-id");
    assert_eq!(calls[0]["params"]["Filter.1.Value.1"], id);

    // An account the session does not read: no EC2 call at all.
    journal(&moto, true);
    let got = rows(
        &moto,
        k,
        &[
            "--aws-region",
            REGIONS,
            "SELECT * FROM aws.ec2_instances WHERE account_id = '000000000000'",
        ],
    )
    .await;
    assert!(got.is_empty());
    let calls = journal(&moto, false);
    assert!(calls.iter().all(|c| c["service"] != "ec2"), "{calls:?}");
    seen.extend(calls);

    // Columns nobody reads cost no calls: S3 names only, no detail calls.
    journal(&moto, true);
    let got = rows(
        &moto,
        k,
        &[
            "--aws-region",
            REGIONS,
            "SELECT name FROM aws.s3_buckets ORDER BY name",
        ],
    )
    .await;
    assert_eq!(got.len(), seeded(&moto, "s3_buckets").len());
    // S3 names its sub-resources in the query string (`?encryption`).
    let calls = journal(&moto, false);
    let asked: BTreeSet<String> = calls
        .iter()
        .filter(|c| c["service"] == "s3")
        .flat_map(|c| {
            c["params"]
                .as_object()
                .into_iter()
                .flatten()
                .map(|(k, _)| k.clone())
        })
        .collect();
    for detail in ["publicAccessBlock", "encryption", "tagging", "versioning"] {
        assert!(!asked.contains(detail), "{asked:?}");
    }

    // Only reads: every action is a Describe/List/Get.
    seen.extend(calls);
    // Only reads, over every request of this test.
    for call in &seen {
        let action = call["action"].as_str().unwrap_or_default();
        assert!(
            ["Describe", "List", "Get", "GET "]
                .iter()
                .any(|p| action.starts_with(p)),
            "kq sent a non-read request: {call}"
        );
    }
}
