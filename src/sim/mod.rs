//! The simulator: physically plausible weather played through simulated hardware, so
//! the real drivers, debounce, conversion and aggregation all run on it.
//!
//! Everything is a pure function of (seed, simulated time): the same seed and start
//! give an identical database, and a run that is killed and resumed produces exactly
//! the rows an uninterrupted run would have.

pub mod bme280_chip;
pub mod edges;
pub mod hardware;
pub mod noise;
pub mod weather;

pub use hardware::SimHardware;
pub use weather::Weather;

use crate::time::Timestamp;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;

/// The simulated "now", shared by the simulated clock (which advances it) and the
/// simulated hardware (which plays the weather at that instant).
#[derive(Clone, Debug, Default)]
pub struct SimTime(Arc<AtomicI64>);

impl SimTime {
    pub fn new(t: Timestamp) -> Self {
        SimTime(Arc::new(AtomicI64::new(t.0)))
    }
    pub fn get(&self) -> Timestamp {
        Timestamp(self.0.load(Ordering::Relaxed))
    }
    pub fn set(&self, t: Timestamp) {
        self.0.store(t.0, Ordering::Relaxed)
    }
}
