//! The `weatherd` binary: logging set-up, then the library's CLI.

use clap::Parser;

fn main() {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    let cli = weatherd::cli::Cli::parse();
    if let Err(f) = weatherd::cli::main(cli) {
        eprintln!("weatherd: {}", f.message);
        std::process::exit(f.code);
    }
}
