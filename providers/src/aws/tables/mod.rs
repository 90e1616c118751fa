//! The AWS tables, one module per service, and the cell helpers they share.

mod ec2;
mod ecr;
mod eks;
mod elb;
mod iam;
mod rds;
mod s3;

use std::borrow::Cow;
use std::sync::Arc;

use aws_smithy_types::DateTime;

use futures::StreamExt as _;

use super::table::{AwsTableDef, CallError, DETAIL_CONCURRENCY};
use crate::kubernetes::tables::model::Cell;

/// Every AWS table, in name order.
pub(crate) fn builtin_tables() -> Vec<Arc<dyn AwsTableDef>> {
    let mut tables: Vec<Arc<dyn AwsTableDef>> = vec![
        Arc::new(ec2::instances()),
        Arc::new(ec2::security_groups()),
        Arc::new(ec2::security_group_rules()),
        Arc::new(ec2::vpcs()),
        Arc::new(ec2::subnets()),
        Arc::new(elb::load_balancers()),
        Arc::new(elb::listeners()),
        Arc::new(eks::clusters()),
        Arc::new(eks::nodegroups()),
        Arc::new(ecr::repositories()),
        Arc::new(iam::roles()),
        Arc::new(s3::buckets()),
        Arc::new(rds::db_instances()),
    ];
    tables.sort_by_key(|t| t.name());
    tables
}

/// A timestamp cell from the SDK's date-time.
pub(crate) fn ts(value: Option<&DateTime>) -> Cell<'static> {
    value
        .and_then(|t| {
            t.secs()
                .checked_mul(1_000_000)?
                .checked_add(i64::from(t.subsec_nanos() / 1_000))
        })
        .map_or(Cell::Null, Cell::Int)
}

/// A list cell of borrowed strings.
pub(crate) fn list<'a>(items: impl IntoIterator<Item = &'a str>) -> Cell<'a> {
    Cell::List(items.into_iter().map(Cow::Borrowed).collect())
}

/// A map cell of key/value pairs, sorted by key for stable output.
pub(crate) fn pairs<'a>(items: impl IntoIterator<Item = (&'a str, &'a str)>) -> Cell<'a> {
    let mut pairs: Vec<(Cow<'a, str>, Option<Cow<'a, str>>)> = items
        .into_iter()
        .map(|(k, v)| (Cow::Borrowed(k), Some(Cow::Borrowed(v))))
        .collect();
    pairs.sort_by(|a, b| a.0.cmp(&b.0));
    Cell::Pairs(pairs)
}

/// A text cell of an SDK enum.
pub(crate) fn name_of<E: AsRef<str>>(value: Option<&E>) -> Cell<'_> {
    Cell::str(value.map(AsRef::as_ref))
}

/// An integer cell from the SDK's i32 fields.
pub(crate) fn int(value: Option<i32>) -> Cell<'static> {
    Cell::int(value.map(i64::from))
}

/// The value of tag `key` among EC2-style tags.
pub(crate) fn ec2_tag<'a>(tags: &'a [aws_sdk_ec2::types::Tag], key: &str) -> Option<&'a str> {
    tags.iter()
        .find(|t| t.key() == Some(key))
        .and_then(|t| t.value())
}

/// EC2-style tags as a map cell.
pub(crate) fn ec2_tags(tags: &[aws_sdk_ec2::types::Tag]) -> Cell<'_> {
    pairs(
        tags.iter()
            .filter_map(|t| Some((t.key()?, t.value().unwrap_or("")))),
    )
}

/// Runs `describe` for every name, concurrently, in order; a name that
/// no longer exists (deleted between list and describe, or pinned by the
/// query but absent) is skipped.
pub(crate) async fn describe_each<N, T, F, Fut>(
    names: Vec<N>,
    describe: F,
) -> Result<Vec<T>, CallError>
where
    F: Fn(N) -> Fut,
    Fut: std::future::Future<Output = Result<Option<T>, CallError>>,
{
    let results = futures::stream::iter(names)
        .map(describe)
        .buffered(DETAIL_CONCURRENCY)
        .collect::<Vec<_>>()
        .await;
    let mut items = Vec::new();
    for result in results {
        match result {
            Ok(Some(item)) => items.push(item),
            Ok(None) => {}
            Err(e) if e.is_not_found() => {}
            Err(e) => return Err(e),
        }
    }
    Ok(items)
}

/// A detail call's answer, or `None` with its failure kept among the
/// fetch's warnings (the row stays, with NULLs in the columns it fills).
pub(crate) fn noted<T>(result: Result<T, CallError>, warnings: &mut Vec<CallError>) -> Option<T> {
    match result {
        Ok(value) => Some(value),
        Err(error) => {
            warnings.push(error);
            None
        }
    }
}
