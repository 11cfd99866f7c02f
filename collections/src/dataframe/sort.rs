//! `sort_values` and `set_index`: a global sort by sampled quantiles, range partitioning and
//! a local sort, like Dask's.
//!
//! ```text
//!  p0 p1 p2 ──sample──▶ sorted sample rows + weights ──▶ client: n − 1 bounds (quantiles)
//!  p0 p1 p2 ──split by range──▶ picks ──▶ concat + sort: partition j holds the rows from
//!                                          bound j − 1 (inclusive) to bound j (exclusive)
//! ```
//!
//! Computing the bounds runs the input once (so a dataframe read from files is read twice
//! unless persisted first, as in Dask). Rows with a null in a sort column sort last and land
//! in the last partition. Each partition's sample holds its exact first and last rows, so the
//! divisions' ends are the true minimum and maximum.

use super::ipc::{decode_frame, encode_frame, read_ipc, Fail, Frame};
use super::shuffle::{
    batch_ipc, concat_buckets, shuffle_keys, sort_converter, Payload, SplitBy, SplitSpec,
};
use super::{DataFrame, Outputs};
use crate::graph::{compute::compute_with, ComputeOptions, Task};
use crate::raw::{bad_args, failed};
use crate::{Error, Result};
use arrow_array::{ArrayRef, Float64Array, RecordBatch, UInt32Array};
use arrow_schema::{ArrowError, Field, Schema};
use bytes::Bytes;
use rask_actors::client::Client;
use rask_actors::worker::registry::InvokeResult;
use rask_protocol::{decode_value, encode_value, Arg};
use serde::{Deserialize, Serialize};
use serde_bytes::ByteBuf;
use std::sync::Arc;

crate::raw_task! {
    /// Registered name of the task sampling a partition's sort columns.
    pub const SORT_SAMPLE = "rask_collections::dataframe::sort_sample" => run_sample
}

/// Rows sampled per partition.
const SAMPLE: usize = 1000;
/// Name of the weight column of samples.
const WEIGHT: &str = "__weight";

/// A sorted dataframe's partition bounds (Dask's divisions).
#[derive(Debug, Clone, PartialEq)]
pub struct Divisions {
    /// The sort columns and directions (`true`: descending).
    pub by: Vec<(String, bool)>,
    /// `npartitions + 1` rows of the sort columns: partition `i` holds the rows sorting from
    /// row `i` (inclusive) to row `i + 1` (exclusive; inclusive for the last partition, which
    /// also holds the rows with nulls).
    pub bounds: RecordBatch,
}

/// What a sampling task does.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SampleSpec {
    /// Sort columns and directions.
    pub by: Vec<(String, bool)>,
    /// Rows to keep at most.
    pub size: u32,
}

fn sort_columns(b: &RecordBatch, by: &[(String, bool)]) -> Result<Vec<ArrayRef>, ArrowError> {
    by.iter()
        .map(|(c, _)| {
            b.column_by_name(c).cloned().ok_or_else(|| {
                ArrowError::InvalidArgumentError(format!("no column named {c} to sort by"))
            })
        })
        .collect()
}

/// Up to `size` rows of the sort columns at evenly spaced ranks of the rows without nulls
/// there (the first and last included), with a weight column: rows each sample row stands
/// for.
pub fn sample(batch: &RecordBatch, spec: &SampleSpec) -> Result<RecordBatch, ArrowError> {
    let cols = sort_columns(batch, &spec.by)?;
    let valid: Vec<u32> = (0..batch.num_rows())
        .filter(|i| cols.iter().all(|c| c.is_valid(*i)))
        .map(|i| i as u32)
        .collect();
    let cols: Vec<ArrayRef> = cols
        .iter()
        .map(|c| arrow_select::take::take(c.as_ref(), &UInt32Array::from(valid.clone()), None))
        .collect::<Result<_, _>>()?;
    let rows = sort_converter(&cols, &spec.by)?.convert_columns(&cols)?;
    let mut order: Vec<u32> = (0..valid.len() as u32).collect();
    order.sort_unstable_by(|a, b| rows.row(*a as usize).cmp(&rows.row(*b as usize)));
    let n = order.len();
    let k = n.min(spec.size.max(2) as usize);
    let picks: Vec<u32> = match k {
        0 => vec![],
        1 => vec![order[0]],
        _ => (0..k).map(|i| order[i * (n - 1) / (k - 1)]).collect(),
    };
    let idx = UInt32Array::from(picks);
    let mut fields: Vec<Field> = spec
        .by
        .iter()
        .zip(&cols)
        .map(|((name, _), c)| Field::new(name, c.data_type().clone(), true))
        .collect();
    let mut out: Vec<ArrayRef> = cols
        .iter()
        .map(|c| arrow_select::take::take(c.as_ref(), &idx, None))
        .collect::<Result<_, _>>()?;
    fields.push(Field::new(WEIGHT, arrow_schema::DataType::Float64, false));
    let w = if k == 0 { 0.0 } else { n as f64 / k as f64 };
    out.push(Arc::new(Float64Array::from(vec![w; k])));
    RecordBatch::try_new(Arc::new(Schema::new(fields)), out)
}

/// Samples the partition `args[1]` as the [`SampleSpec`] in `args[0]` says.
pub fn run_sample(args: &[Bytes]) -> InvokeResult {
    let spec: SampleSpec = decode_value(args.first().ok_or_else(|| bad_args("no sample spec"))?)
        .map_err(|e| bad_args(format!("sample spec does not decode: {e}")))?;
    let frame = decode_frame(args.get(1).ok_or_else(|| bad_args("no partition"))?)?;
    let fail = |e: ArrowError| -> Fail { failed(format!("sample: {e}")) };
    let s = sample(&frame.concat().map_err(fail)?, &spec).map_err(fail)?;
    encode_frame(&Frame::new(s.schema(), vec![s]))
}

/// From all samples (weighted rows): the bounds of `n` ranges of about equal weight, with
/// repeated bounds dropped, and the overall first and last sample rows.
pub fn bounds(
    samples: &RecordBatch,
    by: &[(String, bool)],
    n: usize,
) -> Result<(RecordBatch, RecordBatch), ArrowError> {
    let cols = sort_columns(samples, by)?;
    let weights = samples
        .column_by_name(WEIGHT)
        .and_then(|w| w.as_any().downcast_ref::<Float64Array>().cloned())
        .ok_or_else(|| ArrowError::InvalidArgumentError("samples without weights".into()))?;
    let rows = sort_converter(&cols, by)?.convert_columns(&cols)?;
    let mut order: Vec<usize> = (0..samples.num_rows()).collect();
    order.sort_by(|a, b| rows.row(*a).cmp(&rows.row(*b)));
    let total: f64 = weights.values().iter().sum();
    let mut picks: Vec<u32> = Vec::new();
    let (mut acc, mut next) = (0.0, 1);
    for &i in &order {
        acc += weights.value(i);
        while next < n && acc >= total * next as f64 / n as f64 {
            // A bound equal to the previous one, or to the least row, makes an empty range.
            let repeat = picks
                .last()
                .map(|p| *p as usize)
                .or(order.first().copied())
                .is_some_and(|p| rows.row(p) == rows.row(i));
            if !repeat {
                picks.push(i as u32);
            }
            next += 1;
        }
    }
    let project = |idx: Vec<u32>| -> Result<RecordBatch, ArrowError> {
        let idx = UInt32Array::from(idx);
        let names: Vec<usize> = by
            .iter()
            .map(|(c, _)| samples.schema().index_of(c))
            .collect::<Result<_, _>>()?;
        arrow_select::take::take_record_batch(&samples.project(&names)?, &idx)
    };
    let ends = match (order.first(), order.last()) {
        (Some(a), Some(b)) => vec![*a as u32, *b as u32],
        _ => vec![],
    };
    Ok((project(picks)?, project(ends)?))
}

impl DataFrame {
    /// The partition bounds, when this dataframe is known to be sorted (after
    /// [`sort_values`](Self::sort_values) or [`set_index`](Self::set_index), and row filters).
    pub fn divisions(&self) -> Option<&Divisions> {
        self.divisions.as_deref()
    }

    /// Sorts all rows by columns (`true`: descending; nulls last) into as many partitions as
    /// there are now (fewer when the sampled bounds repeat). Samples every partition first
    /// (on the cluster: only about 1000 rows per partition reach the client), then
    /// range-partitions worker to worker and sorts each partition. The result knows its
    /// [`divisions`](Self::divisions).
    pub async fn sort_values(&self, client: &Client, by: &[(&str, bool)]) -> Result<DataFrame> {
        let by: Vec<(String, bool)> = by.iter().map(|(c, d)| (c.to_string(), *d)).collect();
        if by.is_empty() {
            return Err(Error::Invalid(
                "sort_values needs at least one column".into(),
            ));
        }
        for (c, _) in &by {
            self.schema
                .index_of(c)
                .map_err(|_| Error::Invalid(format!("no column named {c} to sort by")))?;
        }
        let (mut g, inputs) = self.materialized()?;
        let value = encode_value(&SampleSpec {
            by: by.clone(),
            size: SAMPLE as u32,
        })?;
        let keys = inputs
            .iter()
            .map(|k| {
                let args = vec![Arg::Value(value.clone()), Arg::Key(k.clone())];
                g.insert(Task::new("sort-sample", SORT_SAMPLE, args))
            })
            .collect();
        let parts: Vec<ByteBuf> = compute_with(
            client,
            &Outputs::new(g.clone(), keys),
            ComputeOptions::default(),
        )
        .await?;
        let frames = parts
            .iter()
            .map(|p| read_ipc(p))
            .collect::<Result<Vec<_>, _>>()?;
        let schema = frames[0].schema.clone();
        let all = Frame::new(schema, frames.into_iter().flat_map(|f| f.batches).collect());
        let (cuts, ends) = bounds(&all.concat()?, &by, self.npartitions())?;
        let spec = SplitSpec {
            by: SplitBy::Range {
                by: by.clone(),
                bounds: batch_ipc(&cuts)?,
            },
            n: cuts.num_rows() as u32 + 1,
            payload: Payload::Frame,
        };
        let buckets = shuffle_keys(&mut g, &inputs, &spec)?;
        let parts = concat_buckets(&mut g, buckets, &by)?;
        let mut df = self.with_parts(g, parts);
        if ends.num_rows() == 2 {
            let bounds = arrow_select::concat::concat_batches(
                &cuts.schema(),
                &[ends.slice(0, 1), cuts, ends.slice(1, 1)],
            )?;
            df.divisions = Some(Arc::new(Divisions { by, bounds }));
        }
        Ok(df)
    }

    /// Sorts by one column, ascending, and records it as the index: the column stays in the
    /// frame (rask has no separate index), and [`divisions`](Self::divisions) gives its
    /// partition bounds.
    pub async fn set_index(&self, client: &Client, column: &str) -> Result<DataFrame> {
        self.sort_values(client, &[(column, false)]).await
    }
}
