//! `kq report`, beside the kubectl + jq loop a user would otherwise run,
//! in the same run against the same simulated cluster.
//!
//! The comparison is one control both can express:
//! `baseline.privileged` (workloads with a privileged container, every
//! workload kind through its pod template, plus pods no controller owns)
//! against one `kubectl get` of the same kinds piped into jq. Both must
//! name the same workloads, or the bench fails. Then the whole built-in
//! report (every pack) is timed on its own, with the number of list
//! requests it sent: each resource once, however many controls read it.
//!
//! `KQ_BENCH_PODS=10000 cargo bench -p kq-benches --bench report`
//! (default 10 000 pods; `--profile dev` to skip the release build).

use kq_benches::{BenchFleet, env_size, kq_binary, lines, measure, progress, sh_quote};

/// The workloads whose pod template (or own spec, for a pod no controller
/// owns) has a privileged container, as `Kind/namespace/name`.
const JQ: &str = r#".items[]
  | select(.kind != "Job" or (((.metadata.ownerReferences // []) | map(.kind) | index("CronJob")) | not))
  | select(.kind != "Pod" or (((.metadata.ownerReferences // []) | map(.kind)
      | map(select(. == "ReplicaSet" or . == "StatefulSet" or . == "DaemonSet" or . == "Job")) | length) == 0))
  | {k: .kind, ns: .metadata.namespace, n: .metadata.name,
     s: (if .kind == "CronJob" then .spec.jobTemplate.spec.template.spec
         elif .kind == "Pod" then .spec else .spec.template.spec end)}
  | select([(.s.initContainers // [])[], (.s.containers // [])[], (.s.ephemeralContainers // [])[]
            | .securityContext.privileged == true] | any)
  | "\(.k)/\(.ns)/\(.n)""#;

const KQ_ALARMS: &str =
    r#".controls[].findings[] | select(.status == "alarm") | "\(.kind)/\(.namespace)/\(.name)""#;

fn main() {
    let pods = env_size("KQ_BENCH_PODS", 10_000);
    let kq = kq_binary();
    let fleet = BenchFleet::start(1, pods);
    fleet.warm_kubectl();

    progress("kq report --control baseline.privileged");
    let kq_run = measure(&format!(
        "{} | jq -r {}",
        fleet.kq_command(
            &kq,
            "report --control baseline.privileged --format json --fail-on critical"
        ),
        sh_quote(KQ_ALARMS)
    ));
    progress(format!(
        "kq done in {:.2} s; kubectl get deployments,statefulsets,daemonsets,jobs,cronjobs,pods -A -o json | jq",
        kq_run.seconds
    ));
    let baseline = measure(&format!(
        "{} | jq -r {}",
        fleet.kubectl_command(
            "get deployments,statefulsets,daemonsets,jobs,cronjobs,pods -A -o json"
        ),
        sh_quote(JQ)
    ));
    progress(format!(
        "kubectl + jq done in {:.2} s; comparing answers",
        baseline.seconds
    ));
    assert!(
        !lines(&kq_run.stdout).is_empty(),
        "the fleet has privileged workloads"
    );
    assert_eq!(
        lines(&kq_run.stdout),
        lines(&baseline.stdout),
        "kq and kubectl + jq disagree"
    );
    println!(
        "privileged workloads, {pods} pods ({} workloads): kq report {:.2} s, {:.0} MB peak | kubectl + jq {:.2} s, {:.0} MB peak | kq is {:.1}x faster with 1/{:.1} of the memory",
        lines(&kq_run.stdout).len(),
        kq_run.seconds,
        kq_run.rss_mb(),
        baseline.seconds,
        baseline.rss_mb(),
        baseline.seconds / kq_run.seconds.max(0.01),
        baseline.max_rss_kb as f64 / kq_run.max_rss_kb.max(1) as f64,
    );

    let cluster = &fleet.fleet().clusters()[0];
    cluster.reset_counters();
    let out = fleet.dir().join("full-report");
    progress("kq report, every built-in pack");
    // Exit 1 (alarms found) is the expected outcome, not a failure.
    let full = measure(&format!(
        "{}; test $? -le 1",
        fleet.kq_command(
            &kq,
            &format!(
                "report --out {} --format html,sarif",
                sh_quote(&out.display().to_string())
            ),
        )
    ));
    let counters = cluster.counters();
    let lists = counters
        .requests
        .iter()
        .filter(|r| r.verb == "list")
        .count();
    let controls = std::fs::read_to_string(out.join("latest/report.json"))
        .ok()
        .and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok())
        .and_then(|r| r["controls"].as_array().map(Vec::len))
        .unwrap_or(0);
    assert!(controls > 0, "the full report ran: {}", full.stdout);
    println!(
        "full report, {pods} pods: {controls} controls in {:.2} s, {:.0} MB peak, {lists} list requests ({:.1} per control)",
        full.seconds,
        full.rss_mb(),
        lists as f64 / controls as f64,
    );
    fleet.shutdown();
}
