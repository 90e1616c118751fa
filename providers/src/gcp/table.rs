//! The GCP face of the scoped cloud tables (`crate::cloud::scoped`):
//! tables fan out over projects, and client library errors become
//! [`CallError`]s that keep the API's status.

use crate::cloud::scoped;
pub use crate::cloud::scoped::CallError;
pub(crate) use crate::cloud::scoped::{DETAIL_CONCURRENCY, Fetched, Request};
use crate::failures::FailureKind;

use super::connect::Clients;

/// A GCP table as DataFusion sees it.
pub type GcpTable = scoped::ScopedTable<super::Gcp>;
pub(crate) type Target<'a> = scoped::Target<'a, Clients>;
pub(crate) type Spec<T> = scoped::Spec<T, Clients>;

/// A client library error as a [`CallError`], keeping the API's status.
pub(crate) fn gax_error(
    operation: &'static str,
    error: google_cloud_gax::error::Error,
) -> CallError {
    use google_cloud_gax::error::rpc::Code;
    if let Some(status) = error.status() {
        let kind = match status.code {
            Code::PermissionDenied => FailureKind::Forbidden,
            Code::Unauthenticated => FailureKind::Auth,
            Code::DeadlineExceeded => FailureKind::Timeout,
            _ => FailureKind::Server,
        };
        return CallError::new(
            operation,
            Some(status.code.name().to_string()),
            status.message.clone(),
            kind,
        );
    }
    let kind = if error.is_authentication() {
        FailureKind::Auth
    } else if error.is_timeout() {
        FailureKind::Timeout
    } else if error.is_connect() || error.is_io() || error.is_transport() {
        FailureKind::Unreachable
    } else if error.is_deserialization() {
        FailureKind::Decode
    } else {
        match error.http_status_code() {
            Some(401) => FailureKind::Auth,
            Some(403) => FailureKind::Forbidden,
            _ => FailureKind::Server,
        }
    };
    CallError::new(
        operation,
        error.http_status_code().map(|code| format!("HTTP {code}")),
        error.to_string(),
        kind,
    )
}
