//! Simulated weather: physically plausible, and a pure function of (seed, time).
//!
//! There is no hidden state anywhere in this module. Each quantity is built from
//! deterministic cycles (season, day) plus seeded noise looked up by time cell (see
//! [`super::noise`]), so any instant can be evaluated on its own: a run killed and
//! resumed later sees exactly the values an uninterrupted run saw.
//!
//! The model, in short:
//! - **Air temperature**: annual mean by latitude and elevation, a seasonal cosine
//!   (coldest mid-January in the north, mid-July in the south), a diurnal wave with its
//!   minimum at sunrise (from latitude and solar declination) and its maximum at 15:00
//!   local solar time, damped by cloud; slow "synoptic" noise over days; showers cool.
//! - **Humidity**: from a dew point that follows the slow temperature, not the diurnal
//!   wave, so relative humidity falls as the afternoon warms and rises towards dawn;
//!   rain brings the dew point up to the temperature.
//! - **Pressure**: sea-level pressure drifting over days (about 990–1035 hPa) with the
//!   small semidiurnal tide, reduced to the station's elevation (standard atmosphere).
//! - **Ground temperature** (about 10 cm down): the air's seasonal and synoptic parts,
//!   lagged, and its diurnal wave damped to a third and about four hours late.
//! - **Wind**: a synoptic speed (log-normal-ish, stronger when pressure is low), rare
//!   storms, afternoon strengthening, turbulence and gust bursts of a few seconds;
//!   direction wandering around a prevailing direction.
//! - **Rain**: showers of 5–60 minutes at 0.5–30 mm/h peak, more likely when pressure is
//!   low; between showers the rate is exactly zero. Each shower's rain integrates in
//!   closed form ([`Weather::rain_mm_between`]), and showers joined by dry gaps under an
//!   hour form a wet spell ([`Weather::rain_spell`]): the simulated gauge's bucket fills
//!   over a spell and tips at every `mm_per_tip` (see [`super::edges`]).
//!
//! The anemometer's cups integrate [`Weather::wind_speed_kmh`] (see [`super::edges`]),
//! so the 3-s running mean of this function is the truth a stored gust is tested
//! against.

use super::noise::{cell_rng, fbm, hash, unit, value_noise};
use crate::time::Timestamp;
use rand::Rng;
use std::f64::consts::PI;

mod light;
mod memo;
pub use memo::MeanWindCache;
use memo::*;

const SECS_PER_DAY: f64 = 86_400.0;
const SECS_PER_HOUR: f64 = 3_600.0;
const DAYS_PER_YEAR: f64 = 365.2422;
/// Hour of the daily temperature maximum, local solar time.
const PEAK_HOUR: f64 = 15.0;
const SHOWER_CELL_S: f64 = 3_600.0;
/// The largest shower probability per hour cell (at very low pressure); cells whose
/// first random number is above it cannot hold a shower, which skips most of the work.
const SHOWER_P_MAX: f64 = 0.15;
const STORM_CELL_S: f64 = 4.0 * SECS_PER_DAY;
const GUST_CELL_S: f64 = 20.0;
/// Grid of the slow wind terms.
const WIND_GRID_S: f64 = 60.0;

/// One gust burst: where it starts (s), how long it lasts (s), its strength.
#[derive(Clone, Copy, Debug, PartialEq)]
struct GustBurst {
    start: f64,
    duration: f64,
    strength: f64,
}

/// One shower: where it starts and how long it lasts (s), its peak rate (mm/h). The
/// rate is `peak · sin(π x)` over the shower, x from 0 to 1.
#[derive(Clone, Copy, Debug, PartialEq)]
struct Shower {
    start: f64,
    duration: f64,
    peak: f64,
}

impl Shower {
    fn end(&self) -> f64 {
        self.start + self.duration
    }
    fn rate_at(&self, s: f64) -> f64 {
        let x = (s - self.start) / self.duration;
        if (0.0..1.0).contains(&x) {
            self.peak * (PI * x).sin()
        } else {
            0.0
        }
    }
    /// Rain (mm) fallen from this shower up to `s`: the integral of `rate_at`.
    fn mm_until(&self, s: f64) -> f64 {
        let x = ((s - self.start) / self.duration).clamp(0.0, 1.0);
        self.peak / SECS_PER_HOUR * self.duration / PI * (1.0 - (PI * x).cos())
    }
}

/// The showers of the hour cells last looked at. A memo only (a shower is a pure
/// function of seed and cell), so the rain gauge, which asks about the same few cells
/// every simulated second, does not redo their noise and random draws.
#[derive(Clone, Debug, Default)]
pub(crate) struct RainMemo {
    cells: Vec<(i64, Option<Shower>)>,
    next: usize,
}

/// How many hour cells a [`RainMemo`] remembers.
const RAIN_MEMO_CELLS: usize = 8;

/// A dry spell at least this long empties the rain gauge's bucket (it evaporates): the
/// next rain starts from a new seeded fill level.
pub(crate) const BUCKET_DRIES_AFTER_S: f64 = SECS_PER_HOUR;
/// How far back (hour cells) a wet spell is followed to its start; a longer unbroken
/// chain of showers (days of rain) starts its bucket level afresh there.
const SPELL_LOOKBACK_CELLS: i64 = 72;

/// A wet spell: showers joined by dry gaps shorter than [`BUCKET_DRIES_AFTER_S`].
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RainSpell {
    /// The hour cell of its first shower: names the spell (seeds its fill level).
    pub id: i64,
    /// When its first shower starts (seconds since the epoch).
    pub start_s: f64,
}

/// Every simulated quantity at one instant.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Conditions {
    pub temperature_c: f64,
    pub humidity_pct: f64,
    pub dew_point_c: f64,
    pub sea_level_pressure_hpa: f64,
    pub station_pressure_hpa: f64,
    pub ground_temperature_c: f64,
    pub wind_speed_kmh: f64,
    /// Degrees clockwise from true north, in [0, 360).
    pub wind_dir_deg: f64,
    pub rain_rate_mmh: f64,
}

/// The weather at one station, for one seed.
#[derive(Clone, Debug, PartialEq)]
pub struct Weather {
    seed: u64,
    latitude: f64,
    elevation_m: f64,
    longitude: f64,
}

impl Weather {
    /// Weather for a station at `latitude` (degrees, north positive) and `elevation_m`.
    /// Local solar time is taken as UTC unless [`Weather::with_longitude`] says
    /// otherwise.
    pub fn new(seed: u64, latitude: f64, elevation_m: f64) -> Weather {
        Weather {
            seed,
            latitude: if latitude.is_finite() {
                latitude.clamp(-89.0, 89.0)
            } else {
                0.0
            },
            elevation_m: if elevation_m.is_finite() {
                elevation_m
            } else {
                0.0
            },
            longitude: 0.0,
        }
    }

    /// Shifts the diurnal cycle to the station's local solar time.
    pub fn with_longitude(mut self, longitude: f64) -> Weather {
        self.longitude = if longitude.is_finite() {
            longitude
        } else {
            0.0
        };
        self
    }

    pub fn seed(&self) -> u64 {
        self.seed
    }
    pub fn latitude(&self) -> f64 {
        self.latitude
    }
    pub fn elevation_m(&self) -> f64 {
        self.elevation_m
    }

    /// Everything at once (shares the intermediate terms).
    pub fn at(&self, t: Timestamp) -> Conditions {
        let s = t.as_secs_f64();
        let slp = self.sea_level_pressure_at(s);
        let rain = self.rain_rate_at(s);
        let temperature_c = self.temperature_at(s, rain);
        let dew = self.dew_point_at(s, rain).min(temperature_c);
        Conditions {
            temperature_c,
            humidity_pct: relative_humidity_pct(temperature_c, dew),
            dew_point_c: dew,
            sea_level_pressure_hpa: slp,
            station_pressure_hpa: self.station_from_sea_level(slp),
            ground_temperature_c: self.ground_temperature_at(s),
            wind_speed_kmh: self.wind_speed_at(s),
            wind_dir_deg: self.wind_dir_at(s),
            rain_rate_mmh: rain,
        }
    }

    pub fn temperature_c(&self, t: Timestamp) -> f64 {
        let s = t.as_secs_f64();
        self.temperature_at(s, self.rain_rate_at(s))
    }

    /// What a BME280 senses: (temperature °C, relative humidity %, station pressure
    /// hPa), sharing the terms the three have in common.
    pub fn air(&self, t: Timestamp) -> (f64, f64, f64) {
        let s = t.as_secs_f64();
        let rain = self.rain_rate_at(s);
        let temp = self.temperature_at(s, rain);
        let humidity = relative_humidity_pct(temp, self.dew_point_at(s, rain).min(temp));
        let pressure = self.station_from_sea_level(self.sea_level_pressure_at(s));
        (temp, humidity, pressure)
    }

    /// Relative humidity, 5..=100 %.
    pub fn humidity_pct(&self, t: Timestamp) -> f64 {
        let s = t.as_secs_f64();
        let rain = self.rain_rate_at(s);
        let temp = self.temperature_at(s, rain);
        relative_humidity_pct(temp, self.dew_point_at(s, rain).min(temp))
    }

    pub fn sea_level_pressure_hpa(&self, t: Timestamp) -> f64 {
        self.sea_level_pressure_at(t.as_secs_f64())
    }

    /// Pressure at the station (what a barometer there reads).
    pub fn station_pressure_hpa(&self, t: Timestamp) -> f64 {
        self.station_from_sea_level(self.sea_level_pressure_at(t.as_secs_f64()))
    }

    pub fn ground_temperature_c(&self, t: Timestamp) -> f64 {
        self.ground_temperature_at(t.as_secs_f64())
    }

    pub fn wind_speed_kmh(&self, t: Timestamp) -> f64 {
        self.wind_speed_at(t.as_secs_f64())
    }

    /// The same as [`Weather::wind_speed_kmh`], faster when called for nearby times in
    /// order with the same cache.
    pub fn wind_speed_kmh_cached(&self, t: Timestamp, cache: &mut MeanWindCache) -> f64 {
        self.wind_speed_cached(t.as_secs_f64(), cache)
    }

    pub fn wind_dir_deg(&self, t: Timestamp) -> f64 {
        self.wind_dir_at(t.as_secs_f64())
    }

    pub fn rain_rate_mmh(&self, t: Timestamp) -> f64 {
        self.rain_rate_at(t.as_secs_f64())
    }

    /// Rain (mm) that falls in `[from, until)`: the exact integral of
    /// [`Weather::rain_rate_mmh`] (each shower's rate integrates in closed form).
    pub fn rain_mm_between(&self, from: Timestamp, until: Timestamp) -> f64 {
        self.rain_mm_between_memo(from, until, &mut RainMemo::default())
    }

    /// [`Weather::rain_mm_between`] with a memo of the showers (same values).
    pub(crate) fn rain_mm_between_memo(
        &self,
        from: Timestamp,
        until: Timestamp,
        memo: &mut RainMemo,
    ) -> f64 {
        let (a, b) = (from.as_secs_f64(), until.as_secs_f64());
        if b <= a {
            return 0.0;
        }
        self.rain_mm_between_s(a, b, memo)
    }

    fn rain_mm_between_s(&self, a: f64, b: f64, memo: &mut RainMemo) -> f64 {
        // A shower starts in its hour cell and lasts at most an hour.
        let first = (a / SHOWER_CELL_S).floor() as i64 - 1;
        let last = (b / SHOWER_CELL_S).floor() as i64;
        let mut mm = 0.0;
        for c in first..=last {
            if let Some(sh) = self.shower_memo(c, memo) {
                mm += sh.mm_until(b) - sh.mm_until(a);
            }
        }
        mm
    }

    fn shower_memo(&self, cell: i64, memo: &mut RainMemo) -> Option<Shower> {
        if let Some(&(_, sh)) = memo.cells.iter().find(|(c, _)| *c == cell) {
            return sh;
        }
        let sh = self.shower(cell);
        if memo.cells.len() < RAIN_MEMO_CELLS {
            memo.cells.push((cell, sh));
        } else {
            memo.cells[memo.next] = (cell, sh);
            memo.next = (memo.next + 1) % RAIN_MEMO_CELLS;
        }
        sh
    }

    /// The wet spell raining at (or, if it is dry then, last rained before) `s`, if one
    /// started within the lookback: followed back through showers whose dry gaps are
    /// shorter than [`BUCKET_DRIES_AFTER_S`]. Every instant of one spell finds the same
    /// spell, so the bucket's level over it is continuous.
    pub fn rain_spell(&self, t: Timestamp) -> Option<RainSpell> {
        self.rain_spell_memo(t, &mut RainMemo::default())
    }

    /// [`Weather::rain_spell`] with a memo of the showers (same values).
    pub(crate) fn rain_spell_memo(&self, t: Timestamp, memo: &mut RainMemo) -> Option<RainSpell> {
        let s = t.as_secs_f64();
        let now_cell = (s / SHOWER_CELL_S).floor() as i64;
        let mut spell: Option<RainSpell> = None;
        // The spell's start so far; a shower joins when it ends (plus the drying time)
        // after it. Before any shower joined: `s` itself.
        let mut chain_start = s;
        for c in (now_cell - SPELL_LOOKBACK_CELLS..=now_cell).rev() {
            // No shower of cell c or earlier ends after (c + 2) hours.
            if (c + 2) as f64 * SHOWER_CELL_S + BUCKET_DRIES_AFTER_S <= chain_start {
                break;
            }
            let Some(sh) = self.shower_memo(c, memo) else {
                continue;
            };
            if sh.start > s {
                continue;
            }
            let joins = match spell {
                None => sh.end() + BUCKET_DRIES_AFTER_S > s,
                Some(_) => sh.end() + BUCKET_DRIES_AFTER_S > chain_start,
            };
            if joins && sh.start <= chain_start {
                chain_start = sh.start;
                spell = Some(RainSpell {
                    id: c,
                    start_s: sh.start,
                });
            }
        }
        spell
    }

    /// Rain (mm) fallen since the start of `spell` up to `t`, with a memo of the
    /// showers.
    pub(crate) fn spell_rain_mm_memo(
        &self,
        spell: RainSpell,
        t: Timestamp,
        memo: &mut RainMemo,
    ) -> f64 {
        let s = t.as_secs_f64();
        if s <= spell.start_s {
            return 0.0;
        }
        self.rain_mm_between_s(spell.start_s, s, memo)
    }

    // ---- temperature -------------------------------------------------------------

    fn annual_mean_c(&self) -> f64 {
        27.0 - 0.33 * self.latitude.abs() - 0.0065 * self.elevation_m
    }

    fn seasonal_amplitude_c(&self) -> f64 {
        1.0 + 0.12 * self.latitude.abs()
    }

    fn hemisphere(&self) -> f64 {
        if self.latitude >= 0.0 {
            1.0
        } else {
            -1.0
        }
    }

    /// -1 at the coldest time of year, +1 at the warmest (about a month after the
    /// solstice, as the oceans and ground lag the sun).
    fn season(&self, s: f64) -> f64 {
        let doy = (s / SECS_PER_DAY).rem_euclid(DAYS_PER_YEAR);
        -(2.0 * PI * (doy - 18.0) / DAYS_PER_YEAR).cos() * self.hemisphere()
    }

    /// Mean + seasonal + synoptic: the temperature without its daily wave.
    fn slow_temperature_at(&self, s: f64) -> f64 {
        self.annual_mean_c() + self.seasonal_amplitude_c() * self.season(s) + self.synoptic_c(s)
    }

    fn synoptic_c(&self, s: f64) -> f64 {
        4.0 * fbm(self.seed, stream::T_SYNOPTIC, s, 4.0 * SECS_PER_DAY, 2)
            + 0.8 * value_noise(self.seed, stream::T_MESO, s, 5.0 * SECS_PER_HOUR)
    }

    fn temperature_at(&self, s: f64, rain_mmh: f64) -> f64 {
        self.slow_temperature_at(s)
            + self.diurnal_c(s, rain_mmh)
            + 0.15 * value_noise(self.seed, stream::T_SHORT, s, 600.0)
            - 2.5 * rain_mmh / (rain_mmh + 3.0)
    }

    /// The daily wave in °C: its amplitude grows with the sun's height and shrinks
    /// under cloud.
    fn diurnal_c(&self, s: f64, rain_mmh: f64) -> f64 {
        let cloud = self.cloud_at(s, rain_mmh);
        let amplitude = (3.5 + 1.5 * self.sun_factor(s)) * (1.0 - 0.6 * cloud);
        amplitude * self.diurnal_shape(s)
    }

    /// Cloud cover, 0 (clear) to 1 (overcast): slow noise, and full under rain.
    fn cloud_at(&self, s: f64, rain_mmh: f64) -> f64 {
        (0.5 + 0.5 * fbm(self.seed, stream::CLOUD, s, 10.0 * SECS_PER_HOUR, 2)
            + rain_mmh / (rain_mmh + 1.0))
            .clamp(0.0, 1.0)
    }

    /// -1 at the winter solstice, +1 at the summer solstice of this hemisphere.
    fn sun_factor(&self, s: f64) -> f64 {
        let doy = (s / SECS_PER_DAY).rem_euclid(DAYS_PER_YEAR);
        (2.0 * PI * (doy - 80.0) / DAYS_PER_YEAR).sin() * self.hemisphere()
    }

    fn local_solar_s(&self, s: f64) -> f64 {
        s + self.longitude / 15.0 * SECS_PER_HOUR
    }

    /// Local solar hour of sunrise on day `day` (days since the epoch, local solar).
    /// Clamped to 3.5..8.5 so polar days and nights keep a usable daily wave.
    fn sunrise_hour(&self, day: f64) -> f64 {
        let doy = (day + 0.5).rem_euclid(DAYS_PER_YEAR);
        let decl = 23.44f64.to_radians() * (2.0 * PI * (doy - 80.0) / DAYS_PER_YEAR).sin();
        let cos_h0 = (-self.latitude.to_radians().tan() * decl.tan()).clamp(-1.0, 1.0);
        (12.0 - cos_h0.acos().to_degrees() / 15.0).clamp(3.5, 8.5)
    }

    /// -1 at sunrise, +1 at 15:00 local solar time; a half cosine up, and a fall that
    /// is quick in the evening and levels off towards dawn (radiative cooling).
    fn diurnal_shape(&self, s: f64) -> f64 {
        let ls = self.local_solar_s(s);
        let day = (ls / SECS_PER_DAY).floor();
        let h = (ls - day * SECS_PER_DAY) / SECS_PER_HOUR;
        let sunrise = self.sunrise_hour(day);
        let falling = |x: f64| (PI * x * (2.0 - x)).cos();
        if h < sunrise {
            falling((h + 24.0 - PEAK_HOUR) / (sunrise + 24.0 - PEAK_HOUR))
        } else if h < PEAK_HOUR {
            -(PI * (h - sunrise) / (PEAK_HOUR - sunrise)).cos()
        } else {
            let next = self.sunrise_hour(day + 1.0);
            falling((h - PEAK_HOUR) / (next + 24.0 - PEAK_HOUR))
        }
    }

    // ---- humidity ----------------------------------------------------------------

    /// The dew point follows the slow temperature, a seeded dryness, and rain.
    fn dew_point_at(&self, s: f64, rain_mmh: f64) -> f64 {
        let dryness = 0.5 + 0.5 * fbm(self.seed, stream::DRYNESS, s, 2.0 * SECS_PER_DAY, 2);
        let depression = (1.5 + 9.0 * dryness) * (1.0 - 0.9 * rain_mmh / (rain_mmh + 1.0));
        self.slow_temperature_at(s) - depression
    }

    // ---- pressure ----------------------------------------------------------------

    /// The synoptic pressure anomaly, roughly -1 (deep low) .. +1 (strong high).
    fn pressure_anomaly(&self, s: f64) -> f64 {
        fbm(self.seed, stream::P_SYNOPTIC, s, 4.0 * SECS_PER_DAY, 2)
    }

    fn sea_level_pressure_at(&self, s: f64) -> f64 {
        let h = self.local_solar_s(s).rem_euclid(SECS_PER_DAY) / SECS_PER_HOUR;
        // The semidiurnal atmospheric tide: maxima near 10:00 and 22:00.
        let tide = 0.5 * (2.0 * PI * (h - 10.0) / 12.0).cos();
        1012.0
            + 16.0 * self.pressure_anomaly(s)
            + 2.5 * value_noise(self.seed, stream::P_MESO, s, 12.0 * SECS_PER_HOUR)
            + tide
    }

    /// International standard atmosphere: p = p0 (1 - 2.25577e-5 h)^5.25588.
    fn station_from_sea_level(&self, slp_hpa: f64) -> f64 {
        slp_hpa
            * (1.0 - 2.25577e-5 * self.elevation_m)
                .max(0.01)
                .powf(5.25588)
    }

    // ---- ground ------------------------------------------------------------------

    fn ground_temperature_at(&self, s: f64) -> f64 {
        let lag_season = s - 10.0 * SECS_PER_DAY;
        let lag_day = s - 4.0 * SECS_PER_HOUR;
        let lag_synoptic = s - SECS_PER_DAY;
        let tg = self.annual_mean_c()
            + 0.9 * self.seasonal_amplitude_c() * self.season(lag_season)
            + 0.6 * self.synoptic_c(lag_synoptic)
            + 0.3 * self.diurnal_c(lag_day, self.rain_rate_at(lag_day));
        // Freezing soil releases latent heat: it lingers just below zero.
        if tg < 0.0 {
            0.3 * tg
        } else {
            tg
        }
    }

    // ---- wind --------------------------------------------------------------------

    /// The wind speed without turbulence and gusts: the slow terms at whole minutes,
    /// joined linearly. The grid keeps this a pure function while letting the edge
    /// generator, which asks once per simulated second, reuse the two nodes around it
    /// (see [`MeanWindCache`]) instead of re-evaluating days-long noise every second.
    fn mean_wind_at(&self, s: f64, cache: &mut MeanWindCache) -> f64 {
        let x = s / WIND_GRID_S;
        let node = floor_near(x, cache.node);
        let i = node as i64;
        if cache.node != Some(i) {
            cache.node = Some(i);
            cache.a = self.mean_wind_node(i);
            cache.b = self.mean_wind_node(i + 1);
        }
        cache.a + (cache.b - cache.a) * (x - node)
    }

    fn mean_wind_node(&self, i: i64) -> f64 {
        let s = i as f64 * WIND_GRID_S;
        let synoptic = (fbm(self.seed, stream::WIND_SYNOPTIC, s, 1.5 * SECS_PER_DAY, 2) * 1.3
            - 0.4 * self.pressure_anomaly(s))
        .clamp(-1.0, 1.0);
        let base = (10.0 * (1.3 * synoptic).exp() - 2.2).max(0.0);
        let day = 1.0 + 0.2 * self.diurnal_shape(s);
        // Light air below about 1 km/h is calm: the air barely moves and no cup turns.
        ((base + self.storm_kmh(s)) * day - 1.0).max(0.0)
    }

    /// Occasional storms: at most one per 4-day cell, 12–48 h long, adding 15–40 km/h
    /// at their height.
    fn storm_kmh(&self, s: f64) -> f64 {
        let cell = (s / STORM_CELL_S).floor();
        let mut rng = cell_rng(self.seed, stream::STORM, cell as i64);
        if rng.gen::<f64>() >= 0.15 {
            return 0.0;
        }
        let duration = (12.0 + 36.0 * rng.gen::<f64>()) * SECS_PER_HOUR;
        let start = cell * STORM_CELL_S + rng.gen::<f64>() * (STORM_CELL_S - duration);
        let peak = 15.0 + 25.0 * rng.gen::<f64>();
        let x = (s - start) / duration;
        if (0.0..1.0).contains(&x) {
            peak * (PI * x).sin().powi(2)
        } else {
            0.0
        }
    }

    /// The gust burst of a 20-s cell, if it has one: 2–8 s, lying wholly inside it.
    fn gust_burst(&self, cell: f64) -> Option<GustBurst> {
        let h = hash(self.seed, stream::GUST, cell as i64);
        if unit(h) >= 0.4 {
            return None;
        }
        let mut rng = cell_rng(self.seed, stream::GUST, cell as i64);
        let duration = 2.0 + 6.0 * rng.gen::<f64>();
        let start = cell * GUST_CELL_S + rng.gen::<f64>() * (GUST_CELL_S - duration);
        let strength = 0.2 + 0.5 * rng.gen::<f64>();
        Some(GustBurst {
            start,
            duration,
            strength,
        })
    }

    /// The gust burst's share of the wind at `s` (at most one burst per 20-s cell).
    fn gust_factor(&self, s: f64, cache: &mut MeanWindCache) -> f64 {
        let cell = floor_near(s / GUST_CELL_S, cache.gust_cell);
        if cache.gust_cell != Some(cell as i64) {
            cache.gust_cell = Some(cell as i64);
            cache.gust = self.gust_burst(cell);
        }
        let Some(g) = cache.gust else { return 0.0 };
        let x = (s - g.start) / g.duration;
        if (0.0..1.0).contains(&x) {
            g.strength * (PI * x).sin().powi(2)
        } else {
            0.0
        }
    }

    fn wind_speed_at(&self, s: f64) -> f64 {
        self.wind_speed_cached(s, &mut MeanWindCache::default())
    }

    fn wind_speed_cached(&self, s: f64, cache: &mut MeanWindCache) -> f64 {
        let mean = self.mean_wind_at(s, cache);
        if mean <= 0.0 {
            return 0.0;
        }
        let turbulence = 0.18
            * value_noise_memo(self.seed, stream::TURB_SLOW, s, 25.0, &mut cache.turb_slow)
            + 0.08 * value_noise_memo(self.seed, stream::TURB_FAST, s, 4.0, &mut cache.turb_fast);
        (mean * (1.0 + turbulence + self.gust_factor(s, cache))).clamp(0.0, 150.0)
    }

    fn prevailing_dir_deg(&self) -> f64 {
        if self.latitude.abs() >= 30.0 {
            // Westerlies, mostly from the south-west.
            235.0
        } else if self.latitude >= 0.0 {
            60.0
        } else {
            120.0
        }
    }

    fn wind_dir_at(&self, s: f64) -> f64 {
        let dir = self.prevailing_dir_deg()
            + 170.0 * fbm(self.seed, stream::DIR_SYNOPTIC, s, 2.0 * SECS_PER_DAY, 2)
            + 140.0 * value_noise(self.seed, stream::DIR_SEASONAL, s, 10.0 * SECS_PER_DAY)
            + 20.0 * value_noise(self.seed, stream::DIR_MESO, s, 40.0 * 60.0)
            + 10.0 * value_noise(self.seed, stream::DIR_TURB, s, 30.0);
        dir.rem_euclid(360.0)
    }

    // ---- rain --------------------------------------------------------------------

    fn rain_rate_at(&self, s: f64) -> f64 {
        let cell = (s / SHOWER_CELL_S).floor() as i64;
        // A shower lasts at most an hour, so only this cell's and the previous one's
        // can be raining now.
        self.shower_mmh(cell, s) + self.shower_mmh(cell - 1, s)
    }

    /// The rain rate at `s` from the shower (if any) that starts in hour cell `cell`.
    fn shower_mmh(&self, cell: i64, s: f64) -> f64 {
        self.shower(cell).map_or(0.0, |sh| sh.rate_at(s))
    }

    /// The shower (if any) that starts in hour cell `cell`.
    fn shower(&self, cell: i64) -> Option<Shower> {
        let u0 = unit(hash(self.seed, stream::RAIN, cell));
        if u0 >= SHOWER_P_MAX {
            return None;
        }
        let cell_start = cell as f64 * SHOWER_CELL_S;
        let p = (0.05 * (1.0 - 1.3 * self.pressure_anomaly(cell_start))).clamp(0.004, SHOWER_P_MAX);
        if u0 >= p {
            return None;
        }
        let mut rng = cell_rng(self.seed, stream::RAIN, cell);
        let start = cell_start + rng.gen::<f64>() * SHOWER_CELL_S;
        let duration = (5.0 + 55.0 * rng.gen::<f64>().powi(2)) * 60.0;
        // Log-uniform peak: light showers are common, cloudbursts rare.
        let peak = 0.5 * 60f64.powf(rng.gen::<f64>());
        Some(Shower {
            start,
            duration,
            peak,
        })
    }
}

/// Magnus formula over water (a = 17.62, b = 243.12 °C), clamped to 5..=100 %.
pub(crate) fn relative_humidity_pct(temperature_c: f64, dew_point_c: f64) -> f64 {
    const A: f64 = 17.62;
    const B: f64 = 243.12;
    let rh = 100.0
        * (A * dew_point_c / (B + dew_point_c) - A * temperature_c / (B + temperature_c)).exp();
    rh.clamp(5.0, 100.0)
}

#[cfg(test)]
mod tests;
