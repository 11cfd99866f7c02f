//! Reshaping without moving data needlessly: slicing with ranges and steps, integer indexing,
//! `transpose`, `reshape`, `concatenate` and `stack`. Slices and transposes are per-block
//! expressions (fused into whatever consumes them); output chunks follow input chunks.

use super::chunks::{grid_indices, starts};
use super::dtype::Element;
use super::expr::{Expr, Step};
use super::lazy::Lazy;
use super::Array;
use crate::graph::Graph;
use crate::{Error, Result};
use std::ops::{Range, RangeFrom, RangeFull, RangeTo};

/// How one axis is indexed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SliceArg {
    /// Python's `start:stop:step` (negative positions count from the end; the step may be
    /// negative, never zero).
    Range {
        /// First position (default: the start, or the end for negative steps).
        start: Option<isize>,
        /// Stop position, exclusive (default: past the end).
        stop: Option<isize>,
        /// Step.
        step: isize,
    },
    /// One position (negative counts from the end); the axis is removed.
    Index(isize),
}

impl SliceArg {
    /// `start:stop:step`.
    pub fn new(start: Option<isize>, stop: Option<isize>, step: isize) -> SliceArg {
        SliceArg::Range { start, stop, step }
    }
}

impl From<RangeFull> for SliceArg {
    fn from(_: RangeFull) -> Self {
        SliceArg::new(None, None, 1)
    }
}
impl From<Range<usize>> for SliceArg {
    fn from(r: Range<usize>) -> Self {
        SliceArg::new(Some(r.start as isize), Some(r.end as isize), 1)
    }
}
impl From<RangeFrom<usize>> for SliceArg {
    fn from(r: RangeFrom<usize>) -> Self {
        SliceArg::new(Some(r.start as isize), None, 1)
    }
}
impl From<RangeTo<usize>> for SliceArg {
    fn from(r: RangeTo<usize>) -> Self {
        SliceArg::new(None, Some(r.end as isize), 1)
    }
}
impl From<isize> for SliceArg {
    fn from(i: isize) -> Self {
        SliceArg::Index(i)
    }
}

/// Runs of a sliced axis: (input chunk, step within it, output length).
type Runs = Vec<(usize, Step, usize)>;

/// The runs of one sliced axis, and whether the axis is removed.
fn axis_runs(arg: SliceArg, n: usize, chunks: &[usize]) -> Result<(Runs, bool)> {
    let st = starts(chunks);
    let chunk_of = |i: usize| st.partition_point(|s| *s <= i).saturating_sub(1);
    let n_i = n as isize;
    match arg {
        SliceArg::Index(i) => {
            let at = if i < 0 { i + n_i } else { i };
            if at < 0 || at >= n_i {
                return Err(Error::Invalid(format!(
                    "index {i} out of bounds for length {n}"
                )));
            }
            let c = chunk_of(at as usize);
            let local = at as usize - st[c];
            Ok((
                vec![(
                    c,
                    Step {
                        start: local,
                        end: local + 1,
                        step: 1,
                    },
                    1,
                )],
                true,
            ))
        }
        SliceArg::Range { start, stop, step } => {
            if step == 0 {
                return Err(Error::Invalid("slice step cannot be zero".into()));
            }
            let norm =
                |v: isize, lo: isize, hi: isize| (if v < 0 { v + n_i } else { v }).clamp(lo, hi);
            let (a, b) = if step > 0 {
                (
                    start.map_or(0, |v| norm(v, 0, n_i)),
                    stop.map_or(n_i, |v| norm(v, 0, n_i)),
                )
            } else {
                (
                    start.map_or(n_i - 1, |v| norm(v, -1, n_i - 1)),
                    stop.map_or(-1, |v| norm(v, -1, n_i - 1)),
                )
            };
            let len = if step > 0 {
                ((b - a).max(0) + step - 1) / step
            } else {
                ((a - b).max(0) + (-step) - 1) / (-step)
            } as usize;
            let mut runs: Runs = Vec::new();
            let mut k = 0;
            while k < len {
                let first = (a + k as isize * step) as usize;
                let c = chunk_of(first);
                // How many more selected indices stay in chunk c.
                let (lo, hi) = (st[c] as isize, (st[c] + chunks[c]) as isize);
                let mut m = 1;
                while k + m < len {
                    let idx = a + (k + m) as isize * step;
                    if idx < lo || idx >= hi {
                        break;
                    }
                    m += 1;
                }
                let last = (a + (k + m - 1) as isize * step) as usize;
                let (f, l) = (first - st[c], last - st[c]);
                let s = if step > 0 {
                    Step {
                        start: f,
                        end: l + 1,
                        step,
                    }
                } else {
                    Step {
                        start: l,
                        end: f + 1,
                        step,
                    }
                };
                runs.push((c, s, m));
                k += m;
            }
            if runs.is_empty() {
                runs.push((
                    0,
                    Step {
                        start: 0,
                        end: 0,
                        step: 1,
                    },
                    0,
                ));
            }
            Ok((runs, false))
        }
    }
}

impl<T: Element> Array<T> {
    /// Selects with one [`SliceArg`] per leading axis (missing ones take everything), like
    /// `x[a:b:s, i]`: ranges keep their axis, indices remove it.
    pub fn slice(&self, args: &[SliceArg]) -> Result<Array<T>> {
        if args.len() > self.ndim() {
            return Err(Error::Invalid(format!(
                "{} indices for a {}-d array",
                args.len(),
                self.ndim()
            )));
        }
        let mut runs = Vec::new();
        let mut dropped = Vec::new();
        for d in 0..self.ndim() {
            let arg = args.get(d).copied().unwrap_or(SliceArg::new(None, None, 1));
            let (r, drop) = axis_runs(arg, self.shape[d], &self.chunks[d])?;
            if drop {
                dropped.push(d);
            }
            runs.push(r);
        }
        let counts: Vec<usize> = runs.iter().map(Vec::len).collect();
        let mut graph = self.graph.clone();
        let mut keys = Vec::new();
        for c in grid_indices(&counts) {
            let pick: Vec<&(usize, Step, usize)> = (0..c.len()).map(|d| &runs[d][c[d]]).collect();
            let src: Vec<usize> = pick.iter().map(|p| p.0).collect();
            let key = &self.keys[super::chunks::flat(&self.numblocks(), &src)];
            let whole = dropped.is_empty()
                && pick.iter().enumerate().all(|(d, p)| {
                    p.1.step == 1 && p.1.start == 0 && p.1.end == self.chunks[d][p.0]
                });
            if whole {
                keys.push(key.clone());
                continue;
            }
            let steps = pick.iter().map(|p| p.1).collect();
            let lazy = Lazy::of(&self.graph, key).map(|e| Expr::Slice(steps, dropped.clone(), e));
            keys.push(lazy.insert(&mut graph, "getitem")?);
        }
        let keep = |d: &usize| !dropped.contains(d);
        let chunks: Vec<Vec<usize>> = (0..self.ndim())
            .filter(keep)
            .map(|d| runs[d].iter().map(|r| r.2).collect())
            .collect();
        let shape = chunks.iter().map(|c| c.iter().sum()).collect();
        let mut out = Array::from_parts(graph, shape, chunks, keys);
        out.split_every = self.split_every;
        Ok(out)
    }

    /// Axes permuted: axis `d` of the result is axis `perm[d]` of this array.
    pub fn transpose(&self, perm: &[usize]) -> Result<Array<T>> {
        let mut sorted = perm.to_vec();
        sorted.sort_unstable();
        if sorted != (0..self.ndim()).collect::<Vec<_>>() {
            return Err(Error::Invalid(format!(
                "{perm:?} is not a permutation of {} axes",
                self.ndim()
            )));
        }
        let grid = self.numblocks();
        let out_grid: Vec<usize> = perm.iter().map(|p| grid[*p]).collect();
        let mut graph = self.graph.clone();
        let mut keys = Vec::new();
        for ox in grid_indices(&out_grid) {
            let mut ix = vec![0; ox.len()];
            for (d, p) in perm.iter().enumerate() {
                ix[*p] = ox[d];
            }
            let key = &self.keys[super::chunks::flat(&grid, &ix)];
            let lazy = Lazy::of(&self.graph, key).map(|e| Expr::Transpose(perm.to_vec(), e));
            keys.push(lazy.insert(&mut graph, "transpose")?);
        }
        let shape = perm.iter().map(|p| self.shape[*p]).collect();
        let chunks = perm.iter().map(|p| self.chunks[*p].clone()).collect();
        let mut out = Array::from_parts(graph, shape, chunks, keys);
        out.split_every = self.split_every;
        Ok(out)
    }

    /// Axes reversed (`x.T`).
    pub fn t(&self) -> Result<Array<T>> {
        let perm: Vec<usize> = (0..self.ndim()).rev().collect();
        self.transpose(&perm)
    }

    /// The same elements in row-major order with a new shape. Blocks map one to one when
    /// the changed axes after the first are whole chunks and the first changed axis's chunks
    /// map onto whole output rows; otherwise those axes are rechunked first (as Dask does).
    pub fn reshape(&self, shape: &[usize]) -> Result<Array<T>> {
        if shape.iter().product::<usize>() != self.len() {
            return Err(Error::Invalid(format!(
                "cannot reshape {:?} into {shape:?}",
                self.shape
            )));
        }
        if shape == self.shape.as_slice() {
            return Ok(self.clone());
        }
        let p = self
            .shape
            .iter()
            .zip(shape)
            .take_while(|(a, b)| a == b)
            .count();
        let (rest_in, rest_out) = (&self.shape[p..], &shape[p..]);
        let p_in: usize = rest_in.iter().skip(1).product();
        let p_out: usize = rest_out.iter().skip(1).product();
        let divides = |c: &[usize]| p_out > 0 && c.iter().all(|c| (c * p_in) % p_out == 0);
        let src = if rest_in.is_empty() || rest_out.is_empty() {
            self.clone()
        } else {
            // Trailing changed axes become whole chunks; the first changed axis keeps its
            // chunks when they map onto whole output rows.
            let mut want = self.chunks.clone();
            for (d, w) in want.iter_mut().enumerate().skip(p + 1) {
                *w = vec![self.shape[d]];
            }
            if !divides(&want[p]) {
                want[p] = vec![self.shape[p]];
            }
            self.rechunk(want)?
        };
        let first: Vec<usize> = if rest_out.is_empty() {
            Vec::new()
        } else if rest_in.is_empty() {
            vec![1]
        } else {
            src.chunks[p]
                .iter()
                .map(|c| c * p_in / p_out.max(1))
                .collect()
        };
        let mut chunks: Vec<Vec<usize>> = src.chunks[..p].to_vec();
        if !rest_out.is_empty() {
            chunks.push(first);
            chunks.extend(rest_out[1..].iter().map(|d| vec![*d]));
        }
        let grid: Vec<usize> = chunks.iter().map(Vec::len).collect();
        let mut graph = src.graph.clone();
        let mut keys = Vec::new();
        for (ox, key) in grid_indices(&grid).iter().zip(&src.keys) {
            let bshape: Vec<usize> = (0..ox.len()).map(|d| chunks[d][ox[d]]).collect();
            let lazy = Lazy::of(&src.graph, key).map(|e| Expr::Reshape(bshape, e));
            keys.push(lazy.insert(&mut graph, "reshape")?);
        }
        let mut out = Array::from_parts(graph, shape.to_vec(), chunks, keys);
        out.split_every = self.split_every;
        Ok(out)
    }
}

/// Joins arrays along an existing axis (other axes must match; their chunks follow the
/// first array's).
pub fn concatenate<T: Element>(arrays: &[&Array<T>], axis: usize) -> Result<Array<T>> {
    let first = arrays
        .first()
        .ok_or_else(|| Error::Invalid("nothing to concatenate".into()))?;
    let nd = first.ndim();
    if axis >= nd {
        return Err(Error::Invalid(format!("axis {axis} of a {nd}-d array")));
    }
    let mut parts = Vec::new();
    let mut graph = Graph::new();
    for a in arrays {
        let same = a.ndim() == nd && (0..nd).all(|d| d == axis || a.shape[d] == first.shape[d]);
        if !same {
            return Err(Error::Invalid(format!(
                "cannot concatenate {:?} with {:?} along axis {axis}",
                a.shape, first.shape
            )));
        }
        if a.shape[axis] == 0 && arrays.len() > 1 {
            continue;
        }
        let mut want = first.chunks.clone();
        want[axis] = a.chunks[axis].clone();
        let a = a.rechunk(want)?;
        graph.merge(&a.graph);
        parts.push(a);
    }
    let mut chunks = first.chunks.clone();
    chunks[axis] = parts.iter().flat_map(|a| a.chunks[axis].clone()).collect();
    if chunks[axis].is_empty() {
        chunks[axis] = vec![0];
    }
    let mut owner = Vec::new();
    for (i, a) in parts.iter().enumerate() {
        owner.extend((0..a.chunks[axis].len()).map(|j| (i, j)));
    }
    let grid: Vec<usize> = chunks.iter().map(Vec::len).collect();
    let mut keys = Vec::new();
    for ox in grid_indices(&grid) {
        let (i, j) = owner[ox[axis]];
        let mut ix = ox.clone();
        ix[axis] = j;
        keys.push(parts[i].keys[super::chunks::flat(&parts[i].numblocks(), &ix)].clone());
    }
    let mut shape = first.shape.clone();
    shape[axis] = chunks[axis].iter().sum();
    Ok(Array::from_parts(graph, shape, chunks, keys))
}

/// Joins arrays of one shape along a new axis at position `axis`.
pub fn stack<T: Element>(arrays: &[&Array<T>], axis: usize) -> Result<Array<T>> {
    let first = arrays
        .first()
        .ok_or_else(|| Error::Invalid("nothing to stack".into()))?;
    if axis > first.ndim() {
        return Err(Error::Invalid(format!(
            "axis {axis} for stacking {}-d arrays",
            first.ndim()
        )));
    }
    let mut expanded = Vec::new();
    for a in arrays {
        if a.shape != first.shape {
            return Err(Error::Invalid(format!(
                "cannot stack {:?} with {:?}",
                a.shape, first.shape
            )));
        }
        let mut shape = a.shape.clone();
        shape.insert(axis, 1);
        expanded.push(a.reshape_insert(axis, &shape)?);
    }
    let refs: Vec<&Array<T>> = expanded.iter().collect();
    concatenate(&refs, axis)
}

impl<T: Element> Array<T> {
    fn reshape_insert(&self, axis: usize, shape: &[usize]) -> Result<Array<T>> {
        let mut chunks = self.chunks.clone();
        chunks.insert(axis, vec![1]);
        let a = self.blockwise::<T>("expand", |b, ix| {
            let mut bs: Vec<usize> = (0..ix.len()).map(|d| self.chunks[d][ix[d]]).collect();
            bs.insert(axis, 1);
            b.map(|e| Expr::Reshape(bs, e))
        })?;
        Ok(Array::from_parts(a.graph, shape.to_vec(), chunks, a.keys))
    }
}
