//! The identity search language of a session's `scope.criteria`:
//! `department:Finance AND (location:"New York" OR NOT name:Jo*)`.
//!
//! ```text
//! query   := or EOF
//! or      := and ("OR" and)*
//! and     := unary (["AND"] unary)*        (juxtaposition is AND)
//! unary   := "NOT" unary | primary
//! primary := "(" or ")" | field ":" value
//! value   := "quoted \" text" | word      (`*` and `?` are wildcards in both)
//! ```
//! Keywords are case-insensitive whole words.

use winnow::ascii::{multispace0, multispace1};
use winnow::combinator::{alt, cut_err, delimited, eof, not, preceded, repeat, terminated};
use winnow::error::{ContextError, ErrMode};
use winnow::prelude::*;
use winnow::token::take_while;

use crate::error::FilterError;
use crate::grammar::{self, combine, describe, expected};
use crate::limits::{self, nested};

/// A parsed search.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Search {
    /// Every operand holds.
    And(Vec<Search>),
    /// At least one operand holds.
    Or(Vec<Search>),
    /// The operand does not hold.
    Not(Box<Search>),
    /// `field:value`.
    Term {
        /// The field as written (`department`, `attributes.location`, `access.id`, ...).
        field: String,
        /// The value, escapes resolved; `*` and `?` are wildcards.
        value: String,
    },
}

impl Search {
    /// How many `field:value` terms it holds.
    pub fn terms(&self) -> usize {
        match self {
            Search::And(operands) | Search::Or(operands) => {
                operands.iter().map(Search::terms).sum()
            }
            Search::Not(inner) => inner.terms(),
            Search::Term { .. } => 1,
        }
    }
}

/// Parses a search query; the error names the position and what was expected there.
pub fn parse_search(text: &str) -> Result<Search, FilterError> {
    if text.trim().is_empty() {
        return Err(FilterError::criteria("the query is empty"));
    }
    limits::check_length(text, "query").map_err(FilterError::criteria)?;
    let search =
        limits::fresh(|| terminated(or_expr, (multispace0, end)).parse(text)).map_err(|err| {
            let offset = err.offset();
            FilterError::criteria(describe(
                err.inner(),
                text,
                offset,
                "a `field:value` term",
                "the end of the query",
            ))
        })?;
    limits::check_terms(search.terms(), "query").map_err(FilterError::criteria)?;
    Ok(search)
}

fn end(input: &mut &str) -> ModalResult<()> {
    cut_err(eof.void())
        .context(expected("AND, OR, `)` or the end of the query"))
        .parse_next(input)
}

fn word_char(c: char) -> bool {
    !c.is_whitespace() && !matches!(c, '(' | ')' | '"' | ':')
}

fn keyword<'i>(word: &'static str) -> impl Parser<&'i str, (), ErrMode<ContextError>> {
    grammar::keyword(word, word_char)
}

fn or_expr(input: &mut &str) -> ModalResult<Search> {
    let first = and_expr.parse_next(input)?;
    let rest: Vec<Search> =
        repeat(0.., preceded(keyword("OR"), cut_err(and_expr))).parse_next(input)?;
    Ok(combine(first, rest, Search::Or))
}

fn and_expr(input: &mut &str) -> ModalResult<Search> {
    let first = unary.parse_next(input)?;
    let rest: Vec<Search> = repeat(
        0..,
        alt((
            preceded(keyword("AND"), cut_err(unary)),
            // Juxtaposition: another operand that is not OR or the end.
            preceded((multispace1, not(keyword("OR")), not(')')), unary),
        )),
    )
    .parse_next(input)?;
    Ok(combine(first, rest, Search::And))
}

fn unary(input: &mut &str) -> ModalResult<Search> {
    alt((
        preceded(keyword("NOT"), cut_err(nested(unary))).map(|inner| Search::Not(Box::new(inner))),
        primary,
    ))
    .parse_next(input)
}

fn primary(input: &mut &str) -> ModalResult<Search> {
    preceded(
        multispace0,
        alt((
            delimited(
                '(',
                cut_err(nested(or_expr)),
                cut_err(preceded(multispace0, ')'))
                    .context(expected("`)` closing the parenthesis")),
            ),
            term,
        )),
    )
    .context(expected("a `field:value` term, NOT or `(`"))
    .parse_next(input)
}

fn term(input: &mut &str) -> ModalResult<Search> {
    let field = take_while(1.., |c: char| {
        c.is_alphanumeric() || matches!(c, '_' | '.' | '-')
    })
    .verify(|f: &str| {
        !["AND", "OR", "NOT"]
            .iter()
            .any(|k| k.eq_ignore_ascii_case(f))
    })
    .parse_next(input)?;
    let field = field.to_owned();
    cut_err(':'.context(expected("`:` after the field name (terms are field:value)")))
        .parse_next(input)?;
    let value = cut_err(alt((quoted, take_while(1.., word_char).map(str::to_owned))))
        .context(expected(
            "a value after `:` (a word or a \"quoted phrase\")",
        ))
        .parse_next(input)?;
    Ok(Search::Term { field, value })
}

fn quoted(input: &mut &str) -> ModalResult<String> {
    grammar::quoted(
        "`\\\"` or `\\\\` (the only escapes in a phrase)",
        "the closing `\"` of the phrase",
    )
    .parse_next(input)
}

/// A search value as an `ILIKE` pattern: `*` → `%`, `?` → `_`, everything else literal.
pub fn like_pattern(value: &str) -> String {
    let mut pattern = String::with_capacity(value.len() + 2);
    for c in value.chars() {
        match c {
            '*' => pattern.push('%'),
            '?' => pattern.push('_'),
            '%' | '_' | '\\' => {
                pattern.push('\\');
                pattern.push(c);
            }
            c => pattern.push(c),
        }
    }
    pattern
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::{like_pattern, parse_search, Search};

    fn t(field: &str, value: &str) -> Search {
        Search::Term {
            field: field.to_owned(),
            value: value.to_owned(),
        }
    }

    #[test]
    fn queries_parse_with_precedence_and_implicit_and() {
        assert_eq!(
            parse_search("department:Finance").unwrap(),
            t("department", "Finance")
        );
        assert_eq!(
            parse_search("department:Finance AND location:\"New York\"").unwrap(),
            Search::And(vec![t("department", "Finance"), t("location", "New York")])
        );
        assert_eq!(
            parse_search("a:1 b:2 OR c:3").unwrap(),
            Search::Or(vec![
                Search::And(vec![t("a", "1"), t("b", "2")]),
                t("c", "3")
            ])
        );
        assert_eq!(
            parse_search("NOT a:1 and (b:2 or c:3*)").unwrap(),
            Search::And(vec![
                Search::Not(Box::new(t("a", "1"))),
                Search::Or(vec![t("b", "2"), t("c", "3*")])
            ])
        );
        assert_eq!(
            parse_search("access.id:\"e \\\"1\\\"\"").unwrap(),
            t("access.id", "e \"1\"")
        );
        assert_eq!(
            parse_search("attributes.location:Mi*").unwrap(),
            t("attributes.location", "Mi*")
        );
    }

    #[test]
    fn malformed_queries_point_at_the_bad_token() {
        for (text, message) in [
            ("", "the query is empty"),
            (
                "Finance",
                "expected `:` after the field name (terms are field:value) at position 7",
            ),
            ("department:", "expected a value after `:`"),
            ("department:\"Fin", "the closing `\"` of the phrase"),
            ("(a:1", "`)` closing the parenthesis"),
            (
                "a:1)",
                "expected AND, OR, `)` or the end of the query at position 3",
            ),
            (
                "a:1 AND",
                "expected a `field:value` term, NOT or `(` at position 7",
            ),
            (
                "OR a:1",
                "expected a `field:value` term, NOT or `(` at position 0",
            ),
            ("a:1 OR OR b:2", "at position 7, found `OR b:2`"),
            (":x", "expected a `field:value` term"),
        ] {
            let err = parse_search(text).unwrap_err();
            assert_eq!(err.parameter, "scope.criteria");
            assert!(
                err.message.contains(message),
                "{text:?}: {:?} lacks {message:?}",
                err.message
            );
        }
    }

    #[test]
    fn wildcards_become_like_patterns_and_like_characters_stay_literal() {
        assert_eq!(like_pattern("Fin*"), "Fin%");
        assert_eq!(like_pattern("J?n"), "J_n");
        assert_eq!(like_pattern("100%_off\\"), "100\\%\\_off\\\\");
    }
}
