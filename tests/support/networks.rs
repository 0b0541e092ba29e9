//! Fake weather networks for `tests/upload_networks.rs`: Weather Underground, Met
//! Office WOW and Windy over HTTP, and an APRS-IS server for CWOP. Each implements its
//! documented protocol strictly: exact field names (unknown or missing ones are
//! refused with 400), formats, units ranges, credentials, and the rate limit (an
//! observation closer than the minimum interval to the previous one is refused and
//! counted as a violation). Each records every request with what it answered.
//!
//! An outage is scripted by server state, not by observation time: the server goes
//! down (503, or for APRS-IS a dropped connection) when it first sees an observation
//! at or after `outage_from`, and stays down for `outage_for` of real time.

use chrono::{DateTime, NaiveDateTime, Utc};
use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Which protocol a fake HTTP server speaks.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Kind {
    Wunderground,
    Wow,
    Windy,
}

/// One request as the server saw it and what it answered.
#[derive(Clone, Debug)]
pub struct Seen {
    pub received: Instant,
    /// The observation time it carried (when it parsed).
    pub observed: Option<i64>,
    pub fields: BTreeMap<String, String>,
    pub status: u16,
    /// Why it was refused (`""` when accepted), shown when an assertion fails.
    pub why: String,
}

impl Seen {
    pub fn accepted(&self) -> bool {
        self.status == 200
    }
    pub fn num(&self, key: &str) -> Option<f64> {
        self.fields
            .get(key)
            .map(|v| v.parse().expect("checked numeric"))
    }
}

#[derive(Default)]
struct State {
    seen: Vec<Seen>,
    last_accepted: Option<i64>,
    down_until: Option<Instant>,
    outage_done: bool,
}

/// The script and credentials of one fake server.
#[derive(Clone, Debug)]
pub struct Script {
    /// The id and secret it accepts.
    pub id: String,
    pub secret: String,
    pub min_interval_s: i64,
    pub outage_from: Option<i64>,
    pub outage_for: Duration,
}

pub struct FakeHttp {
    pub base: String,
    state: Arc<Mutex<State>>,
}

const WU_FIELDS: [&str; 13] = [
    "tempf",
    "humidity",
    "dewptf",
    "baromin",
    "windspeedmph",
    "windgustmph",
    "winddir",
    "rainin",
    "dailyrainin",
    "soiltempf",
    "softwaretype",
    "realtime",
    "rtfreq",
];
const WINDY_FIELDS: [&str; 8] = [
    "temp", "wind", "gust", "winddir", "pressure", "rh", "dewpoint", "precip",
];

impl FakeHttp {
    pub fn start(kind: Kind, script: Script) -> FakeHttp {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind a fake network server");
        let base = format!("http://{}", listener.local_addr().unwrap());
        let state = Arc::new(Mutex::new(State::default()));
        let shared = Arc::clone(&state);
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { continue };
                let (state, script) = (Arc::clone(&shared), script.clone());
                std::thread::spawn(move || serve(kind, stream, &script, &state));
            }
        });
        FakeHttp { base, state }
    }

    /// The URL to configure: the network's real path on this server.
    pub fn url(&self, kind: Kind) -> String {
        format!("{}{}", self.base, path_of(kind))
    }

    pub fn seen(&self) -> Vec<Seen> {
        self.state.lock().unwrap().seen.clone()
    }
}

fn path_of(kind: Kind) -> &'static str {
    match kind {
        Kind::Wunderground => "/weatherstation/updateweatherstation.php",
        Kind::Wow => "/automaticreading",
        Kind::Windy => "/api/v2/observation/update",
    }
}

fn decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 2 < b.len() {
            let hex = std::str::from_utf8(&b[i + 1..i + 3]).unwrap();
            out.push(u8::from_str_radix(hex, 16).expect("valid percent escape"));
            i += 3;
        } else if b[i] == b'+' {
            out.push(b' ');
            i += 1;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8(out).expect("utf-8 query")
}

fn serve(kind: Kind, stream: TcpStream, script: &Script, state: &Mutex<State>) {
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut stream = stream;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 {
            return;
        }
        let mut headers = BTreeMap::new();
        loop {
            let mut h = String::new();
            if reader.read_line(&mut h).unwrap_or(0) == 0 {
                return;
            }
            let h = h.trim_end();
            if h.is_empty() {
                break;
            }
            if let Some((k, v)) = h.split_once(':') {
                headers.insert(k.trim().to_ascii_lowercase(), v.trim().to_string());
            }
        }
        let (status, body) = judge(kind, line.trim_end(), &headers, script, state);
        let reply = format!(
            "HTTP/1.1 {status} X\r\ncontent-length: {}\r\ncontent-type: text/plain\r\n\r\n{body}",
            body.len()
        );
        if stream.write_all(reply.as_bytes()).is_err() {
            return;
        }
    }
}

fn judge(
    kind: Kind,
    request_line: &str,
    headers: &BTreeMap<String, String>,
    script: &Script,
    state: &Mutex<State>,
) -> (u16, String) {
    let mut fields = BTreeMap::new();
    let (status, why, observed) = match check(kind, request_line, headers, script, &mut fields) {
        Err((status, why)) => (status, why, None),
        Ok(observed) => {
            let mut s = state.lock().unwrap();
            let now = Instant::now();
            if !s.outage_done
                && s.down_until.is_none()
                && script.outage_from.is_some_and(|t| observed >= t)
            {
                s.down_until = Some(now + script.outage_for);
            }
            if s.down_until.is_some_and(|u| now >= u) {
                s.down_until = None;
                s.outage_done = true;
            }
            if s.down_until.is_some() {
                (503, "down for maintenance".to_string(), Some(observed))
            } else if s
                .last_accepted
                .is_some_and(|last| observed - last < script.min_interval_s)
            {
                (
                    429,
                    format!(
                        "rate limit: {} s after the previous",
                        observed - s.last_accepted.unwrap()
                    ),
                    Some(observed),
                )
            } else {
                s.last_accepted = Some(observed);
                (200, String::new(), Some(observed))
            }
        }
    };
    let body = match (status, kind) {
        (200, Kind::Wunderground) => "success".to_string(),
        (200, _) => "{}".to_string(),
        _ => why.clone(),
    };
    // WU answers bad credentials with 200 and this text; the others with 401/403.
    let status = if kind == Kind::Wunderground && status == 401 {
        200
    } else {
        status
    };
    state.lock().unwrap().seen.push(Seen {
        received: Instant::now(),
        observed,
        fields,
        status: if body.starts_with("INVALIDPASSWORDID") {
            401
        } else {
            status
        },
        why,
    });
    (status, body)
}

type Refusal = (u16, String);

fn check(
    kind: Kind,
    request_line: &str,
    headers: &BTreeMap<String, String>,
    script: &Script,
    fields: &mut BTreeMap<String, String>,
) -> Result<i64, Refusal> {
    let bad = |why: String| Err((400, why));
    let target = request_line
        .strip_prefix("GET ")
        .and_then(|r| r.strip_suffix(" HTTP/1.1"))
        .ok_or((405, format!("not a GET: {request_line}")))?;
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    if path != path_of(kind) {
        return Err((404, format!("no such path {path}")));
    }
    for pair in query.split('&') {
        let (k, v) = pair
            .split_once('=')
            .ok_or((400, format!("bad pair {pair}")))?;
        let (k, v) = (decode(k), decode(v));
        if fields.insert(k.clone(), v).is_some() {
            return bad(format!("{k} given twice"));
        }
    }
    let (id_key, secret_key, time_key, allowed): (&str, Option<&str>, &str, &[&str]) = match kind {
        Kind::Wunderground => ("ID", Some("PASSWORD"), "dateutc", &WU_FIELDS),
        Kind::Wow => (
            "siteid",
            Some("siteAuthenticationKey"),
            "dateutc",
            &WU_FIELDS[..11],
        ),
        Kind::Windy => ("id", None, "time", &WINDY_FIELDS),
    };
    for k in fields.keys() {
        let known = k == id_key
            || Some(k.as_str()) == secret_key
            || k == time_key
            || (kind == Kind::Wunderground && k == "action")
            || allowed.contains(&k.as_str());
        if !known {
            return bad(format!("unknown field {k}"));
        }
    }
    let Some(id) = fields.get(id_key) else {
        return bad(format!("missing {id_key}"));
    };
    let secret_ok = match (kind, secret_key) {
        (Kind::Windy, _) => {
            headers.get("authorization") == Some(&format!("Bearer {}", script.secret))
        }
        (_, Some(k)) => fields.get(k) == Some(&script.secret),
        _ => false,
    };
    if id != &script.id || !secret_ok {
        return Err(match kind {
            Kind::Wunderground => (
                401,
                "INVALIDPASSWORDID|Password or key and/or id are incorrect".into(),
            ),
            Kind::Wow => (403, "Forbidden".into()),
            Kind::Windy => (401, "Unauthorized".into()),
        });
    }
    if kind == Kind::Wunderground && fields.get("action").map(String::as_str) != Some("updateraw") {
        return bad("action must be updateraw".into());
    }
    if kind != Kind::Windy
        && !fields
            .get("softwaretype")
            .is_some_and(|s| s.starts_with("weatherd-"))
    {
        return bad("softwaretype missing".into());
    }
    let observed = match fields.get(time_key) {
        None => return bad(format!("missing {time_key}")),
        Some(t) if kind == Kind::Windy => DateTime::parse_from_rfc3339(t)
            .map_err(|e| (400, format!("time {t}: {e}")))?
            .timestamp(),
        Some(t) => {
            if t.len() != 19 {
                return bad(format!("dateutc {t} is not YYYY-MM-DD HH:MM:SS"));
            }
            NaiveDateTime::parse_from_str(t, "%Y-%m-%d %H:%M:%S")
                .map_err(|e| (400, format!("dateutc {t}: {e}")))?
                .and_utc()
                .timestamp()
        }
    };
    for (k, v) in fields.iter() {
        if [id_key, time_key, "action", "softwaretype"].contains(&k.as_str())
            || Some(k.as_str()) == secret_key
        {
            continue;
        }
        let n: f64 = v
            .parse()
            .map_err(|_| (400, format!("{k}={v} is not a number")))?;
        let range = match k.as_str() {
            "humidity" | "rh" => 0.0..=100.0,
            "winddir" => 0.0..=360.0,
            "tempf" | "dewptf" | "soiltempf" => -80.0..=150.0,
            "temp" | "dewpoint" => -60.0..=60.0,
            "baromin" => 25.0..=32.5,
            "pressure" => 85_000.0..=110_000.0,
            _ => 0.0..=1000.0,
        };
        if !range.contains(&n) {
            return bad(format!("{k}={v} out of range"));
        }
        if ["humidity", "rh", "winddir"].contains(&k.as_str()) && n.fract() != 0.0 {
            return bad(format!("{k}={v} must be a whole number"));
        }
    }
    Ok(observed)
}

/// One APRS-IS session as the fake server saw it.
#[derive(Clone, Debug)]
pub struct AprsSeen {
    pub login: String,
    pub verified: bool,
    /// The packet line, if one came.
    pub packet: Option<String>,
    /// The parsed report, or why the grammar refused it.
    pub report: Result<AprsReport, String>,
    pub accepted: bool,
}

/// A parsed APRS positioned weather report.
#[derive(Clone, Debug, PartialEq)]
pub struct AprsReport {
    pub call: String,
    /// Day of month, hour, minute (UTC).
    pub dhm: (u32, u32, u32),
    pub latitude: f64,
    pub longitude: f64,
    /// `None` for a field of dots.
    pub fields: BTreeMap<char, Option<i64>>,
}

/// Sessions seen, the last accepted observation, down until, outage over.
type AprsState = (Vec<AprsSeen>, Option<i64>, Option<Instant>, bool);

pub struct FakeAprs {
    pub addr: String,
    state: Arc<Mutex<AprsState>>,
}

impl FakeAprs {
    /// `passcode`: the one it verifies (`None`: all logins are unverified).
    pub fn start(call: &str, passcode: Option<&str>, script: Script, month_start: i64) -> FakeAprs {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind a fake APRS-IS server");
        let addr = listener.local_addr().unwrap().to_string();
        let state = Arc::new(Mutex::new((Vec::new(), None, None, false)));
        let shared = Arc::clone(&state);
        let (call, passcode) = (call.to_string(), passcode.map(str::to_string));
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { continue };
                let mut s = shared.lock().unwrap();
                let down = s.2.is_some_and(|u| Instant::now() < u);
                if s.2.is_some() && !down {
                    s.2 = None;
                    s.3 = true;
                }
                drop(s);
                if down {
                    continue; // drops the connection: the server is "down"
                }
                session(
                    stream,
                    &call,
                    passcode.as_deref(),
                    &script,
                    month_start,
                    &shared,
                );
            }
        });
        FakeAprs { addr, state }
    }

    pub fn seen(&self) -> Vec<AprsSeen> {
        self.state.lock().unwrap().0.clone()
    }
}

fn session(
    stream: TcpStream,
    call: &str,
    passcode: Option<&str>,
    script: &Script,
    month_start: i64,
    state: &Mutex<AprsState>,
) {
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut stream = stream;
    if stream.write_all(b"# fakeaprs 1.0\r\n").is_err() {
        return;
    }
    let mut login = String::new();
    if reader.by_ref().take(512).read_line(&mut login).unwrap_or(0) == 0 {
        return;
    }
    let login = login.trim_end().to_string();
    let words: Vec<&str> = login.split(' ').collect();
    // `user CALL pass PASSCODE vers SOFTWARE VERSION`
    let grammar_ok = words.len() == 7
        && words[0] == "user"
        && words[2] == "pass"
        && words[4] == "vers"
        && words[5] == "weatherd"
        && words[6].split('.').count() == 3
        && words[3].parse::<i32>().is_ok();
    let verified = grammar_ok && words[1] == call && passcode.is_some_and(|p| p == words[3]);
    let answer = format!(
        "# logresp {} {}, server FAKE\r\n",
        words.get(1).unwrap_or(&"?"),
        if verified { "verified" } else { "unverified" }
    );
    let _ = stream.write_all(answer.as_bytes());
    let mut packet = String::new();
    let got = reader
        .by_ref()
        .take(512)
        .read_line(&mut packet)
        .unwrap_or(0)
        > 0;
    let packet = got.then(|| packet.trim_end().to_string());
    let report = match (&packet, grammar_ok && words[1] == call) {
        (None, _) => Err("no packet".to_string()),
        (_, false) => Err(format!("bad login {login}")),
        (Some(p), true) => parse_packet(p),
    };
    let mut s = state.lock().unwrap();
    let mut accepted = false;
    if let Ok(r) = &report {
        let observed = month_start
            + i64::from(r.dhm.0 - 1) * 86_400
            + i64::from(r.dhm.1) * 3600
            + i64::from(r.dhm.2) * 60;
        if !s.3 && s.2.is_none() && script.outage_from.is_some_and(|t| observed >= t) {
            // This one still arrives; the following connections are dropped.
            s.2 = Some(Instant::now() + script.outage_for);
        }
        // A passcode-less login is accepted by CWOP's servers; a wrong passcode is not.
        let auth_ok = verified || (passcode.is_none() && words[3] == "-1");
        if auth_ok
            && s.1
                .is_none_or(|last| observed - last >= script.min_interval_s)
        {
            s.1 = Some(observed);
            accepted = true;
        }
    }
    s.0.push(AprsSeen {
        login,
        verified,
        packet,
        report,
        accepted,
    });
}

/// The APRS 1.0.1 positioned weather report with timestamp, strictly:
/// `CALL>APRS,TCPIP*:@DDHHMMzDDMM.mmN/DDDMM.mmW_DIR/SPDgGGGtTTTrRRRpPPPPPPhHHbBBBBB`.
pub fn parse_packet(p: &str) -> Result<AprsReport, String> {
    let (call, rest) = p.split_once(">APRS,TCPIP*:@").ok_or("no >APRS,TCPIP*:@")?;
    let b = rest.as_bytes();
    let digits = |from: usize, n: usize| -> Result<u32, String> {
        let s = rest.get(from..from + n).ok_or("too short")?;
        if !s.bytes().all(|c| c.is_ascii_digit()) {
            return Err(format!("{s:?} at {from} is not {n} digits"));
        }
        Ok(s.parse().unwrap())
    };
    let (dd, hh, mm) = (digits(0, 2)?, digits(2, 2)?, digits(4, 2)?);
    if b.get(6) != Some(&b'z') || !(1..=31).contains(&dd) || hh > 23 || mm > 59 {
        return Err("bad DDHHMMz".into());
    }
    let lat_deg = digits(7, 2)?;
    let lat_min = digits(9, 2)?;
    let lat_hund = digits(12, 2)?;
    if b.get(11) != Some(&b'.') || lat_deg > 90 || lat_min > 59 {
        return Err("bad latitude".into());
    }
    let ns = *b.get(14).ok_or("short")?;
    if !(ns == b'N' || ns == b'S') || b.get(15) != Some(&b'/') {
        return Err("bad N/S or symbol table".into());
    }
    let lon_deg = digits(16, 3)?;
    let lon_min = digits(19, 2)?;
    let lon_hund = digits(22, 2)?;
    if b.get(21) != Some(&b'.') || lon_deg > 180 || lon_min > 59 {
        return Err("bad longitude".into());
    }
    let ew = *b.get(24).ok_or("short")?;
    if !(ew == b'E' || ew == b'W') || b.get(25) != Some(&b'_') {
        return Err("bad E/W or weather symbol".into());
    }
    let sign = |c: u8, neg: u8| if c == neg { -1.0 } else { 1.0 };
    let latitude = sign(ns, b'S')
        * (f64::from(lat_deg) + (f64::from(lat_min) + f64::from(lat_hund) / 100.0) / 60.0);
    let longitude = sign(ew, b'W')
        * (f64::from(lon_deg) + (f64::from(lon_min) + f64::from(lon_hund) / 100.0) / 60.0);
    // Then: DIR '/' SPD, and the lettered fields in this exact order and width.
    let mut fields = BTreeMap::new();
    let mut at = 26;
    let layout: [(char, usize); 10] = [
        ('c', 3),
        ('/', 3),
        ('g', 3),
        ('t', 3),
        ('r', 3),
        ('p', 3),
        ('P', 3),
        ('h', 2),
        ('b', 5),
        ('$', 0),
    ];
    for (i, (letter, width)) in layout.iter().enumerate() {
        if *letter == '$' {
            if at != rest.len() {
                return Err(format!("trailing {:?}", &rest[at..]));
            }
            break;
        }
        if i > 0 {
            if b.get(at) != Some(&(*letter as u8)) {
                return Err(format!("expected {letter} at {at}"));
            }
            at += 1;
        }
        let s = rest.get(at..at + width).ok_or("too short")?;
        let v = if s.bytes().all(|c| c == b'.') {
            None
        } else if *letter == 't' && s.starts_with('-') && s[1..].bytes().all(|c| c.is_ascii_digit())
        {
            Some(-(s[1..].parse::<i64>().unwrap()))
        } else if s.bytes().all(|c| c.is_ascii_digit()) {
            Some(s.parse::<i64>().unwrap())
        } else {
            return Err(format!("field {letter} = {s:?}"));
        };
        fields.insert(*letter, v);
        at += width;
    }
    if fields[&'c'].is_some_and(|d| d > 360) {
        return Err("direction over 360".into());
    }
    Ok(AprsReport {
        call: call.to_string(),
        dhm: (dd, hh, mm),
        latitude,
        longitude,
        fields,
    })
}

#[allow(dead_code)]
pub fn utc(t: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(t, 0).unwrap()
}
