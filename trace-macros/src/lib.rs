//! The `#[traced]` attribute, re-exported and documented by `trace-runtime`.
//!
//! The macro only parses, checks and rewrites; everything that runs is in
//! `trace_runtime::__private`. Options are parsed into a typed model
//! (`attr`), checked against the function (`check`), then expanded
//! (`expand`, `exits`, `impl_block`); every error is collected and reported
//! in one run, next to the user's item left unchanged.

mod attr;
mod check;
mod errors;
mod exits;
mod expand;
mod impl_block;

use proc_macro::TokenStream;
use quote::ToTokens;

use crate::errors::Errors;

/// Instruments a function or every method of an `impl` block; see
/// `trace_runtime::traced` for the options.
#[proc_macro_attribute]
pub fn traced(args: TokenStream, item: TokenStream) -> TokenStream {
    let item = proc_macro2::TokenStream::from(item);
    let mut errors = Errors::default();
    let options = attr::parse(args.into(), &mut errors);
    let expanded = match syn::parse2::<syn::Item>(item.clone()) {
        Ok(syn::Item::Fn(function)) => {
            let site = check::Site { impl_type: None, impl_options: None };
            let plan = check::plan(options, &function, &site, &mut errors);
            expand::function(function, &plan)
        }
        Ok(syn::Item::Impl(block)) => impl_block::expand(block, &options, &mut errors),
        Ok(other) => {
            errors.push(
                check::item_span(&other),
                "`#[traced]` applies to functions and `impl` blocks",
            );
            other.into_token_stream()
        }
        // Not an item syn can parse (a trait method without a body, say):
        // leave it to rustc, which explains it better.
        Err(error) => {
            errors.add(error);
            item.clone()
        }
    };
    match errors.finish() {
        Ok(()) => expanded.into(),
        // The user's item, unchanged, keeps one mistake from cascading
        // into unrelated errors about the missing function.
        Err(compile_errors) => quote::quote!(#compile_errors #item).into(),
    }
}
