//! The nanny: `rask worker` runs as a small supervising parent that starts the real worker as a
//! child process (the same program and command line plus `--no-nanny`) and restarts it when it
//! dies: killed, crashed, or stopped for passing its memory terminate threshold
//! ([`MEMORY_EXIT_CODE`]). Restarts back off and are bounded per minute ([`decide`], a pure
//! function). SIGTERM and SIGINT are forwarded to the child; the child gets SIGKILL if the
//! nanny dies (`PR_SET_PDEATHSIG`). Spill directories of a child that died are removed.
//!
//! The nanny is plain blocking code on the main thread: the death signal fires when the
//! *thread* that started the child ends, so children are only ever started from it.

use anyhow::{bail, Context};
use rask_actors::datastore::spill;
use rask_actors::datastore::MEMORY_EXIT_CODE;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus};
use std::sync::atomic::{AtomicI32, Ordering};
use std::time::{Duration, Instant};

/// How restarts are paced.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RestartPolicy {
    /// Restarts allowed within one minute; one more and the nanny gives up.
    pub per_minute: usize,
    /// Delay before the first restart of a run of restarts; doubled for each further one.
    pub first_delay: Duration,
    /// The longest delay.
    pub max_delay: Duration,
}

impl Default for RestartPolicy {
    fn default() -> Self {
        RestartPolicy {
            per_minute: 5,
            first_delay: Duration::from_millis(200),
            max_delay: Duration::from_secs(10),
        }
    }
}

/// How a worker process ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ended {
    /// Exit code 0: it was asked to stop.
    Clean,
    /// It passed its memory terminate threshold.
    Memory,
    /// Any other exit code.
    Code(i32),
    /// Killed by a signal.
    Signal(i32),
}

impl Ended {
    /// Classifies an exit status.
    pub fn of(status: ExitStatus) -> Ended {
        match (status.code(), status.signal()) {
            (Some(0), _) => Ended::Clean,
            (Some(MEMORY_EXIT_CODE), _) => Ended::Memory,
            (Some(c), _) => Ended::Code(c),
            (None, Some(s)) => Ended::Signal(s),
            (None, None) => Ended::Code(1),
        }
    }
}

/// What the nanny does next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Next {
    /// Start a new worker after this delay.
    Restart(Duration),
    /// Exit with this code.
    Exit(i32),
}

/// The decision after a worker process ended. `first`: it was the first process (a failure
/// to start, such as an unreachable scheduler, is then final: the worker already said why);
/// `restarts`: when the earlier restarts happened.
pub fn decide(
    policy: &RestartPolicy,
    ended: Ended,
    first: bool,
    restarts: &[Instant],
    now: Instant,
) -> Next {
    match ended {
        Ended::Clean => return Next::Exit(0),
        Ended::Code(c) if first => return Next::Exit(c),
        _ => {}
    }
    let recent = restarts
        .iter()
        .filter(|t| now.duration_since(**t) < Duration::from_secs(60))
        .count();
    if recent >= policy.per_minute {
        return Next::Exit(match ended {
            Ended::Code(c) => c,
            _ => 1,
        });
    }
    let delay = policy.first_delay * 2u32.saturating_pow(recent as u32);
    Next::Restart(delay.min(policy.max_delay))
}

/// The signal the nanny was sent (0: none yet).
static SIGNAL: AtomicI32 = AtomicI32::new(0);

extern "C" fn on_signal(sig: libc::c_int) {
    SIGNAL.store(sig, Ordering::SeqCst);
}

fn install_handlers() {
    for sig in [libc::SIGTERM, libc::SIGINT] {
        // SAFETY: the handler only stores to an atomic, which is async-signal-safe.
        unsafe { libc::signal(sig, on_signal as *const () as libc::sighandler_t) };
    }
}

fn start_child() -> anyhow::Result<Child> {
    let exe = std::env::current_exe().context("cannot find this program to start the worker")?;
    let nanny = std::process::id() as libc::pid_t;
    let mut cmd = Command::new(exe);
    cmd.args(std::env::args_os().skip(1)).arg("--no-nanny");
    // SAFETY: only async-signal-safe calls between fork and exec.
    unsafe {
        cmd.pre_exec(move || {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            if libc::getppid() != nanny {
                return Err(std::io::Error::other("the nanny is already gone"));
            }
            Ok(())
        });
    }
    cmd.spawn().context("cannot start the worker process")
}

/// Waits for `child` or a signal, polling. On a signal, forwards it and waits for the child
/// (SIGKILL after `grace`); returns `None` then.
fn watch(child: &mut Child, grace: Duration) -> anyhow::Result<Option<ExitStatus>> {
    loop {
        if let Some(status) = child.try_wait()? {
            return Ok(Some(status));
        }
        let sig = SIGNAL.load(Ordering::SeqCst);
        if sig != 0 {
            tracing::info!(
                pid = child.id(),
                "nanny: passing signal {sig} to the worker"
            );
            // SAFETY: plain kill(2) of our own child.
            unsafe { libc::kill(child.id() as libc::pid_t, sig) };
            let deadline = Instant::now() + grace;
            while child.try_wait()?.is_none() {
                if Instant::now() > deadline {
                    tracing::warn!(
                        pid = child.id(),
                        "nanny: the worker did not stop; killing it"
                    );
                    let _ = child.kill();
                    let _ = child.wait();
                    break;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            return Ok(None);
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Runs the nanny until a signal stops it or restarts are exhausted. `local_directory` is the
/// worker's, where it makes its spill directories.
pub fn run(local_directory: Option<PathBuf>) -> anyhow::Result<()> {
    install_handlers();
    let policy = RestartPolicy::default();
    let mut restarts: Vec<Instant> = Vec::new();
    let mut first = true;
    loop {
        let mut child = start_child()?;
        let pid = child.id();
        println!("rask nanny started worker process {pid}");
        let status = watch(&mut child, Duration::from_secs(10))?;
        spill::remove_dirs_of(local_directory.as_deref(), pid);
        let Some(status) = status else {
            return Ok(());
        };
        let ended = Ended::of(status);
        let now = Instant::now();
        match decide(&policy, ended, first, &restarts, now) {
            Next::Exit(0) => return Ok(()),
            Next::Exit(code) => {
                bail!("the worker process ended ({ended:?}); not restarting it (exit code {code})")
            }
            Next::Restart(delay) => {
                // On stdout like the start line, for whoever watches the nanny.
                println!("rask nanny: worker process {pid} ended ({ended:?}); restarting it in {delay:?}");
                restarts.push(now);
                restarts.retain(|t| now.duration_since(*t) < Duration::from_secs(60));
                let until = now + delay;
                while Instant::now() < until {
                    if SIGNAL.load(Ordering::SeqCst) != 0 {
                        return Ok(());
                    }
                    std::thread::sleep(Duration::from_millis(20));
                }
            }
        }
        first = false;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exits_are_classified() {
        use std::os::unix::process::ExitStatusExt;
        assert_eq!(Ended::of(ExitStatus::from_raw(0)), Ended::Clean);
        assert_eq!(
            Ended::of(ExitStatus::from_raw(MEMORY_EXIT_CODE << 8)),
            Ended::Memory
        );
        assert_eq!(Ended::of(ExitStatus::from_raw(1 << 8)), Ended::Code(1));
        assert_eq!(Ended::of(ExitStatus::from_raw(9)), Ended::Signal(9));
    }

    #[test]
    fn restarts_back_off_and_are_bounded_per_minute() {
        let p = RestartPolicy::default();
        let t0 = Instant::now();
        let mut restarts = Vec::new();
        let mut delays = Vec::new();
        let mut now = t0;
        loop {
            match decide(&p, Ended::Signal(9), false, &restarts, now) {
                Next::Restart(d) => {
                    delays.push(d.as_millis());
                    restarts.push(now);
                    now += d;
                }
                Next::Exit(code) => {
                    assert_eq!(code, 1);
                    break;
                }
            }
        }
        assert_eq!(delays, [200, 400, 800, 1600, 3200]);
        // A minute later the window is clear again.
        let later = now + Duration::from_secs(61);
        assert_eq!(
            decide(&p, Ended::Memory, false, &restarts, later),
            Next::Restart(Duration::from_millis(200))
        );
    }

    #[test]
    fn clean_exits_and_start_up_failures_are_final() {
        let p = RestartPolicy::default();
        let now = Instant::now();
        assert_eq!(decide(&p, Ended::Clean, false, &[], now), Next::Exit(0));
        assert_eq!(decide(&p, Ended::Code(1), true, &[], now), Next::Exit(1));
        assert!(matches!(
            decide(&p, Ended::Code(1), false, &[], now),
            Next::Restart(_)
        ));
        assert!(matches!(
            decide(&p, Ended::Memory, true, &[], now),
            Next::Restart(_)
        ));
        assert!(matches!(
            decide(&p, Ended::Signal(9), true, &[], now),
            Next::Restart(_)
        ));
    }
}
