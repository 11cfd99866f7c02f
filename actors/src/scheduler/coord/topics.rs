//! Topic subscriptions: which clients receive the events logged on each topic. Events are not
//! stored; a subscriber sees those logged after its subscription was confirmed.

use rask_protocol::ClientId;
use rustc_hash::FxHashMap as HashMap;
use std::collections::BTreeSet;

/// Subscribers by topic.
#[derive(Debug, Default)]
pub struct Topics {
    subs: HashMap<String, BTreeSet<ClientId>>,
}

impl Topics {
    /// `client` receives `topic` from now on.
    pub fn subscribe(&mut self, topic: String, client: ClientId) {
        self.subs.entry(topic).or_default().insert(client);
    }

    /// `client` stops receiving `topic`.
    pub fn unsubscribe(&mut self, topic: &str, client: ClientId) {
        if let Some(s) = self.subs.get_mut(topic) {
            s.remove(&client);
            if s.is_empty() {
                self.subs.remove(topic);
            }
        }
    }

    /// The subscribers of `topic`, in id order.
    pub fn subscribers(&self, topic: &str) -> Vec<ClientId> {
        self.subs
            .get(topic)
            .map(|s| s.iter().copied().collect())
            .unwrap_or_default()
    }

    /// A client left: it is dropped from every topic.
    pub fn client_gone(&mut self, client: ClientId) {
        self.subs.retain(|_, s| {
            s.remove(&client);
            !s.is_empty()
        });
    }
}
