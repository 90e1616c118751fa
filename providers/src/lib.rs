//! kq-providers: sources of tables for kq's engine.
//!
//! Each provider turns an external system into DataFusion tables behind a
//! `SchemaProvider`. The Kubernetes provider is the first; AWS and offline
//! manifests follow the same shape, registering their own schema, without
//! the engine knowing anything about them. Partial failures of any provider
//! go to the session's [`failures::FailureLog`].

#[cfg(feature = "aws")]
pub mod aws;
#[cfg(feature = "azure")]
pub mod azure;
#[cfg(any(feature = "aws", feature = "gcp", feature = "azure"))]
mod cloud;
pub mod failures;
#[cfg(feature = "gcp")]
pub mod gcp;
pub mod image;
pub mod kubernetes;
pub mod quantity;
