//! Every `SensorError` variant's text names the sensor (or what it found) and the
//! operator's fix.

use super::{ds18b20::W1Error, SensorError};
use crate::hw::HwError;

/// The words of the fix each variant's text must carry. No `_` arm: a new variant
/// does not compile until it is given a fix here.
fn fix_of(e: &SensorError) -> &'static str {
    match e {
        SensorError::Hw(_) => "fix `id` in the config",
        SensorError::Device { .. } => "the MISO wire",
        SensorError::NoAnswer { .. } => "i2cdetect -y N",
        SensorError::I2c { .. } => "dtparam=i2c_arm=on",
        SensorError::Crc { .. } => "check the wiring and pull-ups",
        SensorError::WrongChip { .. } => "check `address` in the config",
        SensorError::Setting { .. } => "fix it in the config",
        SensorError::Misbehaving { .. } => "replace the sensor",
        SensorError::Saturated { .. } => "put a diffuser over it",
        SensorError::NoProbe { .. } => "or set `id` in the config",
        SensorError::Probe { .. } => "keep the cable short",
        SensorError::VaneUnmatched { .. } => "the divider resistor (divider_ohm)",
        SensorError::VaneCancelled { .. } => "check that the vane turns freely",
        SensorError::Injected { .. } => "check the wiring",
    }
}

fn one_of_each() -> Vec<SensorError> {
    let s = String::from;
    let bme = || s("BME280 at 0x76 on /dev/i2c-1");
    vec![
        SensorError::Hw(HwError::OneWireId { id: s("../x") }),
        SensorError::Device {
            sensor: s("wind vane ADC read failed"),
            error: HwError::AdcNoAnswer {
                device: s("/dev/spidev0.0"),
                channel: 0,
                reply: [0xff; 3],
            },
        },
        SensorError::NoAnswer {
            sensor: bme(),
            doing: s("reading register 0xd0"),
            addresses: "0x76/0x77",
        },
        SensorError::I2c {
            sensor: bme(),
            doing: s("reading register 0xd0"),
            detail: s("I2C bus error"),
        },
        SensorError::Crc {
            sensor: s("HTU21D at 0x40 on /dev/i2c-1"),
            what: s("humidity"),
            received: 0x12,
            computed: 0x34,
        },
        SensorError::WrongChip {
            sensor: bme(),
            found: 0x61,
            expected: "0x60 (BME280) or 0x58 (BMP280)",
        },
        SensorError::Setting {
            sensor: "BME280",
            key: "oversampling_pressure",
            allowed: "1, 2, 4, 8 or 16",
            found: 3,
        },
        SensorError::Misbehaving {
            sensor: bme(),
            problem: s("still copying its calibration 12 ms after a reset"),
            fix: "check its 3.3 V supply; if it keeps doing this, replace the sensor",
        },
        SensorError::Saturated {
            sensor: s("TSL2591 at 0x29"),
            limit_lx: 54612.5,
        },
        SensorError::NoProbe {
            root: s("/sys/bus/w1/devices"),
        },
        SensorError::Probe {
            id: s("28-0000075a1b2c"),
            error: W1Error::Crc,
            attempts: Some(3),
        },
        SensorError::VaneUnmatched {
            bad: 4,
            reads: 5,
            counts: s("count 1023, count 5"),
        },
        SensorError::VaneCancelled { valid: 2 },
        SensorError::Injected {
            sensor: s("test sensor"),
            detail: s("released"),
        },
    ]
}

#[test]
fn every_sensor_error_names_the_fix() {
    let all = one_of_each();
    let texts = crate::error_test_kit::messages_with_their_fix(&all, 14, fix_of);
    for (e, text) in all.iter().zip(texts) {
        // What it is about comes first, before the fix.
        let about = text.find(fix_of(e)).unwrap();
        assert!(
            about > 10,
            "{e:?} says the fix without saying what failed: {text}"
        );
    }
}

#[test]
fn sensor_texts_carry_the_details_an_operator_compares() {
    let crc = SensorError::Crc {
        sensor: "HTU21D at 0x40 on /dev/i2c-1".into(),
        what: "humidity".into(),
        received: 0x12,
        computed: 0x34,
    };
    assert_eq!(
        crc.to_string(),
        "HTU21D at 0x40 on /dev/i2c-1: the humidity word failed its CRC check (received 0x12, \
         computed 0x34); the bus is noisy or too long, check the wiring and pull-ups"
    );
    let probe = SensorError::Probe {
        id: "28-1".into(),
        error: W1Error::PowerOn,
        attempts: None,
    };
    assert!(!probe.to_string().contains("attempts"), "{probe}");
    let retried = SensorError::Probe {
        id: "28-1".into(),
        error: W1Error::PowerOn,
        attempts: Some(3),
    };
    assert!(retried.to_string().contains("(3 attempts)"), "{retried}");
    // A hardware error keeps its own words when it becomes a sensor error.
    let hw = HwError::OneWireId { id: "../x".into() };
    assert_eq!(SensorError::from(hw.clone()).to_string(), hw.to_string());
}
