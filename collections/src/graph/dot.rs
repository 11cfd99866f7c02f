//! Graphviz DOT export of a graph (before optimisation) or of the task specs that would be
//! submitted (after culling and fusing): one box per task labelled with its function and key,
//! one dashed ellipse per key already held on the cluster, an arrow from each dependency.

use super::Graph;
use rask_protocol::{Key, TaskSpec};
use std::fmt::Write;

fn short(name: &str) -> &str {
    name.rsplit("::").next().unwrap_or(name)
}

fn escape(s: &str) -> String {
    s.replace('\\', "\\\\").replace('"', "\\\"")
}

fn quote(s: &str) -> String {
    format!("\"{}\"", escape(s))
}

fn render<'a>(
    nodes: impl Iterator<Item = (&'a Key, &'a str, Vec<&'a Key>)>,
    held: impl Iterator<Item = &'a Key>,
) -> String {
    let mut out = String::from("digraph rask {\n  rankdir=BT;\n  node [shape=box];\n");
    for k in held {
        let _ = writeln!(
            out,
            "  {} [shape=ellipse, style=dashed];",
            quote(k.as_str())
        );
    }
    for (key, function, deps) in nodes {
        let _ = writeln!(
            out,
            "  {} [label=\"{}\\n{}\"];",
            quote(key.as_str()),
            escape(short(function)),
            escape(key.as_str())
        );
        for d in deps {
            let _ = writeln!(out, "  {} -> {};", quote(d.as_str()), quote(key.as_str()));
        }
    }
    out.push_str("}\n");
    out
}

/// The graph as DOT text.
pub fn to_dot(graph: &Graph) -> String {
    render(
        graph
            .tasks()
            .map(|t| (&t.key, t.function.as_str(), t.dependencies())),
        graph.held_keys(),
    )
}

/// Optimised task specs (see [`optimize`](super::optimize::optimize)) as DOT text.
pub fn specs_to_dot(specs: &[TaskSpec]) -> String {
    render(
        specs.iter().map(|s| {
            let mut deps: Vec<&Key> = s.dependencies().collect();
            deps.dedup();
            (&s.key, s.function.as_str(), deps)
        }),
        std::iter::empty(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::graph::Task;
    use rask_protocol::Arg;

    #[test]
    fn dot_has_a_node_per_task_and_an_edge_per_dependency() {
        let mut g = Graph::new();
        let a = g.insert(Task::new("a", "m::load", vec![]));
        let b = g.insert(Task::new("b", "m::inc", vec![Arg::Key(a.clone())]));
        let dot = to_dot(&g);
        assert!(dot.starts_with("digraph rask {"));
        assert!(dot.contains(&format!("\"{a}\" -> \"{b}\";")));
        assert!(dot.contains(&format!("label=\"inc\\n{b}\"")), "{dot}");
        assert!(dot.trim_end().ends_with('}'));
    }
}
