//! The shared test kit: one folder every integration test (and the benches) reaches
//! with `mod support;`. One file per part, one `pub mod` line per file, so parts added
//! in parallel merge without conflicts.
//!
//! - `db`: a temporary database, the station's and the uploader's handles on it;
//! - `records`: the one record builder (numbered, full and empty records);
//! - `backend`: a test `Backend` built from emulated chips by bus and address;
//! - `logs`: log capture;
//! - `policy`: upload policies for tests;
//! - `http_server`: an in-process HTTP receiver with scripted faults;
//! - `mosquitto`: a real broker on a free port;
//! - `bh1750_chip`: an emulated BH1750;
//! - `analog`: an emulated MCP3008 and a backend whose ADC channels reach it;
//! - `simulated`: a simulated station run by the real binary, read back with `query`.
// Each test binary uses only some of the kit.
#![allow(dead_code)]

pub mod analog;
pub mod backend;
pub mod bh1750_chip;
pub mod db;
pub mod http_server;
pub mod logs;
pub mod mosquitto;
pub mod networks;
pub mod policy;
pub mod records;
pub mod report;
pub mod simulated;
pub mod tsdb;
pub mod web_api;
