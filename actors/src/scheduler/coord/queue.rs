//! A named, bounded, multi-producer/multi-consumer queue. Waiting consumers are served first
//! come, first served, and every item goes to exactly one of them; producers wait (in order)
//! while the queue is full.

use super::{Effects, Waiter};
use rask_protocol::{ClientId, CoordReply, Item, RequestId};
use std::collections::VecDeque;
use std::time::Instant;

/// One queue's state.
#[derive(Debug, Default)]
pub struct Queue {
    /// Bound on `items` (0: unbounded).
    maxsize: usize,
    items: VecDeque<Item>,
    /// Consumers waiting for an item (only while `items` is empty), with the batch size each
    /// takes (`None`: one item, answered as a single item).
    getters: VecDeque<(Waiter, Option<usize>)>,
    /// Producers waiting for room, with their items (only while `items` is full).
    putters: VecDeque<(Waiter, Item)>,
}

impl Queue {
    /// An empty queue of at most `maxsize` items (0: unbounded).
    pub fn new(maxsize: usize) -> Self {
        Queue {
            maxsize,
            ..Default::default()
        }
    }

    /// Items stored now.
    pub fn len(&self) -> usize {
        self.items.len()
    }

    /// True when empty.
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// Nothing stored and nobody waiting.
    pub fn is_idle(&self) -> bool {
        self.items.is_empty() && self.getters.is_empty() && self.putters.is_empty()
    }

    fn full(&self) -> bool {
        self.maxsize > 0 && self.items.len() >= self.maxsize
    }

    /// A producer offers `item`: straight to the oldest waiting consumer, else stored, else
    /// (full) the producer waits — unless its deadline already passed.
    pub fn put(&mut self, w: Waiter, item: Item, now: Instant, fx: &mut Effects) {
        if let Some((g, batch)) = self.getters.pop_front() {
            match batch {
                None => fx.give(g, item),
                Some(_) => fx.give_many(g, vec![item]),
            }
            fx.reply(w, CoordReply::Done);
        } else if !self.full() {
            self.items.push_back(item);
            fx.reply(w, CoordReply::Done);
        } else if w.expired(now) {
            fx.drop_item(item);
            fx.reply(w, CoordReply::Timeout);
        } else {
            self.putters.push_back((w, item));
        }
    }

    /// A consumer asks for the oldest item (`batch: None`) or up to `batch` of the oldest
    /// items (letting waiting producers in as room frees), else it waits — unless its
    /// deadline already passed.
    pub fn get(&mut self, w: Waiter, batch: Option<usize>, now: Instant, fx: &mut Effects) {
        if self.items.is_empty() {
            if w.expired(now) {
                fx.reply(w, CoordReply::Timeout);
            } else {
                self.getters.push_back((w, batch));
            }
            return;
        }
        match batch {
            None => fx.give(w, self.items.pop_front().expect("not empty")),
            Some(n) => {
                let n = n.min(self.items.len());
                fx.give_many(w, self.items.drain(..n).collect());
            }
        }
        while !self.full() {
            let Some((p, item)) = self.putters.pop_front() else {
                break;
            };
            self.items.push_back(item);
            fx.reply(p, CoordReply::Done);
        }
    }

    /// Answers waits past their deadline.
    pub fn expire(&mut self, now: Instant, fx: &mut Effects) {
        self.getters.retain(|(g, _)| {
            let keep = !g.expired(now);
            if !keep {
                fx.reply(*g, CoordReply::Timeout);
            }
            keep
        });
        let (late, keep): (VecDeque<_>, VecDeque<_>) = std::mem::take(&mut self.putters)
            .into_iter()
            .partition(|(p, _)| p.expired(now));
        self.putters = keep;
        for (p, item) in late {
            fx.drop_item(item);
            fx.reply(p, CoordReply::Timeout);
        }
    }

    /// Ends request `req` of `client` if it waits here (a put's item is dropped).
    pub fn withdraw(&mut self, client: ClientId, req: RequestId, fx: &mut Effects) {
        let mine = |w: &Waiter| w.client == client && w.req == req;
        if let Some(i) = self.getters.iter().position(|(w, _)| mine(w)) {
            let (w, _) = self.getters.remove(i).expect("present");
            fx.reply(w, CoordReply::Timeout);
        }
        if let Some(i) = self.putters.iter().position(|(w, _)| mine(w)) {
            let (w, item) = self.putters.remove(i).expect("present");
            fx.drop_item(item);
            fx.reply(w, CoordReply::Timeout);
        }
    }

    /// A client left: its waiting gets end, its waiting puts are dropped with their items.
    pub fn client_gone(&mut self, client: ClientId, fx: &mut Effects) {
        self.getters.retain(|(g, _)| g.client != client);
        let (gone, keep): (VecDeque<_>, VecDeque<_>) = std::mem::take(&mut self.putters)
            .into_iter()
            .partition(|(p, _)| p.client == client);
        self.putters = keep;
        for (_, item) in gone {
            fx.drop_item(item);
        }
    }
}
