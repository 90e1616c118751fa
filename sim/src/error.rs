//! The library-level error type of kq-sim (start-up, in-process store access).

use std::io;

/// Everything that can go wrong when starting or driving the simulated fleet in-process.
#[derive(Debug, thiserror::Error)]
pub enum SimError {
    #[error("generating TLS material for cluster {cluster}: {message}")]
    Tls { cluster: String, message: String },
    #[error("binding a listener for cluster {cluster}: {source}")]
    Bind {
        cluster: String,
        #[source]
        source: io::Error,
    },
    #[error("loading object into cluster {cluster}: {message}")]
    Load { cluster: String, message: String },
    #[error("unknown resource {0}")]
    UnknownResource(String),
    #[error("invalid object: {0}")]
    InvalidObject(String),
    #[error("{0} not found")]
    NotFound(String),
    #[error("store operation failed: {0}")]
    Store(String),
    #[error("fleet configuration is invalid: {0}")]
    Config(String),
    #[error(
        "invalid server version {0:?}: expected MAJOR.MINOR from {oldest} to {newest}",
        oldest = crate::version::ServerVersion::OLDEST,
        newest = crate::version::ServerVersion::DEFAULT
    )]
    ServerVersion(String),
    #[error("issuing a client certificate on cluster {cluster}: {message}")]
    ClientCert { cluster: String, message: String },
}
