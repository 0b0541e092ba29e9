//! TEMPORARY stub (replaced by the sim branch).
use super::{SimTime, Weather};
use crate::hw::{AdcChannel, Backend, EdgeSource, HwError, I2cBus, OneWire, PinRole};
use std::sync::Arc;
pub struct SimHardware;
impl SimHardware {
    pub fn new(_w: Arc<Weather>, _t: SimTime) -> Self {
        SimHardware
    }
}
impl Backend for SimHardware {
    fn edge_source(&self, _pin: u8, _role: PinRole) -> Result<Box<dyn EdgeSource>, HwError> {
        todo!()
    }
    fn adc_channel(&self, _spi: &str, _channel: u8) -> Result<Box<dyn AdcChannel>, HwError> {
        todo!()
    }
    fn i2c(&self, _bus: &str) -> Result<I2cBus, HwError> {
        todo!()
    }
    fn one_wire(&self, _r: &std::path::Path) -> Result<Box<dyn OneWire>, HwError> {
        todo!()
    }
}
