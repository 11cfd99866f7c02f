//! The array scenarios on real processes: `rask scheduler` and two stock `rask worker`s on
//! loopback, which must know every built-in array function, driven by a client in this test
//! process. Processes are killed on drop.

mod array_scenarios;
mod common;

use anyhow::Result;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn array_scenarios_on_stock_workers() -> Result<()> {
    let c = common::procs::cluster(2)?;
    let client = common::connect_with_workers(&c.addr, 2).await?;
    let dir = tempfile::tempdir()?;
    array_scenarios::creation(&client).await?;
    array_scenarios::elementwise(&client).await?;
    array_scenarios::reductions(&client).await?;
    array_scenarios::shapes(&client).await?;
    array_scenarios::linear_algebra(&client).await?;
    array_scenarios::sums::split_sums(&client).await?;
    array_scenarios::indexing::take(&client).await?;
    array_scenarios::indexing::masks(&client).await?;
    array_scenarios::storage_and_errors(&client, dir.path()).await?;
    let report =
        array_scenarios::bounded("bench", 120, rask::array::bench_array(&client, 300, 128)).await?;
    anyhow::ensure!(report.ok, "{:?}", report.failures);
    Ok(())
}
