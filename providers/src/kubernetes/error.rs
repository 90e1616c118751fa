//! Why a request to a cluster failed, in words a person can act on.
//!
//! Every Kubernetes request kq sends ends, on failure, in one
//! [`RequestError`]: no answer at all ([`RequestError::Connect`]: TLS, DNS,
//! refused, timeout, proxy), no credentials to send
//! ([`RequestError::Credentials`]), or an HTTP error status
//! ([`RequestError::Status`]). Its `Display` is one sentence naming the
//! server and what to do; [`RequestError::kind`] is what scripts match on
//! (`kq_errors.kind`). Library internals (`ServiceError`, `client error
//! (Connect)`, Debug output) are classified here and never shown.

use std::error::Error as StdError;
use std::time::Duration;

use http::StatusCode;
use sonic_rs::{JsonValueTrait as _, Value};

use super::tls;
use crate::failures::FailureKind;

/// A boxed error, as tower and hyper hand them over.
pub(crate) type BoxError = Box<dyn StdError + Send + Sync>;

/// Why no HTTP answer came back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConnectReason {
    /// The server's certificate was rejected; the text says why and what to do.
    Certificate(String),
    /// Any other TLS failure (handshake, protocol).
    Tls(String),
    Refused,
    /// The host name does not resolve.
    Dns(String),
    /// No answer within the configured timeout.
    Timeout(Duration),
    /// The connection was closed or reset before an answer.
    Closed,
    /// The proxy in `proxy-url` failed.
    Proxy(String),
    /// Something else; the text is the root cause.
    Other(String),
}

impl std::fmt::Display for ConnectReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ConnectReason::Certificate(text) => f.write_str(text),
            ConnectReason::Tls(text) => write!(f, "the TLS handshake failed ({text})"),
            ConnectReason::Refused => f.write_str(
                "connection refused; check that the cluster is running and that the server address in the kubeconfig is right",
            ),
            ConnectReason::Dns(host) => write!(
                f,
                "the host name {host} does not resolve; check the server address in the kubeconfig, your DNS or your VPN"
            ),
            ConnectReason::Timeout(after) => write!(
                f,
                "timed out after {} s without an answer; the cluster may be down or unreachable from here (raise --timeout if it is only slow)",
                after.as_secs().max(1)
            ),
            ConnectReason::Closed => f.write_str(
                "the server closed the connection without answering; the cluster may be down or restarting",
            ),
            ConnectReason::Proxy(text) => write!(
                f,
                "the proxy in the kubeconfig's proxy-url failed ({text}); check the proxy address and that it allows CONNECT to the cluster"
            ),
            ConnectReason::Other(text) => f.write_str(text),
        }
    }
}

/// A request to a cluster that failed.
#[derive(Debug, thiserror::Error)]
pub enum RequestError {
    /// No HTTP answer came back.
    #[error("cannot connect to {server}: {reason}")]
    Connect {
        server: String,
        reason: ConnectReason,
        #[source]
        source: Option<BoxError>,
    },
    /// kq could not produce the credentials the kubeconfig describes.
    #[error("cannot get credentials for {server}: {reason}")]
    Credentials {
        server: String,
        reason: String,
        #[source]
        source: Option<BoxError>,
    },
    /// The server answered with an error status.
    #[error("{}", status_sentence(server, operation, *code, message, *attempts))]
    Status {
        server: String,
        /// What was asked: `list pods`, `watch pods in namespace a`.
        operation: String,
        code: u16,
        /// The `message` of the server's Status body (or the body itself).
        message: String,
        /// How many times the request was sent (retries of 429/5xx).
        attempts: u32,
    },
    /// The answer could not be decoded.
    #[error("{operation}: cannot decode the answer of {server}: {message}")]
    Decode {
        server: String,
        operation: String,
        message: String,
    },
}

fn status_sentence(
    server: &str,
    operation: &str,
    code: u16,
    message: &str,
    attempts: u32,
) -> String {
    match code {
        401 => format!(
            "{operation} was unauthorized: {server} rejected the credentials of the kubeconfig (they are wrong or have expired); run your cluster login again or refresh the kubeconfig"
        ),
        403 => format!("{operation} is forbidden: {message}"),
        404 => format!("{operation}: {server} does not serve it (404: {message})"),
        429 | 500..=599 if attempts > 1 => format!(
            "{operation}: {server} answered HTTP {code} {attempts} times: {message}; the API server is overloaded or unhealthy, try again later"
        ),
        _ => format!("{operation}: {server} answered HTTP {code}: {message}"),
    }
}

impl RequestError {
    /// What kind of failure this is, for `kq_errors.kind`.
    pub fn kind(&self) -> FailureKind {
        match self {
            RequestError::Connect { reason, .. } => match reason {
                ConnectReason::Certificate(_) | ConnectReason::Tls(_) => FailureKind::Tls,
                ConnectReason::Timeout(_) => FailureKind::Timeout,
                ConnectReason::Refused
                | ConnectReason::Dns(_)
                | ConnectReason::Closed
                | ConnectReason::Proxy(_)
                | ConnectReason::Other(_) => FailureKind::Unreachable,
            },
            RequestError::Credentials { .. } => FailureKind::Auth,
            RequestError::Status { code: 401, .. } => FailureKind::Auth,
            RequestError::Status { code: 403, .. } => FailureKind::Forbidden,
            RequestError::Status { .. } => FailureKind::Server,
            RequestError::Decode { .. } => FailureKind::Decode,
        }
    }

    /// A 403: the caller may retry per namespace.
    pub fn is_forbidden(&self) -> bool {
        matches!(self, RequestError::Status { code: 403, .. })
    }

    /// A 401 or a credentials failure.
    pub fn is_unauthorized(&self) -> bool {
        matches!(
            self,
            RequestError::Status { code: 401, .. } | RequestError::Credentials { .. }
        )
    }

    /// The HTTP status, when the server answered.
    pub fn status(&self) -> Option<u16> {
        match self {
            RequestError::Status { code, .. } => Some(*code),
            _ => None,
        }
    }

    /// The server's own message of a status error.
    pub fn server_message(&self) -> Option<&str> {
        match self {
            RequestError::Status { message, .. } => Some(message),
            _ => None,
        }
    }

    /// An error status answered to `operation`.
    pub(crate) fn from_status(
        server: &str,
        operation: impl Into<String>,
        status: StatusCode,
        body: &[u8],
        attempts: u32,
    ) -> Self {
        RequestError::Status {
            server: server.to_string(),
            operation: operation.into(),
            code: status.as_u16(),
            message: status_message(body),
            attempts,
        }
    }
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

/// Classifies a failure to get an answer at all, from the error chain
/// hyper, hyper-rustls, the timeout layer and kube's auth layer produce.
pub(crate) fn classify_transport(
    server: &str,
    host: &str,
    timeout: Duration,
    error: BoxError,
) -> RequestError {
    let reason = connect_reason(host, timeout, error.as_ref());
    match reason {
        Classified::Connect(reason) => RequestError::Connect {
            server: server.to_string(),
            reason,
            source: Some(error),
        },
        Classified::Credentials(reason) => RequestError::Credentials {
            server: server.to_string(),
            reason,
            source: Some(error),
        },
    }
}

enum Classified {
    Connect(ConnectReason),
    Credentials(String),
}

fn connect_reason(host: &str, timeout: Duration, error: &(dyn StdError + 'static)) -> Classified {
    let mut texts: Vec<String> = Vec::new();
    let mut current: Option<&(dyn StdError + 'static)> = Some(error);
    while let Some(e) = current {
        if let Some(rustls_error) = e.downcast_ref::<rustls::Error>() {
            return Classified::Connect(match rustls_error {
                rustls::Error::InvalidCertificate(certificate) => {
                    ConnectReason::Certificate(tls::describe_certificate_error(certificate))
                }
                other => ConnectReason::Tls(other.to_string()),
            });
        }
        if let Some(auth) = e.downcast_ref::<kube::client::AuthError>() {
            return Classified::Credentials(credentials_reason(auth));
        }
        if let Some(io) = e.downcast_ref::<std::io::Error>() {
            match io.kind() {
                std::io::ErrorKind::ConnectionRefused => {
                    return Classified::Connect(ConnectReason::Refused);
                }
                std::io::ErrorKind::TimedOut => {
                    return Classified::Connect(ConnectReason::Timeout(timeout));
                }
                std::io::ErrorKind::ConnectionReset
                | std::io::ErrorKind::ConnectionAborted
                | std::io::ErrorKind::BrokenPipe
                | std::io::ErrorKind::UnexpectedEof => {
                    return Classified::Connect(ConnectReason::Closed);
                }
                _ => {}
            }
        }
        if let Some(hyper_error) = e.downcast_ref::<hyper::Error>()
            && (hyper_error.is_incomplete_message() || hyper_error.is_canceled())
        {
            return Classified::Connect(ConnectReason::Closed);
        }
        let text = e.to_string();
        if text.starts_with("dns error") || text.contains("failed to lookup address") {
            return Classified::Connect(ConnectReason::Dns(host.to_string()));
        }
        if text.contains("deadline has elapsed") || text.contains("timed out") {
            return Classified::Connect(ConnectReason::Timeout(timeout));
        }
        if text.contains("proxy") || text.contains("tunnel") {
            return Classified::Connect(ConnectReason::Proxy(root_cause(e)));
        }
        texts.push(text);
        current = next_cause(e);
    }
    // Nothing recognised: the deepest cause is the most specific.
    Classified::Connect(ConnectReason::Other(
        texts
            .last()
            .cloned()
            .unwrap_or_else(|| "unknown error".into()),
    ))
}

/// The next error of a chain. An io::Error's `source()` skips the error
/// it wraps (where tokio-rustls puts the rustls error, sometimes inside
/// another io::Error), so step into it instead.
fn next_cause<'a>(error: &'a (dyn StdError + 'static)) -> Option<&'a (dyn StdError + 'static)> {
    match error
        .downcast_ref::<std::io::Error>()
        .and_then(|io| io.get_ref())
    {
        Some(inner) => Some(inner as &(dyn StdError + 'static)),
        None => error.source(),
    }
}

fn root_cause(error: &(dyn StdError + 'static)) -> String {
    let mut current = error;
    while let Some(next) = next_cause(current) {
        current = next;
    }
    current.to_string()
}

/// kube's credential errors as one clause: which plugin or file, what failed.
pub(crate) fn credentials_reason(error: &kube::client::AuthError) -> String {
    use kube::client::AuthError as A;
    match error {
        A::AuthExecStart(source) => format!(
            "the kubeconfig's credential plugin (users[].user.exec.command) cannot be started ({source}); install it or fix the command"
        ),
        A::AuthExecRun { cmd, out } => {
            let stderr = String::from_utf8_lossy(&out.stderr);
            let detail = stderr
                .lines()
                .map(str::trim)
                .find(|l| !l.is_empty())
                .unwrap_or("no output on stderr");
            let program = cmd
                .split_whitespace()
                .next()
                .unwrap_or(cmd)
                .trim_matches('"');
            format!(
                "the credential plugin {program} failed ({}: {detail}); log in again with it and retry",
                out.status
            )
        }
        A::ReadTokenFile(source, path) => format!(
            "cannot read the token file {} ({source}); check users[].user.tokenFile",
            path.display()
        ),
        other => format!("{other}; check the kubeconfig's user entry"),
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
    fn kinds_and_sentences() {
        let unauthorized = RequestError::from_status(
            "https://10.0.0.1:6443",
            "list pods",
            StatusCode::UNAUTHORIZED,
            br#"{"message":"Unauthorized"}"#,
            1,
        );
        assert_eq!(unauthorized.kind(), FailureKind::Auth);
        let text = unauthorized.to_string();
        assert!(
            text.contains("unauthorized") && text.contains("https://10.0.0.1:6443"),
            "{text}"
        );
        let busy = RequestError::from_status(
            "https://x",
            "list pods",
            StatusCode::SERVICE_UNAVAILABLE,
            b"",
            6,
        );
        assert_eq!(busy.kind(), FailureKind::Server);
        assert!(
            busy.to_string().contains("answered HTTP 503 6 times"),
            "{busy}"
        );
        let refused = RequestError::Connect {
            server: "https://127.0.0.1:1".into(),
            reason: ConnectReason::Refused,
            source: None,
        };
        assert_eq!(refused.kind(), FailureKind::Unreachable);
        assert_eq!(
            refused.to_string(),
            "cannot connect to https://127.0.0.1:1: connection refused; check that the cluster is running and that the server address in the kubeconfig is right"
        );
    }

    #[test]
    fn certificate_errors_wrapped_in_io_errors_are_found() {
        let certificate =
            rustls::Error::InvalidCertificate(rustls::CertificateError::UnknownIssuer);
        let inner = std::io::Error::new(std::io::ErrorKind::InvalidData, certificate);
        let outer: BoxError = Box::new(std::io::Error::other(inner));
        let error = classify_transport("https://h:1", "h", Duration::from_secs(3), outer);
        assert_eq!(error.kind(), FailureKind::Tls);
        assert!(
            error
                .to_string()
                .contains("not signed by the CA in your kubeconfig"),
            "{error}"
        );
    }

    #[test]
    fn io_errors_in_a_chain_are_classified() {
        let refused: BoxError =
            Box::new(std::io::Error::from(std::io::ErrorKind::ConnectionRefused));
        let error = classify_transport("https://h:1", "h", Duration::from_secs(3), refused);
        assert!(matches!(
            error,
            RequestError::Connect {
                reason: ConnectReason::Refused,
                ..
            }
        ));
        let timeout: BoxError = Box::new(std::io::Error::from(std::io::ErrorKind::TimedOut));
        let error = classify_transport("https://h:1", "h", Duration::from_secs(3), timeout);
        assert_eq!(error.kind(), FailureKind::Timeout);
        assert!(error.to_string().contains("timed out after 3 s"), "{error}");
    }
}
