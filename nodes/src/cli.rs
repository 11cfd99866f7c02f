//! Command-line definitions (mirroring `dask scheduler` / `dask worker`) and dispatch.

use clap::{Args, Parser, Subcommand};

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
    /// Directory for worker files such as spilled data (created if missing; nothing spills
    /// yet: memory limits and spilling are still to come).
    #[arg(long)]
    pub local_directory: Option<std::path::PathBuf>,
    /// Seconds to keep trying to reach the scheduler at start-up.
    #[arg(long, default_value_t = 10.0)]
    pub connect_timeout: f64,
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
