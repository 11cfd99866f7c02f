//! The bag, delayed and graph scenarios on real processes: `rask scheduler` and two stock
//! `rask worker`s on loopback (which must know every built-in collection function), driven
//! by a client in this test process. Processes are killed on drop.

mod bag_scenarios;
mod common;

use anyhow::Result;
use common::procs::{scheduler, worker, Proc};
use rask::Client;
use std::time::Duration;

struct Cluster {
    client: Client,
    _procs: Vec<Proc>,
}

async fn cluster() -> Result<Cluster> {
    let (s, addr) = scheduler(0, &[])?;
    let w0 = worker(&addr, "w0")?;
    let w1 = worker(&addr, "w1")?;
    let client = tokio::time::timeout(Duration::from_secs(20), Client::connect(&addr)).await??;
    common::eventually("two workers", 20, || async {
        Ok(client.info().await?.workers.len() == 2)
    })
    .await?;
    Ok(Cluster {
        client,
        _procs: vec![s, w0, w1],
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bag_and_delayed_scenarios_on_real_processes() -> Result<()> {
    let c = cluster().await?;
    let dir = tempfile::tempdir()?;
    bag_scenarios::numeric_bag_operations(&c.client).await?;
    bag_scenarios::empty_bags(&c.client).await?;
    bag_scenarios::text_operations(&c.client, &dir.path().join("text")).await?;
    bag_scenarios::json_and_errors(&c.client, &dir.path().join("json")).await?;
    bag_scenarios::delayed_and_graphs(&c.client).await?;
    Ok(())
}
