//! Shuffles: moving rows between partitions by key hash or by key range, worker to worker.
//!
//! Every input partition is cut into `n` buckets by one *split* task; one *pick* task per
//! (input, bucket) copies out a single bucket, on the worker holding the split (so only that
//! bucket travels); each consumer depends on its picks, one per input partition. The client
//! only builds the graph: the buckets are Arrow IPC streams that never leave the workers.
//!
//! ```text
//!  p0 ──split──▶ [b0 b1 b2]      p1 ──split──▶ [b0 b1 b2]
//!                 │  │  └pick┐                  │  │  └pick┐
//!                 │  └pick┐  │                  │  └pick┐  │
//!                 └pick┐  │  │                  └pick┐  │  │
//!        consumer 0 ◀──┘──│──│──────────────────────┘  │  │    (concat, join, combine…)
//!        consumer 1 ◀─────┘──│─────────────────────────┘  │
//!        consumer 2 ◀────────┘────────────────────────────┘
//! ```
//!
//! The same split serves frames (repartition, sort, merge) and partial aggregates (the
//! hash-partitioned combine of grouped aggregations).

use super::agg::Partial;
use super::ipc::{decode_frame, encode_frame, read_ipc, write_ipc, Fail, Frame};
use super::partition::{decode_partial, encode_partial};
use super::{DataFrame, Part};
use crate::graph::{Graph, Task};
use crate::raw::{bad_args, failed};
use crate::{Error, Result};
use arrow_array::cast::AsArray;
use arrow_array::types::Int64Type;
use arrow_array::{Array, ArrayRef, RecordBatch, UInt32Array};
use arrow_schema::{ArrowError, DataType, SortOptions};
use bytes::Bytes;
use rask_actors::worker::registry::InvokeResult;
use rask_protocol::{decode_value, encode_value, Arg, Key};
use serde::{Deserialize, Serialize};
use serde_bytes::ByteBuf;
use xxhash_rust::xxh3::xxh3_64;

crate::raw_task! {
    /// Registered name of the split step of a shuffle.
    pub const SHUFFLE_SPLIT = "rask_collections::dataframe::shuffle_split" => run_split
}

crate::raw_task! {
    /// Registered name of the step that takes one bucket out of a split.
    pub const SHUFFLE_PICK = "rask_collections::dataframe::shuffle_pick" => run_pick
}

crate::raw_task! {
    /// Registered name of the step that joins buckets into one partition (and sorts it).
    pub const SHUFFLE_CONCAT = "rask_collections::dataframe::shuffle_concat" => run_concat
}

/// How rows are assigned to buckets.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum SplitBy {
    /// By a hash of these key columns (rows with a null key go to bucket 0).
    Hash(Vec<String>),
    /// By ranges of these sort columns (`true`: descending, nulls last): bucket `j` takes
    /// the rows sorting at or after bound `j - 1` and before bound `j`. `bounds` is an
    /// Arrow IPC stream of the sort columns, one row per bound (n − 1 rows).
    Range {
        /// Sort columns and directions.
        by: Vec<(String, bool)>,
        /// The bounds, in sort order.
        bounds: ByteBuf,
    },
}

/// What a split task cuts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Payload {
    /// An encoded partition.
    Frame,
    /// An encoded partial aggregate (its tables split by their leading key columns).
    Partial,
}

/// A split task's instructions.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SplitSpec {
    /// The assignment rule.
    pub by: SplitBy,
    /// Number of buckets.
    pub n: u32,
    /// What the input is.
    pub payload: Payload,
}

fn arrow_fail(what: &'static str) -> impl Fn(ArrowError) -> Fail {
    move |e| failed(format!("{what}: {e}"))
}

fn column(batch: &RecordBatch, name: &str) -> Result<ArrayRef, ArrowError> {
    batch.column_by_name(name).cloned().ok_or_else(|| {
        ArrowError::InvalidArgumentError(format!("no column named {name} to shuffle by"))
    })
}

/// The bucket (`0..n`) of every row by the hash of `keys`; equal keys of equal types get
/// the same bucket in every partition and process. Null keys go to bucket 0.
pub fn hash_buckets(keys: &[ArrayRef], rows: usize, n: u32) -> Result<Vec<u32>, ArrowError> {
    if n <= 1 || keys.is_empty() {
        return Ok(vec![0; rows]);
    }
    // Dictionary keys hash as their values do, so a key lands in one bucket however each
    // partition happens to hold it.
    let decoded = keys
        .iter()
        .map(|k| match k.data_type() {
            DataType::Dictionary(_, v) => arrow_cast::cast(k, v),
            _ => Ok(k.clone()),
        })
        .collect::<Result<Vec<_>, _>>()?;
    let keys = decoded.as_slice();
    let of = |h: u64| (h % n as u64) as u32;
    let valid = |i: usize| keys.iter().all(|k| k.is_valid(i));
    Ok(match (keys.len(), keys[0].data_type()) {
        (1, DataType::Int64) => {
            let a = keys[0].as_primitive::<Int64Type>();
            (0..rows)
                .map(|i| match a.is_valid(i) {
                    true => of(xxh3_64(&a.value(i).to_le_bytes())),
                    false => 0,
                })
                .collect()
        }
        (1, DataType::Utf8) => {
            let a = keys[0].as_string::<i32>();
            (0..rows)
                .map(|i| match a.is_valid(i) {
                    true => of(xxh3_64(a.value(i).as_bytes())),
                    false => 0,
                })
                .collect()
        }
        (_, _)
            if keys
                .iter()
                .all(|k| matches!(k.data_type(), DataType::Int64 | DataType::Utf8)) =>
        {
            // Composite keys of integers and strings: the columns' hashes combined row by
            // row, without encoding the rows.
            let mut hs = vec![0u64; rows];
            for k in keys {
                let mut mix = |i: usize, x: u64| {
                    hs[i] = (hs[i].rotate_left(23) ^ x).wrapping_mul(0x9E37_79B9_7F4A_7C15);
                };
                if let Some(a) = k.as_primitive_opt::<Int64Type>() {
                    (0..rows).for_each(|i| mix(i, xxh3_64(&a.value(i).to_le_bytes())));
                } else {
                    let a = k.as_string::<i32>();
                    (0..rows).for_each(|i| mix(i, xxh3_64(a.value(i).as_bytes())));
                }
            }
            hs.iter()
                .enumerate()
                .map(|(i, h)| if valid(i) { of(*h) } else { 0 })
                .collect()
        }
        _ => {
            let fields = keys
                .iter()
                .map(|k| arrow_row::SortField::new(k.data_type().clone()))
                .collect();
            let rows_ = arrow_row::RowConverter::new(fields)?.convert_columns(keys)?;
            (0..rows)
                .map(|i| match valid(i) {
                    true => of(xxh3_64(rows_.row(i).as_ref())),
                    false => 0,
                })
                .collect()
        }
    })
}

/// A row converter for the columns `cols` sorted as `by` says (nulls last): its rows compare
/// in sort order.
pub(super) fn sort_converter(
    cols: &[ArrayRef],
    by: &[(String, bool)],
) -> Result<arrow_row::RowConverter, ArrowError> {
    arrow_row::RowConverter::new(
        cols.iter()
            .zip(by)
            .map(|(c, (_, desc))| {
                let opts = SortOptions {
                    descending: *desc,
                    nulls_first: false,
                };
                arrow_row::SortField::new_with_options(c.data_type().clone(), opts)
            })
            .collect(),
    )
}

/// The bucket of every row of `batch` given range `bounds` (a batch of the sort columns).
pub fn range_buckets(
    batch: &RecordBatch,
    by: &[(String, bool)],
    bounds: &RecordBatch,
) -> Result<Vec<u32>, ArrowError> {
    let cols: Vec<ArrayRef> = by
        .iter()
        .map(|(c, _)| column(batch, c))
        .collect::<Result<_, _>>()?;
    let bcols: Vec<ArrayRef> = by
        .iter()
        .map(|(c, _)| column(bounds, c))
        .collect::<Result<_, _>>()?;
    let bcols = bcols
        .iter()
        .zip(&cols)
        .map(|(b, c)| arrow_cast::cast(b, c.data_type()))
        .collect::<Result<Vec<_>, _>>()?;
    let conv = sort_converter(&cols, by)?;
    let rows = conv.convert_columns(&cols)?;
    let brows = conv.convert_columns(&bcols)?;
    let b: Vec<arrow_row::Row<'_>> = brows.iter().collect();
    Ok(rows
        .iter()
        .map(|r| b.partition_point(|x| *x <= r) as u32)
        .collect())
}

/// `batch` cut into `n` batches by bucket id, each keeping the rows' order.
pub fn split_batch(
    batch: &RecordBatch,
    ids: &[u32],
    n: u32,
) -> Result<Vec<RecordBatch>, ArrowError> {
    let mut idx: Vec<Vec<u32>> = vec![Vec::new(); n as usize];
    for (i, b) in ids.iter().enumerate() {
        idx[*b as usize].push(i as u32);
    }
    idx.into_iter()
        .map(|ix| match ix.len() == batch.num_rows() {
            true => Ok(batch.clone()),
            false => arrow_select::take::take_record_batch(batch, &UInt32Array::from(ix)),
        })
        .collect()
}

/// The bucket of every row of `batch` under `by` (range bounds already decoded).
fn buckets_of(
    batch: &RecordBatch,
    by: &SplitBy,
    bounds: Option<&RecordBatch>,
    key_count: Option<usize>,
    n: u32,
) -> Result<Vec<u32>, ArrowError> {
    match (by, bounds) {
        (SplitBy::Range { by, .. }, Some(b)) => range_buckets(batch, by, b),
        (SplitBy::Hash(keys), _) => {
            let cols = match key_count {
                // Partial tables: the keys are the leading columns, under their own names.
                Some(k) => batch.columns()[..k].to_vec(),
                None if keys.is_empty() => {
                    // No keys: contiguous, even slices of the rows.
                    let rows = batch.num_rows().max(1) as u64;
                    return Ok((0..batch.num_rows() as u64)
                        .map(|i| (i * n as u64 / rows) as u32)
                        .collect());
                }
                None => keys
                    .iter()
                    .map(|c| column(batch, c))
                    .collect::<Result<_, _>>()?,
            };
            hash_buckets(&cols, batch.num_rows(), n)
        }
        (SplitBy::Range { .. }, None) => Err(ArrowError::InvalidArgumentError(
            "range split without bounds".into(),
        )),
    }
}

/// Cuts a frame into `n` frames.
pub fn split_frame(frame: &Frame, spec: &SplitSpec) -> Result<Vec<Frame>, ArrowError> {
    let bounds = match &spec.by {
        SplitBy::Range { bounds, .. } => Some(read_ipc(bounds)?.concat()?),
        SplitBy::Hash(_) => None,
    };
    let mut out: Vec<Frame> = (0..spec.n)
        .map(|_| Frame::new(frame.schema.clone(), vec![]))
        .collect();
    for b in &frame.batches {
        let ids = buckets_of(b, &spec.by, bounds.as_ref(), None, spec.n)?;
        for (o, piece) in out.iter_mut().zip(split_batch(b, &ids, spec.n)?) {
            if piece.num_rows() > 0 {
                o.batches.push(piece);
            }
        }
    }
    Ok(out)
}

/// Cuts a partial aggregate into `n` partials by the hash of its `nkeys` leading columns.
pub fn split_partial(p: &Partial, nkeys: usize, n: u32) -> Result<Vec<Partial>, ArrowError> {
    let by = SplitBy::Hash(vec![]);
    let cut = |b: &RecordBatch| {
        let ids = buckets_of(b, &by, None, Some(nkeys), n)?;
        split_batch(b, &ids, n)
    };
    let states = cut(&p.states)?;
    let distinct = p.distinct.iter().map(cut).collect::<Result<Vec<_>, _>>()?;
    Ok(states
        .into_iter()
        .enumerate()
        .map(|(j, s)| Partial {
            states: s,
            distinct: distinct.iter().map(|d| d[j].clone()).collect(),
        })
        .collect())
}

fn encode<T: Serialize>(v: &T) -> InvokeResult {
    encode_value(v).map_err(|e| failed(format!("cannot encode: {e}")))
}

/// Runs a [`SplitSpec`] (`args[0]`) on its input (`args[1]`): a list of `n` encoded values,
/// each what the consumer of that bucket decodes (a frame or a partial).
pub fn run_split(args: &[Bytes]) -> InvokeResult {
    let spec: SplitSpec = decode_value(args.first().ok_or_else(|| bad_args("no split spec"))?)
        .map_err(|e| bad_args(format!("split spec does not decode: {e}")))?;
    let input = args.get(1).ok_or_else(|| bad_args("nothing to split"))?;
    let buckets: Vec<Bytes> = match spec.payload {
        Payload::Frame => split_frame(&decode_frame(input)?, &spec)
            .map_err(arrow_fail("split"))?
            .iter()
            .map(encode_frame)
            .collect::<Result<_, _>>()?,
        Payload::Partial => {
            let nkeys = match &spec.by {
                SplitBy::Hash(keys) => keys.len(),
                SplitBy::Range { .. } => return Err(bad_args("partials split by hash only")),
            };
            split_partial(&decode_partial(input)?, nkeys, spec.n)
                .map_err(arrow_fail("split"))?
                .iter()
                .map(encode_partial)
                .collect::<Result<_, _>>()?
        }
    };
    let bufs: Vec<&serde_bytes::Bytes> =
        buckets.iter().map(|b| serde_bytes::Bytes::new(b)).collect();
    encode(&bufs)
}

/// Bucket `args[0]` (a `u32`) of a split (`args[1]`), as the encoded value it holds.
pub fn run_pick(args: &[Bytes]) -> InvokeResult {
    let j: u32 = decode_value(args.first().ok_or_else(|| bad_args("no bucket number"))?)
        .map_err(|e| bad_args(format!("bucket number does not decode: {e}")))?;
    let split = args.get(1).ok_or_else(|| bad_args("no split"))?;
    let all: Vec<&serde_bytes::Bytes> = postcard::from_bytes(split)
        .map_err(|e| bad_args(format!("a split does not decode: {e}")))?;
    let b = all
        .get(j as usize)
        .ok_or_else(|| bad_args(format!("a split has no bucket {j}")))?;
    Ok(split.slice_ref(b))
}

/// Concatenates the frames `args[1..]` into one partition, then sorts it by the columns in
/// `args[0]` (a `Vec<(String, bool)>`, `true`: descending, nulls last; empty: no sort).
pub fn run_concat(args: &[Bytes]) -> InvokeResult {
    let by: Vec<(String, bool)> = decode_value(args.first().ok_or_else(|| bad_args("no sort"))?)
        .map_err(|e| bad_args(format!("sort columns do not decode: {e}")))?;
    let frames = args[1..]
        .iter()
        .map(decode_frame)
        .collect::<Result<Vec<_>, _>>()?;
    let schema = frames
        .first()
        .map(|f| f.schema.clone())
        .ok_or_else(|| bad_args("nothing to concatenate"))?;
    let frame = Frame::new(schema, frames.into_iter().flat_map(|f| f.batches).collect());
    if by.is_empty() {
        return encode_frame(&frame);
    }
    let sorted =
        super::ops::apply(&[super::ops::Op::Sort(by)], frame).map_err(arrow_fail("sort"))?;
    encode_frame(&sorted)
}

/// The tasks of a shuffle: for each output bucket, its pick keys (one per input key).
pub(super) fn shuffle_keys(
    g: &mut Graph,
    inputs: &[Key],
    spec: &SplitSpec,
) -> Result<Vec<Vec<Key>>> {
    let value = encode_value(spec)?;
    let mut buckets = vec![Vec::with_capacity(inputs.len()); spec.n as usize];
    for k in inputs {
        let split = g.insert(Task::new(
            "shuffle-split",
            SHUFFLE_SPLIT,
            vec![Arg::Value(value.clone()), Arg::Key(k.clone())],
        ));
        for (j, b) in buckets.iter_mut().enumerate() {
            let pick = Task::new(
                "shuffle-pick",
                SHUFFLE_PICK,
                vec![
                    Arg::Value(encode_value(&(j as u32))?),
                    Arg::Key(split.clone()),
                ],
            );
            b.push(g.insert(pick));
        }
    }
    Ok(buckets)
}

/// One concatenating task per bucket: the partitions of the shuffled dataframe.
pub(super) fn concat_buckets(
    g: &mut Graph,
    buckets: Vec<Vec<Key>>,
    sort: &[(String, bool)],
) -> Result<Vec<Key>> {
    let value = encode_value(&sort.to_vec())?;
    Ok(buckets
        .into_iter()
        .map(|picks| {
            let mut args = vec![Arg::Value(value.clone())];
            args.extend(picks.into_iter().map(Arg::Key));
            g.insert(Task::new("shuffle-concat", SHUFFLE_CONCAT, args))
        })
        .collect())
}

/// The IPC stream of a batch (for range bounds).
pub(super) fn batch_ipc(b: &RecordBatch) -> Result<ByteBuf> {
    Ok(ByteBuf::from(write_ipc(&Frame::new(
        b.schema(),
        vec![b.clone()],
    ))?))
}

impl DataFrame {
    /// `n` partitions holding the rows hashed by `keys` (all rows with equal keys in one
    /// partition; rows keep their order within each input partition). Without keys, each
    /// input partition is cut into `n` even, contiguous slices and slice `j` of every input
    /// goes to output `j`. Rows move worker to worker, never through the client.
    pub fn repartition(&self, n: usize, keys: &[&str]) -> Result<DataFrame> {
        if n == 0 {
            return Err(Error::Invalid("repartition into 0 partitions".into()));
        }
        let keys: Vec<String> = keys.iter().map(|s| s.to_string()).collect();
        for k in &keys {
            self.schema
                .index_of(k)
                .map_err(|_| Error::Invalid(format!("no column named {k} to repartition by")))?;
        }
        let spec = SplitSpec {
            by: SplitBy::Hash(keys),
            n: n as u32,
            payload: Payload::Frame,
        };
        let (mut g, inputs) = self.materialized()?;
        let buckets = shuffle_keys(&mut g, &inputs, &spec)?;
        let parts = concat_buckets(&mut g, buckets, &[])?;
        Ok(self.with_parts(g, parts))
    }

    /// A dataframe of this schema and options whose partitions are `keys` of `graph`.
    pub(super) fn with_parts(&self, graph: Graph, keys: Vec<Key>) -> DataFrame {
        let mut df = DataFrame::new(
            graph,
            keys.into_iter().map(Part::Key).collect(),
            self.schema(),
        );
        df.split_every = self.split_every;
        df
    }
}
