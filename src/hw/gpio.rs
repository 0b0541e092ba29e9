//! GPIO edge input on a Raspberry Pi, through rppal (published as `rpi-pal`).
//!
//! A reed switch (anemometer, rain gauge) is wired from a GPIO pin to ground: the pin
//! uses the SoC's internal pull-up and every closure is a falling edge. rppal asks the
//! kernel's GPIO character device for edge events on a background thread; the kernel
//! stamps each event when the interrupt fires, so a late wake-up of our thread never
//! moves an edge in time. Those stamps go through a bounded channel into an
//! [`EdgeInbox`], which converts them to UTC and hands them out per sample period.
//!
//! rppal finds the right `/dev/gpiochipN` itself (the SoC's on Pi 3/4/Zero 2 W, the
//! RP1's on a Pi 5), so nothing here names a chip.
//!
//! Everything except opening the pin is in [`EdgeInbox`] and [`ClockOffset`], which
//! need no hardware and are tested here.

use crate::hw::{EdgeSource, HwError};
use crate::time::{Timestamp, NANOS_PER_SEC};
use rppal::gpio::{Gpio, InputPin, Trigger};
use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver, SyncSender, TryRecvError, TrySendError};
use std::sync::Arc;
use std::time::Duration;

/// Edges the interrupt thread may queue between two collections. A 240 km/h gale
/// closes the anemometer 100 times a second and each closure may bounce a few times,
/// so this holds minutes of edges even if the sampler stalls; a full queue is
/// reported, never silently trimmed.
const QUEUE_CAPACITY: usize = 65_536;

/// The offset from the kernel's monotonic clock to UTC at one instant.
///
/// The kernel stamps GPIO events with CLOCK_MONOTONIC (time since boot, never steps),
/// but the station works in UTC. `CLOCK_REALTIME - CLOCK_MONOTONIC` read together is
/// the offset between them *now*. It changes when NTP steps the clock (a Pi without
/// an RTC boots in the past and jumps forward once the network is up), so it is read
/// again for every batch of edges instead of once at start-up: edges are then placed
/// on the same UTC time line as the sample ticks that collect them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct ClockOffset {
    pub realtime_minus_monotonic_ns: i64,
}

impl ClockOffset {
    /// Reads both clocks. The monotonic clock is read before and after the real-time
    /// clock and averaged, so the offset is right to within the (sub-microsecond)
    /// time the three reads take.
    pub fn now() -> Result<ClockOffset, HwError> {
        let mono_before = clock_ns(libc::CLOCK_MONOTONIC)?;
        let real = clock_ns(libc::CLOCK_REALTIME)?;
        let mono_after = clock_ns(libc::CLOCK_MONOTONIC)?;
        let mono = mono_before + (mono_after - mono_before) / 2;
        Ok(ClockOffset {
            realtime_minus_monotonic_ns: real - mono,
        })
    }

    /// The UTC time of a CLOCK_MONOTONIC stamp.
    pub(crate) fn to_utc(self, monotonic: Duration) -> Timestamp {
        let mono_ns = i64::try_from(monotonic.as_nanos()).unwrap_or(i64::MAX);
        Timestamp(mono_ns.saturating_add(self.realtime_minus_monotonic_ns))
    }
}

// `time_t` and `c_long` are 64-bit on aarch64 and x86_64 but 32-bit on armv7, so the
// conversions are needed there and look useless here.
#[allow(clippy::useless_conversion)]
fn clock_ns(clock: libc::clockid_t) -> Result<i64, HwError> {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec for the duration of the call.
    let rc = unsafe { libc::clock_gettime(clock, &mut ts) };
    if rc != 0 {
        return Err(HwError::Clock {
            detail: std::io::Error::last_os_error().to_string(),
        });
    }
    Ok(i64::from(ts.tv_sec) * NANOS_PER_SEC + i64::from(ts.tv_nsec))
}

/// The interrupt side of an edge queue: lives in rppal's callback.
#[derive(Clone, Debug)]
pub(crate) struct EdgeSender {
    tx: SyncSender<Duration>,
    dropped: Arc<AtomicU64>,
}

impl EdgeSender {
    /// Queues one kernel timestamp (CLOCK_MONOTONIC). Never blocks the interrupt
    /// thread: when the queue is full the edge is counted as dropped, and the next
    /// collection reports it.
    pub fn push(&self, monotonic: Duration) {
        match self.tx.try_send(monotonic) {
            Ok(()) => {}
            Err(TrySendError::Full(_)) => {
                self.dropped.fetch_add(1, Ordering::Relaxed);
            }
            // The inbox is gone: the source is being dropped, nobody wants the edge.
            Err(TrySendError::Disconnected(_)) => {}
        }
    }
}

/// Why an inbox could not hand out a complete period.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum InboxError {
    /// Every sender is gone: the interrupt thread ended (it only does on an error).
    Disconnected,
    /// The queue was full and this many edges were lost.
    Overflow(u64),
    /// The clocks could not be read.
    Clock(String),
}

/// The collecting side: kernel timestamps in, UTC edges per sample period out.
pub(crate) struct EdgeInbox {
    rx: Receiver<Duration>,
    dropped: Arc<AtomicU64>,
    /// Converted edges not yet handed out, in time order.
    pending: VecDeque<Timestamp>,
    batch: Vec<Duration>,
}

/// A connected sender/inbox pair with room for `capacity` queued edges.
pub(crate) fn edge_queue(capacity: usize) -> (EdgeSender, EdgeInbox) {
    let (tx, rx) = mpsc::sync_channel(capacity);
    let dropped = Arc::new(AtomicU64::new(0));
    (
        EdgeSender {
            tx,
            dropped: dropped.clone(),
        },
        EdgeInbox {
            rx,
            dropped,
            pending: VecDeque::new(),
            batch: Vec::new(),
        },
    )
}

impl EdgeInbox {
    /// Moves everything queued so far into the pending list, converting it with one
    /// clock offset taken now (see [`ClockOffset`]), then appends the pending edges
    /// with `from <= ts < until` to `out`. Edges before `from` belong to a period
    /// already handed out (they can only appear after the clock stepped back) and are
    /// discarded; edges at or after `until` stay for the next call.
    ///
    /// On an error, the edges of this period are discarded too: the period is
    /// incomplete, and a partial count would read as less wind or rain than fell.
    pub fn collect(
        &mut self,
        offset: impl FnOnce() -> Result<ClockOffset, String>,
        from: Timestamp,
        until: Timestamp,
        out: &mut Vec<Timestamp>,
    ) -> Result<(), InboxError> {
        let disconnected = loop {
            match self.rx.try_recv() {
                Ok(t) => self.batch.push(t),
                Err(TryRecvError::Empty) => break false,
                Err(TryRecvError::Disconnected) => break true,
            }
        };
        if !self.batch.is_empty() {
            match offset() {
                Ok(offset) => self.accept(offset),
                Err(e) => {
                    self.batch.clear();
                    self.discard_before(until);
                    return Err(InboxError::Clock(e));
                }
            }
        }
        let dropped = self.dropped.swap(0, Ordering::Relaxed);
        if disconnected || dropped > 0 {
            self.discard_before(until);
            return Err(if disconnected {
                InboxError::Disconnected
            } else {
                InboxError::Overflow(dropped)
            });
        }
        self.discard_before(from);
        while let Some(&t) = self.pending.front() {
            if t >= until {
                break;
            }
            out.push(t);
            self.pending.pop_front();
        }
        Ok(())
    }

    /// Replaces the channel after the interrupt was re-armed, keeping pending edges.
    pub(crate) fn reconnect(&mut self, other: EdgeInbox) {
        self.rx = other.rx;
        self.dropped = other.dropped;
    }

    fn accept(&mut self, offset: ClockOffset) {
        let in_order = self.pending.back().copied();
        self.pending
            .extend(self.batch.drain(..).map(|t| offset.to_utc(t)));
        // The kernel delivers one line's events in order, so the new batch is sorted;
        // only a clock step between batches can put it before older edges.
        let needs_sort = match in_order {
            Some(last) => self.pending.iter().any(|&t| t < last),
            None => false,
        };
        if needs_sort {
            self.pending.make_contiguous().sort_unstable();
        }
    }

    fn discard_before(&mut self, t: Timestamp) {
        while self.pending.front().is_some_and(|&e| e < t) {
            self.pending.pop_front();
        }
    }
}

/// A GPIO pin delivering falling edges with the kernel's timestamps.
pub(crate) struct GpioEdgeSource {
    bcm: u8,
    /// Owned for the daemon's life: dropping it stops the interrupt thread and frees
    /// the line.
    pin: InputPin,
    inbox: EdgeInbox,
}

impl GpioEdgeSource {
    /// Opens BCM pin `bcm` as an input with the internal pull-up and starts listening
    /// for falling edges.
    pub fn open(bcm: u8) -> Result<GpioEdgeSource, HwError> {
        let gpio = Gpio::new().map_err(|e| describe_gpio_error(bcm, &e))?;
        let mut pin = gpio
            .get(bcm)
            .map_err(|e| describe_gpio_error(bcm, &e))?
            .into_input_pullup();
        let inbox = arm(&mut pin).map_err(|e| describe_gpio_error(bcm, &e))?;
        Ok(GpioEdgeSource { bcm, pin, inbox })
    }
}

/// Starts rppal's interrupt thread on `pin`. No kernel debounce: the lock-out
/// debouncer works on every raw edge's timestamp, which the kernel's debounce would
/// delay and merge.
fn arm(pin: &mut InputPin) -> Result<EdgeInbox, rppal::gpio::Error> {
    let (sender, inbox) = edge_queue(QUEUE_CAPACITY);
    pin.set_async_interrupt(Trigger::FallingEdge, None, move |event| {
        sender.push(event.timestamp)
    })?;
    Ok(inbox)
}

impl EdgeSource for GpioEdgeSource {
    fn collect(
        &mut self,
        from: Timestamp,
        until: Timestamp,
        out: &mut Vec<Timestamp>,
    ) -> Result<(), HwError> {
        let bcm = self.bcm;
        let offset = || ClockOffset::now().map_err(|e| e.to_string());
        match self.inbox.collect(offset, from, until, out) {
            Ok(()) => Ok(()),
            Err(InboxError::Overflow(lost)) => Err(HwError::EdgesLost { bcm, lost }),
            Err(InboxError::Clock(detail)) => Err(HwError::EdgeClock { bcm, detail }),
            Err(InboxError::Disconnected) => {
                // The thread has ended, which rppal only does on an error; joining it
                // (inside `clear_async_interrupt`) returns that error.
                let why = match self.pin.clear_async_interrupt() {
                    Err(e) => e.to_string(),
                    Ok(()) => "it stopped without an error".to_string(),
                };
                // Re-arm so the next period counts again; if that fails too, say so.
                let rearm = match arm(&mut self.pin) {
                    Ok(inbox) => {
                        self.inbox.reconnect(inbox);
                        "restarted it".to_string()
                    }
                    Err(e) => format!("could not restart it: {}", describe_gpio_error(bcm, &e)),
                };
                Err(HwError::EdgeThread { bcm, why, rearm })
            }
        }
    }
}

/// Why a GPIO line could not be used; its `Display` tells the operator the fix.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum GpioError {
    #[error(
        "GPIO{bcm}: permission denied opening {path}: add the weatherd user to the gpio group \
         (`sudo usermod -aG gpio weatherd`) and restart the service"
    )]
    PermissionDenied { bcm: u8, path: String },
    #[error(
        "GPIO{bcm}: permission denied ({detail}): add the weatherd user to the gpio group \
         (`sudo usermod -aG gpio weatherd`) and restart the service"
    )]
    LinePermissionDenied { bcm: u8, detail: String },
    #[error(
        "GPIO{bcm}: this machine is not a Raspberry Pi rpi-pal recognises; run `weatherd probe`, \
         or use `weatherd run --simulate` off a Pi"
    )]
    UnknownModel { bcm: u8 },
    #[error(
        "GPIO{bcm} is already used by another sensor in this config; give each sensor its own pin"
    )]
    PinUsed { bcm: u8 },
    #[error("GPIO{bcm} does not exist on this board; use a BCM GPIO number from 0 to 27")]
    PinNotAvailable { bcm: u8 },
    #[error(
        "GPIO{bcm} is busy: another program or a device-tree overlay (such as w1-gpio) holds the line; \
         free it or choose another pin"
    )]
    Busy { bcm: u8 },
    #[error("GPIO{bcm}: {detail}")]
    Io { bcm: u8, detail: String },
    #[error("GPIO{bcm}: the interrupt thread panicked")]
    ThreadPanic { bcm: u8 },
}

/// Turns rppal's errors into what the operator should do.
pub(crate) fn describe_gpio_error(bcm: u8, e: &rppal::gpio::Error) -> GpioError {
    use rppal::gpio::Error;
    match e {
        Error::PermissionDenied(path) => GpioError::PermissionDenied {
            bcm,
            path: path.clone(),
        },
        Error::UnknownModel => GpioError::UnknownModel { bcm },
        Error::PinUsed(_) => GpioError::PinUsed { bcm },
        Error::PinNotAvailable(_) => GpioError::PinNotAvailable { bcm },
        Error::Io(io) if io.raw_os_error() == Some(libc::EBUSY) => GpioError::Busy { bcm },
        Error::Io(io) if io.kind() == std::io::ErrorKind::PermissionDenied => {
            GpioError::LinePermissionDenied {
                bcm,
                detail: io.to_string(),
            }
        }
        Error::Io(io) => GpioError::Io {
            bcm,
            detail: io.to_string(),
        },
        Error::ThreadPanic => GpioError::ThreadPanic { bcm },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const BOOT_TO_UTC: ClockOffset = ClockOffset {
        realtime_minus_monotonic_ns: 1_700_000_000 * NANOS_PER_SEC,
    };

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    fn utc_ms(n: i64) -> Timestamp {
        Timestamp(BOOT_TO_UTC.realtime_minus_monotonic_ns + n * 1_000_000)
    }

    fn collect(
        inbox: &mut EdgeInbox,
        offset: ClockOffset,
        from: i64,
        until: i64,
    ) -> Result<Vec<Timestamp>, InboxError> {
        let mut out = Vec::new();
        inbox
            .collect(|| Ok(offset), utc_ms(from), utc_ms(until), &mut out)
            .map(|()| out)
    }

    #[test]
    fn kernel_stamps_become_utc_and_later_edges_wait_for_their_period() {
        let (tx, mut inbox) = edge_queue(16);
        for t in [100, 4_999, 5_000, 7_500] {
            tx.push(ms(t));
        }
        assert_eq!(
            collect(&mut inbox, BOOT_TO_UTC, 0, 5_000).unwrap(),
            [utc_ms(100), utc_ms(4_999)]
        );
        // The edge exactly at the boundary belongs to the next period.
        assert_eq!(
            collect(&mut inbox, BOOT_TO_UTC, 5_000, 10_000).unwrap(),
            [utc_ms(5_000), utc_ms(7_500)]
        );
        assert_eq!(
            collect(&mut inbox, BOOT_TO_UTC, 10_000, 15_000).unwrap(),
            []
        );
    }

    #[test]
    fn the_offset_is_taken_per_batch_so_an_ntp_step_is_followed() {
        let (tx, mut inbox) = edge_queue(16);
        tx.push(ms(1_000));
        assert_eq!(
            collect(&mut inbox, BOOT_TO_UTC, 0, 5_000).unwrap(),
            [utc_ms(1_000)]
        );
        // NTP steps the real-time clock forward by an hour; the next edge is placed
        // with the new offset, on the same time line as the ticks.
        let stepped = ClockOffset {
            realtime_minus_monotonic_ns: BOOT_TO_UTC.realtime_minus_monotonic_ns
                + 3_600 * NANOS_PER_SEC,
        };
        tx.push(ms(2_000));
        assert_eq!(
            collect(&mut inbox, stepped, 3_601_000, 3_605_000).unwrap(),
            [utc_ms(3_602_000)]
        );
    }

    #[test]
    fn edges_before_the_period_are_discarded_and_order_is_restored_after_a_step_back() {
        let (tx, mut inbox) = edge_queue(16);
        tx.push(ms(9_000));
        assert_eq!(collect(&mut inbox, BOOT_TO_UTC, 0, 5_000).unwrap(), []);
        // The clock steps back 8 s: a new edge converts to before the queued one.
        let back = ClockOffset {
            realtime_minus_monotonic_ns: BOOT_TO_UTC.realtime_minus_monotonic_ns
                - 8 * NANOS_PER_SEC,
        };
        tx.push(ms(9_500)); // → 1_500, before the period asked for: stale
        tx.push(ms(14_000)); // → 6_000
        assert_eq!(
            collect(&mut inbox, back, 5_000, 10_000).unwrap(),
            [utc_ms(6_000), utc_ms(9_000)]
        );
    }

    #[test]
    fn a_dead_interrupt_thread_is_an_error_not_a_quiet_zero() {
        let (tx, mut inbox) = edge_queue(16);
        tx.push(ms(1_000));
        drop(tx); // what happens when rppal's thread exits with an error
        assert_eq!(
            collect(&mut inbox, BOOT_TO_UTC, 0, 5_000),
            Err(InboxError::Disconnected)
        );
        // Re-armed: counting resumes with the next period.
        let (tx2, inbox2) = edge_queue(16);
        inbox.reconnect(inbox2);
        tx2.push(ms(6_000));
        assert_eq!(
            collect(&mut inbox, BOOT_TO_UTC, 5_000, 10_000).unwrap(),
            [utc_ms(6_000)]
        );
    }

    #[test]
    fn a_full_queue_is_reported_with_the_number_lost() {
        let (tx, mut inbox) = edge_queue(2);
        for t in [1, 2, 3, 4, 5] {
            tx.push(ms(t));
        }
        assert_eq!(
            collect(&mut inbox, BOOT_TO_UTC, 0, 5_000),
            Err(InboxError::Overflow(3))
        );
        // The incomplete period's edges are not handed out later either.
        tx.push(ms(5_001));
        assert_eq!(
            collect(&mut inbox, BOOT_TO_UTC, 5_000, 10_000).unwrap(),
            [utc_ms(5_001)]
        );
    }

    #[test]
    fn a_clock_failure_is_reported() {
        let (tx, mut inbox) = edge_queue(4);
        tx.push(ms(1));
        let mut out = Vec::new();
        let r = inbox.collect(
            || Err("no clock".into()),
            utc_ms(0),
            utc_ms(5_000),
            &mut out,
        );
        assert_eq!(r, Err(InboxError::Clock("no clock".into())));
        assert!(out.is_empty());
    }

    /// Kernel stamps of one anemometer closure every 100 ms, each bouncing twice
    /// within 1.5 ms, through the inbox and the real lock-out debouncer, the path a
    /// pulse input takes in the sampler.
    #[test]
    fn bouncing_edges_through_the_pulse_counter_count_one_per_closure() {
        let (tx, mut inbox) = edge_queue(QUEUE_CAPACITY);
        let mut debouncer = crate::pulse::Debouncer::from_ms(3.0);
        for closure in 0..100u64 {
            let t = Duration::from_millis(closure * 100);
            for bounce_us in [0, 700, 1_500] {
                tx.push(t + Duration::from_micros(bounce_us));
            }
        }
        let mut counted = Vec::new();
        for period in 0..2 {
            let edges = collect(
                &mut inbox,
                BOOT_TO_UTC,
                period * 5_000,
                (period + 1) * 5_000,
            )
            .unwrap();
            assert_eq!(
                edges.len(),
                150,
                "every raw edge of the period is handed out"
            );
            debouncer.feed(&edges, &mut counted);
        }
        assert_eq!(counted.len(), 100);
        assert_eq!(counted[0], utc_ms(0));
        assert_eq!(counted[99], utc_ms(9_900));
    }

    #[test]
    fn real_clock_offset_matches_system_time() {
        let offset = ClockOffset::now().unwrap();
        let mono =
            Duration::from_nanos(u64::try_from(clock_ns(libc::CLOCK_MONOTONIC).unwrap()).unwrap());
        let now = Timestamp::now();
        // Converting "now" on the monotonic clock lands on the real-time clock's now
        // (within a generous second; the reads are microseconds apart).
        assert!(
            (offset.to_utc(mono).0 - now.0).abs() < NANOS_PER_SEC,
            "{:?} vs {:?}",
            offset.to_utc(mono),
            now
        );
    }

    #[test]
    fn errors_name_the_fix() {
        let e = describe_gpio_error(
            5,
            &rppal::gpio::Error::PermissionDenied("/dev/gpiomem".into()),
        );
        assert_eq!(
            e.to_string(),
            "GPIO5: permission denied opening /dev/gpiomem: add the weatherd user to the gpio \
             group (`sudo usermod -aG gpio weatherd`) and restart the service"
        );
        let e = describe_gpio_error(5, &rppal::gpio::Error::UnknownModel);
        assert!(e.to_string().contains("not a Raspberry Pi"), "{e}");
        let busy = std::io::Error::from_raw_os_error(libc::EBUSY);
        let e = describe_gpio_error(4, &rppal::gpio::Error::Io(busy));
        assert_eq!(e, GpioError::Busy { bcm: 4 });
        assert!(
            e.to_string().contains("GPIO4 is busy") && e.to_string().contains("w1-gpio"),
            "{e}"
        );
        // The typed error becomes the hardware error with the same words.
        assert_eq!(HwError::from(e.clone()).to_string(), e.to_string());
    }
}
