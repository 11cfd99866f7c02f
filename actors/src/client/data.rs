//! Waiting for results and moving values: statuses, fetching values straight from the
//! data-stores that hold them (in runs, each as soon as it is ready; retrying when a holder
//! turns out not to have one), scattering.

use super::actor::ClientActor;
use super::future::Status;
use crate::transport::store_client::StorePool;
use crate::{Error, Result};
use actix::prelude::*;
use bytes::Bytes;
use futures::channel::oneshot;
use rask_protocol::{FromClient, Key, ScatteredMsg, WorkerId};
use rustc_hash::FxHashMap as HashMap;
use std::sync::Arc;

/// How many times a fetch is retried after the holder turned out not to have the value.
const FETCH_ATTEMPTS: usize = 20;

/// Wait until a key is done (memory, erred, cancelled or lost).
#[derive(Message)]
#[rtype(result = "Status")]
pub struct WaitStatus(pub Key);

impl Handler<WaitStatus> for ClientActor {
    type Result = ResponseFuture<Status>;
    fn handle(&mut self, msg: WaitStatus, _ctx: &mut Context<Self>) -> Self::Result {
        let Some(e) = self.keys.get_mut(&msg.0) else {
            let s = Status::Lost(format!("{} is not held by this client", msg.0));
            return Box::pin(async move { s });
        };
        if !matches!(e.status, Status::Pending) {
            let s = e.status.clone();
            return Box::pin(async move { s });
        }
        let (tx, rx) = oneshot::channel();
        e.waiters.push(tx);
        Box::pin(async move {
            rx.await
                .unwrap_or_else(|_| Status::Lost("the client closed".into()))
        })
    }
}

/// The holder did not have the value: tell the scheduler and wait again.
#[derive(Message)]
#[rtype(result = "()")]
struct Missing {
    key: Key,
    worker: WorkerId,
}

impl Handler<Missing> for ClientActor {
    type Result = ();
    fn handle(&mut self, msg: Missing, _ctx: &mut Context<Self>) {
        if let Some(e) = self.keys.get(&msg.key) {
            if matches!(&e.status, Status::Memory { worker, .. } if *worker == msg.worker) {
                self.set_status(&msg.key, Status::Pending);
                self.outbox.push(FromClient::MissingData {
                    key: msg.key,
                    worker: msg.worker,
                });
                self.flush();
            }
        }
    }
}

/// Wait until every key is done; statuses in order.
#[derive(Message)]
#[rtype(result = "Vec<Status>")]
pub struct WaitAll(pub Vec<Key>);

impl Handler<WaitAll> for ClientActor {
    type Result = ResponseFuture<Vec<Status>>;
    fn handle(&mut self, msg: WaitAll, _ctx: &mut Context<Self>) -> Self::Result {
        let mut ready: Vec<Option<Status>> = Vec::with_capacity(msg.0.len());
        let mut waits = Vec::new();
        for (i, key) in msg.0.iter().enumerate() {
            match self.keys.get_mut(key) {
                None => ready.push(Some(Status::Lost(format!(
                    "{key} is not held by this client"
                )))),
                Some(e) if !matches!(e.status, Status::Pending) => {
                    ready.push(Some(e.status.clone()))
                }
                Some(e) => {
                    let (tx, rx) = oneshot::channel();
                    e.waiters.push(tx);
                    waits.push((i, rx));
                    ready.push(None);
                }
            }
        }
        Box::pin(async move {
            for (i, rx) in waits {
                ready[i] = Some(
                    rx.await
                        .unwrap_or_else(|_| Status::Lost("the client closed".into())),
                );
            }
            ready.into_iter().map(|s| s.expect("filled")).collect()
        })
    }
}

/// Fetch the encoded values of keys (waiting for them to be computed first).
#[derive(Message)]
#[rtype(result = "Result<Vec<Bytes>>")]
pub struct Fetch(pub Vec<Key>);

impl Handler<Fetch> for ClientActor {
    type Result = ResponseFuture<Result<Vec<Bytes>>>;
    fn handle(&mut self, msg: Fetch, ctx: &mut Context<Self>) -> Self::Result {
        let me = ctx.address();
        let stores = self.stores.clone();
        Box::pin(fetch_in_runs(me, stores, msg.0))
    }
}

/// Runs of keys a gather waits for and fetches side by side: each run is fetched as soon as
/// all of its keys are in memory, so the first results of a large gather stream in while
/// later ones are still being computed, instead of all moving after the last is done.
const GATHER_RUNS: usize = 16;

async fn fetch_in_runs(
    me: Addr<ClientActor>,
    stores: StorePool,
    keys: Vec<Key>,
) -> Result<Vec<Bytes>> {
    if keys.len() < 2 {
        return fetch(me, stores, keys).await;
    }
    let per = keys.len().div_ceil(GATHER_RUNS);
    let runs = keys
        .chunks(per)
        .map(|run| fetch(me.clone(), stores.clone(), run.to_vec()));
    let values = futures::future::try_join_all(runs).await?;
    Ok(values.into_iter().flatten().collect())
}

async fn fetch(me: Addr<ClientActor>, stores: StorePool, keys: Vec<Key>) -> Result<Vec<Bytes>> {
    let closed = |_| Error::Closed("client".into());
    let mut values: Vec<Option<Bytes>> = vec![None; keys.len()];
    for _ in 0..FETCH_ATTEMPTS {
        // Where is each missing value?
        let mut by_store: HashMap<Arc<str>, (WorkerId, Vec<usize>)> = HashMap::default();
        let todo: Vec<usize> = (0..keys.len()).filter(|i| values[*i].is_none()).collect();
        let statuses = me
            .send(WaitAll(todo.iter().map(|i| keys[*i].clone()).collect()))
            .await
            .map_err(closed)?;
        for (i, status) in todo.into_iter().zip(statuses) {
            match status {
                Status::Memory { value: Some(v), .. } => values[i] = Some(v),
                Status::Memory { worker, addr, .. } => {
                    by_store.entry(addr).or_insert((worker, vec![])).1.push(i)
                }
                other => return Err(other.into_error(&keys[i])),
            }
        }
        if by_store.is_empty() {
            return Ok(values
                .into_iter()
                .map(|v| v.expect("all fetched"))
                .collect());
        }
        for (addr, (worker, idx)) in by_store {
            let wanted: Vec<Key> = idx.iter().map(|i| keys[*i].clone()).collect();
            match stores.get(&addr, wanted).await {
                Ok(got) => {
                    for (i, (key, value)) in idx.iter().zip(got) {
                        match value {
                            Some(v) => values[*i] = Some(v),
                            None => me.do_send(Missing { key, worker }),
                        }
                    }
                }
                Err(e) => {
                    tracing::warn!(%addr, "fetch failed: {e}");
                    for i in idx {
                        me.do_send(Missing {
                            key: keys[i].clone(),
                            worker,
                        });
                    }
                }
            }
        }
    }
    Err(Error::Transport {
        addr: "data-stores".into(),
        message: format!("values still missing after {FETCH_ATTEMPTS} attempts"),
    })
}

/// Values the client placed in a worker's data-store; adds one reference per key.
#[derive(Message)]
#[rtype(result = "Result<()>")]
pub struct Scatter {
    /// The worker that will hold them.
    pub worker: WorkerId,
    /// Its data-store address.
    pub addr: String,
    /// Keys and encoded values.
    pub values: Vec<(Key, Bytes)>,
}

impl Handler<Scatter> for ClientActor {
    type Result = ResponseActFuture<Self, Result<()>>;
    fn handle(&mut self, msg: Scatter, _ctx: &mut Context<Self>) -> Self::Result {
        let stores = self.stores.clone();
        let Scatter {
            worker,
            addr,
            values,
        } = msg;
        let fut = async move {
            let mut stored = Vec::with_capacity(values.len());
            for (key, value) in values {
                let n = stores.put(&addr, key.clone(), value).await?;
                stored.push((key, n));
            }
            Ok::<_, Error>((worker, addr, stored))
        };
        Box::pin(fut.into_actor(self).map(|res, act, _| {
            let (worker, addr, stored) = res?;
            for (key, nbytes) in &stored {
                act.add_ref(
                    key.clone(),
                    Status::Memory {
                        worker,
                        addr: addr.as_str().into(),
                        nbytes: *nbytes,
                        value: None,
                    },
                );
            }
            act.outbox.push(FromClient::Scattered(ScatteredMsg {
                worker,
                keys: stored,
            }));
            act.flush();
            Ok(())
        }))
    }
}
