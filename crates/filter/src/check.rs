//! Checking a parsed filter against what an endpoint allows.

use chrono::{DateTime, FixedOffset, NaiveDate};

use crate::ast::{Filter, Op, Value};
use crate::error::FilterError;

/// The type of a filterable field; values are coerced to it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Text: takes strings.
    Text,
    /// Boolean: takes `true`/`false`, bare or quoted.
    Bool,
    /// Number: takes numbers, bare or quoted.
    Number,
    /// Timestamp: takes ISO 8601 dates, bare or quoted.
    DateTime,
}

/// A field an endpoint lets clients filter on.
#[derive(Debug, Clone, Copy)]
pub struct FieldSpec {
    /// The name clients use.
    pub name: &'static str,
    /// Its type.
    pub kind: Kind,
    /// The operators it supports.
    pub ops: &'static [Op],
    /// What the consumer translates it to (for the store: a column expression).
    pub target: &'static str,
}

impl Filter {
    /// Checks every field and operator against `fields` and coerces every value to its field's
    /// type. The error names the first field, operator or value that is not allowed.
    pub fn check(self, fields: &[FieldSpec]) -> Result<Filter, FilterError> {
        match self {
            Filter::And(all) => Ok(Filter::And(check_all(all, fields)?)),
            Filter::Or(all) => Ok(Filter::Or(check_all(all, fields)?)),
            Filter::Not(inner) => Ok(Filter::Not(Box::new(inner.check(fields)?))),
            leaf => {
                let name = leaf.field().unwrap_or_default().to_owned();
                let spec = lookup(&name, fields)?;
                match leaf {
                    Filter::Compare { field, op, value } => {
                        allow(spec, op)?;
                        if matches!(op, Op::Sw | Op::Co) && spec.kind != Kind::Text {
                            return Err(FilterError::filters(format!(
                                "`{op}` applies to text and `{field}` is not text"
                            )));
                        }
                        let value = coerce(spec, value)?;
                        Ok(Filter::Compare { field, op, value })
                    }
                    Filter::In { field, values } => {
                        allow(spec, Op::In)?;
                        let values = values
                            .into_iter()
                            .map(|value| coerce(spec, value))
                            .collect::<Result<_, _>>()?;
                        Ok(Filter::In { field, values })
                    }
                    Filter::Present { field } => {
                        allow(spec, Op::Pr)?;
                        Ok(Filter::Present { field })
                    }
                    Filter::IsNull { field } => {
                        allow(spec, Op::IsNull)?;
                        Ok(Filter::IsNull { field })
                    }
                    Filter::And(_) | Filter::Or(_) | Filter::Not(_) => Ok(leaf),
                }
            }
        }
    }
}

fn check_all(all: Vec<Filter>, fields: &[FieldSpec]) -> Result<Vec<Filter>, FilterError> {
    all.into_iter().map(|f| f.check(fields)).collect()
}

fn lookup<'s>(name: &str, fields: &'s [FieldSpec]) -> Result<&'s FieldSpec, FilterError> {
    fields.iter().find(|spec| spec.name == name).ok_or_else(|| {
        let allowed: Vec<String> = fields
            .iter()
            .map(|spec| {
                let ops: Vec<&str> = spec.ops.iter().map(|op| op.keyword()).collect();
                format!("{} ({})", spec.name, ops.join(", "))
            })
            .collect();
        if allowed.is_empty() {
            FilterError::filters(format!(
                "`{name}` cannot be filtered on: this endpoint takes no filters"
            ))
        } else {
            FilterError::filters(format!(
                "`{name}` cannot be filtered on here; filterable fields: {}",
                allowed.join("; ")
            ))
        }
    })
}

fn allow(spec: &FieldSpec, op: Op) -> Result<(), FilterError> {
    if spec.ops.contains(&op) {
        return Ok(());
    }
    let ops: Vec<&str> = spec.ops.iter().map(|op| op.keyword()).collect();
    Err(FilterError::filters(format!(
        "`{}` does not support `{op}`; it supports {}",
        spec.name,
        ops.join(", ")
    )))
}

fn coerce(spec: &FieldSpec, value: Value) -> Result<Value, FilterError> {
    let wrong = |value: &Value, what: &str| {
        FilterError::filters(format!("`{}` takes {what}, not {value}", spec.name))
    };
    match (spec.kind, value) {
        (Kind::Text, Value::String(text)) => Ok(Value::String(text)),
        (Kind::Text, other) => Err(wrong(&other, "a quoted string")),
        (Kind::Bool, Value::Bool(b)) => Ok(Value::Bool(b)),
        (Kind::Bool, Value::String(text)) => match text.to_ascii_lowercase().as_str() {
            "true" => Ok(Value::Bool(true)),
            "false" => Ok(Value::Bool(false)),
            _ => Err(wrong(&Value::String(text), "true or false")),
        },
        (Kind::Bool, other) => Err(wrong(&other, "true or false")),
        (Kind::Number, Value::Number(n)) => Ok(Value::Number(n)),
        (Kind::Number, Value::String(text)) => text
            .trim()
            .parse::<f64>()
            .ok()
            .filter(|n| n.is_finite())
            .map(Value::Number)
            .ok_or_else(|| wrong(&Value::String(text), "a number")),
        (Kind::Number, other) => Err(wrong(&other, "a number")),
        (Kind::DateTime, Value::DateTime(d)) => Ok(Value::DateTime(d)),
        (Kind::DateTime, Value::String(text)) => parse_time(&text)
            .map(Value::DateTime)
            .ok_or_else(|| wrong(&Value::String(text), "an ISO 8601 date or date-time")),
        (Kind::DateTime, other) => Err(wrong(&other, "an ISO 8601 date or date-time")),
    }
}

fn parse_time(text: &str) -> Option<DateTime<FixedOffset>> {
    DateTime::parse_from_rfc3339(text).ok().or_else(|| {
        let day = NaiveDate::parse_from_str(text, "%Y-%m-%d").ok()?;
        Some(day.and_hms_opt(0, 0, 0)?.and_utc().fixed_offset())
    })
}
