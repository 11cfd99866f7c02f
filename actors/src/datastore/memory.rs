//! Memory limits like Dask's `distributed.worker.memory.*`: parsing `--memory-limit`, reading
//! the machine's and the process's memory from `/proc`, and the pure decisions a data-store
//! takes from those numbers (spill how much, pause, terminate).

use crate::{Error, Result};
use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

/// Exit code of a worker process that passed the terminate threshold (`EX_TEMPFAIL`): its
/// nanny restarts it.
pub const MEMORY_EXIT_CODE: i32 = 75;

/// How much memory a worker may use.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub enum MemoryLimit {
    /// No limit: nothing is spilled, nothing paused.
    None,
    /// The machine's memory divided by the workers on this host (Dask's `auto`).
    #[default]
    Auto,
    /// A number of bytes.
    Bytes(u64),
    /// A fraction of the machine's memory (0 < f ≤ 1).
    Fraction(f64),
}

impl MemoryLimit {
    /// The limit in bytes (`None`: unlimited) on a machine with `total_ram` bytes shared by
    /// `host_workers` workers.
    pub fn resolve(self, total_ram: u64, host_workers: usize) -> Option<u64> {
        match self {
            MemoryLimit::None => None,
            MemoryLimit::Auto => Some(total_ram / host_workers.max(1) as u64),
            MemoryLimit::Bytes(0) => None,
            MemoryLimit::Bytes(n) => Some(n),
            MemoryLimit::Fraction(f) => Some((total_ram as f64 * f) as u64),
        }
    }
}

impl FromStr for MemoryLimit {
    type Err = Error;

    /// `auto`, `0` (no limit), a fraction such as `0.5`, or bytes with an optional unit:
    /// `200MB`, `4GiB`, `1.5 GB`, `123456` (units are case-insensitive; `K/M/G/T` mean powers
    /// of 1000, `Ki/Mi/Gi/Ti` powers of 1024, like Dask).
    fn from_str(s: &str) -> Result<Self> {
        let t = s.trim().to_ascii_lowercase();
        let bad = || {
            Error::Config(format!(
                "bad memory limit {s:?} (try 200MB, 4GiB, 0.5 or auto)"
            ))
        };
        if t == "auto" {
            return Ok(MemoryLimit::Auto);
        }
        let split = t
            .find(|c: char| !(c.is_ascii_digit() || c == '.' || c == 'e' || c == '_'))
            .unwrap_or(t.len());
        let (num, unit) = t.split_at(split);
        let num: f64 = num.replace('_', "").parse().map_err(|_| bad())?;
        if !num.is_finite() || num < 0.0 {
            return Err(bad());
        }
        let unit = unit.trim();
        if unit.is_empty() {
            return Ok(if num == 0.0 {
                MemoryLimit::None
            } else if num <= 1.0 && t.contains('.') {
                MemoryLimit::Fraction(num)
            } else {
                MemoryLimit::Bytes(num as u64)
            });
        }
        let unit = unit.trim_end_matches('b');
        let scale: f64 = match unit {
            "" => 1.0,
            "k" => 1e3,
            "m" => 1e6,
            "g" => 1e9,
            "t" => 1e12,
            "ki" => 1024.0,
            "mi" => 1024.0 * 1024.0,
            "gi" => 1024.0 * 1024.0 * 1024.0,
            "ti" => 1024.0 * 1024.0 * 1024.0 * 1024.0,
            _ => return Err(bad()),
        };
        Ok(match (num * scale) as u64 {
            0 => MemoryLimit::None,
            n => MemoryLimit::Bytes(n),
        })
    }
}

/// Fractions of the limit at which the data-store acts (Dask's defaults); `None` disables one.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Thresholds {
    /// Bytes held in memory above this fraction: spill least-recently-used values to disk.
    pub target: Option<f64>,
    /// Process memory (RSS) above this fraction: spill until it is back under `target`.
    pub spill: Option<f64>,
    /// Process memory above this fraction: start no new tasks until it drops.
    pub pause: Option<f64>,
    /// Process memory above this fraction: the worker stops (its nanny restarts it).
    pub terminate: Option<f64>,
}

impl Default for Thresholds {
    fn default() -> Self {
        Thresholds {
            target: Some(0.6),
            spill: Some(0.7),
            pause: Some(0.8),
            terminate: Some(0.95),
        }
    }
}

/// What a worker does when it passes the terminate threshold.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum OnTerminate {
    /// Stop the worker's actor system (in-process clusters: the scheduler sees it leave).
    #[default]
    StopWorker,
    /// Exit the whole process with [`MEMORY_EXIT_CODE`] (a `rask worker` under a nanny).
    ExitProcess,
}

/// A worker's memory settings.
#[derive(Debug, Clone, PartialEq)]
pub struct MemoryConfig {
    /// The limit the thresholds are fractions of.
    pub limit: MemoryLimit,
    /// The thresholds.
    pub thresholds: Thresholds,
    /// Where spilled values go (a fresh directory is made inside it and removed at exit);
    /// default: the system's temporary directory.
    pub local_directory: Option<PathBuf>,
    /// Workers sharing this host's memory (for [`MemoryLimit::Auto`]).
    pub host_workers: usize,
    /// What passing the terminate threshold does.
    pub on_terminate: OnTerminate,
}

impl Default for MemoryConfig {
    fn default() -> Self {
        MemoryConfig {
            limit: MemoryLimit::Auto,
            thresholds: Thresholds::default(),
            local_directory: None,
            host_workers: 1,
            on_terminate: OnTerminate::StopWorker,
        }
    }
}

/// What the data-store knows when it checks its memory.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Reading {
    /// Bytes of values held in memory and not being written out.
    pub managed: u64,
    /// Bytes of values being written to disk right now (still in memory).
    pub writing: u64,
    /// Bytes written out so recently that the allocator may not have returned them yet.
    pub recently_spilled: u64,
    /// The process's resident memory (`None`: unknown, e.g. no `/proc`).
    pub rss: Option<u64>,
}

/// What to do about it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Decision {
    /// Bytes of least-recently-used values to start writing to disk.
    pub spill: u64,
    /// Start no new tasks.
    pub pause: bool,
    /// Stop the worker.
    pub terminate: bool,
    /// Have compute threads hand freed memory back to the OS after each task.
    pub release: bool,
}

fn frac(limit: u64, f: Option<f64>) -> Option<u64> {
    f.map(|f| (limit as f64 * f) as u64)
}

/// The decision for one reading under `limit` bytes.
///
/// - managed memory, counting values still being written out, above `target`: spill the
///   excess (so slow writes do not let memory grow past the target);
/// - RSS above `spill`: spill until RSS would be back at `target`, counting bytes already on
///   their way out (being written, or written out so recently the allocator may still hold
///   them) as gone, so a lagging RSS does not spill everything;
/// - RSS above `pause`: pause; above `terminate`: terminate;
/// - RSS above `spill` (or `pause` without one): hand freed memory back after every task.
pub fn decide(limit: u64, t: &Thresholds, r: &Reading) -> Decision {
    let target = frac(limit, t.target);
    let mut spill = match target {
        Some(target) => (r.managed + r.writing).saturating_sub(target),
        None => 0,
    };
    if let (Some(rss), Some(over)) = (r.rss, frac(limit, t.spill)) {
        if rss > over {
            let settled = rss.saturating_sub(r.writing + r.recently_spilled);
            let goal = target.unwrap_or(over);
            spill = spill.max(settled.saturating_sub(goal));
        }
    }
    let above = |f: Option<f64>| matches!((r.rss, frac(limit, f)), (Some(rss), Some(x)) if rss > x);
    Decision {
        spill: spill.min(r.managed),
        pause: above(t.pause),
        terminate: above(t.terminate),
        release: above(t.spill.or(t.pause)),
    }
}

/// The limit in bytes `config` sets on this machine (`None`: unlimited, or `auto` without
/// `/proc`).
pub fn resolved_limit(config: &MemoryConfig) -> Option<u64> {
    total_memory().and_then(|t| config.limit.resolve(t, config.host_workers))
}

/// How long a spilled value counts as "recently spilled": long enough for the allocator to
/// return its pages (compute threads hand freed memory back after each task once process
/// memory is above the spill threshold), short enough that a fast producer, spilling many
/// values a second, is not taken to be under its target while it is not.
pub const SPILL_SETTLE: Duration = Duration::from_millis(300);

static RELEASE: std::sync::OnceLock<fn()> = std::sync::OnceLock::new();

/// Tells rask how a thread hands memory it freed back to the OS, for allocators that keep it
/// (the `rask` binary sets mimalloc's `mi_collect`). Paused compute threads call it: freed
/// values are often their allocations, and an allocator may return those only when their
/// own thread runs. The first call wins.
pub fn set_release_hook(hook: fn()) {
    let _ = RELEASE.set(hook);
}

/// Runs the hook of [`set_release_hook`] on this thread, if one was set.
pub fn release_memory() {
    if let Some(hook) = RELEASE.get() {
        hook();
    }
}

/// The machine's memory in bytes: `MemTotal` from `/proc/meminfo`, lowered to the cgroup
/// limit when one is set. `None` without `/proc`.
pub fn total_memory() -> Option<u64> {
    let meminfo = std::fs::read_to_string("/proc/meminfo").ok()?;
    let total = parse_meminfo_total(&meminfo)?;
    let cgroup = std::fs::read_to_string("/sys/fs/cgroup/memory.max")
        .ok()
        .and_then(|s| s.trim().parse::<u64>().ok());
    Some(cgroup.map_or(total, |c| c.min(total)))
}

/// `MemTotal` (bytes) from the text of `/proc/meminfo`.
pub fn parse_meminfo_total(text: &str) -> Option<u64> {
    let line = text.lines().find(|l| l.starts_with("MemTotal:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

/// This process's resident memory in bytes, from `/proc/self/statm`.
pub fn process_rss() -> Option<u64> {
    let statm = std::fs::read_to_string("/proc/self/statm").ok()?;
    parse_statm_rss(&statm, page_size())
}

/// Resident bytes from the text of a `statm` file (second field, in pages).
pub fn parse_statm_rss(text: &str, page: u64) -> Option<u64> {
    let pages: u64 = text.split_whitespace().nth(1)?.parse().ok()?;
    Some(pages * page)
}

fn page_size() -> u64 {
    // SAFETY: sysconf has no preconditions.
    let n = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    if n > 0 {
        n as u64
    } else {
        4096
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MB: u64 = 1_000_000;

    #[test]
    fn limits_parse_like_dask() {
        let p = |s: &str| s.parse::<MemoryLimit>().unwrap();
        assert_eq!(p("200MB"), MemoryLimit::Bytes(200 * MB));
        assert_eq!(p("4GiB"), MemoryLimit::Bytes(4 << 30));
        assert_eq!(p("1.5 gb"), MemoryLimit::Bytes(1_500_000_000));
        assert_eq!(p("512Mi"), MemoryLimit::Bytes(512 << 20));
        assert_eq!(p("123456"), MemoryLimit::Bytes(123456));
        assert_eq!(p("0.25"), MemoryLimit::Fraction(0.25));
        assert_eq!(p("auto"), MemoryLimit::Auto);
        assert_eq!(p("AUTO"), MemoryLimit::Auto);
        assert_eq!(p("0"), MemoryLimit::None);
        assert_eq!(p("0MB"), MemoryLimit::None);
        for bad in ["", "MB", "12 parsecs", "-1", "abc", "1..2"] {
            assert!(bad.parse::<MemoryLimit>().is_err(), "{bad:?} parsed");
        }
    }

    #[test]
    fn limits_resolve_against_the_machine() {
        let ram = 16 << 30;
        assert_eq!(MemoryLimit::Auto.resolve(ram, 4), Some(4 << 30));
        assert_eq!(MemoryLimit::Auto.resolve(ram, 0), Some(ram));
        assert_eq!(MemoryLimit::Fraction(0.5).resolve(ram, 4), Some(8 << 30));
        assert_eq!(MemoryLimit::Bytes(7).resolve(ram, 4), Some(7));
        assert_eq!(MemoryLimit::None.resolve(ram, 4), None);
    }

    #[test]
    fn proc_files_parse() {
        let meminfo = "MemTotal:       24568628 kB\nMemFree:        21000000 kB\n";
        assert_eq!(parse_meminfo_total(meminfo), Some(24568628 * 1024));
        assert_eq!(parse_meminfo_total("nothing"), None);
        assert_eq!(
            parse_statm_rss("1000 250 30 1 0 400 0\n", 4096),
            Some(250 * 4096)
        );
        assert!(process_rss().is_some_and(|r| r > 0));
        assert!(total_memory().is_some_and(|t| t > 0));
    }

    fn reading(managed: u64, rss: u64) -> Reading {
        Reading {
            managed: managed * MB,
            rss: Some(rss * MB),
            ..Reading::default()
        }
    }

    #[test]
    fn managed_memory_above_target_spills_the_excess_only() {
        let t = Thresholds::default();
        let d = decide(200 * MB, &t, &reading(150, 135));
        assert_eq!(
            d,
            Decision {
                spill: 30 * MB,
                ..Decision::default()
            }
        );
        assert_eq!(
            decide(200 * MB, &t, &reading(100, 110)),
            Decision::default()
        );
    }

    #[test]
    fn rss_above_spill_spills_down_to_target_but_not_what_is_already_leaving() {
        let t = Thresholds::default();
        // 150 MB of RSS under a 200 MB limit (spill at 140): bring it to 120.
        assert_eq!(decide(200 * MB, &t, &reading(100, 150)).spill, 30 * MB);
        // 20 MB being written and 10 MB just spilled count as gone already.
        let r = Reading {
            writing: 20 * MB,
            recently_spilled: 10 * MB,
            ..reading(100, 150)
        };
        assert_eq!(decide(200 * MB, &t, &r).spill, 0);
        // Never more than what is held.
        assert_eq!(decide(200 * MB, &t, &reading(5, 190)).spill, 5 * MB);
    }

    #[test]
    fn values_still_being_written_count_against_the_target() {
        let t = Thresholds::default();
        let r = Reading {
            writing: 20 * MB,
            ..reading(110, 100)
        };
        assert_eq!(decide(200 * MB, &t, &r).spill, 10 * MB);
    }

    #[test]
    fn pause_and_terminate_follow_rss() {
        let t = Thresholds::default();
        let d = decide(200 * MB, &t, &reading(0, 150));
        assert!(d.release && !d.pause && !d.terminate);
        let d = decide(200 * MB, &t, &reading(0, 170));
        assert!(d.pause && !d.terminate);
        let d = decide(200 * MB, &t, &reading(0, 195));
        assert!(d.pause && d.terminate);
        let d = decide(
            200 * MB,
            &t,
            &Reading {
                rss: None,
                ..reading(0, 0)
            },
        );
        assert!(!d.pause && !d.terminate);
    }

    #[test]
    fn disabled_thresholds_do_nothing() {
        let t = Thresholds {
            target: None,
            spill: None,
            pause: None,
            terminate: None,
        };
        assert_eq!(
            decide(200 * MB, &t, &reading(500, 900)),
            Decision::default()
        );
        // Only the RSS rule: goal is the spill threshold itself.
        let t = Thresholds {
            target: None,
            ..Thresholds::default()
        };
        assert_eq!(decide(200 * MB, &t, &reading(100, 150)).spill, 10 * MB);
    }
}
