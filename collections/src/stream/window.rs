//! Windows on the driver: a pure state machine that merges the partial aggregates batches
//! return, per pane (a slide-long slot of time) and key, and emits each window once the
//! watermark passes its end. Tumbling windows are sliding windows whose slide is their size;
//! a running (keyed-state) aggregate has one endless pane and reports the keys a batch
//! touched. Time is an argument: nothing here reads a clock.

use super::acc::{Acc, AggSpec};
use super::plan::Partial;
use crate::bag::records::{write_varint, Fail};
use crate::raw::bad_args;
use serde_bytes::ByteBuf;
use std::collections::{BTreeMap, BTreeSet};

/// A window's result, as the sink receives it. Unkeyed windows have `K = ()`.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Windowed<K, A> {
    /// Start of the window (milliseconds since the Unix epoch for arrival time; the event
    /// clock's unit for event time), inclusive.
    pub start_ms: i64,
    /// End of the window, exclusive.
    pub end_ms: i64,
    /// The key (`()` for unkeyed windows).
    pub key: K,
    /// How many events fell in the window (for this key).
    pub events: u64,
    /// The aggregate.
    pub value: A,
}

/// The shape of a window in time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    /// Windows `size_ms` long starting every `slide_ms` (`slide_ms == size_ms`: tumbling).
    Sliding {
        /// Window length.
        size_ms: i64,
        /// Distance between window starts; divides `size_ms`.
        slide_ms: i64,
    },
    /// One endless window per key, reported after every batch that touched the key.
    Running,
}

impl Shape {
    /// Checks the shape: positive lengths, a slide that divides the size.
    pub fn check(self) -> Result<Shape, String> {
        match self {
            Shape::Sliding { size_ms, slide_ms } if size_ms <= 0 || slide_ms <= 0 => Err(format!(
                "window size ({size_ms} ms) and slide ({slide_ms} ms) must be positive"
            )),
            Shape::Sliding { size_ms, slide_ms } if size_ms % slide_ms != 0 => Err(format!(
                "window slide ({slide_ms} ms) must divide its size ({size_ms} ms)"
            )),
            s => Ok(s),
        }
    }

    /// Pane length (the slide; 1 for a running aggregate).
    pub fn slide_ms(self) -> i64 {
        match self {
            Shape::Sliding { slide_ms, .. } => slide_ms,
            Shape::Running => 1,
        }
    }
}

/// One result ready for the sink, already in its wire encoding.
#[derive(Debug, Clone, PartialEq)]
pub struct Emit {
    /// Window end (for latency figures; `i64::MAX` for running aggregates).
    pub end_ms: i64,
    /// The encoded `Windowed<K, A>` (or `KeyState<K, A>` for running aggregates).
    pub record: Vec<u8>,
}

type Keyed = BTreeMap<ByteBuf, (u64, Acc)>;

/// The driver's window state.
#[derive(Debug)]
pub struct WindowState {
    shape: Shape,
    agg: AggSpec,
    panes: BTreeMap<i64, Keyed>,
    /// Every window ending at or before this has been emitted.
    emitted_until: Option<i64>,
    late: u64,
    touched: BTreeSet<ByteBuf>,
}

fn zigzag(buf: &mut Vec<u8>, v: i64) {
    write_varint(buf, ((v << 1) ^ (v >> 63)) as u64);
}

impl WindowState {
    /// Empty state for windows of `shape` computing `agg`.
    pub fn new(shape: Shape, agg: AggSpec) -> WindowState {
        WindowState {
            shape,
            agg,
            panes: BTreeMap::new(),
            emitted_until: None,
            late: 0,
            touched: BTreeSet::new(),
        }
    }

    /// Events that arrived after every window they belong to was emitted (not counted in
    /// any window).
    pub fn late_events(&self) -> u64 {
        self.late
    }

    /// Panes held (for memory checks).
    pub fn panes(&self) -> usize {
        self.panes.len()
    }

    /// Merges a batch's partial aggregates.
    pub fn add(&mut self, partials: Vec<Partial>) -> Result<(), Fail> {
        for p in partials {
            let pane = match self.shape {
                Shape::Running => {
                    self.touched.insert(p.key.clone());
                    0
                }
                Shape::Sliding { size_ms, slide_ms } => {
                    let last_end = p.pane.saturating_mul(slide_ms).saturating_add(size_ms);
                    if self.emitted_until.is_some_and(|e| last_end <= e) {
                        self.late += p.n;
                        continue;
                    }
                    p.pane
                }
            };
            let keyed = self.panes.entry(pane).or_default();
            match keyed.get_mut(&p.key) {
                Some((n, acc)) => {
                    *n += p.n;
                    acc.merge(&self.agg, &p.acc)?;
                }
                None => {
                    keyed.insert(p.key, (p.n, p.acc));
                }
            }
        }
        Ok(())
    }

    /// Windows complete at `watermark` (every window ending at or before it), in time then
    /// key order; for a running aggregate, the keys touched since the last call.
    pub fn advance(&mut self, watermark: i64) -> Result<Vec<Emit>, Fail> {
        let Shape::Sliding { size_ms, slide_ms } = self.shape else {
            return self.running();
        };
        let mut out = Vec::new();
        while let Some(&first) = self.panes.keys().next() {
            let earliest = first.saturating_add(1).saturating_mul(slide_ms);
            let end = match self.emitted_until {
                Some(e) => earliest.max(e.saturating_add(slide_ms)),
                None => earliest,
            };
            if end > watermark {
                break;
            }
            let start = end - size_ms;
            let mut merged: Keyed = BTreeMap::new();
            for (_, keyed) in self.panes.range(start.div_euclid(slide_ms)..end / slide_ms) {
                for (key, (n, acc)) in keyed {
                    match merged.get_mut(key) {
                        Some((m, a)) => {
                            *m += n;
                            a.merge(&self.agg, acc)?;
                        }
                        None => {
                            merged.insert(key.clone(), (*n, acc.clone()));
                        }
                    }
                }
            }
            for (key, (n, acc)) in merged {
                let mut record = Vec::with_capacity(32 + key.len());
                zigzag(&mut record, start);
                zigzag(&mut record, end);
                record.extend_from_slice(&key);
                write_varint(&mut record, n);
                record.extend_from_slice(&acc.value()?);
                out.push(Emit {
                    end_ms: end,
                    record,
                });
            }
            self.emitted_until = Some(end);
            // Panes whose every window has now been emitted.
            let keep_from = (end - size_ms).div_euclid(slide_ms) + 1;
            self.panes = self.panes.split_off(&keep_from);
        }
        if self.panes.is_empty() && watermark < i64::MAX {
            let floor = watermark.div_euclid(slide_ms) * slide_ms;
            self.emitted_until = Some(self.emitted_until.map_or(floor, |e| e.max(floor)));
        }
        Ok(out)
    }

    fn running(&mut self) -> Result<Vec<Emit>, Fail> {
        let Some(keyed) = self.panes.get(&0) else {
            return Ok(Vec::new());
        };
        let mut out = Vec::with_capacity(self.touched.len());
        for key in std::mem::take(&mut self.touched) {
            let (n, acc) = keyed
                .get(&key)
                .ok_or_else(|| bad_args("touched key without state"))?;
            let mut record = key.to_vec();
            write_varint(&mut record, *n);
            record.extend_from_slice(&acc.value()?);
            out.push(Emit {
                end_ms: i64::MAX,
                record,
            });
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bag::native::Kind;
    use rask_protocol::{decode_value, encode_value};

    fn part(pane: i64, key: &str, n: u64) -> Partial {
        Partial {
            pane,
            key: ByteBuf::from(encode_value(&key.to_string()).unwrap().to_vec()),
            n,
            acc: Acc::Count(n),
        }
    }

    fn decoded(emits: &[Emit]) -> Vec<Windowed<String, u64>> {
        emits
            .iter()
            .map(|e| decode_value(&e.record).unwrap())
            .collect()
    }

    #[test]
    fn tumbling_windows_close_at_the_watermark_and_count_late_events() {
        let shape = Shape::Sliding {
            size_ms: 1000,
            slide_ms: 1000,
        };
        let mut w = WindowState::new(shape, AggSpec::Count);
        w.add(vec![part(0, "a", 3), part(0, "b", 1), part(1, "a", 2)])
            .unwrap();
        assert!(w.advance(999).unwrap().is_empty());
        let got = decoded(&w.advance(1000).unwrap());
        assert_eq!(got.len(), 2);
        assert_eq!((got[0].start_ms, got[0].end_ms, got[0].value), (0, 1000, 3));
        assert_eq!((got[1].key.as_str(), got[1].events), ("b", 1));
        // Pane 0 is gone: its events now are late.
        w.add(vec![part(0, "a", 5)]).unwrap();
        assert_eq!(w.late_events(), 5);
        // A gap: the next window is the one holding data, far later.
        w.add(vec![part(7, "c", 1)]).unwrap();
        let got = decoded(&w.advance(i64::MAX).unwrap());
        let spans: Vec<_> = got.iter().map(|g| (g.start_ms, g.key.clone())).collect();
        assert_eq!(spans, [(1000, "a".to_string()), (7000, "c".to_string())]);
        assert_eq!(w.panes(), 0);
    }

    #[test]
    fn sliding_windows_combine_panes_and_drop_old_ones() {
        let shape = Shape::Sliding {
            size_ms: 30,
            slide_ms: 10,
        };
        let mut w = WindowState::new(shape, AggSpec::Sum(Kind::I64));
        let p = |pane: i64, v: i64| Partial {
            pane,
            key: ByteBuf::new(),
            n: 1,
            acc: Acc::Sum(crate::bag::native::Scalar::I(v)),
        };
        w.add(vec![p(0, 1), p(1, 10), p(2, 100), p(3, 1000)])
            .unwrap();
        let got: Vec<Windowed<(), i64>> = w
            .advance(40)
            .unwrap()
            .iter()
            .map(|e| decode_value(&e.record).unwrap())
            .collect();
        let sums: Vec<_> = got.iter().map(|g| (g.start_ms, g.value)).collect();
        assert_eq!(sums, [(-20, 1), (-10, 11), (0, 111), (10, 1110)]);
        assert_eq!(w.panes(), 2, "panes 2 and 3 still feed open windows");
        assert!(Shape::Sliding {
            size_ms: 30,
            slide_ms: 7
        }
        .check()
        .is_err());
    }

    #[test]
    fn running_state_reports_touched_keys() {
        let mut w = WindowState::new(Shape::Running, AggSpec::Count);
        w.add(vec![part(0, "a", 2), part(0, "b", 1)]).unwrap();
        assert_eq!(w.advance(0).unwrap().len(), 2);
        w.add(vec![part(0, "a", 4)]).unwrap();
        let got: Vec<(String, u64, u64)> = w
            .advance(0)
            .unwrap()
            .iter()
            .map(|e| decode_value(&e.record).unwrap())
            .collect();
        assert_eq!(got, [("a".to_string(), 6, 6)]);
    }
}
