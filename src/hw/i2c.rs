//! `/dev/i2c-N` through linux-embedded-hal's `I2cdev`, adapted to [`I2cBus`].
//!
//! Drivers see only two kinds of failure ([`I2cError`]): nobody acknowledged (the
//! device is missing, unplugged or at another address) or anything else on the bus.
//! The Linux adapters disagree on the errno for a NACK (the Pi's i2c-bcm2835 says
//! EREMOTEIO, others ENXIO), so both are mapped here rather than in every driver.

use crate::hw::{BusKind, HwError, I2cBus, I2cError, OpenError};
use embedded_hal::i2c::{ErrorKind, ErrorType, I2c, Operation};
use linux_embedded_hal::i2cdev::linux::LinuxI2CError;
use linux_embedded_hal::I2cdev;

/// An open `/dev/i2c-N`.
pub(crate) struct LinuxI2c {
    dev: I2cdev,
    path: String,
}

/// Opens the I2C bus device at `path` (e.g. `/dev/i2c-1`) as a driver's [`I2cBus`].
pub fn open(path: &str) -> Result<I2cBus, HwError> {
    let dev = I2cdev::new(path).map_err(|e| open_error(path, errno_of(&e), &e.to_string()))?;
    Ok(Box::new(LinuxI2c {
        dev,
        path: path.to_string(),
    }))
}

impl ErrorType for LinuxI2c {
    type Error = I2cError;
}

impl I2c for LinuxI2c {
    fn transaction(
        &mut self,
        address: u8,
        operations: &mut [Operation<'_>],
    ) -> Result<(), I2cError> {
        self.dev.transaction(address, operations).map_err(|e| {
            let mapped = classify(errno_of(e.inner()), embedded_hal::i2c::Error::kind(&e));
            tracing::debug!(bus = %self.path, address = format_args!("{address:#04x}"), "I2C transfer failed: {e}");
            mapped
        })
    }
}

/// An [`I2cBus`] as a sized type implementing embedded-hal's `I2c`, for drivers
/// generic over `I: I2c` (embedded-hal implements the trait for `&mut T`, not for
/// `Box<dyn I2c>`).
pub struct DynI2c(pub I2cBus);

impl ErrorType for DynI2c {
    type Error = I2cError;
}

impl I2c for DynI2c {
    fn transaction(
        &mut self,
        address: u8,
        operations: &mut [Operation<'_>],
    ) -> Result<(), I2cError> {
        self.0.transaction(address, operations)
    }
}

fn errno_of(e: &LinuxI2CError) -> Option<i32> {
    match e {
        LinuxI2CError::Errno(n) => Some(*n),
        LinuxI2CError::Io(io) => io.raw_os_error(),
    }
}

/// ENXIO and EREMOTEIO (and whatever linux-embedded-hal already calls a NACK) mean
/// nobody answered; everything else is a bus failure.
pub(crate) fn classify(errno: Option<i32>, kind: ErrorKind) -> I2cError {
    match (errno, kind) {
        (Some(libc::ENXIO | libc::EREMOTEIO), _) | (_, ErrorKind::NoAcknowledge(_)) => {
            I2cError::NoAcknowledge
        }
        _ => I2cError::Bus,
    }
}

/// Why the bus device could not be opened, from the errno.
pub(crate) fn open_error(path: &str, errno: Option<i32>, text: &str) -> OpenError {
    let path = path.to_string();
    let bus = BusKind::I2c;
    match errno {
        Some(libc::EACCES | libc::EPERM) => OpenError::PermissionDenied { path, bus },
        Some(libc::ENOENT) => OpenError::NotEnabled { path, bus },
        _ => OpenError::Other {
            path,
            bus,
            detail: text.to_string(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use embedded_hal::i2c::NoAcknowledgeSource;

    #[test]
    fn nacks_in_every_spelling_become_no_acknowledge() {
        assert_eq!(
            classify(Some(libc::EREMOTEIO), ErrorKind::Other),
            I2cError::NoAcknowledge
        );
        assert_eq!(
            classify(Some(libc::ENXIO), ErrorKind::Other),
            I2cError::NoAcknowledge
        );
        assert_eq!(
            classify(
                Some(libc::ENODEV),
                ErrorKind::NoAcknowledge(NoAcknowledgeSource::Data)
            ),
            I2cError::NoAcknowledge
        );
        assert_eq!(classify(Some(libc::EIO), ErrorKind::Bus), I2cError::Bus);
        assert_eq!(
            classify(Some(libc::ETIMEDOUT), ErrorKind::Other),
            I2cError::Bus
        );
        assert_eq!(classify(None, ErrorKind::Other), I2cError::Bus);
    }

    #[test]
    fn open_errors_name_the_fix() {
        let e = open_error("/dev/i2c-1", Some(libc::EACCES), "");
        assert_eq!(
            e.to_string(),
            "/dev/i2c-1: permission denied: add the weatherd user to the i2c group \
             (`sudo usermod -aG i2c weatherd`) and restart the service"
        );
        let e = open_error("/dev/i2c-1", Some(libc::ENOENT), "");
        assert_eq!(
            e.to_string(),
            "/dev/i2c-1 does not exist: enable I2C with `dtparam=i2c_arm=on` in \
             /boot/firmware/config.txt (or `sudo raspi-config`, Interface Options) and reboot"
        );
        let e = open_error("/dev/i2c-1", Some(libc::EIO), "I/O error");
        assert_eq!(
            e.to_string(),
            "/dev/i2c-1: cannot open the I2C bus: I/O error"
        );
    }

    #[test]
    fn opening_a_missing_bus_says_how_to_enable_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("i2c-1");
        let e = open(path.to_str().unwrap()).err().expect("no such device");
        assert!(e.to_string().contains("dtparam=i2c_arm=on"), "{e}");
    }
}
