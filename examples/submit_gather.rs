//! The README's five lines: a local cluster, a map, a dependent task, a gather.

use rask::builtins::{add, inc};

fn main() -> anyhow::Result<()> {
    let client = rask::Client::local_blocking(2)?; // scheduler + 2 workers, in-process
    let xs = client.map(inc, (0..100i64).map(|i| (i,)))?; // 100 tasks
    let total = client.submit(add, (&xs[0], &xs[99]))?; // futures as arguments
    println!(
        "{} {:?}",
        total.result()?,
        &client.gather_blocking(&xs)?[..5]
    );
    Ok(())
}
