//! Cluster-wide coordination primitives across clients with connections of their own, against
//! a real `rask scheduler` process, and helper client processes (`examples/coord_holder.rs`)
//! that are SIGKILLed. Every wait is bounded.

mod common;

use anyhow::{bail, ensure, Context, Result};
use common::procs::{cluster, scheduler, Proc};
use common::*;
use futures::StreamExt;
use rask::builtins::inc;
use rask::{Error, Event, Lock, Queue, Variable};
use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

const SECS: Option<Duration> = Some(Duration::from_secs(20));

/// The `coord_holder` example binary, built if the test run did not build examples.
fn holder_bin() -> Result<PathBuf> {
    let exe = std::env::current_exe()?;
    let profile_dir = exe
        .parent()
        .and_then(|deps| deps.parent())
        .context("test binary location")?;
    let bin = profile_dir.join("examples").join("coord_holder");
    if !bin.exists() {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let mut cmd = Command::new(cargo);
        cmd.current_dir(env!("CARGO_MANIFEST_DIR")).args([
            "build",
            "--quiet",
            "--example",
            "coord_holder",
        ]);
        if profile_dir.ends_with("release") {
            cmd.arg("--release");
        }
        ensure!(cmd.status()?.success(), "cannot build coord_holder");
    }
    Ok(bin)
}

fn holder(addr: &str, mode: &str, name: &str) -> Result<Proc> {
    let mut cmd = Command::new(holder_bin()?);
    cmd.args([addr, mode, name]);
    Proc::spawn(&format!("coord_holder {mode} {name}"), cmd)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lock_is_exclusive_between_two_clients() -> Result<()> {
    let (_s, addr) = scheduler(0, &[])?;
    let (a, b) = (connect(&addr).await?, connect(&addr).await?);
    let (la, lb) = (Lock::new(&a, "l"), Lock::new(&b, "l"));
    bounded("a takes the lock", 20, async {
        Ok(la.acquire(SECS).await?)
    })
    .await?;
    let short = Some(Duration::from_millis(300));
    match lb.acquire(short).await {
        Err(Error::Timeout(..)) => {}
        other => bail!("b got a held lock: {other:?}"),
    }
    let waiting = tokio::spawn(async move { lb.acquire(SECS).await.map(|_| lb) });
    tokio::time::sleep(Duration::from_millis(200)).await;
    ensure!(!waiting.is_finished(), "b took the lock while a held it");
    la.release().await?;
    let lb = bounded("b gets the released lock", 20, async {
        Ok(waiting.await??)
    })
    .await?;
    lb.release().await?;

    // Read-modify-write of a variable under the lock, from both clients at once: no update
    // is lost only if the lock excludes.
    Variable::new(&a, "count").set(&0i64).await?;
    let bump = |client: rask::Client| async move {
        let (lock, var) = (Lock::new(&client, "l"), Variable::new(&client, "count"));
        for _ in 0..25 {
            lock.acquire(SECS).await?;
            let n: i64 = var.get(SECS).await?;
            tokio::time::sleep(Duration::from_millis(2)).await;
            var.set(&(n + 1)).await?;
            lock.release().await?;
        }
        anyhow::Ok(())
    };
    let (ra, rb) = bounded("50 locked increments", 60, async {
        Ok(tokio::join!(bump(a.clone()), bump(b.clone())))
    })
    .await?;
    ra?;
    rb?;
    let n: i64 = Variable::new(&b, "count").get(SECS).await?;
    ensure!(n == 50, "lost updates under the lock: {n} of 50");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lock_is_released_when_its_holder_process_is_killed_or_its_lease_ends() -> Result<()> {
    let (_s, addr) = scheduler(0, &[])?;
    let mut holder = holder(&addr, "lock", "l")?;
    holder.wait_line("HOLDING l", 60)?;
    let b = connect(&addr).await?;
    let lock = Lock::new(&b, "l");
    match lock.acquire(Some(Duration::from_millis(500))).await {
        Err(Error::Timeout(..)) => {}
        other => bail!("the holder process's lock was taken: {other:?}"),
    }
    let waiting = tokio::spawn(async move { lock.acquire(SECS).await.map(|_| lock) });
    tokio::time::sleep(Duration::from_millis(200)).await;
    ensure!(!waiting.is_finished(), "lock taken while its holder lives");
    let killed = Instant::now();
    holder.kill();
    let lock = bounded("lock after SIGKILL", 20, async { Ok(waiting.await??) }).await?;
    eprintln!(
        "lock granted {:?} after its holder's SIGKILL",
        killed.elapsed()
    );
    lock.release().await?;

    // A lease that is never released ends by itself.
    let c = connect(&addr).await?;
    let leased = Lock::new(&c, "m").with_lease(Duration::from_millis(500));
    leased.acquire(SECS).await?;
    let start = Instant::now();
    Lock::new(&b, "m").acquire(SECS).await?;
    let waited = start.elapsed();
    ensure!(
        waited >= Duration::from_millis(400) && waited < Duration::from_secs(5),
        "lease of 500 ms ended after {waited:?}"
    );
    match leased.release().await {
        Err(Error::Coordination(_)) => Ok(()),
        other => bail!("releasing an expired lease: {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_queue_delivers_every_item_exactly_once_to_competing_consumers() -> Result<()> {
    const N: i64 = 300;
    let (_s, addr) = scheduler(0, &[])?;
    let mut consumers = vec![
        holder(&addr, "consume", "q")?,
        holder(&addr, "consume", "q")?,
    ];
    let local = connect(&addr).await?;
    let mine = tokio::spawn(async move {
        let q = Queue::new(&local, "q", 0);
        let mut got = Vec::new();
        loop {
            let n: i64 = q.get(SECS).await?;
            if n < 0 {
                return anyhow::Ok(got);
            }
            got.push(n);
        }
    });
    let producer = connect(&addr).await?;
    let q = Queue::new(&producer, "q", 16); // bounded: puts wait for the consumers
    bounded("producing", 60, async {
        for n in 0..N {
            q.put(&n, SECS).await?;
        }
        for _ in 0..3 {
            q.put(&-1i64, SECS).await?;
        }
        Ok(())
    })
    .await?;
    let mut all = bounded("local consumer", 30, async { mine.await? }).await?;
    let local_n = all.len();
    for p in &mut consumers {
        loop {
            let line = p.wait_line("", 30)?;
            if line == "DONE" {
                break;
            }
            let n = line.strip_prefix("ITEM ").context("an ITEM line")?;
            all.push(n.parse()?);
        }
    }
    all.sort_unstable();
    ensure!(all == (0..N).collect::<Vec<_>>(), "items lost or doubled");
    eprintln!("local consumer took {local_n} of {N}");
    ensure!(q.qsize().await? == 0);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn datasets_and_queued_futures_outlive_the_client_that_made_them() -> Result<()> {
    let c = cluster(1)?;
    let producer = connect_with_workers(&c.addr, 1).await?;
    let xs = producer.map(inc, (0..10i64).map(|i| (i,)))?;
    rask::wait(&xs, Duration::from_secs(20)).await?;
    producer.publish_dataset("xs", &xs).await?;
    match producer.publish_dataset("xs", &xs).await {
        Err(Error::Coordination(_)) => {}
        other => bail!("published a name twice: {other:?}"),
    }
    Queue::new(&producer, "fq", 0)
        .put_future(&xs[3], SECS)
        .await?;
    drop(xs);
    drop(producer);
    tokio::time::sleep(Duration::from_millis(300)).await;

    let consumer = connect(&c.addr).await?;
    ensure!(consumer.list_datasets().await? == vec!["xs".to_string()]);
    let ys = consumer.get_dataset::<i64>("xs").await?;
    let values = bounded("gather a dataset", 20, async {
        Ok(consumer.gather(&ys).await?)
    })
    .await?;
    ensure!(values == (1..=10).collect::<Vec<i64>>(), "{values:?}");
    let f = Queue::new(&consumer, "fq", 0)
        .get_future::<i64>(SECS)
        .await?;
    ensure!(f.get().await? == 4);
    consumer.unpublish_dataset("xs").await?;
    ensure!(consumer.list_datasets().await?.is_empty());
    match consumer.get_dataset::<i64>("xs").await {
        Err(Error::Coordination(_)) => {}
        other => bail!("an unpublished dataset: {other:?}"),
    }
    drop((ys, f));
    eventually("every key released", 20, || async {
        Ok(consumer.info().await?.tasks == 0)
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn variables_events_and_topics_across_two_clients() -> Result<()> {
    let (_s, addr) = scheduler(0, &[])?;
    let (a, b) = (connect(&addr).await?, connect(&addr).await?);
    let mut events = a.subscribe::<String>("news").await?;
    for word in ["one", "two", "three"] {
        b.log_event("news", &word.to_string()).await?;
    }
    let got = bounded("three events", 20, async {
        let mut got = Vec::new();
        for _ in 0..3 {
            got.push(events.next().await.context("stream ended")??);
        }
        Ok(got)
    })
    .await?;
    ensure!(got == ["one", "two", "three"], "{got:?}");

    match Variable::new(&a, "v")
        .get::<i64>(Some(Duration::from_millis(300)))
        .await
    {
        Err(Error::Timeout(..)) => {}
        other => bail!("a variable never set: {other:?}"),
    }
    let va = Variable::new(&a, "v");
    let reader = tokio::spawn(async move { va.get::<i64>(SECS).await });
    let ea = Event::new(&a, "go");
    let waiter = tokio::spawn(async move { ea.wait(SECS).await });
    tokio::time::sleep(Duration::from_millis(200)).await;
    ensure!(!reader.is_finished() && !waiter.is_finished());
    Variable::new(&b, "v").set(&42i64).await?;
    Event::new(&b, "go").set().await?;
    ensure!(bounded("variable read", 20, async { Ok(reader.await??) }).await? == 42);
    bounded("event wait", 20, async { Ok(waiter.await??) }).await?;
    ensure!(Event::new(&a, "go").is_set().await?);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_waiting_get_fails_clearly_when_the_scheduler_dies() -> Result<()> {
    let (mut s, addr) = scheduler(0, &[])?;
    let a = connect(&addr).await?;
    let q = Queue::new(&a, "q", 0);
    let waiting = tokio::spawn(async move { q.get::<i64>(None).await });
    tokio::time::sleep(Duration::from_millis(300)).await;
    s.kill();
    match bounded("the get's end", 20, async { Ok(waiting.await?) }).await? {
        Err(Error::Closed(_)) => Ok(()),
        other => bail!("a get on a dead scheduler: {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_caller_that_stops_waiting_loses_no_item_and_holds_no_lease() -> Result<()> {
    let (_s, addr) = scheduler(0, &[])?;
    let (a, b) = (connect(&addr).await?, connect(&addr).await?);
    let qa = Queue::new(&a, "q", 0);
    let gave_up = tokio::time::timeout(Duration::from_millis(200), qa.get::<i64>(None)).await;
    ensure!(gave_up.is_err(), "a get on an empty queue returned");
    let qb = Queue::new(&b, "q", 0);
    qb.put(&7i64, SECS).await?;
    ensure!(qb.get::<i64>(Some(Duration::from_secs(2))).await? == 7);

    let held = Lock::new(&a, "l");
    held.acquire(SECS).await?;
    let lb = Lock::new(&b, "l");
    let gave_up = tokio::time::timeout(Duration::from_millis(200), lb.acquire(None)).await;
    ensure!(gave_up.is_err(), "a held lock was granted");
    held.release().await?;
    let c = connect(&addr).await?;
    bounded("the lock after an abandoned acquire", 20, async {
        Ok(Lock::new(&c, "l")
            .acquire(Some(Duration::from_secs(3)))
            .await?)
    })
    .await
}

/// SIGSTOP: the frozen holder keeps its connection but stops heartbeating; its lease goes to
/// the waiting client once the client TTL passes, not before.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_frozen_holder_loses_its_lock_after_the_client_ttl() -> Result<()> {
    let (_s, addr) = scheduler(0, &["--client-ttl", "2", "--heartbeat-ms", "200"])?;
    let holder = holder(&addr, "lock", "l")?;
    holder.wait_line("HOLDING l", 60)?;
    let b = connect(&addr).await?;
    let pid = holder.child.id().to_string();
    ensure!(Command::new("kill")
        .args(["-STOP", &pid])
        .status()?
        .success());
    let stopped = Instant::now();
    let lock = Lock::new(&b, "l");
    bounded("lock of a frozen holder", 30, async {
        Ok(lock.acquire(SECS).await?)
    })
    .await?;
    let waited = stopped.elapsed();
    eprintln!("lock granted {waited:?} after its holder froze (client TTL 2 s)");
    ensure!(
        waited >= Duration::from_millis(1_500) && waited < Duration::from_secs(10),
        "a frozen holder's lock was granted after {waited:?}"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn batched_puts_and_gets_keep_order_and_lose_nothing() -> Result<()> {
    const N: i64 = 20_000;
    let (_s, addr) = scheduler(0, &[])?;
    let (a, b) = (connect(&addr).await?, connect(&addr).await?);
    let qb = Queue::new(&b, "q", 1_000);
    let consumer = tokio::spawn(async move {
        let mut got = Vec::new();
        while got.len() < N as usize {
            got.extend(qb.get_batch::<i64>(500, SECS).await?);
        }
        anyhow::Ok(got)
    });
    let qa = Queue::new(&a, "q", 1_000);
    let start = Instant::now();
    let values: Vec<i64> = (0..N).collect();
    bounded("batched puts", 60, async {
        for chunk in values.chunks(1_000) {
            qa.put_many(chunk, SECS).await?;
        }
        Ok(())
    })
    .await?;
    let got = bounded("batched gets", 60, async { consumer.await? }).await?;
    let rate = N as f64 / start.elapsed().as_secs_f64();
    eprintln!("{N} items through a bounded queue in batches: {rate:.0} items/s");
    ensure!(got == values, "order or items differ");
    Ok(())
}
