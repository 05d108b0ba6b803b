//! Not public API: the helpers `#[traced]` expands to. Anything here may
//! change in any release; user code must not name it.

use std::borrow::Cow;
use std::fmt::{Debug, Display};
use std::future::Future;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::OnceLock;

pub use crate::record::Outcome;
pub use crate::span::SpanKind;
pub use crate::value::Value;

use crate::future::Instrumented;
use crate::guard::SpanGuard;
use crate::local::{self, SpanStart};
use crate::span::Status;

/// Opens the span of a traced function.
#[inline]
pub fn enter(name: &'static str, kind: SpanKind, root: bool) -> SpanGuard {
    SpanGuard::open(SpanStart { name: Cow::Borrowed(name), kind, root })
}

/// Adds the tags of `tags(…)` and `args` to the span. Generated code
/// evaluates them only if [`SpanGuard::is_recording`], and before this
/// call: an expression may trace too, which it cannot do while the thread's
/// span state is in use.
#[inline]
pub fn record_tags<const N: usize>(guard: &SpanGuard, tags: [(&'static str, Value); N]) {
    guard.record(|span| span.add_static_tags(tags));
}

/// Moves the span of an `async fn` into the future running its body.
pub fn instrument<F: Future>(
    guard: SpanGuard,
    future: F,
    observer: Option<fn(&F::Output) -> Outcome>,
) -> Instrumented<F> {
    let tracer = local::current_tracer();
    Instrumented::new(future, guard.detach(), tracer, observer)
}

/// Shows a sync function's return value to `observer` before the span
/// closes, if the span records.
#[inline]
pub fn observe<T>(guard: &SpanGuard, value: T, observer: fn(&T) -> Outcome) -> T {
    if guard.is_recording() {
        let outcome = observer(&value);
        guard.record(|span| outcome.apply(span));
    }
    value
}

/// `#[traced(err)]`: an `Err` becomes the span's error status with the
/// error's `Display` text.
pub fn record_err<T, E: Display>(outcome: &mut Outcome, result: &Result<T, E>) {
    if let Err(error) = result {
        let text = catch_unwind(AssertUnwindSafe(|| error.to_string()))
            .unwrap_or_else(|_| "<Display panicked>".to_owned());
        outcome.set_status(Status::Error(text.into()));
    }
}

/// `#[traced(ret)]`: records the return value as the tag `return`.
pub fn record_ret(outcome: &mut Outcome, value: Value) {
    outcome.add_tag("return".into(), value);
}

/// The name `Type::method` for a method, from the path rustc gives a
/// function item declared inside it (`krate::module::Type::method::marker`,
/// or `<krate::Type as krate::Trait>::method::marker` in a trait impl).
/// Computed once per method and cached by the generated code.
pub fn method_name(marker_path: &'static str, cache: &'static NameCache) -> &'static str {
    cache.get_or_init(|| {
        let mut path = marker_path.rsplit_once("::").map_or(marker_path, |(head, _)| head);
        // The body of an `async fn` is a closure as far as paths go.
        while let Some(outer) = path.strip_suffix("::{{closure}}") {
            path = outer;
        }
        let (owner, method) = path.rsplit_once("::").unwrap_or(("", path));
        let owner = match owner.strip_prefix('<').and_then(|o| o.split_once(" as ")) {
            Some((ty, _)) => ty,
            None => owner,
        };
        let owner = owner.split('<').next().unwrap_or(owner);
        let ty = owner.rsplit("::").next().unwrap_or(owner);
        if ty.is_empty() {
            method
        } else {
            // Leaked once per method (the cache makes sure), to keep the
            // name a `&'static str` on every later call.
            Box::leak(format!("{ty}::{method}").into_boxed_str())
        }
    })
}

/// Borrows a value to be recorded as a tag. Method resolution on `&Arg`
/// picks [`NativeArg`] for types with a native tag type and falls back to
/// [`DebugArg`] (through auto-ref) for everything that implements `Debug`.
pub struct Arg<'a, T: ?Sized>(pub &'a T);

/// Values recorded with their own tag type.
pub trait NativeArg {
    /// The tag value.
    fn __trace_value(&self) -> Value;
}

macro_rules! native {
    ($($t:ty),*) => {$(
        impl NativeArg for Arg<'_, $t> {
            #[inline]
            fn __trace_value(&self) -> Value {
                Value::from(*self.0)
            }
        }
    )*};
}
native!(i8, i16, i32, i64, i128, isize, u8, u16, u32, u64, u128, usize, f32, f64, bool);

impl NativeArg for Arg<'_, str> {
    fn __trace_value(&self) -> Value {
        Value::Str(self.0.to_owned().into())
    }
}

impl NativeArg for Arg<'_, String> {
    fn __trace_value(&self) -> Value {
        Value::Str(self.0.clone().into())
    }
}

impl NativeArg for Arg<'_, std::borrow::Cow<'_, str>> {
    fn __trace_value(&self) -> Value {
        Value::Str(self.0.to_string().into())
    }
}

impl<T: ?Sized> NativeArg for Arg<'_, &T>
where
    for<'x> Arg<'x, T>: NativeArg,
{
    fn __trace_value(&self) -> Value {
        Arg(*self.0).__trace_value()
    }
}

impl<T: ?Sized> NativeArg for Arg<'_, &mut T>
where
    for<'x> Arg<'x, T>: NativeArg,
{
    fn __trace_value(&self) -> Value {
        Arg(&**self.0).__trace_value()
    }
}

/// The fallback: values recorded through their `Debug` text.
pub trait DebugArg<'a, T: ?Sized> {
    /// Defers the `Debug` requirement to [`Debugged::__into_tag_value`],
    /// where a missing implementation gets an error that names `skip`.
    fn __trace_value(&self) -> Debugged<'a, T>;
}

impl<'a, T: ?Sized> DebugArg<'a, T> for &Arg<'a, T> {
    fn __trace_value(&self) -> Debugged<'a, T> {
        Debugged(self.0)
    }
}

/// A value to be recorded through `Debug`.
pub struct Debugged<'a, T: ?Sized>(&'a T);

impl<T: ?Sized> Debugged<'_, T> {
    /// The `Debug` text as a tag value.
    pub fn __into_tag_value(self) -> Value
    where
        T: Recordable,
    {
        Value::Str(self.0.debug_text().into())
    }
}

/// Types `#[traced]` can record through `Debug`; the bound is spelled with
/// this trait so that a type without `Debug` gets an error naming `skip`.
#[diagnostic::on_unimplemented(
    message = "`#[traced]` cannot record `{Self}` as a tag",
    label = "not recordable: leave it out with `skip(…)`",
    note = "integers, floats, bools and strings are recorded as they are, other types through `Debug`; implement `Debug` or record a field of it with `tags(…)`"
)]
pub trait Recordable {
    /// The `Debug` text.
    fn debug_text(&self) -> String;
}

impl<T: ?Sized + Debug> Recordable for T {
    fn debug_text(&self) -> String {
        // A `Debug` that panics must not fail the traced call.
        catch_unwind(AssertUnwindSafe(|| format!("{self:?}")))
            .unwrap_or_else(|_| "<Debug panicked>".to_owned())
    }
}

/// Lets a native [`Value`] go through the same final call as a `Debugged`.
pub trait TagValue {
    /// The value itself.
    fn __into_tag_value(self) -> Value;
}

impl TagValue for Value {
    #[inline]
    fn __into_tag_value(self) -> Value {
        self
    }
}

/// Where a method's computed name is kept (one per method).
pub type NameCache = OnceLock<&'static str>;
