//! Wind vane: a ring of reed switches and resistors read as a voltage divider through
//! an MCP3008 channel. The direction is the table entry whose expected count is
//! nearest, accepted only inside the midpoints to its neighbouring counts; anything
//! else is a fault, never a guess.

use super::{Claim, Driver, PolledSensor, SensorError, SensorKind};
use crate::config::path::KeyPath;
use crate::config::validate::Validator;
use crate::hw::{AdcChannel, Backend};
use crate::meteo::VectorSum;
use crate::observation::{Quantity, Reading};
use std::collections::BTreeMap;

/// Full scale of the MCP3008's 10-bit conversion.
pub(crate) const ADC_FULL_SCALE: f64 = 1023.0;

/// Half-width of the band of a table with a single position (no neighbour to take a
/// midpoint from): 1/64 of full scale.
const LONE_BAND_HALF_WIDTH: f64 = ADC_FULL_SCALE / 64.0;

/// The expected counts of a vane, sorted by count, with the accepted band of each.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct VaneTable {
    /// (expected count, lower bound inclusive, upper bound inclusive, degrees)
    pub bands: Vec<VaneBand>,
}

#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct VaneBand {
    pub deg: f64,
    pub expected: f64,
    pub low: f64,
    pub high: f64,
}

impl VaneTable {
    /// Expected count for resistance `ohm` in series with `divider_ohm` to ground at
    /// `supply_v`, read by a 10-bit ADC referenced to the same supply.
    ///
    /// `V = supply · divider / (divider + R)` and `count = V / supply · 1023`, so the
    /// supply voltage cancels: the ADC is ratiometric and `supply_v` does not move the
    /// bands. Bands are sorted by expected count; each runs from the midpoint to its
    /// lower neighbour's expected count to the midpoint to its upper neighbour's. The
    /// two outer bands extend outwards by the same half-gap as on their inner side
    /// (for the standard vane W accepts 24..=53 and ESE 877..=908), so counts near 0
    /// (open vane) or 1023 (shorted) match no direction. Positions whose expected count
    /// is not a finite number are left out. Two positions with the same expected count
    /// would make a zero-width band; config validation should reject such a table.
    pub fn from_config(c: &WindVaneConfig) -> VaneTable {
        VaneTable::from_positions(&c.table, c.divider_ohm)
    }

    /// The table for any list of positions (see [`VaneTable::from_config`]).
    pub(crate) fn from_positions(positions: &[VanePosition], divider_ohm: f64) -> VaneTable {
        let mut points: Vec<(f64, f64)> = positions
            .iter()
            .map(|p| (expected_count(p.ohm, divider_ohm), p.deg))
            .filter(|(count, deg)| count.is_finite() && deg.is_finite())
            .collect();
        points.sort_by(|a, b| a.0.total_cmp(&b.0));
        let n = points.len();
        let half_gap = |i: usize| (points[i + 1].0 - points[i].0) / 2.0;
        let bands = (0..n)
            .map(|i| {
                let (expected, deg) = points[i];
                let below = match i {
                    _ if n == 1 => LONE_BAND_HALF_WIDTH,
                    0 => half_gap(0),
                    _ => half_gap(i - 1),
                };
                let above = match i {
                    _ if n == 1 => LONE_BAND_HALF_WIDTH,
                    _ if i == n - 1 => half_gap(i - 1),
                    _ => half_gap(i),
                };
                VaneBand {
                    deg,
                    expected,
                    low: expected - below,
                    high: expected + above,
                }
            })
            .collect();
        VaneTable { bands }
    }

    /// The direction for a count, or `None` when it lies outside every band.
    ///
    /// Bounds are inclusive; a count exactly on the boundary two bands share goes to
    /// the lower one (with the standard table no integer count does).
    pub(crate) fn classify(&self, count: u16) -> Option<f64> {
        let count = f64::from(count);
        let i = self.bands.partition_point(|b| b.high < count);
        self.bands.get(i).filter(|b| b.low <= count).map(|b| b.deg)
    }
}

/// The count a 10-bit ratiometric ADC reads for vane resistance `ohm` above a
/// `divider_ohm` resistor to ground.
pub(crate) fn expected_count(ohm: f64, divider_ohm: f64) -> f64 {
    ADC_FULL_SCALE * divider_ohm / (divider_ohm + ohm)
}

/// `[sensors.NAME]` with `type = "wind_vane"`.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct WindVaneConfig {
    #[serde(default = "defaults::spi_device")]
    pub spi: String,
    #[serde(default)]
    pub channel: u8,
    #[serde(default = "defaults::reads_per_sample")]
    pub reads_per_sample: u32,
    #[serde(default = "defaults::divider_ohm")]
    pub divider_ohm: f64,
    #[serde(default = "defaults::supply_v")]
    pub supply_v: f64,
    /// The vane's resistance at each direction; the default is the standard
    /// Argent/SparkFun vane.
    #[serde(default = "defaults::table")]
    pub table: Vec<VanePosition>,
}

#[derive(Clone, Copy, Debug, serde::Serialize, serde::Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct VanePosition {
    pub deg: f64,
    pub ohm: f64,
}

pub mod defaults {
    use super::VanePosition;

    pub(crate) fn spi_device() -> String {
        "/dev/spidev0.0".into()
    }
    pub fn reads_per_sample() -> u32 {
        5
    }
    pub fn divider_ohm() -> f64 {
        4700.0
    }
    pub fn supply_v() -> f64 {
        3.3
    }
    /// The Argent/SparkFun vane (see `shared/reference.md`).
    pub fn table() -> Vec<VanePosition> {
        [
            (0.0, 33000.0),
            (22.5, 6570.0),
            (45.0, 8200.0),
            (67.5, 891.0),
            (90.0, 1000.0),
            (112.5, 688.0),
            (135.0, 2200.0),
            (157.5, 1410.0),
            (180.0, 3900.0),
            (202.5, 3140.0),
            (225.0, 16000.0),
            (247.5, 14120.0),
            (270.0, 120000.0),
            (292.5, 42120.0),
            (315.0, 64900.0),
            (337.5, 21880.0),
        ]
        .into_iter()
        .map(|(deg, ohm)| VanePosition { deg, ohm })
        .collect()
    }
}

impl SensorKind for WindVaneConfig {
    const EXAMPLE: &'static str = r#"
[sensors.wind_vane]
type = "wind_vane"
spi = "/dev/spidev0.0"
channel = 0
"#;

    fn quantities(&self) -> Vec<Quantity> {
        vec![Quantity::WindDirDeg]
    }

    fn check(&self, path: &KeyPath, v: &mut Validator<'_>) {
        let s = self;
        v.not_empty(
            path.key("spi"),
            &s.spi,
            "it is the SPI device file, e.g. \"/dev/spidev0.0\"",
        );
        if s.channel > 7 {
            v.push(
                path.key("channel"),
                format!(
                    "must be an MCP3008 channel from 0 to 7, found {}",
                    s.channel
                ),
            );
        }
        if !(1..=100).contains(&s.reads_per_sample) {
            v.push(
                path.key("reads_per_sample"),
                format!(
                    "must be from 1 to 100 ADC reads per sample, found {}",
                    s.reads_per_sample
                ),
            );
        }
        let divider_ok = v.finite(&path.key("divider_ohm"), s.divider_ohm) && s.divider_ohm > 0.0;
        v.positive(
            path.key("divider_ohm"),
            s.divider_ohm,
            "it is the fixed resistor of the voltage divider",
        );
        v.positive(
            path.key("supply_v"),
            s.supply_v,
            "it is the divider's supply voltage",
        );
        let table = path.key("table");
        if s.table.len() < 2 {
            v.push(
                table.clone(),
                format!(
                    "needs at least 2 positions to tell directions apart, found {}",
                    s.table.len()
                ),
            );
        }
        let mut seen_deg: Vec<(f64, usize)> = Vec::new();
        let mut seen_count: BTreeMap<i64, usize> = BTreeMap::new();
        for (i, pos) in s.table.iter().enumerate() {
            let at = table.index(i);
            if v.finite(&at.key("deg"), pos.deg) {
                if !(0.0..360.0).contains(&pos.deg) {
                    v.push(
                        at.key("deg"),
                        format!(
                            "must be at least 0 and less than 360 degrees, found {}",
                            pos.deg
                        ),
                    );
                } else if let Some((_, j)) = seen_deg.iter().find(|(d, _)| *d == pos.deg) {
                    let other = v.cite(&table.index(*j).key("deg"));
                    v.push(
                        at.key("deg"),
                        format!("{} degrees is already listed at {other}", pos.deg),
                    );
                } else {
                    seen_deg.push((pos.deg, i));
                }
            }
            if !v.finite(&at.key("ohm"), pos.ohm) {
                continue;
            }
            if pos.ohm <= 0.0 {
                v.push(
                    at.key("ohm"),
                    format!("must be greater than 0 ohm, found {}", pos.ohm),
                );
                continue;
            }
            if divider_ok {
                // What the MCP3008 reads for this resistance; the supply voltage cancels out.
                let count = (1023.0 * s.divider_ohm / (s.divider_ohm + pos.ohm)).round() as i64;
                if let Some(j) = seen_count.get(&count) {
                    let other = v.cite(&table.index(*j).key("ohm"));
                    v.push(
                        at.key("ohm"),
                        format!(
                            "gives the same ADC count ({count}) as {other}, so the two directions cannot be told \
                             apart; check the resistances or divider_ohm"
                        ),
                    );
                } else {
                    seen_count.insert(count, i);
                }
            }
        }
    }

    fn claims(&self) -> Vec<Claim> {
        vec![
            Claim::SpiAdc {
                spi_key: "spi",
                spi: self.spi.clone(),
                channel_key: "channel",
                channel: self.channel,
            },
            Claim::OnePerStation { kind: "wind vane" },
        ]
    }

    fn build(&self, hw: &dyn Backend) -> Result<Driver, SensorError> {
        build(self, hw)
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
    /// Takes `reads` conversions and classifies each. Counts outside every band are
    /// dropped if they are at most half of the reads (a switch caught mid-transition);
    /// more than half out of band is a fault naming the counts, because then the vane
    /// or its wiring is broken. The direction is the unit-vector mean of the valid
    /// reads, so a vane swinging between N and NNE reads ~11°, and one between 350° and
    /// 10° reads ~0°, never 180°. An ADC error fails the whole read.
    fn read(&mut self) -> Result<Vec<Reading>, SensorError> {
        let mut sum = VectorSum::default();
        let mut bad: Vec<u16> = Vec::new();
        for _ in 0..self.reads {
            let count = self.adc.read_count().map_err(|error| SensorError::Device {
                sensor: "wind vane ADC read failed".into(),
                error,
            })?;
            match self.table.classify(count) {
                Some(deg) => sum.add(deg, 1.0),
                None => bad.push(count),
            }
        }
        if bad.len() * 2 > self.reads as usize {
            return Err(SensorError::VaneUnmatched {
                bad: bad.len(),
                reads: self.reads,
                counts: join_counts(&bad),
            });
        }
        let deg = sum.mean_deg().ok_or_else(|| SensorError::VaneCancelled {
            valid: self.reads as usize - bad.len(),
        })?;
        Ok(vec![Reading::new(Quantity::WindDirDeg, deg)])
    }
}

fn join_counts(counts: &[u16]) -> String {
    let list: Vec<String> = counts.iter().map(|c| format!("count {c}")).collect();
    list.join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hw::HwError;
    use crate::hw::ScriptedAdc;
    use std::collections::VecDeque;

    fn standard() -> VaneTable {
        VaneTable::from_positions(&defaults::table(), defaults::divider_ohm())
    }

    /// The reference table's (degrees, count) rows.
    const REFERENCE: [(f64, u16); 16] = [
        (0.0, 128),
        (22.5, 427),
        (45.0, 373),
        (67.5, 860),
        (90.0, 844),
        (112.5, 892),
        (135.0, 697),
        (157.5, 787),
        (180.0, 559),
        (202.5, 613),
        (225.0, 232),
        (247.5, 255),
        (270.0, 39),
        (292.5, 103),
        (315.0, 69),
        (337.5, 181),
    ];

    #[test]
    fn every_reference_count_reads_its_direction() {
        let table = standard();
        assert_eq!(table.bands.len(), 16);
        for (deg, count) in REFERENCE {
            assert_eq!(table.classify(count), Some(deg), "count {count}");
            // A count or two of noise does not change the answer.
            assert_eq!(table.classify(count - 2), Some(deg), "count {}", count - 2);
            assert_eq!(table.classify(count + 2), Some(deg), "count {}", count + 2);
        }
    }

    #[test]
    fn expected_counts_match_the_reference() {
        let table = standard();
        for (deg, count) in REFERENCE {
            let band = table.bands.iter().find(|b| b.deg == deg).unwrap();
            assert!(
                (band.expected - f64::from(count)).abs() <= 0.6,
                "{deg}: {band:?}"
            );
        }
        // The supply voltage cancels out.
        let mut c = WindVaneConfig {
            spi: defaults::spi_device(),
            channel: 0,
            reads_per_sample: 5,
            divider_ohm: 4700.0,
            supply_v: 3.3,
            table: defaults::table(),
        };
        let at_3v3 = VaneTable::from_config(&c);
        c.supply_v = 5.0;
        assert_eq!(VaneTable::from_config(&c), at_3v3);
        assert_eq!(at_3v3, table);
        // A different divider moves every band.
        c.divider_ohm = 10_000.0;
        assert_ne!(VaneTable::from_config(&c).classify(844), Some(90.0));
    }

    #[test]
    fn east_and_east_north_east_are_told_apart() {
        let table = standard();
        assert_eq!(table.classify(844), Some(90.0));
        assert_eq!(table.classify(860), Some(67.5));
        // The midpoint of 843.5 and 860.0 is 851.75.
        assert_eq!(table.classify(850), Some(90.0));
        assert_eq!(table.classify(851), Some(90.0));
        assert_eq!(table.classify(852), Some(67.5));
        assert_eq!(table.classify(853), Some(67.5));
    }

    #[test]
    fn counts_outside_every_band_are_rejected() {
        let table = standard();
        for count in [0, 1, 10, 23, 909, 950, 1000, 1023] {
            assert_eq!(table.classify(count), None, "count {count}");
        }
        // The outer bands end where their inner half-gap says.
        assert_eq!(table.classify(24), Some(270.0));
        assert_eq!(table.classify(908), Some(112.5));
        // Bands tile the range between them: every count from W to ESE has a direction.
        assert!((24..=908).all(|c| table.classify(c).is_some()));
        // Inner midpoints: the nearest expected count wins on either side.
        assert_eq!(table.classify(314), Some(247.5));
        assert_eq!(table.classify(315), Some(45.0));
        assert_eq!(table.classify(815), Some(157.5));
        assert_eq!(table.classify(816), Some(90.0));
    }

    #[test]
    fn degenerate_tables_do_not_panic() {
        let empty = VaneTable::from_positions(&[], 4700.0);
        assert_eq!(empty.classify(500), None);
        let lone = VaneTable::from_positions(
            &[VanePosition {
                deg: 90.0,
                ohm: 4700.0,
            }],
            4700.0,
        );
        assert_eq!(lone.classify(512), Some(90.0));
        assert_eq!(lone.classify(600), None);
        let bad = VaneTable::from_positions(
            &[VanePosition {
                deg: 0.0,
                ohm: -4700.0,
            }],
            4700.0,
        );
        assert!(bad.bands.is_empty());
    }

    fn vane(counts: &[u16]) -> WindVane {
        WindVane {
            adc: Box::new(ScriptedAdc::counts(counts)),
            table: standard(),
            reads: counts.len() as u32,
        }
    }

    fn direction(r: Result<Vec<Reading>, SensorError>) -> f64 {
        let readings = r.unwrap();
        assert_eq!(readings.len(), 1);
        assert_eq!(readings[0].quantity, Quantity::WindDirDeg);
        readings[0].value
    }

    #[test]
    fn read_averages_valid_reads_as_vectors() {
        assert_eq!(direction(vane(&[844, 845, 843, 844, 846]).read()), 90.0);
        // N and NNW: the mean lies between them, across north from NNE.
        let d = direction(vane(&[128, 181]).read());
        assert!((d - 348.75).abs() < 1e-9, "{d}");
        let d = direction(vane(&[128, 427, 128, 427]).read());
        assert!((d - 11.25).abs() < 1e-9, "{d}");
    }

    #[test]
    fn read_drops_a_minority_of_bad_counts() {
        assert_eq!(direction(vane(&[559, 1023, 559, 0, 560]).read()), 180.0);
    }

    #[test]
    fn read_fails_when_most_counts_are_bad() {
        let err = vane(&[1023, 1023, 559, 1020, 5]).read().unwrap_err();
        assert!(err.to_string().contains("4 of 5"), "{err}");
        assert!(
            err.to_string().contains("count 1023") && err.to_string().contains("count 5"),
            "{err}"
        );
        let err = vane(&[0]).read().unwrap_err();
        assert!(err.to_string().contains("count 0"), "{err}");
    }

    #[test]
    fn read_fails_on_an_adc_error_or_cancelling_reads() {
        let mut v = vane(&[844]);
        v.adc = Box::new(ScriptedAdc(VecDeque::from([
            Ok(844),
            Err(HwError::Bus {
                device: "/dev/spidev0.0".into(),
                detail: "no such device".into(),
            }),
        ])));
        v.reads = 2;
        let err = v.read().unwrap_err();
        assert!(err.to_string().contains("/dev/spidev0.0"), "{err}");
        // N (128) and S (559) cancel out: no direction rather than a made-up one.
        let err = vane(&[128, 559]).read().unwrap_err();
        assert!(err.to_string().contains("cancel"), "{err}");
    }
}
