//! Window aggregates: what is kept per pane and key ([`Acc`]), how events are added to it on
//! the worker, how partials are merged on the driver, and the encoded value a finished
//! window reports. Native aggregates (count, sum, min, max, mean) need no user code; `fold`
//! calls a registered `binop(acc, event)` on the worker and `combine(acc, acc)` on the driver.

use crate::bag::native::{Kind, Scalar};
use crate::bag::records::Fail;
use crate::raw::{bad_args, failed};
use bytes::Bytes;
use rask_actors::worker::registry::{Registry, TaskEntry};
use rask_protocol::{encode_value, TaskErrorKind};
use serde::{Deserialize, Serialize};
use serde_bytes::ByteBuf;

/// Which aggregate a window computes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum AggSpec {
    /// How many events (`u64`).
    Count,
    /// Their sum (the element type).
    Sum(Kind),
    /// The least (the element type).
    Min(Kind),
    /// The greatest (the element type).
    Max(Kind),
    /// Their mean (`f64`).
    Mean(Kind),
    /// `acc = binop(acc, event)` from `initial` on the workers, partials merged with
    /// `combine(acc, acc)` (both registered functions).
    Fold {
        /// `fn(A, T) -> A`.
        binop: String,
        /// `fn(A, A) -> A`.
        combine: String,
        /// The encoded initial `A`.
        initial: ByteBuf,
    },
}

/// A partial aggregate.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Acc {
    /// A count.
    Count(u64),
    /// A running sum.
    Sum(Scalar),
    /// The best so far (`None` before the first event).
    Best(Option<Scalar>),
    /// Sum and count.
    Mean(f64, u64),
    /// An encoded fold accumulator.
    Fold(ByteBuf),
}

fn scalar(kind: Kind, rec: &[u8]) -> Result<Scalar, Fail> {
    Scalar::decode(kind, rec)
}

impl Acc {
    /// The aggregate of no events.
    pub fn empty(spec: &AggSpec) -> Acc {
        match spec {
            AggSpec::Count => Acc::Count(0),
            AggSpec::Sum(k) => Acc::Sum(Scalar::zero(*k)),
            AggSpec::Min(_) | AggSpec::Max(_) => Acc::Best(None),
            AggSpec::Mean(_) => Acc::Mean(0.0, 0),
            AggSpec::Fold { initial, .. } => Acc::Fold(initial.clone()),
        }
    }

    /// Adds one encoded event (`binop` is the resolved fold function, for folds).
    pub fn add(
        &mut self,
        spec: &AggSpec,
        binop: Option<&'static TaskEntry>,
        rec: &[u8],
    ) -> Result<(), Fail> {
        match (self, spec) {
            (Acc::Count(n), _) => *n += 1,
            (Acc::Sum(s), AggSpec::Sum(k)) => *s = s.add(&scalar(*k, rec)?)?,
            (Acc::Best(b), AggSpec::Min(k) | AggSpec::Max(k)) => {
                let v = scalar(*k, rec)?;
                let max = matches!(spec, AggSpec::Max(_));
                let better = match b {
                    None => true,
                    Some(cur) if max => v > *cur,
                    Some(cur) => v < *cur,
                };
                if better {
                    *b = Some(v);
                }
            }
            (Acc::Mean(s, n), AggSpec::Mean(k)) => {
                *s += scalar(*k, rec)?.as_f64();
                *n += 1;
            }
            (Acc::Fold(a), AggSpec::Fold { .. }) => {
                let f = binop.ok_or_else(|| bad_args("fold without a binop"))?;
                let args = [
                    Bytes::from(std::mem::take(a).into_vec()),
                    Bytes::copy_from_slice(rec),
                ];
                let out = (f.invoke)(&args).map_err(|(k, m)| (k, format!("{}: {m}", f.name)))?;
                *a = ByteBuf::from(out.to_vec());
            }
            _ => return Err(bad_args("aggregate does not match its specification")),
        }
        Ok(())
    }

    /// Merges another partial of the same aggregate into this one.
    pub fn merge(&mut self, spec: &AggSpec, other: &Acc) -> Result<(), Fail> {
        match (self, other) {
            (Acc::Count(a), Acc::Count(b)) => *a += b,
            (Acc::Sum(a), Acc::Sum(b)) => *a = a.add(b)?,
            (Acc::Best(a), Acc::Best(b)) => {
                let max = matches!(spec, AggSpec::Max(_));
                if let Some(v) = b {
                    let better = match a {
                        None => true,
                        Some(cur) if max => v > cur,
                        Some(cur) => v < cur,
                    };
                    if better {
                        *a = Some(v.clone());
                    }
                }
            }
            (Acc::Mean(s, n), Acc::Mean(s2, n2)) => {
                *s += s2;
                *n += n2;
            }
            (Acc::Fold(a), Acc::Fold(b)) => {
                let AggSpec::Fold { combine, .. } = spec else {
                    return Err(bad_args("fold partial without a fold specification"));
                };
                let f = Registry::global().get(combine).ok_or_else(|| {
                    (
                        TaskErrorKind::UnknownFunction,
                        format!("function {combine} is not registered in this process"),
                    )
                })?;
                let args = [
                    Bytes::from(std::mem::take(a).into_vec()),
                    Bytes::copy_from_slice(b),
                ];
                let out = (f.invoke)(&args).map_err(|(k, m)| (k, format!("{combine}: {m}")))?;
                *a = ByteBuf::from(out.to_vec());
            }
            _ => return Err(bad_args("partials of different aggregates")),
        }
        Ok(())
    }

    /// The encoded value a window reports: `u64` for counts, the element type for sums,
    /// minima and maxima, `f64` for means, the accumulator for folds.
    pub fn value(&self) -> Result<Vec<u8>, Fail> {
        let enc = |r: Result<Bytes, rask_protocol::ProtocolError>| {
            r.map(|b| b.to_vec()).map_err(|e| failed(e.to_string()))
        };
        match self {
            Acc::Count(n) => enc(encode_value(n)),
            Acc::Sum(s) => Ok(s.encode()),
            Acc::Best(Some(s)) => Ok(s.encode()),
            Acc::Best(None) => Err(failed("minimum or maximum of no events")),
            Acc::Mean(s, n) => enc(encode_value(&(s / *n as f64))),
            Acc::Fold(a) => Ok(a.to_vec()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rask_protocol::decode_value;

    fn rec(v: i64) -> Vec<u8> {
        encode_value(&v).unwrap().to_vec()
    }

    #[test]
    fn native_partials_add_merge_and_report() {
        for (spec, want) in [
            (AggSpec::Count, encode_value(&5u64).unwrap().to_vec()),
            (AggSpec::Sum(Kind::I64), rec(5)),
            (AggSpec::Min(Kind::I64), rec(-3)),
            (AggSpec::Max(Kind::I64), rec(4)),
            (
                AggSpec::Mean(Kind::I64),
                encode_value(&1.0f64).unwrap().to_vec(),
            ),
        ] {
            let (mut a, mut b) = (Acc::empty(&spec), Acc::empty(&spec));
            for v in [1, 2, 4] {
                a.add(&spec, None, &rec(v)).unwrap();
            }
            for v in [-3, 1] {
                b.add(&spec, None, &rec(v)).unwrap();
            }
            a.merge(&spec, &b).unwrap();
            assert_eq!(a.value().unwrap(), want, "{spec:?}");
        }
        let spec = AggSpec::Max(Kind::I64);
        let mut a = Acc::empty(&spec);
        assert!(a.value().is_err());
        a.merge(&spec, &Acc::empty(&spec)).unwrap();
        assert!(matches!(a, Acc::Best(None)));
        assert!(a.add(&spec, None, b"\xff\xff").is_err());
        let _ = decode_value::<u64>(&Acc::Count(3).value().unwrap()).unwrap();
    }
}
