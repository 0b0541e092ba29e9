//! The hourly rows of complete hours, kept after a first long query.
//!
//! A year of hours is folded from 525,600 one-minute records: about a second on a Pi
//! every time the page draws its 1-y plot. But an hour that is over never changes
//! (the store only appends, and refuses a record that starts before the newest one
//! ends), so its row can be kept: the next request reads only the hours since. The
//! cache holds one contiguous span of at most [`MAX_HOURS`] (400 days, about 2 MB),
//! is filled only when someone asks for hourly data, and is bypassed for stations
//! with extra quantities (their columns vary with the range).

use crate::store::{Every, Reader, StoreError, Table, Value};
use crate::time::Timestamp;

/// At most this many hours are kept (400 days).
pub const MAX_HOURS: i64 = 400 * 24;

#[derive(Default)]
pub struct HourCache {
    /// The hour table's columns (`start_utc` first).
    columns: Vec<String>,
    /// `[lo, hi)`, hour-aligned: every hour in it is either in `rows` or had no record.
    lo: i64,
    hi: i64,
    /// Hour start → the row's values after `start_utc` (NaN for NULL).
    rows: std::collections::BTreeMap<i64, Box<[f64]>>,
}

fn floor_h(t: i64) -> i64 {
    t.div_euclid(3600) * 3600
}

fn ceil_h(t: i64) -> i64 {
    floor_h(t + 3599)
}

fn cell_f64(v: &Value) -> f64 {
    match v {
        Value::Real(x) => *x,
        Value::Int(i) => *i as f64,
        _ => f64::NAN,
    }
}

fn row_start(v: &Value) -> Option<i64> {
    match v {
        Value::Text(s) => chrono::DateTime::parse_from_rfc3339(s)
            .ok()
            .map(|t| t.timestamp()),
        _ => None,
    }
}

impl HourCache {
    /// The hour table of `[from, to)`, as `reader.query(.., Every::Hour)` answers it,
    /// from the cache where it can be.
    pub fn query(
        &mut self,
        reader: &Reader,
        from: Timestamp,
        to: Timestamp,
    ) -> Result<Table, StoreError> {
        let direct = |lo: i64, hi: i64| {
            reader.query(
                Some(Timestamp::from_secs(lo)),
                Some(Timestamp::from_secs(hi)),
                Every::Hour,
            )
        };
        let (from_s, to_s) = (from.secs(), to.secs());
        // Hours that are over: before the hour of the newest record's end.
        let complete = match reader.resume()?.last_end {
            Some(end) => floor_h(end.secs()),
            None => return direct(from_s, to_s),
        };
        let (a, b) = (ceil_h(from_s), floor_h(to_s).min(complete));
        if b - a < 2 * 3600 {
            return direct(from_s, to_s);
        }
        if !self.fill(reader, a.max(b - MAX_HOURS * 3600), b)? || a < self.lo {
            return direct(from_s, to_s);
        }
        let head = (from_s < a).then(|| direct(from_s, a)).transpose()?;
        let tail = (b < to_s).then(|| direct(b, to_s)).transpose()?;
        let mut table = Table {
            columns: self.columns.clone(),
            rows: Vec::new(),
        };
        for part in [&head, &tail] {
            if part.as_ref().is_some_and(|t| t.columns != self.columns) {
                // Extra quantities appeared at the edges: no mixing.
                return direct(from_s, to_s);
            }
        }
        if let Some(h) = head {
            table.rows.extend(h.rows);
        }
        for (hour, values) in self.rows.range(a..b) {
            let mut row = Vec::with_capacity(values.len() + 1);
            row.push(Value::Text(Timestamp::from_secs(*hour).rfc3339()));
            for (c, v) in self.columns[1..].iter().zip(values.iter()) {
                row.push(if v.is_nan() {
                    Value::Null
                } else if c == "records" || c.ends_with("_n") || c == "samples" {
                    Value::Int(*v as i64)
                } else {
                    Value::Real(*v)
                });
            }
            table.rows.push(row);
        }
        if let Some(t) = tail {
            table.rows.extend(t.rows);
        }
        Ok(table)
    }

    /// Makes `[a, b)` covered (hour-aligned, complete hours); false when the hours
    /// have extra quantities and cannot be cached.
    fn fill(&mut self, reader: &Reader, a: i64, b: i64) -> Result<bool, StoreError> {
        if self.lo <= a && b <= self.hi && !self.columns.is_empty() {
            return Ok(true);
        }
        // Disjoint from what is kept: start over.
        if self.columns.is_empty() || b < self.lo || a > self.hi {
            *self = HourCache {
                lo: a,
                hi: a,
                ..HourCache::default()
            };
        }
        let mut spans = Vec::new();
        if a < self.lo {
            spans.push((a, self.lo));
        }
        if b > self.hi {
            spans.push((self.hi.max(a), b));
        }
        for (lo, hi) in spans {
            // A month at a time, so a cold fill never holds a year of rows twice.
            let mut at = lo;
            while at < hi {
                let end = (at + 31 * 86_400).min(hi);
                let t = reader.query(
                    Some(Timestamp::from_secs(at)),
                    Some(Timestamp::from_secs(end)),
                    Every::Hour,
                )?;
                if self.columns.is_empty() {
                    self.columns = t.columns.clone();
                }
                if t.columns != self.columns {
                    *self = HourCache::default();
                    return Ok(false);
                }
                for row in &t.rows {
                    if let Some(hour) = row_start(&row[0]) {
                        self.rows
                            .insert(hour, row[1..].iter().map(cell_f64).collect());
                    }
                }
                at = end;
            }
            self.lo = self.lo.min(lo);
            self.hi = self.hi.max(hi);
        }
        // Keep the newest MAX_HOURS.
        if self.hi - self.lo > MAX_HOURS * 3600 {
            self.lo = self.hi - MAX_HOURS * 3600;
            self.rows = self.rows.split_off(&self.lo);
        }
        Ok(true)
    }
}
