//! The checks types cannot express: ranges, intervals that fit a day, and resource
//! conflicts between sensors (one GPIO pin, one I2C address, one ADC channel each).
//!
//! Every check reports all it finds, so `check-config` can list every problem in one
//! pass. Messages say what is allowed and why, because the reader is editing a file
//! over SSH, not reading this code.

use super::hint::did_you_mean;
use super::parse::Problem;
use super::path::KeyPath;
use super::{Config, SensorConfig};
use crate::observation::Quantity;
use crate::sensors::Claim;
use std::collections::BTreeMap;

const SECONDS_PER_DAY: u32 = 86_400;
/// BCM numbers of the GPIO lines on the 40-pin header.
const MAX_GPIO: u8 = 27;

/// Looks up the line of a key path (or always `None` without the source text).
pub(crate) type LineOf<'a> = &'a dyn Fn(&KeyPath) -> Option<usize>;

pub(crate) fn problems(c: &Config, line_of: LineOf<'_>) -> Vec<Problem> {
    let mut v = Validator {
        out: Vec::new(),
        line_of,
    };
    v.intervals(c);
    v.station(c);
    if c.database.path.as_os_str().is_empty() {
        v.push(
            KeyPath::of(&["database", "path"]),
            "must not be empty; it is the SQLite file weatherd writes",
        );
    }
    v.calibration_and_qc(c);
    if let Some(listen) = &c.web.listen {
        if listen.parse::<std::net::SocketAddr>().is_err() {
            v.push(
                KeyPath::of(&["web", "listen"]),
                format!(
                    "`{listen}` is not an address and port to listen on: write e.g. \"0.0.0.0:8080\" \
                     (every network interface) or \"127.0.0.1:8080\" (this machine only)"
                ),
            );
        }
    }
    for (key, message) in c.report.problems() {
        v.push(KeyPath::of(&["report", key]), message);
    }
    // Sensors in file order, so "already used by" names the one written first.
    let mut sensors: Vec<(KeyPath, &SensorConfig)> = c
        .sensors
        .iter()
        .map(|(name, s)| (KeyPath::of(&["sensors", name]), s))
        .collect();
    sensors.sort_by_key(|(path, _)| line_of(path).unwrap_or(usize::MAX));
    for (path, sensor) in &sensors {
        // Each sensor type checks its own values, in its own module.
        sensor.check(path, &mut v);
    }
    v.conflicts(&sensors);
    // Every destination, through the upload registry and each destination's module.
    crate::upload::check_all(&c.upload, &mut v);
    v.out
}

/// Collects problems; sensor modules check their values through its helpers.
pub(crate) struct Validator<'a> {
    out: Vec<Problem>,
    line_of: LineOf<'a>,
}

impl Validator<'_> {
    pub(crate) fn push(&mut self, path: KeyPath, message: impl Into<String>) {
        self.out.push(Problem::new(path, message));
    }

    /// A reference to another key for a message: `` `sensors.x.pin` (line 12) ``.
    pub(crate) fn cite(&self, path: &KeyPath) -> String {
        match (self.line_of)(path) {
            Some(line) => format!("`{path}` (line {line})"),
            None => format!("`{path}`"),
        }
    }

    /// Rejects NaN and infinities (TOML allows `nan` and `inf`); true if finite.
    pub(crate) fn finite(&mut self, path: &KeyPath, value: f64) -> bool {
        if !value.is_finite() {
            self.push(
                path.clone(),
                format!("must be a finite number, found {value}"),
            );
        }
        value.is_finite()
    }

    /// `lo <= value <= hi`; `why` explains the range.
    pub(crate) fn within(&mut self, path: KeyPath, value: f64, lo: f64, hi: f64, why: &str) {
        if self.finite(&path, value) && !(lo..=hi).contains(&value) {
            self.push(
                path,
                format!("must be from {lo} to {hi}{why}, found {value}"),
            );
        }
    }

    pub(crate) fn positive(&mut self, path: KeyPath, value: f64, what: &str) {
        if self.finite(&path, value) && value <= 0.0 {
            self.push(
                path,
                format!("must be greater than 0 ({what}), found {value}"),
            );
        }
    }

    pub(crate) fn not_empty(&mut self, path: KeyPath, value: &str, what: &str) {
        if value.trim().is_empty() {
            self.push(path, format!("must not be empty; {what}"));
        }
    }

    fn intervals(&mut self, c: &Config) {
        let sample = c.sample_interval_seconds;
        let archive = c.archive_interval_seconds;
        let sample_path = KeyPath::of(&["sample_interval_seconds"]);
        let archive_path = KeyPath::of(&["archive_interval_seconds"]);
        let sample_ok = if sample == 0 {
            self.push(sample_path, "must be at least 1 second");
            false
        } else if SECONDS_PER_DAY % sample != 0 {
            self.push(
                sample_path,
                format!(
                    "must divide a day (86400 s) evenly, so samples fall on the same clock times every day \
                     (e.g. 1, 2, 5, 10, 15, 30 or 60), found {sample}"
                ),
            );
            false
        } else {
            true
        };
        if archive == 0 {
            self.push(archive_path, "must be at least 1 second");
        } else if sample_ok && archive % sample != 0 {
            self.push(
                archive_path,
                format!(
                    "must be a multiple of sample_interval_seconds ({sample} s), so each archive interval holds \
                     whole samples, found {archive}"
                ),
            );
        } else if SECONDS_PER_DAY % archive != 0 {
            self.push(
                archive_path,
                format!(
                    "must divide a day (86400 s) evenly, so archive intervals start at midnight \
                     (e.g. 60, 300, 600, 900, 1800 or 3600), found {archive}"
                ),
            );
        }
        let timeout = c.sensor_timeout_ms;
        let timeout_path = KeyPath::of(&["sensor_timeout_ms"]);
        if timeout == 0 {
            self.push(timeout_path, "must be at least 1 ms");
        } else if sample_ok && u64::from(timeout) >= u64::from(sample) * 1000 {
            self.push(
                timeout_path,
                format!(
                    "must be less than the sample interval ({} ms), so a hung read is given up before the next \
                     tick, found {timeout}",
                    u64::from(sample) * 1000
                ),
            );
        }
    }

    fn station(&mut self, c: &Config) {
        let s = &c.station;
        let at = |key: &str| KeyPath::of(&["station", key]);
        self.not_empty(
            at("name"),
            &s.name,
            "it names the station in reports and uploads",
        );
        self.within(
            at("latitude"),
            s.latitude,
            -90.0,
            90.0,
            " degrees (north positive)",
        );
        self.within(
            at("longitude"),
            s.longitude,
            -180.0,
            180.0,
            " degrees (east positive)",
        );
        self.within(
            at("elevation_m"),
            s.elevation_m,
            -500.0,
            9000.0,
            " metres above sea level",
        );
        if s.time_zone.parse::<chrono_tz::Tz>().is_err() {
            self.push(
                at("time_zone"),
                format!(
                    "unknown time zone \"{}\"; use an IANA name such as \"Europe/London\" or \"UTC\"{}",
                    s.time_zone,
                    did_you_mean(&s.time_zone, chrono_tz::TZ_VARIANTS.iter().map(|tz| tz.name()))
                ),
            );
        }
    }

    pub(crate) fn quantity_name(&mut self, path: KeyPath, name: &str) -> bool {
        let ok = Quantity::is_valid_name(name);
        if !ok {
            self.push(
                path,
                format!(
                    "\"{name}\" is not a valid quantity name: use lowercase snake_case ending in a unit suffix, \
                     like `temperature_c`, `humidity_pct` or `soil_moisture_pct`{}",
                    did_you_mean(name, Quantity::STANDARD.iter().map(|q| q.name()))
                ),
            );
        }
        ok
    }

    /// The spike test's limits: each a finite number, 0 (off) or more; at least one
    /// reading confirms a step.
    fn spike_limits(&mut self, c: &Config) {
        let s = &c.spike;
        let rates = [
            ("temperature_c_per_minute", Some(s.temperature_c_per_minute)),
            ("humidity_pct_per_minute", Some(s.humidity_pct_per_minute)),
            ("pressure_hpa_per_minute", Some(s.pressure_hpa_per_minute)),
            ("rain_tips_per_second", Some(s.rain_tips_per_second)),
            ("wind_closures_per_second", s.wind_closures_per_second),
        ];
        for (key, value) in rates {
            let path = KeyPath::of(&["qc", key]);
            if let Some(v) = value {
                if self.finite(&path, v) && v < 0.0 {
                    self.push(
                        path,
                        format!("must be 0 (no spike test) or a positive rate, found {v}"),
                    );
                }
            }
        }
        if s.spike_confirm_samples == 0 {
            self.push(
                KeyPath::of(&["qc", "spike_confirm_samples"]),
                "must be at least 1 (the readings that confirm a genuine step), found 0",
            );
        }
    }

    fn calibration_and_qc(&mut self, c: &Config) {
        self.spike_limits(c);
        for (name, offset) in &c.calibration {
            let path = KeyPath::of(&["calibration", name]);
            if self.quantity_name(path.clone(), name) {
                self.finite(&path, *offset);
            }
        }
        for (name, limits) in &c.qc {
            let path = KeyPath::of(&["qc", name]);
            if !self.quantity_name(path.clone(), name) {
                continue;
            }
            let min_ok = self.finite(&path.key("min"), limits.min);
            let max_ok = self.finite(&path.key("max"), limits.max);
            if min_ok && max_ok && limits.min >= limits.max {
                self.push(
                    path.key("min"),
                    format!(
                        "must be less than max ({}), found {}",
                        limits.max, limits.min
                    ),
                );
            }
        }
    }

    pub(crate) fn gpio(&mut self, path: KeyPath, pin: u8) {
        if pin > MAX_GPIO {
            let hint = physical_to_bcm(pin)
                .map(|bcm| {
                    format!("; if {pin} is the physical pin number, its BCM number is {bcm}")
                })
                .unwrap_or_default();
            self.push(
                path,
                format!("must be a BCM GPIO number from 0 to {MAX_GPIO}, found {pin}{hint}"),
            );
        }
    }

    /// Conflicts between sensors, found from the hardware each one claims
    /// ([`SensorConfig::claims`]) and the quantities it reports: no code here knows a
    /// sensor type.
    fn conflicts(&mut self, sensors: &[(KeyPath, &SensorConfig)]) {
        let claims: Vec<(&KeyPath, &SensorConfig, Vec<Claim>)> = sensors
            .iter()
            .map(|(path, sensor)| (path, *sensor, sensor.claims()))
            .collect();
        self.gpio_conflicts(&claims);
        let mut i2c: BTreeMap<(&str, u8), KeyPath> = BTreeMap::new();
        let mut spi: BTreeMap<(&str, u8), KeyPath> = BTreeMap::new();
        let mut singletons: BTreeMap<&str, KeyPath> = BTreeMap::new();
        let mut w1_ids: BTreeMap<&str, KeyPath> = BTreeMap::new();
        let mut quantities: BTreeMap<Quantity, KeyPath> = BTreeMap::new();
        let probe_count = claims
            .iter()
            .flat_map(|(_, _, c)| c)
            .filter(|c| matches!(c, Claim::OneWireProbe { .. }))
            .count();
        'sensors: for (path, sensor, claims) in &claims {
            // In this order per sensor: addresses, ADC channels and probe ids, then
            // "only one", then quantities (skipped for a surplus singleton, whose
            // quantities would only repeat the same complaint).
            for claim in claims {
                if let Claim::I2c {
                    bus,
                    address_key,
                    address,
                    ..
                } = claim
                {
                    let at = path.key(address_key);
                    if let Some(other) = i2c.get(&(bus.as_str(), *address)) {
                        let other = self.cite(other);
                        self.push(
                            at,
                            format!(
                                "I2C address {address:#04x} on {bus} is already used by {other}; two devices cannot \
                                 share an address on one bus (set the other board's address or use another bus)"
                            ),
                        );
                    } else {
                        i2c.insert((bus.as_str(), *address), at);
                    }
                }
            }
            for claim in claims {
                match claim {
                    Claim::SpiAdc {
                        spi: device,
                        channel_key,
                        channel,
                        ..
                    } => {
                        let at = path.key(channel_key);
                        if let Some(other) = spi.get(&(device.as_str(), *channel)) {
                            let other = self.cite(other);
                            self.push(
                                at,
                                format!(
                                    "ADC channel {channel} on {device} is already used by {other}"
                                ),
                            );
                        } else {
                            spi.insert((device.as_str(), *channel), at);
                        }
                    }
                    Claim::OneWireProbe { key, id } if probe_count > 1 => {
                        let at = path.key(key);
                        if id.is_empty() {
                            self.push(
                                at,
                                "must be set when there is more than one DS18B20, or every one reads the same first \
                                 probe; see /sys/bus/w1/devices/ for the 28-... ids",
                            );
                        } else if let Some(other) = w1_ids.get(id.as_str()) {
                            let other = self.cite(other);
                            self.push(at, format!("probe \"{id}\" is already used by {other}"));
                        } else {
                            w1_ids.insert(id.as_str(), at);
                        }
                    }
                    // Checked above (pins, I2C addresses), or nothing to share: named so
                    // a new kind of claim cannot skip its conflict check unnoticed.
                    Claim::OneWireProbe { .. }
                    | Claim::Gpio { .. }
                    | Claim::I2c { .. }
                    | Claim::OnePerStation { .. } => {}
                }
            }
            for claim in claims {
                if let Claim::OnePerStation { kind } = claim {
                    let at = path.key("type");
                    if let Some(other) = singletons.get(kind) {
                        let other = self.cite(other);
                        self.push(
                            at,
                            format!("only one {kind} is supported (the archive has one column for it); {other} is already one"),
                        );
                        continue 'sensors;
                    }
                    singletons.insert(kind, at);
                }
            }
            for (i, q) in sensor.quantities().into_iter().enumerate() {
                let at = path.key(sensor.quantity_key(i));
                let (kind, standard) = (sensor.aggregation(&q), q.default_aggregation());
                if !matches!(q, Quantity::Extra(_)) && kind != standard {
                    self.push(
                        at.clone(),
                        format!(
                            "reports the standard quantity `{q}` as {kind}, but the archive keeps `{q}` as \
                             {standard}; report it under another name (e.g. `{}_2{}`) to keep it as {kind}",
                            q.name().rsplit_once('_').map_or(q.name(), |(stem, _)| stem),
                            q.name().rsplit_once('_').map_or(String::new(), |(_, unit)| format!("_{unit}")),
                        ),
                    );
                }
                if let Some(other) = quantities.get(&q) {
                    let other = self.cite(other);
                    self.push(
                        at,
                        format!(
                            "reports `{q}`, which {other} already reports; each quantity must come from one sensor \
                             (a DS18B20 can report another quantity via `quantity`)"
                        ),
                    );
                } else {
                    quantities.insert(q, at);
                }
            }
        }
    }

    /// A GPIO line can serve one sensor; 1-Wire probes share their bus pin, and the
    /// pins of an I2C or SPI bus in use are taken.
    fn gpio_conflicts(&mut self, claims: &[(&KeyPath, &SensorConfig, Vec<Claim>)]) {
        let mut reserved: BTreeMap<u8, (KeyPath, String)> = BTreeMap::new();
        for (path, _, claims) in claims {
            for (key, pins) in claims.iter().filter_map(Claim::bus_pins) {
                for (pin, what) in pins {
                    reserved.entry(pin).or_insert((path.key(key), what));
                }
            }
        }
        // pin → (the key that took it, whether it is a 1-Wire bus)
        let mut used: BTreeMap<u8, (KeyPath, bool)> = BTreeMap::new();
        for (path, _, claims) in claims {
            for claim in claims {
                let Claim::Gpio { key, pin, one_wire } = *claim else {
                    continue;
                };
                let at = path.key(key);
                if let Some((other, what)) = reserved.get(&pin) {
                    let other = self.cite(other);
                    self.push(at, format!("GPIO {pin} is {what}, in use by {other}"));
                } else if let Some((other, other_one_wire)) = used.get(&pin) {
                    if !(one_wire && *other_one_wire) {
                        let other = self.cite(other);
                        self.push(
                            at,
                            format!(
                                "GPIO {pin} is already used by {other}; a pin can serve only one sensor (only \
                                 DS18B20 probes may share their 1-Wire pin)"
                            ),
                        );
                    }
                } else {
                    used.insert(pin, (at, one_wire));
                }
            }
        }
    }
}

/// BCM GPIO number of a physical header pin, for the "did you use the physical
/// number?" hint (physical pin 29 is GPIO5, the anemometer's).
fn physical_to_bcm(physical: u8) -> Option<u8> {
    #[rustfmt::skip]
    const MAP: [(u8, u8); 28] = [
        (3, 2), (5, 3), (7, 4), (8, 14), (10, 15), (11, 17), (12, 18), (13, 27), (15, 22),
        (16, 23), (18, 24), (19, 10), (21, 9), (22, 25), (23, 11), (24, 8), (26, 7), (27, 0),
        (28, 1), (29, 5), (31, 6), (32, 12), (33, 13), (35, 19), (36, 16), (37, 26), (38, 20),
        (40, 21),
    ];
    MAP.iter()
        .find(|(p, _)| *p == physical)
        .map(|(_, bcm)| *bcm)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn problems_of(extra: &str) -> Vec<Problem> {
        let text = format!("[station]\nname = \"x\"\nlatitude = 1.0\nlongitude = 2.0\n{extra}");
        let config = super::super::parse::parse(&text).expect("parses");
        problems(&config, &|_| None)
    }

    fn paths(problems: &[Problem]) -> Vec<String> {
        problems.iter().map(|p| p.path.to_string()).collect()
    }

    #[test]
    fn two_vanes_on_one_adc_channel_conflict_before_the_one_vane_rule() {
        let p =
            problems_of("[sensors.a]\ntype = \"wind_vane\"\n[sensors.b]\ntype = \"wind_vane\"\n");
        assert_eq!(paths(&p)[0], "sensors.b.channel");
        assert!(p[0]
            .message
            .contains("ADC channel 0 on /dev/spidev0.0 is already used by `sensors.a.channel`"));
        let p = problems_of(
            "[sensors.a]\ntype = \"wind_vane\"\n[sensors.b]\ntype = \"wind_vane\"\nchannel = 1\n",
        );
        assert_eq!(paths(&p)[0], "sensors.b.type");
        assert!(
            p[0].message.contains("only one wind vane"),
            "{}",
            p[0].message
        );
    }

    #[test]
    fn pulse_input_on_the_vanes_chip_select_conflicts() {
        let p = problems_of(
            "[sensors.v]\ntype = \"wind_vane\"\n[sensors.r]\ntype = \"rain_gauge\"\npin = 8\n",
        );
        assert_eq!(paths(&p), ["sensors.r.pin"]);
        assert!(p[0].message.contains("SPI0's CE0 line"), "{}", p[0].message);
        // CE1 is free while the vane uses CE0.
        assert!(problems_of(
            "[sensors.v]\ntype = \"wind_vane\"\n[sensors.r]\ntype = \"rain_gauge\"\npin = 7\n"
        )
        .is_empty());
    }

    #[test]
    fn debounce_limit_follows_kmh_per_hz() {
        // 4.8 km/h per Hz: 240 km/h is 50 closures a second, 20 ms apart, so 8 ms is fine.
        assert!(problems_of(
            "[sensors.a]\ntype = \"anemometer\"\nkmh_per_hz = 4.8\ndebounce_ms = 8.0\n"
        )
        .is_empty());
        let p = problems_of("[sensors.a]\ntype = \"anemometer\"\ndebounce_ms = 8.0\n");
        assert_eq!(paths(&p), ["sensors.a.debounce_ms"]);
    }

    #[test]
    fn physical_pin_hint() {
        assert_eq!(physical_to_bcm(29), Some(5));
        assert_eq!(physical_to_bcm(31), Some(6));
        assert_eq!(physical_to_bcm(30), None); // a ground pin
    }
}
