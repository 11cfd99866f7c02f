//! Single-value primitives that readers wait on: a [`Variable`] (waits for a first value) and
//! an [`Event`] (waits until set).

use super::{Effects, Waiter};
use rask_protocol::{ClientId, CoordReply, Item, RequestId};
use std::time::Instant;

/// A named variable: readers wait until it has a value.
#[derive(Debug, Default)]
pub struct Variable {
    value: Option<Item>,
    waiters: Vec<Waiter>,
}

impl Variable {
    /// No value and nobody waiting.
    pub fn is_idle(&self) -> bool {
        self.value.is_none() && self.waiters.is_empty()
    }

    /// Sets the value (the previous one leaves) and answers every waiting reader.
    pub fn set(&mut self, item: Item, fx: &mut Effects) {
        for w in self.waiters.drain(..) {
            fx.reply(w, CoordReply::Item(item.clone()));
        }
        if let Some(old) = self.value.replace(item) {
            fx.drop_item(old);
        }
    }

    /// Reads the value, or waits for one — unless the deadline already passed.
    pub fn get(&mut self, w: Waiter, now: Instant, fx: &mut Effects) {
        match &self.value {
            Some(item) => fx.reply(w, CoordReply::Item(item.clone())),
            None if w.expired(now) => fx.reply(w, CoordReply::Timeout),
            None => self.waiters.push(w),
        }
    }

    /// Removes the value.
    pub fn delete(&mut self, fx: &mut Effects) {
        if let Some(old) = self.value.take() {
            fx.drop_item(old);
        }
    }

    /// Answers reads past their deadline.
    pub fn expire(&mut self, now: Instant, fx: &mut Effects) {
        expire(&mut self.waiters, now, fx);
    }

    /// Ends request `req` of `client` if it waits here.
    pub fn withdraw(&mut self, client: ClientId, req: RequestId, fx: &mut Effects) {
        withdraw(&mut self.waiters, client, req, fx);
    }

    /// A client left: its reads end.
    pub fn client_gone(&mut self, client: ClientId) {
        self.waiters.retain(|w| w.client != client);
    }
}

/// A named event: waiters wait until it is set.
#[derive(Debug, Default)]
pub struct Event {
    set: bool,
    waiters: Vec<Waiter>,
}

impl Event {
    /// Clear and nobody waiting.
    pub fn is_idle(&self) -> bool {
        !self.set && self.waiters.is_empty()
    }

    /// True if set.
    pub fn is_set(&self) -> bool {
        self.set
    }

    /// Sets it and answers every waiter.
    pub fn set(&mut self, fx: &mut Effects) {
        self.set = true;
        for w in self.waiters.drain(..) {
            fx.reply(w, CoordReply::Done);
        }
    }

    /// Clears it.
    pub fn clear(&mut self) {
        self.set = false;
    }

    /// Returns at once if set, else waits — unless the deadline already passed.
    pub fn wait(&mut self, w: Waiter, now: Instant, fx: &mut Effects) {
        if self.set {
            fx.reply(w, CoordReply::Done);
        } else if w.expired(now) {
            fx.reply(w, CoordReply::Timeout);
        } else {
            self.waiters.push(w);
        }
    }

    /// Answers waits past their deadline.
    pub fn expire(&mut self, now: Instant, fx: &mut Effects) {
        expire(&mut self.waiters, now, fx);
    }

    /// Ends request `req` of `client` if it waits here.
    pub fn withdraw(&mut self, client: ClientId, req: RequestId, fx: &mut Effects) {
        withdraw(&mut self.waiters, client, req, fx);
    }

    /// A client left: its waits end.
    pub fn client_gone(&mut self, client: ClientId) {
        self.waiters.retain(|w| w.client != client);
    }
}

fn expire(waiters: &mut Vec<Waiter>, now: Instant, fx: &mut Effects) {
    waiters.retain(|w| {
        let keep = !w.expired(now);
        if !keep {
            fx.reply(*w, CoordReply::Timeout);
        }
        keep
    });
}

fn withdraw(waiters: &mut Vec<Waiter>, client: ClientId, req: RequestId, fx: &mut Effects) {
    if let Some(i) = waiters
        .iter()
        .position(|w| w.client == client && w.req == req)
    {
        fx.reply(waiters.remove(i), CoordReply::Timeout);
    }
}
