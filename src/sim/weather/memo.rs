//! The noise streams and the memos that let a replay evaluate the same noise nodes
//! and wind once instead of per sample.

use super::*;

/// Noise streams: one per phenomenon so they are independent.
pub(super) mod stream {
    pub(crate) const CLOUD: u64 = 1;
    pub(crate) const T_SYNOPTIC: u64 = 2;
    pub(crate) const T_MESO: u64 = 3;
    pub(crate) const T_SHORT: u64 = 4;
    pub(crate) const DRYNESS: u64 = 5;
    pub(crate) const P_SYNOPTIC: u64 = 6;
    pub(crate) const P_MESO: u64 = 7;
    pub(crate) const WIND_SYNOPTIC: u64 = 8;
    pub(crate) const STORM: u64 = 9;
    pub(crate) const TURB_SLOW: u64 = 10;
    pub(crate) const TURB_FAST: u64 = 11;
    pub(crate) const GUST: u64 = 12;
    pub(crate) const DIR_SYNOPTIC: u64 = 13;
    pub(crate) const DIR_MESO: u64 = 14;
    pub(crate) const DIR_TURB: u64 = 15;
    pub(crate) const RAIN: u64 = 16;
    pub(crate) const DIR_SEASONAL: u64 = 17;
}

/// The wind's random nodes last used: the two grid nodes of the slow wind, both
/// turbulence noises' and the gust cell's. A memo only: the values are the same with or
/// without it (the same arithmetic on the same numbers), so it cannot make a resumed
/// run differ. It makes an evaluation a few multiplications, which the anemometer's
/// four evaluations per simulated second need.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct MeanWindCache {
    pub(super) node: Option<i64>,
    pub(super) a: f64,
    pub(super) b: f64,
    pub(super) turb_slow: NoiseNodes,
    pub(super) turb_fast: NoiseNodes,
    pub(super) gust_cell: Option<i64>,
    pub(super) gust: Option<GustBurst>,
}

/// The two random values around one cell of [`value_noise`].
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub(super) struct NoiseNodes {
    pub(super) cell: Option<i64>,
    pub(super) a: f64,
    pub(super) b: f64,
}

/// `x.floor()`, skipping the call (a libm call on baseline x86-64) when `x` lies in the
/// cell remembered: the same value either way.
#[inline]
pub(super) fn floor_near(x: f64, cell: Option<i64>) -> f64 {
    match cell {
        Some(c) if (c as f64) <= x && x < (c + 1) as f64 => c as f64,
        _ => x.floor(),
    }
}

/// [`value_noise`] with its nodes memoised: bit-identical results.
#[inline]
pub(super) fn value_noise_memo(
    seed: u64,
    stream: u64,
    t_s: f64,
    scale_s: f64,
    memo: &mut NoiseNodes,
) -> f64 {
    let x = t_s / scale_s;
    let i = floor_near(x, memo.cell);
    let f = x - i;
    let i = i as i64;
    if memo.cell != Some(i) {
        *memo = NoiseNodes {
            cell: Some(i),
            a: unit(hash(seed, stream, i)) * 2.0 - 1.0,
            b: unit(hash(seed, stream, i + 1)) * 2.0 - 1.0,
        };
    }
    let w = f * f * f * (f * (f * 6.0 - 15.0) + 10.0);
    memo.a + (memo.b - memo.a) * w
}
