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
/// Memory is linear in the number of pairs: they are kept as one flat list of `u64` keys,
/// sorted in parallel; each identity's row is then a contiguous run, and the per-entitlement
/// side is a counting sort of the same keys. Duplicate pairs are harmless. Indices beyond the
/// declared sizes grow them.
#[derive(Debug, Default)]
pub struct AccessMatrixBuilder {
    keys: Vec<u64>,
    identities: u32,
    entitlements: u32,
}

impl AccessMatrixBuilder {
    /// A builder for at least `identities` × `entitlements`.
    pub fn new(identities: u32, entitlements: u32) -> Self {
        Self {
            keys: Vec::new(),
            identities,
            entitlements,
        }
    }

    /// Makes the matrix at least `identities` × `entitlements`.
    pub fn push_size(&mut self, identities: u32, entitlements: u32) {
        self.identities = self.identities.max(identities);
        self.entitlements = self.entitlements.max(entitlements);
    }

    /// Records that `identity` holds `entitlement`.
    pub fn push(&mut self, identity: u32, entitlement: u32) {
        self.keys
            .push((u64::from(identity) << 32) | u64::from(entitlement));
        self.identities = self.identities.max(identity.saturating_add(1));
        self.entitlements = self.entitlements.max(entitlement.saturating_add(1));
    }

    /// Finishes the matrix.
    pub fn build(self) -> AccessMatrix {
        use rayon::prelude::*;
        let mut keys = self.keys;
        keys.par_sort_unstable();
        keys.dedup();
        let identity_of = |key: u64| (key >> 32) as u32;
        let entitlement_of = |key: u64| key as u32;

        // Row starts: identity i's keys are keys[starts[i]..starts[i + 1]].
        let mut starts = vec![0usize; self.identities as usize + 1];
        for &key in &keys {
            starts[identity_of(key) as usize + 1] += 1;
        }
        for i in 0..self.identities as usize {
            starts[i + 1] += starts[i];
        }
        let by_identity: Vec<RoaringBitmap> = (0..self.identities as usize)
            .into_par_iter()
            .map(|i| {
                let row = keys[starts[i]..starts[i + 1]]
                    .iter()
                    .map(|&k| entitlement_of(k));
                RoaringBitmap::from_sorted_iter(row).unwrap_or_default()
            })
            .collect();

        // Counting sort by entitlement; identities stay ascending within each column.
        let mut column_starts = vec![0usize; self.entitlements as usize + 1];
        for &key in &keys {
            column_starts[entitlement_of(key) as usize + 1] += 1;
        }
        for e in 0..self.entitlements as usize {
            column_starts[e + 1] += column_starts[e];
        }
        let mut fill = column_starts.clone();
        let mut columns = vec![0u32; keys.len()];
        for &key in &keys {
            let e = entitlement_of(key) as usize;
            columns[fill[e]] = identity_of(key);
            fill[e] += 1;
        }
        drop(keys);
        let by_entitlement: Vec<RoaringBitmap> = (0..self.entitlements as usize)
            .into_par_iter()
            .map(|e| {
                let column = columns[column_starts[e]..column_starts[e + 1]]
                    .iter()
                    .copied();
                RoaringBitmap::from_sorted_iter(column).unwrap_or_default()
            })
            .collect();
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
