//! Registering with the scheduler: the worker's hello (what it can run and what it holds),
//! connecting with back-off, and the address peers should use to reach its data-store.

use super::registry::Registry;
use crate::transport::dealer;
use crate::{Error, Result};
use bytes::Bytes;
use rask_protocol::{Hello, Key, Role, WorkerHello};
use std::time::Duration;

pub(super) fn worker_hello(
    name: &str,
    store_addr: &str,
    nthreads: usize,
    held: Vec<(Key, u64)>,
) -> Result<Bytes> {
    let reg = Registry::global();
    Ok(Hello {
        role: Role::Worker,
        name: name.to_string(),
        registry_hash: reg.hash(),
        worker: Some(WorkerHello {
            store_addr: store_addr.to_string(),
            nthreads: nthreads as u32,
            functions: reg.names(),
            held,
        }),
    }
    .encode()?)
}

/// Connects to the scheduler, retrying with backoff until `deadline` passes.
pub(super) async fn connect_with_backoff(
    addr: &str,
    hello: impl Fn() -> futures::future::BoxFuture<'static, Result<Bytes>>,
    deadline: Option<Duration>,
) -> Result<dealer::Connection> {
    let start = std::time::Instant::now();
    let mut delay = Duration::from_millis(50);
    loop {
        let left = deadline.map(|d| d.saturating_sub(start.elapsed()));
        let attempt_timeout = left
            .unwrap_or(Duration::from_secs(2))
            .clamp(Duration::from_millis(100), Duration::from_secs(2));
        match dealer::connect(addr, hello().await?, Some(attempt_timeout)).await {
            Ok(c) => return Ok(c),
            Err(e @ Error::Protocol(_)) => return Err(e),
            Err(e) => {
                if deadline.is_some_and(|d| start.elapsed() + delay > d) {
                    return Err(e);
                }
                tracing::debug!("scheduler at {addr} not reachable yet: {e}");
            }
        }
        tokio::time::sleep(delay).await;
        delay = (delay * 2).min(Duration::from_secs(2));
    }
}

/// Picks the address peers should use to reach a data-store bound at `endpoint`.
pub(super) fn advertised(endpoint: &str, contact_host: Option<&str>, scheduler: &str) -> String {
    let port = endpoint.rsplit(':').next().unwrap_or("0");
    let host = endpoint
        .trim_start_matches("tcp://")
        .rsplit_once(':')
        .map(|(h, _)| h.to_string())
        .unwrap_or_default();
    let host = match contact_host {
        Some(h) => h.to_string(),
        None if host == "0.0.0.0" || host == "[::]" || host.is_empty() => {
            local_ip_towards(scheduler).unwrap_or_else(|| "127.0.0.1".to_string())
        }
        None => host,
    };
    format!("tcp://{host}:{port}")
}

/// The local IP the OS would use to reach the scheduler (no packet is sent).
fn local_ip_towards(scheduler: &str) -> Option<String> {
    let target = scheduler.trim_start_matches("tcp://");
    let sock = std::net::UdpSocket::bind("0.0.0.0:0").ok()?;
    sock.connect(target).ok()?;
    Some(sock.local_addr().ok()?.ip().to_string())
}
