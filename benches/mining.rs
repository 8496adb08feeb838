//! Mining benchmarks: the HP datasets (both methods), planted data at three scales and with
//! overlapping roles, and each engine phase.
//!
//! `cargo bench -p rolemine-dataset --bench mining` runs everything; add a filter to pick
//! (`-- hp/`, `-- hp-cover/`, `-- planted/100000`, `-- planted-overlap/`, `-- phase/`). The 1M-identity planted run is slow to
//! generate and to measure; it runs only with `ROLEMINE_BENCH_1M=1`.

use std::path::Path;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use roaring::RoaringBitmap;
use rolemine_dataset::planted::{Planted, PlantedSpec};
use rolemine_dataset::AccessData;
use rolemine_engine::cluster::peer_groups;
use rolemine_engine::compress::compress;
use rolemine_engine::population::Population;
use rolemine_engine::similarity::{similar_pairs, Edges};
use rolemine_engine::threshold::{prescribe, LOWEST};
use rolemine_engine::{
    mine, AccessMatrixBuilder, MiningInput, MiningMethod, MiningParams, RoleMetrics, RoleType,
    Silent,
};

fn run(data: &AccessData, params: MiningParams) -> usize {
    data.mine(params, &Silent).map_or(0, |r| r.roles.len())
}

fn hp(c: &mut Criterion) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../datasets/hp");
    let mut group = c.benchmark_group("mining");
    group
        .sample_size(20)
        .measurement_time(Duration::from_secs(5));
    let mut names: Vec<_> = std::fs::read_dir(&root)
        .map(|dir| {
            dir.flatten()
                .map(|e| e.path())
                .filter(|p| p.join("assignments.csv").is_file())
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    for dir in names {
        let Ok(data) = AccessData::load(&dir) else {
            continue;
        };
        let name = dir
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        group.bench_function(format!("hp/{name}"), |b| {
            b.iter(|| run(&data, MiningParams::default()))
        });
        let cover = MiningParams {
            method: MiningMethod::MinimalCover,
            ..MiningParams::default()
        };
        group.bench_function(format!("hp-cover/{name}"), |b| b.iter(|| run(&data, cover)));
    }
    group.finish();
}

fn planted(c: &mut Criterion) {
    let mut group = c.benchmark_group("planted");
    group
        .sample_size(10)
        .measurement_time(Duration::from_secs(20));
    let mut sizes = vec![10_000u32, 100_000];
    if std::env::var_os("ROLEMINE_BENCH_1M").is_some() {
        sizes.push(1_000_000);
    }
    for identities in sizes {
        let data = Planted::new(PlantedSpec::large(identities)).to_access_data();
        group.bench_with_input(BenchmarkId::from_parameter(identities), &data, |b, data| {
            b.iter(|| run(data, MiningParams::default()))
        });
    }
    group.finish();

    // Identities holding several roles (issue 12's scenarios).
    let mut group = c.benchmark_group("planted-overlap");
    group
        .sample_size(10)
        .measurement_time(Duration::from_secs(20));
    let scenarios = [
        (
            "5000-30pct",
            PlantedSpec {
                second_role_share: 0.3,
                ..PlantedSpec::default()
            },
        ),
        (
            "5000-everyone-2-or-3",
            PlantedSpec {
                roles: 30,
                second_role_share: 1.0,
                third_role_share: 0.3,
                ..PlantedSpec::default()
            },
        ),
        (
            "100000-300-roles-30pct",
            PlantedSpec {
                identities: 100_000,
                entitlements: 10_000,
                roles: 300,
                second_role_share: 0.3,
                ..PlantedSpec::default()
            },
        ),
    ];
    for (name, spec) in scenarios {
        let data = Planted::new(spec).to_access_data();
        group.bench_with_input(BenchmarkId::from_parameter(name), &data, |b, data| {
            b.iter(|| run(data, MiningParams::default()))
        });
    }
    group.finish();
}

fn phases(c: &mut Criterion) {
    let data = Planted::new(PlantedSpec::large(100_000)).to_access_data();
    let population: RoaringBitmap = (0..data.matrix.identities()).collect();
    let mut group = c.benchmark_group("phase");
    group
        .sample_size(10)
        .measurement_time(Duration::from_secs(10));

    let pairs: Vec<(u32, u32)> = (0..data.matrix.identities())
        .flat_map(|i| data.matrix.of_identity(i).iter().map(move |e| (i, e)))
        .collect();
    group.bench_function("build", |b| {
        b.iter(|| {
            let mut builder = AccessMatrixBuilder::new(0, 0);
            for &(i, e) in &pairs {
                builder.push(i, e);
            }
            builder.build().assignments()
        })
    });

    let select = || {
        Population::select(
            &data.matrix,
            population.clone(),
            RoleType::Specialized,
            80.0,
            20,
        )
    };
    group.bench_function("population", |b| {
        b.iter(|| select().map(|p| p.features.len()))
    });
    let Ok(selected) = select() else { return };
    group.bench_function("compression", |b| {
        b.iter(|| compress(&data.matrix, &selected).len())
    });
    let nodes = compress(&data.matrix, &selected);
    group.bench_function("similarity", |b| {
        b.iter(|| similar_pairs(&nodes, LOWEST, &Silent).map(|e| e.len()))
    });
    let Ok(edges) = similar_pairs(&nodes, LOWEST, &Silent) else {
        return;
    };
    group.bench_function("threshold_sweep", |b| {
        // Edges given at the lowest threshold are never searched again: one copy serves all.
        let mut given = Edges::given(edges.clone(), LOWEST);
        b.iter(|| prescribe(&nodes, &mut given, 20, LOWEST, &Silent).map(|p| p.threshold))
    });
    group.bench_function("clustering", |b| {
        b.iter(|| peer_groups(&nodes, &edges, 0.6).len())
    });

    let params = MiningParams::default();
    let input = MiningInput {
        matrix: &data.matrix,
        population: &population,
        existing_roles: &[],
        attributes: &data.attributes,
    };
    let Ok(result) = mine(input, params, &Silent) else {
        return;
    };
    let existing: Vec<RoaringBitmap> = data.roles.iter().map(|r| r.entitlements.clone()).collect();
    let excluded = RoaringBitmap::new();
    group.bench_function("metrics", |b| {
        b.iter(|| {
            result
                .roles
                .iter()
                .map(|r| {
                    RoleMetrics::compute(
                        r.members.len() as u32,
                        &r.entitlements,
                        &excluded,
                        &existing,
                    )
                    .quality as u64
                })
                .sum::<u64>()
        })
    });
    group.finish();
}

// criterion_group! defines an undocumented public function.
#[allow(missing_docs)]
mod group {
    use super::*;
    criterion_group!(benches, hp, planted, phases);
}
use group::benches;
criterion_main!(benches);
