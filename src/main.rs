//! The `weatherd` binary: logging set-up, then the library's CLI.

use clap::Parser;
use tracing_subscriber::filter::{LevelFilter, Targets};
use tracing_subscriber::prelude::*;

fn main() {
    init_logging();
    let cli = weatherd::cli::Cli::parse();
    if let Err(f) = weatherd::cli::main(cli) {
        eprintln!("weatherd: {}", f.message);
        std::process::exit(f.code);
    }
}

/// Crates whose debug and trace output dumps what goes over the wire: ureq's request
/// headers (with `Authorization: Bearer …`) and bodies, rustls's handshake, rumqttc's
/// packets (a CONNECT carries the MQTT password). They are held at `info` whatever
/// `RUST_LOG` says, so no log level prints a secret. Their warnings and errors stay.
const WIRE_TARGETS: [&str; 6] = [
    "ureq",
    "ureq_proto",
    "rustls",
    "rumqttc",
    "webpki",
    "tokio_rustls",
];

/// The level at which [`WIRE_TARGETS`] are capped.
const WIRE_LEVEL: LevelFilter = LevelFilter::INFO;

/// `RUST_LOG` (default `info`) for everything, except that wire-level targets never
/// go below [`WIRE_LEVEL`]. The cap is a second filter on the output, so a directive
/// such as `RUST_LOG=ureq=trace` cannot lift it.
fn secret_safe() -> Targets {
    Targets::new()
        .with_default(LevelFilter::TRACE)
        .with_targets(WIRE_TARGETS.map(|t| (t, WIRE_LEVEL)))
}

/// Under systemd (which sets `JOURNAL_STREAM`) logs go to journald as structured
/// entries, so `journalctl -u weatherd SENSOR=rain` works; elsewhere to stderr.
fn init_logging() {
    let filter = || {
        tracing_subscriber::EnvFilter::try_from_default_env()
            .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"))
    };
    if std::env::var_os("JOURNAL_STREAM").is_some() {
        if let Ok(journald) = tracing_journald::layer() {
            tracing_subscriber::registry()
                .with(filter())
                .with(journald.with_filter(secret_safe()))
                .init();
            return;
        }
    }
    let stderr = tracing_subscriber::fmt::layer()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()));
    tracing_subscriber::registry()
        .with(filter())
        .with(stderr.with_filter(secret_safe()))
        .init();
}
