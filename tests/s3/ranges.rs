//! What the workers fetch, counted by the proxy in front of moto: a text block is one
//! ranged GET (its bytes and a short tail to finish its last line), and a Parquet read of
//! one column fetches the footer and that column's chunk, not the file.

use super::{csv_text, setup_without_env, text_opts};
use crate::common::bounded;
use crate::common::fault_proxy::FaultProxy;
use crate::common::s3::REGION;
use anyhow::{ensure, Result};
use rask::bag::{read_text, ReadTextOptions};
use rask::collections::storage::{S3Options, StorageOptions};
use rask::dataframe::{read_csv, read_parquet, CsvOptions, ParquetOptions};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn text_blocks_and_parquet_column_chunks_are_fetched_by_range() -> Result<()> {
    let s = setup_without_env(2).await?;
    let client = s.client.as_ref().unwrap();
    let proxy = FaultProxy::start(s.moto.port)?;
    let direct = StorageOptions::s3(s.moto.options());
    let opts = StorageOptions::s3(S3Options::with_endpoint(
        &proxy.endpoint,
        REGION,
        "testing",
        "testing",
    ));
    let dir = tempfile::tempdir()?;

    // Text: 2 MB in blocks of 256 KiB; lines are short, so each block's 64 KiB tail holds
    // its last line's end and one request per block suffices.
    let text = dir.path().join("t.txt");
    rask::bag::wordcount::generate(&text, 2_000_000, 500, 5)?;
    let size = std::fs::metadata(&text)?.len();
    direct.write("s3://rask-test/t.txt", &std::fs::read(&text)?)?;
    let bag = read_text(
        &["s3://rask-test/t.txt"],
        ReadTextOptions {
            storage_options: opts.clone(),
            ..text_opts(256 << 10)
        },
    )?;
    let blocks = bag.npartitions() as u64;
    ensure!(blocks == size.div_ceil(256 << 10), "{blocks} blocks");
    proxy.take_counts();
    proxy.take_body_bytes();
    let n = bounded("count", 60, async {
        Ok(bag.count()?.compute(client).await?)
    })
    .await?;
    let want = std::fs::read_to_string(&text)?.lines().count() as u64;
    ensure!(n == want, "{n} lines, {want} written");
    let (requests, _) = proxy.take_counts();
    let fetched = proxy.take_body_bytes();
    ensure!(
        requests == blocks,
        "{requests} requests for {blocks} blocks"
    );
    ensure!(
        fetched >= size && fetched <= size + blocks * (64 << 10) + 1,
        "{fetched} bytes fetched for a {size}-byte object"
    );

    // Parquet: one file of four columns written to S3 by a worker; reading column k alone
    // fetches a small part of it.
    let csv = dir.path().join("c.csv");
    std::fs::write(&csv, csv_text(300_000))?;
    let one_file = CsvOptions {
        blocksize: None,
        ..CsvOptions::default()
    };
    let local = read_csv(&[csv.to_str().unwrap()], one_file)?;
    bounded("to_parquet_with", 60, async {
        Ok(local
            .to_parquet_with(client, "s3://rask-test/pq", &direct)
            .await?)
    })
    .await?;
    let file = direct.expand(&["s3://rask-test/pq/*.parquet"])?;
    ensure!(file.len() == 1 && file[0].size > 2_000_000, "{file:?}");
    proxy.take_counts();
    proxy.take_body_bytes();
    let k = read_parquet(
        &["s3://rask-test/pq/*.parquet"],
        ParquetOptions {
            columns: Some(vec!["k".into()]),
            storage_options: opts.clone(),
            ..ParquetOptions::default()
        },
    )?;
    let got = bounded("parquet k", 60, async { Ok(k.compute(client).await?) }).await?;
    let want = local.select(&["k"])?;
    let want = bounded("csv k", 60, async { Ok(want.compute(client).await?) }).await?;
    ensure!(got == want, "column k differs");
    let (requests, _) = proxy.take_counts();
    let fetched = proxy.take_body_bytes();
    ensure!(
        fetched < file[0].size / 4,
        "{fetched} of {} bytes fetched ({requests} requests)",
        file[0].size
    );
    // Listing, the footer on the client, the footer and the column chunk on the worker.
    ensure!(requests <= 5, "{requests} requests");
    Ok(())
}
