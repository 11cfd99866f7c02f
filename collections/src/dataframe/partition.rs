//! The built-in tasks of dataframes: reading a partition, applying its operations and
//! feeding a sink (the partition itself, a partial aggregate, a file, a row count); and the
//! combine step of grouped aggregations.

use super::agg::{self, AggSpec, Partial};
use super::ipc::{
    decode_borrowed, decode_frame, encode_frame, encode_table_list, read_ipc, read_ipc_shared,
    write_ipc, Fail, Frame,
};
use super::ops::{self, Op};
use super::{csv, parquet};
use crate::raw::{bad_args, failed};
use crate::storage::StorageOptions;
use arrow_array::RecordBatch;
use arrow_schema::DataType;
use bytes::Bytes;
use rask_actors::worker::registry::InvokeResult;
use rask_protocol::{decode_value, encode_value};
use serde::{Deserialize, Serialize};
use serde_bytes::ByteBuf;

crate::raw_task! {
    /// Registered name of the dataframe partition task.
    pub const PARTITION = "rask_collections::dataframe::partition" => run_partition
}

crate::raw_task! {
    /// Registered name of the combine step of grouped aggregations.
    pub const AGG_COMBINE = "rask_collections::dataframe::agg_combine" => run_combine
}

/// Where a partition comes from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Source {
    /// The task's second argument, an encoded partition.
    Dependency,
    /// An Arrow IPC stream carried in the plan.
    Inline(ByteBuf),
    /// A block of a CSV file.
    Csv(csv::CsvBlock),
    /// Row groups of a Parquet file.
    Parquet(parquet::ParquetPiece),
}

/// What a partition task produces.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Sink {
    /// The partition (an encoded frame).
    Frame,
    /// The partial aggregate (see [`encode_partial`]).
    Partial(AggSpec),
    /// A Parquet file at this path, written with these storage settings; the result is the
    /// path.
    Parquet(String, StorageOptions),
    /// A CSV file; the result is the path.
    Csv {
        /// Where.
        path: String,
        /// Write a header line.
        header: bool,
        /// Field delimiter.
        delimiter: u8,
        /// Storage settings of the output.
        storage: StorageOptions,
    },
    /// The number of rows (`u64`).
    Rows,
}

/// Everything a partition task does.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PartitionPlan {
    /// Partition number (for messages).
    pub index: u64,
    /// Where the rows come from.
    pub source: Source,
    /// Operations, in order.
    pub ops: Vec<Op>,
    /// What to make of the result.
    pub sink: Sink,
}

/// A combine step of a grouped aggregation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CombineSpec {
    /// The aggregation.
    pub spec: AggSpec,
    /// Input column types, by aggregate.
    pub types: Vec<DataType>,
    /// Root of the tree: produce the final result (an encoded frame).
    pub root: bool,
}

fn arrow_fail(what: &str) -> impl Fn(arrow_schema::ArrowError) -> Fail + '_ {
    move |e| failed(format!("{what}: {e}"))
}

fn encode<T: Serialize>(v: &T) -> InvokeResult {
    encode_value(v).map_err(|e| failed(format!("cannot encode: {e}")))
}

/// A partial aggregate as a task result: the IPC streams of its tables.
pub fn encode_partial(p: &Partial) -> InvokeResult {
    if p.distinct.is_empty() {
        // The common case, one table: written in place, never copied.
        return encode_table_list(&Frame::new(p.states.schema(), vec![p.states.clone()]));
    }
    let tables = std::iter::once(&p.states)
        .chain(&p.distinct)
        .map(|b| {
            write_ipc(&Frame::new(b.schema(), vec![b.clone()]))
                .map(ByteBuf::from)
                .map_err(arrow_fail("partial"))
        })
        .collect::<Result<Vec<_>, _>>()?;
    encode(&tables)
}

fn one_batch(bytes: Bytes) -> Result<RecordBatch, Fail> {
    read_ipc_shared(bytes)
        .and_then(|f| f.concat())
        .map_err(|e| bad_args(format!("a partial is not Arrow IPC: {e}")))
}

/// A partial aggregate from a task argument made by [`encode_partial`]; its arrays point
/// into `bytes`.
pub fn decode_partial(bytes: &Bytes) -> Result<Partial, Fail> {
    let tables: Vec<&serde_bytes::Bytes> = decode_borrowed(bytes, "a partial")?;
    let (first, rest) = tables
        .split_first()
        .ok_or_else(|| bad_args("an empty partial"))?;
    Ok(Partial {
        states: one_batch(bytes.slice_ref(first))?,
        distinct: rest
            .iter()
            .map(|t| one_batch(bytes.slice_ref(t)))
            .collect::<Result<_, _>>()?,
    })
}

/// The key columns of a group-by fed straight from its source (no operations between) and
/// not aggregated themselves (beyond counting): string ones may be read as dictionary arrays.
fn coded_keys(plan: &PartitionPlan) -> Vec<String> {
    match &plan.sink {
        Sink::Partial(spec) if plan.ops.is_empty() => spec
            .keys
            .iter()
            .filter(|k| {
                spec.aggs.iter().all(|a| {
                    &a.column != *k || matches!(a.func, agg::AggFn::Size | agg::AggFn::Count)
                })
            })
            .cloned()
            .collect(),
        _ => Vec::new(),
    }
}

/// Runs a [`PartitionPlan`] (`args[0]`) on its dependency (`args[1]`, if any).
pub fn run_partition(args: &[Bytes]) -> InvokeResult {
    let plan: PartitionPlan = decode_value(args.first().ok_or_else(|| bad_args("no plan"))?)
        .map_err(|e| bad_args(format!("dataframe plan does not decode: {e}")))?;
    let frame = match &plan.source {
        Source::Dependency => {
            decode_frame(args.get(1).ok_or_else(|| bad_args("no input partition"))?)?
        }
        Source::Inline(ipc) => {
            read_ipc(ipc).map_err(|e| bad_args(format!("inline partition: {e}")))?
        }
        Source::Csv(b) => csv::read(b)?,
        Source::Parquet(p) => parquet::read(p, &coded_keys(&plan))?,
    };
    let what = format!("partition {}", plan.index);
    let frame = ops::apply(&plan.ops, frame).map_err(arrow_fail(&what))?;
    match &plan.sink {
        Sink::Frame => encode_frame(&frame),
        Sink::Partial(spec) => {
            encode_partial(&agg::partial(spec, &frame).map_err(arrow_fail(&what))?)
        }
        Sink::Parquet(path, storage) => encode(&parquet::write(&frame, path, storage)?),
        Sink::Csv {
            path,
            header,
            delimiter,
            storage,
        } => {
            let how = csv::CsvWrite {
                header: *header,
                delimiter: *delimiter,
                storage,
            };
            encode(&csv::write(&frame, path, how)?)
        }
        Sink::Rows => encode(&(frame.num_rows() as u64)),
    }
}

/// Merges partials (`args[1..]`) as the [`CombineSpec`] in `args[0]` says.
pub fn run_combine(args: &[Bytes]) -> InvokeResult {
    let spec: CombineSpec = decode_value(args.first().ok_or_else(|| bad_args("no spec"))?)
        .map_err(|e| bad_args(format!("combine spec does not decode: {e}")))?;
    let parts = args[1..]
        .iter()
        .map(decode_partial)
        .collect::<Result<Vec<_>, _>>()?;
    let merged = agg::combine(&spec.spec, &spec.types, &parts).map_err(arrow_fail("combine"))?;
    if !spec.root {
        return encode_partial(&merged);
    }
    let out = agg::finish(&spec.spec, &spec.types, &merged).map_err(arrow_fail("aggregate"))?;
    encode_frame(&Frame::new(out.schema(), vec![out]))
}
