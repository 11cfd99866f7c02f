//! A small expression type (`+ - * /` and `!` are operators on [`Expr`]) for `filter` and `with_column`: columns, literals, comparisons,
//! `and`/`or`/`not`, arithmetic, `is_null` and casts, evaluated with Arrow's compute kernels.
//!
//! ```
//! use rask_collections::dataframe::expr::{col, lit};
//! let e = col("v1").gt(lit(2)).and(col("id1").eq(lit("id001")).not());
//! assert_eq!(e.columns(), vec!["v1", "id1"]);
//! let score = col("v1") * lit(10) + col("v2") / lit(2);
//! ```
//!
//! Operands of different numeric types are compared and combined as `Int64` (both integers)
//! or `Float64`; `/` always divides as `Float64`, like pandas. Comparisons with null give
//! null, which `filter` treats as false.

use arrow_array::{
    Array, ArrayRef, BooleanArray, Float64Array, Int64Array, NullArray, RecordBatch, Scalar,
    StringArray,
};
use arrow_schema::{ArrowError, DataType};
use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// A literal value.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Lit {
    /// Null.
    Null,
    /// A boolean.
    Bool(bool),
    /// An integer (Int64).
    Int(i64),
    /// A float (Float64).
    Float(f64),
    /// A string (Utf8).
    Str(String),
}

macro_rules! lit_from {
    ($($t:ty => $v:ident as $c:ty),*) => {$(
        impl From<$t> for Lit {
            fn from(x: $t) -> Lit { Lit::$v(x as $c) }
        }
    )*};
}
lit_from!(i64 => Int as i64, i32 => Int as i64, u32 => Int as i64, f64 => Float as f64, f32 => Float as f64);

impl From<bool> for Lit {
    fn from(x: bool) -> Lit {
        Lit::Bool(x)
    }
}
impl From<&str> for Lit {
    fn from(x: &str) -> Lit {
        Lit::Str(x.to_string())
    }
}
impl From<String> for Lit {
    fn from(x: String) -> Lit {
        Lit::Str(x)
    }
}

impl Lit {
    /// The literal as a one-element array.
    pub fn to_array(&self) -> ArrayRef {
        match self {
            Lit::Null => Arc::new(NullArray::new(1)),
            Lit::Bool(b) => Arc::new(BooleanArray::from(vec![*b])),
            Lit::Int(i) => Arc::new(Int64Array::from(vec![*i])),
            Lit::Float(f) => Arc::new(Float64Array::from(vec![*f])),
            Lit::Str(s) => Arc::new(StringArray::from(vec![s.as_str()])),
        }
    }
}

/// Comparison operators.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum CmpOp {
    /// `==`
    Eq,
    /// `!=`
    NotEq,
    /// `<`
    Lt,
    /// `<=`
    LtEq,
    /// `>`
    Gt,
    /// `>=`
    GtEq,
}

impl CmpOp {
    /// The operator with its operands swapped (`a < b` ⇔ `b > a`).
    pub fn flip(self) -> CmpOp {
        match self {
            CmpOp::Lt => CmpOp::Gt,
            CmpOp::LtEq => CmpOp::GtEq,
            CmpOp::Gt => CmpOp::Lt,
            CmpOp::GtEq => CmpOp::LtEq,
            other => other,
        }
    }
}

/// Arithmetic operators.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ArithOp {
    /// `+`
    Add,
    /// `-`
    Sub,
    /// `*`
    Mul,
    /// `/` (always Float64)
    Div,
}

/// An expression over the columns of a batch.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Expr {
    /// A column by name.
    Col(String),
    /// A literal.
    Lit(Lit),
    /// A comparison.
    Cmp(Box<Expr>, CmpOp, Box<Expr>),
    /// Arithmetic.
    Arith(Box<Expr>, ArithOp, Box<Expr>),
    /// Kleene `and`.
    And(Box<Expr>, Box<Expr>),
    /// Kleene `or`.
    Or(Box<Expr>, Box<Expr>),
    /// Negation.
    Not(Box<Expr>),
    /// Whether the value is null (never null itself).
    IsNull(Box<Expr>),
    /// A cast to a type.
    Cast(Box<Expr>, DataType),
}

/// A column.
pub fn col(name: &str) -> Expr {
    Expr::Col(name.to_string())
}

/// A literal.
pub fn lit(value: impl Into<Lit>) -> Expr {
    Expr::Lit(value.into())
}

impl Expr {
    fn cmp(self, op: CmpOp, other: Expr) -> Expr {
        Expr::Cmp(Box::new(self), op, Box::new(other))
    }
    fn arith(self, op: ArithOp, other: Expr) -> Expr {
        Expr::Arith(Box::new(self), op, Box::new(other))
    }
    /// `self == other`
    pub fn eq(self, other: Expr) -> Expr {
        self.cmp(CmpOp::Eq, other)
    }
    /// `self != other`
    pub fn not_eq(self, other: Expr) -> Expr {
        self.cmp(CmpOp::NotEq, other)
    }
    /// `self < other`
    pub fn lt(self, other: Expr) -> Expr {
        self.cmp(CmpOp::Lt, other)
    }
    /// `self <= other`
    pub fn lt_eq(self, other: Expr) -> Expr {
        self.cmp(CmpOp::LtEq, other)
    }
    /// `self > other`
    pub fn gt(self, other: Expr) -> Expr {
        self.cmp(CmpOp::Gt, other)
    }
    /// `self >= other`
    pub fn gt_eq(self, other: Expr) -> Expr {
        self.cmp(CmpOp::GtEq, other)
    }
    /// `self and other`
    pub fn and(self, other: Expr) -> Expr {
        Expr::And(Box::new(self), Box::new(other))
    }
    /// `self or other`
    pub fn or(self, other: Expr) -> Expr {
        Expr::Or(Box::new(self), Box::new(other))
    }
    /// `not self`
    #[allow(clippy::should_implement_trait)]
    pub fn not(self) -> Expr {
        Expr::Not(Box::new(self))
    }
    /// Whether `self` is null.
    pub fn is_null(self) -> Expr {
        Expr::IsNull(Box::new(self))
    }
    /// Whether `self` is not null.
    pub fn is_not_null(self) -> Expr {
        self.is_null().not()
    }
    /// `self` cast to `to`.
    pub fn cast(self, to: DataType) -> Expr {
        Expr::Cast(Box::new(self), to)
    }

    /// The columns the expression reads, in first-use order.
    pub fn columns(&self) -> Vec<&str> {
        let mut out = Vec::new();
        self.walk(&mut out);
        out
    }

    fn walk<'a>(&'a self, out: &mut Vec<&'a str>) {
        match self {
            Expr::Col(c) if !out.contains(&c.as_str()) => out.push(c),
            Expr::Col(_) | Expr::Lit(_) => {}
            Expr::Cmp(a, _, b) | Expr::Arith(a, _, b) | Expr::And(a, b) | Expr::Or(a, b) => {
                a.walk(out);
                b.walk(out);
            }
            Expr::Not(a) | Expr::IsNull(a) | Expr::Cast(a, _) => a.walk(out),
        }
    }

    /// Evaluates the expression on `batch` as an array of the batch's length.
    pub fn evaluate(&self, batch: &RecordBatch) -> Result<ArrayRef, ArrowError> {
        let v = self.eval(batch)?;
        if v.scalar {
            broadcast(&v.array, batch.num_rows())
        } else {
            Ok(v.array)
        }
    }

    /// Evaluates a boolean expression (a filter's predicate).
    pub fn evaluate_bool(&self, batch: &RecordBatch) -> Result<BooleanArray, ArrowError> {
        let a = self.evaluate(batch)?;
        let a = if a.data_type() == &DataType::Null {
            arrow_cast::cast(&a, &DataType::Boolean)?
        } else {
            a
        };
        a.as_any()
            .downcast_ref::<BooleanArray>()
            .cloned()
            .ok_or_else(|| {
                ArrowError::InvalidArgumentError(format!(
                    "{self:?} is {}, not a boolean",
                    a.data_type()
                ))
            })
    }

    fn eval(&self, batch: &RecordBatch) -> Result<Value, ArrowError> {
        Ok(match self {
            Expr::Col(name) => {
                let i = batch.schema().index_of(name).map_err(|_| {
                    ArrowError::InvalidArgumentError(format!("no column named {name}"))
                })?;
                Value::array(batch.column(i).clone())
            }
            Expr::Lit(l) => Value {
                array: l.to_array(),
                scalar: true,
            },
            Expr::Cmp(a, op, b) => {
                let (a, b) = coerce(a.eval(batch)?, b.eval(batch)?, false)?;
                let scalar = a.scalar && b.scalar;
                let (l, r) = (a.datum(), b.datum());
                use arrow_ord::cmp;
                let out = match op {
                    CmpOp::Eq => cmp::eq(&l, &r),
                    CmpOp::NotEq => cmp::neq(&l, &r),
                    CmpOp::Lt => cmp::lt(&l, &r),
                    CmpOp::LtEq => cmp::lt_eq(&l, &r),
                    CmpOp::Gt => cmp::gt(&l, &r),
                    CmpOp::GtEq => cmp::gt_eq(&l, &r),
                }?;
                Value {
                    array: Arc::new(out),
                    scalar,
                }
            }
            Expr::Arith(a, op, b) => {
                let (a, b) = coerce(a.eval(batch)?, b.eval(batch)?, *op == ArithOp::Div)?;
                let scalar = a.scalar && b.scalar;
                let (l, r) = (a.datum(), b.datum());
                use arrow_arith::numeric;
                let array = match op {
                    ArithOp::Add => numeric::add(&l, &r),
                    ArithOp::Sub => numeric::sub(&l, &r),
                    ArithOp::Mul => numeric::mul(&l, &r),
                    ArithOp::Div => numeric::div(&l, &r),
                }?;
                Value { array, scalar }
            }
            Expr::And(a, b) | Expr::Or(a, b) => {
                let n = batch.num_rows();
                let l = a.eval(batch)?.boolean(n)?;
                let r = b.eval(batch)?.boolean(n)?;
                let out = if matches!(self, Expr::And(..)) {
                    arrow_arith::boolean::and_kleene(&l, &r)?
                } else {
                    arrow_arith::boolean::or_kleene(&l, &r)?
                };
                Value::array(Arc::new(out))
            }
            Expr::Not(a) => {
                let v = a.eval(batch)?.boolean(batch.num_rows())?;
                Value::array(Arc::new(arrow_arith::boolean::not(&v)?))
            }
            Expr::IsNull(a) => {
                let v = a.eval(batch)?;
                let v = if v.scalar {
                    broadcast(&v.array, batch.num_rows())?
                } else {
                    v.array
                };
                Value::array(Arc::new(arrow_arith::boolean::is_null(&v)?))
            }
            Expr::Cast(a, to) => {
                let v = a.eval(batch)?;
                Value {
                    array: arrow_cast::cast(&v.array, to)?,
                    scalar: v.scalar,
                }
            }
        })
    }
}

/// An evaluated operand: a full column, or a one-element scalar.
struct Value {
    array: ArrayRef,
    scalar: bool,
}

impl Value {
    fn array(array: ArrayRef) -> Value {
        Value {
            array,
            scalar: false,
        }
    }

    fn datum(&self) -> Datum {
        if self.scalar {
            Datum::Scalar(Scalar::new(self.array.clone()))
        } else {
            Datum::Array(self.array.clone())
        }
    }

    fn boolean(self, n: usize) -> Result<BooleanArray, ArrowError> {
        let a = if self.scalar {
            broadcast(&self.array, n)?
        } else {
            self.array
        };
        let a = arrow_cast::cast(&a, &DataType::Boolean)?;
        a.as_any()
            .downcast_ref::<BooleanArray>()
            .cloned()
            .ok_or_else(|| ArrowError::InvalidArgumentError("not a boolean".into()))
    }
}

enum Datum {
    Scalar(Scalar<ArrayRef>),
    Array(ArrayRef),
}

impl arrow_array::Datum for Datum {
    fn get(&self) -> (&dyn Array, bool) {
        match self {
            Datum::Scalar(s) => s.get(),
            Datum::Array(a) => a.get(),
        }
    }
}

/// A one-element array repeated `n` times.
fn broadcast(array: &ArrayRef, n: usize) -> Result<ArrayRef, ArrowError> {
    let idx = arrow_array::UInt32Array::from(vec![0u32; n]);
    arrow_select::take::take(array.as_ref(), &idx, None)
}

fn is_int(t: &DataType) -> bool {
    t.is_integer()
}

/// The type both operands are brought to, if they differ.
fn common(a: &DataType, b: &DataType, float: bool) -> Option<DataType> {
    let numeric = |t: &DataType| t.is_numeric() || t == &DataType::Null;
    if float && numeric(a) && numeric(b) {
        return Some(DataType::Float64);
    }
    if a == b {
        return None;
    }
    match (a, b) {
        (DataType::Null, t) | (t, DataType::Null) => Some(t.clone()),
        (x, y) if is_int(x) && is_int(y) => Some(DataType::Int64),
        (x, y) if x.is_numeric() && y.is_numeric() => Some(DataType::Float64),
        (x, y) if is_string(x) && is_string(y) => Some(DataType::Utf8),
        _ => None,
    }
}

fn is_string(t: &DataType) -> bool {
    matches!(t, DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View)
}

fn coerce(a: Value, b: Value, float: bool) -> Result<(Value, Value), ArrowError> {
    match common(a.array.data_type(), b.array.data_type(), float) {
        None => Ok((a, b)),
        Some(t) => {
            let cast = |v: Value| -> Result<Value, ArrowError> {
                Ok(Value {
                    array: arrow_cast::cast(&v.array, &t)?,
                    scalar: v.scalar,
                })
            };
            Ok((cast(a)?, cast(b)?))
        }
    }
}

impl std::ops::Add for Expr {
    type Output = Expr;
    fn add(self, other: Expr) -> Expr {
        self.arith(ArithOp::Add, other)
    }
}

impl std::ops::Sub for Expr {
    type Output = Expr;
    fn sub(self, other: Expr) -> Expr {
        self.arith(ArithOp::Sub, other)
    }
}

impl std::ops::Mul for Expr {
    type Output = Expr;
    fn mul(self, other: Expr) -> Expr {
        self.arith(ArithOp::Mul, other)
    }
}

impl std::ops::Div for Expr {
    type Output = Expr;
    fn div(self, other: Expr) -> Expr {
        self.arith(ArithOp::Div, other)
    }
}

impl std::ops::Not for Expr {
    type Output = Expr;
    fn not(self) -> Expr {
        Expr::Not(Box::new(self))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow_array::cast::AsArray;
    use arrow_array::types::{Float64Type, Int64Type};
    use arrow_array::Int32Array;
    use arrow_schema::{Field, Schema};

    fn batch() -> RecordBatch {
        RecordBatch::try_new(
            Arc::new(Schema::new(vec![
                Field::new("a", DataType::Int32, true),
                Field::new("b", DataType::Float64, true),
                Field::new("s", DataType::Utf8, true),
            ])),
            vec![
                Arc::new(Int32Array::from(vec![Some(1), None, Some(3), Some(4)])),
                Arc::new(Float64Array::from(vec![
                    Some(0.5),
                    Some(2.0),
                    None,
                    Some(4.0),
                ])),
                Arc::new(StringArray::from(vec![
                    Some("x"),
                    Some("y"),
                    None,
                    Some("x"),
                ])),
            ],
        )
        .unwrap()
    }

    fn bools(e: Expr) -> Vec<Option<bool>> {
        e.evaluate_bool(&batch()).unwrap().iter().collect()
    }

    #[test]
    fn comparisons_mix_types_and_propagate_nulls() {
        assert_eq!(
            bools(col("a").gt(lit(2))),
            [Some(false), None, Some(true), Some(true)]
        );
        assert_eq!(
            bools(col("a").gt_eq(col("b"))),
            [Some(true), None, None, Some(true)]
        );
        assert_eq!(
            bools(col("s").eq(lit("x"))),
            [Some(true), Some(false), None, Some(true)]
        );
        assert_eq!(
            bools(lit(1.5).lt(col("a"))),
            [Some(false), None, Some(true), Some(true)]
        );
    }

    #[test]
    fn boolean_logic_is_kleene_and_is_null_is_never_null() {
        assert_eq!(
            bools(col("a").gt(lit(2)).or(col("s").eq(lit("y")))),
            [Some(false), Some(true), Some(true), Some(true)]
        );
        assert_eq!(
            bools(col("a").gt(lit(2)).and(col("b").is_null().not())),
            [Some(false), None, Some(false), Some(true)]
        );
        assert_eq!(
            bools(col("s").is_null()),
            [Some(false), Some(false), Some(true), Some(false)]
        );
        assert_eq!(bools(lit(true)), [Some(true); 4]);
    }

    #[test]
    fn arithmetic_widens_and_divides_as_float() {
        let b = batch();
        let sum = (col("a") + lit(10)).evaluate(&b).unwrap();
        let sum: Vec<_> = sum.as_primitive::<Int64Type>().iter().collect();
        assert_eq!(sum, [Some(11), None, Some(13), Some(14)]);
        let q = (col("a") / lit(2)).evaluate(&b).unwrap();
        let q: Vec<_> = q.as_primitive::<Float64Type>().iter().collect();
        assert_eq!(q, [Some(0.5), None, Some(1.5), Some(2.0)]);
        let m = (col("a") * col("b")).evaluate(&b).unwrap();
        assert_eq!(m.as_primitive::<Float64Type>().value(3), 16.0);
        let err = col("nope").evaluate(&b).unwrap_err().to_string();
        assert!(err.contains("nope"), "{err}");
        assert!(col("s").evaluate_bool(&b).is_err());
    }
}
