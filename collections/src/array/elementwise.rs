//! Element-wise operations: arithmetic and comparisons between arrays (numpy broadcasting
//! over the block grid, chunks unified by rechunking) or with scalars, `where`, unary math,
//! casts and `map_blocks` with registered functions.

use super::block::Chunk;
use super::chunks::grid_indices;
use super::create::scalar;
use super::dtype::{DType, Element, Float, Numeric};
use super::expr::{Expr, Scalar};
use super::lazy::Lazy;
use super::ops::{broadcast_shape, BinaryOp, UnaryOp};
use super::rechunk::{rechunk_parts, Parts};
use super::Array;
use crate::graph::Graph;
use crate::{Error, Result};
use rask_actors::worker::registry::TaskFunction;

/// An operand of an element-wise operation: an array or a scalar.
pub enum Operand<T> {
    /// A chunked array.
    Array(Array<T>),
    /// A scalar, broadcast to every element.
    Scalar(T),
}

/// What element-wise operations accept as an operand: `&Array<T>`, `Array<T>` or a `T`.
pub trait IntoOperand<T> {
    /// The operand.
    fn into_operand(self) -> Operand<T>;
}

impl<T> IntoOperand<T> for &Array<T> {
    fn into_operand(self) -> Operand<T> {
        Operand::Array(self.clone())
    }
}
impl<T> IntoOperand<T> for Array<T> {
    fn into_operand(self) -> Operand<T> {
        Operand::Array(self)
    }
}
macro_rules! scalar_operand {
    ($($t:ty),*) => {$(
        impl IntoOperand<$t> for $t {
            fn into_operand(self) -> Operand<$t> {
                Operand::Scalar(self)
            }
        }
    )*};
}
scalar_operand!(f64, f32, i64, i32, bool);

/// An untyped operand.
pub(crate) enum Term {
    Arr(Parts),
    Scalar(Scalar),
}

impl<T: Element> Operand<T> {
    pub(crate) fn term(self) -> Term {
        match self {
            Operand::Array(a) => Term::Arr(a.parts()),
            Operand::Scalar(v) => Term::Scalar(scalar(v)),
        }
    }
}

/// Broadcasts `terms` against each other over the block grid and makes each output block
/// `f(operand expressions)`.
pub(crate) fn broadcast_terms<U: Element>(
    terms: Vec<Term>,
    prefix: &str,
    f: impl Fn(Vec<Expr>) -> Expr,
) -> Result<Array<U>> {
    let mut shape: Vec<usize> = Vec::new();
    for t in &terms {
        if let Term::Arr(p) = t {
            shape = broadcast_shape(&shape, &p.shape).map_err(Error::Invalid)?;
        }
    }
    let n = shape.len();
    // Output chunks: from the first operand spanning each axis fully.
    let mut chunks: Vec<Vec<usize>> = shape.iter().map(|d| vec![*d]).collect();
    for (d, c) in chunks.iter_mut().enumerate() {
        for t in &terms {
            if let Term::Arr(p) = t {
                let k = p.shape.len();
                if d + k >= n && p.shape[d + k - n] == shape[d] && shape[d] != 1 {
                    *c = p.chunks[d + k - n].clone();
                    break;
                }
            }
        }
    }
    let mut graph = Graph::new();
    let mut parts = Vec::with_capacity(terms.len());
    for t in terms {
        parts.push(match t {
            Term::Arr(p) => {
                let k = p.shape.len();
                let want: Vec<Vec<usize>> = (0..k)
                    .map(|i| {
                        if p.shape[i] == shape[i + n - k] {
                            chunks[i + n - k].clone()
                        } else {
                            p.chunks[i].clone()
                        }
                    })
                    .collect();
                let p = if want == p.chunks {
                    p
                } else {
                    rechunk_parts(&p, want)?
                };
                graph.merge(&p.graph);
                Term::Arr(p)
            }
            s => s,
        });
    }
    let grid: Vec<usize> = chunks.iter().map(Vec::len).collect();
    let blocks = grid_indices(&grid)
        .into_iter()
        .map(|ix| {
            let lazies: Vec<Lazy> = parts
                .iter()
                .map(|t| match t {
                    Term::Arr(p) => {
                        let k = p.shape.len();
                        let pix: Vec<usize> = (0..k)
                            .map(|i| {
                                if p.chunks[i].len() == 1 {
                                    0
                                } else {
                                    ix[i + n - k]
                                }
                            })
                            .collect();
                        Lazy::of(&graph, &p.keys[p.flat(&pix)])
                    }
                    Term::Scalar(s) => Lazy::source(Expr::Scalar(*s)),
                })
                .collect();
            let (exprs, inputs) = Lazy::join(lazies);
            Lazy {
                expr: f(exprs),
                inputs,
            }
        })
        .collect();
    Array::from_lazy(graph, shape, chunks, blocks, prefix)
}

fn binary<T: Element, U: Element>(
    a: &Array<T>,
    op: BinaryOp,
    b: impl IntoOperand<T>,
    prefix: &str,
) -> Result<Array<U>> {
    let terms = vec![Term::Arr(a.parts()), b.into_operand().term()];
    let mut out: Array<U> = broadcast_terms(terms, prefix, |mut e| {
        let y = e.pop().unwrap_or(Expr::Scalar(Scalar::Bool(false)));
        let x = e.pop().unwrap_or(Expr::Scalar(Scalar::Bool(false)));
        Expr::Binary(op, Box::new(x), Box::new(y))
    })?;
    out.split_every = a.split_every;
    Ok(out)
}

/// `where(cond, a, b)`: elements of `a` where `cond` is true, else of `b`, broadcasting all
/// three (like `numpy.where`).
pub fn where_<T: Element>(
    cond: &Array<bool>,
    a: impl IntoOperand<T>,
    b: impl IntoOperand<T>,
) -> Result<Array<T>> {
    let terms = vec![
        Term::Arr(cond.parts()),
        a.into_operand().term(),
        b.into_operand().term(),
    ];
    broadcast_terms(terms, "where", |mut e| {
        let z = Box::new(e.pop().unwrap_or(Expr::Scalar(Scalar::Bool(false))));
        let y = Box::new(e.pop().unwrap_or(Expr::Scalar(Scalar::Bool(false))));
        let x = Box::new(e.pop().unwrap_or(Expr::Scalar(Scalar::Bool(false))));
        Expr::Where(x, y, z)
    })
}

macro_rules! binary_methods {
    ($bound:ident => $out:ty; $($(#[$m:meta])* $name:ident $op:ident;)*) => {
        impl<T: $bound> Array<T> {
            $(
                $(#[$m])*
                pub fn $name(&self, other: impl IntoOperand<T>) -> Result<Array<$out>> {
                    binary(self, BinaryOp::$op, other, stringify!($name))
                }
            )*
        }
    };
}

binary_methods! { Numeric => T;
    /// `self + other`, broadcasting.
    add Add;
    /// `self - other`, broadcasting.
    sub Sub;
    /// `self * other`, broadcasting.
    mul Mul;
    /// `self / other`, broadcasting (integers truncate; by zero gives 0).
    div Div;
    /// `self % other`, broadcasting.
    rem Rem;
    /// `self ** other`, broadcasting.
    pow Pow;
    /// Element-wise larger value (NaN wins), broadcasting.
    maximum Maximum;
    /// Element-wise smaller value (NaN wins), broadcasting.
    minimum Minimum;
}

binary_methods! { Element => bool;
    /// `self == other` element-wise.
    eq Eq;
    /// `self != other` element-wise.
    ne Ne;
    /// `self < other` element-wise.
    lt Lt;
    /// `self <= other` element-wise.
    le Le;
    /// `self > other` element-wise.
    gt Gt;
    /// `self >= other` element-wise.
    ge Ge;
}

impl Array<bool> {
    /// Logical and.
    pub fn and(&self, other: impl IntoOperand<bool>) -> Result<Array<bool>> {
        binary(self, BinaryOp::And, other, "and")
    }
    /// Logical or.
    pub fn or(&self, other: impl IntoOperand<bool>) -> Result<Array<bool>> {
        binary(self, BinaryOp::Or, other, "or")
    }
    /// Logical exclusive or.
    pub fn xor(&self, other: impl IntoOperand<bool>) -> Result<Array<bool>> {
        binary(self, BinaryOp::Xor, other, "xor")
    }
    /// Logical not.
    pub fn not(&self) -> Result<Array<bool>> {
        self.unary(UnaryOp::Not, "not")
    }
}

impl<T: Element> Array<T> {
    fn unary<U: Element>(&self, op: UnaryOp, prefix: &str) -> Result<Array<U>> {
        self.blockwise(prefix, |b, _| b.map(|e| Expr::Unary(op, e)))
    }

    /// The array converted to `U` (numpy's `astype`: floats truncate to integers, non-zero
    /// is `true`).
    pub fn astype<U: Element>(&self) -> Result<Array<U>> {
        if T::DTYPE == U::DTYPE {
            return Ok(self.retype());
        }
        self.blockwise("astype", |b, _| b.map(|e| Expr::AsType(U::DTYPE, e)))
    }

    /// Whether each element is NaN.
    pub fn is_nan(&self) -> Result<Array<bool>> {
        self.unary(UnaryOp::IsNan, "isnan")
    }

    /// Applies a registered function to every block; blocks keep their shapes.
    pub fn map_blocks<U: Element, F>(&self, f: F) -> Result<Array<U>>
    where
        F: TaskFunction<Params = (Chunk<T>,), Output = Chunk<U>>,
    {
        self.map_blocks_to(f, self.chunks.clone())
    }

    /// Applies a registered function to every block, which gives blocks cut as `chunks`
    /// (one entry per axis of the result, with as many chunks as this array has blocks).
    pub fn map_blocks_to<U: Element, F>(&self, _f: F, chunks: Vec<Vec<usize>>) -> Result<Array<U>>
    where
        F: TaskFunction<Params = (Chunk<T>,), Output = Chunk<U>>,
    {
        if chunks.iter().map(Vec::len).collect::<Vec<_>>() != self.numblocks() {
            return Err(Error::Invalid(format!(
                "map_blocks_to: chunks {chunks:?} do not match the block grid {:?}",
                self.numblocks()
            )));
        }
        let name = F::NAME.to_string();
        let prefix = F::NAME.rsplit("::").next().unwrap_or(F::NAME).to_string();
        let mut out: Array<U> =
            self.blockwise(&prefix, |b, _| b.map(|e| Expr::Map(name.clone(), e)))?;
        out.shape = chunks.iter().map(|c| c.iter().sum()).collect();
        out.chunks = chunks;
        Ok(out)
    }
}

impl<T: Numeric> Array<T> {
    /// `-self`.
    pub fn neg(&self) -> Result<Array<T>> {
        self.unary(UnaryOp::Neg, "neg")
    }
    /// `|self|`.
    pub fn abs(&self) -> Result<Array<T>> {
        self.unary(UnaryOp::Abs, "abs")
    }
}

macro_rules! float_methods {
    ($($(#[$m:meta])* $name:ident $op:ident;)*) => {
        impl<T: Float> Array<T> {
            $(
                $(#[$m])*
                pub fn $name(&self) -> Result<Array<T>> {
                    self.unary(UnaryOp::$op, stringify!($name))
                }
            )*
        }
    };
}

float_methods! {
    /// Square root.
    sqrt Sqrt;
    /// `e^x`.
    exp Exp;
    /// Natural logarithm.
    ln Ln;
    /// Sine.
    sin Sin;
    /// Cosine.
    cos Cos;
    /// Hyperbolic tangent.
    tanh Tanh;
    /// Round down.
    floor Floor;
    /// Round up.
    ceil Ceil;
}

/// The dtype of elements compared by `op` (for documentation and checks).
pub fn result_dtype(op: BinaryOp, operand: DType) -> DType {
    if op.is_comparison() || op.is_logical() {
        DType::Bool
    } else {
        operand
    }
}
