//! The aggregator: samples in, one `ArchiveRecord` out per archive interval. Pure
//! code (no I/O, no clock), so every rule can be tested with hand-made samples.
//!
//! Interval membership: a record covers `[start, end)` and aggregates the samples
//! whose ticks fall in `(start, end]`, because a sample taken at tick `t` describes
//! the sample period that ends at `t`. A sample exactly on a boundary therefore lands
//! in exactly one interval: the one it closes.
//!
//! # Rules
//!
//! - **Emission.** The record is emitted when the sample at tick `end` arrives. A
//!   sample that belongs to a later interval first closes the open one as a partial
//!   record (fewer `samples`); [`Aggregator::flush`] closes it on shutdown. Record
//!   boundaries are always on the archive grid, except that the first record after a
//!   resume starts no earlier than the stored history ends (so it cannot overlap it if
//!   the archive interval was changed).
//! - **Dropped samples.** A sample whose tick is at or before the end of the stored
//!   history (`Resume::last_end`), the end of a record already emitted, or the tick of
//!   a sample already aggregated (a duplicate or a clock step backwards) is dropped and
//!   counted in [`Aggregator::dropped_samples`]: its interval is already archived.
//! - **Calibration, then QC.** A reading's additive calibration offset is applied
//!   first; the calibrated value must lie within the quantity's QC limits (inclusive)
//!   or it is discarded and an `OutOfRange` fault is recorded naming the value, the
//!   limits and the raw value. A non-finite value is discarded the same way.
//!   Quantities without limits are only checked for being finite. A wind direction is
//!   wrapped into `[0, 360)` after its offset (a vane mounted 10° off north reading
//!   355° is 5°, not 365°).
//! - **Spikes.** A reading that passed its range limits then faces the rate-of-change
//!   limits of [`crate::spike`] (`[qc] temperature_c_per_minute` & co.): a spike is
//!   discarded with a `Spike` fault, as a range fault is; a sample whose bucket tips or
//!   anemometer closures come faster than the hardware can make them loses its rain or
//!   wind data the same way.
//! - **Faults** from samples and from QC are counted per (sensor, quantity, kind), in
//!   order of first occurrence, with the first time and message.
//! - **Polled quantities** (temperature, humidity, pressure, ground temperature) get
//!   mean/min/max/n over all valid readings in the interval. Every `Quantity::Extra`
//!   is folded as its driver declared ([`Aggregation`], `AggregatorConfig::
//!   aggregations`; mean when not declared): mean/min/max, the total, the unit-vector
//!   mean direction (wrapped into `[0, 360)` after its calibration offset, as the
//!   vane's is), or the newest reading with min/max; always with the count `n`.
//!   Extras appear only when they had at least one valid reading, sorted by name. A polled reading of
//!   `wind_speed_kmh` or `rain_mm` is ignored: those come from pulse counts only.
//! - **Dew point** from the mean temperature and mean humidity; **sea-level pressure**
//!   from the mean pressure and mean temperature, or 15 °C (the standard atmosphere)
//!   when no temperature was valid in the interval. From the same means (and the mean
//!   wind speed): the **altimeter setting** (mean pressure, elevation), **heat index**
//!   (temperature, humidity), **wind chill** (temperature, wind speed) and **apparent
//!   temperature** (temperature, humidity, wind speed in m/s), each `None` where its
//!   formula is not defined (see [`meteo`]) or an input is missing.
//! - **Wind speed.** Each sample with anemometer closures (and a configured
//!   `kmh_per_hz`) has a speed `closures · kmh_per_hz / sample_interval`; a speed
//!   outside the `wind_speed_kmh` QC limits discards that sample's wind data. The mean
//!   is total closures / covered time (the samples with wind data) · `kmh_per_hz`.
//! - **Gust** (WMO-No. 8 running mean): the highest 3-s mean over every window that
//!   *ends* in `(start, end]`, by [`meteo::gust_kmh_ending_after`]. A window that
//!   straddles two records belongs to the one in which it ends, so the aggregator
//!   carries the accepted closures of the last 6 s of each record (3 s of windows, plus
//!   3 s so the speed at a window's start is known from the closure before it) into
//!   the next one. The carry is used only when the next record's wind data continues
//!   exactly where it ended (its first sample with wind data covers the period right
//!   after the last one): after a gap (missed samples, a failed anemometer, a clock
//!   step, a restart) stale closures are dropped, and the windows that would reach back
//!   before the gap are not scored. After a restart the first sample's replayed
//!   closures (`Sample::wind_pulses_before`) take the carry's place; a real GPIO line
//!   replays none, so on a Pi the first record after a restart scores only the windows
//!   that lie wholly after the start (from what is available; it can only read low).
//!   Inside a record, samples without anemometer data are bridged by one long gap
//!   between the closures around them (nearly calm), which can only lower the gust.
//!   The gust is never reported below the mean (the two are different estimators and
//!   disagree slightly at a few closures per minute), and a gust outside the
//!   `wind_speed_kmh` limits is discarded with a fault.
//! - **Direction.** Vector mean of the vane readings weighted by the same sample's
//!   wind speed; `None` when calm. When no vane reading in the interval has a
//!   same-sample speed (no anemometer, or it failed whenever the vane read), unit
//!   vectors are used instead. `wind_dir_n` counts every valid vane reading.
//! - **Rain.** Each sample with tip data contributes `tips · mm_per_tip`; a sample
//!   above the `rain_mm` QC limit (rain per sample period) is discarded with a fault and
//!   its tips do not count. `rain_mm` is `None` when no sample had rain data. The rain
//!   rate is the peak of [`meteo::peak_rain_rate_mm_per_h`] over the accepted tips
//!   (the reference tip carried across intervals and restarts in `last_rain_tip`),
//!   `Some(0.0)` when the gauge worked but did not tip, and discarded with a fault when
//!   above the `rain_mm` limit read as a rate (`max · 3600 / sample_interval`).

use crate::config::{Config, QcLimits, SensorConfig};
use crate::meteo::{self, VectorSum};
use crate::observation::{Aggregation, Fault, FaultKind, Quantity, Sample};
use crate::record::{ArchiveRecord, ExtraStat, FaultCount, Resume, Stat};
use crate::spike::{SpikeFilter, SpikeLimits};
use crate::time::Timestamp;
use std::collections::HashMap;
use std::sync::Arc;

mod config;
mod rules;
pub use config::AggregatorConfig;
use rules::Rules;

/// The rain rate the default `rain_mm` QC limit allows over one sample period.
pub(crate) const DEFAULT_RAIN_LIMIT_MM_PER_H: f64 = 500.0;

/// The temperature assumed for the sea-level reduction when none was measured.
pub(crate) const STANDARD_TEMPERATURE_C: f64 = 15.0;

/// How much of a record's anemometer closures the next record needs: the windows
/// ending early in it begin up to 3 s before it, and the speed at such a window's start
/// comes from the closure before that.
pub(crate) const GUST_CARRY_S: i64 = 2 * meteo::GUST_WINDOW_S;

/// Running mean/min/max of one quantity.
#[derive(Clone, Copy, Debug, Default)]
struct Acc {
    sum: f64,
    min: f64,
    max: f64,
    n: u32,
}

impl Acc {
    fn add(&mut self, v: f64) {
        if self.n == 0 {
            self.min = v;
            self.max = v;
        } else {
            self.min = self.min.min(v);
            self.max = self.max.max(v);
        }
        self.sum += v;
        self.n += 1;
    }

    fn mean(&self) -> Option<f64> {
        (self.n > 0).then(|| self.sum / f64::from(self.n))
    }

    fn stat(&self) -> Stat {
        if self.n == 0 {
            return Stat::default();
        }
        Stat {
            mean: self.mean(),
            min: Some(self.min),
            max: Some(self.max),
            n: self.n,
        }
    }
}

/// A direction in degrees (the vane's, or an extra folded as a vector): wrapped into
/// `[0, 360)` after its calibration offset.
fn is_direction(cfg: &AggregatorConfig, q: &Quantity) -> bool {
    match q {
        Quantity::Extra(name) => cfg.aggregations.get(name) == Some(&Aggregation::Vector),
        other => other.default_aggregation() == Aggregation::Vector,
    }
}

/// One extra quantity's samples in the open interval, folded as its driver declared.
#[derive(Clone, Copy, Debug, Default)]
struct ExtraAcc {
    kind: Aggregation,
    /// Sum, lowest, highest and count of the samples (every kind counts its samples).
    acc: Acc,
    /// The samples as unit vectors (`Vector`).
    dir: VectorSum,
    /// The newest sample (`Last`).
    last: f64,
}

impl ExtraAcc {
    fn add(&mut self, v: f64) {
        self.acc.add(v);
        match self.kind {
            Aggregation::Vector => self.dir.add(v, 1.0),
            Aggregation::Last => self.last = v,
            Aggregation::Mean | Aggregation::Sum => {}
        }
    }

    fn stat(&self) -> ExtraStat {
        let s = self.acc.stat();
        let (value, extremes) = match self.kind {
            Aggregation::Mean => (s.mean, true),
            Aggregation::Sum => ((s.n > 0).then_some(self.acc.sum), false),
            Aggregation::Vector => (self.dir.mean_deg(), false),
            Aggregation::Last => ((s.n > 0).then_some(self.last), true),
        };
        ExtraStat {
            kind: self.kind,
            value,
            min: s.min.filter(|_| extremes),
            max: s.max.filter(|_| extremes),
            n: s.n,
        }
    }
}

/// Everything accumulated for the open interval. Reused across intervals so the
/// vectors keep their capacity.
#[derive(Default)]
struct Interval {
    start: Timestamp,
    end: Timestamp,
    last_at: Timestamp,
    samples: u32,
    temperature: Acc,
    humidity: Acc,
    pressure: Acc,
    ground: Acc,
    extras: Vec<(Arc<str>, ExtraAcc)>,
    /// The closures the gust is scored from: the carry from the record before (when
    /// the wind data continues), then this record's.
    closures: Vec<Timestamp>,
    /// Where the wind data behind `closures` begins (the carry's start, or the period
    /// start of the first sample with wind data) and ends (the last such sample's
    /// tick); `None` until a sample with wind data arrives.
    wind_from: Option<Timestamp>,
    wind_until: Timestamp,
    closure_count: u64,
    wind_n: u32,
    dir_weighted: VectorSum,
    dir_weighted_n: u32,
    dir_unit: VectorSum,
    wind_dir_n: u32,
    tips: u64,
    rain_n: u32,
    rain_peak: Option<f64>,
    faults: Vec<FaultCount>,
}

impl Interval {
    fn reset(&mut self, start: Timestamp, end: Timestamp) {
        let mut extras = std::mem::take(&mut self.extras);
        let mut closures = std::mem::take(&mut self.closures);
        let mut faults = std::mem::take(&mut self.faults);
        extras.clear();
        closures.clear();
        faults.clear();
        *self = Interval {
            start,
            end,
            extras,
            closures,
            faults,
            ..Interval::default()
        };
    }

    fn count_fault(&mut self, f: Fault) {
        let existing = self
            .faults
            .iter_mut()
            .find(|c| c.kind == f.kind && c.quantity == f.quantity && c.sensor == f.sensor);
        match existing {
            Some(c) => c.count += 1,
            None => self.faults.push(FaultCount {
                sensor: f.sensor,
                quantity: f.quantity,
                kind: f.kind,
                count: 1,
                first_at: f.at,
                message: f.message,
            }),
        }
    }

    fn out_of_range(&mut self, at: Timestamp, sensor: &Arc<str>, q: Quantity, message: String) {
        self.qc_fault(at, sensor, q, FaultKind::OutOfRange, message);
    }

    fn qc_fault(
        &mut self,
        at: Timestamp,
        sensor: &Arc<str>,
        q: Quantity,
        kind: FaultKind,
        message: String,
    ) {
        self.count_fault(Fault {
            at,
            sensor: sensor.clone(),
            quantity: Some(q),
            kind,
            message,
        });
    }

    fn extra(&mut self, name: &Arc<str>, kind: Aggregation) -> &mut ExtraAcc {
        let i = match self.extras.iter().position(|(n, _)| n == name) {
            Some(i) => i,
            None => {
                let acc = ExtraAcc {
                    kind,
                    ..ExtraAcc::default()
                };
                self.extras.push((name.clone(), acc));
                self.extras.len() - 1
            }
        };
        &mut self.extras[i].1
    }
}

pub struct Aggregator {
    cfg: AggregatorConfig,
    rules: Rules,
    sample_interval_s: i64,
    archive_interval_s: i64,
    cur: Interval,
    open: bool,
    /// Samples at or before this tick are already archived or aggregated.
    watermark: Option<Timestamp>,
    /// The end of the stored history or of the last record emitted.
    archived_end: Option<Timestamp>,
    last_rain_tip: Option<Timestamp>,
    /// The last `GUST_CARRY_S` of closures of the record closed last, from
    /// `carry_from`, with wind data up to `carry_until` (`None`: nothing to carry).
    carry: Vec<Timestamp>,
    carry_from: Timestamp,
    carry_until: Option<Timestamp>,
    dropped: u64,
    /// The spike test's memory of the polled quantities.
    spikes: SpikeFilter,
    /// The last accepted anemometer closure, the reference for the closure-rate test.
    last_closure: Option<Timestamp>,
}

impl Aggregator {
    pub fn new(cfg: AggregatorConfig, resume: &Resume) -> Self {
        Aggregator {
            rules: Rules::new(&cfg),
            sample_interval_s: cfg.sample_interval_s.max(1),
            archive_interval_s: cfg.archive_interval_s.max(1),
            cfg,
            cur: Interval::default(),
            open: false,
            watermark: resume.last_end,
            archived_end: resume.last_end,
            last_rain_tip: resume.last_rain_tip,
            carry: Vec::new(),
            carry_from: Timestamp::default(),
            carry_until: None,
            dropped: 0,
            spikes: SpikeFilter::default(),
            last_closure: None,
        }
    }

    /// Samples dropped because their interval was already archived, or because their
    /// tick was not after the previous sample's (duplicates, clock steps backwards).
    pub fn dropped_samples(&self) -> u64 {
        self.dropped
    }

    /// The last accepted bucket tip so far (what the next record will carry).
    pub fn last_rain_tip(&self) -> Option<Timestamp> {
        self.last_rain_tip
    }

    /// Adds one sample; appends to `out` every record this sample completes (the
    /// interval it closes, and an earlier partial one if the sample skipped ahead).
    pub fn push(&mut self, sample: Sample, out: &mut Vec<ArchiveRecord>) {
        let at = sample.at;
        if self.watermark.is_some_and(|w| at <= w) {
            self.dropped += 1;
            return;
        }
        // The interval whose (start, end] holds `at`.
        let end = Timestamp(at.0.saturating_sub(1)).next_tick(self.archive_interval_s);
        if self.open && self.cur.end != end {
            out.push(self.close());
        }
        if !self.open {
            let grid_start = end.add_secs(-self.archive_interval_s);
            let start = match self.archived_end {
                Some(a) if a > grid_start => a,
                _ => grid_start,
            };
            self.cur.reset(start, end);
            self.open = true;
        }
        self.watermark = Some(at);
        self.accumulate(sample);
        if at == end {
            out.push(self.close());
        }
    }

    /// Closes the current partial interval (on shutdown); `None` if it has no samples.
    pub fn flush(&mut self) -> Option<ArchiveRecord> {
        (self.open && self.cur.samples > 0).then(|| self.close())
    }

    fn accumulate(&mut self, sample: Sample) {
        let Sample {
            at,
            readings,
            wind_pulses,
            wind_pulses_before,
            rain_tips,
            faults,
        } = sample;
        let si = self.sample_interval_s as f64;
        let cur = &mut self.cur;
        cur.samples += 1;
        cur.last_at = at;
        for f in faults {
            cur.count_fault(f);
        }

        let mut sample_speed_kmh = None;
        if let (Some(kmh_per_hz), Some(closures)) = (self.cfg.kmh_per_hz, wind_pulses.as_deref()) {
            let speed = closures.len() as f64 * kmh_per_hz / si;
            // The closure-rate limit: configured, or the rate of the range limit.
            let max_hz = self.cfg.spike.wind_closures_per_second.or_else(|| {
                let max_kmh = self.rules.limits(&Quantity::WindSpeedKmh)?.max;
                (kmh_per_hz > 0.0).then(|| max_kmh / kmh_per_hz)
            });
            let spike = max_hz.and_then(|hz| {
                crate::spike::too_fast(closures, self.last_closure, hz, "anemometer closures")
            });
            match (self.rules.check(&Quantity::WindSpeedKmh, speed), spike) {
                (Ok(()), Some(why)) => cur.qc_fault(
                    at,
                    &self.cfg.anemometer_sensor,
                    Quantity::WindSpeedKmh,
                    FaultKind::Spike,
                    format!("{why}; sample's wind discarded as a spike"),
                ),
                (Ok(()), None) => {
                    if let Some(&last) = closures.last() {
                        self.last_closure = Some(last);
                    }
                    let period_start = at.add_secs(-self.sample_interval_s);
                    if cur.wind_from.is_none() {
                        // The first wind data of this record: the windows that end
                        // early in it start in the record before.
                        if self.carry_until != Some(period_start) {
                            // Not continuing the last record's data: its closures are
                            // stale. A replayed history (after a start) takes their place.
                            self.carry.clear();
                            self.carry_until = None;
                            if let Some(before) = wind_pulses_before.as_deref() {
                                let from = period_start.add_secs(-GUST_CARRY_S);
                                self.carry.extend(
                                    before.iter().filter(|&&t| t >= from && t < period_start),
                                );
                                self.carry_from = from;
                                self.carry_until = Some(period_start);
                            }
                        }
                        cur.wind_from = Some(if self.carry_until.is_some() {
                            cur.closures.extend_from_slice(&self.carry);
                            self.carry_from
                        } else {
                            period_start
                        });
                    }
                    cur.wind_n += 1;
                    cur.wind_until = at;
                    cur.closure_count += closures.len() as u64;
                    cur.closures.extend_from_slice(closures);
                    sample_speed_kmh = Some(speed);
                }
                (Err(why), _) => cur.out_of_range(
                    at,
                    &self.cfg.anemometer_sensor,
                    Quantity::WindSpeedKmh,
                    format!(
                        "{why} ({} closures in {si} s); sample's wind discarded",
                        closures.len()
                    ),
                ),
            }
        }

        if let (Some(mm_per_tip), Some(tips)) = (self.cfg.mm_per_tip, rain_tips.as_deref()) {
            let rain_mm = tips.len() as f64 * mm_per_tip;
            let per_second = self.cfg.spike.rain_tips_per_second;
            let spike = crate::spike::too_fast(tips, self.last_rain_tip, per_second, "bucket tips");
            match (self.rules.check(&Quantity::RainMm, rain_mm), spike) {
                (Ok(()), Some(why)) => cur.qc_fault(
                    at,
                    &self.cfg.rain_gauge_sensor,
                    Quantity::RainMm,
                    FaultKind::Spike,
                    format!("{why}; sample's rain discarded as a spike"),
                ),
                (Ok(()), None) => {
                    cur.rain_n += 1;
                    cur.tips += tips.len() as u64;
                    if let Some(rate) =
                        meteo::peak_rain_rate_mm_per_h(tips, self.last_rain_tip, mm_per_tip)
                    {
                        cur.rain_peak = Some(cur.rain_peak.map_or(rate, |p| p.max(rate)));
                    }
                    if let Some(&last) = tips.iter().max() {
                        self.last_rain_tip = Some(self.last_rain_tip.map_or(last, |t| t.max(last)));
                    }
                }
                (Err(why), _) => cur.out_of_range(
                    at,
                    &self.cfg.rain_gauge_sensor,
                    Quantity::RainMm,
                    format!(
                        "{why} ({} tips in {si} s); sample's rain discarded",
                        tips.len()
                    ),
                ),
            }
        }

        for (sensor, reading) in readings {
            let q = &reading.quantity;
            let offset = self.rules.offset(q);
            let mut value = reading.value + offset;
            if offset != 0.0 && is_direction(&self.cfg, q) {
                value = value.rem_euclid(360.0);
            }
            if let Err(why) = self.rules.check(q, value) {
                let raw = if offset != 0.0 {
                    format!(" (raw {}, calibration {offset:+})", reading.value)
                } else {
                    String::new()
                };
                cur.out_of_range(at, &sensor, reading.quantity, format!("{why}{raw}"));
                continue;
            }
            if let Err(why) = self.spikes.check(&self.cfg.spike, &sensor, q, at, value) {
                cur.qc_fault(at, &sensor, reading.quantity, FaultKind::Spike, why);
                continue;
            }
            match q {
                Quantity::TemperatureC => cur.temperature.add(value),
                Quantity::HumidityPct => cur.humidity.add(value),
                Quantity::PressureHpa => cur.pressure.add(value),
                Quantity::GroundTemperatureC => cur.ground.add(value),
                Quantity::WindDirDeg => {
                    cur.wind_dir_n += 1;
                    cur.dir_unit.add(value, 1.0);
                    if let Some(speed) = sample_speed_kmh {
                        cur.dir_weighted_n += 1;
                        cur.dir_weighted.add(value, speed);
                    }
                }
                Quantity::WindSpeedKmh | Quantity::RainMm => {}
                Quantity::Extra(name) => {
                    let kind = self.cfg.aggregations.get(name).copied();
                    cur.extra(name, kind.unwrap_or_default()).add(value)
                }
            }
        }
    }

    fn close(&mut self) -> ArchiveRecord {
        self.open = false;
        let end = self.cur.end;
        self.archived_end = Some(end);
        self.watermark = Some(self.watermark.map_or(end, |w| w.max(end)));
        let si = self.sample_interval_s as f64;
        let cur = &mut self.cur;

        let temperature_c = cur.temperature.stat();
        let humidity_pct = cur.humidity.stat();
        let pressure_hpa = cur.pressure.stat();
        let dew_point_c = match (temperature_c.mean, humidity_pct.mean) {
            (Some(t), Some(h)) => meteo::dew_point_c(t, h),
            _ => None,
        };
        let sea_level_pressure_hpa = pressure_hpa.mean.map(|p| {
            let t = temperature_c.mean.unwrap_or(STANDARD_TEMPERATURE_C);
            meteo::sea_level_pressure_hpa(p, t, self.cfg.elevation_m)
        });

        let (mut wind_speed_kmh, mut wind_gust_kmh) = (None, None);
        if let (Some(kmh_per_hz), true) = (self.cfg.kmh_per_hz, cur.wind_n > 0) {
            let mean = cur.closure_count as f64 * kmh_per_hz / (f64::from(cur.wind_n) * si);
            wind_speed_kmh = Some(mean);
            let data_from = cur.wind_from.unwrap_or(cur.start);
            let gust = meteo::gust_kmh_ending_after(
                &cur.closures,
                data_from,
                cur.wind_until,
                cur.start,
                kmh_per_hz,
            )
            .map(|g| g.max(mean));
            // What the next record's early windows need.
            let carry_from = data_from.max(cur.wind_until.add_secs(-GUST_CARRY_S));
            let keep = cur.closures.partition_point(|&t| t < carry_from);
            self.carry.clear();
            self.carry.extend_from_slice(&cur.closures[keep..]);
            self.carry_from = carry_from;
            self.carry_until = Some(cur.wind_until);
            wind_gust_kmh = match gust.map(|g| (g, self.rules.check(&Quantity::WindSpeedKmh, g))) {
                Some((_, Err(why))) => {
                    let msg = format!("gust: {why}; gust discarded");
                    cur.out_of_range(
                        cur.last_at,
                        &self.cfg.anemometer_sensor,
                        Quantity::WindSpeedKmh,
                        msg,
                    );
                    None
                }
                other => other.map(|(g, _)| g),
            };
        } else {
            // No wind data in this record: nothing continues from it.
            self.carry.clear();
            self.carry_until = None;
        }
        let wind_dir_deg = if cur.dir_weighted_n > 0 {
            cur.dir_weighted.mean_deg()
        } else {
            cur.dir_unit.mean_deg()
        };

        let (mut rain_mm, mut rain_rate_mm_per_h) = (None, None);
        if let (Some(mm_per_tip), true) = (self.cfg.mm_per_tip, cur.rain_n > 0) {
            rain_mm = Some(cur.tips as f64 * mm_per_tip);
            let rate = cur.rain_peak.unwrap_or(0.0);
            let limit = self
                .rules
                .limits(&Quantity::RainMm)
                .map(|l| l.max * 3600.0 / si);
            rain_rate_mm_per_h = match limit {
                Some(limit) if rate > limit => {
                    let msg = format!(
                        "rain rate {rate} mm/h is above the QC limit {limit} mm/h; rate discarded"
                    );
                    cur.out_of_range(
                        cur.last_at,
                        &self.cfg.rain_gauge_sensor,
                        Quantity::RainMm,
                        msg,
                    );
                    None
                }
                _ => Some(rate),
            };
        }

        cur.extras.sort_by(|a, b| a.0.cmp(&b.0));
        let mut record = ArchiveRecord {
            start: cur.start,
            end,
            samples: cur.samples,
            temperature_c,
            humidity_pct,
            pressure_hpa,
            ground_temperature_c: cur.ground.stat(),
            dew_point_c,
            sea_level_pressure_hpa,
            wind_speed_kmh,
            wind_gust_kmh,
            wind_dir_deg,
            wind_n: cur.wind_n,
            wind_dir_n: cur.wind_dir_n,
            rain_mm,
            rain_rate_mm_per_h,
            rain_n: cur.rain_n,
            extras: cur
                .extras
                .iter()
                .map(|(name, acc)| (name.clone(), acc.stat()))
                .collect(),
            faults: std::mem::take(&mut cur.faults),
            last_rain_tip: self.last_rain_tip,
            ..ArchiveRecord::default()
        };
        record.derive(self.cfg.elevation_m);
        record
    }
}
