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
    ///
    /// An edge is accepted when it comes at least `lockout_ns` after the last
    /// *accepted* edge (an edge exactly `lockout_ns` later is accepted); every edge
    /// closer than that is bounce and is dropped. The lock-out runs from the accepted
    /// edge, not from the latest bounce, so a long bounce burst cannot swallow the next
    /// real closure. The state persists across calls, so a burst split between two
    /// sample periods is still one closure.
    ///
    /// Edges are expected in time order; an edge earlier than (or equal to) the last
    /// accepted one cannot be a new closure and is ignored rather than trusted.
    pub fn feed(&mut self, edges: &[Timestamp], out: &mut Vec<Timestamp>) {
        // A lock-out of zero still must not count the same instant twice.
        let min_gap = self.lockout_ns.max(1);
        for &edge in edges {
            if let Some(last) = self.last_accepted {
                // Saturating: timestamps from a broken source must not overflow.
                if edge.0.saturating_sub(last.0) < min_gap {
                    continue;
                }
            }
            self.last_accepted = Some(edge);
            out.push(edge);
        }
    }

    /// The last accepted edge, if any.
    #[cfg(test)]
    fn last_accepted(&self) -> Option<Timestamp> {
        self.last_accepted
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ts(ns: &[i64]) -> Vec<Timestamp> {
        ns.iter().map(|&n| Timestamp(n)).collect()
    }

    #[test]
    fn counts_first_edge_of_each_burst() {
        let mut d = Debouncer::from_ms(3.0);
        let mut out = Vec::new();
        // Two closures 10 ms apart, each bouncing for ~1.5 ms.
        d.feed(
            &ts(&[0, 200_000, 900_000, 1_500_000, 10_000_000, 10_300_000]),
            &mut out,
        );
        assert_eq!(out, ts(&[0, 10_000_000]));
    }

    #[test]
    fn lockout_runs_from_the_accepted_edge_not_the_last_bounce() {
        let mut d = Debouncer::new(3_000_000);
        let mut out = Vec::new();
        // Bounces every 1 ms for 5 ms: a lock-out restarted by each bounce would
        // swallow the edge at 5 ms; ours accepts it (and 3 ms, the end of lock-out).
        d.feed(
            &ts(&[
                0, 1_000_000, 2_000_000, 2_999_999, 3_000_000, 4_000_000, 5_999_999, 6_000_000,
            ]),
            &mut out,
        );
        assert_eq!(out, ts(&[0, 3_000_000, 6_000_000]));
    }

    #[test]
    fn state_persists_across_calls() {
        let mut d = Debouncer::new(3_000_000);
        let mut out = Vec::new();
        d.feed(&ts(&[4_999_000_000]), &mut out);
        // The bounce of the same closure arrives in the next sample period.
        d.feed(
            &ts(&[4_999_001_000, 4_999_002_500, 5_100_000_000]),
            &mut out,
        );
        assert_eq!(out, ts(&[4_999_000_000, 5_100_000_000]));
        assert_eq!(d.last_accepted(), Some(Timestamp(5_100_000_000)));
    }

    #[test]
    fn ignores_edges_before_the_last_accepted_one() {
        let mut d = Debouncer::new(3_000_000);
        let mut out = Vec::new();
        d.feed(&ts(&[100_000_000]), &mut out);
        d.feed(
            &ts(&[50_000_000, 100_000_000, i64::MIN, 200_000_000]),
            &mut out,
        );
        assert_eq!(out, ts(&[100_000_000, 200_000_000]));
    }

    #[test]
    fn zero_lockout_still_drops_duplicates() {
        let mut d = Debouncer::new(0);
        let mut out = Vec::new();
        d.feed(&ts(&[5, 5, 6]), &mut out);
        assert_eq!(out, ts(&[5, 6]));
    }
}
