//! The exact step of the minimal cover: what the essential roles leave unexplained, covered as
//! a set-cover problem over a pool of concepts, reduced, then solved by branch and bound.
//!
//! - *Classes*: entitlements with the same holders are always together in a concept, so the
//!   step works on classes of them, as dense bit sets over profiles and classes.
//! - *Pool*: each active profile's own concept, each class's concept, and the concept of what
//!   an active profile shares with any other profile (Ene et al.'s candidate roles). After a
//!   first reduction, the concepts left in the kernel are intersected with every profile once
//!   more, which finds the roles a cover of three-way overlaps needs.
//! - *Reduction*: a pair only one concept explains forces that concept; a pair whose concepts
//!   all explain another pair too makes that other pair redundant; a concept whose pairs
//!   another concept explains too is dropped. Repeated until nothing changes, this leaves a
//!   small kernel (at most 144 pairs on the HP datasets). The second pool's kernel is reduced
//!   again over the pairs the forced concepts leave, the dropped ones included.
//! - *Branch and bound* on the kernel: branch on the pair with the fewest concepts; the lower
//!   bound counts pairs no two of which share a concept. It is exact within the pool, and
//!   stops at a work budget (kernel rows visited) with the best cover found (the greedy's at
//!   worst).
//!
//! Everything runs in a fixed order, so the result does not depend on threads.

use fixedbitset::FixedBitSet;
use rayon::prelude::*;
use roaring::RoaringBitmap;
use rustc_hash::{FxHashMap, FxHashSet};

use super::{Concept, Profile, Residual};
use crate::error::EngineError;
use crate::observer::Observer;

/// The most (profile with something unexplained, profile) pairs the exact step intersects for
/// its pool; beyond it the greedy covers the residual (about a second of work at the limit).
const MAX_PAIRS: usize = 2_000_000;
/// The most bits the dense profile × class sets may take (32 MiB).
const MAX_DENSE_BITS: usize = 1 << 28;
/// The most bytes the intersections behind a pool may take before they are deduplicated.
const MAX_POOL_BYTES: usize = 256 << 20;
/// Kernel rows the branch and bound may visit (each node visits its uncovered rows to bound
/// them) before the best cover found so far is taken. Counting rows rather than nodes keeps a
/// large kernel's search as short as a small one's: the HP datasets' searches finish within
/// 190,000 (americas_small: 4,281 nodes on 44 rows), while 600 noisy planted identities give a
/// kernel of 1,691 rows whose search, cut at 200,000 nodes, took 7 s for the greedy's answer.
const WORK_BUDGET: u64 = 5_000_000;
/// The most kernel rows the branch and bound searches; beyond, the greedy's cover is taken (the
/// search recurses once per column it tries, at most one per row).
const MAX_SEARCH_DEPTH: usize = 2_000;

/// Covers the `residual` of `profiles` with concepts; `None` when it is too large for the exact
/// step (the caller's greedy covers it then).
pub(super) fn cover_residual(
    profiles: &[Profile],
    residual: &Residual,
    observer: &dyn Observer,
) -> Result<Option<Vec<Concept>>, EngineError> {
    cover_residual_within(profiles, residual, WORK_BUDGET, observer)
}

/// [`cover_residual`] with a branch-and-bound budget of `work` kernel rows visited.
fn cover_residual_within(
    profiles: &[Profile],
    residual: &Residual,
    work: u64,
    observer: &dyn Observer,
) -> Result<Option<Vec<Concept>>, EngineError> {
    if residual.active.is_empty() {
        return Ok(Some(Vec::new()));
    }
    if (residual.active.len() as usize).saturating_mul(profiles.len()) > MAX_PAIRS {
        return Ok(None);
    }
    let Some(space) = Space::new(profiles, residual) else {
        return Ok(None);
    };
    if space.bytes(residual.active.len() as usize) > MAX_POOL_BYTES {
        return Ok(None);
    }
    let mut pool = Pool::default();
    space.first_pool(&mut pool);
    let everything: Vec<u32> = (0..pool.len()).collect();
    let problem = space.problem(&pool, &everything, None);
    let first = problem.reduce(observer)?;
    // Intersect what the kernel needs with every profile once more, and solve the kernel
    // with those concepts too.
    let known = pool.len();
    let kernel: Vec<FixedBitSet> = first
        .columns
        .iter()
        .map(|&c| pool.intents[c as usize].clone())
        .collect();
    if space.bytes(kernel.len()) <= MAX_POOL_BYTES {
        space.extend_pool(&mut pool, &kernel);
    }
    let columns: Vec<u32> = first
        .columns
        .iter()
        .copied()
        .chain(known..pool.len())
        .collect();
    let mut rows = FixedBitSet::with_capacity(space.row_count as usize);
    rows.extend(first.uncovered.iter().map(|&r| r as usize));
    let problem = space.problem(&pool, &columns, Some(&rows));
    let second = problem.reduce(observer)?;
    let mut picked = first.forced;
    picked.extend(second.forced.iter().map(|&k| columns[k as usize]));
    picked.extend(
        problem
            .branch_and_bound(&second, work, observer)?
            .into_iter()
            .map(|k| columns[k as usize]),
    );
    let chosen: Vec<FixedBitSet> = picked
        .into_iter()
        .map(|c| pool.intents[c as usize].clone())
        .collect();
    // The reductions keep a concept for every pair; should that ever fail, the greedy, which
    // cannot leave a pair out, covers the residual instead of a cover with a hole.
    if !space.explains_all(&chosen) {
        return Ok(None);
    }
    Ok(Some(chosen.iter().map(|i| space.concept(i)).collect()))
}

/// Profiles and classes of entitlements as dense bit sets.
struct Space<'a> {
    profiles: &'a [Profile],
    /// Per class, its entitlements.
    class_entitlements: Vec<RoaringBitmap>,
    /// Per profile, the classes it holds.
    access: Vec<FixedBitSet>,
    /// Per class, the profiles holding it.
    holders: Vec<FixedBitSet>,
    /// Per profile, the classes unexplained for it.
    unexplained: Vec<FixedBitSet>,
    /// The profiles with something unexplained, ascending.
    active: Vec<u32>,
    /// `rows[slot(profile) * classes + class]`: the row of an unexplained pair, or `NO_ROW`.
    rows: Vec<u32>,
    /// Per profile, its position among the active ones, or `NO_ROW`.
    slot: Vec<u32>,
    row_count: u32,
}

const NO_ROW: u32 = u32::MAX;

impl<'a> Space<'a> {
    /// `None` when the dense sets would be too large.
    fn new(profiles: &'a [Profile], residual: &Residual) -> Option<Self> {
        // Entitlements grouped by their holders, in order of their smallest entitlement.
        let mut holders_of: FxHashMap<u32, Vec<u32>> = FxHashMap::default();
        for (p, profile) in (0u32..).zip(profiles) {
            for e in &profile.access {
                holders_of.entry(e).or_default().push(p);
            }
        }
        let mut entitlements: Vec<u32> = holders_of.keys().copied().collect();
        entitlements.sort_unstable();
        let mut class_of_holders: FxHashMap<&[u32], u32> = FxHashMap::default();
        let mut class_of: FxHashMap<u32, u32> = FxHashMap::default();
        let mut class_entitlements: Vec<RoaringBitmap> = Vec::new();
        let mut class_holders: Vec<&[u32]> = Vec::new();
        for e in entitlements {
            let holders = holders_of[&e].as_slice();
            let next = u32::try_from(class_entitlements.len()).ok()?;
            let class = *class_of_holders.entry(holders).or_insert(next);
            if class == next {
                class_entitlements.push(RoaringBitmap::new());
                class_holders.push(holders);
            }
            class_entitlements[class as usize].insert(e);
            class_of.insert(e, class);
        }
        let classes = class_entitlements.len();
        let active: Vec<u32> = residual.active.iter().collect();
        let dense = profiles.len().saturating_mul(classes);
        if dense.saturating_mul(2) > MAX_DENSE_BITS
            || active.len().saturating_mul(classes) > MAX_DENSE_BITS / 32
        {
            return None;
        }
        let classes_of = |entitlements: &RoaringBitmap| {
            let mut set = FixedBitSet::with_capacity(classes);
            for e in entitlements {
                if let Some(&c) = class_of.get(&e) {
                    set.insert(c as usize);
                }
            }
            set
        };
        let access: Vec<FixedBitSet> = profiles.iter().map(|p| classes_of(&p.access)).collect();
        let unexplained: Vec<FixedBitSet> = residual.unexplained.iter().map(classes_of).collect();
        let holders: Vec<FixedBitSet> = class_holders
            .iter()
            .map(|h| {
                let mut set = FixedBitSet::with_capacity(profiles.len());
                set.extend(h.iter().map(|&p| p as usize));
                set
            })
            .collect();
        let mut slot = vec![NO_ROW; profiles.len()];
        let mut rows = vec![NO_ROW; active.len() * classes];
        let mut row_count = 0u32;
        for (s, &p) in (0u32..).zip(&active) {
            slot[p as usize] = s;
            for c in unexplained[p as usize].ones() {
                rows[s as usize * classes + c] = row_count;
                row_count += 1;
            }
        }
        Some(Self {
            profiles,
            class_entitlements,
            access,
            holders,
            unexplained,
            active,
            rows,
            slot,
            row_count,
        })
    }

    fn classes(&self) -> usize {
        self.class_entitlements.len()
    }

    /// The bytes of the intersections of `sets` class sets with every profile.
    fn bytes(&self, sets: usize) -> usize {
        sets.saturating_mul(self.profiles.len())
            .saturating_mul(self.classes().div_ceil(8).max(8))
    }

    /// Whether the concepts of `intents` explain every unexplained pair.
    fn explains_all(&self, intents: &[FixedBitSet]) -> bool {
        let mut explained = vec![FixedBitSet::with_capacity(self.classes()); self.profiles.len()];
        for intent in intents {
            for p in self.extent(intent).ones() {
                explained[p].union_with(intent);
            }
        }
        self.active
            .iter()
            .all(|&p| self.unexplained[p as usize].is_subset(&explained[p as usize]))
    }

    /// The closed intent of the profiles holding all of `intent` (which some profile holds).
    fn close(&self, intent: &FixedBitSet) -> Option<FixedBitSet> {
        let extent = self.extent(intent);
        let mut profiles = extent.ones();
        let mut closed = self.access[profiles.next()?].clone();
        for p in profiles {
            closed.intersect_with(&self.access[p]);
        }
        Some(closed)
    }

    /// The profiles holding all of `intent`.
    fn extent(&self, intent: &FixedBitSet) -> FixedBitSet {
        let mut classes = intent.ones();
        let Some(first) = classes.next() else {
            return FixedBitSet::with_capacity(self.profiles.len());
        };
        let mut extent = self.holders[first].clone();
        for c in classes {
            extent.intersect_with(&self.holders[c]);
        }
        extent
    }

    /// Whether the concept of `intent` explains something left.
    fn useful(&self, intent: &FixedBitSet) -> bool {
        self.extent(intent)
            .ones()
            .any(|p| !self.unexplained[p].is_disjoint(intent))
    }

    /// Own concepts of the active profiles, class concepts, and the concepts of what an active
    /// profile shares with each other profile.
    fn first_pool(&self, pool: &mut Pool) {
        for &p in &self.active {
            pool.add(self.access[p as usize].clone());
        }
        let open: FixedBitSet = self.unexplained.iter().fold(
            FixedBitSet::with_capacity(self.classes()),
            |mut all, u| {
                all.union_with(u);
                all
            },
        );
        let by_class: Vec<FixedBitSet> = open
            .ones()
            .collect::<Vec<_>>()
            .into_par_iter()
            .filter_map(|c| {
                let mut single = FixedBitSet::with_capacity(self.classes());
                single.insert(c);
                self.close(&single)
            })
            .collect();
        pool.extend(by_class);
        let shared: Vec<FixedBitSet> = self
            .active
            .par_iter()
            .flat_map_iter(|&a| {
                let mine = &self.access[a as usize];
                let mut seen: FxHashSet<FixedBitSet> = FxHashSet::default();
                (0..self.profiles.len())
                    .filter(move |&q| q != a as usize)
                    .filter_map(move |q| {
                        let mut both = mine.clone();
                        both.intersect_with(&self.access[q]);
                        (!both.is_clear() && !both.is_disjoint(&self.unexplained[a as usize]))
                            .then_some(both)
                    })
                    .filter(move |both| seen.insert(both.clone()))
                    .collect::<Vec<_>>()
            })
            .collect();
        self.close_into(pool, shared);
    }

    /// Adds the concepts of what each of `intents` shares with each profile.
    fn extend_pool(&self, pool: &mut Pool, intents: &[FixedBitSet]) {
        let shared: Vec<FixedBitSet> = intents
            .par_iter()
            .flat_map_iter(|intent| {
                (0..self.profiles.len()).filter_map(move |q| {
                    let mut both = intent.clone();
                    both.intersect_with(&self.access[q]);
                    (!both.is_clear() && both != *intent).then_some(both)
                })
            })
            .collect();
        self.close_into(pool, shared);
    }

    /// Closes `intents` and adds the useful new ones, in order.
    fn close_into(&self, pool: &mut Pool, intents: Vec<FixedBitSet>) {
        let mut seen: FxHashSet<&FixedBitSet> = FxHashSet::default();
        let distinct: Vec<&FixedBitSet> = intents.iter().filter(|i| seen.insert(i)).collect();
        let closed: Vec<FixedBitSet> = distinct
            .into_par_iter()
            .filter_map(|i| self.close(i))
            .filter(|closed| !pool.contains(closed) && self.useful(closed))
            .collect();
        pool.extend(closed);
    }

    /// The set-cover problem of the pool's `columns`: rows are the unexplained (profile, class)
    /// pairs, or those of them in `only`.
    fn problem(&self, pool: &Pool, columns: &[u32], only: Option<&FixedBitSet>) -> Problem {
        let classes = self.classes();
        let columns: Vec<Vec<u32>> = columns
            .par_iter()
            .map(|&c| {
                let intent = &pool.intents[c as usize];
                let mut rows = Vec::new();
                for p in self.extent(intent).ones() {
                    let slot = self.slot[p];
                    if slot == NO_ROW {
                        continue;
                    }
                    let mut left = self.unexplained[p].clone();
                    left.intersect_with(intent);
                    rows.extend(
                        left.ones()
                            .map(|c| self.rows[slot as usize * classes + c])
                            .filter(|&r| {
                                r != NO_ROW && only.is_none_or(|keep| keep.contains(r as usize))
                            }),
                    );
                }
                rows.sort_unstable();
                rows
            })
            .collect();
        Problem::new(self.row_count as usize, columns)
    }

    /// The concept of `intent`, over profiles and entitlements.
    fn concept(&self, intent: &FixedBitSet) -> Concept {
        let mut entitlements = RoaringBitmap::new();
        for c in intent.ones() {
            entitlements |= &self.class_entitlements[c];
        }
        Concept {
            profiles: self.extent(intent).ones().map(|p| p as u32).collect(),
            entitlements,
        }
    }
}

/// Distinct intents, in the order they were found.
#[derive(Default)]
struct Pool {
    intents: Vec<FixedBitSet>,
    known: FxHashSet<FixedBitSet>,
}

impl Pool {
    fn add(&mut self, intent: FixedBitSet) {
        if self.known.insert(intent.clone()) {
            self.intents.push(intent);
        }
    }

    fn extend(&mut self, intents: Vec<FixedBitSet>) {
        for intent in intents {
            self.add(intent);
        }
    }

    fn len(&self) -> u32 {
        u32::try_from(self.intents.len()).unwrap_or(u32::MAX)
    }

    fn contains(&self, intent: &FixedBitSet) -> bool {
        self.known.contains(intent)
    }
}

/// A set-cover problem: every row must be in some chosen column.
struct Problem {
    /// Per column, its rows, ascending.
    columns: Vec<Vec<u32>>,
    /// Per row, its columns, ascending.
    rows: Vec<Vec<u32>>,
}

/// What the reduction leaves: forced columns, the rows they leave uncovered, and the kernel's
/// rows (the uncovered ones no other row's cover covers) and columns.
struct Reduced {
    forced: Vec<u32>,
    uncovered: Vec<u32>,
    rows: Vec<u32>,
    columns: Vec<u32>,
}

impl Problem {
    fn new(row_count: usize, columns: Vec<Vec<u32>>) -> Self {
        let mut rows = vec![Vec::new(); row_count];
        for (c, column) in (0u32..).zip(&columns) {
            for &r in column {
                rows[r as usize].push(c);
            }
        }
        Self { columns, rows }
    }

    /// Applies the three reductions of the module documentation until none applies.
    fn reduce(&self, observer: &dyn Observer) -> Result<Reduced, EngineError> {
        // Rows no column covers are not part of this problem.
        let mut row_alive: Vec<bool> = self.rows.iter().map(|r| !r.is_empty()).collect();
        let mut uncovered = row_alive.clone();
        let mut column_alive: Vec<bool> = self.columns.iter().map(|c| !c.is_empty()).collect();
        let mut forced = Vec::new();
        loop {
            if observer.cancelled() {
                return Err(EngineError::Cancelled);
            }
            let mut changed = false;
            // A row only one column covers forces it.
            for r in 0..self.rows.len() {
                if !row_alive[r] {
                    continue;
                }
                let mut alive = self.rows[r].iter().filter(|&&c| column_alive[c as usize]);
                if let (Some(&only), None) = (alive.next(), alive.next()) {
                    forced.push(only);
                    column_alive[only as usize] = false;
                    for &covered in &self.columns[only as usize] {
                        row_alive[covered as usize] = false;
                        uncovered[covered as usize] = false;
                    }
                    changed = true;
                }
            }
            // A row whose columns all cover another row is covered whenever that one is.
            let row_sets: Vec<Vec<u32>> = (0..self.rows.len())
                .into_par_iter()
                .map(|r| alive_only(&self.rows[r], row_alive[r], &column_alive))
                .collect();
            changed |= drop_dominated(&row_sets, &mut row_alive, true);
            // A column whose rows another column covers too is never needed.
            let column_sets: Vec<Vec<u32>> = (0..self.columns.len())
                .into_par_iter()
                .map(|c| alive_only(&self.columns[c], column_alive[c], &row_alive))
                .collect();
            for (c, set) in column_sets.iter().enumerate() {
                if column_alive[c] && set.is_empty() {
                    column_alive[c] = false;
                    changed = true;
                }
            }
            changed |= drop_dominated(&column_sets, &mut column_alive, false);
            if !changed {
                break;
            }
        }
        Ok(Reduced {
            forced,
            uncovered: (0u32..)
                .zip(&uncovered)
                .filter(|(_, u)| **u)
                .map(|(r, _)| r)
                .collect(),
            rows: (0u32..)
                .zip(&row_alive)
                .filter(|(_, a)| **a)
                .map(|(r, _)| r)
                .collect(),
            columns: (0u32..)
                .zip(&column_alive)
                .filter(|(_, a)| **a)
                .map(|(c, _)| c)
                .collect(),
        })
    }

    /// The fewest kernel columns covering the kernel rows (see the module documentation).
    fn branch_and_bound(
        &self,
        reduced: &Reduced,
        budget: u64,
        observer: &dyn Observer,
    ) -> Result<Vec<u32>, EngineError> {
        let n = reduced.rows.len();
        if n == 0 {
            return Ok(Vec::new());
        }
        let mut position = vec![usize::MAX; self.rows.len()];
        for (i, &r) in reduced.rows.iter().enumerate() {
            position[r as usize] = i;
        }
        let columns: Vec<FixedBitSet> = reduced
            .columns
            .iter()
            .map(|&c| {
                let mut set = FixedBitSet::with_capacity(n);
                set.extend(
                    self.columns[c as usize]
                        .iter()
                        .map(|&r| position[r as usize])
                        .filter(|&i| i != usize::MAX),
                );
                set
            })
            .collect();
        let mut rows: Vec<FixedBitSet> = vec![FixedBitSet::with_capacity(columns.len()); n];
        for (k, column) in columns.iter().enumerate() {
            for r in column.ones() {
                rows[r].insert(k);
            }
        }
        let mut search = Search {
            best: greedy(&columns, n),
            columns: &columns,
            rows: &rows,
            nodes: 0,
            work: 0,
            budget: if n > MAX_SEARCH_DEPTH { 0 } else { budget },
            observer,
        };
        let mut uncovered = FixedBitSet::with_capacity(n);
        uncovered.insert_range(..);
        let mut allowed = FixedBitSet::with_capacity(columns.len());
        allowed.insert_range(..);
        search.descend(&uncovered, &allowed, &mut Vec::new())?;
        Ok(search
            .best
            .into_iter()
            .map(|k| reduced.columns[k])
            .collect())
    }
}

/// `set` with only the alive members, or nothing when `alive_self` is false.
fn alive_only(set: &[u32], alive_self: bool, alive: &[bool]) -> Vec<u32> {
    if !alive_self {
        return Vec::new();
    }
    set.iter().copied().filter(|&x| alive[x as usize]).collect()
}

/// Marks dead each alive item whose set holds another alive item's set (`superset`) or is held
/// in it (otherwise); of items with equal sets, the first stays. Returns whether any died.
///
/// Only items that can dominate are compared: a subset of a set holds its own first member,
/// which is in the set; a superset holds the set's member that the fewest items hold.
fn drop_dominated(sets: &[Vec<u32>], alive: &mut [bool], superset: bool) -> bool {
    let mut by_member: FxHashMap<u32, Vec<u32>> = FxHashMap::default();
    for (i, set) in (0u32..).zip(sets) {
        if !alive[i as usize] {
            continue;
        }
        if superset {
            if let Some(&first) = set.first() {
                by_member.entry(first).or_default().push(i);
            }
        } else {
            for &m in set {
                by_member.entry(m).or_default().push(i);
            }
        }
    }
    let none: &[u32] = &[];
    // Judged against the items alive at the start: a dominating item that dies too is itself
    // dominated by one that stays (the first of equal sets stays), so the result is the same.
    let start: &[bool] = alive;
    let dominated: Vec<bool> = sets
        .par_iter()
        .enumerate()
        .map(|(i, set)| {
            if !start[i] || set.is_empty() {
                return false;
            }
            let mut candidates = if superset {
                Box::new(
                    set.iter()
                        .flat_map(|m| by_member.get(m).map_or(none, Vec::as_slice)),
                ) as Box<dyn Iterator<Item = &u32>>
            } else {
                let rarest = set
                    .iter()
                    .min_by_key(|m| by_member.get(m).map_or(0, Vec::len));
                Box::new(
                    rarest
                        .into_iter()
                        .flat_map(|m| by_member.get(m).map_or(none, Vec::as_slice)),
                )
            };
            candidates.any(|&other| {
                let other = other as usize;
                let (small, large) = if superset {
                    (&sets[other], set)
                } else {
                    (set, &sets[other])
                };
                other != i
                    && start[other]
                    && is_subset(small, large)
                    && (sets[other] != *set || other < i)
            })
        })
        .collect();
    let mut changed = false;
    for (alive, dominated) in alive.iter_mut().zip(dominated) {
        if dominated {
            *alive = false;
            changed = true;
        }
    }
    changed
}

/// Whether sorted `small` is a subset of sorted `large`.
fn is_subset(small: &[u32], large: &[u32]) -> bool {
    let mut rest = large.iter();
    small.iter().all(|x| rest.any(|y| y == x))
}

/// Columns taken by the most newly covered rows first, until every row is covered.
fn greedy(columns: &[FixedBitSet], n: usize) -> Vec<usize> {
    let mut uncovered = FixedBitSet::with_capacity(n);
    uncovered.insert_range(..);
    let mut picked = Vec::new();
    while !uncovered.is_clear() {
        let best = (0..columns.len())
            .max_by_key(|&k| {
                (
                    columns[k].intersection_count(&uncovered),
                    std::cmp::Reverse(k),
                )
            })
            .filter(|&k| columns[k].intersection_count(&uncovered) > 0);
        let Some(best) = best else {
            break;
        };
        uncovered.difference_with(&columns[best]);
        picked.push(best);
    }
    picked
}

/// The state of the branch and bound.
struct Search<'a> {
    best: Vec<usize>,
    columns: &'a [FixedBitSet],
    rows: &'a [FixedBitSet],
    /// Nodes visited (for the cancellation check).
    nodes: u64,
    /// Kernel rows visited, against `budget`.
    work: u64,
    budget: u64,
    observer: &'a dyn Observer,
}

impl Search<'_> {
    fn descend(
        &mut self,
        uncovered: &FixedBitSet,
        allowed: &FixedBitSet,
        picked: &mut Vec<usize>,
    ) -> Result<(), EngineError> {
        self.nodes += 1;
        self.work += uncovered.count_ones(..) as u64;
        if self.work > self.budget {
            return Ok(());
        }
        if self.nodes.is_multiple_of(4096) && self.observer.cancelled() {
            return Err(EngineError::Cancelled);
        }
        if uncovered.is_clear() {
            if picked.len() < self.best.len() {
                self.best = picked.clone();
            }
            return Ok(());
        }
        if picked.len() + self.lower_bound(uncovered, allowed) >= self.best.len() {
            return Ok(());
        }
        // The row with the fewest allowed columns; none means this branch cannot cover it.
        let Some(row) = uncovered
            .ones()
            .min_by_key(|&r| self.rows[r].intersection_count(allowed))
        else {
            return Ok(());
        };
        let mut options: Vec<usize> = self.rows[row].intersection(allowed).collect();
        options.sort_by_key(|&k| std::cmp::Reverse(self.columns[k].intersection_count(uncovered)));
        let mut allowed = allowed.clone();
        for k in options {
            allowed.remove(k);
            let mut left = uncovered.clone();
            left.difference_with(&self.columns[k]);
            picked.push(k);
            self.descend(&left, &allowed, picked)?;
            picked.pop();
        }
        Ok(())
    }

    /// Uncovered rows no two of which share an allowed column: each needs its own column.
    /// Infinite (the row count plus one) when some row has no allowed column.
    fn lower_bound(&self, uncovered: &FixedBitSet, allowed: &FixedBitSet) -> usize {
        let mut rows: Vec<(usize, usize)> = uncovered
            .ones()
            .map(|r| (self.rows[r].intersection_count(allowed), r))
            .collect();
        if rows
            .first()
            .is_some_and(|_| rows.iter().any(|(n, _)| *n == 0))
        {
            return self.rows.len() + 1;
        }
        rows.sort_unstable();
        let mut used = FixedBitSet::with_capacity(allowed.len());
        let mut bound = 0;
        for (_, r) in rows {
            if self.rows[r].is_disjoint(&used) {
                used.union_with(&self.rows[r]);
                bound += 1;
            }
        }
        bound
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::observer::Silent;
    use proptest::prelude::*;

    proptest! {
        /// Whatever is left unexplained, and however short the search is cut, the concepts
        /// returned explain every pair left and grant no member anything it lacks.
        #[test]
        fn the_exact_step_always_covers_exactly(
            rows in prop::collection::btree_set(prop::collection::btree_set(0u32..16, 1..10), 1..16),
            explained in prop::collection::vec(prop::collection::btree_set(0u32..16, 0..10), 16),
            budget in prop::sample::select(vec![1u64, WORK_BUDGET]),
        ) {
            let profiles: Vec<Profile> = (0u32..)
                .zip(&rows)
                .map(|(i, row)| Profile {
                    access: row.iter().copied().collect(),
                    identities: vec![i],
                })
                .collect();
            let mut residual = Residual::new(&profiles);
            for (p, done) in (0u32..).zip(&explained).take(profiles.len()) {
                let entitlements: RoaringBitmap = done.iter().copied().collect();
                residual.explain(&Concept {
                    profiles: [p].into_iter().collect(),
                    entitlements: &entitlements & &profiles[p as usize].access,
                });
            }
            let concepts = cover_residual_within(&profiles, &residual, budget, &Silent)
                .unwrap()
                .unwrap();
            for concept in &concepts {
                for p in &concept.profiles {
                    prop_assert!(concept.entitlements.is_subset(&profiles[p as usize].access));
                }
            }
            for (p, left) in (0u32..).zip(&residual.unexplained) {
                let mut covered = RoaringBitmap::new();
                for concept in concepts.iter().filter(|c| c.profiles.contains(p)) {
                    covered |= &concept.entitlements;
                }
                prop_assert!(left.is_subset(&covered), "profile {p}: {left:?} not in {covered:?}");
            }
        }
    }

    #[test]
    fn reduction_forces_lonely_columns_and_drops_dominated_ones() {
        // Rows 0-3. Column 0 alone covers row 0; column 1 covers 1-2, column 2 only 1.
        let problem = Problem::new(4, vec![vec![0, 1], vec![1, 2], vec![1], vec![2, 3]]);
        let reduced = problem.reduce(&Silent).unwrap();
        let mut forced = reduced.forced.clone();
        forced.sort_unstable();
        // 0 is forced (row 0); 3 is forced (row 3); then row 2 is covered by 3, nothing left.
        assert_eq!(forced, vec![0, 3]);
        assert!(reduced.rows.is_empty());
    }

    #[test]
    fn branch_and_bound_finds_the_smaller_cover_the_greedy_misses() {
        // Six rows: the greedy takes the big third column first and needs three; two suffice.
        let problem = Problem::new(6, vec![vec![0, 1, 2], vec![3, 4, 5], vec![0, 1, 3, 4]]);
        let reduced = Reduced {
            forced: Vec::new(),
            uncovered: (0..6).collect(),
            rows: (0..6).collect(),
            columns: (0..3).collect(),
        };
        let n = 6;
        let columns: Vec<FixedBitSet> = problem
            .columns
            .iter()
            .map(|c| {
                let mut set = FixedBitSet::with_capacity(n);
                set.extend(c.iter().map(|&r| r as usize));
                set
            })
            .collect();
        assert_eq!(greedy(&columns, n).len(), 3);
        let mut best = problem
            .branch_and_bound(&reduced, WORK_BUDGET, &Silent)
            .unwrap();
        best.sort_unstable();
        assert_eq!(best, vec![0, 1]);
    }
}
