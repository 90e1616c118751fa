//! Microsoft.Storage: storage accounts.

use serde_json::Value;

use super::{arm_columns, flag, listed, tags, text};
use crate::azure::table::Spec;
use crate::cloud::{Col, col};
use crate::kubernetes::tables::model::{Cell, ColType::*};

pub(crate) fn storage_accounts() -> Spec<Value> {
    let mut columns: Vec<Col<Value>> = arm_columns!("Storage account");
    columns.extend([
        col("kind", Utf8, "StorageV2, BlobStorage, …", |v| {
            text(v, &["kind"])
        }),
        col("sku", Utf8, "Standard_LRS, …", |v| {
            text(v, &["sku", "name"])
        }),
        col(
            "allow_blob_public_access",
            Boolean,
            "Whether containers may be made public (absent: true on old accounts)",
            |v| flag(v, &["properties", "allowBlobPublicAccess"]),
        ),
        col(
            "https_only",
            Boolean,
            "Whether plain HTTP is refused",
            |v| flag(v, &["properties", "supportsHttpsTrafficOnly"]),
        ),
        col(
            "minimum_tls_version",
            Utf8,
            "TLS1_0, TLS1_1 or TLS1_2",
            |v| text(v, &["properties", "minimumTlsVersion"]),
        ),
        col(
            "public_network_access",
            Utf8,
            "Enabled, Disabled or SecuredByPerimeter",
            |v| text(v, &["properties", "publicNetworkAccess"]),
        ),
        col(
            "shared_key_access",
            Boolean,
            "Whether account keys authorize requests",
            |v| {
                Cell::bool(Some(
                    super::at(v, &["properties", "allowSharedKeyAccess"])
                        .and_then(Value::as_bool)
                        .unwrap_or(true),
                ))
            },
        ),
        col("tags", Map, "Tags", tags),
    ]);
    Spec {
        name: "storage_accounts",
        description: "Storage accounts, one row per account",
        columns,
        narrowing: &[],
        fetch: listed!(
            "storageAccounts.list",
            "Microsoft.Storage/storageAccounts",
            "2023-05-01"
        ),
    }
}
