//! `#[traced]` on an `impl` block: every method gets a span named
//! `Type::method`, unless it opts out with `#[traced(off)]`. A method's own
//! `#[traced(…)]` is merged with the block's options (the method's win).
//!
//! A method's `#[cfg_attr(predicate, traced(…))]` reaches this macro
//! unexpanded (the compiler expands it only after the block's attribute),
//! so the method is written twice: once under `#[cfg(predicate)]` with
//! those options, once under `#[cfg(not(predicate))]` without them.

use proc_macro2::TokenStream;
use quote::{ToTokens, quote};
use syn::ext::IdentExt;
use syn::punctuated::Punctuated;
use syn::{Attribute, ImplItem, ImplItemFn, ItemFn, ItemImpl, Meta, Token, Type};

use crate::attr::{self, Options};
use crate::check::{self, Site};
use crate::errors::Errors;
use crate::expand;

pub(crate) fn expand(mut block: ItemImpl, options: &Options, errors: &mut Errors) -> TokenStream {
    check::impl_options(options, errors);
    let impl_type = type_name(&block.self_ty);
    let mut items = Vec::with_capacity(block.items.len());
    for item in std::mem::take(&mut block.items) {
        let ImplItem::Fn(mut method) = item else {
            items.push(item);
            continue;
        };
        let own = take_traced_attr(&mut method, errors);
        let variants = match own {
            Own::Always(method_options) => vec![(method, method_options)],
            Own::When { predicate, options: method_options, others } => {
                // Input:  #[cfg_attr(p, traced(…), other)] fn m() {}
                // Output: #[cfg(p)] #[other] fn m() { /* traced(…) */ }
                //         #[cfg(not(p))] fn m() { /* the block's options */ }
                let mut when = method.clone();
                when.attrs.push(syn::parse_quote!(#[cfg(#predicate)]));
                when.attrs
                    .extend(others.iter().map(|meta| -> Attribute { syn::parse_quote!(#[#meta]) }));
                method.attrs.push(syn::parse_quote!(#[cfg(not(#predicate))]));
                vec![(when, method_options), (method, Options::default())]
            }
        };
        for (method, method_options) in variants {
            items.push(ImplItem::Fn(instrument(
                method,
                method_options,
                &impl_type,
                options,
                errors,
            )));
        }
    }
    block.items = items;
    block.into_token_stream()
}

fn instrument(
    method: ImplItemFn,
    method_options: Options,
    impl_type: &str,
    options: &Options,
    errors: &mut Errors,
) -> ImplItemFn {
    if method_options.off.is_some() {
        return method;
    }
    let function = ItemFn {
        attrs: method.attrs.clone(),
        vis: method.vis.clone(),
        sig: method.sig.clone(),
        block: Box::new(method.block.clone()),
    };
    let site = Site { impl_type: Some(impl_type.to_owned()), impl_options: Some(options) };
    let plan = check::plan(method_options, &function, &site, errors);
    let expanded = expand::function(function, &plan);
    match syn::parse2::<ImplItemFn>(expanded) {
        Ok(rewritten) => ImplItemFn { defaultness: method.defaultness, ..rewritten },
        Err(error) => {
            errors.add(error);
            method
        }
    }
}

/// A method's own `#[traced(…)]`.
enum Own {
    Always(Options),
    /// Inside `#[cfg_attr(predicate, traced(…), others…)]`.
    When {
        predicate: Box<Meta>,
        options: Options,
        others: Vec<Meta>,
    },
}

fn is_traced(path: &syn::Path) -> bool {
    path.segments.last().is_some_and(|s| s.ident == "traced")
}

fn meta_tokens(meta: &Meta) -> TokenStream {
    match meta {
        Meta::List(list) => list.tokens.clone(),
        _ => TokenStream::new(),
    }
}

/// Removes the method's own `#[traced(…)]` (so it does not expand twice)
/// and returns its options.
fn take_traced_attr(method: &mut ImplItemFn, errors: &mut Errors) -> Own {
    let mut own = Own::Always(Options::default());
    let mut found = false;
    let mut duplicate = |path: &syn::Path, errors: &mut Errors| {
        if found {
            errors.push(path.segments[0].ident.span(), "duplicate `#[traced]` on this method");
        }
        found = true;
    };
    method.attrs.retain(|attr| {
        if is_traced(attr.path()) {
            duplicate(attr.path(), errors);
            own = Own::Always(attr::parse(meta_tokens(&attr.meta), errors));
            return false;
        }
        if !attr.path().is_ident("cfg_attr") {
            return true;
        }
        let Ok(mut metas) = attr.parse_args_with(Punctuated::<Meta, Token![,]>::parse_terminated)
        else {
            return true;
        };
        if !metas.iter().skip(1).any(|meta| is_traced(meta.path())) {
            return true;
        }
        let mut metas = std::mem::take(&mut metas).into_iter();
        let Some(predicate) = metas.next() else { return true };
        let (traced, others): (Vec<Meta>, Vec<Meta>) = metas.partition(|m| is_traced(m.path()));
        for meta in &traced {
            duplicate(meta.path(), errors);
        }
        let options =
            traced.last().map(|m| attr::parse(meta_tokens(m), errors)).unwrap_or_default();
        own = Own::When { predicate: Box::new(predicate), options, others };
        false
    });
    own
}

/// `Type` in `impl Type`, `impl<T> Type<T>` and `impl Trait for Type`:
/// the last path segment, without generics; `dyn Trait` in `impl dyn Trait`.
fn type_name(ty: &Type) -> String {
    match ty {
        Type::Path(path) => path
            .path
            .segments
            .last()
            .map_or_else(|| quote!(#ty).to_string(), |s| s.ident.unraw().to_string()),
        Type::Reference(reference) => type_name(&reference.elem),
        Type::Paren(paren) => type_name(&paren.elem),
        Type::Group(group) => type_name(&group.elem),
        // `impl dyn Trait + Send`: named after the first trait, as the
        // runtime names a method of it outside a `#[traced]` block.
        Type::TraitObject(object) => object
            .bounds
            .iter()
            .find_map(|bound| match bound {
                syn::TypeParamBound::Trait(t) => t.path.segments.last(),
                _ => None,
            })
            .map_or_else(|| quote!(#ty).to_string(), |s| format!("dyn {}", s.ident.unraw())),
        other => quote!(#other).to_string().replace(' ', ""),
    }
}
