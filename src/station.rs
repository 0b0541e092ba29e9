//! `weatherd run`: wires sensors → sampler → aggregator → store and drives them from
//! a clock until the duration ends or shutdown is requested.
//!
//! Shutdown is passed in as a future (as in tokio's mini-redis), so tests can stop a
//! station without sending signals. On shutdown the partial interval is flushed and
//! the database closed.
//!
//! Time rules, for a Pi without a real-time clock:
//! - nothing is archived until the clock is trusted (`wait_for_time_sync`); samples
//!   taken before are discarded and counted, because their times are guesses;
//! - ticks are grid points of the wall clock; after a forward step the loop re-plans
//!   from the new time (the interval it was in is closed as a partial record, and no
//!   empty records are made for the skipped time);
//! - after a backward step, samples at or before the newest tick already taken are
//!   discarded until the clock passes it again, so records never overlap and never go
//!   back in time.

use crate::aggregate::{Aggregator, AggregatorConfig};
use crate::clock::{Clock, Speed};
use crate::config::Config;
use crate::hw::{Backend, RealHardware};
use crate::record::ArchiveRecord;
use crate::sampler::Sampler;
use crate::sensors;
use crate::sim::{SimHardware, SimTime, Weather};
use crate::store::Store;
use crate::time::{Timestamp, NANOS_PER_SEC};
use crate::timesync::{AlwaysSynced, KernelSync, SyncSource};
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
    /// When the duration ends, how long uploaders may still send what is stored.
    pub drain_timeout: Duration,
}

#[derive(Clone, Debug)]
pub struct Simulation {
    pub seed: u64,
    pub speed: Speed,
    /// Where the simulated clock starts; `None` means now, rounded down to the archive
    /// interval. A database that already reaches past it resumes where it ends.
    pub start: Option<Timestamp>,
}

/// What a station runs on: its clock, its hardware and its judge of the clock.
pub struct Env {
    pub clock: Clock,
    pub hw: Box<dyn Backend>,
    pub sync: Box<dyn SyncSource>,
    /// The first tick comes after this.
    pub start: Timestamp,
    /// Stop at the first tick after this.
    pub end: Option<Timestamp>,
}

/// What a run did, for the final log line and for tests.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct RunSummary {
    pub records_written: u64,
    pub samples: u64,
    /// Raw GPIO edges processed, contact bounce included.
    pub edges: u64,
    /// Samples discarded because the clock was not yet synchronised.
    pub discarded_unsynced: u64,
    /// Samples discarded after the clock stepped back.
    pub discarded_backward: u64,
    /// Times the loop re-planned after the wall clock stepped.
    pub clock_steps: u64,
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

/// Runs the station described by `opts` on the real machine or, with
/// `opts.simulation`, on simulated hardware.
pub async fn run(
    opts: RunOptions,
    shutdown: impl Future<Output = ()>,
) -> Result<RunSummary, RunError> {
    let config = &opts.config;
    let archive_s = i64::from(config.archive_interval_seconds);
    let store = Store::open(&opts.db_path, config.time_zone())?;
    let env = match &opts.simulation {
        Some(sim) => {
            let requested = sim
                .start
                .unwrap_or_else(|| Timestamp::now().floor_to(archive_s));
            // A simulated run resumes where its database ends, so a run that was
            // killed and restarted with the same arguments continues seamlessly.
            let start = match store.resume()?.last_end {
                Some(end) if end > requested => end,
                _ => requested,
            };
            if sim.speed == Speed::Max {
                // A replay can be regenerated from its seed; an fsync per record would
                // make a simulated year take hours.
                store.set_durability(crate::store::Durability::Fast)?;
            }
            let time = SimTime::new(start);
            let weather = Arc::new(
                Weather::new(
                    sim.seed,
                    config.station.latitude,
                    config.station.elevation_m,
                )
                .with_longitude(config.station.longitude),
            );
            let hw = SimHardware::new(weather, time.clone());
            // The simulated BME280 sits wherever the config says the real one is.
            for sensor in config.sensors.values() {
                if let crate::config::SensorConfig::Bme280(c) = sensor {
                    hw.bme280().set_address(c.address);
                }
            }
            Env {
                clock: Clock::simulated(start, sim.speed, time.clone()),
                hw: Box::new(hw),
                sync: Box::new(AlwaysSynced),
                start,
                end: opts.duration_s.map(|d| requested.add_secs(d)),
            }
        }
        None => {
            let now = Timestamp::now();
            let sync: Box<dyn SyncSource> = if config.wait_for_time_sync {
                Box::new(KernelSync)
            } else {
                Box::new(AlwaysSynced)
            };
            Env {
                clock: Clock::Real,
                hw: Box::new(RealHardware),
                sync,
                start: now,
                end: opts.duration_s.map(|d| now.add_secs(d)),
            }
        }
    };
    run_in_draining(config, store, env, opts.drain_timeout, shutdown).await
}

/// Runs a station on a given environment (tests pass steppable clocks and scripted
/// clock-sync answers here), draining uploads for at most [`DEFAULT_DRAIN_TIMEOUT`]
/// when the duration ends.
pub async fn run_in(
    config: &Config,
    store: Store,
    env: Env,
    shutdown: impl Future<Output = ()>,
) -> Result<RunSummary, RunError> {
    run_in_draining(config, store, env, DEFAULT_DRAIN_TIMEOUT, shutdown).await
}

/// [`run_in`] with the time uploaders get, when the duration ends, to send what is
/// stored (`run --drain-timeout`). A stop on a signal only gets the grace period.
pub async fn run_in_draining(
    config: &Config,
    mut store: Store,
    env: Env,
    drain_timeout: Duration,
    shutdown: impl Future<Output = ()>,
) -> Result<RunSummary, RunError> {
    let Env {
        clock,
        hw,
        mut sync,
        start,
        end,
    } = env;
    let sample_s = i64::from(config.sample_interval_seconds);
    let resume = store.resume()?;

    let registered = sensors::build_all(config, hw.as_ref());
    let timeout = Duration::from_millis(u64::from(config.sensor_timeout_ms));
    let mut sampler = Sampler::new(registered, sample_s, timeout);
    let mut aggregator = Aggregator::new(AggregatorConfig::from_config(config), &resume);
    // Uploaders read the database through their own connections; the station only
    // wakes them after each stored record.
    let uploads = crate::upload::spawn_all(config, store.path(), UPLOAD_GRACE);
    tracing::info!(start = %start, uploads = uploads.len(), "station running");

    let mut summary = RunSummary::default();
    let mut records: Vec<ArchiveRecord> = Vec::new();
    // The newest tick handed to the aggregator (or archived before a restart):
    // nothing at or before it may be archived again.
    let mut high_water = resume.last_end.unwrap_or(Timestamp(i64::MIN));
    let mut synced = false;
    let mut ready_sent = false;
    let mut healthy = true;
    // systemd wants a ping at least every WatchdogSec; twice per period is enough, and
    // without a watchdog (WATCHDOG_USEC unset) there is nobody to ping.
    let mut watchdog_usec = 0u64;
    let watchdog_every = sd_notify::watchdog_enabled(false, &mut watchdog_usec)
        .then(|| Duration::from_micros(watchdog_usec / 2));
    let mut last_ping: Option<std::time::Instant> = None;
    let mut stepped_back = false;
    let wall = clock.is_wall_clock();
    let tolerance = NANOS_PER_SEC;
    tokio::pin!(shutdown);

    // A wall clock starts from whatever it reads now (it may have stepped since the
    // environment was made).
    let start = if wall { clock.now() } else { start };
    let mut tick = start.next_tick(sample_s);
    loop {
        if end.is_some_and(|end| tick > end) {
            break;
        }
        tokio::select! {
            biased;
            _ = &mut shutdown => {
                summary.interrupted = true;
                break;
            }
            _ = clock.sleep_until(tick) => {}
        }
        if wall {
            let now = clock.now();
            if now.0 + tolerance < tick.0 {
                // The clock stepped back while we slept: re-plan from the new time.
                summary.clock_steps += 1;
                tracing::warn!(from = %tick, to = %now, "wall clock stepped back; re-planning ticks");
                tick = now.next_tick(sample_s);
                continue;
            }
            if now.0 > tick.0 + sample_s * NANOS_PER_SEC {
                // Woke far past the tick: the clock stepped forward while we slept. A
                // sample dated by the stale tick would carry the wrong time.
                summary.clock_steps += 1;
                tracing::warn!(from = %tick, to = %now, "wall clock jumped forward; re-planning ticks");
                tick = now.next_tick(sample_s);
                continue;
            }
        }

        let sample = sampler.sample(tick).await;
        summary.samples += 1;
        summary.first_tick.get_or_insert(tick);
        summary.last_tick = Some(tick);
        if !ready_sent {
            // The database is open and every sensor has answered or failed once.
            notify(&[sd_notify::NotifyState::Ready]);
            ready_sent = true;
        }

        if !synced {
            synced = sync.is_synchronized();
            if synced && summary.discarded_unsynced > 0 {
                tracing::info!(
                    discarded = summary.discarded_unsynced,
                    "clock synchronised; samples taken before were discarded"
                );
                // The clock has probably just stepped: take the next tick from it.
                tick = clock.now().next_tick(sample_s);
                continue;
            }
            if !synced {
                if summary.discarded_unsynced == 0 {
                    tracing::warn!("waiting for the clock to synchronise (NTP) before archiving");
                }
                summary.discarded_unsynced += 1;
            }
        }
        if !synced {
            // Discarded above.
        } else if tick <= high_water {
            if !stepped_back {
                tracing::warn!(
                    until = %high_water,
                    "clock is behind the newest archived time; holding records until it passes it"
                );
                stepped_back = true;
            }
            summary.discarded_backward += 1;
        } else {
            stepped_back = false;
            high_water = tick;
            aggregator.push(sample, &mut records);
            let stored = !records.is_empty();
            for rec in records.drain(..) {
                healthy = write(&mut store, &rec, &mut summary, &uploads);
            }
            if stored && !uploads.is_empty() {
                // On a one-thread runtime a `--speed max` replay never waits, so without
                // this the uploaders would not run until the replay ends.
                tokio::task::yield_now().await;
            }
        }
        if healthy {
            // Fed only while sampling and storing work, so systemd restarts a station
            // that is stuck or cannot write.
            if let Some(every) = watchdog_every {
                if last_ping.is_none_or(|t| t.elapsed() >= every) {
                    notify(&[sd_notify::NotifyState::Watchdog]);
                    last_ping = Some(std::time::Instant::now());
                }
            }
        }

        let next = tick.add_secs(sample_s);
        tick = if wall && clock.now().0 > next.0 + tolerance {
            // Forward step (or a stall): re-plan from now instead of catching up on a
            // backlog of ticks that were never sampled.
            summary.clock_steps += 1;
            tracing::warn!(from = %next, to = %clock.now(), "wall clock jumped forward; re-planning ticks");
            clock.now().next_tick(sample_s)
        } else {
            next
        };
    }
    notify(&[sd_notify::NotifyState::Stopping]);
    if let Some(rec) = aggregator.flush() {
        write(&mut store, &rec, &mut summary, &uploads);
    }
    drop(store);
    if summary.interrupted {
        // After the final record: a batch in flight may finish within the grace period.
        uploads.shutdown(UPLOAD_GRACE).await;
    } else {
        // The duration ended: send what is stored first (a signal cuts this short).
        uploads
            .drain(drain_timeout, UPLOAD_GRACE, shutdown.as_mut())
            .await;
    }
    summary.edges = sampler.edges_seen();
    tracing::info!(
        records = summary.records_written,
        samples = summary.samples,
        edges = summary.edges,
        "station stopped"
    );
    Ok(summary)
}

fn notify(state: &[sd_notify::NotifyState]) {
    // Outside systemd (no NOTIFY_SOCKET) this does nothing.
    let _ = sd_notify::notify(false, state);
}

/// How long uploaders may finish a batch already in flight at shutdown (the unit's
/// `TimeoutStopSec=` is 30 s; the unsent rest waits in the database). Requests still
/// running after it are abandoned, never waited for.
pub const UPLOAD_GRACE: Duration = Duration::from_secs(5);

/// How long, by default, uploaders may send what is stored when a run's `--duration`
/// ends (`run --drain-timeout`).
pub const DEFAULT_DRAIN_TIMEOUT: Duration = Duration::from_secs(120);

/// Writes a record and wakes the uploaders; false if it could not be stored.
fn write(
    store: &mut Store,
    rec: &ArchiveRecord,
    summary: &mut RunSummary,
    uploads: &crate::upload::Uploads,
) -> bool {
    // A record that cannot be written (disk full) is logged and dropped; the station
    // keeps sampling rather than dying, and stops feeding the watchdog.
    match store.insert(rec) {
        Ok(id) => {
            // After the commit: tests that cut the power read these as acknowledgements.
            tracing::debug!(id, start = %rec.start, "record stored");
            summary.records_written += 1;
            uploads.notify(id);
            true
        }
        Err(e) => {
            tracing::error!(start = %rec.start, "record not stored: {e}");
            false
        }
    }
}
