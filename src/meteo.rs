//! Meteorology as pure functions: dew point, sea-level pressure, WMO gust, vector-mean
//! wind direction and rain rate.

use crate::time::Timestamp;

/// Dew point (°C) by the Magnus formula over water (a = 17.62, b = 243.12 °C).
pub fn dew_point_c(temperature_c: f64, humidity_pct: f64) -> Option<f64> {
    let _ = (temperature_c, humidity_pct);
    todo!()
}

/// Station pressure reduced to sea level (hypsometric equation, station temperature).
pub fn sea_level_pressure_hpa(station_hpa: f64, temperature_c: f64, elevation_m: f64) -> f64 {
    let _ = (station_hpa, temperature_c, elevation_m);
    todo!()
}

/// Highest 3-second running mean of wind speed (km/h) within `[start, end)`, from the
/// debounced closure timestamps. `None` when the interval is shorter than the window.
pub fn gust_kmh(
    closures: &[Timestamp],
    start: Timestamp,
    end: Timestamp,
    kmh_per_hz: f64,
) -> Option<f64> {
    let _ = (closures, start, end, kmh_per_hz);
    todo!()
}

/// Speed-weighted vector mean of (direction °, speed) pairs; `None` when calm.
pub fn vector_mean_deg(samples: &[(f64, f64)]) -> Option<f64> {
    let _ = samples;
    todo!()
}

/// Highest rain rate (mm/h) over the tips in an interval, each tip's rate taken from
/// the time since the tip before it (`previous` is the last tip before the interval).
pub fn peak_rain_rate_mm_per_h(
    tips: &[Timestamp],
    previous: Option<Timestamp>,
    mm_per_tip: f64,
) -> Option<f64> {
    let _ = (tips, previous, mm_per_tip);
    todo!()
}
