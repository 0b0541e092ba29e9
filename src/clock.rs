//! Clocks the sampler runs on: the real wall clock, a simulated one that runs N times
//! faster than real time or as fast as the machine can go, and a steppable one for
//! tests of clock jumps.

use crate::sim::SimTime;
use crate::time::Timestamp;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How fast simulated time runs.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Speed {
    Factor(f64),
    Max,
}

#[derive(Clone)]
pub enum Clock {
    /// The system's wall clock (`CLOCK_REALTIME`), which NTP may step.
    Real,
    Simulated {
        time: SimTime,
        speed: Speed,
        real_origin: Instant,
        sim_origin: Timestamp,
    },
    /// A wall clock made of tokio's (pausable) monotonic time plus a step offset a test
    /// can change at any moment, to play NTP stepping the clock.
    Stepped {
        base: Timestamp,
        origin: tokio::time::Instant,
        step_ns: Arc<AtomicI64>,
        /// Published on every wake-up, for simulated hardware.
        time: SimTime,
    },
}

impl Clock {
    pub fn simulated(start: Timestamp, speed: Speed, time: SimTime) -> Clock {
        time.set(start);
        Clock::Simulated {
            time,
            speed,
            real_origin: Instant::now(),
            sim_origin: start,
        }
    }

    /// A steppable clock reading `base` now; `step_ns` is added to every reading.
    pub fn stepped(base: Timestamp, step_ns: Arc<AtomicI64>, time: SimTime) -> Clock {
        time.set(base);
        Clock::Stepped {
            base,
            origin: tokio::time::Instant::now(),
            step_ns,
            time,
        }
    }

    /// True for a `--speed max` replay, which can wait for the database instead of
    /// keeping records in memory.
    pub fn is_max_speed(&self) -> bool {
        matches!(
            self,
            Clock::Simulated {
                speed: Speed::Max,
                ..
            }
        )
    }

    /// True for clocks that can jump under us (the real one, and its test double).
    pub fn is_wall_clock(&self) -> bool {
        matches!(self, Clock::Real | Clock::Stepped { .. })
    }

    pub fn now(&self) -> Timestamp {
        match self {
            Clock::Real => Timestamp::now(),
            Clock::Simulated {
                time,
                speed: Speed::Max,
                ..
            } => time.get(),
            Clock::Simulated {
                speed: Speed::Factor(f),
                real_origin,
                sim_origin,
                ..
            } => sim_origin.add_nanos((real_origin.elapsed().as_nanos() as f64 * f) as i64),
            Clock::Stepped {
                base,
                origin,
                step_ns,
                ..
            } => {
                base.add_nanos(origin.elapsed().as_nanos() as i64 + step_ns.load(Ordering::Relaxed))
            }
        }
    }

    /// Sleeps until the clock should read `t`. Wall clocks sleep once, on the
    /// monotonic clock, for the distance to `t` as it stands now: if the wall clock
    /// steps meanwhile, the caller sees it on waking and re-plans, rather than this
    /// sleeping for the size of the step. The simulated clock publishes `t` as the
    /// simulated "now", so simulated hardware plays exactly that instant.
    pub async fn sleep_until(&self, t: Timestamp) {
        match self {
            Clock::Real => {
                let now = Timestamp::now();
                if t > now {
                    tokio::time::sleep(Duration::from_nanos((t.0 - now.0) as u64)).await;
                }
            }
            Clock::Simulated {
                time,
                speed: Speed::Max,
                ..
            } => {
                time.set(t);
                // Let other tasks (signal handlers) in now and then without slowing the
                // replay: one yield per simulated hour.
                if t.0 % (3600 * crate::time::NANOS_PER_SEC) == 0 {
                    tokio::task::yield_now().await;
                }
            }
            Clock::Simulated {
                time,
                speed: Speed::Factor(f),
                ..
            } => {
                let now = self.now();
                if t > now {
                    let real = (t.0 - now.0) as f64 / f;
                    tokio::time::sleep(Duration::from_nanos(real as u64)).await;
                } else {
                    // Behind the clock (a speed the machine cannot keep up with, such
                    // as `--speed 1e9`): without a sleep this task would never give the
                    // runtime back, and SIGTERM/SIGINT would go unseen.
                    tokio::task::yield_now().await;
                }
                time.set(t);
            }
            Clock::Stepped { time, .. } => {
                let now = self.now();
                if t > now {
                    tokio::time::sleep(Duration::from_nanos((t.0 - now.0) as u64)).await;
                }
                time.set(self.now());
            }
        }
    }
}
