//! A real mosquitto broker on a free loopback port, owned by one test (or the bench):
//! started with a generated config, killed when dropped.
//!
//! Used by `tests/upload_mqtt.rs` and `benches/upload_mqtt.rs`.

use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Where to find mosquitto: `$MOSQUITTO`, then `PATH`, then Debian's `/usr/sbin`.
pub fn binary() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("MOSQUITTO") {
        return Some(PathBuf::from(p));
    }
    let mut dirs: Vec<PathBuf> = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).collect())
        .unwrap_or_default();
    dirs.extend(["/usr/sbin", "/usr/local/sbin"].map(PathBuf::from));
    dirs.into_iter()
        .map(|d| d.join("mosquitto"))
        .find(|p| p.is_file())
}

/// A mosquitto binary, or a panic that says how to get one: a test that needs a broker
/// must never pass without one.
pub fn require_binary() -> PathBuf {
    binary().unwrap_or_else(|| {
        panic!(
            "mosquitto not found (looked at $MOSQUITTO, PATH and /usr/sbin): the MQTT tests \
             need a real broker; install it with `apt-get install mosquitto`"
        )
    })
}

/// A loopback port nothing listens on, never the same one twice in this process (tests
/// run in parallel, and two brokers on one port would share clients).
pub fn free_port() -> u16 {
    static GIVEN: Mutex<Vec<u16>> = Mutex::new(Vec::new());
    let mut given = GIVEN.lock().unwrap_or_else(|e| e.into_inner());
    loop {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind a free loopback port");
        let port = listener.local_addr().expect("local address").port();
        if !given.contains(&port) {
            given.push(port);
            return port;
        }
    }
}

pub struct Mosquitto {
    binary: PathBuf,
    pub dir: tempfile::TempDir,
    /// The plain listener.
    pub port: u16,
    /// Config lines added after the plain listener (auth, more listeners).
    extra: String,
    /// Ports of extra listeners, also waited for at start.
    extra_ports: Vec<u16>,
    child: Option<Child>,
}

impl Mosquitto {
    /// Anonymous access on one plain listener.
    pub fn start() -> Mosquitto {
        Mosquitto::start_with(|_dir| (String::new(), Vec::new()))
    }

    /// `extra(dir)` returns extra config lines (may refer to files it writes in `dir`)
    /// and the ports of any extra listeners.
    pub fn start_with(extra: impl FnOnce(&Path) -> (String, Vec<u16>)) -> Mosquitto {
        let binary = require_binary();
        let dir = tempfile::tempdir().expect("temp dir for mosquitto");
        let (extra, extra_ports) = extra(dir.path());
        let mut m = Mosquitto {
            binary,
            dir,
            port: free_port(),
            extra,
            extra_ports,
            child: None,
        };
        m.launch();
        m
    }

    fn config(&self) -> String {
        let mut c = String::new();
        // Run as root, mosquitto drops to its own user and then cannot read our files.
        // SAFETY: geteuid has no preconditions.
        if unsafe { libc::geteuid() } == 0 {
            c.push_str("user root\n");
        }
        c.push_str("persistence false\nlog_dest stderr\nlog_type error\nlog_type warning\n");
        c.push_str(&format!("listener {} 127.0.0.1\n", self.port));
        if !self.extra.contains("allow_anonymous") {
            c.push_str("allow_anonymous true\n");
        }
        c.push_str(&self.extra);
        c
    }

    fn launch(&mut self) {
        let conf = self.dir.path().join("mosquitto.conf");
        std::fs::write(&conf, self.config()).expect("write mosquitto.conf");
        let log = std::fs::File::create(self.dir.path().join("mosquitto.log")).expect("log");
        let child = Command::new(&self.binary)
            .arg("-c")
            .arg(&conf)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", self.binary.display()));
        self.child = Some(child);
        let ports: Vec<u16> = std::iter::once(self.port)
            .chain(self.extra_ports.iter().copied())
            .collect();
        for port in ports {
            self.wait_listening(port);
        }
        // Listening, but is it ours? A broker that failed to bind has exited by now.
        std::thread::sleep(Duration::from_millis(50));
        if let Some(child) = self.child.as_mut() {
            if let Ok(Some(status)) = child.try_wait() {
                panic!("mosquitto exited ({status}) at start: {}", self.log());
            }
        }
    }

    fn wait_listening(&mut self, port: u16) {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return;
            }
            if let Some(child) = self.child.as_mut() {
                if let Ok(Some(status)) = child.try_wait() {
                    panic!("mosquitto exited ({status}) at start: {}", self.log());
                }
            }
            if Instant::now() > deadline {
                panic!("mosquitto is not listening on port {port}: {}", self.log());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("mosquitto.log")).unwrap_or_default()
    }

    /// SIGKILL: the broker vanishes without a word, like a crashed or unplugged server.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts again on the same ports with the same config (no persisted state).
    pub fn restart(&mut self) {
        self.kill();
        self.launch();
    }

    fn signal(&self, sig: libc::c_int) {
        if let Some(child) = &self.child {
            // SAFETY: kill() on our own child's pid, which we have not reaped yet.
            let rc = unsafe { libc::kill(child.id() as libc::pid_t, sig) };
            assert_eq!(rc, 0, "signal {sig} to mosquitto");
        }
    }

    /// SIGSTOP: connections stay open but nothing is answered, like a hung server.
    pub fn freeze(&self) {
        self.signal(libc::SIGSTOP);
    }

    pub fn thaw(&self) {
        self.signal(libc::SIGCONT);
    }
}

impl Drop for Mosquitto {
    fn drop(&mut self) {
        self.kill();
    }
}
