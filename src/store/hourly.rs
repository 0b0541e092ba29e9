//! Accumulators that fold archive records into hourly (and partial daily) rows.

use super::query::Value;
use super::row::{weighted, STATS};
use crate::record::{ArchiveRecord, Stat};
use crate::time::Timestamp;

/// Sample-weighted mean, min and max of one quantity over several records.
#[derive(Default)]
pub(super) struct StatAcc {
    sum: f64,
    n: i64,
    pub(super) min: Option<f64>,
    pub(super) max: Option<f64>,
}

fn opt_min(a: Option<f64>, b: Option<f64>) -> Option<f64> {
    match (a, b) {
        (Some(x), Some(y)) => Some(x.min(y)),
        (x, y) => x.or(y),
    }
}

pub(super) fn opt_max(a: Option<f64>, b: Option<f64>) -> Option<f64> {
    match (a, b) {
        (Some(x), Some(y)) => Some(x.max(y)),
        (x, y) => x.or(y),
    }
}

impl StatAcc {
    pub(super) fn add(&mut self, s: &Stat) {
        if let (Some(sum), n) = weighted(s.mean, s.n) {
            self.sum += sum;
            self.n += n;
        }
        self.min = opt_min(self.min, s.min);
        self.max = opt_max(self.max, s.max);
    }
    pub(super) fn mean(&self) -> Option<f64> {
        (self.n > 0).then(|| self.sum / self.n as f64)
    }
    pub(super) fn cells(&self) -> [Value; 4] {
        [
            self.mean().into(),
            self.min.into(),
            self.max.into(),
            Value::Int(self.n),
        ]
    }
}

/// A plain mean over the records that have a value.
#[derive(Default)]
struct MeanAcc {
    sum: f64,
    n: i64,
}

impl MeanAcc {
    pub(super) fn add(&mut self, v: Option<f64>) {
        if let Some(x) = v {
            self.sum += x;
            self.n += 1;
        }
    }
    pub(super) fn mean(&self) -> Option<f64> {
        (self.n > 0).then(|| self.sum / self.n as f64)
    }
}

/// One UTC hour of records.
#[derive(Default)]
pub(super) struct HourAcc {
    records: i64,
    samples: i64,
    stats: [StatAcc; 4],
    dew_point: MeanAcc,
    sea_level_pressure: MeanAcc,
    wind: StatAcc,
    gust: Option<f64>,
    /// Wind direction as a vector sum, each record weighted by its mean speed and the
    /// samples that had a direction (the closest to a sample-level vector mean the
    /// archive allows).
    dir_x: f64,
    dir_y: f64,
    rain: Option<f64>,
    rain_rate: Option<f64>,
}

impl HourAcc {
    pub(super) fn columns() -> Vec<String> {
        let mut c = vec![
            "start_utc".to_string(),
            "records".to_string(),
            "samples".to_string(),
        ];
        for (q, unit) in STATS {
            c.extend([
                format!("{q}_{unit}"),
                format!("{q}_min_{unit}"),
                format!("{q}_max_{unit}"),
            ]);
        }
        for name in [
            "dew_point_c",
            "sea_level_pressure_hpa",
            "wind_speed_kmh",
            "wind_gust_kmh",
            "wind_dir_deg",
            "rain_mm",
            "rain_rate_mm_per_h",
        ] {
            c.push(name.to_string());
        }
        c
    }

    pub(super) fn add(&mut self, r: &ArchiveRecord) {
        self.records += 1;
        self.samples += i64::from(r.samples);
        for (acc, s) in self.stats.iter_mut().zip([
            &r.temperature_c,
            &r.humidity_pct,
            &r.pressure_hpa,
            &r.ground_temperature_c,
        ]) {
            acc.add(s);
        }
        self.dew_point.add(r.dew_point_c);
        self.sea_level_pressure.add(r.sea_level_pressure_hpa);
        self.wind.add(&Stat {
            mean: r.wind_speed_kmh,
            min: None,
            max: None,
            n: r.wind_n,
        });
        self.gust = opt_max(self.gust, r.wind_gust_kmh);
        if let (Some(dir), Some(speed)) = (r.wind_dir_deg, r.wind_speed_kmh) {
            let w = speed * f64::from(r.wind_dir_n);
            self.dir_x += w * dir.to_radians().sin();
            self.dir_y += w * dir.to_radians().cos();
        }
        if let Some(mm) = r.rain_mm {
            self.rain = Some(self.rain.unwrap_or(0.0) + mm);
        }
        self.rain_rate = opt_max(self.rain_rate, r.rain_rate_mm_per_h);
    }

    pub(super) fn row(&self, hour: i64) -> Vec<Value> {
        let mut v = vec![
            Value::Text(Timestamp::from_secs(hour).rfc3339()),
            Value::Int(self.records),
            Value::Int(self.samples),
        ];
        for s in &self.stats {
            v.extend([s.mean().into(), s.min.into(), s.max.into()]);
        }
        // A vector sum this close to zero is calm (or perfectly opposed winds): no
        // direction, as for a single record.
        let dir = (self.dir_x.hypot(self.dir_y) > 1e-9)
            .then(|| self.dir_x.atan2(self.dir_y).to_degrees().rem_euclid(360.0));
        v.extend([
            self.dew_point.mean().into(),
            self.sea_level_pressure.mean().into(),
            self.wind.mean().into(),
            self.gust.into(),
            dir.into(),
            self.rain.into(),
            self.rain_rate.into(),
        ]);
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hour_direction_is_a_vector_mean() {
        let mut h = HourAcc::default();
        for dir in [350.0, 10.0] {
            h.add(&ArchiveRecord {
                start: Timestamp::from_secs(0),
                end: Timestamp::from_secs(60),
                wind_speed_kmh: Some(10.0),
                wind_dir_deg: Some(dir),
                wind_n: 12,
                wind_dir_n: 12,
                ..Default::default()
            });
        }
        let row = h.row(0);
        let col = HourAcc::columns()
            .iter()
            .position(|c| c == "wind_dir_deg")
            .unwrap();
        let Value::Real(d) = row[col] else {
            panic!("no direction: {:?}", row[col])
        };
        assert!(d.min(360.0 - d) < 1e-6, "{d}");
    }
}
