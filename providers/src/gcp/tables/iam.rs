//! IAM: service accounts, their keys (metadata only, never key
//! material), and the project's IAM policy as one row per role × member.

use futures::StreamExt as _;
use futures::future::BoxFuture;
use google_cloud_iam_admin_v1::model::{ServiceAccount, ServiceAccountKey};

use super::{GLOBAL_REGION, all_pages, enum_name, last_segment, text, timestamp};
use crate::cloud::{Col, col};
use crate::gcp::table::{CallError, DETAIL_CONCURRENCY, Fetched, Request, Spec, Target, gax_error};
use crate::kubernetes::tables::model::{Cell, ColType::*};

async fn list_service_accounts(target: &Target<'_>) -> Result<Vec<ServiceAccount>, CallError> {
    let pages = target
        .clients
        .iam
        .list_service_accounts()
        .set_name(format!("projects/{}", target.scope))
        .by_page();
    let mut accounts: Vec<ServiceAccount> = all_pages(pages, "serviceAccounts.list")
        .await?
        .into_iter()
        .flat_map(|p| p.accounts)
        .collect();
    accounts.sort_by(|a, b| a.email.cmp(&b.email));
    Ok(accounts)
}

fn fetch_service_accounts<'a>(
    target: &'a Target<'a>,
    _request: &'a Request,
) -> BoxFuture<'a, Result<Fetched<ServiceAccount>, CallError>> {
    Box::pin(async move { list_service_accounts(target).await.map(Fetched::from) })
}

pub(crate) fn service_accounts() -> Spec<ServiceAccount> {
    let columns: Vec<Col<ServiceAccount>> = vec![
        col("region", Utf8, "Always `global`", |_| {
            Cell::str(Some(GLOBAL_REGION))
        }),
        col(
            "email",
            Utf8,
            "Service account email, its identity in IAM policies",
            |s| text(&s.email),
        ),
        col("display_name", Utf8, "Display name", |s| {
            text(&s.display_name)
        }),
        col("description", Utf8, "Description", |s| text(&s.description)),
        col("unique_id", Utf8, "Numeric unique id", |s| {
            text(&s.unique_id)
        }),
        col("disabled", Boolean, "Whether it is disabled", |s| {
            Cell::bool(Some(s.disabled))
        }),
        col(
            "default_account",
            Boolean,
            "Whether it is one GCP creates (Compute Engine or App Engine default)",
            |s| {
                Cell::bool(Some(
                    s.email.ends_with("-compute@developer.gserviceaccount.com")
                        || s.email.ends_with("@appspot.gserviceaccount.com"),
                ))
            },
        ),
    ];
    Spec {
        name: "iam_service_accounts",
        description: "IAM service accounts, one row per account",
        columns,
        narrowing: &[],
        fetch: fetch_service_accounts,
    }
}

/// One key with the account it belongs to.
pub(crate) struct Key {
    account: String,
    key: ServiceAccountKey,
}

fn fetch_keys<'a>(
    target: &'a Target<'a>,
    _request: &'a Request,
) -> BoxFuture<'a, Result<Fetched<Key>, CallError>> {
    Box::pin(async move {
        let accounts = list_service_accounts(target).await?;
        let results = futures::stream::iter(accounts)
            .map(|account| async move {
                let answer = target
                    .clients
                    .iam
                    .list_service_account_keys()
                    .set_name(account.name.clone())
                    .send()
                    .await
                    .map_err(|e| gax_error("serviceAccounts.keys.list", e));
                (account.email, answer)
            })
            .buffered(DETAIL_CONCURRENCY)
            .collect::<Vec<_>>()
            .await;
        let mut fetched = Fetched::from(Vec::new());
        for (account, answer) in results {
            match answer {
                Ok(answer) => fetched.items.extend(answer.keys.into_iter().map(|key| Key {
                    account: account.clone(),
                    key,
                })),
                // Deleted between the two lists.
                Err(e) if e.is_not_found() => {}
                // One account's keys unreadable: the others' still are.
                Err(e) => fetched.warnings.push(e),
            }
        }
        Ok(fetched)
    })
}

pub(crate) fn service_account_keys() -> Spec<Key> {
    let columns: Vec<Col<Key>> = vec![
        col("region", Utf8, "Always `global`", |_| {
            Cell::str(Some(GLOBAL_REGION))
        }),
        col(
            "service_account",
            Utf8,
            "Email of the account the key belongs to",
            |k| text(&k.account),
        ),
        col("key_id", Utf8, "Key id", |k| {
            text(last_segment(&k.key.name))
        }),
        col(
            "key_type",
            Utf8,
            "USER_MANAGED (a downloadable private key exists somewhere) or SYSTEM_MANAGED",
            |k| enum_name!(Some(&k.key.key_type)),
        ),
        col(
            "key_origin",
            Utf8,
            "GOOGLE_PROVIDED or USER_PROVIDED",
            |k| enum_name!(Some(&k.key.key_origin)),
        ),
        col("key_algorithm", Utf8, "KEY_ALG_RSA_2048, …", |k| {
            enum_name!(Some(&k.key.key_algorithm))
        }),
        col(
            "valid_after",
            Timestamp,
            "When the key became valid (its creation)",
            |k| timestamp(k.key.valid_after_time.as_ref()),
        ),
        col("valid_before", Timestamp, "When the key expires", |k| {
            timestamp(k.key.valid_before_time.as_ref())
        }),
        col("disabled", Boolean, "Whether the key is disabled", |k| {
            Cell::bool(Some(k.key.disabled))
        }),
    ];
    Spec {
        name: "iam_service_account_keys",
        description: "Service account keys (metadata only), one row per key",
        columns,
        narrowing: &[],
        fetch: fetch_keys,
    }
}

/// One member of one binding of the project's IAM policy.
pub(crate) struct Member {
    role: String,
    member: String,
    condition_title: String,
    condition_expression: String,
}

fn fetch_bindings<'a>(
    target: &'a Target<'a>,
    _request: &'a Request,
) -> BoxFuture<'a, Result<Fetched<Member>, CallError>> {
    Box::pin(async move {
        // Version 3, or conditional bindings come back without their
        // conditions (and with a mangled role name).
        let policy = target
            .clients
            .projects
            .get_iam_policy()
            .set_resource(format!("projects/{}", target.scope))
            .set_options(
                google_cloud_iam_v1::model::GetPolicyOptions::new().set_requested_policy_version(3),
            )
            .send()
            .await
            .map_err(|e| gax_error("projects.getIamPolicy", e))?;
        let mut members = Vec::new();
        for binding in policy.bindings {
            let (title, expression) = binding
                .condition
                .map(|c| (c.title, c.expression))
                .unwrap_or_default();
            for member in binding.members {
                members.push(Member {
                    role: binding.role.clone(),
                    member,
                    condition_title: title.clone(),
                    condition_expression: expression.clone(),
                });
            }
        }
        members.sort_by(|a, b| (&a.role, &a.member).cmp(&(&b.role, &b.member)));
        Ok(Fetched::from(members))
    })
}

/// `user`, `serviceAccount`, `group`, `domain`, `allUsers`, … of a member.
fn member_type(member: &str) -> &str {
    member.split_once(':').map_or(member, |(kind, _)| kind)
}

pub(crate) fn policy_bindings() -> Spec<Member> {
    let columns: Vec<Col<Member>> = vec![
        col("region", Utf8, "Always `global`", |_| {
            Cell::str(Some(GLOBAL_REGION))
        }),
        col(
            "role",
            Utf8,
            "Role granted (roles/owner, roles/editor, …)",
            |m| text(&m.role),
        ),
        col(
            "member",
            Utf8,
            "Who: user:…, serviceAccount:…, group:…, domain:…, allUsers",
            |m| text(&m.member),
        ),
        col(
            "member_type",
            Utf8,
            "user, serviceAccount, group, domain, allUsers, …",
            |m| text(member_type(&m.member)),
        ),
        col(
            "member_email",
            Utf8,
            "The member without its type prefix",
            |m| text(m.member.split_once(':').map_or("", |(_, id)| id)),
        ),
        col(
            "condition_title",
            Utf8,
            "Title of the binding's condition; NULL: unconditional",
            |m| text(&m.condition_title),
        ),
        col("condition_expression", Utf8, "The condition, in CEL", |m| {
            text(&m.condition_expression)
        }),
    ];
    Spec {
        name: "iam_policy_bindings",
        description: "The project's IAM policy, one row per role × member",
        columns,
        narrowing: &[],
        fetch: fetch_bindings,
    }
}
