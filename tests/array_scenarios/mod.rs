//! Array scenarios for the integration tests: each builds chunked arrays in several
//! chunkings, computes on the cluster and compares with ndarray on the whole array.
#![allow(dead_code)]

pub mod indexing;
pub mod ops;
pub mod shapes;
pub mod sums;

pub use ops::*;
pub use shapes::*;

use anyhow::{anyhow, ensure, Context, Result};
use ndarray::{ArrayD, IxDyn};
use rask::array::{ChunkSpec, Element};
use std::time::Duration;

/// Runs `fut` with a time limit.
pub async fn bounded<T>(
    what: &str,
    secs: u64,
    fut: impl std::future::Future<Output = rask::collections::Result<T>>,
) -> Result<T> {
    tokio::time::timeout(Duration::from_secs(secs), fut)
        .await
        .map_err(|_| anyhow!("{what} did not finish within {secs} s"))?
        .with_context(|| what.to_string())
}

/// Computes an array within 60 s.
pub async fn get<T: Element>(client: &rask::Client, a: &rask::Array<T>) -> Result<ArrayD<T>> {
    bounded("compute", 60, a.compute(client)).await
}

/// A deterministic array with negatives, repeats and non-integers.
pub fn data(shape: &[usize]) -> ArrayD<f64> {
    let mut k = 0i64;
    ArrayD::from_shape_simple_fn(IxDyn(shape), || {
        k += 1;
        ((k * 7919) % 613 - 300) as f64 / 8.0
    })
}

/// Chunkings of `shape`: one block, uneven, chunks of size 1, irregular explicit ones.
pub fn chunkings(shape: &[usize]) -> Vec<ChunkSpec> {
    let mut v = vec![
        ChunkSpec::Uniform(shape.iter().map(|d| (*d).max(1)).collect()),
        ChunkSpec::All(3),
        ChunkSpec::All(1),
    ];
    v.push(ChunkSpec::Explicit(
        shape
            .iter()
            .map(|d| match d {
                0 => vec![0],
                1 => vec![1],
                d => vec![1, d - 1],
            })
            .collect(),
    ));
    v
}

/// Equal up to a relative 1e-9 (NaNs equal NaNs); shapes must match.
pub fn check_close(what: &str, got: &ArrayD<f64>, want: &ArrayD<f64>) -> Result<()> {
    ensure!(
        got.shape() == want.shape(),
        "{what}: shape {:?}, expected {:?}",
        got.shape(),
        want.shape()
    );
    for (g, w) in got.iter().zip(want.iter()) {
        let ok =
            (g.is_nan() && w.is_nan()) || (g - w).abs() <= 1e-9 * g.abs().max(w.abs()).max(1.0);
        ensure!(ok, "{what}: {g} != {w}\n got {got}\nwant {want}");
    }
    Ok(())
}

/// Exactly equal, shapes included.
pub fn check_eq<T: PartialEq + std::fmt::Debug>(
    what: &str,
    got: &ArrayD<T>,
    want: &ArrayD<T>,
) -> Result<()> {
    ensure!(got == want, "{what}:\n got {got:?}\nwant {want:?}");
    Ok(())
}
