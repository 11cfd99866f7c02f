//! Bag, delayed and graph scenarios on an in-process cluster (`Client::local`).

mod bag_scenarios;

use anyhow::Result;
use bag_scenarios::*;
use rask::Client;

async fn local() -> Result<Client> {
    Ok(tokio::time::timeout(std::time::Duration::from_secs(30), Client::local(2)).await??)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn numeric_bag_operations_match_plain_rust() -> Result<()> {
    numeric_bag_operations(&local().await?).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn empty_bags_give_zero_or_a_clear_error() -> Result<()> {
    empty_bags(&local().await?).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn text_files_globs_blocks_and_gzip_match_plain_reading() -> Result<()> {
    let dir = tempfile::tempdir()?;
    text_operations(&local().await?, dir.path()).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_lines_and_errors_name_file_and_line() -> Result<()> {
    let dir = tempfile::tempdir()?;
    json_and_errors(&local().await?, dir.path()).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delayed_persist_and_compute_all() -> Result<()> {
    delayed_and_graphs(&local().await?).await
}
