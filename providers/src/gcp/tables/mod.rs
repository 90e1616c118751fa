//! The GCP tables, one module per API, and the helpers they share.

mod compute;
mod container;
mod iam;
mod storage;

use std::borrow::Cow;
use std::sync::Arc;

use google_cloud_gax::paginator::Paginator;
use google_cloud_gax::paginator::internal::PageableResponse;

use super::connect::Clients;
use super::table::{CallError, gax_error};
use crate::cloud::scoped::TableDef;
use crate::kubernetes::tables::model::Cell;

/// Every GCP table, in name order.
pub(crate) fn builtin_tables() -> Vec<Arc<dyn TableDef<Clients>>> {
    let mut tables: Vec<Arc<dyn TableDef<Clients>>> = vec![
        Arc::new(compute::instances()),
        Arc::new(compute::networks()),
        Arc::new(compute::subnetworks()),
        Arc::new(compute::firewall_rules()),
        Arc::new(compute::forwarding_rules()),
        Arc::new(compute::addresses()),
        Arc::new(container::clusters()),
        Arc::new(container::node_pools()),
        Arc::new(iam::service_accounts()),
        Arc::new(iam::service_account_keys()),
        Arc::new(iam::policy_bindings()),
        Arc::new(storage::buckets()),
    ];
    tables.sort_by_key(|t| t.name());
    tables
}

/// The region value of rows of project-wide resources (networks,
/// firewall rules, IAM).
pub const GLOBAL_REGION: &str = "global";

/// Every page of a list call.
pub(crate) async fn all_pages<P: PageableResponse>(
    mut pages: impl Paginator<P, google_cloud_gax::error::Error>,
    operation: &'static str,
) -> Result<Vec<P>, CallError> {
    let mut all = Vec::new();
    while let Some(page) = pages.next().await {
        all.push(page.map_err(|e| gax_error(operation, e))?);
    }
    Ok(all)
}

/// The last segment of a resource URL (`…/zones/us-central1-a` →
/// `us-central1-a`); a bare name is returned as it is.
pub(crate) fn last_segment(url: &str) -> &str {
    url.rsplit('/').next().unwrap_or(url)
}

/// A text cell of the last segment of an optional resource URL.
pub(crate) fn short(url: Option<&String>) -> Cell<'_> {
    Cell::str(url.map(|u| last_segment(u)).filter(|s| !s.is_empty()))
}

/// The region of a zone (`us-central1-a` → `us-central1`).
pub(crate) fn region_of_zone(zone: &str) -> &str {
    zone.rsplit_once('-').map_or(zone, |(region, _)| region)
}

/// A text cell that is NULL for the empty string (proto3 leaves unset
/// strings empty).
pub(crate) fn text(value: &str) -> Cell<'_> {
    Cell::str(Some(value).filter(|v| !v.is_empty()))
}

/// A text cell of an optional string.
pub(crate) fn opt(value: Option<&String>) -> Cell<'_> {
    Cell::str(value.map(String::as_str))
}

/// A list cell of strings.
pub(crate) fn list<'a>(items: impl IntoIterator<Item = &'a String>) -> Cell<'a> {
    Cell::List(
        items
            .into_iter()
            .map(|s| Cow::Borrowed(s.as_str()))
            .collect(),
    )
}

/// A map cell, sorted by key for stable output.
pub(crate) fn labels(map: &std::collections::HashMap<String, String>) -> Cell<'_> {
    let mut pairs: Vec<(Cow<'_, str>, Option<Cow<'_, str>>)> = map
        .iter()
        .map(|(k, v)| (Cow::Borrowed(k.as_str()), Some(Cow::Borrowed(v.as_str()))))
        .collect();
    pairs.sort_by(|a, b| a.0.cmp(&b.0));
    Cell::Pairs(pairs)
}

/// A text cell of a 64-bit id: GCP serves ids as text because they
/// exceed the integers JSON clients read exactly, and kq keeps them so.
pub(crate) fn id(value: Option<u64>) -> Cell<'static> {
    Cell::string(value.map(|v| v.to_string()))
}

/// A timestamp cell of a protobuf timestamp.
pub(crate) fn timestamp(value: Option<&google_cloud_wkt::Timestamp>) -> Cell<'static> {
    value
        .and_then(|t| {
            t.seconds()
                .checked_mul(1_000_000)?
                .checked_add(i64::from(t.nanos() / 1_000))
        })
        .map_or(Cell::Null, Cell::Int)
}

/// A text cell of a client-library enum: its wire name, NULL when unset.
macro_rules! enum_name {
    ($value:expr) => {
        $crate::kubernetes::tables::model::Cell::str(
            $value
                .and_then(|v| v.name())
                .filter(|n| !n.ends_with("UNSPECIFIED")),
        )
    };
}
pub(crate) use enum_name;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_and_zones() {
        assert_eq!(
            last_segment("https://www.googleapis.com/compute/v1/projects/p/zones/us-central1-a"),
            "us-central1-a"
        );
        assert_eq!(last_segment("default"), "default");
        assert_eq!(region_of_zone("europe-west1-b"), "europe-west1");
    }
}
