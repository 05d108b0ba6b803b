//! Finds the exits of a sync function body, for `err` and `ret`.
//!
//! A closure around the body would see every exit, but it changes what the
//! body may return (a borrow of a `&mut` argument cannot escape an `FnMut`
//! closure). Instead each exit is rewritten in place: `return x` and the
//! tail expression pass their value through the observer, and in a function
//! returning `Result`, `x?` becomes the `match` it stands for, so its error
//! passes through the same `return`. Closures, async blocks and nested items
//! have exits of their own and are left alone; so are the tokens inside
//! macro invocations, which cannot be parsed.

use proc_macro2::{Span, TokenStream};
use quote::quote;
use syn::visit_mut::{self, VisitMut};
use syn::{Block, Expr, Ident, Stmt};

pub(crate) fn rewrite(
    block: &mut Block,
    exit: &dyn Fn(TokenStream) -> TokenStream,
    result_fn: bool,
) {
    let mut rewriter = Rewriter { exit, result_fn };
    rewriter.visit_block_mut(block);
    if let Some(Stmt::Expr(tail, None)) = block.stmts.last_mut()
        && !diverges(tail)
    {
        // A tail like `process::exit(1)` diverges in a way the macro cannot
        // see; the lint would then blame the generated call.
        let exit = exit(quote!(#tail));
        *block.stmts.last_mut().expect("just matched") = syn::parse_quote! {
            #[allow(unreachable_code)]
            return #exit;
        };
    }
}

struct Rewriter<'a> {
    exit: &'a dyn Fn(TokenStream) -> TokenStream,
    result_fn: bool,
}

impl VisitMut for Rewriter<'_> {
    fn visit_expr_mut(&mut self, expr: &mut Expr) {
        visit_mut::visit_expr_mut(self, expr);
        match expr {
            Expr::Return(ret) => {
                if let Some(value) = ret.expr.as_mut() {
                    **value = syn::parse2((self.exit)(quote!(#value))).expect("a call expression");
                }
            }
            Expr::Try(try_expr) if self.result_fn => {
                let operand = &try_expr.expr;
                let ok = Ident::new("__trace_ok", Span::mixed_site());
                let error = Ident::new("__trace_error", Span::mixed_site());
                let exit = (self.exit)(quote! {
                    ::core::result::Result::Err(::core::convert::From::from(#error))
                });
                *expr = syn::parse_quote! {
                    match #operand {
                        ::core::result::Result::Ok(#ok) => #ok,
                        ::core::result::Result::Err(#error) => return #exit,
                    }
                };
            }
            _ => {}
        }
    }

    // Their `return` and `?` belong to them, not to the traced function.
    fn visit_expr_closure_mut(&mut self, _: &mut syn::ExprClosure) {}
    fn visit_expr_async_mut(&mut self, _: &mut syn::ExprAsync) {}
    fn visit_item_mut(&mut self, _: &mut syn::Item) {}
}

/// Tail expressions that never produce a value: wrapping them would only
/// add an unreachable call.
fn diverges(expr: &Expr) -> bool {
    match expr {
        Expr::Return(_) | Expr::Loop(_) | Expr::Break(_) | Expr::Continue(_) => true,
        Expr::Macro(mac) => mac.mac.path.segments.last().is_some_and(|s| {
            matches!(
                s.ident.to_string().as_str(),
                "panic" | "todo" | "unimplemented" | "unreachable"
            )
        }),
        _ => false,
    }
}
