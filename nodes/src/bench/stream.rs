//! `rask bench stream`: events through map → tumbling window (fold) → sink. Two phases:
//! throughput (events offered as fast as the stream takes them, 1-s windows) and latency
//! (events paced at `--rate`, short windows; the latency of a window is the time from its
//! last event being sent to its result reaching the sink). `--soak-seconds` instead runs the
//! paced pipeline that long, printing a progress line (stream figures, tracked tasks, own
//! RSS) every `--report-every` seconds. Every window total is verified.

use super::stats::percentile;
use rask_actors::client::Client;
use rask_collections::stream::funcs::{tick_fold, tick_merge, tick_triple, Tick, TickSummary};
use rask_collections::stream::{Sink, Source, Stream, StreamHandle, Window, Windowed};
use serde_json::{json, Map, Value};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// `rask bench stream` settings.
#[derive(Debug, Clone)]
pub struct StreamBench {
    /// Events in the throughput phase.
    pub events: u64,
    /// Events per second in the latency phase (and the soak).
    pub rate: u64,
    /// Length of the latency phase.
    pub seconds: f64,
    /// Window of the throughput phase (ms).
    pub window_ms: u64,
    /// Window of the latency phase (ms).
    pub latency_window_ms: u64,
    /// Run the paced pipeline this long instead (0: no soak).
    pub soak_seconds: u64,
    /// Progress line interval in a soak.
    pub report_every: u64,
}

fn now_us() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_micros() as i64)
        .unwrap_or(0)
}

fn tick(seq: u64) -> Tick {
    Tick {
        seq,
        sent_us: now_us(),
        value: (seq % 1000) as i64,
    }
}

/// `events` ticks sent at `rate` per second (in 1-ms bursts).
fn paced(events: u64, rate: u64) -> impl Iterator<Item = Tick> + Send + 'static {
    let start = Instant::now();
    (0..events).map(move |seq| {
        let due = Duration::from_secs_f64(seq as f64 / rate.max(1) as f64);
        let early = due.saturating_sub(start.elapsed());
        if early > Duration::from_micros(500) {
            std::thread::sleep(early);
        }
        tick(seq)
    })
}

type Windows = Arc<Mutex<Vec<(Windowed<(), TickSummary>, i64)>>>;

fn run(
    client: &Client,
    source: Source<Tick>,
    window_ms: u64,
    batch: (usize, Duration),
) -> anyhow::Result<(StreamHandle, Windows)> {
    let got: Windows = Arc::new(Mutex::new(Vec::new()));
    let g = got.clone();
    let sink = Sink::for_each(move |w: Windowed<(), TickSummary>| {
        g.lock().expect("windows").push((w, now_us()));
    });
    let h = Stream::from_source(source)
        .map(tick_triple)
        .batch(batch.0, batch.1)
        .max_in_flight(4)
        .window(Window::tumbling(Duration::from_millis(window_ms)))?
        .fold(tick_fold, tick_merge, TickSummary::default())?
        .start(client, sink)?;
    Ok((h, got))
}

/// Whether the windows hold exactly `events` ticks with the tripled values' sum.
fn verify(windows: &Windows, events: u64) -> (bool, u64) {
    let w = windows.lock().expect("windows");
    let n: u64 = w.iter().map(|(w, _)| w.value.n).sum();
    let sum: i64 = w.iter().map(|(w, _)| w.value.sum).sum();
    let want: i64 = (0..events).map(|s| 3 * (s % 1000) as i64).sum();
    (n == events && sum == want, w.len() as u64)
}

/// Runs the benchmark.
pub fn stream(client: &Client, cfg: &StreamBench) -> anyhow::Result<Map<String, Value>> {
    if cfg.soak_seconds > 0 {
        return soak(client, cfg);
    }
    // Throughput.
    let t = Instant::now();
    let source = Source::iter((0..cfg.events).map(tick));
    let (h, windows) = run(
        client,
        source,
        cfg.window_ms,
        (5000, Duration::from_millis(20)),
    )?;
    h.join()?;
    let secs = t.elapsed().as_secs_f64();
    let (ok_tp, n_windows) = verify(&windows, cfg.events);

    // Latency.
    let lat_events = (cfg.rate as f64 * cfg.seconds) as u64;
    let source = Source::iter(paced(lat_events, cfg.rate));
    let (h, lat) = run(
        client,
        source,
        cfg.latency_window_ms,
        (1000, Duration::from_millis(1)),
    )?;
    h.join()?;
    let (ok_lat, lat_windows) = verify(&lat, lat_events);
    let mut ms: Vec<f64> = lat
        .lock()
        .expect("windows")
        .iter()
        .map(|(w, at)| (at - w.value.last_sent_us) as f64 / 1000.0)
        .collect();
    // The last window is flushed when the stream ends, not when its time passes.
    ms.pop();
    ms.sort_by(f64::total_cmp);
    let r = |x: f64| (x * 1000.0).round() / 1000.0;
    Ok(
        match json!({
            "ok": ok_tp && ok_lat,
            "events": cfg.events,
            "seconds": r(secs),
            "events_per_s": (cfg.events as f64 / secs).round(),
            "windows": n_windows,
            "window_ms": cfg.window_ms,
            "latency_rate": cfg.rate,
            "latency_events": lat_events,
            "latency_window_ms": cfg.latency_window_ms,
            "latency_windows": lat_windows,
            "p50_ms": r(percentile(&ms, 50.0)),
            "p99_ms": r(percentile(&ms, 99.0)),
            "max_ms": r(ms.last().copied().unwrap_or(f64::NAN)),
        }) {
            Value::Object(m) => m,
            _ => Map::new(),
        },
    )
}

fn rss_mb() -> f64 {
    std::fs::read_to_string("/proc/self/statm")
        .ok()
        .and_then(|s| s.split_whitespace().nth(1)?.parse::<f64>().ok())
        .map_or(f64::NAN, |pages| pages * 4096.0 / 1e6)
}

fn soak(client: &Client, cfg: &StreamBench) -> anyhow::Result<Map<String, Value>> {
    let events = cfg.rate * cfg.soak_seconds;
    let t = Instant::now();
    let source = Source::iter(paced(events, cfg.rate));
    let (h, windows) = run(client, source, 1000, (1000, Duration::from_millis(5)))?;
    let every = Duration::from_secs(cfg.report_every.max(1));
    let mut next = every;
    let mut tasks_seen = Vec::new();
    while h.stats().events_in < events || h.stats().batches_done < h.stats().batches_submitted {
        std::thread::sleep(Duration::from_millis(200));
        if t.elapsed() >= next {
            next += every;
            let s = h.stats();
            let tasks = client.info_blocking()?.tasks;
            tasks_seen.push(tasks);
            let line = json!({
                "soak_s": t.elapsed().as_secs(),
                "events_in": s.events_in,
                "results_out": s.results_out,
                "in_flight": s.in_flight,
                "tasks": tasks,
                "client_rss_mb": (rss_mb() * 10.0).round() / 10.0,
            });
            println!("{line}");
        }
        if t.elapsed() > Duration::from_secs(cfg.soak_seconds + 120) {
            anyhow::bail!("the soak did not finish 120 s after its end");
        }
    }
    h.join()?;
    let (ok, n_windows) = verify(&windows, events);
    Ok(
        match json!({
            "ok": ok,
            "events": events,
            "seconds": t.elapsed().as_secs_f64(),
            "events_per_s": events as f64 / t.elapsed().as_secs_f64(),
            "windows": n_windows,
            "tasks_max": tasks_seen.iter().max(),
        }) {
            Value::Object(m) => m,
            _ => Map::new(),
        },
    )
}
