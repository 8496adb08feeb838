//! Counting how many of a group hold each entitlement.

/// How many of a group (identities, or profiles weighted by their identities) hold each
/// entitlement: dense, with the entitlements held in the order first met. A group of a large
/// population holds thousands of distinct entitlements; counting them into a hash map or a
/// tree was the largest cost of the tiling and of the roles' statistics.
pub(crate) struct Counts {
    dense: Vec<u64>,
    held: Vec<u32>,
}

impl Counts {
    /// No counts yet, for entitlements `0..entitlements` (others are ignored).
    pub(crate) fn new(entitlements: usize) -> Self {
        Self {
            dense: vec![0; entitlements],
            held: Vec::new(),
        }
    }

    /// Counts `weight` more holders of `entitlement`.
    pub(crate) fn add(&mut self, entitlement: u32, weight: u64) {
        if let Some(count) = self.dense.get_mut(entitlement as usize) {
            if *count == 0 {
                self.held.push(entitlement);
            }
            *count += weight;
        }
    }

    /// Counts `weight` fewer holders of `entitlement` (never below none).
    pub(crate) fn remove(&mut self, entitlement: u32, weight: u64) {
        if let Some(count) = self.dense.get_mut(entitlement as usize) {
            *count = count.saturating_sub(weight);
        }
    }

    /// How many hold `entitlement`.
    pub(crate) fn get(&self, entitlement: u32) -> u64 {
        self.dense.get(entitlement as usize).copied().unwrap_or(0)
    }

    /// Back to no counts, in time proportional to the entitlements held (a counter reused
    /// for group after group is not allocated and zeroed whole each time).
    pub(crate) fn clear(&mut self) {
        for &e in &self.held {
            if let Some(count) = self.dense.get_mut(e as usize) {
                *count = 0;
            }
        }
        self.held.clear();
    }

    /// Each entitlement held, with its count, in the order first met.
    pub(crate) fn iter(&self) -> impl Iterator<Item = (u32, u64)> + '_ {
        self.held.iter().map(|&e| (e, self.get(e)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_in_the_order_first_met_and_ignores_what_is_out_of_range() {
        let mut counts = Counts::new(4);
        counts.add(2, 3);
        counts.add(0, 1);
        counts.add(2, 1);
        counts.add(9, 5);
        assert_eq!(counts.iter().collect::<Vec<_>>(), vec![(2, 4), (0, 1)]);
        assert_eq!((counts.get(1), counts.get(9)), (0, 0));
        counts.clear();
        assert_eq!((counts.iter().count(), counts.get(2)), (0, 0));
        counts.add(1, 2);
        assert_eq!(counts.iter().collect::<Vec<_>>(), vec![(1, 2)]);
        counts.remove(1, 1);
        counts.remove(3, 1);
        assert_eq!((counts.get(1), counts.get(3)), (1, 0));
        counts.remove(1, 5);
        assert_eq!(counts.get(1), 0);
    }
}
