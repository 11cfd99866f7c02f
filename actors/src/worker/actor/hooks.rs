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

/// The callback a job runs the first time it secedes (on its compute thread).
pub(super) fn on_secede(
    me: &Addr<Worker>,
    key: &Key,
    attempt: Attempt,
) -> Box<dyn FnOnce() + Send> {
    let (me, key) = (me.clone(), key.clone());
    Box::new(move || me.do_send(Seceded { key, attempt }))
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
