//! The core scenarios against real processes: `rask scheduler` and two `rask worker`s on
//! loopback, driven by a client in this test process. Processes are killed on drop.

mod common;

use anyhow::{ensure, Result};
use common::procs::{cluster, scheduler, worker, Proc};
use common::*;
use rask::builtins::{add, inc, slow_identity};
use rask::{Client, ClientConfig, Error, PROTOCOL_VERSION};
use std::time::{Duration, Instant};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn core_scenarios_on_real_processes() -> Result<()> {
    let c = cluster(2)?;
    let client = connect(&c.addr).await?;
    eventually("two workers", 20, || async {
        Ok(client.info().await?.workers.len() == 2)
    })
    .await?;
    many_tasks(&client, 10_000).await?;
    diamond(&client).await?;
    chain(&client, 1_000).await?;
    errors(&client).await?;
    dropping_frees_memory(&client).await?;
    scatter_as_completed_cancel(&client).await?;
    drop(client);
    let mut c = c;
    ensure!(c.scheduler.alive() && c.workers.iter_mut().all(|w| w.alive()));
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_of_a_worker_mid_graph_still_gives_the_right_answer() -> Result<()> {
    let mut c = cluster(2)?;
    let client = connect(&c.addr).await?;
    eventually("two workers", 20, || async {
        Ok(client.info().await?.workers.len() == 2)
    })
    .await?;
    let leaves: Vec<_> = (0..40i64)
        .map(|i| client.submit(slow_identity, (i, 40u64)))
        .collect::<rask::Result<_>>()?;
    let mut level = leaves;
    while level.len() > 1 {
        let mut next = Vec::new();
        for pair in level.chunks(2) {
            next.push(if pair.len() == 2 {
                client.submit(add, (&pair[0], &pair[1]))?
            } else {
                pair[0].clone()
            });
        }
        level = next;
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    c.workers[0].kill();
    let total = bounded("sum after SIGKILL", 60, async { Ok(level[0].get().await?) }).await?;
    ensure!(total == (0..40).sum::<i64>(), "got {total}");
    eventually("one worker left", 20, || async {
        Ok(client.info().await?.workers.len() == 1)
    })
    .await?;
    Ok(())
}

/// SIGSTOP: the frozen worker keeps its connection but stops heartbeating; the scheduler
/// removes it after the TTL and the graph completes on the other worker. After SIGCONT the
/// evicted worker is told to register again and comes back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn frozen_worker_is_detected_within_the_ttl_and_rejoins_after() -> Result<()> {
    let (_s, addr) = scheduler(0, &["--worker-ttl", "2", "--heartbeat-ms", "200"])?;
    let w0 = worker(&addr, "w0")?;
    let _w1 = worker(&addr, "w1")?;
    let client = connect(&addr).await?;
    eventually("two workers", 20, || async {
        Ok(client.info().await?.workers.len() == 2)
    })
    .await?;
    let leaves: Vec<_> = (0..30i64)
        .map(|i| client.submit(slow_identity, (i, 50u64)))
        .collect::<rask::Result<_>>()?;
    tokio::time::sleep(Duration::from_millis(200)).await;
    let pid = w0.child.id().to_string();
    ensure!(std::process::Command::new("kill")
        .args(["-STOP", &pid])
        .status()?
        .success());
    let stopped = Instant::now();
    let values = bounded("gather after SIGSTOP", 60, async {
        Ok(client.gather(&leaves).await?)
    })
    .await?;
    ensure!(values == (0..30).collect::<Vec<i64>>(), "got {values:?}");
    eventually("frozen worker removed", 10, || async {
        Ok(client.info().await?.workers.len() == 1)
    })
    .await?;
    ensure!(
        stopped.elapsed() < Duration::from_secs(15),
        "took {:?}",
        stopped.elapsed()
    );
    ensure!(std::process::Command::new("kill")
        .args(["-CONT", &pid])
        .status()?
        .success());
    eventually("frozen worker rejoined", 20, || async {
        Ok(client.info().await?.workers.len() == 2)
    })
    .await?;
    many_tasks(&client, 200).await
}

/// A client process SIGKILLed mid-computation: everything it held is released on the cluster.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_client_process_has_its_keys_released() -> Result<()> {
    let c = cluster(2)?;
    let observer = connect(&c.addr).await?;
    let mut victim = Proc::rask(
        "bench client",
        &["bench", "tiny", "--scheduler", &c.addr, "--tasks", "100000"],
    )?;
    eventually("the victim's tasks arrive", 30, || async {
        Ok(observer.info().await?.tasks > 1_000)
    })
    .await?;
    victim.kill();
    let killed = Instant::now();
    eventually("keys released", 30, || async {
        let info = observer.info().await?;
        Ok(info.tasks == 0 && info.workers.iter().all(|w| w.keys == 0))
    })
    .await?;
    ensure!(killed.elapsed() < Duration::from_secs(30));
    many_tasks(&observer, 200).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restarted_scheduler_gets_its_workers_back() -> Result<()> {
    let mut c = cluster(2)?;
    let port: u16 = c.addr.rsplit(':').next().unwrap_or_default().parse()?;
    let survivor = connect(&c.addr).await?;
    many_tasks(&survivor, 100).await?;
    let pending = survivor.submit(slow_identity, (1, 2_000u64))?;
    tokio::time::sleep(Duration::from_millis(100)).await;
    c.scheduler.kill();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let (_s2, addr2) = scheduler(port, &[])?;
    // A scheduler without a journal does not know the key: once the client is back, the
    // future it never resolved fails clearly instead of hanging.
    match bounded("pending future", 30, async { Ok(pending.get().await) }).await? {
        Err(Error::Task(e)) => ensure!(
            e.kind == rask::TaskErrorKind::LostData && e.message.contains("restarted"),
            "{e}"
        ),
        other => anyhow::bail!("expected a lost-data error, got {other:?}"),
    }
    ensure!(addr2 == c.addr, "{addr2} != {}", c.addr);
    let client = connect(&addr2).await?;
    eventually("workers re-registered", 30, || async {
        Ok(client.info().await?.workers.len() == 2)
    })
    .await?;
    many_tasks(&client, 1_000).await?;
    // The client that lived through the restart reconnected by itself and works again.
    bounded("survivor reconnects", 30, many_tasks(&survivor, 500)).await?;
    ensure!(c.workers.iter_mut().all(|w| w.alive()));
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_of_another_version_is_refused_by_a_real_scheduler() -> Result<()> {
    let (_s, addr) = scheduler(0, &[])?;
    let mut config = ClientConfig::new(&addr);
    config.protocol_version = 9_999;
    match Client::connect_with(config).await {
        Err(e @ Error::Protocol(_)) => {
            let text = e.to_string();
            ensure!(
                text.contains(&format!("version {PROTOCOL_VERSION}")),
                "{text}"
            );
            ensure!(text.contains("version 9999"), "{text}");
            Ok(())
        }
        Err(other) => anyhow::bail!("wrong error: {other}"),
        Ok(_) => anyhow::bail!("accepted a client of another version"),
    }
}

/// Random bytes on raw TCP and junk multipart messages through a real DEALER, to the
/// scheduler and to a worker's data-store: both survive and serve normal clients afterwards.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn garbage_on_the_ports_does_not_crash_anything() -> Result<()> {
    let mut c = cluster(1)?;
    let client = connect(&c.addr).await?;
    eventually("worker", 20, || async {
        Ok(client.info().await?.workers.len() == 1)
    })
    .await?;
    send_garbage(&client, &c.addr, 42).await?;
    ensure!(c.scheduler.alive(), "scheduler died");
    ensure!(c.workers[0].alive(), "worker died");
    many_tasks(&client, 500).await?;
    let fresh = connect(&c.addr).await?;
    many_tasks(&fresh, 500).await
}

/// A ZMTP greeting followed by a frame header that claims `claim` bytes.
async fn forged_frame(addr: &str, claim: u64) -> Result<()> {
    use tokio::io::AsyncWriteExt;
    let mut s = tokio::net::TcpStream::connect(addr.trim_start_matches("tcp://")).await?;
    let mut greeting = vec![0u8; 64];
    greeting[0] = 0xff;
    greeting[9] = 0x7f;
    greeting[10] = 3;
    greeting[12..16].copy_from_slice(b"NULL");
    s.write_all(&greeting).await?;
    s.write_all(&[0x02]).await?;
    s.write_all(&claim.to_be_bytes()).await?;
    // The peer may already have cut us off.
    let _ = s.write_all(&[0u8; 100]).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_guarded_scheduler_survives_forged_giant_frames() -> Result<()> {
    let (mut sched, addr) = scheduler(0, &["--max-frame-bytes", "1048576"])?;
    let _w = worker(&addr, "g0")?;
    let client = connect_with_workers(&addr, 1).await?;
    // Without the guard, the socket library would try to reserve 2^50 bytes and abort.
    for claim in [1u64 << 50, 1 << 40, 2 << 20] {
        forged_frame(&addr, claim).await?;
        ensure!(sched.alive(), "scheduler died on a {claim}-byte claim");
    }
    many_tasks(&client, 300).await?;
    let fresh = connect(&addr).await?;
    many_tasks(&fresh, 300).await
}

#[test]
fn bad_flags_and_unreachable_scheduler_exit_non_zero_quickly() -> Result<()> {
    let bin = env!("CARGO_BIN_EXE_rask");
    let out = std::process::Command::new(bin)
        .args(["worker", "tcp://127.0.0.1:1", "--nthreads", "many"])
        .output()?;
    ensure!(!out.status.success());
    ensure!(String::from_utf8_lossy(&out.stderr).contains("--nthreads"));
    let start = Instant::now();
    let out = std::process::Command::new(bin)
        .args(["worker", "tcp://127.0.0.1:1", "--connect-timeout", "1"])
        .output()?;
    ensure!(!out.status.success());
    ensure!(
        start.elapsed() < Duration::from_secs(15),
        "took {:?}",
        start.elapsed()
    );
    let err = String::from_utf8_lossy(&out.stderr);
    ensure!(
        err.contains("cannot join the scheduler at tcp://127.0.0.1:1"),
        "stderr: {err}"
    );
    let out = std::process::Command::new(bin)
        .args(["info", "tcp://127.0.0.1:1"])
        .output()?;
    ensure!(!out.status.success());
    ensure!(String::from_utf8_lossy(&out.stderr).contains("cannot reach the scheduler"));
    let _ = inc; // the stock worker runs the built-ins
    Ok(())
}
