//! The `analog` driver (one MCP3008 channel, scaled to a quantity the config names and
//! folded as its `aggregate` says): the exact bytes on the wire, the scaling and
//! averaging against an emulated MCP3008 through the crate's real `Mcp3008` code,
//! every config error with its key, the fold it declares, the conflicts the generic
//! pass finds, the simulated input, and a simulated run that stores the quantity.

mod support;

use embedded_hal_mock::eh1::spi::{Mock, Transaction};
use std::sync::Arc;
use support::analog::{AdcBackend, Mcp3008Chip};
use weatherd::config::{Config, ConfigError, SensorConfig, EXAMPLE_TOML};
use weatherd::hw::spi::Mcp3008;
use weatherd::hw::Backend;
use weatherd::observation::{Aggregation, Quantity};
use weatherd::sensors::analog::{Analog, AnalogConfig, Scale, Settings};
use weatherd::sensors::{self, Driver, PolledSensor};
use weatherd::sim::{SimHardware, SimTime, Weather};
use weatherd::time::Timestamp;

const STATION: &str = "[station]\nname = \"t\"\nlatitude = 52.2\nlongitude = 0.1\n";
const SPI: &str = "/dev/spidev0.0";

fn config(sensors: &str) -> Config {
    Config::from_toml(&format!("{STATION}{sensors}")).unwrap_or_else(|e| panic!("{e}\n{sensors}"))
}

fn errors(sensors: &str) -> Vec<ConfigError> {
    match Config::from_toml_all(&format!("{STATION}{sensors}")) {
        Ok(c) => panic!("expected errors, got {c:?}\n{sensors}"),
        Err(e) => e,
    }
}

/// A `[sensors.b]` analog table with the required keys, plus `extra` lines.
fn table(extra: &str) -> String {
    format!(
        "[sensors.b]\ntype = \"analog\"\nchannel = 1\nquantity = \"battery_v\"\n\
         value_at_zero = 0.0\nvalue_at_full = 16.5\n{extra}"
    )
}

fn analog_config(c: &Config) -> &AnalogConfig {
    match &c.sensors["b"] {
        SensorConfig::Analog(a) => a,
        other => panic!("not an analog input: {other:?}"),
    }
}

/// The sensor `b` of `c`, built on `hw` through the registry.
fn built(c: &Config, hw: &dyn Backend) -> Box<dyn PolledSensor> {
    match sensors::build("b", &c.sensors["b"], c, hw) {
        Driver::Polled { sensor, .. } => sensor,
        Driver::Pulse(_) => panic!("an analog input is polled"),
    }
}

fn value(sensor: &mut dyn PolledSensor) -> f64 {
    let readings = sensor.read().expect("a reading");
    assert_eq!(readings.len(), 1);
    readings[0].value
}

// ---- on the wire ---------------------------------------------------------------------

#[test]
fn each_sample_is_the_datasheet_command_on_the_configured_channel() {
    // Channel 5: start bit, then single-ended 1 and 101 → 0xd0. Four conversions for
    // `samples = 4`, nothing else on the bus (the mock fails on any other transfer).
    let reply = |count: u16| vec![0xff, 0xf8 | (count >> 8) as u8, (count & 0xff) as u8];
    let traffic: Vec<Transaction<u8>> = [600u16, 602, 604, 606]
        .iter()
        .flat_map(|&count| {
            [
                Transaction::transaction_start(),
                Transaction::transfer(vec![0x01, 0xd0, 0x00], reply(count)),
                Transaction::transaction_end(),
            ]
        })
        .collect();
    let mut spi = Mock::new(&traffic);
    let settings = Settings {
        spi: SPI.into(),
        channel: 5,
        quantity: Quantity::from_name("soil_moisture_pct"),
        scale: Scale {
            at_zero: 0.0,
            at_full: 1023.0,
        },
        aggregate: Aggregation::Mean,
        samples: 4,
    };
    let adc = Mcp3008::new(spi.clone(), 5, SPI).expect("channel 5 exists");
    let mut sensor = Analog::new(Box::new(adc), settings);
    // One unit per count: the mean of the four counts.
    assert_eq!(value(&mut sensor), 603.0);
    spi.done();
}

// ---- scaling and averaging -----------------------------------------------------------

#[test]
fn counts_scale_linearly_from_value_at_zero_to_value_at_full() {
    let chip = Mcp3008Chip::new();
    let hw = AdcBackend::new(SPI, &chip);
    let c = config(&table(""));
    let mut battery = built(&c, &hw);
    assert_eq!(battery.quantities(), [Quantity::from_name("battery_v")]);
    for (count, volts) in [(0u16, 0.0), (1023, 16.5), (62, 1.0), (775, 12.5)] {
        chip.set_count(1, count);
        let v = value(battery.as_mut());
        assert!(
            (v - volts).abs() < 1e-9,
            "count {count}: {v} V, want {volts}"
        );
    }
    // The mid count is the mid value; the vane's channel 0 was never read.
    chip.set_count(1, 1023);
    chip.queue(1, &[511, 512, 511, 512]);
    assert!((value(battery.as_mut()) - 8.25).abs() < 1e-9);
    assert_eq!(chip.conversions(0), 0);

    // A falling scale (a soil probe reads a lower voltage when wet) and negative values.
    let c = config(
        "[sensors.b]\ntype = \"analog\"\nchannel = 3\nquantity = \"soil_moisture_pct\"\n\
         value_at_zero = 100.0\nvalue_at_full = 0.0\n",
    );
    let mut soil = built(&c, &hw);
    for (count, pct) in [(0u16, 100.0), (1023, 0.0), (341, 66.666_666_666)] {
        chip.set_count(3, count);
        let v = value(soil.as_mut());
        assert!((v - pct).abs() < 1e-6, "count {count}: {v} %, want {pct}");
    }
    let c = config(
        "[sensors.b]\ntype = \"analog\"\nchannel = 2\nquantity = \"shunt_a\"\n\
         value_at_zero = -5.0\nvalue_at_full = 5.0\n",
    );
    let mut current = built(&c, &hw);
    chip.set_count(2, 0);
    assert_eq!(value(current.as_mut()), -5.0);
    // Count 0 and 1023 are values, not faults (no guessing that a sensor is stuck).
    chip.set_count(2, 1023);
    assert_eq!(value(current.as_mut()), 5.0);
}

#[test]
fn samples_are_averaged_per_read() {
    let chip = Mcp3008Chip::new();
    let hw = AdcBackend::new(SPI, &chip);
    // Default 4: ±3 counts of noise average out.
    let mut four = built(&config(&table("")), &hw);
    chip.set_count(1, 0);
    chip.queue(1, &[617, 623, 620, 620]);
    assert!((value(four.as_mut()) - 620.0 * 16.5 / 1023.0).abs() < 1e-9);
    assert_eq!(chip.conversions(1), 4);
    // samples = 1 reads once; 64 reads 64 times.
    let mut one = built(&config(&table("samples = 1\n")), &hw);
    chip.queue(1, &[100, 900]);
    assert!((value(one.as_mut()) - 100.0 * 16.5 / 1023.0).abs() < 1e-9);
    assert!((value(one.as_mut()) - 900.0 * 16.5 / 1023.0).abs() < 1e-9);
    assert_eq!(chip.conversions(1), 4 + 2);
    let mut many = built(&config(&table("samples = 64\n")), &hw);
    chip.set_count(1, 1000);
    chip.queue(1, &[0; 32]);
    assert!((value(many.as_mut()) - 500.0 * 16.5 / 1023.0).abs() < 1e-9);
    assert_eq!(chip.conversions(1), 4 + 2 + 64);
}

#[test]
fn a_vector_input_averages_unit_vectors_across_north() {
    let chip = Mcp3008Chip::new();
    let hw = AdcBackend::new(SPI, &chip);
    let c = config(
        "[sensors.b]\ntype = \"analog\"\nchannel = 2\nquantity = \"wind_dir_2_deg\"\n\
         value_at_zero = 0.0\nvalue_at_full = 360.0\naggregate = \"vector\"\n",
    );
    let mut vane = built(&c, &hw);
    // 6 and 1017 counts are 2.1° and 357.9°: north, not the 180° their plain mean is.
    chip.queue(2, &[6, 1017, 6, 1017]);
    let north = value(vane.as_mut());
    assert!(north.min(360.0 - north) < 0.01, "{north}");
    // Away from north it is the plain direction.
    chip.set_count(2, 256);
    let east = value(vane.as_mut());
    assert!((east - 256.0 * 360.0 / 1023.0).abs() < 1e-9, "{east}");
    // A count of 1023 is 360°, written as 0°.
    chip.set_count(2, 1023);
    assert_eq!(value(vane.as_mut()), 0.0);
}

// ---- faults ---------------------------------------------------------------------------

#[test]
fn an_adc_failure_is_a_fault_for_this_sensor_that_recovers() {
    let chip = Mcp3008Chip::new();
    let hw = AdcBackend::new(SPI, &chip);
    let c = config(&table(""));
    let mut battery = built(&c, &hw);
    chip.set_count(1, 775);
    assert!((value(battery.as_mut()) - 12.5).abs() < 1e-9);

    // Unplugged: MISO floats high, the whole read is a fault naming the input and the fix.
    chip.unplug(true);
    let e = battery.read().expect_err("no chip, no value");
    let text = e.to_string();
    assert!(
        text.contains("analog input `battery_v` (MCP3008 channel 1 on /dev/spidev0.0)")
            && text.contains("no answer from the MCP3008")
            && text.contains("MISO wire"),
        "{text}"
    );
    // The transfer failing in the kernel.
    chip.unplug(false);
    chip.fail_transfers(true);
    let text = battery.read().expect_err("failing transfer").to_string();
    assert!(text.contains("SPI transfer failed"), "{text}");
    // One failed conversion among the samples fails the read: no mean of the rest.
    chip.fail_transfers(false);
    assert!((value(battery.as_mut()) - 12.5).abs() < 1e-9, "recovers");

    // A device that cannot be opened degrades this sensor only: it is registered and
    // reports why on every read.
    let other = config(&table("spi = \"/dev/spidev1.0\"\n"));
    let mut broken = built(&other, &hw);
    assert_eq!(broken.quantities(), [Quantity::from_name("battery_v")]);
    let text = broken.read().expect_err("no such device").to_string();
    assert!(text.contains("/dev/spidev1.0"), "{text}");
    assert!((value(battery.as_mut()) - 12.5).abs() < 1e-9);
}

// ---- config ---------------------------------------------------------------------------

#[test]
fn every_config_error_names_its_key() {
    // (table, the key path, words of the message)
    let cases: &[(String, &str, &[&str])] = &[
        (
            "[sensors.b]\ntype = \"analog\"\nquantity = \"battery_v\"\nvalue_at_zero = 0.0\nvalue_at_full = 16.5\n"
                .into(),
            "sensors.b.channel",
            &["required key is missing"],
        ),
        (
            "[sensors.b]\ntype = \"analog\"\nchannel = 1\nvalue_at_zero = 0.0\nvalue_at_full = 16.5\n".into(),
            "sensors.b.quantity",
            &["required key is missing"],
        ),
        (
            "[sensors.b]\ntype = \"analog\"\nchannel = 1\nquantity = \"battery_v\"\nvalue_at_full = 16.5\n".into(),
            "sensors.b.value_at_zero",
            &["required key is missing"],
        ),
        (
            "[sensors.b]\ntype = \"analog\"\nchannel = 1\nquantity = \"battery_v\"\nvalue_at_zero = 0.0\n".into(),
            "sensors.b.value_at_full",
            &["required key is missing"],
        ),
        (
            table("").replace("channel = 1", "channel = 8"),
            "sensors.b.channel",
            &["from 0 to 7", "found 8"],
        ),
        (
            table("").replace("channel = 1", "channel = -1"),
            "sensors.b.channel",
            &[],
        ),
        (table("spi = \" \"\n"), "sensors.b.spi", &["must not be empty", "/dev/spidev0.0"]),
        (
            table("").replace("\"battery_v\"", "\"Battery\""),
            "sensors.b.quantity",
            &["not a valid quantity name", "unit suffix"],
        ),
        (
            table("").replace("value_at_zero = 0.0", "value_at_zero = nan"),
            "sensors.b.value_at_zero",
            &["finite"],
        ),
        (
            table("").replace("value_at_full = 16.5", "value_at_full = inf"),
            "sensors.b.value_at_full",
            &["finite"],
        ),
        (
            table("").replace("value_at_full = 16.5", "value_at_full = 0.0"),
            "sensors.b.value_at_full",
            &["must differ from value_at_zero"],
        ),
        (table("aggregate = \"average\"\n"), "sensors.b.aggregate", &["mean", "sum", "vector", "last"]),
        (
            table("aggregate = \"vector\"\n"),
            "sensors.b.aggregate",
            &["must end in `_deg`", "\"battery_v\""],
        ),
        (
            table("aggregate = \"vector\"\n")
                .replace("battery_v", "wind_dir_2_deg")
                .replace("16.5", "720.0"),
            "sensors.b.value_at_full",
            &["from 0 to 360 degrees", "720"],
        ),
        (
            table("aggregate = \"vector\"\n")
                .replace("battery_v", "wind_dir_2_deg")
                .replace("value_at_zero = 0.0", "value_at_zero = -10.0")
                .replace("16.5", "350.0"),
            "sensors.b.value_at_zero",
            &["from 0 to 360 degrees", "-10"],
        ),
        (table("samples = 0\n"), "sensors.b.samples", &["from 1 to 64", "found 0"]),
        (table("samples = 65\n"), "sensors.b.samples", &["from 1 to 64", "found 65"]),
        (table("scale = 2.0\n"), "sensors.b.scale", &["unknown key", "`value_at_full`"]),
    ];
    for (sensors, path, words) in cases {
        let all = errors(sensors);
        let e = all
            .iter()
            .find(|e| e.path == *path)
            .unwrap_or_else(|| panic!("no error at {path} in {all:?}\n{sensors}"));
        for w in *words {
            assert!(e.message.contains(w), "{path}: {:?} lacks {w:?}", e.message);
        }
        assert!(e.line.is_some(), "{path}: the error has a line: {e:?}");
    }
}

#[test]
fn the_defaults_and_the_declared_fold_follow_the_config() {
    let c = config(&table(""));
    let a = analog_config(&c);
    assert_eq!((a.spi.as_str(), a.samples), (SPI, 4));
    let battery = Quantity::from_name("battery_v");
    // No `aggregate`: mean.
    assert_eq!(a.aggregate, Aggregation::Mean);
    assert_eq!(c.sensors["b"].aggregation(&battery), Aggregation::Mean);
    for kind in Aggregation::ALL {
        let (quantity, full) = match kind {
            Aggregation::Vector => ("wind_dir_2_deg", "360.0"),
            _ => ("battery_v", "16.5"),
        };
        let c = config(
            &table(&format!("aggregate = \"{}\"\n", kind.name()))
                .replace("battery_v", quantity)
                .replace("16.5", full),
        );
        let sensor = &c.sensors["b"];
        assert_eq!(sensor.quantities(), [Quantity::from_name(quantity)]);
        assert_eq!(
            sensor.aggregation(&Quantity::from_name(quantity)),
            kind,
            "{kind}"
        );
        // Any other quantity keeps its own fold.
        assert_eq!(
            sensor.aggregation(&Quantity::RainMm),
            Aggregation::Sum,
            "{kind}"
        );
    }
}

#[test]
fn the_example_table_fits_beside_the_example_vane() {
    let block: Vec<&str> = EXAMPLE_TOML
        .lines()
        .skip_while(|l| !l.contains("[sensors.battery]"))
        .take_while(|l| l.starts_with('#'))
        .map(|l| l.strip_prefix("#   ").unwrap_or(""))
        .collect();
    assert!(block.len() > 5, "the example documents the analog input");
    let c = Config::from_toml(&format!("{EXAMPLE_TOML}\n{}\n", block.join("\n")))
        .unwrap_or_else(|e| panic!("the example with its battery uncommented: {e}"));
    let SensorConfig::Analog(b) = &c.sensors["battery"] else {
        panic!("{:?}", c.sensors["battery"])
    };
    assert_eq!(
        *b,
        AnalogConfig {
            spi: SPI.into(),
            channel: 1,
            quantity: "battery_v".into(),
            value_at_zero: 0.0,
            value_at_full: 16.5,
            aggregate: Aggregation::Last,
            samples: 4,
        }
    );
    let SensorConfig::WindVane(vane) = &c.sensors["wind_vane"] else {
        panic!("the example has a vane")
    };
    assert_ne!(vane.channel, b.channel);
}

#[test]
fn a_channel_the_vane_takes_is_refused() {
    let text = format!(
        "{EXAMPLE_TOML}\n{}",
        table("").replace("channel = 1", "channel = 0")
    );
    let all = Config::from_toml_all(&text).expect_err("two inputs on one channel");
    assert!(
        all.iter().any(|e| e.path == "sensors.b.channel"
            && e.message.contains(
                "ADC channel 0 on /dev/spidev0.0 is already used by `sensors.wind_vane.channel`"
            )),
        "{all:?}"
    );
    // Channel 0 of the MCP3008 on the other chip select is another input.
    let other = table("spi = \"/dev/spidev0.1\"\n").replace("channel = 1", "channel = 0");
    Config::from_toml(&format!("{EXAMPLE_TOML}\n{other}")).expect("another chip's channel 0");
    // Two analog inputs on one channel are refused the same way.
    let two = format!(
        "{}{}",
        table(""),
        table("")
            .replace("sensors.b", "sensors.c")
            .replace("battery_v", "panel_v")
    );
    let all = errors(&two);
    assert!(
        all.iter()
            .any(|e| e.path == "sensors.c.channel" && e.message.contains("`sensors.b.channel`")),
        "{all:?}"
    );
}

#[test]
fn a_standard_quantity_keeps_its_own_fold() {
    let standard = |name: &str, kind: &str| {
        table(&format!("aggregate = \"{kind}\"\n")).replace("battery_v", name)
    };
    let all = errors(&standard("temperature_c", "sum"));
    let e = all
        .iter()
        .find(|e| e.path == "sensors.b.quantity")
        .unwrap_or_else(|| panic!("{all:?}"));
    assert!(
        e.message.contains("as sum") && e.message.contains("keeps `temperature_c` as mean"),
        "{e}"
    );
    assert!(e.message.contains("temperature_2_c"), "{e}");
    let all = errors(&standard("rain_mm", "last"));
    assert!(
        all.iter()
            .any(|e| e.path == "sensors.b.quantity" && e.message.contains("as sum")),
        "{all:?}"
    );
    // Its own fold is fine (this station has no BME280 reporting temperature_c).
    let c = config(&standard("temperature_c", "mean"));
    assert_eq!(c.sensors["b"].quantities(), [Quantity::TemperatureC]);
    config(&standard("rain_mm", "sum"));
}

// ---- simulation -----------------------------------------------------------------------

#[test]
fn the_simulator_wires_the_configured_channel_and_leaves_the_vane_its_own() {
    let c = config(&format!(
        "{}{}",
        table(""),
        "[sensors.v]\ntype = \"wind_vane\"\nchannel = 0\n"
    ));
    let weather = Arc::new(Weather::new(5, 52.2, 20.0));
    // 2026-06-21 00:00 UTC, and its noon.
    let midnight = Timestamp::from_secs(1_782_000_000);
    let noon = Timestamp::from_secs(1_782_000_000 + 12 * 3600);
    let time = SimTime::new(midnight);
    let hw = SimHardware::new(weather.clone(), time.clone());
    for sensor in c.sensors.values() {
        sensor.simulate(&hw);
    }
    let mut battery = built(&c, &hw);
    let night = value(battery.as_mut());
    assert!(
        (night - 12.5).abs() < 0.05,
        "a resting battery at night: {night} V"
    );
    time.set(noon);
    let day = value(battery.as_mut());
    assert!(day > night + 0.3 && day < 14.2, "charging at noon: {day} V");
    // The vane's channel still carries the vane: one of its 16 counts, ±2.
    let mut vane = hw.adc_channel(SPI, 0).expect("the vane's channel");
    let count = vane.read_count().expect("a vane count");
    assert!(
        (0..16).any(
            |p| (i32::from(count) - i32::from(weatherd::sim::hardware::vane_count(p))).abs() <= 2
        ),
        "{count}"
    );
    // The same instant reads the same: runs repeat exactly.
    let again = built(&c, &hw).read().expect("a reading")[0].value;
    assert_eq!(again, day);
}

/// `run --simulate` with the example's battery and a potentiometer vane configured:
/// the module wires simulated inputs to their channels, fed by the weather model, and
/// `query` shows the battery's voltage (resting at night, charging by day) and the
/// second direction at every raw record.
#[test]
fn a_simulated_run_stores_the_analog_inputs() {
    let battery = "[sensors.battery]\ntype = \"analog\"\nchannel = 1\nquantity = \"battery_v\"\n\
                   value_at_zero = 0.0\nvalue_at_full = 16.5\naggregate = \"last\"\n";
    let pot = "[sensors.pot]\ntype = \"analog\"\nchannel = 2\nquantity = \"wind_dir_2_deg\"\n\
               value_at_zero = 0.0\nvalue_at_full = 360.0\naggregate = \"vector\"\n";
    // Station days in UTC, so the simulated day is one station day.
    let example = EXAMPLE_TOML.replace("time_zone = \"Europe/London\"", "time_zone = \"UTC\"");
    assert_ne!(example, EXAMPLE_TOML, "the example names its time zone");
    let sim = support::simulated::run(
        &format!("{example}\n{battery}{pot}"),
        "2026-06-21T00:00:00Z",
        "1d",
        11,
    );
    let rows = sim.query("raw");
    assert_eq!(rows.len(), 1440);
    let volts = |i: usize| {
        rows[i]["battery_v"]
            .as_f64()
            .unwrap_or_else(|| panic!("no battery_v in {}", rows[i]))
    };
    for (i, row) in rows.iter().enumerate() {
        let v = volts(i);
        assert!((12.4..=14.2).contains(&v), "{v} V in {row}");
        let deg = row["wind_dir_2_deg"]
            .as_f64()
            .unwrap_or_else(|| panic!("no wind_dir_2_deg in {row}"));
        assert!((0.0..360.0).contains(&deg), "{deg}° in {row}");
        // Every sample read both inputs: no faults.
        assert_eq!(row["battery_n"], row["samples"], "{row}");
        assert_eq!(row["wind_dir_2_n"], row["samples"], "{row}");
    }
    assert!(volts(0) < 12.6, "resting at midnight: {}", rows[0]);
    assert!(
        volts(12 * 60) > 13.0,
        "charging at midsummer noon: {}",
        rows[12 * 60]
    );

    // Hours and the day fold each input as configured: the battery's newest voltage
    // (not its mean), the pot vane's vector mean (not the arithmetic mean of degrees).
    let vector_mean = |raw: &[serde_json::Value]| {
        let (e, n) = raw.iter().fold((0.0, 0.0), |(e, n), r| {
            let d = r["wind_dir_2_deg"].as_f64().unwrap().to_radians();
            let w = r["wind_dir_2_n"].as_f64().unwrap();
            (e + w * d.sin(), n + w * d.cos())
        });
        f64::atan2(e, n).to_degrees().rem_euclid(360.0)
    };
    let angle = |a: f64, b: f64| {
        let d = (a - b).rem_euclid(360.0);
        d.min(360.0 - d)
    };
    for (every, per) in [("hour", 60), ("day", 1440)] {
        let spans = sim.query(every);
        assert_eq!(spans.len(), 1440 / per, "{every}");
        for (k, span) in spans.iter().enumerate() {
            let raw = &rows[k * per..(k + 1) * per];
            assert_eq!(
                span["battery_v"].as_f64(),
                Some(volts((k + 1) * per - 1)),
                "{every} {k}: the newest voltage, in {span}"
            );
            let dir = span["wind_dir_2_deg"].as_f64().unwrap();
            // `query` rounds to hundredths, the raw directions too.
            assert!(
                angle(dir, vector_mean(raw)) < 0.02,
                "{every} {k}: {dir}° is not the vector mean {}°",
                vector_mean(raw)
            );
            let lowest = raw.iter().map(|r| r["battery_min_v"].as_f64().unwrap());
            assert_eq!(
                span["battery_min_v"].as_f64(),
                lowest.reduce(f64::min),
                "{every} {k}"
            );
        }
    }
}
