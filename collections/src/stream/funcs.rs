//! Registered stream functions every stock `rask worker` knows: the ones `rask bench stream`
//! runs (ticks mapped and folded into per-window summaries) and small ones for keyed and
//! event-time pipelines over `(time, key, value)` events.

use rask_actors::task;
use serde::{Deserialize, Serialize};

/// A benchmark event: a sequence number, when it was sent (µs since the Unix epoch) and a
/// value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tick {
    /// Position in the stream.
    pub seq: u64,
    /// Send time, µs since the Unix epoch.
    pub sent_us: i64,
    /// Payload.
    pub value: i64,
}

/// What a window of ticks folds to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct TickSummary {
    /// Ticks.
    pub n: u64,
    /// Sum of their values.
    pub sum: i64,
    /// The latest send time among them (µs).
    pub last_sent_us: i64,
}

task! {
    /// A tick with its value tripled (the benchmark's map step).
    pub fn tick_triple(t: Tick) -> Tick { Tick { value: t.value * 3, ..t } }
}

task! {
    /// Adds a tick to a summary (the benchmark's window fold).
    pub fn tick_fold(acc: TickSummary, t: Tick) -> TickSummary {
        TickSummary {
            n: acc.n + 1,
            sum: acc.sum + t.value,
            last_sent_us: acc.last_sent_us.max(t.sent_us),
        }
    }
}

task! {
    /// Merges two tick summaries.
    pub fn tick_merge(a: TickSummary, b: TickSummary) -> TickSummary {
        TickSummary { n: a.n + b.n, sum: a.sum + b.sum, last_sent_us: a.last_sent_us.max(b.last_sent_us) }
    }
}

task! {
    /// The time (first field) of a `(time, key, value)` event.
    pub fn event_time(e: (i64, String, i64)) -> i64 { e.0 }
}

task! {
    /// The key (second field) of a `(time, key, value)` event.
    pub fn event_key(e: (i64, String, i64)) -> String { e.1 }
}

task! {
    /// The value (third field) of a `(time, key, value)` event.
    pub fn event_value(e: (i64, String, i64)) -> i64 { e.2 }
}

task! {
    /// An integer unchanged, after sleeping `x % 3` ms (a map slow enough that a batch is
    /// still running when a test kills its worker).
    pub fn dawdle(x: i64) -> i64 {
        std::thread::sleep(std::time::Duration::from_millis(x.rem_euclid(3) as u64));
        x
    }
}

task! {
    /// Adds the value of a `(time, key, value)` event to a running sum (a window fold).
    pub fn add_event_value(acc: i64, e: (i64, String, i64)) -> i64 { acc + e.2 }
}
