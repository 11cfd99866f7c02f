//! Blocking on a client future from synchronous code. Like `futures::executor::block_on`,
//! except that the waiting thread polls for a short while (yielding its CPU) before it
//! sleeps: a submit → result round trip on an idle cluster is a few hundred microseconds, and
//! waking a sleeping thread on an idle vCPU costs tens of them, so the last hop of every
//! synchronous `result()` used to pay a full wake-up.
//!
//! `RASK_WAIT_SPIN_US` sets the polling window (microseconds, 0 sleeps at once).

use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll, Wake, Waker};
use std::thread::Thread;
use std::time::{Duration, Instant};

/// The default polling window: about one round trip through the cluster on this class of
/// machine, so quick results are picked up without sleeping and long waits cost at most this
/// much CPU.
const WAIT_SPIN_DEFAULT_US: u64 = 250;

fn wait_spin() -> Duration {
    static SPIN: OnceLock<Duration> = OnceLock::new();
    *SPIN.get_or_init(|| {
        let us = std::env::var("RASK_WAIT_SPIN_US")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(WAIT_SPIN_DEFAULT_US);
        Duration::from_micros(us)
    })
}

/// Wakes the blocked thread: sets the flag, and unparks the thread in case it sleeps.
struct Signal {
    woken: AtomicBool,
    thread: Thread,
}

impl Wake for Signal {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        if !self.woken.swap(true, Ordering::AcqRel) {
            self.thread.unpark();
        }
    }
}

/// Runs `fut` to completion on the calling thread (do not call it on an async runtime's
/// thread).
pub fn block_on<F: Future>(fut: F) -> F::Output {
    let mut fut = std::pin::pin!(fut);
    let signal = Arc::new(Signal {
        woken: AtomicBool::new(false),
        thread: std::thread::current(),
    });
    let waker = Waker::from(signal.clone());
    let mut cx = Context::from_waker(&waker);
    let spin = wait_spin();
    loop {
        if let Poll::Ready(v) = fut.as_mut().poll(&mut cx) {
            return v;
        }
        let start = Instant::now();
        // `swap` consumes the wake-up; a wake that lands after it unparks the next `park`.
        while !signal.woken.swap(false, Ordering::AcqRel) {
            if start.elapsed() < spin {
                std::thread::yield_now();
            } else {
                std::thread::park();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ready_futures_and_cross_thread_wakes_complete() {
        assert_eq!(block_on(async { 7 }), 7);
        for delay_us in [0, 100, 2_000] {
            let (tx, rx) = futures::channel::oneshot::channel();
            let t = std::thread::spawn(move || {
                std::thread::sleep(Duration::from_micros(delay_us));
                tx.send(delay_us).unwrap();
            });
            assert_eq!(block_on(rx).unwrap(), delay_us);
            t.join().unwrap();
        }
    }

    #[test]
    fn a_future_woken_many_times_is_polled_until_ready() {
        let (tx, mut rx) = futures::channel::mpsc::unbounded::<u32>();
        let t = std::thread::spawn(move || {
            for i in 0..1000 {
                tx.unbounded_send(i).unwrap();
                if i % 100 == 0 {
                    std::thread::sleep(Duration::from_micros(500));
                }
            }
        });
        let sum = block_on(async {
            use futures::StreamExt;
            let mut s = 0;
            while let Some(v) = rx.next().await {
                s += v;
            }
            s
        });
        assert_eq!(sum, (0..1000).sum());
        t.join().unwrap();
    }
}
