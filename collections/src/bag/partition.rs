//! The partition task: read a partition's source, run its element pipeline, feed its sink.

use super::ops::{Op, Pipeline, Where};
use super::records::{encode_str, records, Fail};
use super::sinks::{count_ascii_words, SinkSpec, State};
use super::text::{lines, read_block, TextBlock};
use crate::raw::{bad_args, failed};
use bytes::Bytes;
use rask_actors::worker::registry::InvokeResult;
use rask_protocol::decode_value;
use serde::{Deserialize, Serialize};

crate::raw_task! {
    /// Registered name of the partition task.
    pub const PARTITION = "rask_collections::bag::partition" => run_partition
}

/// Where a partition's elements come from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Source {
    /// The task's second argument, an encoded partition.
    Dependency,
    /// An encoded partition carried in the plan.
    Inline(Bytes),
    /// The lines of a block of a text file.
    Text(TextBlock),
}

/// Everything a partition task does.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PartitionPlan {
    /// Partition number (for messages).
    pub index: u64,
    /// Where the elements come from.
    pub source: Source,
    /// Element-wise operations, in order.
    pub ops: Vec<Op>,
    /// What to make of the results.
    pub sink: SinkSpec,
}

fn feed(
    partition: &[u8],
    pipeline: &Pipeline,
    at: &mut Where,
    state: &mut State,
) -> Result<(), Fail> {
    for (i, r) in records(partition)?.enumerate() {
        at.element = i as u64;
        if !pipeline.push(r?, at, state)? {
            break;
        }
    }
    Ok(())
}

/// Runs a [`PartitionPlan`] (`args[0]`) on its dependency (`args[1]`, if any).
pub fn run_partition(args: &[Bytes]) -> InvokeResult {
    let plan: PartitionPlan = decode_value(args.first().ok_or_else(|| bad_args("no plan"))?)
        .map_err(|e| bad_args(format!("partition plan does not decode: {e}")))?;
    let pipeline = Pipeline::compile(&plan.ops)?;
    let mut state = State::new(&plan.sink)?;
    let mut at = Where {
        partition: plan.index,
        ..Where::default()
    };
    match &plan.source {
        Source::Dependency => {
            let part = args.get(1).ok_or_else(|| bad_args("no input partition"))?;
            feed(part, &pipeline, &mut at, &mut state)?;
        }
        Source::Inline(part) => feed(part, &pipeline, &mut at, &mut state)?,
        Source::Text(block) => {
            let (buf, first_line) = read_block(block)?;
            at.file = Some(block.path.clone());
            at.block_start = first_line;
            let fast = pipeline.is_words() && buf.is_ascii();
            match state.frequencies() {
                Some(map) if fast => count_ascii_words(&buf, map),
                _ => {
                    let mut rec = Vec::with_capacity(256);
                    for (i, line) in lines(&buf).enumerate() {
                        at.line = i as u64;
                        if std::str::from_utf8(line).is_err() {
                            return Err(failed(format!("{}: not valid UTF-8", at.describe())));
                        }
                        rec.clear();
                        encode_str(&mut rec, line);
                        if !pipeline.push(&rec, &at, &mut state)? {
                            break;
                        }
                    }
                }
            }
        }
    }
    state.finish()
}
