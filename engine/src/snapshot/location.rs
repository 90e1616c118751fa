//! Where snapshots live: a local directory, or a bucket and prefix in S3
//! (feature `s3`), Google Cloud Storage (`gcs`) or Azure Blob Storage
//! (`azure-blob`), all behind the same `ObjectStore` interface. Each
//! store's credentials come from the environment as its cloud's own
//! tools read them (see [`bucket_store`]).

use std::path::{Path as FsPath, PathBuf};
use std::sync::Arc;

use datafusion::execution::object_store::ObjectStoreUrl;
use object_store::ObjectStore;
use object_store::local::LocalFileSystem;
use object_store::path::Path;

use super::SnapshotError;

/// A resolved snapshot location.
#[derive(Clone, Debug)]
pub struct Location {
    /// What the user typed, for messages.
    pub display: String,
    pub store: Arc<dyn ObjectStore>,
    /// The URL DataFusion knows the store by.
    pub store_url: ObjectStoreUrl,
    root: Root,
}

#[derive(Clone, Debug)]
enum Root {
    /// An absolute directory on this machine.
    Local(PathBuf),
    /// A key prefix in a bucket (empty for the bucket's root).
    Prefix(String),
}

impl Location {
    /// Parses `--to`/`--snapshots`: a directory path or `file://` URL.
    /// `create` makes the directory (for writing).
    pub fn parse(url: &str, create: bool) -> Result<Self, SnapshotError> {
        let bad = |why: &str| SnapshotError::BadLocation {
            url: url.to_string(),
            why: why.to_string(),
        };
        if url.trim().is_empty() {
            return Err(bad("it is empty; give a directory"));
        }
        if let Some((scheme, rest)) = url.split_once("://")
            && scheme != "file"
        {
            return Self::object_store(url, scheme, rest);
        }
        let path = url.strip_prefix("file://").unwrap_or(url);
        let path = FsPath::new(path);
        if create {
            std::fs::create_dir_all(path)
                .map_err(|e| bad(&format!("cannot create the directory: {e}")))?;
        } else if !path.is_dir() {
            return Err(bad(
                "there is no such directory; write one with kq snapshot --to DIR",
            ));
        }
        let root = std::fs::canonicalize(path)
            .map_err(|e| bad(&format!("cannot resolve the directory: {e}")))?;
        Ok(Self {
            display: url.to_string(),
            store: Arc::new(LocalFileSystem::new()),
            store_url: ObjectStoreUrl::local_filesystem(),
            root: Root::Local(root),
        })
    }

    fn object_store(url: &str, scheme: &str, rest: &str) -> Result<Self, SnapshotError> {
        let bad = |why: String| SnapshotError::BadLocation {
            url: url.to_string(),
            why,
        };
        let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
        if bucket.is_empty() && RemoteScheme::parse(scheme).is_some() {
            return Err(bad(format!(
                "it names no bucket; use {scheme}://bucket/prefix"
            )));
        }
        let store = bucket_store(scheme, bucket).map_err(|e| bad(e.to_string()))?;
        let store_url = ObjectStoreUrl::parse(format!("{scheme}://{bucket}"))
            .map_err(|e| bad(crate::clean_message(&e)))?;
        Ok(Self {
            display: url.to_string(),
            store,
            store_url,
            root: Root::Prefix(prefix.trim_matches('/').to_string()),
        })
    }

    /// Makes DataFusion read this location's store (for `s3://` URLs;
    /// `file://` is always known).
    pub fn register(&self, ctx: &datafusion::prelude::SessionContext) {
        if matches!(self.root, Root::Prefix(_)) {
            let url: &url::Url = self.store_url.as_ref();
            ctx.register_object_store(url, self.store.clone());
        }
    }

    /// The object path of `relative` (slash-separated, already escaped).
    pub fn path(&self, relative: &str) -> Result<Path, SnapshotError> {
        let bad = |e: object_store::path::Error| SnapshotError::BadLocation {
            url: self.display.clone(),
            why: e.to_string(),
        };
        match &self.root {
            Root::Prefix(prefix) if prefix.is_empty() => Path::parse(relative).map_err(bad),
            Root::Prefix(prefix) => Path::parse(format!("{prefix}/{relative}")).map_err(bad),
            Root::Local(root) => Path::from_absolute_path(root.join(relative)).map_err(|e| {
                SnapshotError::BadLocation {
                    url: self.display.clone(),
                    why: e.to_string(),
                }
            }),
        }
    }

    /// The prefix every object of this location has.
    pub fn root(&self) -> Result<Path, SnapshotError> {
        match &self.root {
            Root::Prefix(prefix) => Path::parse(prefix).map_err(|e| SnapshotError::BadLocation {
                url: self.display.clone(),
                why: e.to_string(),
            }),
            Root::Local(root) => {
                Path::from_absolute_path(root).map_err(|e| SnapshotError::BadLocation {
                    url: self.display.clone(),
                    why: e.to_string(),
                })
            }
        }
    }

    /// `relative` for messages: the location as the user gave it, then the path.
    pub fn describe(&self, relative: &str) -> String {
        format!("{}/{relative}", self.display.trim_end_matches('/'))
    }
}

/// The object stores kq reads and writes besides a directory.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum RemoteScheme {
    S3,
    Gcs,
    Azure,
}

impl RemoteScheme {
    fn parse(scheme: &str) -> Option<Self> {
        match scheme {
            "s3" => Some(Self::S3),
            "gs" => Some(Self::Gcs),
            "az" => Some(Self::Azure),
            _ => None,
        }
    }

    /// Names the service and the cargo feature that builds its client.
    #[cfg_attr(
        all(feature = "s3", feature = "gcs", feature = "azure-blob"),
        allow(dead_code)
    )]
    fn not_built(self) -> BucketStoreError {
        let (service, feature) = match self {
            Self::S3 => ("S3", "s3"),
            Self::Gcs => ("Google Cloud Storage", "gcs"),
            Self::Azure => ("Azure Blob Storage", "azure-blob"),
        };
        BucketStoreError::NotBuilt { service, feature }
    }
}

/// Why no store could be made for `scheme://bucket`.
#[derive(Debug, thiserror::Error)]
pub enum BucketStoreError {
    #[error(
        "{scheme}:// is not supported; use a directory, s3://bucket/prefix, gs://bucket/prefix or az://container/prefix"
    )]
    UnknownScheme { scheme: String },
    #[error(
        "this kq was built without {service} support; build it with `cargo build --release -p kq-cli --features {feature}`, or use a directory"
    )]
    NotBuilt {
        service: &'static str,
        feature: &'static str,
    },
    #[error("{0}")]
    Client(#[source] object_store::Error),
}

/// The store behind `scheme://bucket`, configured from the environment as
/// each cloud's own tools are:
/// - `s3://`: `AWS_ACCESS_KEY_ID`/`AWS_SECRET_ACCESS_KEY`/`AWS_SESSION_TOKEN`,
///   `AWS_REGION`, `AWS_ENDPOINT`, web identity (IRSA), ECS and instance
///   roles;
/// - `gs://`: `GOOGLE_APPLICATION_CREDENTIALS` or gcloud's application
///   default credentials, `GOOGLE_SERVICE_ACCOUNT(_KEY)`, the metadata
///   server (GKE workload identity);
/// - `az://container`: `AZURE_STORAGE_ACCOUNT_NAME` with
///   `AZURE_STORAGE_ACCOUNT_KEY`, a service principal
///   (`AZURE_CLIENT_ID`/`AZURE_CLIENT_SECRET`/`AZURE_TENANT_ID`), workload
///   identity (`AZURE_FEDERATED_TOKEN_FILE`), managed identity, or the
///   Azure CLI's login (`AZURE_USE_AZURE_CLI=true`).
#[cfg_attr(
    not(any(feature = "s3", feature = "gcs", feature = "azure-blob")),
    allow(unused_variables)
)]
pub fn bucket_store(scheme: &str, bucket: &str) -> Result<Arc<dyn ObjectStore>, BucketStoreError> {
    let Some(remote) = RemoteScheme::parse(scheme) else {
        return Err(BucketStoreError::UnknownScheme {
            scheme: scheme.to_string(),
        });
    };
    match remote {
        RemoteScheme::S3 => {
            #[cfg(feature = "s3")]
            return shared(
                object_store::aws::AmazonS3Builder::from_env()
                    .with_bucket_name(bucket)
                    .with_retry(retry_policy())
                    .build(),
            );
            #[cfg(not(feature = "s3"))]
            Err(remote.not_built())
        }
        RemoteScheme::Gcs => {
            #[cfg(feature = "gcs")]
            return shared(
                object_store::gcp::GoogleCloudStorageBuilder::from_env()
                    .with_bucket_name(bucket)
                    .with_retry(retry_policy())
                    .build(),
            );
            #[cfg(not(feature = "gcs"))]
            Err(remote.not_built())
        }
        RemoteScheme::Azure => {
            #[cfg(feature = "azure-blob")]
            return shared(
                object_store::azure::MicrosoftAzureBuilder::from_env()
                    .with_container_name(bucket)
                    .with_retry(retry_policy())
                    .build(),
            );
            #[cfg(not(feature = "azure-blob"))]
            Err(remote.not_built())
        }
    }
}

/// A built store behind the interface every location shares.
#[cfg(any(feature = "s3", feature = "gcs", feature = "azure-blob"))]
fn shared<S: ObjectStore>(
    built: object_store::Result<S>,
) -> Result<Arc<dyn ObjectStore>, BucketStoreError> {
    built
        .map(|store| Arc::new(store) as Arc<dyn ObjectStore>)
        .map_err(BucketStoreError::Client)
}

/// Throttling (503 SlowDown, 429) and server errors are retried with
/// backoff, as object_store does by default, but a store that keeps
/// failing is given up on within seconds rather than its default three
/// minutes: the snapshot is then reported failed and, its manifest
/// unwritten, never seen.
#[cfg(any(feature = "s3", feature = "gcs", feature = "azure-blob"))]
fn retry_policy() -> object_store::RetryConfig {
    object_store::RetryConfig {
        backoff: object_store::BackoffConfig {
            init_backoff: std::time::Duration::from_millis(100),
            max_backoff: std::time::Duration::from_secs(2),
            base: 2.0,
        },
        max_retries: 5,
        retry_timeout: std::time::Duration::from_secs(30),
    }
}
