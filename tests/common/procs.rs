//! Starting real `rask` processes on loopback for tests, and cleaning them up.

use anyhow::{anyhow, Context, Result};
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

/// A child process killed when dropped.
pub struct Proc {
    pub child: Child,
    pub name: String,
    lines: mpsc::Receiver<String>,
}

impl Proc {
    /// Starts `rask` with `args`.
    pub fn rask(name: &str, args: &[&str]) -> Result<Proc> {
        Proc::rask_with_env(name, args, &[])
    }

    /// Starts `rask` with `args` and these extra environment variables.
    pub fn rask_with_env(name: &str, args: &[&str], env: &[(String, String)]) -> Result<Proc> {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_rask"));
        cmd.args(args).envs(env.iter().map(|(k, v)| (k, v)));
        Proc::spawn(name, cmd)
    }

    /// Starts `cmd` (stdout read line by line, stderr inherited, `RUST_LOG` passed on).
    pub fn spawn(name: &str, mut cmd: Command) -> Result<Proc> {
        let args: Vec<_> = cmd.get_args().map(|a| a.to_owned()).collect();
        let mut child = cmd
            .env(
                "RUST_LOG",
                std::env::var("RUST_LOG").unwrap_or_else(|_| "warn".into()),
            )
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .with_context(|| format!("cannot start {name} {args:?}"))?;
        let stdout = child.stdout.take().expect("piped");
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Ok(Proc {
            child,
            name: name.to_string(),
            lines,
        })
    }

    /// Waits for a stdout line containing `needle`.
    pub fn wait_line(&self, needle: &str, secs: u64) -> Result<String> {
        let deadline = std::time::Instant::now() + Duration::from_secs(secs);
        loop {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            let line = self.lines.recv_timeout(left).map_err(|_| {
                anyhow!(
                    "{} printed no line with {needle:?} within {secs} s",
                    self.name
                )
            })?;
            if line.contains(needle) {
                return Ok(line);
            }
        }
    }

    /// SIGKILL.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Still running?
    pub fn alive(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A scheduler on a free loopback port (or `port`); returns it and its address.
pub fn scheduler(port: u16, extra: &[&str]) -> Result<(Proc, String)> {
    let port_s = port.to_string();
    let mut args = vec!["scheduler", "--host", "127.0.0.1", "--port", &port_s];
    args.extend_from_slice(extra);
    let p = Proc::rask("scheduler", &args)?;
    let line = p.wait_line("listening at", 20)?;
    let addr = line.rsplit(' ').next().unwrap_or_default().to_string();
    Ok((p, addr))
}

/// The command line of a one-thread test worker named `name` connected to `addr`, after
/// `program` (the subcommand, or the program name for `worker_main_from`).
fn worker_args<'a>(program: &'a str, addr: &'a str, name: &'a str) -> [&'a str; 9] {
    [
        program,
        addr,
        "--name",
        name,
        "--host",
        "127.0.0.1",
        "--nthreads",
        "1",
        // Tests SIGKILL and SIGSTOP this pid: it must be the worker, not a nanny.
        "--no-nanny",
    ]
}

/// A worker named `name` connected to `addr`.
pub fn worker(addr: &str, name: &str) -> Result<Proc> {
    worker_with_env(addr, name, &[])
}

/// A worker named `name` connected to `addr`, with extra environment variables.
pub fn worker_with_env(addr: &str, name: &str, env: &[(String, String)]) -> Result<Proc> {
    let p = Proc::rask_with_env(name, &worker_args("worker", addr, name), env)?;
    p.wait_line("connected", 20)?;
    Ok(p)
}

/// A scheduler and workers `w0`, `w1`, … as processes on loopback (killed on drop).
pub struct Cluster {
    /// The scheduler's address.
    pub addr: String,
    /// The scheduler process.
    pub scheduler: Proc,
    /// The worker processes.
    pub workers: Vec<Proc>,
}

/// Starts a scheduler on a free port and `workers` workers connected to it.
pub fn cluster(workers: usize) -> Result<Cluster> {
    cluster_with_env(workers, &[])
}

/// [`cluster`] whose workers get extra environment variables (e.g. `AWS_*`).
pub fn cluster_with_env(workers: usize, env: &[(String, String)]) -> Result<Cluster> {
    let (scheduler, addr) = scheduler(0, &[])?;
    let workers = (0..workers)
        .map(|i| worker_with_env(&addr, &format!("w{i}"), env))
        .collect::<Result<Vec<_>>>()?;
    Ok(Cluster {
        addr,
        scheduler,
        workers,
    })
}

/// The variable that makes a test binary serve as a worker (see [`serve_as_worker_if_asked`]).
const SELF_WORKER: &str = "RASK_TEST_SELF_WORKER";

/// A worker process that is this very test binary (so it knows every task function and actor
/// type the test defines), named `name` and connected to `addr`. The binary runs its ignored
/// test `entry`, which must call [`serve_as_worker_if_asked`].
pub fn self_worker(addr: &str, name: &str, entry: &str) -> Result<Proc> {
    let mut cmd = Command::new(std::env::current_exe()?);
    cmd.args([
        "--ignored",
        "--exact",
        entry,
        "--nocapture",
        "--test-threads=1",
    ])
    .env(SELF_WORKER, format!("{addr} {name}"));
    let p = Proc::spawn(&format!("worker {name}"), cmd)?;
    p.wait_line("connected", 30)?;
    Ok(p)
}

/// In a process started by [`self_worker`]: runs a one-thread worker until killed.
pub fn serve_as_worker_if_asked() {
    let Ok(spec) = std::env::var(SELF_WORKER) else {
        return;
    };
    let (addr, name) = spec.split_once(' ').expect("ADDR NAME");
    let code = rask::nodes::worker_main_from(worker_args("test-worker", addr, name));
    std::process::exit(if code == std::process::ExitCode::SUCCESS {
        0
    } else {
        1
    });
}

/// A scheduler process and `workers` one-thread workers that are this test binary.
pub fn self_cluster(workers: usize, entry: &str) -> Result<Cluster> {
    let (scheduler, addr) = scheduler(0, &[])?;
    let workers = (0..workers)
        .map(|i| self_worker(&addr, &format!("w{i}"), entry))
        .collect::<Result<Vec<_>>>()?;
    Ok(Cluster {
        addr,
        scheduler,
        workers,
    })
}

/// A worker named `name` connected to `addr` with none of this process's `AWS_*`
/// environment variables: it reaches S3 only through options carried in its tasks.
pub fn worker_without_aws_env(addr: &str, name: &str) -> Result<Proc> {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_rask"));
    cmd.args(worker_args("worker", addr, name));
    for (k, _) in std::env::vars_os() {
        if k.to_string_lossy().starts_with("AWS_") {
            cmd.env_remove(k);
        }
    }
    let p = Proc::spawn(name, cmd)?;
    p.wait_line("connected", 20)?;
    Ok(p)
}

/// A scheduler on a free port and `workers` workers without `AWS_*` variables
/// ([`worker_without_aws_env`]).
pub fn cluster_without_aws_env(workers: usize) -> Result<Cluster> {
    let (scheduler, addr) = scheduler(0, &[])?;
    let workers = (0..workers)
        .map(|i| worker_without_aws_env(&addr, &format!("w{i}")))
        .collect::<Result<Vec<_>>>()?;
    Ok(Cluster {
        addr,
        scheduler,
        workers,
    })
}
