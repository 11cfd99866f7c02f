//! What a task running on a worker can reach: a client connected to the worker's scheduler
//! ([`worker_client`], one per worker process and scheduler, like Dask's `worker_client` /
//! `get_client`), leaving and rejoining the compute pool's count while it waits on other
//! tasks ([`secede`], [`rejoin`]; waiting on futures from a task secedes by itself), and the
//! worker's stateful actors (see [`super::actors`]).

use super::actors::{ActorHost, ActorObject};
use super::pool::{self, Shared};
use crate::client::Client;
use crate::{Error, Result};
use rask_protocol::Key;
use rustc_hash::FxHashMap as HashMap;
use std::cell::RefCell;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

/// One worker's side of what its tasks reach: its scheduler and its actors.
pub struct WorkerContext {
    scheduler: String,
    actors: Arc<ActorHost>,
}

/// Clients of tasks, by scheduler address: how many workers of this process use that
/// scheduler, and the client once a task asked for it.
type Clients = Mutex<HashMap<String, (usize, Option<Client>)>>;

fn clients() -> &'static Clients {
    static CLIENTS: OnceLock<Clients> = OnceLock::new();
    CLIENTS.get_or_init(Default::default)
}

impl WorkerContext {
    /// The context of a worker of `scheduler` (a normalized `tcp://` address) whose actors
    /// live in `actors`.
    pub fn new(scheduler: String, actors: Arc<ActorHost>) -> Self {
        clients()
            .lock()
            .expect("clients lock")
            .entry(scheduler.clone())
            .or_default()
            .0 += 1;
        WorkerContext { scheduler, actors }
    }

    /// The worker's actors.
    pub fn actors(&self) -> &Arc<ActorHost> {
        &self.actors
    }
}

impl Drop for WorkerContext {
    /// The last worker of a scheduler in this process is gone: close the tasks' client.
    fn drop(&mut self) {
        let gone = {
            let mut map = clients().lock().expect("clients lock");
            match map.get_mut(&self.scheduler) {
                Some((n, _)) if *n > 1 => {
                    *n -= 1;
                    None
                }
                Some(_) => map.remove(&self.scheduler).and_then(|(_, c)| c),
                None => None,
            }
        };
        drop(gone);
    }
}

/// The task running on this thread.
struct Running {
    key: Key,
    pool: Arc<Shared>,
    /// Secession state, made on the first secede or client wait (most tasks never wait, so
    /// running one allocates nothing for it).
    waits: Option<Arc<Waits>>,
    attempt: rask_protocol::Attempt,
    /// The scheduler was told (through the pool's secede hook).
    told: bool,
}

/// Whether one running task is seceded, and its client waits.
#[derive(Default)]
struct Waits {
    /// The task is seceded now.
    task_seceded: AtomicBool,
    /// Guards alive.
    live: std::sync::atomic::AtomicUsize,
    /// The first guard seceded (so the last one rejoins).
    seceded: AtomicBool,
}

thread_local! {
    static CURRENT: RefCell<Option<Running>> = const { RefCell::new(None) };
}

/// Marks the current thread as running `key` until dropped (the pool holds it around a job).
pub(super) struct Entered;

pub(super) fn enter(key: Key, attempt: rask_protocol::Attempt, pool: Arc<Shared>) -> Entered {
    CURRENT.with(|c| {
        *c.borrow_mut() = Some(Running {
            key,
            pool,
            waits: None,
            attempt,
            told: false,
        })
    });
    Entered
}

impl Drop for Entered {
    fn drop(&mut self) {
        if let Some(r) = CURRENT.with(|c| c.borrow_mut().take()) {
            // A task that returns while seceded gives its extra thread back.
            if r.waits
                .is_some_and(|w| w.task_seceded.swap(false, Ordering::AcqRel))
            {
                pool::shrink(&r.pool);
            }
        }
    }
}

/// True on a compute thread while it runs a task.
pub fn in_task() -> bool {
    CURRENT.with(|c| c.borrow().is_some())
}

/// The key of the task running on this thread, if any.
pub fn current_key() -> Option<Key> {
    CURRENT.with(|c| c.borrow().as_ref().map(|r| r.key.clone()))
}

/// A client connected to the scheduler of the worker running this task, for tasks that
/// submit tasks. One client per worker process and scheduler is made on first use and shared
/// by every task (also in an in-process `Client::local` cluster); it closes when the last
/// worker of that scheduler in the process stops. Waiting on its futures from the task
/// secedes (see [`secede`]), so a task tree deeper than the pool has threads does not
/// deadlock.
pub fn worker_client() -> Result<Client> {
    let scheduler = CURRENT
        .with(|c| {
            c.borrow()
                .as_ref()
                .map(|r| r.pool_context_scheduler().to_string())
        })
        .ok_or_else(|| {
            Error::Config("worker_client() is only available inside a task on a worker".into())
        })?;
    let mut map = clients().lock().expect("clients lock");
    let slot = map.entry(scheduler.clone()).or_default();
    if let Some(c) = &slot.1 {
        return Ok(c.clone());
    }
    let client = futures::executor::block_on(Client::connect_with(crate::client::ClientConfig {
        name: format!("worker-client-{}", std::process::id()),
        ..crate::client::ClientConfig::new(scheduler)
    }))?;
    slot.1 = Some(client.clone());
    Ok(client)
}

impl Running {
    fn waits(&mut self) -> &Arc<Waits> {
        self.waits.get_or_insert_with(Default::default)
    }

    fn pool_context_scheduler(&self) -> &str {
        &self.pool_context().scheduler
    }

    fn pool_context(&self) -> &WorkerContext {
        pool::context_of(&self.pool)
    }
}

/// Leaves the compute pool's count while this task waits on other tasks: the pool starts one
/// more thread and the scheduler stops counting the task against the worker's threads. Returns
/// false outside a task or when already seceded. [`rejoin`] undoes it; a task that returns
/// seceded rejoins by itself.
pub fn secede() -> bool {
    CURRENT.with(|c| {
        let mut c = c.borrow_mut();
        let Some(r) = c.as_mut() else {
            return false;
        };
        if r.waits().task_seceded.swap(true, Ordering::AcqRel) {
            return false;
        }
        pool::grow(&r.pool);
        if !std::mem::replace(&mut r.told, true) {
            if let Some(hook) = pool::secede_hook(&r.pool) {
                hook(r.key.clone(), r.attempt);
            }
        }
        true
    })
}

/// Counts this task against the pool again after [`secede`] (the pool shrinks back as a
/// thread goes idle). Returns false when the task was not seceded.
pub fn rejoin() -> bool {
    CURRENT.with(|c| match c.borrow().as_ref() {
        Some(Running {
            waits: Some(w),
            pool,
            ..
        }) if w.task_seceded.swap(false, Ordering::AcqRel) => {
            pool::shrink(pool);
            true
        }
        _ => false,
    })
}

/// Secedes for as long as it lives, while the task waits on futures: client waits
/// (`gather`, `result`, `wait`, `status`) hold one, so a task waiting on tasks it submitted
/// frees its thread. With several waits at once (e.g. `as_completed`), the first secedes and
/// the last to end rejoins; a task that seceded by hand stays seceded.
pub struct SecedeGuard {
    held: Option<(Arc<Waits>, Arc<Shared>)>,
}

impl SecedeGuard {
    /// Counts a wait of the task running on this thread (none outside a task).
    pub fn new() -> SecedeGuard {
        let held = CURRENT.with(|c| {
            c.borrow_mut()
                .as_mut()
                .map(|r| (r.waits().clone(), r.pool.clone()))
        });
        if let Some((waits, _)) = &held {
            if waits.live.fetch_add(1, Ordering::AcqRel) == 0 && secede() {
                waits.seceded.store(true, Ordering::Release);
            }
        }
        SecedeGuard { held }
    }
}

impl Default for SecedeGuard {
    fn default() -> Self {
        SecedeGuard::new()
    }
}

impl Drop for SecedeGuard {
    fn drop(&mut self) {
        if let Some((waits, pool)) = self.held.take() {
            let last = waits.live.fetch_sub(1, Ordering::AcqRel) == 1;
            if last
                && waits.seceded.swap(false, Ordering::AcqRel)
                && waits.task_seceded.swap(false, Ordering::AcqRel)
            {
                pool::shrink(&pool);
            }
        }
    }
}

/// Places a freshly created actor under the running task's key (actor creation tasks call
/// this; see [`super::actors`]).
pub(super) fn install_actor(actor: Box<dyn ActorObject>) -> std::result::Result<(), String> {
    CURRENT.with(|c| match c.borrow().as_ref() {
        Some(r) => {
            r.pool_context().actors.install(r.key.clone(), actor);
            Ok(())
        }
        None => Err("an actor can only be created by a task on a worker".into()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::worker::pool::{ComputePool, Job};
    use crate::worker::TaskFunction;
    use std::sync::mpsc;
    use std::time::{Duration, Instant};

    /// Lets the test drive `hold_seceded` from outside.
    static GATE: Mutex<Option<mpsc::Receiver<()>>> = Mutex::new(None);

    crate::task! {
        /// Test: secedes, waits for the gate, rejoins.
        fn hold_seceded() -> (bool, bool, bool) {
            // Two overlapping waits: the first secedes, the last rejoins.
            let a = SecedeGuard::new();
            let b = SecedeGuard::new();
            drop(a);
            assert!(!secede(), "still seceded while a wait is on");
            drop(b);
            assert!(!rejoin(), "the last wait rejoined");
            let first = secede();
            let again = secede();
            let rx = GATE.lock().unwrap().take().expect("a gate");
            rx.recv_timeout(Duration::from_secs(10)).expect("opened");
            (first, again, rejoin())
        }
    }

    crate::task! {
        /// Test: runs at all.
        fn plain() -> u8 { 7 }
    }

    fn job(
        entry: &'static crate::worker::registry::TaskEntry,
        key: &str,
        done: mpsc::Sender<(String, Vec<u8>)>,
    ) -> Job {
        let name = key.to_string();
        Job {
            priority: 0,
            entry,
            args: vec![],
            done: Box::new(move |r, _| {
                let _ = done.send((name, r.map(|b| b.to_vec()).unwrap_or_default()));
            }),
            taken: Default::default(),
            key: Key::new(key),
            attempt: rask_protocol::Attempt(1),
        }
    }

    fn wait_for(what: &str, mut f: impl FnMut() -> bool) {
        let start = Instant::now();
        while !f() {
            assert!(start.elapsed() < Duration::from_secs(10), "{what}");
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    // One thread: a seceded job lets a second job run beside it, the pool grows by one thread
    // and shrinks back once the job rejoined and finished.
    #[test]
    fn a_seceded_job_lends_its_thread_and_the_pool_shrinks_back() {
        let reg = crate::worker::Registry::global();
        let hold = reg.get(<hold_seceded as TaskFunction>::NAME).unwrap();
        let plain_entry = reg.get(<plain as TaskFunction>::NAME).unwrap();
        let ctx = WorkerContext::new("tcp://127.0.0.1:1".into(), ActorHost::new("t"));
        let pool = ComputePool::new("t", 1, Arc::new(ctx)).unwrap();
        let (gate, rx) = mpsc::channel();
        *GATE.lock().unwrap() = Some(rx);
        let (done, results) = mpsc::channel();
        let (seceded_tx, seceded) = mpsc::channel();
        let seceded_tx = Mutex::new(seceded_tx);
        pool.set_secede_hook(Arc::new(move |key, _| {
            seceded_tx.lock().unwrap().send(key).unwrap()
        }));
        pool.submit(job(hold, "hold", done.clone()));
        let told = seceded
            .recv_timeout(Duration::from_secs(10))
            .expect("the scheduler would be told");
        assert_eq!(told, Key::new("hold"));
        wait_for("a second thread", || pool.threads() == 2);
        pool.submit(job(plain_entry, "plain", done));
        let (name, _) = results.recv_timeout(Duration::from_secs(10)).unwrap();
        assert_eq!(name, "plain", "ran while the first job was seceded");
        gate.send(()).unwrap();
        let (name, out) = results.recv_timeout(Duration::from_secs(10)).unwrap();
        assert_eq!(name, "hold");
        let flags: (bool, bool, bool) = rask_protocol::decode_value(&out).unwrap();
        assert_eq!(flags, (true, false, true), "secede once, rejoin once");
        assert!(
            seceded.try_recv().is_err(),
            "the scheduler is told once per task"
        );
        wait_for("back to one thread", || pool.threads() == 1);
        assert!(
            !in_task() && !secede() && !rejoin(),
            "no task on this thread"
        );
        assert!(worker_client().is_err());
    }
}
