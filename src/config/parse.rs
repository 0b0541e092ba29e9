//! TOML text → `Config`, with every error naming its key path.
//!
//! Two steps, because an internally tagged enum makes serde buffer a sensor table
//! and forget the path inside it: first everything except `[sensors]` goes straight
//! into `Config` (through `serde_path_to_error`); then each `[sensors.NAME]` table is
//! read by hand: its `type` picks the driver struct, and the remaining keys are
//! deserialized into that struct with the path `sensors.NAME` as prefix.

use super::hint::did_you_mean;
use super::path::{KeyPath, Seg};
use super::{Config, SensorConfig};
use crate::upload::UploadConfig;
use serde::de::DeserializeOwned;
use std::collections::BTreeMap;

/// A config error before the line is known.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Problem {
    pub path: KeyPath,
    pub message: String,
}

impl Problem {
    pub(crate) fn new(path: KeyPath, message: impl Into<String>) -> Self {
        Problem {
            path,
            message: message.into(),
        }
    }
}

/// Parses already syntax-checked text; does not validate values.
pub(crate) fn parse(text: &str) -> Result<Config, Problem> {
    let mut table: toml::Table = text
        .parse()
        .map_err(|e: toml::de::Error| Problem::new(KeyPath::root(), e.message().to_string()))?;
    let sensors = table.remove("sensors");
    let uploads = table.remove("upload");
    let spike = take_spike_limits(&mut table)?;
    let mut config: Config = deserialize(toml::Value::Table(table), &KeyPath::root())
        .map_err(hint_misplaced_top_level_key)?;
    config.spike = spike;
    if let Some(sensors) = sensors {
        config.sensors = parse_sensors(sensors)?;
    }
    if let Some(uploads) = uploads {
        config.upload = parse_uploads(uploads)?;
    }
    Ok(config)
}

/// `[qc]` holds two kinds of entry: a `[qc.QUANTITY]` range-limit table per quantity,
/// and the spike test's plain keys (`temperature_c_per_minute = 3.0`), which are taken
/// out here so the rest reads as a map of tables. A `qc` that is not a table is left
/// for the `Config` deserializer to report.
fn take_spike_limits(table: &mut toml::Table) -> Result<crate::spike::SpikeLimits, Problem> {
    let mut spike = toml::Table::new();
    if let Some(toml::Value::Table(qc)) = table.get_mut("qc") {
        for key in crate::spike::SpikeLimits::KEYS {
            if let Some(v) = qc.remove(key) {
                spike.insert(key.to_string(), v);
            }
        }
    }
    deserialize(toml::Value::Table(spike), &KeyPath::of(&["qc"]))
}

/// The keys that must come before the first `[table]` header.
const TOP_LEVEL_KEYS: [&str; 4] = [
    "sample_interval_seconds",
    "archive_interval_seconds",
    "sensor_timeout_ms",
    "wait_for_time_sync",
];

/// A top-level key written below a `[table]` header belongs to that table in TOML,
/// a classic mistake worth naming.
fn hint_misplaced_top_level_key(mut p: Problem) -> Problem {
    if let Some(key) = p.path.last_key() {
        if p.path != KeyPath::of(&[key])
            && TOP_LEVEL_KEYS.contains(&key)
            && p.message.starts_with("unknown key")
        {
            p.message = format!(
                "unknown key; `{key}` is a top-level key, so it must come before the first [table] header"
            );
        }
    }
    p
}

fn parse_sensors(value: toml::Value) -> Result<BTreeMap<String, SensorConfig>, Problem> {
    let base = KeyPath::of(&["sensors"]);
    let toml::Value::Table(tables) = value else {
        return Err(Problem::new(
            base,
            format!(
                "must be a table of sensor tables such as [sensors.bme280], found {}",
                value.type_str()
            ),
        ));
    };
    let mut sensors = BTreeMap::new();
    for (name, value) in tables {
        let path = base.key(&name);
        let sensor = parse_sensor(&path, value)?;
        sensors.insert(name, sensor);
    }
    Ok(sensors)
}

fn parse_sensor(path: &KeyPath, value: toml::Value) -> Result<SensorConfig, Problem> {
    let (type_name, rest) = split_type(path, value, "sensor", SensorConfig::TYPES)?;
    // The registry in `sensors` knows which struct each `type` names.
    SensorConfig::parse_as(&type_name, toml::Value::Table(rest), path).unwrap_or_else(|| {
        Err(unknown_type(
            path,
            "sensor",
            &type_name,
            SensorConfig::TYPES,
        ))
    })
}

fn parse_uploads(value: toml::Value) -> Result<Vec<UploadConfig>, Problem> {
    let base = KeyPath::of(&["upload"]);
    let toml::Value::Array(items) = value else {
        return Err(Problem::new(
            base,
            format!(
                "must be an array of tables written [[upload]], found {}",
                value.type_str()
            ),
        ));
    };
    let mut out = Vec::new();
    for (i, item) in items.into_iter().enumerate() {
        let path = base.clone().index(i);
        let (type_name, rest) = split_type(&path, item, "upload", UploadConfig::TYPES)?;
        // The registry in `upload` knows which struct each `type` names.
        out.push(
            UploadConfig::parse_as(&type_name, rest, &path).unwrap_or_else(|| {
                Err(unknown_type(
                    &path,
                    "upload",
                    &type_name,
                    UploadConfig::TYPES,
                ))
            })?,
        );
    }
    Ok(out)
}

fn quoted_list(types: &[&str]) -> String {
    types
        .iter()
        .map(|t| format!("\"{t}\""))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Takes the `type` key out of a component table (a sensor, an upload), so the rest
/// can be deserialized into the struct that type names.
fn split_type(
    path: &KeyPath,
    value: toml::Value,
    what: &str,
    types: &[&str],
) -> Result<(String, toml::Table), Problem> {
    let toml::Value::Table(mut fields) = value else {
        return Err(Problem::new(
            path.clone(),
            format!(
                "must be a table with a `type` key (one of {}), found {}",
                quoted_list(types),
                value.type_str()
            ),
        ));
    };
    let type_path = path.key("type");
    match fields.remove("type") {
        Some(toml::Value::String(s)) => Ok((s, fields)),
        Some(other) => Err(Problem::new(
            type_path,
            format!(
                "wrong type: expected a string, one of {}, found {}",
                quoted_list(types),
                other.type_str()
            ),
        )),
        None => Err(Problem::new(
            type_path,
            format!(
                "this required key is missing; every {what} needs `type = ...`, one of {}",
                quoted_list(types)
            ),
        )),
    }
}

fn unknown_type(path: &KeyPath, what: &str, name: &str, types: &[&str]) -> Problem {
    Problem::new(
        path.key("type"),
        format!(
            "unknown {what} type \"{name}\"; the known types are {}{}",
            quoted_list(types),
            did_you_mean(name, types.iter().copied())
        ),
    )
}

/// Deserializes `value` as `T`, reporting errors under `base`.
pub(crate) fn deserialize<T: DeserializeOwned>(
    value: toml::Value,
    base: &KeyPath,
) -> Result<T, Problem> {
    deserialize_with_keys(value, base, &[])
}

/// [`deserialize`] for a struct that shares its table with keys read elsewhere
/// (an upload destination's and the shared `batch_size` & co.): an unknown key's
/// message lists `also_allowed` after the struct's own keys.
pub(crate) fn deserialize_with_keys<T: DeserializeOwned>(
    value: toml::Value,
    base: &KeyPath,
    also_allowed: &[&str],
) -> Result<T, Problem> {
    serde_path_to_error::deserialize(value).map_err(|e| {
        let mut path = base.clone();
        for seg in e.path().iter() {
            match seg {
                serde_path_to_error::Segment::Seq { index } => path.push(Seg::Index(*index)),
                serde_path_to_error::Segment::Map { key }
                | serde_path_to_error::Segment::Enum { variant: key } => {
                    path.push(Seg::Key(key.clone()))
                }
                serde_path_to_error::Segment::Unknown => {}
            }
        }
        explain(path, e.inner().message(), also_allowed)
    })
}

/// Turns serde's wording (which speaks Rust: `u8`, `struct Station`, "field") into
/// the config's, and moves the key a message names into the path.
fn explain(mut path: KeyPath, message: &str, also_allowed: &[&str]) -> Problem {
    if let Some(field) = between(message, "missing field `", "`") {
        if path.last_key() != Some(field) {
            path = path.key(field);
        }
        return Problem::new(path, "this required key is missing");
    }
    if let Some(field) = between(message, "unknown field `", "`") {
        if path.last_key() != Some(field) {
            path = path.key(field);
        }
        let mut expected: Vec<&str> = message
            .split_once(", expected ")
            .map(|(_, list)| {
                list.split(", ")
                    .map(|k| k.trim_start_matches("one of ").trim_matches('`'))
                    .collect()
            })
            .unwrap_or_default();
        expected.extend_from_slice(also_allowed);
        let message = if expected.is_empty() {
            "unknown key; this table takes no keys".to_string()
        } else {
            format!(
                "unknown key; the keys allowed here are {}{}",
                expected
                    .iter()
                    .map(|k| format!("`{k}`"))
                    .collect::<Vec<_>>()
                    .join(", "),
                did_you_mean(field, expected.iter().copied())
            )
        };
        return Problem::new(path, message);
    }
    for (prefix, label) in [
        ("invalid type: ", "wrong type"),
        ("invalid value: ", "invalid value"),
    ] {
        if let Some(rest) = message.strip_prefix(prefix) {
            if let Some((found, expected)) = rest.split_once(", expected ") {
                return Problem::new(
                    path,
                    format!(
                        "{label}: expected {}, found {}",
                        humanize_expected(expected),
                        found.replace('`', "")
                    ),
                );
            }
        }
    }
    Problem::new(path, message.to_string())
}

fn humanize_expected(expected: &str) -> String {
    match expected {
        "u8" => "a whole number from 0 to 255".into(),
        "u16" => "a whole number from 0 to 65535".into(),
        "u32" => "a whole number from 0 to 4294967295".into(),
        "f64" | "f32" => "a number".into(),
        "path string" => "a string".into(),
        "a sequence" => "an array".into(),
        "a map" => "a table".into(),
        e if e.starts_with("struct ") => "a table".into(),
        e => e.into(),
    }
}

fn between<'a>(s: &'a str, start: &str, end: &str) -> Option<&'a str> {
    let rest = s.strip_prefix(start)?;
    rest.split_once(end).map(|(inner, _)| inner)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn problem(text: &str) -> Problem {
        parse(text).expect_err("the text should not parse")
    }

    const STATION: &str = "[station]\nname = \"x\"\nlatitude = 1.0\nlongitude = 2.0\n";

    #[test]
    fn every_known_type_parses_with_defaults() {
        for &(t, example) in SensorConfig::EXAMPLES {
            let text = format!("{STATION}[sensors.s]\ntype = \"{t}\"\n");
            match parse(&text) {
                Ok(config) => assert_eq!(config.sensors["s"].type_name(), t),
                // A type with keys no default fits (a channel or a scale only the
                // maker knows) names one that is missing; its example table parses.
                Err(p) => {
                    assert_eq!(p.message, "this required key is missing", "{t}: {p:?}");
                    assert!(p.path.to_string().starts_with("sensors.s."), "{t}: {p:?}");
                    parse(&format!("{STATION}{example}")).unwrap_or_else(|p| panic!("{t}: {p:?}"));
                }
            }
        }
    }

    #[test]
    fn unknown_key_inside_sensor_has_full_path_and_suggestion() {
        let p = problem(&format!(
            "{STATION}[sensors.anemometer]\ntype = \"anemometer\"\npinn = 5\n"
        ));
        assert_eq!(p.path.to_string(), "sensors.anemometer.pinn");
        assert!(p.message.contains("did you mean `pin`?"), "{}", p.message);
    }

    #[test]
    fn wrong_type_inside_sensor_speaks_config_not_rust() {
        let p = problem(&format!(
            "{STATION}[sensors.anemometer]\ntype = \"anemometer\"\npin = \"five\"\n"
        ));
        assert_eq!(p.path.to_string(), "sensors.anemometer.pin");
        assert_eq!(
            p.message,
            "wrong type: expected a whole number from 0 to 255, found string \"five\""
        );
    }

    #[test]
    fn out_of_range_integer_names_the_key() {
        let p = problem(&format!(
            "{STATION}[sensors.a]\ntype = \"anemometer\"\npin = 300\n"
        ));
        assert_eq!(p.path.to_string(), "sensors.a.pin");
        assert!(p.message.starts_with("invalid value"), "{}", p.message);
    }

    #[test]
    fn vane_table_errors_carry_the_index() {
        let p = problem(&format!("{STATION}[sensors.v]\ntype = \"wind_vane\"\ntable = [{{ deg = 0.0, ohm = 1.0 }}, {{ deg = 1.0 }}]\n"));
        assert_eq!(p.path.to_string(), "sensors.v.table[1].ohm");
        assert_eq!(p.message, "this required key is missing");
    }

    #[test]
    fn missing_and_wrong_type_keys() {
        assert_eq!(
            problem("[station]\nlatitude = 1.0\nlongitude = 2.0\n")
                .path
                .to_string(),
            "station.name"
        );
        let p = problem(&format!("{STATION}[sensors.x]\npin = 5\n"));
        assert_eq!(p.path.to_string(), "sensors.x.type");
        let p = problem(&format!("{STATION}[sensors.x]\ntype = 5\n"));
        assert_eq!(p.path.to_string(), "sensors.x.type");
        assert!(p.message.starts_with("wrong type"), "{}", p.message);
        let p = problem(&format!("sensors = 5\n{STATION}"));
        assert_eq!(p.path.to_string(), "sensors");
        let p = problem("station = 5\n");
        assert_eq!(p.path.to_string(), "station");
        assert_eq!(p.message, "wrong type: expected a table, found integer 5");
    }

    #[test]
    fn top_level_key_below_a_table_header_is_explained() {
        let p = problem(&format!("{STATION}sample_interval_seconds = 10\n"));
        assert_eq!(p.path.to_string(), "station.sample_interval_seconds");
        assert!(
            p.message.contains("before the first [table] header"),
            "{}",
            p.message
        );
    }

    #[test]
    fn integers_are_accepted_where_numbers_are_expected() {
        let config =
            parse("[station]\nname = \"x\"\nlatitude = 52\nlongitude = 0\n").expect("parses");
        assert_eq!(config.station.latitude, 52.0);
    }
}
