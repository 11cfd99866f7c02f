//! Tests of the scheduler core with no sockets and a fake clock. Every message the core emits
//! is round-tripped through the wire codec, and invariants are checked after every step.

use super::core::{Core, CoreConfig, Outbox};
use super::state::TaskState;
use rask_protocol::{
    decode_batch, encode_batch, encode_value, Arg, Attempt, ClientId, ComputeMsg, FromClient,
    FromWorker, Key, ScatteredMsg, TaskError, TaskErrorKind, TaskSpec, ToClient, ToWorker,
    WorkerHello, WorkerId,
};
use std::time::{Duration, Instant};

#[derive(Default)]
struct Recorder {
    workers: Vec<(WorkerId, ToWorker)>,
    clients: Vec<(ClientId, ToClient)>,
}

impl Outbox for Recorder {
    fn to_worker(&mut self, worker: WorkerId, msg: ToWorker) {
        let frames = encode_batch(std::slice::from_ref(&msg), vec![]).unwrap();
        let back = decode_batch::<ToWorker>(frames).unwrap().messages.remove(0);
        assert_eq!(back, msg);
        self.workers.push((worker, back));
    }
    fn to_client(&mut self, client: ClientId, msg: ToClient) {
        let frames = encode_batch(std::slice::from_ref(&msg), vec![]).unwrap();
        let back = decode_batch::<ToClient>(frames).unwrap().messages.remove(0);
        self.clients.push((client, back));
    }
}

/// A core, a fake clock, and helpers to drive it like the actor would.
struct Harness {
    core: Core,
    out: Recorder,
    now: Instant,
}

fn k(s: &str) -> Key {
    Key::new(s)
}

fn spec(key: &str, function: &str, deps: &[&str], wanted: bool) -> TaskSpec {
    let mut args = vec![Arg::Value(encode_value(&1i64).unwrap())];
    args.extend(deps.iter().map(|d| Arg::Key(k(d))));
    TaskSpec {
        key: k(key),
        function: function.into(),
        args,
        priority: 0,
        retries: 0,
        wanted,
        workers: vec![],
    }
}

impl Harness {
    fn new() -> Self {
        Harness {
            core: Core::new(CoreConfig {
                worker_ttl: Duration::from_secs(5),
                client_ttl: Duration::from_secs(20),
                allowed_failures: 1,
                ..CoreConfig::default()
            }),
            out: Recorder::default(),
            now: Instant::now(),
        }
    }

    fn worker(&mut self, functions: &[&str]) -> WorkerId {
        let hello = WorkerHello {
            store_addr: format!("tcp://127.0.0.1:{}", 1000 + self.core.worker_ids().len()),
            nthreads: 1,
            functions: functions.iter().map(|s| s.to_string()).collect(),
            held: vec![],
        };
        let id = self
            .core
            .add_worker("w".into(), &hello, self.now, &mut self.out);
        self.core.check_invariants();
        id
    }

    fn client(&mut self) -> ClientId {
        self.core.add_client("c".into(), self.now)
    }

    fn client_says(&mut self, c: ClientId, msg: FromClient) {
        self.core.on_client_msg(c, msg, self.now, &mut self.out);
        self.core.check_invariants();
    }

    fn worker_says(&mut self, w: WorkerId, msg: FromWorker) {
        self.core.on_worker_msg(w, msg, self.now, &mut self.out);
        self.core.check_invariants();
    }

    /// Takes the compute messages sent so far.
    fn computes(&mut self) -> Vec<(WorkerId, ComputeMsg)> {
        let mut res = Vec::new();
        self.out.workers.retain(|(w, m)| match m {
            ToWorker::Compute(c) => {
                res.push((*w, c.clone()));
                false
            }
            _ => true,
        });
        res
    }

    /// Finishes every compute message outstanding, repeatedly, until the graph is quiet.
    fn run_all(&mut self) -> usize {
        let mut n = 0;
        loop {
            let batch = self.computes();
            if batch.is_empty() {
                return n;
            }
            for (w, c) in batch {
                n += 1;
                self.worker_says(
                    w,
                    FromWorker::Finished {
                        key: c.key,
                        attempt: c.attempt,
                        nbytes: 8,
                        duration_us: 10,
                    },
                );
            }
        }
    }

    fn in_memory_for(&self, c: ClientId, key: &str) -> bool {
        self.out.clients.iter().any(|(cc, m)| {
            *cc == c && matches!(m, ToClient::InMemory(im) if im.key.as_str() == key)
        })
    }

    fn erred_for(&self, c: ClientId, key: &str) -> Option<TaskError> {
        self.out.clients.iter().find_map(|(cc, m)| match m {
            ToClient::Erred(e) if *cc == c && e.key.as_str() == key => Some(e.clone()),
            _ => None,
        })
    }

    fn freed(&self) -> Vec<Key> {
        self.freed_where(|_| true)
    }

    /// Keys freed on workers that `to` accepts, in order.
    fn freed_where(&self, to: impl Fn(WorkerId) -> bool) -> Vec<Key> {
        self.out
            .workers
            .iter()
            .filter(|(w, _)| to(*w))
            .flat_map(|(_, m)| match m {
                ToWorker::Free(keys) => keys.clone(),
                _ => vec![],
            })
            .collect()
    }
}

#[test]
fn single_task_runs_notifies_and_is_forgotten_on_release() {
    let mut h = Harness::new();
    let w = h.worker(&["f"]);
    let c = h.client();
    h.client_says(c, FromClient::Submit(vec![spec("a", "f", &[], true)]));
    let computes = h.computes();
    assert_eq!(computes.len(), 1);
    assert_eq!(computes[0].0, w);
    h.worker_says(
        w,
        FromWorker::Finished {
            key: k("a"),
            attempt: computes[0].1.attempt,
            nbytes: 8,
            duration_us: 10,
        },
    );
    assert!(h.in_memory_for(c, "a"));
    h.client_says(c, FromClient::Release(vec![k("a")]));
    assert_eq!(h.freed(), vec![k("a")]);
    assert_eq!(h.core.task_count(), 0);
}

//   a
//  / \
// b   c
//  \ /
//   d      only d is wanted: a, b, c are freed as soon as they are not needed
#[test]
fn diamond_frees_intermediates_and_keeps_lineage() {
    let mut h = Harness::new();
    h.worker(&["f"]);
    h.worker(&["f"]);
    let c = h.client();
    h.client_says(
        c,
        FromClient::Submit(vec![
            spec("a", "f", &[], false),
            spec("b", "f", &["a"], false),
            spec("c", "f", &["a"], false),
            spec("d", "f", &["b", "c"], true),
        ]),
    );
    assert_eq!(h.run_all(), 4);
    assert!(h.in_memory_for(c, "d"));
    let mut freed = h.freed();
    freed.sort();
    assert_eq!(freed, vec![k("a"), k("b"), k("c")]);
    assert_eq!(h.core.task_state(&k("a")), Some(&TaskState::Released));
    h.client_says(c, FromClient::Release(vec![k("d")]));
    assert_eq!(h.core.task_count(), 0);
}

#[test]
fn zero_worker_mode_completes_without_running() {
    let mut h = Harness::new();
    h.core.config.zero_worker = true;
    h.worker(&["f"]);
    let c = h.client();
    let mut specs = vec![spec("t0", "f", &[], false)];
    for i in 1..5000 {
        let prev = format!("t{}", i - 1);
        specs.push(spec(&format!("t{i}"), "f", &[prev.as_str()], i == 4999));
    }
    h.client_says(c, FromClient::Submit(specs));
    assert!(h.computes().is_empty(), "nothing is sent to workers");
    assert!(h.in_memory_for(c, "t4999"));
}

#[test]
fn a_graph_may_list_dependents_before_dependencies() {
    let mut h = Harness::new();
    h.worker(&["f"]);
    let c = h.client();
    h.client_says(
        c,
        FromClient::Submit(vec![
            spec("b", "f", &["a"], true),
            spec("a", "f", &[], false),
        ]),
    );
    assert_eq!(h.run_all(), 2);
    assert!(h.in_memory_for(c, "b"));
}

#[test]
fn dependencies_prefer_the_worker_holding_the_input() {
    let mut h = Harness::new();
    let w1 = h.worker(&["f"]);
    let _w2 = h.worker(&["f"]);
    let c = h.client();
    h.client_says(c, FromClient::Submit(vec![spec("a", "f", &[], true)]));
    let (wa, ca) = h.computes().remove(0);
    h.worker_says(
        wa,
        FromWorker::Finished {
            key: k("a"),
            attempt: ca.attempt,
            nbytes: 1 << 20,
            duration_us: 10,
        },
    );
    h.client_says(c, FromClient::Submit(vec![spec("b", "f", &["a"], true)]));
    let (wb, cb) = h.computes().remove(0);
    assert_eq!(wb, wa);
    assert_eq!(cb.deps[0].holders[0].0, wa);
    let _ = w1;
}

#[test]
fn long_chain_completes_and_releases_behind_itself() {
    let mut h = Harness::new();
    h.worker(&["f"]);
    let c = h.client();
    let mut specs = vec![spec("t0", "f", &[], false)];
    for i in 1..1000 {
        let prev = format!("t{}", i - 1);
        specs.push(spec(&format!("t{i}"), "f", &[prev.as_str()], i == 999));
    }
    h.client_says(c, FromClient::Submit(specs));
    assert_eq!(h.run_all(), 1000);
    assert!(h.in_memory_for(c, "t999"));
    assert_eq!(h.freed().len(), 999);
    h.client_says(c, FromClient::Release(vec![k("t999")]));
    assert_eq!(h.core.task_count(), 0);
}

#[test]
fn failure_errs_task_and_dependents_and_reaches_clients() {
    let mut h = Harness::new();
    let w = h.worker(&["f"]);
    let c = h.client();
    h.client_says(
        c,
        FromClient::Submit(vec![
            spec("a", "f", &[], true),
            spec("b", "f", &["a"], true),
        ]),
    );
    let (_, ca) = h.computes().remove(0);
    let err = TaskError {
        key: k("a"),
        function: "f".into(),
        kind: TaskErrorKind::Failed,
        message: "bad input".into(),
    };
    h.worker_says(
        w,
        FromWorker::Failed {
            attempt: ca.attempt,
            error: err.clone(),
        },
    );
    assert_eq!(h.erred_for(c, "a"), Some(err));
    let eb = h.erred_for(c, "b").expect("dependent erred");
    assert_eq!(eb.kind, TaskErrorKind::DependencyFailed(k("a")));
    assert_eq!(eb.message, "bad input");
    h.client_says(c, FromClient::Release(vec![k("a"), k("b")]));
    assert_eq!(h.core.task_count(), 0);
}

#[test]
fn retries_rerun_a_failed_task() {
    let mut h = Harness::new();
    let w = h.worker(&["f"]);
    let c = h.client();
    let mut s = spec("a", "f", &[], true);
    s.retries = 1;
    h.client_says(c, FromClient::Submit(vec![s]));
    let (_, ca) = h.computes().remove(0);
    let err = TaskError {
        key: k("a"),
        function: "f".into(),
        kind: TaskErrorKind::Failed,
        message: "flaky".into(),
    };
    h.worker_says(
        w,
        FromWorker::Failed {
            attempt: ca.attempt,
            error: err,
        },
    );
    // The retry waits out its back-off (100 ms after a first failure) on the scheduler.
    assert!(h.computes().is_empty());
    h.now += Duration::from_millis(50);
    h.core.on_tick(h.now, &mut h.out);
    assert!(h.computes().is_empty(), "retried before its back-off");
    h.now += Duration::from_millis(60);
    h.core.on_tick(h.now, &mut h.out);
    h.core.check_invariants();
    let (_, again) = h.computes().remove(0);
    assert_eq!(again.attempt, Attempt(ca.attempt.0 + 1));
    assert!(h.erred_for(c, "a").is_none());
    h.worker_says(
        w,
        FromWorker::Finished {
            key: k("a"),
            attempt: again.attempt,
            nbytes: 8,
            duration_us: 10,
        },
    );
    assert!(h.in_memory_for(c, "a"));
}

#[test]
fn unknown_function_errs_immediately() {
    let mut h = Harness::new();
    h.worker(&["f"]);
    let c = h.client();
    h.client_says(c, FromClient::Submit(vec![spec("a", "nope", &[], true)]));
    let e = h.erred_for(c, "a").expect("erred at once");
    assert_eq!(e.kind, TaskErrorKind::UnknownFunction);
    assert!(e.message.contains("nope"));
    assert!(h.computes().is_empty());
}

#[test]
fn tasks_wait_for_a_first_worker() {
    let mut h = Harness::new();
    let c = h.client();
    h.client_says(c, FromClient::Submit(vec![spec("a", "f", &[], true)]));
    assert_eq!(h.core.task_state(&k("a")), Some(&TaskState::NoWorker));
    h.worker(&["f"]);
    assert_eq!(h.run_all(), 1);
    assert!(h.in_memory_for(c, "a"));
}

#[test]
fn client_leaving_releases_its_keys() {
    let mut h = Harness::new();
    h.worker(&["f"]);
    let c = h.client();
    h.client_says(c, FromClient::Submit(vec![spec("a", "f", &[], true)]));
    h.run_all();
    h.client_says(c, FromClient::Goodbye);
    assert_eq!(h.freed(), vec![k("a")]);
    assert_eq!(h.core.task_count(), 0);
}

#[test]
fn resubmitting_a_known_key_shares_the_result() {
    let mut h = Harness::new();
    h.worker(&["f"]);
    let c1 = h.client();
    let c2 = h.client();
    h.client_says(c1, FromClient::Submit(vec![spec("a", "f", &[], true)]));
    h.run_all();
    h.client_says(c2, FromClient::Submit(vec![spec("a", "f", &[], true)]));
    assert!(h.computes().is_empty());
    assert!(h.in_memory_for(c2, "a"));
    h.client_says(c1, FromClient::Release(vec![k("a")]));
    assert!(h.freed().is_empty(), "c2 still wants it");
    h.client_says(c2, FromClient::Release(vec![k("a")]));
    assert_eq!(h.freed(), vec![k("a")]);
}

#[test]
fn releasing_before_completion_cancels_the_work() {
    let mut h = Harness::new();
    h.worker(&["f"]);
    let c = h.client();
    h.client_says(
        c,
        FromClient::Submit(vec![
            spec("a", "f", &[], false),
            spec("b", "f", &["a"], true),
        ]),
    );
    h.client_says(c, FromClient::Release(vec![k("b")]));
    assert!(h
        .out
        .workers
        .iter()
        .any(|(_, m)| matches!(m, ToWorker::Cancel { .. })));
    assert_eq!(h.core.task_count(), 0);
}

mod coord;
mod long_running;
mod loss;
mod queue;
mod recovery;
mod replicas;
