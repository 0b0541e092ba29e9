//! `weatherd probe` on fixture trees: a Pi 4 with everything on, a Pi 5 with I2C
//! off (and a permission problem), and a machine that is not a Pi. The I2C bus is
//! answered by a fake bus, so the chip-id logic runs without hardware.

use embedded_hal::i2c::{ErrorType, I2c, Operation};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use weatherd::hw::{AdcChannel, Backend, EdgeSource, HwError, I2cBus, I2cError, OneWire, PinRole};
use weatherd::probe::{probe, probe_with, ProbeReport, ProbeRoot, Status};

fn fixture(name: &str) -> ProbeRoot {
    ProbeRoot::under(
        &Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/probe")
            .join(name),
    )
}

/// Chips by address: the value read from register 0xD0 (chip id), or `None` for a
/// chip without one (it still acknowledges reads).
#[derive(Clone, Default)]
struct FakeBus(BTreeMap<u8, Option<u8>>);

impl ErrorType for FakeBus {
    type Error = I2cError;
}

impl I2c for FakeBus {
    fn transaction(&mut self, address: u8, ops: &mut [Operation<'_>]) -> Result<(), I2cError> {
        let chip = *self.0.get(&address).ok_or(I2cError::NoAcknowledge)?;
        let mut register = None;
        for op in ops {
            match op {
                Operation::Write(bytes) => register = bytes.first().copied(),
                Operation::Read(buf) => {
                    let value = match (register, chip) {
                        (Some(0xd0), Some(id)) => id,
                        _ => 0,
                    };
                    buf.fill(value);
                }
            }
        }
        Ok(())
    }
}

/// Hands out the fake bus for any `.../i2c-1` path, and records which paths were asked.
struct FakeHardware {
    bus: FakeBus,
    asked: std::sync::Mutex<Vec<String>>,
}

impl FakeHardware {
    fn with(chips: &[(u8, Option<u8>)]) -> Self {
        FakeHardware {
            bus: FakeBus(chips.iter().copied().collect()),
            asked: Default::default(),
        }
    }
}

impl Backend for FakeHardware {
    fn edge_source(&self, pin: u8, _role: PinRole) -> Result<Box<dyn EdgeSource>, HwError> {
        Err(HwError::Unavailable {
            device: format!("GPIO{pin}"),
            why: "not used by probe".into(),
        })
    }
    fn adc_channel(&self, spi: &str, _c: u8) -> Result<Box<dyn AdcChannel>, HwError> {
        Err(HwError::Unavailable {
            device: spi.to_string(),
            why: "not used by probe".into(),
        })
    }
    fn i2c(&self, bus: &str) -> Result<I2cBus, HwError> {
        self.asked.lock().unwrap().push(bus.to_string());
        if bus.ends_with("/dev/i2c-1") {
            Ok(Box::new(self.bus.clone()))
        } else {
            Err(HwError::Unavailable {
                device: bus.to_string(),
                why: "no such bus".into(),
            })
        }
    }
    fn one_wire(&self, root: &Path) -> Result<Box<dyn OneWire>, HwError> {
        Err(HwError::Unavailable {
            device: root.display().to_string(),
            why: "not used by probe".into(),
        })
    }
}

fn lines_with(report: &ProbeReport, status: Status) -> Vec<String> {
    report
        .findings
        .iter()
        .filter(|f| f.status == status)
        .map(|f| f.message.clone())
        .collect()
}

fn has(report: &ProbeReport, status: Status, words: &[&str]) -> bool {
    report.findings.iter().any(|f| {
        let text = format!("{} {}", f.message, f.fix.as_deref().unwrap_or(""));
        f.status == status && words.iter().all(|w| text.contains(w))
    })
}

#[test]
fn pi4_with_everything_on_is_ready() {
    let hw = FakeHardware::with(&[(0x77, Some(0x60)), (0x23, None)]);
    let report = probe_with(&fixture("pi4-all-on"), &hw);
    let text = report.render();
    assert_eq!(
        report.model.as_deref(),
        Some("Raspberry Pi 4 Model B Rev 1.4"),
        "{text}"
    );
    assert_eq!(report.trouble().count(), 0, "{text}");
    assert_eq!(report.exit_code(), 0);
    assert!(has(&report, Status::Ok, &["I2C is enabled"]), "{text}");
    assert!(
        has(&report, Status::Ok, &["BME280", "0x77", "chip id 0x60"]),
        "{text}"
    );
    assert!(has(&report, Status::Info, &["0x23", "BH1750"]), "{text}");
    assert!(has(&report, Status::Ok, &["SPI is enabled"]), "{text}");
    assert!(
        has(&report, Status::Ok, &["1 DS18B20 probe: 28-0316a2794aff"]),
        "{text}"
    );
    assert!(
        has(&report, Status::Ok, &["GPIO is accessible", "gpiochip0"]),
        "{text}"
    );
    assert!(
        has(
            &report,
            Status::Ok,
            &["weatherd user is in the gpio, i2c and spi groups"]
        ),
        "{text}"
    );
    // The bus asked is the fixture's own device node.
    let asked = hw.asked.lock().unwrap().clone();
    assert_eq!(asked.len(), 1);
    assert!(
        PathBuf::from(&asked[0]).ends_with("pi4-all-on/dev/i2c-1"),
        "{asked:?}"
    );
    // Readable lines with a marker in front.
    assert!(
        text.lines()
            .next()
            .unwrap()
            .starts_with("OK       Raspberry Pi 4"),
        "{text}"
    );
    assert!(
        text.contains("Everything the standard station needs is in place."),
        "{text}"
    );
}

#[test]
fn a_bmp280_a_cheap_0x76_board_and_a_missing_sensor() {
    let report = probe_with(
        &fixture("pi4-all-on"),
        &FakeHardware::with(&[(0x76, Some(0x58))]),
    );
    assert!(
        has(&report, Status::Info, &["BMP280", "0x76", "no humidity"]),
        "{}",
        report.render()
    );
    assert_eq!(report.exit_code(), 0);

    let report = probe_with(&fixture("pi4-all-on"), &FakeHardware::with(&[]));
    assert!(
        has(
            &report,
            Status::Missing,
            &["Nothing answers at 0x76 or 0x77", "SDA to GPIO2"]
        ),
        "{}",
        report.render()
    );
    assert_eq!(report.exit_code(), 2);

    let report = probe_with(
        &fixture("pi4-all-on"),
        &FakeHardware::with(&[(0x77, Some(0x42))]),
    );
    assert!(
        has(&report, Status::Problem, &["unknown chip", "0x42"]),
        "{}",
        report.render()
    );
}

#[test]
fn pi5_with_i2c_off_says_which_line_to_add_and_which_group_to_join() {
    let hw = FakeHardware::with(&[(0x77, Some(0x60))]);
    let report = probe_with(&fixture("pi5-i2c-off"), &hw);
    let text = report.render();
    assert_eq!(
        report.model.as_deref(),
        Some("Raspberry Pi 5 Model B Rev 1.0")
    );
    // The old /boot/config.txt location is found and named in the fix.
    assert!(
        has(
            &report,
            Status::Missing,
            &[
                "I2C is not enabled",
                "`dtparam=i2c_arm=on`",
                "boot/config.txt",
                "reboot"
            ]
        ),
        "{text}"
    );
    assert!(
        hw.asked.lock().unwrap().is_empty(),
        "no bus to ask while I2C is off"
    );
    assert!(has(&report, Status::Ok, &["SPI is enabled"]), "{text}");
    assert!(
        has(&report, Status::Missing, &["No DS18B20 probe", "4.7 kOhm"]),
        "{text}"
    );
    assert!(
        has(&report, Status::Ok, &["gpiochip0, gpiochip4"]),
        "{text}"
    );
    assert!(
        has(
            &report,
            Status::Problem,
            &[
                "not in the spi group",
                "sudo usermod -aG gpio,i2c,spi weatherd"
            ]
        ),
        "{text}"
    );
    assert_eq!(
        lines_with(&report, Status::Missing).len() + lines_with(&report, Status::Problem).len(),
        3,
        "{text}"
    );
    assert_eq!(report.exit_code(), 2);
    assert!(
        text.contains(
            "MISSING  I2C is not enabled\n         fix: add the line `dtparam=i2c_arm=on`"
        ),
        "{text}"
    );
    assert!(text.contains("3 things to fix"), "{text}");
}

#[test]
fn off_a_pi_it_says_so_plainly_and_exits_1() {
    let hw = FakeHardware::with(&[]);
    let report = probe_with(&fixture("not-a-pi"), &hw);
    assert!(!report.is_pi());
    assert_eq!(report.exit_code(), 1);
    let text = report.render();
    assert!(text.starts_with("PROBLEM  Not a Raspberry Pi"), "{text}");
    assert!(text.contains("--simulate"), "{text}");
    assert!(hw.asked.lock().unwrap().is_empty());
    // The real-hardware entry point behaves the same on the fixture.
    assert_eq!(probe(&fixture("not-a-pi")).exit_code(), 1);
}

#[test]
fn another_board_or_an_empty_tree_never_panics() {
    let dir = tempfile::tempdir().unwrap();
    let root = ProbeRoot::under(dir.path());
    assert_eq!(probe(&root).exit_code(), 1);
    std::fs::create_dir_all(dir.path().join("proc/device-tree")).unwrap();
    std::fs::write(
        dir.path().join("proc/device-tree/model"),
        b"Pine64 RockPro64 v2.1\0",
    )
    .unwrap();
    let report = probe(&root);
    assert_eq!(report.exit_code(), 1);
    assert!(
        report.render().contains("\"Pine64 RockPro64 v2.1\""),
        "{}",
        report.render()
    );
    // A Pi with nothing else readable: every check reports, nothing panics.
    std::fs::write(
        dir.path().join("proc/device-tree/model"),
        b"Raspberry Pi Zero 2 W Rev 1.0\0",
    )
    .unwrap();
    let report = probe_with(&root, &FakeHardware::with(&[]));
    assert_eq!(report.exit_code(), 2);
    assert!(
        has(&report, Status::Problem, &["No firmware config file"]),
        "{}",
        report.render()
    );
    assert!(
        has(&report, Status::Problem, &["No GPIO chip device"]),
        "{}",
        report.render()
    );
}
