//! Scheduling on an in-process cluster: root tasks queue on the scheduler instead of flooding
//! the workers, an idle worker steals tasks that locality piled onto a busy one, and a value
//! fetched by another worker is kept there as a replica and freed with its key.

mod common;

use anyhow::{ensure, Result};
use common::*;
use rask::builtins::{add, slow_add, slow_identity};
use rask::{Client, LocalConfig, SubmitOptions};
use std::time::{Duration, Instant};

async fn two_workers() -> Result<Client> {
    let client = bounded("local cluster", 30, async {
        Ok(Client::local_with(LocalConfig {
            workers: 2,
            ..LocalConfig::default()
        })
        .await?)
    })
    .await?;
    Ok(client)
}

/// Which worker holds each of `keys` (by id), from the scheduler.
async fn holders(client: &Client, keys: &[rask::Key]) -> Result<Vec<u32>> {
    let who = client.who_has(keys).await?;
    Ok(who
        .into_iter()
        .filter_map(|(_, ws, _)| ws.first().map(|w| w.0))
        .collect())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idle_worker_steals_tasks_piled_on_a_busy_one() -> Result<()> {
    let client = two_workers().await?;
    let names = worker_names(&client).await?;
    // One input on the first worker: locality sends every dependent there.
    let x = client.scatter_to(vec![1i64], &names[0]).await?.remove(0);
    let start = Instant::now();
    let futures: Vec<_> = (0..8)
        .map(|i| client.submit(slow_add, (&x, i as i64, 250u64)))
        .collect::<Result<_, _>>()?;
    let values = bounded("slow tasks", 60, async {
        Ok(client.gather(&futures).await?)
    })
    .await?;
    let took = start.elapsed();
    ensure!(values == (1..9).collect::<Vec<i64>>(), "{values:?}");
    let keys: Vec<rask::Key> = futures.iter().map(|f| f.key().clone()).collect();
    let mut on = holders(&client, &keys).await?;
    on.sort();
    on.dedup();
    ensure!(on.len() == 2, "all ran on one worker: {on:?} in {took:?}");
    // 8 × 250 ms on one thread would take 2 s; shared by two, about 1 s.
    ensure!(took < Duration::from_millis(1_800), "took {took:?}");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn root_tasks_wait_on_the_scheduler_instead_of_flooding_workers() -> Result<()> {
    let client = two_workers().await?;
    let futures: Vec<_> = (0..20)
        .map(|i| client.submit(slow_identity, (i as i64, 100u64)))
        .collect::<Result<_, _>>()?;
    // Nothing is known of the function's run time yet: each single-thread worker holds one
    // running task and one waiting; the other 16 wait on the scheduler.
    eventually("tasks assigned", 10, || async {
        let info = client.info().await?;
        for w in &info.workers {
            ensure!(w.processing <= 2, "{} holds {} tasks", w.name, w.processing);
        }
        Ok(info.workers.iter().any(|w| w.processing > 0))
    })
    .await?;
    let values = bounded("roots", 60, async { Ok(client.gather(&futures).await?) }).await?;
    ensure!(values == (0..20).collect::<Vec<i64>>());
    let keys: Vec<rask::Key> = futures.iter().map(|f| f.key().clone()).collect();
    let on = holders(&client, &keys).await?;
    let first = on.iter().filter(|w| **w == on[0]).count();
    ensure!((6..=14).contains(&first), "uneven split {first}/20");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fetched_value_stays_as_a_replica_and_is_freed_with_its_key() -> Result<()> {
    let client = two_workers().await?;
    let names = worker_names(&client).await?;
    let x = client.scatter_to(vec![40i64], &names[0]).await?.remove(0);
    let opts = SubmitOptions {
        workers: vec![names[1].clone()],
        ..SubmitOptions::default()
    };
    let y = client.submit_with(add, (&x, 2i64), opts)?;
    let got = bounded("add on the other worker", 30, async {
        Ok(client.gather(std::slice::from_ref(&y)).await?)
    })
    .await?;
    ensure!(got == vec![42], "{got:?}");
    let key = x.key().clone();
    eventually("the copy is recorded", 10, || async {
        let who = client.who_has(std::slice::from_ref(&key)).await?;
        Ok(who.first().is_some_and(|(_, ws, _)| ws.len() == 2))
    })
    .await?;
    drop((x, y));
    eventually("every copy freed", 20, || async {
        let info = client.info().await?;
        Ok(info.tasks == 0 && info.workers.iter().all(|w| w.keys == 0 && w.nbytes == 0))
    })
    .await?;
    Ok(())
}
