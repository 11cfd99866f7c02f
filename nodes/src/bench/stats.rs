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

/// Medians over repeated runs: every numeric figure is the median of that figure across
/// runs (each leg and percentile separately); `ok` holds only if every run verified.
pub fn median_run(runs: &[Map<String, Value>]) -> Map<String, Value> {
    let ok = runs
        .iter()
        .all(|r| r.get("ok").and_then(Value::as_bool).unwrap_or(false));
    let mut m = runs[0].clone();
    for (key, value) in m.iter_mut() {
        if !value.is_f64() {
            continue;
        }
        let mut xs: Vec<f64> = runs
            .iter()
            .filter_map(|r| r.get(key).and_then(Value::as_f64))
            .collect();
        xs.sort_by(f64::total_cmp);
        if let Some(med) = median(&xs) {
            *value = Value::from(med);
        }
    }
    m.insert("ok".into(), Value::Bool(ok));
    m
}

/// Median of sorted values (mean of the middle two for an even count).
pub fn median(sorted: &[f64]) -> Option<f64> {
    let n = sorted.len();
    match n {
        0 => None,
        _ if n % 2 == 1 => Some(sorted[n / 2]),
        _ => Some((sorted[n / 2 - 1] + sorted[n / 2]) / 2.0),
    }
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
    fn medians_are_taken_per_figure() {
        let run = |a: f64, b: f64| {
            let mut m = Map::new();
            m.insert("ok".into(), Value::Bool(true));
            m.insert("x".into(), Value::from(a));
            m.insert("y".into(), Value::from(b));
            m
        };
        let m = median_run(&[run(1.0, 30.0), run(3.0, 10.0), run(2.0, 20.0)]);
        assert_eq!(m["x"], Value::from(2.0));
        assert_eq!(m["y"], Value::from(20.0));
        assert_eq!(median(&[1.0, 2.0, 3.0, 4.0]), Some(2.5));
    }

    #[test]
    fn own_peak_rss_is_readable() {
        assert!(peak_rss_mb(None).unwrap() > 0.0);
    }
}
