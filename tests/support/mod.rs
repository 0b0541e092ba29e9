//! Test doubles shared by the integration tests.
#![allow(dead_code)]

pub mod bh1750_chip;
pub mod report;
pub mod web_api;
