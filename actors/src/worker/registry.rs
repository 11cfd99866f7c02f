//! Named task functions: the [`task!`](crate::task) macro registers a plain Rust function
//! under a stable name with typed serde arguments and result, and the registry collects every
//! such function linked into the binary.
//!
//! Rust closures cannot travel, so client and worker binaries both link the functions; the
//! client sends the name and postcard-encoded arguments, the worker looks the name up here.

use bytes::Bytes;
use rask_protocol::{decode_value_shared, encode_value, TaskErrorKind};
use serde::de::DeserializeOwned;
use serde::Serialize;
use std::collections::HashMap;
use std::sync::OnceLock;

/// What running a registered function produced: the encoded result, or the kind of failure
/// and its message.
pub type InvokeResult = Result<Bytes, (TaskErrorKind, String)>;

/// A function registered with [`task!`](crate::task). Implemented by the unit struct the
/// macro generates, which is also the handle passed to `Client::submit`.
pub trait TaskFunction: Copy + Send + Sync + 'static {
    /// The parameter types, as a tuple.
    type Params;
    /// The result type.
    type Output: Serialize + DeserializeOwned + Send + 'static;
    /// The stable registered name (module path and function name).
    const NAME: &'static str;
    /// Decodes the arguments, calls the function, encodes the result.
    fn invoke(args: &[Bytes]) -> InvokeResult;
}

/// One registry entry, collected at link time.
pub struct TaskEntry {
    /// Registered name.
    pub name: &'static str,
    /// Parameter and result types, to detect mismatched builds.
    pub signature: fn() -> String,
    /// Runs the function on encoded arguments.
    pub invoke: fn(&[Bytes]) -> InvokeResult,
}

inventory::collect!(TaskEntry);

impl TaskEntry {
    /// The entry for a [`TaskFunction`].
    pub const fn of<F: TaskFunction>() -> TaskEntry {
        TaskEntry {
            name: F::NAME,
            signature: signature::<F>,
            invoke: F::invoke,
        }
    }
}

fn signature<F: TaskFunction>() -> String {
    format!(
        "{}{} -> {}",
        F::NAME,
        std::any::type_name::<F::Params>(),
        std::any::type_name::<F::Output>()
    )
}

/// Every task function linked into this binary.
pub struct Registry {
    by_name: HashMap<&'static str, &'static TaskEntry>,
    hash: u64,
}

impl Registry {
    /// The process-wide registry.
    pub fn global() -> &'static Registry {
        static REGISTRY: OnceLock<Registry> = OnceLock::new();
        REGISTRY.get_or_init(|| {
            let mut by_name = HashMap::new();
            for entry in inventory::iter::<TaskEntry> {
                if let Some(prev) = by_name.insert(entry.name, entry) {
                    tracing::warn!(
                        "task function {} registered twice ({} and {})",
                        entry.name,
                        (prev.signature)(),
                        (entry.signature)()
                    );
                }
            }
            let mut sigs: Vec<String> = by_name.values().map(|e| (e.signature)()).collect();
            sigs.sort();
            let hash = xxhash_rust::xxh3::xxh3_64(sigs.join("\n").as_bytes());
            Registry { by_name, hash }
        })
    }

    /// Looks a function up by name.
    pub fn get(&self, name: &str) -> Option<&'static TaskEntry> {
        self.by_name.get(name).copied()
    }

    /// Names of every registered function, sorted.
    pub fn names(&self) -> Vec<String> {
        let mut v: Vec<String> = self.by_name.keys().map(|s| s.to_string()).collect();
        v.sort();
        v
    }

    /// Hash of all names and signatures (exchanged at handshake).
    pub fn hash(&self) -> u64 {
        self.hash
    }
}

/// Decoding a tuple of parameters from one encoded frame per argument.
pub trait DecodeArgs: Sized {
    /// Decodes, or says which argument did not decode.
    fn decode_args(args: &[Bytes]) -> Result<Self, (TaskErrorKind, String)>;
}

fn arg_error(i: usize, ty: &str, e: impl std::fmt::Display) -> (TaskErrorKind, String) {
    (
        TaskErrorKind::BadArguments,
        format!("argument {i} does not decode as {ty}: {e}"),
    )
}

macro_rules! impl_decode_args {
    ($n:expr; $($t:ident $i:tt),*) => {
        impl<$($t: DeserializeOwned),*> DecodeArgs for ($($t,)*) {
            #[allow(unused_variables)]
            fn decode_args(args: &[Bytes]) -> Result<Self, (TaskErrorKind, String)> {
                if args.len() != $n {
                    return Err((
                        TaskErrorKind::BadArguments,
                        format!("expected {} arguments, got {}", $n, args.len()),
                    ));
                }
                Ok(($(
                    decode_value_shared::<$t>(&args[$i])
                        .map_err(|e| arg_error($i, std::any::type_name::<$t>(), e))?,
                )*))
            }
        }
    };
}

impl_decode_args!(0;);
impl_decode_args!(1; A 0);
impl_decode_args!(2; A 0, B 1);
impl_decode_args!(3; A 0, B 1, C 2);
impl_decode_args!(4; A 0, B 1, C 2, D 3);
impl_decode_args!(5; A 0, B 1, C 2, D 3, E 4);
impl_decode_args!(6; A 0, B 1, C 2, D 3, E 4, F 5);
impl_decode_args!(7; A 0, B 1, C 2, D 3, E 4, F 5, G 6);
impl_decode_args!(8; A 0, B 1, C 2, D 3, E 4, F 5, G 6, H 7);

/// Encodes a function's result.
pub fn encode_output<T: Serialize>(value: &T) -> InvokeResult {
    encode_value(value).map_err(|e| (TaskErrorKind::Failed, format!("cannot encode result: {e}")))
}

/// Turns a fallible function's `Result` into an [`InvokeResult`].
pub fn encode_fallible<T: Serialize, E: std::fmt::Display>(value: Result<T, E>) -> InvokeResult {
    match value {
        Ok(v) => encode_output(&v),
        Err(e) => Err((TaskErrorKind::Failed, e.to_string())),
    }
}

/// Registers a plain Rust function as a task function.
///
/// The function keeps working as `name::call(...)`; `name` itself becomes the handle passed to
/// `Client::submit`. Parameters and result must be serde types. A function returning
/// `Result<T, E>` (with `E: Display`) fails its task with `E`'s message; a panic is caught by
/// the worker and reported as a panicked task.
///
/// ```
/// rask_actors::task! {
///     /// Adds one.
///     pub fn inc(x: i64) -> i64 { x + 1 }
/// }
/// assert_eq!(inc::call(1), 2);
/// ```
#[macro_export]
macro_rules! task {
    ($(#[$meta:meta])* $vis:vis fn $name:ident($($arg:ident : $ty:ty),* $(,)?) -> Result<$ok:ty, $err:ty> $body:block) => {
        $crate::task!(@emit [$(#[$meta])*] $vis $name [$($arg : $ty),*] [::std::result::Result<$ok, $err>] [$ok] encode_fallible $body);
    };
    ($(#[$meta:meta])* $vis:vis fn $name:ident($($arg:ident : $ty:ty),* $(,)?) -> $ret:ty $body:block) => {
        $crate::task!(@emit [$(#[$meta])*] $vis $name [$($arg : $ty),*] [$ret] [$ret] encode_plain $body);
    };
    (@emit [$($meta:tt)*] $vis:vis $name:ident [$($arg:ident : $ty:ty),*] [$ret:ty] [$out:ty] $enc:ident $body:block) => {
        $($meta)*
        #[allow(non_camel_case_types)]
        #[derive(Clone, Copy, Debug)]
        $vis struct $name;

        impl $name {
            /// Calls the function directly in this process.
            #[allow(dead_code)]
            $vis fn call($($arg: $ty),*) -> $ret $body
        }

        impl $crate::worker::registry::TaskFunction for $name {
            type Params = ($($ty,)*);
            type Output = $out;
            const NAME: &'static str = concat!(module_path!(), "::", stringify!($name));
            fn invoke(args: &[$crate::__private::Bytes]) -> $crate::worker::registry::InvokeResult {
                #[allow(unused_parens)]
                let ($($arg,)*) = <($($ty,)*) as $crate::worker::registry::DecodeArgs>::decode_args(args)?;
                $crate::task!(@encode $enc $name::call($($arg),*))
            }
        }

        $crate::__private::inventory::submit! {
            $crate::worker::registry::TaskEntry::of::<$name>()
        }
    };
    (@encode encode_plain $e:expr) => { $crate::worker::registry::encode_output(&$e) };
    (@encode encode_fallible $e:expr) => { $crate::worker::registry::encode_fallible($e) };
}

#[cfg(test)]
mod tests {
    use super::*;

    crate::task! {
        /// Test: adds.
        pub fn add2(a: i64, b: i64) -> i64 { a + b }
    }

    crate::task! {
        /// Test: fails on negatives.
        fn checked(x: i64) -> Result<u64, String> {
            if x < 0 { Err(format!("{x} is negative")) } else { Ok(x as u64) }
        }
    }

    #[test]
    fn registered_functions_are_found_and_invoked() {
        let reg = Registry::global();
        let entry = reg.get(<add2 as TaskFunction>::NAME).expect("registered");
        let out =
            (entry.invoke)(&[encode_value(&2i64).unwrap(), encode_value(&3i64).unwrap()]).unwrap();
        assert_eq!(rask_protocol::decode_value::<i64>(&out).unwrap(), 5);
        assert!(reg.names().iter().any(|n| n.ends_with("::checked")));
    }

    #[test]
    fn errors_and_bad_arguments_are_reported() {
        let err = checked::invoke(&[encode_value(&-1i64).unwrap()]).unwrap_err();
        assert_eq!(err.0, TaskErrorKind::Failed);
        assert!(err.1.contains("-1 is negative"));
        let err = add2::invoke(&[encode_value(&1i64).unwrap()]).unwrap_err();
        assert_eq!(err.0, TaskErrorKind::BadArguments);
        let err = add2::invoke(&[
            Bytes::from_static(b"\xff\xff\xff"),
            encode_value(&1i64).unwrap(),
        ])
        .unwrap_err();
        assert_eq!(err.0, TaskErrorKind::BadArguments);
        assert!(err.1.contains("argument 0"));
    }
}
