//! Storing arrays as one `.npy` file per block in a folder, with an `info.json` describing
//! shape, chunks and dtype; loading them back lazily. The folder is a local path or an
//! `s3://bucket/prefix` URL. Workers read and write the files, so they must see the same
//! paths as the client (local disk or a shared file system); for `s3://` they use the
//! [`StorageOptions`] given to [`Array::to_npy_stack_with`] / [`from_npy_stack_with`] (or,
//! by default, their own `AWS_*` variables).
//!
//! ```text
//!  out/info.json   {"shape": [10, 7], "chunks": [[4, 4, 2], [7]], "dtype": "<f8"}
//!  out/0.0.npy  out/1.0.npy  out/2.0.npy
//! ```

use super::chunks::grid_indices;
use super::dtype::{DType, Element};
use super::expr::{Expr, Source};
use super::funcs::spec;
use super::lazy::Lazy;
use super::Array;
use crate::graph::compute::compute_with;
use crate::graph::{Collection, ComputeOptions, Graph, Task};
use crate::raw::failed;
use crate::storage::{Location, StorageOptions};
use crate::{Error, Result};
use bytes::Bytes;
use rask_actors::client::Client;
use rask_actors::worker::registry::InvokeResult;
use rask_protocol::{encode_value, Arg, Key};
use serde::{Deserialize, Serialize};
use std::path::Path;

crate::raw_task! {
    /// Registered name of the block writer.
    pub const SAVE_NPY = "rask_collections::array::save_npy" => run_save
}

/// A block-writing task's spec.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SaveSpec {
    /// Where to write.
    pub path: String,
    /// The block.
    pub expr: Expr,
    /// How the worker reaches `path`.
    pub storage: StorageOptions,
}

/// Writes a block to a `.npy` file; returns the bytes written.
pub fn run_save(args: &[Bytes]) -> InvokeResult {
    let (spec, inputs): (SaveSpec, _) = spec(args)?;
    let block = spec.expr.eval(inputs).map_err(failed)?;
    let n = super::npy::write(&spec.path, &block, &spec.storage).map_err(failed)?;
    encode_value(&n).map_err(|e| failed(e.to_string()))
}

/// The `info.json` of a stored array.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StackInfo {
    /// Array shape.
    pub shape: Vec<usize>,
    /// Chunk lengths per axis.
    pub chunks: Vec<Vec<usize>>,
    /// numpy dtype string.
    pub dtype: String,
}

fn block_name(ix: &[usize]) -> String {
    if ix.is_empty() {
        return "0.npy".into();
    }
    let parts: Vec<String> = ix.iter().map(|i| i.to_string()).collect();
    format!("{}.npy", parts.join("."))
}

struct Saves {
    graph: Graph,
    keys: Vec<Key>,
}

impl Collection for Saves {
    type Output = u64;
    type Part = u64;
    fn build(&self) -> Result<(Graph, Vec<Key>)> {
        Ok((self.graph.clone(), self.keys.clone()))
    }
    fn finish(&self, parts: Vec<u64>) -> Result<u64> {
        Ok(parts.iter().sum())
    }
}

/// The folder: `s3://` URLs as given, local paths (or `file://` URLs) made absolute.
fn folder(dir: &Path) -> Result<Location> {
    let local = |p: &Path| {
        std::path::absolute(p)
            .map(Location::Local)
            .map_err(|e| Error::io(p, e))
    };
    match dir.to_str().map(Location::parse) {
        Some(Ok(Location::Local(p))) => local(&p),
        Some(loc) => loc,
        None => local(dir),
    }
}

impl<T: Element> Array<T> {
    /// Computes the array and writes each block to `dir/<i>.<j>….npy` (plus `info.json`);
    /// returns the number of `.npy` bytes written. `dir` may be an `s3://bucket/prefix` URL,
    /// written with the workers' own settings; see [`Array::to_npy_stack_with`].
    pub async fn to_npy_stack(&self, client: &Client, dir: impl AsRef<Path>) -> Result<u64> {
        self.to_npy_stack_with(client, dir, &StorageOptions::default())
            .await
    }

    /// [`Array::to_npy_stack`] with these storage settings, which travel with the writing
    /// tasks to the workers.
    pub async fn to_npy_stack_with(
        &self,
        client: &Client,
        dir: impl AsRef<Path>,
        storage: &StorageOptions,
    ) -> Result<u64> {
        let dir = folder(dir.as_ref())?;
        let info = StackInfo {
            shape: self.shape.clone(),
            chunks: self.chunks.clone(),
            dtype: T::DTYPE.npy_descr().to_string(),
        };
        let json = serde_json::to_vec_pretty(&info).map_err(|e| Error::Invalid(e.to_string()))?;
        storage.write(&dir.join("info.json").to_string(), &json)?;
        let mut graph = self.graph.clone();
        let mut keys = Vec::new();
        for (ix, key) in grid_indices(&self.numblocks()).iter().zip(&self.keys) {
            let lazy = Lazy::of(&self.graph, key);
            let spec = SaveSpec {
                path: dir.join(&block_name(ix)).to_string(),
                expr: lazy.expr,
                storage: storage.clone(),
            };
            let args = Lazy::args(Arg::Value(encode_value(&spec)?), lazy.inputs);
            keys.push(graph.insert(Task::new("to-npy", SAVE_NPY, args)));
        }
        compute_with(client, &Saves { graph, keys }, ComputeOptions::default()).await
    }
}

/// An array stored by [`Array::to_npy_stack`] (read lazily, one task per block); `dir` may
/// be an `s3://bucket/prefix` URL, read with each process's own settings; see
/// [`from_npy_stack_with`].
pub fn from_npy_stack<T: Element>(dir: impl AsRef<Path>) -> Result<Array<T>> {
    from_npy_stack_with(dir, &StorageOptions::default())
}

/// [`from_npy_stack`] with these storage settings: the client reads `info.json` with them,
/// and they travel with the block-reading tasks to the workers.
pub fn from_npy_stack_with<T: Element>(
    dir: impl AsRef<Path>,
    storage: &StorageOptions,
) -> Result<Array<T>> {
    let dir = folder(dir.as_ref())?;
    let info_url = dir.join("info.json").to_string();
    let text = storage.read(&info_url)?;
    let info: StackInfo =
        serde_json::from_slice(&text).map_err(|e| Error::Invalid(format!("{info_url}: {e}")))?;
    let dtype = DType::from_npy_descr(&info.dtype)
        .ok_or_else(|| Error::Invalid(format!("unsupported dtype {}", info.dtype)))?;
    if dtype != T::DTYPE {
        return Err(Error::Invalid(format!(
            "{dir} holds {dtype:?}, not {:?}",
            T::DTYPE
        )));
    }
    super::chunks::normalize(
        &info.shape,
        &super::chunks::ChunkSpec::Explicit(info.chunks.clone()),
    )?;
    let grid: Vec<usize> = info.chunks.iter().map(Vec::len).collect();
    let blocks = grid_indices(&grid)
        .iter()
        .map(|ix| {
            let path = dir.join(&block_name(ix)).to_string();
            Lazy::source(Expr::Source(Source::Npy(path, storage.clone())))
        })
        .collect();
    Array::from_lazy(Graph::new(), info.shape, info.chunks, blocks, "from-npy")
}
