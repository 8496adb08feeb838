//! Mining end to end: planted-role recovery, and `rolemine mine` / `rolemine generate` on files.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a failed test

use crate::support;

use std::path::{Path, PathBuf};

use crate::support::rolemine;
use rolemine_dataset::planted::{recovery, Planted, PlantedSpec};
use rolemine_engine::{MiningParams, RoleType, Silent};

/// The recovery target of issue 4: 5k identities, 40 roles of 4-12 entitlements, 3 % dropped,
/// ~2 extra entitlements per identity, default parameters.
#[test]
fn planted_roles_are_recovered_with_default_parameters() {
    let planted = Planted::new(PlantedSpec::default());
    let data = planted.to_access_data();
    let result = data.mine(MiningParams::default(), &Silent).unwrap();
    assert_recovered(&planted, &result, 0.98, 1.2, "default");
    // The existing roles are found again, and scored as not fresh.
    let stale = result
        .roles
        .iter()
        .filter(|r| r.metrics.freshness < 20)
        .count();
    assert_eq!(stale, planted.existing_roles().len());
}

/// A `SPECIALIZED` session's common access is one birthright role, typed `COMMON`, of the
/// identities holding it that no specialised role (whose type is the session's) grants it to.
#[test]
fn the_common_access_is_one_birthright_role_beside_the_specialised_ones() {
    let planted = Planted::new(PlantedSpec::default());
    let data = planted.to_access_data();
    let result = data.mine(MiningParams::default(), &Silent).unwrap();
    let (birthright, specialised): (Vec<_>, Vec<_>) = result
        .roles
        .iter()
        .partition(|role| role.role_type == RoleType::Common);
    assert_eq!(birthright.len(), 1, "one birthright role");
    let role = birthright[0];
    let mut planted_birthright = planted.birthright.clone();
    planted_birthright.sort_unstable();
    assert_eq!(
        role.definition.iter().collect::<Vec<u32>>(),
        planted_birthright
    );
    assert!(role.common_entitlements.is_empty());
    assert!(role.entitlements.iter().all(|stat| stat.common_access));
    assert!(specialised.iter().all(|role| role
        .definition
        .iter()
        .any(|e| !planted.birthright.contains(&e))));
    // Everyone holds the birthrights: the specialised roles grant them to their members, and
    // the birthright role is everyone else's (identities whose access fits no planted role).
    let granted: std::collections::BTreeSet<u32> = specialised
        .iter()
        .filter(|r| planted.birthright.iter().all(|e| r.definition.contains(*e)))
        .flat_map(|r| r.members.iter().copied())
        .collect();
    assert!(role.members.iter().all(|m| !granted.contains(m)));
    assert_eq!(
        granted.len() + role.members.len(),
        5_000,
        "{} members",
        role.members.len()
    );
    let common: u64 = 5_000 * planted.birthright.len() as u64;
    assert!(result.explained.explained >= common);
}

/// Asserts that at least `share` of the planted roles are recovered (a mined role's definition
/// has Jaccard >= 0.8 with it) with at most `ratio` times as many roles as planted.
fn assert_recovered(
    planted: &Planted,
    result: &rolemine_engine::MiningResult,
    share: f64,
    ratio: f64,
    context: &str,
) {
    let recovered = recovery(&planted.roles, &support::role_definitions(result), 0.8);
    assert!(recovered >= share, "{context}: recovered {recovered}");
    assert!(
        result.roles.len() as f64 <= ratio * planted.roles.len() as f64,
        "{context}: {} roles for {} planted",
        result.roles.len(),
        planted.roles.len()
    );
}

/// Mines `spec` on `threads` threads with default parameters.
fn mine_planted(spec: PlantedSpec, threads: usize) -> (Planted, rolemine_engine::MiningResult) {
    let planted = Planted::new(spec);
    let data = planted.to_access_data();
    let result = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .unwrap()
        .install(|| data.mine(MiningParams::default(), &Silent))
        .unwrap();
    (planted, result)
}

/// Issue 12's overlap scenario: 30 % of identities hold a second planted role, on four seeds;
/// the roles are recovered, not multiplied, and the same on one thread and four.
#[test]
fn planted_roles_are_recovered_when_identities_hold_two() {
    for seed in [42, 7, 1234, 99] {
        let spec = PlantedSpec {
            second_role_share: 0.3,
            seed,
            ..PlantedSpec::default()
        };
        let (planted, result) = mine_planted(spec, 4);
        assert_recovered(&planted, &result, 0.98, 1.2, &format!("seed {seed}"));
        // Identities holding two planted roles are members of both mined ones.
        let in_two = {
            let mut count = vec![0u32; spec.identities as usize];
            for role in &result.roles {
                for &m in &role.members {
                    count[m as usize] += 1;
                }
            }
            count.iter().filter(|&&c| c >= 2).count()
        };
        assert!(
            in_two as f64 >= 0.2 * f64::from(spec.identities),
            "seed {seed}: {in_two}"
        );
        if seed == 42 {
            let (_, one) = mine_planted(spec, 1);
            assert_eq!(one.roles, result.roles);
        }
    }
}

/// Everyone holds two or three planted roles (a departmental role, a site role, sometimes a
/// team role): no identity's access is one role's.
#[test]
fn planted_roles_are_recovered_when_everyone_holds_two_or_three() {
    let spec = PlantedSpec {
        roles: 30,
        second_role_share: 1.0,
        third_role_share: 0.3,
        ..PlantedSpec::default()
    };
    let (planted, result) = mine_planted(spec, 2);
    assert_recovered(&planted, &result, 0.9, 1.5, "two or three roles each");
}

/// Common access that not quite everyone holds (a birthright 85 % of identities have) is in
/// every role's definition and over-granted to the rest; that must not cost the roles.
#[test]
fn planted_roles_are_recovered_when_common_access_is_not_universal() {
    use rolemine_engine::{mine, AccessMatrixBuilder, MiningInput};
    let planted = Planted::new(PlantedSpec {
        roles: 100,
        ..PlantedSpec::default()
    });
    let data = planted.to_access_data();
    let identities = data.matrix.identities();
    let mut builder = AccessMatrixBuilder::new(identities, data.matrix.entitlements());
    for i in 0..identities {
        for e in data.matrix.of_identity(i) {
            // Every seventh identity or so lacks the birthright.
            if planted.birthright.contains(&e) && i * 37 % 100 >= 85 {
                continue;
            }
            builder.push(i, e);
        }
    }
    let matrix = builder.build();
    let population: roaring::RoaringBitmap = (0..identities).collect();
    let input = MiningInput {
        matrix: &matrix,
        population: &population,
        existing_roles: &[],
        attributes: &[],
    };
    let result = mine(input, MiningParams::default(), &Silent).unwrap();
    assert_recovered(&planted, &result, 0.95, 1.2, "birthright held by 85 %");
}

fn hp_datasets() -> PathBuf {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../datasets/hp");
    assert!(
        path.is_dir(),
        "the HP benchmark datasets are expected at {} (datasets/hp in the repository)",
        path.display()
    );
    path
}

fn zip_file(zip: &Path, name: &str) -> String {
    support::zip_entry(&std::fs::read(zip).unwrap(), name)
}

fn mine_cli(input: &Path, out: &Path, extra: &[&str]) -> serde_json::Value {
    let output = support::succeed(
        rolemine()
            .arg("mine")
            .arg(input)
            .arg("--out")
            .arg(out)
            .arg("--quiet")
            .args(extra),
    );
    let stdout = String::from_utf8(output.stdout).unwrap();
    assert_eq!(stdout.lines().count(), 1, "one summary line: {stdout}");
    serde_json::from_str(&stdout).unwrap()
}

/// Recomputes the summary's coverage from the zip's files and the input, by the definitions of
/// `contract/semantics.md`: a role's definition is the entitlements (common access included) at
/// least half its members hold; an assignment is explained when one of its identity's roles'
/// definitions holds it; an over-grant is a definition's pair its member does not hold.
fn assert_coverage_as_defined(
    name: &str,
    input: &Path,
    role_rows: &[Vec<String>],
    identities: &str,
    entitlements: &str,
    summary: &serde_json::Value,
) {
    use std::collections::{BTreeMap, BTreeSet};
    let held: BTreeSet<(String, String)> = std::fs::read_to_string(input.join("assignments.csv"))
        .unwrap()
        .lines()
        .skip(1)
        .filter_map(|l| l.split_once(','))
        .map(|(i, e)| (i.to_owned(), e.to_owned()))
        .collect();
    let size: BTreeMap<&str, u64> = role_rows
        .iter()
        .map(|r| (r[0].as_str(), r[3].parse().unwrap()))
        .collect();
    let mut definition: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for line in entitlements.lines().skip(1) {
        let fields: Vec<&str> = line.split(',').collect();
        let count: u64 = fields[5].parse().unwrap();
        if count * 2 >= size[fields[0]] {
            definition.entry(fields[0]).or_default().push(fields[1]);
        }
    }
    let mut granted: BTreeSet<(String, String)> = BTreeSet::new();
    for line in identities.lines().skip(1) {
        let (role, identity) = line.split_once(',').unwrap();
        for &entitlement in definition.get(role).into_iter().flatten() {
            granted.insert((identity.to_owned(), entitlement.to_owned()));
        }
    }
    let explained = granted.intersection(&held).count() as f64;
    let over_grants = granted.difference(&held).count() as u64;
    let percent = explained * 100.0 / held.len() as f64;
    assert!(
        (summary["assignmentsExplainedPercent"].as_f64().unwrap() - percent).abs() < 0.001,
        "{name}: {percent} vs {summary}"
    );
    assert_eq!(summary["overGrants"].as_u64(), Some(over_grants), "{name}");
}

#[test]
fn mine_succeeds_on_every_hp_dataset_and_writes_the_documented_zip() {
    let out = tempfile::tempdir().unwrap();
    for entry in std::fs::read_dir(hp_datasets()).unwrap() {
        let dir = entry.unwrap().path();
        if !dir.join("assignments.csv").is_file() {
            continue;
        }
        let name = dir.file_name().unwrap().to_string_lossy().into_owned();
        let zip = out.path().join(format!("{name}.zip"));
        let summary = mine_cli(&dir, &zip, &["--min-identities", "5"]);
        for key in [
            "roleCount",
            "prescribedPruneThreshold",
            "coverage",
            "assignmentsExplainedPercent",
            "overGrants",
            "identitiesInRolesPercent",
            "mineSeconds",
            "peakMemoryMiB",
        ] {
            assert!(
                !summary[key].is_null(),
                "{name}: summary lacks {key}: {summary}"
            );
        }
        let roles = zip_file(&zip, "potential_roles.csv");
        let mut lines = roles.lines();
        assert_eq!(
            lines.next(),
            Some("role_id,name,type,identity_count,entitlement_count,density,freshness,quality")
        );
        let role_rows: Vec<Vec<String>> = lines
            .map(|l| l.split(',').map(str::to_owned).collect())
            .collect();
        assert_eq!(
            role_rows.len() as u64,
            summary["roleCount"].as_u64().unwrap(),
            "{name}"
        );
        let members: u64 = role_rows.iter().map(|r| r[3].parse::<u64>().unwrap()).sum();
        let identities = zip_file(&zip, "role_identities.csv");
        assert!(identities.starts_with("role_id,identity_id\n"));
        assert_eq!(identities.lines().count() as u64 - 1, members, "{name}");
        let entitlements = zip_file(&zip, "role_entitlements.csv");
        assert!(entitlements.starts_with(
            "role_id,entitlement_id,entitlement_name,source_id,source_name,identity_count,popularity,popularity_in_org,common_access,in_definition\n"
        ));
        assert_coverage_as_defined(
            &name,
            &dir,
            &role_rows,
            &identities,
            &entitlements,
            &summary,
        );
        let file_summary: serde_json::Value =
            serde_json::from_str(&zip_file(&zip, "summary.json")).unwrap();
        assert_eq!(file_summary["type"], "SPECIALIZED");
        assert_eq!(file_summary["minNumIdentitiesInPotentialRole"], 5);
    }
}

#[test]
fn generate_then_mine_with_explicit_parameters() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    support::succeed(
        rolemine()
            .args(["generate", "--identities", "800", "--roles", "8", "--out"])
            .arg(&data),
    );
    for file in [
        "identities.csv",
        "entitlements.csv",
        "assignments.csv",
        "usage.csv",
        "roles.csv",
        "planted_roles.csv",
    ] {
        assert!(data.join(file).is_file(), "{file}");
    }
    let zip = dir.path().join("out.zip");
    let summary = mine_cli(
        &data,
        &zip,
        &["--prune-threshold", "60", "--min-identities", "10"],
    );
    assert_eq!(summary["pruneThreshold"], 60);
    assert_eq!(summary["usedPruneThreshold"], 60);
    // Eight specialised roles and the birthright role.
    assert_eq!(summary["roleCount"], 9);
    let common = mine_cli(
        &data,
        &dir.path().join("common.zip"),
        &["--type", "COMMON", "--min-identities", "10"],
    );
    assert_eq!(common["type"], "COMMON");
    // The three birthright entitlements are the common access: one role holding them all.
    assert_eq!(common["roleCount"], 1);
}

/// Runs `rolemine mine` expecting failure; returns stderr.
fn mine_fails(input: &Path) -> String {
    let out = tempfile::tempdir().unwrap();
    let stderr = support::fail(
        rolemine()
            .arg("mine")
            .arg(input)
            .arg("--out")
            .arg(out.path().join("x.zip")),
    );
    assert!(!out.path().join("x.zip").exists(), "no output on error");
    stderr
}

#[test]
fn mine_rejects_bad_input_with_positions() {
    let dir = tempfile::tempdir().unwrap();
    let missing = mine_fails(&dir.path().join("nope"));
    assert!(missing.contains("cannot open"), "{missing}");

    let empty_dir = dir.path().join("empty");
    std::fs::create_dir(&empty_dir).unwrap();
    let no_assignments = mine_fails(&empty_dir);
    assert!(
        no_assignments.contains("assignments.csv: the file is required but missing"),
        "{no_assignments}"
    );

    let bad = dir.path().join("bad");
    std::fs::create_dir(&bad).unwrap();
    std::fs::write(
        bad.join("identities.csv"),
        "id,department\nu1,Fin\nu1,Ops\n",
    )
    .unwrap();
    std::fs::write(
        bad.join("assignments.csv"),
        "identity_id,entitlement_id\nu1,e1\nu2,e1\n",
    )
    .unwrap();
    std::fs::write(
        bad.join("usage.csv"),
        "identity_id,source_id,usage_days\nu1,default,abc\nu1,default,91\n",
    )
    .unwrap();
    let text = mine_fails(&bad);
    for expected in [
        "identities.csv, line 3, column id: duplicate id \"u1\" (first on line 2)",
        "assignments.csv, line 3, column identity_id: unknown identity \"u2\" (not in identities.csv)",
        "usage.csv, line 2, column usage_days: must be a whole number from 0 to 90, got \"abc\"",
        "usage.csv, line 3, column usage_days: must be a whole number from 0 to 90, got \"91\"",
    ] {
        assert!(text.contains(expected), "missing {expected:?} in:\n{text}");
    }
    assert!(text.contains("4 errors in the input"), "{text}");

    let truncated = dir.path().join("truncated.zip");
    std::fs::write(&truncated, b"PK\x03\x04 not really a zip").unwrap();
    let text = mine_fails(&truncated);
    assert!(text.contains("not a readable zip archive"), "{text}");

    // An unknown method is refused before anything is read, naming the methods there are.
    let output = rolemine()
        .arg("mine")
        .arg(hp_datasets().join("healthcare"))
        .args(["--out", "x.zip", "--method", "smallest"])
        .output()
        .unwrap();
    assert!(!output.status.success());
    let text = String::from_utf8_lossy(&output.stderr);
    assert!(
        text.contains("invalid value 'smallest' for '--method <METHOD>'")
            && text.contains("peer-groups, minimal-cover"),
        "{text}"
    );
    // A minimal cover of an empty population is no roles, not a failure.
    let lonely = dir.path().join("lonely");
    std::fs::create_dir(&lonely).unwrap();
    std::fs::write(
        lonely.join("assignments.csv"),
        "identity_id,entitlement_id\n",
    )
    .unwrap();
    let summary = mine_cli(
        &lonely,
        &dir.path().join("lonely.zip"),
        &["--method", "minimal-cover"],
    );
    assert_eq!(summary["roleCount"], 0, "{summary}");
}

/// The best-known role counts of exact covers (datasets/hp/README.md), and what
/// `--method minimal-cover` finds at most: the best known everywhere (64 on firewall1, one
/// fewer than the published 65).
const COVER_BOUNDS: [(&str, u64, u64); 9] = [
    ("healthcare", 14, 14),
    ("domino", 20, 20),
    ("emea", 34, 34),
    ("apj", 453, 453),
    ("firewall1", 65, 64),
    ("firewall2", 10, 10),
    ("americas_small", 178, 178),
    ("americas_large", 398, 398),
    ("customer", 276, 276),
];

/// `--method minimal-cover` on every HP dataset: rebuilding the access from the zip's roles
/// (each member gets its role's `in_definition` entitlements) gives `assignments.csv` back
/// exactly, with as few roles as the bounds say.
#[test]
fn minimal_cover_rebuilds_every_hp_dataset_exactly() {
    use std::collections::{BTreeMap, BTreeSet};
    let out = tempfile::tempdir().unwrap();
    for (name, best_known, bound) in COVER_BOUNDS {
        let dir = hp_datasets().join(name);
        let zip = out.path().join(format!("{name}.zip"));
        let summary = mine_cli(&dir, &zip, &["--method", "minimal-cover"]);
        assert_eq!(summary["method"], "MINIMAL_COVER");
        let roles = summary["roleCount"].as_u64().unwrap();
        assert!(
            roles <= bound,
            "{name}: {roles} roles (best known {best_known})"
        );
        assert_eq!(summary["overGrants"], 0, "{name}");
        assert_eq!(summary["assignmentsExplainedPercent"], 100.0, "{name}");
        let mut definition: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for line in zip_file(&zip, "role_entitlements.csv").lines().skip(1) {
            let fields: Vec<&str> = line.split(',').collect();
            if fields[9] == "true" {
                definition
                    .entry(fields[0].to_owned())
                    .or_default()
                    .push(fields[1].to_owned());
            }
        }
        let mut rebuilt: BTreeSet<(String, String)> = BTreeSet::new();
        for line in zip_file(&zip, "role_identities.csv").lines().skip(1) {
            let (role, identity) = line.split_once(',').unwrap();
            for entitlement in &definition[role] {
                rebuilt.insert((identity.to_owned(), entitlement.clone()));
            }
        }
        let held: BTreeSet<(String, String)> = std::fs::read_to_string(dir.join("assignments.csv"))
            .unwrap()
            .lines()
            .skip(1)
            .filter_map(|l| l.split_once(','))
            .map(|(i, e)| (i.to_owned(), e.to_owned()))
            .collect();
        assert!(
            rebuilt == held,
            "{name}: the roles do not rebuild the access"
        );
        assert_eq!(definition.len() as u64, roles, "{name}");
    }
}

/// Without a terminal, long CLI work logs its progress (here every update, with
/// `ROLEMINE_PROGRESS_SECONDS=0`): generating, then loading, mining phase by phase and writing.
#[test]
fn generate_and_mine_log_progress_without_a_terminal() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let generated = support::succeed(
        rolemine()
            .args([
                "generate",
                "--identities",
                "30000",
                "--roles",
                "60",
                "--out",
            ])
            .arg(&data)
            .env("ROLEMINE_PROGRESS_SECONDS", "0"),
    );
    let log = String::from_utf8_lossy(&generated.stderr);
    assert!(log.contains("stage=generating"), "{log}");
    assert!(
        log.contains("progress") && log.contains("total=30000"),
        "{log}"
    );
    let mined = support::succeed(
        rolemine()
            .arg("mine")
            .arg(&data)
            .arg("--out")
            .arg(dir.path().join("out.zip"))
            .env("ROLEMINE_PROGRESS_SECONDS", "0"),
    );
    let log = String::from_utf8_lossy(&mined.stderr);
    for phase in [
        "loading",
        "population",
        "similarity",
        "clustering",
        "metrics",
        "insights",
        "writing",
    ] {
        assert!(log.contains(&format!("stage={phase}")), "{phase}: {log}");
    }
}
