//! Role insights on planted data: each role's attribute rules, the population's outliers and
//! its unexplained access, from the engine and in `rolemine mine`'s zip.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a failed test

use std::collections::{BTreeMap, BTreeSet};
use std::io::Read;
use std::path::Path;

use crate::support::{rolemine, succeed};
use roaring::RoaringBitmap;
use rolemine_dataset::planted::{OutlierKind, Planted, PlantedSpec};
use rolemine_engine::metrics::is_defining;
use rolemine_engine::{MiningParams, MiningResult, Silent};

/// For each planted role, the mined role whose definition matches it best, when their Jaccard
/// index is at least 0.8.
fn matches(planted: &Planted, result: &MiningResult) -> BTreeMap<usize, usize> {
    let definitions: Vec<RoaringBitmap> = result
        .roles
        .iter()
        .map(|role| {
            let members = role.members.len() as u32;
            role.entitlements
                .iter()
                .filter(|s| is_defining(s.identity_count, members))
                .map(|s| s.entitlement)
                .collect()
        })
        .collect();
    let mut found = BTreeMap::new();
    for (p, role) in planted.roles.iter().enumerate() {
        let role: RoaringBitmap = role.iter().copied().collect();
        let best = definitions
            .iter()
            .enumerate()
            .map(|(m, d)| {
                (
                    d.intersection_len(&role) as f64 / d.union_len(&role).max(1) as f64,
                    m,
                )
            })
            .max_by(|a, b| a.0.total_cmp(&b.0));
        if let Some((jaccard, m)) = best.filter(|(j, _)| *j >= 0.8) {
            let _ = jaccard;
            found.insert(p, m);
        }
    }
    found
}

#[test]
fn the_best_rule_of_a_role_generated_from_attributes_is_the_planted_one() {
    let planted = Planted::new(PlantedSpec {
        title_fidelity: 0.97,
        second_role_share: 0.0,
        ..PlantedSpec::default()
    });
    let result = planted
        .to_access_data()
        .mine(MiningParams::default(), &Silent)
        .unwrap();
    let matched = matches(&planted, &result);
    assert!(
        matched.len() as f64 >= 0.98 * planted.roles.len() as f64,
        "{}",
        matched.len()
    );
    let mut right = 0;
    for (&p, &m) in &matched {
        let best = &result.roles[m].rules[0];
        if best.criteria() == planted.rule(p) {
            right += 1;
            assert!(
                best.precision() >= 0.9 && best.recall() >= 0.9,
                "planted role {p}: {} precision {} recall {}",
                best.criteria(),
                best.precision(),
                best.recall()
            );
        }
    }
    let share = f64::from(right) / matched.len() as f64;
    println!(
        "planted rule best for {right} of {} recovered roles",
        matched.len()
    );
    assert!(
        share >= 0.95,
        "the planted rule is best for {right} of {} roles",
        matched.len()
    );
}

#[test]
fn planted_outliers_rank_in_the_top_two_percent() {
    let spec = PlantedSpec {
        outlier_share: 0.01,
        ..PlantedSpec::default()
    };
    let planted = Planted::new(spec);
    let outliers: Vec<(u32, OutlierKind)> = (0..spec.identities)
        .filter_map(|i| planted.identity(i).outlier.map(|kind| (i, kind)))
        .collect();
    assert!(outliers.len() >= 30, "{} planted outliers", outliers.len());
    let result = planted
        .to_access_data()
        .mine(MiningParams::default(), &Silent)
        .unwrap();
    let top = (f64::from(spec.identities) * 0.02) as usize;
    let ranked: BTreeSet<u32> = result
        .outliers
        .iter()
        .take(top)
        .map(|o| o.identity)
        .collect();
    for kind in [OutlierKind::ForeignAccess, OutlierKind::Stripped] {
        let of_kind: Vec<u32> = outliers
            .iter()
            .filter(|(_, k)| *k == kind)
            .map(|(i, _)| *i)
            .collect();
        let found = of_kind.iter().filter(|i| ranked.contains(i)).count();
        println!(
            "{kind:?}: {found} of {} in the top {top} of {}",
            of_kind.len(),
            spec.identities
        );
        assert!(
            found as f64 >= 0.9 * of_kind.len() as f64,
            "{kind:?}: {found} of {} in the top {top}",
            of_kind.len()
        );
    }
}

fn zip_text(zip: &Path, name: &str) -> String {
    let mut archive = zip::ZipArchive::new(std::fs::File::open(zip).unwrap()).unwrap();
    let mut text = String::new();
    archive
        .by_name(name)
        .unwrap()
        .read_to_string(&mut text)
        .unwrap();
    text
}

#[test]
fn the_batch_zip_carries_rules_outliers_and_unexplained_access() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    succeed(
        rolemine()
            .args(["generate", "--identities", "3000", "--roles", "20", "--out"])
            .arg(&data),
    );
    let zip = dir.path().join("out.zip");
    let output = succeed(
        rolemine()
            .arg("mine")
            .arg(&data)
            .arg("--out")
            .arg(&zip)
            .arg("--quiet"),
    );
    let summary: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();

    let rules = zip_text(&zip, "rules.csv");
    let mut reader = csv::Reader::from_reader(rules.as_bytes());
    let headers = reader.headers().unwrap().clone();
    assert_eq!(&headers[2], "rule");
    let rows: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
    let best: Vec<&csv::StringRecord> = rows.iter().filter(|r| &r[1] == "1").collect();
    assert_eq!(best.len() as u64, summary["roleCount"].as_u64().unwrap());
    assert!(best
        .iter()
        .all(|r| r[2].starts_with("jobTitle:") || r[2].contains(':')));

    // Unexplained access is what the summary says is not explained.
    let unexplained = zip_text(&zip, "unexplained.csv");
    let mut reader = csv::Reader::from_reader(unexplained.as_bytes());
    let total: u64 = reader
        .records()
        .map(|r| {
            let r = r.unwrap();
            let count: u64 = r[4].parse().unwrap();
            assert_eq!(r[6].split(' ').count() as u64, count);
            assert!(r[5].parse::<u64>().unwrap() <= count);
            count
        })
        .sum();
    let expected = summary["populationAssignments"].as_u64().unwrap()
        - summary["explainedAssignments"].as_u64().unwrap();
    assert_eq!(total, expected);
    assert_eq!(
        summary["unexplainedAssignments"].as_u64().unwrap(),
        expected
    );
    let percent = 100.0 * total as f64 / summary["populationAssignments"].as_f64().unwrap();
    let explained = summary["assignmentsExplainedPercent"].as_f64().unwrap();
    assert!(
        (percent + explained - 100.0).abs() < 0.01,
        "{percent} + {explained}"
    );

    let outliers = zip_text(&zip, "outliers.csv");
    let mut reader = csv::Reader::from_reader(outliers.as_bytes());
    let scores: Vec<f64> = reader
        .records()
        .map(|r| r.unwrap()[2].parse().unwrap())
        .collect();
    assert_eq!(scores.len() as u64, summary["outliers"].as_u64().unwrap());
    assert!(scores.windows(2).all(|w| w[0] >= w[1]));
}
