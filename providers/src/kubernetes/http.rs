//! The one HTTP layer of the Kubernetes provider: GET and POST with kq's
//! retry policy, and the line stream of a watch.
//!
//! Lists, discovery, rules reviews and the live cache's watches all go
//! through here, so the API server sees one policy:
//! - throttling (429, honouring `Retry-After` up to a cap) and transient
//!   server errors (500, 502, 503, 504) are retried with capped exponential
//!   backoff;
//! - a connection refused or closed before an answer is retried briefly;
//!   certificate, DNS and timeout failures are not (they would fail the
//!   same way, only later);
//! - a 401 makes the cluster produce its credentials again once (a rotated
//!   token file, an exec plugin whose token expired) before it is final.
//!
//! Callers get the final answer's status and body; an error status
//! becomes a [`RequestError`] where its meaning is known
//! ([`RequestError::from_status`]).

use std::time::Duration;

use bytes::{Bytes, BytesMut};
use http::{Request, StatusCode};
use http_body_util::BodyExt as _;
use hyper::body::Incoming;
use kube::client::Body;

use super::config::ClusterConn;
use super::error::{ConnectReason, RequestError, classify_transport};
use super::transport::{self, Services};

/// Who is asking, for API server audit logs and rate limits (`kq/0.1.0`).
const USER_AGENT: &str = concat!("kq/", env!("CARGO_PKG_VERSION"));

const MAX_ATTEMPTS: u32 = 6;
const MAX_TRANSPORT_ATTEMPTS: u32 = 3;
const MAX_BACKOFF: Duration = Duration::from_secs(5);
const MAX_RETRY_AFTER: Duration = Duration::from_secs(30);

/// The final answer to a request: its status and whole body.
pub(crate) struct Response {
    pub status: StatusCode,
    pub body: Bytes,
    /// How many times the request was sent.
    pub attempts: u32,
}

impl Response {
    /// The answer as an error of `operation` (for a non-success status).
    pub(crate) fn error(
        &self,
        cluster: &ClusterConn,
        operation: impl Into<String>,
    ) -> RequestError {
        RequestError::from_status(
            cluster.server(),
            operation,
            self.status,
            &self.body,
            self.attempts,
        )
    }
}

/// GETs `path` (with its query) with `accept` as the Accept header.
pub(crate) async fn get(
    cluster: &ClusterConn,
    path: &str,
    accept: &str,
) -> Result<Response, RequestError> {
    let make = || {
        Request::get(path)
            .header(http::header::ACCEPT, accept)
            .header(http::header::USER_AGENT, USER_AGENT)
            .body(Body::empty())
    };
    let started = std::time::Instant::now();
    let (response, attempts) = send_with_retries(cluster, Channel::Request, &make).await?;
    let answer = whole(cluster, response, attempts).await?;
    log_request(cluster, "GET", path, &answer, started);
    Ok(answer)
}

/// One line per request for `kq -v`: what was asked (the path carries the
/// selectors; credentials live in headers, which are never logged), the
/// answer's status and size, the time it took.
fn log_request(
    cluster: &ClusterConn,
    method: &str,
    path: &str,
    answer: &Response,
    started: std::time::Instant,
) {
    tracing::info!(
        target: "kq::requests",
        "{method} {path} -> {} {} bytes {} ms [{}]{}",
        answer.status.as_u16(),
        answer.body.len(),
        started.elapsed().as_millis(),
        cluster.name,
        if answer.attempts > 1 {
            format!(" after {} attempts", answer.attempts)
        } else {
            String::new()
        }
    );
}

/// POSTs a JSON body (rules reviews: a read that the API models as a create).
pub(crate) async fn post_json(
    cluster: &ClusterConn,
    path: &str,
    body: &[u8],
) -> Result<Response, RequestError> {
    let make = || {
        Request::post(path)
            .header(http::header::ACCEPT, "application/json")
            .header(http::header::USER_AGENT, USER_AGENT)
            .header(http::header::CONTENT_TYPE, "application/json")
            .body(Body::from(body.to_vec()))
    };
    let started = std::time::Instant::now();
    let (response, attempts) = send_with_retries(cluster, Channel::Request, &make).await?;
    let answer = whole(cluster, response, attempts).await?;
    log_request(cluster, "POST", path, &answer, started);
    Ok(answer)
}

/// The answer to a watch request: events as they come, or an error status.
pub(crate) enum WatchAnswer {
    Events(WatchLines),
    Refused(Response),
}

/// Opens a watch (`path` carries `watch=1` and its resourceVersion).
pub(crate) async fn watch(cluster: &ClusterConn, path: &str) -> Result<WatchAnswer, RequestError> {
    let make = || {
        Request::get(path)
            .header(http::header::ACCEPT, "application/json")
            .header(http::header::USER_AGENT, USER_AGENT)
            .body(Body::empty())
    };
    let started = std::time::Instant::now();
    let (response, attempts) = send_with_retries(cluster, Channel::Watch, &make).await?;
    tracing::info!(
        target: "kq::requests",
        "GET {path} -> {} watching {} ms [{}]",
        response.status().as_u16(),
        started.elapsed().as_millis(),
        cluster.name
    );
    if response.status().is_success() {
        return Ok(WatchAnswer::Events(WatchLines {
            body: response.into_body(),
            buffer: BytesMut::new(),
        }));
    }
    Ok(WatchAnswer::Refused(
        whole(cluster, response, attempts).await?,
    ))
}

/// The newline-delimited JSON events of a watch.
pub(crate) struct WatchLines {
    body: Incoming,
    buffer: BytesMut,
}

impl WatchLines {
    /// The complete lines that arrived with the next chunk (possibly none);
    /// `None` when the watch ended (the server's timeout, or a dropped
    /// connection: both are resumed the same way).
    pub(crate) async fn next_lines(&mut self) -> Option<Vec<Bytes>> {
        let frame = match self.body.frame().await {
            None | Some(Err(_)) => return None,
            Some(Ok(frame)) => frame,
        };
        let Ok(data) = frame.into_data() else {
            return Some(Vec::new());
        };
        self.buffer.extend_from_slice(&data);
        let mut lines = Vec::new();
        while let Some(end) = self.buffer.iter().position(|&b| b == b'\n') {
            let mut line = self.buffer.split_to(end + 1).freeze();
            line.truncate(end);
            if !line.iter().all(u8::is_ascii_whitespace) {
                lines.push(line);
            }
        }
        Some(lines)
    }
}

#[derive(Clone, Copy)]
enum Channel {
    Request,
    Watch,
}

async fn whole(
    cluster: &ClusterConn,
    response: http::Response<Incoming>,
    attempts: u32,
) -> Result<Response, RequestError> {
    let status = response.status();
    let body = response
        .into_body()
        .collect()
        .await
        .map_err(|e| transport_error(cluster, Box::new(e)))?
        .to_bytes();
    Ok(Response {
        status,
        body,
        attempts,
    })
}

fn transport_error(cluster: &ClusterConn, error: super::error::BoxError) -> RequestError {
    let transport = &cluster.transport;
    classify_transport(
        transport.server(),
        transport.host(),
        transport.timeouts().request,
        error,
    )
}

/// Sends a request until it has a final answer; returns it and how many
/// times it was sent.
async fn send_with_retries(
    cluster: &ClusterConn,
    channel: Channel,
    make: &(dyn Fn() -> http::Result<Request<Body>> + Sync),
) -> Result<(http::Response<Incoming>, u32), RequestError> {
    let transport = &cluster.transport;
    let mut services: Services = transport.services().await?;
    let mut refreshed = false;
    let mut attempt: u32 = 0;
    loop {
        attempt += 1;
        let request = make().map_err(|e| RequestError::Connect {
            server: transport.server().to_string(),
            reason: ConnectReason::Other(format!("cannot build the request ({e})")),
            source: None,
        })?;
        let service = match channel {
            Channel::Request => &services.request,
            Channel::Watch => &services.watch,
        };
        let wait = match transport::send(service, request).await {
            Ok(response) => {
                let status = response.status();
                if status == StatusCode::UNAUTHORIZED && !refreshed && transport.refreshable() {
                    // Credentials rotated or expired under us: make them
                    // again once (re-read the token file, re-run the
                    // plugin); a second 401 is the answer.
                    refreshed = true;
                    drop(response);
                    services = transport.refresh(services.generation).await?;
                    attempt -= 1;
                    continue;
                }
                if is_transient(status) && attempt < MAX_ATTEMPTS {
                    tracing::debug!(
                        target: "kq::requests",
                        "{} answered {}; retrying (attempt {attempt}) [{}]",
                        transport.server(),
                        status.as_u16(),
                        cluster.name
                    );
                    retry_after(&response)
                        .map(|d| d.min(MAX_RETRY_AFTER))
                        .unwrap_or_else(|| backoff(attempt))
                } else {
                    return Ok((response, attempt));
                }
            }
            Err(error) => {
                let error = transport_error(cluster, error);
                if attempt < MAX_TRANSPORT_ATTEMPTS && is_transient_transport(&error) {
                    backoff(attempt)
                } else {
                    return Err(error);
                }
            }
        };
        tokio::time::sleep(wait).await;
    }
}

fn retry_after(response: &http::Response<Incoming>) -> Option<Duration> {
    response
        .headers()
        .get(http::header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
        .map(Duration::from_secs)
}

fn is_transient(status: StatusCode) -> bool {
    matches!(
        status,
        StatusCode::TOO_MANY_REQUESTS
            | StatusCode::INTERNAL_SERVER_ERROR
            | StatusCode::BAD_GATEWAY
            | StatusCode::SERVICE_UNAVAILABLE
            | StatusCode::GATEWAY_TIMEOUT
    )
}

/// A failure that a moment later may not recur: a server restarting, a
/// connection dropped by a load balancer.
fn is_transient_transport(error: &RequestError) -> bool {
    matches!(
        error,
        RequestError::Connect {
            reason: ConnectReason::Refused | ConnectReason::Closed,
            ..
        }
    )
}

/// Capped exponential backoff: 200 ms, 400 ms, … up to 5 s.
pub(crate) fn backoff(attempt: u32) -> Duration {
    let millis = 100u64.saturating_mul(1u64 << attempt.min(10));
    Duration::from_millis(millis).min(MAX_BACKOFF)
}

/// Encodes a query value (RFC 3986 unreserved characters pass through).
pub fn percent_encode(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for byte in value.bytes() {
        match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(byte as char)
            }
            _ => out.push_str(&format!("%{byte:02X}")),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_is_capped() {
        assert_eq!(backoff(1), Duration::from_millis(200));
        assert_eq!(backoff(30), MAX_BACKOFF);
    }

    #[test]
    fn query_values_are_encoded() {
        assert_eq!(percent_encode("a in (b,c)"), "a%20in%20%28b%2Cc%29");
        assert_eq!(percent_encode("x-y_z.~"), "x-y_z.~");
    }
}
