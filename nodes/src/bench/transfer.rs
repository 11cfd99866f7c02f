//! The transfer benchmark: client → worker A (scatter), A → B (a task on B consumes it),
//! B → client (gather). MB are 10^6 bytes, as in the Dask reference script.

use super::stats::round;
use anyhow::ensure;
use rask_actors::client::{Client, SubmitOptions};
use rask_collections::builtins::echo_bytes;
use rask_protocol::Blob;
use serde_json::{json, Map, Value};
use std::time::Instant;

/// Moves `mb` MB through every leg and reports MB/s per leg.
pub fn transfer(client: &Client, mb: usize) -> anyhow::Result<Map<String, Value>> {
    let info = client.info_blocking()?;
    let mut names: Vec<String> = info.workers.iter().map(|w| w.name.clone()).collect();
    names.sort();
    ensure!(
        names.len() >= 2,
        "transfer needs two workers, the cluster has {}",
        names.len()
    );
    let n = mb * 1_000_000;
    let blob = Blob::from((0..n).map(|i| (i % 251) as u8).collect::<Vec<u8>>());
    let on = |w: &str| SubmitOptions {
        workers: vec![w.to_string()],
        impure: true,
        ..SubmitOptions::default()
    };

    let t = Instant::now();
    let scattered = futures::executor::block_on(client.scatter_to(vec![blob.clone()], &names[0]))?;
    let scatter_s = t.elapsed().as_secs_f64();

    let t = Instant::now();
    let moved = client.submit_with(echo_bytes, (&scattered[0],), on(&names[1]))?;
    futures::executor::block_on(moved.wait())?;
    let w2w_s = t.elapsed().as_secs_f64();
    drop(scattered);

    let t = Instant::now();
    let back = moved.result()?;
    let gather_s = t.elapsed().as_secs_f64();
    let ok = back.len() == n && back == blob;

    let rate = |s: f64| round(n as f64 / s / 1e6, 1);
    let total = scatter_s + w2w_s + gather_s;
    Ok(
        match json!({
            "ok": ok,
            "mb": mb,
            "seconds": round(total, 4),
            "scatter_mb_per_s": rate(scatter_s),
            "w2w_mb_per_s": rate(w2w_s),
            "gather_mb_per_s": rate(gather_s),
            "mb_per_s": rate(total / 3.0),
        }) {
            Value::Object(m) => m,
            _ => Map::new(),
        },
    )
}
