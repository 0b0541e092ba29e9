//! The web page and the read-only JSON API, served by the daemon itself (`[web]`).
//!
//! # Shape
//!
//! - `mod.rs` (here): binding, the accept loop and its limits, the router, security
//!   headers, errors, and the bridge to the store's blocking [`Reader`].
//! - `params`: query-string parsing (times, steps, point budgets), with 400s that name
//!   the parameter. `records`: `/api/v1/records` (+ `.csv`) and server-side
//!   downsampling; `cache`: complete hours kept after a long query. `api`: the other
//!   endpoints. `assets`: the embedded page.
//!
//! # Why the station cannot be slowed down by it
//!
//! The station runs the server on a thread of its own, with its own small tokio
//! runtime, at nice 10 ([`serve_on_own_thread`]): the sampler's runtime thread and
//! blocking threads never do web work, and the kernel runs the sampler first when the
//! CPU is short. Inside the server nothing may block its runtime or grow without
//! bound:
//!
//! - SQLite calls run on `spawn_blocking`, at most [`Limits::db_concurrency`] at once
//!   (a semaphore); a request that cannot get a slot within the request timeout gets
//!   503 rather than queueing forever. The readers have their own read-only
//!   connections: in WAL mode the station's writer never waits for a reader.
//! - At most [`Limits::max_connections`] connections are open; further ones wait in
//!   the kernel's backlog. A client must send its request head within
//!   [`Limits::header_timeout`] (slowloris), and a whole request must be answered
//!   within [`Limits::request_timeout`] (except the event stream, which is idle by
//!   design and costs one connection slot and no thread).
//! - Nothing reads a request body: every route is GET/HEAD, anything else is 405.

mod api;
pub mod assets;
pub mod cache;
mod params;
mod records;

use crate::clock::Clock;
use crate::config::Config;
use crate::store::Reader;
use axum::http::{header, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Router;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::{watch, Semaphore};

pub use params::ApiError;

/// What the station tells the web server: a record was committed, the clock is (not)
/// synchronised. Cloning shares it; with no server listening it costs nothing.
#[derive(Clone, Debug)]
pub struct Live(Arc<watch::Sender<LiveState>>);

#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct LiveState {
    /// Bumped after every committed record (the SSE stream wakes on it).
    pub records_stored: u64,
    pub clock_synchronised: bool,
}

impl Default for Live {
    fn default() -> Self {
        Live::new()
    }
}

impl Live {
    pub fn new() -> Live {
        Live(Arc::new(watch::Sender::new(LiveState::default())))
    }

    /// Called by the station after the store committed a record.
    pub fn record_stored(&self) {
        self.0.send_modify(|s| s.records_stored += 1);
    }

    pub fn set_clock_synchronised(&self, synced: bool) {
        self.0.send_if_modified(|s| {
            let changed = s.clock_synchronised != synced;
            s.clock_synchronised = synced;
            changed
        });
    }

    pub fn state(&self) -> LiveState {
        *self.0.borrow()
    }

    fn subscribe(&self) -> watch::Receiver<LiveState> {
        self.0.subscribe()
    }
}

/// Resource limits of the server. The defaults suit a Pi serving a class of phones.
#[derive(Clone, Debug)]
pub struct Limits {
    /// Open connections at once (event streams included).
    pub max_connections: usize,
    /// Time a client has to send a complete request head.
    pub header_timeout: Duration,
    /// Time a request may take, from its head to its answer (not event streams).
    pub request_timeout: Duration,
    /// SQLite queries at once (each on a blocking thread with its own connection).
    pub db_concurrency: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_connections: 128,
            header_timeout: Duration::from_secs(10),
            request_timeout: Duration::from_secs(30),
            db_concurrency: 2,
        }
    }
}

/// Everything a server needs from the station.
pub struct WebContext {
    pub config: Config,
    pub db_path: PathBuf,
    /// The station's clock: "now" for `-24h`, `today`, staleness (simulated under
    /// `--simulate`).
    pub clock: Clock,
    pub live: Live,
    pub limits: Limits,
}

/// Shared by every request.
struct AppState {
    config: Config,
    db_path: PathBuf,
    clock: Clock,
    live: Live,
    limits: Limits,
    started: Instant,
    db_slots: Semaphore,
    /// Open event streams (at most half the connections).
    event_slots: Arc<Semaphore>,
    /// Idle read connections, reused so a request does not pay for opening one.
    readers: Mutex<Vec<Reader>>,
    /// Rows of complete hours (see `cache`).
    hours: Mutex<cache::HourCache>,
}

type State = Arc<AppState>;

impl AppState {
    fn now(&self) -> crate::time::Timestamp {
        self.clock.now()
    }

    fn tz(&self) -> chrono_tz::Tz {
        self.config.time_zone()
    }

    /// Runs `f` with a read-only connection on a blocking thread, at most
    /// `db_concurrency` at once.
    async fn read<T, F>(self: &Arc<Self>, f: F) -> Result<T, ApiError>
    where
        T: Send + 'static,
        F: FnOnce(&Reader, &AppState) -> Result<T, ApiError> + Send + 'static,
    {
        let permit = tokio::time::timeout(self.limits.request_timeout, self.db_slots.acquire())
            .await
            .map_err(|_| ApiError::busy())?
            .map_err(|_| ApiError::busy())?;
        let state = self.clone();
        let out = tokio::task::spawn_blocking(move || {
            nice_this_thread();
            let reader = state.readers.lock().ok().and_then(|mut r| r.pop());
            let reader = match reader {
                Some(r) => r,
                None => {
                    crate::store::Store::open_read_only(&state.db_path).map_err(ApiError::store)?
                }
            };
            let out = f(&reader, &state);
            if let Ok(mut pool) = state.readers.lock() {
                pool.push(reader);
            }
            out
        })
        .await
        .map_err(|e| ApiError::internal(format!("query task failed: {e}")))?;
        drop(permit);
        out
    }
}

/// A running server; dropping it does not stop it, [`WebServer::shutdown`] does.
pub struct WebServer {
    addr: SocketAddr,
    stop: watch::Sender<bool>,
    done: tokio::sync::oneshot::Receiver<()>,
}

impl WebServer {
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// The page's URL, as the log prints it.
    pub fn url(&self) -> String {
        let host = if self.addr.ip().is_unspecified() {
            // 0.0.0.0 is not an address to type into a browser: this machine's own
            // name reaches it from the LAN.
            hostname().unwrap_or_else(|| "localhost".into())
        } else {
            self.addr.ip().to_string()
        };
        format!("http://{host}:{}/", self.addr.port())
    }

    /// Stops accepting, closes open connections (event streams end) and waits.
    pub async fn shutdown(self) {
        let _ = self.stop.send(true);
        let _ = self.done.await;
    }
}

fn hostname() -> Option<String> {
    let name = std::fs::read_to_string("/proc/sys/kernel/hostname").ok()?;
    let name = name.trim();
    (!name.is_empty()).then(|| name.to_string())
}

/// Binds `listen` and serves on the current tokio runtime. Called by the station;
/// logs the URL, or (warn) why the page is off, and never fails the station.
pub fn start(
    config: &Config,
    db_path: &std::path::Path,
    clock: Clock,
    live: Live,
    simulated: bool,
) -> Option<WebServer> {
    if !config.web.enabled {
        tracing::info!("web page off (web.enabled = false)");
        return None;
    }
    let listen = config.web.listen_or_default(simulated);
    let ctx = WebContext {
        config: config.clone(),
        db_path: db_path.to_path_buf(),
        clock,
        live,
        limits: Limits::default(),
    };
    let bound = std::net::TcpListener::bind(listen).and_then(|l| serve_on_own_thread(l, ctx));
    match bound {
        Ok(server) => {
            tracing::info!(listen, "web page on {}", server.url());
            Some(server)
        }
        Err(e) => {
            tracing::warn!(
                listen,
                "web page off: cannot listen on {listen}: {e}. The station runs on; set \
                 web.listen to a free port (or web.enabled = false) in the config"
            );
            None
        }
    }
}

fn state_of(
    listener: &std::net::TcpListener,
    ctx: WebContext,
) -> std::io::Result<(State, SocketAddr)> {
    listener.set_nonblocking(true)?;
    let addr = listener.local_addr()?;
    let state: State = Arc::new(AppState {
        db_slots: Semaphore::new(ctx.limits.db_concurrency.max(1)),
        event_slots: Arc::new(Semaphore::new((ctx.limits.max_connections / 2).max(1))),
        config: ctx.config,
        db_path: ctx.db_path,
        clock: ctx.clock,
        live: ctx.live,
        limits: ctx.limits,
        started: Instant::now(),
        readers: Mutex::new(Vec::new()),
        hours: Mutex::new(cache::HourCache::default()),
    });
    Ok((state, addr))
}

/// Serves on an already bound listener, on the current tokio runtime (tests bind
/// 127.0.0.1:0). Must be called inside a runtime.
pub fn serve(listener: std::net::TcpListener, ctx: WebContext) -> std::io::Result<WebServer> {
    let (state, addr) = state_of(&listener, ctx)?;
    let listener = tokio::net::TcpListener::from_std(listener)?;
    let (stop, stopped) = watch::channel(false);
    let (finished, done) = tokio::sync::oneshot::channel();
    tokio::spawn(async move {
        accept_loop(listener, state, stopped).await;
        let _ = finished.send(());
    });
    Ok(WebServer { addr, stop, done })
}

/// Serves on a thread of its own with its own small runtime, at a lower CPU priority
/// (nice 10, inherited by its query threads): what the station uses. A flood of
/// requests then competes with the sampler for neither its runtime thread nor its
/// blocking threads, and the kernel runs the sampler first when the CPU is short.
/// (On the station's single-threaded runtime, a test flood of 2000 requests a second
/// on a loaded machine delayed sample ticks by up to 160 ms; on its own thread, see
/// `tests/web_load.rs`.)
pub fn serve_on_own_thread(
    listener: std::net::TcpListener,
    ctx: WebContext,
) -> std::io::Result<WebServer> {
    let (state, addr) = state_of(&listener, ctx)?;
    let (stop, stopped) = watch::channel(false);
    let (finished, done) = tokio::sync::oneshot::channel();
    std::thread::Builder::new()
        .name("weatherd-web".into())
        .spawn(move || {
            nice_this_thread();
            let runtime = match tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            {
                Ok(r) => r,
                Err(e) => {
                    tracing::warn!("web page off: cannot start its runtime: {e}");
                    return;
                }
            };
            runtime.block_on(async move {
                match tokio::net::TcpListener::from_std(listener) {
                    Ok(l) => accept_loop(l, state, stopped).await,
                    Err(e) => tracing::warn!("web page off: {e}"),
                }
            });
            let _ = finished.send(());
            // Queries still running finish on their own; nothing waits for them.
            runtime.shutdown_background();
        })?;
    Ok(WebServer { addr, stop, done })
}

async fn accept_loop(
    listener: tokio::net::TcpListener,
    state: State,
    mut stop: watch::Receiver<bool>,
) {
    use hyper_util::rt::{TokioIo, TokioTimer};
    let connections = Arc::new(Semaphore::new(state.limits.max_connections.max(1)));
    let app = router(state.clone());
    let mut tasks = tokio::task::JoinSet::new();
    loop {
        // A slot first, then accept: over the limit, clients wait in the kernel's
        // backlog instead of costing memory here.
        let permit = tokio::select! {
            _ = stop.changed() => break,
            p = connections.clone().acquire_owned() => match p { Ok(p) => p, Err(_) => break },
        };
        let (stream, _) = tokio::select! {
            _ = stop.changed() => break,
            r = listener.accept() => match r {
                Ok(s) => s,
                Err(e) => {
                    // Out of file descriptors and the like: pause rather than spin.
                    tracing::debug!("web: accept failed: {e}");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
        };
        let _ = stream.set_nodelay(true);
        let service = hyper_util::service::TowerToHyperService::new(app.clone());
        let header_timeout = state.limits.header_timeout;
        let mut stop = stop.clone();
        tasks.spawn(async move {
            let _permit = permit;
            let conn = hyper::server::conn::http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(header_timeout)
                .max_buf_size(16 * 1024)
                .serve_connection(TokioIo::new(stream), service);
            tokio::pin!(conn);
            tokio::select! {
                _ = conn.as_mut() => {}
                _ = stop.changed() => {
                    conn.as_mut().graceful_shutdown();
                    let _ = tokio::time::timeout(Duration::from_secs(2), conn).await;
                }
            }
        });
        // Reap finished connections so the set does not grow.
        while tasks.try_join_next().is_some() {}
    }
    tasks.abort_all();
    while tasks.join_next().await.is_some() {}
}

/// The routes, with the security headers, gzip and the method rule.
fn router(state: State) -> Router {
    use axum::routing::get;
    let timeout = state.limits.request_timeout;
    let api = Router::new()
        .route("/api/v1/station", get(api::station))
        .route("/api/v1/latest", get(api::latest))
        .route("/api/v1/records", get(records::records))
        .route("/api/v1/records.csv", get(records::records_csv))
        .route("/api/v1/daily", get(api::daily))
        .route("/api/v1/windrose", get(api::windrose))
        .route("/api/v1/health", get(api::health))
        .route("/api/v1/climate", get(api::climate))
        .route("/api/v1/climate/records", get(api::climate_records))
        .route("/metrics", get(api::metrics))
        .route("/", get(assets::index))
        .route("/assets/{name}", get(assets::asset))
        .layer(axum::middleware::from_fn(move |req, next| {
            with_timeout(timeout, req, next)
        }))
        // Not under the timeout: an event stream is open for as long as the page is.
        .route("/api/v1/events", get(api::events))
        .fallback(not_found)
        .with_state(state);
    api.layer(axum::middleware::from_fn(guard))
}

async fn with_timeout(
    limit: Duration,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    match tokio::time::timeout(limit, next.run(req)).await {
        Ok(r) => r,
        Err(_) => ApiError::busy().into_response(),
    }
}

async fn not_found() -> Response {
    ApiError::not_found("no such page or endpoint; the API is under /api/v1/ (see docs/api.md)")
        .into_response()
}

/// The Content-Security-Policy: the page's own scripts, styles, images and
/// connections only; no inline script, no framing, no plugins, no form targets.
pub const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
     connect-src 'self'; font-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/// Read-only: GET and HEAD only, no request body; security headers on every answer.
async fn guard(req: axum::extract::Request, next: axum::middleware::Next) -> Response {
    let method = req.method().clone();
    let has_body = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .is_some_and(|v| v.as_bytes() != b"0")
        || req.headers().contains_key(header::TRANSFER_ENCODING);
    let mut res = if method != Method::GET && method != Method::HEAD {
        let mut r = ApiError::new(
            StatusCode::METHOD_NOT_ALLOWED,
            format!("{method} is not allowed: this server is read-only (GET and HEAD only)"),
            None,
        )
        .into_response();
        r.headers_mut()
            .insert(header::ALLOW, HeaderValue::from_static("GET, HEAD"));
        r
    } else if has_body {
        ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "a request body is not accepted: every endpoint is a GET without a body".into(),
            None,
        )
        .into_response()
    } else {
        next.run(req).await
    };
    let h = res.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    if res.status() != StatusCode::METHOD_NOT_ALLOWED
        && res.status() != StatusCode::PAYLOAD_TOO_LARGE
    {
        return res;
    }
    // An unread body must not be taken as the next request on this connection.
    res.headers_mut()
        .insert(header::CONNECTION, HeaderValue::from_static("close"));
    res
}

/// A finished body: gzip-compressed (on the blocking thread that built it, never on
/// the runtime thread the sampler shares) when the client accepts it and it is worth it.
pub(super) struct Body {
    bytes: Vec<u8>,
    gzip: bool,
}

impl Body {
    pub(super) fn new(bytes: Vec<u8>, gzip_ok: bool) -> Body {
        if gzip_ok && bytes.len() > 1024 {
            if let Some(z) = gzip(&bytes) {
                return Body {
                    bytes: z,
                    gzip: true,
                };
            }
        }
        Body { bytes, gzip: false }
    }

    pub(super) fn respond(self, content_type: &'static str) -> Response {
        let mut r = (
            [
                (header::CONTENT_TYPE, HeaderValue::from_static(content_type)),
                (header::CACHE_CONTROL, HeaderValue::from_static("no-cache")),
                (header::VARY, HeaderValue::from_static("accept-encoding")),
            ],
            self.bytes,
        )
            .into_response();
        if self.gzip {
            r.headers_mut()
                .insert(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
        }
        r
    }
}

/// gzip at a fast level: most of the size win for a fraction of the CPU of the best.
fn gzip(bytes: &[u8]) -> Option<Vec<u8>> {
    use std::io::Write;
    let mut z = flate2::write::GzEncoder::new(
        Vec::with_capacity(bytes.len() / 4),
        flate2::Compression::new(4),
    );
    z.write_all(bytes).ok()?;
    z.finish().ok()
}

/// True when the request's `Accept-Encoding` allows gzip.
pub(super) fn accepts_gzip(headers: &axum::http::HeaderMap) -> bool {
    headers
        .get_all(header::ACCEPT_ENCODING)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|e| {
            let mut parts = e.split(';');
            let name = parts.next().unwrap_or("").trim();
            let q_zero = parts.any(|p| matches!(p.trim(), "q=0" | "q=0.0" | "q=0.00" | "q=0.000"));
            (name.eq_ignore_ascii_case("gzip") || name == "*") && !q_zero
        })
}

/// Lowers the calling blocking thread's CPU priority (nice 10) once: a web query
/// then never competes with the sampler's thread for the CPU on a busy Pi.
fn nice_this_thread() {
    thread_local!(static NICED: std::cell::Cell<bool> = const { std::cell::Cell::new(false) });
    NICED.with(|n| {
        if !n.get() {
            // SAFETY: plain syscalls on this thread's own id; failure only means the
            // thread keeps its priority.
            unsafe {
                let tid = libc::syscall(libc::SYS_gettid) as libc::id_t;
                libc::setpriority(libc::PRIO_PROCESS, tid, 10);
            }
            n.set(true);
        }
    });
}

/// A JSON answer with the API's content type.
fn json(body: String) -> Response {
    (
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json; charset=utf-8"),
            ),
            (header::CACHE_CONTROL, HeaderValue::from_static("no-cache")),
        ],
        body,
    )
        .into_response()
}
