//! `kq serve` through real Postgres clients nobody here wrote: psql (the
//! simple protocol, psql's catalog queries, SQL-level prepared statements)
//! and psycopg (the extended protocol, parameters, binary results,
//! cancellation), plus the startup queries Grafana, Metabase and DBeaver
//! send. Answers are checked against the sim's store.

#![cfg(feature = "serve")]

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Command, Output};

use kq_sim::{Faults, FleetConfig};
use kq_tests::{KqProcess, TestFleet, required_on_path, stderr, stdout};

/// A running `kq serve` and the port it listens on.
struct Server {
    process: KqProcess,
    port: u16,
}

impl Server {
    async fn start(kubeconfig: &Path, args: &[&str]) -> Server {
        let mut all = vec!["serve", "--listen", "127.0.0.1:0"];
        all.extend_from_slice(args);
        let mut process = KqProcess::spawn(kubeconfig, &all);
        let line = process.next_line().await;
        let port = line
            .split("port=")
            .nth(1)
            .and_then(|rest| rest.split(|c: char| !c.is_ascii_digit()).next())
            .and_then(|port| port.parse().ok())
            .unwrap_or_else(|| panic!("no port in {line:?}"));
        Server { process, port }
    }

    fn conninfo(&self, extra: &str) -> String {
        format!(
            "host=127.0.0.1 port={} dbname=kq user=tester connect_timeout=30 {extra}",
            self.port
        )
    }

    /// psql with `-X` (no psqlrc), unaligned output, errors verbose (with SQLSTATE).
    async fn psql(&self, extra: &str, args: &[&str]) -> Output {
        psql(&self.conninfo(extra), args, &[]).await
    }
}

async fn psql(conninfo: &str, args: &[&str], env: &[(&str, &str)]) -> Output {
    let binary = required_on_path(
        "psql",
        "the kq serve tests",
        ".ci/setup installs postgresql-client",
    );
    let mut command = Command::new(binary);
    command
        .args([
            "-X",
            "-A",
            "-t",
            "-v",
            "ON_ERROR_STOP=1",
            "-v",
            "VERBOSITY=verbose",
            "-d",
            conninfo,
        ])
        .args(args)
        .env_remove("PGPASSWORD")
        .env_remove("PGSSLMODE");
    for (key, value) in env {
        command.env(key, value);
    }
    tokio::task::spawn_blocking(move || command.output().expect("run psql"))
        .await
        .expect("join psql")
}

fn psql_ok(output: &Output) -> String {
    assert!(
        output.status.success(),
        "psql failed: {}\n{}",
        stderr(output),
        stdout(output)
    );
    stdout(output)
}

/// Runs a Python program with psycopg; fails loudly without it.
async fn python(program: String) -> Output {
    let python = required_on_path("python3", "the psycopg tests", "install python3");
    tokio::task::spawn_blocking(move || {
        Command::new(python)
            .args(["-c", &program])
            .output()
            .expect("run python3")
    })
    .await
    .expect("join python")
}

fn python_ok(output: &Output) -> serde_json::Value {
    assert!(
        output.status.success(),
        "python failed (is psycopg installed? .ci/setup installs it): {}",
        stderr(output)
    );
    serde_json::from_str(stdout(output).trim()).expect("the program prints JSON")
}

fn pods_per_cluster(fleet: &TestFleet) -> BTreeMap<String, usize> {
    fleet
        .fleet
        .clusters()
        .iter()
        .map(|c| (c.name().to_string(), c.objects("pods").len()))
        .collect()
}

fn pods_in(fleet: &TestFleet, namespace: &str) -> usize {
    fleet
        .fleet
        .clusters()
        .iter()
        .flat_map(|c| c.objects("pods"))
        .filter(|p| p["metadata"]["namespace"] == namespace)
        .count()
}

fn pod_lists(fleet: &TestFleet) -> usize {
    fleet
        .fleet
        .clusters()
        .iter()
        .flat_map(|c| c.counters().requests)
        .filter(|r| r.verb == "list" && r.path.ends_with("/pods"))
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn psql_queries_describes_and_prepares_from_the_live_cache() {
    let fleet = TestFleet::start(FleetConfig::uniform(2, 30, 301)).await;
    let server = Server::start(&fleet.kubeconfig, &["-A"]).await;

    let counts = psql_ok(
        &server
            .psql(
                "",
                &[
                    "-F",
                    "=",
                    "-c",
                    "SELECT cluster, count(*) FROM pods GROUP BY cluster ORDER BY cluster",
                ],
            )
            .await,
    );
    let answered: BTreeMap<String, usize> = counts
        .lines()
        .filter_map(|l| l.split_once('='))
        .map(|(c, n)| (c.to_string(), n.parse().expect("a count")))
        .collect();
    assert_eq!(answered, pods_per_cluster(&fleet));
    let lists = pod_lists(&fleet);
    assert!(lists > 0);

    // Another client, another query of the same table: answered from
    // memory kept current by watches, no new list.
    let names = psql_ok(
        &server
            .psql("", &["-c", "SELECT count(DISTINCT name) FROM pods"])
            .await,
    );
    assert!(names.trim().parse::<usize>().expect("a count") > 0);
    assert_eq!(pod_lists(&fleet), lists, "the second client read the cache");

    let tables = psql_ok(&server.psql("", &["-c", "\\dt"]).await);
    for table in ["pods", "containers", "deployments", "nodes"] {
        assert!(
            tables.lines().any(|l| l.split('|').nth(1) == Some(table)),
            "\\dt lists {table}:\n{tables}"
        );
    }
    let described = psql_ok(&server.psql("", &["-c", "\\d pods"]).await);
    assert!(
        described.lines().any(|l| l.starts_with("cluster|text")),
        "\\d pods:\n{described}"
    );
    assert!(
        described.lines().any(|l| l.starts_with("namespace|text")),
        "\\d pods:\n{described}"
    );

    let namespace = fleet.fleet.clusters()[0].objects("pods")[0]["metadata"]["namespace"]
        .as_str()
        .expect("a namespace")
        .to_string();
    let prepared = psql_ok(
        &server
            .psql(
                "",
                &[
                    "-c",
                    "PREPARE per_namespace (text) AS SELECT count(*) FROM pods WHERE namespace = $1",
                    "-c",
                    &format!("EXECUTE per_namespace('{namespace}')"),
                    "-c",
                    "EXECUTE per_namespace('no-such-namespace')",
                    "-c",
                    "DEALLOCATE per_namespace",
                ],
            )
            .await,
    );
    let numbers: Vec<&str> = prepared
        .lines()
        .filter(|l| l.parse::<usize>().is_ok())
        .collect();
    assert_eq!(
        numbers,
        [pods_in(&fleet, &namespace).to_string().as_str(), "0"],
        "{prepared}"
    );

    // Mistakes: a SQLSTATE a client can act on, and kq's sentence.
    for (sql, code, words) in [
        (
            "SELECT * FROM podz",
            "42P01",
            "unknown table 'podz'; did you mean 'pods'?",
        ),
        ("SELECT nope FROM pods", "42703", "No field named nope"),
        ("SELEC 1", "42601", "SQL syntax error"),
        (
            "CREATE TABLE owners (team text)",
            "25006",
            "kq serve is read-only: CREATE TABLE is not allowed",
        ),
        (
            "DROP VIEW workload_containers",
            "25006",
            "DROP VIEW is not allowed",
        ),
        (
            "COPY pods TO '/tmp/pods.csv'",
            "25006",
            "COPY is not allowed",
        ),
        (
            "SET datafusion.execution.batch_size = 1",
            "42501",
            "cannot be changed here",
        ),
        (
            "EXECUTE nothing_prepared",
            "26000",
            "prepared statement \"nothing_prepared\" does not exist",
        ),
    ] {
        let output = server.psql("", &["-c", sql]).await;
        let err = stderr(&output);
        assert!(!output.status.success(), "{sql} succeeded");
        assert!(err.contains(&format!("ERROR:  {code}:")), "{sql}: {err}");
        assert!(err.contains(words), "{sql}: {err}");
        assert!(
            !err.contains("DataFusionError") && !err.contains("Plan(\""),
            "{sql}: Debug text: {err}"
        );
    }
    // The session survived every refusal: nothing shared was changed.
    let views = psql_ok(
        &server
            .psql("", &["-c", "SELECT count(*) FROM workload_containers"])
            .await,
    );
    assert!(views.trim().parse::<usize>().expect("a count") > 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn psycopg_binds_parameters_in_text_and_binary_and_can_cancel() {
    let fleet = TestFleet::start(FleetConfig::uniform(2, 25, 302)).await;
    let server = Server::start(&fleet.kubeconfig, &["-A"]).await;
    let namespace = fleet.fleet.clusters()[1].objects("pods")[0]["metadata"]["namespace"]
        .as_str()
        .expect("a namespace")
        .to_string();
    let cluster = fleet.fleet.clusters()[1].name().to_string();
    let program = format!(
        r#"
import json, psycopg
out = {{}}
with psycopg.connect(host="127.0.0.1", port={port}, dbname="kq", user="tester") as conn:
    cur = conn.execute("SELECT count(*) FROM pods WHERE namespace = %s", ["{namespace}"])
    out["text"] = cur.fetchone()[0]
    cur = conn.cursor(binary=True)
    cur.execute("SELECT count(*), min(created), max(created) FROM pods WHERE cluster = %s", ["{cluster}"])
    n, oldest, newest = cur.fetchone()
    out["binary"] = n
    out["created_types"] = [type(oldest).__name__, type(newest).__name__]
    cur.execute("SELECT name FROM pods WHERE cluster = %s AND namespace = %s ORDER BY name LIMIT %s", ["{cluster}", "{namespace}", 2])
    out["limited"] = len(cur.fetchall())
    try:
        conn.execute("DELETE FROM pods WHERE namespace = %s", ["{namespace}"])
    except psycopg.Error as e:
        out["delete"] = e.sqlstate
print(json.dumps(out))
"#,
        port = server.port
    );
    let out = python_ok(&python(program).await);
    let in_namespace = pods_in(&fleet, &namespace);
    let in_cluster = fleet.fleet.clusters()[1].objects("pods").len();
    assert_eq!(out["text"], in_namespace);
    assert_eq!(out["binary"], in_cluster);
    assert_eq!(
        out["created_types"],
        serde_json::json!(["datetime", "datetime"])
    );
    assert_eq!(
        out["limited"],
        2usize.min(
            fleet.fleet.clusters()[1]
                .objects("pods")
                .iter()
                .filter(|p| p["metadata"]["namespace"] == namespace.as_str())
                .count()
        )
    );
    assert_eq!(out["delete"], "25006");

    // A slow cluster: psycopg's cancel (a CancelRequest) stops the query.
    fleet.fleet.clusters()[0].set_faults(Faults {
        latency_ms: 30_000,
        ..Faults::default()
    });
    let program = format!(
        r#"
import json, threading, psycopg
with psycopg.connect(host="127.0.0.1", port={port}, dbname="kq", user="tester") as conn:
    timer = threading.Timer(1.0, conn.cancel)
    timer.start()
    try:
        conn.execute("SELECT count(*) FROM deployments")
        print(json.dumps({{"cancelled": None}}))
    except psycopg.errors.QueryCanceled as e:
        print(json.dumps({{"cancelled": e.sqlstate}}))
"#,
        port = server.port
    );
    let out = python_ok(&python(program).await);
    assert_eq!(out["cancelled"], "57014");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grafana_metabase_and_dbeaver_startup_queries_are_answered() {
    let fleet = TestFleet::start(FleetConfig::uniform(1, 10, 303)).await;
    let server = Server::start(&fleet.kubeconfig, &["-A"]).await;
    // Each client's connect-time queries, as their sources and docs write them.
    let checks: &[(&str, &str, &str)] = &[
        // Grafana's PostgreSQL data source: version detection, table and column pickers.
        (
            "grafana",
            "SELECT current_setting('server_version_num')::int/100 AS version",
            "1600",
        ),
        (
            "grafana",
            r#"SELECT
        CASE WHEN
              quote_ident(table_schema) IN (
              SELECT
                CASE WHEN trim(s[i]) = '"$user"' THEN user ELSE trim(s[i]) END
              FROM
                generate_series(
                  array_lower(string_to_array(current_setting('search_path'),','),1),
                  array_upper(string_to_array(current_setting('search_path'),','),1)
                ) as i,
                string_to_array(current_setting('search_path'),',') s
              )
          THEN quote_ident(table_name)
          ELSE quote_ident(table_schema) || '.' || quote_ident(table_name)
        END AS "table"
        FROM information_schema.tables
        WHERE quote_ident(table_schema) NOT IN ('information_schema',
                                 'pg_catalog',
                                 '_timescaledb_cache',
                                 '_timescaledb_catalog',
                                 '_timescaledb_internal',
                                 '_timescaledb_config',
                                 'timescaledb_information',
                                 'timescaledb_experimental')
        ORDER BY CASE WHEN
              quote_ident(table_schema) IN (
              SELECT
                CASE WHEN trim(s[i]) = '"$user"' THEN user ELSE trim(s[i]) END
              FROM
                generate_series(
                  array_lower(string_to_array(current_setting('search_path'),','),1),
                  array_upper(string_to_array(current_setting('search_path'),','),1)
                ) as i,
                string_to_array(current_setting('search_path'),',') s
              ) THEN 0 ELSE 1 END, 1"#,
            "pods",
        ),
        (
            "grafana",
            "SELECT quote_ident(column_name) AS \"column\", data_type AS \"type\" FROM information_schema.columns WHERE quote_ident(table_name) = 'pods'",
            "cluster",
        ),
        // Metabase's sync (PostgreSQL JDBC driver and Metabase's own queries).
        ("metabase", "SET extra_float_digits = 2", "SET"),
        ("metabase", "SET application_name = 'Metabase'", "SET"),
        ("metabase", "SHOW TRANSACTION ISOLATION LEVEL", ""),
        (
            "metabase",
            "SET SESSION CHARACTERISTICS AS TRANSACTION ISOLATION LEVEL READ UNCOMMITTED",
            "SET",
        ),
        (
            "metabase",
            "SELECT nspname AS \"TABLE_SCHEM\", current_database() AS \"TABLE_CATALOG\" FROM pg_catalog.pg_namespace WHERE nspname <> 'pg_toast' AND (nspname !~ '^pg_temp_' OR nspname = (pg_catalog.current_schemas(true))[1]) AND (nspname !~ '^pg_toast_temp_' OR nspname = replace((pg_catalog.current_schemas(true))[1], 'pg_temp_', 'pg_toast_temp_')) ORDER BY \"TABLE_SCHEM\"",
            "public",
        ),
        ("metabase", "show timezone", "UTC"),
        // DBeaver's connect and navigator queries.
        ("dbeaver", "SELECT current_schema(),session_user", "public"),
        ("dbeaver", "SHOW search_path", "public"),
        ("dbeaver", "SELECT version()", "PostgreSQL 16.6"),
        (
            "dbeaver",
            "SELECT n.oid,n.*,d.description FROM pg_catalog.pg_namespace n LEFT OUTER JOIN pg_catalog.pg_description d ON d.objoid=n.oid AND d.objsubid=0 AND d.classoid='pg_namespace'::regclass ORDER BY nspname",
            "public",
        ),
        (
            "dbeaver",
            "SELECT * FROM pg_catalog.pg_settings where name='standard_conforming_strings'",
            "on",
        ),
        (
            "dbeaver",
            "SELECT string_agg(word, ',') from pg_catalog.pg_get_keywords()",
            "select",
        ),
        ("any", "SHOW server_version", "16.6"),
        (
            "any",
            "SELECT current_setting('default_transaction_read_only')",
            "on",
        ),
    ];
    for (client, sql, expected) in checks {
        let output = server.psql("", &["-c", sql]).await;
        let answer = psql_ok(&output);
        assert!(
            answer.contains(expected),
            "{client}: {sql}\nanswered {answer:?}, expected it to contain {expected:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_cluster_is_a_notice_and_the_others_answer() {
    let fleet = TestFleet::start(FleetConfig::uniform(2, 20, 304)).await;
    let dead = fleet.fleet.clusters()[1].clone();
    dead.set_faults(Faults {
        down: true,
        ..Faults::default()
    });
    let server = Server::start(&fleet.kubeconfig, &["-A", "--timeout", "5s"]).await;
    let output = server
        .psql(
            "",
            &[
                "-F",
                "=",
                "-c",
                "SELECT cluster, count(*) FROM pods GROUP BY cluster",
            ],
        )
        .await;
    let answer = psql_ok(&output);
    let healthy = fleet.fleet.clusters()[0].clone();
    assert_eq!(
        answer.trim(),
        format!("{}={}", healthy.name(), healthy.objects("pods").len())
    );
    let notices = stderr(&output);
    assert!(
        notices.contains("NOTICE:") && notices.contains(&format!("cluster '{}'", dead.name())),
        "a NOTICE names the dead cluster: {notices}"
    );
    let errors = psql_ok(
        &server
            .psql(
                "",
                &[
                    "-c",
                    "SELECT DISTINCT cluster FROM kq_errors WHERE \"table\" = 'pods'",
                ],
            )
            .await,
    );
    assert_eq!(errors.trim(), dead.name());

    healthy.set_faults(Faults {
        down: true,
        ..Faults::default()
    });
    let output = server
        .psql("", &["-c", "SELECT count(*) FROM services"])
        .await;
    assert!(!output.status.success());
    assert!(
        stderr(&output).contains("ERROR:  58000: no cluster could be read"),
        "{}",
        stderr(&output)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn budgets_bound_a_query_and_a_hung_up_client_stops_its_own() {
    let fleet = TestFleet::start(FleetConfig::uniform(1, 300, 305)).await;
    let server = Server::start(
        &fleet.kubeconfig,
        &["-A", "--query-memory", "64KiB", "--query-timeout", "2s"],
    )
    .await;
    let output = server.psql("", &["-c", "SELECT * FROM pods"]).await;
    assert!(!output.status.success());
    assert!(
        stderr(&output).contains("ERROR:  53200:"),
        "{}",
        stderr(&output)
    );
    assert!(
        stderr(&output).contains("--query-memory"),
        "{}",
        stderr(&output)
    );
    // Small answers still fit.
    psql_ok(&server.psql("", &["-c", "SELECT count(*) FROM pods"]).await);

    fleet.fleet.clusters()[0].set_faults(Faults {
        latency_ms: 20_000,
        ..Faults::default()
    });
    let output = server
        .psql("", &["-c", "SELECT count(*) FROM deployments"])
        .await;
    assert!(!output.status.success());
    assert!(
        stderr(&output).contains("ERROR:  57014: canceling statement due to statement timeout"),
        "{}",
        stderr(&output)
    );
    // A client's own shorter statement_timeout wins over the server's.
    let output = server
        .psql(
            "",
            &[
                "-c",
                "SET statement_timeout = '300ms'",
                "-c",
                "SELECT count(*) FROM daemon_sets",
            ],
        )
        .await;
    assert!(stderr(&output).contains("57014"), "{}", stderr(&output));

    // A client that hangs up mid-query: its query is stopped, not left running.
    let program = format!(
        r#"
import psycopg
conn = psycopg.connect(host="127.0.0.1", port={port}, dbname="kq", user="tester")
conn.pgconn.send_query(b"SELECT count(*) FROM stateful_sets")
conn.pgconn.flush()
conn.close()
print("{{}}")
"#,
        port = server.port
    );
    python_ok(&python(program).await);
    server
        .process
        .wait_for_stderr("hung up during a query; the query was stopped")
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn beyond_loopback_it_takes_a_password_and_tls() {
    let fleet = TestFleet::start(FleetConfig::uniform(1, 5, 306)).await;
    let open = kq_tests::run_kq(&fleet.kubeconfig, &["serve", "-A", "--listen", "0.0.0.0:0"]).await;
    assert_eq!(open.status.code(), Some(2));
    assert!(
        stderr(&open)
            .contains("beyond this machine: give --password-file and --tls-cert/--tls-key"),
        "{}",
        stderr(&open)
    );
    assert_eq!(stderr(&open).trim_end().lines().count(), 1);

    let dir = tempfile::tempdir().expect("temp dir");
    let certified =
        rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).expect("a certificate");
    let cert = dir.path().join("server.pem");
    let key = dir.path().join("server.key");
    std::fs::write(&cert, certified.cert.pem()).expect("write cert");
    std::fs::write(&key, certified.signing_key.serialize_pem()).expect("write key");
    let password = dir.path().join("password");
    std::fs::write(&password, "s3cret-kq\n").expect("write password");
    let (cert_arg, key_arg, password_arg) = (
        cert.to_str().expect("utf-8"),
        key.to_str().expect("utf-8"),
        password.to_str().expect("utf-8"),
    );
    let server = Server::start(
        &fleet.kubeconfig,
        &[
            "-A",
            "--password-file",
            password_arg,
            "--tls-cert",
            cert_arg,
            "--tls-key",
            key_arg,
        ],
    )
    .await;
    let verified = format!(
        "host=localhost port={} dbname=kq user=tester sslmode=verify-full sslrootcert={cert_arg}",
        server.port
    );
    let right = psql(
        &verified,
        &["-c", "SELECT count(*) FROM pods"],
        &[("PGPASSWORD", "s3cret-kq")],
    )
    .await;
    assert_eq!(psql_ok(&right).trim(), "5");
    let wrong = psql(&verified, &["-c", "SELECT 1"], &[("PGPASSWORD", "guess")]).await;
    assert!(!wrong.status.success(), "a wrong password is refused");
    let plaintext = format!(
        "host=127.0.0.1 port={} dbname=kq user=tester sslmode=disable",
        server.port
    );
    let clear = psql(
        &plaintext,
        &["-c", "SELECT 1"],
        &[("PGPASSWORD", "s3cret-kq")],
    )
    .await;
    assert!(
        !clear.status.success(),
        "plaintext is refused once TLS is configured"
    );
    assert!(
        stderr(&clear).contains("accepts TLS connections only"),
        "{}",
        stderr(&clear)
    );

    // Bad files are one sentence each.
    let missing = kq_tests::run_kq(
        &fleet.kubeconfig,
        &[
            "serve",
            "-A",
            "--listen",
            "127.0.0.1:0",
            "--tls-cert",
            password_arg,
            "--tls-key",
            key_arg,
        ],
    )
    .await;
    assert_eq!(missing.status.code(), Some(2));
    assert!(
        stderr(&missing).contains("holds no certificate"),
        "{}",
        stderr(&missing)
    );
}
