//! The HTTP(S) front end of one simulated cluster: connection handling
//! (TLS, HTTP/1.1 and HTTP/2), authentication, fault injection, counters,
//! routing, and the list/get/watch/write handlers.
//!
//! Authentication: a bearer token, when present, names the user; otherwise
//! the client certificate of the connection (verified once per connection
//! against the cluster's client CA) does, by its subject CN. Tokens are looked
//! up per request, so a rotated token fails from the next request on while
//! requests already being served (watches) keep running.

use std::convert::Infallible;
use std::ops::Bound;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use base64::Engine;
use bytes::{Bytes, BytesMut};
use http_body_util::{BodyExt, Limited, StreamBody};
use hyper::body::{Frame, Incoming};
use hyper::{Method, Request, Response};
use hyper_util::rt::{TokioExecutor, TokioIo};
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio::sync::mpsc;
use tokio::task::JoinSet;

use crate::discovery;
use crate::fleet::{ClusterState, Faults, RequestRecord};
use crate::http_util::{Accept, Body, Query, bytes_response, error_response, json_response};
use crate::patch;
use crate::rbac::SimUser;
use crate::registry::{AUTHZ_GROUP, ResourceType};
use crate::selector::{FieldSelector, LabelSelector};
use crate::status::ApiError;
use crate::store::{Collection, EventType, ObjKey, Stored, WatchPoll};
use crate::table::{self, IncludeObject};

/// Largest request body accepted (the real server's limit is 3 MiB per object; be generous).
const MAX_BODY: usize = 64 << 20;
/// Watches without timeoutSeconds end after this long, as the real server's min-request-timeout.
const DEFAULT_WATCH_TIMEOUT: Duration = Duration::from_secs(1800);
const BOOKMARK_INTERVAL: Duration = Duration::from_secs(10);
const AGGREGATED_V2: &str = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList";
const AGGREGATED_V2BETA1: &str =
    "application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList";

/// Accepts connections until `shutdown` flips; dropping the JoinSet drops every connection.
pub(crate) async fn serve(
    listener: TcpListener,
    state: Arc<ClusterState>,
    tls: Option<tokio_rustls::TlsAcceptor>,
    mut shutdown: tokio::sync::watch::Receiver<bool>,
) {
    let mut conns = JoinSet::new();
    loop {
        tokio::select! {
            _ = shutdown.changed() => break,
            Some(_) = conns.join_next(), if !conns.is_empty() => {}
            accepted = listener.accept() => {
                let Ok((tcp, _)) = accepted else { continue };
                if state.faults().down {
                    drop(tcp);
                    continue;
                }
                let _ = tcp.set_nodelay(true);
                conns.spawn(connection(tcp, state.clone(), tls.clone()));
            }
        }
    }
    conns.abort_all();
}

/// What the client certificate of a connection says about its peer.
#[derive(Debug, Clone, Default)]
enum PeerCert {
    /// No certificate (or plain HTTP).
    #[default]
    None,
    /// A certificate that chains to the client CA, with its subject CN.
    Verified(String),
    /// A certificate that does not verify (unknown CA, expired, wrong usage).
    Rejected,
}

fn peer_cert(state: &ClusterState, tls: &rustls::ServerConnection) -> PeerCert {
    match (tls.peer_certificates(), &state.client_auth) {
        (None, _) | (Some([]), _) => PeerCert::None,
        (Some(chain), Some(auth)) => match auth.authenticate(chain) {
            Some(cn) => PeerCert::Verified(cn),
            None => PeerCert::Rejected,
        },
        (Some(_), None) => PeerCert::Rejected,
    }
}

async fn connection(
    tcp: tokio::net::TcpStream,
    state: Arc<ClusterState>,
    tls: Option<tokio_rustls::TlsAcceptor>,
) {
    let mut fault_rx = state.fault_changes.subscribe();
    let service = |peer: PeerCert| {
        let st = state.clone();
        let peer = Arc::new(peer);
        hyper::service::service_fn(move |req| {
            let st = st.clone();
            let peer = peer.clone();
            async move { Ok::<_, Infallible>(handle(st, &peer, req).await) }
        })
    };
    let builder = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
    let serve = async {
        match tls {
            Some(acceptor) => {
                let Ok(stream) = acceptor.accept(tcp).await else {
                    return;
                };
                let peer = peer_cert(&state, stream.get_ref().1);
                let _ = builder
                    .serve_connection(TokioIo::new(stream), service(peer))
                    .await;
            }
            None => {
                let _ = builder
                    .serve_connection(TokioIo::new(tcp), service(PeerCert::None))
                    .await;
            }
        }
    };
    // A cluster going down must also cut connections that are already open.
    let went_down = async {
        loop {
            if fault_rx.changed().await.is_err() {
                std::future::pending::<()>().await;
            }
            if state.faults().down {
                return;
            }
        }
    };
    tokio::select! {
        _ = serve => {}
        _ = went_down => {}
    }
}

/// A parsed resource URL.
#[derive(Debug, Clone)]
struct ResourceReq {
    rt: ResourceType,
    namespace: Option<String>,
    name: Option<String>,
    subresource: Option<String>,
}

#[derive(Debug)]
enum Target {
    Root,
    Version,
    Health,
    Api,
    Apis,
    Group(String),
    GroupVersion(String, String),
    OpenApiV3Index,
    OpenApiV3(String, String),
    Resource(Box<ResourceReq>),
    /// A group version served by an APIService whose backend is down.
    Unavailable,
}

fn route(state: &ClusterState, path: &str) -> Result<Target, ApiError> {
    let segs: Vec<&str> = path
        .trim_matches('/')
        .split('/')
        .filter(|s| !s.is_empty())
        .collect();
    let registry_has = |g: &str, v: &str| state.store.with_registry(|r| r.has_group_version(g, v));
    let unavailable = |g: &str, v: &str| {
        let faults = state.faults();
        faults
            .unavailable_api_groups
            .iter()
            .any(|gv| *gv == format!("{g}/{v}"))
    };
    match segs.as_slice() {
        ["apis", g, v, ..] if unavailable(g, v) => Ok(Target::Unavailable),
        [] => Ok(Target::Root),
        ["version"] => Ok(Target::Version),
        ["healthz" | "readyz" | "livez"] => Ok(Target::Health),
        ["api"] => Ok(Target::Api),
        ["api", "v1"] => Ok(Target::GroupVersion(String::new(), "v1".into())),
        ["api", "v1", rest @ ..] => resource_route(state, "", "v1", rest),
        ["apis"] => Ok(Target::Apis),
        ["apis", g] => Ok(Target::Group(g.to_string())),
        ["apis", g, v] if registry_has(g, v) => {
            Ok(Target::GroupVersion(g.to_string(), v.to_string()))
        }
        ["apis", g, v, rest @ ..] if registry_has(g, v) => resource_route(state, g, v, rest),
        ["openapi", "v3"] => Ok(Target::OpenApiV3Index),
        ["openapi", "v3", "api", v] => Ok(Target::OpenApiV3(String::new(), v.to_string())),
        ["openapi", "v3", "apis", g, v] => Ok(Target::OpenApiV3(g.to_string(), v.to_string())),
        _ => Err(ApiError::not_found_path()),
    }
}

fn resource_route(
    state: &ClusterState,
    group: &str,
    version: &str,
    rest: &[&str],
) -> Result<Target, ApiError> {
    let lookup = |plural: &str| {
        state
            .store
            .with_registry(|r| r.lookup(group, version, plural).cloned())
    };
    let namespaced_target = match rest {
        ["namespaces", ns, plural, tail @ ..] if tail.len() <= 2 => lookup(plural)
            .filter(|t| t.namespaced)
            .map(|rt| ResourceReq {
                rt,
                namespace: Some(ns.to_string()),
                name: tail.first().map(|s| s.to_string()),
                subresource: tail.get(1).map(|s| s.to_string()),
            }),
        _ => None,
    };
    let req = match namespaced_target {
        Some(r) => r,
        None => match rest {
            [plural, tail @ ..] if tail.len() <= 2 => {
                let rt = lookup(plural).ok_or_else(ApiError::not_found_path)?;
                ResourceReq {
                    rt,
                    namespace: None,
                    name: tail.first().map(|s| s.to_string()),
                    subresource: tail.get(1).map(|s| s.to_string()),
                }
            }
            _ => return Err(ApiError::not_found_path()),
        },
    };
    if let Some(sub) = &req.subresource
        && sub != "status"
        && !(sub == "scale" && scalable(&req.rt))
    {
        return Err(ApiError::not_found_path());
    }
    Ok(Target::Resource(Box::new(req)))
}

fn verb_for(method: &Method, req: &ResourceReq, query: &Query) -> Result<&'static str, ApiError> {
    let named = req.name.is_some();
    Ok(match (method, named) {
        (&Method::GET, true) => {
            if query.flag("watch") {
                "watch"
            } else {
                "get"
            }
        }
        (&Method::GET, false) => {
            if query.flag("watch") {
                "watch"
            } else {
                "list"
            }
        }
        (&Method::POST, false) => "create",
        (&Method::PUT, true) => "update",
        (&Method::PATCH, true) => "patch",
        (&Method::DELETE, true) => "delete",
        (&Method::DELETE, false) => "deletecollection",
        (m, _) => return Err(ApiError::method_not_allowed(m.as_str())),
    })
}

struct Ctx {
    state: Arc<ClusterState>,
    query: Query,
    accept: Accept,
    user: SimUser,
}

/// Who sent `req`: its bearer token when it has one, else the connection's
/// verified client certificate; `None` is 401 Unauthorized.
fn authenticate(state: &ClusterState, peer: &PeerCert, req: &Request<Incoming>) -> Option<SimUser> {
    let token = req
        .headers()
        .get(hyper::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.strip_prefix("Bearer ")
                .or_else(|| v.strip_prefix("bearer "))
        })
        .map(str::trim);
    match (token, peer) {
        (Some(t), _) => state.user_for_token(t),
        (None, PeerCert::Verified(cn)) => state.user_for_common_name(cn),
        (None, PeerCert::None | PeerCert::Rejected) => None,
    }
}

/// One request, end to end; records counters for everything but `/sim/` admin calls.
async fn handle(
    state: Arc<ClusterState>,
    peer: &PeerCert,
    req: Request<Incoming>,
) -> Response<Body> {
    let path = req.uri().path().to_string();
    let raw_query = req.uri().query().unwrap_or("").to_string();
    let user = authenticate(&state, peer, &req);
    if path == "/sim" || path.starts_with("/sim/") {
        return admin(&state, req, &path, user).await;
    }
    let method = req.method().clone();
    let query = Query::parse(req.uri().query());
    let target = route(&state, &path);
    let verb = match &target {
        Ok(Target::Resource(r)) => verb_for(&method, r, &query).unwrap_or("unknown"),
        _ => match method {
            Method::GET | Method::HEAD => "get",
            Method::POST => "create",
            _ => "unknown",
        },
    };
    let (response, counted) = match user {
        None => (error_response(&ApiError::unauthorized()), true),
        Some(user) => {
            let ctx = Ctx {
                state: state.clone(),
                accept: Accept::parse(
                    req.headers()
                        .get(hyper::header::ACCEPT)
                        .and_then(|v| v.to_str().ok()),
                    |v| state.server_version.serves_aggregated_discovery(v),
                ),
                query,
                user,
            };
            match dispatch(&ctx, req, target, verb).await {
                Ok(r) => (r, !matches!(verb, "watch")),
                Err(e) => (error_response(&e), true),
            }
        }
    };
    let status = response.status().as_u16();
    state.record(RequestRecord {
        verb: verb.to_string(),
        path,
        query: raw_query,
        user: user.map(|u| u.username().to_string()).unwrap_or_default(),
        status,
    });
    if counted {
        use hyper::body::Body as _;
        if let Some(n) = response.body().size_hint().exact() {
            state.add_bytes(n);
        }
    }
    response
}

/// Applies latency, throttling and 5xx faults, in that order.
async fn inject_faults(state: &ClusterState) -> Result<(), ApiError> {
    let f: Faults = state.faults();
    if f.latency_ms > 0 {
        tokio::time::sleep(Duration::from_millis(f.latency_ms)).await;
    }
    if f.throttle_rate > 0.0 && state.draw() < f.throttle_rate {
        return Err(ApiError::too_many_requests(f.retry_after_secs.max(1)));
    }
    if f.error_rate_5xx > 0.0 && state.draw() < f.error_rate_5xx {
        return Err(ApiError::internal(
            "Internal error occurred: injected fault (kq-sim error_rate_5xx)",
        ));
    }
    Ok(())
}

async fn read_body(req: Request<Incoming>) -> Result<Bytes, ApiError> {
    Limited::new(req.into_body(), MAX_BODY)
        .collect()
        .await
        .map(|c| c.to_bytes())
        .map_err(|e| ApiError::bad_request(format!("reading the request body: {e}")))
}

fn parse_object(body: &[u8], content_type: &str) -> Result<Value, ApiError> {
    if content_type.starts_with("application/vnd.kubernetes.protobuf") {
        return crate::proto::decode(body);
    }
    let parsed: Result<Value, String> = if content_type.contains("yaml") {
        serde_yaml::from_slice(body).map_err(|e| e.to_string())
    } else {
        serde_json::from_slice(body).map_err(|e| e.to_string())
    };
    let v = parsed.map_err(|e| {
        ApiError::bad_request(format!("couldn't get version/kind; json parse error: {e}"))
    })?;
    if !v.is_object() {
        return Err(ApiError::bad_request(
            "couldn't get version/kind; json parse error: the body must be a JSON object",
        ));
    }
    Ok(v)
}

async fn dispatch(
    ctx: &Ctx,
    req: Request<Incoming>,
    target: Result<Target, ApiError>,
    verb: &'static str,
) -> Result<Response<Body>, ApiError> {
    let target = target?;
    inject_faults(&ctx.state).await?;
    let store = &ctx.state.store;
    match target {
        Target::Root => Ok(json_response(
            200,
            &json!({"paths": ["/api", "/api/v1", "/apis", "/healthz", "/livez", "/openapi/v3", "/readyz", "/version"]}),
        )),
        Target::Version => Ok(json_response(
            200,
            &discovery::version(ctx.state.server_version),
        )),
        Target::Health => Ok(bytes_response(
            200,
            "text/plain; charset=utf-8",
            Bytes::from_static(b"ok"),
        )),
        Target::Api => match &ctx.accept.aggregated {
            Some(v) => Ok(aggregated_response(
                v,
                store.with_registry(|r| discovery::aggregated(r, true, v)),
            )),
            None => Ok(json_response(
                200,
                &discovery::api_versions(&ctx.state.addr.to_string()),
            )),
        },
        Target::Apis => {
            let broken = ctx.state.faults().unavailable_api_groups;
            match &ctx.accept.aggregated {
                Some(v) => {
                    let mut doc = store.with_registry(|r| discovery::aggregated(r, false, v));
                    discovery::add_stale_groups(&mut doc, &broken);
                    Ok(aggregated_response(v, doc))
                }
                None => {
                    let mut doc = store.with_registry(discovery::api_group_list);
                    discovery::add_listed_groups(&mut doc, &broken);
                    Ok(json_response(200, &doc))
                }
            }
        }
        Target::Group(g) => store
            .with_registry(|r| discovery::api_group_doc(r, &g))
            .or_else(|| {
                discovery::unavailable_group_doc(&ctx.state.faults().unavailable_api_groups, &g)
            })
            .map(|d| json_response(200, &d))
            .ok_or_else(ApiError::not_found_path),
        // The aggregator's proxy answers for a backend it cannot reach with
        // plain text, not a Status.
        Target::Unavailable => Ok(bytes_response(
            503,
            "text/plain; charset=utf-8",
            Bytes::from_static(b"service unavailable\n"),
        )),
        Target::GroupVersion(g, v) => Ok(json_response(
            200,
            &store.with_registry(|r| discovery::api_resource_list(r, &g, &v)),
        )),
        Target::OpenApiV3Index => {
            let release = ctx.state.server_version.git_version();
            Ok(json_response(
                200,
                &store.with_registry(|r| discovery::openapi_v3_index(r, &release)),
            ))
        }
        Target::OpenApiV3(g, v) => {
            if !store.with_registry(|r| r.has_group_version(&g, &v)) {
                return Err(ApiError::not_found_path());
            }
            let release = ctx.state.server_version.git_version();
            Ok(json_response(
                200,
                &store.with_registry(|r| discovery::openapi_v3_doc(r, &g, &v, &release)),
            ))
        }
        Target::Resource(r) => resource(ctx, req, *r, verb).await,
    }
}

fn aggregated_response(version: &str, doc: Value) -> Response<Body> {
    let ct = if version == "v2" {
        AGGREGATED_V2
    } else {
        AGGREGATED_V2BETA1
    };
    bytes_response(
        200,
        ct,
        Bytes::from(serde_json::to_vec(&doc).unwrap_or_default()),
    )
}

fn authorize(ctx: &Ctx, r: &ResourceReq, verb: &str) -> Result<(), ApiError> {
    // A namespace's own name is its namespace for authorization, as in the real RequestInfo.
    let ns = if r.rt.group.is_empty() && r.rt.plural == "namespaces" {
        r.name.as_deref()
    } else {
        r.namespace.as_deref()
    };
    if ctx.user.allowed(verb, &r.rt.group, &r.rt.plural, ns) {
        Ok(())
    } else {
        Err(ApiError::forbidden(
            ctx.user.username(),
            verb,
            &r.rt.group,
            &r.rt.plural,
            ns,
            r.name.as_deref(),
        ))
    }
}

async fn resource(
    ctx: &Ctx,
    req: Request<Incoming>,
    r: ResourceReq,
    verb: &'static str,
) -> Result<Response<Body>, ApiError> {
    let method = req.method().clone();
    if !r.rt.has_verb(verb) {
        return Err(ApiError::method_not_allowed(method.as_str()));
    }
    authorize(ctx, &r, verb)?;
    let content_type = req
        .headers()
        .get(hyper::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("application/json")
        .to_string();
    if r.rt.group == AUTHZ_GROUP {
        let body = read_body(req).await?;
        return review(ctx, &r.rt, &body, &content_type);
    }
    let dry_run = ctx.query.get("dryRun") == Some("All");
    if r.subresource.as_deref() == Some("scale") {
        return scale(ctx, req, &r, verb, &content_type, dry_run).await;
    }
    let store = &ctx.state.store;
    let ns = r.namespace.as_deref();
    match verb {
        "list" => list(ctx, &r),
        "watch" => watch(ctx, &r),
        "get" => {
            let name = r.name.as_deref().unwrap_or("");
            let obj = store
                .get(&r.rt.key(), ns.unwrap_or(""), name)
                .ok_or_else(|| ApiError::not_found(&r.rt.group, &r.rt.plural, name))?;
            Ok(single_response(ctx, &r.rt, 200, &obj.json))
        }
        "create" => {
            let body = read_body(req).await?;
            let obj = parse_object(&body, &content_type)?;
            let out = store.create(&r.rt, ns, obj, dry_run)?;
            Ok(json_response(201, &out))
        }
        "update" => {
            let body = read_body(req).await?;
            let obj = parse_object(&body, &content_type)?;
            let name = r.name.as_deref().unwrap_or("");
            let out = store.update(&r.rt, ns, name, obj, dry_run)?;
            Ok(json_response(200, &out))
        }
        "patch" => {
            let body = read_body(req).await?;
            let name = r.name.as_deref().unwrap_or("").to_string();
            patch_request(ctx, &r, &name, &content_type, &body, dry_run)
        }
        "delete" => {
            let name = r.name.as_deref().unwrap_or("");
            let out = store.delete(&r.rt, ns, name, dry_run)?;
            Ok(json_response(200, &out))
        }
        "deletecollection" => {
            let label = LabelSelector::parse(ctx.query.get("labelSelector").unwrap_or(""))?;
            let mut field = FieldSelector::parse(ctx.query.get("fieldSelector").unwrap_or(""))?;
            field.validate(&r.rt, ctx.state.server_version)?;
            let (_, coll) = store.snapshot(&r.rt.key());
            let victims: Vec<Arc<Stored>> = coll
                .values()
                .filter(|s| ns.is_none_or(|n| s.namespace == n))
                .filter(|s| {
                    label.matches(&s.labels) && field.matches(&s.namespace, &s.name, &s.fields)
                })
                .cloned()
                .collect();
            let mut items = Vec::new();
            for v in victims {
                let vns = if r.rt.namespaced {
                    Some(v.namespace.as_str())
                } else {
                    None
                };
                if let Ok(o) = store.delete(&r.rt, vns, &v.name, dry_run) {
                    items.push(o);
                }
            }
            let (rv, _) = store.head();
            Ok(json_response(
                200,
                &json!({"kind": r.rt.list_kind(), "apiVersion": r.rt.api_version(), "metadata": {"resourceVersion": rv.to_string()}, "items": items}),
            ))
        }
        _ => Err(ApiError::method_not_allowed(method.as_str())),
    }
}

/// Kinds with a `scale` subresource (what `kubectl scale` uses).
fn scalable(rt: &ResourceType) -> bool {
    matches!(
        (rt.group.as_str(), rt.plural.as_str()),
        ("apps", "deployments" | "statefulsets" | "replicasets") | ("", "replicationcontrollers")
    )
}

/// The object's replicas as an `autoscaling/v1` Scale.
fn scale_view(obj: &Value) -> Value {
    let meta = &obj["metadata"];
    let replicas = obj["spec"]["replicas"].as_i64().unwrap_or(1);
    json!({
        "kind": "Scale",
        "apiVersion": "autoscaling/v1",
        "metadata": {
            "name": meta["name"],
            "namespace": meta["namespace"],
            "uid": meta["uid"],
            "resourceVersion": meta["resourceVersion"],
            "creationTimestamp": meta["creationTimestamp"],
        },
        "spec": {"replicas": replicas},
        "status": {"replicas": obj["status"]["replicas"].as_i64().unwrap_or(0)},
    })
}

/// GET, PUT and PATCH of `…/scale`: a view of `spec.replicas`, as the
/// real server's scale subresource is.
async fn scale(
    ctx: &Ctx,
    req: Request<Incoming>,
    r: &ResourceReq,
    verb: &str,
    content_type: &str,
    dry_run: bool,
) -> Result<Response<Body>, ApiError> {
    let store = &ctx.state.store;
    let ns = r.namespace.as_deref();
    let name = r.name.as_deref().unwrap_or("");
    let desired = match verb {
        "get" => {
            let obj = store
                .get(&r.rt.key(), ns.unwrap_or(""), name)
                .ok_or_else(|| ApiError::not_found(&r.rt.group, &r.rt.plural, name))?;
            return Ok(json_response(200, &scale_view(&obj.value())));
        }
        "update" => parse_object(&read_body(req).await?, content_type)?,
        "patch" => {
            let body = read_body(req).await?;
            let p: Value = serde_json::from_slice(&body)
                .map_err(|e| ApiError::bad_request(format!("error decoding patch: {e}")))?;
            let obj = store
                .get(&r.rt.key(), ns.unwrap_or(""), name)
                .ok_or_else(|| ApiError::not_found(&r.rt.group, &r.rt.plural, name))?;
            let view = scale_view(&obj.value());
            match content_type.split(';').next().unwrap_or("").trim() {
                "application/json-patch+json" => patch::json_patch(view, &p)?,
                _ => patch::merge_patch(view, &p),
            }
        }
        _ => return Err(ApiError::method_not_allowed(verb)),
    };
    let replicas = desired["spec"]["replicas"]
        .as_i64()
        .ok_or_else(|| ApiError::bad_request("the Scale has no spec.replicas"))?;
    let out = store.patch(
        &r.rt,
        ns,
        name,
        |mut cur| {
            cur["spec"]["replicas"] = json!(replicas);
            Ok(cur)
        },
        dry_run,
    )?;
    Ok(json_response(200, &scale_view(&out)))
}

fn patch_request(
    ctx: &Ctx,
    r: &ResourceReq,
    name: &str,
    content_type: &str,
    body: &[u8],
    dry_run: bool,
) -> Result<Response<Body>, ApiError> {
    let media = content_type.split(';').next().unwrap_or("").trim();
    let parse = |b: &[u8]| -> Result<Value, ApiError> {
        serde_json::from_slice(b)
            .map_err(|e| ApiError::bad_request(format!("error decoding patch: {e}")))
    };
    let store = &ctx.state.store;
    let ns = r.namespace.as_deref();
    let out = match media {
        "application/merge-patch+json" => {
            let p = parse(body)?;
            store.patch(
                &r.rt,
                ns,
                name,
                |cur| Ok(patch::merge_patch(cur, &p)),
                dry_run,
            )?
        }
        "application/strategic-merge-patch+json" => {
            let p = parse(body)?;
            store.patch(
                &r.rt,
                ns,
                name,
                |cur| Ok(patch::strategic_merge(cur, &p)),
                dry_run,
            )?
        }
        "application/json-patch+json" => {
            let p = parse(body)?;
            store.patch(&r.rt, ns, name, |cur| patch::json_patch(cur, &p), dry_run)?
        }
        "application/apply-patch+yaml" | "application/apply-patch+cbor" => {
            // Server-side apply, approximated: create when missing, else a strategic merge.
            let p = parse_object(body, "yaml")?;
            if store.get(&r.rt.key(), ns.unwrap_or(""), name).is_none() {
                let mut obj = p;
                if let Some(m) = obj.get_mut("metadata").and_then(Value::as_object_mut) {
                    m.insert("name".into(), json!(name));
                }
                let out = store.create(&r.rt, ns, obj, dry_run)?;
                return Ok(json_response(201, &out));
            }
            store.patch(
                &r.rt,
                ns,
                name,
                |cur| Ok(patch::strategic_merge(cur, &p)),
                dry_run,
            )?
        }
        other => return Err(ApiError::unsupported_media_type(other)),
    };
    Ok(json_response(200, &out))
}

fn review(
    ctx: &Ctx,
    rt: &ResourceType,
    body: &[u8],
    content_type: &str,
) -> Result<Response<Body>, ApiError> {
    let mut obj = parse_object(body, content_type)?;
    let spec = obj.get("spec").cloned().unwrap_or(json!({}));
    let status = if rt.plural == "selfsubjectrulesreviews" {
        let ns = spec.get("namespace").and_then(Value::as_str).unwrap_or("");
        ctx.state
            .store
            .with_registry(|reg| ctx.user.rules_review_status(reg, ns))
    } else {
        ctx.user.access_review_status(&spec)
    };
    if let Some(o) = obj.as_object_mut() {
        o.insert("apiVersion".into(), json!(rt.api_version()));
        o.insert("kind".into(), json!(rt.kind));
        o.entry("metadata")
            .or_insert(json!({"creationTimestamp": null}));
        o.insert("status".into(), status);
    }
    Ok(json_response(201, &obj))
}

/// A single object as JSON, Table or PartialObjectMetadata, per the Accept header.
fn single_response(ctx: &Ctx, rt: &ResourceType, code: u16, json: &Bytes) -> Response<Body> {
    if let Some(tv) = &ctx.accept.table {
        let obj: Value = serde_json::from_slice(json).unwrap_or(Value::Null);
        let include = IncludeObject::parse(ctx.query.get("includeObject"));
        let rv = obj
            .pointer("/metadata/resourceVersion")
            .cloned()
            .unwrap_or(json!(""));
        let t = table::table(
            rt,
            tv,
            json!({"resourceVersion": rv}),
            vec![table::row(rt, &obj, include)],
        );
        return json_response(code, &t);
    }
    if ctx.accept.partial_metadata {
        let obj: Value = serde_json::from_slice(json).unwrap_or(Value::Null);
        return json_response(code, &table::partial_metadata(&obj));
    }
    bytes_response(code, "application/json", json.clone())
}

/// A continue token: base64 of our own JSON.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
struct ContinueToken {
    rv: u64,
    ns: String,
    name: String,
    page: u32,
}

fn encode_continue(t: &ContinueToken) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(serde_json::to_vec(t).unwrap_or_default())
}

fn decode_continue(s: &str) -> Result<ContinueToken, ApiError> {
    let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(s.trim_end_matches('='))
        .map_err(|e| ApiError::bad_request(format!("continue key is not valid: {e}")))?;
    serde_json::from_slice(&raw)
        .map_err(|e| ApiError::bad_request(format!("continue key is not valid: {e}")))
}

fn selectors(ctx: &Ctx, rt: &ResourceType) -> Result<(LabelSelector, FieldSelector), ApiError> {
    let label = LabelSelector::parse(ctx.query.get("labelSelector").unwrap_or(""))?;
    let mut field = FieldSelector::parse(ctx.query.get("fieldSelector").unwrap_or(""))?;
    field.validate(rt, ctx.state.server_version)?;
    Ok((label, field))
}

fn in_scope<'a>(
    coll: &'a Collection,
    ns: Option<&'a str>,
    after: Option<ObjKey>,
) -> impl Iterator<Item = &'a Arc<Stored>> + 'a {
    let lower = match (&after, ns) {
        (Some(k), _) => Bound::Excluded(k.clone()),
        (None, Some(n)) => Bound::Included((n.to_string(), String::new())),
        (None, None) => Bound::Unbounded,
    };
    coll.range((lower, Bound::Unbounded))
        .take_while(move |((kns, _), _)| ns.is_none_or(|n| kns == n))
        .map(|(_, v)| v)
}

fn list(ctx: &Ctx, r: &ResourceReq) -> Result<Response<Body>, ApiError> {
    let key = r.rt.key();
    let (label, field) = selectors(ctx, &r.rt)?;
    let limit: u64 = match ctx.query.get("limit") {
        None | Some("") => 0,
        Some(s) => s
            .parse::<i64>()
            .map_err(|e| ApiError::bad_request(format!("invalid limit {s:?}: {e}")))?
            .max(0) as u64,
    };
    let store = &ctx.state.store;
    let (rv, coll, after, page) = match ctx.query.get("continue").filter(|c| !c.is_empty()) {
        Some(tok) => {
            let t = decode_continue(tok)?;
            let expired_by_fault = ctx
                .state
                .faults()
                .continue_expires_after_pages
                .is_some_and(|n| t.page >= n);
            let coll = store
                .recall_snapshot(&key, t.rv)
                .filter(|_| !expired_by_fault)
                .ok_or_else(ApiError::continue_expired)?;
            (t.rv, coll, Some((t.ns, t.name)), t.page)
        }
        None => {
            let (rv, coll) = store.snapshot(&key);
            (rv, coll, None, 0)
        }
    };
    let ns = r.namespace.as_deref();
    let filtered = !label.is_empty() || !field.is_empty();
    let matches = |s: &Arc<Stored>| {
        label.matches(&s.labels) && field.matches(&s.namespace, &s.name, &s.fields)
    };
    let mut iter = in_scope(&coll, ns, after).filter(|s| matches(s));
    let mut items: Vec<Arc<Stored>> = Vec::new();
    let mut more = false;
    for s in iter.by_ref() {
        if limit > 0 && items.len() as u64 >= limit {
            more = true;
            break;
        }
        items.push(s.clone());
    }
    let mut meta = serde_json::Map::new();
    meta.insert("resourceVersion".into(), json!(rv.to_string()));
    if more && let Some(last) = items.last() {
        store.remember_snapshot(&key, rv, coll.clone());
        let token = ContinueToken {
            rv,
            ns: last.namespace.clone(),
            name: last.name.clone(),
            page: page + 1,
        };
        meta.insert("continue".into(), json!(encode_continue(&token)));
        if !filtered {
            // `iter` already consumed the first item past the page.
            let remaining = 1 + iter.count();
            meta.insert("remainingItemCount".into(), json!(remaining));
        }
    }
    let meta = Value::Object(meta);
    if let Some(tv) = &ctx.accept.table {
        let include = IncludeObject::parse(ctx.query.get("includeObject"));
        let rows: Vec<Value> = items
            .iter()
            .map(|s| table::row(&r.rt, &s.value(), include))
            .collect();
        return Ok(json_response(200, &table::table(&r.rt, tv, meta, rows)));
    }
    if ctx.accept.partial_metadata {
        let items: Vec<Value> = items
            .iter()
            .map(|s| table::partial_metadata(&s.value()))
            .collect();
        return Ok(json_response(
            200,
            &json!({"kind": "PartialObjectMetadataList", "apiVersion": "meta.k8s.io/v1", "metadata": meta, "items": items}),
        ));
    }
    // The hot path: splice the stored bytes, never re-serialize objects.
    let head = format!(
        "{{\"kind\":{},\"apiVersion\":{},\"metadata\":{},\"items\":[",
        json!(r.rt.list_kind()),
        json!(r.rt.api_version()),
        meta
    );
    let total: usize = items.iter().map(|s| s.json.len() + 1).sum::<usize>() + head.len() + 2;
    let mut buf = BytesMut::with_capacity(total);
    buf.extend_from_slice(head.as_bytes());
    for (i, s) in items.iter().enumerate() {
        if i > 0 {
            buf.extend_from_slice(b",");
        }
        buf.extend_from_slice(&s.json);
    }
    buf.extend_from_slice(b"]}");
    Ok(bytes_response(200, "application/json", buf.freeze()))
}

struct WatchSpec {
    rt: ResourceType,
    ns: Option<String>,
    label: LabelSelector,
    field: FieldSelector,
    start: Option<u64>,
    send_initial: bool,
    bookmarks: bool,
    timeout: Duration,
    table: Option<(String, IncludeObject)>,
    partial_metadata: bool,
}

fn watch(ctx: &Ctx, r: &ResourceReq) -> Result<Response<Body>, ApiError> {
    let (label, mut field) = selectors(ctx, &r.rt)?;
    if let Some(name) = &r.name {
        // Watching a named object is a watch with a metadata.name selector.
        let pinned = format!(
            "metadata.name={}",
            name.replace('\\', "\\\\").replace(',', "\\,")
        );
        let merged = match ctx.query.get("fieldSelector").filter(|s| !s.is_empty()) {
            Some(f) => format!("{f},{pinned}"),
            None => pinned,
        };
        field = FieldSelector::parse(&merged)?;
        field.validate(&r.rt, ctx.state.server_version)?;
    }
    let start = match ctx.query.get("resourceVersion") {
        None | Some("") | Some("0") => None,
        Some(s) => Some(
            s.parse::<u64>()
                .map_err(|_| ApiError::bad_request(format!("invalid resource version: {s}")))?,
        ),
    };
    let send_initial = ctx.query.flag("sendInitialEvents");
    if send_initial && ctx.query.get("resourceVersionMatch") != Some("NotOlderThan") {
        return Err(ApiError::new(
            422,
            "Invalid",
            "ListOptions.meta.k8s.io \"\" is invalid: resourceVersionMatch: Forbidden: sendInitialEvents requires setting resourceVersionMatch to NotOlderThan",
        ));
    }
    let timeout = match ctx.query.get("timeoutSeconds") {
        None | Some("") => DEFAULT_WATCH_TIMEOUT,
        Some(s) => Duration::from_secs(
            s.parse::<u64>()
                .map_err(|_| ApiError::bad_request(format!("invalid timeoutSeconds {s:?}")))?,
        ),
    };
    let spec = WatchSpec {
        rt: r.rt.clone(),
        ns: r.namespace.clone(),
        label,
        field,
        start,
        send_initial,
        bookmarks: ctx.query.flag("allowWatchBookmarks"),
        timeout,
        table: ctx
            .accept
            .table
            .clone()
            .map(|v| (v, IncludeObject::parse(ctx.query.get("includeObject")))),
        partial_metadata: ctx.accept.partial_metadata,
    };
    let (tx, rx) = mpsc::channel::<Bytes>(64);
    tokio::spawn(run_watch(ctx.state.clone(), spec, tx));
    let stream = futures::stream::unfold(rx, |mut rx| async move {
        rx.recv()
            .await
            .map(|b| (Ok::<_, Infallible>(Frame::data(b)), rx))
    });
    let mut resp = Response::new(BodyExt::boxed(StreamBody::new(stream)));
    resp.headers_mut().insert(
        hyper::header::CONTENT_TYPE,
        hyper::header::HeaderValue::from_static("application/json"),
    );
    resp.headers_mut().insert(
        hyper::header::CACHE_CONTROL,
        hyper::header::HeaderValue::from_static("no-cache, private"),
    );
    Ok(resp)
}

/// Decrements the open-watch gauge however the watch ends.
struct WatchGuard(Arc<ClusterState>);

impl Drop for WatchGuard {
    fn drop(&mut self) {
        self.0.watches_open.fetch_sub(1, Ordering::Relaxed);
    }
}

struct WatchOut {
    state: Arc<ClusterState>,
    tx: mpsc::Sender<Bytes>,
    spec: WatchSpec,
    sent_objects: u32,
    first_table: bool,
}

impl WatchOut {
    fn matches(&self, s: &Stored) -> bool {
        self.spec.ns.as_deref().is_none_or(|n| n == s.namespace)
            && self.spec.label.matches(&s.labels)
            && self.spec.field.matches(&s.namespace, &s.name, &s.fields)
    }

    fn object_bytes(&mut self, s: &Stored) -> Bytes {
        if let Some((tv, include)) = &self.spec.table {
            let obj = s.value();
            let mut t = table::table(
                &self.spec.rt,
                tv,
                json!({"resourceVersion": s.rv.to_string()}),
                vec![table::row(&self.spec.rt, &obj, *include)],
            );
            if !self.first_table
                && let Some(o) = t.as_object_mut()
            {
                o.insert("columnDefinitions".into(), json!([]));
            }
            self.first_table = false;
            return Bytes::from(serde_json::to_vec(&t).unwrap_or_default());
        }
        if self.spec.partial_metadata {
            return Bytes::from(
                serde_json::to_vec(&table::partial_metadata(&s.value())).unwrap_or_default(),
            );
        }
        s.json.clone()
    }

    async fn send_raw(&mut self, kind: &str, object: &[u8]) -> bool {
        let mut b = BytesMut::with_capacity(object.len() + 32);
        b.extend_from_slice(b"{\"type\":\"");
        b.extend_from_slice(kind.as_bytes());
        b.extend_from_slice(b"\",\"object\":");
        b.extend_from_slice(object);
        b.extend_from_slice(b"}\n");
        let n = b.len() as u64;
        if self.tx.send(b.freeze()).await.is_err() {
            return false;
        }
        self.state.add_bytes(n);
        true
    }

    /// Sends an object event; false when the client is gone or the drop fault fired.
    async fn send_object(&mut self, kind: EventType, s: &Stored) -> bool {
        let obj = self.object_bytes(s);
        if !self.send_raw(kind.as_str(), &obj).await {
            return false;
        }
        self.sent_objects += 1;
        let limit = self.state.faults().watch_drop_after_events;
        limit.is_none_or(|n| self.sent_objects < n)
    }

    async fn send_bookmark(&mut self, rv: u64, initial_end: bool) -> bool {
        let mut meta = json!({"resourceVersion": rv.to_string(), "creationTimestamp": null});
        if initial_end && let Some(m) = meta.as_object_mut() {
            m.insert(
                "annotations".into(),
                json!({"k8s.io/initial-events-end": "true"}),
            );
        }
        let obj = json!({"kind": self.spec.rt.kind, "apiVersion": self.spec.rt.api_version(), "metadata": meta});
        let bytes = serde_json::to_vec(&obj).unwrap_or_default();
        self.send_raw("BOOKMARK", &bytes).await
    }

    async fn send_error(&mut self, e: &ApiError) {
        let bytes = serde_json::to_vec(&e.to_status()).unwrap_or_default();
        self.send_raw("ERROR", &bytes).await;
    }
}

async fn run_watch(state: Arc<ClusterState>, spec: WatchSpec, tx: mpsc::Sender<Bytes>) {
    state.watches_open.fetch_add(1, Ordering::Relaxed);
    let _guard = WatchGuard(state.clone());
    let key = spec.rt.key();
    let mut notify = state.store.subscribe();
    notify.borrow_and_update();
    let faults = state.faults();
    let mut timeout = spec.timeout;
    if let Some(secs) = faults.watch_drop_after_secs {
        timeout = timeout.min(Duration::from_secs(secs));
    }
    let deadline = tokio::time::Instant::now() + timeout;
    let mut out = WatchOut {
        state: state.clone(),
        tx,
        spec,
        sent_objects: 0,
        first_table: true,
    };
    let (mut last, epoch) = match out.spec.start.filter(|_| !out.spec.send_initial) {
        Some(rv) => match state.store.check_watch_start(rv) {
            Ok(epoch) => (rv, epoch),
            Err(e) => {
                out.send_error(&e).await;
                return;
            }
        },
        None => {
            let (rv, epoch, coll) = state.store.watch_snapshot(&key);
            let initial: Vec<Arc<Stored>> =
                coll.values().filter(|s| out.matches(s)).cloned().collect();
            for s in initial {
                if !out.send_object(EventType::Added, &s).await {
                    return;
                }
            }
            if out.spec.send_initial && out.spec.bookmarks && !out.send_bookmark(rv, true).await {
                return;
            }
            (rv, epoch)
        }
    };
    let mut bookmark_tick = tokio::time::interval_at(
        tokio::time::Instant::now() + BOOKMARK_INTERVAL,
        BOOKMARK_INTERVAL,
    );
    loop {
        notify.borrow_and_update();
        match state.store.poll_events(&key, last, epoch) {
            WatchPoll::Expired { requested, oldest } => {
                out.send_error(&ApiError::too_old(requested, oldest)).await;
                return;
            }
            WatchPoll::Events(events, head) => {
                for e in events {
                    let now = out.matches(&e.obj);
                    let before = e.prev.as_ref().is_some_and(|p| out.matches(p));
                    let kind = match (e.kind, before, now) {
                        (EventType::Added, _, true) => Some(EventType::Added),
                        (EventType::Modified, true, true) => Some(EventType::Modified),
                        (EventType::Modified, false, true) => Some(EventType::Added),
                        (EventType::Modified, true, false) => Some(EventType::Deleted),
                        (EventType::Deleted, _, true) => Some(EventType::Deleted),
                        _ => None,
                    };
                    if let Some(kind) = kind
                        && !out.send_object(kind, &e.obj).await
                    {
                        return;
                    }
                }
                last = head;
            }
        }
        tokio::select! {
            changed = notify.changed() => {
                if changed.is_err() {
                    return;
                }
            }
            _ = tokio::time::sleep_until(deadline) => return,
            _ = bookmark_tick.tick(), if out.spec.bookmarks => {
                if !out.send_bookmark(last, false).await {
                    return;
                }
            }
            _ = out.tx.closed() => return,
        }
    }
}

/// `/sim/counters`, `/sim/counters/reset`, `/sim/faults`: the admin user only, never counted.
async fn admin(
    state: &Arc<ClusterState>,
    req: Request<Incoming>,
    path: &str,
    user: Option<SimUser>,
) -> Response<Body> {
    match user {
        None => return error_response(&ApiError::unauthorized()),
        Some(SimUser::Admin) => {}
        Some(u) => {
            return error_response(&ApiError::new(
                403,
                "Forbidden",
                format!(
                    "User \"{}\" cannot use the kq-sim admin endpoint",
                    u.username()
                ),
            ));
        }
    }
    let method = req.method().clone();
    match (method, path) {
        (Method::GET, "/sim/counters") => json_response(200, &json!(state.counters())),
        (Method::POST, "/sim/counters/reset") => {
            state.reset_counters();
            json_response(200, &json!(state.counters()))
        }
        (Method::GET, "/sim/faults") => json_response(200, &json!(state.faults())),
        (Method::PUT, "/sim/faults") => {
            let body = match read_body(req).await {
                Ok(b) => b,
                Err(e) => return error_response(&e),
            };
            match serde_json::from_slice::<Faults>(&body) {
                Ok(f) => {
                    state.set_faults(f);
                    json_response(200, &json!(state.faults()))
                }
                Err(e) => error_response(&ApiError::bad_request(format!("decoding faults: {e}"))),
            }
        }
        (m, "/sim/counters" | "/sim/counters/reset" | "/sim/faults") => {
            error_response(&ApiError::method_not_allowed(m.as_str()))
        }
        _ => error_response(&ApiError::not_found_path()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn continue_tokens_round_trip_and_reject_garbage() {
        let t = ContinueToken {
            rv: 7,
            ns: "a".into(),
            name: "b".into(),
            page: 2,
        };
        let back = decode_continue(&encode_continue(&t)).unwrap();
        assert_eq!(
            (back.rv, back.ns.as_str(), back.name.as_str(), back.page),
            (7, "a", "b", 2)
        );
        assert_eq!(decode_continue("!!!").unwrap_err().code, 400);
        assert_eq!(decode_continue("e30").unwrap_err().code, 400);
    }
}
