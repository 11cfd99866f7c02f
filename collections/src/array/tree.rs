//! The combine and finishing steps of reductions, and the reduction methods of [`Array`]
//! that build the trees (see [`reduce`](super::reduce) for the partials).

use super::block::{Block, BlockBuf};
use super::chunks::{grid_indices, starts};
use super::dtype::{DType, Element};
use super::expr::Expr;
use super::funcs::spec;
use super::lazy::Lazy;
use super::ops::{binary, BinaryOp};
use super::rawsum::split_sum_terms;
use super::reduce::{better, CombineSpec, Finish, Partial, PartialSpec, ReduceOp, PARTIAL};
use super::Array;
use crate::graph::Task;
use crate::raw::{bad_args, failed};
use crate::{Error, Result};
use bytes::Bytes;
use ndarray::{Axis, IxDyn, Zip};
use rask_actors::worker::registry::InvokeResult;
use rask_protocol::{decode_value, encode_value, Arg, Key};

crate::raw_task! {
    /// Registered name of the combine (and finishing root) step of reductions.
    pub const COMBINE = "rask_collections::array::reduce_combine" => run_combine
}

type Res<T> = std::result::Result<T, String>;

fn blocks(p: &Partial) -> Res<Vec<Block>> {
    p.blocks.iter().map(BlockBuf::decode).collect()
}

fn pick_arg<T: Element>(max: bool, a: &[Block], b: &[Block]) -> Res<Vec<Block>> {
    let get = |x: &Block| x.clone().into_array::<T>().ok_or("mixed partial dtypes");
    let idx = |x: &Block| x.clone().into_array::<i64>().ok_or("index is not i64");
    let (mut av, mut ai) = (get(&a[0])?, idx(&a[1])?);
    let (bv, bi) = (get(&b[0])?, idx(&b[1])?);
    Zip::from(&mut av)
        .and(&mut ai)
        .and(&bv)
        .and(&bi)
        .for_each(|av, ai, bv, bi| {
            if better(max, *bv, *bi, *av, *ai) {
                *av = *bv;
                *ai = *bi;
            }
        });
    Ok(vec![Block::from_array(av), Block::I64(ai)])
}

fn merge(op: ReduceOp, a: (f64, Vec<Block>), b: (f64, Vec<Block>)) -> Res<(f64, Vec<Block>)> {
    let two = |op| -> Res<Vec<Block>> { Ok(vec![binary(op, a.1[0].clone(), b.1[0].clone())?]) };
    Ok(match op {
        ReduceOp::Sum => (0.0, two(BinaryOp::Add)?),
        ReduceOp::SumCount => (a.0 + b.0, two(BinaryOp::Add)?),
        ReduceOp::Min => (0.0, two(BinaryOp::Minimum)?),
        ReduceOp::Max => (0.0, two(BinaryOp::Maximum)?),
        ReduceOp::Any => (0.0, two(BinaryOp::Or)?),
        ReduceOp::All => (0.0, two(BinaryOp::And)?),
        ReduceOp::ArgMin | ReduceOp::ArgMax => {
            let max = op == ReduceOp::ArgMax;
            let out = crate::with_block!(&a.1[0], _x => match a.1[0].dtype() {
                DType::F64 => pick_arg::<f64>(max, &a.1, &b.1)?,
                DType::F32 => pick_arg::<f32>(max, &a.1, &b.1)?,
                DType::I64 => pick_arg::<i64>(max, &a.1, &b.1)?,
                DType::I32 => pick_arg::<i32>(max, &a.1, &b.1)?,
                DType::Bool => pick_arg::<bool>(max, &a.1, &b.1)?,
            });
            (0.0, out)
        }
        ReduceOp::Moments => {
            let f = |x: &Block| x.clone().into_array::<f64>().ok_or("moments are not f64");
            let (na, nb) = (a.0, b.0);
            let n = na + nb;
            if n == 0.0 {
                return Ok(a);
            }
            let (ma, m2a, mb, m2b) = (f(&a.1[0])?, f(&a.1[1])?, f(&b.1[0])?, f(&b.1[1])?);
            let mean = Zip::from(&ma)
                .and(&mb)
                .map_collect(|x, y| (na * x + nb * y) / n);
            let m2 = Zip::from(&m2a)
                .and(&m2b)
                .and(&ma)
                .and(&mb)
                .map_collect(|p, q, x, y| p + q + (y - x) * (y - x) * na * nb / n);
            (n, vec![Block::F64(mean), Block::F64(m2)])
        }
    })
}

fn drop_axes(b: Block, axis: Option<usize>) -> Res<Block> {
    Ok(crate::with_block!(b, a => match axis {
        Some(ax) => Block::from_array(a.index_axis_move(Axis(ax), 0)),
        None => Block::from_array(
            a.into_shape_with_order(IxDyn(&[])).map_err(|e| e.to_string())?,
        ),
    }))
}

fn finish(spec: &CombineSpec, n: f64, mut bs: Vec<Block>) -> Res<Block> {
    let f = |b: Block| b.into_array::<f64>().ok_or("moments are not f64");
    let out = match spec.finish {
        None | Some(Finish::Value) => bs.swap_remove(0),
        Some(Finish::Index) => bs.swap_remove(1),
        Some(Finish::Mean) if spec.op == ReduceOp::SumCount => {
            Block::F64(f(bs.swap_remove(0))?.mapv(|s| s / n))
        }
        Some(Finish::Mean) => bs.swap_remove(0),
        Some(Finish::Var(ddof)) => Block::F64(f(bs.swap_remove(1))?.mapv(|m| m / (n - ddof))),
        Some(Finish::Std(ddof)) => {
            Block::F64(f(bs.swap_remove(1))?.mapv(|m| (m / (n - ddof)).sqrt()))
        }
    };
    drop_axes(out, spec.axis)
}

/// Merges partials (`args[1..]`); at the root (`finish` set) returns the finished block.
pub fn run_combine(args: &[Bytes]) -> InvokeResult {
    let (spec, inputs): (CombineSpec, _) = spec(args)?;
    let mut acc: Option<(f64, Vec<Block>)> = None;
    for raw in inputs {
        let p: Partial =
            decode_value(raw).map_err(|e| bad_args(format!("partial does not decode: {e}")))?;
        let next = (p.n, blocks(&p).map_err(failed)?);
        acc = Some(match acc {
            None => next,
            Some(a) => merge(spec.op, a, next).map_err(failed)?,
        });
    }
    let (n, bs) = acc.ok_or_else(|| bad_args("nothing to combine"))?;
    if spec.finish.is_some() {
        return Ok(finish(&spec, n, bs).map_err(failed)?.encode());
    }
    let blocks = bs
        .into_iter()
        .map(|b| BlockBuf(crate::with_block!(&b, a => super::block::encode_payload(a))))
        .collect();
    encode_value(&Partial { n, blocks }).map_err(|e| failed(e.to_string()))
}

impl<T: Element> Array<T> {
    fn reduction<U: Element>(
        &self,
        op: ReduceOp,
        axis: Option<usize>,
        finish: Finish,
        cast: Option<DType>,
        name: &str,
    ) -> Result<Array<U>> {
        if let Some(ax) = axis {
            if ax >= self.ndim() {
                return Err(Error::Invalid(format!(
                    "axis {ax} of a {}-d array",
                    self.ndim()
                )));
            }
        }
        let mut graph = self.graph.clone();
        let grid = self.numblocks();
        let st: Vec<Vec<usize>> = self.chunks.iter().map(|c| starts(c)).collect();
        let mut partials = Vec::with_capacity(self.keys.len());
        let mut lane_of = Vec::with_capacity(self.keys.len());
        for (ix, key) in grid_indices(&grid).iter().zip(&self.keys) {
            let mut lazy = Lazy::of(&self.graph, key);
            if let Some(d) = cast {
                lazy = lazy.map(|e| Expr::AsType(d, e));
            }
            let block: Vec<usize> = (0..ix.len()).map(|d| self.chunks[d][ix[d]]).collect();
            // A sum of f64 terms over all axes: one partial per term, each where its input is.
            let terms = (op == ReduceOp::Sum && axis.is_none() && T::DTYPE == DType::F64)
                .then(|| split_sum_terms(&lazy))
                .flatten();
            let (parts, broadcast_to) = match terms {
                Some(t) => (t, Some(block)),
                None => (vec![lazy], None),
            };
            for part in parts {
                let spec = PartialSpec {
                    op,
                    axis,
                    expr: part.expr,
                    offset: (0..ix.len()).map(|d| st[d][ix[d]]).collect(),
                    full: self.shape.clone(),
                    broadcast_to: broadcast_to.clone(),
                };
                let args = Lazy::args(Arg::Value(encode_value(&spec)?), part.inputs);
                let prefix = format!("{name}-partial");
                partials.push(graph.insert(Task::new(&prefix, PARTIAL, args)));
                lane_of.push(ix.clone());
            }
        }
        // Lanes: the blocks sharing every index but the reduced axis's.
        let out_grid: Vec<usize> = match axis {
            Some(ax) => grid
                .iter()
                .enumerate()
                .filter(|(d, _)| *d != ax)
                .map(|(_, g)| *g)
                .collect(),
            None => Vec::new(),
        };
        let mut lanes: Vec<Vec<Key>> = vec![Vec::new(); out_grid.iter().product()];
        for (ix, k) in lane_of.iter().zip(partials) {
            let lane: Vec<usize> = match axis {
                Some(ax) => ix
                    .iter()
                    .enumerate()
                    .filter(|(d, _)| *d != ax)
                    .map(|(_, i)| *i)
                    .collect(),
                None => Vec::new(),
            };
            lanes[super::chunks::flat(&out_grid, &lane)].push(k);
        }
        let every = self.split_every.max(2);
        let mut keys = Vec::with_capacity(lanes.len());
        for mut level in lanes {
            loop {
                let root = level.len() <= every;
                let spec = CombineSpec {
                    op,
                    axis,
                    finish: root.then_some(finish),
                };
                let spec = Arg::Value(encode_value(&spec)?);
                let prefix = if root {
                    name.to_string()
                } else {
                    format!("{name}-combine")
                };
                let next: Vec<Key> = level
                    .chunks(every)
                    .map(|c| {
                        graph.insert(Task::new(
                            &prefix,
                            COMBINE,
                            Lazy::args(spec.clone(), c.to_vec()),
                        ))
                    })
                    .collect();
                level = next;
                if root {
                    break;
                }
            }
            keys.append(&mut level);
        }
        let (shape, chunks) = match axis {
            Some(ax) => (
                self.shape
                    .iter()
                    .enumerate()
                    .filter(|(d, _)| *d != ax)
                    .map(|(_, s)| *s)
                    .collect(),
                self.chunks
                    .iter()
                    .enumerate()
                    .filter(|(d, _)| *d != ax)
                    .map(|(_, c)| c.clone())
                    .collect(),
            ),
            None => (Vec::new(), Vec::new()),
        };
        let mut out = Array::from_parts(graph, shape, chunks, keys);
        out.split_every = self.split_every;
        Ok(out)
    }

    fn sum_cast() -> Option<DType> {
        (T::DTYPE != <T::Sum as Element>::DTYPE).then_some(<T::Sum as Element>::DTYPE)
    }

    /// Sum along `axis` (or of everything: a 0-d array). Integers and booleans sum as `i64`.
    pub fn sum(&self, axis: Option<usize>) -> Result<Array<T::Sum>> {
        self.reduction(ReduceOp::Sum, axis, Finish::Value, Self::sum_cast(), "sum")
    }

    /// Mean along `axis` (or of everything), in `f64`: a tree of partial sums and counts.
    pub fn mean(&self, axis: Option<usize>) -> Result<Array<f64>> {
        self.reduction(ReduceOp::SumCount, axis, Finish::Mean, None, "mean")
    }

    /// Variance with `ddof` delta degrees of freedom (numpy's default is 0), in `f64`.
    pub fn var(&self, axis: Option<usize>, ddof: f64) -> Result<Array<f64>> {
        self.reduction(ReduceOp::Moments, axis, Finish::Var(ddof), None, "var")
    }

    /// Standard deviation with `ddof`, in `f64`.
    pub fn std(&self, axis: Option<usize>, ddof: f64) -> Result<Array<f64>> {
        self.reduction(ReduceOp::Moments, axis, Finish::Std(ddof), None, "std")
    }

    /// Least value (NaN wins, like numpy). Fails on empty input.
    pub fn min(&self, axis: Option<usize>) -> Result<Array<T>> {
        self.reduction(ReduceOp::Min, axis, Finish::Value, None, "min")
    }

    /// Greatest value (NaN wins, like numpy). Fails on empty input.
    pub fn max(&self, axis: Option<usize>) -> Result<Array<T>> {
        self.reduction(ReduceOp::Max, axis, Finish::Value, None, "max")
    }

    /// Index of the least value (the first on ties and NaNs; over all axes a flat index).
    pub fn argmin(&self, axis: Option<usize>) -> Result<Array<i64>> {
        self.reduction(ReduceOp::ArgMin, axis, Finish::Index, None, "argmin")
    }

    /// Index of the greatest value (the first on ties and NaNs; over all axes a flat index).
    pub fn argmax(&self, axis: Option<usize>) -> Result<Array<i64>> {
        self.reduction(ReduceOp::ArgMax, axis, Finish::Index, None, "argmax")
    }

    /// Whether any element is true (non-zero).
    pub fn any(&self, axis: Option<usize>) -> Result<Array<bool>> {
        self.reduction(ReduceOp::Any, axis, Finish::Value, None, "any")
    }

    /// Whether every element is true (non-zero).
    pub fn all(&self, axis: Option<usize>) -> Result<Array<bool>> {
        self.reduction(ReduceOp::All, axis, Finish::Value, None, "all")
    }
}
