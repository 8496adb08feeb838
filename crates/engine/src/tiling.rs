//! Overlapping roles: a greedy tiling of the population's access by candidate definitions.
//!
//! Peer groups propose what a role could stand for; this step decides which roles to keep and
//! who is in each, so that one identity can be a member of several roles:
//!
//! 1. Every *seed* (a set of entitlements: a peer group's definition, or what two of them
//!    share) gives up to three candidates. *Settled*: its members are the population's
//!    identities holding at least `fit` of its mined entitlements, its definition becomes the
//!    entitlements at least half of those members hold, and the two steps repeat (at most
//!    [`MAX_ROUNDS`] times) until they agree. *Trimmed* (when the seed's fitting identities
//!    hold more mined entitlements in common than the seed): members holding most of the
//!    excess are dropped until no mined entitlement beyond the seed is held by half of them,
//!    and at least the minimum number of them must hold none of that excess (see
//!    [`trimmed`]). *Core*: those members holding none of the excess alone, when some of the
//!    trimmed members hold part of it. A candidate has at least the minimum number
//!    of members, each fitting its definition, and its definition is what at least half of
//!    them hold.
//! 2. Candidates are taken greedily by their *saving*: the mined assignments of their members
//!    they newly explain, less their price: [`MEMBER_PRICE`] per member, one per mined entitlement
//!    of the definition and [`OVER_GRANT_PRICE`] per over-grant, scaled by how rare the
//!    entitlement is in the population (see [`over_grant_cost`]). A candidate is taken while
//!    its saving is positive. Savings only shrink as more is explained, so a stale saving bounds the fresh
//!    one and candidates are re-priced lazily (the greedy of weighted set cover).
//!
//! 3. *Standalone entitlements*: once no candidate saves anything, every mined entitlement
//!    whose unexplained holders with nothing else in common number at least the minimum and
//!    more than stray grants give an entitlement (see [`crate::stray`]) is one more seed,
//!    settled in at most two rounds (or trimmed) and taken the same way. Access held for its
//!    own sake, with nothing else in common, is no peer group's definition. Each is also
//!    tried given only to the holders it would explain something to.
//! 4. *Residual passes* (at most [`RESIDUAL_PASSES`]): every definition the seeds settled
//!    into, and every entitlement standalone by then, settled again (in up to [`MAX_ROUNDS`]
//!    rounds) over only the fitting profiles it would explain something to, and taken the same
//!    way, until a pass keeps nothing: what the roles leave unexplained, mined again. An
//!    identity of a profile a topped-up role took in part still counts as unexplained there,
//!    so it can be given a second role with the same entitlements. Each pass also grows roles
//!    from the holders of every entitlement left unexplained, one entitlement at a time (see
//!    [`growth`]).
//!
//! A trimmed role that dropping a whole profile takes under the minimum is topped up with part
//! of the dropped profiles (see [`top_up`]); no other role splits a profile.
//!
//! Only mined assignments count towards a saving: common access is in every definition its
//! members mostly hold and would otherwise make any stray entitlement a role. Outside the
//! residual passes (and the standalone roles given to their needy holders), membership depends
//! only on what identities hold, never on what other roles explain already, so kept roles
//! overlap. All of it works on access profiles (identities holding the same definable
//! entitlements), each weighted by its identities.

use std::collections::hash_map::Entry;
use std::hash::{Hash, Hasher};
use std::sync::{Mutex, PoisonError};

use rayon::prelude::*;
use roaring::{MultiOps, RoaringBitmap};
use rustc_hash::{FxHashMap, FxHasher};

use crate::counts::Counts;
use crate::error::EngineError;
use crate::greedy::lazy_greedy;
use crate::matrix::AccessMatrix;
use crate::metrics::is_defining;
use crate::observer::Observer;
use crate::stray::standalone_bound;

mod growth;

/// At most this many passes over what the kept roles leave unexplained.
pub const RESIDUAL_PASSES: usize = 3;
/// A seed that has not settled after this many rounds is dropped.
pub const MAX_ROUNDS: usize = 6;
/// A seed whose members are not trimmed to it after this many rounds gives no trimmed candidate.
pub const MAX_TRIM_ROUNDS: usize = 64;

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
    /// Mined entitlements held by exactly the same identities as another mined one
    /// ([`crate::population::Population::twinned`]), which are never standalone. It only
    /// saves work: with none given, the same roles are found.
    pub twinned: &'a RoaringBitmap,
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
    /// [`definitions_of`]): what the role stands for.
    pub definition: RoaringBitmap,
}

/// The population grouped by what its identities hold of the definable entitlements. Identities
/// holding the same are alike to every step of the tiling, so each step works once per profile
/// (3,485 identities of americas_large are 432 profiles).
struct Profiles {
    /// What each profile holds of the definable entitlements.
    rows: Vec<RoaringBitmap>,
    /// Each profile's identities, ascending.
    identities: Vec<Vec<u32>>,
    /// Per entitlement, the profiles holding it.
    holders: Vec<RoaringBitmap>,
    /// The rows again as one flat ascending list per profile: walking a slice is several times
    /// faster than walking a bitmap, and the settling walks rows over and over.
    flat: Vec<u32>,
    /// Where each profile's list starts in `flat` (and the end, last).
    offsets: Vec<usize>,
    /// Held by no profile.
    none: RoaringBitmap,
}

impl Profiles {
    fn new(input: TilingInput<'_>) -> Self {
        // In a `SPECIALIZED` session everything the population holds is definable: rows are
        // then the matrix's own.
        let whole = input.holder_counts.len() >= input.matrix.entitlements() as usize
            && (0u32..)
                .zip(input.holder_counts)
                .all(|(e, &count)| count == 0 || input.definable.contains(e));
        let definable_row = |i: u32| {
            if whole {
                input.matrix.of_identity(i).clone()
            } else {
                input.matrix.of_identity(i) & input.definable
            }
        };
        // Identities are sorted by a hash of what they hold, then split where it changes.
        let mut keyed: Vec<(u64, u32)> = input
            .population
            .iter()
            .collect::<Vec<u32>>()
            .into_par_iter()
            .map(|i| {
                let mut hasher = FxHasher::default();
                // Shifted by one: hashing a 0 into a fresh hasher leaves it unchanged.
                for e in input.matrix.of_identity(i) {
                    if whole || input.definable.contains(e) {
                        (u64::from(e) + 1).hash(&mut hasher);
                    }
                }
                (hasher.finish(), i)
            })
            .collect();
        keyed.par_sort_unstable();
        let mut identities: Vec<Vec<u32>> = Vec::new();
        for run in keyed.chunk_by(|a, b| a.0 == b.0) {
            if let [(_, only)] = run {
                identities.push(vec![*only]);
                continue;
            }
            let mut rest: Vec<u32> = run.iter().map(|&(_, i)| i).collect();
            // Equal hashes of different access (rare) are told apart by the rows themselves.
            while let Some(&first) = rest.first() {
                let row = definable_row(first);
                let (same, other): (Vec<u32>, Vec<u32>) =
                    rest.into_iter().partition(|&i| definable_row(i) == row);
                identities.push(same);
                rest = other;
            }
        }
        let rows: Vec<RoaringBitmap> = identities
            .par_iter()
            .map(|group| {
                group
                    .first()
                    .map_or_else(RoaringBitmap::new, |&i| definable_row(i))
            })
            .collect();
        let entitlements = input.matrix.entitlements() as usize;
        // Each chunk of profiles appends to its own holder lists (profiles come in ascending
        // order, so appending is the cheap insert); the chunks are disjoint ranges to join.
        let chunk = rows
            .len()
            .div_ceil(rayon::current_num_threads().max(1))
            .max(1);
        let holders = (0u32..)
            .zip(&rows)
            .collect::<Vec<_>>()
            .par_chunks(chunk)
            .map(|part| {
                let mut holders = vec![RoaringBitmap::new(); entitlements];
                for &(p, row) in part {
                    for e in row {
                        if let Some(h) = holders.get_mut(e as usize) {
                            let _ = h.push(p);
                        }
                    }
                }
                holders
            })
            .reduce_with(|mut a, b| {
                for (x, y) in a.iter_mut().zip(b) {
                    *x |= y;
                }
                a
            })
            .unwrap_or_else(|| vec![RoaringBitmap::new(); entitlements]);
        let mut offsets = Vec::with_capacity(rows.len() + 1);
        offsets.push(0);
        let mut flat = Vec::with_capacity(rows.iter().map(|r| r.len() as usize).sum());
        for row in &rows {
            flat.extend(row.iter());
            offsets.push(flat.len());
        }
        Profiles {
            rows,
            identities,
            holders,
            flat,
            offsets,
            none: RoaringBitmap::new(),
        }
    }

    /// The profiles holding `entitlement`.
    fn holders_of(&self, entitlement: u32) -> &RoaringBitmap {
        self.holders.get(entitlement as usize).unwrap_or(&self.none)
    }

    /// What `profile` holds of the definable entitlements, ascending.
    fn row(&self, profile: u32) -> &[u32] {
        let p = profile as usize;
        &self.flat[self.offsets[p]..self.offsets[p + 1]]
    }

    fn weight(&self, profile: u32) -> u64 {
        self.identities[profile as usize].len() as u64
    }

    /// How many identities `profiles` stand for.
    fn size(&self, profiles: &[u32]) -> u64 {
        profiles.iter().map(|&p| self.weight(p)).sum()
    }

    /// The identities of `profiles`, ascending.
    fn identities_of(&self, profiles: &[u32]) -> Vec<u32> {
        let mut members: Vec<u32> = profiles
            .iter()
            .flat_map(|&p| self.identities[p as usize].iter().copied())
            .collect();
        members.sort_unstable();
        members
    }

    /// Per definable entitlement, how many identities of `profiles` hold it.
    #[cfg(test)]
    fn counts(&self, profiles: &[u32]) -> Counts {
        let mut counts = Counts::new(self.holders.len());
        self.count_into(profiles, &mut counts);
        counts
    }

    /// Adds to `counts`, per definable entitlement, how many identities of `profiles` hold it.
    fn count_into(&self, profiles: &[u32], counts: &mut Counts) {
        for &p in profiles {
            let weight = self.weight(p);
            for &e in self.row(p) {
                counts.add(e, weight);
            }
        }
    }

    /// Whether `profile` holds at least `need` of `mined`.
    fn fits(&self, profile: u32, mined: &RoaringBitmap, need: u64) -> bool {
        self.rows[profile as usize].intersection_len(mined) >= need
    }

    /// The profiles holding at least `fit` of the mined entitlements of `definition`, ascending.
    /// Common access does not decide membership: nearly everyone holds it.
    fn fitting(&self, input: TilingInput<'_>, definition: &RoaringBitmap, fit: f64) -> Vec<u32> {
        self.fitting_among(input, definition, fit, None)
    }

    /// [`Profiles::fitting`], of the profiles `within` only when given.
    fn fitting_among(
        &self,
        input: TilingInput<'_>,
        definition: &RoaringBitmap,
        fit: f64,
        within: Option<&RoaringBitmap>,
    ) -> Vec<u32> {
        let mined = definition & input.mined;
        let Some(need) = fit_need(mined.len(), fit) else {
            return Vec::new();
        };
        // A few profiles `within` are cheaper to walk than the union of the rarest holders.
        let candidates: RoaringBitmap = match within {
            Some(within) => within.clone(),
            None => {
                // Whoever holds `need` of them holds one of the `size - need + 1` rarest.
                let mut by_rarity: Vec<u32> = mined.iter().collect();
                by_rarity.sort_by_key(|&e| (self.holders_of(e).len(), e));
                let probe = (mined.len() - need + 1) as usize;
                // One union of them all, not one union per entitlement: this was half the
                // settling.
                by_rarity
                    .iter()
                    .take(probe)
                    .map(|&e| self.holders_of(e))
                    .union()
            }
        };
        // One bit per mined entitlement of the definition: walking a candidate's row against
        // them is cheaper than intersecting bitmaps, and every candidate is walked.
        let mut bits = vec![0u64; mined.max().map_or(0, |m| m as usize / 64 + 1)];
        for e in &mined {
            bits[e as usize / 64] |= 1 << (e % 64);
        }
        let held = |e: &&u32| {
            bits.get(**e as usize / 64)
                .is_some_and(|word| word & (1 << (**e % 64)) != 0)
        };
        candidates
            .iter()
            .filter(|&p| self.row(p).iter().filter(held).count() as u64 >= need)
            .collect()
    }
}

/// The entitlements held by at least half of `size` identities, from how many hold each.
pub(crate) fn half_held(counts: impl IntoIterator<Item = (u32, u64)>, size: u64) -> RoaringBitmap {
    counts
        .into_iter()
        .filter(|&(_, count)| is_defining(count, size))
        .map(|(e, _)| e)
        .collect()
}

/// How many of `size` mined entitlements a member holds at least; `None` for none to hold.
pub(crate) fn fit_need(size: u64, fit: f64) -> Option<u64> {
    (size > 0).then(|| ((fit * size as f64) - 1e-9).ceil().clamp(1.0, size as f64) as u64)
}

/// A candidate role (settled, trimmed or a trimmed one's core) with what pricing it needs.
#[derive(Debug, Clone)]
struct Candidate {
    /// Member profiles, ascending.
    members: Vec<u32>,
    /// Profiles only some of whose identities are members (see [`top_up`]): each with how many
    /// of its identities, the first by index.
    partial: Vec<(u32, u64)>,
    /// How many identities they all stand for.
    size: u64,
    definition: RoaringBitmap,
    /// The definition's mined entitlements: what the role is worth is what it explains of them.
    mined: Vec<u32>,
    /// What its over-grants cost.
    over_cost: f64,
}

impl Candidate {
    /// `members` (`size` identities, `counts` of what they hold) with `definition`.
    fn new(
        input: TilingInput<'_>,
        members: Vec<u32>,
        size: u64,
        counts: &Counts,
        definition: RoaringBitmap,
    ) -> Self {
        Candidate {
            over_cost: over_grant_cost(input, counts, size, &definition),
            mined: (&definition & input.mined).iter().collect(),
            size,
            members,
            partial: Vec::new(),
            definition,
        }
    }

    /// Its member identities, ascending.
    fn identities(&self, profiles: &Profiles) -> Vec<u32> {
        let mut identities = profiles.identities_of(&self.members);
        for &(p, taken) in &self.partial {
            identities.extend(
                profiles.identities[p as usize]
                    .iter()
                    .take(usize::try_from(taken).unwrap_or(usize::MAX)),
            );
        }
        identities.sort_unstable();
        identities
    }

    /// The saving of keeping this role given what is explained already (per profile), in
    /// assignments. Whole numbers of half assignments keep the greedy's order exact. Identities
    /// of a profile taken in part pay their price but explain nothing fresh here, and keeping
    /// the role marks nothing explained for their profile: what is explained is kept per
    /// profile, and most of the rest of it does not hold the role.
    fn saving(&self, profiles: &Profiles, explained: &[RoaringBitmap]) -> Saving {
        let mut new = 0u64;
        for &p in &self.members {
            let explained = &explained[p as usize];
            // Row and definition both ascend: one merge finds what the member holds of it.
            let mut row = profiles.row(p).iter().peekable();
            let mut fresh = 0;
            for &e in &self.mined {
                while row.next_if(|&&r| r < e).is_some() {}
                if row.next_if_eq(&&e).is_some() && !explained.contains(e) {
                    fresh += 1;
                }
            }
            new += profiles.weight(p) * fresh;
        }
        let price = MEMBER_PRICE * self.size as f64 + self.mined.len() as f64 + self.over_cost;
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

/// Tiles the population's access with the candidates `seeds` give, then with the standalone
/// entitlements left (see [`standalone_seeds`]), then in residual passes (see the module
/// documentation), and returns the kept roles in the order they were taken (largest saving
/// first within each step). Deterministic for any thread count.
pub fn tile(
    input: TilingInput<'_>,
    seeds: Vec<RoaringBitmap>,
    params: TilingParams,
    observer: &dyn Observer,
) -> Result<Vec<Tile>, EngineError> {
    let min = u64::from(params.min_identities.max(1));
    let fit = params.fit.clamp(f64::MIN_POSITIVE, 1.0);
    let profiles = Profiles::new(input);
    let visited = Visited::default();
    let settling = Settling {
        input,
        profiles: &profiles,
        fit,
        min,
        visited: &visited,
        observer,
        rounds: MAX_ROUNDS,
        unexplained: None,
    };
    // Per profile, what the roles kept so far explain.
    let mut explained: Vec<RoaringBitmap> = vec![RoaringBitmap::new(); profiles.rows.len()];
    let mut kept = Vec::new();
    let candidates = settling.candidates(seeds)?;
    take_greedily(&profiles, &candidates, &mut explained, &mut kept, observer)?;
    let mut unexplained = unexplained_holders(input, &profiles, &explained);
    let standalone = standalone_seeds(input, &profiles, &unexplained, min);
    if !standalone.is_empty() {
        // A standalone entitlement is a role as it is, with the common access its holders
        // mostly hold (the second round), or trimmed: what its holders settle into beyond that
        // is a peer group's, which the seeds before had every chance to reach. Given to all its
        // holders or to those it explains something to, whichever saves more.
        let settling = Settling {
            rounds: 2,
            ..settling
        };
        let mut standalone_candidates = settling.needy(&unexplained, standalone.clone())?;
        standalone_candidates.extend(settling.candidates(standalone)?);
        let before = kept.len();
        take_greedily(
            &profiles,
            &standalone_candidates,
            &mut explained,
            &mut kept,
            observer,
        )?;
        if kept.len() > before {
            unexplained = unexplained_holders(input, &profiles, &explained);
        }
    }
    // What the roles leave unexplained, mined again: every definition the seeds settled into,
    // and the entitlements standing alone now, each given only to those it explains something
    // to, until a pass keeps nothing.
    let mut definitions: Vec<RoaringBitmap> =
        candidates.into_iter().map(|c| c.definition).collect();
    definitions.sort_unstable_by(|a, b| a.iter().cmp(b.iter()));
    definitions.dedup();
    let mut growing = growth::Growth::default();
    for _ in 0..RESIDUAL_PASSES {
        let before = kept.len();
        let mut seeds = definitions.clone();
        seeds.extend(standalone_seeds(input, &profiles, &unexplained, min));
        let mut needy = settling.needy(&unexplained, seeds)?;
        needy.extend(growing.candidates(input, &profiles, &unexplained, min, observer)?);
        take_greedily(&profiles, &needy, &mut explained, &mut kept, observer)?;
        if kept.len() == before {
            break;
        }
        unexplained = unexplained_holders(input, &profiles, &explained);
    }
    Ok(kept)
}

/// What settling seeds into candidates needs.
struct Settling<'a> {
    input: TilingInput<'a>,
    profiles: &'a Profiles,
    fit: f64,
    min: u64,
    visited: &'a Visited,
    observer: &'a dyn Observer,
    /// At most this many rounds per seed.
    rounds: usize,
    /// Per entitlement, the profiles holding it that no kept role explains it to: when given,
    /// a seed's members are only the fitting profiles it would explain something to (see
    /// [`tile`]).
    unexplained: Option<&'a [RoaringBitmap]>,
}

impl Settling<'_> {
    /// The candidates `seeds` settle into given only to the fitting profiles they would
    /// explain something to (`unexplained`, per entitlement: see [`unexplained_holders`]).
    /// Membership differs from [`Settling::candidates`]', so seeds share what they reached
    /// only among themselves.
    fn needy(
        &self,
        unexplained: &[RoaringBitmap],
        seeds: Vec<RoaringBitmap>,
    ) -> Result<Vec<Candidate>, EngineError> {
        let visited = Visited::default();
        Settling {
            unexplained: Some(unexplained),
            visited: &visited,
            ..*self
        }
        .candidates(seeds)
    }

    /// The candidates `seeds` settle into, each once, in an order independent of threads.
    fn candidates(&self, seeds: Vec<RoaringBitmap>) -> Result<Vec<Candidate>, EngineError> {
        let input = self.input;
        let mut seeds: Vec<Vec<u32>> = seeds
            .into_iter()
            .map(|s| (s & input.definable).iter().collect::<Vec<u32>>())
            .filter(|s| s.iter().any(|&e| input.mined.contains(e)))
            .collect();
        seeds.sort_unstable();
        seeds.dedup();
        let settled: Vec<Vec<Candidate>> = seeds
            .into_par_iter()
            .map_init(
                || Scratch::new(self.profiles),
                |scratch, seed| {
                    if self.observer.cancelled() {
                        return Err(EngineError::Cancelled);
                    }
                    Ok(settle(
                        input,
                        self.profiles,
                        seed.into_iter().collect(),
                        self.fit,
                        self.min,
                        (self.visited, self.rounds, self.unexplained),
                        scratch,
                    ))
                },
            )
            .collect::<Result<_, _>>()?;
        let mut candidates: Vec<Candidate> = settled.into_iter().flatten().collect();
        candidates.sort_by(|a, b| {
            a.definition
                .iter()
                .cmp(b.definition.iter())
                .then(a.members.cmp(&b.members))
                .then(a.partial.cmp(&b.partial))
        });
        candidates.dedup_by(|a, b| {
            a.definition == b.definition && a.members == b.members && a.partial == b.partial
        });
        Ok(candidates)
    }
}

/// Takes `candidates` greedily by their saving given what `explained` (per profile) holds
/// already, adding each kept one to `explained` and to `kept`.
fn take_greedily(
    profiles: &Profiles,
    candidates: &[Candidate],
    explained: &mut Vec<RoaringBitmap>,
    kept: &mut Vec<Tile>,
    observer: &dyn Observer,
) -> Result<(), EngineError> {
    lazy_greedy(
        explained,
        candidates.len(),
        |explained, i| candidates[i].saving(profiles, explained),
        Saving::positive,
        |explained, i| {
            let candidate = &candidates[i];
            for &p in &candidate.members {
                explained[p as usize] |= &candidate.definition;
            }
            kept.push(Tile {
                members: candidate.identities(profiles),
                definition: candidate.definition.clone(),
            });
            Ok(())
        },
        observer,
    )
}

/// The mined entitlements that stand alone once the tiled roles are kept: those whose
/// unexplained holders holding nothing else most of its holders hold are at least `min` and
/// more than stray grants give an entitlement ([`standalone_bound`] of the unexplained holders
/// of each mined entitlement the population holds), each as a seed of its own. An entitlement
/// people hold with nothing else in common is no peer group's definition, so no other seed
/// reaches it.
fn standalone_seeds(
    input: TilingInput<'_>,
    profiles: &Profiles,
    unexplained: &[RoaringBitmap],
    min: u64,
) -> Vec<RoaringBitmap> {
    let entitlements = profiles.holders.len();
    let (unexplained_counts, bound) = unexplained_weights(input, profiles, unexplained, min);
    let held: Vec<u32> = input
        .mined
        .iter()
        .filter(|&e| input.holder_counts.get(e as usize).is_some_and(|&c| c > 0))
        .collect();
    // An entitlement held by exactly the same identities as another mined one is never alone
    // (that one is held by all its holders); most of a large population's are (americas_large:
    // a third of this pass).
    let above: Vec<(u32, Vec<u32>)> = held
        .into_iter()
        .filter(|&e| {
            unexplained_counts
                .get(e as usize)
                .is_some_and(|&u| u >= bound)
        })
        .filter(|&e| !input.twinned.contains(e))
        .map(|e| (e, profiles.holders_of(e).iter().collect::<Vec<u32>>()))
        .collect();
    above
        .into_par_iter()
        .map_init(
            || Counts::new(entitlements),
            |counts, (e, holders)| {
                // Holders of part of a larger role (members lacking one of its entitlements)
                // are unexplained too; only those holding nothing else their fellow holders
                // mostly hold count towards the bound.
                let with = held_with(input, profiles, e, &holders, counts);
                let unexplained_e = unexplained.get(e as usize).unwrap_or(&profiles.none);
                let alone: u64 = holders
                    .iter()
                    .filter(|&&p| {
                        unexplained_e.contains(p)
                            && profiles.row(p).iter().all(|&x| !with.contains(x))
                    })
                    .map(|&p| profiles.weight(p))
                    .sum();
                (alone >= bound).then(|| std::iter::once(e).collect())
            },
        )
        .flatten()
        .collect()
}

/// The mined entitlements other than `e` that at least half of `holders` (the profiles holding
/// it) hold; `counts` is scratch.
fn held_with(
    input: TilingInput<'_>,
    profiles: &Profiles,
    e: u32,
    holders: &[u32],
    counts: &mut Counts,
) -> RoaringBitmap {
    counts.clear();
    profiles.count_into(holders, counts);
    let mut with = half_held(counts.iter(), profiles.size(holders)) & input.mined;
    with.remove(e);
    with
}

/// Per entitlement below `entitlements`, whether it is mined: looked up along rows, where a
/// bitmap lookup per entry costs several times more.
fn mined_flags(input: TilingInput<'_>, entitlements: usize) -> Vec<bool> {
    let mut is_mined = vec![false; entitlements];
    for e in input.mined {
        if let Some(mined) = is_mined.get_mut(e as usize) {
            *mined = true;
        }
    }
    is_mined
}

/// Per entitlement, how many identities hold it unexplained (`unexplained`: see
/// [`unexplained_holders`]), and how many of them, at least `min`, are more than stray grants
/// give an entitlement ([`standalone_bound`] of those of the mined entitlements the population
/// holds).
fn unexplained_weights(
    input: TilingInput<'_>,
    profiles: &Profiles,
    unexplained: &[RoaringBitmap],
    min: u64,
) -> (Vec<u64>, u64) {
    let weights: Vec<u64> = unexplained
        .par_iter()
        .map(|holders| holders.iter().map(|p| profiles.weight(p)).sum())
        .collect();
    let counts: Vec<u64> = input
        .mined
        .iter()
        .filter(|&e| input.holder_counts.get(e as usize).is_some_and(|&c| c > 0))
        .map(|e| weights.get(e as usize).copied().unwrap_or(0))
        .collect();
    let bound = standalone_bound(&counts).max(min);
    (weights, bound)
}

/// Per entitlement (indexed as the matrix's), the profiles holding it that `explained` (per
/// profile) does not explain it to; empty for entitlements not mined.
fn unexplained_holders(
    input: TilingInput<'_>,
    profiles: &Profiles,
    explained: &[RoaringBitmap],
) -> Vec<RoaringBitmap> {
    let entitlements = profiles.holders.len();
    let is_mined = mined_flags(input, entitlements);
    // (entitlement, profile) pairs, walking each profile's row against what is explained to
    // it in one merge; chunks in profile order keep each entitlement's profiles ascending.
    let chunk = (explained.len() / (rayon::current_num_threads() * 4)).max(1024);
    let pairs: Vec<Vec<(u32, u32)>> = explained
        .par_chunks(chunk)
        .enumerate()
        .map(|(i, rows)| {
            let mut pairs = Vec::new();
            for (j, explained) in rows.iter().enumerate() {
                let p = (i * chunk + j) as u32;
                let mut done = explained.iter().peekable();
                for &e in profiles.row(p) {
                    while done.next_if(|&x| x < e).is_some() {}
                    if done.next_if_eq(&e).is_none() && is_mined.get(e as usize) == Some(&true) {
                        pairs.push((e, p));
                    }
                }
            }
            pairs
        })
        .collect();
    let mut by_entitlement: Vec<Vec<u32>> = vec![Vec::new(); entitlements];
    for (e, p) in pairs.into_iter().flatten() {
        by_entitlement[e as usize].push(p);
    }
    by_entitlement
        .into_par_iter()
        .map(|holders| RoaringBitmap::from_sorted_iter(holders).unwrap_or_default())
        .collect()
}

/// Settles one seed (see the module documentation): the candidates it gives with at least
/// `min` members. The first is the fixpoint of fitting members and their half-majority
/// definition, if reached within `rounds` (at most [`MAX_ROUNDS`]); when the seed's own
/// fitting members hold more in common than the seed, the others keep to the seed and trim
/// its members instead (see [`trimmed`]).
fn settle(
    input: TilingInput<'_>,
    profiles: &Profiles,
    seed: RoaringBitmap,
    fit: f64,
    min: u64,
    (visited, rounds, unexplained): (&Visited, usize, Option<&[RoaringBitmap]>),
    scratch: &mut Scratch,
) -> Vec<Candidate> {
    let mut found = Vec::new();
    let mut definition = seed;
    for round in 0..rounds.min(MAX_ROUNDS) {
        if definition.is_disjoint(input.mined) || !visited.claim(&definition, round) {
            break;
        }
        let members = match unexplained {
            None => profiles.fitting(input, &definition, fit),
            Some(unexplained) => {
                let needing: RoaringBitmap = (&definition & input.mined)
                    .iter()
                    .filter_map(|e| unexplained.get(e as usize))
                    .union();
                profiles.fitting_among(input, &definition, fit, Some(&needing))
            }
        };
        let size = profiles.size(&members);
        if size < min {
            break;
        }
        scratch.counts.clear();
        profiles.count_into(&members, &mut scratch.counts);
        let next = half_held(scratch.counts.iter(), size);
        // Only a settled role is a candidate: its definition is what at least half of its
        // members hold.
        if next == definition {
            found.push(Candidate::new(
                input,
                members,
                size,
                &scratch.counts,
                definition,
            ));
            break;
        }
        if round == 0 {
            found.extend(trimmed(
                input,
                profiles,
                &definition,
                members,
                scratch,
                fit,
                min,
            ));
        }
        definition = next;
    }
    found
}

/// What settling one seed after another on one thread reuses: allocating and zeroing a counter
/// over every entitlement per round was a tenth of the settling on americas_large.
struct Scratch {
    counts: Counts,
    /// Per entitlement, what the trimming under way takes it for ([`SEED`], [`EXCESS`],
    /// [`EXTRA`]); all zero between trimmings.
    marks: Vec<u8>,
}

impl Scratch {
    fn new(profiles: &Profiles) -> Self {
        Scratch {
            counts: Counts::new(profiles.holders.len()),
            marks: vec![0; profiles.holders.len()],
        }
    }
}

/// The definitions seeds have reached while settling, each with the earliest round one reached
/// it at. Settling from a definition depends on nothing else, so a seed reaching one that another
/// reached at the same round or earlier would only repeat what that one finds (with no more
/// rounds left to find it in) and stops; the candidates found are the same whichever seed gets
/// there first. Seeds of real data converge: on americas_large 147 seeds took 370 rounds over 207
/// distinct definitions.
#[derive(Default)]
struct Visited(Mutex<FxHashMap<Vec<u32>, usize>>);

impl Visited {
    /// Records that a seed reached `definition` at `round`; `false` when one reached it at the
    /// same round or earlier, so this one need not go on.
    fn claim(&self, definition: &RoaringBitmap, round: usize) -> bool {
        let key: Vec<u32> = definition.iter().collect();
        // A poisoned lock only means another seed panicked; the map is still valid.
        let mut reached = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        match reached.entry(key) {
            Entry::Occupied(earlier) if *earlier.get() <= round => false,
            Entry::Occupied(mut later) => {
                later.insert(round);
                true
            }
            Entry::Vacant(first) => {
                first.insert(round);
                true
            }
        }
    }
}

/// Trims `members` (the profiles fitting `seed`) until no mined entitlement beyond the seed is
/// held by at least half of them, dropping first the members holding most of what the seed
/// lacks: a role people hold beside other roles keeps to itself instead of absorbing what most
/// of its members also hold elsewhere. Common access is left out of the trimming: it is in
/// whatever definition its holders make. Gives the trimmed candidate and, when some of its
/// members hold part of the excess (everything that was held by half of them at some round),
/// its *core*: the members holding none of it, with what half of them hold; each only when
/// every one of its members fits its definition. Padding members often have the seed's
/// entitlements explained by the role they were trimmed for, and then only add their
/// membership's price; the core explains the same fresh assignments without them. When
/// dropping whole profiles leaves fewer than `min`, the members are topped up to `min` (see
/// [`top_up`]), only when the excess is larger than the seed (the core needs only half of
/// `min` then; topping up adds none to it). Nothing when there is nothing to trim, when `min`
/// identities cannot be kept, when fewer
/// than `min` members hold none of the excess (half of `min` when the excess is larger than
/// the seed: those members then hold less than half of the larger role and are no part of it;
/// the core alone still needs `min`), or after [`MAX_TRIM_ROUNDS`] rounds.
/// `scratch.counts` must count what `members` hold; trimming takes members out of it, so it
/// is left counting none in particular.
fn trimmed(
    input: TilingInput<'_>,
    profiles: &Profiles,
    seed: &RoaringBitmap,
    members: Vec<u32>,
    scratch: &mut Scratch,
    fit: f64,
    min: u64,
) -> Vec<Candidate> {
    for e in seed {
        if let Some(mark) = scratch.marks.get_mut(e as usize) {
            *mark |= SEED;
        }
    }
    let mut excess = Vec::new();
    let seed_mined = seed.intersection_len(input.mined);
    let found = trim(
        input,
        profiles,
        &members,
        scratch,
        (seed_mined, &mut excess),
        fit,
        min,
    );
    for e in seed.iter().chain(excess.iter().copied()) {
        if let Some(mark) = scratch.marks.get_mut(e as usize) {
            *mark = 0;
        }
    }
    found
}

/// Marks an entitlement of the seed being trimmed for, in [`Scratch::marks`].
const SEED: u8 = 1;
/// Marks an entitlement that was held by half the members at some round of the trimming.
const EXCESS: u8 = 2;
/// Marks an entitlement held by half the members at the current round.
const EXTRA: u8 = 4;

/// [`trimmed`], with `scratch.counts` counting `members` and `scratch.marks` marking the
/// seed, which holds `seed_mined` mined entitlements; `excess` collects what gets marked
/// beyond it.
fn trim(
    input: TilingInput<'_>,
    profiles: &Profiles,
    members: &[u32],
    scratch: &mut Scratch,
    (seed_mined, excess): (u64, &mut Vec<u32>),
    fit: f64,
    min: u64,
) -> Vec<Candidate> {
    let Scratch { counts, marks } = scratch;
    let mut alive = vec![true; members.len()];
    let mut size = profiles.size(members);
    // Counts only fall, and the extra is only looked for while at least `min` members are
    // left: what half of `min` do not hold now is never held by half of them later
    // (americas_large: most of the members' access).
    let possible: Vec<u32> = counts
        .iter()
        .filter(|&(e, count)| {
            is_defining(count, min) && input.mined.contains(e) && marks[e as usize] & SEED == 0
        })
        .map(|(e, _)| e)
        .collect();
    // How much beyond the seed each member holds at all: the seed's marks stay put while
    // trimming, so this is walked once, when the first round finds an extra to trim for.
    let mut beyond: Vec<usize> = Vec::new();
    let mut extra: Vec<u32> = Vec::new();
    let mut partial: Vec<(u32, u64)> = Vec::new();
    let mut topped = false;
    for _ in 0..MAX_TRIM_ROUNDS {
        if size < min {
            // Topping up adds only members holding part of the excess, so the core stays under
            // `min`: worth it only when half of `min` is enough for the core. (A topped-up
            // trimming ends in the round it was topped up in.)
            if excess.len() as u64 <= seed_mined {
                return Vec::new();
            }
            let Some(filled) = top_up(
                input,
                profiles,
                (members, &possible),
                &mut alive,
                counts,
                marks,
                size,
                min,
            ) else {
                return Vec::new();
            };
            (size, partial, topped) = (filled.0, filled.1, true);
        }
        // Mined entitlements beyond the seed held by half the members. What every member left
        // holds stays: no trimming could take it out.
        extra.clear();
        extra.extend(possible.iter().copied().filter(|&e| {
            let count = counts.get(e);
            count < size && is_defining(count, size)
        }));
        if topped && !extra.is_empty() {
            // Topping up keeps everything beyond the seed under half; nothing more to trim.
            return Vec::new();
        }
        if extra.is_empty() {
            if excess.is_empty() {
                // Nothing was trimmed: the seed's own members are the settled candidate's
                // business, not this one's.
                return Vec::new();
            }
            // The members left, split by whether they hold any of the excess.
            let (core, padding): (Vec<u32>, Vec<u32>) = (0..members.len())
                .filter(|&m| alive[m])
                .map(|m| members[m])
                .partition(|&p| {
                    profiles
                        .row(p)
                        .iter()
                        .all(|&e| marks[e as usize] & EXCESS == 0)
                });
            // A core holding less than half of the seed with its excess is no part of that
            // larger role: it is a role beside it, whose members are simply fewer.
            let core_min = if excess.len() as u64 > seed_mined {
                min.div_ceil(2)
            } else {
                min
            };
            return trimmed_candidates(
                input,
                profiles,
                (core, padding, partial),
                size,
                counts,
                fit,
                (min, core_min),
            );
        }
        for &e in &extra {
            marks[e as usize] |= EXCESS | EXTRA;
        }
        excess.extend_from_slice(&extra);
        // The most holders any extra needs dropped bounds this round.
        let needed = to_drop(extra.iter().map(|&e| counts.get(e)), size);
        // The members holding some of the extra, by how much of it, then by how much beyond
        // the seed they hold at all. (What every member left holds counts as beyond the seed
        // here; it shortens every member's excess alike, so the order is the same.) Walking
        // the members' rows: the extra's holders outside the members can be far more.
        if beyond.is_empty() {
            beyond = members
                .iter()
                .map(|&p| {
                    profiles
                        .row(p)
                        .iter()
                        .filter(|&&e| marks[e as usize] & SEED == 0)
                        .count()
                })
                .collect();
        }
        let order: Vec<(usize, usize, u32, usize)> = (0..members.len())
            .filter(|&m| alive[m])
            .filter_map(|m| {
                let load = profiles
                    .row(members[m])
                    .iter()
                    .filter(|&&e| marks[e as usize] & EXTRA != 0)
                    .count();
                (load > 0).then_some((load, beyond[m], members[m], m))
            })
            .collect();
        for &e in &extra {
            marks[e as usize] &= !EXTRA;
        }
        size -= drop_most_loaded(profiles, order, needed, &mut alive, |p| {
            for &e in profiles.row(p) {
                counts.remove(e, profiles.weight(p));
            }
        });
    }
    Vec::new()
}

/// The fewest of `size` members to drop before each entitlement held by one of `counts` of them
/// is held by fewer than half (at least one): dropping r holders of an entitlement c of n
/// members hold takes it under half once r > 2c - n.
fn to_drop(counts: impl Iterator<Item = u64>, size: u64) -> u64 {
    counts
        .map(|count| (2 * count + 1).saturating_sub(size))
        .max()
        .unwrap_or(1)
        .max(1)
}

/// Marks members dead in `alive`, in the order of `order` (each member's load of the extra
/// being trimmed for, how much it holds beyond the role, its profile and its index in `alive`):
/// most load first, then most beyond, then by profile, until at least `needed` identities are
/// dropped. `dropped` is told each profile dropped; gives how many identities were.
fn drop_most_loaded(
    profiles: &Profiles,
    mut order: Vec<(usize, usize, u32, usize)>,
    needed: u64,
    alive: &mut [bool],
    mut dropped: impl FnMut(u32),
) -> u64 {
    order.sort_unstable_by(|a, b| b.0.cmp(&a.0).then(b.1.cmp(&a.1)).then(a.2.cmp(&b.2)));
    let mut weight = 0;
    for (_, _, p, m) in order {
        if weight >= needed {
            break;
        }
        alive[m] = false;
        weight += profiles.weight(p);
        dropped(p);
    }
    weight
}

/// Tops up trimmed `members` (those still `alive`, `size` identities counted in `counts`) that
/// fell under `min` with identities of the profiles trimmed off, those holding least of the
/// excess first, then by profile, until there are `min` of them: of each profile as many as keep
/// every mined entitlement beyond the seed that the members do not all hold under half of them,
/// the first by index. Dropping whole profiles overshoots: a role of 13 identities holding
/// nothing else, beside 46 who hold it with a larger role, is a role of 20 with 7 of those 46
/// (firewall2). Gives the new size and the profiles taken in part, or nothing when `min` is out
/// of reach.
/// `possible` holds every mined entitlement beyond the seed that could be held by half of them;
/// a profile lacking one that all of them hold is not taken (that one would be held by half
/// but not all).
#[allow(clippy::too_many_arguments)]
fn top_up(
    input: TilingInput<'_>,
    profiles: &Profiles,
    (members, possible): (&[u32], &[u32]),
    alive: &mut [bool],
    counts: &mut Counts,
    marks: &[u8],
    mut size: u64,
    min: u64,
) -> Option<(u64, Vec<(u32, u64)>)> {
    // Nobody is added lacking one of these, so they stay held by all.
    let everyone: Vec<u32> = possible
        .iter()
        .copied()
        .filter(|&e| counts.get(e) == size)
        .collect();
    let mut order: Vec<(usize, u32, usize)> = (0..members.len())
        .filter(|&m| !alive[m])
        .map(|m| {
            let load = profiles
                .row(members[m])
                .iter()
                .filter(|&&e| marks[e as usize] & EXCESS != 0)
                .count();
            (load, members[m], m)
        })
        .collect();
    order.sort_unstable();
    let mut partial = Vec::new();
    for (_, p, m) in order {
        if size >= min {
            break;
        }
        // Adding t holders of an entitlement c of n members hold keeps it under half while
        // 2(c + t) < n + t, that is t < n - 2c.
        let row = profiles.row(p);
        if !everyone.iter().all(|e| row.binary_search(e).is_ok()) {
            continue;
        }
        let mut take = profiles.weight(p).min(min - size);
        for &e in row {
            if take == 0 {
                break;
            }
            if marks[e as usize] & SEED != 0 || !input.mined.contains(e) {
                continue;
            }
            let held = counts.get(e);
            if held < size {
                take = take.min(size.saturating_sub(2 * held + 1));
            }
        }
        if take == 0 {
            continue;
        }
        for &e in row {
            counts.add(e, take);
        }
        size += take;
        if take == profiles.weight(p) {
            alive[m] = true;
        } else {
            partial.push((p, take));
        }
    }
    partial.sort_unstable();
    (size >= min).then_some((size, partial))
}

/// The candidates a finished trimming gives (see [`trimmed`]): the members left, split into
/// those holding none of the excess, the rest, and the profiles taken in part when topped up,
/// `size` identities counted in `counts`.
fn trimmed_candidates(
    input: TilingInput<'_>,
    profiles: &Profiles,
    (core, padding, partial): (Vec<u32>, Vec<u32>, Vec<(u32, u64)>),
    size: u64,
    counts: &mut Counts,
    fit: f64,
    (min, core_min): (u64, u64),
) -> Vec<Candidate> {
    let all_fitting = |kept: &[u32], definition: &RoaringBitmap| {
        let mined = definition & input.mined;
        fit_need(mined.len(), fit)
            .is_some_and(|need| kept.iter().all(|&p| profiles.fits(p, &mined, need)))
    };
    // The role must stand on its own: at least `core_min` of its members hold none of the
    // excess. Otherwise it is a few identities lacking part of a larger role, padded out with
    // that role's holders to look like a group.
    let core_size = profiles.size(&core);
    if core_size < core_min.max(1) {
        return Vec::new();
    }
    let mut kept = [core.as_slice(), padding.as_slice()].concat();
    kept.sort_unstable();
    let definition = half_held(counts.iter(), size);
    let mut found = Vec::new();
    let partial_profiles: Vec<u32> = partial.iter().map(|&(p, _)| p).collect();
    if all_fitting(&kept, &definition) && all_fitting(&partial_profiles, &definition) {
        let mut candidate = Candidate::new(input, kept, size, counts, definition);
        candidate.partial.clone_from(&partial);
        found.push(candidate);
    }
    // A topped-up role's core is under `min` (topping up adds only padding).
    if padding.is_empty() || core_size < min {
        return found;
    }
    for &p in &padding {
        for &e in profiles.row(p) {
            counts.remove(e, profiles.weight(p));
        }
    }
    let definition = half_held(counts.iter(), core_size);
    if all_fitting(&core, &definition) {
        found.push(Candidate::new(input, core, core_size, counts, definition));
    }
    found
}

/// What granting `definition` to `size` members costs in over-grants, from `counts`, how many
/// of them hold each entitlement: [`OVER_GRANT_PRICE`] for each (member, entitlement) pair the
/// member lacks, scaled by the share of the population that lacks the entitlement too. Not
/// holding what nearly everyone holds (common access, or an entitlement just under the
/// common-access threshold) is how that entitlement is, not a sign that the role is wrong; not
/// holding what only the role's people hold is.
pub(crate) fn over_grant_cost(
    input: TilingInput<'_>,
    counts: &Counts,
    size: u64,
    definition: &RoaringBitmap,
) -> f64 {
    let population = input.population.len().max(1) as f64;
    definition
        .iter()
        .map(|e| {
            let held = counts.get(e);
            let lacking = size.saturating_sub(held) as f64;
            let held_by = input.holder_counts.get(e as usize).copied().unwrap_or(0);
            let rarity = (1.0 - f64::from(held_by) / population).clamp(0.0, 1.0);
            lacking * OVER_GRANT_PRICE * rarity
        })
        .sum()
}

/// The matrix rows of some identities, one flat ascending list each.
struct FlatRows {
    /// Where each identity's row starts in `flat` (and the end, last); identities not read
    /// have empty ranges.
    offsets: Vec<usize>,
    flat: Vec<u32>,
    /// Per identity, whether its row was read.
    read: Vec<bool>,
}

impl FlatRows {
    /// The rows of `identities` in `matrix`.
    fn of(matrix: &AccessMatrix, identities: &RoaringBitmap) -> Self {
        let mut offsets = Vec::with_capacity(matrix.identities() as usize + 1);
        offsets.push(0);
        let mut flat = Vec::new();
        let mut read = vec![false; matrix.identities() as usize];
        for i in 0..matrix.identities() {
            if identities.contains(i) {
                flat.extend(matrix.of_identity(i));
                read[i as usize] = true;
            }
            offsets.push(flat.len());
        }
        Self {
            offsets,
            flat,
            read,
        }
    }

    /// Identity `i`'s row, or `None` when it was not read.
    fn row(&self, i: u32) -> Option<&[u32]> {
        let i = i as usize;
        if !self.read.get(i).copied().unwrap_or(false) {
            return None;
        }
        let (start, end) = (*self.offsets.get(i)?, *self.offsets.get(i + 1)?);
        self.flat.get(start..end)
    }
}

/// Per group of identities, the definable entitlements at least half of its members hold.
/// Members of `input.population` are read from flat copies of their rows, any others from the
/// matrix.
pub fn definitions_of(input: TilingInput<'_>, groups: &[Vec<u32>]) -> Vec<RoaringBitmap> {
    // The groups of several thresholds hold each identity several times: its row is read from
    // the matrix once, into a flat list that is cheaper to walk than a bitmap.
    let rows = FlatRows::of(input.matrix, input.population);
    groups
        .par_iter()
        .map_init(
            || Counts::new(input.matrix.entitlements() as usize),
            |counts, members| {
                counts.clear();
                // Everything is counted and the definable kept at the end: asking per
                // assignment whether it is definable cost more than the counting.
                for &m in members {
                    match rows.row(m) {
                        Some(row) => row.iter().for_each(|&e| counts.add(e, 1)),
                        None => input
                            .matrix
                            .of_identity(m)
                            .iter()
                            .for_each(|e| counts.add(e, 1)),
                    }
                }
                half_held(counts.iter(), members.len() as u64) & input.definable
            },
        )
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

    /// [`trimmed`] with a fresh scratch counting `members`.
    fn trimmed_alone(
        input: TilingInput<'_>,
        profiles: &Profiles,
        seed: &RoaringBitmap,
        members: Vec<u32>,
        fit: f64,
        min: u64,
    ) -> Vec<Candidate> {
        let mut scratch = Scratch::new(profiles);
        profiles.count_into(&members, &mut scratch.counts);
        trimmed(input, profiles, seed, members, &mut scratch, fit, min)
    }

    /// 100 identities: 0-59 hold role A (entitlements 0-4), 40-99 hold role B (5-9), so 40-59
    /// hold both; everyone holds entitlement 10 (common access).
    struct TwoOverlappingRoles {
        matrix: AccessMatrix,
        population: RoaringBitmap,
        mined: RoaringBitmap,
        definable: RoaringBitmap,
        counts: Vec<u32>,
        twinned: RoaringBitmap,
    }

    impl TwoOverlappingRoles {
        fn new() -> Self {
            Self::with(60, 40)
        }

        /// Identities below `a_until` hold A, those from `b_from` on hold B.
        fn with(a_until: u32, b_from: u32) -> Self {
            let mut b = AccessMatrixBuilder::new(100, 11);
            for i in 0..100 {
                b.push(i, 10);
                if i < a_until {
                    (0..5).for_each(|e| b.push(i, e));
                }
                if i >= b_from {
                    (5..10).for_each(|e| b.push(i, e));
                }
            }
            Self::of(b.build())
        }

        /// Any matrix of 100 identities: entitlement 10 is the common access, the rest are
        /// mined.
        fn of(matrix: AccessMatrix) -> Self {
            let entitlements = matrix.entitlements();
            let counts = (0..entitlements)
                .map(|e| u32::try_from(matrix.holders(e).len()).unwrap())
                .collect();
            let mined: RoaringBitmap = (0..entitlements).filter(|&e| e != 10).collect();
            let twinned = mined
                .iter()
                .filter(|&e| {
                    let holders = matrix.holders(e);
                    !holders.is_empty()
                        && mined.iter().any(|f| f != e && matrix.holders(f) == holders)
                })
                .collect();
            Self {
                matrix,
                population: (0..100).collect(),
                mined,
                definable: (0..entitlements).collect(),
                counts,
                twinned,
            }
        }

        fn input(&self) -> TilingInput<'_> {
            TilingInput {
                matrix: &self.matrix,
                population: &self.population,
                mined: &self.mined,
                holder_counts: &self.counts,
                definable: &self.definable,
                twinned: &self.twinned,
            }
        }
    }

    #[test]
    fn definitions_read_members_outside_the_population_from_the_matrix() {
        let mut data = TwoOverlappingRoles::new();
        data.population = (0..40).collect();
        let groups: Vec<Vec<u32>> =
            vec![(0..40).collect(), (30..70).collect(), (60..100).collect()];
        let definitions: Vec<Vec<u32>> = definitions_of(data.input(), &groups)
            .iter()
            .map(|d| d.iter().collect())
            .collect();
        assert_eq!(
            definitions,
            vec![
                vec![0, 1, 2, 3, 4, 10],
                vec![0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10],
                vec![5, 6, 7, 8, 9, 10]
            ]
        );
    }

    #[test]
    fn identities_holding_two_roles_are_members_of_both() {
        let data = TwoOverlappingRoles::new();
        let input = data.input();
        // The peer groups would be the three access profiles: A only, both, B only.
        let groups: Vec<Vec<u32>> = [0..40u32, 40..60, 60..100]
            .into_iter()
            .map(|r| r.collect())
            .collect();
        let seeds = definitions_of(input, &groups);
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
        let profiles = Profiles::new(input);
        let fitting = |fit| profiles.identities_of(&profiles.fitting(input, &half_of_both, fit));
        assert_eq!(fitting(0.6), (0..60).collect::<Vec<_>>());
        assert_eq!(fitting(0.8), (40..60).collect::<Vec<_>>());
        let params = TilingParams {
            min_identities: 61,
            fit: 1.0,
        };
        let seeds = vec![(0..5).collect::<RoaringBitmap>()];
        assert!(tile(input, seeds, params, &Silent).unwrap().is_empty());
    }

    #[test]
    fn a_seed_most_of_whose_members_hold_another_role_is_trimmed_to_itself() {
        // 0-19 hold A only, 20-59 hold A and B, 60-99 B only: B is held by two thirds of A's
        // holders, so A's settled role absorbs it.
        let data = TwoOverlappingRoles::with(60, 20);
        let input = data.input();
        let profiles = Profiles::new(input);
        // The seed leaves out the common access: trimming leaves it alone, and the definition
        // has it as every member holds it.
        let a: RoaringBitmap = (0..5).collect();
        let fitting = profiles.fitting(input, &a, 0.9);
        assert_eq!(profiles.size(&fitting), 60);
        assert_eq!(
            half_held(profiles.counts(&fitting).iter(), 60),
            (0..11).collect::<RoaringBitmap>()
        );
        // Those holding both have the same access: they are dropped together, leaving a role
        // that is A (and the common access) with the identities holding only A.
        // No member is left holding the excess, so there is no core apart from the role.
        let [role] = &trimmed_alone(input, &profiles, &a, fitting.clone(), 0.9, 20)[..] else {
            panic!("one trimmed candidate");
        };
        assert_eq!(
            profiles.identities_of(&role.members),
            (0..20).collect::<Vec<_>>()
        );
        assert_eq!(role.definition, [0, 1, 2, 3, 4, 10].into_iter().collect());
        assert_eq!(role.size, 20);
        // Too few would be left for a minimum of 21.
        assert!(trimmed_alone(input, &profiles, &a, fitting, 0.9, 21).is_empty());
    }

    #[test]
    fn identities_lacking_part_of_a_role_are_no_role_of_their_own() {
        // 0-79 hold A (0-4) and common access 10; 0-9 of them lack entitlement 4, and each of
        // the others holds a stray entitlement of its own (11-80), so no two are alike.
        let mut b = AccessMatrixBuilder::new(100, 81);
        for i in 0..100 {
            b.push(i, 10);
            if i < 80 {
                (0..4).for_each(|e| b.push(i, e));
            }
            if (10..80).contains(&i) {
                b.push(i, 4);
                b.push(i, i + 1);
            }
        }
        let data = TwoOverlappingRoles::of(b.build());
        let input = data.input();
        let profiles = Profiles::new(input);
        let without_4: RoaringBitmap = [0, 1, 2, 3, 10].into_iter().collect();
        let fitting = profiles.fitting(input, &without_4, 1.0);
        assert_eq!(profiles.size(&fitting), 80);
        // Trimming to {0-3} would keep the ten lacking 4 and pad them with nine holding it:
        // nineteen members, but only ten stand on their own, fewer than a minimum of 15.
        assert!(trimmed_alone(input, &profiles, &without_4, fitting.clone(), 1.0, 15).is_empty());
        // At a minimum of 10 the padded role is a candidate, and so is its core: the ten alone.
        let [padded, core] = &trimmed_alone(input, &profiles, &without_4, fitting, 1.0, 10)[..]
        else {
            panic!("a trimmed candidate and its core");
        };
        assert_eq!(padded.size, 19);
        assert_eq!(padded.definition, without_4);
        assert_eq!(
            profiles.identities_of(&core.members),
            (0..10).collect::<Vec<_>>()
        );
        assert_eq!(core.definition, without_4);
    }

    #[test]
    fn common_access_some_members_lack_does_not_stop_the_trimming() {
        // As in the test above (A 0-59, B 20-99), but 3 and 7 lack the common access.
        let mut b = AccessMatrixBuilder::new(100, 11);
        for i in 0..100 {
            if i != 3 && i != 7 {
                b.push(i, 10);
            }
            if i < 60 {
                (0..5).for_each(|e| b.push(i, e));
            }
            if i >= 20 {
                (5..10).for_each(|e| b.push(i, e));
            }
        }
        let data = TwoOverlappingRoles::of(b.build());
        let input = data.input();
        let profiles = Profiles::new(input);
        let a: RoaringBitmap = (0..5).collect();
        let fitting = profiles.fitting(input, &a, 0.9);
        let [role] = &trimmed_alone(input, &profiles, &a, fitting, 0.9, 15)[..] else {
            panic!("one trimmed candidate");
        };
        assert_eq!(
            profiles.identities_of(&role.members),
            (0..20).collect::<Vec<_>>()
        );
        assert_eq!(role.definition, [0, 1, 2, 3, 4, 10].into_iter().collect());
    }

    #[test]
    fn a_role_held_beside_a_larger_one_keeps_only_its_core() {
        // 0-19 hold A (0-4) only, 20-69 hold A with B (5-9), 70-99 B only, and each of 20-69
        // has a stray entitlement of its own, so trimming A's holders drops them one by one and
        // stops once B is under half: A's twenty with nineteen of the others as padding. The
        // larger roles explain A for the padding already, so only the core is worth keeping.
        let mut b = AccessMatrixBuilder::new(100, 61);
        for i in 0..100 {
            b.push(i, 10);
            if i < 70 {
                (0..5).for_each(|e| b.push(i, e));
            }
            if i >= 20 {
                (5..10).for_each(|e| b.push(i, e));
            }
            if (20..70).contains(&i) {
                b.push(i, i - 9);
            }
        }
        let data = TwoOverlappingRoles::of(b.build());
        let input = data.input();
        let params = TilingParams {
            min_identities: 20,
            fit: 0.9,
        };
        let a: RoaringBitmap = (0..5).collect();
        let both: RoaringBitmap = (0..10).collect();
        let tiles = tile(input, vec![a.clone(), both], params, &Silent).unwrap();
        let only_a = tiles
            .iter()
            .find(|t| t.definition == [0, 1, 2, 3, 4, 10].into_iter().collect())
            .expect("a role for A alone");
        assert_eq!(only_a.members, (0..20).collect::<Vec<_>>());
    }

    /// 100 identities: 0-49 hold A (0-4), 50-79 hold entitlement 11 and nothing else in
    /// common, and each identity holds `strays` of the forty entitlements 12-51 as a pattern
    /// spreads them (`strays` × 2.5 holders each); all hold the common access 10.
    fn with_standalone(strays: u32) -> TwoOverlappingRoles {
        let mut b = AccessMatrixBuilder::new(100, 52);
        for i in 0..100 {
            b.push(i, 10);
            if i < 50 {
                (0..5).for_each(|e| b.push(i, e));
            } else if i < 80 {
                b.push(i, 11);
            }
            for j in 0..strays {
                b.push(i, 12 + (i * 3 + j * 4) % 40);
            }
        }
        TwoOverlappingRoles::of(b.build())
    }

    fn tiled(data: &TwoOverlappingRoles) -> Vec<(Vec<u32>, Vec<u32>)> {
        let a: RoaringBitmap = [0, 1, 2, 3, 4, 10].into_iter().collect();
        sorted_tiles(data, vec![a], 0.8)
    }

    /// The (definition, members) of the roles `seeds` tile `data` into at a minimum of 20,
    /// sorted.
    fn sorted_tiles(
        data: &TwoOverlappingRoles,
        seeds: Vec<RoaringBitmap>,
        fit: f64,
    ) -> Vec<(Vec<u32>, Vec<u32>)> {
        let params = TilingParams {
            min_identities: 20,
            fit,
        };
        let mut found: Vec<(Vec<u32>, Vec<u32>)> = tile(data.input(), seeds, params, &Silent)
            .unwrap()
            .into_iter()
            .map(|t| (t.definition.iter().collect(), t.members))
            .collect();
        found.sort();
        found
    }

    /// 100 identities, each holding the common access 10 and what `access` gives it.
    fn built(entitlements: u32, access: impl Fn(u32) -> Vec<u32>) -> TwoOverlappingRoles {
        let mut b = AccessMatrixBuilder::new(100, entitlements);
        for i in 0..100 {
            b.push(i, 10);
            access(i).into_iter().for_each(|e| b.push(i, e));
        }
        TwoOverlappingRoles::of(b.build())
    }

    #[test]
    fn an_entitlement_many_hold_with_nothing_else_in_common_is_a_role_of_its_own() {
        // Strays give each of 12-51 2.5 holders; 11's 30 are far more than that.
        assert_eq!(
            tiled(&with_standalone(1)),
            vec![
                (vec![0, 1, 2, 3, 4, 10], (0..50).collect()),
                (vec![10, 11], (50..80).collect()),
            ]
        );
    }

    #[test]
    fn skipping_twinned_entitlements_finds_the_same_roles() {
        for strays in [0, 1, 3, 10] {
            let mut data = with_standalone(strays);
            assert!(!data.twinned.is_empty());
            let skipping = tiled(&data);
            data.twinned = RoaringBitmap::new();
            assert_eq!(tiled(&data), skipping, "{strays} strays each");
        }
    }

    #[test]
    fn an_entitlement_held_by_about_as_many_as_stray_grants_give_is_no_role() {
        // Ten strays each: 25 holders of every one of 12-51, so 11's 30 are no sign of a
        // role; neither are the strays' own 25, though above the minimum.
        assert_eq!(
            tiled(&with_standalone(10)),
            vec![(vec![0, 1, 2, 3, 4, 10], (0..50).collect())]
        );
    }

    #[test]
    fn a_role_its_own_holders_are_too_few_for_is_topped_up_with_holders_of_a_larger_one() {
        // 0-12 hold A (0-4) alone, 13-58 hold A with B (5-9, 11-16), 59-99 nothing else: the
        // 46 holding both are one profile, and dropping it leaves 13, under a minimum of 20.
        // Seven of them (the first by index) make A a role of 20 that B stays out of.
        let data = built(17, |i| match i {
            0..13 => (0..5).collect(),
            13..59 => (0..10).chain(11..17).collect(),
            _ => Vec::new(),
        });
        let input = data.input();
        let profiles = Profiles::new(input);
        let a: RoaringBitmap = [0, 1, 2, 3, 4, 10].into_iter().collect();
        let fitting = profiles.fitting(input, &a, 1.0);
        let [topped] = &trimmed_alone(input, &profiles, &a, fitting.clone(), 1.0, 20)[..] else {
            panic!("one topped-up candidate");
        };
        assert_eq!(topped.size, 20);
        assert_eq!(topped.identities(&profiles), (0..20).collect::<Vec<_>>());
        assert_eq!(topped.definition, a);
        // Thirteen cannot be topped up to 27: 14 of the 46 would hold B with half the role.
        assert!(trimmed_alone(input, &profiles, &a, fitting, 1.0, 27).is_empty());

        let both: RoaringBitmap = (0..17).collect();
        assert_eq!(
            sorted_tiles(&data, vec![a, both], 0.9),
            vec![
                ((0..17).collect(), (13..59).collect()),
                (vec![0, 1, 2, 3, 4, 10], (0..20).collect()),
            ]
        );
    }

    #[test]
    fn an_entitlement_other_roles_explain_to_most_of_its_holders_is_a_role_of_the_rest() {
        // Everyone holds x (11) and the common access; 0-24 hold A (0-4) too, 25-49 B (5-9),
        // 50-74 C (12-16), so those roles explain x to three quarters of its holders. Given to
        // all 100, a role of x would cost more than the 25 it explains; 75-99 are a role.
        let data = built(17, |i| {
            let role = match i {
                0..25 => 0..5,
                25..50 => 5..10,
                50..75 => 12..17,
                _ => 0..0,
            };
            role.chain(11..12).collect()
        });
        let seeds = [0..5, 5..10, 12..17]
            .into_iter()
            .map(|role| role.collect())
            .collect();
        assert_eq!(
            sorted_tiles(&data, seeds, 0.9),
            vec![
                (vec![0, 1, 2, 3, 4, 10, 11], (0..25).collect()),
                (vec![5, 6, 7, 8, 9, 10, 11], (25..50).collect()),
                (vec![10, 11], (75..100).collect()),
                (vec![10, 11, 12, 13, 14, 15, 16], (50..75).collect()),
            ]
        );
    }

    #[test]
    fn an_entitlement_held_with_roles_explained_elsewhere_grows_into_a_role() {
        // 11 is held by 0-39 and by nobody else. B (0-2) is held by 0-35 and 40-119, C (3-5) by
        // 0-23 and 120-169, D (6-8) by 0-11 and 170-199: three roles of their own. Settling 11
        // takes all that half of its holders hold at once: B and C, held together by 24, half
        // of whom hold D, then B, C and D, held by 12. Grown one entitlement at a time, with
        // those holding most of C trimmed off, 11 is a role of 23 holders of 11 and B. Each
        // holder of 11 also holds an entitlement of its own, so that no two are alike
        // (trimming drops whole access profiles).
        let mut b = AccessMatrixBuilder::new(200, 57);
        for i in 0..200 {
            b.push(i, 10);
            let mut access = Vec::new();
            if i < 40 {
                access.extend([11, 17 + i]);
            }
            if i < 36 || (40..120).contains(&i) {
                access.extend(0..3);
            }
            if i < 24 || (120..170).contains(&i) {
                access.extend(3..6);
            }
            if !(12..170).contains(&i) {
                access.extend(6..9);
            }
            access.into_iter().for_each(|e| b.push(i, e));
        }
        let mut data = TwoOverlappingRoles::of(b.build());
        data.population = (0..200).collect();
        data.counts = (0..57)
            .map(|e| u32::try_from(data.matrix.holders(e).len()).unwrap())
            .collect();
        let seeds = [0..3, 3..6, 6..9]
            .into_iter()
            .map(|role| role.collect())
            .collect();
        let tiles = sorted_tiles(&data, seeds, 0.9);
        let role = |entitlements: &[u32], members: Vec<u32>| {
            let mut definition = entitlements.to_vec();
            definition.extend([10]);
            definition.sort_unstable();
            (definition, members)
        };
        let [b, (grown, members), c, d] = &tiles[..] else {
            panic!("four roles: {tiles:?}");
        };
        assert_eq!(b, &role(&[0, 1, 2], (0..36).chain(40..120).collect()));
        assert_eq!(c, &role(&[3, 4, 5], (0..24).chain(120..170).collect()));
        assert_eq!(d, &role(&[6, 7, 8], (0..12).chain(170..200).collect()));
        // The holders of D go first (they hold most beyond B), then one more holder of C.
        assert_eq!(grown, &vec![0, 1, 2, 10, 11]);
        assert_eq!(members.len(), 23);
        assert!(members.iter().all(|m| (12..36).contains(m)), "{members:?}");
    }

    #[test]
    fn identities_lacking_part_of_a_role_are_no_role_of_what_they_hold_of_it() {
        // A (0-3) is held whole by 45-79; 0-44 each lack one of 1-3, and 80-99 hold only 0 (a
        // stray grant). Among those A leaves 0 unexplained to, each of 1-3 is held by fewer
        // than half, but most of them hold part of A unexplained: 0 is no role of theirs.
        let data = built(17, |i| match i {
            0..45 => std::iter::once(0)
                .chain((1..4).filter(|e| e % 3 != i % 3))
                .collect(),
            45..80 => (0..4).collect(),
            _ => vec![0],
        });
        let a: RoaringBitmap = (0..4).collect();
        let tiles = sorted_tiles(&data, vec![a], 0.9);
        assert!(
            tiles
                .iter()
                .all(|(definition, _)| definition != &vec![0, 10]),
            "{tiles:?}"
        );
    }
}
