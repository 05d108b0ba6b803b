//! Validates options against the function they annotate and produces the
//! plan that expansion follows.

use proc_macro2::Span;
use syn::ext::IdentExt;
use syn::spanned::Spanned;
use syn::{Attribute, FnArg, Ident, ItemFn, Pat, Path, ReturnType};

use crate::attr::{Kind, Options, TagOption};
use crate::errors::Errors;

/// Everything expansion needs, already checked.
pub(crate) struct Plan {
    pub(crate) name: SpanName,
    pub(crate) kind: Kind,
    pub(crate) tags: Vec<TagOption>,
    /// Arguments to record, in declaration order.
    pub(crate) args: Vec<Binding>,
    /// Where `err` and `ret` were written (type errors point there).
    pub(crate) err: Option<Span>,
    pub(crate) ret: Option<Span>,
    pub(crate) root: bool,
    pub(crate) krate: Path,
}

pub(crate) enum SpanName {
    /// Known when the macro runs.
    Literal(String),
    /// A function outside a `#[traced]` impl block that has a receiver or
    /// names `Self`, so is an associated function: `Type::method`, as the
    /// compiler's path of the function shows.
    Path,
}

/// A name an argument list binds, with the `#[cfg]`s of its parameter (a
/// parameter compiled out is not recorded).
#[derive(Clone)]
pub(crate) struct Binding {
    pub(crate) ident: Ident,
    pub(crate) cfgs: Vec<Attribute>,
}

/// Where the function stands: alone, or in an `impl` block that `#[traced]`
/// annotates (whose type and block-wide options then apply).
pub(crate) struct Site<'a> {
    pub(crate) impl_type: Option<String>,
    pub(crate) impl_options: Option<&'a Options>,
}

pub(crate) fn plan(
    mut options: Options,
    function: &ItemFn,
    site: &Site<'_>,
    errors: &mut Errors,
) -> Plan {
    if let Some(block) = site.impl_options {
        inherit(&mut options, block);
    } else if let Some(off) = &options.off {
        errors.push(
            off.span(),
            "`off` opts a method out of a `#[traced]` impl block; here, remove `#[traced]` instead",
        );
    }
    let sig = &function.sig;
    if let Some(constness) = &sig.constness {
        let advice = if site.impl_type.is_some() {
            "; opt this method out of the impl block with `#[traced(off)]`"
        } else {
            ""
        };
        errors.push(
            constness.span,
            format!(
                "`#[traced]` cannot instrument a `const fn`: spans read the clock at run time{advice}"
            ),
        );
    }
    let bindings = argument_bindings(function);
    let args = recorded_args(&options, &bindings, errors);
    // Whether `err` has a `Result` to read is left to the type system (the
    // bound of `__private::record_err`): aliases and types a macro spells
    // are then accepted.
    if let (Some(ret), ReturnType::Default) = (&options.ret, &sig.output) {
        errors
            .push(ret.span(), "`ret` records the return value, but this function returns nothing");
    }
    let name = match (&options.name, &site.impl_type) {
        (Some(lit), _) => SpanName::Literal(lit.value()),
        (None, Some(ty)) => SpanName::Literal(format!("{ty}::{}", sig.ident.unraw())),
        // Only a function that can be associated with a type pays for the
        // name lookup (a nested function, a static, a `type_name` instance).
        (None, None) if sig.receiver().is_some() || names_self(quote::quote!(#sig)) => {
            SpanName::Path
        }
        (None, None) => SpanName::Literal(sig.ident.unraw().to_string()),
    };
    Plan {
        name,
        kind: options.kind.map_or(Kind::Internal, |(_, kind)| kind),
        tags: options.tags.map(|(_, tags)| tags).unwrap_or_default(),
        args,
        err: options.err.as_ref().map(Ident::span),
        ret: options.ret.as_ref().map(Ident::span),
        root: options.root.is_some(),
        krate: options.krate.unwrap_or_else(|| syn::parse_quote!(::trace_runtime)),
    }
}

/// Whether a signature names `Self`, which only an associated function can.
fn names_self(tokens: proc_macro2::TokenStream) -> bool {
    tokens.into_iter().any(|tree| match tree {
        proc_macro2::TokenTree::Ident(ident) => ident == "Self",
        proc_macro2::TokenTree::Group(group) => names_self(group.stream()),
        _ => false,
    })
}

/// Options set on the impl block apply to each method that does not set them.
fn inherit(options: &mut Options, block: &Options) {
    if options.kind.is_none() {
        options.kind.clone_from(&block.kind);
    }
    if options.args.is_none() {
        options.args.clone_from(&block.args);
    }
    if options.krate.is_none() {
        options.krate.clone_from(&block.krate);
    }
}

/// Checks the options an impl block may carry: those that make sense for
/// every method at once.
pub(crate) fn impl_options(options: &Options, errors: &mut Errors) {
    let per_method = [
        options.name.as_ref().map(|n| ("name", n.span())),
        options.tags.as_ref().map(|(k, _)| ("tags", k.span())),
        options.skip.as_ref().map(|(k, _)| ("skip", k.span())),
        options.err.as_ref().map(|k| ("err", k.span())),
        options.ret.as_ref().map(|k| ("ret", k.span())),
        options.root.as_ref().map(|k| ("root", k.span())),
        options.off.as_ref().map(|k| ("off", k.span())),
        options.args.as_ref().and_then(|(k, list)| list.as_ref().map(|_| ("args(…)", k.span()))),
    ];
    for (option, span) in per_method.into_iter().flatten() {
        errors.push(
            span,
            format!(
                "`{option}` applies to one method: put it on the method, not on the impl block"
            ),
        );
    }
}

/// The names an argument list binds, `self` included, in order.
fn argument_bindings(function: &ItemFn) -> Vec<Binding> {
    let mut bindings = Vec::new();
    for input in &function.sig.inputs {
        let (attrs, mut names) = match input {
            FnArg::Receiver(receiver) => {
                (&receiver.attrs, vec![Ident::new("self", receiver.self_token.span)])
            }
            FnArg::Typed(typed) => {
                let mut names = Vec::new();
                collect_pattern(&typed.pat, &mut names);
                (&typed.attrs, names)
            }
        };
        let cfgs: Vec<Attribute> =
            attrs.iter().filter(|a| a.path().is_ident("cfg")).cloned().collect();
        bindings.extend(names.drain(..).map(|ident| Binding { ident, cfgs: cfgs.clone() }));
    }
    bindings
}

fn collect_pattern(pat: &Pat, names: &mut Vec<Ident>) {
    match pat {
        Pat::Ident(ident) => {
            names.push(ident.ident.clone());
            if let Some((_, sub)) = &ident.subpat {
                collect_pattern(sub, names);
            }
        }
        Pat::Tuple(tuple) => tuple.elems.iter().for_each(|p| collect_pattern(p, names)),
        Pat::TupleStruct(tuple) => tuple.elems.iter().for_each(|p| collect_pattern(p, names)),
        Pat::Struct(st) => st.fields.iter().for_each(|f| collect_pattern(&f.pat, names)),
        Pat::Slice(slice) => slice.elems.iter().for_each(|p| collect_pattern(p, names)),
        Pat::Reference(reference) => collect_pattern(&reference.pat, names),
        Pat::Type(typed) => collect_pattern(&typed.pat, names),
        Pat::Paren(paren) => collect_pattern(&paren.pat, names),
        _ => {}
    }
}

fn recorded_args(options: &Options, bindings: &[Binding], errors: &mut Errors) -> Vec<Binding> {
    let known = |name: &Ident| bindings.iter().any(|b| &b.ident == name);
    let unknown = |names: &[Ident], errors: &mut Errors| {
        for name in names.iter().filter(|n| !known(n)) {
            let listed: Vec<String> = bindings.iter().map(|b| format!("`{}`", b.ident)).collect();
            let listed = if listed.is_empty() { "none".to_owned() } else { listed.join(", ") };
            errors.push(
                name.span(),
                format!("`{name}` is not an argument of this function (arguments: {listed})"),
            );
        }
    };
    match (&options.args, &options.skip) {
        (None, None) => Vec::new(),
        (None, Some((skip, _))) => {
            errors.push(
                skip.span(),
                "`skip` only removes arguments recorded by `args`; add `args` or remove `skip`",
            );
            Vec::new()
        }
        (Some((_, Some(_))), Some((skip, _))) => {
            errors.push(skip.span(), "`skip` with `args(…)` is contradictory: list only the arguments to record in `args(…)`");
            Vec::new()
        }
        (Some((_, Some(list))), None) => {
            unknown(list, errors);
            list.iter().filter_map(|n| bindings.iter().find(|b| &b.ident == n)).cloned().collect()
        }
        (Some((_, None)), skip) => {
            let skipped = skip.as_ref().map_or(&[][..], |(_, names)| names.as_slice());
            unknown(skipped, errors);
            // `self` is recorded only when named: most receivers are large.
            bindings
                .iter()
                .filter(|b| b.ident != "self" && !skipped.contains(&b.ident))
                .cloned()
                .collect()
        }
    }
}

/// The span to blame for an item `#[traced]` cannot instrument.
pub(crate) fn item_span(item: &syn::Item) -> Span {
    match item {
        syn::Item::Struct(s) => s.struct_token.span,
        syn::Item::Enum(e) => e.enum_token.span,
        syn::Item::Trait(t) => t.trait_token.span,
        syn::Item::Mod(m) => m.mod_token.span,
        syn::Item::Const(c) => c.const_token.span,
        syn::Item::Static(s) => s.static_token.span,
        other => other.span(),
    }
}
