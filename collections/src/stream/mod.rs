//! `stream`: pipelines over unbounded events that run on the cluster.
//!
//! A [`Stream`] reads events from a [`Source`] (an iterator, a coordination queue, a ZeroMQ
//! PULL/SUB socket, a directory of arriving files, a followed text file), applies element
//! operations of registered functions (`map`, `filter`, `flat_map`), optionally aggregates
//! them in tumbling or sliding windows or as running per-key state, and hands the results to
//! a [`Sink`] (a callback, a queue, files, a ZeroMQ PUSH/PUB socket).
//!
//! Events travel in micro-batches: a driver thread in the client cuts the stream into batches
//! (by count, by time, and at window pane boundaries), submits one task per batch that runs
//! the whole chain of operations on a worker ([`plan`]), and folds windowed pipelines into
//! per-pane, per-key partial aggregates there; the driver combines the partials of each
//! window ([`window`]) and emits the window once its time has passed.
//!
//! - **Back-pressure.** At most `max_in_flight` batches are on the cluster at once; the driver
//!   waits for the sink to take each delivery and reads the source only when a batch may be
//!   sent, so a slow sink or a slow cluster slows the source instead of growing memory. At
//!   most `(max_in_flight + 3) × max_events` events are held anywhere.
//! - **At-least-once.** A batch whose worker dies before its result is fetched is recomputed
//!   by the scheduler from its task (the events travel inside it): every event reaches the
//!   sink, and registered functions may run more than once on some events. Results reach the
//!   sink in order and once per run of the driver; a driver that dies loses what it holds.
//!
//! ```no_run
//! # async fn f(client: rask_actors::client::Client) -> rask_collections::Result<()> {
//! use rask_collections::stream::{funcs, Sink, Source, Stream, Window};
//! use std::time::Duration;
//! let handle = Stream::from_source(Source::iter(0..1_000_000i64))
//!     .window(Window::tumbling(Duration::from_secs(1)))?
//!     .sum()
//!     .start(&client, Sink::for_each(|w: rask_collections::stream::Windowed<(), i64>| {
//!         println!("{} .. {}: {}", w.start_ms, w.end_ms, w.value)
//!     }))?;
//! let stats = handle.wait().await?;
//! # let _ = (stats, funcs::tick_triple); Ok(()) }
//! ```

pub mod acc;
pub mod batcher;
mod driver;
pub mod funcs;
mod handle;
pub mod plan;
pub mod sink;
pub mod source;
pub mod window;

pub use handle::{StreamHandle, StreamStats};
pub use sink::Sink;
pub use source::{Endpoint, Source};
pub use window::{Shape, Windowed};

use crate::bag::native::{Native, Numeric};
use crate::bag::ops::Op;
use crate::bag::Items;
use crate::{Error, Result};
use acc::AggSpec;
use driver::{Config, Timing};
use plan::{BatchPlan, FoldPlan, TimePlan};
use rask_actors::client::Client;
use rask_actors::worker::registry::TaskFunction;
use rask_protocol::encode_value;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use std::marker::PhantomData;
use std::time::Duration;

/// How micro-batches are cut and how many may be on the cluster.
#[derive(Debug, Clone, Copy)]
struct Options {
    max_events: u64,
    max_delay: Duration,
    max_in_flight: usize,
    take: Option<u64>,
}

/// A pipeline of element operations over events of type `T`.
pub struct Stream<T> {
    source: source::Kind,
    ops: Vec<Op>,
    opts: Options,
    _t: PhantomData<fn() -> T>,
}

/// A window's shape in time: [`Window::tumbling`] or [`Window::sliding`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window(Shape);

fn ms(d: Duration) -> i64 {
    d.as_millis().min(i64::MAX as u128) as i64
}

impl Window {
    /// Back-to-back windows of `size` (at least 1 ms).
    pub fn tumbling(size: Duration) -> Window {
        Window(Shape::Sliding {
            size_ms: ms(size),
            slide_ms: ms(size),
        })
    }

    /// Windows of `size` starting every `slide` (`slide` must divide `size`).
    pub fn sliding(size: Duration, slide: Duration) -> Window {
        Window(Shape::Sliding {
            size_ms: ms(size),
            slide_ms: ms(slide),
        })
    }
}

impl<T> Stream<T> {
    /// A stream of a source's events. Defaults: batches of up to 1,000 events or 5 ms,
    /// 4 batches in flight.
    pub fn from_source(source: Source<T>) -> Stream<T> {
        Stream {
            source: source.kind,
            ops: Vec::new(),
            opts: Options {
                max_events: 1000,
                max_delay: Duration::from_millis(5),
                max_in_flight: 4,
                take: None,
            },
            _t: PhantomData,
        }
    }

    fn then<U>(mut self, ops: impl IntoIterator<Item = Op>) -> Stream<U> {
        self.ops.extend(ops);
        Stream {
            source: self.source,
            ops: self.ops,
            opts: self.opts,
            _t: PhantomData,
        }
    }

    /// Applies a registered function to every event.
    pub fn map<F: TaskFunction<Params = (T,)>>(self, _f: F) -> Stream<F::Output> {
        self.then([Op::Map(F::NAME.to_string())])
    }

    /// Keeps the events for which a registered predicate is true.
    pub fn filter<F: TaskFunction<Params = (T,), Output = bool>>(self, _f: F) -> Stream<T> {
        self.then([Op::Filter(F::NAME.to_string())])
    }

    /// Applies a registered function returning [`Items`] and flattens the results.
    pub fn flat_map<U, F>(self, _f: F) -> Stream<U>
    where
        F: TaskFunction<Params = (T,), Output = Items<U>>,
    {
        self.then([Op::Map(F::NAME.to_string()), Op::FlattenItems])
    }

    /// Micro-batches of at most `max_events` events, each sent at most `max_delay` after its
    /// first event arrived (smaller: lower latency; larger: higher throughput).
    pub fn batch(mut self, max_events: usize, max_delay: Duration) -> Stream<T> {
        self.opts.max_events = max_events.max(1) as u64;
        self.opts.max_delay = max_delay;
        self
    }

    /// At most `n` batches on the cluster at once (the back-pressure bound; at least 1).
    pub fn max_in_flight(mut self, n: usize) -> Stream<T> {
        self.opts.max_in_flight = n.max(1);
        self
    }

    /// Ends the stream after `n` events were read from the source.
    pub fn take(mut self, n: u64) -> Stream<T> {
        self.opts.take = Some(n);
        self
    }

    /// Groups events by a registered key function, for keyed windows or running state.
    pub fn key_by<F: TaskFunction<Params = (T,)>>(self, _f: F) -> KeyedStream<F::Output, T> {
        KeyedStream {
            stream: self,
            key: F::NAME.to_string(),
            _k: PhantomData,
        }
    }

    /// Aggregates events in windows (arrival time unless
    /// [`event_time`](WindowStream::event_time) is set).
    pub fn window(self, window: Window) -> Result<WindowStream<(), T>> {
        WindowStream::new(self, None, window)
    }
}

impl<T: DeserializeOwned + Serialize + Send + 'static> Stream<T> {
    /// Starts the stream on its own driver thread; results go to `sink`.
    pub fn start(self, client: &Client, sink: Sink<T>) -> Result<StreamHandle> {
        let plan = BatchPlan {
            ops: self.ops,
            fold: None,
        };
        handle::start(client, self.source, plan, None, self.opts, sink)
    }
}

/// A stream whose events are grouped by key.
pub struct KeyedStream<K, T> {
    stream: Stream<T>,
    key: String,
    _k: PhantomData<fn() -> K>,
}

impl<K, T> KeyedStream<K, T> {
    /// Aggregates each key's events in windows.
    pub fn window(self, window: Window) -> Result<WindowStream<K, T>> {
        WindowStream::new(self.stream, Some(self.key), window)
    }

    /// Keeps a running aggregate per key for the whole stream, reported as a [`KeyState`]
    /// after every batch that touched the key.
    pub fn state(self) -> StateStream<K, T> {
        StateStream {
            stream: self.stream,
            key: self.key,
            _k: PhantomData,
        }
    }
}

/// The running aggregate of one key.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct KeyState<K, A> {
    /// The key.
    pub key: K,
    /// Events of this key so far.
    pub events: u64,
    /// The aggregate so far.
    pub value: A,
}

/// A windowed stream waiting for its aggregate.
pub struct WindowStream<K, T> {
    stream: Stream<T>,
    key: Option<String>,
    shape: Shape,
    time: Option<(String, i64)>,
    _k: PhantomData<fn() -> K>,
}

impl<K, T> WindowStream<K, T> {
    fn new(stream: Stream<T>, key: Option<String>, window: Window) -> Result<Self> {
        let shape = window.0.check().map_err(Error::Invalid)?;
        Ok(WindowStream {
            stream,
            key,
            shape,
            time: None,
            _k: PhantomData,
        })
    }

    /// Places events in windows by a registered timestamp function (milliseconds) instead
    /// of their arrival; a window closes once an event `allowed_lateness` past its end has
    /// been seen, and later events of it are counted as late
    /// ([`StreamStats::late_events`]), not aggregated.
    pub fn event_time<F>(mut self, _f: F, allowed_lateness: Duration) -> Self
    where
        F: TaskFunction<Params = (T,), Output = i64>,
    {
        self.time = Some((F::NAME.to_string(), ms(allowed_lateness)));
        self
    }

    fn aggregate<O>(self, agg: AggSpec) -> Aggregated<O> {
        let (time, timing) = match self.time {
            Some((func, lateness_ms)) => (
                TimePlan::Event {
                    func,
                    slide_ms: self.shape.slide_ms(),
                },
                Timing::Event { lateness_ms },
            ),
            None => (TimePlan::Arrival { pane: 0 }, Timing::Arrival),
        };
        Aggregated::new(self.stream, self.key, time, agg, (self.shape, timing))
    }
}

/// A keyed stream keeping running state, waiting for its aggregate.
pub struct StateStream<K, T> {
    stream: Stream<T>,
    key: String,
    _k: PhantomData<fn() -> K>,
}

impl<K, T> StateStream<K, T> {
    fn aggregate<O>(self, agg: AggSpec) -> Aggregated<O> {
        let time = TimePlan::Arrival { pane: 0 };
        let window = (Shape::Running, Timing::Arrival);
        Aggregated::new(self.stream, Some(self.key), time, agg, window)
    }
}

macro_rules! aggregates {
    ($ty:ident, $out:ident) => {
        impl<K, T> $ty<K, T> {
            /// Counts events.
            pub fn count(self) -> Aggregated<$out<K, u64>> {
                self.aggregate(AggSpec::Count)
            }

            /// Folds events with registered functions: `binop(acc, event)` from `initial` on
            /// the workers, `combine(acc, acc)` for partials.
            pub fn fold<A, B, C>(
                self,
                _binop: B,
                _combine: C,
                initial: A,
            ) -> Result<Aggregated<$out<K, A>>>
            where
                A: Serialize,
                B: TaskFunction<Params = (A, T), Output = A>,
                C: TaskFunction<Params = (A, A), Output = A>,
            {
                let initial = serde_bytes::ByteBuf::from(encode_value(&initial)?.to_vec());
                Ok(self.aggregate(AggSpec::Fold {
                    binop: B::NAME.to_string(),
                    combine: C::NAME.to_string(),
                    initial,
                }))
            }
        }

        impl<K, T: Numeric> $ty<K, T> {
            /// Sums events.
            pub fn sum(self) -> Aggregated<$out<K, T>> {
                self.aggregate(AggSpec::Sum(T::KIND))
            }

            /// The mean of the events.
            pub fn mean(self) -> Aggregated<$out<K, f64>> {
                self.aggregate(AggSpec::Mean(T::KIND))
            }
        }

        impl<K, T: Native> $ty<K, T> {
            /// The least event.
            pub fn min(self) -> Aggregated<$out<K, T>> {
                self.aggregate(AggSpec::Min(T::KIND))
            }

            /// The greatest event.
            pub fn max(self) -> Aggregated<$out<K, T>> {
                self.aggregate(AggSpec::Max(T::KIND))
            }
        }
    };
}

aggregates!(WindowStream, Windowed);
aggregates!(StateStream, KeyState);

/// An aggregating pipeline ready to start; its results are `O`.
pub struct Aggregated<O> {
    source: source::Kind,
    plan: BatchPlan,
    window: (Shape, Timing),
    opts: Options,
    _o: PhantomData<fn() -> O>,
}

impl<O> Aggregated<O> {
    fn new<T>(
        stream: Stream<T>,
        key: Option<String>,
        time: TimePlan,
        agg: AggSpec,
        window: (Shape, Timing),
    ) -> Self {
        let plan = BatchPlan {
            ops: stream.ops,
            fold: Some(FoldPlan { key, time, agg }),
        };
        Aggregated {
            source: stream.source,
            plan,
            window,
            opts: stream.opts,
            _o: PhantomData,
        }
    }
}

impl<O: DeserializeOwned + Serialize + Send + 'static> Aggregated<O> {
    /// Starts the stream on its own driver thread; results go to `sink`.
    pub fn start(self, client: &Client, sink: Sink<O>) -> Result<StreamHandle> {
        handle::start(
            client,
            self.source,
            self.plan,
            Some(self.window),
            self.opts,
            sink,
        )
    }
}

impl Config {
    fn new(plan: BatchPlan, window: Option<(Shape, Timing)>, opts: Options) -> Config {
        Config {
            plan,
            window,
            max_events: opts.max_events,
            max_delay: opts.max_delay,
            max_in_flight: opts.max_in_flight,
            take: opts.take,
        }
    }
}
