//! Element types the built-in aggregations understand without calling user code: integers,
//! floats and strings. Their postcard encodings are decoded by [`Kind`] into a [`Scalar`],
//! which orders totally (floats by `total_cmp`), so `sum`, `min`, `topk`… run natively.

use super::records::{read_varint, take_bytes, write_varint, Fail};
use crate::raw::bad_args;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use std::cmp::Ordering;

/// The shape of a native element's encoding.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Kind {
    /// `i64` (zig-zag varint).
    I64,
    /// `u64` (varint).
    U64,
    /// `f64` (8 bytes, little-endian).
    F64,
    /// `String` (length-prefixed UTF-8).
    Str,
}

/// An element type the built-ins decode natively.
pub trait Native: Serialize + DeserializeOwned + Send + 'static {
    /// Its encoding.
    const KIND: Kind;
}

/// A native type that can be summed.
pub trait Numeric: Native {}

impl Native for i64 {
    const KIND: Kind = Kind::I64;
}
impl Native for u64 {
    const KIND: Kind = Kind::U64;
}
impl Native for f64 {
    const KIND: Kind = Kind::F64;
}
impl Native for String {
    const KIND: Kind = Kind::Str;
}
impl Numeric for i64 {}
impl Numeric for u64 {}
impl Numeric for f64 {}

/// A decoded native value.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum Scalar {
    /// A signed integer.
    I(i64),
    /// An unsigned integer.
    U(u64),
    /// A float.
    F(f64),
    /// A string's bytes.
    S(serde_bytes::ByteBuf),
}

impl Scalar {
    /// Decodes a value of `kind` from the front of `b`: the value and the rest.
    pub fn decode_prefix(kind: Kind, b: &[u8]) -> Result<(Scalar, &[u8]), Fail> {
        let bad = || bad_args(format!("element does not decode as {kind:?}"));
        match kind {
            Kind::I64 => {
                let (z, n) = read_varint(b).ok_or_else(bad)?;
                Ok((Scalar::I(((z >> 1) as i64) ^ -((z & 1) as i64)), &b[n..]))
            }
            Kind::U64 => {
                let (v, n) = read_varint(b).ok_or_else(bad)?;
                Ok((Scalar::U(v), &b[n..]))
            }
            Kind::F64 => {
                let raw: [u8; 8] = b.get(..8).and_then(|s| s.try_into().ok()).ok_or_else(bad)?;
                Ok((Scalar::F(f64::from_le_bytes(raw)), &b[8..]))
            }
            Kind::Str => {
                let (s, rest) = take_bytes(b).ok_or_else(bad)?;
                Ok((Scalar::S(serde_bytes::ByteBuf::from(s.to_vec())), rest))
            }
        }
    }

    /// Decodes a whole element of `kind`.
    pub fn decode(kind: Kind, b: &[u8]) -> Result<Scalar, Fail> {
        let (v, rest) = Scalar::decode_prefix(kind, b)?;
        if rest.is_empty() {
            Ok(v)
        } else {
            Err(bad_args(format!("element is longer than a {kind:?}")))
        }
    }

    /// The element encoding of this value.
    pub fn encode(&self) -> Vec<u8> {
        let mut b = Vec::new();
        match self {
            Scalar::I(v) => write_varint(&mut b, ((v << 1) ^ (v >> 63)) as u64),
            Scalar::U(v) => write_varint(&mut b, *v),
            Scalar::F(v) => b.extend_from_slice(&v.to_le_bytes()),
            Scalar::S(s) => {
                write_varint(&mut b, s.len() as u64);
                b.extend_from_slice(s);
            }
        }
        b
    }

    /// Zero of a numeric kind.
    pub fn zero(kind: Kind) -> Scalar {
        match kind {
            Kind::I64 => Scalar::I(0),
            Kind::U64 => Scalar::U(0),
            Kind::F64 => Scalar::F(0.0),
            Kind::Str => Scalar::S(Default::default()),
        }
    }

    /// Sum of two numbers of one kind (wrapping integers fail loudly instead).
    pub fn add(&self, other: &Scalar) -> Result<Scalar, Fail> {
        match (self, other) {
            (Scalar::I(a), Scalar::I(b)) => a
                .checked_add(*b)
                .map(Scalar::I)
                .ok_or_else(|| crate::raw::failed("integer overflow in sum")),
            (Scalar::U(a), Scalar::U(b)) => a
                .checked_add(*b)
                .map(Scalar::U)
                .ok_or_else(|| crate::raw::failed("integer overflow in sum")),
            (Scalar::F(a), Scalar::F(b)) => Ok(Scalar::F(a + b)),
            _ => Err(bad_args("cannot add these values")),
        }
    }

    /// The value as a float (for means).
    pub fn as_f64(&self) -> f64 {
        match self {
            Scalar::I(v) => *v as f64,
            Scalar::U(v) => *v as f64,
            Scalar::F(v) => *v,
            Scalar::S(_) => f64::NAN,
        }
    }
}

impl PartialEq for Scalar {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}
impl Eq for Scalar {}
impl PartialOrd for Scalar {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Scalar {
    fn cmp(&self, other: &Self) -> Ordering {
        match (self, other) {
            (Scalar::I(a), Scalar::I(b)) => a.cmp(b),
            (Scalar::U(a), Scalar::U(b)) => a.cmp(b),
            (Scalar::F(a), Scalar::F(b)) => a.total_cmp(b),
            (Scalar::S(a), Scalar::S(b)) => a.cmp(b),
            _ => self.rank().cmp(&other.rank()),
        }
    }
}

impl Scalar {
    fn rank(&self) -> u8 {
        match self {
            Scalar::I(_) => 0,
            Scalar::U(_) => 1,
            Scalar::F(_) => 2,
            Scalar::S(_) => 3,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rask_protocol::{decode_value, encode_value};

    #[test]
    fn native_encodings_match_postcard() {
        for v in [0i64, -1, 1, i64::MIN, i64::MAX, -300] {
            let b = encode_value(&v).unwrap();
            assert_eq!(Scalar::decode(Kind::I64, &b).unwrap(), Scalar::I(v));
            assert_eq!(Scalar::I(v).encode(), &b[..]);
        }
        let b = encode_value(&-2.5f64).unwrap();
        assert_eq!(Scalar::decode(Kind::F64, &b).unwrap(), Scalar::F(-2.5));
        let b = encode_value(&"héllo".to_string()).unwrap();
        let s = Scalar::decode(Kind::Str, &b).unwrap();
        assert_eq!(decode_value::<String>(&s.encode()).unwrap(), "héllo");
        let pair = encode_value(&("ab", 7u64)).unwrap();
        let (first, rest) = Scalar::decode_prefix(Kind::Str, &pair).unwrap();
        assert_eq!(first.encode(), encode_value(&"ab").unwrap());
        assert_eq!(Scalar::decode(Kind::U64, rest).unwrap(), Scalar::U(7));
        assert!(Scalar::F(1.0) < Scalar::F(f64::NAN));
        assert!(Scalar::I(i64::MAX).add(&Scalar::I(1)).is_err());
    }
}
