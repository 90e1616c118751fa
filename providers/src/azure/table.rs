//! The Azure face of the scoped cloud tables (`crate::cloud::scoped`):
//! tables fan out over subscriptions.

use crate::cloud::scoped;
pub use crate::cloud::scoped::CallError;
pub(crate) use crate::cloud::scoped::{DETAIL_CONCURRENCY, Fetched, Request};

use super::connect::Clients;

/// An Azure table as DataFusion sees it.
pub type AzureTable = scoped::ScopedTable<super::Azure>;
pub(crate) type Target<'a> = scoped::Target<'a, Clients>;
pub(crate) type Spec<T> = scoped::Spec<T, Clients>;
