//! Every `HwError` variant's text names what went wrong and the operator's fix.

use super::{gpio::GpioError, BusKind, HwError, OpenError};

/// One of each variant, with the words of the fix its text must carry. The `match`
/// has no `_` arm: a new variant does not compile until it is given a fix here.
fn fix_of(e: &HwError) -> &'static str {
    match e {
        HwError::Open(_) => "dtparam=i2c_arm=on",
        HwError::Gpio(_) => "sudo usermod -aG gpio weatherd",
        HwError::AdcChannel { .. } => "set `channel`",
        HwError::SpiConfigure { .. } => "ls /dev/spidev*",
        HwError::SpiTransfer { .. } => "check that SPI is still enabled",
        HwError::AdcNoAnswer { .. } => "check its power and the MISO wire",
        HwError::Clock { .. } => "restart the machine",
        HwError::EdgesLost { .. } => "check the load with `top`",
        HwError::EdgeClock { .. } => "restart the machine",
        HwError::EdgeThread { .. } => "check the pin's wiring",
        HwError::OneWireList { .. } => "dtoverlay=w1-gpio",
        HwError::OneWireId { .. } => "fix `id` in the config",
        HwError::OneWireMissing { .. } => "set `id` to one of the 28-* entries",
        HwError::OneWireRead { .. } => "4.7 kΩ pull-up",
        HwError::Unavailable { .. } => "fix the config",
        HwError::Bus { .. } => "check the wiring",
    }
}

fn one_of_each() -> Vec<HwError> {
    let s = String::from;
    vec![
        HwError::Open(OpenError::NotEnabled {
            path: s("/dev/i2c-1"),
            bus: BusKind::I2c,
        }),
        HwError::Gpio(GpioError::PermissionDenied {
            bcm: 5,
            path: s("/dev/gpiochip0"),
        }),
        HwError::AdcChannel {
            device: s("/dev/spidev0.0"),
            channel: 9,
        },
        HwError::SpiConfigure {
            device: s("/dev/spidev0.0"),
            hz: 1_000_000,
            detail: s("Invalid argument"),
        },
        HwError::SpiTransfer {
            device: s("/dev/spidev0.0"),
            detail: s("EIO"),
        },
        HwError::AdcNoAnswer {
            device: s("/dev/spidev0.0"),
            channel: 0,
            reply: [0xff, 0xff, 0xff],
        },
        HwError::Clock {
            detail: s("EINVAL"),
        },
        HwError::EdgesLost { bcm: 5, lost: 12 },
        HwError::EdgeClock {
            bcm: 5,
            detail: HwError::Clock {
                detail: s("EINVAL"),
            }
            .to_string(),
        },
        HwError::EdgeThread {
            bcm: 6,
            why: s("poll failed"),
            rearm: s("restarted it"),
        },
        HwError::OneWireList {
            root: s("/sys/bus/w1/devices"),
            detail: s("No such file or directory"),
        },
        HwError::OneWireId { id: s("../x") },
        HwError::OneWireMissing {
            id: s("28-000000000bad"),
            root: s("/sys/bus/w1/devices"),
        },
        HwError::OneWireRead {
            path: s("/sys/bus/w1/devices/28-1/w1_slave"),
            detail: s("Input/output error"),
        },
        HwError::Unavailable {
            device: s("GPIO7"),
            why: s("not simulated"),
        },
        HwError::Bus {
            device: s("/dev/i2c-1"),
            detail: s("arbitration lost"),
        },
    ]
}

#[test]
fn every_hardware_error_names_the_device_and_the_fix() {
    let all = one_of_each();
    let texts = crate::error_test_kit::messages_with_their_fix(&all, 16, fix_of);
    for (e, text) in all.iter().zip(texts) {
        // Names what it is about: a device, pin, id or the clock.
        assert!(
            ["/dev/", "/sys/", "GPIO", "28-", "../x", "clock_gettime"]
                .iter()
                .any(|w| text.contains(w)),
            "{e:?} does not name the device: {text}"
        );
    }
}

#[test]
fn wrapped_errors_keep_their_own_words() {
    let open = OpenError::PermissionDenied {
        path: "/dev/spidev0.0".into(),
        bus: BusKind::Spi,
    };
    assert_eq!(HwError::from(open.clone()).to_string(), open.to_string());
    assert!(open.to_string().contains("usermod -aG spi"), "{open}");
}
