//! The birthright role of a `SPECIALIZED` session: the common access, as one role of the
//! identities no other role grants it to.
//!
//! A `SPECIALIZED` session mines only what is not common access, so no peer group and no tiling
//! candidate stands for the common access itself. A tiled role's definition holds the common
//! access most of its members hold, so its members have theirs explained; but identities
//! holding little or nothing else (79 % of americas_small's) would be in no role at all. Their
//! access is still access a role should explain: this is the role an identity team would grant
//! everyone on day one. Its candidates are the identities whose tiled roles grant them less than
//! `fit` of the common access they hold. It is settled like a tiling seed (see
//! [`crate::tiling`]), round by round: the candidates holding at least `fit` of the definition
//! are taken; while at least half of them share some mined access, just enough holders of the
//! most shared such entitlement leave that fewer than half of those left hold it (by the half
//! rule the role would otherwise grant it), those holding the most mined access first: they are
//! the least like a birthright member; the definition becomes what at least half of those left
//! hold; until the definition no longer changes. It is kept when it still has the minimum size
//! and explains more than it costs, priced as a tiling candidate is.

use rayon::prelude::*;
use roaring::RoaringBitmap;

use crate::counts::Counts;
use crate::coverage::roles_of;
use crate::error::EngineError;
use crate::metrics::is_defining;
use crate::observer::Observer;
use crate::tiling::{
    fit_need, half_held, over_grant_cost, Tile, TilingInput, TilingParams, MAX_ROUNDS, MEMBER_PRICE,
};

/// Counting walks the members' rows when they hold fewer than this many assignments per
/// entitlement to count; otherwise each entitlement's holders are intersected with the members.
/// A few hundred members at 1M identities would otherwise intersect 100k holder lists a round.
const ROW_WALK_FACTOR: u64 = 16;

/// The birthright role of `input`'s population beside the tiled `roles`, if it has one (see
/// the module documentation). `None` when the session mines everything definable (nothing is
/// unmined common access). Checks `observer` for cancellation between rounds.
pub fn birthright(
    input: TilingInput<'_>,
    params: TilingParams,
    roles: &[Tile],
    observer: &dyn Observer,
) -> Result<Option<Tile>, EngineError> {
    let min = u64::from(params.min_identities.max(1));
    let mut definition = input.definable - input.mined;
    if definition.is_empty() {
        return Ok(None);
    }
    let candidates = ungranted(input, roles, &definition, params.fit);
    let mut counts = Counts::new(input.holder_counts.len());
    for _ in 0..MAX_ROUNDS {
        if observer.cancelled() {
            return Err(EngineError::Cancelled);
        }
        let Some(need) = fit_need(definition.len(), params.fit) else {
            return Ok(None);
        };
        let mut members: Vec<u32> = candidates
            .par_iter()
            .copied()
            .filter(|&i| input.matrix.of_identity(i).intersection_len(&definition) >= need)
            .collect();
        let size = loop {
            let size = members.len() as u64;
            if size < min {
                return Ok(None);
            }
            count_held(input, &members, &definition, &mut counts);
            let most_shared = counts
                .iter()
                .filter(|&(e, count)| input.mined.contains(e) && is_defining(count, size))
                .max_by_key(|&(e, count)| (count, std::cmp::Reverse(e)));
            let Some((shared, count)) = most_shared else {
                break size;
            };
            let leaving = leaving_holders(input, &members, shared, 2 * count + 1 - size);
            members.retain(|i| leaving.binary_search(i).is_err());
        };
        let next = half_held(counts.iter(), size);
        if next == definition {
            let explained: u64 = definition.iter().map(|e| counts.get(e)).sum();
            let price = MEMBER_PRICE * size as f64
                + definition.len() as f64
                + over_grant_cost(input, &counts, size, &definition);
            return Ok((explained as f64 > price).then_some(Tile {
                members,
                definition,
            }));
        }
        definition = next;
    }
    Ok(None)
}

/// The `count` holders of `shared` among `members` (or all of them, when fewer) that leave the
/// role so that fewer than half of those left hold it: those holding the most mined access
/// first (the least like a birthright member), then the highest index. Ascending.
fn leaving_holders(input: TilingInput<'_>, members: &[u32], shared: u32, count: u64) -> Vec<u32> {
    let holders = input.matrix.holders(shared);
    let mut holding: Vec<(u64, u32)> = members
        .iter()
        .filter(|&&i| holders.contains(i))
        .map(|&i| (input.matrix.of_identity(i).intersection_len(input.mined), i))
        .collect();
    holding.sort_unstable_by(|a, b| b.cmp(a));
    let mut leaving: Vec<u32> = holding
        .into_iter()
        .take(usize::try_from(count).unwrap_or(usize::MAX))
        .map(|(_, i)| i)
        .collect();
    leaving.sort_unstable();
    leaving
}

/// The population's identities whose `roles` grant them less than `fit` of the `common` access
/// they hold, ascending.
fn ungranted(input: TilingInput<'_>, roles: &[Tile], common: &RoaringBitmap, fit: f64) -> Vec<u32> {
    let parts: Vec<RoaringBitmap> = roles.iter().map(|r| &r.definition & common).collect();
    let roles_of = roles_of(
        input.matrix.identities(),
        roles.iter().map(|r| r.members.as_slice()),
    );
    let is_candidate = |i: u32| -> bool {
        let row = input.matrix.of_identity(i);
        let Some(need) = fit_need(row.intersection_len(common), fit) else {
            return false; // holds none of it
        };
        let roles = roles_of.get(i as usize).map_or(&[][..], Vec::as_slice);
        let granted = match roles {
            [] => 0,
            [only] => row.intersection_len(&parts[*only as usize]),
            several => common
                .iter()
                .filter(|&e| {
                    row.contains(e) && several.iter().any(|&r| parts[r as usize].contains(e))
                })
                .count() as u64,
        };
        granted < need
    };
    let population: Vec<u32> = input.population.iter().collect();
    population
        .into_par_iter()
        .filter(|&i| is_candidate(i))
        .collect()
}

/// Counts, into `counts`, how many of `members` hold each definable entitlement that could be
/// held by half of them or is in `definition` (no other one can be half held).
fn count_held(
    input: TilingInput<'_>,
    members: &[u32],
    definition: &RoaringBitmap,
    counts: &mut Counts,
) {
    let size = members.len() as u64;
    let counted = |e: u32| {
        let held_by = input.holder_counts.get(e as usize).copied().unwrap_or(0);
        2 * u64::from(held_by) >= size || definition.contains(e)
    };
    let to_count: Vec<u32> = input.definable.iter().filter(|&e| counted(e)).collect();
    let assignments: u64 = members
        .iter()
        .map(|&i| input.matrix.of_identity(i).len())
        .sum();
    counts.clear();
    if assignments <= ROW_WALK_FACTOR * to_count.len() as u64 {
        for &i in members {
            for e in input.matrix.of_identity(i) {
                if input.definable.contains(e) && counted(e) {
                    counts.add(e, 1);
                }
            }
        }
    } else {
        let members: RoaringBitmap = members.iter().copied().collect();
        for e in to_count {
            counts.add(e, input.matrix.holders(e).intersection_len(&members));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::matrix::{AccessMatrix, AccessMatrixBuilder};
    use crate::observer::Silent;

    /// 40 identities: entitlements 0 and 1 are everyone's (the common access), 2 and 3 are held
    /// by `specialized` of them.
    fn matrix(specialized: u32, lacking_common: u32) -> AccessMatrix {
        let mut builder = AccessMatrixBuilder::new(40, 4);
        for i in 0..40 {
            if i >= lacking_common {
                builder.push(i, 0);
                builder.push(i, 1);
            }
            if i < specialized {
                builder.push(i, 2);
                builder.push(i, 3);
            }
        }
        builder.build()
    }

    fn run(matrix: &AccessMatrix, mined: &[u32], min: u32, roles: &[Tile]) -> Option<Tile> {
        run_observed(matrix, mined, min, roles, &Silent).unwrap()
    }

    fn run_observed(
        matrix: &AccessMatrix,
        mined: &[u32],
        min: u32,
        roles: &[Tile],
        observer: &dyn Observer,
    ) -> Result<Option<Tile>, EngineError> {
        let population: RoaringBitmap = (0..matrix.identities()).collect();
        let mined: RoaringBitmap = mined.iter().copied().collect();
        let definable: RoaringBitmap = (0..matrix.entitlements()).collect();
        let holder_counts: Vec<u32> = (0..matrix.entitlements())
            .map(|e| matrix.holders(e).len() as u32)
            .collect();
        let input = TilingInput {
            matrix,
            population: &population,
            mined: &mined,
            holder_counts: &holder_counts,
            definable: &definable,
            twinned: &RoaringBitmap::new(),
        };
        birthright(
            input,
            TilingParams {
                min_identities: min,
                fit: 1.0,
            },
            roles,
            observer,
        )
    }

    /// Asks every check to stop.
    struct Cancelling;

    impl Observer for Cancelling {
        fn cancelled(&self) -> bool {
            true
        }
    }

    #[test]
    fn a_cancelled_mining_stops_in_the_birthright_role() {
        let m = matrix(10, 4);
        assert!(matches!(
            run_observed(&m, &[2, 3], 20, &[], &Cancelling),
            Err(EngineError::Cancelled)
        ));
    }

    #[test]
    fn the_common_access_is_one_role_of_its_holders() {
        let m = matrix(10, 4);
        let tile = run(&m, &[2, 3], 20, &[]).expect("a birthright role");
        assert_eq!(tile.members, (4..40).collect::<Vec<u32>>());
        assert_eq!(tile.definition.iter().collect::<Vec<u32>>(), vec![0, 1]);
    }

    #[test]
    fn no_birthright_role_without_unmined_common_access_or_enough_holders() {
        let m = matrix(10, 4);
        assert_eq!(run(&m, &[0, 1, 2, 3], 2, &[]), None, "everything is mined");
        assert_eq!(run(&m, &[2, 3], 37, &[]), None, "36 holders, 37 needed");
    }

    #[test]
    fn just_enough_holders_of_mined_access_most_members_share_leave_the_role() {
        // 30 of the 40 also hold 2 and 3: with all of them the role would be theirs (2 and 3
        // held by more than half). 21 of them leave, the highest indices first as all hold the
        // same mined access, so that 9 of the 19 left hold 2 and 3: fewer than half.
        let m = matrix(30, 0);
        let tile = run(&m, &[2, 3], 19, &[]).expect("a birthright role");
        let kept: Vec<u32> = (0..9).chain(30..40).collect();
        assert_eq!(tile.members, kept);
        assert_eq!(tile.definition.iter().collect::<Vec<u32>>(), vec![0, 1]);
        assert_eq!(run(&m, &[2, 3], 20, &[]), None, "19 members, 20 needed");
    }

    #[test]
    fn the_holders_with_the_most_mined_access_leave_first() {
        // 0-9 hold 2 and 3, 10-19 hold 2 only, 20-39 hold neither: 2 is held by half. One holder
        // must leave, and 9 (holding both) goes before 19 (holding only 2).
        let mut builder = AccessMatrixBuilder::new(40, 4);
        for i in 0..40 {
            builder.push(i, 0);
            builder.push(i, 1);
            if i < 20 {
                builder.push(i, 2);
            }
            if i < 10 {
                builder.push(i, 3);
            }
        }
        let m = builder.build();
        let tile = run(&m, &[2, 3], 20, &[]).expect("a birthright role");
        let kept: Vec<u32> = (0..9).chain(10..40).collect();
        assert_eq!(tile.members, kept);
        assert_eq!(tile.definition.iter().collect::<Vec<u32>>(), vec![0, 1]);
    }

    #[test]
    fn identities_a_tiled_role_grants_the_common_access_to_are_left_out() {
        let m = matrix(10, 0);
        let specialised = Tile {
            members: (0..10).collect(),
            definition: [0, 1, 2, 3].into_iter().collect(),
        };
        let tile = run(&m, &[2, 3], 20, std::slice::from_ref(&specialised)).expect("a role");
        assert_eq!(tile.members, (10..40).collect::<Vec<u32>>());
        // A tiled role that does not grant the common access leaves its members candidates.
        let without_common = Tile {
            definition: [2, 3].into_iter().collect(),
            ..specialised
        };
        let tile = run(&m, &[2, 3], 20, &[without_common]).expect("a role");
        assert_eq!(tile.members, (0..40).collect::<Vec<u32>>());
    }

    #[test]
    fn the_common_access_two_roles_grant_together_counts_as_granted() {
        let m = matrix(10, 0);
        let role = |definition: [u32; 2]| Tile {
            members: (0..10).collect(),
            definition: definition.into_iter().collect(),
        };
        // Together the two roles grant both common entitlements to 0-9.
        let both = [role([0, 2]), role([1, 3])];
        let tile = run(&m, &[2, 3], 20, &both).expect("a role");
        assert_eq!(tile.members, (10..40).collect::<Vec<u32>>());
        // One of them grants half of it: short of `fit` (all of it here).
        let tile = run(&m, &[2, 3], 20, &both[..1]).expect("a role");
        assert_eq!(tile.members, (0..40).collect::<Vec<u32>>());
    }
}
