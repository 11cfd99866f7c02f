//! Chaos: real `rask` processes killed while they work. Worker processes are SIGKILLed at
//! random times under a 20,000-task graph (several seeds) and the result must be exact; the
//! scheduler is SIGKILLed mid-graph and restarted from its journal, and the client's pending
//! futures resolve without resubmitting.

mod common;

use anyhow::{ensure, Context, Result};
use common::procs::{scheduler, worker, Proc};
use common::*;
use rask::builtins::{add, slow_identity};
use rask::{Client, Future};
use std::time::{Duration, Instant};

/// A deterministic generator for kill times and victims.
struct Lcg(u64);

impl Lcg {
    fn below(&mut self, n: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (self.0 >> 33) % n
    }
}

/// Submits a pairwise tree reduction over `leaves` slow leaves (`ms` each) and keeps only the
/// root future: intermediate results are freed as they are consumed, so a lost worker often
/// takes data that pending tasks still need (recomputed from lineage).
fn tree(client: &Client, leaves: i64, ms: u64) -> Result<(Future<i64>, usize)> {
    let mut level: Vec<Future<i64>> = (0..leaves)
        .map(|i| client.submit(slow_identity, (i, ms)))
        .collect::<Result<_, _>>()?;
    let mut tasks = level.len();
    while level.len() > 1 {
        let mut next = Vec::with_capacity(level.len().div_ceil(2));
        for pair in level.chunks(2) {
            next.push(match pair {
                [a, b] => client.submit(add, (a, b))?,
                [a] => a.clone(),
                _ => unreachable!("chunks of two"),
            });
        }
        tasks += level.len() / 2;
        level = next;
    }
    Ok((level.pop().context("empty tree")?, tasks))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn graph_survives_workers_killed_at_random_times() -> Result<()> {
    let leaves = 10_000i64;
    let expected = leaves * (leaves - 1) / 2;
    // RASK_CHAOS_SEED=N replays one seed.
    let seeds: Vec<u64> = match std::env::var("RASK_CHAOS_SEED") {
        Ok(s) => vec![s.parse()?],
        Err(_) => (1..=5).collect(),
    };
    for seed in seeds {
        let (_sched, addr) = scheduler(0, &["--allowed-failures", "20"])?;
        let mut workers: Vec<Proc> = (0..3)
            .map(|i| worker(&addr, &format!("s{seed}-w{i}")))
            .collect::<Result<_>>()?;
        let client = connect_with_workers(&addr, 3).await?;
        let (root, tasks) = tree(&client, leaves, 1)?;
        ensure!(tasks >= 19_999, "graph has {tasks} tasks");
        let mut rng = Lcg(seed);
        let mut kills = 0;
        let start = Instant::now();
        // Three kills at random moments while the graph runs (each loses about a third of
        // the results in memory, recomputed from lineage), then it must finish.
        let result = loop {
            if kills == 3 {
                let after = Instant::now();
                break loop {
                    match tokio::time::timeout(Duration::from_secs(5), root.get()).await {
                        Ok(r) => break r?,
                        Err(_) if after.elapsed() > Duration::from_secs(120) => {
                            anyhow::bail!("seed {seed}: no result 120 s after the kills")
                        }
                        // Say what the cluster is doing while we wait (for the log).
                        Err(_) => eprintln!("seed {seed}: waiting; {:?}", client.info().await?),
                    }
                };
            }
            let wait = Duration::from_millis(200 + rng.below(1200));
            match tokio::time::timeout(wait, root.get()).await {
                Ok(r) => break r?,
                Err(_) if start.elapsed() > Duration::from_secs(120) => {
                    anyhow::bail!("seed {seed}: no result within 120 s ({kills} kills)")
                }
                Err(_) => {}
            }
            let victim = rng.below(workers.len() as u64) as usize;
            workers[victim].kill();
            kills += 1;
            workers[victim] = worker(&addr, &format!("s{seed}-w{victim}-r{kills}"))?;
        };
        ensure!(
            result == expected,
            "seed {seed}: {result} != {expected} after {kills} kills"
        );
        ensure!(kills >= 1, "seed {seed}: finished before any kill");
        eprintln!(
            "seed {seed}: exact after {kills} kills in {:.1} s",
            start.elapsed().as_secs_f64()
        );
        drop(client);
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scheduler_killed_mid_graph_recovers_from_its_journal() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let dir_s = dir.path().to_string_lossy().to_string();
    let flags = [
        "--local-directory",
        dir_s.as_str(),
        "--recovery-window",
        "2",
    ];
    let (mut sched, addr) = scheduler(0, &flags)?;
    let port: u16 = addr.rsplit(':').next().unwrap_or_default().parse()?;
    let _workers: Vec<Proc> = (0..2)
        .map(|i| worker(&addr, &format!("j{i}")))
        .collect::<Result<_>>()?;
    let client = connect_with_workers(&addr, 2).await?;
    // 400 leaves of 10 ms on two threads: about two seconds of work.
    let (root, _) = tree(&client, 400, 10)?;
    let single = client.submit(slow_identity, (42, 3_000u64))?;
    tokio::time::sleep(Duration::from_millis(800)).await;
    let busy: u32 = client
        .info()
        .await?
        .workers
        .iter()
        .map(|w| w.processing)
        .sum();
    ensure!(busy > 0, "nothing running when the scheduler was killed");
    sched.kill();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let (_sched2, addr2) = scheduler(port, &flags)?;
    ensure!(addr2 == addr, "{addr2} != {addr}");
    let v = bounded("root after restart", 60, async { Ok(root.get().await?) }).await?;
    ensure!(v == 400 * 399 / 2, "tree gave {v}");
    let s = bounded("single after restart", 60, async {
        Ok(single.get().await?)
    })
    .await?;
    ensure!(s == 42);
    // The cluster keeps working, and nothing is left behind once the futures are dropped.
    many_tasks(&client, 200).await?;
    drop((root, single));
    eventually("graph released", 30, || async {
        Ok(client.info().await?.tasks == 0)
    })
    .await?;
    Ok(())
}
