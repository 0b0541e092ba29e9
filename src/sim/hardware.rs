//! The simulated station hardware: the weather played through the same traits the
//! real Pi's hardware sits behind, at the level of bytes, counts and edges, so every
//! real driver, debouncer and conversion runs on it.

use super::bme280_chip::{AirConditions, Bme280Chip, Calibration, Variant};
use super::edges::SimEdgeSource;
use super::noise::hash;
use super::weather::Weather;
use super::SimTime;
use crate::hw::{AdcChannel, Backend, EdgeSource, HwError, I2cBus, I2cError, OneWire, PinRole};
use crate::time::Timestamp;
use embedded_hal::i2c::{ErrorType, I2c, Operation};
use std::path::Path;
use std::sync::{Arc, Mutex};

/// The standard Argent/SparkFun vane: resistance at each of its 16 positions, from N
/// clockwise in 22.5° steps (see the reference table).
pub(crate) const VANE_OHMS: [f64; 16] = [
    33_000.0, 6_570.0, 8_200.0, 891.0, 1_000.0, 688.0, 2_200.0, 1_410.0, 3_900.0, 3_140.0,
    16_000.0, 14_120.0, 120_000.0, 42_120.0, 64_900.0, 21_880.0,
];
/// The vane's divider resistor to ground.
pub(crate) const VANE_DIVIDER_OHM: f64 = 4_700.0;

/// The id of the simulated DS18B20 probe.
pub const SIM_PROBE_ID: &str = "28-00000sim0001";

/// The address the simulated BME280 answers at, the example config's (an Adafruit
/// breakout, SDO high). Move it with [`SimHardware::bme280`]`.set_address`.
pub(crate) const SIM_BME280_ADDRESS: u8 = 0x77;

const STREAM_VANE: u64 = 0x5641_4e45;

/// A delay that returns at once: simulated time is the clock's business, not a
/// driver's sleep.
#[derive(Clone, Copy, Debug, Default)]
pub struct NoDelay;

impl embedded_hal::delay::DelayNs for NoDelay {
    fn delay_ns(&mut self, _ns: u32) {}
}

/// An emulated I2C device a sensor module puts on the simulated bus
/// ([`SimHardware::attach_i2c`]), shared by every handle to the bus.
pub(crate) type SimI2cDevice = Arc<Mutex<dyn I2c<Error = I2cError> + Send>>;

/// What a sensor module wires to an input of the simulated MCP3008
/// ([`SimHardware::attach_adc`]): makes the channel each `adc_channel` call hands out.
pub(crate) type SimAdcInput = Arc<dyn Fn() -> Box<dyn AdcChannel> + Send + Sync>;

/// Simulated hardware for one station.
pub struct SimHardware {
    weather: Arc<Weather>,
    time: SimTime,
    bme280: Bme280Chip,
    /// Devices sensor modules attached, by address; the BME280 answers the rest.
    attached: Arc<Mutex<Vec<(u8, SimI2cDevice)>>>,
    /// ADC inputs sensor modules wired, by SPI device and channel; the vane is on
    /// every other channel.
    adc_inputs: Arc<Mutex<Vec<(String, u8, SimAdcInput)>>>,
}

impl SimHardware {
    pub fn new(weather: Arc<Weather>, time: SimTime) -> SimHardware {
        let air_weather = weather.clone();
        let air_time = time.clone();
        let air = Arc::new(move || {
            // Only what a BME280 senses: `Weather::at` would also work out the wind
            // and the ground, 6.3 million times for a simulated year.
            let (temperature_c, humidity_pct, pressure_hpa) = air_weather.air(air_time.get());
            AirConditions {
                temperature_c,
                pressure_pa: pressure_hpa * 100.0,
                humidity_pct,
            }
        });
        let bme280 = Bme280Chip::new(
            Variant::Bme280,
            SIM_BME280_ADDRESS,
            Calibration::DATASHEET,
            air,
        );
        SimHardware {
            weather,
            time,
            bme280,
            attached: Arc::default(),
            adc_inputs: Arc::default(),
        }
    }

    /// Puts an emulated device at `address` on the simulated I2C bus (every bus path
    /// reaches it, as they reach the BME280), for a sensor module's
    /// `SensorKind::simulate`. A device attached later at the same address wins.
    pub fn attach_i2c(&self, address: u8, device: SimI2cDevice) {
        let mut attached = self.attached.lock().unwrap_or_else(|e| e.into_inner());
        attached.insert(0, (address, device));
    }

    /// Wires `input` to `channel` of the simulated MCP3008 on `spi`, for a sensor
    /// module's `SensorKind::simulate`; a later one on the same channel wins.
    pub fn attach_adc(&self, spi: &str, channel: u8, input: SimAdcInput) {
        let mut inputs = self.adc_inputs.lock().unwrap_or_else(|e| e.into_inner());
        inputs.insert(0, (spi.to_string(), channel, input));
    }

    /// The emulated BME280 on the I2C bus (every bus path reaches the same chip):
    /// unplug it, replug it, move its address.
    pub fn bme280(&self) -> &Bme280Chip {
        &self.bme280
    }

    pub fn weather(&self) -> &Arc<Weather> {
        &self.weather
    }

    pub fn time(&self) -> &SimTime {
        &self.time
    }
}

impl Backend for SimHardware {
    fn blocking_io(&self) -> bool {
        false
    }

    fn edge_source(&self, pin: u8, role: PinRole) -> Result<Box<dyn EdgeSource>, HwError> {
        Ok(Box::new(SimEdgeSource::new(
            self.weather.clone(),
            pin,
            role,
        )?))
    }

    fn adc_channel(&self, spi: &str, channel: u8) -> Result<Box<dyn AdcChannel>, HwError> {
        if channel > 7 {
            return Err(HwError::AdcChannel {
                device: spi.to_string(),
                channel,
            });
        }
        let inputs = self.adc_inputs.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((_, _, input)) = inputs.iter().find(|(s, c, _)| s == spi && *c == channel) {
            return Ok(input());
        }
        // The vane is wired to whichever other channel the config names.
        Ok(Box::new(SimVane::new(
            self.weather.clone(),
            self.time.clone(),
            channel,
        )))
    }

    fn i2c(&self, _bus: &str) -> Result<I2cBus, HwError> {
        let attached = self.attached.lock().unwrap_or_else(|e| e.into_inner());
        if attached.is_empty() {
            return Ok(Box::new(self.bme280.clone()));
        }
        Ok(Box::new(SimI2cBus {
            bme280: self.bme280.clone(),
            attached: attached.clone(),
        }))
    }

    fn one_wire(&self, _sysfs_root: &Path) -> Result<Box<dyn OneWire>, HwError> {
        Ok(Box::new(SimOneWire {
            weather: self.weather.clone(),
            time: self.time.clone(),
        }))
    }

    /// The emulated BME280's clock: a driver's wait moves it on, so the chip's
    /// conversion finishes, and returns at once, so a replay never sleeps.
    fn delay(&self) -> Box<dyn embedded_hal::delay::DelayNs + Send> {
        Box::new(self.bme280.delay())
    }
}

/// The simulated bus with attached devices: a transfer goes to the device at its
/// address, else to the BME280 (which does not answer at other addresses).
struct SimI2cBus {
    bme280: Bme280Chip,
    attached: Vec<(u8, SimI2cDevice)>,
}

impl ErrorType for SimI2cBus {
    type Error = I2cError;
}

impl I2c for SimI2cBus {
    fn transaction(
        &mut self,
        address: u8,
        operations: &mut [Operation<'_>],
    ) -> Result<(), I2cError> {
        match self.attached.iter().find(|(a, _)| *a == address) {
            Some((_, device)) => device
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .transaction(address, operations),
            None => self.bme280.transaction(address, operations),
        }
    }
}

/// The MCP3008 count a vane position gives through the divider, before noise.
pub fn vane_count(position: usize) -> u16 {
    let r = VANE_OHMS[position % 16];
    (VANE_DIVIDER_OHM / (VANE_DIVIDER_OHM + r) * 1023.0).round() as u16
}

/// The vane position (0 = N … 15 = NNW) nearest a direction.
pub fn vane_position(dir_deg: f64) -> usize {
    ((dir_deg.rem_euclid(360.0) / 22.5).round() as usize) % 16
}

/// The wind vane through its divider into an MCP3008 channel, with ±2 counts of noise.
pub(crate) struct SimVane {
    weather: Arc<Weather>,
    time: SimTime,
    channel: u8,
    /// Reads already made at `at`, so several reads in one sample see different noise
    /// while staying a pure function of (time, read number within that instant).
    at: Timestamp,
    reads_at: u64,
    /// The vane position at `at` (the wind is looked up once per instant).
    position: usize,
}

impl SimVane {
    pub fn new(weather: Arc<Weather>, time: SimTime, channel: u8) -> SimVane {
        SimVane {
            weather,
            time,
            channel,
            at: Timestamp(i64::MIN),
            reads_at: 0,
            position: 0,
        }
    }
}

impl AdcChannel for SimVane {
    fn read_count(&mut self) -> Result<u16, HwError> {
        let now = self.time.get();
        if now != self.at {
            self.at = now;
            self.reads_at = 0;
            self.position = vane_position(self.weather.wind_dir_deg(now));
        }
        let k = self.reads_at;
        self.reads_at += 1;
        let position = self.position;
        let stream = STREAM_VANE ^ (u64::from(self.channel) << 40) ^ (k << 48);
        let noise = (hash(self.weather.seed(), stream, now.0) % 5) as i32 - 2;
        Ok((i32::from(vane_count(position)) + noise).clamp(0, 1023) as u16)
    }
}

/// A 1-Wire bus with one DS18B20 in the ground.
pub(crate) struct SimOneWire {
    weather: Arc<Weather>,
    time: SimTime,
}

impl OneWire for SimOneWire {
    fn devices(&self) -> Result<Vec<String>, HwError> {
        Ok(vec![SIM_PROBE_ID.to_string()])
    }

    fn read_slave(&self, id: &str) -> Result<String, HwError> {
        if id != SIM_PROBE_ID {
            return Err(HwError::OneWireMissing {
                id: id.to_string(),
                root: format!("the simulator's bus (it has {SIM_PROBE_ID})"),
            });
        }
        Ok(w1_slave_text(
            self.weather.ground_temperature_c(self.time.get()),
        ))
    }
}

/// The `w1_slave` text the kernel's w1_therm driver writes for a DS18B20 at
/// `temperature_c` (12-bit resolution): the 9 scratchpad bytes with their CRC check,
/// then the same bytes and `t=` in millidegrees.
pub(crate) fn w1_slave_text(temperature_c: f64) -> String {
    let raw = (temperature_c.clamp(-55.0, 125.0) * 16.0).round() as i16;
    let [lsb, msb] = raw.to_le_bytes();
    // TH, TL, config (12 bit), reserved 0xFF, "count remain", 0x10, as real parts read.
    let remain = 0x10 - (lsb & 0x0f);
    let mut pad = [lsb, msb, 0x4b, 0x46, 0x7f, 0xff, remain, 0x10, 0];
    pad[8] = crc8_maxim(&pad[..8]);
    // Built by hand: this runs once per simulated sample (6.3 million times a year).
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut hex = String::with_capacity(27);
    for (i, b) in pad.iter().enumerate() {
        if i > 0 {
            hex.push(' ');
        }
        hex.push(char::from(DIGITS[usize::from(b >> 4)]));
        hex.push(char::from(DIGITS[usize::from(b & 0x0f)]));
    }
    let millideg = i32::from(raw) * 1000 / 16;
    format!("{hex} : crc={:02x} YES\n{hex} t={millideg}\n", pad[8])
}

/// The Dallas/Maxim 1-Wire CRC-8 (polynomial x^8 + x^5 + x^4 + 1, reflected).
pub(crate) fn crc8_maxim(bytes: &[u8]) -> u8 {
    let mut crc = 0u8;
    for &byte in bytes {
        let mut b = byte;
        for _ in 0..8 {
            let mix = (crc ^ b) & 1;
            crc >>= 1;
            if mix != 0 {
                crc ^= 0x8c;
            }
            b >>= 1;
        }
    }
    crc
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crc_of_a_real_scratchpad() {
        // A DS18B20 at 23.125 °C as read from a real /sys/bus/w1 tree.
        let pad = [0x72, 0x01, 0x4b, 0x46, 0x7f, 0xff, 0x0e, 0x10];
        assert_eq!(crc8_maxim(&pad), 0x57);
        // The CRC over the bytes and their CRC is zero.
        let mut full = pad.to_vec();
        full.push(0x57);
        assert_eq!(crc8_maxim(&full), 0);
    }

    #[test]
    fn w1_text_matches_the_kernel_format() {
        assert_eq!(
            w1_slave_text(23.125),
            "72 01 4b 46 7f ff 0e 10 57 : crc=57 YES\n72 01 4b 46 7f ff 0e 10 57 t=23125\n"
        );
        assert_eq!(
            w1_slave_text(-10.125),
            "5e ff 4b 46 7f ff 02 10 b6 : crc=b6 YES\n5e ff 4b 46 7f ff 02 10 b6 t=-10125\n"
        );
    }

    #[test]
    fn simulated_scratchpads_pass_the_drivers_checks() {
        // Every 1/16 °C step over the DS18B20's range: fixed bytes, CRC and t= agree,
        // so a simulated run never faults on its own probe.
        for raw in -55 * 16..=125 * 16 {
            let c = f64::from(raw) / 16.0;
            let text = w1_slave_text(c);
            let got = crate::sensors::ds18b20::parse_w1_slave(&text);
            if raw == 85 * 16 {
                // 85 °C exactly is the power-on value, refused as such.
                assert_eq!(got, Err(crate::sensors::ds18b20::W1Error::PowerOn));
            } else {
                // t= is whole millidegrees, truncated (−54.9375 °C reads −54.937).
                assert_eq!(got, Ok(f64::from(raw * 1000 / 16) / 1000.0), "{text}");
            }
            let bytes: Vec<u8> = text
                .split_whitespace()
                .take(9)
                .map(|w| u8::from_str_radix(w, 16).unwrap_or(0))
                .collect();
            assert_eq!((bytes[4], bytes[5], bytes[7]), (0x7f, 0xff, 0x10));
            assert_eq!(crc8_maxim(&bytes), 0, "{text}");
        }
    }

    #[test]
    fn vane_counts_match_the_reference_table() {
        let table = [
            128, 427, 373, 860, 844, 892, 697, 787, 559, 613, 232, 255, 39, 103, 69, 181,
        ];
        for (pos, &want) in table.iter().enumerate() {
            assert_eq!(vane_count(pos), want, "position {pos}");
        }
        assert_eq!(vane_position(359.0), 0);
        assert_eq!(vane_position(11.0), 0);
        assert_eq!(vane_position(12.0), 1);
        assert_eq!(vane_position(270.0), 12);
    }
}
