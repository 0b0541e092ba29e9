//! weatherd: the weather-station daemon.
//!
//! # Layout
//!
//! Data flows one way: sensors → sampler → aggregator → store (→ uploaders).
//!
//! - [`config`]: TOML → validated [`config::Config`], errors with key paths.
//! - [`hw`]: the small traits every hardware access goes through.
//! - [`sensors`]: the driver API and one file per driver; [`pulse`]: debounce.
//! - [`sim`]: simulated weather played through simulated hardware.
//! - [`clock`], [`sampler`]: wall-clock-aligned ticks; one [`observation::Sample`] per tick.
//! - [`aggregate`], [`meteo`]: samples → [`record::ArchiveRecord`] per interval.
//! - [`store`]: the SQLite database, its only owner, one file per job; it hands out a
//!   writer ([`store::Store`]), a read-only [`store::Reader`] and an uploader's
//!   [`store::Outbox`]; [`query`]: output formats.
//! - [`report`]: NOAA-style monthly/yearly climate summaries and station records.
//! - [`probe`]: `weatherd probe`, what the machine has and what to fix.
//! - [`upload`]: the outbox uploaders (HTTP, MQTT), one cursor per destination.
//! - [`station`]: wires it all together for `weatherd run`; [`status`]: `weatherd status`.
//! - [`web`]: the page and the read-only JSON API the daemon serves (`[web]`).

pub mod aggregate;
pub mod cli;
pub mod clock;
pub mod config;
#[cfg(test)]
mod error_test_kit;
pub mod hw;
pub mod meteo;
pub mod observation;
pub mod probe;
pub mod pulse;
pub mod query;
pub mod record;
pub mod report;
pub mod sampler;
pub mod sensors;
pub mod sim;
pub mod spike;
pub mod station;
pub mod status;
pub mod store;
pub mod time;
pub mod timesync;
pub mod upload;
pub mod web;
