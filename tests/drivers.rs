//! The BME280 and DS18B20 drivers, on the emulated chip, the simulator and fixture
//! `/sys` trees.

mod support;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use support::backend::TestBackend;
use weatherd::hw::{
    AdcChannel, Backend, EdgeSource, HwError, I2cBus, OneWire, PinRole, RealHardware,
};
use weatherd::observation::{Quantity, Reading};
use weatherd::sensors::bme280::Bme280Config;
use weatherd::sensors::ds18b20::Ds18b20;
use weatherd::sensors::ds18b20::Ds18b20Config;
use weatherd::sensors::{bme280, ds18b20, Driver, PolledSensor, SensorError};
use weatherd::sim::bme280_chip::{
    AirConditions, Bme280Chip, Calibration, ConversionTime, Variant, REG_CONFIG, REG_CTRL_HUM,
    REG_CTRL_MEAS,
};
use weatherd::sim::hardware::{SimHardware, SIM_PROBE_ID};
use weatherd::sim::weather::Weather;
use weatherd::sim::SimTime;
use weatherd::time::Timestamp;

const AIR: AirConditions = AirConditions {
    temperature_c: 18.5,
    pressure_pa: 99_870.0,
    humidity_pct: 55.5,
};

/// A backend with one emulated chip on `/dev/i2c-1`, waiting on the chip's own clock
/// (the driver's waits are what lets its conversions finish), and nothing else.
fn chip_backend(chip: &Bme280Chip) -> TestBackend {
    let clock = chip.clone();
    TestBackend::new()
        .with_chip("/dev/i2c-1", chip.clone())
        .with_delay(move || clock.delay())
}

fn bme_config(address: u8) -> Bme280Config {
    Bme280Config {
        bus: "/dev/i2c-1".into(),
        address,
        oversampling_temperature: 1,
        oversampling_pressure: 1,
        oversampling_humidity: 1,
        iir_filter_coefficient: 0,
    }
}

fn polled(d: Result<Driver, SensorError>) -> (Box<dyn PolledSensor>, bool) {
    match d.expect("driver builds") {
        Driver::Polled { sensor, blocking } => (sensor, blocking),
        Driver::Pulse(_) => panic!("expected a polled driver"),
    }
}

fn value(readings: &[Reading], q: Quantity) -> Option<f64> {
    readings.iter().find(|r| r.quantity == q).map(|r| r.value)
}

fn assert_air(readings: &[Reading]) {
    let t = value(readings, Quantity::TemperatureC).expect("temperature");
    let h = value(readings, Quantity::HumidityPct).expect("humidity");
    let p = value(readings, Quantity::PressureHpa).expect("pressure");
    assert!((t - 18.5).abs() < 0.01, "{t}");
    assert!((h - 55.5).abs() < 0.05, "{h}");
    assert!((p - 998.70).abs() < 0.03, "{p} hPa");
}

// ---- BME280 ---------------------------------------------------------------------

#[test]
fn bme280_reads_temperature_humidity_and_pressure_in_hpa() {
    let chip = Bme280Chip::with_fixed_air(Variant::Bme280, 0x76, AIR);
    let (mut sensor, blocking) = polled(bme280::build(&bme_config(0x76), &chip_backend(&chip)));
    assert!(!blocking);
    assert_eq!(
        sensor.quantities(),
        vec![
            Quantity::TemperatureC,
            Quantity::HumidityPct,
            Quantity::PressureHpa
        ]
    );
    assert_air(&sensor.read().expect("read"));
    assert_air(&sensor.read().expect("second read"));
    assert_eq!(chip.measurements(), 2, "one forced conversion per read");
}

#[test]
fn bmp280_reports_temperature_and_pressure_only() {
    let chip = Bme280Chip::with_fixed_air(Variant::Bmp280, 0x77, AIR);
    let (mut sensor, _) = polled(bme280::build(&bme_config(0x77), &chip_backend(&chip)));
    assert_eq!(
        sensor.quantities(),
        vec![Quantity::TemperatureC, Quantity::PressureHpa]
    );
    let r = sensor.read().expect("read");
    assert_eq!(r.len(), 2);
    assert!(value(&r, Quantity::HumidityPct).is_none());
    assert!((value(&r, Quantity::TemperatureC).unwrap_or(f64::NAN) - 18.5).abs() < 0.01);
}

#[test]
fn another_chip_id_is_refused_naming_the_id() {
    let chip = Bme280Chip::with_fixed_air(Variant::Other(0x55), 0x77, AIR);
    let err = match bme280::build(&bme_config(0x77), &chip_backend(&chip)) {
        Err(e) => e,
        Ok(_) => panic!("a chip with id 0x55 must be refused"),
    };
    assert!(err.to_string().contains("0x55"), "{err}");
    assert!(
        err.to_string().contains("0x77"),
        "the message should say where: {err}"
    );
}

#[test]
fn a_missing_chip_is_a_read_fault_until_it_answers() {
    // Configured at 0x76, but the breakout is strapped to 0x77.
    let chip = Bme280Chip::with_fixed_air(Variant::Bme280, 0x77, AIR);
    let (mut sensor, _) = polled(bme280::build(&bme_config(0x76), &chip_backend(&chip)));
    let err = sensor.read().expect_err("nobody at 0x76");
    assert!(err.to_string().contains("no acknowledge"), "{err}");
    assert!(err.to_string().contains("0x76"), "{err}");
    // Someone fixes the strap: the next read works without a restart.
    chip.set_address(0x76);
    assert_air(&sensor.read().expect("read after the fix"));
}

#[test]
fn unplug_and_replug_recovers_without_restart() {
    let chip = Bme280Chip::with_fixed_air(Variant::Bme280, 0x77, AIR);
    let (mut sensor, _) = polled(bme280::build(&bme_config(0x77), &chip_backend(&chip)));
    assert_air(&sensor.read().expect("read"));
    chip.unplug();
    for _ in 0..3 {
        let err = sensor.read().expect_err("unplugged");
        assert!(err.to_string().contains("no acknowledge"), "{err}");
    }
    chip.replug();
    assert_air(&sensor.read().expect("read after replug"));
}

#[test]
fn a_power_cycle_between_reads_is_noticed() {
    // Unplugged and replugged between two reads, so no read failed: the chip forgot
    // its oversampling, and without re-initialising would report skipped conversions.
    let chip = Bme280Chip::with_fixed_air(Variant::Bme280, 0x77, AIR);
    let (mut sensor, _) = polled(bme280::build(&bme_config(0x77), &chip_backend(&chip)));
    assert_air(&sensor.read().expect("read"));
    chip.unplug();
    chip.replug();
    assert_air(&sensor.read().expect("read after the power cycle"));
}

#[test]
fn bme280_on_the_simulator_reads_the_simulated_weather() {
    let weather = Arc::new(Weather::new(77, 52.2, 20.0));
    let time = SimTime::new(Timestamp::from_secs(1_767_225_600));
    let hw = SimHardware::new(weather.clone(), time.clone());
    let (mut sensor, blocking) = polled(bme280::build(&bme_config(0x77), &hw));
    assert!(!blocking);
    for k in 0..50 {
        let t = Timestamp::from_secs(1_767_225_600 + k * 3_600);
        time.set(t);
        let r = sensor.read().expect("read");
        let c = weather.at(t);
        let got = |q| value(&r, q).unwrap_or(f64::NAN);
        assert!((got(Quantity::TemperatureC) - c.temperature_c).abs() < 0.01);
        assert!((got(Quantity::HumidityPct) - c.humidity_pct).abs() < 0.05);
        assert!((got(Quantity::PressureHpa) - c.station_pressure_hpa).abs() < 0.03);
    }
}

/// A chip whose air the test changes between reads.
fn chip_in_changing_air(calibration: Calibration) -> (Bme280Chip, Arc<Mutex<AirConditions>>) {
    let air = Arc::new(Mutex::new(AIR));
    let source = air.clone();
    let chip = Bme280Chip::new(
        Variant::Bme280,
        0x77,
        calibration,
        Arc::new(move || *source.lock().unwrap_or_else(|e| e.into_inner())),
    );
    (chip, air)
}

fn set_temperature(air: &Mutex<AirConditions>, temperature_c: f64) {
    air.lock().unwrap_or_else(|e| e.into_inner()).temperature_c = temperature_c;
}

#[test]
fn a_temperature_step_reads_at_once_with_the_default_settings() {
    // Bosch's weather-monitoring setting has the IIR filter off: a shower's
    // temperature drop shows in the very next reading. (With the filter at 16, as the
    // bme280 crate's init() set it, the first reading after a 6.5 °C step was 0.4 °C
    // along, and it took 16 readings, 80 s at 5 s samples, to get 63 % of the way.)
    let (chip, air) = chip_in_changing_air(Calibration::DATASHEET);
    let (mut sensor, _) = polled(bme280::build(&bme_config(0x77), &chip_backend(&chip)));
    for _ in 0..5 {
        sensor.read().expect("read");
    }
    set_temperature(&air, 25.0);
    let r = sensor.read().expect("read after the step");
    let t = value(&r, Quantity::TemperatureC).unwrap_or(f64::NAN);
    assert!(
        (t - 25.0).abs() < 0.01,
        "{t} °C one reading after a step to 25 °C"
    );
    assert_eq!(chip.register(REG_CONFIG) & 0x1C, 0, "filter off");
    assert_eq!(
        chip.register(REG_CTRL_MEAS) & 0xFC,
        0x24,
        "×1 temperature and pressure"
    );
    assert_eq!(chip.register(REG_CTRL_HUM), 0x01, "×1 humidity");
}

#[test]
fn a_configured_iir_filter_lags_as_the_datasheet_says() {
    let (chip, air) = chip_in_changing_air(Calibration::DATASHEET);
    let config = Bme280Config {
        iir_filter_coefficient: 16,
        oversampling_temperature: 2,
        oversampling_pressure: 16,
        ..bme_config(0x77)
    };
    let (mut sensor, _) = polled(bme280::build(&config, &chip_backend(&chip)));
    // The bme280 crate's registers: ctrl_meas 0x54, config 0x10.
    assert_eq!(chip.register(REG_CTRL_MEAS) & 0xFC, 0x54);
    assert_eq!(chip.register(REG_CONFIG), 0x10);
    sensor.read().expect("read");
    set_temperature(&air, 25.0);
    // x_filt = (x_filt_old·15 + x)/16 per reading: after n readings the step is
    // 1 − (15/16)^n of the way (temperature is nearly linear in adc_T).
    for n in 1..=20 {
        let r = sensor.read().expect("read");
        let t = value(&r, Quantity::TemperatureC).unwrap_or(f64::NAN);
        let want = 18.5 + 6.5 * (1.0 - (15.0f64 / 16.0).powi(n));
        assert!((t - want).abs() < 0.02, "reading {n}: {t}, expected {want}");
    }
}

#[test]
fn a_slow_part_never_returns_the_previous_conversion() {
    // Every settings combination on the slowest part the datasheet allows: the
    // driver must wait out the maximum measurement time (or see `measuring`).
    for (ot, op, oh) in [(1, 1, 1), (2, 16, 1), (16, 16, 16), (4, 8, 2)] {
        let (chip, air) = chip_in_changing_air(Calibration::DATASHEET);
        chip.set_conversion_time(ConversionTime::Maximum);
        let config = Bme280Config {
            oversampling_temperature: ot,
            oversampling_pressure: op,
            oversampling_humidity: oh,
            ..bme_config(0x77)
        };
        let (mut sensor, _) = polled(bme280::build(&config, &chip_backend(&chip)));
        for (k, temperature_c) in [10.0, 20.0, 5.0, 30.0].into_iter().enumerate() {
            set_temperature(&air, temperature_c);
            let r = sensor.read().expect("read");
            let t = value(&r, Quantity::TemperatureC).unwrap_or(f64::NAN);
            assert!(
                (t - temperature_c).abs() < 0.01,
                "×{ot}/×{op}/×{oh}, read {k}: {t} °C, the air is {temperature_c} °C"
            );
            assert!(!chip.measuring());
        }
    }
}

#[test]
fn a_part_that_never_finishes_is_a_fault_not_an_old_value() {
    let chip = Bme280Chip::with_fixed_air(Variant::Bme280, 0x77, AIR);
    // A backend whose delay does not move the chip's clock: the conversion never ends.
    struct Frozen(Bme280Chip);
    impl Backend for Frozen {
        fn blocking_io(&self) -> bool {
            false
        }
        fn edge_source(&self, pin: u8, _role: PinRole) -> Result<Box<dyn EdgeSource>, HwError> {
            Err(HwError::Unavailable {
                device: format!("GPIO{pin}"),
                why: "not in this test".into(),
            })
        }
        fn adc_channel(&self, spi: &str, _channel: u8) -> Result<Box<dyn AdcChannel>, HwError> {
            Err(HwError::Unavailable {
                device: spi.to_string(),
                why: "not in this test".into(),
            })
        }
        fn i2c(&self, _bus: &str) -> Result<I2cBus, HwError> {
            Ok(Box::new(self.0.clone()))
        }
        fn one_wire(&self, root: &Path) -> Result<Box<dyn OneWire>, HwError> {
            Err(HwError::Unavailable {
                device: root.display().to_string(),
                why: "not in this test".into(),
            })
        }
        fn delay(&self) -> Box<dyn embedded_hal::delay::DelayNs + Send> {
            Box::new(weatherd::sim::hardware::NoDelay)
        }
    }
    let (mut sensor, _) = polled(bme280::build(&bme_config(0x77), &Frozen(chip.clone())));
    let err = sensor.read().expect_err("still measuring");
    assert!(
        err.to_string().contains("still measuring") && err.to_string().contains("9.3 ms"),
        "{err}"
    );
    // The chip finishes late: the conversion it reports then is the one asked for.
    chip.advance_us(20_000);
    assert!(!chip.measuring());
}

#[test]
fn a_reset_during_the_measurement_is_a_fault_not_a_reading() {
    /// Waits on the chip's clock; when armed, the first wait power-cycles the chip
    /// (a brown-out in the middle of a conversion).
    struct BrownOut {
        chip: Bme280Chip,
        armed: Arc<AtomicUsize>,
    }
    impl embedded_hal::delay::DelayNs for BrownOut {
        fn delay_ns(&mut self, ns: u32) {
            if self.armed.swap(0, Ordering::SeqCst) == 1 {
                self.chip.unplug();
                self.chip.replug();
            }
            self.chip.delay().delay_ns(ns);
        }
    }
    struct Flaky(Bme280Chip, Arc<AtomicUsize>);
    impl Backend for Flaky {
        fn blocking_io(&self) -> bool {
            false
        }
        fn edge_source(&self, pin: u8, _role: PinRole) -> Result<Box<dyn EdgeSource>, HwError> {
            Err(HwError::Unavailable {
                device: format!("GPIO{pin}"),
                why: "not in this test".into(),
            })
        }
        fn adc_channel(&self, spi: &str, _channel: u8) -> Result<Box<dyn AdcChannel>, HwError> {
            Err(HwError::Unavailable {
                device: spi.to_string(),
                why: "not in this test".into(),
            })
        }
        fn i2c(&self, _bus: &str) -> Result<I2cBus, HwError> {
            Ok(Box::new(self.0.clone()))
        }
        fn one_wire(&self, root: &Path) -> Result<Box<dyn OneWire>, HwError> {
            Err(HwError::Unavailable {
                device: root.display().to_string(),
                why: "not in this test".into(),
            })
        }
        fn delay(&self) -> Box<dyn embedded_hal::delay::DelayNs + Send> {
            Box::new(BrownOut {
                chip: self.0.clone(),
                armed: self.1.clone(),
            })
        }
    }
    let chip = Bme280Chip::with_fixed_air(Variant::Bme280, 0x77, AIR);
    let armed = Arc::new(AtomicUsize::new(0));
    let (mut sensor, _) = polled(bme280::build(
        &bme_config(0x77),
        &Flaky(chip.clone(), armed.clone()),
    ));
    assert_air(&sensor.read().expect("read"));
    armed.store(1, Ordering::SeqCst);
    let err = sensor.read().expect_err("reset mid-measurement");
    assert!(
        err.to_string()
            .contains("lost its settings during the measurement"),
        "{err}"
    );
    assert_air(&sensor.read().expect("initialised again"));
}

#[test]
fn a_simulated_day_reads_without_a_fault() {
    // Every 5-s sample of a simulated day, through the real drivers: no reading may
    // be refused (e.g. a raw value that happens to equal a "skipped" marker, or a
    // simulated scratchpad that fails the DS18B20 checks).
    let weather = Arc::new(Weather::new(1, 52.2, 20.0));
    let start = 1_767_225_600;
    let time = SimTime::new(Timestamp::from_secs(start));
    let hw = SimHardware::new(weather.clone(), time.clone());
    let (mut bme, _) = polled(bme280::build(&bme_config(0x77), &hw));
    let (mut ground, _) = polled(ds18b20::build(
        &Ds18b20Config {
            id: String::new(),
            ..ds_config("unused", "")
        },
        &hw,
    ));
    for k in 0..17_280 {
        time.set(Timestamp::from_secs(start + 5 * k));
        if let Err(e) = bme.read() {
            panic!("sample {k}: {e}");
        }
        if let Err(e) = ground.read() {
            panic!("sample {k}: {e}");
        }
    }
}

#[test]
fn humidity_follows_the_datasheet_formula_with_a_nonzero_dig_h3() {
    // dig_H3 = 40: Bosch's double-precision API code (which the bme280 crate
    // followed) multiplies by (1 + dig_H3·(t_fine − 76800)/2^26) once more than the
    // datasheet's formula, 3 % at 25 °C, and read 82.4 % for a true 80 %.
    let calibration = Calibration {
        h3: 40,
        ..Calibration::DATASHEET
    };
    let (chip, air) = chip_in_changing_air(calibration);
    let (mut sensor, _) = polled(bme280::build(&bme_config(0x77), &chip_backend(&chip)));
    for (temperature_c, humidity_pct) in [(25.0, 80.0), (5.0, 95.0), (35.0, 30.0)] {
        {
            let mut a = air.lock().unwrap_or_else(|e| e.into_inner());
            a.temperature_c = temperature_c;
            a.humidity_pct = humidity_pct;
        }
        let r = sensor.read().expect("read");
        let h = value(&r, Quantity::HumidityPct).unwrap_or(f64::NAN);
        assert!(
            (h - humidity_pct).abs() < 0.05,
            "{h} %RH at {temperature_c} °C, the air is at {humidity_pct} %RH"
        );
    }
}

// ---- DS18B20 --------------------------------------------------------------------

fn fixture(case: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/w1")
        .join(case)
}

fn ds_config(case: &str, id: &str) -> Ds18b20Config {
    Ds18b20Config {
        id: id.into(),
        quantity: "ground_temperature_c".into(),
        pin: 4,
        sysfs_root: fixture(case),
    }
}

fn ds_read(case: &str, id: &str) -> Result<Vec<Reading>, SensorError> {
    let (mut sensor, blocking) = polled(ds18b20::build(&ds_config(case, id), &RealHardware));
    assert!(blocking, "a real 1-Wire read blocks for up to 750 ms");
    sensor.read()
}

#[test]
fn ds18b20_reads_a_good_probe() {
    let r = ds_read("good", "").expect("good probe");
    assert_eq!(r, vec![Reading::new(Quantity::GroundTemperatureC, 23.125)]);
}

#[test]
fn ds18b20_faults() {
    let crc = ds_read("crc_no", "").expect_err("CRC NO");
    assert!(
        crc.to_string().contains("CRC") && crc.to_string().contains("28-0000075a1b2c"),
        "{crc}"
    );
    let power_on = ds_read("power_on", "").expect_err("85000");
    assert!(power_on.to_string().contains("85"), "{power_on}");
    let garbage = ds_read("garbage", "").expect_err("garbage");
    assert!(garbage.to_string().contains("unreadable"), "{garbage}");
    let missing = ds_read("good", "28-000000000bad").expect_err("missing");
    assert!(
        missing.to_string().contains("not found")
            && missing.to_string().contains("28-000000000bad"),
        "{missing}"
    );
    let traversal = ds_read("good", "../good/28-0000075a1b2c").expect_err("path in id");
    assert!(
        traversal.to_string().contains("not a 1-Wire device id"),
        "{traversal}"
    );
}

#[test]
fn ds18b20_scratchpads_that_no_ds18b20_sends_are_faults() {
    // A data line held low: nine zero bytes, whose CRC is zero too, and t=0.
    let zero = ds_read("all_zero", "").expect_err("all-zero scratchpad is not 0 °C");
    assert!(
        zero.to_string().contains("28-0000075a1b2c")
            && zero.to_string().contains("held low")
            && zero.to_string().contains("not 0 °C"),
        "{zero}"
    );
    // Bytes 5 and 7 wrong under a matching CRC.
    let fixed = ds_read("bad_fixed_bytes", "").expect_err("bytes 5 and 7");
    assert!(
        fixed.to_string().contains("byte 5 is 0x00, not 0xff")
            && fixed.to_string().contains("byte 7 is 0x00, not 0x10"),
        "{fixed}"
    );
    // t= that is not what the scratchpad holds.
    let mismatch = ds_read("t_mismatch", "").expect_err("t= disagrees");
    assert!(mismatch.to_string().contains("t=0 disagrees"), "{mismatch}");
    // A shorted line stays shorted: no retries (each would take a 750 ms conversion).
    let zero_text = std::fs::read_to_string(fixture("all_zero").join("28-0000075a1b2c/w1_slave"))
        .expect("fixture");
    let (mut s, reads) = scripted(&[&zero_text, GOOD]);
    assert!(s.read().is_err());
    assert_eq!(reads.load(Ordering::SeqCst), 1);
}

#[test]
fn ds18b20_with_no_probe_and_no_id_fails_to_build() {
    let err = match ds18b20::build(&ds_config("no_probes", ""), &RealHardware) {
        Err(e) => e,
        Ok(_) => panic!("nothing to read"),
    };
    assert!(err.to_string().contains("no DS18B20"), "{err}");
    let err = match ds18b20::build(&ds_config("no_such_tree", ""), &RealHardware) {
        Err(e) => e,
        Ok(_) => panic!("no bus at all"),
    };
    assert!(
        err.to_string().contains("w1-gpio"),
        "the hint should name the overlay: {err}"
    );
}

#[test]
fn two_probes_first_found_or_by_id() {
    let bus = weatherd::hw::SysfsOneWire::new(fixture("two_probes"));
    // Only the DS18B20 family, not the bus master or a DS18S20.
    assert_eq!(
        bus.devices().expect("list"),
        vec!["28-00000aaaaaaa", "28-00000bbbbbbb"]
    );
    let first = ds_read("two_probes", "").expect("first probe");
    assert_eq!(first[0].value, -10.125);
    let second = ds_read("two_probes", "28-00000bbbbbbb").expect("second probe");
    assert_eq!(second[0].value, 23.125);
}

#[test]
fn ds18b20_reports_the_configured_quantity() {
    let mut c = ds_config("good", "");
    c.quantity = "soil_temperature_c".into();
    let (mut sensor, _) = polled(ds18b20::build(&c, &RealHardware));
    let q = Quantity::Extra(Arc::from("soil_temperature_c"));
    assert_eq!(sensor.quantities(), vec![q.clone()]);
    assert_eq!(sensor.read().expect("read")[0].quantity, q);
}

/// A bus that plays a script of `w1_slave` texts, counting reads.
struct Scripted {
    texts: Vec<String>,
    reads: Arc<AtomicUsize>,
}

impl OneWire for Scripted {
    fn devices(&self) -> Result<Vec<String>, HwError> {
        Ok(vec!["28-1".into()])
    }
    fn read_slave(&self, _id: &str) -> Result<String, HwError> {
        let n = self.reads.fetch_add(1, Ordering::SeqCst);
        Ok(self.texts[n.min(self.texts.len() - 1)].clone())
    }
}

const GOOD: &str = "72 01 4b 46 7f ff 0e 10 57 : crc=57 YES\n72 01 4b 46 7f ff 0e 10 57 t=23125\n";
const BAD_CRC: &str =
    "72 01 4b 46 7f ff 0e 10 57 : crc=ff NO\n72 01 4b 46 7f ff 0e 10 57 t=23125\n";
const POWER_ON: &str =
    "50 05 4b 46 7f ff 0c 10 1c : crc=1c YES\n50 05 4b 46 7f ff 0c 10 1c t=85000\n";

fn scripted(texts: &[&str]) -> (Ds18b20, Arc<AtomicUsize>) {
    let reads = Arc::new(AtomicUsize::new(0));
    let bus = Scripted {
        texts: texts.iter().map(|s| s.to_string()).collect(),
        reads: reads.clone(),
    };
    (
        Ds18b20::new(Box::new(bus), "28-1".into(), Quantity::GroundTemperatureC),
        reads,
    )
}

#[test]
fn transient_faults_are_retried_a_bounded_number_of_times() {
    let (mut s, reads) = scripted(&[BAD_CRC, POWER_ON, GOOD]);
    assert_eq!(s.read().expect("third time lucky")[0].value, 23.125);
    assert_eq!(reads.load(Ordering::SeqCst), 3);

    let (mut s, reads) = scripted(&[BAD_CRC]);
    let err = s.read().expect_err("always NO");
    assert!(err.to_string().contains("CRC"), "{err}");
    assert_eq!(reads.load(Ordering::SeqCst), ds18b20::ATTEMPTS);

    // Garbage is not retried: another conversion will not fix a broken driver.
    let (mut s, reads) = scripted(&["nonsense", GOOD]);
    assert!(s.read().is_err());
    assert_eq!(reads.load(Ordering::SeqCst), 1);
}

#[test]
fn ds18b20_on_the_simulator_reads_the_ground_temperature() {
    let weather = Arc::new(Weather::new(5, 52.2, 20.0));
    let time = SimTime::new(Timestamp::from_secs(1_767_225_600));
    let hw = SimHardware::new(weather.clone(), time.clone());
    let c = Ds18b20Config {
        id: String::new(),
        ..ds_config("unused", "")
    };
    let (mut sensor, blocking) = polled(ds18b20::build(&c, &hw));
    assert!(!blocking);
    for k in 0..100 {
        let t = Timestamp::from_secs(1_767_225_600 + k * 7_919);
        time.set(t);
        let got = sensor.read().expect("read")[0].value;
        // 12-bit resolution: 1/16 °C.
        assert!((got - weather.ground_temperature_c(t)).abs() <= 0.0625 / 2.0 + 0.001);
    }
    let wrong = Ds18b20Config {
        id: "28-000000000bad".into(),
        ..c
    };
    let (mut sensor, _) = polled(ds18b20::build(&wrong, &hw));
    let err = sensor.read().expect_err("no such probe");
    assert!(err.to_string().contains(SIM_PROBE_ID), "{err}");
}
