//! Rechunking: each output block is cut from the input blocks it overlaps. A block that is a
//! part of one input block is a slice expression (fused with what follows); a block spanning
//! several input blocks is an assemble task copying each piece into place.

use super::block::Block;
use super::chunks::{flat, grid_indices, normalize, starts, ChunkSpec};
use super::dtype::{DType, Element};
use super::expr::{Expr, Step};
use super::funcs::spec;
use super::lazy::Lazy;
use super::Array;
use crate::graph::{Graph, Task};
use crate::raw::failed;
use crate::Result;
use bytes::Bytes;
use ndarray::{ArrayD, IxDyn, Slice};
use rask_actors::worker::registry::InvokeResult;
use rask_protocol::{encode_value, Arg, Key};
use serde::{Deserialize, Serialize};

crate::raw_task! {
    /// Registered name of the rechunk assembler.
    pub const ASSEMBLE = "rask_collections::array::assemble" => run_assemble
}

/// An array's layout and keys without its element type.
#[derive(Debug, Clone)]
pub(crate) struct Parts {
    pub graph: Graph,
    pub shape: Vec<usize>,
    pub chunks: Vec<Vec<usize>>,
    pub keys: Vec<Key>,
    pub dtype: DType,
}

impl Parts {
    /// Flat position of a block index.
    pub fn flat(&self, ix: &[usize]) -> usize {
        let grid: Vec<usize> = self.chunks.iter().map(Vec::len).collect();
        flat(&grid, ix)
    }
}

impl<T: Element> Array<T> {
    /// The untyped layout.
    pub(crate) fn parts(&self) -> Parts {
        Parts {
            graph: self.graph.clone(),
            shape: self.shape.clone(),
            chunks: self.chunks.clone(),
            keys: self.keys.clone(),
            dtype: T::DTYPE,
        }
    }

    /// An array of `U` from untyped parts.
    pub(crate) fn from_untyped(p: Parts) -> Array<T> {
        Array::from_parts(p.graph, p.shape, p.chunks, p.keys)
    }

    /// The same graph seen as another element type (only for same-dtype casts).
    pub(crate) fn retype<U: Element>(&self) -> Array<U> {
        let mut a = Array::from_untyped(self.parts());
        a.split_every = self.split_every;
        a
    }

    /// The same values cut into different chunks.
    pub fn rechunk(&self, chunks: impl Into<ChunkSpec>) -> Result<Array<T>> {
        let chunks = normalize(&self.shape, &chunks.into())?;
        let mut a = Array::from_untyped(rechunk_parts(&self.parts(), chunks)?);
        a.split_every = self.split_every;
        Ok(a)
    }
}

/// One piece of an output block: a region of an input block copied to an offset.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Piece {
    /// Which input.
    pub input: u32,
    /// Start of the region in the input block, per axis.
    pub src: Vec<usize>,
    /// Start of the region in the output block, per axis.
    pub dst: Vec<usize>,
    /// Region lengths.
    pub len: Vec<usize>,
}

/// What an assemble task builds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AssembleSpec {
    /// Element type.
    pub dtype: DType,
    /// Output block shape.
    pub shape: Vec<usize>,
    /// The pieces, covering the block.
    pub pieces: Vec<Piece>,
}

/// Overlaps of `[s, e)` with the chunks of an axis: (chunk, start in chunk, start in range,
/// length).
fn overlaps(chunks: &[usize], s: usize, e: usize) -> Vec<(usize, usize, usize, usize)> {
    let st = starts(chunks);
    let mut out = Vec::new();
    for (i, (c0, c)) in st.iter().zip(chunks).enumerate() {
        let (lo, hi) = (s.max(*c0), e.min(c0 + c));
        if lo < hi || (s == e && *c == 0 && i == 0) {
            out.push((i, lo - c0, lo - s, hi.saturating_sub(lo)));
        }
    }
    out
}

/// The parts re-cut into `chunks`.
pub(crate) fn rechunk_parts(p: &Parts, chunks: Vec<Vec<usize>>) -> Result<Parts> {
    if chunks == p.chunks {
        return Ok(p.clone());
    }
    normalize(&p.shape, &ChunkSpec::Explicit(chunks.clone()))?;
    let mut graph = p.graph.clone();
    let st: Vec<Vec<usize>> = chunks.iter().map(|c| starts(c)).collect();
    let grid: Vec<usize> = chunks.iter().map(Vec::len).collect();
    let mut keys = Vec::new();
    for ix in grid_indices(&grid) {
        let shape: Vec<usize> = (0..ix.len()).map(|d| chunks[d][ix[d]]).collect();
        let per_axis: Vec<_> = (0..ix.len())
            .map(|d| overlaps(&p.chunks[d], st[d][ix[d]], st[d][ix[d]] + shape[d]))
            .collect();
        let counts: Vec<usize> = per_axis.iter().map(Vec::len).collect();
        let combos = grid_indices(&counts);
        if combos.len() == 1 {
            let pick: Vec<_> = (0..ix.len()).map(|d| per_axis[d][0]).collect();
            let src_ix: Vec<usize> = pick.iter().map(|o| o.0).collect();
            let key = p.keys[p.flat(&src_ix)].clone();
            let src_shape: Vec<usize> = src_ix
                .iter()
                .enumerate()
                .map(|(d, i)| p.chunks[d][*i])
                .collect();
            if src_shape == shape {
                keys.push(key);
                continue;
            }
            let steps = pick
                .iter()
                .map(|o| Step {
                    start: o.1,
                    end: o.1 + o.3,
                    step: 1,
                })
                .collect();
            let lazy = Lazy::of(&graph, &key).map(|e| Expr::Slice(steps, vec![], e));
            keys.push(lazy.insert(&mut graph, "rechunk")?);
            continue;
        }
        let mut inputs: Vec<Key> = Vec::new();
        let pieces = combos
            .iter()
            .map(|c| {
                let pick: Vec<_> = (0..ix.len()).map(|d| per_axis[d][c[d]]).collect();
                let src_ix: Vec<usize> = pick.iter().map(|o| o.0).collect();
                let key = &p.keys[p.flat(&src_ix)];
                let input = match inputs.iter().position(|k| k == key) {
                    Some(i) => i,
                    None => {
                        inputs.push(key.clone());
                        inputs.len() - 1
                    }
                };
                Piece {
                    input: input as u32,
                    src: pick.iter().map(|o| o.1).collect(),
                    dst: pick.iter().map(|o| o.2).collect(),
                    len: pick.iter().map(|o| o.3).collect(),
                }
            })
            .collect();
        let spec = AssembleSpec {
            dtype: p.dtype,
            shape,
            pieces,
        };
        let args = Lazy::args(Arg::Value(encode_value(&spec)?), inputs);
        keys.push(graph.insert(Task::new("rechunk", ASSEMBLE, args)));
    }
    Ok(Parts {
        graph,
        shape: p.shape.clone(),
        chunks,
        keys,
        dtype: p.dtype,
    })
}

fn assemble<T: Element>(
    spec: &AssembleSpec,
    inputs: Vec<Block>,
) -> std::result::Result<Block, String> {
    let mut out = ArrayD::<T>::default(IxDyn(&spec.shape));
    let typed = inputs
        .into_iter()
        .map(|b| {
            b.into_array::<T>()
                .ok_or_else(|| format!("input is not {:?}", T::DTYPE))
        })
        .collect::<std::result::Result<Vec<_>, _>>()?;
    for p in &spec.pieces {
        let src = typed
            .get(p.input as usize)
            .ok_or_else(|| format!("input {} is missing", p.input))?;
        let region = |start: &[usize]| {
            let start = start.to_vec();
            let len = p.len.clone();
            move |ax: ndarray::AxisDescription| {
                let d = ax.axis.index();
                Slice::from(start[d]..start[d] + len[d])
            }
        };
        if p.src.len() != src.ndim() || p.dst.len() != out.ndim() {
            return Err("piece rank does not match".into());
        }
        out.slice_each_axis_mut(region(&p.dst))
            .assign(&src.slice_each_axis(region(&p.src)));
    }
    Ok(Block::from_array(out))
}

/// Builds a block from pieces of its inputs (`args[0]` is the [`AssembleSpec`]).
pub fn run_assemble(args: &[Bytes]) -> InvokeResult {
    let (spec, inputs): (AssembleSpec, _) = spec(args)?;
    let blocks = inputs
        .iter()
        .map(|b| Block::decode(b))
        .collect::<std::result::Result<Vec<_>, _>>()
        .map_err(failed)?;
    let out = match spec.dtype {
        DType::F64 => assemble::<f64>(&spec, blocks),
        DType::F32 => assemble::<f32>(&spec, blocks),
        DType::I64 => assemble::<i64>(&spec, blocks),
        DType::I32 => assemble::<i32>(&spec, blocks),
        DType::Bool => assemble::<bool>(&spec, blocks),
    }
    .map_err(failed)?;
    Ok(out.encode())
}
