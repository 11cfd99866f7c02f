//! The compute pool: `nthreads` OS threads running task functions, highest priority first,
//! never on an actor's thread. Panics inside a task are caught and reported as failures.
//!
//! A task that waits on other tasks can *secede* (see [`super::context`]): the pool then
//! starts one more thread so the tasks it waits for can run, and when the task *rejoins*
//! the first thread to go idle above the pool's size exits.

use super::context::{self, WorkerContext};
use super::registry::{InvokeResult, TaskEntry};
use bytes::Bytes;
use rask_protocol::TaskErrorKind;
use std::collections::BinaryHeap;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;

/// A job: run `entry` on `args`, then hand the result to `done`.
pub struct Job {
    /// Higher runs first.
    pub priority: i32,
    /// Function to run.
    pub entry: &'static TaskEntry,
    /// Encoded arguments.
    pub args: Vec<Bytes>,
    /// Called on the pool thread with the outcome and how long the function ran (µs).
    pub done: Box<dyn FnOnce(InvokeResult, u64) + Send>,
    /// Set once, by whoever takes the job first: the pool when it starts it, or a cancel or
    /// steal before that (see [`try_take`]). A job taken before it started is skipped.
    pub taken: Arc<std::sync::atomic::AtomicBool>,
    /// The task's key (what an actor created by the job is held under).
    pub key: rask_protocol::Key,
    /// The attempt (named to the secede hook).
    pub attempt: rask_protocol::Attempt,
}

/// Called (on the compute thread) the first time a running job secedes, with its key and
/// attempt: the worker tells the scheduler.
pub type SecedeHook = Arc<dyn Fn(rask_protocol::Key, rask_protocol::Attempt) + Send + Sync>;

struct Queued {
    priority: i32,
    seq: u64,
    job: Job,
}

impl PartialEq for Queued {
    fn eq(&self, other: &Self) -> bool {
        (self.priority, self.seq) == (other.priority, other.seq)
    }
}
impl Eq for Queued {}
impl PartialOrd for Queued {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Queued {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        // Highest priority first, then first come first served.
        self.priority
            .cmp(&other.priority)
            .then_with(|| other.seq.cmp(&self.seq))
    }
}

pub(super) struct Shared {
    queue: Mutex<(BinaryHeap<Queued>, u64, bool)>,
    ready: Condvar,
    executing: AtomicUsize,
    /// Jobs queued (mirrors the heap's length, readable without the lock).
    queued: AtomicUsize,
    /// Start no queued job (the worker's memory is above its pause threshold).
    paused: std::sync::atomic::AtomicBool,
    /// Hand freed memory back to the OS after every job (memory is above the spill threshold).
    release: std::sync::atomic::AtomicBool,
    /// Threads the pool should have: its size plus the jobs seceded now.
    target: AtomicUsize,
    /// Threads running.
    alive: AtomicUsize,
    /// Names new threads.
    name: String,
    /// What running tasks can reach (the scheduler address, the actor host).
    context: Arc<WorkerContext>,
    /// See [`SecedeHook`].
    secede_hook: std::sync::OnceLock<SecedeHook>,
}

/// How long an idle compute thread polls for new work before sleeping. Waking a sleeping
/// thread costs tens of microseconds on small VMs; a short spin keeps chains of tiny tasks
/// fast and costs little CPU since it stops as soon as work dries up. `RASK_SPIN_US` overrides
/// it (longer spins lowered the submit → result round trip on idle machines here, at some
/// cost in throughput).
const SPIN_DEFAULT_US: u64 = 50;

/// The spin time: `RASK_SPIN_US` (microseconds, 0 disables) or the default.
fn spin() -> std::time::Duration {
    static SPIN: std::sync::OnceLock<std::time::Duration> = std::sync::OnceLock::new();
    *SPIN.get_or_init(|| {
        let us = std::env::var("RASK_SPIN_US")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(SPIN_DEFAULT_US);
        std::time::Duration::from_micros(us)
    })
}

/// How often a paused compute thread looks again (and returns freed memory).
const PAUSED_POLL: std::time::Duration = std::time::Duration::from_millis(100);

/// A fixed pool of compute threads.
pub struct ComputePool {
    shared: Arc<Shared>,
    threads: Vec<JoinHandle<()>>,
}

impl ComputePool {
    /// Starts `nthreads` threads named after `name`; tasks they run see `context`.
    pub fn new(name: &str, nthreads: usize, context: Arc<WorkerContext>) -> std::io::Result<Self> {
        let n = nthreads.max(1);
        let shared = Arc::new(Shared {
            queue: Default::default(),
            ready: Condvar::new(),
            executing: AtomicUsize::new(0),
            queued: AtomicUsize::new(0),
            paused: Default::default(),
            release: Default::default(),
            target: AtomicUsize::new(n),
            alive: AtomicUsize::new(0),
            name: name.to_string(),
            context,
            secede_hook: Default::default(),
        });
        let mut threads = Vec::new();
        for _ in 0..n {
            threads.push(spawn_thread(&shared)?);
        }
        Ok(ComputePool { shared, threads })
    }

    /// What tasks of this pool can reach.
    pub fn context(&self) -> &Arc<WorkerContext> {
        &self.shared.context
    }

    /// Sets the hook called when a job first secedes (once; later calls are ignored).
    pub fn set_secede_hook(&self, hook: SecedeHook) {
        let _ = self.shared.secede_hook.set(hook);
    }

    /// Threads running now (more than the pool's size while tasks are seceded).
    pub fn threads(&self) -> usize {
        self.shared.alive.load(Ordering::Acquire)
    }

    /// Queues a job.
    pub fn submit(&self, job: Job) {
        let mut q = self.shared.queue.lock().expect("pool lock");
        q.1 += 1;
        let seq = q.1;
        q.0.push(Queued {
            priority: job.priority,
            seq,
            job,
        });
        self.shared.queued.fetch_add(1, Ordering::Release);
        drop(q);
        self.shared.ready.notify_one();
    }

    /// Jobs running right now.
    pub fn executing(&self) -> usize {
        self.shared.executing.load(Ordering::Relaxed)
    }

    /// Makes compute threads hand freed memory back to the OS after every job (`true`) or
    /// leave it to the allocator (`false`).
    pub fn set_release(&self, release: bool) {
        self.shared.release.store(release, Ordering::Relaxed);
    }

    /// Stops (`true`) or resumes (`false`) starting queued jobs; running jobs finish either way.
    pub fn set_paused(&self, paused: bool) {
        let q = self.shared.queue.lock().expect("pool lock");
        self.shared.paused.store(paused, Ordering::Release);
        drop(q);
        self.shared.ready.notify_all();
    }
}

impl Drop for ComputePool {
    fn drop(&mut self) {
        // Queued jobs are dropped; a running job finishes on its own thread, which then exits.
        // Not joined: a worker shutting down must not wait for a long task.
        let mut q = self.shared.queue.lock().expect("pool lock");
        q.2 = true;
        q.0.clear();
        self.shared.queued.store(0, Ordering::Release);
        drop(q);
        self.shared.ready.notify_all();
        self.threads.clear();
    }
}

fn spin_for_work(shared: &Shared) {
    let start = std::time::Instant::now();
    let limit = spin();
    while shared.queued.load(Ordering::Acquire) == 0 && start.elapsed() < limit {
        std::thread::yield_now();
    }
}

fn spawn_thread(shared: &Arc<Shared>) -> std::io::Result<JoinHandle<()>> {
    let i = shared.alive.fetch_add(1, Ordering::AcqRel);
    let s = shared.clone();
    std::thread::Builder::new()
        .name(format!("{}-compute-{i}", shared.name))
        .spawn(move || run(&s))
        .inspect_err(|_| {
            shared.alive.fetch_sub(1, Ordering::AcqRel);
        })
}

/// What the tasks of a pool reach.
pub(super) fn context_of(shared: &Shared) -> &WorkerContext {
    &shared.context
}

/// The pool's secede hook, if set.
pub(super) fn secede_hook(shared: &Shared) -> Option<&SecedeHook> {
    shared.secede_hook.get()
}

/// A job seceded: one more thread may run.
pub(super) fn grow(shared: &Arc<Shared>) {
    let target = shared.target.fetch_add(1, Ordering::AcqRel) + 1;
    if shared.alive.load(Ordering::Acquire) < target {
        if let Err(e) = spawn_thread(shared) {
            tracing::error!("cannot start a compute thread for a seceded task: {e}");
        }
    }
}

/// A seceded job rejoined: the pool shrinks back as threads go idle.
pub(super) fn shrink(shared: &Shared) {
    shared.target.fetch_sub(1, Ordering::AcqRel);
    let q = shared.queue.lock().expect("pool lock");
    drop(q);
    shared.ready.notify_all();
}

/// True (and counted out) if this thread is one too many and should exit.
fn surplus(shared: &Shared) -> bool {
    let mut alive = shared.alive.load(Ordering::Acquire);
    while alive > shared.target.load(Ordering::Acquire) {
        match shared
            .alive
            .compare_exchange(alive, alive - 1, Ordering::AcqRel, Ordering::Acquire)
        {
            Ok(_) => return true,
            Err(now) => alive = now,
        }
    }
    false
}

fn run(shared: &Arc<Shared>) {
    loop {
        if surplus(shared) {
            return;
        }
        spin_for_work(shared);
        let job = {
            let mut q = shared.queue.lock().expect("pool lock");
            loop {
                if q.2 {
                    shared.alive.fetch_sub(1, Ordering::AcqRel);
                    return;
                }
                if surplus(shared) {
                    return;
                }
                let paused = shared.paused.load(Ordering::Acquire);
                if let Some(item) = if paused { None } else { q.0.pop() } {
                    shared.queued.fetch_sub(1, Ordering::Release);
                    break item.job;
                }
                if paused {
                    // Freed values may be this thread's allocations: hand them back to the OS
                    // while paused, or memory could stay high because nothing runs here.
                    crate::datastore::memory::release_memory();
                    q = shared
                        .ready
                        .wait_timeout(q, PAUSED_POLL)
                        .expect("pool lock")
                        .0;
                    continue;
                }
                q = shared.ready.wait(q).expect("pool lock");
            }
        };
        shared.executing.fetch_add(1, Ordering::Relaxed);
        let Job {
            entry,
            args,
            done,
            taken,
            key,
            attempt,
            ..
        } = job;
        if !try_take(&taken) {
            shared.executing.fetch_sub(1, Ordering::Relaxed);
            done(
                Err((
                    TaskErrorKind::Cancelled,
                    "cancelled before it started".into(),
                )),
                0,
            );
            continue;
        }
        let start = std::time::Instant::now();
        let running = context::enter(key, attempt, shared.clone());
        let result = catch_unwind(AssertUnwindSafe(|| (entry.invoke)(&args)))
            .unwrap_or_else(|panic| Err((TaskErrorKind::Panicked, panic_message(&panic))));
        drop(running);
        let micros = start.elapsed().as_micros() as u64;
        shared.executing.fetch_sub(1, Ordering::Relaxed);
        done(result, micros);
        if shared.release.load(Ordering::Relaxed) {
            drop(args);
            crate::datastore::memory::release_memory();
        }
    }
}

/// Takes a job's flag: true for the first taker only. The pool takes a job as it starts it;
/// a cancel or a steal that takes it first keeps it from running.
pub fn try_take(taken: &std::sync::atomic::AtomicBool) -> bool {
    !taken.swap(true, Ordering::AcqRel)
}

/// The text of a panic payload.
pub fn panic_message(panic: &Box<dyn std::any::Any + Send>) -> String {
    if let Some(s) = panic.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = panic.downcast_ref::<String>() {
        s.clone()
    } else {
        "panic with a non-string payload".to_string()
    }
}
