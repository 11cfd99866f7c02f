//! [`Blob`]: a byte payload that decodes without a copy. A `Vec<u8>` or `ByteBuf` argument is
//! copied out of the received buffer when it is decoded; a `Blob` decoded with
//! [`decode_value_shared`] is a slice of that buffer (the role of pickle protocol 5's
//! out-of-band buffers in Dask). On the wire a `Blob` is exactly a `ByteBuf` (length, then the
//! bytes), so either type may encode a value the other decodes.

use crate::codec::decode_value;
use crate::error::Result;
use bytes::Bytes;
use serde::de::{DeserializeOwned, Deserializer, Visitor};
use serde::{Deserialize, Serialize, Serializer};
use std::cell::RefCell;

thread_local! {
    /// The buffer [`decode_value_shared`] is decoding on this thread, if any.
    static SOURCE: RefCell<Option<Bytes>> = const { RefCell::new(None) };
}

/// Bytes that share the buffer they were decoded from.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct Blob(pub Bytes);

impl Blob {
    /// The bytes.
    pub fn bytes(&self) -> &Bytes {
        &self.0
    }

    /// Its length in bytes.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// True when it holds no bytes.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl From<Vec<u8>> for Blob {
    fn from(v: Vec<u8>) -> Self {
        Blob(Bytes::from(v))
    }
}

impl From<Bytes> for Blob {
    fn from(b: Bytes) -> Self {
        Blob(b)
    }
}

impl std::ops::Deref for Blob {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        &self.0
    }
}

impl Serialize for Blob {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.serialize_bytes(&self.0)
    }
}

struct BlobVisitor;

impl<'de> Visitor<'de> for BlobVisitor {
    type Value = Blob;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("bytes")
    }

    fn visit_borrowed_bytes<E>(self, v: &'de [u8]) -> std::result::Result<Blob, E> {
        Ok(Blob(share_or_copy(v)))
    }

    fn visit_bytes<E>(self, v: &[u8]) -> std::result::Result<Blob, E> {
        Ok(Blob(share_or_copy(v)))
    }

    fn visit_byte_buf<E>(self, v: Vec<u8>) -> std::result::Result<Blob, E> {
        Ok(Blob(Bytes::from(v)))
    }
}

impl<'de> Deserialize<'de> for Blob {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Blob, D::Error> {
        d.deserialize_bytes(BlobVisitor)
    }
}

/// A slice of the buffer being decoded when `v` lies inside it, else a copy.
fn share_or_copy(v: &[u8]) -> Bytes {
    SOURCE.with(|s| match &*s.borrow() {
        Some(src) if within(src, v) => src.slice_ref(v),
        _ => Bytes::copy_from_slice(v),
    })
}

fn within(src: &[u8], v: &[u8]) -> bool {
    let (start, end) = (src.as_ptr() as usize, src.as_ptr() as usize + src.len());
    let (vs, ve) = (v.as_ptr() as usize, v.as_ptr() as usize + v.len());
    !v.is_empty() && vs >= start && ve <= end
}

/// Restores the previous source when a (possibly nested) decode ends, even by panic.
struct SourceGuard(Option<Bytes>);

impl Drop for SourceGuard {
    fn drop(&mut self) {
        let previous = self.0.take();
        SOURCE.with(|s| *s.borrow_mut() = previous);
    }
}

/// [`decode_value`] from a shared buffer: every [`Blob`] inside the value is a slice of
/// `bytes` rather than a copy (the buffer stays alive as long as any of them does).
pub fn decode_value_shared<T: DeserializeOwned>(bytes: &Bytes) -> Result<T> {
    let previous = SOURCE.with(|s| s.borrow_mut().replace(bytes.clone()));
    let _guard = SourceGuard(previous);
    decode_value(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::encode_value;

    #[test]
    fn a_blob_decoded_from_a_shared_buffer_is_a_slice_of_it() {
        let value = (
            7u32,
            Blob::from(vec![1u8, 2, 3, 4]),
            vec![Blob::from(vec![9u8; 100])],
        );
        let wire = encode_value(&value).unwrap();
        let (n, blob, list): (u32, Blob, Vec<Blob>) = decode_value_shared(&wire).unwrap();
        assert_eq!(
            (n, &blob[..], &list[0][..]),
            (7, &[1u8, 2, 3, 4][..], &[9u8; 100][..])
        );
        let inside = |b: &Blob| within(&wire, b);
        assert!(inside(&blob) && inside(&list[0]), "shared, not copied");
        // Outside a shared decode the bytes are copied; the source is cleared afterwards.
        let copied: (u32, Blob, Vec<Blob>) = decode_value(&wire).unwrap();
        assert!(!within(&wire, &copied.1));
        assert_eq!(copied, (n, blob, list));
    }

    #[test]
    fn blob_and_byte_buf_share_a_wire_format() {
        let bytes = vec![5u8; 3000];
        let a = encode_value(&serde_bytes::ByteBuf::from(bytes.clone())).unwrap();
        let b = encode_value(&Blob::from(bytes.clone())).unwrap();
        assert_eq!(a, b);
        let back: serde_bytes::ByteBuf = decode_value(&b).unwrap();
        assert_eq!(back.into_vec(), bytes);
        let empty: Blob = decode_value_shared(&encode_value(&Blob::default()).unwrap()).unwrap();
        assert!(empty.is_empty());
    }

    #[test]
    fn a_malformed_blob_is_an_error_and_the_source_is_restored() {
        let mut wire = encode_value(&Blob::from(vec![1u8; 50])).unwrap().to_vec();
        wire.truncate(20);
        assert!(decode_value_shared::<Blob>(&Bytes::from(wire)).is_err());
        assert!(SOURCE.with(|s| s.borrow().is_none()));
    }
}
