//! Counter-based randomness: every random number is a hash of (seed, stream, cell), so
//! any instant can be evaluated on its own, in any order, and a resumed run sees
//! exactly the numbers an uninterrupted one did. Nothing here keeps state.

use rand_pcg::Pcg64Mcg;

/// The SplitMix64 finaliser: a fast bijective mixer with good avalanche, enough to turn
/// consecutive cell indices into unrelated seeds.
#[inline]
pub(crate) fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// One hash for one cell of one stream. Streams keep independent phenomena (wind,
/// rain, temperature noise …) from sharing random numbers.
#[inline]
pub(crate) fn hash(seed: u64, stream: u64, cell: i64) -> u64 {
    mix(mix(seed ^ mix(stream.wrapping_add(0x9e37_79b9_7f4a_7c15))) ^ cell as u64)
}

/// A hash as a uniform number in [0, 1).
#[inline]
pub fn unit(h: u64) -> f64 {
    (h >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
}

/// A generator for the cell's own random numbers (several per cell).
#[inline]
pub(crate) fn cell_rng(seed: u64, stream: u64, cell: i64) -> Pcg64Mcg {
    let a = hash(seed, stream, cell);
    let b = mix(a ^ 0x6a09_e667_f3bc_c908);
    Pcg64Mcg::new((u128::from(a) << 64) | u128::from(b))
}

/// Smooth 1-D value noise in [-1, 1]: random values at multiples of `scale_s`,
/// joined by a quintic fade so the first and second derivatives are continuous.
#[inline]
pub(crate) fn value_noise(seed: u64, stream: u64, t_s: f64, scale_s: f64) -> f64 {
    let x = t_s / scale_s;
    let i = x.floor();
    let f = x - i;
    let i = i as i64;
    let a = unit(hash(seed, stream, i)) * 2.0 - 1.0;
    let b = unit(hash(seed, stream, i + 1)) * 2.0 - 1.0;
    let w = f * f * f * (f * (f * 6.0 - 15.0) + 10.0);
    a + (b - a) * w
}

/// Fractal value noise: `octaves` layers, each half the scale and half the amplitude
/// of the previous, normalised back to roughly [-1, 1].
pub(crate) fn fbm(seed: u64, stream: u64, t_s: f64, scale_s: f64, octaves: u32) -> f64 {
    let mut sum = 0.0;
    let mut amp = 1.0;
    let mut norm = 0.0;
    let mut scale = scale_s;
    for o in 0..octaves {
        sum += amp * value_noise(seed, stream.wrapping_add(u64::from(o) << 32), t_s, scale);
        norm += amp;
        amp *= 0.5;
        scale *= 0.5;
    }
    sum / norm
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::RngCore;

    #[test]
    fn value_noise_is_continuous_and_bounded() {
        let mut prev = value_noise(7, 1, 0.0, 10.0);
        for k in 1..10_000 {
            let v = value_noise(7, 1, k as f64 * 0.01, 10.0);
            assert!((-1.0..=1.0).contains(&v));
            assert!((v - prev).abs() < 0.01, "jump at {k}: {prev} -> {v}");
            prev = v;
        }
    }

    #[test]
    fn cells_and_streams_differ() {
        assert_ne!(hash(1, 2, 3), hash(1, 2, 4));
        assert_ne!(hash(1, 2, 3), hash(1, 3, 3));
        assert_ne!(hash(1, 2, 3), hash(2, 2, 3));
        assert_eq!(cell_rng(1, 2, 3).next_u64(), cell_rng(1, 2, 3).next_u64());
        assert_ne!(cell_rng(1, 2, 3).next_u64(), cell_rng(1, 2, 4).next_u64());
    }

    #[test]
    fn unit_is_roughly_uniform() {
        let n = 100_000;
        let mean: f64 = (0..n).map(|i| unit(hash(9, 9, i))).sum::<f64>() / n as f64;
        assert!((mean - 0.5).abs() < 0.01, "mean {mean}");
    }
}
