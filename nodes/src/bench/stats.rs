//! Figures: percentiles, medians over repeated runs, peak RSS, and the `--pretty` table.

use serde_json::{Map, Value};

/// Nearest-rank percentile of sorted values.
pub fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// The run with the median `seconds` (all runs must have verified for `ok`).
pub fn median_run(runs: &[Map<String, Value>]) -> Map<String, Value> {
    let ok = runs
        .iter()
        .all(|r| r.get("ok").and_then(Value::as_bool).unwrap_or(false));
    let mut sorted: Vec<&Map<String, Value>> = runs.iter().collect();
    sorted.sort_by(|a, b| {
        let s = |m: &Map<String, Value>| m.get("seconds").and_then(Value::as_f64).unwrap_or(0.0);
        s(a).total_cmp(&s(b))
    });
    let mut m = sorted[sorted.len() / 2].clone();
    m.insert("ok".into(), Value::Bool(ok));
    m
}

/// Peak resident set size (VmHWM) of a process, MiB; `None` if unreadable.
pub fn peak_rss_mb(pid: Option<u32>) -> Option<f64> {
    let path = match pid {
        Some(p) => format!("/proc/{p}/status"),
        None => "/proc/self/status".to_string(),
    };
    let text = std::fs::read_to_string(path).ok()?;
    let line = text.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some((kb / 1024.0 * 10.0).round() / 10.0)
}

/// Rounds to a few significant decimals for readable JSON.
pub fn round(x: f64, decimals: i32) -> f64 {
    let f = 10f64.powi(decimals);
    (x * f).round() / f
}

/// Prints the figures as a two-column table.
pub fn print_table(v: &Value) {
    if let Value::Object(m) = v {
        for (k, v) in m {
            if k == "runs" {
                continue;
            }
            println!("{k:>18}  {v}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_percentiles() {
        let v: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(percentile(&v, 50.0), 50.0);
        assert_eq!(percentile(&v, 99.0), 99.0);
        assert_eq!(percentile(&v, 100.0), 100.0);
        assert_eq!(percentile(&[7.0], 90.0), 7.0);
    }

    #[test]
    fn own_peak_rss_is_readable() {
        assert!(peak_rss_mb(None).unwrap() > 0.0);
    }
}
