//! Combining partial aggregates: the inner and final nodes of the tree reductions, and the
//! receiving side of the `groupby` shuffle.

use super::native::{Kind, Scalar};
use super::records::{write_varint, RecordsWriter};
use super::sinks::{call, keep_best};
use crate::raw::{bad_args, failed};
use bytes::Bytes;
use rask_actors::worker::registry::{InvokeResult, Registry, TaskEntry};
use rask_protocol::{decode_value, encode_value, TaskErrorKind};
use rustc_hash::FxHashMap;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_bytes::ByteBuf;

crate::raw_task! {
    /// Registered name of the combine step of tree reductions.
    pub const COMBINE = "rask_collections::bag::combine" => run_combine
}

crate::raw_task! {
    /// Registered name of the shuffle's receiving step.
    pub const GROUP = "rask_collections::bag::group" => run_group
}

/// Which aggregate a combine step merges (matching the partition sink that made it).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum CombineOp {
    /// Counts.
    Count,
    /// Sums of this kind.
    Sum(Kind),
    /// (sum, count) pairs.
    Mean,
    /// Least (`false`) or greatest (`true`) of this kind.
    MinMax(Kind, bool),
    /// Frequency tables.
    Frequencies,
    /// Distinct sets.
    Distinct,
    /// Best-`k` lists.
    TopK(u32, bool),
    /// Accumulators merged with this function.
    Fold(String),
    /// Per-key accumulators merged with this function.
    FoldBy(String),
    /// Partials given as a `Vec` to this function.
    Reduce(String),
}

/// A combine step: the op, and whether this is the root (which produces the final form).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CombineSpec {
    /// What to merge.
    pub op: CombineOp,
    /// The root of the tree: produce the user-facing value or partition.
    pub root: bool,
}

fn entry(name: &str) -> Result<&'static TaskEntry, (TaskErrorKind, String)> {
    Registry::global().get(name).ok_or_else(|| {
        (
            TaskErrorKind::UnknownFunction,
            format!("function {name} is not registered on this worker"),
        )
    })
}

fn parts<T: DeserializeOwned>(args: &[Bytes]) -> Result<Vec<T>, (TaskErrorKind, String)> {
    args.iter()
        .map(|a| decode_value(a).map_err(|e| bad_args(format!("partial does not decode: {e}"))))
        .collect()
}

fn enc<T: Serialize>(v: &T) -> InvokeResult {
    encode_value(v).map_err(|e| failed(format!("cannot encode: {e}")))
}

/// Merges partials (`args[1..]`) as the [`CombineSpec`] in `args[0]` says.
pub fn run_combine(args: &[Bytes]) -> InvokeResult {
    let spec: CombineSpec = decode_value(args.first().ok_or_else(|| bad_args("no spec"))?)
        .map_err(|e| bad_args(format!("combine spec does not decode: {e}")))?;
    let inputs = &args[1..];
    match spec.op {
        CombineOp::Count => enc(&parts::<u64>(inputs)?.iter().sum::<u64>()),
        CombineOp::Sum(kind) => {
            let mut total = Scalar::zero(kind);
            for p in parts::<Scalar>(inputs)? {
                total = total.add(&p)?;
            }
            if spec.root {
                Ok(Bytes::from(total.encode()))
            } else {
                enc(&total)
            }
        }
        CombineOp::Mean => {
            let (s, n) = parts::<(f64, u64)>(inputs)?
                .into_iter()
                .fold((0.0, 0), |(s, n), (a, b)| (s + a, n + b));
            match (spec.root, n) {
                (false, _) => enc(&(s, n)),
                (true, 0) => Err(failed("mean of an empty bag")),
                (true, n) => enc(&(s / n as f64)),
            }
        }
        CombineOp::MinMax(_, max) => {
            let best = parts::<Option<Scalar>>(inputs)?
                .into_iter()
                .flatten()
                .reduce(|a, b| if (b > a) == max && b != a { b } else { a });
            match (spec.root, best) {
                (false, best) => enc(&best),
                (true, Some(b)) => Ok(Bytes::from(b.encode())),
                (true, None) => Err(failed(format!(
                    "{} of an empty bag",
                    if max { "max" } else { "min" }
                ))),
            }
        }
        CombineOp::Frequencies => {
            let mut m: FxHashMap<ByteBuf, u64> = FxHashMap::default();
            for p in parts::<Vec<(ByteBuf, u64)>>(inputs)? {
                for (k, n) in p {
                    *m.entry(k).or_insert(0) += n;
                }
            }
            let mut v: Vec<(ByteBuf, u64)> = m.into_iter().collect();
            v.sort();
            if !spec.root {
                return enc(&v);
            }
            let mut w = RecordsWriter::new();
            let mut rec = Vec::new();
            for (k, n) in v {
                rec.clear();
                rec.extend_from_slice(&k);
                write_varint(&mut rec, n);
                w.push(&rec);
            }
            Ok(w.finish())
        }
        CombineOp::Distinct => {
            let mut seen = rustc_hash::FxHashSet::default();
            let mut order = Vec::new();
            for p in parts::<Vec<ByteBuf>>(inputs)? {
                for x in p {
                    if seen.insert(x.clone()) {
                        order.push(x);
                    }
                }
            }
            if spec.root {
                let mut w = RecordsWriter::new();
                order.iter().for_each(|x| w.push(x));
                Ok(w.finish())
            } else {
                enc(&order)
            }
        }
        CombineOp::TopK(k, largest) => {
            let mut all: Vec<(Scalar, ByteBuf)> = parts::<Vec<(Scalar, ByteBuf)>>(inputs)?
                .into_iter()
                .flatten()
                .collect();
            keep_best(&mut all, k as usize, largest);
            if spec.root {
                let mut w = RecordsWriter::new();
                all.iter().for_each(|(_, x)| w.push(x));
                Ok(w.finish())
            } else {
                enc(&all)
            }
        }
        CombineOp::Fold(f) => {
            let f = entry(&f)?;
            let mut it = inputs.iter().cloned();
            let mut acc = it.next().ok_or_else(|| failed("fold of an empty bag"))?;
            for x in it {
                acc = call(f, &[acc, x])?;
            }
            Ok(acc)
        }
        CombineOp::FoldBy(f) => {
            let f = entry(&f)?;
            let mut index: FxHashMap<ByteBuf, usize> = FxHashMap::default();
            let mut accs: Vec<(ByteBuf, Bytes)> = Vec::new();
            for p in parts::<Vec<(ByteBuf, ByteBuf)>>(inputs)? {
                for (k, a) in p {
                    let a = Bytes::from(a.into_vec());
                    match index.get(&k) {
                        Some(&i) => accs[i].1 = call(f, &[accs[i].1.clone(), a])?,
                        None => {
                            index.insert(k.clone(), accs.len());
                            accs.push((k, a));
                        }
                    }
                }
            }
            if !spec.root {
                let v: Vec<(&ByteBuf, &serde_bytes::Bytes)> = accs
                    .iter()
                    .map(|(k, a)| (k, serde_bytes::Bytes::new(a)))
                    .collect();
                return enc(&v);
            }
            let mut w = RecordsWriter::new();
            let mut rec = Vec::new();
            for (k, a) in accs {
                rec.clear();
                rec.extend_from_slice(&k);
                rec.extend_from_slice(&a);
                w.push(&rec);
            }
            Ok(w.finish())
        }
        CombineOp::Reduce(f) => {
            let f = entry(&f)?;
            let mut arg = Vec::new();
            write_varint(&mut arg, inputs.len() as u64);
            inputs.iter().for_each(|p| arg.extend_from_slice(p));
            call(f, &[Bytes::from(arg)])
        }
    }
}

/// Gathers bucket `args[0]` of every split partition (`args[1..]`) and groups by key: one
/// `(K, Vec<T>)` element per key, keys and elements in first-seen order.
pub fn run_group(args: &[Bytes]) -> InvokeResult {
    let bucket: u32 = decode_value(args.first().ok_or_else(|| bad_args("no bucket"))?)
        .map_err(|e| bad_args(format!("bucket does not decode: {e}")))?;
    let mut index: FxHashMap<ByteBuf, usize> = FxHashMap::default();
    let mut groups: Vec<(ByteBuf, u64, Vec<u8>)> = Vec::new();
    for split in parts::<Vec<ByteBuf>>(&args[1..])? {
        let b = split
            .get(bucket as usize)
            .ok_or_else(|| bad_args(format!("split has no bucket {bucket}")))?;
        let pairs: Vec<(ByteBuf, ByteBuf)> =
            decode_value(b).map_err(|e| bad_args(format!("bucket does not decode: {e}")))?;
        for (k, x) in pairs {
            let i = *index.entry(k.clone()).or_insert_with(|| {
                groups.push((k, 0, Vec::new()));
                groups.len() - 1
            });
            groups[i].1 += 1;
            groups[i].2.extend_from_slice(&x);
        }
    }
    let mut w = RecordsWriter::new();
    let mut rec = Vec::new();
    for (k, n, body) in groups {
        rec.clear();
        rec.extend_from_slice(&k);
        write_varint(&mut rec, n);
        rec.extend_from_slice(&body);
        w.push(&rec);
    }
    Ok(w.finish())
}
