//! Rolemine's mining engine: from an identity × entitlement access matrix to potential roles.
//!
//! Pure: no I/O, no async, no SQL. The pipeline (see `ARCHITECTURE.md` and the contract's
//! `semantics.md`):
//!
//! 1. [`AccessMatrix`]: identities and entitlements as dense `u32` indices, with per-identity and
//!    per-entitlement roaring bitmaps.
//! 2. [`population`]: the session's identities, the common-access split, and each identity's
//!    *mined* entitlements.
//! 3. [`compress`]: identities with identical clustering features become one weighted node.
//! 4. [`similarity`]: all node pairs with Jaccard ≥ threshold, by prefix-filtered all-pairs search.
//! 5. [`threshold`]: the prescribed prune threshold, by a cost sweep over thresholds (each one
//!    clustered and priced).
//! 6. [`cluster`]: Louvain community detection on the weighted graph at the chosen threshold,
//!    with communities split into their connected parts, deterministic for any thread count.
//! 7. [`metrics`]: popularity, density, freshness, quality and distributions of each role.
//! 8. Insights: each role's [`rules`] (the attribute conditions that best select its
//!    members), the population's [`outliers`] and its unexplained access
//!    ([`coverage::explain`]).
//!
//! [`mine`] runs the whole pipeline.

pub mod birthright;
pub mod cluster;
pub mod compare;
pub mod compress;
mod counts;
pub mod cover;
pub mod coverage;
pub mod error;
mod greedy;
pub mod matrix;
pub mod metrics;
pub mod mine;
pub mod observer;
pub mod outliers;
pub mod population;
#[cfg(test)]
mod properties;
pub mod rules;
pub mod similarity;
pub mod stray;
pub mod threshold;
pub mod tiling;

pub use error::EngineError;
pub use matrix::{AccessMatrix, AccessMatrixBuilder};
pub use metrics::{EntitlementStat, RoleMetrics};
pub use mine::{
    mine, Attribute, AttributeDistribution, Attributes, MiningInput, MiningMethod, MiningParams,
    MiningResult, PotentialRole, RoleType,
};
pub use observer::{Observer, Phase, Silent};
