//! Which AWS accounts and regions a session reads, and the SDK
//! configuration for each, resolved once per session.
//!
//! Credentials come from the SDK's standard chain exactly as the AWS CLI
//! finds them (environment, profiles, SSO, web identity, instance
//! metadata); `--aws-profile` names profiles of that chain. Each profile's
//! account is asked of STS, so rows carry account ids and two profiles of
//! one account are read once.

use std::sync::Arc;
use std::time::Duration;

use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_credential_types::provider::ProvideCredentials as _;
use aws_smithy_http_client::tls;
use tokio::sync::OnceCell;

use super::table::CallError;
use crate::failures::{AWS_SOURCE_PREFIX, FailureKind, FailureLog};

/// What the user selected on the command line.
#[derive(Clone, Debug, Default)]
pub struct AwsOptions {
    /// Profiles to read; empty means the default chain (AWS_PROFILE or `default`).
    pub profiles: Vec<String>,
    /// Regions to read; empty means each profile's own region, `all` every
    /// region enabled for the account.
    pub regions: Vec<String>,
    /// Bound on one attempt of one call.
    pub timeout: Duration,
}

/// A configuration problem: the session cannot read AWS at all as asked.
#[derive(Debug, thiserror::Error)]
pub enum AwsError {
    #[error(
        "aws profile '{profile}' is not defined in the AWS config or credentials files{known}; pass a defined --aws-profile"
    )]
    UnknownProfile { profile: String, known: String },
    #[error(
        "no AWS credentials found for {who} (looked in the environment, the AWS config and credentials files, SSO, web identity and instance metadata): {cause}; configure credentials or pass --aws-profile"
    )]
    NoCredentials { who: String, cause: String },
    #[error(
        "no AWS region for {who}: pass --aws-region (a region, a comma-separated list, or all) or set `region` in the AWS config file"
    )]
    NoRegion { who: String },
    #[error(
        "'{region}' in --aws-region is not an AWS region name (like us-east-1); pass region names separated by commas, or all"
    )]
    BadRegion { region: String },
    #[error("cannot read the AWS config files: {0}")]
    ConfigFiles(String),
}

/// One account as the session reads it.
#[derive(Clone)]
pub struct Account {
    /// The 12-digit account id STS reported.
    pub id: String,
    /// The profile it was reached through (`default` for the default chain).
    pub profile: String,
    /// The region global and per-account services are called in.
    pub home_region: String,
    /// The selected regions of this account.
    pub regions: Vec<String>,
    config: SdkConfig,
}

impl Account {
    /// The SDK configuration for calls in `region` (the home region for
    /// the `global` pseudo-region).
    pub fn config_for(&self, region: &str) -> SdkConfig {
        let region = if region == super::table::GLOBAL_REGION {
            self.home_region.clone()
        } else {
            region.to_string()
        };
        self.config.to_builder().region(Region::new(region)).build()
    }
}

/// The accounts a session reads, and the profiles that could not be
/// reached (named, with the cause; every scan reports them again, since
/// every scan is missing their rows).
pub struct Resolved {
    pub accounts: Vec<Arc<Account>>,
    /// (source, kind, message) of each unreachable profile or account.
    pub failed: Vec<(String, FailureKind, String)>,
}

/// The session's AWS state: options, failure log, accounts once resolved.
pub struct AwsContext {
    options: AwsOptions,
    pub(crate) failures: FailureLog,
    resolved: OnceCell<Result<Arc<Resolved>, Arc<AwsError>>>,
}

impl AwsContext {
    pub fn new(options: AwsOptions, failures: FailureLog) -> Self {
        Self {
            options,
            failures,
            resolved: OnceCell::new(),
        }
    }

    /// The accounts to read, resolved on first use. A configuration error
    /// is kept and returned to every later caller too.
    pub async fn accounts(&self) -> Result<Arc<Resolved>, SharedAwsError> {
        self.resolved
            .get_or_init(|| async { resolve(&self.options).await.map(Arc::new).map_err(Arc::new) })
            .await
            .clone()
            .map_err(SharedAwsError)
    }
}

/// An [`AwsError`] shared by every caller of [`AwsContext::accounts`].
#[derive(Clone, Debug)]
pub struct SharedAwsError(pub Arc<AwsError>);

impl std::fmt::Display for SharedAwsError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

impl std::error::Error for SharedAwsError {}

/// Whether `region` looks like an AWS region name (`us-east-1`,
/// `us-gov-west-1`, `cn-north-1`): lower-case words and a number.
fn is_region_name(region: &str) -> bool {
    let mut parts = region.split('-');
    let first = parts.next().unwrap_or("");
    let rest: Vec<&str> = parts.collect();
    first.len() >= 2
        && first.bytes().all(|b| b.is_ascii_lowercase())
        && rest.len() >= 2
        && rest
            .last()
            .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
        && rest[..rest.len() - 1]
            .iter()
            .all(|w| !w.is_empty() && w.bytes().all(|b| b.is_ascii_lowercase()))
}

async fn resolve(options: &AwsOptions) -> Result<Resolved, AwsError> {
    let all_regions = options.regions.iter().any(|r| r == "all");
    for region in options.regions.iter().filter(|r| *r != "all") {
        if !is_region_name(region) {
            return Err(AwsError::BadRegion {
                region: region.clone(),
            });
        }
    }
    let profile_set = aws_config::profile::load(
        &aws_types::os_shim_internal::Fs::real(),
        &aws_types::os_shim_internal::Env::real(),
        &Default::default(),
        None,
    )
    .await
    .map_err(|e| AwsError::ConfigFiles(super::error_text(&e)))?;
    for profile in &options.profiles {
        if profile_set.get_profile(profile).is_none() {
            let mut known: Vec<&str> = profile_set.profiles().collect();
            known.sort_unstable();
            return Err(AwsError::UnknownProfile {
                profile: profile.clone(),
                known: if known.is_empty() {
                    " (there are no profiles)".to_string()
                } else {
                    format!(" (defined: {})", known.join(", "))
                },
            });
        }
    }
    // One HTTPS client for every SDK client of the session: rustls on
    // ring, the TLS stack kube-rs already brings, with the system's roots.
    let http = aws_smithy_http_client::Builder::new()
        .tls_provider(tls::Provider::Rustls(
            tls::rustls_provider::CryptoMode::Ring,
        ))
        .build_https();
    let retry = RetryConfig::standard()
        .with_max_attempts(5)
        .with_initial_backoff(Duration::from_millis(200));
    let timeouts = TimeoutConfig::builder()
        .connect_timeout(Duration::from_secs(10))
        .operation_attempt_timeout(options.timeout)
        .build();
    let profiles: Vec<Option<String>> = if options.profiles.is_empty() {
        vec![None]
    } else {
        options.profiles.iter().cloned().map(Some).collect()
    };
    let loads = profiles.iter().map(|profile| {
        let http = http.clone();
        let retry = retry.clone();
        let timeouts = timeouts.clone();
        async move {
            let mut loader = aws_config::defaults(BehaviorVersion::latest())
                .http_client(http)
                .retry_config(retry)
                .timeout_config(timeouts);
            if let Some(name) = profile {
                loader = loader.profile_name(name);
            }
            let config = loader.load().await;
            connect_profile(profile.as_deref(), config, options, all_regions).await
        }
    });
    let mut resolved = Resolved {
        accounts: Vec::new(),
        failed: Vec::new(),
    };
    for result in futures::future::join_all(loads).await {
        match result? {
            // Two profiles of one account are read once, in the union of
            // their regions.
            Ok(account) => match resolved.accounts.iter_mut().find(|a| a.id == account.id) {
                Some(existing) => {
                    let mut merged = (**existing).clone();
                    for region in account.regions {
                        if !merged.regions.contains(&region) {
                            merged.regions.push(region);
                        }
                    }
                    *existing = Arc::new(merged);
                }
                None => resolved.accounts.push(Arc::new(account)),
            },
            Err(failure) => resolved.failed.push(failure),
        }
    }
    Ok(resolved)
}

/// One profile: credentials (a missing one is a configuration error), its
/// account from STS and its regions (an unreachable STS is a failure of
/// this profile only, `(source, message)`, so other profiles still answer).
async fn connect_profile(
    profile: Option<&str>,
    config: SdkConfig,
    options: &AwsOptions,
    all_regions: bool,
) -> Result<Result<Account, (String, FailureKind, String)>, AwsError> {
    let who = match profile {
        Some(name) => format!("profile '{name}'"),
        None => "the default profile".to_string(),
    };
    let label = profile.unwrap_or("default").to_string();
    let Some(credentials) = config.credentials_provider() else {
        return Err(AwsError::NoCredentials {
            who,
            cause: "no credential provider".to_string(),
        });
    };
    if let Err(e) = credentials.provide_credentials().await {
        use aws_credential_types::provider::error::CredentialsError;
        // The chain's report lists every provider on its own line; the
        // sentence names them already, so say only what is not obvious.
        let cause = match e {
            CredentialsError::CredentialsNotLoaded(_) => "none of them has credentials".to_string(),
            other => super::error_text(&other),
        };
        return Err(AwsError::NoCredentials { who, cause });
    }
    let home_region = match (config.region(), options.regions.first()) {
        (Some(region), _) => region.to_string(),
        (None, Some(first)) if first != "all" => first.clone(),
        // Region discovery for `all` has to ask somewhere.
        (None, Some(_)) => "us-east-1".to_string(),
        (None, None) => return Err(AwsError::NoRegion { who }),
    };
    let config = config
        .to_builder()
        .region(Region::new(home_region.clone()))
        .build();
    let source = format!("{AWS_SOURCE_PREFIX}profile/{label}");
    let sts = aws_sdk_sts::Client::new(&config);
    let id = match sts.get_caller_identity().send().await {
        Ok(identity) => identity.account().unwrap_or_default().to_string(),
        Err(e) => {
            let error = CallError::from_sdk("sts GetCallerIdentity", e);
            return Ok(Err((source, error.kind(), error.to_string())));
        }
    };
    let regions = if all_regions {
        match enabled_regions(&config).await {
            Ok(regions) => regions,
            Err(error) => {
                return Ok(Err((
                    format!("{AWS_SOURCE_PREFIX}{id}/{home_region}"),
                    error.kind(),
                    format!("cannot list the account's regions for --aws-region all: {error}"),
                )));
            }
        }
    } else if options.regions.is_empty() {
        vec![home_region.clone()]
    } else {
        let mut regions: Vec<String> = Vec::new();
        for region in &options.regions {
            if !regions.contains(region) {
                regions.push(region.clone());
            }
        }
        regions
    };
    Ok(Ok(Account {
        id,
        profile: label,
        home_region,
        regions,
        config,
    }))
}

/// The partition a region belongs to: credentials of one partition are
/// never valid in another.
fn partition(region: &str) -> &'static str {
    if region.starts_with("cn-") {
        "aws-cn"
    } else if region.starts_with("us-gov-") {
        "aws-us-gov"
    } else if region.starts_with("us-iso") {
        "aws-iso"
    } else {
        "aws"
    }
}

/// Every region enabled for the account, sorted.
async fn enabled_regions(config: &SdkConfig) -> Result<Vec<String>, CallError> {
    let ec2 = aws_sdk_ec2::Client::new(config);
    let output = ec2
        .describe_regions()
        .send()
        .await
        .map_err(|e| CallError::from_sdk("ec2 DescribeRegions", e))?;
    let home = config.region().map(|r| r.to_string()).unwrap_or_default();
    let mut regions: Vec<String> = output
        .regions()
        .iter()
        .filter(|r| r.opt_in_status() != Some("not-opted-in"))
        .filter_map(|r| r.region_name().map(str::to_string))
        .filter(|name| partition(name) == partition(&home))
        .collect();
    regions.sort();
    Ok(regions)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partitions_keep_credentials_at_home() {
        assert_eq!(partition("eu-west-1"), "aws");
        assert_eq!(partition("cn-north-1"), "aws-cn");
        assert_eq!(partition("us-gov-west-1"), "aws-us-gov");
        assert_eq!(partition("us-east-1"), "aws");
    }

    #[test]
    fn region_names() {
        for ok in [
            "us-east-1",
            "eu-west-2",
            "us-gov-west-1",
            "cn-north-1",
            "ap-southeast-5",
        ] {
            assert!(is_region_name(ok), "{ok}");
        }
        for bad in [
            "",
            "us",
            "us-east",
            "US-EAST-1",
            "us_east_1",
            "us-east-1a",
            "all-1",
        ] {
            assert!(!is_region_name(bad), "{bad}");
        }
    }
}
