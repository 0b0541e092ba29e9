//! Wind vane: a ring of reed switches and resistors read as a voltage divider through
//! an MCP3008 channel. The direction is the table entry whose expected count is
//! nearest, accepted only inside the midpoints to its neighbouring counts; anything
//! else is a fault, never a guess.

use super::{Driver, PolledSensor, SensorError};
use crate::config::WindVaneConfig;
use crate::hw::{AdcChannel, Backend};
use crate::observation::{Quantity, Reading};

/// The expected counts of a vane, sorted by count, with the accepted band of each.
#[derive(Clone, Debug, PartialEq)]
pub struct VaneTable {
    /// (expected count, lower bound inclusive, upper bound inclusive, degrees)
    pub bands: Vec<VaneBand>,
}

#[derive(Clone, Copy, Debug, PartialEq)]
pub struct VaneBand {
    pub deg: f64,
    pub expected: f64,
    pub low: f64,
    pub high: f64,
}

impl VaneTable {
    /// Expected count for resistance `ohm` in series with `divider_ohm` to ground at
    /// `supply_v`, read by a 10-bit ADC referenced to the same supply.
    pub fn from_config(c: &WindVaneConfig) -> VaneTable {
        let _ = c;
        todo!()
    }

    /// The direction for a count, or `None` when it lies outside every band.
    pub fn classify(&self, count: u16) -> Option<f64> {
        let _ = count;
        todo!()
    }
}

pub fn build(c: &WindVaneConfig, hw: &dyn Backend) -> Result<Driver, SensorError> {
    let adc = hw.adc_channel(&c.spi, c.channel)?;
    Ok(Driver::Polled {
        sensor: Box::new(WindVane {
            adc,
            table: VaneTable::from_config(c),
            reads: c.reads_per_sample.max(1),
        }),
        blocking: hw.blocking_io(),
    })
}

pub struct WindVane {
    adc: Box<dyn AdcChannel>,
    table: VaneTable,
    reads: u32,
}

impl PolledSensor for WindVane {
    fn quantities(&self) -> Vec<Quantity> {
        vec![Quantity::WindDirDeg]
    }
    fn read(&mut self) -> Result<Vec<Reading>, SensorError> {
        let _ = (&mut self.adc, &self.table, self.reads);
        todo!()
    }
}
