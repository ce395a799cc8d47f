//! `#[miniloop::test]`: an `async fn` test run on a fresh miniloop event loop, optionally under
//! a watchdog and under many seeded task orders. Use it through `miniloop::test`; what each
//! option does is documented there, and the runner it calls is `miniloop::explore`.
//!
//! ```text
//! #[miniloop::test]                                   // one run, the default order
//! #[miniloop::test(timeout = "5s")]                   // fail, naming pending tasks, after 5 s
//! #[miniloop::test(schedules = 500)]                  // 500 seeded orders, stop at the first failure
//! #[miniloop::test(seed = 0x9e3779b97f4a7c15)]        // replay one order
//! #[miniloop::test(start_paused = true)]              // a virtual clock: sleeps end at once
//! ```
//!
//! The function is kept as it was written, renamed, inside a plain `#[test] fn` that hands it
//! to `miniloop::explore::__run_test`. Its tokens are moved, not re-printed, so a compiler
//! error or a panic inside it points at the line the user wrote.
//!
//! # Rules this crate keeps
//! - Every mistake is a `compile_error!` at the token that is wrong, saying what to write
//!   instead; the macro never panics.
//! - The parsing that can be tested without a compiler (`Options`, `parse_millis`) is plain
//!   Rust over strings, with unit tests.

use proc_macro::{Delimiter, Group, Ident, Literal, Punct, Spacing, Span, TokenStream, TokenTree};

/// Runs an `async fn` test on a fresh miniloop event loop. See `miniloop::test`.
#[proc_macro_attribute]
pub fn test(attr: TokenStream, item: TokenStream) -> TokenStream {
    match expand(attr, item) {
        Ok(tokens) => tokens,
        Err((span, message)) => compile_error(span, &message),
    }
}

type Error = (Span, String);

/// The options, as written, checked.
#[derive(Debug, Default, PartialEq, Eq)]
struct Options {
    timeout_millis: Option<u64>,
    schedules: Option<u64>,
    seed: Option<u64>,
    start_paused: bool,
}

const KNOWN: &str = "`timeout = \"5s\"`, `schedules = 500`, `seed = 0x…`, `start_paused = true`";

impl Options {
    /// Takes one `name = value` pair; `value` as written (a string literal with its quotes).
    fn set(&mut self, name: &str, value: &str) -> Result<(), String> {
        match name {
            "timeout" => {
                let Some(text) = value.strip_prefix('"').and_then(|v| v.strip_suffix('"')) else {
                    return Err(format!(
                        "`timeout` takes a string such as \"5s\" or \"500ms\", not `{value}`"
                    ));
                };
                self.timeout_millis = Some(parse_millis(text)?);
            }
            "schedules" => {
                let schedules = parse_integer(value).map_err(|_| {
                    format!("`schedules` takes a number of task orders to try, such as 500, not `{value}`")
                })?;
                if schedules == 0 {
                    return Err("`schedules = 0` would run nothing; try 100 or more".to_string());
                }
                self.schedules = Some(schedules);
            }
            "seed" => {
                let seed = parse_integer(value).map_err(|_| {
                    format!("`seed` takes the 64-bit seed the explorer printed, such as 0x2a, not `{value}`")
                })?;
                self.seed = Some(seed);
            }
            "start_paused" => {
                self.start_paused = match value {
                    "true" => true,
                    "false" => false,
                    _ => {
                        return Err(format!(
                            "`start_paused` is `true` or `false`, not `{value}`"
                        ))
                    }
                };
            }
            other => return Err(format!("unknown option `{other}`; the options are {KNOWN}")),
        }
        if self.seed.is_some() && self.schedules.is_some() {
            return Err(
                "give `seed` (replay one order) or `schedules` (try many), not both".into(),
            );
        }
        Ok(())
    }

    /// The `Explorer` expression these options make.
    fn explorer(&self) -> String {
        let mut explorer = String::from("::miniloop::explore::Explorer::new()");
        if let Some(schedules) = self.schedules {
            explorer += &format!(".schedules({schedules}u64)");
        }
        if let Some(seed) = self.seed {
            explorer += &format!(".seed({seed:#x}u64)");
        }
        if self.start_paused {
            explorer += ".start_paused(true)";
        }
        if let Some(millis) = self.timeout_millis {
            explorer += &format!(".timeout(::core::time::Duration::from_millis({millis}u64))");
        }
        explorer
    }
}

/// `"5s"`, `"1.5s"`, `"500ms"`, `"2m"` in milliseconds.
fn parse_millis(text: &str) -> Result<u64, String> {
    let bad = || {
        format!("`timeout = \"{text}\"` is not a duration: write a number and a unit, ms, s or m (\"500ms\", \"5s\", \"2m\")")
    };
    let (number, per_unit) = if let Some(number) = text.strip_suffix("ms") {
        (number, 1.0)
    } else if let Some(number) = text.strip_suffix('s') {
        (number, 1_000.0)
    } else if let Some(number) = text.strip_suffix('m') {
        (number, 60_000.0)
    } else {
        return Err(bad());
    };
    let number: f64 = number.trim().parse().map_err(|_| bad())?;
    let millis = number * per_unit;
    if !(millis >= 1.0 && millis < u64::MAX as f64) {
        return Err(format!(
            "`timeout = \"{text}\"` must be at least 1ms, so that a test has time to run"
        ));
    }
    Ok(millis as u64)
}

/// An integer literal as written: decimal or `0x` hex, `_` allowed, a `u64` suffix allowed.
fn parse_integer(text: &str) -> Result<u64, ()> {
    let text = text.trim_end_matches("u64").replace('_', "");
    match text.strip_prefix("0x") {
        Some(hex) => u64::from_str_radix(hex, 16).map_err(drop),
        None => text.parse().map_err(drop),
    }
}

fn expand(attr: TokenStream, item: TokenStream) -> Result<TokenStream, Error> {
    let options = parse_options(attr)?;
    let mut tokens = item.into_iter().peekable();
    // Outer attributes (`#[should_panic]`, doc comments) stay on the test function.
    let mut attributes = TokenStream::new();
    while let Some(TokenTree::Punct(hash)) = tokens.peek() {
        if hash.as_char() != '#' {
            break;
        }
        attributes.extend(tokens.next());
        match tokens.next() {
            Some(group @ TokenTree::Group(_)) => attributes.extend([group]),
            other => return Err((span_of(other.as_ref()), "an attribute `#[...]`".into())),
        }
    }
    // A visibility means nothing on a test; it is dropped.
    if matches!(tokens.peek(), Some(TokenTree::Ident(ident)) if ident.to_string() == "pub") {
        tokens.next();
        if matches!(tokens.peek(), Some(TokenTree::Group(group)) if group.delimiter() == Delimiter::Parenthesis)
        {
            tokens.next();
        }
    }
    let not_async = "`#[miniloop::test]` goes on an `async fn` with no arguments: \
                     `#[miniloop::test] async fn name() { ... }`";
    match tokens.next() {
        Some(TokenTree::Ident(ident)) if ident.to_string() == "async" => {}
        other => return Err((span_of(other.as_ref()), not_async.into())),
    }
    match tokens.next() {
        Some(TokenTree::Ident(ident)) if ident.to_string() == "fn" => {}
        other => return Err((span_of(other.as_ref()), not_async.into())),
    }
    let name = match tokens.next() {
        Some(TokenTree::Ident(name)) => name,
        other => return Err((span_of(other.as_ref()), not_async.into())),
    };
    match tokens.next() {
        Some(TokenTree::Group(arguments)) if arguments.delimiter() == Delimiter::Parenthesis => {
            if !arguments.stream().is_empty() {
                let message = "a test takes no arguments: the loop runs it as it is";
                return Err((arguments.span(), message.into()));
            }
        }
        other => {
            let message = "a test is not generic and takes no arguments: `async fn name()`";
            return Err((span_of(other.as_ref()), message.into()));
        }
    }
    // What is left: `-> Type` (optional), then the body.
    let mut rest: Vec<TokenTree> = tokens.collect();
    let body = match rest.pop() {
        Some(TokenTree::Group(body)) if body.delimiter() == Delimiter::Brace => body,
        other => return Err((span_of(other.as_ref()), "the test's body `{ ... }`".into())),
    };
    let body_name = Ident::new("__miniloop_test_body", Span::call_site());

    let mut inner = TokenStream::new();
    inner.extend(tokens_of("async fn"));
    inner.extend([TokenTree::Ident(body_name.clone()), empty_parens()]);
    inner.extend(rest);
    inner.extend([TokenTree::Group(body)]);
    inner.extend(tokens_of("::miniloop::explore::__run_test"));
    let mut arguments = tokens_of(&options.explorer());
    arguments.extend([comma()]);
    arguments.extend(tokens_of("::core::module_path!()"));
    arguments.extend([
        comma(),
        TokenTree::Literal(Literal::string(&name.to_string())),
    ]);
    arguments.extend([comma(), TokenTree::Ident(body_name)]);
    inner.extend([TokenTree::Group(Group::new(
        Delimiter::Parenthesis,
        arguments,
    ))]);

    let mut output = attributes;
    output.extend(tokens_of("#[::core::prelude::v1::test] fn"));
    output.extend([TokenTree::Ident(name), empty_parens()]);
    output.extend([TokenTree::Group(Group::new(Delimiter::Brace, inner))]);
    Ok(output)
}

/// `name = value, ...`, checked as it is read.
fn parse_options(attr: TokenStream) -> Result<Options, Error> {
    let mut options = Options::default();
    let mut tokens = attr.into_iter().peekable();
    while let Some(token) = tokens.next() {
        let TokenTree::Ident(name) = token else {
            let message = format!("expected an option such as {KNOWN}");
            return Err((token.span(), message));
        };
        match tokens.next() {
            Some(TokenTree::Punct(equals)) if equals.as_char() == '=' => {}
            other => {
                let message = format!("write the option as `{name} = value`");
                return Err((span_of(other.as_ref()), message));
            }
        }
        let value = match tokens.next() {
            Some(value @ (TokenTree::Literal(_) | TokenTree::Ident(_))) => value,
            other => {
                let message = format!("`{name} =` needs a value");
                return Err((span_of(other.as_ref()), message));
            }
        };
        options
            .set(&name.to_string(), &value.to_string())
            .map_err(|message| (value.span(), message))?;
        match tokens.next() {
            None => break,
            Some(TokenTree::Punct(comma)) if comma.as_char() == ',' => {}
            Some(other) => return Err((other.span(), "options are separated by commas".into())),
        }
    }
    Ok(options)
}

fn span_of(token: Option<&TokenTree>) -> Span {
    token.map_or_else(Span::call_site, TokenTree::span)
}

fn tokens_of(code: &str) -> TokenStream {
    code.parse().expect("the macro's own code parses")
}

fn empty_parens() -> TokenTree {
    TokenTree::Group(Group::new(Delimiter::Parenthesis, TokenStream::new()))
}

fn comma() -> TokenTree {
    TokenTree::Punct(Punct::new(',', Spacing::Alone))
}

/// `compile_error!("message")` at `span`.
fn compile_error(span: Span, message: &str) -> TokenStream {
    let mut message = Literal::string(message);
    message.set_span(span);
    let mut output = tokens_of("::core::compile_error!");
    let mut arguments = TokenStream::new();
    arguments.extend([TokenTree::Literal(message)]);
    let mut group = Group::new(Delimiter::Parenthesis, arguments);
    group.set_span(span);
    output.extend([
        TokenTree::Group(group),
        TokenTree::Punct(Punct::new(';', Spacing::Alone)),
    ]);
    output
}

#[cfg(test)]
mod tests {
    use super::{parse_millis, Options};

    #[test]
    fn durations_are_read_in_milliseconds() {
        assert_eq!(parse_millis("5s"), Ok(5_000));
        assert_eq!(parse_millis("1.5s"), Ok(1_500));
        assert_eq!(parse_millis("250ms"), Ok(250));
        assert_eq!(parse_millis("2m"), Ok(120_000));
        let error = parse_millis("5").unwrap_err();
        assert!(error.contains("a number and a unit, ms, s or m"), "{error}");
        assert!(parse_millis("fives").is_err());
        assert!(parse_millis("0s").unwrap_err().contains("at least 1ms"));
    }

    #[test]
    fn options_are_checked_one_by_one() {
        let mut options = Options::default();
        options.set("timeout", "\"5s\"").unwrap();
        options.set("schedules", "1_000").unwrap();
        assert_eq!(options.timeout_millis, Some(5_000));
        assert_eq!(options.schedules, Some(1_000));
        let both = options.set("seed", "0x2a").unwrap_err();
        assert!(both.contains("not both"), "{both}");

        let mut options = Options::default();
        options.set("seed", "0xDEAD_BEEFu64").unwrap();
        assert_eq!(options.seed, Some(0xdead_beef));
        assert!(options.explorer().ends_with(".seed(0xdeadbeefu64)"));

        let unknown = Options::default().set("sead", "1").unwrap_err();
        assert!(unknown.contains("unknown option `sead`"), "{unknown}");
        assert!(unknown.contains("`schedules = 500`"), "{unknown}");
        let unquoted = Options::default().set("timeout", "5").unwrap_err();
        assert!(
            unquoted.contains("takes a string such as \"5s\""),
            "{unquoted}"
        );
        let none = Options::default().set("schedules", "0").unwrap_err();
        assert!(none.contains("would run nothing"), "{none}");
        let mut paused = Options::default();
        paused.set("start_paused", "true").unwrap();
        assert!(paused.explorer().ends_with(".start_paused(true)"));
        let maybe = Options::default().set("start_paused", "yes").unwrap_err();
        assert!(maybe.contains("`true` or `false`"), "{maybe}");
        let word = Options::default().set("seed", "lucky").unwrap_err();
        assert!(word.contains("64-bit seed the explorer printed"), "{word}");
    }

    #[test]
    fn no_options_is_one_run_in_the_default_order() {
        assert_eq!(
            Options::default().explorer(),
            "::miniloop::explore::Explorer::new()"
        );
    }
}
