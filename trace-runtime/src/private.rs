//! Not public API: the helpers `#[traced]` expands to. Anything here may
//! change in any release; user code must not name it.

use std::borrow::Cow;
use std::convert::Infallible;
use std::fmt::{Debug, Display};
use std::future::Future;
use std::ops::ControlFlow;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::OnceLock;
use std::task::Poll;

pub use crate::record::Outcome;
pub use crate::span::SpanKind;
pub use crate::value::Value;

use crate::future::Instrumented;
use crate::guard::SpanGuard;
use crate::local;
use crate::span::Status;

/// Opens the span of a traced function.
#[inline]
pub fn enter(name: &'static str, kind: SpanKind, root: bool) -> SpanGuard {
    SpanGuard::open_named(name, kind, root)
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
    let span = guard.detach();
    // A span that records carries its tracer with its record; only one
    // that does not needs the future to hold the tracer for its polls.
    let tracer = match &span {
        Some(frame) if frame.carried_tracer().is_some() => None,
        _ => local::current_tracer(),
    };
    Instrumented::new(future, span, tracer, observer)
}

/// Moves the span of an `async fn` into the future running its body, which
/// the body awaits at once, right where it is made: the span stays on the
/// thread's stack, its record in the thread's buffer, until that first poll
/// ends (see [`Instrumented`]).
#[inline]
pub fn instrument_awaited<F: Future>(
    guard: SpanGuard,
    future: F,
    observer: Option<fn(&F::Output) -> Outcome>,
) -> Instrumented<F> {
    match guard.keep_entry() {
        Ok(span_id) => Instrumented::in_place(future, span_id, observer),
        Err(guard) => instrument(guard, future, observer),
    }
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
/// error's `Display` text. The bound, not the macro, decides what counts as
/// a `Result`, so type aliases and types spelled by a macro work.
pub fn record_err<R: ErrResult>(outcome: &mut Outcome, result: &R)
where
    R::Error: Display,
{
    if let Some(error) = result.__trace_error() {
        let text = catch_unwind(AssertUnwindSafe(|| error.to_string()))
            .unwrap_or_else(|_| "<Display panicked>".to_owned());
        outcome.set_status(Status::Error(text.into()));
    }
}

/// The return types `err` can read an error from.
#[diagnostic::on_unimplemented(
    message = "`err` needs a function that returns a `Result`; this one returns `{Self}`",
    label = "`err` records the error of a returned `Result`",
    note = "remove `err`, or return a `Result` (any alias of one works)"
)]
pub trait ErrResult {
    /// The error type.
    type Error;
    /// The error, if the value is one.
    fn __trace_error(&self) -> Option<&Self::Error>;
}

impl<T, E> ErrResult for Result<T, E> {
    type Error = E;
    #[inline]
    fn __trace_error(&self) -> Option<&E> {
        self.as_ref().err()
    }
}

impl<T, E> ErrResult for Poll<Result<T, E>> {
    type Error = E;
    #[inline]
    fn __trace_error(&self) -> Option<&E> {
        match self {
            Poll::Ready(Err(error)) => Some(error),
            _ => None,
        }
    }
}

impl<T, E> ErrResult for Poll<Option<Result<T, E>>> {
    type Error = E;
    #[inline]
    fn __trace_error(&self) -> Option<&E> {
        match self {
            Poll::Ready(Some(Err(error))) => Some(error),
            _ => None,
        }
    }
}

/// A fresh outcome, for the observer closures (named by absolute path so a
/// `#[no_implicit_prelude]` module needs no `Default` in scope).
#[inline]
pub fn outcome() -> Outcome {
    Outcome::default()
}

/// Runs a sync body that holds macro calls (whose `return` and `?` the
/// macro cannot rewrite in place) as a closure, so the observer sees every
/// exit. The `FnOnce` bound makes the closure own its captures, so the body
/// may still return borrows of its `&mut` arguments.
#[inline(always)]
pub fn call_once<R>(body: impl FnOnce() -> R) -> R {
    body()
}

/// What `x?` does before it returns, for the in-place rewrite of `?` under
/// `err` and `ret`: the types `?` works on in stable Rust.
pub trait Branch {
    /// The value `x?` evaluates to.
    type Output;
    /// What leaves the function.
    type Residual;
    /// Continue with the value, or break with the residual.
    fn __trace_branch(self) -> ControlFlow<Self::Residual, Self::Output>;
}

impl<T, E> Branch for Result<T, E> {
    type Output = T;
    type Residual = Result<Infallible, E>;
    #[inline]
    fn __trace_branch(self) -> ControlFlow<Self::Residual, T> {
        match self {
            Ok(value) => ControlFlow::Continue(value),
            Err(error) => ControlFlow::Break(Err(error)),
        }
    }
}

impl<T> Branch for Option<T> {
    type Output = T;
    type Residual = Option<Infallible>;
    #[inline]
    fn __trace_branch(self) -> ControlFlow<Self::Residual, T> {
        match self {
            Some(value) => ControlFlow::Continue(value),
            None => ControlFlow::Break(None),
        }
    }
}

impl<T, E> Branch for Poll<Result<T, E>> {
    type Output = Poll<T>;
    type Residual = Result<Infallible, E>;
    #[inline]
    fn __trace_branch(self) -> ControlFlow<Self::Residual, Poll<T>> {
        match self {
            Poll::Ready(Ok(value)) => ControlFlow::Continue(Poll::Ready(value)),
            Poll::Ready(Err(error)) => ControlFlow::Break(Err(error)),
            Poll::Pending => ControlFlow::Continue(Poll::Pending),
        }
    }
}

impl<T, E> Branch for Poll<Option<Result<T, E>>> {
    type Output = Poll<Option<T>>;
    type Residual = Result<Infallible, E>;
    #[inline]
    fn __trace_branch(self) -> ControlFlow<Self::Residual, Poll<Option<T>>> {
        match self {
            Poll::Ready(Some(Ok(value))) => ControlFlow::Continue(Poll::Ready(Some(value))),
            Poll::Ready(Some(Err(error))) => ControlFlow::Break(Err(error)),
            Poll::Ready(None) => ControlFlow::Continue(Poll::Ready(None)),
            Poll::Pending => ControlFlow::Continue(Poll::Pending),
        }
    }
}

impl<B, C> Branch for ControlFlow<B, C> {
    type Output = C;
    type Residual = ControlFlow<B, Infallible>;
    #[inline]
    fn __trace_branch(self) -> ControlFlow<Self::Residual, C> {
        match self {
            ControlFlow::Continue(value) => ControlFlow::Continue(value),
            ControlFlow::Break(value) => ControlFlow::Break(ControlFlow::Break(value)),
        }
    }
}

/// The function's return value built from what `?` broke with, as `?`
/// builds it (`From` converts the error).
#[diagnostic::on_unimplemented(
    message = "the `?` operator cannot return `{R}` from a function that returns `{Self}`",
    label = "this `?` leaves the function, which returns `{Self}`"
)]
pub trait FromResidual<R> {
    /// The return value.
    fn __trace_from_residual(residual: R) -> Self;
}

impl<T, E, F: From<E>> FromResidual<Result<Infallible, E>> for Result<T, F> {
    #[inline]
    fn __trace_from_residual(residual: Result<Infallible, E>) -> Self {
        match residual {
            Err(error) => Err(From::from(error)),
        }
    }
}

impl<T> FromResidual<Option<Infallible>> for Option<T> {
    #[inline]
    fn __trace_from_residual(_: Option<Infallible>) -> Self {
        None
    }
}

impl<T, E, F: From<E>> FromResidual<Result<Infallible, E>> for Poll<Result<T, F>> {
    #[inline]
    fn __trace_from_residual(residual: Result<Infallible, E>) -> Self {
        match residual {
            Err(error) => Poll::Ready(Err(From::from(error))),
        }
    }
}

impl<T, E, F: From<E>> FromResidual<Result<Infallible, E>> for Poll<Option<Result<T, F>>> {
    #[inline]
    fn __trace_from_residual(residual: Result<Infallible, E>) -> Self {
        match residual {
            Err(error) => Poll::Ready(Some(Err(From::from(error)))),
        }
    }
}

impl<B, C> FromResidual<ControlFlow<B, Infallible>> for ControlFlow<B, C> {
    #[inline]
    fn __trace_from_residual(residual: ControlFlow<B, Infallible>) -> Self {
        match residual {
            ControlFlow::Break(value) => ControlFlow::Break(value),
        }
    }
}

/// `#[traced(ret)]`: records the return value as the tag `return`.
pub fn record_ret(outcome: &mut Outcome, value: Value) {
    outcome.add_tag("return".into(), value);
}

/// The span name of a function outside a `#[traced]` impl block, from the
/// path rustc gives a function item declared inside it: `Type::method` for
/// an associated function (`krate::module::Type::method::marker`,
/// `<krate::Type as krate::Trait>::method::marker`,
/// `<dyn krate::Trait>::method::marker`), the bare name for a free function
/// (`krate::module::function::marker`). Types are told from modules by
/// their initial capital, as Rust's naming lints have it. Computed once per
/// function and cached by the generated code.
pub fn method_name(marker_path: &'static str, cache: &'static NameCache) -> &'static str {
    cache.get_or_init(|| {
        let name = function_name(marker_path);
        match name {
            Cow::Borrowed(name) => name,
            // Leaked once per function (the cache makes sure), to keep the
            // name a `&'static str` on every later call.
            Cow::Owned(name) => Box::leak(name.into_boxed_str()),
        }
    })
}

fn function_name(marker_path: &str) -> Cow<'_, str> {
    let mut path = marker_path.rsplit_once("::").map_or(marker_path, |(head, _)| head);
    // The body of an `async fn` is a closure as far as paths go.
    while let Some(outer) = path.strip_suffix("::{{closure}}") {
        path = outer;
    }
    let (owner, function) = split_last_segment(path);
    let function = function.strip_prefix("r#").unwrap_or(function);
    let owner = match owner.strip_prefix('<').and_then(|o| o.strip_suffix('>')) {
        // `<Type as Trait>` or `<dyn Trait>`.
        Some(qualified) => match qualified.split_once(" as ") {
            Some((ty, _)) => ty,
            None => qualified,
        },
        None => owner,
    };
    let (dyn_prefix, owner) = match owner.strip_prefix("dyn ") {
        Some(bounds) => ("dyn ", bounds.split(" + ").next().unwrap_or(bounds)),
        None => ("", owner),
    };
    let owner = owner.split('<').next().unwrap_or(owner);
    let ty = owner.rsplit("::").next().unwrap_or(owner);
    let ty = ty.strip_prefix("r#").unwrap_or(ty);
    if ty.starts_with(|c: char| c.is_uppercase()) {
        Cow::Owned(format!("{dyn_prefix}{ty}::{function}"))
    } else {
        Cow::Borrowed(function)
    }
}

/// `(owner, last)` at the last `::` outside angle brackets.
fn split_last_segment(path: &str) -> (&str, &str) {
    let mut depth = 0usize;
    let bytes = path.as_bytes();
    let mut i = bytes.len();
    while i > 0 {
        i -= 1;
        match bytes[i] {
            b'>' => depth += 1,
            b'<' => depth = depth.saturating_sub(1),
            b':' if depth == 0 && i > 0 && bytes[i - 1] == b':' => {
                return (&path[..i - 1], &path[i + 1..]);
            }
            _ => {}
        }
    }
    ("", path)
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

#[cfg(test)]
mod tests {
    use super::function_name;

    #[test]
    fn function_names_from_marker_paths() {
        let cases = [
            ("app::handlers::load::__trace_marker", "load"),
            ("app::load::{{closure}}::__trace_marker", "load"),
            ("app::Wrapper::new::__trace_marker", "Wrapper::new"),
            ("app::Wrapper<u32>::new::__trace_marker", "Wrapper::new"),
            ("<app::Store as app::Backend>::get::__trace_marker", "Store::get"),
            ("<app::Store<T> as app::Backend<T>>::get::__trace_marker", "Store::get"),
            ("<dyn app::Shown>::shown::__trace_marker", "dyn Shown::shown"),
            ("<dyn app::Shown + Send>::shown::__trace_marker", "dyn Shown::shown"),
            ("app::r#match::__trace_marker", "match"),
            ("app::Wrapper::r#type::__trace_marker", "Wrapper::type"),
            ("app::Backend::get::__trace_marker", "Backend::get"),
        ];
        for (path, name) in cases {
            assert_eq!(function_name(path), name, "{path}");
        }
    }
}
