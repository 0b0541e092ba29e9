//! Climate reports without SQL: the NOAA-style monthly and yearly climatological
//! summaries (`weatherd report --month 2026-11`, `--year 2026`) and the station's
//! records (`weatherd report --records`).
//!
//! Everything comes from the daily summaries (`daily`, kept up to date as records are
//! written, with the time of each extreme), so a year's report reads 365 rows, not
//! half a million records. The structs here are what `--format json` prints and what
//! the web API serves at `/api/v1/climate` and `/api/v1/climate/records`.
//!
//! Definitions (docs/report.md explains them for people):
//! - A day is a station-local calendar day; a record belongs to the day it starts on.
//! - A day's mean temperature (and mean wind) is the mean of all valid samples of the
//!   day; the period's mean likewise (so not the mean of daily means).
//! - Degree days: `max(0, heating_base_c − mean)` and `max(0, mean − cooling_base_c)`
//!   per day, from the day's mean temperature; a period's are the sums of its days'.
//! - The time of an extreme is the start of the first record that reached it.
//! - Dominant direction: the speed-weighted vector mean of the records' directions.

mod render;

pub use render::{render_month, render_records, render_year, Format};

use crate::meteo::VectorSum;
use crate::store::{DailyRow, Reader, StoreError};
use crate::time::{local_rfc3339, Timestamp};
use serde::{Deserialize, Serialize};

/// The `[report]` table of weatherd.toml.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ReportSettings {
    /// Base of heating degree days, °C (18.3 °C = 65 °F, NOAA's).
    #[serde(default = "defaults::degree_day_base_c")]
    pub heating_base_c: f64,
    /// Base of cooling degree days, °C.
    #[serde(default = "defaults::degree_day_base_c")]
    pub cooling_base_c: f64,
    /// Count the days with at least this much rain, mm (one count per threshold).
    #[serde(default = "defaults::days_rain_at_least_mm")]
    pub days_rain_at_least_mm: Vec<f64>,
    /// Count the days whose high reached at least this, °C.
    #[serde(default = "defaults::days_max_at_least_c")]
    pub days_max_at_least_c: Vec<f64>,
    /// Count the days whose high stayed at or below this, °C (ice days at 0).
    #[serde(default = "defaults::days_max_at_most_c")]
    pub days_max_at_most_c: Vec<f64>,
    /// Count the days whose low fell to this or below, °C (frost days at 0).
    #[serde(default = "defaults::days_min_at_most_c")]
    pub days_min_at_most_c: Vec<f64>,
}

impl Default for ReportSettings {
    fn default() -> Self {
        ReportSettings {
            heating_base_c: defaults::degree_day_base_c(),
            cooling_base_c: defaults::degree_day_base_c(),
            days_rain_at_least_mm: defaults::days_rain_at_least_mm(),
            days_max_at_least_c: defaults::days_max_at_least_c(),
            days_max_at_most_c: defaults::days_max_at_most_c(),
            days_min_at_most_c: defaults::days_min_at_most_c(),
        }
    }
}

impl ReportSettings {
    /// What is wrong with the settings, as (key, message) pairs.
    pub fn problems(&self) -> Vec<(&'static str, String)> {
        let mut out = Vec::new();
        for (key, v) in [
            ("heating_base_c", self.heating_base_c),
            ("cooling_base_c", self.cooling_base_c),
        ] {
            if !v.is_finite() || !(-50.0..=50.0).contains(&v) {
                out.push((
                    key,
                    format!("{v} is not a base temperature: use -50 to 50 °C"),
                ));
            }
        }
        for (key, list) in [
            ("days_rain_at_least_mm", &self.days_rain_at_least_mm),
            ("days_max_at_least_c", &self.days_max_at_least_c),
            ("days_max_at_most_c", &self.days_max_at_most_c),
            ("days_min_at_most_c", &self.days_min_at_most_c),
        ] {
            if list.len() > 5 {
                out.push((key, "at most 5 thresholds fit the report".to_string()));
            }
            if let Some(v) = list.iter().find(|v| !v.is_finite()) {
                out.push((key, format!("{v} is not a number")));
            }
            if key.ends_with("_mm") && list.iter().any(|v| *v < 0.0) {
                out.push((key, "rain thresholds must be 0 or more".to_string()));
            }
        }
        out
    }
}

pub mod defaults {
    pub fn degree_day_base_c() -> f64 {
        18.3
    }
    pub fn days_rain_at_least_mm() -> Vec<f64> {
        vec![0.2, 1.0, 10.0]
    }
    pub fn days_max_at_least_c() -> Vec<f64> {
        vec![25.0, 30.0]
    }
    pub fn days_max_at_most_c() -> Vec<f64> {
        vec![0.0]
    }
    pub fn days_min_at_most_c() -> Vec<f64> {
        vec![0.0, -10.0]
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    #[error("{0}")]
    Store(#[from] StoreError),
    /// The period asked for is not one (e.g. month 13).
    #[error("{0}")]
    Period(String),
}

/// An extreme and when it happened.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct Extreme {
    pub value: f64,
    /// UTC epoch seconds: the start of the first record that reached it.
    pub at: i64,
    /// The same instant in station time, RFC 3339 with offset.
    pub at_local: String,
    /// The station-local date.
    pub date: String,
}

/// A day's value that has a date but no time (a day's rain total).
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct DayValue {
    pub value: f64,
    pub date: String,
}

/// How many days reached a threshold.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct ThresholdCount {
    pub threshold: f64,
    pub days: u32,
}

/// One day of a monthly report (null where the day has no data).
#[derive(Clone, Debug, Serialize, PartialEq, Default)]
pub struct DayLine {
    pub date: String,
    pub day: u32,
    /// Archive records of the day (0: no data).
    pub records: i64,
    pub temperature_mean_c: Option<f64>,
    pub temperature_max: Option<Extreme>,
    pub temperature_min: Option<Extreme>,
    pub heating_degree_days: Option<f64>,
    pub cooling_degree_days: Option<f64>,
    pub rain_mm: Option<f64>,
    pub rain_rate_max: Option<Extreme>,
    pub wind_speed_mean_kmh: Option<f64>,
    pub wind_gust_max: Option<Extreme>,
    pub wind_dir_dominant_deg: Option<f64>,
    /// The 16-point compass name of the dominant direction (`SW`).
    pub wind_dir_dominant: Option<&'static str>,
}

/// Means, extremes and totals of a month or a year.
#[derive(Clone, Debug, Serialize, PartialEq, Default)]
pub struct Summary {
    /// Days with at least one record.
    pub days_with_data: u32,
    pub temperature_mean_c: Option<f64>,
    /// Mean of the daily highs and of the daily lows.
    pub temperature_max_mean_c: Option<f64>,
    pub temperature_min_mean_c: Option<f64>,
    pub temperature_max: Option<Extreme>,
    pub temperature_min: Option<Extreme>,
    pub heating_degree_days: Option<f64>,
    pub cooling_degree_days: Option<f64>,
    pub rain_mm: Option<f64>,
    pub rain_day_max: Option<DayValue>,
    pub rain_rate_max: Option<Extreme>,
    pub wind_speed_mean_kmh: Option<f64>,
    pub wind_gust_max: Option<Extreme>,
    pub wind_dir_dominant_deg: Option<f64>,
    pub wind_dir_dominant: Option<&'static str>,
    pub days_rain_at_least_mm: Vec<ThresholdCount>,
    pub days_max_at_least_c: Vec<ThresholdCount>,
    pub days_max_at_most_c: Vec<ThresholdCount>,
    pub days_min_at_most_c: Vec<ThresholdCount>,
}

/// What every report says about how it was made.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct Basis {
    pub time_zone: String,
    pub heating_base_c: f64,
    pub cooling_base_c: f64,
    /// Units of the values, by field suffix.
    pub units: Units,
}

#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct Units {
    pub temperature: &'static str,
    pub rain: &'static str,
    pub rain_rate: &'static str,
    pub wind: &'static str,
    pub direction: &'static str,
    pub degree_days: &'static str,
}

const UNITS: Units = Units {
    temperature: "°C",
    rain: "mm",
    rain_rate: "mm/h",
    wind: "km/h",
    direction: "degree clockwise from true north",
    degree_days: "°C·day",
};

/// `weatherd report --month`: one line per calendar day, then the month's summary.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct MonthReport {
    pub kind: &'static str,
    /// `YYYY-MM`.
    pub month: String,
    #[serde(flatten)]
    pub basis: Basis,
    pub days: Vec<DayLine>,
    pub summary: Summary,
}

/// One month of a yearly report.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct MonthLine {
    /// `YYYY-MM`.
    pub month: String,
    #[serde(flatten)]
    pub summary: Summary,
}

/// `weatherd report --year`: one line per month, then the year's summary.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct YearReport {
    pub kind: &'static str,
    pub year: i32,
    #[serde(flatten)]
    pub basis: Basis,
    pub months: Vec<MonthLine>,
    pub summary: Summary,
}

/// `weatherd report --records`: the station's records over all it has stored.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct StationRecords {
    pub kind: &'static str,
    #[serde(flatten)]
    pub basis: Basis,
    /// First and last station-local dates with data, and how many days have data.
    pub first_date: Option<String>,
    pub last_date: Option<String>,
    pub days_with_data: u32,
    pub temperature_max: Option<Extreme>,
    pub temperature_min: Option<Extreme>,
    /// Warmest and coldest day by mean temperature.
    pub warmest_day: Option<DayValue>,
    pub coldest_day: Option<DayValue>,
    pub rain_day_max: Option<DayValue>,
    /// Wettest calendar month (`date` is `YYYY-MM`).
    pub rain_month_max: Option<DayValue>,
    pub rain_rate_max: Option<Extreme>,
    pub wind_gust_max: Option<Extreme>,
}

/// Parses `--month 2026-11`.
pub fn parse_month(s: &str) -> Result<(i32, u32), String> {
    let bad = || format!("`{s}` is not a month: use YYYY-MM, e.g. 2026-11");
    let (y, m) = s.trim().split_once('-').ok_or_else(bad)?;
    let (year, month) = (
        parse_year(y).map_err(|_| bad())?,
        m.parse::<u32>().map_err(|_| bad())?,
    );
    if !(1..=12).contains(&month) || m.len() != 2 {
        return Err(bad());
    }
    Ok((year, month))
}

/// Parses `--year 2026`.
pub fn parse_year(s: &str) -> Result<i32, String> {
    match s.trim().parse::<i32>() {
        Ok(y) if (1970..=2199).contains(&y) && s.trim().len() == 4 => Ok(y),
        _ => Err(format!("`{s}` is not a year: use YYYY, 1970 to 2199")),
    }
}

/// The 16-point compass name of a direction.
pub fn compass(deg: f64) -> &'static str {
    const NAMES: [&str; 16] = [
        "N", "NNE", "NE", "ENE", "E", "ESE", "SE", "SSE", "S", "SSW", "SW", "WSW", "W", "WNW",
        "NW", "NNW",
    ];
    NAMES[((deg.rem_euclid(360.0) / 22.5).round() as usize) % 16]
}

/// A day's row with what its line and the period's summary need.
struct Day {
    line: DayLine,
    temperature: (f64, i64),
    wind: (f64, i64),
    vector: (f64, f64, f64),
    temperature_max_c: Option<f64>,
    temperature_min_c: Option<f64>,
}

fn extreme(row: &DailyRow, value: &str, ts: &str, tz: chrono_tz::Tz) -> Option<Extreme> {
    let v = row.get(value)?;
    let at = row.get(ts)? as i64;
    Some(Extreme {
        value: v,
        at,
        at_local: local_rfc3339(Timestamp::from_secs(at), tz),
        date: row.date.clone(),
    })
}

fn mean(sum: f64, n: i64) -> Option<f64> {
    (n > 0).then(|| sum / n as f64)
}

fn day_of(row: &DailyRow, settings: &ReportSettings, tz: chrono_tz::Tz) -> Day {
    let temperature = (
        row.get("temperature_sum_c").unwrap_or(0.0),
        row.get("temperature_n").unwrap_or(0.0) as i64,
    );
    let wind = (
        row.get("wind_speed_sum_kmh").unwrap_or(0.0),
        row.get("wind_n").unwrap_or(0.0) as i64,
    );
    let vector = (
        row.get("wind_dir_east_sum").unwrap_or(0.0),
        row.get("wind_dir_north_sum").unwrap_or(0.0),
        row.get("wind_dir_weight").unwrap_or(0.0),
    );
    let t_mean = mean(temperature.0, temperature.1);
    let dir = VectorSum::from_parts(vector.0, vector.1, vector.2).mean_deg();
    let day = row
        .date
        .get(8..10)
        .and_then(|d| d.parse().ok())
        .unwrap_or(0);
    Day {
        line: DayLine {
            date: row.date.clone(),
            day,
            records: row.records,
            temperature_mean_c: t_mean,
            temperature_max: extreme(row, "temperature_max_c", "temperature_max_ts", tz),
            temperature_min: extreme(row, "temperature_min_c", "temperature_min_ts", tz),
            heating_degree_days: t_mean.map(|m| (settings.heating_base_c - m).max(0.0)),
            cooling_degree_days: t_mean.map(|m| (m - settings.cooling_base_c).max(0.0)),
            rain_mm: row.get("rain_mm"),
            // A day without a tip has a rate of 0 "at" its first record: no rate at all.
            rain_rate_max: extreme(row, "rain_rate_mm_per_h", "rain_rate_ts", tz)
                .filter(|e| e.value > 0.0),
            wind_speed_mean_kmh: mean(wind.0, wind.1),
            wind_gust_max: extreme(row, "wind_gust_kmh", "wind_gust_ts", tz),
            wind_dir_dominant_deg: dir,
            wind_dir_dominant: dir.map(compass),
        },
        temperature,
        wind,
        vector,
        temperature_max_c: row.get("temperature_max_c"),
        temperature_min_c: row.get("temperature_min_c"),
    }
}

/// Keeps the higher (`high`) or lower extreme; the earlier one on a tie.
fn keep(best: &mut Option<Extreme>, new: &Option<Extreme>, high: bool) {
    if let Some(n) = new {
        let beats = match best {
            None => true,
            Some(b) if high => n.value > b.value,
            Some(b) => n.value < b.value,
        };
        if beats {
            *best = Some(n.clone());
        }
    }
}

fn add_opt(total: &mut Option<f64>, v: Option<f64>) {
    if let Some(v) = v {
        *total = Some(total.unwrap_or(0.0) + v);
    }
}

fn counts(
    thresholds: &[f64],
    values: &[f64],
    hit: impl Fn(f64, f64) -> bool,
) -> Vec<ThresholdCount> {
    thresholds
        .iter()
        .map(|&t| ThresholdCount {
            threshold: t,
            days: values.iter().filter(|&&v| hit(v, t)).count() as u32,
        })
        .collect()
}

fn summarise(days: &[Day], settings: &ReportSettings) -> Summary {
    let mut s = Summary::default();
    let (mut t, mut w) = ((0.0, 0i64), (0.0, 0i64));
    let mut vector = (0.0, 0.0, 0.0);
    let (mut highs, mut lows, mut rains) = (Vec::new(), Vec::new(), Vec::new());
    for d in days.iter().filter(|d| d.line.records > 0) {
        s.days_with_data += 1;
        t = (t.0 + d.temperature.0, t.1 + d.temperature.1);
        w = (w.0 + d.wind.0, w.1 + d.wind.1);
        vector = (
            vector.0 + d.vector.0,
            vector.1 + d.vector.1,
            vector.2 + d.vector.2,
        );
        highs.extend(d.temperature_max_c);
        lows.extend(d.temperature_min_c);
        keep(&mut s.temperature_max, &d.line.temperature_max, true);
        keep(&mut s.temperature_min, &d.line.temperature_min, false);
        keep(&mut s.rain_rate_max, &d.line.rain_rate_max, true);
        keep(&mut s.wind_gust_max, &d.line.wind_gust_max, true);
        add_opt(&mut s.heating_degree_days, d.line.heating_degree_days);
        add_opt(&mut s.cooling_degree_days, d.line.cooling_degree_days);
        add_opt(&mut s.rain_mm, d.line.rain_mm);
        if let Some(r) = d.line.rain_mm {
            rains.push(r);
            if s.rain_day_max.as_ref().is_none_or(|m| r > m.value) {
                s.rain_day_max = Some(DayValue {
                    value: r,
                    date: d.line.date.clone(),
                });
            }
        }
    }
    s.temperature_mean_c = mean(t.0, t.1);
    s.wind_speed_mean_kmh = mean(w.0, w.1);
    s.temperature_max_mean_c = mean(highs.iter().sum(), highs.len() as i64);
    s.temperature_min_mean_c = mean(lows.iter().sum(), lows.len() as i64);
    let dir = VectorSum::from_parts(vector.0, vector.1, vector.2).mean_deg();
    s.wind_dir_dominant_deg = dir;
    s.wind_dir_dominant = dir.map(compass);
    s.days_rain_at_least_mm = counts(&settings.days_rain_at_least_mm, &rains, |v, t| v >= t);
    s.days_max_at_least_c = counts(&settings.days_max_at_least_c, &highs, |v, t| v >= t);
    s.days_max_at_most_c = counts(&settings.days_max_at_most_c, &highs, |v, t| v <= t);
    s.days_min_at_most_c = counts(&settings.days_min_at_most_c, &lows, |v, t| v <= t);
    s
}

fn basis(reader: &Reader, settings: &ReportSettings) -> Basis {
    Basis {
        time_zone: reader.time_zone().name().to_string(),
        heating_base_c: settings.heating_base_c,
        cooling_base_c: settings.cooling_base_c,
        units: UNITS,
    }
}

fn days_in_month(year: i32, month: u32) -> Result<u32, ReportError> {
    let first = chrono::NaiveDate::from_ymd_opt(year, month, 1);
    let next = if month == 12 {
        chrono::NaiveDate::from_ymd_opt(year + 1, 1, 1)
    } else {
        chrono::NaiveDate::from_ymd_opt(year, month + 1, 1)
    };
    match (first, next) {
        (Some(a), Some(b)) => Ok((b - a).num_days() as u32),
        _ => Err(ReportError::Period(format!(
            "{year}-{month:02} is not a month"
        ))),
    }
}

/// Every calendar day of a month, from the daily rows (a day without data has
/// `records == 0` and nulls).
fn month_days(
    reader: &Reader,
    year: i32,
    month: u32,
    settings: &ReportSettings,
) -> Result<Vec<Day>, ReportError> {
    let n = days_in_month(year, month)?;
    let tz = reader.time_zone();
    let rows = reader.daily_rows(
        &format!("{year:04}-{month:02}-01"),
        &format!("{year:04}-{month:02}-{n:02}"),
    )?;
    let mut rows = rows.into_iter().peekable();
    let mut days = Vec::with_capacity(n as usize);
    for d in 1..=n {
        let date = format!("{year:04}-{month:02}-{d:02}");
        match rows.next_if(|r| r.date == date) {
            Some(row) => days.push(day_of(&row, settings, tz)),
            None => days.push(Day {
                line: DayLine {
                    date,
                    day: d,
                    ..Default::default()
                },
                temperature: (0.0, 0),
                wind: (0.0, 0),
                vector: (0.0, 0.0, 0.0),
                temperature_max_c: None,
                temperature_min_c: None,
            }),
        }
    }
    Ok(days)
}

/// The monthly climatological summary of `year`-`month` (1..=12).
pub fn month(
    reader: &Reader,
    year: i32,
    month: u32,
    settings: &ReportSettings,
) -> Result<MonthReport, ReportError> {
    let days = month_days(reader, year, month, settings)?;
    Ok(MonthReport {
        kind: "month",
        month: format!("{year:04}-{month:02}"),
        basis: basis(reader, settings),
        summary: summarise(&days, settings),
        days: days.into_iter().map(|d| d.line).collect(),
    })
}

/// The yearly climatological summary: one line per month, and the year's summary
/// (its totals are the sums of the months', its extremes the extremes of theirs).
pub fn year(
    reader: &Reader,
    year: i32,
    settings: &ReportSettings,
) -> Result<YearReport, ReportError> {
    let mut all = Vec::with_capacity(366);
    let mut months = Vec::with_capacity(12);
    for m in 1..=12 {
        let days = month_days(reader, year, m, settings)?;
        months.push(MonthLine {
            month: format!("{year:04}-{m:02}"),
            summary: summarise(&days, settings),
        });
        all.extend(days);
    }
    Ok(YearReport {
        kind: "year",
        year,
        basis: basis(reader, settings),
        months,
        summary: summarise(&all, settings),
    })
}

/// The station's records over every stored day.
pub fn records(reader: &Reader, settings: &ReportSettings) -> Result<StationRecords, ReportError> {
    let tz = reader.time_zone();
    let rows = reader.daily_rows("0000-00-00", "9999-99-99")?;
    let days: Vec<Day> = rows
        .iter()
        .filter(|r| r.records > 0)
        .map(|r| day_of(r, settings, tz))
        .collect();
    let s = summarise(&days, settings);
    let by_mean = |warmest: bool| {
        days.iter()
            .filter_map(|d| Some((d.line.temperature_mean_c?, &d.line.date)))
            .fold(None::<DayValue>, |best, (v, date)| match best {
                Some(b) if (warmest && v <= b.value) || (!warmest && v >= b.value) => Some(b),
                _ => Some(DayValue {
                    value: v,
                    date: date.clone(),
                }),
            })
    };
    // Wettest month: rain summed per YYYY-MM, the earliest month on a tie.
    let mut month_rain: Vec<(String, f64)> = Vec::new();
    for d in &days {
        let Some(r) = d.line.rain_mm else { continue };
        let m = d.line.date[..7].to_string();
        match month_rain.last_mut() {
            Some((last, total)) if *last == m => *total += r,
            _ => month_rain.push((m, r)),
        }
    }
    let rain_month_max = month_rain
        .into_iter()
        .fold(None::<DayValue>, |best, (m, v)| match best {
            Some(b) if v <= b.value => Some(b),
            _ => Some(DayValue { value: v, date: m }),
        });
    Ok(StationRecords {
        kind: "records",
        basis: basis(reader, settings),
        first_date: days.first().map(|d| d.line.date.clone()),
        last_date: days.last().map(|d| d.line.date.clone()),
        days_with_data: s.days_with_data,
        warmest_day: by_mean(true),
        coldest_day: by_mean(false),
        temperature_max: s.temperature_max,
        temperature_min: s.temperature_min,
        rain_day_max: s.rain_day_max,
        rain_month_max,
        rain_rate_max: s.rain_rate_max,
        wind_gust_max: s.wind_gust_max,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn months_and_years_parse_or_say_what_is_wrong() {
        assert_eq!(parse_month("2026-11"), Ok((2026, 11)));
        for bad in ["2026-13", "2026-1", "26-11", "2026/11", "", "2026-00"] {
            assert!(parse_month(bad).unwrap_err().contains("YYYY-MM"), "{bad}");
        }
        assert_eq!(parse_year("2026"), Ok(2026));
        assert!(parse_year("1969").is_err());
        assert!(parse_year("abc").unwrap_err().contains("abc"));
    }

    #[test]
    fn compass_points() {
        assert_eq!(compass(0.0), "N");
        assert_eq!(compass(359.0), "N");
        assert_eq!(compass(225.0), "SW");
        assert_eq!(compass(11.0), "N");
        assert_eq!(compass(12.0), "NNE");
    }

    #[test]
    fn default_settings_have_no_problems_and_bad_ones_are_named() {
        assert!(ReportSettings::default().problems().is_empty());
        let s = ReportSettings {
            heating_base_c: f64::NAN,
            days_rain_at_least_mm: vec![-1.0],
            ..Default::default()
        };
        let keys: Vec<&str> = s.problems().iter().map(|p| p.0).collect();
        assert_eq!(keys, ["heating_base_c", "days_rain_at_least_mm"]);
    }
}
