//! The array scenarios on real processes: `rask scheduler` and two stock `rask worker`s on
//! loopback, which must know every built-in array function, driven by a client in this test
//! process. Processes are killed on drop.

mod array_scenarios;
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
async fn array_scenarios_on_stock_workers() -> Result<()> {
    let c = cluster().await?;
    let dir = tempfile::tempdir()?;
    array_scenarios::creation(&c.client).await?;
    array_scenarios::elementwise(&c.client).await?;
    array_scenarios::reductions(&c.client).await?;
    array_scenarios::shapes(&c.client).await?;
    array_scenarios::linear_algebra(&c.client).await?;
    array_scenarios::storage_and_errors(&c.client, dir.path()).await?;
    let report =
        array_scenarios::bounded("bench", 120, rask::array::bench_array(&c.client, 300, 128))
            .await?;
    anyhow::ensure!(report.ok, "{:?}", report.failures);
    Ok(())
}
