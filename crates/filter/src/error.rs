//! What is wrong with a `filters` or `sorters` parameter.

/// A rejected `filters` or `sorters` value; the message says what and where.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{parameter}: {message}")]
pub struct FilterError {
    /// `filters`, `sorters` or `scope.criteria`.
    pub parameter: &'static str,
    /// What is wrong, naming the field, operator or position.
    pub message: String,
}

impl FilterError {
    pub(crate) fn filters(message: impl Into<String>) -> Self {
        Self {
            parameter: "filters",
            message: message.into(),
        }
    }

    pub(crate) fn criteria(message: impl Into<String>) -> Self {
        Self {
            parameter: "scope.criteria",
            message: message.into(),
        }
    }

    pub(crate) fn sorters(message: impl Into<String>) -> Self {
        Self {
            parameter: "sorters",
            message: message.into(),
        }
    }
}
