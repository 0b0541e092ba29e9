//! `weatherd run`: wires sensors → sampler → aggregator → store and drives them from
//! a clock until the duration ends or shutdown is requested.
//!
//! Shutdown is passed in as a future (as in tokio's mini-redis), so tests can stop a
//! station without sending signals. On shutdown the partial interval is flushed and
//! the database closed.

use crate::aggregate::{Aggregator, AggregatorConfig};
use crate::clock::{Clock, Speed};
use crate::config::Config;
use crate::hw::{Backend, RealHardware};
use crate::record::ArchiveRecord;
use crate::sampler::Sampler;
use crate::sensors;
use crate::sim::{SimHardware, SimTime, Weather};
use crate::store::Store;
use crate::time::Timestamp;
use std::future::Future;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

/// How to run a station.
#[derive(Clone, Debug)]
pub struct RunOptions {
    pub config: Config,
    pub db_path: PathBuf,
    /// `Some` runs on simulated hardware and a simulated clock.
    pub simulation: Option<Simulation>,
    /// Stop after this much (simulated or real) time, measured from the start.
    pub duration_s: Option<i64>,
}

#[derive(Clone, Debug)]
pub struct Simulation {
    pub seed: u64,
    pub speed: Speed,
    /// Where the simulated clock starts; `None` means now, rounded down to the archive
    /// interval. A database that already reaches past it resumes where it ends.
    pub start: Option<Timestamp>,
}

/// What a run did, for the final log line and for tests.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct RunSummary {
    pub records_written: u64,
    pub samples: u64,
    /// Raw GPIO edges processed, contact bounce included.
    pub edges: u64,
    pub first_tick: Option<Timestamp>,
    pub last_tick: Option<Timestamp>,
    /// True when the run stopped because shutdown was requested.
    pub interrupted: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
}

pub async fn run(opts: RunOptions, shutdown: impl Future<Output = ()>) -> Result<RunSummary, RunError> {
    let config = &opts.config;
    let sample_s = i64::from(config.sample_interval_seconds);
    let archive_s = i64::from(config.archive_interval_seconds);
    let mut store = Store::open(&opts.db_path, config.time_zone())?;
    let resume = store.resume()?;

    let (clock, hw, start): (Clock, Box<dyn Backend>, Timestamp) = match &opts.simulation {
        Some(sim) => {
            let requested = sim.start.unwrap_or_else(|| Timestamp::now().floor_to(archive_s));
            // A simulated run resumes where its database ends, so a run that was
            // killed and restarted with the same arguments continues seamlessly.
            let start = match resume.last_end {
                Some(end) if end > requested => end,
                _ => requested,
            };
            let time = SimTime::new(start);
            let weather =
                Arc::new(Weather::new(sim.seed, config.station.latitude, config.station.elevation_m));
            let hw = SimHardware::new(weather, time.clone());
            (Clock::simulated(start, sim.speed, time), Box::new(hw), start)
        }
        None => (Clock::Real, Box::new(RealHardware), Timestamp::now()),
    };
    let requested_start = opts
        .simulation
        .as_ref()
        .and_then(|s| s.start)
        .unwrap_or(start);
    let end = opts.duration_s.map(|d| requested_start.add_secs(d));

    let registered = sensors::build_all(config, hw.as_ref());
    let timeout = Duration::from_millis(u64::from(config.sensor_timeout_ms));
    let mut sampler = Sampler::new(registered, sample_s, timeout);
    let mut aggregator = Aggregator::new(AggregatorConfig::from_config(config), &resume);

    tracing::info!(
        db = %opts.db_path.display(),
        start = %start,
        simulated = opts.simulation.is_some(),
        "station running"
    );

    let mut summary = RunSummary::default();
    let mut records: Vec<ArchiveRecord> = Vec::new();
    tokio::pin!(shutdown);
    let mut tick = start.next_tick(sample_s);
    loop {
        if let Some(end) = end {
            if tick > end {
                break;
            }
        }
        tokio::select! {
            biased;
            _ = &mut shutdown => {
                summary.interrupted = true;
                break;
            }
            _ = clock.sleep_until(tick) => {}
        }
        let sample = sampler.sample(tick).await;
        summary.samples += 1;
        summary.first_tick.get_or_insert(tick);
        summary.last_tick = Some(tick);
        aggregator.push(sample, &mut records);
        for rec in records.drain(..) {
            write(&mut store, &rec, &mut summary);
        }
        // A real clock may have jumped or the loop may have been slow: the next tick
        // is the next grid point after now, never a backlog of missed ones.
        let next = tick.add_secs(sample_s);
        tick = match clock {
            Clock::Real => next.max(clock.now().next_tick(sample_s)),
            _ => next,
        };
    }
    if let Some(rec) = aggregator.flush() {
        write(&mut store, &rec, &mut summary);
    }
    drop(store);
    summary.edges = sampler.edges_seen();
    tracing::info!(
        records = summary.records_written,
        samples = summary.samples,
        edges = summary.edges,
        "station stopped"
    );
    Ok(summary)
}

fn write(store: &mut Store, rec: &ArchiveRecord, summary: &mut RunSummary) {
    // A record that cannot be written (disk full, overlap after a clock step) is
    // logged and dropped; the station keeps sampling rather than dying.
    match store.insert(rec) {
        Ok(_) => summary.records_written += 1,
        Err(e) => tracing::error!(start = %rec.start, "record not stored: {e}"),
    }
}
