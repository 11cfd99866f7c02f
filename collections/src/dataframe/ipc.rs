//! Partitions on the wire: a partition is an Arrow IPC stream (schema message, then its
//! record batches), carried as a postcard byte string so that the runtime moves it as one
//! opaque buffer and the client decodes it as [`serde_bytes::ByteBuf`]. No row is ever
//! serialised with serde.

use crate::raw::{bad_args, failed};
use arrow_array::RecordBatch;
use arrow_ipc::reader::{StreamDecoder, StreamReader};
use arrow_ipc::writer::StreamWriter;
use arrow_schema::SchemaRef;
use bytes::Bytes;
use rask_protocol::TaskErrorKind;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A failure in the registry's terms.
pub type Fail = (TaskErrorKind, String);

/// One partition in memory: its schema and its batches (possibly none).
#[derive(Debug, Clone)]
pub struct Frame {
    /// Schema of every batch.
    pub schema: SchemaRef,
    /// The batches, in row order.
    pub batches: Vec<RecordBatch>,
}

impl Frame {
    /// A frame of `batches`, all of schema `schema`.
    pub fn new(schema: SchemaRef, batches: Vec<RecordBatch>) -> Frame {
        Frame { schema, batches }
    }

    /// Total number of rows.
    pub fn num_rows(&self) -> usize {
        self.batches.iter().map(|b| b.num_rows()).sum()
    }

    /// The batches concatenated into one (a single batch is returned as it is, not copied).
    pub fn concat(&self) -> Result<RecordBatch, arrow_schema::ArrowError> {
        match self.batches.as_slice() {
            [one] if one.schema() == self.schema => Ok(one.clone()),
            batches => arrow_select::concat::concat_batches(&self.schema, batches),
        }
    }
}

/// The Arrow IPC stream of a frame.
pub fn write_ipc(frame: &Frame) -> Result<Vec<u8>, arrow_schema::ArrowError> {
    write_ipc_after(frame, 0)
}

/// Room left in front of an IPC stream for the postcard length prefixes that make it a
/// task value (two varints of at most 10 bytes each), rounded up so that the stream, and
/// with it every buffer in it, starts 8-byte aligned: readers in the same process then
/// use the buffers where they lie ([`decode_frame`]).
const ROOM: usize = 24;

/// The Arrow IPC stream of a frame, written after `room` zero bytes.
fn write_ipc_after(frame: &Frame, room: usize) -> Result<Vec<u8>, arrow_schema::ArrowError> {
    let mut out = Vec::with_capacity(
        room + frame
            .batches
            .iter()
            .map(|b| b.get_array_memory_size())
            .sum::<usize>()
            + 1024,
    );
    out.resize(room, 0);
    {
        let mut w = StreamWriter::try_new(&mut out, &frame.schema)?;
        for b in &frame.batches {
            if b.num_rows() > 0 {
                w.write(b)?;
            }
        }
        w.finish()?;
    }
    Ok(out)
}

/// The frame's IPC stream as a task value: the postcard encoding of `counts` (as `usize`s,
/// each a varint), then the stream's length and the stream itself. Made in place: the
/// stream is written after [`ROOM`] spare bytes, the varints go just before it and the front
/// is cut off, so the stream (a whole partition) is never copied.
fn encode_in_place(frame: &Frame, counts: &[usize]) -> Result<Bytes, Fail> {
    let mut buf = write_ipc_after(frame, ROOM)
        .map_err(|e| failed(format!("cannot encode a partition: {e}")))?;
    let body = buf.len() - ROOM;
    let mut head = Vec::with_capacity(ROOM);
    for n in counts.iter().chain(std::iter::once(&body)) {
        let mut tmp = [0u8; 10];
        let v = postcard::to_slice(n, &mut tmp)
            .map_err(|e| failed(format!("cannot encode a length: {e}")))?;
        head.extend_from_slice(v);
    }
    let start = ROOM
        .checked_sub(head.len())
        .ok_or_else(|| failed("length prefixes longer than their room"))?;
    buf[start..ROOM].copy_from_slice(&head);
    Ok(Bytes::from(buf).slice(start..))
}

/// The task value of one table given as a list of tables (`Vec<ByteBuf>` of one IPC
/// stream), as [`encode_frame`] makes single frames: without copying the stream.
pub fn encode_table_list(frame: &Frame) -> Result<Bytes, Fail> {
    encode_in_place(frame, &[1])
}

/// Decodes a whole value that borrows from `bytes` (byte strings are slices of it, not
/// copies); `what` names it in errors.
pub fn decode_borrowed<'a, T: Deserialize<'a>>(bytes: &'a [u8], what: &str) -> Result<T, Fail> {
    let (value, rest) = postcard::take_from_bytes(bytes)
        .map_err(|e| bad_args(format!("{what} does not decode: {e}")))?;
    if !rest.is_empty() {
        return Err(bad_args(format!("{what} has trailing bytes")));
    }
    Ok(value)
}

/// Reads an Arrow IPC stream held in `bytes`, its arrays pointing into `bytes` (a buffer not
/// aligned for its type is copied).
pub fn read_ipc_shared(bytes: Bytes) -> Result<Frame, arrow_schema::ArrowError> {
    let mut buf = arrow_buffer::Buffer::from(bytes);
    let mut decoder = StreamDecoder::new();
    let mut batches = Vec::new();
    while !buf.is_empty() {
        if let Some(b) = decoder.decode(&mut buf)? {
            batches.push(b);
        }
    }
    decoder.finish()?;
    let schema = decoder.schema().ok_or_else(|| {
        arrow_schema::ArrowError::IpcError("an IPC stream without a schema".into())
    })?;
    Ok(Frame { schema, batches })
}

/// Reads an Arrow IPC stream.
pub fn read_ipc(bytes: &[u8]) -> Result<Frame, arrow_schema::ArrowError> {
    let reader = StreamReader::try_new(std::io::Cursor::new(bytes), None)?;
    let schema = reader.schema();
    let batches = reader.collect::<Result<Vec<_>, _>>()?;
    Ok(Frame { schema, batches })
}

/// A frame as a task result: postcard bytes of its IPC stream.
pub fn encode_frame(frame: &Frame) -> Result<Bytes, Fail> {
    encode_in_place(frame, &[])
}

/// A frame from a task argument made by [`encode_frame`]; its arrays point into `value`.
pub fn decode_frame(value: &Bytes) -> Result<Frame, Fail> {
    let ipc: &[u8] = decode_borrowed(value, "a partition")?;
    read_ipc_shared(value.slice_ref(ipc))
        .map_err(|e| bad_args(format!("a partition is not Arrow IPC: {e}")))
}

/// A serde wrapper around one [`RecordBatch`] that travels as Arrow IPC bytes: the argument
/// and result type of user functions given to
/// [`DataFrame::map_partitions`](super::DataFrame::map_partitions).
#[derive(Debug, Clone)]
pub struct Batch(pub RecordBatch);

impl Serialize for Batch {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let frame = Frame::new(self.0.schema(), vec![self.0.clone()]);
        let ipc = write_ipc(&frame).map_err(serde::ser::Error::custom)?;
        s.serialize_bytes(&ipc)
    }
}

impl<'de> Deserialize<'de> for Batch {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Batch, D::Error> {
        let ipc = serde_bytes::ByteBuf::deserialize(d)?;
        let frame = read_ipc(&ipc).map_err(serde::de::Error::custom)?;
        frame.concat().map(Batch).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow_array::{Int64Array, StringArray};
    use arrow_schema::{DataType, Field, Schema};
    use std::sync::Arc;

    fn batch() -> RecordBatch {
        let schema = Arc::new(Schema::new(vec![
            Field::new("a", DataType::Int64, true),
            Field::new("s", DataType::Utf8, true),
        ]));
        RecordBatch::try_new(
            schema,
            vec![
                Arc::new(Int64Array::from(vec![Some(1), None, Some(3)])),
                Arc::new(StringArray::from(vec![Some("x"), Some("y"), None])),
            ],
        )
        .unwrap()
    }

    #[test]
    fn frames_round_trip_through_postcard_bytes_including_empty_ones() {
        let b = batch();
        let f = Frame::new(b.schema(), vec![b.clone(), b.slice(1, 2)]);
        let back = decode_frame(&encode_frame(&f).unwrap()).unwrap();
        assert_eq!(back.num_rows(), 5);
        assert_eq!(back.concat().unwrap(), f.concat().unwrap());
        let empty = Frame::new(b.schema(), vec![]);
        let back = decode_frame(&encode_frame(&empty).unwrap()).unwrap();
        assert_eq!(back.num_rows(), 0);
        assert_eq!(back.schema, b.schema());
        // The client decodes the same value as a byte string.
        let raw: serde_bytes::ByteBuf =
            rask_protocol::decode_value(&encode_frame(&f).unwrap()).unwrap();
        assert_eq!(read_ipc(&raw).unwrap().num_rows(), 5);
        assert!(decode_frame(&Bytes::from_static(b"\x03abc")).is_err());
        // Decoded in place: the integers' values lie inside the task value, not in a copy.
        let whole = encode_frame(&f).unwrap();
        let back = decode_frame(&whole).unwrap();
        let values = back.batches[0].column(0).to_data().buffers()[0].as_ptr() as usize;
        let range = whole.as_ptr() as usize..whole.as_ptr() as usize + whole.len();
        assert!(range.contains(&values));
        // A cut stream is an error, not fewer rows.
        assert!(decode_frame(&whole.slice(..whole.len() - 12)).is_err());
    }

    #[test]
    fn frames_and_table_lists_encode_exactly_as_postcard_does() {
        let b = batch();
        let big =
            arrow_select::concat::concat_batches(&b.schema(), &vec![b.clone(); 10_000]).unwrap();
        for f in [
            Frame::new(b.schema(), vec![]),
            Frame::new(b.schema(), vec![b.clone()]),
            Frame::new(b.schema(), vec![big.clone(), big]),
        ] {
            let ipc = write_ipc(&f).unwrap();
            let want = rask_protocol::encode_value(serde_bytes::Bytes::new(&ipc)).unwrap();
            assert_eq!(encode_frame(&f).unwrap(), want);
            let list = vec![serde_bytes::ByteBuf::from(ipc)];
            let want = rask_protocol::encode_value(&list).unwrap();
            assert_eq!(encode_table_list(&f).unwrap(), want);
        }
    }

    #[test]
    fn batch_is_a_serde_value() {
        let b = Batch(batch());
        let bytes = rask_protocol::encode_value(&b).unwrap();
        let back: Batch = rask_protocol::decode_value(&bytes).unwrap();
        assert_eq!(back.0, b.0);
    }
}
