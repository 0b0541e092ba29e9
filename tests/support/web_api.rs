//! The web server in process, and a tiny raw-HTTP client, for the web tests.
//!
//! The client is written on `TcpStream` on purpose: the security tests must send
//! what no polite client would (half a request head, `..` in a path, a body).

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::time::Duration;
use weatherd::clock::{Clock, Speed};
use weatherd::config::Config;
use weatherd::record::{ArchiveRecord, Stat};
use weatherd::sim::SimTime;
use weatherd::time::Timestamp;
use weatherd::web::{Limits, Live, WebContext, WebServer};

/// A server on 127.0.0.1:0 with its own runtime; the clock stands still at `now`.
pub struct TestServer {
    pub addr: SocketAddr,
    pub live: Live,
    server: Option<WebServer>,
    rt: tokio::runtime::Runtime,
}

impl TestServer {
    pub fn start(config: Config, db: &Path, now: Timestamp) -> TestServer {
        TestServer::start_with(config, db, now, Limits::default())
    }

    pub fn start_with(config: Config, db: &Path, now: Timestamp, limits: Limits) -> TestServer {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("a runtime");
        let live = Live::new();
        live.set_clock_synchronised(true);
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
        let ctx = WebContext {
            config,
            db_path: db.to_path_buf(),
            clock: Clock::simulated(now, Speed::Max, SimTime::new(now)),
            live: live.clone(),
            limits,
        };
        let server = rt
            .block_on(async { weatherd::web::serve(listener, ctx) })
            .expect("the server starts");
        TestServer {
            addr: server.local_addr(),
            live,
            server: Some(server),
            rt,
        }
    }

    pub fn get(&self, path: &str) -> Reply {
        request(
            self.addr,
            &format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"),
        )
    }

    /// GET, expecting 200 and JSON.
    pub fn json(&self, path: &str) -> serde_json::Value {
        let r = self.get(path);
        assert_eq!(r.status, 200, "{path}: {}", r.text());
        assert_eq!(
            r.header("content-type"),
            Some("application/json; charset=utf-8"),
            "{path}"
        );
        serde_json::from_slice(&r.body)
            .unwrap_or_else(|e| panic!("{path}: not JSON ({e}): {}", r.text()))
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(s) = self.server.take() {
            self.rt.block_on(s.shutdown());
        }
    }
}

#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Reply {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// Sends raw bytes and reads the whole answer (the request must say
/// `Connection: close`). Decodes a chunked body.
pub fn request(addr: SocketAddr, raw: &str) -> Reply {
    try_request(addr, raw).unwrap_or_else(|e| panic!("no HTTP answer to {raw:?}: {e}"))
}

/// [`request`], with the failure as an error.
pub fn try_request(addr: SocketAddr, raw: &str) -> Result<Reply, String> {
    let mut s = TcpStream::connect(addr).map_err(|e| format!("connect: {e}"))?;
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    s.write_all(raw.as_bytes())
        .map_err(|e| format!("send: {e}"))?;
    let mut all = Vec::new();
    let _ = s.read_to_end(&mut all);
    parse(&all).ok_or_else(|| format!("not HTTP: {:?}", String::from_utf8_lossy(&all)))
}

pub fn parse(all: &[u8]) -> Option<Reply> {
    let end = all.windows(4).position(|w| w == b"\r\n\r\n")?;
    let head = String::from_utf8_lossy(&all[..end]).into_owned();
    let mut lines = head.split("\r\n");
    let status: u16 = lines.next()?.split(' ').nth(1)?.parse().ok()?;
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    let mut body = all[end + 4..].to_vec();
    if headers
        .iter()
        .any(|(k, v)| k == "transfer-encoding" && v.contains("chunked"))
    {
        body = dechunk(&body);
    }
    Some(Reply {
        status,
        headers,
        body,
    })
}

fn dechunk(mut b: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some(nl) = b.windows(2).position(|w| w == b"\r\n") {
        let size = usize::from_str_radix(String::from_utf8_lossy(&b[..nl]).trim(), 16).unwrap_or(0);
        if size == 0 || b.len() < nl + 2 + size {
            break;
        }
        out.extend_from_slice(&b[nl + 2..nl + 2 + size]);
        b = &b[(nl + 4 + size).min(b.len())..];
    }
    out
}

fn stat(mean: f64, spread: f64, n: u32) -> Stat {
    Stat {
        mean: Some(mean),
        min: Some(mean - spread),
        max: Some(mean + spread),
        n,
    }
}

/// A plausible record starting at `start`, lasting `len_s`; `k` varies the weather.
pub fn record(start: Timestamp, len_s: i64, k: i64) -> ArchiveRecord {
    let x = k as f64;
    let t = 10.0 + 8.0 * (x / 37.0).sin();
    let speed = 6.0 + 5.0 * (x / 11.0).sin();
    ArchiveRecord {
        start,
        end: start.add_secs(len_s),
        samples: 12,
        temperature_c: stat(t, 0.3, 12),
        humidity_pct: stat(70.0 + 10.0 * (x / 23.0).cos(), 1.0, 12),
        pressure_hpa: stat(1010.0 + 5.0 * (x / 101.0).sin(), 0.1, 12),
        ground_temperature_c: stat(9.0, 0.0, 12),
        dew_point_c: Some(t - 4.0),
        sea_level_pressure_hpa: Some(1013.0 + 5.0 * (x / 101.0).sin()),
        wind_speed_kmh: Some(speed),
        wind_gust_kmh: Some(speed * 1.6 + (k % 7) as f64),
        wind_dir_deg: Some((k * 37 % 360) as f64),
        wind_n: 12,
        wind_dir_n: 12,
        rain_mm: Some(if k % 13 == 0 { 0.2 } else { 0.0 }),
        rain_rate_mm_per_h: Some(if k % 13 == 0 { 1.5 } else { 0.0 }),
        rain_n: 12,
        ..Default::default()
    }
}

/// The example config with the page on an ephemeral port and a time zone.
pub fn config(tz: &str) -> Config {
    let mut c = Config::example();
    c.station.time_zone = tz.to_string();
    c.web.listen = Some("127.0.0.1:0".into());
    c
}

/// A value as the API writes it: `weatherd query`'s rounding (2 places).
pub fn rounded(v: f64) -> f64 {
    weatherd::query::format_real(v)
        .and_then(|s| s.parse().ok())
        .expect("finite")
}
