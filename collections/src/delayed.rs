//! `delayed`: lazy calls of registered task functions, like `dask.delayed`.
//!
//! [`delayed`]`(f, args)` records `f(args…)` without running it; arguments are plain values,
//! other [`Delayed`] values (making dependencies) or futures already on the cluster. Nothing
//! runs until [`Delayed::compute`] or [`Delayed::persist`]. Keys are deterministic tokens of
//! the call, so building the same call twice gives one task.
//!
//! ```no_run
//! use rask_collections::builtins::{add, inc};
//! use rask_collections::delayed::delayed;
//! # async fn run(client: rask_actors::client::Client) -> rask_collections::Result<()> {
//! let a = delayed(inc, (1i64,))?;
//! let b = delayed(inc, (&a,))?;
//! let total = delayed(add, (&a, &b))?;
//! assert_eq!(total.compute(&client).await?, 5);
//! # Ok(()) }
//! ```

use crate::graph::compute::{compute_with, persist_outputs};
use crate::graph::{dot, Collection, ComputeOptions, Graph, Task};
use crate::{Error, Result};
use bytes::Bytes;
use rask_actors::client::{Client, Future};
use rask_actors::worker::registry::{InvokeResult, TaskFunction};
use rask_protocol::{encode_value, Arg, Key};
use serde::de::DeserializeOwned;
use serde::Serialize;
use std::marker::PhantomData;

crate::raw_task! {
    /// Registered name of the function returning its (already encoded) argument.
    pub const LITERAL = "rask_collections::delayed::literal" => literal
}

fn literal(args: &[Bytes]) -> InvokeResult {
    args.first()
        .cloned()
        .ok_or_else(|| crate::raw::bad_args("literal takes one argument"))
}

/// A lazy value of type `T`: a key and the graph that computes it.
pub struct Delayed<T> {
    graph: Graph,
    key: Key,
    _t: PhantomData<fn() -> T>,
}

impl<T> Clone for Delayed<T> {
    fn clone(&self) -> Self {
        Delayed {
            graph: self.graph.clone(),
            key: self.key.clone(),
            _t: PhantomData,
        }
    }
}

impl<T> std::fmt::Debug for Delayed<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Delayed({}, {} tasks)", self.key, self.graph.len())
    }
}

/// A value usable lazily as a parameter of type `P`: a `P`, a `&Delayed<P>` or a `&Future<P>`.
pub trait IntoDelayedArg<P> {
    /// The argument, adding whatever graph it needs to `graph`.
    fn into_delayed_arg(self, graph: &mut Graph) -> Result<Arg>;
}

impl<P: Serialize> IntoDelayedArg<P> for P {
    fn into_delayed_arg(self, _graph: &mut Graph) -> Result<Arg> {
        Ok(Arg::Value(encode_value(&self)?))
    }
}

impl<P> IntoDelayedArg<P> for &Delayed<P> {
    fn into_delayed_arg(self, graph: &mut Graph) -> Result<Arg> {
        graph.merge(&self.graph);
        Ok(Arg::Key(self.key.clone()))
    }
}

impl<P> IntoDelayedArg<P> for &Future<P> {
    fn into_delayed_arg(self, graph: &mut Graph) -> Result<Arg> {
        graph.hold(self.clone().cast());
        Ok(Arg::Key(self.key().clone()))
    }
}

/// A tuple of lazy arguments matching a function's parameter tuple.
pub trait IntoDelayedArgs<Params> {
    /// The arguments in order, with their graphs merged into `graph`.
    fn into_delayed_args(self, graph: &mut Graph) -> Result<Vec<Arg>>;
}

macro_rules! impl_into_delayed_args {
    ($($p:ident $a:ident $i:tt),*) => {
        impl<$($p, $a: IntoDelayedArg<$p>),*> IntoDelayedArgs<($($p,)*)> for ($($a,)*) {
            #[allow(unused_variables)]
            fn into_delayed_args(self, graph: &mut Graph) -> Result<Vec<Arg>> {
                Ok(vec![$(self.$i.into_delayed_arg(graph)?),*])
            }
        }
    };
}

impl_into_delayed_args!();
impl_into_delayed_args!(P0 A0 0);
impl_into_delayed_args!(P0 A0 0, P1 A1 1);
impl_into_delayed_args!(P0 A0 0, P1 A1 1, P2 A2 2);
impl_into_delayed_args!(P0 A0 0, P1 A1 1, P2 A2 2, P3 A3 3);
impl_into_delayed_args!(P0 A0 0, P1 A1 1, P2 A2 2, P3 A3 3, P4 A4 4);
impl_into_delayed_args!(P0 A0 0, P1 A1 1, P2 A2 2, P3 A3 3, P4 A4 4, P5 A5 5);
impl_into_delayed_args!(P0 A0 0, P1 A1 1, P2 A2 2, P3 A3 3, P4 A4 4, P5 A5 5, P6 A6 6);
impl_into_delayed_args!(P0 A0 0, P1 A1 1, P2 A2 2, P3 A3 3, P4 A4 4, P5 A5 5, P6 A6 6, P7 A7 7);

/// Records the call `f(args…)` lazily.
pub fn delayed<F: TaskFunction, A: IntoDelayedArgs<F::Params>>(
    _f: F,
    args: A,
) -> Result<Delayed<F::Output>> {
    let mut graph = Graph::new();
    let args = args.into_delayed_args(&mut graph)?;
    let prefix = F::NAME.rsplit("::").next().unwrap_or(F::NAME);
    let key = graph.insert(Task::new(prefix, F::NAME, args));
    Ok(Delayed::from_parts(graph, key))
}

impl<T> Delayed<T> {
    /// A delayed value from a graph and the key in it that holds the value (collections use
    /// this for their lazy scalar results).
    pub fn from_parts(graph: Graph, key: Key) -> Self {
        Delayed {
            graph,
            key,
            _t: PhantomData,
        }
    }

    /// A delayed value already on the cluster.
    pub fn from_future(future: &Future<T>) -> Self {
        Delayed::from_parts(Graph::from_future(future), future.key().clone())
    }

    /// A literal value as a delayed value (its key is a token of the value).
    pub fn value(value: &T) -> Result<Self>
    where
        T: Serialize,
    {
        let mut graph = Graph::new();
        let key = graph.insert(Task::new(
            "literal",
            LITERAL,
            vec![Arg::Value(encode_value(value)?)],
        ));
        Ok(Delayed::from_parts(graph, key))
    }

    /// The key of the value.
    pub fn key(&self) -> &Key {
        &self.key
    }

    /// The graph computing the value.
    pub fn graph(&self) -> &Graph {
        &self.graph
    }

    /// The graph as Graphviz DOT text (before optimisation).
    pub fn to_dot(&self) -> String {
        dot::to_dot(&self.graph)
    }
}

impl<T: DeserializeOwned + Send + 'static> Delayed<T> {
    /// Computes the value and brings it to the client.
    pub async fn compute(&self, client: &Client) -> Result<T> {
        compute_with(client, self, ComputeOptions::default()).await
    }

    /// [`Delayed::compute`] with options (fusing, progress).
    pub async fn compute_with(&self, client: &Client, opts: ComputeOptions) -> Result<T> {
        compute_with(client, self, opts).await
    }

    /// Blocking form of [`Delayed::compute`] (not on an async runtime's thread).
    pub fn compute_blocking(&self, client: &Client) -> Result<T> {
        futures::executor::block_on(self.compute(client))
    }

    /// Computes the value on the cluster and keeps it there: the returned delayed value is
    /// backed by a future, so later graphs using it do not recompute it.
    pub async fn persist(&self, client: &Client) -> Result<Delayed<T>> {
        let futures = persist_outputs(client, self, ComputeOptions::default()).await?;
        let f = futures
            .into_iter()
            .next()
            .ok_or_else(|| Error::Malformed("persist returned no future".into()))?;
        Ok(Delayed::from_future(&f.cast()))
    }
}

impl<T: DeserializeOwned + Send + 'static> Collection for Delayed<T> {
    type Output = T;
    type Part = T;
    fn build(&self) -> Result<(Graph, Vec<Key>)> {
        Ok((self.graph.clone(), vec![self.key.clone()]))
    }
    fn finish(&self, mut parts: Vec<T>) -> Result<T> {
        parts
            .pop()
            .ok_or_else(|| Error::Malformed(format!("no value for {}", self.key)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::builtins::{add, inc};

    #[test]
    fn the_same_call_twice_is_one_task_and_arguments_make_dependencies() {
        let a = delayed(inc, (1i64,)).unwrap();
        let a2 = delayed(inc, (1i64,)).unwrap();
        assert_eq!(a.key(), a2.key());
        assert!(a.key().as_str().starts_with("inc-"));
        let b = delayed(inc, (&a,)).unwrap();
        let c = delayed(add, (&a, &b)).unwrap();
        assert_eq!(c.graph().len(), 3);
        let t = c.graph().task(c.key()).unwrap();
        assert_eq!(t.dependencies(), vec![a.key(), b.key()]);
        assert!(c.to_dot().contains("->"));
        let v = Delayed::value(&7i64).unwrap();
        assert_eq!(v.key(), Delayed::value(&7i64).unwrap().key());
        assert_eq!(
            literal(&[Bytes::from_static(b"\x0e")]).unwrap(),
            &b"\x0e"[..]
        );
    }
}
