//! AKS questions asked of kq and of the script a user would otherwise
//! write with az, kubectl and jq, in the same run against the same fakes:
//! the sim's Azure Resource Manager fake (az logged in to it) and one
//! simulated cluster whose Nodes are the fake's scale-set instances (name
//! and `spec.providerID` as AKS writes them).
//!
//! The join question is `queries/examples/azure/aks_nodes.sql`: each
//! Kubernetes node with the scale-set instance behind it.
//!
//! ```text
//! kq --azure-subscription S1,S2,… -f aks_nodes.sql
//! kubectl get nodes -o json
//! for s in S1 S2 …; do
//!   az vmss list --subscription $s -o json
//!   for each scale set: az vmss list-instances -g RG -n SET --subscription $s -o json
//!   jq …   # lower(providerID) = lower("azure://" + instance id)
//! done
//! ```
//!
//! Then `queries/examples/azure/admin_ports_open.sql`: the AKS nodes an
//! NSG rule opens to 22 or 3389 from the internet (node → scale set → the
//! NSG on its NIC or subnet → rules), beside `kubectl get nodes`, `az vmss
//! list` and `az network nsg list` per subscription, and jq.
//!
//! `KQ_BENCH_SUBSCRIPTIONS=4 cargo bench -p kq-benches --bench azure --profile dev`
//! (default 4 subscriptions of 3 scale sets, about 7 nodes each; builds kq
//! with `--features azure`, or takes `KQ_BIN`). Needs az (`.ci/setup`
//! installs it into `target/az-venv`), kubectl and jq. Each question's
//! answers must be the same rows, or the bench fails. Cloud requests are
//! the ARM requests in the fake's request log (the managed-identity token
//! requests are on a progress line of their own), Kubernetes requests are
//! counted by the sim.

use kq_benches::{
    BenchFleet, Side, env_size, kq_binary_with_features, measure_labeled, progress,
    same_answer_side_by_side, sh_quote, shell_env,
};
use kq_sim::azure::{AzureFake, AzureFaults, AzureFleetConfig, steers_az};

/// aks_nodes.sql over one subscription's instances (`$vms`: the arrays
/// `az vmss list-instances` printed, one per scale set) and the cluster's
/// Nodes, as `cluster,node,subscription,resource_group,scale_set,
/// instance_id,vm_size`: the node whose providerID is the instance's
/// `azure://` + ARM id, compared without case.
const JQ_NODES: &str = r#"
  ($nodes[0].items | map({key: (.spec.providerID // "" | ascii_downcase), value: .metadata.name})
   | from_entries) as $byid
  | $vms[][]
  | ($byid[("azure://\(.id)" | ascii_downcase)] // empty) as $node
  | (.id | split("/")) as $id
  | "\($cluster),\($node),\($sub),\($id[4]),\($id[8]),\(.instanceId),\(.sku.name)"
"#;

/// admin_ports_open.sql over one subscription's `az vmss list` (`$sets`),
/// `az network nsg list` (`$nsgs`) and the cluster's Nodes, as
/// `cluster,node,subscription,nsg,rule,source,ports,priority`: each node's
/// scale set (its providerID is an instance of it, compared without case),
/// the NSG on that scale set's primary NIC or on its subnet, and one row
/// per rule (default rules too) × destination port range × source prefix,
/// inbound, allow, tcp or `*`, from `*`, Internet, Any, 0.0.0.0/0 or
/// ::/0, the range (`*`: every port) covering 22 or 3389. az flattens
/// `properties`; `(.properties // .)` reads either shape.
const JQ_NSG: &str = r#"
  def props: (.properties // .);
  def primary: (map(select(props.primary == true)) + .)[0];
  $nodes[0].items[]
  | .metadata.name as $node
  | (.spec.providerID // "" | ascii_downcase) as $pid
  | $sets[0][]
  | ("azure://" + (.id | ascii_downcase) + "/virtualmachines/") as $instances
  | select($pid | startswith($instances))
  | (props.virtualMachineProfile.networkProfile.networkInterfaceConfigurations // [] | primary | props) as $nic
  | ($nic.networkSecurityGroup.id // "" | ascii_downcase) as $nsg_id
  | ($nic.ipConfigurations // [] | primary | props.subnet.id // "") as $subnet
  | $nsgs[0][]
  | select((.id | ascii_downcase) == $nsg_id or ((props.subnets // []) | map(.id) | index($subnet)))
  | . as $group
  | props as $g
  | (($g.securityRules // []) + ($g.defaultSecurityRules // []))[]
  | . as $rule
  | props as $r
  | select(($r.direction | ascii_downcase) == "inbound" and ($r.access | ascii_downcase) == "allow")
  | select($r.protocol == "*" or ($r.protocol | ascii_downcase) == "tcp")
  | ([$r.sourceAddressPrefix // empty | select(. != "")] + ($r.sourceAddressPrefixes // [])) as $sources
  | ([$r.destinationPortRange // empty | select(. != "")] + ($r.destinationPortRanges // []))[]
  | . as $ports
  | (if . == "*" then [0, 65535] else split("-") | map(tonumber) | [first, last] end)
  | select((first <= 22 and 22 <= last) or (first <= 3389 and 3389 <= last))
  | $sources[]
  | select(. == "*" or . == "Internet" or . == "Any" or . == "0.0.0.0/0" or . == "::/0")
  | "\($cluster),\($node),\($sub),\($group.name),\($rule.name),\(.),\($ports),\($r.priority)"
"#;

fn main() {
    let count = env_size("KQ_BENCH_SUBSCRIPTIONS", 4);
    let kq = kq_binary_with_features(&["azure"]);
    let fleet = BenchFleet::start(1, env_size("KQ_BENCH_PODS", 200));
    let names: Vec<String> = (0..count).map(|i| format!("team{i:03}")).collect();
    progress(format!("starting the Azure fake: {count} subscription(s)"));
    let fake = fleet
        .block_on(AzureFake::start(AzureFleetConfig {
            seed: 42,
            subscriptions: names,
            // Pages as large as ARM serves them by default.
            page_size: 0,
            faults: AzureFaults::default(),
        }))
        .expect("start the Azure fake");
    let subscriptions: Vec<String> = fake
        .fleet()
        .subscriptions()
        .iter()
        .map(|s| s.id.clone())
        .collect();

    // Every scale-set instance is a Node, named as AKS names it, with the
    // providerID AKS's cloud provider writes.
    let mut manifests = String::new();
    let mut nodes = 0;
    for subscription in fake.fleet().subscriptions() {
        for (name, provider_id) in subscription.node_provider_ids() {
            nodes += 1;
            manifests.push_str(&format!(
                "---\napiVersion: v1\nkind: Node\nmetadata:\n  name: {name}\nspec:\n  providerID: {provider_id}\n"
            ));
        }
    }
    progress(format!("adding {nodes} AKS nodes to the cluster"));
    fleet.apply("aks-nodes.yaml", &manifests);
    fleet.warm_kubectl();

    let dir = fleet.dir().join("az");
    progress("az login to the fake (custom cloud, managed identity)");
    if let Err(e) = fake.az_login(&dir) {
        panic!(
            "az login to the fake failed (.ci/setup installs azure-cli into target/az-venv): {e}"
        );
    }
    let env = shell_env(&fake.az_env(&dir), steers_az);
    let az = sh_quote(&AzureFake::az_program().display().to_string());
    let examples =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../queries/examples/azure");
    let kq_args = |example: &str| {
        format!(
            "{env}{}",
            fleet.kq_command(
                &kq,
                &format!(
                    "--azure-subscription {} -o csv --no-header -f {}",
                    sh_quote(&subscriptions.join(",")),
                    sh_quote(&examples.join(example).display().to_string())
                )
            )
        )
    };

    // Runs one script, counting the requests it sent to ARM and to the
    // Kubernetes sim; the token requests (to the managed-identity
    // endpoint, not ARM) are reported on their own line.
    let run = |label: &str, script: &str| {
        let before = fake.requests().len();
        fleet.reset_traffic();
        let measured = measure_labeled(label, script);
        let kube = fleet.traffic().requests;
        let served = fake.requests();
        let tokens = served[before..]
            .iter()
            .filter(|r| r.path.starts_with("/msi/"))
            .count();
        let arm = served.len() - before - tokens;
        progress(format!(
            "{label}: {arm} ARM requests, {tokens} token requests"
        ));
        Side {
            label: label.to_string(),
            run: measured,
            cloud_requests: arm,
            kube_requests: kube,
        }
    };

    let kq_side = run("kq", &kq_args("aks_nodes.sql"));
    let baseline = run(
        "az + kubectl + jq",
        &format!(
            r#"{env}set -e
d=$(mktemp -d); trap 'rm -rf "$d"' EXIT
{kubectl} > "$d/nodes.json"
for s in {subscriptions}; do
  {az} vmss list --subscription "$s" -o json > "$d/sets.json"
  jq -r '.[] | "\(.id | split("/")[4]) \(.name)"' "$d/sets.json" | while read -r g n; do
    {az} vmss list-instances -g "$g" -n "$n" --subscription "$s" -o json
  done > "$d/vms.json"
  jq -r -n --arg cluster cluster-0 --arg sub "$s" --slurpfile nodes "$d/nodes.json" \
    --slurpfile vms "$d/vms.json" {jq}
done"#,
            kubectl = fleet.kubectl_command("get nodes -o json"),
            subscriptions = subscriptions.join(" "),
            jq = sh_quote(JQ_NODES),
        ),
    );
    let rows = same_answer_side_by_side(
        &format!("aks_nodes.sql, {count} subscriptions, {nodes} nodes"),
        &kq_side,
        &baseline,
    );
    assert_eq!(rows.len(), nodes, "every node has its instance: {rows:?}");

    let kq_side = run("kq", &kq_args("admin_ports_open.sql"));
    let baseline = run(
        "az + kubectl + jq",
        &format!(
            r#"{env}set -e
d=$(mktemp -d); trap 'rm -rf "$d"' EXIT
{kubectl} > "$d/nodes.json"
for s in {subscriptions}; do
  {az} vmss list --subscription "$s" -o json > "$d/sets.json"
  {az} network nsg list --subscription "$s" -o json > "$d/nsgs.json"
  jq -r -n --arg cluster cluster-0 --arg sub "$s" --slurpfile nodes "$d/nodes.json" \
    --slurpfile sets "$d/sets.json" --slurpfile nsgs "$d/nsgs.json" {jq}
done"#,
            kubectl = fleet.kubectl_command("get nodes -o json"),
            subscriptions = subscriptions.join(" "),
            jq = sh_quote(JQ_NSG),
        ),
    );
    let rows = same_answer_side_by_side(
        &format!("admin_ports_open.sql, {count} subscriptions"),
        &kq_side,
        &baseline,
    );
    assert!(!rows.is_empty(), "the fake opens SSH to some AKS nodes");
    fleet.block_on(fake.shutdown());
    fleet.shutdown();
}
