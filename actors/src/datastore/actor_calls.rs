//! Actor method calls that arrive over the data-store's socket: handed to the worker's actor
//! host (see [`crate::worker::actors`]) and answered to the caller when they ran.

use super::serve::send_one;
use super::DataStore;
use crate::worker::actors::{ActorHost, CallResult};
use actix::prelude::*;
use bytes::Bytes;
use rask_protocol::{ActorOutcome, FromStore, Key, RequestId};
use std::sync::Arc;

/// Gives the store the worker's actors (sent once at start).
#[derive(Message)]
#[rtype(result = "()")]
pub struct SetActorHost(pub Arc<ActorHost>);

impl Handler<SetActorHost> for DataStore {
    type Result = ();
    fn handle(&mut self, msg: SetActorHost, _ctx: &mut Context<Self>) {
        self.actors = Some(msg.0);
    }
}

impl DataStore {
    /// Queues one call; the answer goes back to `peer` from the actors' thread.
    pub(super) fn actor_call(
        &mut self,
        peer: &Bytes,
        req: RequestId,
        actor: &Key,
        method: &str,
        args: &[Bytes],
    ) {
        let (sender, peer) = (self.sender.clone(), peer.clone());
        let reply = Box::new(move |result: CallResult| {
            let (outcome, bulk) = match result {
                CallResult::Value(v) => (ActorOutcome::Value { frame: 0 }, vec![v]),
                CallResult::Failed(kind, message) => {
                    (ActorOutcome::Failed { kind, message }, vec![])
                }
                CallResult::NoSuchActor => (ActorOutcome::NoSuchActor, vec![]),
                CallResult::NoSuchMethod => (ActorOutcome::NoSuchMethod, vec![]),
            };
            send_one(
                &sender,
                &peer,
                FromStore::ActorResult { req, outcome },
                bulk,
            );
        });
        match &self.actors {
            Some(host) => host.call(actor.clone(), method.to_string(), args.to_vec(), reply),
            None => reply(CallResult::NoSuchActor),
        }
    }
}
