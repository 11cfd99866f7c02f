//! `s3://` everywhere, against a real local S3 server (moto, started per test on a free
//! loopback port) and real `rask` processes (a scheduler and two stock workers that get the
//! server's `AWS_*` variables): word count, CSV group-by, Parquet and `.npy` round trips give
//! the same answers from S3 as from local files; a 100 MB object read in ranged blocks
//! yields every line exactly once; missing bucket, missing key, refused credentials and an
//! unreachable server are distinct errors naming the URL.
//!
//! - [`options`]: storage options given in code reach stock workers that have no `AWS_*`
//!   variables at all; secrets stay out of `Debug` output and error messages.
//! - [`ranges`]: what the workers fetch, counted by a proxy: one ranged GET per text block,
//!   a Parquet column's chunk and the footer rather than the file.
//! - [`retries`]: transient failures (`503 Slow Down`, dropped connections) injected by a
//!   proxy in front of moto are retried, on the client and on the workers, then given up
//!   after the bounded number of attempts.

mod common;
#[path = "s3/options.rs"]
mod options;
#[path = "s3/ranges.rs"]
mod ranges;
#[path = "s3/retries.rs"]
mod retries;

use anyhow::{ensure, Result};
use common::procs::{cluster_with_env, Cluster};
use common::s3::Moto;
use common::{bounded, connect_with_workers};
use rask::bag::{read_text, ReadTextOptions};
use rask::collections::storage::{self, blocks};
use rask::collections::Error as E;
use rask::dataframe::{read_csv, read_parquet, AggFn, CsvOptions, ParquetOptions};
use rask::Client;
use std::collections::HashMap;
use std::path::Path;

/// Tests set this process's `AWS_*` variables (the client plans by listing): one at a time.
static ENV: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// A moto server with bucket `rask-test`, this process pointed at it, and (with `workers` > 0) a
/// process cluster whose workers are pointed at it too. Fields drop in order: client,
/// cluster, server, then the lock.
struct Setup {
    client: Option<Client>,
    _cluster: Option<Cluster>,
    moto: Moto,
    _env: tokio::sync::MutexGuard<'static, ()>,
}

async fn setup(workers: usize) -> Result<Setup> {
    let env = ENV.lock().await;
    let moto = Moto::start()?;
    for (k, v) in moto.env() {
        std::env::set_var(k, v);
    }
    moto.create_bucket("rask-test")?;
    let moto_env = moto.env();
    with_cluster(env, moto, workers, |n| cluster_with_env(n, &moto_env)).await
}

/// The [`Setup`] of a started server: with `workers` > 0, a cluster from `start` and a
/// client connected once all of its workers are.
async fn with_cluster(
    env: tokio::sync::MutexGuard<'static, ()>,
    moto: Moto,
    workers: usize,
    start: impl FnOnce(usize) -> Result<Cluster>,
) -> Result<Setup> {
    let (cluster, client) = if workers > 0 {
        let c = start(workers)?;
        let client = connect_with_workers(&c.addr, workers).await?;
        (Some(c), Some(client))
    } else {
        (None, None)
    };
    Ok(Setup {
        client,
        _cluster: cluster,
        moto,
        _env: env,
    })
}

/// A moto server with bucket `rask-test` and (with `workers` > 0) a process cluster, where
/// neither this process nor the workers have any `AWS_*` variable: everything must come
/// from options given in code.
async fn setup_without_env(workers: usize) -> Result<Setup> {
    let env = ENV.lock().await;
    for (k, _) in std::env::vars_os() {
        if k.to_string_lossy().starts_with("AWS_") {
            std::env::remove_var(k);
        }
    }
    storage::S3Options::set_current(None);
    let moto = Moto::start()?;
    moto.create_bucket("rask-test")?;
    with_cluster(env, moto, workers, common::procs::cluster_without_aws_env).await
}

/// The error text of counting `bag`'s lines on the cluster, which must fail (within 60 s).
async fn count_error(bag: &rask::bag::Bag<String>, client: &Client, what: &str) -> Result<String> {
    let e = bounded(what, 60, async {
        Ok(bag.count()?.compute(client).await.unwrap_err())
    })
    .await?;
    Ok(e.to_string())
}

/// Uploads every file of a local folder under `s3://rask-test/<prefix>/`.
fn upload(dir: &Path, prefix: &str) -> Result<()> {
    upload_with(dir, prefix, &storage::StorageOptions::default())
}

/// [`upload`] with these storage options.
fn upload_with(dir: &Path, prefix: &str, opts: &storage::StorageOptions) -> Result<()> {
    for e in std::fs::read_dir(dir)? {
        let p = e?.path();
        let name = p.file_name().unwrap().to_string_lossy().to_string();
        opts.write(
            &format!("s3://rask-test/{prefix}/{name}"),
            &std::fs::read(&p)?,
        )?;
    }
    Ok(())
}

fn text_opts(blocksize: u64) -> ReadTextOptions {
    ReadTextOptions {
        blocksize: Some(blocksize),
        ..ReadTextOptions::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn word_count_and_text_files_on_s3_match_local_files() -> Result<()> {
    let s = setup(2).await?;
    let client = s.client.as_ref().unwrap();
    let dir = tempfile::tempdir()?;
    let input = dir.path().join("in");
    std::fs::create_dir(&input)?;
    for i in 0..3 {
        let p = input.join(format!("part-{i}.txt"));
        rask::bag::wordcount::generate(&p, 400_000 + i * 50_000, 2_000, 7 + i)?;
    }
    upload(&input, "wc")?;
    let local = format!("{}/*.txt", input.display());
    let count = |pattern: String| async move {
        let bag = read_text(&[&pattern], text_opts(100_000))?;
        ensure!(bag.npartitions() >= 12, "{} partitions", bag.npartitions());
        let freq = bag.str_split().flatten().frequencies()?;
        let got = bounded("word count", 120, async { Ok(freq.compute(client).await?) }).await?;
        Ok(got.into_iter().collect::<HashMap<String, u64>>())
    };
    let from_disk = count(local.clone()).await?;
    let from_s3 = count("s3://rask-test/wc/*.txt".to_string()).await?;
    ensure!(from_disk.len() > 1000, "{} distinct words", from_disk.len());
    ensure!(
        from_s3 == from_disk,
        "word counts differ between S3 and disk"
    );

    // to_textfiles into S3 (plain and gzip), read back.
    let lines = read_text(&[&local], text_opts(300_000))?;
    let want = bounded("lines", 60, async { Ok(lines.compute(client).await?) }).await?;
    for out in ["s3://rask-test/out/*.txt", "s3://rask-test/outgz/*.txt.gz"] {
        let written = bounded("to_textfiles", 120, async {
            Ok(lines.to_textfiles(client, out).await?)
        })
        .await?;
        ensure!(
            written.len() == lines.npartitions() && written[0].starts_with("s3://rask-test/out")
        );
        // In partition order (a glob would list 10.txt before 2.txt).
        let paths: Vec<&str> = written.iter().map(String::as_str).collect();
        ensure!(storage::expand(&[out])?.len() == paths.len());
        let back = read_text(&paths, text_opts(64_000))?;
        let got = bounded("read back", 60, async { Ok(back.compute(client).await?) }).await?;
        ensure!(got == want, "{out} round trip: {} lines back", got.len());
    }
    Ok(())
}

fn csv_text(rows: usize) -> String {
    let mut s = String::from("k,g,x,label\n");
    for i in 0..rows {
        let g = ["alpha", "beta", "gamma", "delta"][i % 4];
        s += &format!("{},{g},{},row {i}\n", i % 13, (i as f64) * 0.25);
    }
    s
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn csv_groupby_and_parquet_round_trip_on_s3_match_local_files() -> Result<()> {
    let s = setup(2).await?;
    let client = s.client.as_ref().unwrap();
    let dir = tempfile::tempdir()?;
    let input = dir.path().join("csv");
    std::fs::create_dir(&input)?;
    std::fs::write(input.join("a.csv"), csv_text(20_000))?;
    std::fs::write(input.join("b.csv"), csv_text(7_000))?;
    upload(&input, "csv")?;
    let opts = || CsvOptions {
        blocksize: Some(64 << 10),
        ..CsvOptions::default()
    };
    let local = read_csv(&[&format!("{}/*.csv", input.display())], opts())?;
    let remote = read_csv(&["s3://rask-test/csv/*.csv"], opts())?;
    ensure!(remote.npartitions() == local.npartitions() && local.npartitions() > 4);
    let grouped = |df: &rask::DataFrame| {
        df.groupby(&["g"])
            .agg(&[("x", AggFn::Sum), ("k", AggFn::Max), ("x", AggFn::Count)])
    };
    let want = bounded("groupby local", 120, async {
        Ok(grouped(&local)?.compute(client).await?)
    })
    .await?;
    let got = bounded("groupby s3", 120, async {
        Ok(grouped(&remote)?.compute(client).await?)
    })
    .await?;
    ensure!(want.num_rows() == 4, "{} groups", want.num_rows());
    ensure!(got == want, "group-by differs between S3 and disk");

    // to_csv into S3 and back.
    let whole = bounded("whole", 60, async { Ok(local.compute(client).await?) }).await?;
    bounded("to_csv", 120, async {
        Ok(local.to_csv(client, "s3://rask-test/csvout", b',').await?)
    })
    .await?;
    let back = read_csv(&["s3://rask-test/csvout/*.csv"], opts())?;
    let back = bounded("csv back", 60, async { Ok(back.compute(client).await?) }).await?;
    ensure!(back == whole, "to_csv round trip through S3");

    // Parquet: written to disk and to S3, read back from each (with a projection and a
    // row-group filter) — the same frames.
    let pq_local = dir.path().join("pq").display().to_string();
    bounded("to_parquet local", 120, async {
        Ok(local.to_parquet(client, &pq_local).await?)
    })
    .await?;
    let paths = bounded("to_parquet s3", 120, async {
        Ok(remote.to_parquet(client, "s3://rask-test/pq").await?)
    })
    .await?;
    ensure!(paths.len() == remote.npartitions() && paths[0].starts_with("s3://rask-test/pq/part-"));
    for cols in [None, Some(vec!["label".to_string(), "x".to_string()])] {
        let popts = || ParquetOptions {
            columns: cols.clone(),
            ..ParquetOptions::default()
        };
        let a = read_parquet(&[&format!("{pq_local}/*.parquet")], popts())?;
        let b = read_parquet(&["s3://rask-test/pq/*.parquet"], popts())?;
        let a = bounded("parquet local", 60, async { Ok(a.compute(client).await?) }).await?;
        let b = bounded("parquet s3", 60, async { Ok(b.compute(client).await?) }).await?;
        ensure!(a.num_rows() == 27_000 && a == b, "parquet {cols:?}");
        if cols.is_none() {
            ensure!(b == whole, "parquet round trip keeps every row");
        }
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn npy_stacks_round_trip_through_s3() -> Result<()> {
    let s = setup(2).await?;
    let client = s.client.as_ref().unwrap();
    let a = ndarray::Array2::from_shape_fn((9, 5), |(i, j)| (i * 5 + j) as f64 * 0.5).into_dyn();
    let x = rask::array::from_ndarray(&a, [4, 3])?;
    let written = bounded("to_npy_stack", 60, async {
        Ok(x.to_npy_stack(client, "s3://rask-test/arr").await?)
    })
    .await?;
    ensure!(written > 45 * 8, "{written} bytes");
    let listed = storage::expand(&["s3://rask-test/arr/*.npy"])?;
    ensure!(listed.len() == 6, "{} blocks stored", listed.len());
    let back = rask::array::from_npy_stack::<f64>("s3://rask-test/arr")?;
    let got = bounded("from_npy_stack", 60, async {
        Ok(back.compute(client).await?)
    })
    .await?;
    ensure!(got == a, "npy round trip through S3");
    Ok(())
}

/// Line `i` of the big object: its number and some filler of varying length.
fn big_line(i: u64, out: &mut Vec<u8>) {
    use std::io::Write;
    let fill = (i.wrapping_mul(7919) % 140) as usize;
    writeln!(out, "{i:09} {}", &FILL[..fill]).unwrap();
}

const FILL: &str = "the quick brown fox jumps over the lazy dog while the cat sleeps on a \
                    warm windowsill and the rain falls softly on the quiet town tonight ok";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_100_mb_object_read_in_ranged_blocks_gives_every_line_once() -> Result<()> {
    let s = setup(2).await?;
    let client = s.client.as_ref().unwrap();
    let mut data = Vec::with_capacity(101 << 20);
    let mut n = 0u64;
    while data.len() < 100_000_000 {
        big_line(n, &mut data);
        n += 1;
    }
    let total_len: u64 = data.len() as u64 - n; // line bytes without terminators
                                                // Written through the multipart path (8 MiB parts).
    bounded("upload", 120, async {
        Ok(storage::write("s3://rask-test/big.txt", &data)?)
    })
    .await?;
    drop(data);
    let meta = storage::expand(&["s3://rask-test/big.txt"])?;
    ensure!(meta.len() == 1 && meta[0].size >= 100_000_000);

    // On the workers: 13 blocks of ~7.7 MB, each ending inside a line.
    let bag = read_text(&["s3://rask-test/big.txt"], text_opts(7_777_777))?;
    ensure!(bag.npartitions() == 13, "{} partitions", bag.npartitions());
    let count = bounded("count", 180, async {
        Ok(bag.count()?.compute(client).await?)
    })
    .await?;
    ensure!(count == n, "{count} lines read, {n} written");
    let lens = bag.map(rask::bag::funcs::str_len).sum()?;
    let lens = bounded("lengths", 180, async { Ok(lens.compute(client).await?) }).await?;
    ensure!(lens == total_len, "line bytes {lens} vs {total_len}");
    let first = bounded("min", 180, async { Ok(bag.min()?.compute(client).await?) }).await?;
    let last = bounded("max", 180, async { Ok(bag.max()?.compute(client).await?) }).await?;
    ensure!(first.starts_with("000000000 ") && last.starts_with(&format!("{:09} ", n - 1)));

    // Here, exactly: every block's lines in order, numbered 0, 1, 2, … with nothing lost
    // or repeated across the range boundaries.
    let mut next = 0u64;
    let mut want = Vec::new();
    for b in blocks::blocks(&meta, Some(9_999_991), &Default::default()) {
        let (buf, _) = blocks::read_block(&b).map_err(|e| anyhow::anyhow!("{e:?}"))?;
        for line in blocks::lines(&buf) {
            want.clear();
            big_line(next, &mut want);
            ensure!(line == &want[..want.len() - 1], "line {next} differs");
            next += 1;
        }
    }
    ensure!(next == n, "{next} lines in ranged blocks, {n} written");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missing_bucket_key_refused_credentials_and_network_failure_are_distinct_errors(
) -> Result<()> {
    let s = setup(2).await?;
    let client = s.client.as_ref().unwrap();
    storage::write("s3://rask-test/ok.txt", b"one\ntwo\n")?;

    // Missing bucket: at planning and in a worker's read.
    let e = read_text(&["s3://nobucket/x.txt"], text_opts(10)).unwrap_err();
    ensure!(
        matches!(&e, E::NoSuchBucket { url } if url == "s3://nobucket/x.txt"),
        "{e}"
    );
    let e = storage::read("s3://nobucket/x.txt").unwrap_err();
    ensure!(matches!(e, E::NoSuchBucket { .. }), "{e}");

    // Missing key: at planning (plain key and glob), in a read, and in a worker's task when
    // the object goes away after planning.
    let e = read_text(&["s3://rask-test/missing.txt"], text_opts(10)).unwrap_err();
    ensure!(
        matches!(&e, E::NoSuchKey { url } if url == "s3://rask-test/missing.txt"),
        "{e}"
    );
    let e = read_text(&["s3://rask-test/*.csv"], text_opts(10)).unwrap_err();
    ensure!(matches!(e, E::NoFiles(_)), "{e}");
    let e = storage::read("s3://rask-test/missing.txt").unwrap_err();
    ensure!(
        e.to_string() == "s3://rask-test/missing.txt: no such key",
        "{e}"
    );
    storage::write("s3://rask-test/gone.txt", b"soon gone\n")?;
    let bag = read_text(&["s3://rask-test/gone.txt"], ReadTextOptions::default())?;
    rask::collections::storage::s3::delete(&s.moto.options(), "rask-test", "gone.txt")?;
    let e = bounded("read of a deleted object", 60, async {
        Ok(bag.compute(client).await.unwrap_err())
    })
    .await?;
    ensure!(
        e.to_string()
            .contains("s3://rask-test/gone.txt: no such key"),
        "{e}"
    );

    // Refused credentials: the server starts checking them; ours are unknown to it.
    s.moto.enable_auth()?;
    let e = storage::read("s3://rask-test/ok.txt").unwrap_err();
    ensure!(
        matches!(&e, E::AccessDenied { url, .. } if url == "s3://rask-test/ok.txt"),
        "{e}"
    );
    let e = read_text(&["s3://rask-test/*.txt"], text_opts(10)).unwrap_err();
    ensure!(matches!(e, E::AccessDenied { .. }), "{e}");
    let e = storage::write("s3://rask-test/new.txt", b"x").unwrap_err();
    ensure!(matches!(e, E::AccessDenied { .. }), "{e}");

    // Network failure: a port nothing listens on, retried with backoff, then given up.
    let dead = common::s3::free_port()?;
    std::env::set_var("AWS_ENDPOINT_URL", format!("http://127.0.0.1:{dead}"));
    let t = std::time::Instant::now();
    let e = storage::read("s3://rask-test/ok.txt").unwrap_err();
    ensure!(
        matches!(&e, E::Network { url, attempts: 5, .. } if url == "s3://rask-test/ok.txt"),
        "{e}"
    );
    ensure!(t.elapsed().as_secs_f64() >= 1.4, "four backoffs take 1.5 s");
    let e = read_text(&["s3://rask-test/ok.txt"], text_opts(10)).unwrap_err();
    ensure!(matches!(e, E::Network { .. }), "{e}");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn explicit_and_anonymous_options_take_the_place_of_the_environment() -> Result<()> {
    use rask::collections::storage::S3Options;
    let s = setup(0).await?;
    storage::write("s3://rask-test/pub.txt", b"public\n")?;
    // The environment now points nowhere; explicit options point at the server.
    let dead = common::s3::free_port()?;
    std::env::set_var("AWS_ENDPOINT_URL", format!("http://127.0.0.1:{dead}"));
    S3Options::set_current(Some(S3Options {
        retries: 0,
        ..s.moto.options()
    }));
    let got = storage::read("s3://rask-test/pub.txt");
    // Anonymous (unsigned) requests, as for a public bucket.
    S3Options::set_current(Some(S3Options {
        endpoint: Some(s.moto.endpoint.clone()),
        path_style: true,
        ..S3Options::anonymous(common::s3::REGION)
    }));
    let anonymous = storage::expand(&["s3://rask-test/*.txt"]).map(|v| v.len());
    S3Options::set_current(None);
    let from_env = storage::read("s3://rask-test/pub.txt").unwrap_err();
    ensure!(&got?[..] == b"public\n", "explicit options");
    ensure!(anonymous? == 1, "anonymous listing");
    ensure!(matches!(from_env, E::Network { .. }), "{from_env}");
    Ok(())
}
