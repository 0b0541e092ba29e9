//! What the web page costs: `/api/v1/records` answer times and sizes in process, the
//! page weight, the binary's size, and the memory of a simulated station serving the
//! page while idle.
//!
//! `cargo bench --bench web` prints, in words and as `BENCH <name> <value> <unit>`
//! lines that `scripts/bench` parses:
//! - `/api/v1/records?from=-1y&every=hour` (1500 points): the first answer (which
//!   folds a year of one-minute records into hours and keeps the complete hours) and
//!   the median of later ones (goal ≤ 50 ms);
//! - `/api/v1/records?from=-10y&every=day`: median (goal ≤ 50 ms);
//! - their response sizes, plain and gzipped;
//! - the page weight: every embedded asset, gzipped (goal ≤ 100 KB);
//! - the size of the `weatherd` binary this bench was built with;
//! - VmRSS and RssAnon of `weatherd run --simulate` at real speed with the page on
//!   and no client, after `WEATHERD_BENCH_IDLE_S` seconds (default 30) (goals ≤ 10 MB
//!   and ≤ 2.5 MB), and again after one visit of the page and its 1-y plot.
//!
//! The records come from the database `benches/query.rs` caches
//! (`target/bench-data/query-{N}y.db`, N = `WEATHERD_BENCH_YEARS`, default 10) when it
//! exists; otherwise this bench builds its own (`web-{N}y.db`, cached the same way).

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::time::{Duration, Instant};
use weatherd::clock::{Clock, Speed};
use weatherd::record::{ArchiveRecord, Stat};
use weatherd::sim::SimTime;
use weatherd::store::Store;
use weatherd::time::Timestamp;
use weatherd::web::{Limits, Live, WebContext};

fn report(name: &str, value: f64, unit: &str) {
    println!("BENCH {name} {value} {unit}");
}

fn env_num(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(default)
}

fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target"))
}

fn stat(mean: f64, spread: f64) -> Stat {
    Stat {
        mean: Some(mean),
        min: Some(mean - spread),
        max: Some(mean + spread),
        n: 12,
    }
}

/// A simple, plausible record (seasonal and daily cycles, gusts, showers).
fn record(start: Timestamp) -> ArchiveRecord {
    let s = start.secs() as f64;
    let day = (s / 86_400.0).sin();
    let hour = (2.0 * std::f64::consts::PI * (s % 86_400.0) / 86_400.0).sin();
    let t = 11.0 - 6.0 * (2.0 * std::f64::consts::PI * s / 31_557_600.0).cos() + 4.0 * hour;
    let k = start.secs() / 60;
    let wind = 8.0 + 6.0 * day.abs() + (k % 17) as f64 * 0.3;
    ArchiveRecord {
        start,
        end: start.add_secs(60),
        samples: 12,
        temperature_c: stat(t, 0.2),
        humidity_pct: stat(75.0 - 10.0 * hour, 1.0),
        pressure_hpa: stat(1013.0 + 8.0 * day, 0.1),
        ground_temperature_c: stat(t * 0.8 + 2.0, 0.0),
        dew_point_c: Some(t - 5.0),
        sea_level_pressure_hpa: Some(1015.0 + 8.0 * day),
        wind_speed_kmh: Some(wind),
        wind_gust_kmh: Some(wind * 1.5 + (k % 7) as f64),
        wind_dir_deg: Some((k * 7 % 360) as f64),
        wind_n: 12,
        wind_dir_n: 12,
        rain_mm: Some(if k % 50 == 0 { 0.2 } else { 0.0 }),
        rain_rate_mm_per_h: Some(0.0),
        rain_n: 12,
        ..Default::default()
    }
}

fn database(years: i64) -> Result<PathBuf, Box<dyn std::error::Error>> {
    let dir = target_dir().join("bench-data");
    std::fs::create_dir_all(&dir)?;
    let shared = dir.join(format!("query-{years}y.db"));
    if shared.exists() && Store::open_read_only(&shared).is_ok() {
        return Ok(shared);
    }
    let path = dir.join(format!("web-{years}y.db"));
    let first = Timestamp::from_secs(1_451_606_400); // 2016-01-01
    let end = first.add_secs(years * 365 * 86_400);
    let done = Store::open_read_only(&path)
        .and_then(|r| r.resume())
        .is_ok_and(|r| r.last_end == Some(end));
    if !done {
        for s in ["", "-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("{}{s}", path.display()));
        }
        println!(
            "building {} ({years} y of one-minute records, cached)...",
            path.display()
        );
        let mut store = Store::open(&path, "Europe/London".parse()?)?;
        store.set_durability(weatherd::store::Durability::Fast)?;
        let mut t = first;
        let mut chunk = Vec::with_capacity(20_000);
        while t < end {
            chunk.push(record(t));
            t = t.add_secs(60);
            if chunk.len() == 20_000 || t >= end {
                store.insert_batch(&chunk)?;
                chunk.clear();
            }
        }
    }
    Ok(path)
}

/// GET over a fresh connection; (status, body bytes on the wire).
fn get(addr: std::net::SocketAddr, path: &str, gzip: bool) -> (u16, usize) {
    let mut s = TcpStream::connect(addr).expect("connect");
    let enc = if gzip {
        "Accept-Encoding: gzip\r\n"
    } else {
        ""
    };
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: b\r\n{enc}Connection: close\r\n\r\n"
    )
    .unwrap();
    let mut all = Vec::new();
    s.read_to_end(&mut all).unwrap();
    let head_end = all
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("an answer")
        + 4;
    let status = String::from_utf8_lossy(&all[9..12]).parse().unwrap_or(0);
    (status, all.len() - head_end)
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn proc_kb(pid: u32, key: &str) -> Option<f64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with(key))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let years = env_num("WEATHERD_BENCH_YEARS", 10) as i64;
    let runs = env_num("WEATHERD_BENCH_RUNS", 9) as usize;
    let db = database(years)?;
    let newest = Store::open_read_only(&db)?
        .resume()?
        .last_end
        .ok_or("empty database")?;
    println!(
        "database {} ({years} y), newest record ends {newest}",
        db.display()
    );

    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    let mut config = weatherd::config::Config::example();
    config.station.time_zone = "Europe/London".into();
    let ctx = WebContext {
        config,
        db_path: db.clone(),
        clock: Clock::simulated(newest, Speed::Max, SimTime::new(newest)),
        live: Live::new(),
        limits: Limits::default(),
    };
    let server = rt.block_on(async { weatherd::web::serve(listener, ctx) })?;
    let addr = server.local_addr();
    // The server runs on its own thread; requests come from this one.
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let thread = std::thread::spawn(move || {
        rt.block_on(async {
            let _ = stop_rx.await;
            server.shutdown().await;
        })
    });

    for (name, path) in [
        ("records_1y_hour", "/api/v1/records?from=-1y&every=hour"),
        ("records_10y_day", "/api/v1/records?from=-10y&every=day"),
    ] {
        let t0 = Instant::now();
        let (status, bytes) = get(addr, path, false);
        let first = t0.elapsed().as_secs_f64() * 1e3;
        assert_eq!(status, 200, "{path}");
        let times: Vec<f64> = (0..runs)
            .map(|_| {
                let t0 = Instant::now();
                let (status, _) = get(addr, path, false);
                assert_eq!(status, 200);
                t0.elapsed().as_secs_f64() * 1e3
            })
            .collect();
        let warm = median(times);
        let (_, gz) = get(addr, path, true);
        println!(
            "GET {path}: first {first:.1} ms, then median {warm:.1} ms over {runs}; \
             {:.0} KB ({:.0} KB gzipped)",
            bytes as f64 / 1024.0,
            gz as f64 / 1024.0
        );
        report(&format!("web_{name}_first_ms"), first, "ms");
        report(&format!("web_{name}_ms"), warm, "ms");
        report(&format!("web_{name}_kb"), bytes as f64 / 1024.0, "KB");
        report(&format!("web_{name}_gzip_kb"), gz as f64 / 1024.0, "KB");
    }
    let _ = stop_tx.send(());
    let _ = thread.join();

    let mut total = 0;
    for (name, plain, gz) in weatherd::web::assets::gzipped_sizes() {
        println!("asset {name}: {plain} bytes, {gz} gzipped");
        total += gz;
    }
    println!(
        "page weight (all assets, gzipped): {:.1} KB",
        total as f64 / 1024.0
    );
    report("web_page_weight_gzip_kb", total as f64 / 1024.0, "KB");

    let bin = env!("CARGO_BIN_EXE_weatherd");
    let size = std::fs::metadata(bin)?.len();
    println!("binary {bin}: {:.2} MB", size as f64 / 1e6);
    report("web_binary_mb", size as f64 / 1e6, "MB");

    // Memory of a station serving the page, idle, at real speed.
    let idle_s = env_num("WEATHERD_BENCH_IDLE_S", 30);
    let work = tempfile::tempdir()?;
    let cfg = work.path().join("c.toml");
    std::fs::write(
        &cfg,
        weatherd::config::EXAMPLE_TOML
            .replace("# listen = \"0.0.0.0:8080\"", "listen = \"127.0.0.1:0\"")
            .replace(
                "/var/lib/weatherd/weather.db",
                &work.path().join("s.db").display().to_string(),
            ),
    )?;
    let mut child = std::process::Command::new(bin)
        .args(["run", "--simulate", "--config"])
        .arg(&cfg)
        .stderr(std::process::Stdio::piped())
        .spawn()?;
    let mut err = child.stderr.take().ok_or("no stderr")?;
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut buf = [0u8; 4096];
        let mut text = String::new();
        while let Ok(n) = err.read(&mut buf) {
            if n == 0 {
                break;
            }
            text.push_str(&String::from_utf8_lossy(&buf[..n]));
            if let Some(at) = text.find("web page on http://") {
                let rest = &text[at + 19..];
                if let Some(end) = rest.find('/') {
                    let _ = tx.send(rest[..end].to_string());
                    text.clear();
                }
            }
        }
    });
    let station_addr: std::net::SocketAddr = rx.recv_timeout(Duration::from_secs(30))?.parse()?;
    std::thread::sleep(Duration::from_secs(idle_s));
    let pid = child.id();
    let (rss, anon) = (proc_kb(pid, "VmRSS:"), proc_kb(pid, "RssAnon:"));
    for path in [
        "/",
        "/assets/app.js",
        "/api/v1/latest",
        "/api/v1/records?from=-1y&every=hour",
    ] {
        get(station_addr, path, true);
    }
    std::thread::sleep(Duration::from_secs(2));
    let (rss2, anon2) = (proc_kb(pid, "VmRSS:"), proc_kb(pid, "RssAnon:"));
    let _ = child.kill();
    let _ = child.wait();
    let mb = |kb: Option<f64>| kb.map_or(f64::NAN, |k| k / 1024.0);
    println!(
        "simulated station, page on, idle {idle_s} s: VmRSS {:.2} MB, RssAnon {:.2} MB; \
         after one page visit: VmRSS {:.2} MB, RssAnon {:.2} MB",
        mb(rss),
        mb(anon),
        mb(rss2),
        mb(anon2)
    );
    report("web_idle_rss_mb", mb(rss), "MB");
    report("web_idle_anon_mb", mb(anon), "MB");
    report("web_visited_rss_mb", mb(rss2), "MB");
    report("web_visited_anon_mb", mb(anon2), "MB");
    Ok(())
}
