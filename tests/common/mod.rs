#![allow(dead_code)]
pub mod http_server;
pub mod logs;

use std::path::Path;
use weatherd::record::{ArchiveRecord, Stat};
use weatherd::store::{Outbox, Store};
use weatherd::time::Timestamp;

/// 2025-01-01T00:00:00Z: safely in the past, so every record is "old" to the uploader.
pub const BASE: i64 = 1_735_689_600;

/// The i-th one-minute record (from 0), with a few values that differ per record.
pub fn record(i: i64) -> ArchiveRecord {
    let t = (i % 1440) as f64 / 100.0;
    ArchiveRecord {
        start: Timestamp::from_secs(BASE + 60 * i),
        end: Timestamp::from_secs(BASE + 60 * (i + 1)),
        samples: 12,
        temperature_c: Stat {
            mean: Some(5.0 + t),
            min: Some(4.5 + t),
            max: Some(5.5 + t),
            n: 12,
        },
        humidity_pct: Stat {
            mean: Some(80.0),
            min: Some(79.0),
            max: Some(81.0),
            n: 12,
        },
        rain_mm: Some(if i % 7 == 0 { 0.2794 } else { 0.0 }),
        rain_n: 12,
        ..Default::default()
    }
}

pub fn open(path: &Path) -> Store {
    Store::open(path, chrono_tz::UTC).expect("open store")
}

/// An uploader's handle on a database `open` already created.
pub fn outbox(path: &Path) -> Outbox {
    Store::open_outbox(path).expect("open outbox")
}

/// Appends records `from..to` (indices as in `record`).
pub fn fill(store: &mut Store, from: i64, to: i64) -> Vec<i64> {
    let recs: Vec<ArchiveRecord> = (from..to).map(record).collect();
    store.insert_batch(&recs).expect("insert")
}
