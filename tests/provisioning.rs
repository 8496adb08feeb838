//! Provisioning potential roles into roles: directly assigned entitlements or one access
//! profile per source, with or without assignment requests, the failure path, idempotence, and
//! provisioned roles counting as existing roles for later sessions.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a failed test

use crate::support;

use std::collections::BTreeSet;

use crate::support::{
    assert_contract_shape, assert_error_body, get, import_planted, mine_session, post, provisioned,
    role_summaries, serve, specialised, TestDatabase,
};
use rolemine_dataset::planted::PlantedSpec;
use serde_json::{json, Value};
use sqlx::PgPool;

/// The entitlement ids the role should grant, from the tables.
async fn expected(pool: &PgPool, role: &str, min: f64, common: bool) -> BTreeSet<String> {
    sqlx::query_scalar(
        "SELECT e.ext_id FROM potential_role_entitlements pre
           JOIN entitlements e ON e.id = pre.entitlement_id
          WHERE pre.potential_role_id = $1::uuid AND NOT pre.excluded
            AND pre.popularity >= $2 AND ($3 OR NOT pre.common_access)",
    )
    .bind(role)
    .bind(min)
    .bind(common)
    .fetch_all(pool)
    .await
    .unwrap()
    .into_iter()
    .collect()
}

fn ids(values: &Value, field: &str) -> BTreeSet<String> {
    values
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v[field].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn potential_roles_provision_into_readable_roles() {
    let db = TestDatabase::create().await;
    import_planted(
        &db.url,
        PlantedSpec {
            identities: 2000,
            entitlements: 600,
            roles: 10,
            existing_role_share: 0.0,
            // Some identities lose half their role, so no role grants them the birthrights:
            // they have the birthright role.
            outlier_share: 0.1,
            ..PlantedSpec::default()
        },
    );
    let pool = db.pool().await;
    let (server, _, bearer) = serve(&db, &[]);
    let create = json!({"minNumIdentitiesInPotentialRole": 20});
    let session = mine_session(&server, &bearer, &create);
    let summaries = role_summaries(&server, &bearer, &session);
    // The birthright role grants common access only; the filters below need specialised roles.
    let roles = specialised(&summaries);
    assert!(roles.len() >= 4, "{summaries:?}");
    let role_id = |i: usize| roles[i]["id"].as_str().unwrap().to_owned();
    let provision = |role: &str, query: &str, body: Value| {
        post(
            &server,
            &bearer,
            &format!(
                "/beta/role-mining-sessions/{session}/potential-roles/{role}/provision{query}"
            ),
            &body.to_string(),
            "application/json",
        )
    };

    // Directly assigned, with assignment requests, filtered.
    let first = role_id(0);
    let (_, first_detail) = get(
        &server,
        &bearer,
        &format!("/beta/role-mining-potential-roles/{first}"),
    );
    let owner = first_detail["identityIds"][0].as_str().unwrap().to_owned();
    let (status, pending) = provision(
        &first,
        "?min-entitlement-popularity=30&include-common-access=false",
        json!({"roleName": "Finance analysts", "roleDescription": "From mining", "ownerId": owner,
               "includeIdentities": true, "directlyAssignedEntitlements": true}),
    );
    assert_eq!(status, 202, "{pending}");
    assert_contract_shape("createPotentialRoleProvisionRequest", 202, &pending);
    assert_eq!(pending["provisionState"], "PENDING");
    let done = provisioned(&server, &bearer, &first);
    assert_eq!(done["provisionState"], "COMPLETE", "{done}");
    let role = done["roleId"].as_str().unwrap().to_owned();
    let (status, stored) = get(&server, &bearer, &format!("/rolemine/v1/roles/{role}"));
    assert_eq!(status, 200, "{stored}");
    assert_eq!(stored["name"], "Finance analysts");
    assert_eq!(stored["description"], "From mining");
    assert_eq!(stored["ownerId"], owner.as_str());
    assert_eq!(stored["origin"], "PROVISIONED");
    assert_eq!(stored["potentialRoleId"], first.as_str());
    let wanted = expected(&pool, &first, 30.0, false).await;
    assert!(!wanted.is_empty());
    assert_eq!(ids(&stored["entitlements"], "id"), wanted);
    assert_eq!(stored["accessProfiles"], json!([]));
    let requested: BTreeSet<String> = ids(&stored["assignmentRequests"], "identityId");
    let members: BTreeSet<String> = first_detail["identityIds"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_owned())
        .collect();
    assert_eq!(requested, members);

    // A second request for a provisioned role is refused.
    let (status, body) = provision(&first, "", json!({}));
    assert_eq!(status, 400, "{body}");
    assert_error_body(&body, "400.1 Bad request content", "already provisioned");

    // One access profile per source, no identities.
    let second = role_id(1);
    let (status, _) = provision(&second, "", json!({"directlyAssignedEntitlements": false}));
    assert_eq!(status, 202);
    let done = provisioned(&server, &bearer, &second);
    assert_eq!(done["provisionState"], "COMPLETE", "{done}");
    let (_, stored) = get(
        &server,
        &bearer,
        &format!("/rolemine/v1/roles/{}", done["roleId"].as_str().unwrap()),
    );
    assert_eq!(stored["entitlements"], json!([]));
    assert_eq!(stored["assignmentRequests"], json!([]));
    assert_eq!(stored["name"], roles[1]["name"]);
    let profiles = stored["accessProfiles"].as_array().unwrap();
    let mut granted = BTreeSet::new();
    let mut sources = BTreeSet::new();
    for profile in profiles {
        let source = profile["sourceId"].as_str().unwrap();
        assert!(
            sources.insert(source.to_owned()),
            "two profiles for {source}"
        );
        for entitlement in profile["entitlements"].as_array().unwrap() {
            assert_eq!(entitlement["sourceId"], source);
            granted.insert(entitlement["id"].as_str().unwrap().to_owned());
        }
    }
    assert_eq!(granted, expected(&pool, &second, 0.0, true).await);

    // An unknown owner fails the request with its reason and creates nothing; a corrected
    // request then succeeds.
    let third = role_id(2);
    let roles_before: i64 = sqlx::query_scalar("SELECT count(*) FROM roles")
        .fetch_one(&pool)
        .await
        .unwrap();
    let (status, _) = provision(
        &third,
        "",
        json!({"ownerId": "nobody-has-this-id", "includeIdentities": true}),
    );
    assert_eq!(status, 202);
    let failed = provisioned(&server, &bearer, &third);
    assert_eq!(failed["provisionState"], "FAILED", "{failed}");
    assert!(
        failed["provisionFailureMessage"]
            .as_str()
            .unwrap()
            .contains("nobody-has-this-id"),
        "{failed}"
    );
    for table in ["roles", "access_profiles", "role_assignment_requests"] {
        let rows: i64 = sqlx::query_scalar(&format!(
            "SELECT count(*) FROM {table} WHERE {} ",
            if table == "roles" {
                "potential_role_id = $1::uuid"
            } else {
                "role_id IN (SELECT id FROM roles WHERE potential_role_id = $1::uuid)"
            }
        ))
        .bind(&third)
        .fetch_one(&pool)
        .await
        .unwrap();
        assert_eq!(rows, 0, "{table}");
    }
    let roles_after: i64 = sqlx::query_scalar("SELECT count(*) FROM roles")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(roles_after, roles_before);
    let (status, _) = provision(&third, "", json!({}));
    assert_eq!(status, 202);
    assert_eq!(
        provisioned(&server, &bearer, &third)["provisionState"],
        "COMPLETE"
    );

    // Listed, with a count.
    let response = support::http()
        .get(format!("{}/rolemine/v1/roles?count=true", server.base))
        .header("Authorization", format!("Bearer {bearer}"))
        .call()
        .unwrap();
    let (status, total, listed) = support::json_response(response, "X-Total-Count");
    assert_eq!(status, 200);
    assert_eq!(total.as_deref(), Some("3"));
    assert_eq!(listed.as_array().unwrap().len(), 3);

    // Provisioned roles are existing roles for the freshness of later sessions.
    let again = mine_session(&server, &bearer, &create);
    let remined = specialised(&role_summaries(&server, &bearer, &again));
    for (before, after) in roles.iter().zip(&remined).take(3) {
        assert_eq!(before["identityCount"], after["identityCount"]);
        assert!(
            after["freshness"].as_i64().unwrap() < before["freshness"].as_i64().unwrap(),
            "{before} vs {after}"
        );
    }

    // Bad input.
    let fourth = role_id(3);
    for (query, body, text) in [
        (
            "?min-entitlement-popularity=200",
            json!({}),
            "min-entitlement-popularity",
        ),
        (
            "?include-common-access=maybe",
            json!({}),
            "include-common-access",
        ),
        ("", json!({"includeIdentities": "yes"}), "includeIdentities"),
        ("", json!({"roleName": " "}), "roleName"),
    ] {
        let (status, response) = provision(&fourth, query, body);
        assert_eq!(status, 400, "{query}: {response}");
        assert_error_body(&response, "400.1 Bad request content", text);
    }
    // The birthright role holds common access only: without it there is nothing to grant, so
    // the request is refused and leaves the role as it was.
    let birthright = summaries
        .iter()
        .find(|summary| summary["type"] == "COMMON")
        .expect("the identities without a role have the birthright role")["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let (status, body) = provision(&birthright, "?include-common-access=false", json!({}));
    assert_eq!(status, 400, "{body}");
    assert_error_body(&body, "400.1 Bad request content", "nothing to provision");
    let (_, unchanged) = get(
        &server,
        &bearer,
        &format!("/beta/role-mining-sessions/{session}/potential-role-summaries/{birthright}"),
    );
    assert!(unchanged["provisionState"].is_null(), "{unchanged}");
    let (status, body) = provision(&uuid::Uuid::new_v4().to_string(), "", json!({}));
    assert_eq!(status, 404, "{body}");
    let (status, body) = get(
        &server,
        &bearer,
        &format!("/rolemine/v1/roles/{}", uuid::Uuid::new_v4()),
    );
    assert_eq!(status, 404);
    assert_error_body(&body, "404 Not found", "role");

    drop(server);
    pool.close().await;
    db.drop_database().await;
}
