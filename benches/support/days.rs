//! The size knob shared by the upload benches.

const DEFAULT_DAYS: i64 = 30;

/// How many days of one-minute records to drain: `WEATHERD_BENCH_DAYS`, else 30.
pub fn days() -> i64 {
    match std::env::var("WEATHERD_BENCH_DAYS") {
        Err(_) => DEFAULT_DAYS,
        Ok(s) => match s.trim().parse::<i64>() {
            Ok(n) if (1..=3650).contains(&n) => n,
            _ => {
                eprintln!(
                    "WEATHERD_BENCH_DAYS=`{s}`: expected a whole number of days from 1 to 3650"
                );
                std::process::exit(2);
            }
        },
    }
}
