//! A generic analog input: one channel of the MCP3008 10-bit ADC on SPI (the wind
//! vane's chip, `hw::spi`), scaled linearly to a quantity the config names, folded the
//! way the config says (`aggregate`).
//!
//! | step | what |
//! |---|---|
//! | one conversion | the MCP3008's 3-byte transfer (`hw::spi::Mcp3008`), count 0..=1023 |
//! | per sample tick | `samples` conversions, back to back (no wait: the chip converts in ~30 µs) |
//! | scale | `value = value_at_zero + (value_at_full − value_at_zero) · count / 1023` |
//!
//! The counts of one tick are averaged before scaling (the same as averaging the
//! scaled values, the scale being linear), except for `aggregate = "vector"`: there
//! each conversion is scaled to degrees and the tick's value is the mean of their
//! unit vectors. A potentiometer vane reads near count 0 and near count 1023 when it
//! points north, and the plain mean of 2° and 358° would be 180°, south.
//!
//! A count of 0 or 1023 is a value like any other (a flat battery, a dry soil probe):
//! the driver does not guess whether a sensor is stuck. Only a failed conversion is a
//! fault, for this sensor only.
//!
//! The quantity's fold (`aggregate`) is what [`SensorKind::aggregation`] declares for
//! it; the config check refuses a standard quantity (`temperature_c`, ...) folded
//! another way than its archive column.

use super::{Claim, Driver, PolledSensor, SensorError, SensorKind};
use crate::config::path::KeyPath;
use crate::config::validate::Validator;
use crate::hw::{AdcChannel, Backend, HwError};
use crate::meteo::VectorSum;
use crate::observation::{Aggregation, Quantity, Reading};
use crate::sim::noise::hash;
use crate::sim::weather::Weather;
use crate::sim::{SimHardware, SimTime};
use crate::time::Timestamp;
use std::sync::Arc;

/// The MCP3008's highest count (10 bits).
pub const FULL_COUNT: u16 = 1023;

/// `[sensors.NAME]` with `type = "analog"`.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct AnalogConfig {
    /// The SPI device file of the MCP3008.
    #[serde(default = "defaults::spi")]
    pub spi: String,
    /// The MCP3008 input (0..=7) the signal is wired to; no default, as the vane
    /// usually has channel 0.
    pub channel: u8,
    /// The quantity reported: snake_case ending in its unit (`battery_v`,
    /// `soil_moisture_pct`, `wind_dir_2_deg`).
    pub quantity: String,
    /// The value at count 0 (0 V at the input), in the quantity's unit.
    pub value_at_zero: f64,
    /// The value at count 1023 (the reference voltage at the input), in the
    /// quantity's unit.
    pub value_at_full: f64,
    /// How the quantity folds over an archive interval, an hour and a day.
    #[serde(default)]
    pub aggregate: Aggregation,
    /// Conversions averaged per sample tick, 1..=64.
    #[serde(default = "defaults::samples")]
    pub samples: u32,
}

pub mod defaults {
    pub fn spi() -> String {
        "/dev/spidev0.0".into()
    }
    pub fn samples() -> u32 {
        4
    }
}

/// The most conversions per tick: 64 take a few milliseconds at 1 MHz and average
/// the MCP3008's count or two of noise well below a count.
pub const MAX_SAMPLES: u32 = 64;

impl SensorKind for AnalogConfig {
    const EXAMPLE: &'static str = r#"
[sensors.battery]
type = "analog"
spi = "/dev/spidev0.0"
channel = 1
quantity = "battery_v"
value_at_zero = 0.0
value_at_full = 16.5
aggregate = "last"
samples = 4
"#;

    fn quantities(&self) -> Vec<Quantity> {
        vec![Quantity::from_name(&self.quantity)]
    }

    const QUANTITY_KEYS: &'static [&'static str] = &["quantity"];

    /// The configured `aggregate` for its own quantity; the default for any other.
    fn aggregation(&self, quantity: &Quantity) -> Aggregation {
        if quantity.name() == self.quantity {
            self.aggregate
        } else {
            quantity.default_aggregation()
        }
    }

    fn check(&self, path: &KeyPath, v: &mut Validator<'_>) {
        v.not_empty(
            path.key("spi"),
            &self.spi,
            "it is the MCP3008's SPI device file, e.g. \"/dev/spidev0.0\"",
        );
        if self.channel > 7 {
            v.push(
                path.key("channel"),
                format!(
                    "must be an MCP3008 channel from 0 to 7, found {}; it is the CHn pin the signal is wired to",
                    self.channel
                ),
            );
        }
        let named = v.quantity_name(path.key("quantity"), &self.quantity);
        let zero_ok = v.finite(&path.key("value_at_zero"), self.value_at_zero);
        let full_ok = v.finite(&path.key("value_at_full"), self.value_at_full);
        if zero_ok && full_ok && self.value_at_zero == self.value_at_full {
            v.push(
                path.key("value_at_full"),
                format!(
                    "must differ from value_at_zero (both are {}), or every count reads the same value; \
                     set them to the values at 0 V and at the reference voltage",
                    self.value_at_full
                ),
            );
        }
        if self.aggregate == Aggregation::Vector {
            if named && !self.quantity.ends_with("_deg") {
                v.push(
                    path.key("aggregate"),
                    format!(
                        "\"vector\" averages directions in degrees, so `quantity` must end in `_deg` \
                         (e.g. \"wind_dir_2_deg\"), found \"{}\"; use \"mean\" for anything else",
                        self.quantity
                    ),
                );
            }
            for (key, value, ok) in [
                ("value_at_zero", self.value_at_zero, zero_ok),
                ("value_at_full", self.value_at_full, full_ok),
            ] {
                if ok && !(0.0..=360.0).contains(&value) {
                    v.push(
                        path.key(key),
                        format!(
                            "must be a direction from 0 to 360 degrees with aggregate = \"vector\", \
                             found {value}"
                        ),
                    );
                }
            }
        }
        if !(1..=MAX_SAMPLES).contains(&self.samples) {
            v.push(
                path.key("samples"),
                format!(
                    "must be from 1 to {MAX_SAMPLES} ADC reads per sample, found {}",
                    self.samples
                ),
            );
        }
    }

    fn claims(&self) -> Vec<Claim> {
        vec![Claim::SpiAdc {
            spi_key: "spi",
            spi: self.spi.clone(),
            channel_key: "channel",
            channel: self.channel,
        }]
    }

    fn build(&self, hw: &dyn Backend) -> Result<Driver, SensorError> {
        let adc = hw.adc_channel(&self.spi, self.channel)?;
        Ok(Driver::Polled {
            sensor: Box::new(Analog::new(adc, self.settings())),
            blocking: hw.blocking_io(),
        })
    }

    /// Wires a simulated signal to the configured channel of the simulated MCP3008
    /// (see [`SimSignal`]); the vane keeps every other channel.
    fn simulate(&self, hw: &SimHardware) {
        let weather = hw.weather().clone();
        let time = hw.time().clone();
        let settings = self.settings();
        hw.attach_adc(
            &self.spi,
            self.channel,
            Arc::new(move || {
                Box::new(SimInput::new(
                    weather.clone(),
                    time.clone(),
                    settings.clone(),
                )) as Box<dyn AdcChannel>
            }),
        );
    }
}

impl AnalogConfig {
    pub fn settings(&self) -> Settings {
        Settings {
            spi: self.spi.clone(),
            channel: self.channel,
            quantity: Quantity::from_name(&self.quantity),
            scale: Scale {
                at_zero: self.value_at_zero,
                at_full: self.value_at_full,
            },
            aggregate: self.aggregate,
            samples: self.samples.clamp(1, MAX_SAMPLES),
        }
    }
}

/// The linear map from ADC count to value.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Scale {
    /// The value at count 0.
    pub at_zero: f64,
    /// The value at count 1023.
    pub at_full: f64,
}

impl Scale {
    /// The value of a count (or of a mean of counts).
    pub fn value(&self, count: f64) -> f64 {
        self.at_zero + (self.at_full - self.at_zero) * count / f64::from(FULL_COUNT)
    }

    /// The count a value gives, before rounding and clamping (for the simulator).
    pub fn count(&self, value: f64) -> f64 {
        (value - self.at_zero) / (self.at_full - self.at_zero) * f64::from(FULL_COUNT)
    }
}

/// What a driver instance needs to know besides its ADC channel.
#[derive(Clone, Debug, PartialEq)]
pub struct Settings {
    /// Names the device in errors (`/dev/spidev0.0`).
    pub spi: String,
    pub channel: u8,
    pub quantity: Quantity,
    pub scale: Scale,
    pub aggregate: Aggregation,
    /// Conversions per read, at least 1.
    pub samples: u32,
}

/// The driver: `samples` conversions per read, scaled.
pub struct Analog {
    adc: Box<dyn AdcChannel>,
    settings: Settings,
}

impl Analog {
    pub fn new(adc: Box<dyn AdcChannel>, settings: Settings) -> Analog {
        Analog { adc, settings }
    }

    fn here(&self) -> String {
        let Settings {
            spi,
            channel,
            quantity,
            ..
        } = &self.settings;
        format!("analog input `{quantity}` (MCP3008 channel {channel} on {spi})")
    }

    fn convert(&mut self) -> Result<u16, SensorError> {
        self.adc
            .read_count()
            .map_err(|error: HwError| SensorError::Device {
                sensor: self.here(),
                error,
            })
    }
}

impl PolledSensor for Analog {
    fn quantities(&self) -> Vec<Quantity> {
        vec![self.settings.quantity.clone()]
    }

    /// Any failed conversion fails the whole read: a mean of the reads that worked
    /// would hide a loose wire behind values that look fine.
    fn read(&mut self) -> Result<Vec<Reading>, SensorError> {
        let samples = self.settings.samples.max(1);
        let scale = self.settings.scale;
        let value = if self.settings.aggregate == Aggregation::Vector {
            let mut sum = VectorSum::default();
            for _ in 0..samples {
                let count = self.convert()?;
                sum.add(scale.value(f64::from(count)), 1.0);
            }
            sum.mean_deg().ok_or_else(|| SensorError::Misbehaving {
                sensor: self.here(),
                problem: format!(
                    "the {samples} reads point in opposite directions and cancel out"
                ),
                fix: "check that the vane turns freely and its wiper wire; a potentiometer vane \
                      reads noise in its dead band (near north on a Davis 6410), or set `samples = 1`",
            })?
        } else {
            let mut total = 0.0;
            for _ in 0..samples {
                total += f64::from(self.convert()?);
            }
            scale.value(total / f64::from(samples))
        };
        Ok(vec![Reading::new(self.settings.quantity.clone(), value)])
    }
}

// ---- simulation ---------------------------------------------------------------------

/// What the simulated channel carries, chosen by the quantity's unit so a simulated
/// run shows plausible numbers for the usual uses:
/// - `aggregate = "vector"` (a `_deg` quantity): a second vane, the model's wind
///   direction;
/// - `_v`: a 12 V battery on a solar charger, 12.5 V in the dark rising towards
///   14.1 V in full sun (the model's daylight, as the light sensor sees it);
/// - `_c`: the model's air temperature; `_pct`: its relative humidity;
/// - anything else (e.g. an energy per sample): the model's daylight as a share of
///   the configured range (0 at night, the full range at 120 000 lx).
///
/// The value is turned into the count the configured scale maps back to it (±1 count
/// of noise, clamped to 0..=1023), so `query` shows the value in the config's terms.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum SimSignal {
    WindDirection,
    SolarBattery,
    AirTemperature,
    Humidity,
    Daylight,
}

/// Clear-sky illuminance with the sun at the zenith: the top of the `Daylight` signal.
const SIM_FULL_LUX: f64 = 120_000.0;
const STREAM_INPUT: u64 = 0x414e_4c47;

impl SimSignal {
    pub fn for_settings(s: &Settings) -> SimSignal {
        let name = s.quantity.name();
        if s.aggregate == Aggregation::Vector {
            SimSignal::WindDirection
        } else if name.ends_with("_v") {
            SimSignal::SolarBattery
        } else if name.ends_with("_c") {
            SimSignal::AirTemperature
        } else if name.ends_with("_pct") {
            SimSignal::Humidity
        } else {
            SimSignal::Daylight
        }
    }

    /// The signal's value at `t`, in the quantity's unit.
    pub fn value(self, weather: &Weather, scale: Scale, t: Timestamp) -> f64 {
        match self {
            SimSignal::WindDirection => weather.wind_dir_deg(t),
            SimSignal::SolarBattery => {
                // The charger lifts the terminal voltage with the panel's current, which
                // saturates in bright light (absorption at ~14.1 V).
                let lux = weather.illuminance_lux(t);
                12.5 + 1.6 * lux / (lux + 15_000.0) * (1.0 + 15_000.0 / SIM_FULL_LUX)
            }
            SimSignal::AirTemperature => weather.temperature_c(t),
            SimSignal::Humidity => weather.humidity_pct(t),
            SimSignal::Daylight => {
                let share = (weather.illuminance_lux(t) / SIM_FULL_LUX).clamp(0.0, 1.0);
                scale.at_zero + (scale.at_full - scale.at_zero) * share
            }
        }
    }
}

/// The simulated MCP3008 input: the signal at the simulated instant, as the count the
/// config's scale maps back to it, with ±1 count of noise that is a pure function of
/// (seed, time, read number within that instant), so runs repeat exactly.
struct SimInput {
    weather: Arc<Weather>,
    time: SimTime,
    settings: Settings,
    signal: SimSignal,
    at: Timestamp,
    reads_at: u64,
    /// The noiseless count at `at` (the weather is looked up once per instant).
    count: f64,
}

impl SimInput {
    fn new(weather: Arc<Weather>, time: SimTime, settings: Settings) -> SimInput {
        SimInput {
            weather,
            time,
            signal: SimSignal::for_settings(&settings),
            settings,
            at: Timestamp(i64::MIN),
            reads_at: 0,
            count: 0.0,
        }
    }
}

impl AdcChannel for SimInput {
    fn read_count(&mut self) -> Result<u16, HwError> {
        let now = self.time.get();
        if now != self.at {
            self.at = now;
            self.reads_at = 0;
            let scale = self.settings.scale;
            self.count = scale.count(self.signal.value(&self.weather, scale, now));
        }
        let k = self.reads_at;
        self.reads_at += 1;
        let stream = STREAM_INPUT ^ (u64::from(self.settings.channel) << 40) ^ (k << 48);
        let noise = (hash(self.weather.seed(), stream, now.0) % 3) as f64 - 1.0;
        Ok((self.count.round() + noise).clamp(0.0, f64::from(FULL_COUNT)) as u16)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hw::ScriptedAdc;

    fn analog(aggregate: Aggregation, at_full: f64, counts: &[u16]) -> Analog {
        Analog::new(
            Box::new(ScriptedAdc::counts(counts)),
            Settings {
                spi: "/dev/spidev0.0".into(),
                channel: 1,
                quantity: Quantity::from_name("wind_dir_2_deg"),
                scale: Scale {
                    at_zero: 0.0,
                    at_full,
                },
                aggregate,
                samples: counts.len() as u32,
            },
        )
    }

    #[test]
    fn vector_reads_average_across_north_and_cancelling_reads_are_a_fault() {
        // 1023 · 2/360 ≈ 5.7 and 1023 · 358/360 ≈ 1017.3: either side of north.
        let v = analog(Aggregation::Vector, 360.0, &[6, 1017])
            .read()
            .unwrap();
        let deg = v[0].value;
        assert!(deg.min(360.0 - deg) < 1.0, "{deg}");
        // The same counts averaged as numbers would read south.
        let m = analog(Aggregation::Mean, 360.0, &[6, 1017]).read().unwrap();
        assert!((m[0].value - 180.0).abs() < 1.0, "{}", m[0].value);
        // East and west cancel (one degree per count here): no direction rather than a
        // made-up one.
        let e = analog(Aggregation::Vector, 1023.0, &[90, 270, 90, 270])
            .read()
            .map(|_| ())
            .unwrap_err();
        let text = e.to_string();
        assert!(
            text.contains("cancel out") && text.contains("`samples = 1`"),
            "{text}"
        );
        assert!(
            text.contains("MCP3008 channel 1 on /dev/spidev0.0"),
            "{text}"
        );
    }

    #[test]
    fn the_battery_signal_follows_the_daylight() {
        let w = Weather::new(3, 52.2, 20.0);
        // 2026-06-21: midsummer; the model's longitude is 0, so UTC is solar time.
        let midnight = Timestamp::from_secs(1_782_000_000);
        let noon = Timestamp::from_secs(1_782_000_000 + 12 * 3600);
        let scale = Scale {
            at_zero: 0.0,
            at_full: 16.5,
        };
        let night = SimSignal::SolarBattery.value(&w, scale, midnight);
        assert_eq!(night, 12.5);
        let day = SimSignal::SolarBattery.value(&w, scale, noon);
        assert!(day > 12.5 && day <= 14.1 + 1e-9, "{day}");
        // The counts map back to the value within a count.
        let count = scale.count(day);
        assert!((scale.value(count.round()) - day).abs() <= 16.5 / 1023.0);
    }
}
