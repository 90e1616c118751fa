//! ECR: private image repositories.

use aws_sdk_ecr::Client;
use aws_sdk_ecr::types::{Repository, Tag};

use super::{describe_each, name_of, pairs, ts};
use crate::aws::table::{CallError, Col, Scope, Spec, col, empty_if_not_found};
use crate::kubernetes::tables::model::{Cell, ColType::*};

/// A repository and, when the query reads them, its tags.
pub(crate) struct Repo {
    repo: Repository,
    tags: Option<Vec<Tag>>,
}

pub(crate) fn repositories() -> Spec<Repo> {
    let columns: Vec<Col<Repo>> = vec![
        col("repository_name", Utf8, "Repository name (team/app)", |r| {
            Cell::str(r.repo.repository_name())
        }),
        col(
            "repository_uri",
            Utf8,
            "Image reference prefix (ACCOUNT.dkr.ecr.REGION.amazonaws.com/NAME); `containers.registry || '/' || containers.repository` of images pulled from it",
            |r| Cell::str(r.repo.repository_uri()),
        ),
        col("repository_arn", Utf8, "Repository ARN", |r| {
            Cell::str(r.repo.repository_arn())
        }),
        col("registry_id", Utf8, "Registry (account) id", |r| {
            Cell::str(r.repo.registry_id())
        }),
        col(
            "scan_on_push",
            Boolean,
            "Images are scanned for vulnerabilities when pushed",
            |r| {
                Cell::bool(
                    r.repo
                        .image_scanning_configuration()
                        .map(|c| c.scan_on_push()),
                )
            },
        ),
        col(
            "image_tag_mutability",
            Utf8,
            "MUTABLE or IMMUTABLE (and the _WITH_EXCLUSION variants)",
            |r| name_of(r.repo.image_tag_mutability()),
        ),
        col("encryption_type", Utf8, "AES256, KMS or KMS_DSSE", |r| {
            Cell::str(
                r.repo
                    .encryption_configuration()
                    .map(|c| c.encryption_type().as_str()),
            )
        }),
        col("kms_key", Utf8, "KMS key of KMS encryption", |r| {
            Cell::str(r.repo.encryption_configuration().and_then(|c| c.kms_key()))
        }),
        col(
            "created",
            Timestamp,
            "When the repository was created",
            |r| ts(r.repo.created_at()),
        ),
        col("tags", Map, "Tags; `tags['team']`", |r| match &r.tags {
            Some(tags) => pairs(tags.iter().map(|t| (t.key(), t.value()))),
            None => Cell::Null,
        }),
    ];
    Spec {
        name: "ecr_repositories",
        description: "ECR private repositories",
        scope: Scope::Regional,
        columns,
        id_columns: &["repository_name"],
        fetch: |target, request| {
            Box::pin(async move {
                let client = Client::new(&target.config);
                let repos = empty_if_not_found(
                    client
                        .describe_repositories()
                        // One missing name fails the whole call: pin only one.
                        .set_repository_names(match request.ids("repository_name") {
                            Some([name]) => Some(vec![name.clone()]),
                            _ => None,
                        })
                        .into_paginator()
                        .items()
                        .send()
                        .try_collect()
                        .await
                        .map_err(|e| CallError::from_sdk("ecr DescribeRepositories", e)),
                )?;
                let want_tags = request.wants("tags");
                let tagged = describe_each(repos, |repo| {
                    let client = client.clone();
                    async move {
                        let (tags, warnings) = match (want_tags, repo.repository_arn()) {
                            (false, _) => (None, Vec::new()),
                            (true, None) => (Some(Vec::new()), Vec::new()),
                            (true, Some(arn)) => match client
                                .list_tags_for_resource()
                                .resource_arn(arn)
                                .send()
                                .await
                            {
                                Ok(output) => (Some(output.tags().to_vec()), Vec::new()),
                                Err(e) => (
                                    None,
                                    vec![CallError::from_sdk("ecr ListTagsForResource", e)],
                                ),
                            },
                        };
                        Ok(Some((Some(Repo { repo, tags }), warnings)))
                    }
                })
                .await?;
                Ok(tagged.into_iter().collect())
            })
        },
        region_of: None,
    }
}
