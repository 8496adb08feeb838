//! Progress reporting and cooperative cancellation.

/// The pipeline's phases, in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Phase {
    /// Selecting the population and its mined entitlements.
    Population,
    /// Merging identical identities into weighted nodes.
    Compression,
    /// Finding similar node pairs.
    Similarity,
    /// Sweeping thresholds for the prescribed one.
    ThresholdSweep,
    /// Clustering at the chosen threshold.
    Clustering,
    /// Computing each role's metrics.
    Metrics,
    /// Attribute rules, outliers and unexplained access.
    Insights,
}

impl Phase {
    /// A short lowercase name, for logs and timing reports.
    pub fn name(self) -> &'static str {
        match self {
            Phase::Population => "population",
            Phase::Compression => "compression",
            Phase::Similarity => "similarity",
            Phase::ThresholdSweep => "threshold_sweep",
            Phase::Clustering => "clustering",
            Phase::Metrics => "metrics",
            Phase::Insights => "insights",
        }
    }
}

/// Receives progress and answers whether to stop. Called from rayon worker threads.
pub trait Observer: Sync {
    /// A phase begins.
    fn phase(&self, _phase: Phase) {}
    /// `done` of `total` units of the current phase are finished (roles, for [`Phase::Metrics`]).
    fn progress(&self, _done: u64, _total: u64) {}
    /// `true` makes the engine stop at its next check with [`crate::EngineError::Cancelled`].
    fn cancelled(&self) -> bool {
        false
    }
}

/// An observer that ignores everything.
#[derive(Debug, Default, Clone, Copy)]
pub struct Silent;

impl Observer for Silent {}
