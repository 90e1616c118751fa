//! The shell's backslash commands: one enum, parsed from a line, that also
//! gives `\?` its help and completion its names, so the three never drift.

/// A parsed backslash command and its argument.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Backslash {
    Help,
    /// `\d` lists tables; `\d TABLE` describes one.
    Describe(Option<String>),
    Timing,
    /// `\o FILE` sends results to a file; `\o` back to the terminal.
    Output(Option<String>),
    /// `\pset [format|pager] [VALUE]`: shows or sets a display option.
    Pset(Option<String>, Option<String>),
    /// `\x` toggles expanded display; `\x on|off|auto` sets it.
    Expanded(Option<String>),
    /// `\c` shows the clusters; `\c CONTEXTS` switches them.
    Connect(Option<String>),
    Include(String),
    Refresh(Option<String>),
    Cache,
    Quit,
}

/// Every command's name, in `\?` order, and its help line.
pub const COMMANDS: &[(&str, &str)] = &[
    ("\\?", "list these commands"),
    (
        "\\d",
        "list tables; \\d TABLE shows its columns, types and descriptions",
    ),
    ("\\timing", "toggle printing each statement's run time"),
    (
        "\\o",
        "\\o FILE sends results to FILE; \\o alone back to the terminal",
    ),
    (
        "\\pset",
        "\\pset format table|json|ndjson|csv|markdown, \\pset pager on|off",
    ),
    (
        "\\x",
        "expanded display (one line per column): toggle, or \\x on|off|auto",
    ),
    (
        "\\c",
        "\\c CONTEXT[,…] or \\c * switches the clusters queried",
    ),
    ("\\i", "\\i FILE runs the statements in FILE"),
    (
        "\\refresh",
        "\\refresh [TABLE] drops cached tables so the next query lists afresh",
    ),
    (
        "\\cache",
        "show the cached tables: clusters, objects, last event, memory",
    ),
    ("\\q", "quit (or Ctrl-D)"),
];

impl Backslash {
    /// Parses a line that starts with `\`; the error is the one sentence
    /// the shell prints.
    pub fn parse(input: &str) -> Result<Backslash, String> {
        let (name, argument) = match input.split_once(char::is_whitespace) {
            Some((c, a)) => (c, a.trim().trim_end_matches(';').trim()),
            None => (input.trim_end_matches(';'), ""),
        };
        let argument = (!argument.is_empty()).then(|| argument.to_string());
        Ok(match name {
            "\\?" => Backslash::Help,
            "\\d" => Backslash::Describe(argument),
            "\\timing" => Backslash::Timing,
            "\\o" => Backslash::Output(argument),
            "\\pset" => {
                let mut words = argument.as_deref().unwrap_or_default().split_whitespace();
                let option = words.next().map(str::to_string);
                let value = words.next().map(str::to_string);
                Backslash::Pset(option, value)
            }
            "\\x" => Backslash::Expanded(argument),
            "\\c" => Backslash::Connect(argument),
            "\\i" => {
                Backslash::Include(argument.ok_or(
                    "\\i needs a file, e.g. \\i queries/examples/privileged.sql".to_string(),
                )?)
            }
            "\\refresh" => Backslash::Refresh(argument),
            "\\cache" => Backslash::Cache,
            "\\q" => Backslash::Quit,
            other => return Err(format!("unknown command '{other}'; \\? lists the commands")),
        })
    }

    /// The name this command goes by in [`COMMANDS`] (the test that keeps
    /// the two in step).
    #[cfg(test)]
    fn name(&self) -> &'static str {
        match self {
            Backslash::Help => "\\?",
            Backslash::Describe(_) => "\\d",
            Backslash::Timing => "\\timing",
            Backslash::Output(_) => "\\o",
            Backslash::Pset(..) => "\\pset",
            Backslash::Expanded(_) => "\\x",
            Backslash::Connect(_) => "\\c",
            Backslash::Include(_) => "\\i",
            Backslash::Refresh(_) => "\\refresh",
            Backslash::Cache => "\\cache",
            Backslash::Quit => "\\q",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_listed_command_parses_back_to_its_name() {
        for (name, help) in COMMANDS {
            let line = if *name == "\\i" {
                format!("{name} file.sql")
            } else {
                name.to_string()
            };
            let parsed = Backslash::parse(&line).expect(name);
            assert_eq!(parsed.name(), *name, "{help}");
        }
    }

    #[test]
    fn arguments_and_errors() {
        assert_eq!(
            Backslash::parse("\\d pods;"),
            Ok(Backslash::Describe(Some("pods".into())))
        );
        assert_eq!(Backslash::parse("\\c"), Ok(Backslash::Connect(None)));
        assert_eq!(
            Backslash::parse("\\pset format csv"),
            Ok(Backslash::Pset(Some("format".into()), Some("csv".into())))
        );
        assert_eq!(
            Backslash::parse("\\x auto"),
            Ok(Backslash::Expanded(Some("auto".into())))
        );
        assert!(
            Backslash::parse("\\i")
                .unwrap_err()
                .contains("needs a file")
        );
        assert!(
            Backslash::parse("\\zz")
                .unwrap_err()
                .contains("unknown command '\\zz'")
        );
    }
}
