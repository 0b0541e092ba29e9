//! The web API against the store it reads: every endpoint's values equal the store's
//! (at the API's documented 2-place rounding), for each step; downsampling keeps the
//! extremes; gaps stay null; bad input is a 400 naming the parameter; the event stream
//! delivers a new record; and the security rules (read-only, headers, no paths, no
//! slowloris) hold on the wire.

mod support;

use serde_json::Value as Json;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};
use support::web_api::{config, record, request, rounded, TestServer};
use weatherd::store::{Every, Store, Table, Value};
use weatherd::time::Timestamp;
use weatherd::web::Limits;

/// 2026-03-01T00:00:00Z
const T0: i64 = 1_772_323_200;

fn num(v: &Value) -> Option<f64> {
    match v {
        Value::Real(x) => Some(rounded(*x)),
        Value::Int(i) => Some(*i as f64),
        _ => None,
    }
}

fn secs(v: &Value) -> i64 {
    let Value::Text(s) = v else { panic!("{v:?}") };
    chrono::DateTime::parse_from_rfc3339(s).unwrap().timestamp()
}

/// Three days of one-minute records with a two-hour gap on the second day.
fn three_days(dir: &std::path::Path) -> std::path::PathBuf {
    let db = dir.join("w.db");
    let mut store = Store::open(&db, "UTC".parse().unwrap()).unwrap();
    let recs: Vec<_> = (0..3 * 1440)
        .filter(|k| !(1440 + 600..1440 + 720).contains(k))
        .map(|k| record(Timestamp::from_secs(T0 + 60 * k), 60, k))
        .collect();
    store.insert_batch(&recs).unwrap();
    db
}

fn values(j: &Json, col: &str) -> Vec<Option<f64>> {
    j["values"][col]
        .as_array()
        .unwrap_or_else(|| panic!("no column {col}: {j}"))
        .iter()
        .map(Json::as_f64)
        .collect()
}

fn times(j: &Json) -> Vec<i64> {
    j["time"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t.as_i64().unwrap())
        .collect()
}

#[test]
fn records_equal_the_store_for_each_range_and_step() {
    let dir = tempfile::tempdir().unwrap();
    let db = three_days(dir.path());
    let now = Timestamp::from_secs(T0 + 3 * 86_400);
    let srv = TestServer::start(config("UTC"), &db, now);
    let reader = Store::open_read_only(&db).unwrap();
    let ranges = [
        (T0, T0 + 3 * 86_400),
        (T0 + 3600 + 17, T0 + 2 * 86_400 - 5),
        (T0 + 86_400, T0 + 86_400 + 7200),
    ];
    // Twice: the second pass answers hours from the server's cache of complete hours.
    for (from, to) in ranges.iter().chain(&ranges).copied() {
        for (every, name) in [
            (Every::Raw, "raw"),
            (Every::Hour, "hour"),
            (Every::Day, "day"),
        ] {
            let path = format!("/api/v1/records?from={from}&to={to}&every={name}&points=10000");
            let j = srv.json(&path);
            assert_eq!(j["downsampled"], false, "{path}");
            assert_eq!(j["every"], name);
            let table: Table = reader
                .query(
                    Some(Timestamp::from_secs(from)),
                    Some(Timestamp::from_secs(to)),
                    every,
                )
                .unwrap();
            let key = table.column("start_utc").or(table.column("date")).unwrap();
            let t = times(&j);
            // Every store row is in the answer, at its time, with equal values; the
            // answer's other rows are gap rows of nulls.
            let mut matched = 0;
            for (i, time) in t.iter().enumerate() {
                let row = table.rows.iter().find(|r| match every {
                    Every::Day => {
                        let Value::Text(d) = &r[key] else {
                            return false;
                        };
                        let date = chrono::DateTime::from_timestamp(*time, 0)
                            .unwrap()
                            .date_naive();
                        *d == date.to_string()
                    }
                    _ => secs(&r[key]) == *time,
                });
                let cols = j["columns"].as_array().unwrap();
                match row {
                    Some(row) => {
                        matched += 1;
                        for c in cols {
                            let c = c.as_str().unwrap();
                            let want = table.column(c).and_then(|k| num(&row[k]));
                            assert_eq!(values(&j, c)[i], want, "{path} {c} at {time}");
                        }
                    }
                    None => {
                        for c in cols {
                            assert_eq!(
                                values(&j, c.as_str().unwrap())[i],
                                None,
                                "{path}: gap row at {time}"
                            );
                        }
                    }
                }
            }
            assert_eq!(
                matched,
                table.rows.len(),
                "{path}: every stored row answered"
            );
            assert!(!t.is_empty(), "{path}");
        }
    }
}

#[test]
fn a_gap_stays_a_null_and_is_never_interpolated() {
    let dir = tempfile::tempdir().unwrap();
    let db = three_days(dir.path());
    let srv = TestServer::start(config("UTC"), &db, Timestamp::from_secs(T0 + 3 * 86_400));
    // Raw: the first missing minute after 10:00 on day 2 is a null row.
    let (from, to) = (T0 + 86_400 + 540 * 60, T0 + 86_400 + 780 * 60);
    let j = srv.json(&format!(
        "/api/v1/records?from={from}&to={to}&columns=temperature_c"
    ));
    let t = times(&j);
    let v = values(&j, "temperature_c");
    let gap = T0 + 86_400 + 600 * 60;
    let i = t
        .iter()
        .position(|x| *x == gap)
        .expect("a row at the gap's start");
    assert_eq!(v[i], None);
    assert!(
        v[i - 1].is_some() && v[i + 1].is_some(),
        "only the gap is null"
    );
    assert_eq!(t[i + 1], gap + 7200, "no invented rows inside the gap");
    // Hourly: the two missing hours are nulls.
    let j = srv.json(&format!(
        "/api/v1/records?from={}&to={}&every=hour",
        T0 + 86_400,
        T0 + 2 * 86_400
    ));
    let t = times(&j);
    let v = values(&j, "temperature_c");
    let i = t
        .iter()
        .position(|x| *x == gap)
        .expect("a row at the gap hour");
    assert_eq!(v[i], None);
    assert!(!t.contains(&(gap + 3600)), "one null row marks the gap");
    // Downsampled: a bucket without records is null.
    let j = srv.json(&format!(
        "/api/v1/records?from={}&to={}&points=72&columns=wind_gust_kmh",
        T0 + 86_400,
        T0 + 2 * 86_400
    ));
    assert_eq!(j["downsampled"], true);
    let t = times(&j);
    let v = values(&j, "wind_gust_kmh");
    for (time, v) in t.iter().zip(&v) {
        let inside = (gap..gap + 7200).contains(time) && (gap..gap + 7200).contains(&(time + 1199));
        if inside {
            assert_eq!(*v, None, "bucket {time} lies in the gap");
        } else {
            assert!(v.is_some(), "bucket {time} has records");
        }
    }
}

#[test]
fn downsampling_a_year_of_hours_keeps_the_extremes_and_totals() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("y.db");
    let mut store = Store::open(&db, "UTC".parse().unwrap()).unwrap();
    // A record every 30 minutes for a year, with the year's highest gust and lowest
    // temperature planted in single records.
    let n = 365 * 48;
    let mut recs: Vec<_> = (0..n)
        .map(|k| record(Timestamp::from_secs(T0 + 1800 * k), 1800, k))
        .collect();
    recs[4321].wind_gust_kmh = Some(97.31);
    recs[12_345].temperature_c.min = Some(-23.47);
    store.insert_batch(&recs).unwrap();
    let rain_total: f64 = recs.iter().filter_map(|r| r.rain_mm).sum();
    let now = Timestamp::from_secs(T0 + 1800 * n);
    let srv = TestServer::start(config("UTC"), &db, now);
    let j = srv.json("/api/v1/records?from=-1y&every=hour&points=1500");
    assert_eq!(j["downsampled"], true);
    let t = times(&j);
    assert!(t.len() <= 1501 && t.len() >= 1400, "{} points", t.len());
    let max = |c| values(&j, c).into_iter().flatten().fold(f64::MIN, f64::max);
    let min = |c| values(&j, c).into_iter().flatten().fold(f64::MAX, f64::min);
    assert_eq!(max("wind_gust_kmh"), 97.31);
    assert_eq!(min("temperature_min_c"), -23.47);
    // The bucket holding the gust says so, at the bucket containing its time.
    let gust_at = T0 + 1800 * 4321;
    let i = t.iter().rposition(|b| *b <= gust_at).unwrap();
    assert_eq!(values(&j, "wind_gust_kmh")[i], Some(97.31));
    // Sums stay sums: the year's rain (2-place rounding per bucket).
    let rain: f64 = values(&j, "rain_mm").into_iter().flatten().sum();
    assert!(
        (rain - rain_total).abs() < 0.005 * t.len() as f64,
        "{rain} vs {rain_total}"
    );
    // Each bucket's max gust equals the max of the store's hours inside it.
    let reader = Store::open_read_only(&db).unwrap();
    let hours = reader
        .query(Some(now.add_secs(-365 * 86_400)), Some(now), Every::Hour)
        .unwrap();
    let (k, g) = (
        hours.column("start_utc").unwrap(),
        hours.column("wind_gust_kmh").unwrap(),
    );
    let width = t[1] - t[0];
    for (i, b) in t.iter().enumerate().step_by(97) {
        let want = hours
            .rows
            .iter()
            .filter(|r| (*b..b + width).contains(&secs(&r[k])))
            .filter_map(|r| num(&r[g]))
            .fold(None, |m: Option<f64>, v| Some(m.map_or(v, |m| m.max(v))));
        assert_eq!(values(&j, "wind_gust_kmh")[i], want, "bucket {b}");
    }
}

#[test]
fn bad_parameters_are_400s_naming_the_parameter() {
    let dir = tempfile::tempdir().unwrap();
    let db = three_days(dir.path());
    let srv = TestServer::start(config("UTC"), &db, Timestamp::from_secs(T0 + 3 * 86_400));
    let long = "9".repeat(300);
    let cases = [
        ("/api/v1/records?every=minute", "every"),
        ("/api/v1/records?from=yesterdayish", "from"),
        ("/api/v1/records?to=2026-13-01", "to"),
        ("/api/v1/records?from=-5x", "from"),
        ("/api/v1/records?points=0", "points"),
        ("/api/v1/records?points=10001", "points"),
        ("/api/v1/records?points=abc", "points"),
        ("/api/v1/records?columns=temprature_c", "columns"),
        ("/api/v1/records?columns=id", "columns"),
        ("/api/v1/records?from=-32d", "from"),
        ("/api/v1/records?from=-6y&every=hour", "from"),
        ("/api/v1/records?from=now&to=-1h", "from"),
        ("/api/v1/records?every=day&every=hour", "every"),
        (&*format!("/api/v1/records?from={long}"), "from"),
        ("/api/v1/records.csv?tz=mars", "tz"),
        ("/api/v1/records.csv?from=-40d", "from"),
        ("/api/v1/daily?from=-101y", "from"),
        ("/api/v1/windrose?to=soon", "to"),
    ];
    for (path, parameter) in cases {
        let r = srv.get(path);
        assert_eq!(r.status, 400, "{path}: {}", r.text());
        let j: Json = serde_json::from_slice(&r.body).unwrap();
        assert_eq!(j["parameter"], parameter, "{path}: {j}");
        assert!(
            j["error"].as_str().is_some_and(|e| e.len() > 10),
            "{path}: {j}"
        );
    }
    // An unknown parameter is named in the message.
    let r = srv.get("/api/v1/records?form=-1h");
    assert_eq!(r.status, 400);
    assert!(r.text().contains("`form`"), "{}", r.text());
    // Unknown paths are a JSON 404.
    let r = srv.get("/api/v1/nothing");
    assert_eq!(r.status, 404);
    assert!(serde_json::from_slice::<Json>(&r.body).unwrap()["error"].is_string());
}

#[test]
fn latest_daily_windrose_station_health_and_metrics_match_the_store() {
    let dir = tempfile::tempdir().unwrap();
    let db = three_days(dir.path());
    let now = Timestamp::from_secs(T0 + 3 * 86_400 - 30);
    let srv = TestServer::start(config("Europe/Berlin"), &db, now);
    let reader = Store::open_read_only(&db).unwrap();
    let tz: chrono_tz::Tz = "Europe/Berlin".parse().unwrap();

    let j = srv.json("/api/v1/latest");
    let raw = reader
        .query(Some(now.add_secs(-600)), None, Every::Raw)
        .unwrap();
    let last = raw.rows.last().unwrap();
    for c in [
        "temperature_c",
        "wind_gust_kmh",
        "pressure_hpa",
        "rain_mm",
        "wind_dir_deg",
    ] {
        assert_eq!(
            j["record"][c].as_f64(),
            num(&last[raw.column(c).unwrap()]),
            "{c}"
        );
    }
    assert_eq!(j["record"]["start"].as_i64(), Some(secs(&last[1])));
    assert_eq!(j["now"].as_i64(), Some(now.secs()));
    assert_eq!(j["now_local"], "2026-03-04T00:59:30+01:00");
    assert_eq!(j["stale"], false);
    assert_eq!(j["clock_synchronised"], true);
    // Today (local): the extremes and when, from the raw records since local midnight.
    let midnight = Timestamp::from_secs(T0 + 3 * 86_400 - 3600);
    let today = reader.query(Some(midnight), None, Every::Raw).unwrap();
    let col = today.column("temperature_max_c").unwrap();
    let (best, at) = today
        .rows
        .iter()
        .map(|r| (num(&r[col]).unwrap(), secs(&r[1])))
        .fold((f64::MIN, 0), |a, b| if b.0 > a.0 { b } else { a });
    assert_eq!(j["today"]["temperature_max_c"].as_f64(), Some(best));
    assert_eq!(j["today"]["temperature_max_at"].as_i64(), Some(at));
    let rain = |from: Timestamp| {
        reader
            .rain_mm_between(from, now.add_secs(1))
            .unwrap()
            .map(rounded)
    };
    assert_eq!(
        j["rain"]["last_hour_mm"].as_f64(),
        rain(now.add_secs(-3600))
    );
    assert_eq!(
        j["rain"]["last_24h_mm"].as_f64(),
        rain(now.add_secs(-86_400))
    );
    assert_eq!(j["rain"]["today_mm"].as_f64(), rain(midnight));
    assert!(j["pressure_tendency_3h_hpa"].is_number(), "{j}");

    // Daily: the store's local days.
    let j = srv.json(&format!("/api/v1/daily?from={T0}&to={}", T0 + 3 * 86_400));
    let days = reader
        .query(
            Some(Timestamp::from_secs(T0)),
            Some(Timestamp::from_secs(T0 + 3 * 86_400)),
            Every::Day,
        )
        .unwrap();
    assert_eq!(j["days"].as_array().unwrap().len(), days.rows.len());
    for (d, row) in j["days"].as_array().unwrap().iter().zip(&days.rows) {
        for (c, v) in days.columns.iter().zip(row) {
            match v {
                Value::Text(s) => assert_eq!(d[c], *s),
                v => assert_eq!(d[c].as_f64(), num(v), "{c}"),
            }
        }
    }
    let _ = tz;

    // Wind rose: every record with a speed is counted once, in its sector and band.
    let j = srv.json(&format!("/api/v1/windrose?from={T0}&to={}", T0 + 86_400));
    let day = reader
        .query(
            Some(Timestamp::from_secs(T0)),
            Some(Timestamp::from_secs(T0 + 86_400)),
            Every::Raw,
        )
        .unwrap();
    assert_eq!(j["total"].as_u64(), Some(day.rows.len() as u64));
    let counted: u64 = j["counts"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|b| b.as_array().unwrap())
        .map(|c| c.as_u64().unwrap())
        .sum();
    assert_eq!(counted + j["calm"].as_u64().unwrap(), day.rows.len() as u64);
    let (sp, dr) = (
        day.column("wind_speed_kmh").unwrap(),
        day.column("wind_dir_deg").unwrap(),
    );
    let north_5_10 = day
        .rows
        .iter()
        .filter(|r| {
            let (s, d) = (num(&r[sp]).unwrap(), num(&r[dr]).unwrap());
            (5.0..10.0).contains(&s) && !(11.25..348.75).contains(&d)
        })
        .count() as u64;
    assert_eq!(j["counts"][1][0].as_u64(), Some(north_5_10));
    assert_eq!(j["directions"].as_array().unwrap().len(), 16);

    // Station.
    let j = srv.json("/api/v1/station");
    assert_eq!(j["timezone"], "Europe/Berlin");
    assert_eq!(j["archive_interval_s"], 60);
    let names: Vec<&str> = j["quantities"]
        .as_array()
        .unwrap()
        .iter()
        .map(|q| q["name"].as_str().unwrap())
        .collect();
    assert!(
        names.contains(&"wind_gust_kmh") && names.contains(&"rain_rate_mm_per_h"),
        "{names:?}"
    );

    // Health: what `weatherd status` gathers.
    let j = srv.json("/api/v1/health");
    let status = weatherd::status::gather(&reader, Some(&config("UTC")), now).unwrap();
    let sensors: Vec<&str> = j["sensors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap())
        .collect();
    let want: Vec<&str> = status.sensors.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(sensors, want);
    assert!(j["disk_free_bytes"].as_u64().unwrap() > 0);
    assert!(j["database_bytes"].as_u64().unwrap() > 100_000);
    assert_eq!(j["records"].as_i64(), Some(reader.record_count().unwrap()));

    // Metrics: Prometheus text with the current values and counters.
    let r = srv.get("/metrics");
    assert_eq!(r.status, 200);
    assert_eq!(
        r.header("content-type"),
        Some("text/plain; version=0.0.4; charset=utf-8")
    );
    let text = r.text();
    assert!(
        text.contains(&format!(
            "\nweatherd_records_total {}\n",
            reader.record_count().unwrap()
        )),
        "{text}"
    );
    assert!(text.contains("weatherd_up 1\n"));
    let t = num(&last[raw.column("temperature_c").unwrap()]).unwrap();
    assert!(
        text.contains(&format!("\nweatherd_temperature_c {t}\n")),
        "{text}"
    );
    assert!(text.contains("# TYPE weatherd_faults_total counter"));
}

#[test]
fn records_csv_is_the_query_csv_with_local_times() {
    let dir = tempfile::tempdir().unwrap();
    let db = three_days(dir.path());
    let srv = TestServer::start(
        config("Europe/Berlin"),
        &db,
        Timestamp::from_secs(T0 + 3 * 86_400),
    );
    let (from, to) = (T0 + 3600, T0 + 7200);
    let r = srv.get(&format!("/api/v1/records.csv?from={from}&to={to}&tz=utc"));
    assert_eq!(r.status, 200);
    assert!(r
        .header("content-disposition")
        .unwrap()
        .starts_with("attachment; filename="));
    let reader = Store::open_read_only(&db).unwrap();
    let table = reader
        .query(
            Some(Timestamp::from_secs(from)),
            Some(Timestamp::from_secs(to)),
            Every::Raw,
        )
        .unwrap();
    let mut want = Vec::new();
    weatherd::query::render(&table, weatherd::query::Format::Csv, &mut want).unwrap();
    assert_eq!(r.text(), String::from_utf8(want).unwrap());
    // tz=local (the default): `weatherd query --format csv`, local twins at the end.
    let r = srv.get(&format!("/api/v1/records.csv?from={from}&to={to}"));
    let text = r.text();
    let mut lines = text.lines();
    assert!(lines.next().unwrap().ends_with(",start_local"), "{text}");
    let first = lines.next().unwrap();
    assert!(
        first.contains(",2026-03-01T01:00:00Z,") && first.ends_with(",2026-03-01T02:00:00+01:00"),
        "{text}"
    );
    let mut table = table;
    weatherd::query::add_local_columns(&mut table, "Europe/Berlin".parse().unwrap());
    let mut want = Vec::new();
    weatherd::query::render(&table, weatherd::query::Format::Csv, &mut want).unwrap();
    assert_eq!(text, String::from_utf8(want).unwrap());
}

#[test]
fn the_event_stream_delivers_a_new_record() {
    let dir = tempfile::tempdir().unwrap();
    let db = three_days(dir.path());
    let srv = TestServer::start(config("UTC"), &db, Timestamp::from_secs(T0 + 3 * 86_400));
    let mut s = TcpStream::connect(srv.addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    s.write_all(b"GET /api/v1/events HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    let mut seen = String::new();
    let mut read_event = |seen: &mut String| -> Json {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(at) = seen.find("event: record\ndata: ") {
                let rest = &seen[at + 20..];
                if let Some(end) = rest.find('\n') {
                    let j: Json = serde_json::from_str(&rest[..end]).unwrap();
                    *seen = rest[end..].to_string();
                    return j;
                }
            }
            assert!(Instant::now() < deadline, "no event in {seen:?}");
            let mut buf = [0u8; 8192];
            let n = s.read(&mut buf).expect("the stream stays open");
            assert!(n > 0, "the server closed the stream");
            seen.push_str(&String::from_utf8_lossy(&buf[..n]));
        }
    };
    let first = read_event(&mut seen);
    assert!(seen.is_empty() || !seen.contains("event: record"));
    let newest = T0 + 3 * 86_400 - 60;
    assert_eq!(first["record"]["start"].as_i64(), Some(newest));
    // Warm the hour cache, then store an hour more: the new hour is answered too.
    let hours = |to: i64| {
        srv.json(&format!(
            "/api/v1/records?from={T0}&to={to}&every=hour&columns=temperature_c"
        ))
    };
    let before = hours(T0 + 3 * 86_400 + 7200);
    // The station stores a record and says so.
    let mut store = Store::open(&db, "UTC".parse().unwrap()).unwrap();
    let rec = record(Timestamp::from_secs(newest + 60), 60, 99_999);
    store.insert(&rec).unwrap();
    srv.live.record_stored();
    let next = read_event(&mut seen);
    assert_eq!(next["record"]["start"].as_i64(), Some(newest + 60));
    assert_eq!(
        next["record"]["temperature_c"].as_f64(),
        rec.temperature_c.mean.map(rounded)
    );
    let more: Vec<_> = (1..120)
        .map(|k| record(Timestamp::from_secs(newest + 60 + 60 * k), 60, k))
        .collect();
    store.insert_batch(&more).unwrap();
    let after = hours(T0 + 3 * 86_400 + 7200);
    assert_eq!(
        times(&before).len(),
        72 - 2 + 1,
        "72 hours, a 2-hour gap as one null row"
    );
    assert_eq!(times(&after).len(), 73, "two hours more");
    let reader = Store::open_read_only(&db).unwrap();
    let t = reader
        .query(
            Some(Timestamp::from_secs(T0)),
            Some(Timestamp::from_secs(T0 + 3 * 86_400 + 7200)),
            Every::Hour,
        )
        .unwrap();
    let c = t.column("temperature_c").unwrap();
    let want: Vec<Option<f64>> = t.rows.iter().map(|r| num(&r[c])).collect();
    let got = values(&after, "temperature_c");
    // The day-2 gap's null row aside, the answer is the store's hours.
    let got: Vec<Option<f64>> = got
        .into_iter()
        .enumerate()
        .filter(|(i, _)| times(&after)[*i] != T0 + 86_400 + 36_000)
        .map(|(_, v)| v)
        .collect();
    assert_eq!(got, want);
}

#[test]
fn security_headers_read_only_and_embedded_assets_only() {
    let dir = tempfile::tempdir().unwrap();
    let db = three_days(dir.path());
    let srv = TestServer::start(config("UTC"), &db, Timestamp::from_secs(T0 + 3 * 86_400));
    for path in ["/", "/api/v1/latest", "/assets/app.js", "/nope"] {
        let r = srv.get(path);
        let csp = r
            .header("content-security-policy")
            .unwrap_or_else(|| panic!("{path}: no CSP"));
        assert!(
            csp.contains("script-src 'self'") && !csp.contains("unsafe-inline"),
            "{csp}"
        );
        assert!(csp.contains("default-src 'none'"));
        assert_eq!(
            r.header("x-content-type-options"),
            Some("nosniff"),
            "{path}"
        );
        assert_eq!(r.header("referrer-policy"), Some("no-referrer"), "{path}");
    }
    // The page and assets, with types, validators and caching.
    let r = srv.get("/");
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-type"), Some("text/html; charset=utf-8"));
    assert_eq!(r.body, std::fs::read("assets/web/index.html").unwrap());
    let etag = r.header("etag").unwrap().to_string();
    let r = request(
        srv.addr,
        &format!("GET / HTTP/1.1\r\nHost: x\r\nIf-None-Match: {etag}\r\nConnection: close\r\n\r\n"),
    );
    assert_eq!(r.status, 304);
    for (name, ty) in [
        ("app.js", "text/javascript"),
        ("style.css", "text/css"),
        ("uplot.min.js", "text/javascript"),
        ("uplot.min.css", "text/css"),
    ] {
        let r = srv.get(&format!("/assets/{name}"));
        assert_eq!(r.status, 200, "{name}");
        assert!(r.header("content-type").unwrap().starts_with(ty), "{name}");
        assert!(
            r.header("cache-control").unwrap().contains("max-age"),
            "{name}"
        );
        assert_eq!(r.body, std::fs::read(format!("assets/web/{name}")).unwrap());
    }
    // No path reaches the filesystem, however it is spelled.
    for path in [
        "/assets/../Cargo.toml",
        "/assets/..%2fCargo.toml",
        "/assets/%2e%2e%2fCargo.toml",
        "/assets/..%2f..%2fetc%2fpasswd",
        "/../../etc/passwd",
        "/assets//etc/passwd",
        "/assets/index.html/../../src/main.rs",
        "/Cargo.toml",
        "/src/main.rs",
    ] {
        let r = request(
            srv.addr,
            &format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"),
        );
        assert!(r.status == 404 || r.status == 400, "{path}: {}", r.status);
        let t = r.text();
        assert!(
            !t.contains("[package]") && !t.contains("root:") && !t.contains("fn main"),
            "{path}: {t}"
        );
    }
    // Read-only: other methods are 405, a body is refused.
    for m in ["POST", "PUT", "DELETE", "PATCH", "OPTIONS"] {
        let r = request(
            srv.addr,
            &format!("{m} /api/v1/latest HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"),
        );
        assert_eq!(r.status, 405, "{m}");
        assert_eq!(r.header("allow"), Some("GET, HEAD"));
    }
    let r = request(srv.addr, "GET /api/v1/latest HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello");
    assert_eq!(r.status, 413);
    // HEAD answers headers only.
    let r = request(
        srv.addr,
        "HEAD /api/v1/station HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    );
    assert_eq!(r.status, 200);
    assert!(r.body.is_empty());
    // gzip when asked.
    let r = request(srv.addr, "GET /api/v1/records?from=-1d HTTP/1.1\r\nHost: x\r\nAccept-Encoding: gzip\r\nConnection: close\r\n\r\n");
    assert_eq!(r.header("content-encoding"), Some("gzip"));
    // An oversized request head is refused, not buffered.
    let big = "x".repeat(64 * 1024);
    let r = request(
        srv.addr,
        &format!("GET /api/v1/latest?{big} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"),
    );
    assert!(
        r.status == 431 || r.status == 400 || r.status == 414,
        "{}",
        r.status
    );
}

#[test]
fn slow_clients_are_cut_off_and_cannot_hold_every_connection() {
    let dir = tempfile::tempdir().unwrap();
    let db = three_days(dir.path());
    let limits = Limits {
        max_connections: 4,
        header_timeout: Duration::from_secs(1),
        ..Limits::default()
    };
    let srv = TestServer::start_with(
        config("UTC"),
        &db,
        Timestamp::from_secs(T0 + 3 * 86_400),
        limits,
    );
    // Four slowloris clients take every slot, each sending half a request head.
    let mut slow: Vec<TcpStream> = (0..4)
        .map(|_| {
            let mut s = TcpStream::connect(srv.addr).unwrap();
            s.write_all(b"GET /api/v1/latest HTTP/1.1\r\nHost: x\r\nX-Slow: ")
                .unwrap();
            s.set_read_timeout(Some(Duration::from_secs(15))).unwrap();
            s
        })
        .collect();
    std::thread::sleep(Duration::from_millis(200));
    // A fifth, polite client is answered once the header timeout frees the slots.
    let started = Instant::now();
    let r = srv.get("/api/v1/station");
    assert_eq!(r.status, 200);
    let waited = started.elapsed();
    // Each slow client was disconnected by the server (EOF or an error answer), not
    // left to hold its slot.
    for s in &mut slow {
        let mut buf = Vec::new();
        let n = s.read_to_end(&mut buf);
        assert!(
            n.is_ok() || buf.is_empty(),
            "the slow connection was closed"
        );
        let text = String::from_utf8_lossy(&buf);
        assert!(
            !text.contains("\"name\""),
            "a slow client got no answer: {text}"
        );
    }
    // Printed, not asserted (no wall-clock assertions): how long the polite one waited.
    println!("polite client waited {waited:?} behind 4 slowloris connections");
}

#[test]
fn a_taken_port_leaves_the_station_running_and_the_log_says_why() {
    let dir = tempfile::tempdir().unwrap();
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port();
    let text = weatherd::config::EXAMPLE_TOML
        .replace(
            "# listen = \"0.0.0.0:8080\"",
            &format!("listen = \"127.0.0.1:{port}\""),
        )
        .replace(
            "/var/lib/weatherd/weather.db",
            &dir.path().join("p.db").display().to_string(),
        );
    let cfg = dir.path().join("c.toml");
    std::fs::write(&cfg, text).unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_weatherd"))
        .args([
            "run",
            "--simulate",
            "--speed",
            "max",
            "--start",
            "2026-03-01T00:00:00Z",
            "--duration",
            "1h",
            "--config",
        ])
        .arg(&cfg)
        .env("RUST_LOG", "info")
        .output()
        .unwrap();
    let log = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{log}");
    assert!(
        log.contains("web page off: cannot listen on 127.0.0.1:"),
        "{log}"
    );
    assert!(log.contains("records=60"), "{log}");
    drop(taken);
    // With a free port the log prints the URL.
    let text = std::fs::read_to_string(&cfg)
        .unwrap()
        .replace(&format!("127.0.0.1:{port}"), "127.0.0.1:0");
    std::fs::write(&cfg, text).unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_weatherd"))
        .args([
            "run",
            "--simulate",
            "--speed",
            "max",
            "--start",
            "2026-03-01T01:00:00Z",
            "--duration",
            "1h",
            "--config",
        ])
        .arg(&cfg)
        .env("RUST_LOG", "info")
        .output()
        .unwrap();
    let log = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{log}");
    assert!(log.contains("web page on http://127.0.0.1:"), "{log}");
}

#[test]
fn web_config_is_validated_with_the_key_and_line() {
    let base = "[station]\nname = \"x\"\nlatitude = 1.0\nlongitude = 2.0\n[web]\n";
    let e = weatherd::config::Config::from_toml(&format!("{base}listen = \"localhost-8080\"\n"))
        .unwrap_err();
    assert_eq!(e.path, "web.listen");
    assert_eq!(e.line, Some(6));
    assert!(e.message.contains("0.0.0.0:8080"), "{e}");
    let e = weatherd::config::Config::from_toml(&format!("{base}enabled = \"yes\"\n")).unwrap_err();
    assert_eq!(e.path, "web.enabled");
    let e = weatherd::config::Config::from_toml(&format!("{base}port = 8080\n")).unwrap_err();
    assert!(e.path.starts_with("web"), "{e}");
    let c = weatherd::config::Config::from_toml(base).unwrap();
    assert!(c.web.enabled);
    assert_eq!(c.web.listen_or_default(false), "0.0.0.0:8080");
    assert_eq!(c.web.listen_or_default(true), "127.0.0.1:8080");
}

#[test]
fn climate_answers_are_the_report_modules_json() {
    let dir = tempfile::tempdir().unwrap();
    let db = three_days(dir.path());
    let srv = TestServer::start(config("UTC"), &db, Timestamp::from_secs(T0 + 3 * 86_400));
    let reader = Store::open_read_only(&db).unwrap();
    let settings = config("UTC").report;
    let json_of = |write: &dyn Fn(&mut Vec<u8>)| -> Json {
        let mut out = Vec::new();
        write(&mut out);
        serde_json::from_slice(&out).unwrap()
    };
    let month = weatherd::report::month(&reader, 2026, 3, &settings).unwrap();
    let want = json_of(&|o| {
        weatherd::report::render_month(&month, weatherd::query::Format::Json, o).unwrap()
    });
    assert_eq!(srv.json("/api/v1/climate?month=2026-03"), want);
    let year = weatherd::report::year(&reader, 2026, &settings).unwrap();
    let want = json_of(&|o| {
        weatherd::report::render_year(&year, weatherd::query::Format::Json, o).unwrap()
    });
    assert_eq!(srv.json("/api/v1/climate?year=2026"), want);
    let records = weatherd::report::records(&reader, &settings).unwrap();
    let want = json_of(&|o| {
        weatherd::report::render_records(&records, weatherd::query::Format::Json, o).unwrap()
    });
    assert_eq!(srv.json("/api/v1/climate/records"), want);
    for (path, parameter) in [
        ("/api/v1/climate?month=2026-13", "month"),
        ("/api/v1/climate?month=march", "month"),
        ("/api/v1/climate?year=26", "year"),
        ("/api/v1/climate", "month"),
        ("/api/v1/climate?month=2026-03&year=2026", "year"),
    ] {
        let r = srv.get(path);
        assert_eq!(r.status, 400, "{path}");
        let j: Json = serde_json::from_slice(&r.body).unwrap();
        assert_eq!(j["parameter"], parameter, "{path}: {j}");
    }
}
