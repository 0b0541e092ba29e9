//! Meteorology as pure functions: dew point, sea-level pressure, altimeter setting,
//! heat index, wind chill, apparent temperature, WMO gust, vector-mean wind direction
//! and rain rate.

use crate::time::{Timestamp, NANOS_PER_SEC};

mod comfort;
pub use comfort::*;

/// Magnus coefficients over water (Alduchov & Eskridge / Sonntag form).
pub const MAGNUS_A: f64 = 17.62;
pub const MAGNUS_B_C: f64 = 243.12;

/// Standard-atmosphere temperature lapse rate, K per metre.
pub const LAPSE_RATE_K_PER_M: f64 = 0.0065;
/// g·M/(R·L): the exponent of the barometric formula for the standard lapse rate.
pub const BAROMETRIC_EXPONENT: f64 = 5.257;

/// The WMO gust averaging window.
pub const GUST_WINDOW_S: i64 = 3;

/// The longest gap a single bucket tip is spread over when computing its rain rate.
pub const RAIN_RATE_MAX_GAP_S: i64 = 15 * 60;

/// A resultant shorter than this fraction of the total weight means the directions
/// cancel out: no mean direction exists.
const CALM_RESULTANT: f64 = 1e-9;

/// Dew point (°C) by the Magnus formula over water (a = 17.62, b = 243.12 °C).
///
/// `None` when the humidity is not above zero (the logarithm is undefined) or either
/// input, or the result, is not finite.
pub fn dew_point_c(temperature_c: f64, humidity_pct: f64) -> Option<f64> {
    if !temperature_c.is_finite() || !humidity_pct.is_finite() || humidity_pct <= 0.0 {
        return None;
    }
    let gamma =
        (humidity_pct / 100.0).ln() + MAGNUS_A * temperature_c / (MAGNUS_B_C + temperature_c);
    let dew_point = MAGNUS_B_C * gamma / (MAGNUS_A - gamma);
    dew_point.is_finite().then_some(dew_point)
}

/// Station pressure reduced to sea level (hypsometric equation, station temperature).
///
/// `p0 = p · (1 − L·h / (T + L·h + 273.15))^−5.257` with the standard lapse rate
/// L = 0.0065 K/m: the air column below the station is assumed to warm downwards at L
/// from the measured station temperature. For 1000 hPa at 100 m and 15 °C this gives
/// 1011.91 hPa. Elevation 0 returns the station pressure unchanged.
pub fn sea_level_pressure_hpa(station_hpa: f64, temperature_c: f64, elevation_m: f64) -> f64 {
    let lapse_k = LAPSE_RATE_K_PER_M * elevation_m;
    station_hpa * (1.0 - lapse_k / (temperature_c + lapse_k + 273.15)).powf(-BAROMETRIC_EXPONENT)
}

/// Altimeter setting (hPa) from station pressure and elevation: the ASOS/NWS formula
/// `A = (P^0.190284 + 8.4228807e-5 · h)^(1/0.190284)`, P in hPa, h in metres.
///
/// This is what CWOP and aviation want (not sea-level pressure): it assumes the
/// standard atmosphere, so it needs no temperature. `None` for a non-finite or
/// non-positive pressure.
pub fn altimeter_setting_hpa(station_hpa: f64, elevation_m: f64) -> Option<f64> {
    const N: f64 = 0.190284;
    if !station_hpa.is_finite() || station_hpa <= 0.0 || !elevation_m.is_finite() {
        return None;
    }
    let a = (station_hpa.powf(N) + 8.422_880_7e-5 * elevation_m).powf(1.0 / N);
    a.is_finite().then_some(a)
}

/// Highest 3-second running mean of wind speed (km/h) over the 3-s windows lying inside
/// `[start, end)`, from the debounced closure timestamps. `None` when the span is
/// shorter than the window. The same as [`gust_kmh_ending_after`] with the data span
/// `[start, end)` and no further limit on where a window ends.
pub fn gust_kmh(
    closures: &[Timestamp],
    start: Timestamp,
    end: Timestamp,
    kmh_per_hz: f64,
) -> Option<f64> {
    gust_kmh_ending_after(closures, start, end, start, kmh_per_hz)
}

/// Highest 3-second running mean of wind speed (km/h) over every 3-s window that lies
/// inside the data span `[data_from, data_until)` and ends after `ends_after` (WMO-No. 8:
/// a window belongs to the period in which it ends, so an archive record scores the
/// windows ending in `(start, end]`, including those that began in the record before).
/// `None` when no window fits.
///
/// The model: only closures in `[data_from, data_until)` are used (others in the slice
/// are ignored). Between two consecutive closures `c_i < c_{i+1}` the wind speed is
/// constant at `kmh_per_hz / (c_{i+1} − c_i)`, so each gap contributes exactly
/// `kmh_per_hz` km/h·s to the speed's integral, and a steady train of f Hz gives exactly
/// `f · kmh_per_hz` (no rounding to whole closures). The two *open* gaps at the edges of
/// the data (before the first closure, after the last one) have no closure on their far
/// side yet; each gets the speed of its neighbouring gap, capped by the time from the
/// closure to the edge of the data (the open gap is at least that long, so the speed
/// in it is at most `kmh_per_hz` over that time). That keeps a burst that ends right at
/// the end of a record at its full speed, where counting the open gap as calm would
/// lose up to one closure (0.8 km/h at 2.4 km/h per Hz). With fewer than two closures
/// nothing is known about the speed: the open gaps count as calm.
///
/// The 3-s running mean at window start `w` is the integral over `[w, w + 3 s)`
/// divided by 3 s. That mean is piecewise linear in `w`, so its maximum lies where the
/// window starts or ends on a closure, or at either extreme position. Those positions
/// are scanned in two passes (windows starting on a closure, windows ending on one),
/// each with a forward-only cursor: O(n) in the number of closures, one division per
/// position.
///
/// `closures` must be sorted (the debouncer's output is); an unsorted slice gives a
/// meaningless but finite result, never a panic. With no closures the gust is 0.
pub fn gust_kmh_ending_after(
    closures: &[Timestamp],
    data_from: Timestamp,
    data_until: Timestamp,
    ends_after: Timestamp,
    kmh_per_hz: f64,
) -> Option<f64> {
    let window = GUST_WINDOW_S * NANOS_PER_SEC;
    let last_start = data_until.0.checked_sub(window)?;
    // A window ending after `ends_after` starts after `ends_after − 3 s`.
    let first_start = data_from
        .0
        .max(ends_after.0.saturating_sub(window).saturating_add(1));
    if last_start < first_start {
        return None;
    }
    let lo = closures.partition_point(|c| *c < data_from);
    let hi = closures.partition_point(|c| *c < data_until).max(lo);
    let inside = &closures[lo..hi];
    let n = inside.len();

    // The open gaps become whole gaps by a virtual closure beyond each edge of the data.
    let mut c: Vec<i64> = Vec::with_capacity(n + 2);
    if n >= 2 {
        let (first, second) = (inside[0].0, inside[1].0);
        let open = first
            .saturating_sub(data_from.0)
            .max(second.saturating_sub(first));
        c.push(first.saturating_sub(open));
    }
    c.extend(inside.iter().map(|t| t.0));
    if n >= 2 {
        let (before, last) = (inside[n - 2].0, inside[n - 1].0);
        let open = data_until
            .0
            .saturating_sub(last)
            .max(last.saturating_sub(before));
        c.push(last.saturating_add(open));
    }
    let best = most_gaps_in_a_window(&c, first_start, last_start, window);
    Some(kmh_per_hz * best / GUST_WINDOW_S as f64)
}

/// The largest integral (in gaps) over the windows `[w, w + window)` with
/// `first_start <= w <= last_start`, of the speed that is one gap per closure interval
/// of `c` and zero outside `[c_0, c_last]`.
fn most_gaps_in_a_window(c: &[i64], first_start: i64, last_start: i64, window: i64) -> f64 {
    let n = c.len();
    // Both extreme positions, by binary search.
    let mut best = (integral_at(c, first_start.saturating_add(window))
        - integral_at(c, first_start))
    .max(integral_at(c, last_start.saturating_add(window)) - integral_at(c, last_start));

    // Windows starting on closure `a`: the integral up to it is exactly `a` gaps, and a
    // forward-only cursor finds the closure before the window's end.
    let mut j = 0;
    for (a, &ca) in c.iter().enumerate().take_while(|&(_, &t)| t <= last_start) {
        if ca < first_start {
            continue;
        }
        let e = ca + window;
        j = j.max(a + 1);
        while j < n && c[j] <= e {
            j += 1;
        }
        // The partial gap is less than one: skip the division when it cannot win.
        if (j - a) as f64 > best {
            best = best.max(gaps_before(c, j, e) - a as f64);
        }
    }
    // Windows ending on closure `b`: the integral up to it is exactly `b` gaps.
    let mut i = 0;
    for (b, &cb) in c.iter().enumerate() {
        let w = cb.saturating_sub(window);
        if w < first_start {
            continue;
        }
        if w > last_start {
            break;
        }
        while i < b && c[i] <= w {
            i += 1;
        }
        if (b + 1 - i) as f64 > best {
            best = best.max(b as f64 - gaps_before(c, i, w));
        }
    }
    best
}

/// The integral of the piecewise-constant speed up to `t`, in units of `kmh_per_hz`
/// km/h·s (one unit per gap between closures), given that exactly `passed` closures
/// lie at or before `t`.
fn gaps_before(c: &[i64], passed: usize, t: i64) -> f64 {
    match passed {
        0 => 0.0,
        p if p >= c.len() => (c.len() - 1) as f64,
        p => {
            let (prev, next) = (c[p - 1], c[p]);
            let full_gaps = (p - 1) as f64;
            if next <= prev {
                // Only reachable with unsorted input; keep the result finite.
                return full_gaps;
            }
            full_gaps + (t - prev) as f64 / (next - prev) as f64
        }
    }
}

/// `gaps_before` at any time, by binary search.
fn integral_at(c: &[i64], t: i64) -> f64 {
    gaps_before(c, c.partition_point(|&x| x <= t), t)
}

/// A running weighted sum of unit vectors, for mean directions without storing the
/// pairs. Directions are degrees clockwise from north.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct VectorSum {
    east: f64,
    north: f64,
    weight: f64,
}

impl VectorSum {
    /// A sum from its parts, as the daily summaries store them (east and north
    /// components and the total weight), so a day's or a month's mean direction gets
    /// the same rounding and calm rule as a record's.
    pub fn from_parts(east: f64, north: f64, weight: f64) -> VectorSum {
        VectorSum {
            east,
            north,
            weight,
        }
    }

    /// Adds a direction with a weight; a non-finite value or a weight <= 0 adds nothing.
    pub fn add(&mut self, deg: f64, weight: f64) {
        if !deg.is_finite() || !weight.is_finite() || weight <= 0.0 {
            return;
        }
        let rad = deg.to_radians();
        self.east += weight * rad.sin();
        self.north += weight * rad.cos();
        self.weight += weight;
    }

    /// The east and north components added (each weight · sin or cos), as the daily
    /// summaries store them.
    pub fn parts(&self) -> (f64, f64) {
        (self.east, self.north)
    }

    /// The total weight added.
    pub fn weight(&self) -> f64 {
        self.weight
    }

    /// The mean direction in `[0, 360)`, or `None` when nothing with weight was added
    /// or the vectors cancel out.
    pub fn mean_deg(&self) -> Option<f64> {
        if self.weight <= 0.0 {
            return None;
        }
        if self.east.hypot(self.north) <= CALM_RESULTANT * self.weight {
            return None;
        }
        let deg = self.east.atan2(self.north).to_degrees();
        // Rounding to 1e-9° removes atan2's last-bit noise, so symmetric inputs such as
        // 350° and 10° give exactly 0 rather than 359.99999999999997.
        let deg = ((deg * 1e9).round() / 1e9).rem_euclid(360.0);
        // `+ 0.0` turns a rounded -0 into 0: north is written `0`, never `-0`.
        Some(if deg >= 360.0 { 0.0 } else { deg + 0.0 })
    }
}

/// Speed-weighted vector mean of (direction °, speed) pairs; `None` when calm.
///
/// The mean is `atan2(Σ s·sin θ, Σ s·cos θ)` in `[0, 360)`, so 350° and 10° at equal
/// speed give 0°. Pairs with a speed <= 0 or a non-finite value carry no weight; the
/// result is `None` when no pair has weight (calm) or the resultant is ~0 (the
/// directions cancel out, e.g. 0° and 180° at equal speed).
pub fn vector_mean_deg(samples: &[(f64, f64)]) -> Option<f64> {
    let mut sum = VectorSum::default();
    for &(deg, speed) in samples {
        sum.add(deg, speed);
    }
    sum.mean_deg()
}

/// Highest rain rate (mm/h) over the tips in an interval, each tip's rate taken from
/// the time since the tip before it (`previous` is the last tip before the interval).
///
/// A tip's rate is `mm_per_tip · 3600 / gap_s`, with the gap capped at 15 minutes: a
/// tip after a long dry spell (or with no earlier tip known) counts as 15 minutes of
/// rain, the smallest rate the gauge can express (1.12 mm/h at 0.2794 mm per tip).
/// A tip not later than the one before it (a duplicate or out of order) gives no rate
/// and does not move the reference. `None` when no tip gives a rate, in particular
/// when there are no tips; the aggregator reports 0 for an interval in which the gauge
/// worked but did not tip.
pub fn peak_rain_rate_mm_per_h(
    tips: &[Timestamp],
    previous: Option<Timestamp>,
    mm_per_tip: f64,
) -> Option<f64> {
    let max_gap_ns = RAIN_RATE_MAX_GAP_S * NANOS_PER_SEC;
    let mut previous = previous;
    let mut peak: Option<f64> = None;
    for &tip in tips {
        let gap_ns = match previous {
            Some(p) => tip.0.saturating_sub(p.0),
            None => max_gap_ns,
        };
        if gap_ns <= 0 {
            continue;
        }
        let gap_s = gap_ns.min(max_gap_ns) as f64 / NANOS_PER_SEC as f64;
        let rate = mm_per_tip * 3600.0 / gap_s;
        peak = Some(peak.map_or(rate, |p| p.max(rate)));
        previous = Some(tip);
    }
    peak
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn altimeter_setting_of_the_standard_atmosphere_is_standard_pressure() {
        // ICAO standard atmosphere: 898.746 hPa at 1000 m, 1013.25 hPa at sea level.
        let a = altimeter_setting_hpa(898.746, 1000.0).unwrap();
        assert!((a - 1013.25).abs() < 0.1, "{a}");
        assert_eq!(
            altimeter_setting_hpa(1000.0, 0.0).map(|a| (a * 1e6).round()),
            Some(1e9)
        );
        assert_eq!(altimeter_setting_hpa(0.0, 100.0), None);
        assert_eq!(altimeter_setting_hpa(f64::NAN, 100.0), None);
    }

    fn close(a: f64, b: f64, tol: f64) -> bool {
        (a - b).abs() <= tol
    }

    /// Closures of a speed series given as (duration s, speed km/h) segments, starting
    /// at `t0` with a closure, each segment a steady train.
    fn train(t0: Timestamp, segments: &[(f64, f64)], kmh_per_hz: f64) -> Vec<Timestamp> {
        let mut out = vec![t0];
        let mut t = t0.0 as f64;
        for &(dur_s, kmh) in segments {
            let period_ns = kmh_per_hz / kmh * 1e9;
            let seg_end = t + dur_s * 1e9;
            while t + period_ns <= seg_end + 1.0 {
                t += period_ns;
                out.push(Timestamp(t.round() as i64));
            }
        }
        out
    }

    #[test]
    fn dew_point_magnus() {
        let td = dew_point_c(20.0, 50.0).unwrap();
        assert!(close(td, 9.255, 0.01), "{td}");
        // Saturated air: the dew point is the temperature.
        assert!(close(dew_point_c(12.3, 100.0).unwrap(), 12.3, 1e-9));
        assert!(close(dew_point_c(-10.0, 100.0).unwrap(), -10.0, 1e-9));
        let dry = dew_point_c(30.0, 10.0).unwrap();
        assert!(close(dry, -4.96, 0.02), "{dry}");
        assert_eq!(dew_point_c(20.0, 0.0), None);
        assert_eq!(dew_point_c(20.0, -3.0), None);
        assert_eq!(dew_point_c(f64::NAN, 50.0), None);
        assert_eq!(dew_point_c(20.0, f64::INFINITY), None);
    }

    #[test]
    fn sea_level_pressure_known_values() {
        let p0 = sea_level_pressure_hpa(1000.0, 15.0, 100.0);
        assert!(close(p0, 1011.91, 0.01), "{p0}");
        // The exponential (isothermal-layer) form with the layer's mean temperature
        // agrees to well under 0.05 hPa at this height.
        let exp_form = 1000.0 * (9.80665_f64 * 100.0 / (287.05 * (288.15 + 0.325))).exp();
        assert!(close(p0, exp_form, 0.05), "{p0} vs {exp_form}");
        assert_eq!(sea_level_pressure_hpa(1013.0, 10.0, 0.0), 1013.0);
        // Colder air is denser: the same station pressure reduces to more at sea level.
        assert!(
            sea_level_pressure_hpa(950.0, -10.0, 500.0)
                > sea_level_pressure_hpa(950.0, 25.0, 500.0)
        );
        // Below sea level the reduction goes the other way.
        assert!(sea_level_pressure_hpa(1030.0, 30.0, -400.0) < 1030.0);
    }

    #[test]
    fn steady_train_gust_is_exactly_the_rate() {
        let start = Timestamp::from_secs(600);
        let end = start.add_secs(60);
        for (period_ns, kmh_per_hz) in [
            (1_000_000_000, 2.4),
            (250_000_000, 2.4),
            (100_000_000, 4.8),
            (10_000_000, 2.4),
        ] {
            let closures: Vec<_> = (0..)
                .map(|i| start.add_nanos(i * period_ns))
                .take_while(|t| *t < end)
                .collect();
            let f_hz = 1e9 / period_ns as f64;
            let gust = gust_kmh(&closures, start, end, kmh_per_hz).unwrap();
            assert!(close(gust, f_hz * kmh_per_hz, 1e-9), "{f_hz} Hz: {gust}");
        }
        // A rate that does not divide a second (7 Hz) has no ceil/floor bias either.
        let closures: Vec<_> = (0..420)
            .map(|i| start.add_nanos(i * 1_000_000_000 / 7))
            .collect();
        let gust = gust_kmh(&closures, start, end, 2.4).unwrap();
        assert!(close(gust, 7.0 * 2.4, 1e-6), "{gust}");
    }

    #[test]
    fn gust_of_a_burst() {
        let start = Timestamp::from_secs(0);
        let end = start.add_secs(60);
        // 10 km/h for 20 s, 30 km/h for 4 s, 10 km/h for the rest.
        let closures = train(start, &[(20.0, 10.0), (4.0, 30.0), (36.0, 10.0)], 2.4);
        let gust = gust_kmh(&closures, start, end, 2.4).unwrap();
        assert!(close(gust, 30.0, 0.05), "{gust}");
        // A 2-s burst: the best window holds 2 s at 30 and 1 s at 10.
        let closures = train(start, &[(20.0, 10.0), (2.0, 30.0), (38.0, 10.0)], 2.4);
        let gust = gust_kmh(&closures, start, end, 2.4).unwrap();
        assert!(close(gust, (2.0 * 30.0 + 10.0) / 3.0, 0.3), "{gust}");
        assert!(gust > 12.0 && gust < 30.0);
        // One window must not be confused with one sample: a burst right at the end of
        // the interval still counts.
        let closures = train(start, &[(56.0, 10.0), (3.5, 40.0)], 2.4);
        let gust = gust_kmh(&closures, start, end, 2.4).unwrap();
        assert!(close(gust, 40.0, 0.1), "{gust}");
    }

    #[test]
    fn gust_matches_a_brute_force_scan() {
        use rand::{Rng, SeedableRng};
        let mut rng = rand_pcg::Pcg64::seed_from_u64(7);
        let start = Timestamp::from_secs(1000);
        let end = start.add_secs(60);
        let window = 3 * NANOS_PER_SEC;
        for round in 0..20 {
            let mut t = start.0 + rng.gen_range(0..2_000_000_000);
            let mut closures = Vec::new();
            while t < end.0 {
                closures.push(Timestamp(t));
                t += rng.gen_range(20_000_000..1_500_000_000);
            }
            // Half the rounds also limit where a window may end.
            let ends_after = if round % 2 == 0 {
                start
            } else {
                start.add_secs(rng.gen_range(0..50))
            };
            let fast = gust_kmh_ending_after(&closures, start, end, ends_after, 2.4).unwrap();
            // Brute force, written from the model's words: the speed between closures,
            // the open gaps at both edges at the neighbouring gap's speed capped by the
            // time to the edge, every window start on a 2 ms grid, the integral summed
            // over the overlap of each piece with the window.
            let n = closures.len();
            let mut pieces: Vec<(i64, i64, f64)> = closures
                .windows(2)
                .map(|p| (p[0].0, p[1].0, 2.4 / ((p[1].0 - p[0].0) as f64 / 1e9)))
                .collect();
            let first_gap = (closures[1].0 - closures[0].0) as f64 / 1e9;
            let lead = ((closures[0].0 - start.0) as f64 / 1e9).max(first_gap);
            pieces.push((start.0, closures[0].0, 2.4 / lead));
            let last_gap = (closures[n - 1].0 - closures[n - 2].0) as f64 / 1e9;
            let trail = ((end.0 - closures[n - 1].0) as f64 / 1e9).max(last_gap);
            pieces.push((closures[n - 1].0, end.0, 2.4 / trail));
            let mut slow = 0.0_f64;
            let mut w = start.0;
            while w <= end.0 - window {
                if w + window > ends_after.0 {
                    let integral: f64 = pieces
                        .iter()
                        .map(|&(a, b, kmh)| {
                            kmh * (b.min(w + window) - a.max(w)).max(0) as f64 / 1e9
                        })
                        .sum();
                    slow = slow.max(integral / 3.0);
                }
                w += 2_000_000;
            }
            // The fast scan finds the true maximum, which the grid can only approach.
            assert!(fast >= slow - 1e-9, "{fast} < {slow}");
            assert!(fast - slow < 0.1, "{fast} vs {slow}");
        }
    }

    #[test]
    fn gust_edge_cases() {
        let start = Timestamp::from_secs(0);
        assert_eq!(gust_kmh(&[], start, start.add_secs(60), 2.4), Some(0.0));
        assert_eq!(
            gust_kmh(&[start], start, start.add_secs(60), 2.4),
            Some(0.0)
        );
        assert_eq!(
            gust_kmh(&[], start, start.add_nanos(2_999_999_999), 2.4),
            None
        );
        assert_eq!(gust_kmh(&[], start, start.add_secs(3), 2.4), Some(0.0));
        assert_eq!(gust_kmh(&[], start, Timestamp(i64::MIN + 5), 2.4), None);
        // Closures outside [start, end) are ignored.
        let outside = [
            Timestamp::from_secs(-2),
            Timestamp::from_millis(-1),
            Timestamp::from_secs(60),
        ];
        assert_eq!(
            gust_kmh(&outside, start, start.add_secs(60), 2.4),
            Some(0.0)
        );
        // Two closures 1 s apart: 2.4 km/h for that second; the open gaps before and
        // after are at least 10 s and 49 s long (the edges of the data), so the best
        // window [8 s, 11 s) holds 2 s at 0.24 km/h and 1 s at 2.4 km/h.
        let g = gust_kmh(
            &[Timestamp::from_secs(10), Timestamp::from_secs(11)],
            start,
            start.add_secs(60),
            2.4,
        );
        assert!(close(g.unwrap(), (2.0 * 0.24 + 2.4) / 3.0, 1e-12), "{g:?}");
        // Unsorted input must not panic.
        let unsorted = [
            Timestamp::from_secs(30),
            Timestamp::from_secs(10),
            Timestamp::from_secs(20),
        ];
        assert!(gust_kmh(&unsorted, start, start.add_secs(60), 2.4)
            .unwrap()
            .is_finite());
    }

    #[test]
    fn a_burst_ending_at_the_edge_of_the_data_keeps_its_speed() {
        // 10 km/h, then 30 km/h for the last 3 s, closures on a continuous phase: the
        // last closure comes 0.04 s before the end. Counting that open gap as calm
        // would give 29.6 km/h; at the last gap's speed it is the full 30.
        let start = Timestamp::from_secs(0);
        let end = start.add_secs(60);
        let mut closures = Vec::new();
        let mut turns = 0.5_f64; // rotations at `start`
        let mut k = 1.0;
        for ms in 0..60_000 {
            let hz = if ms >= 57_000 { 30.0 } else { 10.0 } / 2.4;
            let next = turns + hz / 1000.0;
            while k <= next {
                let frac = (k - turns) / (next - turns);
                closures.push(Timestamp::from_millis(ms).add_nanos((frac * 1e6) as i64));
                k += 1.0;
            }
            turns = next;
        }
        let gust = gust_kmh(&closures, start, end, 2.4).unwrap();
        assert!(close(gust, 30.0, 0.01), "{gust}");
        // Windows must end after 58 s: the same burst.
        let late = gust_kmh_ending_after(&closures, start, end, start.add_secs(58), 2.4);
        assert!(close(late.unwrap(), 30.0, 0.01), "{late:?}");
        let none = gust_kmh_ending_after(&closures, start, end, end, 2.4);
        assert_eq!(none, None, "no window ends after the data does");
        // Only windows ending within the first 10 s: plain 10 km/h.
        let early = gust_kmh(&closures, start, start.add_secs(10), 2.4).unwrap();
        assert!(close(early, 10.0, 0.01), "{early}");
    }

    #[test]
    fn gust_at_240_kmh_over_a_full_minute() {
        // 6000 closures per minute, the most the aggregator will see.
        let start = Timestamp::from_secs(0);
        let closures: Vec<_> = (0..6000).map(|i| start.add_nanos(i * 10_000_000)).collect();
        let gust = gust_kmh(&closures, start, start.add_secs(60), 2.4).unwrap();
        assert!(close(gust, 240.0, 1e-9), "{gust}");
    }

    #[test]
    fn vector_mean_wraps_through_north() {
        assert_eq!(vector_mean_deg(&[(350.0, 5.0), (10.0, 5.0)]), Some(0.0));
        let north = vector_mean_deg(&[(350.0, 120.0), (10.0, 120.0)]).unwrap();
        assert!(north == 0.0 && north.is_sign_positive(), "{north}");
        let m = vector_mean_deg(&[(340.0, 1.0), (30.0, 1.0)]).unwrap();
        assert!(close(m, 5.0, 1e-9), "{m}");
        // Speed weighting pulls towards the stronger wind.
        let m = vector_mean_deg(&[(80.0, 1.0), (100.0, 3.0)]).unwrap();
        assert!(m > 90.0 && m < 100.0, "{m}");
        let m = vector_mean_deg(&[(270.0, 2.0)]).unwrap();
        assert!(close(m, 270.0, 1e-9));
        let m = vector_mean_deg(&[(359.0, 1.0), (358.0, 1.0)]).unwrap();
        assert!(close(m, 358.5, 1e-9), "{m}");
    }

    #[test]
    fn vector_mean_is_none_when_calm_or_cancelling() {
        assert_eq!(vector_mean_deg(&[]), None);
        assert_eq!(vector_mean_deg(&[(90.0, 0.0), (180.0, 0.0)]), None);
        assert_eq!(vector_mean_deg(&[(0.0, 4.0), (180.0, 4.0)]), None);
        assert_eq!(
            vector_mean_deg(&[(0.0, 1.0), (120.0, 1.0), (240.0, 1.0)]),
            None
        );
        // Zero-speed and invalid pairs carry no weight but do not spoil the rest.
        assert_eq!(
            vector_mean_deg(&[(45.0, 2.0), (200.0, 0.0), (f64::NAN, 3.0), (100.0, -1.0)]),
            Some(45.0)
        );
    }

    #[test]
    fn rain_rate_from_tip_gaps() {
        let mm = 0.2794;
        let t = Timestamp::from_secs;
        // Tips 60 s and then 30 s apart: the peak is one tip per 30 s.
        let peak = peak_rain_rate_mm_per_h(&[t(160), t(190)], Some(t(100)), mm).unwrap();
        assert!(close(peak, mm * 120.0, 1e-9), "{peak}");
        // The previous tip comes from before the interval.
        let peak = peak_rain_rate_mm_per_h(&[t(110)], Some(t(100)), mm).unwrap();
        assert!(close(peak, mm * 360.0, 1e-9));
        // A lone tip, or one after a long dry spell, counts as 15 minutes.
        let lone = peak_rain_rate_mm_per_h(&[t(500)], None, mm).unwrap();
        assert!(close(lone, mm * 4.0, 1e-12), "{lone}");
        let after_dry = peak_rain_rate_mm_per_h(&[t(90_000)], Some(t(100)), mm).unwrap();
        assert_eq!(after_dry, lone);
        assert_eq!(peak_rain_rate_mm_per_h(&[], Some(t(100)), mm), None);
        // A duplicate of the previous tip gives no rate (and no division by zero).
        assert_eq!(peak_rain_rate_mm_per_h(&[t(100)], Some(t(100)), mm), None);
        let peak = peak_rain_rate_mm_per_h(&[t(100), t(118)], Some(t(100)), mm).unwrap();
        assert!(close(peak, mm * 200.0, 1e-9));
    }
}
