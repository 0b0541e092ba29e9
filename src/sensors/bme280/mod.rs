//! BME280 (temperature, humidity, pressure) over I2C, driven register by register.
//! A BMP280 (chip id 0x58) is accepted and reported as such: it has no humidity.
//!
//! Why not the `bme280` crate (used until this version): its `init()` fixes the
//! settings at ×2 temperature, ×16 pressure oversampling and IIR filter 16, which in
//! forced mode at one reading per 5 s lags a temperature step by over a minute; its
//! `measure()` waits a fixed 40 ms, shorter than the datasheet's maximum measurement
//! time for its own settings (46.1 ms), so a slow part returns the previous reading;
//! its humidity follows Bosch's double-precision API code, whose extra
//! `(1 + dig_H3·(t_fine − 76800)/2^26)` factor the datasheet formula lacks; and its
//! calibration is private, so none of this can be fixed around it. The protocol is a
//! handful of registers, and the datasheet's integer compensation (section 4.2.3) is
//! short and checked below against the datasheet's worked example.
//!
//! Each read is one forced measurement with the configured oversampling and IIR
//! filter (default: Bosch's "weather monitoring" setting, datasheet 3.5.1: ×1/×1/×1,
//! filter off). The driver waits the datasheet's *maximum* measurement time for those
//! settings (section 9.1), then checks the status register's `measuring` bit, so a
//! slow part never hands back the previous conversion. All waits go through the
//! backend's delay, which the simulator answers without sleeping.
//!
//! The chip id is checked first, so an operator learns what actually answered. After
//! any failed read the driver forgets the chip and starts again (id, reset,
//! calibration, settings) on the next read: a breakout that was unplugged and plugged
//! back in, which loses its settings with its power, recovers without restarting the
//! daemon.

use super::{Claim, Driver, PolledSensor, SensorError, SensorKind};
use crate::config::path::KeyPath;
use crate::config::validate::Validator;
use crate::hw::{Backend, I2cBus, I2cError};
use crate::observation::{Quantity, Reading};
use crate::probe::{Finding, Status};
use embedded_hal::delay::DelayNs;

mod calibration;
pub use calibration::Calibration;

const REG_CALIB_PT: u8 = 0x88;
const REG_CHIP_ID: u8 = 0xD0;
const REG_RESET: u8 = 0xE0;
const REG_CALIB_H: u8 = 0xE1;
const REG_CTRL_HUM: u8 = 0xF2;
const REG_STATUS: u8 = 0xF3;
const REG_CTRL_MEAS: u8 = 0xF4;
const REG_CONFIG: u8 = 0xF5;
const REG_DATA: u8 = 0xF7;
const SOFT_RESET: u8 = 0xB6;
const CHIP_ID_BME280: u8 = 0x60;
const CHIP_ID_BMP280: u8 = 0x58;
/// Status bit 3: a conversion is running.
const STATUS_MEASURING: u8 = 0x08;
/// Status bit 0: the chip is copying its calibration from NVM (after a reset).
const STATUS_IM_UPDATE: u8 = 0x01;
/// ctrl_meas mode bits for one forced measurement.
const MODE_FORCED: u8 = 0x01;
/// Datasheet 1.1: start-up time after power-on or a soft reset is 2 ms.
const STARTUP_US: u32 = 2_000;
/// Polls of the status register after the maximum measurement time, 500 µs apart,
/// before a chip that is still busy is reported as faulty.
const EXTRA_POLLS: u32 = 20;
const POLL_US: u32 = 500;

/// `[sensors.NAME]` with `type = "bme280"` (a BMP280 is accepted too).
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Bme280Config {
    #[serde(default = "super::default_i2c_bus")]
    pub bus: String,
    #[serde(default = "defaults::address")]
    pub address: u8,
    /// Temperature oversampling: 1, 2, 4, 8 or 16 conversions averaged per reading.
    /// Default 1, Bosch's "weather monitoring" setting (datasheet 3.5.1).
    #[serde(default = "defaults::oversampling")]
    pub oversampling_temperature: u8,
    /// Pressure oversampling: 1, 2, 4, 8 or 16. Default 1.
    #[serde(default = "defaults::oversampling")]
    pub oversampling_pressure: u8,
    /// Humidity oversampling: 1, 2, 4, 8 or 16 (ignored by a BMP280). Default 1.
    #[serde(default = "defaults::oversampling")]
    pub oversampling_humidity: u8,
    /// The chip's IIR filter coefficient for temperature and pressure: 0 (off), 2, 4,
    /// 8 or 16. Default 0: the filter keeps its state between forced measurements, so
    /// at one reading per sample interval a coefficient c lags by about c intervals.
    #[serde(default)]
    pub iir_filter_coefficient: u8,
}

pub mod defaults {
    pub fn address() -> u8 {
        0x77
    }
    pub fn oversampling() -> u8 {
        1
    }
}

impl SensorKind for Bme280Config {
    const EXAMPLE: &'static str = r#"
[sensors.bme280]
type = "bme280"
bus = "/dev/i2c-1"
address = 0x77
"#;

    fn quantities(&self) -> Vec<Quantity> {
        vec![
            Quantity::TemperatureC,
            Quantity::HumidityPct,
            Quantity::PressureHpa,
        ]
    }

    fn check(&self, path: &KeyPath, v: &mut Validator<'_>) {
        let s = self;
        v.not_empty(
            path.key("bus"),
            &s.bus,
            "it is the I2C device file, e.g. \"/dev/i2c-1\"",
        );
        if !(0x03..=0x77).contains(&s.address) {
            v.push(
                path.key("address"),
                format!(
                    "must be a 7-bit I2C address from 0x03 to 0x77, found {:#04x}",
                    s.address
                ),
            );
        } else if s.address != 0x76 && s.address != 0x77 {
            v.push(
                path.key("address"),
                format!(
                    "a BME280 answers only at 0x76 (most cheap boards, SDO to GND) or 0x77 (Adafruit, SDO to \
                     3.3 V), found {:#04x}; `i2cdetect -y 1` shows which one your board uses",
                    s.address
                ),
            );
        }
        for (key, value) in [
            ("oversampling_temperature", s.oversampling_temperature),
            ("oversampling_pressure", s.oversampling_pressure),
            ("oversampling_humidity", s.oversampling_humidity),
        ] {
            if !matches!(value, 1 | 2 | 4 | 8 | 16) {
                v.push(
                    path.key(key),
                    format!(
                        "must be 1, 2, 4, 8 or 16 (conversions averaged per reading; 1 is Bosch's \
                         weather-monitoring setting), found {value}"
                    ),
                );
            }
        }
        if !matches!(s.iir_filter_coefficient, 0 | 2 | 4 | 8 | 16) {
            v.push(
                path.key("iir_filter_coefficient"),
                format!(
                    "must be 0 (filter off, Bosch's weather-monitoring setting), 2, 4, 8 or 16, found {}",
                    s.iir_filter_coefficient
                ),
            );
        }
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

    /// The simulated BME280 sits wherever the config says the real one is.
    fn simulate(&self, hw: &crate::sim::SimHardware) {
        hw.bme280().set_address(self.address);
    }

    /// Asks both addresses for the chip id, so a BMP280 or BME680 sold as a BME280
    /// is named as what it is.
    fn probe_i2c(bus: &mut I2cBus, bus_name: &str) -> Vec<Finding> {
        let mut findings = Vec::new();
        let mut add = |status, message: String, fix: Option<String>| {
            findings.push(Finding {
                status,
                message,
                fix,
            })
        };
        let mut found_pressure_chip = false;
        for address in [0x76u8, 0x77] {
            let mut id = [0u8; 1];
            match bus.write_read(address, &[0xd0], &mut id) {
                Ok(()) => {
                    found_pressure_chip = true;
                    let (status, what) = match id[0] {
                        0x60 => (Status::Ok, "a BME280".to_string()),
                        0x58 => (
                            Status::Info,
                            "a BMP280 (temperature and pressure only: no humidity; often sold as a BME280)".to_string(),
                        ),
                        0x61 => (Status::Info, "a BME680 (not supported by the bme280 driver)".to_string()),
                        other => (Status::Problem, format!("an unknown chip (id {other:#04x}, a BME280 says 0x60)")),
                    };
                    add(
                        status,
                        format!(
                            "{what} answers at {address:#04x} on {bus_name} (chip id {:#04x})",
                            id[0]
                        ),
                        None,
                    );
                }
                Err(I2cError::NoAcknowledge) => {}
                Err(e) => add(
                    Status::Problem,
                    format!("{bus_name} at {address:#04x}: {e}"),
                    None,
                ),
            }
        }
        if !found_pressure_chip {
            add(
                Status::Missing,
                format!("Nothing answers at 0x76 or 0x77 on {bus_name}: no BME280 found"),
                Some(
                    "check the BME280's wires: VIN to 3V3 (pin 1), GND (pin 6), SDA to GPIO2 (pin 3), SCL to GPIO3 \
                     (pin 5); `i2cdetect -y 1` lists what answers"
                        .into(),
                ),
            );
        }
        findings
    }
}

pub fn build(c: &Bme280Config, hw: &dyn Backend) -> Result<Driver, SensorError> {
    let settings = Settings::from_config(c)?;
    let bus = hw.i2c(&c.bus)?;
    let mut sensor = Bme280Sensor::new(bus, c.bus.clone(), c.address, settings, hw.delay());
    match sensor.init() {
        Ok(()) => {}
        // The wrong chip will not become the right one: say so at start-up.
        Err(InitError::WrongChip(e)) => return Err(e),
        // A missing or sick chip may come (back) later: register it and retry on
        // every read, reporting a fault until then.
        Err(InitError::Bus(e)) => tracing::warn!("{e}; will retry on every read"),
    }
    Ok(Driver::Polled {
        sensor: Box::new(sensor),
        blocking: hw.blocking_io(),
    })
}

/// Oversampling factors and IIR filter coefficient, as the config gives them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Settings {
    /// Conversions averaged per reading: 1, 2, 4, 8 or 16.
    pub oversampling_temperature: u8,
    pub oversampling_pressure: u8,
    pub oversampling_humidity: u8,
    /// 0 (off), 2, 4, 8 or 16.
    pub iir_filter_coefficient: u8,
}

impl Settings {
    /// Bosch's recommended setting for weather monitoring (datasheet 3.5.1).
    pub const WEATHER_MONITORING: Settings = Settings {
        oversampling_temperature: 1,
        oversampling_pressure: 1,
        oversampling_humidity: 1,
        iir_filter_coefficient: 0,
    };

    /// The settings of a sensor table. The config check has already refused bad
    /// values with their line; this repeats it so a hand-built config cannot panic.
    pub fn from_config(c: &Bme280Config) -> Result<Settings, SensorError> {
        let s = Settings {
            oversampling_temperature: c.oversampling_temperature,
            oversampling_pressure: c.oversampling_pressure,
            oversampling_humidity: c.oversampling_humidity,
            iir_filter_coefficient: c.iir_filter_coefficient,
        };
        for (key, v) in [
            ("oversampling_temperature", s.oversampling_temperature),
            ("oversampling_pressure", s.oversampling_pressure),
            ("oversampling_humidity", s.oversampling_humidity),
        ] {
            if osrs_bits(v).is_none() {
                return Err(SensorError::Setting {
                    sensor: "BME280",
                    key,
                    allowed: "1, 2, 4, 8 or 16",
                    found: v,
                });
            }
        }
        if filter_bits(s.iir_filter_coefficient).is_none() {
            return Err(SensorError::Setting {
                sensor: "BME280",
                key: "iir_filter_coefficient",
                allowed: "0, 2, 4, 8 or 16",
                found: s.iir_filter_coefficient,
            });
        }
        Ok(s)
    }

    /// ctrl_meas in sleep mode: osrs_t in bits 7..5, osrs_p in bits 4..2.
    pub fn ctrl_meas(&self) -> u8 {
        (osrs_bits(self.oversampling_temperature).unwrap_or(1) << 5)
            | (osrs_bits(self.oversampling_pressure).unwrap_or(1) << 2)
    }

    pub(crate) fn ctrl_hum(&self) -> u8 {
        osrs_bits(self.oversampling_humidity).unwrap_or(1)
    }

    /// config: the filter in bits 4..2; standby time and SPI bits stay 0 (forced mode).
    pub fn config(&self) -> u8 {
        filter_bits(self.iir_filter_coefficient).unwrap_or(0) << 2
    }

    /// The datasheet's maximum measurement time (section 9.1), in µs, rounded up:
    /// 1.25 + 2.3·osrs_t + (2.3·osrs_p + 0.575) + (2.3·osrs_h + 0.575) ms, the
    /// humidity term only when humidity is measured (not on a BMP280).
    pub(crate) fn max_measurement_us(&self, humidity: bool) -> u32 {
        // In ns-free integer µs: 2.3 ms = 2300 µs, 0.575 ms = 575 µs.
        let t = 1_250 + 2_300 * u32::from(self.oversampling_temperature);
        let p = 2_300 * u32::from(self.oversampling_pressure) + 575;
        let h = if humidity {
            2_300 * u32::from(self.oversampling_humidity) + 575
        } else {
            0
        };
        t + p + h
    }
}

/// Register bits for an oversampling factor (datasheet tables 20, 22, 23).
pub(crate) fn osrs_bits(factor: u8) -> Option<u8> {
    match factor {
        1 => Some(1),
        2 => Some(2),
        4 => Some(3),
        8 => Some(4),
        16 => Some(5),
        _ => None,
    }
}

/// Register bits for an IIR filter coefficient (datasheet table 28).
pub(crate) fn filter_bits(coefficient: u8) -> Option<u8> {
    match coefficient {
        0 => Some(0),
        2 => Some(1),
        4 => Some(2),
        8 => Some(3),
        16 => Some(4),
        _ => None,
    }
}

/// Which part answered.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Part {
    Bme280,
    /// No humidity sensor.
    Bmp280,
}

enum InitError {
    WrongChip(SensorError),
    Bus(SensorError),
}

pub struct Bme280Sensor {
    bus: I2cBus,
    bus_name: String,
    address: u8,
    settings: Settings,
    delay: Box<dyn DelayNs + Send>,
    /// The chip's calibration; `None` until the chip answers, and again after a
    /// failed read.
    calibration: Option<Calibration>,
    /// The part seen at the last successful initialisation (BME280 until then).
    part: Part,
}

impl Bme280Sensor {
    pub fn new(
        bus: I2cBus,
        bus_name: String,
        address: u8,
        settings: Settings,
        delay: Box<dyn DelayNs + Send>,
    ) -> Bme280Sensor {
        Bme280Sensor {
            bus,
            bus_name,
            address,
            settings,
            delay,
            calibration: None,
            part: Part::Bme280,
        }
    }

    pub fn part(&self) -> Part {
        self.part
    }

    fn here(&self) -> String {
        format!("BME280 at {:#04x} on {}", self.address, self.bus_name)
    }

    fn fault(&self, e: I2cError, doing: String) -> SensorError {
        let sensor = self.here();
        match e {
            I2cError::NoAcknowledge => SensorError::NoAnswer {
                sensor,
                doing,
                addresses: "0x76/0x77: SDO to GND is 0x76, to 3.3 V is 0x77",
            },
            I2cError::Bus => SensorError::I2c {
                sensor,
                doing,
                detail: e.to_string(),
            },
        }
    }

    fn read_regs(&mut self, reg: u8, buf: &mut [u8]) -> Result<(), SensorError> {
        self.bus
            .write_read(self.address, &[reg], buf)
            .map_err(|e| self.fault(e, format!("reading register {reg:#04x}")))
    }

    fn write_reg(&mut self, reg: u8, value: u8) -> Result<(), SensorError> {
        self.bus
            .write(self.address, &[reg, value])
            .map_err(|e| self.fault(e, format!("writing register {reg:#04x}")))
    }

    /// Reads the status register until `mask` clears, waiting `POLL_US` between
    /// tries; false if it is still set after `EXTRA_POLLS` tries.
    fn wait_status_clear(&mut self, mask: u8) -> Result<bool, SensorError> {
        for attempt in 0..=EXTRA_POLLS {
            let mut status = [0u8];
            self.read_regs(REG_STATUS, &mut status)?;
            if status[0] & mask == 0 {
                return Ok(true);
            }
            if attempt < EXTRA_POLLS {
                self.delay.delay_us(POLL_US);
            }
        }
        Ok(false)
    }

    fn init(&mut self) -> Result<(), InitError> {
        let mut id = [0u8];
        self.read_regs(REG_CHIP_ID, &mut id)
            .map_err(InitError::Bus)?;
        let part = match id[0] {
            CHIP_ID_BME280 => Part::Bme280,
            CHIP_ID_BMP280 => Part::Bmp280,
            other => {
                return Err(InitError::WrongChip(SensorError::WrongChip {
                    sensor: self.here(),
                    found: other,
                    expected: "0x60 (BME280) or 0x58 (BMP280)",
                }))
            }
        };
        if part == Part::Bmp280 && self.part != Part::Bmp280 {
            tracing::info!(
                "{}: this is a BMP280 (chip id 0x58): temperature and pressure only",
                self.here()
            );
        }
        self.configure(part).map_err(InitError::Bus)?;
        self.part = part;
        Ok(())
    }

    /// Soft reset, calibration, settings. The reset puts the chip in sleep mode, where
    /// (unlike normal mode) writes to config are never ignored.
    fn configure(&mut self, part: Part) -> Result<(), SensorError> {
        self.write_reg(REG_RESET, SOFT_RESET)?;
        self.delay.delay_us(STARTUP_US);
        if !self.wait_status_clear(STATUS_IM_UPDATE)? {
            return Err(SensorError::Misbehaving {
                sensor: self.here(),
                problem: "still copying its calibration 12 ms after a reset".into(),
                fix: "check its 3.3 V supply; if it keeps doing this, replace the sensor",
            });
        }
        let mut pt = [0u8; 26];
        self.read_regs(REG_CALIB_PT, &mut pt)?;
        let mut h = [0u8; 7];
        if part == Part::Bme280 {
            self.read_regs(REG_CALIB_H, &mut h)?;
        }
        let calibration = Calibration::from_registers(&pt, &h);
        if calibration.t1 == 0 || calibration.p1 == 0 {
            return Err(SensorError::Misbehaving {
                sensor: self.here(),
                problem: format!(
                    "calibration reads as zeros (dig_T1 = {}, dig_P1 = {}): the chip is not answering properly",
                    calibration.t1, calibration.p1
                ),
                fix: "check the SDA/SCL wiring and the pull-ups, then the chip's supply",
            });
        }
        self.write_reg(REG_CONFIG, self.settings.config())?;
        if part == Part::Bme280 {
            // ctrl_hum takes effect at the next write to ctrl_meas (datasheet 5.4.3).
            self.write_reg(REG_CTRL_HUM, self.settings.ctrl_hum())?;
        }
        self.write_reg(REG_CTRL_MEAS, self.settings.ctrl_meas())?;
        self.calibration = Some(calibration);
        Ok(())
    }

    /// True if the chip still holds the settings it was given. One that lost power
    /// between two reads (a loose connector, a brown-out) answers again but has
    /// forgotten them, and would report skipped measurements or filtered values.
    fn settings_intact(&mut self) -> Result<bool, SensorError> {
        // ctrl_hum, status, ctrl_meas, config in one burst.
        let mut regs = [0u8; 4];
        self.read_regs(REG_CTRL_HUM, &mut regs)?;
        let [ctrl_hum, _, ctrl_meas, config] = regs;
        let hum_ok = self.part == Part::Bmp280 || ctrl_hum & 0x07 == self.settings.ctrl_hum();
        Ok(hum_ok
            && ctrl_meas & 0xFC == self.settings.ctrl_meas()
            && config & 0x1C == self.settings.config())
    }

    fn measure(&mut self, calibration: Calibration) -> Result<Vec<Reading>, SensorError> {
        let here = self.here();
        self.write_reg(REG_CTRL_MEAS, self.settings.ctrl_meas() | MODE_FORCED)?;
        let max_us = self.settings.max_measurement_us(self.part == Part::Bme280);
        self.delay.delay_us(max_us);
        // The maximum time has passed; a part that is still converting is out of its
        // specification, but is given a little longer before it is reported.
        if !self.wait_status_clear(STATUS_MEASURING)? {
            return Err(SensorError::Misbehaving {
                sensor: here,
                problem: format!(
                    "still measuring {} ms after the datasheet's maximum of {:.1} ms",
                    EXTRA_POLLS * POLL_US / 1000,
                    f64::from(max_us) / 1000.0
                ),
                fix: "check its 3.3 V supply; if it keeps doing this, replace the sensor",
            });
        }
        let mut data = [0u8; 8];
        self.read_regs(REG_DATA, &mut data)?;
        let adc_p = u20(&data[0..3]);
        let adc_t = u20(&data[3..6]);
        let adc_h = u16::from_be_bytes([data[6], data[7]]);
        // A chip reset during the measurement (a brown-out) measured with its reset
        // settings: humidity skipped, the filter off. Its data cannot be told by value
        // (0x80000 and 0x8000, the "skipped" values, are also ordinary readings), so
        // the settings are checked again, and the measurement kept only if they held.
        if !self.settings_intact()? {
            return Err(SensorError::Misbehaving {
                sensor: here,
                problem: "the chip lost its settings during the measurement (a reset or brown-out)"
                    .into(),
                fix: "it is initialised again on the next read; if this repeats, check its 3.3 V \
                      supply and wiring",
            });
        }
        let t_fine = calibration.t_fine(adc_t);
        let temperature_c = Calibration::temperature_c(t_fine);
        let Some(pressure_pa) = calibration.pressure_pa(adc_p, t_fine) else {
            return Err(SensorError::Misbehaving {
                sensor: here,
                problem: "pressure calibration is invalid (division by zero)".into(),
                fix:
                    "its calibration memory reads wrong: check the wiring, else replace the sensor",
            });
        };
        let mut out = vec![Reading::new(Quantity::TemperatureC, temperature_c)];
        if self.part == Part::Bme280 {
            out.push(Reading::new(
                Quantity::HumidityPct,
                calibration.humidity_pct(adc_h, t_fine),
            ));
        }
        out.push(Reading::new(Quantity::PressureHpa, pressure_pa / 100.0));
        Ok(out)
    }
}

/// A 20-bit data value from msb, lsb, xlsb[7:4].
fn u20(b: &[u8]) -> u32 {
    (u32::from(b[0]) << 12) | (u32::from(b[1]) << 4) | (u32::from(b[2]) >> 4)
}

impl PolledSensor for Bme280Sensor {
    fn quantities(&self) -> Vec<Quantity> {
        match self.part {
            Part::Bme280 => vec![
                Quantity::TemperatureC,
                Quantity::HumidityPct,
                Quantity::PressureHpa,
            ],
            Part::Bmp280 => vec![Quantity::TemperatureC, Quantity::PressureHpa],
        }
    }

    fn read(&mut self) -> Result<Vec<Reading>, SensorError> {
        if self.calibration.is_some() {
            match self.settings_intact() {
                Ok(true) => {}
                Ok(false) => {
                    tracing::info!(
                        "{}: the chip lost its settings (reset or power cycle); initialising it again",
                        self.here()
                    );
                    self.calibration = None;
                }
                Err(e) => {
                    self.calibration = None;
                    return Err(e);
                }
            }
        }
        if self.calibration.is_none() {
            self.init()
                .map_err(|(InitError::WrongChip(e) | InitError::Bus(e))| e)?;
        }
        let Some(calibration) = self.calibration else {
            return Err(SensorError::Misbehaving {
                sensor: self.here(),
                problem: "not initialised".into(),
                fix: "it is initialised again on the next read",
            });
        };
        self.measure(calibration).inspect_err(|_| {
            // Whatever happened (unplugged, reset by a brown-out), start afresh next
            // time.
            self.calibration = None;
        })
    }
}

#[cfg(test)]
mod tests;
