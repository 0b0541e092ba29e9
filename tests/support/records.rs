//! The one record builder of the tests: [`empty`] is a one-minute record with nothing
//! measured; the others fill it in.

use std::sync::Arc;
use weatherd::observation::{FaultKind, Quantity};
use weatherd::record::{ArchiveRecord, FaultCount, Stat};
use weatherd::time::Timestamp;

/// 2025-01-01T00:00:00Z: safely in the past, so every record is "old" to the uploader.
pub const BASE: i64 = 1_735_689_600;

/// A statistic with every part set.
pub fn stat(mean: f64, min: f64, max: f64, n: u32) -> Stat {
    Stat {
        mean: Some(mean),
        min: Some(min),
        max: Some(max),
        n,
    }
}

/// A one-minute record at `start` (12 samples) with nothing measured.
pub fn empty(start: Timestamp) -> ArchiveRecord {
    ArchiveRecord {
        start,
        end: start.add_secs(60),
        samples: 12,
        ..Default::default()
    }
}

/// The i-th one-minute record from [`BASE`] (i from 0), with a temperature, humidity
/// and rain that differ per record.
pub fn record(i: i64) -> ArchiveRecord {
    let t = (i % 1440) as f64 / 100.0;
    ArchiveRecord {
        temperature_c: stat(5.0 + t, 4.5 + t, 5.5 + t, 12),
        humidity_pct: stat(80.0, 79.0, 81.0, 12),
        rain_mm: Some(if i % 7 == 0 { 0.2794 } else { 0.0 }),
        rain_n: 12,
        ..empty(Timestamp::from_secs(BASE + 60 * i))
    }
}

/// A one-minute record at `start` with every standard field set, one extra quantity
/// and one fault.
pub fn full(start: Timestamp) -> ArchiveRecord {
    ArchiveRecord {
        temperature_c: stat(12.5, 12.1, 12.9, 12),
        humidity_pct: stat(81.25, 80.0, 82.5, 12),
        pressure_hpa: stat(1009.75, 1009.5, 1010.0, 11),
        ground_temperature_c: stat(8.0625, 8.0, 8.125, 12),
        dew_point_c: Some(9.3),
        sea_level_pressure_hpa: Some(1012.2),
        wind_speed_kmh: Some(7.2),
        wind_gust_kmh: Some(15.1),
        wind_dir_deg: Some(225.5),
        wind_n: 12,
        wind_dir_n: 10,
        rain_mm: Some(0.2794),
        rain_rate_mm_per_h: Some(4.5),
        rain_n: 12,
        extras: vec![(
            Arc::from("illuminance_lux"),
            stat(1200.0, 1000.0, 1500.0, 12).into(),
        )],
        faults: vec![FaultCount {
            sensor: Arc::from("ground"),
            quantity: Some(Quantity::GroundTemperatureC),
            kind: FaultKind::ReadError,
            count: 2,
            first_at: start.add_secs(15),
            message: "CRC mismatch".into(),
        }],
        last_rain_tip: Some(start.add_nanos(42_123_456_789)),
        altimeter_hpa: Some(1011.4),
        heat_index_c: Some(27.25),
        wind_chill_c: Some(-3.5),
        apparent_temperature_c: Some(10.75),
        ..empty(start)
    }
}

/// A one-minute record at `start` with only a temperature mean.
pub fn with_temperature(start: Timestamp, temperature_c: f64) -> ArchiveRecord {
    ArchiveRecord {
        temperature_c: Stat {
            mean: Some(temperature_c),
            min: None,
            max: None,
            n: 12,
        },
        ..empty(start)
    }
}
