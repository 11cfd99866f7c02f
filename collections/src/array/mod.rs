//! `array`: chunked n-dimensional arrays of ndarray blocks, like `dask.array`.
//!
//! An [`Array<T>`] knows its shape, its chunks and its element type without computing
//! anything; each block is a key of the shared task [`Graph`]. Blocks travel as raw
//! little-endian buffers behind a small header ([`block`]); every block operation is a
//! registered task function ([`funcs`]) that the stock `rask worker` runs.
//!
//! ```text
//!  x (4 blocks)          y = (x + 1).sqrt()          y.sum()
//!  ┌────┬────┐           ┌────┬────┐                 partials → combine → root
//!  │ k0 │ k1 │   ──▶     │ e0 │ e1 │  one task per   (tree reductions, `split_every`)
//!  ├────┼────┤           ├────┼────┤  block: the
//!  │ k2 │ k3 │           │ e2 │ e3 │  expressions
//!  └────┴────┘           └────┴────┘  are inlined
//! ```
//!
//! ```no_run
//! use rask_collections::array::{random_uniform, SliceArg};
//! # async fn run(client: rask_actors::client::Client) -> rask_collections::Result<()> {
//! let x = random_uniform(42, 0.0, 1.0, &[8000, 8000], [1000, 1000])?
//!     .persist(&client)
//!     .await?;
//! let total: f64 = (&x + &x.t()?)?.sum(None)?.compute_scalar(&client).await?;
//! let means = x.mean(Some(0))?.compute(&client).await?; // ndarray::ArrayD<f64>
//! let left = x.slice(&[SliceArg::from(..), SliceArg::from(0..1000)])?;
//! let product = x.dot(&left)?.compute(&client).await?;
//! # Ok(()) }
//! ```
//!
//! - [`dtype`], [`block`]: element types and the block wire format; [`Chunk`] is a typed
//!   block for user functions given to [`Array::map_blocks`].
//! - [`expr`], [`ops`], [`lazy`]: per-block expressions (element-wise operations, casts,
//!   slices, transposes, reshapes, sources) and how they are fused.
//! - [`create`], [`random`]: `from_ndarray`, `zeros`, `ones`, `full`, `arange`, `linspace`,
//!   seeded `random_uniform`/`random_normal`.
//! - [`elementwise`], [`operators`]: arithmetic, comparisons, `where`, unary math,
//!   `map_blocks`; `+ - * / %` and unary `-` on `&Array` (each giving a `Result`).
//! - [`reduce`]: `sum`, `mean`, `var`, `std`, `min`, `max`, `argmin`, `argmax`, `any`, `all`;
//!   [`rawsum`]: sums read straight from received `f64` bytes.
//! - [`shape`], [`rechunk`]: slicing, indexing, `transpose`, `reshape`, `concatenate`,
//!   `stack`, `rechunk`.
//! - [`index`]: integer-array indexing (`take`) and boolean masks (`index_bool`, `compress`).
//! - [`linalg`]: blocked `matmul`/`dot`, `tensordot`, tall-skinny QR and `lstsq`.
//! - [`npy`], [`store`]: `.npy` files, one per block.
//! - [`bench`](mod@bench): the array benchmark (`rask bench array`).

#[cfg(feature = "blas")]
use blas_src as _;

pub mod bench;
pub mod block;
pub mod chunks;
pub mod create;
pub mod dtype;
pub mod elementwise;
pub mod expr;
pub mod funcs;
pub mod index;
pub mod lazy;
pub mod linalg;
pub mod npy;
pub mod operators;
pub mod ops;
pub mod qr;
pub mod random;
pub mod rawsum;
pub mod rechunk;
pub mod reduce;
pub mod shape;
pub mod store;
pub mod tree;

pub use bench::{run as bench_array, ArrayBenchReport};
pub use block::{Block, Chunk};
pub use chunks::ChunkSpec;
pub use create::{
    arange, from_ndarray, full, linspace, ones, random_normal, random_uniform, zeros,
};
pub use dtype::{DType, Element, Float, Numeric};
pub use elementwise::{where_, IntoOperand};
pub use linalg::{matmul, tensordot};
pub use qr::{lstsq, tsqr};
pub use shape::{concatenate, stack, SliceArg};
pub use store::{from_npy_stack, from_npy_stack_with};

use crate::graph::compute::{compute_with, persist_outputs};
use crate::graph::{dot, Collection, ComputeOptions, Graph};
use crate::{Error, Result};
use block::BlockBuf;
use lazy::Lazy;
use ndarray::{ArrayD, IxDyn, Slice};
use rask_actors::client::Client;
use rask_protocol::{Key, WorkerId};
use std::marker::PhantomData;
use std::sync::Arc;

/// A lazy, chunked n-dimensional array of `T`.
pub struct Array<T> {
    graph: Graph,
    shape: Vec<usize>,
    chunks: Vec<Vec<usize>>,
    /// Block keys, row-major over the block grid.
    keys: Vec<Key>,
    split_every: usize,
    /// Where each block was held when the array was persisted (by key order; `None`:
    /// unknown). A hint for placement-aware graphs, never needed for correctness.
    pub(crate) homes: Option<Arc<[Option<WorkerId>]>>,
    _t: PhantomData<fn() -> T>,
}

impl<T> Clone for Array<T> {
    fn clone(&self) -> Self {
        Array {
            graph: self.graph.clone(),
            shape: self.shape.clone(),
            chunks: self.chunks.clone(),
            keys: self.keys.clone(),
            split_every: self.split_every,
            homes: self.homes.clone(),
            _t: PhantomData,
        }
    }
}

impl<T: Element> std::fmt::Debug for Array<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "Array<{:?}>(shape {:?}, chunks {:?}, {} tasks)",
            T::DTYPE,
            self.shape,
            self.chunks,
            self.graph.len()
        )
    }
}

impl<T: Element> Array<T> {
    /// An array from its parts (keys row-major over the grid of `chunks`).
    pub(crate) fn from_parts(
        graph: Graph,
        shape: Vec<usize>,
        chunks: Vec<Vec<usize>>,
        keys: Vec<Key>,
    ) -> Array<T> {
        Array {
            graph,
            shape,
            chunks,
            keys,
            split_every: 8,
            homes: None,
            _t: PhantomData,
        }
    }

    /// An array whose block `i` (row-major) is `blocks[i]`, tasks named `prefix-…`.
    pub(crate) fn from_lazy(
        mut graph: Graph,
        shape: Vec<usize>,
        chunks: Vec<Vec<usize>>,
        blocks: Vec<Lazy>,
        prefix: &str,
    ) -> Result<Array<T>> {
        let keys = blocks
            .into_iter()
            .map(|b| b.insert(&mut graph, prefix))
            .collect::<Result<_>>()?;
        Ok(Array::from_parts(graph, shape, chunks, keys))
    }

    /// The same layout with every block transformed by `f(block, block index)`.
    pub(crate) fn blockwise<U: Element>(
        &self,
        prefix: &str,
        f: impl Fn(Lazy, &[usize]) -> Lazy,
    ) -> Result<Array<U>> {
        let blocks = chunks::grid_indices(&self.numblocks())
            .iter()
            .zip(&self.keys)
            .map(|(ix, k)| f(Lazy::of(&self.graph, k), ix))
            .collect();
        let mut a = Array::from_lazy(
            self.graph.clone(),
            self.shape.clone(),
            self.chunks.clone(),
            blocks,
            prefix,
        )?;
        a.split_every = self.split_every;
        Ok(a)
    }

    /// The element type.
    pub fn dtype(&self) -> DType {
        T::DTYPE
    }

    /// The shape.
    pub fn shape(&self) -> &[usize] {
        &self.shape
    }

    /// Number of dimensions.
    pub fn ndim(&self) -> usize {
        self.shape.len()
    }

    /// Number of elements.
    pub fn len(&self) -> usize {
        self.shape.iter().product()
    }

    /// Whether the array has no element.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Chunk lengths per axis.
    pub fn chunks(&self) -> &[Vec<usize>] {
        &self.chunks
    }

    /// Number of blocks per axis.
    pub fn numblocks(&self) -> Vec<usize> {
        self.chunks.iter().map(Vec::len).collect()
    }

    /// Block keys, row-major over the block grid.
    pub fn keys(&self) -> &[Key] {
        &self.keys
    }

    /// The task graph.
    pub fn graph(&self) -> &Graph {
        &self.graph
    }

    /// The same array with reductions combining at most `n` partials per step (default 8).
    pub fn with_split_every(&self, n: usize) -> Array<T> {
        let mut a = self.clone();
        a.split_every = n.max(2);
        a
    }

    /// The graph as Graphviz DOT text (before optimisation).
    pub fn to_dot(&self) -> String {
        dot::to_dot(&self.graph)
    }

    /// Computes the array and assembles it on the client.
    pub async fn compute(&self, client: &Client) -> Result<ArrayD<T>> {
        compute_with(client, self, ComputeOptions::default()).await
    }

    /// [`Array::compute`] with options (fusing, progress).
    pub async fn compute_with(&self, client: &Client, opts: ComputeOptions) -> Result<ArrayD<T>> {
        compute_with(client, self, opts).await
    }

    /// Blocking form of [`Array::compute`] (not on an async runtime's thread).
    pub fn compute_blocking(&self, client: &Client) -> Result<ArrayD<T>> {
        futures::executor::block_on(self.compute(client))
    }

    /// Computes a 0-d (or one-element) array and returns its value.
    pub async fn compute_scalar(&self, client: &Client) -> Result<T> {
        let a = self.compute(client).await?;
        match a.len() {
            1 => a
                .iter()
                .next()
                .copied()
                .ok_or_else(|| Error::Malformed("empty scalar".into())),
            n => Err(Error::Invalid(format!("{n} elements are not a scalar"))),
        }
    }

    /// Computes every block and keeps it on the cluster: the returned array is backed by
    /// futures, so later graphs do not recompute it.
    pub async fn persist(&self, client: &Client) -> Result<Array<T>> {
        let futures = persist_outputs(client, self, ComputeOptions::default()).await?;
        let mut graph = Graph::new();
        let keys: Vec<Key> = futures
            .into_iter()
            .map(|f| {
                let k = f.key().clone();
                graph.hold(f);
                k
            })
            .collect();
        let held: std::collections::HashMap<Key, Option<WorkerId>> = client
            .who_has(&keys)
            .await?
            .into_iter()
            .map(|(k, holders, _)| (k, holders.first().copied()))
            .collect();
        let homes: Arc<[Option<WorkerId>]> = keys
            .iter()
            .map(|k| held.get(k).copied().flatten())
            .collect();
        let mut a = Array::from_parts(graph, self.shape.clone(), self.chunks.clone(), keys);
        a.split_every = self.split_every;
        a.homes = (homes.len() == a.keys.len()).then_some(homes);
        Ok(a)
    }
}

/// Copies a raw block's elements into its region, starting at `start`, of `out`: the
/// row-major elements of an array of `shape`. Row by row of the block's last axis.
fn place_raw<T: Element>(out: &mut [T], shape: &[usize], start: &[usize], raw: &block::RawBlock) {
    let bs = raw.shape();
    let size = T::DTYPE.size();
    let Some((&row, outer)) = bs.split_last() else {
        if let (Some(o), Some(b)) = (out.first_mut(), raw.data.get(..size)) {
            *o = T::read_le(b);
        }
        return;
    };
    let rows: usize = outer.iter().product();
    if row == 0 || rows == 0 {
        return;
    }
    let nd = bs.len();
    let mut stride = vec![1usize; nd];
    for d in (0..nd - 1).rev() {
        stride[d] = stride[d + 1] * shape[d + 1];
    }
    let mut idx = vec![0usize; nd - 1];
    for src in raw.data.chunks_exact(row * size).take(rows) {
        let dest = idx
            .iter()
            .enumerate()
            .map(|(d, i)| (start[d] + i) * stride[d])
            .sum::<usize>()
            + start[nd - 1];
        for (o, c) in out[dest..dest + row].iter_mut().zip(src.chunks_exact(size)) {
            *o = T::read_le(c);
        }
        for d in (0..nd - 1).rev() {
            idx[d] += 1;
            if idx[d] < outer[d] {
                break;
            }
            idx[d] = 0;
        }
    }
}

impl<T: Element> Collection for Array<T> {
    type Output = ArrayD<T>;
    type Part = BlockBuf;

    fn build(&self) -> Result<(Graph, Vec<Key>)> {
        Ok((self.graph.clone(), self.keys.clone()))
    }

    fn finish(&self, parts: Vec<BlockBuf>) -> Result<ArrayD<T>> {
        if parts.len() != self.keys.len() {
            return Err(Error::Malformed(format!(
                "{} blocks for {} keys",
                parts.len(),
                self.keys.len()
            )));
        }
        let mut out = ArrayD::<T>::default(IxDyn(&self.shape));
        let starts: Vec<Vec<usize>> = self.chunks.iter().map(|c| chunks::starts(c)).collect();
        for (ix, part) in chunks::grid_indices(&self.numblocks()).iter().zip(parts) {
            let want: Vec<usize> = (0..ix.len()).map(|d| self.chunks[d][ix[d]]).collect();
            let start: Vec<usize> = (0..ix.len()).map(|d| starts[d][ix[d]]).collect();
            if let (Ok(Some(raw)), Some(dst)) =
                (block::RawBlock::parse(&part.0), out.as_slice_mut())
            {
                if raw.dtype == T::DTYPE && raw.shape() == want.as_slice() {
                    // Straight from the block's bytes into its place: no block array between.
                    place_raw(dst, &self.shape, &start, &raw);
                    continue;
                }
            }
            let block = part.decode().map_err(Error::Malformed)?;
            let got = block.dtype();
            let block = block.into_array::<T>().ok_or_else(|| {
                Error::Malformed(format!("block holds {got:?}, expected {:?}", T::DTYPE))
            })?;
            if block.shape() != want.as_slice() {
                return Err(Error::Malformed(format!(
                    "block {ix:?} has shape {:?}, expected {want:?}",
                    block.shape()
                )));
            }
            out.slice_each_axis_mut(|ax| {
                let d = ax.axis.index();
                Slice::from(start[d]..start[d] + want[d])
            })
            .assign(&block);
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests;
