//! Clocks the sampler runs on: the real wall clock, or a simulated one that runs N
//! times faster than real time or as fast as the machine can go.

use crate::sim::SimTime;
use crate::time::{Timestamp, NANOS_PER_SEC};
use std::time::{Duration, Instant};

/// How fast simulated time runs.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Speed {
    Factor(f64),
    Max,
}

pub enum Clock {
    Real,
    Simulated { time: SimTime, speed: Speed, real_origin: Instant, sim_origin: Timestamp },
}

impl Clock {
    pub fn simulated(start: Timestamp, speed: Speed, time: SimTime) -> Clock {
        time.set(start);
        Clock::Simulated { time, speed, real_origin: Instant::now(), sim_origin: start }
    }

    pub fn now(&self) -> Timestamp {
        match self {
            Clock::Real => Timestamp::now(),
            Clock::Simulated { time, speed: Speed::Max, .. } => time.get(),
            Clock::Simulated { speed: Speed::Factor(f), real_origin, sim_origin, .. } => {
                sim_origin.add_nanos((real_origin.elapsed().as_nanos() as f64 * f) as i64)
            }
        }
    }

    /// Returns once the clock reads `t` or later. The simulated clock publishes `t` as
    /// the simulated "now", so simulated hardware plays exactly that instant.
    pub async fn sleep_until(&self, t: Timestamp) {
        match self {
            Clock::Real => {
                let now = Timestamp::now();
                if t > now {
                    tokio::time::sleep(Duration::from_nanos((t.0 - now.0) as u64)).await;
                }
            }
            Clock::Simulated { time, speed: Speed::Max, .. } => {
                time.set(t);
            }
            Clock::Simulated { time, speed: Speed::Factor(f), .. } => {
                let now = self.now();
                if t > now {
                    let real = (t.0 - now.0) as f64 / f;
                    tokio::time::sleep(Duration::from_nanos(real as u64)).await;
                }
                time.set(t);
            }
        }
    }
}

/// Seconds → nanoseconds, for readers of this module.
pub const fn secs(s: i64) -> i64 {
    s * NANOS_PER_SEC
}
