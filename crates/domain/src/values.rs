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

/// Declares a checked integer: built only through `TryFrom<i64>` (an [`OutOfRange`] naming the
/// range otherwise), stored in the integer column `$column` (decoding a stored value out of
/// range is an error, never a silent truncation), with its OpenAPI schema.
macro_rules! ranged {
    (
        $(#[$meta:meta])*
        $name:ident($inner:ty) in $min:literal ..= $max:expr, column $column:ty, $words:literal
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        #[serde(try_from = "i64", into = "i64")]
        pub struct $name($inner);

        impl $name {
            /// The value.
            pub const fn get(self) -> $inner {
                self.0
            }
        }

        impl TryFrom<i64> for $name {
            type Error = OutOfRange;

            fn try_from(value: i64) -> Result<Self, OutOfRange> {
                <$inner>::try_from(value)
                    .ok()
                    .filter(|_| ($min..=$max).contains(&value))
                    .map(Self)
                    .ok_or(OutOfRange {
                        range: $words,
                        value,
                    })
            }
        }

        impl From<$name> for i64 {
            fn from(value: $name) -> Self {
                i64::from(value.0)
            }
        }

        impl From<$name> for $column {
            fn from(value: $name) -> Self {
                // The range fits the column.
                <$column>::try_from(value.0).unwrap_or(<$column>::MAX)
            }
        }

        #[cfg(feature = "sqlx")]
        impl sqlx::Type<sqlx::Postgres> for $name {
            fn type_info() -> sqlx::postgres::PgTypeInfo {
                <$column as sqlx::Type<sqlx::Postgres>>::type_info()
            }
        }

        #[cfg(feature = "sqlx")]
        impl<'q> sqlx::Encode<'q, sqlx::Postgres> for $name {
            fn encode_by_ref(
                &self,
                buf: &mut sqlx::postgres::PgArgumentBuffer,
            ) -> Result<sqlx::encode::IsNull, sqlx::error::BoxDynError> {
                <$column as sqlx::Encode<'q, sqlx::Postgres>>::encode(<$column>::from(*self), buf)
            }
        }

        #[cfg(feature = "sqlx")]
        impl<'r> sqlx::Decode<'r, sqlx::Postgres> for $name {
            fn decode(
                value: sqlx::postgres::PgValueRef<'r>,
            ) -> Result<Self, sqlx::error::BoxDynError> {
                let stored = <$column as sqlx::Decode<'r, sqlx::Postgres>>::decode(value)?;
                Ok(Self::try_from(i64::from(stored))?)
            }
        }

        #[cfg(feature = "openapi")]
        impl utoipa::PartialSchema for $name {
            fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
                utoipa::openapi::schema::ObjectBuilder::new()
                    .schema_type(utoipa::openapi::schema::Type::Integer)
                    .minimum(Some($min))
                    .maximum(Some($max))
                    .into()
            }
        }

        #[cfg(feature = "openapi")]
        impl utoipa::ToSchema for $name {}
    };
}

ranged! {
    /// The similarity threshold a session prunes at, in percent.
    PruneThreshold(u8) in 0..=100, column i16, "from 0 to 100"
}

ranged! {
    /// The fewest identities a potential role may have.
    MinIdentities(u32) in 1..=i64::from(i32::MAX), column i32, "1 or more"
}

impl MinIdentities {
    /// Used when a session leaves the minimum unset.
    pub const DEFAULT: Self = Self(20);
}

impl Default for MinIdentities {
    fn default() -> Self {
        Self::DEFAULT
    }
}

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
