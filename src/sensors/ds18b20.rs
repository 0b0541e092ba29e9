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
//!
//! The CRC alone does not prove a DS18B20 answered: a data line held low reads as nine
//! zero bytes, whose CRC is zero too (`00 00 00 00 00 00 00 00 00 : crc=00 YES`, then
//! `t=0`). So the scratchpad's fixed bytes are checked as well (DS18B20 datasheet,
//! "Memory"): byte 5 is always 0xFF, byte 7 always 0x10, and the configuration byte 4
//! has its five low bits set (0x1F, 0x3F, 0x5F or 0x7F for 9 to 12 bits). A scratchpad
//! that fails them is a fault, not retried (a shorted line stays shorted); and `t=`
//! must be the temperature the scratchpad's own bytes 0–1 hold.

use super::{Claim, Driver, PolledSensor, SensorError, SensorKind};
use crate::config::path::KeyPath;
use crate::config::validate::Validator;
use crate::hw::{Backend, OneWire};
use crate::observation::{Quantity, Reading};
use std::path::PathBuf;

/// Conversions per read before a CRC failure or power-on value is reported.
pub const ATTEMPTS: usize = 3;
/// The scratchpad's power-on temperature, in millidegrees.
const POWER_ON_MILLIDEG: i32 = 85_000;

/// `[sensors.NAME]` with `type = "ds18b20"`.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Ds18b20Config {
    /// The probe's 1-Wire id (`28-...`); empty means the first probe found.
    #[serde(default)]
    pub id: String,
    /// The quantity this probe reports.
    #[serde(default = "defaults::quantity")]
    pub quantity: String,
    /// The 1-Wire GPIO pin (`dtoverlay=w1-gpio`), for pin-conflict checks.
    #[serde(default = "defaults::pin")]
    pub pin: u8,
    #[serde(default = "defaults::sysfs_root")]
    pub sysfs_root: PathBuf,
}

pub mod defaults {
    use std::path::PathBuf;

    pub fn quantity() -> String {
        "ground_temperature_c".into()
    }
    pub fn pin() -> u8 {
        4
    }
    pub fn sysfs_root() -> PathBuf {
        PathBuf::from("/sys/bus/w1/devices")
    }
}

impl SensorKind for Ds18b20Config {
    const EXAMPLE: &'static str = r#"
[sensors.ground]
type = "ds18b20"
quantity = "ground_temperature_c"
pin = 4
"#;

    fn quantities(&self) -> Vec<Quantity> {
        vec![Quantity::from_name(&self.quantity)]
    }

    const QUANTITY_KEYS: &'static [&'static str] = &["quantity"];

    fn check(&self, path: &KeyPath, v: &mut Validator<'_>) {
        let s = self;
        let id_ok = s.id.is_empty()
            || (s.id.len() == 15
                && s.id.starts_with("28-")
                && s.id.bytes().skip(3).all(|b| b.is_ascii_hexdigit()));
        if !id_ok {
            v.push(
                path.key("id"),
                format!(
                    "must be empty (use the first probe found) or a DS18B20 1-Wire id: \"28-\" and 12 hex digits, \
                     as listed in /sys/bus/w1/devices/, found \"{}\"",
                    s.id
                ),
            );
        }
        v.quantity_name(path.key("quantity"), &s.quantity);
        v.gpio(path.key("pin"), s.pin);
        v.not_empty(
            path.key("sysfs_root"),
            &s.sysfs_root.to_string_lossy(),
            "normally \"/sys/bus/w1/devices\"",
        );
    }

    fn claims(&self) -> Vec<Claim> {
        vec![
            Claim::Gpio {
                key: "pin",
                pin: self.pin,
                one_wire: true,
            },
            Claim::OneWireProbe {
                key: "id",
                id: self.id.clone(),
            },
        ]
    }

    fn build(&self, hw: &dyn Backend) -> Result<Driver, SensorError> {
        build(self, hw)
    }
}

pub fn build(c: &Ds18b20Config, hw: &dyn Backend) -> Result<Driver, SensorError> {
    let bus = hw.one_wire(&c.sysfs_root)?;
    let id = if c.id.is_empty() {
        let found = bus.devices()?;
        found
            .into_iter()
            .next()
            .ok_or_else(|| SensorError::NoProbe {
                root: c.sysfs_root.display().to_string(),
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
                .map_err(|error| SensorError::Device {
                    sensor: format!("DS18B20 {}", self.id),
                    error,
                })?;
            match parse_w1_slave(&text) {
                Ok(c) => return Ok(vec![Reading::new(self.quantity.clone(), c)]),
                Err(e @ (W1Error::Crc | W1Error::PowerOn)) => last = Some(e),
                Err(error) => {
                    return Err(SensorError::Probe {
                        id: self.id.clone(),
                        error,
                        attempts: None,
                    })
                }
            }
        }
        Err(SensorError::Probe {
            id: self.id.clone(),
            error: last.unwrap_or(W1Error::Crc),
            attempts: Some(ATTEMPTS),
        })
    }
}

/// Why a `w1_slave` text is not a temperature.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum W1Error {
    #[error(
        "CRC check failed (crc=.. NO): noise on the 1-Wire line; check the probe's wiring and its \
         4.7 kΩ pull-up, and keep the cable short"
    )]
    Crc,
    #[error(
        "85 °C power-on value: the probe has not converted since it was powered; if this \
         repeats, check its power wire (a parasite-powered probe needs a strong pull-up)"
    )]
    PowerOn,
    #[error("unreadable w1_slave text: {0}; check the probe's wiring, or replace the probe")]
    Garbage(String),
    #[error("{0}")]
    Scratchpad(String),
}

/// The temperature in °C from a `w1_slave` text.
pub(crate) fn parse_w1_slave(text: &str) -> Result<f64, W1Error> {
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
    let pad = scratchpad(crc_line)?;
    check_fixed_bytes(&pad)?;
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
    let (masked, unmasked) = scratchpad_millideg(&pad);
    // The kernel computes t= from these same bytes (newer kernels clear the bits that
    // are undefined below 12-bit resolution, older ones do not); 1 m°C of slack.
    if (millideg - masked).abs() > 1 && (millideg - unmasked).abs() > 1 {
        return Err(W1Error::Scratchpad(format!(
            "t={millideg} disagrees with the scratchpad's temperature bytes {:02x} {:02x} ({masked} m°C)",
            pad[0], pad[1]
        )));
    }
    Ok(f64::from(millideg) / 1000.0)
}

/// The nine scratchpad bytes that start the CRC line (`72 01 4b … 57 : crc=57 YES`).
fn scratchpad(crc_line: &str) -> Result<[u8; 9], W1Error> {
    let garbage = || {
        W1Error::Garbage(format!(
            "first line does not start with the 9 scratchpad bytes: {:?}",
            shorten(crc_line)
        ))
    };
    let mut pad = [0u8; 9];
    let mut words = crc_line.split_whitespace();
    for b in pad.iter_mut() {
        let word = words.next().ok_or_else(garbage)?;
        if word.len() != 2 {
            return Err(garbage());
        }
        *b = u8::from_str_radix(word, 16).map_err(|_| garbage())?;
    }
    Ok(pad)
}

/// Byte 5 is 0xFF, byte 7 is 0x10, and the configuration byte has its low five bits
/// set, on every DS18B20 (datasheet, "Memory" and "Configuration Register").
fn check_fixed_bytes(pad: &[u8; 9]) -> Result<(), W1Error> {
    let mut wrong = Vec::new();
    if pad[4] & 0x9F != 0x1F {
        wrong.push(format!(
            "configuration byte 4 is {:#04x}, not 0x1f/0x3f/0x5f/0x7f",
            pad[4]
        ));
    }
    if pad[5] != 0xFF {
        wrong.push(format!("byte 5 is {:#04x}, not 0xff", pad[5]));
    }
    if pad[7] != 0x10 {
        wrong.push(format!("byte 7 is {:#04x}, not 0x10", pad[7]));
    }
    if wrong.is_empty() {
        return Ok(());
    }
    let hint = if pad.iter().all(|&b| b == 0) {
        "all zeros, which is a data line held low (a short to GND or a wet connector), not 0 °C"
    } else {
        "not what a DS18B20 sends: a faulty probe or a disturbed data line"
    };
    Err(W1Error::Scratchpad(format!(
        "scratchpad {} fails the DS18B20's fixed bytes ({}): {hint}",
        pad.iter()
            .map(|b| format!("{b:02x}"))
            .collect::<Vec<_>>()
            .join(" "),
        wrong.join(", ")
    )))
}

/// The temperature bytes 0–1 in millidegrees, as the kernel's w1_therm computes t=
/// (raw·1000/16, truncated): with the bits that are undefined at 9–11-bit resolution
/// cleared, and as they are.
fn scratchpad_millideg(pad: &[u8; 9]) -> (i32, i32) {
    let raw = i16::from_le_bytes([pad[0], pad[1]]);
    // Configuration bits 6..5 = R: resolution 9 + R bits, so 3 − R low bits are
    // undefined.
    let undefined = 3 - ((pad[4] >> 5) & 0x03);
    let masked = raw & !((1i16 << undefined) - 1);
    (i32::from(masked) * 1000 / 16, i32::from(raw) * 1000 / 16)
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

    fn scratchpad_error(text: &str) -> String {
        match parse_w1_slave(text) {
            Err(W1Error::Scratchpad(m)) => m,
            other => panic!("{text:?} gave {other:?}"),
        }
    }

    #[test]
    fn an_all_zero_scratchpad_is_a_held_low_line_not_zero_degrees() {
        let zero = "00 00 00 00 00 00 00 00 00 : crc=00 YES\n00 00 00 00 00 00 00 00 00 t=0\n";
        let m = scratchpad_error(zero);
        assert!(m.contains("held low") && m.contains("not 0 °C"), "{m}");
        assert!(
            m.contains("byte 5 is 0x00") && m.contains("byte 7 is 0x00"),
            "{m}"
        );
    }

    #[test]
    fn each_fixed_byte_is_checked() {
        // Byte 4 (config), byte 5 and byte 7 wrong one at a time; CRC "YES" as a
        // confused or mocked w1 would report.
        for (pad, what) in [
            ("72 01 4b 46 7e ff 0e 10 57", "configuration byte 4 is 0x7e"),
            ("72 01 4b 46 ff ff 0e 10 57", "configuration byte 4 is 0xff"),
            ("72 01 4b 46 7f fe 0e 10 57", "byte 5 is 0xfe"),
            ("72 01 4b 46 7f ff 0e 11 57", "byte 7 is 0x11"),
        ] {
            let text = format!("{pad} : crc=57 YES\n{pad} t=23125\n");
            let m = scratchpad_error(&text);
            assert!(m.contains(what) && m.contains("faulty probe"), "{m}");
        }
        // Every resolution's configuration byte is accepted.
        for config in ["1f", "3f", "5f", "7f"] {
            let pad = format!("70 01 4b 46 {config} ff 10 10 00");
            let text = format!("{pad} : crc=00 YES\n{pad} t=23000\n");
            assert_eq!(parse_w1_slave(&text), Ok(23.0), "{config}");
        }
    }

    #[test]
    fn t_must_match_the_scratchpad_temperature() {
        let m = scratchpad_error(&GOOD.replace("t=23125", "t=23000"));
        assert!(m.contains("t=23000") && m.contains("23125"), "{m}");
        // 9-bit resolution: the three low bits are undefined and the kernel ignores them.
        let pad = "77 01 4b 46 1f ff 09 10 00";
        let text = format!("{pad} : crc=00 YES\n{pad} t=23000\n");
        assert_eq!(parse_w1_slave(&text), Ok(23.0));
    }
}
