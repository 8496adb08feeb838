//! Property tests of the whole pipeline's invariants, on arbitrary small inputs.

use proptest::prelude::*;
use roaring::RoaringBitmap;

use crate::matrix::AccessMatrixBuilder;
use crate::metrics::RoleMetrics;
use crate::mine::{
    fit, mine, Attribute, MiningInput, MiningMethod, MiningParams, MiningResult, RoleType,
};
use crate::observer::Silent;
use crate::AccessMatrix;

/// A matrix of `identities` rows drawn from a few "profiles" (so groups exist) plus noise.
fn matrix_strategy() -> impl Strategy<Value = AccessMatrix> {
    (
        1u32..60,
        prop::collection::vec(prop::collection::btree_set(0u32..25, 0..8), 1..5),
        prop::collection::vec((0u32..60, 0u32..25), 0..40),
        any::<u64>(),
    )
        .prop_map(|(identities, profiles, noise, seed)| {
            let mut builder = AccessMatrixBuilder::new(identities, 25);
            for i in 0..identities {
                let profile = &profiles[((u64::from(i) ^ seed) % profiles.len() as u64) as usize];
                for &e in profile {
                    builder.push(i, e);
                }
            }
            for (i, e) in noise {
                if i < identities {
                    builder.push(i, e);
                }
            }
            builder.build()
        })
}

fn params_strategy() -> impl Strategy<Value = MiningParams> {
    (
        prop::option::of(0u8..=100),
        0u32..30,
        prop::bool::ANY,
        0.0f64..=100.0,
        prop::bool::ANY,
    )
        .prop_map(
            |(prune_threshold, min_identities, common, common_access_threshold, cover)| {
                MiningParams {
                    role_type: if common {
                        RoleType::Common
                    } else {
                        RoleType::Specialized
                    },
                    prune_threshold,
                    min_identities,
                    common_access_threshold,
                    method: if cover {
                        MiningMethod::MinimalCover
                    } else {
                        MiningMethod::PeerGroups
                    },
                }
            },
        )
}

fn run(
    matrix: &AccessMatrix,
    population: &RoaringBitmap,
    params: MiningParams,
    threads: usize,
) -> MiningResult {
    let attributes = vec![Attribute {
        name: "department".to_owned(),
        values: vec!["A".to_owned(), "B".to_owned()],
        codes: (0..matrix.identities())
            .map(|i| (i % 3 != 0).then_some(i % 2))
            .collect(),
    }];
    let existing = vec![(0..4).collect::<RoaringBitmap>()];
    let input = MiningInput {
        matrix,
        population,
        existing_roles: &existing,
        attributes: &attributes,
    };
    rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .unwrap()
        .install(|| mine(input, params, &Silent))
        .unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn results_are_identical_on_one_thread_and_many(
        matrix in matrix_strategy(),
        params in params_strategy(),
    ) {
        let population: RoaringBitmap = (0..matrix.identities()).collect();
        let one = run(&matrix, &population, params, 1);
        let many = run(&matrix, &population, params, 4);
        prop_assert_eq!(one.prescribed_threshold, many.prescribed_threshold);
        prop_assert_eq!(one.roles, many.roles);
        // Insights too: outlier scores and order, unexplained access.
        prop_assert_eq!(one.outliers, many.outliers);
        prop_assert_eq!(one.unexplained, many.unexplained);
    }

    #[test]
    fn insights_reproduce_what_they_report(
        matrix in matrix_strategy(),
        params in params_strategy(),
        keep in prop::collection::vec(prop::bool::ANY, 60),
    ) {
        let population: RoaringBitmap = (0..matrix.identities()).filter(|i| keep[*i as usize]).collect();
        let result = run(&matrix, &population, params, 2);
        let attributes = vec![Attribute {
            name: "department".to_owned(),
            values: vec!["A".to_owned(), "B".to_owned()],
            codes: (0..matrix.identities()).map(|i| (i % 3 != 0).then_some(i % 2)).collect(),
        }];
        let index = crate::rules::AttributeIndex::new(&attributes, &population);
        for role in &result.roles {
            let members: RoaringBitmap = role.members.iter().copied().collect();
            prop_assert!(role.rules.len() <= crate::rules::MAX_RULES);
            for rule in &role.rules {
                // Re-evaluated on the population, a rule matches what it reports.
                let (matched, members_matched) = index.evaluate(rule, &members);
                prop_assert_eq!((matched, members_matched), (rule.matched, rule.members_matched));
                prop_assert_eq!(rule.members, role.members.len() as u32);
                let precision = f64::from(members_matched) / f64::from(matched.max(1));
                let recall = f64::from(members_matched) / role.members.len() as f64;
                prop_assert!((rule.precision() - precision).abs() < 1e-12);
                prop_assert!((rule.recall() - recall).abs() < 1e-12);
                prop_assert!(rule.members_matched > 0 && rule.conditions.len() <= crate::rules::MAX_CONDITIONS);
            }
            for pair in role.rules.windows(2) {
                prop_assert!(pair[0].score() >= pair[1].score());
            }
        }
        // Unexplained access is exactly the assignments coverage does not explain.
        let unexplained: u64 = result.unexplained.iter().map(|(_, ids)| ids.len() as u64).sum();
        prop_assert_eq!(unexplained, result.explained.assignments - result.explained.explained);
        for (e, ids) in &result.unexplained {
            for &i in ids {
                prop_assert!(population.contains(i) && matrix.of_identity(i).contains(*e));
            }
        }
        // Outliers: population identities, positive scores, highest first, within the limit.
        prop_assert!(result.outliers.len() <= crate::mine::outlier_limit(population.len()));
        for outlier in &result.outliers {
            prop_assert!(population.contains(outlier.identity) && outlier.score > 0.0);
        }
        for pair in result.outliers.windows(2) {
            prop_assert!(pair[0].score >= pair[1].score);
        }
    }

    #[test]
    fn roles_satisfy_the_documented_invariants(
        matrix in matrix_strategy(),
        params in params_strategy(),
        keep in prop::collection::vec(prop::bool::ANY, 60),
    ) {
        let population: RoaringBitmap = (0..matrix.identities()).filter(|i| keep[*i as usize]).collect();
        let result = run(&matrix, &population, params, 2);
        let min = params.min_identities.max(1) as usize;
        let cover = params.method == MiningMethod::MinimalCover;
        let mut seen = RoaringBitmap::new();
        for role in &result.roles {
            // A minimal cover has no minimum size: it must explain everyone.
            prop_assert!(cover || role.members.len() >= min);
            prop_assert!(!role.members.is_empty());
            prop_assert!(role.members.windows(2).all(|w| w[0] < w[1]), "members ascending, once each");
            // A role of another type than the session's is a `SPECIALIZED` session's birthright
            // role: made of common access only, counted as a `COMMON` session's role is.
            if role.role_type != params.role_type {
                prop_assert!(params.role_type == RoleType::Specialized && !cover);
                prop_assert!(role.common_entitlements.is_empty());
                prop_assert!(role.entitlements.iter().all(|s| s.common_access));
            }
            if !cover {
                // Every member holds at least the fit of the role's mined definition; identities
                // with the same access as a member are members too (kept or dropped together),
                // except where a trimmed role was topped up with part of a group of them, which
                // hold mined access beyond the definition (what the role was trimmed for).
                let mined: RoaringBitmap = role
                    .entitlements
                    .iter()
                    .map(|s| s.entitlement)
                    .filter(|e| role.definition.contains(*e))
                    .collect();
                prop_assert!(!mined.is_empty());
                let size = mined.len() as f64;
                let need = ((fit(result.threshold) * size) - 1e-9).ceil().clamp(1.0, size) as u64;
                let members: RoaringBitmap = role.members.iter().copied().collect();
                for &m in &role.members {
                    prop_assert!(matrix.of_identity(m).intersection_len(&mined) >= need);
                }
                let beyond: RoaringBitmap = role
                    .entitlements
                    .iter()
                    .map(|s| s.entitlement)
                    .filter(|e| !role.definition.contains(*e))
                    .collect();
                for i in population.iter().filter(|i| !members.contains(*i)) {
                    let same = role.members.iter().any(|&m| {
                        matrix.of_identity(m) == matrix.of_identity(i)
                            && matrix.of_identity(m).is_disjoint(&beyond)
                    });
                    prop_assert!(!same, "identity {} has a member's access but is not a member", i);
                }
                // The definition is exactly what at least half of the members hold.
                for stat in role.entitlements.iter().chain(&role.common_entitlements) {
                    let defining = crate::metrics::is_defining(stat.identity_count, role.members.len() as u32);
                    prop_assert_eq!(defining, role.definition.contains(stat.entitlement), "entitlement {}", stat.entitlement);
                }
            }
            for &m in &role.members {
                prop_assert!(population.contains(m), "member {} outside the population", m);
                // Overlap is allowed: an identity may be in several roles.
                seen.insert(m);
                if cover {
                    // A minimal cover's members hold all of its definition.
                    prop_assert!(role.definition.is_subset(matrix.of_identity(m)));
                }
            }
            let members = role.members.len() as f64;
            for stat in &role.entitlements {
                prop_assert!(stat.identity_count >= 1);
                let expected = f64::from(stat.identity_count) / members * 100.0;
                prop_assert!((stat.popularity - expected).abs() < 1e-9);
                prop_assert!((0.0..=100.0).contains(&stat.popularity_in_org));
                let holders = role.members.iter().filter(|&&m| matrix.of_identity(m).contains(stat.entitlement)).count();
                prop_assert_eq!(holders as u32, stat.identity_count);
            }
            let m = role.metrics;
            for metric in [m.density, m.freshness, m.quality] {
                prop_assert!(metric <= 100);
            }
            prop_assert_eq!(m.entitlement_count as usize, role.entitlements.len());
            let distribution_total: u32 = role.identity_distribution[0].counts.iter().map(|(_, n)| n).sum();
            prop_assert_eq!(distribution_total as usize, role.members.len());
            let buckets: u32 = role.popularity_distribution.values().sum();
            prop_assert_eq!(buckets as usize, role.entitlements.len());
            // The unmined common access: all common, none mined, exact member counts.
            if params.role_type == RoleType::Common {
                prop_assert!(role.common_entitlements.is_empty());
            }
            for stat in &role.common_entitlements {
                prop_assert!(stat.common_access);
                prop_assert!(role.entitlements.iter().all(|mined| mined.entitlement != stat.entitlement));
                let holders = role.members.iter().filter(|&&m| matrix.of_identity(m).contains(stat.entitlement)).count();
                prop_assert_eq!(holders as u32, stat.identity_count);
            }
        }
        prop_assert!(result.roles.iter().filter(|r| r.role_type != params.role_type).count() <= 1);
        prop_assert!((0.0..=100.0).contains(&result.coverage));
        prop_assert!(result.prescribed_threshold <= 100);

        // The coverage figures, recomputed cell by cell from their definitions: a role grants its
        // members what at least half of them hold (common access included), or for a minimal
        // cover what all of them hold; granted pairs held are explained, the others
        // over-granted; each pair counts once.
        let mut granted = std::collections::BTreeSet::new();
        for role in &result.roles {
            let members = role.members.len() as u32;
            let mut definition = RoaringBitmap::new();
            for stat in role.entitlements.iter().chain(&role.common_entitlements) {
                let defining = if cover {
                    stat.identity_count == members
                } else {
                    stat.identity_count * 2 >= members
                };
                if defining {
                    definition.insert(stat.entitlement);
                    for &m in &role.members {
                        granted.insert((m, stat.entitlement));
                    }
                }
            }
            prop_assert_eq!(&definition, &role.definition);
        }
        let held = |(i, e): &(u32, u32)| matrix.of_identity(*i).contains(*e);
        let c = result.explained;
        prop_assert_eq!(c.explained, granted.iter().filter(|p| held(p)).count() as u64);
        prop_assert_eq!(c.over_grants, granted.iter().filter(|p| !held(p)).count() as u64);
        prop_assert_eq!(
            c.assignments,
            population.iter().map(|i| matrix.of_identity(i).len()).sum::<u64>()
        );
        prop_assert_eq!(c.identities_in_roles, seen.len());
        prop_assert!((0.0..=100.0).contains(&c.explained_percent()));
        // A minimal cover explains every assignment of the covered access and grants nothing
        // more: rebuilding the access from the roles gives it back.
        if cover {
            prop_assert_eq!(c.over_grants, 0);
            let size = population.len() as f64;
            let coverable: u64 = population
                .iter()
                .map(|i| {
                    matrix.of_identity(i).iter().filter(|&e| {
                        let holders = matrix.holders(e).intersection_len(&population) as f64;
                        let common = holders * 100.0 / size >= params.common_access_threshold;
                        params.role_type == RoleType::Specialized || common
                    }).count() as u64
                })
                .sum();
            prop_assert_eq!(c.explained, coverable);
        }
    }

    #[test]
    fn excluded_entitlements_are_never_counted(
        matrix in matrix_strategy(),
        excluded in prop::collection::btree_set(0u32..25, 0..10),
    ) {
        let population: RoaringBitmap = (0..matrix.identities()).collect();
        let params = MiningParams { min_identities: 1, ..MiningParams::default() };
        let result = run(&matrix, &population, params, 2);
        let excluded: RoaringBitmap = excluded.into_iter().collect();
        for role in &result.roles {
            let with = RoleMetrics::compute(role.members.len() as u32, &role.entitlements, &excluded, &[]);
            let kept: Vec<_> = role.entitlements.iter().filter(|s| !excluded.contains(s.entitlement)).cloned().collect();
            let without = RoleMetrics::compute(role.members.len() as u32, &kept, &RoaringBitmap::new(), &[]);
            prop_assert_eq!(with, without);
            prop_assert_eq!(with.entitlement_count as usize, kept.len());
        }
    }
}

#[test]
fn degenerate_inputs_give_empty_results_or_errors_never_panics() {
    let empty = AccessMatrix::default();
    let none = RoaringBitmap::new();
    for params in [
        MiningParams::default(),
        MiningParams {
            prune_threshold: Some(0),
            ..MiningParams::default()
        },
        MiningParams {
            prune_threshold: Some(100),
            ..MiningParams::default()
        },
    ] {
        assert!(run(&empty, &none, params, 1).roles.is_empty());
        let cover = MiningParams {
            method: MiningMethod::MinimalCover,
            ..params
        };
        assert!(run(&empty, &none, cover, 1).roles.is_empty());
    }

    // One identity; everyone identical; one entitlement held by everyone.
    let mut one = AccessMatrixBuilder::new(1, 3);
    one.push(0, 1);
    let one = one.build();
    let all: RoaringBitmap = [0].into_iter().collect();
    assert!(run(&one, &all, MiningParams::default(), 1).roles.is_empty());

    let mut same = AccessMatrixBuilder::new(50, 4);
    for i in 0..50 {
        for e in [0, 1, 2] {
            same.push(i, e);
        }
        if i < 30 {
            same.push(i, 3);
        }
    }
    let same = same.build();
    let all: RoaringBitmap = (0..50).collect();
    for threshold in [Some(0), Some(100), None] {
        let params = MiningParams {
            prune_threshold: threshold,
            min_identities: 5,
            ..MiningParams::default()
        };
        let specialized = run(&same, &all, params, 2);
        // 0-2 are held by everyone (common access); 3 by 60 % is the only mined entitlement.
        // The 20 holding only the common access have the birthright role.
        assert_eq!(specialized.roles.len(), 2, "{threshold:?}");
        assert_eq!(specialized.roles[0].members.len(), 30);
        assert_eq!(specialized.roles[0].role_type, RoleType::Specialized);
        assert_eq!(specialized.roles[1].members, (30..50).collect::<Vec<u32>>());
        assert_eq!(specialized.roles[1].role_type, RoleType::Common);
        let common = run(
            &same,
            &all,
            MiningParams {
                role_type: RoleType::Common,
                ..params
            },
            2,
        );
        assert_eq!(common.roles.len(), 1);
        assert_eq!(common.roles[0].members.len(), 50);
    }

    // More required members than the population has.
    let params = MiningParams {
        min_identities: 1_000,
        ..MiningParams::default()
    };
    assert!(run(&same, &all, params, 2).roles.is_empty());

    // Bad parameters are errors, not panics.
    let input = MiningInput {
        matrix: &same,
        population: &all,
        existing_roles: &[],
        attributes: &[],
    };
    let bad_threshold = MiningParams {
        prune_threshold: Some(101),
        ..MiningParams::default()
    };
    assert!(mine(input, bad_threshold, &Silent).is_err());
    let bad_common = MiningParams {
        common_access_threshold: f64::NAN,
        ..MiningParams::default()
    };
    assert!(mine(input, bad_common, &Silent).is_err());
    let outside: RoaringBitmap = [500].into_iter().collect();
    let input = MiningInput {
        population: &outside,
        ..input
    };
    assert!(mine(input, MiningParams::default(), &Silent).is_err());
}

#[test]
fn cancellation_stops_mining() {
    struct Stop;
    impl crate::Observer for Stop {
        fn cancelled(&self) -> bool {
            true
        }
    }
    let mut builder = AccessMatrixBuilder::new(10, 2);
    builder.push(0, 0);
    let matrix = builder.build();
    let all: RoaringBitmap = (0..10).collect();
    let input = MiningInput {
        matrix: &matrix,
        population: &all,
        existing_roles: &[],
        attributes: &[],
    };
    assert_eq!(
        mine(input, MiningParams::default(), &Stop).unwrap_err(),
        crate::EngineError::Cancelled
    );
}
