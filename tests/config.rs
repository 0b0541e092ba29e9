//! The config contract: the example parses, every class of mistake is reported with
//! its key path and line, and the effective config round-trips.

use std::io::Write;
use std::path::PathBuf;
use weatherd::config::{defaults, Config, ConfigError, SensorConfig, EXAMPLE_TOML};
use weatherd::sensors::Claim;

const STATION: &str = "[station]\nname = \"Test\"\nlatitude = 52.0\nlongitude = 0.1\n";

/// The standard sensors, as in the example but short, for conflict tests.
const SENSORS: &str = r#"
[sensors.bme280]
type = "bme280"

[sensors.anemometer]
type = "anemometer"

[sensors.rain]
type = "rain_gauge"
"#;

fn err(text: &str) -> ConfigError {
    match Config::from_toml(text) {
        Ok(c) => panic!("expected an error, got {c:?}"),
        Err(e) => e,
    }
}

/// The 1-based line of the first line of `text` containing `needle`.
fn line_of(text: &str, needle: &str) -> usize {
    text.lines()
        .position(|l| l.contains(needle))
        .expect("needle in text")
        + 1
}

fn assert_error(e: &ConfigError, path: &str, line: Option<usize>, words: &[&str]) {
    assert_eq!(e.path, path, "path of: {e}");
    assert_eq!(e.line, line, "line of: {e}");
    let shown = e.to_string();
    assert!(
        shown.contains(&format!("`{path}`")),
        "display names the path: {shown}"
    );
    if let Some(l) = line {
        assert!(
            shown.starts_with(&format!("line {l}: ")),
            "display names the line: {shown}"
        );
    }
    for w in words {
        assert!(shown.contains(w), "{shown:?} should contain {w:?}");
    }
}

#[test]
fn example_is_the_standard_school_build() {
    let c = Config::from_toml(EXAMPLE_TOML).expect("example parses");
    assert_eq!(c, Config::example());
    assert_eq!(c.sample_interval_seconds, 5);
    assert_eq!(c.archive_interval_seconds, 60);
    assert_eq!(c.station.time_zone, "Europe/London");
    assert_eq!(c.time_zone(), chrono_tz::Europe::London);
    assert_eq!(
        c.database.path,
        PathBuf::from("/var/lib/weatherd/weather.db")
    );
    let names: Vec<&str> = c.sensors.keys().map(String::as_str).collect();
    assert_eq!(
        names,
        ["anemometer", "bme280", "ground", "rain", "wind_vane"]
    );
    match &c.sensors["bme280"] {
        SensorConfig::Bme280(b) => {
            assert_eq!((b.bus.as_str(), b.address), ("/dev/i2c-1", 0x77));
            // Bosch's weather-monitoring setting (datasheet 3.5.1).
            assert_eq!(
                (
                    b.oversampling_temperature,
                    b.oversampling_pressure,
                    b.oversampling_humidity,
                    b.iir_filter_coefficient
                ),
                (1, 1, 1, 0)
            );
        }
        other => panic!("bme280 is {other:?}"),
    }
    match &c.sensors["ground"] {
        SensorConfig::Ds18b20(d) => {
            assert_eq!((d.pin, d.quantity.as_str()), (4, "ground_temperature_c"))
        }
        other => panic!("ground is {other:?}"),
    }
    match &c.sensors["anemometer"] {
        SensorConfig::Anemometer(a) => assert_eq!((a.pin, a.kmh_per_hz), (5, 2.4)),
        other => panic!("anemometer is {other:?}"),
    }
    match &c.sensors["rain"] {
        SensorConfig::RainGauge(r) => assert_eq!((r.pin, r.mm_per_tip), (6, 0.2794)),
        other => panic!("rain is {other:?}"),
    }
    match &c.sensors["wind_vane"] {
        SensorConfig::WindVane(v) => {
            assert_eq!((v.spi.as_str(), v.channel), ("/dev/spidev0.0", 0));
            assert_eq!(v.table, weatherd::sensors::wind_vane::defaults::table());
        }
        other => panic!("wind_vane is {other:?}"),
    }
}

/// The commented-out keys document the defaults: uncommenting every one of them
/// must give a valid config whose values equal the defaults.
#[test]
fn commented_out_examples_parse_and_show_the_defaults() {
    let uncommented: String = EXAMPLE_TOML
        .lines()
        .map(|line| {
            let rest = line.strip_prefix("# ").unwrap_or(line);
            let is_header = rest.starts_with('[')
                && rest.ends_with(']')
                && rest
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b"[]._".contains(&b));
            let is_toml = is_header
                || rest.starts_with("    {")
                || rest == "]"
                || rest.split_once(" = ").is_some_and(|(k, _)| {
                    !k.is_empty() && k.bytes().all(|b| b.is_ascii_lowercase() || b == b'_')
                });
            if is_toml {
                rest
            } else {
                line
            }
        })
        .collect::<Vec<_>>()
        .join("\n");
    assert_ne!(
        uncommented, EXAMPLE_TOML,
        "the example has commented-out keys"
    );
    let mut c = Config::from_toml(&uncommented).unwrap_or_else(|e| panic!("{e}\n{uncommented}"));
    assert_eq!(c.calibration["temperature_c"], -0.3);
    assert_eq!(
        (c.qc["temperature_c"].min, c.qc["temperature_c"].max),
        (-40.0, 50.0)
    );
    match c.sensors.get_mut("ground") {
        Some(SensorConfig::Ds18b20(d)) => {
            assert_eq!(d.id, "28-0316a2794aff");
            d.id.clear();
        }
        other => panic!("ground is {other:?}"),
    }
    // The example upload tables, uncommented, are valid and show the defaults.
    assert!(c.upload.len() >= 7, "{:?}", c.upload);
    // The weather networks' tables, with their documented default intervals.
    for (name, interval) in [("wu", 300), ("wow", 300), ("cwop", 600), ("windy", 300)] {
        let u = c.upload.iter().find(|u| u.name() == name).expect(name);
        assert!(u.is_current_conditions(), "{name}");
        let effective = toml::Value::try_from(u).expect("serializes");
        assert_eq!(
            effective["interval_seconds"].as_integer(),
            Some(interval),
            "{name}"
        );
    }
    match &c.upload[0] {
        weatherd::upload::UploadConfig::Http(h) => {
            assert_eq!(h.name, "school-server");
            assert_eq!(
                h.common.timeout_seconds,
                weatherd::upload::defaults::timeout_seconds()
            );
            assert_eq!(
                h.common.batch_size,
                weatherd::upload::http::DEFAULT_BATCH_SIZE
            );
        }
        other => panic!("upload[0] is {other:?}"),
    }
    match &c.upload[1] {
        weatherd::upload::UploadConfig::Mqtt(m) => {
            assert_eq!(m.host, "mqtt.example.org");
            assert_eq!(m.topic, weatherd::upload::mqtt::defaults::topic());
        }
        other => panic!("upload[1] is {other:?}"),
    }
    match c
        .upload
        .iter()
        .find(|u| matches!(u, weatherd::upload::UploadConfig::Influxdb(_)))
    {
        Some(weatherd::upload::UploadConfig::Influxdb(i)) => {
            assert_eq!(i.bucket.as_deref(), Some("weather"));
            assert_eq!(i.measurement, "weather");
            assert_eq!(i.api, weatherd::upload::influxdb::InfluxApi::V2);
            assert_eq!(
                i.common.batch_size,
                weatherd::upload::influxdb::DEFAULT_BATCH_SIZE
            );
        }
        other => panic!("the influxdb example is {other:?}"),
    }
    c.calibration.clear();
    c.qc.clear();
    c.upload.clear();
    // `listen` unset means the station default (127.0.0.1 under --simulate); the
    // example spells the station default out.
    assert_eq!(
        c.web.listen.as_deref(),
        Some(Config::example().web.listen_or_default(false))
    );
    c.web.listen = None;
    assert_eq!(
        c,
        Config::example(),
        "commented-out values equal the defaults"
    );
    assert_eq!(c.sensor_timeout_ms, defaults::sensor_timeout_ms());
}

#[test]
fn minimal_config_gets_defaults() {
    let c = Config::from_toml(STATION).expect("just [station] is enough");
    assert_eq!(
        c.sample_interval_seconds,
        defaults::sample_interval_seconds()
    );
    assert_eq!(
        c.archive_interval_seconds,
        defaults::archive_interval_seconds()
    );
    assert_eq!(c.sensor_timeout_ms, defaults::sensor_timeout_ms());
    assert_eq!(c.station.time_zone, "UTC");
    assert_eq!(c.station.elevation_m, 0.0);
    assert_eq!(c.database.path, defaults::database_path());
    assert!(c.sensors.is_empty() && c.calibration.is_empty() && c.qc.is_empty());

    let c = Config::from_toml(&format!("{STATION}[sensors.w]\ntype = \"wind_vane\"\n"))
        .expect("parses");
    match &c.sensors["w"] {
        SensorConfig::WindVane(v) => {
            assert_eq!(v.divider_ohm, 4700.0);
            assert_eq!(v.reads_per_sample, 5);
            assert_eq!(v.table.len(), 16);
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn effective_config_round_trips() {
    for text in [EXAMPLE_TOML.to_string(), STATION.to_string(), format!("{STATION}{SENSORS}\n[calibration]\ntemperature_c = 0.5\n[qc.humidity_pct]\nmin = 0.0\nmax = 100.0\n")] {
        let c = Config::from_toml(&text).expect("parses");
        let rendered = c.render_effective();
        let again = Config::from_toml(&rendered).unwrap_or_else(|e| panic!("{e}\n{rendered}"));
        assert_eq!(again, c, "{rendered}");
        assert_eq!(c.to_toml(), rendered);
    }
    let rendered = Config::example().render_effective();
    assert!(rendered.contains("type = \"wind_vane\""), "{rendered}");
    assert!(rendered.contains("address = 0x77"), "{rendered}");
    assert!(
        rendered.contains("sensor_timeout_ms = 2000"),
        "defaults are shown: {rendered}"
    );
}

#[test]
fn unknown_top_level_key() {
    let text = format!("sample_interval = 5\n{STATION}");
    let e = err(&text);
    assert_error(
        &e,
        "sample_interval",
        Some(1),
        &["unknown key", "did you mean `sample_interval_seconds`?"],
    );
}

#[test]
fn unknown_key_inside_a_sensor_table() {
    let text = format!("{STATION}\n[sensors.anemometer]\ntype = \"anemometer\"\npinn = 5\n");
    let e = err(&text);
    assert_error(
        &e,
        "sensors.anemometer.pinn",
        Some(line_of(&text, "pinn")),
        &["unknown key", "`pin`"],
    );
}

#[test]
fn wrong_type() {
    let text = format!("{STATION}\n[sensors.anemometer]\ntype = \"anemometer\"\npin = \"five\"\n");
    let e = err(&text);
    assert_error(
        &e,
        "sensors.anemometer.pin",
        Some(line_of(&text, "\"five\"")),
        &["wrong type", "\"five\""],
    );
}

#[test]
fn missing_required_key() {
    let text = "sample_interval_seconds = 5\n\n[station]\nlatitude = 52.0\nlongitude = 0.1\n";
    let e = err(text);
    // The key is absent, so the line is that of the table that should hold it.
    assert_error(&e, "station.name", Some(3), &["required key is missing"]);
    assert_error(
        &err("sample_interval_seconds = 5\n"),
        "station",
        None,
        &["missing"],
    );
}

#[test]
fn unknown_sensor_type() {
    let text = format!("{STATION}[sensors.rain]\ntype = \"raingauge\"\n");
    let e = err(&text);
    assert_error(
        &e,
        "sensors.rain.type",
        Some(line_of(&text, "raingauge")),
        &[
            "unknown sensor type \"raingauge\"",
            "\"bme280\", \"ds18b20\", \"wind_vane\", \"anemometer\", \"rain_gauge\"",
            "did you mean `rain_gauge`?",
        ],
    );
}

#[test]
fn archive_interval_not_a_multiple_of_sample_interval() {
    let text = format!("sample_interval_seconds = 10\narchive_interval_seconds = 45\n{STATION}");
    let e = err(&text);
    assert_error(
        &e,
        "archive_interval_seconds",
        Some(2),
        &["multiple of sample_interval_seconds (10 s)", "45"],
    );
}

#[test]
fn archive_interval_not_dividing_a_day() {
    let text = format!("sample_interval_seconds = 5\narchive_interval_seconds = 7000\n{STATION}");
    let e = err(&text);
    assert_error(
        &e,
        "archive_interval_seconds",
        Some(2),
        &["divide a day (86400 s)", "7000"],
    );
    let e = err(&format!(
        "sample_interval_seconds = 7\narchive_interval_seconds = 70\n{STATION}"
    ));
    assert_error(&e, "sample_interval_seconds", Some(1), &["divide a day"]);
}

#[test]
fn sensor_timeout_must_be_shorter_than_the_sample_interval() {
    let text = format!("sensor_timeout_ms = 5000\n{STATION}");
    assert_error(
        &err(&text),
        "sensor_timeout_ms",
        Some(1),
        &["less than the sample interval (5000 ms)"],
    );
}

#[test]
fn bad_time_zone_shows_the_value() {
    let text = format!("{STATION}time_zone = \"Europe/Londn\"\n");
    let e = err(&text);
    assert_error(
        &e,
        "station.time_zone",
        Some(5),
        &["\"Europe/Londn\"", "did you mean `Europe/London`?"],
    );
}

#[test]
fn station_ranges() {
    let text = "[station]\nname = \"  \"\nlatitude = 95.0\nlongitude = 0.1\n";
    let all = Config::from_toml_all(text).expect_err("two problems");
    let paths: Vec<&str> = all.iter().map(|e| e.path.as_str()).collect();
    assert_eq!(paths, ["station.name", "station.latitude"]);
    assert_eq!(all[1].line, Some(3));
    assert!(all[1].message.contains("from -90 to 90"), "{}", all[1]);
}

#[test]
fn pin_conflict_names_both_sensors() {
    let text = format!("{STATION}{SENSORS}pin = 5\n");
    let e = err(&text);
    // The rain gauge, written after the anemometer, is the one reported.
    let anemometer_line = line_of(&text, "[sensors.anemometer]");
    assert_error(
        &e,
        "sensors.rain.pin",
        Some(text.lines().count()),
        &[
            "GPIO 5",
            &format!("`sensors.anemometer.pin` (line {anemometer_line})"),
        ],
    );
}

#[test]
fn ds18b20_may_not_share_a_pulse_pin_but_probes_share_their_bus() {
    let text = format!("{STATION}{SENSORS}\n[sensors.ground]\ntype = \"ds18b20\"\npin = 6\n");
    assert_error(
        &err(&text),
        "sensors.ground.pin",
        Some(text.lines().count()),
        &["`sensors.rain.pin`"],
    );
    let two_probes = format!(
        "{STATION}[sensors.a]\ntype = \"ds18b20\"\nid = \"28-0316a2794aff\"\n\
         [sensors.b]\ntype = \"ds18b20\"\nid = \"28-0316a2794b00\"\nquantity = \"soil_temperature_c\"\n"
    );
    Config::from_toml(&two_probes).expect("two probes on one 1-Wire pin are fine");
}

#[test]
fn i2c_bus_and_address_conflict() {
    let text = format!("{STATION}{SENSORS}\n[sensors.second]\ntype = \"bme280\"\naddress = 0x77\n");
    let all = Config::from_toml_all(&text).expect_err("conflicts");
    let e = all
        .iter()
        .find(|e| e.path.ends_with("address"))
        .expect("an address conflict");
    assert_error(
        e,
        "sensors.second.address",
        Some(text.lines().count()),
        &["I2C address 0x77 on /dev/i2c-1", "`sensors.bme280.address`"],
    );
    // The second BME280 also duplicates the first one's quantities.
    assert!(all
        .iter()
        .any(|e| e.path == "sensors.second.type" && e.message.contains("`temperature_c`")));
}

#[test]
fn duplicated_quantity() {
    let text = format!(
        "{STATION}[sensors.inside]\ntype = \"bme280\"\naddress = 0x76\n[sensors.outside]\ntype = \"bme280\"\nbus = \"/dev/i2c-3\"\n"
    );
    let e = err(&text);
    assert_error(
        &e,
        "sensors.outside.type",
        Some(line_of(&text, "[sensors.outside]") + 1),
        &["reports `temperature_c`", "`sensors.inside.type` (line 6)"],
    );
    let text = format!("{STATION}[sensors.g1]\ntype = \"ds18b20\"\n[sensors.g2]\ntype = \"ds18b20\"\nid = \"28-0000000000ab\"\n");
    let all = Config::from_toml_all(&text).expect_err("duplicates");
    assert!(
        all.iter()
            .any(|e| e.path == "sensors.g2.quantity" && e.message.contains("ground_temperature_c")),
        "{all:?}"
    );
    assert!(all.iter().any(|e| e.path == "sensors.g1.id"), "{all:?}");
}

#[test]
fn only_one_anemometer() {
    let text =
        format!("{STATION}{SENSORS}\n[sensors.second_cups]\ntype = \"anemometer\"\npin = 17\n");
    let e = err(&text);
    assert_error(
        &e,
        "sensors.second_cups.type",
        Some(line_of(&text, "second_cups") + 1),
        &["only one anemometer", "`sensors.anemometer.type`"],
    );
}

#[test]
fn bad_qc_limits() {
    let text = format!("{STATION}\n[qc.temperature_c]\nmin = 60.0\nmax = -60.0\n");
    let e = err(&text);
    assert_error(
        &e,
        "qc.temperature_c.min",
        Some(line_of(&text, "min = 60")),
        &["less than max (-60)"],
    );
}

#[test]
fn bad_quantity_name_in_calibration() {
    let text = format!("{STATION}\n[calibration]\nTemperature = 0.5\n");
    let e = err(&text);
    assert_error(
        &e,
        "calibration.Temperature",
        Some(line_of(&text, "Temperature")),
        &["not a valid quantity name"],
    );
}

#[test]
fn nan_and_infinity_are_rejected() {
    let text = format!("{STATION}\n[calibration]\ntemperature_c = nan\n");
    assert_error(
        &err(&text),
        "calibration.temperature_c",
        Some(line_of(&text, "nan")),
        &["finite", "NaN"],
    );
    let text = format!("{STATION}\n[qc.pressure_hpa]\nmin = 300.0\nmax = inf\n");
    assert_error(
        &err(&text),
        "qc.pressure_hpa.max",
        Some(line_of(&text, "inf")),
        &["finite", "inf"],
    );
    let text = "[station]\nname = \"x\"\nlatitude = -inf\nlongitude = 0.0\n";
    assert_error(&err(text), "station.latitude", Some(3), &["finite"]);
}

#[test]
fn sensor_value_checks_explain_themselves() {
    let cases: &[(&str, &str, &[&str])] = &[
        ("[sensors.a]\ntype = \"anemometer\"\ndebounce_ms = 8.0\n", "sensors.a.debounce_ms", &["less than 5 ms", "240 km/h"]),
        ("[sensors.a]\ntype = \"anemometer\"\nkmh_per_hz = 0.0\n", "sensors.a.kmh_per_hz", &["greater than 0"]),
        ("[sensors.a]\ntype = \"anemometer\"\npin = 29\n", "sensors.a.pin", &["0 to 27", "BCM number is 5"]),
        ("[sensors.r]\ntype = \"rain_gauge\"\ndebounce_ms = 0.0\n", "sensors.r.debounce_ms", &["phantom rain"]),
        ("[sensors.b]\ntype = \"bme280\"\naddress = 0x40\n", "sensors.b.address", &["0x76", "0x77", "i2cdetect"]),
        ("[sensors.b]\ntype = \"bme280\"\naddress = 0x02\n", "sensors.b.address", &["0x03 to 0x77"]),
        ("[sensors.b]\ntype = \"bme280\"\noversampling_temperature = 3\n", "sensors.b.oversampling_temperature", &["1, 2, 4, 8 or 16", "found 3"]),
        ("[sensors.b]\ntype = \"bme280\"\noversampling_pressure = 0\n", "sensors.b.oversampling_pressure", &["1, 2, 4, 8 or 16", "found 0"]),
        ("[sensors.b]\ntype = \"bme280\"\noversampling_humidity = 32\n", "sensors.b.oversampling_humidity", &["1, 2, 4, 8 or 16", "found 32"]),
        ("[sensors.b]\ntype = \"bme280\"\niir_filter_coefficient = 1\n", "sensors.b.iir_filter_coefficient", &["0 (filter off", "2, 4, 8 or 16", "found 1"]),
        ("[sensors.g]\ntype = \"ds18b20\"\nid = \"28-12\"\n", "sensors.g.id", &["12 hex digits", "\"28-12\""]),
        ("[sensors.g]\ntype = \"ds18b20\"\nquantity = \"ground\"\n", "sensors.g.quantity", &["not a valid quantity name"]),
        ("[sensors.v]\ntype = \"wind_vane\"\nchannel = 8\n", "sensors.v.channel", &["0 to 7"]),
        ("[sensors.v]\ntype = \"wind_vane\"\nreads_per_sample = 0\n", "sensors.v.reads_per_sample", &["1 to 100"]),
        ("[sensors.v]\ntype = \"wind_vane\"\ntable = [{ deg = 0.0, ohm = 100.0 }]\n", "sensors.v.table", &["at least 2"]),
        (
            "[sensors.v]\ntype = \"wind_vane\"\ntable = [\n{ deg = 0.0, ohm = 100.0 },\n{ deg = 0.0, ohm = 900.0 },\n]\n",
            "sensors.v.table[1].deg",
            &["already listed at `sensors.v.table[0].deg` (line 8)"],
        ),
        (
            "[sensors.v]\ntype = \"wind_vane\"\ntable = [\n{ deg = 0.0, ohm = 100.0 },\n{ deg = 90.0, ohm = 100.5 },\n]\n",
            "sensors.v.table[1].ohm",
            &["same ADC count", "cannot be told apart"],
        ),
        ("[sensors.v]\ntype = \"wind_vane\"\ntable = [{ deg = 0.0, ohm = 1.0 }, { deg = 360.0, ohm = 5.0 }]\n", "sensors.v.table[1].deg", &["less than 360"]),
        ("[sensors.v]\ntype = \"wind_vane\"\nsupply_v = -3.3\n", "sensors.v.supply_v", &["greater than 0"]),
    ];
    for (sensor, path, words) in cases {
        let text = format!("{STATION}{sensor}");
        let e = err(&text);
        assert_eq!(e.path, *path, "{e}");
        assert!(e.line.is_some(), "{e}");
        for w in *words {
            assert!(e.to_string().contains(w), "{e} should contain {w:?}");
        }
    }
}

#[test]
fn pulse_sensor_on_a_bus_pin_conflicts_with_the_bus() {
    let text = format!(
        "{STATION}[sensors.b]\ntype = \"bme280\"\n[sensors.a]\ntype = \"anemometer\"\npin = 3\n"
    );
    assert_error(
        &err(&text),
        "sensors.a.pin",
        Some(text.lines().count()),
        &["SCL", "`sensors.b.bus`"],
    );
}

#[test]
fn syntax_errors_have_a_line() {
    let text = format!("{STATION}elevation_m = = 3\n");
    let e = err(&text);
    assert_eq!(e.line, Some(5), "{e}");
    assert_eq!(e.path, "");
    let e = err(&format!("{STATION}name = \"twice\"\n"));
    assert_eq!(e.line, Some(5), "{e}");
    assert!(e.message.contains("duplicate key"), "{e}");
}

#[test]
fn load_names_the_file() {
    let mut file = tempfile::NamedTempFile::new().expect("temp file");
    write!(
        file,
        "{STATION}\n[sensors.anemometer]\ntype = \"anemometer\"\npinn = 5\n"
    )
    .expect("write");
    let e = Config::load(file.path()).expect_err("unknown key");
    let shown = e.to_string();
    let expected = format!(
        "{}:8: `sensors.anemometer.pinn`: unknown key",
        file.path().display()
    );
    assert!(shown.starts_with(&expected), "{shown}");

    let e = Config::load(&file.path().with_extension("missing")).expect_err("no file");
    assert!(e.to_string().contains("cannot read the config file"), "{e}");
}

#[test]
fn validate_reports_without_the_text() {
    let mut c = Config::example();
    c.archive_interval_seconds = 61;
    let e = c.validate().expect_err("61 is not a multiple of 5");
    assert_eq!(
        (e.path.as_str(), e.line),
        ("archive_interval_seconds", None)
    );
    assert!(Config::example().validate().is_ok());
}

const UPLOADS_OK: &str = r#"
[[upload]]
type = "http"
name = "school-server"
url = "https://weather.example.org/api/upload"
token_file = "/etc/weatherd/upload-token"

[[upload]]
type = "mqtt"
name = "broker"
host = "mqtt.example.org"
tls = true
"#;

#[test]
fn uploads_parse_with_defaults() {
    let c = Config::from_toml(&format!("{STATION}{UPLOADS_OK}")).expect("valid");
    assert_eq!(c.upload.len(), 2);
    match &c.upload[0] {
        weatherd::upload::UploadConfig::Http(h) => {
            assert_eq!(h.common.batch_size, 500);
            assert_eq!(h.common.timeout_seconds, 30);
            assert!(!h.allow_plain_http);
        }
        other => panic!("{other:?}"),
    }
    // The effective config round-trips, uploads included.
    assert_eq!(Config::from_toml(&c.to_toml()).unwrap(), c);
}

#[test]
fn every_upload_problem_is_reported_with_its_path() {
    let text = format!(
        r#"{STATION}
[[upload]]
type = "http"
name = "a"
url = "ftp://example.org/x"
token_file = "/t"
token_credential = "tok"
batch_size = 0
backoff_initial_seconds = 60
backoff_max_seconds = 10

[[upload]]
type = "http"
name = "a"
url = "http://192.168.1.20/ingest"

[[upload]]
type = "mqtt"
name = "bad name!"
host = "mqtt://broker"
port = 0
topic = "weather/+/archive"
latest_topic = ""
keep_alive_seconds = 1
"#
    );
    let all = Config::from_toml_all(&text).expect_err("problems");
    let paths: Vec<&str> = all.iter().map(|e| e.path.as_str()).collect();
    for p in [
        "upload[0].url",
        "upload[0].token_credential",
        "upload[0].batch_size",
        "upload[0].backoff_max_seconds",
        "upload[1].name",
        "upload[1].url",
        "upload[2].name",
        "upload[2].host",
        "upload[2].port",
        "upload[2].topic",
        "upload[2].latest_topic",
        "upload[2].keep_alive_seconds",
    ] {
        assert!(paths.contains(&p), "{p} missing from {paths:?}");
    }
    let find = |p: &str| all.iter().find(|e| e.path == p).unwrap();
    assert_error(
        find("upload[1].name"),
        "upload[1].name",
        Some(line_of(&text, "name = \"a\"") + 10),
        &["already the name of `upload[0].name` (line"],
    );
    assert!(find("upload[1].url").message.contains("allow_plain_http"));
    assert!(find("upload[2].topic").message.contains("wildcards"));
    assert!(find("upload[0].backoff_max_seconds")
        .message
        .contains("at least backoff_initial_seconds (60)"));
}

#[test]
fn plain_http_is_fine_to_this_machine_or_with_the_opt_in() {
    for extra in [
        "url = \"http://127.0.0.1:8080/x\"\n",
        "url = \"http://localhost/x\"\n",
        "url = \"http://10.1.2.3/x\"\nallow_plain_http = true\n",
    ] {
        let text = format!("{STATION}[[upload]]\ntype = \"http\"\nname = \"x\"\n{extra}");
        Config::from_toml(&text).unwrap_or_else(|e| panic!("{extra}: {e}"));
    }
}

#[test]
fn unknown_upload_keys_and_types_are_errors() {
    let e = err(&format!(
        "{STATION}[[upload]]\ntype = \"http\"\nname = \"x\"\nurl = \"https://a/\"\ntoken = \"secret\"\n"
    ));
    assert_eq!(e.path, "upload[0].token");
    let e = err(&format!(
        "{STATION}[[upload]]\ntype = \"htp\"\nname = \"x\"\n"
    ));
    assert_eq!(e.path, "upload[0].type");
    assert!(e.message.contains("http"), "{e}");
}

/// What a sensor takes that another may not: an I2C address on a bus, or a GPIO line
/// (its own, or one of the bus lines its I2C or SPI device takes).
#[derive(Clone, Debug, PartialEq)]
enum Taken {
    I2c { bus: String, address: u8 },
    Pin { pin: u8, one_wire: bool },
}

/// The key lines of the smallest valid table of type `t`: `type` alone when every
/// other key has a default, else the type's example table (an analog input needs its
/// channel, quantity and scale), without `skip`'s keys.
fn smallest_table(t: &str, skip: &[&str]) -> String {
    let bare = format!("type = \"{t}\"\n");
    if Config::from_toml(&format!("{STATION}[sensors.s]\n{bare}")).is_ok() {
        return bare;
    }
    let (_, example) = SensorConfig::EXAMPLES
        .iter()
        .find(|(name, _)| *name == t)
        .unwrap_or_else(|| panic!("{t} has an example table"));
    example
        .trim()
        .lines()
        .skip(1)
        .filter(|l| {
            !skip
                .iter()
                .any(|k| l.split('=').next().map(str::trim) == Some(*k))
        })
        .map(|l| format!("{l}\n"))
        .collect()
}

/// The claims of a sensor of type `t` with every default (or its example's values for
/// keys without one), through the public API.
fn default_claims(t: &str) -> Vec<Claim> {
    let c = Config::from_toml(&format!("{STATION}[sensors.s]\n{}", smallest_table(t, &[])))
        .unwrap_or_else(|e| panic!("a default {t} is valid: {e}"));
    c.sensors["s"].claims()
}

fn taken(claims: &[Claim]) -> Vec<Taken> {
    let mut out = Vec::new();
    for claim in claims {
        match claim {
            Claim::I2c { bus, address, .. } => out.push(Taken::I2c {
                bus: bus.clone(),
                address: *address,
            }),
            Claim::Gpio { pin, one_wire, .. } => out.push(Taken::Pin {
                pin: *pin,
                one_wire: *one_wire,
            }),
            _ => {}
        }
        for (pin, _) in claim.bus_pins().map(|(_, pins)| pins).unwrap_or_default() {
            out.push(Taken::Pin {
                pin,
                one_wire: false,
            });
        }
    }
    out
}

/// The keys (and TOML values) that make a sensor whose default claims are `claims`
/// take `want` instead, if it can claim that kind of thing at all.
fn overrides_to_take(claims: &[Claim], want: &Taken) -> Option<(String, String)> {
    claims.iter().find_map(|claim| match (claim, want) {
        (
            Claim::I2c {
                bus_key,
                address_key,
                ..
            },
            Taken::I2c { bus, address },
        ) => Some((
            format!("{bus_key} = \"{bus}\"\n{address_key} = {address}\n"),
            address_key.to_string(),
        )),
        // Two 1-Wire pins may share a line; anything else may not.
        (
            Claim::Gpio { key, one_wire, .. },
            Taken::Pin {
                pin,
                one_wire: theirs,
            },
        ) if !(*one_wire && *theirs) => Some((format!("{key} = {pin}\n"), key.to_string())),
        _ => None,
    })
}

/// Issue 10: conflicts are found from what components claim, for every registered
/// driver. For each type, each I2C address and GPIO line its default config takes is
/// first claimed by another sensor (of every type able to claim it, its own type
/// included), and the config must then be rejected with an error about exactly that
/// address or line. Nothing here names a driver: it walks the registry.
#[test]
fn every_driver_is_refused_a_resource_another_sensor_claimed() {
    assert!(!SensorConfig::TYPES.is_empty());
    for &t in SensorConfig::TYPES {
        let resources = taken(&default_claims(t));
        assert!(
            !resources.is_empty(),
            "{t} claims no I2C address or GPIO line, so nothing stops two sensors sharing its hardware"
        );
        for want in &resources {
            let mut rivals = 0;
            for &u in SensorConfig::TYPES {
                let Some((keys, key)) = overrides_to_take(&default_claims(u), want) else {
                    continue;
                };
                let overridden: Vec<&str> = keys
                    .lines()
                    .filter_map(|l| l.split('=').next().map(str::trim))
                    .collect();
                let first = format!("[sensors.first]\n{}{keys}", smallest_table(u, &overridden));
                // Only rivals valid on their own, so the rejection is the conflict's.
                if Config::from_toml(&format!("{STATION}{first}")).is_err() {
                    continue;
                }
                rivals += 1;
                let text = format!(
                    "{STATION}{first}[sensors.second]\n{}",
                    smallest_table(t, &[])
                );
                let errors = Config::from_toml_all(&text)
                    .err()
                    .unwrap_or_else(|| panic!("{t} after a {u} taking {want:?} was accepted"));
                let about_it = errors.iter().any(|e| match want {
                    Taken::I2c { address, .. } => {
                        e.path.starts_with("sensors.second.")
                            && e.message.contains(&format!("I2C address {address:#04x}"))
                            && e.message.contains(&format!("`sensors.first.{key}`"))
                    }
                    // Reported on whichever claims the line as a plain GPIO, citing the other.
                    Taken::Pin { pin, .. } => {
                        let cites = if e.path.starts_with("sensors.second.") {
                            "`sensors.first."
                        } else if e.path == format!("sensors.first.{key}") {
                            "`sensors.second."
                        } else {
                            return false;
                        };
                        e.message.starts_with(&format!("GPIO {pin} is "))
                            && e.message.contains(cites)
                    }
                });
                assert!(
                    about_it,
                    "{t} after a {u} taking {want:?}: no error about it in {errors:?}"
                );
            }
            assert!(
                rivals > 0,
                "no registered sensor can take {want:?} from {t}"
            );
        }
    }
}

/// Issue 10: the shared upload settings are defined and read once, for every
/// registered destination. For each `type` in the registry (nothing here names one):
/// its smallest table gets every shared key at the shared default (the batch size at
/// the type's own); every shared key is accepted and read; an unknown key, or a
/// shared key of the wrong type, is refused with its key path and line, and the
/// unknown key's message lists the shared keys as allowed; the effective config
/// round-trips them; and the shared range checks apply.
#[test]
fn every_destination_gets_the_shared_upload_settings() {
    use weatherd::upload::{defaults, Common, UploadConfig};
    assert!(!UploadConfig::TYPES.is_empty());
    for &t in UploadConfig::TYPES {
        let minimal = UploadConfig::minimal_table(t).expect("registered");
        let batch = UploadConfig::default_batch_size(t).expect("registered");
        let head = format!("{STATION}\n[[upload]]\ntype = \"{t}\"\nname = \"d\"\n{minimal}");

        let c = Config::from_toml(&head).unwrap_or_else(|e| panic!("{t}: {e}"));
        assert_eq!(c.upload[0].type_name(), t);
        let common = c.upload[0].common();
        assert_eq!(common.timeout_seconds, defaults::timeout_seconds(), "{t}");
        assert_eq!(common.timeout_seconds, 30, "{t}");
        assert_eq!(common.batch_max_age_seconds, 60, "{t}");
        assert_eq!(common.backoff_initial_seconds, 5, "{t}");
        assert_eq!(common.backoff_max_seconds, 1800, "{t}");
        assert_eq!(common.batch_size, batch, "{t}");
        assert_eq!(common, Common::defaults(batch), "{t}");

        let set = "timeout_seconds = 7\nbatch_size = 11\nbatch_max_age_seconds = 13\n\
                   backoff_initial_seconds = 17\nbackoff_max_seconds = 19\n";
        let c = Config::from_toml(&format!("{head}{set}")).unwrap_or_else(|e| panic!("{t}: {e}"));
        let want = Common {
            timeout_seconds: 7,
            batch_size: 11,
            batch_max_age_seconds: 13,
            backoff_initial_seconds: 17,
            backoff_max_seconds: 19,
        };
        assert_eq!(c.upload[0].common(), want, "{t}");
        let rendered = c.to_toml();
        for key in Common::KEYS {
            assert!(
                rendered.contains(&format!("{key} = ")),
                "{t}: {key} not in\n{rendered}"
            );
        }
        assert_eq!(Config::from_toml(&rendered).expect("round trip"), c, "{t}");

        let text = format!("{head}batch_size = 20\nbatch_sise = 20\n");
        let e = err(&text);
        let mut words = vec!["unknown key", "did you mean `batch_size`?"];
        let listed: Vec<String> = Common::KEYS.iter().map(|k| format!("`{k}`")).collect();
        words.extend(listed.iter().map(String::as_str));
        assert_error(
            &e,
            "upload[0].batch_sise",
            Some(line_of(&text, "batch_sise")),
            &words,
        );

        let text = format!("{head}backoff_max_seconds = \"long\"\n");
        assert_error(
            &err(&text),
            "upload[0].backoff_max_seconds",
            Some(line_of(&text, "backoff_max_seconds")),
            &["wrong type", "found string \"long\""],
        );

        // Of two mistakes, the one in the earlier key is reported, as when one serde
        // struct read the whole table: here the unknown key, then the shared one.
        let text = format!("{head}aaa = 1\nbatch_size = \"x\"\n");
        assert_eq!(err(&text).path, "upload[0].aaa", "{t}");
        let text = format!("{head}zzz = 1\nbatch_size = \"x\"\n");
        assert_eq!(err(&text).path, "upload[0].batch_size", "{t}");

        let text = format!("{head}batch_size = 0\n");
        let all = Config::from_toml_all(&text).expect_err("batch_size 0");
        assert_eq!(all.len(), 1, "{t}: {all:?}");
        assert_error(
            &all[0],
            "upload[0].batch_size",
            Some(line_of(&text, "batch_size")),
            &["must be from 1 to 10000 records"],
        );
    }
}
