//! Word count with a bag: the ten most frequent words of a generated text file
//! (`read_text → str_split → flatten → frequencies → topk`), like the Dask anchor
//! `bag_wordcount.py`.
//!
//! ```sh
//! cargo run --release --example wordcount -- [--mb 200] [--blocksize 8000000] \
//!     [--workers 2 | --scheduler tcp://127.0.0.1:8786]
//! ```
//!
//! The input is generated once (deterministically) under the system temp folder; the run
//! prints one JSON line with the timing, the top ten and whether it matched a plain count.

use rask::bag::{bench_wordcount, WordcountConfig};
use rask::{Client, LocalConfig};

fn flag(args: &[String], name: &str) -> Option<String> {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1).cloned())
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let mut cfg = WordcountConfig::default();
    if let Some(mb) = flag(&args, "--mb") {
        cfg.mb = mb.parse()?;
    }
    if let Some(b) = flag(&args, "--blocksize") {
        cfg.blocksize = b.parse()?;
    }
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
    // Generate the input outside the timed region (a no-op once it exists).
    rask::bag::wordcount::ensure_input(&cfg)?;
    let report = bench_wordcount(&client, &cfg).await?;
    println!("{}", serde_json::to_string(&report)?);
    anyhow::ensure!(report.ok, "the top ten did not match a plain count");
    Ok(())
}
