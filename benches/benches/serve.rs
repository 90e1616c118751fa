//! `kq serve` under a dashboard's load, beside the same queries run as
//! one-shot `kq` processes (what a dashboard shelling out to kq would do),
//! in the same run against the same simulated cluster.
//!
//! 16 clients each run a dashboard's 5 queries in rounds over their own
//! connection (tokio-postgres, the extended protocol, as Grafana's and most
//! drivers' queries arrive); the same 5 queries are then run by 16
//! concurrent one-shot processes. Both must return the same rows, or the
//! bench fails. Reported: queries per second and p50/p99 latency of each,
//! and the list requests the server saw (the cache answers every query
//! after the first of each table).
//!
//! `KQ_BENCH_PODS=10000 cargo bench -p kq-benches --bench serve`
//! (default 10 000 pods; `KQ_BENCH_ROUNDS`, default 25 per client;
//! `--profile dev` to skip the release build).

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use kq_benches::{BenchFleet, env_size, kq_binary_with_features, progress};

const CLIENTS: usize = 16;

/// A cluster-overview dashboard: five panels.
const DASHBOARD: [&str; 5] = [
    "SELECT phase, count(*) AS pods FROM pods GROUP BY phase ORDER BY phase",
    "SELECT namespace, count(*) AS pods FROM pods GROUP BY namespace ORDER BY pods DESC, namespace LIMIT 10",
    "SELECT count(*) AS latest FROM containers WHERE image LIKE '%:latest'",
    "SELECT namespace, name, restart_count FROM containers ORDER BY restart_count DESC, namespace, name LIMIT 10",
    "SELECT namespace, name, replicas, ready_replicas FROM deployments WHERE ready_replicas < replicas ORDER BY namespace, name",
];

fn main() {
    let pods = env_size("KQ_BENCH_PODS", 10_000);
    let rounds = env_size("KQ_BENCH_ROUNDS", 25);
    let kq = kq_binary_with_features(&["serve"]);
    let fleet = BenchFleet::start(1, pods);

    progress("starting kq serve");
    let mut server = Command::new(kq.path())
        .arg("--kubeconfig")
        .arg(fleet.kubeconfig())
        .args(["serve", "-A", "--listen", "127.0.0.1:0"])
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start kq serve");
    let mut first = String::new();
    BufReader::new(server.stdout.take().expect("stdout"))
        .read_line(&mut first)
        .expect("read kq serve's first line");
    let port: u16 = first
        .split("port=")
        .nth(1)
        .and_then(|rest| rest.split(|c: char| !c.is_ascii_digit()).next())
        .and_then(|port| port.parse().ok())
        .unwrap_or_else(|| panic!("no port in {first:?}"));

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let conninfo = format!("host=127.0.0.1 port={port} dbname=kq user=bench");

    // The first query of each table lists it; the rest is load.
    fleet.reset_traffic();
    let started = Instant::now();
    let served_answers = runtime.block_on(answers_over_postgres(&conninfo));
    progress(format!(
        "first dashboard (lists every table) in {:.2} s",
        started.elapsed().as_secs_f64()
    ));
    let lists_after_warmup = fleet.traffic().lists;

    progress(format!(
        "{CLIENTS} clients x {rounds} rounds x {} queries over Postgres",
        DASHBOARD.len()
    ));
    let (served_elapsed, mut served) = runtime.block_on(load_over_postgres(&conninfo, rounds));
    let lists_under_load = fleet.traffic().lists - lists_after_warmup;

    let process_rounds = (rounds / 10).max(1);
    progress(format!(
        "{CLIENTS} concurrent one-shot kq processes x {process_rounds} rounds x {} queries",
        DASHBOARD.len()
    ));
    let oneshot_answers: Vec<String> = DASHBOARD
        .iter()
        .map(|sql| oneshot(&fleet, kq.path(), sql).1)
        .collect();
    assert_eq!(
        served_answers, oneshot_answers,
        "kq serve and one-shot kq disagree"
    );
    let (oneshot_elapsed, mut oneshots) = load_as_processes(&fleet, kq.path(), process_rounds);

    let _ = server.kill();
    let _ = server.wait();

    let served_qps = served.len() as f64 / served_elapsed.as_secs_f64();
    let oneshot_qps = oneshots.len() as f64 / oneshot_elapsed.as_secs_f64();
    let (served_p50, served_p99) = percentiles(&mut served);
    let (oneshot_p50, oneshot_p99) = percentiles(&mut oneshots);
    println!(
        "dashboard of {} queries, {pods} pods, {CLIENTS} clients: kq serve {served_qps:.0} queries/s, p50 {:.1} ms, p99 {:.1} ms ({} queries, {lists_under_load} list requests under load) | one-shot kq processes {oneshot_qps:.1} queries/s, p50 {:.0} ms, p99 {:.0} ms ({} queries) | kq serve answers {:.0}x the queries per second, p99 1/{:.0}",
        DASHBOARD.len(),
        ms(served_p50),
        ms(served_p99),
        served.len(),
        ms(oneshot_p50),
        ms(oneshot_p99),
        oneshots.len(),
        served_qps / oneshot_qps,
        oneshot_p99.as_secs_f64() / served_p99.as_secs_f64().max(1e-6),
    );
    fleet.shutdown();
}

fn ms(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1000.0
}

fn percentiles(samples: &mut [Duration]) -> (Duration, Duration) {
    samples.sort();
    let at =
        |q: f64| samples[((samples.len() as f64 * q).ceil() as usize).clamp(1, samples.len()) - 1];
    (at(0.50), at(0.99))
}

async fn connect(conninfo: &str) -> tokio_postgres::Client {
    let (client, connection) = tokio_postgres::connect(conninfo, tokio_postgres::NoTls)
        .await
        .expect("connect to kq serve");
    tokio::spawn(async move {
        let _ = connection.await;
    });
    client
}

/// Each dashboard query's rows as CSV-like text, for comparison.
async fn answers_over_postgres(conninfo: &str) -> Vec<String> {
    let client = connect(conninfo).await;
    let mut answers = Vec::new();
    for sql in DASHBOARD {
        // simple_query: every value as text, as kq -o csv prints it.
        let messages = client.simple_query(sql).await.expect("dashboard query");
        let mut text = String::new();
        for message in messages {
            if let tokio_postgres::SimpleQueryMessage::Row(row) = message {
                let cells: Vec<&str> = (0..row.len()).map(|i| row.get(i).unwrap_or("")).collect();
                text.push_str(&cells.join(","));
                text.push('\n');
            }
        }
        answers.push(text);
    }
    answers
}

async fn load_over_postgres(conninfo: &str, rounds: usize) -> (Duration, Vec<Duration>) {
    let mut clients = Vec::new();
    for _ in 0..CLIENTS {
        clients.push(Arc::new(connect(conninfo).await));
    }
    let started = Instant::now();
    let tasks: Vec<_> = clients
        .into_iter()
        .map(|client| {
            tokio::spawn(async move {
                let mut latencies = Vec::with_capacity(rounds * DASHBOARD.len());
                for _ in 0..rounds {
                    for sql in DASHBOARD {
                        let start = Instant::now();
                        let rows = client.query(sql, &[]).await.expect("dashboard query");
                        std::hint::black_box(rows);
                        latencies.push(start.elapsed());
                    }
                }
                latencies
            })
        })
        .collect();
    let mut all = Vec::new();
    for task in tasks {
        all.extend(task.await.expect("client task"));
    }
    (started.elapsed(), all)
}

/// One `kq -o csv --no-header` process: its latency and output.
fn oneshot(fleet: &BenchFleet, kq: &std::path::Path, sql: &str) -> (Duration, String) {
    let start = Instant::now();
    let output = Command::new(kq)
        .arg("--kubeconfig")
        .arg(fleet.kubeconfig())
        .args(["-A", "-o", "csv", "--no-header", sql])
        .output()
        .expect("run kq");
    assert!(
        output.status.success(),
        "kq failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    (
        start.elapsed(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
    )
}

fn load_as_processes(
    fleet: &BenchFleet,
    kq: &std::path::Path,
    rounds: usize,
) -> (Duration, Vec<Duration>) {
    let started = Instant::now();
    let latencies = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..CLIENTS)
            .map(|_| {
                scope.spawn(|| {
                    let mut latencies = Vec::new();
                    for _ in 0..rounds {
                        for sql in DASHBOARD {
                            latencies.push(oneshot(fleet, kq, sql).0);
                        }
                    }
                    latencies
                })
            })
            .collect();
        workers
            .into_iter()
            .flat_map(|w| w.join().expect("worker"))
            .collect::<Vec<_>>()
    });
    (started.elapsed(), latencies)
}
