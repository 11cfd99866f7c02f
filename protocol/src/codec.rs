//! Framing of message batches onto ZeroMQ multipart messages, and value encoding.
//!
//! A multipart message is `[header, bulk…]`: the header is one postcard-encoded `Vec` of
//! messages (a batch: whatever the sender had queued), and bulk values follow in frames of
//! their own, referenced by index from the messages, so a large value is never re-encoded.

use crate::error::{ProtocolError, Result};
use bytes::Bytes;
use serde::de::DeserializeOwned;
use serde::Serialize;

/// Default upper bound on one header frame (bulk frames are bounded by the transport).
pub const DEFAULT_MAX_HEADER: usize = 256 * 1024 * 1024;

/// A decoded multipart message: the messages and the bulk frames they refer to.
#[derive(Debug, Clone, PartialEq)]
pub struct Batch<M> {
    /// The messages, in the order they were sent.
    pub messages: Vec<M>,
    /// Bulk frames, indexed from 0.
    pub frames: Vec<Bytes>,
}

impl<M> Batch<M> {
    /// The bulk frame at `index`, or an error naming the missing index.
    pub fn frame(&self, index: u32) -> Result<Bytes> {
        self.frames
            .get(index as usize)
            .cloned()
            .ok_or(ProtocolError::MissingFrame {
                index,
                available: self.frames.len(),
            })
    }
}

/// Encodes messages and bulk frames into the frames of one multipart message.
pub fn encode_batch<M: Serialize>(messages: &[M], frames: Vec<Bytes>) -> Result<Vec<Bytes>> {
    let header = postcard::to_stdvec(messages).map_err(|e| ProtocolError::Encode {
        what: "batch header",
        reason: e.to_string(),
    })?;
    let mut out = Vec::with_capacity(1 + frames.len());
    out.push(Bytes::from(header));
    out.extend(frames);
    Ok(out)
}

/// Decodes a multipart message produced by [`encode_batch`].
pub fn decode_batch<M: DeserializeOwned>(mut frames: Vec<Bytes>) -> Result<Batch<M>> {
    if frames.is_empty() {
        return Err(ProtocolError::malformed("batch", "no frames"));
    }
    let header = frames.remove(0);
    if header.len() > DEFAULT_MAX_HEADER {
        return Err(ProtocolError::TooLarge {
            size: header.len(),
            limit: DEFAULT_MAX_HEADER,
        });
    }
    let (messages, rest): (Vec<M>, &[u8]) = postcard::take_from_bytes(&header)
        .map_err(|e| ProtocolError::malformed("batch header", e))?;
    if !rest.is_empty() {
        return Err(ProtocolError::malformed(
            "batch header",
            format!("{} trailing bytes", rest.len()),
        ));
    }
    Ok(Batch { messages, frames })
}

/// A postcard output into a buffer allocated once at the encoded size.
struct Exact(Vec<u8>);

impl postcard::ser_flavors::Flavor for Exact {
    type Output = Vec<u8>;

    fn try_extend(&mut self, data: &[u8]) -> postcard::Result<()> {
        self.0.extend_from_slice(data);
        Ok(())
    }

    fn try_push(&mut self, data: u8) -> postcard::Result<()> {
        self.0.push(data);
        Ok(())
    }

    fn finalize(self) -> postcard::Result<Vec<u8>> {
        Ok(self.0)
    }
}

/// Encodes one value (a task argument or result) with postcard, into a buffer of exactly its
/// size: a growing buffer would leave a big value with up to twice its size allocated and
/// copy it on the way, which counts against a worker's memory limit.
pub fn encode_value<T: Serialize + ?Sized>(value: &T) -> Result<Bytes> {
    let encode = |e: postcard::Error| ProtocolError::Encode {
        what: "value",
        reason: e.to_string(),
    };
    let size = postcard::experimental::serialized_size(value).map_err(encode)?;
    postcard::serialize_with_flavor(value, Exact(Vec::with_capacity(size)))
        .map(Bytes::from)
        .map_err(encode)
}

/// Decodes one value encoded by [`encode_value`]; trailing bytes are an error.
pub fn decode_value<T: DeserializeOwned>(bytes: &[u8]) -> Result<T> {
    let (value, rest) =
        postcard::take_from_bytes(bytes).map_err(|e| ProtocolError::malformed("value", e))?;
    if !rest.is_empty() {
        return Err(ProtocolError::malformed(
            "value",
            format!("{} trailing bytes", rest.len()),
        ));
    }
    Ok(value)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::{Attempt, Key, RequestId, WorkerId};
    use crate::messages::*;
    use crate::task::{Arg, TaskError, TaskErrorKind, TaskSpec};
    use rand::{Rng, SeedableRng};

    fn sample_client() -> Vec<FromClient> {
        vec![
            FromClient::Submit(vec![TaskSpec {
                key: Key::new("inc-1"),
                function: "inc".into(),
                args: vec![
                    Arg::Value(encode_value(&1i64).unwrap()),
                    Arg::Key(Key::new("x")),
                ],
                priority: 0,
                retries: 1,
                wanted: true,
                workers: vec![],
            }]),
            FromClient::Release(vec![Key::new("a")]),
            FromClient::WhoHas {
                req: RequestId(9),
                keys: vec![Key::new("b")],
            },
            FromClient::Goodbye,
        ]
    }

    fn sample_worker() -> Vec<ToWorker> {
        vec![ToWorker::Compute(ComputeMsg {
            key: Key::new("t"),
            attempt: Attempt(2),
            function: "add".into(),
            args: vec![Arg::Key(Key::new("d"))],
            deps: vec![DepLocation {
                key: Key::new("d"),
                holders: vec![(WorkerId(1), "tcp://127.0.0.1:5".into())],
            }],
            priority: 3,
        })]
    }

    #[test]
    fn batches_round_trip_with_bulk_frames() {
        let frames = encode_batch(&sample_client(), vec![Bytes::from_static(b"bulk")]).unwrap();
        let batch: Batch<FromClient> = decode_batch(frames).unwrap();
        assert_eq!(batch.messages, sample_client());
        assert_eq!(batch.frame(0).unwrap(), Bytes::from_static(b"bulk"));
        assert_eq!(
            batch.frame(1),
            Err(ProtocolError::MissingFrame {
                index: 1,
                available: 1
            })
        );
    }

    #[test]
    fn every_direction_round_trips() {
        let frames = encode_batch(&sample_worker(), vec![]).unwrap();
        assert_eq!(
            decode_batch::<ToWorker>(frames).unwrap().messages,
            sample_worker()
        );
        let err = ToClient::Erred(TaskError {
            key: Key::new("k"),
            function: "f".into(),
            kind: TaskErrorKind::Panicked,
            message: "boom".into(),
        });
        let frames = encode_batch(std::slice::from_ref(&err), vec![]).unwrap();
        assert_eq!(
            decode_batch::<ToClient>(frames).unwrap().messages,
            vec![err]
        );
    }

    #[test]
    fn actor_and_secede_messages_round_trip_and_keep_their_indices() {
        let call = ToStore::ActorCall {
            req: RequestId(5),
            actor: Key::new("Counter-1"),
            method: "increment".into(),
            args: vec![encode_value(&1i64).unwrap()],
        };
        let frames = encode_batch(std::slice::from_ref(&call), vec![]).unwrap();
        assert_eq!(
            decode_batch::<ToStore>(frames).unwrap().messages,
            vec![call]
        );
        let outcomes = vec![
            ActorOutcome::Value { frame: 0 },
            ActorOutcome::Failed {
                kind: TaskErrorKind::Failed,
                message: "no".into(),
            },
            ActorOutcome::NoSuchActor,
            ActorOutcome::NoSuchMethod,
        ];
        let replies: Vec<FromStore> = outcomes
            .into_iter()
            .map(|outcome| FromStore::ActorResult {
                req: RequestId(1),
                outcome,
            })
            .collect();
        let frames = encode_batch(&replies, vec![Bytes::from_static(b"v")]).unwrap();
        assert_eq!(decode_batch::<FromStore>(frames).unwrap().messages, replies);
        // Appended variants: older variants keep their indices on the wire.
        let sec = FromWorker::Seceded {
            key: Key::new("k"),
            attempt: Attempt(1),
        };
        assert_eq!(postcard::to_stdvec(&sec).unwrap()[0], 7);
        assert_eq!(postcard::to_stdvec(&call_index()).unwrap()[0], 2);
        assert_eq!(postcard::to_stdvec(&replies[0]).unwrap()[0], 4);
    }

    fn call_index() -> ToStore {
        ToStore::ActorCall {
            req: RequestId(0),
            actor: Key::new("a"),
            method: String::new(),
            args: vec![],
        }
    }

    #[test]
    fn truncated_headers_are_errors_not_panics() {
        let frames = encode_batch(&sample_client(), vec![]).unwrap();
        let header = frames[0].clone();
        for cut in 0..header.len() {
            let r = decode_batch::<FromClient>(vec![header.slice(..cut)]);
            assert!(r.is_err(), "a {cut}-byte prefix decoded");
        }
        assert!(decode_batch::<FromClient>(vec![]).is_err());
    }

    #[test]
    fn trailing_bytes_are_errors() {
        let mut header = encode_batch(&sample_client(), vec![]).unwrap()[0].to_vec();
        header.push(0);
        assert!(decode_batch::<FromClient>(vec![Bytes::from(header)]).is_err());
        let mut v = encode_value(&5u32).unwrap().to_vec();
        v.push(1);
        assert!(decode_value::<u32>(&v).is_err());
    }

    /// Valid frames of every direction, the seeds that fuzzing mutates.
    fn seeds() -> Vec<Vec<u8>> {
        let header = |frames: Vec<Bytes>| frames[0].to_vec();
        let from_worker = vec![
            FromWorker::Finished {
                key: Key::new("k"),
                attempt: Attempt(1),
                nbytes: 9,
                duration_us: 12,
            },
            FromWorker::StealReply {
                key: Key::new("k"),
                attempt: Attempt(1),
                stolen: true,
            },
            FromWorker::Seceded {
                key: Key::new("k"),
                attempt: Attempt(2),
            },
        ];
        let to_worker_more = vec![ToWorker::Steal {
            key: Key::new("k"),
            attempt: Attempt(3),
        }];
        let from_store = vec![
            FromStore::Chunk {
                req: RequestId(1),
                key: Key::new("k"),
                offset: 0,
                total: 10,
                frame: 0,
            },
            FromStore::ActorResult {
                req: RequestId(2),
                outcome: ActorOutcome::Value { frame: 0 },
            },
            FromStore::ActorResult {
                req: RequestId(3),
                outcome: ActorOutcome::Failed {
                    kind: TaskErrorKind::Panicked,
                    message: "boom".into(),
                },
            },
            FromStore::ActorResult {
                req: RequestId(4),
                outcome: ActorOutcome::NoSuchActor,
            },
        ];
        let to_store = vec![ToStore::ActorCall {
            req: RequestId(5),
            actor: Key::new("Counter-1"),
            method: "increment".into(),
            args: vec![encode_value(&1i64).unwrap()],
        }];
        vec![
            header(encode_batch(&sample_client(), vec![]).unwrap()),
            header(encode_batch(&sample_worker(), vec![]).unwrap()),
            header(encode_batch(&from_worker, vec![]).unwrap()),
            header(encode_batch(&to_worker_more, vec![]).unwrap()),
            header(encode_batch(&from_store, vec![Bytes::from_static(b"x")]).unwrap()),
            header(encode_batch(&[FromClient::Resume(vec![Key::new("r")])], vec![]).unwrap()),
            header(encode_batch(&to_store, vec![]).unwrap()),
        ]
    }

    /// Random bytes and mutations of valid frames of every direction never panic any
    /// socket-facing decoder. `RASK_FUZZ_ITERS` sets the count (default 20,000;
    /// `scripts/fuzz.sh` runs a million).
    #[test]
    fn random_and_mutated_bytes_never_panic() {
        let iters: usize = std::env::var("RASK_FUZZ_ITERS")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(20_000);
        let seed: u64 = std::env::var("RASK_FUZZ_SEED")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(7);
        let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
        let seeds = seeds();
        for i in 0..iters {
            let bytes: Vec<u8> = match i % 3 {
                0 => {
                    let n = rng.gen_range(0..64);
                    (0..n).map(|_| rng.gen()).collect()
                }
                1 => {
                    let mut m = seeds[rng.gen_range(0..seeds.len())].clone();
                    for _ in 0..rng.gen_range(1..4) {
                        let at = rng.gen_range(0..m.len());
                        m[at] = rng.gen();
                    }
                    m
                }
                _ => {
                    // Cut, duplicated or spliced valid frames.
                    let a = &seeds[rng.gen_range(0..seeds.len())];
                    let b = &seeds[rng.gen_range(0..seeds.len())];
                    let cut = rng.gen_range(0..=a.len());
                    let mut m = a[..cut].to_vec();
                    m.extend_from_slice(&b[rng.gen_range(0..=b.len())..]);
                    m
                }
            };
            let b = Bytes::from(bytes);
            let bulk = vec![b.clone(), b.clone()];
            let _ = decode_batch::<FromClient>(vec![b.clone()]);
            let _ = decode_batch::<ToWorker>(vec![b.clone()]);
            let _ = decode_batch::<FromWorker>(vec![b.clone()]);
            let _ = decode_batch::<ToStore>(bulk.clone());
            let _ = decode_batch::<FromStore>(bulk);
            let _ = decode_batch::<ToClient>(vec![b.clone()]);
            let _ = crate::handshake::Hello::decode(&b);
            let _ = crate::handshake::HelloReply::decode(&b);
        }
    }

    #[test]
    fn values_round_trip() {
        let v = (1i64, "two".to_string(), vec![3.0f64]);
        let bytes = encode_value(&v).unwrap();
        assert_eq!(decode_value::<(i64, String, Vec<f64>)>(&bytes).unwrap(), v);
        assert!(decode_value::<String>(&[0xff, 0xff]).is_err());
    }

    #[test]
    fn values_encode_exactly_as_postcard_does() {
        let blob = serde_bytes::ByteBuf::from(vec![7u8; 300_000]);
        assert_eq!(
            encode_value(&blob).unwrap(),
            postcard::to_stdvec(&blob).unwrap()
        );
        let v = (u64::MAX, -1i32, "ü".to_string(), Some(vec![1u16, 2]), ());
        assert_eq!(encode_value(&v).unwrap(), postcard::to_stdvec(&v).unwrap());
        assert_eq!(encode_value(&()).unwrap().len(), 0);
    }
}
