//! `kq report --every/--cron --metrics-listen ADDR`: the latest run's
//! OpenMetrics text on `GET /metrics`, for Prometheus to scrape.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, RwLock};

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;

/// The text served, replaced after each successful run.
#[derive(Clone, Default)]
pub struct Latest(Arc<RwLock<Option<String>>>);

impl Latest {
    pub fn set(&self, text: String) {
        *self.0.write().unwrap_or_else(|p| p.into_inner()) = Some(text);
    }

    fn get(&self) -> Option<String> {
        self.0.read().unwrap_or_else(|p| p.into_inner()).clone()
    }
}

/// Binds `address` (beyond loopback only when asked) and serves until the
/// process ends; returns the bound address.
pub async fn serve(address: SocketAddr, latest: Latest) -> Result<SocketAddr, String> {
    let listener = TcpListener::bind(address)
        .await
        .map_err(|e| format!("--metrics-listen: cannot listen on {address}: {e}"))?;
    let bound = listener
        .local_addr()
        .map_err(|e| format!("--metrics-listen: cannot listen on {address}: {e}"))?;
    tokio::spawn(async move {
        loop {
            let Ok((socket, _)) = listener.accept().await else {
                continue;
            };
            let latest = latest.clone();
            tokio::spawn(async move {
                let service = hyper::service::service_fn(move |request| {
                    let latest = latest.clone();
                    async move { Ok::<_, Infallible>(answer(&request, &latest)) }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(socket), service)
                    .await;
            });
        }
    });
    Ok(bound)
}

fn answer(request: &Request<Incoming>, latest: &Latest) -> Response<Full<Bytes>> {
    let reply = |status: StatusCode, content_type: &str, body: String| {
        Response::builder()
            .status(status)
            .header(hyper::header::CONTENT_TYPE, content_type)
            .body(Full::new(Bytes::from(body)))
            .unwrap_or_else(|_| Response::new(Full::new(Bytes::new())))
    };
    if request.uri().path() != "/metrics" {
        return reply(
            StatusCode::NOT_FOUND,
            "text/plain; charset=utf-8",
            "kq serves /metrics only\n".to_string(),
        );
    }
    let Some(text) = latest.get() else {
        return reply(
            StatusCode::SERVICE_UNAVAILABLE,
            "text/plain; charset=utf-8",
            "no report has finished yet\n".to_string(),
        );
    };
    // The text is both formats; say which one the scraper asked for.
    let openmetrics = request
        .headers()
        .get(hyper::header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|accept| accept.contains("application/openmetrics-text"));
    let content_type = if openmetrics {
        "application/openmetrics-text; version=1.0.0; charset=utf-8"
    } else {
        "text/plain; version=0.0.4; charset=utf-8"
    };
    reply(StatusCode::OK, content_type, text)
}
