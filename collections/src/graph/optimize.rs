//! Graph optimisation before submission: cull to what the requested keys need, then fuse
//! linear chains (a task whose only dependent has no other dependency) into one task run by
//! [`fused`](super::fused) on a single worker, so the intermediate values never leave it.
//!
//! ```text
//!  read ─▶ parse ─▶ filter ─▶ count        ⇒   fused(read, parse, filter, count)
//!   a ─┬─▶ b                                ⇒   a, b, c unchanged (a has two dependents)
//!      └─▶ c
//! ```

use super::fused::{FusedPlan, Step, StepArg, FUSED};
use super::{Graph, Task};
use crate::{Error, Result};
use rask_protocol::{encode_value, Arg, Key, TaskSpec};
use std::collections::{BTreeMap, BTreeSet};

/// What [`optimize`] does besides culling.
#[derive(Debug, Clone, Copy)]
pub struct OptimizeOptions {
    /// Fuse linear chains into single tasks.
    pub fuse: bool,
}

impl Default for OptimizeOptions {
    fn default() -> Self {
        OptimizeOptions { fuse: true }
    }
}

/// The tasks of `graph` that `outputs` need, in dependency order (dependencies first).
/// Held keys are leaves; a key that is neither a task nor held is an error.
pub fn cull<'g>(graph: &'g Graph, outputs: &[Key]) -> Result<Vec<&'g Task>> {
    let mut order = Vec::new();
    let mut seen = BTreeSet::new();
    // Iterative post-order walk, so deep chains cannot overflow the stack.
    let mut stack: Vec<(&Key, bool)> = outputs.iter().rev().map(|k| (k, false)).collect();
    while let Some((key, expanded)) = stack.pop() {
        if graph.held(key).is_some() {
            continue;
        }
        let task = graph
            .task(key)
            .ok_or_else(|| Error::Invalid(format!("key {key} is not in the graph")))?;
        if expanded {
            order.push(task);
            continue;
        }
        if !seen.insert(key) {
            continue;
        }
        stack.push((key, true));
        for d in task.dependencies().into_iter().rev() {
            if !seen.contains(d) {
                stack.push((d, false));
            }
        }
    }
    Ok(order)
}

/// Culls `graph` to what `outputs` need, optionally fuses linear chains, and returns the task
/// specs to submit: `wanted` exactly for `outputs`, dependencies before dependents.
pub fn optimize(graph: &Graph, outputs: &[Key], opts: OptimizeOptions) -> Result<Vec<TaskSpec>> {
    let tasks = cull(graph, outputs)?;
    let wanted: BTreeSet<&Key> = outputs.iter().collect();
    let priorities = output_priorities(&tasks, &wanted);
    let spec = |key: Key, function: String, args: Vec<Arg>| TaskSpec {
        wanted: wanted.contains(&key),
        priority: priorities[&key],
        key,
        function,
        args,
        retries: 0,
        workers: Vec::new(),
    };
    if !opts.fuse {
        return Ok(tasks
            .into_iter()
            .map(|t| spec(t.key.clone(), t.function.clone(), t.args.clone()))
            .collect());
    }
    // Dependents within the culled graph.
    let mut dependents: BTreeMap<&Key, Vec<&Key>> = BTreeMap::new();
    for t in &tasks {
        for d in t.dependencies() {
            dependents.entry(d).or_default().push(&t.key);
        }
    }
    let by_key: BTreeMap<&Key, &Task> = tasks.iter().map(|t| (&t.key, *t)).collect();
    // prev[d] = t: t is fused into its only dependent d, which depends on nothing else.
    let mut prev: BTreeMap<&Key, &Key> = BTreeMap::new();
    for t in &tasks {
        if wanted.contains(&t.key) {
            continue;
        }
        if let Some([d]) = dependents.get(&t.key).map(|v| v.as_slice()) {
            let deps = by_key[*d].dependencies();
            if deps.len() == 1 && deps[0] == &t.key {
                prev.insert(d, &t.key);
            }
        }
    }
    let absorbed: BTreeSet<&Key> = prev.values().copied().collect();
    let mut specs = Vec::with_capacity(tasks.len() - absorbed.len());
    for t in &tasks {
        if absorbed.contains(&t.key) {
            continue;
        }
        if !prev.contains_key(&t.key) {
            specs.push(spec(t.key.clone(), t.function.clone(), t.args.clone()));
            continue;
        }
        let mut chain = vec![*t];
        let mut cur = &t.key;
        while let Some(p) = prev.get(cur) {
            chain.push(by_key[*p]);
            cur = p;
        }
        chain.reverse();
        let (plan, inputs) = fuse_chain(&chain);
        let mut args = vec![Arg::Value(encode_value(&plan)?)];
        args.extend(inputs.into_iter().map(Arg::Key));
        specs.push(spec(t.key.clone(), FUSED.to_string(), args));
    }
    Ok(specs)
}

/// Priorities that finish one output before starting the next (like `dask.order`): every
/// task gets the rank of the first output, in request order, whose lineage holds it, as
/// `-rank` (higher runs first). A worker holding partial results of output 0 then combines
/// them before it computes more partials of output 1, so intermediates are freed (and their
/// memory reused) early instead of piling up until every partial exists.
fn output_priorities<'g>(tasks: &[&'g Task], wanted: &BTreeSet<&Key>) -> BTreeMap<&'g Key, i32> {
    // `tasks` is a post-order walk from the outputs in order: each output comes right after
    // the part of its lineage no earlier output needed.
    let mut rank: i32 = 0;
    let mut out = BTreeMap::new();
    for t in tasks {
        out.insert(&t.key, -rank);
        if wanted.contains(&t.key) {
            rank = rank.saturating_add(1);
        }
    }
    out
}

/// A chain `[first, …, last]` (each depending only on the one before, except the first) as a
/// fused plan and the external keys the first step needs.
fn fuse_chain(chain: &[&Task]) -> (FusedPlan, Vec<Key>) {
    let mut inputs: Vec<Key> = Vec::new();
    let mut steps = Vec::with_capacity(chain.len());
    for (i, t) in chain.iter().enumerate() {
        let args = t
            .args
            .iter()
            .map(|a| match a {
                Arg::Value(v) => StepArg::Value(v.clone()),
                Arg::Key(_) if i > 0 => StepArg::Prev,
                Arg::Key(k) => {
                    let at = inputs.iter().position(|x| x == k).unwrap_or_else(|| {
                        inputs.push(k.clone());
                        inputs.len() - 1
                    });
                    StepArg::Input(at as u32)
                }
            })
            .collect();
        steps.push(Step {
            function: t.function.clone(),
            args,
        });
    }
    (FusedPlan { steps }, inputs)
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;

    fn t(g: &mut Graph, name: &str, deps: &[&Key]) -> Key {
        let mut args = vec![Arg::Value(Bytes::from(name.as_bytes().to_vec()))];
        args.extend(deps.iter().map(|k| Arg::Key((*k).clone())));
        g.insert(Task::new(name, &format!("f::{name}"), args))
    }

    //  a ─▶ b ─▶ c ─▶ d        e (unrelated)
    #[test]
    fn culling_keeps_only_what_outputs_need_in_dependency_order() {
        let mut g = Graph::new();
        let a = t(&mut g, "a", &[]);
        let b = t(&mut g, "b", &[&a]);
        let c = t(&mut g, "c", &[&b]);
        let _e = t(&mut g, "e", &[]);
        let order: Vec<Key> = cull(&g, std::slice::from_ref(&c))
            .unwrap()
            .iter()
            .map(|t| t.key.clone())
            .collect();
        assert_eq!(order, vec![a, b, c]);
        assert!(cull(&g, &[Key::new("missing")]).is_err());
    }

    //  a ─┬─▶ b   (output 0)        d ─▶ e   (output 2)
    //     └─▶ c   (output 1)
    #[test]
    fn each_output_and_its_own_lineage_share_a_priority_in_request_order() {
        let mut g = Graph::new();
        let a = t(&mut g, "a", &[]);
        let b = t(&mut g, "b", &[&a]);
        let c = t(&mut g, "c", &[&a]);
        let d = t(&mut g, "d", &[]);
        let e = t(&mut g, "e", &[&d]);
        let outputs = [b.clone(), c.clone(), e.clone()];
        let opts = OptimizeOptions { fuse: false };
        let specs = optimize(&g, &outputs, opts).unwrap();
        let prio: BTreeMap<Key, i32> = specs.iter().map(|s| (s.key.clone(), s.priority)).collect();
        assert_eq!(prio[&a], 0, "a is first needed by output 0");
        assert_eq!(prio[&b], 0);
        assert_eq!(prio[&c], -1);
        assert_eq!(prio[&d], -2);
        assert_eq!(prio[&e], -2);
    }

    //  a ─▶ b ─▶ c   fuses into one task keyed c, taking no input
    #[test]
    fn a_linear_chain_fuses_into_one_task_under_the_last_key() {
        let mut g = Graph::new();
        let a = t(&mut g, "a", &[]);
        let b = t(&mut g, "b", &[&a]);
        let c = t(&mut g, "c", &[&b]);
        let specs = optimize(&g, std::slice::from_ref(&c), OptimizeOptions::default()).unwrap();
        assert_eq!(specs.len(), 1);
        assert_eq!(specs[0].key, c);
        assert_eq!(specs[0].function, FUSED);
        assert!(specs[0].wanted);
        let plan: FusedPlan = rask_protocol::decode_value(match &specs[0].args[0] {
            Arg::Value(v) => v,
            Arg::Key(_) => panic!("plan is a value"),
        })
        .unwrap();
        let names: Vec<&str> = plan.steps.iter().map(|s| s.function.as_str()).collect();
        assert_eq!(names, ["f::a", "f::b", "f::c"]);
        let unfused = optimize(&g, &[c], OptimizeOptions { fuse: false }).unwrap();
        assert_eq!(unfused.len(), 3);
    }

    //     ┌▶ b ─┐
    //  a ─┤     ├▶ d ─▶ e        x ─▶ y (y wanted, so x fuses into y)
    //     └▶ c ─┘
    #[test]
    fn branches_and_joins_are_not_fused_but_the_tail_is() {
        let mut g = Graph::new();
        let a = t(&mut g, "a", &[]);
        let b = t(&mut g, "b", &[&a]);
        let c = t(&mut g, "c", &[&a]);
        let d = t(&mut g, "d", &[&b, &c]);
        let e = t(&mut g, "e", &[&d]);
        let specs = optimize(&g, std::slice::from_ref(&e), OptimizeOptions::default()).unwrap();
        let keys: Vec<&Key> = specs.iter().map(|s| &s.key).collect();
        assert_eq!(keys, vec![&a, &b, &c, &e]);
        // e absorbed d and depends on b and c.
        let deps: Vec<&Key> = specs[3].dependencies().collect();
        assert_eq!(deps, vec![&b, &c]);
        // A wanted intermediate is never absorbed.
        let specs = optimize(&g, &[d.clone(), e.clone()], OptimizeOptions::default()).unwrap();
        assert!(specs.iter().any(|s| s.key == d && s.wanted));
        assert_eq!(specs.iter().filter(|s| s.wanted).count(), 2);
    }
}
