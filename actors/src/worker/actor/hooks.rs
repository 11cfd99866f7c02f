//! Small worker hooks kept out of the actor's main file: a running task seceded (it waits on
//! other tasks), which the scheduler is told so it stops counting the task against this
//! worker's threads.

use super::Worker;
use actix::prelude::*;
use rask_protocol::{Attempt, FromWorker, Key};

/// A running attempt seceded from the compute pool.
#[derive(Message)]
#[rtype(result = "()")]
pub(super) struct Seceded {
    key: Key,
    attempt: Attempt,
}

/// What the compute pool calls the first time a job secedes (on its compute thread).
pub(super) fn secede_hook(me: Addr<Worker>) -> crate::worker::pool::SecedeHook {
    std::sync::Arc::new(move |key, attempt| me.do_send(Seceded { key, attempt }))
}

impl Handler<Seceded> for Worker {
    type Result = ();
    fn handle(&mut self, msg: Seceded, ctx: &mut Context<Self>) {
        let current = self
            .running
            .get(&msg.key)
            .is_some_and(|(a, _, _)| *a == msg.attempt);
        if current {
            self.outbox.push(FromWorker::Seceded {
                key: msg.key,
                attempt: msg.attempt,
            });
            self.flush_soon(ctx);
        }
    }
}
