//! How the weather feels: heat index, wind chill and apparent temperature, each with
//! the domain its publisher defines it on.

/// The lowest air temperature (°F) at which weatherd reports a heat index: 80 °F
/// (26.7 °C), where the NWS heat-index chart begins. Steadman's tables, which the
/// Rothfusz regression fits, describe the discomfort of warm and humid air; below
/// 80 °F the NWS neither charts nor issues heat-index values, and the simple formula
/// there would only restate the temperature under another name.
pub const HEAT_INDEX_MIN_F: f64 = 80.0;

/// The warmest air (°C) the wind chill is defined for (NWS / Environment Canada 2001).
pub const WIND_CHILL_MAX_C: f64 = 10.0;
/// The wind speed (km/h) the wind chill must exceed: 4.8 km/h (3 mph), a walking pace.
pub const WIND_CHILL_MIN_KMH: f64 = 4.8;

/// °C → °F.
pub fn c_to_f(c: f64) -> f64 {
    c * 9.0 / 5.0 + 32.0
}

/// °F → °C.
pub fn f_to_c(f: f64) -> f64 {
    (f - 32.0) * 5.0 / 9.0
}

/// Heat index (°C) from air temperature (°C) and relative humidity (%), as the US
/// National Weather Service computes it (WPC, "The Heat Index Equation"; Rothfusz 1990,
/// NWS Technical Attachment SR 90-23), in °F internally:
///
/// 1. Steadman's simple form `HI = 0.5·(T + 61 + 1.2·(T − 68) + 0.094·RH)`;
/// 2. if that averaged with T is 80 °F or more, the Rothfusz regression
///    `HI = −42.379 + 2.04901523·T + 10.14333127·RH − 0.22475541·T·RH
///    − 0.00683783·T² − 0.05481717·RH² + 0.00122874·T²·RH + 0.00085282·T·RH²
///    − 0.00000199·T²·RH²`, less `((13 − RH)/4)·√((17 − |T − 95|)/17)` when RH < 13 %
///    and 80 ≤ T ≤ 112 °F, plus `((RH − 85)/10)·((87 − T)/5)` when RH > 85 % and
///    80 ≤ T ≤ 87 °F.
///
/// Domain: `None` below [`HEAT_INDEX_MIN_F`] (80 °F, 26.7 °C: where the NWS chart
/// begins), for a humidity outside 0..=100 % and for non-finite input.
pub fn heat_index_c(temperature_c: f64, humidity_pct: f64) -> Option<f64> {
    if !temperature_c.is_finite()
        || !humidity_pct.is_finite()
        || !(0.0..=100.0).contains(&humidity_pct)
    {
        return None;
    }
    let t = c_to_f(temperature_c);
    if t < HEAT_INDEX_MIN_F {
        return None;
    }
    let rh = humidity_pct;
    let simple = 0.5 * (t + 61.0 + (t - 68.0) * 1.2 + rh * 0.094);
    if (simple + t) / 2.0 < 80.0 {
        return Some(f_to_c(simple));
    }
    let mut hi = -42.379 + 2.049_015_23 * t + 10.143_331_27 * rh
        - 0.224_755_41 * t * rh
        - 0.006_837_83 * t * t
        - 0.054_817_17 * rh * rh
        + 0.001_228_74 * t * t * rh
        + 0.000_852_82 * t * rh * rh
        - 0.000_001_99 * t * t * rh * rh;
    if rh < 13.0 && (80.0..=112.0).contains(&t) {
        hi -= ((13.0 - rh) / 4.0) * ((17.0 - (t - 95.0).abs()) / 17.0).sqrt();
    } else if rh > 85.0 && (80.0..=87.0).contains(&t) {
        hi += ((rh - 85.0) / 10.0) * ((87.0 - t) / 5.0);
    }
    Some(f_to_c(hi))
}

/// Wind chill (°C) from air temperature (°C) and wind speed (km/h), the 2001 index of
/// the NWS and Environment Canada: `13.12 + 0.6215·T − 11.37·V^0.16 + 0.3965·T·V^0.16`.
///
/// Domain, as both services define it: T ≤ 10 °C ([`WIND_CHILL_MAX_C`]) and
/// V > 4.8 km/h ([`WIND_CHILL_MIN_KMH`]); `None` outside it and for non-finite input.
/// V is the wind at 10 m (the formula converts it to face height itself).
pub fn wind_chill_c(temperature_c: f64, wind_kmh: f64) -> Option<f64> {
    if !temperature_c.is_finite()
        || !wind_kmh.is_finite()
        || temperature_c > WIND_CHILL_MAX_C
        || wind_kmh <= WIND_CHILL_MIN_KMH
    {
        return None;
    }
    let v = wind_kmh.powf(0.16);
    Some(13.12 + 0.6215 * temperature_c - 11.37 * v + 0.3965 * temperature_c * v)
}

/// Apparent temperature (°C) without radiation, Steadman (1994) as the Australian
/// Bureau of Meteorology publishes it: `AT = Ta + 0.33·e − 0.70·ws − 4.00`, with the
/// water vapour pressure `e = RH/100 · 6.105 · exp(17.27·Ta / (237.7 + Ta))` hPa and
/// the wind speed `ws` in m/s at 10 m.
///
/// Defined for every temperature (the BoM reports it all year, warm and cold);
/// `None` for a humidity outside 0..=100 %, a negative wind speed, or non-finite
/// input. A school station's anemometer is usually lower than the 10 m the formula
/// assumes, where the wind is lighter, so in wind the result reads a little warm.
pub fn apparent_temperature_c(temperature_c: f64, humidity_pct: f64, wind_ms: f64) -> Option<f64> {
    if !temperature_c.is_finite()
        || !humidity_pct.is_finite()
        || !wind_ms.is_finite()
        || !(0.0..=100.0).contains(&humidity_pct)
        || wind_ms < 0.0
    {
        return None;
    }
    let e = humidity_pct / 100.0 * 6.105 * (17.27 * temperature_c / (237.7 + temperature_c)).exp();
    let at = temperature_c + 0.33 * e - 0.70 * wind_ms - 4.00;
    at.is_finite().then_some(at)
}

/// km/h → m/s.
pub fn kmh_to_ms(kmh: f64) -> f64 {
    kmh / 3.6
}
