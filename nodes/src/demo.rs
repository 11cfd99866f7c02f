//! `rask demo`: a real computation on an in-process cluster, checked against the same
//! computation done directly.

use crate::cli::DemoArgs;
use anyhow::{ensure, Context};
use rask_actors::client::Client;
use rask_collections::builtins::{add, double, inc};
use std::time::Instant;

/// Runs the demo and prints what it computed.
pub fn run(args: DemoArgs) -> anyhow::Result<()> {
    ensure!(args.workers > 0, "--workers must be at least 1");
    ensure!(args.tasks > 0, "--tasks must be at least 1");
    let start = Instant::now();
    let client = Client::local_blocking(args.workers).context("cannot start the local cluster")?;
    let info = client.info_blocking()?;
    println!(
        "local cluster at {} with {} workers ({:.0} ms to start)",
        client.scheduler(),
        info.workers.len(),
        start.elapsed().as_secs_f64() * 1e3
    );

    // Stage 1: map inc over 0..n; stage 2: double each; stage 3: pairwise tree sum.
    let t = Instant::now();
    let n = args.tasks as i64;
    let incs = client.map(inc, (0..n).map(|i| (i,)))?;
    let doubles = client.map(double, incs.iter().map(|f| (f,)))?;
    let mut level = doubles;
    while level.len() > 1 {
        let mut next = Vec::with_capacity(level.len().div_ceil(2));
        for pair in level.chunks(2) {
            match pair {
                [a, b] => next.push(client.submit(add, (a, b))?),
                [a] => next.push(a.clone()),
                _ => unreachable!("chunks of two"),
            }
        }
        level = next;
    }
    let total = level[0].result()?;
    let elapsed = t.elapsed();
    let tasks = 2 * args.tasks + args.tasks.saturating_sub(1);
    let expected: i64 = (0..n).map(|i| 2 * (i + 1)).sum();
    println!(
        "sum(2 * (i + 1) for i in 0..{n}) = {total} (expected {expected}); {tasks} tasks in {:.3} s ({:.0} tasks/s)",
        elapsed.as_secs_f64(),
        tasks as f64 / elapsed.as_secs_f64()
    );
    ensure!(total == expected, "wrong answer: {total} != {expected}");
    println!("ok");
    Ok(())
}
