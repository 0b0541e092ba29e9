//! Output formats for query results: an aligned text table for people, CSV for
//! spreadsheets, JSON for programs.
//!
//! All three print the same numbers: reals are rounded to two decimal places (finer
//! than any of the station's sensors resolve) and then written in their shortest
//! form, so `12.5` is `12.5` everywhere, never `12.50` in one format and
//! `12.499999999999998` in another. A missing value (NULL) is `-` in the table, an
//! empty field in CSV and `null` in JSON.

use crate::store::{Table, Value};
use std::fmt;
use std::io::{self, Write};
use std::str::FromStr;

/// Decimal places kept for real numbers in every format.
pub const DECIMALS: i32 = 2;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Format {
    /// Aligned columns for a terminal.
    #[default]
    Table,
    /// RFC 4180: header row, comma-separated, quoted where needed, CRLF line ends.
    Csv,
    /// An array with one object per row, keyed by column name.
    Json,
}

impl FromStr for Format {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s.trim().to_ascii_lowercase().as_str() {
            "table" | "text" => Ok(Format::Table),
            "csv" => Ok(Format::Csv),
            "json" => Ok(Format::Json),
            _ => Err(format!(
                "`{s}` is not an output format: use table, csv or json"
            )),
        }
    }
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Format::Table => "table",
            Format::Csv => "csv",
            Format::Json => "json",
        })
    }
}

/// A real rounded to `DECIMALS` places in its shortest form; `None` for NaN and
/// infinities, which are not measurements.
pub fn format_real(x: f64) -> Option<String> {
    let mut s = String::new();
    push_real(&mut s, x).then_some(s)
}

/// Appends `format_real(x)`; false (nothing appended) for a non-finite `x`.
fn push_real(buf: &mut String, x: f64) -> bool {
    use std::fmt::Write as _;
    if !x.is_finite() {
        return false;
    }
    let scale = 10f64.powi(DECIMALS);
    let scaled = (x * scale).round();
    if scaled.abs() >= 1e15 {
        // Beyond what the integer path below can hold exactly: let std do it.
        let r = scaled / scale;
        let _ = write!(buf, "{r}");
        return true;
    }
    // Whole hundredths as an integer, written by hand: exports format millions of
    // cells and the float-to-shortest-decimal path was a quarter of their time. The
    // text is the same as `{}` of the rounded value ("12.3", "-0.05", "100").
    let n = scaled as i64;
    let unit = 10i64.pow(DECIMALS as u32);
    let (whole, mut frac) = (n.abs() / unit, n.abs() % unit);
    if n < 0 {
        buf.push('-');
    }
    let _ = write!(buf, "{whole}");
    if frac != 0 {
        let mut digits = DECIMALS as usize;
        while frac % 10 == 0 {
            frac /= 10;
            digits -= 1;
        }
        let _ = write!(buf, ".{frac:0digits$}");
    }
    true
}

/// Appends the text of a cell; false (nothing appended) for NULL. Exports write
/// millions of cells, so they reuse one buffer instead of allocating per cell.
fn push_cell(buf: &mut String, v: &Value) -> bool {
    use std::fmt::Write as _;
    match v {
        Value::Null => false,
        Value::Int(i) => {
            let _ = write!(buf, "{i}");
            true
        }
        Value::Real(x) => push_real(buf, *x),
        Value::Text(s) => {
            buf.push_str(s);
            true
        }
    }
}

/// The text of a cell, `None` for NULL.
fn cell_text(v: &Value) -> Option<String> {
    let mut s = String::new();
    push_cell(&mut s, v).then_some(s)
}

/// Adds, at the end of the table (so existing column positions stay where scripts
/// expect them), a station-local twin of every UTC time column: `start_local` for
/// `start_utc`, `temperature_max_time_local` for `temperature_max_time_utc`, ... as
/// RFC 3339 with the offset (`2026-11-30T09:15:00+01:00`). `end_utc` gets none: a
/// record's local start says when it was.
pub fn add_local_columns(table: &mut Table, tz: chrono_tz::Tz) {
    let utc: Vec<(usize, String)> = table
        .columns
        .iter()
        .enumerate()
        .filter(|(_, c)| c.as_str() != "end_utc")
        .filter_map(|(i, c)| Some((i, format!("{}_local", c.strip_suffix("_utc")?))))
        .collect();
    for (_, name) in &utc {
        table.columns.push(name.clone());
    }
    for row in &mut table.rows {
        for (i, _) in &utc {
            let local = match &row[*i] {
                Value::Text(t) => crate::time::parse_utc_text(t)
                    .or_else(|| {
                        chrono::DateTime::parse_from_rfc3339(t).ok().map(|t| {
                            crate::time::Timestamp::from_chrono(t.with_timezone(&chrono::Utc))
                        })
                    })
                    .map_or(Value::Null, |t| {
                        Value::Text(crate::time::local_rfc3339(t, tz))
                    }),
                _ => Value::Null,
            };
            row.push(local);
        }
    }
}

/// The columns a person sees by default in the table (`weatherd query` without
/// `--columns`): the key ones, which fit an 80-column terminal. `utc` shows the UTC
/// time instead of the local one.
pub fn default_columns(every: crate::store::Every, utc: bool) -> Vec<&'static str> {
    use crate::store::Every;
    match (every, utc) {
        (Every::Day, _) => vec![
            "date",
            "temperature_min_c",
            "temperature_max_c",
            "wind_gust_kmh",
            "rain_mm",
        ],
        (_, false) => vec![
            "start_local",
            "temperature_c",
            "humidity_pct",
            "wind_gust_kmh",
            "rain_mm",
        ],
        (_, true) => vec![
            "start_utc",
            "temperature_c",
            "humidity_pct",
            "wind_gust_kmh",
            "rain_mm",
        ],
    }
}

/// Keeps only the named columns, in the order named. An unknown name is an error
/// that lists the valid ones. `lenient` drops names the table lacks instead (for the
/// default selection, e.g. a database without a rain gauge still has `rain_mm`, but
/// an empty range has only the fixed columns).
pub fn select_columns(table: &mut Table, names: &[&str], lenient: bool) -> Result<(), String> {
    let mut picks = Vec::with_capacity(names.len());
    for name in names {
        match table.column(name) {
            Some(i) => picks.push(i),
            None if lenient => {}
            None => {
                return Err(format!(
                    "--columns: `{name}` is not a column here; the columns are: {}",
                    table.columns.join(", ")
                ))
            }
        }
    }
    table.columns = picks.iter().map(|&i| table.columns[i].clone()).collect();
    for row in &mut table.rows {
        *row = picks.iter().map(|&i| row[i].clone()).collect();
    }
    Ok(())
}

pub fn render(table: &Table, format: Format, out: &mut impl Write) -> io::Result<()> {
    match format {
        Format::Table => render_table(table, out),
        Format::Csv => render_csv(table, out),
        Format::Json => render_json(table, out),
    }
}

fn render_table(table: &Table, out: &mut impl Write) -> io::Result<()> {
    const NULL: &str = "-";
    let cells: Vec<Vec<Option<String>>> = table
        .rows
        .iter()
        .map(|row| row.iter().map(cell_text).collect())
        .collect();
    let mut widths: Vec<usize> = table.columns.iter().map(|c| c.chars().count()).collect();
    // Numbers align right so their digits line up; text aligns left.
    let mut numeric = vec![true; table.columns.len()];
    for (row, texts) in table.rows.iter().zip(&cells) {
        for (i, (v, t)) in row.iter().zip(texts).enumerate().take(widths.len()) {
            widths[i] = widths[i].max(t.as_deref().unwrap_or(NULL).chars().count());
            if matches!(v, Value::Text(_)) {
                numeric[i] = false;
            }
        }
    }
    let mut line = String::new();
    let mut emit = |out: &mut dyn Write, texts: &mut dyn Iterator<Item = &str>| -> io::Result<()> {
        line.clear();
        for (i, t) in texts.enumerate() {
            let Some(&w) = widths.get(i) else { break };
            if i > 0 {
                line.push_str("  ");
            }
            let pad = w.saturating_sub(t.chars().count());
            if numeric[i] {
                line.extend(std::iter::repeat_n(' ', pad));
                line.push_str(t);
            } else {
                line.push_str(t);
                line.extend(std::iter::repeat_n(' ', pad));
            }
        }
        writeln!(out, "{}", line.trim_end())
    };
    emit(out, &mut table.columns.iter().map(String::as_str))?;
    let rule: Vec<String> = widths.iter().map(|w| "-".repeat(*w)).collect();
    emit(out, &mut rule.iter().map(String::as_str))?;
    for texts in &cells {
        emit(out, &mut texts.iter().map(|t| t.as_deref().unwrap_or(NULL)))?;
    }
    Ok(())
}

fn render_csv(table: &Table, out: &mut impl Write) -> io::Result<()> {
    // The csv crate does the quoting rules (fields with commas, quotes, line breaks)
    // that are easy to get subtly wrong by hand.
    let mut w = csv::WriterBuilder::new()
        .terminator(csv::Terminator::CRLF)
        .from_writer(out);
    w.write_record(&table.columns)?;
    let mut buf = String::new();
    for row in &table.rows {
        for v in row {
            buf.clear();
            push_cell(&mut buf, v);
            w.write_field(&buf)?;
        }
        w.write_record(None::<&[u8]>)?;
    }
    w.flush()?;
    Ok(())
}

fn json_string(s: &str) -> io::Result<String> {
    serde_json::to_string(s).map_err(io::Error::other)
}

fn render_json(table: &Table, out: &mut impl Write) -> io::Result<()> {
    // Written row by row rather than built as one serde_json value, so a year of
    // records does not sit in memory twice.
    let keys: Vec<String> = table
        .columns
        .iter()
        .map(|c| json_string(c))
        .collect::<Result<_, _>>()?;
    if table.rows.is_empty() {
        return writeln!(out, "[]");
    }
    writeln!(out, "[")?;
    let mut line = String::new();
    for (r, row) in table.rows.iter().enumerate() {
        line.clear();
        line.push_str("  {");
        for (i, (key, v)) in keys.iter().zip(row).enumerate() {
            if i > 0 {
                line.push_str(", ");
            }
            line.push_str(key);
            line.push_str(": ");
            match v {
                Value::Text(s) => line.push_str(&json_string(s)?),
                other => {
                    if !push_cell(&mut line, other) {
                        line.push_str("null");
                    }
                }
            }
        }
        line.push('}');
        if r + 1 < table.rows.len() {
            line.push(',');
        }
        writeln!(out, "{line}")?;
    }
    writeln!(out, "]")
}

#[cfg(test)]
mod tests {

    #[test]
    fn hand_written_reals_match_the_rounded_display() {
        let mut x = -1234.5678f64;
        while x < 1234.5678 {
            let r = (x * 100.0).round() / 100.0;
            let r = if r == 0.0 { 0.0 } else { r };
            assert_eq!(format_real(x).unwrap(), format!("{r}"), "{x}");
            x += 0.0371;
        }
        for x in [
            0.0,
            -0.0,
            0.004,
            -0.004,
            0.005,
            -0.006,
            0.2794,
            100.0,
            -100.0,
            1e14,
            0.1 + 0.2,
        ] {
            let r = (x * 100.0f64).round() / 100.0;
            let r = if r == 0.0 { 0.0 } else { r };
            assert_eq!(format_real(x).unwrap(), format!("{r}"), "{x}");
        }
        assert_eq!(format_real(f64::NAN), None);
    }
    use super::*;

    #[test]
    fn reals_are_rounded_the_same_way_everywhere() {
        assert_eq!(format_real(12.0).as_deref(), Some("12"));
        assert_eq!(format_real(0.1 + 0.2).as_deref(), Some("0.3"));
        assert_eq!(format_real(1013.256).as_deref(), Some("1013.26"));
        assert_eq!(format_real(-0.001).as_deref(), Some("0"));
        assert_eq!(format_real(-7.45678).as_deref(), Some("-7.46"));
        assert_eq!(format_real(f64::NAN), None);
        assert_eq!(format_real(f64::INFINITY), None);
    }

    #[test]
    fn formats_parse_from_names() {
        assert_eq!("csv".parse::<Format>(), Ok(Format::Csv));
        assert_eq!("JSON".parse::<Format>(), Ok(Format::Json));
        assert_eq!("table".parse::<Format>(), Ok(Format::Table));
        assert!("xml".parse::<Format>().unwrap_err().contains("xml"));
    }

    #[test]
    fn table_aligns_numbers_right_and_shows_null() {
        let t = Table {
            columns: vec!["start_utc".into(), "temperature_c".into()],
            rows: vec![
                vec![Value::Text("2026-01-01T00:00:00Z".into()), Value::Real(5.0)],
                vec![Value::Text("2026-01-01T00:01:00Z".into()), Value::Null],
                vec![
                    Value::Text("2026-01-01T00:02:00Z".into()),
                    Value::Real(-12.345),
                ],
            ],
        };
        let mut out = Vec::new();
        render(&t, Format::Table, &mut out).unwrap();
        let text = String::from_utf8(out).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], "start_utc             temperature_c");
        assert_eq!(lines[1], "--------------------  -------------");
        assert_eq!(lines[2], "2026-01-01T00:00:00Z              5");
        assert_eq!(lines[3], "2026-01-01T00:01:00Z              -");
        assert_eq!(lines[4], "2026-01-01T00:02:00Z         -12.35");
    }

    #[test]
    fn empty_json_is_an_empty_array() {
        let t = Table {
            columns: vec!["a".into()],
            rows: vec![],
        };
        let mut out = Vec::new();
        render(&t, Format::Json, &mut out).unwrap();
        assert_eq!(
            serde_json::from_slice::<serde_json::Value>(&out).unwrap(),
            serde_json::json!([])
        );
    }
}
