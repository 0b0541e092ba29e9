//! Whether the wall clock can be trusted yet.
//!
//! A Pi has no real-time clock: it boots with the time it shut down at (fake-hwclock)
//! or 1970, and jumps when NTP syncs. The kernel knows whether an NTP client has
//! disciplined the clock: `adjtimex(2)` returns `TIME_ERROR` while the clock is
//! unsynchronised (this is what systemd's `time-sync.target` waits on, and what
//! systemd-timesyncd, chrony and ntpd all clear once they have synchronised).

/// Something that says whether the clock is synchronised.
pub trait SyncSource: Send {
    fn is_synchronized(&mut self) -> bool;
}

/// The kernel's NTP status.
pub(crate) struct KernelSync;

impl SyncSource for KernelSync {
    fn is_synchronized(&mut self) -> bool {
        // SAFETY: adjtimex with modes = 0 only reads the kernel's time status into the
        // zeroed struct we own.
        let mut tx: libc::timex = unsafe { std::mem::zeroed() };
        let state = unsafe { libc::adjtimex(&mut tx) };
        state >= 0 && state != libc::TIME_ERROR
    }
}

/// Trusts the clock from the start (simulated clocks, `wait_for_time_sync = false`).
pub struct AlwaysSynced;

impl SyncSource for AlwaysSynced {
    fn is_synchronized(&mut self) -> bool {
        true
    }
}

/// Reports a fixed sequence of answers, then the last one forever (a test double:
/// only with the `testkit` feature).
#[cfg(any(test, feature = "testkit"))]
pub struct Scripted(pub std::collections::VecDeque<bool>);

#[cfg(any(test, feature = "testkit"))]
impl SyncSource for Scripted {
    fn is_synchronized(&mut self) -> bool {
        if self.0.len() > 1 {
            self.0.pop_front().unwrap_or(true)
        } else {
            self.0.front().copied().unwrap_or(true)
        }
    }
}
