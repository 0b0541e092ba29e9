//! The driver API: what a sensor driver is, and the one registry that names them.
//!
//! A driver is one of two shapes:
//! - a **polled** sensor ([`PolledSensor`]) is asked once per sample tick and returns
//!   readings (BME280, DS18B20, wind vane, light sensors);
//! - a **pulse** input ([`PulseInput`]) is a GPIO edge source whose falling edges are
//!   debounced and counted (anemometer, rain gauge).
//!
//! Drivers turn hardware bytes into typed readings; they know nothing of SQLite,
//! tokio or uploads. Config errors are found at load, by the driver's own
//! [`SensorKind::check`] and by one generic pass over the [`Claim`]s every sensor
//! makes; read errors are returned from `read` and become faults for that sensor only.
//!
//! A sensor type is one module here: its config struct (keys, defaults, docs), its
//! checks, the hardware it claims, its quantities, how it is built from a
//! [`Backend`] and what it sets up on the simulated hardware, all through
//! [`SensorKind`]; plus one line in [`sensor_registry!`] below.

pub mod analog;
pub mod anemometer;
pub mod bh1750;
pub mod bme280;
pub mod ds18b20;
pub mod rain_gauge;
pub mod sht31;
pub mod wind_vane;

#[cfg(test)]
mod error_tests;

use crate::config::path::KeyPath;
use crate::config::validate::Validator;
use crate::config::Config;
use crate::hw::{Backend, EdgeSource, I2cBus};
use crate::observation::{Aggregation, Quantity, Reading};
use crate::probe::Finding;
use crate::pulse::Debouncer;
use crate::sim::SimHardware;
use std::sync::Arc;

/// What a sensor type's module provides, implemented by its config struct.
pub(crate) trait SensorKind {
    /// The quantities a sensor of this config reports (all of them become NULL on a
    /// failed read).
    fn quantities(&self) -> Vec<Quantity>;
    /// The keys conflict messages about the quantities point at, one per quantity
    /// in `quantities` order (the last serves the rest): `type` when the type
    /// implies them, else the key that names each.
    const QUANTITY_KEYS: &'static [&'static str] = &["type"];
    /// How `quantity` (one of `quantities`) folds over an interval, an hour and a day.
    /// The default suits most sensors: an extra quantity gets mean, lowest and
    /// highest; a standard one its column's fold (and the config check refuses any
    /// other for a standard quantity). Override it for an extra that is a total, a
    /// direction or a reading to keep as it was last ([`Aggregation`]).
    fn aggregation(&self, quantity: &Quantity) -> Aggregation {
        quantity.default_aggregation()
    }
    /// This type's table as `weatherd.example.toml` shows it (active, or commented
    /// out with `#   ` for an optional add-on), with the example's values: the key
    /// lines only, comments stay in the example. A test holds the two together.
    const EXAMPLE: &'static str;
    /// Checks this sensor's own values (ranges, addresses the chip can answer at),
    /// reporting every problem under `at` (`sensors.NAME`).
    fn check(&self, at: &KeyPath, v: &mut Validator<'_>);
    /// The hardware this sensor takes, as data; conflicts between sensors are found
    /// from these by one generic pass (`config::validate`), never by per-type code.
    fn claims(&self) -> Vec<Claim>;
    /// Builds the driver on real or simulated hardware. Only opening the hardware
    /// should fail here; a chip that is missing is a fault at read time.
    fn build(&self, hw: &dyn Backend) -> Result<Driver, SensorError>;
    /// Sets the simulated station up for this sensor (`run --simulate`): the default
    /// does nothing, for sensors the simulator serves whatever the config says.
    fn simulate(&self, _hw: &SimHardware) {}
    /// What `weatherd probe` reports about this type on the header's I2C bus (asked
    /// without a config, so at the addresses the chip can have); none by default.
    fn probe_i2c(_bus: &mut I2cBus, _bus_name: &str) -> Vec<Finding>
    where
        Self: Sized,
    {
        Vec::new()
    }
}

/// A piece of hardware a sensor takes. Keys are the config keys (inside the sensor's
/// table) that chose it, so a conflict names them.
#[derive(Clone, Debug, PartialEq)]
pub enum Claim {
    /// A GPIO line (BCM number) of its own. `one_wire`: it is a 1-Wire bus pin,
    /// which other 1-Wire claims may share.
    Gpio {
        key: &'static str,
        pin: u8,
        one_wire: bool,
    },
    /// A device at `address` on I2C bus `bus`: the address is taken on that bus, and
    /// the bus's SDA and SCL lines are taken as GPIO lines.
    I2c {
        bus_key: &'static str,
        bus: String,
        address_key: &'static str,
        address: u8,
    },
    /// A channel of the MCP3008 on SPI device `spi`: the channel is taken, and the
    /// bus's lines and chip select are taken as GPIO lines.
    SpiAdc {
        spi_key: &'static str,
        spi: String,
        channel_key: &'static str,
        channel: u8,
    },
    /// A probe on the 1-Wire bus by id (empty: the first found); with more than one
    /// probe, each needs an id of its own.
    OneWireProbe { key: &'static str, id: String },
    /// At most one sensor of this kind per station (the archive has one column for
    /// it); `kind` names it in the message, which points at `type`.
    OnePerStation { kind: &'static str },
}

impl Claim {
    /// The GPIO lines (BCM number, what the line is) a bus claim takes, with the key
    /// that chose the bus. Only the header's own buses are known: a USB adapter's
    /// `/dev/i2c-N` or another SPI controller takes no header pins we know of.
    pub fn bus_pins(&self) -> Option<(&'static str, Vec<(u8, String)>)> {
        match self {
            Claim::I2c { bus_key, bus, .. } if bus == "/dev/i2c-1" => Some((
                bus_key,
                [(2, "SDA"), (3, "SCL")]
                    .into_iter()
                    .map(|(pin, line)| (pin, format!("I2C bus 1's {line} line")))
                    .collect(),
            )),
            Claim::SpiAdc { spi_key, spi, .. } if spi.starts_with("/dev/spidev0.") => {
                let mut pins = vec![(9, "MISO"), (10, "MOSI"), (11, "SCLK")];
                match spi.as_str() {
                    "/dev/spidev0.0" => pins.push((8, "CE0")),
                    "/dev/spidev0.1" => pins.push((7, "CE1")),
                    _ => {}
                }
                Some((
                    spi_key,
                    pins.into_iter()
                        .map(|(pin, line)| (pin, format!("SPI0's {line} line")))
                        .collect(),
                ))
            }
            // Named, not `_`: a new kind of claim must decide whether it takes
            // header pins.
            Claim::I2c { .. }
            | Claim::SpiAdc { .. }
            | Claim::Gpio { .. }
            | Claim::OneWireProbe { .. }
            | Claim::OnePerStation { .. } => None,
        }
    }
}

/// The registry: one line per sensor type, `Variant("type") => module::ConfigStruct`.
/// From it come the `SensorConfig` enum (the `[sensors.NAME]` table), the list of
/// `type` values, the parse dispatch and every per-type `match` below.
///
/// A `macro_rules!` registry rather than a table of trait objects because the config
/// must stay a plain enum: serde renders it for `check-config`, `Config` derives
/// `Clone`/`PartialEq`, and code and tests match on its variants; the macro writes
/// the exhaustive `match`es, so a type added here cannot be half-registered.
macro_rules! sensor_registry {
    ($($variant:ident($type:literal) => $module:ident :: $config:ident,)+) => {
        /// One sensor table. `type` picks the driver; the other keys are its parameters.
        #[derive(Clone, Debug, serde::Serialize, serde::Deserialize, PartialEq)]
        #[serde(tag = "type", rename_all = "snake_case")]
        pub enum SensorConfig {
            $($variant($module::$config),)+
        }

        impl SensorConfig {
            /// Every value `type` may take, in the order error messages list them.
            pub const TYPES: &'static [&'static str] = &[$($type),+];

            /// Each type's example table (`type`, TOML), from its module.
            pub const EXAMPLES: &'static [(&'static str, &'static str)] =
                &[$(($type, <$module::$config as SensorKind>::EXAMPLE)),+];

            /// The `type` value of this sensor.
            pub fn type_name(&self) -> &'static str {
                match self {
                    $(SensorConfig::$variant(_) => $type,)+
                }
            }

            /// Reads a sensor table (without its `type` key) as the struct `type`
            /// names; `None` for an unknown type.
            pub(crate) fn parse_as(
                type_name: &str,
                rest: toml::Value,
                path: &KeyPath,
            ) -> Option<Result<SensorConfig, crate::config::parse::Problem>> {
                match type_name {
                    $($type => Some(
                        crate::config::parse::deserialize(rest, path).map(SensorConfig::$variant),
                    ),)+
                    _ => None,
                }
            }

            /// Every registered type's [`SensorKind::probe_i2c`] findings, in registry order.
            pub(crate) fn probe_i2c_all(bus: &mut I2cBus, bus_name: &str) -> Vec<Finding> {
                let mut findings = Vec::new();
                $(findings.extend(<$module::$config as SensorKind>::probe_i2c(bus, bus_name));)+
                findings
            }

            fn kind(&self) -> &dyn SensorKindObject {
                match self {
                    $(SensorConfig::$variant(c) => c,)+
                }
            }
        }
    };
}

sensor_registry! {
    Bme280("bme280") => bme280::Bme280Config,
    Ds18b20("ds18b20") => ds18b20::Ds18b20Config,
    WindVane("wind_vane") => wind_vane::WindVaneConfig,
    Anemometer("anemometer") => anemometer::AnemometerConfig,
    RainGauge("rain_gauge") => rain_gauge::RainGaugeConfig,
    Bh1750("bh1750") => bh1750::Bh1750Config,
    Sht31("sht31") => sht31::Sht31Config,
    Analog("analog") => analog::AnalogConfig,
}

/// [`SensorKind`] without its associated constant, so the registry can hand any
/// sensor's config out as one trait object.
trait SensorKindObject {
    fn quantities(&self) -> Vec<Quantity>;
    fn quantity_key(&self, index: usize) -> &'static str;
    fn aggregation(&self, quantity: &Quantity) -> Aggregation;
    fn check(&self, at: &KeyPath, v: &mut Validator<'_>);
    fn claims(&self) -> Vec<Claim>;
    fn build(&self, hw: &dyn Backend) -> Result<Driver, SensorError>;
    fn simulate(&self, hw: &SimHardware);
}

impl<T: SensorKind> SensorKindObject for T {
    fn quantities(&self) -> Vec<Quantity> {
        SensorKind::quantities(self)
    }
    fn quantity_key(&self, index: usize) -> &'static str {
        let keys = T::QUANTITY_KEYS;
        keys.get(index).or(keys.last()).copied().unwrap_or("type")
    }
    fn aggregation(&self, quantity: &Quantity) -> Aggregation {
        SensorKind::aggregation(self, quantity)
    }
    fn check(&self, at: &KeyPath, v: &mut Validator<'_>) {
        SensorKind::check(self, at, v)
    }
    fn claims(&self) -> Vec<Claim> {
        SensorKind::claims(self)
    }
    fn build(&self, hw: &dyn Backend) -> Result<Driver, SensorError> {
        SensorKind::build(self, hw)
    }
    fn simulate(&self, hw: &SimHardware) {
        SensorKind::simulate(self, hw)
    }
}

impl SensorConfig {
    /// The quantities a sensor of this config reports.
    pub fn quantities(&self) -> Vec<Quantity> {
        self.kind().quantities()
    }
    /// The key inside the sensor's table that decides its `index`th quantity.
    pub(crate) fn quantity_key(&self, index: usize) -> &'static str {
        self.kind().quantity_key(index)
    }
    /// How this sensor's `quantity` folds over an interval, an hour and a day.
    pub fn aggregation(&self, quantity: &Quantity) -> Aggregation {
        self.kind().aggregation(quantity)
    }
    /// The hardware this sensor takes.
    pub fn claims(&self) -> Vec<Claim> {
        self.kind().claims()
    }
    pub(crate) fn check(&self, at: &KeyPath, v: &mut Validator<'_>) {
        self.kind().check(at, v)
    }
    /// Sets the simulated hardware up for this sensor.
    pub fn simulate(&self, hw: &SimHardware) {
        self.kind().simulate(hw)
    }
}

/// A sensor that could not be set up or read. Each variant names what went wrong; its
/// `Display` (stored with the fault, shown by `weatherd status`) tells the operator the
/// fix, as rppal's errors do. `sensor` names the part and where it sits
/// ("BME280 at 0x76 on /dev/i2c-1").
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum SensorError {
    /// Opening the bus, pin or ADC failed before the sensor was involved.
    #[error(transparent)]
    Hw(#[from] crate::hw::HwError),
    /// The hardware failed while this sensor used it.
    #[error("{sensor}: {error}")]
    Device {
        sensor: String,
        error: crate::hw::HwError,
    },
    /// Nobody acknowledged the sensor's I2C address.
    #[error(
        "{sensor}: no answer while {doing} (no acknowledge); the sensor is unplugged or at the \
         other address ({addresses}): check the wiring, and `i2cdetect -y N` for /dev/i2c-N"
    )]
    NoAnswer {
        sensor: String,
        doing: String,
        addresses: &'static str,
    },
    /// Any other I2C failure (arbitration, timeout, the device file went away).
    #[error(
        "{sensor}: I2C error while {doing}: {detail}; check the wiring and pull-ups, and that \
         I2C is enabled (`dtparam=i2c_arm=on`)"
    )]
    I2c {
        sensor: String,
        doing: String,
        detail: String,
    },
    /// A word arrived with the wrong checksum.
    #[error(
        "{sensor}: the {what} word failed its CRC check (received {received:#04x}, computed \
         {computed:#04x}); the bus is noisy or too long, check the wiring and pull-ups"
    )]
    Crc {
        sensor: String,
        what: String,
        received: u8,
        computed: u8,
    },
    /// Another kind of chip answers at the configured address.
    #[error(
        "{sensor}: chip id is {found:#04x}, not {expected}; is another device at this address? \
         check `address` in the config against `i2cdetect`"
    )]
    WrongChip {
        sensor: String,
        found: u8,
        expected: &'static str,
    },
    /// A driver setting in the config has a value the part cannot do.
    #[error("{sensor} `{key}` must be {allowed}, found {found}; fix it in the config")]
    Setting {
        sensor: &'static str,
        key: &'static str,
        allowed: &'static str,
        found: u8,
    },
    /// The part answers but behaves out of its specification.
    #[error("{sensor}: {problem}; {fix}")]
    Misbehaving {
        sensor: String,
        problem: String,
        fix: &'static str,
    },
    /// A light sensor at the top of its range.
    #[error(
        "{sensor}: saturated (more than {limit_lx:.0} lx); shade the sensor or put a diffuser \
         over it"
    )]
    Saturated { sensor: String, limit_lx: f64 },
    /// No DS18B20 on the 1-Wire bus to pick.
    #[error(
        "no DS18B20 (28-*) under {root}: check the probe's wiring and its 4.7 kΩ pull-up, or set \
         `id` in the config"
    )]
    NoProbe { root: String },
    /// A DS18B20's `w1_slave` text is not a temperature (`attempts` when retries ran out).
    #[error("DS18B20 {id}: {error}{}", attempts.map(|n| format!(" ({n} attempts)")).unwrap_or_default())]
    Probe {
        id: String,
        error: ds18b20::W1Error,
        attempts: Option<usize>,
    },
    /// Most vane reads fall between the table's directions.
    #[error(
        "{bad} of {reads} wind vane ADC counts match no direction ({counts}); check the vane \
         cable, the divider resistor (divider_ohm) and the vane table"
    )]
    VaneUnmatched {
        bad: usize,
        reads: u32,
        counts: String,
    },
    /// The valid vane reads average to no direction.
    #[error(
        "the {valid} valid wind vane reads point in opposite directions and cancel out; check \
         that the vane turns freely and is not stuck between two contacts"
    )]
    VaneCancelled { valid: usize },
    /// A fault a test double injects.
    #[error("{sensor}: {detail} (injected fault; on real hardware check the wiring)")]
    Injected { sensor: String, detail: String },
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
pub(crate) struct Registered {
    pub name: Arc<str>,
    pub driver: Driver,
}

/// Builds every sensor in the config. A sensor whose hardware cannot be opened is
/// still registered, as a driver that reports that error as a fault on every read, so
/// a broken sensor degrades that sensor only.
pub(crate) fn build_all(config: &Config, hw: &dyn Backend) -> Vec<Registered> {
    config
        .sensors
        .iter()
        .map(|(name, sc)| Registered {
            name: Arc::from(name.as_str()),
            driver: build(name, sc, config, hw),
        })
        .collect()
}

/// Builds one sensor through its type's [`SensorKind::build`].
pub fn build(name: &str, sc: &SensorConfig, config: &Config, hw: &dyn Backend) -> Driver {
    let built = sc.kind().build(hw);
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

/// What every sensor type finds on the I2C bus `bus_name`, for `weatherd probe`.
pub(crate) fn probe_i2c(bus: &mut I2cBus, bus_name: &str) -> Vec<Finding> {
    SensorConfig::probe_i2c_all(bus, bus_name)
}

/// The I2C bus an I2C sensor is on unless its `bus` says otherwise: the header's.
pub(crate) fn default_i2c_bus() -> String {
    "/dev/i2c-1".into()
}
