//! An in-process HTTP receiver for upload tests and the benchmark: decompresses gzip,
//! checks the bearer token, drops repeats by idempotency key and by record id (as a
//! real server should), and injects faults from a script.

use flate2::read::GzDecoder;
use std::collections::{BTreeMap, HashSet};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// What the server does with one request.
#[derive(Clone, Debug, PartialEq)]
pub enum Fault {
    /// Store the records and answer 200.
    None,
    /// Answer with this status (and `Retry-After`), storing nothing.
    Status(u16, Option<&'static str>),
    /// Close the connection without answering, storing nothing.
    Close,
    /// Store the records, then never answer (until the client gives up).
    StoreThenHang,
    /// Store the records, answer 200 but cut the body half-way.
    StoreThenCut,
    /// Wait, then store and answer 200.
    Slow(Duration),
    /// Store the records, then answer with this status (a server that failed after
    /// committing).
    StoreThenFail(u16),
    /// Store the records, then close the connection without answering.
    StoreThenClose,
}

type Script = Box<dyn FnMut(u64) -> Fault + Send>;

#[derive(Default)]
pub struct Received {
    /// Record ids in the order they were first stored.
    pub ids: Vec<i64>,
    /// The record documents by id (first copy).
    pub records: BTreeMap<i64, serde_json::Value>,
    /// Records that arrived again and were dropped.
    pub duplicates: u64,
    /// Sizes of the batches that brought new records, in order.
    pub batches: Vec<usize>,
    pub keys: HashSet<String>,
    /// How many times each record was stored under a new idempotency key (with
    /// `start_key_only`, every such copy is kept: 2 means stored twice).
    pub copies: BTreeMap<i64, u32>,
    /// Requests refused for a wrong or missing token.
    pub unauthorized: u64,
    pub bad_requests: Vec<String>,
    pub station: Option<String>,
}

pub struct Server {
    pub addr: SocketAddr,
    state: Arc<Shared>,
}

struct Shared {
    received: Mutex<Received>,
    script: Mutex<Script>,
    token: Option<String>,
    requests: AtomicU64,
    /// While true, the port refuses connections (the listener is closed).
    down: AtomicBool,
    stop: AtomicBool,
    /// Drops repeats by idempotency key only, as many real servers do.
    key_only: bool,
}

impl Server {
    /// Starts a server that expects `Authorization: Bearer <token>` when `token` is set.
    pub fn start(token: Option<&str>) -> Server {
        Self::start_with(token, false)
    }

    /// A server that drops repeats by idempotency key only: a record that comes again
    /// under a new key is stored again (counted in `Received::copies`).
    pub fn start_key_only(token: Option<&str>) -> Server {
        Self::start_with(token, true)
    }

    fn start_with(token: Option<&str>, key_only: bool) -> Server {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = listener.local_addr().expect("addr");
        let state = Arc::new(Shared {
            received: Mutex::new(Received::default()),
            script: Mutex::new(Box::new(|_| Fault::None)),
            token: token.map(str::to_string),
            requests: AtomicU64::new(0),
            down: AtomicBool::new(false),
            stop: AtomicBool::new(false),
            key_only,
        });
        let s = state.clone();
        std::thread::spawn(move || accept_loop(listener, addr, s));
        Server { addr, state }
    }

    pub fn url(&self) -> String {
        format!("http://{}/ingest", self.addr)
    }

    /// Sets the fault script: request number (from 0) → what to do.
    pub fn script(&self, f: impl FnMut(u64) -> Fault + Send + 'static) {
        *self.state.script.lock().unwrap() = Box::new(f);
    }

    /// Takes the server off the network (connections refused) or back on.
    pub fn set_down(&self, down: bool) {
        self.state.down.store(down, Ordering::SeqCst);
    }

    pub fn requests(&self) -> u64 {
        self.state.requests.load(Ordering::SeqCst)
    }

    pub fn with<T>(&self, f: impl FnOnce(&Received) -> T) -> T {
        f(&self.state.received.lock().unwrap())
    }

    pub fn count(&self) -> usize {
        self.with(|r| r.ids.len())
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.state.stop.store(true, Ordering::SeqCst);
    }
}

fn accept_loop(listener: TcpListener, addr: SocketAddr, state: Arc<Shared>) {
    let mut listener = Some(listener);
    while !state.stop.load(Ordering::SeqCst) {
        let down = state.down.load(Ordering::SeqCst);
        match (&listener, down) {
            (Some(_), true) => listener = None, // closing the socket refuses connections
            (None, false) => match TcpListener::bind(addr) {
                Ok(l) => listener = Some(l),
                Err(_) => {
                    std::thread::sleep(Duration::from_millis(5));
                    continue;
                }
            },
            _ => {}
        }
        let Some(l) = &listener else {
            std::thread::sleep(Duration::from_millis(5));
            continue;
        };
        l.set_nonblocking(true).ok();
        match l.accept() {
            Ok((stream, _)) => {
                stream.set_nonblocking(false).ok();
                let s = state.clone();
                std::thread::spawn(move || serve(stream, s));
            }
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                std::thread::sleep(Duration::from_millis(1));
            }
            Err(_) => std::thread::sleep(Duration::from_millis(5)),
        }
    }
}

/// Serves requests on one keep-alive connection.
fn serve(stream: TcpStream, state: Arc<Shared>) {
    stream.set_read_timeout(Some(Duration::from_secs(30))).ok();
    // Answers go out in one write without Nagle's delay, as a real server's would.
    stream.set_nodelay(true).ok();
    let mut reader = BufReader::new(stream.try_clone().expect("clone"));
    let mut out = stream;
    loop {
        let mut line = String::new();
        match reader.read_line(&mut line) {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
        let mut headers: BTreeMap<String, String> = BTreeMap::new();
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
        let len: usize = headers
            .get("content-length")
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        let mut body = vec![0; len];
        if reader.read_exact(&mut body).is_err() {
            return;
        }
        let n = state.requests.fetch_add(1, Ordering::SeqCst);
        let fault = (state.script.lock().unwrap())(n);
        match fault {
            Fault::Close => return,
            Fault::Status(code, retry_after) => {
                let extra = retry_after
                    .map(|r| format!("Retry-After: {r}\r\n"))
                    .unwrap_or_default();
                let msg = format!("injected {code}");
                let _ = out.write_all(
                    format!(
                        "HTTP/1.1 {code} Injected\r\n{extra}Content-Length: {}\r\n\r\n{msg}",
                        msg.len()
                    )
                    .as_bytes(),
                );
                continue;
            }
            Fault::Slow(d) => std::thread::sleep(d),
            _ => {}
        }
        let (code, answer) = accept(&state, &headers, &body);
        match fault {
            Fault::StoreThenHang => {
                std::thread::sleep(Duration::from_secs(5));
                return;
            }
            Fault::StoreThenClose => return,
            Fault::StoreThenFail(code) => {
                let _ = write!(out, "HTTP/1.1 {code} Failed\r\nContent-Length: 0\r\n\r\n");
                let _ = out.flush();
                continue;
            }
            Fault::StoreThenCut => {
                let _ = write!(
                    out,
                    "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n{{\"stored\":"
                );
                let _ = out.flush();
                return;
            }
            _ => {}
        }
        let _ = out.write_all(
            format!(
                "HTTP/1.1 {code} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{answer}",
                answer.len()
            )
            .as_bytes(),
        );
        let _ = out.flush();
    }
}

/// Checks and stores one batch; returns the status and body to answer with.
fn accept(state: &Shared, headers: &BTreeMap<String, String>, body: &[u8]) -> (u16, String) {
    let mut r = state.received.lock().unwrap();
    if let Some(token) = &state.token {
        if headers.get("authorization") != Some(&format!("Bearer {token}")) {
            r.unauthorized += 1;
            return (401, "{\"error\":\"bad token\"}".into());
        }
    }
    if headers.get("content-encoding").map(String::as_str) != Some("gzip") {
        r.bad_requests.push("not gzip".into());
        return (415, String::new());
    }
    let mut json = Vec::new();
    if GzDecoder::new(body).read_to_end(&mut json).is_err() {
        r.bad_requests.push("bad gzip".into());
        return (400, String::new());
    }
    let Ok(doc) = serde_json::from_slice::<serde_json::Value>(&json) else {
        r.bad_requests.push("bad json".into());
        return (400, String::new());
    };
    let Some(key) = headers.get("idempotency-key").cloned() else {
        r.bad_requests.push("no idempotency key".into());
        return (400, String::new());
    };
    r.station = doc["station"].as_str().map(str::to_string);
    if !r.keys.insert(key) {
        let n = doc["records"].as_array().map_or(0, |a| a.len());
        r.duplicates += n as u64;
        return (200, "{\"duplicate\":true}".into());
    }
    let mut fresh = 0;
    for rec in doc["records"].as_array().cloned().unwrap_or_default() {
        let Some(id) = rec["id"].as_i64() else {
            r.bad_requests.push("record without id".into());
            continue;
        };
        *r.copies.entry(id).or_default() += 1;
        if r.records.contains_key(&id) {
            r.duplicates += 1;
            if state.key_only {
                fresh += 1;
            }
            continue;
        }
        r.ids.push(id);
        r.records.insert(id, rec);
        fresh += 1;
    }
    if fresh > 0 {
        r.batches.push(fresh);
    }
    (200, format!("{{\"stored\":{fresh}}}"))
}
