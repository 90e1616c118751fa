//! The live cache, kq beside what a user would run without it, in the same
//! run against the same simulated cluster:
//!
//! ```text
//! cached GROUP BY (in-process live session; cold = list + fill, then warm runs over memory):
//!   SELECT namespace, phase, count(*) AS pods FROM pods GROUP BY namespace, phase ORDER BY namespace, phase
//!   kubectl get pods -A -o json | jq '.items | group_by(...) | ...'
//! change → printed line (one pod's label set in the sim, until the line naming it is read):
//!   kq watch --changes "SELECT namespace, name, labels['bench'] AS bench FROM pods"
//!   kubectl get pods -A --watch --no-headers -o custom-columns=NS:.metadata.namespace,NAME:.metadata.name,BENCH:.metadata.labels.bench
//! ```
//!
//! `KQ_BENCH_PODS=100000 cargo bench -p kq-benches --bench live`
//! (default 10 000 pods; `KQ_BENCH_SAMPLES` changes, default 100). The
//! GROUP BY runs once cold and 20 times warm; the issue's target is a warm
//! run of at most 50 ms at 100k pods. Both sides must count the same
//! (namespace, phase) groups, or the bench fails. kubectl's discovery
//! cache is warm, as a user's would be. `KQ_BIN` picks the kq binary
//! (default: this workspace's, built in the bench's own profile).
//!
//! Watch latency is taken one change at a time: t0 just before the sim
//! applies the change in-process (watchers get MODIFIED), t1 when the
//! child's stdout line naming that pod with the new label value is read.
//! kq's figure includes its debounce (`--debounce`, 50 ms by default) and
//! a re-run of the query over memory; kubectl only prints the object. The
//! two watchers run one after the other, so neither slows the other.
//! kubectl prints custom columns, not `-o jsonpath`: with `--watch`, a
//! list of more than one page (500 pods) reaches jsonpath as one List per
//! page, which prints one empty line per page instead of one per pod.
//! Nothing waits on time: each step waits for a line, with a generous
//! timeout that fails the bench with the child's stderr.

use std::io::{BufRead, BufReader, Read};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use arrow::util::display::array_value_to_string;
use futures::StreamExt;
use kq_benches::{BenchFleet, env_size, kq_binary, lines, measure, progress, sh_quote};
use kq_engine::Engine;
use kq_providers::failures::FailureLog;
use kq_providers::kubernetes::KubeSchema;
use kq_providers::kubernetes::config::{
    ConnectOptions, ContextSelector, KubeconfigSource, connect,
};
use kq_providers::kubernetes::scan::ScanOptions;
use kq_providers::kubernetes::tables::TableOptions;

const GROUP_BY: &str = "SELECT namespace, phase, count(*) AS pods FROM pods \
                        GROUP BY namespace, phase ORDER BY namespace, phase";
/// The same groups as `namespace,phase,count` lines (a missing phase is "", as kq prints NULL).
const GROUP_BY_JQ: &str = r#".items | group_by([.metadata.namespace, (.status.phase // "")])[] | "\(.[0].metadata.namespace),\(.[0].status.phase // ""),\(length)""#;
const WARM_RUNS: usize = 20;

const WATCH_QUERY: &str = "SELECT namespace, name, labels['bench'] AS bench FROM pods";
/// One line per pod event: `namespace name bench` (`<none>` without the label).
const KUBECTL_COLUMNS: &str =
    "NS:.metadata.namespace,NAME:.metadata.name,BENCH:.metadata.labels.bench";
/// Bound on the initial result of a watch (a list of every pod, then printing it).
const INITIAL_TIMEOUT: Duration = Duration::from_secs(900);
/// Bound on one change reaching stdout: a hang, not a timing assumption.
const CHANGE_TIMEOUT: Duration = Duration::from_secs(120);

fn main() {
    let pods = env_size("KQ_BENCH_PODS", 10_000);
    let samples = env_size("KQ_BENCH_SAMPLES", 100).max(1);
    let kq = kq_binary();
    let fleet = BenchFleet::start(1, pods);
    fleet.warm_kubectl();

    cached_group_by(&fleet, pods);

    let kq_command = {
        let mut command = Command::new(kq.path());
        command.arg("--kubeconfig").arg(fleet.kubeconfig()).args([
            "watch",
            "--changes",
            WATCH_QUERY,
        ]);
        command
    };
    let kq_latencies = watch_latencies(&fleet, "kq watch", kq_command, samples, "kq", parse_kq);

    let kubectl_script = format!(
        "exec {}",
        fleet.kubectl_command(&format!(
            "get pods -A --watch --no-headers -o custom-columns={}",
            sh_quote(KUBECTL_COLUMNS)
        ))
    );
    let mut kubectl_command = Command::new("sh");
    kubectl_command.arg("-c").arg(&kubectl_script);
    let kubectl_latencies = watch_latencies(
        &fleet,
        "kubectl --watch",
        kubectl_command,
        samples,
        "kubectl",
        parse_kubectl,
    );

    println!(
        "watch latency, {pods} pods, {samples} changes: kq p50 {:.1} ms p99 {:.1} ms (max {:.1} ms) | kubectl --watch p50 {:.1} ms p99 {:.1} ms (max {:.1} ms)",
        percentile_ms(&kq_latencies, 50.0),
        percentile_ms(&kq_latencies, 99.0),
        percentile_ms(&kq_latencies, 100.0),
        percentile_ms(&kubectl_latencies, 50.0),
        percentile_ms(&kubectl_latencies, 99.0),
        percentile_ms(&kubectl_latencies, 100.0),
    );
    fleet.shutdown();
}

/// Part 1: the GROUP BY over a live session, cold then warm, beside kubectl + jq.
fn cached_group_by(fleet: &BenchFleet, pods: usize) {
    progress("kq: connecting an in-process live session");
    let engine = fleet.block_on(async {
        let conns = connect(
            &KubeconfigSource::File(fleet.kubeconfig().to_path_buf()),
            &ContextSelector::All,
            &ConnectOptions::default(),
        )
        .await
        .expect("the sim kubeconfig connects");
        let failures = FailureLog::new();
        let schema = KubeSchema::new(
            conns,
            failures.clone(),
            ScanOptions {
                live: true,
                ..ScanOptions::default()
            },
            TableOptions::default(),
        );
        Engine::new(schema, failures, Vec::new()).expect("engine")
    });

    progress(format!("kq cold (list + fill the cache): {GROUP_BY}"));
    let (cold, kq_groups) = timed_query(fleet, &engine, GROUP_BY);
    progress(format!(
        "kq cold done in {:.1} ms ({} groups); {WARM_RUNS} warm runs",
        ms(cold),
        kq_groups.len()
    ));
    let mut warm = Vec::with_capacity(WARM_RUNS);
    for _ in 0..WARM_RUNS {
        let (elapsed, groups) = timed_query(fleet, &engine, GROUP_BY);
        assert_eq!(groups, kq_groups, "a warm run disagrees with the cold one");
        warm.push(elapsed);
    }
    // Its watches would otherwise keep running beside part 2.
    drop(engine);
    let warm_p50 = percentile_ms(&warm, 50.0);
    progress(format!(
        "kq warm p50 {warm_p50:.1} ms; kubectl get pods -A -o json | jq"
    ));

    let baseline = measure(&format!(
        "{} | jq -r {}",
        fleet.kubectl_command("get pods -A -o json"),
        sh_quote(GROUP_BY_JQ)
    ));
    progress(format!(
        "kubectl + jq done in {:.2} s; comparing answers",
        baseline.seconds
    ));
    assert_eq!(
        lines(&kq_groups.join("\n")),
        lines(&baseline.stdout),
        "kq and kubectl + jq disagree on the groups"
    );
    println!(
        "cached GROUP BY, {pods} pods ({} groups): kq cold {:.1} ms, warm p50 {warm_p50:.1} ms (max {:.1} ms) | kubectl + jq {:.0} ms | warm kq is {:.0}x faster",
        kq_groups.len(),
        ms(cold),
        percentile_ms(&warm, 100.0),
        baseline.seconds * 1000.0,
        baseline.seconds * 1000.0 / warm_p50.max(0.001),
    );
}

/// Runs one query to the end; its wall time and its rows as comma-joined lines (NULL is "").
fn timed_query(fleet: &BenchFleet, engine: &Engine, sql: &str) -> (Duration, Vec<String>) {
    fleet.block_on(async {
        let started = Instant::now();
        let statement = engine
            .parse(sql)
            .expect("the query parses")
            .pop_front()
            .expect("one statement");
        let output = engine
            .run_statement(statement)
            .await
            .expect("the query plans");
        let mut stream = output.stream;
        let mut batches = Vec::new();
        while let Some(batch) = stream.next().await {
            batches.push(batch.expect("the query runs"));
        }
        let elapsed = started.elapsed();
        let mut rows = Vec::new();
        for batch in &batches {
            for row in 0..batch.num_rows() {
                let cells: Vec<String> = batch
                    .columns()
                    .iter()
                    .map(|column| array_value_to_string(column, row).expect("printable cell"))
                    .collect();
                rows.push(cells.join(","));
            }
        }
        (elapsed, rows)
    })
}

/// One stdout line of a watcher, as (namespace, name, bench label) and
/// whether it belongs to the initial result.
struct Seen {
    initial: bool,
    namespace: String,
    name: String,
    bench: Option<String>,
}

/// `kq watch --changes`: `added` lines first, then `updated` ones (status lines are skipped).
fn parse_kq(line: &str) -> Option<Seen> {
    let value: serde_json::Value = serde_json::from_str(line)
        .unwrap_or_else(|e| panic!("kq watch printed a line that is not JSON ({e}): {line}"));
    let initial = match value["op"].as_str() {
        Some("added") => true,
        Some("updated") => false,
        _ => return None,
    };
    let row = &value["row"];
    Some(Seen {
        initial,
        namespace: row["namespace"].as_str()?.to_string(),
        name: row["name"].as_str()?.to_string(),
        bench: row["bench"].as_str().map(str::to_string),
    })
}

/// kubectl's custom-columns lines: `namespace name bench`. Which lines are
/// the initial list is told by counting, so every line is "initial" here.
fn parse_kubectl(line: &str) -> Option<Seen> {
    let mut fields = line.split_whitespace();
    let (namespace, name, bench) = (fields.next()?, fields.next()?, fields.next()?);
    Some(Seen {
        initial: true,
        namespace: namespace.to_string(),
        name: name.to_string(),
        bench: (bench != "<none>").then(|| bench.to_string()),
    })
}

/// A watcher child: its stdout lines stamped when read, its stderr kept for failures.
struct Watcher {
    label: &'static str,
    child: Child,
    lines: Receiver<(Instant, String)>,
    stderr: Arc<Mutex<String>>,
    /// Lines read so far, and the last one (for failure messages).
    read: usize,
    last: String,
}

impl Watcher {
    fn spawn(label: &'static str, mut command: Command) -> Watcher {
        let mut child = command
            .env_remove("KUBECONFIG")
            .env_remove("KQ_KUBECONFIG")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {label}: {e}"));
        let stdout = child.stdout.take().expect("piped stdout");
        let (tx, lines) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send((Instant::now(), line)).is_err() {
                    break;
                }
            }
        });
        let stderr = Arc::new(Mutex::new(String::new()));
        let sink = stderr.clone();
        let mut pipe = child.stderr.take().expect("piped stderr");
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n) = pipe.read(&mut buf) {
                if n == 0 {
                    break;
                }
                sink.lock()
                    .expect("stderr buffer")
                    .push_str(&String::from_utf8_lossy(&buf[..n]));
            }
        });
        Watcher {
            label,
            child,
            lines,
            stderr,
            read: 0,
            last: String::new(),
        }
    }

    /// The next line, or a panic naming what was awaited if none comes by `deadline`.
    fn next_line(&mut self, deadline: Instant, waiting_for: &str) -> (Instant, String) {
        let left = deadline.saturating_duration_since(Instant::now());
        let failure = match self.lines.recv_timeout(left) {
            Ok((at, line)) => {
                self.read += 1;
                self.last.clone_from(&line);
                return (at, line);
            }
            Err(RecvTimeoutError::Timeout) => "did not print it in time",
            Err(RecvTimeoutError::Disconnected) => "ended its output",
        };
        panic!(
            "{} {failure} while we waited for {waiting_for} ({} lines read, the last: {:?}); stderr:\n{}",
            self.label,
            self.read,
            self.last,
            self.stderr.lock().expect("stderr buffer")
        )
    }

    fn stop(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Part 2 for one watcher: waits for its initial result, then makes
/// `samples` label changes one at a time and times each to its line.
fn watch_latencies(
    fleet: &BenchFleet,
    label: &'static str,
    command: Command,
    samples: usize,
    value_prefix: &str,
    parse: fn(&str) -> Option<Seen>,
) -> Vec<Duration> {
    let cluster = &fleet.fleet().clusters()[0];
    let objects = cluster.objects("pods");
    let total = objects.len();
    assert!(total > 0, "the sim has no pods to change");

    progress(format!(
        "{label}: starting, waiting for {total} initial rows"
    ));
    let started = Instant::now();
    let mut watcher = Watcher::spawn(label, command);
    let deadline = started + INITIAL_TIMEOUT;
    let mut initial = 0;
    while initial < total {
        let waiting_for = format!("initial row {} of {total}", initial + 1);
        let (_, line) = watcher.next_line(deadline, &waiting_for);
        if parse(&line).is_some_and(|seen| seen.initial) {
            initial += 1;
        }
    }
    progress(format!(
        "{label}: initial result read in {:.2} s; {samples} changes",
        started.elapsed().as_secs_f64()
    ));

    let mut latencies = Vec::with_capacity(samples);
    let mut stray = 0;
    for sample in 0..samples {
        // Evenly spread over the pods in (namespace, name) order; each a different pod
        // until there are more samples than pods.
        let index = if samples <= total {
            sample * total / samples
        } else {
            sample % total
        };
        let mut pod = objects[index].clone();
        let namespace = pod["metadata"]["namespace"]
            .as_str()
            .expect("a pod has a namespace")
            .to_string();
        let name = pod["metadata"]["name"]
            .as_str()
            .expect("a pod has a name")
            .to_string();
        let value = format!("{value_prefix}-{sample}");
        let metadata = pod["metadata"].as_object_mut().expect("a pod has metadata");
        let labels = metadata
            .entry("labels")
            .or_insert_with(|| serde_json::json!({}));
        if !labels.is_object() {
            *labels = serde_json::json!({});
        }
        labels["bench"] = serde_json::Value::String(value.clone());

        let t0 = Instant::now();
        cluster
            .upsert(pod)
            .unwrap_or_else(|e| panic!("the sim refused the change to {namespace}/{name}: {e}"));
        let deadline = t0 + CHANGE_TIMEOUT;
        let waiting_for = format!("{namespace}/{name} with bench={value}");
        loop {
            let (at, line) = watcher.next_line(deadline, &waiting_for);
            match parse(&line) {
                Some(seen)
                    if seen.namespace == namespace
                        && seen.name == name
                        && seen.bench.as_deref() == Some(value.as_str()) =>
                {
                    latencies.push(at.saturating_duration_since(t0));
                    break;
                }
                _ => stray += 1,
            }
        }
    }
    if stray > 0 {
        progress(format!(
            "{label}: {stray} line(s) besides the awaited changes"
        ));
    }
    progress(format!(
        "{label}: p50 {:.1} ms, p99 {:.1} ms; stopping it",
        percentile_ms(&latencies, 50.0),
        percentile_ms(&latencies, 99.0)
    ));
    watcher.stop();
    latencies
}

fn ms(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1000.0
}

/// Nearest-rank percentile in milliseconds (100 is the maximum).
fn percentile_ms(durations: &[Duration], percent: f64) -> f64 {
    let mut sorted = durations.to_vec();
    sorted.sort();
    let Some(last) = sorted.len().checked_sub(1) else {
        return f64::NAN;
    };
    let rank = (percent / 100.0 * sorted.len() as f64).ceil() as usize;
    ms(sorted[rank.saturating_sub(1).min(last)])
}
