//! The client side of grouped aggregations: a tree of partial aggregates, or, for many
//! groups, a combine split by key hash across workers.
//!
//! ```text
//!  p0  p1  p2 … p8  p9      partition tasks: operations → partial (keys | states)
//!   └──┬──┘      └─┬─┘       combine steps of ≤ split_every partials
//!     c0          c1
//!      └────┬─────┘
//!         root               final columns, sorted by the keys: a one-partition dataframe
//!
//!  with split_out = P > 1:
//!  p0 … p9 ──split by key hash──▶ P buckets each ──▶ P combine trees in parallel
//!          ──▶ one concatenation, sorted by the keys
//! ```

use super::agg::{self, Agg, AggFn, AggSpec};
use super::partition::{CombineSpec, Sink, AGG_COMBINE};
use super::shuffle::{concat_buckets, shuffle_keys, Payload, SplitBy, SplitSpec};
use super::DataFrame;
use crate::graph::{Graph, Task};
use crate::{Error, Result};
use rask_protocol::{encode_value, Arg, Key};

/// A dataframe grouped by key columns (see [`DataFrame::groupby`]).
#[derive(Debug, Clone)]
pub struct GroupBy {
    df: DataFrame,
    keys: Vec<String>,
    /// Buckets of the hash-partitioned combine (`None`: chosen from the keys).
    split_out: Option<usize>,
}

fn fn_name(f: AggFn) -> &'static str {
    match f {
        AggFn::Sum => "sum",
        AggFn::Mean => "mean",
        AggFn::Count => "count",
        AggFn::Size => "size",
        AggFn::Min => "min",
        AggFn::Max => "max",
        AggFn::Std => "std",
        AggFn::Var => "var",
        AggFn::Nunique => "nunique",
    }
}

impl GroupBy {
    pub(super) fn new(df: DataFrame, keys: Vec<String>) -> GroupBy {
        GroupBy {
            df,
            keys,
            split_out: None,
        }
    }

    /// Combines the partial aggregates in `n` buckets by key hash, in parallel, instead of
    /// in one tree (like Dask's `split_out`, but the result is still one partition, sorted
    /// by the keys). Worth it for many groups. The default is 1 for a single key column and
    /// ⌈npartitions · (k − 1) / 10⌉ for k ≥ 2 key columns (Dask's rule of thumb: composite
    /// keys tend to make many groups).
    pub fn split_out(&self, n: usize) -> GroupBy {
        GroupBy {
            split_out: Some(n.max(1)),
            ..self.clone()
        }
    }

    fn buckets(&self) -> usize {
        match (self.split_out, self.keys.len()) {
            (_, 0) => 1,
            (Some(n), _) => n,
            (None, k) => (self.df.npartitions() * (k - 1)).div_ceil(10).max(1),
        }
    }

    /// `func(column)` for each pair. Output columns are named after their input column, or
    /// `column_func` when a column is aggregated more than once.
    pub fn agg(&self, aggs: &[(&str, AggFn)]) -> Result<DataFrame> {
        let named = aggs
            .iter()
            .map(|(c, f)| {
                let repeated = aggs.iter().filter(|(d, _)| d == c).count() > 1;
                Agg {
                    column: c.to_string(),
                    func: *f,
                    name: if repeated {
                        format!("{c}_{}", fn_name(*f))
                    } else {
                        c.to_string()
                    },
                }
            })
            .collect();
        self.agg_named(named)
    }

    /// The same function over several columns.
    pub fn apply(&self, func: AggFn, columns: &[&str]) -> Result<DataFrame> {
        let pairs: Vec<(&str, AggFn)> = columns.iter().map(|c| (*c, func)).collect();
        self.agg(&pairs)
    }

    /// The number of rows of each group, as column `size`.
    pub fn size(&self) -> Result<DataFrame> {
        let column = self
            .keys
            .first()
            .cloned()
            .or_else(|| self.df.columns().first().cloned())
            .ok_or_else(|| Error::Invalid("size of a dataframe without columns".into()))?;
        self.agg_named(vec![Agg {
            column,
            func: AggFn::Size,
            name: "size".into(),
        }])
    }

    /// Aggregates with explicit output names: one partial per partition, combined in a
    /// tree of at most `split_every` inputs per step.
    pub fn agg_named(&self, aggs: Vec<Agg>) -> Result<DataFrame> {
        let spec = AggSpec {
            keys: self.keys.clone(),
            aggs,
        };
        let input = self.df.schema();
        for k in &spec.keys {
            input
                .index_of(k)
                .map_err(|_| Error::Invalid(format!("no key column named {k}")))?;
        }
        let types = agg::input_types(&spec, &input)?;
        let schema = agg::result_schema(&spec, &input)?;
        let (mut g, level) = self
            .df
            .sink_all("groupby-part", |_| Sink::Partial(spec.clone()))?;
        let every = self.df.split_every.max(2);
        let p = self.buckets();
        let key = if p <= 1 {
            tree(&mut g, level, &spec, &types, every)?
        } else {
            let split = SplitSpec {
                by: SplitBy::Hash(spec.keys.clone()),
                n: p as u32,
                payload: Payload::Partial,
            };
            let roots = shuffle_keys(&mut g, &level, &split)?
                .into_iter()
                .map(|bucket| tree(&mut g, bucket, &spec, &types, every))
                .collect::<Result<Vec<_>>>()?;
            let by: Vec<(String, bool)> = spec.keys.iter().map(|k| (k.clone(), false)).collect();
            let mut out = concat_buckets(&mut g, vec![roots], &by)?;
            out.pop()
                .ok_or_else(|| Error::Invalid("a dataframe without partitions".into()))?
        };
        let mut out = DataFrame::from_key(g, key, schema);
        out.split_every = self.df.split_every;
        Ok(out)
    }
}

/// Combines partials `level` in a tree of at most `every` inputs per step; the root
/// finishes (an encoded frame of the final columns, sorted by the keys).
fn tree(
    g: &mut Graph,
    mut level: Vec<Key>,
    spec: &AggSpec,
    types: &[arrow_schema::DataType],
    every: usize,
) -> Result<Key> {
    loop {
        let root = level.len() <= every;
        let value = encode_value(&CombineSpec {
            spec: spec.clone(),
            types: types.to_vec(),
            root,
        })?;
        let prefix = if root { "groupby" } else { "groupby-combine" };
        let mut next = Vec::new();
        for chunk in level.chunks(every) {
            let mut args = vec![Arg::Value(value.clone())];
            args.extend(chunk.iter().cloned().map(Arg::Key));
            next.push(g.insert(Task::new(prefix, AGG_COMBINE, args)));
        }
        if root {
            return next
                .pop()
                .ok_or_else(|| Error::Invalid("a dataframe without partitions".into()));
        }
        level = next;
    }
}
