//! Which Azure subscriptions a session reads, with which credentials,
//! through which Resource Manager endpoint; resolved once per session.
//!
//! kq connects where `az` connects. The cloud is az's active one (its
//! `config` and `clouds.config` under `AZURE_CONFIG_DIR`, default
//! `~/.azure`), so sovereign and custom clouds (`az cloud register`)
//! need nothing more; `REQUESTS_CA_BUNDLE`, which az honours, adds a CA.
//! Credentials are chosen as az's SDKs choose them: a service principal
//! from `AZURE_CLIENT_SECRET`, workload identity from
//! `AZURE_FEDERATED_TOKEN_FILE`, a managed identity (`IDENTITY_ENDPOINT`,
//! `MSI_ENDPOINT`), then the Azure CLI's own login, then the instance
//! metadata service.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use azure_core::credentials::{Secret, TokenCredential};
use azure_core::http::policies::auth::BearerTokenAuthorizationPolicy;
use azure_core::http::{
    ClientOptions, ExponentialRetryOptions, Pipeline, PipelineSendOptions, RetryOptions, Transport,
};
use azure_core::time::Duration as AzDuration;

use crate::cloud::scoped::{CallError, Scopes};
use crate::failures::{AZURE_SOURCE_PREFIX, FailureKind, FailureLog};

/// What the user selected on the command line.
#[derive(Clone, Debug, Default)]
pub struct AzureOptions {
    /// Subscription ids or names; empty means every enabled subscription
    /// the credentials can list.
    pub subscriptions: Vec<String>,
    /// Bound on one attempt of one call.
    pub timeout: Duration,
}

/// A configuration problem: the session cannot read Azure at all as asked.
#[derive(Debug, thiserror::Error)]
pub enum AzureError {
    #[error("cannot read az's configuration {path}: {source}")]
    Config {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "az's active cloud '{0}' is not registered in its clouds.config; run `az cloud set --name NAME` with a registered cloud"
    )]
    UnknownCloud(String),
    #[error("cannot read the CA bundle {path} named by REQUESTS_CA_BUNDLE: {message}")]
    CaBundle { path: String, message: String },
    #[error(
        "cannot set up Azure credentials ({0}); run `az login`, or set AZURE_CLIENT_ID, AZURE_TENANT_ID and AZURE_CLIENT_SECRET"
    )]
    Credentials(String),
    #[error("cannot set up the Azure HTTP client: {0}")]
    Client(String),
    #[error(
        "cannot list the Azure subscriptions these credentials can read ({0}); run `az login` or pass --azure-subscription"
    )]
    ListSubscriptions(String),
    #[error(
        "'{0}' in --azure-subscription is neither the id nor the name of a subscription these credentials can read; `az account list` shows them"
    )]
    UnknownSubscription(String),
    #[error("the Azure credentials can read no enabled subscription; pass --azure-subscription")]
    NoSubscriptions,
}

/// A configuration error every caller of a session sees the same way.
pub type SharedAzureError = crate::cloud::scoped::Shared<AzureError>;

/// The Resource Manager endpoint and token audience of az's active cloud.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Cloud {
    pub name: String,
    pub resource_manager: String,
    pub audience: String,
}

/// A tiny reader of az's INI files: `[section]` and `key = value` lines.
fn ini(text: &str) -> HashMap<String, HashMap<String, String>> {
    let mut sections: HashMap<String, HashMap<String, String>> = HashMap::new();
    let mut current = String::new();
    for line in text.lines().map(str::trim) {
        if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            current = name.trim().to_string();
        } else if let Some((key, value)) = line.split_once('=')
            && !line.starts_with('#')
            && !line.starts_with(';')
        {
            sections
                .entry(current.clone())
                .or_default()
                .insert(key.trim().to_string(), value.trim().to_string());
        }
    }
    sections
}

impl Cloud {
    fn builtin(name: &str) -> Option<Self> {
        let (arm, audience) = match name {
            "AzureCloud" => (
                "https://management.azure.com/",
                "https://management.core.windows.net/",
            ),
            "AzureUSGovernment" => (
                "https://management.usgovcloudapi.net/",
                "https://management.core.usgovcloudapi.net/",
            ),
            "AzureChinaCloud" => (
                "https://management.chinacloudapi.cn/",
                "https://management.core.chinacloudapi.cn/",
            ),
            _ => return None,
        };
        Some(Self {
            name: name.to_string(),
            resource_manager: arm.to_string(),
            audience: audience.to_string(),
        })
    }

    /// az's active cloud, from its config directory's `config` and
    /// `clouds.config` (both optional: no file means the public cloud).
    fn from_config_dir(dir: &std::path::Path) -> Result<Self, AzureError> {
        let read = |name: &str| -> Result<String, AzureError> {
            let path = dir.join(name);
            match std::fs::read_to_string(&path) {
                Ok(text) => Ok(text),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(String::new()),
                Err(source) => Err(AzureError::Config {
                    path: path.display().to_string(),
                    source,
                }),
            }
        };
        let config = ini(&read("config")?);
        let name = config
            .get("cloud")
            .and_then(|c| c.get("name"))
            .cloned()
            .unwrap_or_else(|| "AzureCloud".to_string());
        let clouds = ini(&read("clouds.config")?);
        if let Some(custom) = clouds
            .get(&name)
            .and_then(|c| c.get("endpoint_resource_manager"))
        {
            let section = &clouds[&name];
            let audience = section
                .get("endpoint_active_directory_resource_id")
                .or_else(|| section.get("endpoint_management"))
                .cloned()
                .unwrap_or_else(|| custom.clone());
            return Ok(Self {
                name,
                resource_manager: custom.clone(),
                audience,
            });
        }
        Self::builtin(&name).ok_or(AzureError::UnknownCloud(name))
    }
}

fn config_dir(lookup: &dyn Fn(&str) -> Option<String>) -> PathBuf {
    match lookup("AZURE_CONFIG_DIR").filter(|d| !d.is_empty()) {
        Some(dir) => PathBuf::from(dir),
        None => PathBuf::from(lookup("HOME").unwrap_or_default()).join(".azure"),
    }
}

/// The credential az's SDKs would pick in this environment.
fn credential(
    lookup: &dyn Fn(&str) -> Option<String>,
    options: &ClientOptions,
) -> Result<Arc<dyn TokenCredential>, AzureError> {
    let set = |name: &str| lookup(name).filter(|v| !v.is_empty());
    let failed = |e: azure_core::Error| AzureError::Credentials(e.to_string());
    if let (Some(tenant), Some(client), Some(secret)) = (
        set("AZURE_TENANT_ID"),
        set("AZURE_CLIENT_ID"),
        set("AZURE_CLIENT_SECRET"),
    ) {
        let credential = azure_identity::ClientSecretCredential::new(
            &tenant,
            client,
            Secret::new(secret),
            Some(azure_identity::ClientSecretCredentialOptions {
                client_options: options.clone(),
            }),
        )
        .map_err(failed)?;
        return Ok(credential);
    }
    if set("AZURE_FEDERATED_TOKEN_FILE").is_some() {
        return Ok(azure_identity::WorkloadIdentityCredential::new(None).map_err(failed)?);
    }
    let managed = || -> Result<Arc<dyn TokenCredential>, AzureError> {
        Ok(azure_identity::ManagedIdentityCredential::new(Some(
            azure_identity::ManagedIdentityCredentialOptions {
                client_options: options.clone(),
                ..Default::default()
            },
        ))
        .map_err(failed)?)
    };
    if set("IDENTITY_ENDPOINT").is_some() || set("MSI_ENDPOINT").is_some() {
        return managed();
    }
    // Logged in with az: its profile names the accounts.
    if config_dir(lookup).join("azureProfile.json").exists() {
        return Ok(azure_identity::AzureCliCredential::new(None).map_err(failed)?);
    }
    managed()
}

/// How many times one call is tried when ARM throttles (429) or is
/// briefly unavailable (5xx); the pipeline honours Retry-After.
const ATTEMPTS: u32 = 5;

/// Resource Manager through azure_core's pipeline: retries, request ids,
/// bearer tokens for az's audience.
pub(crate) struct Arm {
    pipeline: Pipeline,
    base: azure_core::http::Url,
}

/// A parsed ARM error body: `{"error": {"code", "message"}}`.
#[derive(Debug, Default, serde::Deserialize)]
#[serde(default)]
struct ArmErrorBody {
    error: ArmErrorDetail,
}

#[derive(Debug, Default, serde::Deserialize)]
#[serde(default)]
struct ArmErrorDetail {
    code: String,
    message: String,
}

impl Arm {
    /// Every item of a list, following `nextLink` to the last page.
    pub(crate) async fn list(
        &self,
        operation: &'static str,
        path: &str,
        api_version: &str,
    ) -> Result<Vec<serde_json::Value>, CallError> {
        let mut url = self
            .base
            .join(path.trim_start_matches('/'))
            .map_err(|e| CallError::new(operation, None, e.to_string(), FailureKind::Config))?;
        url.query_pairs_mut()
            .append_pair("api-version", api_version);
        let mut items = Vec::new();
        let mut next = Some(url);
        while let Some(url) = next.take() {
            let page = self.get(operation, url).await?;
            if let Some(value) = page.get("value").and_then(|v| v.as_array()) {
                items.extend(value.iter().cloned());
            }
            if let Some(link) = page
                .get("nextLink")
                .and_then(|l| l.as_str())
                .filter(|l| !l.is_empty())
            {
                next = Some(azure_core::http::Url::parse(link).map_err(|e| {
                    CallError::new(
                        operation,
                        None,
                        format!("bad nextLink: {e}"),
                        FailureKind::Decode,
                    )
                })?);
            }
        }
        Ok(items)
    }

    async fn get(
        &self,
        operation: &'static str,
        url: azure_core::http::Url,
    ) -> Result<serde_json::Value, CallError> {
        let mut request = azure_core::http::Request::new(url, azure_core::http::Method::Get);
        let context = azure_core::http::Context::new();
        let response = self
            .pipeline
            .send(
                &context,
                &mut request,
                Some(PipelineSendOptions {
                    skip_checks: true,
                    ..Default::default()
                }),
            )
            .await
            .map_err(|e| {
                let kind = match e.kind() {
                    azure_core::error::ErrorKind::Credential => FailureKind::Auth,
                    azure_core::error::ErrorKind::Io => FailureKind::Unreachable,
                    _ => FailureKind::Unreachable,
                };
                CallError::new(operation, None, e.to_string(), kind)
            })?;
        let status = u16::from(response.status());
        let body = response.into_body();
        let bytes: &[u8] = body.as_ref();
        if (200..300).contains(&status) {
            return serde_json::from_slice(bytes).map_err(|e| {
                CallError::new(
                    operation,
                    None,
                    format!("unexpected answer: {e}"),
                    FailureKind::Decode,
                )
            });
        }
        let detail = serde_json::from_slice::<ArmErrorBody>(bytes)
            .unwrap_or_default()
            .error;
        let kind = match status {
            401 => FailureKind::Auth,
            403 => FailureKind::Forbidden,
            _ => FailureKind::Server,
        };
        let code = if detail.code.is_empty() {
            format!("HTTP {status}")
        } else {
            detail.code
        };
        let message = if detail.message.is_empty() {
            String::from_utf8_lossy(bytes).trim().to_string()
        } else {
            detail.message
        };
        Err(CallError::new(operation, Some(code), message, kind))
    }
}

/// The session's clients: one Resource Manager pipeline.
pub struct Clients {
    pub(crate) arm: Arm,
}

impl Clients {
    fn new(
        options: &AzureOptions,
        lookup: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Self, AzureError> {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let cloud = Cloud::from_config_dir(&config_dir(lookup))?;
        let timeout = if options.timeout.is_zero() {
            Duration::from_secs(60)
        } else {
            options.timeout
        };
        let mut http = reqwest::Client::builder().timeout(timeout);
        if let Some(path) = lookup("REQUESTS_CA_BUNDLE").filter(|p| !p.is_empty()) {
            let pem = std::fs::read(&path).map_err(|e| AzureError::CaBundle {
                path: path.clone(),
                message: e.to_string(),
            })?;
            let certificates =
                reqwest::Certificate::from_pem_bundle(&pem).map_err(|e| AzureError::CaBundle {
                    path: path.clone(),
                    message: e.to_string(),
                })?;
            http = http.tls_certs_merge(certificates);
        }
        let http = http
            .build()
            .map_err(|e| AzureError::Client(e.to_string()))?;
        let mut client_options = ClientOptions {
            transport: Some(Transport::new(Arc::new(http))),
            ..Default::default()
        };
        client_options.retry = RetryOptions::exponential(ExponentialRetryOptions {
            initial_delay: AzDuration::milliseconds(200),
            max_retries: ATTEMPTS - 1,
            max_delay: AzDuration::seconds(10),
            ..Default::default()
        });
        let credential = credential(lookup, &client_options)?;
        let scope = format!("{}/.default", cloud.audience.trim_end_matches('/'));
        let auth = BearerTokenAuthorizationPolicy::new(credential, [scope]);
        let pipeline = Pipeline::new(
            option_env!("CARGO_PKG_NAME"),
            option_env!("CARGO_PKG_VERSION"),
            client_options,
            Vec::new(),
            vec![Arc::new(auth)],
            None,
        );
        let mut base = cloud.resource_manager.clone();
        if !base.ends_with('/') {
            base.push('/');
        }
        let base = azure_core::http::Url::parse(&base)
            .map_err(|e| AzureError::Client(format!("{}: {e}", cloud.resource_manager)))?;
        Ok(Self {
            arm: Arm { pipeline, base },
        })
    }
}

/// The subscriptions a session reads, and the clients that read them.
pub type Resolved = Scopes<Clients>;

/// The API version of the subscriptions list kq (and az 2.91) calls.
const SUBSCRIPTIONS_API: &str = "2022-12-01";

pub(crate) async fn resolve(
    options: &AzureOptions,
    failures: &FailureLog,
) -> Result<Resolved, AzureError> {
    let lookup = |name: &str| std::env::var(name).ok();
    let clients = Clients::new(options, &lookup)?;
    let listed = clients
        .arm
        .list("subscriptions.list", "subscriptions", SUBSCRIPTIONS_API)
        .await
        .map_err(|e| AzureError::ListSubscriptions(e.to_string()))?;
    // (id, display name, enabled) of every subscription the credentials see.
    let known: Vec<(String, String, bool)> = listed
        .iter()
        .filter_map(|s| {
            Some((
                s.get("subscriptionId")?.as_str()?.to_string(),
                s.get("displayName")
                    .and_then(|n| n.as_str())
                    .unwrap_or_default()
                    .to_string(),
                s.get("state")
                    .and_then(|n| n.as_str())
                    .is_none_or(|state| state == "Enabled"),
            ))
        })
        .collect();
    let mut scopes: Vec<String> = Vec::new();
    for wanted in options
        .subscriptions
        .iter()
        .flat_map(|s| s.split(','))
        .map(str::trim)
    {
        let found = known
            .iter()
            .find(|(id, name, _)| id.eq_ignore_ascii_case(wanted) || name == wanted)
            .ok_or_else(|| AzureError::UnknownSubscription(wanted.to_string()))?;
        if !scopes.contains(&found.0) {
            scopes.push(found.0.clone());
        }
    }
    if options.subscriptions.is_empty() {
        scopes = known.iter().filter(|s| s.2).map(|s| s.0.clone()).collect();
        scopes.sort();
        if scopes.is_empty() {
            return Err(AzureError::NoSubscriptions);
        }
    }
    for scope in &scopes {
        failures.attempted(&format!("{AZURE_SOURCE_PREFIX}{scope}"));
    }
    Ok(Scopes { scopes, clients })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_active_cloud_comes_from_azs_files() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(
            Cloud::from_config_dir(dir.path()).unwrap(),
            Cloud::builtin("AzureCloud").unwrap()
        );
        std::fs::write(dir.path().join("config"), "[cloud]\nname = Lab\n").unwrap();
        assert!(matches!(
            Cloud::from_config_dir(dir.path()),
            Err(AzureError::UnknownCloud(name)) if name == "Lab"
        ));
        std::fs::write(
            dir.path().join("clouds.config"),
            "[Lab]\nendpoint_resource_manager = https://arm.lab/\nendpoint_active_directory_resource_id = https://mgmt.lab/\n",
        )
        .unwrap();
        let cloud = Cloud::from_config_dir(dir.path()).unwrap();
        assert_eq!(cloud.resource_manager, "https://arm.lab/");
        assert_eq!(cloud.audience, "https://mgmt.lab/");
    }
}
