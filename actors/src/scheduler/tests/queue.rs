//! Queuing of root tasks on the scheduler, work stealing, and clients resuming after a
//! reconnect.

use super::*;

fn finish(h: &mut Harness, w: WorkerId, c: &ComputeMsg, duration_us: u64) {
    h.worker_says(
        w,
        FromWorker::Finished {
            key: c.key.clone(),
            attempt: c.attempt,
            nbytes: 8,
            duration_us,
        },
    );
}

/// One worker, a client, and `n` dependents of `x` all placed by locality on that worker once
/// `x` finished (taking `x_us`). Returns the worker, the client and the dependents' computes.
fn piled_on_one_worker(
    h: &mut Harness,
    n: usize,
    x_us: u64,
) -> (WorkerId, ClientId, Vec<(WorkerId, ComputeMsg)>) {
    let w1 = h.worker(&["f"]);
    let c = h.client();
    let mut graph = vec![spec("x", "f", &[], false)];
    graph.extend((0..n).map(|i| spec(&format!("d{i}"), "f", &["x"], true)));
    h.client_says(c, FromClient::Submit(graph));
    let (_, cx) = h.computes().remove(0);
    finish(h, w1, &cx, x_us);
    (w1, c, h.computes())
}

/// Steal requests sent so far: victim, task, attempt.
fn steal_requests(h: &Harness) -> Vec<(WorkerId, Key, Attempt)> {
    h.out
        .workers
        .iter()
        .filter_map(|(w, m)| match m {
            ToWorker::Steal { key, attempt } => Some((*w, key.clone(), *attempt)),
            _ => None,
        })
        .collect()
}

fn roots(n: usize, priority: i32) -> Vec<TaskSpec> {
    (0..n)
        .map(|i| {
            let mut s = spec(&format!("r{priority}-{i}"), "f", &[], true);
            s.priority = priority;
            s
        })
        .collect()
}

#[test]
fn root_tasks_wait_on_the_scheduler_until_a_thread_frees() {
    let mut h = Harness::new();
    let w = h.worker(&["f"]);
    let c = h.client();
    h.client_says(c, FromClient::Submit(roots(10, 0)));
    // Unknown duration: one task running and one waiting on the single-thread worker.
    let first = h.computes();
    assert_eq!(first.len(), 2);
    assert_eq!(h.core.task_state(&k("r0-9")), Some(&TaskState::Queued));
    // A slow finish keeps the window at two.
    finish(&mut h, w, &first[0].1, 1_000_000);
    let next = h.computes();
    assert_eq!(next.len(), 1);
    // Much faster runs pull the average down and open the window: everything left goes out.
    finish(&mut h, w, &first[1].1, 5);
    finish(&mut h, w, &next[0].1, 5);
    let mut opened = 0;
    for _ in 0..30 {
        let batch = h.computes();
        if batch.len() > 1 {
            opened = batch.len();
        }
        for (w, m) in batch {
            finish(&mut h, w, &m, 5);
        }
    }
    assert!(opened > 1, "the window never opened");
    assert!((0..10).all(|i| h.in_memory_for(c, &format!("r0-{i}"))));
}

#[test]
fn queued_tasks_go_out_by_priority_and_new_workers_take_them() {
    let mut h = Harness::new();
    let w1 = h.worker(&["f"]);
    let c = h.client();
    h.client_says(c, FromClient::Submit(roots(4, 0)));
    h.client_says(c, FromClient::Submit(roots(2, 7)));
    let sent: Vec<String> = h
        .computes()
        .iter()
        .map(|(_, m)| m.key.to_string())
        .collect();
    assert_eq!(sent, ["r0-0", "r0-1"]);
    let w2 = h.worker(&["f"]);
    let to_w2: Vec<String> = h
        .computes()
        .into_iter()
        .inspect(|(w, _)| assert_eq!(*w, w2))
        .map(|(_, m)| m.key.to_string())
        .collect();
    assert_eq!(
        to_w2,
        ["r7-0", "r7-1"],
        "the new worker takes the highest priority"
    );
    assert_ne!(w1, w2);
}

#[test]
fn released_queued_tasks_never_run() {
    let mut h = Harness::new();
    h.worker(&["f"]);
    let c = h.client();
    h.client_says(c, FromClient::Submit(roots(6, 0)));
    let sent = h.computes();
    assert_eq!(sent.len(), 2);
    let queued: Vec<Key> = (2..6).map(|i| k(&format!("r0-{i}"))).collect();
    h.client_says(c, FromClient::Release(queued));
    for (w, m) in &sent {
        finish(&mut h, *w, m, 1_000_000);
    }
    assert!(h.computes().is_empty(), "released tasks were sent");
    assert_eq!(h.core.task_count(), 2);
}

#[test]
fn idle_worker_steals_waiting_tasks_that_were_placed_by_locality() {
    let mut h = Harness::new();
    let (w1, c, placed) = piled_on_one_worker(&mut h, 4, 400_000);
    // All four dependents go where x is.
    assert_eq!(placed.len(), 4);
    assert!(placed.iter().all(|(w, _)| *w == w1));
    let w2 = h.worker(&["f"]);
    h.now += Duration::from_millis(10);
    h.core.on_tick(h.now, &mut h.out);
    h.core.check_invariants();
    let steals: Vec<(Key, Attempt)> = steal_requests(&h)
        .into_iter()
        .filter(|(w, _, _)| *w == w1)
        .map(|(_, k, a)| (k, a))
        .collect();
    assert_eq!(steals.len(), 1, "one idle thread on w2: one steal");
    let (key, attempt) = steals[0].clone();
    // A second tick does not ask again while the answer is pending.
    h.core.on_tick(h.now, &mut h.out);
    assert_eq!(steal_requests(&h).len(), 1);
    h.worker_says(
        w1,
        FromWorker::StealReply {
            key: key.clone(),
            attempt,
            stolen: true,
        },
    );
    let moved = h.computes();
    assert_eq!(moved.len(), 1);
    assert_eq!(moved[0].0, w2);
    assert_eq!(moved[0].1.key, key);
    assert_eq!(moved[0].1.attempt, Attempt(attempt.0 + 1));
    finish(&mut h, w2, &moved[0].1, 400_000);
    // The old attempt's result, had it run anyway, is stale: dropped without harm.
    let old = placed.iter().find(|(_, m)| m.key == key).expect("placed");
    finish(&mut h, w1, &old.1, 400_000);
    for (w, m) in placed.iter().filter(|(_, m)| m.key != key) {
        finish(&mut h, *w, m, 400_000);
    }
    assert!((0..4).all(|i| h.in_memory_for(c, &format!("d{i}"))));
}

#[test]
fn a_refused_steal_leaves_the_task_where_it_runs() {
    let mut h = Harness::new();
    let (w1, c, placed) = piled_on_one_worker(&mut h, 3, 400_000);
    h.worker(&["f"]);
    h.now += Duration::from_millis(10);
    h.core.on_tick(h.now, &mut h.out);
    let (_, key, attempt) = steal_requests(&h).pop().expect("a steal request");
    h.worker_says(
        w1,
        FromWorker::StealReply {
            key: key.clone(),
            attempt,
            stolen: false,
        },
    );
    assert!(h.computes().is_empty());
    assert_eq!(
        h.core.task_state(&key),
        Some(&TaskState::Processing { worker: w1 })
    );
    for (w, m) in &placed {
        finish(&mut h, *w, m, 400_000);
    }
    assert!((0..3).all(|i| h.in_memory_for(c, &format!("d{i}"))));
}

#[test]
fn short_tasks_are_not_worth_stealing() {
    let mut h = Harness::new();
    piled_on_one_worker(&mut h, 4, 20);
    h.worker(&["f"]);
    h.now += Duration::from_millis(10);
    h.core.on_tick(h.now, &mut h.out);
    assert!(steal_requests(&h).is_empty());
}

#[test]
fn a_resuming_client_is_answered_for_known_and_unknown_keys() {
    let mut h = Harness::new();
    h.worker(&["f"]);
    let c = h.client();
    h.client_says(c, FromClient::Submit(vec![spec("a", "f", &[], true)]));
    h.run_all();
    let c2 = h.client();
    h.client_says(c2, FromClient::Resume(vec![k("a"), k("ghost")]));
    assert!(h.in_memory_for(c2, "a"));
    let e = h.erred_for(c2, "ghost").expect("unknown key answered");
    assert_eq!(e.kind, TaskErrorKind::LostData);
    // c2 now holds a: releasing it from c alone keeps it.
    h.client_says(c, FromClient::Release(vec![k("a")]));
    assert_eq!(h.core.task_count(), 1);
}
