//! `bag`: partitioned collections of serde values, like `dask.bag`.
//!
//! A [`Bag<T>`] is a list of partitions, each a sequence of `T`, plus the element-wise
//! operations still to apply to them. Element-wise operations (`map`, `filter`, `flat_map`,
//! string and JSON operations) add no tasks: they run inside whichever task finally reads a
//! partition, streaming each element into that task's sink. Aggregations are tree reductions
//! (partition partials, then combine steps of at most `split_every` inputs). User element
//! functions are registered with [`task!`](rask_actors::task); the built-in partition and
//! combine functions call them through the worker's registry.
//!
//! - [`records`]: the partition format (individually encoded elements).
//! - [`ops`], [`sinks`], [`partition`], [`combine`]: what runs on the workers.
//! - [`text`]: text files (local or `s3://`), globs, blocks on line boundaries, gzip.
//! - [`native`]: element types aggregated without user code (integers, floats, strings).
//! - [`items`]: [`Items`] for flat-mapping results, [`JsonValue`] for JSON lines.
//! - [`agg`]: aggregations and the shuffle-based `groupby`.
//! - [`funcs`]: registered element functions the stock worker knows.
//! - [`wordcount`]: the word-count benchmark and its deterministic input.

pub mod agg;
pub mod combine;
pub mod funcs;
pub mod items;
pub mod native;
pub mod ops;
pub mod partition;
pub mod records;
pub mod sinks;
pub mod text;
pub mod wordcount;

pub use items::{Items, JsonValue};
pub use native::{Kind, Native, Numeric};
pub use wordcount::{bench_wordcount, WordcountConfig, WordcountReport};

use crate::graph::compute::{compute_with, persist_outputs};
use crate::graph::{dot, Collection, ComputeOptions, Graph, Task};
use crate::storage::StorageOptions;
use crate::{Error, Result};
use bytes::Bytes;
use ops::Op;
use partition::{PartitionPlan, Source, PARTITION};
use rask_actors::client::Client;
use rask_actors::worker::registry::TaskFunction;
use rask_protocol::{decode_value, encode_value, Arg, Key};
use records::RecordsWriter;
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_bytes::ByteBuf;
use sinks::SinkSpec;
use std::marker::PhantomData;
use text::TextBlock;

/// Where one partition comes from.
#[derive(Debug, Clone)]
enum Part {
    /// A key (in the graph or held) whose value is an encoded partition.
    Key(Key),
    /// Elements carried in the graph.
    Inline(Bytes),
    /// A block of a text file.
    Text(TextBlock),
}

/// A lazy, partitioned collection of `T`.
pub struct Bag<T> {
    graph: Graph,
    parts: Vec<Part>,
    ops: Vec<Op>,
    split_every: usize,
    _t: PhantomData<fn() -> T>,
}

impl<T> Clone for Bag<T> {
    fn clone(&self) -> Self {
        self.retype(self.ops.clone())
    }
}

impl<T> std::fmt::Debug for Bag<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "Bag({} partitions, {} pending ops)",
            self.parts.len(),
            self.ops.len()
        )
    }
}

/// Options of [`read_text`].
#[derive(Debug, Clone, Default)]
pub struct ReadTextOptions {
    /// Split files into blocks of about this many bytes, on line boundaries (`None`: one
    /// partition per file; `.gz` files are never split).
    pub blocksize: Option<u64>,
    /// How the client lists and the workers read the files (Dask's `storage_options`;
    /// default: each process's own `AWS_*` settings).
    pub storage_options: StorageOptions,
}

/// Options of [`Bag::json`].
#[derive(Debug, Clone, Copy, Default)]
pub struct JsonOptions {
    /// Drop malformed lines instead of failing with the file and line.
    pub skip_bad_lines: bool,
}

/// A bag of `items`, `partition_size` elements per partition (the last may be shorter).
pub fn from_sequence<T: Serialize>(
    items: impl IntoIterator<Item = T>,
    partition_size: usize,
) -> Result<Bag<T>> {
    if partition_size == 0 {
        return Err(Error::Invalid("partition_size must be at least 1".into()));
    }
    let mut parts = Vec::new();
    let mut w = RecordsWriter::new();
    for x in items {
        w.push(&encode_value(&x)?);
        if w.len() as usize == partition_size {
            parts.push(Part::Inline(std::mem::take(&mut w).finish()));
        }
    }
    if !w.is_empty() || parts.is_empty() {
        parts.push(Part::Inline(w.finish()));
    }
    Ok(Bag::from_parts(Graph::new(), parts))
}

/// The lines of text files (paths, `file://` or `s3://` URLs, or globs such as
/// `s3://bucket/logs/*.txt`; `.gz` decompressed), one partition per file or per block.
/// Lines lose their terminators. Files are read by the workers (by byte range), so they must
/// see the same paths; for `s3://` they use `opts.storage_options` (or, by default, their own
/// `AWS_*` variables).
pub fn read_text(patterns: &[&str], opts: ReadTextOptions) -> Result<Bag<String>> {
    let storage = &opts.storage_options;
    let files = storage.expand(patterns)?;
    let parts = text::blocks(&files, opts.blocksize, storage)
        .into_iter()
        .map(Part::Text)
        .collect();
    Ok(Bag::from_parts(Graph::new(), parts))
}

impl<T> Bag<T> {
    fn from_parts(graph: Graph, parts: Vec<Part>) -> Bag<T> {
        Bag {
            graph,
            parts,
            ops: Vec::new(),
            split_every: 8,
            _t: PhantomData,
        }
    }

    /// A one-partition bag whose partition is `key` of `graph` (aggregation results).
    fn from_key(graph: Graph, key: Key, split_every: usize) -> Bag<T> {
        let mut b = Bag::from_parts(graph, vec![Part::Key(key)]);
        b.split_every = split_every;
        b
    }

    fn retype<U>(&self, ops: Vec<Op>) -> Bag<U> {
        Bag {
            graph: self.graph.clone(),
            parts: self.parts.clone(),
            ops,
            split_every: self.split_every,
            _t: PhantomData,
        }
    }

    fn then<U>(&self, op: Op) -> Bag<U> {
        let mut ops = self.ops.clone();
        ops.push(op);
        self.retype(ops)
    }

    /// Number of partitions.
    pub fn npartitions(&self) -> usize {
        self.parts.len()
    }

    /// The same bag with aggregations combining at most `n` partials per step (default 8).
    pub fn with_split_every(&self, n: usize) -> Bag<T> {
        let mut b = self.clone();
        b.split_every = n.max(2);
        b
    }

    /// The task running `sink` on partition `i` (with the pending operations).
    fn partition_task(&self, i: usize, prefix: &str, sink: SinkSpec) -> Result<Task> {
        let (source, dep) = match &self.parts[i] {
            Part::Key(k) => (Source::Dependency, Some(k.clone())),
            Part::Inline(b) => (Source::Inline(b.clone()), None),
            Part::Text(t) => (Source::Text(t.clone()), None),
        };
        let plan = PartitionPlan {
            index: i as u64,
            source,
            ops: self.ops.clone(),
            sink,
        };
        let mut args = vec![Arg::Value(encode_value(&plan)?)];
        args.extend(dep.map(Arg::Key));
        Ok(Task::new(prefix, PARTITION, args))
    }

    /// The graph with `sink` applied to every partition, and those tasks' keys.
    fn sink_all(
        &self,
        prefix: &str,
        sink: impl Fn(usize) -> SinkSpec,
    ) -> Result<(Graph, Vec<Key>)> {
        let mut g = self.graph.clone();
        let keys = (0..self.parts.len())
            .map(|i| Ok(g.insert(self.partition_task(i, prefix, sink(i))?)))
            .collect::<Result<_>>()?;
        Ok((g, keys))
    }

    /// The graph and the keys of the materialised partitions (no new task when the bag is
    /// already a list of computed partitions).
    fn materialized(&self) -> Result<(Graph, Vec<Key>)> {
        if self.ops.is_empty() {
            let keys: Option<Vec<Key>> = self
                .parts
                .iter()
                .map(|p| match p {
                    Part::Key(k) => Some(k.clone()),
                    _ => None,
                })
                .collect();
            if let Some(keys) = keys {
                return Ok((self.graph.clone(), keys));
            }
        }
        self.sink_all("partition", |_| SinkSpec::Collect(None))
    }

    /// A bag whose partitions are the given keys of `graph`.
    fn over_keys<U>(&self, graph: Graph, keys: Vec<Key>) -> Bag<U> {
        let mut b = Bag::from_parts(graph, keys.into_iter().map(Part::Key).collect());
        b.split_every = self.split_every;
        b
    }

    /// Applies a registered function to every element.
    pub fn map<F: TaskFunction<Params = (T,)>>(&self, _f: F) -> Bag<F::Output> {
        self.then(Op::Map(F::NAME.to_string()))
    }

    /// Keeps the elements for which a registered predicate is true.
    pub fn filter<F: TaskFunction<Params = (T,), Output = bool>>(&self, _f: F) -> Bag<T> {
        self.then(Op::Filter(F::NAME.to_string()))
    }

    /// Applies a registered function returning [`Items`] and flattens the results.
    pub fn flat_map<U, F: TaskFunction<Params = (T,), Output = Items<U>>>(&self, _f: F) -> Bag<U> {
        let mut ops = self.ops.clone();
        ops.push(Op::Map(F::NAME.to_string()));
        ops.push(Op::FlattenItems);
        self.retype(ops)
    }

    /// Applies a registered function to each whole partition (`Vec<T>` → [`Items<U>`]).
    pub fn map_partitions<U, F: TaskFunction<Params = (Vec<T>,), Output = Items<U>>>(
        &self,
        _f: F,
    ) -> Result<Bag<U>> {
        let (g, keys) =
            self.sink_all("map-partitions", |_| SinkSpec::MapPartition(F::NAME.into()))?;
        Ok(self.over_keys(g, keys))
    }

    /// The graph (with one task per materialised partition) as Graphviz DOT text.
    pub fn to_dot(&self) -> Result<String> {
        Ok(dot::to_dot(&self.materialized()?.0))
    }
}

impl<U> Bag<Items<U>> {
    /// Flattens a bag of [`Items`].
    pub fn flatten(&self) -> Bag<U> {
        self.then(Op::FlattenItems)
    }
}

impl Bag<Vec<String>> {
    /// Flattens a bag of string lists (after [`Bag::str_split`]).
    pub fn flatten(&self) -> Bag<String> {
        self.then(Op::FlattenStrings)
    }
}

impl Bag<String> {
    /// Splits each string on whitespace (Dask's `.str.split()`).
    pub fn str_split(&self) -> Bag<Vec<String>> {
        self.then(Op::SplitWhitespace)
    }

    /// Lower-cases each string.
    pub fn str_lower(&self) -> Bag<String> {
        self.then(Op::Lower)
    }

    /// Trims whitespace off each string.
    pub fn str_strip(&self) -> Bag<String> {
        self.then(Op::Strip)
    }

    /// Parses each line as JSON (JSON lines). Blank lines are dropped; a malformed line fails
    /// the computation with its file and line number, unless `skip_bad_lines` is set.
    pub fn json(&self, opts: JsonOptions) -> Bag<JsonValue> {
        self.then(Op::ParseJson {
            skip_bad: opts.skip_bad_lines,
        })
    }

    /// Writes one text file per partition, one element per line: `*` in `pattern` becomes
    /// the partition number (`.gz` compresses; `s3://bucket/out/*.txt` uploads). Returns the
    /// paths written. `s3://` objects are written with the workers' own settings; see
    /// [`Bag::to_textfiles_with`].
    pub async fn to_textfiles(&self, client: &Client, pattern: &str) -> Result<Vec<String>> {
        self.to_textfiles_with(client, pattern, &StorageOptions::default())
            .await
    }

    /// [`Bag::to_textfiles`] with these storage settings (Dask's `storage_options`), which
    /// travel with the writing tasks to the workers.
    pub async fn to_textfiles_with(
        &self,
        client: &Client,
        pattern: &str,
        storage: &StorageOptions,
    ) -> Result<Vec<String>> {
        if !pattern.contains('*') {
            return Err(Error::Invalid(format!(
                "{pattern} has no * for the partition number"
            )));
        }
        let (graph, keys) = self.sink_all("to-textfiles", |i| {
            SinkSpec::Write(pattern.replace('*', &i.to_string()), storage.clone())
        })?;
        compute_with(
            client,
            &Outputs::<String>::new(graph, keys),
            ComputeOptions::default(),
        )
        .await
    }
}

impl Bag<JsonValue> {
    /// The value of a field of each object (or an index of each array); a missing field
    /// fails with the element's position.
    pub fn pluck(&self, field: &str) -> Bag<JsonValue> {
        self.then(Op::Pluck(field.to_string()))
    }

    /// The documents as compact JSON text.
    pub fn to_strings(&self) -> Bag<String> {
        self.retype(self.ops.clone())
    }
}

impl<T: DeserializeOwned + Send + 'static> Bag<T> {
    /// Computes every element and brings them to the client, in partition order.
    pub async fn compute(&self, client: &Client) -> Result<Vec<T>> {
        compute_with(client, self, ComputeOptions::default()).await
    }

    /// [`Bag::compute`] with options (fusing, progress).
    pub async fn compute_with(&self, client: &Client, opts: ComputeOptions) -> Result<Vec<T>> {
        compute_with(client, self, opts).await
    }

    /// Computes the partitions and keeps them on the cluster; the returned bag reads them
    /// from there.
    pub async fn persist(&self, client: &Client) -> Result<Bag<T>> {
        let futures = persist_outputs(client, self, ComputeOptions::default()).await?;
        let mut g = Graph::new();
        let keys = futures
            .into_iter()
            .map(|f| {
                let k = f.key().clone();
                g.hold(f);
                k
            })
            .collect();
        Ok(self.over_keys(g, keys))
    }

    /// The first `n` elements, reading partitions in order only until there are enough.
    pub async fn take(&self, client: &Client, n: usize) -> Result<Vec<T>> {
        let mut out = Vec::new();
        for i in 0..self.parts.len() {
            if out.len() >= n {
                break;
            }
            let left = (n - out.len()) as u64;
            let mut g = self.graph.clone();
            let key = g.insert(self.partition_task(i, "take", SinkSpec::Collect(Some(left)))?);
            let part = Outputs::<Vec<ByteBuf>>::new(g, vec![key]);
            for p in compute_with(client, &part, ComputeOptions::default()).await? {
                out.extend(decode_records::<T>(&p)?);
            }
        }
        out.truncate(n);
        Ok(out)
    }
}

fn decode_records<T: DeserializeOwned>(part: &[ByteBuf]) -> Result<Vec<T>> {
    part.iter()
        .map(|r| {
            decode_value::<T>(r).map_err(|e| {
                Error::Malformed(format!(
                    "an element does not decode as {}: {e}",
                    std::any::type_name::<T>()
                ))
            })
        })
        .collect()
}

impl<T: DeserializeOwned + Send + 'static> Collection for Bag<T> {
    type Output = Vec<T>;
    type Part = Vec<ByteBuf>;
    fn build(&self) -> Result<(Graph, Vec<Key>)> {
        self.materialized()
    }
    fn finish(&self, parts: Vec<Vec<ByteBuf>>) -> Result<Vec<T>> {
        let mut out = Vec::new();
        for p in parts {
            out.extend(decode_records::<T>(&p)?);
        }
        Ok(out)
    }
}

/// Some keys of a graph, computed as a list of `P` (file names written, raw partitions).
struct Outputs<P> {
    graph: Graph,
    keys: Vec<Key>,
    _p: PhantomData<fn() -> P>,
}

impl<P> Outputs<P> {
    fn new(graph: Graph, keys: Vec<Key>) -> Self {
        Outputs {
            graph,
            keys,
            _p: PhantomData,
        }
    }
}

impl<P: DeserializeOwned + Send + 'static> Collection for Outputs<P> {
    type Output = Vec<P>;
    type Part = P;
    fn build(&self) -> Result<(Graph, Vec<Key>)> {
        Ok((self.graph.clone(), self.keys.clone()))
    }
    fn finish(&self, parts: Vec<P>) -> Result<Vec<P>> {
        Ok(parts)
    }
}
