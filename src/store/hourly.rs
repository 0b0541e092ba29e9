//! Accumulators that fold archive records into hourly (and partial daily) rows.

use super::query::Value;
use super::row::weighted;
use crate::meteo::VectorSum;
use crate::record::{column, count_of, ArchiveRecord, Column, Stat, Statistic, COLUMNS};
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
}

/// How several records fold into one value of a column, by the column's statistic.
enum Fold {
    /// Records' sample counts, added.
    Samples(i64),
    /// A mean weighted by the samples behind each record's mean (the quantity's count).
    Weighted {
        acc: StatAcc,
        count: &'static Column,
    },
    Min(Option<f64>),
    Max(Option<f64>),
    /// A plain mean over the records that have a value (dew point, sea-level pressure
    /// are computed per record from its means).
    Mean {
        sum: f64,
        n: i64,
    },
    /// Each record's direction weighted by its mean speed and the samples that had a
    /// direction (the closest to a sample-level vector mean the archive allows), with
    /// the aggregator's calm rule.
    Vector {
        sum: VectorSum,
        speed: &'static Column,
        count: &'static Column,
    },
    Sum(Option<f64>),
    /// Each record's direction as a vector as long as its samples.
    UnitVector {
        sum: VectorSum,
        count: &'static Column,
    },
    /// The newest record's value.
    Last(Option<f64>),
}

impl Fold {
    /// The fold of a column listed in hourly rows; `None` for the per-quantity counts,
    /// which an hour does not list.
    fn of(c: &Column) -> Option<Fold> {
        let count = || count_of(c.quantity).expect("a mean has its count (record tests)");
        Some(match c.statistic {
            Statistic::Samples => Fold::Samples(0),
            Statistic::Count => return None,
            Statistic::Mean => Fold::Weighted {
                acc: StatAcc::default(),
                count: count(),
            },
            Statistic::Min => Fold::Min(None),
            Statistic::Max => Fold::Max(None),
            Statistic::Derived => Fold::Mean { sum: 0.0, n: 0 },
            Statistic::VectorMean { speed } => Fold::Vector {
                sum: VectorSum::default(),
                speed: column(speed).expect("the speed is a column (record tests)"),
                count: count(),
            },
            Statistic::Sum => Fold::Sum(None),
            Statistic::UnitVectorMean => Fold::UnitVector {
                sum: VectorSum::default(),
                count: count(),
            },
            Statistic::Last => Fold::Last(None),
        })
    }

    fn add(&mut self, c: &Column, r: &ArchiveRecord) {
        let v = c.real(r);
        match self {
            Fold::Samples(n) => *n += i64::from(c.count(r)),
            Fold::Weighted { acc, count } => acc.add(&Stat {
                mean: v,
                min: None,
                max: None,
                n: count.count(r),
            }),
            Fold::Min(m) => *m = opt_min(*m, v),
            Fold::Max(m) => *m = opt_max(*m, v),
            Fold::Mean { sum, n } => {
                if let Some(x) = v {
                    *sum += x;
                    *n += 1;
                }
            }
            Fold::Vector { sum, speed, count } => {
                if let (Some(dir), Some(speed)) = (v, speed.real(r)) {
                    sum.add(dir, speed * f64::from(count.count(r)));
                }
            }
            Fold::UnitVector { sum, count } => {
                if let Some(dir) = v {
                    sum.add(dir, f64::from(count.count(r)));
                }
            }
            Fold::Last(last) => {
                if v.is_some() {
                    *last = v;
                }
            }
            Fold::Sum(total) => {
                if let Some(x) = v {
                    *total = Some(total.unwrap_or(0.0) + x);
                }
            }
        }
    }

    fn value(&self) -> Value {
        match self {
            Fold::Samples(n) => Value::Int(*n),
            Fold::Weighted { acc, .. } => acc.mean().into(),
            Fold::Min(m) | Fold::Max(m) | Fold::Sum(m) | Fold::Last(m) => (*m).into(),
            Fold::Mean { sum, n } => (*n > 0).then(|| sum / *n as f64).into(),
            Fold::Vector { sum, .. } | Fold::UnitVector { sum, .. } => sum.mean_deg().into(),
        }
    }
}

/// Records folded together (one UTC hour, or what a query keeps of a day): every
/// column of `record::COLUMNS` except the per-quantity counts, each by its statistic.
pub(super) struct HourAcc {
    records: i64,
    folds: Vec<(&'static Column, Fold)>,
}

impl Default for HourAcc {
    fn default() -> Self {
        HourAcc {
            records: 0,
            folds: COLUMNS
                .iter()
                .filter_map(|c| Some((c, Fold::of(c)?)))
                .collect(),
        }
    }
}

impl HourAcc {
    pub(super) fn columns() -> Vec<String> {
        let mut c = vec!["start_utc".to_string(), "records".to_string()];
        c.extend(
            COLUMNS
                .iter()
                .filter(|c| Fold::of(c).is_some())
                .map(|c| c.name.to_string()),
        );
        c
    }

    pub(super) fn add(&mut self, r: &ArchiveRecord) {
        self.records += 1;
        for (c, fold) in &mut self.folds {
            fold.add(c, r);
        }
    }

    pub(super) fn records(&self) -> i64 {
        self.records
    }

    /// Each folded column's name and value, in record order.
    pub(super) fn cells(&self) -> impl Iterator<Item = (&'static str, Value)> + '_ {
        self.folds.iter().map(|(c, f)| (c.name, f.value()))
    }

    pub(super) fn row(&self, hour: i64) -> Vec<Value> {
        let mut v = vec![
            Value::Text(Timestamp::from_secs(hour).rfc3339()),
            Value::Int(self.records),
        ];
        v.extend(self.cells().map(|(_, value)| value));
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

    /// An hour's direction is the aggregator's vector mean of its records, each at
    /// its mean speed times the samples with a direction: the same rounding and the
    /// same calm rule, including vectors that nearly cancel.
    #[test]
    fn hour_direction_follows_the_aggregators_vector_mean_and_calm_rule() {
        let cases: [&[(f64, f64, u32)]; 4] = [
            &[(350.0, 10.0, 12), (10.0, 10.0, 12)],
            &[(90.0, 5.0, 12), (180.0, 15.0, 6), (200.0, 1.0, 1)],
            // Opposed within a billionth: calm for the aggregator, so for the hour.
            &[(0.0, 10.0, 12), (180.0, 10.0 + 1e-9, 12)],
            &[(0.0, 10.0, 12), (180.0, 10.0, 12)],
        ];
        for records in cases {
            let mut h = HourAcc::default();
            let mut pairs = Vec::new();
            for &(dir, speed, n) in records {
                h.add(&ArchiveRecord {
                    wind_speed_kmh: Some(speed),
                    wind_dir_deg: Some(dir),
                    wind_n: n,
                    wind_dir_n: n,
                    ..Default::default()
                });
                pairs.push((dir, speed * f64::from(n)));
            }
            let col = HourAcc::columns()
                .iter()
                .position(|c| c == "wind_dir_deg")
                .unwrap();
            let dir = h.row(0).get(col).cloned();
            let want: Value = crate::meteo::vector_mean_deg(&pairs).into();
            assert_eq!(dir, Some(want.clone()), "{records:?}");
            // Written as the aggregator writes it (`0`, not `360` or `-0`).
            assert_eq!(format!("{dir:?}"), format!("{:?}", Some(want)));
        }
    }
}
