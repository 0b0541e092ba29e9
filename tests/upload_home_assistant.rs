//! Home Assistant MQTT discovery against a real mosquitto: the retained discovery
//! configs and state follow HA's documented MQTT sensor schema, and an entity whose
//! sensor left the config is removed, by a destination that remembers nothing itself
//! (it reads back what it announced from the broker's retained messages). Extra
//! quantities (a BH1750's `illuminance_lux`, an SHT31's `sht31_temperature_c` and
//! `sht31_humidity_pct`, as those drivers name them by default) and the derived values
//! get entities too, and lose them with their sensor.

mod support;

use rumqttc::{AsyncClient, Event, Incoming, MqttOptions, QoS};
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;
use support::mosquitto::Mosquitto;
use weatherd::record::{ArchiveRecord, Stat};
use weatherd::time::Timestamp;
use weatherd::upload::mqtt::home_assistant::ENTITIES;
use weatherd::upload::mqtt::MqttDestination;
use weatherd::upload::{Batch, Destination, MqttConfig};

const STATION: &str = "roof";
const PATIENCE: Duration = Duration::from_secs(20);

/// HA's sensor device classes and the units its documentation allows for each
/// (developers.home-assistant.io, "Sensor entity", available device classes).
fn allowed_units(class: &str) -> &'static [&'static str] {
    match class {
        "temperature" => &["°C", "°F", "K"],
        "humidity" => &["%"],
        "atmospheric_pressure" | "pressure" => &[
            "cbar", "bar", "hPa", "mmHg", "inHg", "kPa", "mbar", "Pa", "psi",
        ],
        "wind_speed" => &["Beaufort", "ft/s", "km/h", "kn", "m/s", "mph"],
        "precipitation" => &["cm", "in", "mm"],
        "precipitation_intensity" => &["in/d", "in/h", "mm/d", "mm/h"],
        "illuminance" => &["lx"],
        "irradiance" => &["W/m²", "BTU/(h⋅ft²)"],
        "voltage" => &["V", "mV", "µV", "kV", "MV"],
        other => panic!("device_class {other} is not one this test knows from HA's docs"),
    }
}

/// Everything retained on the broker under the given filters: subscribe, publish a
/// marker after the SUBACK, collect until it returns. (topic → (payload, retained)).
async fn retained(port: u16, filters: &[&str]) -> BTreeMap<String, (Vec<u8>, bool)> {
    let mut options = MqttOptions::new("ha-test-reader", "127.0.0.1", port);
    options.set_max_packet_size(1 << 20, 1 << 20);
    let (client, mut eventloop) = AsyncClient::new(options, 16);
    for f in filters {
        client.subscribe(*f, QoS::AtLeastOnce).await.unwrap();
    }
    client
        .subscribe("test/marker", QoS::AtLeastOnce)
        .await
        .unwrap();
    let mut acks = 0;
    let mut out = BTreeMap::new();
    let work = async {
        loop {
            match eventloop.poll().await.expect("reader lost the broker") {
                Event::Incoming(Incoming::SubAck(_)) => {
                    acks += 1;
                    if acks == filters.len() + 1 {
                        client
                            .publish("test/marker", QoS::AtLeastOnce, false, "end")
                            .await
                            .unwrap();
                    }
                }
                Event::Incoming(Incoming::Publish(p)) => {
                    if p.topic == "test/marker" {
                        return;
                    }
                    out.insert(p.topic.clone(), (p.payload.to_vec(), p.retain));
                }
                _ => {}
            }
        }
    };
    tokio::time::timeout(PATIENCE, work)
        .await
        .expect("marker came back");
    out
}

fn destination(port: u16) -> MqttDestination {
    let mut c = MqttConfig::from_toml(&format!(
        "name = \"ha\"\nhost = \"127.0.0.1\"\nport = {port}\nhome_assistant = true\n"
    ))
    .unwrap();
    c.time_zone = Some("Europe/London".parse().unwrap());
    MqttDestination::new(&c, STATION).unwrap()
}

fn stat(v: f64) -> Stat {
    Stat {
        mean: Some(v),
        min: Some(v),
        max: Some(v),
        n: 12,
    }
}

/// What the BH1750 and the SHT31 (extra drivers) report in the test's records.
const LUX: f64 = 1234.5;
const SHT31: (f64, f64) = (18.9, 68.0);
/// The extra quantities, named as those drivers name them by default.
const EXTRAS: [&str; 3] = [
    "illuminance_lux",
    "sht31_temperature_c",
    "sht31_humidity_pct",
];

/// A record at minute `i` of 2025-07-01 (UTC), with or without a barometer and an
/// SHT31 (the BH1750 is always there), with its derived values computed.
fn record(i: i64, barometer: bool, sht31: bool) -> ArchiveRecord {
    let mut extras = vec![(Arc::from("illuminance_lux"), stat(LUX).into())];
    if sht31 {
        extras.push((Arc::from("sht31_temperature_c"), stat(SHT31.0).into()));
        extras.push((Arc::from("sht31_humidity_pct"), stat(SHT31.1).into()));
    }
    let mut r = ArchiveRecord {
        start: Timestamp::from_secs(1_751_328_000 + 60 * i),
        end: Timestamp::from_secs(1_751_328_060 + 60 * i),
        samples: 12,
        temperature_c: stat(18.5),
        humidity_pct: stat(70.0),
        pressure_hpa: if barometer {
            stat(1003.2)
        } else {
            Stat::default()
        },
        ground_temperature_c: stat(15.0),
        dew_point_c: Some(13.0),
        sea_level_pressure_hpa: barometer.then_some(1013.0),
        wind_speed_kmh: Some(7.2),
        wind_gust_kmh: Some(12.0),
        wind_dir_deg: Some(225.0),
        wind_n: 12,
        wind_dir_n: 12,
        rain_mm: Some(0.2),
        rain_rate_mm_per_h: None,
        rain_n: 12,
        extras,
        ..Default::default()
    };
    r.derive(45.0);
    r
}

/// Evaluates the two template shapes the destination writes (checked strictly: any
/// other shape fails) against the state document, as HA's Jinja would: `None` where
/// the template would fail on a missing key.
fn resolve(template: &str, state: &Value) -> Option<Value> {
    let body = template.strip_prefix("{{ ")?.strip_suffix(" }}")?;
    if let Some(rest) = body.strip_prefix("value_json.record.extras['") {
        // `value_json.record.extras['N'].value if 'N' in value_json.record.extras else none`
        let (name, rest) = rest.split_once("']")?;
        let guard = format!(".value if '{name}' in value_json.record.extras else none");
        assert_eq!(rest, guard, "{template}");
        let extras = state["record"]["extras"].as_object()?;
        return Some(match extras.get(name) {
            Some(e) => e.get("value")?.clone(),
            None => Value::Null,
        });
    }
    let path = body.strip_prefix("value_json.")?;
    path.split('.')
        .try_fold(state, |v, k| v.as_object()?.get(k))
        .cloned()
}

async fn deliver(d: &mut MqttDestination, records: Vec<(i64, ArchiveRecord)>) {
    let batch = Batch {
        station_id: STATION.into(),
        records,
    };
    tokio::time::timeout(PATIENCE, d.deliver(&batch))
        .await
        .expect("delivered in time")
        .expect("delivered");
}

fn configs(all: &BTreeMap<String, (Vec<u8>, bool)>) -> BTreeMap<String, Value> {
    all.iter()
        .filter(|(t, (p, _))| {
            t.starts_with("homeassistant/") && t.ends_with("/config") && !p.is_empty()
        })
        .map(|(t, (p, _))| {
            (
                t.clone(),
                serde_json::from_slice(p).expect("config is JSON"),
            )
        })
        .collect()
}

#[tokio::test]
async fn discovery_follows_has_schema_is_retained_and_removes_a_dropped_sensor() {
    let broker = Mosquitto::start();
    let mut d = destination(broker.port);
    deliver(
        &mut d,
        vec![(1, record(0, true, true)), (2, record(1, true, true))],
    )
    .await;
    d.close().await;

    let all = retained(broker.port, &["homeassistant/#", "weather/#"]).await;
    let found = configs(&all);
    assert_eq!(
        found.len(),
        ENTITIES.len() + EXTRAS.len(),
        "{:?}",
        found.keys()
    );
    let latest = &all["weather/roof/latest"];
    assert!(latest.1, "the state is retained");
    let state: Value = serde_json::from_slice(&latest.0).unwrap();
    let mut unique = BTreeSet::new();
    for (topic, c) in &found {
        assert!(all[topic].1, "{topic} is retained");
        // <prefix>/sensor/<node_id>/<object_id>/config, ids of [a-zA-Z0-9_-].
        let parts: Vec<&str> = topic.split('/').collect();
        assert_eq!(parts.len(), 5, "{topic}");
        assert_eq!(&parts[..3], &["homeassistant", "sensor", STATION]);
        assert_eq!(parts[3], c["object_id"], "{topic}");
        for id in [parts[2], parts[3]] {
            assert!(
                id.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-'),
                "{id}"
            );
        }
        for key in [
            "name",
            "unique_id",
            "state_topic",
            "value_template",
            "unit_of_measurement",
            "state_class",
        ] {
            assert!(c[key].is_string(), "{topic}: {key} missing");
        }
        assert!(
            unique.insert(c["unique_id"].as_str().unwrap().to_string()),
            "{topic}: unique_id repeated"
        );
        let unit = c["unit_of_measurement"].as_str().unwrap();
        if let Some(class) = c["device_class"].as_str() {
            assert!(
                allowed_units(class).contains(&unit),
                "{topic}: {unit} is not a {class} unit"
            );
        }
        let state_class = c["state_class"].as_str().unwrap();
        let total = topic.ends_with("_rain_today_mm/config");
        assert_eq!(
            state_class,
            if total {
                "total_increasing"
            } else {
                "measurement"
            },
            "{topic}"
        );
        let device = &c["device"];
        assert_eq!(device["identifiers"][0], "weatherd_roof");
        for key in ["name", "manufacturer", "model", "sw_version"] {
            assert!(device[key].is_string(), "{topic}: device.{key}");
        }
        assert_eq!(c["state_topic"], "weather/roof/latest");
        assert_eq!(c["availability_topic"], "weather/roof/status");
        assert_eq!(
            (
                c["payload_available"].as_str(),
                c["payload_not_available"].as_str()
            ),
            (Some("online"), Some("offline"))
        );
        // The template resolves to the value the state document has for the field.
        let template = c["value_template"].as_str().unwrap();
        let value = resolve(template, &state)
            .unwrap_or_else(|| panic!("{topic}: {template} does not resolve in {state}"));
        let field = parts[3].strip_prefix("roof_").unwrap();
        let expected = match field {
            "illuminance_lux" => json!(LUX),
            "sht31_temperature_c" => json!(SHT31.0),
            "sht31_humidity_pct" => json!(SHT31.1),
            "rain_today_mm" => json!(0.4),
            // Not defined at 18.5 °C (heat index from 26.7 °C, wind chill to 10 °C),
            // no rain rate without two tips: null, HA's "unknown".
            "heat_index_c" | "wind_chill_c" | "rain_rate_mm_per_h" => Value::Null,
            _ => {
                let column = weatherd::record::column(field)
                    .unwrap_or_else(|| panic!("{topic}: {field} is no record column"));
                match column.access {
                    weatherd::record::Access::Real { get, .. } => {
                        json!(get(&record(1, true, true)).unwrap())
                    }
                    weatherd::record::Access::Count { .. } => panic!("{field} is a count"),
                }
            }
        };
        // serde_json parses the last digit of a long float loosely: compare closely.
        let same = match (value.as_f64(), expected.as_f64()) {
            (Some(a), Some(b)) => (a - b).abs() < 1e-9,
            _ => value == expected,
        };
        assert!(
            same,
            "{topic}: {template} is {value}, not {expected}, in {state}"
        );
        let unit = c["unit_of_measurement"].as_str().unwrap();
        match field {
            "illuminance_lux" => assert_eq!(
                (unit, c["device_class"].as_str()),
                ("lx", Some("illuminance"))
            ),
            "sht31_temperature_c" => assert_eq!(
                (unit, c["device_class"].as_str()),
                ("°C", Some("temperature"))
            ),
            "sht31_humidity_pct" => {
                assert_eq!((unit, c["device_class"].as_str()), ("%", Some("humidity")))
            }
            "wind_dir_deg" => assert_eq!((unit, c.get("device_class")), ("°", None)),
            _ => {}
        }
    }
    let fields: BTreeSet<&str> = found
        .values()
        .map(|c| {
            c["object_id"]
                .as_str()
                .unwrap()
                .strip_prefix("roof_")
                .unwrap()
        })
        .collect();
    for f in EXTRAS.iter().chain(&[
        "altimeter_hpa",
        "heat_index_c",
        "wind_chill_c",
        "apparent_temperature_c",
        "dew_point_c",
        "sea_level_pressure_hpa",
        "wind_dir_deg",
    ]) {
        assert!(fields.contains(f), "no entity for {f}: {fields:?}");
    }
    // Two records of 0.2 mm on one local day.
    assert_eq!(state["rain_today_mm"], 0.4);
    let status = &all["weather/roof/status"];
    assert_eq!((status.0.as_slice(), status.1), (&b"offline"[..], true));

    // Restarted without the barometer and the SHT31: a new destination (nothing in
    // memory) reads back what was announced, removes the three pressure entities and
    // the SHT31's two, keeps the others (the BH1750's too), and continues rain today
    // from the retained state.
    let mut d = destination(broker.port);
    deliver(&mut d, vec![(3, record(2, false, false))]).await;
    let all = retained(broker.port, &["homeassistant/#", "weather/#"]).await;
    let after = configs(&all);
    let gone: Vec<&String> = found.keys().filter(|t| !after.contains_key(*t)).collect();
    assert_eq!(
        gone,
        vec![
            "homeassistant/sensor/roof/roof_altimeter_hpa/config",
            "homeassistant/sensor/roof/roof_pressure_hpa/config",
            "homeassistant/sensor/roof/roof_sea_level_pressure_hpa/config",
            "homeassistant/sensor/roof/roof_sht31_humidity_pct/config",
            "homeassistant/sensor/roof/roof_sht31_temperature_c/config",
        ]
    );
    // Removed the way HA removes an entity: an empty retained config, which also
    // clears the broker's retained message (so a later HA start sees nothing there).
    for topic in &gone {
        assert!(!all.contains_key(*topic), "{topic}: {:?}", all.get(*topic));
    }
    assert_eq!(after.len(), ENTITIES.len() + EXTRAS.len() - 5);
    assert!(after.contains_key("homeassistant/sensor/roof/roof_illuminance_lux/config"));
    let state: Value = serde_json::from_slice(&all["weather/roof/latest"].0).unwrap();
    assert_eq!(state["rain_today_mm"], 0.6);
    assert_eq!(all["weather/roof/status"].0, b"online");
    // A re-sent batch (a lost acknowledgement) counts its rain once.
    deliver(&mut d, vec![(3, record(2, false, false))]).await;
    let all = retained(broker.port, &["weather/roof/latest"]).await;
    let state: Value = serde_json::from_slice(&all["weather/roof/latest"].0).unwrap();
    assert_eq!(state["rain_today_mm"], 0.6);
    d.close().await;
}

#[tokio::test]
async fn without_home_assistant_nothing_is_announced() {
    let broker = Mosquitto::start();
    let c = MqttConfig::from_toml(&format!(
        "name = \"m\"\nhost = \"127.0.0.1\"\nport = {}\n",
        broker.port
    ))
    .unwrap();
    let mut d = MqttDestination::new(&c, STATION).unwrap();
    deliver(&mut d, vec![(1, record(0, true, true))]).await;
    let all = retained(broker.port, &["homeassistant/#", "weather/#"]).await;
    assert!(configs(&all).is_empty());
    let state: Value = serde_json::from_slice(&all["weather/roof/latest"].0).unwrap();
    assert!(state.get("rain_today_mm").is_none(), "{state}");
    assert_eq!(state["record"]["id"], 1);
}
