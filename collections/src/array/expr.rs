//! Per-block expressions: what one block task computes from its input blocks.
//!
//! Element-wise operations, `where`, casts, transposes, slices within a block, reshapes and
//! calls of registered functions are all nodes of an [`Expr`]; sources (constants, ranges,
//! seeded random numbers, literal blocks, `.npy` files) are leaves. When an operation's
//! operand is itself such a task, the builder inlines the operand's expression instead of
//! depending on it (blockwise fusion, as in Dask), so `(x + x.T).sum()` reads each block of
//! `x` once per use and never materialises `x + x.T`.

use super::block::Block;
use super::dtype::DType;
use super::index;
use super::ops::{self, BinaryOp, UnaryOp};
use super::random::{self, Distribution};
use crate::with_block;
use bytes::Bytes;
use ndarray::{ArrayD, IxDyn, Slice};
use rask_actors::worker::registry::Registry;
use serde::{Deserialize, Serialize};

/// A typed scalar operand.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub enum Scalar {
    /// `f64`.
    F64(f64),
    /// `f32`.
    F32(f32),
    /// `i64`.
    I64(i64),
    /// `i32`.
    I32(i32),
    /// `bool`.
    Bool(bool),
}

impl Scalar {
    /// A 0-d block holding the value.
    pub fn block(self) -> Block {
        let z = IxDyn(&[]);
        match self {
            Scalar::F64(v) => Block::F64(ArrayD::from_elem(z, v)),
            Scalar::F32(v) => Block::F32(ArrayD::from_elem(z, v)),
            Scalar::I64(v) => Block::I64(ArrayD::from_elem(z, v)),
            Scalar::I32(v) => Block::I32(ArrayD::from_elem(z, v)),
            Scalar::Bool(v) => Block::Bool(ArrayD::from_elem(z, v)),
        }
    }
}

/// Per-axis selection within a block: ndarray's `Slice` (a negative step walks backwards
/// from `end - 1`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Step {
    /// First index (inclusive).
    pub start: usize,
    /// Last index (exclusive).
    pub end: usize,
    /// Step, never zero.
    pub step: isize,
}

/// A leaf that makes a block from nothing.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Source {
    /// Every element `value`.
    Fill {
        /// Block shape.
        shape: Vec<usize>,
        /// The value (and dtype).
        value: Scalar,
    },
    /// `start + (offset + i) * step` for `i` in `0..len` (computed in `f64`, then cast).
    Range {
        /// Element type.
        dtype: DType,
        /// First value of the whole array.
        start: f64,
        /// Increment.
        step: f64,
        /// Index of the block's first element in the whole array.
        offset: u64,
        /// Block length.
        len: usize,
        /// Value of the whole array's last element, if it is pinned (`linspace`).
        last: Option<(u64, f64)>,
    },
    /// Seeded random numbers (`f64`).
    Random {
        /// Seed.
        seed: u64,
        /// Distribution.
        dist: Distribution,
        /// Shape of the whole array.
        full: Vec<usize>,
        /// Where this block starts.
        offset: Vec<usize>,
        /// Block shape.
        shape: Vec<usize>,
    },
    /// An encoded block carried in the graph.
    Literal(#[serde(with = "serde_bytes")] Vec<u8>),
    /// A `.npy` file (a path on the worker's disk or an `s3://` URL), read with these
    /// storage settings.
    Npy(String, crate::storage::StorageOptions),
}

/// What one block task computes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Expr {
    /// The task's `n`-th input block.
    Input(u32),
    /// A leaf source.
    Source(Source),
    /// A scalar (a 0-d block, broadcast by the operation using it).
    Scalar(Scalar),
    /// `op(x)`.
    Unary(UnaryOp, Box<Expr>),
    /// `op(a, b)` with broadcasting.
    Binary(BinaryOp, Box<Expr>, Box<Expr>),
    /// `where(cond, a, b)`.
    Where(Box<Expr>, Box<Expr>, Box<Expr>),
    /// Cast.
    AsType(DType, Box<Expr>),
    /// Axis permutation.
    Transpose(Vec<usize>, Box<Expr>),
    /// Selection on every axis, then removal of the listed axes (each of length 1).
    Slice(Vec<Step>, Vec<usize>, Box<Expr>),
    /// Row-major reshape.
    Reshape(Vec<usize>, Box<Expr>),
    /// A registered function taking and returning one block.
    Map(String, Box<Expr>),
    /// The listed positions along an axis, in order (repeats allowed): numpy's `take`.
    Take(usize, Vec<usize>, Box<Expr>),
    /// Blocks joined along an axis.
    Concat(usize, Vec<Expr>),
    /// The positions along an axis where a 1-d boolean mask (the second operand) is true.
    Compress(usize, Box<Expr>, Box<Expr>),
    /// The number of true elements, as a one-element `i64` block.
    CountTrue(Box<Expr>),
}

impl Expr {
    /// Number of nodes (bounds inlining).
    pub fn size(&self) -> usize {
        1 + match self {
            Expr::Input(_) | Expr::Source(_) | Expr::Scalar(_) => 0,
            Expr::Unary(_, a)
            | Expr::AsType(_, a)
            | Expr::Transpose(_, a)
            | Expr::Slice(_, _, a)
            | Expr::Reshape(_, a)
            | Expr::Map(_, a)
            | Expr::Take(_, _, a)
            | Expr::CountTrue(a) => a.size(),
            Expr::Binary(_, a, b) | Expr::Compress(_, a, b) => a.size() + b.size(),
            Expr::Concat(_, parts) => parts.iter().map(Expr::size).sum(),
            Expr::Where(c, a, b) => c.size() + a.size() + b.size(),
        }
    }

    /// Whether the expression is worth inlining into a consumer: it reads an input (pure
    /// sources are made once) and calls no registered function (user code may be costly, and
    /// an inlined expression runs once per consumer).
    pub fn inlinable(&self) -> bool {
        self.has_input() && !self.calls_function()
    }

    fn calls_function(&self) -> bool {
        match self {
            Expr::Map(..) => true,
            Expr::Input(_) | Expr::Source(_) | Expr::Scalar(_) => false,
            Expr::Unary(_, a)
            | Expr::AsType(_, a)
            | Expr::Transpose(_, a)
            | Expr::Slice(_, _, a)
            | Expr::Reshape(_, a)
            | Expr::Take(_, _, a)
            | Expr::CountTrue(a) => a.calls_function(),
            Expr::Binary(_, a, b) | Expr::Compress(_, a, b) => {
                a.calls_function() || b.calls_function()
            }
            Expr::Concat(_, parts) => parts.iter().any(Expr::calls_function),
            Expr::Where(c, a, b) => c.calls_function() || a.calls_function() || b.calls_function(),
        }
    }

    /// Whether the expression reads any input.
    pub fn has_input(&self) -> bool {
        match self {
            Expr::Input(_) => true,
            Expr::Source(_) | Expr::Scalar(_) => false,
            Expr::Unary(_, a)
            | Expr::AsType(_, a)
            | Expr::Transpose(_, a)
            | Expr::Slice(_, _, a)
            | Expr::Reshape(_, a)
            | Expr::Map(_, a)
            | Expr::Take(_, _, a)
            | Expr::CountTrue(a) => a.has_input(),
            Expr::Binary(_, a, b) | Expr::Compress(_, a, b) => a.has_input() || b.has_input(),
            Expr::Concat(_, parts) => parts.iter().any(Expr::has_input),
            Expr::Where(c, a, b) => c.has_input() || a.has_input() || b.has_input(),
        }
    }

    /// The same expression with input `i` renumbered `f(i)`.
    pub fn remap(self, f: &impl Fn(u32) -> u32) -> Expr {
        let b = |e: Box<Expr>| Box::new(e.remap(f));
        match self {
            Expr::Input(i) => Expr::Input(f(i)),
            Expr::Source(_) | Expr::Scalar(_) => self,
            Expr::Unary(op, a) => Expr::Unary(op, b(a)),
            Expr::AsType(d, a) => Expr::AsType(d, b(a)),
            Expr::Transpose(p, a) => Expr::Transpose(p, b(a)),
            Expr::Slice(s, d, a) => Expr::Slice(s, d, b(a)),
            Expr::Reshape(s, a) => Expr::Reshape(s, b(a)),
            Expr::Map(n, a) => Expr::Map(n, b(a)),
            Expr::Take(ax, idx, a) => Expr::Take(ax, idx, b(a)),
            Expr::CountTrue(a) => Expr::CountTrue(b(a)),
            Expr::Compress(ax, x, m) => Expr::Compress(ax, b(x), b(m)),
            Expr::Concat(ax, parts) => {
                Expr::Concat(ax, parts.into_iter().map(|p| p.remap(f)).collect())
            }
            Expr::Binary(op, x, y) => Expr::Binary(op, b(x), b(y)),
            Expr::Where(c, x, y) => Expr::Where(b(c), b(x), b(y)),
        }
    }

    fn count_inputs(&self, uses: &mut [u32]) {
        match self {
            Expr::Input(i) => {
                if let Some(u) = uses.get_mut(*i as usize) {
                    *u += 1;
                }
            }
            Expr::Source(_) | Expr::Scalar(_) => {}
            Expr::Unary(_, a)
            | Expr::AsType(_, a)
            | Expr::Transpose(_, a)
            | Expr::Slice(_, _, a)
            | Expr::Reshape(_, a)
            | Expr::Map(_, a)
            | Expr::Take(_, _, a)
            | Expr::CountTrue(a) => a.count_inputs(uses),
            Expr::Concat(_, parts) => {
                for p in parts {
                    p.count_inputs(uses);
                }
            }
            Expr::Binary(_, a, b) | Expr::Compress(_, a, b) => {
                a.count_inputs(uses);
                b.count_inputs(uses);
            }
            Expr::Where(c, a, b) => {
                c.count_inputs(uses);
                a.count_inputs(uses);
                b.count_inputs(uses);
            }
        }
    }

    /// Evaluates on encoded input blocks.
    pub fn eval(&self, inputs: &[Bytes]) -> Result<Block, String> {
        let mut uses = vec![0u32; inputs.len()];
        self.count_inputs(&mut uses);
        let mut env = Env {
            raw: inputs,
            uses,
            cache: vec![None; inputs.len()],
        };
        self.eval_in(&mut env)
    }

    fn eval_in(&self, env: &mut Env<'_>) -> Result<Block, String> {
        match self {
            Expr::Input(i) => env.take(*i as usize),
            Expr::Source(s) => s.eval(),
            Expr::Scalar(s) => Ok(s.block()),
            Expr::Unary(op, a) => ops::unary(*op, a.eval_in(env)?),
            Expr::Binary(op, a, b) => {
                let a = a.eval_in(env)?;
                ops::binary(*op, a, b.eval_in(env)?)
            }
            Expr::Where(c, a, b) => {
                let c = c.eval_in(env)?;
                let a = a.eval_in(env)?;
                ops::select(c, a, b.eval_in(env)?)
            }
            Expr::AsType(d, a) => Ok(a.eval_in(env)?.astype(*d)),
            Expr::Transpose(perm, a) => {
                let b = a.eval_in(env)?;
                if perm.len() != b.shape().len() {
                    return Err(format!(
                        "transpose {perm:?} of a {}-d block",
                        b.shape().len()
                    ));
                }
                Ok(with_block!(b, x => Block::from_array(x.permuted_axes(perm.clone()))))
            }
            Expr::Slice(steps, drop, a) => slice(a.eval_in(env)?, steps, drop),
            Expr::Reshape(shape, a) => {
                let b = a.eval_in(env)?;
                with_block!(b, x => {
                    let x = if x.is_standard_layout() { x } else { x.as_standard_layout().into_owned() };
                    x.into_shape_with_order(IxDyn(shape))
                        .map(Block::from_array)
                        .map_err(|e| format!("reshape to {shape:?}: {e}"))
                })
            }
            Expr::Map(name, a) => {
                let entry = Registry::global()
                    .get(name)
                    .ok_or_else(|| format!("function {name} is not registered on this worker"))?;
                let arg = a.eval_in(env)?.encode();
                let out = (entry.invoke)(&[arg]).map_err(|(_, m)| format!("in {name}: {m}"))?;
                Block::decode(&out).map_err(|e| format!("{name} did not return a block: {e}"))
            }
            Expr::Take(axis, idx, a) => index::take(a.eval_in(env)?, *axis, idx),
            Expr::Concat(axis, parts) => {
                let blocks = parts
                    .iter()
                    .map(|p| p.eval_in(env))
                    .collect::<Result<Vec<_>, _>>()?;
                index::concat(blocks, *axis)
            }
            Expr::Compress(axis, a, m) => {
                let a = a.eval_in(env)?;
                index::compress(a, *axis, m.eval_in(env)?)
            }
            Expr::CountTrue(m) => index::count_true(m.eval_in(env)?),
        }
    }
}

struct Env<'a> {
    raw: &'a [Bytes],
    uses: Vec<u32>,
    cache: Vec<Option<Block>>,
}

impl Env<'_> {
    fn take(&mut self, i: usize) -> Result<Block, String> {
        let raw = self.raw.get(i).ok_or_else(|| format!("no input {i}"))?;
        let cached = match self.cache[i].take() {
            Some(b) => b,
            None => Block::decode(raw).map_err(|e| format!("input {i}: {e}"))?,
        };
        self.uses[i] = self.uses[i].saturating_sub(1);
        if self.uses[i] > 0 {
            self.cache[i] = Some(cached.clone());
        }
        Ok(cached)
    }
}

fn slice(b: Block, steps: &[Step], drop: &[usize]) -> Result<Block, String> {
    if steps.len() != b.shape().len() {
        return Err(format!(
            "{} slice steps for a {}-d block",
            steps.len(),
            b.shape().len()
        ));
    }
    for (s, d) in steps.iter().zip(b.shape()) {
        if s.end > *d || s.start > s.end || s.step == 0 {
            return Err(format!("bad slice {s:?} of an axis of length {d}"));
        }
    }
    let mut drop = drop.to_vec();
    drop.sort_unstable_by(|a, b| b.cmp(a));
    // Views of the owned block: no element is copied here; kernels and the encoder follow
    // strides.
    Ok(with_block!(b, x => {
        let mut v = x;
        v.slice_each_axis_inplace(|ax| {
            let s = steps[ax.axis.index()];
            Slice::new(s.start as isize, Some(s.end as isize), s.step)
        });
        for d in &drop {
            v.index_axis_inplace(ndarray::Axis(*d), 0);
        }
        Block::from_array(v)
    }))
}

impl Source {
    /// Makes the block.
    pub fn eval(&self) -> Result<Block, String> {
        match self {
            Source::Fill { shape, value } => Ok(with_block!(value.block(), a => Block::from_array(
                a.broadcast(IxDyn(shape)).ok_or("bad fill shape")?.to_owned()
            ))),
            Source::Range {
                dtype,
                start,
                step,
                offset,
                len,
                last,
            } => {
                let v = ArrayD::from_shape_fn(IxDyn(&[*len]), |i| {
                    let k = offset + i[0] as u64;
                    match last {
                        Some((at, x)) if *at == k => *x,
                        _ => start + k as f64 * step,
                    }
                });
                Ok(Block::F64(v).astype(*dtype))
            }
            Source::Random {
                seed,
                dist,
                full,
                offset,
                shape,
            } => Ok(Block::F64(random::block(*seed, *dist, full, offset, shape))),
            Source::Literal(b) => super::block::decode_payload(b),
            Source::Npy(path, storage) => super::npy::read(path, storage),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::array;

    #[test]
    fn expressions_evaluate_with_shared_inputs_and_views() {
        let x = array![[1.0, 2.0], [3.0, 4.0]].into_dyn();
        let raw = [Block::F64(x.clone()).encode()];
        // x + x.T, then the second column, then negate.
        let e = Expr::Unary(
            UnaryOp::Neg,
            Box::new(Expr::Slice(
                vec![
                    Step {
                        start: 0,
                        end: 2,
                        step: 1,
                    },
                    Step {
                        start: 1,
                        end: 2,
                        step: 1,
                    },
                ],
                vec![1],
                Box::new(Expr::Binary(
                    BinaryOp::Add,
                    Box::new(Expr::Input(0)),
                    Box::new(Expr::Transpose(vec![1, 0], Box::new(Expr::Input(0)))),
                )),
            )),
        );
        assert_eq!(
            e.eval(&raw).unwrap(),
            Block::F64(array![-5.0, -8.0].into_dyn())
        );
        assert_eq!(e.size(), 6);
        let rev = Expr::Slice(
            vec![
                Step {
                    start: 0,
                    end: 2,
                    step: -1,
                },
                Step {
                    start: 0,
                    end: 2,
                    step: 1,
                },
            ],
            vec![],
            Box::new(Expr::Input(0)),
        );
        assert_eq!(
            rev.eval(&raw).unwrap(),
            Block::F64(array![[3.0, 4.0], [1.0, 2.0]].into_dyn())
        );
        let r = Expr::Reshape(
            vec![4],
            Box::new(Expr::Transpose(vec![1, 0], Box::new(Expr::Input(0)))),
        );
        assert_eq!(
            r.eval(&raw).unwrap(),
            Block::F64(array![1.0, 3.0, 2.0, 4.0].into_dyn())
        );
        assert!(Expr::Input(3).eval(&raw).is_err());
        let lin = Source::Range {
            dtype: DType::F64,
            start: 0.0,
            step: 0.1,
            offset: 8,
            len: 3,
            last: Some((10, 1.0)),
        };
        assert_eq!(
            lin.eval().unwrap(),
            Block::F64(array![0.8, 0.9, 1.0].into_dyn())
        );
    }
}
