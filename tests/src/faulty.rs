//! A reverse HTTP proxy on a loopback port that answers chosen requests
//! with an error instead of forwarding them, for the S3 fault tests: a
//! store that throttles (503 SlowDown) now and then, or refuses every
//! upload of one kind.

use std::convert::Infallible;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::{Request, Response, StatusCode};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::net::TcpListener;

/// Decides, from the method, the path and how many requests came before
/// this one, whether to fail it and with which status.
pub type FaultRule = dyn Fn(&str, &str, usize) -> Option<StatusCode> + Send + Sync;

/// A running proxy; stops when dropped.
pub struct FaultyProxy {
    pub url: String,
    failed: Arc<AtomicUsize>,
    task: tokio::task::JoinHandle<()>,
}

impl FaultyProxy {
    /// Forwards to `upstream` (`http://host:port`) except where `rule` fails a request.
    pub async fn start(upstream: &str, rule: Arc<FaultRule>) -> FaultyProxy {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind the proxy");
        let url = format!("http://{}", listener.local_addr().expect("proxy address"));
        let upstream = upstream.trim_end_matches('/').to_string();
        let failed = Arc::new(AtomicUsize::new(0));
        let seen = Arc::new(AtomicUsize::new(0));
        let client: Client<HttpConnector, Full<Bytes>> =
            Client::builder(TokioExecutor::new()).build_http();
        let counted = failed.clone();
        let task = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let (client, upstream, rule) = (client.clone(), upstream.clone(), rule.clone());
                let (seen, counted) = (seen.clone(), counted.clone());
                tokio::spawn(async move {
                    let service = hyper::service::service_fn(move |request: Request<Incoming>| {
                        let (client, upstream, rule) =
                            (client.clone(), upstream.clone(), rule.clone());
                        let (seen, counted) = (seen.clone(), counted.clone());
                        async move {
                            let n = seen.fetch_add(1, Ordering::SeqCst);
                            let (parts, body) = request.into_parts();
                            let body = body.collect().await.map(|b| b.to_bytes());
                            if let Some(status) = rule(parts.method.as_str(), parts.uri.path(), n) {
                                counted.fetch_add(1, Ordering::SeqCst);
                                return Ok::<_, Infallible>(error_response(status));
                            }
                            let Ok(body) = body else {
                                return Ok(error_response(StatusCode::BAD_REQUEST));
                            };
                            let target = format!(
                                "{upstream}{}",
                                parts.uri.path_and_query().map_or("/", |p| p.as_str())
                            );
                            let mut forward = Request::builder().method(parts.method).uri(target);
                            for (name, value) in &parts.headers {
                                forward = forward.header(name, value);
                            }
                            let Ok(forward) = forward.body(Full::new(body)) else {
                                return Ok(error_response(StatusCode::BAD_REQUEST));
                            };
                            match client.request(forward).await {
                                Ok(response) => {
                                    let (parts, body) = response.into_parts();
                                    let body = body
                                        .collect()
                                        .await
                                        .map(|b| b.to_bytes())
                                        .unwrap_or_default();
                                    Ok(Response::from_parts(parts, Full::new(body)))
                                }
                                Err(_) => Ok(error_response(StatusCode::BAD_GATEWAY)),
                            }
                        }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        FaultyProxy { url, failed, task }
    }

    /// How many requests the proxy failed on purpose.
    pub fn failed(&self) -> usize {
        self.failed.load(Ordering::SeqCst)
    }
}

impl Drop for FaultyProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// S3's answer to a throttled or failed request.
fn error_response(status: StatusCode) -> Response<Full<Bytes>> {
    let code = if status == StatusCode::SERVICE_UNAVAILABLE {
        "SlowDown"
    } else {
        "InternalError"
    };
    let body = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Error><Code>{code}</Code><Message>injected by the test proxy</Message></Error>"
    );
    let mut response = Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() = status;
    response
}
