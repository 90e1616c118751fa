//! RDS: database instances.

use aws_sdk_rds::types::{DbInstance, Filter};

use super::{int, list, pairs, ts};
use crate::aws::table::{CallError, Col, Scope, Spec, col};
use crate::kubernetes::tables::model::{Cell, ColType::*};

pub(crate) fn db_instances() -> Spec<DbInstance> {
    let columns: Vec<Col<DbInstance>> = vec![
        col("db_instance_identifier", Utf8, "Instance identifier", |d| {
            Cell::str(d.db_instance_identifier())
        }),
        col("arn", Utf8, "Instance ARN", |d| {
            Cell::str(d.db_instance_arn())
        }),
        col(
            "engine",
            Utf8,
            "postgres, mysql, aurora-postgresql, …",
            |d| Cell::str(d.engine()),
        ),
        col("engine_version", Utf8, "Engine version", |d| {
            Cell::str(d.engine_version())
        }),
        col(
            "instance_class",
            Utf8,
            "Instance class (db.t3.micro, …)",
            |d| Cell::str(d.db_instance_class()),
        ),
        col("status", Utf8, "available, backing-up, stopped, …", |d| {
            Cell::str(d.db_instance_status())
        }),
        col(
            "publicly_accessible",
            Boolean,
            "The endpoint resolves to a public IP address",
            |d| Cell::bool(d.publicly_accessible()),
        ),
        col(
            "storage_encrypted",
            Boolean,
            "Storage is encrypted at rest",
            |d| Cell::bool(d.storage_encrypted()),
        ),
        col(
            "kms_key_id",
            Utf8,
            "KMS key of the storage encryption",
            |d| Cell::str(d.kms_key_id()),
        ),
        col(
            "multi_az",
            Boolean,
            "Runs a standby in a second zone",
            |d| Cell::bool(d.multi_az()),
        ),
        col("endpoint_address", Utf8, "DNS name of the endpoint", |d| {
            Cell::str(d.endpoint().and_then(|e| e.address()))
        }),
        col("endpoint_port", Int64, "Port of the endpoint", |d| {
            int(d.endpoint().and_then(|e| e.port()))
        }),
        col("vpc_id", Utf8, "VPC of the instance's subnet group", |d| {
            Cell::str(d.db_subnet_group().and_then(|g| g.vpc_id()))
        }),
        col("security_group_ids", List, "VPC security groups", |d| {
            list(
                d.vpc_security_groups()
                    .iter()
                    .filter_map(|g| g.vpc_security_group_id()),
            )
        }),
        col(
            "deletion_protection",
            Boolean,
            "Deletion protection is on",
            |d| Cell::bool(d.deletion_protection()),
        ),
        col(
            "iam_auth_enabled",
            Boolean,
            "IAM database authentication is on",
            |d| Cell::bool(d.iam_database_authentication_enabled()),
        ),
        col(
            "backup_retention_days",
            Int64,
            "Days automated backups are kept (0: off)",
            |d| int(d.backup_retention_period()),
        ),
        col(
            "auto_minor_version_upgrade",
            Boolean,
            "Minor engine upgrades are applied automatically",
            |d| Cell::bool(d.auto_minor_version_upgrade()),
        ),
        col("created", Timestamp, "When the instance was created", |d| {
            ts(d.instance_create_time())
        }),
        col("tags", Map, "Tags; `tags['team']`", |d| {
            pairs(
                d.tag_list()
                    .iter()
                    .filter_map(|t| Some((t.key()?, t.value().unwrap_or("")))),
            )
        }),
    ];
    Spec {
        name: "rds_db_instances",
        description: "RDS database instances",
        scope: Scope::Regional,
        columns,
        id_columns: &["db_instance_identifier"],
        fetch: |target, request| {
            Box::pin(async move {
                let client = aws_sdk_rds::Client::new(&target.config);
                let filters = request.ids("db_instance_identifier").map(|ids| {
                    vec![
                        Filter::builder()
                            .name("db-instance-id")
                            .set_values(Some(ids.to_vec()))
                            .build(),
                    ]
                });
                let items: Vec<_> = client
                    .describe_db_instances()
                    .set_filters(filters)
                    .into_paginator()
                    .items()
                    .send()
                    .try_collect()
                    .await
                    .map_err(|e| CallError::from_sdk("rds DescribeDBInstances", e))?;
                Ok(items.into())
            })
        },
        region_of: None,
    }
}
