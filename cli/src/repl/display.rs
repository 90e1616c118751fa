//! How the shell shows results, psql's way: `\pset format`, `\x [on|off|
//! auto]`, `\o FILE` to send results to a file, and a pager (`$PAGER`,
//! default `less -SFRX`) for answers taller than the terminal. Table and
//! expanded display escape control characters alike.

use std::io::{IsTerminal, Write};
use std::process::{Command, Stdio};

use datafusion::arrow::array::RecordBatch;
use datafusion::arrow::datatypes::SchemaRef;

use crate::print::{self, OutputFormat, PrintOptions, Printer};

/// `\x`: one line per column instead of a table.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Expanded {
    Off,
    On,
    /// Expanded only when the table would be wider than the terminal.
    Auto,
}

impl Expanded {
    pub fn name(self) -> &'static str {
        match self {
            Expanded::Off => "off",
            Expanded::On => "on",
            Expanded::Auto => "auto",
        }
    }
}

pub struct Display {
    pub format: OutputFormat,
    pub expanded: Expanded,
    pub timing: bool,
    pub pager: bool,
    /// `\o FILE`: where results go instead of the terminal.
    file: Option<(String, std::fs::File)>,
}

impl Display {
    pub fn new(format: OutputFormat) -> Self {
        Self {
            format,
            expanded: Expanded::Off,
            timing: false,
            pager: true,
            file: None,
        }
    }

    /// `\o FILE` (created or truncated) or `\o` (back to the terminal).
    pub fn send_to(&mut self, path: Option<&str>) -> Result<(), String> {
        self.file = match path {
            None => None,
            Some(path) => {
                let file = std::fs::File::create(path)
                    .map_err(|e| format!("cannot write to {path}: {e}"))?;
                Some((path.to_string(), file))
            }
        };
        Ok(())
    }

    /// Renders a result (with psql's row count under tables) as the
    /// settings say.
    pub fn render(
        &self,
        schema: SchemaRef,
        batches: &[RecordBatch],
        options: PrintOptions,
    ) -> Result<String, String> {
        let rows: usize = batches.iter().map(RecordBatch::num_rows).sum();
        let footer = format!("({} row{})\n", rows, if rows == 1 { "" } else { "s" });
        let expanded = match self.expanded {
            Expanded::On => true,
            Expanded::Off => false,
            Expanded::Auto => {
                self.format == OutputFormat::Table
                    && options.width.is_some_and(|width| {
                        let natural = render_with(
                            schema.clone(),
                            batches,
                            PrintOptions {
                                width: None,
                                ..options.clone()
                            },
                        );
                        natural.is_ok_and(|text| {
                            text.lines()
                                .any(|l| unicode_width::UnicodeWidthStr::width(l) > width as usize)
                        })
                    })
            }
        };
        if expanded {
            return Ok(expanded_text(batches) + &footer);
        }
        let mut text = render_with(schema, batches, options)?;
        if self.format == OutputFormat::Table {
            text.push_str(&footer);
        }
        Ok(text)
    }

    /// Shows rendered text: into the `\o` file, through the pager when it
    /// is taller than the terminal, or straight to the terminal.
    pub fn emit(&mut self, text: &str) {
        if let Some((path, file)) = &mut self.file {
            if let Err(e) = file.write_all(text.as_bytes()).and_then(|_| file.flush()) {
                eprintln!("kq: cannot write to {path}: {e}");
            }
            return;
        }
        if self.pager && self.taller_than_terminal(text) && page(text) {
            return;
        }
        let mut stdout = std::io::stdout().lock();
        let _ = stdout.write_all(text.as_bytes());
        let _ = stdout.flush();
    }

    fn taller_than_terminal(&self, text: &str) -> bool {
        std::io::stdout().is_terminal()
            && terminal_size::terminal_size()
                .is_some_and(|(_, height)| text.lines().count() + 1 > height.0 as usize)
    }
}

fn render_with(
    schema: SchemaRef,
    batches: &[RecordBatch],
    options: PrintOptions,
) -> Result<String, String> {
    let mut buffer = Vec::new();
    let mut printer = Printer::new(&mut buffer, schema, options);
    for batch in batches {
        printer
            .write_batch(batch)
            .map_err(|e| format!("cannot render the result: {e}"))?;
    }
    printer
        .finish()
        .map_err(|e| format!("cannot render the result: {e}"))?;
    Ok(String::from_utf8_lossy(&buffer).into_owned())
}

/// psql's `\x`: one `column | value` line per column, a rule per record,
/// control characters escaped as in tables.
fn expanded_text(batches: &[RecordBatch]) -> String {
    let mut out = String::new();
    let mut record = 0;
    for batch in batches {
        let schema = batch.schema();
        let names: Vec<String> = schema
            .fields()
            .iter()
            .map(|f| print::escape_control(f.name()))
            .collect();
        let width = names.iter().map(|n| n.chars().count()).max().unwrap_or(0);
        let Ok(rows) = print::text_cells(batch) else {
            continue;
        };
        for cells in rows {
            record += 1;
            out.push_str(&format!(
                "-[ RECORD {record} ]{}\n",
                "-".repeat(width.max(8))
            ));
            for (name, cell) in names.iter().zip(cells) {
                let value = cell.map(|c| print::escape_control(&c)).unwrap_or_default();
                out.push_str(&format!("{name:<width$} | {value}\n"));
            }
        }
    }
    out
}

/// Pipes `text` through `$PAGER` (default `less -SFRX`; an empty
/// `PAGER` means none); false when there is no pager to run.
fn page(text: &str) -> bool {
    let command = match std::env::var("PAGER") {
        Ok(pager) if pager.trim().is_empty() => return false,
        Ok(pager) => pager,
        Err(_) => "less -SFRX".to_string(),
    };
    tokio::task::block_in_place(|| {
        let Ok(mut child) = Command::new("sh")
            .args(["-c", &command])
            .stdin(Stdio::piped())
            .spawn()
        else {
            return false;
        };
        if let Some(mut stdin) = child.stdin.take() {
            // A pager quit early (q in less) closes its input: not an error.
            let _ = stdin.write_all(text.as_bytes());
        }
        let _ = child.wait();
        true
    })
}
