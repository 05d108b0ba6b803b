//! Code generation: rewrites a function so its body runs inside a span.
//!
//! The generated code is a few calls into `trace_runtime::__private`; the
//! user's signature and body tokens are kept as they are, so lints and type
//! errors point at user code. Generated locals use `Span::mixed_site()`, so
//! the body can neither see nor shadow them.

use proc_macro2::{Span, TokenStream};
use quote::{quote, quote_spanned};
use syn::ext::IdentExt;
use syn::spanned::Spanned;
use syn::{AttrStyle, Block, Expr, Ident, ItemFn, Stmt};

use crate::check::{Plan, SpanName};
use crate::exits;

pub(crate) fn function(function: ItemFn, plan: &Plan) -> TokenStream {
    let ItemFn { attrs, vis, sig, block } = function;
    let (inner_attrs, outer_attrs): (Vec<_>, Vec<_>) =
        attrs.into_iter().partition(|attr| matches!(attr.style, AttrStyle::Inner(_)));
    let krate = &plan.krate;
    let guard = Ident::new("__trace_guard", Span::mixed_site());
    let name = span_name(plan);
    let kind = Ident::new(plan.kind.variant(), Span::call_site());
    let root = plan.root;
    let record = record_tags(plan, &guard);
    let enter = quote! {
        let #guard = #krate::__private::enter(#name, #krate::__private::SpanKind::#kind, #root);
        #record
    };
    let optional_observer = || {
        observer(plan).map_or_else(
            || quote!(::core::option::Option::None),
            |observe| quote!(::core::option::Option::Some(#observe)),
        )
    };

    let body = if sig.asyncness.is_some() {
        let observer = optional_observer();
        // Input:  async fn f(..) -> R { body }
        // Output: async fn f(..) -> R {
        //             { enter; instrument_awaited(guard, async move { body }, ..) }.await
        //         }
        // The guard lives in a block that ends before the `.await`, so the
        // future stays `Send` (the guard itself is tied to its thread). The
        // `.await` polls the future at once, on this thread, as
        // `instrument_awaited` requires.
        quote! {
            {
                #enter
                #krate::__private::instrument_awaited(#guard, async move #block, #observer)
            }
            .await
        }
    } else if let Some((stmts, tail)) = future_tail(&block) {
        // Input:  fn f(..) -> impl Future { ..; async move { body } }
        //         (or `Box::pin(async move { body })`, what `#[async_trait]` writes)
        // Output: fn f(..) -> impl Future { enter; ..; instrument(guard, async move { body }, ..) }
        // The span covers the future, as it does for an `async fn`.
        let observer = optional_observer();
        let tail =
            tail.wrap(|future| quote!(#krate::__private::instrument(#guard, #future, #observer)));
        quote!(#enter #(#stmts)* #tail)
    } else if let Some(observe) = observer(plan) {
        let value = Ident::new("__trace_value", Span::mixed_site());
        if exits::holds_macro_exits(&block) {
            // Input:  fn f(..) -> R { ..; bail!(..); .. }
            // Output: fn f(..) -> R { enter; let v = call_once(move || { .. }); observe(v) }
            // A macro's `return` or `?` cannot be rewritten in place; the
            // closure catches it (see `exits`).
            let stmts = &block.stmts;
            quote! {
                #enter
                let #value = #krate::__private::call_once(move || { #(#stmts)* });
                #krate::__private::observe(&#guard, #value, #observe)
            }
        } else {
            // Input:  fn f(..) -> R { ..; return x; ..; y? ..; tail }
            // Output: fn f(..) -> R { enter; { ..; return observe(x); ..; tail' } }
            // where each exit hands its value to the span before leaving.
            let mut block = block;
            let exit =
                |value: TokenStream| quote!(#krate::__private::observe(&#guard, #value, #observe));
            exits::rewrite(&mut block, &exit, krate);
            let stmts = &block.stmts;
            quote!(#enter #(#stmts)*)
        }
    } else {
        // The statements go straight after the span's: generated names are
        // mixed-site, so the body can neither see nor shadow them, and no
        // extra block changes drop order or trips `unused_braces`.
        let stmts = &block.stmts;
        quote!(#enter #(#stmts)*)
    };

    quote! {
        #(#outer_attrs)*
        #vis #sig {
            #(#inner_attrs)*
            #body
        }
    }
}

/// A sync body whose value is a future written in place: an `async` block,
/// or one passed to `Box::pin`.
enum FutureTail<'a> {
    Async(&'a syn::ExprAsync),
    BoxPin(&'a syn::ExprCall, &'a syn::ExprAsync),
}

impl FutureTail<'_> {
    fn wrap(&self, instrument: impl Fn(TokenStream) -> TokenStream) -> TokenStream {
        match self {
            Self::Async(future) => instrument(quote!(#future)),
            Self::BoxPin(call, future) => {
                let func = &call.func;
                let instrumented = instrument(quote!(#future));
                quote!(#func(#instrumented))
            }
        }
    }
}

fn future_tail(block: &Block) -> Option<(&[Stmt], FutureTail<'_>)> {
    let (Stmt::Expr(tail, None), stmts) = block.stmts.split_last()? else {
        return None;
    };
    let tail = match tail {
        Expr::Async(future) => FutureTail::Async(future),
        Expr::Call(call) if call.args.len() == 1 => {
            let Expr::Path(func) = &*call.func else { return None };
            let mut names = func.path.segments.iter().rev().map(|s| &s.ident);
            let boxed = names.next().is_some_and(|n| n == "pin")
                && names.next().is_some_and(|n| n == "Box");
            match call.args.first() {
                Some(Expr::Async(future)) if boxed => FutureTail::BoxPin(call, future),
                _ => return None,
            }
        }
        _ => return None,
    };
    Some((stmts, tail))
}

fn span_name(plan: &Plan) -> TokenStream {
    let krate = &plan.krate;
    match &plan.name {
        SpanName::Literal(name) => quote!(#name),
        SpanName::Path => {
            let marker = Ident::new("__trace_marker", Span::mixed_site());
            let cache = Ident::new("__TRACE_NAME", Span::mixed_site());
            quote! {{
                fn #marker() {}
                static #cache: #krate::__private::NameCache = #krate::__private::NameCache::new();
                #krate::__private::method_name(::core::any::type_name_of_val(&#marker), &#cache)
            }}
        }
    }
}

/// Tags from `tags(…)` and `args`, evaluated only when the span records.
fn record_tags(plan: &Plan, guard: &Ident) -> TokenStream {
    if plan.tags.is_empty() && plan.args.is_empty() {
        return TokenStream::new();
    }
    let krate = &plan.krate;
    let tag = |key: &str, value: TokenStream, span: Span| {
        quote_spanned! {span=>
            (#key, (&#krate::__private::Arg(&#value)).__trace_value().__into_tag_value())
        }
    };
    let tags = plan.tags.iter().map(|t| match &t.value {
        // A string literal is kept as a `&'static str`, never copied.
        syn::Expr::Lit(syn::ExprLit { lit: syn::Lit::Str(lit), .. }) => {
            let key = &t.key;
            quote!((#key, #krate::__private::Value::from(#lit)))
        }
        value => tag(&t.key, quote!(#value), value.span()),
    });
    let args = plan.args.iter().map(|arg| {
        let ident = &arg.ident;
        let cfgs = &arg.cfgs;
        let tag = tag(&ident.unraw().to_string(), quote!(#ident), ident.span());
        quote!(#(#cfgs)* #tag)
    });
    // Input:  #[traced(tags(k = expr), args)]
    // Output: if guard.is_recording() { record_tags(&guard, [("k", value(expr)), …]); }
    // The expressions are not evaluated for unsampled spans, and are
    // evaluated before `record_tags` takes the thread's span state, so they
    // may call traced code themselves.
    quote! {
        if #guard.is_recording() {
            #[allow(unused_imports)]
            use #krate::__private::{DebugArg as _, NativeArg as _, TagValue as _};
            #krate::__private::record_tags(&#guard, [#(#tags,)* #(#args,)*]);
        }
    }
}

/// The closure that shows a return value to the span, for `err` and `ret`.
fn observer(plan: &Plan) -> Option<TokenStream> {
    if plan.err.is_none() && plan.ret.is_none() {
        return None;
    }
    let krate = &plan.krate;
    let outcome = Ident::new("__trace_outcome", Span::mixed_site());
    let value = Ident::new("__trace_value", Span::mixed_site());
    let err = plan.err.map(|span| {
        // Spanned on `err`, path included: a return type that is no
        // `Result` is blamed there.
        let krate = respan(quote!(#krate), span);
        quote_spanned!(span=> #krate::__private::record_err(&mut #outcome, #value);)
    });
    let ret = plan.ret.map(|_| {
        quote! {
            #[allow(unused_imports)]
            use #krate::__private::{DebugArg as _, NativeArg as _, TagValue as _};
            #krate::__private::record_ret(
                &mut #outcome,
                (&#krate::__private::Arg(#value)).__trace_value().__into_tag_value(),
            );
        }
    });
    // Input:  #[traced(err, ret)]
    // Output: |value| { let mut outcome = Outcome::default(); record_err(..); record_ret(..); outcome }
    Some(quote! {
        |#value| -> #krate::__private::Outcome {
            let mut #outcome = #krate::__private::outcome();
            #err
            #ret
            #outcome
        }
    })
}

/// The same tokens with `span` (a path named by the user resolves alike).
pub(crate) fn respan(tokens: TokenStream, span: Span) -> TokenStream {
    tokens
        .into_iter()
        .map(|mut tree| {
            if let proc_macro2::TokenTree::Group(group) = &tree {
                let mut inner =
                    proc_macro2::Group::new(group.delimiter(), respan(group.stream(), span));
                inner.set_span(span);
                tree = proc_macro2::TokenTree::Group(inner);
            } else {
                tree.set_span(span);
            }
            tree
        })
        .collect()
}
