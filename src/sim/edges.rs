//! Reed-switch edges for the simulated anemometer and rain gauge.
//!
//! **Anemometer.** The cups turn with the wind: the rotation is the integral of the
//! closure rate (`wind_speed_kmh / kmh_per_hz`, at most 200 Hz), and closure k happens
//! when the accumulated rotation passes k, so the pulse train follows the speed
//! continuously across seconds (a 3-s mean of the closures is the 3-s mean of the
//! simulated wind). The rate is evaluated at the middle of each quarter of a second
//! and held over it (on a simulated day every stored gust is within 0.04 km/h of the
//! 3-s truth this way; evaluating once a second gave errors of 0.3 km/h). To stay a pure function of (seed, pin, time) without replaying from
//! the beginning of time, the integral restarts at each UTC hour from a seeded phase,
//! and the hour's speeds are scaled so that the hour holds a whole number of turns:
//! the phase at every hour boundary is then the same, and the rotation is continuous
//! across hours too. The scale is `round(I) / I` for the hour's I turns, a change of
//! at most half a turn per hour (under 0.0004 km/h at 2.4 km/h per Hz); an hour of
//! less than half a turn (calm) has no closure. A source computes each hour once
//! (14,400 rate evaluations on memoised noise) and keeps it while the clock is in it.
//!
//! **Rain gauge.** The bucket is a filling volume: it tips each time the rain collected
//! since the start of the wet spell, plus a seeded initial fill, passes a multiple of
//! `mm_per_tip`, so two tips are exactly one bucket of rain apart (the rain integrates
//! in closed form, and the tip time is found by bisection). A dry spell of an hour or
//! more empties the bucket (it evaporates): the next spell starts from a new seeded
//! level (see [`Weather::rain_spell`]).
//!
//! Edges are generated per 1-second cell: collecting `[a, b)` then `[b, c)` gives
//! exactly what collecting `[a, c)` gives, and a fresh source (a resumed run) plays the
//! same edges. Each closure or tip is followed by a few bounce edges (0.1–1.5 ms for
//! the cups, 1–5 ms for the bucket); a bounce that would fall in the next second is
//! not made, so no bounce crosses a whole second, and a debouncer started afresh at a
//! whole second (a resumed run) sees the same closures as one that ran through it.
//!
//! Speed matters: a simulated year is about 10^8 closures. Work per cell is one walk
//! over four precomputed increments (and, when raining, a few closed-form rain sums);
//! work per edge is a few arithmetic operations.

use super::noise::{cell_rng, hash, mix, unit};
use super::weather::{MeanWindCache, RainMemo, Weather};
use crate::hw::{EdgeSource, HwError, PinRole};
use crate::time::{Timestamp, NANOS_PER_SEC};
use rand::RngCore;
use rand_pcg::Pcg64Mcg;
use std::sync::Arc;

const CELL_NS: i64 = NANOS_PER_SEC;
/// The cup rotation integrates the wind in steps of a quarter of a second.
pub(crate) const CUP_STEPS_PER_SEC: usize = 4;
const STEP_NS: i64 = CELL_NS / CUP_STEPS_PER_SEC as i64;
const HOUR_S: i64 = 3600;
/// Nobody turns a cup anemometer faster than this; it also bounds edges per cell, and
/// keeps closures at least 5 ms apart (the longest anemometer lock-out allowed).
const MAX_CLOSURES_PER_SEC: f64 = 200.0;

const STREAM_ANEMOMETER: u64 = 0x414e_454d;
const STREAM_RAIN: u64 = 0x5241_494e;
/// Cells of the per-source seeded constants (phase, bucket fill), apart from the
/// per-second cells of the bounces.
const PHASE_CELL: i64 = i64::MIN;

#[derive(Clone, Copy, Debug, PartialEq)]
enum Kind {
    Wind { kmh_per_hz: f64 },
    Rain { mm_per_tip: f64 },
}

/// One UTC hour of cup rotation: the turns at the start of each second and each
/// quarter-second's increment, before the hour's scale (see the module notes).
struct CupHour {
    hour: i64,
    /// Unscaled turns at the start of each second of the hour (3601 values).
    turns: Vec<f64>,
    /// Unscaled turns in each quarter of a second (3600 × 4 values).
    steps: Vec<f64>,
    /// Turns per closure index: closure k (1..=n) happens at unscaled turns
    /// `(k − phase) · per_closure`.
    per_closure: f64,
    n: u64,
}

/// A simulated reed switch on one GPIO pin.
pub struct SimEdgeSource {
    weather: Arc<Weather>,
    kind: Kind,
    stream: u64,
    /// The cups' rotation phase at every hour boundary, in [0, 1).
    phase: f64,
    /// A memo of the wind's noise (same values with or without it).
    wind_cache: MeanWindCache,
    /// A memo of the showers (same values with or without it).
    rain_memo: RainMemo,
    hour: Option<CupHour>,
}

impl SimEdgeSource {
    pub fn new(weather: Arc<Weather>, pin: u8, role: PinRole) -> Result<SimEdgeSource, HwError> {
        // Every role named (no catch-all): a new role must say what it plays.
        let (kind, base, factor) = match role {
            PinRole::Anemometer { kmh_per_hz } => {
                (Kind::Wind { kmh_per_hz }, STREAM_ANEMOMETER, kmh_per_hz)
            }
            PinRole::RainGauge { mm_per_tip } => {
                (Kind::Rain { mm_per_tip }, STREAM_RAIN, mm_per_tip)
            }
        };
        if !(factor.is_finite() && factor > 0.0) {
            return Err(HwError::Unavailable {
                device: format!("GPIO{pin}"),
                why: format!("simulated {role:?} needs a positive factor"),
            });
        }
        let stream = mix(base ^ u64::from(pin));
        Ok(SimEdgeSource {
            phase: unit(hash(weather.seed(), stream, PHASE_CELL)),
            weather,
            kind,
            stream,
            wind_cache: MeanWindCache::default(),
            rain_memo: RainMemo::default(),
            hour: None,
        })
    }

    /// Appends every edge of 1-second cell `cell` (seconds since the epoch), in order.
    pub(crate) fn cell_edges(&mut self, cell: i64, out: &mut Vec<Timestamp>) {
        match self.kind {
            Kind::Wind { kmh_per_hz } => self.wind_cell(cell, kmh_per_hz, out),
            Kind::Rain { mm_per_tip } => self.rain_cell(cell, mm_per_tip, out),
        }
    }

    /// The hour holding `cell`, computed if it is not the one kept.
    fn cup_hour(&mut self, hour: i64, kmh_per_hz: f64) -> &CupHour {
        if self.hour.as_ref().is_none_or(|h| h.hour != hour) {
            let mut turns = Vec::with_capacity(HOUR_S as usize + 1);
            let mut steps = Vec::with_capacity(HOUR_S as usize * CUP_STEPS_PER_SEC);
            let dt = 1.0 / CUP_STEPS_PER_SEC as f64;
            let mut acc = 0.0_f64;
            let per_kmh = 1.0 / kmh_per_hz;
            let hour_ns = hour.saturating_mul(HOUR_S * CELL_NS);
            for i in 0..HOUR_S {
                turns.push(acc);
                for j in 0..CUP_STEPS_PER_SEC as i64 {
                    // Saturating: times near the ends of the i64 range must not overflow.
                    let mid =
                        Timestamp(hour_ns.saturating_add(i * CELL_NS + j * STEP_NS + STEP_NS / 2));
                    let hz = (self
                        .weather
                        .wind_speed_kmh_cached(mid, &mut self.wind_cache)
                        * per_kmh)
                        .min(MAX_CLOSURES_PER_SEC);
                    let d = hz * dt;
                    steps.push(d);
                    acc += d;
                }
            }
            turns.push(acc);
            let n = acc.round();
            self.hour = Some(CupHour {
                hour,
                turns,
                steps,
                per_closure: if n > 0.0 { acc / n } else { 0.0 },
                n: n as u64,
            });
        }
        self.hour.as_ref().expect("just computed")
    }

    fn wind_cell(&mut self, cell: i64, kmh_per_hz: f64, out: &mut Vec<Timestamp>) {
        let hour = cell.div_euclid(HOUR_S);
        let (phase, seed, stream) = (self.phase, self.weather.seed(), self.stream);
        let h = self.cup_hour(hour, kmh_per_hz);
        if h.n == 0 {
            return;
        }
        let i = (cell - hour * HOUR_S) as usize;
        let mut at_turns = h.turns[i];
        if h.steps[i * CUP_STEPS_PER_SEC..(i + 1) * CUP_STEPS_PER_SEC]
            .iter()
            .all(|&d| d <= 0.0)
        {
            return;
        }
        let theta = |k: u64| (k as f64 - phase) * h.per_closure;
        // The first closure at or after the second's start.
        let mut k = ((at_turns / h.per_closure + phase).ceil().max(1.0) as u64).min(h.n + 1);
        while k > 1 && theta(k - 1) >= at_turns {
            k -= 1;
        }
        while k <= h.n && theta(k) < at_turns {
            k += 1;
        }
        let cell_start = cell.saturating_mul(CELL_NS);
        let cell_end = cell_start.saturating_add(CELL_NS);
        let mut rng = cell_rng(seed, stream, cell);
        for j in 0..CUP_STEPS_PER_SEC {
            let d = h.steps[i * CUP_STEPS_PER_SEC + j];
            let next = at_turns + d;
            let step_start = cell_start.saturating_add(j as i64 * STEP_NS);
            let ns_per_turn = STEP_NS as f64 / d;
            while k <= h.n {
                let at = theta(k);
                if at >= next {
                    break;
                }
                let into = ((at - at_turns) * ns_per_turn) as i64;
                let closure = step_start.saturating_add(into.clamp(0, STEP_NS - 1));
                out.push(Timestamp(closure));
                bounces(&mut rng, closure, 100_000, 400_000, cell_end, out);
                k += 1;
            }
            at_turns = next;
        }
    }

    fn rain_cell(&mut self, cell: i64, mm_per_tip: f64, out: &mut Vec<Timestamp>) {
        let from = Timestamp(cell.saturating_mul(CELL_NS));
        let until = Timestamp(from.0.saturating_add(CELL_NS));
        // Dry this second: no tip. (Cheap: two hashes when no shower is near.)
        let weather = self.weather.clone();
        let memo = &mut self.rain_memo;
        if weather.rain_mm_between_memo(from, until, memo) <= 0.0 {
            return;
        }
        let Some(spell) = weather.rain_spell_memo(until, memo) else {
            return;
        };
        // The bucket's fill (mm, not reduced by the tips): its seeded starting level
        // plus the rain of the spell so far.
        let initial = unit(hash(weather.seed(), self.stream, spell.id)) * mm_per_tip;
        let mut level = |t: Timestamp| initial + weather.spell_rain_mm_memo(spell, t, memo);
        let (start_level, end_level) = (level(from), level(until));
        let mut k = (start_level / mm_per_tip).ceil();
        let mut rng = cell_rng(weather.seed(), self.stream, cell);
        let mut lo = from.0;
        while k * mm_per_tip < end_level {
            let target = k * mm_per_tip;
            // The level rises monotonically: bisect for the first nanosecond at or
            // past the target.
            let mut hi = until.0;
            while hi - lo > 1 {
                let mid = lo + (hi - lo) / 2;
                if level(Timestamp(mid)) >= target {
                    hi = mid;
                } else {
                    lo = mid;
                }
            }
            let tip = if level(Timestamp(lo)) >= target {
                lo
            } else {
                hi
            };
            if tip >= until.0 {
                break;
            }
            out.push(Timestamp(tip));
            // 0–3 bounces: the first 1–2 ms after the tip, the rest 0.3–1.3 ms apart
            // (at most 4.6 ms in all).
            let bits = rng.next_u64();
            let mut at = tip.saturating_add(1_000_000 + (frac(bits >> 22) * 1_000_000.0) as i64);
            for b in 0..(bits >> 20) & 3 {
                if b > 0 {
                    at = at.saturating_add(300_000 + (frac(rng.next_u64()) * 1_000_000.0) as i64);
                }
                if at >= until.0 {
                    break;
                }
                out.push(Timestamp(at));
            }
            lo = tip;
            k += 1.0;
        }
    }
}

/// Up to 3 bounce edges after `after`, each `min_ns..min_ns + span_ns` after the one
/// before, none at or past `until` (a bounce never crosses into the next second).
#[inline]
fn bounces(
    rng: &mut Pcg64Mcg,
    after: i64,
    min_ns: i64,
    span_ns: i64,
    until: i64,
    out: &mut Vec<Timestamp>,
) {
    let bits = rng.next_u64();
    let mut at = after;
    for b in 0..(bits & 3) as u32 {
        at = at.saturating_add(min_ns + (frac(bits >> (2 + 20 * b)) * span_ns as f64) as i64);
        if at >= until {
            return;
        }
        out.push(Timestamp(at));
    }
}

impl EdgeSource for SimEdgeSource {
    fn collect(
        &mut self,
        from: Timestamp,
        until: Timestamp,
        out: &mut Vec<Timestamp>,
    ) -> Result<(), HwError> {
        if until <= from {
            return Ok(());
        }
        let first = from.0.div_euclid(CELL_NS);
        let last = (until.0 - 1).div_euclid(CELL_NS);
        for cell in first..=last {
            let whole = cell > first && cell < last;
            if whole {
                self.cell_edges(cell, out);
            } else {
                // A cell cut by the window: generate it whole (so it is the same cell
                // whichever window asks) and keep the part inside.
                let keep_from = out.len();
                self.cell_edges(cell, out);
                let mut w = keep_from;
                for r in keep_from..out.len() {
                    let ts = out[r];
                    if ts >= from && ts < until {
                        out[w] = ts;
                        w += 1;
                    }
                }
                out.truncate(w);
            }
        }
        Ok(())
    }
}

/// A uniform number in [0, 1) from the low 20 bits of `bits`.
#[inline]
fn frac(bits: u64) -> f64 {
    (bits & 0xf_ffff) as f64 * (1.0 / (1u64 << 20) as f64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn bounces_stay_in_their_second_and_in_order() {
        let mut rng = Pcg64Mcg::seed_from_u64(3);
        let mut counts = [0usize; 4];
        for k in 0..20_000 {
            let mut out = Vec::new();
            // Closures ever closer to the end of the second.
            let closure = CELL_NS - 1 - (k % 2_000) * 1_000;
            bounces(&mut rng, closure, 100_000, 400_000, CELL_NS, &mut out);
            assert!(out.len() <= 3);
            let mut prev = closure;
            for t in &out {
                assert!(t.0 > prev && t.0 < CELL_NS, "{out:?} after {closure}");
                assert!(t.0 - prev >= 100_000 && t.0 - prev <= 500_000);
                prev = t.0;
            }
            if closure < CELL_NS - 1_500_000 {
                counts[out.len()] += 1;
            }
        }
        // Away from the end of the second, 0–3 bounces, each about equally often.
        assert!(counts.iter().all(|&c| c > 1_000), "{counts:?}");
    }

    #[test]
    fn the_ends_of_time_do_not_overflow() {
        let w = Arc::new(Weather::new(9, 52.0, 0.0));
        for role in [
            PinRole::Anemometer { kmh_per_hz: 2.4 },
            PinRole::RainGauge { mm_per_tip: 0.2794 },
        ] {
            let mut src = SimEdgeSource::new(w.clone(), 5, role).unwrap();
            for (from, until) in [
                (Timestamp(i64::MAX).add_secs(-30), Timestamp(i64::MAX)),
                (Timestamp(i64::MIN), Timestamp(i64::MIN).add_secs(30)),
            ] {
                let mut out = Vec::new();
                src.collect(from, until, &mut out).unwrap();
                assert!(out.iter().all(|t| *t >= from && *t < until), "{role:?}");
                assert!(out.windows(2).all(|p| p[0] < p[1]), "{role:?}");
            }
        }
    }

    #[test]
    fn the_cups_turn_a_whole_number_of_times_per_hour() {
        let w = Arc::new(Weather::new(4, 52.0, 0.0));
        let mut src =
            SimEdgeSource::new(w.clone(), 5, PinRole::Anemometer { kmh_per_hz: 2.4 }).unwrap();
        let hour = 1_767_225_600 / HOUR_S + 7;
        let h = src.cup_hour(hour, 2.4);
        let total = h.turns[HOUR_S as usize];
        assert!(total > 100.0, "a calm hour tests nothing: {total}");
        // The scale to whole turns is tiny: at most half a turn in the hour.
        assert!(((h.n as f64) - total).abs() <= 0.5);
        assert!((h.per_closure - 1.0).abs() <= 0.5 / total);
        // The increments add up to the per-second turns, exactly.
        let mut acc = 0.0;
        for (i, chunk) in h.steps.chunks(CUP_STEPS_PER_SEC).enumerate() {
            assert_eq!(acc, h.turns[i]);
            for d in chunk {
                acc += d;
            }
        }
        assert_eq!(acc, total);
    }
}
