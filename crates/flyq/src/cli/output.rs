//! How client commands print: aligned tables for people (headers in colour only on a terminal
//! without NO_COLOR) or one JSON document for scripts. Commands build a serialisable report and
//! the tables for it; this module decides which one reaches stdout.

use std::fmt::Display;
use std::io::Write;

use base64::Engine;
use comfy_table::{Cell, ContentArrangement, Table, presets};
use serde::Serialize;

/// Whether stdout gets colour: a terminal, and neither NO_COLOR nor CLICOLOR=0 set.
pub fn colour() -> bool {
    anstream::AutoStream::choice(&std::io::stdout()) != anstream::ColorChoice::Never
}

/// A table with `headers`, borderless and left-aligned, like `kubectl get`.
pub fn table<I, S>(headers: I) -> Table
where
    I: IntoIterator<Item = S>,
    S: Display,
{
    let mut table = Table::new();
    // Styling is applied in `render`, so comfy-table never looks at the terminal itself.
    table
        .load_preset(presets::NOTHING)
        .set_content_arrangement(ContentArrangement::Disabled)
        .force_no_tty()
        .set_header(headers.into_iter().map(|h| Cell::new(h)));
    table
}

/// The table's text: columns two spaces apart, no margin, no trailing blanks, and the header
/// in bold when stdout takes colour.
pub fn render(mut table: Table) -> String {
    for column in table.column_iter_mut() {
        column.set_padding((0, 2));
    }
    let bold = if colour() {
        anstyle::Style::new().bold()
    } else {
        anstyle::Style::new()
    };
    table
        .lines()
        .enumerate()
        .map(|(i, l)| match i {
            0 => format!("{bold}{}{bold:#}", l.trim_end()),
            _ => l.trim_end().to_owned(),
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// Prints `report` as JSON, or the `human` text (tables) built from it.
pub fn emit<T: Serialize>(
    json: bool,
    report: &T,
    human: impl FnOnce(&T) -> String,
) -> anyhow::Result<()> {
    let text = if json {
        serde_json::to_string_pretty(report)?
    } else {
        human(report)
    };
    let mut out = std::io::stdout().lock();
    writeln!(out, "{}", text.trim_end())?;
    Ok(())
}

/// Joins sections (a heading line or a table) with blank lines between them.
pub fn sections(parts: impl IntoIterator<Item = String>) -> String {
    parts
        .into_iter()
        .map(|p| p.trim_end().to_owned())
        .collect::<Vec<_>>()
        .join("\n\n")
}

/// `key: value` lines with the keys aligned.
pub fn fields(rows: &[(&str, String)]) -> String {
    let width = rows.iter().map(|(k, _)| k.len()).max().unwrap_or(0) + 1;
    rows.iter()
        .map(|(k, v)| {
            format!("{:width$} {v}", format!("{k}:"))
                .trim_end()
                .to_owned()
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// Bytes for JSON: the UTF-8 string when valid, else base64 (the caller records which).
pub fn encode_bytes(bytes: &[u8]) -> (String, Option<&'static str>) {
    match std::str::from_utf8(bytes) {
        Ok(s) => (s.to_owned(), None),
        Err(_) => (
            base64::engine::general_purpose::STANDARD.encode(bytes),
            Some("base64"),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bytes_are_text_when_utf8_and_base64_otherwise() {
        assert_eq!(encode_bytes(b"hi"), ("hi".to_owned(), None));
        assert_eq!(
            encode_bytes(&[0xff, 0x00]),
            ("/wA=".to_owned(), Some("base64"))
        );
    }

    #[test]
    fn fields_align_values() {
        assert_eq!(
            fields(&[("id", "1".to_owned()), ("state", "x".to_owned())]),
            "id:    1\nstate: x"
        );
    }
}
