//! The current-conditions networks (Weather Underground, WOW, Windy, CWOP) end to end:
//! the weatherd binary runs a simulated station whose `[[upload]]` tables point at
//! strict fake servers (tests/support/networks.rs) started here; what they received
//! is checked against independent unit conversions of the records in the database,
//! the networks' rate limits and each one's backlog rule after an outage.

mod support;

use rusqlite::Connection;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;
use support::networks::{FakeAprs, FakeHttp, Kind, Script, Seen};

const BIN: &str = env!("CARGO_BIN_EXE_weatherd");
/// 2026-01-05T00:00:00Z; the station's zone (Europe/London) is UTC in January.
const START: i64 = 1_767_571_200;
const START_TEXT: &str = "2026-01-05T00:00:00Z";
/// 2026-01-01T00:00:00Z, for APRS's day-of-month timestamps.
const MONTH_START: i64 = 1_767_225_600;
const SPEED: f64 = 600.0;
const LATITUDE: f64 = 52.2053;
const LONGITUDE: f64 = 0.1218;
const ELEVATION_M: f64 = 20.0;

fn secret_file(dir: &Path, name: &str, value: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, format!("{value}\n")).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
    path
}

/// The embedded example config (sensors on simulated hardware) plus these uploads.
fn write_config(dir: &Path, uploads: &str) -> PathBuf {
    let text = format!("{}\n{uploads}", weatherd::config::EXAMPLE_TOML);
    let path = dir.join("weatherd.toml");
    std::fs::write(&path, text).unwrap();
    path
}

struct Run {
    stderr: String,
    status: String,
}

/// Runs the station simulated for `duration` (`4h`) from [`START`] at [`SPEED`], with logs at
/// trace level, then `weatherd status`.
fn run_station(config: &Path, db: &Path, duration: &str) -> Run {
    let out = Command::new(BIN)
        .args([
            "run",
            "--simulate",
            "--speed",
            &SPEED.to_string(),
            "--start",
            START_TEXT,
        ])
        .args(["--duration", duration, "--drain-timeout", "10s"])
        .arg("--config")
        .arg(config)
        .arg("--db")
        .arg(db)
        .env("RUST_LOG", "trace")
        .output()
        .expect("weatherd runs");
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "weatherd failed: {}", tail(&stderr));
    let status = Command::new(BIN)
        .arg("status")
        .arg("--config")
        .arg(config)
        .arg("--db")
        .arg(db)
        .output()
        .expect("weatherd status runs");
    Run {
        stderr,
        status: String::from_utf8_lossy(&status.stdout).into_owned()
            + &String::from_utf8_lossy(&status.stderr),
    }
}

fn tail(s: &str) -> &str {
    &s[s.len().saturating_sub(3000)..]
}

/// One archive record, as the database has it.
#[derive(Debug, Clone)]
struct Rec {
    start: i64,
    end: i64,
    temperature_c: Option<f64>,
    humidity_pct: Option<f64>,
    dew_point_c: Option<f64>,
    pressure_hpa: Option<f64>,
    sea_level_hpa: Option<f64>,
    wind_kmh: Option<f64>,
    gust_kmh: Option<f64>,
    dir_deg: Option<f64>,
    rain_mm: Option<f64>,
    ground_c: Option<f64>,
}

fn records(db: &Path) -> Vec<Rec> {
    let c = Connection::open(db).unwrap();
    let mut stmt = c
        .prepare(
            "SELECT start_ts, end_ts, temperature_c, humidity_pct, dew_point_c, pressure_hpa, \
             sea_level_pressure_hpa, wind_speed_kmh, wind_gust_kmh, wind_dir_deg, rain_mm, \
             ground_temperature_c FROM archive ORDER BY start_ts",
        )
        .unwrap();
    stmt.query_map([], |r| {
        Ok(Rec {
            start: r.get(0)?,
            end: r.get(1)?,
            temperature_c: r.get(2)?,
            humidity_pct: r.get(3)?,
            dew_point_c: r.get(4)?,
            pressure_hpa: r.get(5)?,
            sea_level_hpa: r.get(6)?,
            wind_kmh: r.get(7)?,
            gust_kmh: r.get(8)?,
            dir_deg: r.get(9)?,
            rain_mm: r.get(10)?,
            ground_c: r.get(11)?,
        })
    })
    .unwrap()
    .collect::<Result<_, _>>()
    .unwrap()
}

// Independent conversions (not weatherd's).
fn f(c: f64) -> f64 {
    c * 9.0 / 5.0 + 32.0
}
fn mph(kmh: f64) -> f64 {
    kmh / 1.609344
}
fn inhg(hpa: f64) -> f64 {
    hpa / 33.8639
}
fn altimeter(p: f64, h: f64) -> f64 {
    (p.powf(0.190284) + 8.4228807e-5 * h).powf(1.0 / 0.190284)
}
/// Rain (mm) in the records starting in `[from, to)`; `None` when none had gauge data.
fn rain(recs: &[Rec], from: i64, to: i64) -> Option<f64> {
    let v: Vec<f64> = recs
        .iter()
        .filter(|r| r.start >= from && r.start < to)
        .filter_map(|r| r.rain_mm)
        .collect();
    (!v.is_empty()).then(|| v.iter().sum())
}
fn day_rain(recs: &[Rec], r: &Rec) -> Option<f64> {
    let midnight = r.start - r.start.rem_euclid(86_400); // UTC = station time in January
    rain(recs, midnight, r.end)
}

fn close(what: &str, got: Option<f64>, want: Option<f64>, tol: f64) {
    match (got, want) {
        (Some(g), Some(w)) => assert!((g - w).abs() <= tol, "{what}: sent {g}, expected {w}"),
        (None, None) => {}
        _ => panic!("{what}: sent {got:?}, expected {want:?}"),
    }
}

fn find(recs: &[Rec], end: i64) -> &Rec {
    recs.iter()
        .find(|r| r.end == end)
        .unwrap_or_else(|| panic!("an observation at {end} that is no record's end"))
}

fn check_imperial(s: &Seen, recs: &[Rec]) {
    let r = find(recs, s.observed.unwrap());
    close("tempf", s.num("tempf"), r.temperature_c.map(f), 0.051);
    close(
        "humidity",
        s.num("humidity"),
        r.humidity_pct.map(f64::round),
        0.0,
    );
    close("dewptf", s.num("dewptf"), r.dew_point_c.map(f), 0.051);
    close(
        "baromin",
        s.num("baromin"),
        r.sea_level_hpa.map(inhg),
        0.000_51,
    );
    close(
        "windspeedmph",
        s.num("windspeedmph"),
        r.wind_kmh.map(mph),
        0.051,
    );
    close(
        "windgustmph",
        s.num("windgustmph"),
        r.gust_kmh.map(mph),
        0.051,
    );
    close("winddir", s.num("winddir"), r.dir_deg.map(f64::round), 0.0);
    close(
        "rainin",
        s.num("rainin"),
        rain(recs, r.end - 3600, r.end).map(|mm| mm / 25.4),
        0.0051,
    );
    close(
        "dailyrainin",
        s.num("dailyrainin"),
        day_rain(recs, r).map(|mm| mm / 25.4),
        0.0051,
    );
    close("soiltempf", s.num("soiltempf"), r.ground_c.map(f), 0.051);
}

fn check_metric(s: &Seen, recs: &[Rec]) {
    let r = find(recs, s.observed.unwrap());
    close("temp", s.num("temp"), r.temperature_c, 0.051);
    close("rh", s.num("rh"), r.humidity_pct.map(f64::round), 0.0);
    close("dewpoint", s.num("dewpoint"), r.dew_point_c, 0.051);
    close(
        "pressure",
        s.num("pressure"),
        r.sea_level_hpa.map(|p| p * 100.0),
        0.51,
    );
    close("wind", s.num("wind"), r.wind_kmh.map(|k| k / 3.6), 0.051);
    close("gust", s.num("gust"), r.gust_kmh.map(|k| k / 3.6), 0.051);
    close("winddir", s.num("winddir"), r.dir_deg.map(f64::round), 0.0);
    close(
        "precip",
        s.num("precip"),
        rain(recs, r.end - 3600, r.end),
        0.051,
    );
}

/// Accepted observations: strictly later each, at least `interval` apart.
fn accepted_times(seen: &[Seen], interval: i64) -> Vec<i64> {
    let times: Vec<i64> = seen
        .iter()
        .filter(|s| s.accepted())
        .map(|s| s.observed.unwrap())
        .collect();
    for w in times.windows(2) {
        assert!(
            w[1] - w[0] >= interval,
            "sent {} s apart, the limit is {interval}: {times:?}",
            w[1] - w[0]
        );
    }
    times
}

/// WU, Windy and CWOP: the network never gets an observation older than one it was
/// already offered, so after an outage it gets the current conditions, not a backlog.
fn never_backwards(what: &str, observed: &[i64]) {
    for w in observed.windows(2) {
        assert!(
            w[1] >= w[0],
            "{what} was sent an older observation ({} after {}): a backlog",
            w[1],
            w[0]
        );
    }
}

#[test]
fn four_networks_get_converted_current_conditions_on_their_schedule_and_outages_follow_each_backlog_rule(
) {
    let dir = tempfile::tempdir().unwrap();
    let hours = 4;
    // Down for 1.5 real seconds (15 simulated minutes at 600x) from the first
    // observation at or after 01:30.
    let outage = |interval: i64| Script {
        id: String::new(),
        secret: String::new(),
        min_interval_s: interval,
        outage_from: Some(START + 5400),
        outage_for: Duration::from_millis(1500),
    };
    let wu = FakeHttp::start(
        Kind::Wunderground,
        Script {
            id: "ITEST1".into(),
            secret: "wu-pass".into(),
            ..outage(300)
        },
    );
    let wow = FakeHttp::start(
        Kind::Wow,
        Script {
            id: "987654".into(),
            secret: "wow-key".into(),
            ..outage(300)
        },
    );
    let windy = FakeHttp::start(
        Kind::Windy,
        Script {
            id: "st-1".into(),
            secret: "windy-pw".into(),
            ..outage(300)
        },
    );
    let aprs = FakeAprs::start("CW0001", None, outage(600), MONTH_START);
    // Rapid-fire WU: WU's own limit is one per 2.5 s; no outage.
    let rapid = FakeHttp::start(
        Kind::Wunderground,
        Script {
            id: "IRAPID1".into(),
            secret: "rf-pass".into(),
            min_interval_s: 3,
            outage_from: None,
            outage_for: Duration::ZERO,
        },
    );
    // A server that refuses connections, listed first: the uploader must rotate.
    let dead = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().to_string()
    };
    let fast = "backoff_initial_seconds = 1\nbackoff_max_seconds = 1\ntimeout_seconds = 5\n";
    let uploads = format!(
        "[[upload]]\ntype = \"wunderground\"\nname = \"wu\"\nstation_id = \"ITEST1\"\npassword_file = \"{}\"\nurl = \"{}\"\n{fast}\n\
         [[upload]]\ntype = \"wow\"\nname = \"wow\"\nsite_id = \"987654\"\nkey_file = \"{}\"\nurl = \"{}\"\n{fast}\n\
         [[upload]]\ntype = \"windy\"\nname = \"windy\"\nstation_id = \"st-1\"\npassword_file = \"{}\"\nurl = \"{}\"\n{fast}\n\
         [[upload]]\ntype = \"wunderground\"\nname = \"wu-rapid\"\nstation_id = \"IRAPID1\"\npassword_file = \"{}\"\nurl = \"{}\"\nrapidfire = true\ninterval_seconds = 60\n{fast}\n\
         [[upload]]\ntype = \"cwop\"\nname = \"cwop\"\ncallsign = \"CW0001\"\nservers = [\"{dead}\", \"{}\"]\n{fast}\n",
        secret_file(dir.path(), "wu.key", "wu-pass").display(),
        wu.url(Kind::Wunderground),
        secret_file(dir.path(), "wow.key", "wow-key").display(),
        wow.url(Kind::Wow),
        secret_file(dir.path(), "windy.key", "windy-pw").display(),
        windy.url(Kind::Windy),
        secret_file(dir.path(), "rf.key", "rf-pass").display(),
        rapid.url(Kind::Wunderground),
        aprs.addr,
    );
    let config = write_config(dir.path(), &uploads);
    let db = dir.path().join("w.db");
    let run = run_station(&config, &db, &format!("{hours}h"));
    let recs = records(&db);
    assert!(recs.len() >= 200, "{} records", recs.len());

    // Weather Underground: every field converted, on its 5-minute schedule.
    let seen = wu.seen();
    let refused: Vec<&Seen> = seen.iter().filter(|s| !s.accepted()).collect();
    assert!(
        refused.iter().all(|s| s.status == 503),
        "WU refused for another reason: {:?}",
        refused.iter().map(|s| &s.why).collect::<Vec<_>>()
    );
    assert!(!refused.is_empty(), "the outage never happened");
    for s in seen.iter().filter(|s| s.accepted()) {
        check_imperial(s, &recs);
        assert!(
            !s.fields.contains_key("realtime"),
            "rapid-fire was not asked for"
        );
    }
    let times = accepted_times(&seen, 300);
    // 4 h at one per 5 minutes, less the outage (about 15 minutes) and the start.
    assert!(times.len() >= 40, "WU got {} observations", times.len());
    // The outage is a hole: what was missed is not sent later.
    let wu_hole = times
        .windows(2)
        .map(|w| (w[0], w[1]))
        .max_by_key(|(a, b)| b - a)
        .unwrap();
    assert!(
        wu_hole.1 - wu_hole.0 >= 900,
        "WU has no hole where the outage was: {times:?}"
    );
    never_backwards(
        "WU",
        &seen.iter().filter_map(|s| s.observed).collect::<Vec<_>>(),
    );

    // Rapid-fire: realtime=1&rtfreq=60, every record (one a minute) as it is stored.
    let seen = rapid.seen();
    assert!(seen.iter().all(Seen::accepted), "rapid-fire refused");
    for s in &seen {
        check_imperial(s, &recs);
        assert_eq!(s.fields.get("realtime").map(String::as_str), Some("1"));
        assert_eq!(s.fields.get("rtfreq").map(String::as_str), Some("60"));
    }
    let times = accepted_times(&seen, 60);
    assert!(
        times.len() + 5 >= recs.len(),
        "rapid-fire sent {} of {} records",
        times.len(),
        recs.len()
    );

    // Windy: metric, same schedule, same backlog rule.
    let seen = windy.seen();
    assert!(
        seen.iter().all(|s| s.accepted() || s.status == 503),
        "{seen:?}"
    );
    assert!(
        seen.iter().any(|s| s.status == 503),
        "the outage never happened"
    );
    for s in seen.iter().filter(|s| s.accepted()) {
        check_metric(s, &recs);
    }
    assert!(accepted_times(&seen, 300).len() >= 40);
    never_backwards(
        "Windy",
        &seen.iter().filter_map(|s| s.observed).collect::<Vec<_>>(),
    );

    // WOW: the same imperial fields; after the outage the missed observations, one per
    // interval, so the series has no hole, sent no faster than the polite pace.
    let seen = wow.seen();
    assert!(
        seen.iter().all(|s| s.accepted() || s.status == 503),
        "{seen:?}"
    );
    let accepted: Vec<&Seen> = seen.iter().filter(|s| s.accepted()).collect();
    for s in &accepted {
        check_imperial(s, &recs);
    }
    let times = accepted_times(&seen, 300);
    for w in times.windows(2) {
        assert_eq!(w[1] - w[0], 300, "WOW's series has a hole: {times:?}");
    }
    // Where WU (current conditions only) has its hole, WOW got the missed ones.
    let backfilled: Vec<&&Seen> = accepted
        .iter()
        .filter(|s| s.observed.unwrap() > wu_hole.0 && s.observed.unwrap() < wu_hole.1)
        .collect();
    assert!(
        backfilled.len() >= 2,
        "WOW was not sent the missed observations: {times:?}"
    );
    // At most one request per 5 s of the station's clock: 5 s / 600 in real time
    // between the starts of two requests. Over the whole backfill (a lower bound that
    // sleeping guarantees; only the first request's own transit time is allowed for,
    // as 20 %), so one request's scheduling jitter cannot fail it.
    let span = backfilled.last().unwrap().received - backfilled[0].received;
    let least = Duration::from_secs(5).div_f64(SPEED) * (backfilled.len() as u32 - 1);
    assert!(
        span >= least.mul_f64(0.8),
        "{} backfill requests in {span:?}, faster than one per 5 s of the station's clock",
        backfilled.len()
    );

    // CWOP: the APRS grammar, the position, the values, 10-minute schedule, rotation.
    let sessions = aprs.seen();
    assert!(!sessions.is_empty());
    let mut reported = Vec::new();
    for s in &sessions {
        assert!(
            s.login.starts_with("user CW0001 pass -1 vers weatherd "),
            "{}",
            s.login
        );
        assert!(!s.verified);
        let r = s
            .report
            .as_ref()
            .unwrap_or_else(|e| panic!("{e}: {:?}", s.packet));
        assert_eq!(r.call, "CW0001");
        assert!(
            (r.latitude - LATITUDE).abs() < 0.0002 && (r.longitude - LONGITUDE).abs() < 0.0002,
            "{r:?}"
        );
        let t = MONTH_START
            + i64::from(r.dhm.0 - 1) * 86_400
            + i64::from(r.dhm.1) * 3600
            + i64::from(r.dhm.2) * 60;
        reported.push(t);
        if !s.accepted {
            continue;
        }
        let rec = find(&recs, t);
        let near = |k: char, want: Option<f64>| {
            let got = r.fields[&k];
            match (got, want) {
                (Some(g), Some(w)) => {
                    assert!((g as f64 - w).abs() <= 0.5 + 1e-6, "{k}: {g} vs {w}")
                }
                (None, None) => {}
                _ => panic!("{k}: {got:?} vs {want:?} in {:?}", s.packet),
            }
        };
        near('t', rec.temperature_c.map(f));
        near('/', rec.wind_kmh.map(mph));
        near('g', rec.gust_kmh.map(mph));
        near('r', rain(&recs, t - 3600, t).map(|mm| mm / 25.4 * 100.0));
        near('p', rain(&recs, t - 86_400, t).map(|mm| mm / 25.4 * 100.0));
        near('P', day_rain(&recs, rec).map(|mm| mm / 25.4 * 100.0));
        near(
            'b',
            rec.pressure_hpa.map(|p| altimeter(p, ELEVATION_M) * 10.0),
        );
        let h = rec
            .humidity_pct
            .map(|h| if h.round() >= 100.0 { 0.0 } else { h });
        near('h', h);
        if let Some(d) = rec.dir_deg {
            near('c', Some(d));
        }
    }
    // Every session that got through was accepted: none broke the 10-minute limit.
    assert!(
        sessions.iter().all(|s| s.accepted),
        "a CWOP report was refused"
    );
    assert!(reported.len() >= 18, "CWOP got {} reports", reported.len());
    never_backwards("CWOP", &reported);
    // The outage (connections dropped) left a hole; nothing missed was sent later.
    let hole = reported.windows(2).map(|w| w[1] - w[0]).max().unwrap();
    assert!(
        hole > 600,
        "no hole where the APRS-IS outage was: {reported:?}"
    );

    // What was sent, in `weatherd status`.
    assert_eq!(
        run.status.matches("last sent:").count(),
        5,
        "{}",
        run.status
    );
    assert!(
        run.status.contains("CW0001>APRS,TCPIP*:@"),
        "{}",
        run.status
    );
    for secret in ["wu-pass", "wow-key", "windy-pw", "rf-pass"] {
        assert!(!run.stderr.contains(secret), "{secret} in the logs");
        assert!(!run.status.contains(secret), "{secret} in the status");
    }
}

#[test]
fn bad_credentials_stop_each_network_with_one_log_line_and_a_status_and_leak_nowhere() {
    let dir = tempfile::tempdir().unwrap();
    let script = |id: &str, secret: &str, interval: i64| Script {
        id: id.into(),
        secret: secret.into(),
        min_interval_s: interval,
        outage_from: None,
        outage_for: Duration::ZERO,
    };
    let wu = FakeHttp::start(Kind::Wunderground, script("ITEST1", "right-wu", 300));
    let wow = FakeHttp::start(Kind::Wow, script("987654", "right-wow", 300));
    let windy = FakeHttp::start(Kind::Windy, script("st-1", "right-windy", 300));
    let aprs = FakeAprs::start("K1ABC-13", Some("23456"), script("", "", 600), MONTH_START);
    let wrong = [
        "Wr0ng-wu-s3cret",
        "Wr0ng-wow-s3cret",
        "Wr0ng-windy-s3cret",
        // A CWOP passcode is a number below 32768: high, so that it is unlikely to be
        // any other number in a trace log (and checked as a whole number below).
        "32109",
    ];
    let uploads = format!(
        "[[upload]]\ntype = \"wunderground\"\nname = \"wu\"\nstation_id = \"ITEST1\"\npassword_file = \"{}\"\nurl = \"{}\"\n\n\
         [[upload]]\ntype = \"wow\"\nname = \"wow\"\nsite_id = \"987654\"\nkey_file = \"{}\"\nurl = \"{}\"\n\n\
         [[upload]]\ntype = \"windy\"\nname = \"windy\"\nstation_id = \"st-1\"\npassword_file = \"{}\"\nurl = \"{}\"\n\n\
         [[upload]]\ntype = \"cwop\"\nname = \"cwop\"\ncallsign = \"K1ABC-13\"\npasscode_file = \"{}\"\nservers = [\"{}\"]\n",
        secret_file(dir.path(), "wu.key", wrong[0]).display(),
        wu.url(Kind::Wunderground),
        secret_file(dir.path(), "wow.key", wrong[1]).display(),
        wow.url(Kind::Wow),
        secret_file(dir.path(), "windy.key", wrong[2]).display(),
        windy.url(Kind::Windy),
        secret_file(dir.path(), "cwop.pass", wrong[3]).display(),
        aprs.addr,
    );
    let config = write_config(dir.path(), &uploads);
    let db = dir.path().join("w.db");
    let run = run_station(&config, &db, "2h");
    assert!(records(&db).len() >= 100);

    // One attempt each (retrying cannot help), one log line each, however long it runs.
    assert_eq!(wu.seen().len(), 1, "{:?}", wu.seen());
    assert_eq!(wu.seen()[0].status, 401);
    assert_eq!(wow.seen().len(), 1);
    assert_eq!(wow.seen()[0].status, 403);
    assert_eq!(windy.seen().len(), 1);
    assert_eq!(windy.seen()[0].status, 401);
    assert_eq!(aprs.seen().len(), 1);
    assert!(!aprs.seen()[0].verified && !aprs.seen()[0].accepted);
    for name in ["wu", "wow", "windy", "cwop"] {
        let lines: Vec<&str> = run
            .stderr
            .lines()
            .filter(|l| {
                l.contains("upload stopped")
                    && l.split_whitespace()
                        .any(|w| w == format!("destination={name}"))
            })
            .collect();
        assert_eq!(lines.len(), 1, "{name}: {lines:?}");
        assert!(
            lines[0].contains("credentials") || lines[0].contains("passcode"),
            "{name}: the line says why: {}",
            lines[0]
        );
    }
    assert_eq!(
        run.status.matches("state:        stopped:").count(),
        4,
        "{}",
        run.status
    );
    let db_bytes = std::fs::read(&db).unwrap();
    for secret in wrong {
        assert!(
            !leaks(&run.stderr, secret),
            "{secret} in the trace-level logs"
        );
        assert!(!leaks(&run.status, secret), "{secret} in the status");
        assert!(
            !db_bytes
                .windows(secret.len())
                .any(|w| w == secret.as_bytes()),
            "{secret} in the database"
        );
    }
}

/// Whether `text` shows `secret`. A numeric secret (a CWOP passcode) counts only as a
/// whole number: its digits inside a longer number (a timestamp, a tick's lateness in
/// microseconds) are not the passcode.
fn leaks(text: &str, secret: &str) -> bool {
    if !secret.bytes().all(|b| b.is_ascii_digit()) {
        return text.contains(secret);
    }
    text.match_indices(secret).any(|(i, _)| {
        let before = text[..i].bytes().next_back();
        let after = text[i + secret.len()..].bytes().next();
        !before.is_some_and(|b| b.is_ascii_digit()) && !after.is_some_and(|b| b.is_ascii_digit())
    })
}

#[test]
fn intervals_below_each_networks_limit_are_refused_with_the_key() {
    for (table, min) in [
        ("type = \"cwop\"\ncallsign = \"CW0001\"\ninterval_seconds = 299", "300"),
        ("type = \"windy\"\nstation_id = \"a\"\npassword_file = \"/k\"\ninterval_seconds = 60", "300"),
        ("type = \"wow\"\nsite_id = \"1\"\nkey_file = \"/k\"\ninterval_seconds = 120", "300"),
        ("type = \"wunderground\"\nstation_id = \"I1\"\npassword_file = \"/k\"\ninterval_seconds = 30", "60"),
        (
            "type = \"wunderground\"\nstation_id = \"I1\"\npassword_file = \"/k\"\nrapidfire = true\ninterval_seconds = 2",
            "5",
        ),
    ] {
        let text = format!("{}\n[[upload]]\nname = \"n\"\n{table}\n", weatherd::config::EXAMPLE_TOML);
        let err = weatherd::config::Config::from_toml(&text).expect_err(table).to_string();
        assert!(
            err.contains("upload[0].interval_seconds") && err.contains(&format!("from {min}")),
            "{table}: {err}"
        );
    }
    // The secret is required where the network needs one, and a password in the URL's
    // user info is refused.
    let text = format!(
        "{}\n[[upload]]\nname = \"n\"\ntype = \"wunderground\"\nstation_id = \"I1\"\n",
        weatherd::config::EXAMPLE_TOML
    );
    let err = weatherd::config::Config::from_toml(&text)
        .unwrap_err()
        .to_string();
    assert!(err.contains("upload[0].password_file"), "{err}");
}

/// The time of the last accepted observation is kept in the database: a restart right
/// after an upload does not send again before the interval has passed.
#[test]
fn a_restart_keeps_the_schedule() {
    let dir = tempfile::tempdir().unwrap();
    let wu = FakeHttp::start(
        Kind::Wunderground,
        Script {
            id: "ITEST1".into(),
            secret: "wu-pass".into(),
            min_interval_s: 300,
            outage_from: None,
            outage_for: Duration::ZERO,
        },
    );
    let uploads = format!(
        "[[upload]]\ntype = \"wunderground\"\nname = \"wu\"\nstation_id = \"ITEST1\"\npassword_file = \"{}\"\nurl = \"{}\"\n",
        secret_file(dir.path(), "wu.key", "wu-pass").display(),
        wu.url(Kind::Wunderground),
    );
    let config = write_config(dir.path(), &uploads);
    let db = dir.path().join("w.db");
    // Observations go out every 5 minutes from the first record's end (00:01), so a
    // run that ends at 00:56 ends with an upload.
    run_station(&config, &db, "56m");
    let first = accepted_times(&wu.seen(), 300);
    assert_eq!(first.last(), Some(&(START + 56 * 60)), "{first:?}");
    // The second run resumes where the database ends: its first record (00:57) is
    // not due; the next upload is 01:01.
    run_station(&config, &db, "2h");
    let seen = wu.seen();
    assert!(
        seen.iter().all(Seen::accepted),
        "a request broke the 5-minute limit: {:?}",
        seen.iter().map(|s| &s.why).collect::<Vec<_>>()
    );
    let times = accepted_times(&seen, 300);
    assert!(times.len() > first.len() + 5, "{times:?}");
    assert_eq!(times[first.len()], START + 61 * 60, "{times:?}");
}
