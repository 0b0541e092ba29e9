//! `/api/v1/records` and `/api/v1/records.csv`: the store's raw, hourly and daily
//! tables as plot series, downsampled on the server to a point budget.
//!
//! # Downsampling keeps what a plot must show
//!
//! When a range holds more steps than `points`, the range is cut into `points` equal
//! buckets (a whole number of steps each) and every column is folded with its own
//! statistic from `record::COLUMNS`: a maximum column keeps the bucket's maximum, a
//! minimum its minimum, a sum (rain) its sum, counts their sum, a mean the mean
//! weighted by its sample count, a direction the speed-weighted vector mean. So the
//! year's highest gust and lowest temperature are in any plot of the year. A bucket
//! (or, undownsampled, a step) without records is a row of nulls: a gap stays a gap.
//!
//! # Memory
//!
//! The range is read in chunks (one day of raw records, a month of hours) and folded
//! as it goes, so a year of hours never sits in memory as one table.

use super::cache::HourCache;
use super::params::{self, every_name, ApiError, Params};
use super::{accepts_gzip, AppState, Body, State};
use crate::meteo::VectorSum;
use crate::observation::Aggregation;
use crate::query::format_real;
use crate::record::{self, Statistic};
use crate::store::{Every, Reader, Table, Value};
use crate::time::Timestamp;
use axum::extract::rejection::QueryRejection;
use axum::extract::Query;
use axum::http::{header, HeaderMap, HeaderValue};
use axum::response::{IntoResponse, Response};
use std::fmt::Write as _;
use std::sync::Mutex;

type Q = Result<Query<Vec<(String, String)>>, QueryRejection>;

/// The most columns one request may ask for.
const MAX_COLUMNS: usize = 64;

pub(super) async fn records(
    axum::extract::State(s): axum::extract::State<State>,
    headers: HeaderMap,
    q: Q,
) -> Response {
    let p = match Params::parse(q, &["from", "to", "every", "points", "columns"]) {
        Ok(p) => p,
        Err(e) => return e.into_response(),
    };
    let gz = accepts_gzip(&headers);
    match s
        .read(move |r, s| Ok(Body::new(series(r, s, &p)?.to_json().into_bytes(), gz)))
        .await
    {
        Ok(body) => body.respond("application/json; charset=utf-8"),
        Err(e) => e.into_response(),
    }
}

pub(super) async fn records_csv(
    axum::extract::State(s): axum::extract::State<State>,
    headers: HeaderMap,
    q: Q,
) -> Response {
    let p = match Params::parse(q, &["from", "to", "every", "tz"]) {
        Ok(p) => p,
        Err(e) => return e.into_response(),
    };
    let gz = accepts_gzip(&headers);
    match s
        .read(move |r, s| csv(r, s, &p).map(|(name, body)| (name, Body::new(body, gz))))
        .await
    {
        Ok((name, body)) => {
            let mut r = body.respond("text/csv; charset=utf-8");
            r.headers_mut().insert(
                header::CONTENT_DISPOSITION,
                HeaderValue::from_str(&format!("attachment; filename=\"{name}\""))
                    .unwrap_or(HeaderValue::from_static("attachment")),
            );
            r
        }
        Err(e) => e.into_response(),
    }
}

/// A plot series, as `/api/v1/records` answers it.
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    pub from: Timestamp,
    pub to: Timestamp,
    pub every: Every,
    pub downsampled: bool,
    pub columns: Vec<String>,
    /// Row start times (bucket starts when downsampled), epoch seconds.
    pub time: Vec<i64>,
    /// Per column, one value per row.
    pub values: Vec<Vec<Option<f64>>>,
}

impl Series {
    pub fn to_json(&self) -> String {
        let mut out = String::with_capacity(64 + self.time.len() * (12 + 8 * self.columns.len()));
        let _ = write!(
            out,
            "{{\"from\":{},\"to\":{},\"every\":\"{}\",\"downsampled\":{},\"columns\":{},\"units\":{{",
            self.from.secs(),
            self.to.secs(),
            every_name(self.every),
            self.downsampled,
            serde_json::to_string(&self.columns).unwrap_or_default()
        );
        for (i, c) in self.columns.iter().enumerate() {
            let unit = unit_symbol(c).map_or("null".to_string(), |u| format!("\"{u}\""));
            let _ = write!(out, "{}\"{c}\":{unit}", if i > 0 { "," } else { "" });
        }
        out.push_str("},\"time\":[");
        for (i, t) in self.time.iter().enumerate() {
            let _ = write!(out, "{}{t}", if i > 0 { "," } else { "" });
        }
        out.push_str("],\"values\":{");
        for (i, (c, vs)) in self.columns.iter().zip(&self.values).enumerate() {
            let _ = write!(out, "{}\"{c}\":[", if i > 0 { "," } else { "" });
            for (j, v) in vs.iter().enumerate() {
                if j > 0 {
                    out.push(',');
                }
                match v.and_then(format_real) {
                    Some(s) => out.push_str(&s),
                    None => out.push_str("null"),
                }
            }
            out.push(']');
        }
        out.push_str("}}");
        out
    }
}

/// The unit symbol of a column, from its name's suffix (`None` for counts).
pub fn unit_symbol(name: &str) -> Option<&'static str> {
    if name.ends_with("_n") || name == "records" || name == "samples" {
        return None;
    }
    let units = [
        ("_mm_per_h", "mm/h"),
        ("_c", "°C"),
        ("_pct", "%"),
        ("_hpa", "hPa"),
        ("_kmh", "km/h"),
        ("_deg", "°"),
        ("_mm", "mm"),
        ("_lux", "lx"),
        ("_wm2", "W/m²"),
        ("_ppm", "ppm"),
        ("_v", "V"),
    ];
    units
        .iter()
        .find(|(s, _)| name.ends_with(s))
        .map(|(_, u)| *u)
}

/// Which statistic a table column holds: from `record::COLUMNS` for the standard
/// names, from the name's shape for extras (`x_min_lux`, `x_max_lux`, `x_n`, `x_lux`),
/// an extra's value column by how its driver folds it (`kinds`; mean if unknown).
pub fn statistic_of(name: &str, kinds: &Kinds) -> Statistic {
    if let Some(c) = record::column(name) {
        return c.statistic;
    }
    if name == "records" || name.ends_with("_n") {
        Statistic::Count
    } else if name.contains("_min_") {
        Statistic::Min
    } else if name.contains("_max_") {
        Statistic::Max
    } else {
        kinds.get(name).copied().unwrap_or_default().into()
    }
}

/// How each configured extra quantity folds (`SensorKind::aggregation`).
pub type Kinds = std::collections::HashMap<String, Aggregation>;

/// The configured sensors' extra quantities and how each folds.
pub(super) fn extra_kinds(config: &crate::config::Config) -> Kinds {
    config
        .sensors
        .values()
        .flat_map(|sensor| {
            sensor
                .quantities()
                .into_iter()
                .filter(|q| record::column(q.name()).is_none())
                .map(|q| (q.name().to_string(), sensor.aggregation(&q)))
        })
        .collect()
}

/// Columns that are bookkeeping, not plot values.
fn is_key(name: &str) -> bool {
    // Times (and the local times of extremes in daily rows) are not plot values.
    matches!(name, "id" | "date") || name.ends_with("_utc") || name.ends_with("_local")
}

fn is_count(name: &str) -> bool {
    matches!(
        statistic_of(name, &Kinds::new()),
        Statistic::Count | Statistic::Samples
    )
}

/// The name of the count that weighs a mean column (`temperature_c` → `temperature_n`).
fn weight_of(name: &str) -> Option<String> {
    if let Some(c) = record::column(name) {
        return record::count_of(c.quantity).map(|n| n.name.to_string());
    }
    name.rsplit_once('_').map(|(stem, _)| format!("{stem}_n"))
}

/// A row's start time from its key cell.
fn row_time(cell: &Value, tz: chrono_tz::Tz) -> Option<i64> {
    let Value::Text(s) = cell else { return None };
    if s.len() == 10 {
        let d = chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d").ok()?;
        let noon =
            chrono::TimeZone::from_local_datetime(&tz, &d.and_hms_opt(12, 0, 0)?).earliest()?;
        return params::local_midnight(Timestamp::from_secs(noon.timestamp()), tz, 0)
            .map(|t| t.secs());
    }
    chrono::DateTime::parse_from_rfc3339(s)
        .ok()
        .map(|t| t.timestamp())
}

fn number(v: &Value) -> Option<f64> {
    match v {
        Value::Real(x) if x.is_finite() => Some(*x),
        Value::Int(i) => Some(*i as f64),
        _ => None,
    }
}

/// The nominal step of a table in seconds.
fn step_s(every: Every, archive_s: i64) -> i64 {
    match every {
        Every::Raw => archive_s.max(1),
        Every::Hour => 3600,
        Every::Day => 86_400,
    }
}

/// Reads `[from, to)` at `every` in chunks, calling `f` with each table.
fn chunks(
    reader: &Reader,
    hours: Option<&Mutex<HourCache>>,
    from: Timestamp,
    to: Timestamp,
    every: Every,
    mut f: impl FnMut(&Table) -> Result<(), ApiError>,
) -> Result<(), ApiError> {
    let size = match every {
        Every::Raw => 86_400,
        // Hour-aligned boundaries: an hour split between chunks would be two rows.
        Every::Hour => 31 * 86_400,
        Every::Day => i64::MAX / 4,
    };
    let mut lo = from;
    while lo < to {
        let mut hi = Timestamp::from_secs(lo.secs().saturating_add(size));
        if every == Every::Hour {
            hi = Timestamp::from_secs(hi.secs().div_euclid(3600) * 3600);
        }
        let hi = if hi >= to || hi <= lo { to } else { hi };
        let table = match (every, hours.and_then(|h| h.lock().ok())) {
            (Every::Hour, Some(mut cache)) => cache.query(reader, lo, hi)?,
            _ => reader.query(Some(lo), Some(hi), every)?,
        };
        f(&table)?;
        lo = hi;
    }
    Ok(())
}

/// One bucket's fold of one column.
#[derive(Clone, Copy, Default)]
struct Fold {
    sum: f64,
    weight: f64,
    min: Option<f64>,
    max: Option<f64>,
    dir: VectorSum,
    any: bool,
}

impl Fold {
    fn add(&mut self, stat: Statistic, v: f64, weight: f64) {
        self.any = true;
        match stat {
            Statistic::Min => self.min = Some(self.min.map_or(v, |m| m.min(v))),
            Statistic::Max => self.max = Some(self.max.map_or(v, |m| m.max(v))),
            Statistic::Sum | Statistic::Count | Statistic::Samples => self.sum += v,
            Statistic::VectorMean { .. } | Statistic::UnitVectorMean => self.dir.add(v, weight),
            // Rows come in time order: the last one added is the newest.
            Statistic::Last => self.min = Some(v),
            Statistic::Mean | Statistic::Derived => {
                if weight > 0.0 {
                    self.sum += v * weight;
                    self.weight += weight;
                }
            }
        }
    }

    fn value(&self, stat: Statistic) -> Option<f64> {
        if !self.any {
            return None;
        }
        match stat {
            Statistic::Min => self.min,
            Statistic::Max => self.max,
            Statistic::Sum | Statistic::Count | Statistic::Samples => Some(self.sum),
            Statistic::VectorMean { .. } | Statistic::UnitVectorMean => self.dir.mean_deg(),
            Statistic::Last => self.min,
            Statistic::Mean | Statistic::Derived => {
                (self.weight > 0.0).then(|| self.sum / self.weight)
            }
        }
    }
}

/// Builds the series for a request.
pub(super) fn series(reader: &Reader, s: &AppState, p: &Params) -> Result<Series, ApiError> {
    let (now, tz) = (s.now(), s.tz());
    let every = p.every()?;
    let points = p.points()?;
    let (from, to) = params::range(p, now, tz, Some(every), 86_400)?;
    let archive_s = i64::from(s.config.archive_interval_seconds);
    // The base columns of this step (an empty range still names them).
    let base = reader.query(Some(to), Some(to), every)?.columns;
    let kinds = extra_kinds(&s.config);
    let known_extras: Vec<String> = s
        .config
        .sensors
        .values()
        .flat_map(|sensor| sensor.quantities())
        .map(|q| q.name().to_string())
        .filter(|n| kinds.contains_key(n))
        .collect();
    let wanted: Vec<String> = match p.get("columns") {
        Some(list) => {
            let names: Vec<String> = list.split(',').map(|c| c.trim().to_string()).collect();
            if names.len() > MAX_COLUMNS {
                return Err(ApiError::bad(
                    "columns",
                    format!("at most {MAX_COLUMNS} columns"),
                ));
            }
            names
        }
        None => base
            .iter()
            .filter(|c| !is_key(c) && !is_count(c))
            .cloned()
            .chain(known_extras.iter().cloned())
            .collect(),
    };
    let mut seen: Vec<String> = Vec::new();
    build(
        reader,
        Some(&s.hours),
        from,
        to,
        every,
        archive_s,
        points,
        tz,
        &wanted,
        &kinds,
        |table| {
            for c in &table.columns {
                if !base.contains(c) && !seen.contains(c) {
                    seen.push(c.clone());
                }
            }
        },
    )
    .and_then(|series| {
        for c in &wanted {
            let extra_family = known_extras
                .iter()
                .any(|e| c == e || weight_of(e).as_deref() == Some(c) || is_family(e, c));
            if is_key(c) || !(base.contains(c) || seen.contains(c) || extra_family) {
                let mut choices: Vec<&str> = base
                    .iter()
                    .filter(|c| !is_key(c))
                    .map(String::as_str)
                    .collect();
                choices.extend(known_extras.iter().map(String::as_str));
                return Err(ApiError::bad(
                    "columns",
                    format!(
                        "unknown column `{}`; choose from {}",
                        c.chars().take(64).collect::<String>(),
                        choices.join(", ")
                    ),
                ));
            }
        }
        Ok(series)
    })
}

/// `illuminance_min_lux` belongs to the extra `illuminance_lux`.
fn is_family(extra: &str, name: &str) -> bool {
    match extra.rsplit_once('_') {
        Some((stem, unit)) => {
            name == format!("{stem}_min_{unit}") || name == format!("{stem}_max_{unit}")
        }
        None => false,
    }
}

/// Reads and folds; `visit` sees every table (to learn the columns present).
#[allow(clippy::too_many_arguments)]
pub fn build(
    reader: &Reader,
    hours: Option<&Mutex<HourCache>>,
    from: Timestamp,
    to: Timestamp,
    every: Every,
    archive_s: i64,
    points: usize,
    tz: chrono_tz::Tz,
    wanted: &[String],
    kinds: &Kinds,
    mut visit: impl FnMut(&Table),
) -> Result<Series, ApiError> {
    let step = step_s(every, archive_s);
    let span = to.secs() - from.secs();
    let steps = (span + step - 1) / step;
    let downsampled = steps > points as i64;
    // Bucket width: a whole number of steps, so a bucket holds whole rows.
    let width = if downsampled {
        let per = (span + points as i64 - 1) / points as i64;
        (per + step - 1) / step * step
    } else {
        step
    };
    let stats: Vec<Statistic> = wanted.iter().map(|c| statistic_of(c, kinds)).collect();
    let mut out = Series {
        from,
        to,
        every,
        downsampled,
        columns: wanted.to_vec(),
        time: Vec::new(),
        values: vec![Vec::new(); wanted.len()],
    };
    let mut folds = vec![Fold::default(); wanted.len()];
    let mut current: Option<i64> = None;
    let mut last_row: Option<i64> = None;
    let flush = |out: &mut Series, folds: &mut Vec<Fold>, t: i64| {
        out.time.push(t);
        for (i, f) in folds.iter_mut().enumerate() {
            out.values[i].push(f.value(stats[i]));
            *f = Fold::default();
        }
    };
    let null_row = |out: &mut Series, t: i64| {
        out.time.push(t);
        for v in &mut out.values {
            v.push(None);
        }
    };
    chunks(reader, hours, from, to, every, |table| {
        visit(table);
        let key = table
            .columns
            .iter()
            .position(|c| c == "start_utc" || c == "date");
        let Some(key) = key else { return Ok(()) };
        let idx: Vec<Option<usize>> = wanted.iter().map(|c| table.column(c)).collect();
        let weight_idx: Vec<Option<usize>> = wanted
            .iter()
            .zip(&stats)
            .map(|(c, st)| match st {
                Statistic::Mean | Statistic::UnitVectorMean => {
                    weight_of(c).and_then(|w| table.column(&w))
                }
                Statistic::VectorMean { speed } => table.column(speed),
                // Not weighted by another column.
                Statistic::Samples
                | Statistic::Min
                | Statistic::Max
                | Statistic::Count
                | Statistic::Derived
                | Statistic::Sum
                | Statistic::Last => None,
            })
            .collect();
        let dir_n = table
            .column("wind_dir_n")
            .or_else(|| table.column("wind_n"));
        for row in &table.rows {
            let Some(t) = row_time(&row[key], tz) else {
                continue;
            };
            if downsampled {
                let bucket = from.secs() + (t - from.secs()).div_euclid(width) * width;
                if current != Some(bucket) {
                    if let Some(c) = current {
                        flush(&mut out, &mut folds, c);
                    }
                    // Empty buckets between: gaps.
                    let mut b = current.map_or(from.secs(), |c| c + width);
                    while b < bucket {
                        null_row(&mut out, b);
                        b += width;
                    }
                    current = Some(bucket);
                }
            } else {
                if let Some(prev) = last_row {
                    // A missing step (1.5 × allows a 25-hour DST day) is one null row.
                    if t - prev > step + step / 2 {
                        null_row(&mut out, prev + step);
                    }
                }
                last_row = Some(t);
                current = Some(t);
            }
            for (i, (at, st)) in idx.iter().zip(&stats).enumerate() {
                let Some(v) = at.and_then(|a| number(&row[a])) else {
                    continue;
                };
                let weight = match st {
                    Statistic::VectorMean { .. } => {
                        let speed = weight_idx[i].and_then(|a| number(&row[a])).unwrap_or(0.0);
                        let n = dir_n.and_then(|a| number(&row[a])).unwrap_or(1.0);
                        speed * n
                    }
                    Statistic::Samples
                    | Statistic::Mean
                    | Statistic::UnitVectorMean
                    | Statistic::Min
                    | Statistic::Max
                    | Statistic::Count
                    | Statistic::Derived
                    | Statistic::Sum
                    | Statistic::Last => weight_idx[i].and_then(|a| number(&row[a])).unwrap_or(1.0),
                };
                folds[i].add(*st, v, weight);
            }
            if !downsampled {
                flush(&mut out, &mut folds, t);
                current = None;
            }
        }
        Ok(())
    })?;
    if let Some(c) = current {
        flush(&mut out, &mut folds, c);
    }
    if downsampled {
        // Trailing empty buckets up to `to`: the plot shows the range asked for.
        let mut b = out.time.last().map_or(from.secs(), |t| t + width);
        while b < to.secs() && out.time.len() < points + 1 {
            null_row(&mut out, b);
            b += width;
        }
    }
    Ok(out)
}

/// `records.csv`: the same CSV as `weatherd query --format csv` (with the local
/// twins of the UTC times, `start_local`, … at the end) for `tz=local`, the default;
/// without them for `tz=utc`.
fn csv(reader: &Reader, s: &AppState, p: &Params) -> Result<(String, Vec<u8>), ApiError> {
    let (now, tz) = (s.now(), s.tz());
    let every = p.every()?;
    let (from, to) = params::range(p, now, tz, Some(every), 86_400)?;
    let local = match p.get("tz") {
        None | Some("local") => true,
        Some("utc") => false,
        Some(v) => {
            return Err(ApiError::bad(
                "tz",
                format!("`{v}` is not a time zone choice: use local or utc"),
            ))
        }
    };
    let mut table = reader.query(Some(from), Some(to), every)?;
    if local {
        crate::query::add_local_columns(&mut table, tz);
    }
    let mut body = Vec::new();
    crate::query::render(&table, crate::query::Format::Csv, &mut body)
        .map_err(|e| ApiError::internal(format!("cannot write the CSV: {e}")))?;
    let name = format!(
        "weatherd-{}-{}-{}.csv",
        every_name(every),
        from.rfc3339().replace(':', ""),
        to.rfc3339().replace(':', "")
    );
    Ok((name, body))
}

/// `2026-11-30T09:15:00+01:00`: a time in the station's zone with its offset.
pub fn local_rfc3339(secs: i64, tz: chrono_tz::Tz) -> String {
    Timestamp::from_secs(secs)
        .to_chrono()
        .with_timezone(&tz)
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A plot bucket folds an extra by its driver's kind: a total adds up, a reading
    /// kept as it was last keeps the newest, a direction is a vector mean, a mean is
    /// weighted by its samples; an unknown extra is a mean.
    #[test]
    fn a_bucket_folds_each_extra_by_its_kind() {
        let kinds: Kinds = [
            ("energy_wh", Aggregation::Sum),
            ("battery_v", Aggregation::Last),
            ("vane_2_deg", Aggregation::Vector),
            ("light_lux", Aggregation::Mean),
        ]
        .into_iter()
        .map(|(n, k)| (n.to_string(), k))
        .collect();
        let fold = |name: &str, rows: &[(f64, f64)]| {
            let stat = statistic_of(name, &kinds);
            let mut f = Fold::default();
            for &(v, weight) in rows {
                f.add(stat, v, weight);
            }
            f.value(stat).unwrap()
        };
        let rows = [(350.0, 12.0), (10.0, 12.0), (20.0, 6.0)];
        assert_eq!(fold("energy_wh", &rows), 380.0);
        assert_eq!(fold("battery_v", &rows), 20.0);
        let d = fold("vane_2_deg", &rows);
        assert!(d > 0.0 && d < 10.0, "{d}");
        assert_eq!(
            fold("light_lux", &rows),
            (350.0 * 12.0 + 120.0 + 120.0) / 30.0
        );
        assert_eq!(fold("other_lux", &rows), fold("light_lux", &rows));
        // Its extremes and count keep their own folds, whatever the kind.
        assert_eq!(statistic_of("battery_min_v", &kinds), Statistic::Min);
        assert_eq!(statistic_of("battery_max_v", &kinds), Statistic::Max);
        assert_eq!(statistic_of("energy_n", &kinds), Statistic::Count);
    }
}
