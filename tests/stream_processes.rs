//! At-least-once streams on real processes: a scheduler and two `rask worker` processes run
//! a stream whose batches take a while; one worker is SIGKILLed mid-run, and every event
//! must still reach the sink (the batches it ran or held are recomputed), as must every
//! event of a windowed count. Every wait is bounded; processes are killed on drop.

mod common;

use anyhow::{ensure, Result};
use common::procs::cluster;
use common::{bounded, connect_with_workers, eventually};
use rask::stream::funcs::dawdle;
use rask::stream::{Sink, Source, Window, Windowed};
use rask::Stream;
use std::sync::{Arc, Mutex};
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_event_reaches_the_sink_when_a_worker_is_killed_mid_run() -> Result<()> {
    let mut c = cluster(2)?;
    let client = connect_with_workers(&c.addr, 2).await?;
    let n = 3_000i64;
    let got = Arc::new(Mutex::new(Vec::new()));
    let g = got.clone();
    // `dawdle` sleeps 0-2 ms per event: about 1.5 s of work per worker.
    let h = Stream::from_source(Source::iter(0..n))
        .map(dawdle)
        .batch(40, Duration::from_millis(5))
        .max_in_flight(4)
        .start(
            &client,
            Sink::for_each(move |x: i64| g.lock().unwrap().push(x)),
        )?;
    eventually("a fifth of the batches done", 30, || async {
        Ok(h.stats().batches_done >= 15)
    })
    .await?;
    let before = h.stats();
    ensure!(
        before.batches_done < 60,
        "finished before the kill: {before:?}"
    );
    c.workers[0].kill();
    let stats = bounded("stream after the kill", 90, async { Ok(h.wait().await?) }).await?;
    let mut got = got.lock().unwrap().clone();
    ensure!(
        got.len() as i64 == n,
        "{} results for {n} events",
        got.len()
    );
    got.sort();
    ensure!(
        got == (0..n).collect::<Vec<_>>(),
        "events missing or repeated"
    );
    ensure!(stats.events_in == n as u64 && stats.results_out == n as u64);
    eprintln!("killed after {before:?}; final {stats:?}");

    // A windowed count on the surviving worker plus a fresh one, killed again mid-run.
    c.workers.push(common::procs::worker(&c.addr, "w2")?);
    let windows = Arc::new(Mutex::new(Vec::new()));
    let w = windows.clone();
    let h = Stream::from_source(Source::iter(0..n))
        .map(dawdle)
        .batch(40, Duration::from_millis(5))
        .window(Window::tumbling(Duration::from_millis(200)))?
        .count()
        .start(
            &client,
            Sink::for_each(move |x: Windowed<(), u64>| w.lock().unwrap().push(x)),
        )?;
    eventually("some batches done", 30, || async {
        Ok(h.stats().batches_done >= 15)
    })
    .await?;
    c.workers[2].kill();
    bounded("windowed stream after the kill", 90, async {
        Ok(h.wait().await?)
    })
    .await?;
    let windows = windows.lock().unwrap().clone();
    let total: u64 = windows.iter().map(|w| w.events).sum();
    ensure!(total == n as u64, "windows counted {total} of {n} events");
    ensure!(windows.iter().all(|w| w.value == w.events));
    Ok(())
}
