//! `weatherd report` and `weatherd query` for people, on a simulated station: every
//! number of the climate reports is recomputed here from the raw records (read
//! through the Reader's raw query, in full precision), not from the daily summaries
//! the reports are built on.

mod support;

use std::collections::BTreeMap;
use support::report::{
    close, extreme, raw_records, simulated_db, weatherd, weighted_mean, Raw, TZ,
};
use weatherd::report::{self, Extreme, ReportSettings};
use weatherd::store::Store;

fn local(t: i64) -> String {
    chrono::DateTime::from_timestamp(t, 0)
        .unwrap()
        .with_timezone(&TZ)
        .format("%Y-%m-%dT%H:%M:%S%:z")
        .to_string()
}

fn by_date(recs: &[Raw]) -> BTreeMap<String, Vec<&Raw>> {
    let mut days: BTreeMap<String, Vec<&Raw>> = BTreeMap::new();
    for r in recs {
        days.entry(r.date()).or_default().push(r);
    }
    days
}

fn check_extreme(got: &Option<Extreme>, want: Option<(f64, i64)>, what: &str) {
    match (got, want) {
        (Some(g), Some((v, t))) => {
            close(g.value, v, what);
            assert_eq!(g.at, t, "{what}: time");
            assert_eq!(g.at_local, local(t), "{what}: local time");
        }
        (None, None) => {}
        _ => panic!("{what}: {got:?} vs {want:?}"),
    }
}

/// The direction of a vector sum of records' directions, each weighted by its mean
/// speed times its samples with a direction.
fn dominant(recs: &[&Raw]) -> Option<f64> {
    let (mut e, mut n) = (0.0, 0.0);
    for r in recs {
        if let (Some(d), Some(s), Some(k)) = (
            r.get("wind_dir_deg"),
            r.get("wind_speed_kmh"),
            r.get("wind_dir_n"),
        ) {
            e += s * k * d.to_radians().sin();
            n += s * k * d.to_radians().cos();
        }
    }
    (e != 0.0 || n != 0.0).then(|| e.atan2(n).to_degrees().rem_euclid(360.0))
}

#[test]
fn month_report_matches_an_independent_recomputation_from_raw_records() {
    let db = simulated_db();
    let recs = raw_records(db);
    assert!(recs.len() > 12_000, "{} records", recs.len());
    let days = by_date(&recs);
    let store = Store::open_read_only(db).unwrap();
    let settings = ReportSettings::default();
    let r = report::month(&store, 2026, 10, &settings).unwrap();
    assert_eq!(r.days.len(), 31);
    assert_eq!(r.basis.time_zone, "Europe/London");

    let (mut rain_total, mut hdd_total, mut with_data) = (0.0, 0.0, 0);
    let mut month_recs: Vec<&Raw> = Vec::new();
    for line in &r.days {
        let Some(day) = days.get(&line.date) else {
            assert_eq!(line.records, 0, "{}", line.date);
            assert!(line.temperature_mean_c.is_none() && line.rain_mm.is_none());
            continue;
        };
        with_data += 1;
        month_recs.extend(day.iter().copied());
        let what = |q: &str| format!("{} {q}", line.date);
        assert_eq!(line.records, day.len() as i64, "{}", what("records"));
        let mean = weighted_mean(day, "temperature_c", "temperature_n").unwrap();
        close(line.temperature_mean_c.unwrap(), mean, &what("mean"));
        check_extreme(
            &line.temperature_max,
            extreme(day, "temperature_max_c", true),
            &what("high"),
        );
        check_extreme(
            &line.temperature_min,
            extreme(day, "temperature_min_c", false),
            &what("low"),
        );
        check_extreme(
            &line.wind_gust_max,
            extreme(day, "wind_gust_kmh", true),
            &what("gust"),
        );
        check_extreme(
            &line.rain_rate_max,
            extreme(day, "rain_rate_mm_per_h", true).filter(|m| m.0 > 0.0),
            &what("rain rate"),
        );
        let hdd = (18.3 - mean).max(0.0);
        close(line.heating_degree_days.unwrap(), hdd, &what("HDD"));
        close(
            line.cooling_degree_days.unwrap(),
            (mean - 18.3).max(0.0),
            &what("CDD"),
        );
        hdd_total += hdd;
        let rain: f64 = day.iter().filter_map(|r| r.get("rain_mm")).sum();
        close(line.rain_mm.unwrap(), rain, &what("rain"));
        rain_total += rain;
        close(
            line.wind_speed_mean_kmh.unwrap(),
            weighted_mean(day, "wind_speed_kmh", "wind_n").unwrap(),
            &what("wind"),
        );
        let dir = dominant(day).unwrap();
        let got = line.wind_dir_dominant_deg.unwrap();
        let diff = (got - dir).rem_euclid(360.0);
        assert!(
            diff.min(360.0 - diff) < 1e-6,
            "{}: {got} vs {dir}",
            what("dir")
        );
        assert_eq!(line.wind_dir_dominant, Some(report::compass(dir)));
    }
    // The simulation starts on the 24th (local) and the clocks went back on the 25th.
    assert_eq!(with_data, 8);
    assert_eq!(r.days[24].records, 25 * 60, "2026-10-25 has 25 hours");

    let s = &r.summary;
    assert_eq!(s.days_with_data, with_data);
    close(s.rain_mm.unwrap(), rain_total, "month rain");
    close(s.heating_degree_days.unwrap(), hdd_total, "month HDD");
    close(
        s.temperature_mean_c.unwrap(),
        weighted_mean(&month_recs, "temperature_c", "temperature_n").unwrap(),
        "month mean",
    );
    check_extreme(
        &s.temperature_max,
        extreme(&month_recs, "temperature_max_c", true),
        "month high",
    );
    check_extreme(
        &s.temperature_min,
        extreme(&month_recs, "temperature_min_c", false),
        "month low",
    );
    check_extreme(
        &s.wind_gust_max,
        extreme(&month_recs, "wind_gust_kmh", true),
        "month gust",
    );
    // Days over the rain thresholds, from the raw daily totals.
    for t in &s.days_rain_at_least_mm {
        let n = days
            .iter()
            .filter(|(d, _)| d.starts_with("2026-10"))
            .filter(|(_, recs)| {
                recs.iter().filter_map(|r| r.get("rain_mm")).sum::<f64>() >= t.threshold
            })
            .count();
        assert_eq!(t.days as usize, n, "days with rain >= {}", t.threshold);
    }
    for t in &s.days_min_at_most_c {
        let n = days
            .iter()
            .filter(|(d, _)| d.starts_with("2026-10"))
            .filter(|(_, recs)| {
                extreme(recs, "temperature_min_c", false).is_some_and(|m| m.0 <= t.threshold)
            })
            .count();
        assert_eq!(t.days as usize, n, "days with low <= {}", t.threshold);
    }
}

#[test]
fn the_cli_json_is_the_library_report_and_text_fits_80_columns() {
    let db = simulated_db().to_str().unwrap();
    let (code, json, err) = weatherd(&[
        "report", "--month", "2026-10", "--format", "json", "--db", db,
    ]);
    assert_eq!(code, 0, "{err}");
    let store = Store::open_read_only(simulated_db()).unwrap();
    let lib = report::month(&store, 2026, 10, &ReportSettings::default()).unwrap();
    // Byte for byte what the web API serialises (parsing back would lose last bits).
    let want = serde_json::to_string_pretty(&lib).unwrap() + "\n";
    assert!(json == want, "the CLI's JSON differs from the library's");
    for args in [
        ["report", "--month", "2026-10"],
        ["report", "--year", "2026"],
        ["report", "--records", "--db"],
    ] {
        let mut a: Vec<&str> = args.iter().copied().filter(|a| *a != "--db").collect();
        a.extend(["--db", db]);
        let (code, text, err) = weatherd(&a);
        assert_eq!(code, 0, "{a:?}: {err}");
        for line in text.lines() {
            assert!(line.chars().count() <= 80, "{a:?}: {line}");
        }
    }
    // The month's highest temperature, with its local time, is in the text.
    let (_, text, _) = weatherd(&["report", "--month", "2026-10", "--db", db]);
    let high = lib.summary.temperature_max.as_ref().unwrap();
    let line = format!(
        "Highest {:.1} °C on {} at {}",
        high.value,
        high.date,
        &high.at_local[11..16]
    );
    assert!(text.contains(&line), "{line} not in\n{text}");
    // CSV: one row per day and one for the month, after the header.
    let (_, csv, _) = weatherd(&[
        "report", "--month", "2026-10", "--format", "csv", "--db", db,
    ]);
    assert_eq!(csv.lines().count(), 1 + 31 + 1);
    assert!(csv.lines().last().unwrap().starts_with("2026-10,"));
}

#[test]
fn year_totals_are_the_sums_of_the_months() {
    let store = Store::open_read_only(simulated_db()).unwrap();
    let settings = ReportSettings::default();
    let y = report::year(&store, 2026, &settings).unwrap();
    assert_eq!(y.months.len(), 12);
    let months: Vec<_> = (1..=12)
        .map(|m| report::month(&store, 2026, m, &settings).unwrap().summary)
        .collect();
    for (line, m) in y.months.iter().zip(&months) {
        assert_eq!(&line.summary, m, "{}", line.month);
    }
    let sum =
        |f: &dyn Fn(&report::Summary) -> Option<f64>| -> f64 { months.iter().filter_map(f).sum() };
    let s = &y.summary;
    close(s.rain_mm.unwrap(), sum(&|m| m.rain_mm), "rain");
    close(
        s.heating_degree_days.unwrap(),
        sum(&|m| m.heating_degree_days),
        "HDD",
    );
    close(
        s.cooling_degree_days.unwrap(),
        sum(&|m| m.cooling_degree_days),
        "CDD",
    );
    assert_eq!(
        s.days_with_data,
        months.iter().map(|m| m.days_with_data).sum::<u32>()
    );
    assert_eq!(s.days_with_data, 9);
    for (i, t) in s.days_rain_at_least_mm.iter().enumerate() {
        let n: u32 = months.iter().map(|m| m.days_rain_at_least_mm[i].days).sum();
        assert_eq!(t.days, n);
    }
    let high = months
        .iter()
        .filter_map(|m| m.temperature_max.clone())
        .fold(None::<Extreme>, |b, e| match b {
            Some(b) if b.value >= e.value => Some(b),
            _ => Some(e),
        });
    assert_eq!(s.temperature_max, high);
}

#[test]
fn records_are_the_extremes_of_the_raw_records() {
    let db = simulated_db();
    let recs = raw_records(db);
    let all: Vec<&Raw> = recs.iter().collect();
    let store = Store::open_read_only(db).unwrap();
    let r = report::records(&store, &ReportSettings::default()).unwrap();
    check_extreme(
        &r.temperature_max,
        extreme(&all, "temperature_max_c", true),
        "high",
    );
    check_extreme(
        &r.temperature_min,
        extreme(&all, "temperature_min_c", false),
        "low",
    );
    check_extreme(
        &r.wind_gust_max,
        extreme(&all, "wind_gust_kmh", true),
        "gust",
    );
    check_extreme(
        &r.rain_rate_max,
        extreme(&all, "rain_rate_mm_per_h", true).filter(|m| m.0 > 0.0),
        "rain rate",
    );
    let days = by_date(&recs);
    let wettest = days
        .iter()
        .map(|(d, recs)| (d, recs.iter().filter_map(|r| r.get("rain_mm")).sum::<f64>()))
        .fold(None::<(&String, f64)>, |b, (d, v)| match b {
            Some(b) if b.1 >= v => Some(b),
            _ => Some((d, v)),
        })
        .unwrap();
    let got = r.rain_day_max.unwrap();
    assert_eq!(&got.date, wettest.0);
    close(got.value, wettest.1, "wettest day");
    assert_eq!(
        r.first_date.as_deref(),
        days.keys().next().map(String::as_str)
    );
    assert_eq!(
        r.last_date.as_deref(),
        days.keys().last().map(String::as_str)
    );
    assert_eq!(r.days_with_data as usize, days.len());
}

#[test]
fn bad_report_arguments_are_usage_errors_that_say_what_to_write() {
    let db = simulated_db().to_str().unwrap();
    for (args, needle) in [
        (vec!["report", "--month", "2026-13"], "YYYY-MM"),
        (vec!["report", "--year", "26"], "YYYY"),
        (vec!["report"], "--month"),
        (
            vec!["report", "--month", "2026-10", "--year", "2026"],
            "cannot be used",
        ),
        (
            vec!["report", "--records", "--format", "xml"],
            "text, csv or json",
        ),
    ] {
        let mut a = args.clone();
        a.extend(["--db", db]);
        let (code, _, err) = weatherd(&a);
        assert_eq!(code, 2, "{a:?}");
        assert!(err.contains(needle), "{a:?}: {err}");
    }
}

// --- query for people -------------------------------------------------------

#[test]
fn query_shows_local_time_by_default_and_utc_on_request_within_80_columns() {
    let db = simulated_db().to_str().unwrap();
    // 2026-10-24 12:00 BST is 11:00 UTC.
    let base = [
        "query",
        "--db",
        db,
        "--from",
        "2026-10-24T11:00:00Z",
        "--to",
        "2026-10-24T11:03:00Z",
    ];
    let (code, text, err) = weatherd(&base);
    assert_eq!(code, 0, "{err}");
    let lines: Vec<&str> = text.lines().collect();
    assert!(lines[0].starts_with("start_local "), "{}", lines[0]);
    assert!(
        lines[2].starts_with("2026-10-24T12:00:00+01:00"),
        "{}",
        lines[2]
    );
    assert_eq!(lines.len(), 2 + 3);
    let mut utc = base.to_vec();
    utc.push("--utc");
    let (_, text, _) = weatherd(&utc);
    assert!(text
        .lines()
        .nth(2)
        .unwrap()
        .starts_with("2026-10-24T11:00:00Z"));
    for every in ["raw", "hour", "day"] {
        let (code, text, err) = weatherd(&["query", "--db", db, "--every", every]);
        assert_eq!(code, 0, "{err}");
        assert!(text.lines().count() > 2);
        for line in text.lines() {
            assert!(line.chars().count() <= 80, "--every {every}: {line}");
        }
    }
}

#[test]
fn csv_keeps_every_utc_column_and_adds_the_local_ones_at_the_end() {
    let db = simulated_db().to_str().unwrap();
    let (code, csv, err) = weatherd(&[
        "query",
        "--db",
        db,
        "--from",
        "2026-10-26T00:00:00Z",
        "--to",
        "2026-10-26T00:02:00Z",
        "--format",
        "csv",
    ]);
    assert_eq!(code, 0, "{err}");
    let mut rows = csv.lines();
    let head: Vec<&str> = rows.next().unwrap().split(',').collect();
    assert_eq!(&head[..3], ["id", "start_utc", "end_utc"]);
    assert_eq!(head.last(), Some(&"start_local"));
    // Only the rain windows and the local column were added after what scripts knew.
    let names: Vec<&str> = weatherd::record::COLUMN_NAMES.to_vec();
    assert_eq!(&head[3..3 + names.len()], &names[..]);
    let windows = weatherd::store::RAIN_WINDOW_COLUMNS;
    assert_eq!(&head[3 + names.len()..3 + names.len() + 3], &windows[..]);
    assert_eq!(head.len(), 3 + names.len() + windows.len() + 1);
    let first: Vec<&str> = rows.next().unwrap().split(',').collect();
    assert_eq!(first[1], "2026-10-26T00:00:00Z");
    // After the clocks went back: GMT.
    assert_eq!(*first.last().unwrap(), "2026-10-26T00:00:00+00:00");
    // The day table: every time of an extreme in UTC and local.
    let (_, csv, _) = weatherd(&["query", "--db", db, "--every", "day", "--format", "csv"]);
    let head = csv.lines().next().unwrap();
    for c in [
        "temperature_max_time_utc",
        "temperature_max_time_local",
        "wind_gust_time_local",
        "rain_rate_time_local",
        "dew_point_c",
    ] {
        assert!(head.split(',').any(|h| h == c), "{c} not in {head}");
    }
}

#[test]
fn relative_times_are_station_days_before_now() {
    let db = simulated_db().to_str().unwrap();
    // "Now" is 2026-10-26 10:00 GMT: yesterday is the 25-hour day of the clock change.
    let (code, text, err) = weatherd(&[
        "query",
        "--db",
        db,
        "--now",
        "2026-10-26T10:00:00Z",
        "--from",
        "yesterday",
        "--to",
        "today",
        "--every",
        "day",
        "--format",
        "csv",
        "--columns",
        "date,records",
    ]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        text.replace("\r\n", "\n"),
        "date,records\n2026-10-25,1500\n"
    );
    let (_, text, _) = weatherd(&[
        "query",
        "--db",
        db,
        "--now",
        "2026-10-26T10:00:00Z",
        "--from",
        "-90m",
        "--format",
        "csv",
        "--columns",
        "start_utc",
    ]);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines[1], "2026-10-26T08:30:00Z");
    // To the end of the data (the simulation ends on 2026-11-02).
    assert!(lines.len() > 90);
    let (_, text, _) = weatherd(&[
        "query",
        "--db",
        db,
        "--now",
        "2026-10-26T10:00:00Z",
        "--from",
        "-90m",
        "--to",
        "now",
        "--format",
        "csv",
        "--columns",
        "start_utc",
    ]);
    assert_eq!(text.lines().count(), 1 + 90);
}

#[test]
fn columns_choose_and_order_and_unknown_ones_are_listed() {
    let db = simulated_db().to_str().unwrap();
    let (code, text, err) = weatherd(&[
        "query",
        "--db",
        db,
        "--from",
        "2026-10-24T11:00:00Z",
        "--to",
        "2026-10-24T11:01:00Z",
        "--columns",
        "rain_mm,start_local,temperature_c",
        "--format",
        "json",
    ]);
    assert_eq!(code, 0, "{err}");
    let v: serde_json::Value = serde_json::from_str(&text).unwrap();
    let keys: Vec<&String> = v[0].as_object().unwrap().keys().collect();
    assert_eq!(keys.len(), 3);
    assert_eq!(v[0]["start_local"], "2026-10-24T12:00:00+01:00");
    assert!(text.find("rain_mm").unwrap() < text.find("start_local").unwrap());
    for (args, needle) in [
        (
            vec!["--columns", "temperature_c,nope"],
            "`nope` is not a column",
        ),
        (vec!["--from", "-5q"], "--from"),
        (vec!["--to", "tomorrow"], "--to"),
        (
            vec![
                "--from",
                "today",
                "--to",
                "yesterday",
                "--now",
                "2026-10-26T10:00:00Z",
            ],
            "must be later",
        ),
    ] {
        let mut a = vec!["query", "--db", db];
        a.extend(args.iter().copied());
        let (code, _, err) = weatherd(&a);
        assert_eq!(code, 2, "{a:?}");
        assert!(err.contains(needle), "{a:?}: {err}");
        if needle.contains("nope") {
            assert!(
                err.contains("temperature_c") && err.contains("start_local"),
                "{err}"
            );
        }
    }
}
