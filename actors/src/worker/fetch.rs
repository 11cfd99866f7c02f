//! Assembling a task's arguments: inline values as they are, dependencies from the local
//! data-store or fetched directly from the peer data-stores that hold them (one request per
//! holder, all holders at once; then holder by holder for what that did not bring). Fetched values
//! are kept in the local data-store as replicas (like Dask's workers), so later tasks that
//! read them here do not fetch them again once the scheduler knows.

use crate::datastore::{DataStore, GetLocal, Put};
use crate::transport::store_client::StorePool;
use actix::Addr;
use bytes::Bytes;
use rask_protocol::{Arg, ComputeMsg, Key, WorkerId};
use std::collections::HashMap;

/// Dependencies that no holder could provide, each with the holder that did not have it.
pub type Missing = Vec<(Key, WorkerId)>;

/// A task's arguments, and the dependencies fetched from peers for it (now replicas in the
/// local data-store), with their sizes.
pub struct Gathered {
    /// One encoded value per argument.
    pub args: Vec<Bytes>,
    /// Fetched dependencies, stored locally.
    pub replicated: Vec<(Key, u64)>,
}

/// Resolves every argument of `task` to encoded bytes.
pub async fn gather_args(
    task: &ComputeMsg,
    store: &Addr<DataStore>,
    peers: &StorePool,
    me: Option<WorkerId>,
) -> Result<Gathered, Missing> {
    let dep_keys: Vec<Key> = task.deps.iter().map(|d| d.key.clone()).collect();
    let mut values: HashMap<Key, Bytes> = HashMap::new();
    if !dep_keys.is_empty() {
        if let Ok(local) = store.send(GetLocal(dep_keys.clone())).await {
            for (k, v) in dep_keys.iter().zip(local) {
                if let Some(v) = v {
                    values.insert(k.clone(), v);
                }
            }
        }
    }
    let mut replicated = Vec::new();
    // First round: every missing dependency from its first holder, one request per holder,
    // all holders at once.
    let mut by_holder: HashMap<&str, Vec<Key>> = HashMap::new();
    for dep in &task.deps {
        if values.contains_key(&dep.key) {
            continue;
        }
        if let Some((_, addr)) = dep.holders.iter().find(|(h, _)| Some(*h) != me) {
            let keys = by_holder.entry(addr.as_ref()).or_default();
            if !keys.contains(&dep.key) {
                keys.push(dep.key.clone());
            }
        }
    }
    if !by_holder.is_empty() {
        let requests = by_holder
            .into_iter()
            .map(|(addr, keys)| async move { peers.get(addr, keys).await });
        for got in futures::future::join_all(requests).await {
            // A failed or partial answer leaves its keys to the holder-by-holder round.
            for (key, value) in got.into_iter().flatten() {
                if let Some(v) = value {
                    store.do_send(Put {
                        key: key.clone(),
                        value: v.clone(),
                    });
                    replicated.push((key.clone(), v.len() as u64));
                    values.insert(key, v);
                }
            }
        }
    }
    let mut missing = Vec::new();
    for dep in &task.deps {
        if values.contains_key(&dep.key) {
            continue;
        }
        let mut last = None;
        for (holder, addr) in &dep.holders {
            if Some(*holder) == me {
                last = Some(*holder);
                continue;
            }
            match peers.get(addr, vec![dep.key.clone()]).await {
                Ok(mut got) => {
                    if let Some((_, Some(v))) = got.pop() {
                        store.do_send(Put {
                            key: dep.key.clone(),
                            value: v.clone(),
                        });
                        replicated.push((dep.key.clone(), v.len() as u64));
                        values.insert(dep.key.clone(), v);
                        break;
                    }
                }
                // The first failure against a store is worth a warning; the ones right after
                // (the pool remembers it is gone) are not.
                Err(e)
                    if e.to_string()
                        .contains(crate::transport::store_client::NOT_RETRYING) =>
                {
                    tracing::debug!(key = %dep.key, %addr, "fetch failed: {e}")
                }
                Err(e) => tracing::warn!(key = %dep.key, %addr, "fetch failed: {e}"),
            }
            last = Some(*holder);
        }
        if !values.contains_key(&dep.key) {
            missing.push((dep.key.clone(), last.unwrap_or_default()));
        }
    }
    if !missing.is_empty() {
        return Err(missing);
    }
    let args = task
        .args
        .iter()
        .map(|a| match a {
            Arg::Value(b) => b.clone(),
            Arg::Key(k) => values[k].clone(),
        })
        .collect();
    Ok(Gathered { args, replicated })
}
