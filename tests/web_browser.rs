//! The page in a real browser: a simulated station (two and a half days pre-filled,
//! then running live at 30x) serves it, and Debian's headless Chromium, driven through chromedriver
//! with fantoccini, loads it. Fails loudly when chromium or chromedriver is missing
//! (scripts/test installs them).
//!
//! `WEATHERD_SCREENSHOT=docs/screenshot.png cargo test --test web_browser` also writes
//! the README's screenshot (1280 px wide) of the page as the browser drew it.

#[path = "support/web_page.rs"]
mod web_page;

use serde_json::Value;
use std::time::Duration;
use web_page::{browser_errors, js, open_page, wait_for, Chromedriver, Station};

const SECTIONS: [&str; 6] = ["now", "plots", "windrose", "climate", "data", "health"];

/// JSON numbers and nulls as f64s: the browser hands integers back as integers (80)
/// where the API may have written 80.0, which are the same value.
fn numbers(v: &Value, what: &str) -> Vec<Option<f64>> {
    v.as_array()
        .unwrap_or_else(|| panic!("{what} is not an array: {v}"))
        .iter()
        .map(|x| {
            if x.is_null() {
                None
            } else {
                Some(
                    x.as_f64()
                        .unwrap_or_else(|| panic!("{what} holds a non-number {x}")),
                )
            }
        })
        .collect()
}

/// Every plot's series equal the API's values for the very request the plot came
/// from. Returns how many points the temperature plot has. `None` when a new record
/// arrived while comparing (the page reloads its plots then; compare again).
async fn plots_equal_the_api(client: &fantoccini::Client, station: &Station) -> Option<usize> {
    let page = js(
        client,
        "const w = window.weatherd; const plots = {};
         for (const [name, u] of Object.entries(w.plots))
             plots[name] = {source: w.sources[name], columns: w.plotColumns[name], data: u.data};
         return {basis: w.plotBasis, plots};",
    )
    .await;
    let plots = page["plots"].as_object().expect("window.weatherd.plots");
    for name in [
        "temperature",
        "humidity",
        "pressure",
        "wind",
        "wind_dir",
        "rain",
        "ground",
        "feels",
    ] {
        assert!(
            plots.contains_key(name),
            "no `{name}` plot; the page drew {:?}",
            plots.keys()
        );
    }
    let mut mismatch = None;
    for (name, plot) in plots {
        let source = plot["source"].as_str().expect("source URL");
        let api = station.get(source);
        let data = plot["data"].as_array().expect("u.data");
        let time = numbers(&data[0], &format!("{name} x values"));
        if time != numbers(&api["time"], "API time") {
            mismatch = Some(format!(
                "{name}: {} points drawn, API {} ({source})",
                time.len(),
                api["time"].as_array().map_or(0, Vec::len)
            ));
            break;
        }
        for (i, column) in plot["columns"]
            .as_array()
            .expect("columns")
            .iter()
            .enumerate()
        {
            let Some(column) = column.as_str() else {
                continue;
            }; // derived (rain total)
            let drawn = numbers(&data[i + 1], &format!("{name} series {column}"));
            let want = numbers(&api["values"][column], &format!("API {column}"));
            if drawn != want {
                mismatch = Some(format!("{name}: series {column} differs from {source}"));
            }
        }
    }
    let latest = station.get("/api/v1/latest")["record"]["start"].clone();
    if latest != page["basis"] {
        return None; // a record arrived meanwhile: the page's data may be one behind
    }
    if let Some(m) = mismatch {
        panic!("a plot differs from the API with no new record in between: {m}");
    }
    Some(plots["temperature"]["data"][0].as_array().unwrap().len())
}

/// Waits until every section has loaded its data (or failed, which the caller asserts).
async fn wait_for_sections(client: &fantoccini::Client) {
    wait_for(
        client,
        "the wind rose, climate report, records and health to load",
        "const q = (s) => document.querySelector(s);
         return (q('#rose path') || q('#rose-legend .problem') || /No wind/.test(q('#rose-legend').textContent))
             && q('#climate-report').children.length > 0
             && q('#climate-records').children.length > 0
             && q('#health-summary').children.length > 0;",
        Duration::from_secs(60),
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_page_in_a_real_browser() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = web_page::write_config(dir.path());
    let db = dir.path().join("weather.db");
    // Two and a half days, so the live station starts mid-afternoon (a day's high and
    // low in Now, a full day in the 24-h plot).
    Station::prefill(&config, &db, "2026-11-01T00:00:00Z", "62h");
    let station = Station::start(&config, &db, "2026-11-03T14:00:00Z", 30);
    station.wait_for_records();
    let interval = station.get("/api/v1/station")["archive_interval_s"]
        .as_u64()
        .expect("archive_interval_s");
    let driver = Chromedriver::start();

    // --- desktop ---------------------------------------------------------------------
    let client = driver.session(None).await;
    let first_plot_ms = open_page(&client, &station.url).await;
    println!("figure (not asserted): first plot drawn {first_plot_ms:.0} ms after navigation");

    // Each section is there and visible.
    for id in SECTIONS {
        let shown = js(
            &client,
            &format!(
                "const s = document.querySelector('section#{id}');
                 return !!s && !!s.querySelector('h2') && s.getBoundingClientRect().height > 0;"
            ),
        )
        .await;
        assert_eq!(
            shown,
            Value::Bool(true),
            "section #{id} is missing or not shown"
        );
    }

    // The plots hold exactly the API's values: 24 h of raw records, one per interval.
    let mut points = None;
    for _ in 0..20 {
        points = plots_equal_the_api(&client, &station).await;
        if points.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    let points = points.expect("records kept arriving while comparing the plots 20 times");
    assert_eq!(
        points as u64,
        86_400 / interval,
        "a 24-h plot of raw records"
    );

    // "Now" shows the derived values that apply: the simulated station always has
    // temperature, humidity and wind, so the apparent temperature, as the API gives it.
    // (Records keep arriving: compare until the page and the API agree on one.)
    let mut seen = Vec::new();
    for _ in 0..20 {
        let latest = station.get("/api/v1/latest");
        let at = latest["record"]["apparent_temperature_c"]
            .as_f64()
            .unwrap_or_else(|| panic!("the latest record has no apparent temperature: {latest}"));
        let feels = js(
            &client,
            "return document.getElementById('now-feels').textContent;",
        )
        .await;
        let feels = feels.as_str().unwrap_or("").to_owned();
        if feels.starts_with(&format!("Feels like {at:.1}")) {
            seen.clear();
            break;
        }
        seen.push((feels, at));
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    assert!(
        seen.is_empty(),
        "Now's feels-like never matched the API's apparent temperature: {seen:?}"
    );

    // The Data section's link downloads CSV for its chosen range.
    let link = js(&client, "return document.getElementById('csv-link').href;").await;
    let link = link.as_str().expect("the CSV link has an href");
    let mut answer = ureq::get(link)
        .call()
        .unwrap_or_else(|e| panic!("GET {link}: {e}"));
    let content_type = answer
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap_or("").to_owned());
    assert!(
        content_type
            .as_deref()
            .is_some_and(|t| t.starts_with("text/csv")),
        "{link} answered {content_type:?}"
    );
    let csv = answer.body_mut().read_to_string().expect("CSV body");
    assert!(
        csv.lines().count() > 1,
        "{link}: no rows in the CSV:\n{csv}"
    );

    // Live: a newer record appears in "Now" without a reload.
    let before = js(
        &client,
        "window.__sameDocument = true;
         return [window.weatherd.lastRecordStart, document.getElementById('now-updated').textContent];",
    )
    .await;
    let start_before = before[0].as_i64().expect("lastRecordStart");
    let shown = wait_for(
        &client,
        "a newer record in Now without a reload",
        &format!(
            "const w = window.weatherd;
             return window.__sameDocument === true && w.lastRecordStart > {start_before} && w.updates > 0
                 && document.getElementById('now-updated').textContent !== {}
                 && [w.lastRecordStart, document.getElementById('now-temperature').textContent];",
            before[1]
        ),
        Duration::from_secs(60),
    )
    .await;
    let shown_start = shown[0].as_i64().unwrap();
    let api = station.get(&format!(
        "/api/v1/records?from={shown_start}&to={}&every=raw",
        shown_start + 1
    ));
    let temperature = api["values"]["temperature_c"][0]
        .as_f64()
        .expect("temperature of the new record");
    let text = shown[1].as_str().unwrap();
    let on_page: f64 = text
        .split('\u{202f}')
        .next()
        .unwrap()
        .parse()
        .unwrap_or_else(|_| panic!("temperature shown as {text:?}"));
    assert!(
        (on_page - temperature).abs() <= 0.051,
        "Now shows {text} for a record of {temperature} °C"
    );

    if let Ok(path) = std::env::var("WEATHERD_SCREENSHOT") {
        client.set_window_size(1280, 1700).await.expect("resize");
        js(&client, "window.scrollTo(0, 0); return true;").await;
        tokio::time::sleep(Duration::from_millis(800)).await; // the plots follow the new width
        let png = client.screenshot().await.expect("screenshot");
        std::fs::write(&path, png).unwrap_or_else(|e| panic!("write {path}: {e}"));
        println!("screenshot written to {path}");
    }

    // The other ranges too: each plot still equals the API's answer to its request
    // (raw records for 7 days, hourly rows for 30 days and a year, downsampled by the
    // server to the page's point budget, with the days before the station began as gaps).
    for range in ["7d", "30d", "1y", "24h"] {
        js(
            &client,
            &format!("document.querySelector('#plot-ranges button[data-range=\"{range}\"]').click(); return true;"),
        )
        .await;
        wait_for(
            &client,
            &format!("the {range} plots"),
            &format!("return window.weatherd.plotRange === '{range}';"),
            Duration::from_secs(60),
        )
        .await;
        let mut equal = None;
        for _ in 0..20 {
            // Longer ranges follow new records only every few minutes: reload now, so
            // the plots end at the newest record as the API's answer does.
            let loads = js(
                &client,
                "window.weatherd.reloadPlots(); return window.weatherd.plotLoads;",
            )
            .await;
            wait_for(
                &client,
                &format!("the {range} plots to reload"),
                &format!("return window.weatherd.plotLoads > {loads};"),
                Duration::from_secs(60),
            )
            .await;
            equal = plots_equal_the_api(&client, &station).await;
            if equal.is_some() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
        assert!(
            equal.is_some(),
            "records kept arriving while comparing the {range} plots"
        );
    }

    // The wind rose, climate, records and health load without a problem shown.
    wait_for_sections(&client).await;
    let problems = js(
        &client,
        "return Array.from(document.querySelectorAll('.problem')).map((e) => e.textContent);",
    )
    .await;
    assert_eq!(problems, serde_json::json!([]), "sections report problems");
    let rose_total = js(
        &client,
        "return window.weatherd.windrose && window.weatherd.windrose.total;",
    )
    .await;
    assert!(
        rose_total.as_u64().unwrap_or(0) > 0,
        "the wind rose counted no records: {rose_total}"
    );

    // No errors: none caught by the page's hooks, none in the browser's log (console,
    // failed loads, Content-Security-Policy violations).
    let errors = js(&client, "return window.weatherd.errors;").await;
    assert_eq!(errors, serde_json::json!([]), "the page caught errors");
    assert_eq!(
        browser_errors(&client).await,
        Vec::<String>::new(),
        "the browser logged errors"
    );
    client.close().await.expect("close the desktop session");

    // --- a 375-px phone --------------------------------------------------------------
    let phone = driver.session(Some(375)).await;
    open_page(&phone, &station.url).await;
    wait_for_sections(&phone).await;
    let widths = js(
        &phone,
        "return [document.documentElement.scrollWidth, window.innerWidth];",
    )
    .await;
    assert_eq!(widths[1], 375, "the emulated phone's viewport");
    assert!(
        widths[0].as_u64() <= widths[1].as_u64(),
        "horizontal scrolling at 375 px: the page is {} px wide",
        widths[0]
    );
    assert_eq!(
        js(&phone, "return window.weatherd.errors;").await,
        serde_json::json!([])
    );
    assert_eq!(
        browser_errors(&phone).await,
        Vec::<String>::new(),
        "the phone's browser logged errors"
    );
    phone.close().await.expect("close the phone session");
}
