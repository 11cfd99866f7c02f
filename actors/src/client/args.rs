//! Turning Rust values and futures into task arguments, checked against the function's
//! parameter types at compile time.

use super::future::Future;
use crate::Result;
use rask_protocol::{encode_value, Arg};
use serde::Serialize;

/// A value usable as a parameter of type `P`: a `P` itself, or a future of a `P` (which makes
/// the task depend on it).
pub trait IntoArg<P> {
    /// The wire argument.
    fn into_arg(self) -> Result<Arg>;
}

impl<P: Serialize> IntoArg<P> for P {
    fn into_arg(self) -> Result<Arg> {
        Ok(Arg::Value(encode_value(&self)?))
    }
}

impl<P> IntoArg<P> for &Future<P> {
    fn into_arg(self) -> Result<Arg> {
        Ok(Arg::Key(self.key().clone()))
    }
}

/// A tuple of arguments matching a function's parameter tuple `Params`.
pub trait IntoArgs<Params> {
    /// The wire arguments, in order.
    fn into_args(self) -> Result<Vec<Arg>>;
}

macro_rules! impl_into_args {
    ($($p:ident $a:ident $i:tt),*) => {
        impl<$($p, $a: IntoArg<$p>),*> IntoArgs<($($p,)*)> for ($($a,)*) {
            #[allow(unused_variables)]
            fn into_args(self) -> Result<Vec<Arg>> {
                Ok(vec![$(self.$i.into_arg()?),*])
            }
        }
    };
}

impl_into_args!();
impl_into_args!(P0 A0 0);
impl_into_args!(P0 A0 0, P1 A1 1);
impl_into_args!(P0 A0 0, P1 A1 1, P2 A2 2);
impl_into_args!(P0 A0 0, P1 A1 1, P2 A2 2, P3 A3 3);
impl_into_args!(P0 A0 0, P1 A1 1, P2 A2 2, P3 A3 3, P4 A4 4);
impl_into_args!(P0 A0 0, P1 A1 1, P2 A2 2, P3 A3 3, P4 A4 4, P5 A5 5);
impl_into_args!(P0 A0 0, P1 A1 1, P2 A2 2, P3 A3 3, P4 A4 4, P5 A5 5, P6 A6 6);
impl_into_args!(P0 A0 0, P1 A1 1, P2 A2 2, P3 A3 3, P4 A4 4, P5 A5 5, P6 A6 6, P7 A7 7);
