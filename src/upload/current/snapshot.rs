//! The conditions a current-conditions network is sent: one record plus the rain
//! totals and pressures the networks want, in metric units (each network converts).

use crate::meteo;
use crate::record::ArchiveRecord;
use crate::store::{Reader, StoreError};
use crate::time::Timestamp;
use crate::upload::Site;

/// One observation, as of the end of a record.
#[derive(Clone, Debug, PartialEq)]
pub struct Snapshot {
    /// The end of the record: the observation time sent.
    pub at: Timestamp,
    pub temperature_c: Option<f64>,
    pub humidity_pct: Option<f64>,
    pub dew_point_c: Option<f64>,
    /// Station pressure (what the barometer reads).
    pub pressure_hpa: Option<f64>,
    /// Reduced to sea level (WU, WOW and Windy want this).
    pub sea_level_hpa: Option<f64>,
    /// The ASOS altimeter setting (CWOP wants this).
    pub altimeter_hpa: Option<f64>,
    pub wind_speed_kmh: Option<f64>,
    pub wind_gust_kmh: Option<f64>,
    pub wind_dir_deg: Option<f64>,
    /// Rain in the records that start in the hour before `at`.
    pub rain_1h_mm: Option<f64>,
    /// ... in the 24 hours before `at`.
    pub rain_24h_mm: Option<f64>,
    /// Since local midnight of the station-local day the record started in.
    pub rain_today_mm: Option<f64>,
    pub soil_temperature_c: Option<f64>,
    /// The station's position and elevation (CWOP's packet carries the position).
    pub latitude: f64,
    pub longitude: f64,
}

impl Snapshot {
    pub fn build(reader: &Reader, r: &ArchiveRecord, site: &Site) -> Result<Snapshot, StoreError> {
        let at = r.end;
        let rain_1h_mm = reader.rain_mm_between(at.add_secs(-3600), at)?;
        let rain_24h_mm = reader.rain_mm_between(at.add_secs(-86_400), at)?;
        // Up to this record only (not the daily summary, which a backfilled
        // observation's later records have already added to).
        let rain_today_mm = reader.rain_mm_between(local_midnight(r.start, site.time_zone), at)?;
        let pressure_hpa = r.pressure_hpa.mean;
        Ok(Snapshot {
            at,
            temperature_c: r.temperature_c.mean,
            humidity_pct: r.humidity_pct.mean,
            dew_point_c: r.dew_point_c,
            pressure_hpa,
            sea_level_hpa: r.sea_level_pressure_hpa,
            altimeter_hpa: pressure_hpa
                .and_then(|p| meteo::altimeter_setting_hpa(p, site.elevation_m)),
            wind_speed_kmh: r.wind_speed_kmh,
            wind_gust_kmh: r.wind_gust_kmh,
            // Calm has no direction; the networks want none then.
            wind_dir_deg: r.wind_dir_deg,
            rain_1h_mm,
            rain_24h_mm,
            rain_today_mm,
            soil_temperature_c: r.ground_temperature_c.mean,
            latitude: site.latitude,
            longitude: site.longitude,
        })
    }

    /// `YYYY-MM-DD HH:MM:SS` in UTC, WU's and WOW's `dateutc`.
    pub fn dateutc(&self) -> String {
        self.at.to_chrono().format("%Y-%m-%d %H:%M:%S").to_string()
    }
}

/// The start of the station-local day containing `t` (a midnight that a DST change
/// skips counts from the day's first local time that exists).
pub fn local_midnight(t: Timestamp, tz: chrono_tz::Tz) -> Timestamp {
    use chrono::TimeZone;
    let date = t.to_chrono().with_timezone(&tz).date_naive();
    (0..24)
        .find_map(|h| {
            tz.from_local_datetime(&date.and_hms_opt(h, 0, 0)?)
                .earliest()
        })
        .map_or(t, |d| Timestamp::from_chrono(d.with_timezone(&chrono::Utc)))
}

/// °C → °F.
pub fn fahrenheit(c: f64) -> f64 {
    c * 9.0 / 5.0 + 32.0
}
/// km/h → mph (the international mile is 1.609344 km).
pub fn mph(kmh: f64) -> f64 {
    kmh / 1.609_344
}
/// hPa → inHg (1 inHg = 33.8639 hPa).
pub fn inhg(hpa: f64) -> f64 {
    hpa / 33.8639
}
/// mm → inches.
pub fn inches(mm: f64) -> f64 {
    mm / 25.4
}
/// km/h → m/s.
pub fn metres_per_second(kmh: f64) -> f64 {
    kmh / 3.6
}
