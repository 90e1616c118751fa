//! Microsoft.Authorization: role assignments (with the role's name, so
//! "who is Owner" needs no join) and role definitions.

use std::collections::HashMap;

use futures::future::BoxFuture;
use serde_json::Value;

use super::{at, id_of, list_all, listed, strings, text};
use crate::azure::table::{CallError, Fetched, Request, Spec, Target};
use crate::cloud::{Col, col};
use crate::kubernetes::tables::model::{Cell, ColType::*};

const AUTHORIZATION_API: &str = "2022-04-01";

/// One assignment with the name of the role it assigns.
pub(crate) struct Assignment {
    assignment: Value,
    role_name: Option<String>,
}

fn fetch_assignments<'a>(
    target: &'a Target<'a>,
    _request: &'a Request,
) -> BoxFuture<'a, Result<Fetched<Assignment>, CallError>> {
    Box::pin(async move {
        let assignments = list_all(
            target,
            "roleAssignments.list",
            "Microsoft.Authorization/roleAssignments",
            AUTHORIZATION_API,
        )
        .await?;
        let definitions = list_all(
            target,
            "roleDefinitions.list",
            "Microsoft.Authorization/roleDefinitions",
            AUTHORIZATION_API,
        )
        .await?;
        // Definitions are named by their GUID, the last segment of the id
        // an assignment points at (whatever scope it is written under).
        let names: HashMap<String, String> = definitions
            .iter()
            .filter_map(|d| {
                let guid = id_of(d).rsplit('/').next()?.to_ascii_lowercase();
                Some((
                    guid,
                    at(d, &["properties", "roleName"])?.as_str()?.to_string(),
                ))
            })
            .collect();
        let items = assignments
            .into_iter()
            .map(|assignment| {
                let guid = at(&assignment, &["properties", "roleDefinitionId"])
                    .and_then(Value::as_str)
                    .and_then(|id| id.rsplit('/').next())
                    .map(str::to_ascii_lowercase);
                let role_name = guid.and_then(|g| names.get(&g).cloned());
                Assignment {
                    assignment,
                    role_name,
                }
            })
            .collect::<Vec<_>>();
        Ok(Fetched::from(items))
    })
}

pub(crate) fn role_assignments() -> Spec<Assignment> {
    let columns: Vec<Col<Assignment>> = vec![
        col(
            "scope",
            Utf8,
            "Where it applies: the subscription, a resource group or a resource",
            |a| text(&a.assignment, &["properties", "scope"]),
        ),
        col(
            "role_name",
            Utf8,
            "Name of the role (Owner, Contributor, Reader, …)",
            |a| Cell::str(a.role_name.as_deref()),
        ),
        col(
            "role_definition_id",
            Utf8,
            "Id of the role definition",
            |a| text(&a.assignment, &["properties", "roleDefinitionId"]),
        ),
        col(
            "principal_id",
            Utf8,
            "Object id of the user, group or service principal",
            |a| text(&a.assignment, &["properties", "principalId"]),
        ),
        col(
            "principal_type",
            Utf8,
            "User, Group, ServicePrincipal, …",
            |a| text(&a.assignment, &["properties", "principalType"]),
        ),
        col(
            "subscription_scope",
            Boolean,
            "Whether it applies to the whole subscription (or above)",
            |a| {
                Cell::bool(
                    at(&a.assignment, &["properties", "scope"])
                        .and_then(Value::as_str)
                        .map(|scope| {
                            let scope = scope.trim_end_matches('/');
                            scope.is_empty()
                                || scope.starts_with("/providers/Microsoft.Management")
                                || scope.split('/').filter(|s| !s.is_empty()).count() <= 2
                        }),
                )
            },
        ),
        col(
            "condition",
            Utf8,
            "ABAC condition; NULL: unconditional",
            |a| text(&a.assignment, &["properties", "condition"]),
        ),
        col("name", Utf8, "Assignment name (a GUID)", |a| {
            text(&a.assignment, &["name"])
        }),
        col("id", Utf8, "Assignment id", |a| {
            text(&a.assignment, &["id"])
        }),
    ];
    Spec {
        name: "role_assignments",
        description: "Role assignments visible in the subscription, one row per scope × principal × role",
        columns,
        narrowing: &[],
        fetch: fetch_assignments,
    }
}

pub(crate) fn role_definitions() -> Spec<Value> {
    let columns: Vec<Col<Value>> = vec![
        col("role_name", Utf8, "Role name", |d| {
            text(d, &["properties", "roleName"])
        }),
        col("role_type", Utf8, "BuiltInRole or CustomRole", |d| {
            text(d, &["properties", "type"])
        }),
        col("description", Utf8, "Description", |d| {
            text(d, &["properties", "description"])
        }),
        col("actions", List, "Control-plane actions it allows", |d| {
            Cell::List(
                at(d, &["properties", "permissions"])
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                    .flat_map(|p| {
                        p.get("actions")
                            .and_then(Value::as_array)
                            .into_iter()
                            .flatten()
                    })
                    .filter_map(|a| a.as_str().map(std::borrow::Cow::Borrowed))
                    .collect(),
            )
        }),
        col("assignable_scopes", List, "Where it may be assigned", |d| {
            strings(d, &["properties", "assignableScopes"])
        }),
        col("name", Utf8, "Definition name (a GUID)", |d| {
            text(d, &["name"])
        }),
        col("id", Utf8, "Definition id", |d| text(d, &["id"])),
    ];
    Spec {
        name: "role_definitions",
        description: "Role definitions (built-in and custom), one row per role",
        columns,
        narrowing: &[],
        fetch: listed!(
            "roleDefinitions.list",
            "Microsoft.Authorization/roleDefinitions",
            "2022-04-01"
        ),
    }
}
