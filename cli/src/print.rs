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
//!   with a width, the widest free-text columns (strings, lists, maps,
//!   JSON) are shortened first and cut with `…`, so numbers, booleans and
//!   timestamps stay whole; a row only spills over several terminal lines
//!   when even 5-character columns cannot fit. An empty result still
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
use comfy_table::{CellAlignment, ContentArrangement, Table};
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
    /// EXPLAIN's result (plan_type, plan): a plan is printed on its lines.
    plan_lines: bool,
}

/// Whether `schema` is the shape of an EXPLAIN result.
fn is_explain(schema: &SchemaRef) -> bool {
    let names: Vec<&str> = schema.fields().iter().map(|f| f.name().as_str()).collect();
    names == ["plan_type", "plan"]
}

impl<W: Write> Printer<W> {
    pub fn new(out: W, schema: SchemaRef, options: PrintOptions) -> Self {
        let json_text = schema.fields().iter().map(|f| is_json_text(f)).collect();
        let plan_lines = is_explain(&schema);
        Self {
            plan_lines,
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

    fn render_table(&mut self) -> String {
        let fields = self.schema.fields();
        if fields.is_empty() || (!self.options.header && self.buffered.is_empty()) {
            return String::new();
        }
        let mut header: Vec<String> = fields
            .iter()
            .map(|f| escape_control_owned(f.name().clone()))
            .collect();
        // The buffered cells are not needed after this, so they are escaped
        // and cut in place rather than copied.
        let keep_lines = self.plan_lines;
        let mut rows: Vec<Vec<String>> = std::mem::take(&mut self.buffered)
            .into_iter()
            .map(|row| {
                row.into_iter()
                    .map(|cell| {
                        cell.map(|text| {
                            if keep_lines {
                                // A plan is a tree drawn over lines: keep them.
                                text.split('\n')
                                    .map(|line| escape_control_owned(line.to_string()))
                                    .collect::<Vec<_>>()
                                    .join("\n")
                                    .trim_end()
                                    .to_string()
                            } else {
                                escape_control_owned(text)
                            }
                        })
                        .unwrap_or_default()
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
                *width = (*width).max(line_width(cell));
            }
        }
        let shrinkable: Vec<bool> = fields.iter().map(|f| is_free_text(f.data_type())).collect();
        let limits = column_limits(&natural, &shrinkable, self.options.width);

        let mut table = Table::new();
        table
            .load_preset(TABLE_STYLE)
            .set_content_arrangement(ContentArrangement::Disabled);
        if self.options.header {
            for (name, &limit) in header.iter_mut().zip(&limits) {
                truncate(name, limit);
            }
            table.set_header(header);
        }
        for mut row in rows.drain(..) {
            for (cell, &limit) in row.iter_mut().zip(&limits) {
                truncate(cell, limit);
            }
            table.add_row(row);
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
                let text = cell.as_deref().unwrap_or_default();
                if self.plan_lines {
                    // A plan's indentation is its tree: no-break spaces
                    // survive Markdown rendering, lines become <br>.
                    let indented: Vec<String> = text
                        .trim_end()
                        .split('\n')
                        .map(|line| {
                            let body = line.trim_start_matches(' ');
                            "\u{a0}".repeat(line.len() - body.len()) + body
                        })
                        .collect();
                    push_markdown_cell(&mut buf, &indented.join("\n"));
                } else {
                    push_markdown_cell(&mut buf, text);
                }
                buf.push_str(" |");
            }
            buf.push('\n');
        }
        buf
    }
}

/// Every row of `batch` as one compact JSON value per column, rendered as
/// the json format renders them: the cells `kq watch` compares and prints.
pub fn json_cells(batch: &RecordBatch) -> io::Result<Vec<Vec<String>>> {
    let (columns, json_text) = cell_columns(batch);
    let mut rows = Vec::with_capacity(batch.num_rows());
    for row in 0..batch.num_rows() {
        let mut cells = Vec::with_capacity(columns.len());
        for (column, &json) in columns.iter().zip(&json_text) {
            let mut cell = String::new();
            write_json(&mut cell, column.as_ref(), row, json).map_err(format_error)?;
            cells.push(cell);
        }
        rows.push(cells);
    }
    Ok(rows)
}

/// Every row of `batch` as text cells (`None` = NULL), rendered as the
/// table format renders them: what the REPL's expanded display shows.
pub fn text_cells(batch: &RecordBatch) -> io::Result<Vec<Vec<Option<String>>>> {
    let (columns, json_text) = cell_columns(batch);
    (0..batch.num_rows())
        .map(|row| {
            columns
                .iter()
                .zip(&json_text)
                .map(|(column, &json)| text_cell(column.as_ref(), row, json))
                .collect::<Result<Vec<_>, _>>()
                .map_err(format_error)
        })
        .collect()
}

/// A batch's columns with dictionaries decoded, and which hold JSON text.
fn cell_columns(batch: &RecordBatch) -> (Vec<ArrayRef>, Vec<bool>) {
    let columns = batch.columns().iter().map(decode_dictionary).collect();
    let json_text = batch
        .schema()
        .fields()
        .iter()
        .map(|f| is_json_text(f))
        .collect();
    (columns, json_text)
}

/// A JSON string literal (quotes and escapes included).
pub fn json_string(text: &str) -> String {
    let mut out = String::new();
    write_json_string(&mut out, text);
    out
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

/// Columns whose values can be cut without losing their meaning outright.
fn is_free_text(data_type: &DataType) -> bool {
    !(data_type.is_numeric() || data_type.is_temporal() || *data_type == DataType::Boolean)
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
            match json_text.then(|| compact_json(text)).flatten() {
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

/// [`escape_control_owned`] for a borrowed text.
pub fn escape_control(text: &str) -> String {
    escape_control_owned(text.to_string())
}

/// Shows control characters as escapes so a cell stays on one line and
/// cannot drive the terminal.
fn escape_control_owned(text: String) -> String {
    if !text.chars().any(char::is_control) {
        return text;
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        if c.is_control() {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    out
}

/// Content width of each column so the table fits in `width` terminal
/// columns. Free-text columns (strings, lists, maps, JSON) shrink first,
/// so numbers, booleans and timestamps stay whole; everything shrinks only
/// when that is not enough.
fn column_limits(natural: &[usize], shrinkable: &[bool], width: Option<u16>) -> Vec<usize> {
    let Some(width) = width else {
        return natural.to_vec();
    };
    // One border per column plus one, and one space of padding each side.
    let overhead = 3 * natural.len() + 1;
    let budget = usize::from(width).saturating_sub(overhead);
    if natural.iter().sum::<usize>() <= budget {
        return natural.to_vec();
    }
    let fixed: usize = natural
        .iter()
        .zip(shrinkable)
        .filter(|(_, shrink)| !**shrink)
        .map(|(n, _)| n)
        .sum();
    if fixed < budget
        && let Some(limits) = water_fill(natural, shrinkable, budget - fixed)
    {
        return limits;
    }
    let everything = vec![true; natural.len()];
    water_fill(natural, &everything, budget)
        .unwrap_or_else(|| natural.iter().map(|&n| n.min(MIN_COLUMN_WIDTH)).collect())
}

/// Shares `budget` among the `shrinkable` columns: narrow ones keep their
/// natural width, the wide ones get an equal cap. `None` when that cap
/// would be under [`MIN_COLUMN_WIDTH`].
fn water_fill(natural: &[usize], shrinkable: &[bool], budget: usize) -> Option<Vec<usize>> {
    let mut order: Vec<usize> = (0..natural.len()).filter(|&i| shrinkable[i]).collect();
    order.sort_by_key(|&i| natural[i]);
    let mut remaining = budget;
    let mut cap = usize::MAX;
    let mut extra = 0;
    for (position, &index) in order.iter().enumerate() {
        let left = order.len() - position;
        if natural[index] * left <= remaining {
            remaining -= natural[index];
        } else {
            cap = remaining / left;
            extra = remaining % left;
            break;
        }
    }
    if cap < MIN_COLUMN_WIDTH {
        return None;
    }
    Some(
        natural
            .iter()
            .zip(shrinkable)
            .map(|(&natural, &shrink)| {
                if !shrink || natural <= cap {
                    natural
                } else if extra > 0 {
                    // Hand out the division's remainder so the table uses the full width.
                    extra -= 1;
                    cap + 1
                } else {
                    cap
                }
            })
            .collect(),
    )
}

/// Cuts `text` to at most `limit` display columns, ending in `…` when cut.
/// The widest line of a cell (cells have one line, except plans).
fn line_width(text: &str) -> usize {
    text.split('\n').map(|line| line.width()).max().unwrap_or(0)
}

fn truncate(text: &mut String, limit: usize) {
    if text.contains('\n') {
        let mut lines: Vec<String> = text.split('\n').map(str::to_string).collect();
        for line in &mut lines {
            truncate(line, limit);
        }
        *text = lines.join("\n");
        return;
    }
    if text.width() <= limit {
        return;
    }
    if limit == 0 {
        text.clear();
        return;
    }
    let budget = limit - 1;
    let mut used = 0;
    let mut end = 0;
    for (index, c) in text.char_indices() {
        let w = c.width().unwrap_or(0);
        if used + w > budget {
            break;
        }
        used += w;
        end = index + c.len_utf8();
    }
    text.truncate(end);
    text.push(ELLIPSIS);
}

/// One partial failure, as every mode prints it on stderr. Info records
/// (rows complete, e.g. a selector kq evaluated itself) stay in `kq_errors`.
pub fn print_failure(failure: &kq_providers::failures::FailureRecord) {
    if failure.severity == kq_providers::failures::Severity::Info {
        return;
    }
    eprintln!("kq: {}", failure_sentence(failure));
}

/// A partial failure in one line: "error cluster 'prod' (pods): …".
pub fn failure_sentence(failure: &kq_providers::failures::FailureRecord) -> String {
    let (kind, source) = kq_providers::failures::source_kind(&failure.source);
    format!(
        "{} {kind} '{source}' ({}): {}",
        failure.severity.as_str(),
        failure.table,
        failure.message
    )
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;
    use std::sync::Arc;

    use arrow::array::{
        BooleanArray, DictionaryArray, Float64Array, Int32Array, Int64Array, ListBuilder,
        MapBuilder, NullArray, StringArray, StringBuilder, StructArray, TimestampMicrosecondArray,
        TimestampNanosecondArray, TimestampSecondArray,
    };
    use arrow::datatypes::Schema;

    use super::*;

    /// 2026-05-01T10:00:00Z in microseconds.
    const T0: i64 = 1_777_629_600_000_000;

    /// One batch with every type kq prints: three rows, the last mostly NULL.
    fn sample() -> RecordBatch {
        let mut labels = MapBuilder::new(None, StringBuilder::new(), StringBuilder::new());
        labels.keys().append_value("app");
        labels.values().append_value("web");
        labels.keys().append_value("tier");
        labels.values().append_value("front");
        labels.append(true).unwrap();
        labels.append(true).unwrap();
        labels.append(false).unwrap();
        let labels = labels.finish();

        let mut images = ListBuilder::new(StringBuilder::new());
        images.values().append_value("nginx");
        images.values().append_value("envoy:1.2");
        images.append(true);
        images.append(true);
        images.append(false);
        let images = images.finish();

        let json_meta = HashMap::from([(JSON_METADATA_KEY.to_owned(), "true".to_owned())]);
        let fields = vec![
            Field::new("name", DataType::Utf8, true),
            Field::new("replicas", DataType::Int64, true),
            Field::new("cpu", DataType::Float64, true),
            Field::new("ready", DataType::Boolean, true),
            Field::new(
                "created",
                DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
                true,
            ),
            Field::new("labels", labels.data_type().clone(), true),
            Field::new("images", images.data_type().clone(), true),
            Field::new("spec", DataType::Utf8, true).with_metadata(json_meta),
        ];
        let columns: Vec<ArrayRef> = vec![
            Arc::new(StringArray::from(vec![
                Some("web-1"),
                Some("db \"main\", a|b"),
                None,
            ])),
            Arc::new(Int64Array::from(vec![Some(3), None, Some(-7)])),
            Arc::new(Float64Array::from(vec![Some(0.5), Some(100.0), None])),
            Arc::new(BooleanArray::from(vec![Some(true), Some(false), None])),
            Arc::new(
                TimestampMicrosecondArray::from(vec![Some(T0), Some(T0 + 250_000), None])
                    .with_timezone("UTC"),
            ),
            Arc::new(labels),
            Arc::new(images),
            Arc::new(StringArray::from(vec![
                Some(r#"{"replicas":3}"#),
                Some("{\n  \"a\": [1, 2]\n}"),
                Some("not json"),
            ])),
        ];
        RecordBatch::try_new(Arc::new(Schema::new(fields)), columns).unwrap()
    }

    fn options(format: OutputFormat) -> PrintOptions {
        PrintOptions {
            format,
            ..PrintOptions::default()
        }
    }

    fn render(options: PrintOptions, batches: &[RecordBatch]) -> (String, PrintSummary) {
        let schema = batches[0].schema();
        let mut out = Vec::new();
        let mut printer = Printer::new(&mut out, schema, options);
        for batch in batches {
            printer.write_batch(batch).unwrap();
        }
        let summary = printer.finish().unwrap();
        (String::from_utf8(out).unwrap(), summary)
    }

    fn render_one(options: PrintOptions, batch: &RecordBatch) -> (String, PrintSummary) {
        render(options, std::slice::from_ref(batch))
    }

    fn line_widths(text: &str) -> Vec<usize> {
        text.lines().map(UnicodeWidthStr::width).collect()
    }

    #[test]
    fn table_renders_every_type() {
        let (text, summary) = render(options(OutputFormat::Table), &[sample()]);
        let expected = "\
┌────────────────┬──────────┬───────┬───────┬──────────────────────────┬────────────────────┬─────────────────┬────────────────┐
│ name           │ replicas │   cpu │ ready │ created                  │ labels             │ images          │ spec           │
├────────────────┼──────────┼───────┼───────┼──────────────────────────┼────────────────────┼─────────────────┼────────────────┤
│ web-1          │        3 │   0.5 │ true  │ 2026-05-01T10:00:00Z     │ app=web,tier=front │ nginx,envoy:1.2 │ {\"replicas\":3} │
│ db \"main\", a|b │          │ 100.0 │ false │ 2026-05-01T10:00:00.250Z │                    │                 │ {\"a\":[1,2]}    │
│                │       -7 │       │       │                          │                    │                 │ not json       │
└────────────────┴──────────┴───────┴───────┴──────────────────────────┴────────────────────┴─────────────────┴────────────────┘
";
        assert_eq!(text, expected);
        assert_eq!(
            summary,
            PrintSummary {
                rows_seen: 3,
                rows_printed: 3
            }
        );
    }

    #[test]
    fn json_renders_every_type() {
        let (text, _) = render(options(OutputFormat::Json), &[sample()]);
        let expected = r#"[
{"name":"web-1","replicas":3,"cpu":0.5,"ready":true,"created":"2026-05-01T10:00:00Z","labels":{"app":"web","tier":"front"},"images":["nginx","envoy:1.2"],"spec":{"replicas":3}},
{"name":"db \"main\", a|b","replicas":null,"cpu":100.0,"ready":false,"created":"2026-05-01T10:00:00.250Z","labels":{},"images":[],"spec":{"a":[1,2]}},
{"name":null,"replicas":-7,"cpu":null,"ready":null,"created":null,"labels":null,"images":null,"spec":"not json"}
]
"#;
        assert_eq!(text, expected);
        let parsed: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(parsed.as_array().map(Vec::len), Some(3));
    }

    #[test]
    fn ndjson_renders_every_type() {
        let (text, _) = render(options(OutputFormat::Ndjson), &[sample()]);
        let expected = r#"{"name":"web-1","replicas":3,"cpu":0.5,"ready":true,"created":"2026-05-01T10:00:00Z","labels":{"app":"web","tier":"front"},"images":["nginx","envoy:1.2"],"spec":{"replicas":3}}
{"name":"db \"main\", a|b","replicas":null,"cpu":100.0,"ready":false,"created":"2026-05-01T10:00:00.250Z","labels":{},"images":[],"spec":{"a":[1,2]}}
{"name":null,"replicas":-7,"cpu":null,"ready":null,"created":null,"labels":null,"images":null,"spec":"not json"}
"#;
        assert_eq!(text, expected);
        for line in text.lines() {
            serde_json::from_str::<serde_json::Value>(line).unwrap();
        }
    }

    #[test]
    fn csv_renders_every_type() {
        let (text, _) = render(options(OutputFormat::Csv), &[sample()]);
        let expected = r#"name,replicas,cpu,ready,created,labels,images,spec
web-1,3,0.5,true,2026-05-01T10:00:00Z,"app=web,tier=front","nginx,envoy:1.2","{""replicas"":3}"
"db ""main"", a|b",,100.0,false,2026-05-01T10:00:00.250Z,"","","{""a"":[1,2]}"
,-7,,,,,,not json
"#;
        assert_eq!(text, expected);
    }

    #[test]
    fn markdown_renders_every_type() {
        let (text, _) = render(options(OutputFormat::Markdown), &[sample()]);
        let expected = r#"| name | replicas | cpu | ready | created | labels | images | spec |
| --- | ---: | ---: | --- | --- | --- | --- | --- |
| web-1 | 3 | 0.5 | true | 2026-05-01T10:00:00Z | app=web,tier=front | nginx,envoy:1.2 | {"replicas":3} |
| db "main", a\|b |  | 100.0 | false | 2026-05-01T10:00:00.250Z |  |  | {"a":[1,2]} |
|  | -7 |  |  |  |  |  | not json |
"#;
        assert_eq!(text, expected);
    }

    #[test]
    fn table_fits_width_by_cutting_text_columns_first() {
        let opts = PrintOptions {
            width: Some(100),
            ..options(OutputFormat::Table)
        };
        let (text, _) = render(opts, &[sample()]);
        let expected = "\
┌───────────┬──────────┬───────┬───────┬──────────────────────────┬──────────┬──────────┬──────────┐
│ name      │ replicas │   cpu │ ready │ created                  │ labels   │ images   │ spec     │
├───────────┼──────────┼───────┼───────┼──────────────────────────┼──────────┼──────────┼──────────┤
│ web-1     │        3 │   0.5 │ true  │ 2026-05-01T10:00:00Z     │ app=web… │ nginx,e… │ {\"repli… │
│ db \"main… │          │ 100.0 │ false │ 2026-05-01T10:00:00.250Z │          │          │ {\"a\":[1… │
│           │       -7 │       │       │                          │          │          │ not json │
└───────────┴──────────┴───────┴───────┴──────────────────────────┴──────────┴──────────┴──────────┘
";
        assert_eq!(text, expected);
        assert!(line_widths(&text).iter().all(|&w| w == 100));
    }

    #[test]
    fn table_that_already_fits_is_unchanged() {
        let (unlimited, _) = render(options(OutputFormat::Table), &[sample()]);
        let width = line_widths(&unlimited)[0];
        let fitted = PrintOptions {
            width: Some(u16::try_from(width).unwrap()),
            ..options(OutputFormat::Table)
        };
        assert_eq!(render(fitted, &[sample()]).0, unlimited);
    }

    #[test]
    fn table_too_narrow_keeps_one_line_per_row_with_minimum_columns() {
        let opts = PrintOptions {
            width: Some(40),
            ..options(OutputFormat::Table)
        };
        let (text, _) = render(opts, &[sample()]);
        // 3 + 1 header rule + 3 rows + 2 borders: no row spilled onto extra lines.
        assert_eq!(text.lines().count(), 7);
        assert!(text.contains("│ repl… │"));
        assert!(
            line_widths(&text)
                .iter()
                .all(|&w| w == 8 * (MIN_COLUMN_WIDTH + 3) + 1)
        );
    }

    #[test]
    fn column_limits_share_space_among_wide_columns() {
        // Budget 40 - 3*3 - 1 = 30; the 4-wide column keeps its width, 26 split 13/13.
        assert_eq!(
            column_limits(&[4, 50, 80], &[true, true, true], Some(40)),
            vec![4, 13, 13]
        );
        // The odd remainder goes to the first wide column.
        assert_eq!(
            column_limits(&[4, 50, 80], &[true, true, true], Some(41)),
            vec![4, 14, 13]
        );
        // Fixed-width (numeric/time) columns are not cut while text can shrink.
        assert_eq!(
            column_limits(&[20, 50, 80], &[false, true, true], Some(40)),
            vec![20, 5, 5]
        );
        assert_eq!(column_limits(&[20, 50], &[true, true], None), vec![20, 50]);
    }

    #[test]
    fn truncate_counts_display_width() {
        let cut = |text: &str, limit| {
            let mut text = text.to_owned();
            truncate(&mut text, limit);
            text
        };
        assert_eq!(cut("kubernetes", 5), "kube…");
        assert_eq!(cut("kube", 5), "kube");
        // Each CJK character is two columns wide.
        assert_eq!(cut("日本語テキスト", 6), "日本…");
        assert_eq!(cut("abc", 0), "");
    }

    #[test]
    fn max_rows_counts_every_row_but_prints_only_the_first() {
        let batches = [sample(), sample()];
        let csv = PrintOptions {
            max_rows: Some(4),
            ..options(OutputFormat::Csv)
        };
        let (text, summary) = render(csv, &batches);
        assert_eq!(
            summary,
            PrintSummary {
                rows_seen: 6,
                rows_printed: 4
            }
        );
        assert_eq!(text.lines().count(), 5);
        assert!(text.ends_with("\nweb-1,3,0.5,true,2026-05-01T10:00:00Z,\"app=web,tier=front\",\"nginx,envoy:1.2\",\"{\"\"replicas\"\":3}\"\n"));

        let json = PrintOptions {
            max_rows: Some(2),
            ..options(OutputFormat::Json)
        };
        let (text, summary) = render(json, &batches);
        assert_eq!(summary.rows_printed, 2);
        let parsed: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(parsed.as_array().map(Vec::len), Some(2));

        let table = PrintOptions {
            max_rows: Some(1),
            ..options(OutputFormat::Table)
        };
        let (text, summary) = render(table, &batches);
        assert_eq!(summary.rows_seen, 6);
        assert_eq!(text.lines().count(), 5);

        let none = PrintOptions {
            max_rows: Some(0),
            ..options(OutputFormat::Json)
        };
        assert_eq!(render(none, &batches).0, "[]\n");
    }

    #[test]
    fn json_rows_stream_across_batches() {
        let batch = sample();
        let (text, _) = render(
            options(OutputFormat::Json),
            &[batch.slice(0, 1), batch.slice(1, 0), batch.slice(1, 2)],
        );
        assert_eq!(text, render(options(OutputFormat::Json), &[batch]).0);
    }

    #[test]
    fn no_header_drops_the_header_line() {
        let no_header = |format| PrintOptions {
            header: false,
            ..options(format)
        };
        let (csv, _) = render(no_header(OutputFormat::Csv), &[sample()]);
        assert!(csv.starts_with("web-1,3,"));
        assert_eq!(csv.lines().count(), 3);

        let (table, _) = render(no_header(OutputFormat::Table), &[sample()]);
        let expected = "\
┌────────────────┬────┬───────┬───────┬──────────────────────────┬────────────────────┬─────────────────┬────────────────┐
│ web-1          │  3 │   0.5 │ true  │ 2026-05-01T10:00:00Z     │ app=web,tier=front │ nginx,envoy:1.2 │ {\"replicas\":3} │
│ db \"main\", a|b │    │ 100.0 │ false │ 2026-05-01T10:00:00.250Z │                    │                 │ {\"a\":[1,2]}    │
│                │ -7 │       │       │                          │                    │                 │ not json       │
└────────────────┴────┴───────┴───────┴──────────────────────────┴────────────────────┴─────────────────┴────────────────┘
";
        assert_eq!(table, expected);

        let (markdown, _) = render(no_header(OutputFormat::Markdown), &[sample()]);
        assert!(markdown.starts_with("| web-1 | 3 |"));
        assert_eq!(markdown.lines().count(), 3);

        let empty = sample().slice(0, 0);
        assert_eq!(render_one(no_header(OutputFormat::Table), &empty).0, "");
        assert_eq!(render(no_header(OutputFormat::Csv), &[empty]).0, "");
    }

    #[test]
    fn empty_results_still_show_the_columns() {
        let empty = sample().slice(0, 0);
        let (table, summary) = render_one(options(OutputFormat::Table), &empty);
        assert_eq!(summary, PrintSummary::default());
        let expected = "\
┌──────┬──────────┬─────┬───────┬─────────┬────────┬────────┬──────┐
│ name │ replicas │ cpu │ ready │ created │ labels │ images │ spec │
├──────┼──────────┼─────┼───────┼─────────┼────────┼────────┼──────┤
└──────┴──────────┴─────┴───────┴─────────┴────────┴────────┴──────┘
";
        assert_eq!(table, expected);
        assert_eq!(render_one(options(OutputFormat::Json), &empty).0, "[]\n");
        assert_eq!(render_one(options(OutputFormat::Ndjson), &empty).0, "");
        assert_eq!(
            render_one(options(OutputFormat::Csv), &empty).0,
            "name,replicas,cpu,ready,created,labels,images,spec\n"
        );
        assert_eq!(
            render(options(OutputFormat::Markdown), &[empty]).0,
            "| name | replicas | cpu | ready | created | labels | images | spec |\n\
             | --- | ---: | ---: | --- | --- | --- | --- | --- |\n"
        );

        // A query that produced no batch at all prints the same.
        let mut out = Vec::new();
        let printer = Printer::new(&mut out, sample().schema(), options(OutputFormat::Csv));
        assert_eq!(printer.finish().unwrap(), PrintSummary::default());
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "name,replicas,cpu,ready,created,labels,images,spec\n"
        );
    }

    fn single_column(name: &str, column: ArrayRef) -> RecordBatch {
        let field = Field::new(name, column.data_type().clone(), true);
        RecordBatch::try_new(Arc::new(Schema::new(vec![field])), vec![column]).unwrap()
    }

    #[test]
    fn an_explained_plan_keeps_its_lines_and_nothing_else_leaks() {
        let schema = Arc::new(Schema::new(vec![
            Field::new("plan_type", DataType::Utf8, false),
            Field::new("plan", DataType::Utf8, false),
        ]));
        let batch = RecordBatch::try_new(
            schema,
            vec![
                Arc::new(StringArray::from(vec!["logical_plan"])),
                Arc::new(StringArray::from(vec![
                    "Projection: a\n  TableScan: pods \u{1b}[31m\n",
                ])),
            ],
        )
        .expect("batch");
        let (markdown, _) = render_one(options(OutputFormat::Markdown), &batch);
        assert!(
            markdown.contains(
                "| logical_plan | Projection: a<br>\u{a0}\u{a0}TableScan: pods \\u{1b}[31m |"
            ),
            "{markdown:?}"
        );
        let (table, _) = render_one(options(OutputFormat::Table), &batch);
        let lines: Vec<&str> = table.lines().collect();
        assert!(
            lines.contains(&"│ logical_plan │ Projection: a                │"),
            "{table}"
        );
        assert!(
            lines.contains(&"│              │   TableScan: pods \\u{1b}[31m │"),
            "{table}"
        );
        assert!(!table.contains('\u{1b}'));
    }

    #[test]
    fn control_characters_cannot_break_a_table_row_or_the_terminal() {
        let batch = single_column(
            "msg",
            Arc::new(StringArray::from(vec![
                "line1\nline2",
                "\u{1b}[31mred\ttab",
            ])),
        );
        let (table, _) = render_one(options(OutputFormat::Table), &batch);
        assert!(table.contains("│ line1\\nline2       │"));
        assert!(table.contains("│ \\u{1b}[31mred\\ttab │"));
        assert!(!table.contains('\u{1b}'));

        let (csv, _) = render_one(options(OutputFormat::Csv), &batch);
        assert_eq!(csv, "msg\n\"line1\nline2\"\n\u{1b}[31mred\ttab\n");

        let (json, _) = render_one(options(OutputFormat::Ndjson), &batch);
        assert_eq!(
            json,
            "{\"msg\":\"line1\\nline2\"}\n{\"msg\":\"\\u001b[31mred\\ttab\"}\n"
        );

        let (markdown, _) = render(options(OutputFormat::Markdown), &[batch]);
        assert!(markdown.contains("| line1<br>line2 |"));
    }

    #[test]
    fn non_finite_floats_are_json_null_and_text_words() {
        let batch = single_column(
            "x",
            Arc::new(Float64Array::from(vec![
                f64::NAN,
                f64::INFINITY,
                1e-7,
                1e300,
            ])),
        );
        let (json, _) = render_one(options(OutputFormat::Ndjson), &batch);
        assert_eq!(
            json,
            "{\"x\":null}\n{\"x\":null}\n{\"x\":1e-7}\n{\"x\":1e300}\n"
        );
        let (csv, _) = render(options(OutputFormat::Csv), &[batch]);
        assert_eq!(csv, "x\nNaN\ninf\n1e-7\n1e300\n");
    }

    #[test]
    fn dictionary_null_and_struct_columns_render() {
        let dictionary: DictionaryArray<Int32Type> =
            vec![Some("prod"), None, Some("prod")].into_iter().collect();
        let strukt = StructArray::from(vec![
            (
                Arc::new(Field::new("kind", DataType::Utf8, true)),
                Arc::new(StringArray::from(vec![
                    Some("ReplicaSet"),
                    None,
                    Some("Job"),
                ])) as ArrayRef,
            ),
            (
                Arc::new(Field::new("count", DataType::Int32, true)),
                Arc::new(Int32Array::from(vec![Some(1), Some(2), None])) as ArrayRef,
            ),
        ]);
        let schema = Schema::new(vec![
            Field::new("env", dictionary.data_type().clone(), true),
            Field::new("nothing", DataType::Null, true),
            Field::new("owner", strukt.data_type().clone(), true),
        ]);
        let batch = RecordBatch::try_new(
            Arc::new(schema),
            vec![
                Arc::new(dictionary),
                Arc::new(NullArray::new(3)),
                Arc::new(strukt),
            ],
        )
        .unwrap();
        let (json, _) = render_one(options(OutputFormat::Ndjson), &batch);
        assert_eq!(
            json,
            "{\"env\":\"prod\",\"nothing\":null,\"owner\":{\"kind\":\"ReplicaSet\",\"count\":1}}\n\
             {\"env\":null,\"nothing\":null,\"owner\":{\"kind\":null,\"count\":2}}\n\
             {\"env\":\"prod\",\"nothing\":null,\"owner\":{\"kind\":\"Job\",\"count\":null}}\n"
        );
        let (csv, _) = render(options(OutputFormat::Csv), &[batch]);
        assert_eq!(
            csv,
            "env,nothing,owner\n\
             prod,,\"{\"\"kind\"\":\"\"ReplicaSet\"\",\"\"count\"\":1}\"\n\
             ,,\"{\"\"kind\"\":null,\"\"count\"\":2}\"\n\
             prod,,\"{\"\"kind\"\":\"\"Job\"\",\"\"count\"\":null}\"\n"
        );
    }

    #[test]
    fn timestamps_of_every_unit_are_utc_rfc3339() {
        let seconds = TimestampSecondArray::from(vec![1_777_629_600]).with_timezone("+02:00");
        let nanos = TimestampNanosecondArray::from(vec![1_777_629_600_000_000_001]);
        let schema = Schema::new(vec![
            Field::new("s", seconds.data_type().clone(), true),
            Field::new("ns", nanos.data_type().clone(), true),
        ]);
        let batch =
            RecordBatch::try_new(Arc::new(schema), vec![Arc::new(seconds), Arc::new(nanos)])
                .unwrap();
        let (csv, _) = render(options(OutputFormat::Csv), &[batch]);
        assert_eq!(
            csv,
            "s,ns\n2026-05-01T10:00:00Z,2026-05-01T10:00:00.000000001Z\n"
        );
    }

    #[test]
    fn a_batch_that_does_not_match_the_schema_is_an_error() {
        let mut out = Vec::new();
        let mut printer = Printer::new(&mut out, sample().schema(), options(OutputFormat::Json));
        let other = single_column("x", Arc::new(Int64Array::from(vec![1])));
        let err = printer.write_batch(&other).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
        assert!(err.to_string().contains("1 columns"));
    }
}
