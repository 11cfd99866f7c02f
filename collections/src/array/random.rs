//! Counter-based random numbers: element `i` (flat, row-major index in the whole array) of a
//! seeded array is a pure function of the seed and `i`, so the values are the same whatever
//! the chunking and whichever worker makes a block.

use ndarray::{ArrayD, IxDyn};
use serde::{Deserialize, Serialize};

/// A distribution of [`random`](super::random) arrays.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub enum Distribution {
    /// Uniform on `[low, high)`.
    Uniform {
        /// Lower bound (inclusive).
        low: f64,
        /// Upper bound (exclusive).
        high: f64,
    },
    /// Normal (Box–Muller on two independent uniforms).
    Normal {
        /// Mean.
        mean: f64,
        /// Standard deviation.
        std: f64,
    },
}

fn mix(mut z: u64) -> u64 {
    // SplitMix64's finaliser.
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// A uniform double in `[0, 1)` for `(seed, stream, index)`.
pub fn unit(seed: u64, stream: u64, index: u64) -> f64 {
    let key = mix(seed ^ mix(stream.wrapping_add(0x9e37_79b9_7f4a_7c15)));
    let z = mix(key.wrapping_add(index.wrapping_mul(0x9e37_79b9_7f4a_7c15)));
    (z >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
}

/// The value of element `index`.
pub fn value(seed: u64, dist: Distribution, index: u64) -> f64 {
    match dist {
        Distribution::Uniform { low, high } => low + (high - low) * unit(seed, 0, index),
        Distribution::Normal { mean, std } => {
            let u1 = 1.0 - unit(seed, 1, index); // (0, 1]: ln is finite
            let u2 = unit(seed, 2, index);
            mean + std * (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
        }
    }
}

/// The block of shape `shape` starting at `offset` of a seeded array of shape `full`.
pub fn block(
    seed: u64,
    dist: Distribution,
    full: &[usize],
    offset: &[usize],
    shape: &[usize],
) -> ArrayD<f64> {
    let mut strides = vec![1u64; full.len()];
    for i in (0..full.len().saturating_sub(1)).rev() {
        strides[i] = strides[i + 1] * full[i + 1] as u64;
    }
    // Row by row: the last axis is contiguous in the whole array's flat order.
    let len: usize = shape.iter().product();
    let last = shape.last().copied().unwrap_or(1);
    let outer_dims = shape.len().saturating_sub(1);
    let mut out = Vec::with_capacity(len);
    let mut ix = vec![0usize; outer_dims];
    let base_last = offset.last().copied().unwrap_or(0) as u64;
    for _ in 0..len.checked_div(last).unwrap_or(0) {
        let base: u64 = (0..outer_dims)
            .map(|d| (ix[d] + offset[d]) as u64 * strides[d])
            .sum::<u64>()
            + base_last;
        out.extend((0..last as u64).map(|j| value(seed, dist, base + j)));
        for d in (0..outer_dims).rev() {
            ix[d] += 1;
            if ix[d] < shape[d] {
                break;
            }
            ix[d] = 0;
        }
    }
    ArrayD::from_shape_vec(IxDyn(shape), out).unwrap_or_else(|_| ArrayD::zeros(IxDyn(shape)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_agree_with_the_whole_and_moments_are_right() {
        let u = Distribution::Uniform {
            low: 0.0,
            high: 1.0,
        };
        let whole = block(7, u, &[5, 6], &[0, 0], &[5, 6]);
        let part = block(7, u, &[5, 6], &[2, 3], &[3, 2]);
        assert_eq!(part, whole.slice(ndarray::s![2..5, 3..5]).into_dyn());
        let n = 200_000u64;
        let mean = (0..n).map(|i| value(1, u, i)).sum::<f64>() / n as f64;
        assert!((mean - 0.5).abs() < 0.005, "{mean}");
        let g = Distribution::Normal {
            mean: 2.0,
            std: 3.0,
        };
        let xs: Vec<f64> = (0..n).map(|i| value(1, g, i)).collect();
        let m = xs.iter().sum::<f64>() / n as f64;
        let v = xs.iter().map(|x| (x - m) * (x - m)).sum::<f64>() / n as f64;
        assert!(
            (m - 2.0).abs() < 0.03 && (v.sqrt() - 3.0).abs() < 0.03,
            "{m} {v}"
        );
        assert_ne!(value(1, u, 0), value(2, u, 0));
        let cube = block(3, u, &[3, 4, 5], &[0, 0, 0], &[3, 4, 5]);
        let piece = block(3, u, &[3, 4, 5], &[1, 2, 1], &[2, 1, 3]);
        assert_eq!(piece, cube.slice(ndarray::s![1..3, 2..3, 1..4]).into_dyn());
        assert_eq!(block(3, u, &[], &[], &[]).len(), 1);
        assert_eq!(block(3, u, &[0, 4], &[0, 0], &[0, 4]).len(), 0);
    }
}
