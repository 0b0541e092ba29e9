//! Real time-series servers for the influxdb destination's tests and the fleet
//! benchmark: Debian's `victoria-metrics` and `influxd` (InfluxDB 1.x), each started on
//! free loopback ports with a temporary data directory, stopped and started again on
//! the same ports and data (an outage), killed when dropped.
//!
//! Uses `mosquitto::free_port` from the same kit.

#![allow(dead_code)]

use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Which server.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    VictoriaMetrics,
    /// InfluxDB 1.x with authentication on.
    Influx1,
}

/// The user `Influx1` is set up with (an admin, created on first start).
pub const INFLUX_USER: &str = "weather";
pub const INFLUX_PASSWORD: &str = "s3cret pass:word";
pub const INFLUX_DB: &str = "weather";

fn find(names: &[&str], env: &str) -> Option<PathBuf> {
    if let Some(p) = std::env::var_os(env) {
        return Some(PathBuf::from(p));
    }
    let mut dirs: Vec<PathBuf> = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).collect())
        .unwrap_or_default();
    dirs.extend(["/usr/bin", "/usr/sbin", "/usr/local/bin"].map(PathBuf::from));
    dirs.iter()
        .flat_map(|d| names.iter().map(move |n| d.join(n)))
        .find(|p| p.is_file())
}

/// The server's binary, or a panic that says how to get it: these tests never pass
/// without the real server.
pub fn require_binary(kind: Kind) -> PathBuf {
    let (names, env, package): (&[&str], &str, &str) = match kind {
        Kind::VictoriaMetrics => (
            &["victoria-metrics"],
            "VICTORIA_METRICS",
            "victoria-metrics",
        ),
        Kind::Influx1 => (&["influxd"], "INFLUXD", "influxdb"),
    };
    find(names, env).unwrap_or_else(|| {
        panic!(
            "{} not found (looked at ${env}, PATH, /usr/bin, /usr/sbin): the influxdb destination's \
             tests need the real server; install it with `apt-get install {package}` \
             (scripts/test does)",
            names[0]
        )
    })
}

pub struct Tsdb {
    pub kind: Kind,
    binary: PathBuf,
    pub dir: tempfile::TempDir,
    pub port: u16,
    /// InfluxDB's second (RPC) port, unused but bound.
    rpc_port: u16,
    child: Option<Child>,
}

impl Tsdb {
    pub fn start(kind: Kind) -> Tsdb {
        let binary = require_binary(kind);
        let dir = tempfile::tempdir().expect("temp dir for the server");
        let mut s = Tsdb {
            kind,
            binary,
            dir,
            port: super::mosquitto::free_port(),
            rpc_port: super::mosquitto::free_port(),
            child: None,
        };
        s.launch();
        if kind == Kind::Influx1 {
            // With auth on and no user yet, InfluxDB accepts exactly this: the first
            // admin. Then the database, as that admin.
            let q = format!(
                "CREATE USER \"{INFLUX_USER}\" WITH PASSWORD '{}' WITH ALL PRIVILEGES",
                INFLUX_PASSWORD.replace('\'', "\\'")
            );
            s.influx_query(&q, None);
            s.influx_query(&format!("CREATE DATABASE \"{INFLUX_DB}\""), None);
        }
        s
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    fn log_path(&self) -> PathBuf {
        self.dir.path().join("server.log")
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.log_path()).unwrap_or_default()
    }

    fn command(&self) -> Command {
        let data = self.dir.path().join("data");
        match self.kind {
            Kind::VictoriaMetrics => {
                let mut c = Command::new(&self.binary);
                c.arg(format!("-storageDataPath={}", data.display()))
                    .arg(format!("-httpListenAddr=127.0.0.1:{}", self.port))
                    // Simulated records lie in the past; the default keeps one month.
                    .arg("-retentionPeriod=100y")
                    // One sample per series and millisecond: a re-sent point replaces
                    // the first instead of being kept twice (VictoriaMetrics keeps
                    // duplicates without this; docs/network.md says so).
                    .arg("-dedup.minScrapeInterval=1ms")
                    .arg("-loggerLevel=ERROR");
                c
            }
            Kind::Influx1 => {
                let conf = self.dir.path().join("influxdb.conf");
                std::fs::write(&conf, influx_config(&data, self.port, self.rpc_port))
                    .expect("write influxdb.conf");
                let mut c = Command::new(&self.binary);
                c.arg("-config").arg(conf);
                c
            }
        }
    }

    fn launch(&mut self) {
        let log = std::fs::File::create(self.log_path()).expect("server log");
        let child = self
            .command()
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log"))
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", self.binary.display()));
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if TcpStream::connect(("127.0.0.1", self.port)).is_ok() && self.ping() {
                return;
            }
            if let Some(Ok(Some(status))) = self.child.as_mut().map(Child::try_wait) {
                panic!("{:?} exited ({status}) at start: {}", self.kind, self.log());
            }
            assert!(
                Instant::now() < deadline,
                "{:?} is not answering on port {}: {}",
                self.kind,
                self.port,
                self.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn ping(&self) -> bool {
        let path = match self.kind {
            Kind::VictoriaMetrics => "/health",
            Kind::Influx1 => "/ping",
        };
        ureq::get(&format!("{}{path}", self.url()))
            .call()
            .is_ok_and(|r| r.status().is_success())
    }

    /// SIGTERM, and wait for the exit: an outage (a restart, an upgrade). Not SIGKILL:
    /// VictoriaMetrics acknowledges a write before the samples reach disk (it buffers
    /// them for a second or so), so a killed VictoriaMetrics loses acknowledged data,
    /// which no client can prevent (docs/network.md says so).
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            // SAFETY: kill() on our own child's pid, not reaped yet.
            unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGTERM) };
            let deadline = Instant::now() + Duration::from_secs(30);
            while child.try_wait().ok().flatten().is_none() && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(20));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Back on the same port with the same data.
    pub fn restart(&mut self) {
        self.stop();
        self.launch();
    }

    /// An InfluxQL statement (as the test's admin once the user exists); the JSON answer.
    pub fn influx_query(&self, q: &str, db: Option<&str>) -> serde_json::Value {
        let mut req = ureq::post(&format!("{}/query", self.url()));
        let mut form = vec![("q", q.to_string()), ("epoch", "s".to_string())];
        if let Some(db) = db {
            form.push(("db", db.to_string()));
        }
        if !q.starts_with("CREATE USER") {
            use base64::Engine;
            let pair = format!("{INFLUX_USER}:{INFLUX_PASSWORD}");
            let basic = base64::engine::general_purpose::STANDARD.encode(pair);
            req = req.header("Authorization", &format!("Basic {basic}"));
        }
        req = req.header("Accept", "application/json");
        let mut r = req
            .send_form(form)
            .unwrap_or_else(|e| panic!("InfluxQL `{q}`: {e}"));
        let text = r.body_mut().read_to_string().expect("query answer");
        let v: serde_json::Value = serde_json::from_str(&text).expect("query JSON");
        assert!(
            v["results"][0]["error"].is_null(),
            "InfluxQL `{q}` failed: {text}"
        );
        v
    }

    /// Every sample VictoriaMetrics holds for metrics matching `selector`, as
    /// `(labels, metric name, [(timestamp ms, value)])`.
    pub fn vm_export(&self, selector: &str) -> Vec<(serde_json::Value, Vec<(i64, f64)>)> {
        // Make what was just written searchable.
        let _ = ureq::get(&format!("{}/internal/force_flush", self.url())).call();
        let mut r = ureq::post(&format!("{}/api/v1/export", self.url()))
            .send_form([("match[]", selector), ("start", "0")])
            .expect("export");
        let text = r
            .body_mut()
            .with_config()
            .limit(1 << 30)
            .read_to_string()
            .expect("export body");
        text.lines()
            .filter(|l| !l.trim().is_empty())
            .map(|l| {
                let v: serde_json::Value = serde_json::from_str(l).expect("export line");
                let ts = v["timestamps"].as_array().expect("timestamps");
                let vals = v["values"].as_array().expect("values");
                let points = ts
                    .iter()
                    .zip(vals)
                    .map(|(t, x)| (t.as_i64().unwrap(), x.as_f64().unwrap()))
                    .collect();
                (v["metric"].clone(), points)
            })
            .collect()
    }
}

impl Drop for Tsdb {
    fn drop(&mut self) {
        self.stop();
    }
}

fn influx_config(data: &Path, port: u16, rpc_port: u16) -> String {
    format!(
        "reporting-disabled = true\n\
         bind-address = \"127.0.0.1:{rpc_port}\"\n\
         [meta]\n  dir = \"{d}/meta\"\n\
         [data]\n  dir = \"{d}/data\"\n  wal-dir = \"{d}/wal\"\n  query-log-enabled = false\n\
         [http]\n  bind-address = \"127.0.0.1:{port}\"\n  auth-enabled = true\n  log-enabled = false\n\
         [monitor]\n  store-enabled = false\n\
         [continuous_queries]\n  enabled = false\n",
        d = data.display()
    )
}
