//! Home Assistant MQTT discovery (`home_assistant = true` on an mqtt destination).
//!
//! For each quantity the station measures (standard ones, derived values, and extra
//! quantities from extra drivers, mapped by their unit suffix: see [`entities`]), one
//! retained discovery config on
//! `<discovery_prefix>/sensor/<station>/<station>_<field>/config` (the documented
//! sensor schema: `name`, `unique_id`, `object_id`, `device`, `state_topic`,
//! `value_template`, `unit_of_measurement`, `device_class`, `state_class`,
//! `availability_topic`), pointing at the retained `latest_topic` record, whose
//! document then also carries `rain_today_mm` (rain since the station's local midnight,
//! the `total_increasing` sensor HA's statistics need). Availability is the existing
//! `status_topic` (`online`, and `offline` as the last will).
//!
//! Which entities exist is kept where Home Assistant keeps it: in the broker's retained
//! configs. At each connection the destination subscribes to its own config topics and
//! the latest topic, publishes a marker after the subscription's acknowledgement and
//! reads every retained message up to the marker (brokers deliver a subscription's
//! retained messages before later publishes): that gives the entities published before
//! (and the rain-today total to continue from), however long weatherd was down. A
//! quantity that has neither a value nor a fault in a whole batch is gone (its sensor
//! was removed from the config): its entity gets an empty retained config, which is
//! how HA removes an entity. A batch with a whole-sensor fault (no quantity named)
//! removes nothing, since the quantity might be that sensor's.

use super::{Batch, Connection, DeliveryError, Message, Progress, Settings};
use crate::observation::Quantity;
use crate::record::ArchiveRecord;
use crate::time::Timestamp;
use rumqttc::{QoS, SubscribeFilter};
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet};

mod entities;
pub use entities::{extra_sensor, sensor, Entity, Sensor, ENTITIES};

/// The latest document's rain-since-local-midnight field.
pub const RAIN_TODAY: &str = "rain_today_mm";
/// The marker topic's last level (not `config`, so HA ignores it).
const MARKER: &str = "weatherd-sync";

/// The HA side of a destination, fixed at construction.
pub(super) struct HaSettings {
    pub prefix: String,
    pub time_zone: chrono_tz::Tz,
}

/// What the destination remembers between batches (refreshed at each connection).
#[derive(Default)]
pub(super) struct HaState {
    /// Fields whose entities are announced (retained config on the broker).
    pub announced: BTreeSet<String>,
    /// Rain since local midnight: (local date, mm, last record id counted).
    pub rain: Option<(chrono::NaiveDate, f64, i64)>,
}

/// The object id (and topic level) of a field's entity.
pub fn object_id(station: &str, field: &str) -> String {
    format!("{station}_{field}")
}

pub fn config_topic(prefix: &str, station: &str, field: &str) -> String {
    format!(
        "{prefix}/sensor/{station}/{}/config",
        object_id(station, field)
    )
}

/// The discovery config of one entity.
pub fn discovery_config(
    entity: &Sensor,
    station: &str,
    state_topic: &str,
    status_topic: &str,
) -> Value {
    let mut c = json!({
        "name": entity.name,
        "unique_id": format!("weatherd_{}", object_id(station, &entity.field)),
        "object_id": object_id(station, &entity.field),
        "state_topic": state_topic,
        "value_template": entity.value_template,
        "unit_of_measurement": entity.unit,
        "state_class": entity.state_class,
        "device": {
            "identifiers": [format!("weatherd_{station}")],
            "name": station,
            "manufacturer": "weatherd",
            "model": "weatherd weather station",
            "sw_version": env!("CARGO_PKG_VERSION"),
        },
    });
    if let Some(class) = entity.device_class {
        c["device_class"] = json!(class);
    }
    if !status_topic.is_empty() {
        c["availability_topic"] = json!(status_topic);
        c["payload_available"] = json!(super::STATUS_ONLINE);
        c["payload_not_available"] = json!(super::STATUS_OFFLINE);
    }
    c
}

/// The fields a batch shows the station has (a value or a fault in some record), and
/// whether absence may be read as removal (no whole-sensor fault in the batch).
pub fn present_fields(records: &[(i64, ArchiveRecord)]) -> (BTreeSet<String>, bool) {
    let mut present = BTreeSet::new();
    let mut sure = true;
    for (_, r) in records {
        for entity in &ENTITIES {
            let (count, quantity) = entity.source;
            let counted = crate::record::column(count).is_some_and(|c| c.count(r) > 0);
            let faulted = r
                .faults
                .iter()
                .any(|f| f.quantity.as_ref().is_some_and(|q| q.name() == quantity));
            if counted || faulted {
                present.insert(entity.field.to_string());
            }
        }
        // Extra quantities: a value, or a fault of that quantity.
        for (name, stat) in &r.extras {
            if stat.n > 0 {
                present.insert(name.to_string());
            }
        }
        for f in &r.faults {
            if let Some(q @ Quantity::Extra(_)) = &f.quantity {
                present.insert(q.name().to_string());
            }
        }
        if r.faults.iter().any(|f| f.quantity.is_none()) {
            sure = false;
        }
    }
    (present, sure)
}

/// Rain since local midnight after `records`, from `state` (records already counted
/// are skipped: a re-sent batch adds nothing twice).
pub fn rain_today(
    state: Option<(chrono::NaiveDate, f64, i64)>,
    records: &[(i64, ArchiveRecord)],
    tz: chrono_tz::Tz,
) -> Option<(chrono::NaiveDate, f64, i64)> {
    let mut state = state;
    for (id, r) in records {
        if state.is_some_and(|(_, _, last)| *id <= last) {
            continue;
        }
        let day = local_date(r.start, tz);
        let rain = r.rain_mm.unwrap_or(0.0);
        state = Some(match state {
            Some((d, total, _)) if d == day => (day, total + rain, *id),
            _ => (day, rain, *id),
        });
    }
    state
}

fn local_date(t: Timestamp, tz: chrono_tz::Tz) -> chrono::NaiveDate {
    t.to_chrono().with_timezone(&tz).date_naive()
}

/// The discovery messages for a batch: configs for entities new to the broker (or all
/// present ones on a fresh connection), empty configs for removed ones. Returns the
/// messages and the announced set once they are acknowledged.
pub(super) fn discovery_messages(
    s: &Settings,
    ha: &HaSettings,
    state: &HaState,
    station: &str,
    records: &[(i64, ArchiveRecord)],
    refresh: bool,
) -> (Vec<Message>, BTreeSet<String>) {
    let (present, sure) = present_fields(records);
    let mut announced = state.announced.clone();
    let mut out = Vec::new();
    for field in &present {
        if refresh || !announced.contains(field) {
            let config =
                discovery_config(&sensor(field), station, &s.latest_topic, &s.status_topic);
            out.push(Message {
                topic: config_topic(&ha.prefix, station, field),
                retain: true,
                payload: config.to_string().into_bytes(),
            });
            announced.insert(field.clone());
        }
    }
    if sure {
        for gone in state.announced.difference(&present) {
            out.push(Message {
                topic: config_topic(&ha.prefix, station, gone),
                retain: true,
                payload: Vec::new(),
            });
            announced.remove(gone);
        }
    }
    (out, announced)
}

/// Adds `rain_today_mm` to the latest document.
pub fn with_rain_today(mut doc: Value, rain: Option<(chrono::NaiveDate, f64, i64)>) -> Value {
    if let Some((_, mm, _)) = rain {
        // Sums of 0.2794 mm tips: rounded to what a gauge can tell.
        doc[RAIN_TODAY] = json!((mm * 1e4).round() / 1e4);
    }
    doc
}

impl super::MqttDestination {
    /// Home Assistant's read-back on a fresh connection, then discovery changes, the
    /// records and the latest document with rain today; the state is kept only once
    /// the broker acknowledged all of it.
    pub(super) async fn deliver_with_home_assistant(
        &mut self,
        batch: &Batch,
    ) -> Result<(), DeliveryError> {
        self.connection();
        let Some(ha) = self.settings.ha.as_ref() else {
            return Ok(());
        };
        let station = batch.station_id.as_str();
        let mut refresh = false;
        if let Some(conn) = self.connection.as_mut() {
            if !conn.ha_synced {
                let read = sync(conn, &self.settings, ha, station).await?;
                conn.ha_synced = true;
                refresh = true;
                self.ha_state.announced = read.announced;
                // What the broker holds may be newer (another run) or older (a publish
                // that failed after this process counted it): the later record wins.
                if read.rain.map(|r| r.2) > self.ha_state.rain.map(|r| r.2) {
                    self.ha_state.rain = read.rain;
                }
            }
        }
        let (mut messages, announced) = discovery_messages(
            &self.settings,
            ha,
            &self.ha_state,
            station,
            &batch.records,
            refresh,
        );
        let rain = rain_today(self.ha_state.rain, &batch.records, ha.time_zone);
        messages.extend(self.settings.messages(batch, rain));
        self.publish_all(messages).await?;
        self.ha_state.announced = announced;
        self.ha_state.rain = rain;
        Ok(())
    }
}

/// Reads back, on a fresh connection, what this station announced before and the last
/// rain-today total: subscribe, publish the marker, collect retained messages until the
/// marker comes back, unsubscribe.
pub(super) async fn sync(
    conn: &mut Connection,
    s: &Settings,
    ha: &HaSettings,
    station: &str,
) -> Result<HaState, DeliveryError> {
    let node = format!("{}/sensor/{station}", ha.prefix);
    let configs = format!("{node}/+/config");
    let marker = format!("{node}/{MARKER}");
    let filters = vec![
        SubscribeFilter::new(configs.clone(), QoS::AtLeastOnce),
        SubscribeFilter::new(marker.clone(), QoS::AtLeastOnce),
        SubscribeFilter::new(s.latest_topic.clone(), QoS::AtLeastOnce),
    ];
    let broker = s.broker();
    let failed = |what: &str| DeliveryError::Transient {
        message: format!("MQTT broker {broker}: Home Assistant discovery read-back: {what}"),
        retry_after: None,
    };
    conn.client
        .subscribe_many(filters)
        .await
        .map_err(|e| failed(&e.to_string()))?;
    let nonce = format!("{}", Timestamp::now().nanos());
    let mut marker_sent = false;
    let mut marker_back = false;
    let mut state = HaState::default();
    let mut configs_seen: BTreeMap<String, bool> = BTreeMap::new();
    // Until the marker is back and every publish of this connection so far (the
    // `online` status, the marker) is acknowledged: `publish_all` only counts the
    // acknowledgements of its own publishes.
    while !(marker_back && conn.unacked == 0) {
        let event = tokio::time::timeout(s.timeout, conn.progress.recv())
            .await
            .map_err(|_| failed("no answer in time"))?;
        match event {
            Some(Progress::Subscribed) if !marker_sent => {
                conn.client
                    .publish(marker.clone(), QoS::AtLeastOnce, false, nonce.clone())
                    .await
                    .map_err(|e| failed(&e.to_string()))?;
                conn.unacked += 1;
                marker_sent = true;
            }
            Some(Progress::Sent(_)) | Some(Progress::Connected) | Some(Progress::Subscribed) => {}
            Some(Progress::Acked(_)) => conn.unacked = conn.unacked.saturating_sub(1),
            Some(Progress::Received(topic, payload)) => {
                if topic == marker && payload == nonce.as_bytes() {
                    marker_back = true;
                    continue;
                }
                if topic == s.latest_topic {
                    state.rain = parse_rain(&payload, ha.time_zone);
                } else if let Some(field) = topic
                    .strip_prefix(&format!("{node}/{station}_"))
                    .and_then(|t| t.strip_suffix("/config"))
                {
                    configs_seen.insert(field.to_string(), !payload.is_empty());
                }
            }
            Some(Progress::Failed(e)) => return Err(super::classify(&e, &broker, None)),
            None => return Err(failed("the connection ended")),
        }
    }
    // The configs and the latest record change with every batch: stop their echo.
    for topic in [configs, marker, s.latest_topic.clone()] {
        let _ = conn.client.unsubscribe(topic).await;
    }
    state.announced = configs_seen
        .into_iter()
        // Every config under this station's node is ours: standard fields and extras.
        .filter(|(field, live)| *live && !field.is_empty())
        .map(|(field, _)| field)
        .collect();
    Ok(state)
}

/// The rain-today state from a retained latest document: its record's local date, its
/// `rain_today_mm` and its record id.
fn parse_rain(payload: &[u8], tz: chrono_tz::Tz) -> Option<(chrono::NaiveDate, f64, i64)> {
    let doc: Value = serde_json::from_slice(payload).ok()?;
    let mm = doc.get(RAIN_TODAY)?.as_f64()?;
    let id = doc["record"]["id"].as_i64()?;
    let start = crate::time::parse_time(doc["record"]["start"].as_str()?).ok()?;
    Some((local_date(start, tz), mm, id))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rain_today_resets_at_local_midnight_and_never_counts_twice() {
        let tz: chrono_tz::Tz = "Europe/London".parse().unwrap();
        // 2025-07-01 22:58Z and 22:59Z are 23:58 and 23:59 BST; 23:00Z is the next day.
        let rec = |id: i64, secs: i64, mm: f64| {
            (
                id,
                ArchiveRecord {
                    start: Timestamp::from_secs(secs),
                    rain_mm: Some(mm),
                    ..Default::default()
                },
            )
        };
        let t = 1_751_410_680; // 2025-07-01T22:58:00Z
        let batch = vec![rec(1, t, 0.2), rec(2, t + 60, 0.4), rec(3, t + 120, 0.6)];
        let s = rain_today(None, &batch[..2], tz).unwrap();
        assert!((s.1 - 0.6).abs() < 1e-9 && s.2 == 2);
        // The same records again (a re-sent batch) add nothing; the third starts a day.
        let s = rain_today(Some(s), &batch, tz).unwrap();
        assert_eq!(s.0.to_string(), "2025-07-02");
        assert!((s.1 - 0.6).abs() < 1e-9 && s.2 == 3);
    }

    #[test]
    fn configs_follow_the_documented_schema() {
        let mut ids = BTreeSet::new();
        for entity in &ENTITIES {
            let c = discovery_config(
                &entity.into(),
                "roof",
                "weather/roof/latest",
                "weather/roof/status",
            );
            assert!(ids.insert(c["unique_id"].as_str().unwrap().to_string()));
            assert_eq!(c["availability_topic"], "weather/roof/status");
            assert!(c["value_template"].as_str().unwrap().contains(entity.field));
        }
    }

    #[test]
    fn extras_get_units_and_classes_from_their_suffix() {
        let cases = [
            ("illuminance_lux", "Illuminance", "lx", Some("illuminance")),
            (
                "box_temperature_c",
                "Box temperature",
                "°C",
                Some("temperature"),
            ),
            ("box_humidity_pct", "Box humidity", "%", Some("humidity")),
            ("soil_moisture_pct", "Soil moisture", "%", Some("moisture")),
            ("cloud_cover_pct", "Cloud cover", "%", None),
            (
                "solar_radiation_w_m2",
                "Solar radiation",
                "W/m²",
                Some("irradiance"),
            ),
            ("battery_v", "Battery", "V", Some("voltage")),
            ("co2_ppm", "Co2", "ppm", Some("carbon_dioxide")),
            ("pm25_ug_m3", "Pm25", "µg/m³", Some("pm25")),
            (
                "snow_mm_per_h",
                "Snow",
                "mm/h",
                Some("precipitation_intensity"),
            ),
            ("lightning_count", "Lightning", "count", None),
            ("uv_uvi", "Uv", "UV index", None),
        ];
        for (name, title, unit, class) in cases {
            let s = extra_sensor(name);
            assert_eq!(
                (s.name.as_str(), s.unit.as_str(), s.device_class),
                (title, unit, class),
                "{name}"
            );
            assert_eq!(s.state_class, "measurement");
            assert!(s
                .value_template
                .contains(&format!("extras['{name}'].value")));
        }
        // A standard field keeps its own entity.
        assert_eq!(
            sensor("heat_index_c").value_template,
            "{{ value_json.record.heat_index_c }}"
        );
    }

    #[test]
    fn extras_and_their_faults_make_entities_and_their_absence_removes_them() {
        use crate::observation::FaultKind;
        let lux = |n: u32| ArchiveRecord {
            extras: vec![(
                std::sync::Arc::from("illuminance_lux"),
                crate::record::ExtraStat {
                    n,
                    ..Default::default()
                },
            )],
            ..Default::default()
        };
        assert!(present_fields(&[(1, lux(12))])
            .0
            .contains("illuminance_lux"));
        assert!(!present_fields(&[(1, lux(0))]).0.contains("illuminance_lux"));
        let mut faulted = lux(0);
        faulted.faults.push(crate::record::FaultCount {
            sensor: "light".into(),
            quantity: Some(Quantity::from_name("illuminance_lux")),
            kind: FaultKind::ReadError,
            count: 12,
            first_at: Timestamp::from_secs(0),
            message: "no answer".into(),
        });
        let (present, sure) = present_fields(&[(1, faulted)]);
        assert!(present.contains("illuminance_lux") && sure);
    }
}
