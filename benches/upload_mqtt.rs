//! Drain 30 days of one-minute records (43,200) to a local mosquitto through the MQTT
//! destination, one message per record and one per batch, and print records per second.
//!
//! `cargo bench --bench upload_mqtt`; needs mosquitto (`apt-get install mosquitto`).
//! Besides the words, prints `BENCH <name> <value> <unit>` lines for `scripts/bench`;
//! `WEATHERD_BENCH_DAYS=3` drains fewer days (its CI mode).

#[path = "support/days.rs"]
mod days;
// The tests' kit: the bench starts its broker as the MQTT tests do.
#[path = "../tests/support/mod.rs"]
mod support;

use std::time::Instant;
use weatherd::record::{ArchiveRecord, Stat};
use weatherd::time::Timestamp;
use weatherd::upload::mqtt::MqttDestination;
use weatherd::upload::{Batch, Destination, MqttConfig};

fn stat(x: f64) -> Stat {
    Stat {
        mean: Some(x),
        min: Some(x - 0.4),
        max: Some(x + 0.4),
        n: 12,
    }
}

/// A record with every standard field set, like a full station's.
fn record(id: i64) -> ArchiveRecord {
    let start = Timestamp::from_secs(1_767_225_600 + id * 60);
    let phase = id as f64 / 1440.0 * std::f64::consts::TAU;
    ArchiveRecord {
        start,
        end: start.add_secs(60),
        samples: 12,
        temperature_c: stat(10.0 + 5.0 * phase.sin()),
        humidity_pct: stat(70.0 - 10.0 * phase.sin()),
        pressure_hpa: stat(1013.0),
        ground_temperature_c: stat(8.0),
        dew_point_c: Some(5.1),
        sea_level_pressure_hpa: Some(1015.2),
        wind_speed_kmh: Some(7.2),
        wind_gust_kmh: Some(15.1),
        wind_dir_deg: Some(225.5),
        wind_n: 12,
        wind_dir_n: 12,
        rain_mm: Some(0.0),
        rain_rate_mm_per_h: Some(0.0),
        rain_n: 12,
        ..ArchiveRecord::default()
    }
}

fn run(rt: &tokio::runtime::Runtime, port: u16, per: &str, batches: &[Batch]) -> f64 {
    let text = format!(
        "name = \"bench\"\nhost = \"127.0.0.1\"\nport = {port}\nper = \"{per}\"\n\
         client_id = \"bench-{per}\"\n"
    );
    let config: MqttConfig = toml::from_str(&text).expect("bench config");
    let mut dest = MqttDestination::new(&config, "bench").expect("destination");
    rt.block_on(async {
        let started = Instant::now();
        for b in batches {
            dest.deliver(b).await.expect("delivered");
        }
        let seconds = started.elapsed().as_secs_f64();
        dest.close().await;
        let records: usize = batches.iter().map(|b| b.records.len()).sum();
        records as f64 / seconds
    })
}

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    let days = days::days();
    let total = days * 24 * 60;
    let records: Vec<(i64, ArchiveRecord)> = (1..=total).map(|id| (id, record(id))).collect();
    // The uploader's default MQTT batch size.
    let batch_size = weatherd::upload::mqtt::DEFAULT_BATCH_SIZE as usize;
    let batches: Vec<Batch> = records
        .chunks(batch_size)
        .map(|c| Batch {
            station_id: "bench".into(),
            records: c.to_vec(),
        })
        .collect();
    println!(
        "MQTT drain of {total} one-minute records ({days} days) to local mosquitto, \
         batches of {batch_size}, QoS 1, waiting for every PUBACK:"
    );
    println!("BENCH upload_days {days} days");
    // mosquitto's default leaves Nagle on for its PUBACKs, which costs one delayed-ACK
    // wait (~40 ms) per batch; `set_tcp_nodelay true` is the broker-side cure.
    for (broker_setting, key, extra) in [
        ("default broker", "default", ""),
        ("set_tcp_nodelay", "nodelay", "set_tcp_nodelay true\n"),
    ] {
        let broker = support::mosquitto::Mosquitto::start_with(|_| (extra.to_string(), Vec::new()));
        for per in ["record", "batch"] {
            let rate = run(&rt, broker.port, per, &batches);
            let seconds = total as f64 / rate;
            println!(
                "  {broker_setting:<16} per = {per:<6}  {rate:>10.0} records/s  ({seconds:.2} s for {days} days)"
            );
            println!("BENCH upload_mqtt_{key}_per_{per}_records_per_s {rate} records/s");
            println!("BENCH upload_mqtt_{key}_per_{per}_s {seconds} s");
        }
    }
}
