//! The BME280's factory calibration and the datasheet's compensation formulas.

/// The factory trimming values (datasheet names, table 16).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Calibration {
    pub t1: u16,
    pub t2: i16,
    pub t3: i16,
    pub p1: u16,
    pub p2: i16,
    pub p3: i16,
    pub p4: i16,
    pub p5: i16,
    pub p6: i16,
    pub p7: i16,
    pub p8: i16,
    pub p9: i16,
    pub h1: u8,
    pub h2: i16,
    pub h3: u8,
    pub h4: i16,
    pub h5: i16,
    pub h6: i8,
}

impl Calibration {
    /// From the 26 bytes at 0x88..=0xA1 and the 7 at 0xE1..=0xE7 (zeros for a BMP280,
    /// which has no humidity calibration).
    pub(crate) fn from_registers(pt: &[u8; 26], h: &[u8; 7]) -> Calibration {
        let u = |i: usize| u16::from_le_bytes([pt[i], pt[i + 1]]);
        let s = |i: usize| i16::from_le_bytes([pt[i], pt[i + 1]]);
        Calibration {
            t1: u(0),
            t2: s(2),
            t3: s(4),
            p1: u(6),
            p2: s(8),
            p3: s(10),
            p4: s(12),
            p5: s(14),
            p6: s(16),
            p7: s(18),
            p8: s(20),
            p9: s(22),
            h1: pt[25],
            h2: i16::from_le_bytes([h[0], h[1]]),
            h3: h[2],
            // Two signed 12-bit values sharing 0xE5: dig_H4 = 0xE4[7:0] 0xE5[3:0],
            // dig_H5 = 0xE6[7:0] 0xE5[7:4]; the high byte carries the sign.
            h4: (i16::from(h[3] as i8) << 4) | i16::from(h[4] & 0x0f),
            h5: (i16::from(h[5] as i8) << 4) | i16::from(h[4] >> 4),
            h6: h[6] as i8,
        }
    }

    /// t_fine from the 20-bit adc_T (datasheet 4.2.3, BME280_compensate_T_int32).
    /// 64-bit arithmetic gives the same results as the datasheet's 32-bit code for any
    /// real chip, and cannot overflow on garbage calibration.
    pub fn t_fine(&self, adc_t: u32) -> i64 {
        let adc = i64::from(adc_t);
        let t1 = i64::from(self.t1);
        let var1 = (((adc >> 3) - (t1 << 1)) * i64::from(self.t2)) >> 11;
        let d = (adc >> 4) - t1;
        let var2 = (((d * d) >> 12) * i64::from(self.t3)) >> 14;
        var1 + var2
    }

    /// °C from t_fine. The datasheet's int32 code rounds this to 0.01 °C,
    /// `(t_fine·5 + 128) >> 8`; dividing without that rounding keeps the chip's own
    /// resolution (0.005 °C at ×1) instead of adding 0.005 °C of rounding error.
    pub fn temperature_c(t_fine: i64) -> f64 {
        t_fine as f64 / 5120.0
    }

    /// Pa from the 20-bit adc_P (datasheet 4.2.3, BME280_compensate_P_int64, whose
    /// result is Pa in Q24.8). None when dig_P1 makes the divisor zero (a chip whose
    /// calibration reads as zeros). 128-bit arithmetic cannot overflow on garbage.
    pub fn pressure_pa(&self, adc_p: u32, t_fine: i64) -> Option<f64> {
        let mut var1 = i128::from(t_fine) - 128_000;
        let mut var2 = var1 * var1 * i128::from(self.p6);
        var2 += (var1 * i128::from(self.p5)) << 17;
        var2 += i128::from(self.p4) << 35;
        var1 = ((var1 * var1 * i128::from(self.p3)) >> 8) + ((var1 * i128::from(self.p2)) << 12);
        var1 = (((1i128 << 47) + var1) * i128::from(self.p1)) >> 33;
        if var1 == 0 {
            return None;
        }
        let mut p = 1_048_576 - i128::from(adc_p);
        p = (((p << 31) - var2) * 3125) / var1;
        let var1 = (i128::from(self.p9) * (p >> 13) * (p >> 13)) >> 25;
        let var2 = (i128::from(self.p8) * p) >> 19;
        p = ((p + var1 + var2) >> 8) + (i128::from(self.p7) << 4);
        Some(p as f64 / 256.0)
    }

    /// %RH from the 16-bit adc_H (datasheet 4.2.3, bme280_compensate_H_int32, whose
    /// result is %RH·1024, clamped to 0..100 %). Note that dig_H3 appears once, inside
    /// the dig_H6 term: Bosch's double-precision API code multiplies by
    /// `(1 + dig_H3·(t_fine − 76800)/2^26)` a second time, which the datasheet does not.
    pub fn humidity_pct(&self, adc_h: u16, t_fine: i64) -> f64 {
        // 128-bit: the same results as the datasheet's 32-bit code for any real chip,
        // and no overflow (a panic in a debug build) on garbage calibration.
        let v = i128::from(t_fine) - 76_800;
        let h1 = i128::from(self.h1);
        let h2 = i128::from(self.h2);
        let h3 = i128::from(self.h3);
        let h4 = i128::from(self.h4);
        let h5 = i128::from(self.h5);
        let h6 = i128::from(self.h6);
        let x = ((((i128::from(adc_h) << 14) - (h4 << 20) - (h5 * v)) + 16_384) >> 15)
            * (((((((v * h6) >> 10) * (((v * h3) >> 11) + 32_768)) >> 10) + 2_097_152) * h2
                + 8_192)
                >> 14);
        let x = x - (((((x >> 15) * (x >> 15)) >> 7) * h1) >> 4);
        let x = x.clamp(0, 419_430_400);
        (x >> 12) as f64 / 1024.0
    }
}
