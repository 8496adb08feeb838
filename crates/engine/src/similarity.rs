//! All node pairs whose feature sets have a Jaccard index at or above a threshold.
//!
//! This is all-pairs similarity search with prefix and size filtering (Bayardo et al., "Scaling
//! up all pairs similarity search", WWW 2007; Xiao et al., PPJoin, WWW 2008): features are
//! renumbered from rarest to most common and each set sorted that way. Sets are taken from the
//! smallest up, and each is paired only with those before it, which are no larger: two sets
//! with `J(x, y) >= t` and `|y| <= |x|` share at least `t·(|x| + |y|) / (1 + t)` features, so
//! they share one within the first `|x| - ceil(t·|x|) + 1` features of `x` (its probing
//! prefix) and within the first `|y| - ceil(2t·|y| / (1 + t)) + 1` of `y` (its indexed
//! prefix, the shorter one), and `|y| >= t·|x|`. An inverted index over the indexed prefixes
//! yields the candidates, with PPJoin's positional filter: at a shared feature at position `i`
//! of `x` and `j` of `y`, the overlap is at most what the prefixes shared before it plus the
//! shorter of the two remainders from there; a candidate that cannot reach the overlap needed
//! is dropped at that point. The rest are verified exactly. Nodes are probed in parallel and
//! the edges sorted at the end, so the output is identical on any number of threads.
//!
//! When there are few sets of many features, which the prefixes barely filter, every pair is
//! compared as bitsets instead (`Bitsets`): the same edges, found faster.

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
    Search::new(nodes).pairs(threshold, observer)
}

/// The nodes' feature sets prepared for searching (features ranked once), for several
/// degree estimates and then the search itself.
pub struct Search {
    sets: Vec<Vec<u32>>,
    signatures: Vec<Signature>,
    /// The sets as bitsets, when comparing every pair that way is cheap (see [`Bitsets`]).
    bitsets: Option<Bitsets>,
}

impl Search {
    /// Ranks the features of `nodes`.
    pub fn new(nodes: &[Node]) -> Self {
        Self::build(nodes, Bitsets::affordable)
    }

    /// Ranks the features of `nodes`; `dense` says, from the node count and the words per
    /// bitset, whether to compare every pair as bitsets.
    fn build(nodes: &[Node], dense: impl Fn(usize, usize) -> bool) -> Self {
        let sets = rank_features(nodes);
        let signatures = sets.par_iter().map(|set| signature(set)).collect();
        let bitsets = Bitsets::of(&sets, dense);
        Self {
            sets,
            signatures,
            bitsets,
        }
    }

    /// How many nodes there are.
    pub fn nodes(&self) -> usize {
        self.sets.len()
    }

    /// Every pair with Jaccard ≥ `threshold` percent, as [`similar_pairs`].
    pub fn pairs(&self, threshold: u8, observer: &dyn Observer) -> Result<Vec<Edge>, EngineError> {
        if threshold > 100 {
            return Err(EngineError::ThresholdOutOfRange(u32::from(threshold)));
        }
        if let Some(bitsets) = &self.bitsets {
            return bitsets.pairs(&self.sets, threshold, observer);
        }
        let sets = &self.sets;
        let index = prefix_index(sets, threshold);
        let total = sets.len() as u64;
        let done = std::sync::atomic::AtomicU64::new(0);
        let per_node: Vec<Vec<Edge>> = (0..sets.len())
            .into_par_iter()
            .map_init(
                || Scratch::new(sets.len()),
                |scratch, x| {
                    if x % 1024 == 0 {
                        if observer.cancelled() {
                            return Err(EngineError::Cancelled);
                        }
                        let finished = done.fetch_add(1024, std::sync::atomic::Ordering::Relaxed);
                        observer.progress(finished.min(total), total);
                    }
                    Ok(probe(self, &index, x, threshold, scratch))
                },
            )
            .collect::<Result<_, _>>()?;
        let mut edges: Vec<Edge> = per_node.into_iter().flatten().collect();
        edges.par_sort_unstable_by_key(|e| (e.a, e.b));
        Ok(edges)
    }

    /// Degree estimates at `lowest` percent and above, sharing one prefix index.
    pub fn degrees(&self, lowest: u8) -> Degrees<'_> {
        Degrees {
            search: self,
            index: prefix_index(&self.sets, lowest.min(100)),
        }
    }
}

/// Every set as a bitset over the features' ranks, for comparing every pair directly: one AND
/// and one popcount per word, no index, no filters to pass. It costs about the same at any
/// threshold and beats the prefix index when there are few sets of many features, which the
/// index's prefixes barely filter: americas_large's 353 sets over 2,965 features (47 words
/// each) take 0.8 ms instead of the index's 8.7 ms at 25 %. Customer's 3,724 sets of 177
/// features stay with the index (19 ms at 30 %; every pair takes 27 ms).
struct Bitsets {
    /// Words per set.
    words: usize,
    /// Set `i`'s bits are `bits[i * words..(i + 1) * words]`.
    bits: Vec<u64>,
}

/// The most word operations (pairs times words per set) the pairwise comparison may take:
/// about 10 ms on one core (americas_large takes 2.9M, customer would take 21M).
const DENSE_WORK: u64 = 8_000_000;
/// The most words per set the pairwise comparison works with.
const DENSE_WORDS: usize = 1_024;

impl Bitsets {
    /// Whether comparing every pair of `nodes` sets of `words` words each is cheap enough.
    fn affordable(nodes: usize, words: usize) -> bool {
        let pairs = (nodes as u64).saturating_mul(nodes.saturating_sub(1) as u64) / 2;
        words <= DENSE_WORDS && pairs.saturating_mul(words as u64) <= DENSE_WORK
    }

    /// `sets` (ranks, ascending) as bitsets, when `dense(sets, words)` says so.
    fn of(sets: &[Vec<u32>], dense: impl Fn(usize, usize) -> bool) -> Option<Self> {
        // Features no set holds rank first; the bits start at the rarest held one.
        let first = sets.iter().filter_map(|s| s.first()).min().copied()?;
        let last = sets.iter().filter_map(|s| s.last()).max().copied()?;
        let words = (last - first) as usize / 64 + 1;
        if !dense(sets.len(), words) {
            return None;
        }
        let mut bits = vec![0u64; sets.len() * words];
        for (set, row) in sets.iter().zip(bits.chunks_mut(words)) {
            for &f in set {
                let f = (f - first) as usize;
                row[f / 64] |= 1 << (f % 64);
            }
        }
        Some(Self { words, bits })
    }

    /// Set `a`'s pairs with the sets after it at `threshold` percent or more, in order.
    fn later_pairs(&self, sets: &[Vec<u32>], a: usize, threshold: u8) -> Vec<Edge> {
        let t = f64::from(threshold) / 100.0;
        let words = self.words;
        let row = &self.bits[a * words..(a + 1) * words];
        let len = sets[a].len();
        let later = self.bits.get((a + 1) * words..).unwrap_or_default();
        let mut edges = Vec::new();
        for (b, other_row) in (a + 1..).zip(later.chunks_exact(words)) {
            let other = sets[b].len();
            // Jaccard is at most the smaller size over the larger. In whole numbers: below
            // the threshold, that share is at least 1 / (100 · 65,536) under it, far more than
            // the final check's float margin.
            let (small, large) = (len.min(other) as u64, len.max(other) as u64);
            if 100 * small < u64::from(threshold) * large {
                continue;
            }
            let common: u32 = row
                .iter()
                .zip(other_row)
                .map(|(x, y)| (x & y).count_ones())
                .sum();
            let common = common as usize;
            if common == 0 {
                continue;
            }
            let jaccard = common as f64 / (len + other - common) as f64;
            if jaccard + 1e-9 >= t {
                edges.push(Edge {
                    a: a as u32,
                    b: b as u32,
                    jaccard: jaccard as f32,
                });
            }
        }
        edges
    }

    /// Every pair of `sets` with Jaccard ≥ `threshold` percent, as [`Search::pairs`]: each set
    /// is compared with every later one, so the edges come out sorted.
    fn pairs(
        &self,
        sets: &[Vec<u32>],
        threshold: u8,
        observer: &dyn Observer,
    ) -> Result<Vec<Edge>, EngineError> {
        let total = sets.len() as u64;
        let done = std::sync::atomic::AtomicU64::new(0);
        let per_set: Vec<Vec<Edge>> = (0..sets.len())
            .into_par_iter()
            .map(|a| {
                if a % 1024 == 0 {
                    if observer.cancelled() {
                        return Err(EngineError::Cancelled);
                    }
                    let finished = done.fetch_add(1024, std::sync::atomic::Ordering::Relaxed);
                    observer.progress(finished.min(total), total);
                }
                Ok(self.later_pairs(sets, a, threshold))
            })
            .collect::<Result<_, _>>()?;
        Ok(per_set.into_iter().flatten().collect())
    }
}

/// Similarity edges at or above a floor threshold, lowered on demand. The threshold sweep
/// starts at its lowest coarse threshold and needs the edges below it only when that one is
/// the best (customer: 172k edges at 30 % in 19 ms, 315k at 25 % in 29 ms).
pub struct Edges<'s> {
    list: Vec<Edge>,
    floor: u8,
    search: Option<&'s Search>,
}

impl<'s> Edges<'s> {
    /// The pairs of `search` at `floor` percent and above; [`Edges::down_to`] searches again
    /// for a lower threshold.
    pub fn search(
        search: &'s Search,
        floor: u8,
        observer: &dyn Observer,
    ) -> Result<Self, EngineError> {
        Ok(Self {
            list: search.pairs(floor, observer)?,
            floor,
            search: Some(search),
        })
    }

    /// Edges found elsewhere, at `floor` percent and above, with no search behind them: a
    /// threshold below `floor` sees only these.
    pub fn given(list: Vec<Edge>, floor: u8) -> Self {
        Self {
            list,
            floor,
            search: None,
        }
    }

    /// The edges at or above `threshold` percent, among others above the floor: when
    /// `threshold` is below the floor, the search runs again at `threshold` first.
    pub fn down_to(
        &mut self,
        threshold: u8,
        observer: &dyn Observer,
    ) -> Result<&[Edge], EngineError> {
        if let Some(search) = self.search.filter(|_| threshold < self.floor) {
            // The higher edges go first: at 1M identities they are hundreds of MB.
            self.list = Vec::new();
            self.list = search.pairs(threshold, observer)?;
            self.floor = threshold;
        }
        Ok(&self.list)
    }

    /// The edges found so far, each pair once, sorted by `(a, b)`.
    pub fn list(&self) -> &[Edge] {
        &self.list
    }

    /// The lowest threshold (percent) whose edges are all in [`Edges::list`].
    pub fn floor(&self) -> u8 {
        self.floor
    }

    /// The edges, without the search.
    pub fn into_list(self) -> Vec<Edge> {
        self.list
    }
}

/// Nodes sampled by [`Degrees::at`].
const DEGREE_SAMPLE: usize = 1_000;

/// Edge-count estimates over one prefix index built at the lowest threshold asked for: a
/// higher threshold's prefixes are shorter, so its postings are those of this index whose
/// position falls within them.
pub struct Degrees<'s> {
    search: &'s Search,
    index: PrefixIndex,
}

impl Degrees<'_> {
    /// The estimated number of edges per node at `threshold` percent (at least the lowest
    /// given to [`Search::degrees`]; lower is read as that): the pairs each of an evenly
    /// spaced sample of nodes has with the nodes before it in the search order, averaged
    /// (every edge is counted once, at the later of its nodes).
    pub fn at(&self, threshold: u8) -> f64 {
        let sets = &self.search.sets;
        if sets.is_empty() {
            return 0.0;
        }
        let threshold = threshold.clamp(self.index.threshold, 100);
        let stride = sets.len().div_ceil(DEGREE_SAMPLE).max(1);
        let sample: Vec<usize> = (0..sets.len()).step_by(stride).collect();
        let found: usize = sample
            .par_iter()
            .map_init(
                || Scratch::new(sets.len()),
                |scratch, &x| probe(self.search, &self.index, x, threshold, scratch).len(),
            )
            .sum();
        found as f64 / sample.len() as f64
    }
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

/// How many leading (rarest) features of a set of `len` a probe must look at for threshold
/// `t`: a set at least as large shares a feature with it within them.
fn prefix_len(len: usize, t: f64) -> usize {
    leading(len, t)
}

/// How many leading features of a set of `len` must be indexed for threshold `t`: a set at
/// least as large shares a feature with it within them, since it shares `2t·len / (1 + t)`.
fn indexed_len(len: usize, t: f64) -> usize {
    leading(len, 2.0 * t / (1.0 + t))
}

/// `len - ceil(share·len) + 1`, within `1..=len`: the leading features of a set of `len` that
/// any set sharing `share·len` of them must meet. Rounding errs towards a longer prefix.
fn leading(len: usize, share: f64) -> usize {
    if share <= 0.0 {
        return len;
    }
    let needed = (share * len as f64 - 1e-6).ceil().max(0.0) as usize;
    (len + 1)
        .saturating_sub(needed)
        .clamp(1, len.max(1))
        .min(len)
}

/// One entry of the prefix index: a node, the position of the feature in its set, and the
/// set's size (read here rather than from the set, which is a cache miss away).
#[derive(Debug, Clone, Copy)]
struct Posting {
    node: u32,
    position: u32,
    len: u32,
}

/// The inverted index over the indexed prefixes, in search order.
struct PrefixIndex {
    /// Feature rank → nodes having it in their indexed prefix, in search order (smallest sets
    /// first, then by node).
    postings: Vec<Vec<Posting>>,
    /// For each node's probing-prefix features in turn (node 0's first): how many postings of
    /// that feature's list come before the node in search order, the only ones it pairs with.
    /// Found while building, so probes need no binary search (whose cache misses were a fifth
    /// of the probing time).
    before: Vec<u32>,
    /// Node → its first entry in `before`.
    starts: Vec<usize>,
    /// The threshold (percent) whose prefixes are indexed.
    threshold: u8,
}

fn prefix_index(sets: &[Vec<u32>], threshold: u8) -> PrefixIndex {
    let t = f64::from(threshold) / 100.0;
    let features = sets
        .iter()
        .flat_map(|s| s.last().copied())
        .max()
        .map_or(0, |m| m as usize + 1);
    let mut order: Vec<u32> = (0..u32::try_from(sets.len()).unwrap_or(u32::MAX)).collect();
    order.sort_by_key(|&node| (sets[node as usize].len(), node));
    let mut postings: Vec<Vec<Posting>> = vec![Vec::new(); features];
    let mut before = Vec::new();
    let mut starts = vec![0usize; sets.len()];
    // Each node's entries in `before` sit in node order; fill them as the nodes come in
    // search order.
    let mut next = 0;
    for (node, set) in sets.iter().enumerate() {
        starts[node] = next;
        next += prefix_len(set.len(), t);
    }
    before.resize(next, 0);
    for &node in &order {
        let set = &sets[node as usize];
        let len = u32::try_from(set.len()).unwrap_or(u32::MAX);
        let indexed = indexed_len(set.len(), t);
        let start = starts[node as usize];
        for (position, &f) in (0u32..).zip(&set[..prefix_len(set.len(), t)]) {
            let list = &mut postings[f as usize];
            before[start + position as usize] = u32::try_from(list.len()).unwrap_or(u32::MAX);
            if (position as usize) < indexed {
                list.push(Posting {
                    node,
                    position,
                    len,
                });
            }
        }
    }
    PrefixIndex {
        postings,
        before,
        starts,
        threshold,
    }
}

/// The fewest shared features two sets of `a` and `b` features need for Jaccard `t`, rounded
/// down a little so that float error never drops a pair the exact check would keep.
fn required_overlap(a: usize, b: usize, t: f64) -> usize {
    let needed = t / (1.0 + t) * (a + b) as f64 - 1e-6;
    if needed <= 0.0 {
        0
    } else {
        needed.ceil() as usize
    }
}

/// Per-thread state of [`probe`]: prefix features shared with each candidate node so far
/// ([`PRUNED`] once the positional filter rules it out), and the nodes touched.
struct Scratch {
    shared: Vec<u32>,
    touched: Vec<u32>,
}

impl Scratch {
    fn new(nodes: usize) -> Self {
        Self {
            shared: vec![0; nodes],
            touched: Vec::new(),
        }
    }
}

/// Marks a candidate the positional filter ruled out.
const PRUNED: u32 = u32::MAX;

/// Edges between node `x` and every node `y` before it in search order that passes the
/// filters and the exact check, as `(min, max)` pairs.
fn probe(
    search: &Search,
    index: &PrefixIndex,
    x: usize,
    threshold: u8,
    scratch: &mut Scratch,
) -> Vec<Edge> {
    let sets = &search.sets;
    let t = f64::from(threshold) / 100.0;
    // An index built for a lower threshold holds longer prefixes than this one's.
    let exact = index.threshold == threshold;
    let set = &sets[x];
    let min_len = if t > 0.0 {
        (t * set.len() as f64 - 1e-9).ceil() as usize
    } else {
        0
    };
    let Scratch { shared, touched } = scratch;
    let prefix = &set[..prefix_len(set.len(), t)];
    let start = index.starts[x];
    let ends = &index.before[start..start + prefix.len()];
    for (i, (&f, &end)) in prefix.iter().zip(ends).enumerate() {
        // The list is in search order, so by size: from x's place backwards until the sets
        // get too small.
        for posting in index.postings[f as usize][..end as usize].iter().rev() {
            let other_len = posting.len as usize;
            if other_len < min_len {
                break;
            }
            let y = posting.node as usize;
            let count = shared[y];
            if count == PRUNED {
                continue;
            }
            if !exact && posting.position as usize >= indexed_len(other_len, t) {
                continue;
            }
            if count == 0 {
                touched.push(posting.node);
            }
            // Features before this one are shared only if both prefixes hold them (all of
            // them are in both prefixes up to here), so `count` is exact.
            let rest = (set.len() - i).min(other_len - posting.position as usize);
            shared[y] = if count as usize + rest >= required_overlap(set.len(), other_len, t) {
                count + 1
            } else {
                PRUNED
            };
        }
    }
    let mut edges = Vec::new();
    for &y in touched.iter() {
        let candidate = shared[y as usize] != PRUNED;
        shared[y as usize] = 0;
        if !candidate {
            continue;
        }
        let other = &sets[y as usize];
        let need = required_overlap(set.len(), other.len(), t);
        if overlap_bound(
            &search.signatures[x],
            &search.signatures[y as usize],
            set.len() + other.len(),
        ) < need
        {
            continue;
        }
        let Some(common) = overlap_reaching(set, other, need) else {
            continue;
        };
        let jaccard = common as f64 / (set.len() + other.len() - common) as f64;
        if common > 0 && jaccard + 1e-9 >= t {
            let x = x as u32;
            edges.push(Edge {
                a: x.min(y),
                b: x.max(y),
                jaccard: jaccard as f32,
            });
        }
    }
    touched.clear();
    edges
}

/// A set's bitmap signature (Sandes et al., "Bitmap filter: speeding up exact set similarity
/// joins with bitwise operations", 2020): bit `h(f)` of 256 for each feature `f`.
type Signature = [u64; 4];

fn signature(set: &[u32]) -> Signature {
    let mut bits = [0u64; 4];
    for &f in set {
        let h = (f.wrapping_mul(0x9E37_79B1) >> 24) as usize;
        bits[h >> 6] |= 1 << (h & 63);
    }
    bits
}

/// An upper bound on the overlap of two sets of `sizes` features in all: every bit set in
/// one signature and not the other stands for a distinct feature of one set only, so the
/// symmetric difference has at least that many. Reading two signatures costs one cache line
/// where checking the sets costs several, and on overlapping roles most candidates (sets
/// holding one role, against sets holding it and another) fail here.
fn overlap_bound(a: &Signature, b: &Signature, sizes: usize) -> usize {
    let differing: u32 = a.iter().zip(b).map(|(a, b)| (a ^ b).count_ones()).sum();
    sizes.saturating_sub(differing as usize) / 2
}

/// Size of the intersection of two ascending lists, or `None` as soon as it cannot reach
/// `need` (most candidates fail, and the verification was most of the probing time).
fn overlap_reaching(a: &[u32], b: &[u32], need: usize) -> Option<usize> {
    // Branch-free steps: which list advances is data, not a branch the CPU must guess.
    let (mut i, mut j, mut n) = (0, 0, 0);
    while i < a.len() && j < b.len() {
        if n + (a.len() - i).min(b.len() - j) < need {
            return None;
        }
        let (x, y) = (a[i], b[j]);
        n += usize::from(x == y);
        i += usize::from(x <= y);
        j += usize::from(y <= x);
    }
    (n >= need).then_some(n)
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

    fn nodes_of(sets: &[std::collections::BTreeSet<u32>]) -> Vec<Node> {
        sets.iter()
            .map(|s| node(&s.iter().copied().collect::<Vec<_>>()))
            .collect()
    }

    /// The search's pairs of the nodes of `sets` are exactly the brute force's.
    /// Both ways of searching (the prefix index, every pair as bitsets) give the same edges,
    /// Jaccard indices included.
    fn search_matches_brute_force(
        sets: &[std::collections::BTreeSet<u32>],
        threshold: u8,
    ) -> Result<(), TestCaseError> {
        let nodes = nodes_of(sets);
        let indexed = Search::build(&nodes, |_, _| false);
        prop_assert!(indexed.bitsets.is_none());
        let found = indexed.pairs(threshold, &Silent).unwrap();
        let pairs: Vec<_> = found.iter().map(|e| (e.a, e.b)).collect();
        prop_assert_eq!(pairs, brute_force(&nodes, threshold));
        let dense = Search::build(&nodes, |_, _| true);
        prop_assert!(dense.bitsets.is_some() || nodes.iter().all(|n| n.features.is_empty()));
        prop_assert_eq!(dense.pairs(threshold, &Silent).unwrap(), found);
        Ok(())
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
        for dense in [false, true] {
            let edges = Search::build(&nodes, |_, _| dense)
                .pairs(60, &Silent)
                .unwrap();
            let pairs: Vec<_> = edges.iter().map(|e| (e.a, e.b)).collect();
            assert_eq!(pairs, vec![(0, 1), (0, 3)], "dense: {dense}");
            assert!((edges[0].jaccard - 0.75).abs() < 1e-6);
        }
        assert!(
            Search::new(&nodes).bitsets.is_some(),
            "four small sets are compared directly"
        );
        assert!(!Bitsets::affordable(100_000, 1), "5e9 pairs are not");
        assert!(
            !Bitsets::affordable(2, DENSE_WORDS + 1),
            "nor sets of too many words"
        );
        assert!(similar_pairs(&nodes, 101, &Silent).is_err());
        assert!(similar_pairs(&[], 50, &Silent).unwrap().is_empty());
    }

    proptest! {
        #[test]
        fn prefix_filtering_loses_no_pair(
            sets in prop::collection::vec(prop::collection::btree_set(0u32..30, 1..10), 0..40),
            threshold in 0u8..=100,
        ) {
            search_matches_brute_force(&sets, threshold)?;
        }

        #[test]
        fn the_signature_bound_is_never_below_the_overlap(
            a in prop::collection::btree_set(0u32..2_000, 0..300),
            b in prop::collection::btree_set(0u32..2_000, 0..300),
        ) {
            let (a, b): (Vec<u32>, Vec<u32>) = (a.into_iter().collect(), b.into_iter().collect());
            let overlap = a.iter().filter(|f| b.binary_search(f).is_ok()).count();
            prop_assert!(overlap_bound(&signature(&a), &signature(&b), a.len() + b.len()) >= overlap);
            prop_assert_eq!(overlap_reaching(&a, &b, overlap), Some(overlap));
            prop_assert_eq!(overlap_reaching(&a, &b, overlap + 1), None);
        }

        #[test]
        fn degrees_from_a_lower_thresholds_index_are_exact(
            sets in prop::collection::vec(prop::collection::btree_set(0u32..40, 1..20), 1..60),
            lowest in 0u8..=60,
            above in 0u8..=40,
        ) {
            let nodes = nodes_of(&sets);
            let search = Search::new(&nodes);
            let threshold = lowest + above;
            prop_assert_eq!(search.degrees(lowest).at(threshold), search.degrees(threshold).at(threshold));
            let edges = search.pairs(threshold, &Silent).unwrap().len() as f64;
            prop_assert_eq!(search.degrees(lowest).at(threshold), edges / nodes.len() as f64);
        }

        #[test]
        fn bitsets_of_several_words_and_empty_sets_lose_no_pair(
            sets in prop::collection::vec(prop::collection::btree_set(0u32..400, 0..30), 0..40),
            threshold in 0u8..=100,
        ) {
            search_matches_brute_force(&sets, threshold)?;
        }

        #[test]
        fn the_positional_filter_loses_no_pair_of_long_sets(
            sets in prop::collection::vec(prop::collection::btree_set(0u32..60, 10..40), 0..30),
            threshold in 30u8..=90,
        ) {
            search_matches_brute_force(&sets, threshold)?;
        }
    }
}
