//! A running stream: its driver thread, a way to stop it, and its figures.

use super::driver::{self, Config, Timing};
use super::plan::BatchPlan;
use super::sink::Sink;
use super::source;
use super::window::Shape;
use super::Options;
use crate::{Error, Result};
use futures::channel::oneshot;
use rask_actors::client::Client;
use std::sync::{Arc, Mutex};
use tokio::sync::watch;

/// What a stream has done so far.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StreamStats {
    /// Events read from the source.
    pub events_in: u64,
    /// Results handed to the sink (events, windows or key states).
    pub results_out: u64,
    /// Batches submitted to the cluster.
    pub batches_submitted: u64,
    /// Batches whose results were taken.
    pub batches_done: u64,
    /// Batches on the cluster now.
    pub in_flight: usize,
    /// Event-time events that came after all their windows were emitted (not aggregated).
    pub late_events: u64,
}

/// A running stream. Dropping it stops the stream (as [`StreamHandle::stop`]).
pub struct StreamHandle {
    stop: watch::Sender<bool>,
    done: Option<oneshot::Receiver<Result<StreamStats>>>,
    stats: Arc<Mutex<StreamStats>>,
}

pub(super) fn start<T>(
    client: &Client,
    source: source::Kind,
    plan: BatchPlan,
    window: Option<(Shape, Timing)>,
    opts: Options,
    sink: Sink<T>,
) -> Result<StreamHandle> {
    let cfg = Config::new(plan, window, opts);
    let (stop, stop_rx) = watch::channel(false);
    let (done_tx, done) = oneshot::channel();
    let stats = Arc::new(Mutex::new(StreamStats::default()));
    let (client, shared) = (client.clone(), stats.clone());
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| Error::Stream(format!("cannot start the stream's runtime: {e}")))?;
    std::thread::Builder::new()
        .name("rask-stream".into())
        .spawn(move || {
            let run = driver::drive(client, cfg, source, sink.inner, stop_rx, shared);
            let result = rt.block_on(run);
            // Sources blocked in an iterator or a file wait are not waited for.
            rt.shutdown_background();
            let _ = done_tx.send(result);
        })
        .map_err(|e| Error::Stream(format!("cannot start the stream's thread: {e}")))?;
    Ok(StreamHandle {
        stop,
        done: Some(done),
        stats,
    })
}

impl StreamHandle {
    /// Stops reading the source; what was read is still processed and delivered, open
    /// windows are emitted, then the stream ends.
    pub fn stop(&self) {
        let _ = self.stop.send(true);
    }

    /// The figures so far.
    pub fn stats(&self) -> StreamStats {
        self.stats.lock().expect("stats").clone()
    }

    /// Waits for the stream to end: its final figures, or the error that ended it (a
    /// failed task, a source or sink failure, a lost cluster).
    pub async fn wait(mut self) -> Result<StreamStats> {
        let done = self.done.take().expect("waited once");
        done.await
            .map_err(|_| Error::Stream("the stream's driver thread died".into()))?
    }

    /// Blocking form of [`StreamHandle::wait`].
    pub fn join(self) -> Result<StreamStats> {
        futures::executor::block_on(self.wait())
    }
}

impl Drop for StreamHandle {
    fn drop(&mut self) {
        if self.done.is_some() {
            self.stop();
        }
    }
}
