//! Losses: workers that die or go silent, clients that go silent, data that vanishes.

use super::*;

#[test]
fn lost_worker_reschedules_running_and_recomputes_lost_results() {
    let mut h = Harness::new();
    let w1 = h.worker(&["f"]);
    let c = h.client();
    h.client_says(c, FromClient::Submit(vec![spec("a", "f", &[], true)]));
    h.run_all();
    let w2 = h.worker(&["f"]);
    h.client_says(c, FromClient::Submit(vec![spec("b", "f", &["a"], true)]));
    let (wb, _) = h.computes().remove(0);
    assert_eq!(wb, w1, "b goes where a is");
    h.core.remove_worker(w1, &mut h.out);
    h.core.check_invariants();
    // a must be recomputed on w2, then b runs there.
    let computes = h.computes();
    assert_eq!(computes.len(), 1);
    assert_eq!(computes[0].1.key, k("a"));
    assert_eq!(computes[0].0, w2);
    h.worker_says(
        w2,
        FromWorker::Finished {
            key: k("a"),
            attempt: computes[0].1.attempt,
            nbytes: 8,
            duration_us: 10,
        },
    );
    let (wb, cb) = h.computes().remove(0);
    assert_eq!((wb, cb.key.clone()), (w2, k("b")));
    // A stale result from the dead worker's attempt is ignored.
    h.worker_says(
        w1,
        FromWorker::Finished {
            key: k("b"),
            attempt: Attempt(1),
            nbytes: 8,
            duration_us: 10,
        },
    );
    h.worker_says(
        w2,
        FromWorker::Finished {
            key: k("b"),
            attempt: cb.attempt,
            nbytes: 8,
            duration_us: 10,
        },
    );
    assert!(h.in_memory_for(c, "b"));
}

#[test]
fn task_that_kills_workers_is_erred_killed_worker() {
    let mut h = Harness::new(); // allowed_failures = 1
    let c = h.client();
    h.worker(&["f"]);
    h.client_says(c, FromClient::Submit(vec![spec("a", "f", &[], true)]));
    for _ in 0..2 {
        let (w, _) = h.computes().remove(0);
        h.worker(&["f"]);
        h.core.remove_worker(w, &mut h.out);
        h.core.check_invariants();
    }
    let e = h.erred_for(c, "a").expect("erred");
    assert_eq!(e.kind, TaskErrorKind::KilledWorker);
}

#[test]
fn silent_worker_is_removed_after_ttl() {
    let mut h = Harness::new();
    let w1 = h.worker(&["f"]);
    h.now += Duration::from_secs(3);
    let w2 = h.worker(&["f"]);
    h.now += Duration::from_secs(3);
    h.worker_says(w2, FromWorker::Heartbeat(Default::default()));
    let removed = h.core.on_tick(h.now, &mut h.out);
    assert_eq!(removed, vec![w1]);
    assert_eq!(h.core.worker_ids(), vec![w2]);
}

#[test]
fn a_stalled_scheduler_forgives_silence_once() {
    let mut h = Harness::new(); // worker TTL 5 s
    let w = h.worker(&["f"]);
    h.core.on_tick(h.now, &mut h.out);
    h.now += Duration::from_secs(30); // the scheduler was busy for 30 s
    assert!(h.core.on_tick(h.now, &mut h.out).is_empty());
    for _ in 0..5 {
        h.now += Duration::from_secs(1);
        assert!(
            h.core.on_tick(h.now, &mut h.out).is_empty(),
            "within the TTL again"
        );
    }
    h.now += Duration::from_secs(1);
    assert_eq!(
        h.core.on_tick(h.now, &mut h.out),
        vec![w],
        "silent for real"
    );
}

#[test]
fn silent_client_is_released_after_ttl() {
    let mut h = Harness::new();
    h.worker(&["f"]);
    let c = h.client();
    h.client_says(c, FromClient::Submit(vec![spec("a", "f", &[], true)]));
    h.run_all();
    h.now += Duration::from_secs(21);
    h.core.on_tick(h.now, &mut h.out);
    h.core.check_invariants();
    assert_eq!(h.core.task_count(), 0);
}

#[test]
fn scattered_data_without_lineage_is_lost_data() {
    let mut h = Harness::new();
    let w = h.worker(&["f"]);
    h.worker(&["f"]);
    let c = h.client();
    h.client_says(
        c,
        FromClient::Scattered(ScatteredMsg {
            worker: w,
            keys: vec![(k("x"), 100)],
        }),
    );
    assert!(h.in_memory_for(c, "x"));
    h.client_says(c, FromClient::Submit(vec![spec("y", "f", &["x"], true)]));
    let (wy, _) = h.computes().remove(0);
    assert_eq!(wy, w);
    h.core.remove_worker(w, &mut h.out);
    h.core.check_invariants();
    assert_eq!(
        h.erred_for(c, "x").map(|e| e.kind),
        Some(TaskErrorKind::LostData)
    );
    assert!(matches!(
        h.erred_for(c, "y").map(|e| e.kind),
        Some(TaskErrorKind::DependencyFailed(_))
    ));
}

#[test]
fn missing_dependency_is_recomputed_then_task_reruns() {
    let mut h = Harness::new();
    let w1 = h.worker(&["f"]);
    let c = h.client();
    h.client_says(
        c,
        FromClient::Submit(vec![
            spec("a", "f", &[], false),
            spec("b", "f", &["a"], true),
        ]),
    );
    let (_, ca) = h.computes().remove(0);
    h.worker_says(
        w1,
        FromWorker::Finished {
            key: k("a"),
            attempt: ca.attempt,
            nbytes: 8,
            duration_us: 10,
        },
    );
    let (_, cb) = h.computes().remove(0);
    h.worker_says(
        w1,
        FromWorker::MissingDeps {
            key: k("b"),
            attempt: cb.attempt,
            missing: vec![(k("a"), w1)],
        },
    );
    assert_eq!(h.run_all(), 2);
    assert!(h.in_memory_for(c, "b"));
}
