//! The [`actor!`](crate::actor) macro: registers a stateful type, its constructor and its
//! named methods, and gives `ActorHandle<T>` a typed method per actor method.

/// Registers a stateful actor type (Dask's `client.submit(Counter, actor=True)`).
///
/// The struct, a `new` constructor and a trait of methods taking `&mut self` are declared
/// together. The type keeps working locally (`Counter::new(0).increment(1)`); the trait is
/// implemented for `ActorHandle<Counter>`, where each method sends the call straight to the
/// worker hosting the actor and returns an `ActorFuture` of the method's result. Parameters
/// and results are serde types. A method that panics fails its call with a typed error and
/// the actor lives on; a method returning `Result<T, E>` hands the `Result` back as its value
/// (so `E` must be a serde type).
///
/// ```
/// rask_actors::actor! {
///     /// Counts.
///     pub struct Counter { n: i64 }
///     /// Starts at `start`.
///     fn new(start: i64) -> Self { Counter { n: start } }
///     /// What clients call on a counter.
///     pub trait CounterCalls {
///         /// Adds `by`; returns the new count.
///         fn increment(&mut self, by: i64) -> i64 { self.n += by; self.n }
///     }
/// }
/// assert_eq!(Counter::new(1).increment(2), 3);
/// ```
#[macro_export]
macro_rules! actor {
    (
        $(#[$meta:meta])*
        $vis:vis struct $name:ident $fields:tt
        $(#[$nmeta:meta])*
        fn new($($iarg:ident : $ity:ty),* $(,)?) -> Self $ibody:block
        $(#[$tmeta:meta])*
        $tvis:vis trait $calls:ident {
            $(
                $(#[$mmeta:meta])*
                fn $m:ident(&mut $self_:ident $(, $marg:ident : $mty:ty)* $(,)?) -> $mret:ty $mbody:block
            )*
        }
    ) => {
        $(#[$meta])*
        $vis struct $name $fields

        impl $name {
            $(#[$nmeta])*
            #[allow(dead_code)]
            $vis fn new($($iarg: $ity),*) -> Self $ibody

            $(
                $(#[$mmeta])*
                #[allow(dead_code)]
                $vis fn $m(&mut $self_ $(, $marg: $mty)*) -> $mret $mbody
            )*
        }

        impl $crate::worker::actors::ActorType for $name {
            const NAME: &'static str =
                concat!("rask::actor::", module_path!(), "::", stringify!($name));
            type Init = ($($ity,)*);
            fn create(
                args: &[$crate::__private::Bytes],
            ) -> ::std::result::Result<Self, ($crate::__private::TaskErrorKind, String)> {
                #[allow(unused_parens)]
                let ($($iarg,)*) =
                    $crate::worker::actors::decode_method_args::<($($ity,)*)>("new", args)?;
                Ok($name::new($($iarg),*))
            }
            fn call(
                &mut self,
                method: &str,
                args: &[$crate::__private::Bytes],
            ) -> Option<$crate::worker::registry::InvokeResult> {
                match method {
                    $(
                        stringify!($m) => Some(
                            match $crate::worker::actors::decode_method_args::<($($mty,)*)>(
                                stringify!($m),
                                args,
                            ) {
                                Ok(($($marg,)*)) => {
                                    $crate::worker::registry::encode_output(&self.$m($($marg),*))
                                }
                                Err(e) => Err(e),
                            },
                        ),
                    )*
                    _ => None,
                }
            }
        }

        $crate::__private::inventory::submit! {
            $crate::worker::actors::actor_entry::<$name>()
        }

        $(#[$tmeta])*
        #[allow(dead_code)]
        $tvis trait $calls {
            $(
                $(#[$mmeta])*
                fn $m(&self $(, $marg: $mty)*) -> $crate::client::ActorFuture<$mret>;
            )*
        }

        impl $calls for $crate::client::ActorHandle<$name> {
            $(
                fn $m(&self $(, $marg: $mty)*) -> $crate::client::ActorFuture<$mret> {
                    let encoded: Vec<$crate::__private::ProtocolResult<$crate::__private::Bytes>> =
                        vec![$($crate::__private::encode_value(&$marg)),*];
                    let args = encoded
                        .into_iter()
                        .collect::<::std::result::Result<Vec<_>, _>>()
                        .map_err($crate::Error::from);
                    self.call_raw(stringify!($m), args)
                }
            )*
        }
    };
}
