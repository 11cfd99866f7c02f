//! Seceded tasks (tasks waiting on tasks they submitted) and actors in the pure core.

use super::*;

fn finish(h: &mut Harness, w: WorkerId, c: &ComputeMsg) {
    h.worker_says(
        w,
        FromWorker::Finished {
            key: c.key.clone(),
            attempt: c.attempt,
            nbytes: 8,
            duration_us: 10,
        },
    );
}

//   p          p runs on the only (one-thread) worker and submits c0..c5, then waits on them:
// / | \        while it counts against the thread only one child fits the worker's window;
// c0 … c5      once it seceded, the children get the whole window.
#[test]
fn a_seceded_task_leaves_room_for_the_tasks_it_waits_on() {
    let mut h = Harness::new();
    let w = h.worker(&["f"]);
    let c = h.client();
    h.client_says(c, FromClient::Submit(vec![spec("p", "f", &[], true)]));
    let (_, p) = h.computes().remove(0);
    let children: Vec<TaskSpec> = (0..6)
        .map(|i| spec(&format!("c{i}"), "f", &[], true))
        .collect();
    h.client_says(c, FromClient::Submit(children));
    let before = h.computes();
    assert_eq!(
        before.len(),
        1,
        "with p counted, the window holds one child"
    );
    h.worker_says(
        w,
        FromWorker::Seceded {
            key: p.key.clone(),
            attempt: p.attempt,
        },
    );
    let after = h.computes();
    assert_eq!(after.len(), 1, "p's slot went to a second child");
    assert_eq!(h.core.info().workers[0].processing, 2);
    assert_eq!(
        h.core.task_state(&k("p")),
        Some(&TaskState::Processing { worker: w })
    );
    // The children finish one by one, each freeing room for the next.
    let mut done = 0;
    for (w2, cc) in before.into_iter().chain(after) {
        finish(&mut h, w2, &cc);
        done += 1;
    }
    done += h.run_all();
    assert_eq!(done, 6);
    finish(&mut h, w, &p);
    assert!(h.in_memory_for(c, "p"));
    assert!((0..6).all(|i| h.in_memory_for(c, &format!("c{i}"))));
}

#[test]
fn a_seceded_task_is_rescheduled_when_its_worker_dies() {
    let mut h = Harness::new();
    let w1 = h.worker(&["f"]);
    let c = h.client();
    h.client_says(c, FromClient::Submit(vec![spec("p", "f", &[], true)]));
    let (_, p) = h.computes().remove(0);
    h.worker_says(
        w1,
        FromWorker::Seceded {
            key: p.key.clone(),
            attempt: p.attempt,
        },
    );
    // A stale notice (an older attempt) changes nothing.
    h.worker_says(
        w1,
        FromWorker::Seceded {
            key: p.key.clone(),
            attempt: Attempt(p.attempt.0 + 7),
        },
    );
    let w2 = h.worker(&["f"]);
    h.core.remove_worker(w1, &mut h.out);
    h.core.check_invariants();
    let again = h.computes();
    assert_eq!(again.len(), 1);
    assert_eq!(again[0].0, w2);
    assert_eq!(again[0].1.key, k("p"));
    assert!(again[0].1.attempt.0 > p.attempt.0);
}

const ACTOR: &str = "rask::actor::tests::Counter";

//  actor (on w1)   x (on w1)     w1 dies: x is recomputed on w2 from its lineage; the actor is
//                                not (its state is gone) and its client is told so.
#[test]
fn an_actor_lost_with_its_worker_errs_and_is_not_recomputed() {
    let mut h = Harness::new();
    let w1 = h.worker(&["f", ACTOR]);
    let c = h.client();
    h.client_says(
        c,
        FromClient::Submit(vec![spec("counter-1", ACTOR, &[], true)]),
    );
    h.run_all();
    h.client_says(c, FromClient::Submit(vec![spec("x", "f", &[], true)]));
    h.run_all();
    assert!(h.in_memory_for(c, "counter-1") && h.in_memory_for(c, "x"));
    let w2 = h.worker(&["f", ACTOR]);
    h.core.remove_worker(w1, &mut h.out);
    h.core.check_invariants();
    let again = h.computes();
    assert_eq!(again.len(), 1, "only x is recomputed: {again:?}");
    assert_eq!((again[0].0, again[0].1.key.as_str()), (w2, "x"));
    let err = h
        .erred_for(c, "counter-1")
        .expect("the actor's client is told");
    assert_eq!(err.kind, TaskErrorKind::LostData);
    assert!(err.message.contains("actor"), "{}", err.message);
    assert!(matches!(
        h.core.task_state(&k("counter-1")),
        Some(TaskState::Erred(_))
    ));
}

#[test]
fn a_released_actor_is_freed_on_its_worker() {
    let mut h = Harness::new();
    h.worker(&[ACTOR]);
    let c = h.client();
    h.client_says(
        c,
        FromClient::Submit(vec![spec("counter-2", ACTOR, &[], true)]),
    );
    h.run_all();
    h.client_says(c, FromClient::Release(vec![k("counter-2")]));
    assert_eq!(h.freed(), vec![k("counter-2")]);
    assert_eq!(h.core.task_count(), 0);
}
