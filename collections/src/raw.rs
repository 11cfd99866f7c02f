//! Registering built-in task functions that work on encoded bytes directly.
//!
//! The [`task!`](rask_actors::task) macro decodes every argument into a typed value. Collection
//! built-ins instead read partitions, fused plans and dependency results as raw postcard bytes
//! (zero-copy slices of the frames the worker received), so they register a plain
//! `fn(&[Bytes]) -> InvokeResult` under a fixed name with [`raw_task!`](crate::raw_task).

/// Registers `$func: fn(&[Bytes]) -> InvokeResult` under the name `$name` and defines the
/// constant `$konst` holding that name.
#[macro_export]
#[doc(hidden)]
macro_rules! raw_task {
    ($(#[$m:meta])* $vis:vis const $konst:ident = $name:literal => $func:path) => {
        $(#[$m])*
        $vis const $konst: &str = $name;
        $crate::__private::inventory::submit! {
            $crate::__private::TaskEntry {
                name: $name,
                signature: {
                    fn signature() -> String {
                        String::from(concat!($name, "(raw bytes)"))
                    }
                    signature
                },
                invoke: $func,
            }
        }
    };
}

/// A failure of a built-in, in the registry's terms.
pub(crate) fn failed(message: impl Into<String>) -> (rask_protocol::TaskErrorKind, String) {
    (rask_protocol::TaskErrorKind::Failed, message.into())
}

/// A malformed argument of a built-in.
pub(crate) fn bad_args(message: impl Into<String>) -> (rask_protocol::TaskErrorKind, String) {
    (rask_protocol::TaskErrorKind::BadArguments, message.into())
}
