//! The client side of grouped aggregations: a tree of partial aggregates.
//!
//! ```text
//!  p0  p1  p2 … p8  p9      partition tasks: operations → partial (keys | states)
//!   └──┬──┘      └─┬─┘       combine steps of ≤ split_every partials
//!     c0          c1
//!      └────┬─────┘
//!         root               final columns, sorted by the keys: a one-partition dataframe
//! ```

use super::agg::{self, Agg, AggFn, AggSpec};
use super::partition::{CombineSpec, Sink, AGG_COMBINE};
use super::DataFrame;
use crate::graph::Task;
use crate::{Error, Result};
use rask_protocol::{encode_value, Arg};

/// A dataframe grouped by key columns (see [`DataFrame::groupby`]).
#[derive(Debug, Clone)]
pub struct GroupBy {
    df: DataFrame,
    keys: Vec<String>,
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
        GroupBy { df, keys }
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
        let (mut g, mut level) = self
            .df
            .sink_all("groupby-part", |_| Sink::Partial(spec.clone()))?;
        let every = self.df.split_every.max(2);
        loop {
            let root = level.len() <= every;
            let value = encode_value(&CombineSpec {
                spec: spec.clone(),
                types: types.clone(),
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
                let key = next
                    .pop()
                    .ok_or_else(|| Error::Invalid("a dataframe without partitions".into()))?;
                let mut out = DataFrame::from_key(g, key, schema);
                out.split_every = self.df.split_every;
                return Ok(out);
            }
            level = next;
        }
    }
}
