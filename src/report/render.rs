//! The reports as text (NOAA-style, 80 columns), CSV and JSON.
//!
//! Numbers are rounded as `weatherd query` rounds them in CSV and JSON (two decimals,
//! shortest form); the text report shows one decimal, as NOAA's do. Times in the text
//! are station-local `HH:MM`; CSV and JSON carry UTC epoch seconds and local RFC 3339.

use super::{DayLine, Extreme, MonthReport, StationRecords, Summary, ThresholdCount, YearReport};
use crate::query::format_real;
pub use crate::query::Format;
use std::io::{self, Write};

/// One decimal, or `-` for none (the text report's cells).
fn d1(v: Option<f64>) -> String {
    match v {
        Some(x) if x.is_finite() => {
            let s = format!("{x:.1}");
            // `-0.0` reads as a sign error.
            if s == "-0.0" {
                "0.0".into()
            } else {
                s
            }
        }
        _ => "-".into(),
    }
}

/// `HH:MM` of an extreme's local time.
fn hhmm(e: &Option<Extreme>) -> String {
    e.as_ref()
        .and_then(|e| e.at_local.get(11..16))
        .unwrap_or("-")
        .to_string()
}

/// The day of month of an extreme.
fn dd(e: &Option<Extreme>) -> String {
    e.as_ref()
        .and_then(|e| e.date.get(8..10))
        .unwrap_or("-")
        .to_string()
}

fn val(e: &Option<Extreme>) -> Option<f64> {
    e.as_ref().map(|e| e.value)
}

/// "15.2 °C on 2026-11-03 at 14:32 (+00:00)".
fn when(e: &Option<Extreme>, unit: &str) -> String {
    match e {
        Some(e) => format!(
            "{} {unit} on {} at {}",
            d1(Some(e.value)),
            e.date,
            e.at_local.get(11..16).unwrap_or("?"),
        ),
        None => "-".into(),
    }
}

fn thresholds(list: &[ThresholdCount], op: &str, unit: &str) -> String {
    list.iter()
        .map(|t| format!("{op} {} {unit}: {}", d1(Some(t.threshold)), t.days))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The summary block under a month's or a year's table.
fn summary_text(s: &Summary, out: &mut impl Write) -> io::Result<()> {
    writeln!(
        out,
        "Temperature: mean {} °C, mean high {} °C, mean low {} °C",
        d1(s.temperature_mean_c),
        d1(s.temperature_max_mean_c),
        d1(s.temperature_min_mean_c)
    )?;
    writeln!(out, "  Highest {}", when(&s.temperature_max, "°C"))?;
    writeln!(out, "  Lowest  {}", when(&s.temperature_min, "°C"))?;
    writeln!(
        out,
        "  Heating degree days {}, cooling degree days {}",
        d1(s.heating_degree_days),
        d1(s.cooling_degree_days)
    )?;
    writeln!(
        out,
        "  Days with high {}",
        thresholds(&s.days_max_at_least_c, ">=", "°C")
    )?;
    writeln!(
        out,
        "  Days with high {}; low {}",
        thresholds(&s.days_max_at_most_c, "<=", "°C"),
        thresholds(&s.days_min_at_most_c, "<=", "°C")
    )?;
    let wettest = s.rain_day_max.as_ref().map_or("-".into(), |d| {
        format!("{} mm on {}", d1(Some(d.value)), d.date)
    });
    writeln!(
        out,
        "Rain: total {} mm, wettest day {wettest}",
        d1(s.rain_mm)
    )?;
    writeln!(out, "  Highest rate {}", when(&s.rain_rate_max, "mm/h"))?;
    writeln!(
        out,
        "  Days with rain {}",
        thresholds(&s.days_rain_at_least_mm, ">=", "mm")
    )?;
    writeln!(
        out,
        "Wind: mean {} km/h, dominant direction {}",
        d1(s.wind_speed_mean_kmh),
        s.wind_dir_dominant.unwrap_or("-")
    )?;
    writeln!(out, "  Strongest gust {}", when(&s.wind_gust_max, "km/h"))?;
    writeln!(out, "Days with data: {}", s.days_with_data)
}

/// The zone of the times and the degree-day bases, on lines of their own (a zone's
/// name can be 30 characters).
fn basis_text(b: &super::Basis, out: &mut impl Write) -> io::Result<()> {
    writeln!(out, "Times: station-local, {}", b.time_zone)?;
    writeln!(
        out,
        "Degree days: heating below {} °C, cooling above {} °C (daily mean)",
        d1(Some(b.heating_base_c)),
        d1(Some(b.cooling_base_c))
    )
}

const MONTH_HEAD: [&str; 3] = [
    "                 TEMPERATURE (°C)                   RAIN      WIND (km/h)",
    "DAY  MEAN  HIGH  TIME   LOW  TIME   HDD   CDD     mm  MEAN  GUST  TIME DIR",
    "--- ----- ----- ----- ----- ----- ----- ----- ------ ----- ----- ----- ---",
];

/// One line of a month's table: a day, or the month (extremes with their day).
struct MonthRow<'a> {
    label: &'a str,
    mean: Option<f64>,
    high: (Option<f64>, String),
    low: (Option<f64>, String),
    degree_days: (Option<f64>, Option<f64>),
    rain: Option<f64>,
    wind: Option<f64>,
    gust: (Option<f64>, String),
    dir: Option<&'a str>,
}

fn month_row(r: MonthRow<'_>) -> String {
    format!(
        "{:>3} {:>5} {:>5} {:>5} {:>5} {:>5} {:>5} {:>5} {:>6} {:>5} {:>5} {:>5} {:>3}",
        r.label,
        d1(r.mean),
        d1(r.high.0),
        r.high.1,
        d1(r.low.0),
        r.low.1,
        d1(r.degree_days.0),
        d1(r.degree_days.1),
        d1(r.rain),
        d1(r.wind),
        d1(r.gust.0),
        r.gust.1,
        r.dir.unwrap_or("-"),
    )
    .trim_end()
    .to_string()
}

fn month_text(r: &MonthReport, out: &mut impl Write) -> io::Result<()> {
    writeln!(out, "MONTHLY CLIMATOLOGICAL SUMMARY for {}", r.month)?;
    basis_text(&r.basis, out)?;
    writeln!(out)?;
    for h in MONTH_HEAD {
        writeln!(out, "{h}")?;
    }
    for d in &r.days {
        let d: &DayLine = d;
        writeln!(
            out,
            "{}",
            month_row(MonthRow {
                label: &format!("{:02}", d.day),
                mean: d.temperature_mean_c,
                high: (val(&d.temperature_max), hhmm(&d.temperature_max)),
                low: (val(&d.temperature_min), hhmm(&d.temperature_min)),
                degree_days: (d.heating_degree_days, d.cooling_degree_days),
                rain: d.rain_mm,
                wind: d.wind_speed_mean_kmh,
                gust: (val(&d.wind_gust_max), hhmm(&d.wind_gust_max)),
                dir: d.wind_dir_dominant,
            })
        )?;
    }
    writeln!(out, "{}", MONTH_HEAD[2])?;
    let s = &r.summary;
    // The month's line: extremes with the day of month they fell on.
    writeln!(
        out,
        "{}",
        month_row(MonthRow {
            label: "",
            mean: s.temperature_mean_c,
            high: (val(&s.temperature_max), dd(&s.temperature_max)),
            low: (val(&s.temperature_min), dd(&s.temperature_min)),
            degree_days: (s.heating_degree_days, s.cooling_degree_days),
            rain: s.rain_mm,
            wind: s.wind_speed_mean_kmh,
            gust: (val(&s.wind_gust_max), dd(&s.wind_gust_max)),
            dir: s.wind_dir_dominant,
        })
    )?;
    writeln!(out)?;
    summary_text(s, out)
}

const YEAR_HEAD: [&str; 3] = [
    "             TEMPERATURE (°C)                             RAIN   WIND (km/h)",
    "MON  MEAN  HIGH   LOW  MAX DY   MIN DY    HDD   CDD      mm  MEAN  GUST DY DIR",
    "--- ----- ----- ----- ----- -- ----- -- ------ ----- ------- ----- ----- -- ---",
];

fn year_row(label: &str, s: &Summary) -> String {
    format!(
        "{label:>3} {:>5} {:>5} {:>5} {:>5} {:>2} {:>5} {:>2} {:>6} {:>5} {:>7} {:>5} {:>5} {:>2} {:>3}",
        d1(s.temperature_mean_c),
        d1(s.temperature_max_mean_c),
        d1(s.temperature_min_mean_c),
        d1(val(&s.temperature_max)),
        dd(&s.temperature_max),
        d1(val(&s.temperature_min)),
        dd(&s.temperature_min),
        d1(s.heating_degree_days),
        d1(s.cooling_degree_days),
        d1(s.rain_mm),
        d1(s.wind_speed_mean_kmh),
        d1(val(&s.wind_gust_max)),
        dd(&s.wind_gust_max),
        s.wind_dir_dominant.unwrap_or("-"),
    )
    .trim_end()
    .to_string()
}

fn year_text(r: &YearReport, out: &mut impl Write) -> io::Result<()> {
    const NAMES: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    writeln!(out, "YEARLY CLIMATOLOGICAL SUMMARY for {}", r.year)?;
    basis_text(&r.basis, out)?;
    writeln!(
        out,
        "HIGH/LOW: mean daily high/low; MAX/MIN, GUST: extremes and their day (DY)."
    )?;
    writeln!(out)?;
    for h in YEAR_HEAD {
        writeln!(out, "{h}")?;
    }
    for (m, name) in r.months.iter().zip(NAMES) {
        writeln!(out, "{}", year_row(name, &m.summary))?;
    }
    writeln!(out, "{}", YEAR_HEAD[2])?;
    writeln!(out, "{}", year_row("", &r.summary))?;
    writeln!(out)?;
    summary_text(&r.summary, out)
}

fn records_text(r: &StationRecords, out: &mut impl Write) -> io::Result<()> {
    writeln!(
        out,
        "STATION RECORDS {} to {} ({} days with data; times {})",
        r.first_date.as_deref().unwrap_or("-"),
        r.last_date.as_deref().unwrap_or("-"),
        r.days_with_data,
        r.basis.time_zone
    )?;
    let day = |d: &Option<super::DayValue>, unit: &str| {
        d.as_ref().map_or("-".into(), |d| {
            format!("{} {unit} on {}", d1(Some(d.value)), d.date)
        })
    };
    writeln!(
        out,
        "Highest temperature   {}",
        when(&r.temperature_max, "°C")
    )?;
    writeln!(
        out,
        "Lowest temperature    {}",
        when(&r.temperature_min, "°C")
    )?;
    writeln!(out, "Warmest day (mean)    {}", day(&r.warmest_day, "°C"))?;
    writeln!(out, "Coldest day (mean)    {}", day(&r.coldest_day, "°C"))?;
    writeln!(out, "Wettest day           {}", day(&r.rain_day_max, "mm"))?;
    writeln!(
        out,
        "Wettest month         {}",
        day(&r.rain_month_max, "mm")
    )?;
    writeln!(
        out,
        "Highest rain rate     {}",
        when(&r.rain_rate_max, "mm/h")
    )?;
    writeln!(
        out,
        "Strongest gust        {}",
        when(&r.wind_gust_max, "km/h")
    )
}

fn json(value: &impl serde::Serialize, out: &mut impl Write) -> io::Result<()> {
    // Keep the I/O error's kind, so a closed pipe (`| head`) stays quiet.
    serde_json::to_writer_pretty(&mut *out, value).map_err(|e| match e.io_error_kind() {
        Some(kind) => io::Error::new(kind, e),
        None => io::Error::other(e),
    })?;
    writeln!(out)
}

fn num(v: Option<f64>) -> String {
    v.and_then(format_real).unwrap_or_default()
}

/// The CSV columns of a summary (a month's last row, a year's rows).
const SUMMARY_CSV: [&str; 20] = [
    "days_with_data",
    "temperature_mean_c",
    "temperature_max_mean_c",
    "temperature_min_mean_c",
    "temperature_max_c",
    "temperature_max_local",
    "temperature_min_c",
    "temperature_min_local",
    "heating_degree_days",
    "cooling_degree_days",
    "rain_mm",
    "rain_day_max_mm",
    "rain_day_max_date",
    "rain_rate_max_mm_per_h",
    "rain_rate_max_local",
    "wind_speed_mean_kmh",
    "wind_gust_max_kmh",
    "wind_gust_max_local",
    "wind_dir_dominant_deg",
    "wind_dir_dominant",
];

fn local(e: &Option<Extreme>) -> String {
    e.as_ref().map(|e| e.at_local.clone()).unwrap_or_default()
}

fn summary_csv(s: &Summary) -> Vec<String> {
    vec![
        s.days_with_data.to_string(),
        num(s.temperature_mean_c),
        num(s.temperature_max_mean_c),
        num(s.temperature_min_mean_c),
        num(val(&s.temperature_max)),
        local(&s.temperature_max),
        num(val(&s.temperature_min)),
        local(&s.temperature_min),
        num(s.heating_degree_days),
        num(s.cooling_degree_days),
        num(s.rain_mm),
        num(s.rain_day_max.as_ref().map(|d| d.value)),
        s.rain_day_max
            .as_ref()
            .map(|d| d.date.clone())
            .unwrap_or_default(),
        num(val(&s.rain_rate_max)),
        local(&s.rain_rate_max),
        num(s.wind_speed_mean_kmh),
        num(val(&s.wind_gust_max)),
        local(&s.wind_gust_max),
        num(s.wind_dir_dominant_deg),
        s.wind_dir_dominant.unwrap_or_default().to_string(),
    ]
}

fn csv_writer(out: &mut impl Write) -> csv::Writer<&mut dyn Write> {
    csv::WriterBuilder::new()
        .terminator(csv::Terminator::CRLF)
        .from_writer(out as &mut dyn Write)
}

/// Month CSV: one row per day (`date` = `YYYY-MM-DD`), then one row for the month
/// (`date` = `YYYY-MM`) with its means, totals and extremes in the same columns.
fn month_csv(r: &MonthReport, out: &mut impl Write) -> io::Result<()> {
    let mut w = csv_writer(out);
    let head = [
        "date",
        "records",
        "temperature_mean_c",
        "temperature_max_c",
        "temperature_max_local",
        "temperature_min_c",
        "temperature_min_local",
        "heating_degree_days",
        "cooling_degree_days",
        "rain_mm",
        "rain_rate_max_mm_per_h",
        "rain_rate_max_local",
        "wind_speed_mean_kmh",
        "wind_gust_max_kmh",
        "wind_gust_max_local",
        "wind_dir_dominant_deg",
        "wind_dir_dominant",
    ];
    w.write_record(head)?;
    for d in &r.days {
        w.write_record([
            d.date.clone(),
            d.records.to_string(),
            num(d.temperature_mean_c),
            num(val(&d.temperature_max)),
            local(&d.temperature_max),
            num(val(&d.temperature_min)),
            local(&d.temperature_min),
            num(d.heating_degree_days),
            num(d.cooling_degree_days),
            num(d.rain_mm),
            num(val(&d.rain_rate_max)),
            local(&d.rain_rate_max),
            num(d.wind_speed_mean_kmh),
            num(val(&d.wind_gust_max)),
            local(&d.wind_gust_max),
            num(d.wind_dir_dominant_deg),
            d.wind_dir_dominant.unwrap_or_default().to_string(),
        ])?;
    }
    let s = &r.summary;
    w.write_record([
        r.month.clone(),
        String::new(),
        num(s.temperature_mean_c),
        num(val(&s.temperature_max)),
        local(&s.temperature_max),
        num(val(&s.temperature_min)),
        local(&s.temperature_min),
        num(s.heating_degree_days),
        num(s.cooling_degree_days),
        num(s.rain_mm),
        num(val(&s.rain_rate_max)),
        local(&s.rain_rate_max),
        num(s.wind_speed_mean_kmh),
        num(val(&s.wind_gust_max)),
        local(&s.wind_gust_max),
        num(s.wind_dir_dominant_deg),
        s.wind_dir_dominant.unwrap_or_default().to_string(),
    ])?;
    w.flush()
}

/// Year CSV: one row per month (`period` = `YYYY-MM`), then the year (`YYYY`).
fn year_csv(r: &YearReport, out: &mut impl Write) -> io::Result<()> {
    let mut w = csv_writer(out);
    let mut head = vec!["period"];
    head.extend(SUMMARY_CSV);
    w.write_record(&head)?;
    for m in &r.months {
        let mut row = vec![m.month.clone()];
        row.extend(summary_csv(&m.summary));
        w.write_record(&row)?;
    }
    let mut row = vec![r.year.to_string()];
    row.extend(summary_csv(&r.summary));
    w.write_record(&row)?;
    w.flush()
}

/// Records CSV: one row per record (`record`, value, unit, date, local time).
fn records_csv(r: &StationRecords, out: &mut impl Write) -> io::Result<()> {
    let mut w = csv_writer(out);
    w.write_record(["record", "value", "unit", "date", "at_local"])?;
    let ext = [
        ("temperature_max", &r.temperature_max, "°C"),
        ("temperature_min", &r.temperature_min, "°C"),
        ("rain_rate_max", &r.rain_rate_max, "mm/h"),
        ("wind_gust_max", &r.wind_gust_max, "km/h"),
    ];
    for (name, e, unit) in ext {
        if let Some(e) = e {
            w.write_record([name, &num(Some(e.value)), unit, &e.date, &e.at_local])?;
        }
    }
    let days = [
        ("warmest_day", &r.warmest_day, "°C"),
        ("coldest_day", &r.coldest_day, "°C"),
        ("rain_day_max", &r.rain_day_max, "mm"),
        ("rain_month_max", &r.rain_month_max, "mm"),
    ];
    for (name, d, unit) in days {
        if let Some(d) = d {
            w.write_record([name, &num(Some(d.value)), unit, &d.date, ""])?;
        }
    }
    w.flush()
}

pub fn render_month(r: &MonthReport, format: Format, out: &mut impl Write) -> io::Result<()> {
    match format {
        Format::Table => month_text(r, out),
        Format::Csv => month_csv(r, out),
        Format::Json => json(r, out),
    }
}

pub fn render_year(r: &YearReport, format: Format, out: &mut impl Write) -> io::Result<()> {
    match format {
        Format::Table => year_text(r, out),
        Format::Csv => year_csv(r, out),
        Format::Json => json(r, out),
    }
}

pub fn render_records(r: &StationRecords, format: Format, out: &mut impl Write) -> io::Result<()> {
    match format {
        Format::Table => records_text(r, out),
        Format::Csv => records_csv(r, out),
        Format::Json => json(r, out),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_fit_80_columns_and_line_up() {
        for h in MONTH_HEAD.iter().chain(&YEAR_HEAD) {
            assert!(h.chars().count() <= 80, "{h}");
        }
        let row = month_row(MonthRow {
            label: "01",
            mean: Some(-10.0),
            high: (Some(-50.5), "14:32".into()),
            low: (Some(-20.5), "06:00".into()),
            degree_days: (Some(28.3), Some(0.0)),
            rain: Some(1000.2),
            wind: Some(100.0),
            gust: (Some(150.0), "15:00".into()),
            dir: Some("WSW"),
        });
        assert_eq!(row.chars().count(), MONTH_HEAD[2].chars().count(), "{row}");
        let s = Summary {
            rain_mm: Some(12345.6),
            heating_degree_days: Some(6000.0),
            wind_dir_dominant: Some("NNW"),
            ..Default::default()
        };
        let row = year_row("Jan", &s);
        assert_eq!(row.chars().count(), YEAR_HEAD[2].chars().count(), "{row}");
    }
}
