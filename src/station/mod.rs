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
//!
//! Write rules: a record the database refuses for a passing reason (a lock held by a
//! `sqlite3` session, a full disk, an I/O error) is kept in memory, in order, and
//! written when the database accepts writes again; see [`Pending`].

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
use std::collections::VecDeque;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

mod pending;
use pending::Pending;

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
    /// Times the database refused a write and records had to wait in memory (one per
    /// outage, not per record).
    pub store_outages: u64,
    /// Records that were never stored: dropped from a full pending queue, refused as
    /// malformed, or still unwritten when the run ended.
    pub records_lost: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
    /// A replay asked for nothing the database does not already hold.
    #[error(
        "{db}: already holds records up to {last_end}, past the end of this replay ({end}); \
         nothing to write. Use another database (e.g. --db day.db) or a --start at or after {last_end}"
    )]
    NothingToReplay {
        db: PathBuf,
        last_end: Timestamp,
        end: Timestamp,
    },
    /// A `--duration` that ends before the first sample time: the run would write
    /// nothing and look like success.
    #[error(
        "--duration ends at {end}, before the first sample at {first} (one every {sample_s} s \
         from {start}); nothing would be written. Give a --duration that reaches {first}"
    )]
    NoSampleInSpan {
        start: Timestamp,
        first: Timestamp,
        end: Timestamp,
        sample_s: i64,
    },
    /// The run ended with records it could not store.
    #[error(
        "{lost} record(s) could not be written to {db} and are lost (last error: {error}); \
         {written} were stored. Free space (or end what locks the database) and start again; \
         a simulated replay run again resumes where the database ends"
    )]
    RecordsLost {
        db: PathBuf,
        lost: u64,
        written: u64,
        error: String,
        summary: Box<RunSummary>,
    },
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
            let end = opts.duration_s.map(|d| requested.add_secs(d));
            let start = match store.resume()?.last_end {
                Some(last_end) if last_end > requested => {
                    if let Some(end) = end.filter(|&end| last_end >= end) {
                        // Running on would write nothing and look like success.
                        return Err(RunError::NothingToReplay {
                            db: opts.db_path.clone(),
                            last_end,
                            end,
                        });
                    }
                    tracing::info!(
                        db = %opts.db_path.display(),
                        requested = %requested,
                        resume = %last_end,
                        "the database already holds records past --start; continuing where it ends"
                    );
                    last_end
                }
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
            // Each sensor sets the simulated hardware up as its config says.
            for sensor in config.sensors.values() {
                sensor.simulate(&hw);
            }
            Env {
                clock: Clock::simulated(start, sim.speed, time.clone()),
                hw: Box::new(hw),
                sync: Box::new(AlwaysSynced),
                start,
                end,
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
    let sample_s = i64::from(config.sample_interval_seconds);
    if let Some(end) = env.end {
        // The station loop stops at the first tick after `end`; if that is the first
        // tick, the run would sample nothing.
        let first = env.start.next_tick(sample_s);
        if first > end {
            return Err(RunError::NoSampleInSpan {
                start: env.start,
                first,
                end,
                sample_s,
            });
        }
    }
    // The page and API, on this runtime; a port in use turns the page off, not the station.
    let live = crate::web::Live::new();
    let simulated = opts.simulation.is_some();
    let web = crate::web::start(
        config,
        &opts.db_path,
        env.clock.clone(),
        live.clone(),
        simulated,
    );
    let result = run_loop(config, store, env, opts.drain_timeout, shutdown, &live).await;
    if let Some(web) = web {
        web.shutdown().await;
    }
    result
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
    store: Store,
    env: Env,
    drain_timeout: Duration,
    shutdown: impl Future<Output = ()>,
) -> Result<RunSummary, RunError> {
    let live = crate::web::Live::new();
    run_loop(config, store, env, drain_timeout, shutdown, &live).await
}

/// The station loop; `live` tells the web server about stored records and the clock.
async fn run_loop(
    config: &Config,
    mut store: Store,
    env: Env,
    drain_timeout: Duration,
    shutdown: impl Future<Output = ()>,
    live: &crate::web::Live,
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
    let mut pending = Pending::new(store.path(), config);

    let registered = sensors::build_all(config, hw.as_ref());
    let timeout = Duration::from_millis(u64::from(config.sensor_timeout_ms));
    let mut sampler = Sampler::new(registered, sample_s, timeout);
    let mut aggregator = Aggregator::new(AggregatorConfig::from_config(config), &resume);
    // Uploaders read the database through their own connections; the station only
    // wakes them after each stored record.
    let site_clock = match &clock {
        Clock::Simulated { speed, .. } => crate::upload::SiteClock::Simulated {
            speed: match speed {
                Speed::Factor(f) => Some(*f),
                Speed::Max => None,
            },
        },
        Clock::Real => crate::upload::SiteClock::Real,
        #[cfg(any(test, feature = "testkit"))]
        Clock::Stepped { .. } => crate::upload::SiteClock::Real,
    };
    let uploads =
        crate::upload::tasks::spawn_all_on(config, store.path(), UPLOAD_GRACE, site_clock);
    tracing::info!(
        start = %start,
        uploads = uploads.len(),
        synchronous = store.synchronous()?,
        "station running"
    );

    let mut summary = RunSummary::default();
    let mut records: Vec<ArchiveRecord> = Vec::new();
    // The newest tick handed to the aggregator (or archived before a restart):
    // nothing at or before it may be archived again.
    let mut high_water = resume.last_end.unwrap_or(Timestamp(i64::MIN));
    let mut synced = false;
    let mut ready_sent = false;
    let replay = clock.is_max_speed();
    let mut gave_up = false;
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
    if let Some(last_end) = resume
        .last_end
        .filter(|&t| wall && t.0 > start.0 + tolerance)
    {
        // Once the clock ran ahead (e.g. a wrong RTC) and a record was stored with
        // that date: nothing can be archived until the clock reaches it.
        tracing::warn!(
            newest = %last_end,
            now = %start,
            db = %store.path().display(),
            "the newest stored record ends in the future; nothing will be archived until then. \
             {FUTURE_FIX}"
        );
    }
    let mut tick = start.next_tick(sample_s);
    loop {
        let mut stored = false;
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
        // How late the loop woke for its tick (the web load test reads it).
        tracing::debug!(tick = %tick, late_us = (clock.now().0 - tick.0) / 1000, "tick");
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
            live.set_clock_synchronised(synced);
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
                    "clock is behind the newest archived time; holding records until it passes it. \
                     If that time is wrong (the clock ran ahead once): {FUTURE_FIX}"
                );
                stepped_back = true;
            }
            summary.discarded_backward += 1;
        } else {
            stepped_back = false;
            high_water = tick;
            aggregator.push(sample, &mut records);
            stored = !records.is_empty();
            for rec in records.drain(..) {
                pending.push(rec, &mut summary);
            }
        }
        let written = summary.records_written;
        pending.write(&mut store, &mut summary, &uploads, false);
        if summary.records_written != written {
            live.record_stored();
        }
        if stored && !uploads.is_empty() {
            // On a one-thread runtime a `--speed max` replay never waits, so without
            // this the uploaders would not run until the replay ends. After the write,
            // so they find the new record.
            tokio::task::yield_now().await;
        }
        if replay && !pending.is_empty() {
            // A replay can wait instead of piling records up in memory: it retries
            // until the database takes them, or gives up after the grace period.
            if !pending
                .drain(&mut store, &mut summary, &uploads, STORE_GRACE)
                .await
            {
                gave_up = true;
                break;
            }
        }
        // Fed from the sampling loop, so systemd restarts a station that is stuck. Not
        // withheld while the database refuses writes: a restart would throw away the
        // records waiting in memory and does not empty a full disk.
        if let Some(every) = watchdog_every {
            if last_ping.is_none_or(|t| t.elapsed() >= every) {
                notify(&[sd_notify::NotifyState::Watchdog]);
                last_ping = Some(std::time::Instant::now());
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
        pending.push(rec, &mut summary);
    }
    // Whatever is still in memory gets the grace period to reach the database.
    // (A replay that already gave up waiting does not wait a second time.)
    let grace = if gave_up { Duration::ZERO } else { STORE_GRACE };
    pending
        .drain(&mut store, &mut summary, &uploads, grace)
        .await;
    let lost = pending.give_up(&mut summary);
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
    if let Some(error) = lost {
        return Err(RunError::RecordsLost {
            db: pending.db.clone(),
            lost: summary.records_lost,
            written: summary.records_written,
            error,
            summary: Box::new(summary),
        });
    }
    Ok(summary)
}

fn notify(state: &[sd_notify::NotifyState]) {
    // Outside systemd (no NOTIFY_SOCKET) this does nothing.
    let _ = sd_notify::notify(false, state);
}

/// How long uploaders may finish a batch already in flight at shutdown (the unit's
/// `TimeoutStopSec=` is 30 s; the unsent rest waits in the database). Requests still
/// running after it are abandoned, never waited for.
pub(crate) const UPLOAD_GRACE: Duration = Duration::from_secs(5);

/// How long, by default, uploaders may send what is stored when a run's `--duration`
/// ends (`run --drain-timeout`).
pub(crate) const DEFAULT_DRAIN_TIMEOUT: Duration = Duration::from_secs(120);

/// What to do about a record dated in the future (said in the log and by `status`).
pub const FUTURE_FIX: &str = "Set the clock right, then wait until that time, or stop weatherd \
     and move the database aside (a new one is started) to archive again now";

/// How long records still in memory may take to reach the database at the end of a
/// run, and how long a replay waits for a refusing database before it gives up.
/// systemd's stop timeout (30 s in the unit) leaves room for this and the uploaders'.
pub(crate) const STORE_GRACE: Duration = Duration::from_secs(10);
