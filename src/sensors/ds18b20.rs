//! DS18B20 temperature probe on the Linux 1-Wire bus (`w1_slave` text).
//!
//! The kernel's `w1_therm` driver writes two lines per read:
//!
//! ```text
//! 72 01 4b 46 7f ff 0e 10 57 : crc=57 YES
//! 72 01 4b 46 7f ff 0e 10 57 t=23125
//! ```
//!
//! The first must end in `YES` (the scratchpad's CRC matched); the second carries the
//! temperature in millidegrees. Exactly 85000 is the value the chip holds at power-on
//! before its first conversion, so it is a fault, not a heatwave. CRC failures and the
//! power-on value are usually transient (a long cable, a brown-out), so one read tries
//! up to [`ATTEMPTS`] times before reporting them.

use super::{Driver, PolledSensor, SensorError};
use crate::config::Ds18b20Config;
use crate::hw::{Backend, OneWire};
use crate::observation::{Quantity, Reading};

/// Conversions per read before a CRC failure or power-on value is reported.
pub const ATTEMPTS: usize = 3;
/// The scratchpad's power-on temperature, in millidegrees.
const POWER_ON_MILLIDEG: i32 = 85_000;

pub fn build(c: &Ds18b20Config, hw: &dyn Backend) -> Result<Driver, SensorError> {
    let bus = hw.one_wire(&c.sysfs_root)?;
    let id = if c.id.is_empty() {
        let found = bus.devices()?;
        found.into_iter().next().ok_or_else(|| {
            SensorError(format!(
                "no DS18B20 (28-*) under {}: check the probe's wiring and its 4.7 kΩ pull-up, \
                 or set `id` in the config",
                c.sysfs_root.display()
            ))
        })?
    } else {
        c.id.clone()
    };
    Ok(Driver::Polled {
        sensor: Box::new(Ds18b20 {
            bus,
            id,
            quantity: Quantity::from_name(&c.quantity),
        }),
        blocking: hw.blocking_io(),
    })
}

pub struct Ds18b20 {
    bus: Box<dyn OneWire>,
    id: String,
    quantity: Quantity,
}

impl Ds18b20 {
    pub fn new(bus: Box<dyn OneWire>, id: String, quantity: Quantity) -> Ds18b20 {
        Ds18b20 { bus, id, quantity }
    }
    pub fn id(&self) -> &str {
        &self.id
    }
}

impl PolledSensor for Ds18b20 {
    fn quantities(&self) -> Vec<Quantity> {
        vec![self.quantity.clone()]
    }

    fn read(&mut self) -> Result<Vec<Reading>, SensorError> {
        let mut last = None;
        for _ in 0..ATTEMPTS {
            let text = self
                .bus
                .read_slave(&self.id)
                .map_err(|e| SensorError(format!("DS18B20 {}: {e}", self.id)))?;
            match parse_w1_slave(&text) {
                Ok(c) => return Ok(vec![Reading::new(self.quantity.clone(), c)]),
                Err(e @ (W1Error::Crc | W1Error::PowerOn)) => last = Some(e),
                Err(e) => return Err(SensorError(format!("DS18B20 {}: {e}", self.id))),
            }
        }
        let e = last.unwrap_or(W1Error::Crc);
        Err(SensorError(format!(
            "DS18B20 {}: {e} ({ATTEMPTS} attempts)",
            self.id
        )))
    }
}

/// Why a `w1_slave` text is not a temperature.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum W1Error {
    #[error("CRC check failed (crc=.. NO): noise on the 1-Wire line")]
    Crc,
    #[error("85 °C power-on value: the probe has not converted since it was powered")]
    PowerOn,
    #[error("unreadable w1_slave text: {0}")]
    Garbage(String),
}

/// The temperature in °C from a `w1_slave` text.
pub fn parse_w1_slave(text: &str) -> Result<f64, W1Error> {
    let mut lines = text.lines();
    let (Some(crc_line), Some(t_line)) = (lines.next(), lines.next()) else {
        return Err(W1Error::Garbage(format!(
            "expected two lines, got {:?}",
            shorten(text)
        )));
    };
    let crc_line = crc_line.trim_end();
    if !crc_line.contains("crc=") {
        return Err(W1Error::Garbage(format!(
            "first line has no crc=: {:?}",
            shorten(crc_line)
        )));
    }
    if crc_line.ends_with("NO") {
        return Err(W1Error::Crc);
    }
    if !crc_line.ends_with("YES") {
        return Err(W1Error::Garbage(format!(
            "first line ends in neither YES nor NO: {:?}",
            shorten(crc_line)
        )));
    }
    let t_line = t_line.trim_end();
    let Some((_, value)) = t_line.rsplit_once("t=") else {
        return Err(W1Error::Garbage(format!(
            "second line has no t=: {:?}",
            shorten(t_line)
        )));
    };
    let millideg: i32 = value.parse().map_err(|_| {
        W1Error::Garbage(format!("t={value:?} is not a whole number of millidegrees"))
    })?;
    if millideg == POWER_ON_MILLIDEG {
        return Err(W1Error::PowerOn);
    }
    // The DS18B20 measures −55…+125 °C; anything else did not come from one.
    if !(-55_000..=125_000).contains(&millideg) {
        return Err(W1Error::Garbage(format!(
            "t={millideg} is outside the DS18B20's −55…125 °C"
        )));
    }
    Ok(f64::from(millideg) / 1000.0)
}

fn shorten(s: &str) -> String {
    s.chars().take(80).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str =
        "72 01 4b 46 7f ff 0e 10 57 : crc=57 YES\n72 01 4b 46 7f ff 0e 10 57 t=23125\n";

    #[test]
    fn parses_good_and_negative() {
        assert_eq!(parse_w1_slave(GOOD), Ok(23.125));
        let neg = "5e ff 4b 46 7f ff 02 10 b6 : crc=b6 YES\n5e ff 4b 46 7f ff 02 10 b6 t=-10125\n";
        assert_eq!(parse_w1_slave(neg), Ok(-10.125));
    }

    #[test]
    fn rejects_crc_power_on_and_garbage() {
        let no = GOOD.replace("YES", "NO");
        assert_eq!(parse_w1_slave(&no), Err(W1Error::Crc));
        let hot = GOOD.replace("t=23125", "t=85000");
        assert_eq!(parse_w1_slave(&hot), Err(W1Error::PowerOn));
        for bad in [
            "",
            "hello\n",
            "crc=00 YES\nno temperature\n",
            "crc=00 YES\nt=12.5\n",
            "crc=00 MAYBE\nt=1\n",
        ] {
            assert!(
                matches!(parse_w1_slave(bad), Err(W1Error::Garbage(_))),
                "{bad:?}"
            );
        }
        let absurd = GOOD.replace("t=23125", "t=200000");
        assert!(matches!(parse_w1_slave(&absurd), Err(W1Error::Garbage(_))));
    }
}
