//! A session's population as the client describes it: stored as given and echoed back, read by
//! the worker to select identities.

use serde::{Deserialize, Serialize};

/// A session's population, as the client gave it (stored as given).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Scope {
    /// Exactly these identities (external ids).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub identity_ids: Option<Vec<String>>,
    /// A search query over identities.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub criteria: Option<String>,
    /// Attribute chips: values of one chip ORed, chips ANDed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attribute_filter_criteria: Option<Vec<Chip>>,
}

/// One attribute chip. The labels are what a console shows for it; only `data` selects.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Chip {
    /// The chip's condition.
    pub data: ChipData,
    /// The chip's label (`{"untranslated": "Location: Miami"}`), kept as given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_name: Option<serde_json::Value>,
    /// Its accessible label, kept as given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aria_label: Option<serde_json::Value>,
}

/// An attribute chip's condition.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ChipData {
    /// The identity attribute.
    pub name: String,
    /// How values compare.
    pub operator: ChipOperator,
    /// Accepted (or rejected) values.
    pub values: Vec<String>,
    /// The attribute's label (`{"translateKey": ...}`), kept as given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_name: Option<serde_json::Value>,
}

/// A chip's comparison.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ChipOperator {
    /// The attribute has one of the values.
    Equals,
    /// The attribute has none of the values (or no value).
    NotEquals,
}
