//! Matching the potential roles of two mining runs by their definitions, to see drift between
//! them (which roles persist, which are new, which are gone).

use roaring::RoaringBitmap;

/// Two roles taken as the same role in two runs.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RoleMatch {
    /// Index of the role in the first run.
    pub a: usize,
    /// Index of the role in the second run.
    pub b: usize,
    /// Jaccard index of their definitions.
    pub jaccard: f64,
}

/// Matches roles of run `a` to roles of run `b` one to one, greedily by the Jaccard index of
/// their definitions (highest first, then by index), keeping pairs of at least `min_jaccard`.
/// The result is ordered by `a`.
pub fn match_roles(a: &[RoaringBitmap], b: &[RoaringBitmap], min_jaccard: f64) -> Vec<RoleMatch> {
    // Only roles that share an entitlement can match: an inverted index of `b` finds them.
    let mut by_entitlement: std::collections::BTreeMap<u32, Vec<usize>> = Default::default();
    for (j, definition) in b.iter().enumerate() {
        for e in definition {
            by_entitlement.entry(e).or_default().push(j);
        }
    }
    let mut pairs: Vec<RoleMatch> = Vec::new();
    for (i, definition) in a.iter().enumerate() {
        let mut candidates: Vec<usize> = definition
            .iter()
            .filter_map(|e| by_entitlement.get(&e))
            .flatten()
            .copied()
            .collect();
        candidates.sort_unstable();
        candidates.dedup();
        for j in candidates {
            let union = definition.union_len(&b[j]);
            let jaccard = if union == 0 {
                0.0
            } else {
                definition.intersection_len(&b[j]) as f64 / union as f64
            };
            if jaccard >= min_jaccard {
                pairs.push(RoleMatch {
                    a: i,
                    b: j,
                    jaccard,
                });
            }
        }
    }
    pairs.sort_by(|x, y| {
        y.jaccard
            .total_cmp(&x.jaccard)
            .then(x.a.cmp(&y.a))
            .then(x.b.cmp(&y.b))
    });
    let (mut used_a, mut used_b) = (vec![false; a.len()], vec![false; b.len()]);
    let mut kept: Vec<RoleMatch> = Vec::new();
    for pair in pairs {
        if !used_a[pair.a] && !used_b[pair.b] {
            used_a[pair.a] = true;
            used_b[pair.b] = true;
            kept.push(pair);
        }
    }
    kept.sort_by_key(|m| m.a);
    kept
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(items: &[u32]) -> RoaringBitmap {
        items.iter().copied().collect()
    }

    #[test]
    fn each_role_matches_its_closest_counterpart_once() {
        let a = [set(&[1, 2, 3, 4]), set(&[10, 11]), set(&[20, 21, 22])];
        let b = [set(&[1, 2, 3, 4, 5]), set(&[1, 2, 3]), set(&[30, 31])];
        let matched = match_roles(&a, &b, 0.5);
        assert_eq!(matched.len(), 1);
        assert_eq!((matched[0].a, matched[0].b), (0, 0));
        assert!((matched[0].jaccard - 0.8).abs() < 1e-12);
        // With a lower bar the second-best counterpart is still not reused.
        let matched = match_roles(&a, &b, 0.1);
        assert_eq!(matched.iter().filter(|m| m.a == 0).count(), 1);
        assert!(match_roles(&[], &b, 0.5).is_empty());
    }
}
