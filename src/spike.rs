//! Spike QC: rate-of-change limits, the second QC test after the range limits.
//!
//! A range limit catches a value no weather can have; a spike is a value no weather can
//! *reach* from the one before in the time between them: a BME280 read through a
//! glitching bus, a bird on the screen, a bounce that slipped through the debouncer.
//! Like an out-of-range value, a spike is stored as missing (NULL) with a fault (kind
//! `spike`), never as a number.
//!
//! # What a spike is
//!
//! - **Polled quantities** (air temperature, humidity, station pressure): a reading
//!   that differs from the *last good* reading of the same sensor and quantity by more
//!   than `limit per minute × minutes elapsed` between the two, the elapsed time
//!   counted as at least one minute. Measuring against the last good reading (not the
//!   last reading) keeps a spike from becoming the reference the next reading is judged
//!   by; measuring over the elapsed time lets a sensor that was silent for a while (a
//!   fault, a restart) come back at a new level. The one-minute floor is there because
//!   the limits are the WMO's step limits between consecutive *one-minute* values:
//!   pro-rated down to 5-s samples they would be twelve times stricter than the WMO's
//!   and reject real short changes (a shower's cold, wet outflow arriving; the
//!   simulator's shower fronts step by up to 1.4 °C and 16 % in 5 s). A spike is a
//!   reading that is impossible, not merely fast.
//! - **A genuine step.** Weather can outrun a limit (a sea-breeze front, a sensor moved
//!   from sun to shade, a replaced sensor with another offset). A spike is brief, a step
//!   persists, so after `spike_confirm_samples` consecutive rejected readings that are
//!   consistent with *each other* (each within the limit of the one before it) the last
//!   of them is accepted and becomes the new reference. The earlier ones of the run
//!   stay missing: they were judged when they arrived, and records are never rewritten.
//!   Without this rule a step larger than the limit would lock the quantity out until
//!   the elapsed time alone allowed it (and a step of 20 °C at 3 °C/min would cost
//!   almost seven minutes of data); with it the cost is `spike_confirm_samples − 1`
//!   samples (10 s at the defaults).
//! - **Rain gauge:** two accepted tips closer together than `1 / rain_tips_per_second`
//!   (including the last accepted tip of the samples before, which survives restarts in
//!   the store). The sample's rain is then discarded (its tips neither count nor become
//!   the reference), as for a range fault.
//! - **Anemometer:** two closures closer together than `1 / wind_closures_per_second`:
//!   the cups cannot turn that fast, so at least one of them is a bounce or
//!   interference. The sample's wind data is discarded, as for a range fault.
//!
//! After a restart the filter has no reference, so the first reading of each polled
//! quantity is judged by the range limits only (judging it against a reading from
//! before the stop would need the stop's length, and a long stop allows any change
//! anyway); the rain gauge's reference is the last stored tip.

use crate::observation::Quantity;
use crate::time::{Timestamp, NANOS_PER_SEC};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::sync::Arc;

/// The `[qc]` keys of the spike test. Each limit is optional in the file; 0 turns that
/// check off.
#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct SpikeLimits {
    /// Air temperature, °C per minute. Default 3.0: the WMO's step test for
    /// one-minute AWS data (WMO-No. 488 / Zahumenský 2004, "Guidelines on quality
    /// control procedures for data from automatic weather stations").
    #[serde(default = "defaults::temperature_c_per_minute")]
    pub temperature_c_per_minute: f64,
    /// Relative humidity, % per minute. Default 20.0: twice the WMO guideline's 10 %
    /// for one-minute means, because a single sample at the onset of a shower (the
    /// screen wetted, the outflow arriving) jumps further than a minute's mean.
    #[serde(default = "defaults::humidity_pct_per_minute")]
    pub humidity_pct_per_minute: f64,
    /// Station pressure, hPa per minute. Default 2.0: the WMO guideline's 0.5 hPa is
    /// for barometers in still rooms; a consumer sensor in a screen outdoors sees
    /// gust-driven swings of a few tenths, which are not spikes.
    #[serde(default = "defaults::pressure_hpa_per_minute")]
    pub pressure_hpa_per_minute: f64,
    /// Rain-gauge bucket tips per second. Default 2.0 (tips at least 0.5 s apart): a
    /// bucket needs about half a second to swing over and empty, and 2 tips/s of
    /// 0.2794 mm is over 2000 mm/h, beyond the world-record one-minute rainfall
    /// (31.2 mm, Unionville, Maryland, 1956: about 1870 mm/h).
    #[serde(default = "defaults::rain_tips_per_second")]
    pub rain_tips_per_second: f64,
    /// Anemometer switch closures per second. Default: none given, which means the
    /// rate of the upper `wind_speed_kmh` range limit at the anemometer's
    /// `kmh_per_hz` (300 km/h / 2.4 km/h per Hz = 125 Hz, closures at least 8 ms
    /// apart): the cups cannot turn faster than the fastest wind the station accepts.
    #[serde(default)]
    pub wind_closures_per_second: Option<f64>,
    /// Consecutive readings, consistent with each other, after which a step beyond the
    /// limit is accepted as real. Default 3.
    #[serde(default = "defaults::spike_confirm_samples")]
    pub spike_confirm_samples: u32,
}

impl SpikeLimits {
    /// The keys this struct reads from `[qc]`, where every other key is a
    /// `[qc.QUANTITY]` range-limit table.
    pub const KEYS: [&'static str; 6] = [
        "temperature_c_per_minute",
        "humidity_pct_per_minute",
        "pressure_hpa_per_minute",
        "rain_tips_per_second",
        "wind_closures_per_second",
        "spike_confirm_samples",
    ];

    /// The per-minute limit of a polled quantity; `None` when it has none (or 0).
    pub fn per_minute(&self, q: &Quantity) -> Option<f64> {
        let limit = match q {
            Quantity::TemperatureC => self.temperature_c_per_minute,
            Quantity::HumidityPct => self.humidity_pct_per_minute,
            Quantity::PressureHpa => self.pressure_hpa_per_minute,
            // No per-minute limit: the pulse inputs have their own per-second limits,
            // the others none. Named so a new quantity must choose.
            Quantity::GroundTemperatureC
            | Quantity::WindDirDeg
            | Quantity::WindSpeedKmh
            | Quantity::RainMm
            | Quantity::Extra(_) => return None,
        };
        (limit > 0.0).then_some(limit)
    }
}

impl SpikeLimits {
    /// Every limit 0: no spike test at all.
    pub fn off() -> Self {
        SpikeLimits {
            temperature_c_per_minute: 0.0,
            humidity_pct_per_minute: 0.0,
            pressure_hpa_per_minute: 0.0,
            rain_tips_per_second: 0.0,
            wind_closures_per_second: Some(0.0),
            spike_confirm_samples: 1,
        }
    }
}

impl Default for SpikeLimits {
    fn default() -> Self {
        SpikeLimits {
            temperature_c_per_minute: defaults::temperature_c_per_minute(),
            humidity_pct_per_minute: defaults::humidity_pct_per_minute(),
            pressure_hpa_per_minute: defaults::pressure_hpa_per_minute(),
            rain_tips_per_second: defaults::rain_tips_per_second(),
            wind_closures_per_second: None,
            spike_confirm_samples: defaults::spike_confirm_samples(),
        }
    }
}

pub mod defaults {
    pub fn temperature_c_per_minute() -> f64 {
        3.0
    }
    pub fn humidity_pct_per_minute() -> f64 {
        20.0
    }
    pub fn pressure_hpa_per_minute() -> f64 {
        2.0
    }
    pub fn rain_tips_per_second() -> f64 {
        2.0
    }
    pub fn spike_confirm_samples() -> u32 {
        3
    }
}

/// One polled series' state: the last good reading and the run of rejected readings
/// that may be a genuine step.
#[derive(Clone, Copy, Debug)]
struct Series {
    good_at: Timestamp,
    good: f64,
    run_at: Timestamp,
    run_last: f64,
    run: u32,
}

/// The spike test's memory across samples (and records), per sensor and quantity.
/// Lives in the aggregator; a restart starts it empty.
#[derive(Debug, Default)]
pub struct SpikeFilter {
    series: HashMap<(Arc<str>, Quantity), Series>,
}

/// The change `per_minute` allows over the time from `from` to `to`, counted as at
/// least one minute (the WMO's step limits are between one-minute values).
fn allowed(per_minute: f64, from: Timestamp, to: Timestamp) -> f64 {
    let minute = 60 * NANOS_PER_SEC;
    per_minute * (to.0 - from.0).max(minute) as f64 / minute as f64
}

impl SpikeFilter {
    /// Judges one reading (already calibrated and within its range limits). `Ok` when it
    /// is accepted, `Err` with the reason when it is a spike.
    pub fn check(
        &mut self,
        limits: &SpikeLimits,
        sensor: &Arc<str>,
        q: &Quantity,
        at: Timestamp,
        value: f64,
    ) -> Result<(), String> {
        let Some(per_minute) = limits.per_minute(q) else {
            return Ok(());
        };
        let key = (sensor.clone(), q.clone());
        let Some(s) = self.series.get_mut(&key) else {
            self.series.insert(
                key,
                Series {
                    good_at: at,
                    good: value,
                    run_at: at,
                    run_last: value,
                    run: 0,
                },
            );
            return Ok(());
        };
        let limit = allowed(per_minute, s.good_at, at);
        if (value - s.good).abs() <= limit {
            *s = Series {
                good_at: at,
                good: value,
                run: 0,
                ..*s
            };
            return Ok(());
        }
        // Beyond the limit: a spike, or part of a genuine step.
        let continues =
            s.run > 0 && (value - s.run_last).abs() <= allowed(per_minute, s.run_at, at);
        s.run = if continues { s.run + 1 } else { 1 };
        s.run_at = at;
        s.run_last = value;
        if s.run >= limits.spike_confirm_samples.max(1) {
            *s = Series {
                good_at: at,
                good: value,
                run: 0,
                ..*s
            };
            return Ok(());
        }
        Err(format!(
            "{q} {value} differs from the last good reading {} by {:.3}, more than the {per_minute} per minute rate limit allows ({limit:.3}); discarded as a spike",
            s.good,
            (value - s.good).abs()
        ))
    }
}

/// Why `pulses` are faster than `per_second` allows: the first pair (with `previous`,
/// the last accepted pulse before these) closer together than `1 / per_second`, named
/// as `what`; `None` when there is none (or the limit is 0). `pulses` are in time
/// order, as the debouncer hands them over.
pub fn too_fast(
    pulses: &[Timestamp],
    previous: Option<Timestamp>,
    per_second: f64,
    what: &str,
) -> Option<String> {
    if per_second <= 0.0 || !per_second.is_finite() {
        return None;
    }
    let min_gap_ns = NANOS_PER_SEC as f64 / per_second;
    let mut last = previous;
    for &p in pulses {
        if let Some(l) = last {
            let gap_ns = p.0 - l.0;
            if gap_ns > 0 && (gap_ns as f64) < min_gap_ns {
                return Some(format!(
                    "{what} {} ms apart, faster than the {per_second} per second the hardware can make",
                    gap_ns as f64 / 1e6
                ));
            }
        }
        last = Some(p);
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pulses_closer_than_the_limit_are_found_across_samples() {
        let t = |ms: i64| Timestamp(ms * 1_000_000);
        assert_eq!(too_fast(&[t(0), t(600), t(1200)], None, 2.0, "tips"), None);
        let why = too_fast(&[t(0), t(600), t(900)], None, 2.0, "tips").unwrap();
        assert!(why.starts_with("tips 300 ms apart"), "{why}");
        // The tip before this sample counts.
        let why = too_fast(&[t(100)], Some(t(0)), 2.0, "tips").unwrap();
        assert!(why.starts_with("tips 100 ms apart"), "{why}");
        // A limit of 0 is off.
        assert_eq!(too_fast(&[t(0), t(1)], None, 0.0, "tips"), None);
    }

    #[test]
    fn limits_of_zero_turn_the_polled_test_off() {
        let limits = SpikeLimits {
            temperature_c_per_minute: 0.0,
            ..SpikeLimits::default()
        };
        assert_eq!(limits.per_minute(&Quantity::TemperatureC), None);
        assert_eq!(limits.per_minute(&Quantity::PressureHpa), Some(2.0));
        assert_eq!(limits.per_minute(&Quantity::GroundTemperatureC), None);
    }
}
