//! Replicas: values a worker fetched for a task stay there, the scheduler places later
//! readers by them, and frees every copy with the key.

use super::*;

fn frees_to(h: &Harness, w: WorkerId) -> Vec<Key> {
    h.freed_where(|to| to == w)
}

#[test]
fn a_fetched_copy_becomes_a_holder_and_is_freed_with_the_key() {
    let mut h = Harness::new();
    let w1 = h.worker(&["f"]);
    let c = h.client();
    h.client_says(c, FromClient::Submit(vec![spec("a", "f", &[], true)]));
    h.run_all();
    let w2 = h.worker(&["f"]);
    h.worker_says(w2, FromWorker::Replicated(vec![(k("a"), 8)]));
    match &h.core.task_state(&k("a")) {
        Some(TaskState::Memory { who_has }) => assert_eq!(who_has, &vec![w1, w2]),
        other => panic!("a should be in memory, is {other:?}"),
    }
    // A reader of a may now go to either holder; make w1 busy so w2 gets it.
    h.client_says(c, FromClient::Submit(vec![spec("busy", "f", &[], true)]));
    h.client_says(c, FromClient::Submit(vec![spec("b", "f", &["a"], true)]));
    let placed: Vec<WorkerId> = h
        .computes()
        .into_iter()
        .filter(|(_, m)| m.key == k("b"))
        .map(|(w, m)| {
            assert!(
                m.deps[0].holders.iter().any(|(h, _)| *h == w2),
                "both holders are listed"
            );
            w
        })
        .collect();
    assert_eq!(placed.len(), 1);
    h.run_all();
    h.client_says(c, FromClient::Release(vec![k("a"), k("b"), k("busy")]));
    assert!(frees_to(&h, w1).contains(&k("a")));
    assert!(frees_to(&h, w2).contains(&k("a")), "the copy is freed too");
    assert_eq!(h.core.task_count(), 0);
}

#[test]
fn a_copy_of_a_released_key_is_freed_at_once() {
    let mut h = Harness::new();
    let _w1 = h.worker(&["f"]);
    let w2 = h.worker(&["f"]);
    h.worker_says(w2, FromWorker::Replicated(vec![(k("gone"), 8)]));
    assert_eq!(frees_to(&h, w2), vec![k("gone")]);
    assert!(h.core.task_state(&k("gone")).is_none());
}
