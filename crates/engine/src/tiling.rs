//! Overlapping roles: a greedy tiling of the population's access by candidate definitions.
//!
//! Peer groups propose what a role could stand for; this step decides which roles to keep and
//! who is in each, so that one identity can be a member of several roles:
//!
//! 1. Every *seed* (a set of entitlements: a peer group's definition, or what two of them
//!    share) is *settled*: its members are the population's identities holding at least `fit`
//!    of its mined entitlements, its definition becomes the entitlements at least half of those
//!    members hold, and the two steps repeat (at most [`MAX_ROUNDS`] times) until they agree.
//!    A settled seed with at least the minimum number of members is a candidate role; one that
//!    does not settle is dropped.
//! 2. Candidates are taken greedily by their *saving*: the mined assignments of their members
//!    they newly explain, less their price: [`MEMBER_PRICE`] per member, one per entitlement of
//!    the definition and [`OVER_GRANT_PRICE`] per over-grant, scaled by how rare the
//!    entitlement is in the population (see [`over_grant_cost`]). A candidate is taken while
//!    its saving is positive. Savings only shrink as more is explained, so a stale saving bounds the fresh
//!    one and candidates are re-priced lazily (the greedy of weighted set cover).
//!
//! Only mined assignments count towards a saving: common access is in every definition its
//! members mostly hold and would otherwise make any stray entitlement a role. Membership
//! depends on what an identity holds, never on what other roles explain already: an identity
//! is a member of every kept role whose definition it fits.

use rayon::prelude::*;
use roaring::RoaringBitmap;
use rustc_hash::FxHashMap;

use crate::error::EngineError;
use crate::greedy::lazy_greedy;
use crate::matrix::AccessMatrix;
use crate::metrics::is_defining;
use crate::observer::Observer;

/// A seed that has not settled after this many rounds is dropped.
pub const MAX_ROUNDS: usize = 6;
/// [`shared_parts`] pairs seeds only through entitlements in at most this many seeds.
pub const MAX_PAIRING: usize = 64;
/// What a membership costs, in assignments: a role must explain more than this per member.
pub const MEMBER_PRICE: f64 = 0.5;
/// What an over-grant costs, in assignments: granting what a member does not hold is much worse
/// than leaving an assignment unexplained (on the HP Labs data this keeps over-grants under
/// 1 % of the assignments; on planted data with 3 % of each role's access dropped, the roles
/// still take their members back).
pub const OVER_GRANT_PRICE: f64 = 15.0;

/// What the tiling needs to know about the population.
#[derive(Debug, Clone, Copy)]
pub struct TilingInput<'a> {
    /// The access matrix.
    pub matrix: &'a AccessMatrix,
    /// The population's identities.
    pub population: &'a RoaringBitmap,
    /// The entitlements the session mines; every role holds at least one.
    pub mined: &'a RoaringBitmap,
    /// Per entitlement, how many of the population hold it.
    pub holder_counts: &'a [u32],
    /// The entitlements a role's definition may hold: the mined ones and, for a session that
    /// mines the rest, the common access its members hold too.
    pub definable: &'a RoaringBitmap,
}

/// How to tile.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TilingParams {
    /// Fewest members of a role.
    pub min_identities: u32,
    /// Share (0-1] of a role's definition an identity must hold to be a member.
    pub fit: f64,
}

/// A kept role.
#[derive(Debug, Clone, PartialEq)]
pub struct Tile {
    /// Member identities, ascending.
    pub members: Vec<u32>,
    /// The definable entitlements at least half of the members hold (see
    /// [`definition_of`]): what the role stands for.
    pub definition: RoaringBitmap,
}

/// A settled seed with what pricing it needs.
#[derive(Debug, Clone)]
struct Candidate {
    members: Vec<u32>,
    definition: RoaringBitmap,
    /// The definition's mined entitlements: what the role is worth is what it explains of them.
    mined: RoaringBitmap,
    /// What its over-grants cost.
    over_cost: f64,
}

impl Candidate {
    /// The saving of keeping this role given what is explained already, in assignments.
    /// Whole numbers of half assignments keep the greedy's order exact.
    fn saving(&self, matrix: &AccessMatrix, explained: &[RoaringBitmap]) -> Saving {
        let mut new = 0u64;
        for &m in &self.members {
            let held = matrix.of_identity(m) & &self.mined;
            new += held.len() - held.intersection_len(&explained[m as usize]);
        }
        let price = MEMBER_PRICE * self.members.len() as f64
            + self.definition.len() as f64
            + self.over_cost;
        Saving((2.0 * (new as f64 - price)).round() as i64)
    }
}

/// A saving in half assignments, ordered as numbers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct Saving(i64);

impl Saving {
    fn positive(self) -> bool {
        self.0 > 0
    }
}

/// Tiles the population's access with settled `seeds` and returns the kept roles in the order
/// they were taken (largest saving first). Deterministic for any thread count.
pub fn tile(
    input: TilingInput<'_>,
    seeds: Vec<RoaringBitmap>,
    params: TilingParams,
    observer: &dyn Observer,
) -> Result<Vec<Tile>, EngineError> {
    let min = params.min_identities.max(1) as usize;
    let fit = params.fit.clamp(f64::MIN_POSITIVE, 1.0);
    let mut seeds: Vec<Vec<u32>> = seeds
        .into_iter()
        .map(|s| (s & input.definable).iter().collect::<Vec<u32>>())
        .filter(|s| s.iter().any(|&e| input.mined.contains(e)))
        .collect();
    seeds.sort_unstable();
    seeds.dedup();
    let settled: Vec<Option<Candidate>> = seeds
        .into_par_iter()
        .map(|seed| {
            if observer.cancelled() {
                return Err(EngineError::Cancelled);
            }
            Ok(settle(input, seed.into_iter().collect(), fit, min))
        })
        .collect::<Result<_, _>>()?;
    let mut candidates: Vec<Candidate> = settled.into_iter().flatten().collect();
    candidates.sort_by(|a, b| {
        a.definition
            .iter()
            .cmp(b.definition.iter())
            .then(a.members.cmp(&b.members))
    });
    candidates.dedup_by(|a, b| a.definition == b.definition && a.members == b.members);
    // Per identity, what the roles kept so far explain.
    let mut explained: Vec<RoaringBitmap> =
        vec![RoaringBitmap::new(); input.matrix.identities() as usize];
    let mut kept = Vec::new();
    lazy_greedy(
        &mut explained,
        candidates.len(),
        |explained, i| candidates[i].saving(input.matrix, explained),
        Saving::positive,
        |explained, i| {
            for &m in &candidates[i].members {
                explained[m as usize] |= &candidates[i].definition;
            }
            kept.push(i);
            Ok(())
        },
        observer,
    )?;
    Ok(kept
        .into_iter()
        .map(|i| Tile {
            members: candidates[i].members.clone(),
            definition: candidates[i].definition.clone(),
        })
        .collect())
}

/// Settles one seed (see the module documentation): the candidate it settles on, if it does
/// with at least `min` members.
fn settle(
    input: TilingInput<'_>,
    mut definition: RoaringBitmap,
    fit: f64,
    min: usize,
) -> Option<Candidate> {
    for _ in 0..MAX_ROUNDS {
        if definition.is_disjoint(input.mined) {
            return None;
        }
        let members = fitting(input, &definition, fit);
        if members.len() < min {
            return None;
        }
        let next = definition_of(input, &members);
        // Only a settled role is a candidate: its members are exactly those fitting its
        // definition, and its definition is what at least half of them hold.
        if next == definition {
            return Some(Candidate {
                over_cost: over_grant_cost(input, &members, &definition),
                mined: &definition & input.mined,
                members,
                definition,
            });
        }
        definition = next;
    }
    None
}

/// What granting `definition` to `members` costs in over-grants: [`OVER_GRANT_PRICE`] for each
/// (member, entitlement) pair the member lacks, scaled by the share of the population that
/// lacks the entitlement too. Not holding what nearly everyone holds (common access, or an
/// entitlement just under the common-access threshold) is how that entitlement is, not a sign
/// that the role is wrong; not holding what only the role's people hold is.
fn over_grant_cost(input: TilingInput<'_>, members: &[u32], definition: &RoaringBitmap) -> f64 {
    let member_set: RoaringBitmap = members.iter().copied().collect();
    let size = members.len() as f64;
    let population = input.population.len().max(1) as f64;
    definition
        .iter()
        .map(|e| {
            let lacking = size - input.matrix.holders(e).intersection_len(&member_set) as f64;
            let held_by = input.holder_counts.get(e as usize).copied().unwrap_or(0);
            let rarity = (1.0 - f64::from(held_by) / population).clamp(0.0, 1.0);
            lacking * OVER_GRANT_PRICE * rarity
        })
        .sum()
}

/// The population's identities holding at least `fit` of the mined entitlements of
/// `definition`, ascending. Common access does not decide membership: nearly everyone holds it.
fn fitting(input: TilingInput<'_>, definition: &RoaringBitmap, fit: f64) -> Vec<u32> {
    let mined = definition & input.mined;
    let size = mined.len();
    if size == 0 {
        return Vec::new();
    }
    let need = ((fit * size as f64) - 1e-9).ceil().clamp(1.0, size as f64) as u64;
    // Whoever holds `need` of them holds one of the `size - need + 1` rarest.
    let mut by_rarity: Vec<u32> = mined.iter().collect();
    by_rarity.sort_by_key(|&e| (input.matrix.holders(e).len(), e));
    let probe = (size - need + 1) as usize;
    let mut candidates = RoaringBitmap::new();
    for &e in by_rarity.iter().take(probe) {
        candidates |= input.matrix.holders(e);
    }
    candidates &= input.population;
    candidates
        .iter()
        .filter(|&i| input.matrix.of_identity(i).intersection_len(&mined) >= need)
        .collect()
}

/// The definable entitlements at least half of `members` hold.
pub fn definition_of(input: TilingInput<'_>, members: &[u32]) -> RoaringBitmap {
    let mut counts: FxHashMap<u32, u32> = FxHashMap::default();
    for &m in members {
        for e in input.matrix.of_identity(m) & input.definable {
            *counts.entry(e).or_insert(0) += 1;
        }
    }
    let size = u32::try_from(members.len()).unwrap_or(u32::MAX);
    counts
        .into_iter()
        .filter(|&(_, count)| is_defining(count, size))
        .map(|(e, _)| e)
        .collect()
}

/// What two or more seeds share, for every pair of seeds that share at least `min_shared`
/// entitlements: a role held together with different other roles shows up as the common part
/// of the peer groups it was split into.
pub fn shared_parts(
    input: TilingInput<'_>,
    seeds: &[RoaringBitmap],
    min_shared: u64,
) -> Vec<RoaringBitmap> {
    // Pairs are found through the mined entitlements they share: common access is in almost
    // every seed and would pair them all.
    let mut by_entitlement: FxHashMap<u32, Vec<u32>> = FxHashMap::default();
    for (i, seed) in (0u32..).zip(seeds) {
        for e in seed & input.mined {
            by_entitlement.entry(e).or_default().push(i);
        }
    }
    let mut pairs: Vec<(u32, u32)> = by_entitlement
        .values()
        // An entitlement in very many seeds (access most roles share) pairs nothing specific
        // and would pair everything with everything.
        .filter(|holders| holders.len() <= MAX_PAIRING)
        .flat_map(|holders| {
            holders
                .iter()
                .enumerate()
                .flat_map(move |(k, &a)| holders[k + 1..].iter().map(move |&b| (a, b)))
        })
        .collect();
    pairs.par_sort_unstable();
    pairs.dedup();
    let mut parts: Vec<RoaringBitmap> = pairs
        .into_par_iter()
        .filter_map(|(a, b)| {
            let shared = &seeds[a as usize] & &seeds[b as usize];
            (shared.intersection_len(input.mined) >= min_shared
                && shared != seeds[a as usize]
                && shared != seeds[b as usize])
                .then_some(shared)
        })
        .collect();
    parts.par_sort_unstable_by(|a, b| a.iter().cmp(b.iter()));
    parts.dedup();
    parts
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::matrix::AccessMatrixBuilder;
    use crate::observer::Silent;

    /// 100 identities: 0-59 hold role A (entitlements 0-4), 40-99 hold role B (5-9), so 40-59
    /// hold both; everyone holds entitlement 10 (common access).
    struct TwoOverlappingRoles {
        matrix: AccessMatrix,
        population: RoaringBitmap,
        mined: RoaringBitmap,
        definable: RoaringBitmap,
        counts: Vec<u32>,
    }

    impl TwoOverlappingRoles {
        fn new() -> Self {
            let mut b = AccessMatrixBuilder::new(100, 11);
            for i in 0..100 {
                b.push(i, 10);
                if i < 60 {
                    (0..5).for_each(|e| b.push(i, e));
                }
                if i >= 40 {
                    (5..10).for_each(|e| b.push(i, e));
                }
            }
            let matrix = b.build();
            let counts = (0..11)
                .map(|e| u32::try_from(matrix.holders(e).len()).unwrap())
                .collect();
            Self {
                matrix,
                population: (0..100).collect(),
                mined: (0..10).collect(),
                definable: (0..11).collect(),
                counts,
            }
        }

        fn input(&self) -> TilingInput<'_> {
            TilingInput {
                matrix: &self.matrix,
                population: &self.population,
                mined: &self.mined,
                holder_counts: &self.counts,
                definable: &self.definable,
            }
        }
    }

    #[test]
    fn identities_holding_two_roles_are_members_of_both() {
        let data = TwoOverlappingRoles::new();
        let input = data.input();
        // The peer groups would be the three access profiles: A only, both, B only.
        let seeds: Vec<RoaringBitmap> = [0..40u32, 40..60, 60..100]
            .into_iter()
            .map(|r| definition_of(input, &r.collect::<Vec<_>>()))
            .collect();
        let mut seeds_and_parts = seeds.clone();
        seeds_and_parts.extend(shared_parts(input, &seeds, 1));
        let params = TilingParams {
            min_identities: 20,
            fit: 0.9,
        };
        let tiles = tile(input, seeds_and_parts, params, &Silent).unwrap();
        let mut found: Vec<(Vec<u32>, Vec<u32>)> = tiles
            .iter()
            .map(|t| (t.definition.iter().collect(), t.members.clone()))
            .collect();
        found.sort();
        assert_eq!(
            found,
            vec![
                (vec![0, 1, 2, 3, 4, 10], (0..60).collect()),
                (vec![5, 6, 7, 8, 9, 10], (40..100).collect()),
            ]
        );
    }

    #[test]
    fn a_role_that_would_explain_nothing_new_is_not_taken() {
        let data = TwoOverlappingRoles::new();
        let input = data.input();
        let a: RoaringBitmap = (0..5).collect();
        let both: RoaringBitmap = (0..10).collect();
        let b: RoaringBitmap = (5..10).collect();
        let params = TilingParams {
            min_identities: 20,
            fit: 1.0,
        };
        let tiles = tile(input, vec![a, both, b], params, &Silent).unwrap();
        // A and B explain everything the combined role would; it is left out.
        assert_eq!(tiles.len(), 2);
        assert!(tiles.iter().all(|t| t.members.len() == 60));
        // Nobody fits: no roles, no panic.
        let none = tile(input, vec![], params, &Silent).unwrap();
        assert!(none.is_empty());
    }

    #[test]
    fn membership_needs_the_fit_and_a_role_needs_the_minimum_size() {
        let data = TwoOverlappingRoles::new();
        let input = data.input();
        let half_of_both: RoaringBitmap = [0, 1, 2, 5, 6].into_iter().collect();
        // A's holders hold 3 of the 5, B-only holders 2: A's holders are members at a fit of
        // 0.6; at 0.8 only those holding both roles are.
        assert_eq!(
            fitting(input, &half_of_both, 0.6),
            (0..60).collect::<Vec<_>>()
        );
        assert_eq!(
            fitting(input, &half_of_both, 0.8),
            (40..60).collect::<Vec<_>>()
        );
        let params = TilingParams {
            min_identities: 61,
            fit: 1.0,
        };
        let seeds = vec![(0..5).collect::<RoaringBitmap>()];
        assert!(tile(input, seeds, params, &Silent).unwrap().is_empty());
    }
}
