//! The engine's error type.

/// Why mining could not produce a result.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum EngineError {
    /// A threshold outside 0..=100.
    #[error("prune threshold {0} is outside 0..=100")]
    ThresholdOutOfRange(u32),
    /// A common-access threshold outside 0..=100.
    #[error("common-access threshold {0} is outside 0..=100")]
    CommonAccessThresholdOutOfRange(f64),
    /// A population member outside the matrix.
    #[error("population identity index {index} is outside the matrix ({identities} identities)")]
    IdentityOutOfRange {
        /// The offending index.
        index: u32,
        /// How many identities the matrix has.
        identities: u32,
    },
    /// The attribute table does not match the matrix.
    #[error("attribute {name} has {len} values but the matrix has {identities} identities")]
    AttributeLength {
        /// The attribute.
        name: String,
        /// Its value count.
        len: usize,
        /// The matrix's identity count.
        identities: u32,
    },
    /// A minimal cover asked of too many distinct accesses.
    #[error(
        "a minimal cover is computed for at most {limit} distinct accesses; this population has \
         {profiles} (use PEER_GROUPS, or narrow the scope)"
    )]
    CoverTooLarge {
        /// Distinct accesses in the population.
        profiles: usize,
        /// [`crate::cover::MAX_PROFILES`].
        limit: usize,
    },
    /// The observer asked to stop.
    #[error("mining was cancelled")]
    Cancelled,
}
