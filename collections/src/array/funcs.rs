//! The registered task functions behind arrays; the stock `rask worker` runs them all.
//! Each takes an encoded spec first and encoded blocks after, and returns an encoded block
//! (or partial).

use super::block::Block;
use super::expr::Expr;
use crate::raw::{bad_args, failed};
use bytes::Bytes;
use rask_actors::worker::registry::InvokeResult;
use rask_protocol::decode_value;
use serde::de::DeserializeOwned;

crate::raw_task! {
    /// Registered name of the expression evaluator (one output block).
    pub const BLOCK = "rask_collections::array::block" => run_block
}

/// The spec in `args[0]` and the remaining arguments.
pub(crate) fn spec<T: DeserializeOwned>(
    args: &[Bytes],
) -> Result<(T, &[Bytes]), (rask_protocol::TaskErrorKind, String)> {
    let first = args.first().ok_or_else(|| bad_args("no spec"))?;
    let spec = decode_value(first).map_err(|e| bad_args(format!("spec does not decode: {e}")))?;
    Ok((spec, &args[1..]))
}

/// Evaluates the expression in `args[0]` on the blocks in `args[1..]`.
pub fn run_block(args: &[Bytes]) -> InvokeResult {
    let (expr, inputs): (Expr, _) = spec(args)?;
    let out: Block = expr.eval(inputs).map_err(failed)?;
    Ok(out.encode())
}
