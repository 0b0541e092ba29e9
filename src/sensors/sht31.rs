//! Sensirion SHT31 (SHT3x family) over I2C: air temperature and relative humidity.
//!
//! One single-shot measurement per read (datasheet 4.3, table 9):
//!
//! | step | bytes |
//! |---|---|
//! | command: single shot, high repeatability, no clock stretching | write `0x24 0x00` |
//! | wait for the measurement | 15.5 ms at most (table 4) |
//! | result | read 6: T msb, T lsb, T CRC, RH msb, RH lsb, RH CRC |
//!
//! Without clock stretching the chip does not acknowledge a read header until the
//! measurement is done, so the driver waits the datasheet maximum through the
//! backend's delay (which the simulator answers without sleeping) before reading.
//! Each 16-bit word carries a CRC-8 (polynomial 0x31, init 0xFF; datasheet 4.12:
//! 0xBEEF → 0x92); a word whose CRC does not match is a fault, never a value.
//! T = −45 + 175·raw/65535 °C, RH = 100·raw/65535 % (datasheet 4.13).
//!
//! The chip keeps no settings, so a board unplugged and plugged back in simply
//! answers again on the next read.

use super::{Claim, Driver, PolledSensor, SensorError, SensorKind};
use crate::config::path::KeyPath;
use crate::config::validate::Validator;
use crate::hw::i2c::DynI2c;
use crate::hw::{Backend, BackendDelay, I2cBus};
use crate::observation::{Quantity, Reading};
use crate::probe::{Finding, Status};
use crate::sim::SimHardware;
use embedded_hal::delay::DelayNs;
use embedded_hal::i2c::{Error as _, ErrorKind, ErrorType, I2c, Operation};
use std::sync::{Arc, Mutex};

/// Single shot, high repeatability, clock stretching disabled.
pub const MEASURE_HIGH_REPEATABILITY: [u8; 2] = [0x24, 0x00];
/// Read the status register (datasheet 4.11): 2 bytes and a CRC, harmless to ask.
pub const READ_STATUS: [u8; 2] = [0xf3, 0x2d];
/// The datasheet's maximum high-repeatability measurement time, in µs.
pub const MEASUREMENT_US: u32 = 15_500;

/// `[sensors.NAME]` with `type = "sht31"`.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Sht31Config {
    #[serde(default = "super::default_i2c_bus")]
    pub bus: String,
    /// 0x44 (ADDR pin to GND, most boards) or 0x45 (ADDR pin to 3.3 V).
    #[serde(default = "defaults::address")]
    pub address: u8,
    /// The quantity the temperature is reported as. The default is an extra quantity,
    /// so an SHT31 sits beside the BME280's `temperature_c`.
    #[serde(default = "defaults::temperature_quantity")]
    pub temperature_quantity: String,
    /// The quantity the relative humidity is reported as.
    #[serde(default = "defaults::humidity_quantity")]
    pub humidity_quantity: String,
}

pub mod defaults {
    pub fn address() -> u8 {
        0x44
    }
    pub fn temperature_quantity() -> String {
        "sht31_temperature_c".into()
    }
    pub fn humidity_quantity() -> String {
        "sht31_humidity_pct".into()
    }
}

impl SensorKind for Sht31Config {
    const EXAMPLE: &'static str = r#"
[sensors.sht31]
type = "sht31"
bus = "/dev/i2c-1"
address = 0x44
temperature_quantity = "sht31_temperature_c"
humidity_quantity = "sht31_humidity_pct"
"#;

    fn quantities(&self) -> Vec<Quantity> {
        vec![
            Quantity::from_name(&self.temperature_quantity),
            Quantity::from_name(&self.humidity_quantity),
        ]
    }

    const QUANTITY_KEYS: &'static [&'static str] = &["temperature_quantity", "humidity_quantity"];

    fn check(&self, path: &KeyPath, v: &mut Validator<'_>) {
        v.not_empty(
            path.key("bus"),
            &self.bus,
            "it is the I2C device file, e.g. \"/dev/i2c-1\"",
        );
        if self.address != 0x44 && self.address != 0x45 {
            v.push(
                path.key("address"),
                format!(
                    "an SHT31 answers only at 0x44 (ADDR pin to GND, most boards) or 0x45 (ADDR pin to 3.3 V), \
                     found {:#04x}; `i2cdetect -y 1` shows which one your board uses",
                    self.address
                ),
            );
        }
        v.quantity_name(path.key("temperature_quantity"), &self.temperature_quantity);
        v.quantity_name(path.key("humidity_quantity"), &self.humidity_quantity);
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
        let bus = DynI2c(hw.i2c(&self.bus)?);
        Ok(Driver::Polled {
            sensor: Box::new(Sht31::new(bus, BackendDelay(hw.delay()), self.settings())),
            blocking: hw.blocking_io(),
        })
    }

    /// Reads the status register at both addresses: a reply whose CRC checks is an
    /// SHT3x (no other common chip at 0x44/0x45 speaks Sensirion's CRC).
    fn probe_i2c(bus: &mut I2cBus, bus_name: &str) -> Vec<Finding> {
        let mut findings = Vec::new();
        for address in [0x44u8, 0x45] {
            let mut status = [0u8; 3];
            let answered =
                bus.write(address, &READ_STATUS).is_ok() && bus.read(address, &mut status).is_ok();
            if !answered {
                continue;
            }
            let (status, message) = if crc8(&status[0..2]) == status[2] {
                (
                    Status::Info,
                    format!(
                        "an SHT3x temperature/humidity sensor answers at {address:#04x} on {bus_name} \
                         (`type = \"sht31\"`, `address = {address:#04x}`)"
                    ),
                )
            } else {
                (
                    Status::Info,
                    format!(
                        "something answers at {address:#04x} on {bus_name} but not as an SHT31 does \
                         (its status word failed the CRC check)"
                    ),
                )
            };
            findings.push(Finding {
                status,
                message,
                fix: None,
            });
        }
        findings
    }

    /// An emulated SHT31 at the configured address, measuring the simulated air.
    fn simulate(&self, hw: &SimHardware) {
        let weather = hw.weather().clone();
        let time = hw.time().clone();
        let chip = SimSht31 {
            air: Box::new(move || {
                let (temperature_c, humidity_pct, _) = weather.air(time.get());
                (temperature_c, humidity_pct)
            }),
            result: None,
        };
        hw.attach_i2c(self.address, Arc::new(Mutex::new(chip)));
    }
}

impl Sht31Config {
    pub fn settings(&self) -> Settings {
        Settings {
            bus: self.bus.clone(),
            address: self.address,
            temperature: Quantity::from_name(&self.temperature_quantity),
            humidity: Quantity::from_name(&self.humidity_quantity),
        }
    }
}

/// The Sensirion CRC-8: polynomial 0x31 (x⁸ + x⁵ + x⁴ + 1), init 0xFF, not reflected,
/// no final XOR, over the two bytes of a word.
pub fn crc8(bytes: &[u8]) -> u8 {
    let mut crc = 0xffu8;
    for &byte in bytes {
        crc ^= byte;
        for _ in 0..8 {
            crc = if crc & 0x80 != 0 {
                (crc << 1) ^ 0x31
            } else {
                crc << 1
            };
        }
    }
    crc
}

/// Temperature of a raw word (datasheet 4.13).
pub fn temperature_c(raw: u16) -> f64 {
    -45.0 + 175.0 * f64::from(raw) / 65535.0
}

/// Relative humidity of a raw word (datasheet 4.13).
pub fn humidity_pct(raw: u16) -> f64 {
    100.0 * f64::from(raw) / 65535.0
}

/// The raw words a chip reports for these conditions (the inverse of the
/// conversions, clamped to the word's range), for emulators.
pub(crate) fn raw_words(temperature_c: f64, humidity_pct: f64) -> (u16, u16) {
    let t = ((temperature_c + 45.0) * 65535.0 / 175.0).round();
    let rh = (humidity_pct * 65535.0 / 100.0).round();
    (t.clamp(0.0, 65535.0) as u16, rh.clamp(0.0, 65535.0) as u16)
}

/// The 6 result bytes for two raw words, each followed by its CRC.
pub(crate) fn result_bytes(t: u16, rh: u16) -> [u8; 6] {
    let [t0, t1] = t.to_be_bytes();
    let [h0, h1] = rh.to_be_bytes();
    [t0, t1, crc8(&[t0, t1]), h0, h1, crc8(&[h0, h1])]
}

/// What a driver instance needs to know besides its bus.
#[derive(Clone, Debug, PartialEq)]
pub struct Settings {
    /// Names the bus in errors (`/dev/i2c-1`).
    pub bus: String,
    pub address: u8,
    pub temperature: Quantity,
    pub humidity: Quantity,
}

/// The driver, generic over embedded-hal so tests drive it with an emulator or a mock.
pub struct Sht31<I, D> {
    i2c: I,
    delay: D,
    settings: Settings,
}

impl<I: I2c, D: DelayNs> Sht31<I, D> {
    pub fn new(i2c: I, delay: D, settings: Settings) -> Self {
        Sht31 {
            i2c,
            delay,
            settings,
        }
    }

    /// The bus and delay back (for a mock's `done()`).
    pub fn release(self) -> (I, D) {
        (self.i2c, self.delay)
    }

    /// One single-shot measurement: (temperature °C, relative humidity %).
    pub fn measure(&mut self) -> Result<(f64, f64), SensorError> {
        let address = self.settings.address;
        self.i2c
            .write(address, &MEASURE_HIGH_REPEATABILITY)
            .map_err(|e| self.bus_error("starting a measurement", e.kind()))?;
        self.delay.delay_us(MEASUREMENT_US);
        let mut data = [0u8; 6];
        self.i2c
            .read(address, &mut data)
            .map_err(|e| self.bus_error("reading the result", e.kind()))?;
        let t = self.word(&data[0..3], "temperature")?;
        let rh = self.word(&data[3..6], "humidity")?;
        Ok((temperature_c(t), humidity_pct(rh)))
    }

    /// A 16-bit word and its CRC, checked.
    fn word(&self, bytes: &[u8], what: &str) -> Result<u16, SensorError> {
        let want = crc8(&bytes[0..2]);
        if bytes[2] != want {
            let Settings { bus, address, .. } = &self.settings;
            return Err(SensorError::Crc {
                sensor: format!("SHT31 at {address:#04x} on {bus}"),
                what: what.to_string(),
                received: bytes[2],
                computed: want,
            });
        }
        Ok(u16::from_be_bytes([bytes[0], bytes[1]]))
    }

    fn bus_error(&self, doing: &str, kind: ErrorKind) -> SensorError {
        let Settings { bus, address, .. } = &self.settings;
        let sensor = format!("SHT31 at {address:#04x} on {bus}");
        let doing = doing.to_string();
        match kind {
            ErrorKind::NoAcknowledge(_) => SensorError::NoAnswer {
                sensor,
                doing,
                addresses: "ADDR pin to GND: 0x44, to 3.3 V: 0x45",
            },
            other => SensorError::I2c {
                sensor,
                doing,
                detail: other.to_string(),
            },
        }
    }
}

impl<I: I2c + Send, D: DelayNs + Send> PolledSensor for Sht31<I, D> {
    fn quantities(&self) -> Vec<Quantity> {
        vec![
            self.settings.temperature.clone(),
            self.settings.humidity.clone(),
        ]
    }

    fn read(&mut self) -> Result<Vec<Reading>, SensorError> {
        let (t, rh) = self.measure()?;
        Ok(vec![
            Reading::new(self.settings.temperature.clone(), t),
            Reading::new(self.settings.humidity.clone(), rh),
        ])
    }
}

/// The simulated SHT31: a measurement command samples the air; the next 6-byte read
/// returns it with its CRCs; a read with no measurement pending is not acknowledged,
/// as on the chip.
struct SimSht31 {
    air: Box<dyn Fn() -> (f64, f64) + Send>,
    result: Option<[u8; 6]>,
}

impl ErrorType for SimSht31 {
    type Error = crate::hw::I2cError;
}

impl I2c for SimSht31 {
    fn transaction(
        &mut self,
        _address: u8,
        operations: &mut [Operation<'_>],
    ) -> Result<(), crate::hw::I2cError> {
        for op in operations {
            match op {
                Operation::Write(bytes) if *bytes == MEASURE_HIGH_REPEATABILITY => {
                    let (t, rh) = (self.air)();
                    let (t, rh) = raw_words(t, rh);
                    self.result = Some(result_bytes(t, rh));
                }
                Operation::Write(_) => return Err(crate::hw::I2cError::Bus),
                Operation::Read(buf) => {
                    let result = self
                        .result
                        .take()
                        .ok_or(crate::hw::I2cError::NoAcknowledge)?;
                    let n = buf.len().min(6);
                    buf[..n].copy_from_slice(&result[..n]);
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Acknowledges only `at` and answers every read with `reply`.
    struct StatusBus {
        at: u8,
        reply: [u8; 3],
    }

    impl ErrorType for StatusBus {
        type Error = crate::hw::I2cError;
    }

    impl I2c for StatusBus {
        fn transaction(
            &mut self,
            address: u8,
            operations: &mut [Operation<'_>],
        ) -> Result<(), crate::hw::I2cError> {
            if address != self.at {
                return Err(crate::hw::I2cError::NoAcknowledge);
            }
            for op in operations {
                if let Operation::Read(buf) = op {
                    buf.copy_from_slice(&self.reply[..buf.len()]);
                }
            }
            Ok(())
        }
    }

    #[test]
    fn probe_names_an_sht3x_by_its_status_crc() {
        let word = [0x80, 0x10];
        let good = [word[0], word[1], crc8(&word)];
        let mut bus: I2cBus = Box::new(StatusBus {
            at: 0x45,
            reply: good,
        });
        let findings = Sht31Config::probe_i2c(&mut bus, "/dev/i2c-1");
        assert_eq!(findings.len(), 1, "{findings:?}");
        assert!(findings[0].message.contains("SHT3x") && findings[0].message.contains("0x45"));
        assert!(
            findings[0].message.contains("type = \"sht31\""),
            "{findings:?}"
        );

        let bad = [word[0], word[1], crc8(&word) ^ 1];
        let mut bus: I2cBus = Box::new(StatusBus {
            at: 0x44,
            reply: bad,
        });
        let findings = Sht31Config::probe_i2c(&mut bus, "/dev/i2c-1");
        assert_eq!(findings.len(), 1, "{findings:?}");
        assert!(
            findings[0].message.contains("not as an SHT31"),
            "{findings:?}"
        );

        let mut bus: I2cBus = Box::new(StatusBus {
            at: 0x23,
            reply: good,
        });
        assert!(Sht31Config::probe_i2c(&mut bus, "/dev/i2c-1").is_empty());
    }

    #[test]
    fn crc_of_the_datasheet_example() {
        assert_eq!(crc8(&[0xbe, 0xef]), 0x92);
    }

    #[test]
    fn conversions_round_trip() {
        assert_eq!(temperature_c(0), -45.0);
        assert_eq!(temperature_c(65535), 130.0);
        assert_eq!(humidity_pct(65535), 100.0);
        let (t, rh) = raw_words(21.5, 63.0);
        assert!((temperature_c(t) - 21.5).abs() < 0.002);
        assert!((humidity_pct(rh) - 63.0).abs() < 0.001);
    }
}
