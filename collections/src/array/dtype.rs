//! Element types of chunked arrays: the [`DType`] tag carried in every block header, and the
//! [`Element`], [`Numeric`] and [`Float`] traits that tie Rust types to it.

use serde::{Deserialize, Serialize};
use std::fmt::Debug;

/// The element type of an array, as stored in block headers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum DType {
    /// 64-bit float.
    F64,
    /// 32-bit float.
    F32,
    /// 64-bit signed integer.
    I64,
    /// 32-bit signed integer.
    I32,
    /// Boolean (one byte, 0 or 1).
    Bool,
}

impl DType {
    /// Bytes per element.
    pub fn size(self) -> usize {
        match self {
            DType::F64 | DType::I64 => 8,
            DType::F32 | DType::I32 => 4,
            DType::Bool => 1,
        }
    }

    /// The header byte.
    pub fn code(self) -> u8 {
        match self {
            DType::F64 => 1,
            DType::F32 => 2,
            DType::I64 => 3,
            DType::I32 => 4,
            DType::Bool => 5,
        }
    }

    /// The dtype of a header byte.
    pub fn from_code(code: u8) -> Option<DType> {
        Some(match code {
            1 => DType::F64,
            2 => DType::F32,
            3 => DType::I64,
            4 => DType::I32,
            5 => DType::Bool,
            _ => return None,
        })
    }

    /// numpy's type string (`<f8`, `|b1`, …), as written in `.npy` headers.
    pub fn npy_descr(self) -> &'static str {
        match self {
            DType::F64 => "<f8",
            DType::F32 => "<f4",
            DType::I64 => "<i8",
            DType::I32 => "<i4",
            DType::Bool => "|b1",
        }
    }

    /// The dtype of a numpy type string, if supported.
    pub fn from_npy_descr(descr: &str) -> Option<DType> {
        Some(match descr {
            "<f8" => DType::F64,
            "<f4" => DType::F32,
            "<i8" => DType::I64,
            "<i4" => DType::I32,
            "|b1" | "<b1" => DType::Bool,
            _ => return None,
        })
    }

    /// Whether this is a floating-point type.
    pub fn is_float(self) -> bool {
        matches!(self, DType::F64 | DType::F32)
    }
}

mod sealed {
    pub trait Sealed {}
    impl Sealed for f64 {}
    impl Sealed for f32 {}
    impl Sealed for i64 {}
    impl Sealed for i32 {}
    impl Sealed for bool {}
}

/// A Rust type that array blocks can hold.
pub trait Element:
    sealed::Sealed
    + super::block::Wrap
    + Copy
    + Send
    + Sync
    + Debug
    + PartialOrd
    + PartialEq
    + Default
    + 'static
{
    /// Its header tag.
    const DTYPE: DType;
    /// The element type of its sums (`i64` for `i32` and `bool`, like numpy).
    type Sum: Numeric;
    /// Writes the little-endian bytes of `self` into `out` (exactly `DTYPE.size()` bytes).
    fn write_le(self, out: &mut [u8]);
    /// Reads a value from exactly `DTYPE.size()` little-endian bytes.
    fn read_le(b: &[u8]) -> Self;
    /// The value as a float.
    fn to_f64(self) -> f64;
    /// The value as an integer (floats truncate, `bool` is 0 or 1).
    fn to_i64(self) -> i64;
    /// A value from a float (integers truncate and saturate, `bool` is `x != 0`).
    fn from_f64(x: f64) -> Self;
    /// A value from an integer.
    fn from_i64(x: i64) -> Self;
    /// Converts from another element type the way numpy's `astype` does.
    fn cast_from<S: Element>(s: S) -> Self {
        if Self::DTYPE.is_float() || S::DTYPE.is_float() {
            Self::from_f64(s.to_f64())
        } else {
            Self::from_i64(s.to_i64())
        }
    }
    /// Whether the value is a NaN (never for integers and `bool`).
    #[allow(clippy::eq_op)]
    fn is_nan(self) -> bool {
        self != self
    }
}

/// Element types with arithmetic.
pub trait Numeric:
    Element
    + std::ops::Add<Output = Self>
    + std::ops::Sub<Output = Self>
    + std::ops::Mul<Output = Self>
    + ndarray::LinalgScalar
{
    /// Division (integers: truncating; division by zero gives 0 instead of a panic).
    fn div(self, other: Self) -> Self;
    /// Remainder (integers: by zero gives 0).
    fn rem(self, other: Self) -> Self;
    /// Absolute value.
    fn abs(self) -> Self;
    /// Negation.
    fn neg(self) -> Self;
    /// `self` to the power `other` (integers: a non-negative exponent).
    fn pow(self, other: Self) -> Self;
}

/// Floating-point element types (`f64`, `f32`).
pub trait Float: Numeric {}

macro_rules! element {
    ($t:ty, $d:ident, $sum:ty, $n:expr) => {
        impl Element for $t {
            const DTYPE: DType = DType::$d;
            type Sum = $sum;
            fn write_le(self, out: &mut [u8]) {
                out.copy_from_slice(&self.to_le_bytes());
            }
            fn read_le(b: &[u8]) -> Self {
                let mut raw = [0u8; $n];
                raw.copy_from_slice(&b[..$n]);
                <$t>::from_le_bytes(raw)
            }
            fn to_f64(self) -> f64 {
                self as f64
            }
            fn to_i64(self) -> i64 {
                self as i64
            }
            fn from_f64(x: f64) -> Self {
                x as $t
            }
            fn from_i64(x: i64) -> Self {
                x as $t
            }
        }
    };
}

element!(f64, F64, f64, 8);
element!(f32, F32, f32, 4);
element!(i64, I64, i64, 8);
element!(i32, I32, i64, 4);

impl Element for bool {
    const DTYPE: DType = DType::Bool;
    type Sum = i64;
    fn write_le(self, out: &mut [u8]) {
        out[0] = self as u8;
    }
    fn read_le(b: &[u8]) -> Self {
        b[0] != 0
    }
    fn to_f64(self) -> f64 {
        self as u8 as f64
    }
    fn to_i64(self) -> i64 {
        self as i64
    }
    fn from_f64(x: f64) -> Self {
        x != 0.0
    }
    fn from_i64(x: i64) -> Self {
        x != 0
    }
}

macro_rules! float {
    ($t:ty) => {
        impl Numeric for $t {
            fn div(self, other: Self) -> Self {
                self / other
            }
            fn rem(self, other: Self) -> Self {
                self % other
            }
            fn abs(self) -> Self {
                <$t>::abs(self)
            }
            fn neg(self) -> Self {
                -self
            }
            fn pow(self, other: Self) -> Self {
                self.powf(other)
            }
        }
        impl Float for $t {}
    };
}

macro_rules! integer {
    ($t:ty) => {
        impl Numeric for $t {
            fn div(self, other: Self) -> Self {
                self.checked_div(other).unwrap_or(0)
            }
            fn rem(self, other: Self) -> Self {
                self.checked_rem(other).unwrap_or(0)
            }
            fn abs(self) -> Self {
                self.wrapping_abs()
            }
            fn neg(self) -> Self {
                self.wrapping_neg()
            }
            fn pow(self, other: Self) -> Self {
                self.wrapping_pow(other.max(0) as u32)
            }
        }
    };
}

float!(f64);
float!(f32);
integer!(i64);
integer!(i32);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_descrs_and_casts_round_trip() {
        for d in [DType::F64, DType::F32, DType::I64, DType::I32, DType::Bool] {
            assert_eq!(DType::from_code(d.code()), Some(d));
            assert_eq!(DType::from_npy_descr(d.npy_descr()), Some(d));
        }
        assert_eq!(i32::cast_from(2.9f64), 2);
        assert_eq!(f64::cast_from(i64::MAX), i64::MAX as f64);
        assert_eq!(i64::cast_from(i64::MAX), i64::MAX);
        assert!(bool::cast_from(0.5f32));
        assert_eq!(f32::cast_from(true), 1.0);
        assert_eq!(Numeric::div(7i32, 0), 0);
        assert!(f64::NAN.is_nan() && !1i64.is_nan());
    }
}
