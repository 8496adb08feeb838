//! Role insights on planted data: each role's attribute rules, the population's outliers and
//! its unexplained access, from the engine and in `rolemine mine`'s zip.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a failed test

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use crate::support::{
    assert_error_body, first_specialised, get, get_bytes, http, import_planted, json_response,
    mine_session, post, provisioned, role_summaries, rolemine, serve, succeed, Server,
    TestDatabase,
};
use roaring::RoaringBitmap;
use rolemine_dataset::planted::{OutlierKind, Planted, PlantedSpec};
use rolemine_engine::{MiningParams, MiningResult, Silent};
use serde_json::json;

/// For each planted role, the mined role whose definition matches it best, when their Jaccard
/// index is at least 0.8.
fn matches(planted: &Planted, result: &MiningResult) -> BTreeMap<usize, usize> {
    let definitions: Vec<RoaringBitmap> = crate::support::role_definitions(result)
        .into_iter()
        .map(|definition| definition.into_iter().collect())
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
    crate::support::zip_entry(&std::fs::read(zip).unwrap(), name)
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

/// GETs `path`; returns the status, `X-Total-Count` and the JSON body.
fn get_counted(server: &Server, bearer: &str, path: &str) -> (u16, Option<i64>, serde_json::Value) {
    let response = http()
        .get(format!("{}{path}", server.base))
        .header("Authorization", format!("Bearer {bearer}"))
        .call()
        .unwrap();
    let (status, total, body) = json_response(response, "X-Total-Count");
    (status, total.and_then(|t| t.parse().ok()), body)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn insights_are_served_exported_and_provisioned() {
    let db = TestDatabase::create().await;
    let spec = PlantedSpec {
        identities: 2_000,
        entitlements: 800,
        roles: 10,
        title_fidelity: 0.97,
        second_role_share: 0.0,
        outlier_share: 0.01,
        ..PlantedSpec::default()
    };
    let _files = import_planted(&db.url, spec);
    let (server, _, bearer) = serve(&db, &[("ROLEMINE_RATE_LIMIT", "1000".to_owned())]);
    let session = mine_session(
        &server,
        &bearer,
        &json!({"name": "insights", "minNumIdentitiesInPotentialRole": 20}),
    );
    let roles = role_summaries(&server, &bearer, &session);
    assert!(roles.len() >= 8, "{} roles", roles.len());

    // Rules: the best one selects, as session criteria, exactly the identities it reports.
    let role = first_specialised(&roles)["id"].as_str().unwrap();
    let (status, rules) = get(
        &server,
        &bearer,
        &format!("/rolemine/v1/potential-roles/{role}/rules"),
    );
    assert_eq!(status, 200, "{rules}");
    let best = &rules[0];
    assert_eq!(best["rank"], 1);
    assert!(
        best["criteria"].as_str().unwrap().starts_with("jobTitle:"),
        "{best}"
    );
    assert!(
        best["precision"].as_f64().unwrap() >= 0.9 && best["recall"].as_f64().unwrap() >= 0.9,
        "{best}"
    );
    assert_eq!(
        best["wouldAdd"].as_i64().unwrap() + best["membersMatched"].as_i64().unwrap(),
        best["matched"].as_i64().unwrap()
    );
    let selected = crate::support::create_session(
        &server,
        &bearer,
        &json!({"name": "by rule", "scope": {"criteria": best["criteria"]}}),
    );
    let selected = crate::support::mined(&server, &bearer, &selected);
    assert_eq!(selected["identityCount"], best["matched"], "{selected}");

    let (status, total, second) = get_counted(
        &server,
        &bearer,
        &format!("/rolemine/v1/potential-roles/{role}/rules?offset=1&limit=1&count=true"),
    );
    assert_eq!(status, 200, "{second}");
    assert_eq!(total, Some(rules.as_array().unwrap().len() as i64));
    assert_eq!(
        second.as_array().unwrap().first(),
        rules.as_array().unwrap().get(1)
    );
    let (status, bad) = get(
        &server,
        &bearer,
        &format!("/rolemine/v1/potential-roles/{role}/rules?sorters=rank"),
    );
    assert_eq!(status, 400, "{bad}");

    // Outliers: paged, highest first, filtered by attribute and by role.
    let (status, total, first) = get_counted(
        &server,
        &bearer,
        &format!("/rolemine/v1/role-mining-sessions/{session}/outliers?limit=50&count=true"),
    );
    assert_eq!(status, 200, "{first}");
    assert!(total.unwrap() >= 100, "{total:?}");
    let scores: Vec<f64> = first
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["score"].as_f64().unwrap())
        .collect();
    assert!(scores.windows(2).all(|w| w[0] >= w[1]), "{scores:?}");
    let outlier = &first[0];
    assert!(
        outlier["unusualCount"].as_i64().unwrap() + outlier["missingCount"].as_i64().unwrap() > 0
    );
    let department = outlier["attributes"]["department"].as_str().unwrap();
    let filters = percent_encode(&format!("identityAttribute co \"department:{department}\""));
    let (status, _, same) = get_counted(
        &server,
        &bearer,
        &format!("/rolemine/v1/role-mining-sessions/{session}/outliers?filters={filters}"),
    );
    assert_eq!(status, 200, "{same}");
    assert!(same
        .as_array()
        .unwrap()
        .iter()
        .all(|o| o["attributes"]["department"] == department));
    let (status, _, members) = get_counted(
        &server,
        &bearer,
        &format!("/rolemine/v1/role-mining-sessions/{session}/outliers?potentialRoleId={role}&sorters=score"),
    );
    assert_eq!(status, 200, "{members}");
    let members = members.as_array().unwrap();
    assert!(members.iter().all(|o| o["potentialRoleIds"]
        .as_array()
        .unwrap()
        .iter()
        .any(|r| r == role)));
    assert!(members
        .windows(2)
        .all(|w| w[0]["score"].as_f64() <= w[1]["score"].as_f64()));
    let (status, bad) = get(
        &server,
        &bearer,
        &format!("/rolemine/v1/role-mining-sessions/{session}/outliers?sorters=name"),
    );
    assert_eq!(status, 400);
    assert_error_body(&bad, "400.1 Bad request content", "name");

    // Unexplained access: the assignments the session's explained share leaves.
    let (_, counts) = get(&server, &bearer, "/rolemine/v1/access-data");
    let mut unexplained = 0i64;
    let mut offset = 0;
    loop {
        let (status, _, page) = get_counted(
            &server,
            &bearer,
            &format!("/rolemine/v1/role-mining-sessions/{session}/unexplained-access?limit=250&offset={offset}"),
        );
        assert_eq!(status, 200, "{page}");
        let page = page.as_array().unwrap().clone();
        for item in &page {
            let count = item["identityCount"].as_i64().unwrap();
            assert!(item["unusedIdentityCount"].as_i64().unwrap() <= count);
            assert_eq!(
                item["identities"].as_array().unwrap().len() as i64,
                count.min(100)
            );
            unexplained += count;
        }
        if page.len() < 250 {
            break;
        }
        offset += 250;
    }
    let (_, mined) = get(
        &server,
        &bearer,
        &format!("/beta/role-mining-sessions/{session}"),
    );
    let assignments = counts["assignments"].as_f64().unwrap();
    let explained = mined["assignmentsExplainedPercent"].as_f64().unwrap();
    let share = 100.0 * unexplained as f64 / assignments;
    assert!(
        (share + explained - 100.0).abs() < 1e-6,
        "{share} + {explained}"
    );

    // The session's insights export: every rule, the outliers, all unexplained holders.
    let (status, _, zip) = get_bytes(
        &server.base,
        &bearer,
        &format!("/rolemine/v1/role-mining-sessions/{session}/insights/export"),
    );
    assert_eq!(status, 200);
    let read = |name: &str| crate::support::zip_entry(&zip, name);
    let exported_rules = read("rules.csv");
    assert!(exported_rules.contains(
        best["criteria"]
            .as_str()
            .unwrap()
            .split('"')
            .nth(1)
            .unwrap()
    ));
    assert_eq!(
        read("outliers.csv").lines().count() as i64 - 1,
        total.unwrap()
    );
    let holders: i64 = csv::Reader::from_reader(read("unexplained.csv").as_bytes())
        .records()
        .map(|r| r.unwrap()[4].parse::<i64>().unwrap())
        .sum();
    assert_eq!(holders, unexplained);

    // Compare: the same mining twice matches every role, unchanged; a stricter minimum loses some.
    let again = mine_session(
        &server,
        &bearer,
        &json!({"name": "again", "minNumIdentitiesInPotentialRole": 20}),
    );
    let (status, comparison) = get(
        &server,
        &bearer,
        &format!("/rolemine/v1/role-mining-sessions/{session}/compare/{again}"),
    );
    assert_eq!(status, 200, "{comparison}");
    assert_eq!(comparison["matched"].as_array().unwrap().len(), roles.len());
    assert!(
        comparison["new"].as_array().unwrap().is_empty()
            && comparison["gone"].as_array().unwrap().is_empty()
    );
    assert!(comparison["matched"]
        .as_array()
        .unwrap()
        .iter()
        .all(|m| m["change"] == "UNCHANGED" && m["jaccard"] == 1.0));
    let smallest = roles
        .iter()
        .map(|r| r["identityCount"].as_i64().unwrap())
        .min()
        .unwrap();
    let fewer = mine_session(
        &server,
        &bearer,
        &json!({"name": "fewer", "minNumIdentitiesInPotentialRole": smallest + 1}),
    );
    let (_, comparison) = get(
        &server,
        &bearer,
        &format!("/rolemine/v1/role-mining-sessions/{session}/compare/{fewer}"),
    );
    assert!(
        !comparison["gone"].as_array().unwrap().is_empty(),
        "{comparison}"
    );

    // The role's export carries its rules and outliers.
    let (status, _, zip) = get_bytes(
        &server.base,
        &bearer,
        &format!("/beta/role-mining-sessions/{session}/potential-roles/{role}/export"),
    );
    assert_eq!(status, 200);
    let text = crate::support::zip_entry(&zip, "rules.csv");
    assert!(text.lines().nth(1).unwrap().contains(
        best["criteria"]
            .as_str()
            .unwrap()
            .split(':')
            .next()
            .unwrap()
    ));
    let text = crate::support::zip_entry(&zip, "outliers.csv");
    assert_eq!(text.lines().count() - 1, members.len());

    // Provisioning takes the best rule as the role's membership criteria.
    let (status, body) = post(
        &server,
        &bearer,
        &format!("/beta/role-mining-sessions/{session}/potential-roles/{role}/provision"),
        &json!({"membershipFromRule": true}).to_string(),
        "application/json",
    );
    assert_eq!(status, 202, "{body}");
    let done = provisioned(&server, &bearer, role);
    assert_eq!(done["provisionState"], "COMPLETE", "{done}");
    let (_, made) = get(
        &server,
        &bearer,
        &format!("/rolemine/v1/roles/{}", done["roleId"].as_str().unwrap()),
    );
    assert_eq!(made["membershipCriteria"], best["criteria"], "{made}");

    // Bad ids, unknown sessions and roles, a session not mined yet.
    let unknown = "00000000-0000-0000-0000-000000000000";
    for path in [
        format!("/rolemine/v1/potential-roles/{unknown}/rules"),
        "/rolemine/v1/potential-roles/not-an-id/rules".to_owned(),
        format!("/rolemine/v1/role-mining-sessions/{unknown}/outliers"),
        format!("/rolemine/v1/role-mining-sessions/{unknown}/unexplained-access"),
        format!("/rolemine/v1/role-mining-sessions/{session}/compare/{unknown}"),
        format!("/rolemine/v1/role-mining-sessions/{session}/outliers?potentialRoleId={unknown}"),
    ] {
        let (status, body) = get(&server, &bearer, &path);
        assert_eq!(status, 404, "{path}: {body}");
        assert_error_body(&body, "404 Not found", "not found");
    }
    drop(server);
    let (idle, _, idle_bearer) = serve(&db, &[("ROLEMINE_NO_WORKER", "true".to_owned())]);
    let pending = crate::support::create_session(&idle, &idle_bearer, &json!({"name": "pending"}));
    for path in [
        format!("/rolemine/v1/role-mining-sessions/{pending}/outliers"),
        format!("/rolemine/v1/role-mining-sessions/{pending}/unexplained-access"),
        format!("/rolemine/v1/role-mining-sessions/{session}/compare/{pending}"),
        format!("/rolemine/v1/role-mining-sessions/{pending}/insights/export"),
    ] {
        let (status, body) = get(&idle, &idle_bearer, &path);
        assert_eq!(status, 400, "{path}: {body}");
        assert_error_body(
            &body,
            "400.1 Bad request content",
            "no mined potential roles yet",
        );
    }
    drop(idle);
    db.drop_database().await;
}

fn percent_encode(text: &str) -> String {
    url::form_urlencoded::byte_serialize(text.as_bytes()).collect()
}
