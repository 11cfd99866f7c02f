//! A user crate with its own task functions and its own worker binary.
//!
//! ```text
//! cargo run --example custom_worker                      # in-process cluster, runs the job
//! cargo run --example custom_worker -- worker tcp://HOST:8786 --nthreads 2   # a worker
//! cargo run --example custom_worker -- client tcp://HOST:8786                # the job, remotely
//! ```
//!
//! Client and worker are the same binary here; in a real crate, put the `task!` functions in
//! a library both binaries link.

use rask::Client;
use serde::{Deserialize, Serialize};
use std::process::ExitCode;

/// A user type travelling as a task argument and result.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Stats {
    /// How many values.
    pub n: u64,
    /// Their sum.
    pub sum: f64,
}

rask::task! {
    /// Summarises one chunk of numbers.
    pub fn summarize(values: Vec<f64>) -> Stats {
        Stats { n: values.len() as u64, sum: values.iter().sum() }
    }
}

rask::task! {
    /// Merges two summaries.
    pub fn merge(a: Stats, b: Stats) -> Stats {
        Stats { n: a.n + b.n, sum: a.sum + b.sum }
    }
}

fn job(client: &Client) -> anyhow::Result<Stats> {
    let chunks: Vec<Vec<f64>> = (0..16)
        .map(|c| (0..1000).map(|i| (c * 1000 + i) as f64).collect())
        .collect();
    let mut level = client.map(summarize, chunks.into_iter().map(|c| (c,)))?;
    while level.len() > 1 {
        level = level
            .chunks(2)
            .map(|p| client.submit(merge, (&p[0], &p[1])))
            .collect::<rask::Result<_>>()?;
    }
    Ok(level[0].result()?)
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    match args.get(1).map(String::as_str) {
        Some("worker") => rask::nodes::worker_main_from(args[1..].iter().cloned()),
        mode => {
            let run = || -> anyhow::Result<()> {
                let client = match (mode, args.get(2)) {
                    (Some("client"), Some(addr)) => Client::connect_blocking(addr)?,
                    _ => Client::local_blocking(2)?,
                };
                let stats = job(&client)?;
                println!("n = {}, mean = {}", stats.n, stats.sum / stats.n as f64);
                anyhow::ensure!(stats.n == 16_000 && stats.sum == (0..16_000).sum::<u64>() as f64);
                Ok(())
            };
            match run() {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("error: {e:#}");
                    ExitCode::FAILURE
                }
            }
        }
    }
}
