//! Values with a range, checked once where they enter.

use serde::{Deserialize, Serialize};

/// A number outside the range its field allows.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("must be {range}, got {value}")]
pub struct OutOfRange {
    /// The accepted range, in words.
    pub range: &'static str,
    /// The value given.
    pub value: i64,
}

/// The similarity threshold a session prunes at, in percent (0–100).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "i64", into = "i64")]
pub struct PruneThreshold(u8);

impl PruneThreshold {
    /// The threshold in percent.
    pub const fn get(self) -> u8 {
        self.0
    }
}

impl TryFrom<i64> for PruneThreshold {
    type Error = OutOfRange;

    fn try_from(value: i64) -> Result<Self, OutOfRange> {
        u8::try_from(value)
            .ok()
            .filter(|t| *t <= 100)
            .map(Self)
            .ok_or(OutOfRange {
                range: "from 0 to 100",
                value,
            })
    }
}

impl From<PruneThreshold> for i64 {
    fn from(value: PruneThreshold) -> Self {
        i64::from(value.0)
    }
}

impl From<PruneThreshold> for i16 {
    fn from(value: PruneThreshold) -> Self {
        i16::from(value.0)
    }
}

/// The fewest identities a potential role may have (1 or more).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "i64", into = "i64")]
pub struct MinIdentities(u32);

impl MinIdentities {
    /// Used when a session leaves the minimum unset.
    pub const DEFAULT: Self = Self(20);

    /// The minimum as a count.
    pub const fn get(self) -> u32 {
        self.0
    }
}

impl Default for MinIdentities {
    fn default() -> Self {
        Self::DEFAULT
    }
}

impl TryFrom<i64> for MinIdentities {
    type Error = OutOfRange;

    fn try_from(value: i64) -> Result<Self, OutOfRange> {
        // Stored as a PostgreSQL integer, so the top is i32::MAX.
        i32::try_from(value)
            .ok()
            .filter(|n| *n >= 1)
            .and_then(|n| u32::try_from(n).ok())
            .map(Self)
            .ok_or(OutOfRange {
                range: "1 or more",
                value,
            })
    }
}

impl From<MinIdentities> for i64 {
    fn from(value: MinIdentities) -> Self {
        i64::from(value.0)
    }
}

impl From<MinIdentities> for i32 {
    fn from(value: MinIdentities) -> Self {
        // Constructed only from values that fit an i32.
        i32::try_from(value.0).unwrap_or(i32::MAX)
    }
}

/// Maps a checked value onto the integer column that stores it; decoding a stored value out of
/// range is an error, never a silent truncation.
#[cfg(feature = "sqlx")]
macro_rules! integer_column {
    ($name:ident, $column:ty) => {
        impl sqlx::Type<sqlx::Postgres> for $name {
            fn type_info() -> sqlx::postgres::PgTypeInfo {
                <$column as sqlx::Type<sqlx::Postgres>>::type_info()
            }
        }

        impl<'q> sqlx::Encode<'q, sqlx::Postgres> for $name {
            fn encode_by_ref(
                &self,
                buf: &mut sqlx::postgres::PgArgumentBuffer,
            ) -> Result<sqlx::encode::IsNull, sqlx::error::BoxDynError> {
                <$column as sqlx::Encode<'q, sqlx::Postgres>>::encode(<$column>::from(*self), buf)
            }
        }

        impl<'r> sqlx::Decode<'r, sqlx::Postgres> for $name {
            fn decode(
                value: sqlx::postgres::PgValueRef<'r>,
            ) -> Result<Self, sqlx::error::BoxDynError> {
                let stored = <$column as sqlx::Decode<'r, sqlx::Postgres>>::decode(value)?;
                Ok(Self::try_from(i64::from(stored))?)
            }
        }
    };
}

#[cfg(feature = "sqlx")]
integer_column!(PruneThreshold, i16);
#[cfg(feature = "sqlx")]
integer_column!(MinIdentities, i32);

#[cfg(feature = "openapi")]
impl utoipa::PartialSchema for PruneThreshold {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        utoipa::openapi::schema::ObjectBuilder::new()
            .schema_type(utoipa::openapi::schema::Type::Integer)
            .minimum(Some(0))
            .maximum(Some(100))
            .into()
    }
}

#[cfg(feature = "openapi")]
impl utoipa::ToSchema for PruneThreshold {}

#[cfg(feature = "openapi")]
impl utoipa::PartialSchema for MinIdentities {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        utoipa::openapi::schema::ObjectBuilder::new()
            .schema_type(utoipa::openapi::schema::Type::Integer)
            .minimum(Some(1))
            .into()
    }
}

#[cfg(feature = "openapi")]
impl utoipa::ToSchema for MinIdentities {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thresholds_outside_0_to_100_are_refused_not_truncated() {
        assert_eq!(PruneThreshold::try_from(0).map(PruneThreshold::get), Ok(0));
        assert_eq!(
            PruneThreshold::try_from(100).map(PruneThreshold::get),
            Ok(100)
        );
        for bad in [-1, 101, 256, 356, i64::MAX] {
            assert_eq!(
                PruneThreshold::try_from(bad).map_err(|e| e.to_string()),
                Err(format!("must be from 0 to 100, got {bad}"))
            );
        }
        assert!(serde_json::from_str::<PruneThreshold>("300").is_err());
    }

    #[test]
    fn minimum_identities_are_positive_and_fit_the_column() {
        assert_eq!(MinIdentities::try_from(1).map(MinIdentities::get), Ok(1));
        for bad in [0, -5, i64::from(i32::MAX) + 1] {
            assert!(MinIdentities::try_from(bad).is_err(), "{bad}");
        }
        assert_eq!(MinIdentities::default().get(), 20);
    }
}
