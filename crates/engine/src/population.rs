//! A session's population: its identities, the common-access split, and what gets mined.

use std::hash::{Hash, Hasher};

use rayon::prelude::*;
use roaring::RoaringBitmap;
use rustc_hash::{FxHashMap, FxHasher};

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
    /// is what lets identical access compress into one node. Read-only after
    /// [`Population::select`], which also indexes it for [`Population::features_of`].
    pub features: RoaringBitmap,
    /// Per entitlement: the (up to) two mined entitlements its holders most often also hold;
    /// [`NO_PARTNER`] where there is none or the entitlement is not a feature.
    pub partners: Vec<[u32; 2]>,
    /// Features that define a group on their own (their holders have no other well-held access).
    /// Read-only after [`Population::select`], as `features`.
    pub standalone: RoaringBitmap,
    /// Mined entitlements held by exactly the same members as another mined one: such an
    /// entitlement is never held for its own sake (see [`crate::tiling`]).
    pub twinned: RoaringBitmap,
    /// Per entitlement, [`FEATURE`] and [`STANDALONE`] bits: looked up along every member's row,
    /// where a bitmap lookup per assignment was most of the compression's time.
    kinds: Vec<u8>,
}

/// In [`Population::kinds`]: the entitlement is a feature.
const FEATURE: u8 = 1;
/// In [`Population::kinds`]: the entitlement is a standalone feature.
const STANDALONE: u8 = 2;

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
        let holder_counts = holder_counts(matrix, &members);
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
        let mut kinds = vec![0u8; holder_counts.len()];
        for (set, kind) in [
            (&coherence.features, FEATURE),
            (&coherence.standalone, STANDALONE),
        ] {
            for e in set {
                if let Some(slot) = kinds.get_mut(e as usize) {
                    *slot |= kind;
                }
            }
        }
        Ok(Self {
            members,
            holder_counts,
            common,
            mined,
            features: coherence.features,
            partners: coherence.partners,
            standalone: coherence.standalone,
            twinned: coherence.twinned,
            kinds,
        })
    }

    /// Identity `identity`'s clustering features: its features that fit the rest of its access.
    /// A feature fits when the identity also holds one of its partners, or it stands alone. A
    /// stray grant of another group's entitlement arrives without its partners and is left out,
    /// so identities with the same real access still compress into one node. An identity none
    /// of whose features fit keeps them all: there is nothing to tell the stray from the real.
    pub fn features_of(&self, matrix: &AccessMatrix, identity: u32) -> Vec<u32> {
        let row = matrix.of_identity(identity);
        let kind = |f: u32| self.kinds.get(f as usize).copied().unwrap_or(0);
        let all: Vec<u32> = row.iter().filter(|&f| kind(f) & FEATURE != 0).collect();
        let fitting: Vec<u32> = all
            .iter()
            .copied()
            .filter(|&f| {
                kind(f) & STANDALONE != 0
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

/// Per entitlement, how many of `members` hold it. Intersecting every entitlement's holders with
/// the members cost americas_large (10,127 entitlements, 3,485 identities) 11 ms; counting
/// along the members' rows costs one step per assignment.
fn holder_counts(matrix: &AccessMatrix, members: &RoaringBitmap) -> Vec<u32> {
    let entitlements = matrix.entitlements() as usize;
    let count = |e: u32| u32::try_from(matrix.holders(e).len()).unwrap_or(u32::MAX);
    if members.len() == u64::from(matrix.identities()) {
        return (0..matrix.entitlements()).map(count).collect();
    }
    let members: Vec<u32> = members.iter().collect();
    let chunk = members
        .len()
        .div_ceil(rayon::current_num_threads().max(1))
        .max(1);
    members
        .par_chunks(chunk)
        .map(|part| {
            let mut counts = vec![0u32; entitlements];
            for &i in part {
                for e in matrix.of_identity(i) {
                    if let Some(c) = counts.get_mut(e as usize) {
                        *c += 1;
                    }
                }
            }
            counts
        })
        .reduce_with(|mut a, b| {
            for (x, y) in a.iter_mut().zip(b) {
                *x += y;
            }
            a
        })
        .unwrap_or_else(|| vec![0; entitlements])
}

/// The outcome of the coherence test.
struct Coherence {
    features: RoaringBitmap,
    partners: Vec<[u32; 2]>,
    standalone: RoaringBitmap,
    /// The mined entitlements of classes of more than one.
    twinned: RoaringBitmap,
}

/// Tests every well-held mined entitlement for coherence (see [`Population::select`]) on a
/// sample of its holders, and records its two strongest partners.
///
/// Entitlements with the same holders among the members (a *class*) get the same sample and
/// the same co-occurrence counts, so the counting runs once per class, over rows of classes;
/// each entitlement then takes its partners from the counts, its class-mates included.
fn coherent_features(
    matrix: &AccessMatrix,
    members: &RoaringBitmap,
    mined: &RoaringBitmap,
    holder_counts: &[u32],
    min_identities: u32,
) -> Coherence {
    // At least half of a minimum-size role; never below 2, since one holder shares nothing.
    let min_support = min_identities.div_ceil(2).max(2);
    let classes = Classes::new(matrix, members, mined);
    // Per class: whether it is well held (its entitlements all have the same holder count).
    let well_held: Vec<bool> = classes
        .members
        .iter()
        .map(|m| holder_counts[m[0] as usize] >= min_support)
        .collect();
    // The members' distinct mined accesses as flat lists of classes: the sampled rows are read
    // many times over, a slice is much faster to walk than a bitmap, and identical rows are
    // walked once.
    let rows = MinedRows::new(matrix, members, &classes.class_of);
    let candidates: Vec<u32> = (0u32..)
        .zip(&well_held)
        .filter(|(_, w)| **w)
        .map(|(k, _)| k)
        .collect();
    let coherent: Vec<Vec<(u32, [u32; 2], bool)>> = candidates
        .into_par_iter()
        .map_init(
            || {
                (
                    vec![0u32; classes.members.len()],
                    Vec::<u32>::new(),
                    Vec::<u32>::new(),
                )
            },
            |(counts, touched, sample), k| {
                let own = &classes.members[k as usize];
                let holders = matrix.holders(own[0]) & members;
                let stride = holders.len().div_ceil(COHERENCE_SAMPLE).max(1) as usize;
                // Sampled holders with the same mined access are walked once, weighted.
                sample.clear();
                sample.extend(holders.iter().step_by(stride).map(|i| rows.row_of(i)));
                sample.sort_unstable();
                let mut alone = 0u32;
                let mut sampled = 0u32;
                for run in sample.chunk_by(|a, b| a == b) {
                    let weight = u32::try_from(run.len()).unwrap_or(u32::MAX);
                    sampled += weight;
                    let mut other_supported = false;
                    for &c in rows.row(run[0]) {
                        if counts[c as usize] == 0 {
                            touched.push(c);
                        }
                        counts[c as usize] += weight;
                        // A class-mate is another well-held entitlement this holder has.
                        other_supported |= well_held[c as usize] && (c != k || own.len() > 1);
                    }
                    if !other_supported {
                        alone += weight;
                    }
                }
                touched.sort_unstable();
                let result = own
                    .iter()
                    .filter_map(|&e| {
                        // The two most frequent partners, ties to the smaller entitlement.
                        let mut partners = [(0u32, NO_PARTNER); 2];
                        for &c in touched.iter() {
                            let count = counts[c as usize];
                            for &f in classes.members[c as usize]
                                .iter()
                                .filter(|&&f| f != e)
                                .take(2)
                            {
                                let candidate = (count, f);
                                let better = |a: (u32, u32), b: (u32, u32)| {
                                    a.0 > b.0 || (a.0 == b.0 && a.1 < b.1)
                                };
                                if better(candidate, partners[0]) {
                                    partners[1] = partners[0];
                                    partners[0] = candidate;
                                } else if better(candidate, partners[1]) {
                                    partners[1] = candidate;
                                }
                            }
                        }
                        let coherent = partners[0].0 * 2 >= sampled;
                        let standalone = !coherent && alone * 2 >= sampled;
                        (coherent || standalone).then_some((
                            e,
                            [partners[0].1, partners[1].1],
                            standalone,
                        ))
                    })
                    .collect();
                for &c in touched.iter() {
                    counts[c as usize] = 0;
                }
                touched.clear();
                result
            },
        )
        .collect();
    let mut result = Coherence {
        features: RoaringBitmap::new(),
        partners: vec![[NO_PARTNER; 2]; matrix.entitlements() as usize],
        standalone: RoaringBitmap::new(),
        twinned: classes
            .members
            .iter()
            .filter(|class| class.len() > 1)
            .flatten()
            .copied()
            .collect(),
    };
    for (e, partners, standalone) in coherent.into_iter().flatten() {
        result.features.insert(e);
        result.partners[e as usize] = partners;
        if standalone {
            result.standalone.insert(e);
        }
    }
    result
}

/// The mined entitlements grouped by their holders among the members.
struct Classes {
    /// Per class, its entitlements, ascending; classes in order of their smallest entitlement.
    members: Vec<Vec<u32>>,
    /// Per entitlement, its class, or `NO_CLASS` when it is not mined.
    class_of: Vec<u32>,
}

const NO_CLASS: u32 = u32::MAX;

impl Classes {
    fn new(matrix: &AccessMatrix, members: &RoaringBitmap, mined: &RoaringBitmap) -> Self {
        let everyone = members.len() == u64::from(matrix.identities());
        // Each mined entitlement's holders, with a hash of them to find equal ones quickly.
        let holders: Vec<(u32, u64, RoaringBitmap)> = mined
            .iter()
            .collect::<Vec<_>>()
            .into_par_iter()
            .map(|e| {
                let all = matrix.holders(e);
                let holders = if everyone { all.clone() } else { all & members };
                let mut hasher = FxHasher::default();
                holders.len().hash(&mut hasher);
                holders.iter().for_each(|i| i.hash(&mut hasher));
                (e, hasher.finish(), holders)
            })
            .collect();
        // Hash → the classes with it (more than one only on a collision).
        let mut by_hash: FxHashMap<u64, Vec<u32>> = FxHashMap::default();
        let mut classes = Self {
            members: Vec::new(),
            class_of: vec![NO_CLASS; matrix.entitlements() as usize],
        };
        for (e, hash, h) in &holders {
            let same = by_hash.entry(*hash).or_default();
            let found = same.iter().copied().find(|&c| {
                let first = classes.members[c as usize][0];
                holders
                    .binary_search_by_key(&first, |(f, _, _)| *f)
                    .is_ok_and(|at| holders[at].2 == *h)
            });
            let class = found.unwrap_or_else(|| {
                let next = u32::try_from(classes.members.len()).unwrap_or(NO_CLASS);
                classes.members.push(Vec::new());
                same.push(next);
                next
            });
            classes.members[class as usize].push(*e);
            classes.class_of[*e as usize] = class;
        }
        classes
    }
}

/// The members' distinct mined accesses as classes, stored flat (compressed sparse rows), and
/// which one each member has.
struct MinedRows {
    /// Identity index → its access's row, or `NO_ROW` for non-members.
    row_of: Vec<u32>,
    offsets: Vec<usize>,
    entitlements: Vec<u32>,
    /// The empty row.
    empty: u32,
}

const NO_ROW: u32 = u32::MAX;

impl MinedRows {
    fn new(matrix: &AccessMatrix, members: &RoaringBitmap, class_of: &[u32]) -> Self {
        let mut row_of = vec![NO_ROW; matrix.identities() as usize];
        let mut offsets = vec![0];
        let mut entitlements = Vec::new();
        let mut known: FxHashMap<Vec<u32>, u32> = FxHashMap::default();
        let mut access = Vec::new();
        for identity in members {
            access.clear();
            access.extend(
                matrix
                    .of_identity(identity)
                    .iter()
                    .map(|f| class_of[f as usize])
                    .filter(|&c| c != NO_CLASS),
            );
            access.sort_unstable();
            access.dedup();
            let next = u32::try_from(offsets.len() - 1).unwrap_or(NO_ROW);
            let row = *known.entry(access.clone()).or_insert_with(|| {
                entitlements.extend_from_slice(&access);
                offsets.push(entitlements.len());
                next
            });
            row_of[identity as usize] = row;
        }
        // The empty row stands for non-members.
        offsets.push(entitlements.len());
        let empty = u32::try_from(offsets.len() - 2).unwrap_or(NO_ROW);
        for row in &mut row_of {
            if *row == NO_ROW {
                *row = empty;
            }
        }
        Self {
            row_of,
            offsets,
            entitlements,
            empty,
        }
    }

    /// The row of `identity`'s mined access.
    fn row_of(&self, identity: u32) -> u32 {
        self.row_of
            .get(identity as usize)
            .copied()
            .unwrap_or(self.empty)
    }

    /// The classes of a row, ascending.
    fn row(&self, row: u32) -> &[u32] {
        let row = row as usize;
        match (self.offsets.get(row), self.offsets.get(row + 1)) {
            (Some(&start), Some(&end)) => &self.entitlements[start..end],
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
    fn holder_counts_are_the_members_holding_each_entitlement() {
        let m = matrix();
        let everyone: RoaringBitmap = (0..5).collect();
        assert_eq!(holder_counts(&m, &everyone), vec![5, 3, 1]);
        let some: RoaringBitmap = [1, 3, 4].into_iter().collect();
        assert_eq!(holder_counts(&m, &some), vec![3, 1, 1]);
        assert_eq!(holder_counts(&m, &RoaringBitmap::new()), vec![0, 0, 0]);
    }

    #[test]
    fn mined_entitlements_with_the_same_holders_among_the_members_are_twinned() {
        // 1 and 3 are held by identities 0-2 (3 also by identity 5, outside the members);
        // 2 and 4 by identity 3 alone; 0 by everyone, which is common access.
        let mut b = AccessMatrixBuilder::new(6, 5);
        for i in 0..6 {
            b.push(i, 0);
        }
        for i in 0..3 {
            b.push(i, 1);
            b.push(i, 3);
        }
        b.push(5, 3);
        b.push(3, 2);
        b.push(3, 4);
        let m = b.build();
        let members: RoaringBitmap = (0..5).collect();
        let p = Population::select(&m, members, RoleType::Specialized, 80.0, 2).unwrap();
        assert_eq!(p.twinned, [1, 2, 3, 4].into_iter().collect());
        let all: RoaringBitmap = (0..6).collect();
        let p = Population::select(&m, all, RoleType::Specialized, 80.0, 2).unwrap();
        assert_eq!(p.twinned, [2, 4].into_iter().collect());
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
