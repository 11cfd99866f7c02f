//! Coordination primitives on the core, with the fake clock: FIFO and exactly-once queues,
//! leases that end on release, expiry or client removal, waits that time out, futures kept
//! alive while stored, datasets, topics.

use super::*;
use rask_protocol::{CoordOp, CoordReply, Item, Reply, RequestId};

impl Harness {
    fn coord(&mut self, c: ClientId, req: u64, op: CoordOp) {
        self.client_says(
            c,
            FromClient::Coord {
                req: RequestId(req),
                op,
            },
        );
    }

    /// Takes the coordination replies sent so far, as (client, request, reply).
    fn replies(&mut self) -> Vec<(ClientId, u64, CoordReply)> {
        let mut res = Vec::new();
        self.out.clients.retain(|(c, m)| match m {
            ToClient::Reply {
                req,
                reply: Reply::Coord(r),
            } => {
                res.push((*c, req.0, r.clone()));
                false
            }
            _ => true,
        });
        res
    }

    /// Moves the clock on by `d` in scheduler ticks of 250 ms.
    fn advance(&mut self, d: Duration) {
        let end = self.now + d;
        while self.now < end {
            self.now = (self.now + Duration::from_millis(250)).min(end);
            self.core.on_tick(self.now, &mut self.out);
            self.core.check_invariants();
        }
    }

    /// Runs `key` to memory on a fresh worker, wanted by client `c`.
    fn computed(&mut self, c: ClientId, key: &str) {
        if self.core.worker_count() == 0 {
            self.worker(&["f"]);
        }
        self.client_says(c, FromClient::Submit(vec![spec(key, "f", &[], true)]));
        self.run_all();
    }
}

fn val(n: u8) -> Item {
    Item::Value(bytes::Bytes::from(vec![n]))
}

fn put(name: &str, maxsize: u32, item: Item, timeout_ms: Option<u64>) -> CoordOp {
    CoordOp::QueuePut {
        name: name.into(),
        maxsize,
        item,
        timeout_ms,
    }
}

fn get(name: &str, timeout_ms: Option<u64>) -> CoordOp {
    CoordOp::QueueGet {
        name: name.into(),
        maxsize: 0,
        timeout_ms,
    }
}

fn acquire(name: &str, lease_ms: Option<u64>, timeout_ms: Option<u64>) -> CoordOp {
    CoordOp::Acquire {
        name: name.into(),
        max_leases: 1,
        lease_ms,
        timeout_ms,
    }
}

#[test]
fn queue_gets_wait_and_are_served_first_come_first_served() {
    let mut h = Harness::new();
    let (a, b, p) = (h.client(), h.client(), h.client());
    h.coord(b, 1, get("q", None));
    h.coord(a, 2, get("q", None));
    h.coord(b, 3, get("q", None));
    assert!(h.replies().is_empty(), "an empty queue answers nobody");
    for n in 0..3 {
        h.coord(p, 10 + n as u64, put("q", 0, val(n), None));
    }
    let got: Vec<_> = h.replies().into_iter().filter(|r| r.0 != p).collect();
    assert_eq!(
        got,
        vec![
            (b, 1, CoordReply::Item(val(0))),
            (a, 2, CoordReply::Item(val(1))),
            (b, 3, CoordReply::Item(val(2))),
        ]
    );
}

#[test]
fn competing_consumers_get_every_item_exactly_once() {
    let mut h = Harness::new();
    let consumers = [h.client(), h.client(), h.client()];
    let producer = h.client();
    let mut seen = Vec::new();
    let mut req = 0;
    for round in 0..50u8 {
        // Consumers ask before, between and after the puts.
        for c in consumers {
            req += 1;
            h.coord(c, req, get("q", Some(10_000)));
        }
        for i in 0..2 {
            req += 1;
            h.coord(producer, req, put("q", 0, val(round * 2 + i), None));
        }
        for (_, _, r) in h.replies() {
            if let CoordReply::Item(Item::Value(v)) = r {
                seen.push(v[0]);
            }
        }
    }
    // 150 gets for 100 items: the 50 still waiting time out, and get nothing.
    h.advance(Duration::from_secs(10));
    let late = h.replies();
    assert_eq!(late.len(), 50);
    assert!(late.iter().all(|r| r.2 == CoordReply::Timeout));
    seen.sort_unstable();
    assert_eq!(seen, (0..100).collect::<Vec<u8>>());
    assert_eq!(h.core.coord().sizes(), (0, 0), "idle queue collected");
}

#[test]
fn a_full_queue_makes_producers_wait_until_a_get_or_their_timeout() {
    let mut h = Harness::new();
    let (p, c) = (h.client(), h.client());
    h.coord(p, 1, put("q", 1, val(1), None));
    h.coord(p, 2, put("q", 1, val(2), Some(1_000)));
    h.coord(p, 3, put("q", 1, val(3), Some(5_000)));
    assert_eq!(h.replies(), vec![(p, 1, CoordReply::Done)]);
    h.advance(Duration::from_millis(1_000));
    assert_eq!(h.replies(), vec![(p, 2, CoordReply::Timeout)]);
    h.coord(c, 4, get("q", None));
    assert_eq!(
        h.replies(),
        vec![(c, 4, CoordReply::Item(val(1))), (p, 3, CoordReply::Done)]
    );
    h.coord(c, 5, get("q", Some(0)));
    h.coord(c, 6, get("q", Some(0)));
    assert_eq!(
        h.replies(),
        vec![
            (c, 5, CoordReply::Item(val(3))),
            (c, 6, CoordReply::Timeout)
        ]
    );
}

#[test]
fn get_times_out_on_the_fake_clock_not_before() {
    let mut h = Harness::new();
    let c = h.client();
    h.coord(c, 1, get("q", Some(2_000)));
    h.advance(Duration::from_millis(1_750));
    assert!(h.replies().is_empty());
    h.advance(Duration::from_millis(250));
    assert_eq!(h.replies(), vec![(c, 1, CoordReply::Timeout)]);
}

#[test]
fn lock_is_exclusive_and_passes_to_the_oldest_waiter_on_release() {
    let mut h = Harness::new();
    let (a, b, c) = (h.client(), h.client(), h.client());
    h.coord(a, 1, acquire("l", None, None));
    h.coord(b, 1, acquire("l", None, None));
    h.coord(c, 1, acquire("l", None, None));
    let r = h.replies();
    let [(who, 1, CoordReply::Lease(lease))] = r.as_slice() else {
        panic!("{r:?}")
    };
    assert_eq!(*who, a);
    // Only the holder may release it.
    let release = |lease| CoordOp::Release {
        name: "l".into(),
        lease,
    };
    h.coord(b, 2, release(*lease));
    assert!(matches!(h.replies()[..], [(_, 2, CoordReply::Refused(_))]));
    h.coord(a, 2, release(*lease));
    let r = h.replies();
    assert_eq!(r[0], (a, 2, CoordReply::Done));
    assert!(
        matches!(r[1], (who, 1, CoordReply::Lease(_)) if who == b),
        "{r:?}"
    );
    assert_eq!(r.len(), 2, "c still waits");
}

#[test]
fn a_lease_ends_when_its_time_is_up() {
    let mut h = Harness::new();
    let (a, b) = (h.client(), h.client());
    h.coord(a, 1, acquire("l", Some(1_000), None));
    h.coord(b, 1, acquire("l", None, Some(10_000)));
    let CoordReply::Lease(first) = h.replies()[0].2 else {
        panic!()
    };
    h.advance(Duration::from_millis(750));
    assert!(h.replies().is_empty());
    h.advance(Duration::from_millis(250));
    assert!(matches!(h.replies()[..], [(who, 1, CoordReply::Lease(_))] if who == b));
    let release = CoordOp::Release {
        name: "l".into(),
        lease: first,
    };
    h.coord(a, 2, release);
    assert!(matches!(h.replies()[..], [(_, 2, CoordReply::Refused(_))]));
}

#[test]
fn leases_and_waits_of_a_removed_client_are_dropped() {
    let mut h = Harness::new();
    let (a, b) = (h.client(), h.client());
    let sem = |timeout_ms| CoordOp::Acquire {
        name: "s".into(),
        max_leases: 2,
        lease_ms: None,
        timeout_ms,
    };
    h.coord(a, 1, sem(None));
    h.coord(a, 2, sem(None));
    h.coord(a, 3, sem(None)); // waits
    h.coord(a, 4, get("q", None)); // waits
    h.coord(b, 1, sem(None)); // waits behind a's third
    assert_eq!(h.replies().len(), 2);
    h.client_says(a, FromClient::Goodbye);
    assert!(matches!(h.replies()[..], [(who, 1, CoordReply::Lease(_))] if who == b));
    // a's get is gone: a new item stays in the queue.
    h.coord(b, 2, put("q", 0, val(7), None));
    h.coord(b, 3, CoordOp::QueueSize { name: "q".into() });
    let r = h.replies();
    assert_eq!(r[1], (b, 3, CoordReply::Count(1)));
}

#[test]
fn a_silent_client_loses_its_lock_after_the_client_ttl() {
    let mut h = Harness::new();
    let (a, b) = (h.client(), h.client());
    h.coord(a, 1, acquire("l", None, None));
    h.coord(b, 1, acquire("l", None, None));
    h.replies();
    for _ in 0..21 {
        h.client_says(b, FromClient::Heartbeat);
        h.advance(Duration::from_secs(1));
    }
    assert!(matches!(h.replies()[..], [(who, 1, CoordReply::Lease(_))] if who == b));
}

#[test]
fn a_future_in_a_queue_stays_alive_until_taken() {
    let mut h = Harness::new();
    let (p, c) = (h.client(), h.client());
    h.computed(p, "x");
    h.coord(p, 1, put("q", 0, Item::Key(k("x")), None));
    h.client_says(p, FromClient::Release(vec![k("x")]));
    assert!(h.freed().is_empty(), "held by the queue");
    assert!(matches!(
        h.core.task_state(&k("x")),
        Some(TaskState::Memory { .. })
    ));
    h.coord(c, 1, get("q", None));
    assert!(h.in_memory_for(c, "x"), "the taker is told where it is");
    assert!(h.freed().is_empty(), "now held by the taker");
    h.client_says(c, FromClient::Release(vec![k("x")]));
    assert_eq!(h.freed(), vec![k("x")]);
    assert_eq!(h.core.task_count(), 0);
    // An unknown key is refused.
    h.coord(p, 2, put("q", 0, Item::Key(k("nope")), None));
    assert!(matches!(
        h.replies()[..],
        [_, _, (_, 2, CoordReply::Refused(_))]
    ));
}

#[test]
fn a_timed_out_put_of_a_future_lets_it_go() {
    let mut h = Harness::new();
    let p = h.client();
    h.computed(p, "x");
    h.coord(p, 1, put("q", 1, val(0), None));
    h.coord(p, 2, put("q", 1, Item::Key(k("x")), Some(500)));
    h.client_says(p, FromClient::Release(vec![k("x")]));
    assert!(h.freed().is_empty());
    h.advance(Duration::from_millis(500));
    assert_eq!(h.freed(), vec![k("x")]);
}

#[test]
fn datasets_are_picked_up_by_name_and_kept_while_published() {
    let mut h = Harness::new();
    let (p, c) = (h.client(), h.client());
    h.computed(p, "x");
    h.computed(p, "y");
    let publish = |replace| CoordOp::PublishDataset {
        name: "d".into(),
        keys: vec![k("x"), k("y")],
        replace,
    };
    h.coord(p, 1, publish(false));
    h.coord(p, 2, publish(false));
    h.client_says(p, FromClient::Goodbye);
    let r = h.replies();
    assert_eq!(r[0].2, CoordReply::Done);
    assert!(matches!(r[1].2, CoordReply::Refused(_)), "name taken");
    assert!(h.freed().is_empty(), "published keys outlive their client");
    h.coord(c, 1, CoordOp::ListDatasets);
    h.coord(c, 2, CoordOp::GetDataset { name: "d".into() });
    assert_eq!(
        h.replies(),
        vec![
            (c, 1, CoordReply::Names(vec!["d".into()])),
            (c, 2, CoordReply::Keys(vec![k("x"), k("y")])),
        ]
    );
    assert!(h.in_memory_for(c, "x") && h.in_memory_for(c, "y"));
    h.coord(c, 3, CoordOp::UnpublishDataset { name: "d".into() });
    assert!(h.freed().is_empty(), "c still holds them");
    h.client_says(c, FromClient::Release(vec![k("x"), k("y")]));
    let mut freed = h.freed();
    freed.sort();
    assert_eq!(freed, vec![k("x"), k("y")]);
    assert_eq!(h.core.coord().sizes(), (0, 0));
}

#[test]
fn variable_get_waits_for_a_first_set_and_event_wait_for_set() {
    let mut h = Harness::new();
    let (a, b) = (h.client(), h.client());
    let vget = |timeout_ms| CoordOp::VariableGet {
        name: "v".into(),
        timeout_ms,
    };
    let ewait = |timeout_ms| CoordOp::EventWait {
        name: "e".into(),
        timeout_ms,
    };
    h.coord(a, 1, vget(None));
    h.coord(a, 2, vget(Some(1_000)));
    h.coord(a, 3, ewait(None));
    h.coord(a, 4, ewait(Some(1_000)));
    h.advance(Duration::from_secs(1));
    let r = h.replies();
    assert_eq!(
        r,
        vec![(a, 2, CoordReply::Timeout), (a, 4, CoordReply::Timeout)]
    );
    let set = CoordOp::VariableSet {
        name: "v".into(),
        item: val(5),
    };
    h.coord(b, 1, set);
    h.coord(b, 2, CoordOp::EventSet { name: "e".into() });
    let r = h.replies();
    assert!(r.contains(&(a, 1, CoordReply::Item(val(5)))));
    assert!(r.contains(&(a, 3, CoordReply::Done)));
    h.coord(b, 3, vget(Some(0)));
    h.coord(b, 4, CoordOp::EventClear { name: "e".into() });
    h.coord(b, 5, CoordOp::EventIsSet { name: "e".into() });
    let r = h.replies();
    assert_eq!(r[0], (b, 3, CoordReply::Item(val(5))));
    assert_eq!(r[2], (b, 5, CoordReply::Flag(false)));
}

#[test]
fn topic_events_reach_current_subscribers_only() {
    let mut h = Harness::new();
    let (a, b, p) = (h.client(), h.client(), h.client());
    let sub = |topic: &str| CoordOp::Subscribe {
        topic: topic.into(),
    };
    let log = |n: u8| CoordOp::LogEvent {
        topic: "t".into(),
        value: bytes::Bytes::from(vec![n]),
    };
    h.coord(a, 1, sub("t"));
    h.coord(b, 1, sub("t"));
    h.coord(p, 1, log(1));
    h.client_says(b, FromClient::Goodbye);
    h.coord(p, 2, log(2));
    let events: Vec<(ClientId, u8)> = h
        .out
        .clients
        .iter()
        .filter_map(|(c, m)| match m {
            ToClient::Event { topic, value } if topic == "t" => Some((*c, value[0])),
            _ => None,
        })
        .collect();
    assert_eq!(events, vec![(a, 1), (b, 1), (a, 2)]);
}

#[test]
fn a_withdrawn_request_stops_waiting_and_takes_nothing() {
    let mut h = Harness::new();
    let (a, b) = (h.client(), h.client());
    h.coord(a, 1, get("q", None));
    h.coord(a, 2, acquire("l", None, None));
    h.coord(b, 1, acquire("l", None, None));
    h.coord(a, 3, acquire("l", None, None));
    h.replies();
    let withdraw = |req| CoordOp::Withdraw {
        req: RequestId(req),
    };
    h.coord(a, 10, withdraw(1));
    h.coord(a, 11, withdraw(3));
    h.coord(a, 12, withdraw(99)); // answered already or unknown: nothing happens
    assert_eq!(
        h.replies(),
        vec![(a, 1, CoordReply::Timeout), (a, 3, CoordReply::Timeout)]
    );
    h.coord(b, 2, put("q", 0, val(1), None));
    h.coord(b, 3, CoordOp::QueueSize { name: "q".into() });
    assert_eq!(h.replies()[1], (b, 3, CoordReply::Count(1)));
}

#[test]
fn a_batch_get_takes_up_to_its_size_and_lets_waiting_producers_in() {
    let mut h = Harness::new();
    let (p, c) = (h.client(), h.client());
    let batch = |max| CoordOp::QueueGetBatch {
        name: "q".into(),
        maxsize: 3,
        max,
        timeout_ms: None,
    };
    h.coord(c, 1, batch(10)); // waits, then takes the first item alone
    for n in 0..6 {
        h.coord(p, 10 + n as u64, put("q", 3, val(n), None));
    }
    let r = h.replies();
    assert_eq!(r[0], (c, 1, CoordReply::Items(vec![val(0)])));
    assert_eq!(
        r.len(),
        5,
        "1 item given, 3 stored, 2 producers wait: {r:?}"
    );
    h.coord(c, 2, batch(2));
    assert_eq!(
        h.replies(),
        vec![
            (c, 2, CoordReply::Items(vec![val(1), val(2)])),
            (p, 14, CoordReply::Done),
            (p, 15, CoordReply::Done),
        ]
    );
    h.coord(c, 3, batch(10));
    assert_eq!(
        h.replies(),
        vec![(c, 3, CoordReply::Items(vec![val(3), val(4), val(5)]))]
    );
}

#[test]
fn coordination_requests_in_a_replayed_journal_are_not_recovered() {
    let mut h = Harness::new();
    // A journaled batch mixed a submit with a put and a lock: only the submit comes back.
    let msgs = [
        FromClient::Submit(vec![spec("a", "f", &[], true)]),
        FromClient::Coord {
            req: RequestId(1),
            op: put("q", 0, val(1), None),
        },
        FromClient::Coord {
            req: RequestId(2),
            op: acquire("l", None, None),
        },
    ];
    let frames = encode_batch(&msgs, vec![]).unwrap();
    let record = crate::scheduler::journal::Record::Client {
        client: 7,
        frames: frames
            .iter()
            .map(|f| serde_bytes::ByteBuf::from(f.to_vec()))
            .collect(),
    };
    h.core.recover(vec![record], h.now);
    h.core.check_invariants();
    assert_eq!(h.core.task_count(), 1);
    assert_eq!(h.core.coord().sizes(), (0, 0));
    let c = h.client();
    h.coord(c, 1, acquire("l", None, Some(0)));
    h.coord(c, 2, CoordOp::QueueSize { name: "q".into() });
    let r = h.replies();
    assert!(matches!(r[0], (_, 1, CoordReply::Lease(_))), "{r:?}");
    assert_eq!(r[1], (c, 2, CoordReply::Count(0)));
}
