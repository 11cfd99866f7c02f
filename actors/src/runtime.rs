//! Actix systems on threads of their own. Actors must start inside an actix `System`, so any
//! program (a plain tokio service, a sync `main`, a test) hosts them through an [`ActorThread`].

use crate::{Error, Result};
use futures::channel::oneshot;
use std::future::Future;
use std::thread::JoinHandle;

/// A thread running an actix system until stopped (or dropped).
pub struct ActorThread {
    name: String,
    system: Option<actix_rt::System>,
    join: Option<JoinHandle<()>>,
}

impl ActorThread {
    /// Starts a thread with a new actix system, runs `setup` in it (start actors there), and
    /// keeps the system running when `setup` succeeds. Returns `setup`'s output.
    pub async fn spawn<F, Fut, T>(name: &str, setup: F) -> Result<(ActorThread, T)>
    where
        F: FnOnce() -> Fut + Send + 'static,
        Fut: Future<Output = Result<T>> + 'static,
        T: Send + 'static,
    {
        let (tx, rx) = oneshot::channel();
        let join = std::thread::Builder::new()
            .name(name.to_string())
            .spawn(move || {
                let runner = actix_rt::System::new();
                let system = actix_rt::System::current();
                let result = runner.block_on(setup());
                let ok = result.is_ok();
                let _ = tx.send((system, result));
                if ok {
                    let _ = runner.run();
                }
            })
            .map_err(|e| Error::Config(format!("cannot start thread {name}: {e}")))?;
        let (system, result) = rx
            .await
            .map_err(|_| Error::Closed(format!("{name} thread (panicked during start)")))?;
        let mut thread = ActorThread {
            name: name.to_string(),
            system: Some(system),
            join: Some(join),
        };
        match result {
            Ok(v) => Ok((thread, v)),
            Err(e) => {
                thread.join();
                Err(e)
            }
        }
    }

    /// The thread's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Stops the system (all its actors) and waits for the thread to end.
    pub fn stop(mut self) {
        self.shutdown();
    }

    fn shutdown(&mut self) {
        if let Some(system) = self.system.take() {
            system.stop();
        }
        self.join();
    }

    fn join(&mut self) {
        if let Some(j) = self.join.take() {
            if j.thread().id() != std::thread::current().id() {
                let _ = j.join();
            }
        }
    }
}

impl Drop for ActorThread {
    fn drop(&mut self) {
        self.shutdown();
    }
}
