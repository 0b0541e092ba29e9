//! The page's files, embedded in the binary: nothing is read from the filesystem,
//! so no URL can reach a path (no traversal), and the page works offline.

use axum::extract::Path;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

struct Asset {
    name: &'static str,
    content_type: &'static str,
    body: &'static [u8],
}

const ASSETS: [Asset; 6] = [
    Asset {
        name: "index.html",
        content_type: "text/html; charset=utf-8",
        body: include_bytes!("../../assets/web/index.html"),
    },
    Asset {
        name: "app.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_bytes!("../../assets/web/app.js"),
    },
    Asset {
        name: "style.css",
        content_type: "text/css; charset=utf-8",
        body: include_bytes!("../../assets/web/style.css"),
    },
    Asset {
        name: "uplot.min.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_bytes!("../../assets/web/uplot.min.js"),
    },
    Asset {
        name: "uplot.min.css",
        content_type: "text/css; charset=utf-8",
        body: include_bytes!("../../assets/web/uplot.min.css"),
    },
    Asset {
        name: "favicon.svg",
        content_type: "image/svg+xml",
        body: include_bytes!("../../assets/web/favicon.svg"),
    },
];

/// The names served under `/assets/` (the page is `/`).
pub fn names() -> impl Iterator<Item = &'static str> {
    ASSETS.iter().skip(1).map(|a| a.name)
}

/// FNV-1a: a content hash for the ETag, so a changed file (a new binary) is fetched
/// again and an unchanged one costs a 304.
const fn fnv1a(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    let mut i = 0;
    while i < bytes.len() {
        h ^= bytes[i] as u64;
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
        i += 1;
    }
    h
}

/// Each asset gzipped once, on first request (the page weight goal counts gzip).
fn gzipped(i: usize) -> &'static [u8] {
    static GZ: [std::sync::OnceLock<Vec<u8>>; ASSETS.len()] =
        [const { std::sync::OnceLock::new() }; ASSETS.len()];
    GZ[i].get_or_init(|| {
        use std::io::Write;
        let mut z = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
        let _ = z.write_all(ASSETS[i].body);
        z.finish().unwrap_or_default()
    })
}

/// The page weight: every asset's gzipped size (for the benchmark).
pub fn gzipped_sizes() -> Vec<(&'static str, usize, usize)> {
    (0..ASSETS.len())
        .map(|i| (ASSETS[i].name, ASSETS[i].body.len(), gzipped(i).len()))
        .collect()
}

fn serve(i: usize, headers: &HeaderMap, cache: &'static str) -> Response {
    let asset = &ASSETS[i];
    let etag = format!("\"{:016x}\"", fnv1a(asset.body));
    let etag_value = HeaderValue::from_str(&etag).unwrap_or(HeaderValue::from_static("\"0\""));
    let fresh = headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == etag || t.trim() == "*"));
    let common = [
        (header::ETAG, etag_value),
        (header::CACHE_CONTROL, HeaderValue::from_static(cache)),
    ];
    if fresh {
        return (StatusCode::NOT_MODIFIED, common).into_response();
    }
    let vary = (header::VARY, HeaderValue::from_static("accept-encoding"));
    let ty = (
        header::CONTENT_TYPE,
        HeaderValue::from_static(asset.content_type),
    );
    if super::accepts_gzip(headers) && !asset.body.is_empty() {
        let gz = (header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
        return (common, [ty, vary, gz], gzipped(i)).into_response();
    }
    (common, [ty, vary], asset.body).into_response()
}

pub(super) async fn index(headers: HeaderMap) -> Response {
    // The page itself is revalidated on every load (cheap with the ETag), so a new
    // binary's page is seen at once.
    serve(0, &headers, "no-cache")
}

pub(super) async fn asset(Path(name): Path<String>, headers: HeaderMap) -> Response {
    match (1..ASSETS.len()).find(|&i| ASSETS[i].name == name) {
        Some(i) => serve(i, &headers, "public, max-age=3600"),
        None => super::ApiError::not_found(&format!(
            "no such asset; the page's assets are {}",
            names().collect::<Vec<_>>().join(", ")
        ))
        .into_response(),
    }
}
