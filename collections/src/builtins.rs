//! Built-in task functions, registered in every binary that links rask.

use rask_actors::task;
use rask_protocol::Blob;

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

/// One period of the `make_bytes` pattern (byte `i` is `i % 251`).
fn byte_period() -> &'static [u8; 251] {
    static PERIOD: std::sync::OnceLock<[u8; 251]> = std::sync::OnceLock::new();
    PERIOD.get_or_init(|| std::array::from_fn(|i| i as u8))
}

task! {
    /// A blob of `n` bytes (byte `i` is `i % 251`).
    pub fn make_bytes(n: u64) -> Blob {
        // Whole periods copied at a time: fast even in unoptimised test builds.
        let (period, n) = (byte_period(), n as usize);
        let mut v = Vec::with_capacity(n);
        while v.len() < n {
            let take = (n - v.len()).min(period.len());
            v.extend_from_slice(&period[..take]);
        }
        Blob::from(v)
    }
}

task! {
    /// Length of a blob.
    pub fn byte_len(b: Blob) -> u64 { b.len() as u64 }
}

task! {
    /// Checks a blob made by `make_bytes`: its length if every byte is right, else an error.
    pub fn check_bytes(b: Blob) -> Result<u64, String> {
        let period = byte_period();
        let bad = b.chunks(period.len()).enumerate().find_map(|(c, chunk)| {
            (chunk != &period[..chunk.len()]).then(|| {
                let j = chunk.iter().zip(period).position(|(a, b)| a != b).unwrap_or(0);
                c * period.len() + j
            })
        });
        match bad {
            None => Ok(b.len() as u64),
            Some(i) => Err(format!("byte {i} is wrong")),
        }
    }
}

task! {
    /// Returns the blob it was given (moves a value to wherever it runs; the argument is a
    /// slice of the received buffer, not a copy).
    pub fn echo_bytes(b: Blob) -> Blob { b }
}

#[cfg(test)]
mod byte_tests {
    use super::*;

    #[test]
    fn make_bytes_follows_its_pattern_and_check_bytes_finds_a_wrong_byte() {
        for n in [0u64, 1, 250, 251, 252, 1000] {
            let b = make_bytes::call(n);
            assert_eq!(b.len() as u64, n);
            assert!(b.iter().enumerate().all(|(i, v)| *v == (i % 251) as u8));
            assert_eq!(check_bytes::call(b), Ok(n));
        }
        let mut b = make_bytes::call(1000).0.to_vec();
        b[777] ^= 1;
        assert_eq!(
            check_bytes::call(Blob::from(b)),
            Err("byte 777 is wrong".to_string())
        );
    }
}
