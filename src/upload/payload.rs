//! The JSON form of records that every destination sends (documented for server
//! writers in `docs/upload-format.md`; keep the two in step).
//!
//! Field names are the database's column names, so a server that stores them as they
//! come gets the same table as `weatherd query`. A value that could not be measured is
//! `null`, never 0.

use super::Batch;
use crate::record::{
    Access, ArchiveRecord, ExtraStat, FaultCount, CELSIUS, COLUMNS, DEGREE_TRUE, HECTOPASCAL, KMH,
    MILLIMETRE, MM_PER_HOUR, PERCENT_RH,
};
use serde::ser::{SerializeMap, Serializer};
use serde::Serialize;

/// Bumped only for changes a server must know about; adding a field is not one.
pub const SCHEMA_VERSION: u32 = 1;

/// Units of the fields that carry one; `_n` counts and `samples` are plain counts.
/// Extra quantities carry their unit as the suffix of their name (`illuminance_lux`).
pub const UNITS: [(&str, &str); 7] = {
    // The record table's units, so a unit is spelled in one place.
    let units = [
        CELSIUS,
        PERCENT_RH,
        HECTOPASCAL,
        KMH,
        DEGREE_TRUE,
        MILLIMETRE,
        MM_PER_HOUR,
    ];
    let mut pairs = [("", ""); 7];
    let mut i = 0;
    while i < units.len() {
        pairs[i] = (units[i].suffix, units[i].name);
        i += 1;
    }
    pairs
};

/// One batch as sent over HTTP (and by MQTT in `per = "batch"` mode).
#[derive(Serialize)]
pub struct Document<'a> {
    pub schema_version: u32,
    pub station: &'a str,
    /// Unit of every standard field, by field name.
    pub units: Units,
    pub records: Vec<RecordJson<'a>>,
}

impl<'a> Document<'a> {
    pub fn new(batch: &'a Batch) -> Self {
        Document {
            schema_version: SCHEMA_VERSION,
            station: &batch.station_id,
            units: Units,
            records: batch
                .records
                .iter()
                .map(|(id, r)| RecordJson::new(*id, r))
                .collect(),
        }
    }
}

/// The standard fields with units, as a JSON object `{"temperature_c": "degree Celsius", ...}`.
pub struct Units;

/// The unit of a field name, from its suffix.
pub fn unit_of(field: &str) -> Option<&'static str> {
    // Longest suffix first: `_mm_per_h` before `_h`-less `_mm`.
    let mut units = UNITS;
    units.sort_by_key(|(suffix, _)| std::cmp::Reverse(suffix.len()));
    units
        .iter()
        .find(|(suffix, _)| field.ends_with(suffix))
        .map(|(_, unit)| *unit)
}

impl Serialize for Units {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(Some(fields_with_units().count()))?;
        for c in COLUMNS {
            if let Some(unit) = c.unit {
                map.serialize_entry(c.name, unit.name)?;
            }
        }
        map.end()
    }
}

/// Every standard field that carries a unit, in record order.
pub fn fields_with_units() -> impl Iterator<Item = &'static str> {
    COLUMNS.iter().filter(|c| c.unit.is_some()).map(|c| c.name)
}

/// One record: its id (the station's record number, increasing), its interval in UTC,
/// every value of `record::COLUMNS` by its column name, extras and faults.
pub struct RecordJson<'a> {
    pub id: i64,
    pub record: &'a ArchiveRecord,
}

/// Non-finite numbers are not measurements; serde_json would write them as `null`
/// anyway, this makes it explicit.
fn finite(v: Option<f64>) -> Option<f64> {
    v.filter(|x| x.is_finite())
}

impl<'a> RecordJson<'a> {
    pub fn new(id: i64, record: &'a ArchiveRecord) -> Self {
        RecordJson { id, record }
    }
}

impl Serialize for RecordJson<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let r = self.record;
        let mut map = s.serialize_map(Some(COLUMNS.len() + 5))?;
        map.serialize_entry("id", &self.id)?;
        // `[start, end)`, RFC 3339 UTC.
        map.serialize_entry("start", &r.start.rfc3339())?;
        map.serialize_entry("end", &r.end.rfc3339())?;
        for c in COLUMNS {
            match c.access {
                Access::Real { get, .. } => map.serialize_entry(c.name, &finite(get(r)))?,
                Access::Count { get, .. } => map.serialize_entry(c.name, &get(r))?,
            }
        }
        // Quantities outside the standard set, by name.
        map.serialize_entry("extras", &Extras(&r.extras))?;
        let faults: Vec<FaultJson<'_>> = r.faults.iter().map(FaultJson::new).collect();
        map.serialize_entry("faults", &faults)?;
        map.end()
    }
}

/// `{"illuminance_lux": {"kind": "mean", "value": 1.0, "mean": 1.0, "min": 0.5,
/// "max": 2.0, "n": 12}, ...}`: `value` is the record's value however the quantity
/// folds (`kind`: mean, sum, vector, last); `mean` is kept for readers written before
/// the kinds existed (`null` unless the kind is `mean`).
pub struct Extras<'a>(&'a [(std::sync::Arc<str>, ExtraStat)]);

impl Serialize for Extras<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        #[derive(Serialize)]
        struct StatJson {
            kind: &'static str,
            value: Option<f64>,
            mean: Option<f64>,
            min: Option<f64>,
            max: Option<f64>,
            n: u32,
        }
        let mut map = s.serialize_map(Some(self.0.len()))?;
        for (name, stat) in self.0 {
            map.serialize_entry(
                &**name,
                &StatJson {
                    kind: stat.kind.name(),
                    value: finite(stat.value),
                    mean: finite(stat.mean()),
                    min: finite(stat.min),
                    max: finite(stat.max),
                    n: stat.n,
                },
            )?;
        }
        map.end()
    }
}

/// What went wrong with one sensor during the interval.
#[derive(Serialize)]
pub struct FaultJson<'a> {
    pub sensor: &'a str,
    /// `null` when the whole sensor failed.
    pub quantity: Option<&'a str>,
    /// `read_error`, `timeout`, `busy` or `out_of_range`.
    pub kind: &'static str,
    pub count: u32,
    pub first_at: String,
    pub message: &'a str,
}

impl<'a> FaultJson<'a> {
    fn new(f: &'a FaultCount) -> Self {
        FaultJson {
            sensor: &f.sensor,
            quantity: f.quantity.as_ref().map(|q| q.name()),
            kind: f.kind.name(),
            count: f.count,
            first_at: f.first_at.rfc3339(),
            message: &f.message,
        }
    }
}

/// The batch as JSON bytes.
pub fn to_json(batch: &Batch) -> Vec<u8> {
    // Serializing plain structs of numbers and strings into memory cannot fail.
    serde_json::to_vec(&Document::new(batch)).unwrap_or_default()
}

/// The idempotency key of a batch: the same records always give the same key, so a
/// server can drop a batch it already stored (record ids inside allow the same per
/// record, for servers that see overlapping batches after a restart).
pub fn idempotency_key(batch: &Batch) -> String {
    let first = batch.records.first().map_or(0, |r| r.0);
    let last = batch.records.last().map_or(0, |r| r.0);
    format!("{}:{first}-{last}", batch.station_id)
}

/// One record as a JSON value, the same object the HTTP batch carries.
pub fn record_json(id: i64, r: &ArchiveRecord) -> serde_json::Value {
    serde_json::to_value(RecordJson::new(id, r)).unwrap_or(serde_json::Value::Null)
}

/// `{"station": …, "schema_version": 1, "record": {…}}`: one record on its own (an
/// MQTT message with `per = "record"`).
pub fn record_document(station_id: &str, id: i64, r: &ArchiveRecord) -> serde_json::Value {
    serde_json::json!({
        "station": station_id,
        "schema_version": SCHEMA_VERSION,
        "record": record_json(id, r),
    })
}

/// `{"station": …, "schema_version": 1, "records": [{…}, …]}`, oldest first (an MQTT
/// message with `per = "batch"`).
pub fn records_document(station_id: &str, records: &[(i64, ArchiveRecord)]) -> serde_json::Value {
    serde_json::json!({
        "station": station_id,
        "schema_version": SCHEMA_VERSION,
        "records": records.iter().map(|(id, r)| record_json(*id, r)).collect::<Vec<_>>(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::observation::{Aggregation, FaultKind, Quantity};
    use crate::record::Stat;
    use crate::time::Timestamp;
    use std::sync::Arc;

    fn batch() -> Batch {
        let rec = ArchiveRecord {
            start: Timestamp::from_secs(1_767_225_600),
            end: Timestamp::from_secs(1_767_225_660),
            samples: 12,
            temperature_c: Stat {
                mean: Some(3.25),
                min: Some(3.0),
                max: Some(3.5),
                n: 12,
            },
            rain_mm: Some(0.0),
            wind_dir_deg: Some(f64::NAN),
            extras: vec![
                (
                    Arc::from("illuminance_lux"),
                    Stat {
                        mean: Some(100.0),
                        min: None,
                        max: None,
                        n: 3,
                    }
                    .into(),
                ),
                (
                    Arc::from("solar_energy_wh"),
                    ExtraStat {
                        kind: Aggregation::Sum,
                        value: Some(4.5),
                        min: None,
                        max: None,
                        n: 12,
                    },
                ),
            ],
            faults: vec![FaultCount {
                sensor: Arc::from("bme280"),
                quantity: Some(Quantity::HumidityPct),
                kind: FaultKind::OutOfRange,
                count: 2,
                first_at: Timestamp::from_secs(1_767_225_605),
                message: "humidity 104 % above 100".into(),
            }],
            ..Default::default()
        };
        Batch {
            station_id: "school".into(),
            records: vec![(41, rec.clone()), (42, rec)],
        }
    }

    #[test]
    fn document_has_ids_times_nulls_extras_and_faults() {
        let v: serde_json::Value = serde_json::from_slice(&to_json(&batch())).unwrap();
        assert_eq!(v["schema_version"], 1);
        assert_eq!(v["station"], "school");
        assert_eq!(v["units"]["temperature_c"], "degree Celsius");
        assert_eq!(v["units"]["rain_rate_mm_per_h"], "millimetre per hour");
        assert_eq!(v["units"]["rain_mm"], "millimetre");
        let r = &v["records"][1];
        assert_eq!(r["id"], 42);
        assert_eq!(r["start"], "2026-01-01T00:00:00Z");
        assert_eq!(r["end"], "2026-01-01T00:01:00Z");
        assert_eq!(r["temperature_c"], 3.25);
        assert_eq!(r["temperature_n"], 12);
        assert!(r["humidity_pct"].is_null());
        assert!(r["wind_dir_deg"].is_null(), "NaN is sent as null");
        assert_eq!(r["rain_mm"], 0.0, "0 rain is not null");
        assert_eq!(r["extras"]["illuminance_lux"]["mean"], 100.0);
        assert_eq!(r["extras"]["illuminance_lux"]["value"], 100.0);
        assert_eq!(r["extras"]["illuminance_lux"]["kind"], "mean");
        // A total has a value, no mean and no extremes.
        let energy = &r["extras"]["solar_energy_wh"];
        assert_eq!(energy["kind"], "sum");
        assert_eq!(energy["value"], 4.5);
        assert!(energy["mean"].is_null() && energy["min"].is_null() && energy["max"].is_null());
        assert_eq!(energy["n"], 12);
        assert!(r["extras"]["illuminance_lux"]["min"].is_null());
        assert_eq!(r["faults"][0]["kind"], "out_of_range");
        assert_eq!(r["faults"][0]["quantity"], "humidity_pct");
        assert_eq!(r["faults"][0]["first_at"], "2026-01-01T00:00:05Z");
    }

    #[test]
    fn the_published_schema_lists_exactly_the_fields_sent() {
        let schema: serde_json::Value =
            serde_json::from_str(include_str!("../../docs/upload.schema.json")).unwrap();
        let v: serde_json::Value = serde_json::from_slice(&to_json(&batch())).unwrap();
        let mut sent: Vec<&str> = v["records"][0]
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        let mut documented: Vec<&str> = schema["$defs"]["record"]["required"]
            .as_array()
            .unwrap()
            .iter()
            .map(|k| k.as_str().unwrap())
            .collect();
        sent.sort_unstable();
        documented.sort_unstable();
        assert_eq!(sent, documented);
        // Every extra's object has exactly the documented keys, whatever its kind.
        let mut stat_keys: Vec<&str> = schema["$defs"]["stat"]["required"]
            .as_array()
            .unwrap()
            .iter()
            .map(|k| k.as_str().unwrap())
            .collect();
        stat_keys.sort_unstable();
        let kinds = schema["$defs"]["stat"]["properties"]["kind"]["enum"].clone();
        let names: Vec<&str> = Aggregation::ALL.iter().map(|a| a.name()).collect();
        assert_eq!(kinds, serde_json::json!(names), "the documented kinds");
        for (name, extra) in v["records"][0]["extras"].as_object().unwrap() {
            let mut keys: Vec<&str> = extra
                .as_object()
                .unwrap()
                .keys()
                .map(String::as_str)
                .collect();
            keys.sort_unstable();
            assert_eq!(keys, stat_keys, "{name}");
            assert!(kinds.as_array().unwrap().contains(&extra["kind"]), "{name}");
        }
        let mut top: Vec<&str> = v.as_object().unwrap().keys().map(String::as_str).collect();
        top.sort_unstable();
        assert_eq!(top, ["records", "schema_version", "station", "units"]);
    }

    #[test]
    fn idempotency_key_names_station_and_id_range() {
        assert_eq!(idempotency_key(&batch()), "school:41-42");
    }

    #[test]
    fn every_documented_field_has_a_unit() {
        for c in COLUMNS {
            assert_eq!(c.unit.map(|u| u.name), unit_of(c.name), "{}", c.name);
        }
        assert_eq!(
            unit_of("wind_dir_deg"),
            Some("degree clockwise from true north")
        );
        assert_eq!(unit_of("temperature_n"), None);
    }
}
