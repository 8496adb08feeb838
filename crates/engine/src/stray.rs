//! How many holders stray grants give one entitlement: the bar a single entitlement's
//! unexplained holders must clear before they are a role of their own.
//!
//! Access nobody's role explains is partly stray (one-off grants, leftovers) and partly access
//! that stands alone (an entitlement many people hold for its own sake and with nothing else
//! in common). Stray grants land on entitlements nearly at random, so the number one
//! entitlement collects is about Poisson with the typical entitlement's count as its mean.
//! An entitlement whose unexplained holders are more than that distribution gives any of the
//! entitlements, but for a chance of [`FALSE_ROLES`] in all, is held for its own sake.
//!
//! The typical count is estimated from the entitlements stray grants could explain: a median
//! over all of them is pulled up by the ones held on purpose (real access is heavy-tailed: a few
//! entitlements have hundreds of holders), so [`standalone_bound`] takes the median again over
//! the counts below the bound it gives until the bound stops falling.

/// The expected number of standalone roles stray grants alone would make in one mining.
pub const FALSE_ROLES: f64 = 0.01;

/// The fewest unexplained holders that make an entitlement standalone, among `entitlements`
/// entitlements whose typical (median) number of unexplained holders is `typical`: the smallest
/// `k` with `entitlements × P(Poisson(typical) ≥ k) ≤` [`FALSE_ROLES`].
pub fn stray_bound(typical: f64, entitlements: usize) -> u64 {
    let mean = if typical.is_finite() {
        typical.max(0.0)
    } else {
        0.0
    };
    let tail_allowed = FALSE_ROLES / entitlements.max(1) as f64;
    if mean == 0.0 {
        // No stray grants: a single holder is already more than chance gives.
        return 1;
    }
    // P(X ≥ k) = 1 - P(X < k), the terms summed in log space so that a large mean neither
    // underflows e^-mean nor overflows mean^k.
    let ln_mean = mean.ln();
    let mut ln_term = -mean;
    let mut below = 0.0f64;
    let mut k = 0u64;
    loop {
        // Here `below` is P(X < k).
        if 1.0 - below <= tail_allowed {
            return k;
        }
        below += ln_term.exp();
        k += 1;
        ln_term += ln_mean - (k as f64).ln();
        // Past the mean the terms only shrink: once they no longer change the sum, the tail is
        // below what f64 can tell from zero.
        if k as f64 > mean && ln_term.exp() < f64::EPSILON * 1e-3 {
            return k;
        }
    }
}

/// The fewest holders that make one of `counts` (one per entitlement) standalone: the
/// [`stray_bound`] of the median of the counts below the previous bound, starting from all of
/// them, repeated until the bound stops falling. Bounds never rise (fewer counts below a lower
/// bound have a median no higher), so this ends; on counts that are all stray (about Poisson)
/// it ends at once.
pub fn standalone_bound(counts: &[u64]) -> u64 {
    let entitlements = counts.len();
    let mut bound = stray_bound(median(counts.to_vec()), entitlements);
    loop {
        let below: Vec<u64> = counts.iter().copied().filter(|&c| c < bound).collect();
        let next = stray_bound(median(below), entitlements);
        if next >= bound {
            return bound;
        }
        bound = next;
    }
}

/// The median of `counts` (the lower one of an even count); 0 for none.
pub fn median(mut counts: Vec<u64>) -> f64 {
    if counts.is_empty() {
        return 0.0;
    }
    let middle = (counts.len() - 1) / 2;
    let (_, value, _) = counts.select_nth_unstable(middle);
    *value as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bound_is_where_the_poisson_tail_falls_below_the_allowed_chance() {
        // With 2,000 entitlements the allowed tail is 5e-6: P(Poisson(5) >= 18) = 5.4e-6 is
        // above it, P(>= 19) = 1.4e-6 below.
        assert_eq!(stray_bound(5.0, 2_000), 19);
        // One entitlement, 0.01: P(Poisson(1) >= 4) = 0.019, P(>= 5) = 0.0037.
        assert_eq!(stray_bound(1.0, 1), 5);
    }

    #[test]
    fn the_bound_grows_with_the_typical_count_and_the_number_of_entitlements() {
        let mut last = 0;
        for typical in [0.5, 1.0, 2.0, 5.0, 20.0, 45.0, 200.0, 5_000.0] {
            let bound = stray_bound(typical, 10_000);
            assert!(bound as f64 > typical, "{typical}: {bound}");
            assert!(bound > last, "{typical}: {bound} after {last}");
            last = bound;
        }
        assert!(stray_bound(20.0, 100_000) >= stray_bound(20.0, 100));
        // A mean of 20 over 10,000 entitlements: 10,000 x P(>= 45) = 0.0106, P(>= 46) 0.0045.
        assert_eq!(stray_bound(20.0, 10_000), 46);
    }

    #[test]
    fn no_stray_grants_make_any_holder_count_and_odd_input_is_no_panic() {
        assert_eq!(stray_bound(0.0, 10), 1);
        assert_eq!(stray_bound(f64::NAN, 10), 1);
        assert_eq!(stray_bound(-3.0, 0), 1);
        assert!(stray_bound(1e7, 1) > 10_000_000);
    }

    #[test]
    fn entitlements_held_on_purpose_do_not_raise_the_bar_for_the_rest() {
        // 200 entitlements with about five stray holders each and 150 held by 30 to 1,520.
        let stray: Vec<u64> = (0..200).map(|i| [3, 4, 5, 5, 6, 7][i % 6]).collect();
        let alone = stray_bound(median(stray.clone()), 350);
        let mut counts = stray.clone();
        counts.extend((0..150).map(|i| 30 + i * 10));
        assert_eq!(standalone_bound(&counts), alone);
        assert!(stray_bound(median(counts.clone()), 350) > alone);
        // All stray: the first bound stands.
        assert_eq!(
            standalone_bound(&stray),
            stray_bound(median(stray.clone()), 200)
        );
        assert_eq!(standalone_bound(&[]), 1);
    }

    #[test]
    fn the_median_is_the_lower_middle() {
        assert_eq!(median(vec![]), 0.0);
        assert_eq!(median(vec![7]), 7.0);
        assert_eq!(median(vec![9, 1, 4, 100]), 4.0);
        assert_eq!(median(vec![3, 1, 2]), 2.0);
    }
}
