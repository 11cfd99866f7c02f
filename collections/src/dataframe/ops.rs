//! Partition-wise operations (`select`, `filter`, `with_column`, `rename`, `cast`, `fillna`,
//! `dropna`, `head`, registered user functions), applied to every batch of a partition by the
//! task that reads it. The client learns each result's schema by applying the same operations
//! to an empty batch, so a dataframe's schema is always known before anything runs.

use super::expr::{Expr, Lit};
use super::ipc::{Batch, Frame};
use arrow_array::{Array, ArrayRef, RecordBatch, Scalar};
use arrow_schema::{ArrowError, DataType, Field, Schema};
use rask_actors::worker::registry::Registry;
use rask_protocol::{decode_value, encode_value};
use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// One partition-wise operation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Op {
    /// Keep these columns, in this order.
    Select(Vec<String>),
    /// Keep the rows where the predicate is true (null counts as false).
    Filter(Expr),
    /// Add (or replace) a column computed from an expression.
    WithColumn(String, Expr),
    /// Rename columns (old, new).
    Rename(Vec<(String, String)>),
    /// Cast columns to types.
    Cast(Vec<(String, DataType)>),
    /// Replace nulls of the named columns (all columns of a compatible type when `None`).
    FillNa(Option<Vec<String>>, Lit),
    /// Drop rows with a null in any of the named columns (any column when `None`).
    DropNa(Option<Vec<String>>),
    /// Keep the first `n` rows of the partition.
    Head(u64),
    /// A registered function `fn(Batch) -> Batch` applied to every batch.
    MapBatches(String),
    /// Sort the partition by columns (`true`: descending); nulls last.
    Sort(Vec<(String, bool)>),
}

fn err(msg: impl Into<String>) -> ArrowError {
    ArrowError::InvalidArgumentError(msg.into())
}

fn index(schema: &Schema, name: &str) -> Result<usize, ArrowError> {
    schema
        .index_of(name)
        .map_err(|_| err(format!("no column named {name}")))
}

fn with_columns(
    batch: &RecordBatch,
    fields: Vec<Field>,
    cols: Vec<ArrayRef>,
) -> Result<RecordBatch, ArrowError> {
    let opts = arrow_array::RecordBatchOptions::new().with_row_count(Some(batch.num_rows()));
    RecordBatch::try_new_with_options(
        Arc::new(Schema::new_with_metadata(
            fields,
            batch.schema().metadata().clone(),
        )),
        cols,
        &opts,
    )
}

fn fields(batch: &RecordBatch) -> Vec<Field> {
    batch
        .schema()
        .fields()
        .iter()
        .map(|f| f.as_ref().clone())
        .collect()
}

/// Whether a literal can fill a column of type `t`.
fn fits(lit: &Lit, t: &DataType) -> bool {
    match lit {
        Lit::Int(_) | Lit::Float(_) => t.is_numeric(),
        Lit::Str(_) => matches!(t, DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View),
        Lit::Bool(_) => t == &DataType::Boolean,
        Lit::Null => false,
    }
}

fn fill(col: &ArrayRef, lit: &Lit) -> Result<ArrayRef, ArrowError> {
    if col.null_count() == 0 {
        return Ok(col.clone());
    }
    let value = arrow_cast::cast(&lit.to_array(), col.data_type())?;
    let mask = arrow_arith::boolean::is_not_null(col.as_ref())?;
    arrow_select::zip::zip(&mask, col, &Scalar::new(value))
}

fn apply_one(op: &Op, batch: RecordBatch) -> Result<RecordBatch, ArrowError> {
    let schema = batch.schema();
    Ok(match op {
        Op::Select(names) => {
            let idx = names
                .iter()
                .map(|n| index(&schema, n))
                .collect::<Result<Vec<_>, _>>()?;
            batch.project(&idx)?
        }
        Op::Filter(pred) => {
            let mask = pred.evaluate_bool(&batch)?;
            arrow_select::filter::filter_record_batch(&batch, &mask)?
        }
        Op::WithColumn(name, expr) => {
            let value = expr.evaluate(&batch)?;
            let field = Field::new(name, value.data_type().clone(), true);
            let mut fs = fields(&batch);
            let mut cols = batch.columns().to_vec();
            match schema.index_of(name) {
                Ok(i) => {
                    fs[i] = field;
                    cols[i] = value;
                }
                Err(_) => {
                    fs.push(field);
                    cols.push(value);
                }
            }
            with_columns(&batch, fs, cols)?
        }
        Op::Rename(pairs) => {
            let mut fs = fields(&batch);
            for (old, new) in pairs {
                let i = index(&schema, old)?;
                fs[i] = fs[i].clone().with_name(new);
            }
            with_columns(&batch, fs, batch.columns().to_vec())?
        }
        Op::Cast(pairs) => {
            let mut fs = fields(&batch);
            let mut cols = batch.columns().to_vec();
            for (name, t) in pairs {
                let i = index(&schema, name)?;
                cols[i] = arrow_cast::cast(&cols[i], t)
                    .map_err(|e| err(format!("cannot cast column {name} to {t}: {e}")))?;
                fs[i] = fs[i].clone().with_data_type(t.clone()).with_nullable(true);
            }
            with_columns(&batch, fs, cols)?
        }
        Op::FillNa(names, lit) => {
            let mut cols = batch.columns().to_vec();
            let targets: Vec<usize> = match names {
                Some(ns) => ns
                    .iter()
                    .map(|n| index(&schema, n))
                    .collect::<Result<_, _>>()?,
                None => (0..cols.len())
                    .filter(|i| fits(lit, schema.field(*i).data_type()))
                    .collect(),
            };
            for i in targets {
                cols[i] = fill(&cols[i], lit)?;
            }
            with_columns(&batch, fields(&batch), cols)?
        }
        Op::DropNa(names) => {
            let targets: Vec<usize> = match names {
                Some(ns) => ns
                    .iter()
                    .map(|n| index(&schema, n))
                    .collect::<Result<_, _>>()?,
                None => (0..batch.num_columns()).collect(),
            };
            let mut keep = arrow_array::BooleanArray::from(vec![true; batch.num_rows()]);
            for i in targets {
                let nn = arrow_arith::boolean::is_not_null(batch.column(i).as_ref())?;
                keep = arrow_arith::boolean::and(&keep, &nn)?;
            }
            arrow_select::filter::filter_record_batch(&batch, &keep)?
        }
        Op::Head(n) => batch.slice(0, (*n as usize).min(batch.num_rows())),
        Op::Sort(by) => {
            let cols = by
                .iter()
                .map(|(name, desc)| {
                    Ok(arrow_ord::sort::SortColumn {
                        values: batch.column(index(&schema, name)?).clone(),
                        options: Some(arrow_schema::SortOptions {
                            descending: *desc,
                            nulls_first: false,
                        }),
                    })
                })
                .collect::<Result<Vec<_>, ArrowError>>()?;
            let idx = arrow_ord::sort::lexsort_to_indices(&cols, None)?;
            arrow_select::take::take_record_batch(&batch, &idx)?
        }
        Op::MapBatches(name) => {
            let entry = Registry::global()
                .get(name)
                .ok_or_else(|| err(format!("function {name} is not registered here")))?;
            let arg = encode_value(&Batch(batch)).map_err(|e| err(e.to_string()))?;
            let out = (entry.invoke)(&[arg]).map_err(|(_, m)| err(format!("{name}: {m}")))?;
            decode_value::<Batch>(&out)
                .map_err(|e| err(format!("{name} did not return a batch: {e}")))?
                .0
        }
    })
}

/// Applies `ops` to every batch of `frame`, in order. `Head` counts rows across batches.
pub fn apply(ops: &[Op], frame: Frame) -> Result<Frame, ArrowError> {
    let mut batches = frame.batches;
    if batches.is_empty() {
        batches.push(RecordBatch::new_empty(frame.schema.clone()));
    }
    for op in ops {
        if matches!(op, Op::Sort(_)) && batches.len() > 1 {
            let schema = batches[0].schema();
            batches = vec![arrow_select::concat::concat_batches(&schema, &batches)?];
        }
        let mut out = Vec::with_capacity(batches.len());
        let mut left = match op {
            Op::Head(n) => *n as usize,
            _ => usize::MAX,
        };
        for b in batches {
            if left == 0 {
                break;
            }
            let b = match op {
                Op::Head(_) => b.slice(0, left.min(b.num_rows())),
                _ => apply_one(op, b)?,
            };
            left -= b.num_rows().min(left);
            out.push(b);
        }
        if out.is_empty() {
            // Keep one (empty) batch so that the schema follows the operations.
            out.push(RecordBatch::new_empty(
                apply_one(op, RecordBatch::new_empty(frame.schema.clone()))?.schema(),
            ));
        }
        batches = out;
    }
    let schema = batches.first().map(|b| b.schema()).unwrap_or(frame.schema);
    let batches = batches.into_iter().filter(|b| b.num_rows() > 0).collect();
    Ok(Frame { schema, batches })
}

/// The schema after `ops`, found by applying them to an empty batch.
pub fn schema_after(ops: &[Op], schema: &Arc<Schema>) -> Result<Arc<Schema>, ArrowError> {
    Ok(apply(ops, Frame::new(schema.clone(), vec![]))?.schema)
}
