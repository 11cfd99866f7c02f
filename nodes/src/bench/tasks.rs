//! Task-overhead benchmarks: tiny, zero, tree, chain, fanout, latency.

use super::stats::{percentile, round};
use anyhow::ensure;
use rask_actors::client::{wait, Client, Future, SubmitOptions};
use rask_collections::builtins::{add, byte_len, inc, noop};
use serde_json::{json, Map, Value};
use std::time::{Duration, Instant};

/// Fresh keys for every call, so repeated runs never share results.
fn fresh() -> SubmitOptions {
    SubmitOptions {
        impure: true,
        ..SubmitOptions::default()
    }
}

fn figures(v: Value) -> Map<String, Value> {
    match v {
        Value::Object(m) => m,
        _ => Map::new(),
    }
}

fn rate(tasks: usize, secs: f64) -> Value {
    json!({"tasks": tasks, "seconds": round(secs, 4), "tasks_per_s": round(tasks as f64 / secs, 1)})
}

/// Opens connections and warms caches (not timed).
pub fn warm_up(client: &Client) -> anyhow::Result<()> {
    let futs = client.map_with(inc, (0..200i64).map(|i| (i,)), fresh())?;
    futures::executor::block_on(wait(&futs, Duration::from_secs(60)))?;
    Ok(())
}

/// N independent tasks via map + gather.
pub fn tiny(client: &Client, n: usize) -> anyhow::Result<Map<String, Value>> {
    let t = Instant::now();
    let futs = client.map_with(inc, (0..n as i64).map(|i| (i,)), fresh())?;
    let values = client.gather_blocking(&futs)?;
    let secs = t.elapsed().as_secs_f64();
    let ok = values.len() == n && values.iter().enumerate().all(|(i, v)| *v == i as i64 + 1);
    drop(futs);
    let mut m = figures(rate(n, secs));
    m.insert("ok".into(), json!(ok));
    Ok(m)
}

/// Like tiny, but the scheduler completes tasks without running them; only statuses are
/// awaited (there are no values).
pub fn zero(client: &Client, n: usize) -> anyhow::Result<Map<String, Value>> {
    let info = client.info_blocking()?;
    ensure!(
        info.zero_worker,
        "the zero bench needs a scheduler in zero-worker mode (--local/--processes set it; \
         or start the scheduler with --zero-worker)"
    );
    let t = Instant::now();
    let futs = client.map_with(noop, (0..n).map(|_| ()), fresh())?;
    futures::executor::block_on(wait(&futs, Duration::from_secs(600)))?;
    let secs = t.elapsed().as_secs_f64();
    let mut m = figures(rate(n, secs));
    m.insert("ok".into(), json!(true));
    Ok(m)
}

/// Pairwise tree reduction of n leaves: 2n-1 tasks.
pub fn tree(client: &Client, n: usize) -> anyhow::Result<Map<String, Value>> {
    let t = Instant::now();
    let mut level: Vec<Future<i64>> = client.map_with(inc, (0..n as i64).map(|i| (i,)), fresh())?;
    while level.len() > 1 {
        let pairs: Vec<(&Future<i64>, &Future<i64>)> = level
            .chunks(2)
            .filter(|p| p.len() == 2)
            .map(|p| (&p[0], &p[1]))
            .collect();
        let mut next = client.map_with(add, pairs, fresh())?;
        if level.len() % 2 == 1 {
            next.push(level[level.len() - 1].clone());
        }
        level = next;
    }
    let total = level[0].result()?;
    let secs = t.elapsed().as_secs_f64();
    let expected = (n as i64) * (n as i64 + 1) / 2;
    let mut m = figures(rate(2 * n - 1, secs));
    m.insert("ok".into(), json!(total == expected));
    Ok(m)
}

/// n strictly dependent tasks, submitted one by one.
pub fn chain(client: &Client, n: usize) -> anyhow::Result<Map<String, Value>> {
    let t = Instant::now();
    let mut cur = client.submit_with(inc, (0i64,), fresh())?;
    for _ in 1..n {
        cur = client.submit_with(inc, (&cur,), fresh())?;
    }
    let v = cur.result()?;
    let secs = t.elapsed().as_secs_f64();
    let mut m = figures(rate(n, secs));
    m.insert("us_per_task".into(), json!(round(secs / n as f64 * 1e6, 1)));
    m.insert("ok".into(), json!(v == n as i64));
    Ok(m)
}

/// One scattered 64 KiB value read by n tasks.
pub fn fanout(client: &Client, n: usize) -> anyhow::Result<Map<String, Value>> {
    const SIZE: usize = 64 * 1024;
    let blob = rask_protocol::Blob::from(vec![7u8; SIZE]);
    let t = Instant::now();
    let data = futures::executor::block_on(client.scatter(vec![blob]))?;
    let futs = client.map_with(byte_len, (0..n).map(|_| (&data[0],)), fresh())?;
    let lens = client.gather_blocking(&futs)?;
    let secs = t.elapsed().as_secs_f64();
    let mut m = figures(rate(n, secs));
    m.insert("value_bytes".into(), json!(SIZE));
    m.insert("ok".into(), json!(lens.iter().all(|l| *l == SIZE as u64)));
    Ok(m)
}

/// Repeated single submit → result round trips.
pub fn latency(client: &Client, count: usize) -> anyhow::Result<Map<String, Value>> {
    let mut us = Vec::with_capacity(count);
    let mut ok = true;
    let t = Instant::now();
    for i in 0..count as i64 {
        let s = Instant::now();
        let v = client.submit_with(inc, (i,), fresh())?.result()?;
        us.push(s.elapsed().as_secs_f64() * 1e6);
        ok &= v == i + 1;
    }
    let secs = t.elapsed().as_secs_f64();
    us.sort_by(f64::total_cmp);
    Ok(figures(json!({
        "ok": ok,
        "count": count,
        "seconds": round(secs, 4),
        "median_us": round(percentile(&us, 50.0), 1),
        "p90_us": round(percentile(&us, 90.0), 1),
        "p99_us": round(percentile(&us, 99.0), 1),
        "min_us": round(us[0], 1),
    })))
}
