//! Restart recovery: a core rebuilt from journal records adopts what workers bring back,
//! computes only what is missing once the recovery window ends, and hands keys over to
//! clients that resume them.

use super::*;
use crate::scheduler::journal::Record;

fn record(client: u32, msgs: &[FromClient]) -> Record {
    let frames = encode_batch(msgs, vec![]).unwrap();
    Record::Client {
        client,
        frames: frames
            .iter()
            .map(|f| serde_bytes::ByteBuf::from(f.to_vec()))
            .collect(),
    }
}

fn held_worker(h: &mut Harness, held: &[(&str, u64)]) -> WorkerId {
    let hello = WorkerHello {
        store_addr: "tcp://127.0.0.1:2000".into(),
        nthreads: 1,
        functions: vec!["f".into()],
        held: held.iter().map(|(k, n)| (Key::new(*k), *n)).collect(),
    };
    let id = h.core.add_worker("back".into(), &hello, h.now, &mut h.out);
    h.core.check_invariants();
    id
}

#[test]
fn recovered_graph_adopts_held_results_and_computes_the_rest_after_the_window() {
    let mut h = Harness::new();
    // Journal: client 7 wanted c = f(b), b = f(a), and d = f(); then released nothing.
    let records = vec![record(
        7,
        &[FromClient::Submit(vec![
            spec("a", "f", &[], false),
            spec("b", "f", &["a"], false),
            spec("c", "f", &["b"], true),
            spec("d", "f", &[], true),
        ])],
    )];
    let found = h.core.recover(records, h.now);
    h.core.check_invariants();
    assert_eq!(found.clients, 1);
    assert_eq!(found.tasks, 4);
    assert!(h.core.recovering());
    // A worker comes back holding b (a stale leftover x is freed).
    held_worker(&mut h, &[("b", 8), ("x", 8)]);
    assert_eq!(h.freed(), vec![k("x")]);
    // Nothing runs during the window, even with a worker present.
    h.now += Duration::from_millis(1000);
    h.core.on_tick(h.now, &mut h.out);
    assert!(h.computes().is_empty());
    h.now += Duration::from_millis(4100);
    h.core.on_tick(h.now, &mut h.out);
    h.core.check_invariants();
    assert!(!h.core.recovering());
    // c runs from the adopted b; a is never recomputed.
    let mut ran: Vec<String> = Vec::new();
    loop {
        let batch = h.computes();
        if batch.is_empty() {
            break;
        }
        for (w, m) in batch {
            ran.push(m.key.to_string());
            h.worker_says(
                w,
                FromWorker::Finished {
                    key: m.key,
                    attempt: m.attempt,
                    nbytes: 8,
                    duration_us: 10,
                },
            );
        }
    }
    ran.sort();
    assert_eq!(ran, ["c", "d"]);
}

#[test]
fn a_resuming_client_takes_over_from_the_stand_in() {
    let mut h = Harness::new();
    let records = vec![
        record(3, &[FromClient::Submit(vec![spec("a", "f", &[], true)])]),
        record(4, &[FromClient::Submit(vec![spec("gone", "f", &[], true)])]),
        Record::ClientGone { client: 4 },
    ];
    let found = h.core.recover(records, h.now);
    assert_eq!(found.tasks, 1, "the departed client's key is not rebuilt");
    held_worker(&mut h, &[("a", 8)]);
    let c = h.client();
    h.client_says(c, FromClient::Resume(vec![k("a")]));
    assert!(h.in_memory_for(c, "a"));
    // The stand-in held only a: it is gone, so releasing a forgets it at once.
    h.client_says(c, FromClient::Release(vec![k("a")]));
    assert_eq!(h.core.task_count(), 0);
    assert_eq!(h.freed(), vec![k("a")]);
}

#[test]
fn snapshot_rebuilds_the_same_graph() {
    let mut h = Harness::new();
    h.worker(&["f"]);
    let c = h.client();
    h.client_says(
        c,
        FromClient::Submit(vec![
            spec("a", "f", &[], false),
            spec("b", "f", &["a"], true),
            spec("e", "f", &[], true),
        ]),
    );
    let snap = h.core.snapshot();
    let mut h2 = Harness::new();
    let found = h2.core.recover(snap, h2.now);
    h2.core.check_invariants();
    assert_eq!(found.tasks, 3);
    assert_eq!(found.clients, 1);
}

#[test]
fn recovery_ends_as_soon_as_every_worker_of_before_is_back() {
    let mut h = Harness::new();
    let records = vec![
        Record::Workers {
            names: vec!["back".into()],
        },
        record(
            1,
            &[FromClient::Submit(vec![
                spec("a", "f", &[], true),
                spec("b", "f", &[], true),
            ])],
        ),
    ];
    h.core.recover(records, h.now);
    assert!(h.core.recovering());
    held_worker(&mut h, &[("a", 8)]);
    assert!(!h.core.recovering(), "the only worker of before is back");
    let ran: Vec<String> = h
        .computes()
        .iter()
        .map(|(_, m)| m.key.to_string())
        .collect();
    assert_eq!(ran, ["b"], "a came back with its worker; only b runs");
    // The snapshot remembers the workers, for the next restart.
    assert!(matches!(
        &h.core.snapshot()[0],
        Record::Workers { names } if names == &["back".to_string()]
    ));
}
