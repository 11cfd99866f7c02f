//! Partition sinks: what a partition task does with the elements its pipeline produces —
//! keep them, count them, fold them into a partial aggregate, bucket them for a shuffle, or
//! write them to a file. Partials are combined by [`combine`](super::combine).

use super::native::{Kind, Scalar};
use super::ops::Sink;
use super::records::{encode_str, str_of, write_varint, Fail, RecordsWriter};
use crate::raw::{bad_args, failed};
use bytes::Bytes;
use rask_actors::worker::registry::{InvokeResult, Registry, TaskEntry};
use rask_protocol::{encode_value, TaskErrorKind};
use rustc_hash::{FxHashMap, FxHashSet};
use serde::{Deserialize, Serialize};
use serde_bytes::ByteBuf;
use std::cmp::Ordering;
use std::io::Write;

/// How `topk` ranks elements.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum TopKey {
    /// By the element itself (a native type).
    Element(Kind),
    /// By a registered function's result on the element (a native type).
    Fn(String, Kind),
    /// By one field of a tuple of native fields.
    Field(u32, Vec<Kind>),
}

/// What a partition task produces.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum SinkSpec {
    /// The elements (at most `Some(n)` of them).
    Collect(Option<u64>),
    /// How many.
    Count,
    /// Their sum.
    Sum(Kind),
    /// Sum and count, for a mean.
    Mean(Kind),
    /// The least (`false`) or greatest (`true`).
    MinMax(Kind, bool),
    /// Count per distinct element.
    Frequencies,
    /// Distinct elements, first occurrence first.
    Distinct,
    /// The `k` best by a key, largest (`true`) or smallest first.
    TopK(u32, TopKey, bool),
    /// `acc = binop(acc, x)` from an encoded initial value.
    Fold(String, Bytes),
    /// Per key (a function of the element): `acc = binop(acc, x)` from `initial`.
    FoldBy(String, String, Bytes),
    /// A function of the whole partition (`Vec<T>`) returning `Items<U>`.
    MapPartition(String),
    /// A function of the whole partition (`Vec<T>`) returning a partial aggregate.
    Reduce(String),
    /// Elements bucketed by the hash of a key function, for a shuffle into `n` partitions.
    Split(String, u32),
    /// Lines (`String` elements) written to this path (gzip if it ends in `.gz`) with these
    /// storage settings.
    Write(String, crate::storage::StorageOptions),
}

fn entry(name: &str) -> Result<&'static TaskEntry, Fail> {
    Registry::global().get(name).ok_or_else(|| {
        (
            TaskErrorKind::UnknownFunction,
            format!("function {name} is not registered on this worker"),
        )
    })
}

/// Calls a registered function on encoded arguments.
pub fn call(e: &TaskEntry, args: &[Bytes]) -> Result<Bytes, Fail> {
    let short = e.name.rsplit("::").next().unwrap_or(e.name);
    (e.invoke)(args).map_err(|(k, m)| (k, format!("{short}: {m}")))
}

/// Orders `topk` candidates best first: by key (descending if `largest`), then by bytes.
pub fn rank(a: &(Scalar, ByteBuf), b: &(Scalar, ByteBuf), largest: bool) -> Ordering {
    let by_key = if largest {
        b.0.cmp(&a.0)
    } else {
        a.0.cmp(&b.0)
    };
    by_key.then_with(|| a.1.cmp(&b.1))
}

/// Keeps the `k` best of `v`.
pub fn keep_best(v: &mut Vec<(Scalar, ByteBuf)>, k: usize, largest: bool) {
    v.sort_by(|a, b| rank(a, b, largest));
    v.truncate(k);
}

type Writer = crate::storage::TextWriter;

/// A sink's running state.
pub enum State {
    /// Kept elements.
    Collect(RecordsWriter, Option<u64>),
    /// Count.
    Count(u64),
    /// Running sum.
    Sum(Kind, Scalar),
    /// Running sum and count.
    Mean(Kind, f64, u64),
    /// Best so far.
    MinMax(Kind, bool, Option<Scalar>),
    /// Counts by element bytes.
    Frequencies(FxHashMap<Vec<u8>, u64>),
    /// Seen elements, in first-seen order.
    Distinct(FxHashSet<Vec<u8>>, Vec<ByteBuf>),
    /// Candidates.
    TopK(
        usize,
        TopKey,
        bool,
        Vec<(Scalar, ByteBuf)>,
        Option<&'static TaskEntry>,
    ),
    /// Accumulator.
    Fold(&'static TaskEntry, Bytes),
    /// Accumulators by key, keys in first-seen order.
    FoldBy(Box<FoldBy>),
    /// `Vec<T>` body and length for a whole-partition function.
    Whole(&'static TaskEntry, bool, Vec<u8>, u64),
    /// Buckets of (key, element).
    Split(&'static TaskEntry, Vec<Vec<(ByteBuf, ByteBuf)>>),
    /// An open output file.
    Write(String, Writer, u64),
}

/// State of a `foldby` sink.
pub struct FoldBy {
    key: &'static TaskEntry,
    binop: &'static TaskEntry,
    initial: Bytes,
    index: FxHashMap<Vec<u8>, usize>,
    accs: Vec<(ByteBuf, Bytes)>,
}

impl State {
    /// The empty state of a sink.
    pub fn new(spec: &SinkSpec) -> Result<State, Fail> {
        Ok(match spec {
            SinkSpec::Collect(limit) => State::Collect(RecordsWriter::new(), *limit),
            SinkSpec::Count => State::Count(0),
            SinkSpec::Sum(k) => State::Sum(*k, Scalar::zero(*k)),
            SinkSpec::Mean(k) => State::Mean(*k, 0.0, 0),
            SinkSpec::MinMax(k, max) => State::MinMax(*k, *max, None),
            SinkSpec::Frequencies => State::Frequencies(FxHashMap::default()),
            SinkSpec::Distinct => State::Distinct(FxHashSet::default(), Vec::new()),
            SinkSpec::TopK(k, key, largest) => {
                let f = match key {
                    TopKey::Fn(name, _) => Some(entry(name)?),
                    _ => None,
                };
                State::TopK(*k as usize, key.clone(), *largest, Vec::new(), f)
            }
            SinkSpec::Fold(binop, initial) => State::Fold(entry(binop)?, initial.clone()),
            SinkSpec::FoldBy(key, binop, initial) => State::FoldBy(Box::new(FoldBy {
                key: entry(key)?,
                binop: entry(binop)?,
                initial: initial.clone(),
                index: FxHashMap::default(),
                accs: Vec::new(),
            })),
            SinkSpec::MapPartition(f) => State::Whole(entry(f)?, true, Vec::new(), 0),
            SinkSpec::Reduce(f) => State::Whole(entry(f)?, false, Vec::new(), 0),
            SinkSpec::Split(key, n) => {
                State::Split(entry(key)?, vec![Vec::new(); (*n).max(1) as usize])
            }
            SinkSpec::Write(path, storage) => {
                let w = Writer::create_with(path, storage).map_err(|e| failed(e.to_string()))?;
                State::Write(path.clone(), w, 0)
            }
        })
    }

    /// The frequency map, when this is a `frequencies` sink (for the native word counter).
    pub fn frequencies(&mut self) -> Option<&mut FxHashMap<Vec<u8>, u64>> {
        match self {
            State::Frequencies(m) => Some(m),
            _ => None,
        }
    }

    /// The partition's result.
    pub fn finish(self) -> InvokeResult {
        let enc = |v: &dyn erased::Enc| v.enc();
        match self {
            State::Collect(w, _) => Ok(w.finish()),
            State::Count(n) => enc(&n),
            State::Sum(_, s) => enc(&s),
            State::Mean(_, s, n) => enc(&(s, n)),
            State::MinMax(_, _, best) => enc(&best),
            State::Frequencies(m) => {
                let mut v: Vec<(ByteBuf, u64)> =
                    m.into_iter().map(|(k, n)| (ByteBuf::from(k), n)).collect();
                v.sort();
                enc(&v)
            }
            State::Distinct(_, order) => enc(&order),
            State::TopK(k, _, largest, mut v, _) => {
                keep_best(&mut v, k, largest);
                enc(&v)
            }
            State::Fold(_, acc) => Ok(acc),
            State::FoldBy(f) => enc(&f.accs),
            State::Whole(f, _, body, n) => {
                let mut arg = Vec::with_capacity(body.len() + 10);
                write_varint(&mut arg, n);
                arg.extend_from_slice(&body);
                call(f, &[Bytes::from(arg)])
            }
            State::Split(_, buckets) => {
                let parts: Vec<ByteBuf> = buckets
                    .iter()
                    .map(|b| encode_value(b).map(|x| ByteBuf::from(x.to_vec())))
                    .collect::<Result<_, _>>()
                    .map_err(|e| failed(e.to_string()))?;
                enc(&parts)
            }
            State::Write(path, w, _) => {
                w.finish().map_err(|e| failed(e.to_string()))?;
                enc(&path)
            }
        }
    }
}

mod erased {
    use super::*;
    /// Encoding through a trait object, so `finish` stays one match.
    pub trait Enc {
        fn enc(&self) -> InvokeResult;
    }
    impl<T: Serialize> Enc for T {
        fn enc(&self) -> InvokeResult {
            encode_value(self).map_err(|e| failed(format!("cannot encode: {e}")))
        }
    }
}

fn key_of(key: &TopKey, f: Option<&'static TaskEntry>, rec: &[u8]) -> Result<Scalar, Fail> {
    match key {
        TopKey::Element(kind) => Scalar::decode(*kind, rec),
        TopKey::Fn(_, kind) => {
            let f = f.ok_or_else(|| bad_args("topk key function missing"))?;
            Scalar::decode(*kind, &call(f, &[Bytes::copy_from_slice(rec)])?)
        }
        TopKey::Field(i, layout) => {
            let mut rest = rec;
            for (j, kind) in layout.iter().enumerate() {
                let (v, r) = Scalar::decode_prefix(*kind, rest)?;
                if j as u32 == *i {
                    return Ok(v);
                }
                rest = r;
            }
            Err(bad_args(format!("tuple has no field {i}")))
        }
    }
}

impl Sink for State {
    fn push(&mut self, rec: &[u8]) -> Result<bool, Fail> {
        match self {
            State::Collect(w, limit) => {
                w.push(rec);
                return Ok(limit.is_none_or(|l| w.len() < l));
            }
            State::Count(n) => *n += 1,
            State::Sum(kind, s) => *s = s.add(&Scalar::decode(*kind, rec)?)?,
            State::Mean(kind, s, n) => {
                *s += Scalar::decode(*kind, rec)?.as_f64();
                *n += 1;
            }
            State::MinMax(kind, max, best) => {
                let v = Scalar::decode(*kind, rec)?;
                let better = match best {
                    None => true,
                    Some(b) => {
                        if *max {
                            v > *b
                        } else {
                            v < *b
                        }
                    }
                };
                if better {
                    *best = Some(v);
                }
            }
            State::Frequencies(m) => match m.get_mut(rec) {
                Some(n) => *n += 1,
                None => {
                    m.insert(rec.to_vec(), 1);
                }
            },
            State::Distinct(seen, order) => {
                if !seen.contains(rec) {
                    seen.insert(rec.to_vec());
                    order.push(ByteBuf::from(rec.to_vec()));
                }
            }
            State::TopK(k, key, largest, v, f) => {
                v.push((key_of(key, *f, rec)?, ByteBuf::from(rec.to_vec())));
                if v.len() >= 2 * *k + 64 {
                    keep_best(v, *k, *largest);
                }
            }
            State::Fold(binop, acc) => {
                *acc = call(binop, &[acc.clone(), Bytes::copy_from_slice(rec)])?;
            }
            State::FoldBy(f) => {
                let x = Bytes::copy_from_slice(rec);
                let k = call(f.key, std::slice::from_ref(&x))?;
                match f.index.get(&k[..]) {
                    Some(&i) => {
                        let acc = f.accs[i].1.clone();
                        f.accs[i].1 = call(f.binop, &[acc, x])?;
                    }
                    None => {
                        let acc = call(f.binop, &[f.initial.clone(), x])?;
                        f.index.insert(k.to_vec(), f.accs.len());
                        f.accs.push((ByteBuf::from(k.to_vec()), acc));
                    }
                }
            }
            State::Whole(_, _, body, n) => {
                body.extend_from_slice(rec);
                *n += 1;
            }
            State::Split(key, buckets) => {
                let k = call(key, &[Bytes::copy_from_slice(rec)])?;
                let b = (xxhash_rust::xxh3::xxh3_64(&k) % buckets.len() as u64) as usize;
                buckets[b].push((ByteBuf::from(k.to_vec()), ByteBuf::from(rec.to_vec())));
            }
            State::Write(path, w, n) => {
                let line = str_of(rec)?;
                w.write_all(line.as_bytes())
                    .and_then(|_| w.write_all(b"\n"))
                    .map_err(|e| failed(format!("{path}: {e}")))?;
                *n += 1;
            }
        }
        Ok(true)
    }
}

/// Counts the whitespace-separated words of an ASCII buffer straight into a frequency map
/// keyed by each word's `String` encoding (the word-count fast path).
pub fn count_ascii_words(buf: &[u8], out: &mut FxHashMap<Vec<u8>, u64>) {
    // Rust's whitespace within ASCII: \t \n \x0b \x0c \r and space.
    const fn table() -> [bool; 256] {
        let mut t = [false; 256];
        t[9] = true;
        t[10] = true;
        t[11] = true;
        t[12] = true;
        t[13] = true;
        t[32] = true;
        t
    }
    static WS: [bool; 256] = table();
    let mut counts: FxHashMap<&[u8], u64> =
        FxHashMap::with_capacity_and_hasher(1 << 14, Default::default());
    let (mut i, n) = (0, buf.len());
    while i < n {
        while i < n && WS[buf[i] as usize] {
            i += 1;
        }
        let s = i;
        while i < n && !WS[buf[i] as usize] {
            i += 1;
        }
        if s < i {
            *counts.entry(&buf[s..i]).or_insert(0) += 1;
        }
    }
    let mut key = Vec::with_capacity(32);
    for (w, c) in counts {
        key.clear();
        encode_str(&mut key, w);
        match out.get_mut(&key[..]) {
            Some(n) => *n += c,
            None => {
                out.insert(key.clone(), c);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rask_protocol::decode_value;

    #[test]
    fn the_native_word_counter_agrees_with_split_whitespace() {
        let text = "a bb\tccc\n\nbb  a\r\nx\x0by\x0cz a\n";
        let mut got = FxHashMap::default();
        count_ascii_words(text.as_bytes(), &mut got);
        let mut want: FxHashMap<String, u64> = FxHashMap::default();
        for w in text.split_whitespace() {
            *want.entry(w.to_string()).or_default() += 1;
        }
        let got: FxHashMap<String, u64> = got
            .into_iter()
            .map(|(k, n)| (decode_value::<String>(&k).unwrap(), n))
            .collect();
        assert_eq!(got, want);
    }

    #[test]
    fn topk_keeps_the_best_and_ranks_ties_by_bytes() {
        let mut s = State::new(&SinkSpec::TopK(2, TopKey::Element(Kind::I64), true)).unwrap();
        for x in [5i64, -1, 9, 5, 7] {
            s.push(&encode_value(&x).unwrap()).unwrap();
        }
        let out: Vec<(Scalar, ByteBuf)> = decode_value(&s.finish().unwrap()).unwrap();
        let keys: Vec<Scalar> = out.into_iter().map(|x| x.0).collect();
        assert_eq!(keys, [Scalar::I(9), Scalar::I(7)]);
    }
}
