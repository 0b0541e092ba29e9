//! Tipping-bucket rain gauge: a reed switch that closes once per `mm_per_tip` of rain,
//! wired from a GPIO pin to ground (pull-up, falling edge).

use super::{Driver, PulseInput, PulseKind, SensorError};
use crate::config::RainGaugeConfig;
use crate::hw::{Backend, PinRole};
use crate::pulse::Debouncer;

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
