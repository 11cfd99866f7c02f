//! Fancy indexing: integer-array indexing along an axis ([`Array::take`], numpy's
//! `x[[1, 5, 2]]`) and boolean-mask indexing ([`Array::index_bool`], `x[x > 0]`, and
//! [`Array::compress`] along one axis).
//!
//! ```text
//!  take([5, 1, 2, 7]) along axis 0, input chunks 3 | 3 | 2:
//!   output chunk of ≤ 3 positions ─▶ runs in one input chunk ─▶ Take per run, Concat
//!   [5, 1, 2]  ─▶  chunk 1: [2]   chunk 0: [1, 2]             ─▶ Concat(Take, Take)
//!   [7]        ─▶  chunk 2: [1]                               ─▶ Take
//! ```
//!
//! Integer indexing is lazy: the positions are known on the client, so the output chunks
//! are too. Boolean indexing's output chunks depend on the data: like Dask's
//! `compute_chunk_sizes()`, [`Array::index_bool`] and [`Array::compress`] first compute the
//! number of true elements per mask block (one small task per block, a few bytes each back
//! to the client), then return a lazy array whose chunk sizes are those counts. The mask is
//! therefore computed twice (once for the counts, once with the result): persist it first
//! when it is costly.

use super::block::Block;
use super::chunks::{grid_indices, starts};
use super::dtype::Element;
use super::expr::Expr;
use super::lazy::Lazy;
use super::Array;
use crate::with_block;
use crate::{Error, Result};
use ndarray::{ArrayD, Axis, IxDyn};
use rask_actors::client::Client;

type Res<T> = std::result::Result<T, String>;

/// The positions `idx` of `b` along `axis`, in order.
pub(crate) fn take(b: Block, axis: usize, idx: &[usize]) -> Res<Block> {
    let shape = b.shape();
    let n = *shape
        .get(axis)
        .ok_or_else(|| format!("take along axis {axis} of a {}-d block", shape.len()))?;
    if let Some(bad) = idx.iter().find(|i| **i >= n) {
        return Err(format!("take position {bad} of an axis of length {n}"));
    }
    Ok(with_block!(b, a => Block::from_array(a.select(Axis(axis), idx))))
}

/// Blocks joined along `axis`.
pub(crate) fn concat(blocks: Vec<Block>, axis: usize) -> Res<Block> {
    fn join<T: Element>(blocks: Vec<Block>, axis: usize) -> Res<Block> {
        let arrays = blocks
            .into_iter()
            .map(|b| {
                b.into_array::<T>()
                    .ok_or_else(|| "concatenated blocks differ in dtype".to_string())
            })
            .collect::<Res<Vec<ArrayD<T>>>>()?;
        let views: Vec<_> = arrays.iter().map(|a| a.view()).collect();
        ndarray::concatenate(Axis(axis), &views)
            .map(Block::from_array)
            .map_err(|e| format!("concatenate along axis {axis}: {e}"))
    }
    let first = blocks.first().ok_or("nothing to concatenate")?;
    if axis >= first.shape().len() {
        return Err(format!(
            "concatenate along axis {axis} of a {}-d block",
            first.shape().len()
        ));
    }
    match first {
        Block::F64(_) => join::<f64>(blocks, axis),
        Block::F32(_) => join::<f32>(blocks, axis),
        Block::I64(_) => join::<i64>(blocks, axis),
        Block::I32(_) => join::<i32>(blocks, axis),
        Block::Bool(_) => join::<bool>(blocks, axis),
    }
}

fn mask_of(m: Block) -> Res<ArrayD<bool>> {
    let got = m.dtype();
    m.into_array::<bool>()
        .ok_or_else(|| format!("a mask must hold booleans, not {got:?}"))
}

/// The positions of `b` along `axis` where the 1-d `mask` is true.
pub(crate) fn compress(b: Block, axis: usize, mask: Block) -> Res<Block> {
    let mask = mask_of(mask)?;
    let n = b.shape().get(axis).copied();
    if mask.ndim() != 1 || n != Some(mask.len()) {
        return Err(format!(
            "a mask of shape {:?} does not fit axis {axis} of a block of shape {:?}",
            mask.shape(),
            b.shape()
        ));
    }
    let idx: Vec<usize> = mask
        .iter()
        .enumerate()
        .filter(|(_, t)| **t)
        .map(|(i, _)| i)
        .collect();
    take(b, axis, &idx)
}

/// The number of true elements of a boolean block, as a one-element `i64` block.
pub(crate) fn count_true(m: Block) -> Res<Block> {
    let n = mask_of(m)?.iter().filter(|t| **t).count() as i64;
    Ok(Block::I64(ArrayD::from_elem(IxDyn(&[1]), n)))
}

/// Positions normalised (negative ones count from the end) and checked against `n`.
fn normalise(indices: &[isize], n: usize) -> Result<Vec<usize>> {
    indices
        .iter()
        .map(|&i| {
            let at = if i < 0 { i + n as isize } else { i };
            if at < 0 || at >= n as isize {
                Err(Error::Invalid(format!(
                    "index {i} out of bounds for an axis of length {n}"
                )))
            } else {
                Ok(at as usize)
            }
        })
        .collect()
}

impl<T: Element> Array<T> {
    fn check_axis(&self, axis: usize) -> Result<()> {
        if axis >= self.ndim() {
            return Err(Error::Invalid(format!(
                "axis {axis} of a {}-d array",
                self.ndim()
            )));
        }
        Ok(())
    }

    /// The given positions along `axis`, in order and with repeats (numpy's
    /// `x.take(indices, axis)`, or `x[[1, 5, 2]]` on axis 0); negative positions count from
    /// the end. Output chunks along `axis` hold at most the largest input chunk's length;
    /// each output block reads only the input blocks its positions fall in.
    pub fn take(&self, indices: &[isize], axis: usize) -> Result<Array<T>> {
        self.check_axis(axis)?;
        let idx = normalise(indices, self.shape[axis])?;
        let in_chunks = &self.chunks[axis];
        let st = starts(in_chunks);
        let chunk_of = |i: usize| st.partition_point(|s| *s <= i).saturating_sub(1);
        let width = in_chunks.iter().copied().max().unwrap_or(1).max(1);
        let pieces: Vec<&[usize]> = if idx.is_empty() {
            vec![&[]]
        } else {
            idx.chunks(width).collect()
        };
        let grid = self.numblocks();
        let mut out_chunks = self.chunks.clone();
        out_chunks[axis] = pieces.iter().map(|p| p.len()).collect();
        let out_grid: Vec<usize> = out_chunks.iter().map(Vec::len).collect();
        let mut graph = self.graph.clone();
        let mut keys = Vec::new();
        for ox in grid_indices(&out_grid) {
            // Runs of consecutive positions in one input chunk.
            let mut runs: Vec<(usize, Vec<usize>)> = Vec::new();
            for &i in pieces[ox[axis]] {
                let c = chunk_of(i);
                match runs.last_mut() {
                    Some((rc, locals)) if *rc == c => locals.push(i - st[c]),
                    _ => runs.push((c, vec![i - st[c]])),
                }
            }
            if runs.is_empty() {
                runs.push((0, Vec::new()));
            }
            let parts: Vec<Lazy> = runs
                .into_iter()
                .map(|(c, locals)| {
                    let mut ix = ox.clone();
                    ix[axis] = c;
                    let key = &self.keys[super::chunks::flat(&grid, &ix)];
                    Lazy::of(&self.graph, key).map(|e| Expr::Take(axis, locals, e))
                })
                .collect();
            let lazy = if parts.len() == 1 {
                parts
                    .into_iter()
                    .next()
                    .ok_or_else(|| Error::Invalid("no part".into()))?
            } else {
                let (exprs, inputs) = Lazy::join(parts);
                Lazy {
                    expr: Expr::Concat(axis, exprs),
                    inputs,
                }
            };
            keys.push(lazy.insert(&mut graph, "take")?);
        }
        let mut shape = self.shape.clone();
        shape[axis] = idx.len();
        let mut out = Array::from_parts(graph, shape, out_chunks, keys);
        out.split_every = self.split_every;
        Ok(out)
    }

    /// The positions along `axis` where the 1-d boolean `condition` is true (numpy's
    /// `np.compress(condition, x, axis)`; `condition` must have the axis's length and is
    /// rechunked to its chunks). The number of true values per chunk is computed on the
    /// cluster first (see the [module docs](crate::array::index)); the result is lazy, with one output
    /// chunk per input chunk along `axis` (possibly empty).
    pub async fn compress(
        &self,
        condition: &Array<bool>,
        axis: usize,
        client: &Client,
    ) -> Result<Array<T>> {
        self.check_axis(axis)?;
        if condition.ndim() != 1 || condition.shape[0] != self.shape[axis] {
            return Err(Error::Invalid(format!(
                "a condition of shape {:?} for axis {axis} of length {}",
                condition.shape, self.shape[axis]
            )));
        }
        let cond = if condition.chunks[0] == self.chunks[axis] {
            condition.clone()
        } else {
            condition.rechunk(vec![self.chunks[axis].clone()])?
        };
        let counts = cond.true_counts(client).await?;
        let mut graph = self.graph.clone();
        graph.merge(&cond.graph);
        let mut keys = Vec::new();
        for (ix, key) in grid_indices(&self.numblocks()).iter().zip(&self.keys) {
            let (exprs, inputs) = Lazy::join(vec![
                Lazy::of(&self.graph, key),
                Lazy::of(&cond.graph, &cond.keys[ix[axis]]),
            ]);
            let mut it = exprs.into_iter();
            let (Some(data), Some(mask)) = (it.next(), it.next()) else {
                return Err(Error::Invalid("compress lost an operand".into()));
            };
            let lazy = Lazy {
                expr: Expr::Compress(axis, Box::new(data), Box::new(mask)),
                inputs,
            };
            keys.push(lazy.insert(&mut graph, "compress")?);
        }
        let mut chunks = self.chunks.clone();
        chunks[axis] = counts;
        let mut shape = self.shape.clone();
        shape[axis] = chunks[axis].iter().sum();
        let mut out = Array::from_parts(graph, shape, chunks, keys);
        out.split_every = self.split_every;
        Ok(out)
    }

    /// The elements where `mask` (of this array's shape) is true, as a 1-d array in
    /// row-major order, like numpy's and Dask's `x[mask]` (Dask ravels both first too). The
    /// array and the mask are reshaped to 1-d (rechunking rows as [`Array::reshape`] does),
    /// then compressed per block; chunk sizes are computed eagerly as in
    /// [`Array::compress`].
    pub async fn index_bool(&self, mask: &Array<bool>, client: &Client) -> Result<Array<T>> {
        if mask.shape != self.shape {
            return Err(Error::Invalid(format!(
                "a mask of shape {:?} for an array of shape {:?}",
                mask.shape, self.shape
            )));
        }
        let flat = self.reshape(&[self.len()])?;
        let m = mask.reshape(&[mask.len()])?;
        flat.compress(&m, 0, client).await
    }

    /// The number of true values in each block of a 1-d boolean array.
    async fn true_counts(&self, client: &Client) -> Result<Vec<usize>> {
        let mut graph = self.graph.clone();
        let keys = self
            .keys
            .iter()
            .map(|k| {
                Lazy::of(&self.graph, k)
                    .map(Expr::CountTrue)
                    .insert(&mut graph, "count-true")
            })
            .collect::<Result<Vec<_>>>()?;
        let n = keys.len();
        let counts: Array<i64> = Array::from_parts(graph, vec![n], vec![vec![1; n]], keys);
        let got = counts.compute(client).await?;
        got.iter()
            .map(|c| usize::try_from(*c).map_err(|_| Error::Malformed(format!("count {c}"))))
            .collect()
    }
}
