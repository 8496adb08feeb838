//! The filter tree.

use std::fmt;

use chrono::{DateTime, FixedOffset};

/// A parsed filter expression.
#[derive(Debug, Clone, PartialEq)]
pub enum Filter {
    /// Every operand holds.
    And(Vec<Filter>),
    /// At least one operand holds.
    Or(Vec<Filter>),
    /// The operand does not hold.
    Not(Box<Filter>),
    /// `field op value` for the binary operators.
    Compare {
        /// The field name as written.
        field: String,
        /// `eq`, `ne`, `sw`, `co`, `ge`, `gt`, `le` or `lt`.
        op: Op,
        /// The operand.
        value: Value,
    },
    /// `field in (v1, v2, ...)`.
    In {
        /// The field name as written.
        field: String,
        /// The candidates (at least one).
        values: Vec<Value>,
    },
    /// `field pr`: the field has a value.
    Present {
        /// The field name as written.
        field: String,
    },
    /// `field isnull`: the field has no value.
    IsNull {
        /// The field name as written.
        field: String,
    },
}

/// A filter operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Op {
    /// Equal.
    Eq,
    /// Not equal.
    Ne,
    /// Starts with (text).
    Sw,
    /// Contains (text).
    Co,
    /// One of a list.
    In,
    /// Greater than or equal.
    Ge,
    /// Greater than.
    Gt,
    /// Less than or equal.
    Le,
    /// Less than.
    Lt,
    /// Present (not null).
    Pr,
    /// Null.
    IsNull,
}

impl Op {
    /// Every operator, in the order messages list them.
    pub const ALL: [Op; 11] = [
        Op::Eq,
        Op::Ne,
        Op::Sw,
        Op::Co,
        Op::In,
        Op::Ge,
        Op::Gt,
        Op::Le,
        Op::Lt,
        Op::Pr,
        Op::IsNull,
    ];

    /// The operator's keyword.
    pub fn keyword(self) -> &'static str {
        match self {
            Op::Eq => "eq",
            Op::Ne => "ne",
            Op::Sw => "sw",
            Op::Co => "co",
            Op::In => "in",
            Op::Ge => "ge",
            Op::Gt => "gt",
            Op::Le => "le",
            Op::Lt => "lt",
            Op::Pr => "pr",
            Op::IsNull => "isnull",
        }
    }
}

impl fmt::Display for Op {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.keyword())
    }
}

/// A literal operand.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// A double-quoted string, escapes resolved.
    String(String),
    /// `true` or `false`.
    Bool(bool),
    /// An unquoted number.
    Number(f64),
    /// An unquoted ISO 8601 date (midnight UTC) or date-time.
    DateTime(DateTime<FixedOffset>),
}

impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::String(s) => write!(f, "{s:?}"),
            Value::Bool(b) => write!(f, "{b}"),
            Value::Number(n) => write!(f, "{n}"),
            Value::DateTime(d) => write!(f, "{}", d.to_rfc3339()),
        }
    }
}

impl Filter {
    /// A leaf's field name.
    pub(crate) fn field(&self) -> Option<&str> {
        match self {
            Filter::Compare { field, .. }
            | Filter::In { field, .. }
            | Filter::Present { field }
            | Filter::IsNull { field } => Some(field),
            Filter::And(_) | Filter::Or(_) | Filter::Not(_) => None,
        }
    }

    /// (comparisons, values of `in` lists) in the whole tree.
    pub fn size(&self) -> (usize, usize) {
        match self {
            Filter::And(operands) | Filter::Or(operands) => {
                operands.iter().fold((0, 0), |(terms, values), operand| {
                    let (t, v) = operand.size();
                    (terms + t, values + v)
                })
            }
            Filter::Not(inner) => inner.size(),
            Filter::In { values, .. } => (1, values.len()),
            Filter::Compare { .. } | Filter::Present { .. } | Filter::IsNull { .. } => (1, 0),
        }
    }
}
