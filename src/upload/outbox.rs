//! The uploader loop: one per destination, reading its outbox (the records after its
//! cursor) from SQLite and advancing the cursor only after the destination
//! acknowledged a batch.
//!
//! It keeps nothing important in memory: killed at any point, the next run starts at
//! the stored cursor and re-sends at most the batch that was in flight (servers drop
//! the repeat by idempotency key or record id). That is the at-least-once contract.
//!
//! Logging is by change of state (ok → failing, failing → ok, caught up, stopped),
//! never per attempt: a month offline writes a handful of lines. The latest error is
//! kept in the database for `weatherd status` instead.

use super::{Batch, DeliveryError, Destination};
use crate::store::{Store, StoreError};
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
}

enum Health {
    Ok,
    Failing { since: Instant, attempts: u32 },
}

/// Runs one destination until `shutdown` resolves or a permanent error stops it.
///
/// `wake` carries the id of the newest stored record; the uploader looks for work
/// whenever it changes (and every `poll_interval` regardless).
pub async fn run_uploader<D: Destination>(
    name: String,
    station_id: String,
    mut store: Store,
    mut destination: D,
    policy: Policy,
    wake: Option<watch::Receiver<i64>>,
    shutdown: impl Future<Output = ()>,
) -> Result<Summary, StoreError> {
    let mut wake = wake;
    // Jitter needs spread between stations, not secrecy: time and pid seed it.
    let seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64)
        ^ u64::from(std::process::id()).rotate_left(32);
    let mut rng = rand_pcg::Pcg64::seed_from_u64(seed);
    let mut summary = Summary::default();
    let mut health = Health::Ok;
    // Set while a backlog found after an outage (or at start) drains, for the
    // "caught up" line.
    let mut draining: Option<(u64, u64)> = None;
    // When this uploader first saw the oldest waiting record of a partial batch.
    let mut waiting_since: Option<(i64, Instant)> = None;
    let mut stopping = false;
    tokio::pin!(shutdown);

    let cursor = store.upload_cursor(&name)?;
    summary.cursor = cursor;
    let (backlog, oldest) = store.backlog_after(cursor)?;
    if backlog > 0 {
        tracing::info!(
            destination = %name,
            backlog,
            oldest = %oldest.map(|t| t.rfc3339()).unwrap_or_default(),
            "uploader started with records waiting"
        );
    }

    while !stopping {
        if let Some(w) = wake.as_mut() {
            // Mark the current value seen: a record stored after the read below wakes
            // the wait that follows it.
            w.borrow_and_update();
        }
        let cursor = store.upload_cursor(&name)?;
        summary.cursor = cursor;
        let records = store.records_after(cursor, policy.batch_size)?;
        let Some((first_id, first)) = records.first() else {
            if let Some((records, batches)) = draining.take() {
                if batches > 1 {
                    tracing::info!(destination = %name, records, batches, "upload caught up");
                }
            }
            waiting_since = None;
            stopping = idle(
                &mut wake,
                &mut shutdown,
                Instant::now() + policy.poll_interval,
            )
            .await;
            continue;
        };
        let full = records.len() >= policy.batch_size;
        if !full {
            let now = Instant::now();
            let seen = match waiting_since {
                Some((id, at)) if id == *first_id => at,
                _ => {
                    waiting_since = Some((*first_id, now));
                    now
                }
            };
            let age_by_clock = Duration::from_secs(
                u64::try_from((policy.wall_clock)().secs() - first.end.secs()).unwrap_or(0),
            );
            if age_by_clock < policy.batch_max_age && now < seen + policy.batch_max_age {
                let deadline = (seen + policy.batch_max_age)
                    .min(now + (policy.batch_max_age - age_by_clock))
                    .min(now + policy.poll_interval);
                stopping = idle(&mut wake, &mut shutdown, deadline).await;
                continue;
            }
        }
        let last_id = records.last().map_or(cursor, |r| r.0);
        let count = records.len() as u64;
        let batch = Batch {
            station_id: station_id.clone(),
            records,
        };

        let outcome = {
            let delivery = destination.deliver(&batch);
            tokio::pin!(delivery);
            tokio::select! {
                r = &mut delivery => Some(r),
                _ = &mut shutdown => {
                    stopping = true;
                    // A batch in flight may finish; past the grace period it is
                    // abandoned (the cursor did not move, so it is re-sent next run).
                    tokio::select! {
                        r = &mut delivery => Some(r),
                        _ = tokio::time::sleep(policy.shutdown_grace) => None,
                    }
                }
            }
        };
        let Some(outcome) = outcome else { break };
        let now_wall = (policy.wall_clock)();
        match outcome {
            Ok(()) => {
                store.ack_upload(&name, last_id, now_wall)?;
                summary.batches += 1;
                summary.records += count;
                summary.cursor = last_id;
                waiting_since = None;
                if let Health::Failing { since, attempts } = health {
                    let (waiting, _) = store.backlog_after(last_id)?;
                    tracing::info!(
                        destination = %name,
                        outage = %human(since.elapsed()),
                        failed_attempts = attempts,
                        backlog = waiting + count as i64,
                        "upload working again; sending the backlog"
                    );
                    draining = Some((0, 0));
                } else if full && draining.is_none() {
                    draining = Some((0, 0));
                }
                if let Some((r, b)) = draining.as_mut() {
                    *r += count;
                    *b += 1;
                }
                health = Health::Ok;
            }
            Err(DeliveryError::Transient {
                message,
                retry_after,
            }) => {
                summary.failures += 1;
                let attempts = match &mut health {
                    Health::Ok => {
                        tracing::warn!(
                            destination = %name,
                            error = %message,
                            "upload failing; records are kept and retried with backoff"
                        );
                        health = Health::Failing {
                            since: Instant::now(),
                            attempts: 1,
                        };
                        1
                    }
                    Health::Failing { attempts, .. } => {
                        *attempts += 1;
                        *attempts
                    }
                };
                store.set_upload_state(&name, "failing", Some((&message, now_wall)))?;
                if stopping {
                    break;
                }
                let wait = policy.backoff(attempts, retry_after, &mut rng);
                tokio::select! {
                    _ = &mut shutdown => stopping = true,
                    _ = tokio::time::sleep(wait) => {}
                }
            }
            Err(DeliveryError::Permanent { message }) => {
                summary.failures += 1;
                tracing::error!(
                    destination = %name,
                    error = %message,
                    "upload stopped: retrying cannot help; records are kept, fix the cause and restart weatherd"
                );
                let state = format!("stopped: {message}");
                store.set_upload_state(&name, &state, Some((&message, now_wall)))?;
                summary.stopped = Some(message);
                break;
            }
        }
    }
    Ok(summary)
}

/// Waits for new records, the deadline or shutdown; true on shutdown.
async fn idle<F: Future<Output = ()>>(
    wake: &mut Option<watch::Receiver<i64>>,
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
    tokio::select! {
        _ = shutdown.as_mut() => true,
        _ = changed => false,
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
mod tests {
    use super::*;

    fn policy() -> Policy {
        Policy {
            batch_size: 10,
            batch_max_age: Duration::from_secs(60),
            backoff_initial: Duration::from_secs(5),
            backoff_max: Duration::from_secs(1800),
            poll_interval: Duration::from_secs(60),
            shutdown_grace: Duration::from_secs(5),
            wall_clock: Timestamp::now,
        }
    }

    #[test]
    fn backoff_grows_to_the_cap_with_full_jitter() {
        let p = policy();
        let mut rng = rand_pcg::Pcg64::seed_from_u64(7);
        for attempt in 1..40 {
            let bound = Duration::from_secs(5 * (1u64 << (attempt - 1).min(20))).min(p.backoff_max);
            let draws: Vec<Duration> = (0..200)
                .map(|_| p.backoff(attempt, None, &mut rng))
                .collect();
            assert!(draws.iter().all(|d| *d <= bound), "attempt {attempt}");
            // Full jitter spreads over the whole range, not just near the bound.
            assert!(draws.iter().any(|d| *d < bound / 4), "attempt {attempt}");
            assert!(
                draws.iter().any(|d| *d > bound * 3 / 4),
                "attempt {attempt}"
            );
        }
    }

    #[test]
    fn backoff_honours_retry_after() {
        let p = policy();
        let mut rng = rand_pcg::Pcg64::seed_from_u64(1);
        for _ in 0..100 {
            assert!(
                p.backoff(1, Some(Duration::from_secs(120)), &mut rng) >= Duration::from_secs(120)
            );
        }
    }

    #[test]
    fn human_durations() {
        assert_eq!(human(Duration::from_secs(40)), "40s");
        assert_eq!(human(Duration::from_secs(7260)), "2h 1m");
        assert_eq!(human(Duration::from_secs(7 * 86_400 + 3 * 3600)), "7d 3h");
    }
}
