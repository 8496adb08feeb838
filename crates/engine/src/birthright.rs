//! The birthright role of a `SPECIALIZED` session: the common access, as one role of the
//! identities no other role grants it to.
//!
//! A `SPECIALIZED` session mines only what is not common access, so no peer group and no tiling
//! candidate stands for the common access itself. A tiled role's definition holds the common
//! access most of its members hold, so its members have theirs explained; but identities
//! holding little or nothing else (79 % of americas_small's) would be in no role at all. Their
//! access is still access a role should explain: this is the role an identity team would grant
//! everyone on day one. Its candidates are the identities whose tiled roles grant less than
//! `fit` of the common access. It is settled like a tiling seed (see [`crate::tiling`]): its
//! members are the candidates holding at least `fit` of its definition, its definition is the
//! definable entitlements at least half of them hold, and the two repeat until they agree. Where
//! at least half of the members share mined access, the holders of that access leave (they are
//! a group for the tiling, and the half rule would make the birthright role theirs), until no
//! mined entitlement is held by half of those left. It is kept when it still has the minimum
//! size and explains more than it costs, priced as a tiling candidate is.

use rayon::prelude::*;
use roaring::RoaringBitmap;

use crate::counts::Counts;
use crate::tiling::{
    fit_need, half_held, over_grant_cost, Tile, TilingInput, TilingParams, MAX_ROUNDS, MEMBER_PRICE,
};

/// The birthright role of `input`'s population beside the tiled `roles`, if it has one (see
/// the module documentation). `None` when the session mines everything definable (nothing is
/// unmined common access).
pub fn birthright(input: TilingInput<'_>, params: TilingParams, roles: &[Tile]) -> Option<Tile> {
    let min = u64::from(params.min_identities.max(1));
    let mut definition = input.definable - input.mined;
    let candidates = ungranted(input, roles, &definition, params.fit)?;
    let mut counts = Counts::new(input.holder_counts.len());
    for _ in 0..MAX_ROUNDS {
        let need = fit_need(definition.len(), params.fit)?;
        let mut members: Vec<u32> = candidates
            .par_iter()
            .copied()
            .filter(|&i| input.matrix.of_identity(i).intersection_len(&definition) >= need)
            .collect();
        let size = loop {
            let size = members.len() as u64;
            if size < min {
                return None;
            }
            count_held(input, &members, &definition, &mut counts);
            let shared = half_held(counts.iter(), size) & input.mined;
            if shared.is_empty() {
                break size;
            }
            members.retain(|&i| input.matrix.of_identity(i).is_disjoint(&shared));
        };
        let next = half_held(counts.iter(), size);
        if next == definition {
            let explained: u64 = definition.iter().map(|e| counts.get(e)).sum();
            let price = MEMBER_PRICE * size as f64
                + definition.len() as f64
                + over_grant_cost(input, &counts, size, &definition);
            return (explained as f64 > price).then_some(Tile {
                members,
                definition,
            });
        }
        definition = next;
    }
    None
}

/// The population's identities whose `roles` grant them less than `fit` of the `common` access,
/// ascending; `None` when there is no common access.
fn ungranted(
    input: TilingInput<'_>,
    roles: &[Tile],
    common: &RoaringBitmap,
    fit: f64,
) -> Option<Vec<u32>> {
    let need = fit_need(common.len(), fit)?;
    // Each role's share of the common access, and per identity the roles granting some of it
    // (compressed sparse rows: most identities have one role or none).
    let parts: Vec<RoaringBitmap> = roles.iter().map(|r| &r.definition & common).collect();
    let identities = input.matrix.identities() as usize;
    let mut offsets = vec![0usize; identities + 1];
    for (role, part) in roles.iter().zip(&parts) {
        if !part.is_empty() {
            for &member in &role.members {
                offsets[member as usize + 1] += 1;
            }
        }
    }
    for i in 0..identities {
        offsets[i + 1] += offsets[i];
    }
    let mut fill = offsets.clone();
    let mut granting = vec![0u32; offsets[identities]];
    for (index, (role, part)) in (0u32..).zip(roles.iter().zip(&parts)) {
        if !part.is_empty() {
            for &member in &role.members {
                granting[fill[member as usize]] = index;
                fill[member as usize] += 1;
            }
        }
    }
    let granted = |i: u32| -> u64 {
        let row = input.matrix.of_identity(i);
        match &granting[offsets[i as usize]..offsets[i as usize + 1]] {
            [] => 0,
            [only] => row.intersection_len(&parts[*only as usize]),
            several => {
                let union: RoaringBitmap = several.iter().map(|&r| &parts[r as usize]).fold(
                    RoaringBitmap::new(),
                    |mut union, part| {
                        union |= part;
                        union
                    },
                );
                row.intersection_len(&union)
            }
        }
    };
    let population: Vec<u32> = input.population.iter().collect();
    Some(
        population
            .into_par_iter()
            .filter(|&i| granted(i) < need)
            .collect(),
    )
}

/// Counts, into `counts`, how many of `members` hold each definable entitlement that could be
/// held by half of them or is in `definition`.
fn count_held(
    input: TilingInput<'_>,
    members: &[u32],
    definition: &RoaringBitmap,
    counts: &mut Counts,
) {
    let size = members.len() as u64;
    let members: RoaringBitmap = members.iter().copied().collect();
    counts.clear();
    for e in input.definable {
        let held_by = input.holder_counts.get(e as usize).copied().unwrap_or(0);
        if 2 * u64::from(held_by) >= size || definition.contains(e) {
            counts.add(e, input.matrix.holders(e).intersection_len(&members));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::matrix::{AccessMatrix, AccessMatrixBuilder};

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
        };
        birthright(
            input,
            TilingParams {
                min_identities: min,
                fit: 1.0,
            },
            roles,
        )
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
    fn holders_of_mined_access_most_members_share_leave_the_role() {
        // 30 of the 40 also hold 2 and 3: with them the role would be theirs (2 and 3 held by
        // more than half), so it is the other 10's, or none when 10 are too few.
        let m = matrix(30, 0);
        let tile = run(&m, &[2, 3], 10, &[]).expect("a birthright role");
        assert_eq!(tile.members, (30..40).collect::<Vec<u32>>());
        assert_eq!(tile.definition.iter().collect::<Vec<u32>>(), vec![0, 1]);
        assert_eq!(run(&m, &[2, 3], 11, &[]), None);
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
}
