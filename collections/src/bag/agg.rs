//! Aggregations over a bag as tree reductions, and the shuffle-based `groupby`.
//!
//! ```text
//!  p0  p1  p2  p3  p4  p5  p6  p7  p8      partition tasks: pipeline → partial
//!   └──┬──┴───┘    └──┬──┴───┘   │         combine steps of ≤ split_every partials
//!      c0             c1         c2
//!      └──────────────┼──────────┘
//!                   root                   the final value (or one-partition bag)
//! ```

use super::combine::{CombineOp, CombineSpec, COMBINE, GROUP};
use super::native::{Native, Numeric};
use super::sinks::{SinkSpec, TopKey};
use super::Bag;
use crate::delayed::Delayed;
use crate::graph::{Graph, Task};
use crate::Result;
use rask_actors::worker::registry::TaskFunction;
use rask_protocol::{encode_value, Arg, Key};
use serde::Serialize;

impl<T> Bag<T> {
    /// Partials of every partition, combined in a tree: the graph and the root key.
    fn tree(&self, name: &str, sink: SinkSpec, op: CombineOp) -> Result<(Graph, Key)> {
        let (mut g, mut level) = self.sink_all(&format!("{name}-part"), |_| sink.clone())?;
        let every = self.split_every.max(2);
        loop {
            let root = level.len() <= every;
            let spec = encode_value(&CombineSpec {
                op: op.clone(),
                root,
            })?;
            let prefix = if root {
                name.to_string()
            } else {
                format!("{name}-combine")
            };
            let mut next = Vec::new();
            for chunk in level
                .chunks(every)
                .chain(level.is_empty().then_some(&[][..]))
            {
                let mut args = vec![Arg::Value(spec.clone())];
                args.extend(chunk.iter().cloned().map(Arg::Key));
                next.push(g.insert(Task::new(&prefix, COMBINE, args)));
            }
            if root {
                return Ok((g, next.remove(0)));
            }
            level = next;
        }
    }

    fn scalar<R>(&self, name: &str, sink: SinkSpec, op: CombineOp) -> Result<Delayed<R>> {
        let (g, k) = self.tree(name, sink, op)?;
        Ok(Delayed::from_parts(g, k))
    }

    fn reduced<U>(&self, name: &str, sink: SinkSpec, op: CombineOp) -> Result<Bag<U>> {
        let (g, k) = self.tree(name, sink, op)?;
        Ok(Bag::from_key(g, k, self.split_every))
    }

    /// Number of elements.
    pub fn count(&self) -> Result<Delayed<u64>> {
        self.scalar("count", SinkSpec::Count, CombineOp::Count)
    }

    /// Each distinct element with how often it occurs, as a one-partition bag.
    pub fn frequencies(&self) -> Result<Bag<(T, u64)>> {
        self.reduced("frequencies", SinkSpec::Frequencies, CombineOp::Frequencies)
    }

    /// The distinct elements (first occurrences, in partition order), as a one-partition
    /// bag.
    pub fn distinct(&self) -> Result<Bag<T>> {
        self.reduced("distinct", SinkSpec::Distinct, CombineOp::Distinct)
    }

    /// The `k` elements with the largest `f(element)`, largest first (ties by encoding).
    pub fn topk_by<F: TaskFunction<Params = (T,)>>(&self, k: usize, _f: F) -> Result<Bag<T>>
    where
        F::Output: Native,
    {
        let key = TopKey::Fn(F::NAME.to_string(), F::Output::KIND);
        self.reduced(
            "topk",
            SinkSpec::TopK(k as u32, key, true),
            CombineOp::TopK(k as u32, true),
        )
    }

    /// Folds every element into an accumulator: `binop(acc, x)` from `initial` within each
    /// partition, then `combine(acc, acc)` across partitions (Dask's `fold`).
    pub fn fold<A, B, C>(&self, binop: B, combine: C, initial: A) -> Result<Delayed<A>>
    where
        A: Serialize,
        B: TaskFunction<Params = (A, T), Output = A>,
        C: TaskFunction<Params = (A, A), Output = A>,
    {
        let _ = (binop, combine);
        let init = encode_value(&initial)?;
        self.scalar(
            "fold",
            SinkSpec::Fold(B::NAME.into(), init),
            CombineOp::Fold(C::NAME.into()),
        )
    }

    /// Dask's `reduction`: `perpartition(Vec<T>)` on each partition, then
    /// `aggregate(Vec<A>)` at every level of the tree.
    pub fn reduction<A, P, G>(&self, perpartition: P, aggregate: G) -> Result<Delayed<A>>
    where
        P: TaskFunction<Params = (Vec<T>,), Output = A>,
        G: TaskFunction<Params = (Vec<A>,), Output = A>,
    {
        let _ = (perpartition, aggregate);
        self.scalar(
            "reduction",
            SinkSpec::Reduce(P::NAME.into()),
            CombineOp::Reduce(G::NAME.into()),
        )
    }

    /// Dask's `foldby`: group by `key(x)` and fold each group with `binop(acc, x)` from
    /// `initial`, merging partition results with `combine(acc, acc)`. One-partition bag of
    /// `(key, acc)`, keys in first-seen order.
    pub fn foldby<A, K, B, C>(
        &self,
        key: K,
        binop: B,
        initial: A,
        combine: C,
    ) -> Result<Bag<(K::Output, A)>>
    where
        A: Serialize,
        K: TaskFunction<Params = (T,)>,
        B: TaskFunction<Params = (A, T), Output = A>,
        C: TaskFunction<Params = (A, A), Output = A>,
    {
        let _ = (key, binop, combine);
        let init = encode_value(&initial)?;
        self.reduced(
            "foldby",
            SinkSpec::FoldBy(K::NAME.into(), B::NAME.into(), init),
            CombineOp::FoldBy(C::NAME.into()),
        )
    }

    /// Groups elements by `key(x)` with a shuffle into `npartitions` partitions: every
    /// partition is split by key hash, then each output partition gathers its bucket from
    /// every split. Elements `(key, group)`, groups in partition order.
    pub fn groupby<K: TaskFunction<Params = (T,)>>(
        &self,
        _key: K,
        npartitions: usize,
    ) -> Result<Bag<(K::Output, Vec<T>)>> {
        let n = npartitions.max(1) as u32;
        let (mut g, splits) =
            self.sink_all("groupby-split", |_| SinkSpec::Split(K::NAME.into(), n))?;
        let mut keys = Vec::with_capacity(n as usize);
        for j in 0..n {
            let mut args = vec![Arg::Value(encode_value(&j)?)];
            args.extend(splits.iter().cloned().map(Arg::Key));
            keys.push(g.insert(Task::new("groupby", GROUP, args)));
        }
        Ok(self.over_keys(g, keys))
    }
}

impl<T: Native> Bag<T> {
    /// The least element.
    pub fn min(&self) -> Result<Delayed<T>> {
        let s = SinkSpec::MinMax(T::KIND, false);
        self.scalar("min", s, CombineOp::MinMax(T::KIND, false))
    }

    /// The greatest element.
    pub fn max(&self) -> Result<Delayed<T>> {
        let s = SinkSpec::MinMax(T::KIND, true);
        self.scalar("max", s, CombineOp::MinMax(T::KIND, true))
    }

    /// The `k` largest elements, largest first.
    pub fn topk(&self, k: usize) -> Result<Bag<T>> {
        let key = TopKey::Element(T::KIND);
        self.reduced(
            "topk",
            SinkSpec::TopK(k as u32, key, true),
            CombineOp::TopK(k as u32, true),
        )
    }

    /// The `k` smallest elements, smallest first.
    pub fn bottomk(&self, k: usize) -> Result<Bag<T>> {
        let key = TopKey::Element(T::KIND);
        self.reduced(
            "bottomk",
            SinkSpec::TopK(k as u32, key, false),
            CombineOp::TopK(k as u32, false),
        )
    }
}

impl<T: Numeric> Bag<T> {
    /// The sum of the elements (integer overflow fails the computation).
    pub fn sum(&self) -> Result<Delayed<T>> {
        self.scalar("sum", SinkSpec::Sum(T::KIND), CombineOp::Sum(T::KIND))
    }

    /// The mean of the elements (an empty bag fails).
    pub fn mean(&self) -> Result<Delayed<f64>> {
        self.scalar("mean", SinkSpec::Mean(T::KIND), CombineOp::Mean)
    }
}

impl<A: Native, B: Native> Bag<(A, B)> {
    /// The `k` pairs with the largest second field, largest first — Dask's
    /// `frequencies().topk(k, key=itemgetter(1))`.
    pub fn topk_by_second(&self, k: usize) -> Result<Bag<(A, B)>> {
        let key = TopKey::Field(1, vec![A::KIND, B::KIND]);
        self.reduced(
            "topk",
            SinkSpec::TopK(k as u32, key, true),
            CombineOp::TopK(k as u32, true),
        )
    }
}
