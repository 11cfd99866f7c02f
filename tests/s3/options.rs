//! Storage options given in code (endpoint, region, path-style, keys or anonymous) travel
//! inside the tasks: stock workers with no `AWS_*` variable read and write `s3://` with
//! them, through every reader and writer; the secret key shows in no `Debug` output and in
//! no error.

use super::{csv_text, setup_without_env, text_opts, upload_with};
use crate::common::bounded;
use anyhow::{ensure, Result};
use rask::bag::{read_text, ReadTextOptions};
use rask::collections::storage::{S3Options, StorageOptions};
use rask::dataframe::{read_csv, read_parquet, AggFn, CsvOptions, ParquetOptions};
use std::collections::HashMap;

/// moto accepts any keys until its auth is enabled; this one must never be printed.
const SECRET: &str = "s3cr3t-never-to-be-printed";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn options_given_in_code_reach_stock_workers_that_have_no_aws_environment() -> Result<()> {
    let s = setup_without_env(2).await?;
    let client = s.client.as_ref().unwrap();
    ensure!(std::env::vars().all(|(k, _)| !k.starts_with("AWS_")));
    let opts = StorageOptions::s3(S3Options::with_endpoint(
        &s.moto.endpoint,
        crate::common::s3::REGION,
        "AKIDTESTING",
        SECRET,
    ));
    let dir = tempfile::tempdir()?;

    // Text: word count and to_textfiles.
    let input = dir.path().join("in");
    std::fs::create_dir(&input)?;
    for i in 0..2 {
        let p = input.join(format!("part-{i}.txt"));
        rask::bag::wordcount::generate(&p, 300_000, 1_000, 11 + i)?;
    }
    upload_with(&input, "wc", &opts)?;
    let remote_text = ReadTextOptions {
        storage_options: opts.clone(),
        ..text_opts(100_000)
    };
    let count = |pattern: String, o: ReadTextOptions| async move {
        let freq = read_text(&[&pattern], o)?
            .str_split()
            .flatten()
            .frequencies()?;
        let got = bounded("word count", 120, async { Ok(freq.compute(client).await?) }).await?;
        anyhow::Ok(got.into_iter().collect::<HashMap<String, u64>>())
    };
    let local = format!("{}/*.txt", input.display());
    let want = count(local.clone(), text_opts(100_000)).await?;
    let got = count("s3://rask-test/wc/*.txt".into(), remote_text.clone()).await?;
    ensure!(want.len() > 500 && got == want, "word counts differ");
    let lines = read_text(&[&local], text_opts(200_000))?;
    let all = bounded("lines", 60, async { Ok(lines.compute(client).await?) }).await?;
    let written = bounded("to_textfiles_with", 120, async {
        Ok(lines
            .to_textfiles_with(client, "s3://rask-test/out/*.txt.gz", &opts)
            .await?)
    })
    .await?;
    let paths: Vec<&str> = written.iter().map(String::as_str).collect();
    let back = read_text(&paths, remote_text.clone())?;
    let back = bounded("text back", 60, async { Ok(back.compute(client).await?) }).await?;
    ensure!(back == all, "to_textfiles_with round trip");

    // CSV group-by, to_csv and Parquet round trips.
    let csv_dir = dir.path().join("csv");
    std::fs::create_dir(&csv_dir)?;
    std::fs::write(csv_dir.join("a.csv"), csv_text(9_000))?;
    upload_with(&csv_dir, "csv", &opts)?;
    let csv_opts = |storage_options: StorageOptions| CsvOptions {
        blocksize: Some(64 << 10),
        storage_options,
        ..CsvOptions::default()
    };
    let local = read_csv(
        &[&format!("{}/*.csv", csv_dir.display())],
        csv_opts(StorageOptions::default()),
    )?;
    let remote = read_csv(&["s3://rask-test/csv/*.csv"], csv_opts(opts.clone()))?;
    let grouped = |df: &rask::DataFrame| df.groupby(&["g"]).agg(&[("x", AggFn::Sum)]);
    let want = bounded("groupby", 60, async {
        Ok(grouped(&local)?.compute(client).await?)
    })
    .await?;
    let got = bounded("groupby s3", 60, async {
        Ok(grouped(&remote)?.compute(client).await?)
    })
    .await?;
    ensure!(want.num_rows() == 4 && got == want, "group-by differs");
    let whole = bounded("whole", 60, async { Ok(local.compute(client).await?) }).await?;
    bounded("to_csv_with", 60, async {
        Ok(remote
            .to_csv_with(client, "s3://rask-test/csvout", b',', &opts)
            .await?)
    })
    .await?;
    let back = read_csv(&["s3://rask-test/csvout/*.csv"], csv_opts(opts.clone()))?;
    let back = bounded("csv back", 60, async { Ok(back.compute(client).await?) }).await?;
    ensure!(back == whole, "to_csv_with round trip");
    bounded("to_parquet_with", 60, async {
        Ok(remote
            .to_parquet_with(client, "s3://rask-test/pq", &opts)
            .await?)
    })
    .await?;
    let pq = read_parquet(
        &["s3://rask-test/pq/*.parquet"],
        ParquetOptions {
            storage_options: opts.clone(),
            ..ParquetOptions::default()
        },
    )?;
    let pq = bounded("parquet back", 60, async { Ok(pq.compute(client).await?) }).await?;
    ensure!(pq == whole, "to_parquet_with round trip");

    // npy stacks.
    let a = ndarray::Array2::from_shape_fn((7, 6), |(i, j)| (i * 6 + j) as f64).into_dyn();
    let x = rask::array::from_ndarray(&a, [3, 4])?;
    bounded("to_npy_stack_with", 60, async {
        Ok(x.to_npy_stack_with(client, "s3://rask-test/arr", &opts)
            .await?)
    })
    .await?;
    let back = rask::array::from_npy_stack_with::<f64>("s3://rask-test/arr", &opts)?;
    let back = bounded("npy back", 60, async { Ok(back.compute(client).await?) }).await?;
    ensure!(back == a, "npy round trip");

    // Anonymous requests (a public bucket): endpoint and path-style, no keys.
    s.moto.allow_public_reads("rask-test")?;
    let anonymous = StorageOptions::s3(S3Options {
        endpoint: Some(s.moto.endpoint.clone()),
        path_style: true,
        ..S3Options::anonymous(crate::common::s3::REGION)
    });
    let bag = read_text(
        &["s3://rask-test/wc/part-0.txt"],
        ReadTextOptions {
            storage_options: anonymous,
            ..text_opts(100_000)
        },
    )?;
    let n = bounded("anonymous", 60, async {
        Ok(bag.count()?.compute(client).await?)
    })
    .await?;
    let want_n = std::fs::read_to_string(input.join("part-0.txt"))?
        .lines()
        .count();
    ensure!(n == want_n as u64, "anonymous read: {n} lines");

    // The secret stays out of Debug output and of a worker's error. moto now checks keys
    // and refuses ours: the task fails on the worker with access denied, naming the URL.
    let planned = read_text(&["s3://rask-test/wc/part-1.txt"], remote_text.clone())?;
    s.moto.enable_auth()?;
    let e = super::count_error(&planned, client, "refused").await?;
    ensure!(
        e.contains("s3://rask-test/wc/part-1.txt: access denied"),
        "{e}"
    );
    for shown in [e, format!("{remote_text:?}"), format!("{opts:#?}")] {
        ensure!(!shown.contains(SECRET), "the secret key is shown: {shown}");
    }
    Ok(())
}
