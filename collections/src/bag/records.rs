//! The partition format: a list of individually encoded elements.
//!
//! A partition's value is the postcard encoding of `Vec<ByteBuf>` where each byte string is
//! one element's own postcard encoding. Built-in functions therefore walk elements without
//! knowing their types (zero-copy slices of the received frame), hand single elements to
//! user functions, and compare or hash elements by their bytes; the client decodes each
//! element as the bag's element type.

use crate::raw::bad_args;
use bytes::Bytes;
use rask_protocol::TaskErrorKind;

/// A failure in a built-in, as the registry reports it.
pub type Fail = (TaskErrorKind, String);

/// Appends `v` as a postcard varint.
pub fn write_varint(buf: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        buf.push((v as u8) | 0x80);
        v >>= 7;
    }
    buf.push(v as u8);
}

/// Reads a postcard varint at the start of `b`: the value and how many bytes it took.
pub fn read_varint(b: &[u8]) -> Option<(u64, usize)> {
    let mut v = 0u64;
    for (i, byte) in b.iter().enumerate().take(10) {
        v |= u64::from(byte & 0x7f) << (7 * i);
        if byte & 0x80 == 0 {
            return Some((v, i + 1));
        }
    }
    None
}

/// Splits a length-prefixed byte string off the front of `b`: (the bytes, the rest).
pub fn take_bytes(b: &[u8]) -> Option<(&[u8], &[u8])> {
    let (len, n) = read_varint(b)?;
    let len = usize::try_from(len).ok()?;
    let rest = &b[n..];
    (rest.len() >= len).then(|| rest.split_at(len))
}

/// The text of a postcard-encoded `String` element.
pub fn str_of(record: &[u8]) -> Result<&str, Fail> {
    let (bytes, rest) = take_bytes(record).ok_or_else(|| bad_args("element is not a string"))?;
    if !rest.is_empty() {
        return Err(bad_args("element is not a string"));
    }
    std::str::from_utf8(bytes).map_err(|_| bad_args("element is not UTF-8"))
}

/// Appends the encoding of a `String` element holding `s`.
pub fn encode_str(buf: &mut Vec<u8>, s: &[u8]) {
    write_varint(buf, s.len() as u64);
    buf.extend_from_slice(s);
}

/// Builds a partition value element by element.
#[derive(Default)]
pub struct RecordsWriter {
    body: Vec<u8>,
    n: u64,
}

impl RecordsWriter {
    /// An empty partition.
    pub fn new() -> Self {
        RecordsWriter::default()
    }

    /// Appends one encoded element.
    pub fn push(&mut self, record: &[u8]) {
        write_varint(&mut self.body, record.len() as u64);
        self.body.extend_from_slice(record);
        self.n += 1;
    }

    /// Elements so far.
    pub fn len(&self) -> u64 {
        self.n
    }

    /// Whether nothing was pushed.
    pub fn is_empty(&self) -> bool {
        self.n == 0
    }

    /// The encoded partition.
    pub fn finish(self) -> Bytes {
        let mut out = Vec::with_capacity(self.body.len() + 10);
        write_varint(&mut out, self.n);
        out.extend_from_slice(&self.body);
        Bytes::from(out)
    }
}

/// The elements of an encoded partition, in order.
pub fn records(partition: &[u8]) -> Result<Records<'_>, Fail> {
    let (n, used) = read_varint(partition).ok_or_else(|| bad_args("partition is empty"))?;
    Ok(Records {
        rest: &partition[used..],
        left: n,
    })
}

/// Iterator over a partition's encoded elements.
pub struct Records<'a> {
    rest: &'a [u8],
    left: u64,
}

impl<'a> Iterator for Records<'a> {
    type Item = Result<&'a [u8], Fail>;
    fn next(&mut self) -> Option<Self::Item> {
        if self.left == 0 {
            return None;
        }
        self.left -= 1;
        match take_bytes(self.rest) {
            Some((r, rest)) => {
                self.rest = rest;
                Some(Ok(r))
            }
            None => {
                self.left = 0;
                Some(Err(bad_args("partition is truncated")))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rask_protocol::{decode_value, encode_value};
    use serde_bytes::ByteBuf;

    #[test]
    fn the_format_is_postcard_vec_of_byte_strings() {
        let mut w = RecordsWriter::new();
        let elems = ["a".to_string(), "".to_string(), "x".repeat(300)];
        for e in &elems {
            w.push(&encode_value(e).unwrap());
        }
        let bytes = w.finish();
        let decoded: Vec<ByteBuf> = decode_value(&bytes).unwrap();
        let back: Vec<String> = decoded.iter().map(|b| decode_value(b).unwrap()).collect();
        assert_eq!(back, elems);
        let walked: Vec<&str> = records(&bytes)
            .unwrap()
            .map(|r| str_of(r.unwrap()).unwrap())
            .collect();
        assert_eq!(walked, elems.iter().map(String::as_str).collect::<Vec<_>>());
        assert!(records(&bytes[..bytes.len() - 1])
            .unwrap()
            .any(|r| r.is_err()));
    }

    #[test]
    fn varints_round_trip() {
        for v in [0u64, 1, 127, 128, 300, u32::MAX as u64, u64::MAX] {
            let mut b = Vec::new();
            write_varint(&mut b, v);
            assert_eq!(read_varint(&b), Some((v, b.len())));
            assert_eq!(encode_value(&v).unwrap(), &b[..]);
        }
    }
}
