//! An emulated MCP3008 on one SPI device, at the level of the bytes on the wire (the
//! datasheet's figure 6-1), and a test `Backend` whose ADC channels are the crate's
//! real `Mcp3008` driver talking to it. Written from the datasheet, sharing no code
//! with the driver: it decodes the start bit, single-ended bit and channel from what
//! the driver sends and answers with the null bit and the 10-bit count.

use embedded_hal::delay::DelayNs;
use embedded_hal::spi::{ErrorKind, ErrorType, Operation, SpiDevice};
use std::collections::VecDeque;
use std::path::Path;
use std::sync::{Arc, Mutex};
use weatherd::hw::spi::Mcp3008;
use weatherd::hw::{AdcChannel, Backend, EdgeSource, HwError, I2cBus, OneWire, PinRole};

#[derive(Default)]
struct State {
    /// The count each input reads when nothing is queued.
    level: [u16; 8],
    /// Counts to give before `level`, one per conversion (noise, a script).
    queued: [VecDeque<u16>; 8],
    /// Unplugged: nothing drives MISO, which floats high.
    unplugged: bool,
    /// The kernel's transfer fails (the device file went away).
    failing: bool,
    /// Conversions made, per channel.
    conversions: [usize; 8],
}

/// See the module docs. Clones share the chip.
#[derive(Clone, Default)]
pub struct Mcp3008Chip(Arc<Mutex<State>>);

impl Mcp3008Chip {
    pub fn new() -> Mcp3008Chip {
        Mcp3008Chip::default()
    }
    /// What `channel` reads from now on.
    pub fn set_count(&self, channel: u8, count: u16) {
        self.0.lock().unwrap().level[usize::from(channel)] = count.min(1023);
    }
    /// The next conversions of `channel`, in order, before it reads its level again.
    pub fn queue(&self, channel: u8, counts: &[u16]) {
        self.0.lock().unwrap().queued[usize::from(channel)].extend(counts);
    }
    pub fn unplug(&self, unplugged: bool) {
        self.0.lock().unwrap().unplugged = unplugged;
    }
    pub fn fail_transfers(&self, failing: bool) {
        self.0.lock().unwrap().failing = failing;
    }
    pub fn conversions(&self, channel: u8) -> usize {
        self.0.lock().unwrap().conversions[usize::from(channel)]
    }

    /// The chip's answer to one 3-byte frame: the bits it has not driven yet float
    /// high; after the start bit (bit 0 of byte 0), SGL/DIFF and D2..D0 (bits 7..4 of
    /// byte 1), a sample clock, the null bit (0) and B9..B0.
    fn answer(state: &mut State, tx: &[u8]) -> Vec<u8> {
        let mut rx = vec![0xff; tx.len()];
        let framed = tx.len() == 3 && tx[0] & 0x01 == 0x01 && tx[1] & 0x80 == 0x80;
        if state.unplugged || !framed {
            return rx;
        }
        let channel = usize::from((tx[1] >> 4) & 0x07);
        state.conversions[channel] += 1;
        let count = state.queued[channel]
            .pop_front()
            .unwrap_or(state.level[channel])
            .min(1023);
        rx[1] = 0xf8 | (count >> 8) as u8;
        rx[2] = (count & 0xff) as u8;
        rx
    }
}

impl ErrorType for Mcp3008Chip {
    type Error = ErrorKind;
}

impl SpiDevice for Mcp3008Chip {
    fn transaction(&mut self, operations: &mut [Operation<'_, u8>]) -> Result<(), ErrorKind> {
        let mut state = self.0.lock().unwrap();
        if state.failing {
            return Err(ErrorKind::Other);
        }
        for op in operations {
            match op {
                Operation::Transfer(read, write) => {
                    let rx = Mcp3008Chip::answer(&mut state, write);
                    for (r, b) in read.iter_mut().zip(rx) {
                        *r = b;
                    }
                }
                Operation::TransferInPlace(words) => {
                    let rx = Mcp3008Chip::answer(&mut state, words);
                    words.copy_from_slice(&rx);
                }
                // Clocking bytes out alone starts no conversion the driver could read.
                Operation::Write(_) | Operation::DelayNs(_) => {}
                Operation::Read(words) => words.fill(0xff),
            }
        }
        Ok(())
    }
}

/// A backend with one emulated MCP3008 at `spi` (the crate's `Mcp3008` driver on it);
/// every other device is refused with an error naming what the test did not provide.
#[derive(Clone)]
pub struct AdcBackend {
    pub spi: String,
    pub chip: Mcp3008Chip,
}

impl AdcBackend {
    pub fn new(spi: &str, chip: &Mcp3008Chip) -> AdcBackend {
        AdcBackend {
            spi: spi.to_string(),
            chip: chip.clone(),
        }
    }
}

fn unavailable(device: String) -> HwError {
    HwError::Unavailable {
        device,
        why: "not in this test".into(),
    }
}

impl Backend for AdcBackend {
    fn edge_source(&self, pin: u8, _role: PinRole) -> Result<Box<dyn EdgeSource>, HwError> {
        Err(unavailable(format!("GPIO{pin}")))
    }
    fn adc_channel(&self, spi: &str, channel: u8) -> Result<Box<dyn AdcChannel>, HwError> {
        if spi != self.spi {
            return Err(unavailable(spi.to_string()));
        }
        Ok(Box::new(Mcp3008::new(self.chip.clone(), channel, spi)?))
    }
    fn i2c(&self, bus: &str) -> Result<I2cBus, HwError> {
        Err(unavailable(bus.to_string()))
    }
    fn one_wire(&self, root: &Path) -> Result<Box<dyn OneWire>, HwError> {
        Err(unavailable(root.display().to_string()))
    }
    fn delay(&self) -> Box<dyn DelayNs + Send> {
        Box::new(weatherd::sim::hardware::NoDelay)
    }
}
