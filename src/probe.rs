//! `weatherd probe`: looks at the machine and says what is there and what is wrong,
//! with the exact fix for each problem.
//!
//! Every file it reads is found through a [`ProbeRoot`], so tests point it at a
//! fixture tree; the I2C bus is asked through a [`Backend`], so tests answer with an
//! emulator. It never panics: anything it cannot read becomes a line of the report.
//!
//! Exit codes: 0 when everything the standard build needs is there, 1 when this is
//! not a Raspberry Pi, 2 when something is missing or wrong.

use crate::hw::{Backend, RealHardware};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

/// Where the probe looks; [`ProbeRoot::system`] on a real machine.
#[derive(Clone, Debug, PartialEq)]
pub struct ProbeRoot {
    /// `/proc/device-tree/model`: "Raspberry Pi 4 Model B Rev 1.4" plus a NUL.
    pub model: PathBuf,
    /// The firmware config files, in the order they are tried (Bookworm moved it to
    /// `/boot/firmware/config.txt`; older releases use `/boot/config.txt`).
    pub boot_configs: Vec<PathBuf>,
    /// `/dev`, for `i2c-1`, `spidev0.0`, `gpiochip*`, `gpiomem*`.
    pub dev: PathBuf,
    /// `/sys/bus/w1/devices`, where the kernel lists 1-Wire probes.
    pub w1_devices: PathBuf,
    /// `/etc/group`, to check the service user's groups.
    pub group: PathBuf,
    /// The account weatherd runs as (the systemd unit's `User=`).
    pub service_user: String,
}

impl ProbeRoot {
    /// The real machine's paths.
    pub fn system() -> ProbeRoot {
        ProbeRoot::under(Path::new("/"))
    }

    /// The same layout below `root` (a fixture tree in tests).
    pub fn under(root: &Path) -> ProbeRoot {
        ProbeRoot {
            model: root.join("proc/device-tree/model"),
            boot_configs: vec![
                root.join("boot/firmware/config.txt"),
                root.join("boot/config.txt"),
            ],
            dev: root.join("dev"),
            w1_devices: root.join("sys/bus/w1/devices"),
            group: root.join("etc/group"),
            service_user: "weatherd".into(),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Status {
    /// Present and usable.
    Ok,
    /// Not set up yet (a bus not enabled, a sensor not found).
    Missing,
    /// Set up but not working (no permission, device node absent after enabling).
    Problem,
    /// Worth knowing, not wrong.
    Info,
}

impl Status {
    fn label(self) -> &'static str {
        match self {
            Status::Ok => "OK",
            Status::Missing => "MISSING",
            Status::Problem => "PROBLEM",
            Status::Info => "INFO",
        }
    }
}

/// One line of the report, and what to do about it.
#[derive(Clone, Debug, PartialEq)]
pub struct Finding {
    pub status: Status,
    pub message: String,
    pub fix: Option<String>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct ProbeReport {
    /// The Raspberry Pi model, or `None` when this is not a Pi.
    pub model: Option<String>,
    pub findings: Vec<Finding>,
}

impl ProbeReport {
    pub fn is_pi(&self) -> bool {
        self.model.is_some()
    }

    /// The findings that need fixing.
    pub fn trouble(&self) -> impl Iterator<Item = &Finding> {
        self.findings
            .iter()
            .filter(|f| matches!(f.status, Status::Missing | Status::Problem))
    }

    /// 0: ready; 1: not a Raspberry Pi; 2: a Pi with something missing or wrong.
    pub fn exit_code(&self) -> i32 {
        if !self.is_pi() {
            1
        } else if self.trouble().next().is_some() {
            2
        } else {
            0
        }
    }

    /// The report as the operator reads it: one marked line per finding, the fix
    /// indented below, and a summary.
    pub fn render(&self) -> String {
        let mut s = String::new();
        for f in &self.findings {
            let _ = writeln!(s, "{:<8} {}", f.status.label(), f.message);
            if let Some(fix) = &f.fix {
                let _ = writeln!(s, "{:<8} fix: {fix}", "");
            }
        }
        let trouble = self.trouble().count();
        let _ = match (self.is_pi(), trouble) {
            (false, _) => writeln!(
                s,
                "\nThis is not a Raspberry Pi, so there is no station hardware to probe."
            ),
            (true, 0) => writeln!(s, "\nEverything the standard station needs is in place."),
            (true, 1) => writeln!(s, "\n1 thing to fix (see above)."),
            (true, n) => writeln!(s, "\n{n} things to fix (see above)."),
        };
        s
    }
}

/// `weatherd probe`: probes this machine, prints the report, returns the exit code.
pub(crate) fn run_probe() -> i32 {
    let report = probe(&ProbeRoot::system());
    print!("{}", report.render());
    report.exit_code()
}

/// Probes the machine under `root`, asking the real I2C bus.
pub fn probe(root: &ProbeRoot) -> ProbeReport {
    probe_with(root, &RealHardware)
}

/// Probes the machine under `root`, asking `hw` for the I2C bus (an emulator in tests).
pub fn probe_with(root: &ProbeRoot, hw: &dyn Backend) -> ProbeReport {
    let mut p = Prober {
        findings: Vec::new(),
    };
    let model = p.model(root);
    if model.is_none() {
        return ProbeReport {
            model,
            findings: p.findings,
        };
    }
    let boot = p.boot_config(root);
    p.i2c(root, &boot, hw);
    p.spi(root, &boot);
    p.one_wire(root, &boot);
    p.gpio(root);
    p.groups(root);
    ProbeReport {
        model,
        findings: p.findings,
    }
}

/// What `config.txt` switches on. Conditional sections (`[pi4]`, `[cm4]` …) are not
/// evaluated: a line counts wherever it is, which is right for the usual file.
#[derive(Clone, Debug, Default, PartialEq)]
pub(crate) struct BootConfig {
    pub path: Option<PathBuf>,
    pub i2c: bool,
    pub spi: bool,
    /// The 1-Wire overlay's pin (`gpiopin=`, default 4), when it is loaded.
    pub w1_pin: Option<u8>,
}

impl BootConfig {
    /// Parses the text of a `config.txt`; later lines override earlier ones, as in
    /// the firmware.
    pub fn parse(text: &str) -> BootConfig {
        let mut c = BootConfig::default();
        for line in text.lines() {
            let line = line.split('#').next().unwrap_or("").trim();
            if let Some(params) = line.strip_prefix("dtparam=") {
                for param in params.split(',') {
                    let (name, value) = param.split_once('=').unwrap_or((param, "on"));
                    let on = matches!(value.trim(), "on" | "true" | "yes" | "1" | "");
                    match name.trim() {
                        "i2c_arm" | "i2c" => c.i2c = on,
                        "spi" => c.spi = on,
                        _ => {}
                    }
                }
            } else if let Some(overlay) = line.strip_prefix("dtoverlay=") {
                let mut parts = overlay.split(',');
                if matches!(
                    parts.next().map(str::trim),
                    Some("w1-gpio" | "w1-gpio-pullup")
                ) {
                    let pin = parts
                        .filter_map(|p| p.trim().strip_prefix("gpiopin="))
                        .filter_map(|n| n.trim().parse().ok())
                        .next_back()
                        .unwrap_or(4);
                    c.w1_pin = Some(pin);
                }
            }
        }
        c
    }
}

struct Prober {
    findings: Vec<Finding>,
}

impl Prober {
    fn add(&mut self, status: Status, message: impl Into<String>, fix: Option<String>) {
        self.findings.push(Finding {
            status,
            message: message.into(),
            fix,
        });
    }

    fn model(&mut self, root: &ProbeRoot) -> Option<String> {
        let text = std::fs::read(&root.model)
            .ok()
            .map(|b| String::from_utf8_lossy(&b).into_owned());
        let model = text
            .as_deref()
            .map(|t| t.trim_end_matches('\0').trim().to_string());
        match model {
            Some(m) if m.starts_with("Raspberry Pi") => {
                self.add(Status::Ok, m.clone(), None);
                Some(m)
            }
            other => {
                let what = match other {
                    Some(m) if !m.is_empty() => format!("this machine is a \"{m}\""),
                    _ => format!("{} does not name a board", root.model.display()),
                };
                self.add(
                    Status::Problem,
                    format!("Not a Raspberry Pi: {what}."),
                    Some("weatherd reads real sensors only on a Raspberry Pi; here, try `weatherd run --simulate`".into()),
                );
                None
            }
        }
    }

    fn boot_config(&mut self, root: &ProbeRoot) -> BootConfig {
        for path in &root.boot_configs {
            if let Ok(text) = std::fs::read_to_string(path) {
                let mut c = BootConfig::parse(&text);
                c.path = Some(path.clone());
                return c;
            }
        }
        let tried: Vec<String> = root
            .boot_configs
            .iter()
            .map(|p| p.display().to_string())
            .collect();
        self.add(
            Status::Problem,
            format!(
                "No firmware config file found (looked for {})",
                tried.join(" and ")
            ),
            Some("is the boot partition mounted? Without it the buses cannot be checked".into()),
        );
        BootConfig::default()
    }

    /// The config.txt line to add, naming the file.
    fn add_line(boot: &BootConfig, line: &str) -> String {
        let file = boot
            .path
            .as_ref()
            .map_or("/boot/firmware/config.txt".to_string(), |p| {
                p.display().to_string()
            });
        format!("add the line `{line}` to {file}, then reboot")
    }

    /// Reports a device node: present and openable, or why not.
    fn device(&mut self, path: &Path, what: &str, enabled: bool, group: &str) -> bool {
        if !path.exists() {
            if enabled {
                self.add(
                    Status::Problem,
                    format!("{what} is enabled but {} does not exist", path.display()),
                    Some("reboot so the firmware setting takes effect".into()),
                );
            }
            return false;
        }
        match std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(path)
        {
            Ok(_) => true,
            Err(e) if e.kind() == std::io::ErrorKind::PermissionDenied => {
                self.add(
                    Status::Problem,
                    format!("{} exists but this user may not open it", path.display()),
                    Some(format!(
                        "join the {group} group (`sudo usermod -aG gpio,i2c,spi $USER`, then log in again); the service \
                         user needs the same (`sudo usermod -aG gpio,i2c,spi weatherd`)"
                    )),
                );
                false
            }
            Err(e) => {
                self.add(Status::Problem, format!("{}: {e}", path.display()), None);
                false
            }
        }
    }

    fn i2c(&mut self, root: &ProbeRoot, boot: &BootConfig, hw: &dyn Backend) {
        if boot.i2c {
            self.add(Status::Ok, "I2C is enabled (dtparam=i2c_arm=on)", None);
        } else {
            self.add(
                Status::Missing,
                "I2C is not enabled",
                Some(Self::add_line(boot, "dtparam=i2c_arm=on")),
            );
        }
        let path = root.dev.join("i2c-1");
        if !self.device(&path, "I2C", boot.i2c, "i2c") {
            return;
        }
        let bus_name = path.display().to_string();
        let mut bus = match hw.i2c(&bus_name) {
            Ok(bus) => bus,
            Err(e) => {
                self.add(Status::Problem, format!("cannot use {bus_name}: {e}"), None);
                return;
            }
        };
        // What answers where is each sensor module's knowledge (`probe_i2c`).
        let findings = crate::sensors::probe_i2c(&mut bus, &bus_name);
        self.findings.extend(findings);
    }

    fn spi(&mut self, root: &ProbeRoot, boot: &BootConfig) {
        if boot.spi {
            self.add(Status::Ok, "SPI is enabled (dtparam=spi=on)", None);
        } else {
            self.add(
                Status::Missing,
                "SPI is not enabled (the wind vane's MCP3008 needs it)",
                Some(Self::add_line(boot, "dtparam=spi=on")),
            );
        }
        let path = root.dev.join("spidev0.0");
        if self.device(&path, "SPI", boot.spi, "spi") {
            self.add(
                Status::Ok,
                format!("{} is ready for the MCP3008", path.display()),
                None,
            );
        }
    }

    fn one_wire(&mut self, root: &ProbeRoot, boot: &BootConfig) {
        match boot.w1_pin {
            Some(pin) => self.add(
                Status::Ok,
                format!("1-Wire is enabled on GPIO{pin} (dtoverlay=w1-gpio)"),
                None,
            ),
            None => {
                self.add(
                    Status::Missing,
                    "1-Wire is not enabled (the DS18B20 ground probe needs it)",
                    Some(Self::add_line(boot, "dtoverlay=w1-gpio")),
                );
                return;
            }
        }
        let entries = match std::fs::read_dir(&root.w1_devices) {
            Ok(entries) => entries,
            Err(_) => {
                self.add(
                    Status::Problem,
                    format!(
                        "1-Wire is enabled but {} does not exist",
                        root.w1_devices.display()
                    ),
                    Some("reboot so the overlay is loaded".into()),
                );
                return;
            }
        };
        let mut probes: Vec<String> = entries
            .filter_map(|e| e.ok())
            .filter_map(|e| e.file_name().into_string().ok())
            .filter(|name| name.starts_with("28-"))
            .collect();
        probes.sort();
        if probes.is_empty() {
            self.add(
                Status::Missing,
                "No DS18B20 probe on the 1-Wire bus",
                Some(
                    "check the probe's wires: data to GPIO4 (pin 7) with a 4.7 kOhm resistor from data to 3V3, \
                     power to 3V3, ground to GND"
                        .into(),
                ),
            );
        } else {
            let n = probes.len();
            let noun = if n == 1 { "probe" } else { "probes" };
            self.add(
                Status::Ok,
                format!("{n} DS18B20 {noun}: {}", probes.join(", ")),
                None,
            );
        }
    }

    fn gpio(&mut self, root: &ProbeRoot) {
        let mut chips: Vec<PathBuf> = std::fs::read_dir(&root.dev)
            .map(|entries| {
                entries
                    .filter_map(|e| e.ok())
                    .filter(|e| e.file_name().to_string_lossy().starts_with("gpiochip"))
                    .map(|e| e.path())
                    .collect()
            })
            .unwrap_or_default();
        chips.sort();
        if chips.is_empty() {
            self.add(
                Status::Problem,
                format!("No GPIO chip device ({}/gpiochip*)", root.dev.display()),
                Some("the anemometer and rain gauge need the GPIO character device; update Raspberry Pi OS".into()),
            );
            return;
        }
        let usable = chips
            .iter()
            .filter(|c| self.device(c, "GPIO", true, "gpio"))
            .count();
        if usable == chips.len() {
            let names: Vec<String> = chips
                .iter()
                .filter_map(|c| c.file_name())
                .map(|n| n.to_string_lossy().into_owned())
                .collect();
            self.add(
                Status::Ok,
                format!("GPIO is accessible ({})", names.join(", ")),
                None,
            );
        }
        // rppal sets the pull-ups through the GPIO register window.
        for mem in ["gpiomem", "gpiomem0"] {
            let path = root.dev.join(mem);
            if path.exists() {
                self.device(&path, "GPIO", true, "gpio");
            }
        }
    }

    fn groups(&mut self, root: &ProbeRoot) {
        let user = root.service_user.as_str();
        let Ok(text) = std::fs::read_to_string(&root.group) else {
            self.add(
                Status::Info,
                format!(
                    "cannot read {}; group membership not checked",
                    root.group.display()
                ),
                None,
            );
            return;
        };
        let mut missing = Vec::new();
        for group in ["gpio", "i2c", "spi"] {
            let line = text.lines().find(|l| l.split(':').next() == Some(group));
            let member = line
                .and_then(|l| l.split(':').nth(3))
                .is_some_and(|members| members.split(',').any(|m| m.trim() == user));
            if line.is_none() {
                self.add(
                    Status::Info,
                    format!("there is no `{group}` group (not Raspberry Pi OS?); device access may need a udev rule"),
                    None,
                );
            } else if !member {
                missing.push(group);
            }
        }
        if missing.is_empty() {
            self.add(
                Status::Ok,
                format!("the {user} user is in the gpio, i2c and spi groups"),
                None,
            );
        } else {
            self.add(
                Status::Problem,
                format!("the {user} user is not in the {} group(s), so the service cannot open the devices", missing.join(", ")),
                Some(format!("`sudo usermod -aG gpio,i2c,spi {user}`, then `sudo systemctl restart weatherd`")),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn boot_config_lines() {
        let c = BootConfig::parse(
            "# dtparam=spi=on\n[all]\ndtparam=audio=on,i2c_arm=on\ndtparam=spi=on  # for the vane\ndtoverlay=w1-gpio,gpiopin=17\n",
        );
        assert!(c.i2c && c.spi);
        assert_eq!(c.w1_pin, Some(17));
        let c = BootConfig::parse(
            "dtparam=i2c_arm=on\ndtparam=i2c_arm=off\ndtoverlay=w1-gpio\ndtoverlay=vc4-kms-v3d\n",
        );
        assert!(
            !c.i2c && !c.spi,
            "the last setting wins; a commented line does nothing"
        );
        assert_eq!(c.w1_pin, Some(4));
        assert!(BootConfig::parse("dtparam=i2c").i2c);
    }

    #[test]
    fn exit_codes() {
        let report = |model: Option<&str>, status| ProbeReport {
            model: model.map(String::from),
            findings: vec![Finding {
                status,
                message: "x".into(),
                fix: None,
            }],
        };
        assert_eq!(report(None, Status::Problem).exit_code(), 1);
        assert_eq!(report(Some("Raspberry Pi 5"), Status::Ok).exit_code(), 0);
        assert_eq!(report(Some("Raspberry Pi 5"), Status::Info).exit_code(), 0);
        assert_eq!(
            report(Some("Raspberry Pi 5"), Status::Missing).exit_code(),
            2
        );
    }
}
