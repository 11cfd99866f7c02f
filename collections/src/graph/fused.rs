//! The built-in function that runs a fused chain of tasks on one worker.
//!
//! Its first argument is an encoded [`FusedPlan`]; the rest are the results of the keys the
//! first step depends on. Each step is a registered function looked up in the worker's
//! registry and called on encoded arguments; the last step's result is the task's result.

use crate::raw::bad_args;
use bytes::Bytes;
use rask_actors::worker::registry::{InvokeResult, Registry};
use rask_protocol::{decode_value, TaskErrorKind};
use serde::{Deserialize, Serialize};

crate::raw_task! {
    /// Registered name of the fused-chain runner.
    pub const FUSED = "rask_collections::graph::fused" => run_fused
}

/// A fused chain: steps run in order, each feeding the next.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct FusedPlan {
    /// The steps, first to last.
    pub steps: Vec<Step>,
}

/// One step of a fused chain.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Step {
    /// Registered function name.
    pub function: String,
    /// Its arguments.
    pub args: Vec<StepArg>,
}

/// Where a step's argument comes from.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub enum StepArg {
    /// An encoded value.
    Value(Bytes),
    /// The fused task's `n`-th input (a dependency's result).
    Input(u32),
    /// The previous step's result.
    Prev,
}

fn short(name: &str) -> &str {
    name.rsplit("::").next().unwrap_or(name)
}

/// Runs a fused plan (`args[0]`) on its inputs (`args[1..]`).
pub fn run_fused(args: &[Bytes]) -> InvokeResult {
    let plan: FusedPlan = decode_value(args.first().ok_or_else(|| bad_args("no fused plan"))?)
        .map_err(|e| bad_args(format!("fused plan does not decode: {e}")))?;
    let inputs = &args[1..];
    let registry = Registry::global();
    let mut prev: Option<Bytes> = None;
    for step in plan.steps {
        let entry = registry.get(&step.function).ok_or_else(|| {
            (
                TaskErrorKind::UnknownFunction,
                format!(
                    "function {} is not registered on this worker",
                    step.function
                ),
            )
        })?;
        let mut call = Vec::with_capacity(step.args.len());
        for a in step.args {
            call.push(match a {
                StepArg::Value(v) => v,
                StepArg::Input(i) => inputs
                    .get(i as usize)
                    .cloned()
                    .ok_or_else(|| bad_args(format!("fused plan needs input {i}")))?,
                StepArg::Prev => prev
                    .clone()
                    .ok_or_else(|| bad_args("first fused step refers to a previous one"))?,
            });
        }
        let out = (entry.invoke)(&call)
            .map_err(|(kind, msg)| (kind, format!("in {}: {msg}", short(&step.function))))?;
        prev = Some(out);
    }
    prev.ok_or_else(|| bad_args("empty fused plan"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::builtins::{add, inc};
    use rask_actors::worker::TaskFunction;
    use rask_protocol::encode_value;

    #[test]
    fn a_plan_runs_its_steps_in_order_on_its_inputs() {
        // add(input0, 10) → inc → inc
        let plan = FusedPlan {
            steps: vec![
                Step {
                    function: add::NAME.into(),
                    args: vec![
                        StepArg::Input(0),
                        StepArg::Value(encode_value(&10i64).unwrap()),
                    ],
                },
                Step {
                    function: inc::NAME.into(),
                    args: vec![StepArg::Prev],
                },
                Step {
                    function: inc::NAME.into(),
                    args: vec![StepArg::Prev],
                },
            ],
        };
        let out = run_fused(&[encode_value(&plan).unwrap(), encode_value(&5i64).unwrap()]).unwrap();
        assert_eq!(decode_value::<i64>(&out).unwrap(), 17);
    }

    #[test]
    fn unknown_functions_and_step_failures_are_named() {
        let plan = FusedPlan {
            steps: vec![Step {
                function: "nowhere::f".into(),
                args: vec![],
            }],
        };
        let err = run_fused(&[encode_value(&plan).unwrap()]).unwrap_err();
        assert_eq!(err.0, TaskErrorKind::UnknownFunction);
        let plan = FusedPlan {
            steps: vec![Step {
                function: inc::NAME.into(),
                args: vec![StepArg::Value(Bytes::from_static(b"\xff\xff"))],
            }],
        };
        let err = run_fused(&[encode_value(&plan).unwrap()]).unwrap_err();
        assert_eq!(err.0, TaskErrorKind::BadArguments);
        assert!(err.1.starts_with("in inc:"), "{}", err.1);
    }
}
