//! The birthright role of a `SPECIALIZED` session: the common access, as one role of the
//! identities who hold it.
//!
//! A `SPECIALIZED` session mines only what is not common access, so no peer group and no tiling
//! candidate stands for the common access itself, and identities holding nothing else (79 % of
//! americas_small's) would be in no role at all. Their access is still access a role should
//! explain: this is the role an identity team would grant everyone on day one. It is settled
//! like a tiling seed (see [`crate::tiling`]): its members are the population's identities
//! holding at least `fit` of its definition, its definition is the definable entitlements at
//! least half of them hold, and the two repeat until they agree. It is kept only when it still
//! holds nothing but common access (otherwise it is an ordinary role, the tiling's business) and
//! explains more than it costs, priced as a tiling candidate is.

use rayon::prelude::*;
use roaring::RoaringBitmap;

use crate::counts::Counts;
use crate::tiling::{
    fit_need, half_held, over_grant_cost, Tile, TilingInput, TilingParams, MAX_ROUNDS, MEMBER_PRICE,
};

/// The birthright role of `input`'s population, if it has one (see the module documentation).
/// `None` when the session mines everything definable (nothing is unmined common access).
pub fn birthright(input: TilingInput<'_>, params: TilingParams) -> Option<Tile> {
    let min = u64::from(params.min_identities.max(1));
    let mut definition = input.definable - input.mined;
    if definition.is_empty() {
        return None;
    }
    let population: Vec<u32> = input.population.iter().collect();
    let mut counts = Counts::new(input.holder_counts.len());
    for _ in 0..MAX_ROUNDS {
        let need = fit_need(definition.len(), params.fit)?;
        let members: Vec<u32> = population
            .par_iter()
            .copied()
            .filter(|&i| input.matrix.of_identity(i).intersection_len(&definition) >= need)
            .collect();
        let size = members.len() as u64;
        if size < min {
            return None;
        }
        let members_set: RoaringBitmap = members.iter().copied().collect();
        // Only what half the population holds can be held by half of a group of at least half
        // of it; anything else is counted only when it is in the definition (for its price).
        counts.clear();
        for e in input.definable {
            let held_by = input.holder_counts.get(e as usize).copied().unwrap_or(0);
            if 2 * u64::from(held_by) >= size || definition.contains(e) {
                counts.add(e, input.matrix.holders(e).intersection_len(&members_set));
            }
        }
        let next = half_held(counts.iter(), size);
        if !next.is_disjoint(input.mined) {
            return None;
        }
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

    fn run(matrix: &AccessMatrix, mined: &[u32], min: u32) -> Option<Tile> {
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
        )
    }

    #[test]
    fn the_common_access_is_one_role_of_its_holders() {
        let m = matrix(10, 4);
        let tile = run(&m, &[2, 3], 20).expect("a birthright role");
        assert_eq!(tile.members, (4..40).collect::<Vec<u32>>());
        assert_eq!(tile.definition.iter().collect::<Vec<u32>>(), vec![0, 1]);
    }

    #[test]
    fn no_birthright_role_without_unmined_common_access_or_enough_holders() {
        let m = matrix(10, 4);
        assert_eq!(run(&m, &[0, 1, 2, 3], 2), None, "everything is mined");
        assert_eq!(run(&m, &[2, 3], 37), None, "36 holders, 37 needed");
    }

    #[test]
    fn common_access_whose_holders_mostly_hold_more_is_left_to_the_tiling() {
        // 30 of the 40 also hold 2 and 3: the settled role holds mined access.
        let m = matrix(30, 0);
        assert_eq!(run(&m, &[2, 3], 20), None);
    }
}
