//! The array benchmark: `(x + xᵀ).sum()`, `x.mean(axis=0)` and `x @ x[:, :chunk]` on an
//! `n × n` array of seeded uniform numbers in `chunk × chunk` blocks, like the Dask anchor
//! `array_ops.py`.
//!
//! ```sh
//! cargo run --release --example array_ops -- [--n 8000] [--chunk 1000] \
//!     [--workers 2 | --scheduler tcp://127.0.0.1:8786]
//! ```
//!
//! Prints one JSON line with seconds per operation and whether the results checked out.

use rask::{Client, LocalConfig};

fn flag(args: &[String], name: &str) -> Option<String> {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1).cloned())
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let n = flag(&args, "--n").map_or(Ok(8000), |v| v.parse())?;
    let chunk = flag(&args, "--chunk").map_or(Ok(1000), |v| v.parse())?;
    let client = match flag(&args, "--scheduler") {
        Some(addr) => Client::connect(&addr).await?,
        None => {
            let workers = flag(&args, "--workers").map_or(Ok(2), |w| w.parse())?;
            Client::local_with(LocalConfig {
                workers,
                threads_per_worker: 1,
                ..LocalConfig::default()
            })
            .await?
        }
    };
    let report = rask::array::bench_array(&client, n, chunk).await?;
    println!("{}", serde_json::to_string(&report)?);
    anyhow::ensure!(report.ok, "checks failed: {:?}", report.failures);
    Ok(())
}
