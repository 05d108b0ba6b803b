//! Finds the exits of a sync function body, for `err` and `ret`.
//!
//! A closure around the body would see every exit, but it changes what the
//! body may return (a borrow of a `&mut` argument cannot escape an `FnMut`
//! closure). So, when it can, the macro rewrites each exit in place:
//! `return x` and the tail expression pass their value through the
//! observer, and `x?` becomes the `match` it stands for (through
//! `__private::Branch`, so it works on every type `?` accepts), with its
//! early exit passing through the same `return`. Closures, async blocks and
//! nested items have exits of their own and are left alone.
//!
//! The tokens inside a macro call cannot be rewritten (`bail!`, `ensure!`,
//! a `?` inside `try_log!(…)`), so a body that calls any macro not known to
//! stay inside the function ([`holds_macro_exits`]) is instead run as a
//! closure passed to `__private::call_once`: its `FnOnce` bound lets the
//! closure own its captures, so borrowed returns still compile.

use proc_macro2::{Span, TokenStream};
use quote::{quote, quote_spanned};
use syn::visit::{self, Visit};
use syn::visit_mut::{self, VisitMut};
use syn::{Block, Expr, Ident, Path, Stmt};

pub(crate) fn rewrite(block: &mut Block, exit: &dyn Fn(TokenStream) -> TokenStream, krate: &Path) {
    let mut rewriter = Rewriter { exit, krate };
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
    krate: &'a Path,
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
            Expr::Try(try_expr) => {
                // Input:  x?
                // Output: match Branch::branch(x) {
                //             Continue(v) => v,
                //             Break(r) => return observe(FromResidual::from_residual(r)),
                //         }
                let krate = self.krate;
                let operand = &try_expr.expr;
                let value = Ident::new("__trace_continue", Span::mixed_site());
                // Spanned on the `?`: a type it cannot return is blamed there.
                let question = try_expr.question_token.span;
                let residual =
                    Ident::new("__trace_residual", Span::mixed_site().located_at(question));
                let from_residual = crate::expand::respan(quote!(#krate), question);
                let exit = (self.exit)(quote_spanned! {question=>
                    #from_residual::__private::FromResidual::__trace_from_residual(#residual)
                });
                *expr = syn::parse_quote! {
                    match #krate::__private::Branch::__trace_branch(#operand) {
                        ::core::ops::ControlFlow::Continue(#value) => #value,
                        ::core::ops::ControlFlow::Break(#residual) => return #exit,
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

/// Standard macros that never leave the function they are called in.
const STAYING_MACROS: &[&str] = &[
    "assert",
    "assert_eq",
    "assert_ne",
    "cfg",
    "column",
    "concat",
    "dbg",
    "debug_assert",
    "debug_assert_eq",
    "debug_assert_ne",
    "env",
    "eprint",
    "eprintln",
    "file",
    "format",
    "format_args",
    "include_bytes",
    "include_str",
    "line",
    "matches",
    "module_path",
    "option_env",
    "panic",
    "print",
    "println",
    "stringify",
    "todo",
    "unimplemented",
    "unreachable",
    "vec",
    "write",
    "writeln",
];

/// Whether the body calls a macro that might `return` or `?` out of the
/// function (any macro but the standard ones above), outside closures,
/// async blocks and nested items.
pub(crate) fn holds_macro_exits(block: &Block) -> bool {
    struct Finder(bool);
    impl Visit<'_> for Finder {
        fn visit_macro(&mut self, mac: &syn::Macro) {
            let name = mac.path.segments.last().map(|s| s.ident.to_string());
            if !name.is_some_and(|n| STAYING_MACROS.contains(&n.as_str())) {
                self.0 = true;
            }
        }
        fn visit_expr_closure(&mut self, _: &syn::ExprClosure) {}
        fn visit_expr_async(&mut self, _: &syn::ExprAsync) {}
        fn visit_item(&mut self, _: &syn::Item) {}
    }
    let mut finder = Finder(false);
    finder.visit_block(block);
    finder.0
}

/// Tail expressions that never produce a value: wrapping them would only
/// add an unreachable call.
fn diverges(expr: &Expr) -> bool {
    match expr {
        Expr::Return(_) | Expr::Break(_) | Expr::Continue(_) => true,
        Expr::Loop(looped) => !breaks_out(looped),
        Expr::Macro(mac) => mac.mac.path.segments.last().is_some_and(|s| {
            matches!(
                s.ident.to_string().as_str(),
                "panic" | "todo" | "unimplemented" | "unreachable"
            )
        }),
        _ => false,
    }
}

/// Whether a `loop` has a `break` of its own (`break v` gives the loop a
/// value). A macro call inside might hold one, so it counts as one.
fn breaks_out(looped: &syn::ExprLoop) -> bool {
    struct Finder<'a> {
        label: Option<&'a syn::Lifetime>,
        /// Inner loops an unlabelled `break` would leave instead.
        depth: usize,
        found: bool,
    }
    impl<'ast> Visit<'ast> for Finder<'_> {
        fn visit_expr_break(&mut self, brk: &'ast syn::ExprBreak) {
            match &brk.label {
                Some(label) => self.found |= self.label.is_some_and(|l| l.ident == label.ident),
                None => self.found |= self.depth == 0,
            }
            visit::visit_expr_break(self, brk);
        }
        fn visit_expr_loop(&mut self, inner: &'ast syn::ExprLoop) {
            self.depth += 1;
            visit::visit_expr_loop(self, inner);
            self.depth -= 1;
        }
        fn visit_expr_while(&mut self, inner: &'ast syn::ExprWhile) {
            self.depth += 1;
            visit::visit_expr_while(self, inner);
            self.depth -= 1;
        }
        fn visit_expr_for_loop(&mut self, inner: &'ast syn::ExprForLoop) {
            self.depth += 1;
            visit::visit_expr_for_loop(self, inner);
            self.depth -= 1;
        }
        fn visit_macro(&mut self, _: &'ast syn::Macro) {
            self.found = true;
        }
        fn visit_expr_closure(&mut self, _: &'ast syn::ExprClosure) {}
        fn visit_expr_async(&mut self, _: &'ast syn::ExprAsync) {}
        fn visit_item(&mut self, _: &'ast syn::Item) {}
    }
    let mut finder =
        Finder { label: looped.label.as_ref().map(|l| &l.name), depth: 0, found: false };
    finder.visit_block(&looped.body);
    finder.found
}
