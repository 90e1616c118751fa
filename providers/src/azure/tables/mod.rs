//! The Azure tables, one module per resource provider, and the helpers
//! they share over ARM's JSON.

mod aks;
mod authorization;
mod compute;
mod network;
mod storage;

use std::borrow::Cow;
use std::sync::Arc;

use futures::future::BoxFuture;
use serde_json::Value;

use super::connect::Clients;
use super::table::{CallError, Target};
use crate::cloud::scoped::TableDef;
use crate::kubernetes::tables::model::Cell;

/// Every Azure table, in name order.
pub(crate) fn builtin_tables() -> Vec<Arc<dyn TableDef<Clients>>> {
    let mut tables: Vec<Arc<dyn TableDef<Clients>>> = vec![
        Arc::new(compute::virtual_machines()),
        Arc::new(compute::scale_set_instances()),
        Arc::new(compute::scale_sets()),
        Arc::new(network::nsg_rules()),
        Arc::new(network::public_ips()),
        Arc::new(network::load_balancers()),
        Arc::new(aks::clusters()),
        Arc::new(aks::agent_pools()),
        Arc::new(authorization::role_assignments()),
        Arc::new(authorization::role_definitions()),
        Arc::new(storage::storage_accounts()),
    ];
    tables.sort_by_key(|t| t.name());
    tables
}

/// One subscription-wide list of a resource type, sorted by id.
pub(crate) fn list_all<'a>(
    target: &'a Target<'a>,
    operation: &'static str,
    provider_path: &'static str,
    api_version: &'static str,
) -> BoxFuture<'a, Result<Vec<Value>, CallError>> {
    Box::pin(async move {
        let path = format!("subscriptions/{}/providers/{provider_path}", target.scope);
        let mut items = target
            .clients
            .arm
            .list(operation, &path, api_version)
            .await?;
        items.sort_by_cached_key(|item| id_of(item).to_ascii_lowercase());
        Ok(items)
    })
}

/// A fetch that is one subscription-wide list.
macro_rules! listed {
    ($operation:literal, $provider_path:literal, $api_version:literal) => {{
        fn fetch<'a>(
            target: &'a $crate::azure::table::Target<'a>,
            _request: &'a $crate::azure::table::Request,
        ) -> futures::future::BoxFuture<
            'a,
            Result<
                $crate::azure::table::Fetched<serde_json::Value>,
                $crate::azure::table::CallError,
            >,
        > {
            Box::pin(async move {
                super::list_all(target, $operation, $provider_path, $api_version)
                    .await
                    .map($crate::azure::table::Fetched::from)
            })
        }
        fetch
    }};
}
pub(crate) use listed;

/// The value at `path` under `v`.
pub(crate) fn at<'a>(v: &'a Value, path: &[&str]) -> Option<&'a Value> {
    path.iter().try_fold(v, |v, key| v.get(key))
}

/// The text at `path`.
pub(crate) fn text<'a>(v: &'a Value, path: &[&str]) -> Cell<'a> {
    Cell::str(
        at(v, path)
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty()),
    )
}

/// The boolean at `path` (NULL when absent).
pub(crate) fn flag<'a>(v: &'a Value, path: &[&str]) -> Cell<'a> {
    Cell::bool(at(v, path).and_then(Value::as_bool))
}

/// The boolean at `path`, false when absent (ARM omits false flags).
pub(crate) fn flag_or_false<'a>(v: &'a Value, path: &[&str]) -> Cell<'a> {
    Cell::bool(Some(at(v, path).and_then(Value::as_bool).unwrap_or(false)))
}

/// The integer at `path`.
pub(crate) fn int<'a>(v: &'a Value, path: &[&str]) -> Cell<'a> {
    Cell::int(at(v, path).and_then(Value::as_i64))
}

/// The strings of the array at `path`.
pub(crate) fn strings<'a>(v: &'a Value, path: &[&str]) -> Cell<'a> {
    Cell::List(
        at(v, path)
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|s| s.as_str().map(Cow::Borrowed))
            .collect(),
    )
}

/// The `id` field of each object of the array at `path`.
pub(crate) fn ids<'a>(v: &'a Value, path: &[&str]) -> Cell<'a> {
    Cell::List(
        at(v, path)
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|o| o.get("id").and_then(Value::as_str).map(Cow::Borrowed))
            .collect(),
    )
}

/// Tags as a map cell, sorted by key.
pub(crate) fn tags(v: &Value) -> Cell<'_> {
    let mut pairs: Vec<(Cow<'_, str>, Option<Cow<'_, str>>)> = v
        .get("tags")
        .and_then(Value::as_object)
        .into_iter()
        .flatten()
        .map(|(k, v)| (Cow::Borrowed(k.as_str()), v.as_str().map(Cow::Borrowed)))
        .collect();
    pairs.sort_by(|a, b| a.0.cmp(&b.0));
    Cell::Pairs(pairs)
}

pub(crate) fn id_of(v: &Value) -> &str {
    v.get("id").and_then(Value::as_str).unwrap_or_default()
}

/// The segment after `key` in an ARM resource id (`resourceGroups` →
/// the group), matched case-insensitively as ARM matches it.
pub(crate) fn id_segment<'a>(id: &'a str, key: &str) -> Option<&'a str> {
    let mut parts = id.split('/');
    while let Some(part) = parts.next() {
        if part.eq_ignore_ascii_case(key) {
            return parts.next();
        }
    }
    None
}

/// The resource group of a resource.
pub(crate) fn resource_group(v: &Value) -> Cell<'_> {
    Cell::str(id_segment(id_of(v), "resourceGroups"))
}

/// The common leading columns: resource group, location, name, id.
macro_rules! arm_columns {
    ($noun:literal) => {
        vec![
            $crate::cloud::col(
                "resource_group",
                Utf8,
                "Resource group",
                |v: &serde_json::Value| super::resource_group(v),
            ),
            $crate::cloud::col(
                "location",
                Utf8,
                "Azure region (eastus, westeurope, …)",
                |v: &serde_json::Value| super::text(v, &["location"]),
            ),
            $crate::cloud::col(
                "name",
                Utf8,
                concat!($noun, " name"),
                |v: &serde_json::Value| super::text(v, &["name"]),
            ),
            $crate::cloud::col(
                "id",
                Utf8,
                "Full ARM resource id",
                |v: &serde_json::Value| super::text(v, &["id"]),
            ),
        ]
    };
}
pub(crate) use arm_columns;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resource_ids_are_read_case_insensitively() {
        let id = "/subscriptions/s/resourcegroups/MC_rg/providers/Microsoft.Compute/virtualMachineScaleSets/v/virtualMachines/3";
        assert_eq!(id_segment(id, "resourceGroups"), Some("MC_rg"));
        assert_eq!(id_segment(id, "virtualMachines"), Some("3"));
        assert_eq!(id_segment(id, "nothing"), None);
    }
}
