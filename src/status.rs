//! `weatherd status`: how each upload destination and each sensor is doing, read from
//! the database (read-only; safe while the daemon runs).

use crate::config::Config;
use crate::store::{Reader, SensorFaults, StoreError, UploadStatus};
use crate::time::Timestamp;
use std::io::{self, Write};

/// What `status` prints.
#[derive(Clone, Debug, PartialEq)]
pub struct Report {
    pub now: Timestamp,
    pub records: i64,
    pub newest: Option<Timestamp>,
    pub uploads: Vec<UploadLine>,
    pub sensors: Vec<SensorLine>,
    /// The station's report of records waiting in its memory (`<db>.state`).
    pub pending: Option<crate::store::PendingState>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct UploadLine {
    /// `http → https://…`, `mqtt → host:port`, or why it is not in the config.
    pub target: String,
    pub status: UploadStatus,
    /// What `status` sees in the database itself that keeps this destination from
    /// sending, with the fix, whether or not the daemon runs (it may not be able to
    /// write its own state: a full disk).
    pub problem: Option<String>,
}

/// A stall visible in the database alone: a cursor beyond the newest record (the
/// database was replaced or restored from an older backup), so records stored next
/// reuse ids the server already has and are held back.
fn cursor_problem(status: &UploadStatus, newest_id: i64, db: &std::path::Path) -> Option<String> {
    (status.cursor > newest_id).then(|| {
        format!(
            "the cursor is at record {} but the newest stored record is {newest_id}; records \
             stored next are held back. If the server does not have records after {newest_id}, \
             set the cursor back with weatherd stopped: sqlite3 {} \"UPDATE state SET value = \
             {newest_id} WHERE key = 'upload_cursor.{}'\"",
            status.cursor,
            db.display(),
            status.name
        )
    })
}

#[derive(Clone, Debug, PartialEq)]
pub struct SensorLine {
    pub name: String,
    /// The driver type; empty for a sensor known only from the fault table.
    pub kind: String,
    /// When the sensor last gave a valid value (the end of that record's interval).
    pub last_reading: Option<Timestamp>,
    pub faults_24h: i64,
    pub faults_total: i64,
    pub last_fault: Option<(Timestamp, String)>,
}

/// Collects the report. With a config, destinations and sensors come from it (plus any
/// the database knows that the config no longer has); without, from the database.
pub fn gather(
    store: &Reader,
    config: Option<&Config>,
    now: Timestamp,
) -> Result<Report, StoreError> {
    let mut uploads = Vec::new();
    let mut names_done = Vec::new();
    let newest_id = store.last_id()?;
    let line = |target: String, status: UploadStatus| UploadLine {
        problem: cursor_problem(&status, newest_id, store.path()),
        target,
        status,
    };
    if let Some(config) = config {
        for u in &config.upload {
            uploads.push(line(u.target(), store.upload_status(u.name())?));
            names_done.push(u.name().to_string());
        }
    }
    for name in store.upload_names()? {
        if names_done.contains(&name) {
            continue;
        }
        let target = if config.is_some() {
            "not in the config any more".into()
        } else {
            String::new()
        };
        uploads.push(line(target, store.upload_status(&name)?));
    }

    let faults = store.sensor_faults(now.add_secs(-86_400))?;
    let find = |name: &str| faults.iter().find(|f| f.sensor == name);
    let line = |name: &str, kind: &str, last_reading, f: Option<&SensorFaults>| SensorLine {
        name: name.to_string(),
        kind: kind.to_string(),
        last_reading,
        faults_24h: f.map_or(0, |f| f.recent),
        faults_total: f.map_or(0, |f| f.total),
        last_fault: f.and_then(|f| Some((f.last_at?, f.last_message.clone().unwrap_or_default()))),
    };
    let mut sensors = Vec::new();
    if let Some(config) = config {
        for (name, sensor) in &config.sensors {
            let mut last: Option<Timestamp> = None;
            for q in sensor.quantities() {
                let t = store.last_valid(&q)?;
                last = last.max(t);
            }
            sensors.push(line(name, sensor.type_name(), last, find(name)));
        }
    }
    for f in &faults {
        if !sensors.iter().any(|s| s.name == f.sensor) {
            sensors.push(line(&f.sensor, "", None, Some(f)));
        }
    }
    Ok(Report {
        now,
        records: store.record_count()?,
        newest: store.resume()?.last_end,
        uploads,
        sensors,
        pending: crate::store::PendingReport::read(store.path()),
    })
}

/// A record may end this far after `now` (a record ends at its interval's end, and
/// clocks differ a little) before status calls it future-dated.
const FUTURE_SLACK_S: i64 = 300;

/// The store lines: a future-dated newest record, and records the station could not
/// write yet.
fn render_store(r: &Report, out: &mut impl Write) -> io::Result<()> {
    if let Some(newest) = r
        .newest
        .filter(|t| t.secs() > r.now.secs() + FUTURE_SLACK_S)
    {
        writeln!(
            out,
            "  WARNING: the newest record ends {newest}, after now ({}): the station archives \
             nothing until then. {}",
            r.now,
            crate::station::FUTURE_FIX
        )?;
    }
    let Some(p) = &r.pending else { return Ok(()) };
    if p.waiting > 0 {
        writeln!(
            out,
            "Store: {} records waiting to be written since {} (last error: {}); reported {} by pid {}",
            p.waiting,
            time(p.since),
            p.last_error.as_deref().unwrap_or("none"),
            p.updated,
            p.pid
        )?;
    } else if p.dropped == 0 {
        writeln!(
            out,
            "Store: every record written (reported {} by pid {})",
            p.updated, p.pid
        )?;
    }
    if p.dropped > 0 {
        writeln!(
            out,
            "Store: {} records could not be written and were lost (last error: {}; reported {} by pid {})",
            p.dropped,
            p.last_error.as_deref().unwrap_or("none"),
            p.updated,
            p.pid
        )?;
    }
    Ok(())
}

fn time(t: Option<Timestamp>) -> String {
    t.map_or_else(|| "never".to_string(), |t| t.rfc3339())
}

/// Writes the report for a person at a terminal.
pub fn render(r: &Report, out: &mut impl Write) -> io::Result<()> {
    writeln!(
        out,
        "Database: {} records, newest ends {}",
        r.records,
        time(r.newest)
    )?;
    render_store(r, out)?;
    writeln!(out)?;
    writeln!(out, "Uploads")?;
    if r.uploads.is_empty() {
        writeln!(out, "  none configured")?;
    }
    for u in &r.uploads {
        let s = &u.status;
        if u.target.is_empty() {
            writeln!(out, "  {}", s.name)?;
        } else {
            writeln!(out, "  {} ({})", s.name, u.target)?;
        }
        writeln!(
            out,
            "    state:        {}",
            s.state.as_deref().unwrap_or("not started yet")
        )?;
        match s.oldest_waiting {
            Some(oldest) => writeln!(
                out,
                "    backlog:      {} records, oldest starts {}",
                s.backlog,
                oldest.rfc3339()
            )?,
            None => writeln!(out, "    backlog:      none")?,
        }
        writeln!(
            out,
            "    last success: {} (cursor at record {})",
            time(s.last_success),
            s.cursor
        )?;
        match (&s.last_error, s.last_error_at) {
            (Some(e), at) => writeln!(out, "    last error:   {} {e}", time(at))?,
            (None, _) => writeln!(out, "    last error:   none")?,
        }
        if let Some((observed, what)) = &s.last_sent {
            writeln!(
                out,
                "    last sent:    observation of {} {what}",
                observed.rfc3339()
            )?;
        }
        if let Some(problem) = &u.problem {
            writeln!(out, "    stalled:      {problem}")?;
        }
    }
    writeln!(out)?;
    writeln!(out, "Sensors")?;
    if r.sensors.is_empty() {
        writeln!(out, "  none configured, no faults recorded")?;
    }
    for s in &r.sensors {
        if s.kind.is_empty() {
            writeln!(out, "  {}", s.name)?;
        } else {
            writeln!(out, "  {} ({})", s.name, s.kind)?;
            writeln!(out, "    last reading: {}", time(s.last_reading))?;
        }
        writeln!(
            out,
            "    faults:       {} in the last 24 h, {} in total",
            s.faults_24h, s.faults_total
        )?;
        if let Some((at, message)) = &s.last_fault {
            writeln!(out, "    last fault:   {} {message}", at.rfc3339())?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::observation::{FaultKind, Quantity};
    use crate::record::{ArchiveRecord, FaultCount, Stat};
    use std::sync::Arc;

    #[test]
    fn report_shows_backlog_errors_readings_and_faults() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("w.db");
        let mut store = crate::store::Store::open(&db, chrono_tz::UTC).unwrap();
        let now = Timestamp::from_secs(1_767_225_600 + 86_400 * 2);
        let rec = |i: i64, faults: Vec<FaultCount>| ArchiveRecord {
            start: Timestamp::from_secs(1_767_225_600 + 60 * i),
            end: Timestamp::from_secs(1_767_225_660 + 60 * i),
            samples: 12,
            temperature_c: Stat {
                mean: Some(1.0),
                min: Some(1.0),
                max: Some(1.0),
                n: if i < 2 { 12 } else { 0 },
            },
            faults,
            ..Default::default()
        };
        let fault = |at: i64| FaultCount {
            sensor: Arc::from("bme280"),
            quantity: Some(Quantity::TemperatureC),
            kind: FaultKind::Timeout,
            count: 12,
            first_at: Timestamp::from_secs(at),
            message: "no answer in 2000 ms".into(),
        };
        store.insert(&rec(0, vec![])).unwrap();
        store.insert(&rec(1, vec![])).unwrap();
        store.insert(&rec(2, vec![fault(1_767_225_720)])).unwrap();
        // A record inside the last 24 h with a fault.
        let mut late = rec(2 * 1440 - 10, vec![fault(now.secs() - 600)]);
        late.temperature_c.n = 0;
        store.insert(&late).unwrap();
        let mut outbox = crate::store::Store::open_outbox(&db).unwrap();
        outbox
            .ack_upload("school", 1, Timestamp::from_secs(1_767_225_700))
            .unwrap();
        outbox
            .set_upload_state(
                "school",
                "failing",
                Some(("HTTP 503 Service Unavailable", now)),
            )
            .unwrap();

        let config = Config::from_toml(&format!(
            "{}\n[[upload]]\ntype = \"http\"\nname = \"school\"\nurl = \"https://x.example/in\"\n",
            crate::config::EXAMPLE_TOML
        ))
        .unwrap();
        let reader = crate::store::Store::open_read_only(&db).unwrap();
        let report = gather(&reader, Some(&config), now).unwrap();
        let mut out = Vec::new();
        render(&report, &mut out).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert!(
            text.contains("school (http → https://x.example/in)"),
            "{text}"
        );
        assert!(text.contains("state:        failing"), "{text}");
        assert!(
            text.contains("backlog:      3 records, oldest starts 2026-01-01T00:01:00Z"),
            "{text}"
        );
        assert!(
            text.contains("last error:   2026-01-03T00:00:00Z HTTP 503"),
            "{text}"
        );
        assert!(text.contains("bme280 (bme280)"), "{text}");
        assert!(
            text.contains("last reading: 2026-01-01T00:02:00Z"),
            "{text}"
        );
        assert!(
            text.contains("faults:       12 in the last 24 h, 24 in total"),
            "{text}"
        );
        assert!(text.contains("no answer in 2000 ms"), "{text}");
        let rain = report.sensors.iter().find(|s| s.name == "rain").unwrap();
        assert_eq!((rain.last_reading, rain.faults_total), (None, 0));
    }
}
