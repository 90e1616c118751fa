//! Where snapshots live: a local directory, or (feature `s3`) an S3
//! bucket and prefix, both behind the same `ObjectStore` interface.
//!
//! S3 credentials and settings come from the environment as object_store
//! reads them: `AWS_ACCESS_KEY_ID`/`AWS_SECRET_ACCESS_KEY`/
//! `AWS_SESSION_TOKEN`, `AWS_REGION`, `AWS_ENDPOINT` (S3-compatible
//! stores), web identity (IRSA on EKS), ECS task roles and instance
//! metadata.

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
    #[cfg_attr(not(feature = "s3"), allow(dead_code))]
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

    #[cfg(feature = "s3")]
    fn object_store(url: &str, scheme: &str, rest: &str) -> Result<Self, SnapshotError> {
        let bad = |why: String| SnapshotError::BadLocation {
            url: url.to_string(),
            why,
        };
        if scheme != "s3" {
            return Err(bad(format!(
                "{scheme}:// is not supported; use a directory or s3://bucket/prefix"
            )));
        }
        let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
        if bucket.is_empty() {
            return Err(bad("it names no bucket; use s3://bucket/prefix".to_string()));
        }
        let store = object_store::aws::AmazonS3Builder::from_env()
            .with_bucket_name(bucket)
            .with_retry(retry_policy())
            .build()
            .map_err(|e| bad(e.to_string()))?;
        let store_url = ObjectStoreUrl::parse(format!("s3://{bucket}"))
            .map_err(|e| bad(crate::clean_message(&e)))?;
        Ok(Self {
            display: url.to_string(),
            store: Arc::new(store),
            store_url,
            root: Root::Prefix(prefix.trim_matches('/').to_string()),
        })
    }

    #[cfg(not(feature = "s3"))]
    fn object_store(url: &str, scheme: &str, _rest: &str) -> Result<Self, SnapshotError> {
        let why = if scheme == "s3" {
            "this kq was built without S3 support; build it with `cargo build --release -p kq-cli --features s3` (or aws), or write to a directory".to_string()
        } else {
            format!("{scheme}:// is not supported; use a directory or s3://bucket/prefix")
        };
        Err(SnapshotError::BadLocation {
            url: url.to_string(),
            why,
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

/// Throttling (503 SlowDown, 429) and server errors are retried with
/// backoff, as object_store does by default, but a store that keeps
/// failing is given up on within seconds rather than its default three
/// minutes: the snapshot is then reported failed and, its manifest
/// unwritten, never seen.
#[cfg(feature = "s3")]
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
