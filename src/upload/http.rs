//! The HTTP batch destination: each batch is one gzip-compressed JSON POST (format in
//! `docs/upload-format.md`), acknowledged by any 2xx answer.
//!
//! The client is `ureq` (blocking, small, rustls with the `ring` provider) run on
//! tokio's blocking pool: one request at a time is all an uploader needs, and a
//! blocking client keeps the dependency tree and the binary small on a Pi.
//!
//! How answers map to what the uploader does next:
//!
//! | answer | result |
//! |---|---|
//! | 2xx, body read to the end | delivered |
//! | 429, 503 (with `Retry-After` in seconds or as an HTTP date) | retry, not before that |
//! | 408, other 5xx, timeouts, refused or cut connections, TLS failures | retry with backoff |
//! | 3xx, 401, 403, 404, 413, other 4xx | stop this destination: retrying cannot help |

use super::payload;
use super::secret::{self, Secret};
use super::{Batch, DeliveryError, Destination, SetupError};
use flate2::write::GzEncoder;
use flate2::Compression;
use std::io::Write;
use std::time::{Duration, SystemTime};

mod config;
pub use config::{HttpConfig, DEFAULT_BATCH_SIZE};

/// Longest `Retry-After` honoured; a server asking for more is probably confused.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(24 * 3600);
/// How much of an error answer's body goes into the status message.
const ERROR_BODY_CHARS: usize = 200;
/// Acknowledgement bodies are read to the end (a cut body is no acknowledgement) but
/// never kept; this bounds what a misbehaving server can make us read.
const MAX_RESPONSE_BYTES: u64 = 1 << 20;

/// POSTs batches to one URL.
pub struct HttpDestination {
    agent: ureq::Agent,
    url: String,
    token: Option<Secret>,
}

impl std::fmt::Debug for HttpDestination {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpDestination")
            .field("url", &self.url)
            .field("token", &self.token)
            .finish()
    }
}

impl HttpDestination {
    /// Checks the settings and reads the token and CA file; connects only when the
    /// first batch is sent.
    pub fn new(config: &HttpConfig, station_id: &str) -> Result<HttpDestination, SetupError> {
        let _ = station_id; // the station id travels in each batch
        if let Some(refusal) = plain_http_refusal(config, &proxy_env()) {
            return Err(refusal);
        }
        let token = secret::load_token(
            config.token_file.as_deref(),
            config.token_credential.as_deref(),
        )?;
        let mut builder = agent_builder(config.common.timeout_seconds);
        if let Some(proxy) = &config.proxy {
            // Named without its user and password: the message is logged.
            let proxy = ureq::Proxy::new(proxy).map_err(|e| SetupError::ProxyUnusable {
                proxy: without_userinfo(proxy),
                reason: e.to_string(),
            })?;
            builder = builder.proxy(Some(proxy));
        }
        // Without `proxy`, ureq reads HTTPS_PROXY / HTTP_PROXY / ALL_PROXY and NO_PROXY.
        if let Some(ca_file) = &config.ca_file {
            builder = builder.tls_config(
                ureq::tls::TlsConfig::builder()
                    .root_certs(root_certs_with(ca_file)?)
                    .build(),
            );
        }
        Ok(HttpDestination {
            agent: builder.build().into(),
            url: config.url.clone(),
            token,
        })
    }

    /// The request body: the batch as gzip-compressed JSON.
    pub fn body(batch: &Batch) -> Vec<u8> {
        let json = payload::to_json(batch);
        // Weather JSON compresses about 10:1; level 6 is the usual balance of CPU
        // (a Pi Zero is slow) and bytes (a school's metered uplink).
        let mut gz = GzEncoder::new(Vec::with_capacity(json.len() / 8), Compression::new(6));
        // Writing into a Vec cannot fail.
        let _ = gz.write_all(&json);
        gz.finish().unwrap_or_default()
    }
}

/// The agent settings every HTTP destination and network shares: status codes are
/// ours to judge; no redirects (a redirected POST would become a GET on some
/// servers, and a moved endpoint is a config change, reported as such); the shared
/// timeout; weatherd's user agent.
pub(crate) fn agent_builder(
    timeout_seconds: u32,
) -> ureq::config::ConfigBuilder<ureq::typestate::AgentScope> {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .max_redirects(0)
        .timeout_global(Some(Duration::from_secs(u64::from(timeout_seconds.max(1)))))
        .user_agent(concat!("weatherd/", env!("CARGO_PKG_VERSION")))
}

/// The proxy variables ureq reads when `proxy` is not set, in its order (it takes
/// the first one set, whatever the URL's scheme).
pub const PROXY_VARIABLES: [&str; 6] = [
    "ALL_PROXY",
    "all_proxy",
    "HTTPS_PROXY",
    "https_proxy",
    "HTTP_PROXY",
    "http_proxy",
];

/// The proxy variables set (non-empty) in this process's environment, as
/// `NAME=value` pairs for [`plain_http_refusal`].
pub fn proxy_env() -> Vec<(String, String)> {
    PROXY_VARIABLES
        .iter()
        .filter_map(|name| {
            let value = std::env::var(name).ok()?;
            (!value.trim().is_empty()).then(|| (name.to_string(), value))
        })
        .collect()
}

/// Why a plain `http://` URL may not be used, or `None` if it may: `https://`, or
/// `allow_plain_http`, or a loopback host reached directly. Through a proxy (the
/// `proxy` key, or one of [`PROXY_VARIABLES`] from `env`) the request, token
/// included, crosses the network to the proxy unencrypted even for `localhost`, so
/// loopback counts as local only when no proxy applies. `NO_PROXY` is not consulted:
/// erring towards a refusal cannot leak the token.
pub fn plain_http_refusal(config: &HttpConfig, env: &[(String, String)]) -> Option<SetupError> {
    let (scheme, rest) = config.url.split_once("://")?;
    if !scheme.eq_ignore_ascii_case("http") || config.allow_plain_http {
        return None;
    }
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    let host = match authority.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or(""),
        None => authority.rsplit_once(':').map_or(authority, |(h, _)| h),
    };
    let loopback = host.eq_ignore_ascii_case("localhost")
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback());
    // A proxy address may carry the proxy's own password (`http://user:pass@proxy`, as
    // schools set HTTPS_PROXY): name the proxy, never its credentials.
    let proxy = match (&config.proxy, env.first()) {
        (Some(p), _) => Some(format!("the proxy `{}` (key `proxy`)", without_userinfo(p))),
        (None, Some((name, value))) => Some(format!(
            "the proxy `{}` (from ${name})",
            without_userinfo(value)
        )),
        (None, None) => None,
    };
    let url = config.url.clone();
    match (loopback, proxy) {
        (true, None) => None,
        (true, Some(proxy)) => Some(SetupError::PlainHttpViaProxy { url, proxy }),
        (false, _) => Some(SetupError::PlainHttp { url }),
    }
}

/// A proxy address with any `user:password@` before its host replaced by `***@`, for
/// messages: a proxy address from the environment often carries the proxy's password.
/// Everything up to the last `@` goes, so a password with an unescaped `/` or `@` in
/// it goes too (a proxy address has no path that could hold an `@`).
pub fn without_userinfo(url: &str) -> String {
    let (scheme, rest) = match url.split_once("://") {
        Some((scheme, rest)) => (format!("{scheme}://"), rest),
        None => (String::new(), url),
    };
    match rest.rfind('@') {
        Some(at) => format!("{scheme}***{}", &rest[at..]),
        None => url.to_string(),
    }
}

/// The built-in (Mozilla) roots plus the certificates in a PEM file.
pub fn root_certs_with(ca_file: &std::path::Path) -> Result<ureq::tls::RootCerts, SetupError> {
    use ureq::tls::{Certificate, PemItem};
    let pem = secret::read_regular_file(ca_file, secret::MAX_CA_FILE_BYTES).map_err(|e| {
        SetupError::CaFileUnreadable {
            path: ca_file.to_path_buf(),
            reason: e.to_string(),
        }
    })?;
    let mut certs: Vec<Certificate<'static>> = webpki_root_certs::TLS_SERVER_ROOT_CERTS
        .iter()
        .map(|der| Certificate::from_der(der.as_ref()))
        .collect();
    let builtin = certs.len();
    for item in ureq::tls::parse_pem(&pem) {
        match item {
            Ok(PemItem::Certificate(c)) => certs.push(c),
            Ok(_) => {}
            Err(e) => {
                return Err(SetupError::CaFileNotPem {
                    path: ca_file.to_path_buf(),
                    reason: e.to_string(),
                })
            }
        }
    }
    if certs.len() == builtin {
        return Err(SetupError::CaFileEmpty {
            path: ca_file.to_path_buf(),
        });
    }
    Ok(ureq::tls::RootCerts::Specific(std::sync::Arc::new(certs)))
}

impl Destination for HttpDestination {
    async fn deliver(&mut self, batch: &Batch) -> Result<(), DeliveryError> {
        if batch.records.is_empty() {
            return Ok(());
        }
        let body = Self::body(batch);
        let key = payload::idempotency_key(batch);
        let agent = self.agent.clone();
        let url = self.url.clone();
        let auth = self
            .token
            .as_ref()
            .map(|t| format!("Bearer {}", t.expose()));
        let answer = tokio::task::spawn_blocking(move || post(&agent, &url, auth, &key, &body))
            .await
            .map_err(|e| DeliveryError::Transient {
                message: format!("the HTTP request did not finish: {e}"),
                retry_after: None,
            })?;
        let secrets: Vec<&str> = self.token.iter().map(Secret::expose).collect();
        answer.map_err(|e| e.redact(&secrets))
    }
}

/// What a POST came back with, before it is judged.
fn post(
    agent: &ureq::Agent,
    url: &str,
    auth: Option<String>,
    key: &str,
    body: &[u8],
) -> Result<(), DeliveryError> {
    let headers = [
        ("Content-Type", "application/json"),
        ("Content-Encoding", "gzip"),
        ("Idempotency-Key", key),
    ];
    post_judged(agent, url, &headers, auth.as_deref(), body, |e| {
        transport_error(url, e)
    })?
    .1
}

/// POSTs `body` with `headers` and the `Authorization` value `auth` (`Scheme
/// credential`): the answer's status and what it means ([`judge`]), or what
/// `transport` makes of a request that got no answer. The credential is taken out of
/// the answer's text.
pub(crate) fn post_judged(
    agent: &ureq::Agent,
    url: &str,
    headers: &[(&str, &str)],
    auth: Option<&str>,
    body: &[u8],
    transport: impl FnOnce(ureq::Error) -> DeliveryError,
) -> Result<(u16, Result<(), DeliveryError>), DeliveryError> {
    let mut request = agent.post(url);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    if let Some(auth) = auth {
        request = request.header("Authorization", auth);
    }
    let mut response = request.send(body).map_err(transport)?;
    let status = response.status().as_u16();
    let retry_after = response
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| parse_retry_after(v, SystemTime::now()));
    let location = response
        .headers()
        .get("location")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    // Read to the end: an answer cut half-way is no acknowledgement.
    let text = response
        .body_mut()
        .with_config()
        .limit(MAX_RESPONSE_BYTES)
        .read_to_vec();
    // A server may echo the request (headers included) in an error page: the token
    // must not reach the log, `weatherd status` or the database from there.
    let credential = auth.and_then(|a| a.split_once(' ')).map(|(_, c)| c);
    let text = text.map(|b| match credential {
        Some(c) if !c.is_empty() => secret::redact(&String::from_utf8_lossy(&b), &[c]).into_bytes(),
        _ => b,
    });
    let judged = judge(
        status,
        retry_after,
        location,
        text.map_err(|e| e.to_string()),
    );
    Ok((status, judged))
}

/// Decides what an HTTP answer means for the batch.
pub fn judge(
    status: u16,
    retry_after: Option<Duration>,
    location: Option<String>,
    body: Result<Vec<u8>, String>,
) -> Result<(), DeliveryError> {
    let excerpt = || match &body {
        Ok(b) => {
            // Redacted before it is cut, so a credential split by the cut cannot
            // escape the patterns; the caller removed the token itself already.
            let text = secret::redact(&String::from_utf8_lossy(b), &[]);
            let text = secret::truncate(text.trim(), ERROR_BODY_CHARS);
            let text = text.trim().to_string();
            if text.is_empty() {
                String::new()
            } else {
                format!(": {text}")
            }
        }
        Err(_) => String::new(),
    };
    match status {
        200..=299 => match body {
            Ok(_) => Ok(()),
            Err(e) => Err(DeliveryError::Transient {
                message: format!("HTTP {status} but the answer was cut off ({e})"),
                retry_after: None,
            }),
        },
        429 | 503 => Err(DeliveryError::Transient {
            message: format!("HTTP {status} {}{}", reason(status), excerpt()),
            retry_after,
        }),
        408 | 500..=599 => Err(DeliveryError::Transient {
            message: format!("HTTP {status} {}{}", reason(status), excerpt()),
            retry_after,
        }),
        300..=399 => Err(DeliveryError::Permanent {
            message: format!(
                "HTTP {status}: the server redirects to {}; put the new address in `url`",
                location.as_deref().unwrap_or("another address")
            ),
        }),
        _ => Err(DeliveryError::Permanent {
            message: format!(
                "HTTP {status} {}{}{}",
                reason(status),
                excerpt(),
                hint(status)
            ),
        }),
    }
}

fn reason(status: u16) -> &'static str {
    match status {
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        413 => "Payload Too Large",
        415 => "Unsupported Media Type",
        422 => "Unprocessable Content",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        _ => "",
    }
}

/// What the operator should check, for the answers that stop a destination.
fn hint(status: u16) -> &'static str {
    match status {
        401 => " (the server refused the token: check token_file / token_credential)",
        403 => " (the token is not allowed to post here: check the token and the url)",
        404 => " (check `url`)",
        413 => " (batch too large for the server: lower `batch_size`)",
        415 => " (the server does not accept gzip-compressed JSON)",
        _ => "",
    }
}

/// Network-level failures: all worth retrying, except an unusable URL or proxy.
fn transport_error(url: &str, e: ureq::Error) -> DeliveryError {
    match e {
        ureq::Error::InvalidProxyUrl => DeliveryError::Permanent {
            message: "the proxy URL is not usable".into(),
        },
        other => network_error(url, other),
    }
}

/// Failures to get an answer: all worth retrying, except an unusable URL (`url` as
/// it may be shown).
pub(crate) fn network_error(url: &str, e: ureq::Error) -> DeliveryError {
    match e {
        ureq::Error::BadUri(m) => DeliveryError::Permanent {
            message: format!("`{url}` is not a usable URL: {m}"),
        },
        ureq::Error::Timeout(t) => DeliveryError::Transient {
            message: format!("no answer in time ({t})"),
            retry_after: None,
        },
        ureq::Error::HostNotFound => DeliveryError::Transient {
            message: "host not found (DNS)".into(),
            retry_after: None,
        },
        ureq::Error::ConnectionFailed => DeliveryError::Transient {
            message: "cannot connect".into(),
            retry_after: None,
        },
        other => DeliveryError::Transient {
            message: other.to_string(),
            retry_after: None,
        },
    }
}

/// `Retry-After: 120` or `Retry-After: Wed, 21 Oct 2026 07:28:00 GMT`.
pub fn parse_retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    let value = value.trim();
    let wait = match value.parse::<u64>() {
        Ok(secs) => Duration::from_secs(secs),
        Err(_) => {
            let at = httpdate::parse_http_date(value).ok()?;
            at.duration_since(now).unwrap_or(Duration::ZERO)
        }
    };
    Some(wait.min(MAX_RETRY_AFTER))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn permanent(r: Result<(), DeliveryError>) -> String {
        match r {
            Err(DeliveryError::Permanent { message }) => message,
            other => panic!("expected permanent, got {other:?}"),
        }
    }

    #[test]
    fn answers_map_to_outcomes() {
        assert_eq!(judge(200, None, None, Ok(vec![])), Ok(()));
        assert_eq!(judge(204, None, None, Ok(vec![])), Ok(()));
        assert!(matches!(
            judge(200, None, None, Err("cut".into())),
            Err(DeliveryError::Transient { .. })
        ));
        let wait = Some(Duration::from_secs(7));
        assert_eq!(
            judge(429, wait, None, Ok(b"slow down".to_vec())),
            Err(DeliveryError::Transient {
                message: "HTTP 429 Too Many Requests: slow down".into(),
                retry_after: wait
            })
        );
        for s in [500, 502, 503, 504, 408] {
            assert!(
                matches!(
                    judge(s, None, None, Ok(vec![])),
                    Err(DeliveryError::Transient { .. })
                ),
                "{s}"
            );
        }
        let m = permanent(judge(401, None, None, Ok(b"bad token".to_vec())));
        assert!(m.starts_with("HTTP 401 Unauthorized: bad token"), "{m}");
        assert!(m.contains("token_file"));
        for s in [400, 403, 404, 413, 422] {
            assert!(permanent(judge(s, None, None, Ok(vec![]))).contains(&s.to_string()));
        }
        let m = permanent(judge(301, None, Some("https://new/".into()), Ok(vec![])));
        assert!(m.contains("https://new/"), "{m}");
    }

    #[test]
    fn retry_after_in_seconds_or_as_a_date() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_445_412_480);
        assert_eq!(
            parse_retry_after(" 120 ", now),
            Some(Duration::from_secs(120))
        );
        // 1445412480 is Wed, 21 Oct 2015 07:28:00 GMT.
        assert_eq!(
            parse_retry_after("Wed, 21 Oct 2015 07:30:00 GMT", now),
            Some(Duration::from_secs(120))
        );
        assert_eq!(
            parse_retry_after("Wed, 21 Oct 2015 07:00:00 GMT", now),
            Some(Duration::ZERO)
        );
        assert_eq!(parse_retry_after("999999999", now), Some(MAX_RETRY_AFTER));
        assert_eq!(parse_retry_after("soon", now), None);
    }

    #[test]
    fn plain_http_is_local_only_without_a_proxy() {
        let config = |url: &str, proxy: Option<&str>, allow: bool| HttpConfig {
            name: "x".into(),
            url: url.into(),
            token_file: None,
            token_credential: None,
            ca_file: None,
            proxy: proxy.map(str::to_string),
            allow_plain_http: allow,
            common: crate::upload::Common::defaults(DEFAULT_BATCH_SIZE),
        };
        let none: Vec<(String, String)> = Vec::new();
        let env = vec![(
            "HTTP_PROXY".to_string(),
            "http://proxy.lan:3128".to_string(),
        )];
        for url in [
            "http://127.0.0.1:8080/x",
            "http://[::1]:8080/x",
            "http://localhost/x",
            "http://127.1.2.3/x",
        ] {
            assert_eq!(
                plain_http_refusal(&config(url, None, false), &none),
                None,
                "{url}"
            );
            let why = plain_http_refusal(&config(url, None, false), &env).expect(url);
            let text = why.to_string();
            assert!(
                text.contains("$HTTP_PROXY") && text.contains("allow_plain_http"),
                "{why}"
            );
            let why =
                plain_http_refusal(&config(url, Some("http://p:3128"), false), &none).expect(url);
            assert!(why.to_string().contains("`proxy`"), "{why}");
            assert_eq!(
                plain_http_refusal(&config(url, Some("http://p:3128"), true), &env),
                None
            );
        }
        assert!(plain_http_refusal(&config("http://10.0.0.1/x", None, false), &none).is_some());
        assert_eq!(
            plain_http_refusal(&config("http://10.0.0.1/x", None, true), &none),
            None
        );
        assert_eq!(
            plain_http_refusal(&config("https://10.0.0.1/x", None, false), &env),
            None
        );
    }

    #[test]
    fn debug_never_shows_the_token() {
        let d = HttpDestination {
            agent: ureq::Agent::new_with_defaults(),
            url: "https://example.org/".into(),
            token: Some(Secret::new("hunter2")),
        };
        let s = format!("{d:?}");
        assert!(!s.contains("hunter2"), "{s}");
        assert!(s.contains("***"));
    }
}
