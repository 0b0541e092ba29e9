//! A simulated station serving the web page, and a headless Chromium driven through
//! chromedriver: shared by tests/web_browser.rs and benches/web_page.rs.
//!
//! Both are real processes: the `weatherd` binary under test and Debian's `chromium`
//! and `chromedriver` (scripts/test installs them when missing). Nothing is skipped:
//! a missing browser is a loud failure naming the packages to install.
#![allow(dead_code)]

use fantoccini::{Client, ClientBuilder};
use serde_json::{json, Value};
use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

pub const CHROMIUM: &str = "/usr/bin/chromium";

/// The first of `names` found in PATH or in /usr/bin, else a panic naming the package.
fn find_program(names: &[&str], package: &str) -> PathBuf {
    let path = std::env::var_os("PATH").unwrap_or_default();
    for dir in std::env::split_paths(&path).chain([PathBuf::from("/usr/bin")]) {
        for name in names {
            let p = dir.join(name);
            if p.is_file() {
                return p;
            }
        }
    }
    panic!(
        "{} not found: the browser test needs Debian's `{package}` package \
         (scripts/test installs it: apt-get install --no-install-recommends chromium chromium-driver)",
        names.join(" or ")
    );
}

pub fn chromium() -> PathBuf {
    if Path::new(CHROMIUM).is_file() {
        return PathBuf::from(CHROMIUM);
    }
    find_program(&["chromium", "chromium-browser"], "chromium")
}

/// A port that was free a moment ago (chromedriver takes a port number, not a socket).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("cannot bind 127.0.0.1:0")
        .port()
}

/// The example config with the database and the web listener of a test: the page on
/// an ephemeral port, which the daemon logs as a URL.
pub fn write_config(dir: &Path) -> PathBuf {
    let example = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/weatherd.example.toml"
    ))
    .expect("read weatherd.example.toml");
    let mut out = String::new();
    let mut in_web = false;
    let mut wrote_listen = false;
    for line in example.lines() {
        let trimmed = line.trim();
        if trimmed.starts_with('[') {
            if in_web && !wrote_listen {
                out.push_str("listen = \"127.0.0.1:0\"\n");
                wrote_listen = true;
            }
            in_web = trimmed == "[web]";
        }
        // Any listen/enabled the example sets in [web] is replaced by the test's.
        if in_web && (trimmed.starts_with("listen") || trimmed.starts_with("enabled")) {
            continue;
        }
        out.push_str(line);
        out.push('\n');
    }
    if in_web && !wrote_listen {
        out.push_str("listen = \"127.0.0.1:0\"\n");
        wrote_listen = true;
    }
    if !wrote_listen {
        out.push_str("\n[web]\nlisten = \"127.0.0.1:0\"\n");
    }
    let path = dir.join("weatherd.toml");
    std::fs::write(&path, out).expect("write the test config");
    path
}

/// A `weatherd run --simulate` process; killed when dropped.
pub struct Station {
    child: Child,
    pub url: String,
    log: mpsc::Receiver<String>,
}

impl Station {
    /// Fills `db` with simulated records from `start` for `span` (e.g. "62h"), at
    /// `--speed max`.
    pub fn prefill(config: &Path, db: &Path, start: &str, span: &str) {
        let out = Command::new(env!("CARGO_BIN_EXE_weatherd"))
            .args([
                "run",
                "--simulate",
                "--speed",
                "max",
                "--seed",
                "7",
                "--start",
                start,
            ])
            .args(["--duration", span])
            .arg("--config")
            .arg(config)
            .arg("--db")
            .arg(db)
            .stdin(Stdio::null())
            .output()
            .expect("run weatherd to pre-fill the database");
        assert!(
            out.status.success(),
            "pre-filling {span} failed: {}\n{}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// Starts a live simulated station at `speed` from `start` on `db`, and waits for
    /// the URL of its page in its log. The seed is the pre-fill's: the simulated weather
    /// is a function of (seed, time), so the live records continue the pre-filled ones.
    pub fn start(config: &Path, db: &Path, start: &str, speed: u32) -> Station {
        let mut child = Command::new(env!("CARGO_BIN_EXE_weatherd"))
            .args(["run", "--simulate", "--seed", "7", "--start", start])
            .arg("--speed")
            .arg(speed.to_string())
            .arg("--config")
            .arg(config)
            .arg("--db")
            .arg(db)
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start weatherd");
        let (tx, log) = mpsc::channel();
        for pipe in [
            Box::new(child.stdout.take().unwrap()) as Box<dyn std::io::Read + Send>,
            Box::new(child.stderr.take().unwrap()),
        ] {
            let tx = tx.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(pipe).lines().map_while(Result::ok) {
                    if tx.send(line).is_err() {
                        break;
                    }
                }
            });
        }
        let deadline = Instant::now() + Duration::from_secs(60);
        let mut seen = Vec::new();
        while Instant::now() < deadline {
            match log.recv_timeout(Duration::from_millis(200)) {
                Ok(line) => {
                    if let Some(url) = page_url(&line) {
                        return Station { child, url, log };
                    }
                    seen.push(line);
                }
                Err(mpsc::RecvTimeoutError::Timeout) => {
                    if let Ok(Some(status)) = child.try_wait() {
                        panic!(
                            "weatherd exited ({status}) before serving the page:\n{}",
                            seen.join("\n")
                        );
                    }
                }
                Err(mpsc::RecvTimeoutError::Disconnected) => break,
            }
        }
        let _ = child.kill();
        let _ = child.wait();
        panic!(
            "weatherd did not log the page's URL within 60 s:\n{}",
            seen.join("\n")
        );
    }

    pub fn get(&self, path_and_query: &str) -> Value {
        let url = format!("{}{}", self.url.trim_end_matches('/'), path_and_query);
        let body = ureq::get(&url)
            .call()
            .unwrap_or_else(|e| panic!("GET {url}: {e}"))
            .body_mut()
            .read_to_string()
            .unwrap_or_else(|e| panic!("GET {url}: reading the body: {e}"));
        serde_json::from_str(&body).unwrap_or_else(|e| panic!("GET {url}: not JSON ({e}): {body}"))
    }

    /// Waits until the station has stored at least one record.
    pub fn wait_for_records(&self) {
        let deadline = Instant::now() + Duration::from_secs(60);
        while Instant::now() < deadline {
            if !self.get("/api/v1/latest")["record"].is_null() {
                return;
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        panic!("/api/v1/latest has no record after 60 s");
    }
}

/// The http://127.0.0.1:PORT/ URL in a log line of the daemon.
fn page_url(line: &str) -> Option<String> {
    let at = line.find("http://127.0.0.1:")?;
    let rest = &line[at..];
    let end = rest[17..]
        .find(|c: char| !c.is_ascii_digit())
        .map_or(rest.len(), |n| n + 17);
    (end > 17).then(|| format!("{}/", &rest[..end]))
}

impl Drop for Station {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A chromedriver process on a free port; killed when dropped.
pub struct Chromedriver {
    child: Child,
    pub port: u16,
}

impl Chromedriver {
    pub fn start() -> Chromedriver {
        let program = find_program(&["chromedriver"], "chromium-driver");
        chromium(); // fail early, naming the package, if the browser itself is missing
        let port = free_port();
        let child = Command::new(&program)
            .arg(format!("--port={port}"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", program.display()));
        let mut driver = Chromedriver { child, port };
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return driver;
            }
            if let Ok(Some(status)) = driver.child.try_wait() {
                panic!("chromedriver exited ({status}) on start");
            }
            assert!(
                Instant::now() < deadline,
                "chromedriver did not listen on port {port} within 30 s"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// A new headless Chromium session. `mobile_width`: emulate a phone that wide
    /// (a desktop window cannot be narrower than 500 px in headless Chromium).
    pub async fn session(&self, mobile_width: Option<u32>) -> Client {
        let mut chrome = json!({
            "binary": chromium(),
            "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                     "--window-size=1280,900", "--hide-scrollbars"],
        });
        if let Some(width) = mobile_width {
            chrome["mobileEmulation"] =
                json!({"deviceMetrics": {"width": width, "height": 800, "pixelRatio": 1.0}});
        }
        let mut caps = serde_json::Map::new();
        caps.insert("browserName".into(), json!("chrome"));
        caps.insert("goog:chromeOptions".into(), chrome);
        caps.insert("goog:loggingPrefs".into(), json!({"browser": "ALL"}));
        ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
            .capabilities(caps)
            .connect(&format!("http://127.0.0.1:{}", self.port))
            .await
            .unwrap_or_else(|e| panic!("cannot start a headless chromium session: {e}"))
    }
}

impl Drop for Chromedriver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs `script` (a function body) in the page and returns its value.
pub async fn js(client: &Client, script: &str) -> Value {
    client
        .execute(script, vec![])
        .await
        .unwrap_or_else(|e| panic!("executing script failed: {e}\n{script}"))
}

/// Waits until `script` returns something truthy in the page; returns it.
pub async fn wait_for(client: &Client, what: &str, script: &str, timeout: Duration) -> Value {
    let deadline = Instant::now() + timeout;
    loop {
        let v = js(client, script).await;
        let truthy =
            !matches!(v, Value::Null | Value::Bool(false)) && v != json!(0) && v != json!("");
        if truthy {
            return v;
        }
        if Instant::now() > deadline {
            let errors = js(
                client,
                "return window.weatherd ? window.weatherd.errors : 'no window.weatherd';",
            )
            .await;
            panic!("timed out after {timeout:?} waiting for {what}; page errors: {errors}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// chromedriver's browser log (console messages, failed loads, CSP violations) since
/// the last call: chromedriver's own extension of WebDriver, `POST /session/{id}/se/log`.
#[derive(Debug)]
struct BrowserLog;

impl fantoccini::wd::WebDriverCompatibleCommand for BrowserLog {
    fn endpoint(
        &self,
        base_url: &url::Url,
        session_id: Option<&str>,
    ) -> Result<url::Url, url::ParseError> {
        base_url.join(&format!(
            "session/{}/se/log",
            session_id.unwrap_or_default()
        ))
    }

    fn method_and_body(&self, _: &url::Url) -> (http::Method, Option<String>) {
        (http::Method::POST, Some(r#"{"type":"browser"}"#.into()))
    }
}

/// Browser log entries at level SEVERE (errors), as "source: message".
pub async fn browser_errors(client: &Client) -> Vec<String> {
    let log = client
        .issue_cmd(BrowserLog)
        .await
        .unwrap_or_else(|e| panic!("reading chromedriver's browser log: {e}"));
    log.as_array()
        .into_iter()
        .flatten()
        .filter(|e| e["level"] == "SEVERE")
        .map(|e| format!("{}: {}", e["source"], e["message"]))
        .collect()
}

/// Navigates to the page and waits until its plots are drawn; returns
/// milliseconds from navigation to the first plot drawn (the page's own mark).
pub async fn open_page(client: &Client, url: &str) -> f64 {
    client
        .goto(url)
        .await
        .unwrap_or_else(|e| panic!("navigate to {url}: {e}"));
    let first = wait_for(
        client,
        "the first plot to be drawn",
        "return window.weatherd && window.weatherd.plotBasis !== null && window.weatherd.marks.firstPlot;",
        Duration::from_secs(60),
    )
    .await;
    first.as_f64().expect("firstPlot is a number")
}
