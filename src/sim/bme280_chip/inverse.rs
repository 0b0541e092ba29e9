//! The emulator's side of the calibration: register images, the datasheet's sample
//! calibration and the inverse of the compensation formulas.

use super::*;

// The calibration struct is the driver's (the same datasheet fields); the emulator
// adds the register images, the test calibration and the inverse formulas.
impl Calibration {
    /// The sample calibration of the BMP280 datasheet's worked example (section 3.12 /
    /// 8.1: adc_T = 519888 → 25.08 °C, adc_P = 415148 → 100653 Pa), with humidity
    /// values typical of real BME280 parts (the datasheet gives no humidity example).
    pub const DATASHEET: Calibration = Calibration {
        t1: 27504,
        t2: 26435,
        t3: -1000,
        p1: 36477,
        p2: -10685,
        p3: 3024,
        p4: 2855,
        p5: 140,
        p6: -7,
        p7: 15500,
        p8: -14600,
        p9: 6000,
        h1: 75,
        h2: 362,
        h3: 0,
        h4: 313,
        h5: 50,
        h6: 30,
    };

    /// The 26 bytes at 0x88..=0xA1 (0xA0 is unused; 0xA1 holds dig_H1).
    pub(crate) fn pt_bytes(&self) -> [u8; 26] {
        let mut b = [0u8; 26];
        let words: [u16; 12] = [
            self.t1,
            self.t2 as u16,
            self.t3 as u16,
            self.p1,
            self.p2 as u16,
            self.p3 as u16,
            self.p4 as u16,
            self.p5 as u16,
            self.p6 as u16,
            self.p7 as u16,
            self.p8 as u16,
            self.p9 as u16,
        ];
        for (i, w) in words.iter().enumerate() {
            b[2 * i..2 * i + 2].copy_from_slice(&w.to_le_bytes());
        }
        b[25] = self.h1;
        b
    }

    /// The 7 bytes at 0xE1..=0xE7; dig_H4 and dig_H5 are 12-bit values sharing 0xE5.
    pub(crate) fn h_bytes(&self) -> [u8; 7] {
        let h2 = (self.h2 as u16).to_le_bytes();
        let h4 = self.h4 as u16;
        let h5 = self.h5 as u16;
        [
            h2[0],
            h2[1],
            self.h3,
            (h4 >> 4) as u8,
            ((h4 & 0x0f) as u8) | (((h5 & 0x0f) as u8) << 4),
            (h5 >> 4) as u8,
            self.h6 as u8,
        ]
    }

    /// Datasheet double-precision temperature compensation: (°C, t_fine).
    pub fn temperature(&self, adc_t: u32) -> (f64, f64) {
        let x = f64::from(adc_t);
        let var1 = (x / 16384.0 - f64::from(self.t1) / 1024.0) * f64::from(self.t2);
        let d = x / 131072.0 - f64::from(self.t1) / 8192.0;
        let var2 = d * d * f64::from(self.t3);
        // The datasheet stores t_fine as a 32-bit integer.
        ((var1 + var2) / 5120.0, (var1 + var2).trunc())
    }

    /// Datasheet double-precision pressure compensation, in Pa.
    pub fn pressure(&self, adc_p: u32, t_fine: f64) -> f64 {
        let mut var1 = t_fine / 2.0 - 64000.0;
        let mut var2 = var1 * var1 * f64::from(self.p6) / 32768.0;
        var2 += var1 * f64::from(self.p5) * 2.0;
        var2 = var2 / 4.0 + f64::from(self.p4) * 65536.0;
        var1 = (f64::from(self.p3) * var1 * var1 / 524288.0 + f64::from(self.p2) * var1) / 524288.0;
        var1 = (1.0 + var1 / 32768.0) * f64::from(self.p1);
        if var1 == 0.0 {
            return 0.0;
        }
        let mut p = 1048576.0 - f64::from(adc_p);
        p = (p - var2 / 4096.0) * 6250.0 / var1;
        let var1 = f64::from(self.p9) * p * p / 2147483648.0;
        let var2 = p * f64::from(self.p8) / 32768.0;
        p + (var1 + var2 + f64::from(self.p7)) / 16.0
    }

    /// Datasheet double-precision humidity compensation, in %, before clamping.
    pub fn humidity(&self, adc_h: u32, t_fine: f64) -> f64 {
        let v = t_fine - 76800.0;
        let v = (f64::from(adc_h) - (f64::from(self.h4) * 64.0 + f64::from(self.h5) / 16384.0 * v))
            * (f64::from(self.h2) / 65536.0
                * (1.0
                    + f64::from(self.h6) / 67108864.0
                        * v
                        * (1.0 + f64::from(self.h3) / 67108864.0 * v)));
        v * (1.0 - f64::from(self.h1) * v / 524288.0)
    }

    /// The raw ADC values the chip would report for these conditions.
    #[cfg(test)]
    pub(super) fn raw_for(&self, air: AirConditions) -> RawSample {
        self.raw_near(air, None)
    }

    /// The raw ADC values the chip would report for these conditions, searching outwards from `previous` first:
    /// the air changes little between two measurements, so a few steps bracket the
    /// answer instead of twenty halvings of the whole range. The answer is the same.
    pub(crate) fn raw_near(&self, air: AirConditions, previous: Option<RawSample>) -> RawSample {
        let temperature_c = air.temperature_c.clamp(-40.0, 85.0);
        let adc_t = search(
            (0, (1 << 20) - 1),
            previous.map(|p| p.adc_t),
            temperature_c,
            |x| self.temperature(x).0,
            true,
        );
        let t_fine = self.temperature(adc_t).1;
        let pressure_pa = air.pressure_pa.clamp(30_000.0, 110_000.0);
        let adc_p = search(
            (0, (1 << 20) - 1),
            previous.map(|p| p.adc_p),
            pressure_pa,
            |x| self.pressure(x, t_fine),
            false,
        );
        let humidity_pct = air.humidity_pct.clamp(0.0, 100.0);
        let adc_h = search(
            (0, 0xffff),
            previous.map(|p| u32::from(p.adc_h)),
            humidity_pct,
            |x| self.humidity(x, t_fine),
            true,
        );
        RawSample {
            adc_t,
            adc_p,
            adc_h: adc_h as u16,
        }
    }
}

/// The raw value in `range` whose image under the monotonic `f` is nearest `target`,
/// bracketed first around `hint` when there is one.
fn search(
    range: (u32, u32),
    hint: Option<u32>,
    target: f64,
    f: impl Fn(u32) -> f64,
    increasing: bool,
) -> u32 {
    let below = |x: u32| {
        if increasing {
            f(x) < target
        } else {
            f(x) > target
        }
    };
    let (min, max) = range;
    let (mut lo, mut hi) = range;
    if let Some(h) = hint.map(|h| h.clamp(min, max)) {
        // Gallop away from the hint until the first x with !below(x) is bracketed.
        let mut step = 1u32;
        if below(h) {
            lo = h + 1;
            loop {
                let probe = h.saturating_add(step).min(max);
                if !below(probe) || probe == max {
                    hi = probe;
                    break;
                }
                lo = probe + 1;
                step = step.saturating_mul(2);
            }
        } else {
            hi = h;
            loop {
                let probe = h.saturating_sub(step).max(min);
                if below(probe) {
                    lo = probe + 1;
                    break;
                }
                hi = probe;
                if probe == min {
                    lo = min;
                    break;
                }
                step = step.saturating_mul(2);
            }
        }
        lo = lo.min(hi);
    }
    // Invariant: the first x with !below(x) lies in lo..=hi (or there is none).
    while lo < hi {
        let mid = lo + (hi - lo) / 2;
        if below(mid) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    let candidate = lo.clamp(min, max);
    if candidate > min && (f(candidate - 1) - target).abs() < (f(candidate) - target).abs() {
        candidate - 1
    } else {
        candidate
    }
}
