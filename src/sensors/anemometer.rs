//! Cup anemometer: a reed switch that closes `1 / kmh_per_hz` times per second per
//! km/h of wind, wired from a GPIO pin to ground (pull-up, falling edge).

use super::{Claim, Driver, PulseInput, PulseKind, SensorError, SensorKind};
use crate::config::path::KeyPath;
use crate::config::validate::Validator;
use crate::hw::{Backend, PinRole};
use crate::observation::Quantity;
use crate::pulse::Debouncer;
use serde::{Deserialize, Serialize};

/// `[sensors.NAME]` with `type = "anemometer"`.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct AnemometerConfig {
    #[serde(default = "defaults::pin")]
    pub pin: u8,
    #[serde(default = "defaults::kmh_per_hz")]
    pub kmh_per_hz: f64,
    #[serde(default = "defaults::debounce_ms")]
    pub debounce_ms: f64,
}

pub mod defaults {
    pub fn pin() -> u8 {
        5
    }
    pub fn kmh_per_hz() -> f64 {
        2.4
    }
    /// Well above the reed switch's ~1.5 ms bounce and well below the 16 ms between
    /// closures at 150 km/h.
    pub fn debounce_ms() -> f64 {
        3.0
    }
}

/// The wind speed the debounce must still count correctly.
const MAX_WIND_KMH: f64 = 240.0;
/// Reed switches bounce for up to ~2 ms; a wind lock-out above this is never useful.
const MAX_WIND_DEBOUNCE_MS: f64 = 20.0;

impl SensorKind for AnemometerConfig {
    const EXAMPLE: &'static str = r#"
[sensors.anemometer]
type = "anemometer"
pin = 5
kmh_per_hz = 2.4
debounce_ms = 3.0
"#;

    fn quantities(&self) -> Vec<Quantity> {
        vec![Quantity::WindSpeedKmh]
    }

    fn check(&self, path: &KeyPath, v: &mut Validator<'_>) {
        let s = self;
        v.gpio(path.key("pin"), s.pin);
        v.positive(
            path.key("kmh_per_hz"),
            s.kmh_per_hz,
            "km/h for one switch closure per second",
        );
        let kmh_per_hz = if s.kmh_per_hz.is_finite() && s.kmh_per_hz > 0.0 {
            s.kmh_per_hz
        } else {
            2.4
        };
        let period_ms = 1000.0 * kmh_per_hz / MAX_WIND_KMH;
        let limit_ms = (period_ms / 2.0).min(MAX_WIND_DEBOUNCE_MS);
        let debounce = path.key("debounce_ms");
        if v.finite(&debounce, s.debounce_ms) && !(s.debounce_ms > 0.0 && s.debounce_ms < limit_ms)
        {
            v.push(
                debounce,
                format!(
                    "must be more than 0 and less than {limit_ms} ms, found {}: the reed switch bounces for \
                     1-2 ms, and at {MAX_WIND_KMH} km/h it closes every {period_ms} ms (with kmh_per_hz = \
                     {kmh_per_hz}), so a longer lock-out would drop real closures and under-read strong wind",
                    s.debounce_ms
                ),
            );
        }
    }

    fn claims(&self) -> Vec<Claim> {
        vec![
            Claim::Gpio {
                key: "pin",
                pin: self.pin,
                one_wire: false,
            },
            Claim::OnePerStation { kind: "anemometer" },
        ]
    }

    fn build(&self, hw: &dyn Backend) -> Result<Driver, SensorError> {
        build(self, hw)
    }
}

pub fn build(c: &AnemometerConfig, hw: &dyn Backend) -> Result<Driver, SensorError> {
    let source = hw.edge_source(
        c.pin,
        PinRole::Anemometer {
            kmh_per_hz: c.kmh_per_hz,
        },
    )?;
    Ok(Driver::Pulse(PulseInput {
        kind: PulseKind::Wind {
            kmh_per_hz: c.kmh_per_hz,
        },
        source,
        debouncer: Debouncer::from_ms(c.debounce_ms),
    }))
}
