//! Built-in task functions, registered in every binary that links rask.

use rask_actors::task;
use serde_bytes::ByteBuf;

task! {
    /// Does nothing (measures pure runtime overhead).
    pub fn noop() -> () {}
}

task! {
    /// Returns its argument.
    pub fn identity(x: i64) -> i64 { x }
}

task! {
    /// Adds one.
    pub fn inc(x: i64) -> i64 { x + 1 }
}

task! {
    /// Doubles.
    pub fn double(x: i64) -> i64 { x * 2 }
}

task! {
    /// Adds two numbers.
    pub fn add(a: i64, b: i64) -> i64 { a + b }
}

task! {
    /// Sums a list.
    pub fn sum(xs: Vec<i64>) -> i64 { xs.iter().sum() }
}

task! {
    /// Sleeps for `ms` milliseconds, then returns `ms`.
    pub fn sleep_ms(ms: u64) -> u64 {
        std::thread::sleep(std::time::Duration::from_millis(ms));
        ms
    }
}

task! {
    /// Sleeps for `ms` milliseconds, then returns `x` (a slow identity, for graphs that must
    /// still be running when something happens).
    pub fn slow_identity(x: i64, ms: u64) -> i64 {
        std::thread::sleep(std::time::Duration::from_millis(ms));
        x
    }
}

task! {
    /// Sleeps for `ms` milliseconds, then adds (a slow `add`).
    pub fn slow_add(a: i64, b: i64, ms: u64) -> i64 {
        std::thread::sleep(std::time::Duration::from_millis(ms));
        a + b
    }
}

task! {
    /// Always fails with `message`.
    pub fn fail(message: String) -> Result<i64, String> { Err(message) }
}

task! {
    /// Always panics with `message` (the worker catches it and survives).
    pub fn panic_with(message: String) -> i64 { panic!("{}", message) }
}

task! {
    /// A blob of `n` bytes (byte `i` is `i % 251`).
    pub fn make_bytes(n: u64) -> ByteBuf {
        ByteBuf::from((0..n).map(|i| (i % 251) as u8).collect::<Vec<u8>>())
    }
}

task! {
    /// Length of a blob.
    pub fn byte_len(b: ByteBuf) -> u64 { b.len() as u64 }
}

task! {
    /// Checks a blob made by `make_bytes`: its length if every byte is right, else an error.
    pub fn check_bytes(b: ByteBuf) -> Result<u64, String> {
        match b.iter().enumerate().find(|(i, v)| **v != (*i % 251) as u8) {
            None => Ok(b.len() as u64),
            Some((i, _)) => Err(format!("byte {i} is wrong")),
        }
    }
}

task! {
    /// Returns the blob it was given (moves a value to wherever it runs).
    pub fn echo_bytes(b: ByteBuf) -> ByteBuf { b }
}
