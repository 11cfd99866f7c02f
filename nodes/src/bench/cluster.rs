//! Where a benchmark runs: an existing cluster, an in-process one, or scheduler and worker
//! processes started (and killed) for the run.

use super::stats::peak_rss_mb;
use super::BenchArgs;
use anyhow::{anyhow, Context};
use rask_actors::client::Client;
use rask_actors::local::LocalConfig;
use rask_actors::scheduler::CoreConfig;
use serde_json::{json, Value};
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

/// Current resident set size (VmRSS) of a process, MiB.
fn current_rss_mb(pid: Option<u32>) -> Option<f64> {
    let path = match pid {
        Some(p) => format!("/proc/{p}/status"),
        None => "/proc/self/status".to_string(),
    };
    let text = std::fs::read_to_string(path).ok()?;
    let kb: f64 = text
        .lines()
        .find(|l| l.starts_with("VmRSS:"))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()?;
    Some((kb / 1024.0 * 10.0).round() / 10.0)
}

/// A child process that is killed when dropped.
struct Spawned {
    child: Child,
    kind: &'static str,
}

impl Drop for Spawned {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `rask <args>` and waits for a stdout line containing `needle`; returns the line.
fn spawn(kind: &'static str, args: &[String], needle: &str) -> anyhow::Result<(Spawned, String)> {
    let exe = std::env::current_exe().context("cannot find the rask executable")?;
    let mut child = Command::new(exe)
        .args(args)
        .env(
            "RUST_LOG",
            std::env::var("RUST_LOG").unwrap_or_else(|_| "warn".into()),
        )
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .with_context(|| format!("cannot start a {kind} process"))?;
    let stdout = child.stdout.take().ok_or_else(|| anyhow!("no stdout"))?;
    let spawned = Spawned { child, kind };
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    loop {
        let line = rx
            .recv_timeout(Duration::from_secs(20))
            .map_err(|_| anyhow!("the {kind} process did not start within 20 s"))?;
        if line.contains(needle) {
            return Ok((spawned, line));
        }
    }
}

/// The cluster a benchmark runs on.
pub struct Target {
    mode: &'static str,
    client: Client,
    /// The scheduler first, then the workers.
    procs: Vec<Spawned>,
}

impl Drop for Target {
    /// Stops the workers before the scheduler, so no worker sees its scheduler vanish and
    /// warns that it is reconnecting.
    fn drop(&mut self) {
        while let Some(p) = self.procs.pop() {
            drop(p);
        }
    }
}

impl Target {
    /// Connects to or starts the cluster the flags name.
    pub fn start(args: &BenchArgs, zero: bool) -> anyhow::Result<Target> {
        let threads = args.threads_per_worker.max(1);
        if let Some(addr) = &args.scheduler {
            let client = Client::connect_blocking(addr)
                .with_context(|| format!("cannot reach the scheduler at {addr}"))?;
            return Ok(Target {
                mode: "remote",
                client,
                procs: Vec::new(),
            });
        }
        if let Some(n) = args.processes {
            let mut sargs: Vec<String> = ["scheduler", "--host", "127.0.0.1", "--port", "0"]
                .iter()
                .map(|s| s.to_string())
                .collect();
            if zero {
                sargs.push("--zero-worker".into());
            }
            sargs.push("--queue-target-ms".into());
            sargs.push(args.queue_target_ms.to_string());
            let (sched, line) = spawn("scheduler", &sargs, "listening at")?;
            let addr = line.rsplit(' ').next().unwrap_or_default().to_string();
            let mut procs = vec![sched];
            for i in 0..n {
                let wargs: Vec<String> = vec![
                    "worker".into(),
                    addr.clone(),
                    "--host".into(),
                    "127.0.0.1".into(),
                    "--nthreads".into(),
                    threads.to_string(),
                    "--name".into(),
                    format!("bench-{i}"),
                    // The worker itself, not a nanny, so its memory is what gets measured.
                    "--no-nanny".into(),
                ];
                procs.push(spawn("worker", &wargs, "connected")?.0);
            }
            let client = Client::connect_blocking(&addr)?;
            return Ok(Target {
                mode: "processes",
                client,
                procs,
            });
        }
        let workers = args.local.unwrap_or(2);
        let config = LocalConfig {
            workers,
            threads_per_worker: threads,
            core: CoreConfig {
                zero_worker: zero,
                queue_target: crate::serve::queue_target(args.queue_target_ms)?,
                ..CoreConfig::default()
            },
            ..LocalConfig::default()
        };
        let client = futures::executor::block_on(Client::local_with(config))
            .context("cannot start the local cluster")?;
        Ok(Target {
            mode: "local",
            client,
            procs: Vec::new(),
        })
    }

    /// The client connected to the cluster.
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// Names the cluster: mode, scheduler, workers, threads, hosts.
    pub fn describe(&self) -> anyhow::Result<Value> {
        let info = self.client.info_blocking()?;
        let mut hosts: Vec<String> = info
            .workers
            .iter()
            .map(|w| {
                let hp = w.store_addr.trim_start_matches("tcp://");
                hp.rsplit_once(':').map_or(hp, |(h, _)| h).to_string()
            })
            .collect();
        hosts.sort();
        hosts.dedup();
        Ok(json!({
            "mode": self.mode,
            "scheduler": self.client.scheduler(),
            "workers": info.workers.len(),
            "threads": info.workers.iter().map(|w| w.nthreads).sum::<u32>(),
            "hosts": hosts,
            "zero_worker": info.zero_worker,
        }))
    }

    /// Waits (up to `limit`) until the scheduler tracks no task and no worker holds a key,
    /// then reports what is left: tracked tasks, held keys, and the current RSS of the
    /// processes this run can see (is memory flat again after the work?).
    pub fn settle(&self, limit: Duration) -> anyhow::Result<Value> {
        let start = std::time::Instant::now();
        let mut info = self.client.info_blocking()?;
        while (info.tasks > 0 || info.workers.iter().any(|w| w.keys > 0)) && start.elapsed() < limit
        {
            std::thread::sleep(Duration::from_millis(50));
            info = self.client.info_blocking()?;
        }
        // Give allocators time to hand freed memory back (the rask binary purges after 1 s).
        std::thread::sleep(Duration::from_millis(2500));
        let rss = |pid: Option<u32>| current_rss_mb(pid);
        let procs = match self.mode {
            "local" => json!({ "local_process": rss(None) }),
            "processes" => json!({
                "client": rss(None),
                "scheduler": self.procs.iter().find(|p| p.kind == "scheduler").and_then(|p| rss(Some(p.child.id()))),
                "workers": self.procs.iter().filter(|p| p.kind == "worker").map(|p| rss(Some(p.child.id()))).collect::<Vec<_>>(),
            }),
            _ => json!({ "client": rss(None) }),
        };
        Ok(json!({
            "settle_s": super::stats::round(start.elapsed().as_secs_f64(), 3),
            "tracked_tasks": info.tasks,
            "held_keys": info.workers.iter().map(|w| w.keys).sum::<u64>(),
            "rss_mb": procs,
        }))
    }

    /// Peak RSS per process kind, MiB (what this process can see).
    pub fn peak_rss_mb(&self) -> Value {
        let me = peak_rss_mb(None);
        match self.mode {
            "local" => json!({ "local_process": me }),
            "processes" => {
                let of = |kind: &str| -> Vec<Option<f64>> {
                    self.procs
                        .iter()
                        .filter(|p| p.kind == kind)
                        .map(|p| peak_rss_mb(Some(p.child.id())))
                        .collect()
                };
                json!({ "client": me, "scheduler": of("scheduler").first().copied().flatten(), "workers": of("worker") })
            }
            _ => json!({ "client": me }),
        }
    }
}
