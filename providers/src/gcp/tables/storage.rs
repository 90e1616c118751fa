//! Cloud Storage buckets, from the JSON API's `GET /storage/v1/b`.
//!
//! The storage crate lists buckets only over gRPC, which proxies and
//! private endpoints often do not pass; the JSON API is what gcloud uses.
//! kq calls it with the session's credentials and the same retry rule as
//! the client libraries (429 and 503, exponential backoff).

use std::collections::HashMap;
use std::time::Duration;

use futures::future::BoxFuture;
use google_cloud_auth::credentials::CacheableResource;
use serde::Deserialize;

use super::{labels, text};
use crate::cloud::{Col, col};
use crate::failures::FailureKind;
use crate::gcp::connect::StorageClient;
use crate::gcp::table::{CallError, Fetched, Request, Spec, Target};
use crate::kubernetes::tables::model::{Cell, ColType::*};

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub(crate) struct Bucket {
    name: String,
    location: String,
    location_type: String,
    storage_class: String,
    time_created: String,
    labels: HashMap<String, String>,
    iam_configuration: IamConfiguration,
    versioning: Option<Enabled>,
    logging: Option<serde_json::Value>,
    retention_policy: Option<serde_json::Value>,
    encryption: Option<Encryption>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
struct IamConfiguration {
    uniform_bucket_level_access: Option<Enabled>,
    public_access_prevention: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct Enabled {
    enabled: bool,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
struct Encryption {
    default_kms_key_name: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
struct Page {
    items: Vec<Bucket>,
    next_page_token: Option<String>,
}

/// A Google API error body: `{"error": {"code", "status", "message"}}`.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct ErrorBody {
    error: ErrorDetail,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct ErrorDetail {
    status: Option<String>,
    message: String,
}

const OPERATION: &str = "buckets.list";

/// One page, retried on 429 and 503 as the client libraries retry.
async fn page(
    client: &StorageClient,
    project: &str,
    token: Option<&str>,
) -> Result<Page, CallError> {
    let mut delay = Duration::from_millis(200);
    let mut attempt = 1;
    loop {
        let headers = match client
            .credentials
            .headers(http::Extensions::new())
            .await
            .map_err(|e| CallError::new(OPERATION, None, e.to_string(), FailureKind::Auth))?
        {
            CacheableResource::New { data, .. } => data,
            // No entity tag was sent, so headers always come back new.
            CacheableResource::NotModified => http::HeaderMap::new(),
        };
        let mut query = vec![("project", project), ("maxResults", "1000")];
        if let Some(token) = token {
            query.push(("pageToken", token));
        }
        let response = client
            .http
            .get(format!("{}/storage/v1/b", client.base))
            .headers(headers)
            .query(&query)
            .send()
            .await
            .map_err(|e| {
                let kind = if e.is_timeout() {
                    FailureKind::Timeout
                } else {
                    FailureKind::Unreachable
                };
                CallError::new(OPERATION, None, e.to_string(), kind)
            })?;
        let status = response.status();
        let body = response.bytes().await.map_err(|e| {
            CallError::new(OPERATION, None, e.to_string(), FailureKind::Unreachable)
        })?;
        if status.is_success() {
            return serde_json::from_slice(&body).map_err(|e| {
                CallError::new(
                    OPERATION,
                    None,
                    format!("unexpected answer: {e}"),
                    FailureKind::Decode,
                )
            });
        }
        if matches!(status.as_u16(), 429 | 503) && attempt < client.attempts {
            tokio::time::sleep(delay).await;
            delay = (delay * 2).min(Duration::from_secs(10));
            attempt += 1;
            continue;
        }
        let detail = serde_json::from_slice::<ErrorBody>(&body)
            .unwrap_or_default()
            .error;
        let kind = match status.as_u16() {
            401 => FailureKind::Auth,
            403 => FailureKind::Forbidden,
            _ => FailureKind::Server,
        };
        let message = if detail.message.is_empty() {
            String::from_utf8_lossy(&body).trim().to_string()
        } else {
            detail.message
        };
        return Err(CallError::new(
            OPERATION,
            Some(
                detail
                    .status
                    .unwrap_or_else(|| format!("HTTP {}", status.as_u16())),
            ),
            message,
            kind,
        ));
    }
}

fn fetch_buckets<'a>(
    target: &'a Target<'a>,
    _request: &'a Request,
) -> BoxFuture<'a, Result<Fetched<Bucket>, CallError>> {
    Box::pin(async move {
        let mut buckets = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let page = page(&target.clients.storage, target.scope, token.as_deref()).await?;
            buckets.extend(page.items);
            match page.next_page_token.filter(|t| !t.is_empty()) {
                Some(next) => token = Some(next),
                None => break,
            }
        }
        buckets.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(Fetched::from(buckets))
    })
}

pub(crate) fn buckets() -> Spec<Bucket> {
    let columns: Vec<Col<Bucket>> = vec![
        col(
            "region",
            Utf8,
            "The bucket's location in lower case (a region, or a multi-region such as us)",
            |b| Cell::string(Some(b.location.to_ascii_lowercase()).filter(|l| !l.is_empty())),
        ),
        col("name", Utf8, "Bucket name", |b| text(&b.name)),
        col(
            "location",
            Utf8,
            "Location as GCP writes it (US, EUROPE-WEST1, …)",
            |b| text(&b.location),
        ),
        col(
            "location_type",
            Utf8,
            "region, dual-region or multi-region",
            |b| text(&b.location_type),
        ),
        col(
            "storage_class",
            Utf8,
            "STANDARD, NEARLINE, COLDLINE, ARCHIVE",
            |b| text(&b.storage_class),
        ),
        col(
            "uniform_bucket_level_access",
            Boolean,
            "Whether IAM alone decides access (no per-object ACLs)",
            |b| {
                Cell::bool(Some(
                    b.iam_configuration
                        .uniform_bucket_level_access
                        .as_ref()
                        .is_some_and(|u| u.enabled),
                ))
            },
        ),
        col(
            "public_access_prevention",
            Utf8,
            "enforced (never public) or inherited (public if IAM or ACLs say so)",
            |b| Cell::str(b.iam_configuration.public_access_prevention.as_deref()),
        ),
        col(
            "versioning",
            Boolean,
            "Whether object versioning is on",
            |b| Cell::bool(Some(b.versioning.as_ref().is_some_and(|v| v.enabled))),
        ),
        col(
            "logging",
            Boolean,
            "Whether access logging is configured",
            |b| Cell::bool(Some(b.logging.is_some())),
        ),
        col(
            "retention_policy",
            Boolean,
            "Whether a retention policy is set",
            |b| Cell::bool(Some(b.retention_policy.is_some())),
        ),
        col(
            "kms_key",
            Utf8,
            "Default customer-managed encryption key; NULL: Google-managed",
            |b| {
                Cell::str(
                    b.encryption
                        .as_ref()
                        .and_then(|e| e.default_kms_key_name.as_deref()),
                )
            },
        ),
        col("labels", Map, "Labels", |b| labels(&b.labels)),
        col("created", Timestamp, "When the bucket was created", |b| {
            text(&b.time_created)
        }),
    ];
    Spec {
        name: "storage_buckets",
        description: "Cloud Storage buckets, one row per bucket",
        columns,
        narrowing: &[],
        fetch: fetch_buckets,
    }
}
