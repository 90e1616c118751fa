//! The real az (azure-cli 2.91.0, installed under target/az-venv by
//! .ci/setup) against the ARM fake: az logs in with the fake's managed
//! identity, every list kq reads returns exactly the seeded resources with
//! `nextLink` pages followed, a forbidden subscription fails with
//! AuthorizationFailed, and 429s and 503s are retried.
//!
//! What az 2.91.0 does (checked here):
//! - Every command first fetches a token from `IDENTITY_ENDPOINT`
//!   (msal's App Service managed identity), then sends it as a bearer token.
//! - azure-core's RetryPolicy retries a 429 and a 503 on the same URL; with
//!   `Retry-After: 0` it falls back to its own (short) exponential backoff.
//! - `az role assignment list` builds a Microsoft Graph client even when it
//!   will not use it, so the cloud needs a Graph endpoint; unless
//!   `--fill-principal-name false`, it then POSTs
//!   `/v1.0/directoryObjects/getByIds` there and ignores the failure.
//! - `az role assignment list` lists role definitions too (to fill in
//!   `roleDefinitionName`).
//! - az flattens `properties` into each item and renames some fields
//!   (AKS `enableRBAC` → `enableRbac`, storage `supportsHttpsTrafficOnly`
//!   → `enableHttpsTrafficOnly`).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use kq_sim::azure::{AzureFake, AzureFaults, AzureFleetConfig, AzureSubscription};
use serde_json::Value;
use tokio::sync::Semaphore;

const SEED: u64 = 20;

/// az is CPU-heavy Python; more than this many at once (across all tests of
/// this file) only slows each down on a small machine.
static AZ_SLOTS: Semaphore = Semaphore::const_new(4);

fn require_az() {
    // Never skip: a missing az must be visible, in CI and locally.
    let program = AzureFake::az_program();
    let version = std::process::Command::new(&program)
        .arg("--version")
        .output();
    match version {
        Ok(out) if out.status.success() => {}
        other => panic!(
            "az not usable at {} ({other:?}); these tests need azure-cli 2.91.0, \
             which .ci/setup installs into target/az-venv",
            program.display()
        ),
    }
}

#[derive(Debug)]
struct Out {
    args: Vec<String>,
    success: bool,
    stdout: String,
    stderr: String,
}

impl Out {
    /// The `-o json` output of a command that must have succeeded.
    fn json(&self) -> Value {
        assert!(self.success, "az {:?} failed:\n{}", self.args, self.stderr);
        serde_json::from_str(&self.stdout).unwrap_or_else(|e| {
            panic!("az {:?} printed no JSON ({e}):\n{}", self.args, self.stdout)
        })
    }

    fn failed_with(&self, needle: &str) {
        assert!(
            !self.success,
            "az {:?} should have failed; stdout:\n{}",
            self.args, self.stdout
        );
        assert!(
            self.stderr.contains(needle),
            "az {:?}: expected {needle:?} in stderr:\n{}",
            self.args,
            self.stderr
        );
    }
}

/// Copies a logged-in az config dir, so concurrent az processes never share
/// (and race on) one.
fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("create config copy");
    for entry in std::fs::read_dir(from).expect("read config dir") {
        let entry = entry.expect("config dir entry");
        let target = to.join(entry.file_name());
        if entry.file_type().expect("file type").is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).expect("copy config file");
        }
    }
}

/// Logs az in to `fake` (AzureFake::az_login) in a fresh config dir, kept
/// alive by the returned guard.
async fn login(fake: &AzureFake) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().expect("temporary az config dir");
    let cfg = dir.path().join("az");
    let _slot = AZ_SLOTS.acquire().await.expect("az slots");
    // az_login blocks on az; the fake keeps serving on the runtime's workers.
    tokio::task::block_in_place(|| fake.az_login(&cfg))
        .unwrap_or_else(|e| panic!("az login failed: {e}"));
    (dir, cfg)
}

/// Runs `az ARGS -o json` against `fake` with a copy of the logged-in
/// config dir `cfg`. Everything is taken before the future starts, so the
/// commands of a `join_all` borrow nothing.
fn az(
    fake: &AzureFake,
    cfg: &Path,
    args: &[&str],
) -> impl std::future::Future<Output = Out> + use<> {
    let dir = tempfile::tempdir().expect("temporary az config dir");
    let copy = dir.path().join("az");
    copy_dir(cfg, &copy);
    let mut command = fake.az_command(&copy);
    let mut args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
    args.extend(["-o".to_string(), "json".to_string()]);
    command.args(&args);
    async move {
        let _slot = AZ_SLOTS.acquire().await.expect("az slots");
        let output = tokio::task::spawn_blocking(move || {
            let out = command.output();
            drop(dir);
            out
        })
        .await
        .expect("az task")
        .expect("run az");
        Out {
            args,
            success: output.status.success(),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        }
    }
}

fn array(v: &Value) -> &Vec<Value> {
    v.as_array()
        .unwrap_or_else(|| panic!("expected a JSON array, got {v}"))
}

/// The seeded item the way az prints it: az flattens every ARM
/// `properties` object (nested ones too) into its parent.
fn flattened(v: &Value) -> Value {
    match v {
        Value::Object(o) => {
            let mut out = serde_json::Map::new();
            for (k, x) in o {
                if k == "properties"
                    && let Value::Object(props) = x
                {
                    for (pk, px) in props {
                        out.entry(pk.clone()).or_insert_with(|| flattened(px));
                    }
                } else {
                    out.insert(k.clone(), flattened(x));
                }
            }
            Value::Object(out)
        }
        Value::Array(a) => Value::Array(a.iter().map(flattened).collect()),
        other => other.clone(),
    }
}

/// az's output without the `resourceGroup` it adds to every sub-resource.
fn without_resource_group(v: &Value) -> Value {
    match v {
        Value::Object(o) => Value::Object(
            o.iter()
                .filter(|(k, _)| *k != "resourceGroup")
                .map(|(k, x)| (k.clone(), without_resource_group(x)))
                .collect(),
        ),
        Value::Array(a) => Value::Array(a.iter().map(without_resource_group).collect()),
        other => other.clone(),
    }
}

/// A dotted path (`a.0.b`) into a JSON value.
fn field<'a>(v: &'a Value, path: &str) -> &'a Value {
    path.split('.')
        .fold(v, |cur, part| match part.parse::<usize>() {
            Ok(i) => &cur[i],
            Err(_) => &cur[part],
        })
}

/// az's output lists exactly the seeded items (by id, case-insensitively),
/// and each `(seeded field, printed field)` pair agrees once the seeded
/// item is flattened the way az prints it.
fn assert_same(what: &str, out: &Out, seeded: &[Value], fields: &[(&str, &str)]) {
    let printed = without_resource_group(&out.json());
    let key = |v: &Value| {
        v["id"]
            .as_str()
            .unwrap_or_else(|| panic!("{what}: no id in {v}"))
            .to_ascii_lowercase()
    };
    let got: BTreeMap<String, &Value> = array(&printed).iter().map(|v| (key(v), v)).collect();
    let seeded: Vec<Value> = seeded.iter().map(flattened).collect();
    let want: BTreeMap<String, &Value> = seeded.iter().map(|v| (key(v), v)).collect();
    assert_eq!(
        got.keys().collect::<Vec<_>>(),
        want.keys().collect::<Vec<_>>(),
        "{what}: different items"
    );
    assert!(!want.is_empty(), "{what}: nothing seeded");
    for (seeded_field, _) in fields {
        // Guards against a misspelt path comparing null with null everywhere.
        assert!(
            want.values().any(|w| !field(w, seeded_field).is_null()),
            "{what}: no item has {seeded_field}"
        );
    }
    for (id, w) in &want {
        let g = got[id];
        assert_eq!(g["name"], w["name"], "{what} {id}: name");
        for (seeded_field, printed_field) in fields {
            let (gv, wv) = (field(g, printed_field), field(w, seeded_field));
            assert_eq!(
                gv, wv,
                "{what} {id}: {seeded_field} printed as {printed_field}"
            );
        }
    }
}

fn pages(items: usize, page_size: usize) -> usize {
    items.div_ceil(page_size).max(1)
}

/// Statuses of the ARM requests for `path` (compared case-insensitively).
fn hits(fake: &AzureFake, path: &str) -> Vec<u16> {
    fake.requests()
        .iter()
        .filter(|r| r.path.eq_ignore_ascii_case(path))
        .map(|r| r.status)
        .collect()
}

fn resource_group_of(id: &str) -> String {
    id.split('/').nth(4).unwrap_or_default().to_string()
}

struct Expect<'a> {
    args: Vec<String>,
    what: &'static str,
    seeded: Vec<Value>,
    fields: &'a [(&'a str, &'a str)],
    /// The list path az pages through, and how many items it holds.
    path: Option<(String, usize)>,
}

const VM_FIELDS: &[(&str, &str)] = &[
    ("location", "location"),
    ("vmId", "vmId"),
    ("hardwareProfile.vmSize", "hardwareProfile.vmSize"),
    (
        "storageProfile.osDisk.osType",
        "storageProfile.osDisk.osType",
    ),
    ("osProfile.computerName", "osProfile.computerName"),
    (
        "networkProfile.networkInterfaces.0.id",
        "networkProfile.networkInterfaces.0.id",
    ),
];

fn expectations<'a>(s: &AzureSubscription) -> Vec<Expect<'a>> {
    let sub = s.id.clone();
    let base = format!("/subscriptions/{sub}");
    let args = |a: &[&str]| -> Vec<String> {
        let mut v: Vec<String> = a.iter().map(|x| x.to_string()).collect();
        v.extend(["--subscription".to_string(), sub.clone()]);
        v
    };
    let provider = |p: &str| format!("{base}/providers/{p}");
    let mut out = vec![
        Expect {
            args: args(&["vm", "list"]),
            what: "vm",
            seeded: s.virtual_machines.clone(),
            fields: VM_FIELDS,
            path: Some((
                provider("Microsoft.Compute/virtualMachines"),
                s.virtual_machines.len(),
            )),
        },
        Expect {
            args: args(&["vmss", "list"]),
            what: "vmss",
            seeded: s.scale_sets.clone(),
            fields: &[
                ("sku.name", "sku.name"),
                ("sku.capacity", "sku.capacity"),
                ("uniqueId", "uniqueId"),
                ("tags.aks-managed-poolName", "tags.aks-managed-poolName"),
            ],
            path: Some((
                provider("Microsoft.Compute/virtualMachineScaleSets"),
                s.scale_sets.len(),
            )),
        },
        Expect {
            args: args(&["network", "nsg", "list"]),
            what: "nsg",
            seeded: s.network_security_groups.clone(),
            fields: &[
                ("securityRules", "securityRules"),
                ("defaultSecurityRules", "defaultSecurityRules"),
            ],
            path: Some((
                provider("Microsoft.Network/networkSecurityGroups"),
                s.network_security_groups.len(),
            )),
        },
        Expect {
            args: args(&["network", "public-ip", "list"]),
            what: "public ip",
            seeded: s.public_ips.clone(),
            fields: &[
                ("ipAddress", "ipAddress"),
                ("publicIPAllocationMethod", "publicIPAllocationMethod"),
                ("ipConfiguration", "ipConfiguration"),
            ],
            path: Some((
                provider("Microsoft.Network/publicIPAddresses"),
                s.public_ips.len(),
            )),
        },
        Expect {
            args: args(&["network", "lb", "list"]),
            what: "load balancer",
            seeded: s.load_balancers.clone(),
            fields: &[
                (
                    "frontendIPConfigurations.0.id",
                    "frontendIPConfigurations.0.id",
                ),
                (
                    "frontendIPConfigurations.0.publicIPAddress.id",
                    "frontendIPConfigurations.0.publicIPAddress.id",
                ),
                (
                    "loadBalancingRules.0.frontendPort",
                    "loadBalancingRules.0.frontendPort",
                ),
                (
                    "loadBalancingRules.1.backendPort",
                    "loadBalancingRules.1.backendPort",
                ),
                (
                    "loadBalancingRules.1.protocol",
                    "loadBalancingRules.1.protocol",
                ),
            ],
            path: Some((
                provider("Microsoft.Network/loadBalancers"),
                s.load_balancers.len(),
            )),
        },
        Expect {
            args: args(&["aks", "list"]),
            what: "aks",
            seeded: s.managed_clusters.clone(),
            fields: &[
                ("kubernetesVersion", "kubernetesVersion"),
                ("nodeResourceGroup", "nodeResourceGroup"),
                ("enableRBAC", "enableRbac"),
                ("disableLocalAccounts", "disableLocalAccounts"),
                (
                    "apiServerAccessProfile.enablePrivateCluster",
                    "apiServerAccessProfile.enablePrivateCluster",
                ),
                (
                    "apiServerAccessProfile.authorizedIPRanges",
                    "apiServerAccessProfile.authorizedIpRanges",
                ),
                (
                    "networkProfile.networkPolicy",
                    "networkProfile.networkPolicy",
                ),
                ("agentPoolProfiles.0.name", "agentPoolProfiles.0.name"),
                ("agentPoolProfiles.0.count", "agentPoolProfiles.0.count"),
                ("agentPoolProfiles.0.mode", "agentPoolProfiles.0.mode"),
                ("agentPoolProfiles.1.name", "agentPoolProfiles.1.name"),
                (
                    "securityProfile.workloadIdentity.enabled",
                    "securityProfile.workloadIdentity.enabled",
                ),
            ],
            path: Some((
                provider("Microsoft.ContainerService/managedClusters"),
                s.managed_clusters.len(),
            )),
        },
        Expect {
            args: args(&[
                "role",
                "assignment",
                "list",
                "--all",
                "--fill-principal-name",
                "false",
            ]),
            what: "role assignment",
            seeded: s.role_assignments.clone(),
            fields: &[
                ("principalId", "principalId"),
                ("principalType", "principalType"),
                ("roleDefinitionId", "roleDefinitionId"),
                ("scope", "scope"),
            ],
            path: Some((
                provider("Microsoft.Authorization/roleAssignments"),
                s.role_assignments.len(),
            )),
        },
        Expect {
            args: args(&["role", "definition", "list", "--custom-role-only", "false"]),
            what: "role definition",
            seeded: s.role_definitions.clone(),
            fields: &[
                ("roleName", "roleName"),
                ("assignableScopes", "assignableScopes"),
            ],
            // Listed by `role assignment list` too; counted separately.
            path: None,
        },
        Expect {
            args: args(&["storage", "account", "list"]),
            what: "storage account",
            seeded: s.storage_accounts.clone(),
            fields: &[
                ("kind", "kind"),
                ("sku.name", "sku.name"),
                ("location", "location"),
                ("allowBlobPublicAccess", "allowBlobPublicAccess"),
                ("supportsHttpsTrafficOnly", "enableHttpsTrafficOnly"),
                ("minimumTlsVersion", "minimumTlsVersion"),
            ],
            path: Some((
                provider("Microsoft.Storage/storageAccounts"),
                s.storage_accounts.len(),
            )),
        },
        Expect {
            args: args(&["group", "list"]),
            what: "resource group",
            seeded: s.resource_groups.clone(),
            fields: &[("location", "location"), ("managedBy", "managedBy")],
            path: Some((format!("{base}/resourcegroups"), s.resource_groups.len())),
        },
        Expect {
            args: args(&["resource", "list"]),
            what: "generic resource",
            seeded: s.generic_resources(),
            fields: &[("type", "type"), ("location", "location")],
            path: Some((format!("{base}/resources"), s.generic_resources().len())),
        },
    ];
    for ss in &s.scale_sets {
        let id = ss["id"].as_str().unwrap_or_default();
        let name = ss["name"].as_str().unwrap_or_default();
        let rg = resource_group_of(id);
        let seeded: Vec<Value> = s.instances_of(id).into_iter().cloned().collect();
        out.push(Expect {
            args: args(&["vmss", "list-instances", "-g", &rg, "-n", name]),
            what: "vmss instance",
            path: Some((format!("{id}/virtualMachines"), seeded.len())),
            seeded,
            fields: &[
                ("instanceId", "instanceId"),
                ("vmId", "vmId"),
                ("osProfile.computerName", "osProfile.computerName"),
                ("latestModelApplied", "latestModelApplied"),
            ],
        });
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn az_lists_exactly_the_seeded_resources() {
    require_az();
    let config = AzureFleetConfig::demo(SEED);
    let page_size = config.page_size;
    let fake = AzureFake::start(config).await.expect("start the fake");
    let (_guard, cfg) = login(&fake).await;

    let fleet = fake.fleet();
    let expect: Vec<Expect> = fleet
        .subscriptions()
        .iter()
        .flat_map(expectations)
        .collect();
    let runs = expect.iter().map(|e| {
        let args: Vec<&str> = e.args.iter().map(String::as_str).collect();
        az(&fake, &cfg, &args)
    });
    let outs = futures::future::join_all(runs).await;
    for (e, out) in expect.iter().zip(&outs) {
        assert_same(e.what, out, &e.seeded, e.fields);
        if e.what == "role definition" {
            // ARM's `properties.type` clashes with the resource type; az prints it as roleType.
            let printed = out.json();
            let got: BTreeMap<&str, &str> = array(&printed)
                .iter()
                .map(|d| {
                    (
                        d["name"].as_str().unwrap_or_default(),
                        d["roleType"].as_str().unwrap_or_default(),
                    )
                })
                .collect();
            let want: BTreeMap<&str, &str> = e
                .seeded
                .iter()
                .map(|d| {
                    (
                        d["name"].as_str().unwrap_or_default(),
                        d["properties"]["type"].as_str().unwrap_or_default(),
                    )
                })
                .collect();
            assert_eq!(got, want, "role definition types");
            assert!(want.values().any(|t| *t == "CustomRole"));
        }
    }

    // Every list longer than a page was followed page by page.
    let mut paged = 0;
    for (path, items) in expect.iter().filter_map(|e| e.path.as_ref()) {
        let served = hits(&fake, path);
        assert_eq!(
            served.len(),
            pages(*items, page_size),
            "pages of {path} ({items} items): {served:?}"
        );
        if served.len() > 1 {
            paged += 1;
        }
    }
    assert!(paged >= 12, "too few lists spanned several pages ({paged})");
    for s in fleet.subscriptions() {
        // Once for `role definition list`, once for `role assignment list`.
        let path = format!(
            "/subscriptions/{}/providers/Microsoft.Authorization/roleDefinitions",
            s.id
        );
        assert_eq!(
            hits(&fake, &path).len(),
            2 * pages(s.role_definitions.len(), page_size),
            "{path}"
        );
    }

    // az only read, always with the managed identity's token.
    let bearer = format!("Bearer {}", fake.access_token());
    let requests = fake.requests();
    assert!(requests.iter().any(|r| r.path == "/msi/token"));
    for r in &requests {
        assert_eq!(r.method, "GET", "az wrote: {r:?}");
        assert_eq!(r.status, 200, "{r:?}");
        if r.path != "/msi/token" {
            assert_eq!(r.authorization.as_deref(), Some(bearer.as_str()), "{r:?}");
            assert!(r.query.contains("api-version="), "{r:?}");
        }
    }
    fake.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_forbidden_subscription_fails_with_authorization_failed() {
    require_az();
    let fake = AzureFake::start(AzureFleetConfig::demo(SEED))
        .await
        .expect("start the fake");
    let fleet = fake.fleet();
    let (ok, forbidden) = (&fleet.subscriptions()[0], &fleet.subscriptions()[1]);
    fake.set_faults(AzureFaults {
        forbidden_subscriptions: vec![forbidden.id.clone()],
        ..AzureFaults::default()
    });
    // Login still sees both subscriptions: listing them is allowed.
    let (_guard, cfg) = login(&fake).await;
    let f = &fake;
    let (accounts, vms, groups, aks, allowed) = tokio::join!(
        az(f, &cfg, &["account", "list"]),
        az(f, &cfg, &["vm", "list", "--subscription", &forbidden.id]),
        az(f, &cfg, &["group", "list", "--subscription", &forbidden.id]),
        az(f, &cfg, &["aks", "list", "--subscription", &forbidden.id]),
        az(f, &cfg, &["group", "list", "--subscription", &ok.id]),
    );
    let listed: BTreeSet<String> = array(&accounts.json())
        .iter()
        .filter_map(|a| a["id"].as_str().map(str::to_string))
        .collect();
    let all: BTreeSet<String> = fleet.subscriptions().iter().map(|s| s.id.clone()).collect();
    assert_eq!(listed, all);
    vms.failed_with("AuthorizationFailed");
    vms.failed_with("Microsoft.Compute/virtualMachines/read");
    groups.failed_with("AuthorizationFailed");
    aks.failed_with("AuthorizationFailed");
    assert_eq!(array(&allowed.json()).len(), ok.resource_groups.len());
    // A config dir that knew another fake logs in to this one (the cloud's
    // endpoints are updated, not registered twice).
    let other = AzureFake::start(AzureFleetConfig::demo(SEED + 1))
        .await
        .expect("start a second fake");
    tokio::task::block_in_place(|| other.az_login(&cfg))
        .unwrap_or_else(|e| panic!("second az login into {}: {e}", cfg.display()));
    let relisted = az(&other, &cfg, &["group", "list"]).await.json();
    let first = &other.fleet().subscriptions()[0];
    assert_eq!(array(&relisted).len(), first.resource_groups.len());
    assert!(other.requests().iter().any(|r| {
        r.path
            .eq_ignore_ascii_case(&format!("/subscriptions/{}/resourcegroups", first.id))
    }));
    other.shutdown().await;
    // az does not retry a 403.
    let path = format!(
        "/subscriptions/{}/providers/Microsoft.Compute/virtualMachines",
        forbidden.id
    );
    assert_eq!(hits(&fake, &path), vec![403]);
    fake.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn az_retries_429_and_503_on_the_same_request() {
    require_az();
    let config = AzureFleetConfig::demo(SEED);
    let page_size = config.page_size;
    let fake = AzureFake::start(config).await.expect("start the fake");
    let (_guard, cfg) = login(&fake).await;
    fake.set_faults(AzureFaults {
        throttle_first: 1,
        unavailable_first: 1,
        ..AzureFaults::default()
    });
    let s = fake.fleet().subscriptions()[0].clone();
    let f = &fake;
    let (vms, nsgs, aks, groups) = tokio::join!(
        az(f, &cfg, &["vm", "list", "--subscription", &s.id]),
        az(
            f,
            &cfg,
            &["network", "nsg", "list", "--subscription", &s.id]
        ),
        az(f, &cfg, &["aks", "list", "--subscription", &s.id]),
        az(f, &cfg, &["group", "list", "--subscription", &s.id]),
    );
    assert_same("vm", &vms, &s.virtual_machines, &[]);
    assert_same("nsg", &nsgs, &s.network_security_groups, &[]);
    assert_same("aks", &aks, &s.managed_clusters, &[]);
    assert_same("resource group", &groups, &s.resource_groups, &[]);
    // The first request of each path is throttled, the second unavailable,
    // the third (the retry of the same first page) succeeds; later pages
    // share the path, so they are served at once.
    let base = format!("/subscriptions/{}", s.id);
    for (path, items) in [
        (
            format!("{base}/providers/Microsoft.Compute/virtualMachines"),
            s.virtual_machines.len(),
        ),
        (
            format!("{base}/providers/Microsoft.Network/networkSecurityGroups"),
            s.network_security_groups.len(),
        ),
        (
            format!("{base}/providers/Microsoft.ContainerService/managedClusters"),
            s.managed_clusters.len(),
        ),
        (format!("{base}/resourcegroups"), s.resource_groups.len()),
    ] {
        let mut want = vec![429, 503];
        want.extend(std::iter::repeat_n(200, pages(items, page_size)));
        assert_eq!(hits(&fake, &path), want, "{path}");
    }
    fake.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn role_assignment_list_posts_to_graph_unless_told_not_to() {
    require_az();
    let fake = AzureFake::start(AzureFleetConfig::demo(SEED))
        .await
        .expect("start the fake");
    let (_guard, cfg) = login(&fake).await;
    let s = fake.fleet().subscriptions()[0].clone();
    let out = az(
        &fake,
        &cfg,
        &[
            "role",
            "assignment",
            "list",
            "--all",
            "--subscription",
            &s.id,
        ],
    )
    .await;
    // The Graph lookup of principal names fails (a 405 here) and az carries on.
    assert_same(
        "role assignment",
        &out,
        &s.role_assignments,
        &[("principalId", "principalId")],
    );
    let writes: Vec<(String, String, u16)> = fake
        .requests()
        .into_iter()
        .filter(|r| r.method != "GET")
        .map(|r| (r.method, r.path, r.status))
        .collect();
    assert_eq!(
        writes,
        vec![(
            "POST".to_string(),
            "/v1.0/directoryObjects/getByIds".to_string(),
            405
        )]
    );
    fake.shutdown().await;
}
