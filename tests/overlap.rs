//! Overlapping potential roles and the `MINIMAL_COVER` method through the API: an identity in
//! two roles is counted, listed, exported and provisioned in each; a session's `method` is
//! stored, changed by PATCH (which mines again) and refused when unknown.

use std::collections::{BTreeMap, BTreeSet};

use rolemine_dataset::planted::PlantedSpec;
use rolemine_dataset::AccessData;
use rolemine_engine::{MiningMethod, MiningParams, Silent};
use serde_json::{json, Value};

use crate::support::{
    assert_error_body, get, get_bytes, import_planted, mine_session, mined, patch_session, post,
    provisioned, serve, Server, TestDatabase,
};

/// 3,000 identities, 16 planted roles, 30 % of identities with a second role.
fn overlapping() -> PlantedSpec {
    PlantedSpec {
        identities: 3000,
        entitlements: 800,
        roles: 16,
        existing_role_share: 0.0,
        second_role_share: 0.3,
        ..PlantedSpec::default()
    }
}

/// Each potential role of the session: id → its member identity ids.
fn members_by_role(server: &Server, bearer: &str, session: &str) -> BTreeMap<String, Vec<String>> {
    let mut summaries: Vec<Value> = Vec::new();
    loop {
        let (status, page) = get(
            server,
            bearer,
            &format!(
                "/beta/role-mining-sessions/{session}/potential-role-summaries?limit=250&offset={}",
                summaries.len()
            ),
        );
        assert_eq!(status, 200, "{page}");
        let page = page.as_array().unwrap();
        summaries.extend(page.iter().cloned());
        if page.len() < 250 {
            break;
        }
    }
    summaries
        .iter()
        .map(|summary| {
            let id = summary["id"].as_str().unwrap().to_owned();
            let (status, detail) = get(
                server,
                bearer,
                &format!("/beta/role-mining-potential-roles/{id}"),
            );
            assert_eq!(status, 200, "{detail}");
            let members: Vec<String> = detail["identityIds"]
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_str().unwrap().to_owned())
                .collect();
            assert_eq!(summary["identityCount"], members.len(), "{summary}");
            (id, members)
        })
        .collect()
}

/// The identity ids in a potential role's synchronous export.
fn exported_identities(server: &Server, bearer: &str, session: &str, role: &str) -> Vec<String> {
    let path = format!("/beta/role-mining-sessions/{session}/potential-roles/{role}/export");
    let (status, _, bytes) = get_bytes(&server.base, bearer, &path);
    assert_eq!(status, 200);
    let text = crate::support::zip_entry(&bytes, "identities.csv");
    text.lines()
        .skip(1)
        .map(|line| line.split(',').next().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn an_identity_in_two_roles_is_counted_listed_exported_and_provisioned_in_each() {
    let db = TestDatabase::create().await;
    let dir = import_planted(&db.url, overlapping());
    let data = AccessData::load(dir.path()).unwrap();
    // Many reads in a row: not the rate limit's test.
    let (server, _, bearer) = serve(&db, &[("ROLEMINE_RATE_LIMIT", "1000".to_owned())]);
    let session = mine_session(
        &server,
        &bearer,
        &json!({"minNumIdentitiesInPotentialRole": 20}),
    );
    let (_, detail) = get(
        &server,
        &bearer,
        &format!("/beta/role-mining-sessions/{session}"),
    );
    let expected = data.mine(MiningParams::default(), &Silent).unwrap();
    assert_eq!(detail["method"], "PEER_GROUPS");
    assert_eq!(detail["potentialRoleCount"], expected.roles.len());
    assert_eq!(detail["overGrants"], expected.explained.over_grants);
    let explained = detail["assignmentsExplainedPercent"].as_f64().unwrap();
    assert!((explained - expected.explained.explained_percent()).abs() < 1e-6);

    let roles = members_by_role(&server, &bearer, &session);
    // Who is in which roles, as the engine found them.
    let mut roles_of: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for (role, members) in &roles {
        for member in members {
            roles_of.entry(member).or_default().push(role);
        }
    }
    let in_two = roles_of.values().filter(|r| r.len() >= 2).count();
    let engine_in_two = {
        let mut count = vec![0u32; data.matrix.identities() as usize];
        for role in &expected.roles {
            for &m in &role.members {
                count[m as usize] += 1;
            }
        }
        count.iter().filter(|&&c| c >= 2).count()
    };
    assert_eq!(in_two, engine_in_two);
    assert!(in_two > 300, "{in_two} identities in two roles");
    let (shared, both) = roles_of
        .iter()
        .find(|(_, roles)| roles.len() >= 2)
        .map(|(identity, roles)| {
            (
                identity.to_string(),
                [roles[0].to_owned(), roles[1].to_owned()],
            )
        })
        .unwrap();

    for role in &both {
        // Listed on each role's identities pages.
        let mut listed = Vec::new();
        loop {
            let (status, page) = get(
                &server,
                &bearer,
                &format!(
                    "/beta/role-mining-sessions/{session}/potential-roles/{role}/identities?limit=250&offset={}",
                    listed.len()
                ),
            );
            assert_eq!(status, 200, "{page}");
            let page = page.as_array().unwrap();
            listed.extend(page.iter().map(|i| i["id"].as_str().unwrap().to_owned()));
            if page.len() < 250 {
                break;
            }
        }
        listed.sort();
        let mut members = roles[role].clone();
        members.sort();
        assert_eq!(listed, members, "{role}");
        assert!(listed.contains(&shared));
        // Exported with each.
        assert!(exported_identities(&server, &bearer, &session, role).contains(&shared));
        // Provisioned with each: an assignment request per role.
        let (status, pending) = post(
            &server,
            &bearer,
            &format!("/beta/role-mining-sessions/{session}/potential-roles/{role}/provision"),
            &json!({"includeIdentities": true}).to_string(),
            "application/json",
        );
        assert_eq!(status, 202, "{pending}");
        let done = provisioned(&server, &bearer, role);
        assert_eq!(done["provisionState"], "COMPLETE", "{done}");
        let (_, stored) = get(
            &server,
            &bearer,
            &format!("/rolemine/v1/roles/{}", done["roleId"].as_str().unwrap()),
        );
        let requested: BTreeSet<&str> = stored["assignmentRequests"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["identityId"].as_str().unwrap())
            .collect();
        assert!(requested.contains(shared.as_str()), "{role}");
        assert_eq!(requested.len(), roles[role].len());
    }
    assert!(server.terminate().success());
    db.drop_database().await;
}

#[tokio::test]
async fn a_minimal_cover_session_explains_everything_and_its_method_is_patchable() {
    let db = TestDatabase::create().await;
    let dir = import_planted(
        &db.url,
        PlantedSpec {
            identities: 600,
            ..overlapping()
        },
    );
    let data = AccessData::load(dir.path()).unwrap();
    // Many reads in a row: not the rate limit's test.
    let (server, _, bearer) = serve(&db, &[("ROLEMINE_RATE_LIMIT", "1000".to_owned())]);

    // An unknown method is refused, naming the field and the values.
    let (status, body) = post(
        &server,
        &bearer,
        "/beta/role-mining-sessions",
        &json!({"method": "SMALLEST"}).to_string(),
        "application/json",
    );
    assert_eq!(status, 400, "{body}");
    assert_error_body(&body, "400.1 Bad request content", "method");

    let session = mine_session(&server, &bearer, &json!({"method": "MINIMAL_COVER"}));
    let (_, detail) = get(
        &server,
        &bearer,
        &format!("/beta/role-mining-sessions/{session}"),
    );
    let expected = data
        .mine(
            MiningParams {
                method: MiningMethod::MinimalCover,
                ..MiningParams::default()
            },
            &Silent,
        )
        .unwrap();
    assert_eq!(detail["method"], "MINIMAL_COVER");
    assert_eq!(detail["potentialRoleCount"], expected.roles.len());
    assert_eq!(detail["assignmentsExplainedPercent"], 100.0);
    assert_eq!(detail["overGrants"], 0);
    assert_eq!(detail["identitiesInRolesPercent"], 100.0);
    let roles = members_by_role(&server, &bearer, &session);
    let mut stored: Vec<usize> = roles.values().map(Vec::len).collect();
    let mut sizes: Vec<usize> = expected.roles.iter().map(|r| r.members.len()).collect();
    stored.sort_unstable();
    sizes.sort_unstable();
    assert_eq!(stored, sizes);

    // PATCH /method mines again with the other method; a bad value is refused.
    let patch = |body: Value| patch_session(&server, &bearer, &session, body);
    let (status, body) = patch(json!([{"op": "replace", "path": "/method", "value": "SOMETHING"}]));
    assert_eq!(status, 400, "{body}");
    assert_error_body(
        &body,
        "400.1 Bad request content",
        "PEER_GROUPS, MINIMAL_COVER",
    );
    let (status, body) =
        patch(json!([{"op": "replace", "path": "/method", "value": "PEER_GROUPS"}]));
    assert_eq!(status, 202, "{body}");
    assert_eq!(body["method"], "PEER_GROUPS");
    assert_eq!(body["status"]["state"], "UPDATED");
    let remined = mined(&server, &bearer, &session);
    let peer_groups = data.mine(MiningParams::default(), &Silent).unwrap();
    assert_eq!(remined["potentialRoleCount"], peer_groups.roles.len());
    assert!(server.terminate().success());
    db.drop_database().await;
}
