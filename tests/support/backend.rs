//! A test `Backend` built from emulated chips: each I2C bus path holds devices, each at
//! a fixed address or (a chip that checks its own address, and may move it or be
//! unplugged) at whatever address it answers, as on a real bus where only the
//! addressed chip acknowledges. Everything else (GPIO, SPI, 1-Wire, other buses) is
//! refused with an error naming what the test did not provide.

use embedded_hal::delay::DelayNs;
use embedded_hal::i2c::{ErrorType, I2c, Operation};
use std::path::Path;
use std::sync::{Arc, Mutex};
use weatherd::hw::{AdcChannel, Backend, EdgeSource, HwError, I2cBus, I2cError, OneWire, PinRole};

/// One emulated device, shared by every handle to its bus.
pub type Device = Arc<Mutex<dyn I2c<Error = I2cError> + Send>>;

type DelayMaker = Arc<dyn Fn() -> Box<dyn DelayNs + Send> + Send + Sync>;

#[derive(Clone)]
struct Slot {
    bus: String,
    /// `None`: the device decides which addresses it answers.
    address: Option<u8>,
    device: Device,
}

/// See the module docs. Build with [`TestBackend::new`] and the `with_*` methods.
#[derive(Clone)]
pub struct TestBackend {
    slots: Vec<Slot>,
    delay: DelayMaker,
    blocking: bool,
    asked: Arc<Mutex<Vec<String>>>,
}

impl Default for TestBackend {
    fn default() -> Self {
        TestBackend::new()
    }
}

impl TestBackend {
    /// No devices, a delay that returns at once, non-blocking I/O.
    pub fn new() -> TestBackend {
        TestBackend {
            slots: Vec::new(),
            delay: Arc::new(|| Box::new(weatherd::sim::hardware::NoDelay)),
            blocking: false,
            asked: Arc::default(),
        }
    }

    /// `device` on `bus`, answering only at `address` (for a fake that answers any).
    pub fn with_device_at(
        mut self,
        bus: &str,
        address: u8,
        device: impl I2c<Error = I2cError> + Send + 'static,
    ) -> Self {
        self.slots.push(Slot {
            bus: bus.into(),
            address: Some(address),
            device: Arc::new(Mutex::new(device)),
        });
        self
    }

    /// An emulated chip on `bus` that acknowledges its own address (and nothing while
    /// unplugged), so a test can move or unplug it.
    pub fn with_chip(
        mut self,
        bus: &str,
        chip: impl I2c<Error = I2cError> + Send + 'static,
    ) -> Self {
        self.slots.push(Slot {
            bus: bus.into(),
            address: None,
            device: Arc::new(Mutex::new(chip)),
        });
        self
    }

    /// What drivers wait with: usually an emulated chip's clock, so its conversions
    /// finish while nothing sleeps.
    pub fn with_delay<D: DelayNs + Send + 'static>(
        mut self,
        make: impl Fn() -> D + Send + Sync + 'static,
    ) -> Self {
        self.delay = Arc::new(move || Box::new(make()));
        self
    }

    /// Whether drivers are told their I/O blocks (a real bus says yes).
    pub fn blocking(mut self, blocking: bool) -> Self {
        self.blocking = blocking;
        self
    }

    /// Every I2C bus path asked for so far, in order.
    pub fn asked(&self) -> Vec<String> {
        self.asked.lock().unwrap().clone()
    }
}

impl Backend for TestBackend {
    fn blocking_io(&self) -> bool {
        self.blocking
    }
    fn edge_source(&self, pin: u8, _role: PinRole) -> Result<Box<dyn EdgeSource>, HwError> {
        Err(HwError::Unavailable {
            device: format!("GPIO{pin}"),
            why: "not in this test".into(),
        })
    }
    fn adc_channel(&self, spi: &str, _channel: u8) -> Result<Box<dyn AdcChannel>, HwError> {
        Err(HwError::Unavailable {
            device: spi.to_string(),
            why: "not in this test".into(),
        })
    }
    fn i2c(&self, bus: &str) -> Result<I2cBus, HwError> {
        self.asked.lock().unwrap().push(bus.to_string());
        let slots: Vec<Slot> = self
            .slots
            .iter()
            .filter(|s| s.bus == bus)
            .cloned()
            .collect();
        if slots.is_empty() {
            return Err(HwError::Unavailable {
                device: bus.to_string(),
                why: "no such bus in this test".into(),
            });
        }
        Ok(Box::new(TestBus(slots)))
    }
    fn one_wire(&self, root: &Path) -> Result<Box<dyn OneWire>, HwError> {
        Err(HwError::Unavailable {
            device: root.display().to_string(),
            why: "not in this test".into(),
        })
    }
    fn delay(&self) -> Box<dyn DelayNs + Send> {
        (self.delay)()
    }
}

struct TestBus(Vec<Slot>);

impl ErrorType for TestBus {
    type Error = I2cError;
}

impl I2c for TestBus {
    fn transaction(&mut self, address: u8, ops: &mut [Operation<'_>]) -> Result<(), I2cError> {
        for slot in &self.0 {
            if slot.address.is_some_and(|a| a != address) {
                continue;
            }
            let mut device = slot.device.lock().unwrap();
            match device.transaction(address, ops) {
                // Not this chip's address (or unplugged): the next one may answer.
                Err(I2cError::NoAcknowledge) if slot.address.is_none() => continue,
                other => return other,
            }
        }
        Err(I2cError::NoAcknowledge)
    }
}
