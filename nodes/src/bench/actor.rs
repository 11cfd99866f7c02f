//! `rask bench actor`: method calls on a stateful actor — one call at a time (round trip:
//! client → hosting worker's data-store → actor thread → back), and a pipelined burst of
//! calls sent back to back (calls per second, in order).

use super::stats::{percentile, round};
use anyhow::ensure;
use rask_actors::client::{ActorHandle, Client};
use serde_json::{json, Map, Value};
use std::time::Instant;

rask_actors::actor! {
    /// The benchmark's counter (linked into the `rask` binary, so stock workers host it).
    pub struct BenchCounter { n: i64 }
    /// Starts at `start`.
    fn new(start: i64) -> Self { BenchCounter { n: start } }
    /// What the benchmark calls.
    pub trait BenchCounterCalls {
        /// Adds `by`; returns the new count.
        fn add(&mut self, by: i64) -> i64 { self.n += by; self.n }
    }
}

/// `count` sequential calls, then `count` pipelined ones; every result checked.
pub fn actor(client: &Client, count: usize) -> anyhow::Result<Map<String, Value>> {
    let t = Instant::now();
    let counter: ActorHandle<BenchCounter> = client.actor_blocking((0i64,))?;
    let place_us = t.elapsed().as_secs_f64() * 1e6;
    let mut us = Vec::with_capacity(count);
    let mut ok = true;
    let t = Instant::now();
    for i in 1..=count as i64 {
        let s = Instant::now();
        ok &= counter.add(1).result()? == i;
        us.push(s.elapsed().as_secs_f64() * 1e6);
    }
    let sequential_s = t.elapsed().as_secs_f64();
    us.sort_by(f64::total_cmp);
    let t = Instant::now();
    let calls: Vec<_> = (0..count).map(|_| counter.add(1)).collect();
    for (i, call) in calls.into_iter().enumerate() {
        ok &= call.result()? == (count + i + 1) as i64;
    }
    let pipelined_s = t.elapsed().as_secs_f64();
    ensure!(!us.is_empty(), "--count must be at least 1");
    let figures = json!({
        "ok": ok,
        "count": count,
        "seconds": round(sequential_s + pipelined_s, 4),
        "place_us": round(place_us, 1),
        "median_us": round(percentile(&us, 50.0), 1),
        "p90_us": round(percentile(&us, 90.0), 1),
        "p99_us": round(percentile(&us, 99.0), 1),
        "min_us": round(us[0], 1),
        "pipelined_calls_per_s": round(count as f64 / pipelined_s, 1),
    });
    let Value::Object(m) = figures else {
        anyhow::bail!("the actor figures are not an object");
    };
    Ok(m)
}
