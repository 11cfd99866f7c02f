//! Assembling a task's arguments: inline values as they are, dependencies from the local
//! data-store or fetched directly from the peer data-stores that hold them.

use crate::datastore::{DataStore, GetLocal};
use crate::transport::store_client::StorePool;
use actix::Addr;
use bytes::Bytes;
use rask_protocol::{Arg, ComputeMsg, Key, WorkerId};
use std::collections::HashMap;

/// Dependencies that no holder could provide, each with the holder that did not have it.
pub type Missing = Vec<(Key, WorkerId)>;

/// Resolves every argument of `task` to encoded bytes.
pub async fn gather_args(
    task: &ComputeMsg,
    store: &Addr<DataStore>,
    peers: &StorePool,
    me: Option<WorkerId>,
) -> Result<Vec<Bytes>, Missing> {
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
    Ok(task
        .args
        .iter()
        .map(|a| match a {
            Arg::Value(b) => b.clone(),
            Arg::Key(k) => values[k].clone(),
        })
        .collect())
}
