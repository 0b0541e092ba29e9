//! Calibration offsets and range limits, looked up per quantity on the hot path.

use super::AggregatorConfig;
use crate::config::QcLimits;
use crate::observation::Quantity;
use std::collections::HashMap;
use std::sync::Arc;

/// Index of a standard quantity into the per-quantity arrays of `Rules`.
fn standard_index(q: &Quantity) -> Option<usize> {
    Some(match q {
        Quantity::TemperatureC => 0,
        Quantity::HumidityPct => 1,
        Quantity::PressureHpa => 2,
        Quantity::GroundTemperatureC => 3,
        Quantity::WindDirDeg => 4,
        Quantity::WindSpeedKmh => 5,
        Quantity::RainMm => 6,
        Quantity::Extra(_) => return None,
    })
}

/// Calibration and QC, laid out so the hot path does not hash standard quantities.
pub(super) struct Rules {
    offset: [f64; 7],
    limits: [Option<QcLimits>; 7],
    extra_offset: HashMap<Arc<str>, f64>,
    extra_limits: HashMap<Arc<str>, QcLimits>,
}

impl Rules {
    pub(super) fn new(cfg: &AggregatorConfig) -> Rules {
        let mut rules = Rules {
            offset: [0.0; 7],
            limits: [None; 7],
            extra_offset: HashMap::new(),
            extra_limits: HashMap::new(),
        };
        for (q, &offset) in &cfg.calibration {
            match (standard_index(q), q) {
                (Some(i), _) => rules.offset[i] = offset,
                (None, Quantity::Extra(name)) => {
                    rules.extra_offset.insert(name.clone(), offset);
                }
                (None, _) => {}
            }
        }
        for (q, &limits) in &cfg.qc {
            match (standard_index(q), q) {
                (Some(i), _) => rules.limits[i] = Some(limits),
                (None, Quantity::Extra(name)) => {
                    rules.extra_limits.insert(name.clone(), limits);
                }
                (None, _) => {}
            }
        }
        rules
    }

    pub(super) fn offset(&self, q: &Quantity) -> f64 {
        match (standard_index(q), q) {
            (Some(i), _) => self.offset[i],
            (None, Quantity::Extra(name)) if !self.extra_offset.is_empty() => {
                self.extra_offset.get(&**name).copied().unwrap_or(0.0)
            }
            _ => 0.0,
        }
    }

    pub(super) fn limits(&self, q: &Quantity) -> Option<QcLimits> {
        match (standard_index(q), q) {
            (Some(i), _) => self.limits[i],
            (None, Quantity::Extra(name)) if !self.extra_limits.is_empty() => {
                self.extra_limits.get(&**name).copied()
            }
            _ => None,
        }
    }

    /// `Ok` when `value` passes QC for `q`, else the reason, naming value and limits.
    pub(super) fn check(&self, q: &Quantity, value: f64) -> Result<(), String> {
        if !value.is_finite() {
            return Err(format!("{q} is not a number ({value})"));
        }
        match self.limits(q) {
            Some(l) if !(l.min..=l.max).contains(&value) => Err(format!(
                "{q} {value} is outside the QC limits {}..{}",
                l.min, l.max
            )),
            _ => Ok(()),
        }
    }
}
