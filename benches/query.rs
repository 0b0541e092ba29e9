//! How fast the store is at the sizes a station reaches: ten years of one-minute
//! records (5.26 million rows).
//!
//! `cargo bench --bench query` prints, in words and as `BENCH <name> <value> <unit>`
//! lines that `scripts/bench` parses:
//! - the cost of one `insert` (one record, one transaction), which bounds how fast a
//!   simulated year can be written;
//! - the daily summary over all ten years (goal < 50 ms);
//! - one day of raw rows (goal < 5 ms);
//! - a CSV export of one month.
//!
//! The ten-year database is built once with `insert_batch` and cached under
//! `target/bench-data/`, so reruns start measuring at once. Delete the file to rebuild.
//!
//! `WEATHERD_BENCH_YEARS=1` (any whole number of years from 1) measures a smaller
//! database instead, cached under its own name: the CI mode of `scripts/bench`.

use rand::{Rng, SeedableRng};
use std::path::PathBuf;
use std::time::{Duration, Instant};
use weatherd::query::{render, Format};
use weatherd::record::{ArchiveRecord, Stat};
use weatherd::store::{Every, Store};
use weatherd::time::{parse_time, Timestamp};

const DEFAULT_YEARS: i64 = 10;
const FIRST_YEAR: i64 = 2016;
const CHUNK: usize = 20_000;

/// How many years of records to query: `WEATHERD_BENCH_YEARS`, else ten.
fn years() -> Result<i64, String> {
    match std::env::var("WEATHERD_BENCH_YEARS") {
        Err(_) => Ok(DEFAULT_YEARS),
        Ok(s) => match s.trim().parse::<i64>() {
            Ok(n) if (1..=100).contains(&n) => Ok(n),
            _ => Err(format!(
                "WEATHERD_BENCH_YEARS=`{s}`: expected a whole number of years from 1 to 100"
            )),
        },
    }
}

/// A machine-readable figure for `scripts/bench`: `BENCH <name> <value> <unit>`.
fn report(name: &str, value: f64, unit: &str) {
    println!("BENCH {name} {value} {unit}");
}

fn bench_dir() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target"));
    target.join("bench-data")
}

fn stat(mean: f64, spread: f64, n: u32) -> Stat {
    Stat {
        mean: Some(mean),
        min: Some(mean - spread),
        max: Some(mean + spread),
        n,
    }
}

/// Plausible weather for a temperate station: a seasonal and a diurnal cycle, slowly
/// wandering pressure, gusty wind, and showers about one minute in fifty.
struct Weather {
    rng: rand_pcg::Pcg64,
    pressure_hpa: f64,
    rain_tip: Option<Timestamp>,
}

impl Weather {
    fn record(&mut self, start: Timestamp) -> ArchiveRecord {
        let secs = start.secs() as f64;
        let day = (secs / 86_400.0) % 365.25;
        let hour = (secs / 3600.0) % 24.0;
        let season = -6.0 * (2.0 * std::f64::consts::PI * (day + 10.0) / 365.25).cos();
        let diurnal = -4.0 * (2.0 * std::f64::consts::PI * (hour - 3.0) / 24.0).cos();
        let temperature_c = 11.0 + season + diurnal + self.rng.gen_range(-0.3..0.3);
        let humidity_pct = (75.0 - 3.0 * diurnal + self.rng.gen_range(-2.0..2.0)).clamp(5.0, 100.0);
        self.pressure_hpa =
            (self.pressure_hpa + self.rng.gen_range(-0.05..0.05)).clamp(960.0, 1045.0);
        let wind_speed_kmh: f64 = self.rng.gen_range(0.0..20.0);
        let raining = self.rng.gen_bool(0.02);
        let rain_mm = if raining {
            0.2794 * f64::from(self.rng.gen_range(1..4u32))
        } else {
            0.0
        };
        if raining {
            self.rain_tip = Some(start.add_secs(30));
        }
        let ground = 10.0 + season * 0.5;
        let mut record = ArchiveRecord {
            start,
            end: start.add_secs(60),
            samples: 12,
            temperature_c: stat(temperature_c, 0.2, 12),
            humidity_pct: stat(humidity_pct, 1.0, 12),
            pressure_hpa: stat(self.pressure_hpa, 0.05, 12),
            ground_temperature_c: stat(ground, 0.01, 12),
            dew_point_c: Some(temperature_c - (100.0 - humidity_pct) / 5.0),
            sea_level_pressure_hpa: Some(self.pressure_hpa + 2.4),
            wind_speed_kmh: Some(wind_speed_kmh),
            wind_gust_kmh: Some(wind_speed_kmh * 1.6),
            wind_dir_deg: (wind_speed_kmh > 1.0).then(|| self.rng.gen_range(0.0..360.0)),
            wind_n: 12,
            wind_dir_n: if wind_speed_kmh > 1.0 { 12 } else { 0 },
            rain_mm: Some(rain_mm),
            rain_rate_mm_per_h: raining.then_some(rain_mm * 60.0),
            rain_n: 12,
            extras: Vec::new(),
            faults: Vec::new(),
            last_rain_tip: self.rain_tip,
            ..ArchiveRecord::default()
        };
        // The derived values as the aggregator computes them, so rows are full width.
        record.derive(50.0);
        record
    }
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// CPU time of this thread: unlike wall time, it does not grow when other processes
/// compete for the cores (the machine these figures come from is shared).
fn cpu_time() -> Duration {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime only writes the timespec we pass.
    unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

/// A timing: medians of wall and CPU time over several runs.
struct Timing {
    wall: Duration,
    cpu: Duration,
}

impl std::fmt::Display for Timing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{:.2} ms wall, {:.2} ms CPU",
            ms(self.wall),
            ms(self.cpu)
        )
    }
}

fn time<T>(runs: usize, mut f: impl FnMut() -> T) -> (Timing, T) {
    let mut wall = Vec::with_capacity(runs);
    let mut cpu = Vec::with_capacity(runs);
    let mut last = None;
    for _ in 0..runs {
        let (t0, c0) = (Instant::now(), cpu_time());
        last = Some(f());
        cpu.push(cpu_time() - c0);
        wall.push(t0.elapsed());
    }
    (
        Timing {
            wall: median(wall),
            cpu: median(cpu),
        },
        last.expect("runs > 0"),
    )
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let years = years()?;
    let tz: chrono_tz::Tz = "Europe/London".parse()?;
    let first = parse_time(&format!("{FIRST_YEAR}-01-01T00:00:00Z"))?;
    let end = parse_time(&format!("{}-01-01T00:00:00Z", FIRST_YEAR + years))?;
    // Mid-history, so the index has to seek.
    let mid_year = FIRST_YEAR + years / 2;
    let expected = (end.secs() - first.secs()) / 60;
    let dir = bench_dir();
    std::fs::create_dir_all(&dir)?;

    // 1. Insert cost: single-record transactions into a fresh database.
    let insert_path = dir.join("insert.db");
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", insert_path.display()));
    }
    {
        let mut store = Store::open(&insert_path, tz)?;
        let mut weather = Weather {
            rng: rand_pcg::Pcg64::seed_from_u64(7),
            pressure_hpa: 1013.0,
            rain_tip: None,
        };
        let mut t = first;
        for _ in 0..1000 {
            store.insert(&weather.record(t))?;
            t = t.add_secs(60);
        }
        let n = 5000;
        let recs: Vec<ArchiveRecord> = (0..n).map(|i| weather.record(t.add_secs(60 * i))).collect();
        let (t0, c0) = (Instant::now(), cpu_time());
        for r in &recs {
            store.insert(r)?;
        }
        let per = t0.elapsed() / n as u32;
        let per_cpu = (cpu_time() - c0) / n as u32;
        println!(
            "insert (one record per transaction): {:.1} µs/record wall, {:.1} µs CPU \
             ({:.0} records/s; a simulated year of 525,600 takes {:.0} s)",
            per.as_secs_f64() * 1e6,
            per_cpu.as_secs_f64() * 1e6,
            1.0 / per.as_secs_f64(),
            per.as_secs_f64() * 525_600.0
        );
        report("insert_us_per_record", per.as_secs_f64() * 1e6, "us");
        report(
            "insert_cpu_us_per_record",
            per_cpu.as_secs_f64() * 1e6,
            "us",
        );
    }

    // 2. The ten-year database, built once.
    let path = dir.join(format!("query-{years}y.db"));
    let reuse = path.exists()
        && Store::open_read_only(&path)
            .and_then(|s| s.record_count())
            .map(|n| n == expected)
            .unwrap_or(false)
        && made_by_this_build(&path);
    if !reuse {
        for suffix in ["", "-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
        }
        println!(
            "building {} ({expected} records, cached for later runs)...",
            path.display()
        );
        let t0 = Instant::now();
        let mut store = Store::open(&path, tz)?;
        let mut weather = Weather {
            rng: rand_pcg::Pcg64::seed_from_u64(1),
            pressure_hpa: 1013.0,
            rain_tip: None,
        };
        let mut t = first;
        let mut chunk = Vec::with_capacity(CHUNK);
        while t < end {
            chunk.push(weather.record(t));
            t = t.add_secs(60);
            if chunk.len() == CHUNK || t >= end {
                store.insert_batch(&chunk)?;
                chunk.clear();
            }
        }
        let took = t0.elapsed();
        println!(
            "built in {:.0} s ({:.1} µs/record with insert_batch)",
            took.as_secs_f64(),
            took.as_secs_f64() * 1e6 / expected as f64
        );
        report("query_db_build_s", took.as_secs_f64(), "s");
    }
    let size_mb = std::fs::metadata(&path)?.len() as f64 / 1e6;
    let store = Store::open_read_only(&path)?;
    println!("database: {expected} records, {size_mb:.0} MB");
    report("query_years", years as f64, "years");
    report("query_records", expected as f64, "records");
    report("query_db_mb", size_mb, "MB");
    println!("BENCH query_db_path {} path", path.display());

    // 3. Daily summary over all ten years.
    let (d, table) = time(9, || store.query(None, None, Every::Day));
    let table = table?;
    println!(
        "daily summary, all {} days: {} (median of 9; goal < 50 ms)",
        table.rows.len(),
        d
    );
    report("query_daily_summary_ms", ms(d.wall), "ms");
    report("query_daily_summary_cpu_ms", ms(d.cpu), "ms");
    report("query_daily_summary_rows", table.rows.len() as f64, "rows");

    // 4. One day of raw rows.
    let day = parse_time(&format!("{mid_year}-06-15T00:00:00Z"))?;
    let (d, table) = time(21, || {
        store.query(Some(day), Some(day.add_secs(86_400)), Every::Raw)
    });
    let table = table?;
    println!(
        "one day raw ({} rows): {} (median of 21; goal < 5 ms)",
        table.rows.len(),
        d
    );
    report("query_day_raw_ms", ms(d.wall), "ms");
    report("query_day_raw_cpu_ms", ms(d.cpu), "ms");
    report("query_day_raw_rows", table.rows.len() as f64, "rows");

    // 5. One month: hourly, and raw rows exported as CSV.
    let month = parse_time(&format!("{mid_year}-06-01T00:00:00Z"))?;
    let month_end = parse_time(&format!("{mid_year}-07-01T00:00:00Z"))?;
    let (d, table) = time(5, || store.query(Some(month), Some(month_end), Every::Hour));
    println!(
        "one month hourly ({} rows): {} (median of 5)",
        table?.rows.len(),
        d
    );
    report("query_month_hourly_ms", ms(d.wall), "ms");
    let (d, out) = time(5, || -> Result<Vec<u8>, Box<dyn std::error::Error>> {
        let table = store.query(Some(month), Some(month_end), Every::Raw)?;
        let mut out = Vec::with_capacity(16 << 20);
        render(&table, Format::Csv, &mut out)?;
        Ok(out)
    });
    let out = out?;
    println!(
        "one month raw as CSV ({:.1} MB): {d} (median of 5)",
        out.len() as f64 / 1e6
    );
    report("query_month_csv_ms", ms(d.wall), "ms");
    report("query_month_csv_cpu_ms", ms(d.cpu), "ms");
    report("query_month_csv_mb", out.len() as f64 / 1e6, "MB");
    Ok(())
}

/// Whether the cached database has the tables and page size a new one gets from this
/// build (the schema version alone does not say: new databases may change both).
fn made_by_this_build(path: &std::path::Path) -> bool {
    let shape = |conn: &rusqlite::Connection| -> rusqlite::Result<(i64, String)> {
        Ok((
            conn.query_row("PRAGMA page_size", [], |r| r.get(0))?,
            conn.query_row(
                "SELECT group_concat(sql, ';') FROM (SELECT sql FROM sqlite_schema ORDER BY name)",
                [],
                |r| r.get(0),
            )?,
        ))
    };
    let fresh = rusqlite::Connection::open_in_memory().and_then(|c| {
        c.pragma_update(None, "page_size", weatherd::store::NEW_DATABASE_PAGE_SIZE)?;
        c.execute_batch(weatherd::store::SCHEMA_SQL)?;
        shape(&c)
    });
    let cached =
        rusqlite::Connection::open_with_flags(path, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
            .and_then(|c| shape(&c));
    matches!((fresh, cached), (Ok(a), Ok(b)) if a == b)
}
