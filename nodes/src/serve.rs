//! Running the long-lived processes: scheduler, worker, local cluster; and `rask info`.

use crate::cli::{InfoArgs, LocalArgs, SchedulerArgs, WorkerArgs};
use anyhow::{bail, Context};
use rask_actors::client::Client;
use rask_actors::datastore::{MemoryConfig, OnTerminate};
use rask_actors::local::{LocalCluster, LocalConfig};
use rask_actors::scheduler::{start_scheduler, CoreConfig, SchedulerConfig};
use rask_actors::worker::{Worker, WorkerConfig};
use std::time::Duration;

fn secs(s: f64, what: &str) -> anyhow::Result<Duration> {
    if !(s.is_finite() && s > 0.0) {
        bail!("{what} must be a positive number of seconds, got {s}");
    }
    Ok(Duration::from_secs_f64(s))
}

async fn until_interrupted() {
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(e) => {
                tracing::error!("cannot wait for SIGTERM: {e}");
                futures::future::pending::<()>().await;
            }
        }
    };
    let int = async {
        if let Err(e) = tokio::signal::ctrl_c().await {
            tracing::error!("cannot wait for Ctrl-C: {e}");
            futures::future::pending::<()>().await;
        }
    };
    futures::pin_mut!(term, int);
    futures::future::select(term, int).await;
}

/// `--queue-target-ms` as the core wants it: 0 turns queuing off.
pub fn queue_target(ms: f64) -> anyhow::Result<Option<Duration>> {
    if !(ms.is_finite() && ms >= 0.0) {
        bail!("--queue-target-ms must be 0 or a positive number of milliseconds, got {ms}");
    }
    Ok((ms > 0.0).then(|| Duration::from_secs_f64(ms / 1000.0)))
}

/// `rask scheduler`: serves until interrupted.
pub fn scheduler(args: SchedulerArgs) -> anyhow::Result<()> {
    let config = SchedulerConfig {
        listen: format!("tcp://{}:{}", args.host, args.port),
        heartbeat: Duration::from_millis(args.heartbeat_ms.max(10)),
        core: CoreConfig {
            worker_ttl: secs(args.worker_ttl, "--worker-ttl")?,
            client_ttl: secs(args.client_ttl, "--client-ttl")?,
            allowed_failures: args.allowed_failures,
            zero_worker: args.zero_worker,
            recovery_window: secs(args.recovery_window, "--recovery-window")?,
            queue_target: queue_target(args.queue_target_ms)?,
            ..CoreConfig::default()
        },
        journal_dir: args.local_directory.clone(),
        max_frame_bytes: args.max_frame_bytes,
    };
    actix_rt::System::new().block_on(async move {
        let handle = start_scheduler(config)
            .await
            .context("cannot start the scheduler")?;
        println!("rask scheduler listening at {}", handle.endpoint);
        until_interrupted().await;
        Ok(())
    })
}

/// `rask worker` (and user-built worker binaries): serves until interrupted, under a nanny
/// process unless `--no-nanny`.
pub fn worker(args: WorkerArgs) -> anyhow::Result<()> {
    if args.nthreads == 0 {
        bail!("--nthreads must be at least 1");
    }
    if let Some(dir) = &args.local_directory {
        std::fs::create_dir_all(dir)
            .with_context(|| format!("cannot create --local-directory {}", dir.display()))?;
    }
    let connect_timeout = secs(args.connect_timeout, "--connect-timeout")?;
    if !args.no_nanny {
        return crate::nanny::run(args.local_directory.clone());
    }
    let config = WorkerConfig {
        scheduler: args.scheduler.clone(),
        name: args.name.clone(),
        nthreads: args.nthreads,
        listen: format!("tcp://{}:{}", args.host, args.port),
        contact_host: args.contact_host.clone(),
        connect_timeout,
        memory: MemoryConfig {
            limit: args.memory_limit,
            thresholds: args.memory_thresholds,
            local_directory: args.local_directory.clone(),
            host_workers: 1,
            on_terminate: OnTerminate::ExitProcess,
        },
    };
    actix_rt::System::new().block_on(async move {
        Worker::start(config)
            .await
            .with_context(|| format!("cannot join the scheduler at {}", args.scheduler))?;
        println!("rask worker connected to {}", args.scheduler);
        until_interrupted().await;
        Ok(())
    })
}

/// `rask local`: a scheduler and workers in this process until interrupted.
pub fn local(args: LocalArgs) -> anyhow::Result<()> {
    let config = LocalConfig {
        workers: args.workers,
        threads_per_worker: args.threads_per_worker.max(1),
        host: args.host,
        port: args.port,
        ..LocalConfig::default()
    };
    actix_rt::System::new().block_on(async move {
        let cluster = LocalCluster::start(config)
            .await
            .context("cannot start the local cluster")?;
        println!(
            "rask local cluster at {} with {} workers; Ctrl-C stops it",
            cluster.address(),
            cluster.running_workers()
        );
        until_interrupted().await;
        drop(cluster);
        Ok(())
    })
}

/// `rask info`: prints the cluster as the scheduler sees it.
pub fn info(args: InfoArgs) -> anyhow::Result<()> {
    let client = Client::connect_blocking(&args.scheduler)
        .with_context(|| format!("cannot reach the scheduler at {}", args.scheduler))?;
    let info = client.info_blocking()?;
    println!(
        "scheduler {} — {} tasks tracked",
        info.scheduler, info.tasks
    );
    for w in info.workers {
        println!(
            "  worker {:>3} {:<24} {:<28} threads={} processing={} keys={} bytes={}",
            w.id, w.name, w.store_addr, w.nthreads, w.processing, w.keys, w.nbytes
        );
    }
    Ok(())
}
