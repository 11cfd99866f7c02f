//! The core scenarios on `Client::local`: scheduler and workers in this process, real
//! ZeroMQ sockets on loopback, ports chosen by the OS.

mod common;

use anyhow::Result;
use common::*;
use rask::{Client, ClientConfig, Error, LocalCluster, LocalConfig, PROTOCOL_VERSION};

async fn local() -> Result<Client> {
    bounded("local cluster", 30, async { Ok(Client::local(2).await?) }).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_thousand_tasks_gather_correctly() -> Result<()> {
    many_tasks(&local().await?, 10_000).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn diamond_and_long_chain_move_data_between_workers() -> Result<()> {
    let client = local().await?;
    diamond(&client).await?;
    chain(&client, 1_000).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn task_errors_and_panics_are_typed_and_the_cluster_survives() -> Result<()> {
    errors(&local().await?).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropping_futures_frees_worker_memory() -> Result<()> {
    dropping_frees_memory(&local().await?).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scatter_as_completed_and_cancel_work() -> Result<()> {
    scatter_as_completed_cancel(&local().await?).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn garbage_on_the_ports_leaves_the_local_cluster_serving() -> Result<()> {
    let client = local().await?;
    send_garbage(&client, client.scheduler(), 7).await?;
    many_tasks(&client, 500).await?;
    let fresh = Client::connect(client.scheduler()).await?;
    many_tasks(&fresh, 500).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_protocol_version_is_refused_naming_both() -> Result<()> {
    let cluster = LocalCluster::start(LocalConfig::default()).await?;
    let mut config = ClientConfig::new(cluster.address());
    config.protocol_version = PROTOCOL_VERSION + 41;
    match Client::connect_with(config).await {
        Err(e @ Error::Protocol(_)) => {
            let text = e.to_string();
            assert!(
                text.contains(&format!("version {PROTOCOL_VERSION}")),
                "{text}"
            );
            assert!(
                text.contains(&format!("version {}", PROTOCOL_VERSION + 41)),
                "{text}"
            );
            Ok(())
        }
        Err(other) => anyhow::bail!("wrong error: {other}"),
        Ok(_) => anyhow::bail!("a client of another version was accepted"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stopped_worker_does_not_lose_the_graph() -> Result<()> {
    use rask::builtins::{add, slow_identity};
    let client = local().await?;
    // Wide level of slow tasks, then a sum, while one worker is stopped mid-way.
    let level: Vec<_> = (0..20i64)
        .map(|i| client.submit(slow_identity, (i, 50u64)))
        .collect::<rask::Result<_>>()?;
    let mut sums = level.clone();
    while sums.len() > 1 {
        let mut next = Vec::new();
        for pair in sums.chunks(2) {
            next.push(if pair.len() == 2 {
                client.submit(add, (&pair[0], &pair[1]))?
            } else {
                pair[0].clone()
            });
        }
        sums = next;
    }
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    client.with_local_cluster(|c| c.stop_worker(0));
    let total = bounded("sum after worker loss", 60, async {
        Ok(sums[0].get().await?)
    })
    .await?;
    assert_eq!(total, (0..20).sum::<i64>());
    Ok(())
}
