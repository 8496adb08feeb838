//! Size limits both query languages enforce while parsing, so that no input can overflow the
//! parser's stack, exhaust memory or become a statement PostgreSQL cannot plan.
//!
//! The parsers are recursive descent: every `(` and every `not` is a nested call. Depth is
//! therefore counted *while* parsing (a guard around the recursive rules) and parsing stops at
//! the first level too deep, before the stack can grow any further; length is checked before
//! parsing starts and the number of comparisons after (a long input is already refused).

use std::cell::Cell;

use winnow::error::{AddContext, ContextError, ErrMode};
use winnow::prelude::*;
use winnow::stream::Stream;

use crate::grammar::expected;

/// The longest filter or criteria accepted, in bytes.
pub const MAX_LENGTH: usize = 10_000;
/// The deepest nesting of parentheses and `not` accepted.
pub const MAX_DEPTH: usize = 32;
/// The most comparisons (terms) one query may hold.
pub const MAX_TERMS: usize = 256;
/// The most values all of a filter's `in` lists may hold together.
pub const MAX_VALUES: usize = 1_000;

thread_local! {
    /// Nesting of the parse running on this thread (parsing never yields or crosses threads).
    static DEPTH: Cell<usize> = const { Cell::new(0) };
}

/// Runs `parse` with the depth counter at zero, restoring it afterwards.
pub(crate) fn fresh<T>(parse: impl FnOnce() -> T) -> T {
    let outer = DEPTH.with(|depth| depth.replace(0));
    let result = parse();
    DEPTH.with(|depth| depth.set(outer));
    result
}

/// `inner` one level deeper; past [`MAX_DEPTH`] a hard error at the current position.
pub(crate) fn nested<'i, O>(
    mut inner: impl Parser<&'i str, O, ErrMode<ContextError>>,
) -> impl Parser<&'i str, O, ErrMode<ContextError>> {
    move |input: &mut &'i str| {
        let depth = DEPTH.with(|depth| {
            let next = depth.get() + 1;
            depth.set(next);
            next
        });
        let result = if depth > MAX_DEPTH {
            let start = input.checkpoint();
            Err(ErrMode::Cut(ContextError::new().add_context(
                input,
                &start,
                expected("at most 32 levels of parentheses and negations, not deeper nesting"),
            )))
        } else {
            inner.parse_next(input)
        };
        DEPTH.with(|depth| depth.set(depth.get() - 1));
        result
    }
}

/// The length check done before parsing; `what` names the language ("filter", "query").
pub(crate) fn check_length(text: &str, what: &str) -> Result<(), String> {
    if text.len() > MAX_LENGTH {
        return Err(format!(
            "the {what} is {} bytes long; at most {MAX_LENGTH} are accepted",
            text.len()
        ));
    }
    if text.contains('\0') {
        return Err(format!("the {what} contains a NUL character"));
    }
    Ok(())
}

/// The term-count check done after parsing.
pub(crate) fn check_terms(terms: usize, what: &str) -> Result<(), String> {
    if terms > MAX_TERMS {
        return Err(format!(
            "the {what} has {terms} comparisons; at most {MAX_TERMS} are accepted"
        ));
    }
    Ok(())
}
