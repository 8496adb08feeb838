//! Peer groups: Louvain community detection on the weighted similarity graph.
//!
//! Louvain (Blondel et al., 2008) maximises modularity by moving nodes between communities and
//! then collapsing communities into nodes, until nothing moves. Unlike connected components it
//! does not chain two dense groups together through a few bridging identities: a bridge adds
//! little internal weight compared with what merging costs. Louvain can leave a community held
//! together only through a node that later moved away, so, as Leiden guarantees, every final
//! community is split into its connected parts.
//!
//! Compressed nodes stand for `w` identical identities. Each carries the weight of the
//! `w·(w-1)/2` perfect-similarity pairs inside it as a self-loop, and an edge between nodes of
//! weights `w_a`, `w_b` with Jaccard `j` weighs `w_a·w_b·j`, so modularity is that of the
//! uncompressed identity graph.
//!
//! The algorithm is sequential and visits nodes in index order with ties broken by community
//! index: the same graph always gives the same communities.

use crate::compress::Node;
use crate::similarity::Edge;

/// Modularity resolution: 1.0 is classic modularity.
const RESOLUTION: f64 = 1.0;
/// Local moving stops when a pass improves modularity by less than this.
const MIN_GAIN: f64 = 1e-9;
/// Safety bound on local-moving passes per level.
const MAX_PASSES: usize = 64;

/// A weighted undirected graph in compressed sparse row form.
#[derive(Debug, Clone)]
struct Graph {
    offsets: Vec<usize>,
    targets: Vec<u32>,
    weights: Vec<f64>,
    /// Weight of edges inside each node (counted once).
    self_loops: Vec<f64>,
}

impl Graph {
    fn len(&self) -> usize {
        self.self_loops.len()
    }

    fn neighbours(&self, v: usize) -> impl Iterator<Item = (usize, f64)> + '_ {
        let range = self.offsets[v]..self.offsets[v + 1];
        self.targets[range.clone()]
            .iter()
            .zip(&self.weights[range])
            .map(|(&t, &w)| (t as usize, w))
    }

    /// Sum of edge weights at `v`, self-loops counted twice.
    fn degree(&self, v: usize) -> f64 {
        2.0 * self.self_loops[v] + self.neighbours(v).map(|(_, w)| w).sum::<f64>()
    }

    /// Builds from an edge list over `n` nodes: `edges()` yields each pair once (`a != b`),
    /// the same pairs in the same order on both calls (one counts, one fills).
    fn from_edges<I>(n: usize, edges: impl Fn() -> I, self_loops: Vec<f64>) -> Self
    where
        I: Iterator<Item = (u32, u32, f64)>,
    {
        let mut offsets = vec![0usize; n + 1];
        for (a, b, _) in edges() {
            offsets[a as usize + 1] += 1;
            offsets[b as usize + 1] += 1;
        }
        for v in 0..n {
            offsets[v + 1] += offsets[v];
        }
        let mut fill = offsets.clone();
        let mut targets = vec![0u32; offsets[n]];
        let mut weights = vec![0f64; offsets[n]];
        for (a, b, w) in edges() {
            for (from, to) in [(a, b), (b, a)] {
                let slot = fill[from as usize];
                targets[slot] = to;
                weights[slot] = w;
                fill[from as usize] += 1;
            }
        }
        Graph {
            offsets,
            targets,
            weights,
            self_loops,
        }
    }
}

/// Clusters `nodes` linked by `edges` (those with Jaccard ≥ `min_jaccard`) and returns the
/// communities as lists of node indices, each ascending, ordered by their first node.
pub fn peer_groups(nodes: &[Node], edges: &[Edge], min_jaccard: f32) -> Vec<Vec<u32>> {
    let n = nodes.len();
    let weight = |i: u32| f64::from(nodes[i as usize].weight());
    let weighted = || {
        edges
            .iter()
            .filter(|e| e.jaccard >= min_jaccard && e.a != e.b)
            .map(|e| (e.a, e.b, weight(e.a) * weight(e.b) * f64::from(e.jaccard)))
    };
    let self_loops = nodes
        .iter()
        .map(|node| {
            let w = f64::from(node.weight());
            w * (w - 1.0) / 2.0
        })
        .collect();
    let graph = Graph::from_edges(n, weighted, self_loops);
    let membership = louvain(&graph);
    split_disconnected(&graph, &membership)
}

/// Returns each node's final community index.
fn louvain(original: &Graph) -> Vec<usize> {
    // membership[v] = community of original node v, refined level by level.
    let mut membership: Vec<usize> = (0..original.len()).collect();
    let mut collapsed: Option<Graph> = None;
    loop {
        let graph = collapsed.as_ref().unwrap_or(original);
        let (community, moved) = local_moving(graph);
        if !moved {
            break;
        }
        let (renumbered, count) = renumber(&community);
        for c in membership.iter_mut() {
            *c = renumbered[*c];
        }
        if count == graph.len() {
            break;
        }
        collapsed = Some(aggregate(graph, &renumbered, count));
    }
    membership
}

/// One level of local moving. Returns each node's community and whether anything moved.
fn local_moving(graph: &Graph) -> (Vec<usize>, bool) {
    let n = graph.len();
    let degrees: Vec<f64> = (0..n).map(|v| graph.degree(v)).collect();
    let total: f64 = degrees.iter().sum();
    let mut community: Vec<usize> = (0..n).collect();
    if total <= 0.0 {
        return (community, false);
    }
    let mut community_degree = degrees.clone();
    // Scratch: weight from the current node to each neighbouring community.
    let mut link = vec![0f64; n];
    let mut touched: Vec<usize> = Vec::new();
    let mut moved_any = false;
    for _ in 0..MAX_PASSES {
        let mut gain_total = 0.0;
        for v in 0..n {
            let own = community[v];
            let k = degrees[v];
            touched.clear();
            for (u, w) in graph.neighbours(v) {
                let c = community[u];
                if link[c] == 0.0 {
                    touched.push(c);
                }
                link[c] += w;
            }
            community_degree[own] -= k;
            let score =
                |c: usize, link_c: f64| link_c - RESOLUTION * community_degree[c] * k / total;
            let mut best = own;
            let mut best_score = score(own, link[own]);
            touched.sort_unstable();
            for &c in &touched {
                let s = score(c, link[c]);
                if s > best_score + MIN_GAIN {
                    best = c;
                    best_score = s;
                }
            }
            let stay = score(own, link[own]);
            community_degree[best] += k;
            if best != own {
                community[v] = best;
                gain_total += best_score - stay;
                moved_any = true;
            }
            for &c in &touched {
                link[c] = 0.0;
            }
            link[own] = 0.0;
        }
        if gain_total <= MIN_GAIN {
            break;
        }
    }
    (community, moved_any)
}

/// Maps community labels to `0..count`, in order of first appearance.
fn renumber(community: &[usize]) -> (Vec<usize>, usize) {
    let mut map = vec![usize::MAX; community.len()];
    let mut next = 0;
    for &c in community {
        if map[c] == usize::MAX {
            map[c] = next;
            next += 1;
        }
    }
    (community.iter().map(|&c| map[c]).collect(), next)
}

/// Collapses each community into one node. Each community's links are summed over its nodes in
/// index order, so the sums are the same on every run.
fn aggregate(graph: &Graph, community: &[usize], count: usize) -> Graph {
    let mut self_loops = vec![0f64; count];
    // The nodes of each community, by a counting sort.
    let mut starts = vec![0usize; count + 1];
    for &c in community {
        starts[c + 1] += 1;
    }
    for c in 0..count {
        starts[c + 1] += starts[c];
    }
    let mut fill = starts.clone();
    let mut by_community = vec![0usize; community.len()];
    for (v, &c) in community.iter().enumerate() {
        by_community[fill[c]] = v;
        fill[c] += 1;
    }
    let mut link = vec![0f64; count];
    let mut touched: Vec<usize> = Vec::new();
    let mut merged: Vec<(u32, u32, f64)> = Vec::new();
    for cv in 0..count {
        for &v in &by_community[starts[cv]..starts[cv + 1]] {
            self_loops[cv] += graph.self_loops[v];
            for (u, w) in graph.neighbours(v) {
                let cu = community[u];
                if cu == cv {
                    // Each internal edge is seen from both ends.
                    self_loops[cv] += w / 2.0;
                } else if cv < cu {
                    if link[cu] == 0.0 {
                        touched.push(cu);
                    }
                    link[cu] += w;
                }
            }
        }
        touched.sort_unstable();
        for &cu in &touched {
            merged.push((cv as u32, cu as u32, link[cu]));
            link[cu] = 0.0;
        }
        touched.clear();
    }
    Graph::from_edges(count, || merged.iter().copied(), self_loops)
}

/// Splits every community into its connected components in `graph`.
fn split_disconnected(graph: &Graph, membership: &[usize]) -> Vec<Vec<u32>> {
    let n = graph.len();
    let mut visited = vec![false; n];
    let mut groups = Vec::new();
    let mut stack = Vec::new();
    for start in 0..n {
        if visited[start] {
            continue;
        }
        let c = membership[start];
        let mut group = Vec::new();
        visited[start] = true;
        stack.push(start);
        while let Some(v) = stack.pop() {
            group.push(v as u32);
            for (u, _) in graph.neighbours(v) {
                if !visited[u] && membership[u] == c {
                    visited[u] = true;
                    stack.push(u);
                }
            }
        }
        group.sort_unstable();
        groups.push(group);
    }
    groups
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nodes(weights: &[usize]) -> Vec<Node> {
        weights
            .iter()
            .map(|&w| Node {
                features: vec![0],
                identities: (0..w as u32).collect(),
            })
            .collect()
    }

    fn edge(a: u32, b: u32, jaccard: f32) -> Edge {
        Edge { a, b, jaccard }
    }

    fn clique(range: std::ops::Range<u32>) -> Vec<Edge> {
        let mut edges = Vec::new();
        for a in range.clone() {
            for b in a + 1..range.end {
                edges.push(edge(a, b, 0.9));
            }
        }
        edges
    }

    #[test]
    fn two_cliques_with_a_bridge_stay_apart() {
        let mut edges = clique(0..6);
        edges.extend(clique(6..12));
        edges.push(edge(5, 6, 0.5));
        edges.sort_by_key(|e| (e.a, e.b));
        let groups = peer_groups(&nodes(&[1; 12]), &edges, 0.0);
        assert_eq!(groups, vec![(0..6).collect::<Vec<_>>(), (6..12).collect()]);
    }

    #[test]
    fn threshold_removes_weak_links_and_isolated_nodes_are_singletons() {
        let edges = vec![edge(0, 1, 0.9), edge(1, 2, 0.3)];
        let groups = peer_groups(&nodes(&[1, 1, 1, 1]), &edges, 0.5);
        assert_eq!(groups, vec![vec![0, 1], vec![2], vec![3]]);
    }

    #[test]
    fn heavy_nodes_are_clustered_like_the_identities_they_stand_for() {
        // A node of 10 identical identities and one loosely similar neighbour join.
        let groups = peer_groups(&nodes(&[10, 1]), &[edge(0, 1, 0.6)], 0.0);
        assert_eq!(groups, vec![vec![0, 1]]);
        assert!(peer_groups(&[], &[], 0.0).is_empty());
    }
}
