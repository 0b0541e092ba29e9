//! The only doors to hardware. Drivers talk to these small traits; the real
//! implementations (rppal, linux-embedded-hal, sysfs) and the simulator's both sit
//! behind them, so every driver runs unchanged on a Pi, in tests and in `--simulate`.

use crate::time::Timestamp;

pub mod gpio;
pub mod i2c;
pub mod spi;

#[cfg(test)]
mod error_tests;

/// A hardware access that failed. Each variant names what went wrong; its `Display`
/// tells the operator the fix, as rppal's errors do (the text is stored with the
/// fault and shown by `weatherd status`).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum HwError {
    /// A bus device file could not be opened.
    #[error(transparent)]
    Open(#[from] OpenError),
    /// A GPIO line could not be used.
    #[error(transparent)]
    Gpio(#[from] gpio::GpioError),
    /// The config names an MCP3008 input that does not exist.
    #[error(
        "{device}: the MCP3008 has channels 0 to 7, not {channel}; set `channel` to the input \
         the vane's divider is wired to"
    )]
    AdcChannel { device: String, channel: u8 },
    /// The SPI device refused the mode or clock.
    #[error(
        "{device}: cannot set SPI mode 0 at {hz} Hz: {detail}; check that `spi` names the \
         MCP3008's device (`ls /dev/spidev*`)"
    )]
    SpiConfigure {
        device: String,
        hz: u32,
        detail: String,
    },
    /// An SPI transfer failed in the kernel.
    #[error(
        "{device}: SPI transfer failed: {detail}; check that SPI is still enabled \
         (`ls /dev/spidev*`) and restart the service"
    )]
    SpiTransfer { device: String, detail: String },
    /// Nothing drove MISO during a conversion: no chip, or a loose wire.
    #[error(
        "{device} channel {channel}: no answer from the MCP3008 (reply {reply:02x?}); check its \
         power and the MISO wire (GPIO9, physical pin 21)"
    )]
    AdcNoAnswer {
        device: String,
        channel: u8,
        reply: [u8; 3],
    },
    /// The kernel would not tell the time edges are stamped with.
    #[error(
        "clock_gettime failed: {detail}; the kernel's clocks are unusable, restart the machine"
    )]
    Clock { detail: String },
    /// Edges came faster than the sampler collected them.
    #[error(
        "GPIO{bcm}: {lost} edges were lost because they were not collected in time (is the \
         system overloaded? check the load with `top`)"
    )]
    EdgesLost { bcm: u8, lost: u64 },
    /// Edges could not be put on the UTC time line (`detail` is a [`HwError::Clock`]).
    #[error("GPIO{bcm}: {detail}")]
    EdgeClock { bcm: u8, detail: String },
    /// rppal's interrupt thread ended; `rearm` says whether it was restarted.
    #[error(
        "GPIO{bcm}: the edge interrupt thread failed ({why}); {rearm}; if this repeats, check \
         the pin's wiring for noise and restart the service"
    )]
    EdgeThread { bcm: u8, why: String, rearm: String },
    /// The w1 sysfs directory is missing: the overlay is not loaded.
    #[error(
        "{root}: cannot list 1-Wire devices ({detail}); is `dtoverlay=w1-gpio` in \
         /boot/firmware/config.txt?"
    )]
    OneWireList { root: String, detail: String },
    /// The config's 1-Wire id is not one path component.
    #[error(
        "`{id}` is not a 1-Wire device id (expected e.g. 28-00000a1b2c3d); fix `id` in the \
         config (`ls /sys/bus/w1/devices` lists the probes)"
    )]
    OneWireId { id: String },
    /// No slave with this id is on the bus.
    #[error(
        "1-Wire device {id} not found under {root} (probe unplugged or wrong id?); check the \
         probe's wiring, or set `id` to one of the 28-* entries there"
    )]
    OneWireMissing { id: String, root: String },
    /// The slave's `w1_slave` file could not be read.
    #[error("{path}: {detail}; check the probe's wiring and its 4.7 kΩ pull-up")]
    OneWireRead { path: String, detail: String },
    /// The backend (the simulator, a test double) has no such device, or cannot play
    /// this role on it.
    #[error("{device}: {why}; fix the config to use what this backend provides")]
    Unavailable { device: String, why: String },
    /// A fault the simulator or a test injects on a device that exists.
    #[error("{device}: {detail} (injected fault; on real hardware check the wiring)")]
    Bus { device: String, detail: String },
}

/// Which bus device file failed to open (the group that may use it, how to enable it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BusKind {
    I2c,
    Spi,
}

impl BusKind {
    /// The Unix group whose members may open the device file.
    fn group(self) -> &'static str {
        match self {
            BusKind::I2c => "i2c",
            BusKind::Spi => "spi",
        }
    }
    /// The bus's name in messages.
    fn name(self) -> &'static str {
        match self {
            BusKind::I2c => "I2C",
            BusKind::Spi => "SPI",
        }
    }
    /// What the device file is.
    fn device(self) -> &'static str {
        match self {
            BusKind::I2c => "I2C bus",
            BusKind::Spi => "SPI device",
        }
    }
    /// The `/boot/firmware/config.txt` line that enables the bus.
    fn overlay(self) -> &'static str {
        match self {
            BusKind::I2c => "dtparam=i2c_arm=on",
            BusKind::Spi => "dtparam=spi=on",
        }
    }
}

/// Why a bus device file (`/dev/i2c-1`, `/dev/spidev0.0`) could not be opened; its
/// `Display` tells the operator the fix, as rppal's errors do.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum OpenError {
    #[error(
        "{path}: permission denied: add the weatherd user to the {group} group \
         (`sudo usermod -aG {group} weatherd`) and restart the service",
        group = bus.group()
    )]
    PermissionDenied { path: String, bus: BusKind },
    #[error(
        "{path} does not exist: enable {name} with `{overlay}` in /boot/firmware/config.txt \
         (or `sudo raspi-config`, Interface Options) and reboot",
        name = bus.name(),
        overlay = bus.overlay()
    )]
    NotEnabled { path: String, bus: BusKind },
    #[error("{path}: cannot open the {device}: {detail}", device = bus.device())]
    Other {
        path: String,
        bus: BusKind,
        detail: String,
    },
}

/// A GPIO input that delivers falling edges with the kernel's own timestamps.
pub trait EdgeSource: Send {
    /// Appends, in time order, every edge with `from <= ts < until` that has not been
    /// handed out yet. Edges at or after `until` stay queued for the next call.
    fn collect(
        &mut self,
        from: Timestamp,
        until: Timestamp,
        out: &mut Vec<Timestamp>,
    ) -> Result<(), HwError>;
}

/// One channel of an ADC (the MCP3008 the vane and other inputs are wired to).
pub trait AdcChannel: Send {
    /// One conversion, as a raw count (0..=1023 for a 10-bit ADC).
    fn read_count(&mut self) -> Result<u16, HwError>;
}

/// An ADC channel that answers from a script, in order, then fails (unit tests'
/// scripted transactions).
#[cfg(test)]
pub(crate) struct ScriptedAdc(pub std::collections::VecDeque<Result<u16, HwError>>);

#[cfg(test)]
impl ScriptedAdc {
    /// Answers `counts`, one per conversion.
    pub(crate) fn counts(counts: &[u16]) -> ScriptedAdc {
        ScriptedAdc(counts.iter().map(|&c| Ok(c)).collect())
    }
}

#[cfg(test)]
impl AdcChannel for ScriptedAdc {
    fn read_count(&mut self) -> Result<u16, HwError> {
        self.0.pop_front().unwrap_or_else(|| {
            Err(HwError::Bus {
                device: "script".into(),
                detail: "exhausted".into(),
            })
        })
    }
}

/// An I2C bus as drivers see it: embedded-hal's blocking trait, boxed, so the same
/// driver code runs over `/dev/i2c-N`, a register-level emulator or a scripted mock.
pub type I2cBus = Box<dyn embedded_hal::i2c::I2c<Error = I2cError> + Send>;

/// An I2C transfer that failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum I2cError {
    /// Nobody acknowledged the address or a data byte: the device is missing or
    /// unplugged, or the address is wrong.
    NoAcknowledge,
    /// Any other bus failure (arbitration, timeout, the device file went away).
    Bus,
}

impl embedded_hal::i2c::Error for I2cError {
    fn kind(&self) -> embedded_hal::i2c::ErrorKind {
        match self {
            I2cError::NoAcknowledge => embedded_hal::i2c::ErrorKind::NoAcknowledge(
                embedded_hal::i2c::NoAcknowledgeSource::Unknown,
            ),
            I2cError::Bus => embedded_hal::i2c::ErrorKind::Bus,
        }
    }
}

impl std::fmt::Display for I2cError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            I2cError::NoAcknowledge => {
                f.write_str("no acknowledge (device missing or wrong address)")
            }
            I2cError::Bus => f.write_str("I2C bus error"),
        }
    }
}

/// The Linux 1-Wire bus as the `w1` sysfs shows it.
pub trait OneWire: Send {
    /// The slave ids present (`28-00000a1b2c3d`), sorted.
    fn devices(&self) -> Result<Vec<String>, HwError>;
    /// The text of the device's `w1_slave` file (two lines: CRC check and `t=`).
    /// Reading it triggers a conversion of up to 750 ms.
    fn read_slave(&self, id: &str) -> Result<String, HwError>;
}

/// What the physical world wires to a GPIO pin, so the simulator knows what to play
/// on it. Real GPIO ignores it.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum PinRole {
    Anemometer { kmh_per_hz: f64 },
    RainGauge { mm_per_tip: f64 },
}

/// Hands out hardware to drivers at start-up: the real machine's, or the simulator's.
pub trait Backend: Send + Sync {
    /// True when device access really blocks (a real bus): polled drivers then run on
    /// blocking threads with a timeout. The simulator answers from memory and says
    /// false, so a simulated year replays in seconds.
    fn blocking_io(&self) -> bool {
        true
    }
    fn edge_source(&self, pin: u8, role: PinRole) -> Result<Box<dyn EdgeSource>, HwError>;
    /// One channel of an MCP3008 on the SPI device at `spi` (e.g. `/dev/spidev0.0`).
    fn adc_channel(&self, spi: &str, channel: u8) -> Result<Box<dyn AdcChannel>, HwError>;
    /// The I2C bus device at `bus` (e.g. `/dev/i2c-1`).
    fn i2c(&self, bus: &str) -> Result<I2cBus, HwError>;
    /// The 1-Wire bus under `sysfs_root` (normally `/sys/bus/w1/devices`).
    fn one_wire(&self, sysfs_root: &std::path::Path) -> Result<Box<dyn OneWire>, HwError>;
    /// What drivers wait with between bus steps (a BME280's conversion, 9.3 ms at
    /// most with the default settings): a real sleep on hardware; the simulator's
    /// returns at once, moving only its emulated chips' clocks on.
    fn delay(&self) -> Box<dyn embedded_hal::delay::DelayNs + Send> {
        Box::new(ThreadSleep)
    }
}

/// The backend's delay as a sized `DelayNs` for a driver generic over its delay
/// (embedded-hal implements `DelayNs` for `&mut T`, not for `Box<dyn DelayNs>`).
/// Drivers wait only through this: on the simulator (and in tests) the wait moves an
/// emulated chip's clock and returns at once, so a replay never sleeps.
pub struct BackendDelay(pub Box<dyn embedded_hal::delay::DelayNs + Send>);

impl embedded_hal::delay::DelayNs for BackendDelay {
    fn delay_ns(&mut self, ns: u32) {
        self.0.delay_ns(ns)
    }
}

/// A delay that sleeps the calling thread (drivers run on blocking threads).
#[derive(Clone, Copy, Debug, Default)]
pub struct ThreadSleep;

impl embedded_hal::delay::DelayNs for ThreadSleep {
    fn delay_ns(&mut self, ns: u32) {
        std::thread::sleep(std::time::Duration::from_nanos(u64::from(ns)));
    }
}

/// The Linux `w1` bus as sysfs shows it: one directory per slave under `root`
/// (normally `/sys/bus/w1/devices`), each with a `w1_slave` file. The root is movable
/// so tests can point it at a fixture tree.
#[derive(Clone, Debug, PartialEq)]
pub struct SysfsOneWire {
    pub root: std::path::PathBuf,
}

impl SysfsOneWire {
    pub fn new(root: impl Into<std::path::PathBuf>) -> Self {
        SysfsOneWire { root: root.into() }
    }
}

impl OneWire for SysfsOneWire {
    /// The DS18B20 family's slaves (`28-*`); the bus master's own directory and other
    /// families are left out.
    fn devices(&self) -> Result<Vec<String>, HwError> {
        let entries = std::fs::read_dir(&self.root).map_err(|e| HwError::OneWireList {
            root: self.root.display().to_string(),
            detail: e.to_string(),
        })?;
        let mut ids: Vec<String> = entries
            .filter_map(|e| e.ok())
            .filter_map(|e| e.file_name().into_string().ok())
            .filter(|name| name.starts_with("28-"))
            .collect();
        ids.sort();
        Ok(ids)
    }

    fn read_slave(&self, id: &str) -> Result<String, HwError> {
        // The id comes from the config: keep it to one path component.
        if id.is_empty() || id.contains(['/', '\\']) || id.starts_with('.') {
            return Err(HwError::OneWireId { id: id.to_string() });
        }
        let path = self.root.join(id).join("w1_slave");
        // Bytes, not a string: a corrupt read is the parser's to report, with the rest
        // of the text's faults.
        let bytes = std::fs::read(&path).map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => HwError::OneWireMissing {
                id: id.to_string(),
                root: self.root.display().to_string(),
            },
            // Any other I/O error (EIO from a flaky bus, EACCES): the kernel's words.
            _ => HwError::OneWireRead {
                path: path.display().to_string(),
                detail: e.to_string(),
            },
        })?;
        Ok(String::from_utf8_lossy(&bytes).into_owned())
    }
}

/// The Raspberry Pi's hardware: GPIO through rppal, I2C and SPI through
/// linux-embedded-hal. Each call opens the device anew; the returned object owns it
/// for the daemon's life.
pub struct RealHardware;

impl Backend for RealHardware {
    fn edge_source(&self, pin: u8, _role: PinRole) -> Result<Box<dyn EdgeSource>, HwError> {
        Ok(Box::new(gpio::GpioEdgeSource::open(pin)?))
    }
    fn adc_channel(&self, spi: &str, channel: u8) -> Result<Box<dyn AdcChannel>, HwError> {
        Ok(Box::new(spi::open(spi, channel)?))
    }
    fn i2c(&self, bus: &str) -> Result<I2cBus, HwError> {
        i2c::open(bus)
    }
    fn one_wire(&self, sysfs_root: &std::path::Path) -> Result<Box<dyn OneWire>, HwError> {
        Ok(Box::new(SysfsOneWire::new(sysfs_root)))
    }
}
