//! Tall-and-skinny QR (TSQR) and least squares on arrays chunked by rows only.
//!
//! ```text
//!  A0 ─qr─▶ R0 ┐
//!  A1 ─qr─▶ R1 ┼─ stack ─qr─▶ R      lstsq: R of [A | b] in a tree, then back-substitution
//!  A2 ─qr─▶ R2 ┘                      tsqr:  Q_i = Q0_i · Q2[rows of block i]
//! ```
//!
//! Only the small `R` factors travel; blocks are factorised with Householder reflections.

use super::block::{Block, BlockBuf};
use super::expr::Expr;
use super::funcs::spec;
use super::lazy::Lazy;
use super::Array;
use crate::graph::{Graph, Task};
use crate::raw::{bad_args, failed};
use crate::{Error, Result};
use bytes::Bytes;
use ndarray::{s, Array1, Array2, ArrayView2, Axis, Ix2};
use rask_actors::worker::registry::InvokeResult;
use rask_protocol::{decode_value, encode_value, Arg, Key};
use serde::{Deserialize, Serialize};

crate::raw_task! {
    /// Registered name of the TSQR steps.
    pub const QR = "rask_collections::array::qr" => run_qr
}

/// One TSQR step.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum QrStep {
    /// Factorise a row block (`[a | b]` when `b` is given): gives `[R]` or `[Q, R]`.
    Leaf {
        /// The block of `A`.
        a: Expr,
        /// The block of the right-hand side, if solving.
        b: Option<Expr>,
        /// Keep `Q` (for `tsqr`).
        keep_q: bool,
    },
    /// Stack the inputs' `R`s and factorise again: gives `[R]` or `[Q, R]`.
    Stack {
        /// Keep `Q`.
        keep_q: bool,
    },
    /// The final `R` as a block.
    R,
    /// Back-substitution on the input's `R = qr([A | b])` with `k` columns of `A`.
    Solve {
        /// Columns of `A`.
        k: usize,
        /// Whether `b` was 1-d.
        vector: bool,
    },
    /// `Q` block: the leaf's `Q` times rows `row0..row0 + rows` of the stack's `Q`.
    QBlock {
        /// First row.
        row0: usize,
        /// Number of rows.
        rows: usize,
    },
}

/// Householder QR of an `m × n` matrix: thin `Q` (`m × p`) and `R` (`p × n`), `p = min(m, n)`.
pub fn householder(a: ArrayView2<f64>, want_q: bool) -> (Option<Array2<f64>>, Array2<f64>) {
    let (m, n) = a.dim();
    let p = m.min(n);
    let mut r = a.to_owned();
    let mut vs: Vec<Array1<f64>> = Vec::with_capacity(p);
    for j in 0..p {
        let x = r.slice(s![j.., j]);
        let norm = x.dot(&x).sqrt();
        let mut v = x.to_owned();
        if norm > 0.0 {
            v[0] += if x[0] >= 0.0 { norm } else { -norm };
            let vn = v.dot(&v).sqrt();
            v.mapv_inplace(|e| e / vn);
            let mut sub = r.slice_mut(s![j.., j..]);
            let w = v.dot(&sub);
            for (i, mut row) in sub.axis_iter_mut(Axis(0)).enumerate() {
                row.scaled_add(-2.0 * v[i], &w);
            }
        } else {
            v.fill(0.0);
        }
        vs.push(v);
    }
    let mut rr = r.slice(s![..p, ..]).to_owned();
    for i in 0..p {
        for j in 0..i.min(n) {
            rr[[i, j]] = 0.0;
        }
    }
    let q = want_q.then(|| {
        let mut q = Array2::<f64>::eye(m).slice(s![.., ..p]).to_owned();
        for (j, v) in vs.iter().enumerate().rev() {
            let mut sub = q.slice_mut(s![j.., ..]);
            let w = v.dot(&sub);
            for (i, mut row) in sub.axis_iter_mut(Axis(0)).enumerate() {
                row.scaled_add(-2.0 * v[i], &w);
            }
        }
        q
    });
    (q, rr)
}

type Res<T> = std::result::Result<T, String>;

fn mat(b: Block) -> Res<Array2<f64>> {
    b.astype(super::dtype::DType::F64)
        .into_array::<f64>()
        .ok_or("not f64")?
        .into_dimensionality::<Ix2>()
        .map_err(|e| e.to_string())
}

fn out(mats: Vec<Array2<f64>>) -> InvokeResult {
    let list: Vec<BlockBuf> = mats
        .into_iter()
        .map(|m| BlockBuf(super::block::encode_payload(&m.into_dyn())))
        .collect();
    encode_value(&list).map_err(|e| failed(e.to_string()))
}

fn list(raw: &Bytes) -> Res<Vec<Array2<f64>>> {
    let l: Vec<BlockBuf> = decode_value(raw).map_err(|e| e.to_string())?;
    l.iter().map(|b| mat(b.decode()?)).collect()
}

fn back_substitute(r: &Array2<f64>, k: usize) -> Res<Array2<f64>> {
    if r.nrows() < k {
        return Err(format!("lstsq needs at least {k} rows, has {}", r.nrows()));
    }
    let m = r.ncols() - k;
    let mut x = Array2::<f64>::zeros((k, m));
    let scale = (0..k).map(|i| r[[i, i]].abs()).fold(0.0, f64::max);
    for c in 0..m {
        for i in (0..k).rev() {
            let d = r[[i, i]];
            if d.abs() <= scale * 1e-12 || d == 0.0 {
                return Err("matrix is rank deficient".into());
            }
            let s: f64 = (i + 1..k).map(|j| r[[i, j]] * x[[j, c]]).sum();
            x[[i, c]] = (r[[i, k + c]] - s) / d;
        }
    }
    Ok(x)
}

/// Runs a [`QrStep`] (`args[0]`).
pub fn run_qr(args: &[Bytes]) -> InvokeResult {
    let (step, inputs): (QrStep, _) = spec(args)?;
    let last = |l: &mut Vec<Array2<f64>>| l.pop().ok_or_else(|| bad_args("empty factor list"));
    match step {
        QrStep::Leaf { a, b, keep_q } => {
            let mut m = mat(a.eval(inputs).map_err(failed)?).map_err(failed)?;
            if let Some(b) = b {
                let mut bm = b.eval(inputs).map_err(failed)?;
                if bm.shape().len() == 1 {
                    bm = crate::with_block!(bm, x => Block::from_array(x.insert_axis(Axis(1))));
                }
                let bm = mat(bm).map_err(failed)?;
                m = ndarray::concatenate(Axis(1), &[m.view(), bm.view()])
                    .map_err(|e| failed(e.to_string()))?;
            }
            let (q, r) = householder(m.view(), keep_q);
            out(q.into_iter().chain([r]).collect())
        }
        QrStep::Stack { keep_q } => {
            let mut rs = Vec::new();
            for raw in inputs {
                let mut l = list(raw).map_err(failed)?;
                rs.push(last(&mut l)?);
            }
            let views: Vec<_> = rs.iter().map(|r| r.view()).collect();
            let stacked =
                ndarray::concatenate(Axis(0), &views).map_err(|e| failed(e.to_string()))?;
            let (q, r) = householder(stacked.view(), keep_q);
            out(q.into_iter().chain([r]).collect())
        }
        QrStep::R => {
            let mut l =
                list(inputs.first().ok_or_else(|| bad_args("no input"))?).map_err(failed)?;
            Ok(Block::F64(last(&mut l)?.into_dyn()).encode())
        }
        QrStep::Solve { k, vector } => {
            let mut l =
                list(inputs.first().ok_or_else(|| bad_args("no input"))?).map_err(failed)?;
            let x = back_substitute(&last(&mut l)?, k).map_err(failed)?;
            let x = x.into_dyn();
            let x = if vector {
                x.index_axis_move(Axis(1), 0)
            } else {
                x
            };
            Ok(Block::F64(x).encode())
        }
        QrStep::QBlock { row0, rows } => {
            let (Some(leaf), Some(stack)) = (inputs.first(), inputs.get(1)) else {
                return Err(bad_args("QBlock needs the leaf and the stack"));
            };
            let leaf = list(leaf).map_err(failed)?;
            let stack = list(stack).map_err(failed)?;
            let (q1, q2) = (leaf.first(), stack.first());
            let (Some(q1), Some(q2)) = (q1, q2) else {
                return Err(bad_args("factors without Q"));
            };
            let q = q1.dot(&q2.slice(s![row0..row0 + rows, ..]));
            Ok(Block::F64(q.into_dyn()).encode())
        }
    }
}

fn column_block(a: &Array<f64>) -> Result<Array<f64>> {
    if a.ndim() != 2 {
        return Err(Error::Invalid(format!(
            "expected a 2-d array, got shape {:?}",
            a.shape
        )));
    }
    if a.chunks[1].len() == 1 {
        return Ok(a.clone());
    }
    a.rechunk(vec![a.chunks[0].clone(), vec![a.shape[1]]])
}

fn step(graph: &mut Graph, step: &QrStep, inputs: Vec<Key>, prefix: &str) -> Result<Key> {
    let spec = Arg::Value(encode_value(step)?);
    Ok(graph.insert(Task::new(prefix, QR, Lazy::args(spec, inputs))))
}

/// Least-squares solution `x` of `a x ≈ b` (`a`: `n × k` tall and skinny, chunked by rows;
/// `b`: `n` or `n × m`), through a TSQR tree of `[a | b]`. Fails on rank-deficient `a`.
pub fn lstsq(a: &Array<f64>, b: &Array<f64>) -> Result<Array<f64>> {
    let a = column_block(a)?;
    if b.ndim() == 0 || b.ndim() > 2 || b.shape[0] != a.shape[0] {
        return Err(Error::Invalid(format!(
            "lstsq: b of shape {:?} for a of {:?}",
            b.shape, a.shape
        )));
    }
    let mut want = vec![a.chunks[0].clone()];
    if b.ndim() == 2 {
        want.push(vec![b.shape[1]]);
    }
    let b = b.rechunk(want)?;
    let mut graph = a.graph.clone();
    graph.merge(&b.graph);
    let mut level = Vec::new();
    for (ka, kb) in a.keys.iter().zip(&b.keys) {
        let (mut e, inputs) = Lazy::join(vec![Lazy::of(&a.graph, ka), Lazy::of(&b.graph, kb)]);
        let eb = e.pop();
        let ea = e.pop().unwrap_or(Expr::Input(0));
        let leaf = QrStep::Leaf {
            a: ea,
            b: eb,
            keep_q: false,
        };
        level.push(step(&mut graph, &leaf, inputs, "lstsq-leaf")?);
    }
    let every = a.split_every.max(2);
    while level.len() > 1 {
        let mut next = Vec::new();
        for group in level.chunks(every) {
            next.push(step(
                &mut graph,
                &QrStep::Stack { keep_q: false },
                group.to_vec(),
                "lstsq-stack",
            )?);
        }
        level = next;
    }
    let k = a.shape[1];
    let solve = QrStep::Solve {
        k,
        vector: b.ndim() == 1,
    };
    let key = step(&mut graph, &solve, level, "lstsq")?;
    let (shape, chunks) = if b.ndim() == 1 {
        (vec![k], vec![vec![k]])
    } else {
        (vec![k, b.shape[1]], vec![vec![k], vec![b.shape[1]]])
    };
    Ok(Array::from_parts(graph, shape, chunks, vec![key]))
}

/// Tall-and-skinny QR of `a` (`n × k` with `n ≥ k`, chunked by rows; column chunks are
/// merged first): `Q` (`n × k`, chunked like `a`) and `R` (`k × k`), with `a = Q R`.
pub fn tsqr(a: &Array<f64>) -> Result<(Array<f64>, Array<f64>)> {
    let a = column_block(a)?;
    let k = a.shape[1];
    if a.shape[0] < k {
        return Err(Error::Invalid(format!(
            "tsqr needs at least as many rows as columns, shape is {:?}",
            a.shape
        )));
    }
    let mut graph = a.graph.clone();
    let mut leaves = Vec::new();
    for key in &a.keys {
        let l = Lazy::of(&a.graph, key);
        let leaf = QrStep::Leaf {
            a: l.expr,
            b: None,
            keep_q: true,
        };
        leaves.push(step(&mut graph, &leaf, l.inputs, "tsqr-leaf")?);
    }
    let stack = step(
        &mut graph,
        &QrStep::Stack { keep_q: true },
        leaves.clone(),
        "tsqr-stack",
    )?;
    let r = step(&mut graph, &QrStep::R, vec![stack.clone()], "tsqr-r")?;
    let mut qkeys = Vec::new();
    let mut row0 = 0;
    for (leaf, rows) in leaves.iter().zip(&a.chunks[0]) {
        // Each leaf's R has min(rows, k) rows in the stack.
        let rows = (*rows).min(k);
        let qb = QrStep::QBlock { row0, rows };
        row0 += rows;
        qkeys.push(step(
            &mut graph,
            &qb,
            vec![leaf.clone(), stack.clone()],
            "tsqr-q",
        )?);
    }
    let q = Array::from_parts(
        graph.clone(),
        a.shape.clone(),
        vec![a.chunks[0].clone(), vec![k]],
        qkeys,
    );
    let r = Array::from_parts(graph, vec![k, k], vec![vec![k], vec![k]], vec![r]);
    Ok((q, r))
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::array;

    #[test]
    fn householder_factorises_and_back_substitution_solves() {
        let a = array![[2.0, -1.0], [1.0, 3.0], [0.5, 0.25], [-4.0, 1.0]];
        let (q, r) = householder(a.view(), true);
        let q = q.unwrap();
        let back = q.dot(&r);
        assert!((&back - &a).iter().all(|d| d.abs() < 1e-12));
        let qtq = q.t().dot(&q);
        assert!((&qtq - &Array2::<f64>::eye(2))
            .iter()
            .all(|d| d.abs() < 1e-12));
        assert_eq!(r[[1, 0]], 0.0);
        // x = (1, -2) exactly: b = a x.
        let b = a.dot(&array![1.0, -2.0]);
        let aug =
            ndarray::concatenate(Axis(1), &[a.view(), b.insert_axis(Axis(1)).view()]).unwrap();
        let (_, r) = householder(aug.view(), false);
        let x = back_substitute(&r, 2).unwrap();
        assert!((x[[0, 0]] - 1.0).abs() < 1e-12 && (x[[1, 0]] + 2.0).abs() < 1e-12);
        let singular = array![[1.0, 2.0, 3.0], [2.0, 4.0, 6.0]];
        let (_, r) = householder(singular.view(), false);
        assert!(back_substitute(&r, 2).is_err());
    }
}
