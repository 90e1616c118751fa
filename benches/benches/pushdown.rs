//! Pushdown: what the API servers send for a filtered query against an
//! unfiltered one, kq beside kubectl, from the sim's own counters (bytes
//! sent and requests served, summed over clusters):
//!
//! ```text
//! kq -A "SELECT name FROM pods"                                   kubectl get pods -A -o json
//! kq -A "SELECT name FROM pods WHERE namespace = 'X'"             kubectl get pods -n X -o json
//! kq -A "SELECT name FROM pods WHERE labels['app'] = 'mysql'"     kubectl get pods -A -l app=mysql -o json
//! ```
//!
//! `KQ_BENCH_PODS=10000 KQ_BENCH_CLUSTERS=1 cargo bench -p kq-benches --bench pushdown`
//! (defaults: 1 cluster of 10 000 pods). X is the namespace of the first
//! pod of `cluster-0`. kubectl runs once per context with a warm discovery
//! cache, so its figures are the lists alone. kq and kubectl must count the
//! same pods for each filter, or the bench fails.

use kq_benches::{
    BenchFleet, Traffic, client_for, env_size, get_bytes, kq_binary, measure, progress, sh_quote,
};

struct Row {
    label: String,
    traffic: Traffic,
    pods: usize,
    seconds: f64,
}

/// Bytes `row` made the sim send, relative to `base`.
fn ratio(row: &Row, base: &Row) -> f64 {
    row.traffic.bytes_sent as f64 / base.traffic.bytes_sent.max(1) as f64
}

fn main() {
    let pods = env_size("KQ_BENCH_PODS", 10_000);
    let clusters = env_size("KQ_BENCH_CLUSTERS", 1).max(1);
    let kq = kq_binary();
    let fleet = BenchFleet::start(clusters, pods);
    fleet.warm_kubectl();
    let contexts = fleet.contexts();
    let all: Vec<String> = contexts.iter().map(|c| sh_quote(c)).collect();
    let all = all.join(" ");

    let namespace = fleet.block_on(async {
        let client = client_for(fleet.fleet(), &contexts[0]).await;
        let body = get_bytes(&client, "/api/v1/pods?limit=1").await;
        let list: serde_json::Value = serde_json::from_slice(&body).expect("pod list");
        list["items"][0]["metadata"]["namespace"]
            .as_str()
            .expect("the first pod has a namespace")
            .to_string()
    });
    progress(format!("X = {namespace} (namespace of the first pod)"));

    // Runs a script with fresh counters; returns what the sim served.
    let observe = |label: String, script: String, count: &dyn Fn(&str) -> usize| -> Row {
        progress(format!("{label}: running"));
        fleet.reset_traffic();
        let m = measure(&script);
        let traffic = fleet.traffic();
        let pods = count(&m.stdout);
        progress(format!(
            "{label}: {pods} pods, {} requests, {:.2} MB in {:.2} s",
            traffic.requests,
            traffic.bytes_sent as f64 / 1e6,
            m.seconds
        ));
        Row {
            label,
            traffic,
            pods,
            seconds: m.seconds,
        }
    };
    let kq_rows = |text: &str| text.lines().filter(|l| !l.trim().is_empty()).count();
    let kubectl_items = |text: &str| {
        text.lines()
            .filter_map(|l| l.trim().parse::<usize>().ok())
            .sum()
    };
    let kq_query = |sql: String| {
        let script = fleet.kq_command(&kq, &format!("-A -o csv --no-header {}", sh_quote(&sql)));
        observe(format!("kq -A \"{sql}\""), script, &kq_rows)
    };
    let kubectl = |args: String| {
        let script = format!(
            "for c in {all}; do {} | jq '.items | length'; done",
            fleet.kubectl_command(&format!("--context \"$c\" {args}"))
        );
        observe(
            format!("kubectl {args} (x{clusters})"),
            script,
            &kubectl_items,
        )
    };

    let ns = namespace.as_str();
    let kq_all = kq_query("SELECT name FROM pods".to_string());
    let kubectl_all = kubectl("get pods -A -o json".to_string());
    let filtered = [
        (
            "namespace",
            kq_query(format!("SELECT name FROM pods WHERE namespace = '{ns}'")),
            kubectl(format!("get pods -n {} -o json", sh_quote(ns))),
        ),
        (
            "labels",
            kq_query("SELECT name FROM pods WHERE labels['app'] = 'mysql'".to_string()),
            kubectl("get pods -A -l app=mysql -o json".to_string()),
        ),
    ];

    assert_eq!(
        kq_all.pods, kubectl_all.pods,
        "kq and kubectl count different pods unfiltered"
    );
    for (what, kq_filtered, kubectl_filtered) in &filtered {
        assert_eq!(
            kq_filtered.pods, kubectl_filtered.pods,
            "kq and kubectl count different pods filtered by {what}"
        );
    }

    println!(
        "pushdown: {clusters} cluster(s) x {pods} pods; bytes and requests the sim served, summed over clusters"
    );
    println!(
        "  {:<70} {:>7} {:>5} {:>5} {:>12} {:>9} {:>7}",
        "query", "pods", "reqs", "lists", "bytes", "vs all", "wall s"
    );
    let print = |row: &Row, base: &Row| {
        println!(
            "  {:<70} {:>7} {:>5} {:>5} {:>12} {:>8.4}x {:>7.2}",
            row.label,
            row.pods,
            row.traffic.requests,
            row.traffic.lists,
            row.traffic.bytes_sent,
            ratio(row, base),
            row.seconds,
        );
    };
    print(&kq_all, &kq_all);
    for (_, kq_filtered, _) in &filtered {
        print(kq_filtered, &kq_all);
    }
    print(&kubectl_all, &kubectl_all);
    for (_, _, kubectl_filtered) in &filtered {
        print(kubectl_filtered, &kubectl_all);
    }
    for (what, kq_filtered, kubectl_filtered) in &filtered {
        println!(
            "  {what}: filtered / unfiltered bytes: kq {:.4}x, kubectl {:.4}x; kq / kubectl bytes: {:.3}x filtered, {:.3}x unfiltered",
            ratio(kq_filtered, &kq_all),
            ratio(kubectl_filtered, &kubectl_all),
            ratio(kq_filtered, kubectl_filtered),
            ratio(&kq_all, &kubectl_all),
        );
    }
    fleet.shutdown();
}
