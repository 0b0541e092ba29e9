//! The `weatherd` binary: logging set-up, then the library's CLI.

use clap::Parser;
use tracing_subscriber::prelude::*;

fn main() {
    init_logging();
    let cli = weatherd::cli::Cli::parse();
    if let Err(f) = weatherd::cli::main(cli) {
        eprintln!("weatherd: {}", f.message);
        std::process::exit(f.code);
    }
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
                .with(journald)
                .init();
            return;
        }
    }
    tracing_subscriber::fmt()
        .with_env_filter(filter())
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
}
