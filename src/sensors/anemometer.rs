//! Cup anemometer: a reed switch that closes `1 / kmh_per_hz` times per second per
//! km/h of wind, wired from a GPIO pin to ground (pull-up, falling edge).

use super::{Driver, PulseInput, PulseKind, SensorError};
use crate::config::AnemometerConfig;
use crate::hw::{Backend, PinRole};
use crate::pulse::Debouncer;

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
