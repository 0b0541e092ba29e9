//! The command line: argument parsing and the subcommands. `main.rs` only sets
//! up logging and calls [`main`], so the whole CLI is testable as a library.

use crate::clock::Speed;
use crate::config::{Config, ConfigError};
use crate::query::{self, Format};
use crate::station::{self, RunOptions, Simulation};
use crate::store::{Every, Store};
use crate::time::{parse_span, parse_time, Timestamp};
use clap::{Parser, Subcommand, ValueEnum};
use std::io::Write;
use std::path::{Path, PathBuf};

/// Where a Pi installation keeps its config.
pub const SYSTEM_CONFIG: &str = "/etc/weatherd/weatherd.toml";

/// Exit codes: 0 success, 1 a runtime failure (database, I/O), 2 a usage or config
/// error (the same code clap uses for bad arguments).
pub const EXIT_FAILURE: i32 = 1;
pub const EXIT_USAGE: i32 = 2;

#[derive(Parser, Debug)]
#[command(
    name = "weatherd",
    version,
    about = "Weather-station daemon: sensors → SQLite (→ uploads)"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Run the station: sample sensors, aggregate, store records.
    Run(RunArgs),
    /// Print stored records.
    Query(QueryArgs),
    /// Climate reports without SQL: a NOAA-style monthly (--month 2026-11) or yearly
    /// (--year 2026) summary, or the station's records (--records).
    Report(ReportArgs),
    /// Look at this machine: Pi model, enabled buses, sensors that answer, permissions.
    /// Exit code 0: ready; 1: not a Raspberry Pi; 2: a Pi with something to fix.
    Probe,
    /// Show each upload destination's backlog and health, and each sensor's last
    /// reading and fault counts.
    Status(StatusArgs),
    /// Validate a config file and print the effective config (defaults filled in).
    CheckConfig {
        /// The config file to check.
        file: PathBuf,
    },
}

#[derive(clap::Args, Debug)]
pub struct RunArgs {
    /// Config file [default: /etc/weatherd/weatherd.toml; with --simulate: the built-in
    /// standard build].
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Run on simulated hardware and a simulated clock.
    #[arg(long)]
    pub simulate: bool,
    /// Database file [default: the config's database.path; with --simulate and no
    /// config: weather.db].
    #[arg(long, value_name = "FILE")]
    pub db: Option<PathBuf>,
    /// Simulator seed: the same seed and start give an identical database.
    #[arg(long, value_name = "N", requires = "simulate", default_value_t = 1)]
    pub seed: u64,
    /// Simulated clock speed: N times real time, or `max`.
    #[arg(long, value_name = "N|max", requires = "simulate", value_parser = parse_speed, default_value = "1")]
    pub speed: Speed,
    /// Where the simulated clock starts (e.g. 2026-01-01T00:00:00Z) [default: now];
    /// 1970-01-01 to 2200-01-01.
    #[arg(long, value_name = "TIME", requires = "simulate", value_parser = parse_time)]
    pub start: Option<Timestamp>,
    /// Stop after this much time (e.g. 90s, 36h, 365d), measured from the start; the
    /// end must not pass 2200-01-01.
    #[arg(long, value_name = "SPAN", value_parser = parse_span)]
    pub duration: Option<i64>,
    /// When --duration ends, how long uploads may still send what is stored before
    /// weatherd exits (e.g. 30s, 10m); what is left waits in the database for the
    /// next run. A signal stops at once (after a 5 s grace for a request in flight).
    #[arg(long, value_name = "SPAN", value_parser = parse_span, default_value = "120s")]
    pub drain_timeout: i64,
}

#[derive(Copy, Clone, Debug, PartialEq, Eq, ValueEnum)]
pub enum EveryArg {
    Raw,
    Hour,
    Day,
}

#[derive(Copy, Clone, Debug, PartialEq, Eq, ValueEnum)]
pub enum FormatArg {
    Table,
    Csv,
    Json,
}

#[derive(clap::Args, Debug)]
pub struct QueryArgs {
    /// Database file [default: the --config's database.path, else that of
    /// /etc/weatherd/weatherd.toml if present, else weather.db].
    #[arg(long, value_name = "FILE")]
    pub db: Option<PathBuf>,
    /// Take the database path from this config file.
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// First time to include: `today`, `yesterday` (from local midnight of that
    /// station day), `-24h`, `-7d`, `-30m`, `-1y` (before now), `now`, or a time
    /// (RFC 3339; `2026-01-01 12:00` and `2026-01-01` are UTC); 1970-01-01 to 2200-01-01.
    #[arg(long, value_name = "TIME", allow_hyphen_values = true)]
    pub from: Option<String>,
    /// Time to stop before (exclusive), in the same forms as --from.
    #[arg(long, value_name = "TIME", allow_hyphen_values = true)]
    pub to: Option<String>,
    /// What `now` is for relative times [default: the current time]; e.g. to ask
    /// about "yesterday" in a simulated database.
    #[arg(long, value_name = "TIME", value_parser = parse_time)]
    pub now: Option<Timestamp>,
    /// The table shows UTC times (`start_utc`) instead of station-local ones
    /// (`start_local`). CSV and JSON always carry both.
    #[arg(long)]
    pub utc: bool,
    /// Only these columns, in this order, comma-separated (e.g.
    /// `start_local,temperature_c,rain_mm`) [default: the key columns in the table,
    /// every column in CSV and JSON].
    #[arg(long, value_name = "A,B,...", value_delimiter = ',')]
    pub columns: Option<Vec<String>>,
    /// One row per record, per UTC hour, or per station-local day.
    #[arg(long, value_enum, default_value_t = EveryArg::Raw)]
    pub every: EveryArg,
    #[arg(long, value_enum, default_value_t = FormatArg::Table)]
    pub format: FormatArg,
}

#[derive(clap::Args, Debug)]
#[command(group(clap::ArgGroup::new("period").required(true).args(["month", "year", "records"])))]
pub struct ReportArgs {
    /// Database file [default: the --config's database.path, else that of
    /// /etc/weatherd/weatherd.toml if present, else weather.db].
    #[arg(long, value_name = "FILE")]
    pub db: Option<PathBuf>,
    /// Take the database path and the [report] settings (degree-day bases,
    /// thresholds) from this config file.
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// The month to summarise, one line per day: YYYY-MM (station-local days).
    #[arg(long, value_name = "YYYY-MM", value_parser = crate::report::parse_month)]
    pub month: Option<(i32, u32)>,
    /// The year to summarise, one line per month: YYYY.
    #[arg(long, value_name = "YYYY", value_parser = crate::report::parse_year)]
    pub year: Option<i32>,
    /// The station's records: highest and lowest temperature, wettest day and month,
    /// strongest gust, highest rain rate, with dates and times.
    #[arg(long)]
    pub records: bool,
    /// text (NOAA-style, 80 columns), csv or json (the web API's /api/v1/climate).
    #[arg(long, value_parser = parse_report_format, default_value = "text")]
    pub format: Format,
}

fn parse_report_format(s: &str) -> Result<Format, String> {
    match s {
        "text" | "table" => Ok(Format::Table),
        "csv" => Ok(Format::Csv),
        "json" => Ok(Format::Json),
        _ => Err(format!(
            "`{s}` is not a report format: use text, csv or json"
        )),
    }
}

#[derive(clap::Args, Debug)]
pub struct StatusArgs {
    /// Database file [default: the --config's database.path, else that of
    /// /etc/weatherd/weatherd.toml if present, else weather.db].
    #[arg(long, value_name = "FILE")]
    pub db: Option<PathBuf>,
    /// The config file: names the destinations and sensors to report on [default:
    /// /etc/weatherd/weatherd.toml if present; without one, what the database knows].
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
}

fn parse_speed(s: &str) -> Result<Speed, String> {
    if s.eq_ignore_ascii_case("max") {
        return Ok(Speed::Max);
    }
    match s.parse::<f64>() {
        Ok(f) if f.is_finite() && f > 0.0 => Ok(Speed::Factor(f)),
        _ => Err(format!(
            "`{s}` is not a speed: use a number greater than 0 (e.g. 60) or `max`"
        )),
    }
}

/// A failed command: the message for stderr and the exit code.
#[derive(Debug)]
pub struct Failure {
    pub code: i32,
    pub message: String,
}

impl From<ConfigError> for Failure {
    fn from(e: ConfigError) -> Self {
        Failure {
            code: EXIT_USAGE,
            message: e.to_string(),
        }
    }
}

/// Runs a parsed command line.
pub fn main(cli: Cli) -> Result<(), Failure> {
    match cli.command {
        Command::Run(args) => run(args),
        Command::Query(args) => query_cmd(args),
        Command::Probe => match crate::probe::run_probe() {
            0 => Ok(()),
            code => Err(Failure {
                code,
                message: "probe found problems (listed above)".into(),
            }),
        },
        Command::Status(args) => status_cmd(args),
        Command::Report(args) => report_cmd(args),
        Command::CheckConfig { file } => {
            // Every problem at once, so a teacher fixes the file in one pass.
            let config = Config::load_all(&file).map_err(|errors| Failure {
                code: EXIT_USAGE,
                message: errors
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join("\nweatherd: "),
            })?;
            // Secret files get the checks `run` makes when it starts the uploads
            // (which would otherwise disable the destination at run time only).
            let mut problems = Vec::new();
            let mut notes = Vec::new();
            for (key, finding) in crate::upload::check_secrets(&config.upload) {
                match finding {
                    crate::upload::secret::Finding::Problem(m) => {
                        problems.push(format!("{}: `{key}`: {m}", file.display()))
                    }
                    crate::upload::secret::Finding::Note(m) => {
                        notes.push(format!("{}: `{key}`: {m}", file.display()))
                    }
                }
            }
            if !problems.is_empty() {
                return Err(Failure {
                    code: EXIT_USAGE,
                    message: problems.join("\nweatherd: "),
                });
            }
            print!("{}", config.to_toml());
            for note in &notes {
                eprintln!("weatherd: note: {note}");
            }
            if notes.is_empty() {
                eprintln!("{}: OK", file.display());
            } else {
                eprintln!(
                    "{}: OK, except what the notes above could not check",
                    file.display()
                );
            }
            Ok(())
        }
    }
}

fn run(args: RunArgs) -> Result<(), Failure> {
    let mut config = match (&args.config, args.simulate) {
        (Some(path), _) => Config::load(path)?,
        (None, true) => {
            let mut c = Config::example();
            c.database.path = PathBuf::from("weather.db");
            c
        }
        (None, false) => {
            if !Path::new(SYSTEM_CONFIG).exists() {
                return Err(Failure {
                    code: EXIT_USAGE,
                    message: format!(
                        "no config file: {SYSTEM_CONFIG} does not exist. Pass --config FILE, or --simulate to run on simulated sensors"
                    ),
                });
            }
            Config::load(Path::new(SYSTEM_CONFIG))?
        }
    };
    if let Some(db) = &args.db {
        config.database.path = db.clone();
    }
    if let Some(span) = args.duration {
        // The end must be a representable, supported time too (see crate::time).
        let from = args.start.unwrap_or_else(Timestamp::now);
        crate::time::end_of_span(from, span, "--duration").map_err(|message| Failure {
            code: EXIT_USAGE,
            message,
        })?;
    }
    let opts = RunOptions {
        db_path: config.database.path.clone(),
        config,
        simulation: args.simulate.then_some(Simulation {
            seed: args.seed,
            speed: args.speed,
            start: args.start,
        }),
        duration_s: args.duration,
        drain_timeout: std::time::Duration::from_secs(args.drain_timeout.max(0).unsigned_abs()),
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| Failure {
            code: EXIT_FAILURE,
            message: format!("cannot start the runtime: {e}"),
        })?;
    let result = runtime.block_on(async {
        let summary = station::run(opts, shutdown_signal())
            .await
            .map_err(|e| Failure {
                code: EXIT_FAILURE,
                message: e.to_string(),
            })?;
        if summary.interrupted {
            tracing::info!("shut down on signal");
        }
        Ok(())
    });
    // Dropping a runtime waits for every blocking-pool thread, including an HTTP
    // request the uploader abandoned after its grace period (a hung server would hold
    // the exit for `timeout_seconds`). Everything worth keeping is in the database by
    // now; such a request's records are still unacknowledged, so nothing is lost.
    runtime.shutdown_background();
    result
}

/// Resolves when SIGTERM (systemd's stop) or SIGINT (Ctrl-C) arrives.
pub async fn shutdown_signal() {
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(e) => {
                tracing::warn!("cannot listen for SIGTERM: {e}");
                std::future::pending::<()>().await
            }
        }
    };
    tokio::select! {
        _ = term => {}
        _ = tokio::signal::ctrl_c() => {}
    }
}

/// The database a reading command uses: `--db`, else the config's, else `weather.db`
/// here, else the system config's.
fn resolve_db(db: &Option<PathBuf>, config: &Option<PathBuf>) -> Result<PathBuf, Failure> {
    Ok(match (db, config) {
        (Some(db), _) => db.clone(),
        (None, Some(cfg)) => Config::load(cfg)?.database.path,
        (None, None) => {
            let local = PathBuf::from("weather.db");
            if !local.exists() && Path::new(SYSTEM_CONFIG).exists() {
                Config::load(Path::new(SYSTEM_CONFIG))?.database.path
            } else {
                local
            }
        }
    })
}

fn status_cmd(args: StatusArgs) -> Result<(), Failure> {
    let db = resolve_db(&args.db, &args.config)?;
    let config = match &args.config {
        Some(path) => Some(Config::load(path)?),
        None if Path::new(SYSTEM_CONFIG).exists() && args.db.is_none() => {
            Some(Config::load(Path::new(SYSTEM_CONFIG))?)
        }
        None => None,
    };
    let failure = |message: String| Failure {
        code: EXIT_FAILURE,
        message,
    };
    let store = Store::open_read_only(&db).map_err(|e| failure(e.to_string()))?;
    let report = crate::status::gather(&store, config.as_ref(), Timestamp::now())
        .map_err(|e| failure(e.to_string()))?;
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    match crate::status::render(&report, &mut out).and_then(|_| out.flush()) {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        Err(e) => Err(failure(format!("cannot write the output: {e}"))),
        Ok(()) => Ok(()),
    }
}

fn query_cmd(args: QueryArgs) -> Result<(), Failure> {
    let db = resolve_db(&args.db, &args.config)?;
    let usage = |message: String| Failure {
        code: EXIT_USAGE,
        message,
    };
    // Absolute times are checked before the database is opened, as before; relative
    // ones need the station's zone, from the database.
    let absolute = |s: &Option<String>, flag: &str| -> Result<Option<Timestamp>, Failure> {
        let Some(s) = s else { return Ok(None) };
        let relative =
            matches!(s.trim(), "now" | "today" | "yesterday") || s.trim().starts_with('-');
        if relative {
            return Ok(None);
        }
        parse_time(s).map(Some).map_err(|e| {
            usage(format!(
                "{flag}: {e}; or now, today, yesterday, -24h, -7d (station-local days)"
            ))
        })
    };
    let (from_abs, to_abs) = (absolute(&args.from, "--from")?, absolute(&args.to, "--to")?);
    if let (Some(from), Some(to)) = (from_abs, to_abs) {
        if to <= from {
            return Err(usage(format!(
                "--to ({to}) must be later than --from ({from})"
            )));
        }
    }
    let store = Store::open_read_only(&db).map_err(|e| Failure {
        code: EXIT_FAILURE,
        message: e.to_string(),
    })?;
    let tz = store.time_zone();
    let now = args.now.unwrap_or_else(Timestamp::now);
    let when = |s: &Option<String>, flag: &str| -> Result<Option<Timestamp>, Failure> {
        s.as_deref()
            .map(|s| crate::time::parse_when(s, now, tz).map_err(|e| usage(format!("{flag}: {e}"))))
            .transpose()
    };
    let (from, to) = (when(&args.from, "--from")?, when(&args.to, "--to")?);
    if let (Some(from), Some(to)) = (from, to) {
        if to <= from {
            return Err(usage(format!(
                "--to ({to}) must be later than --from ({from})"
            )));
        }
    }
    let every = match args.every {
        EveryArg::Raw => Every::Raw,
        EveryArg::Hour => Every::Hour,
        EveryArg::Day => Every::Day,
    };
    let mut table = store.query(from, to, every).map_err(|e| Failure {
        code: EXIT_FAILURE,
        message: e.to_string(),
    })?;
    let format = match args.format {
        FormatArg::Table => Format::Table,
        FormatArg::Csv => Format::Csv,
        FormatArg::Json => Format::Json,
    };
    query::add_local_columns(&mut table, tz);
    match (&args.columns, format) {
        (Some(names), _) => {
            let names: Vec<&str> = names.iter().map(|n| n.trim()).collect();
            query::select_columns(&mut table, &names, false).map_err(usage)?;
        }
        (None, Format::Table) => {
            query::select_columns(&mut table, &query::default_columns(every, args.utc), true)
                .map_err(usage)?;
        }
        (None, _) => {}
    }
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    let result = query::render(&table, format, &mut out).and_then(|_| out.flush());
    match result {
        // `weatherd query | head` closes the pipe early; that is not an error.
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        Err(e) => Err(Failure {
            code: EXIT_FAILURE,
            message: format!("cannot write the output: {e}"),
        }),
        Ok(()) => Ok(()),
    }
}

/// The [report] settings a reading command uses: from --config, else from the system
/// config when the database comes from it too, else the defaults.
fn report_settings(
    db: &Option<PathBuf>,
    config: &Option<PathBuf>,
) -> Result<crate::report::ReportSettings, Failure> {
    Ok(match config {
        Some(path) => Config::load(path)?.report,
        None if db.is_none()
            && !Path::new("weather.db").exists()
            && Path::new(SYSTEM_CONFIG).exists() =>
        {
            Config::load(Path::new(SYSTEM_CONFIG))?.report
        }
        None => crate::report::ReportSettings::default(),
    })
}

fn report_cmd(args: ReportArgs) -> Result<(), Failure> {
    let db = resolve_db(&args.db, &args.config)?;
    let settings = report_settings(&args.db, &args.config)?;
    let failure = |message: String| Failure {
        code: EXIT_FAILURE,
        message,
    };
    let store = Store::open_read_only(&db).map_err(|e| failure(e.to_string()))?;
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    let written = if let Some((year, month)) = args.month {
        let r = crate::report::month(&store, year, month, &settings)
            .map_err(|e| failure(e.to_string()))?;
        crate::report::render_month(&r, args.format, &mut out)
    } else if let Some(year) = args.year {
        let r = crate::report::year(&store, year, &settings).map_err(|e| failure(e.to_string()))?;
        crate::report::render_year(&r, args.format, &mut out)
    } else {
        let r = crate::report::records(&store, &settings).map_err(|e| failure(e.to_string()))?;
        crate::report::render_records(&r, args.format, &mut out)
    };
    match written.and_then(|_| out.flush()) {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        Err(e) => Err(failure(format!("cannot write the output: {e}"))),
        Ok(()) => Ok(()),
    }
}
