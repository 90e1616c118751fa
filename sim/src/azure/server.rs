//! The fake's HTTP side: the ARM routes (matched case-insensitively, as ARM
//! does), `$skipToken` paging, bearer-token checks, injected faults,
//! ARM-style errors, the managed-identity token endpoint and the request log.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;

use base64::Engine;
use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper::{Request, Response};
use hyper_util::rt::{TokioExecutor, TokioIo};
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio::task::JoinSet;

use super::data::{AzureFleet, AzureSubscription};
use super::{AzureFaults, AzureRequest};
use crate::cloud_fake::{FakeState, FirstNFault};
use crate::generate::dice::stable_hash;
use crate::http_util::{Body, Query, bytes_response, url_decode};

/// `exp` and `expires_on` of every token: 2100-01-01, so no client refreshes.
pub(crate) const TOKEN_EXPIRES_ON: i64 = 4_102_444_800;

/// Everything the connections of both listeners share.
pub(crate) struct State {
    /// The ARM (https) listener's address.
    pub arm_addr: SocketAddr,
    pub fleet: AzureFleet,
    /// The bearer token the identity endpoint issues and ARM accepts.
    pub token: String,
    /// The `X-IDENTITY-HEADER` value the identity endpoint requires.
    pub identity_header: String,
    page_size: usize,
    shared: FakeState<AzureFaults, AzureRequest>,
}

fn b64url(v: &Value) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string())
}

/// A JWT-shaped token: az decodes (without verifying) the payload to read
/// `tid`, `oid` and `appid`, and crashes on anything that is not three
/// dot-separated segments. The signature is never checked.
pub(crate) fn token_for(fleet: &AzureFleet, arm_url: &str) -> String {
    let header = json!({"typ": "JWT", "alg": "RS256", "kid": "kq-azure-sim"});
    let payload = json!({
        "aud": format!("{arm_url}/"),
        "iss": format!("https://sts.windows.net/{}/", fleet.tenant_id),
        "iat": TOKEN_EXPIRES_ON - 100 * 365 * 86_400,
        "nbf": TOKEN_EXPIRES_ON - 100 * 365 * 86_400,
        "exp": TOKEN_EXPIRES_ON,
        "tid": fleet.tenant_id,
        "oid": fleet.principal_id,
        "sub": fleet.principal_id,
        "appid": fleet.client_id,
        "idtyp": "app",
        "xms_mirid": "/subscriptions/kq-azure-sim/managedIdentity",
    });
    format!("{}.{}.a3Etc2lt", b64url(&header), b64url(&payload))
}

impl State {
    pub fn new(
        arm_addr: SocketAddr,
        fleet: AzureFleet,
        identity_header: String,
        page_size: usize,
        faults: AzureFaults,
    ) -> Self {
        let token = token_for(&fleet, &format!("https://{arm_addr}"));
        State {
            arm_addr,
            fleet,
            token,
            identity_header,
            page_size,
            shared: FakeState::new(faults),
        }
    }

    fn faults(&self) -> AzureFaults {
        self.shared.faults()
    }

    pub fn set_faults(&self, faults: AzureFaults) {
        self.shared.set_faults(faults)
    }

    pub fn requests(&self) -> Vec<AzureRequest> {
        self.shared.requests()
    }

    fn record(&self, r: AzureRequest) {
        self.shared.record(r)
    }

    /// The 429/503 a request gets from the first-N faults of its path.
    fn first_n_fault(&self, path: &str) -> Result<(), ArmError> {
        match self.shared.first_n(path) {
            None => Ok(()),
            Some(FirstNFault::Throttled) => Err(ArmError::new(
                429,
                "TooManyRequests",
                "The request is being throttled as the limit has been reached for operation type - Read_ObservationWindow_00:05:00. For more information, refer to - https://aka.ms/armthrottling".into(),
            )),
            Some(FirstNFault::Unavailable) => Err(ArmError::new(
                503,
                "ServiceUnavailable",
                "The service is currently unavailable. Please try again later.".into(),
            )),
        }
    }
}

/// An ARM error, answered as `{"error": {"code", "message"}}`.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{status} {code}: {message}")]
pub(crate) struct ArmError {
    pub status: u16,
    pub code: &'static str,
    pub message: String,
}

impl ArmError {
    fn new(status: u16, code: &'static str, message: String) -> Self {
        ArmError {
            status,
            code,
            message,
        }
    }

    fn not_found(path: &str) -> Self {
        ArmError::new(
            404,
            "NotFound",
            format!("kq-azure-sim serves no resource at {path}."),
        )
    }

    fn body(&self) -> Value {
        json!({"error": {"code": self.code, "message": self.message}})
    }
}

type Reply = Result<Value, ArmError>;

/// Serves one listener; `tls` is the ARM side's acceptor, None for the
/// plain-http identity endpoint.
pub(crate) async fn serve(
    listener: TcpListener,
    tls: Option<tokio_rustls::TlsAcceptor>,
    state: Arc<State>,
    mut shutdown: tokio::sync::watch::Receiver<bool>,
) {
    let mut conns = JoinSet::new();
    let identity = tls.is_none();
    loop {
        tokio::select! {
            _ = shutdown.changed() => break,
            Some(_) = conns.join_next(), if !conns.is_empty() => {}
            accepted = listener.accept() => {
                let Ok((tcp, _)) = accepted else { continue };
                let _ = tcp.set_nodelay(true);
                let st = state.clone();
                let tls = tls.clone();
                conns.spawn(async move {
                    let service = hyper::service::service_fn(move |req| {
                        let st = st.clone();
                        async move { Ok::<_, Infallible>(handle(&st, identity, req).await) }
                    });
                    let builder = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
                    match tls {
                        Some(acceptor) => {
                            // A failed handshake (a client that does not trust the CA) just closes.
                            if let Ok(stream) = acceptor.accept(tcp).await {
                                let _ = builder.serve_connection(TokioIo::new(stream), service).await;
                            }
                        }
                        None => {
                            let _ = builder.serve_connection(TokioIo::new(tcp), service).await;
                        }
                    }
                });
            }
        }
    }
    conns.abort_all();
}

async fn handle(st: &State, identity: bool, req: Request<Incoming>) -> Response<Body> {
    let method = req.method().as_str().to_string();
    let path = req.uri().path().to_string();
    let query = req.uri().query().unwrap_or("").to_string();
    let header = |name: &str| {
        req.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    };
    let authorization = header("authorization");
    let identity_header = header("x-identity-header");
    // Reads carry no body; a write's is dropped unread.
    let _ = req.into_body().collect().await;
    let q = Query::parse(Some(&query));
    let request_id = format!(
        "{:016x}-kq-azure-sim",
        stable_hash(&format!("{path}?{query}"))
    );
    let reply = if identity {
        identity_token(st, &method, &path, &q, identity_header.as_deref())
    } else {
        route(st, &method, &path, &q, authorization.as_deref())
    };
    let (status, body) = match &reply {
        Ok(v) => (200, v.clone()),
        Err(e) => (e.status, e.body()),
    };
    st.record(AzureRequest {
        method,
        path,
        query,
        authorization,
        status,
    });
    let bytes = serde_json::to_vec(&body).unwrap_or_default();
    let mut resp = bytes_response(status, "application/json; charset=utf-8", bytes.into());
    let headers = resp.headers_mut();
    if status == 429 || status == 503 {
        headers.insert(
            hyper::header::RETRY_AFTER,
            hyper::header::HeaderValue::from_static("0"),
        );
        headers.insert(
            "x-ms-retry-after-ms",
            hyper::header::HeaderValue::from_static("0"),
        );
    }
    if let Ok(v) = hyper::header::HeaderValue::from_str(&request_id) {
        headers.insert("x-ms-request-id", v);
    }
    resp
}

/// The App Service managed-identity protocol (2019-08-01), which both az
/// (through msal) and azure_identity's `ManagedIdentityCredential` speak.
fn identity_token(st: &State, method: &str, path: &str, q: &Query, header: Option<&str>) -> Reply {
    if method != "GET" {
        return Err(ArmError::new(
            405,
            "MethodNotAllowed",
            format!("The identity endpoint serves GET only, not {method}."),
        ));
    }
    if !path.eq_ignore_ascii_case("/msi/token") {
        return Err(ArmError::not_found(path));
    }
    if header != Some(st.identity_header.as_str()) {
        return Err(ArmError::new(
            401,
            "Unauthorized",
            "The X-IDENTITY-HEADER header is missing or wrong.".into(),
        ));
    }
    let resource = q.get("resource").unwrap_or_default();
    if resource.is_empty() {
        return Err(ArmError::new(
            400,
            "BadRequest",
            "The 'resource' query parameter is required.".into(),
        ));
    }
    Ok(json!({
        "access_token": st.token,
        "expires_on": TOKEN_EXPIRES_ON.to_string(),
        "resource": resource,
        "token_type": "Bearer",
        "client_id": st.fleet.client_id,
    }))
}

fn route(st: &State, method: &str, path: &str, q: &Query, auth: Option<&str>) -> Reply {
    if method != "GET" {
        return Err(ArmError::new(
            405,
            "MethodNotAllowed",
            format!("kq-azure-sim serves reads only: {method} {path} is not allowed."),
        ));
    }
    match auth.and_then(|a| a.strip_prefix("Bearer ")) {
        Some(t) if t == st.token => {}
        Some(_) => {
            return Err(ArmError::new(
                401,
                "InvalidAuthenticationToken",
                "The access token is invalid.".into(),
            ));
        }
        None => {
            return Err(ArmError::new(
                401,
                "AuthenticationFailed",
                "Authentication failed. The 'Authorization' header is missing.".into(),
            ));
        }
    }
    if q.get("api-version").is_none_or(str::is_empty) {
        return Err(ArmError::new(
            400,
            "MissingApiVersionParameter",
            "The api-version query parameter (?api-version=) is required for all requests.".into(),
        ));
    }
    st.first_n_fault(path)?;
    let faults = st.faults();
    let segs: Vec<String> = path
        .trim_start_matches('/')
        .trim_end_matches('/')
        .split('/')
        .map(url_decode)
        .collect();
    let lower: Vec<String> = segs.iter().map(|s| s.to_ascii_lowercase()).collect();
    let l: Vec<&str> = lower.iter().map(String::as_str).collect();
    let cx = Cx {
        st,
        path,
        q,
        faults: &faults,
    };
    match l.as_slice() {
        ["subscriptions"] => {
            let subs: Vec<Value> = st
                .fleet
                .subscriptions()
                .iter()
                .map(|s| subscription_json(s, &st.fleet.tenant_id))
                .collect();
            cx.list(&subs)
        }
        ["tenants"] => cx.list(&[json!({
            "id": format!("/tenants/{}", st.fleet.tenant_id),
            "tenantId": st.fleet.tenant_id,
            "tenantCategory": "Home",
            "displayName": "kq-azure-sim",
            "defaultDomain": "kqazuresim.onmicrosoft.com",
        })]),
        ["subscriptions", _, rest @ ..] => {
            let raw: Vec<&str> = segs[2..].iter().map(String::as_str).collect();
            let sub = cx.subscription(&segs[1], &raw)?;
            cx.in_subscription(sub, rest, &segs[2..])
        }
        _ => Err(ArmError::not_found(path)),
    }
}

fn subscription_json(s: &AzureSubscription, tenant: &str) -> Value {
    json!({
        "id": format!("/subscriptions/{}", s.id),
        "authorizationSource": "RoleBased",
        "managedByTenants": [],
        "subscriptionId": s.id,
        "tenantId": tenant,
        "displayName": s.name,
        "state": "Enabled",
        "subscriptionPolicies": {
            "locationPlacementId": "Public_2014-09-01",
            "quotaId": "PayAsYouGo_2014-09-01",
            "spendingLimit": "Off",
        },
    })
}

/// One request's view of the fake.
struct Cx<'a> {
    st: &'a State,
    path: &'a str,
    q: &'a Query,
    faults: &'a AzureFaults,
}

const TOKEN_PREFIX: &str = "kqaz1";

/// Skip tokens carry the offset and a hash of the (lower-cased) path, so a
/// token only works on the list that issued it; clients treat them as opaque.
pub(crate) fn encode_token(path: &str, offset: usize) -> String {
    let raw = format!(
        "{TOKEN_PREFIX}:{:016x}:{offset}",
        stable_hash(&path.to_ascii_lowercase())
    );
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(raw)
}

pub(crate) fn decode_token(path: &str, token: &str) -> Option<usize> {
    let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(token)
        .ok()?;
    let raw = String::from_utf8(raw).ok()?;
    let mut parts = raw.splitn(3, ':');
    let (prefix, hash, offset) = (parts.next()?, parts.next()?, parts.next()?);
    (prefix == TOKEN_PREFIX && hash == format!("{:016x}", stable_hash(&path.to_ascii_lowercase())))
        .then(|| offset.parse().ok())
        .flatten()
}

/// Percent-encodes a query value (RFC 3986 unreserved characters stay).
fn encode_query_value(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The ARM read action a path needs, for AuthorizationFailed messages.
fn action_of(rest: &[&str]) -> String {
    match rest {
        [] => "Microsoft.Resources/subscriptions/read".into(),
        [rg, ..]
            if rg.eq_ignore_ascii_case("resourcegroups")
                && !rest.iter().any(|s| s.eq_ignore_ascii_case("providers")) =>
        {
            "Microsoft.Resources/subscriptions/resourceGroups/read".into()
        }
        [r] if r.eq_ignore_ascii_case("resources") => {
            "Microsoft.Resources/subscriptions/resources/read".into()
        }
        _ => {
            // providers/{namespace}/{type}/{name}/{subtype}/{name}...
            let at = rest
                .iter()
                .position(|s| s.eq_ignore_ascii_case("providers"))
                .unwrap_or(0);
            let mut parts: Vec<&str> = rest.get(at + 1).into_iter().copied().collect();
            parts.extend(rest.iter().skip(at + 2).step_by(2).copied());
            if parts.len() < 2 {
                return "Microsoft.Resources/subscriptions/read".into();
            }
            format!("{}/read", parts.join("/"))
        }
    }
}

impl Cx<'_> {
    /// The subscription with this id, unless unknown (404) or forbidden (403).
    fn subscription(&self, id: &str, rest: &[&str]) -> Result<&AzureSubscription, ArmError> {
        let sub = self
            .st
            .fleet
            .subscriptions()
            .iter()
            .find(|s| s.id.eq_ignore_ascii_case(id))
            .ok_or_else(|| {
                ArmError::new(
                    404,
                    "SubscriptionNotFound",
                    format!("The subscription '{id}' could not be found."),
                )
            })?;
        if self
            .faults
            .forbidden_subscriptions
            .iter()
            .any(|f| f.eq_ignore_ascii_case(&sub.id))
        {
            let oid = &self.st.fleet.principal_id;
            return Err(ArmError::new(
                403,
                "AuthorizationFailed",
                format!(
                    "The client '{oid}' with object id '{oid}' does not have authorization to perform action '{}' over scope '/subscriptions/{}' or the scope is invalid. If access was recently granted, please refresh your credentials.",
                    action_of(rest),
                    sub.id
                ),
            ));
        }
        Ok(sub)
    }

    /// One page of `items`: at most min(page_size, `$top`) from `$skipToken`,
    /// with a `nextLink` back to this path when more remain.
    fn list(&self, items: &[Value]) -> Reply {
        let top = match self.q.get("$top").filter(|s| !s.is_empty()) {
            None => None,
            Some(s) => Some(s.parse::<usize>().map_err(|_| {
                ArmError::new(
                    400,
                    "InvalidQueryParameterValue",
                    format!("Invalid value '{s}' for query parameter '$top'."),
                )
            })?),
        };
        let cap = if self.st.page_size == 0 {
            1000
        } else {
            self.st.page_size
        };
        let size = top.filter(|n| *n > 0).map_or(cap, |n| n.min(cap));
        let total = items.len();
        let start = match self.q.get("$skipToken").filter(|t| !t.is_empty()) {
            None => 0,
            Some(t) => decode_token(self.path, t)
                .filter(|o| *o <= total)
                .ok_or_else(|| {
                    ArmError::new(
                        400,
                        "InvalidSkipToken",
                        format!("The skip token '{t}' is not valid for {}.", self.path),
                    )
                })?,
        };
        let end = (start + size).min(total);
        let mut out = json!({ "value": &items[start..end] });
        if end < total {
            // ARM's nextLink is absolute and keeps the request's parameters.
            let mut params: Vec<String> = Vec::new();
            for key in ["api-version", "$filter", "$expand", "$top"] {
                if let Some(v) = self.q.get(key) {
                    params.push(format!("{key}={}", encode_query_value(v)));
                }
            }
            params.push(format!("$skipToken={}", encode_token(self.path, end)));
            out["nextLink"] = json!(format!(
                "https://{}{}?{}",
                self.st.arm_addr,
                self.path,
                params.join("&")
            ));
        }
        Ok(out)
    }

    fn in_subscription(&self, sub: &AzureSubscription, l: &[&str], raw: &[String]) -> Reply {
        match l {
            [] => Ok(subscription_json(sub, &self.st.fleet.tenant_id)),
            ["resourcegroups"] => self.list(&sub.resource_groups),
            ["resourcegroups", rg] => sub
                .resource_groups
                .iter()
                .find(|g| {
                    g["name"]
                        .as_str()
                        .is_some_and(|n| n.eq_ignore_ascii_case(rg))
                })
                .cloned()
                .ok_or_else(|| {
                    ArmError::new(
                        404,
                        "ResourceGroupNotFound",
                        format!("Resource group '{}' could not be found.", raw[1]),
                    )
                }),
            ["resources"] => self.list(&sub.generic_resources()),
            ["providers", ns, kind] => {
                let items = match (*ns, *kind) {
                    ("microsoft.compute", "virtualmachines") => &sub.virtual_machines,
                    ("microsoft.compute", "virtualmachinescalesets") => &sub.scale_sets,
                    ("microsoft.network", "networksecuritygroups") => &sub.network_security_groups,
                    ("microsoft.network", "publicipaddresses") => &sub.public_ips,
                    ("microsoft.network", "loadbalancers") => &sub.load_balancers,
                    ("microsoft.containerservice", "managedclusters") => &sub.managed_clusters,
                    ("microsoft.authorization", "roleassignments") => {
                        return self.role_assignments(sub, None);
                    }
                    ("microsoft.authorization", "roledefinitions") => {
                        return self.role_definitions(sub);
                    }
                    ("microsoft.storage", "storageaccounts") => &sub.storage_accounts,
                    _ => return Err(ArmError::not_found(self.path)),
                };
                self.list(items)
            }
            [
                "providers",
                "microsoft.authorization",
                "roledefinitions",
                guid,
            ] => sub
                .role_definitions
                .iter()
                .find(|d| {
                    d["name"]
                        .as_str()
                        .is_some_and(|n| n.eq_ignore_ascii_case(guid))
                })
                .cloned()
                .ok_or_else(|| {
                    ArmError::new(
                        404,
                        "RoleDefinitionDoesNotExist",
                        format!("The role definition '{}' could not be found.", raw[3]),
                    )
                }),
            [
                "resourcegroups",
                _,
                "providers",
                "microsoft.authorization",
                "roleassignments",
            ] => self.role_assignments(
                sub,
                Some(&format!(
                    "/subscriptions/{}/resourceGroups/{}",
                    sub.id, raw[1]
                )),
            ),
            ["resourcegroups", rg, "providers", ns, kind, rest @ ..] => {
                self.in_resource_group(sub, rg, ns, kind, rest)
            }
            _ => Err(ArmError::not_found(self.path)),
        }
    }

    /// Resources of one resource group, one resource by name, and scale-set instances.
    fn in_resource_group(
        &self,
        sub: &AzureSubscription,
        rg: &str,
        ns: &str,
        kind: &str,
        rest: &[&str],
    ) -> Reply {
        let items = match (ns, kind) {
            ("microsoft.compute", "virtualmachines") => &sub.virtual_machines,
            ("microsoft.compute", "virtualmachinescalesets") => &sub.scale_sets,
            ("microsoft.network", "networksecuritygroups") => &sub.network_security_groups,
            ("microsoft.network", "publicipaddresses") => &sub.public_ips,
            ("microsoft.network", "loadbalancers") => &sub.load_balancers,
            ("microsoft.containerservice", "managedclusters") => &sub.managed_clusters,
            ("microsoft.storage", "storageaccounts") => &sub.storage_accounts,
            _ => return Err(ArmError::not_found(self.path)),
        };
        if !sub.resource_groups.iter().any(|g| {
            g["name"]
                .as_str()
                .is_some_and(|n| n.eq_ignore_ascii_case(rg))
        }) {
            return Err(ArmError::new(
                404,
                "ResourceGroupNotFound",
                format!("Resource group '{rg}' could not be found."),
            ));
        }
        let prefix = format!(
            "/subscriptions/{}/resourcegroups/{rg}/",
            sub.id.to_ascii_lowercase()
        );
        let here: Vec<Value> = items
            .iter()
            .filter(|v| {
                v["id"]
                    .as_str()
                    .is_some_and(|id| id.to_ascii_lowercase().starts_with(&prefix))
            })
            .cloned()
            .collect();
        let find = |name: &str| {
            here.iter()
                .find(|v| v["name"].as_str().is_some_and(|n| n.eq_ignore_ascii_case(name)))
                .ok_or_else(|| {
                    ArmError::new(
                        404,
                        "ResourceNotFound",
                        format!("The Resource '{ns}/{kind}/{name}' under resource group '{rg}' was not found."),
                    )
                })
        };
        match rest {
            [] => self.list(&here),
            [name] => find(name).cloned(),
            [name, "virtualmachines"] if kind == "virtualmachinescalesets" => {
                let ss = find(name)?;
                let id = ss["id"].as_str().unwrap_or_default();
                let vms: Vec<Value> = sub.instances_of(id).into_iter().cloned().collect();
                self.list(&vms)
            }
            [name, "virtualmachines", instance] if kind == "virtualmachinescalesets" => {
                let ss = find(name)?;
                let id = ss["id"].as_str().unwrap_or_default();
                sub.instances_of(id)
                    .into_iter()
                    .find(|v| v["instanceId"] == *instance)
                    .cloned()
                    .ok_or_else(|| ArmError::not_found(self.path))
            }
            _ => Err(ArmError::not_found(self.path)),
        }
    }

    /// Role assignments at, above or below the scope, or only at and above
    /// it with `$filter=atScope()`; `principalId eq '...'` filters too.
    fn role_assignments(&self, sub: &AzureSubscription, rg_scope: Option<&str>) -> Reply {
        let filter = self.q.get("$filter").unwrap_or_default();
        let at_scope = filter.contains("atScope()");
        let principal = filter
            .split("principalId eq '")
            .nth(1)
            .and_then(|s| s.split('\'').next());
        let sub_scope = format!("/subscriptions/{}", sub.id);
        let items: Vec<Value> = sub
            .role_assignments
            .iter()
            .filter(|ra| {
                let scope = ra["properties"]["scope"].as_str().unwrap_or_default();
                let in_scope = match rg_scope {
                    None => !at_scope || scope.eq_ignore_ascii_case(&sub_scope),
                    Some(rg) => {
                        scope.eq_ignore_ascii_case(&sub_scope)
                            || scope.eq_ignore_ascii_case(rg)
                            || (!at_scope
                                && scope
                                    .to_ascii_lowercase()
                                    .starts_with(&format!("{}/", rg.to_ascii_lowercase())))
                    }
                };
                in_scope
                    && principal.is_none_or(|p| {
                        ra["properties"]["principalId"]
                            .as_str()
                            .is_some_and(|id| id.eq_ignore_ascii_case(p))
                    })
            })
            .cloned()
            .collect();
        self.list(&items)
    }

    /// Role definitions, filtered by `roleName eq '...'` or `type eq 'CustomRole'`
    /// as the API does.
    fn role_definitions(&self, sub: &AzureSubscription) -> Reply {
        let filter = self.q.get("$filter").unwrap_or_default();
        let name = filter
            .split("roleName eq '")
            .nth(1)
            .and_then(|s| s.split('\'').next());
        let kind = filter
            .split("type eq '")
            .nth(1)
            .and_then(|s| s.split('\'').next());
        let items: Vec<Value> = sub
            .role_definitions
            .iter()
            .filter(|d| {
                name.is_none_or(|n| d["properties"]["roleName"] == n)
                    && kind.is_none_or(|k| d["properties"]["type"] == k)
            })
            .cloned()
            .collect();
        self.list(&items)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn skip_tokens_round_trip_and_are_bound_to_their_path() {
        let t = encode_token(
            "/subscriptions/S/providers/Microsoft.Compute/virtualMachines",
            4,
        );
        assert_eq!(
            decode_token(
                "/subscriptions/s/providers/microsoft.compute/virtualmachines",
                &t
            ),
            Some(4)
        );
        assert_eq!(decode_token("/subscriptions/S/resourcegroups", &t), None);
        assert_eq!(decode_token("/x", "not-a-token!"), None);
        assert_eq!(decode_token("/x", ""), None);
    }

    fn state(faults: AzureFaults) -> State {
        let fleet = super::super::data::generate(3, &["prod".to_string(), "staging".to_string()]);
        State::new(
            SocketAddr::from(([127, 0, 0, 1], 443)),
            fleet,
            "h".into(),
            2,
            faults,
        )
    }

    fn get(st: &State, path_and_query: &str) -> Reply {
        let (path, query) = path_and_query
            .split_once('?')
            .unwrap_or((path_and_query, ""));
        let auth = format!("Bearer {}", st.token);
        route(st, "GET", path, &Query::parse(Some(query)), Some(&auth))
    }

    #[test]
    fn next_links_cover_every_item_once() {
        let st = state(AzureFaults::default());
        let sub = st.fleet.subscriptions()[0].clone();
        let mut url = format!(
            "/subscriptions/{}/providers/microsoft.network/NetworkSecurityGroups?api-version=2024-01-01",
            sub.id
        );
        let mut ids = Vec::new();
        let mut pages = 0;
        loop {
            let page = get(&st, &url).unwrap();
            pages += 1;
            for v in page["value"].as_array().unwrap() {
                ids.push(v["id"].clone());
            }
            match page["nextLink"].as_str() {
                Some(next) => {
                    url = next
                        .strip_prefix("https://127.0.0.1:443")
                        .unwrap()
                        .to_string();
                    assert!(url.contains("api-version=2024-01-01"), "{url}");
                }
                None => break,
            }
        }
        let want: Vec<Value> = sub
            .network_security_groups
            .iter()
            .map(|n| n["id"].clone())
            .collect();
        assert_eq!(ids, want);
        assert_eq!(pages, want.len().div_ceil(2));
        let top1 = get(
            &st,
            &format!(
                "/subscriptions/{}/resourcegroups?api-version=1&$top=1",
                sub.id
            ),
        )
        .unwrap();
        assert_eq!(top1["value"].as_array().unwrap().len(), 1);
        assert!(
            top1["nextLink"].as_str().unwrap().contains("%24top=1")
                || top1["nextLink"].as_str().unwrap().contains("$top=1")
        );
        let bad = get(
            &st,
            &format!(
                "/subscriptions/{}/resourcegroups?api-version=1&$skipToken=garbage",
                sub.id
            ),
        )
        .unwrap_err();
        assert_eq!((bad.status, bad.code), (400, "InvalidSkipToken"));
    }

    #[test]
    fn errors_answer_like_arm() {
        let st = state(AzureFaults::default());
        let sub = st.fleet.subscriptions()[1].id.clone();
        let path = format!("/subscriptions/{sub}/resourcegroups");
        let e = get(&st, &path).unwrap_err();
        assert_eq!((e.status, e.code), (400, "MissingApiVersionParameter"));
        let q = Query::parse(Some("api-version=1"));
        let e = route(&st, "GET", &path, &q, None).unwrap_err();
        assert_eq!((e.status, e.code), (401, "AuthenticationFailed"));
        let e = route(&st, "GET", &path, &q, Some("Bearer nope")).unwrap_err();
        assert_eq!(e.status, 401);
        let auth = format!("Bearer {}", st.token);
        let e = route(&st, "DELETE", &path, &q, Some(&auth)).unwrap_err();
        assert_eq!(e.status, 405);
        let e = get(&st, "/subscriptions/nope/resourcegroups?api-version=1").unwrap_err();
        assert_eq!((e.status, e.code), (404, "SubscriptionNotFound"));
        let e = get(
            &st,
            &format!("/subscriptions/{sub}/providers/Microsoft.Foo/bars?api-version=1"),
        )
        .unwrap_err();
        assert_eq!(e.status, 404);

        st.set_faults(AzureFaults {
            forbidden_subscriptions: vec![sub.to_uppercase()],
            throttle_first: 1,
            unavailable_first: 1,
        });
        let vms = format!(
            "/subscriptions/{sub}/providers/Microsoft.Compute/virtualMachines?api-version=1"
        );
        assert_eq!(get(&st, &vms).unwrap_err().status, 429);
        assert_eq!(get(&st, &vms).unwrap_err().status, 503);
        let e = get(&st, &vms).unwrap_err();
        assert_eq!((e.status, e.code), (403, "AuthorizationFailed"));
        assert!(
            e.message
                .contains("'Microsoft.Compute/virtualMachines/read'"),
            "{}",
            e.message
        );
        st.set_faults(AzureFaults {
            forbidden_subscriptions: vec![sub.clone()],
            ..AzureFaults::default()
        });
        let subs = get(&st, "/subscriptions?api-version=1").unwrap();
        assert_eq!(subs["value"].as_array().unwrap().len(), 2);
    }

    #[test]
    fn identity_endpoint_needs_its_header() {
        let st = state(AzureFaults::default());
        let q = Query::parse(Some(
            "api-version=2019-08-01&resource=https%3A%2F%2F127.0.0.1%3A443%2F",
        ));
        assert_eq!(
            identity_token(&st, "GET", "/msi/token", &q, None)
                .unwrap_err()
                .status,
            401
        );
        let t = identity_token(&st, "GET", "/msi/token", &q, Some("h")).unwrap();
        assert_eq!(t["access_token"], st.token.as_str());
        assert_eq!(t["resource"], "https://127.0.0.1:443/");
        let payload = st.token.split('.').nth(1).unwrap();
        let claims: Value = serde_json::from_slice(
            &base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(payload)
                .unwrap(),
        )
        .unwrap();
        assert_eq!(claims["tid"], st.fleet.tenant_id.as_str());
    }
}
