//! The array benchmark behind `rask bench array`: the operations of Dask's `array_ops.py`
//! anchor — `(x + xᵀ).sum()`, `x.mean(axis=0)` and `x @ x[:, :chunk]` — on an `n × n` array
//! of seeded uniform numbers in `chunk × chunk` blocks, persisted first.
//!
//! Results are verified independently of the cluster: the generator is counter-based, so the
//! client recomputes chosen elements directly (column means, product entries) and compares;
//! the sum is cross-checked against `2 · x.sum()` and its expectation `n²`.

use super::create::random_uniform;
use super::random::{value, Distribution};
use super::shape::SliceArg;
use super::Array;
use crate::Result;
use rask_actors::client::Client;
use serde::Serialize;
use std::time::Instant;

/// What one benchmark run measured.
#[derive(Debug, Clone, Serialize)]
pub struct ArrayBenchReport {
    /// Benchmark name (`"array_ops"`, as the Dask anchor's).
    pub bench: &'static str,
    /// Array side.
    pub n: usize,
    /// Block side.
    pub chunk: usize,
    /// Seconds to generate and persist `x`.
    pub persist_s: f64,
    /// Seconds for `(x + xᵀ).sum()`.
    pub sum_xxt_s: f64,
    /// Seconds for `x.mean(axis=0)`, gathered.
    pub mean0_s: f64,
    /// Seconds for `x @ x[:, :chunk]`, gathered.
    pub matmul_s: f64,
    /// Whether every check passed.
    pub ok: bool,
    /// The checks that failed, in words.
    pub failures: Vec<String>,
}

const SEED: u64 = 42;
const UNIFORM: Distribution = Distribution::Uniform {
    low: 0.0,
    high: 1.0,
};

fn close(a: f64, b: f64, rel: f64) -> bool {
    (a - b).abs() <= rel * a.abs().max(b.abs()).max(1e-300)
}

/// Runs the three operations on `Client` and reports seconds and whether results check out.
pub async fn run(client: &Client, n: usize, chunk: usize) -> Result<ArrayBenchReport> {
    let x0: Array<f64> = random_uniform(SEED, 0.0, 1.0, &[n, n], [chunk, chunk])?;
    let at = |i: usize, j: usize| value(SEED, UNIFORM, (i * n + j) as u64);
    let mut failures = Vec::new();

    let t = Instant::now();
    let x = x0.persist(client).await?;
    let persist_s = t.elapsed().as_secs_f64();

    let t = Instant::now();
    let s = x.add(&x.t()?)?.sum(None)?.compute_scalar(client).await?;
    let sum_xxt_s = t.elapsed().as_secs_f64();
    let total = x.sum(None)?.compute_scalar(client).await?;
    if !close(s, 2.0 * total, 1e-9) {
        failures.push(format!(
            "(x + x.T).sum() = {s} but 2 * x.sum() = {}",
            2.0 * total
        ));
    }
    if n > 0 && (s / (n * n) as f64 - 1.0).abs() > 0.01 {
        failures.push(format!(
            "(x + x.T).sum() / n² = {}, expected ≈ 1",
            s / (n * n) as f64
        ));
    }

    let t = Instant::now();
    let m = x.mean(Some(0))?.compute(client).await?;
    let mean0_s = t.elapsed().as_secs_f64();
    if m.shape() != [n] {
        failures.push(format!("mean0 has shape {:?}", m.shape()));
    } else {
        for j in [0, n / 2, n.saturating_sub(1)] {
            let direct = (0..n).map(|i| at(i, j)).sum::<f64>() / n as f64;
            if !close(m[[j]], direct, 1e-9) {
                failures.push(format!("mean0[{j}] = {} but directly {direct}", m[[j]]));
            }
        }
    }

    let c = chunk.min(n);
    let t = Instant::now();
    let right = x.slice(&[SliceArg::from(..), SliceArg::from(0..c)])?;
    let y = x.dot(&right)?.compute(client).await?;
    let matmul_s = t.elapsed().as_secs_f64();
    if y.shape() != [n, c] {
        failures.push(format!("matmul has shape {:?}", y.shape()));
    } else {
        for (i, j) in [(0, 0), (n - 1, c - 1), (n / 3, c / 2)] {
            let direct: f64 = (0..n).map(|k| at(i, k) * at(k, j)).sum();
            if !close(y[[i, j]], direct, 1e-9) {
                failures.push(format!(
                    "matmul[{i}, {j}] = {} but directly {direct}",
                    y[[i, j]]
                ));
            }
        }
        let mean = y.mean().unwrap_or(f64::NAN);
        if (mean / (n as f64 / 4.0) - 1.0).abs() > 0.01 {
            failures.push(format!("matmul mean {mean}, expected ≈ n/4"));
        }
    }
    Ok(ArrayBenchReport {
        bench: "array_ops",
        n,
        chunk,
        persist_s,
        sum_xxt_s,
        mean0_s,
        matmul_s,
        ok: failures.is_empty(),
        failures,
    })
}
