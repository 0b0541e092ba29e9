//! The uploader loop: one per destination, reading its outbox (the records after its
//! cursor) from SQLite and advancing the cursor only after the destination
//! acknowledged a batch.
//!
//! It keeps nothing important in memory: killed at any point, the next run starts at
//! the stored cursor and re-sends at most the batch that was in flight, exactly as it
//! was (its last id is stored before the first attempt), so servers drop the repeat
//! by idempotency key or record id. That is the at-least-once contract.
//!
//! Problems on this side (a database error, a record that cannot be read, a cursor
//! beyond the newest record) never end the uploader: they are stalls, logged once,
//! written into its state for `weatherd status` when the database allows, and retried
//! with backoff.
//!
//! Logging is by change of state (ok → failing, failing → ok, caught up, stopped),
//! never per attempt: a month offline writes a handful of lines. The latest error is
//! kept in the database for `weatherd status` instead.

use super::{Batch, DeliveryError, Destination};
use crate::store::{Outbox, StoreError, UPLOAD_STATE_OK};
use crate::time::Timestamp;
use rand::{Rng, SeedableRng};
use std::future::Future;
use std::time::Duration;
use tokio::sync::watch;
use tokio::time::Instant;

/// How one uploader batches and backs off (from its `[[upload]]` table; tests use
/// milliseconds).
#[derive(Clone, Debug)]
pub struct Policy {
    pub batch_size: usize,
    /// A partial batch goes out once its oldest record is this old (by its end time,
    /// or by how long the uploader has seen it waiting, whichever comes first).
    pub batch_max_age: Duration,
    pub backoff_initial: Duration,
    pub backoff_max: Duration,
    /// Look for new records this often even without a wake-up (a fallback: the
    /// station wakes uploaders after every stored record).
    pub poll_interval: Duration,
    /// After shutdown is requested, how long a batch already in flight may still take.
    pub shutdown_grace: Duration,
    /// The wall clock, for record ages and status times.
    pub wall_clock: fn() -> Timestamp,
}

impl Policy {
    pub fn from_common(c: &super::Common) -> Policy {
        Policy {
            batch_size: c.batch_size.max(1) as usize,
            batch_max_age: Duration::from_secs(u64::from(c.batch_max_age_seconds)),
            backoff_initial: Duration::from_secs(u64::from(c.backoff_initial_seconds.max(1))),
            backoff_max: Duration::from_secs(u64::from(c.backoff_max_seconds.max(1))),
            poll_interval: Duration::from_secs(60),
            shutdown_grace: Duration::from_secs(5),
            wall_clock: Timestamp::now,
        }
    }

    /// The wait before retry number `attempt` (1-based): "full jitter", a uniform draw
    /// from zero to the exponential bound, so many stations that lost the same server
    /// do not come back in lock-step; never sooner than the server asked.
    pub fn backoff(
        &self,
        attempt: u32,
        retry_after: Option<Duration>,
        rng: &mut impl Rng,
    ) -> Duration {
        let exp = attempt.saturating_sub(1).min(30);
        let bound = self
            .backoff_initial
            .saturating_mul(1u32 << exp)
            .min(self.backoff_max)
            .max(self.backoff_initial.min(self.backoff_max));
        let jittered = bound.mul_f64(rng.gen_range(0.0..=1.0));
        jittered.max(retry_after.unwrap_or(Duration::ZERO))
    }
}

/// What an uploader did, for tests and the final log line.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Summary {
    pub batches: u64,
    pub records: u64,
    pub failures: u64,
    /// The id of the last acknowledged record.
    pub cursor: i64,
    /// `Some(reason)` when a permanent error stopped the destination.
    pub stopped: Option<String>,
    /// Times the uploader could not go on for a reason on this side (database error,
    /// cursor beyond the newest record, a record that cannot be read).
    pub stalls: u64,
    /// True when a drain was asked for and everything stored was acknowledged.
    pub drained: bool,
}

enum Health {
    Ok,
    Failing {
        since: Instant,
        /// The same moment on the wall clock, for `weatherd status`.
        since_wall: Timestamp,
        attempts: u32,
    },
}

/// A batch that was (or is about to be) sent: it is re-sent exactly, same records and
/// so the same idempotency key and body, until it is acknowledged or refused for good.
/// A batch re-read after each failure would grow as records arrive and get a new key,
/// and a server that drops repeats by key would store the first records twice.
struct Pending {
    batch: Batch,
    last_id: i64,
    full: bool,
    /// The destination acknowledged it; only the cursor write is left.
    delivered: bool,
}

/// Why the uploader cannot go on, for reasons on this side of the network.
#[derive(Clone, Debug, PartialEq)]
struct Stall {
    /// Stable across retries of the same cause, so the log has one line per change.
    kind: &'static str,
    reason: String,
}

impl Stall {
    fn database(e: &StoreError) -> Stall {
        Stall {
            kind: "database",
            reason: format!("database error: {e}; retrying with backoff"),
        }
    }
}

/// What to do next.
enum Plan {
    /// Deliver (or finish acknowledging) the pending batch.
    Send,
    /// Nothing to send before `deadline`; `caught_up` when nothing waits at all.
    Idle { deadline: Instant, caught_up: bool },
}

/// One destination's uploader state.
struct Uploader {
    name: String,
    station_id: String,
    outbox: Outbox,
    policy: Policy,
    summary: Summary,
    pending: Option<Pending>,
    /// Set while the cursor is beyond the newest record: stays until the cursor is
    /// changed, so records written later under ids the server already has are never
    /// sent silently in their place, nor silently skipped.
    cursor_ahead: Option<i64>,
    /// When this uploader first saw the oldest waiting record of a partial batch.
    waiting_since: Option<(i64, Instant)>,
    /// Set while a backlog found after an outage (or at start) drains, for the
    /// "caught up" line.
    draining: Option<(u64, u64)>,
}

/// Runs one destination until `shutdown` resolves or a permanent error stops it.
///
/// `wake` carries the id of the newest stored record; the uploader looks for work
/// whenever it changes (and every `poll_interval` regardless). Database errors do not
/// end it: they are logged once, shown in `weatherd status`, and retried with backoff.
/// The `Result` is kept for callers; it is always `Ok`.
pub async fn run_uploader<D: Destination>(
    name: String,
    station_id: String,
    outbox: Outbox,
    destination: D,
    policy: Policy,
    wake: Option<watch::Receiver<i64>>,
    shutdown: impl Future<Output = ()>,
) -> Result<Summary, StoreError> {
    Ok(run_uploader_draining(
        name,
        station_id,
        outbox,
        destination,
        policy,
        wake,
        None,
        shutdown,
    )
    .await)
}

/// [`run_uploader`], and once `drain` turns true, sends every stored record without
/// waiting for partial batches to age and returns when all are acknowledged (or a
/// permanent error stops the destination). `shutdown` still ends it at any time.
#[allow(clippy::too_many_arguments)]
pub async fn run_uploader_draining<D: Destination>(
    name: String,
    station_id: String,
    outbox: Outbox,
    mut destination: D,
    policy: Policy,
    wake: Option<watch::Receiver<i64>>,
    drain: Option<watch::Receiver<bool>>,
    shutdown: impl Future<Output = ()>,
) -> Summary {
    let mut wake = wake;
    let mut drain = drain;
    // Jitter needs spread between stations, not secrecy: time and pid seed it.
    let seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64)
        ^ u64::from(std::process::id()).rotate_left(32);
    let mut rng = rand_pcg::Pcg64::seed_from_u64(seed);
    let mut health = Health::Ok;
    // The current stall, when it began, and how many retries it has had.
    let mut stall: Option<(Stall, Timestamp, u32)> = None;
    let mut stopping = false;
    tokio::pin!(shutdown);
    let mut u = Uploader {
        name,
        station_id,
        outbox,
        policy,
        summary: Summary::default(),
        pending: None,
        cursor_ahead: None,
        waiting_since: None,
        draining: None,
    };
    u.log_start();

    while !stopping {
        if let Some(w) = wake.as_mut() {
            // Mark the current value seen: a record stored after the read below wakes
            // the wait that follows it.
            w.borrow_and_update();
        }
        let drain_now = drain.as_mut().is_some_and(|d| *d.borrow_and_update());
        let mut step = u.plan(drain_now);
        if let (Ok(Plan::Send), Some(mut pending)) = (&step, u.pending.take()) {
            if !pending.delivered {
                let grace = u.policy.shutdown_grace;
                let outcome = {
                    let delivery = destination.deliver(&pending.batch);
                    tokio::pin!(delivery);
                    tokio::select! {
                        r = &mut delivery => Some(r),
                        _ = &mut shutdown => {
                            stopping = true;
                            // A batch in flight may finish; past the grace period it is
                            // abandoned (the cursor did not move, so it is re-sent next
                            // run, under the same key).
                            tokio::select! {
                                r = &mut delivery => Some(r),
                                _ = tokio::time::sleep(grace) => None,
                            }
                        }
                    }
                };
                let Some(outcome) = outcome else { break };
                match outcome {
                    Ok(()) => pending.delivered = true,
                    Err(DeliveryError::Transient {
                        message,
                        retry_after,
                    }) => {
                        let message = redact(&message);
                        u.pending = Some(pending);
                        u.summary.failures += 1;
                        let now_wall = (u.policy.wall_clock)();
                        let attempts = match &mut health {
                            Health::Ok => {
                                tracing::warn!(
                                    destination = %u.name,
                                    error = %message,
                                    "upload failing; records are kept and the same batch is retried with backoff"
                                );
                                health = Health::Failing {
                                    since: Instant::now(),
                                    since_wall: now_wall,
                                    attempts: 1,
                                };
                                1
                            }
                            Health::Failing { attempts, .. } => {
                                *attempts += 1;
                                *attempts
                            }
                        };
                        let state = match &health {
                            Health::Failing { since_wall, .. } => {
                                format!("failing since {}", since_wall.rfc3339())
                            }
                            Health::Ok => "failing".to_string(),
                        };
                        if let Err(e) =
                            u.outbox
                                .set_upload_state(&u.name, &state, Some((&message, now_wall)))
                        {
                            note_stall(&u.name, &mut stall, Stall::database(&e), now_wall);
                        }
                        if stopping {
                            break;
                        }
                        let wait = u.policy.backoff(attempts, retry_after, &mut rng);
                        stopping = pause(&mut shutdown, wait).await;
                        continue;
                    }
                    Err(DeliveryError::Permanent { message }) => {
                        let message = redact(&message);
                        u.summary.failures += 1;
                        tracing::error!(
                            destination = %u.name,
                            error = %message,
                            "upload stopped: retrying cannot help; records are kept, fix the cause and restart weatherd"
                        );
                        let state = format!("stopped: {message}");
                        let now_wall = (u.policy.wall_clock)();
                        if let Err(e) =
                            u.outbox
                                .set_upload_state(&u.name, &state, Some((&message, now_wall)))
                        {
                            tracing::error!(destination = %u.name, "cannot record the upload status: {e}");
                        }
                        u.summary.stopped = Some(message);
                        break;
                    }
                }
            }
            u.pending = Some(pending);
            step = u.acknowledge(&mut health).map(|()| Plan::Send);
        }
        match step {
            Ok(plan) => {
                if let Some((old, since, _)) = stall.take() {
                    // The stall text must not outlive the stall in `weatherd status`; a
                    // failing network shows again with the next attempt.
                    let _ = u.outbox.set_upload_state(&u.name, UPLOAD_STATE_OK, None);
                    tracing::info!(
                        destination = %u.name,
                        was = %old.reason,
                        since = %since.rfc3339(),
                        "upload stall cleared"
                    );
                }
                if let Plan::Idle {
                    deadline,
                    caught_up,
                } = plan
                {
                    if caught_up && drain_now {
                        u.summary.drained = true;
                        break;
                    }
                    stopping = idle(&mut wake, &mut drain, &mut shutdown, deadline).await;
                }
            }
            Err(why) => {
                let now_wall = (u.policy.wall_clock)();
                let attempts = note_stall(&u.name, &mut stall, why, now_wall);
                if let Some((s, since, _)) = &stall {
                    u.summary.stalls += 1;
                    let state = format!("stalled since {}: {}", since.rfc3339(), s.reason);
                    // May fail too (the database is what stalls); the log has it then.
                    let _ = u
                        .outbox
                        .set_upload_state(&u.name, &state, Some((&s.reason, now_wall)));
                }
                if !stopping {
                    let wait = u.policy.backoff(attempts, None, &mut rng);
                    stopping = pause(&mut shutdown, wait).await;
                }
            }
        }
    }
    u.summary
}

/// Records a stall; logs only a new one or a change of cause. Returns the retry count.
fn note_stall(
    name: &str,
    stall: &mut Option<(Stall, Timestamp, u32)>,
    why: Stall,
    now: Timestamp,
) -> u32 {
    match stall {
        Some((s, _, attempts)) if s.kind == why.kind => {
            *attempts += 1;
            s.reason = why.reason;
            *attempts
        }
        _ => {
            tracing::error!(
                destination = %name,
                reason = %why.reason,
                "upload stalled; records are kept and it is retried with backoff"
            );
            *stall = Some((why, now, 1));
            1
        }
    }
}

/// Sleeps, or returns true early on shutdown.
async fn pause<F: Future<Output = ()>>(
    shutdown: &mut std::pin::Pin<&mut F>,
    wait: Duration,
) -> bool {
    tokio::select! {
        _ = shutdown.as_mut() => true,
        _ = tokio::time::sleep(wait) => false,
    }
}

/// Redacts a credential after an authentication scheme (`Bearer …`) from a
/// destination's error message before it is logged or stored, whatever the
/// destination: a second line of defence behind the destinations, which remove their
/// own secret and redact the server's text themselves.
fn redact(message: &str) -> String {
    super::secret::redact_known(message, &[])
}

impl Uploader {
    fn log_start(&mut self) {
        let Ok(cursor) = self.outbox.upload_cursor(&self.name) else {
            return;
        };
        self.summary.cursor = cursor;
        if let Ok((backlog, oldest)) = self.outbox.backlog_after(cursor) {
            if backlog > 0 {
                tracing::info!(
                    destination = %self.name,
                    backlog,
                    oldest = %oldest.map(|t| t.rfc3339()).unwrap_or_default(),
                    "uploader started with records waiting"
                );
            }
        }
    }

    /// Reads what to do next from the outbox; a `Stall` when the database says no.
    fn plan(&mut self, drain: bool) -> Result<Plan, Stall> {
        if self.pending.is_some() {
            return Ok(Plan::Send);
        }
        let db = |e: StoreError| Stall::database(&e);
        let cursor = self.outbox.upload_cursor(&self.name).map_err(db)?;
        self.summary.cursor = cursor;
        if let Some(stuck) = self.cursor_ahead {
            if stuck == cursor {
                let newest = self.outbox.last_id().map_err(db)?;
                return Err(self.cursor_ahead_stall(cursor, newest));
            }
            // Someone set the cursor: start over from it.
            self.cursor_ahead = None;
        }
        let limit = self.policy.batch_size;
        let (mut records, readable_only) = match self.outbox.records_after(cursor, limit) {
            Ok(r) => (r, false),
            Err(e) if e.is_bad_data() => {
                let good = self.readable_prefix(cursor, limit);
                if good.is_empty() {
                    let oldest = self
                        .outbox
                        .backlog_after(cursor)
                        .ok()
                        .and_then(|(_, t)| t)
                        .map(|t| format!(", starting {}", t.rfc3339()))
                        .unwrap_or_default();
                    return Err(Stall {
                        kind: "unreadable",
                        reason: format!(
                            "the record after id {cursor}{oldest} cannot be read ({e}); it stays in the \
                             database and is retried: repair or delete that row of the `archive` table"
                        ),
                    });
                }
                // Send what can be read; the next read stops at the bad row.
                (good, true)
            }
            Err(e) => return Err(db(e)),
        };
        // A batch sent before a restart and never acknowledged goes again exactly.
        let inflight = self
            .outbox
            .upload_inflight(&self.name)
            .map_err(db)?
            .filter(|last| *last > cursor);
        if let Some(last) = inflight {
            records.retain(|r| r.0 <= last);
        }
        let Some((first_id, first)) = records.first() else {
            let newest = self.outbox.last_id().map_err(db)?;
            if newest < cursor {
                self.cursor_ahead = Some(cursor);
                return Err(self.cursor_ahead_stall(cursor, newest));
            }
            if let Some((records, batches)) = self.draining.take() {
                if batches > 1 {
                    tracing::info!(destination = %self.name, records, batches, "upload caught up");
                }
            }
            self.waiting_since = None;
            return Ok(Plan::Idle {
                deadline: Instant::now() + self.policy.poll_interval,
                caught_up: true,
            });
        };
        let full = records.len() >= self.policy.batch_size || readable_only;
        if !full && !drain && inflight.is_none() {
            let now = Instant::now();
            let seen = match self.waiting_since {
                Some((id, at)) if id == *first_id => at,
                _ => {
                    self.waiting_since = Some((*first_id, now));
                    now
                }
            };
            let age_by_clock = Duration::from_secs(
                u64::try_from((self.policy.wall_clock)().secs() - first.end.secs()).unwrap_or(0),
            );
            let max_age = self.policy.batch_max_age;
            if age_by_clock < max_age && now < seen + max_age {
                let deadline = (seen + max_age)
                    .min(now + (max_age - age_by_clock))
                    .min(now + self.policy.poll_interval);
                return Ok(Plan::Idle {
                    deadline,
                    caught_up: false,
                });
            }
        }
        let last_id = records.last().map_or(cursor, |r| r.0);
        if inflight.is_none() {
            // Before the first send, so a restart re-sends this very batch.
            self.outbox
                .set_upload_inflight(&self.name, last_id)
                .map_err(db)?;
        }
        self.pending = Some(Pending {
            batch: Batch {
                station_id: self.station_id.clone(),
                records,
            },
            last_id,
            full,
            delivered: false,
        });
        Ok(Plan::Send)
    }

    /// The records before the first one that cannot be read (at most `limit`).
    fn readable_prefix(
        &self,
        cursor: i64,
        limit: usize,
    ) -> Vec<(i64, crate::record::ArchiveRecord)> {
        // Binary search on the count: reading n records works iff the bad one is not
        // among the first n.
        let (mut good, mut bad) = (0usize, limit);
        let mut best = Vec::new();
        while good + 1 < bad {
            let mid = good + (bad - good) / 2;
            match self.outbox.records_after(cursor, mid) {
                Ok(r) => {
                    good = mid;
                    best = r;
                }
                Err(_) => bad = mid,
            }
        }
        best
    }

    fn cursor_ahead_stall(&self, cursor: i64, newest: i64) -> Stall {
        let key = format!("upload_cursor.{}", self.name);
        Stall {
            kind: "cursor ahead",
            reason: format!(
                "the cursor is at record {cursor} but the newest stored record is {newest} (was the \
                 database replaced or restored from a backup?); records stored from now on would \
                 reuse ids up to {cursor} and are held back. If the server does not have records \
                 after {newest}, set the cursor back with weatherd stopped: sqlite3 {} \"UPDATE state \
                 SET value = {newest} WHERE key = '{key}'\"",
                self.outbox.path().display()
            ),
        }
    }

    /// Moves the cursor past a delivered batch.
    fn acknowledge(&mut self, health: &mut Health) -> Result<(), Stall> {
        let Some(p) = &self.pending else {
            return Ok(());
        };
        let db = |e: StoreError| Stall::database(&e);
        let now_wall = (self.policy.wall_clock)();
        self.outbox
            .ack_upload(&self.name, p.last_id, now_wall)
            .map_err(db)?;
        let Some(p) = self.pending.take() else {
            return Ok(());
        };
        let count = p.batch.records.len() as u64;
        self.summary.batches += 1;
        self.summary.records += count;
        self.summary.cursor = p.last_id;
        self.waiting_since = None;
        if let Health::Failing {
            since, attempts, ..
        } = *health
        {
            let waiting = self.outbox.backlog_after(p.last_id).map_or(0, |(n, _)| n);
            tracing::info!(
                destination = %self.name,
                outage = %human(since.elapsed()),
                failed_attempts = attempts,
                backlog = waiting + count as i64,
                "upload working again; sending the backlog"
            );
            self.draining = Some((0, 0));
        } else if p.full && self.draining.is_none() {
            self.draining = Some((0, 0));
        }
        if let Some((r, b)) = self.draining.as_mut() {
            *r += count;
            *b += 1;
        }
        *health = Health::Ok;
        Ok(())
    }
}

/// Waits for new records, a drain request, the deadline or shutdown; true on shutdown.
async fn idle<F: Future<Output = ()>>(
    wake: &mut Option<watch::Receiver<i64>>,
    drain: &mut Option<watch::Receiver<bool>>,
    shutdown: &mut std::pin::Pin<&mut F>,
    deadline: Instant,
) -> bool {
    let changed = async {
        match wake.as_mut() {
            Some(w) => {
                if w.changed().await.is_err() {
                    // The station is gone: no more wake-ups, polling only.
                    *wake = None;
                    std::future::pending::<()>().await;
                }
            }
            None => std::future::pending::<()>().await,
        }
    };
    let drained = async {
        match drain.as_mut() {
            Some(d) => {
                if d.changed().await.is_err() {
                    *drain = None;
                    std::future::pending::<()>().await;
                }
            }
            None => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        _ = shutdown.as_mut() => true,
        _ = changed => false,
        _ = drained => false,
        _ = tokio::time::sleep_until(deadline) => false,
    }
}

/// `3d 4h`, `2h 5m`, `40s`: for outage lengths in log lines.
pub fn human(d: Duration) -> String {
    let s = d.as_secs();
    let (days, hours, minutes, secs) = (s / 86_400, s / 3600 % 24, s / 60 % 60, s % 60);
    if days > 0 {
        format!("{days}d {hours}h")
    } else if hours > 0 {
        format!("{hours}h {minutes}m")
    } else if minutes > 0 {
        format!("{minutes}m {secs}s")
    } else {
        format!("{secs}s")
    }
}

#[cfg(test)]
mod tests;
