//! The real gcloud (Google Cloud SDK 528) against the GCP fake: every list
//! kq reads returns exactly the seeded resources, pages are followed, and
//! forbidden projects, unreachable zones, 429s and 503s surface the way
//! gcloud reports them.
//!
//! What gcloud 528 does with injected errors (read from its sources and
//! checked here):
//! - `compute … list` sends each page once (`single_request_helper` sets
//!   `num_retries = 0`) and reports a failed request, a 403 included, as
//!   `WARNING: Some requests did not succeed` — exit status 0 for aggregated
//!   lists (instances), 1 for global ones (firewall-rules).
//! - gcloud's shared response check (`api_lib/util/apis.py`) never retries a
//!   429 but retries 5xx with backoff: iam, projects and storage survive a 503,
//!   not a 429.
//! - GKE (`container/api_adapter.py`) is the other way round: it retries a
//!   429 and never a 503.
//! - An unreachable zone is reported from the aggregated list's `UNREACHABLE`
//!   scope warning (not from `unreachables`), and GKE's from `missingZones`.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use kq_sim::gcp::{GCLOUD_ACCESS_TOKEN, GcpFake, GcpFaults, GcpFleetConfig, GcpProject};
use serde_json::Value;
use tokio::sync::Semaphore;

const GCLOUD: &str = "/usr/bin/gcloud";
const SEED: u64 = 20;

/// gcloud is CPU-heavy Python; more than this many at once (across all tests
/// of this file) only slows each down on a small machine.
static GCLOUD_SLOTS: Semaphore = Semaphore::const_new(4);

fn require_gcloud() {
    // Never skip: a missing gcloud must be visible, in CI and locally.
    assert!(
        Path::new(GCLOUD).exists(),
        "gcloud not found at {GCLOUD}; these tests need the real Google Cloud SDK \
         (Debian package google-cloud-cli, 528 or later)"
    );
}

#[derive(Debug)]
struct Out {
    args: Vec<String>,
    success: bool,
    stdout: String,
    stderr: String,
}

impl Out {
    /// The `--format json` output of a command that must have succeeded.
    fn json(&self) -> Value {
        assert!(
            self.success,
            "gcloud {:?} failed:\n{}",
            self.args, self.stderr
        );
        serde_json::from_str(&self.stdout).unwrap_or_else(|e| {
            panic!(
                "gcloud {:?} printed no JSON ({e}):\n{}",
                self.args, self.stdout
            )
        })
    }

    fn failed_with(&self, needle: &str) {
        assert!(
            !self.success,
            "gcloud {:?} should have failed; stdout:\n{}",
            self.args, self.stdout
        );
        assert!(
            self.stderr.contains(needle),
            "gcloud {:?}: expected {needle:?} in stderr:\n{}",
            self.args,
            self.stderr
        );
    }
}

/// Runs `gcloud ARGS --format json` against `fake` with a fresh config dir
/// (concurrent gcloud processes must not share one). Everything is taken
/// before the future starts, so the commands of a `join!` borrow nothing.
fn gcloud(fake: &GcpFake, args: &[&str]) -> impl std::future::Future<Output = Out> + use<> {
    let dir = tempfile::tempdir().expect("temporary gcloud config dir");
    let mut command = fake.gcloud_command(&dir.path().join("config"));
    let mut args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
    args.extend(["--format".to_string(), "json".to_string()]);
    command.args(&args);
    async move {
        let _slot = GCLOUD_SLOTS.acquire().await.expect("gcloud slots");
        let output = tokio::task::spawn_blocking(move || {
            let out = command.output();
            drop(dir);
            out
        })
        .await
        .expect("gcloud task")
        .expect("run gcloud");
        Out {
            args,
            success: output.status.success(),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        }
    }
}

/// gcloud adds display-only `x_gcloud_*` fields to some Compute resources.
fn without_gcloud_fields(v: &Value) -> Value {
    let mut v = v.clone();
    if let Some(o) = v.as_object_mut() {
        o.retain(|k, _| !k.starts_with("x_gcloud_"));
    }
    v
}

fn keyed<'a>(items: impl IntoIterator<Item = &'a Value>, key: &str) -> BTreeMap<String, Value> {
    items
        .into_iter()
        .map(|v| {
            (
                v[key]
                    .as_str()
                    .unwrap_or_else(|| panic!("no {key} in {v}"))
                    .to_string(),
                without_gcloud_fields(v),
            )
        })
        .collect()
}

fn array(v: &Value) -> &Vec<Value> {
    v.as_array()
        .unwrap_or_else(|| panic!("expected a JSON array, got {v}"))
}

/// gcloud's output equals the seeded resources, compared whole, keyed by `key`.
fn assert_same(what: &str, out: &Out, seeded: &[Value], key: &str) {
    assert_same_after(what, out, seeded, key, |_| {});
}

/// The same, after `undecorate` removes what gcloud adds for display.
fn assert_same_after(
    what: &str,
    out: &Out,
    seeded: &[Value],
    key: &str,
    undecorate: impl Fn(&mut Value),
) {
    let mut printed = out.json();
    if let Some(items) = printed.as_array_mut() {
        items.iter_mut().for_each(&undecorate);
    }
    let got = keyed(array(&printed), key);
    let want = keyed(seeded, key);
    assert_eq!(
        got.keys().collect::<Vec<_>>(),
        want.keys().collect::<Vec<_>>(),
        "{what}: different items"
    );
    for (k, w) in &want {
        assert_eq!(&got[k], w, "{what} {k}: gcloud printed something else");
    }
}

fn names(v: &Value, key: &str) -> BTreeSet<String> {
    array(v)
        .iter()
        .filter_map(|i| i[key].as_str().map(str::to_string))
        .collect()
}

fn zone_of(instance: &Value) -> &str {
    instance["zone"]
        .as_str()
        .and_then(|z| z.rsplit('/').next())
        .unwrap_or("")
}

/// Requests the fake served for `path`.
fn hits(fake: &GcpFake, path: &str) -> Vec<u16> {
    fake.requests()
        .iter()
        .filter(|r| r.path == path)
        .map(|r| r.status)
        .collect()
}

fn pages(items: usize, page_size: usize) -> usize {
    items.div_ceil(page_size).max(1)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gcloud_lists_exactly_the_seeded_resources() {
    require_gcloud();
    let config = GcpFleetConfig::demo(SEED);
    let page_size = config.page_size;
    let fake = GcpFake::start(config).await.expect("start the fake");
    let fleet = fake.fleet();
    let p: &GcpProject = &fleet.projects()[0];
    let other: &GcpProject = &fleet.projects()[1];
    let pid = p.id.as_str();
    let (sa_email, _) = p
        .service_accounts
        .iter()
        .filter_map(|sa| sa["email"].as_str())
        .map(|e| {
            let n = p
                .service_account_keys
                .iter()
                .filter(|(k, _)| k == e)
                .count();
            (e, n)
        })
        .max_by_key(|(_, n)| *n)
        .expect("a service account");
    let cluster_args: Vec<(String, String)> = p
        .clusters
        .iter()
        .map(|c| {
            (
                c["name"].as_str().unwrap_or_default().to_string(),
                c["location"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect();

    let f = &fake;
    let lists = [
        vec!["compute", "instances", "list", "--project", pid],
        vec!["compute", "firewall-rules", "list", "--project", pid],
        vec!["compute", "networks", "list", "--project", pid],
        vec!["compute", "networks", "subnets", "list", "--project", pid],
        vec!["compute", "forwarding-rules", "list", "--project", pid],
        vec!["compute", "addresses", "list", "--project", pid],
        vec!["container", "clusters", "list", "--project", pid],
        vec!["iam", "service-accounts", "list", "--project", pid],
        vec![
            "iam",
            "service-accounts",
            "keys",
            "list",
            "--iam-account",
            sa_email,
            "--project",
            pid,
        ],
        vec!["projects", "get-iam-policy", pid],
        vec!["projects", "list"],
        vec!["storage", "buckets", "list", "--project", pid],
        vec!["compute", "instances", "list", "--project", &other.id],
    ];
    let pool_runs = cluster_args.iter().map(|(c, l)| {
        gcloud(
            f,
            &[
                "container",
                "node-pools",
                "list",
                "--cluster",
                c,
                "--location",
                l,
                "--project",
                pid,
            ],
        )
    });
    let (outs, pool_outs) = tokio::join!(
        futures::future::join_all(lists.iter().map(|a| gcloud(f, a))),
        futures::future::join_all(pool_runs),
    );
    let [
        instances,
        firewalls,
        networks,
        subnets,
        forwarding,
        addresses,
        clusters,
        accounts,
        keys,
        policy,
        projects,
        buckets,
        other_instances,
    ] = <[Out; 13]>::try_from(outs).expect("13 runs");

    assert_same("instance", &instances, &p.instances, "name");
    assert_same("instance", &other_instances, &other.instances, "name");
    assert_same("firewall", &firewalls, &p.firewalls, "name");
    assert_same("network", &networks, &p.networks, "name");
    assert_same("subnetwork", &subnets, &p.subnetworks, "selfLink");
    assert_same(
        "forwarding rule",
        &forwarding,
        &p.forwarding_rules,
        "selfLink",
    );
    assert_same("address", &addresses, &p.addresses, "selfLink");
    // gcloud appends " **" to node versions near their end of support.
    assert_same_after("cluster", &clusters, &p.clusters, "name", |c| {
        if let Some(v) = c["currentNodeVersion"].as_str() {
            c["currentNodeVersion"] = Value::from(v.trim_end_matches(" **"));
        }
    });
    // gcloud fills in `disabled: false`, which the API leaves out.
    assert_same_after(
        "service account",
        &accounts,
        &p.service_accounts,
        "email",
        |sa| {
            if sa["disabled"] == false
                && let Some(o) = sa.as_object_mut()
            {
                o.remove("disabled");
            }
        },
    );
    let sa_keys: Vec<Value> = p
        .service_account_keys
        .iter()
        .filter(|(e, _)| e == sa_email)
        .map(|(_, k)| k.clone())
        .collect();
    assert!(
        sa_keys.len() >= 2,
        "{sa_email} should have a user-managed key too"
    );
    assert_same("service account key", &keys, &sa_keys, "name");
    assert_eq!(policy.json(), p.iam_policy, "get-iam-policy");

    let listed = projects.json();
    let want: BTreeMap<String, String> = fleet
        .projects()
        .iter()
        .map(|p| (p.id.clone(), p.number.clone()))
        .collect();
    let got: BTreeMap<String, String> = array(&listed)
        .iter()
        .map(|p| {
            (
                p["projectId"].as_str().unwrap_or_default().to_string(),
                p["projectNumber"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect();
    assert_eq!(got, want, "projects list");

    // gcloud storage prints its own bucket shape, not the API's.
    let got = buckets.json();
    let got: BTreeMap<&str, &Value> = array(&got)
        .iter()
        .map(|b| (b["name"].as_str().unwrap_or_default(), b))
        .collect();
    assert_eq!(got.len(), p.buckets.len(), "buckets: {got:?}");
    for b in &p.buckets {
        let name = b["name"].as_str().unwrap_or_default();
        let g = got
            .get(name)
            .unwrap_or_else(|| panic!("bucket {name} not listed"));
        let iam = &b["iamConfiguration"];
        assert_eq!(
            g["public_access_prevention"], iam["publicAccessPrevention"],
            "{name}"
        );
        assert_eq!(
            g["uniform_bucket_level_access"], iam["uniformBucketLevelAccess"]["enabled"],
            "{name}"
        );
        assert_eq!(g["default_storage_class"], b["storageClass"], "{name}");
        assert_eq!(g["location"], b["location"], "{name}");
    }

    for ((cluster, _), out) in cluster_args.iter().zip(&pool_outs) {
        let seeded = p
            .clusters
            .iter()
            .find(|c| c["name"] == cluster.as_str())
            .and_then(|c| c["nodePools"].as_array())
            .expect("seeded node pools");
        assert_same(&format!("{cluster} node pool"), out, seeded, "name");
    }

    // Every list longer than a page was followed page by page.
    let base = format!("/compute/v1/projects/{pid}");
    let expect_pages = [
        (format!("{base}/aggregated/instances"), p.instances.len()),
        (
            format!("/compute/v1/projects/{}/aggregated/instances", other.id),
            other.instances.len(),
        ),
        (format!("{base}/global/firewalls"), p.firewalls.len()),
        (format!("{base}/global/networks"), p.networks.len()),
        (
            format!("{base}/aggregated/subnetworks"),
            p.subnetworks.len(),
        ),
        (
            format!("{base}/aggregated/forwardingRules"),
            p.forwarding_rules.len(),
        ),
        (format!("{base}/aggregated/addresses"), p.addresses.len()),
        (
            format!("/v1/projects/{pid}/serviceAccounts"),
            p.service_accounts.len(),
        ),
        ("/storage/v1/b".to_string(), p.buckets.len()),
        ("/v1/projects".to_string(), fleet.projects().len()),
    ];
    let mut paged = 0;
    for (path, items) in &expect_pages {
        let served = hits(&fake, path);
        assert_eq!(
            served.len(),
            pages(*items, page_size),
            "pages of {path} ({items} items): {served:?}"
        );
        assert!(served.iter().all(|s| *s == 200), "{path}: {served:?}");
        if served.len() > 1 {
            paged += 1;
        }
    }
    assert!(paged >= 6, "too few lists spanned several pages ({paged})");

    // gcloud only read, and always with the token it was given.
    let bearer = format!("Bearer {GCLOUD_ACCESS_TOKEN}");
    for r in fake.requests() {
        if r.path.starts_with("/computeMetadata/") {
            continue;
        }
        assert!(
            r.method == "GET" || (r.method == "POST" && r.path.ends_with(":getIamPolicy")),
            "gcloud wrote: {r:?}"
        );
        assert_eq!(r.authorization.as_deref(), Some(bearer.as_str()), "{r:?}");
        assert_eq!(r.status, 200, "{r:?}");
    }
    fake.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forbidden_projects_and_unreachable_zones_surface_in_gcloud() {
    require_gcloud();
    let fake = GcpFake::start(GcpFleetConfig::demo(SEED))
        .await
        .expect("start the fake");
    let fleet = fake.fleet();
    let (p, forbidden) = (&fleet.projects()[0], &fleet.projects()[1]);
    // The zonal cluster's zone: it holds node VMs, and GKE reports it too.
    let zone = p
        .clusters
        .iter()
        .filter_map(|c| c["location"].as_str())
        .find(|l| l.matches('-').count() == 2)
        .expect("a zonal cluster")
        .to_string();
    fake.set_faults(GcpFaults {
        forbidden_projects: vec![forbidden.id.clone()],
        unreachable_zones: vec![zone.clone()],
        ..GcpFaults::default()
    });
    let (pid, fid) = (p.id.as_str(), forbidden.id.as_str());
    let f = &fake;
    let (vms_forbidden, sas_forbidden, clusters_forbidden, projects, vms, clusters) = tokio::join!(
        gcloud(f, &["compute", "instances", "list", "--project", fid]),
        gcloud(f, &["iam", "service-accounts", "list", "--project", fid]),
        gcloud(f, &["container", "clusters", "list", "--project", fid]),
        gcloud(f, &["projects", "list"]),
        gcloud(f, &["compute", "instances", "list", "--project", pid]),
        gcloud(f, &["container", "clusters", "list", "--project", pid]),
    );

    // Compute lists turn a failed request into a warning (exit 0, no items).
    assert!(
        vms_forbidden.stderr.contains("Permission denied"),
        "{vms_forbidden:?}"
    );
    assert!(array(&vms_forbidden.json()).is_empty(), "{vms_forbidden:?}");
    sas_forbidden.failed_with("Permission denied");
    clusters_forbidden.failed_with("code=403");
    assert!(
        fake.requests()
            .iter()
            .any(|r| r.path.contains(&format!("/projects/{fid}/")) && r.status == 403)
    );
    // Listing a forbidden project is allowed; reading inside it is not.
    let all: BTreeSet<String> = fleet.projects().iter().map(|p| p.id.clone()).collect();
    assert_eq!(names(&projects.json(), "projectId"), all);

    let listed = names(&vms.json(), "name");
    let want: BTreeSet<String> = p
        .instances
        .iter()
        .filter(|i| zone_of(i) != zone)
        .filter_map(|i| i["name"].as_str().map(str::to_string))
        .collect();
    assert!(want.len() < p.instances.len(), "no instances in {zone}");
    assert_eq!(listed, want, "instances outside the unreachable zone");
    assert!(
        vms.stderr.contains("unreachable") && vms.stderr.contains(&zone),
        "gcloud did not report {zone}: {}",
        vms.stderr
    );

    let want: BTreeSet<String> = p
        .clusters
        .iter()
        .filter(|c| c["location"] != zone.as_str())
        .filter_map(|c| c["name"].as_str().map(str::to_string))
        .collect();
    assert_eq!(names(&clusters.json(), "name"), want);
    assert!(
        clusters
            .stderr
            .contains(&format!("did not respond: {zone}")),
        "{}",
        clusters.stderr
    );
    fake.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gcloud_retries_429_and_503_only_where_its_sources_say() {
    require_gcloud();
    let mut throttled = GcpFleetConfig::demo(SEED);
    throttled.faults.throttle_first = 1;
    let mut unavailable = GcpFleetConfig::demo(SEED);
    unavailable.faults.unavailable_first = 1;
    let throttled = GcpFake::start(throttled).await.expect("start");
    let unavailable = GcpFake::start(unavailable).await.expect("start");
    let p = throttled.fleet().projects()[0].clone();
    let pid = p.id.as_str();
    let (t, u) = (&throttled, &unavailable);
    let (t_clusters, t_accounts, u_accounts, u_buckets, u_clusters, u_firewalls) = tokio::join!(
        gcloud(t, &["container", "clusters", "list", "--project", pid]),
        gcloud(t, &["iam", "service-accounts", "list", "--project", pid]),
        gcloud(u, &["iam", "service-accounts", "list", "--project", pid]),
        gcloud(u, &["storage", "buckets", "list", "--project", pid]),
        gcloud(u, &["container", "clusters", "list", "--project", pid]),
        gcloud(u, &["compute", "firewall-rules", "list", "--project", pid]),
    );

    // 429: GKE retries, the shared check does not.
    assert_eq!(names(&t_clusters.json(), "name").len(), p.clusters.len());
    let clusters_path = format!("/v1/projects/{pid}/locations/-/clusters");
    assert_eq!(hits(t, &clusters_path), vec![429, 200]);
    t_accounts.failed_with("RESOURCE_EXHAUSTED");

    // 503: IAM and storage retry, GKE and Compute do not.
    assert_eq!(
        names(&u_accounts.json(), "email").len(),
        p.service_accounts.len()
    );
    let sa_path = format!("/v1/projects/{pid}/serviceAccounts");
    assert_eq!(hits(u, &sa_path), vec![503, 200, 200]);
    assert_eq!(array(&u_buckets.json()).len(), p.buckets.len());
    assert_eq!(hits(u, "/storage/v1/b"), vec![503, 200, 200]);
    u_clusters.failed_with("code=503");
    u_firewalls.failed_with("currently unavailable");
    assert_eq!(
        hits(u, &format!("/compute/v1/projects/{pid}/global/firewalls")),
        vec![503]
    );

    throttled.shutdown().await;
    unavailable.shutdown().await;
}
