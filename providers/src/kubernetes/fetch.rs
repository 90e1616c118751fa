//! One GET with kq's retry policy, shared by lists and discovery.
//!
//! Throttling (429, honouring `Retry-After` up to a cap) and transient
//! server errors (500, 502, 503, 504) are retried with capped exponential
//! backoff; transport failures (refused, reset, TLS) only briefly, so an
//! unreachable cluster fails fast. Callers read the final status.

use std::time::Duration;

use http::{Request, StatusCode};
use sonic_rs::{JsonValueTrait as _, Value};

use super::list::error_chain;

const MAX_ATTEMPTS: u32 = 6;
const MAX_TRANSPORT_ATTEMPTS: u32 = 3;
const MAX_BACKOFF: Duration = Duration::from_secs(5);
const MAX_RETRY_AFTER: Duration = Duration::from_secs(30);

/// The final answer to a GET: its status and whole body.
pub(crate) struct Response {
    pub status: StatusCode,
    pub body: bytes::Bytes,
}

/// GETs `url` (`accept` as the Accept header), retrying as the module
/// says. `Err` is the transport failure, as one readable chain.
pub(crate) async fn get_with_retries(
    client: &kube::Client,
    url: &str,
    accept: &str,
) -> Result<Response, String> {
    let mut attempt: u32 = 0;
    loop {
        attempt += 1;
        let wait = match get_once(client, url, accept).await {
            Ok((response, retry_after))
                if is_transient(response.status) && attempt < MAX_ATTEMPTS =>
            {
                retry_after
                    .map(|d| d.min(MAX_RETRY_AFTER))
                    .unwrap_or_else(|| backoff(attempt))
            }
            Ok((response, _)) => return Ok(response),
            Err(_) if attempt < MAX_TRANSPORT_ATTEMPTS => backoff(attempt),
            Err(message) => return Err(message),
        };
        tokio::time::sleep(wait).await;
    }
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

async fn get_once(
    client: &kube::Client,
    url: &str,
    accept: &str,
) -> Result<(Response, Option<Duration>), String> {
    use http_body_util::BodyExt;
    let request = Request::get(url)
        .header(http::header::ACCEPT, accept)
        .body(kube::client::Body::empty())
        .map_err(|e| e.to_string())?;
    let response = client.send(request).await.map_err(|e| error_chain(&e))?;
    let status = response.status();
    let retry_after = response
        .headers()
        .get(http::header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
        .map(Duration::from_secs);
    let body = response
        .into_body()
        .collect()
        .await
        .map_err(|e| error_chain(&e))?
        .to_bytes();
    Ok((Response { status, body }, retry_after))
}

pub(crate) fn backoff(attempt: u32) -> Duration {
    let millis = 100u64.saturating_mul(1u64 << attempt.min(10));
    Duration::from_millis(millis).min(MAX_BACKOFF)
}

/// The `message` of a Kubernetes Status body, else the body text itself.
pub(crate) fn status_message(body: &[u8]) -> String {
    if let Ok(value) = sonic_rs::from_slice::<Value>(body)
        && let Some(message) = value.get("message").and_then(|m| m.as_str())
    {
        return message.to_string();
    }
    let text = String::from_utf8_lossy(body);
    let text = text.trim();
    if text.is_empty() {
        "no details from the server".to_string()
    } else {
        text.chars().take(300).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_messages_come_from_status_bodies() {
        assert_eq!(
            status_message(br#"{"kind":"Status","message":"pods is forbidden"}"#),
            "pods is forbidden"
        );
        assert_eq!(status_message(b"  "), "no details from the server");
        assert_eq!(status_message(b"bad gateway"), "bad gateway");
    }

    #[test]
    fn backoff_is_capped() {
        assert_eq!(backoff(1), Duration::from_millis(200));
        assert_eq!(backoff(30), MAX_BACKOFF);
    }
}
