//! A BH1750 emulated at the level of its I2C protocol: the power states, the
//! one-byte commands, the measurement time and the 16-bit result register, as the
//! datasheet describes them. It is strict where the chip is: commands sent in the
//! wrong state are ignored (and logged, so tests can assert the driver sent none),
//! and a result read before a measurement has finished is the stale one.

use embedded_hal::delay::DelayNs;
use embedded_hal::i2c::{ErrorType, I2c, Operation};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;
use weatherd::hw::I2cError;

/// Typical high-resolution measurement time (the datasheet's maximum is 180 ms).
pub const MEASUREMENT_NS: u64 = 120_000_000;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Power {
    Down,
    On,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Mode {
    OneTime,
    Continuous,
}

#[derive(Debug)]
struct State {
    address: u8,
    present: bool,
    lux: f64,
    power: Power,
    /// The measurement under way and when it started (chip time).
    measuring: Option<(Mode, u64)>,
    data: u16,
    mtreg: u8,
    /// Virtual time, advanced by [`ChipDelay`] and [`Bh1750Chip::advance`]; `None`
    /// when the chip runs on the real clock instead.
    virtual_ns: Option<u64>,
    started: Instant,
    /// Commands the real chip would ignore or not understand.
    violations: Vec<String>,
    commands: Vec<u8>,
}

/// A handle on the emulated chip; clones share it (the driver owns one as its bus,
/// the test keeps another to change the light, unplug it, or look inside).
#[derive(Clone, Debug)]
pub struct Bh1750Chip(Arc<Mutex<State>>);

impl Bh1750Chip {
    /// A chip at `address` in the dark, just powered up, on a virtual clock.
    pub fn new(address: u8) -> Self {
        Bh1750Chip(Arc::new(Mutex::new(State {
            address,
            present: true,
            lux: 0.0,
            power: Power::Down,
            measuring: None,
            data: 0,
            mtreg: 69,
            virtual_ns: Some(0),
            started: Instant::now(),
            violations: Vec::new(),
            commands: Vec::new(),
        })))
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn set_lux(&self, lux: f64) {
        self.state().lux = lux;
    }

    /// Unplugs (false) or re-plugs (true) the chip; a re-plugged chip has been off,
    /// so it wakes powered down with an empty result.
    pub fn plug(&self, present: bool) {
        let mut s = self.state();
        if present && !s.present {
            s.power = Power::Down;
            s.measuring = None;
            s.data = 0;
        }
        s.present = present;
    }

    pub fn power(&self) -> Power {
        self.state().power
    }

    pub fn violations(&self) -> Vec<String> {
        self.state().violations.clone()
    }

    /// Every command byte the chip acknowledged, in order.
    pub fn commands(&self) -> Vec<u8> {
        self.state().commands.clone()
    }

    /// Lets virtual time pass (between samples).
    pub fn advance(&self, ns: u64) {
        if let Some(t) = self.state().virtual_ns.as_mut() {
            *t += ns;
        }
    }

    /// A delay that lets the chip's virtual time pass, as a real wait would.
    pub fn delay(&self) -> ChipDelay {
        ChipDelay(self.clone())
    }
}

impl State {
    fn now(&self) -> u64 {
        self.virtual_ns
            .unwrap_or_else(|| self.started.elapsed().as_nanos() as u64)
    }

    fn count(&self) -> u16 {
        let raw = (self.lux * 1.2 * f64::from(self.mtreg) / 69.0).round();
        raw.clamp(0.0, f64::from(u16::MAX)) as u16
    }

    /// Finishes a measurement whose time has come.
    fn settle(&mut self) {
        let now = self.now();
        if let Some((mode, started)) = self.measuring {
            if now.saturating_sub(started) >= MEASUREMENT_NS {
                self.data = self.count();
                match mode {
                    Mode::OneTime => {
                        self.measuring = None;
                        self.power = Power::Down;
                    }
                    // Continuous: the next measurement starts at once.
                    Mode::Continuous => self.measuring = Some((mode, now)),
                }
            }
        }
    }

    fn command(&mut self, byte: u8) {
        self.settle();
        self.commands.push(byte);
        let now = self.now();
        let powered = self.power == Power::On;
        match byte {
            0x00 => {
                self.power = Power::Down;
                self.measuring = None;
            }
            0x01 => self.power = Power::On,
            0x07 if powered => self.data = 0,
            0x10 | 0x11 | 0x13 if powered => self.measuring = Some((Mode::Continuous, now)),
            0x20 | 0x21 | 0x23 if powered => self.measuring = Some((Mode::OneTime, now)),
            0x07 | 0x10 | 0x11 | 0x13 | 0x20 | 0x21 | 0x23 => self
                .violations
                .push(format!("command {byte:#04x} while powered down is ignored")),
            0x40..=0x47 => self.mtreg = (self.mtreg & 0x1f) | ((byte & 0x07) << 5),
            0x60..=0x7f => self.mtreg = (self.mtreg & 0xe0) | (byte & 0x1f),
            other => self
                .violations
                .push(format!("unknown command {other:#04x}")),
        }
    }
}

impl ErrorType for Bh1750Chip {
    type Error = I2cError;
}

impl I2c for Bh1750Chip {
    fn transaction(
        &mut self,
        address: u8,
        operations: &mut [Operation<'_>],
    ) -> Result<(), I2cError> {
        let mut s = self.state();
        if !s.present || address != s.address {
            return Err(I2cError::NoAcknowledge);
        }
        for op in operations {
            match op {
                Operation::Write(bytes) => {
                    if bytes.len() != 1 {
                        s.violations.push(format!(
                            "a write of {} bytes (commands are one byte)",
                            bytes.len()
                        ));
                    }
                    for &b in bytes.iter() {
                        s.command(b);
                    }
                }
                Operation::Read(buf) => {
                    s.settle();
                    let data = s.data.to_be_bytes();
                    for (i, b) in buf.iter_mut().enumerate() {
                        *b = data.get(i).copied().unwrap_or(0xff);
                    }
                }
            }
        }
        Ok(())
    }
}

/// Waiting on the emulated chip's virtual clock.
pub struct ChipDelay(Bh1750Chip);

impl DelayNs for ChipDelay {
    fn delay_ns(&mut self, ns: u32) {
        self.0.advance(u64::from(ns));
    }
}
