//! Stateful actors: `rask::actor!` types placed on a worker with `client.actor`, called
//! straight at that worker, in order, from several threads; typed errors for failing methods,
//! and for every call once the hosting worker is gone (stopped in-process or SIGKILLed as a
//! process). Every wait is bounded.

mod common;

use anyhow::{bail, ensure, Context, Result};
use common::procs::{self_cluster, serve_as_worker_if_asked};
use common::*;
use rask::{ActorHandle, Client, Error, LocalConfig, SubmitOptions, TaskErrorKind, Variable};
use std::time::{Duration, Instant};

rask::actor! {
    /// A counter.
    pub struct Counter { n: i64 }
    /// Starts at `start`.
    fn new(start: i64) -> Self { Counter { n: start } }
    /// What clients call on a counter.
    pub trait CounterCalls {
        /// Adds `by`; returns the new count.
        fn increment(&mut self, by: i64) -> i64 { self.n += by; self.n }
        /// The count.
        fn value(&mut self) -> i64 { self.n }
        /// Sleeps `ms` milliseconds, then returns the count.
        fn slow(&mut self, ms: u64) -> i64 {
            std::thread::sleep(Duration::from_millis(ms));
            self.n
        }
        /// Panics, naming the count.
        fn explode(&mut self) -> i64 { panic!("counter exploded at {}", self.n) }
    }
}

/// The entry point of the worker processes below (a no-op when run as a test).
#[test]
#[ignore = "entry point of the worker processes the other tests start"]
fn worker_process() {
    serve_as_worker_if_asked();
}

const SECS: Duration = Duration::from_secs(20);

/// A thread that sends `n` `increment(1)` calls back to back, then awaits them in order.
fn increments_in_a_thread(
    c: ActorHandle<Counter>,
    n: i64,
) -> std::thread::JoinHandle<Result<Vec<i64>>> {
    std::thread::spawn(move || {
        let calls: Vec<_> = (0..n).map(|_| c.increment(1)).collect();
        calls
            .into_iter()
            .map(|f| Ok(f.result_timeout(SECS)?))
            .collect()
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_counter_called_from_two_threads_counts_every_call_in_order() -> Result<()> {
    let client = Client::local(2).await?;
    let counter: ActorHandle<Counter> =
        bounded("place", 20, async { Ok(client.actor((10i64,)).await?) }).await?;
    ensure!(counter.value().result_timeout(SECS)? == 10);
    let per_thread = 50;
    let threads: Vec<_> = (0..2)
        .map(|_| {
            // Sent back to back; awaited afterwards: they still run in order.
            increments_in_a_thread(counter.clone(), per_thread)
        })
        .collect();
    let mut all = Vec::new();
    for t in threads {
        let seen = t.join().expect("no panic")?;
        ensure!(
            seen.windows(2).all(|w| w[0] < w[1]),
            "one thread's calls ran out of order: {seen:?}"
        );
        all.extend(seen);
    }
    all.sort();
    ensure!(
        all == (11..=10 + 2 * per_thread).collect::<Vec<_>>(),
        "{all:?}"
    );
    ensure!(counter.value().await? == 10 + 2 * per_thread);

    // A panicking method is a typed error; the actor lives on.
    match counter.explode().await {
        Err(Error::ActorCall { kind, message, .. }) => {
            ensure!(kind == TaskErrorKind::Panicked, "{kind:?}");
            ensure!(message.contains("exploded at 110"), "{message}");
        }
        other => bail!("expected a panicked call, got {other:?}"),
    }
    ensure!(counter.increment(5).await? == 115);

    // A second counter is a separate object.
    let other: ActorHandle<Counter> = client.actor((0i64,)).await?;
    ensure!(other.increment(1).await? == 1 && counter.value().await? == 115);

    // Dropping the last handles releases both actors on their workers.
    drop((counter, other));
    eventually("actors released", 20, || async {
        Ok(client.info().await?.tasks == 0)
    })
    .await
}

rask::actor! {
    /// Another actor type (to check a shared key's type).
    pub struct Flag { on: bool }
    /// Starts off.
    fn new() -> Self { Flag { on: false } }
    /// What clients call on a flag.
    pub trait FlagCalls {
        /// Flips it; returns the new state.
        fn flip(&mut self) -> bool { self.on = !self.on; self.on }
    }
}

// Client A places a counter and shares it through a variable; client B (a connection of its
// own) calls it too. Both see one object; it lives until both let go.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_clients_share_one_counter() -> Result<()> {
    let a = Client::local(2).await?;
    let b = connect(a.scheduler()).await?;
    let counter: ActorHandle<Counter> = a.actor((0i64,)).await?;
    Variable::new(&a, "counter")
        .set_future(counter.future())
        .await?;
    let shared = Variable::new(&b, "counter")
        .get_future::<String>(Some(SECS))
        .await?;
    let theirs: ActorHandle<Counter> = b.actor_from_future(shared.clone()).await?;
    ensure!(theirs.worker() == counter.worker() && theirs.key() == counter.key());
    let threads: Vec<_> = [counter.clone(), theirs.clone()]
        .into_iter()
        .map(|c| increments_in_a_thread(c, 40))
        .collect();
    let mut all = Vec::new();
    for t in threads {
        let seen = t.join().expect("no panic")?;
        ensure!(seen.windows(2).all(|w| w[0] < w[1]), "{seen:?}");
        all.extend(seen);
    }
    all.sort();
    ensure!(all == (1..=80).collect::<Vec<_>>(), "{all:?}");
    // The key holds a Counter, not a Flag.
    match b.actor_from_future::<Flag>(shared).await {
        Err(Error::Config(m)) => ensure!(m.contains("not"), "{m}"),
        other => bail!("expected a type error, got {other:?}"),
    }
    // A lets go; B still calls it. Then B lets go too and the actor is released.
    Variable::new(&a, "counter").delete().await?;
    drop(counter);
    ensure!(theirs.increment(1).await? == 81);
    drop(theirs);
    eventually("the shared actor released", 20, || async {
        Ok(a.info().await?.tasks == 0)
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_actor_honours_worker_restrictions() -> Result<()> {
    let client = Client::local(2).await?;
    for name in ["local-0", "local-1"] {
        let opts = SubmitOptions {
            workers: vec![name.into()],
            ..SubmitOptions::default()
        };
        let c: ActorHandle<Counter> = client.actor_with((1i64,), opts).await?;
        let info = client.info().await?;
        let host = info
            .workers
            .iter()
            .find(|w| w.id == c.worker())
            .context("host")?;
        ensure!(host.name == name, "placed on {} not {name}", host.name);
        ensure!(c.address() == host.store_addr);
        ensure!(c.increment(1).await? == 2);
    }
    Ok(())
}

/// Waits (bounded) for `call` to fail with `ActorLost` naming the actor.
async fn expect_lost<R: std::fmt::Debug>(
    what: &str,
    actor: &str,
    call: impl std::future::Future<Output = rask::Result<R>>,
) -> Result<(Duration, String)> {
    let start = Instant::now();
    let r = bounded(what, 30, async { Ok(call.await) }).await?;
    match r {
        Err(Error::ActorLost { actor: a, reason }) => {
            eprintln!("{what}: lost after {:?}: {reason}", start.elapsed());
            ensure!(a == actor, "names {a}, not {actor}");
            ensure!(Error::ActorLost {
                actor: a.clone(),
                reason: reason.clone()
            }
            .to_string()
            .contains(actor));
            Ok((start.elapsed(), reason))
        }
        other => bail!("{what}: expected ActorLost, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn calls_fail_with_a_typed_error_once_a_local_worker_stops() -> Result<()> {
    let client = Client::local_with(LocalConfig {
        workers: 2,
        ..LocalConfig::default()
    })
    .await?;
    let opts = SubmitOptions {
        workers: vec!["local-1".into()],
        ..SubmitOptions::default()
    };
    let counter: ActorHandle<Counter> = client.actor_with((0i64,), opts).await?;
    ensure!(counter.increment(1).await? == 1);
    let pending = counter.slow(5_000);
    tokio::time::sleep(Duration::from_millis(200)).await;
    client.with_local_cluster(|c| c.stop_worker(1));
    let key = counter.key().to_string();
    let (took, _) = expect_lost("the pending call", &key, pending).await?;
    ensure!(took < Duration::from_secs(10), "took {took:?}");
    expect_lost("a later call", &key, counter.increment(1)).await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn calls_fail_with_a_typed_error_once_the_worker_process_is_killed() -> Result<()> {
    let mut cluster = self_cluster(2, "worker_process")?;
    let client = connect_with_workers(&cluster.addr, 2).await?;
    let counter: ActorHandle<Counter> =
        bounded("place", 20, async { Ok(client.actor((100i64,)).await?) }).await?;
    ensure!(counter.increment(1).await? == 101);
    let info = client.info().await?;
    let host = info
        .workers
        .iter()
        .find(|w| w.id == counter.worker())
        .context("host")?;
    let index: usize = host.name.trim_start_matches('w').parse()?;
    let key = counter.key().to_string();

    let pending = counter.slow(10_000);
    tokio::time::sleep(Duration::from_millis(200)).await;
    cluster.workers[index].kill(); // SIGKILL
    let (took, _) = expect_lost("the pending call", &key, pending).await?;
    ensure!(took < Duration::from_secs(10), "took {took:?}");
    let (took, _) = expect_lost("a later call", &key, counter.value()).await?;
    ensure!(took < Duration::from_secs(10), "took {took:?}");
    // Once the scheduler saw the worker go, it does not bring the actor back elsewhere.
    eventually("the scheduler dropped the worker", 30, || async {
        Ok(client.info().await?.workers.len() == 1)
    })
    .await?;
    let (_, reason) =
        expect_lost("a call after the scheduler noticed", &key, counter.value()).await?;
    ensure!(reason.contains("hosting this actor is gone"), "{reason}");
    // The cluster still works, and a new actor lands on the surviving worker.
    let fresh: ActorHandle<Counter> = client.actor((0i64,)).await?;
    ensure!(fresh.increment(2).await? == 2);
    Ok(())
}
