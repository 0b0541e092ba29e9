//! The sampler: at each tick, asks every sensor once and hands back one `Sample`.
//!
//! A polled sensor that does bus I/O runs on a blocking thread with a timeout, so a
//! slow or hung sensor gives a fault for its own quantities and never delays the
//! others. While a hung read is still running, later ticks report that sensor as busy
//! instead of piling up threads behind it. Pulse inputs hand over the edges of the
//! sample period, which the debouncer turns into closures.
//!
//! The first sample also asks each pulse input for the [`HISTORY_S`] before its period.
//! A source that can replay the past (the simulator's edges are a pure function of
//! time) answers with them; a GPIO line has nothing from before it was opened and
//! answers with nothing. Those edges prime the debouncer (so a bounce of a closure just
//! before the start is not counted as a new closure), and the anemometer's closures
//! among them travel in `Sample::wind_pulses_before`, so the gust windows that began
//! before a restart are scored as an uninterrupted run would score them. If asking
//! for the history fails, the first period is reported unknown with the fault, since
//! the failure (a lost edge, a stopped interrupt thread) may have cost it edges too.

use crate::hw::EdgeSource;
use crate::observation::{Fault, FaultKind, Reading, Sample};
use crate::pulse::Debouncer;
use crate::sensors::{Driver, PolledSensor, PulseKind, Registered, SensorError};
use crate::time::Timestamp;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::task::JoinHandle;

type ReadResult = Result<Vec<Reading>, SensorError>;

/// How far before the first sample period the pulse inputs are asked to replay: the
/// aggregator's gust carry.
pub(crate) const HISTORY_S: i64 = crate::aggregate::GUST_CARRY_S;

enum Slot {
    Inline {
        sensor: Box<dyn PolledSensor>,
    },
    Blocking {
        sensor: Arc<Mutex<Box<dyn PolledSensor>>>,
        /// A read that outlived its timeout; while it runs the sensor is busy.
        in_flight: Option<JoinHandle<ReadResult>>,
    },
    Pulse {
        kind: PulseKind,
        source: Box<dyn EdgeSource>,
        debouncer: Debouncer,
        /// False until the first sample asked for the history before it.
        primed: bool,
    },
}

struct Entry {
    name: Arc<str>,
    slot: Slot,
}

pub(crate) struct Sampler {
    entries: Vec<Entry>,
    sample_interval_ns: i64,
    timeout: Duration,
    /// Reused edge buffer: the simulator hands over millions of edges a minute of
    /// wall time, so no per-sample allocation for raw edges.
    edges: Vec<Timestamp>,
    edges_seen: u64,
}

impl Sampler {
    pub fn new(sensors: Vec<Registered>, sample_interval_s: i64, timeout: Duration) -> Sampler {
        let entries = sensors
            .into_iter()
            .map(|r| {
                let slot = match r.driver {
                    Driver::Polled { sensor, blocking } => {
                        if blocking {
                            Slot::Blocking {
                                sensor: Arc::new(Mutex::new(sensor)),
                                in_flight: None,
                            }
                        } else {
                            Slot::Inline { sensor }
                        }
                    }
                    Driver::Pulse(p) => Slot::Pulse {
                        kind: p.kind,
                        source: p.source,
                        debouncer: p.debouncer,
                        primed: false,
                    },
                };
                Entry { name: r.name, slot }
            })
            .collect();
        Sampler {
            entries,
            sample_interval_ns: sample_interval_s * crate::time::NANOS_PER_SEC,
            timeout,
            edges: Vec::new(),
            edges_seen: 0,
        }
    }

    /// Raw edges (bounces included) handed over by all pulse inputs so far.
    pub(crate) fn edges_seen(&self) -> u64 {
        self.edges_seen
    }

    /// Takes the sample for tick `at`, covering `[at - sample_interval, at)`.
    pub async fn sample(&mut self, at: Timestamp) -> Sample {
        let mut sample = Sample {
            at,
            ..Sample::default()
        };
        let from = at.add_nanos(-self.sample_interval_ns);

        // Start every blocking read first so they run side by side.
        let mut pending: Vec<(usize, JoinHandle<ReadResult>)> = Vec::new();
        for (i, e) in self.entries.iter_mut().enumerate() {
            if let Slot::Blocking { sensor, in_flight } = &mut e.slot {
                if let Some(h) = in_flight {
                    if !h.is_finished() {
                        sample.faults.push(fault(
                            at,
                            &e.name,
                            FaultKind::Busy,
                            "the previous read has not returned yet",
                        ));
                        continue;
                    }
                    // The late result belongs to an earlier tick: drop it.
                    *in_flight = None;
                }
                let sensor = sensor.clone();
                pending.push((
                    i,
                    tokio::task::spawn_blocking(move || {
                        let mut guard = sensor.lock().unwrap_or_else(|p| p.into_inner());
                        guard.read()
                    }),
                ));
            }
        }

        for e in self.entries.iter_mut() {
            match &mut e.slot {
                Slot::Inline { sensor } => {
                    let result = sensor.read();
                    record(&mut sample, at, &e.name, result);
                }
                Slot::Pulse {
                    kind,
                    source,
                    debouncer,
                    primed,
                } => {
                    // The history failed (a GPIO queue overflow, a stopped interrupt
                    // thread): edges of the first period may be lost with it.
                    let mut history_failed = None;
                    if !*primed {
                        *primed = true;
                        self.edges.clear();
                        let before = from.add_secs(-HISTORY_S);
                        match source.collect(before, from, &mut self.edges) {
                            Ok(()) => {
                                let mut accepted = Vec::new();
                                debouncer.feed(&self.edges, &mut accepted);
                                if matches!(kind, PulseKind::Wind { .. }) {
                                    sample.wind_pulses_before = Some(accepted);
                                }
                            }
                            Err(err) => history_failed = Some(err),
                        }
                    }
                    self.edges.clear();
                    let collected = source.collect(from, at, &mut self.edges);
                    let pulses = match history_failed.map_or(collected, Err) {
                        Ok(()) => {
                            self.edges_seen += self.edges.len() as u64;
                            let mut accepted = Vec::new();
                            debouncer.feed(&self.edges, &mut accepted);
                            Some(accepted)
                        }
                        Err(err) => {
                            sample.faults.push(fault(
                                at,
                                &e.name,
                                FaultKind::ReadError,
                                &err.to_string(),
                            ));
                            None
                        }
                    };
                    match kind {
                        PulseKind::Wind { .. } => sample.wind_pulses = pulses,
                        PulseKind::Rain { .. } => sample.rain_tips = pulses,
                    }
                }
                Slot::Blocking { .. } => {}
            }
        }

        let deadline = tokio::time::Instant::now() + self.timeout;
        for (i, mut handle) in pending {
            let e = &mut self.entries[i];
            match tokio::time::timeout_at(deadline, &mut handle).await {
                Ok(Ok(result)) => record(&mut sample, at, &e.name, result),
                Ok(Err(join_err)) => {
                    let msg = if join_err.is_panic() {
                        "the driver panicked"
                    } else {
                        "the read was cancelled"
                    };
                    sample
                        .faults
                        .push(fault(at, &e.name, FaultKind::ReadError, msg));
                }
                Err(_) => {
                    sample.faults.push(fault(
                        at,
                        &e.name,
                        FaultKind::Timeout,
                        &format!("no answer within {} ms", self.timeout.as_millis()),
                    ));
                    if let Slot::Blocking { in_flight, .. } = &mut e.slot {
                        *in_flight = Some(handle);
                    }
                }
            }
        }
        sample
    }
}

fn fault(at: Timestamp, sensor: &Arc<str>, kind: FaultKind, message: &str) -> Fault {
    Fault {
        at,
        sensor: sensor.clone(),
        quantity: None,
        kind,
        message: message.to_string(),
    }
}

fn record(sample: &mut Sample, at: Timestamp, name: &Arc<str>, result: ReadResult) {
    match result {
        Ok(readings) => sample
            .readings
            .extend(readings.into_iter().map(|r| (name.clone(), r))),
        Err(err) => sample
            .faults
            .push(fault(at, name, FaultKind::ReadError, &err.to_string())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hw::HwError;
    use crate::observation::Quantity;
    use crate::sensors::PulseInput;
    use std::sync::mpsc;

    struct Fixed(f64);
    impl PolledSensor for Fixed {
        fn quantities(&self) -> Vec<Quantity> {
            vec![Quantity::TemperatureC]
        }
        fn read(&mut self) -> ReadResult {
            Ok(vec![Reading::new(Quantity::TemperatureC, self.0)])
        }
    }

    /// Blocks until the test drops the sender: a sensor hung on its bus.
    struct Hung(Mutex<mpsc::Receiver<()>>);
    impl PolledSensor for Hung {
        fn quantities(&self) -> Vec<Quantity> {
            vec![Quantity::PressureHpa]
        }
        fn read(&mut self) -> ReadResult {
            let _ = self.0.lock().unwrap().recv();
            Err(SensorError::Injected {
                sensor: "hung test sensor".into(),
                detail: "released".into(),
            })
        }
    }

    struct Panics;
    impl PolledSensor for Panics {
        fn quantities(&self) -> Vec<Quantity> {
            vec![Quantity::HumidityPct]
        }
        fn read(&mut self) -> ReadResult {
            panic!("driver bug")
        }
    }

    struct Edges(Vec<Timestamp>, bool);
    impl EdgeSource for Edges {
        fn collect(
            &mut self,
            from: Timestamp,
            until: Timestamp,
            out: &mut Vec<Timestamp>,
        ) -> Result<(), HwError> {
            if self.1 {
                return Err(HwError::Bus {
                    device: "GPIO5".into(),
                    detail: "interrupt thread stopped".into(),
                });
            }
            out.extend(self.0.iter().filter(|t| **t >= from && **t < until));
            Ok(())
        }
    }

    fn polled(name: &str, sensor: impl PolledSensor + 'static, blocking: bool) -> Registered {
        Registered {
            name: Arc::from(name),
            driver: Driver::Polled {
                sensor: Box::new(sensor),
                blocking,
            },
        }
    }

    fn wind(name: &str, source: Edges) -> Registered {
        Registered {
            name: Arc::from(name),
            driver: Driver::Pulse(PulseInput {
                kind: PulseKind::Wind { kmh_per_hz: 2.4 },
                source: Box::new(source),
                debouncer: Debouncer::from_ms(3.0),
            }),
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn hung_sensor_times_out_alone_then_reports_busy() {
        let (tx, rx) = mpsc::channel::<()>();
        let mut sampler = Sampler::new(
            vec![
                polled("bme", Fixed(21.5), true),
                polled("hung", Hung(Mutex::new(rx)), true),
            ],
            5,
            Duration::from_millis(50),
        );
        let s1 = sampler.sample(Timestamp::from_secs(5)).await;
        assert_eq!(
            s1.readings,
            vec![(Arc::from("bme"), Reading::new(Quantity::TemperatureC, 21.5))]
        );
        assert_eq!(s1.faults.len(), 1);
        assert_eq!(s1.faults[0].kind, FaultKind::Timeout);
        assert_eq!(&*s1.faults[0].sensor, "hung");

        // Still hung: no second thread is started, the sensor is reported busy, and the
        // healthy sensor is still read.
        let s2 = sampler.sample(Timestamp::from_secs(10)).await;
        assert_eq!(s2.readings.len(), 1);
        assert_eq!(s2.faults.len(), 1);
        assert_eq!(s2.faults[0].kind, FaultKind::Busy);

        // Released: the late result is discarded and the next read starts afresh.
        drop(tx);
        for _ in 0..200 {
            if let Slot::Blocking {
                in_flight: Some(h), ..
            } = &sampler.entries[1].slot
            {
                if h.is_finished() {
                    break;
                }
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        let s3 = sampler.sample(Timestamp::from_secs(15)).await;
        assert_eq!(s3.faults.len(), 1);
        assert_eq!(s3.faults[0].kind, FaultKind::ReadError, "{:?}", s3.faults);
        assert_eq!(
            s3.faults[0].message,
            "hung test sensor: released (injected fault; on real hardware check the wiring)"
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn panicking_driver_is_a_fault_of_that_sensor_only() {
        let mut sampler = Sampler::new(
            vec![
                polled("bad", Panics, true),
                polled("good", Fixed(3.0), false),
            ],
            5,
            Duration::from_secs(5),
        );
        let s = sampler.sample(Timestamp::from_secs(5)).await;
        assert_eq!(s.readings.len(), 1);
        assert_eq!(s.faults.len(), 1);
        assert_eq!(&*s.faults[0].sensor, "bad");
        assert!(s.faults[0].message.contains("panicked"));
    }

    #[tokio::test]
    async fn pulses_are_debounced_per_sample_period() {
        let ms = |m: i64| Timestamp::from_millis(m);
        // Two closures with bounce in [0, 5 s), one exactly at 5 s (next period).
        let edges = vec![ms(1000), ms(1001), ms(2000), ms(2001), ms(2002), ms(5000)];
        let mut sampler = Sampler::new(
            vec![wind("anemometer", Edges(edges, false))],
            5,
            Duration::from_secs(1),
        );
        let s = sampler.sample(Timestamp::from_secs(5)).await;
        assert_eq!(s.wind_pulses, Some(vec![ms(1000), ms(2000)]));
        assert_eq!(s.rain_tips, None);
        let s = sampler.sample(Timestamp::from_secs(10)).await;
        assert_eq!(s.wind_pulses, Some(vec![ms(5000)]));
    }

    #[tokio::test]
    async fn the_first_sample_brings_the_replayed_closures_before_it() {
        let ms = |m: i64| Timestamp::from_millis(m);
        // A closure 7 s before the first period (too early), two in the 6 s before it,
        // the second one's bounce spilling into the period, then one in the period.
        let edges = vec![ms(3000), ms(5000), ms(9999), ms(10_001), ms(12_000)];
        let mut sampler = Sampler::new(
            vec![wind("anemometer", Edges(edges, false))],
            5,
            Duration::from_secs(1),
        );
        let s = sampler.sample(Timestamp::from_secs(15)).await;
        assert_eq!(s.wind_pulses_before, Some(vec![ms(5000), ms(9999)]));
        // The debouncer saw the closure at 9.999 s: its bounce is not a closure.
        assert_eq!(s.wind_pulses, Some(vec![ms(12_000)]));
        let s = sampler.sample(Timestamp::from_secs(20)).await;
        assert_eq!(s.wind_pulses_before, None, "only the first sample");
    }

    #[tokio::test]
    async fn failed_edge_source_gives_unknown_wind_and_a_fault() {
        let mut sampler = Sampler::new(
            vec![wind("anemometer", Edges(vec![], true))],
            5,
            Duration::from_secs(1),
        );
        let s = sampler.sample(Timestamp::from_secs(5)).await;
        assert_eq!(s.wind_pulses, None);
        assert_eq!(s.faults.len(), 1);
        assert!(s.faults[0].message.contains("interrupt thread"));
    }
}
