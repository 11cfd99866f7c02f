//! Keeping the keys stored in queues, variables and datasets alive (held for [`HOLDER`]),
//! handing keys over to the clients that receive them, and publishing datasets.

use super::{Effects, Waiter, HOLDER};
use crate::scheduler::core::{Core, Outbox};
use rask_protocol::{CoordReply, Item, Key, Reply, ToClient};

impl Core {
    /// Publishes `keys` under `name`, holding each (a replaced dataset's keys are let go).
    pub(super) fn publish(
        &mut self,
        w: Waiter,
        (name, keys): (String, Vec<Key>),
        replace: bool,
        fx: &mut Effects,
        out: &mut impl Outbox,
    ) {
        if !replace && self.coord.datasets.contains_key(&name) {
            let why = format!("a dataset named {name} is already published");
            return fx.reply(w, CoordReply::Refused(why));
        }
        if let Some(k) = keys.iter().find(|k| !self.tasks.contains_key(*k)) {
            let why = format!("cannot publish {name}: the scheduler does not know {k}");
            return fx.reply(w, CoordReply::Refused(why));
        }
        for k in &keys {
            self.hold(k, out);
        }
        if let Some(old) = self.coord.datasets.insert(name, keys) {
            fx.dropped.extend(old);
        }
        fx.reply(w, CoordReply::Done);
    }

    /// Holds an item's key before it is stored; refuses the request if the key is unknown.
    pub(super) fn hold_item(
        &mut self,
        item: &Item,
        w: Waiter,
        fx: &mut Effects,
        out: &mut impl Outbox,
    ) -> bool {
        match item {
            Item::Value(_) => true,
            Item::Key(k) if self.tasks.contains_key(k) => {
                self.hold(k, out);
                true
            }
            Item::Key(k) => {
                let why = format!("the scheduler does not know {k} (was it released?)");
                fx.reply(w, CoordReply::Refused(why));
                false
            }
        }
    }

    /// One more place stores `key`: the first one makes [`HOLDER`] want it.
    fn hold(&mut self, key: &Key, out: &mut impl Outbox) {
        let n = self.coord.held.entry(key.clone()).or_insert(0);
        *n += 1;
        if *n == 1 {
            let now = self.now;
            let holder =
                self.clients
                    .entry(HOLDER)
                    .or_insert_with(|| crate::scheduler::state::Client {
                        name: "coordination".into(),
                        wants: Default::default(),
                        last_seen: now,
                    });
            holder.wants.insert(key.clone());
            self.want_existing(HOLDER, key, out);
        }
    }

    /// Sends the replies, hands their keys to the receiving clients, then drops the holds on
    /// keys that left their primitive.
    pub(super) fn apply_coord(&mut self, fx: Effects, out: &mut impl Outbox) {
        for (w, reply) in fx.replies {
            if !self.clients.contains_key(&w.client) {
                continue;
            }
            let keys = reply.keys();
            let reply = Reply::Coord(reply);
            out.to_client(w.client, ToClient::Reply { req: w.req, reply });
            for key in keys {
                if self.tasks.contains_key(&key) {
                    if let Some(c) = self.clients.get_mut(&w.client) {
                        c.wants.insert(key.clone());
                    }
                    self.want_existing(w.client, &key, out);
                }
            }
        }
        for key in fx.dropped {
            let Some(n) = self.coord.held.get_mut(&key) else {
                continue;
            };
            *n -= 1;
            if *n == 0 {
                self.coord.held.remove(&key);
                if let Some(h) = self.clients.get_mut(&HOLDER) {
                    h.wants.remove(&key);
                }
                self.unwant(HOLDER, &key, out);
            }
        }
    }
}
