//! Tipping-bucket rain gauge: a reed switch that closes once per `mm_per_tip` of rain,
//! wired from a GPIO pin to ground (pull-up, falling edge).

use super::{Claim, Driver, PulseInput, PulseKind, SensorError, SensorKind};
use crate::config::path::KeyPath;
use crate::config::validate::Validator;
use crate::hw::{Backend, PinRole};
use crate::observation::Quantity;
use crate::pulse::Debouncer;
use serde::{Deserialize, Serialize};

/// `[sensors.NAME]` with `type = "rain_gauge"`.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct RainGaugeConfig {
    #[serde(default = "defaults::pin")]
    pub pin: u8,
    #[serde(default = "defaults::mm_per_tip")]
    pub mm_per_tip: f64,
    #[serde(default = "defaults::debounce_ms")]
    pub debounce_ms: f64,
}

pub mod defaults {
    pub fn pin() -> u8 {
        6
    }
    pub fn mm_per_tip() -> f64 {
        0.2794
    }
    pub fn debounce_ms() -> f64 {
        50.0
    }
}

const MAX_RAIN_DEBOUNCE_MS: f64 = 1000.0;

impl SensorKind for RainGaugeConfig {
    const EXAMPLE: &'static str = r#"
[sensors.rain]
type = "rain_gauge"
pin = 6
mm_per_tip = 0.2794
debounce_ms = 50.0
"#;

    fn quantities(&self) -> Vec<Quantity> {
        vec![Quantity::RainMm]
    }

    fn check(&self, path: &KeyPath, v: &mut Validator<'_>) {
        let s = self;
        v.gpio(path.key("pin"), s.pin);
        v.positive(
            path.key("mm_per_tip"),
            s.mm_per_tip,
            "mm of rain for one bucket tip",
        );
        let debounce = path.key("debounce_ms");
        if v.finite(&debounce, s.debounce_ms)
            && !(s.debounce_ms > 0.0 && s.debounce_ms <= MAX_RAIN_DEBOUNCE_MS)
        {
            v.push(
                debounce,
                format!(
                    "must be more than 0 and at most {MAX_RAIN_DEBOUNCE_MS} ms, found {}: without a lock-out the \
                     switch's bounce counts as extra tips (phantom rain), and a bucket tips at most a few times a \
                     second even in a cloudburst",
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
            Claim::OnePerStation { kind: "rain gauge" },
        ]
    }

    fn build(&self, hw: &dyn Backend) -> Result<Driver, SensorError> {
        build(self, hw)
    }
}

pub fn build(c: &RainGaugeConfig, hw: &dyn Backend) -> Result<Driver, SensorError> {
    let source = hw.edge_source(
        c.pin,
        PinRole::RainGauge {
            mm_per_tip: c.mm_per_tip,
        },
    )?;
    Ok(Driver::Pulse(PulseInput {
        kind: PulseKind::Rain {
            mm_per_tip: c.mm_per_tip,
        },
        source,
        debouncer: Debouncer::from_ms(c.debounce_ms),
    }))
}
