//! Restart recovery: rebuilding the graph from the journal, adopting the results that
//! reconnecting workers still hold, and writing a compact snapshot of the live graph.
//!
//! Each client in the journal comes back as a stand-in client holding the same keys; a real
//! client that reconnects sends `Resume` with its keys, and stand-ins nobody takes over are
//! dropped after the client TTL like any silent client. Nothing is computed during the
//! recovery window, so results that workers bring back are not recomputed needlessly.

use super::core::{Core, Outbox};
use super::journal::Record;
use super::state::TaskState;
use bytes::Bytes;
use rask_protocol::{
    decode_batch, encode_batch, ClientId, FromClient, Key, TaskSpec, ToClient, ToWorker, WorkerId,
};
use rustc_hash::{FxHashMap as HashMap, FxHashSet as HashSet};
use std::time::Instant;

/// An outbox that drops everything (replayed messages were answered before the crash).
struct Discard;

impl Outbox for Discard {
    fn to_worker(&mut self, _: WorkerId, _: ToWorker) {}
    fn to_client(&mut self, _: ClientId, _: ToClient) {}
}

/// What a replay found.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Recovered {
    /// Clients found in the journal (now stand-ins).
    pub clients: usize,
    /// Tasks rebuilt.
    pub tasks: usize,
    /// Records that could not be decoded and were skipped.
    pub skipped: usize,
}

impl Core {
    /// Rebuilds the graph from journal records and starts the recovery window.
    pub fn recover(&mut self, records: Vec<Record>, now: Instant) -> Recovered {
        self.now = now;
        self.recovering_until = Some(now + self.config.recovery_window);
        let mut stand_ins: HashMap<u32, ClientId> = HashMap::default();
        let mut found = Recovered::default();
        for record in records {
            match record {
                Record::Client { client, frames } => {
                    let id = *stand_ins.entry(client).or_insert_with(|| {
                        let id = self.add_client(format!("recovered-client-{client}"), now);
                        self.stand_ins.insert(id);
                        id
                    });
                    let frames: Vec<Bytes> = frames
                        .into_iter()
                        .map(|f| Bytes::from(f.into_vec()))
                        .collect();
                    match decode_batch::<FromClient>(frames) {
                        Ok(batch) => {
                            for msg in batch.messages {
                                self.on_client_msg(id, msg, now, &mut Discard);
                            }
                        }
                        Err(e) => {
                            tracing::warn!("skipping an unreadable journal record: {e}");
                            found.skipped += 1;
                        }
                    }
                }
                Record::ClientGone { client } => {
                    if let Some(id) = stand_ins.remove(&client) {
                        self.remove_client(id, &mut Discard);
                    }
                }
                Record::Workers { names } => self.expected_workers = names,
            }
        }
        found.clients = self.clients.len();
        found.tasks = self.tasks.len();
        tracing::info!(
            clients = found.clients,
            tasks = found.tasks,
            "graph recovered from the journal; waiting {:?} for workers to report what they hold",
            self.config.recovery_window
        );
        found
    }

    /// A real client resumed `key`: stand-ins stop holding it, and a stand-in left holding
    /// nothing is dropped.
    pub(super) fn take_over_from_stand_ins(&mut self, key: &Key, out: &mut impl Outbox) {
        if self.stand_ins.is_empty() {
            return;
        }
        let mut empty = Vec::new();
        for id in &self.stand_ins {
            if let Some(c) = self.clients.get_mut(id) {
                if c.wants.remove(key) {
                    if let Some(t) = self.tasks.get_mut(key) {
                        t.wanted_by.retain(|w| w != id);
                    }
                }
                if c.wants.is_empty() {
                    empty.push(*id);
                }
            }
        }
        for id in empty {
            self.stand_ins.remove(&id);
            self.remove_client(id, out);
        }
    }

    /// True during the recovery window after a restart.
    pub fn recovering(&self) -> bool {
        self.recovering_until.is_some()
    }

    /// Ends the recovery window if it is over: everything still wanted and not brought back
    /// by a worker is computed.
    pub(super) fn maybe_end_recovery(&mut self, out: &mut impl Outbox) {
        let Some(until) = self.recovering_until else {
            return;
        };
        let all_back = !self.expected_workers.is_empty()
            && self
                .expected_workers
                .iter()
                .all(|n| self.workers.values().any(|w| w.name == *n));
        if self.now < until && !all_back {
            return;
        }
        if all_back {
            tracing::info!("every worker of before the restart is back");
        }
        self.recovering_until = None;
        self.expected_workers = Vec::new();
        let mut wanted: Vec<Key> = self
            .tasks
            .iter()
            .filter(|(_, t)| t.state == TaskState::Released && !t.wanted_by.is_empty())
            .map(|(k, _)| k.clone())
            .collect();
        wanted.sort();
        tracing::info!(
            "recovery window over; computing {} wanted keys no worker brought back",
            wanted.len()
        );
        for key in wanted {
            self.ensure_computed(&key, out);
        }
        // Results adopted for work that nobody wants any more.
        let held: Vec<Key> = self
            .tasks
            .iter()
            .filter(|(_, t)| matches!(t.state, TaskState::Memory { .. }))
            .map(|(k, _)| k.clone())
            .collect();
        self.release_unneeded(held.into_iter(), out);
    }

    /// A (re)joining worker holds `key`, which is tracked but not in memory: take its copy
    /// instead of computing it. Returns false if the key is not worth keeping.
    pub(super) fn adopt_held(
        &mut self,
        worker: WorkerId,
        key: &Key,
        nbytes: u64,
        out: &mut impl Outbox,
    ) -> bool {
        let Some(t) = self.tasks.get(key) else {
            return false;
        };
        if !matches!(
            t.state,
            TaskState::Released
                | TaskState::Waiting { .. }
                | TaskState::NoWorker
                | TaskState::Queued
        ) || !self.needed_by_graph(key)
        {
            return false;
        }
        let t = self.tasks.get_mut(key).expect("present");
        t.state = TaskState::Memory {
            who_has: vec![worker],
        };
        t.nbytes = nbytes;
        let dependents: Vec<Key> = t.dependents.iter().cloned().collect();
        let deps = t.deps.clone();
        let w = self.workers.get_mut(&worker).expect("caller added it");
        w.has.insert(key.clone(), nbytes);
        w.nbytes += nbytes;
        self.notify_memory(key, None, None, out);
        self.dependency_arrived(&dependents, out);
        self.release_unneeded(deps.into_iter(), out);
        true
    }

    /// Needed, or needed to compute a wanted key that is not in memory yet (following released
    /// dependents upwards: after a restart nothing is computed until the window ends).
    pub(super) fn needed_by_graph(&self, key: &Key) -> bool {
        if self.is_needed(key) {
            return true;
        }
        let mut seen: HashSet<&Key> = HashSet::default();
        let mut stack: Vec<&Key> = vec![key];
        while let Some(k) = stack.pop() {
            let Some(t) = self.tasks.get(k) else { continue };
            for d in t.dependents.iter() {
                let Some(dt) = self.tasks.get(d) else {
                    continue;
                };
                if dt.state.is_pending() {
                    return true;
                }
                if dt.state == TaskState::Released && seen.insert(d) {
                    if !dt.wanted_by.is_empty() {
                        return true;
                    }
                    stack.push(d);
                }
            }
        }
        false
    }

    /// Journal records that rebuild today's graph: per client, one submit of everything its
    /// keys need (scattered data has no lineage and is left out).
    pub fn snapshot(&self) -> Vec<Record> {
        let mut names: Vec<String> = self.workers.values().map(|w| w.name.clone()).collect();
        if names.is_empty() {
            // Still waiting for them after a restart: keep expecting the same ones.
            names = self.expected_workers.clone();
        }
        names.sort();
        let mut records = vec![Record::Workers { names }];
        let mut ids: Vec<&ClientId> = self.clients.keys().collect();
        ids.sort();
        for id in ids {
            let wants = &self.clients[id].wants;
            let mut seen: HashSet<&Key> = HashSet::default();
            let mut stack: Vec<&Key> = wants.iter().collect();
            let mut specs = Vec::new();
            while let Some(key) = stack.pop() {
                if !seen.insert(key) {
                    continue;
                }
                let Some(t) = self.tasks.get(key) else {
                    continue;
                };
                let Some(function) = &t.function else {
                    continue;
                };
                stack.extend(t.deps.iter());
                specs.push(TaskSpec {
                    key: key.clone(),
                    function: function.to_string(),
                    args: t.args.clone(),
                    priority: t.priority,
                    retries: t.retries_left,
                    wanted: wants.contains(key),
                    workers: t.restrict.clone(),
                });
            }
            if specs.is_empty() {
                continue;
            }
            match encode_batch(&[FromClient::Submit(specs)], vec![]) {
                Ok(frames) => records.push(Record::Client {
                    client: id.0,
                    frames: frames
                        .iter()
                        .map(|f| serde_bytes::ByteBuf::from(f.to_vec()))
                        .collect(),
                }),
                Err(e) => tracing::error!("cannot snapshot client {id}: {e}"),
            }
        }
        records
    }
}
