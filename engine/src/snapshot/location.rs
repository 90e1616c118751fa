//! Where snapshots live: a local directory now; object stores through the
//! same `ObjectStore` interface.

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
        if let Some((scheme, _)) = url.split_once("://")
            && scheme != "file"
        {
            return Err(bad(&format!(
                "{scheme}:// is not supported by this kq; write snapshots to a local directory (e.g. --to ./snapshots) and sync it with your object store's tools"
            )));
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

    /// The object path of `relative` (slash-separated, already escaped).
    pub fn path(&self, relative: &str) -> Result<Path, SnapshotError> {
        match &self.root {
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
