//! Element-wise operations, applied lazily inside partition tasks.
//!
//! `map`, `filter`, `flat_map`, string and JSON operations do not add tasks: they append an
//! [`Op`] to the bag, and the task that finally reads each partition runs the whole chain
//! element by element, pushing each result straight into the partition's sink (a counter, a
//! hash map, a writer…). Nothing between source and sink is materialised. User functions are
//! looked up once in the worker's registry and called on encoded elements; string and JSON
//! operations run natively.

use super::records::{encode_str, read_varint, records, str_of, take_bytes, Fail};
use crate::raw::{bad_args, failed};
use bytes::Bytes;
use rask_actors::worker::registry::{Registry, TaskEntry};
use rask_protocol::TaskErrorKind;
use serde::{Deserialize, Serialize};
use std::io::Read;

/// One element-wise operation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Op {
    /// Call a registered function on each element.
    Map(String),
    /// Keep elements for which a registered function returns `true`.
    Filter(String),
    /// Each element is an `Items<U>`: emit its items.
    FlattenItems,
    /// `String` → `Vec<String>` of its whitespace-separated words.
    SplitWhitespace,
    /// `Vec<String>` → its strings.
    FlattenStrings,
    /// Check each `String` is JSON (it becomes a `JsonValue`); blank lines are dropped.
    ParseJson {
        /// Drop malformed lines instead of failing.
        skip_bad: bool,
    },
    /// `JsonValue` → the value of a field (or array index).
    Pluck(String),
    /// Lower-case a `String`.
    Lower,
    /// Trim whitespace off a `String`.
    Strip,
}

/// Where the element being processed came from, for error messages.
#[derive(Debug, Clone, Default)]
pub struct Where {
    /// The file, for text sources.
    pub file: Option<String>,
    /// File offset of the block's first line.
    pub block_start: u64,
    /// Line within the block (0-based), for text sources.
    pub line: u64,
    /// Partition number.
    pub partition: u64,
    /// Element within the partition (0-based), for other sources.
    pub element: u64,
}

impl Where {
    /// "path, line N" (counting lines before the block only now, on the error path) or
    /// "partition P, element E".
    pub fn describe(&self) -> String {
        match &self.file {
            Some(path) => {
                let before = lines_before(path, self.block_start).unwrap_or(0);
                format!("{path}, line {}", before + self.line + 1)
            }
            None => format!("partition {}, element {}", self.partition, self.element),
        }
    }
}

fn lines_before(path: &str, offset: u64) -> std::io::Result<u64> {
    if offset == 0 {
        return Ok(0);
    }
    let mut f = std::fs::File::open(path)?.take(offset);
    let mut buf = vec![0u8; 1 << 20];
    let mut n = 0u64;
    loop {
        let got = f.read(&mut buf)?;
        if got == 0 {
            return Ok(n);
        }
        n += memchr::memchr_iter(b'\n', &buf[..got]).count() as u64;
    }
}

/// Where elements end up: `push` returns `false` to stop the partition early.
pub trait Sink {
    /// Takes one encoded element.
    fn push(&mut self, record: &[u8]) -> Result<bool, Fail>;
}

enum Step {
    Map(&'static TaskEntry),
    Filter(&'static TaskEntry),
    FlattenItems,
    Words,
    SplitWhitespace,
    FlattenStrings,
    ParseJson(bool),
    Pluck(String),
    Lower,
    Strip,
}

/// A compiled chain of operations.
pub struct Pipeline {
    steps: Vec<Step>,
}

fn entry(name: &str) -> Result<&'static TaskEntry, Fail> {
    Registry::global().get(name).ok_or_else(|| {
        (
            TaskErrorKind::UnknownFunction,
            format!("function {name} is not registered on this worker"),
        )
    })
}

fn short(name: &str) -> &str {
    name.rsplit("::").next().unwrap_or(name)
}

impl Pipeline {
    /// Resolves functions and merges `SplitWhitespace, FlattenStrings` into one word step.
    pub fn compile(ops: &[Op]) -> Result<Pipeline, Fail> {
        let mut steps = Vec::with_capacity(ops.len());
        let mut i = 0;
        while i < ops.len() {
            steps.push(match &ops[i] {
                Op::SplitWhitespace if ops.get(i + 1) == Some(&Op::FlattenStrings) => {
                    i += 1;
                    Step::Words
                }
                Op::Map(f) => Step::Map(entry(f)?),
                Op::Filter(f) => Step::Filter(entry(f)?),
                Op::FlattenItems => Step::FlattenItems,
                Op::SplitWhitespace => Step::SplitWhitespace,
                Op::FlattenStrings => Step::FlattenStrings,
                Op::ParseJson { skip_bad } => Step::ParseJson(*skip_bad),
                Op::Pluck(f) => Step::Pluck(f.clone()),
                Op::Lower => Step::Lower,
                Op::Strip => Step::Strip,
            });
            i += 1;
        }
        Ok(Pipeline { steps })
    }

    /// Whether the chain is exactly "split into words and flatten".
    pub fn is_words(&self) -> bool {
        matches!(self.steps.as_slice(), [Step::Words])
    }

    /// Runs one source element through the chain into `sink`.
    pub fn push(&self, record: &[u8], at: &Where, sink: &mut dyn Sink) -> Result<bool, Fail> {
        self.run(0, record, at, sink)
    }

    fn run(&self, i: usize, rec: &[u8], at: &Where, sink: &mut dyn Sink) -> Result<bool, Fail> {
        let Some(step) = self.steps.get(i) else {
            return sink.push(rec);
        };
        let call = |e: &TaskEntry| {
            (e.invoke)(&[Bytes::copy_from_slice(rec)])
                .map_err(|(k, m)| (k, format!("{} on {}: {m}", short(e.name), at.describe())))
        };
        match step {
            Step::Map(e) => {
                let out = call(e)?;
                self.run(i + 1, &out, at, sink)
            }
            Step::Filter(e) => match &call(e)?[..] {
                [1] => self.run(i + 1, rec, at, sink),
                [0] => Ok(true),
                _ => Err(bad_args(format!("{} did not return a bool", e.name))),
            },
            Step::FlattenItems => {
                for r in records(rec)? {
                    if !self.run(i + 1, r?, at, sink)? {
                        return Ok(false);
                    }
                }
                Ok(true)
            }
            Step::Words => {
                let mut buf = Vec::with_capacity(32);
                for w in str_of(rec)?.split_whitespace() {
                    buf.clear();
                    encode_str(&mut buf, w.as_bytes());
                    if !self.run(i + 1, &buf, at, sink)? {
                        return Ok(false);
                    }
                }
                Ok(true)
            }
            Step::SplitWhitespace => {
                let words: Vec<&str> = str_of(rec)?.split_whitespace().collect();
                let mut buf = Vec::with_capacity(rec.len() + words.len());
                super::records::write_varint(&mut buf, words.len() as u64);
                for w in words {
                    encode_str(&mut buf, w.as_bytes());
                }
                self.run(i + 1, &buf, at, sink)
            }
            Step::FlattenStrings => {
                let (n, used) =
                    read_varint(rec).ok_or_else(|| bad_args("element is not a list"))?;
                let mut rest = &rec[used..];
                let mut buf = Vec::with_capacity(32);
                for _ in 0..n {
                    let (s, r) =
                        take_bytes(rest).ok_or_else(|| bad_args("element is not a string list"))?;
                    rest = r;
                    buf.clear();
                    encode_str(&mut buf, s);
                    if !self.run(i + 1, &buf, at, sink)? {
                        return Ok(false);
                    }
                }
                Ok(true)
            }
            Step::ParseJson(skip_bad) => {
                let text = match str_of(rec) {
                    Ok(t) => t,
                    Err(_) if *skip_bad => return Ok(true),
                    Err((_, m)) => return Err(failed(format!("{}: {m}", at.describe()))),
                };
                if text.trim().is_empty() {
                    return Ok(true);
                }
                match serde_json::from_str::<serde::de::IgnoredAny>(text) {
                    Ok(_) => self.run(i + 1, rec, at, sink),
                    Err(_) if *skip_bad => Ok(true),
                    Err(e) => Err(failed(format!("{}: malformed JSON: {e}", at.describe()))),
                }
            }
            Step::Pluck(field) => {
                let text = str_of(rec)?;
                let v: serde_json::Value = serde_json::from_str(text)
                    .map_err(|e| failed(format!("{}: malformed JSON: {e}", at.describe())))?;
                let got = super::items::JsonValue(v)
                    .get(field)
                    .cloned()
                    .ok_or_else(|| {
                        failed(format!("{}: no field {field:?} in {text}", at.describe()))
                    })?;
                let mut buf = Vec::new();
                encode_str(&mut buf, got.to_string().as_bytes());
                self.run(i + 1, &buf, at, sink)
            }
            Step::Lower | Step::Strip => {
                let s = str_of(rec)?;
                let mut buf = Vec::with_capacity(rec.len());
                match step {
                    Step::Lower => encode_str(&mut buf, s.to_lowercase().as_bytes()),
                    _ => encode_str(&mut buf, s.trim().as_bytes()),
                }
                self.run(i + 1, &buf, at, sink)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rask_protocol::{decode_value, encode_value};

    struct Collect(Vec<Vec<u8>>, usize);
    impl Sink for Collect {
        fn push(&mut self, r: &[u8]) -> Result<bool, Fail> {
            self.0.push(r.to_vec());
            Ok(self.0.len() < self.1)
        }
    }

    fn strings(c: &Collect) -> Vec<String> {
        c.0.iter().map(|r| decode_value(r).unwrap()).collect()
    }

    #[test]
    fn words_lower_strip_and_early_stop() {
        let line = encode_value(&"  Hello  World\tagain ").unwrap();
        let p = Pipeline::compile(&[Op::SplitWhitespace, Op::FlattenStrings, Op::Lower]).unwrap();
        let mut c = Collect(vec![], 100);
        p.push(&line, &Where::default(), &mut c).unwrap();
        assert_eq!(strings(&c), ["hello", "world", "again"]);
        let mut c = Collect(vec![], 2);
        assert!(!p.push(&line, &Where::default(), &mut c).unwrap());
        assert_eq!(c.0.len(), 2);
        // Split then flatten as separate steps gives the same words.
        let p = Pipeline::compile(&[Op::SplitWhitespace, Op::Lower]).unwrap();
        assert!(!p.is_words());
        let p2 = Pipeline::compile(&[Op::SplitWhitespace]).unwrap();
        let mut c = Collect(vec![], 100);
        p2.push(&line, &Where::default(), &mut c).unwrap();
        let flat = Pipeline::compile(&[Op::FlattenStrings]).unwrap();
        let mut d = Collect(vec![], 100);
        flat.push(&c.0[0], &Where::default(), &mut d).unwrap();
        assert_eq!(strings(&d), ["Hello", "World", "again"]);
        drop(p);
        let p = Pipeline::compile(&[Op::Strip]).unwrap();
        let mut c = Collect(vec![], 100);
        p.push(&line, &Where::default(), &mut c).unwrap();
        assert_eq!(strings(&c), ["Hello  World\tagain"]);
    }

    #[test]
    fn json_is_checked_plucked_and_bad_lines_named_or_skipped() {
        let at = Where {
            partition: 3,
            element: 7,
            ..Where::default()
        };
        let good = encode_value(&r#"{"name": "ann", "n": [1, 2]}"#).unwrap();
        let bad = encode_value(&"{oops").unwrap();
        let p = Pipeline::compile(&[Op::ParseJson { skip_bad: false }, Op::Pluck("name".into())])
            .unwrap();
        let mut c = Collect(vec![], 100);
        p.push(&good, &at, &mut c).unwrap();
        assert_eq!(strings(&c), ["\"ann\""]);
        let err = p.push(&bad, &at, &mut c).unwrap_err();
        assert!(
            err.1.contains("partition 3, element 7: malformed JSON"),
            "{}",
            err.1
        );
        let p = Pipeline::compile(&[Op::ParseJson { skip_bad: true }]).unwrap();
        assert!(p.push(&bad, &at, &mut c).unwrap());
        assert_eq!(c.0.len(), 1);
        let p = Pipeline::compile(&[Op::Pluck("missing".into())]).unwrap();
        assert!(p
            .push(&good, &at, &mut c)
            .unwrap_err()
            .1
            .contains("no field"));
        assert!(Pipeline::compile(&[Op::Map("no::such".into())]).is_err());
    }
}
