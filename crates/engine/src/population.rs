//! A session's population: its identities, the common-access split, and what gets mined.

use rayon::prelude::*;
use roaring::RoaringBitmap;

use crate::error::EngineError;
use crate::matrix::AccessMatrix;

/// Which part of the access a session mines (the shared vocabulary's).
pub use rolemine_domain::RoleType;

/// The population's view of the matrix.
#[derive(Debug, Clone)]
pub struct Population {
    /// Member identity indices.
    pub members: RoaringBitmap,
    /// Per entitlement: how many members hold it.
    pub holder_counts: Vec<u32>,
    /// Entitlements at or above the common-access threshold.
    pub common: RoaringBitmap,
    /// Entitlements this session mines (common or the rest, by role type), held by some member.
    pub mined: RoaringBitmap,
    /// Mined entitlements that can shape clusters (see [`Population::select`]). The others
    /// cannot define a role; leaving them out of similarity removes per-identity noise, which
    /// is what lets identical access compress into one node.
    pub features: RoaringBitmap,
    /// Per entitlement: the (up to) two mined entitlements its holders most often also hold;
    /// [`NO_PARTNER`] where there is none or the entitlement is not a feature.
    pub partners: Vec<[u32; 2]>,
    /// Features that define a group on their own (their holders have no other well-held access).
    pub standalone: RoaringBitmap,
}

/// Marks an empty partner slot.
pub const NO_PARTNER: u32 = u32::MAX;

/// Holders examined per entitlement in the coherence test: an evenly spaced sample estimates
/// the co-occurrence shares well and keeps the pass linear in the entitlement count.
const COHERENCE_SAMPLE: u64 = 64;

impl Population {
    /// Selects `members` of `matrix` and splits its access.
    ///
    /// `common_threshold` is a percent (0-100); `min_identities` is the minimum role size.
    ///
    /// A mined entitlement is a clustering *feature* when
    /// - enough members hold it to reach 50 % popularity in a role of the minimum size, and
    /// - it is *coherent*: at least half of its holders also share one other mined entitlement,
    ///   or at least half of its holders have no other well-held mined entitlement at all (a
    ///   group defined by this one entitlement). Entitlements of a role travel together; stray
    ///   grants land on identities that have their own access and co-occur with nothing in
    ///   particular.
    pub fn select(
        matrix: &AccessMatrix,
        members: RoaringBitmap,
        role_type: RoleType,
        common_threshold: f64,
        min_identities: u32,
    ) -> Result<Self, EngineError> {
        if !(0.0..=100.0).contains(&common_threshold) {
            return Err(EngineError::CommonAccessThresholdOutOfRange(
                common_threshold,
            ));
        }
        if let Some(index) = members.max().filter(|max| *max >= matrix.identities()) {
            return Err(EngineError::IdentityOutOfRange {
                index,
                identities: matrix.identities(),
            });
        }
        let size = members.len();
        let holder_counts: Vec<u32> = (0..matrix.entitlements())
            .into_par_iter()
            .map(|e| {
                u32::try_from(matrix.holders(e).intersection_len(&members)).unwrap_or(u32::MAX)
            })
            .collect();
        let mut common = RoaringBitmap::new();
        let mut mined = RoaringBitmap::new();
        for (e, &count) in (0u32..).zip(&holder_counts) {
            if count == 0 {
                continue;
            }
            let is_common = popularity(count, size) >= common_threshold;
            if is_common {
                common.insert(e);
            }
            if is_common == (role_type == RoleType::Common) {
                mined.insert(e);
            }
        }
        let coherence = coherent_features(matrix, &members, &mined, &holder_counts, min_identities);
        Ok(Self {
            members,
            holder_counts,
            common,
            mined,
            features: coherence.features,
            partners: coherence.partners,
            standalone: coherence.standalone,
        })
    }

    /// Identity `identity`'s clustering features: its features that fit the rest of its access.
    /// A feature fits when the identity also holds one of its partners, or it stands alone. A
    /// stray grant of another group's entitlement arrives without its partners and is left out,
    /// so identities with the same real access still compress into one node. An identity none
    /// of whose features fit keeps them all: there is nothing to tell the stray from the real.
    pub fn features_of(&self, matrix: &AccessMatrix, identity: u32) -> Vec<u32> {
        let row = matrix.of_identity(identity);
        let all: Vec<u32> = row.iter().filter(|&f| self.features.contains(f)).collect();
        let fitting: Vec<u32> = all
            .iter()
            .copied()
            .filter(|&f| {
                self.standalone.contains(f)
                    || self.partners[f as usize]
                        .iter()
                        .any(|&p| p != NO_PARTNER && row.contains(p))
            })
            .collect();
        if fitting.is_empty() {
            all
        } else {
            fitting
        }
    }

    /// Number of members.
    pub fn size(&self) -> u64 {
        self.members.len()
    }

    /// Percent of the population holding entitlement `e`.
    pub fn popularity_in_org(&self, e: u32) -> f64 {
        popularity(
            self.holder_counts.get(e as usize).copied().unwrap_or(0),
            self.size(),
        )
    }
}

/// The outcome of the coherence test.
struct Coherence {
    features: RoaringBitmap,
    partners: Vec<[u32; 2]>,
    standalone: RoaringBitmap,
}

/// Tests every well-held mined entitlement for coherence (see [`Population::select`]) on a
/// sample of its holders, and records its two strongest partners.
fn coherent_features(
    matrix: &AccessMatrix,
    members: &RoaringBitmap,
    mined: &RoaringBitmap,
    holder_counts: &[u32],
    min_identities: u32,
) -> Coherence {
    // At least half of a minimum-size role; never below 2, since one holder shares nothing.
    let min_support = min_identities.div_ceil(2).max(2);
    let candidates: Vec<u32> = mined
        .iter()
        .filter(|&e| holder_counts[e as usize] >= min_support)
        .collect();
    // Dense lookups for the inner loop: 0 = not mined, 1 = mined, 2 = mined and well held.
    let mut kind = vec![0u8; matrix.entitlements() as usize];
    for e in mined {
        kind[e as usize] = 1;
    }
    for &e in &candidates {
        kind[e as usize] = 2;
    }
    // The members' mined access as one flat list per identity: the sampled rows are read many
    // times over, and a slice is much faster to walk than a bitmap.
    let rows = MinedRows::new(matrix, members, &kind);
    let coherent: Vec<(u32, [u32; 2], bool)> = candidates
        .into_par_iter()
        .map_init(
            || {
                (
                    vec![0u32; matrix.entitlements() as usize],
                    Vec::<u32>::new(),
                )
            },
            |(counts, touched), e| {
                let holders = matrix.holders(e) & members;
                let stride = holders.len().div_ceil(COHERENCE_SAMPLE).max(1) as usize;
                let mut alone = 0u64;
                let mut sampled = 0u64;
                for identity in holders.iter().step_by(stride) {
                    sampled += 1;
                    let mut other_supported = false;
                    for &f in rows.of(identity) {
                        let k = kind[f as usize];
                        if f != e {
                            if counts[f as usize] == 0 {
                                touched.push(f);
                            }
                            counts[f as usize] += 1;
                            other_supported |= k == 2;
                        }
                    }
                    alone += u64::from(!other_supported);
                }
                // The two most frequent partners, ties to the smaller entitlement index.
                let mut partners = [(0u32, NO_PARTNER); 2];
                for &f in touched.iter() {
                    let candidate = (counts[f as usize], f);
                    let better =
                        |a: (u32, u32), b: (u32, u32)| a.0 > b.0 || (a.0 == b.0 && a.1 < b.1);
                    if better(candidate, partners[0]) {
                        partners[1] = partners[0];
                        partners[0] = candidate;
                    } else if better(candidate, partners[1]) {
                        partners[1] = candidate;
                    }
                    counts[f as usize] = 0;
                }
                touched.clear();
                let best = u64::from(partners[0].0);
                let coherent = best * 2 >= sampled;
                let standalone = !coherent && alone * 2 >= sampled;
                (coherent || standalone).then_some((e, [partners[0].1, partners[1].1], standalone))
            },
        )
        .flatten()
        .collect();
    let mut result = Coherence {
        features: RoaringBitmap::new(),
        partners: vec![[NO_PARTNER; 2]; matrix.entitlements() as usize],
        standalone: RoaringBitmap::new(),
    };
    for (e, partners, standalone) in coherent {
        result.features.insert(e);
        result.partners[e as usize] = partners;
        if standalone {
            result.standalone.insert(e);
        }
    }
    result
}

/// Each member's mined entitlements, stored flat (compressed sparse rows).
struct MinedRows {
    /// Identity index → its position in `offsets`, or `u32::MAX` for non-members.
    slot: Vec<u32>,
    offsets: Vec<usize>,
    entitlements: Vec<u32>,
}

impl MinedRows {
    fn new(matrix: &AccessMatrix, members: &RoaringBitmap, kind: &[u8]) -> Self {
        let mut slot = vec![u32::MAX; matrix.identities() as usize];
        let mut offsets = Vec::with_capacity(members.len() as usize + 1);
        let mut entitlements = Vec::new();
        offsets.push(0);
        for (position, identity) in (0u32..).zip(members.iter()) {
            slot[identity as usize] = position;
            entitlements.extend(
                matrix
                    .of_identity(identity)
                    .iter()
                    .filter(|&f| kind[f as usize] > 0),
            );
            offsets.push(entitlements.len());
        }
        Self {
            slot,
            offsets,
            entitlements,
        }
    }

    fn of(&self, identity: u32) -> &[u32] {
        match self.slot.get(identity as usize) {
            Some(&position) if position != u32::MAX => {
                let position = position as usize;
                &self.entitlements[self.offsets[position]..self.offsets[position + 1]]
            }
            _ => &[],
        }
    }
}

/// `count` over `of`, in percent; 0 for an empty base.
pub fn popularity(count: u32, of: u64) -> f64 {
    if of == 0 {
        0.0
    } else {
        (f64::from(count) * 100.0 / of as f64).min(100.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::matrix::AccessMatrixBuilder;

    fn matrix() -> AccessMatrix {
        // Entitlement 0: everyone. 1: identities 0-2. 2: identity 3 only.
        let mut b = AccessMatrixBuilder::new(5, 3);
        for i in 0..5 {
            b.push(i, 0);
        }
        for i in 0..3 {
            b.push(i, 1);
        }
        b.push(3, 2);
        b.build()
    }

    #[test]
    fn splits_common_access_by_population_popularity() {
        let m = matrix();
        let all: RoaringBitmap = (0..5).collect();
        let p = Population::select(&m, all.clone(), RoleType::Specialized, 80.0, 2).unwrap();
        assert_eq!(p.common.iter().collect::<Vec<_>>(), vec![0]);
        assert_eq!(p.mined.iter().collect::<Vec<_>>(), vec![1, 2]);
        // 2 has one holder; 1's holders have no other mined access, so 1 alone defines them.
        assert_eq!(p.features.iter().collect::<Vec<_>>(), vec![1]);
        assert!((p.popularity_in_org(1) - 60.0).abs() < 1e-9);
        let c = Population::select(&m, all, RoleType::Common, 80.0, 2).unwrap();
        assert_eq!(c.mined.iter().collect::<Vec<_>>(), vec![0]);
        // In a smaller population entitlement 1 becomes common.
        let few: RoaringBitmap = (0..3).collect();
        let p = Population::select(&m, few, RoleType::Specialized, 80.0, 2).unwrap();
        assert_eq!(p.common.iter().collect::<Vec<_>>(), vec![0, 1]);
        assert!(p.mined.is_empty());
    }

    #[test]
    fn features_are_coherent_entitlements_with_enough_holders() {
        // Identities 0-5 hold 1 and 2 together; 6-9 hold 4, and 6 and 8 also hold 5.
        let mut b = AccessMatrixBuilder::new(10, 6);
        for i in 0..6 {
            b.push(i, 1);
            b.push(i, 2);
        }
        for i in [6, 7, 8, 9] {
            b.push(i, 4);
        }
        b.push(6, 5);
        b.push(8, 5);
        let m = b.build();
        let all: RoaringBitmap = (0..10).collect();
        let p = Population::select(&m, all, RoleType::Specialized, 80.0, 4).unwrap();
        // 4: half of its holders (6, 8) share 5; 5's two holders both hold 4.
        assert_eq!(p.features.iter().collect::<Vec<_>>(), vec![1, 2, 4, 5]);
        let p = Population::select(&m, (0..10).collect(), RoleType::Specialized, 80.0, 6).unwrap();
        // Minimum role size 6 needs 3 holders: 5 drops out; 4 still co-occurs with it.
        assert_eq!(p.features.iter().collect::<Vec<_>>(), vec![1, 2, 4]);
    }

    #[test]
    fn stray_grants_to_identities_with_their_own_access_are_not_features() {
        // Four groups of 10, each with its own pair of entitlements; entitlement 9 is granted to
        // two identities in every group, so no other entitlement goes with it for half its holders.
        let mut b = AccessMatrixBuilder::new(40, 10);
        for g in 0..4u32 {
            for i in 0..10 {
                b.push(g * 10 + i, 1 + 2 * g);
                b.push(g * 10 + i, 2 + 2 * g);
            }
            b.push(g * 10, 9);
            b.push(g * 10 + 1, 9);
        }
        let m = b.build();
        let p = Population::select(&m, (0..40).collect(), RoleType::Specialized, 80.0, 4).unwrap();
        assert_eq!(
            p.features.iter().collect::<Vec<_>>(),
            (1..=8).collect::<Vec<_>>()
        );
    }

    #[test]
    fn rejects_bad_input_without_panicking() {
        let m = matrix();
        let outside: RoaringBitmap = [7].into_iter().collect();
        assert!(matches!(
            Population::select(&m, outside, RoleType::Specialized, 80.0, 2),
            Err(EngineError::IdentityOutOfRange { index: 7, .. })
        ));
        assert!(
            Population::select(&m, RoaringBitmap::new(), RoleType::Specialized, 101.0, 2).is_err()
        );
        let empty =
            Population::select(&m, RoaringBitmap::new(), RoleType::Specialized, 80.0, 2).unwrap();
        assert_eq!(empty.size(), 0);
        assert!(empty.mined.is_empty());
    }
}
