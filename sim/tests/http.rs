//! Raw HTTP against a plain-HTTP fleet: status codes of malformed and
//! faulty requests, the admin endpoint, counters, and that the server keeps
//! serving afterwards.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;

use common::{Harness, Resp, parse_response as parse};
use kq_sim::{Faults, SimUser};
use serde_json::{Value, json};

fn raw(addr: &str, bytes: &[u8]) -> std::io::Result<Vec<u8>> {
    let mut s = TcpStream::connect(addr)?;
    s.write_all(bytes)?;
    let mut out = Vec::new();
    s.read_to_end(&mut out)?;
    Ok(out)
}

struct Client {
    addr: String,
    token: String,
}

impl Client {
    fn new(h: &Harness, user: SimUser) -> Self {
        let c = h.cluster();
        Client {
            addr: c.url().trim_start_matches("http://").to_string(),
            token: c.token(user),
        }
    }

    fn send(
        &self,
        method: &str,
        path: &str,
        content_type: &str,
        body: &[u8],
        token: Option<&str>,
    ) -> Resp {
        let mut req = format!(
            "{method} {path} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\nContent-Length: {}\r\n",
            self.addr,
            body.len()
        );
        if let Some(t) = token {
            req.push_str(&format!("Authorization: Bearer {t}\r\n"));
        }
        if !content_type.is_empty() {
            req.push_str(&format!("Content-Type: {content_type}\r\n"));
        }
        req.push_str("\r\n");
        let mut bytes = req.into_bytes();
        bytes.extend_from_slice(body);
        parse(&raw(&self.addr, &bytes).unwrap())
    }

    fn get(&self, path: &str) -> Resp {
        self.send("GET", path, "", b"", Some(&self.token.clone()))
    }

    fn with_body(&self, method: &str, path: &str, content_type: &str, body: &[u8]) -> Resp {
        self.send(method, path, content_type, body, Some(&self.token.clone()))
    }
}

fn assert_status(r: &Resp, code: u16, reason: &str) -> Value {
    assert_eq!(r.status, code, "{}", String::from_utf8_lossy(&r.body));
    let s = r.json();
    assert_eq!(s["kind"], "Status");
    assert_eq!(s["code"], code);
    assert_eq!(s["reason"], reason);
    s
}

#[test]
fn malformed_requests_get_real_status_codes() {
    let h = Harness::start(1, true);
    let c = Client::new(&h, SimUser::Admin);
    assert_status(
        &c.send("GET", "/api/v1/pods", "", b"", None),
        401,
        "Unauthorized",
    );
    assert_status(
        &c.send("GET", "/api/v1/pods", "", b"", Some("wrong")),
        401,
        "Unauthorized",
    );
    let s = assert_status(
        &c.get("/api/v1/pods?labelSelector=app%3D%28"),
        400,
        "BadRequest",
    );
    assert!(
        s["message"]
            .as_str()
            .unwrap()
            .contains("unable to parse requirement")
    );
    let s = assert_status(
        &c.get("/api/v1/pods?fieldSelector=spec.bogus%3D1"),
        400,
        "BadRequest",
    );
    assert_eq!(s["message"], "field label not supported: spec.bogus");
    assert_status(
        &c.get("/api/v1/pods?fieldSelector=garbage"),
        400,
        "BadRequest",
    );
    let s = assert_status(&c.get("/api/v1/widgets"), 404, "NotFound");
    assert_eq!(
        s["message"],
        "the server could not find the requested resource"
    );
    assert_status(&c.get("/apis/nope.example.io/v1/things"), 404, "NotFound");
    assert_status(
        &c.get("/api/v1/namespaces/default/pods/a/b/c/d"),
        404,
        "NotFound",
    );
    let s = assert_status(
        &c.get("/api/v1/namespaces/default/pods/missing"),
        404,
        "NotFound",
    );
    assert_eq!(s["message"], "pods \"missing\" not found");
    assert_eq!(s["details"]["kind"], "pods");
    assert_status(&c.get("/api/v1/pods?limit=abc"), 400, "BadRequest");
    assert_status(&c.get("/api/v1/pods?continue=%21%21%21"), 400, "BadRequest");
    assert_eq!(c.get("/api/v1/pods?limit=99999999999").status, 200);
    assert_status(
        &c.with_body(
            "POST",
            "/api/v1/namespaces/default/pods",
            "application/json",
            b"{not json",
        ),
        400,
        "BadRequest",
    );
    let s = assert_status(
        &c.with_body(
            "POST",
            "/api/v1/namespaces/default/pods",
            "application/json",
            br#"{"apiVersion":"v1","kind":"Pod","metadata":{}}"#,
        ),
        422,
        "Invalid",
    );
    assert!(
        s["message"]
            .as_str()
            .unwrap()
            .contains("name or generateName is required")
    );
    assert_status(
        &c.with_body(
            "POST",
            "/api/v1/namespaces/default/pods",
            "application/json",
            br#"{"apiVersion":"v1","kind":"Service","metadata":{"name":"x"}}"#,
        ),
        400,
        "BadRequest",
    );
    assert_status(
        &c.with_body(
            "PUT",
            "/api/v1/namespaces/default/pods",
            "application/json",
            b"{}",
        ),
        405,
        "MethodNotAllowed",
    );
    // Garbage on the wire is rejected at the protocol level.
    let junk = raw(&c.addr, b"\x16\x03\x01 not http at all\r\n\r\n").unwrap_or_default();
    assert!(junk.is_empty() || junk.starts_with(b"HTTP/1.1 400"));
    // And the server is still serving.
    let v = c.get("/version");
    assert_eq!(v.status, 200);
    assert_eq!(v.json()["major"], "1");
}

#[test]
fn writes_patches_and_conflicts() {
    let h = Harness::start(1, true);
    let c = Client::new(&h, SimUser::Admin);
    let pod = json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p", "labels": {"a": "1"}}, "spec": {"containers": [{"name": "c", "image": "x"}]}});
    let created = c.with_body(
        "POST",
        "/api/v1/namespaces/default/pods",
        "application/json",
        pod.to_string().as_bytes(),
    );
    assert_eq!(created.status, 201);
    let created = created.json();
    assert!(created["metadata"]["uid"].is_string());
    assert_eq!(created["metadata"]["namespace"], "default");
    assert_status(
        &c.with_body(
            "POST",
            "/api/v1/namespaces/default/pods",
            "application/json",
            pod.to_string().as_bytes(),
        ),
        409,
        "AlreadyExists",
    );
    let merge = c.with_body(
        "PATCH",
        "/api/v1/namespaces/default/pods/p",
        "application/merge-patch+json",
        br#"{"metadata":{"labels":{"b":"2","a":null}}}"#,
    );
    assert_eq!(merge.status, 200);
    assert_eq!(merge.json()["metadata"]["labels"], json!({"b": "2"}));
    let jp = c.with_body(
        "PATCH",
        "/api/v1/namespaces/default/pods/p",
        "application/json-patch+json",
        br#"[{"op":"replace","path":"/spec/containers/0/image","value":"y"}]"#,
    );
    assert_eq!(jp.status, 200);
    assert_eq!(jp.json()["metadata"]["generation"], 2);
    let smp = c.with_body(
        "PATCH",
        "/api/v1/namespaces/default/pods/p",
        "application/strategic-merge-patch+json",
        br#"{"spec":{"containers":[{"name":"c","image":"z"}]}}"#,
    );
    assert_eq!(smp.json()["spec"]["containers"][0]["image"], "z");
    assert_status(
        &c.with_body(
            "PATCH",
            "/api/v1/namespaces/default/pods/p",
            "text/plain",
            b"x",
        ),
        415,
        "UnsupportedMediaType",
    );
    let mut stale = created.clone();
    stale["metadata"]["labels"] = json!({"c": "3"});
    assert_status(
        &c.with_body(
            "PUT",
            "/api/v1/namespaces/default/pods/p",
            "application/json",
            stale.to_string().as_bytes(),
        ),
        409,
        "Conflict",
    );
    let current = c.get("/api/v1/namespaces/default/pods/p").json();
    let mut fresh = current.clone();
    fresh["metadata"]["labels"] = json!({"c": "3"});
    let put = c.with_body(
        "PUT",
        "/api/v1/namespaces/default/pods/p",
        "application/json",
        fresh.to_string().as_bytes(),
    );
    assert_eq!(put.status, 200);
    assert_ne!(
        put.json()["metadata"]["resourceVersion"],
        current["metadata"]["resourceVersion"]
    );
    let del = c.with_body(
        "DELETE",
        "/api/v1/namespaces/default/pods/p",
        "application/json",
        b"{}",
    );
    assert_eq!(del.status, 200);
    assert_eq!(del.json()["metadata"]["name"], "p");
    assert_status(
        &c.with_body("DELETE", "/api/v1/namespaces/default/pods/p", "", b""),
        404,
        "NotFound",
    );
    // A namespaced create into a missing namespace.
    assert_status(
        &c.with_body(
            "POST",
            "/api/v1/namespaces/ghost/pods",
            "application/json",
            pod.to_string().as_bytes(),
        ),
        404,
        "NotFound",
    );
}

#[test]
fn lists_pages_watches_and_discovery() {
    let h = Harness::start(1, true);
    let c = Client::new(&h, SimUser::Admin);
    let total = h.cluster().objects("pods").len();
    let page = c.get("/api/v1/pods?limit=10").json();
    assert_eq!(page["kind"], "PodList");
    assert_eq!(page["items"].as_array().unwrap().len(), 10);
    assert_eq!(page["metadata"]["remainingItemCount"], total - 10);
    let tok = page["metadata"]["continue"].as_str().unwrap().to_string();
    // A write between pages does not leak into the snapshot.
    h.cluster()
        .upsert(json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "zz-late", "namespace": "team-b"}}))
        .unwrap();
    let rest = c
        .get(&format!("/api/v1/pods?limit=1000&continue={tok}"))
        .json();
    assert_eq!(rest["items"].as_array().unwrap().len(), total - 10);
    assert_eq!(
        rest["metadata"]["resourceVersion"],
        page["metadata"]["resourceVersion"]
    );
    // Table output for kubectl, with the object metadata kubectl needs for -A.
    let t = {
        let req = format!(
            "GET /api/v1/namespaces/team-a/pods?limit=3 HTTP/1.1\r\nHost: x\r\nConnection: close\r\nAuthorization: Bearer {}\r\nAccept: application/json;as=Table;v=v1;g=meta.k8s.io,application/json\r\n\r\n",
            c.token
        );
        parse(&raw(&c.addr, req.as_bytes()).unwrap()).json()
    };
    assert_eq!(t["kind"], "Table");
    let cols: Vec<&str> = t["columnDefinitions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["name"].as_str().unwrap())
        .collect();
    assert_eq!(&cols[..5], ["Name", "Ready", "Status", "Restarts", "Age"]);
    assert_eq!(t["rows"].as_array().unwrap().len(), 3);
    assert_eq!(t["rows"][0]["object"]["kind"], "PartialObjectMetadata");
    assert_eq!(t["rows"][0]["object"]["metadata"]["namespace"], "team-a");
    assert!(t["metadata"]["continue"].is_string());
    // Watch from a compacted resourceVersion: 200, then an ERROR event with 410.
    let old_rv = page["metadata"]["resourceVersion"]
        .as_str()
        .unwrap()
        .to_string();
    h.cluster().force_watch_expiry();
    let w = c.get(&format!("/api/v1/pods?watch=1&resourceVersion={old_rv}"));
    assert_eq!(w.status, 200);
    let ev: Value = serde_json::from_slice(w.body.split(|b| *b == b'\n').next().unwrap()).unwrap();
    assert_eq!(ev["type"], "ERROR");
    assert_eq!(ev["object"]["code"], 410);
    assert!(
        ev["object"]["message"]
            .as_str()
            .unwrap()
            .starts_with(&format!("too old resource version: {old_rv} ("))
    );
    // Bounded watch with initial events and the initial-events-end bookmark.
    let w = c.get("/api/v1/namespaces/team-a/pods?watch=1&sendInitialEvents=true&resourceVersionMatch=NotOlderThan&allowWatchBookmarks=true&timeoutSeconds=1");
    let events: Vec<Value> = w
        .body
        .split(|b| *b == b'\n')
        .filter(|l| !l.is_empty())
        .map(|l| serde_json::from_slice(l).unwrap())
        .collect();
    let team_a = h
        .cluster()
        .objects("pods")
        .iter()
        .filter(|p| p["metadata"]["namespace"] == "team-a")
        .count();
    assert_eq!(
        events.iter().filter(|e| e["type"] == "ADDED").count(),
        team_a
    );
    let end = events.iter().find(|e| e["type"] == "BOOKMARK").unwrap();
    assert_eq!(
        end["object"]["metadata"]["annotations"]["k8s.io/initial-events-end"],
        "true"
    );
    // Aggregated discovery answers with its exact content type.
    let agg = c.send("GET", "/apis", "", b"", Some(&c.token.clone()));
    assert_eq!(agg.status, 200);
    let r = {
        let req = format!(
            "GET /apis HTTP/1.1\r\nHost: x\r\nConnection: close\r\nAuthorization: Bearer {}\r\nAccept: application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,application/json\r\n\r\n",
            c.token
        );
        parse(&raw(&c.addr, req.as_bytes()).unwrap())
    };
    assert_eq!(
        r.header("content-type"),
        Some("application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList")
    );
    assert_eq!(r.json()["kind"], "APIGroupDiscoveryList");
}

#[test]
fn faults_counters_and_admin_endpoint() {
    let h = Harness::start(1, true);
    let admin = Client::new(&h, SimUser::Admin);
    let reader = Client::new(&h, SimUser::TeamAReader);
    let cluster = h.cluster();
    cluster.reset_counters();
    assert_eq!(admin.get("/api/v1/pods").status, 200);
    let s = assert_status(
        &reader.get("/api/v1/namespaces/default/pods"),
        403,
        "Forbidden",
    );
    assert_eq!(
        s["message"],
        "pods is forbidden: User \"team-a-reader\" cannot list resource \"pods\" in API group \"\" in the namespace \"default\""
    );
    let counters = cluster.counters();
    assert_eq!(counters.by_verb.get("list"), Some(&2));
    assert!(counters.bytes_sent > 0);
    assert_eq!(counters.requests[1].status, 403);
    assert_eq!(counters.requests[1].user, "team-a-reader");

    // Admin endpoint: admin only, not counted.
    let over_http = admin.get("/sim/counters").json();
    assert_eq!(over_http["by_verb"]["list"], 2);
    assert_eq!(reader.get("/sim/counters").status, 403);
    let put = admin.with_body(
        "PUT",
        "/sim/faults",
        "application/json",
        br#"{"throttle_rate": 1.0, "retry_after_secs": 7}"#,
    );
    assert_eq!(put.status, 200);
    let throttled = admin.get("/api/v1/pods");
    assert_status(&throttled, 429, "TooManyRequests");
    assert_eq!(throttled.header("retry-after"), Some("7"));
    cluster.set_faults(Faults {
        error_rate_5xx: 1.0,
        ..Faults::default()
    });
    assert_status(&admin.get("/api/v1/pods"), 500, "InternalError");
    cluster.set_faults(Faults {
        down: true,
        ..Faults::default()
    });
    let down = raw(
        &admin.addr,
        b"GET /version HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    );
    assert!(
        down.map(|b| b.is_empty()).unwrap_or(true),
        "a down cluster answers nothing"
    );
    cluster.set_faults(Faults::default());
    assert_eq!(admin.get("/version").status, 200);
    assert_eq!(
        admin
            .with_body("POST", "/sim/counters/reset", "", b"")
            .status,
        200
    );
    assert!(cluster.counters().requests.len() <= 1);
}
