//! Reductions along one axis or over all of them, as tree reductions: a partial per block,
//! combine steps of at most `split_every` partials per lane, and a root that finishes (mean,
//! variance with `ddof`, standard deviation, the index of an extreme).
//!
//! ```text
//!  blocks along the axis:  b0   b1   b2   b3   b4   b5   b6   b7   b8
//!  partials:               p0   p1   p2   p3   p4   p5   p6   p7   p8
//!  combine (≤ every):      └────c0───┘    └───c1────┘    └───c2───┘
//!  root + finish:                         r (one block of the result)
//! ```
//!
//! Variances combine with Chan's parallel formula (counts, means, sums of squared
//! deviations), so they stay accurate on large arrays.

use super::block::{Block, BlockBuf};
use super::dtype::{DType, Element, Numeric};
use super::expr::Expr;
use super::funcs::spec;
use super::rawsum::fast_sum;
use crate::raw::failed;
use bytes::Bytes;
use ndarray::{ArrayD, Axis, IxDyn, Zip};
use rask_actors::worker::registry::InvokeResult;
use rask_protocol::encode_value;
use serde::{Deserialize, Serialize};

crate::raw_task! {
    /// Registered name of the per-block partial reduction.
    pub const PARTIAL = "rask_collections::array::reduce_partial" => run_partial
}

/// What a reduction accumulates.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub enum ReduceOp {
    /// Sum.
    Sum,
    /// Least value (NaN wins).
    Min,
    /// Greatest value (NaN wins).
    Max,
    /// Any element true (non-zero).
    Any,
    /// Every element true (non-zero).
    All,
    /// Count, mean and sum of squared deviations (for mean, var, std).
    Moments,
    /// Least value and its index.
    ArgMin,
    /// Greatest value and its index.
    ArgMax,
    /// Sum in `f64` and count (for means).
    SumCount,
}

/// What the root makes of the combined partial.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub enum Finish {
    /// The accumulated value itself.
    Value,
    /// Mean of moments.
    Mean,
    /// Variance with `ddof` of moments.
    Var(f64),
    /// Standard deviation with `ddof` of moments.
    Std(f64),
    /// The index of an arg-reduction.
    Index,
}

/// A per-block partial task's spec.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PartialSpec {
    /// What to accumulate.
    pub op: ReduceOp,
    /// The axis, or all.
    pub axis: Option<usize>,
    /// The block, as an expression over the task's inputs.
    pub expr: Expr,
    /// Where the block starts in the array (for arg-reductions).
    pub offset: Vec<usize>,
    /// The array's shape (for arg-reductions over all axes).
    pub full: Vec<usize>,
    /// For a sum over all axes of one term of a block (see
    /// [`split_sum_terms`](super::rawsum::split_sum_terms)): the block's shape, which the
    /// term broadcasts to, so its sum counts each element as often as the block repeats it.
    pub broadcast_to: Option<Vec<usize>>,
}

/// A combine task's spec.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CombineSpec {
    /// What the partials accumulate.
    pub op: ReduceOp,
    /// The axis, or all.
    pub axis: Option<usize>,
    /// At the root: how to finish.
    pub finish: Option<Finish>,
}

/// An accumulated partial: blocks with the reduced axes kept (length 1), and a count.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Partial {
    /// Elements accumulated per output position (moments).
    pub n: f64,
    /// Value blocks: `[v]`, `[mean, m2]` or `[value, index]`.
    pub blocks: Vec<BlockBuf>,
}

fn buf(b: Block) -> BlockBuf {
    BlockBuf(crate::with_block!(&b, a => super::block::encode_payload(a)))
}

pub(crate) fn better<T: Element>(max: bool, v: T, i: i64, best: T, bi: i64) -> bool {
    if best.is_nan() {
        return v.is_nan() && i < bi;
    }
    if v.is_nan() {
        return true;
    }
    let strictly = if max { v > best } else { v < best };
    strictly || (v == best && i < bi)
}

/// Folds `a` along `axis` (or all axes), keeping reduced axes as length 1.
fn fold_keep<T: Element, R: Clone>(
    a: &ArrayD<T>,
    axis: Option<usize>,
    first: impl Fn(T) -> R,
    step: impl Fn(&mut R, T),
) -> std::result::Result<ArrayD<R>, String> {
    match axis {
        Some(ax) => {
            if a.len_of(Axis(ax)) == 0 {
                return Err("reduction of an empty axis has no identity".into());
            }
            let mut acc = a.index_axis(Axis(ax), 0).mapv(&first);
            for sub in a.axis_iter(Axis(ax)).skip(1) {
                Zip::from(&mut acc).and(&sub).for_each(|r, x| step(r, *x));
            }
            Ok(acc.insert_axis(Axis(ax)))
        }
        None => {
            let mut it = a.iter();
            let mut r = first(
                *it.next()
                    .ok_or("reduction of an empty block has no identity")?,
            );
            for x in it {
                step(&mut r, *x);
            }
            Ok(ArrayD::from_elem(IxDyn(&vec![1; a.ndim()]), r))
        }
    }
}

fn sum_keep<T: Numeric>(a: &ArrayD<T>, axis: Option<usize>) -> ArrayD<T> {
    match axis {
        Some(ax) => a.sum_axis(Axis(ax)).insert_axis(Axis(ax)),
        None => ArrayD::from_elem(IxDyn(&vec![1; a.ndim()]), a.sum()),
    }
}

fn extreme<T: Element>(
    a: &ArrayD<T>,
    axis: Option<usize>,
    max: bool,
) -> std::result::Result<ArrayD<T>, String> {
    fold_keep(
        a,
        axis,
        |x| x,
        |r, x| {
            if better(max, x, 0, *r, 0) {
                *r = x;
            }
        },
    )
}

fn arg<T: Element>(
    a: &ArrayD<T>,
    spec: &PartialSpec,
    max: bool,
) -> std::result::Result<Vec<Block>, String> {
    let (v, i) = match spec.axis {
        Some(ax) => {
            let base = spec.offset.get(ax).copied().unwrap_or(0) as i64;
            let both = fold_keep(a, Some(ax), |x| (x, base), |_, _| {})?;
            let mut both = both.index_axis_move(Axis(ax), 0);
            for (k, sub) in (base + 1..).zip(a.axis_iter(Axis(ax)).skip(1)) {
                Zip::from(&mut both).and(&sub).for_each(|(bv, bi), x| {
                    if better(max, *x, k, *bv, *bi) {
                        *bv = *x;
                        *bi = k;
                    }
                });
            }
            let both = both.insert_axis(Axis(ax));
            (both.mapv(|p| p.0), both.mapv(|p| p.1))
        }
        None => {
            let mut strides = vec![1i64; spec.full.len()];
            for d in (0..spec.full.len().saturating_sub(1)).rev() {
                strides[d] = strides[d + 1] * spec.full[d + 1] as i64;
            }
            let mut best: Option<(T, i64)> = None;
            for (ix, x) in a.indexed_iter() {
                let flat: i64 = (0..a.ndim())
                    .map(|d| (ix[d] + spec.offset[d]) as i64 * strides[d])
                    .sum();
                if best.is_none_or(|(bv, bi)| better(max, *x, flat, bv, bi)) {
                    best = Some((*x, flat));
                }
            }
            let (bv, bi) = best.ok_or("argmin/argmax of an empty block")?;
            let one = IxDyn(&vec![1; a.ndim()]);
            (
                ArrayD::from_elem(one.clone(), bv),
                ArrayD::from_elem(one, bi),
            )
        }
    };
    Ok(vec![Block::from_array(v), Block::I64(i)])
}

fn moments(a: &ArrayD<f64>, axis: Option<usize>) -> (f64, Vec<Block>) {
    let n = match axis {
        Some(ax) => a.len_of(Axis(ax)),
        None => a.len(),
    } as f64;
    let sum = sum_keep(a, axis);
    let mean = sum.mapv(|s| if n > 0.0 { s / n } else { f64::NAN });
    let dev = match mean.broadcast(a.raw_dim()) {
        Some(m) => Zip::from(a).and(&m).map_collect(|x, m| (x - m) * (x - m)),
        None => a.mapv(|_| f64::NAN),
    };
    let m2 = sum_keep(&dev, axis);
    (n, vec![Block::F64(mean), Block::F64(m2)])
}

fn partial(spec: &PartialSpec, block: Block) -> std::result::Result<Partial, String> {
    if let Some(ax) = spec.axis {
        if ax >= block.shape().len() {
            return Err(format!("axis {ax} of a {}-d block", block.shape().len()));
        }
    }
    let axis = spec.axis;
    let (n, blocks) = match spec.op {
        ReduceOp::Sum => (
            0.0,
            vec![
                crate::with_numeric!(&block, a => Block::from_array(sum_keep(a, axis)),
            return Err("sum of booleans must be cast first".into())),
            ],
        ),
        ReduceOp::Min | ReduceOp::Max => {
            let max = spec.op == ReduceOp::Max;
            (
                0.0,
                vec![crate::with_block!(&block, a => Block::from_array(extreme(a, axis, max)?))],
            )
        }
        ReduceOp::Any | ReduceOp::All => {
            let all = spec.op == ReduceOp::All;
            let b = block
                .astype(DType::Bool)
                .into_array::<bool>()
                .ok_or("not bool")?;
            let r = match axis {
                Some(_) => fold_keep(
                    &b,
                    axis,
                    |x| x,
                    |r, x| *r = if all { *r & x } else { *r | x },
                )?,
                None => ArrayD::from_elem(
                    IxDyn(&vec![1; b.ndim()]),
                    if all {
                        b.iter().all(|x| *x)
                    } else {
                        b.iter().any(|x| *x)
                    },
                ),
            };
            (0.0, vec![Block::Bool(r)])
        }
        ReduceOp::Moments => {
            let a = block
                .astype(DType::F64)
                .into_array::<f64>()
                .ok_or("not f64")?;
            moments(&a, axis)
        }
        ReduceOp::ArgMin | ReduceOp::ArgMax => {
            let max = spec.op == ReduceOp::ArgMax;
            (0.0, crate::with_block!(&block, a => arg(a, spec, max)?))
        }
        ReduceOp::SumCount => {
            let a = block
                .astype(DType::F64)
                .into_array::<f64>()
                .ok_or("not f64")?;
            let s = sum_keep(&a, axis);
            (count(a.len(), s.len()), vec![Block::F64(s)])
        }
    };
    Ok(Partial {
        n,
        blocks: blocks.into_iter().map(buf).collect(),
    })
}

/// How often broadcasting to `shape` repeats each of `elements` elements.
fn repeats(shape: &[usize], elements: usize) -> usize {
    shape
        .iter()
        .product::<usize>()
        .checked_div(elements)
        .unwrap_or(0)
}

/// Elements summed into each output position.
fn count(elements: usize, outputs: usize) -> f64 {
    elements.checked_div(outputs).unwrap_or(0) as f64
}

/// Computes a block's partial (`args[0]` is the [`PartialSpec`]). Sums of `f64` blocks are
/// taken from the received bytes when they can be ([`fast_sum`]).
pub fn run_partial(args: &[Bytes]) -> InvokeResult {
    let (spec, inputs): (PartialSpec, _) = spec(args)?;
    if matches!(spec.op, ReduceOp::Sum | ReduceOp::SumCount) {
        if let Some((elements, mut s)) = fast_sum(&spec.expr, inputs, spec.axis) {
            let n = match spec.op {
                ReduceOp::SumCount => count(elements, s.len()),
                _ => 0.0,
            };
            if let Some(to) = &spec.broadcast_to {
                let f = repeats(to, elements) as f64;
                s.mapv_inplace(|v| v * f);
            }
            let p = Partial {
                n,
                blocks: vec![buf(Block::F64(s))],
            };
            return encode_value(&p).map_err(|e| failed(e.to_string()));
        }
    }
    let block = spec.expr.eval(inputs).map_err(failed)?;
    let elements: usize = block.shape().iter().product();
    let mut p = partial(&spec, block).map_err(failed)?;
    if let (Some(to), ReduceOp::Sum) = (&spec.broadcast_to, spec.op) {
        let scaled = p.blocks[0]
            .decode()
            .and_then(|b| {
                let f = Block::F64(ndarray::ArrayD::from_elem(
                    IxDyn(&[]),
                    repeats(to, elements) as f64,
                ));
                super::ops::binary(super::ops::BinaryOp::Mul, b.astype(DType::F64), f)
            })
            .map_err(failed)?;
        p.blocks[0] = buf(scaled);
    }
    encode_value(&p).map_err(|e| failed(e.to_string()))
}
