//! The batch task: what a worker does with one micro-batch of a stream. It runs the fused
//! element operations (`map`, `filter`, `flat_map` of registered functions) on every event
//! and either returns the resulting events or folds them into per-pane (and per-key)
//! partial aggregates, which the driver combines into windows.

use super::acc::{Acc, AggSpec};
use crate::bag::ops::{Op, Pipeline, Sink, Where};
use crate::bag::records::{records, Fail, RecordsWriter};
use crate::raw::bad_args;
use bytes::Bytes;
use rask_actors::worker::registry::{InvokeResult, Registry, TaskEntry};
use rask_protocol::{decode_value, encode_value, TaskErrorKind};
use rustc_hash::FxHashMap;
use serde::{Deserialize, Serialize};
use serde_bytes::ByteBuf;

crate::raw_task! {
    /// Registered name of the stream batch task.
    pub const BATCH = "rask_collections::stream::batch" => run_batch
}

/// How the events of a batch are placed in time.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum TimePlan {
    /// Arrival time: the driver cut the batch so that all its events fall in this pane.
    Arrival {
        /// The batch's pane.
        pane: i64,
    },
    /// Event time: a registered `fn(T) -> i64` gives each event's time in milliseconds.
    Event {
        /// The timestamp function.
        func: String,
        /// Pane length in milliseconds (the window's slide).
        slide_ms: i64,
    },
}

/// The aggregating end of a windowed or keyed pipeline.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FoldPlan {
    /// A registered `fn(T) -> K` giving each event's key (`None`: one key).
    pub key: Option<String>,
    /// Time placement.
    pub time: TimePlan,
    /// The aggregate.
    pub agg: AggSpec,
}

/// Everything a batch task does, apart from its events.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BatchPlan {
    /// Element operations, in order.
    pub ops: Vec<Op>,
    /// Fold the results (`None`: return them as events).
    pub fold: Option<FoldPlan>,
}

/// One pane's partial aggregate for one key.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Partial {
    /// Pane number (time / slide).
    pub pane: i64,
    /// The key's encoding (empty without a key function).
    pub key: ByteBuf,
    /// Events folded in.
    pub n: u64,
    /// The partial aggregate.
    pub acc: Acc,
}

/// What a batch task returns.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct BatchOutput {
    /// Result events in the partition format (pipelines without a fold).
    pub events: ByteBuf,
    /// Partial aggregates (pipelines with a fold).
    pub partials: Vec<Partial>,
    /// The greatest event time seen (event-time folds).
    pub max_event_ms: Option<i64>,
}

fn entry(name: &str) -> Result<&'static TaskEntry, Fail> {
    Registry::global().get(name).ok_or_else(|| {
        (
            TaskErrorKind::UnknownFunction,
            format!("function {name} is not registered on this worker"),
        )
    })
}

enum Time {
    Arrival(i64),
    Event(&'static TaskEntry, i64),
}

/// The worker-side sink of a folding batch.
struct Folder {
    key: Option<&'static TaskEntry>,
    time: Time,
    agg: AggSpec,
    binop: Option<&'static TaskEntry>,
    index: FxHashMap<(i64, Bytes), usize>,
    parts: Vec<Partial>,
    max_event_ms: Option<i64>,
}

impl Folder {
    fn new(plan: &FoldPlan) -> Result<Folder, Fail> {
        let time = match &plan.time {
            TimePlan::Arrival { pane } => Time::Arrival(*pane),
            TimePlan::Event { func, slide_ms } if *slide_ms > 0 => {
                Time::Event(entry(func)?, *slide_ms)
            }
            TimePlan::Event { .. } => return Err(bad_args("window slide must be positive")),
        };
        let binop = match &plan.agg {
            AggSpec::Fold { binop, .. } => Some(entry(binop)?),
            _ => None,
        };
        Ok(Folder {
            key: plan.key.as_deref().map(entry).transpose()?,
            time,
            agg: plan.agg.clone(),
            binop,
            index: FxHashMap::default(),
            parts: Vec::new(),
            max_event_ms: None,
        })
    }
}

fn call(e: &TaskEntry, rec: &[u8]) -> Result<Bytes, Fail> {
    let short = e.name.rsplit("::").next().unwrap_or(e.name);
    (e.invoke)(&[Bytes::copy_from_slice(rec)]).map_err(|(k, m)| (k, format!("{short}: {m}")))
}

impl Sink for Folder {
    fn push(&mut self, rec: &[u8]) -> Result<bool, Fail> {
        let pane = match &self.time {
            Time::Arrival(p) => *p,
            Time::Event(f, slide) => {
                let ts: i64 = decode_value(&call(f, rec)?)
                    .map_err(|e| bad_args(format!("timestamp is not an i64: {e}")))?;
                self.max_event_ms = Some(self.max_event_ms.map_or(ts, |m| m.max(ts)));
                ts.div_euclid(*slide)
            }
        };
        let key = match self.key {
            Some(f) => call(f, rec)?,
            None => Bytes::new(),
        };
        let i = match self.index.get(&(pane, key.clone())) {
            Some(i) => *i,
            None => {
                self.parts.push(Partial {
                    pane,
                    key: ByteBuf::from(key.to_vec()),
                    n: 0,
                    acc: Acc::empty(&self.agg),
                });
                self.index.insert((pane, key), self.parts.len() - 1);
                self.parts.len() - 1
            }
        };
        let p = &mut self.parts[i];
        p.n += 1;
        p.acc.add(&self.agg, self.binop, rec)?;
        Ok(true)
    }
}

struct Collect(RecordsWriter);

impl Sink for Collect {
    fn push(&mut self, rec: &[u8]) -> Result<bool, Fail> {
        self.0.push(rec);
        Ok(true)
    }
}

/// Runs one batch: `args[0]` is the encoded [`BatchPlan`], `args[1]` the events in the
/// partition format. Returns an encoded [`BatchOutput`].
pub fn run_batch(args: &[Bytes]) -> InvokeResult {
    let plan: BatchPlan = decode_value(args.first().ok_or_else(|| bad_args("no plan"))?)
        .map_err(|e| bad_args(format!("stream plan does not decode: {e}")))?;
    let events = args.get(1).ok_or_else(|| bad_args("no events"))?;
    let pipeline = Pipeline::compile(&plan.ops)?;
    let mut at = Where::default();
    let out = match &plan.fold {
        None => {
            let mut sink = Collect(RecordsWriter::new());
            for (i, r) in records(events)?.enumerate() {
                at.element = i as u64;
                pipeline.push(r?, &at, &mut sink)?;
            }
            BatchOutput {
                events: ByteBuf::from(sink.0.finish().to_vec()),
                ..BatchOutput::default()
            }
        }
        Some(fold) => {
            let mut sink = Folder::new(fold)?;
            for (i, r) in records(events)?.enumerate() {
                at.element = i as u64;
                pipeline.push(r?, &at, &mut sink)?;
            }
            BatchOutput {
                events: ByteBuf::new(),
                partials: sink.parts,
                max_event_ms: sink.max_event_ms,
            }
        }
    };
    encode_value(&out).map_err(|e| {
        (
            TaskErrorKind::Failed,
            format!("cannot encode batch output: {e}"),
        )
    })
}
