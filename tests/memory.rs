//! Memory limits on real worker processes: spilling to disk keeps a computation over 2 GB of
//! data correct under a 200 MB limit per worker with a bounded peak RSS; the nanny restarts a
//! worker that was SIGKILLed or that passed its terminate threshold, and the scheduler
//! recomputes what the dead worker held.

mod common;

use anyhow::{ensure, Context, Result};
use common::procs::{scheduler, Proc};
use common::*;
use rask::builtins::{check_bytes, inc, make_bytes};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

const MB: u64 = 1_000_000;

/// A scratch directory for this test, removed on drop.
struct Scratch(PathBuf);

impl Scratch {
    fn new(tag: &str) -> Result<Scratch> {
        let p = std::env::temp_dir().join(format!("rask-memtest-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p)?;
        Ok(Scratch(p))
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A `kB` field of `/proc/PID/status`, in bytes.
fn status_kb(pid: u32, field: &str) -> Result<u64> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let line = text
        .lines()
        .find(|l| l.starts_with(field))
        .with_context(|| format!("no {field} for {pid}"))?;
    let kb: u64 = line
        .split_whitespace()
        .nth(1)
        .context("no number")?
        .parse()?;
    Ok(kb * 1024)
}

/// Spill files under `dir` (in its `rask-spill-*` directories): how many, how many bytes.
fn spill_files(dir: &Path) -> (usize, u64) {
    let mut out = (0, 0);
    for d in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        for f in std::fs::read_dir(d.path()).into_iter().flatten().flatten() {
            out.0 += 1;
            out.1 += f.metadata().map(|m| m.len()).unwrap_or(0);
        }
    }
    out
}

/// ```text
/// make_bytes(5 MB + i) ×400 ──▶ held by the client's futures (2 GB over two workers)
///            │ once all exist
///            ▼
/// check_bytes(each) ×400 ──▶ every byte right, read back from disk
/// ```
///
/// The margin: the limit governs what the data-store holds (target 0.6 = 120 MB in memory,
/// values being written out included); on top of that a worker process holds the runtime
/// itself (~24 MB idle), the value a task is building (`make_bytes` makes 5 MB and encodes it
/// into 5 MB more), the arguments of the few tasks admitted to run (up to 3 values read back
/// from disk, plus the decoded copy the running check makes), chunks queued on sockets to a
/// peer, and freed pages the allocator has not yet returned. Measured here: peaks of
/// 160–170 MB (0.85 × the limit; 10 MB values gave 180 MB, too close to the 190 MB terminate
/// threshold for a loaded CI machine). The bound asserted is 1.5 × the limit, 300 MB, for
/// bigger bursts of values in flight on a slow disk. The terminate threshold is off here: at
/// 0.95 × the limit it sits only ~15 MB above the measured peaks, and a loaded machine's slow
/// disk must not turn into a lost worker in this test (terminating is tested below).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_gigabytes_on_two_workers_with_200mb_limits_spill_and_stay_bounded() -> Result<()> {
    let started = Instant::now();
    let scratch = Scratch::new("spill")?;
    let (_s, addr) = scheduler(0, &[])?;
    let mut workers = Vec::new();
    for i in 0..2 {
        let dir = scratch.0.join(format!("w{i}"));
        let dir_s = dir.to_string_lossy().to_string();
        let name = format!("w{i}");
        let p = Proc::rask(
            &name,
            &[
                "worker",
                &addr,
                "--name",
                &name,
                "--host",
                "127.0.0.1",
                "--nthreads",
                "1",
                "--memory-limit",
                "200MB",
                // Dask's target, spill and pause; terminate has a test of its own, and here
                // the peak is bounded by the assertion below instead.
                "--memory-thresholds",
                "0.6,0.7,0.8,off",
                "--local-directory",
                &dir_s,
                "--no-nanny",
            ],
        )?;
        p.wait_line("connected", 20)?;
        workers.push((p, dir));
    }
    let client = connect_with_workers(&addr, 2).await?;
    let n = 400u64;
    let size = 5 * MB;
    let blobs = client.map(make_bytes, (0..n).map(|i| (size + i,)))?;
    bounded("making 2 GB", 60, async {
        Ok(rask::wait(&blobs, Duration::from_secs(60)).await?)
    })
    .await?;
    let made = started.elapsed();
    let peaks_making = workers
        .iter()
        .map(|(p, _)| status_kb(p.child.id(), "VmHWM:"))
        .collect::<Result<Vec<_>>>()?;
    let (files, on_disk) = workers
        .iter()
        .map(|(_, dir)| spill_files(dir))
        .fold((0, 0), |a, b| (a.0 + b.0, a.1 + b.1));
    // At most 120 MB of each worker's values stay in memory.
    ensure!(
        on_disk >= n * size - 2 * 200 * MB,
        "only {on_disk} bytes in {files} spill files"
    );
    let checks = blobs
        .iter()
        .map(|b| client.submit(check_bytes, (b,)))
        .collect::<rask::Result<Vec<_>>>()?;
    let lens = bounded("checking 2 GB", 60, async {
        Ok(client.gather(&checks).await?)
    })
    .await?;
    let expected: Vec<u64> = (0..n).map(|i| size + i).collect();
    ensure!(lens == expected, "wrong lengths back");
    let limit = 200 * MB;
    let mut peaks = Vec::new();
    for (p, _) in &mut workers {
        ensure!(p.alive(), "{} exited", p.name);
        peaks.push(status_kb(p.child.id(), "VmHWM:")?);
    }
    eprintln!(
        "memory test: {n} values of {size} bytes; made in {made:?}, checked in {:?}; \
         {files} spill files with {on_disk} bytes; peak RSS of the workers {peaks_making:?} \
         while making, {peaks:?} in all (limit {limit})",
        started.elapsed()
    );
    for (peak, (p, _)) in peaks.iter().zip(&workers) {
        ensure!(
            *peak <= limit * 3 / 2,
            "{}: peak RSS {peak} is above 1.5 × the {limit} limit",
            p.name
        );
    }
    // Releasing the values removes their spill files.
    drop(checks);
    drop(blobs);
    eventually("spill files removed", 20, || async {
        Ok(workers.iter().all(|(_, dir)| spill_files(dir).0 == 0))
    })
    .await?;
    Ok(())
}

/// Starts a worker under its nanny; returns it and the worker process's pid.
fn nanny_worker(addr: &str, name: &str, extra: &[&str]) -> Result<(Proc, u32)> {
    let mut args = vec!["worker", addr, "--name", name, "--host", "127.0.0.1"];
    args.extend_from_slice(extra);
    let p = Proc::rask(name, &args)?;
    let pid = child_pid(&p)?;
    p.wait_line("connected", 20)?;
    Ok((p, pid))
}

/// The pid in the nanny's next "started worker process" line.
fn child_pid(nanny: &Proc) -> Result<u32> {
    let line = nanny.wait_line("started worker process", 30)?;
    Ok(line.rsplit(' ').next().unwrap_or_default().parse()?)
}

fn kill(pid: u32, signal: &str) -> Result<()> {
    let ok = std::process::Command::new("kill")
        .args([signal, &pid.to_string()])
        .status()?
        .success();
    ensure!(ok, "kill {signal} {pid} failed");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_nanny_restarts_a_worker_killed_with_sigkill() -> Result<()> {
    let (_s, addr) = scheduler(0, &[])?;
    let (mut nanny, pid) = nanny_worker(&addr, "nannied", &[])?;
    let client = connect_with_workers(&addr, 1).await?;
    let first = client.info().await?.workers[0].id;
    ensure!(client.submit(inc, (1i64,))?.get().await? == 2);
    kill(pid, "-KILL")?;
    let line = nanny.wait_line("ended", 20)?;
    ensure!(line.contains("Signal(9)"), "{line}");
    let again = child_pid(&nanny)?;
    ensure!(again != pid, "same pid {pid}");
    nanny.wait_line("connected", 20)?;
    eventually("the new worker registered", 20, || async {
        let info = client.info().await?;
        Ok(info.workers.len() == 1 && info.workers[0].id != first)
    })
    .await?;
    ensure!(client.submit(inc, (41i64,))?.get().await? == 42);
    // SIGTERM to the nanny stops it and its worker.
    kill(nanny.child.id(), "-TERM")?;
    let deadline = Instant::now() + Duration::from_secs(15);
    while nanny.alive() {
        ensure!(
            Instant::now() < deadline,
            "the nanny did not stop on SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    ensure!(
        !Path::new(&format!("/proc/{again}")).exists() || status_kb(again, "VmRSS:").is_err(),
        "the worker outlived its nanny"
    );
    Ok(())
}

/// ```text
/// kept = make_bytes(2000 + i) ×5   (held by the worker only)
/// ballast = make_bytes(10 MB + i) ×30 → the worker passes 95 % of 150 MB → exits 75
/// nanny restarts it; the scheduler lost `kept` with it and recomputes it there
/// ```
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_past_its_terminate_threshold_is_restarted_and_its_results_recomputed(
) -> Result<()> {
    let scratch = Scratch::new("terminate")?;
    let dir = scratch.0.to_string_lossy().to_string();
    let (_s, addr) = scheduler(0, &[])?;
    // Nothing spills or pauses: only the terminate threshold acts.
    let (nanny, _pid) = nanny_worker(
        &addr,
        "bloated",
        &[
            "--memory-limit",
            "150MB",
            "--memory-thresholds",
            "off,off,off,0.95",
            "--local-directory",
            &dir,
        ],
    )?;
    let client = connect_with_workers(&addr, 1).await?;
    let first = client.info().await?.workers[0].id;
    let kept = client.map(make_bytes, (0..5u64).map(|i| (2000 + i,)))?;
    bounded("kept values", 30, async {
        Ok(rask::wait(&kept, Duration::from_secs(30)).await?)
    })
    .await?;
    let ballast = client.map(make_bytes, (0..30u64).map(|i| (10 * MB + i,)))?;
    let line = nanny.wait_line("ended", 60)?;
    ensure!(line.contains("Memory"), "{line}");
    drop(ballast);
    child_pid(&nanny)?;
    nanny.wait_line("connected", 20)?;
    eventually("the restarted worker registered", 20, || async {
        let info = client.info().await?;
        Ok(info.workers.len() == 1 && info.workers[0].id != first)
    })
    .await?;
    let checks = kept
        .iter()
        .map(|b| client.submit(check_bytes, (b,)))
        .collect::<rask::Result<Vec<_>>>()?;
    let lens = bounded("recomputed values", 30, async {
        Ok(client.gather(&checks).await?)
    })
    .await?;
    ensure!(
        lens == (0..5u64).map(|i| 2000 + i).collect::<Vec<_>>(),
        "{lens:?}"
    );
    Ok(())
}

/// A worker stopped with SIGTERM (through its nanny) leaves no spill directory behind.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spill_files_go_when_the_worker_is_stopped() -> Result<()> {
    let scratch = Scratch::new("cleanup")?;
    let dir = scratch.0.to_string_lossy().to_string();
    let (_s, addr) = scheduler(0, &[])?;
    let (mut nanny, _pid) = nanny_worker(
        &addr,
        "tidy",
        &["--memory-limit", "200MB", "--local-directory", &dir],
    )?;
    let client = connect_with_workers(&addr, 1).await?;
    let blobs = client.map(make_bytes, (0..20u64).map(|i| (10 * MB + i,)))?;
    bounded("values", 60, async {
        Ok(rask::wait(&blobs, Duration::from_secs(60)).await?)
    })
    .await?;
    let (files, _) = spill_files(&scratch.0);
    ensure!(files > 0, "nothing spilled");
    kill(nanny.child.id(), "-TERM")?;
    let deadline = Instant::now() + Duration::from_secs(15);
    while nanny.alive() {
        ensure!(
            Instant::now() < deadline,
            "the nanny did not stop on SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let left: Vec<_> = std::fs::read_dir(&scratch.0)?
        .flatten()
        .map(|e| e.path())
        .collect();
    ensure!(left.is_empty(), "left behind: {left:?}");
    Ok(())
}

/// The worker process never outlives its nanny, even one killed with SIGKILL.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_dies_with_its_nanny() -> Result<()> {
    let (_s, addr) = scheduler(0, &[])?;
    let (mut nanny, pid) = nanny_worker(&addr, "orphan", &[])?;
    nanny.kill();
    let deadline = Instant::now() + Duration::from_secs(10);
    // Gone, or a zombie waiting to be reaped (a zombie's status has no VmRSS).
    while status_kb(pid, "VmRSS:").is_ok() {
        ensure!(Instant::now() < deadline, "worker {pid} outlived its nanny");
        std::thread::sleep(Duration::from_millis(20));
    }
    Ok(())
}

/// In an in-process cluster a worker past its terminate threshold stops its own actors only:
/// the scheduler drops it and the rest of the process goes on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_in_process_worker_past_terminate_stops_alone() -> Result<()> {
    use rask::actors::datastore::{MemoryConfig, MemoryLimit, Thresholds};
    // Any process is above 95 % of 1 MB.
    let memory = MemoryConfig {
        limit: MemoryLimit::Bytes(MB),
        thresholds: Thresholds {
            target: None,
            spill: None,
            pause: None,
            terminate: Some(0.95),
        },
        ..MemoryConfig::default()
    };
    let client = bounded("local cluster", 20, async {
        Ok(rask::Client::local_with(rask::LocalConfig {
            workers: 1,
            memory,
            ..rask::LocalConfig::default()
        })
        .await?)
    })
    .await?;
    eventually("the worker stopped", 20, || async {
        Ok(client.info().await?.workers.is_empty())
    })
    .await?;
    // The scheduler (and this client) still answer.
    ensure!(client.info().await?.workers.is_empty());
    Ok(())
}
