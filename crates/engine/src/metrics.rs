//! A potential role's numbers: entitlement popularity, density, freshness, quality and the
//! distributions, as `semantics.md` defines them.

use std::collections::BTreeMap;

use roaring::RoaringBitmap;

/// One entitlement of a role.
#[derive(Debug, Clone, PartialEq)]
pub struct EntitlementStat {
    /// Entitlement index.
    pub entitlement: u32,
    /// Members holding it.
    pub identity_count: u32,
    /// `identity_count` over the member count, in percent.
    pub popularity: f64,
    /// Percent of the whole population holding it.
    pub popularity_in_org: f64,
    /// At or above the common-access threshold in the population.
    pub common_access: bool,
}

/// A role's scores.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RoleMetrics {
    /// Entitlements not excluded.
    pub entitlement_count: u32,
    /// 0-100: how alike the members' access is.
    pub density: u8,
    /// 0-100: how different the role is from existing roles.
    pub freshness: u8,
    /// 0-100: rounded mean of density and freshness.
    pub quality: u8,
}

impl RoleMetrics {
    /// Scores a role of `members` identities with these entitlements, leaving out `excluded`.
    pub fn compute(
        members: u32,
        entitlements: &[EntitlementStat],
        excluded: &RoaringBitmap,
        existing_roles: &[RoaringBitmap],
    ) -> Self {
        let kept: Vec<&EntitlementStat> = entitlements
            .iter()
            .filter(|s| !excluded.contains(s.entitlement))
            .collect();
        let density = density(members, kept.iter().map(|s| s.identity_count));
        // Freshness compares what the role stands for: its defining entitlements (held by at
        // least half the members, as for density). Counting every entitlement any member holds
        // would let each member's stray access make a role look new even when it exists.
        let defining: RoaringBitmap = kept
            .iter()
            .filter(|s| is_defining(s.identity_count, members))
            .map(|s| s.entitlement)
            .collect();
        let freshness = freshness(&defining, existing_roles);
        RoleMetrics {
            entitlement_count: u32::try_from(kept.len()).unwrap_or(u32::MAX),
            density,
            freshness,
            quality: quality(density, freshness),
        }
    }
}

/// Whether an entitlement held by `count` of `members` defines the role (held by at least half).
pub fn is_defining(count: impl Into<u64>, members: impl Into<u64>) -> bool {
    let (count, members) = (count.into(), members.into());
    members > 0 && count * 2 >= members
}

/// The share of held member × entitlement cells over the entitlements held by at least half of
/// the members, in percent; 0 when no entitlement is held by half of them.
pub fn density(members: u32, identity_counts: impl Iterator<Item = u32>) -> u8 {
    if members == 0 {
        return 0;
    }
    let (mut held, mut columns) = (0u64, 0u64);
    for count in identity_counts {
        if is_defining(count, members) {
            held += u64::from(count.min(members));
            columns += 1;
        }
    }
    if columns == 0 {
        return 0;
    }
    percent(held as f64 / (columns * u64::from(members)) as f64)
}

/// `100 × (1 − max Jaccard(role, existing role))`; 100 without existing roles.
pub fn freshness(role: &RoaringBitmap, existing_roles: &[RoaringBitmap]) -> u8 {
    let overlap = existing_roles
        .iter()
        .map(|existing| {
            let union = role.union_len(existing);
            if union == 0 {
                0.0
            } else {
                role.intersection_len(existing) as f64 / union as f64
            }
        })
        .fold(0.0, f64::max);
    percent(1.0 - overlap)
}

/// The rounded mean of density and freshness.
pub fn quality(density: u8, freshness: u8) -> u8 {
    (u16::from(density) + u16::from(freshness)).div_ceil(2) as u8
}

/// Popularity percent (floored to an integer, 0-100) → number of entitlements with it.
pub fn popularity_distribution<'a>(
    entitlements: impl Iterator<Item = &'a EntitlementStat>,
) -> BTreeMap<u8, u32> {
    let mut distribution = BTreeMap::new();
    for stat in entitlements {
        let bucket = stat.popularity.clamp(0.0, 100.0).floor() as u8;
        *distribution.entry(bucket).or_insert(0) += 1;
    }
    distribution
}

fn percent(share: f64) -> u8 {
    (share.clamp(0.0, 1.0) * 100.0).round() as u8
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stat(entitlement: u32, identity_count: u32, members: u32) -> EntitlementStat {
        EntitlementStat {
            entitlement,
            identity_count,
            popularity: f64::from(identity_count) * 100.0 / f64::from(members),
            popularity_in_org: 1.0,
            common_access: false,
        }
    }

    #[test]
    fn density_counts_only_entitlements_held_by_half_the_members() {
        // 10 members: 10/10 and 6/10 count, 2/10 does not → 16 / 20.
        assert_eq!(density(10, [10, 6, 2].into_iter()), 80);
        assert_eq!(density(10, [1, 2].into_iter()), 0);
        assert_eq!(density(0, [1].into_iter()), 0);
    }

    #[test]
    fn freshness_and_quality() {
        let role: RoaringBitmap = [1, 2, 3, 4].into_iter().collect();
        assert_eq!(freshness(&role, &[]), 100);
        let same = role.clone();
        assert_eq!(freshness(&role, &[same]), 0);
        let half: RoaringBitmap = [1, 2].into_iter().collect();
        assert_eq!(freshness(&role, &[half, RoaringBitmap::new()]), 50);
        assert_eq!(quality(80, 50), 65);
        assert_eq!(quality(0, 1), 1);
    }

    #[test]
    fn exclusions_drop_out_of_every_number() {
        let stats = vec![stat(1, 10, 10), stat(2, 10, 10), stat(3, 1, 10)];
        let existing: RoaringBitmap = [1].into_iter().collect();
        let all = RoleMetrics::compute(
            10,
            &stats,
            &RoaringBitmap::new(),
            std::slice::from_ref(&existing),
        );
        assert_eq!(all.entitlement_count, 3);
        // Entitlement 3 (1 of 10 members) does not define the role: {1, 2} vs {1}.
        assert_eq!(all.freshness, 50);
        let excluded: RoaringBitmap = [2, 3].into_iter().collect();
        let some = RoleMetrics::compute(10, &stats, &excluded, &[existing]);
        assert_eq!(some.entitlement_count, 1);
        assert_eq!(some.density, 100);
        assert_eq!(some.freshness, 0);
        assert_eq!(some.quality, 50);
    }

    #[test]
    fn popularity_buckets_are_floored_percents() {
        let stats = [stat(1, 10, 10), stat(2, 2, 3), stat(3, 1, 3)];
        let d = popularity_distribution(stats.iter());
        assert_eq!(d, BTreeMap::from([(100, 1), (66, 1), (33, 1)]));
    }
}
