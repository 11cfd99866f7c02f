//! Blocks on the wire: a small header and the raw little-endian elements, never
//! element-by-element serde.
//!
//! ```text
//!  postcard varint (payload length) │ "RKA1" │ dtype │ ndim │ 0 0 │ shape: ndim × u64 LE │ data LE
//! ```
//!
//! The varint prefix makes a block's bytes exactly the postcard encoding of a byte string, so
//! a block is an ordinary task value: [`Chunk<T>`] (a typed block for user functions) and
//! [`BlockBuf`] (an untyped one) serialise through `serde_bytes`, and the built-in task
//! functions parse the bytes they receive without decoding them as serde values.

use super::dtype::{DType, Element};
use bytes::Bytes;
use ndarray::{ArrayD, IxDyn};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

const MAGIC: &[u8; 4] = b"RKA1";

/// One block of any supported dtype.
#[derive(Debug, Clone, PartialEq)]
pub enum Block {
    /// `f64` elements.
    F64(ArrayD<f64>),
    /// `f32` elements.
    F32(ArrayD<f32>),
    /// `i64` elements.
    I64(ArrayD<i64>),
    /// `i32` elements.
    I32(ArrayD<i32>),
    /// `bool` elements.
    Bool(ArrayD<bool>),
}

/// Runs `$body` with `$a` bound to the block's array, whatever its dtype.
#[macro_export]
#[doc(hidden)]
macro_rules! with_block {
    ($b:expr, $a:ident => $body:expr) => {
        match $b {
            $crate::array::block::Block::F64($a) => $body,
            $crate::array::block::Block::F32($a) => $body,
            $crate::array::block::Block::I64($a) => $body,
            $crate::array::block::Block::I32($a) => $body,
            $crate::array::block::Block::Bool($a) => $body,
        }
    };
}

/// Runs `$body` with `$a` bound to the array of a numeric block, `$else` for `bool`.
#[macro_export]
#[doc(hidden)]
macro_rules! with_numeric {
    ($b:expr, $a:ident => $body:expr, $else:expr) => {
        match $b {
            $crate::array::block::Block::F64($a) => $body,
            $crate::array::block::Block::F32($a) => $body,
            $crate::array::block::Block::I64($a) => $body,
            $crate::array::block::Block::I32($a) => $body,
            $crate::array::block::Block::Bool(_) => $else,
        }
    };
}

impl Block {
    /// The dtype.
    pub fn dtype(&self) -> DType {
        match self {
            Block::F64(_) => DType::F64,
            Block::F32(_) => DType::F32,
            Block::I64(_) => DType::I64,
            Block::I32(_) => DType::I32,
            Block::Bool(_) => DType::Bool,
        }
    }

    /// The shape.
    pub fn shape(&self) -> &[usize] {
        with_block!(self, a => a.shape())
    }

    /// Wraps a typed array.
    pub fn from_array<T: Element>(a: ArrayD<T>) -> Block {
        T::wrap(a)
    }

    /// The typed array, or `None` when the dtype differs.
    pub fn into_array<T: Element>(self) -> Option<ArrayD<T>> {
        T::unwrap(self)
    }

    /// The block converted to `dtype` (numpy's `astype`).
    pub fn astype(self, dtype: DType) -> Block {
        if self.dtype() == dtype {
            return self;
        }
        fn conv<S: Element, T: Element>(a: &ArrayD<S>) -> ArrayD<T> {
            a.mapv(T::cast_from)
        }
        with_block!(&self, a => match dtype {
            DType::F64 => Block::F64(conv(a)),
            DType::F32 => Block::F32(conv(a)),
            DType::I64 => Block::I64(conv(a)),
            DType::I32 => Block::I32(conv(a)),
            DType::Bool => Block::Bool(conv(a)),
        })
    }

    /// The wire encoding (varint length, header, data).
    pub fn encode(&self) -> Bytes {
        with_block!(self, a => encode_array(a))
    }

    /// Parses a block from its wire encoding.
    pub fn decode(bytes: &[u8]) -> Result<Block, String> {
        let payload = strip_varint(bytes)?;
        decode_payload(payload)
    }
}

/// Conversions between typed arrays and [`Block`]s (implemented for every [`Element`]).
pub trait Wrap: Sized {
    /// Wraps.
    fn wrap(a: ArrayD<Self>) -> Block;
    /// Unwraps if the dtype matches.
    fn unwrap(b: Block) -> Option<ArrayD<Self>>;
}

macro_rules! wrap {
    ($t:ty, $v:ident) => {
        impl Wrap for $t {
            fn wrap(a: ArrayD<Self>) -> Block {
                Block::$v(a)
            }
            fn unwrap(b: Block) -> Option<ArrayD<Self>> {
                match b {
                    Block::$v(a) => Some(a),
                    _ => None,
                }
            }
        }
    };
}
wrap!(f64, F64);
wrap!(f32, F32);
wrap!(i64, I64);
wrap!(i32, I32);
wrap!(bool, Bool);

fn write_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn strip_varint(b: &[u8]) -> Result<&[u8], String> {
    let mut len = 0u64;
    for (i, byte) in b.iter().enumerate().take(10) {
        len |= u64::from(byte & 0x7f) << (7 * i);
        if byte & 0x80 == 0 {
            let rest = &b[i + 1..];
            return if rest.len() as u64 == len {
                Ok(rest)
            } else {
                Err(format!("block says {len} bytes but {} follow", rest.len()))
            };
        }
    }
    Err("block length prefix is malformed".into())
}

/// The header and data of `a`, without the varint prefix.
pub fn encode_payload<T: Element>(a: &ArrayD<T>) -> Vec<u8> {
    let mut out = Vec::with_capacity(payload_len(a));
    write_payload(a, &mut out);
    out
}

fn payload_len<T: Element>(a: &ArrayD<T>) -> usize {
    8 + 8 * a.ndim() + a.len() * T::DTYPE.size()
}

/// Appends the header and data of `a` to `out` (one pass over the elements).
fn write_payload<T: Element>(a: &ArrayD<T>, out: &mut Vec<u8>) {
    let size = T::DTYPE.size();
    let start = out.len();
    let head = 8 + 8 * a.ndim();
    out.resize(start + head + a.len() * size, 0);
    let buf = &mut out[start..];
    buf[..4].copy_from_slice(MAGIC);
    buf[4] = T::DTYPE.code();
    buf[5] = a.ndim() as u8;
    for (i, d) in a.shape().iter().enumerate() {
        buf[8 + 8 * i..16 + 8 * i].copy_from_slice(&(*d as u64).to_le_bytes());
    }
    let data = &mut buf[head..];
    match a.as_slice() {
        Some(s) => {
            for (dst, x) in data.chunks_exact_mut(size).zip(s) {
                x.write_le(dst);
            }
        }
        None => {
            for (dst, x) in data.chunks_exact_mut(size).zip(a.iter()) {
                x.write_le(dst);
            }
        }
    }
}

/// The full wire encoding of `a`, written once into a buffer of the exact size.
pub fn encode_array<T: Element>(a: &ArrayD<T>) -> Bytes {
    // The payload goes ROOM bytes into the buffer and its varint length just before it, so
    // the header and the data (the header is a multiple of 8 bytes long) start 8-byte
    // aligned: tasks in this process can read the elements where they lie.
    const ROOM: usize = 16;
    let len = payload_len(a);
    let mut out = Vec::with_capacity(ROOM + len);
    out.resize(ROOM, 0);
    write_payload(a, &mut out);
    let mut prefix = Vec::with_capacity(10);
    write_varint(&mut prefix, len as u64);
    let at = ROOM - prefix.len();
    out[at..ROOM].copy_from_slice(&prefix);
    Bytes::from(out).slice(at..)
}

/// An encoded block's header, parsed, and its data bytes, not copied.
#[derive(Debug, Clone, Copy)]
pub struct RawBlock<'a> {
    /// The element type.
    pub dtype: DType,
    /// The shape (at most 255 axes; only the first `ndim` entries are used).
    shape: [usize; 8],
    ndim: usize,
    /// The elements, little-endian, row-major.
    pub data: &'a [u8],
}

impl<'a> RawBlock<'a> {
    /// Parses a header and data (no varint prefix), checking the data length; blocks of more
    /// than 8 axes are not viewed raw (`None`).
    pub fn parse(b: &'a [u8]) -> Result<Option<RawBlock<'a>>, String> {
        if b.len() < 8 || &b[..4] != MAGIC {
            return Err("not an array block (bad magic)".into());
        }
        let dtype = DType::from_code(b[4]).ok_or_else(|| format!("unknown dtype code {}", b[4]))?;
        let ndim = b[5] as usize;
        let head = 8 + 8 * ndim;
        if b.len() < head {
            return Err("array block header is cut short".into());
        }
        if ndim > 8 {
            return Ok(None);
        }
        let mut shape = [0usize; 8];
        for (i, d) in shape.iter_mut().enumerate().take(ndim) {
            *d = u64::from_le_bytes(read8(&b[8 + 8 * i..])) as usize;
        }
        let n: usize = shape[..ndim].iter().product();
        let data = &b[head..];
        if Some(data.len()) != n.checked_mul(dtype.size()) {
            return Err(format!(
                "array block of shape {:?} has {} data bytes, expected {}",
                &shape[..ndim],
                data.len(),
                n.saturating_mul(dtype.size())
            ));
        }
        Ok(Some(RawBlock {
            dtype,
            shape,
            ndim,
            data,
        }))
    }

    /// Parses a full wire encoding (varint prefix, header, data).
    pub fn parse_wire(bytes: &'a [u8]) -> Result<Option<RawBlock<'a>>, String> {
        RawBlock::parse(strip_varint(bytes)?)
    }

    /// The shape.
    pub fn shape(&self) -> &[usize] {
        &self.shape[..self.ndim]
    }
}

/// Parses a header and data (no varint prefix).
pub fn decode_payload(b: &[u8]) -> Result<Block, String> {
    if let Some(raw) = RawBlock::parse(b)? {
        return decode_raw(raw.dtype, raw.shape().to_vec(), raw.data);
    }
    let ndim = b[5] as usize;
    let shape: Vec<usize> = (0..ndim)
        .map(|i| u64::from_le_bytes(read8(&b[8 + 8 * i..])) as usize)
        .collect();
    let n: usize = shape.iter().product();
    let dtype = DType::from_code(b[4]).ok_or("unknown dtype")?;
    let data = &b[8 + 8 * ndim..];
    if data.len() != n * dtype.size() {
        return Err(format!(
            "array block of shape {shape:?} has the wrong data length"
        ));
    }
    decode_raw(dtype, shape, data)
}

fn decode_raw(dtype: DType, shape: Vec<usize>, data: &[u8]) -> Result<Block, String> {
    fn read<T: Element>(shape: Vec<usize>, data: &[u8]) -> Result<ArrayD<T>, String> {
        let v: Vec<T> = data.chunks_exact(T::DTYPE.size()).map(T::read_le).collect();
        ArrayD::from_shape_vec(IxDyn(&shape), v).map_err(|e| e.to_string())
    }
    Ok(match dtype {
        DType::F64 => Block::F64(read(shape, data)?),
        DType::F32 => Block::F32(read(shape, data)?),
        DType::I64 => Block::I64(read(shape, data)?),
        DType::I32 => Block::I32(read(shape, data)?),
        DType::Bool => Block::Bool(read(shape, data)?),
    })
}

fn read8(b: &[u8]) -> [u8; 8] {
    let mut raw = [0u8; 8];
    raw.copy_from_slice(&b[..8]);
    raw
}

/// A typed block as a task argument or result: what functions given to
/// [`Array::map_blocks`](super::Array::map_blocks) take and return. Serialises as one byte
/// string (header and raw data).
#[derive(Debug, Clone, PartialEq)]
pub struct Chunk<T>(pub ArrayD<T>);

impl<T: Element> Serialize for Chunk<T> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_bytes(&encode_payload(&self.0))
    }
}

impl<'de, T: Element> Deserialize<'de> for Chunk<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let buf = serde_bytes::ByteBuf::deserialize(d)?;
        let block = decode_payload(&buf).map_err(serde::de::Error::custom)?;
        let got = block.dtype();
        block.into_array::<T>().map(Chunk).ok_or_else(|| {
            serde::de::Error::custom(format!("block holds {got:?}, expected {:?}", T::DTYPE))
        })
    }
}

/// An untyped encoded block (header and data) as a task value.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BlockBuf(#[serde(with = "serde_bytes")] pub Vec<u8>);

impl BlockBuf {
    /// Decodes the block.
    pub fn decode(&self) -> Result<Block, String> {
        decode_payload(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::ArrayD;
    use rask_protocol::{decode_value, encode_value};

    #[test]
    fn blocks_round_trip_and_match_postcard_byte_strings() {
        let a = ArrayD::from_shape_fn(IxDyn(&[3, 4]), |i| (i[0] * 4 + i[1]) as f64 / 3.0);
        let bytes = Block::F64(a.clone()).encode();
        assert_eq!(Block::decode(&bytes).unwrap(), Block::F64(a.clone()));
        // The same bytes are the postcard encoding of a Chunk and of a BlockBuf.
        let c: Chunk<f64> = decode_value(&bytes).unwrap();
        assert_eq!(c.0, a);
        assert_eq!(encode_value(&c).unwrap(), bytes);
        let raw: BlockBuf = decode_value(&bytes).unwrap();
        assert_eq!(raw.decode().unwrap(), Block::F64(a.clone()));
        // Non-standard layouts encode in logical order.
        let t = a.t().to_owned();
        let back = Block::decode(&Block::F64(t.clone()).encode()).unwrap();
        assert_eq!(back, Block::F64(t));
        // Every dtype, 0-d and empty blocks.
        let b = ArrayD::from_shape_vec(IxDyn(&[2]), vec![true, false]).unwrap();
        assert_eq!(
            Block::decode(&Block::Bool(b.clone()).encode()).unwrap(),
            Block::Bool(b)
        );
        let z = ArrayD::from_elem(IxDyn(&[]), -7i32);
        assert_eq!(Block::decode(&encode_array(&z)).unwrap(), Block::I32(z));
        let e = ArrayD::<i64>::zeros(IxDyn(&[0, 5]));
        assert_eq!(Block::decode(&encode_array(&e)).unwrap(), Block::I64(e));
        // A typed decode of the wrong dtype fails clearly.
        assert!(decode_value::<Chunk<f32>>(&bytes).is_err());
    }

    #[test]
    fn malformed_blocks_are_errors_not_panics() {
        let bytes = Block::F32(ArrayD::zeros(IxDyn(&[2, 2]))).encode();
        assert!(Block::decode(&bytes[..bytes.len() - 1]).is_err());
        assert!(Block::decode(&[]).is_err());
        assert!(decode_payload(b"RKA1\x09\x00\x00\x00").is_err());
        assert!(decode_payload(b"XXXX\x01\x00\x00\x00").is_err());
        assert!(decode_payload(b"RKA1\x01\x02\x00\x00\x01").is_err());
    }

    #[test]
    fn astype_converts_like_numpy() {
        let a = Block::F64(ArrayD::from_shape_vec(IxDyn(&[3]), vec![-1.5, 0.0, 2.7]).unwrap());
        let i = a.clone().astype(DType::I32);
        assert_eq!(
            i.into_array::<i32>().unwrap().into_raw_vec_and_offset().0,
            [-1, 0, 2]
        );
        let b = a.astype(DType::Bool);
        assert_eq!(
            b.into_array::<bool>().unwrap().into_raw_vec_and_offset().0,
            [true, false, true]
        );
    }
}
