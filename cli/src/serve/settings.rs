//! What clients ask of a Postgres server on connect: pg_catalog and
//! information_schema (datafusion-postgres's), `current_setting(name)`
//! (Grafana reads `server_version_num`, tools read `search_path`) and a
//! `version()` that starts the way drivers parse it.

use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, StringArray};
use datafusion::arrow::datatypes::DataType;
use datafusion::common::{Result, ScalarValue, exec_err};
use datafusion::logical_expr::{
    ColumnarValue, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, TypeSignature,
    Volatility,
};
use datafusion::prelude::SessionContext;

/// The PostgreSQL release kq's answers imitate (pg_catalog's tables are
/// PostgreSQL 16's shape); clients parse the leading number.
pub const SERVER_VERSION: &str = "16.6 (kq)";
const SERVER_VERSION_NUM: &str = "160006";

/// Registers pg_catalog and the functions on kq's session.
pub fn install(ctx: &SessionContext) -> Result<(), String> {
    use datafusion_postgres::datafusion_pg_catalog::pg_catalog::context::EmptyContextProvider;
    datafusion_postgres::datafusion_pg_catalog::setup_pg_catalog(
        ctx,
        kq_engine::CATALOG,
        EmptyContextProvider,
    )
    .map_err(|e| format!("cannot set up pg_catalog: {}", kq_engine::clean_message(&e)))?;
    ctx.register_udf(ScalarUDF::new_from_impl(CurrentSetting::new()));
    ctx.register_udf(ScalarUDF::new_from_impl(Version::new()));
    Ok(())
}

/// The server-wide settings kq answers; per-session ones (application
/// name, statement timeout) come from `SHOW`.
pub fn setting(name: &str) -> Option<&'static str> {
    Some(match name.to_ascii_lowercase().as_str() {
        "server_version" => SERVER_VERSION,
        "server_version_num" => SERVER_VERSION_NUM,
        "server_encoding" | "client_encoding" => "UTF8",
        "search_path" => "public",
        "standard_conforming_strings" | "integer_datetimes" => "on",
        "default_transaction_read_only" | "transaction_read_only" => "on",
        "is_superuser" => "off",
        "datestyle" => "ISO, YMD",
        "intervalstyle" => "postgres",
        "timezone" => "UTC",
        "transaction_isolation" | "default_transaction_isolation" => "read committed",
        "max_identifier_length" => "63",
        "max_index_keys" => "32",
        "block_size" => "8192",
        "lc_collate" | "lc_ctype" => "C.UTF-8",
        "bytea_output" => "hex",
        _ => return None,
    })
}

#[derive(Debug, PartialEq, Eq, Hash)]
struct CurrentSetting {
    signature: Signature,
}

impl CurrentSetting {
    fn new() -> Self {
        Self {
            signature: Signature::one_of(
                vec![
                    TypeSignature::Exact(vec![DataType::Utf8]),
                    TypeSignature::Exact(vec![DataType::Utf8, DataType::Boolean]),
                ],
                Volatility::Stable,
            ),
        }
    }
}

impl ScalarUDFImpl for CurrentSetting {
    fn name(&self) -> &str {
        "current_setting"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _args: &[DataType]) -> Result<DataType> {
        Ok(DataType::Utf8)
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        // current_setting(name, missing_ok): NULL instead of an error.
        let missing_ok = match args.args.get(1) {
            Some(ColumnarValue::Scalar(ScalarValue::Boolean(Some(ok)))) => *ok,
            _ => false,
        };
        let lookup = |name: Option<&str>| -> Result<Option<&'static str>> {
            match name {
                None => Ok(None),
                Some(name) => match setting(name) {
                    Some(value) => Ok(Some(value)),
                    None if missing_ok => Ok(None),
                    None => exec_err!("unrecognized configuration parameter \"{name}\""),
                },
            }
        };
        match &args.args[0] {
            ColumnarValue::Scalar(scalar) => {
                let name = match scalar {
                    ScalarValue::Utf8(name)
                    | ScalarValue::LargeUtf8(name)
                    | ScalarValue::Utf8View(name) => name.as_deref(),
                    _ => None,
                };
                Ok(ColumnarValue::Scalar(ScalarValue::Utf8(
                    lookup(name)?.map(str::to_string),
                )))
            }
            ColumnarValue::Array(array) => {
                let names = datafusion::arrow::compute::cast(array, &DataType::Utf8)?;
                let names = names
                    .as_any()
                    .downcast_ref::<StringArray>()
                    .expect("cast to Utf8 gives a StringArray");
                let values = (0..names.len())
                    .map(|i| lookup((!names.is_null(i)).then(|| names.value(i))))
                    .collect::<Result<StringArray>>()?;
                Ok(ColumnarValue::Array(Arc::new(values) as ArrayRef))
            }
        }
    }
}

#[derive(Debug, PartialEq, Eq, Hash)]
struct Version {
    signature: Signature,
}

impl Version {
    fn new() -> Self {
        Self {
            signature: Signature::exact(vec![], Volatility::Stable),
        }
    }
}

impl ScalarUDFImpl for Version {
    fn name(&self) -> &str {
        "version"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _args: &[DataType]) -> Result<DataType> {
        Ok(DataType::Utf8)
    }

    fn invoke_with_args(&self, _args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        Ok(ColumnarValue::Scalar(ScalarValue::Utf8(Some(format!(
            "PostgreSQL 16.6 (kq {} on Apache DataFusion, read-only) on {}",
            env!("CARGO_PKG_VERSION"),
            std::env::consts::ARCH
        )))))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn current_setting_answers_what_clients_ask() {
        let ctx = SessionContext::new();
        ctx.register_udf(ScalarUDF::new_from_impl(CurrentSetting::new()));
        ctx.register_udf(ScalarUDF::new_from_impl(Version::new()));
        let batches = ctx
            .sql("SELECT current_setting('server_version_num') AS num, current_setting('nope', true) AS missing, version() AS v")
            .await
            .expect("plans")
            .collect()
            .await
            .expect("runs");
        let text = datafusion::arrow::util::pretty::pretty_format_batches(&batches)
            .expect("formats")
            .to_string();
        assert!(text.contains("160006"), "{text}");
        assert!(text.contains("PostgreSQL 16.6"), "{text}");
        let error = ctx
            .sql("SELECT current_setting('nope')")
            .await
            .expect("plans")
            .collect()
            .await
            .expect_err("unknown setting");
        assert!(
            error
                .to_string()
                .contains("unrecognized configuration parameter")
        );
    }
}
