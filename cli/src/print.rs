//! The result printer: renders the Arrow record batches of a query as a
//! terminal table, a JSON array, NDJSON, CSV or a GitHub Markdown table.
//!
//! Every format renders values the same way, so switching `-o` never
//! changes what a value says:
//!
//! - columns always appear in schema order;
//! - timestamps are RFC 3339 in UTC with `Z`, with fractional seconds only
//!   when they are non-zero (`2026-05-01T10:00:00Z`, `…T10:00:00.250Z`);
//!   timestamps without a zone are taken as UTC, as kq stores them;
//! - NULL is JSON `null`, and an empty cell in table, Markdown and CSV (in
//!   CSV an empty *string* is written `""` so the two stay distinct, as
//!   `psql --csv` does);
//! - integers, decimals, floats and booleans are JSON numbers and booleans;
//!   floats use the shortest text that round-trips (`0.5`, `100.0`, `1e-7`),
//!   and NaN/±infinity, which JSON cannot hold, become `null` there;
//! - maps are JSON objects in json/ndjson and `k=v,k2=v2` (entry order as
//!   stored) in text formats; lists are JSON arrays and `a,b`; structs are
//!   JSON objects in every format (compact in text formats), as are
//!   nested values inside lists and maps in text formats;
//! - Utf8 columns whose field metadata has `kq.json` = `true` (`spec`,
//!   `status`, …) hold JSON text: json/ndjson embed it as a nested value
//!   when it parses (a string otherwise), text formats print it as-is,
//!   re-compacted onto one line if it spans several.
//!
//! Format specifics:
//!
//! - `json`: one array with one compact object per line, so two runs diff
//!   line by line; `[]` when there are no rows. Streams as batches arrive.
//! - `ndjson`: one compact object per line; nothing when there are no rows.
//! - `csv`: RFC 4180 quoting, `\n` line ends (as `psql --csv` and
//!   datafusion-cli write), a header line unless `header` is off.
//! - `markdown`: a GitHub table, `|` escaped as `\|`, line breaks as
//!   `<br>`, numeric columns right-aligned; cells are not padded, so adding
//!   a row never rewrites every other line of a committed report. Without
//!   `header` only the row lines are written (to append to a table).
//! - `table`: box drawing like psql/datafusion-cli, numeric columns
//!   right-aligned, control characters shown escaped (`\n`) so one row is
//!   one line and a value cannot send escape sequences to the terminal;
//!   with a width, the widest columns are shortened first and cells cut
//!   with `…` until the table fits. A row only spills over several terminal
//!   lines when even 5-character columns cannot fit. An empty result still
//!   shows the header. The `(N rows)` footer is the caller's.
//!
//! Duplicate column names (`SELECT a.name, b.name`) are kept as duplicate
//! keys in JSON objects rather than silently dropping one of the values.

use std::borrow::Cow;
use std::fmt::{self, Write as _};
use std::io::{self, Write};

use arrow::array::{Array, ArrayRef, AsArray, RecordBatch};
use arrow::compute::cast;
use arrow::datatypes::{
    DataType, Field, Float16Type, Float32Type, Float64Type, Int8Type, Int16Type, Int32Type,
    Int64Type, SchemaRef, TimeUnit, TimestampMicrosecondType, TimestampMillisecondType,
    TimestampNanosecondType, TimestampSecondType, UInt8Type, UInt16Type, UInt32Type, UInt64Type,
};
use arrow::temporal_conversions::{
    timestamp_ms_to_datetime, timestamp_ns_to_datetime, timestamp_s_to_datetime,
    timestamp_us_to_datetime,
};
use arrow::util::display::{ArrayFormatter, FormatOptions};
use chrono::SecondsFormat;
use comfy_table::{Cell, CellAlignment, ContentArrangement, Table};
use unicode_width::{UnicodeWidthChar, UnicodeWidthStr};

/// Field metadata key marking a Utf8 column that holds JSON text.
const JSON_METADATA_KEY: &str = "kq.json";

/// psql-like solid box drawing: a rule under the header, none between rows.
const TABLE_STYLE: &str = "││──├─┼┤│    ┬┴┌┐└┘";

/// Below this many characters a cut column says nothing useful, so the
/// table is allowed to overflow the terminal instead.
const MIN_COLUMN_WIDTH: usize = 5;

const ELLIPSIS: char = '…';

/// How query results are written.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum OutputFormat {
    /// Box-drawn table fitted to the terminal width.
    Table,
    /// One JSON array, one compact object per line.
    Json,
    /// One JSON object per line.
    Ndjson,
    /// RFC 4180 CSV.
    Csv,
    /// GitHub-flavoured Markdown table.
    Markdown,
}

/// Options of one [`Printer`].
#[derive(Clone, Debug)]
pub struct PrintOptions {
    pub format: OutputFormat,
    /// Print at most this many rows; the rest are counted, not printed.
    pub max_rows: Option<usize>,
    /// Header line for table, CSV and Markdown; ignored by json/ndjson.
    pub header: bool,
    /// Terminal columns a table must fit in; `None` means unlimited.
    pub width: Option<u16>,
}

impl Default for PrintOptions {
    fn default() -> Self {
        Self {
            format: OutputFormat::Table,
            max_rows: None,
            header: true,
            width: None,
        }
    }
}

/// What a [`Printer`] saw and printed; `rows_printed < rows_seen` when
/// `max_rows` cut the output.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PrintSummary {
    pub rows_seen: usize,
    pub rows_printed: usize,
}

/// Writes the batches of one result set in one format.
///
/// json, ndjson and CSV are written as each batch arrives; table and
/// Markdown need every row to size their columns and are written by
/// [`Printer::finish`].
pub struct Printer<W: Write> {
    out: W,
    schema: SchemaRef,
    options: PrintOptions,
    json_text: Vec<bool>,
    rows_seen: usize,
    rows_printed: usize,
    csv_header_written: bool,
    /// Rendered text cells (`None` = NULL) of table and Markdown output.
    buffered: Vec<Vec<Option<String>>>,
}

impl<W: Write> Printer<W> {
    pub fn new(out: W, schema: SchemaRef, options: PrintOptions) -> Self {
        let json_text = schema.fields().iter().map(|f| is_json_text(f)).collect();
        Self {
            out,
            schema,
            options,
            json_text,
            rows_seen: 0,
            rows_printed: 0,
            csv_header_written: false,
            buffered: Vec::new(),
        }
    }

    /// Prints (or buffers) the rows of `batch` that fit under `max_rows`.
    pub fn write_batch(&mut self, batch: &RecordBatch) -> io::Result<()> {
        let expected = self.schema.fields().len();
        if batch.num_columns() != expected {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!(
                    "print result batch: it has {} columns but the result schema has {expected}",
                    batch.num_columns()
                ),
            ));
        }
        let total = batch.num_rows();
        self.rows_seen += total;
        let take = match self.options.max_rows {
            Some(max) => max.saturating_sub(self.rows_printed).min(total),
            None => total,
        };
        if take == 0 {
            return Ok(());
        }

        let columns: Vec<ArrayRef> = batch.columns().iter().map(decode_dictionary).collect();
        let batch_schema = batch.schema();
        let json_text: Vec<bool> = self
            .json_text
            .iter()
            .zip(batch_schema.fields())
            .map(|(from_schema, field)| *from_schema || is_json_text(field))
            .collect();

        match self.options.format {
            OutputFormat::Table | OutputFormat::Markdown => {
                for row in 0..take {
                    let cells = columns
                        .iter()
                        .zip(&json_text)
                        .map(|(column, &json)| text_cell(column.as_ref(), row, json))
                        .collect::<Result<Vec<_>, _>>()
                        .map_err(format_error)?;
                    self.buffered.push(cells);
                }
            }
            OutputFormat::Json | OutputFormat::Ndjson | OutputFormat::Csv => {
                let mut buf = String::new();
                self.stream_rows(&mut buf, &columns, &json_text, take)
                    .map_err(format_error)?;
                self.out.write_all(buf.as_bytes())?;
            }
        }
        self.rows_printed += take;
        Ok(())
    }

    /// Writes what is still buffered or pending (table, Markdown, the
    /// closing `]`, an empty result's header), flushes, and reports counts.
    pub fn finish(mut self) -> io::Result<PrintSummary> {
        let mut buf = String::new();
        match self.options.format {
            OutputFormat::Json => {
                buf.push_str(if self.rows_printed == 0 {
                    "[]\n"
                } else {
                    "\n]\n"
                });
            }
            OutputFormat::Ndjson => {}
            OutputFormat::Csv => self.csv_header(&mut buf),
            OutputFormat::Table => buf = self.render_table(),
            OutputFormat::Markdown => buf = self.render_markdown(),
        }
        self.out.write_all(buf.as_bytes())?;
        self.out.flush()?;
        Ok(PrintSummary {
            rows_seen: self.rows_seen,
            rows_printed: self.rows_printed,
        })
    }

    fn stream_rows(
        &mut self,
        buf: &mut String,
        columns: &[ArrayRef],
        json_text: &[bool],
        take: usize,
    ) -> fmt::Result {
        let format = self.options.format;
        if format == OutputFormat::Csv {
            self.csv_header(buf);
        }
        let mut text = String::new();
        for row in 0..take {
            match format {
                OutputFormat::Csv => {
                    for (i, (column, &json)) in columns.iter().zip(json_text).enumerate() {
                        if i > 0 {
                            buf.push(',');
                        }
                        text.clear();
                        if !is_null_at(column.as_ref(), row) {
                            write_text(&mut text, column.as_ref(), row, json)?;
                            push_csv_field(buf, &text);
                        }
                    }
                    buf.push('\n');
                }
                _ => {
                    if format == OutputFormat::Json {
                        buf.push_str(if self.rows_printed + row == 0 {
                            "[\n"
                        } else {
                            ",\n"
                        });
                    }
                    buf.push('{');
                    for (i, ((column, &json), field)) in columns
                        .iter()
                        .zip(json_text)
                        .zip(self.schema.fields())
                        .enumerate()
                    {
                        if i > 0 {
                            buf.push(',');
                        }
                        write_json_string(buf, field.name());
                        buf.push(':');
                        write_json(buf, column.as_ref(), row, json)?;
                    }
                    buf.push('}');
                    if format == OutputFormat::Ndjson {
                        buf.push('\n');
                    }
                }
            }
        }
        Ok(())
    }

    fn csv_header(&mut self, buf: &mut String) {
        if self.csv_header_written || !self.options.header {
            return;
        }
        self.csv_header_written = true;
        for (i, field) in self.schema.fields().iter().enumerate() {
            if i > 0 {
                buf.push(',');
            }
            push_csv_field(buf, field.name());
        }
        buf.push('\n');
    }

    fn render_table(&self) -> String {
        let fields = self.schema.fields();
        if fields.is_empty() || (!self.options.header && self.buffered.is_empty()) {
            return String::new();
        }
        let header: Vec<String> = fields
            .iter()
            .map(|f| escape_control(f.name()).into_owned())
            .collect();
        let rows: Vec<Vec<String>> = self
            .buffered
            .iter()
            .map(|row| {
                row.iter()
                    .map(|cell| {
                        cell.as_deref()
                            .map(escape_control)
                            .unwrap_or_default()
                            .into_owned()
                    })
                    .collect()
            })
            .collect();

        let mut natural: Vec<usize> = if self.options.header {
            header.iter().map(|h| h.width()).collect()
        } else {
            vec![0; fields.len()]
        };
        for row in &rows {
            for (width, cell) in natural.iter_mut().zip(row) {
                *width = (*width).max(cell.width());
            }
        }
        let limits = column_limits(&natural, self.options.width);

        let mut table = Table::new();
        table
            .load_preset(TABLE_STYLE)
            .set_content_arrangement(ContentArrangement::Disabled);
        if self.options.header {
            table.set_header(
                header
                    .iter()
                    .zip(&limits)
                    .map(|(h, &limit)| Cell::new(truncate(h, limit))),
            );
        }
        for row in &rows {
            table.add_row(
                row.iter()
                    .zip(&limits)
                    .map(|(cell, &limit)| Cell::new(truncate(cell, limit))),
            );
        }
        for (index, field) in fields.iter().enumerate() {
            if field.data_type().is_numeric()
                && let Some(column) = table.column_mut(index)
            {
                column.set_cell_alignment(CellAlignment::Right);
            }
        }
        format!("{table}\n")
    }

    fn render_markdown(&self) -> String {
        let fields = self.schema.fields();
        let mut buf = String::new();
        if fields.is_empty() {
            return buf;
        }
        if self.options.header {
            buf.push('|');
            for field in fields {
                buf.push(' ');
                push_markdown_cell(&mut buf, field.name());
                buf.push_str(" |");
            }
            buf.push_str("\n|");
            for field in fields {
                buf.push_str(if field.data_type().is_numeric() {
                    " ---: |"
                } else {
                    " --- |"
                });
            }
            buf.push('\n');
        }
        for row in &self.buffered {
            buf.push('|');
            for cell in row {
                buf.push(' ');
                push_markdown_cell(&mut buf, cell.as_deref().unwrap_or_default());
                buf.push_str(" |");
            }
            buf.push('\n');
        }
        buf
    }
}

fn format_error(_: fmt::Error) -> io::Error {
    io::Error::other("print result: formatting a value failed")
}

fn is_json_text(field: &Field) -> bool {
    field
        .metadata()
        .get(JSON_METADATA_KEY)
        .is_some_and(|v| v == "true")
}

fn is_nested(data_type: &DataType) -> bool {
    matches!(
        data_type,
        DataType::List(_)
            | DataType::LargeList(_)
            | DataType::FixedSizeList(..)
            | DataType::ListView(_)
            | DataType::LargeListView(_)
            | DataType::Struct(_)
            | DataType::Map(..)
    )
}

/// Dictionary-encoded columns (DataFusion produces them for some string
/// expressions) render as their values; if decoding fails the generic
/// formatter still shows them.
fn decode_dictionary(column: &ArrayRef) -> ArrayRef {
    match column.data_type() {
        DataType::Dictionary(_, value_type) => {
            cast(column, value_type).unwrap_or_else(|_| column.clone())
        }
        _ => column.clone(),
    }
}

/// `Array::is_null` reads the validity buffer, which a `NullArray` does
/// not have.
fn is_null_at(array: &dyn Array, row: usize) -> bool {
    matches!(array.data_type(), DataType::Null) || array.is_null(row)
}

fn text_cell(array: &dyn Array, row: usize, json_text: bool) -> Result<Option<String>, fmt::Error> {
    if is_null_at(array, row) {
        return Ok(None);
    }
    let mut text = String::new();
    write_text(&mut text, array, row, json_text)?;
    Ok(Some(text))
}

fn string_at(array: &dyn Array, row: usize) -> Option<&str> {
    match array.data_type() {
        DataType::Utf8 => Some(array.as_string::<i32>().value(row)),
        DataType::LargeUtf8 => Some(array.as_string::<i64>().value(row)),
        DataType::Utf8View => Some(array.as_string_view().value(row)),
        _ => None,
    }
}

/// The elements of the list at `row` and whether they are JSON text.
fn list_at(array: &dyn Array, row: usize) -> Option<(ArrayRef, bool)> {
    match array.data_type() {
        DataType::List(field) => Some((array.as_list::<i32>().value(row), is_json_text(field))),
        DataType::LargeList(field) => {
            Some((array.as_list::<i64>().value(row), is_json_text(field)))
        }
        DataType::FixedSizeList(field, _) => {
            Some((array.as_fixed_size_list().value(row), is_json_text(field)))
        }
        DataType::ListView(field) => {
            Some((array.as_list_view::<i32>().value(row), is_json_text(field)))
        }
        DataType::LargeListView(field) => {
            Some((array.as_list_view::<i64>().value(row), is_json_text(field)))
        }
        _ => None,
    }
}

/// The keys and values of the map at `row`, and whether values are JSON text.
fn map_at(array: &dyn Array, row: usize) -> Option<(ArrayRef, ArrayRef, bool)> {
    let map = array.as_map_opt()?;
    let entries = map.value(row);
    if entries.num_columns() < 2 {
        return None;
    }
    let value_json = entries
        .fields()
        .get(1)
        .is_some_and(|field| is_json_text(field));
    Some((
        entries.column(0).clone(),
        entries.column(1).clone(),
        value_json,
    ))
}

/// Compact form of JSON text, or `None` if it is not JSON.
fn compact_json(text: &str) -> Option<Cow<'_, str>> {
    let trimmed = text.trim();
    if trimmed.contains(['\n', '\r']) {
        let value: serde_json::Value = serde_json::from_str(trimmed).ok()?;
        serde_json::to_string(&value).ok().map(Cow::Owned)
    } else {
        serde_json::from_str::<serde::de::IgnoredAny>(trimmed).ok()?;
        Some(Cow::Borrowed(trimmed))
    }
}

/// Writes one value as JSON.
fn write_json(out: &mut String, array: &dyn Array, row: usize, json_text: bool) -> fmt::Result {
    if is_null_at(array, row) {
        out.push_str("null");
        return Ok(());
    }
    match array.data_type() {
        DataType::Float16 => {
            write_json_float(out, array.as_primitive::<Float16Type>().value(row).to_f32())
        }
        DataType::Float32 => write_json_float(out, array.as_primitive::<Float32Type>().value(row)),
        DataType::Float64 => write_json_f64(out, array.as_primitive::<Float64Type>().value(row)),
        DataType::Decimal32(..)
        | DataType::Decimal64(..)
        | DataType::Decimal128(..)
        | DataType::Decimal256(..) => write_formatted(out, array, row),
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => {
            let text = string_at(array, row).unwrap_or_default();
            match compact_json(text).filter(|_| json_text) {
                Some(json) => out.push_str(&json),
                None => write_json_string(out, text),
            }
            Ok(())
        }
        DataType::Timestamp(..) => {
            out.push('"');
            write_text(out, array, row, false)?;
            out.push('"');
            Ok(())
        }
        DataType::Struct(fields) => {
            let strukt = array.as_struct();
            out.push('{');
            for (i, (field, column)) in fields.iter().zip(strukt.columns()).enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_json_string(out, field.name());
                out.push(':');
                write_json(out, column.as_ref(), row, is_json_text(field))?;
            }
            out.push('}');
            Ok(())
        }
        DataType::Map(..) => {
            let Some((keys, values, value_json)) = map_at(array, row) else {
                return write_formatted_string(out, array, row);
            };
            out.push('{');
            let mut key = String::new();
            for i in 0..keys.len() {
                if i > 0 {
                    out.push(',');
                }
                key.clear();
                write_text(&mut key, keys.as_ref(), i, false)?;
                write_json_string(out, &key);
                out.push(':');
                write_json(out, values.as_ref(), i, value_json)?;
            }
            out.push('}');
            Ok(())
        }
        data_type if is_nested(data_type) => {
            let Some((values, element_json)) = list_at(array, row) else {
                return write_formatted_string(out, array, row);
            };
            out.push('[');
            for i in 0..values.len() {
                if i > 0 {
                    out.push(',');
                }
                write_json(out, values.as_ref(), i, element_json)?;
            }
            out.push(']');
            Ok(())
        }
        DataType::Boolean
        | DataType::Int8
        | DataType::Int16
        | DataType::Int32
        | DataType::Int64
        | DataType::UInt8
        | DataType::UInt16
        | DataType::UInt32
        | DataType::UInt64 => write_text(out, array, row, false),
        _ => write_formatted_string(out, array, row),
    }
}

/// Writes one non-null value as plain text (CSV, table, Markdown).
fn write_text(out: &mut String, array: &dyn Array, row: usize, json_text: bool) -> fmt::Result {
    if is_null_at(array, row) {
        return Ok(());
    }
    match array.data_type() {
        DataType::Boolean => {
            out.push_str(if array.as_boolean().value(row) {
                "true"
            } else {
                "false"
            });
            Ok(())
        }
        DataType::Int8 => write!(out, "{}", array.as_primitive::<Int8Type>().value(row)),
        DataType::Int16 => write!(out, "{}", array.as_primitive::<Int16Type>().value(row)),
        DataType::Int32 => write!(out, "{}", array.as_primitive::<Int32Type>().value(row)),
        DataType::Int64 => write!(out, "{}", array.as_primitive::<Int64Type>().value(row)),
        DataType::UInt8 => write!(out, "{}", array.as_primitive::<UInt8Type>().value(row)),
        DataType::UInt16 => write!(out, "{}", array.as_primitive::<UInt16Type>().value(row)),
        DataType::UInt32 => write!(out, "{}", array.as_primitive::<UInt32Type>().value(row)),
        DataType::UInt64 => write!(out, "{}", array.as_primitive::<UInt64Type>().value(row)),
        // Debug is the shortest round-trip form and keeps `100.0` a float.
        DataType::Float16 => write!(
            out,
            "{:?}",
            array.as_primitive::<Float16Type>().value(row).to_f32()
        ),
        DataType::Float32 => write!(out, "{:?}", array.as_primitive::<Float32Type>().value(row)),
        DataType::Float64 => write!(out, "{:?}", array.as_primitive::<Float64Type>().value(row)),
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => {
            let text = string_at(array, row).unwrap_or_default();
            if json_text && text.contains(['\n', '\r']) {
                out.push_str(&compact_json(text).unwrap_or(Cow::Borrowed(text)));
            } else {
                out.push_str(text);
            }
            Ok(())
        }
        DataType::Timestamp(unit, _) => write_timestamp(out, array, *unit, row),
        DataType::Struct(_) => write_json(out, array, row, json_text),
        DataType::Map(..) => {
            let Some((keys, values, value_json)) = map_at(array, row) else {
                return write_formatted(out, array, row);
            };
            for i in 0..keys.len() {
                if i > 0 {
                    out.push(',');
                }
                write_text(out, keys.as_ref(), i, false)?;
                out.push('=');
                write_text_element(out, values.as_ref(), i, value_json)?;
            }
            Ok(())
        }
        data_type if is_nested(data_type) => {
            let Some((values, element_json)) = list_at(array, row) else {
                return write_formatted(out, array, row);
            };
            for i in 0..values.len() {
                if i > 0 {
                    out.push(',');
                }
                write_text_element(out, values.as_ref(), i, element_json)?;
            }
            Ok(())
        }
        _ => write_formatted(out, array, row),
    }
}

/// A list element or map value: nested values as compact JSON, so `a,b`
/// stays readable and a list of structs stays unambiguous.
fn write_text_element(
    out: &mut String,
    array: &dyn Array,
    row: usize,
    json_text: bool,
) -> fmt::Result {
    if is_nested(array.data_type()) && !is_null_at(array, row) {
        write_json(out, array, row, json_text)
    } else {
        write_text(out, array, row, json_text)
    }
}

fn write_timestamp(out: &mut String, array: &dyn Array, unit: TimeUnit, row: usize) -> fmt::Result {
    let (value, datetime) = match unit {
        TimeUnit::Second => {
            let v = array.as_primitive::<TimestampSecondType>().value(row);
            (v, timestamp_s_to_datetime(v))
        }
        TimeUnit::Millisecond => {
            let v = array.as_primitive::<TimestampMillisecondType>().value(row);
            (v, timestamp_ms_to_datetime(v))
        }
        TimeUnit::Microsecond => {
            let v = array.as_primitive::<TimestampMicrosecondType>().value(row);
            (v, timestamp_us_to_datetime(v))
        }
        TimeUnit::Nanosecond => {
            let v = array.as_primitive::<TimestampNanosecondType>().value(row);
            (v, timestamp_ns_to_datetime(v))
        }
    };
    match datetime {
        Some(datetime) => {
            out.push_str(
                &datetime
                    .and_utc()
                    .to_rfc3339_opts(SecondsFormat::AutoSi, true),
            );
            Ok(())
        }
        // Out of chrono's range: the raw count is still the truth.
        None => write!(out, "{value}"),
    }
}

fn write_json_float(out: &mut String, value: f32) -> fmt::Result {
    if value.is_finite() {
        write!(out, "{value:?}")
    } else {
        out.push_str("null");
        Ok(())
    }
}

fn write_json_f64(out: &mut String, value: f64) -> fmt::Result {
    if value.is_finite() {
        write!(out, "{value:?}")
    } else {
        out.push_str("null");
        Ok(())
    }
}

/// Arrow's own rendering, for types kq does not produce itself (dates,
/// durations, intervals, binary, decimals, unions, …).
fn write_formatted(out: &mut String, array: &dyn Array, row: usize) -> fmt::Result {
    match ArrayFormatter::try_new(array, &FormatOptions::default()) {
        Ok(formatter) => write!(out, "{}", formatter.value(row)),
        Err(_) => write!(out, "<{}>", array.data_type()),
    }
}

fn write_formatted_string(out: &mut String, array: &dyn Array, row: usize) -> fmt::Result {
    let mut text = String::new();
    write_formatted(&mut text, array, row)?;
    write_json_string(out, &text);
    Ok(())
}

fn write_json_string(out: &mut String, text: &str) {
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{08}' => out.push_str("\\b"),
            '\u{0c}' => out.push_str("\\f"),
            c if u32::from(c) < 0x20 => {
                // Writing to a String cannot fail.
                let _ = write!(out, "\\u{:04x}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

fn push_csv_field(out: &mut String, text: &str) {
    if text.is_empty() || text.contains([',', '"', '\n', '\r']) {
        out.push('"');
        for c in text.chars() {
            if c == '"' {
                out.push('"');
            }
            out.push(c);
        }
        out.push('"');
    } else {
        out.push_str(text);
    }
}

fn push_markdown_cell(out: &mut String, text: &str) {
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '|' => out.push_str("\\|"),
            '\r' if chars.peek() == Some(&'\n') => {}
            '\n' | '\r' => out.push_str("<br>"),
            c if c.is_control() => out.extend(c.escape_default()),
            c => out.push(c),
        }
    }
}

/// Shows control characters as escapes so a cell stays on one line and
/// cannot drive the terminal.
fn escape_control(text: &str) -> Cow<'_, str> {
    if !text.chars().any(char::is_control) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        if c.is_control() {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

/// Content width of each column so the table fits in `width` terminal
/// columns: narrow columns keep their natural width and the remaining
/// space is shared equally by the wide ones ("water filling").
fn column_limits(natural: &[usize], width: Option<u16>) -> Vec<usize> {
    let Some(width) = width else {
        return natural.to_vec();
    };
    let count = natural.len();
    // One border per column plus one, and one space of padding each side.
    let overhead = 3 * count + 1;
    if natural.iter().sum::<usize>() + overhead <= usize::from(width) {
        return natural.to_vec();
    }
    let mut remaining = usize::from(width).saturating_sub(overhead);
    let mut order: Vec<usize> = (0..count).collect();
    order.sort_by_key(|&i| natural[i]);
    let mut cap = usize::MAX;
    let mut extra = 0;
    for (position, &index) in order.iter().enumerate() {
        let left = count - position;
        if natural[index] * left <= remaining {
            remaining -= natural[index];
        } else {
            cap = remaining / left;
            extra = remaining % left;
            break;
        }
    }
    if cap < MIN_COLUMN_WIDTH {
        cap = MIN_COLUMN_WIDTH;
        extra = 0;
    }
    natural
        .iter()
        .map(|&natural| {
            if natural <= cap {
                natural
            } else if extra > 0 {
                extra -= 1;
                cap + 1
            } else {
                cap
            }
        })
        .collect()
}

/// Cuts `text` to at most `limit` display columns, ending in `…` when cut.
fn truncate(text: &str, limit: usize) -> String {
    if text.width() <= limit {
        return text.to_owned();
    }
    let budget = limit.saturating_sub(1);
    let mut used = 0;
    let mut out = String::with_capacity(limit + 3);
    for c in text.chars() {
        let w = c.width().unwrap_or(0);
        if used + w > budget {
            break;
        }
        used += w;
        out.push(c);
    }
    if limit > 0 {
        out.push(ELLIPSIS);
    }
    out
}
