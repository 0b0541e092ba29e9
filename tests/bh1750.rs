//! The BH1750 driver against an emulated chip: the same driver code, commands and
//! timing that run on the Pi, with the chip's behaviour taken from its datasheet.

mod support;

use embedded_hal_mock::eh1::delay::NoopDelay;
use support::backend::TestBackend;
use support::bh1750_chip::{Bh1750Chip, Power};
use weatherd::config::{Config, ConfigError, SensorConfig, EXAMPLE_TOML};

use weatherd::observation::Quantity;
use weatherd::sensors::bh1750::{Bh1750, Settings};
use weatherd::sensors::bh1750::{Bh1750Config, Bh1750Mode};
use weatherd::sensors::{self, Driver, PolledSensor};

fn settings(address: u8, mode: Bh1750Mode) -> Settings {
    Settings {
        bus: "/dev/i2c-1".into(),
        address,
        mode,
        quantity: Quantity::from_name("illuminance_lux"),
    }
}

fn lux(sensor: &mut dyn PolledSensor) -> f64 {
    let readings = sensor.read().expect("a reading");
    assert_eq!(readings.len(), 1);
    assert_eq!(readings[0].quantity.name(), "illuminance_lux");
    readings[0].value
}

#[test]
fn one_time_mode_measures_fresh_light_each_read_and_lets_the_chip_sleep() {
    let chip = Bh1750Chip::new(0x23);
    let mut sensor = Bh1750::new(
        chip.clone(),
        chip.delay(),
        settings(0x23, Bh1750Mode::OneTime),
    );
    chip.set_lux(500.0);
    assert_eq!(lux(&mut sensor), 500.0);
    assert_eq!(
        chip.power(),
        Power::Down,
        "a one-time measurement powers the chip down"
    );
    chip.advance(5_000_000_000);
    chip.set_lux(12_345.6);
    // 12345.6 lx is 14814.72 counts; the chip reports whole counts.
    assert!((lux(&mut sensor) - 14_815.0 / 1.2).abs() < 1e-9);
    assert!(chip.violations().is_empty(), "{:?}", chip.violations());
}

#[test]
fn reading_without_waiting_for_the_measurement_gives_the_stale_result() {
    // The emulator is strict about timing: a driver that did not wait would read
    // the old value. (This is what the 180 ms wait in the driver is for.)
    let chip = Bh1750Chip::new(0x23);
    chip.set_lux(800.0);
    let mut hasty = Bh1750::new(
        chip.clone(),
        NoopDelay::new(),
        settings(0x23, Bh1750Mode::OneTime),
    );
    assert_eq!(lux(&mut hasty), 0.0);
}

#[test]
fn continuous_mode_sets_up_once_then_only_reads() {
    let chip = Bh1750Chip::new(0x5c);
    chip.set_lux(250.0);
    let mut sensor = Bh1750::new(
        chip.clone(),
        chip.delay(),
        settings(0x5c, Bh1750Mode::Continuous),
    );
    assert_eq!(lux(&mut sensor), 250.0);
    let set_up = chip.commands();
    assert_eq!(set_up, [0x01, 0x07, 0x10]);
    chip.set_lux(30.0);
    chip.advance(5_000_000_000);
    assert_eq!(lux(&mut sensor), 30.0);
    assert_eq!(chip.commands(), set_up, "no more commands once measuring");
    assert_eq!(chip.power(), Power::On);
    assert!(chip.violations().is_empty(), "{:?}", chip.violations());
}

#[test]
fn unplugging_is_a_fault_and_replugging_recovers_without_a_restart() {
    let chip = Bh1750Chip::new(0x23);
    chip.set_lux(100.0);
    let mut sensor = Bh1750::new(
        chip.clone(),
        chip.delay(),
        settings(0x23, Bh1750Mode::Continuous),
    );
    assert_eq!(lux(&mut sensor), 100.0);
    chip.plug(false);
    let e = sensor.read().expect_err("unplugged");
    assert!(
        e.to_string().contains("no answer") && e.to_string().contains("/dev/i2c-1"),
        "{e}"
    );
    // Re-plugged, the chip wakes powered down; the driver must set it up again or
    // it would read 0 lx for ever.
    chip.plug(true);
    chip.advance(5_000_000_000);
    assert_eq!(lux(&mut sensor), 100.0);
    assert!(chip.violations().is_empty(), "{:?}", chip.violations());
}

#[test]
fn wrong_address_and_saturation_are_faults() {
    let chip = Bh1750Chip::new(0x5c);
    let mut sensor = Bh1750::new(
        chip.clone(),
        chip.delay(),
        settings(0x23, Bh1750Mode::OneTime),
    );
    let e = sensor.read().expect_err("nobody at 0x23");
    assert!(
        e.to_string().contains("0x23") && e.to_string().contains("0x5c"),
        "{e}"
    );

    let chip = Bh1750Chip::new(0x23);
    chip.set_lux(100_000.0); // full sun
    let mut sensor = Bh1750::new(
        chip.clone(),
        chip.delay(),
        settings(0x23, Bh1750Mode::OneTime),
    );
    let e = sensor.read().expect_err("saturated");
    assert!(e.to_string().contains("saturated"), "{e}");
}

/// A Pi with only a BH1750 on `/dev/i2c-1` (a real bus: I/O blocks), waiting on the
/// chip's virtual clock: the driver's measurement wait must go through the backend's
/// delay, or the chip never finishes measuring.
fn light_only(chip: &Bh1750Chip) -> TestBackend {
    let clock = chip.clone();
    TestBackend::new()
        .with_chip("/dev/i2c-1", chip.clone())
        .with_delay(move || clock.delay())
        .blocking(true)
}

fn config(sensor_toml: &str) -> Config {
    let text = format!("[station]\nname = \"t\"\nlatitude = 0.0\nlongitude = 0.0\n{sensor_toml}");
    Config::from_toml(&text).unwrap_or_else(|e| panic!("{e}"))
}

/// Every problem the config check finds with `sensor_toml`, by key path.
fn problems(sensor_toml: &str) -> Vec<ConfigError> {
    let text = format!("[station]\nname = \"t\"\nlatitude = 0.0\nlongitude = 0.0\n{sensor_toml}");
    Config::from_toml_all(&text).err().unwrap_or_default()
}

fn paths(problems: &[ConfigError]) -> Vec<&str> {
    problems.iter().map(|p| p.path.as_str()).collect()
}

#[test]
fn its_address_and_conflicts_are_checked() {
    assert!(problems("[sensors.light]\ntype = \"bh1750\"\n").is_empty());
    let p = problems("[sensors.light]\ntype = \"bh1750\"\naddress = 0x77\n");
    assert_eq!(paths(&p), ["sensors.light.address"]);
    assert!(
        p[0].message.contains("0x23") && p[0].message.contains("0x5c"),
        "{}",
        p[0].message
    );
    // Two on one address: the second is rejected (and so is its quantity).
    let p = problems("[sensors.a]\ntype = \"bh1750\"\n[sensors.b]\ntype = \"bh1750\"\n");
    assert_eq!(paths(&p), ["sensors.b.address", "sensors.b.quantity"]);
    assert!(p[0]
        .message
        .contains("I2C address 0x23 on /dev/i2c-1 is already used by `sensors.a.address`"));
    // At both addresses, each with its own quantity: fine.
    assert!(problems(
        "[sensors.a]\ntype = \"bh1750\"\n[sensors.b]\ntype = \"bh1750\"\naddress = 0x5c\nquantity = \"shade_illuminance_lux\"\n"
    )
    .is_empty());
    // Its bus pins are taken like the BME280's.
    let p =
        problems("[sensors.l]\ntype = \"bh1750\"\n[sensors.r]\ntype = \"rain_gauge\"\npin = 2\n");
    assert_eq!(paths(&p), ["sensors.r.pin"]);
    assert!(
        p[0].message.contains("I2C bus 1's SDA line"),
        "{}",
        p[0].message
    );
}

#[test]
fn registered_from_config_through_the_one_match() {
    let chip = Bh1750Chip::new(0x23);
    chip.set_lux(50.0);
    let hw = light_only(&chip);
    let c = config("[sensors.light]\ntype = \"bh1750\"\nmode = \"continuous\"\n");
    let sc = &c.sensors["light"];
    assert_eq!(sc.quantities(), [Quantity::from_name("illuminance_lux")]);
    match sensors::build("light", sc, &c, &hw) {
        Driver::Polled {
            mut sensor,
            blocking,
        } => {
            assert!(blocking, "bus I/O runs on a blocking thread");
            assert_eq!(
                sensor.quantities(),
                [Quantity::from_name("illuminance_lux")]
            );
            assert_eq!(lux(sensor.as_mut()), 50.0);
        }
        Driver::Pulse(_) => panic!("a light sensor is polled"),
    }

    // A bus that cannot be opened degrades this sensor only: every read reports why.
    let c = config("[sensors.light]\ntype = \"bh1750\"\nbus = \"/dev/i2c-7\"\nquantity = \"shade_illuminance_lux\"\n");
    match sensors::build("light", &c.sensors["light"], &c, &hw) {
        Driver::Polled { mut sensor, .. } => {
            assert_eq!(
                sensor.quantities(),
                [Quantity::from_name("shade_illuminance_lux")]
            );
            let e = sensor.read().expect_err("no such bus");
            assert!(e.to_string().contains("/dev/i2c-7"), "{e}");
        }
        Driver::Pulse(_) => panic!("a light sensor is polled"),
    }
}

#[test]
fn the_example_configs_commented_table_is_valid_and_shows_the_defaults() {
    let block: Vec<&str> = EXAMPLE_TOML
        .lines()
        .skip_while(|l| !l.contains("[sensors.light]"))
        .take_while(|l| l.starts_with('#'))
        .map(|l| l.strip_prefix("#   ").unwrap_or(""))
        .collect();
    assert!(block.len() > 3, "the example documents the BH1750");
    let c = config(&block.join("\n"));
    let SensorConfig::Bh1750(b) = &c.sensors["light"] else {
        panic!("{:?}", c.sensors)
    };
    assert_eq!(
        *b,
        Bh1750Config {
            bus: "/dev/i2c-1".into(),
            address: 0x23,
            quantity: "illuminance_lux".into(),
            mode: Bh1750Mode::OneTime
        }
    );
    let defaults = config("[sensors.light]\ntype = \"bh1750\"\n");
    assert_eq!(defaults.sensors["light"], c.sensors["light"]);
}

/// `run --simulate` with a BH1750 in the config: its module puts an emulated chip on
/// the simulated bus, fed by the weather model's daylight, so the light is stored (in
/// `archive_extra`): dark at midnight, bright at noon, never saturated (the simulated
/// sensor sits behind a diffuser). A replay of a day must not sleep through the
/// driver's 180 ms waits, and finishes like any other.
#[test]
fn a_simulated_run_stores_the_simulated_daylight() {
    let sim = support::simulated::run(
        &format!("{EXAMPLE_TOML}\n[sensors.light]\ntype = \"bh1750\"\n"),
        "2026-06-21T00:00:00Z",
        "1d",
        7,
    );
    let rows = sim.query("raw");
    assert_eq!(rows.len(), 1440);
    let lux = |i: usize| {
        rows[i]["illuminance_lux"]
            .as_f64()
            .unwrap_or_else(|| panic!("no illuminance in {}", rows[i]))
    };
    // The example station is in the northern hemisphere; local solar time near UTC.
    assert_eq!(lux(0), 0.0, "midnight is dark: {}", rows[0]);
    let noon = lux(12 * 60);
    assert!(noon > 1000.0, "midsummer noon is bright: {}", rows[12 * 60]);
    let max = (0..rows.len()).map(lux).fold(0.0, f64::max);
    assert!(max < 54_612.0, "never saturated: {max}");
    // Every sample read the light: no faults, no saturation.
    for row in &rows {
        assert_eq!(row["illuminance_n"], row["samples"], "{row}");
    }
}
