//! The grouped-aggregation engine that runs on workers: group ids from key columns
//! ([`group_ids`], in its own module), per-group reductions of state columns, and the three
//! phases of a tree aggregation.
//!
//! ```text
//!  partition ──partial──▶ keys | state columns      (sum, count, sum of squares, min, max)
//!  partials ──combine──▶  keys | merged states      (sums add, minima take the least, …)
//!  root ──────finish──▶   keys | sum mean count min max std var nunique, sorted by keys
//! ```
//!
//! Rows whose key has a null are dropped (pandas' `dropna=True`). With no keys the whole frame
//! is one group, even when empty. `nunique` carries a table of distinct (keys, value) rows
//! beside the state columns.

use super::groupids::group_ids;
use super::ipc::Frame;
pub use super::keysort::sort_by_keys;
use arrow_array::cast::AsArray;
use arrow_array::types::{Float64Type, Int64Type};
use arrow_array::{Array, ArrayRef, Float64Array, Int64Array, RecordBatch, UInt32Array};
use arrow_schema::{ArrowError, DataType, Field, Schema, SchemaRef};
use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// An aggregation function.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum AggFn {
    /// Sum of non-null values (0 for none); Int64 for integer columns, else Float64.
    Sum,
    /// Mean of non-null values (null for none).
    Mean,
    /// Number of non-null values.
    Count,
    /// Number of rows (the column is ignored).
    Size,
    /// Least non-null value.
    Min,
    /// Greatest non-null value.
    Max,
    /// Sample standard deviation (ddof 1).
    Std,
    /// Sample variance (ddof 1).
    Var,
    /// Number of distinct non-null values.
    Nunique,
}

/// One output column: `func(column)` named `name`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Agg {
    /// Input column.
    pub column: String,
    /// Function.
    pub func: AggFn,
    /// Output column name.
    pub name: String,
}

/// A whole aggregation: group keys and output columns.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AggSpec {
    /// Key columns (none: one group).
    pub keys: Vec<String>,
    /// Output columns.
    pub aggs: Vec<Agg>,
}

/// How a state column merges.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Red {
    SumI,
    SumF,
    MinI,
    MaxI,
    MinF,
    MaxF,
    /// Raw states only: the sum, as `f64`, of an `Int64` column (each value converted
    /// first, as a cast column would be, without making the cast column).
    SumIAsF,
    /// Raw states only: the number of non-null values of the input column (of any type).
    CountValid,
    /// Raw states only: the number of rows.
    CountRows,
}

fn err(msg: impl Into<String>) -> ArrowError {
    ArrowError::InvalidArgumentError(msg.into())
}

fn column(batch: &RecordBatch, name: &str) -> Result<ArrayRef, ArrowError> {
    batch
        .column_by_name(name)
        .cloned()
        .ok_or_else(|| err(format!("no column named {name}")))
}

/// Non-null values (`CountValid`) or rows (`CountRows`) per group, counted straight from
/// the group ids: no column of ones is made.
fn count(ids: &[u32], ngroups: usize, input: &ArrayRef, red: Red) -> ArrayRef {
    let mut acc = vec![0i64; ngroups];
    match input.logical_nulls().filter(|_| red == Red::CountValid) {
        None => {
            for g in ids {
                if let Some(slot) = acc.get_mut(*g as usize) {
                    *slot += 1;
                }
            }
        }
        Some(valid) => {
            for (i, g) in ids.iter().enumerate() {
                if *g != u32::MAX && valid.is_valid(i) {
                    acc[*g as usize] += 1;
                }
            }
        }
    }
    Arc::new(Int64Array::from(acc))
}

fn reduce(ids: &[u32], ngroups: usize, input: &ArrayRef, red: Red) -> ArrayRef {
    macro_rules! fold {
        ($ty:ty, $init:expr, $f:expr, $out:ty) => {{
            let a = input.as_primitive::<$ty>();
            let mut acc = vec![$init; ngroups];
            if a.null_count() == 0 {
                for (g, v) in ids.iter().zip(a.values().iter()) {
                    if let Some(slot) = acc.get_mut(*g as usize) {
                        *slot = $f(*slot, *v);
                    }
                }
            } else {
                for (i, g) in ids.iter().enumerate() {
                    if *g != u32::MAX && a.is_valid(i) {
                        let slot = &mut acc[*g as usize];
                        *slot = $f(*slot, a.value(i));
                    }
                }
            }
            Arc::new(<$out>::from(acc)) as ArrayRef
        }};
    }
    match red {
        Red::SumI => fold!(
            Int64Type,
            0i64,
            |s: i64, v: i64| s.wrapping_add(v),
            Int64Array
        ),
        Red::SumF => fold!(Float64Type, 0f64, |s: f64, v: f64| s + v, Float64Array),
        Red::SumIAsF => fold!(Int64Type, 0f64, |s: f64, v: i64| s + v as f64, Float64Array),
        Red::MinI => fold!(
            Int64Type,
            None,
            |s: Option<i64>, v: i64| Some(s.map_or(v, |s| s.min(v))),
            Int64Array
        ),
        Red::MaxI => fold!(
            Int64Type,
            None,
            |s: Option<i64>, v: i64| Some(s.map_or(v, |s| s.max(v))),
            Int64Array
        ),
        Red::MinF => fold!(
            Float64Type,
            None,
            |s: Option<f64>, v: f64| Some(s.map_or(v, |s| s.min(v))),
            Float64Array
        ),
        Red::MaxF => fold!(
            Float64Type,
            None,
            |s: Option<f64>, v: f64| Some(s.map_or(v, |s| s.max(v))),
            Float64Array
        ),
        Red::CountValid | Red::CountRows => count(ids, ngroups, input, red),
    }
}

fn cast(a: &ArrayRef, t: &DataType) -> Result<ArrayRef, ArrowError> {
    arrow_cast::cast(a, t)
}

/// The state columns of one aggregate, computed from the raw input column: (array to reduce,
/// merge kind).
fn raw_states(agg: &Agg, input: &ArrayRef) -> Result<Vec<(ArrayRef, Red)>, ArrowError> {
    let t = input.data_type();
    let int = t.is_integer() || t == &DataType::Boolean;
    let numeric = || {
        if int || t.is_floating() || t.is_null() {
            Ok(())
        } else {
            Err(err(format!(
                "{:?} of column {} needs numbers, not {t}",
                agg.func, agg.column
            )))
        }
    };
    let f = || cast(input, &DataType::Float64);
    Ok(match agg.func {
        AggFn::Sum | AggFn::Min | AggFn::Max => {
            numeric()?;
            let (a, kinds) = if int {
                (
                    cast(input, &DataType::Int64)?,
                    [Red::SumI, Red::MinI, Red::MaxI],
                )
            } else {
                (f()?, [Red::SumF, Red::MinF, Red::MaxF])
            };
            let k = match agg.func {
                AggFn::Sum => kinds[0],
                AggFn::Min => kinds[1],
                _ => kinds[2],
            };
            vec![(a, k)]
        }
        AggFn::Count => vec![(input.clone(), Red::CountValid)],
        AggFn::Size => vec![(input.clone(), Red::CountRows)],
        AggFn::Mean => {
            numeric()?;
            let sum = match t {
                DataType::Int64 => (input.clone(), Red::SumIAsF),
                _ => (f()?, Red::SumF),
            };
            vec![sum, (input.clone(), Red::CountValid)]
        }
        AggFn::Std | AggFn::Var => {
            numeric()?;
            let v = f()?;
            let sq = arrow_arith::numeric::mul(&v, &v)?;
            vec![
                (v, Red::SumF),
                (sq, Red::SumF),
                (input.clone(), Red::CountValid),
            ]
        }
        AggFn::Nunique => vec![],
    })
}

/// The merge kinds of an aggregate's state columns, given the input column's type.
fn merge_kinds(agg: &Agg, t: &DataType) -> Vec<Red> {
    let int = t.is_integer() || t == &DataType::Boolean;
    match agg.func {
        AggFn::Sum if int => vec![Red::SumI],
        AggFn::Sum => vec![Red::SumF],
        AggFn::Min if int => vec![Red::MinI],
        AggFn::Min => vec![Red::MinF],
        AggFn::Max if int => vec![Red::MaxI],
        AggFn::Max => vec![Red::MaxF],
        AggFn::Count | AggFn::Size => vec![Red::SumI],
        AggFn::Mean => vec![Red::SumF, Red::SumI],
        AggFn::Std | AggFn::Var => vec![Red::SumF, Red::SumF, Red::SumI],
        AggFn::Nunique => vec![],
    }
}

/// A partial: keys and state columns, plus one distinct table per `nunique`.
#[derive(Debug, Clone)]
pub struct Partial {
    /// Keys then state columns (`__s0`, `__s1`, …).
    pub states: RecordBatch,
    /// Distinct (keys, value) rows, one table per `nunique` aggregate, in order.
    pub distinct: Vec<RecordBatch>,
}

/// Key columns, group id per row, first row per group.
type Grouped = (Vec<ArrayRef>, Vec<u32>, Vec<u32>);

fn grouped(batch: &RecordBatch, keys: &[String]) -> Result<Grouped, ArrowError> {
    let k: Vec<ArrayRef> = keys
        .iter()
        .map(|n| column(batch, n))
        .collect::<Result<_, _>>()?;
    let (ids, firsts) = group_ids(&k, batch.num_rows())?;
    Ok((k, ids, firsts))
}

fn build(
    keys: &[String],
    key_cols: &[ArrayRef],
    firsts: &[u32],
    states: Vec<ArrayRef>,
) -> Result<RecordBatch, ArrowError> {
    let idx = UInt32Array::from(firsts.to_vec());
    let mut fields = Vec::new();
    let mut cols = Vec::new();
    for (name, k) in keys.iter().zip(key_cols) {
        fields.push(Field::new(name, k.data_type().clone(), true));
        cols.push(arrow_select::take::take(k.as_ref(), &idx, None)?);
    }
    for (i, s) in states.into_iter().enumerate() {
        fields.push(Field::new(format!("__s{i}"), s.data_type().clone(), true));
        cols.push(s);
    }
    let opts = arrow_array::RecordBatchOptions::new().with_row_count(Some(firsts.len()));
    RecordBatch::try_new_with_options(Arc::new(Schema::new(fields)), cols, &opts)
}

/// Distinct rows of `cols` of `batch` whose values are all non-null.
fn distinct(batch: &RecordBatch, cols: &[String]) -> Result<RecordBatch, ArrowError> {
    let (k, _, firsts) = grouped(batch, cols)?;
    build(cols, &k, &firsts, vec![])
}

fn nunique_cols(spec: &AggSpec, agg: &Agg) -> Vec<String> {
    let mut c = spec.keys.clone();
    c.push(agg.column.clone());
    c
}

/// The partial aggregate of one partition.
pub fn partial(spec: &AggSpec, frame: &Frame) -> Result<Partial, ArrowError> {
    let batch = frame.concat()?;
    let (k, ids, firsts) = grouped(&batch, &spec.keys)?;
    let mut states = Vec::new();
    let mut distinct_tables = Vec::new();
    // Counts of columns without nulls are the group sizes: counted once, shared.
    let mut sizes: Option<ArrayRef> = None;
    for agg in &spec.aggs {
        let input = column(&batch, &agg.column)?;
        for (a, red) in raw_states(agg, &input)? {
            let all_rows = red == Red::CountRows
                || (red == Red::CountValid
                    && a.logical_nulls().is_none_or(|n| n.null_count() == 0));
            let state = match all_rows {
                true => sizes
                    .get_or_insert_with(|| reduce(&ids, firsts.len(), &a, Red::CountRows))
                    .clone(),
                false => reduce(&ids, firsts.len(), &a, red),
            };
            states.push(state);
        }
        if agg.func == AggFn::Nunique {
            distinct_tables.push(distinct(&batch, &nunique_cols(spec, agg))?);
        }
    }
    Ok(Partial {
        states: build(&spec.keys, &k, &firsts, states)?,
        distinct: distinct_tables,
    })
}

/// `batch` with its first `nk` columns (keys) decoded where they are dictionary arrays.
fn plain_keys(batch: &RecordBatch, nk: usize) -> Result<RecordBatch, ArrowError> {
    let schema = batch.schema();
    if !schema.fields()[..nk]
        .iter()
        .any(|f| matches!(f.data_type(), DataType::Dictionary(..)))
    {
        return Ok(batch.clone());
    }
    let mut fields = Vec::new();
    let mut cols = Vec::new();
    for (i, (f, c)) in schema.fields().iter().zip(batch.columns()).enumerate() {
        match f.data_type() {
            DataType::Dictionary(_, v) if i < nk => {
                fields.push(f.as_ref().clone().with_data_type(v.as_ref().clone()));
                cols.push(cast(c, v)?);
            }
            _ => {
                fields.push(f.as_ref().clone());
                cols.push(c.clone());
            }
        }
    }
    let opts = arrow_array::RecordBatchOptions::new().with_row_count(Some(batch.num_rows()));
    RecordBatch::try_new_with_options(Arc::new(Schema::new(fields)), cols, &opts)
}

/// Tables of partials as one (keys: the first `nk` columns). Partials whose keys differ
/// only as dictionary against plain arrays (one partition read its keys as a dictionary,
/// another not) are decoded to plain keys first.
fn concat(batches: &[RecordBatch], nk: usize) -> Result<RecordBatch, ArrowError> {
    let schema = batches
        .first()
        .map(|b| b.schema())
        .ok_or_else(|| err("nothing to combine"))?;
    match batches {
        [one] => Ok(one.clone()),
        _ if batches.iter().all(|b| b.schema() == schema) => {
            arrow_select::concat::concat_batches(&schema, batches)
        }
        _ => {
            let plain = batches
                .iter()
                .map(|b| plain_keys(b, nk))
                .collect::<Result<Vec<_>, _>>()?;
            arrow_select::concat::concat_batches(&plain[0].schema(), &plain)
        }
    }
}

/// Merges partials into one (`types`: the input columns' types, by aggregate).
pub fn combine(
    spec: &AggSpec,
    types: &[DataType],
    parts: &[Partial],
) -> Result<Partial, ArrowError> {
    let all: Vec<RecordBatch> = parts.iter().map(|p| p.states.clone()).collect();
    let batch = concat(&all, spec.keys.len())?;
    let (k, ids, firsts) = grouped(&batch, &spec.keys)?;
    let mut states = Vec::new();
    let mut s = 0;
    for (agg, t) in spec.aggs.iter().zip(types) {
        for red in merge_kinds(agg, t) {
            let col = batch.column(spec.keys.len() + s);
            states.push(reduce(&ids, firsts.len(), col, red));
            s += 1;
        }
    }
    let mut distinct_tables = Vec::new();
    for (j, agg) in spec
        .aggs
        .iter()
        .filter(|a| a.func == AggFn::Nunique)
        .enumerate()
    {
        let tables: Vec<RecordBatch> = parts.iter().map(|p| p.distinct[j].clone()).collect();
        let cols = nunique_cols(spec, agg);
        distinct_tables.push(distinct(&concat(&tables, cols.len())?, &cols)?);
    }
    Ok(Partial {
        states: build(&spec.keys, &k, &firsts, states)?,
        distinct: distinct_tables,
    })
}

fn f64s(a: &ArrayRef) -> &Float64Array {
    a.as_primitive::<Float64Type>()
}

fn i64s(a: &ArrayRef) -> &Int64Array {
    a.as_primitive::<Int64Type>()
}

/// The final result from one merged partial: keys then one column per aggregate, sorted by
/// the keys.
pub fn finish(
    spec: &AggSpec,
    types: &[DataType],
    merged: &Partial,
) -> Result<RecordBatch, ArrowError> {
    let nk = spec.keys.len();
    // The result holds plain keys (as its schema says), whatever the partials carried.
    let b = &plain_keys(&merged.states, nk)?;
    let distinct = merged
        .distinct
        .iter()
        .map(|t| plain_keys(t, t.num_columns()))
        .collect::<Result<Vec<_>, _>>()?;
    let g = b.num_rows();
    let mut fields: Vec<Field> = b.schema().fields()[..nk]
        .iter()
        .map(|f| f.as_ref().clone())
        .collect();
    let mut cols: Vec<ArrayRef> = b.columns()[..nk].to_vec();
    let mut s = nk;
    let mut nu = 0;
    for (agg, t) in spec.aggs.iter().zip(types) {
        let n = merge_kinds(agg, t).len();
        let st = &b.columns()[s..s + n];
        s += n;
        let out: ArrayRef = match agg.func {
            AggFn::Sum | AggFn::Min | AggFn::Max | AggFn::Count | AggFn::Size => st[0].clone(),
            AggFn::Mean => {
                let (sum, cnt) = (f64s(&st[0]), i64s(&st[1]));
                Arc::new(
                    (0..g)
                        .map(|i| (cnt.value(i) > 0).then(|| sum.value(i) / cnt.value(i) as f64))
                        .collect::<Float64Array>(),
                )
            }
            AggFn::Std | AggFn::Var => {
                let (sum, sq, cnt) = (f64s(&st[0]), f64s(&st[1]), i64s(&st[2]));
                let std = agg.func == AggFn::Std;
                Arc::new(
                    (0..g)
                        .map(|i| {
                            let n = cnt.value(i) as f64;
                            (n > 1.0).then(|| {
                                let var = ((sq.value(i) - sum.value(i) * sum.value(i) / n)
                                    / (n - 1.0))
                                    .max(0.0);
                                if std {
                                    var.sqrt()
                                } else {
                                    var
                                }
                            })
                        })
                        .collect::<Float64Array>(),
                )
            }
            AggFn::Nunique => {
                let table = &distinct[nu];
                nu += 1;
                Arc::new(Int64Array::from(count_per_group(b, table, nk)?))
            }
        };
        fields.push(Field::new(&agg.name, out.data_type().clone(), true));
        cols.push(out);
    }
    let opts = arrow_array::RecordBatchOptions::new().with_row_count(Some(g));
    let out = RecordBatch::try_new_with_options(Arc::new(Schema::new(fields)), cols, &opts)?;
    sort_by_keys(out, nk)
}

/// For each row of `groups` (distinct keys in its first `nk` columns), how many rows of
/// `table` have its key.
fn count_per_group(
    groups: &RecordBatch,
    table: &RecordBatch,
    nk: usize,
) -> Result<Vec<i64>, ArrowError> {
    let g = groups.num_rows();
    if nk == 0 {
        return Ok(vec![table.num_rows() as i64; g]);
    }
    let keys: Vec<ArrayRef> = (0..nk)
        .map(|i| {
            arrow_select::concat::concat(&[groups.column(i).as_ref(), table.column(i).as_ref()])
        })
        .collect::<Result<_, _>>()?;
    let (ids, _) = group_ids(&keys, g + table.num_rows())?;
    let mut counts = vec![0i64; g];
    for id in &ids[g..] {
        if let Some(c) = counts.get_mut(*id as usize) {
            *c += 1;
        }
    }
    Ok(counts)
}

/// The schema of the final result, computed by running the phases on an empty frame.
pub fn result_schema(spec: &AggSpec, input: &SchemaRef) -> Result<SchemaRef, ArrowError> {
    let empty = Frame::new(input.clone(), vec![RecordBatch::new_empty(input.clone())]);
    let types = input_types(spec, input)?;
    let p = partial(spec, &empty)?;
    let merged = combine(spec, &types, &[p])?;
    Ok(finish(spec, &types, &merged)?.schema())
}

/// The input columns' types, by aggregate.
pub fn input_types(spec: &AggSpec, input: &Schema) -> Result<Vec<DataType>, ArrowError> {
    spec.aggs
        .iter()
        .map(|a| {
            input
                .field_with_name(&a.column)
                .map(|f| f.data_type().clone())
                .map_err(|_| err(format!("no column named {}", a.column)))
        })
        .collect()
}
