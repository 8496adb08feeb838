//! The identity × entitlement access matrix.

use roaring::RoaringBitmap;

/// Who holds what, by dense indices: identities `0..identities`, entitlements
/// `0..entitlements`. Both directions are kept as roaring bitmaps.
#[derive(Debug, Clone, Default)]
pub struct AccessMatrix {
    by_identity: Vec<RoaringBitmap>,
    by_entitlement: Vec<RoaringBitmap>,
}

impl AccessMatrix {
    /// Number of identities (rows).
    pub fn identities(&self) -> u32 {
        len_u32(self.by_identity.len())
    }

    /// Number of entitlements (columns).
    pub fn entitlements(&self) -> u32 {
        len_u32(self.by_entitlement.len())
    }

    /// The entitlements identity `i` holds; empty for an index outside the matrix.
    pub fn of_identity(&self, i: u32) -> &RoaringBitmap {
        self.by_identity.get(i as usize).unwrap_or(&EMPTY)
    }

    /// The identities holding entitlement `e`; empty for an index outside the matrix.
    pub fn holders(&self, e: u32) -> &RoaringBitmap {
        self.by_entitlement.get(e as usize).unwrap_or(&EMPTY)
    }

    /// Total number of (identity, entitlement) assignments.
    pub fn assignments(&self) -> u64 {
        self.by_identity.iter().map(RoaringBitmap::len).sum()
    }
}

static EMPTY: std::sync::LazyLock<RoaringBitmap> = std::sync::LazyLock::new(RoaringBitmap::new);

fn len_u32(len: usize) -> u32 {
    u32::try_from(len).unwrap_or(u32::MAX)
}

/// Builds an [`AccessMatrix`] from a stream of (identity, entitlement) pairs.
///
/// Memory is linear in the number of pairs: pairs are appended to per-identity lists, which are
/// sorted and turned into bitmaps once; the per-entitlement side is the transpose, built with
/// in-order pushes. Duplicate pairs are harmless. Indices beyond the declared sizes grow them.
#[derive(Debug, Default)]
pub struct AccessMatrixBuilder {
    rows: Vec<Vec<u32>>,
    entitlements: u32,
}

impl AccessMatrixBuilder {
    /// A builder for at least `identities` × `entitlements`.
    pub fn new(identities: u32, entitlements: u32) -> Self {
        Self {
            rows: vec![Vec::new(); identities as usize],
            entitlements,
        }
    }

    /// Records that `identity` holds `entitlement`.
    pub fn push(&mut self, identity: u32, entitlement: u32) {
        let row = identity as usize;
        if row >= self.rows.len() {
            self.rows.resize_with(row + 1, Vec::new);
        }
        self.rows[row].push(entitlement);
        self.entitlements = self.entitlements.max(entitlement.saturating_add(1));
    }

    /// Finishes the matrix.
    pub fn build(self) -> AccessMatrix {
        use rayon::prelude::*;
        let by_identity: Vec<RoaringBitmap> = self
            .rows
            .into_par_iter()
            .map(|mut row| {
                row.sort_unstable();
                row.dedup();
                RoaringBitmap::from_sorted_iter(row).unwrap_or_default()
            })
            .collect();
        let mut by_entitlement = vec![RoaringBitmap::new(); self.entitlements as usize];
        // Identities are visited in increasing order, so every push appends at the end.
        for (identity, row) in by_identity.iter().enumerate() {
            for e in row {
                by_entitlement[e as usize].push(len_u32(identity));
            }
        }
        AccessMatrix {
            by_identity,
            by_entitlement,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builds_both_directions_and_ignores_duplicates() {
        let mut builder = AccessMatrixBuilder::new(2, 1);
        for (i, e) in [(0, 0), (1, 2), (0, 0), (3, 1), (1, 0)] {
            builder.push(i, e);
        }
        let m = builder.build();
        assert_eq!((m.identities(), m.entitlements()), (4, 3));
        assert_eq!(m.assignments(), 4);
        assert_eq!(m.of_identity(1).iter().collect::<Vec<_>>(), vec![0, 2]);
        assert_eq!(m.holders(0).iter().collect::<Vec<_>>(), vec![0, 1]);
        assert!(m.of_identity(99).is_empty());
        assert!(m.holders(99).is_empty());
    }
}
