//! Pieces both query languages are built from: keywords, quoted strings, boolean operand lists
//! and the one-sentence error that points at the offending position.

use winnow::ascii::{multispace0, Caseless};
use winnow::combinator::{alt, cut_err, not, preceded, repeat, terminated};
use winnow::error::{ContextError, ErrMode, StrContext, StrContextValue};
use winnow::prelude::*;
use winnow::token::{none_of, one_of};

/// An "expected ..." label for winnow's context.
pub(crate) fn expected(what: &'static str) -> StrContext {
    StrContext::Expected(StrContextValue::Description(what))
}

/// A case-insensitive keyword after optional spaces, not followed by a `word_char`.
pub(crate) fn keyword<'i>(
    word: &'static str,
    word_char: fn(char) -> bool,
) -> impl Parser<&'i str, (), ErrMode<ContextError>> {
    preceded(
        multispace0,
        terminated(Caseless(word), not(one_of(word_char))),
    )
    .void()
}

/// A double-quoted string (`what` names it in messages); `\"` and `\\` are its only escapes.
pub(crate) fn quoted<'i>(
    what: &'static str,
    closing: &'static str,
) -> impl Parser<&'i str, String, ErrMode<ContextError>> {
    preceded(
        '"',
        cut_err(terminated(
            repeat(
                0..,
                alt((
                    preceded('\\', cut_err(one_of(['"', '\\'])).context(expected(what))),
                    none_of(['"', '\\']),
                )),
            )
            .fold(String::new, |mut text, c| {
                text.push(c);
                text
            }),
            '"'.context(expected(closing)),
        )),
    )
}

/// `first` alone, or joined with `rest` by `join` (`And`/`Or`).
pub(crate) fn combine<T>(first: T, rest: Vec<T>, join: fn(Vec<T>) -> T) -> T {
    if rest.is_empty() {
        first
    } else {
        let mut all = Vec::with_capacity(rest.len() + 1);
        all.push(first);
        all.extend(rest);
        join(all)
    }
}

/// Turns a winnow error at `offset` of `text` into one sentence: what was expected there (or
/// `fallback`) and what was found (`end` names the end of the input).
pub(crate) fn describe(
    error: &ContextError,
    text: &str,
    offset: usize,
    fallback: &str,
    end: &str,
) -> String {
    let what = error
        .context()
        .find_map(|context| match context {
            StrContext::Expected(StrContextValue::Description(what)) => Some((*what).to_owned()),
            StrContext::Expected(value) => Some(value.to_string()),
            _ => None,
        })
        .unwrap_or_else(|| fallback.to_owned());
    let rest = text.get(offset..).unwrap_or("");
    let found = if rest.is_empty() {
        end.to_owned()
    } else {
        format!("`{}`", rest.chars().take(20).collect::<String>())
    };
    format!("expected {what} at position {offset}, found {found}")
}
