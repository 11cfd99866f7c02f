//! Semaphores (and locks, which are semaphores of one lease): a lease is held by one client
//! until it is released, its client leaves (goodbye, lost connection, silence past the client
//! TTL), or its optional lease time runs out. Waiting acquirers are served in order.

use super::{Effects, Waiter};
use rask_protocol::{ClientId, CoordReply, RequestId};
use std::collections::VecDeque;
use std::time::{Duration, Instant};

/// A lease granted to a client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Lease {
    /// Its id (unique within the scheduler's life).
    pub id: u64,
    /// The holder.
    pub client: ClientId,
    /// When it ends by itself (`None`: never).
    pub expires: Option<Instant>,
}

/// One semaphore's state.
#[derive(Debug)]
pub struct Semaphore {
    max: usize,
    leases: Vec<Lease>,
    /// Acquirers waiting, with the lease time each asked for.
    waiters: VecDeque<(Waiter, Option<Duration>)>,
}

impl Semaphore {
    /// A semaphore of `max` leases (at least one).
    pub fn new(max: u32) -> Self {
        Semaphore {
            max: max.max(1) as usize,
            leases: Vec::new(),
            waiters: VecDeque::new(),
        }
    }

    /// Leases held now.
    pub fn leases(&self) -> &[Lease] {
        &self.leases
    }

    /// No lease held and nobody waiting.
    pub fn is_idle(&self) -> bool {
        self.leases.is_empty() && self.waiters.is_empty()
    }

    fn grant(&mut self, w: Waiter, lease_for: Option<Duration>, now: Instant, next: &mut u64) {
        *next += 1;
        self.leases.push(Lease {
            id: *next,
            client: w.client,
            expires: lease_for.map(|d| now + d),
        });
    }

    /// Takes a lease if one is free (and nobody is already waiting), else waits — unless the
    /// deadline already passed.
    pub fn acquire(
        &mut self,
        w: Waiter,
        lease_for: Option<Duration>,
        now: Instant,
        next: &mut u64,
        fx: &mut Effects,
    ) {
        if self.leases.len() < self.max && self.waiters.is_empty() {
            self.grant(w, lease_for, now, next);
            fx.reply(w, CoordReply::Lease(*next));
        } else if w.expired(now) {
            fx.reply(w, CoordReply::Timeout);
        } else {
            self.waiters.push_back((w, lease_for));
        }
    }

    /// Gives lease `id` back (only its holder may); the next waiter gets it.
    pub fn release(&mut self, w: Waiter, id: u64, now: Instant, next: &mut u64, fx: &mut Effects) {
        let before = self.leases.len();
        self.leases
            .retain(|l| !(l.id == id && l.client == w.client));
        if self.leases.len() == before {
            let why = format!("lease {id} is not held by this client (expired or released?)");
            fx.reply(w, CoordReply::Refused(why));
        } else {
            fx.reply(w, CoordReply::Done);
            self.serve(now, next, fx);
        }
    }

    /// Grants free leases to the waiters, oldest first.
    fn serve(&mut self, now: Instant, next: &mut u64, fx: &mut Effects) {
        while self.leases.len() < self.max {
            let Some((w, lease_for)) = self.waiters.pop_front() else {
                break;
            };
            self.grant(w, lease_for, now, next);
            fx.reply(w, CoordReply::Lease(*next));
        }
    }

    /// Ends leases whose time is up and answers waits past their deadline.
    pub fn expire(&mut self, now: Instant, next: &mut u64, fx: &mut Effects) {
        self.leases.retain(|l| {
            let over = l.expires.is_some_and(|e| e <= now);
            if over {
                tracing::info!(lease = l.id, client = %l.client, "lease timed out");
            }
            !over
        });
        self.waiters.retain(|(w, _)| {
            let keep = !w.expired(now);
            if !keep {
                fx.reply(*w, CoordReply::Timeout);
            }
            keep
        });
        self.serve(now, next, fx);
    }

    /// Ends request `req` of `client` if it waits here.
    pub fn withdraw(&mut self, client: ClientId, req: RequestId, fx: &mut Effects) {
        if let Some(i) = self
            .waiters
            .iter()
            .position(|(w, _)| w.client == client && w.req == req)
        {
            let (w, _) = self.waiters.remove(i).expect("present");
            fx.reply(w, CoordReply::Timeout);
        }
    }

    /// A client left: its leases go back and its waits end.
    pub fn client_gone(
        &mut self,
        client: ClientId,
        now: Instant,
        next: &mut u64,
        fx: &mut Effects,
    ) {
        self.leases.retain(|l| l.client != client);
        self.waiters.retain(|(w, _)| w.client != client);
        self.serve(now, next, fx);
    }
}
