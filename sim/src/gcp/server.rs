//! The fake's HTTP side: routing of the Compute, GKE, IAM, Resource Manager
//! and Storage paths, pagination tokens, injected faults, Google-style
//! errors and the request log.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;

use base64::Engine;
use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper::{Request, Response};
use hyper_util::rt::{TokioExecutor, TokioIo};
use serde_json::{Map, Value, json};
use tokio::net::TcpListener;
use tokio::task::JoinSet;

use super::data::{COMPUTE_BASE, GcpFleet, GcpProject, REGIONS};
use super::{GcpFaults, GcpRequest};
use crate::cloud_fake::{FakeState, FirstNFault};
use crate::generate::dice::stable_hash;
use crate::http_util::{Body, Query, bytes_response, url_decode};

/// Everything the connections share.
pub(crate) struct State {
    pub addr: SocketAddr,
    pub fleet: GcpFleet,
    page_size: usize,
    shared: FakeState<GcpFaults, GcpRequest>,
}

impl State {
    pub fn new(addr: SocketAddr, fleet: GcpFleet, page_size: usize, faults: GcpFaults) -> Self {
        State {
            addr,
            fleet,
            page_size,
            shared: FakeState::new(faults),
        }
    }

    fn faults(&self) -> GcpFaults {
        self.shared.faults()
    }

    pub fn set_faults(&self, faults: GcpFaults) {
        self.shared.set_faults(faults)
    }

    pub fn requests(&self) -> Vec<GcpRequest> {
        self.shared.requests()
    }

    fn record(&self, r: GcpRequest) {
        self.shared.record(r)
    }

    /// The 429/503 a request gets from the first-N faults of its path.
    fn first_n_fault(&self, path: &str) -> Result<(), GoogleError> {
        match self.shared.first_n(path) {
            None => Ok(()),
            Some(FirstNFault::Throttled) => Err(GoogleError::throttled()),
            Some(FirstNFault::Unavailable) => Err(GoogleError::unavailable(
                "The service is currently unavailable.".into(),
            )),
        }
    }
}

/// A Google API error, answered as `{"error": {code, message, errors, status}}`.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{code} {status}: {message}")]
pub(crate) struct GoogleError {
    code: u16,
    status: &'static str,
    reason: &'static str,
    message: String,
}

impl GoogleError {
    fn not_found(message: String) -> Self {
        GoogleError {
            code: 404,
            status: "NOT_FOUND",
            reason: "notFound",
            message,
        }
    }

    fn invalid(message: String) -> Self {
        GoogleError {
            code: 400,
            status: "INVALID_ARGUMENT",
            reason: "invalid",
            message,
        }
    }

    fn forbidden(project: &str) -> Self {
        GoogleError {
            code: 403,
            status: "PERMISSION_DENIED",
            reason: "forbidden",
            message: format!(
                "Permission denied on resource project {project} (or it may not exist)."
            ),
        }
    }

    fn throttled() -> Self {
        GoogleError {
            code: 429,
            status: "RESOURCE_EXHAUSTED",
            reason: "rateLimitExceeded",
            message: "Quota exceeded for quota metric 'Read requests' and limit 'Read requests per minute'.".into(),
        }
    }

    fn unavailable(message: String) -> Self {
        GoogleError {
            code: 503,
            status: "UNAVAILABLE",
            reason: "backendError",
            message,
        }
    }

    fn method_not_allowed(method: &str, path: &str) -> Self {
        GoogleError {
            code: 405,
            status: "UNIMPLEMENTED",
            reason: "methodNotAllowed",
            message: format!("kq-gcp-sim serves reads only: {method} {path} is not allowed."),
        }
    }

    fn body(&self) -> Value {
        json!({"error": {
            "code": self.code,
            "message": self.message,
            "errors": [{"message": self.message, "domain": "global", "reason": self.reason}],
            "status": self.status,
        }})
    }
}

type Reply = Result<Value, GoogleError>;

pub(crate) async fn serve(
    listener: TcpListener,
    state: Arc<State>,
    mut shutdown: tokio::sync::watch::Receiver<bool>,
) {
    let mut conns = JoinSet::new();
    loop {
        tokio::select! {
            _ = shutdown.changed() => break,
            Some(_) = conns.join_next(), if !conns.is_empty() => {}
            accepted = listener.accept() => {
                let Ok((tcp, _)) = accepted else { continue };
                let _ = tcp.set_nodelay(true);
                let st = state.clone();
                conns.spawn(async move {
                    let service = hyper::service::service_fn(move |req| {
                        let st = st.clone();
                        async move { Ok::<_, Infallible>(handle(&st, req).await) }
                    });
                    let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                        .serve_connection(TokioIo::new(tcp), service)
                        .await;
                });
            }
        }
    }
    conns.abort_all();
}

async fn handle(st: &State, req: Request<Incoming>) -> Response<Body> {
    let method = req.method().as_str().to_string();
    let path = req.uri().path().to_string();
    let query = req.uri().query().unwrap_or("").to_string();
    let authorization = req
        .headers()
        .get(hyper::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    // getIamPolicy's body only carries options the fake does not need.
    let _ = req.into_body().collect().await;
    let reply = route(st, &method, &path, &Query::parse(Some(&query)));
    let (status, body) = match &reply {
        Ok(v) => (200, v.clone()),
        Err(e) => (e.code, e.body()),
    };
    st.record(GcpRequest {
        method,
        path,
        query,
        authorization,
        status,
    });
    let bytes = serde_json::to_vec(&body).unwrap_or_default();
    let mut resp = bytes_response(status, "application/json; charset=UTF-8", bytes.into());
    if status == 429 {
        resp.headers_mut().insert(
            hyper::header::RETRY_AFTER,
            hyper::header::HeaderValue::from_static("0"),
        );
    }
    resp
}

/// Percent-decodes one path segment (`+` stays a plus, unlike in queries).
fn decode_segment(s: &str) -> String {
    url_decode(&s.replace('+', "%2B"))
}

fn route(st: &State, method: &str, path: &str, q: &Query) -> Reply {
    if path.starts_with("/computeMetadata/") {
        // Not on GCE: gcloud and google-auth take a 404 to mean exactly that.
        return Err(GoogleError::not_found(format!("{path} is not served here")));
    }
    let custom_method = path.rsplit_once(':').map(|(_, m)| m);
    let is_policy = custom_method == Some("getIamPolicy");
    if !(method == "GET" || method == "POST" && is_policy) {
        return Err(GoogleError::method_not_allowed(method, path));
    }
    if method == "GET" && is_policy {
        return Err(GoogleError::not_found(format!(
            "getIamPolicy is a POST method ({path})"
        )));
    }
    st.first_n_fault(path)?;
    let faults = st.faults();
    let segs: Vec<String> = path
        .trim_start_matches('/')
        .split('/')
        .map(decode_segment)
        .collect();
    let segs: Vec<&str> = segs.iter().map(String::as_str).collect();
    let cx = Cx {
        st,
        faults: &faults,
        path,
        q,
    };
    match segs.as_slice() {
        ["compute", "v1", "projects", p, rest @ ..] => cx.compute(p, rest),
        ["storage", "v1", "b"] => cx.buckets(),
        ["storage", "v1", "b", name] => cx.bucket(name),
        ["v1", "projects"] => cx.projects_v1(),
        ["v1", "projects", p] => match p.strip_suffix(":getIamPolicy") {
            Some(p) => Ok(cx.project(p)?.iam_policy.clone()),
            None => Ok(project_v1(cx.project(p)?, &st.fleet.organization)),
        },
        ["v1", "projects", p, "serviceAccounts", rest @ ..] => cx.iam(p, rest),
        [
            "v1",
            "projects",
            p,
            "locations" | "zones",
            loc,
            "clusters",
            rest @ ..,
        ] => cx.container(p, loc, rest),
        ["v3", "projects:search"] => cx.projects_v3(None),
        ["v3", "projects"] => match q.get("parent").filter(|p| !p.is_empty()) {
            Some(parent) => cx.projects_v3(Some(parent)),
            None => Err(GoogleError::invalid(
                "Request is missing required parameter 'parent'.".into(),
            )),
        },
        ["v3", "projects", p] => match p.strip_suffix(":getIamPolicy") {
            Some(p) => Ok(cx.project(p)?.iam_policy.clone()),
            None => Ok(project_v3(cx.project(p)?, &st.fleet.organization)),
        },
        _ => Err(GoogleError::not_found(format!(
            "The requested URL {path} was not found on this server."
        ))),
    }
}

/// One request's view of the fake.
struct Cx<'a> {
    st: &'a State,
    faults: &'a GcpFaults,
    path: &'a str,
    q: &'a Query,
}

/// The slice of a list one page serves.
struct Page {
    start: usize,
    end: usize,
    next: Option<String>,
}

const TOKEN_PREFIX: &str = "kqgcp1";

/// Tokens carry the offset and a hash of the path, so a token only works on
/// the list that issued it; clients must treat them as opaque anyway.
pub(crate) fn encode_token(path: &str, offset: usize) -> String {
    let raw = format!("{TOKEN_PREFIX}:{:016x}:{offset}", stable_hash(path));
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(raw)
}

pub(crate) fn decode_token(path: &str, token: &str) -> Option<usize> {
    let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(token)
        .ok()?;
    let raw = String::from_utf8(raw).ok()?;
    let mut parts = raw.splitn(3, ':');
    let (prefix, hash, offset) = (parts.next()?, parts.next()?, parts.next()?);
    (prefix == TOKEN_PREFIX && hash == format!("{:016x}", stable_hash(path)))
        .then(|| offset.parse().ok())
        .flatten()
}

fn scope_of(v: &Value) -> String {
    let url = v["zone"]
        .as_str()
        .or(v["region"].as_str())
        .unwrap_or("global");
    let mut it = url.rsplit('/');
    match (it.next(), it.next()) {
        (Some(name), Some(kind @ ("zones" | "regions"))) => format!("{kind}/{name}"),
        _ => "global".to_string(),
    }
}

fn zone_scopes() -> Vec<String> {
    REGIONS
        .iter()
        .flat_map(|(_, zones)| zones.iter().map(|z| format!("zones/{z}")))
        .collect()
}

fn region_scopes(with_global: bool) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    if with_global {
        out.push("global".into());
    }
    out.extend(REGIONS.iter().map(|(r, _)| format!("regions/{r}")));
    out
}

fn scope_warning(code: &str, scope: &str, message: String) -> Value {
    json!({"warning": {
        "code": code,
        "message": message,
        "data": [{"key": "scope", "value": scope}],
    }})
}

fn project_v1(p: &GcpProject, org: &str) -> Value {
    json!({
        "projectNumber": p.number,
        "projectId": p.id,
        "lifecycleState": "ACTIVE",
        "name": p.id,
        "createTime": p.create_time,
        "parent": {"type": "organization", "id": org},
    })
}

fn project_v3(p: &GcpProject, org: &str) -> Value {
    json!({
        "name": format!("projects/{}", p.number),
        "parent": format!("organizations/{org}"),
        "projectId": p.id,
        "state": "ACTIVE",
        "displayName": p.id,
        "createTime": p.create_time,
        "updateTime": p.create_time,
        "etag": format!("W/\"{}\"", &crate::generate::dice::hash_hex(&p.id, 16)),
    })
}

impl Cx<'_> {
    /// The project named by id or number, unless it is forbidden.
    fn project(&self, p: &str) -> Result<&GcpProject, GoogleError> {
        let proj = self.st.fleet.project(p).ok_or_else(|| {
            GoogleError::not_found(format!("The resource 'projects/{p}' was not found"))
        })?;
        if self
            .faults
            .forbidden_projects
            .iter()
            .any(|f| *f == proj.id || *f == proj.number)
        {
            return Err(GoogleError::forbidden(&proj.id));
        }
        Ok(proj)
    }

    fn unreachable(&self, scope: &str) -> bool {
        let name = scope.rsplit('/').next().unwrap_or(scope);
        scope != "global" && self.faults.unreachable_zones.iter().any(|z| z == name)
    }

    /// The page of `total` items this request asks for, its size capped by
    /// `size_param` and the fleet's page size.
    fn page(&self, size_param: &str, total: usize) -> Result<Page, GoogleError> {
        let asked = match self.q.get(size_param).filter(|s| !s.is_empty()) {
            None => None,
            Some(s) => Some(s.parse::<usize>().map_err(|_| {
                GoogleError::invalid(format!("Invalid value for field '{size_param}': '{s}'."))
            })?),
        };
        let cap = if self.st.page_size == 0 {
            500
        } else {
            self.st.page_size
        };
        let size = asked.filter(|n| *n > 0).map_or(cap, |n| n.min(cap));
        let start = match self.q.get("pageToken").filter(|t| !t.is_empty()) {
            None => 0,
            Some(t) => decode_token(self.path, t)
                .filter(|o| *o <= total)
                .ok_or_else(|| {
                    GoogleError::invalid(format!("Invalid value for field 'pageToken': '{t}'."))
                })?,
        };
        let end = (start + size).min(total);
        Ok(Page {
            start,
            end,
            next: (end < total).then(|| encode_token(self.path, end)),
        })
    }

    fn compute_url(&self, p: &GcpProject, rest: &str) -> String {
        format!("{COMPUTE_BASE}/projects/{}/{rest}", p.id)
    }

    fn compute(&self, p: &str, rest: &[&str]) -> Reply {
        let proj = self.project(p)?;
        let in_scope = |items: &[Value], scope: String| -> Vec<Value> {
            items
                .iter()
                .filter(|v| scope_of(v) == scope)
                .cloned()
                .collect()
        };
        match rest {
            ["aggregated", "instances"] => self.aggregated(
                proj,
                "instances",
                "compute#instanceAggregatedList",
                zone_scopes(),
                &proj.instances,
            ),
            ["zones", z, "instances"] => {
                let items = self.reachable(&format!("zones/{z}"), || {
                    in_scope(&proj.instances, format!("zones/{z}"))
                })?;
                self.list(
                    proj,
                    "compute#instanceList",
                    &format!("zones/{z}/instances"),
                    &items,
                )
            }
            ["zones", z, "instances", name] => {
                let items = self.reachable(&format!("zones/{z}"), || {
                    in_scope(&proj.instances, format!("zones/{z}"))
                })?;
                self.get(proj, &items, name, &format!("zones/{z}/instances/{name}"))
            }
            ["global", "networks"] => self.list(
                proj,
                "compute#networkList",
                "global/networks",
                &proj.networks,
            ),
            ["global", "networks", name] => self.get(
                proj,
                &proj.networks,
                name,
                &format!("global/networks/{name}"),
            ),
            ["global", "firewalls"] => self.list(
                proj,
                "compute#firewallList",
                "global/firewalls",
                &proj.firewalls,
            ),
            ["global", "firewalls", name] => self.get(
                proj,
                &proj.firewalls,
                name,
                &format!("global/firewalls/{name}"),
            ),
            ["global", "forwardingRules"] => self.list(
                proj,
                "compute#forwardingRuleList",
                "global/forwardingRules",
                &[],
            ),
            ["global", "addresses"] => {
                self.list(proj, "compute#addressList", "global/addresses", &[])
            }
            [
                "aggregated",
                kind @ ("subnetworks" | "forwardingRules" | "addresses"),
            ] => {
                let (items, list_kind, with_global) = self.regional(proj, kind);
                self.aggregated(
                    proj,
                    kind,
                    &format!("compute#{list_kind}AggregatedList"),
                    region_scopes(with_global),
                    items,
                )
            }
            [
                "regions",
                r,
                kind @ ("subnetworks" | "forwardingRules" | "addresses"),
            ] => {
                let (all, list_kind, _) = self.regional(proj, kind);
                let items = self.reachable(&format!("regions/{r}"), || {
                    in_scope(all, format!("regions/{r}"))
                })?;
                self.list(
                    proj,
                    &format!("compute#{list_kind}List"),
                    &format!("regions/{r}/{kind}"),
                    &items,
                )
            }
            [
                "regions",
                r,
                kind @ ("subnetworks" | "forwardingRules" | "addresses"),
                name,
            ] => {
                let (all, _, _) = self.regional(proj, kind);
                let items = self.reachable(&format!("regions/{r}"), || {
                    in_scope(all, format!("regions/{r}"))
                })?;
                self.get(proj, &items, name, &format!("regions/{r}/{kind}/{name}"))
            }
            _ => Err(GoogleError::not_found(format!(
                "The requested URL {} was not found on this server.",
                self.path
            ))),
        }
    }

    /// A regional collection's items, list-kind stem and whether its
    /// aggregated list has a `global` scope.
    fn regional<'p>(&self, proj: &'p GcpProject, kind: &str) -> (&'p [Value], &'static str, bool) {
        match kind {
            "subnetworks" => (&proj.subnetworks, "subnetwork", false),
            "forwardingRules" => (&proj.forwarding_rules, "forwardingRule", true),
            _ => (&proj.addresses, "address", true),
        }
    }

    /// The items of one zone or region, or 503 when that scope is unreachable.
    fn reachable(
        &self,
        scope: &str,
        items: impl FnOnce() -> Vec<Value>,
    ) -> Result<Vec<Value>, GoogleError> {
        if self.unreachable(scope) {
            return Err(GoogleError::unavailable(format!(
                "The resource '{scope}' is currently unreachable."
            )));
        }
        Ok(items())
    }

    fn list(&self, proj: &GcpProject, kind: &str, rest: &str, items: &[Value]) -> Reply {
        let page = self.page("maxResults", items.len())?;
        let mut out = Map::new();
        out.insert("kind".into(), json!(kind));
        out.insert("id".into(), json!(format!("projects/{}/{rest}", proj.id)));
        // Like the real API, an empty page has no `items` at all.
        if page.end > page.start {
            out.insert("items".into(), json!(&items[page.start..page.end]));
        }
        if let Some(t) = page.next {
            out.insert("nextPageToken".into(), json!(t));
        }
        out.insert("selfLink".into(), json!(self.compute_url(proj, rest)));
        Ok(Value::Object(out))
    }

    fn get(&self, proj: &GcpProject, items: &[Value], name: &str, rest: &str) -> Reply {
        items
            .iter()
            .find(|v| v["name"] == name)
            .cloned()
            .ok_or_else(|| {
                GoogleError::not_found(format!(
                    "The resource 'projects/{}/{rest}' was not found",
                    proj.id
                ))
            })
    }

    fn aggregated(
        &self,
        proj: &GcpProject,
        field: &str,
        kind: &str,
        scopes: Vec<String>,
        items: &[Value],
    ) -> Reply {
        // Items in scope order, then in fleet order within a scope, so pages are stable.
        let mut reachable: Vec<(String, &Value)> = Vec::new();
        for scope in &scopes {
            if !self.unreachable(scope) {
                reachable.extend(
                    items
                        .iter()
                        .filter(|v| scope_of(v) == *scope)
                        .map(|v| (scope.clone(), v)),
                );
            }
        }
        let page = self.page("maxResults", reachable.len())?;
        let on_page = &reachable[page.start..page.end];
        let first = page.start == 0;
        let mut unreachables = Vec::new();
        let mut by_scope = Map::new();
        for scope in &scopes {
            let here: Vec<&Value> = on_page
                .iter()
                .filter(|(s, _)| s == scope)
                .map(|(_, v)| *v)
                .collect();
            let entry = if !here.is_empty() {
                json!({ field: here })
            } else if self.unreachable(scope) && first {
                unreachables.push(scope.clone());
                scope_warning(
                    "UNREACHABLE",
                    scope,
                    format!(
                        "Scope '{scope}' is unreachable; its {field} are missing from this list."
                    ),
                )
            } else {
                scope_warning(
                    "NO_RESULTS_ON_PAGE",
                    scope,
                    format!("There are no results for scope '{scope}' on this page."),
                )
            };
            by_scope.insert(scope.clone(), entry);
        }
        let mut out = Map::new();
        out.insert("kind".into(), json!(kind));
        out.insert(
            "id".into(),
            json!(format!("projects/{}/aggregated/{field}", proj.id)),
        );
        out.insert("items".into(), Value::Object(by_scope));
        if let Some(t) = page.next {
            out.insert("nextPageToken".into(), json!(t));
        }
        out.insert(
            "selfLink".into(),
            json!(self.compute_url(proj, &format!("aggregated/{field}"))),
        );
        if !unreachables.is_empty() {
            out.insert("unreachables".into(), json!(unreachables));
        }
        Ok(Value::Object(out))
    }

    fn container(&self, p: &str, loc: &str, rest: &[&str]) -> Reply {
        let proj = self.project(p)?;
        if loc != "-" && self.unreachable(loc) {
            return Err(GoogleError::unavailable(format!(
                "Location {loc} is currently unreachable."
            )));
        }
        let here = |c: &&Value| loc == "-" || c["location"] == loc;
        let find = |name: &str| -> Reply {
            proj.clusters
                .iter()
                .filter(here)
                .find(|c| c["name"] == name)
                .cloned()
                .ok_or_else(|| {
                    GoogleError::not_found(format!(
                        "Not found: projects/{}/locations/{loc}/clusters/{name}.",
                        proj.id
                    ))
                })
        };
        match rest {
            [] => {
                let mut clusters = Vec::new();
                let mut missing: Vec<String> = Vec::new();
                for c in proj.clusters.iter().filter(here) {
                    let location = c["location"].as_str().unwrap_or_default();
                    if self.unreachable(location) {
                        if !missing.iter().any(|m| m == location) {
                            missing.push(location.to_string());
                        }
                    } else {
                        clusters.push(c.clone());
                    }
                }
                let mut out = json!({ "clusters": clusters });
                if !missing.is_empty() {
                    out["missingZones"] = json!(missing);
                }
                Ok(out)
            }
            [name] => find(name),
            [name, "nodePools"] => Ok(json!({"nodePools": find(name)?["nodePools"].clone()})),
            [name, "nodePools", pool] => {
                let cluster = find(name)?;
                cluster["nodePools"]
                    .as_array()
                    .and_then(|ps| ps.iter().find(|np| np["name"] == *pool))
                    .cloned()
                    .ok_or_else(|| {
                        GoogleError::not_found(format!(
                            "Not found: projects/{}/locations/{loc}/clusters/{name}/nodePools/{pool}.",
                            proj.id
                        ))
                    })
            }
            _ => Err(GoogleError::not_found(format!(
                "The requested URL {} was not found on this server.",
                self.path
            ))),
        }
    }

    /// The service account `account` (email or unique id) under `p`, where
    /// `-` means whichever project owns it.
    fn service_account(
        &self,
        p: &str,
        account: &str,
    ) -> Result<(&GcpProject, &Value), GoogleError> {
        let matches = |sa: &&Value| sa["email"] == account || sa["uniqueId"] == account;
        let owner = if p == "-" {
            self.st
                .fleet
                .projects()
                .iter()
                .find(|proj| proj.service_accounts.iter().any(|sa| matches(&sa)))
                .map(|proj| proj.id.as_str())
                .ok_or_else(|| {
                    GoogleError::not_found(format!("Unknown service account {account}."))
                })?
        } else {
            p
        };
        let proj = self.project(owner)?;
        let sa =
            proj.service_accounts.iter().find(matches).ok_or_else(|| {
                GoogleError::not_found(format!("Unknown service account {account}."))
            })?;
        Ok((proj, sa))
    }

    fn iam(&self, p: &str, rest: &[&str]) -> Reply {
        match rest {
            [] => {
                if p == "-" {
                    return Err(GoogleError::invalid(
                        "Listing service accounts needs a project, not '-'.".into(),
                    ));
                }
                let proj = self.project(p)?;
                let page = self.page("pageSize", proj.service_accounts.len())?;
                let mut out = json!({"accounts": &proj.service_accounts[page.start..page.end]});
                if let Some(t) = page.next {
                    out["nextPageToken"] = json!(t);
                }
                Ok(out)
            }
            [account] => Ok(self.service_account(p, account)?.1.clone()),
            [account, "keys", key @ ..] => {
                let (proj, sa) = self.service_account(p, account)?;
                let email = sa["email"].as_str().unwrap_or_default();
                let wanted: Vec<&str> = self
                    .q
                    .get_all("keyTypes")
                    .filter_map(|t| match t {
                        "USER_MANAGED" | "1" => Some("USER_MANAGED"),
                        "SYSTEM_MANAGED" | "2" => Some("SYSTEM_MANAGED"),
                        _ => None,
                    })
                    .collect();
                let keys: Vec<&Value> = proj
                    .service_account_keys
                    .iter()
                    .filter(|(e, k)| {
                        e == email
                            && (wanted.is_empty() || wanted.iter().any(|w| k["keyType"] == *w))
                    })
                    .map(|(_, k)| k)
                    .collect();
                match key {
                    [] if keys.is_empty() => Ok(json!({})),
                    [] => Ok(json!({ "keys": keys })),
                    [id] => keys
                        .iter()
                        .find(|k| {
                            k["name"]
                                .as_str()
                                .is_some_and(|n| n.ends_with(&format!("/keys/{id}")))
                        })
                        .map(|k| (*k).clone())
                        .ok_or_else(|| GoogleError::not_found(format!("Unknown key {id}."))),
                    _ => Err(GoogleError::not_found(format!(
                        "The requested URL {} was not found on this server.",
                        self.path
                    ))),
                }
            }
            _ => Err(GoogleError::not_found(format!(
                "The requested URL {} was not found on this server.",
                self.path
            ))),
        }
    }

    fn projects_v1(&self) -> Reply {
        let all = self.st.fleet.projects();
        let page = self.page("pageSize", all.len())?;
        let org = &self.st.fleet.organization;
        let projects: Vec<Value> = all[page.start..page.end]
            .iter()
            .map(|p| project_v1(p, org))
            .collect();
        let mut out = json!({ "projects": projects });
        if let Some(t) = page.next {
            out["nextPageToken"] = json!(t);
        }
        Ok(out)
    }

    /// `projects:search` (parent None) or `projects?parent=` list.
    fn projects_v3(&self, parent: Option<&str>) -> Reply {
        let org = &self.st.fleet.organization;
        let all: Vec<&GcpProject> = match parent {
            Some(p) if p != format!("organizations/{org}") => Vec::new(),
            _ => self.st.fleet.projects().iter().collect(),
        };
        let page = self.page("pageSize", all.len())?;
        let projects: Vec<Value> = all[page.start..page.end]
            .iter()
            .map(|p| project_v3(p, org))
            .collect();
        let mut out = if projects.is_empty() {
            json!({})
        } else {
            json!({ "projects": projects })
        };
        if let Some(t) = page.next {
            out["nextPageToken"] = json!(t);
        }
        Ok(out)
    }

    fn buckets(&self) -> Reply {
        let p = self
            .q
            .get("project")
            .filter(|p| !p.is_empty())
            .ok_or_else(|| GoogleError::invalid("Required parameter: project".into()))?;
        let proj = self.project(p)?;
        let page = self.page("maxResults", proj.buckets.len())?;
        let mut out = json!({"kind": "storage#buckets"});
        if page.end > page.start {
            out["items"] = json!(&proj.buckets[page.start..page.end]);
        }
        if let Some(t) = page.next {
            out["nextPageToken"] = json!(t);
        }
        Ok(out)
    }

    fn bucket(&self, name: &str) -> Reply {
        let owner = self
            .st
            .fleet
            .projects()
            .iter()
            .find(|p| p.buckets.iter().any(|b| b["name"] == name))
            .ok_or_else(|| GoogleError::not_found("The specified bucket does not exist.".into()))?;
        let proj = self.project(&owner.id)?;
        proj.buckets
            .iter()
            .find(|b| b["name"] == name)
            .cloned()
            .ok_or_else(|| GoogleError::not_found("The specified bucket does not exist.".into()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn page_tokens_round_trip_and_are_bound_to_their_path() {
        let t = encode_token("/compute/v1/projects/p/aggregated/instances", 4);
        assert_eq!(
            decode_token("/compute/v1/projects/p/aggregated/instances", &t),
            Some(4)
        );
        assert_eq!(
            decode_token("/compute/v1/projects/p/global/firewalls", &t),
            None
        );
        assert_eq!(decode_token("/x", "not-a-token!"), None);
        assert_eq!(decode_token("/x", ""), None);
    }

    fn state(faults: GcpFaults) -> State {
        let fleet =
            super::super::data::generate(3, &["kq-prod".to_string(), "kq-staging".to_string()]);
        State::new(SocketAddr::from(([127, 0, 0, 1], 0)), fleet, 2, faults)
    }

    fn get(st: &State, path_and_query: &str) -> Reply {
        let (path, query) = path_and_query
            .split_once('?')
            .unwrap_or((path_and_query, ""));
        route(st, "GET", path, &Query::parse(Some(query)))
    }

    #[test]
    fn aggregated_pages_cover_every_item_once() {
        let st = state(GcpFaults::default());
        let path = "/compute/v1/projects/kq-prod/aggregated/instances";
        let mut names = Vec::new();
        let mut token: Option<String> = None;
        let mut pages = 0;
        loop {
            let q = match &token {
                Some(t) => format!("{path}?maxResults=500&pageToken={t}"),
                None => format!("{path}?maxResults=500"),
            };
            let page = get(&st, &q).unwrap();
            pages += 1;
            for (_, scope) in page["items"].as_object().unwrap() {
                for vm in scope["instances"].as_array().into_iter().flatten() {
                    names.push(vm["name"].as_str().unwrap().to_string());
                }
            }
            token = page["nextPageToken"].as_str().map(str::to_string);
            if token.is_none() {
                break;
            }
        }
        let fleet = &st.fleet.projects()[0];
        assert_eq!(names.len(), fleet.instances.len());
        assert_eq!(pages, fleet.instances.len().div_ceil(2));
        let err = get(&st, &format!("{path}?pageToken=garbage")).unwrap_err();
        assert_eq!(err.code, 400);
    }

    #[test]
    fn faults_answer_like_google() {
        let st = state(GcpFaults {
            forbidden_projects: vec!["kq-staging".into()],
            throttle_first: 1,
            unavailable_first: 1,
            unreachable_zones: vec!["us-central1-a".into()],
        });
        let path = "/compute/v1/projects/kq-prod/global/networks";
        assert_eq!(get(&st, path).unwrap_err().code, 429);
        assert_eq!(get(&st, path).unwrap_err().code, 503);
        assert!(get(&st, path).is_ok());
        st.set_faults(GcpFaults {
            forbidden_projects: vec!["kq-staging".into()],
            unreachable_zones: vec!["us-central1-a".into()],
            ..GcpFaults::default()
        });
        let e = get(&st, "/compute/v1/projects/kq-staging/global/networks").unwrap_err();
        assert_eq!((e.code, e.status), (403, "PERMISSION_DENIED"));
        assert_eq!(
            get(&st, "/v1/projects").unwrap()["projects"]
                .as_array()
                .unwrap()
                .len(),
            2
        );
        let agg = get(&st, "/compute/v1/projects/kq-prod/aggregated/instances").unwrap();
        assert_eq!(agg["unreachables"], json!(["zones/us-central1-a"]));
        assert_eq!(
            agg["items"]["zones/us-central1-a"]["warning"]["code"],
            "UNREACHABLE"
        );
        let zonal = get(
            &st,
            "/compute/v1/projects/kq-prod/zones/us-central1-a/instances",
        );
        assert_eq!(zonal.unwrap_err().code, 503);
        let write = route(&st, "DELETE", path, &Query::default()).unwrap_err();
        assert_eq!(write.code, 405);
    }
}
