//! Which GCP projects a session reads, with which credentials, through
//! which endpoints; resolved once per session.
//!
//! kq finds credentials and endpoints where `gcloud` does, so one
//! environment serves both: `CLOUDSDK_AUTH_ACCESS_TOKEN_FILE` (gcloud's
//! `auth/access_token_file` property) first, then application default
//! credentials (`GOOGLE_APPLICATION_CREDENTIALS`, the file `gcloud auth
//! application-default login` writes, workload identity federation, the
//! metadata server). `CLOUDSDK_API_ENDPOINT_OVERRIDES_<API>` moves an API
//! (private service connect, a proxy, a test fake) exactly as it moves
//! gcloud's.

use std::time::Duration;

use google_cloud_auth::credentials::{
    CacheableResource, Credentials, CredentialsProvider, EntityTag,
};
use google_cloud_gax::exponential_backoff::ExponentialBackoffBuilder;
use google_cloud_gax::paginator::Paginator as _;
use google_cloud_gax::retry_policy::{Aip194Strict, RetryPolicyExt as _};
use http::{Extensions, HeaderMap, HeaderValue};

use super::table::{CallError, gax_error};
use crate::cloud::scoped::Scopes;
use crate::failures::{FailureLog, GCP_SOURCE_PREFIX};

/// What the user selected on the command line.
#[derive(Clone, Debug, Default)]
pub struct GcpOptions {
    /// Project ids to read; empty means every active project the
    /// credentials can list.
    pub projects: Vec<String>,
    /// Bound on one attempt of one call.
    pub timeout: Duration,
}

/// A configuration problem: the session cannot read GCP at all as asked.
#[derive(Debug, thiserror::Error)]
pub enum GcpError {
    #[error(
        "no GCP credentials found (looked at CLOUDSDK_AUTH_ACCESS_TOKEN_FILE, GOOGLE_APPLICATION_CREDENTIALS, gcloud's application default credentials and the metadata server): {0}; run `gcloud auth application-default login` or set GOOGLE_APPLICATION_CREDENTIALS"
    )]
    NoCredentials(String),
    #[error(
        "cannot read the access token file {path} named by CLOUDSDK_AUTH_ACCESS_TOKEN_FILE: {source}"
    )]
    TokenFile {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "{variable}={value} is not an http(s) URL; set it to the API's base URL as for gcloud (for example https://compute.example.com/compute/v1/)"
    )]
    BadEndpoint { variable: String, value: String },
    #[error("cannot set up the GCP {api} client: {message}")]
    Client { api: &'static str, message: String },
    #[error(
        "cannot list the GCP projects these credentials can read ({0}); pass --gcp-project with the project ids to read"
    )]
    ListProjects(String),
    #[error(
        "'{0}' in --gcp-project is not a GCP project id (6 to 30 lowercase letters, digits and hyphens); pass project ids separated by commas"
    )]
    BadProject(String),
    #[error(
        "the GCP credentials can list no active project; pass --gcp-project with the project ids to read"
    )]
    NoProjects,
}

/// A configuration error every caller of a session sees the same way.
pub type SharedGcpError = crate::cloud::scoped::Shared<GcpError>;

/// Base URLs of the APIs kq calls, in the clients' form (the host, with
/// the API's own path prefix left to the client).
#[derive(Clone, Debug)]
pub(crate) struct Endpoints {
    pub compute: Option<String>,
    pub container: Option<String>,
    pub iam: Option<String>,
    pub resource_manager: Option<String>,
    pub storage: String,
}

impl Endpoints {
    /// gcloud's overrides name the API's base URL including its version
    /// path (`…/compute/v1/`); the clients append that path themselves.
    fn from_env(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, GcpError> {
        let read = |api: &str, suffix: &str| -> Result<Option<String>, GcpError> {
            let variable = format!("CLOUDSDK_API_ENDPOINT_OVERRIDES_{api}");
            let Some(value) = lookup(&variable).filter(|v| !v.trim().is_empty()) else {
                return Ok(None);
            };
            let value = value.trim();
            if !(value.starts_with("http://") || value.starts_with("https://")) {
                return Err(GcpError::BadEndpoint {
                    variable,
                    value: value.to_string(),
                });
            }
            let base = value.trim_end_matches('/');
            let base = base.strip_suffix(suffix).unwrap_or(base);
            Ok(Some(base.trim_end_matches('/').to_string()))
        };
        Ok(Self {
            compute: read("COMPUTE", "/compute/v1")?,
            container: read("CONTAINER", "/v1")?,
            iam: read("IAM", "/v1")?,
            resource_manager: read("CLOUDRESOURCEMANAGER", "/v3")?,
            storage: read("STORAGE", "/storage/v1")?
                .unwrap_or_else(|| "https://storage.googleapis.com".to_string()),
        })
    }
}

/// A bearer token read from a file, as gcloud's `auth/access_token_file`
/// property uses it: no refresh, the file's owner keeps it fresh.
#[derive(Debug)]
struct TokenFile {
    headers: HeaderMap,
    entity_tag: EntityTag,
}

impl CredentialsProvider for TokenFile {
    async fn headers(
        &self,
        extensions: Extensions,
    ) -> Result<CacheableResource<HeaderMap>, google_cloud_auth::errors::CredentialsError> {
        Ok(match extensions.get::<EntityTag>() {
            Some(tag) if *tag == self.entity_tag => CacheableResource::NotModified,
            _ => CacheableResource::New {
                entity_tag: self.entity_tag.clone(),
                data: self.headers.clone(),
            },
        })
    }

    async fn universe_domain(&self) -> Option<String> {
        None
    }
}

fn credentials(lookup: impl Fn(&str) -> Option<String>) -> Result<Credentials, GcpError> {
    if let Some(path) = lookup("CLOUDSDK_AUTH_ACCESS_TOKEN_FILE").filter(|p| !p.is_empty()) {
        let token = std::fs::read_to_string(&path).map_err(|source| GcpError::TokenFile {
            path: path.clone(),
            source,
        })?;
        let value = HeaderValue::from_str(&format!("Bearer {}", token.trim())).map_err(|e| {
            GcpError::TokenFile {
                path,
                source: std::io::Error::new(std::io::ErrorKind::InvalidData, e),
            }
        })?;
        let mut headers = HeaderMap::new();
        headers.insert(http::header::AUTHORIZATION, value);
        return Ok(Credentials::from(TokenFile {
            headers,
            entity_tag: EntityTag::new(),
        }));
    }
    google_cloud_auth::credentials::Builder::default()
        .build()
        .map_err(|e| GcpError::NoCredentials(e.to_string()))
}

/// One client per API, shared by every table and project of a session.
pub struct Clients {
    pub(crate) instances: google_cloud_compute_v1::client::Instances,
    pub(crate) networks: google_cloud_compute_v1::client::Networks,
    pub(crate) subnetworks: google_cloud_compute_v1::client::Subnetworks,
    pub(crate) firewalls: google_cloud_compute_v1::client::Firewalls,
    pub(crate) forwarding_rules: google_cloud_compute_v1::client::ForwardingRules,
    pub(crate) addresses: google_cloud_compute_v1::client::Addresses,
    pub(crate) clusters: google_cloud_container_v1::client::ClusterManager,
    pub(crate) iam: google_cloud_iam_admin_v1::client::Iam,
    pub(crate) projects: google_cloud_resourcemanager_v3::client::Projects,
    /// The storage JSON API, called directly (see [`super::tables`]).
    pub(crate) storage: StorageClient,
}

/// A plain HTTPS client for the one JSON API no crate here speaks.
pub struct StorageClient {
    pub(crate) http: reqwest::Client,
    pub(crate) base: String,
    pub(crate) credentials: Credentials,
    /// Attempts of one call when the API answers 429 or 503.
    pub(crate) attempts: u32,
}

/// How many times one call is tried when GCP throttles (429) or is
/// briefly unavailable (503), with exponential backoff between.
const ATTEMPTS: u32 = 5;

/// Builds one client with the session's endpoint, credentials and retry
/// policy: AIP-194's retry of UNAVAILABLE, plus 429s, which rate limits
/// answer and which the strict policy alone would fail at once.
macro_rules! client {
    ($ty:ty, $endpoint:expr, $credentials:expr, $timeout:expr, $api:literal) => {{
        let mut builder = <$ty>::builder()
            .with_credentials($credentials.clone())
            .with_retry_policy(
                Aip194Strict
                    .continue_on_too_many_requests()
                    .with_attempt_limit(ATTEMPTS),
            )
            .with_backoff_policy(backoff())
            .with_attempt_timeout($timeout);
        if let Some(endpoint) = $endpoint {
            builder = builder.with_endpoint(endpoint.clone());
        }
        builder.build().await.map_err(|e| GcpError::Client {
            api: $api,
            message: e.to_string(),
        })?
    }};
}

fn backoff() -> google_cloud_gax::exponential_backoff::ExponentialBackoff {
    ExponentialBackoffBuilder::new()
        .with_initial_delay(Duration::from_millis(200))
        .with_maximum_delay(Duration::from_secs(10))
        .build()
        .unwrap_or_default()
}

impl Clients {
    async fn new(
        options: &GcpOptions,
        lookup: &(dyn Fn(&str) -> Option<String> + Sync),
    ) -> Result<Self, GcpError> {
        // The google-cloud crates are built without a TLS provider of
        // their own; ring is the one kube-rs and the AWS SDK use. Another
        // part of kq may have installed it already.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let endpoints = Endpoints::from_env(lookup)?;
        let credentials = credentials(lookup)?;
        let timeout = if options.timeout.is_zero() {
            Duration::from_secs(60)
        } else {
            options.timeout
        };
        use google_cloud_compute_v1::client as compute;
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .build()
            .map_err(|e| GcpError::Client {
                api: "storage",
                message: e.to_string(),
            })?;
        Ok(Self {
            instances: client!(
                compute::Instances,
                &endpoints.compute,
                credentials,
                timeout,
                "compute"
            ),
            networks: client!(
                compute::Networks,
                &endpoints.compute,
                credentials,
                timeout,
                "compute"
            ),
            subnetworks: client!(
                compute::Subnetworks,
                &endpoints.compute,
                credentials,
                timeout,
                "compute"
            ),
            firewalls: client!(
                compute::Firewalls,
                &endpoints.compute,
                credentials,
                timeout,
                "compute"
            ),
            forwarding_rules: client!(
                compute::ForwardingRules,
                &endpoints.compute,
                credentials,
                timeout,
                "compute"
            ),
            addresses: client!(
                compute::Addresses,
                &endpoints.compute,
                credentials,
                timeout,
                "compute"
            ),
            clusters: client!(
                google_cloud_container_v1::client::ClusterManager,
                &endpoints.container,
                credentials,
                timeout,
                "container"
            ),
            iam: client!(
                google_cloud_iam_admin_v1::client::Iam,
                &endpoints.iam,
                credentials,
                timeout,
                "iam"
            ),
            projects: client!(
                google_cloud_resourcemanager_v3::client::Projects,
                &endpoints.resource_manager,
                credentials,
                timeout,
                "resource manager"
            ),
            storage: StorageClient {
                http,
                base: endpoints.storage,
                credentials,
                attempts: ATTEMPTS,
            },
        })
    }
}

/// The projects a session reads, and the clients that read them.
pub type Resolved = Scopes<Clients>;

/// Project ids are 6–30 characters of lowercase letters, digits and
/// hyphens, starting with a letter (domain-scoped ids carry `domain:`).
fn valid_project_id(id: &str) -> bool {
    let bare = id.rsplit(':').next().unwrap_or(id);
    (6..=30).contains(&bare.len())
        && bare.starts_with(|c: char| c.is_ascii_lowercase())
        && bare
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
}

pub(crate) async fn resolve(
    options: &GcpOptions,
    failures: &FailureLog,
) -> Result<Resolved, GcpError> {
    let mut projects = Vec::new();
    for id in options.projects.iter().flat_map(|p| p.split(',')) {
        let id = id.trim();
        if !valid_project_id(id) {
            return Err(GcpError::BadProject(id.to_string()));
        }
        if !projects.iter().any(|p| p == id) {
            projects.push(id.to_string());
        }
    }
    let lookup = |name: &str| std::env::var(name).ok();
    let clients = Clients::new(options, &lookup).await?;
    if projects.is_empty() {
        projects = list_projects(&clients)
            .await
            .map_err(|e| GcpError::ListProjects(e.to_string()))?;
        if projects.is_empty() {
            return Err(GcpError::NoProjects);
        }
    }
    for project in &projects {
        failures.attempted(&format!("{GCP_SOURCE_PREFIX}{project}"));
    }
    Ok(Scopes {
        scopes: projects,
        clients,
    })
}

/// Every active project the credentials may see, in id order, as
/// `gcloud projects list` shows them.
async fn list_projects(clients: &Clients) -> Result<Vec<String>, CallError> {
    use google_cloud_resourcemanager_v3::model::project::State;
    let mut pages = clients
        .projects
        .search_projects()
        .set_query("state:ACTIVE")
        .by_page();
    let mut ids = Vec::new();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| gax_error("projects.search", e))?;
        ids.extend(
            page.projects
                .into_iter()
                .filter(|p| p.state == State::Active || p.state == State::Unspecified)
                .map(|p| p.project_id),
        );
    }
    ids.sort();
    ids.dedup();
    Ok(ids)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gcloud_overrides_become_client_bases() {
        let env = |name: &str| match name {
            "CLOUDSDK_API_ENDPOINT_OVERRIDES_COMPUTE" => {
                Some("http://127.0.0.1:9/compute/v1/".into())
            }
            "CLOUDSDK_API_ENDPOINT_OVERRIDES_CONTAINER" => Some("http://127.0.0.1:9/".into()),
            "CLOUDSDK_API_ENDPOINT_OVERRIDES_STORAGE" => {
                Some("https://s.example/storage/v1/".into())
            }
            _ => None,
        };
        let e = Endpoints::from_env(env).unwrap();
        assert_eq!(e.compute.as_deref(), Some("http://127.0.0.1:9"));
        assert_eq!(e.container.as_deref(), Some("http://127.0.0.1:9"));
        assert_eq!(e.iam, None);
        assert_eq!(e.storage, "https://s.example");
        let bad = |name: &str| {
            (name == "CLOUDSDK_API_ENDPOINT_OVERRIDES_IAM").then(|| "iam.example".to_string())
        };
        assert!(matches!(
            Endpoints::from_env(bad),
            Err(GcpError::BadEndpoint { .. })
        ));
    }

    #[test]
    fn project_ids_are_checked() {
        assert!(valid_project_id("kq-prod"));
        assert!(valid_project_id("example.com:kq-prod"));
        assert!(!valid_project_id("Prod"));
        assert!(!valid_project_id("p1"));
        assert!(!valid_project_id("1project"));
    }
}
