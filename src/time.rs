//! Time as the station sees it: nanoseconds since the Unix epoch, always UTC.
//!
//! One integer type keeps edge timestamps (which need sub-millisecond resolution for
//! debounce) and record boundaries (whole seconds) in the same units, so no code
//! converts between clocks by accident.
//!
//! An `i64` of nanoseconds spans only 1677-09-21 to 2262-04-11. Every constructor and
//! every arithmetic step therefore saturates instead of wrapping (a wrapped time would
//! be a plausible-looking date centuries away), and every time that enters from outside
//! (command-line flags) must lie in [`EARLIEST`, `LATEST`], far inside that span, so
//! that adding a duration or an interval to it cannot reach the edge either.

use std::fmt;

/// Nanoseconds since 1970-01-01T00:00:00Z.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Timestamp(pub i64);

pub const NANOS_PER_SEC: i64 = 1_000_000_000;
pub const NANOS_PER_MILLI: i64 = 1_000_000;

/// The earliest time accepted on the command line: 1970-01-01T00:00:00Z.
pub const EARLIEST: Timestamp = Timestamp(0);
/// The latest time accepted on the command line (exclusive for ends):
/// 2200-01-01T00:00:00Z. Sixty years short of where nanoseconds in an `i64` run out.
pub const LATEST: Timestamp = Timestamp::from_secs(7_258_118_400);

impl Timestamp {
    pub const fn from_secs(s: i64) -> Self {
        Timestamp(s.saturating_mul(NANOS_PER_SEC))
    }
    pub const fn from_millis(ms: i64) -> Self {
        Timestamp(ms.saturating_mul(NANOS_PER_MILLI))
    }
    /// True inside the range accepted from outside ([`EARLIEST`] to [`LATEST`]).
    pub fn in_range(self) -> bool {
        (EARLIEST..=LATEST).contains(&self)
    }
    /// Whole seconds, rounded towards negative infinity.
    pub const fn secs(self) -> i64 {
        self.0.div_euclid(NANOS_PER_SEC)
    }
    pub const fn nanos(self) -> i64 {
        self.0
    }
    pub fn as_secs_f64(self) -> f64 {
        self.0 as f64 / NANOS_PER_SEC as f64
    }
    pub const fn add_nanos(self, n: i64) -> Self {
        Timestamp(self.0.saturating_add(n))
    }
    pub const fn add_secs(self, s: i64) -> Self {
        Timestamp(self.0.saturating_add(s.saturating_mul(NANOS_PER_SEC)))
    }
    /// The largest multiple of `step_secs` that is `<= self` (a boundary of the grid).
    pub const fn floor_to(self, step_secs: i64) -> Self {
        let step = step_secs * NANOS_PER_SEC;
        Timestamp(self.0.div_euclid(step) * step)
    }
    /// The smallest multiple of `step_secs` that is `> self` (the next grid tick).
    pub const fn next_tick(self, step_secs: i64) -> Self {
        self.floor_to(step_secs).add_secs(step_secs)
    }
    pub fn now() -> Self {
        let d = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
        Timestamp(i64::try_from(d.as_nanos()).unwrap_or(i64::MAX))
    }
    pub fn to_chrono(self) -> chrono::DateTime<chrono::Utc> {
        chrono::DateTime::from_timestamp(self.secs(), self.0.rem_euclid(NANOS_PER_SEC) as u32)
            .unwrap_or_default()
    }
    /// Saturates outside 1677..2262; times from outside go through [`parse_time`],
    /// which refuses anything outside [`EARLIEST`]..[`LATEST`] first.
    pub fn from_chrono(t: chrono::DateTime<chrono::Utc>) -> Self {
        Timestamp::from_secs(t.timestamp()).add_nanos(i64::from(t.timestamp_subsec_nanos()))
    }
    /// `2026-01-01T00:00:00Z`, the form stored and printed everywhere.
    pub fn rfc3339(self) -> String {
        self.to_chrono().format("%Y-%m-%dT%H:%M:%SZ").to_string()
    }
}

impl fmt::Debug for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}+{}ns",
            self.rfc3339(),
            self.0.rem_euclid(NANOS_PER_SEC)
        )
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.rfc3339())
    }
}

/// The station zone's offset from UTC at `t`, in seconds east.
pub fn utc_offset_secs(t: Timestamp, tz: chrono_tz::Tz) -> i32 {
    use chrono::{Offset, TimeZone};
    tz.offset_from_utc_datetime(&t.to_chrono().naive_utc())
        .fix()
        .local_minus_utc()
}

/// The station-local calendar day of `t`, as days since 1970-01-01: two instants are
/// on the same local date exactly when their numbers are equal (no text to format).
pub fn local_day_number(t: Timestamp, tz: chrono_tz::Tz) -> i64 {
    (t.secs() + i64::from(utc_offset_secs(t, tz))).div_euclid(86_400)
}

/// `2026-11-30T09:15:00+01:00`: an instant in the station's time zone, with its
/// offset, the form every `*_local` field and column uses. Written digit by digit
/// rather than through chrono's format-string interpreter: a daily table has ten
/// local times a day (a ten-year CSV, 36,530), and the interpreter was most of its
/// time. A test holds it to chrono's `%Y-%m-%dT%H:%M:%S%:z`.
pub fn local_rfc3339(t: Timestamp, tz: chrono_tz::Tz) -> String {
    let utc = t.to_chrono();
    let offset = utc_offset_secs(t, tz);
    let mut out = String::with_capacity(25);
    if !push_civil(&mut out, t.secs() + i64::from(offset)) {
        return utc
            .with_timezone(&tz)
            .format("%Y-%m-%dT%H:%M:%S%:z")
            .to_string();
    }
    out.push(if offset < 0 { '-' } else { '+' });
    // Whole minutes, rounded as chrono's `%:z` rounds an offset with seconds (Monrovia
    // kept -0:44:30 until 1972: `-00:45`).
    let minutes = (i64::from(offset.unsigned_abs()) + 30) / 60;
    push_digits(&mut out, minutes / 60, 2);
    out.push(':');
    push_digits(&mut out, minutes % 60, 2);
    out
}

/// `2026-01-01T00:00:00Z` for Unix seconds, as [`Timestamp::rfc3339`] writes it, without
/// chrono's format-string interpreter (a raw query writes two per row).
pub(crate) fn utc_text(secs: i64) -> String {
    let mut out = String::with_capacity(20);
    if push_civil(&mut out, secs) {
        out.push('Z');
        out
    } else {
        Timestamp::from_secs(secs).rfc3339()
    }
}

/// The instant of a `2026-01-01T00:00:00Z` text as weatherd writes it (exactly that
/// form; anything else: `None`, for the caller's general parser).
pub(crate) fn parse_utc_text(text: &str) -> Option<Timestamp> {
    let b = text.as_bytes();
    let shape = b.len() == 20
        && [
            (4, b'-'),
            (7, b'-'),
            (10, b'T'),
            (13, b':'),
            (16, b':'),
            (19, b'Z'),
        ]
        .iter()
        .all(|&(i, c)| b[i] == c);
    if !shape {
        return None;
    }
    let num = |from: usize, to: usize| -> Option<i64> {
        b[from..to].iter().try_fold(0i64, |n, &d| {
            d.is_ascii_digit().then(|| n * 10 + i64::from(d - b'0'))
        })
    };
    let (year, month, day) = (num(0, 4)?, num(5, 7)?, num(8, 10)?);
    let (h, m, sec) = (num(11, 13)?, num(14, 16)?, num(17, 19)?);
    if !(1..=12).contains(&month) || !(1..=31).contains(&day) || h > 23 || m > 59 || sec > 60 {
        return None;
    }
    // Howard Hinnant's days-from-civil (proleptic Gregorian calendar).
    let y = year - i64::from(month <= 2);
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Some(Timestamp::from_secs(
        days * 86_400 + h * 3600 + m * 60 + sec,
    ))
}

/// Pushes `YYYY-MM-DDTHH:MM:SS` of `secs` read as a UTC time (Howard Hinnant's
/// days-to-civil algorithm); `false`, pushing nothing, outside the years 0..=9999.
fn push_civil(out: &mut String, secs: i64) -> bool {
    let (days, tod) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    if !(0..=9999).contains(&year) {
        return false;
    }
    for (v, width, sep) in [
        (year, 4, Some('-')),
        (month, 2, Some('-')),
        (day, 2, Some('T')),
        (tod / 3600, 2, Some(':')),
        (tod / 60 % 60, 2, Some(':')),
        (tod % 60, 2, None),
    ] {
        push_digits(out, v, width);
        out.extend(sep);
    }
    true
}

fn push_digits(out: &mut String, v: i64, width: u32) {
    let mut div = 10i64.pow(width - 1);
    while div > 0 {
        out.push(char::from(b'0' + (v / div % 10) as u8));
        div /= 10;
    }
}

/// Parses a time given on the command line: `2026-01-01T00:00:00Z`, any RFC 3339
/// offset, `2026-01-01 12:00[:00]` (UTC) or a bare date `2026-01-01` (UTC midnight),
/// between 1970-01-01 and 2200-01-01 ([`EARLIEST`], [`LATEST`]).
pub fn parse_time(s: &str) -> Result<Timestamp, String> {
    let s = s.trim();
    let t = parse_any_time(s)?;
    // Checked on chrono's wide type, before the conversion to nanoseconds could
    // saturate: 9999-12-31 must be refused, not clamped to 2262.
    let secs = t.timestamp();
    if !(EARLIEST.secs()..=LATEST.secs()).contains(&secs) {
        return Err(format!(
            "`{s}` is outside the supported range {EARLIEST} to {LATEST}"
        ));
    }
    Ok(Timestamp::from_chrono(t))
}

fn parse_any_time(s: &str) -> Result<chrono::DateTime<chrono::Utc>, String> {
    if let Ok(t) = chrono::DateTime::parse_from_rfc3339(s) {
        return Ok(t.with_timezone(&chrono::Utc));
    }
    for fmt in [
        "%Y-%m-%d %H:%M:%S",
        "%Y-%m-%dT%H:%M:%S",
        "%Y-%m-%d %H:%M",
        "%Y-%m-%dT%H:%M",
    ] {
        if let Ok(t) = chrono::NaiveDateTime::parse_from_str(s, fmt) {
            return Ok(t.and_utc());
        }
    }
    if let Ok(d) = chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d") {
        if let Some(t) = d.and_hms_opt(0, 0, 0) {
            return Ok(t.and_utc());
        }
    }
    Err(format!(
        "`{s}` is not a time: use 2026-01-01T00:00:00Z, 2026-01-01 12:00 (UTC) or 2026-01-01"
    ))
}

/// Parses a time as people say it, relative to `now` in the station's zone `tz`:
/// `now`; `today` and `yesterday` (local midnight starting that station-local day);
/// `-24h`, `-7d`, `-2w`, `-30m`, `-90s`, `-1y` (365 days) before `now`; or anything
/// [`parse_time`] takes (RFC 3339, `2026-01-01 12:00` and bare dates stay UTC, as
/// before, so scripts keep their meaning).
pub fn parse_when(s: &str, now: Timestamp, tz: chrono_tz::Tz) -> Result<Timestamp, String> {
    use chrono::TimeZone;
    let s = s.trim();
    let local_midnight = |days_back: i64| -> Result<Timestamp, String> {
        let today = now.to_chrono().with_timezone(&tz).date_naive();
        let day = today - chrono::Duration::days(days_back);
        let midnight = day.and_hms_opt(0, 0, 0).ok_or("no midnight")?;
        // A zone that skips midnight (a DST change at 00:00) starts the day at the
        // first instant that exists: 01:00.
        let t = (0..=3)
            .find_map(|h| {
                tz.from_local_datetime(&(midnight + chrono::Duration::hours(h)))
                    .earliest()
            })
            .ok_or_else(|| format!("`{s}`: the station day {day} has no start"))?;
        Ok(Timestamp::from_chrono(t.with_timezone(&chrono::Utc)))
    };
    let t = match s {
        "now" => now,
        "today" => local_midnight(0)?,
        "yesterday" => local_midnight(1)?,
        _ if s.starts_with('-') => {
            let span = &s[1..];
            let secs = match span.strip_suffix('y') {
                Some(n) => n
                    .parse::<i64>()
                    .ok()
                    .filter(|n| *n > 0)
                    .and_then(|n| n.checked_mul(365 * 86_400)),
                None => parse_span(span).ok(),
            }
            .ok_or_else(|| {
                format!(
                    "`{s}` is not a time before now: use e.g. -90s, -30m, -24h, -7d, -2w or -1y"
                )
            })?;
            now.add_secs(-secs)
        }
        _ => {
            return parse_time(s).map_err(|e| {
                format!("{e}; or now, today, yesterday, -24h, -7d (station-local days)")
            })
        }
    };
    if !t.in_range() {
        return Err(format!(
            "`{s}` is outside the supported range {EARLIEST} to {LATEST}"
        ));
    }
    Ok(t)
}

/// `start + span_s`, refused (naming `flag`) when it ends after [`LATEST`].
pub fn end_of_span(start: Timestamp, span_s: i64, flag: &str) -> Result<Timestamp, String> {
    let end = start.add_secs(span_s);
    if end > LATEST || end < start {
        return Err(format!(
            "{flag}: {start} plus {span_s} s ends after {LATEST}, the latest supported time"
        ));
    }
    Ok(end)
}

/// Parses a span such as `90s`, `15m`, `36h`, `365d` or `2w` into whole seconds.
pub fn parse_span(s: &str) -> Result<i64, String> {
    let s = s.trim();
    let err =
        || format!("`{s}` is not a span: use a number and a unit, e.g. 90s, 15m, 36h, 365d, 2w");
    let split = s.find(|c: char| !c.is_ascii_digit()).ok_or_else(err)?;
    let (num, unit) = s.split_at(split);
    let n: i64 = num.parse().map_err(|_| err())?;
    let mult = match unit {
        "s" => 1,
        "m" | "min" => 60,
        "h" => 3600,
        "d" => 86_400,
        "w" => 7 * 86_400,
        _ => return Err(err()),
    };
    if n <= 0 {
        return Err(format!("`{s}` must be longer than zero"));
    }
    n.checked_mul(mult).ok_or_else(err)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The digit-by-digit local and UTC texts and the UTC parser agree with chrono for
    /// instants from 1970 to 2200, in zones east and west, with half- and
    /// quarter-hour offsets and daylight saving, and a zone at UTC+0 in winter.
    #[test]
    fn the_fast_texts_match_chrono() {
        let zones = [
            chrono_tz::UTC,
            chrono_tz::Europe::London,
            chrono_tz::America::St_Johns,
            chrono_tz::Asia::Kathmandu,
            chrono_tz::Australia::Lord_Howe,
            chrono_tz::Pacific::Chatham,
            chrono_tz::America::Los_Angeles,
            chrono_tz::Africa::Monrovia,
        ];
        let mut secs = 0i64;
        let mut n = 0;
        while secs < 7_258_118_400 {
            let t = Timestamp::from_secs(secs);
            for tz in zones {
                let want = t
                    .to_chrono()
                    .with_timezone(&tz)
                    .format("%Y-%m-%dT%H:%M:%S%:z")
                    .to_string();
                assert_eq!(local_rfc3339(t, tz), want, "{secs} in {tz}");
                assert_eq!(
                    crate::store::local_date(t, tz),
                    want[..10],
                    "{secs} in {tz}"
                );
                let day = t.to_chrono().with_timezone(&tz).date_naive()
                    - chrono::NaiveDate::from_ymd_opt(1970, 1, 1).unwrap();
                assert_eq!(local_day_number(t, tz), day.num_days(), "{secs} in {tz}");
            }
            let utc = utc_text(secs);
            assert_eq!(utc, t.rfc3339(), "{secs}");
            assert_eq!(parse_utc_text(&utc), Some(t), "{utc}");
            secs += 86_399 * 3 + 1_801;
            n += 1;
        }
        assert!(n > 25_000);
        // Around a clock change (London, 2026-03-29 01:00 UTC).
        for secs in 1_774_745_000..1_774_748_000 {
            let t = Timestamp::from_secs(secs);
            let tz = chrono_tz::Europe::London;
            let want = t
                .to_chrono()
                .with_timezone(&tz)
                .format("%Y-%m-%dT%H:%M:%S%:z")
                .to_string();
            assert_eq!(local_rfc3339(t, tz), want);
        }
        assert_eq!(utc_text(951_782_400), "2000-02-29T00:00:00Z");
        for bad in [
            "2026-01-01 00:00:00Z",
            "2026-13-01T00:00:00Z",
            "2026-01-01T00:00:00+01:00",
            "x",
        ] {
            assert_eq!(parse_utc_text(bad), None, "{bad}");
        }
    }

    #[test]
    fn grid_ticks() {
        let t = Timestamp::from_secs(62).add_nanos(5);
        assert_eq!(t.floor_to(5), Timestamp::from_secs(60));
        assert_eq!(t.next_tick(5), Timestamp::from_secs(65));
        assert_eq!(
            Timestamp::from_secs(60).next_tick(5),
            Timestamp::from_secs(65)
        );
        assert_eq!(
            Timestamp::from_secs(-1).floor_to(60),
            Timestamp::from_secs(-60)
        );
    }

    #[test]
    fn parses_times_and_spans() {
        assert_eq!(
            parse_time("1970-01-01T00:01:00Z").unwrap(),
            Timestamp::from_secs(60)
        );
        assert_eq!(
            parse_time("1970-01-02").unwrap(),
            Timestamp::from_secs(86_400)
        );
        assert_eq!(
            parse_time("1970-01-01 01:00").unwrap(),
            Timestamp::from_secs(3600)
        );
        assert_eq!(
            parse_time("1970-01-01T02:00:00+01:00").unwrap(),
            Timestamp::from_secs(3600)
        );
        assert!(parse_time("yesterday").unwrap_err().contains("yesterday"));
        assert_eq!(parse_span("36h").unwrap(), 36 * 3600);
        assert_eq!(parse_span("365d").unwrap(), 365 * 86_400);
        assert!(parse_span("3x").is_err());
        assert!(parse_span("h").is_err());
        assert!(parse_span("0s").is_err());
        assert!(parse_span("99999999999999999999d").is_err());
    }

    #[test]
    fn relative_times_are_station_days_and_spans_before_now() {
        let tz: chrono_tz::Tz = "Europe/London".parse().unwrap();
        // 2026-07-15T10:30:00+01:00 (BST).
        let now = parse_time("2026-07-15T09:30:00Z").unwrap();
        assert_eq!(parse_when("now", now, tz).unwrap(), now);
        assert_eq!(
            parse_when("today", now, tz).unwrap(),
            parse_time("2026-07-14T23:00:00Z").unwrap()
        );
        assert_eq!(
            parse_when("yesterday", now, tz).unwrap(),
            parse_time("2026-07-13T23:00:00Z").unwrap()
        );
        assert_eq!(parse_when("-24h", now, tz).unwrap(), now.add_secs(-86_400));
        assert_eq!(
            parse_when("-7d", now, tz).unwrap(),
            now.add_secs(-7 * 86_400)
        );
        assert_eq!(
            parse_when("-1y", now, tz).unwrap(),
            now.add_secs(-365 * 86_400)
        );
        // Dates stay UTC, as scripts knew them.
        assert_eq!(
            parse_when("2026-01-01", now, tz).unwrap(),
            parse_time("2026-01-01T00:00:00Z").unwrap()
        );
        // The day after the clocks go back is 25 hours long.
        let after = parse_time("2026-10-26T12:00:00Z").unwrap();
        assert_eq!(
            parse_when("yesterday", after, tz).unwrap(),
            parse_time("2026-10-24T23:00:00Z").unwrap()
        );
        for bad in ["-", "-3x", "-0d", "tomorrow", "-y", "-99999999999y"] {
            let e = parse_when(bad, now, tz).unwrap_err();
            assert!(e.contains(bad), "{bad}: {e}");
        }
    }

    #[test]
    fn times_outside_the_range_are_refused_and_arithmetic_never_wraps() {
        // These wrapped to 1816 and to "nothing" before.
        for s in [
            "9999-12-31T23:30:00Z",
            "2300-01-01",
            "1600-01-01",
            "2262-04-12",
        ] {
            let err = parse_time(s).unwrap_err();
            assert!(err.contains("2200-01-01"), "{s}: {err}");
        }
        assert_eq!(parse_time("2200-01-01").unwrap(), LATEST);
        assert_eq!(parse_time("1970-01-01").unwrap(), EARLIEST);
        assert_eq!(Timestamp::from_secs(i64::MAX / 2), Timestamp(i64::MAX));
        assert_eq!(Timestamp(i64::MAX - 5).add_secs(60), Timestamp(i64::MAX));
        assert_eq!(Timestamp(i64::MIN + 5).add_nanos(-60), Timestamp(i64::MIN));
        assert!(end_of_span(LATEST.add_secs(-3600), 7200, "--duration")
            .unwrap_err()
            .contains("--duration"));
        assert_eq!(
            end_of_span(LATEST.add_secs(-3600), 3600, "--duration").unwrap(),
            LATEST
        );
        assert!(end_of_span(EARLIEST, i64::MAX, "--duration").is_err());
    }
}
