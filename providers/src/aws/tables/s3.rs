//! S3: buckets, with their public access block, default encryption,
//! versioning and tags. Buckets are listed once per account; each row is
//! in the bucket's own region, and only buckets of the selected regions
//! are rows.

use std::collections::HashMap;

use aws_sdk_s3::Client;
use aws_sdk_s3::types::Bucket;

use super::{describe_each, noted, pairs, ts};
use crate::aws::table::{CallError, Col, Fetched, Request, Scope, Spec, Target, col};
use crate::kubernetes::tables::model::{Cell, ColType::*};

/// A bucket's default encryption: algorithm, KMS key, bucket key.
#[derive(Default)]
struct Encryption {
    algorithm: String,
    kms_key_id: Option<String>,
    bucket_key_enabled: Option<bool>,
}

/// A bucket and what its detail calls found.
#[derive(Default)]
pub(crate) struct BucketRow {
    name: String,
    created: Option<aws_smithy_types::DateTime>,
    region: Option<String>,
    /// block_public_acls, ignore_public_acls, block_public_policy,
    /// restrict_public_buckets; all false when the bucket has no block.
    public_access_block: Option<[bool; 4]>,
    /// `Some(None)` when the bucket has no default encryption.
    encryption: Option<Option<Encryption>>,
    versioning: Option<(Option<String>, Option<String>)>,
    tags: Option<Vec<(String, String)>>,
}

/// The region a GetBucketLocation answer names: none means us-east-1,
/// and the legacy `EU` means eu-west-1.
pub(crate) fn location_region(constraint: Option<&str>) -> String {
    match constraint {
        None | Some("") => "us-east-1".to_string(),
        Some("EU") => "eu-west-1".to_string(),
        Some(other) => other.to_string(),
    }
}

/// A bucket setting's answer: `Some(None)` when the bucket has none (S3
/// says so with a "not found" code), `None` when it could not be read.
fn setting<T>(result: Result<T, CallError>, warnings: &mut Vec<CallError>) -> Option<Option<T>> {
    let result = match result {
        Ok(value) => Ok(Some(value)),
        Err(error) if error.is_not_found() => Ok(None),
        Err(error) => Err(error),
    };
    noted(result, warnings)
}

fn block(b: &BucketRow, i: usize) -> Cell<'_> {
    Cell::bool(b.public_access_block.map(|flags| flags[i]))
}

pub(crate) fn buckets() -> Spec<BucketRow> {
    let columns: Vec<Col<BucketRow>> = vec![
        col("name", Utf8, "Bucket name", |b| Cell::str(Some(&b.name))),
        col("arn", Utf8, "Bucket ARN", |b| {
            Cell::string(Some(format!("arn:aws:s3:::{}", b.name)))
        }),
        col("created", Timestamp, "When the bucket was created", |b| {
            ts(b.created.as_ref())
        }),
        col(
            "block_public_acls",
            Boolean,
            "Bucket-level public access block: BlockPublicAcls (false without a block; an account-level block may still apply)",
            |b| block(b, 0),
        ),
        col(
            "ignore_public_acls",
            Boolean,
            "Bucket-level public access block: IgnorePublicAcls",
            |b| block(b, 1),
        ),
        col(
            "block_public_policy",
            Boolean,
            "Bucket-level public access block: BlockPublicPolicy",
            |b| block(b, 2),
        ),
        col(
            "restrict_public_buckets",
            Boolean,
            "Bucket-level public access block: RestrictPublicBuckets",
            |b| block(b, 3),
        ),
        col(
            "public_access_blocked",
            Boolean,
            "All four bucket-level public access block settings are on",
            |b| Cell::bool(b.public_access_block.map(|flags| flags.iter().all(|f| *f))),
        ),
        col(
            "encryption_algorithm",
            Utf8,
            "Default encryption: AES256, aws:kms or aws:kms:dsse (NULL: none)",
            |b| {
                Cell::str(
                    b.encryption
                        .as_ref()
                        .and_then(|e| e.as_ref())
                        .map(|e| e.algorithm.as_str()),
                )
            },
        ),
        col("kms_key_id", Utf8, "KMS key of default encryption", |b| {
            Cell::str(
                b.encryption
                    .as_ref()
                    .and_then(|e| e.as_ref())
                    .and_then(|e| e.kms_key_id.as_deref()),
            )
        }),
        col(
            "bucket_key_enabled",
            Boolean,
            "S3 Bucket Keys are on for KMS encryption",
            |b| {
                Cell::bool(
                    b.encryption
                        .as_ref()
                        .and_then(|e| e.as_ref())
                        .and_then(|e| e.bucket_key_enabled),
                )
            },
        ),
        col(
            "versioning",
            Utf8,
            "Enabled, Suspended, or Disabled (never enabled)",
            |b| {
                Cell::str(
                    b.versioning
                        .as_ref()
                        .map(|v| v.0.as_deref().unwrap_or("Disabled")),
                )
            },
        ),
        col("mfa_delete", Utf8, "Enabled or Disabled", |b| {
            Cell::str(
                b.versioning
                    .as_ref()
                    .map(|v| v.1.as_deref().unwrap_or("Disabled")),
            )
        }),
        col("tags", Map, "Tags; `tags['team']`", |b| match &b.tags {
            Some(tags) => pairs(tags.iter().map(|(k, v)| (k.as_str(), v.as_str()))),
            None => Cell::Null,
        }),
    ];
    Spec {
        name: "s3_buckets",
        description: "S3 buckets (listed per account; region is the bucket's)",
        scope: Scope::PerAccount,
        columns,
        id_columns: &["name"],
        fetch: fetch_buckets,
        region_of: Some(|b| b.region.clone()),
    }
}

/// An S3 client for `region`; path-style addressing against a custom
/// endpoint (S3-compatible stores, local test servers), where virtual-host
/// bucket names do not resolve.
fn client_for(target: &Target<'_>, region: &str) -> Client {
    let config = target.account.config_for(region);
    let path_style = config.endpoint_url().is_some();
    Client::from_conf(
        aws_sdk_s3::config::Builder::from(&config)
            .force_path_style(path_style)
            .build(),
    )
}

fn fetch_buckets<'a>(
    target: &'a Target<'a>,
    request: &'a Request,
) -> futures::future::BoxFuture<'a, Result<Fetched<BucketRow>, CallError>> {
    Box::pin(async move {
        let home = client_for(target, &target.region);
        let mut buckets: Vec<Bucket> = home
            .list_buckets()
            .into_paginator()
            .items()
            .send()
            .try_collect()
            .await
            .map_err(|e| CallError::from_sdk("s3 ListBuckets", e))?;
        if let Some(names) = request.ids("name") {
            buckets.retain(|b| b.name().is_some_and(|n| names.iter().any(|x| x == n)));
        }
        let wants = |columns: &[&str]| columns.iter().any(|c| request.wants(c));
        let want_block = wants(&[
            "block_public_acls",
            "ignore_public_acls",
            "block_public_policy",
            "restrict_public_buckets",
            "public_access_blocked",
        ]);
        let want_encryption = wants(&["encryption_algorithm", "kms_key_id", "bucket_key_enabled"]);
        let want_versioning = wants(&["versioning", "mfa_delete"]);
        let want_tags = request.wants("tags");
        let clients: std::sync::Mutex<HashMap<String, Client>> = Default::default();
        let client_in = |region: &str| {
            let mut clients = clients.lock().unwrap_or_else(|p| p.into_inner());
            clients
                .entry(region.to_string())
                .or_insert_with(|| client_for(target, region))
                .clone()
        };
        let rows = describe_each(buckets, |bucket| {
            let home = home.clone();
            let client_in = &client_in;
            async move {
                let name = bucket.name().unwrap_or_default().to_string();
                let mut warnings = Vec::new();
                let mut row = BucketRow {
                    name: name.clone(),
                    created: bucket.creation_date().cloned(),
                    region: bucket.bucket_region().map(str::to_string),
                    ..BucketRow::default()
                };
                if row.region.is_none() {
                    match home.get_bucket_location().bucket(&name).send().await {
                        Ok(output) => {
                            row.region = Some(location_region(
                                output.location_constraint().map(|c| c.as_str()),
                            ))
                        }
                        Err(e) => {
                            let error = CallError::from_sdk("s3 GetBucketLocation", e);
                            if error.is_not_found() {
                                return Ok(None);
                            }
                            // Without its region the bucket cannot be placed:
                            // it is left out, and the warning says so.
                            return Ok(Some((None, vec![error])));
                        }
                    }
                }
                let region = row.region.as_deref().unwrap_or("us-east-1");
                // Buckets of other regions are no rows: ask nothing more.
                if !target.regions.iter().any(|r| r == region) {
                    return Ok(None);
                }
                let client = client_in(region);
                if want_block {
                    let block = client
                        .get_public_access_block()
                        .bucket(&name)
                        .send()
                        .await
                        .map_err(|e| CallError::from_sdk("s3 GetPublicAccessBlock", e));
                    row.public_access_block = setting(block, &mut warnings).map(|block| {
                        let c = block
                            .as_ref()
                            .and_then(|b| b.public_access_block_configuration());
                        let flag = |f: Option<bool>| f.unwrap_or(false);
                        [
                            flag(c.and_then(|c| c.block_public_acls())),
                            flag(c.and_then(|c| c.ignore_public_acls())),
                            flag(c.and_then(|c| c.block_public_policy())),
                            flag(c.and_then(|c| c.restrict_public_buckets())),
                        ]
                    });
                }
                if want_encryption {
                    let encryption = client
                        .get_bucket_encryption()
                        .bucket(&name)
                        .send()
                        .await
                        .map_err(|e| CallError::from_sdk("s3 GetBucketEncryption", e));
                    row.encryption = setting(encryption, &mut warnings).map(|output| {
                        let rule = output
                            .as_ref()
                            .and_then(|o| o.server_side_encryption_configuration())
                            .and_then(|c| c.rules().first())?;
                        let default = rule.apply_server_side_encryption_by_default()?;
                        Some(Encryption {
                            algorithm: default.sse_algorithm().as_str().to_string(),
                            kms_key_id: default.kms_master_key_id().map(str::to_string),
                            bucket_key_enabled: rule.bucket_key_enabled(),
                        })
                    });
                }
                if want_versioning {
                    let versioning = client
                        .get_bucket_versioning()
                        .bucket(&name)
                        .send()
                        .await
                        .map_err(|e| CallError::from_sdk("s3 GetBucketVersioning", e));
                    row.versioning = noted(versioning, &mut warnings).map(|output| {
                        (
                            output.status().map(|s| s.as_str().to_string()),
                            output.mfa_delete().map(|s| s.as_str().to_string()),
                        )
                    });
                }
                if want_tags {
                    let tagging = client
                        .get_bucket_tagging()
                        .bucket(&name)
                        .send()
                        .await
                        .map_err(|e| CallError::from_sdk("s3 GetBucketTagging", e));
                    row.tags = setting(tagging, &mut warnings).map(|output| {
                        output
                            .iter()
                            .flat_map(|o| o.tag_set())
                            .map(|t| (t.key().to_string(), t.value().to_string()))
                            .collect()
                    });
                }
                Ok(Some((Some(row), warnings)))
            }
        })
        .await?;
        Ok(rows.into_iter().collect())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bucket_locations() {
        assert_eq!(location_region(None), "us-east-1");
        assert_eq!(location_region(Some("")), "us-east-1");
        assert_eq!(location_region(Some("EU")), "eu-west-1");
        assert_eq!(location_region(Some("ap-south-1")), "ap-south-1");
    }
}
