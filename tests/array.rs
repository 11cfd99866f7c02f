//! Chunked arrays on an in-process cluster (`Client::local`): every operation is compared
//! with the same computation by ndarray on the whole array, for several chunkings (one
//! block, uneven last chunks, chunks of size 1).

mod array_scenarios;

use anyhow::Result;
use array_scenarios::*;
use rask::Client;

async fn local() -> Result<Client> {
    Ok(tokio::time::timeout(std::time::Duration::from_secs(30), Client::local(2)).await??)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn creation_matches_ndarray_and_random_ignores_chunking() -> Result<()> {
    creation(&local().await?).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn elementwise_operations_broadcast_like_ndarray() -> Result<()> {
    elementwise(&local().await?).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn map_blocks_runs_registered_block_functions() -> Result<()> {
    user_block_functions(&local().await?).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reductions_along_every_axis_match_ndarray() -> Result<()> {
    reductions(&local().await?).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slicing_reshaping_and_joining_match_ndarray() -> Result<()> {
    shapes(&local().await?).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sums_split_into_terms_and_means_match_ndarray() -> Result<()> {
    sums::split_sums(&local().await?).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn integer_array_indexing_matches_ndarray_select() -> Result<()> {
    indexing::take(&local().await?).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn boolean_mask_indexing_matches_ndarray() -> Result<()> {
    indexing::masks(&local().await?).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn blocked_linear_algebra_matches_ndarray() -> Result<()> {
    linear_algebra(&local().await?).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn npy_stacks_round_trip_and_errors_are_clear() -> Result<()> {
    let dir = tempfile::tempdir()?;
    storage_and_errors(&local().await?, dir.path()).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_benchmark_verifies_its_results() -> Result<()> {
    let client = local().await?;
    let report = bounded("bench", 120, rask::array::bench_array(&client, 300, 128)).await?;
    anyhow::ensure!(report.ok, "{:?}", report.failures);
    Ok(())
}
