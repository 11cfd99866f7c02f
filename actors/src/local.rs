//! A whole cluster in one process: a scheduler and workers, each on its own actix thread,
//! talking over real ZeroMQ sockets on loopback (ports chosen by the OS).

use crate::datastore::MemoryConfig;
use crate::runtime::ActorThread;
use crate::scheduler::{start_scheduler, CoreConfig, SchedulerConfig};
use crate::worker::{Worker, WorkerConfig};
use crate::Result;
use std::time::Duration;

/// How a local cluster is set up.
#[derive(Debug, Clone)]
pub struct LocalConfig {
    /// Number of workers.
    pub workers: usize,
    /// Compute threads per worker.
    pub threads_per_worker: usize,
    /// Host to bind on.
    pub host: String,
    /// Scheduler port (0: any free port).
    pub port: u16,
    /// Heartbeat interval.
    pub heartbeat: Duration,
    /// Scheduler core settings (TTLs, allowed failures).
    pub core: CoreConfig,
    /// Each worker's memory settings. `auto` shares the machine's memory among the workers;
    /// note that all of them (and the scheduler) are one process here, so the thresholds on
    /// process memory (spill, pause, terminate) see everyone's memory.
    pub memory: MemoryConfig,
}

impl Default for LocalConfig {
    fn default() -> Self {
        LocalConfig {
            workers: 2,
            threads_per_worker: 1,
            host: "127.0.0.1".into(),
            port: 0,
            heartbeat: Duration::from_millis(500),
            core: CoreConfig::default(),
            memory: MemoryConfig::default(),
        }
    }
}

/// A running in-process cluster. Dropping it stops every actor.
pub struct LocalCluster {
    address: String,
    config: LocalConfig,
    workers: Vec<Option<ActorThread>>,
    // Declared last: stopped after the workers.
    _scheduler: ActorThread,
}

impl LocalCluster {
    /// Starts the scheduler and the workers, and waits until every worker registered.
    pub async fn start(config: LocalConfig) -> Result<LocalCluster> {
        let sconf = SchedulerConfig {
            listen: format!("tcp://{}:{}", config.host, config.port),
            heartbeat: config.heartbeat,
            core: config.core.clone(),
            journal_dir: None,
            max_frame_bytes: None,
        };
        let (scheduler, handle) =
            ActorThread::spawn("rask-scheduler", move || start_scheduler(sconf)).await?;
        let mut cluster = LocalCluster {
            address: handle.endpoint,
            config,
            workers: Vec::new(),
            _scheduler: scheduler,
        };
        for _ in 0..cluster.config.workers {
            cluster.add_worker().await?;
        }
        Ok(cluster)
    }

    /// The scheduler address to connect clients to.
    pub fn address(&self) -> &str {
        &self.address
    }

    /// Starts one more worker; returns its index.
    pub async fn add_worker(&mut self) -> Result<usize> {
        let index = self.workers.len();
        let wconf = WorkerConfig {
            scheduler: self.address.clone(),
            name: Some(format!("local-{index}")),
            nthreads: self.config.threads_per_worker,
            listen: format!("tcp://{}:0", self.config.host),
            memory: MemoryConfig {
                host_workers: self.config.memory.host_workers.max(self.config.workers),
                ..self.config.memory.clone()
            },
            ..WorkerConfig::default()
        };
        let (thread, _addr) = ActorThread::spawn(&format!("rask-worker-{index}"), move || {
            Worker::start(wconf)
        })
        .await?;
        self.workers.push(Some(thread));
        Ok(index)
    }

    /// Stops worker `index` abruptly (its sockets close; the scheduler sees it leave).
    pub fn stop_worker(&mut self, index: usize) -> bool {
        match self.workers.get_mut(index).and_then(Option::take) {
            Some(t) => {
                t.stop();
                true
            }
            None => false,
        }
    }

    /// Workers currently running.
    pub fn running_workers(&self) -> usize {
        self.workers.iter().filter(|w| w.is_some()).count()
    }
}
