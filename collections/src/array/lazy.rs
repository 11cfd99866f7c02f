//! Building block tasks: a [`Lazy`] block is an expression over the keys it reads. Operands
//! that are themselves expression tasks are inlined (bounded in size), so chains and trees of
//! element-wise operations become one task per output block.

use super::expr::Expr;
use super::funcs::BLOCK;
use crate::graph::{Graph, Task};
use crate::Result;
use rask_protocol::{decode_value, encode_value, Arg, Key};

/// Largest expression (in nodes) inlined into a consumer.
const INLINE_LIMIT: usize = 48;

/// One output block still to be made: `expr` over `inputs`.
#[derive(Debug, Clone)]
pub struct Lazy {
    /// The expression; `Expr::Input(i)` reads `inputs[i]`.
    pub expr: Expr,
    /// Keys read.
    pub inputs: Vec<Key>,
}

impl Lazy {
    /// The block under `key`, inlining its expression when it is a small expression task
    /// that reads inputs and calls no registered function.
    pub fn of(graph: &Graph, key: &Key) -> Lazy {
        if let Some(t) = graph.task(key) {
            // A task without inputs is a source (possibly a large literal): never inlined,
            // so not even decoded.
            if t.function == BLOCK && t.args.len() > 1 {
                if let Some(l) = Self::decode(&t.args) {
                    if l.expr.inlinable() && l.expr.size() <= INLINE_LIMIT {
                        return l;
                    }
                }
            }
        }
        Lazy {
            expr: Expr::Input(0),
            inputs: vec![key.clone()],
        }
    }

    fn decode(args: &[Arg]) -> Option<Lazy> {
        let expr = match args.first()? {
            Arg::Value(v) => decode_value::<Expr>(v).ok()?,
            Arg::Key(_) => return None,
        };
        let inputs = args[1..]
            .iter()
            .map(|a| match a {
                Arg::Key(k) => Some(k.clone()),
                Arg::Value(_) => None,
            })
            .collect::<Option<Vec<_>>>()?;
        Some(Lazy { expr, inputs })
    }

    /// A block made from nothing but `expr`.
    pub fn source(expr: Expr) -> Lazy {
        Lazy {
            expr,
            inputs: Vec::new(),
        }
    }

    /// `f(self.expr)` over the same inputs.
    pub fn map(self, f: impl FnOnce(Box<Expr>) -> Expr) -> Lazy {
        Lazy {
            expr: f(Box::new(self.expr)),
            inputs: self.inputs,
        }
    }

    /// Several blocks' expressions over one shared, deduplicated input list.
    pub fn join(parts: Vec<Lazy>) -> (Vec<Expr>, Vec<Key>) {
        let mut inputs: Vec<Key> = Vec::new();
        let exprs = parts
            .into_iter()
            .map(|p| {
                let at: Vec<u32> = p
                    .inputs
                    .iter()
                    .map(|k| match inputs.iter().position(|x| x == k) {
                        Some(i) => i as u32,
                        None => {
                            inputs.push(k.clone());
                            (inputs.len() - 1) as u32
                        }
                    })
                    .collect();
                p.expr.remap(&|i| at[i as usize])
            })
            .collect();
        (exprs, inputs)
    }

    /// The arguments of a task whose first argument is `spec`, followed by `inputs`.
    pub fn args(spec: Arg, inputs: Vec<Key>) -> Vec<Arg> {
        let mut args = vec![spec];
        args.extend(inputs.into_iter().map(Arg::Key));
        args
    }

    /// Inserts the task making this block and returns its key.
    pub fn insert(self, graph: &mut Graph, prefix: &str) -> Result<Key> {
        if let (Expr::Input(0), [k]) = (&self.expr, self.inputs.as_slice()) {
            return Ok(k.clone());
        }
        let spec = Arg::Value(encode_value(&self.expr)?);
        Ok(graph.insert(Task::new(prefix, BLOCK, Lazy::args(spec, self.inputs))))
    }
}
