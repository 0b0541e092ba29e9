//! Query parameters and errors. Every refusal is a JSON body naming the parameter
//! and how to fix it, because the person reading it is writing a URL by hand.

use crate::store::{Every, StoreError};
use crate::time::Timestamp;
use axum::extract::rejection::QueryRejection;
use axum::extract::Query;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

/// An error answer: `{"error": "...", "parameter": "..."}`.
#[derive(Debug, Clone, PartialEq)]
pub struct ApiError {
    pub status: StatusCode,
    pub error: String,
    pub parameter: Option<&'static str>,
}

impl ApiError {
    pub fn new(status: StatusCode, error: String, parameter: Option<&'static str>) -> Self {
        ApiError {
            status,
            error,
            parameter,
        }
    }

    pub fn bad(parameter: &'static str, error: impl Into<String>) -> Self {
        ApiError::new(StatusCode::BAD_REQUEST, error.into(), Some(parameter))
    }

    pub fn not_found(error: &str) -> Self {
        ApiError::new(StatusCode::NOT_FOUND, error.into(), None)
    }

    pub fn busy() -> Self {
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "the station is busy answering other requests; try again in a moment".into(),
            None,
        )
    }

    pub fn internal(error: String) -> Self {
        tracing::warn!("web: {error}");
        ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, error, None)
    }

    pub fn store(e: StoreError) -> Self {
        ApiError::internal(format!("cannot read the database: {e}"))
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        ApiError::store(e)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut body = serde_json::json!({ "error": self.error });
        if let Some(p) = self.parameter {
            body["parameter"] = p.into();
        }
        let mut r = super::json(body.to_string());
        *r.status_mut() = self.status;
        r
    }
}

/// The longest value a parameter may have: every valid one is far shorter.
const MAX_VALUE_LEN: usize = 200;

/// The parameters of one request, checked against the names an endpoint knows.
pub struct Params(Vec<(String, String)>);

impl Params {
    pub fn parse(
        q: Result<Query<Vec<(String, String)>>, QueryRejection>,
        known: &[&'static str],
    ) -> Result<Params, ApiError> {
        let Query(pairs) = q.map_err(|e| {
            ApiError::new(
                StatusCode::BAD_REQUEST,
                format!("the query string cannot be read: {e}"),
                None,
            )
        })?;
        for (i, (k, v)) in pairs.iter().enumerate() {
            let Some(&name) = known.iter().find(|n| **n == k) else {
                let shown: String = k.chars().take(40).collect();
                return Err(ApiError::new(
                    StatusCode::BAD_REQUEST,
                    format!(
                        "unknown parameter `{shown}`; this endpoint takes {}",
                        if known.is_empty() {
                            "none".to_string()
                        } else {
                            known.join(", ")
                        }
                    ),
                    None,
                ));
            };
            if v.len() > MAX_VALUE_LEN {
                return Err(ApiError::bad(
                    name,
                    format!("too long ({} bytes, at most {MAX_VALUE_LEN})", v.len()),
                ));
            }
            if pairs[..i].iter().any(|(k2, _)| k2 == k) {
                return Err(ApiError::bad(name, "given twice; give it once"));
            }
        }
        Ok(Params(pairs))
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.trim())
            .filter(|v| !v.is_empty())
    }

    /// A time parameter: epoch seconds, RFC 3339, `now`, `today`, `yesterday` (local
    /// station days) or relative to now (`-24h`, `-7d`, `-30d`, `-1y`).
    pub fn time(
        &self,
        name: &'static str,
        now: Timestamp,
        tz: chrono_tz::Tz,
    ) -> Result<Option<Timestamp>, ApiError> {
        self.get(name)
            .map(|v| parse_time(v, now, tz).map_err(|e| ApiError::bad(name, e)))
            .transpose()
    }

    pub fn every(&self) -> Result<Every, ApiError> {
        match self.get("every") {
            None | Some("raw") => Ok(Every::Raw),
            Some("hour") => Ok(Every::Hour),
            Some("day") => Ok(Every::Day),
            Some(v) => Err(ApiError::bad(
                "every",
                format!("`{v}` is not a step: use raw, hour or day"),
            )),
        }
    }

    /// The point budget: default [`DEFAULT_POINTS`], from 2 to [`MAX_POINTS`].
    pub fn points(&self) -> Result<usize, ApiError> {
        let Some(v) = self.get("points") else {
            return Ok(DEFAULT_POINTS);
        };
        match v.parse::<usize>() {
            Ok(n) if (2..=MAX_POINTS).contains(&n) => Ok(n),
            _ => Err(ApiError::bad(
                "points",
                format!("`{v}` is not a point budget: use a whole number from 2 to {MAX_POINTS}"),
            )),
        }
    }
}

pub const DEFAULT_POINTS: usize = 1500;
pub const MAX_POINTS: usize = 10_000;

/// The longest range per step, in seconds: raw 31 days, hour 5 years, day 100 years.
pub fn max_span_s(every: Every) -> i64 {
    match every {
        Every::Raw => 31 * 86_400,
        Every::Hour => 5 * 366 * 86_400,
        Every::Day => 100 * 366 * 86_400,
    }
}

pub fn every_name(every: Every) -> &'static str {
    match every {
        Every::Raw => "raw",
        Every::Hour => "hour",
        Every::Day => "day",
    }
}

/// `[from, to)` with the defaults (to = now, from = to − 24 h) and the caps.
pub fn range(
    p: &Params,
    now: Timestamp,
    tz: chrono_tz::Tz,
    every: Option<Every>,
    default_span_s: i64,
) -> Result<(Timestamp, Timestamp), ApiError> {
    let to = p.time("to", now, tz)?.unwrap_or(now);
    let from = p
        .time("from", now, tz)?
        .unwrap_or_else(|| to.add_secs(-default_span_s));
    if from >= to {
        return Err(ApiError::bad(
            "from",
            format!("from ({from}) must be before to ({to})"),
        ));
    }
    let every = every.unwrap_or(Every::Day);
    let max = max_span_s(every);
    if to.secs() - from.secs() > max {
        let hint = match every {
            Every::Raw => "; use every=hour for longer ranges",
            Every::Hour => "; use every=day for longer ranges",
            Every::Day => "",
        };
        return Err(ApiError::bad(
            "from",
            format!(
                "the range is too long for every={}: at most {} days{hint}",
                every_name(every),
                max / 86_400
            ),
        ));
    }
    Ok((from, to))
}

/// Local midnight starting the station-local date of `t`, `days` days later.
pub fn local_midnight(t: Timestamp, tz: chrono_tz::Tz, days: i64) -> Option<Timestamp> {
    use chrono::TimeZone;
    let date = t.to_chrono().with_timezone(&tz).date_naive() + chrono::Days::new(0);
    let date = if days >= 0 {
        date.checked_add_days(chrono::Days::new(days as u64))?
    } else {
        date.checked_sub_days(chrono::Days::new(days.unsigned_abs()))?
    };
    let local = tz.from_local_datetime(&date.and_hms_opt(0, 0, 0)?);
    // A midnight skipped by a DST change: the first instant of the day.
    let t = local.earliest().or_else(|| {
        tz.from_local_datetime(&date.and_hms_opt(1, 0, 0)?)
            .earliest()
    })?;
    Some(Timestamp::from_secs(t.timestamp()))
}

fn parse_time(v: &str, now: Timestamp, tz: chrono_tz::Tz) -> Result<Timestamp, String> {
    let day = |days| {
        local_midnight(now, tz, days).ok_or_else(|| "the local date is out of range".to_string())
    };
    match v {
        "now" => return Ok(now),
        "today" => return day(0),
        "yesterday" => return day(-1),
        _ => {}
    }
    if let Some(rel) = v.strip_prefix('-') {
        let split = rel.find(|c: char| !c.is_ascii_digit()).unwrap_or(rel.len());
        let (n, unit) = rel.split_at(split);
        let n: i64 = n.parse().map_err(|_| relative_hint(v))?;
        let mult = match unit {
            "s" => 1,
            "m" | "min" => 60,
            "h" => 3600,
            "d" => 86_400,
            "w" => 7 * 86_400,
            "y" => 365 * 86_400,
            _ => return Err(relative_hint(v)),
        };
        let secs = n
            .checked_mul(mult)
            .filter(|s| *s <= 200 * 366 * 86_400)
            .ok_or_else(|| format!("`{v}` reaches too far back"))?;
        return Ok(now.add_secs(-secs));
    }
    if !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit()) {
        let secs: i64 = v
            .parse()
            .map_err(|_| format!("`{v}` is too large for epoch seconds"))?;
        let t = Timestamp::from_secs(secs);
        if t > crate::time::LATEST {
            return Err(format!("`{v}` is after {}", crate::time::LATEST));
        }
        return Ok(t);
    }
    crate::time::parse_time(v)
        .map_err(|e| format!("{e}; or epoch seconds, now, today, yesterday, -24h, -7d, -30d, -1y"))
}

fn relative_hint(v: &str) -> String {
    format!("`{v}` is not a relative time: use e.g. -90m, -24h, -7d, -30d or -1y")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_in_every_form() {
        let tz: chrono_tz::Tz = "Europe/London".parse().unwrap();
        // 2026-07-01T12:00:00Z = 13:00 BST.
        let now = Timestamp::from_secs(1_782_907_200);
        assert_eq!(parse_time("now", now, tz), Ok(now));
        assert_eq!(parse_time("-24h", now, tz), Ok(now.add_secs(-86_400)));
        assert_eq!(parse_time("-1y", now, tz), Ok(now.add_secs(-365 * 86_400)));
        // Local midnight in BST is 23:00 UTC the day before.
        assert_eq!(
            parse_time("today", now, tz),
            Ok(Timestamp::from_secs(1_782_907_200 - 13 * 3600))
        );
        assert_eq!(
            parse_time("yesterday", now, tz),
            Ok(Timestamp::from_secs(1_782_907_200 - 13 * 3600 - 86_400))
        );
        assert_eq!(parse_time("1782907200", now, tz), Ok(now));
        assert_eq!(parse_time("2026-07-01T13:00:00+01:00", now, tz), Ok(now));
        for bad in [
            "-5x",
            "-h",
            "tomorrow",
            "99999999999999999999",
            "-999999999y",
        ] {
            assert!(parse_time(bad, now, tz).is_err(), "{bad}");
        }
    }
}
