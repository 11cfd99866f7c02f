//! The groupby benchmark on an in-process cluster: `cargo run --release --example
//! dataframe_groupby -- [ROWS] [parquet|csv] [WORKERS]` prints one JSON line per run.

use anyhow::Result;
use rask::dataframe::bench::{run, Format};

#[tokio::main]
async fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let rows: u64 = args.get(1).map_or(Ok(10_000_000), |s| s.parse())?;
    let format = match args.get(2).map(String::as_str) {
        Some("csv") => Format::Csv,
        _ => Format::Parquet,
    };
    let workers: usize = args.get(3).map_or(Ok(2), |s| s.parse())?;
    let client = rask::Client::local(workers).await?;
    let report = run(&client, rows, format).await?;
    println!("{}", serde_json::to_string(&report)?);
    Ok(())
}
