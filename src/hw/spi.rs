//! The MCP3008 10-bit ADC on `/dev/spidevB.C`, as an [`AdcChannel`].
//!
//! One conversion is one 3-byte full-duplex transfer (datasheet figure 6-1, with the
//! start bit right-aligned in the first byte):
//!
//! ```text
//! MOSI  0000_0001  1CCC_0000  0000_0000     start bit; single-ended (1); channel CCC
//! MISO  ????_????  ????_?0AA  AAAA_AAAA     null bit (0), then the 10-bit result
//! ```
//!
//! The driver is generic over `embedded_hal::spi::SpiDevice`, so tests check the exact
//! bytes on the wire with embedded-hal-mock; on the Pi it runs on linux-embedded-hal's
//! `SpidevDevice`.

use crate::hw::{AdcChannel, BusKind, HwError, OpenError};
use embedded_hal::spi::SpiDevice;
use linux_embedded_hal::spidev::{SpiModeFlags, SpidevOptions};
use linux_embedded_hal::SpidevDevice;

/// The MCP3008's maximum clock is 1.35 MHz at 2.7 V and 3.6 MHz at 5 V; 1 MHz keeps
/// a margin at the Pi's 3.3 V, and a read still takes only ~30 µs.
pub(crate) const CLOCK_HZ: u32 = 1_000_000;

/// One channel of an MCP3008.
pub struct Mcp3008<S> {
    spi: S,
    channel: u8,
    /// Names the device in errors (`/dev/spidev0.0`).
    label: String,
}

impl<S: SpiDevice> Mcp3008<S> {
    /// Channel 0..=7 of the MCP3008 on `spi`.
    pub fn new(spi: S, channel: u8, label: impl Into<String>) -> Result<Self, HwError> {
        let label = label.into();
        if channel > 7 {
            return Err(HwError::AdcChannel {
                device: label,
                channel,
            });
        }
        Ok(Mcp3008 {
            spi,
            channel,
            label,
        })
    }

    /// The bytes sent for one single-ended conversion of `channel`.
    pub fn command(channel: u8) -> [u8; 3] {
        [0x01, (0x08 | channel) << 4, 0x00]
    }

    /// The 10-bit result of a reply, or why it is not one. While the MCP3008 samples,
    /// MISO floats; it then drives a null bit low before the result. A high null bit
    /// means nothing drove the line: no chip, or MISO not connected.
    pub(crate) fn decode(rx: [u8; 3]) -> Option<u16> {
        if rx[1] & 0x04 != 0 {
            return None;
        }
        Some((u16::from(rx[1] & 0x03) << 8) | u16::from(rx[2]))
    }
}

impl<S: SpiDevice + Send> AdcChannel for Mcp3008<S> {
    fn read_count(&mut self) -> Result<u16, HwError> {
        let tx = Self::command(self.channel);
        let mut rx = [0u8; 3];
        self.spi
            .transfer(&mut rx, &tx)
            .map_err(|e| HwError::SpiTransfer {
                device: self.label.clone(),
                detail: format!("{e:?}"),
            })?;
        Self::decode(rx).ok_or_else(|| HwError::AdcNoAnswer {
            device: self.label.clone(),
            channel: self.channel,
            reply: rx,
        })
    }
}

/// Opens `path` (e.g. `/dev/spidev0.0`) in SPI mode 0 at [`CLOCK_HZ`].
pub fn open(path: &str, channel: u8) -> Result<Mcp3008<SpidevDevice>, HwError> {
    let mut dev = SpidevDevice::open(path).map_err(|e| open_error(path, e.inner()))?;
    let options = SpidevOptions::new()
        .bits_per_word(8)
        .max_speed_hz(CLOCK_HZ)
        .mode(SpiModeFlags::SPI_MODE_0)
        .build();
    dev.0
        .configure(&options)
        .map_err(|e| HwError::SpiConfigure {
            device: path.to_string(),
            hz: CLOCK_HZ,
            detail: e.to_string(),
        })?;
    Mcp3008::new(dev, channel, path)
}

/// Why the SPI device could not be opened.
pub(crate) fn open_error(path: &str, e: &std::io::Error) -> OpenError {
    let path = path.to_string();
    let bus = BusKind::Spi;
    match e.kind() {
        std::io::ErrorKind::PermissionDenied => OpenError::PermissionDenied { path, bus },
        std::io::ErrorKind::NotFound => OpenError::NotEnabled { path, bus },
        _ => OpenError::Other {
            path,
            bus,
            detail: e.to_string(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use embedded_hal_mock::eh1::spi::{Mock, Transaction};

    /// The MCP3008's reply carrying `count`: bits above the null bit float (read
    /// high here, as they often do on a real bus).
    fn reply(count: u16) -> Vec<u8> {
        vec![0xff, 0xf8 | (count >> 8) as u8, (count & 0xff) as u8]
    }

    fn expect_read(channel: u8, count: u16) -> Vec<Transaction<u8>> {
        vec![
            Transaction::transaction_start(),
            Transaction::transfer(Mcp3008::<Mock<u8>>::command(channel).to_vec(), reply(count)),
            Transaction::transaction_end(),
        ]
    }

    #[test]
    fn every_channel_sends_the_datasheet_command_and_decodes_ten_bits() {
        let expected_tx: [[u8; 3]; 8] = [
            [0x01, 0x80, 0x00],
            [0x01, 0x90, 0x00],
            [0x01, 0xa0, 0x00],
            [0x01, 0xb0, 0x00],
            [0x01, 0xc0, 0x00],
            [0x01, 0xd0, 0x00],
            [0x01, 0xe0, 0x00],
            [0x01, 0xf0, 0x00],
        ];
        for channel in 0..8u8 {
            assert_eq!(
                Mcp3008::<Mock<u8>>::command(channel),
                expected_tx[usize::from(channel)]
            );
            let counts = [0u16, 1023, 844, 860, 0x155 + u16::from(channel)];
            let traffic: Vec<_> = counts
                .iter()
                .flat_map(|&c| expect_read(channel, c))
                .collect();
            let mut spi = Mock::new(&traffic);
            let mut adc = Mcp3008::new(spi.clone(), channel, "/dev/spidev0.0").unwrap();
            for &c in &counts {
                assert_eq!(adc.read_count().unwrap(), c, "channel {channel}");
            }
            spi.done();
        }
    }

    #[test]
    fn a_floating_miso_is_an_error_not_a_count() {
        let traffic = [
            Transaction::transaction_start(),
            Transaction::transfer(vec![0x01, 0x80, 0x00], vec![0xff, 0xff, 0xff]),
            Transaction::transaction_end(),
        ];
        let mut spi = Mock::new(&traffic);
        let mut adc = Mcp3008::new(spi.clone(), 0, "/dev/spidev0.0").unwrap();
        let e = adc.read_count().unwrap_err();
        assert!(
            e.to_string().contains("no answer from the MCP3008") && e.to_string().contains("MISO"),
            "{e}"
        );
        spi.done();
    }

    #[test]
    fn channel_out_of_range_is_refused() {
        let mut spi = Mock::new(&[]);
        assert!(Mcp3008::new(spi.clone(), 8, "/dev/spidev0.0").is_err());
        spi.done();
    }

    #[test]
    fn open_errors_name_the_fix() {
        let e = open_error(
            "/dev/spidev0.0",
            &std::io::Error::from(std::io::ErrorKind::PermissionDenied),
        );
        assert_eq!(
            e.to_string(),
            "/dev/spidev0.0: permission denied: add the weatherd user to the spi group \
             (`sudo usermod -aG spi weatherd`) and restart the service"
        );
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("spidev0.0");
        let e = open(missing.to_str().unwrap(), 0)
            .err()
            .expect("missing device");
        assert!(e.to_string().contains("dtparam=spi=on"), "{e}");
    }
}
