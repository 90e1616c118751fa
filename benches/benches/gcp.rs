//! A GKE join question, `queries/examples/gcp/ssh_open_nodes.sql` (nodes
//! whose VM a firewall rule opens to SSH from anywhere), asked of kq and
//! of the script a user would otherwise write, in the same run against
//! the same fakes: the sim's GCP fake and one simulated cluster whose
//! Nodes are the fake's GKE instances (name and `spec.providerID` as GKE
//! writes them).
//!
//! ```text
//! kq --gcp-project P1,P2,… -f ssh_open_nodes.sql
//! kubectl get nodes -o json
//! for p in P1 P2 …; do
//!   gcloud compute instances list --project $p --format json
//!   gcloud compute firewall-rules list --project $p --format json
//!   jq …   # the same join and filters as the SQL
//! done
//! ```
//!
//! `KQ_BENCH_PROJECTS=10 cargo bench -p kq-benches --bench gcp --profile dev`
//! (default 10 projects of 9 VMs each, 7 of them GKE nodes; builds kq with
//! `--features gcp`, or takes `KQ_BIN`). Needs gcloud (`/usr/bin/gcloud`),
//! kubectl and jq. Both answers must be the same rows, or the bench fails.
//! Cloud requests are counted by the fake's request log, Kubernetes
//! requests by the sim.

use kq_benches::{
    BenchFleet, Side, env_size, kq_binary_with_features, measure_labeled, progress,
    same_answer_side_by_side, sh_quote, shell_env,
};
use kq_sim::gcp::{GcpFake, GcpFaults, GcpFleetConfig, steers_gcloud};

/// The SQL's question over one project's gcloud lists (`$vms`, `$rules`)
/// and the cluster's Nodes, one row per node × rule × allowed entry ×
/// port range × source, as `cluster,node,project,zone,rule,source`: an
/// ingress allow rule, not disabled, tcp or all, covering port 22 (an
/// entry without ports covers all), from 0.0.0.0/0 or ::/0, on the VM's
/// network, with no targets, a target tag the VM carries, or the service
/// account it runs as.
const JQ: &str = r#"
  ($nodes[0].items | map({key: (.spec.providerID // ""), value: .metadata.name}) | from_entries) as $byid
  | $vms[0][]
  | . as $vm
  | (.selfLink | capture("/projects/(?<p>[^/]+)/zones/(?<z>[^/]+)/instances/(?<n>[^/]+)$")) as $at
  | ($byid["gce://\($at.p)/\($at.z)/\($at.n)"] // empty) as $node
  | (.networkInterfaces[0].network | split("/") | last) as $net
  | (.tags.items // []) as $tags
  | ([(.serviceAccounts // [])[].email]) as $accounts
  | $rules[0][]
  | select((.network | split("/") | last) == $net)
  | select(.direction == "INGRESS" and (.disabled | not))
  | select((((.targetTags // []) | length) == 0 and ((.targetServiceAccounts // []) | length) == 0)
           or any((.targetTags // [])[]; . as $t | $tags | index($t))
           or any((.targetServiceAccounts // [])[]; . as $a | $accounts | index($a)))
  | . as $rule
  | (.allowed // [])[]
  | select((.IPProtocol | ascii_downcase) as $p | $p == "tcp" or $p == "all")
  | (if ((.ports // []) | length) == 0 then [0, 65535]
     else .ports[] | split("-") | map(tonumber) | [first, last] end)
  | select(first <= 22 and 22 <= last)
  | ($rule.sourceRanges // [])[]
  | select(. == "0.0.0.0/0" or . == "::/0")
  | "\($cluster),\($node),\($at.p),\($at.z),\($rule.name),\(.)"
"#;

fn main() {
    let project_count = env_size("KQ_BENCH_PROJECTS", 10);
    let kq = kq_binary_with_features(&["gcp"]);
    let fleet = BenchFleet::start(1, env_size("KQ_BENCH_PODS", 200));
    let projects: Vec<String> = (0..project_count)
        .map(|i| format!("kq-team{i:03}"))
        .collect();
    progress(format!("starting the GCP fake: {project_count} project(s)"));
    let fake = fleet
        .block_on(GcpFake::start(GcpFleetConfig {
            seed: 42,
            projects: projects.clone(),
            // Pages as large as the client asks (gcloud: 500), as Compute serves them.
            page_size: 0,
            faults: GcpFaults::default(),
        }))
        .expect("start the GCP fake");

    // GKE's instances are the cluster's Nodes, named as GKE names them,
    // with the providerID GKE's cloud provider writes.
    let mut manifests = String::new();
    let (mut vms, mut nodes) = (0, 0);
    for project in fake.fleet().projects() {
        for vm in &project.instances {
            vms += 1;
            let name = vm["name"].as_str().unwrap_or_default();
            if !name.starts_with("gke-") {
                continue;
            }
            nodes += 1;
            let zone = vm["zone"]
                .as_str()
                .and_then(|z| z.rsplit('/').next())
                .unwrap_or_default();
            manifests.push_str(&format!(
                "---\napiVersion: v1\nkind: Node\nmetadata:\n  name: {name}\n  labels:\n    topology.kubernetes.io/zone: {zone}\nspec:\n  providerID: gce://{}/{zone}/{name}\n",
                project.id
            ));
        }
    }
    progress(format!("adding {nodes} GKE nodes to the cluster"));
    fleet.apply("gke-nodes.yaml", &manifests);
    fleet.warm_kubectl();

    let env = shell_env(&fake.gcloud_env(&fleet.dir().join("gcloud")), steers_gcloud);
    progress("warming gcloud (its first run writes its configuration)");
    measure_labeled(
        "gcloud config list",
        &format!("{env}gcloud config list >/dev/null 2>&1"),
    );
    let sql = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../queries/examples/gcp/ssh_open_nodes.sql");

    let before = fake.requests().len();
    fleet.reset_traffic();
    let kq_run = measure_labeled(
        "kq -f ssh_open_nodes.sql",
        &format!(
            "{env}{}",
            fleet.kq_command(
                &kq,
                &format!(
                    "--gcp-project {} -o csv --no-header -f {}",
                    sh_quote(&projects.join(",")),
                    sh_quote(&sql.display().to_string())
                )
            )
        ),
    );
    let kq_side = Side {
        label: "kq".to_string(),
        cloud_requests: fake.requests().len() - before,
        kube_requests: fleet.traffic().requests,
        run: kq_run,
    };

    let before = fake.requests().len();
    fleet.reset_traffic();
    let baseline = measure_labeled(
        "gcloud + kubectl + jq",
        &format!(
            r#"{env}set -e
d=$(mktemp -d); trap 'rm -rf "$d"' EXIT
{kubectl} > "$d/nodes.json"
for p in {projects}; do
  gcloud compute instances list --project "$p" --format json > "$d/vms.json"
  gcloud compute firewall-rules list --project "$p" --format json > "$d/rules.json"
  jq -r -n --arg cluster cluster-0 --slurpfile nodes "$d/nodes.json" \
    --slurpfile vms "$d/vms.json" --slurpfile rules "$d/rules.json" {jq}
done"#,
            kubectl = fleet.kubectl_command("get nodes -o json"),
            projects = projects.join(" "),
            jq = sh_quote(JQ),
        ),
    );
    let baseline = Side {
        label: "gcloud + kubectl + jq".to_string(),
        cloud_requests: fake.requests().len() - before,
        kube_requests: fleet.traffic().requests,
        run: baseline,
    };

    let rows = same_answer_side_by_side(
        &format!("ssh_open_nodes.sql, {project_count} projects, {vms} VMs, {nodes} nodes"),
        &kq_side,
        &baseline,
    );
    assert!(!rows.is_empty(), "the fake seeds SSH open to the world");
    fleet.block_on(fake.shutdown());
    fleet.shutdown();
}
