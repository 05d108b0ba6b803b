//! Not public API: the helpers `#[traced]` expands to. Anything here may
//! change in any release; user code must not name it.

use std::fmt::{Debug, Display};
use std::future::Future;
use std::sync::OnceLock;

pub use crate::span::SpanKind;
pub use crate::stack::OpenSpan;
pub use crate::value::Value;

use crate::future::Instrumented;
use crate::guard::SpanGuard;
use crate::span::Status;
use crate::stack::{self, SpanStart};

/// Opens the span of a traced function.
#[inline]
pub fn enter(name: &'static str, kind: SpanKind, root: bool) -> SpanGuard {
    SpanGuard::open(SpanStart {
        name: name.into(),
        kind,
        root,
    })
}

/// Adds a tag computed by generated code; called only while recording.
#[inline]
pub fn tag(guard: &SpanGuard, key: &'static str, value: Value) {
    guard.record(|span| span.tags.push((key.into(), value)));
}

/// Moves the span of an `async fn` into the future running its body.
pub fn instrument<F: Future>(
    guard: SpanGuard,
    future: F,
    observer: Option<fn(&mut OpenSpan, &F::Output)>,
) -> Instrumented<F> {
    let tracer = stack::current_tracer();
    Instrumented::new(future, guard.detach(), tracer, observer)
}

/// Shows a sync function's return value to `observer` before the span closes.
#[inline]
pub fn observe<T>(guard: &SpanGuard, value: T, observer: fn(&mut OpenSpan, &T)) -> T {
    guard.record(|span| observer(span, &value));
    value
}

/// `#[traced(err)]`: an `Err` becomes the span's error status with the
/// error's `Display` text.
pub fn record_err<T, E: Display>(span: &mut OpenSpan, result: &Result<T, E>) {
    if let Err(error) = result {
        span.status = Status::Error(error.to_string().into());
    }
}

/// `#[traced(ret)]`: records the return value as the tag `return`.
pub fn record_ret(span: &mut OpenSpan, value: Value) {
    span.tags.push(("return".into(), value));
}

/// The name `Type::method` for a method, from the path rustc gives a
/// function item declared inside it (`krate::module::Type::method::marker`,
/// or `<krate::Type as krate::Trait>::method::marker` in a trait impl).
/// Computed once per method and cached by the generated code.
pub fn method_name(marker_path: &'static str, cache: &'static NameCache) -> &'static str {
    cache.get_or_init(|| {
        let path = marker_path
            .rsplit_once("::")
            .map_or(marker_path, |(head, _)| head);
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
native!(
    i8, i16, i32, i64, i128, isize, u8, u16, u32, u64, u128, usize, f32, f64, bool
);

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
    /// Defers the `Debug` requirement to [`to_value`], where a missing
    /// implementation gets an error message that names `skip`.
    fn __trace_value(&self) -> Debugged<'a, T>;
}

impl<'a, T: ?Sized> DebugArg<'a, T> for &Arg<'a, T> {
    fn __trace_value(&self) -> Debugged<'a, T> {
        Debugged(self.0)
    }
}

/// A value to be recorded through `Debug`.
pub struct Debugged<'a, T: ?Sized>(&'a T);

/// What can become a tag value: a native value, or a `Debug` one.
#[diagnostic::on_unimplemented(
    message = "`#[traced]` cannot record this value as a tag: it has no tag type and does not implement `Debug`",
    label = "cannot be recorded",
    note = "leave the argument out with `skip(…)`, record another expression with `tags(…)`, or implement `Debug`"
)]
pub trait IntoTagValue {
    /// The tag value.
    fn into_tag_value(self) -> Value;
}

impl IntoTagValue for Value {
    #[inline]
    fn into_tag_value(self) -> Value {
        self
    }
}

impl<T: ?Sized + Debug> IntoTagValue for Debugged<'_, T> {
    fn into_tag_value(self) -> Value {
        Value::Str(format!("{:?}", self.0).into())
    }
}

/// Finishes the conversion started by `__trace_value`.
#[inline]
pub fn to_value(value: impl IntoTagValue) -> Value {
    value.into_tag_value()
}

/// Where a method's computed name is kept (one per method).
pub type NameCache = OnceLock<&'static str>;
