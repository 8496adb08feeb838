//! Compression: identities with identical clustering features become one weighted node.

use rayon::prelude::*;

use crate::matrix::AccessMatrix;
use crate::population::Population;

/// A group of identities with the same feature set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Node {
    /// The shared features (entitlement indices, ascending).
    pub features: Vec<u32>,
    /// The identities, ascending.
    pub identities: Vec<u32>,
}

impl Node {
    /// How many identities the node stands for.
    pub fn weight(&self) -> u32 {
        u32::try_from(self.identities.len()).unwrap_or(u32::MAX)
    }
}

/// Groups the population's identities by their clustering features
/// ([`Population::features_of`]). Identities without any feature are left
/// out (nothing to cluster them on). Nodes are ordered by their smallest identity, so the result
/// does not depend on hashing or threads.
pub fn compress(matrix: &AccessMatrix, population: &Population) -> Vec<Node> {
    let members: Vec<u32> = population.members.iter().collect();
    let mut rows: Vec<(Vec<u32>, u32)> = members
        .into_par_iter()
        .filter_map(|identity| {
            let features = population.features_of(matrix, identity);
            (!features.is_empty()).then_some((features, identity))
        })
        .collect();
    // Equal feature sets become neighbours, each run ordered by identity.
    rows.par_sort_unstable();
    let mut nodes: Vec<Node> = Vec::new();
    for (features, identity) in rows {
        match nodes.last_mut() {
            Some(node) if node.features == features => node.identities.push(identity),
            _ => nodes.push(Node {
                features,
                identities: vec![identity],
            }),
        }
    }
    nodes.par_sort_unstable_by_key(|node| node.identities[0]);
    nodes
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::matrix::AccessMatrixBuilder;
    use crate::population::RoleType;
    use roaring::RoaringBitmap;

    #[test]
    fn identical_sets_merge_and_empty_sets_drop() {
        let mut b = AccessMatrixBuilder::new(5, 3);
        for (i, e) in [
            (0, 0),
            (0, 1),
            (1, 0),
            (1, 1),
            (2, 1),
            (3, 0),
            (3, 1),
            (4, 2),
        ] {
            b.push(i, e);
        }
        let m = b.build();
        let members: RoaringBitmap = (0..5).collect();
        let p = Population::select(&m, members, RoleType::Specialized, 100.0, 2).unwrap();
        let nodes = compress(&m, &p);
        assert_eq!(nodes.len(), 2);
        assert_eq!(nodes[0].identities, vec![0, 1, 3]);
        assert_eq!(nodes[0].features, vec![0, 1]);
        // Identity 4's only entitlement has one holder: no feature, so no node.
        assert_eq!(nodes[1].identities, vec![2]);
        assert_eq!(nodes[1].weight(), 1);
    }
}
