//! Streams on an in-process cluster: element operations, windows checked against a direct
//! computation (event-time keyed tumbling and sliding windows, arrival-time windows, running
//! keyed state), every source and sink (iterator, queue, ZeroMQ PULL/SUB and PUSH/PUB,
//! directory, followed file, callback, files) and back-pressure from a slow sink. Every wait
//! is bounded.

mod common;

use anyhow::{ensure, Result};
use common::bounded;
use rask::bag::funcs::{is_even, mod10, square, str_len, upto_mod4};
use rask::builtins::{add, inc};
use rask::stream::funcs::{add_event_value, event_key, event_time};
use rask::stream::{Endpoint, KeyState, Sink, Source, StreamStats, Window, Windowed};
use rask::{Client, Queue, Stream};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// A sink collecting into a shared vector.
fn collector<T: serde::Serialize + serde::de::DeserializeOwned + Send + 'static>(
) -> (Sink<T>, Arc<Mutex<Vec<T>>>) {
    let got = Arc::new(Mutex::new(Vec::new()));
    let g = got.clone();
    (Sink::for_each(move |x| g.lock().unwrap().push(x)), got)
}

async fn finish(h: rask::stream::StreamHandle) -> Result<StreamStats> {
    bounded("stream", 60, async { Ok(h.wait().await?) }).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fused_map_filter_flat_map_match_a_direct_computation() -> Result<()> {
    let client = Client::local(2).await?;
    let (sink, got) = collector::<i64>();
    let h = Stream::from_source(Source::iter(0..5_000i64))
        .map(square)
        .filter(is_even)
        .flat_map(upto_mod4)
        .batch(300, Duration::from_millis(2))
        .start(&client, sink)?;
    let stats = finish(h).await?;
    let want: Vec<i64> = (0..5_000i64)
        .map(|x| x * x)
        .filter(|x| x % 2 == 0)
        .flat_map(|x| 0..x.rem_euclid(4))
        .collect();
    ensure!(*got.lock().unwrap() == want, "results differ (in order)");
    ensure!(stats.events_in == 5_000 && stats.results_out == want.len() as u64);
    ensure!(stats.batches_done == stats.batches_submitted && stats.batches_done >= 17);
    Ok(())
}

//   events (t, key, v), t = 0, 7, 14, … ms  ──► key_by(key) ──► window by t ──► fold Σv
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn event_time_keyed_windows_match_a_direct_computation() -> Result<()> {
    let client = Client::local(2).await?;
    let events: Vec<(i64, String, i64)> = (0..6_000i64)
        .map(|i| (i * 7, format!("k{}", i % 5), i % 101))
        .collect();
    for (size, slide) in [(1000i64, 1000i64), (1000, 250)] {
        let (sink, got) = collector::<Windowed<String, i64>>();
        let h = Stream::from_source(Source::iter(events.clone()))
            .batch(400, Duration::from_millis(5))
            .key_by(event_key)
            .window(Window::sliding(
                Duration::from_millis(size as u64),
                Duration::from_millis(slide as u64),
            ))?
            .event_time(event_time, Duration::ZERO)
            .fold(add_event_value, add, 0i64)?
            .start(&client, sink)?;
        let stats = finish(h).await?;
        ensure!(stats.late_events == 0, "in-order events were late");
        // Direct: every window [s, s + size) with s a multiple of slide.
        let mut want: BTreeMap<(i64, String), (u64, i64)> = BTreeMap::new();
        for (t, k, v) in &events {
            let mut s = (t.div_euclid(slide) * slide) - size + slide;
            while s <= *t {
                let e = want.entry((s, k.clone())).or_default();
                e.0 += 1;
                e.1 += v;
                s += slide;
            }
        }
        let got: BTreeMap<(i64, String), (u64, i64)> = got
            .lock()
            .unwrap()
            .iter()
            .map(|w| {
                assert_eq!(w.end_ms - w.start_ms, size);
                ((w.start_ms, w.key.clone()), (w.events, w.value))
            })
            .collect();
        ensure!(
            got.len() == want.len(),
            "{} windows, want {}",
            got.len(),
            want.len()
        );
        ensure!(got == want, "size {size} slide {slide}: windows differ");
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn arrival_time_windows_count_every_event_once_and_running_state_per_key() -> Result<()> {
    let client = Client::local(2).await?;
    // A paced iterator: 3,000 events over about 0.6 s, 100-ms tumbling windows.
    let paced = (0..3_000i64).inspect(|i| {
        if i % 50 == 0 {
            std::thread::sleep(Duration::from_millis(10));
        }
    });
    let (sink, got) = collector::<Windowed<(), u64>>();
    let h = Stream::from_source(Source::iter(paced))
        .map(inc)
        .window(Window::tumbling(Duration::from_millis(100)))?
        .count()
        .start(&client, sink)?;
    finish(h).await?;
    let got = got.lock().unwrap().clone();
    ensure!(got.len() >= 4, "only {} windows", got.len());
    ensure!(got.iter().map(|w| w.events).sum::<u64>() == 3_000);
    ensure!(got
        .iter()
        .all(|w| w.value == w.events && w.start_ms % 100 == 0));
    ensure!(
        got.windows(2).all(|p| p[0].end_ms <= p[1].start_ms),
        "overlap"
    );

    let (sink, got) = collector::<KeyState<i64, i64>>();
    let h = Stream::from_source(Source::iter(0..10_000i64))
        .batch(700, Duration::from_millis(5))
        .key_by(mod10)
        .state()
        .sum()
        .start(&client, sink)?;
    finish(h).await?;
    let mut last: BTreeMap<i64, (u64, i64)> = BTreeMap::new();
    for s in got.lock().unwrap().iter() {
        last.insert(s.key, (s.events, s.value));
    }
    for k in 0..10i64 {
        let want: i64 = (0..10_000i64).filter(|x| x % 10 == k).sum();
        ensure!(
            last.get(&k) == Some(&(1000, want)),
            "key {k}: {:?}",
            last.get(&k)
        );
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn queue_source_to_queue_sink() -> Result<()> {
    let client = Client::local(2).await?;
    let (input, output) = (Queue::new(&client, "in", 50), Queue::new(&client, "out", 0));
    let h = Stream::from_source(Source::<i64>::queue(input.clone()))
        .map(inc)
        .take(400)
        .batch(64, Duration::from_millis(3))
        .start(&client, Sink::queue(output.clone()))?;
    // A bounded input queue: the producer waits while the stream is behind.
    let values: Vec<i64> = (0..400).collect();
    bounded("put", 30, async {
        Ok(input
            .put_many(&values, Some(Duration::from_secs(20)))
            .await?)
    })
    .await?;
    finish(h).await?;
    let got: Vec<i64> = bounded("get", 20, async {
        let mut all = Vec::new();
        while all.len() < 400 {
            all.extend(
                output
                    .get_batch::<i64>(400, Some(Duration::from_secs(10)))
                    .await?,
            );
        }
        Ok(all)
    })
    .await?;
    ensure!(
        got == (1..=400).collect::<Vec<i64>>(),
        "queue sink got {got:?}"
    );
    ensure!(input.qsize().await? == 0);
    Ok(())
}

async fn bound<S: zeromq::Socket>(s: &mut S) -> Result<String> {
    Ok(s.bind("tcp://127.0.0.1:0").await?.to_string())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn zeromq_pull_source_to_push_sink_and_sub_source_to_pub_sink() -> Result<()> {
    use zeromq::{Socket, SocketRecv, SocketSend};
    let client = Client::local(2).await?;
    let mut feed = zeromq::PushSocket::new();
    let feed_at = bound(&mut feed).await?;
    let mut results = zeromq::PullSocket::new();
    let results_at = bound(&mut results).await?;
    let h = Stream::from_source(Source::<i64>::zmq_pull(Endpoint::Connect(feed_at.clone())))
        .map(square)
        .take(300)
        .start(&client, Sink::zmq_push(Endpoint::Connect(results_at)))?;
    // The stream's PULL connects when it starts; until then a send has no peer and fails.
    for i in 0..300i64 {
        let body = rask::protocol::encode_value(&i)?;
        bounded("send", 10, async {
            while feed.send(body.clone().into()).await.is_err() {
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            Ok(())
        })
        .await?;
    }
    let mut got = Vec::new();
    while got.len() < 300 {
        let stats = h.stats();
        let msg = bounded("recv", 20, async { Ok(results.recv().await?) })
            .await
            .map_err(|e| {
                e.context(format!(
                    "{} results in, stream {stats:?} at {feed_at:?}",
                    got.len()
                ))
            })?;
        got.push(rask::protocol::decode_value::<i64>(
            &msg.get(0).cloned().unwrap_or_default(),
        )?);
    }
    ensure!(got == (0..300i64).map(|i| i * i).collect::<Vec<_>>());
    finish(h).await?;

    // SUB source: what is published before the subscription is in place is missed (ZeroMQ's
    // PUB/SUB), so the publisher keeps going until the stream has taken its 200.
    let mut publisher = zeromq::PubSocket::new();
    let pub_at = bound(&mut publisher).await?;
    let mut sub = zeromq::SubSocket::new();
    let sub_at = bound(&mut sub).await?;
    sub.subscribe("").await?;
    let h = Stream::from_source(Source::<i64>::zmq_sub(Endpoint::Connect(pub_at)))
        .map(inc)
        .take(200)
        .batch(10, Duration::from_millis(1))
        .start(&client, Sink::zmq_pub(Endpoint::Connect(sub_at)))?;
    let mut i = 0i64;
    while h.stats().events_in < 200 && i < 200_000 {
        publisher
            .send(rask::protocol::encode_value(&i)?.into())
            .await?;
        i += 1;
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    let mut got = Vec::new();
    while let Ok(Ok(msg)) = tokio::time::timeout(Duration::from_secs(2), sub.recv()).await {
        got.push(rask::protocol::decode_value::<i64>(
            &msg.get(0).cloned().unwrap_or_default(),
        )?);
    }
    let stats = finish(h).await?;
    ensure!(stats.events_in == 200, "took {}", stats.events_in);
    ensure!(!got.is_empty(), "the subscriber got nothing");
    ensure!(
        got.windows(2).all(|p| p[1] == p[0] + 1),
        "not consecutive: {got:?}"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn directory_source_tail_source_and_file_sink() -> Result<()> {
    let client = Client::local(2).await?;
    let (inbox, outbox) = (tempfile::tempdir()?, tempfile::tempdir()?);
    std::fs::write(inbox.path().join("a.txt"), "one\ntwo\n")?;
    let h = Stream::from_source(Source::directory(inbox.path(), Duration::from_millis(20)))
        .map(str_len)
        .take(5)
        .start(&client, Sink::files(outbox.path()))?;
    // Half-written files (.tmp) are not read until renamed into place.
    std::fs::write(inbox.path().join("b.txt.tmp"), "three\nfour\nfive\n")?;
    tokio::time::sleep(Duration::from_millis(100)).await;
    ensure!(
        h.stats().events_in == 2,
        "read {} lines",
        h.stats().events_in
    );
    std::fs::rename(inbox.path().join("b.txt.tmp"), inbox.path().join("b.txt"))?;
    finish(h).await?;
    let mut names: Vec<_> = std::fs::read_dir(outbox.path())?
        .map(|e| e.map(|e| e.file_name().to_string_lossy().to_string()))
        .collect::<Result<_, _>>()?;
    names.sort();
    ensure!(names
        .iter()
        .all(|n| n.starts_with("part-") && n.ends_with(".jsonl")));
    let mut lens = Vec::new();
    for n in &names {
        for line in std::fs::read_to_string(outbox.path().join(n))?.lines() {
            lens.push(line.parse::<u64>()?);
        }
    }
    ensure!(lens == [3, 3, 5, 4, 4], "file sink holds {lens:?}");

    let log = inbox.path().join("app.log");
    std::fs::write(&log, "old line\n")?;
    let (sink, got) = collector::<String>();
    let h = Stream::from_source(Source::tail(&log, false, Duration::from_millis(10)))
        .take(3)
        .batch(1, Duration::ZERO)
        .start(&client, sink)?;
    tokio::time::sleep(Duration::from_millis(100)).await;
    let append = |s: &str| -> Result<()> {
        use std::io::Write;
        let mut f = std::fs::OpenOptions::new().append(true).open(&log)?;
        Ok(f.write_all(s.as_bytes())?)
    };
    append("first\nsec")?;
    tokio::time::sleep(Duration::from_millis(60)).await;
    append("ond\nthird\n")?;
    finish(h).await?;
    ensure!(
        *got.lock().unwrap() == ["first", "second", "third"],
        "tail got {:?}",
        got
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_sink_slows_the_source_within_the_in_flight_bound() -> Result<()> {
    let client = Client::local(2).await?;
    let pulled = Arc::new(AtomicU64::new(0));
    let p = pulled.clone();
    let source = (0..2_000i64).inspect(move |_| {
        p.fetch_add(1, Ordering::SeqCst);
    });
    let delivered = Arc::new(AtomicU64::new(0));
    let (d, p) = (delivered.clone(), pulled.clone());
    let worst = Arc::new(AtomicU64::new(0));
    let w = worst.clone();
    let sink = Sink::for_each_batch(move |batch: Vec<i64>| {
        std::thread::sleep(Duration::from_millis(20));
        let done = d.fetch_add(batch.len() as u64, Ordering::SeqCst) + batch.len() as u64;
        w.fetch_max(p.load(Ordering::SeqCst) - done, Ordering::SeqCst);
    });
    let (max_events, in_flight) = (20u64, 2u64);
    let h = Stream::from_source(Source::iter(source))
        .batch(max_events as usize, Duration::from_millis(50))
        .max_in_flight(in_flight as usize)
        .start(&client, sink)?;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let (read, done) = (
        pulled.load(Ordering::SeqCst),
        delivered.load(Ordering::SeqCst),
    );
    ensure!(
        read < 2_000,
        "the source ran ahead of a slow sink ({read} read, {done} delivered)"
    );
    finish(h).await?;
    let bound = (in_flight + 3) * max_events + 1;
    let worst = worst.load(Ordering::SeqCst);
    ensure!(
        worst <= bound,
        "{worst} events read but not delivered (bound {bound})"
    );
    ensure!(delivered.load(Ordering::SeqCst) == 2_000);
    Ok(())
}
