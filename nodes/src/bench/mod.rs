//! `rask bench`: named benchmarks against any cluster (`--scheduler`), an in-process one
//! (`--local N`) or scheduler and worker processes started for the run (`--processes N`).
//! Every result is verified; one JSON line of figures is printed (a table with `--pretty`).

mod actor;
mod cluster;
mod stats;
mod stream;
mod tasks;
mod transfer;

use clap::{Args, ValueEnum};
use serde_json::{json, Map, Value};
use std::time::Instant;

/// Which benchmark.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum BenchName {
    /// N independent no-op tasks via map + gather.
    Tiny,
    /// Pairwise tree reduction of N leaves (2N-1 tasks).
    Tree,
    /// N strictly dependent tasks.
    Chain,
    /// Repeated single submit → result round trips.
    Latency,
    /// A value of M MB made on one worker, consumed on another, gathered to the client.
    Transfer,
    /// One scattered value read by N tasks.
    Fanout,
    /// Like `tiny`, but the scheduler marks tasks done without running them (runtime
    /// overhead only).
    Zero,
    /// Word count over generated text (bag: read_text, split, frequencies, top 10).
    Wordcount,
    /// Dataframe group-bys over generated CSV or Parquet files (q1, q2, q3 of the Dask anchor).
    Groupby,
    /// Chunked-array operations: (x + xᵀ).sum(), x.mean(axis 0), x @ x[:, :chunk].
    Array,
    /// Method calls on a stateful actor: sequential round trips, then a pipelined burst.
    Actor,
    /// A stream: events through map → tumbling window (fold) → sink; throughput, then
    /// end-to-end latency at a steady rate (or a long soak at that rate).
    Stream,
}

/// File format for `groupby`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum FileFormat {
    /// Parquet files.
    Parquet,
    /// CSV files.
    Csv,
}

/// `rask bench` flags.
#[derive(Debug, Args)]
pub struct BenchArgs {
    /// The benchmark to run.
    #[arg(value_enum)]
    pub bench: BenchName,
    /// Run against this scheduler.
    #[arg(long, conflicts_with_all = ["local", "processes"])]
    pub scheduler: Option<String>,
    /// Run on an in-process cluster of N workers.
    #[arg(long)]
    pub local: Option<usize>,
    /// Run on a scheduler and N worker processes started for the run (loopback).
    #[arg(long, conflicts_with = "local")]
    pub processes: Option<usize>,
    /// Compute threads per worker (--local / --processes).
    #[arg(long, default_value_t = 1)]
    pub threads_per_worker: usize,
    /// Tasks for tiny, tree, chain, fanout and zero.
    #[arg(long, default_value_t = 20_000)]
    pub tasks: usize,
    /// Round trips for latency and actor.
    #[arg(long, default_value_t = 2_000)]
    pub count: usize,
    /// Megabytes for transfer (default 100) and wordcount (default 200).
    #[arg(long)]
    pub mb: Option<usize>,
    /// Word-count input URL (a path or `s3://bucket/key`, with the `AWS_*` variables set for
    /// this process and the workers); the generated text is uploaded there if it is missing.
    #[arg(long)]
    pub input: Option<String>,
    /// Array side for array (an n × n f64 array).
    #[arg(long, default_value_t = 8000)]
    pub n: usize,
    /// Block side for array.
    #[arg(long, default_value_t = 1000)]
    pub chunk: usize,
    /// Rows for groupby.
    #[arg(long, default_value_t = 10_000_000)]
    pub rows: u64,
    /// File format for groupby.
    #[arg(long, value_enum, default_value_t = FileFormat::Parquet)]
    pub format: FileFormat,
    /// Repetitions (the median run is reported, all runs are listed).
    #[arg(long, default_value_t = 1)]
    pub repeat: usize,
    /// Events in the stream benchmark's throughput phase.
    #[arg(long, default_value_t = 1_000_000)]
    pub events: u64,
    /// Events per second in the stream benchmark's latency phase and soak.
    #[arg(long, default_value_t = 10_000)]
    pub rate: u64,
    /// Length of the stream benchmark's latency phase in seconds.
    #[arg(long, default_value_t = 5.0)]
    pub latency_seconds: f64,
    /// Tumbling window of the stream benchmark's throughput phase (ms).
    #[arg(long, default_value_t = 1000)]
    pub window_ms: u64,
    /// Tumbling window of the stream benchmark's latency phase (ms).
    #[arg(long, default_value_t = 10)]
    pub latency_window_ms: u64,
    /// Run the stream benchmark's paced pipeline (1-s windows) this many seconds instead,
    /// printing a progress line every --report-every seconds.
    #[arg(long, default_value_t = 0)]
    pub soak_seconds: u64,
    /// Seconds between the soak's progress lines.
    #[arg(long, default_value_t = 60)]
    pub report_every: u64,
    /// Print a readable table as well as the JSON line.
    #[arg(long)]
    pub pretty: bool,
    /// The scheduler's root-task queue target in milliseconds of work per worker thread (0:
    /// no queuing); for `--local` and `--processes` clusters.
    #[arg(long, default_value_t = 2.0)]
    pub queue_target_ms: f64,
}

/// Runs a benchmark and prints its figures.
pub fn run(args: BenchArgs) -> anyhow::Result<()> {
    let zero = args.bench == BenchName::Zero;
    let target = cluster::Target::start(&args, zero)?;
    let client = target.client();
    let t0 = Instant::now();
    let mut runs = Vec::new();
    tasks::warm_up(client)?;
    for _ in 0..args.repeat.max(1) {
        let figures = match args.bench {
            BenchName::Tiny => tasks::tiny(client, args.tasks)?,
            BenchName::Zero => tasks::zero(client, args.tasks)?,
            BenchName::Tree => tasks::tree(client, args.tasks)?,
            BenchName::Chain => tasks::chain(client, args.tasks)?,
            BenchName::Fanout => tasks::fanout(client, args.tasks)?,
            BenchName::Latency => tasks::latency(client, args.count)?,
            BenchName::Transfer => transfer::transfer(client, args.mb.unwrap_or(100))?,
            BenchName::Wordcount => wordcount(client, args.mb.unwrap_or(200), args.input.clone())?,
            BenchName::Groupby => groupby(client, args.rows, args.format)?,
            BenchName::Array => array(client, args.n, args.chunk)?,
            BenchName::Actor => actor::actor(client, args.count)?,
            BenchName::Stream => stream::stream(
                client,
                &stream::StreamBench {
                    events: args.events,
                    rate: args.rate,
                    seconds: args.latency_seconds,
                    window_ms: args.window_ms,
                    latency_window_ms: args.latency_window_ms,
                    soak_seconds: args.soak_seconds,
                    report_every: args.report_every,
                },
            )?,
        };
        runs.push(figures);
    }
    let settled = target.settle(std::time::Duration::from_secs(60))?;
    let mut out = stats::median_run(&runs);
    let name = format!("{:?}", args.bench).to_lowercase();
    out.insert("bench".into(), json!(name));
    out.insert(
        "seconds".into(),
        out.get("seconds")
            .cloned()
            .unwrap_or(json!(t0.elapsed().as_secs_f64())),
    );
    if runs.len() > 1 {
        out.insert(
            "runs".into(),
            Value::Array(runs.into_iter().map(Value::Object).collect()),
        );
    }
    out.insert("cluster".into(), target.describe()?);
    out.insert("peak_rss_mb".into(), target.peak_rss_mb());
    out.insert("after".into(), settled);
    out.insert("rask_version".into(), json!(env!("CARGO_PKG_VERSION")));
    let ok = out.get("ok").and_then(Value::as_bool).unwrap_or(false);
    let line = Value::Object(reorder(out));
    if args.pretty {
        stats::print_table(&line);
    }
    println!("{line}");
    anyhow::ensure!(ok, "benchmark results did not verify");
    Ok(())
}

fn wordcount(
    client: &rask_actors::client::Client,
    mb: usize,
    input: Option<String>,
) -> anyhow::Result<Map<String, Value>> {
    let config = rask_collections::bag::WordcountConfig {
        mb: mb as f64,
        input,
        ..Default::default()
    };
    let report =
        futures::executor::block_on(rask_collections::bag::bench_wordcount(client, &config))?;
    match serde_json::to_value(report)? {
        Value::Object(m) => Ok(m),
        _ => anyhow::bail!("the word-count report is not an object"),
    }
}

fn groupby(
    client: &rask_actors::client::Client,
    rows: u64,
    format: FileFormat,
) -> anyhow::Result<Map<String, Value>> {
    use rask_collections::dataframe::bench::{run, Format};
    let format = match format {
        FileFormat::Parquet => Format::Parquet,
        FileFormat::Csv => Format::Csv,
    };
    let report = futures::executor::block_on(run(client, rows, format))?;
    let mut m = match serde_json::to_value(report)? {
        Value::Object(m) => m,
        _ => anyhow::bail!("the group-by report is not an object"),
    };
    let total: f64 = ["q1_s", "q2_s", "q3_s"]
        .iter()
        .filter_map(|k| m.get(*k).and_then(Value::as_f64))
        .sum();
    m.insert("seconds".into(), json!(total));
    Ok(m)
}

fn array(
    client: &rask_actors::client::Client,
    n: usize,
    chunk: usize,
) -> anyhow::Result<Map<String, Value>> {
    let report =
        futures::executor::block_on(rask_collections::array::bench::run(client, n, chunk))?;
    let mut m = match serde_json::to_value(report)? {
        Value::Object(m) => m,
        _ => anyhow::bail!("the array report is not an object"),
    };
    m.insert("bench".into(), json!("array"));
    let total: f64 = ["sum_xxt_s", "mean0_s", "matmul_s"]
        .iter()
        .filter_map(|k| m.get(*k).and_then(Value::as_f64))
        .sum();
    m.insert("seconds".into(), json!(total));
    Ok(m)
}

fn reorder(mut m: Map<String, Value>) -> Map<String, Value> {
    let mut out = Map::new();
    for k in ["bench", "ok", "seconds"] {
        if let Some(v) = m.remove(k) {
            out.insert(k.into(), v);
        }
    }
    out.extend(m);
    out
}
