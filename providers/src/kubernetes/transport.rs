//! One cluster's HTTP client: kube-rs's credentials and headers over kq's
//! own TLS and connection stack.
//!
//! kq reads kubeconfigs with kube-rs (`kube::Config`) and uses its
//! credential layers (tokens, token files, exec plugins, client
//! certificates, impersonation headers), but assembles the stack itself
//! instead of `kube::Client::try_from`, for four reasons:
//! - server certificates are verified with client-go's verdicts
//!   ([`super::tls`]), which kube-rs's rustls setup does not give;
//! - kq has one retry policy (in the `http` module); kube's stack retries 429 and
//!   503 as well, so a struggling server would see retries of retries;
//! - credentials are produced lazily, on a cluster's first request: exec
//!   plugins (EKS, GKE) then run concurrently per cluster, and a plugin
//!   that fails is that cluster's failure, not the whole command's;
//! - after a 401, credentials are produced again (a rotated token file is
//!   re-read, an exec plugin runs again), as client-go does, so a
//!   credential that expires mid-run is refreshed, not fatal.
//!
//! Two services share the credentials: one for requests, bounded by
//! `--timeout` per read, and one for watches, whose reads may be silent for
//! minutes.

use std::sync::Arc;
use std::time::{Duration, Instant};

use http::{Request, Response, Uri};
use hyper::body::Incoming;
use hyper::rt::{Read, Write};
use hyper_timeout::TimeoutConnector;
use hyper_util::client::legacy::connect::{Connection, HttpConnector};
use hyper_util::rt::TokioExecutor;
use kube::client::{Body, ConfigExt as _};
use tower::util::BoxCloneSyncService;
use tower::{Service, ServiceBuilder, ServiceExt as _};

use super::error::{BoxError, ConnectReason, RequestError, credentials_reason};
use super::tls::KubeconfigVerifier;

/// A request/response service with kq's credentials and TLS.
pub(crate) type HttpService = BoxCloneSyncService<Request<Body>, Response<Incoming>, BoxError>;

/// A failed attempt to make credentials or TLS settings is retried after
/// this long, not on every request (an exec plugin must not be hammered).
const FAILED_BUILD_RETRY: Duration = Duration::from_secs(10);

/// Bounds on one cluster's requests.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Timeouts {
    /// Connecting, and each read of a request's answer.
    pub request: Duration,
    /// Each read of a watch: watches are asked to end within a few minutes,
    /// so a connection silent for longer is dead.
    pub watch_read: Duration,
}

/// The services of one generation of credentials.
#[derive(Clone)]
pub(crate) struct Services {
    pub request: HttpService,
    pub watch: HttpService,
    /// Bumped each time credentials are produced again.
    pub generation: u64,
}

/// Why credentials or TLS settings could not be made; cheap to keep and
/// to turn into a [`RequestError`] on every request that needs them.
#[derive(Clone, Debug)]
pub(crate) enum BuildFailure {
    /// The kubeconfig's user entry cannot produce credentials.
    Credentials(String),
    /// The kubeconfig's TLS settings cannot be used.
    Tls(String),
    /// Something else in the kubeconfig cannot be used.
    Config(String),
}

enum State {
    Unbuilt,
    Built(Services),
    Failed { at: Instant, failure: BuildFailure },
}

/// One cluster's connection settings and current services.
pub(crate) struct Transport {
    server: String,
    host: String,
    config: Option<kube::Config>,
    /// Set when the kubeconfig itself could not be turned into settings.
    unusable: Option<BuildFailure>,
    timeouts: Timeouts,
    state: tokio::sync::Mutex<State>,
}

impl std::fmt::Debug for Transport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The config holds credentials: never print it.
        f.debug_struct("Transport")
            .field("server", &self.server)
            .finish_non_exhaustive()
    }
}

impl Transport {
    pub(crate) fn new(config: kube::Config, timeouts: Timeouts) -> Self {
        let server = server_text(&config.cluster_url);
        let host = config.cluster_url.host().unwrap_or_default().to_string();
        let unusable = conflicting_tls_settings(&config);
        Self {
            server,
            host,
            config: Some(config),
            unusable,
            timeouts,
            state: tokio::sync::Mutex::new(State::Unbuilt),
        }
    }

    /// A cluster whose kubeconfig entry cannot be used: every request fails
    /// with `failure`, and the other clusters are unaffected.
    pub(crate) fn unusable(server: &str, failure: BuildFailure, timeouts: Timeouts) -> Self {
        let host = server
            .parse::<Uri>()
            .ok()
            .and_then(|u| u.host().map(str::to_string))
            .unwrap_or_default();
        Self {
            server: server.to_string(),
            host,
            config: None,
            unusable: Some(failure),
            timeouts,
            state: tokio::sync::Mutex::new(State::Unbuilt),
        }
    }

    /// The server URL, for messages.
    pub(crate) fn server(&self) -> &str {
        &self.server
    }

    pub(crate) fn host(&self) -> &str {
        &self.host
    }

    pub(crate) fn timeouts(&self) -> Timeouts {
        self.timeouts
    }

    /// Whether producing credentials again can change them (exec plugins,
    /// token files, auth providers); a fixed token cannot.
    pub(crate) fn refreshable(&self) -> bool {
        self.config.as_ref().is_some_and(|c| {
            c.auth_info.exec.is_some()
                || c.auth_info.auth_provider.is_some()
                || (c.auth_info.token.is_none() && c.auth_info.token_file.is_some())
        })
    }

    /// `insecure-skip-tls-verify`: said once per session, as a warning.
    pub(crate) fn skips_tls_verification(&self) -> bool {
        self.config.as_ref().is_some_and(|c| c.accept_invalid_certs)
    }

    /// The current services, built on first use.
    pub(crate) async fn services(&self) -> Result<Services, RequestError> {
        self.current_or_rebuild(None).await
    }

    /// Services with fresh credentials, unless another request already
    /// refreshed them since `generation` (then those are returned).
    pub(crate) async fn refresh(&self, generation: u64) -> Result<Services, RequestError> {
        self.current_or_rebuild(Some(generation)).await
    }

    async fn current_or_rebuild(&self, stale: Option<u64>) -> Result<Services, RequestError> {
        if let Some(failure) = &self.unusable {
            return Err(self.failure_error(failure));
        }
        let mut state = self.state.lock().await;
        let previous = match &*state {
            State::Built(services) if stale != Some(services.generation) => {
                return Ok(services.clone());
            }
            State::Built(services) => services.generation,
            State::Failed { at, failure } if at.elapsed() < FAILED_BUILD_RETRY => {
                return Err(self.failure_error(failure));
            }
            State::Failed { .. } | State::Unbuilt => 0,
        };
        let Some(config) = self.config.clone() else {
            return Err(self.failure_error(&BuildFailure::Config(
                "the kubeconfig entry cannot be used".to_string(),
            )));
        };
        let timeouts = self.timeouts;
        // Exec plugins block while they run: keep them off the async workers.
        let built = tokio::task::spawn_blocking(move || build(&config, timeouts))
            .await
            .unwrap_or_else(|e| {
                Err(BuildFailure::Credentials(format!(
                    "producing credentials stopped unexpectedly ({e})"
                )))
            });
        match built {
            Ok((request, watch)) => {
                let services = Services {
                    request,
                    watch,
                    generation: previous + 1,
                };
                *state = State::Built(services.clone());
                Ok(services)
            }
            Err(failure) => {
                let error = self.failure_error(&failure);
                *state = State::Failed {
                    at: Instant::now(),
                    failure,
                };
                Err(error)
            }
        }
    }

    fn failure_error(&self, failure: &BuildFailure) -> RequestError {
        match failure {
            BuildFailure::Credentials(reason) => RequestError::Credentials {
                server: self.server.clone(),
                reason: reason.clone(),
                source: None,
            },
            BuildFailure::Tls(reason) => RequestError::Connect {
                server: self.server.clone(),
                reason: ConnectReason::Tls(reason.clone()),
                source: None,
            },
            BuildFailure::Config(reason) => RequestError::Connect {
                server: self.server.clone(),
                reason: ConnectReason::Other(reason.clone()),
                source: None,
            },
        }
    }
}

/// The URL as a person wrote it: `https://host:port` (no trailing `/`).
fn server_text(uri: &Uri) -> String {
    uri.to_string().trim_end_matches('/').to_string()
}

/// kubectl refuses a kubeconfig that both skips verification and names a
/// CA ("specifying a root certificates file with the insecure flag is not
/// allowed"); kq gives the same verdict.
fn conflicting_tls_settings(config: &kube::Config) -> Option<BuildFailure> {
    (config.accept_invalid_certs && config.root_cert.is_some()).then(|| {
        BuildFailure::Tls(
            "the kubeconfig sets both insecure-skip-tls-verify and a certificate authority, which kubectl refuses too; remove one of them".to_string(),
        )
    })
}

/// Builds the request and watch services of one generation of credentials.
fn build(
    config: &kube::Config,
    timeouts: Timeouts,
) -> Result<(HttpService, HttpService), BuildFailure> {
    let tls = tls_config(config)?;
    let request = service(
        config,
        tls.clone(),
        timeouts.request,
        Some(timeouts.request),
    )?;
    let watch = service(config, tls, timeouts.request, Some(timeouts.watch_read))?;
    Ok((request, watch))
}

/// kube-rs's client TLS settings (client identity, exec certificates,
/// `insecure-skip-tls-verify`), with kq's verifier for the kubeconfig's CA.
fn tls_config(config: &kube::Config) -> Result<rustls::ClientConfig, BuildFailure> {
    let mut tls = config.rustls_client_config().map_err(|e| match e {
        kube::Error::Auth(auth) => BuildFailure::Credentials(credentials_reason(&auth)),
        kube::Error::RustlsTls(tls) => BuildFailure::Credentials(format!(
            "the client certificate or key in the kubeconfig cannot be used ({tls}); check client-certificate(-data) and client-key(-data)"
        )),
        kube::Error::InferKubeconfig(e) => BuildFailure::Config(format!(
            "the kubeconfig's user entry cannot be read ({e})"
        )),
        other => BuildFailure::Config(other.to_string()),
    })?;
    if !config.accept_invalid_certs
        && let Some(roots) = &config.root_cert
    {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let verifier = KubeconfigVerifier::new(roots, provider).map_err(|e| {
            BuildFailure::Tls(format!(
                "{e}; check certificate-authority(-data) in the kubeconfig"
            ))
        })?;
        tls.dangerous().set_certificate_verifier(Arc::new(verifier));
    }
    Ok(tls)
}

/// One service: proxy (if any) → TLS → timeouts → HTTP/1.1, under the
/// base URL, credential and header layers.
fn service(
    config: &kube::Config,
    tls: rustls::ClientConfig,
    connect_timeout: Duration,
    read_timeout: Option<Duration>,
) -> Result<HttpService, BuildFailure> {
    let mut http = HttpConnector::new();
    http.enforce_http(false);
    http.set_nodelay(true);
    match config.proxy_url.as_ref() {
        None => finish(config, http, tls, connect_timeout, read_timeout),
        Some(proxy) => match proxy.scheme_str() {
            Some("http") => {
                let tunnel = with_proxy_auth(
                    proxy,
                    hyper_util::client::legacy::connect::proxy::Tunnel::new(proxy.clone(), http),
                );
                finish(config, tunnel, tls, connect_timeout, read_timeout)
            }
            Some("socks5") | Some("socks5h") => {
                let socks =
                    hyper_util::client::legacy::connect::proxy::SocksV5::new(proxy.clone(), http)
                        .local_dns(proxy.scheme_str() == Some("socks5"));
                finish(config, socks, tls, connect_timeout, read_timeout)
            }
            other => Err(BuildFailure::Config(format!(
                "proxy-url {proxy} uses the {} scheme, which kq does not support; use an http:// or socks5:// proxy",
                other.unwrap_or("(none)")
            ))),
        },
    }
}

/// `http://user:password@proxy` sends Basic credentials to the proxy, as Go's
/// transport does (percent-escapes decoded first).
fn with_proxy_auth<C>(
    proxy: &Uri,
    tunnel: hyper_util::client::legacy::connect::proxy::Tunnel<C>,
) -> hyper_util::client::legacy::connect::proxy::Tunnel<C> {
    use base64::Engine as _;
    let Some((userinfo, _)) = proxy.authority().and_then(|a| a.as_str().split_once('@')) else {
        return tunnel;
    };
    let decoded = percent_decode(userinfo);
    let value = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(decoded)
    );
    match http::HeaderValue::from_str(&value) {
        Ok(mut header) => {
            header.set_sensitive(true);
            tunnel.with_auth(header)
        }
        Err(_) => tunnel,
    }
}

fn percent_decode(text: &str) -> Vec<u8> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        if bytes[i] == b'%'
            && let (Some(h), Some(l)) = (
                bytes.get(i + 1).and_then(|b| hex(*b)),
                bytes.get(i + 2).and_then(|b| hex(*b)),
            )
        {
            out.push((h * 16 + l) as u8);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    out
}

fn finish<H>(
    config: &kube::Config,
    connector: H,
    tls: rustls::ClientConfig,
    connect_timeout: Duration,
    read_timeout: Option<Duration>,
) -> Result<HttpService, BuildFailure>
where
    H: Service<Uri> + Clone + Send + Sync + 'static,
    H::Response: Connection + Read + Write + Send + Unpin + 'static,
    H::Future: Send + 'static,
    H::Error: Into<BoxError>,
{
    let mut builder = hyper_rustls::HttpsConnectorBuilder::new()
        .with_tls_config(tls)
        .https_or_http();
    if let Some(name) = &config.tls_server_name {
        let name = rustls::pki_types::ServerName::try_from(name.clone()).map_err(|e| {
            BuildFailure::Tls(format!("tls-server-name '{name}' is not a host name ({e})"))
        })?;
        builder =
            builder.with_server_name_resolver(hyper_rustls::FixedServerNameResolver::new(name));
    }
    let https = builder.enable_http1().wrap_connector(connector);
    let mut connector = TimeoutConnector::new(https);
    connector.set_connect_timeout(Some(connect_timeout));
    connector.set_read_timeout(read_timeout);
    connector.set_write_timeout(Some(connect_timeout));
    // The read timeout counts from each request, not from when a pooled
    // connection went idle.
    connector.set_reset_reader_on_write(true);
    let client: hyper_util::client::legacy::Client<_, Body> =
        hyper_util::client::legacy::Builder::new(TokioExecutor::new()).build(connector);
    let auth = config.auth_layer().map_err(|e| match e {
        kube::Error::Auth(auth) => BuildFailure::Credentials(credentials_reason(&auth)),
        other => BuildFailure::Credentials(other.to_string()),
    })?;
    let headers = config.extra_headers_layer().map_err(|e| {
        BuildFailure::Config(format!(
            "an impersonation header in the kubeconfig is invalid ({e})"
        ))
    })?;
    let stack = ServiceBuilder::new()
        .layer(config.base_uri_layer())
        .option_layer(auth)
        .layer(headers)
        .map_err(BoxError::from)
        .service(client);
    Ok(BoxCloneSyncService::new(stack))
}

/// Sends one request on a service.
pub(crate) async fn send(
    service: &HttpService,
    request: Request<Body>,
) -> Result<Response<Incoming>, BoxError> {
    service.clone().oneshot(request).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proxy_credentials_are_percent_decoded() {
        assert_eq!(percent_decode("user:pa%40ss"), b"user:pa@ss");
        assert_eq!(percent_decode("a%2"), b"a%2");
        assert_eq!(percent_decode("%zz"), b"%zz");
    }

    #[test]
    fn server_urls_read_as_written() {
        let uri: Uri = "https://10.0.0.1:6443".parse().unwrap();
        assert_eq!(server_text(&uri), "https://10.0.0.1:6443");
    }
}
