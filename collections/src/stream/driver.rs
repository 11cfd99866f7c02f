//! The stream driver: a loop on a thread of its own that takes events from the source, cuts
//! them into micro-batches, submits one batch task per batch (at most `max_in_flight` at a
//! time), takes the results in submission order, merges window partials, and hands
//! deliveries to the sink. Everything the driver holds is bounded: the source channel holds
//! one batch, `ready` at most two, the cluster at most `max_in_flight`.

use super::batcher::{Batcher, Cut};
use super::plan::{BatchOutput, BatchPlan, TimePlan, BATCH};
use super::sink::Deliver;
use super::source::{self, Kind};
use super::window::{Shape, WindowState};
use super::StreamStats;
use crate::bag::records::records;
use crate::{Error, Result};
use futures::stream::{FuturesOrdered, StreamExt};
use rask_actors::client::Client;
use rask_protocol::{encode_value, Arg, Key, TaskSpec};
use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{mpsc, watch};

/// How a windowed stream tells time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Timing {
    /// The driver's clock when it takes the event from the source.
    Arrival,
    /// A registered timestamp function; windows close `lateness_ms` after the greatest
    /// event time seen.
    Event {
        /// Allowed lateness.
        lateness_ms: i64,
    },
}

/// What the driver runs.
pub(crate) struct Config {
    pub plan: BatchPlan,
    pub window: Option<(Shape, Timing)>,
    pub max_events: u64,
    pub max_delay: Duration,
    pub max_in_flight: usize,
    pub take: Option<u64>,
}

/// Milliseconds since the Unix epoch.
pub(crate) fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

fn fail((kind, message): (rask_protocol::TaskErrorKind, String)) -> Error {
    Error::Stream(format!("window aggregate ({kind:?}): {message}"))
}

struct Driver {
    client: Client,
    cfg: Config,
    id: u64,
    seq: u64,
    windows: Option<WindowState>,
    max_event_ms: Option<i64>,
    /// First arrival time of each in-flight batch, in submission order.
    firsts: VecDeque<i64>,
    stats: Arc<Mutex<StreamStats>>,
}

type InFlight =
    FuturesOrdered<futures::future::BoxFuture<'static, rask_actors::Result<BatchOutput>>>;

impl Driver {
    fn submit(&mut self, cut: Cut, inflight: &mut InFlight) -> Result<()> {
        let mut plan = self.cfg.plan.clone();
        if let Some(fold) = &mut plan.fold {
            if let TimePlan::Arrival { pane } = &mut fold.time {
                *pane = cut.pane;
            }
        }
        let key = Key::new(format!("stream-{:016x}-{}", self.id, self.seq));
        self.seq += 1;
        let spec = TaskSpec {
            key,
            function: BATCH.to_string(),
            args: vec![Arg::Value(encode_value(&plan)?), Arg::Value(cut.events)],
            priority: 0,
            retries: 0,
            wanted: true,
            workers: Vec::new(),
        };
        let fut = self
            .client
            .submit_graph::<BatchOutput>(vec![spec])
            .pop()
            .ok_or_else(|| Error::Stream("the client returned no future for a batch".into()))?;
        inflight.push_back(Box::pin(async move { fut.get().await }));
        self.firsts.push_back(cut.first_ms);
        let mut s = self.stats.lock().expect("stats");
        s.batches_submitted += 1;
        s.in_flight = inflight.len();
        Ok(())
    }

    fn watermark(&self, batcher: &Batcher, now: i64) -> i64 {
        match self.cfg.window {
            Some((_, Timing::Event { lateness_ms })) => self
                .max_event_ms
                .map_or(i64::MIN, |m| m.saturating_sub(lateness_ms)),
            _ => {
                let mut w = now;
                if let Some(f) = self.firsts.front() {
                    w = w.min(*f);
                }
                if let Some(f) = batcher.first_ms() {
                    w = w.min(f);
                }
                w
            }
        }
    }

    /// Emits the windows complete at `watermark`.
    async fn close_windows(&mut self, sink: &mut dyn Deliver, watermark: i64) -> Result<()> {
        let Some(w) = &mut self.windows else {
            return Ok(());
        };
        let emits = w.advance(watermark).map_err(fail)?;
        let late = w.late_events();
        {
            let mut s = self.stats.lock().expect("stats");
            s.late_events = late;
            s.results_out += emits.len() as u64;
        }
        if !emits.is_empty() {
            sink.deliver(emits.into_iter().map(|e| e.record).collect())
                .await?;
        }
        Ok(())
    }

    async fn take_result(
        &mut self,
        out: BatchOutput,
        sink: &mut dyn Deliver,
        batcher: &Batcher,
    ) -> Result<()> {
        self.firsts.pop_front();
        match &mut self.windows {
            None => {
                let recs = records(&out.events)
                    .map_err(|(_, m)| Error::Malformed(format!("batch result: {m}")))?
                    .map(|r| r.map(<[u8]>::to_vec))
                    .collect::<std::result::Result<Vec<_>, _>>()
                    .map_err(|(_, m)| Error::Malformed(format!("batch result: {m}")))?;
                self.stats.lock().expect("stats").results_out += recs.len() as u64;
                sink.deliver(recs).await?;
            }
            Some(w) => {
                w.add(out.partials).map_err(fail)?;
                if let Some(m) = out.max_event_ms {
                    self.max_event_ms = Some(self.max_event_ms.map_or(m, |x| x.max(m)));
                }
                let wm = self.watermark(batcher, now_ms());
                self.close_windows(sink, wm).await?;
            }
        }
        self.stats.lock().expect("stats").batches_done += 1;
        Ok(())
    }
}

/// Runs a stream to its end (the source ends, `take` events were read, or `stop` is set).
pub(crate) async fn drive(
    client: Client,
    cfg: Config,
    source_kind: Kind,
    mut sink: Box<dyn Deliver>,
    mut stop: watch::Receiver<bool>,
    stats: Arc<Mutex<StreamStats>>,
) -> Result<StreamStats> {
    let max_events = cfg.max_events.max(1);
    let (tx, mut rx) = mpsc::channel(max_events.min(65_536) as usize);
    source::spawn(
        source_kind,
        tx,
        max_events.min(u32::MAX as u64) as u32,
        cfg.take,
    );
    let pane_ms = match cfg.window {
        Some((shape @ Shape::Sliding { .. }, Timing::Arrival)) => Some(shape.slide_ms()),
        _ => None,
    };
    let tick_ms = pane_ms.map(|p| p.min(50));
    let mut batcher = Batcher::new(
        max_events,
        cfg.max_delay.as_millis().min(i64::MAX as u128) as i64,
        pane_ms,
    );
    let max_in_flight = cfg.max_in_flight.max(1);
    let take = cfg.take;
    let mut d = Driver {
        client,
        windows: cfg.window.map(|(s, _)| {
            WindowState::new(s, cfg.plan.fold.as_ref().expect("windows fold").agg.clone())
        }),
        cfg,
        id: rand_id(),
        seq: 0,
        max_event_ms: None,
        firsts: VecDeque::new(),
        stats: stats.clone(),
    };
    let mut inflight: InFlight = FuturesOrdered::new();
    let mut ready: VecDeque<Cut> = VecDeque::new();
    let (mut source_done, mut stopping, mut read) = (false, false, 0u64);
    loop {
        let now = now_ms();
        ready.extend(batcher.poll(now));
        if source_done {
            ready.extend(batcher.take());
        }
        while inflight.len() < max_in_flight {
            let Some(cut) = ready.pop_front() else { break };
            d.submit(cut, &mut inflight)?;
        }
        if source_done && ready.is_empty() && inflight.is_empty() {
            break;
        }
        if pane_ms.is_some() && d.windows.as_ref().is_some_and(|w| w.panes() > 0) {
            let wm = d.watermark(&batcher, now);
            d.close_windows(sink.as_mut(), wm).await?;
        }
        let can_read = ready.is_empty() && !source_done;
        let mut wake = batcher.deadline_ms().unwrap_or(now + 100);
        if let Some(t) = tick_ms {
            wake = wake.min((now.div_euclid(t) + 1) * t);
        }
        let nap = Duration::from_millis((wake - now).clamp(0, 100) as u64);
        tokio::select! {
            biased;
            Some(res) = inflight.next(), if !inflight.is_empty() => {
                let out = res?;
                stats.lock().expect("stats").in_flight = inflight.len();
                d.take_result(out, sink.as_mut(), &batcher).await?;
            }
            _ = stop.changed(), if !stopping => {
                stopping = true;
                rx.close();
            }
            item = rx.recv(), if can_read => match item {
                Some(Ok(rec)) => {
                    read += 1;
                    stats.lock().expect("stats").events_in = read;
                    ready.extend(batcher.push(&rec, now_ms()));
                    if take.is_some_and(|t| read >= t) {
                        rx.close();
                        source_done = true;
                    }
                }
                Some(Err(e)) => return Err(e),
                None => source_done = true,
            },
            _ = tokio::time::sleep(nap) => {}
        }
    }
    d.close_windows(sink.as_mut(), i64::MAX).await?;
    sink.finish().await?;
    let s = stats.lock().expect("stats").clone();
    Ok(s)
}

fn rand_id() -> u64 {
    let mut h = xxhash_rust::xxh3::Xxh3::new();
    h.update(&std::process::id().to_le_bytes());
    h.update(&now_ms().to_le_bytes());
    static N: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    h.update(
        &N.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
            .to_le_bytes(),
    );
    h.digest()
}
