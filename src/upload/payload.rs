//! The JSON shape of one archive record as every destination sends it.
//!
//! Keys are the column names of `weatherd query` (raw): `id`, `start_utc`, `end_utc`,
//! then every value with its unit in the name (`temperature_c`, `temperature_min_c`,
//! `temperature_n`, …), then extra quantities the same way. A missing value is `null`,
//! never left out, so a receiver sees the same keys in every record.

use crate::record::{ArchiveRecord, Stat};
use serde_json::{Map, Value};

/// Bumped when a key changes meaning or disappears (adding keys does not bump it).
pub const SCHEMA_VERSION: u32 = 1;

fn real(v: Option<f64>) -> Value {
    // JSON has no NaN or infinity; a non-finite number is not a measurement.
    match v.filter(|x| x.is_finite()) {
        Some(x) => Value::from(x),
        None => Value::Null,
    }
}

/// `temperature_c` + `min` → `temperature_min_c`: the word goes before the unit suffix.
fn derived_name(quantity: &str, word: &str) -> String {
    match quantity.rsplit_once('_') {
        Some((stem, unit)) => format!("{stem}_{word}_{unit}"),
        None => format!("{quantity}_{word}"),
    }
}

fn n_name(quantity: &str) -> String {
    match quantity.rsplit_once('_') {
        Some((stem, _unit)) => format!("{stem}_n"),
        None => format!("{quantity}_n"),
    }
}

fn put_stat(m: &mut Map<String, Value>, quantity: &str, s: &Stat) {
    // An extra quantity never overwrites a standard key of the same name.
    let keys = [
        quantity.to_string(),
        derived_name(quantity, "min"),
        derived_name(quantity, "max"),
        n_name(quantity),
    ];
    let values = [real(s.mean), real(s.min), real(s.max), Value::from(s.n)];
    for (k, v) in keys.into_iter().zip(values) {
        m.entry(k).or_insert(v);
    }
}

/// One record as a JSON object; `id` is the store's archive id, which receivers use
/// with the station id to drop repeats.
pub fn record_json(id: i64, r: &ArchiveRecord) -> Value {
    let mut m = Map::new();
    m.insert("id".into(), Value::from(id));
    m.insert("start_utc".into(), Value::from(r.start.rfc3339()));
    m.insert("end_utc".into(), Value::from(r.end.rfc3339()));
    m.insert("samples".into(), Value::from(r.samples));
    put_stat(&mut m, "temperature_c", &r.temperature_c);
    put_stat(&mut m, "humidity_pct", &r.humidity_pct);
    put_stat(&mut m, "pressure_hpa", &r.pressure_hpa);
    put_stat(&mut m, "ground_temperature_c", &r.ground_temperature_c);
    m.insert("dew_point_c".into(), real(r.dew_point_c));
    m.insert(
        "sea_level_pressure_hpa".into(),
        real(r.sea_level_pressure_hpa),
    );
    m.insert("wind_speed_kmh".into(), real(r.wind_speed_kmh));
    m.insert("wind_gust_kmh".into(), real(r.wind_gust_kmh));
    m.insert("wind_dir_deg".into(), real(r.wind_dir_deg));
    m.insert("wind_n".into(), Value::from(r.wind_n));
    m.insert("wind_dir_n".into(), Value::from(r.wind_dir_n));
    m.insert("rain_mm".into(), real(r.rain_mm));
    m.insert("rain_rate_mm_per_h".into(), real(r.rain_rate_mm_per_h));
    m.insert("rain_n".into(), Value::from(r.rain_n));
    for (name, stat) in &r.extras {
        put_stat(&mut m, name, stat);
    }
    Value::Object(m)
}

/// `{"station": …, "schema_version": 1, "record": {…}}`: one record on its own.
pub fn record_document(station_id: &str, id: i64, r: &ArchiveRecord) -> Value {
    let mut m = Map::new();
    m.insert("station".into(), Value::from(station_id));
    m.insert("schema_version".into(), Value::from(SCHEMA_VERSION));
    m.insert("record".into(), record_json(id, r));
    Value::Object(m)
}

/// `{"station": …, "schema_version": 1, "records": [{…}, …]}`, oldest first.
pub fn records_document(station_id: &str, records: &[(i64, ArchiveRecord)]) -> Value {
    let mut m = Map::new();
    m.insert("station".into(), Value::from(station_id));
    m.insert("schema_version".into(), Value::from(SCHEMA_VERSION));
    m.insert(
        "records".into(),
        Value::Array(records.iter().map(|(id, r)| record_json(*id, r)).collect()),
    );
    Value::Object(m)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::time::Timestamp;
    use serde_json::json;
    use std::sync::Arc;

    fn record() -> ArchiveRecord {
        ArchiveRecord {
            start: Timestamp::from_secs(1_767_225_600),
            end: Timestamp::from_secs(1_767_225_660),
            samples: 12,
            temperature_c: Stat {
                mean: Some(3.2),
                min: Some(3.0),
                max: Some(f64::NAN),
                n: 12,
            },
            wind_dir_deg: None,
            rain_mm: Some(0.2),
            extras: vec![(
                Arc::from("illuminance_lux"),
                Stat {
                    mean: Some(1000.0),
                    min: None,
                    max: None,
                    n: 3,
                },
            )],
            ..ArchiveRecord::default()
        }
    }

    #[test]
    fn record_has_id_times_and_unit_named_values() {
        let v = record_json(42, &record());
        assert_eq!(v["id"], json!(42));
        assert_eq!(v["start_utc"], json!("2026-01-01T00:00:00Z"));
        assert_eq!(v["end_utc"], json!("2026-01-01T00:01:00Z"));
        assert_eq!(v["temperature_c"], json!(3.2));
        assert_eq!(v["temperature_min_c"], json!(3.0));
        assert_eq!(v["temperature_n"], json!(12));
        assert_eq!(v["rain_mm"], json!(0.2));
        assert_eq!(v["illuminance_lux"], json!(1000.0));
        assert_eq!(v["illuminance_n"], json!(3));
    }

    #[test]
    fn missing_and_non_finite_values_are_null_not_absent() {
        let v = record_json(1, &record());
        let m = v.as_object().expect("an object");
        for key in [
            "temperature_max_c",
            "wind_dir_deg",
            "humidity_pct",
            "illuminance_min_lux",
        ] {
            assert_eq!(m.get(key), Some(&Value::Null), "{key}");
        }
    }

    #[test]
    fn documents_wrap_records_with_station_and_schema() {
        let one = record_document("roof", 7, &record());
        assert_eq!(one["station"], json!("roof"));
        assert_eq!(one["schema_version"], json!(SCHEMA_VERSION));
        assert_eq!(one["record"]["id"], json!(7));
        let many = records_document("roof", &[(7, record()), (8, record())]);
        let ids: Vec<&Value> = many["records"]
            .as_array()
            .expect("an array")
            .iter()
            .map(|r| &r["id"])
            .collect();
        assert_eq!(ids, [&json!(7), &json!(8)]);
    }
}
