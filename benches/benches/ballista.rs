//! Fleet-scale snapshots on Apache Ballista: snapshots of many clusters
//! written by `kq snapshot`, then the seed query and a fleet GROUP BY run
//! by kq itself and on a Ballista cluster of a scheduler and two executor
//! processes (`kq-ballista`), in one run:
//!
//! ```text
//! kq snapshot -A --to DIR --tables pods,containers
//! kq --snapshots DIR "SQL"
//! kq --ballista df://127.0.0.1:PORT --snapshots DIR "SQL"
//! ```
//!
//! `KQ_BENCH_CLUSTERS=1000 KQ_BENCH_PODS=500 KQ_BALLISTA_BIN=target/release/kq-ballista
//! KQ_BIN=target/release/kq cargo bench -p kq-benches --bench ballista`
//! (defaults: 1000 clusters of 500 pods). kq and kq-ballista must be built
//! with `--features ballista`. Both ways must return the same rows.

use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use kq_benches::{
    BenchFleet, env_size, kq_binary, lines, measure_labeled, parquet_bytes, sh_quote,
};

const QUERY: &str =
    "SELECT DISTINCT image FROM containers WHERE image LIKE '%mysql%' ORDER BY image";
const FLEET_QUERY: &str = "SELECT cluster, phase, count(*) AS pods, sum(restarts) AS restarts FROM pods GROUP BY cluster, phase ORDER BY cluster, phase";

fn main() {
    let pods = env_size("KQ_BENCH_PODS", 500);
    let clusters = env_size("KQ_BENCH_CLUSTERS", 1000).max(1);
    let kq = kq_binary();
    let ballista_bin = std::env::var_os("KQ_BALLISTA_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| kq.path().with_file_name("kq-ballista"));
    assert!(
        ballista_bin.exists(),
        "{} is missing: build it with cargo build -p kq-cli --features ballista --bin kq-ballista",
        ballista_bin.display()
    );
    let fleet = BenchFleet::start(clusters, pods);
    let dir = fleet.dir().join("snapshots");
    let dir_arg = sh_quote(&dir.display().to_string());

    let run = |label: &str, script: String| measure_labeled(label, &script);

    let write = run(
        "kq snapshot (pods, containers)",
        fleet.kq_command(
            &kq,
            &format!("snapshot -A --to {dir_arg} --tables pods,containers"),
        ),
    );
    let bytes = parquet_bytes(&dir);

    // Two executors of one core each: this machine has two.
    let scheduler_port = free_port();
    let mut processes = Processes(vec![spawn(
        &ballista_bin,
        &[
            "scheduler",
            "--bind",
            &format!("127.0.0.1:{scheduler_port}"),
        ],
    )]);
    wait_for(scheduler_port);
    for _ in 0..2 {
        let bind = format!("127.0.0.1:{}", free_port());
        let grpc = free_port().to_string();
        let scheduler = format!("127.0.0.1:{scheduler_port}");
        processes.0.push(spawn(
            &ballista_bin,
            &[
                "executor",
                "--scheduler",
                &scheduler,
                "--bind",
                &bind,
                "--grpc-port",
                &grpc,
                "--external-host",
                "127.0.0.1",
                "--vcores",
                "1",
            ],
        ));
    }
    let url = format!("df://127.0.0.1:{scheduler_port}");
    let kq_path = sh_quote(&kq.path().display().to_string());
    let mut rows = Vec::new();
    // Runs alternate between the two ways, and the median is reported, so
    // neither gets a warmer page cache or a quieter machine.
    let runs = env_size("KQ_BENCH_RUNS", 3).max(1);
    for (name, sql) in [("seed query", QUERY), ("fleet GROUP BY", FLEET_QUERY)] {
        let sql = sh_quote(sql);
        let mut local = Vec::new();
        let mut ballista = Vec::new();
        for run_index in 1..=runs {
            local.push(run(
                &format!("{name}, kq --snapshots (run {run_index})"),
                format!("{kq_path} --snapshots {dir_arg} -o csv --no-header {sql}"),
            ));
            ballista.push(run(
                &format!("{name}, kq --ballista, 2 executors (run {run_index})"),
                format!(
                    "{kq_path} --ballista {url} --snapshots {dir_arg} -o csv --no-header {sql}"
                ),
            ));
            assert_eq!(
                lines(&local[run_index - 1].stdout),
                lines(&ballista[run_index - 1].stdout),
                "{name}: Ballista and kq disagree"
            );
        }
        rows.push((name, median(local), median(ballista)));
    }
    drop(processes);

    let total = clusters * pods;
    println!(
        "ballista: {clusters} clusters x {pods} pods = {total} pods (queries: median of {runs} runs)"
    );
    println!(
        "  kq snapshot -A --tables pods,containers: {:.2} s, {:.0} MB peak; {:.0} pods/s, {:.1} MB Parquet ({:.1} MB/s)",
        write.seconds,
        write.rss_mb(),
        total as f64 / write.seconds.max(0.001),
        bytes as f64 / 1e6,
        bytes as f64 / 1e6 / write.seconds.max(0.001),
    );
    println!(
        "  {:<20} {:>12} {:>12} {:>16}",
        "query", "kq s", "Ballista s", "Ballista/kq"
    );
    for (name, local, ballista) in &rows {
        println!(
            "  {name:<20} {:>12.2} {:>12.2} {:>15.2}x",
            local.seconds,
            ballista.seconds,
            ballista.seconds / local.seconds.max(0.001)
        );
    }
    fleet.shutdown();
}

/// The run with the median time.
fn median(mut runs: Vec<kq_benches::Measured>) -> kq_benches::Measured {
    runs.sort_by(|a, b| a.seconds.total_cmp(&b.seconds));
    runs.swap_remove(runs.len() / 2)
}

/// Kills the Ballista processes when the bench ends, passed or not. Like
/// `kq_tests::Processes`; the benches do not depend on the test crate.
struct Processes(Vec<Child>);

impl Drop for Processes {
    fn drop(&mut self) {
        for child in &mut self.0 {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

fn spawn(binary: &PathBuf, args: &[&str]) -> Child {
    Command::new(binary)
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start kq-ballista")
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

fn wait_for(port: u16) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "the scheduler never listened");
        std::thread::sleep(Duration::from_millis(50));
    }
}
