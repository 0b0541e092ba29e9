//! Lock-out debounce for reed-switch edges.
//!
//! A closing reed switch bounces for up to ~1.5 ms, so one closure arrives as a burst
//! of falling edges. The debouncer counts the first edge of a burst and ignores every
//! edge within the lock-out window after it. It works on the kernel's edge
//! timestamps, never on the time the edge was handled, so a late wake-up cannot merge
//! or split closures.

use crate::time::{Timestamp, NANOS_PER_MILLI};

#[derive(Clone, Debug, PartialEq)]
pub struct Debouncer {
    lockout_ns: i64,
    last_accepted: Option<Timestamp>,
}

impl Debouncer {
    pub fn new(lockout_ns: i64) -> Self {
        Debouncer {
            lockout_ns,
            last_accepted: None,
        }
    }
    pub fn from_ms(ms: f64) -> Self {
        Debouncer::new((ms * NANOS_PER_MILLI as f64).round() as i64)
    }
    /// Feeds edges in time order; appends the accepted ones (one per closure) to `out`.
    pub fn feed(&mut self, edges: &[Timestamp], out: &mut Vec<Timestamp>) {
        let _ = (edges, out);
        todo!()
    }
}
