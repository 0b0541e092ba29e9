//! The SHT31 driver against an emulated chip and scripted bus traffic: the command,
//! the wait, the 6-byte result with its CRCs, and what a bad CRC or a missing chip
//! does; then the sensor in the config and in a simulated run.

mod support;

use embedded_hal::i2c::{ErrorKind, ErrorType, I2c, NoAcknowledgeSource, Operation};
use embedded_hal_mock::eh1::delay::NoopDelay;
use embedded_hal_mock::eh1::i2c::{Mock, Transaction};
use std::sync::{Arc, Mutex};
use weatherd::config::Config;
use weatherd::hw::I2cError;
use weatherd::observation::Quantity;
use weatherd::sensors::sht31::{self, Settings, Sht31};
use weatherd::sensors::PolledSensor;

const STATION: &str = "[station]\nname = \"x\"\nlatitude = 52.0\nlongitude = 0.1\n";

/// The Sensirion CRC-8 written out again from the datasheet (4.12), so the emulator
/// does not share the driver's code.
fn crc(bytes: &[u8]) -> u8 {
    let mut crc: u8 = 0xff;
    for b in bytes {
        crc ^= b;
        for _ in 0..8 {
            let top = crc & 0x80 != 0;
            crc <<= 1;
            if top {
                crc ^= 0x31;
            }
        }
    }
    crc
}

/// A register-level SHT31: single-shot high-repeatability command only, a
/// measurement that takes the datasheet's worst case (15.5 ms) on the emulator's
/// clock, a read header not acknowledged before then (no clock stretching), CRCs on
/// both words, and a plug.
#[derive(Clone)]
struct Chip(Arc<Mutex<State>>);

struct State {
    address: u8,
    temperature_c: f64,
    humidity_pct: f64,
    clock_ns: u64,
    /// (when the measurement started, its 6 bytes)
    pending: Option<(u64, [u8; 6])>,
    plugged: bool,
    corrupt_humidity_crc: bool,
    commands: Vec<Vec<u8>>,
}

struct ChipDelay(Arc<Mutex<State>>);

impl embedded_hal::delay::DelayNs for ChipDelay {
    fn delay_ns(&mut self, ns: u32) {
        self.0.lock().unwrap().clock_ns += u64::from(ns);
    }
}

impl Chip {
    fn new(address: u8, temperature_c: f64, humidity_pct: f64) -> Chip {
        Chip(Arc::new(Mutex::new(State {
            address,
            temperature_c,
            humidity_pct,
            clock_ns: 0,
            pending: None,
            plugged: true,
            corrupt_humidity_crc: false,
            commands: Vec::new(),
        })))
    }
    fn delay(&self) -> ChipDelay {
        ChipDelay(self.0.clone())
    }
    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.0.lock().unwrap()
    }
}

impl ErrorType for Chip {
    type Error = I2cError;
}

impl I2c for Chip {
    fn transaction(&mut self, address: u8, ops: &mut [Operation<'_>]) -> Result<(), I2cError> {
        let mut s = self.0.lock().unwrap();
        if !s.plugged || address != s.address {
            return Err(I2cError::NoAcknowledge);
        }
        for op in ops {
            match op {
                Operation::Write(bytes) => {
                    s.commands.push(bytes.to_vec());
                    if *bytes != [0x24, 0x00] {
                        return Err(I2cError::NoAcknowledge);
                    }
                    let t = ((s.temperature_c + 45.0) / 175.0 * 65535.0).round() as u16;
                    let rh = (s.humidity_pct / 100.0 * 65535.0).round() as u16;
                    let [t0, t1] = t.to_be_bytes();
                    let [h0, h1] = rh.to_be_bytes();
                    let mut bytes = [t0, t1, crc(&[t0, t1]), h0, h1, crc(&[h0, h1])];
                    if s.corrupt_humidity_crc {
                        bytes[5] ^= 0x01;
                    }
                    s.pending = Some((s.clock_ns, bytes));
                }
                Operation::Read(buf) => {
                    let Some((since, bytes)) = s.pending else {
                        return Err(I2cError::NoAcknowledge);
                    };
                    if s.clock_ns - since < 15_500_000 {
                        return Err(I2cError::NoAcknowledge);
                    }
                    s.pending = None;
                    let n = buf.len().min(6);
                    buf[..n].copy_from_slice(&bytes[..n]);
                }
            }
        }
        Ok(())
    }
}

fn settings(address: u8) -> Settings {
    Settings {
        bus: "/dev/i2c-1".into(),
        address,
        temperature: Quantity::from_name("sht31_temperature_c"),
        humidity: Quantity::from_name("sht31_humidity_pct"),
    }
}

#[test]
fn the_crc_matches_the_datasheet_example() {
    assert_eq!(crc(&[0xbe, 0xef]), 0x92);
    assert_eq!(sht31::crc8(&[0xbe, 0xef]), 0x92);
    // And agrees with the independent one on every word.
    for w in (0..=u16::MAX).step_by(7) {
        assert_eq!(
            sht31::crc8(&w.to_be_bytes()),
            crc(&w.to_be_bytes()),
            "{w:#06x}"
        );
    }
}

#[test]
fn exact_traffic_and_conversion() {
    // 0x6666 = 26214 = 0.4 · 65535 → −45 + 175·0.4 = 25 °C; 0x8000 → 50.00076 %.
    let t = [0x66, 0x66, crc(&[0x66, 0x66])];
    let rh = [0x80, 0x00, crc(&[0x80, 0x00])];
    let expectations = [
        Transaction::write(0x45, vec![0x24, 0x00]),
        Transaction::read(0x45, [t, rh].concat()),
    ];
    let mut sensor = Sht31::new(Mock::new(&expectations), NoopDelay::new(), settings(0x45));
    let readings = sensor.read().expect("a reading");
    assert_eq!(readings.len(), 2);
    assert_eq!(readings[0].quantity.name(), "sht31_temperature_c");
    assert!((readings[0].value - 25.0).abs() < 1e-9, "{readings:?}");
    assert_eq!(readings[1].quantity.name(), "sht31_humidity_pct");
    assert!((readings[1].value - 50.000763).abs() < 1e-6, "{readings:?}");
    sensor.release().0.done();
}

#[test]
fn reads_the_air_after_waiting_out_the_measurement() {
    let chip = Chip::new(0x44, 21.37, 64.2);
    let mut sensor = Sht31::new(chip.clone(), chip.delay(), settings(0x44));
    let readings = sensor.read().expect("a reading");
    assert!((readings[0].value - 21.37).abs() < 0.01, "{readings:?}");
    assert!((readings[1].value - 64.2).abs() < 0.01, "{readings:?}");
    let s = chip.state();
    assert_eq!(s.commands, [vec![0x24, 0x00]]);
    // It waited the datasheet maximum through the delay it was given.
    assert!(s.clock_ns >= 15_500_000, "{} ns", s.clock_ns);
}

#[test]
fn a_read_before_the_measurement_is_done_is_a_fault() {
    // With a delay that does not wait, the chip has not acknowledged the read: the
    // emulator's timing is real, so the previous test shows the driver's wait.
    let chip = Chip::new(0x44, 21.0, 50.0);
    let mut sensor = Sht31::new(chip.clone(), NoopDelay::new(), settings(0x44));
    let e = sensor.read().expect_err("too early");
    assert!(
        e.to_string().contains("no answer while reading the result"),
        "{e}"
    );
}

#[test]
fn a_bad_crc_is_a_fault_not_a_value() {
    let chip = Chip::new(0x44, 21.0, 50.0);
    chip.state().corrupt_humidity_crc = true;
    let mut sensor = Sht31::new(chip.clone(), chip.delay(), settings(0x44));
    let e = sensor.read().expect_err("bad CRC");
    assert!(
        e.to_string().contains("humidity word failed its CRC check"),
        "{e}"
    );
    chip.state().corrupt_humidity_crc = false;
    assert!(sensor.read().is_ok());
}

#[test]
fn no_answer_is_a_fault_and_replugging_recovers() {
    let chip = Chip::new(0x44, 18.0, 70.0);
    let mut sensor = Sht31::new(chip.clone(), chip.delay(), settings(0x44));
    chip.state().plugged = false;
    let e = sensor.read().expect_err("unplugged");
    assert!(
        e.to_string().contains("0x44") && e.to_string().contains("unplugged"),
        "{e}"
    );
    chip.state().plugged = true;
    let readings = sensor.read().expect("plugged back in");
    assert!((readings[0].value - 18.0).abs() < 0.01);

    // At the other address: a NACK from the mock, the same fault.
    let nack = ErrorKind::NoAcknowledge(NoAcknowledgeSource::Address);
    let expectations = [Transaction::write(0x44, vec![0x24, 0x00]).with_error(nack)];
    let mut sensor = Sht31::new(Mock::new(&expectations), NoopDelay::new(), settings(0x44));
    let e = sensor.read().expect_err("NACK");
    assert!(
        e.to_string()
            .contains("no answer while starting a measurement"),
        "{e}"
    );
    sensor.release().0.done();
}

#[test]
fn config_defaults_and_checks() {
    let c =
        Config::from_toml(&format!("{STATION}[sensors.sht]\ntype = \"sht31\"\n")).expect("valid");
    assert_eq!(
        c.sensors["sht"].quantities(),
        [
            Quantity::from_name("sht31_temperature_c"),
            Quantity::from_name("sht31_humidity_pct")
        ]
    );
    let e = Config::from_toml(&format!(
        "{STATION}[sensors.sht]\ntype = \"sht31\"\naddress = 0x46\n"
    ))
    .expect_err("no such address");
    assert_eq!(e.path, "sensors.sht.address");
    assert!(
        e.message.contains("0x44") && e.message.contains("0x45"),
        "{e}"
    );
    // Its quantity clashes name the key that set it.
    let e = Config::from_toml(&format!(
        "{STATION}[sensors.bme280]\ntype = \"bme280\"\n[sensors.sht]\ntype = \"sht31\"\nhumidity_quantity = \"humidity_pct\"\n"
    ))
    .expect_err("two humidities");
    assert_eq!(e.path, "sensors.sht.humidity_quantity");
}

#[test]
fn a_simulated_run_stores_the_simulated_sht31() {
    let sim = support::simulated::run(
        &format!(
            "{}\n[sensors.sht31]\ntype = \"sht31\"\n",
            weatherd::config::EXAMPLE_TOML
        ),
        "2026-01-01T00:00:00Z",
        "30m",
        7,
    );
    let rows = sim.query("raw");
    assert_eq!(rows.len(), 30);
    for row in &rows {
        // The simulated SHT31 measures the same simulated air as the BME280, to the
        // resolution of its 16-bit words.
        let t = row["sht31_temperature_c"]
            .as_f64()
            .expect("sht31 temperature");
        let rh = row["sht31_humidity_pct"].as_f64().expect("sht31 humidity");
        let bme_t = row["temperature_c"].as_f64().expect("temperature");
        let bme_rh = row["humidity_pct"].as_f64().expect("humidity");
        assert!((t - bme_t).abs() < 0.05, "{row}");
        assert!((rh - bme_rh).abs() < 0.1, "{row}");
        assert_eq!(row["sht31_temperature_n"].as_i64(), Some(12), "{row}");
    }
}
