//! Element-wise kernels on blocks: binary operations with numpy broadcasting, unary math,
//! `where`, and the dtype promotion used when operands differ.

use super::block::Block;
use super::dtype::{DType, Element, Numeric};
use crate::{with_block, with_numeric};
use ndarray::{ArrayD, IxDyn, Zip};
use serde::{Deserialize, Serialize};

/// A binary element-wise operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum BinaryOp {
    /// `a + b`.
    Add,
    /// `a - b`.
    Sub,
    /// `a * b`.
    Mul,
    /// `a / b` (integers truncate; by zero gives 0).
    Div,
    /// `a % b`.
    Rem,
    /// `a ** b`.
    Pow,
    /// Larger of the two (NaN wins, like `numpy.maximum`).
    Maximum,
    /// Smaller of the two (NaN wins, like `numpy.minimum`).
    Minimum,
    /// `a == b` (gives `bool`).
    Eq,
    /// `a != b`.
    Ne,
    /// `a < b`.
    Lt,
    /// `a <= b`.
    Le,
    /// `a > b`.
    Gt,
    /// `a >= b`.
    Ge,
    /// Logical and (`bool` only).
    And,
    /// Logical or (`bool` only).
    Or,
    /// Logical exclusive or (`bool` only).
    Xor,
}

impl BinaryOp {
    /// Whether the result is `bool` whatever the operands.
    pub fn is_comparison(self) -> bool {
        use BinaryOp::*;
        matches!(self, Eq | Ne | Lt | Le | Gt | Ge)
    }

    /// Whether the operands must be `bool`.
    pub fn is_logical(self) -> bool {
        matches!(self, BinaryOp::And | BinaryOp::Or | BinaryOp::Xor)
    }
}

/// A unary element-wise operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum UnaryOp {
    /// `-x`.
    Neg,
    /// `|x|`.
    Abs,
    /// Square root (integers are converted to `f64` first).
    Sqrt,
    /// `e^x`.
    Exp,
    /// Natural logarithm.
    Ln,
    /// Sine.
    Sin,
    /// Cosine.
    Cos,
    /// Hyperbolic tangent.
    Tanh,
    /// Round down.
    Floor,
    /// Round up.
    Ceil,
    /// Logical not (`bool` only).
    Not,
    /// Whether each element is NaN (gives `bool`).
    IsNan,
}

/// The common dtype of two operands (numpy's rules for these five types).
pub fn promote(a: DType, b: DType) -> DType {
    use DType::*;
    if a == b {
        return a;
    }
    match (a, b) {
        (F64, _) | (_, F64) => F64,
        (F32, I64) | (I64, F32) => F64,
        (F32, _) | (_, F32) => F32,
        (I64, _) | (_, I64) => I64,
        (I32, _) | (_, I32) => I32,
        _ => Bool,
    }
}

/// numpy's broadcast shape of two shapes, or an error naming both.
pub fn broadcast_shape(a: &[usize], b: &[usize]) -> Result<Vec<usize>, String> {
    let n = a.len().max(b.len());
    let mut out = vec![0; n];
    for i in 0..n {
        let da = if i + a.len() >= n {
            a[i + a.len() - n]
        } else {
            1
        };
        let db = if i + b.len() >= n {
            b[i + b.len() - n]
        } else {
            1
        };
        out[i] = match (da, db) {
            (x, y) if x == y => x,
            (1, y) => y,
            (x, 1) => x,
            _ => return Err(format!("shapes {a:?} and {b:?} do not broadcast")),
        };
    }
    Ok(out)
}

fn zip2<A: Element, B: Element, R>(
    a: &ArrayD<A>,
    b: &ArrayD<B>,
    f: impl Fn(A, B) -> R,
) -> Result<ArrayD<R>, String> {
    let shape = broadcast_shape(a.shape(), b.shape())?;
    let av = a.broadcast(IxDyn(&shape)).ok_or("broadcast failed")?;
    let bv = b.broadcast(IxDyn(&shape)).ok_or("broadcast failed")?;
    Ok(Zip::from(&av).and(&bv).map_collect(|x, y| f(*x, *y)))
}

fn nan_max<T: Element>(a: T, b: T) -> T {
    if a.is_nan() {
        a
    } else if b.is_nan() || b > a {
        b
    } else {
        a
    }
}

fn nan_min<T: Element>(a: T, b: T) -> T {
    if a.is_nan() {
        a
    } else if b.is_nan() || b < a {
        b
    } else {
        a
    }
}

fn arith<T: Numeric>(op: BinaryOp, a: &ArrayD<T>, b: &ArrayD<T>) -> Result<Block, String> {
    use BinaryOp::*;
    let r = match op {
        Add => zip2(a, b, |x, y| x + y),
        Sub => zip2(a, b, |x, y| x - y),
        Mul => zip2(a, b, |x, y| x * y),
        Div => zip2(a, b, Numeric::div),
        Rem => zip2(a, b, Numeric::rem),
        Pow => zip2(a, b, Numeric::pow),
        Maximum => zip2(a, b, nan_max),
        Minimum => zip2(a, b, nan_min),
        _ => return Err(format!("{op:?} is not arithmetic")),
    }?;
    Ok(Block::from_array(r))
}

fn compare<T: Element>(op: BinaryOp, a: &ArrayD<T>, b: &ArrayD<T>) -> Result<ArrayD<bool>, String> {
    use BinaryOp::*;
    match op {
        Eq => zip2(a, b, |x, y| x == y),
        Ne => zip2(a, b, |x, y| x != y),
        Lt => zip2(a, b, |x, y| x < y),
        Le => zip2(a, b, |x, y| x <= y),
        Gt => zip2(a, b, |x, y| x > y),
        Ge => zip2(a, b, |x, y| x >= y),
        _ => Err(format!("{op:?} is not a comparison")),
    }
}

/// `op(a, b)` with broadcasting; operands of different dtypes are promoted first.
pub fn binary(op: BinaryOp, a: Block, b: Block) -> Result<Block, String> {
    let common = if op.is_logical() {
        DType::Bool
    } else {
        promote(a.dtype(), b.dtype())
    };
    let (a, b) = (a.astype(common), b.astype(common));
    if op.is_comparison() {
        return Ok(Block::Bool(match (&a, &b) {
            (Block::F64(x), Block::F64(y)) => compare(op, x, y)?,
            (Block::F32(x), Block::F32(y)) => compare(op, x, y)?,
            (Block::I64(x), Block::I64(y)) => compare(op, x, y)?,
            (Block::I32(x), Block::I32(y)) => compare(op, x, y)?,
            (Block::Bool(x), Block::Bool(y)) => compare(op, x, y)?,
            _ => return Err("operand dtypes differ after promotion".into()),
        }));
    }
    match (&a, &b) {
        (Block::Bool(x), Block::Bool(y)) => Ok(Block::Bool(match op {
            BinaryOp::And => zip2(x, y, |p, q| p & q)?,
            BinaryOp::Or => zip2(x, y, |p, q| p | q)?,
            BinaryOp::Xor => zip2(x, y, |p, q| p ^ q)?,
            _ => {
                let (x, y) = (a.astype(DType::I64), b.astype(DType::I64));
                return binary(op, x, y);
            }
        })),
        (Block::F64(x), Block::F64(y)) => arith(op, x, y),
        (Block::F32(x), Block::F32(y)) => arith(op, x, y),
        (Block::I64(x), Block::I64(y)) => arith(op, x, y),
        (Block::I32(x), Block::I32(y)) => arith(op, x, y),
        _ => Err("operand dtypes differ after promotion".into()),
    }
}

macro_rules! float_map {
    ($b:expr, |$x:ident| $e:expr) => {
        match $b {
            Block::F64(a) => Ok(Block::F64(a.mapv(|$x| $e))),
            Block::F32(a) => Ok(Block::F32(a.mapv(|$x| $e))),
            other => match other.astype(DType::F64) {
                Block::F64(a) => Ok(Block::F64(a.mapv(|$x| $e))),
                _ => Err(String::from("conversion to f64 failed")),
            },
        }
    };
}

/// `op(x)` element-wise. Float functions of integer blocks give `f64` blocks.
pub fn unary(op: UnaryOp, x: Block) -> Result<Block, String> {
    use UnaryOp::*;
    match op {
        Neg => with_numeric!(x, a => Ok(Block::from_array(a.mapv(Numeric::neg))),
            Err("cannot negate booleans (use not)".into())),
        Abs => with_numeric!(x, a => Ok(Block::from_array(a.mapv(Numeric::abs))),
            Ok(x)),
        Sqrt => float_map!(x, |v| v.sqrt()),
        Exp => float_map!(x, |v| v.exp()),
        Ln => float_map!(x, |v| v.ln()),
        Sin => float_map!(x, |v| v.sin()),
        Cos => float_map!(x, |v| v.cos()),
        Tanh => float_map!(x, |v| v.tanh()),
        Floor => float_map!(x, |v| v.floor()),
        Ceil => float_map!(x, |v| v.ceil()),
        Not => match x.astype(DType::Bool) {
            Block::Bool(a) => Ok(Block::Bool(a.mapv(|v| !v))),
            _ => Err("conversion to bool failed".into()),
        },
        IsNan => Ok(Block::Bool(with_block!(&x, a => a.mapv(Element::is_nan)))),
    }
}

/// `where(cond, a, b)` with broadcasting of all three.
pub fn select(cond: Block, a: Block, b: Block) -> Result<Block, String> {
    let cond = cond
        .into_array::<bool>()
        .ok_or("where's condition must be bool")?;
    let common = promote(a.dtype(), b.dtype());
    fn go<T: Element>(c: &ArrayD<bool>, a: &ArrayD<T>, b: &ArrayD<T>) -> Result<Block, String> {
        let shape = broadcast_shape(&broadcast_shape(c.shape(), a.shape())?, b.shape())?;
        let d = IxDyn(&shape);
        let (cv, av, bv) = (
            c.broadcast(d.clone()).ok_or("broadcast failed")?,
            a.broadcast(d.clone()).ok_or("broadcast failed")?,
            b.broadcast(d).ok_or("broadcast failed")?,
        );
        Ok(Block::from_array(
            Zip::from(&cv)
                .and(&av)
                .and(&bv)
                .map_collect(|c, x, y| if *c { *x } else { *y }),
        ))
    }
    match (a.astype(common), b.astype(common)) {
        (Block::F64(x), Block::F64(y)) => go(&cond, &x, &y),
        (Block::F32(x), Block::F32(y)) => go(&cond, &x, &y),
        (Block::I64(x), Block::I64(y)) => go(&cond, &x, &y),
        (Block::I32(x), Block::I32(y)) => go(&cond, &x, &y),
        (Block::Bool(x), Block::Bool(y)) => go(&cond, &x, &y),
        _ => Err("operand dtypes differ after promotion".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::{array, ArrayD};

    fn f(v: ArrayD<f64>) -> Block {
        Block::F64(v)
    }

    #[test]
    fn broadcasting_promotion_and_nan_rules() {
        let a = array![[1.0, 2.0], [3.0, 4.0]].into_dyn();
        let row = array![10.0, 20.0].into_dyn();
        let out = binary(BinaryOp::Add, f(a.clone()), f(row)).unwrap();
        assert_eq!(out, f(array![[11.0, 22.0], [13.0, 24.0]].into_dyn()));
        assert!(broadcast_shape(&[2, 3], &[2]).is_err());
        assert_eq!(broadcast_shape(&[4, 1, 3], &[5, 1]).unwrap(), [4, 5, 3]);
        let i = Block::I32(array![1, 2].into_dyn());
        let out = binary(
            BinaryOp::Mul,
            i.clone(),
            Block::F32(array![0.5f32].into_dyn()),
        )
        .unwrap();
        assert_eq!(out.dtype(), DType::F32);
        assert_eq!(promote(DType::I64, DType::F32), DType::F64);
        let lt = binary(
            BinaryOp::Lt,
            i,
            Block::I32(ArrayD::from_elem(IxDyn(&[]), 2)),
        )
        .unwrap();
        assert_eq!(lt, Block::Bool(array![true, false].into_dyn()));
        let m = binary(
            BinaryOp::Maximum,
            f(array![f64::NAN, 1.0].into_dyn()),
            f(array![0.0, 2.0].into_dyn()),
        )
        .unwrap();
        let m = m.into_array::<f64>().unwrap();
        assert!(m[0].is_nan() && m[1] == 2.0);
        let s = unary(UnaryOp::Sqrt, Block::I64(array![4, 9].into_dyn())).unwrap();
        assert_eq!(s, f(array![2.0, 3.0].into_dyn()));
        let w = select(
            Block::Bool(array![true, false].into_dyn()),
            f(a),
            Block::F64(ArrayD::from_elem(IxDyn(&[]), 0.0)),
        )
        .unwrap();
        assert_eq!(w, f(array![[1.0, 0.0], [3.0, 0.0]].into_dyn()));
    }
}
