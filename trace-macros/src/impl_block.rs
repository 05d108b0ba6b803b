//! `#[traced]` on an `impl` block: every method gets a span named
//! `Type::method`, unless it opts out with `#[traced(off)]`. A method's own
//! `#[traced(…)]` is merged with the block's options (the method's win).

use proc_macro2::TokenStream;
use quote::{ToTokens, quote};
use syn::{ImplItem, ImplItemFn, ItemFn, ItemImpl, Type};

use crate::attr::{self, Options};
use crate::check::{self, Site};
use crate::errors::Errors;
use crate::expand;

pub(crate) fn expand(mut block: ItemImpl, options: &Options, errors: &mut Errors) -> TokenStream {
    check::impl_options(options, errors);
    let impl_type = type_name(&block.self_ty);
    for item in &mut block.items {
        let ImplItem::Fn(method) = item else { continue };
        let method_options = take_traced_attr(method, errors);
        if method_options.off.is_some() {
            continue;
        }
        let function = ItemFn {
            attrs: method.attrs.clone(),
            vis: method.vis.clone(),
            sig: method.sig.clone(),
            block: Box::new(method.block.clone()),
        };
        let site = Site { impl_type: Some(impl_type.clone()), impl_options: Some(options) };
        let plan = check::plan(method_options, &function, &site, errors);
        let expanded = expand::function(function, &plan);
        match syn::parse2::<ImplItemFn>(expanded) {
            Ok(rewritten) => *method = ImplItemFn { defaultness: method.defaultness, ..rewritten },
            Err(error) => errors.add(error),
        }
    }
    block.into_token_stream()
}

/// Removes the method's own `#[traced(…)]` (so it does not expand twice)
/// and returns its options.
fn take_traced_attr(method: &mut ImplItemFn, errors: &mut Errors) -> Options {
    let mut options = Options::default();
    let mut found = false;
    method.attrs.retain(|attr| {
        if attr.path().segments.last().is_none_or(|s| s.ident != "traced") {
            return true;
        }
        if found {
            errors
                .push(attr.path().segments[0].ident.span(), "duplicate `#[traced]` on this method");
        }
        found = true;
        let tokens = match &attr.meta {
            syn::Meta::List(list) => list.tokens.clone(),
            _ => TokenStream::new(),
        };
        options = attr::parse(tokens, errors);
        false
    });
    options
}

/// `Type` in `impl Type`, `impl<T> Type<T>` and `impl Trait for Type`:
/// the last path segment, without generics.
fn type_name(ty: &Type) -> String {
    match ty {
        Type::Path(path) => path
            .path
            .segments
            .last()
            .map_or_else(|| quote!(#ty).to_string(), |s| s.ident.to_string()),
        Type::Reference(reference) => type_name(&reference.elem),
        other => quote!(#other).to_string().replace(' ', ""),
    }
}
