//! A client process that takes part in cluster-wide coordination, used by
//! `tests/coordination.rs` (and a small example of the API):
//!
//! ```text
//! coord_holder tcp://127.0.0.1:8786 lock NAME      # takes lock NAME, prints "HOLDING NAME", waits to be killed
//! coord_holder tcp://127.0.0.1:8786 consume QUEUE  # prints "ITEM n" per item of QUEUE until it takes -1, then "DONE"
//! ```

use anyhow::{bail, Context};
use std::io::Write;
use std::time::Duration;

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [addr, mode, name] = args.as_slice() else {
        bail!("usage: coord_holder ADDR (lock NAME | consume QUEUE)");
    };
    let client = rask::Client::connect_blocking(addr).context("connecting")?;
    let mut out = std::io::stdout().lock();
    match mode.as_str() {
        "lock" => {
            let lock = rask::Lock::new(&client, name.as_str());
            lock.acquire_blocking(Some(Duration::from_secs(30)))?;
            writeln!(out, "HOLDING {name}")?;
            out.flush()?;
            loop {
                std::thread::sleep(Duration::from_secs(3600));
            }
        }
        "consume" => {
            let queue = rask::Queue::new(&client, name.as_str(), 0);
            loop {
                let n: i64 = queue.get_blocking(Some(Duration::from_secs(60)))?;
                if n < 0 {
                    break;
                }
                writeln!(out, "ITEM {n}")?;
                out.flush()?;
            }
            writeln!(out, "DONE")?;
            out.flush()?;
            Ok(())
        }
        other => bail!("unknown mode {other}: lock or consume"),
    }
}
