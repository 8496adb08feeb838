//! The `MINIMAL_COVER` method: few roles that explain every assignment with no over-grant (the
//! basic role minimization problem; Ene et al., "Fast exact and heuristic methods for role
//! minimization problems", SACMAT 2008).
//!
//! Identities with the same access are one *profile*. Every role is a *concept*: a set of
//! entitlements `B` with every profile holding all of `B` as its members, and `B` all that those
//! profiles share, so a role never grants what a member lacks and explains as much as a role
//! with those entitlements can.
//!
//! 1. *Essential roles* (the reduction of Ene et al.): when all holders of an entitlement `e`
//!    of profile `u` hold everything `u` holds, the only maximal role that can explain `(u, e)`
//!    is `u`'s own access with `e`'s holders, so every minimal cover can use it. They are
//!    taken first.
//! 2. *Exact step* (the `exact` module): what the essential roles leave is a set-cover problem
//!    over a pool of concepts (each profile's own, each entitlement's, and what profiles share
//!    two and three at a time); reductions shrink it to a small kernel, which branch and bound
//!    solves. A role that a cover cut short by the search budget leaves redundant is dropped.
//! 3. *Greedy*, when the residual is too large for the exact step (more than two million pairs
//!    of a profile with something unexplained and any profile): the concept explaining the
//!    most unexplained (profile, entitlement) pairs is taken until everything is explained,
//!    from each profile's own concept and each entitlement's (a profile's own concept covers
//!    any pair of it, so it always finishes); after a pick, essential roles are looked for
//!    around it (its profiles and the holders of the entitlements it explained for the last of
//!    their holders). Then a role whose every pair another role explains is dropped, latest
//!    first, and two roles are replaced by one concept wherever one explains every pair only
//!    those two explain (a local search, repeated until no pair merges).
//!
//! Every step works over ordered candidates (parallel work is collected in order), so the
//! result does not depend on threads.

use rayon::prelude::*;
use roaring::RoaringBitmap;
use rustc_hash::FxHashMap;

use crate::error::EngineError;
use crate::greedy::lazy_greedy;
use crate::matrix::AccessMatrix;
use crate::observer::Observer;

mod exact;

/// The most access profiles (distinct accesses) a minimal cover is computed for. The basic role
/// minimization problem needs a role for nearly every stray grant, so on large, noisy
/// populations the cover is about as large as the population and takes hours; beyond this it
/// is refused with [`EngineError::CoverTooLarge`].
pub const MAX_PROFILES: usize = 25_000;

/// A role of the cover.
#[derive(Debug, Clone, PartialEq)]
pub struct CoverRole {
    /// Member identities, ascending.
    pub members: Vec<u32>,
    /// The entitlements every member holds; the role explains exactly these for each member.
    pub definition: RoaringBitmap,
}

/// The identities with one access.
struct Profile {
    access: RoaringBitmap,
    identities: Vec<u32>,
}

/// A role candidate over profiles.
#[derive(Debug, Clone, PartialEq)]
struct Concept {
    profiles: RoaringBitmap,
    entitlements: RoaringBitmap,
}

impl Concept {
    /// Whether it explains (profile, entitlement).
    fn holds(&self, profile: u32, entitlement: u32) -> bool {
        self.profiles.contains(profile) && self.entitlements.contains(entitlement)
    }
}

/// Covers the `coverable` access of the `population` with concepts; see the module
/// documentation. Roles come out in the order they were chosen. An empty population gives no
/// roles.
pub fn minimal_cover(
    matrix: &AccessMatrix,
    population: &RoaringBitmap,
    coverable: &RoaringBitmap,
    observer: &dyn Observer,
) -> Result<Vec<CoverRole>, EngineError> {
    let profiles = profiles(matrix, population, coverable);
    if profiles.len() > MAX_PROFILES {
        return Err(EngineError::CoverTooLarge {
            profiles: profiles.len(),
            limit: MAX_PROFILES,
        });
    }
    let mut holders: FxHashMap<u32, RoaringBitmap> = FxHashMap::default();
    for (p, profile) in (0u32..).zip(&profiles) {
        for e in &profile.access {
            holders.entry(e).or_default().insert(p);
        }
    }
    let lattice = Lattice {
        profiles: &profiles,
        holders: &holders,
    };

    let mut residual = Residual::new(&profiles);
    let mut chosen: Vec<Concept> = Vec::new();
    let everyone = residual.active.clone();
    take_essential(&lattice, &mut residual, &mut chosen, everyone, observer)?;
    let chosen = match exact::cover_residual(&profiles, &residual, observer)? {
        Some(rest) => {
            chosen.extend(rest);
            // A cover cut short by the work budget may hold a role the others make redundant.
            prune(&profiles, chosen)
        }
        None => {
            let chosen = greedy_cover(&lattice, residual, chosen, observer)?;
            merge_pairs(&lattice, prune(&profiles, chosen))
        }
    };
    Ok(chosen
        .into_iter()
        .map(|concept| {
            let mut members: Vec<u32> = concept
                .profiles
                .iter()
                .flat_map(|p| profiles[p as usize].identities.iter().copied())
                .collect();
            members.sort_unstable();
            CoverRole {
                members,
                definition: concept.entitlements,
            }
        })
        .collect())
}

/// Covers what the essential roles left with the lazy greedy over each profile's and each
/// entitlement's concept, taking the roles that become essential after each pick (for a
/// residual too large for the exact step).
fn greedy_cover(
    lattice: &Lattice<'_>,
    residual: Residual,
    chosen: Vec<Concept>,
    observer: &dyn Observer,
) -> Result<Vec<Concept>, EngineError> {
    // Each profile's own concept.
    let own: Vec<Concept> = lattice
        .profiles
        .par_iter()
        .map(|profile| lattice.close_entitlements(&profile.access))
        .collect();
    let mut entitlements: Vec<u32> = lattice.holders.keys().copied().collect();
    entitlements.sort_unstable();
    // Entitlements with the same holders give the same concept.
    let mut holder_sets: Vec<&RoaringBitmap> = entitlements
        .iter()
        .filter_map(|e| lattice.holders.get(e))
        .collect();
    holder_sets.sort_by(|a, b| a.iter().cmp(b.iter()));
    holder_sets.dedup();
    let by_entitlement: Vec<Concept> = holder_sets
        .into_par_iter()
        .map(|h| lattice.close_holders(h))
        .collect();
    let mut candidates: Vec<Concept> = own.into_iter().chain(by_entitlement).collect();
    sort_dedup(&mut candidates);

    let mut progress = (residual, chosen);
    lazy_greedy(
        &mut progress,
        candidates.len(),
        |(residual, _), i| gain(&residual.unexplained, &candidates[i]),
        |gain| gain > 0,
        |(residual, chosen), i| {
            let concept = candidates[i].clone();
            let closed = residual.explain(&concept);
            // What is explained now leaves the graph, which can make roles essential around it.
            let around = lattice.around(&concept, &closed);
            chosen.push(concept);
            take_essential(lattice, residual, chosen, around, observer)
        },
        observer,
    )?;
    Ok(progress.1)
}

/// The population's identities grouped by their coverable access, in order of their access.
fn profiles(
    matrix: &AccessMatrix,
    population: &RoaringBitmap,
    coverable: &RoaringBitmap,
) -> Vec<Profile> {
    let identities: Vec<u32> = population.iter().collect();
    let mut rows: Vec<(Vec<u32>, u32)> = identities
        .into_par_iter()
        .map(|i| ((matrix.of_identity(i) & coverable).iter().collect(), i))
        .filter(|(row, _): &(Vec<u32>, u32)| !row.is_empty())
        .collect();
    rows.par_sort_unstable();
    let mut profiles: Vec<Profile> = Vec::new();
    let mut last: Option<Vec<u32>> = None;
    for (row, identity) in rows {
        if last.as_ref() == Some(&row) {
            if let Some(profile) = profiles.last_mut() {
                profile.identities.push(identity);
            }
            continue;
        }
        profiles.push(Profile {
            access: row.iter().copied().collect(),
            identities: vec![identity],
        });
        last = Some(row);
    }
    profiles
}

/// Closure operators over profiles and their access.
struct Lattice<'a> {
    profiles: &'a [Profile],
    holders: &'a FxHashMap<u32, RoaringBitmap>,
}

impl Lattice<'_> {
    /// The essential concepts of the profiles `among` (step 1 of the module documentation),
    /// with what is fully explained left out of the graph: a profile with nothing unexplained
    /// need not be a member, an entitlement explained for all its holders need not be granted.
    fn essential(&self, residual: &Residual, among: &RoaringBitmap) -> Vec<Concept> {
        let candidates: Vec<u32> = (among & &residual.active).iter().collect();
        candidates
            .par_iter()
            .filter_map(|&u| {
                let access = &self.profiles[u as usize].access & &residual.open;
                let mut extent = residual.active.clone();
                for e in &access {
                    if let Some(h) = self.holders.get(&e) {
                        extent &= h;
                    }
                }
                let essential = residual.unexplained[u as usize].iter().any(|e| {
                    self.holders
                        .get(&e)
                        .is_some_and(|h| h.intersection_len(&residual.active) == extent.len())
                });
                essential.then(|| self.close_entitlements(&access))
            })
            .collect()
    }

    /// The concept's profiles and the holders of the entitlements it `closed`: where explaining
    /// it can make another role essential.
    fn around(&self, concept: &Concept, closed: &RoaringBitmap) -> RoaringBitmap {
        let mut around = concept.profiles.clone();
        for e in closed {
            if let Some(h) = self.holders.get(&e) {
                around |= h;
            }
        }
        around
    }

    /// The concept of the profiles holding all of `entitlements` (which one profile holds).
    fn close_entitlements(&self, entitlements: &RoaringBitmap) -> Concept {
        let mut lists: Vec<&RoaringBitmap> = entitlements
            .iter()
            .filter_map(|e| self.holders.get(&e))
            .collect();
        lists.sort_by_key(|h| h.len());
        let mut profiles = lists.first().map(|h| (*h).clone()).unwrap_or_default();
        for h in lists.iter().skip(1) {
            profiles &= *h;
        }
        // The holders of a set are closed: whoever holds all they share holds the set.
        self.close_holders(&profiles)
    }

    /// The concept of `holders`, the profiles holding all of some entitlements.
    fn close_holders(&self, holders: &RoaringBitmap) -> Concept {
        Concept {
            entitlements: self.shared(holders),
            profiles: holders.clone(),
        }
    }

    /// The access all of `profiles` hold (nothing for no profiles).
    fn shared(&self, profiles: &RoaringBitmap) -> RoaringBitmap {
        let mut shared: Option<RoaringBitmap> = None;
        for p in profiles {
            let access = &self.profiles[p as usize].access;
            shared = Some(match shared {
                None => access.clone(),
                Some(s) => s & access,
            });
        }
        shared.unwrap_or_default()
    }
}

/// Takes the essential concepts of the profiles `among`, then of those around what they
/// explained, until none is left.
fn take_essential(
    lattice: &Lattice<'_>,
    residual: &mut Residual,
    chosen: &mut Vec<Concept>,
    mut among: RoaringBitmap,
    observer: &dyn Observer,
) -> Result<(), EngineError> {
    loop {
        if observer.cancelled() {
            return Err(EngineError::Cancelled);
        }
        let mut essential = lattice.essential(residual, &among);
        sort_dedup(&mut essential);
        if essential.is_empty() {
            return Ok(());
        }
        among = RoaringBitmap::new();
        for concept in essential {
            let closed = residual.explain(&concept);
            among |= lattice.around(&concept, &closed);
            chosen.push(concept);
        }
    }
}

/// What is left to explain: per profile its unexplained access, the profiles with some left
/// (active) and the entitlements unexplained for some profile (open), kept up to date.
struct Residual {
    unexplained: Vec<RoaringBitmap>,
    active: RoaringBitmap,
    open: RoaringBitmap,
    /// Per open entitlement, the profiles it is unexplained for.
    open_for: FxHashMap<u32, u32>,
}

impl Residual {
    fn new(profiles: &[Profile]) -> Self {
        let unexplained: Vec<RoaringBitmap> = profiles.iter().map(|p| p.access.clone()).collect();
        let mut open_for: FxHashMap<u32, u32> = FxHashMap::default();
        for access in &unexplained {
            for e in access {
                *open_for.entry(e).or_insert(0) += 1;
            }
        }
        Self {
            active: (0u32..)
                .zip(&unexplained)
                .filter(|(_, left)| !left.is_empty())
                .map(|(p, _)| p)
                .collect(),
            open: open_for.keys().copied().collect(),
            unexplained,
            open_for,
        }
    }

    /// Marks the concept's pairs explained; returns the entitlements it closed (explained now
    /// for every holder).
    fn explain(&mut self, concept: &Concept) -> RoaringBitmap {
        let mut closed = RoaringBitmap::new();
        for p in &concept.profiles {
            let left = &mut self.unexplained[p as usize];
            let now = &*left & &concept.entitlements;
            for e in &now {
                if let Some(count) = self.open_for.get_mut(&e) {
                    *count -= 1;
                    if *count == 0 {
                        self.open.remove(e);
                        closed.insert(e);
                    }
                }
            }
            *left -= &concept.entitlements;
            if left.is_empty() {
                self.active.remove(p);
            }
        }
        closed
    }
}

fn sort_dedup(concepts: &mut Vec<Concept>) {
    concepts.retain(|c| !c.entitlements.is_empty() && !c.profiles.is_empty());
    concepts.sort_by(|a, b| a.entitlements.iter().cmp(b.entitlements.iter()));
    concepts.dedup_by(|a, b| a.entitlements == b.entitlements);
}

/// Unexplained (profile, entitlement) pairs the concept would explain.
fn gain(unexplained: &[RoaringBitmap], concept: &Concept) -> u64 {
    concept
        .profiles
        .iter()
        .map(|p| unexplained[p as usize].intersection_len(&concept.entitlements))
        .sum()
}

/// How many chosen roles explain each (profile, entitlement) pair: per profile, one counter per
/// entitlement it holds, in the order of its access (a pair of a role is always held).
struct Counts<'a> {
    profiles: &'a [Profile],
    counts: Vec<Vec<u32>>,
}

impl<'a> Counts<'a> {
    fn new(profiles: &'a [Profile], chosen: &[Concept]) -> Self {
        let mut counts = Self {
            profiles,
            counts: profiles
                .iter()
                .map(|p| vec![0; p.access.len() as usize])
                .collect(),
        };
        for concept in chosen {
            counts.add(concept, 1);
        }
        counts
    }

    fn slot(&self, profile: u32, entitlement: u32) -> usize {
        (self.profiles[profile as usize].access.rank(entitlement) as usize).saturating_sub(1)
    }

    fn get(&self, profile: u32, entitlement: u32) -> u32 {
        self.counts[profile as usize][self.slot(profile, entitlement)]
    }

    /// Whether every pair of `concept` is explained by another role too.
    fn redundant(&self, concept: &Concept) -> bool {
        concept
            .profiles
            .iter()
            .all(|p| concept.entitlements.iter().all(|e| self.get(p, e) > 1))
    }

    /// The profiles and entitlements of the pairs of `concepts` that no other role explains.
    fn only_by(&self, concepts: &[&Concept]) -> (RoaringBitmap, RoaringBitmap) {
        let (mut profiles, mut entitlements) = (RoaringBitmap::new(), RoaringBitmap::new());
        for concept in concepts {
            for p in &concept.profiles {
                for e in &concept.entitlements {
                    let by_these = concepts.iter().filter(|c| c.holds(p, e)).count();
                    if self.get(p, e) as usize == by_these {
                        profiles.insert(p);
                        entitlements.insert(e);
                    }
                }
            }
        }
        (profiles, entitlements)
    }

    fn add(&mut self, concept: &Concept, delta: i32) {
        for p in &concept.profiles {
            for e in &concept.entitlements {
                let slot = self.slot(p, e);
                let count = &mut self.counts[p as usize][slot];
                *count = count.saturating_add_signed(delta);
            }
        }
    }
}

/// Replaces two roles by one wherever one concept explains everything only those two explain,
/// until no pair can be merged (a local search after the greedy); a role the replacement makes
/// redundant is dropped. Only pairs with a role whose pairs' counts changed are looked at again.
fn merge_pairs(lattice: &Lattice<'_>, chosen: Vec<Concept>) -> Vec<Concept> {
    let mut counts = Counts::new(lattice.profiles, &chosen);
    // Roles by a stable index; `None` once replaced or dropped.
    let mut roles: Vec<Option<Concept>> = chosen.into_iter().map(Some).collect();
    let mut own: Vec<(RoaringBitmap, RoaringBitmap)> = vec![Default::default(); roles.len()];
    let mut dirty: Vec<bool> = vec![true; roles.len()];
    loop {
        // Per role, the entitlements of the pairs only it explains and what all the profiles of
        // those pairs hold: a replacement must hold the other role's own entitlements.
        let refreshed: Vec<(usize, (RoaringBitmap, RoaringBitmap))> = (0..roles.len())
            .into_par_iter()
            .filter(|&k| dirty[k])
            .filter_map(|k| roles[k].as_ref().map(|concept| (k, concept)))
            .map(|(k, concept)| {
                let (profiles, entitlements) = counts.only_by(&[concept]);
                (k, (entitlements, lattice.shared(&profiles)))
            })
            .collect();
        for (k, value) in refreshed {
            own[k] = value;
        }
        let live: Vec<usize> = (0..roles.len()).filter(|&k| roles[k].is_some()).collect();
        let merged = live.iter().enumerate().find_map(|(a, &i)| {
            live[a + 1..].iter().find_map(|&j| {
                if !dirty[i] && !dirty[j] {
                    return None;
                }
                let (own_i, shared_i) = &own[i];
                let (own_j, shared_j) = &own[j];
                if !own_j.is_subset(shared_i) || !own_i.is_subset(shared_j) {
                    return None;
                }
                let (first, second) = (roles[i].as_ref()?, roles[j].as_ref()?);
                // Every pair that only these two explain must be explained by the replacement.
                let (profiles, entitlements) = counts.only_by(&[first, second]);
                let shared = lattice.shared(&profiles);
                entitlements
                    .is_subset(&shared)
                    .then(|| (i, j, lattice.close_entitlements(&shared)))
            })
        });
        let Some((i, j, replacement)) = merged else {
            return roles.into_iter().flatten().collect();
        };
        // Every pair of a role before `i` has been looked at; later ones may not have been.
        dirty[..i].iter_mut().for_each(|d| *d = false);
        // Roles sharing a profile with what changed have new counts on some pairs.
        let mut touched = replacement.profiles.clone();
        for k in [i, j] {
            if let Some(old) = roles[k].take() {
                counts.add(&old, -1);
                touched |= &old.profiles;
            }
        }
        counts.add(&replacement, 1);
        roles.push(Some(replacement));
        own.push(Default::default());
        dirty.push(true);
        // The replacement may explain all another role does.
        touched |= drop_redundant(&mut roles, &mut counts);
        for (k, role) in roles.iter().enumerate() {
            if role
                .as_ref()
                .is_some_and(|concept| !concept.profiles.is_disjoint(&touched))
            {
                dirty[k] = true;
            }
        }
    }
}

/// Drops roles whose every pair other roles explain, latest chosen first.
fn prune(profiles: &[Profile], chosen: Vec<Concept>) -> Vec<Concept> {
    let mut counts = Counts::new(profiles, &chosen);
    let mut roles: Vec<Option<Concept>> = chosen.into_iter().map(Some).collect();
    drop_redundant(&mut roles, &mut counts);
    roles.into_iter().flatten().collect()
}

/// Empties the slots of roles whose every pair other roles explain, latest first, keeping
/// `counts` up to date; returns the profiles of the roles dropped.
fn drop_redundant(roles: &mut [Option<Concept>], counts: &mut Counts<'_>) -> RoaringBitmap {
    let mut dropped = RoaringBitmap::new();
    for slot in roles.iter_mut().rev() {
        if slot
            .as_ref()
            .is_some_and(|concept| counts.redundant(concept))
        {
            if let Some(old) = slot.take() {
                counts.add(&old, -1);
                dropped |= &old.profiles;
            }
        }
    }
    dropped
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::matrix::AccessMatrixBuilder;
    use crate::observer::Silent;

    fn matrix(rows: &[&[u32]]) -> AccessMatrix {
        let mut b = AccessMatrixBuilder::default();
        for (i, row) in (0u32..).zip(rows) {
            for &e in *row {
                b.push(i, e);
            }
        }
        b.push_size(u32::try_from(rows.len()).unwrap(), 10);
        b.build()
    }

    /// Rebuilds the access from the roles.
    fn rebuilt(roles: &[CoverRole]) -> std::collections::BTreeSet<(u32, u32)> {
        roles
            .iter()
            .flat_map(|r| {
                r.members
                    .iter()
                    .flat_map(move |&m| r.definition.iter().map(move |e| (m, e)))
            })
            .collect()
    }

    #[test]
    fn covers_exactly_with_the_fewest_roles() {
        // Two roles {0,1} and {2,3}; identity 2 holds both; identity 4 holds {0,1,5}.
        let rows: &[&[u32]] = &[&[0, 1], &[0, 1], &[0, 1, 2, 3], &[2, 3], &[0, 1, 5]];
        let m = matrix(rows);
        let all: RoaringBitmap = (0..5).collect();
        let coverable: RoaringBitmap = (0..10).collect();
        let roles = minimal_cover(&m, &all, &coverable, &Silent).unwrap();
        let expected: std::collections::BTreeSet<(u32, u32)> = (0u32..)
            .zip(rows)
            .flat_map(|(i, row)| row.iter().map(move |&e| (i, e)))
            .collect();
        assert_eq!(rebuilt(&roles), expected);
        // {0,1}, {2,3} and one more for entitlement 5: three is the fewest.
        assert_eq!(roles.len(), 3);
        for role in &roles {
            for &member in &role.members {
                assert!(role.definition.is_subset(m.of_identity(member)));
            }
        }
    }

    #[test]
    fn too_many_distinct_accesses_are_refused_not_ground_through() {
        let identities = u32::try_from(MAX_PROFILES).unwrap() + 1;
        let mut b = AccessMatrixBuilder::new(identities, identities);
        for i in 0..identities {
            b.push(i, i);
        }
        let m = b.build();
        let all: RoaringBitmap = (0..identities).collect();
        let err = minimal_cover(&m, &all, &all, &Silent).unwrap_err();
        assert!(
            matches!(err, EngineError::CoverTooLarge { profiles, .. } if profiles == MAX_PROFILES + 1),
            "{err}"
        );
        assert!(err.to_string().contains("use PEER_GROUPS"), "{err}");
    }

    #[test]
    fn only_the_coverable_access_of_the_population_is_covered() {
        let m = matrix(&[&[0, 1], &[0, 1, 2], &[3]]);
        let population: RoaringBitmap = [0, 1].into_iter().collect();
        let coverable: RoaringBitmap = [0, 1].into_iter().collect();
        let roles = minimal_cover(&m, &population, &coverable, &Silent).unwrap();
        assert_eq!(roles.len(), 1);
        assert_eq!(roles[0].members, vec![0, 1]);
        assert!(
            minimal_cover(&m, &RoaringBitmap::new(), &coverable, &Silent)
                .unwrap()
                .is_empty()
        );
    }
}
