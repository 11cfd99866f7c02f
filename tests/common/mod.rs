//! Scenarios shared by the in-process and the multi-process integration tests, plus helpers
//! to run `rask` processes. Every wait is bounded.
#![allow(dead_code)]

pub mod fault_proxy;
pub mod procs;
pub mod s3;

use anyhow::{anyhow, bail, ensure, Result};
use futures::StreamExt;
use rask::builtins::{add, double, fail, inc, make_bytes, panic_with, slow_identity};
use rask::{Client, Error, SubmitOptions, TaskErrorKind};
use std::time::{Duration, Instant};

/// Runs `fut` with a time limit.
pub async fn bounded<T>(
    what: &str,
    secs: u64,
    fut: impl std::future::Future<Output = Result<T>>,
) -> Result<T> {
    tokio::time::timeout(Duration::from_secs(secs), fut)
        .await
        .map_err(|_| anyhow!("{what} did not finish within {secs} s"))?
}

/// Polls `check` until it returns true or `secs` pass.
pub async fn eventually<F, Fut>(what: &str, secs: u64, mut check: F) -> Result<()>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<bool>>,
{
    let start = Instant::now();
    loop {
        if check().await? {
            return Ok(());
        }
        if start.elapsed() > Duration::from_secs(secs) {
            bail!("{what}: not true within {secs} s");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Connects to the scheduler at `addr` (bounded).
pub async fn connect(addr: &str) -> Result<Client> {
    bounded("connect", 20, async { Ok(Client::connect(addr).await?) }).await
}

/// Connects and waits until `workers` workers are registered.
pub async fn connect_with_workers(addr: &str, workers: usize) -> Result<Client> {
    let client = connect(addr).await?;
    eventually("workers registered", 20, || async {
        Ok(client.info().await?.workers.len() == workers)
    })
    .await?;
    Ok(client)
}

/// Names of the connected workers, sorted.
pub async fn worker_names(client: &Client) -> Result<Vec<String>> {
    let mut names: Vec<String> = client
        .info()
        .await?
        .workers
        .into_iter()
        .map(|w| w.name)
        .collect();
    names.sort();
    Ok(names)
}

fn on(worker: &str) -> SubmitOptions {
    SubmitOptions {
        workers: vec![worker.to_string()],
        ..SubmitOptions::default()
    }
}

/// n independent tasks submitted with `map` and gathered.
pub async fn many_tasks(client: &Client, n: i64) -> Result<()> {
    let futures = client.map(inc, (0..n).map(|i| (i,)))?;
    let values = bounded("gather", 120, async { Ok(client.gather(&futures).await?) }).await?;
    ensure!(values.len() == n as usize);
    for (i, v) in values.iter().enumerate() {
        ensure!(*v == i as i64 + 1, "task {i} gave {v}");
    }
    Ok(())
}

//      a = inc(10)          on w0
//     /          \
// b = double(a)   c = inc(a)     b on w0, c on w1 (a moves w0 → w1)
//     \          /
//      d = add(b, c)        on w1 (b moves w0 → w1)
pub async fn diamond(client: &Client) -> Result<()> {
    let names = worker_names(client).await?;
    ensure!(names.len() >= 2, "need two workers, have {names:?}");
    let (w0, w1) = (names[0].as_str(), names[1].as_str());
    let a = client.submit_with(inc, (10,), on(w0))?;
    let b = client.submit_with(double, (&a,), on(w0))?;
    let c = client.submit_with(inc, (&a,), on(w1))?;
    let d = client.submit_with(add, (&b, &c), on(w1))?;
    let v = bounded("diamond", 60, async { Ok(d.get().await?) }).await?;
    ensure!(v == 22 + 12, "diamond gave {v}");
    Ok(())
}

/// A chain of `len` dependent tasks alternating between two workers, so every link moves
/// data worker to worker.
pub async fn chain(client: &Client, len: usize) -> Result<()> {
    let names = worker_names(client).await?;
    ensure!(names.len() >= 2, "need two workers, have {names:?}");
    let mut cur = client.submit_with(inc, (0,), on(&names[0]))?;
    for i in 1..len {
        cur = client.submit_with(inc, (&cur,), on(&names[i % 2]))?;
    }
    let v = bounded("chain", 120, async { Ok(cur.get().await?) }).await?;
    ensure!(v == len as i64, "chain of {len} gave {v}");
    Ok(())
}

/// A failing and a panicking task give typed errors naming key, function and message; their
/// dependents fail too; the cluster keeps working.
pub async fn errors(client: &Client) -> Result<()> {
    let f = client.submit(fail, ("disk on fire".to_string(),))?;
    match bounded("fail", 30, async { Ok(f.get().await) }).await? {
        Err(Error::Task(e)) => {
            ensure!(e.kind == TaskErrorKind::Failed, "kind {:?}", e.kind);
            ensure!(e.key == *f.key());
            ensure!(e.function.ends_with("::fail"), "function {}", e.function);
            ensure!(e.message == "disk on fire", "message {}", e.message);
        }
        other => bail!("expected a task error, got {other:?}"),
    }
    let p = client.submit(panic_with, ("kaboom".to_string(),))?;
    match bounded("panic", 30, async { Ok(p.get().await) }).await? {
        Err(Error::Task(e)) => {
            ensure!(e.kind == TaskErrorKind::Panicked, "kind {:?}", e.kind);
            ensure!(e.message.contains("kaboom"), "message {}", e.message);
            ensure!(e.to_string().contains(p.key().as_str()));
        }
        other => bail!("expected a panic error, got {other:?}"),
    }
    let dependent = client.submit(inc, (&p,))?;
    match bounded("dependent", 30, async { Ok(dependent.get().await) }).await? {
        Err(Error::Task(e)) => ensure!(
            e.kind == TaskErrorKind::DependencyFailed(p.key().clone()),
            "kind {:?}",
            e.kind
        ),
        other => bail!("expected a dependency error, got {other:?}"),
    }
    // Still working, on every worker.
    many_tasks(client, 100).await
}

/// Dropping futures frees their values on the workers.
pub async fn dropping_frees_memory(client: &Client) -> Result<()> {
    let mb = 1u64 << 20;
    let futures = client.map(make_bytes, (0..8u64).map(|i| (mb + i,)))?;
    bounded("make", 60, async {
        Ok(rask::wait(&futures, Duration::from_secs(60)).await?)
    })
    .await?;
    let held: u64 = client.info().await?.workers.iter().map(|w| w.nbytes).sum();
    ensure!(held >= 8 * mb, "workers hold only {held} bytes");
    let keys: Vec<rask::Key> = futures.iter().map(|f| f.key().clone()).collect();
    let who = client.who_has(&keys).await?;
    ensure!(who
        .iter()
        .all(|(_, holders, n)| !holders.is_empty() && *n >= mb));
    drop(futures);
    eventually("memory freed", 20, || async {
        let info = client.info().await?;
        Ok(info.workers.iter().all(|w| w.nbytes == 0 && w.keys == 0) && info.tasks == 0)
    })
    .await?;
    let who = client.who_has(&keys).await?;
    ensure!(who.iter().all(|(_, holders, _)| holders.is_empty()));
    Ok(())
}

/// Scatter, use scattered values as arguments, as_completed, cancel.
pub async fn scatter_as_completed_cancel(client: &Client) -> Result<()> {
    let data = client.scatter(vec![5i64, 6, 7]).await?;
    let sums: Vec<_> = data
        .iter()
        .map(|d| client.submit(add, (d, 100)))
        .collect::<rask::Result<_>>()?;
    let mut seen = Vec::new();
    let mut stream = rask::as_completed(sums.clone());
    while let Some(f) = bounded("as_completed", 30, async { Ok(stream.next().await) }).await? {
        seen.push(f.get().await?);
    }
    seen.sort();
    ensure!(seen == vec![105, 106, 107], "got {seen:?}");
    ensure!(client.gather(&data).await? == vec![5, 6, 7]);
    let slow = client.submit(slow_identity, (1, 5_000))?;
    client.cancel(std::slice::from_ref(&slow));
    match bounded("cancel", 10, async { Ok(slow.get().await) }).await? {
        Err(Error::Cancelled(_)) => Ok(()),
        other => bail!("expected cancelled, got {other:?}"),
    }
}

/// Sends random bytes on raw TCP connections and random multipart messages through real
/// DEALER sockets to the scheduler at `addr` and to the first worker's data-store.
pub async fn send_garbage(client: &Client, addr: &str, seed: u64) -> Result<()> {
    use rand::{Rng, SeedableRng};
    use std::io::Write;
    use zeromq::{Socket, SocketRecv, SocketSend};
    let store = client.info().await?.workers[0].store_addr.clone();
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    for target in [addr.to_string(), store] {
        let hostport = target.trim_start_matches("tcp://").to_string();
        for _ in 0..50 {
            let mut s = std::net::TcpStream::connect(&hostport)?;
            let n = rng.gen_range(1..2048);
            let junk: Vec<u8> = (0..n).map(|_| rng.gen()).collect();
            let _ = s.write_all(&junk);
        }
        for _ in 0..20 {
            let mut dealer = zeromq::DealerSocket::new();
            dealer.connect(&target).await?;
            for _ in 0..5 {
                let frames: Vec<bytes::Bytes> = (0..rng.gen_range(1..4))
                    .map(|_| {
                        (0..rng.gen_range(0..300))
                            .map(|_| rng.gen::<u8>())
                            .collect::<Vec<u8>>()
                            .into()
                    })
                    .collect();
                dealer
                    .send(zeromq::ZmqMessage::try_from(frames).expect("frames"))
                    .await?;
            }
            // Whatever comes back (a refusal) does not matter; nothing may go down.
            let _ = tokio::time::timeout(Duration::from_millis(50), dealer.recv()).await;
        }
    }
    Ok(())
}
