//! Cutting the event stream into micro-batches: a batch closes when it holds `max_events`,
//! when its first event has waited `max_delay_ms`, or (for arrival-time windows) when the
//! clock enters the next pane, so that every batch lies in one pane. Pure: the caller passes
//! the time.

use crate::bag::records::RecordsWriter;
use bytes::Bytes;

/// A closed micro-batch.
#[derive(Debug, Clone, PartialEq)]
pub struct Cut {
    /// The events, in the partition format.
    pub events: Bytes,
    /// How many.
    pub n: u64,
    /// Arrival time of the first event (ms).
    pub first_ms: i64,
    /// The arrival pane of every event (0 without arrival-time panes).
    pub pane: i64,
}

/// Builds micro-batches.
pub struct Batcher {
    max_events: u64,
    max_delay_ms: i64,
    /// Pane length for arrival-time windows.
    pane_ms: Option<i64>,
    cur: RecordsWriter,
    first_ms: i64,
    pane: i64,
}

impl Batcher {
    /// Batches of at most `max_events` (at least 1) that wait at most `max_delay_ms`, cut at
    /// multiples of `pane_ms` if given.
    pub fn new(max_events: u64, max_delay_ms: i64, pane_ms: Option<i64>) -> Batcher {
        Batcher {
            max_events: max_events.max(1),
            max_delay_ms: max_delay_ms.max(0),
            pane_ms: pane_ms.filter(|p| *p > 0),
            cur: RecordsWriter::new(),
            first_ms: 0,
            pane: 0,
        }
    }

    fn pane_of(&self, now_ms: i64) -> i64 {
        self.pane_ms.map_or(0, |p| now_ms.div_euclid(p))
    }

    /// Events in the open batch.
    pub fn len(&self) -> u64 {
        self.cur.len()
    }

    /// Whether the open batch is empty.
    pub fn is_empty(&self) -> bool {
        self.cur.len() == 0
    }

    /// Arrival time of the open batch's first event.
    pub fn first_ms(&self) -> Option<i64> {
        (!self.is_empty()).then_some(self.first_ms)
    }

    /// Adds an event arriving at `now_ms`; returns the batches it closes (the open one if
    /// the event starts a new pane, and the event's own batch if it is now full).
    pub fn push(&mut self, record: &[u8], now_ms: i64) -> Vec<Cut> {
        let mut cuts = Vec::new();
        let pane = self.pane_of(now_ms);
        if !self.is_empty() && pane != self.pane {
            cuts.extend(self.take());
        }
        if self.is_empty() {
            self.first_ms = now_ms;
            self.pane = pane;
        }
        self.cur.push(record);
        if self.cur.len() >= self.max_events {
            cuts.extend(self.take());
        }
        cuts
    }

    /// When the open batch must close at the latest (`None`: nothing open).
    pub fn deadline_ms(&self) -> Option<i64> {
        if self.is_empty() {
            return None;
        }
        let by_delay = self.first_ms.saturating_add(self.max_delay_ms);
        Some(match self.pane_ms {
            Some(p) => by_delay.min((self.pane + 1).saturating_mul(p)),
            None => by_delay,
        })
    }

    /// Closes the open batch if its deadline has passed at `now_ms`.
    pub fn poll(&mut self, now_ms: i64) -> Option<Cut> {
        match self.deadline_ms() {
            Some(d) if now_ms >= d => self.take(),
            _ => None,
        }
    }

    /// Closes the open batch, if any.
    pub fn take(&mut self) -> Option<Cut> {
        if self.is_empty() {
            return None;
        }
        let n = self.cur.len();
        Some(Cut {
            events: std::mem::take(&mut self.cur).finish(),
            n,
            first_ms: self.first_ms,
            pane: self.pane,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batches_close_on_count_delay_and_pane_change() {
        let mut b = Batcher::new(3, 5, None);
        assert!(b.push(b"a", 100).is_empty());
        assert_eq!(b.deadline_ms(), Some(105));
        assert!(b.poll(104).is_none());
        assert_eq!(b.poll(105).map(|c| (c.n, c.first_ms)), Some((2 - 1, 100)));
        b.push(b"a", 200);
        b.push(b"b", 201);
        let cuts = b.push(b"c", 202);
        assert_eq!(cuts.len(), 1);
        assert_eq!(cuts[0].n, 3);
        assert!(b.take().is_none());

        let mut b = Batcher::new(100, 50, Some(10));
        b.push(b"a", 18);
        assert_eq!(b.deadline_ms(), Some(20), "the pane ends before the delay");
        let cuts = b.push(b"b", 21);
        assert_eq!((cuts.len(), cuts[0].pane, cuts[0].n), (1, 1, 1));
        assert_eq!(b.take().map(|c| c.pane), Some(2));
        let one = Batcher::new(1, 0, Some(10)).push(b"x", 3);
        assert_eq!(one.len(), 1);
    }
}
