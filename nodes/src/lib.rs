//! The `rask` command line and the library functions behind it, so a user's crate can build
//! its own worker binary (with its own task functions linked in) in a few lines:
//!
//! ```no_run
//! fn main() -> std::process::ExitCode {
//!     rask_nodes::worker_main()
//! }
//! ```
//!
//! - [`cli`]: the clap definitions of every command.
//! - [`serve`]: running a scheduler, a worker or a whole local cluster until interrupted.
//! - [`demo`]: a real computation on an in-process cluster.
//! - [`nanny`]: the parent process that runs and restarts a worker.
//! - [`mod@bench`]: `rask bench`, verified benchmarks printing JSON figures.

#![warn(missing_docs)]

pub mod bench;
pub mod cli;
pub mod demo;
pub mod nanny;
pub mod serve;

use clap::Parser;
use std::process::ExitCode;

/// Sets up logging from `RUST_LOG` (else `default`, e.g. `"info"`) on stderr.
pub fn init_logging(default: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}

fn report(result: anyhow::Result<()>) -> ExitCode {
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("rask: error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// The `rask` binary: parses the command line and runs the command.
pub fn main() -> ExitCode {
    let cli = cli::Cli::parse();
    let quiet = matches!(
        cli.command,
        cli::Command::Demo(_) | cli::Command::Info(_) | cli::Command::Bench(_)
    );
    init_logging(if quiet { "error" } else { "info" });
    report(cli::run(cli))
}

/// A worker binary: the same flags as `rask worker`, running every task function linked into
/// the calling binary.
pub fn worker_main() -> ExitCode {
    worker_main_from(std::env::args_os())
}

/// [`worker_main`] with explicit arguments (the first is the program name).
pub fn worker_main_from<I, T>(args: I) -> ExitCode
where
    I: IntoIterator<Item = T>,
    T: Into<std::ffi::OsString> + Clone,
{
    let args = cli::WorkerCli::parse_from(args).args;
    init_logging("info");
    report(serve::worker(args))
}
