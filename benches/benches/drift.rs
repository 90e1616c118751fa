//! Drift between manifests and a cluster: `kq diff --manifests` beside
//! `kubectl diff -f`, the command a user would otherwise run, in the same
//! run against the same simulated cluster:
//!
//! ```text
//! kubectl get deployments,services,configmaps -A -o yaml > all.yaml   # the "git" copy
//! kubectl scale deployment … --replicas=…                          # three drifts
//! kq diff --manifests all.yaml
//! kubectl diff -f all.yaml
//! ```
//!
//! `KQ_BENCH_PODS=10000 cargo bench -p kq-benches --bench drift` (default
//! 2 000 pods, about a thousand declared objects). kubectl diff sends one
//! server-side dry-run PATCH per object (a write verb kq never uses); kq
//! lists each kind once per namespace the files use. Both must name the
//! three scaled Deployments, or the bench fails. Requests are counted by
//! the sim.

use kq_benches::{BenchFleet, env_size, kq_binary, measure_labeled, progress, sh_quote};

fn main() {
    let pods = env_size("KQ_BENCH_PODS", 2_000);
    let kq = kq_binary();
    let fleet = BenchFleet::start(1, pods);
    fleet.warm_kubectl();
    let file = fleet.dir().join("all.yaml");
    let file_arg = sh_quote(&file.display().to_string());
    progress("exporting deployments, services and configmaps as the declared state");
    let export = measure_labeled(
        "kubectl get -o yaml",
        &format!(
            "{} > {file_arg}",
            fleet.kubectl_command("get deployments,services,configmaps -A -o yaml")
        ),
    );
    drop(export);
    let objects = std::fs::read_to_string(&file)
        .expect("read the export")
        .lines()
        .filter(|l| l.starts_with("- apiVersion:"))
        .count();
    let listed = measure_labeled(
        "pick three deployments",
        &fleet.kubectl_command(
            "get deployments -A --no-headers -o custom-columns=NS:.metadata.namespace,NAME:.metadata.name",
        ),
    );
    let scaled: Vec<(String, String)> = listed
        .stdout
        .lines()
        .step_by(7)
        .take(3)
        .filter_map(|l| {
            let mut parts = l.split_whitespace();
            Some((parts.next()?.to_string(), parts.next()?.to_string()))
        })
        .collect();
    assert_eq!(scaled.len(), 3, "the cluster has deployments to scale");
    for (namespace, name) in &scaled {
        measure_labeled(
            "kubectl scale",
            &fleet.kubectl_command(&format!(
                "scale deployment {} -n {} --replicas=17",
                sh_quote(name),
                sh_quote(namespace)
            )),
        );
    }

    fleet.reset_traffic();
    let kq_run = measure_labeled(
        "kq diff --manifests",
        &format!(
            "{}; test $? -le 1",
            fleet.kq_command(
                &kq,
                &format!("--context cluster-0 diff --manifests {file_arg} -o csv --no-header")
            )
        ),
    );
    let kq_traffic = fleet.traffic();
    fleet.reset_traffic();
    let kubectl_run = measure_labeled(
        "kubectl diff -f",
        &format!(
            "{} | grep -c '^diff '; test $? -le 1",
            fleet.kubectl_command(&format!("diff -f {file_arg}"))
        ),
    );
    let kubectl_traffic = fleet.traffic();

    let kq_lines: Vec<&str> = kq_run.stdout.lines().collect();
    for (namespace, name) in &scaled {
        assert!(
            kq_lines.iter().any(|l| l.starts_with(&format!(
                "cluster-0,{namespace},{name},Deployment,changed,spec.replicas,"
            ))),
            "kq names {namespace}/{name}: {kq_lines:?}"
        );
    }
    println!(
        "drift, {objects} declared objects, 3 scaled: kq diff --manifests {:.2} s, {:.0} MB peak, {} requests ({} lists), {} lines | kubectl diff -f {:.2} s, {:.0} MB peak, {} requests, {} objects shown | kq is {:.1}x faster with 1/{:.1} of the requests",
        kq_run.seconds,
        kq_run.rss_mb(),
        kq_traffic.requests,
        kq_traffic.lists,
        kq_lines.len(),
        kubectl_run.seconds,
        kubectl_run.rss_mb(),
        kubectl_traffic.requests,
        kubectl_run.stdout.trim(),
        kubectl_run.seconds / kq_run.seconds.max(0.01),
        kubectl_traffic.requests as f64 / kq_traffic.requests.max(1) as f64,
    );
    fleet.shutdown();
}
