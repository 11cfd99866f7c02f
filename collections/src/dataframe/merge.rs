//! `merge`: database-style joins of two dataframes on one or several key columns.
//!
//! When one side is small (one partition, or in-memory partitions under a byte threshold) it
//! is concatenated once and sent to every partition of the other side (a broadcast join);
//! otherwise both sides are hash-shuffled by the keys into the same number of buckets and
//! bucket `j` of the left is joined with bucket `j` of the right.
//!
//! ```text
//!  broadcast:  L0 ─┐                 shuffle:  L0 L1 ─split by key hash─▶ picks ─┐
//!              L1 ─┼─ join(Li, R*)             R0 R1 R2 ─split by key hash─▶ picks ─┴─ join j
//!   R0 R1 ─concat─▶ R* (one copy per worker that needs it)
//! ```
//!
//! Null keys never match (as in SQL and Polars; pandas matches them), but `left` and `outer`
//! joins keep their rows. Output columns: the left columns in order (for `outer`, each key
//! column takes the right key where the left row is missing), then the right columns that are
//! not keys; other names found on both sides get the suffixes `_x` and `_y` (pandas' default).

use super::groupids::group_ids;
use super::ipc::{decode_frame, encode_frame, Frame};
use super::partition::Source;
use super::shuffle::{concat_buckets, shuffle_keys, Payload, SplitBy, SplitSpec};
use super::{DataFrame, Part};
use crate::graph::{Graph, Task};
use crate::raw::{bad_args, failed};
use crate::{Error, Result};
use arrow_array::builder::UInt32Builder;
use arrow_array::{Array, ArrayRef, RecordBatch, RecordBatchOptions, UInt32Array};
use arrow_schema::{ArrowError, Field, Schema, SchemaRef};
use bytes::Bytes;
use rask_actors::worker::registry::InvokeResult;
use rask_protocol::{decode_value, encode_value, Arg, Key};
use serde::{Deserialize, Serialize};
use std::sync::Arc;

crate::raw_task! {
    /// Registered name of the task joining left frames with right frames.
    pub const JOIN = "rask_collections::dataframe::join" => run_join
}

/// Which rows a join keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum JoinHow {
    /// Only rows whose keys match on both sides.
    Inner,
    /// Every left row; right columns null where nothing matches.
    Left,
    /// Every row of both sides; the other side's columns null where nothing matches.
    Outer,
}

/// How to merge (see [`DataFrame::merge_with`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MergeOptions {
    /// Key columns, present on both sides with the same types.
    pub on: Vec<String>,
    /// Which rows to keep.
    pub how: JoinHow,
    /// Suffixes for non-key names present on both sides.
    pub suffixes: (String, String),
    /// `Some(false)`: always shuffle; `Some(true)`: broadcast whenever the join allows it
    /// (the right side for `left`, the smaller side for `inner`; never for `outer`);
    /// `None`: broadcast a side that is one partition or under `broadcast_bytes`.
    pub broadcast: Option<bool>,
    /// Size under which an in-memory side counts as small (bytes of Arrow IPC).
    pub broadcast_bytes: usize,
}

impl MergeOptions {
    /// A join on `on` keeping `how`'s rows, with the default suffixes and broadcast rule.
    pub fn new(on: &[&str], how: JoinHow) -> MergeOptions {
        MergeOptions {
            on: on.iter().map(|s| s.to_string()).collect(),
            how,
            suffixes: ("_x".into(), "_y".into()),
            broadcast: None,
            broadcast_bytes: 16 << 20,
        }
    }
}

/// What a join task does: its first `nleft` inputs are left frames, the rest right frames.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JoinSpec {
    /// Key columns.
    pub on: Vec<String>,
    /// Which rows to keep.
    pub how: JoinHow,
    /// Suffixes for clashing names.
    pub suffixes: (String, String),
    /// How many of the inputs are left frames.
    pub nleft: u32,
}

fn err(msg: impl Into<String>) -> ArrowError {
    ArrowError::InvalidArgumentError(msg.into())
}

fn keys_of(b: &RecordBatch, on: &[String], side: &str) -> Result<Vec<ArrayRef>, ArrowError> {
    on.iter()
        .map(|k| {
            b.column_by_name(k)
                .cloned()
                .ok_or_else(|| err(format!("the {side} side has no key column {k}")))
        })
        .collect()
}

/// Row pairs (left index, right index) of the join, nulls marking a missing side.
fn pairs(
    lk: &[ArrayRef],
    rk: &[ArrayRef],
    how: JoinHow,
) -> Result<(UInt32Array, UInt32Array), ArrowError> {
    let (nl, nr) = (
        lk.first().map_or(0, |a| a.len()),
        rk.first().map_or(0, |a| a.len()),
    );
    let keys = lk
        .iter()
        .zip(rk)
        .map(|(a, b)| arrow_select::concat::concat(&[a.as_ref(), b.as_ref()]))
        .collect::<Result<Vec<_>, _>>()?;
    let (ids, firsts) = group_ids(&keys, nl + nr)?;
    let g = firsts.len();
    // Right rows grouped by key: counting sort of the right ids.
    let mut start = vec![0usize; g + 1];
    for id in ids[nl..].iter().filter(|id| **id != u32::MAX) {
        start[*id as usize + 1] += 1;
    }
    for i in 0..g {
        start[i + 1] += start[i];
    }
    let mut order = vec![0u32; start[g]];
    let mut pos = start.clone();
    for (r, id) in ids[nl..].iter().enumerate() {
        if *id != u32::MAX {
            order[pos[*id as usize]] = r as u32;
            pos[*id as usize] += 1;
        }
    }
    let (mut li, mut ri) = (UInt32Builder::new(), UInt32Builder::new());
    let mut matched = vec![false; g];
    for (l, id) in ids[..nl].iter().enumerate() {
        let rows = match *id {
            u32::MAX => &order[..0],
            id => &order[start[id as usize]..start[id as usize + 1]],
        };
        if rows.is_empty() {
            if how != JoinHow::Inner {
                li.append_value(l as u32);
                ri.append_null();
            }
            continue;
        }
        matched[*id as usize] = true;
        for r in rows {
            li.append_value(l as u32);
            ri.append_value(*r);
        }
    }
    if how == JoinHow::Outer {
        for (r, id) in ids[nl..].iter().enumerate() {
            if *id == u32::MAX || !matched[*id as usize] {
                li.append_null();
                ri.append_value(r as u32);
            }
        }
    }
    Ok((li.finish(), ri.finish()))
}

/// Joins two batches (see the module docs for the output columns and row order: left rows
/// in order, each with its matches in right order, then unmatched right rows for `outer`).
pub fn join_batches(
    left: &RecordBatch,
    right: &RecordBatch,
    spec: &JoinSpec,
) -> Result<RecordBatch, ArrowError> {
    let (lk, rk) = (
        keys_of(left, &spec.on, "left")?,
        keys_of(right, &spec.on, "right")?,
    );
    for ((a, b), name) in lk.iter().zip(&rk).zip(&spec.on) {
        if a.data_type() != b.data_type() {
            return Err(err(format!(
                "merge key {name} is {} on the left and {} on the right; cast one side",
                a.data_type(),
                b.data_type()
            )));
        }
    }
    let (li, ri) = pairs(&lk, &rk, spec.how)?;
    let is_key = |n: &str| spec.on.iter().any(|k| k == n);
    let rschema = right.schema();
    let lschema = left.schema();
    let clash_l = |n: &str| !is_key(n) && rschema.index_of(n).is_ok();
    let clash_r = |n: &str| !is_key(n) && lschema.index_of(n).is_ok();
    let (mut fields, mut cols) = (Vec::new(), Vec::new());
    for (f, c) in lschema.fields().iter().zip(left.columns()) {
        let mut v = arrow_select::take::take(c.as_ref(), &li, None)?;
        let mut name = f.name().clone();
        if spec.how == JoinHow::Outer && is_key(&name) {
            let r = arrow_select::take::take(right.column(rschema.index_of(&name)?), &ri, None)?;
            let have_left = arrow_arith::boolean::is_not_null(&li)?;
            v = arrow_select::zip::zip(&have_left, &v, &r)?;
        } else if clash_l(&name) {
            name = format!("{name}{}", spec.suffixes.0);
        }
        fields.push(Field::new(name, f.data_type().clone(), true));
        cols.push(v);
    }
    for (f, c) in rschema.fields().iter().zip(right.columns()) {
        if is_key(f.name()) {
            continue;
        }
        let name = match clash_r(f.name()) {
            true => format!("{}{}", f.name(), spec.suffixes.1),
            false => f.name().clone(),
        };
        fields.push(Field::new(name, f.data_type().clone(), true));
        cols.push(arrow_select::take::take(c.as_ref(), &ri, None)?);
    }
    let opts = RecordBatchOptions::new().with_row_count(Some(li.len()));
    RecordBatch::try_new_with_options(Arc::new(Schema::new(fields)), cols, &opts)
}

/// Joins the left frames `args[1..1+nleft]` with the right frames after them, as the
/// [`JoinSpec`] in `args[0]` says.
pub fn run_join(args: &[Bytes]) -> InvokeResult {
    let spec: JoinSpec = decode_value(args.first().ok_or_else(|| bad_args("no join spec"))?)
        .map_err(|e| bad_args(format!("join spec does not decode: {e}")))?;
    let nleft = 1 + spec.nleft as usize;
    if args.len() < nleft + 1 {
        return Err(bad_args("a join needs a left and a right input"));
    }
    let side = |args: &[Bytes]| -> Result<RecordBatch, (rask_protocol::TaskErrorKind, String)> {
        let frames = args
            .iter()
            .map(decode_frame)
            .collect::<Result<Vec<_>, _>>()?;
        let schema = frames[0].schema.clone();
        Frame::new(schema, frames.into_iter().flat_map(|f| f.batches).collect())
            .concat()
            .map_err(|e| failed(format!("join: {e}")))
    };
    let (l, r) = (side(&args[1..nleft])?, side(&args[nleft..])?);
    let out = join_batches(&l, &r, &spec).map_err(|e| failed(format!("join: {e}")))?;
    encode_frame(&Frame::new(out.schema(), vec![out]))
}

/// The result schema, from joining two empty batches.
fn joined_schema(l: &SchemaRef, r: &SchemaRef, spec: &JoinSpec) -> Result<SchemaRef> {
    let out = join_batches(
        &RecordBatch::new_empty(l.clone()),
        &RecordBatch::new_empty(r.clone()),
        spec,
    )?;
    Ok(out.schema())
}

impl DataFrame {
    /// The bytes of this dataframe's partitions when they are all in memory (else `None`).
    fn inline_bytes(&self) -> Option<usize> {
        if !self.ops.is_empty() {
            return None;
        }
        self.parts
            .iter()
            .map(|p| match p {
                Part::Source(Source::Inline(b)) => Some(b.len()),
                _ => None,
            })
            .sum()
    }

    fn is_small(&self, opts: &MergeOptions) -> bool {
        match opts.broadcast {
            Some(force) => force,
            None => {
                self.npartitions() == 1
                    || self
                        .inline_bytes()
                        .is_some_and(|b| b <= opts.broadcast_bytes)
            }
        }
    }

    /// Joins with `right` on the key columns `on` (see [`merge_with`](Self::merge_with)).
    pub fn merge(&self, right: &DataFrame, on: &[&str], how: JoinHow) -> Result<DataFrame> {
        self.merge_with(right, &MergeOptions::new(on, how))
    }

    /// Joins on the index both sides were given by [`set_index`](Self::set_index) (Dask's
    /// `join`): a [`merge`](Self::merge) on that column.
    pub fn join(&self, right: &DataFrame, how: JoinHow) -> Result<DataFrame> {
        let index = |df: &DataFrame| match df.divisions() {
            Some(d) if d.by.len() == 1 => Some(d.by[0].0.clone()),
            _ => None,
        };
        match (index(self), index(right)) {
            (Some(a), Some(b)) if a == b => self.merge(right, &[&a], how),
            (a, b) => Err(Error::Invalid(format!(
                "join needs both sides indexed by the same column (set_index), not {a:?} and {b:?}"
            ))),
        }
    }

    /// Joins with `right`: a broadcast join when one side is small and the join allows it,
    /// else a hash-shuffle join into as many partitions as the larger side has. Key types
    /// must be equal on both sides.
    pub fn merge_with(&self, right: &DataFrame, opts: &MergeOptions) -> Result<DataFrame> {
        if opts.on.is_empty() {
            return Err(Error::Invalid("merge needs at least one key column".into()));
        }
        let mut spec = JoinSpec {
            on: opts.on.clone(),
            how: opts.how,
            suffixes: opts.suffixes.clone(),
            nleft: 1,
        };
        let schema = joined_schema(&self.schema, &right.schema, &spec)?;
        let (mut g, lkeys) = self.materialized()?;
        let (rg, rkeys) = right.materialized()?;
        g.merge(&rg);
        let broadcast_right = opts.how != JoinHow::Outer && right.is_small(opts);
        let broadcast_left = opts.how == JoinHow::Inner && !broadcast_right && self.is_small(opts);
        let parts: Vec<Key> = if broadcast_right || broadcast_left {
            let (big, small) = match broadcast_right {
                true => (&lkeys, &rkeys),
                false => (&rkeys, &lkeys),
            };
            let all = one_key(&mut g, small)?;
            let value = encode_value(&spec)?;
            big.iter()
                .map(|k| {
                    let (l, r) = match broadcast_right {
                        true => (k.clone(), all.clone()),
                        false => (all.clone(), k.clone()),
                    };
                    let args = vec![Arg::Value(value.clone()), Arg::Key(l), Arg::Key(r)];
                    g.insert(Task::new("merge", JOIN, args))
                })
                .collect()
        } else {
            let n = lkeys.len().max(rkeys.len()) as u32;
            let split = SplitSpec {
                by: SplitBy::Hash(opts.on.clone()),
                n,
                payload: Payload::Frame,
            };
            let lb = shuffle_keys(&mut g, &lkeys, &split)?;
            let rb = shuffle_keys(&mut g, &rkeys, &split)?;
            spec.nleft = lkeys.len() as u32;
            let value = encode_value(&spec)?;
            lb.into_iter()
                .zip(rb)
                .map(|(l, r)| {
                    let mut args = vec![Arg::Value(value.clone())];
                    args.extend(l.into_iter().chain(r).map(Arg::Key));
                    g.insert(Task::new("merge", JOIN, args))
                })
                .collect()
        };
        let mut df = DataFrame::new(g, parts.into_iter().map(Part::Key).collect(), schema);
        df.split_every = self.split_every;
        Ok(df)
    }
}

/// One key holding all of `keys`' partitions (itself when there is one).
fn one_key(g: &mut Graph, keys: &[Key]) -> Result<Key> {
    match keys {
        [one] => Ok(one.clone()),
        _ => concat_buckets(g, vec![keys.to_vec()], &[])?
            .pop()
            .ok_or_else(|| Error::Invalid("a dataframe without partitions".into())),
    }
}
