//! Parsing `#[traced(…)]` options into a typed model.
//!
//! Each comma-separated option is parsed on its own, so one malformed option
//! does not hide mistakes in the others: every error is collected.

use proc_macro2::{Delimiter, Span, TokenStream, TokenTree};
use syn::ext::IdentExt;
use syn::parse::{ParseStream, Parser};
use syn::punctuated::Punctuated;
use syn::{Expr, Ident, LitStr, Path, Token};

use crate::errors::Errors;

const GRAMMAR: &str = "expected one of: `name = \"…\"`, `kind = server|client|producer|consumer|internal`, \
`tags(key = expr, …)`, `args`, `args(a, b)`, `skip(a, b)`, `err`, `ret`, `root`, `crate = path`, `off`";

/// The options of one `#[traced(…)]` attribute.
#[derive(Default, Clone)]
pub(crate) struct Options {
    pub(crate) name: Option<LitStr>,
    pub(crate) kind: Option<(Ident, Kind)>,
    pub(crate) tags: Option<(Ident, Vec<TagOption>)>,
    pub(crate) args: Option<(Ident, Option<Vec<Ident>>)>,
    pub(crate) skip: Option<(Ident, Vec<Ident>)>,
    pub(crate) err: Option<Ident>,
    pub(crate) ret: Option<Ident>,
    pub(crate) root: Option<Ident>,
    pub(crate) krate: Option<Path>,
    pub(crate) off: Option<Ident>,
}

/// The span kinds `kind = …` accepts, named as in `SpanKind`.
#[derive(Clone, Copy)]
pub(crate) enum Kind {
    Internal,
    Server,
    Client,
    Producer,
    Consumer,
}

impl Kind {
    pub(crate) const fn variant(self) -> &'static str {
        match self {
            Self::Internal => "Internal",
            Self::Server => "Server",
            Self::Client => "Client",
            Self::Producer => "Producer",
            Self::Consumer => "Consumer",
        }
    }
}

/// `key = expr` inside `tags(…)`.
#[derive(Clone)]
pub(crate) struct TagOption {
    pub(crate) key: String,
    pub(crate) key_span: Span,
    pub(crate) value: Expr,
}

/// Parses the attribute's tokens, adding every mistake to `errors`.
pub(crate) fn parse(tokens: TokenStream, errors: &mut Errors) -> Options {
    let mut options = Options::default();
    for option in split_commas(tokens) {
        let mut trees = option.into_iter();
        let Some(first) = trees.next() else { continue };
        let TokenTree::Ident(keyword) = first else {
            let positional_name = match &first {
                TokenTree::Literal(lit) => syn::parse_str::<LitStr>(&lit.to_string()).ok(),
                _ => None,
            };
            match positional_name {
                Some(name) => errors.push(
                    first.span(),
                    format!("to name the span, write `name = \"{}\"`", name.value()),
                ),
                None => errors.push(first.span(), format!("expected an option; {GRAMMAR}")),
            }
            continue;
        };
        let rest: TokenStream = trees.collect();
        parse_option(&mut options, keyword, rest, errors);
    }
    options
}

/// Splits at top-level commas; commas inside groups stay in their group.
fn split_commas(tokens: TokenStream) -> Vec<Vec<TokenTree>> {
    let mut options = vec![Vec::new()];
    for tree in tokens {
        match &tree {
            TokenTree::Punct(p) if p.as_char() == ',' => options.push(Vec::new()),
            _ => options.last_mut().expect("never empty").push(tree),
        }
    }
    options.retain(|o| !o.is_empty());
    options
}

/// What follows an option keyword.
enum Shape {
    Bare,
    Assign(TokenStream),
    List(TokenStream),
}

fn shape(keyword: &Ident, rest: TokenStream, errors: &mut Errors) -> Option<Shape> {
    let mut trees = rest.clone().into_iter().peekable();
    match trees.next() {
        None => Some(Shape::Bare),
        Some(TokenTree::Punct(eq)) if eq.as_char() == '=' => {
            let value: TokenStream = trees.collect();
            if value.is_empty() {
                errors.push(eq.span(), format!("expected a value after `{keyword} =`"));
                return None;
            }
            Some(Shape::Assign(value))
        }
        Some(TokenTree::Group(group)) if group.delimiter() == Delimiter::Parenthesis => {
            if let Some(extra) = trees.next() {
                errors.push(extra.span(), "expected `,` between options");
                return None;
            }
            Some(Shape::List(group.stream()))
        }
        Some(other) => {
            errors.push(other.span(), format!("unexpected token after `{keyword}`; {GRAMMAR}"));
            None
        }
    }
}

fn parse_option(options: &mut Options, keyword: Ident, rest: TokenStream, errors: &mut Errors) {
    let Some(shape) = shape(&keyword, rest, errors) else {
        return;
    };
    let name = keyword.to_string();
    let expect = |wanted: &str, errors: &mut Errors| {
        errors.push(keyword.span(), format!("`{name}` is written {wanted}"));
    };
    match (name.as_str(), shape) {
        ("name", Shape::Assign(value)) => {
            if let Some(lit) = parse_name(value, errors) {
                set(&mut options.name, &keyword, lit, errors);
            }
        }
        ("kind", Shape::Assign(value)) => {
            if let Some(kind) = parse_kind(value, errors) {
                set(&mut options.kind, &keyword, (keyword.clone(), kind), errors);
            }
        }
        ("tags", Shape::List(list)) => {
            if let Some(tags) = parse_tags(list, errors) {
                set(&mut options.tags, &keyword, (keyword.clone(), tags), errors);
            }
        }
        ("args", Shape::Bare) => set(&mut options.args, &keyword, (keyword.clone(), None), errors),
        ("args", Shape::List(list)) => {
            if let Some(names) = parse_names(list, errors) {
                set(&mut options.args, &keyword, (keyword.clone(), Some(names)), errors);
            }
        }
        ("skip", Shape::List(list)) => {
            if let Some(names) = parse_names(list, errors) {
                set(&mut options.skip, &keyword, (keyword.clone(), names), errors);
            }
        }
        ("err", Shape::Bare) => set(&mut options.err, &keyword, keyword.clone(), errors),
        ("ret", Shape::Bare) => set(&mut options.ret, &keyword, keyword.clone(), errors),
        ("root", Shape::Bare) => set(&mut options.root, &keyword, keyword.clone(), errors),
        ("off", Shape::Bare) => set(&mut options.off, &keyword, keyword.clone(), errors),
        ("crate", Shape::Assign(value)) => match syn::parse2::<Path>(value) {
            Ok(path) => set(&mut options.krate, &keyword, path, errors),
            Err(error) => errors.push(
                error.span(),
                "expected a path to `trace_runtime`, as in `crate = my::reexport`",
            ),
        },
        ("name" | "kind" | "crate", _) => expect("as `option = value`", errors),
        ("tags", _) => expect("as `tags(key = expr, …)`", errors),
        ("skip", _) => expect("as `skip(a, b)` with argument names", errors),
        ("args", _) => expect("as `args` or `args(a, b)`", errors),
        ("err" | "ret" | "root" | "off", _) => expect("alone, without a value", errors),
        _ => errors.push(keyword.span(), unknown_option(&name)),
    }
}

/// The error for an option we do not have, with advice for the options of
/// `tracing`'s `#[instrument]` that users bring along.
fn unknown_option(name: &str) -> String {
    match name {
        "fields" => "unknown option `fields`; record values with `tags(key = expr, …)`".to_owned(),
        "skip_all" => "unknown option `skip_all`: arguments are recorded only with `args`, so \
            leaving `args` out already records none"
            .to_owned(),
        "level" => "unknown option `level`: spans have no level here; choose which traces \
            are recorded with a `Sampler` (`Tracer::builder(…).sampler(…)`), and leave a \
            method of a `#[traced]` impl block out with `#[traced(off)]`"
            .to_owned(),
        "target" => "unknown option `target`: spans have no target here; they carry the \
            tracer's service name (`Tracer::builder(\"service\")`), and which are recorded \
            is chosen with a `Sampler`"
            .to_owned(),
        _ => format!("unknown option `{name}`; {GRAMMAR}"),
    }
}

/// Stores an option, or reports it as a duplicate at its second keyword.
fn set<T>(slot: &mut Option<T>, keyword: &Ident, value: T, errors: &mut Errors) {
    if slot.is_some() {
        errors.push(keyword.span(), format!("duplicate option `{keyword}`"));
    } else {
        *slot = Some(value);
    }
}

fn parse_name(value: TokenStream, errors: &mut Errors) -> Option<LitStr> {
    match syn::parse2::<LitStr>(value.clone()) {
        Ok(lit) if lit.value().trim().is_empty() => {
            errors.push(lit.span(), "the span name must not be empty");
            None
        }
        Ok(lit) => Some(lit),
        Err(_) => {
            errors.spanned(&value, "`name` takes a string literal, as in `name = \"load user\"`");
            None
        }
    }
}

fn parse_kind(value: TokenStream, errors: &mut Errors) -> Option<Kind> {
    let Ok(ident) = syn::parse2::<Ident>(value.clone()) else {
        errors.spanned(&value, "`kind` takes one of: server, client, producer, consumer, internal");
        return None;
    };
    Some(match ident.to_string().as_str() {
        "internal" => Kind::Internal,
        "server" => Kind::Server,
        "client" => Kind::Client,
        "producer" => Kind::Producer,
        "consumer" => Kind::Consumer,
        other => {
            errors.push(
                ident.span(),
                format!("unknown span kind `{other}`; expected one of: server, client, producer, consumer, internal"),
            );
            return None;
        }
    })
}

fn parse_names(list: TokenStream, errors: &mut Errors) -> Option<Vec<Ident>> {
    let parser = |input: ParseStream<'_>| {
        Punctuated::<Ident, Token![,]>::parse_terminated_with(input, Ident::parse_any)
    };
    match parser.parse2(list.clone()) {
        Ok(names) if names.is_empty() => {
            errors.spanned(&list, "expected at least one argument name");
            None
        }
        Ok(names) => Some(names.into_iter().collect()),
        Err(error) => {
            errors.push(error.span(), "expected argument names separated by commas");
            None
        }
    }
}

fn parse_tags(list: TokenStream, errors: &mut Errors) -> Option<Vec<TagOption>> {
    let parser = |input: ParseStream<'_>| {
        Punctuated::<TagOption, Token![,]>::parse_terminated_with(input, parse_tag)
    };
    match parser.parse2(list) {
        Ok(tags) => {
            let tags: Vec<TagOption> = tags.into_iter().collect();
            for (i, tag) in tags.iter().enumerate() {
                if tags[..i].iter().any(|earlier| earlier.key == tag.key) {
                    errors.push(tag.key_span, format!("duplicate tag `{}`", tag.key));
                }
            }
            Some(tags)
        }
        Err(error) => {
            errors.push(
                error.span(),
                format!("malformed tag: {error}; write `tags(key = expr, \"dotted.key\" = expr)`"),
            );
            None
        }
    }
}

/// `key = expr`, where the key is an identifier, a dotted path of
/// identifiers (`http.method`) or a string literal.
fn parse_tag(input: ParseStream<'_>) -> syn::Result<TagOption> {
    let (key, key_span) = if input.peek(LitStr) {
        let lit: LitStr = input.parse()?;
        if lit.value().is_empty() {
            return Err(syn::Error::new(lit.span(), "the tag key is empty"));
        }
        (lit.value(), lit.span())
    } else {
        let first =
            Ident::parse_any(input).map_err(|e| syn::Error::new(e.span(), "expected a tag key"))?;
        let span = first.span();
        let mut key = first.unraw().to_string();
        while input.peek(Token![.]) {
            input.parse::<Token![.]>()?;
            key.push('.');
            key.push_str(&Ident::parse_any(input)?.unraw().to_string());
        }
        (key, span)
    };
    if input.is_empty() || input.peek(Token![,]) {
        return Err(syn::Error::new(key_span, format!("the tag `{key}` has no value")));
    }
    input.parse::<Token![=]>()?;
    let value: Expr = input.parse()?;
    Ok(TagOption { key, key_span, value })
}
