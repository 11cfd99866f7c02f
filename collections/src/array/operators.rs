//! `std::ops` operators on array references, for code that reads like numpy:
//! `(&x + &x.t()?)?`, `(&x * 2.0)?`, `(-&x)?`. Building a graph can fail (shapes that do not
//! broadcast), so every operator gives a [`Result`].

use super::dtype::Numeric;
use super::Array;
use crate::Result;
use std::ops::{Add, Div, Mul, Neg, Rem, Sub};

macro_rules! array_ops {
    ($($tr:ident $m:ident),*) => {$(
        impl<T: Numeric> $tr<&Array<T>> for &Array<T> {
            type Output = Result<Array<T>>;
            fn $m(self, rhs: &Array<T>) -> Result<Array<T>> {
                Array::$m(self, rhs)
            }
        }
    )*};
}

array_ops!(Add add, Sub sub, Mul mul, Div div, Rem rem);

macro_rules! scalar_ops {
    ($($t:ty),*) => {$(
        impl Add<$t> for &Array<$t> {
            type Output = Result<Array<$t>>;
            fn add(self, rhs: $t) -> Result<Array<$t>> {
                Array::add(self, rhs)
            }
        }
        impl Sub<$t> for &Array<$t> {
            type Output = Result<Array<$t>>;
            fn sub(self, rhs: $t) -> Result<Array<$t>> {
                Array::sub(self, rhs)
            }
        }
        impl Mul<$t> for &Array<$t> {
            type Output = Result<Array<$t>>;
            fn mul(self, rhs: $t) -> Result<Array<$t>> {
                Array::mul(self, rhs)
            }
        }
        impl Div<$t> for &Array<$t> {
            type Output = Result<Array<$t>>;
            fn div(self, rhs: $t) -> Result<Array<$t>> {
                Array::div(self, rhs)
            }
        }
        impl Rem<$t> for &Array<$t> {
            type Output = Result<Array<$t>>;
            fn rem(self, rhs: $t) -> Result<Array<$t>> {
                Array::rem(self, rhs)
            }
        }
    )*};
}

scalar_ops!(f64, f32, i64, i32);

impl<T: Numeric> Neg for &Array<T> {
    type Output = Result<Array<T>>;
    fn neg(self) -> Result<Array<T>> {
        Array::neg(self)
    }
}

#[cfg(test)]
mod tests {
    use super::super::from_ndarray;
    use ndarray::{ArrayD, IxDyn};

    #[test]
    fn operators_build_the_same_graphs_as_methods() {
        let x = from_ndarray(&ArrayD::<f64>::ones(IxDyn(&[4, 4])), 2).unwrap();
        let by_ops = (&(&x + &x.t().unwrap()).unwrap() * 2.0).unwrap();
        let by_methods = x.add(x.t().unwrap()).unwrap().mul(2.0).unwrap();
        assert_eq!(by_ops.keys(), by_methods.keys());
        assert_eq!((-&x).unwrap().keys(), x.neg().unwrap().keys());
        let y = from_ndarray(&ArrayD::<f64>::ones(IxDyn(&[3])), 2).unwrap();
        assert!((&x - &y).is_err());
    }
}
