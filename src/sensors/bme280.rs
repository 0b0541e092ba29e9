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
                return Err(SensorError(format!(
                    "BME280 `{key}` must be 1, 2, 4, 8 or 16, found {v}"
                )));
            }
        }
        if filter_bits(s.iir_filter_coefficient).is_none() {
            return Err(SensorError(format!(
                "BME280 `iir_filter_coefficient` must be 0, 2, 4, 8 or 16, found {}",
                s.iir_filter_coefficient
            )));
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

/// The factory trimming values (datasheet names, table 16).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Calibration {
    pub t1: u16,
    pub t2: i16,
    pub t3: i16,
    pub p1: u16,
    pub p2: i16,
    pub p3: i16,
    pub p4: i16,
    pub p5: i16,
    pub p6: i16,
    pub p7: i16,
    pub p8: i16,
    pub p9: i16,
    pub h1: u8,
    pub h2: i16,
    pub h3: u8,
    pub h4: i16,
    pub h5: i16,
    pub h6: i8,
}

impl Calibration {
    /// From the 26 bytes at 0x88..=0xA1 and the 7 at 0xE1..=0xE7 (zeros for a BMP280,
    /// which has no humidity calibration).
    pub(crate) fn from_registers(pt: &[u8; 26], h: &[u8; 7]) -> Calibration {
        let u = |i: usize| u16::from_le_bytes([pt[i], pt[i + 1]]);
        let s = |i: usize| i16::from_le_bytes([pt[i], pt[i + 1]]);
        Calibration {
            t1: u(0),
            t2: s(2),
            t3: s(4),
            p1: u(6),
            p2: s(8),
            p3: s(10),
            p4: s(12),
            p5: s(14),
            p6: s(16),
            p7: s(18),
            p8: s(20),
            p9: s(22),
            h1: pt[25],
            h2: i16::from_le_bytes([h[0], h[1]]),
            h3: h[2],
            // Two signed 12-bit values sharing 0xE5: dig_H4 = 0xE4[7:0] 0xE5[3:0],
            // dig_H5 = 0xE6[7:0] 0xE5[7:4]; the high byte carries the sign.
            h4: (i16::from(h[3] as i8) << 4) | i16::from(h[4] & 0x0f),
            h5: (i16::from(h[5] as i8) << 4) | i16::from(h[4] >> 4),
            h6: h[6] as i8,
        }
    }

    /// t_fine from the 20-bit adc_T (datasheet 4.2.3, BME280_compensate_T_int32).
    /// 64-bit arithmetic gives the same results as the datasheet's 32-bit code for any
    /// real chip, and cannot overflow on garbage calibration.
    pub fn t_fine(&self, adc_t: u32) -> i64 {
        let adc = i64::from(adc_t);
        let t1 = i64::from(self.t1);
        let var1 = (((adc >> 3) - (t1 << 1)) * i64::from(self.t2)) >> 11;
        let d = (adc >> 4) - t1;
        let var2 = (((d * d) >> 12) * i64::from(self.t3)) >> 14;
        var1 + var2
    }

    /// °C from t_fine. The datasheet's int32 code rounds this to 0.01 °C,
    /// `(t_fine·5 + 128) >> 8`; dividing without that rounding keeps the chip's own
    /// resolution (0.005 °C at ×1) instead of adding 0.005 °C of rounding error.
    pub fn temperature_c(t_fine: i64) -> f64 {
        t_fine as f64 / 5120.0
    }

    /// Pa from the 20-bit adc_P (datasheet 4.2.3, BME280_compensate_P_int64, whose
    /// result is Pa in Q24.8). None when dig_P1 makes the divisor zero (a chip whose
    /// calibration reads as zeros). 128-bit arithmetic cannot overflow on garbage.
    pub fn pressure_pa(&self, adc_p: u32, t_fine: i64) -> Option<f64> {
        let mut var1 = i128::from(t_fine) - 128_000;
        let mut var2 = var1 * var1 * i128::from(self.p6);
        var2 += (var1 * i128::from(self.p5)) << 17;
        var2 += i128::from(self.p4) << 35;
        var1 = ((var1 * var1 * i128::from(self.p3)) >> 8) + ((var1 * i128::from(self.p2)) << 12);
        var1 = (((1i128 << 47) + var1) * i128::from(self.p1)) >> 33;
        if var1 == 0 {
            return None;
        }
        let mut p = 1_048_576 - i128::from(adc_p);
        p = (((p << 31) - var2) * 3125) / var1;
        let var1 = (i128::from(self.p9) * (p >> 13) * (p >> 13)) >> 25;
        let var2 = (i128::from(self.p8) * p) >> 19;
        p = ((p + var1 + var2) >> 8) + (i128::from(self.p7) << 4);
        Some(p as f64 / 256.0)
    }

    /// %RH from the 16-bit adc_H (datasheet 4.2.3, bme280_compensate_H_int32, whose
    /// result is %RH·1024, clamped to 0..100 %). Note that dig_H3 appears once, inside
    /// the dig_H6 term: Bosch's double-precision API code multiplies by
    /// `(1 + dig_H3·(t_fine − 76800)/2^26)` a second time, which the datasheet does not.
    pub fn humidity_pct(&self, adc_h: u16, t_fine: i64) -> f64 {
        // 128-bit: the same results as the datasheet's 32-bit code for any real chip,
        // and no overflow (a panic in a debug build) on garbage calibration.
        let v = i128::from(t_fine) - 76_800;
        let h1 = i128::from(self.h1);
        let h2 = i128::from(self.h2);
        let h3 = i128::from(self.h3);
        let h4 = i128::from(self.h4);
        let h5 = i128::from(self.h5);
        let h6 = i128::from(self.h6);
        let x = ((((i128::from(adc_h) << 14) - (h4 << 20) - (h5 * v)) + 16_384) >> 15)
            * (((((((v * h6) >> 10) * (((v * h3) >> 11) + 32_768)) >> 10) + 2_097_152) * h2
                + 8_192)
                >> 14);
        let x = x - (((((x >> 15) * (x >> 15)) >> 7) * h1) >> 4);
        let x = x.clamp(0, 419_430_400);
        (x >> 12) as f64 / 1024.0
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

    fn fault(&self, e: I2cError) -> SensorError {
        SensorError(format!("{}: {}", self.here(), bus_hint(e)))
    }

    fn read_regs(&mut self, reg: u8, buf: &mut [u8]) -> Result<(), SensorError> {
        self.bus
            .write_read(self.address, &[reg], buf)
            .map_err(|e| self.fault(e))
    }

    fn write_reg(&mut self, reg: u8, value: u8) -> Result<(), SensorError> {
        self.bus
            .write(self.address, &[reg, value])
            .map_err(|e| self.fault(e))
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
                return Err(InitError::WrongChip(SensorError(format!(
                    "{}: chip id is {other:#04x}, not 0x60 (BME280) or 0x58 (BMP280); \
                     is another device at this address?",
                    self.here()
                ))))
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
            return Err(SensorError(format!(
                "{}: still copying its calibration 12 ms after a reset",
                self.here()
            )));
        }
        let mut pt = [0u8; 26];
        self.read_regs(REG_CALIB_PT, &mut pt)?;
        let mut h = [0u8; 7];
        if part == Part::Bme280 {
            self.read_regs(REG_CALIB_H, &mut h)?;
        }
        let calibration = Calibration::from_registers(&pt, &h);
        if calibration.t1 == 0 || calibration.p1 == 0 {
            return Err(SensorError(format!(
                "{}: calibration reads as zeros (dig_T1 = {}, dig_P1 = {}): the chip is not answering properly",
                self.here(),
                calibration.t1,
                calibration.p1
            )));
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
            return Err(SensorError(format!(
                "{here}: still measuring {} ms after the datasheet's maximum of {:.1} ms",
                EXTRA_POLLS * POLL_US / 1000,
                f64::from(max_us) / 1000.0
            )));
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
            return Err(SensorError(format!(
                "{here}: the chip lost its settings during the measurement (a reset or brown-out); \
                 it is initialised again on the next read"
            )));
        }
        let t_fine = calibration.t_fine(adc_t);
        let temperature_c = Calibration::temperature_c(t_fine);
        let Some(pressure_pa) = calibration.pressure_pa(adc_p, t_fine) else {
            return Err(SensorError(format!(
                "{here}: pressure calibration is invalid (division by zero)"
            )));
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
            return Err(SensorError(format!("{}: not initialised", self.here())));
        };
        self.measure(calibration).inspect_err(|_| {
            // Whatever happened (unplugged, reset by a brown-out), start afresh next
            // time.
            self.calibration = None;
        })
    }
}

fn bus_hint(e: I2cError) -> String {
    match e {
        I2cError::NoAcknowledge => {
            "no acknowledge: the sensor is missing, unplugged or at the other address (0x76/0x77)"
                .into()
        }
        I2cError::Bus => "I2C bus error (check wiring and that i2c is enabled)".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The BMP280 datasheet's worked example (section 3.12), whose temperature and
    /// pressure calibration and formulas the BME280 shares.
    const EXAMPLE: Calibration = Calibration {
        t1: 27504,
        t2: 26435,
        t3: -1000,
        p1: 36477,
        p2: -10685,
        p3: 3024,
        p4: 2855,
        p5: 140,
        p6: -7,
        p7: 15500,
        p8: -14600,
        p9: 6000,
        h1: 75,
        h2: 362,
        h3: 0,
        h4: 313,
        h5: 50,
        h6: 30,
    };

    #[test]
    fn datasheet_worked_example_in_integers() {
        let t_fine = EXAMPLE.t_fine(519_888);
        assert_eq!(t_fine, 128_422);
        // The datasheet's int32 result, 2508 (25.08 °C).
        assert_eq!((t_fine * 5 + 128) >> 8, 2508);
        let p = EXAMPLE.pressure_pa(415_148, t_fine).expect("pressure");
        // The int64 code gives 100653.27 Pa for the example.
        assert!((p - 100_653.27).abs() < 0.02, "{p}");
    }

    #[test]
    fn maximum_measurement_times_follow_the_datasheet() {
        // Datasheet 9.1: weather monitoring 9.3 ms max; ×16 everything 112.8 ms.
        assert_eq!(Settings::WEATHER_MONITORING.max_measurement_us(true), 9_300);
        let all16 = Settings {
            oversampling_temperature: 16,
            oversampling_pressure: 16,
            oversampling_humidity: 16,
            iir_filter_coefficient: 16,
        };
        assert_eq!(all16.max_measurement_us(true), 112_800);
        // The bme280 crate's settings (×2 T, ×16 P, ×1 H): 46.1 ms, longer than the
        // 40 ms it waited.
        let old = Settings {
            oversampling_temperature: 2,
            oversampling_pressure: 16,
            oversampling_humidity: 1,
            iir_filter_coefficient: 16,
        };
        assert_eq!(old.max_measurement_us(true), 46_100);
        assert_eq!(
            Settings::WEATHER_MONITORING.max_measurement_us(false),
            6_425
        );
    }

    #[test]
    fn register_values_for_the_settings() {
        let w = Settings::WEATHER_MONITORING;
        assert_eq!(
            (w.ctrl_meas(), w.ctrl_hum(), w.config()),
            (0x24, 0x01, 0x00)
        );
        let old = Settings {
            oversampling_temperature: 2,
            oversampling_pressure: 16,
            oversampling_humidity: 1,
            iir_filter_coefficient: 16,
        };
        // The crate's init(): ctrl_meas 0x54, config 0x10.
        assert_eq!((old.ctrl_meas(), old.config()), (0x54, 0x10));
    }

    #[test]
    fn calibration_unpacks_the_shared_h4_h5_nibbles() {
        // dig_H4 = -300 (0xED4), dig_H5 = 1234 (0x4D2): 0xE4 = 0xED, 0xE5 = 0x24, 0xE6 = 0x4D.
        let h = [0x6a, 0x01, 0x28, 0xed, 0x24, 0x4d, 0x1e];
        let c = Calibration::from_registers(&[1; 26], &h);
        assert_eq!((c.h2, c.h3, c.h4, c.h5, c.h6), (362, 40, -300, 1234, 30));
    }

    #[test]
    fn humidity_integer_formula_equals_the_datasheet_double_formula() {
        // The datasheet's double code, with dig_H3 inside the dig_H6 term only.
        let double = |c: &Calibration, adc_h: f64, t_fine: f64| {
            let v = t_fine - 76800.0;
            let v = (adc_h - (f64::from(c.h4) * 64.0 + f64::from(c.h5) / 16384.0 * v))
                * (f64::from(c.h2) / 65536.0
                    * (1.0
                        + f64::from(c.h6) / 67108864.0
                            * v
                            * (1.0 + f64::from(c.h3) / 67108864.0 * v)));
            (v * (1.0 - f64::from(c.h1) * v / 524288.0)).clamp(0.0, 100.0)
        };
        for h3 in [0u8, 40, 255] {
            let c = Calibration { h3, ..EXAMPLE };
            for t_fine in [-20_480i64, 51_200, 128_000, 204_800] {
                for adc_h in (20_000u16..40_000).step_by(997) {
                    let i = c.humidity_pct(adc_h, t_fine);
                    let d = double(&c, f64::from(adc_h), t_fine as f64);
                    assert!(
                        (i - d).abs() < 0.01,
                        "h3 {h3} t_fine {t_fine} adc {adc_h}: {i} vs {d}"
                    );
                }
            }
        }
    }

    #[test]
    fn garbage_calibration_does_not_panic() {
        let c = Calibration::from_registers(&[0xff; 26], &[0xff; 7]);
        for adc in [0u32, 0x7ffff, 0xfffff] {
            let t_fine = c.t_fine(adc);
            let _ = c.pressure_pa(adc, t_fine);
            let _ = c.humidity_pct(0xffff, t_fine);
        }
        let zero = Calibration::from_registers(&[0; 26], &[0; 7]);
        assert_eq!(zero.pressure_pa(415_148, 0), None);
    }
}
