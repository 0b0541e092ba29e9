//! Daylight: the illuminance on a horizontal surface, for simulated light sensors.

use super::*;

/// Clear-sky illuminance with the sun at the zenith, in lux (direct plus diffuse).
const CLEAR_ZENITH_LUX: f64 = 120_000.0;

impl Weather {
    /// Illuminance on a horizontal surface in the open, in lux: the sun's elevation
    /// (latitude, season, local solar time) with the air mass's dimming, cut by the
    /// same cloud that flattens the daily temperature wave; 0 with the sun below the
    /// horizon (twilight is not modelled).
    pub fn illuminance_lux(&self, t: Timestamp) -> f64 {
        let s = t.as_secs_f64();
        let sin_elevation = self.sun_elevation_sin(s);
        if sin_elevation <= 0.0 {
            return 0.0;
        }
        let clear = CLEAR_ZENITH_LUX * sin_elevation * (-0.1 / sin_elevation).exp();
        let cloud = self.cloud_at(s, self.rain_rate_at(s));
        // An overcast sky still passes about a fifth of the light.
        clear * (1.0 - 0.8 * cloud)
    }

    /// Sine of the sun's elevation above the horizon at `s` (local solar time from
    /// the longitude; the declination from the day of the year).
    fn sun_elevation_sin(&self, s: f64) -> f64 {
        let ls = self.local_solar_s(s);
        let doy = (ls / SECS_PER_DAY).rem_euclid(DAYS_PER_YEAR);
        let declination = 23.44f64.to_radians() * (2.0 * PI * (doy - 80.0) / DAYS_PER_YEAR).sin();
        let hour = ls.rem_euclid(SECS_PER_DAY) / SECS_PER_HOUR;
        let hour_angle = (15.0 * (hour - 12.0)).to_radians();
        let latitude = self.latitude.to_radians();
        latitude.sin() * declination.sin() + latitude.cos() * declination.cos() * hour_angle.cos()
    }
}
