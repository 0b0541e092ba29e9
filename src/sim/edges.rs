//! Reed-switch edges for the simulated anemometer and rain gauge.
//!
//! Edges are generated per 1-second cell from that cell's own seeded generator, so the
//! stream is a pure function of (seed, pin, role, cell): collecting `[a, b)` then
//! `[b, c)` gives exactly what collecting `[a, c)` gives, and a fresh source (a resumed
//! run) plays the same edges. Every closure and its contact bounce lie inside their
//! cell, and well before its end (a guard longer than any sane lock-out), so a
//! debouncer's state never has to span a cell boundary.
//!
//! Speed matters: a simulated year is about 10^8 closures. Work per cell is one
//! weather lookup and one generator; work per edge is a few arithmetic operations, and
//! nothing is allocated beyond the caller's vector.

use super::noise::{cell_rng, mix, unit};
use super::weather::{MeanWindCache, Weather};
use crate::hw::{EdgeSource, HwError, PinRole};
use crate::time::{Timestamp, NANOS_PER_SEC};
use rand::RngCore;
use rand_pcg::Pcg64Mcg;
use std::sync::Arc;

const CELL_NS: i64 = NANOS_PER_SEC;
/// Anemometer closures start in the first 995 ms of a cell: lock-outs up to 5 ms (the
/// most the anemometer's may be) then end inside the cell.
const WIND_WINDOW_NS: i64 = CELL_NS - 5_000_000;
/// Bucket tips start in the first 600 ms: rain lock-outs up to 300 ms end inside.
const RAIN_WINDOW_NS: i64 = 600_000_000;
/// Nobody turns a cup anemometer faster than this; it also bounds edges per cell.
const MAX_CLOSURES_PER_SEC: f64 = 200.0;

const STREAM_ANEMOMETER: u64 = 0x414e_454d;
const STREAM_RAIN: u64 = 0x5241_494e;

#[derive(Clone, Copy, Debug, PartialEq)]
enum Kind {
    Wind { kmh_per_hz: f64 },
    Rain { mm_per_tip: f64 },
}

/// A simulated reed switch on one GPIO pin.
pub struct SimEdgeSource {
    weather: Arc<Weather>,
    kind: Kind,
    stream: u64,
    /// A memo of the slow wind (same values with or without it).
    wind_cache: MeanWindCache,
}

impl SimEdgeSource {
    pub fn new(weather: Arc<Weather>, pin: u8, role: PinRole) -> Result<SimEdgeSource, HwError> {
        let (kind, base) = match role {
            PinRole::Anemometer { kmh_per_hz } if kmh_per_hz.is_finite() && kmh_per_hz > 0.0 => {
                (Kind::Wind { kmh_per_hz }, STREAM_ANEMOMETER)
            }
            PinRole::RainGauge { mm_per_tip } if mm_per_tip.is_finite() && mm_per_tip > 0.0 => {
                (Kind::Rain { mm_per_tip }, STREAM_RAIN)
            }
            other => {
                return Err(HwError(format!(
                    "GPIO{pin}: simulated {other:?} needs a positive factor"
                )))
            }
        };
        Ok(SimEdgeSource {
            weather,
            kind,
            stream: mix(base ^ u64::from(pin)),
            wind_cache: MeanWindCache::default(),
        })
    }

    /// Appends every edge of 1-second cell `cell` (seconds since the epoch), in order.
    pub fn cell_edges(&mut self, cell: i64, out: &mut Vec<Timestamp>) {
        let start = cell.saturating_mul(CELL_NS);
        let mid = Timestamp(start + CELL_NS / 2);
        match self.kind {
            Kind::Wind { kmh_per_hz } => {
                let hz = (self
                    .weather
                    .wind_speed_kmh_cached(mid, &mut self.wind_cache)
                    / kmh_per_hz)
                    .min(MAX_CLOSURES_PER_SEC);
                if hz > 0.0 {
                    let mut rng = cell_rng(self.weather.seed(), self.stream, cell);
                    wind_cell(&mut rng, start, hz, out);
                }
            }
            Kind::Rain { mm_per_tip } => {
                let mmh = self.weather.rain_rate_mmh(mid);
                if mmh > 0.0 {
                    let mut rng = cell_rng(self.weather.seed(), self.stream, cell);
                    rain_cell(&mut rng, start, mmh / mm_per_tip / 3600.0, out);
                }
            }
        }
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

/// Closures evenly spaced at `hz` with a seeded phase, so the expected count per cell
/// is exactly `hz` and the long-run rate matches the wind. Each closure is followed by
/// 0–3 bounce edges, 0.1–0.5 ms apart, so all within 0.1–1.5 ms of it.
#[inline]
fn wind_cell(rng: &mut Pcg64Mcg, cell_start: i64, hz: f64, out: &mut Vec<Timestamp>) {
    let phase = unit(rng.next_u64());
    let count = (hz - phase).ceil().max(0.0) as usize;
    // Closure k is at (phase + k) / hz of the second, squeezed into the window.
    let step_ns = WIND_WINDOW_NS as f64 / hz;
    out.reserve(count * 4);
    for k in 0..count {
        let closure = cell_start + ((phase + k as f64) * step_ns) as i64;
        out.push(Timestamp(closure));
        let bits = rng.next_u64();
        let bounces = (bits & 3) as u32;
        let mut at = closure;
        for b in 0..bounces {
            let step = 100_000 + (frac(bits >> (2 + 20 * b)) * 400_000.0) as i64;
            at += step;
            out.push(Timestamp(at));
        }
    }
}

/// Bucket tips: `per_sec` expected tips this second (a Bernoulli trial, or more tips
/// when the rate exceeds one a second), each with 0–3 bounce edges 1–5 ms after it.
#[inline]
fn rain_cell(rng: &mut Pcg64Mcg, cell_start: i64, per_sec: f64, out: &mut Vec<Timestamp>) {
    let bits = rng.next_u64();
    let whole = per_sec.floor();
    let tips = (whole as usize + usize::from(unit(bits) < per_sec - whole)).min(100);
    if tips == 0 {
        return;
    }
    let slot = RAIN_WINDOW_NS / tips as i64;
    for k in 0..tips {
        let bits = rng.next_u64();
        // Leave 5 ms at the end of each slot for the bounce.
        let tip = cell_start + k as i64 * slot + (frac(bits) * (slot - 5_000_000) as f64) as i64;
        out.push(Timestamp(tip));
        let bounces = ((bits >> 20) & 3) as u32;
        // First bounce 1–2 ms after the tip, the rest 0.3–1.3 ms apart: at most 5 ms.
        let mut at = tip + 1_000_000 + (frac(bits >> 22) * 1_000_000.0) as i64;
        for b in 0..bounces {
            if b > 0 {
                at += 300_000 + (frac(rng.next_u64()) * 1_000_000.0) as i64;
            }
            out.push(Timestamp(at));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn wind_cell_count_matches_rate_and_stays_inside() {
        let mut rng = Pcg64Mcg::seed_from_u64(3);
        let mut total = 0usize;
        let cells = 20_000;
        for cell in 0..cells {
            let mut out = Vec::new();
            let start = cell * CELL_NS;
            wind_cell(&mut rng, start, 4.3, &mut out);
            assert!(out.windows(2).all(|w| w[0] < w[1]));
            assert!(out
                .iter()
                .all(|t| t.0 >= start && t.0 < start + WIND_WINDOW_NS + 1_500_000));
            // A closure is an edge more than 1.5 ms after the one before (bounces are
            // closer than that).
            total += (0..out.len())
                .filter(|&i| i == 0 || out[i].0 - out[i - 1].0 > 1_500_000)
                .count();
        }
        let rate = total as f64 / cells as f64;
        assert!((rate - 4.3).abs() < 0.02, "rate {rate}");
    }

    #[test]
    fn rain_bounces_within_five_ms() {
        let mut rng = Pcg64Mcg::seed_from_u64(5);
        let mut out = Vec::new();
        for cell in 0..2_000 {
            out.clear();
            rain_cell(&mut rng, cell * CELL_NS, 1.0, &mut out);
            let tip = out[0];
            assert!(
                out[1..]
                    .iter()
                    .all(|t| t.0 - tip.0 >= 1_000_000 && t.0 - tip.0 <= 5_000_000),
                "{out:?}"
            );
            assert!(out.last().map_or(0, |t| t.0) < cell * CELL_NS + RAIN_WINDOW_NS);
        }
    }
}
