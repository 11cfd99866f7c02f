//! `rask bench` end to end: each benchmark of the benchmark issue runs through the real
//! binary on a small size, verifies its results (`ok`) and prints the figures it promises,
//! with the cluster and the rask version named. One in-process cluster per bench, and the
//! task benches once more on real processes (`--processes 2`).

mod common;

use anyhow::{ensure, Context, Result};
use common::procs::Proc;
use serde_json::Value;
use std::time::{Duration, Instant};

/// Runs `rask bench ARGS` and returns its JSON line, once the command has exited on its own
/// (so that the processes a `--processes` cluster started are stopped by it, not orphaned).
fn bench(args: &[&str]) -> Result<Value> {
    let mut all = vec!["bench"];
    all.extend_from_slice(args);
    let mut p = Proc::rask(&format!("rask {}", all.join(" ")), &all)?;
    let line = p.wait_line("\"bench\"", 120)?;
    let deadline = Instant::now() + Duration::from_secs(60);
    let status = loop {
        if let Some(status) = p.child.try_wait()? {
            break status;
        }
        ensure!(Instant::now() < deadline, "{} did not exit", p.name);
        std::thread::sleep(Duration::from_millis(50));
    };
    ensure!(status.success(), "{} failed: {status}", p.name);
    serde_json::from_str(&line).with_context(|| format!("not JSON: {line}"))
}

/// Checks `ok`, the common fields, and that each of `fields` is a positive number.
fn check(v: &Value, name: &str, fields: &[&str]) -> Result<()> {
    ensure!(v["bench"] == name, "bench is {}", v["bench"]);
    ensure!(v["ok"] == true, "{name} did not verify its results: {v}");
    ensure!(v["seconds"].as_f64().is_some_and(|s| s > 0.0), "{v}");
    ensure!(v["rask_version"].is_string(), "no version: {v}");
    let cluster = &v["cluster"];
    ensure!(cluster["workers"] == 2, "cluster not named: {v}");
    ensure!(cluster["threads"].as_u64().is_some_and(|t| t >= 2), "{v}");
    ensure!(
        cluster["hosts"].as_array().is_some_and(|h| !h.is_empty()),
        "{v}"
    );
    for f in fields {
        ensure!(
            v[*f].as_f64().is_some_and(|x| x > 0.0),
            "{name}: {f} missing or not positive in {v}"
        );
    }
    ensure!(v["peak_rss_mb"].is_object(), "no peak RSS: {v}");
    Ok(())
}

#[test]
fn tiny_zero_tree_chain_and_fanout_verify_and_report_throughput() -> Result<()> {
    for name in ["tiny", "zero", "tree", "chain", "fanout"] {
        let v = bench(&[name, "--local", "2", "--tasks", "500"])?;
        check(&v, name, &["tasks", "tasks_per_s"])?;
    }
    let v = bench(&["chain", "--local", "2", "--tasks", "200"])?;
    check(&v, "chain", &["us_per_task"])?;
    Ok(())
}

#[test]
fn latency_reports_percentiles() -> Result<()> {
    let v = bench(&["latency", "--local", "2", "--count", "200"])?;
    check(&v, "latency", &["median_us", "p90_us", "p99_us"])?;
    let (m, p99) = (v["median_us"].as_f64(), v["p99_us"].as_f64());
    ensure!(m <= p99, "median above p99: {v}");
    Ok(())
}

#[test]
fn transfer_reports_each_leg() -> Result<()> {
    let v = bench(&["transfer", "--local", "2", "--mb", "4"])?;
    check(
        &v,
        "transfer",
        &["w2w_mb_per_s", "gather_mb_per_s", "mb_per_s"],
    )
}

#[test]
fn task_benches_run_on_real_processes_and_repeat_to_medians() -> Result<()> {
    let v = bench(&[
        "tiny",
        "--processes",
        "2",
        "--tasks",
        "1000",
        "--repeat",
        "2",
    ])?;
    check(&v, "tiny", &["tasks_per_s"])?;
    ensure!(v["runs"].as_array().is_some_and(|r| r.len() == 2), "{v}");
    ensure!(v["cluster"]["mode"] == "processes", "{v}");
    let rss = &v["peak_rss_mb"];
    ensure!(
        rss["scheduler"].is_number() && rss["workers"].as_array().is_some_and(|w| w.len() == 2),
        "peak RSS per process kind: {v}"
    );
    Ok(())
}
