//! A register-level emulation of a Bosch BME280 (or BMP280) on I2C, so the real driver
//! runs against it unchanged.
//!
//! What is modelled: chip id (0xD0), soft reset (0xE0 ← 0xB6), ctrl_hum (0xF2, taking
//! effect on the next ctrl_meas write, as the datasheet says), status (0xF3), ctrl_meas
//! (0xF4; forced mode measures and drops back to sleep, normal mode measures on every
//! data read), config (0xF5), the calibration banks 0x88–0xA1 and 0xE1–0xE7, burst
//! reads with auto-increment, multi-byte writes as register/value pairs, the two
//! addresses (0x76 with SDO low, 0x77 high; anything else is not acknowledged), skipped
//! measurements (oversampling 0 → 0x80000 / 0x8000) and the resolution that
//! oversampling and the IIR filter give. Unplugging makes every transfer NACK;
//! plugging back in is a power-on reset.
//!
//! Also modelled, because a driver can get them wrong on real hardware:
//! - **Conversion time.** A forced measurement takes the datasheet's typical or
//!   maximum measurement time for the chosen oversampling (section 9.1; see
//!   [`ConversionTime`]). Meanwhile status bit 3 (`measuring`) is set and the data
//!   registers still hold the previous result, as the chip's shadow registers do.
//!   Time is the chip's own clock, advanced only by the delay that [`Bme280Chip::delay`]
//!   hands out (and [`Bme280Chip::advance_us`]): a driver that waits through it sees
//!   its conversion finish, and a replay never sleeps.
//! - **The IIR filter** (datasheet 3.4.3): temperature and pressure pass through
//!   `x_filt = (x_filt_old·(c − 1) + x)/c`, with the state kept between forced
//!   measurements and cleared by a reset (the first measurement after a reset seeds
//!   it). Humidity is not filtered, as on the chip.
//!
//! Not modelled: noise (so oversampling changes resolution and time, not scatter), the
//! normal mode's standby timing, SPI.
//!
//! Raw values come from inverting the datasheet's floating-point compensation by binary
//! search (each formula is monotonic in its raw value), so a driver using the
//! datasheet's formulas turns them back into the conditions asked for, within the
//! resolution of the settings. The humidity formula is the datasheet's, whose only
//! dig_H3 term sits inside the dig_H6 term.

use crate::hw::I2cError;
pub use crate::sensors::bme280::Calibration;
use embedded_hal::i2c::{ErrorType, I2c, Operation, SevenBitAddress};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

mod inverse;

pub(crate) const REG_CALIB_PT: u8 = 0x88;
pub(crate) const REG_CHIP_ID: u8 = 0xD0;
pub(crate) const REG_RESET: u8 = 0xE0;
pub(crate) const REG_CALIB_H: u8 = 0xE1;
pub const REG_CTRL_HUM: u8 = 0xF2;
pub(crate) const REG_STATUS: u8 = 0xF3;
pub const REG_CTRL_MEAS: u8 = 0xF4;
pub const REG_CONFIG: u8 = 0xF5;
pub(crate) const REG_DATA: u8 = 0xF7;
pub(crate) const SOFT_RESET: u8 = 0xB6;
/// Status bit 3: a conversion is running.
pub(crate) const STATUS_MEASURING: u8 = 0x08;

pub(crate) const CHIP_ID_BME280: u8 = 0x60;
pub(crate) const CHIP_ID_BMP280: u8 = 0x58;

/// Which part is soldered on the breakout.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Variant {
    Bme280,
    /// Temperature and pressure only; no humidity registers or calibration.
    Bmp280,
    /// Something else answering at the address (a test of the driver's id check).
    Other(u8),
}

impl Variant {
    pub(crate) fn chip_id(self) -> u8 {
        match self {
            Variant::Bme280 => CHIP_ID_BME280,
            Variant::Bmp280 => CHIP_ID_BMP280,
            Variant::Other(id) => id,
        }
    }
    fn has_humidity(self) -> bool {
        !matches!(self, Variant::Bmp280)
    }
}

/// What the air around the chip is like.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct AirConditions {
    pub temperature_c: f64,
    pub pressure_pa: f64,
    pub humidity_pct: f64,
}

/// Uncompensated ADC values: 20-bit temperature and pressure, 16-bit humidity.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RawSample {
    pub adc_t: u32,
    pub adc_p: u32,
    pub adc_h: u16,
}

/// Where the chip gets its air from when it measures.
pub(crate) type AirSource = Arc<dyn Fn() -> AirConditions + Send + Sync>;

/// How long this part takes to convert (datasheet 9.1).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConversionTime {
    /// t_measure,typ = 1 + 2·osrs_t + (2·osrs_p + 0.5) + (2·osrs_h + 0.5) ms.
    Typical,
    /// t_measure,max = 1.25 + 2.3·osrs_t + (2.3·osrs_p + 0.575) + (2.3·osrs_h + 0.575)
    /// ms: the slowest part the datasheet allows.
    Maximum,
}

impl ConversionTime {
    /// In ns, for the oversampling register fields (0 = skipped: no term).
    pub fn ns(self, osrs_t: u8, osrs_p: u8, osrs_h: u8) -> u64 {
        let (base, per, extra) = match self {
            ConversionTime::Typical => (1_000_000, 2_000_000, 500_000),
            ConversionTime::Maximum => (1_250_000, 2_300_000, 575_000),
        };
        let mut ns = base;
        if osrs_t != 0 {
            ns += per * factor(osrs_t);
        }
        for osrs in [osrs_p, osrs_h] {
            if osrs != 0 {
                ns += per * factor(osrs) + extra;
            }
        }
        ns
    }
}

/// The oversampling factor of a register field (5, 6 and 7 all mean ×16).
fn factor(osrs: u8) -> u64 {
    1 << (osrs.clamp(1, 5) - 1)
}

/// A conversion under way: its result reaches the data registers at `done_at_ns`.
#[derive(Clone, Copy, Debug)]
struct Pending {
    done_at_ns: u64,
    data: [u8; 8],
}

/// The delay a driver should wait with: it moves the chip's clock on, at once.
#[derive(Clone, Debug)]
pub struct ChipDelay(Arc<AtomicU64>);

impl embedded_hal::delay::DelayNs for ChipDelay {
    fn delay_ns(&mut self, ns: u32) {
        self.0.fetch_add(u64::from(ns), Ordering::Relaxed);
    }
}

struct State {
    variant: Variant,
    address: u8,
    plugged: bool,
    calibration: Calibration,
    regs: [u8; 256],
    /// The register the next read starts at.
    pointer: u8,
    /// ctrl_hum only takes effect when ctrl_meas is written.
    pending_ctrl_hum: u8,
    active_ctrl_hum: u8,
    /// When set, measurements report these raw values instead of the air's.
    raw_override: Option<RawSample>,
    /// The last measurement's raw values, where the next search starts.
    last_raw: Option<RawSample>,
    measurements: u64,
    conversion_time: ConversionTime,
    /// The conversion under way, if any.
    pending: Option<Pending>,
    /// The IIR filter's memory (adc_T, adc_P in 20-bit units); None after a reset.
    filtered: Option<(f64, f64)>,
}

/// The emulated chip. Clones share one chip, so a test (or the simulator's operator)
/// can hold a handle to unplug it while the driver holds the bus.
#[derive(Clone)]
pub struct Bme280Chip {
    state: Arc<Mutex<State>>,
    air: AirSource,
    /// The chip's clock in ns, moved on by [`ChipDelay`]s.
    clock_ns: Arc<AtomicU64>,
}

impl Bme280Chip {
    pub fn new(
        variant: Variant,
        address: u8,
        calibration: Calibration,
        air: AirSource,
    ) -> Bme280Chip {
        let mut state = State {
            variant,
            address,
            plugged: true,
            calibration,
            regs: [0; 256],
            pointer: 0,
            pending_ctrl_hum: 0,
            active_ctrl_hum: 0,
            raw_override: None,
            last_raw: None,
            measurements: 0,
            conversion_time: ConversionTime::Typical,
            pending: None,
            filtered: None,
        };
        state.power_on();
        Bme280Chip {
            state: Arc::new(Mutex::new(state)),
            air,
            clock_ns: Arc::new(AtomicU64::new(0)),
        }
    }

    /// A delay that moves this chip's clock on (and returns at once).
    pub fn delay(&self) -> ChipDelay {
        ChipDelay(self.clock_ns.clone())
    }

    /// Lets time pass for the chip, as a driver's delay would.
    pub fn advance_us(&self, us: u64) {
        self.clock_ns.fetch_add(us * 1_000, Ordering::Relaxed);
    }

    /// Typical parts (the default) or the slowest the datasheet allows.
    pub fn set_conversion_time(&self, t: ConversionTime) {
        self.lock().conversion_time = t;
    }

    /// True while a forced conversion is under way.
    pub fn measuring(&self) -> bool {
        let mut s = self.lock();
        self.settle(&mut s);
        s.pending.is_some()
    }

    /// A chip in fixed conditions (for tests).
    pub fn with_fixed_air(variant: Variant, address: u8, air: AirConditions) -> Bme280Chip {
        Bme280Chip::new(
            variant,
            address,
            Calibration::DATASHEET,
            Arc::new(move || air),
        )
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock cannot leave the registers half-written in a
        // way that matters to an emulator: keep going with what is there.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Pulls the breakout off the bus: every transfer is now not acknowledged.
    pub fn unplug(&self) {
        self.lock().plugged = false;
    }

    /// Plugs it back in: a power-on reset, as with real hardware.
    pub fn replug(&self) {
        let mut s = self.lock();
        s.plugged = true;
        s.power_on();
    }

    /// Moves the chip to another address (the SDO strap).
    pub fn set_address(&self, address: u8) {
        self.lock().address = address;
    }

    pub fn address(&self) -> u8 {
        self.lock().address
    }

    /// Reports these raw ADC values from now on (the datasheet's worked example).
    pub fn set_raw_override(&self, raw: Option<RawSample>) {
        self.lock().raw_override = raw;
    }

    /// How many conversions the chip has started (forced or normal mode).
    pub fn measurements(&self) -> u64 {
        self.lock().measurements
    }

    /// Register contents as the bus would read them (for tests).
    pub fn register(&self, reg: u8) -> u8 {
        let mut s = self.lock();
        self.settle(&mut s);
        s.regs[usize::from(reg)]
    }

    fn now_ns(&self) -> u64 {
        self.clock_ns.load(Ordering::Relaxed)
    }

    /// Finishes the conversion under way if its time has come: the result reaches
    /// the data registers, `measuring` clears and the mode drops back to sleep.
    fn settle(&self, s: &mut State) {
        if let Some(p) = s.pending {
            if self.now_ns() >= p.done_at_ns {
                s.pending = None;
                let d = usize::from(REG_DATA);
                s.regs[d..d + 8].copy_from_slice(&p.data);
                s.regs[usize::from(REG_STATUS)] &= !STATUS_MEASURING;
                s.regs[usize::from(REG_CTRL_MEAS)] &= !0x03;
            }
        }
    }

    fn sample(&self, s: &mut State) -> RawSample {
        let raw = match s.raw_override {
            Some(raw) => raw,
            None => s.calibration.raw_near((self.air)(), s.last_raw),
        };
        s.last_raw = Some(raw);
        raw
    }

    /// Normal mode: a conversion that is always already finished.
    fn measure_now(&self, s: &mut State) {
        let raw = self.sample(s);
        let data = s.convert(raw);
        let d = usize::from(REG_DATA);
        s.regs[d..d + 8].copy_from_slice(&data);
    }

    /// Forced mode: the air is sampled now, the result lands after the conversion
    /// time.
    fn start_forced(&self, s: &mut State) {
        let raw = self.sample(s);
        let data = s.convert(raw);
        let ctrl_meas = s.regs[usize::from(REG_CTRL_MEAS)];
        let osrs_h = if s.variant.has_humidity() {
            s.active_ctrl_hum
        } else {
            0
        };
        let duration = s
            .conversion_time
            .ns(ctrl_meas >> 5, (ctrl_meas >> 2) & 0x07, osrs_h);
        s.pending = Some(Pending {
            done_at_ns: self.now_ns() + duration,
            data,
        });
        s.regs[usize::from(REG_STATUS)] |= STATUS_MEASURING;
    }

    fn write_register(&self, s: &mut State, reg: u8, value: u8) {
        match reg {
            REG_RESET if value == SOFT_RESET => s.soft_reset(),
            REG_CTRL_HUM if s.variant.has_humidity() => {
                s.pending_ctrl_hum = value & 0x07;
                s.regs[usize::from(reg)] = value & 0x07;
            }
            REG_CTRL_MEAS => {
                s.active_ctrl_hum = s.pending_ctrl_hum;
                s.regs[usize::from(reg)] = value;
                if matches!(value & 0x03, 0x01 | 0x02) && s.pending.is_none() {
                    // Forced mode: one conversion, then back to sleep (in `settle`).
                    self.start_forced(s);
                }
            }
            REG_CONFIG => s.regs[usize::from(reg)] = value,
            // Everything else is read-only; the chip ignores such writes.
            _ => {}
        }
    }
}

impl State {
    fn power_on(&mut self) {
        self.regs = [0; 256];
        self.regs[usize::from(REG_CHIP_ID)] = self.variant.chip_id();
        let pt = self.calibration.pt_bytes();
        let start = usize::from(REG_CALIB_PT);
        self.regs[start..start + pt.len()].copy_from_slice(&pt);
        if self.variant.has_humidity() {
            let h = self.calibration.h_bytes();
            let start = usize::from(REG_CALIB_H);
            self.regs[start..start + h.len()].copy_from_slice(&h);
        }
        if matches!(self.variant, Variant::Bmp280) {
            // A BMP280's 0xA1 is not dig_H1.
            self.regs[0xA1] = 0;
        }
        self.soft_reset();
    }

    fn soft_reset(&mut self) {
        for reg in [REG_CTRL_HUM, REG_STATUS, REG_CTRL_MEAS, REG_CONFIG] {
            self.regs[usize::from(reg)] = 0;
        }
        self.pending_ctrl_hum = 0;
        self.active_ctrl_hum = 0;
        self.pending = None;
        self.filtered = None;
        // Data registers' reset values: 0x80000 for pressure and temperature, 0x8000
        // for humidity (a BMP280 has no humidity registers and reads 0 there).
        let hum: [u8; 2] = if self.variant.has_humidity() {
            [0x80, 0x00]
        } else {
            [0, 0]
        };
        let data = [0x80, 0x00, 0x00, 0x80, 0x00, 0x00, hum[0], hum[1]];
        let d = usize::from(REG_DATA);
        self.regs[d..d + data.len()].copy_from_slice(&data);
    }

    /// One conversion: the data registers' image (pressure, temperature, humidity)
    /// after the IIR filter and the settings' resolution.
    fn convert(&mut self, raw: RawSample) -> [u8; 8] {
        self.measurements += 1;
        let ctrl_meas = self.regs[usize::from(REG_CTRL_MEAS)];
        let osrs_t = ctrl_meas >> 5;
        let osrs_p = (ctrl_meas >> 2) & 0x07;
        let filter = (self.regs[usize::from(REG_CONFIG)] >> 2) & 0x07;
        let (adc_t, adc_p) = if filter == 0 {
            // The filter off still keeps no memory (turning it on later starts afresh).
            self.filtered = None;
            (raw.adc_t, raw.adc_p)
        } else {
            // Coefficients 2, 4, 8, 16 for settings 1–4 (5–7 also mean 16).
            let c = f64::from(1u32 << filter.min(4));
            let (t, p) = (f64::from(raw.adc_t), f64::from(raw.adc_p));
            let (t, p) = match self.filtered {
                Some((old_t, old_p)) => ((old_t * (c - 1.0) + t) / c, (old_p * (c - 1.0) + p) / c),
                None => (t, p),
            };
            self.filtered = Some((t, p));
            (t.round() as u32, p.round() as u32)
        };
        let p = reduce_resolution(adc_p, osrs_p, filter);
        let t = reduce_resolution(adc_t, osrs_t, filter);
        let mut data = [0u8; 8];
        data[0..3].copy_from_slice(&bytes20(p));
        data[3..6].copy_from_slice(&bytes20(t));
        if self.variant.has_humidity() {
            let h = if self.active_ctrl_hum == 0 {
                0x8000
            } else {
                raw.adc_h
            };
            data[6..8].copy_from_slice(&h.to_be_bytes());
        }
        data
    }
}

/// Skipped measurements read 0x80000; otherwise the resolution is 16 bits plus one per
/// doubling of oversampling, or the full 20 bits with the IIR filter on.
fn reduce_resolution(raw: u32, osrs: u8, filter: u8) -> u32 {
    if osrs == 0 {
        return 0x80000;
    }
    let bits = if filter != 0 {
        20
    } else {
        (15 + u32::from(osrs.min(5))).min(20)
    };
    let drop = 20 - bits;
    (raw >> drop) << drop
}

/// A 20-bit value as msb, lsb, xlsb (the low nibble of xlsb is zero).
fn bytes20(v: u32) -> [u8; 3] {
    [(v >> 12) as u8, (v >> 4) as u8, ((v & 0x0f) << 4) as u8]
}

impl ErrorType for Bme280Chip {
    type Error = I2cError;
}

impl I2c<SevenBitAddress> for Bme280Chip {
    fn transaction(
        &mut self,
        address: u8,
        operations: &mut [Operation<'_>],
    ) -> Result<(), I2cError> {
        let mut s = self.lock();
        if !s.plugged || address != s.address {
            return Err(I2cError::NoAcknowledge);
        }
        self.settle(&mut s);
        for op in operations {
            match op {
                Operation::Write(bytes) => {
                    let Some((&reg, rest)) = bytes.split_first() else {
                        continue;
                    };
                    s.pointer = reg;
                    // In I2C writes every data byte is preceded by its register address.
                    let mut reg = reg;
                    for (i, &b) in rest.iter().enumerate() {
                        if i % 2 == 0 {
                            self.write_register(&mut s, reg, b);
                        } else {
                            reg = b;
                        }
                    }
                }
                Operation::Read(buf) => {
                    if s.regs[usize::from(REG_CTRL_MEAS)] & 0x03 == 0x03
                        && (REG_DATA..=0xFE).contains(&s.pointer)
                    {
                        // Normal mode: there is always a fresh conversion to read.
                        self.measure_now(&mut s);
                    }
                    for b in buf.iter_mut() {
                        *b = s.regs[usize::from(s.pointer)];
                        s.pointer = s.pointer.wrapping_add(1);
                    }
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests;
