//! The web page's weight and how fast it draws, on a simulated station (two and a half days
//! pre-filled, then live) in Debian's headless Chromium via chromedriver.
//!
//! - Page weight: the bytes of `/` and every asset as the server sends them to a
//!   browser that accepts gzip (goal: all together <= 100 KB).
//! - First plot: milliseconds from navigation (performance.now()'s origin) to the first
//!   uPlot draw, as the page itself marks it (`window.weatherd.marks.firstPlot`); a
//!   fresh browser (cold cache) and the median of reloads (warm cache). Goal <= 1 s.
//!
//! Prints words and `BENCH <name> <value> <unit>` lines (parsed by `scripts/bench`);
//! never asserts a figure. `WEATHERD_BENCH_RUNS` (default 5) reloads to take the
//! median of.

#[path = "../tests/support/web_page.rs"]
mod web_page;

use web_page::{open_page, Chromedriver, Station};

/// The page and every asset it loads.
const FILES: [&str; 6] = [
    "",
    "assets/app.js",
    "assets/style.css",
    "assets/uplot.min.js",
    "assets/uplot.min.css",
    "assets/favicon.svg",
];

/// (bytes on the wire with gzip accepted, bytes uncompressed, content-encoding).
fn weight(base: &str, file: &str) -> (usize, usize, String) {
    let url = format!("{base}{file}");
    let fetch = |gzip: bool| {
        let mut req = ureq::get(&url);
        if gzip {
            req = req.header("Accept-Encoding", "gzip");
        }
        let mut answer = req.call().unwrap_or_else(|e| panic!("GET {url}: {e}"));
        let encoding = answer
            .headers()
            .get("content-encoding")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("identity")
            .to_owned();
        // No decompression here (ureq's gzip feature is off): these are the bytes sent.
        let body = answer
            .body_mut()
            .with_config()
            .limit(10 << 20)
            .read_to_vec()
            .unwrap_or_else(|e| panic!("GET {url}: {e}"));
        (body.len(), encoding)
    };
    let (wire, encoding) = fetch(true);
    let (plain, _) = fetch(false);
    (wire, plain, encoding)
}

fn main() {
    let runs: usize = std::env::var("WEATHERD_BENCH_RUNS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(5)
        .max(1);
    let dir = tempfile::tempdir().expect("tempdir");
    let config = web_page::write_config(dir.path());
    let db = dir.path().join("weather.db");
    // Two and a half days, so the live station starts mid-afternoon (a day's high and
    // low in Now, a full day in the 24-h plot).
    Station::prefill(&config, &db, "2026-11-01T00:00:00Z", "62h");
    let station = Station::start(&config, &db, "2026-11-03T14:00:00Z", 1);
    station.wait_for_records();

    println!("page weight (bytes as sent to a browser accepting gzip):");
    let (mut wire_total, mut plain_total) = (0, 0);
    for file in FILES {
        let (wire, plain, encoding) = weight(&station.url, file);
        println!("  /{file:<22} {wire:>7} B ({encoding}; {plain} B uncompressed)");
        wire_total += wire;
        plain_total += plain;
    }
    println!(
        "  all assets            {wire_total:>7} B ({:.1} KB; {:.1} KB uncompressed), goal <= 100 KB",
        wire_total as f64 / 1024.0,
        plain_total as f64 / 1024.0
    );
    println!(
        "BENCH web_page_gzip_kb {:.1} KB",
        wire_total as f64 / 1024.0
    );
    println!(
        "BENCH web_page_plain_kb {:.1} KB",
        plain_total as f64 / 1024.0
    );

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime");
    runtime.block_on(async {
        let driver = Chromedriver::start();
        let client = driver.session(None).await;
        let cold = open_page(&client, &station.url).await;
        let mut warm = Vec::new();
        for _ in 0..runs {
            warm.push(open_page(&client, &station.url).await);
        }
        client.close().await.expect("close the session");
        warm.sort_by(f64::total_cmp);
        let median = warm[warm.len() / 2];
        println!("first plot drawn after navigation: {cold:.0} ms cold (new browser), {median:.0} ms warm (median of {runs} reloads), goal <= 1000 ms");
        println!("BENCH web_first_plot_cold_ms {cold:.0} ms");
        println!("BENCH web_first_plot_warm_ms {median:.0} ms");
        println!("BENCH web_first_plot_runs {runs} runs");
    });
}
