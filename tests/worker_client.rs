//! Tasks that submit tasks: a task gets a client with `rask::worker_client()`, submits more
//! work and waits on it. Waiting secedes the task, so trees deeper than the cluster has
//! threads finish on one-thread workers, in-process and as processes. Every wait is bounded.

mod common;

use anyhow::{ensure, Result};
use common::procs::{self_cluster, serve_as_worker_if_asked};
use common::*;
use rask::{Client, LocalConfig};

rask::task! {
    /// Fibonacci by recursion: each call above 1 submits its two predecessors from inside the
    /// task and gathers them.
    pub fn fib(n: u64) -> Result<u64, rask::Error> {
        if n < 2 {
            return Ok(n);
        }
        let client = rask::worker_client()?;
        let parts = [client.submit(fib, (n - 1,))?, client.submit(fib, (n - 2,))?];
        Ok(client.gather_blocking(&parts)?.iter().sum())
    }
}

rask::task! {
    /// A binary tree of distinct tasks `depth` deep: each node submits its two children
    /// (fresh keys) and waits on each with `result()`; returns the number of leaves.
    pub fn tree(depth: u32, id: u64) -> Result<u64, String> {
        if depth == 0 {
            return Ok(1);
        }
        let client = rask::worker_client().map_err(|e| e.to_string())?;
        let kids = client
            .map(tree, [(depth - 1, 2 * id), (depth - 1, 2 * id + 1)])
            .map_err(|e| e.to_string())?;
        let mut leaves = 0;
        for k in &kids {
            leaves += k.result().map_err(|e| e.to_string())?;
        }
        Ok(leaves)
    }
}

/// The entry point of the worker processes below (a no-op when run as a test).
#[test]
#[ignore = "entry point of the worker processes the other tests start"]
fn worker_process() {
    serve_as_worker_if_asked();
}

fn fib_plain(n: u64) -> u64 {
    if n < 2 {
        n
    } else {
        fib_plain(n - 1) + fib_plain(n - 2)
    }
}

async fn check_fib_and_tree(client: &Client) -> Result<()> {
    let answer = bounded("fib(15)", 60, async {
        Ok(client.submit(fib, (15u64,))?.await?)
    })
    .await?;
    ensure!(answer == fib_plain(15), "fib(15) = {answer}");
    let leaves = bounded("tree of depth 6", 60, async {
        Ok(client.submit(tree, (6u32, 1u64))?.await?)
    })
    .await?;
    ensure!(leaves == 64, "{leaves} leaves");
    // Every sub-task future was dropped in its task: the scheduler forgets all of them.
    eventually("sub-task results released", 20, || async {
        Ok(client.info().await?.tasks == 0)
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn recursive_tasks_finish_on_one_thread_local_workers() -> Result<()> {
    let client = Client::local_with(LocalConfig {
        workers: 2,
        threads_per_worker: 1,
        ..LocalConfig::default()
    })
    .await?;
    check_fib_and_tree(&client).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn recursive_tasks_finish_on_one_thread_worker_processes() -> Result<()> {
    let cluster = self_cluster(2, "worker_process")?;
    let client = connect_with_workers(&cluster.addr, 2).await?;
    check_fib_and_tree(&client).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn worker_client_outside_a_task_is_a_clear_error() -> Result<()> {
    match rask::worker_client() {
        Err(rask::Error::Config(m)) => ensure!(m.contains("inside a task"), "{m}"),
        other => anyhow::bail!("expected a config error, got {:?}", other.map(|_| ())),
    }
    Ok(())
}
