//! All node pairs whose feature sets have a Jaccard index at or above a threshold.
//!
//! This is all-pairs similarity search with prefix and size filtering (Bayardo et al., "Scaling
//! up all pairs similarity search", WWW 2007; Xiao et al., PPJoin, WWW 2008): features are
//! renumbered from rarest to most common and each set sorted that way; two sets with
//! `J(x, y) >= t` must share a feature within the first `|x| - ceil(t·|x|) + 1` features of
//! each (their prefixes), and must have `t·|x| <= |y| <= |x| / t`. An inverted index over
//! prefixes yields the candidates; each is then verified exactly. Nodes are probed in parallel
//! and the edges are collected in node order, so the output is identical on any number of threads.

use rayon::prelude::*;

use crate::compress::Node;
use crate::error::EngineError;
use crate::observer::Observer;

/// An undirected edge `a < b` with its Jaccard index in `0.0..=1.0`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Edge {
    /// The smaller node index.
    pub a: u32,
    /// The larger node index.
    pub b: u32,
    /// `|A ∩ B| / |A ∪ B|`.
    pub jaccard: f32,
}

/// Every pair of `nodes` with Jaccard ≥ `threshold` percent, sorted by `(a, b)`.
///
/// A threshold of 0 is treated as "share at least one feature": pairs with nothing in common
/// have similarity 0 and carry no weight in clustering.
pub fn similar_pairs(
    nodes: &[Node],
    threshold: u8,
    observer: &dyn Observer,
) -> Result<Vec<Edge>, EngineError> {
    if threshold > 100 {
        return Err(EngineError::ThresholdOutOfRange(u32::from(threshold)));
    }
    let t = f64::from(threshold) / 100.0;
    let sets = rank_features(nodes);
    let index = prefix_index(&sets, t);
    let total = sets.len() as u64;
    let done = std::sync::atomic::AtomicU64::new(0);
    let per_node: Vec<Vec<Edge>> = (0..sets.len())
        .into_par_iter()
        .map_init(
            || vec![u32::MAX; sets.len()],
            |seen, x| {
                if x % 1024 == 0 {
                    if observer.cancelled() {
                        return Err(EngineError::Cancelled);
                    }
                    let finished = done.fetch_add(1024, std::sync::atomic::Ordering::Relaxed);
                    observer.progress(finished.min(total), total);
                }
                Ok(probe(&sets, &index, x, t, seen))
            },
        )
        .collect::<Result<_, _>>()?;
    Ok(per_node.into_iter().flatten().collect())
}

/// Nodes sampled by [`degree`].
const DEGREE_SAMPLE: usize = 1_000;

/// The estimated number of edges per node at `threshold` percent: the pairs each of an evenly
/// spaced sample of nodes has with later nodes, averaged (every edge is counted once, at its
/// smaller node).
pub fn degree(nodes: &[Node], threshold: u8) -> f64 {
    if nodes.is_empty() {
        return 0.0;
    }
    let sets = rank_features(nodes);
    let t = f64::from(threshold.min(100)) / 100.0;
    let index = prefix_index(&sets, t);
    let stride = nodes.len().div_ceil(DEGREE_SAMPLE).max(1);
    let sample: Vec<usize> = (0..nodes.len()).step_by(stride).collect();
    let found: usize = sample
        .par_iter()
        .map_init(
            || vec![u32::MAX; sets.len()],
            |seen, &x| probe(&sets, &index, x, t, seen).len(),
        )
        .sum();
    found as f64 / sample.len() as f64
}

/// Each node's features as ranks (0 = rarest among nodes), ascending.
fn rank_features(nodes: &[Node]) -> Vec<Vec<u32>> {
    let max = nodes
        .iter()
        .flat_map(|n| n.features.last().copied())
        .max()
        .map_or(0, |m| m as usize + 1);
    let mut frequency = vec![0u32; max];
    for node in nodes {
        for &f in &node.features {
            frequency[f as usize] += 1;
        }
    }
    let mut order: Vec<u32> = (0..u32::try_from(max).unwrap_or(u32::MAX)).collect();
    order.sort_by_key(|&f| (frequency[f as usize], f));
    let mut rank = vec![0u32; max];
    for (r, &f) in (0u32..).zip(&order) {
        rank[f as usize] = r;
    }
    nodes
        .par_iter()
        .map(|node| {
            let mut ranked: Vec<u32> = node.features.iter().map(|&f| rank[f as usize]).collect();
            ranked.sort_unstable();
            ranked
        })
        .collect()
}

/// How many leading (rarest) features of a set of `len` must be indexed for threshold `t`.
fn prefix_len(len: usize, t: f64) -> usize {
    if t <= 0.0 {
        return len;
    }
    let needed = (t * len as f64 - 1e-9).ceil() as usize;
    (len + 1)
        .saturating_sub(needed)
        .clamp(1, len.max(1))
        .min(len)
}

/// Feature rank → nodes having it in their prefix, in node order.
fn prefix_index(sets: &[Vec<u32>], t: f64) -> Vec<Vec<u32>> {
    let features = sets
        .iter()
        .flat_map(|s| s.last().copied())
        .max()
        .map_or(0, |m| m as usize + 1);
    let mut index = vec![Vec::new(); features];
    for (x, set) in (0u32..).zip(sets) {
        for &f in &set[..prefix_len(set.len(), t)] {
            index[f as usize].push(x);
        }
    }
    index
}

/// Edges from node `x` to every later node `y` that passes the filters and the exact check.
fn probe(sets: &[Vec<u32>], index: &[Vec<u32>], x: usize, t: f64, seen: &mut [u32]) -> Vec<Edge> {
    let set = &sets[x];
    let len = set.len() as f64;
    let (min_len, max_len) = if t > 0.0 {
        (
            (t * len - 1e-9).ceil() as usize,
            (len / t + 1e-9).floor() as usize,
        )
    } else {
        (0, usize::MAX)
    };
    let stamp = x as u32;
    let mut edges = Vec::new();
    for &f in &set[..prefix_len(set.len(), t)] {
        let postings = &index[f as usize];
        // Postings are in node order: skip to the nodes after x.
        let start = postings.partition_point(|&y| y as usize <= x);
        for &y in &postings[start..] {
            let other = &sets[y as usize];
            if seen[y as usize] == stamp || other.len() < min_len || other.len() > max_len {
                continue;
            }
            seen[y as usize] = stamp;
            let common = intersection_size(set, other);
            let jaccard = common as f64 / (set.len() + other.len() - common) as f64;
            if common > 0 && jaccard + 1e-9 >= t {
                edges.push(Edge {
                    a: stamp,
                    b: y,
                    jaccard: jaccard as f32,
                });
            }
        }
    }
    edges.sort_unstable_by_key(|e| e.b);
    edges
}

/// Size of the intersection of two ascending lists.
fn intersection_size(a: &[u32], b: &[u32]) -> usize {
    let (mut i, mut j, mut n) = (0, 0, 0);
    while i < a.len() && j < b.len() {
        match a[i].cmp(&b[j]) {
            std::cmp::Ordering::Less => i += 1,
            std::cmp::Ordering::Greater => j += 1,
            std::cmp::Ordering::Equal => {
                n += 1;
                i += 1;
                j += 1;
            }
        }
    }
    n
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::observer::Silent;
    use proptest::prelude::*;

    fn node(features: &[u32]) -> Node {
        Node {
            features: features.to_vec(),
            identities: vec![0],
        }
    }

    fn brute_force(nodes: &[Node], threshold: u8) -> Vec<(u32, u32)> {
        let t = f64::from(threshold) / 100.0;
        let mut pairs = Vec::new();
        for a in 0..nodes.len() {
            for b in a + 1..nodes.len() {
                let x = &nodes[a].features;
                let y = &nodes[b].features;
                let common = x.iter().filter(|f| y.contains(f)).count();
                let j = common as f64 / (x.len() + y.len() - common) as f64;
                if common > 0 && j + 1e-9 >= t {
                    pairs.push((a as u32, b as u32));
                }
            }
        }
        pairs
    }

    #[test]
    fn finds_exactly_the_pairs_over_the_threshold() {
        let nodes = vec![
            node(&[1, 2, 3, 4]),
            node(&[1, 2, 3]),
            node(&[7, 8]),
            node(&[1, 2, 3, 4, 5, 6]),
        ];
        let edges = similar_pairs(&nodes, 60, &Silent).unwrap();
        let pairs: Vec<_> = edges.iter().map(|e| (e.a, e.b)).collect();
        assert_eq!(pairs, vec![(0, 1), (0, 3)]);
        assert!((edges[0].jaccard - 0.75).abs() < 1e-6);
        assert!(similar_pairs(&nodes, 101, &Silent).is_err());
        assert!(similar_pairs(&[], 50, &Silent).unwrap().is_empty());
    }

    proptest! {
        #[test]
        fn prefix_filtering_loses_no_pair(
            sets in prop::collection::vec(prop::collection::btree_set(0u32..30, 1..10), 0..40),
            threshold in 0u8..=100,
        ) {
            let nodes: Vec<Node> = sets.iter().map(|s| node(&s.iter().copied().collect::<Vec<_>>())).collect();
            let found: Vec<_> = similar_pairs(&nodes, threshold, &Silent).unwrap().iter().map(|e| (e.a, e.b)).collect();
            prop_assert_eq!(found, brute_force(&nodes, threshold));
        }
    }
}
