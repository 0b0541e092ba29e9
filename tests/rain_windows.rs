//! Rain in the last hour, the last 24 hours and since local midnight as columns of a
//! raw `query`: checked against a brute-force sum over the stored records, across a
//! local midnight in a zone with an offset, with a gap and records without gauge data.

mod support;

use support::db::temp_db;
use support::records::empty;
use weatherd::store::{Every, Store, Value, RAIN_WINDOW_COLUMNS};
use weatherd::time::Timestamp;

/// 2026-06-01T20:00:00Z: 22:00 in Europe/Berlin (UTC+2), so local midnight falls
/// inside the run at 22:00 UTC.
const START: i64 = 1_780_344_000;

fn rain_of(i: i64) -> Option<f64> {
    match i {
        // No gauge data for a while: unknown, not 0 mm.
        100..=119 => None,
        _ if i % 13 == 0 => Some(0.2 * (1 + i % 3) as f64),
        _ => Some(0.0),
    }
}

#[test]
fn raw_queries_carry_the_rain_of_the_last_hour_the_last_day_and_today() {
    let (_dir, path) = temp_db();
    let mut store = Store::open(&path, chrono_tz::Europe::Berlin).unwrap();
    // 30 hours of one-minute records, with a 2-hour hole after the 10th hour.
    let minutes: Vec<i64> = (0..30 * 60).filter(|i| !(600..720).contains(i)).collect();
    let records: Vec<_> = minutes
        .iter()
        .map(|&i| {
            let mut r = empty(Timestamp::from_secs(START + 60 * i));
            r.rain_mm = rain_of(i);
            r.rain_n = if r.rain_mm.is_some() { 12 } else { 0 };
            r
        })
        .collect();
    store.insert_batch(&records).unwrap();

    // Query only the last 20 hours: the windows still reach back before `from`.
    let from = START + 10 * 3600;
    let table = store
        .query(Some(Timestamp::from_secs(from)), None, Every::Raw)
        .unwrap();
    let col = |name: &str| {
        table
            .column(name)
            .unwrap_or_else(|| panic!("no column {name}"))
    };
    let [hour, day, today] = RAIN_WINDOW_COLUMNS.map(col);
    let start_col = col("start_utc");
    assert!(table.rows.len() > 1000);

    // Brute force over what was stored.
    let sum = |after: i64, until: i64| -> Option<f64> {
        let inside: Vec<f64> = minutes
            .iter()
            .filter(|&&i| {
                let end = START + 60 * i + 60;
                end > after && end <= until
            })
            .filter_map(|&i| rain_of(i))
            .collect();
        (!inside.is_empty()).then(|| inside.iter().sum())
    };
    // Berlin midnights (UTC+2 in June) inside the run.
    let midnight_before = |start: i64| -> i64 {
        let shifted = start + 2 * 3600;
        shifted - shifted.rem_euclid(86_400) - 2 * 3600
    };
    let as_f64 = |v: &Value| match v {
        Value::Real(x) => Some(*x),
        Value::Int(x) => Some(*x as f64),
        Value::Null => None,
        other => panic!("{other:?}"),
    };
    let mut checked_today_reset = false;
    for row in &table.rows {
        let Value::Text(start_text) = &row[start_col] else {
            panic!("start_utc is text")
        };
        let start = chrono::DateTime::parse_from_rfc3339(start_text)
            .unwrap()
            .timestamp();
        let end = start + 60;
        let close = |got: Option<f64>, want: Option<f64>, what: &str| match (got, want) {
            (Some(g), Some(w)) => {
                assert!((g - w).abs() < 1e-9, "{what} at {start_text}: {g} vs {w}")
            }
            (g, w) => assert_eq!(g, w, "{what} at {start_text}"),
        };
        close(as_f64(&row[hour]), sum(end - 3600, end), "last hour");
        close(as_f64(&row[day]), sum(end - 86_400, end), "last 24 h");
        close(
            as_f64(&row[today]),
            sum(midnight_before(start), end),
            "today",
        );
        if start == midnight_before(start) {
            checked_today_reset = true;
            assert_eq!(as_f64(&row[today]), rain_of((start - START) / 60));
        }
    }
    assert!(checked_today_reset, "the run crosses a local midnight");
}
