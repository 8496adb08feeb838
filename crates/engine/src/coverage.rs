//! How much of the population's access the roles explain (the definitions of
//! `contract/semantics.md`, "Coverage metrics"):
//!
//! - a role's *definition* is the entitlements held by at least half of its members, common
//!   access included when the role carries it (as the API's default `includeCommonAccess=true`
//!   shows and provisions it);
//! - an assignment is *explained* when its identity is a member of a role whose definition
//!   holds it (once, however many roles do);
//! - an *over-grant* is a (member, entitlement) pair of a definition that the member does not
//!   hold (once per pair, however many of the member's roles grant it).
//!
//! Identities may be members of several roles; everything here counts per identity.

use rayon::prelude::*;
use roaring::RoaringBitmap;

use crate::matrix::AccessMatrix;

/// The population's access against a set of roles.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Coverage {
    /// Identities in the population.
    pub identities: u64,
    /// Identities that are members of at least one role.
    pub identities_in_roles: u64,
    /// Assignments (identity × entitlement pairs) the population holds.
    pub assignments: u64,
    /// Of those, the ones some role of their identity explains.
    pub explained: u64,
    /// Pairs the roles would grant that their members do not hold.
    pub over_grants: u64,
}

impl Coverage {
    /// Explained assignments, in percent of the population's (0 without assignments).
    pub fn explained_percent(&self) -> f64 {
        percent(self.explained, self.assignments)
    }

    /// Identities in some role, in percent of the population.
    pub fn identities_in_roles_percent(&self) -> f64 {
        percent(self.identities_in_roles, self.identities)
    }
}

fn percent(part: u64, whole: u64) -> f64 {
    if whole == 0 {
        0.0
    } else {
        part as f64 * 100.0 / whole as f64
    }
}

/// What one role explains of its members' access.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RoleCoverage {
    /// Its members' assignments.
    pub member_assignments: u64,
    /// Of those, the ones its definition holds.
    pub explained: u64,
    /// Pairs of its definition its members do not hold.
    pub over_grants: u64,
}

impl RoleCoverage {
    /// The share of its members' access the role explains, in percent.
    pub fn explained_percent(&self) -> f64 {
        percent(self.explained, self.member_assignments)
    }
}

/// What the role with `members` (identity indices) and `definition` explains of its members'
/// access.
pub fn role_coverage(
    matrix: &AccessMatrix,
    members: &[u32],
    definition: &RoaringBitmap,
) -> RoleCoverage {
    let mut coverage = RoleCoverage::default();
    for &member in members {
        let held = matrix.of_identity(member);
        let explained = held.intersection_len(definition);
        coverage.member_assignments += held.len();
        coverage.explained += explained;
        coverage.over_grants += definition.len() - explained;
    }
    coverage
}

/// The population's coverage by `roles` (members as ascending identity indices, definition),
/// and the assignments no role explains, by entitlement: each entitlement with the population
/// identities holding it unexplained (ascending), the most such identities first, then by
/// entitlement; their total is `assignments - explained` of the coverage. Each identity's
/// granted access is built once for both. Parallel over identities; the result does not depend
/// on the thread count.
pub fn explain(
    matrix: &AccessMatrix,
    population: &RoaringBitmap,
    roles: &[(&[u32], &RoaringBitmap)],
) -> (Coverage, Vec<(u32, Vec<u32>)>) {
    let roles_of = roles_of(
        matrix.identities(),
        roles.iter().map(|(members, _)| *members),
    );
    let identities: Vec<u32> = population.iter().collect();
    let per_identity: Vec<(u32, Coverage, RoaringBitmap)> = identities
        .par_iter()
        .map(|&identity| {
            let held = matrix.of_identity(identity);
            let mut granted = RoaringBitmap::new();
            for &role in &roles_of[identity as usize] {
                granted |= roles[role as usize].1;
            }
            let explained = held.intersection_len(&granted);
            let coverage = Coverage {
                identities: 1,
                identities_in_roles: u64::from(!roles_of[identity as usize].is_empty()),
                assignments: held.len(),
                explained,
                over_grants: granted.len() - explained,
            };
            (identity, coverage, held - &granted)
        })
        .collect();
    let mut total = Coverage::default();
    let mut by_entitlement: Vec<Vec<u32>> = vec![Vec::new(); matrix.entitlements() as usize];
    for (identity, coverage, left) in per_identity {
        total.identities += coverage.identities;
        total.identities_in_roles += coverage.identities_in_roles;
        total.assignments += coverage.assignments;
        total.explained += coverage.explained;
        total.over_grants += coverage.over_grants;
        for e in &left {
            by_entitlement[e as usize].push(identity);
        }
    }
    let mut grouped: Vec<(u32, Vec<u32>)> = by_entitlement
        .into_iter()
        .enumerate()
        .filter(|(_, identities)| !identities.is_empty())
        .map(|(e, identities)| (u32::try_from(e).unwrap_or(u32::MAX), identities))
        .collect();
    grouped.sort_by(|a, b| b.1.len().cmp(&a.1.len()).then(a.0.cmp(&b.0)));
    (total, grouped)
}

/// Per identity index (of `identities`), the indices of the roles whose members include it.
pub fn roles_of<'a>(identities: u32, roles: impl Iterator<Item = &'a [u32]>) -> Vec<Vec<u32>> {
    let mut roles_of: Vec<Vec<u32>> = vec![Vec::new(); identities as usize];
    for (index, members) in roles.enumerate() {
        let index = u32::try_from(index).unwrap_or(u32::MAX);
        for &member in members {
            if let Some(slot) = roles_of.get_mut(member as usize) {
                slot.push(index);
            }
        }
    }
    roles_of
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::matrix::AccessMatrixBuilder;

    fn matrix(rows: &[&[u32]]) -> AccessMatrix {
        let mut builder = AccessMatrixBuilder::default();
        for (identity, held) in rows.iter().enumerate() {
            for &entitlement in *held {
                builder.push(identity as u32, entitlement);
            }
        }
        builder.push_size(rows.len() as u32, 10);
        builder.build()
    }

    #[test]
    fn overlapping_roles_count_each_assignment_and_over_grant_once() {
        // Identity 0 holds both roles' access; identity 1 lacks entitlement 1; identity 3 is
        // in no role.
        let m = matrix(&[&[0, 1, 2, 3], &[0, 9], &[2, 3], &[5]]);
        let role_a: RoaringBitmap = [0, 1].into_iter().collect();
        let role_b: RoaringBitmap = [2, 3].into_iter().collect();
        let population: RoaringBitmap = (0..4).collect();
        let a_members = [0u32, 1];
        let b_members = [0u32, 2];
        let (c, _) = explain(
            &m,
            &population,
            &[(&a_members, &role_a), (&b_members, &role_b)],
        );
        assert_eq!(
            c,
            Coverage {
                identities: 4,
                identities_in_roles: 3,
                assignments: 9,
                explained: 7,
                over_grants: 1,
            }
        );
        assert!((c.explained_percent() - 700.0 / 9.0).abs() < 1e-9);
        assert!((c.identities_in_roles_percent() - 75.0).abs() < 1e-9);
        let a = role_coverage(&m, &a_members, &role_a);
        assert_eq!(
            (a.member_assignments, a.explained, a.over_grants),
            (6, 3, 1)
        );
    }

    #[test]
    fn no_roles_explain_nothing_and_an_empty_population_is_zero() {
        let m = matrix(&[&[0], &[1]]);
        let all: RoaringBitmap = (0..2).collect();
        let (c, _) = explain(&m, &all, &[]);
        assert_eq!((c.assignments, c.explained, c.over_grants), (2, 0, 0));
        assert_eq!(
            explain(&m, &RoaringBitmap::new(), &[])
                .0
                .explained_percent(),
            0.0
        );
    }
}
