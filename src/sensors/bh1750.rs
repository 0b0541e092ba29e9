//! BH1750 ambient-light sensor over I2C: illuminance in lux.
//!
//! The BH1750 has no registers, only one-byte commands (datasheet "Instruction Set
//! Architecture") and a 16-bit result read as two bytes, high byte first:
//!
//! | command | byte | what it does |
//! |---|---|---|
//! | power down | `0x00` | sleep, waiting for a command |
//! | power on | `0x01` | wake, waiting for a measurement command |
//! | reset | `0x07` | clear the result (only accepted while powered on) |
//! | continuous H-resolution | `0x10` | measure again and again, 1 lx resolution |
//! | one-time H-resolution | `0x20` | measure once, then power down |
//!
//! A high-resolution measurement takes 120 ms typically, 180 ms at most. With the
//! default measurement time (MTreg = 69), lux = count / 1.2, so the largest reading is
//! 65535 / 1.2 = 54612 lx; a saturated count is reported as a fault, never as a value
//! (full sun reaches 100 000 lx: put the sensor behind a diffuser or in shade).
//!
//! This driver is the worked example of `docs/writing-a-driver.md`.

use super::{Claim, Driver, PolledSensor, SensorError, SensorKind};
use crate::config::path::KeyPath;
use crate::config::validate::Validator;
use crate::hw::i2c::DynI2c;
use crate::hw::{Backend, BackendDelay};
use crate::observation::{Quantity, Reading};
use crate::probe::{Finding, Status};
use crate::sim::SimHardware;
use embedded_hal::delay::DelayNs;
use embedded_hal::i2c::{Error as _, ErrorKind, ErrorType, I2c, Operation};
use std::sync::{Arc, Mutex};

pub(crate) const POWER_DOWN: u8 = 0x00;
pub const POWER_ON: u8 = 0x01;
pub(crate) const RESET: u8 = 0x07;
pub(crate) const CONTINUOUS_H_RES: u8 = 0x10;
pub(crate) const ONE_TIME_H_RES: u8 = 0x20;

/// The datasheet's maximum high-resolution measurement time.
pub(crate) const MEASUREMENT_MS: u32 = 180;
/// The count a saturated sensor returns.
const SATURATED: u16 = u16::MAX;

/// Illuminance of a raw count at the default measurement time (MTreg = 69): the
/// datasheet's "1.2 counts per lx" (its example: 0x83 0x90 = 33680 → 28067 lx).
pub(crate) fn lux_from_count(count: u16) -> f64 {
    f64::from(count) / 1.2
}

/// A BH1750 ambient-light sensor on I2C (illuminance in lux): `[sensors.NAME]` with
/// `type = "bh1750"`.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Bh1750Config {
    #[serde(default = "super::default_i2c_bus")]
    pub bus: String,
    /// 0x23 (ADDR pin low or open) or 0x5C (ADDR pin high).
    #[serde(default = "defaults::address")]
    pub address: u8,
    /// The quantity this sensor reports.
    #[serde(default = "defaults::quantity")]
    pub quantity: String,
    /// `one_time`: a fresh high-resolution measurement per read (the chip sleeps in
    /// between); `continuous`: the chip measures all the time and a read returns the
    /// latest result without waiting.
    #[serde(default)]
    pub mode: Bh1750Mode,
}

#[derive(Clone, Copy, Debug, Default, serde::Serialize, serde::Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Bh1750Mode {
    #[default]
    OneTime,
    Continuous,
}

pub mod defaults {
    pub fn address() -> u8 {
        0x23
    }
    pub fn quantity() -> String {
        "illuminance_lux".into()
    }
}

impl SensorKind for Bh1750Config {
    const EXAMPLE: &'static str = r#"
[sensors.light]
type = "bh1750"
bus = "/dev/i2c-1"
address = 0x23
quantity = "illuminance_lux"
mode = "one_time"
"#;

    fn quantities(&self) -> Vec<Quantity> {
        vec![Quantity::from_name(&self.quantity)]
    }

    const QUANTITY_KEYS: &'static [&'static str] = &["quantity"];

    fn check(&self, path: &KeyPath, v: &mut Validator<'_>) {
        let s = self;
        v.not_empty(
            path.key("bus"),
            &s.bus,
            "it is the I2C device file, e.g. \"/dev/i2c-1\"",
        );
        if s.address != 0x23 && s.address != 0x5c {
            v.push(
                path.key("address"),
                format!(
                    "a BH1750 answers only at 0x23 (ADDR pin to GND or open) or 0x5c (ADDR pin to 3.3 V), \
                     found {:#04x}; `i2cdetect -y 1` shows which one your board uses",
                    s.address
                ),
            );
        }
        v.quantity_name(path.key("quantity"), &s.quantity);
    }

    fn claims(&self) -> Vec<Claim> {
        vec![Claim::I2c {
            bus_key: "bus",
            bus: self.bus.clone(),
            address_key: "address",
            address: self.address,
        }]
    }

    fn build(&self, hw: &dyn Backend) -> Result<Driver, SensorError> {
        build(self, hw)
    }

    /// An emulated BH1750 at the configured address, reading the simulated daylight
    /// through a diffuser (see [`SIM_DIFFUSER`]).
    fn simulate(&self, hw: &SimHardware) {
        let weather = hw.weather().clone();
        let time = hw.time().clone();
        let chip = SimBh1750 {
            lux: Box::new(move || weather.illuminance_lux(time.get()) * SIM_DIFFUSER),
            measuring: false,
        };
        hw.attach_i2c(self.address, Arc::new(Mutex::new(chip)));
    }

    /// A BH1750 has no id register; reading its 2-byte result is harmless.
    fn probe_i2c(bus: &mut crate::hw::I2cBus, _bus_name: &str) -> Vec<Finding> {
        let mut findings = Vec::new();
        for address in [0x23u8, 0x5c] {
            let mut result = [0u8; 2];
            if bus.read(address, &mut result).is_ok() {
                findings.push(Finding {
                    status: Status::Info,
                    message: format!(
                        "something answers at {address:#04x} (a BH1750 light sensor?)"
                    ),
                    fix: None,
                });
            }
        }
        findings
    }
}

/// Builds the driver from its config (through [`SensorKind::build`], which the
/// registry in `sensors/mod.rs` calls). Only opening the bus can fail here; the chip itself is set up
/// on the first read, so a sensor plugged in after start-up still works.
pub fn build(c: &Bh1750Config, hw: &dyn Backend) -> Result<Driver, SensorError> {
    let bus = DynI2c(hw.i2c(&c.bus)?);
    // The backend's delay, never a thread sleep: a replay must not wait in real time.
    let sensor = Bh1750::new(
        bus,
        BackendDelay(hw.delay()),
        Settings {
            bus: c.bus.clone(),
            address: c.address,
            mode: c.mode,
            quantity: Quantity::from_name(&c.quantity),
        },
    );
    Ok(Driver::Polled {
        sensor: Box::new(sensor),
        blocking: hw.blocking_io(),
    })
}

/// What a driver instance needs to know besides its bus.
#[derive(Clone, Debug, PartialEq)]
pub struct Settings {
    /// Names the bus in errors (`/dev/i2c-1`).
    pub bus: String,
    pub address: u8,
    pub mode: Bh1750Mode,
    pub quantity: Quantity,
}

/// A BH1750 on any embedded-hal I2C bus, waiting with any embedded-hal delay.
pub struct Bh1750<I, D> {
    i2c: I,
    delay: D,
    settings: Settings,
    /// False until the chip has been set up, and again after any bus error: an
    /// unplugged and re-plugged chip wakes powered down and must be set up anew.
    ready: bool,
}

impl<I: I2c, D: DelayNs> Bh1750<I, D> {
    pub fn new(i2c: I, delay: D, settings: Settings) -> Self {
        Bh1750 {
            i2c,
            delay,
            settings,
            ready: false,
        }
    }

    /// Gives the bus back (tests check a mock's expectations with it).
    pub fn release(self) -> (I, D) {
        (self.i2c, self.delay)
    }

    /// Power on and reset (clears a stale result), then start measuring if continuous.
    fn set_up(&mut self) -> Result<(), SensorError> {
        self.command(POWER_ON)?;
        self.command(RESET)?;
        match self.settings.mode {
            Bh1750Mode::OneTime => self.command(POWER_DOWN)?,
            Bh1750Mode::Continuous => {
                self.command(CONTINUOUS_H_RES)?;
                // The first result is ready one measurement time later.
                self.delay.delay_ms(MEASUREMENT_MS);
            }
        }
        Ok(())
    }

    fn measure(&mut self) -> Result<u16, SensorError> {
        if self.settings.mode == Bh1750Mode::OneTime {
            self.command(POWER_ON)?;
            self.command(ONE_TIME_H_RES)?;
            self.delay.delay_ms(MEASUREMENT_MS);
        }
        let mut buf = [0u8; 2];
        let address = self.settings.address;
        self.i2c
            .read(address, &mut buf)
            .map_err(|e| self.bus_error("reading the result", e.kind()))?;
        Ok(u16::from_be_bytes(buf))
    }

    fn command(&mut self, byte: u8) -> Result<(), SensorError> {
        let address = self.settings.address;
        self.i2c
            .write(address, &[byte])
            .map_err(|e| self.bus_error(&format!("sending command {byte:#04x}"), e.kind()))
    }

    fn bus_error(&self, doing: &str, kind: ErrorKind) -> SensorError {
        let Settings { bus, address, .. } = &self.settings;
        let sensor = format!("BH1750 at {address:#04x} on {bus}");
        let doing = doing.to_string();
        match kind {
            ErrorKind::NoAcknowledge(_) => SensorError::NoAnswer {
                sensor,
                doing,
                addresses: "ADDR pin to GND or open: 0x23, to 3.3 V: 0x5c",
            },
            other => SensorError::I2c {
                sensor,
                doing,
                detail: other.to_string(),
            },
        }
    }
}

impl<I: I2c + Send, D: DelayNs + Send> PolledSensor for Bh1750<I, D> {
    fn quantities(&self) -> Vec<Quantity> {
        vec![self.settings.quantity.clone()]
    }

    fn read(&mut self) -> Result<Vec<Reading>, SensorError> {
        let count = (|| {
            if !self.ready {
                self.set_up()?;
                self.ready = true;
            }
            self.measure()
        })()
        .inspect_err(|_| self.ready = false)?;
        if count == SATURATED {
            return Err(SensorError::Saturated {
                sensor: format!("BH1750 at {:#04x}", self.settings.address),
                limit_lx: lux_from_count(SATURATED),
            });
        }
        Ok(vec![Reading::new(
            self.settings.quantity.clone(),
            lux_from_count(count),
        )])
    }
}

/// The share of the daylight the simulated sensor sees: it sits behind a diffuser,
/// as the module docs advise, so the brightest simulated sun (about 110 000 lx) reads
/// about 44 000 lx, below the chip's 54 612 lx limit.
pub const SIM_DIFFUSER: f64 = 0.4;

/// The simulated BH1750: after a measurement command, a 2-byte read returns the
/// count of the light at that moment (the simulator's clock stands still during the
/// driver's wait, so the measurement time does not show); before any, it returns 0,
/// as the chip's cleared data register does.
struct SimBh1750 {
    lux: Box<dyn Fn() -> f64 + Send>,
    measuring: bool,
}

impl ErrorType for SimBh1750 {
    type Error = crate::hw::I2cError;
}

impl I2c for SimBh1750 {
    fn transaction(
        &mut self,
        _address: u8,
        operations: &mut [Operation<'_>],
    ) -> Result<(), crate::hw::I2cError> {
        for op in operations {
            match op {
                Operation::Write([CONTINUOUS_H_RES | ONE_TIME_H_RES]) => self.measuring = true,
                Operation::Write([POWER_ON | POWER_DOWN | RESET]) => {}
                Operation::Write(_) => return Err(crate::hw::I2cError::Bus),
                Operation::Read(buf) => {
                    let count = if self.measuring {
                        ((self.lux)() * 1.2)
                            .round()
                            .clamp(0.0, f64::from(SATURATED)) as u16
                    } else {
                        0
                    };
                    let bytes = count.to_be_bytes();
                    for (i, b) in buf.iter_mut().enumerate() {
                        *b = bytes.get(i).copied().unwrap_or(0xff);
                    }
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use embedded_hal::i2c::NoAcknowledgeSource;
    use embedded_hal_mock::eh1::delay::NoopDelay;
    use embedded_hal_mock::eh1::i2c::{Mock, Transaction};

    fn settings(mode: Bh1750Mode) -> Settings {
        Settings {
            bus: "/dev/i2c-1".into(),
            address: 0x23,
            mode,
            quantity: Quantity::from_name("illuminance_lux"),
        }
    }

    #[test]
    fn datasheet_example_count() {
        // Datasheet: high byte 0x83, low byte 0x90 → (2^15 + 2^9 + 2^8 + 2^7 + 2^4) / 1.2 ≈ 28067 lx.
        assert!((lux_from_count(0x8390) - 28_066.7).abs() < 0.1);
        assert_eq!(lux_from_count(0), 0.0);
    }

    #[test]
    fn one_time_mode_traffic() {
        let a = 0x23;
        let expectations = [
            // First read: set-up, then a one-time measurement.
            Transaction::write(a, vec![POWER_ON]),
            Transaction::write(a, vec![RESET]),
            Transaction::write(a, vec![POWER_DOWN]),
            Transaction::write(a, vec![POWER_ON]),
            Transaction::write(a, vec![ONE_TIME_H_RES]),
            Transaction::read(a, vec![0x83, 0x90]),
            // Second read: no set-up again.
            Transaction::write(a, vec![POWER_ON]),
            Transaction::write(a, vec![ONE_TIME_H_RES]),
            Transaction::read(a, vec![0x00, 0x78]),
        ];
        let mut sensor = Bh1750::new(
            Mock::new(&expectations),
            NoopDelay::new(),
            settings(Bh1750Mode::OneTime),
        );
        let r = sensor.read().unwrap();
        assert_eq!(r[0].quantity.name(), "illuminance_lux");
        assert!((r[0].value - 28_066.7).abs() < 0.1);
        assert_eq!(sensor.read().unwrap()[0].value, 100.0);
        sensor.release().0.done();
    }

    #[test]
    fn continuous_mode_traffic() {
        let a = 0x5c;
        let expectations = [
            Transaction::write(a, vec![POWER_ON]),
            Transaction::write(a, vec![RESET]),
            Transaction::write(a, vec![CONTINUOUS_H_RES]),
            Transaction::read(a, vec![0x01, 0x2c]),
            Transaction::read(a, vec![0x01, 0x2d]),
        ];
        let mut s = settings(Bh1750Mode::Continuous);
        s.address = a;
        let mut sensor = Bh1750::new(Mock::new(&expectations), NoopDelay::new(), s);
        assert_eq!(sensor.read().unwrap()[0].value, 250.0);
        assert!((sensor.read().unwrap()[0].value - 250.833).abs() < 0.001);
        sensor.release().0.done();
    }

    #[test]
    fn a_nack_is_a_fault_and_the_chip_is_set_up_again_afterwards() {
        let a = 0x23;
        let nack = ErrorKind::NoAcknowledge(NoAcknowledgeSource::Address);
        let expectations = [
            Transaction::write(a, vec![POWER_ON]).with_error(nack),
            // Re-plugged: set up again before measuring.
            Transaction::write(a, vec![POWER_ON]),
            Transaction::write(a, vec![RESET]),
            Transaction::write(a, vec![CONTINUOUS_H_RES]),
            Transaction::read(a, vec![0x00, 0x0c]),
        ];
        let mut sensor = Bh1750::new(
            Mock::new(&expectations),
            NoopDelay::new(),
            settings(Bh1750Mode::Continuous),
        );
        let e = sensor.read().unwrap_err();
        assert!(
            e.to_string().contains("no answer")
                && e.to_string().contains("0x23")
                && e.to_string().contains("0x5c"),
            "{e}"
        );
        assert_eq!(sensor.read().unwrap()[0].value, 10.0);
        sensor.release().0.done();
    }

    #[test]
    fn saturation_is_a_fault_not_a_value() {
        let a = 0x23;
        let expectations = [
            Transaction::write(a, vec![POWER_ON]),
            Transaction::write(a, vec![RESET]),
            Transaction::write(a, vec![CONTINUOUS_H_RES]),
            Transaction::read(a, vec![0xff, 0xff]),
        ];
        let mut sensor = Bh1750::new(
            Mock::new(&expectations),
            NoopDelay::new(),
            settings(Bh1750Mode::Continuous),
        );
        let e = sensor.read().unwrap_err();
        assert!(e.to_string().contains("saturated"), "{e}");
        sensor.release().0.done();
    }
}
