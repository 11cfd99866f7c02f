//! Transient failures against the real server, injected by the fault proxy of
//! `tests/common/fault_proxy.rs` in front of moto: `503 Slow Down` answers and dropped
//! connections are retried with backoff (reads, listings, every request of a multipart
//! upload; on the client and on stock workers), and a failure that persists ends after
//! `1 + retries` attempts with the typed error, the count in its message.

use super::{setup_without_env, text_opts, upload_with};
use crate::common::bounded;
use crate::common::fault_proxy::{Fault, FaultProxy};
use crate::common::s3::REGION;
use anyhow::{ensure, Result};
use rask::bag::{read_text, ReadTextOptions};
use rask::collections::storage::{ObjectWriter, S3Options, StorageOptions};
use rask::collections::Error as E;
use std::collections::HashMap;
use std::io::Write;
use std::time::{Duration, Instant};

fn via(proxy: &FaultProxy, retries: u32) -> StorageOptions {
    StorageOptions::s3(S3Options {
        retries,
        ..S3Options::with_endpoint(&proxy.endpoint, REGION, "testing", "testing")
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_downs_and_dropped_connections_are_retried_then_given_up_after_the_bound() -> Result<()>
{
    let s = setup_without_env(0).await?;
    let proxy = FaultProxy::start(s.moto.port)?;
    let direct = StorageOptions::s3(s.moto.options());
    let opts = via(&proxy, 4);
    let url = "s3://rask-test/r.txt";
    direct.write(url, b"retried\n")?;

    // Three 503 Slow Down answers, then the object: four requests, backoff 0.1+0.2+0.4 s.
    proxy.fail_next(&[Fault::SlowDown; 3]);
    let t = Instant::now();
    ensure!(&opts.read(url)?[..] == b"retried\n");
    ensure!(
        t.elapsed() >= Duration::from_millis(700),
        "{:?}",
        t.elapsed()
    );
    ensure!(proxy.take_counts() == (4, 3));

    // Dropped connections, then slow-downs, on a listing and on a ranged read.
    proxy.fail_next(&[Fault::Drop, Fault::Drop, Fault::SlowDown]);
    let listed = opts.expand(&["s3://rask-test/*.txt"])?;
    ensure!(listed.len() == 1 && listed[0].size == 8);
    ensure!(proxy.take_counts() == (4, 3));
    proxy.fail_next(&[Fault::SlowDown, Fault::Drop]);
    ensure!(&opts.read_range(url, 2, Some(5))?[..] == b"tri");
    ensure!(proxy.take_counts() == (3, 2));

    // A 12 MiB multipart upload (written 4 MiB at a time: parts of 8 and 4 MiB) whose every
    // request fails once: initiate, both parts and complete are each retried; the object
    // arrives whole.
    let big: Vec<u8> = (0..12u32 << 20).map(|i| (i % 251) as u8).collect();
    proxy.fail_alternate(Fault::SlowDown);
    let mut w = ObjectWriter::create_with("s3://rask-test/big.bin", &opts)?;
    for chunk in big.chunks(4 << 20) {
        w.write_all(chunk)?;
    }
    w.finish()?;
    proxy.heal();
    ensure!(proxy.take_counts() == (8, 4));
    ensure!(
        direct.read("s3://rask-test/big.bin")? == big,
        "multipart upload"
    );

    // Persistent failures: 1 + 4 attempts, then the typed error with the count.
    proxy.fail_always(Fault::SlowDown);
    let e = opts.read(url).unwrap_err();
    ensure!(
        matches!(&e, E::Unavailable { url: u, attempts: 5, .. } if u == url),
        "{e:?}"
    );
    ensure!(
        e.to_string()
            == "s3://rask-test/r.txt: object store unavailable after 5 attempts: HTTP 503 SlowDown",
        "{e}"
    );
    ensure!(proxy.take_counts() == (5, 5));
    proxy.fail_always(Fault::Drop);
    let e = opts.read(url).unwrap_err();
    ensure!(
        matches!(&e, E::Network { url: u, attempts: 5, .. } if u == url),
        "{e:?}"
    );
    ensure!(
        e.to_string().contains("network failure after 5 attempts"),
        "{e}"
    );
    ensure!(proxy.take_counts() == (5, 5));

    // The bound follows the options: one retry is two attempts.
    proxy.fail_always(Fault::SlowDown);
    let e = via(&proxy, 1).read(url).unwrap_err();
    ensure!(matches!(e, E::Unavailable { attempts: 2, .. }), "{e:?}");
    ensure!(proxy.take_counts() == (2, 2));
    // Missing keys are final at once, even through the proxy.
    proxy.heal();
    let e = opts.read("s3://rask-test/none.txt").unwrap_err();
    ensure!(matches!(e, E::NoSuchKey { .. }), "{e:?}");
    ensure!(proxy.take_counts() == (1, 0));
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stock_workers_retry_their_reads_and_report_the_attempts_when_giving_up() -> Result<()> {
    let s = setup_without_env(2).await?;
    let client = s.client.as_ref().unwrap();
    let proxy = FaultProxy::start(s.moto.port)?;
    let opts = via(&proxy, 4);
    let dir = tempfile::tempdir()?;
    for i in 0..2 {
        let p = dir.path().join(format!("part-{i}.txt"));
        rask::bag::wordcount::generate(&p, 250_000, 800, 3 + i)?;
    }
    upload_with(dir.path(), "wc", &StorageOptions::s3(s.moto.options()))?;
    let words = |o: ReadTextOptions, pattern: String| async move {
        let freq = read_text(&[&pattern], o)?
            .str_split()
            .flatten()
            .frequencies()?;
        let got = bounded("word count", 120, async { Ok(freq.compute(client).await?) }).await?;
        anyhow::Ok(got.into_iter().collect::<HashMap<String, u64>>())
    };
    let want = words(text_opts(50_000), format!("{}/*.txt", dir.path().display())).await?;
    let remote = ReadTextOptions {
        storage_options: opts.clone(),
        ..text_opts(50_000)
    };
    // Planned through the proxy; then the workers' first four range reads fail (at most
    // four, so no read can exhaust its five attempts).
    let bag = read_text(&["s3://rask-test/wc/*.txt"], remote.clone())?;
    ensure!(bag.npartitions() >= 10, "{} blocks", bag.npartitions());
    proxy.take_counts();
    proxy.fail_next(&[Fault::SlowDown, Fault::Drop, Fault::SlowDown, Fault::Drop]);
    let freq = bag.str_split().flatten().frequencies()?;
    let got = bounded("word count via proxy", 120, async {
        Ok(freq.compute(client).await?)
    })
    .await?;
    let got: HashMap<String, u64> = got.into_iter().collect();
    ensure!(got == want, "word counts through the faulty proxy differ");
    let (requests, faults) = proxy.take_counts();
    ensure!(faults == 4 && requests >= bag.npartitions() as u64 + 4);

    // The server stays unavailable: the task fails on a worker after five attempts.
    let one = read_text(&["s3://rask-test/wc/part-0.txt"], remote)?;
    proxy.fail_always(Fault::SlowDown);
    let e = super::count_error(&one, client, "unavailable").await?;
    ensure!(
        e.contains("s3://rask-test/wc/part-0.txt: object store unavailable after 5 attempts"),
        "{e}"
    );
    // Every connection dropped: a network failure after five attempts.
    proxy.fail_always(Fault::Drop);
    let e = super::count_error(&one, client, "unreachable").await?;
    ensure!(
        e.contains("s3://rask-test/wc/part-0.txt: network failure after 5 attempts"),
        "{e}"
    );
    Ok(())
}
