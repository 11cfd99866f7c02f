//! Cluster-wide [`Lock`]s, [`Semaphore`]s and [`Event`]s, named and hosted by the scheduler.
//!
//! Locks and semaphores hand out leases. A lease is held by the client that acquired it until
//! it is released, until that client leaves (closes, loses its connection, or stays silent
//! past the scheduler's client TTL — 30 s by default; a killed process counts as a lost
//! connection and is noticed at once), or until its optional lease time runs out. Waiting
//! acquirers are served in order, and told as soon as a lease is theirs. Timeouts and lease
//! times are checked on the scheduler's tick (every 250 ms at most).

use super::coord::{ms, unexpected};
use super::handle::Client;
use crate::{Error, Result};
use rask_protocol::{CoordOp, CoordReply};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// One lease of a [`Semaphore`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Lease(pub u64);

/// A named semaphore: at most `max_leases` leases held at once, cluster-wide.
#[derive(Clone)]
pub struct Semaphore {
    client: Client,
    name: String,
    max_leases: u32,
    lease_for: Option<Duration>,
}

impl Semaphore {
    /// A handle on the semaphore `name`; `max_leases` is fixed by whichever client makes it
    /// exist first.
    pub fn new(client: &Client, name: impl Into<String>, max_leases: u32) -> Semaphore {
        Semaphore {
            client: client.clone(),
            name: name.into(),
            max_leases,
            lease_for: None,
        }
    }

    /// Leases taken through this handle end by themselves after `lease` if not released.
    pub fn with_lease(mut self, lease: Duration) -> Semaphore {
        self.lease_for = Some(lease);
        self
    }

    /// Takes a lease, waiting up to `timeout` (`None`: forever); [`Error::Timeout`] if none
    /// became free in time.
    pub async fn acquire(&self, timeout: Option<Duration>) -> Result<Lease> {
        let op = CoordOp::Acquire {
            name: self.name.clone(),
            max_leases: self.max_leases,
            lease_ms: ms(self.lease_for),
            timeout_ms: ms(timeout),
        };
        let what = || format!("a lease of {}", self.name);
        match self.client.coord(op, timeout, what).await? {
            CoordReply::Lease(id) => Ok(Lease(id)),
            other => Err(unexpected(other)),
        }
    }

    /// Gives a lease back; [`Error::Coordination`] if this client no longer holds it (it
    /// timed out, or was released already).
    pub async fn release(&self, lease: Lease) -> Result<()> {
        let op = CoordOp::Release {
            name: self.name.clone(),
            lease: lease.0,
        };
        match self.client.coord(op, None, String::new).await? {
            CoordReply::Done => Ok(()),
            other => Err(unexpected(other)),
        }
    }

    /// Blocking form of [`Semaphore::acquire`].
    pub fn acquire_blocking(&self, timeout: Option<Duration>) -> Result<Lease> {
        super::block::block_on(self.acquire(timeout))
    }

    /// Blocking form of [`Semaphore::release`].
    pub fn release_blocking(&self, lease: Lease) -> Result<()> {
        super::block::block_on(self.release(lease))
    }
}

/// A named lock: a semaphore of one lease, remembered by the handle that took it.
#[derive(Clone)]
pub struct Lock {
    inner: Semaphore,
    held: Arc<Mutex<Option<Lease>>>,
}

impl Lock {
    /// A handle on the lock `name`.
    pub fn new(client: &Client, name: impl Into<String>) -> Lock {
        Lock {
            inner: Semaphore::new(client, name, 1),
            held: Arc::new(Mutex::new(None)),
        }
    }

    /// The lock ends by itself after `lease` if not released.
    pub fn with_lease(self, lease: Duration) -> Lock {
        Lock {
            inner: self.inner.with_lease(lease),
            held: self.held,
        }
    }

    /// Takes the lock, waiting up to `timeout` (`None`: forever); [`Error::Timeout`] if it
    /// stayed held by someone else.
    pub async fn acquire(&self, timeout: Option<Duration>) -> Result<()> {
        let lease = self.inner.acquire(timeout).await?;
        *self.held.lock().expect("lock") = Some(lease);
        Ok(())
    }

    /// Releases the lock taken through this handle; [`Error::Coordination`] if it is not
    /// held (never taken, or its lease ended).
    pub async fn release(&self) -> Result<()> {
        let lease = self.held.lock().expect("lock").take();
        match lease {
            Some(lease) => self.inner.release(lease).await,
            None => Err(Error::Coordination(format!(
                "lock {} is not held by this handle",
                self.inner.name
            ))),
        }
    }

    /// Blocking form of [`Lock::acquire`].
    pub fn acquire_blocking(&self, timeout: Option<Duration>) -> Result<()> {
        super::block::block_on(self.acquire(timeout))
    }

    /// Blocking form of [`Lock::release`].
    pub fn release_blocking(&self) -> Result<()> {
        super::block::block_on(self.release())
    }
}

/// A named event: `wait` returns once some client `set` it.
#[derive(Clone)]
pub struct Event {
    client: Client,
    name: String,
}

impl Event {
    /// A handle on the event `name`.
    pub fn new(client: &Client, name: impl Into<String>) -> Event {
        Event {
            client: client.clone(),
            name: name.into(),
        }
    }

    async fn simple(&self, op: CoordOp, timeout: Option<Duration>) -> Result<CoordReply> {
        let what = || format!("event {}", self.name);
        self.client.coord(op, timeout, what).await
    }

    /// Sets the event (every waiter returns).
    pub async fn set(&self) -> Result<()> {
        let name = self.name.clone();
        match self.simple(CoordOp::EventSet { name }, None).await? {
            CoordReply::Done => Ok(()),
            other => Err(unexpected(other)),
        }
    }

    /// Clears the event.
    pub async fn clear(&self) -> Result<()> {
        let name = self.name.clone();
        match self.simple(CoordOp::EventClear { name }, None).await? {
            CoordReply::Done => Ok(()),
            other => Err(unexpected(other)),
        }
    }

    /// Waits up to `timeout` (`None`: forever) for the event to be set.
    pub async fn wait(&self, timeout: Option<Duration>) -> Result<()> {
        let (name, timeout_ms) = (self.name.clone(), ms(timeout));
        match self
            .simple(CoordOp::EventWait { name, timeout_ms }, timeout)
            .await?
        {
            CoordReply::Done => Ok(()),
            other => Err(unexpected(other)),
        }
    }

    /// Whether the event is set now.
    pub async fn is_set(&self) -> Result<bool> {
        let name = self.name.clone();
        match self.simple(CoordOp::EventIsSet { name }, None).await? {
            CoordReply::Flag(b) => Ok(b),
            other => Err(unexpected(other)),
        }
    }

    /// Blocking form of [`Event::set`].
    pub fn set_blocking(&self) -> Result<()> {
        super::block::block_on(self.set())
    }

    /// Blocking form of [`Event::wait`].
    pub fn wait_blocking(&self, timeout: Option<Duration>) -> Result<()> {
        super::block::block_on(self.wait(timeout))
    }

    /// Blocking form of [`Event::clear`].
    pub fn clear_blocking(&self) -> Result<()> {
        super::block::block_on(self.clear())
    }

    /// Blocking form of [`Event::is_set`].
    pub fn is_set_blocking(&self) -> Result<bool> {
        super::block::block_on(self.is_set())
    }
}
