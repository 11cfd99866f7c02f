//! Sums straight from encoded `f64` blocks: the partials of `sum` and `mean` over inputs,
//! their transposes, negations and sums/differences of equal shapes read the received bytes
//! once, without decoding a block, materialising `x + xᵀ` or allocating anything but the
//! result.
//!
//! ```text
//!  sum over axis 0 of Add(Input 0, Transpose(Input 1)):
//!    bytes of input 0 ──row by row──▶ acc[j] += x[i, j]      (one pass, no copy)
//!    bytes of input 1 ──row by row──▶ acc[i] += y[i, j]      (axis 1 of the untransposed y)
//! ```
//!
//! Anything else (other dtypes, broadcasting, other operations) is not handled here
//! ([`fast_sum`] returns `None`) and goes through [`Expr::eval`].

use super::block::RawBlock;
use super::dtype::DType;
use super::expr::Expr;
use super::lazy::Lazy;
use super::ops::{BinaryOp, UnaryOp};
use bytes::Bytes;
use ndarray::{ArrayD, IxDyn, Zip};
use std::cell::RefCell;

/// The `f64` in 8 little-endian bytes.
pub(crate) fn le(c: &[u8]) -> f64 {
    let mut raw = [0u8; 8];
    raw.copy_from_slice(c);
    f64::from_le_bytes(raw)
}

/// The sum of every element (eight interleaved accumulators, so the loop vectorises).
fn sum_all(data: &[u8]) -> f64 {
    let mut acc = [0.0f64; 8];
    let mut blocks = data.chunks_exact(64);
    for b in &mut blocks {
        for (k, a) in acc.iter_mut().enumerate() {
            *a += le(&b[8 * k..8 * k + 8]);
        }
    }
    let tail: f64 = blocks.remainder().chunks_exact(8).map(le).sum();
    acc.iter().sum::<f64>() + tail
}

/// Sums along `axis` of a row-major block of `shape`, keeping the axis (length 1).
fn sum_axis(data: &[u8], shape: &[usize], axis: usize) -> ArrayD<f64> {
    let outer: usize = shape[..axis].iter().product();
    let n = shape[axis];
    let inner: usize = shape[axis + 1..].iter().product();
    let mut out = vec![0.0f64; outer * inner];
    if inner == 1 {
        for (o, acc) in out.iter_mut().enumerate() {
            *acc = sum_all(&data[o * n * 8..(o + 1) * n * 8]);
        }
    } else {
        for (o, accs) in out.chunks_exact_mut(inner.max(1)).enumerate() {
            for k in 0..n {
                let row = &data[(o * n + k) * inner * 8..(o * n + k + 1) * inner * 8];
                for (a, c) in accs.iter_mut().zip(row.chunks_exact(8)) {
                    *a += le(c);
                }
            }
        }
    }
    let mut kept = shape.to_vec();
    kept[axis] = 1;
    ArrayD::from_shape_vec(IxDyn(&kept), out).unwrap_or_else(|_| ArrayD::zeros(IxDyn(&kept)))
}

/// The shape `expr` evaluates to, when [`fast_sum`] can handle it.
fn shape_of(expr: &Expr, inputs: &[Bytes]) -> Option<Vec<usize>> {
    match expr {
        Expr::Input(i) => {
            let raw = RawBlock::parse_wire(inputs.get(*i as usize)?).ok()??;
            (raw.dtype == DType::F64).then(|| raw.shape().to_vec())
        }
        Expr::Transpose(perm, a) => {
            let s = shape_of(a, inputs)?;
            (perm.len() == s.len() && perm.iter().all(|p| *p < s.len()))
                .then(|| perm.iter().map(|p| s[*p]).collect())
        }
        Expr::Unary(UnaryOp::Neg, a) => shape_of(a, inputs),
        Expr::Binary(BinaryOp::Add | BinaryOp::Sub, a, b) => {
            let (sa, sb) = (shape_of(a, inputs)?, shape_of(b, inputs)?);
            (sa == sb).then_some(sa)
        }
        _ => None,
    }
}

/// The number of elements of `expr` and its sum along `axis` (or over everything), axes
/// kept, from the encoded `inputs` without decoding them; `None` when the expression is not
/// of the handled kind.
pub fn fast_sum(
    expr: &Expr,
    inputs: &[Bytes],
    axis: Option<usize>,
) -> Option<(usize, ArrayD<f64>)> {
    let shape = shape_of(expr, inputs)?;
    if axis.is_some_and(|a| a >= shape.len()) {
        return None;
    }
    Some((shape.iter().product(), sum_checked(expr, inputs, axis)?))
}

fn sum_checked(expr: &Expr, inputs: &[Bytes], axis: Option<usize>) -> Option<ArrayD<f64>> {
    match expr {
        Expr::Input(i) => {
            let raw = RawBlock::parse_wire(inputs.get(*i as usize)?).ok()??;
            let shape = raw.shape();
            Some(match axis {
                Some(ax) => sum_axis(raw.data, shape, ax),
                None => ArrayD::from_elem(IxDyn(&vec![1; shape.len()]), sum_all(raw.data)),
            })
        }
        Expr::Transpose(perm, a) => {
            let inner = sum_checked(a, inputs, axis.map(|ax| perm[ax]))?;
            Some(inner.permuted_axes(perm.clone()))
        }
        Expr::Unary(UnaryOp::Neg, a) => Some(-sum_checked(a, inputs, axis)?),
        Expr::Binary(op @ (BinaryOp::Add | BinaryOp::Sub), a, b) => {
            let mut x = sum_checked(a, inputs, axis)?;
            let y = sum_checked(b, inputs, axis)?;
            let sub = *op == BinaryOp::Sub;
            Zip::from(&mut x)
                .and(&y)
                .for_each(|x, y| *x = if sub { *x - *y } else { *x + *y });
            Some(x)
        }
        _ => None,
    }
}

fn flatten(e: Expr, negate: bool, out: &mut Vec<Expr>) {
    match e {
        Expr::Binary(BinaryOp::Add, a, b) => {
            flatten(*a, negate, out);
            flatten(*b, negate, out);
        }
        Expr::Binary(BinaryOp::Sub, a, b) => {
            flatten(*a, negate, out);
            flatten(*b, !negate, out);
        }
        Expr::Unary(UnaryOp::Neg, a) => flatten(*a, !negate, out),
        e if negate => out.push(Expr::Unary(UnaryOp::Neg, Box::new(e))),
        e => out.push(e),
    }
}

/// The inputs `e` reads, in order of first use.
fn used_inputs(e: &Expr) -> Vec<u32> {
    let seen = RefCell::new(Vec::new());
    let _ = e.clone().remap(&|i| {
        let mut s = seen.borrow_mut();
        if !s.contains(&i) {
            s.push(i);
        }
        i
    });
    seen.into_inner()
}

/// A block of an `f64` sum over all axes written as its terms: `a ± b ± …` (with
/// negations) becomes one lazy term per summand over only the inputs it reads, so each term's
/// partial runs where its input lives and `x + xᵀ` moves no block between workers. `None`
/// when there is one term or every term reads the same inputs (nothing to gain).
pub fn split_sum_terms(block: &Lazy) -> Option<Vec<Lazy>> {
    let mut terms = Vec::new();
    flatten(block.expr.clone(), false, &mut terms);
    if terms.len() < 2 {
        return None;
    }
    let mut parts = Vec::with_capacity(terms.len());
    let mut sets = Vec::with_capacity(terms.len());
    for t in terms {
        let mut used = used_inputs(&t);
        used.sort_unstable();
        let keys: Vec<_> = used
            .iter()
            .map(|i| block.inputs.get(*i as usize).cloned())
            .collect::<Option<Vec<_>>>()?;
        let expr = t.remap(&|i| used.iter().position(|u| *u == i).unwrap_or(0) as u32);
        sets.push(keys.clone());
        parts.push(Lazy { expr, inputs: keys });
    }
    sets.sort();
    sets.dedup();
    (sets.len() > 1).then_some(parts)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::array::block::Block;
    use ndarray::Axis;

    #[test]
    fn fast_sums_match_evaluated_sums() {
        let x = ArrayD::from_shape_fn(IxDyn(&[5, 7, 3]), |i| {
            (i[0] * 31 + i[1] * 7 + i[2]) as f64 / 9.0 - 2.0
        });
        let y = x.mapv(|v| v * v - 1.0);
        let raw = [
            Block::F64(x.clone()).encode(),
            Block::F64(y.clone()).encode(),
        ];
        let e = Expr::Binary(
            BinaryOp::Sub,
            Box::new(Expr::Input(0)),
            Box::new(Expr::Unary(UnaryOp::Neg, Box::new(Expr::Input(1)))),
        );
        let want = &x + &y;
        for axis in [None, Some(0), Some(1), Some(2)] {
            let (n, got) = fast_sum(&e, &raw, axis).expect("handled");
            assert_eq!(n, 105);
            let w = match axis {
                Some(a) => want.sum_axis(Axis(a)).insert_axis(Axis(a)),
                None => ArrayD::from_elem(IxDyn(&[1, 1, 1]), want.sum()),
            };
            assert_eq!(got.shape(), w.shape());
            for (g, w) in got.iter().zip(&w) {
                assert!(
                    (g - w).abs() < 1e-9 * w.abs().max(1.0),
                    "{axis:?}: {g} vs {w}"
                );
            }
        }
        // x + xᵀ of a square block, along each axis.
        let sq = ArrayD::from_shape_fn(IxDyn(&[4, 4]), |i| (i[0] * 10 + i[1]) as f64);
        let raw = [Block::F64(sq.clone()).encode()];
        let e = Expr::Binary(
            BinaryOp::Add,
            Box::new(Expr::Input(0)),
            Box::new(Expr::Transpose(vec![1, 0], Box::new(Expr::Input(0)))),
        );
        let want = &sq + &sq.t();
        for a in 0..2 {
            let got = fast_sum(&e, &raw, Some(a)).expect("handled").1;
            assert_eq!(got, want.sum_axis(Axis(a)).insert_axis(Axis(a)));
        }
        // Broadcasting, other dtypes and other operations are left to the evaluator.
        let row = [
            Block::F64(sq.clone()).encode(),
            Block::F64(ArrayD::zeros(IxDyn(&[1, 4]))).encode(),
        ];
        let bcast = Expr::Binary(
            BinaryOp::Add,
            Box::new(Expr::Input(0)),
            Box::new(Expr::Input(1)),
        );
        assert!(fast_sum(&bcast, &row, None).is_none());
        let ints = [Block::I64(ArrayD::zeros(IxDyn(&[2]))).encode()];
        assert!(fast_sum(&Expr::Input(0), &ints, None).is_none());
        let mul = Expr::Binary(
            BinaryOp::Mul,
            Box::new(Expr::Input(0)),
            Box::new(Expr::Input(0)),
        );
        assert!(fast_sum(&mul, &raw, None).is_none());
        assert!(fast_sum(&Expr::Input(0), &raw, Some(2)).is_none());
    }
}
