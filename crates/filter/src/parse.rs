//! The filter grammar, with winnow.
//!
//! ```text
//! filter     := or EOF
//! or         := and ("or" and)*
//! and        := not ("and" not)*
//! not        := "not" not | primary
//! primary    := "(" or ")" | comparison
//! comparison := field ("pr" | "isnull" | "in" "(" value ("," value)* ")" | binop value)
//! value      := "quoted \" string" | true | false | number | ISO date[-time]
//! ```
//! Keywords are case-insensitive; `not` binds tighter than `and`, `and` tighter than `or`.

use chrono::{DateTime, FixedOffset, NaiveDate};
use winnow::ascii::multispace0;
use winnow::combinator::{alt, cut_err, delimited, eof, preceded, repeat, terminated};
use winnow::error::{AddContext, ContextError, ErrMode};
use winnow::prelude::*;
use winnow::token::{one_of, take_while};

use crate::ast::{Filter, Op, Value};
use crate::error::FilterError;
use crate::grammar::{self, combine, describe, expected};
use crate::limits::{self, nested};

/// Parses a `filters` value.
pub fn parse(text: &str) -> Result<Filter, FilterError> {
    if text.trim().is_empty() {
        return Err(FilterError::filters("the filter is empty"));
    }
    limits::check_length(text, "filter").map_err(FilterError::filters)?;
    let filter =
        limits::fresh(|| terminated(or_expr, (multispace0, end)).parse(text)).map_err(|err| {
            let offset = err.offset();
            FilterError::filters(describe(
                err.inner(),
                text,
                offset,
                "a valid filter",
                "the end of the filter",
            ))
        })?;
    let (terms, values) = filter.size();
    limits::check_terms(terms, "filter").map_err(FilterError::filters)?;
    if values > limits::MAX_VALUES {
        return Err(FilterError::filters(format!(
            "the filter's `in` lists hold {values} values; at most {} are accepted",
            limits::MAX_VALUES
        )));
    }
    Ok(filter)
}

/// The end of the input, or something that cannot follow a complete expression.
fn end(input: &mut &str) -> ModalResult<()> {
    cut_err(eof.void())
        .context(expected("`and`, `or`, `)` or the end of the filter"))
        .parse_next(input)
}

fn word_char(c: char) -> bool {
    c.is_alphanumeric() || c == '_' || c == '.'
}

fn keyword<'i>(word: &'static str) -> impl Parser<&'i str, (), ErrMode<ContextError>> {
    grammar::keyword(word, word_char)
}

fn or_expr(input: &mut &str) -> ModalResult<Filter> {
    let first = and_expr.parse_next(input)?;
    let rest: Vec<Filter> =
        repeat(0.., preceded(keyword("or"), cut_err(and_expr))).parse_next(input)?;
    Ok(combine(first, rest, Filter::Or))
}

fn and_expr(input: &mut &str) -> ModalResult<Filter> {
    let first = not_expr.parse_next(input)?;
    let rest: Vec<Filter> =
        repeat(0.., preceded(keyword("and"), cut_err(not_expr))).parse_next(input)?;
    Ok(combine(first, rest, Filter::And))
}

fn not_expr(input: &mut &str) -> ModalResult<Filter> {
    alt((
        preceded(keyword("not"), cut_err(nested(not_expr)))
            .map(|inner| Filter::Not(Box::new(inner))),
        primary,
    ))
    .parse_next(input)
}

fn primary(input: &mut &str) -> ModalResult<Filter> {
    preceded(
        multispace0,
        alt((
            delimited(
                '(',
                cut_err(nested(or_expr)),
                cut_err(preceded(multispace0, ')'))
                    .context(expected("`)` closing the parenthesis")),
            ),
            comparison,
        )),
    )
    .context(expected("a field name, `not` or `(`"))
    .parse_next(input)
}

fn field<'i>(input: &mut &'i str) -> ModalResult<&'i str> {
    (
        one_of(|c: char| c.is_alphabetic() || c == '_'),
        take_while(0.., word_char),
    )
        .take()
        // `and`, `or` and `not` are never field names: `and x eq 1` is a missing operand.
        .verify(|name: &str| {
            !["and", "or", "not"]
                .iter()
                .any(|k| k.eq_ignore_ascii_case(name))
        })
        .parse_next(input)
}

fn operator(input: &mut &str) -> ModalResult<Op> {
    let word = preceded(multispace0, take_while(1.., word_char)).parse_next(input)?;
    Op::ALL
        .into_iter()
        .find(|op| op.keyword().eq_ignore_ascii_case(word))
        .ok_or_else(|| ErrMode::Backtrack(ContextError::new()))
}

fn comparison(input: &mut &str) -> ModalResult<Filter> {
    let name = field.parse_next(input)?.to_owned();
    let start = input.checkpoint();
    let op = match operator.parse_next(input) {
        Ok(op) => op,
        Err(_) => {
            // Point at the word that should have been an operator.
            input.reset(&start);
            multispace0.parse_next(input)?;
            return Err(ErrMode::Cut(ContextError::new().add_context(
                input,
                &input.checkpoint(),
                expected("an operator (eq, ne, sw, co, in, ge, gt, le, lt, pr or isnull) after the field"),
            )));
        }
    };
    let filter = match op {
        Op::Pr => Filter::Present { field: name },
        Op::IsNull => Filter::IsNull { field: name },
        Op::In => {
            let (first, rest): (Value, Vec<Value>) = cut_err(delimited(
                (multispace0, '(').context(expected("`(` starting the list of `in`")),
                (
                    preceded(multispace0, value),
                    repeat(
                        0..,
                        preceded((multispace0, ','), cut_err(preceded(multispace0, value))),
                    ),
                ),
                (multispace0, ')').context(expected("`,` or `)` in the list of `in`")),
            ))
            .parse_next(input)?;
            let mut values = Vec::with_capacity(rest.len() + 1);
            values.push(first);
            values.extend(rest);
            Filter::In {
                field: name,
                values,
            }
        }
        _ => {
            let value = cut_err(preceded(multispace0, value)).parse_next(input)?;
            Filter::Compare {
                field: name,
                op,
                value,
            }
        }
    };
    Ok(filter)
}

fn value(input: &mut &str) -> ModalResult<Value> {
    alt((quoted.map(Value::String), unquoted))
        .context(expected(
            "a value (a \"quoted string\", true, false, a number or an ISO 8601 date)",
        ))
        .parse_next(input)
}

fn quoted(input: &mut &str) -> ModalResult<String> {
    grammar::quoted(
        "`\\\"` or `\\\\` (the only escapes in a string)",
        "the closing `\"` of the string",
    )
    .parse_next(input)
}

fn unquoted(input: &mut &str) -> ModalResult<Value> {
    take_while(1.., |c: char| {
        c.is_ascii_alphanumeric() || "-+:._".contains(c)
    })
    .verify_map(classify)
    .parse_next(input)
}

/// An unquoted token as a boolean, a number or a date.
fn classify(token: &str) -> Option<Value> {
    if token.eq_ignore_ascii_case("true") {
        return Some(Value::Bool(true));
    }
    if token.eq_ignore_ascii_case("false") {
        return Some(Value::Bool(false));
    }
    if token.starts_with(|c: char| c.is_ascii_digit() || c == '-') {
        if let Some(number) = token.parse::<f64>().ok().filter(|n| n.is_finite()) {
            return Some(Value::Number(number));
        }
    }
    if let Ok(time) = DateTime::parse_from_rfc3339(token) {
        return Some(Value::DateTime(time));
    }
    let day = NaiveDate::parse_from_str(token, "%Y-%m-%d").ok()?;
    let midnight: DateTime<FixedOffset> = day.and_hms_opt(0, 0, 0)?.and_utc().fixed_offset();
    Some(Value::DateTime(midnight))
}
