//! The prescribed prune threshold.
//!
//! The rule: cluster at each threshold of a sweep and keep the one whose roles describe the
//! population's access most economically, the *weighted structural complexity* view of role
//! mining (Molloy et al., "Evaluating role mining algorithms", SACMAT 2009). For a set of roles,
//!
//! ```text
//! cost = Σ_roles ( members + core entitlements + over-granted cells )  +  uncovered cells
//! ```
//!
//! where a role's *core* entitlements are those at least half of its members hold, over-granted
//! cells are (member, core entitlement) pairs the member does not hold, and uncovered cells are
//! population (identity, entitlement) assignments no role's core explains. Only roles with at
//! least the minimum number of identities count. Too low a threshold merges unlike groups (their
//! distinct entitlements fall out of the core, or are over-granted); too high a threshold
//! splits groups into pieces that each cost their own definition or fall below the minimum
//! size. The lowest cost wins; ties go to the lower threshold.
//!
//! The sweep runs [`COARSE`] first, then the thresholds 5 either side of the best. Similarity
//! edges are searched from the first coarse threshold visited, filtered for each run, and
//! searched again only when the fine step goes below it.

use std::collections::BTreeMap;

use ndarray::{Array2, Axis};
use rayon::prelude::*;

use crate::cluster::peer_groups;
use crate::compress::Node;
use crate::error::EngineError;
use crate::observer::Observer;
use crate::similarity::{Edges, Search};

/// The thresholds of the first sweep, in percent.
pub const COARSE: [u8; 5] = [30, 45, 60, 75, 90];
/// The lowest threshold the sweep can visit (in its fine step, when 30 is the best coarse one).
pub const LOWEST: u8 = 25;
/// The most similarity edges per node the sweep works with. When many identities hold several
/// roles, each links to every variant of each of its roles at about 50 % and the graph at the
/// low thresholds is dense (1M planted identities, 30 % of them in two roles: 324 edges per
/// node at 25 %, 87 at 45 %, 18 at 60 %); those thresholds are not visited then (see
/// [`affordable_lowest`]). With one role each the same population has 59 per node at every
/// threshold up to 75 % and keeps them all. At 80 the overlapping population is mined from 60 %
/// (8M edges instead of 39M): the same 2,000 of 2,000 planted roles, 85 s instead of 110 s end
/// to end, 2.4 GB instead of 4.3 GB (measured before the faster similarity search, which took
/// the run to 51 s).
pub const EDGE_BUDGET: f64 = 80.0;

/// Below this many nodes every graph is small enough: [`affordable_lowest`] is [`LOWEST`].
const BUDGETED_NODES: usize = 50_000;

/// The lowest threshold of [`LOWEST`] and [`COARSE`] whose similarity graph stays within
/// [`EDGE_BUDGET`] edges per node (estimated on a sample of nodes, from the lowest up); the
/// highest coarse threshold when none does. Populations of fewer than 50,000 nodes are not
/// budgeted.
pub fn affordable_lowest(search: &Search) -> u8 {
    if search.nodes() < BUDGETED_NODES {
        return LOWEST;
    }
    let degrees = search.degrees(LOWEST);
    std::iter::once(LOWEST)
        .chain(COARSE)
        .find(|&t| degrees.at(t) <= EDGE_BUDGET)
        .unwrap_or(COARSE[COARSE.len() - 1])
}

/// One threshold's outcome.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SweepPoint {
    /// Threshold in percent.
    pub threshold: u8,
    /// Roles with at least the minimum identities.
    pub roles: u32,
    /// Identities in those roles.
    pub covered_identities: u64,
    /// The structural cost (lower is better).
    pub cost: f64,
}

/// Columns of the sweep's score table.
const COLUMNS: usize = 4;

/// Peer groups as lists of node indices.
pub type Groups = Vec<Vec<u32>>;

/// The sweep's outcome.
#[derive(Debug, Clone)]
pub struct Prescription {
    /// The prescribed threshold.
    pub threshold: u8,
    /// Every threshold visited, ordered by threshold.
    pub sweep: Vec<SweepPoint>,
    /// The peer groups (node indices) found at each visited threshold.
    pub groups: BTreeMap<u8, Groups>,
}

/// The first threshold the sweep visits when it may go down to `lowest`: the lowest coarse
/// one at or above it (the highest coarse one when none is). Edges from there up serve the
/// coarse sweep.
pub fn first_visited(lowest: u8) -> u8 {
    COARSE
        .iter()
        .copied()
        .find(|t| *t >= lowest)
        .unwrap_or(COARSE[COARSE.len() - 1])
}

/// The threshold similarity edges are first searched from, for a sweep that may go down to
/// `affordable` (see [`affordable_lowest`]) and a session's `chosen` threshold, if any: the
/// first coarse threshold visited, or the chosen one when lower (its peer groups need its own
/// edges). Lower edges are searched only when the fine step needs them.
pub fn search_floor(affordable: u8, chosen: Option<u8>) -> u8 {
    first_visited(affordable).min(chosen.unwrap_or(u8::MAX))
}

/// Sweeps thresholds from `lowest` up over `nodes` and `edges` (at least from
/// [`first_visited`]`(lowest)` up; lowered when the fine step needs it) and returns the
/// prescribed threshold with the sweep and the peer groups of every threshold visited.
/// Fails only when `observer` cancels a search for lower edges.
pub fn prescribe(
    nodes: &[Node],
    edges: &mut Edges<'_>,
    min_identities: u32,
    lowest: u8,
    observer: &dyn Observer,
) -> Result<Prescription, EngineError> {
    let mut groups: BTreeMap<u8, Groups> = BTreeMap::new();
    let total_cells: u64 = nodes
        .iter()
        .map(|n| u64::from(n.weight()) * n.features.len() as u64)
        .sum();
    let mut score = |thresholds: &[u8], edges: &[crate::similarity::Edge]| -> Array2<f64> {
        let (rows, found): (Vec<[f64; COLUMNS]>, Vec<(u8, Groups)>) = thresholds
            .par_iter()
            .map(|&t| {
                let found = peer_groups(nodes, edges, f32::from(t) / 100.0);
                let point = price(nodes, &found, t, min_identities, total_cells);
                let row = [
                    f64::from(point.threshold),
                    f64::from(point.roles),
                    point.covered_identities as f64,
                    point.cost,
                ];
                (row, (t, found))
            })
            .unzip();
        groups.extend(found);
        let mut table = Array2::zeros((rows.len(), COLUMNS));
        for (mut row, values) in table.axis_iter_mut(Axis(0)).zip(rows) {
            row.assign(&ndarray::arr1(&values));
        }
        table
    };
    let first = first_visited(lowest);
    let visited: Vec<u8> = COARSE.iter().copied().filter(|t| *t >= first).collect();
    let coarse = score(&visited, edges.down_to(first, observer)?);
    let best = best_threshold(&coarse);
    let fine: Vec<u8> = [best.saturating_sub(5), best.saturating_add(5).min(95)]
        .into_iter()
        .filter(|t| *t >= LOWEST.max(lowest) && !COARSE.contains(t))
        .collect();
    let fine_edges = match fine.iter().min() {
        Some(&t) => edges.down_to(t, observer)?,
        None => edges.list(),
    };
    let fine = score(&fine, fine_edges);
    let table = ndarray::concatenate(Axis(0), &[coarse.view(), fine.view()])
        .unwrap_or_else(|_| coarse.clone());
    let mut sweep: Vec<SweepPoint> = table
        .axis_iter(Axis(0))
        .map(|row| SweepPoint {
            threshold: row[0] as u8,
            roles: row[1] as u32,
            covered_identities: row[2] as u64,
            cost: row[3],
        })
        .collect();
    sweep.sort_by_key(|p| p.threshold);
    Ok(Prescription {
        threshold: best_threshold(&table),
        sweep,
        groups,
    })
}

/// The lowest-cost row's threshold; ties to the lower threshold.
fn best_threshold(table: &Array2<f64>) -> u8 {
    table
        .axis_iter(Axis(0))
        .min_by(|a, b| a[3].total_cmp(&b[3]).then(a[0].total_cmp(&b[0])))
        .map_or(COARSE[3], |row| row[0] as u8)
}

/// Prices the peer `groups` found at `threshold`.
fn price(
    nodes: &[Node],
    groups: &[Vec<u32>],
    threshold: u8,
    min_identities: u32,
    total_cells: u64,
) -> SweepPoint {
    let mut counts: Vec<u64> = Vec::new();
    let mut touched: Vec<u32> = Vec::new();
    let (mut roles, mut covered_identities, mut cost, mut covered_cells) = (0u32, 0u64, 0f64, 0u64);
    for group in groups {
        let members: u64 = group
            .iter()
            .map(|&n| u64::from(nodes[n as usize].weight()))
            .sum();
        if members < u64::from(min_identities.max(1)) {
            continue;
        }
        touched.clear();
        for &n in group {
            let node = &nodes[n as usize];
            for &f in &node.features {
                let f = f as usize;
                if f >= counts.len() {
                    counts.resize(f + 1, 0);
                }
                if counts[f] == 0 {
                    touched.push(f as u32);
                }
                counts[f] += u64::from(node.weight());
            }
        }
        let (mut core, mut held) = (0u64, 0u64);
        for &f in &touched {
            let count = counts[f as usize];
            if count * 2 >= members {
                core += 1;
                held += count;
            }
            counts[f as usize] = 0;
        }
        roles += 1;
        covered_identities += members;
        covered_cells += held;
        cost += (members + core + (members * core - held)) as f64;
    }
    cost += total_cells.saturating_sub(covered_cells) as f64;
    SweepPoint {
        threshold,
        roles,
        covered_identities,
        cost,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::observer::Silent;
    use crate::similarity::similar_pairs;

    fn group(features: &[u32], copies: u32, first_id: u32) -> Vec<Node> {
        // Each identity also holds a feature of its own, so nodes are not all identical.
        (0..copies)
            .map(|i| {
                let mut f = features.to_vec();
                f.push(1000 + first_id + i);
                f.sort_unstable();
                Node {
                    features: f,
                    identities: vec![first_id + i],
                }
            })
            .collect()
    }

    #[test]
    fn a_clean_two_group_population_prescribes_a_threshold_that_separates_them() {
        let mut nodes = group(&[1, 2, 3, 4, 5], 30, 0);
        nodes.extend(group(&[1, 2, 6, 7, 8], 30, 100));
        let edges = similar_pairs(&nodes, LOWEST, &Silent).unwrap();
        let Prescription {
            threshold: best,
            sweep,
            ..
        } = prescribe(
            &nodes,
            &mut Edges::given(edges, LOWEST),
            20,
            LOWEST,
            &Silent,
        )
        .unwrap();
        let at_best = sweep.iter().find(|p| p.threshold == best).unwrap();
        assert_eq!(at_best.roles, 2, "{sweep:?}");
        assert_eq!(at_best.covered_identities, 60);
        assert!(sweep.windows(2).all(|w| w[0].threshold < w[1].threshold));
    }

    #[test]
    fn empty_input_gives_a_defined_answer() {
        let Prescription {
            threshold: best,
            sweep,
            ..
        } = prescribe(
            &[],
            &mut Edges::given(Vec::new(), LOWEST),
            20,
            LOWEST,
            &Silent,
        )
        .unwrap();
        assert!(sweep.iter().any(|p| p.threshold == best));
        assert!(sweep.iter().all(|p| p.roles == 0 && p.cost == 0.0));
    }

    /// Groups of `copies` identities holding `shared` of a group's five entitlements and three
    /// of their own: alike at 25-45 % within the group depending on `shared`, unlike outside.
    fn loose_groups(shared: u32, groups: u32, copies: u32) -> Vec<Node> {
        let mut nodes = Vec::new();
        for g in 0..groups {
            for i in 0..copies {
                let id = g * copies + i;
                let mut features: Vec<u32> = (0..shared).map(|f| g * 10 + f).collect();
                features.extend((0..3).map(|k| 10_000 + id * 3 + k));
                features.sort_unstable();
                nodes.push(Node {
                    features,
                    identities: vec![id],
                });
            }
        }
        nodes
    }

    #[test]
    fn edges_searched_from_the_first_coarse_threshold_prescribe_as_all_of_them_do() {
        let mut lowered = false;
        for (shared, groups, copies) in [(1, 3, 25), (2, 4, 30), (3, 3, 25), (5, 2, 40)] {
            let nodes = loose_groups(shared, groups, copies);
            let search = Search::new(&nodes);
            let all = search.pairs(LOWEST, &Silent).unwrap();
            let full = prescribe(
                &nodes,
                &mut Edges::given(all.clone(), LOWEST),
                20,
                LOWEST,
                &Silent,
            )
            .unwrap();
            let mut lazy = Edges::search(&search, first_visited(LOWEST), &Silent).unwrap();
            let found = prescribe(&nodes, &mut lazy, 20, LOWEST, &Silent).unwrap();
            assert_eq!(found.threshold, full.threshold, "{shared} shared");
            assert_eq!(found.sweep, full.sweep, "{shared} shared");
            assert_eq!(found.groups, full.groups, "{shared} shared");
            if lazy.floor() == LOWEST {
                lowered = true;
                assert_eq!(lazy.into_list(), all, "searched again at {LOWEST} %");
            }
        }
        assert!(
            lowered,
            "some population's best coarse threshold is the first one"
        );
    }

    #[test]
    fn edges_are_searched_from_the_first_coarse_threshold_or_a_lower_chosen_one() {
        assert_eq!(search_floor(LOWEST, None), 30);
        assert_eq!(search_floor(LOWEST, Some(27)), 27);
        assert_eq!(search_floor(LOWEST, Some(10)), 10);
        assert_eq!(search_floor(LOWEST, Some(50)), 30);
        assert_eq!(search_floor(60, None), 60);
        assert_eq!(search_floor(60, Some(50)), 50);
        assert_eq!(search_floor(90, Some(100)), 90);
    }

    #[test]
    fn the_first_visited_threshold_is_the_lowest_coarse_one_at_or_above() {
        assert_eq!(first_visited(LOWEST), 30);
        assert_eq!(first_visited(30), 30);
        assert_eq!(first_visited(31), 45);
        assert_eq!(first_visited(95), 90);
    }
}
