//! The JSON endpoints besides `records`: station, latest (+ its event stream), daily,
//! windrose, health, and `/metrics` for Prometheus.

use super::params::{self, local_midnight, ApiError, Params};
use super::records::{local_rfc3339, unit_symbol};
use super::{accepts_gzip, AppState, Body, State};
use crate::query::format_real;
use crate::record::COLUMNS;
use crate::store::{Every, Reader, Table, Value};
use crate::time::Timestamp;
use axum::extract::rejection::QueryRejection;
use axum::extract::Query;
use axum::http::HeaderMap;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use serde_json::{json, Map, Value as Json};

type Q = Result<Query<Vec<(String, String)>>, QueryRejection>;
type S = axum::extract::State<State>;

/// A real as the API writes it: rounded as `weatherd query` rounds (2 places).
fn num(v: Option<f64>) -> Json {
    v.and_then(format_real)
        .and_then(|s| s.parse::<f64>().ok())
        .and_then(serde_json::Number::from_f64)
        .map_or(Json::Null, Json::Number)
}

fn cell(v: &Value) -> Json {
    match v {
        Value::Null => Json::Null,
        Value::Int(i) => json!(i),
        Value::Real(x) => num(Some(*x)),
        Value::Text(s) => json!(s),
    }
}

fn real(v: &Value) -> Option<f64> {
    match v {
        Value::Real(x) => Some(*x),
        Value::Int(i) => Some(*i as f64),
        _ => None,
    }
}

fn secs_of(v: &Value) -> Option<i64> {
    match v {
        Value::Text(s) => chrono::DateTime::parse_from_rfc3339(s)
            .ok()
            .map(|t| t.timestamp()),
        _ => None,
    }
}

/// Parses the parameters, runs `f` on a blocking thread with a reader, and answers
/// its JSON (serialised and compressed there too).
async fn answer<F>(
    s: &State,
    headers: &HeaderMap,
    q: Q,
    known: &'static [&'static str],
    f: F,
) -> Response
where
    F: FnOnce(&Reader, &AppState, &Params) -> Result<Json, ApiError> + Send + 'static,
{
    let p = match Params::parse(q, known) {
        Ok(p) => p,
        Err(e) => return e.into_response(),
    };
    let gz = accepts_gzip(headers);
    match s
        .read(move |r, s| Ok(Body::new(f(r, s, &p)?.to_string().into_bytes(), gz)))
        .await
    {
        Ok(body) => body.respond("application/json; charset=utf-8"),
        Err(e) => e.into_response(),
    }
}

/// A readable label from a column name: `wind_gust_kmh` → "Wind gust".
pub fn label(name: &str) -> String {
    let stem = match unit_symbol(name) {
        Some(_) => name.rsplit_once('_').map_or(name, |(s, _)| s),
        None => name,
    };
    let stem = stem
        .strip_suffix("_mm_per")
        .map_or(stem.to_string(), |s| format!("{s}_rate"));
    let stem = stem.replace("_rate_rate", "_rate");
    let mut words = stem.replace('_', " ");
    if let Some(first) = words.get(..1) {
        words.replace_range(..1, &first.to_uppercase());
    }
    words
}

pub(super) async fn station(s: S, h: HeaderMap, q: Q) -> Response {
    answer(&s, &h, q, &[], |_, s, _| Ok(station_json(s))).await
}

fn station_json(s: &AppState) -> Json {
    let st = &s.config.station;
    let mut names: Vec<String> = COLUMNS
        .iter()
        .filter(|c| c.unit.is_some())
        .map(|c| c.name.to_string())
        .collect();
    for sensor in s.config.sensors.values() {
        for q in sensor.quantities() {
            let q = q.name();
            if crate::record::column(q).is_none() {
                if let Some((stem, unit)) = q.rsplit_once('_') {
                    names.push(q.to_string());
                    names.push(format!("{stem}_min_{unit}"));
                    names.push(format!("{stem}_max_{unit}"));
                }
            }
        }
    }
    let quantities: Vec<Json> = names
        .iter()
        .map(|n| json!({"name": n, "unit": unit_symbol(n), "label": label(n)}))
        .collect();
    json!({
        "name": st.name,
        "latitude": st.latitude,
        "longitude": st.longitude,
        "elevation_m": st.elevation_m,
        "timezone": st.time_zone,
        "version": env!("CARGO_PKG_VERSION"),
        "archive_interval_s": s.config.archive_interval_seconds,
        "sample_interval_s": s.config.sample_interval_seconds,
        "quantities": quantities,
    })
}

pub(super) async fn latest(s: S, h: HeaderMap, q: Q) -> Response {
    answer(&s, &h, q, &[], |r, s, _| latest_json(r, s)).await
}

/// The newest row of a raw table as an object (`start`, `end`, `start_local`, columns).
fn record_object(table: &Table, row: &[Value], tz: chrono_tz::Tz) -> Json {
    let mut o = Map::new();
    let start = table.column("start_utc").and_then(|i| secs_of(&row[i]));
    o.insert("start".into(), json!(start));
    o.insert(
        "end".into(),
        json!(table.column("end_utc").and_then(|i| secs_of(&row[i]))),
    );
    o.insert(
        "start_local".into(),
        json!(start.map(|t| local_rfc3339(t, tz))),
    );
    for (c, v) in table.columns.iter().zip(row) {
        if !matches!(c.as_str(), "id" | "start_utc" | "end_utc") {
            o.insert(c.clone(), cell(v));
        }
    }
    Json::Object(o)
}

/// The newest record, today's extremes, rain windows and the pressure tendency.
pub fn latest_json(r: &Reader, s: &AppState) -> Result<Json, ApiError> {
    let (now, tz) = (s.now(), s.tz());
    let archive_s = i64::from(s.config.archive_interval_seconds);
    let newest_end = r.resume()?.last_end;
    let mut record = Json::Null;
    let mut tendency = None;
    if let Some(end) = newest_end {
        let t = r.query(Some(end.add_secs(-2 * archive_s - 1)), None, Every::Raw)?;
        if let Some(row) = t.rows.last() {
            record = record_object(&t, row, tz);
            tendency = pressure_tendency(r, &t, row, archive_s)?;
        }
    }
    let midnight = local_midnight(now, tz, 0).unwrap_or(now);
    let today = r.query(Some(midnight), Some(now.add_secs(1)), Every::Raw)?;
    let extreme = |col: &str, max: bool| -> (Option<f64>, Option<i64>) {
        let (Some(i), Some(at)) = (today.column(col), today.column("start_utc")) else {
            return (None, None);
        };
        let mut best: Option<(f64, i64)> = None;
        for row in &today.rows {
            let Some(v) = real(&row[i]) else { continue };
            // Ties keep the first time it was reached.
            if best.is_none_or(|(b, _)| if max { v > b } else { v < b }) {
                best = Some((v, secs_of(&row[at]).unwrap_or(0)));
            }
        }
        (best.map(|b| b.0), best.map(|b| b.1))
    };
    let (tmax, tmax_at) = extreme("temperature_max_c", true);
    let (tmin, tmin_at) = extreme("temperature_min_c", false);
    let (gust, gust_at) = extreme("wind_gust_kmh", true);
    let rain_today = r.rain_mm_between(midnight, now.add_secs(1))?;
    Ok(json!({
        "now": now.secs(),
        "now_local": local_rfc3339(now.secs(), tz),
        "stale": newest_end.is_none_or(|e| now.secs() - e.secs() > 3 * archive_s),
        "clock_synchronised": s.live.state().clock_synchronised,
        "record": record,
        "today": {
            "temperature_max_c": num(tmax), "temperature_max_at": tmax_at,
            "temperature_min_c": num(tmin), "temperature_min_at": tmin_at,
            "wind_gust_max_kmh": num(gust), "wind_gust_max_at": gust_at,
            "rain_mm": num(rain_today),
        },
        "rain": {
            "last_hour_mm": num(r.rain_mm_between(now.add_secs(-3600), now.add_secs(1))?),
            "last_24h_mm": num(r.rain_mm_between(now.add_secs(-86_400), now.add_secs(1))?),
            "today_mm": num(rain_today),
        },
        "pressure_tendency_3h_hpa": num(tendency),
    }))
}

/// Station pressure now minus three hours before (the record starting closest to
/// that time, within two archive intervals); `None` without both.
fn pressure_tendency(
    r: &Reader,
    t: &Table,
    row: &[Value],
    archive_s: i64,
) -> Result<Option<f64>, ApiError> {
    let (Some(p), Some(at)) = (t.column("pressure_hpa"), t.column("start_utc")) else {
        return Ok(None);
    };
    let (Some(now_p), Some(start)) = (real(&row[p]), secs_of(&row[at])) else {
        return Ok(None);
    };
    let then = start - 3 * 3600;
    let window = r.query(
        Some(Timestamp::from_secs(then - 2 * archive_s)),
        Some(Timestamp::from_secs(then + 2 * archive_s + 1)),
        Every::Raw,
    )?;
    let best = window
        .rows
        .iter()
        .filter_map(|w| Some(((secs_of(&w[at])? - then).abs(), real(&w[p])?)))
        .min_by_key(|(d, _)| *d);
    Ok(best.map(|(_, old)| now_p - old))
}

/// `/api/v1/events`: the `/latest` JSON as an event `record`, once on connect and
/// after every committed record.
pub(super) async fn events(s: S, q: Q) -> Response {
    if let Err(e) = Params::parse(q, &[]) {
        return e.into_response();
    }
    let state = s.0;
    // Streams are long: at most half the connection slots, so the page's other
    // requests always find room.
    let Ok(slot) = state.event_slots.clone().try_acquire_owned() else {
        return ApiError::busy().into_response();
    };
    let rx = state.live.subscribe();
    let stream = futures_util::stream::unfold(
        (state, rx, true, slot),
        |(state, mut rx, first, slot)| async move {
            if !first {
                rx.changed().await.ok()?;
            }
            rx.borrow_and_update();
            let data = match state.read(latest_json).await {
                Ok(v) => v.to_string(),
                Err(e) => json!({"error": e.error}).to_string(),
            };
            let event = Event::default().event("record").data(data);
            Some((
                Ok::<_, std::convert::Infallible>(event),
                (state, rx, false, slot),
            ))
        },
    );
    Sse::new(stream)
        .keep_alive(KeepAlive::default())
        .into_response()
}

pub(super) async fn daily(s: S, h: HeaderMap, q: Q) -> Response {
    answer(&s, &h, q, &["from", "to"], |r, s, p| {
        let (from, to) = params::range(p, s.now(), s.tz(), Some(Every::Day), 30 * 86_400)?;
        let t = r.query(Some(from), Some(to), Every::Day)?;
        let days: Vec<Json> = t
            .rows
            .iter()
            .map(|row| {
                let o: Map<String, Json> = t
                    .columns
                    .iter()
                    .zip(row)
                    .map(|(c, v)| (c.clone(), cell(v)))
                    .collect();
                Json::Object(o)
            })
            .collect();
        Ok(json!({"from": from.secs(), "to": to.secs(), "days": days}))
    })
    .await
}

pub const DIRECTIONS: [&str; 16] = [
    "N", "NNE", "NE", "ENE", "E", "ESE", "SE", "SSE", "S", "SSW", "SW", "WSW", "W", "WNW", "NW",
    "NNW",
];
/// Lower bounds of the speed bands, km/h.
pub const BANDS_KMH: [f64; 6] = [0.0, 5.0, 10.0, 20.0, 30.0, 40.0];
/// Below this mean speed a record counts as calm.
pub const CALM_KMH: f64 = 1.0;

pub(super) async fn windrose(s: S, h: HeaderMap, q: Q) -> Response {
    answer(&s, &h, q, &["from", "to"], |r, s, p| {
        let (from, to) = params::range(p, s.now(), s.tz(), Some(Every::Hour), 7 * 86_400)?;
        // Raw records up to a month; hourly means (vector-mean direction) beyond.
        let every = if to.secs() - from.secs() <= params::max_span_s(Every::Raw) {
            Every::Raw
        } else {
            Every::Hour
        };
        let mut counts = vec![vec![0u64; DIRECTIONS.len()]; BANDS_KMH.len()];
        let (mut calm, mut total) = (0u64, 0u64);
        let t = r.query(Some(from), Some(to), every)?;
        let (Some(sp), Some(dir)) = (t.column("wind_speed_kmh"), t.column("wind_dir_deg")) else {
            return Err(ApiError::internal("the table has no wind columns".into()));
        };
        for row in &t.rows {
            let Some(speed) = real(&row[sp]) else {
                continue;
            };
            total += 1;
            match real(&row[dir]) {
                Some(d) if speed >= CALM_KMH => {
                    let sector = ((d.rem_euclid(360.0) + 11.25) / 22.5) as usize % 16;
                    let band = BANDS_KMH.iter().rposition(|b| speed >= *b).unwrap_or(0);
                    counts[band][sector] += 1;
                }
                _ => calm += 1,
            }
        }
        Ok(json!({
            "from": from.secs(), "to": to.secs(), "every": params::every_name(every),
            "directions": DIRECTIONS, "bands_kmh": BANDS_KMH, "counts": counts,
            "calm": calm, "total": total,
        }))
    })
    .await
}

/// Free bytes for an unprivileged writer on the database's file system.
fn disk_free_bytes(db: &std::path::Path) -> Option<u64> {
    use std::os::unix::ffi::OsStrExt;
    let dir = db
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(std::path::Path::new("."));
    let c = std::ffi::CString::new(dir.as_os_str().as_bytes()).ok()?;
    let mut st: libc::statvfs = unsafe { std::mem::zeroed() };
    // SAFETY: `c` is a valid NUL-terminated path and `st` a valid out-pointer.
    if unsafe { libc::statvfs(c.as_ptr(), &mut st) } != 0 {
        return None;
    }
    Some((st.f_bavail as u64).saturating_mul(st.f_frsize as u64))
}

fn database_bytes(db: &std::path::Path) -> u64 {
    let size = |p: &std::path::Path| std::fs::metadata(p).map_or(0, |m| m.len());
    let mut wal = db.as_os_str().to_owned();
    wal.push("-wal");
    size(db) + size(std::path::Path::new(&wal))
}

pub fn health_json(r: &Reader, s: &AppState) -> Result<Json, ApiError> {
    let now = s.now();
    // The same report `weatherd status` prints.
    let report = crate::status::gather(r, Some(&s.config), now)?;
    let sensors: Vec<Json> = report
        .sensors
        .iter()
        .map(|x| json!({"name": x.name, "type": x.kind, "last_reading": x.last_reading.map(|t| t.secs()), "faults_24h": x.faults_24h, "faults_total": x.faults_total}))
        .collect();
    let destinations: Vec<Json> = report
        .uploads
        .iter()
        .map(|u| {
            let st = &u.status;
            let kind = s
                .config
                .upload
                .iter()
                .find(|c| c.name() == st.name)
                .map(|c| c.type_name());
            json!({
                "name": st.name, "type": kind, "state": st.state, "backlog": st.backlog,
                "last_success": st.last_success.map(|t| t.secs()),
                "last_error": st.last_error, "problem": u.problem.is_some(),
            })
        })
        .collect();
    Ok(json!({
        "version": env!("CARGO_PKG_VERSION"),
        "uptime_s": s.started.elapsed().as_secs(),
        "now": now.secs(),
        "clock_synchronised": s.live.state().clock_synchronised,
        "records": report.records,
        "newest_record_end": report.newest.map(|t| t.secs()),
        "disk_free_bytes": disk_free_bytes(&s.db_path),
        "database_bytes": database_bytes(&s.db_path),
        "sensors": sensors,
        "destinations": destinations,
    }))
}

pub(super) async fn health(s: S, h: HeaderMap, q: Q) -> Response {
    answer(&s, &h, q, &[], |r, s, _| health_json(r, s)).await
}

/// A label value in the Prometheus text format: `\`, `"` and newlines escaped.
fn label_value(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

pub fn metrics_text(r: &Reader, s: &AppState) -> Result<String, ApiError> {
    use std::fmt::Write as _;
    let latest = latest_json(r, s)?;
    let health = health_json(r, s)?;
    let mut out = String::new();
    let gauge =
        |out: &mut String, name: &str, help: &str, kind: &str, lines: Vec<(String, f64)>| {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
            for (labels, v) in lines {
                let _ = writeln!(out, "{name}{labels} {v}");
            }
        };
    gauge(
        &mut out,
        "weatherd_up",
        "1 while the daemon answers.",
        "gauge",
        vec![(String::new(), 1.0)],
    );
    if let Json::Object(rec) = &latest["record"] {
        for c in COLUMNS.iter().filter(|c| c.unit.is_some()) {
            if let Some(v) = rec.get(c.name).and_then(Json::as_f64) {
                let help = format!(
                    "Newest archive record: {} ({}).",
                    label(c.name),
                    c.unit.map_or("", |u| u.name)
                );
                gauge(
                    &mut out,
                    &format!("weatherd_{}", c.name),
                    &help,
                    "gauge",
                    vec![(String::new(), v)],
                );
            }
        }
        if let Some(end) = rec.get("end").and_then(Json::as_f64) {
            gauge(
                &mut out,
                "weatherd_last_record_timestamp_seconds",
                "End of the newest archive record (Unix time).",
                "gauge",
                vec![(String::new(), end)],
            );
        }
    }
    let f = |v: &Json| v.as_f64().unwrap_or(0.0);
    gauge(
        &mut out,
        "weatherd_records_total",
        "Archive records stored.",
        "counter",
        vec![(String::new(), f(&health["records"]))],
    );
    gauge(
        &mut out,
        "weatherd_faults_total",
        "Faulty samples recorded, all sensors.",
        "counter",
        vec![(String::new(), r.faults_total()? as f64)],
    );
    gauge(
        &mut out,
        "weatherd_clock_synchronised",
        "1 when the clock is synchronised.",
        "gauge",
        vec![(
            String::new(),
            if latest["clock_synchronised"] == json!(true) {
                1.0
            } else {
                0.0
            },
        )],
    );
    gauge(
        &mut out,
        "weatherd_stale",
        "1 when the newest record is older than 3 archive intervals.",
        "gauge",
        vec![(
            String::new(),
            if latest["stale"] == json!(true) {
                1.0
            } else {
                0.0
            },
        )],
    );
    gauge(
        &mut out,
        "weatherd_uptime_seconds",
        "Seconds since the web server started with the daemon.",
        "gauge",
        vec![(String::new(), f(&health["uptime_s"]))],
    );
    gauge(
        &mut out,
        "weatherd_database_bytes",
        "Size of the database and its WAL.",
        "gauge",
        vec![(String::new(), f(&health["database_bytes"]))],
    );
    if let Some(free) = health["disk_free_bytes"].as_f64() {
        gauge(
            &mut out,
            "weatherd_disk_free_bytes",
            "Free bytes on the database's file system.",
            "gauge",
            vec![(String::new(), free)],
        );
    }
    let per = |key: &str, field: &str, label: &str| -> Vec<(String, f64)> {
        health[key]
            .as_array()
            .into_iter()
            .flatten()
            .map(|x| {
                (
                    format!(
                        "{{{label}=\"{}\"}}",
                        label_value(x["name"].as_str().unwrap_or(""))
                    ),
                    f(&x[field]),
                )
            })
            .collect()
    };
    gauge(
        &mut out,
        "weatherd_sensor_faults_24h",
        "Faulty samples per sensor in the last 24 hours.",
        "gauge",
        per("sensors", "faults_24h", "sensor"),
    );
    gauge(
        &mut out,
        "weatherd_upload_backlog",
        "Records waiting to be uploaded, per destination.",
        "gauge",
        per("destinations", "backlog", "destination"),
    );
    Ok(out)
}

pub(super) async fn metrics(s: S, h: HeaderMap, q: Q) -> Response {
    if let Err(e) = Params::parse(q, &[]) {
        return e.into_response();
    }
    let gz = accepts_gzip(&h);
    match s
        .read(move |r, s| Ok(Body::new(metrics_text(r, s)?.into_bytes(), gz)))
        .await
    {
        Ok(body) => body.respond("text/plain; version=0.0.4; charset=utf-8"),
        Err(e) => e.into_response(),
    }
}

/// Bytes a renderer wrote, as a JSON answer (gzipped on the blocking thread).
fn rendered(
    write: impl FnOnce(&mut Vec<u8>) -> std::io::Result<()>,
    gz: bool,
) -> Result<Body, ApiError> {
    let mut out = Vec::new();
    write(&mut out).map_err(|e| ApiError::internal(format!("cannot write the report: {e}")))?;
    Ok(Body::new(out, gz))
}

fn report_error(e: crate::report::ReportError) -> ApiError {
    match e {
        crate::report::ReportError::Store(e) => ApiError::store(e),
        crate::report::ReportError::Period(m) => ApiError::bad("month", m),
    }
}

/// `/api/v1/climate?month=YYYY-MM` or `?year=YYYY`: the report module's JSON, the
/// same as `weatherd report --format json`.
pub(super) async fn climate(s: S, h: HeaderMap, q: Q) -> Response {
    use crate::query::Format;
    let p = match Params::parse(q, &["month", "year"]) {
        Ok(p) => p,
        Err(e) => return e.into_response(),
    };
    let gz = accepts_gzip(&h);
    let answer = s
        .read(move |r, s| {
            let settings = &s.config.report;
            match (p.get("month"), p.get("year")) {
                (Some(_), Some(_)) => Err(ApiError::bad("year", "give month or year, not both")),
                (Some(m), None) => {
                    let (year, month) =
                        crate::report::parse_month(m).map_err(|e| ApiError::bad("month", e))?;
                    let report =
                        crate::report::month(r, year, month, settings).map_err(report_error)?;
                    rendered(
                        |out| crate::report::render_month(&report, Format::Json, out),
                        gz,
                    )
                }
                (None, Some(y)) => {
                    let year =
                        crate::report::parse_year(y).map_err(|e| ApiError::bad("year", e))?;
                    let report = crate::report::year(r, year, settings).map_err(report_error)?;
                    rendered(
                        |out| crate::report::render_year(&report, Format::Json, out),
                        gz,
                    )
                }
                (None, None) => Err(ApiError::bad(
                    "month",
                    "give month=YYYY-MM (a monthly summary) or year=YYYY (a yearly one)",
                )),
            }
        })
        .await;
    match answer {
        Ok(body) => body.respond("application/json; charset=utf-8"),
        Err(e) => e.into_response(),
    }
}

/// `/api/v1/climate/records`: the station's records, as `weatherd report --records
/// --format json` writes them.
pub(super) async fn climate_records(s: S, h: HeaderMap, q: Q) -> Response {
    if let Err(e) = Params::parse(q, &[]) {
        return e.into_response();
    }
    let gz = accepts_gzip(&h);
    let answer = s
        .read(move |r, s| {
            let report = crate::report::records(r, &s.config.report).map_err(report_error)?;
            rendered(
                |out| crate::report::render_records(&report, crate::query::Format::Json, out),
                gz,
            )
        })
        .await;
    match answer {
        Ok(body) => body.respond("application/json; charset=utf-8"),
        Err(e) => e.into_response(),
    }
}
