//! Outliers: identities whose access departs from their peers'.
//!
//! An identity's peers are the members of its potential roles; an identity in no role is
//! compared with the role whose definition it holds the largest share of (its nearest role),
//! when it holds at least [`NEAREST_SHARE`] of one. Against them it has:
//!
//! - *unusual access*: mined entitlements outside its roles' definitions, each weighing one
//!   minus the share of its peers holding it (access its peers share is not unusual; access
//!   none of them has weighs 1); an identity with no peers at all weighs each entitlement 1,
//!   so an identity in no role despite large access ranks by how much it holds;
//! - *missing role access*: entitlements of its roles' definitions it does not hold, 1 each.
//!
//! The score is the sum. The same input gives the same scores and order on any number of
//! threads (each identity's sum runs in entitlement order).

use rayon::prelude::*;
use roaring::RoaringBitmap;

use crate::coverage::roles_of;
use crate::matrix::AccessMatrix;
use crate::metrics::EntitlementStat;

/// Share of a role's definition an identity in no role must hold for that role to be its
/// nearest.
pub const NEAREST_SHARE: f64 = 0.25;
/// Entitlements listed per outlier and reason.
pub const LISTED: usize = 10;

/// What an outlier analysis needs of one potential role.
#[derive(Debug, Clone, Copy)]
pub struct PeerRole<'a> {
    /// Members, ascending identity indices.
    pub members: &'a [u32],
    /// Its definition.
    pub definition: &'a RoaringBitmap,
    /// Its members' mined entitlements with holder counts.
    pub stats: &'a [EntitlementStat],
}

/// One identity's departure from its peers.
#[derive(Debug, Clone, PartialEq)]
pub struct Outlier {
    /// Identity index.
    pub identity: u32,
    /// Unusual-access weight plus missing role entitlements (rounded to 3 decimals).
    pub score: f64,
    /// Indices of the roles it is a member of, or its nearest role when it is in none.
    pub roles: Vec<u32>,
    /// Whether it is a member of any role with mined access (a birthright role, see
    /// [`crate::birthright`], is left out of the outlier analysis).
    pub in_role: bool,
    /// Its most unusual entitlements (weight at least a half), most unusual first, at most
    /// [`LISTED`].
    pub unusual: Vec<u32>,
    /// How many entitlements it holds outside its roles' definitions.
    pub unusual_count: u32,
    /// Entitlements of its roles' definitions it lacks, ascending, at most [`LISTED`].
    pub missing: Vec<u32>,
    /// How many it lacks.
    pub missing_count: u32,
}

/// The population's identities with a positive score, highest first (then by identity), at
/// most `limit`. `mined` is the set of entitlements the session mines.
pub fn outliers(
    matrix: &AccessMatrix,
    population: &RoaringBitmap,
    mined: &RoaringBitmap,
    roles: &[PeerRole<'_>],
    limit: usize,
) -> Vec<Outlier> {
    let roles_of = roles_of(matrix.identities(), roles.iter().map(|role| role.members));
    let definitions: Vec<RoaringBitmap> = roles.iter().map(|r| r.definition & mined).collect();
    // Per role: (entitlement, share of members holding it), by entitlement, for lookups.
    let shares: Vec<Vec<(u32, f64)>> = roles
        .iter()
        .map(|role| {
            let members = role.members.len().max(1) as f64;
            let mut shares: Vec<(u32, f64)> = role
                .stats
                .iter()
                .map(|s| (s.entitlement, f64::from(s.identity_count) / members))
                .collect();
            shares.sort_by_key(|(e, _)| *e);
            shares
        })
        .collect();
    let mut roles_by_entitlement: Vec<Vec<u32>> = vec![Vec::new(); matrix.entitlements() as usize];
    for (index, definition) in definitions.iter().enumerate() {
        for e in definition {
            if let Some(slot) = roles_by_entitlement.get_mut(e as usize) {
                slot.push(u32::try_from(index).unwrap_or(u32::MAX));
            }
        }
    }
    let context = Context {
        definitions: &definitions,
        shares: &shares,
        roles_by_entitlement: &roles_by_entitlement,
    };

    let all: Vec<u32> = population.iter().collect();
    let mut found: Vec<Outlier> = all
        .par_iter()
        .filter_map(|&identity| {
            let held = matrix.of_identity(identity) & mined;
            let member_of = roles_of.get(identity as usize).cloned().unwrap_or_default();
            let in_role = !member_of.is_empty();
            let reference = if in_role {
                member_of
            } else {
                context.nearest(&held).into_iter().collect()
            };
            context.judge(identity, &held, reference, in_role)
        })
        .collect();
    found.sort_by(|a, b| {
        b.score
            .total_cmp(&a.score)
            .then(a.identity.cmp(&b.identity))
    });
    found.truncate(limit);
    found
}

struct Context<'a> {
    definitions: &'a [RoaringBitmap],
    shares: &'a [Vec<(u32, f64)>],
    roles_by_entitlement: &'a [Vec<u32>],
}

impl Context<'_> {
    /// The role whose definition `held` covers the largest share of (lowest index on ties),
    /// when that share reaches [`NEAREST_SHARE`].
    fn nearest(&self, held: &RoaringBitmap) -> Option<u32> {
        let mut overlap: std::collections::BTreeMap<u32, u32> = std::collections::BTreeMap::new();
        for e in held {
            for &role in self
                .roles_by_entitlement
                .get(e as usize)
                .into_iter()
                .flatten()
            {
                *overlap.entry(role).or_insert(0) += 1;
            }
        }
        let mut best: Option<(f64, u32)> = None;
        for (role, count) in overlap {
            let size = self.definitions[role as usize].len().max(1) as f64;
            let share = f64::from(count) / size;
            if share >= NEAREST_SHARE && best.is_none_or(|(s, _)| share > s) {
                best = Some((share, role));
            }
        }
        best.map(|(_, role)| role)
    }

    fn share(&self, role: u32, entitlement: u32) -> f64 {
        let shares = &self.shares[role as usize];
        shares
            .binary_search_by_key(&entitlement, |(e, _)| *e)
            .map_or(0.0, |i| shares[i].1)
    }

    fn judge(
        &self,
        identity: u32,
        held: &RoaringBitmap,
        reference: Vec<u32>,
        in_role: bool,
    ) -> Option<Outlier> {
        let mut expected = RoaringBitmap::new();
        for &role in &reference {
            expected |= &self.definitions[role as usize];
        }
        let mut unusual: Vec<(f64, u32)> = Vec::new();
        let mut weight = 0.0;
        for e in held - &expected {
            let peers = reference
                .iter()
                .map(|&role| self.share(role, e))
                .fold(0.0, f64::max);
            let w = 1.0 - peers;
            weight += w;
            unusual.push((w, e));
        }
        let missing = &expected - held;
        let score = ((weight + missing.len() as f64) * 1000.0).round() / 1000.0;
        if score <= 0.0 {
            return None;
        }
        let unusual_count = u32::try_from(unusual.len()).unwrap_or(u32::MAX);
        unusual.retain(|(w, _)| *w >= 0.5);
        unusual.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
        Some(Outlier {
            identity,
            score,
            roles: reference,
            in_role,
            unusual: unusual.iter().take(LISTED).map(|(_, e)| *e).collect(),
            unusual_count,
            missing: missing.iter().take(LISTED).collect(),
            missing_count: u32::try_from(missing.len()).unwrap_or(u32::MAX),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::matrix::AccessMatrixBuilder;

    fn stat(entitlement: u32, identity_count: u32) -> EntitlementStat {
        EntitlementStat {
            entitlement,
            identity_count,
            popularity: 0.0,
            popularity_in_org: 0.0,
            common_access: false,
        }
    }

    #[test]
    fn foreign_access_and_missing_role_access_score_above_ordinary_members() {
        // Role {0,1,2,3} held by identities 0-3; 4 also holds 5-9 (nobody else does); 5 holds
        // half the role and is in no role; 6 holds nothing of it.
        let rows: [&[u32]; 7] = [
            &[0, 1, 2, 3],
            &[0, 1, 2, 3],
            &[0, 1, 2, 3],
            &[0, 1, 2, 3, 5, 6, 7, 8, 9],
            &[0, 1, 2, 3],
            &[0, 1],
            &[9],
        ];
        let mut builder = AccessMatrixBuilder::default();
        for (identity, held) in rows.iter().enumerate() {
            for &e in *held {
                builder.push(identity as u32, e);
            }
        }
        builder.push_size(7, 10);
        let matrix = builder.build();
        let population: RoaringBitmap = (0..7).collect();
        let mined: RoaringBitmap = (0..10).collect();
        let members = [0, 1, 2, 3, 4];
        let definition: RoaringBitmap = (0..4).collect();
        let stats: Vec<EntitlementStat> = (0..4)
            .map(|e| stat(e, 5))
            .chain((5..10).map(|e| stat(e, 1)))
            .collect();
        let roles = [PeerRole {
            members: &members,
            definition: &definition,
            stats: &stats,
        }];
        let found = outliers(&matrix, &population, &mined, &roles, 10);
        let order: Vec<u32> = found.iter().map(|o| o.identity).collect();
        assert_eq!(order, vec![3, 5, 6]);
        assert_eq!(found[0].score, 4.0); // five entitlements a fifth of its peers hold
        assert_eq!(found[0].unusual, vec![5, 6, 7, 8, 9]);
        assert_eq!(
            (found[1].missing.clone(), found[1].in_role),
            (vec![2, 3], false)
        );
        assert_eq!(found[1].roles, vec![0]);
        assert_eq!((found[2].score, found[2].roles.is_empty()), (1.0, true));
    }
}
