//! The driver API: what a sensor driver is, and the one `match` that registers them.
//!
//! A driver is one of two shapes:
//! - a **polled** sensor ([`PolledSensor`]) is asked once per sample tick and returns
//!   readings (BME280, DS18B20, wind vane, light sensors);
//! - a **pulse** input ([`PulseInput`]) is a GPIO edge source whose falling edges are
//!   debounced and counted (anemometer, rain gauge).
//!
//! Drivers turn hardware bytes into typed readings; they know nothing of SQLite,
//! tokio or uploads. Config errors are returned from `build` at start-up with the key
//! path; read errors are returned from `read` and become faults for that sensor only.

pub mod anemometer;
pub mod bme280;
pub mod ds18b20;
pub mod rain_gauge;
pub mod wind_vane;

use crate::config::{Config, SensorConfig};
use crate::hw::{Backend, EdgeSource};
use crate::observation::{Quantity, Reading};
use crate::pulse::Debouncer;
use std::sync::Arc;

/// A read that failed; the message names what is wrong (it is stored with the fault).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{0}")]
pub struct SensorError(pub String);

impl From<crate::hw::HwError> for SensorError {
    fn from(e: crate::hw::HwError) -> Self {
        SensorError(e.0)
    }
}

/// A sensor asked once per sample tick.
pub trait PolledSensor: Send {
    /// The quantities this sensor reports (all of them become NULL on a failed read).
    fn quantities(&self) -> Vec<Quantity>;
    /// Reads the sensor now. May block on bus I/O (it runs on a blocking thread with a
    /// timeout, unless the driver is registered as in-memory).
    fn read(&mut self) -> Result<Vec<Reading>, SensorError>;
}

/// What a pulse input counts.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum PulseKind {
    Wind { kmh_per_hz: f64 },
    Rain { mm_per_tip: f64 },
}

/// An edge source plus its lock-out debounce.
pub struct PulseInput {
    pub kind: PulseKind,
    pub source: Box<dyn EdgeSource>,
    pub debouncer: Debouncer,
}

pub enum Driver {
    Polled {
        sensor: Box<dyn PolledSensor>,
        /// True when `read` does bus I/O and must run on a blocking thread with a
        /// timeout; false for in-memory drivers (the simulator), which run inline so a
        /// year can be replayed in seconds.
        blocking: bool,
    },
    Pulse(PulseInput),
}

/// A configured sensor, ready to sample.
pub struct Registered {
    pub name: Arc<str>,
    pub driver: Driver,
}

/// Builds every sensor in the config. A sensor whose hardware cannot be opened is
/// still registered, as a driver that reports that error as a fault on every read, so
/// a broken sensor degrades that sensor only.
pub fn build_all(config: &Config, hw: &dyn Backend) -> Vec<Registered> {
    config
        .sensors
        .iter()
        .map(|(name, sc)| Registered {
            name: Arc::from(name.as_str()),
            driver: build(name, sc, config, hw),
        })
        .collect()
}

/// The registration `match`: one line per driver type.
pub fn build(name: &str, sc: &SensorConfig, config: &Config, hw: &dyn Backend) -> Driver {
    let built = match sc {
        SensorConfig::Anemometer(c) => anemometer::build(c, hw),
        SensorConfig::RainGauge(c) => rain_gauge::build(c, hw),
        SensorConfig::WindVane(c) => wind_vane::build(c, hw),
        SensorConfig::Bme280(c) => bme280::build(c, hw),
        SensorConfig::Ds18b20(c) => ds18b20::build(c, hw),
    };
    let _ = config;
    built.unwrap_or_else(|e| {
        tracing::warn!(sensor = name, "cannot open sensor: {e}");
        Driver::Polled {
            sensor: Box::new(Broken {
                quantities: sc.quantities(),
                error: e,
            }),
            blocking: false,
        }
    })
}

impl SensorConfig {
    /// The quantities a sensor of this config reports.
    pub fn quantities(&self) -> Vec<Quantity> {
        match self {
            SensorConfig::Bme280(_) => vec![
                Quantity::TemperatureC,
                Quantity::HumidityPct,
                Quantity::PressureHpa,
            ],
            SensorConfig::Ds18b20(c) => vec![Quantity::from_name(&c.quantity)],
            SensorConfig::WindVane(_) => vec![Quantity::WindDirDeg],
            SensorConfig::Anemometer(_) => vec![Quantity::WindSpeedKmh],
            SensorConfig::RainGauge(_) => vec![Quantity::RainMm],
        }
    }
}

/// A sensor that could not be opened: every read reports why.
struct Broken {
    quantities: Vec<Quantity>,
    error: SensorError,
}

impl PolledSensor for Broken {
    fn quantities(&self) -> Vec<Quantity> {
        self.quantities.clone()
    }
    fn read(&mut self) -> Result<Vec<Reading>, SensorError> {
        Err(self.error.clone())
    }
}
