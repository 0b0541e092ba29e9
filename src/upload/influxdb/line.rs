//! InfluxDB line protocol: one point per archive record.
//!
//! `weather,station=school record_id=17i,samples=60i,temperature_c=11.5,... 1735689600`
//!
//! - the measurement is the configured name (default `weather`), the station id the
//!   one tag, so each station is one series and re-sending a record overwrites it
//!   (same series, same timestamp): at-least-once delivery is exactly-once storage;
//! - every value of `record::COLUMNS` is a field under its column name, which carries
//!   its unit (`temperature_c`, `rain_mm`); counts are integers (`60i`), measurements
//!   floats; a NULL (or non-finite) value is left out, as the protocol has no NULL;
//! - each extra quantity `x` (its name carries its unit, `illuminance_lux`) gives
//!   `x` (the mean), `x_min`, `x_max` and `x_n`;
//! - `record_id` is the station's record number, so a reader can check for gaps;
//! - the timestamp is the record's start in whole seconds (`precision=s`).

use crate::record::{Access, ArchiveRecord, COLUMNS};
use std::fmt::Write;

/// Appends `text` with the characters line protocol gives a meaning escaped:
/// `special` are backslash-escaped; a line break, which no escape can carry, becomes
/// a space (names come from the config, which should never hold one anyway).
fn escape(out: &mut String, text: &str, special: &[char]) {
    for c in text.chars() {
        match c {
            '\n' | '\r' => out.push(' '),
            c if special.contains(&c) => {
                out.push('\\');
                out.push(c);
            }
            c => out.push(c),
        }
    }
}

/// What must be escaped in a measurement name.
const MEASUREMENT: &[char] = &[',', ' '];
/// What must be escaped in tag keys, tag values and field keys.
const KEY: &[char] = &[',', '=', ' '];

/// Appends `key=value` for a float, if it is finite.
fn float_field(out: &mut String, first: &mut bool, key: &str, value: Option<f64>) {
    let Some(v) = value.filter(|v| v.is_finite()) else {
        return;
    };
    out.push(if *first { ' ' } else { ',' });
    *first = false;
    escape(out, key, KEY);
    // Rust prints the shortest text that reads back as the same f64, never in
    // exponent form: exactly what the protocol's float syntax accepts.
    let _ = write!(out, "={v}");
}

fn int_field(out: &mut String, first: &mut bool, key: &str, value: i64) {
    out.push(if *first { ' ' } else { ',' });
    *first = false;
    escape(out, key, KEY);
    let _ = write!(out, "={value}i");
}

/// Appends one record as one line (with its `\n`).
pub fn write_point(
    out: &mut String,
    measurement: &str,
    station_id: &str,
    id: i64,
    r: &ArchiveRecord,
) {
    escape(out, measurement, MEASUREMENT);
    out.push_str(",station=");
    escape(out, station_id, KEY);
    // `record_id` first: a point needs at least one field, and this one always exists.
    let mut first = true;
    int_field(out, &mut first, "record_id", id);
    for c in COLUMNS {
        match c.access {
            Access::Real { get, .. } => float_field(out, &mut first, c.name, get(r)),
            Access::Count { get, .. } => int_field(out, &mut first, c.name, i64::from(get(r))),
        }
    }
    for (name, stat) in &r.extras {
        // The record's value however the quantity folds (mean, total, direction,
        // newest); `_min`/`_max` only where the kind has extremes.
        float_field(out, &mut first, name, stat.value);
        float_field(out, &mut first, &format!("{name}_min"), stat.min);
        float_field(out, &mut first, &format!("{name}_max"), stat.max);
        int_field(out, &mut first, &format!("{name}_n"), i64::from(stat.n));
    }
    let _ = writeln!(out, " {}", r.start.secs());
}

/// A batch as line protocol, one line per record.
pub fn encode(measurement: &str, station_id: &str, records: &[(i64, ArchiveRecord)]) -> String {
    // About 600 bytes per record with every standard column present.
    let mut out = String::with_capacity(records.len() * 640);
    for (id, r) in records {
        write_point(&mut out, measurement, station_id, *id, r);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::Stat;
    use crate::time::Timestamp;

    fn record() -> ArchiveRecord {
        ArchiveRecord {
            start: Timestamp::from_secs(1_735_689_600),
            end: Timestamp::from_secs(1_735_689_660),
            samples: 60,
            temperature_c: Stat {
                mean: Some(11.5),
                min: Some(-0.25),
                max: Some(12.0),
                n: 60,
            },
            rain_mm: Some(0.2),
            wind_speed_kmh: Some(f64::NAN),
            extras: vec![(
                "illuminance_lux".into(),
                Stat {
                    mean: Some(1000.5),
                    min: None,
                    max: Some(2000.0),
                    n: 3,
                }
                .into(),
            )],
            ..Default::default()
        }
    }

    #[test]
    fn one_line_per_record_with_units_in_field_names() {
        let line = encode("weather", "school", &[(17, record())]);
        assert!(line.ends_with(" 1735689600\n"), "{line}");
        assert_eq!(line.lines().count(), 1);
        let (head, rest) = line.trim_end().split_once(' ').unwrap();
        assert_eq!(head, "weather,station=school");
        let (fields, ts) = rest.rsplit_once(' ').unwrap();
        assert_eq!(ts, "1735689600");
        let fields: Vec<&str> = fields.split(',').collect();
        for want in [
            "record_id=17i",
            "samples=60i",
            "temperature_c=11.5",
            "temperature_min_c=-0.25",
            "temperature_max_c=12",
            "temperature_n=60i",
            "rain_mm=0.2",
            "humidity_n=0i",
            "illuminance_lux=1000.5",
            "illuminance_lux_max=2000",
            "illuminance_lux_n=3i",
        ] {
            assert!(fields.contains(&want), "{want} missing in {fields:?}");
        }
        // NULL and NaN are left out, never written as a value.
        for absent in ["humidity_pct=", "wind_speed_kmh=", "illuminance_lux_min="] {
            assert!(!fields.iter().any(|f| f.starts_with(absent)), "{absent}");
        }
        // Every standard count is there (counts are never NULL).
        let counts = COLUMNS
            .iter()
            .filter(|c| matches!(c.access, Access::Count { .. }))
            .count();
        assert_eq!(
            fields.iter().filter(|f| f.ends_with('i')).count(),
            counts + 2
        );
    }

    #[test]
    fn names_are_escaped() {
        let mut out = String::new();
        let mut r = record();
        r.extras = vec![("odd name,x=y".into(), Stat::default().into())];
        write_point(&mut out, "my weather,v2", "st a=b,c", 1, &r);
        assert!(
            out.starts_with("my\\ weather\\,v2,station=st\\ a\\=b\\,c record_id=1i"),
            "{out}"
        );
        assert!(out.contains(",odd\\ name\\,x\\=y_n=0i "), "{out}");
        let mut out = String::new();
        write_point(&mut out, "w\nx", "s\r", 1, &r);
        assert_eq!(out.matches('\n').count(), 1, "{out}");
    }
}
