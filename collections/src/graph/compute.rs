//! Submitting graphs: `compute` (results come back to the client), `persist` (results stay on
//! the cluster behind futures), and computing several collections at once so that the work
//! they share runs once.

use super::optimize::{optimize, OptimizeOptions};
use super::progress::{watch, Progress};
use super::Graph;
use crate::{Error, Result};
use rask_actors::client::{Client, Future};
use rask_protocol::Key;
use serde::de::DeserializeOwned;
use std::collections::{BTreeSet, HashMap};

/// How a graph is submitted.
#[derive(Debug, Clone, Copy, Default)]
pub struct ComputeOptions {
    /// Culling is always done; this says whether linear chains are fused.
    pub optimize: OptimizeOptions,
    /// Progress bar.
    pub progress: Progress,
}

/// Anything that compiles to a graph whose output keys, once gathered, make its result.
pub trait Collection {
    /// What `compute` returns.
    type Output;
    /// What each output key holds.
    type Part: DeserializeOwned + Send + 'static;
    /// The graph (including the tasks producing the outputs) and the output keys, in order.
    fn build(&self) -> Result<(Graph, Vec<Key>)>;
    /// Makes the result from the gathered outputs, in the order of [`Collection::build`]'s
    /// keys.
    fn finish(&self, parts: Vec<Self::Part>) -> Result<Self::Output>;
}

/// Optimises `graph` for `outputs` and submits it; returns one future per output, in order
/// (held keys give their existing futures). With progress on, waits for every task while the
/// bar advances.
pub async fn submit(
    client: &Client,
    graph: &Graph,
    outputs: &[Key],
    opts: ComputeOptions,
) -> Result<Vec<Future<()>>> {
    let mut specs = optimize(graph, outputs, opts.optimize)?;
    let mut by_key: HashMap<Key, Future<()>> = HashMap::new();
    let track = opts.progress.enabled() && !specs.is_empty();
    if track {
        for s in &mut specs {
            s.wanted = true;
        }
    }
    let futures = client.submit_graph::<()>(specs);
    for f in &futures {
        if outputs.contains(f.key()) {
            by_key.insert(f.key().clone(), f.clone());
        }
    }
    if track {
        let wanted: BTreeSet<&Key> = outputs.iter().collect();
        watch(futures, |f| wanted.contains(f.key())).await;
    } else {
        drop(futures);
    }
    outputs
        .iter()
        .map(|k| {
            by_key
                .get(k)
                .or_else(|| graph.held(k))
                .cloned()
                .ok_or_else(|| Error::Invalid(format!("output {k} was not submitted")))
        })
        .collect()
}

/// Computes one collection with explicit options.
pub async fn compute_with<C: Collection + ?Sized>(
    client: &Client,
    collection: &C,
    opts: ComputeOptions,
) -> Result<C::Output> {
    let (graph, keys) = collection.build()?;
    let futures = submit(client, &graph, &keys, opts).await?;
    let typed: Vec<Future<C::Part>> = futures.into_iter().map(Future::cast).collect();
    collection.finish(client.gather(&typed).await?)
}

/// Submits a collection's graph and returns futures for its outputs, which stay on the
/// cluster (the building block of every `persist`).
pub async fn persist_outputs<C: Collection + ?Sized>(
    client: &Client,
    collection: &C,
    opts: ComputeOptions,
) -> Result<Vec<Future<()>>> {
    let (graph, keys) = collection.build()?;
    let futures = submit(client, &graph, &keys, opts).await?;
    for f in &futures {
        f.wait().await?;
    }
    Ok(futures)
}

/// Several collections computed together: one merged graph, one submission, common tasks
/// once. Implemented for tuples of references to collections, up to six.
pub trait ComputeAll {
    /// The tuple of results.
    type Output;
    /// Computes all of them.
    fn compute_all(
        self,
        client: &Client,
        opts: ComputeOptions,
    ) -> impl std::future::Future<Output = Result<Self::Output>>;
}

macro_rules! impl_compute_all {
    ($($c:ident $i:tt),*) => {
        impl<'a, $($c: Collection),*> ComputeAll for ($(&'a $c,)*) {
            type Output = ($($c::Output,)*);
            async fn compute_all(self, client: &Client, opts: ComputeOptions) -> Result<Self::Output> {
                let built = [$(self.$i.build()?),*];
                let mut graph = Graph::new();
                let mut outputs = Vec::new();
                let mut spans = Vec::new();
                for (g, keys) in &built {
                    graph.merge(g);
                    spans.push(outputs.len()..outputs.len() + keys.len());
                    outputs.extend(keys.iter().cloned());
                }
                let futures = submit(client, &graph, &outputs, opts).await?;
                Ok(($({
                    let typed: Vec<Future<$c::Part>> = futures[spans[$i].clone()]
                        .iter()
                        .map(|f| f.clone().cast())
                        .collect();
                    self.$i.finish(client.gather(&typed).await?)?
                },)*))
            }
        }
    };
}

impl_compute_all!(A 0);
impl_compute_all!(A 0, B 1);
impl_compute_all!(A 0, B 1, C 2);
impl_compute_all!(A 0, B 1, C 2, D 3);
impl_compute_all!(A 0, B 1, C 2, D 3, E 4);
impl_compute_all!(A 0, B 1, C 2, D 3, E 4, F 5);

/// Computes several collections at once (a tuple of references), sharing common work:
/// `let (n, total) = compute_all(&client, (&count, &sum)).await?`.
pub async fn compute_all<T: ComputeAll>(client: &Client, collections: T) -> Result<T::Output> {
    collections
        .compute_all(client, ComputeOptions::default())
        .await
}
