//! Small registered element functions every stock `rask worker` knows, for bags of numbers
//! and strings (the counterparts of Python builtins a Dask user would pass to `map`,
//! `filter` or `foldby`). Users' own functions are registered the same way, with
//! [`task!`](rask_actors::task), in a worker binary of their own.

use super::items::{Items, JsonValue};
use rask_actors::task;

task! {
    /// Whether an integer is even.
    pub fn is_even(x: i64) -> bool { x % 2 == 0 }
}

task! {
    /// An integer modulo 10 (a small grouping key).
    pub fn mod10(x: i64) -> i64 { x.rem_euclid(10) }
}

task! {
    /// The square of an integer.
    pub fn square(x: i64) -> i64 { x * x }
}

task! {
    /// The integers `0..x % 4` (a flat-map that yields 0–3 items).
    pub fn upto_mod4(x: i64) -> Items<i64> { (0..x.rem_euclid(4)).collect() }
}

task! {
    /// Adds an element to an accumulator (a `fold`/`foldby` binop).
    pub fn add_to(acc: i64, x: i64) -> i64 { acc + x }
}

task! {
    /// Sums a list of integers (a `reduction` step).
    pub fn sum_all(xs: Vec<i64>) -> i64 { xs.iter().sum() }
}

task! {
    /// A partition's sum and length as two items (a `map_partitions` function).
    pub fn sum_and_len(xs: Vec<i64>) -> Items<i64> {
        Items(vec![xs.iter().sum(), xs.len() as i64])
    }
}

task! {
    /// The length of a string in bytes.
    pub fn str_len(s: String) -> u64 { s.len() as u64 }
}

task! {
    /// The first character of a string (empty for an empty string).
    pub fn first_char(s: String) -> String { s.chars().next().map(String::from).unwrap_or_default() }
}

task! {
    /// Whether a string is not empty.
    pub fn non_empty(s: String) -> bool { !s.is_empty() }
}

task! {
    /// The whitespace-separated words of a string.
    pub fn words(s: String) -> Items<String> { s.split_whitespace().map(String::from).collect() }
}

task! {
    /// A JSON number as an `i64` (fails on anything else).
    pub fn json_i64(v: JsonValue) -> Result<i64, String> {
        v.0.as_i64().ok_or_else(|| format!("{} is not an integer", v.0))
    }
}

task! {
    /// A JSON value as text (strings without their quotes).
    pub fn json_text(v: JsonValue) -> String {
        match v.0 {
            serde_json::Value::String(s) => s,
            other => other.to_string(),
        }
    }
}
