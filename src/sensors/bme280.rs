//! BME280 (temperature, humidity, pressure) over I2C, through the `bme280` crate.
//! A BMP280 (chip id 0x58) is accepted and reported as such: it has no humidity.
//!
//! The chip id is checked before the crate sees the chip, so an operator learns what
//! actually answered (the crate only says "unsupported chip"). After any failed read
//! the driver forgets the chip and starts again (id, reset, calibration) on the next
//! read: a breakout that was unplugged and plugged back in, which loses its settings
//! with its power, recovers without restarting the daemon.

use super::{Driver, PolledSensor, SensorError};
use crate::config::Bme280Config;
use crate::hw::{Backend, I2cBus, I2cError};
use crate::observation::{Quantity, Reading};
use bme280::i2c::BME280;
use embedded_hal::delay::DelayNs;
use embedded_hal::i2c::{ErrorType, I2c, Operation};
use std::sync::{Arc, Mutex};

const REG_CHIP_ID: u8 = 0xD0;
const REG_CTRL_MEAS: u8 = 0xF4;
const CHIP_ID_BME280: u8 = 0x60;
const CHIP_ID_BMP280: u8 = 0x58;

pub fn build(c: &Bme280Config, hw: &dyn Backend) -> Result<Driver, SensorError> {
    let bus = hw.i2c(&c.bus)?;
    let mut sensor = Bme280Sensor::new(bus, c.bus.clone(), c.address, hw.delay());
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

/// The bus, shared between the crate's driver (which takes ownership of what it is
/// given and has no way to hand it back) and our own chip-id reads.
#[derive(Clone)]
struct SharedBus(Arc<Mutex<I2cBus>>);

impl ErrorType for SharedBus {
    type Error = I2cError;
}

impl I2c for SharedBus {
    fn transaction(
        &mut self,
        address: u8,
        operations: &mut [Operation<'_>],
    ) -> Result<(), I2cError> {
        // Only this driver's thread uses the bus; a poisoned lock still holds a usable
        // bus handle.
        let mut bus = self.0.lock().unwrap_or_else(|e| e.into_inner());
        bus.transaction(address, operations)
    }
}

pub struct Bme280Sensor {
    bus: SharedBus,
    bus_name: String,
    address: u8,
    delay: Box<dyn DelayNs + Send>,
    /// The initialised crate driver; `None` until the chip answers, and again after a
    /// failed read.
    device: Option<BME280<SharedBus>>,
    /// The part seen at the last successful initialisation (BME280 until then).
    part: Part,
}

impl Bme280Sensor {
    pub fn new(
        bus: I2cBus,
        bus_name: String,
        address: u8,
        delay: Box<dyn DelayNs + Send>,
    ) -> Bme280Sensor {
        Bme280Sensor {
            bus: SharedBus(Arc::new(Mutex::new(bus))),
            bus_name,
            address,
            delay,
            device: None,
            part: Part::Bme280,
        }
    }

    pub fn part(&self) -> Part {
        self.part
    }

    fn here(&self) -> String {
        format!("BME280 at {:#04x} on {}", self.address, self.bus_name)
    }

    fn init(&mut self) -> Result<(), InitError> {
        let mut id = [0u8];
        self.bus
            .write_read(self.address, &[REG_CHIP_ID], &mut id)
            .map_err(|e| {
                InitError::Bus(SensorError(format!("{}: {}", self.here(), bus_hint(e))))
            })?;
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
        let mut device = match self.address {
            0x76 => BME280::new_primary(self.bus.clone()),
            0x77 => BME280::new_secondary(self.bus.clone()),
            other => BME280::new(self.bus.clone(), other),
        };
        device.init(&mut &mut *self.delay).map_err(|e| {
            InitError::Bus(SensorError(format!(
                "{}: initialising: {}",
                self.here(),
                describe(e)
            )))
        })?;
        self.part = part;
        self.device = Some(device);
        Ok(())
    }
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
        if self.device.is_some() {
            // A chip that lost power between two reads (a loose connector, a
            // brown-out) answers again but has forgotten its oversampling settings and
            // would report a skipped measurement as a value. Its ctrl_meas register
            // tells: initialisation never leaves both oversampling fields at zero.
            let mut ctrl_meas = [0u8];
            if let Err(e) = self
                .bus
                .write_read(self.address, &[REG_CTRL_MEAS], &mut ctrl_meas)
            {
                self.device = None;
                return Err(SensorError(format!("{}: {}", self.here(), bus_hint(e))));
            }
            if ctrl_meas[0] & 0xFC == 0 {
                tracing::info!("{}: the chip was reset; initialising it again", self.here());
                self.device = None;
            }
        }
        if self.device.is_none() {
            self.init()
                .map_err(|(InitError::WrongChip(e) | InitError::Bus(e))| e)?;
        }
        let here = self.here();
        let Some(device) = self.device.as_mut() else {
            return Err(SensorError(format!("{here}: not initialised")));
        };
        let m = match device.measure(&mut &mut *self.delay) {
            Ok(m) => m,
            Err(e) => {
                // Whatever happened (unplugged, reset by a brown-out), start afresh
                // next time.
                self.device = None;
                return Err(SensorError(format!("{here}: {}", describe(e))));
            }
        };
        let temperature_c = f64::from(m.temperature);
        let pressure_hpa = f64::from(m.pressure) / 100.0;
        if !temperature_c.is_finite() || !pressure_hpa.is_finite() {
            return Err(SensorError(format!("{here}: measurement is not a number")));
        }
        let mut out = vec![Reading::new(Quantity::TemperatureC, temperature_c)];
        if self.part == Part::Bme280 {
            out.push(Reading::new(Quantity::HumidityPct, f64::from(m.humidity)));
        }
        out.push(Reading::new(Quantity::PressureHpa, pressure_hpa));
        Ok(out)
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

fn describe(e: bme280::Error<I2cError>) -> String {
    match e {
        bme280::Error::Bus(b) => bus_hint(b),
        bme280::Error::CompensationFailed => "compensation failed".into(),
        bme280::Error::InvalidData => "invalid data from the chip".into(),
        bme280::Error::NoCalibrationData => "no calibration data read".into(),
        bme280::Error::UnsupportedChip => "unsupported chip id".into(),
        bme280::Error::Delay => "delay failed".into(),
    }
}
