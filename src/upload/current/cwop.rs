//! `type = "cwop"`: the Citizen Weather Observer Program, over APRS-IS (TCP).
//!
//! Per observation: connect to a server, read its banner, log in with
//! `user CALL pass PASSCODE vers weatherd VERSION` (passcode `-1` for a CWOP id
//! without a ham licence), read the `# logresp` line, send one APRS positioned weather
//! report and close. The packet (APRS 1.0.1 chapter 12, CWOP's guidelines):
//!
//! `CALL>APRS,TCPIP*:@DDHHMMzDDMM.mmN/DDDMM.mmW_DIR/SPDgGUSTtTMPrRRRpPPPPPPPhHHbBBBBB`
//!
//! with the observation time (UTC day, hour, minute), the station's position, wind
//! direction (degrees), mean speed and gust (mph), temperature (°F, `-05` below zero),
//! rain in hundredths of an inch in the last hour (`r`), last 24 h (`p`) and since
//! local midnight (`P`), humidity (%, 100 as `00`) and the altimeter setting in
//! tenths of hPa (`b`). An unknown value is dots of the field's width.

use super::snapshot::{fahrenheit, inches, mph};
use super::{Current, Network, Snapshot};
use crate::config::path::KeyPath;
use crate::config::validate::Validator;
use crate::upload::secret::{self, Finding, Secret};
use crate::upload::{Common, DeliveryError, DestinationKind, SetupError};
use serde::{Deserialize, Serialize};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

/// CWOP asks for no more than one report every 5 minutes (10 is the default here).
pub const MIN_INTERVAL_S: u32 = 300;

/// CWOP / APRS-IS: the current conditions as an APRS weather report.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct CwopConfig {
    /// Unique among destinations.
    pub name: String,
    /// The CWOP id (`CW1234`, `EW0001`) or a ham callsign with SSID (`K1ABC-13`).
    pub callsign: String,
    /// A file holding the APRS-IS passcode (licensed hams only; mode 0600).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub passcode_file: Option<PathBuf>,
    /// A systemd credential holding it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub passcode_credential: Option<String>,
    /// APRS-IS servers (`host:port`), tried in turn: the next after a failure.
    #[serde(default = "default_servers")]
    pub servers: Vec<String>,
    /// Seconds between reports (at least 300).
    #[serde(default = "default_interval")]
    pub interval_seconds: u32,
    #[serde(flatten, skip_deserializing, default = "super::default_common")]
    pub common: Common,
}

fn default_servers() -> Vec<String> {
    vec!["cwop.aprs.net:14580".into()]
}
fn default_interval() -> u32 {
    600
}

/// A CWOP id or a callsign: 3 to 6 capital letters and digits, optionally `-SSID`
/// (1 to 15).
fn callsign_ok(call: &str) -> bool {
    let (base, ssid) = match call.split_once('-') {
        Some((b, s)) => (b, Some(s)),
        None => (call, None),
    };
    let base_ok = (3..=6).contains(&base.len())
        && base
            .bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit());
    let ssid_ok = ssid.is_none_or(|s| {
        s.parse::<u8>().is_ok_and(|n| (1..=15).contains(&n)) && !s.starts_with('0')
    });
    base_ok && ssid_ok
}

fn server_ok(server: &str) -> bool {
    server
        .rsplit_once(':')
        .is_some_and(|(host, port)| !host.is_empty() && port.parse::<u16>().is_ok_and(|p| p > 0))
}

/// Reads the passcode: a number from 0 to 32767 (APRS-IS's 15-bit hash).
fn load_passcode(
    file: Option<&std::path::Path>,
    credential: Option<&str>,
) -> Result<Option<Secret>, SetupError> {
    let Some(s) = secret::load_token(file, credential)? else {
        return Ok(None);
    };
    if !s.expose().parse::<u16>().is_ok_and(|n| n <= 32767) {
        return Err(SetupError::BadPasscode {
            origin: secret::origin(file, credential),
        });
    }
    Ok(Some(s))
}

impl DestinationKind for CwopConfig {
    const DEFAULT_BATCH_SIZE: u32 = super::DEFAULT_BATCH_SIZE;
    const MINIMAL: &'static str = "callsign = \"CW0001\"\n";
    const CURRENT_CONDITIONS: bool = true;
    type Destination = Current<Cwop>;

    fn check(&self, path: &KeyPath, v: &mut Validator<'_>) {
        if !callsign_ok(&self.callsign) {
            v.push(
                path.key("callsign"),
                format!(
                    "must be a CWOP id or a callsign in capitals, optionally with -SSID (1 to 15), e.g. \
                     \"CW1234\" or \"K1ABC-13\"; found \"{}\"",
                    self.callsign
                ),
            );
        }
        secret::check_one_secret(
            v,
            path,
            "passcode_file",
            "passcode_credential",
            self.passcode_file.is_some() && self.passcode_credential.is_some(),
        );
        if let Some(name) = &self.passcode_credential {
            secret::check_credential_name(v, path.key("passcode_credential"), name);
        }
        if self.servers.is_empty() {
            v.push(
                path.key("servers"),
                "must list at least one APRS-IS server, e.g. [\"cwop.aprs.net:14580\"]",
            );
        }
        for (i, s) in self.servers.iter().enumerate() {
            if !server_ok(s) {
                v.push(
                    path.key("servers").index(i),
                    format!("must be host:port, e.g. \"cwop.aprs.net:14580\"; found \"{s}\""),
                );
            }
        }
        super::check_interval(
            v,
            path,
            self.interval_seconds,
            MIN_INTERVAL_S,
            "CWOP allows one report per 5 minutes at most",
        );
    }

    fn check_secret(&self) -> Option<(&'static str, Finding)> {
        secret::check_secret(
            (self.passcode_file.as_deref(), "passcode_file"),
            (self.passcode_credential.as_deref(), "passcode_credential"),
            |p| load_passcode(Some(p), None),
        )
    }

    fn target(&self) -> String {
        format!(
            "cwop {} → {} every {} s",
            self.callsign,
            self.servers.join(", "),
            self.interval_seconds
        )
    }

    fn build(&self, _station_id: &str) -> Result<Current<Cwop>, SetupError> {
        let passcode = load_passcode(
            self.passcode_file.as_deref(),
            self.passcode_credential.as_deref(),
        )?;
        Ok(Current::new(
            &self.name,
            self.interval_seconds,
            MIN_INTERVAL_S,
            Cwop {
                callsign: self.callsign.clone(),
                passcode,
                servers: self.servers.clone(),
                next: AtomicUsize::new(0),
                timeout: Duration::from_secs(u64::from(self.common.timeout_seconds.max(1))),
            },
        ))
    }
}

/// The sender.
pub struct Cwop {
    callsign: String,
    passcode: Option<Secret>,
    servers: Vec<String>,
    /// The server to try first (the one that worked last).
    next: AtomicUsize,
    timeout: Duration,
}

/// A position in APRS form, `DDMM.mmN/DDDMM.mmW` (degrees and minutes to hundredths).
pub fn aprs_position(latitude: f64, longitude: f64) -> String {
    fn dm(v: f64, deg_width: usize) -> String {
        // In hundredths of a minute, rounded once, so 59.999' carries into the degree.
        let h = (v.abs() * 6000.0).round() as i64;
        let (deg, rest) = (h / 6000, h % 6000);
        format!("{deg:0deg_width$}{:02}.{:02}", rest / 100, rest % 100)
    }
    let ns = if latitude < 0.0 { 'S' } else { 'N' };
    let ew = if longitude < 0.0 { 'W' } else { 'E' };
    format!(
        "{}{ns}/{}{ew}",
        dm(latitude.clamp(-90.0, 90.0), 2),
        dm(longitude.clamp(-180.0, 180.0), 3)
    )
}

/// A number in a fixed-width APRS field, or dots of that width when unknown.
fn field(v: Option<f64>, width: usize, lo: i64, hi: i64) -> String {
    match v.filter(|v| v.is_finite()) {
        Some(v) => {
            let n = (v.round() as i64).clamp(lo, hi);
            if n < 0 {
                format!("-{:0w$}", -n, w = width - 1)
            } else {
                format!("{n:0width$}")
            }
        }
        None => ".".repeat(width),
    }
}

/// The APRS positioned weather report for one observation.
pub fn aprs_packet(callsign: &str, obs: &Snapshot) -> String {
    let t = obs.at.to_chrono().format("%d%H%M");
    let speed = obs.wind_speed_kmh.map(mph);
    // Calm has no direction; APRS wants a number when the speed is known.
    let dir = match (obs.wind_dir_deg, speed) {
        (Some(d), _) => Some(d.rem_euclid(360.0)),
        (None, Some(_)) => Some(0.0),
        (None, None) => None,
    };
    let hundredths = |mm: Option<f64>| mm.map(|mm| inches(mm) * 100.0);
    let humidity = obs
        .humidity_pct
        .map(|h| h.round().clamp(1.0, 100.0))
        .map(|h| if h >= 100.0 { 0.0 } else { h });
    format!(
        "{callsign}>APRS,TCPIP*:@{t}z{pos}_{dir}/{spd}g{gust}t{temp}r{r}p{p}P{pp}h{h}b{b}",
        pos = aprs_position(obs.latitude, obs.longitude),
        dir = field(dir, 3, 0, 360),
        spd = field(speed, 3, 0, 999),
        gust = field(obs.wind_gust_kmh.map(mph), 3, 0, 999),
        temp = field(obs.temperature_c.map(fahrenheit), 3, -99, 999),
        r = field(hundredths(obs.rain_1h_mm), 3, 0, 999),
        p = field(hundredths(obs.rain_24h_mm), 3, 0, 999),
        pp = field(hundredths(obs.rain_today_mm), 3, 0, 999),
        h = field(humidity, 2, 0, 99),
        b = field(obs.altimeter_hpa.map(|a| a * 10.0), 5, 0, 99_999),
    )
}

impl Cwop {
    fn send_to(&self, server: &str, packet: &str) -> Result<(), DeliveryError> {
        let transient = |what: &str, e: &dyn std::fmt::Display| DeliveryError::Transient {
            message: format!("APRS-IS server {server}: {what}: {e}"),
            retry_after: None,
        };
        let addr = server
            .to_socket_addrs()
            .map_err(|e| transient("cannot resolve", &e))?
            .next()
            .ok_or_else(|| transient("cannot resolve", &"no address"))?;
        let stream = TcpStream::connect_timeout(&addr, self.timeout)
            .map_err(|e| transient("cannot connect", &e))?;
        stream
            .set_read_timeout(Some(self.timeout))
            .and_then(|()| stream.set_write_timeout(Some(self.timeout)))
            .map_err(|e| transient("socket", &e))?;
        let mut reader = BufReader::new(stream.try_clone().map_err(|e| transient("socket", &e))?);
        let mut writer = stream;
        let mut line = String::new();
        // The banner (`# aprsc 2.1 ...`).
        read_line(&mut reader, &mut line).map_err(|e| transient("no banner", &e))?;
        let passcode = self.passcode.as_ref().map_or("-1", |p| p.expose());
        let login = format!(
            "user {} pass {passcode} vers weatherd {}\r\n",
            self.callsign,
            env!("CARGO_PKG_VERSION")
        );
        writer
            .write_all(login.as_bytes())
            .map_err(|e| transient("cannot log in", &e))?;
        read_line(&mut reader, &mut line).map_err(|e| transient("no login answer", &e))?;
        // `# logresp CALL verified, server NAME` or `unverified`.
        let answer = line.trim().to_string();
        let Some(rest) = answer.strip_prefix("# logresp ") else {
            return Err(transient("unexpected login answer", &answer));
        };
        let verified = rest
            .split_whitespace()
            .nth(1)
            .is_some_and(|w| w.trim_end_matches(',') == "verified");
        if self.passcode.is_some() && !verified {
            return Err(DeliveryError::Permanent {
                message: format!(
                    "APRS-IS did not accept the passcode for {} ({answer}): check passcode_file \
                     (a CWOP id without a licence needs none), then restart weatherd",
                    self.callsign
                ),
            });
        }
        writer
            .write_all(format!("{packet}\r\n").as_bytes())
            .and_then(|()| writer.flush())
            .map_err(|e| transient("cannot send the report", &e))?;
        let _ = writer.shutdown(std::net::Shutdown::Write);
        Ok(())
    }
}

fn read_line<R: BufRead>(reader: &mut R, line: &mut String) -> std::io::Result<()> {
    line.clear();
    let n = BufRead::read_line(&mut Read::take(reader, 512), line)?;
    if n == 0 {
        return Err(std::io::Error::new(
            std::io::ErrorKind::UnexpectedEof,
            "the server closed the connection",
        ));
    }
    Ok(())
}

impl Network for Cwop {
    const BACKFILL_MAX_AGE_S: Option<i64> = None;

    fn send(&self, obs: &Snapshot) -> Result<String, DeliveryError> {
        let packet = aprs_packet(&self.callsign, obs);
        let n = self.servers.len().max(1);
        let first = self.next.load(Ordering::Relaxed) % n;
        let mut last_error = None;
        for k in 0..self.servers.len() {
            let i = (first + k) % n;
            match self.send_to(&self.servers[i], &packet) {
                Ok(()) => {
                    self.next.store(i, Ordering::Relaxed);
                    return Ok(packet);
                }
                Err(e @ DeliveryError::Permanent { .. }) => return Err(e),
                // Rotate: the next server first, next time too.
                Err(e) => {
                    self.next.store((i + 1) % n, Ordering::Relaxed);
                    last_error = Some(e);
                }
            }
        }
        Err(last_error.unwrap_or(DeliveryError::Transient {
            message: "no APRS-IS server configured".into(),
            retry_after: None,
        }))
    }

    fn secrets(&self) -> Vec<String> {
        self.passcode
            .iter()
            .map(|p| p.expose().to_string())
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::time::Timestamp;

    #[test]
    fn positions_in_aprs_form() {
        assert_eq!(aprs_position(49.0583, -72.0292), "4903.50N/07201.75W");
        assert_eq!(aprs_position(-33.8688, 151.2093), "3352.13S/15112.56E");
        // 59.999' rounds up into the next degree, not to "60.00".
        assert_eq!(aprs_position(51.999_99, 0.0), "5200.00N/00000.00E");
    }

    #[test]
    fn packet_fields_have_their_widths() {
        let obs = Snapshot {
            at: Timestamp::from_secs(1_767_268_800), // 2026-01-01T12:00:00Z
            temperature_c: Some(-20.6),              // -5.08 °F
            humidity_pct: Some(100.0),
            dew_point_c: None,
            pressure_hpa: Some(1000.0),
            sea_level_hpa: None,
            altimeter_hpa: Some(1013.25),
            wind_speed_kmh: None,
            wind_gust_kmh: None,
            wind_dir_deg: None,
            rain_1h_mm: Some(2.54),
            rain_24h_mm: None,
            rain_today_mm: Some(0.0),
            soil_temperature_c: None,
            latitude: 49.0583,
            longitude: -72.0292,
        };
        assert_eq!(
            aprs_packet("CW0001", &obs),
            "CW0001>APRS,TCPIP*:@011200z4903.50N/07201.75W_.../...g...t-05r010p...P000h00b10133"
        );
        assert!(callsign_ok("K1ABC-13") && callsign_ok("CW1234"));
        assert!(!callsign_ok("cw1234") && !callsign_ok("K1ABC-16") && !callsign_ok("K1ABC-01"));
    }
}
