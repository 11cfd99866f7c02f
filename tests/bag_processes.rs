//! The bag, delayed and graph scenarios on real processes: `rask scheduler` and two stock
//! `rask worker`s on loopback (which must know every built-in collection function), driven
//! by a client in this test process. Processes are killed on drop.

mod bag_scenarios;
mod common;

use anyhow::Result;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bag_and_delayed_scenarios_on_real_processes() -> Result<()> {
    let c = common::procs::cluster(2)?;
    let client = common::connect_with_workers(&c.addr, 2).await?;
    let dir = tempfile::tempdir()?;
    bag_scenarios::numeric_bag_operations(&client).await?;
    bag_scenarios::empty_bags(&client).await?;
    bag_scenarios::text_operations(&client, &dir.path().join("text")).await?;
    bag_scenarios::json_and_errors(&client, &dir.path().join("json")).await?;
    bag_scenarios::delayed_and_graphs(&client).await?;
    Ok(())
}
