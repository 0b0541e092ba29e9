//! What the aggregator is told: intervals, QC limits, which quantities feed which
//! derived values.

use super::*;

#[derive(Clone, Debug, PartialEq)]
pub struct AggregatorConfig {
    pub sample_interval_s: i64,
    pub archive_interval_s: i64,
    pub elevation_m: f64,
    /// From the anemometer config; `None` when there is no anemometer.
    pub kmh_per_hz: Option<f64>,
    /// From the rain-gauge config; `None` when there is no rain gauge.
    pub mm_per_tip: Option<f64>,
    /// Additive offsets, applied before QC.
    pub calibration: HashMap<Quantity, f64>,
    /// QC limits, the defaults for standard quantities merged with the config's.
    pub qc: HashMap<Quantity, QcLimits>,
    /// The anemometer's sensor name, for faults about wind speed and gust.
    pub anemometer_sensor: Arc<str>,
    /// The rain gauge's sensor name, for faults about rain.
    pub rain_gauge_sensor: Arc<str>,
    /// Rate-of-change limits (`[qc]` plain keys).
    pub spike: SpikeLimits,
    /// How each extra quantity folds, as its driver declares
    /// (`SensorKind::aggregation`); an extra not listed is a mean.
    pub aggregations: HashMap<Arc<str>, Aggregation>,
}

impl AggregatorConfig {
    /// Takes `kmh_per_hz` and `mm_per_tip` from the first anemometer and the first rain
    /// gauge (by sensor name), the calibration offsets and QC limits by quantity name,
    /// with the config's `[qc.<quantity>]` tables replacing the defaults of
    /// [`default_qc_limits`]. Intervals of 0 s are taken as 1 s (validation rejects
    /// them; this only keeps the arithmetic defined).
    pub fn from_config(c: &Config) -> Self {
        let sample_interval_s = i64::from(c.sample_interval_seconds.max(1));
        let anemometer = c.sensors.iter().find_map(|(name, s)| match s {
            SensorConfig::Anemometer(a) => Some((name, a.kmh_per_hz)),
            _ => None,
        });
        let rain_gauge = c.sensors.iter().find_map(|(name, s)| match s {
            SensorConfig::RainGauge(r) => Some((name, r.mm_per_tip)),
            _ => None,
        });
        let mm_per_tip = rain_gauge.map(|(_, mm)| mm);
        let mut qc = default_qc_limits(sample_interval_s, mm_per_tip);
        qc.extend(
            c.qc.iter()
                .map(|(name, limits)| (Quantity::from_name(name), *limits)),
        );
        AggregatorConfig {
            sample_interval_s,
            archive_interval_s: i64::from(c.archive_interval_seconds.max(1)),
            elevation_m: c.station.elevation_m,
            kmh_per_hz: anemometer.map(|(_, k)| k),
            mm_per_tip,
            calibration: c
                .calibration
                .iter()
                .map(|(name, offset)| (Quantity::from_name(name), *offset))
                .collect(),
            qc,
            anemometer_sensor: Arc::from(
                anemometer.map_or("anemometer", |(name, _)| name.as_str()),
            ),
            rain_gauge_sensor: Arc::from(
                rain_gauge.map_or("rain_gauge", |(name, _)| name.as_str()),
            ),
            spike: c.spike,
            aggregations: c
                .sensors
                .values()
                .flat_map(|s| {
                    // Only extras: a standard quantity's fold is its column's.
                    s.quantities().into_iter().filter_map(move |q| {
                        let Quantity::Extra(name) = &q else {
                            return None;
                        };
                        Some((name.clone(), s.aggregation(&q)))
                    })
                })
                .collect(),
        }
    }
}

/// The QC limits for the standard quantities: −60..60 °C (air and ground), 0..100 %,
/// 300..1100 hPa, 0..300 km/h, 0..360°, and for rain per sample period 0 up to
/// 500 mm/h over the period, but never less than two tips (so a short sample interval
/// cannot reject a single real tip).
pub(crate) fn default_qc_limits(
    sample_interval_s: i64,
    mm_per_tip: Option<f64>,
) -> HashMap<Quantity, QcLimits> {
    let rain_max_mm = (DEFAULT_RAIN_LIMIT_MM_PER_H * sample_interval_s as f64 / 3600.0)
        .max(2.0 * mm_per_tip.unwrap_or(0.0));
    let limits = |min, max| QcLimits { min, max };
    HashMap::from([
        (Quantity::TemperatureC, limits(-60.0, 60.0)),
        (Quantity::GroundTemperatureC, limits(-60.0, 60.0)),
        (Quantity::HumidityPct, limits(0.0, 100.0)),
        (Quantity::PressureHpa, limits(300.0, 1100.0)),
        (Quantity::WindSpeedKmh, limits(0.0, 300.0)),
        (Quantity::WindDirDeg, limits(0.0, 360.0)),
        (Quantity::RainMm, limits(0.0, rain_max_mm)),
    ])
}
