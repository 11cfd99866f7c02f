//! `describe`: count, mean, std, min, quartiles and max of every numeric column, like
//! pandas'.
//!
//! Each partition reports, per column, its count, mean and sum of squared deviations (merged
//! with Chan's parallel formulas, which stay accurate where sums of squares cancel), minimum,
//! maximum and a sketch: up to 1024 of its sorted non-null values at evenly spaced ranks.
//! When every partition's sketch holds all its values the quartiles are exact (pandas'
//! linear interpolation); otherwise they are approximate: a weighted quantile of the
//! sketches, off by at most about 1/1024 of each partition's rows in rank.

use super::ipc::{decode_frame, encode_frame, Fail, Frame};
use super::{DataFrame, Part};
use crate::graph::Task;
use crate::raw::{bad_args, failed};
use crate::{Error, Result};
use arrow_array::cast::AsArray;
use arrow_array::types::Float64Type;
use arrow_array::{ArrayRef, Float64Array, RecordBatch, StringArray};
use arrow_schema::{ArrowError, DataType, Field, Schema, SchemaRef};
use bytes::Bytes;
use rask_actors::worker::registry::InvokeResult;
use rask_protocol::{decode_value, encode_value, Arg};
use serde::{Deserialize, Serialize};
use std::sync::Arc;

crate::raw_task! {
    /// Registered name of the per-partition step of `describe`.
    pub const DESCRIBE_PART = "rask_collections::dataframe::describe_part" => run_part
}

crate::raw_task! {
    /// Registered name of the final step of `describe`.
    pub const DESCRIBE_FINISH = "rask_collections::dataframe::describe_finish" => run_finish
}

/// Sketch size per partition and column.
const SKETCH: usize = 1024;

/// The row names of a description, in order.
pub const STATISTICS: [&str; 8] = ["count", "mean", "std", "min", "25%", "50%", "75%", "max"];

/// One column's summary of one or more partitions.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    /// Non-null values.
    pub count: u64,
    /// Their mean.
    pub mean: f64,
    /// Sum of squared deviations from the mean.
    pub m2: f64,
    /// Least value (`+∞` for none).
    pub min: f64,
    /// Greatest value (`-∞` for none).
    pub max: f64,
    /// Sorted values at evenly spaced ranks, each standing for `count / len` values.
    pub sketch: Vec<f64>,
}

/// The summary of one column (cast to `f64`; nulls and NaNs skipped).
pub fn summarize(a: &ArrayRef) -> Result<Summary, ArrowError> {
    let f = arrow_cast::cast(a, &DataType::Float64)?;
    let mut v: Vec<f64> = f
        .as_primitive::<Float64Type>()
        .iter()
        .flatten()
        .filter(|x| !x.is_nan())
        .collect();
    v.sort_unstable_by(f64::total_cmp);
    let n = v.len();
    let mean = v.iter().sum::<f64>() / n.max(1) as f64;
    let m2 = v.iter().map(|x| (x - mean) * (x - mean)).sum();
    let k = n.min(SKETCH);
    let sketch = match k {
        0 | 1 => v.iter().take(k).copied().collect(),
        _ => (0..k).map(|i| v[i * (n - 1) / (k - 1)]).collect(),
    };
    Ok(Summary {
        count: n as u64,
        mean,
        m2,
        min: v.first().copied().unwrap_or(f64::INFINITY),
        max: v.last().copied().unwrap_or(f64::NEG_INFINITY),
        sketch,
    })
}

/// Linear interpolation at rank `q · (n − 1)` of sorted values (pandas' default).
fn interpolate(v: &[f64], q: f64) -> f64 {
    let pos = q * (v.len() - 1) as f64;
    let (lo, hi) = (pos.floor() as usize, pos.ceil() as usize);
    v[lo] + (v[hi] - v[lo]) * (pos - lo as f64)
}

/// The eight statistics of a column from its partitions' summaries (NaN where undefined).
pub fn merge(parts: &[Summary]) -> [f64; 8] {
    let (mut n, mut mean, mut m2) = (0f64, 0f64, 0f64);
    let (mut min, mut max) = (f64::INFINITY, f64::NEG_INFINITY);
    for p in parts.iter().filter(|p| p.count > 0) {
        let pn = p.count as f64;
        let total = n + pn;
        let delta = p.mean - mean;
        mean += delta * pn / total;
        m2 += p.m2 + delta * delta * n * pn / total;
        n = total;
        min = min.min(p.min);
        max = max.max(p.max);
    }
    if n == 0.0 {
        let mut out = [f64::NAN; 8];
        out[0] = 0.0;
        return out;
    }
    let std = if n > 1.0 {
        (m2 / (n - 1.0)).sqrt()
    } else {
        f64::NAN
    };
    let exact = parts.iter().all(|p| p.sketch.len() as u64 == p.count);
    let quartile = |q: f64| -> f64 {
        if exact {
            let mut v: Vec<f64> = parts
                .iter()
                .flat_map(|p| p.sketch.iter().copied())
                .collect();
            v.sort_unstable_by(f64::total_cmp);
            return interpolate(&v, q);
        }
        let mut w: Vec<(f64, f64)> = parts
            .iter()
            .filter(|p| !p.sketch.is_empty())
            .flat_map(|p| {
                let each = p.count as f64 / p.sketch.len() as f64;
                p.sketch.iter().map(move |x| (*x, each))
            })
            .collect();
        w.sort_unstable_by(|a, b| a.0.total_cmp(&b.0));
        let target = q * n;
        let mut acc = 0.0;
        for (x, weight) in &w {
            acc += weight;
            if acc >= target {
                return *x;
            }
        }
        max
    };
    [
        n,
        mean,
        std,
        min,
        quartile(0.25),
        quartile(0.5),
        quartile(0.75),
        max,
    ]
}

/// The numeric columns of a schema (booleans excluded, as in pandas).
pub fn numeric_columns(schema: &Schema) -> Vec<String> {
    schema
        .fields()
        .iter()
        .filter(|f| f.data_type().is_numeric())
        .map(|f| f.name().clone())
        .collect()
}

fn description_schema(columns: &[String]) -> SchemaRef {
    let mut fields = vec![Field::new("statistic", DataType::Utf8, false)];
    fields.extend(
        columns
            .iter()
            .map(|c| Field::new(c, DataType::Float64, true)),
    );
    Arc::new(Schema::new(fields))
}

/// Summaries (`Vec<Summary>`, one per column in `args[0]`) of the partition `args[1]`.
pub fn run_part(args: &[Bytes]) -> InvokeResult {
    let columns: Vec<String> = decode_value(args.first().ok_or_else(|| bad_args("no columns"))?)
        .map_err(|e| bad_args(format!("describe columns do not decode: {e}")))?;
    let frame = decode_frame(args.get(1).ok_or_else(|| bad_args("no partition"))?)?;
    let fail = |e: ArrowError| -> Fail { failed(format!("describe: {e}")) };
    let batch = frame.concat().map_err(fail)?;
    let sums = columns
        .iter()
        .map(|c| {
            let a = batch
                .column_by_name(c)
                .ok_or_else(|| failed(format!("describe: no column named {c}")))?;
            summarize(a).map_err(fail)
        })
        .collect::<Result<Vec<_>, Fail>>()?;
    encode_value(&sums).map_err(|e| failed(format!("cannot encode: {e}")))
}

/// The description (a frame: `statistic`, then one `f64` column per column in `args[0]`)
/// from the partitions' summaries `args[1..]`.
pub fn run_finish(args: &[Bytes]) -> InvokeResult {
    let columns: Vec<String> = decode_value(args.first().ok_or_else(|| bad_args("no columns"))?)
        .map_err(|e| bad_args(format!("describe columns do not decode: {e}")))?;
    let parts = args[1..]
        .iter()
        .map(|a| decode_value::<Vec<Summary>>(a))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| bad_args(format!("a summary does not decode: {e}")))?;
    let mut cols: Vec<ArrayRef> = vec![Arc::new(StringArray::from(STATISTICS.to_vec()))];
    for c in 0..columns.len() {
        let of_column: Vec<Summary> = parts.iter().map(|p| p[c].clone()).collect();
        let stats = merge(&of_column);
        cols.push(Arc::new(
            stats
                .iter()
                .map(|x| (!x.is_nan()).then_some(*x))
                .collect::<Float64Array>(),
        ));
    }
    let out = RecordBatch::try_new(description_schema(&columns), cols)
        .map_err(|e| failed(format!("describe: {e}")))?;
    encode_frame(&Frame::new(out.schema(), vec![out]))
}

impl DataFrame {
    /// count, mean, std (ddof 1), min, 25%, 50%, 75% and max of every numeric column, as a
    /// one-partition dataframe: a `statistic` column naming the rows, then one `f64` column
    /// per numeric column (null where undefined, e.g. the mean of no values). Quartiles are
    /// exact for up to 1024 values per partition and approximate beyond (see the
    /// [module docs](self)).
    pub fn describe(&self) -> Result<DataFrame> {
        let columns = numeric_columns(&self.schema);
        if columns.is_empty() {
            return Err(Error::Invalid("describe needs a numeric column".into()));
        }
        let value = encode_value(&columns)?;
        let (mut g, inputs) = self.materialized()?;
        let mut args = vec![Arg::Value(value.clone())];
        for k in inputs {
            let part_args = vec![Arg::Value(value.clone()), Arg::Key(k)];
            args.push(Arg::Key(g.insert(Task::new(
                "describe-part",
                DESCRIBE_PART,
                part_args,
            ))));
        }
        let key = g.insert(Task::new("describe", DESCRIBE_FINISH, args));
        let mut df = DataFrame::new(g, vec![Part::Key(key)], description_schema(&columns));
        df.split_every = self.split_every;
        Ok(df)
    }
}
