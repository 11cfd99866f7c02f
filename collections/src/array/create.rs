//! Creating arrays: from an ndarray in the client's memory, constants, ranges and seeded
//! random numbers. Sources make their blocks on the workers (only `from_ndarray` carries
//! data in the graph).

use super::block::encode_payload;
use super::chunks::{grid_indices, normalize, starts, ChunkSpec};
use super::dtype::{DType, Element, Numeric};
use super::expr::{Expr, Scalar, Source};
use super::lazy::Lazy;
use super::random::Distribution;
use super::Array;
use crate::graph::Graph;
use crate::{Error, Result};
use ndarray::{ArrayD, Slice};

/// The scalar operand holding `v`.
pub(crate) fn scalar<T: Element>(v: T) -> Scalar {
    match T::DTYPE {
        DType::F64 => Scalar::F64(v.to_f64()),
        DType::F32 => Scalar::F32(v.to_f64() as f32),
        DType::I64 => Scalar::I64(v.to_i64()),
        DType::I32 => Scalar::I32(v.to_i64() as i32),
        DType::Bool => Scalar::Bool(v.to_i64() != 0),
    }
}

/// An array of `shape` cut as `chunks` whose block at offset `off` with shape `shape` is
/// `make(off, shape)`.
fn sourced<T: Element>(
    shape: &[usize],
    chunks: ChunkSpec,
    prefix: &str,
    make: impl Fn(&[usize], Vec<usize>) -> Source,
) -> Result<Array<T>> {
    let chunks = normalize(shape, &chunks)?;
    let st: Vec<Vec<usize>> = chunks.iter().map(|c| starts(c)).collect();
    let grid: Vec<usize> = chunks.iter().map(Vec::len).collect();
    let blocks = grid_indices(&grid)
        .into_iter()
        .map(|ix| {
            let off: Vec<usize> = (0..ix.len()).map(|d| st[d][ix[d]]).collect();
            let bs: Vec<usize> = (0..ix.len()).map(|d| chunks[d][ix[d]]).collect();
            Lazy::source(Expr::Source(make(&off, bs)))
        })
        .collect();
    Array::from_lazy(Graph::new(), shape.to_vec(), chunks, blocks, prefix)
}

/// An array holding `a`, cut into chunks (the blocks travel inside the graph).
pub fn from_ndarray<T: Element>(a: &ArrayD<T>, chunks: impl Into<ChunkSpec>) -> Result<Array<T>> {
    sourced(a.shape(), chunks.into(), "array", |off, bs| {
        let view = a.slice_each_axis(|ax| {
            let d = ax.axis.index();
            Slice::from(off[d]..off[d] + bs[d])
        });
        Source::Literal(encode_payload(&view.to_owned()))
    })
}

/// Every element `value`.
pub fn full<T: Element>(
    shape: &[usize],
    value: T,
    chunks: impl Into<ChunkSpec>,
) -> Result<Array<T>> {
    sourced(shape, chunks.into(), "full", |_, bs| Source::Fill {
        shape: bs,
        value: scalar(value),
    })
}

/// Zeros.
pub fn zeros<T: Numeric>(shape: &[usize], chunks: impl Into<ChunkSpec>) -> Result<Array<T>> {
    full(shape, T::from_i64(0), chunks)
}

/// Ones.
pub fn ones<T: Numeric>(shape: &[usize], chunks: impl Into<ChunkSpec>) -> Result<Array<T>> {
    full(shape, T::from_i64(1), chunks)
}

fn range<T: Element>(
    len: usize,
    start: f64,
    step: f64,
    last: Option<(u64, f64)>,
    chunk: usize,
    prefix: &str,
) -> Result<Array<T>> {
    sourced(&[len], ChunkSpec::All(chunk), prefix, |off, bs| {
        Source::Range {
            dtype: T::DTYPE,
            start,
            step,
            offset: off[0] as u64,
            len: bs[0],
            last,
        }
    })
}

/// `start, start + step, …` below `stop` (above it for a negative step), like
/// `numpy.arange`; values are computed in `f64`, then cast to `T`.
pub fn arange<T: Numeric>(start: T, stop: T, step: T, chunk: usize) -> Result<Array<T>> {
    let (a, b, s) = (start.to_f64(), stop.to_f64(), step.to_f64());
    if s == 0.0 || !s.is_finite() {
        return Err(Error::Invalid(
            "arange needs a finite, non-zero step".into(),
        ));
    }
    let len = ((b - a) / s).ceil().max(0.0) as usize;
    range(len, a, s, None, chunk, "arange")
}

/// `num` evenly spaced values from `start` to `stop` (inclusive when `endpoint`), like
/// `numpy.linspace`.
pub fn linspace(
    start: f64,
    stop: f64,
    num: usize,
    endpoint: bool,
    chunk: usize,
) -> Result<Array<f64>> {
    let div = if endpoint { num.saturating_sub(1) } else { num };
    let step = if div > 0 {
        (stop - start) / div as f64
    } else {
        0.0
    };
    let last = (endpoint && num > 1).then(|| ((num - 1) as u64, stop));
    range(num, start, step, last, chunk, "linspace")
}

fn random(seed: u64, dist: Distribution, shape: &[usize], chunks: ChunkSpec) -> Result<Array<f64>> {
    sourced(shape, chunks, "random", |off, bs| Source::Random {
        seed,
        dist,
        full: shape.to_vec(),
        offset: off.to_vec(),
        shape: bs,
    })
}

/// Uniform random numbers on `[low, high)`; element values depend only on `seed` and their
/// position, never on the chunking.
pub fn random_uniform(
    seed: u64,
    low: f64,
    high: f64,
    shape: &[usize],
    chunks: impl Into<ChunkSpec>,
) -> Result<Array<f64>> {
    random(
        seed,
        Distribution::Uniform { low, high },
        shape,
        chunks.into(),
    )
}

/// Normal random numbers; element values depend only on `seed` and their position.
pub fn random_normal(
    seed: u64,
    mean: f64,
    std: f64,
    shape: &[usize],
    chunks: impl Into<ChunkSpec>,
) -> Result<Array<f64>> {
    random(
        seed,
        Distribution::Normal { mean, std },
        shape,
        chunks.into(),
    )
}
