//! Command-line definitions (mirroring `dask scheduler` / `dask worker`) and dispatch.

use clap::{Args, Parser, Subcommand};
use rask_actors::datastore::{MemoryLimit, Thresholds};

/// rask: Dask's distributed computing model in Rust.
#[derive(Debug, Parser)]
#[command(name = "rask", version, about, propagate_version = true)]
pub struct Cli {
    /// The command to run.
    #[command(subcommand)]
    pub command: Command,
}

/// The commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run a scheduler.
    Scheduler(SchedulerArgs),
    /// Run a worker connected to a scheduler.
    Worker(WorkerArgs),
    /// Run a scheduler and N workers in this one process until interrupted.
    Local(LocalArgs),
    /// Run a real computation on an in-process cluster and print the answer.
    Demo(DemoArgs),
    /// Print what a running scheduler knows about its cluster.
    Info(InfoArgs),
    /// Run a named benchmark and print its figures as one JSON line.
    Bench(crate::bench::BenchArgs),
}

/// `rask scheduler`.
#[derive(Debug, Args)]
pub struct SchedulerArgs {
    /// Interface to bind.
    #[arg(long, default_value = "0.0.0.0")]
    pub host: String,
    /// Port to bind (0: any free port; the chosen one is logged).
    #[arg(long, default_value_t = 8786)]
    pub port: u16,
    /// Heartbeat interval asked of workers and clients, in milliseconds.
    #[arg(long, default_value_t = 500)]
    pub heartbeat_ms: u64,
    /// Seconds without a heartbeat after which a worker is removed.
    #[arg(long, default_value_t = 10.0)]
    pub worker_ttl: f64,
    /// Seconds without a heartbeat after which a client's keys are released.
    #[arg(long, default_value_t = 30.0)]
    pub client_ttl: f64,
    /// Workers a task may see die under it before it is erred as KilledWorker.
    #[arg(long, default_value_t = 3)]
    pub allowed_failures: u32,
    /// Complete tasks without running them (for `rask bench zero` only).
    #[arg(long)]
    pub zero_worker: bool,
    /// Keep a journal of the task graph here. A scheduler restarted with the same directory
    /// rebuilds the graph: workers report what they hold, reconnecting clients' futures
    /// resolve without resubmitting.
    #[arg(long)]
    pub local_directory: Option<std::path::PathBuf>,
    /// After a restart from the journal, seconds to wait for workers to report what they
    /// hold before recomputing what is missing.
    #[arg(long, default_value_t = 5.0)]
    pub recovery_window: f64,
    /// Ready root tasks wait on the scheduler; each worker gets about this many milliseconds
    /// of work per thread at a time (judged from past run times). 0 sends everything at once.
    #[arg(long, default_value_t = 2.0)]
    pub queue_target_ms: f64,
    /// Disconnect peers that claim frames larger than this many bytes (the socket library
    /// would try to allocate any claimed size). Adds a checking hop in front of the port;
    /// use it where untrusted hosts can reach the scheduler.
    #[arg(long)]
    pub max_frame_bytes: Option<u64>,
}

/// A stand-alone worker binary's command line (same flags as `rask worker`).
#[derive(Debug, Parser)]
#[command(
    name = "rask-worker",
    version,
    about = "Run a rask worker connected to a scheduler"
)]
pub struct WorkerCli {
    /// The worker flags.
    #[command(flatten)]
    pub args: WorkerArgs,
}

/// `rask worker`.
#[derive(Debug, Args, Clone)]
pub struct WorkerArgs {
    /// Scheduler address, e.g. tcp://10.0.0.5:8786.
    pub scheduler: String,
    /// Compute threads.
    #[arg(long, default_value_t = 1)]
    pub nthreads: usize,
    /// Worker name (default: its data-store address).
    #[arg(long)]
    pub name: Option<String>,
    /// Interface the data-store binds.
    #[arg(long, default_value = "0.0.0.0")]
    pub host: String,
    /// Data-store port (0: any free port).
    #[arg(long, default_value_t = 0)]
    pub port: u16,
    /// Host name or IP other machines use to reach this worker (default: the local address
    /// that routes to the scheduler).
    #[arg(long)]
    pub contact_host: Option<String>,
    /// Directory for worker files (created if missing): values spilled to disk go to a fresh
    /// `rask-spill-*` directory inside it, removed when the worker exits (default: the
    /// system's temporary directory).
    #[arg(long)]
    pub local_directory: Option<std::path::PathBuf>,
    /// Seconds to keep trying to reach the scheduler at start-up.
    #[arg(long, default_value_t = 10.0)]
    pub connect_timeout: f64,
    /// Memory the worker may use: bytes with a unit (200MB, 4GiB), a fraction of the
    /// machine's memory (0.5), auto (the machine's memory, or its cgroup limit) or 0 for no
    /// limit.
    #[arg(long, default_value = "auto", value_parser = parse_memory_limit)]
    pub memory_limit: MemoryLimit,
    /// Fractions of the memory limit: TARGET (held values above it spill to disk), SPILL
    /// (process memory above it spills more), PAUSE (no new tasks start) and TERMINATE (the
    /// worker restarts); `off` disables one. Dask's defaults.
    #[arg(long, default_value = "0.6,0.7,0.8,0.95", value_parser = parse_thresholds, value_name = "TARGET,SPILL,PAUSE,TERMINATE")]
    pub memory_thresholds: Thresholds,
    /// Run the worker in this process instead of under a nanny, the supervising parent
    /// process that restarts it when it dies or passes its terminate threshold.
    #[arg(long)]
    pub no_nanny: bool,
}

fn parse_memory_limit(s: &str) -> Result<MemoryLimit, String> {
    s.parse().map_err(|e: rask_actors::Error| e.to_string())
}

/// Parses `TARGET,SPILL,PAUSE,TERMINATE`, each a fraction in (0, 1] or `off`.
pub fn parse_thresholds(s: &str) -> Result<Thresholds, String> {
    let parts: Vec<&str> = s.split(',').map(str::trim).collect();
    let [target, spill, pause, terminate] = parts[..] else {
        return Err(format!("want four comma-separated fractions, got {s:?}"));
    };
    let one = |p: &str| -> Result<Option<f64>, String> {
        if p.eq_ignore_ascii_case("off") {
            return Ok(None);
        }
        match p.parse::<f64>() {
            Ok(f) if f > 0.0 && f <= 1.0 => Ok(Some(f)),
            _ => Err(format!("{p:?} is not a fraction in (0, 1] or off")),
        }
    };
    Ok(Thresholds {
        target: one(target)?,
        spill: one(spill)?,
        pause: one(pause)?,
        terminate: one(terminate)?,
    })
}

/// `rask local`.
#[derive(Debug, Args)]
pub struct LocalArgs {
    /// Number of workers.
    #[arg(long, default_value_t = 2)]
    pub workers: usize,
    /// Compute threads per worker.
    #[arg(long, default_value_t = 1)]
    pub threads_per_worker: usize,
    /// Interface to bind.
    #[arg(long, default_value = "127.0.0.1")]
    pub host: String,
    /// Scheduler port.
    #[arg(long, default_value_t = 8786)]
    pub port: u16,
}

/// `rask demo`.
#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Number of workers.
    #[arg(long, default_value_t = 2)]
    pub workers: usize,
    /// Number of tasks in the map stage.
    #[arg(long, default_value_t = 10_000)]
    pub tasks: usize,
}

/// `rask info`.
#[derive(Debug, Args)]
pub struct InfoArgs {
    /// Scheduler address.
    pub scheduler: String,
}

/// Runs a parsed command line.
pub fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Scheduler(a) => crate::serve::scheduler(a),
        Command::Worker(a) => crate::serve::worker(a),
        Command::Local(a) => crate::serve::local(a),
        Command::Demo(a) => crate::demo::run(a),
        Command::Info(a) => crate::serve::info(a),
        Command::Bench(a) => crate::bench::run(a),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn worker_memory_flags_parse() {
        let cli = Cli::try_parse_from([
            "rask",
            "worker",
            "tcp://h:1",
            "--memory-limit",
            "200MB",
            "--memory-thresholds",
            "0.5,off,0.9,1",
            "--no-nanny",
        ])
        .unwrap();
        let Command::Worker(w) = cli.command else {
            panic!("not a worker")
        };
        assert_eq!(w.memory_limit, MemoryLimit::Bytes(200_000_000));
        assert_eq!(
            w.memory_thresholds,
            Thresholds {
                target: Some(0.5),
                spill: None,
                pause: Some(0.9),
                terminate: Some(1.0)
            }
        );
        assert!(w.no_nanny);
        let defaults = Cli::try_parse_from(["rask", "worker", "tcp://h:1"]).unwrap();
        let Command::Worker(w) = defaults.command else {
            panic!("not a worker")
        };
        assert_eq!(
            (w.memory_limit, w.memory_thresholds),
            (MemoryLimit::Auto, Thresholds::default())
        );
        assert!(!w.no_nanny);
        for bad in ["0.6,0.7,0.8", "0.6,0.7,0.8,2", "a,b,c,d"] {
            assert!(parse_thresholds(bad).is_err(), "{bad}");
        }
        assert!(
            Cli::try_parse_from(["rask", "worker", "tcp://h:1", "--memory-limit", "lots"]).is_err()
        );
    }
}
