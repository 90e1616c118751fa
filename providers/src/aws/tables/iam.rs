//! IAM: roles, with their trust policies and attached policies. IAM is
//! global: one list per account, rows in region `global`.

use aws_sdk_iam::Client;
use aws_sdk_iam::types::Role;

use super::{describe_each, int, list, noted, pairs, ts};
use crate::aws::table::{CallError, Col, Scope, Spec, col};
use crate::kubernetes::tables::model::{Cell, ColType::*};

/// A role and the details the query reads (each is one more call per role).
pub(crate) struct RoleRow {
    role: Role,
    /// The trust policy as JSON text (the API URL-encodes it).
    trust_policy: Option<String>,
    trusted_principals: Vec<String>,
    attached: Option<Vec<String>>,
    inline: Option<Vec<String>>,
    tags: Option<Vec<(String, String)>>,
}

/// Decodes the URL-encoding IAM applies to policy documents; text that
/// is not encoded comes back unchanged.
pub(crate) fn percent_decode(text: &str) -> String {
    let hex = |b: u8| (b as char).to_digit(16).map(|d| d as u8);
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && i + 2 < bytes.len()
            && let (Some(high), Some(low)) = (hex(bytes[i + 1]), hex(bytes[i + 2]))
        {
            out.push(high << 4 | low);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Every principal an `Allow` statement of a trust policy names: AWS
/// accounts and roles, services, federated providers, or `*`.
pub(crate) fn trusted_principals(policy: &serde_json::Value) -> Vec<String> {
    let statements = match policy.get("Statement") {
        Some(serde_json::Value::Array(items)) => items.iter().collect(),
        Some(single) => vec![single],
        None => Vec::new(),
    };
    let mut principals = Vec::new();
    for statement in statements {
        if statement.get("Effect").and_then(|e| e.as_str()) != Some("Allow") {
            continue;
        }
        match statement.get("Principal") {
            Some(serde_json::Value::String(s)) => principals.push(s.clone()),
            Some(serde_json::Value::Object(kinds)) => {
                for value in kinds.values() {
                    match value {
                        serde_json::Value::String(s) => principals.push(s.clone()),
                        serde_json::Value::Array(items) => principals
                            .extend(items.iter().filter_map(|v| v.as_str().map(str::to_string))),
                        _ => {}
                    }
                }
            }
            _ => {}
        }
    }
    principals.sort();
    principals.dedup();
    principals
}

pub(crate) fn roles() -> Spec<RoleRow> {
    let columns: Vec<Col<RoleRow>> = vec![
        col("role_name", Utf8, "Role name", |r| {
            Cell::str(Some(r.role.role_name()))
        }),
        col("role_id", Utf8, "Stable role id (AROA…)", |r| {
            Cell::str(Some(r.role.role_id()))
        }),
        col("arn", Utf8, "Role ARN", |r| Cell::str(Some(r.role.arn()))),
        col("path", Utf8, "Role path", |r| {
            Cell::str(Some(r.role.path()))
        }),
        col("description", Utf8, "Description", |r| {
            Cell::str(r.role.description())
        }),
        col("created", Timestamp, "When the role was created", |r| {
            ts(Some(r.role.create_date()))
        }),
        col(
            "max_session_duration",
            Int64,
            "Longest session, in seconds",
            |r| int(r.role.max_session_duration()),
        ),
        col(
            "trust_policy",
            Json,
            "The trust (assume-role) policy document",
            |r| Cell::str(r.trust_policy.as_deref()),
        ),
        col(
            "trusted_principals",
            List,
            "Principals an Allow statement of the trust policy names (account ARNs, services, federated providers, *)",
            |r| list(r.trusted_principals.iter().map(String::as_str)),
        ),
        col(
            "permissions_boundary_arn",
            Utf8,
            "Permissions boundary policy",
            |r| {
                Cell::str(
                    r.role
                        .permissions_boundary()
                        .and_then(|b| b.permissions_boundary_arn()),
                )
            },
        ),
        col(
            "attached_policy_arns",
            List,
            "Managed policies attached to the role",
            |r| match &r.attached {
                Some(arns) => list(arns.iter().map(String::as_str)),
                None => Cell::Null,
            },
        ),
        col(
            "inline_policy_names",
            List,
            "Inline policies of the role",
            |r| match &r.inline {
                Some(names) => list(names.iter().map(String::as_str)),
                None => Cell::Null,
            },
        ),
        col("tags", Map, "Tags; `tags['team']`", |r| match &r.tags {
            Some(tags) => pairs(tags.iter().map(|(k, v)| (k.as_str(), v.as_str()))),
            None => Cell::Null,
        }),
    ];
    Spec {
        name: "iam_roles",
        description: "IAM roles (global: region is `global`)",
        scope: Scope::Global,
        columns,
        id_columns: &["role_name"],
        fetch: |target, request| {
            Box::pin(async move {
                let client = Client::new(&target.config);
                let roles: Vec<Role> = match request.ids("role_name") {
                    Some(names) => {
                        describe_each(names.to_vec(), |name| {
                            let client = client.clone();
                            async move {
                                let output = client
                                    .get_role()
                                    .role_name(name)
                                    .send()
                                    .await
                                    .map_err(|e| CallError::from_sdk("iam GetRole", e))?;
                                Ok(output.role().cloned())
                            }
                        })
                        .await?
                    }
                    None => client
                        .list_roles()
                        .into_paginator()
                        .items()
                        .send()
                        .try_collect()
                        .await
                        .map_err(|e| CallError::from_sdk("iam ListRoles", e))?,
                };
                let (want_attached, want_inline, want_tags) = (
                    request.wants("attached_policy_arns"),
                    request.wants("inline_policy_names"),
                    request.wants("tags"),
                );
                // ListRoles leaves out permissions boundaries; GetRole has them.
                let want_boundary =
                    request.wants("permissions_boundary_arn") && request.ids("role_name").is_none();
                let details = describe_each(roles, |mut role| {
                    let client = client.clone();
                    async move {
                        let name = role.role_name().to_string();
                        let mut warnings = Vec::new();
                        if want_boundary {
                            let full = client
                                .get_role()
                                .role_name(&name)
                                .send()
                                .await
                                .map_err(|e| CallError::from_sdk("iam GetRole", e));
                            if let Some(full) = noted(full, &mut warnings).and_then(|o| o.role) {
                                role = full;
                            }
                        }
                        let attached = if want_attached {
                            let policies = client
                                .list_attached_role_policies()
                                .role_name(&name)
                                .into_paginator()
                                .items()
                                .send()
                                .try_collect()
                                .await
                                .map_err(|e| {
                                    CallError::from_sdk("iam ListAttachedRolePolicies", e)
                                });
                            noted(policies, &mut warnings).map(|policies| {
                                policies.into_iter().filter_map(|p| p.policy_arn).collect()
                            })
                        } else {
                            None
                        };
                        let inline = if want_inline {
                            let names = client
                                .list_role_policies()
                                .role_name(&name)
                                .into_paginator()
                                .items()
                                .send()
                                .try_collect()
                                .await
                                .map_err(|e| CallError::from_sdk("iam ListRolePolicies", e));
                            noted(names, &mut warnings)
                        } else {
                            None
                        };
                        let tags = if want_tags {
                            let tags = client
                                .list_role_tags()
                                .role_name(&name)
                                .send()
                                .await
                                .map_err(|e| CallError::from_sdk("iam ListRoleTags", e));
                            noted(tags, &mut warnings).map(|output| {
                                output
                                    .tags()
                                    .iter()
                                    .map(|t| (t.key().to_string(), t.value().to_string()))
                                    .collect()
                            })
                        } else {
                            None
                        };
                        let trust_policy = role.assume_role_policy_document().map(percent_decode);
                        let trusted = trust_policy
                            .as_deref()
                            .and_then(|text| serde_json::from_str(text).ok())
                            .map(|policy| trusted_principals(&policy))
                            .unwrap_or_default();
                        let row = RoleRow {
                            role,
                            trust_policy,
                            trusted_principals: trusted,
                            attached,
                            inline,
                            tags,
                        };
                        Ok(Some((Some(row), warnings)))
                    }
                })
                .await?;
                Ok(details.into_iter().collect())
            })
        },
        region_of: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trust_policies_decode_and_name_principals() {
        let encoded = "%7B%22Version%22%3A%222012-10-17%22%2C%22Statement%22%3A%5B%7B%22Effect%22%3A%22Allow%22%2C%22Principal%22%3A%7B%22Service%22%3A%22ec2.amazonaws.com%22%2C%22AWS%22%3A%5B%22arn%3Aaws%3Aiam%3A%3A999999999999%3Aroot%22%5D%7D%2C%22Action%22%3A%22sts%3AAssumeRole%22%7D%2C%7B%22Effect%22%3A%22Deny%22%2C%22Principal%22%3A%22*%22%7D%5D%7D";
        let text = percent_decode(encoded);
        let policy: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(
            trusted_principals(&policy),
            ["arn:aws:iam::999999999999:root", "ec2.amazonaws.com"]
        );
        // Already-decoded JSON (some servers return it plain) is unchanged.
        assert_eq!(percent_decode("{\"a\": \"b+c\"}"), "{\"a\": \"b+c\"}");
        assert_eq!(percent_decode("100%"), "100%");
    }
}
