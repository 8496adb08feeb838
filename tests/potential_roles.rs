//! Potential-role operations over a mined session, one case per operation: every response
//! checked against the contract's schema, paging/count/sort/filter behaviour, exclusions
//! changing counts and metrics everywhere at once, and the 400/404 bodies.
//!
//! Mining a session takes seconds, so the cases share one [`Fixture`] and run in the order of
//! [`CASES`] (readers first, then the cases that change roles, each leaving what the next
//! reads as it was); a failure names its case.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a failed test

use std::collections::{BTreeSet, HashMap};
use std::future::Future;
use std::pin::Pin;

use crate::support::{
    assert_contract_shape, assert_error_body, first_specialised, get, http, import_planted,
    json_response, mine_session, mined, patch_json as patch, post, serve, Server, TestDatabase,
};
use rolemine_dataset::planted::PlantedSpec;
use serde_json::{json, Value};
use sqlx::PgPool;

/// GETs `path`; returns status, `X-Total-Count` and body.
fn list(server: &Server, bearer: &str, path: &str) -> (u16, Option<i64>, Value) {
    let response = http()
        .get(format!("{}{path}", server.base))
        .header("Authorization", format!("Bearer {bearer}"))
        .call()
        .unwrap();
    let (status, total, body) = json_response(response, "X-Total-Count");
    (status, total.map(|t| t.parse().unwrap()), body)
}

/// GETs a list that must succeed and match `operation_id`'s contract shape.
fn items(server: &Server, bearer: &str, operation_id: &str, path: &str) -> Vec<Value> {
    let (status, _, body) = list(server, bearer, path);
    assert_eq!(status, 200, "{path}: {body}");
    assert_contract_shape(operation_id, 200, &body);
    body.as_array().unwrap().clone()
}

fn ids(items: &[Value], field: &str) -> Vec<String> {
    items
        .iter()
        .map(|item| item[field].as_str().unwrap().to_owned())
        .collect()
}

/// Follows `limit`/`offset` pages of `path` (which has a query string) to the end.
fn every_page(server: &Server, bearer: &str, operation_id: &str, path: &str) -> Vec<Value> {
    let mut all = Vec::new();
    loop {
        let page = items(
            server,
            bearer,
            operation_id,
            &format!("{path}&limit=100&offset={}", all.len()),
        );
        let done = page.len() < 100;
        all.extend(page);
        if done {
            return all;
        }
    }
}

/// Members with usage of each source, straight from the tables.
async fn members_with_usage(pool: &PgPool, role: &str) -> HashMap<String, i64> {
    sqlx::query_as::<_, (String, i64)>(
        "SELECT s.ext_id, count(*) FROM potential_role_members m
           JOIN source_usage u ON u.identity_id = m.identity_id AND u.usage_days > 0
           JOIN sources s ON s.id = u.source_id
          WHERE m.potential_role_id = $1::uuid GROUP BY s.ext_id",
    )
    .bind(role)
    .fetch_all(pool)
    .await
    .unwrap()
    .into_iter()
    .collect()
}

/// A database with planted access, a server, and two mined sessions.
struct Fixture {
    db: TestDatabase,
    pool: PgPool,
    server: Server,
    client: String,
    bearer: String,
    /// The session the cases look at.
    session: String,
    /// Another session, whose roles must not show under the first.
    other: String,
    role_count: i64,
    /// `session`'s summaries in the engine's order.
    summaries: Vec<Value>,
    /// The first of them, the role most cases look at.
    role: String,
    /// Its `getPotentialRole` body as mined.
    detail: Value,
    /// Its members.
    members: i64,
    /// Its entitlements with their popularity as mined (common access included).
    popular: Vec<Value>,
    /// The same without common access: what it is defined by.
    specialized: Vec<Value>,
}

impl Fixture {
    async fn new() -> Fixture {
        let db = TestDatabase::create().await;
        let _data = import_planted(
            &db.url,
            PlantedSpec {
                identities: 3000,
                entitlements: 800,
                roles: 16,
                ..PlantedSpec::default()
            },
        );
        let pool = db.pool().await;
        // The cases fire requests back to back; the per-client limit is tested on its own
        // (contract::clients_over_their_rate_get_429_with_retry_after).
        let (server, client, bearer) = serve(&db, &[("ROLEMINE_RATE_LIMIT", "1000".to_owned())]);
        let session = mine_session(
            &server,
            &bearer,
            &json!({"name": "first", "minNumIdentitiesInPotentialRole": 20}),
        );
        let other = mine_session(
            &server,
            &bearer,
            &json!({"name": "second", "pruneThreshold": 70, "minNumIdentitiesInPotentialRole": 30}),
        );
        let (_, _, first) = list(
            &server,
            &bearer,
            &format!("/beta/role-mining-sessions/{session}"),
        );
        let role_count = first["potentialRoleCount"].as_i64().unwrap();
        assert!(role_count >= 4, "{first}");
        let summaries = items(
            &server,
            &bearer,
            "getPotentialRoleSummaries",
            &format!("/beta/role-mining-sessions/{session}/potential-role-summaries"),
        );
        // Every identity holds a planted role, and its role's definition holds the planted
        // birthrights (everyone's common access): no identity is left for a birthright role.
        assert!(summaries
            .iter()
            .all(|summary| summary["type"] == "SPECIALIZED"));
        let role = first_specialised(&summaries)["id"]
            .as_str()
            .unwrap()
            .to_owned();
        let (status, detail) = get(
            &server,
            &bearer,
            &format!("/beta/role-mining-sessions/{session}/potential-role-summaries/{role}"),
        );
        assert_eq!(status, 200, "{detail}");
        let members = detail["identityCount"].as_i64().unwrap();
        let roles_path = format!("/beta/role-mining-sessions/{session}/potential-roles/{role}");
        let entitlements = |query: &str| {
            every_page(
                &server,
                &bearer,
                "getEntitlementsPotentialRole",
                &format!("{roles_path}/entitlement-popularities?{query}"),
            )
        };
        let popular = entitlements("count=true");
        let specialized = entitlements("includeCommonAccess=false");
        Fixture {
            db,
            pool,
            server,
            client,
            bearer,
            session,
            other,
            role_count,
            summaries,
            role,
            detail,
            members,
            popular,
            specialized,
        }
    }

    /// The role under its session's `potential-role-summaries`.
    fn in_session(&self) -> String {
        format!(
            "/beta/role-mining-sessions/{}/potential-role-summaries/{}",
            self.session, self.role
        )
    }

    /// The role under its session's `potential-roles`.
    fn roles_path(&self) -> String {
        format!(
            "/beta/role-mining-sessions/{}/potential-roles/{}",
            self.session, self.role
        )
    }
}

fn popularities(entitlements: &[Value]) -> Vec<f64> {
    entitlements
        .iter()
        .map(|e| e["popularity"].as_f64().unwrap())
        .collect()
}

fn entitlement_ids(entitlements: &[Value]) -> BTreeSet<String> {
    entitlements
        .iter()
        .map(|e| e["entitlementRef"]["id"].as_str().unwrap().to_owned())
        .collect()
}

/// `getEntitlementDistributionPotentialRole` of the role.
fn distribution(fx: &Fixture, include: bool) -> Value {
    let (status, body) = get(
        &fx.server,
        &fx.bearer,
        &format!(
            "{}/entitlement-popularity-distribution?includeCommonAccess={include}",
            fx.roles_path()
        ),
    );
    assert_eq!(status, 200, "{body}");
    assert_contract_shape("getEntitlementDistributionPotentialRole", 200, &body);
    body
}

/// Entitlements counted over all buckets of a distribution.
fn bucket_total(body: &Value) -> i64 {
    body.as_object()
        .unwrap()
        .values()
        .map(|v| v.as_i64().unwrap())
        .sum()
}

/// getPotentialRoleSummaries.
async fn session_summaries(fx: &Fixture) {
    let server = &fx.server;
    let bearer = &fx.bearer;
    let session = &fx.session;
    let client = &fx.client;
    let role_count = fx.role_count;
    // getPotentialRoleSummaries: shape, count, paging, sorting, filters.
    let base = format!("/beta/role-mining-sessions/{session}/potential-role-summaries");
    let (status, total, body) = list(server, bearer, &format!("{base}?count=true"));
    assert_eq!(status, 200, "{body}");
    assert_contract_shape("getPotentialRoleSummaries", 200, &body);
    assert_eq!(total, Some(role_count));
    let summaries = body.as_array().unwrap().clone();
    assert_eq!(ids(&summaries, "id"), ids(&fx.summaries, "id"));
    assert_eq!(summaries.len() as i64, role_count);
    for summary in &summaries {
        assert_eq!(summary["session"]["id"], session.as_str());
        assert_eq!(summary["session"]["name"], "first");
        assert_eq!(summary["createdBy"]["id"], client.as_str());
        assert_eq!(summary["identityGroupStatus"], "OBTAINED");
        assert_eq!(summary["potentialRoleRef"]["id"], summary["id"]);
    }
    let paged = items(
        server,
        bearer,
        "getPotentialRoleSummaries",
        &format!("{base}?limit=2&offset=1"),
    );
    assert_eq!(ids(&paged, "id"), ids(&summaries[1..3], "id"));
    let by_date = items(
        server,
        bearer,
        "getPotentialRoleSummaries",
        &format!("{base}?sorters=-createdDate"),
    );
    assert_eq!(by_date.len(), summaries.len());
    let good = items(
        server,
        bearer,
        "getPotentialRoleSummaries",
        &format!("{base}?filters=quality%20ge%2050"),
    );
    let expected: Vec<String> = ids(
        &summaries
            .iter()
            .filter(|s| s["quality"].as_i64().unwrap() >= 50)
            .cloned()
            .collect::<Vec<_>>(),
        "id",
    );
    assert_eq!(ids(&good, "id"), expected);
    let named = items(
        server,
        bearer,
        "getPotentialRoleSummaries",
        &format!(
            "{base}?filters=name%20eq%20%22Potential%20role%202%22%20and%20saved%20eq%20false"
        ),
    );
    assert_eq!(ids(&named, "name"), vec!["Potential role 2".to_owned()]);
    for (query, text) in [
        ("filters=identityCount%20gt%203", "identityCount"),
        ("filters=name%20gt%20%22a%22", "gt"),
        ("sorters=quality", "quality"),
        ("filters=scopingMethod%20eq%20%22MANUAL%22", "scopingMethod"),
    ] {
        let (status, _, body) = list(server, bearer, &format!("{base}?{query}"));
        assert_eq!(status, 400, "{query}: {body}");
        assert_error_body(&body, "400.1 Bad request content", text);
    }
}

/// getPotentialRole.
async fn potential_role_and_unknown_ids(fx: &Fixture) {
    let members = fx.members;
    let server = &fx.server;
    let bearer = &fx.bearer;
    let session = &fx.session;
    let other = &fx.other;
    let in_session = fx.in_session();
    // getPotentialRole, and the role of another session → 404.
    let (status, detail) = get(server, bearer, &in_session);
    assert_eq!(status, 200, "{detail}");
    assert_contract_shape("getPotentialRole", 200, &detail);
    assert_eq!(detail, fx.detail);
    assert_eq!(
        detail["identityIds"].as_array().unwrap().len() as i64,
        members
    );
    let distribution_total: i64 = detail["identityDistribution"][0]["distribution"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["count"].as_i64().unwrap())
        .sum();
    assert_eq!(distribution_total, members);
    let (_, _, others) = list(
        server,
        bearer,
        &format!("/beta/role-mining-sessions/{other}/potential-role-summaries"),
    );
    let foreign = others[0]["id"].as_str().unwrap();
    for path in [
        format!("/beta/role-mining-sessions/{session}/potential-role-summaries/{foreign}"),
        format!("/beta/role-mining-sessions/{session}/potential-roles/{foreign}/identities"),
        format!("/beta/role-mining-sessions/{session}/potential-roles/{foreign}/entitlement-popularities"),
        format!("/beta/role-mining-sessions/{session}/potential-role-summaries/{foreign}/applications"),
        format!("/beta/role-mining-sessions/{session}/potential-role-summaries/not-a-uuid"),
        format!("/beta/role-mining-potential-roles/{}", uuid::Uuid::new_v4()),
    ] {
        let (status, body) = get(server, bearer, &path);
        assert_eq!(status, 404, "{path}: {body}");
        assert_error_body(&body, "404 Not found", "not found");
    }
    let (status, body) = get(
        server,
        bearer,
        &format!(
            "/beta/role-mining-sessions/{}/potential-role-summaries",
            uuid::Uuid::new_v4()
        ),
    );
    assert_eq!(status, 404);
    assert_error_body(&body, "404 Not found", "role mining session");
}

/// getEntitlementsPotentialRole.
async fn entitlement_popularities(fx: &Fixture) {
    let server = &fx.server;
    let bearer = &fx.bearer;
    let pool = &fx.pool;
    let role = &fx.role;
    let detail = &fx.detail;
    let members = fx.members;
    let roles_path = fx.roles_path();
    // getEntitlementsPotentialRole: popularities, common access, usage, sort and filter.
    let popular = every_page(
        server,
        bearer,
        "getEntitlementsPotentialRole",
        &format!("{roles_path}/entitlement-popularities?count=true"),
    );
    let popularities: Vec<f64> = popular
        .iter()
        .map(|e| e["popularity"].as_f64().unwrap())
        .collect();
    assert!(
        popularities.windows(2).all(|w| w[0] >= w[1]),
        "default order is popularity descending"
    );
    let usage = members_with_usage(pool, role).await;
    for entitlement in &popular {
        let count = entitlement["identityCount"].as_i64().unwrap();
        let popularity = entitlement["popularity"].as_f64().unwrap();
        assert!((popularity - count as f64 * 100.0 / members as f64).abs() < 1e-9);
        let source = entitlement["sourceId"].as_str().unwrap();
        let expected = *usage.get(source).unwrap_or(&0) as f64 * 100.0 / members as f64;
        assert!(
            (entitlement["sourceUsagePercent"].as_f64().unwrap() - expected).abs() < 1e-9,
            "{entitlement}"
        );
        assert_eq!(entitlement["activitySourceState"], "complete");
    }
    let common: Vec<&Value> = popular
        .iter()
        .filter(|e| e["commonAccess"] == true)
        .collect();
    assert!(
        !common.is_empty(),
        "the planted birthrights are common access"
    );
    let specialized = every_page(
        server,
        bearer,
        "getEntitlementsPotentialRole",
        &format!("{roles_path}/entitlement-popularities?includeCommonAccess=false"),
    );
    assert_eq!(specialized.len(), popular.len() - common.len());
    assert!(specialized.iter().all(|e| e["commonAccess"] == false));
    assert_eq!(
        specialized.len() as i64,
        detail["entitlementCount"].as_i64().unwrap()
    );
    let by_name = items(
        server,
        bearer,
        "getEntitlementsPotentialRole",
        &format!("{roles_path}/entitlement-popularities?sorters=entitlementName"),
    );
    let names = ids(&by_name, "name");
    let mut sorted = names.clone();
    sorted.sort();
    assert_eq!(names, sorted);
    let app = popular[0]["applicationName"].as_str().unwrap();
    let in_app = items(
        server,
        bearer,
        "getEntitlementsPotentialRole",
        &format!(
            "{roles_path}/entitlement-popularities?filters=applicationName%20sw%20%22{}%22",
            app.replace(' ', "%20")
        ),
    );
    assert!(!in_app.is_empty());
    assert!(in_app
        .iter()
        .all(|e| e["applicationName"].as_str().unwrap().starts_with(app)));
    let (status, _, body) = list(
        server,
        bearer,
        &format!("{roles_path}/entitlement-popularities?includeCommonAccess=maybe"),
    );
    assert_eq!(status, 400);
    assert_error_body(&body, "400.1 Bad request content", "includeCommonAccess");
    let (status, _, body) = list(
        server,
        bearer,
        &format!("{roles_path}/entitlement-popularities?filters=popularity%20gt%205"),
    );
    assert_eq!(status, 400);
    assert_error_body(&body, "400.1 Bad request content", "popularity");
}

/// getEntitlementDistributionPotentialRole.
async fn popularity_distribution(fx: &Fixture) {
    let popular = &fx.popular;
    let specialized = &fx.specialized;
    let popularities = popularities(popular);
    // getEntitlementDistributionPotentialRole: buckets count the same entitlements.
    assert_eq!(bucket_total(&distribution(fx, true)), popular.len() as i64);
    assert_eq!(
        bucket_total(&distribution(fx, false)),
        specialized.len() as i64
    );
    let top = popularities[0].floor() as i64;
    assert!(distribution(fx, true)[top.to_string()].as_i64().unwrap() >= 1);
}

/// getPotentialRoleEntitlements, getPotentialRoleApplications.
async fn entitlement_refs_and_applications(fx: &Fixture) {
    let summary_path = fx.in_session();
    let server = &fx.server;
    let bearer = &fx.bearer;
    let specialized = &fx.specialized;
    // getPotentialRoleEntitlements and getPotentialRoleApplications.
    let refs = every_page(
        server,
        bearer,
        "getPotentialRoleEntitlements",
        &format!("{summary_path}/entitlements?count=true"),
    );
    let specialized_ids = entitlement_ids(specialized);
    assert_eq!(
        refs.iter()
            .map(|r| r["id"].as_str().unwrap().to_owned())
            .collect::<BTreeSet<_>>(),
        specialized_ids
    );
    let applications = items(
        server,
        bearer,
        "getPotentialRoleApplications",
        &format!("{summary_path}/applications"),
    );
    let expected_apps: BTreeSet<String> = specialized
        .iter()
        .map(|e| e["sourceId"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        ids(&applications, "id")
            .into_iter()
            .collect::<BTreeSet<_>>(),
        expected_apps
    );
    let first_app = applications[0]["name"].as_str().unwrap();
    let filtered = items(
        server,
        bearer,
        "getPotentialRoleApplications",
        &format!(
            "{summary_path}/applications?filters=applicationName%20sw%20%22{}%22",
            first_app.replace(' ', "%20")
        ),
    );
    assert!(filtered.iter().any(|a| a["name"] == first_app));
    let (status, _, body) = list(
        server,
        bearer,
        &format!("{summary_path}/applications?filters=name%20sw%20%22x%22"),
    );
    assert_eq!(status, 400);
    assert_error_body(&body, "400.1 Bad request content", "name");
}

/// getIdentitiesPotentialRole.
async fn identities(fx: &Fixture) {
    let server = &fx.server;
    let bearer = &fx.bearer;
    let detail = &fx.detail;
    let members = fx.members;
    let roles_path = fx.roles_path();
    // getIdentitiesPotentialRole: pages cover the members once; sort and filter by name.
    let members_listed = every_page(
        server,
        bearer,
        "getIdentitiesPotentialRole",
        &format!("{roles_path}/identities?count=true"),
    );
    let listed: BTreeSet<String> = ids(&members_listed, "id").into_iter().collect();
    let expected: BTreeSet<String> = detail["identityIds"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_owned())
        .collect();
    assert_eq!(listed, expected);
    let (_, total, _) = list(
        server,
        bearer,
        &format!("{roles_path}/identities?count=true&limit=1"),
    );
    assert_eq!(total, Some(members));
    let sorted_members = every_page(
        server,
        bearer,
        "getIdentitiesPotentialRole",
        &format!("{roles_path}/identities?sorters=-name"),
    );
    let names = ids(&sorted_members, "name");
    assert!(
        names.windows(2).all(|w| w[0] >= w[1]),
        "sorted by name descending"
    );
    let prefix: String = names[0].chars().take(3).collect();
    let with_prefix = every_page(
        server,
        bearer,
        "getIdentitiesPotentialRole",
        &format!(
            "{roles_path}/identities?filters=name%20sw%20%22{}%22",
            prefix.replace(' ', "%20")
        ),
    );
    assert_eq!(
        with_prefix.len(),
        names.iter().filter(|n| n.starts_with(&prefix)).count()
    );
    assert!(members_listed[0]["attributes"]["department"].is_string());
}

/// getAllPotentialRoleSummaries.
async fn all_summaries(fx: &Fixture) {
    let server = &fx.server;
    let bearer = &fx.bearer;
    let other = &fx.other;
    let client = &fx.client;
    let role_count = fx.role_count;
    // getAllPotentialRoleSummaries: both sessions; every contract filter field.
    let all_base = "/beta/role-mining-potential-roles";
    let (_, total_all, _) = list(server, bearer, &format!("{all_base}?count=true&limit=1"));
    let (_, _, other_session) = list(
        server,
        bearer,
        &format!("/beta/role-mining-sessions/{other}"),
    );
    assert_eq!(
        total_all,
        Some(role_count + other_session["potentialRoleCount"].as_i64().unwrap())
    );
    let count_of = |filter: &str| -> i64 {
        let (status, total, body) = list(
            server,
            bearer,
            &format!(
                "{all_base}?count=true&filters={}",
                filter.replace(' ', "%20").replace('"', "%22")
            ),
        );
        assert_eq!(status, 200, "{filter}: {body}");
        assert_contract_shape("getAllPotentialRoleSummaries", 200, &body);
        total.unwrap()
    };
    let everything = total_all.unwrap();
    let now = chrono::Utc::now();
    let hour_ago =
        (now - chrono::Duration::hours(1)).to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let in_hour =
        (now + chrono::Duration::hours(1)).to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    for (filter, expected) in [
        (format!("createdById eq \"{client}\""), everything),
        ("createdByName sw \"test\"".to_owned(), everything),
        ("createdByName co \"client\"".to_owned(), everything),
        ("createdById co \"nobody\"".to_owned(), 0),
        ("description sw \"x\"".to_owned(), 0),
        (format!("startDate gt {hour_ago}"), everything),
        (format!("endDate lt {in_hour}"), everything),
        (format!("endDate le {hour_ago}"), 0),
        ("freshness ge 0 and freshness le 100".to_owned(), everything),
        ("quality gt 100".to_owned(), 0),
        ("name ge \"Potential role\"".to_owned(), everything),
        ("name lt \"A\"".to_owned(), 0),
        ("saved eq false".to_owned(), everything),
        // The first session has no birthright role (every identity's specialised role grants
        // the common access); the second's tighter roles (threshold 70) leave identities out,
        // and they have its birthright role, of type COMMON.
        ("type eq \"SPECIALIZED\"".to_owned(), everything - 1),
        ("type eq \"COMMON\"".to_owned(), 1),
        ("type gt \"SPECIALIZED\"".to_owned(), 0),
        ("scopingMethod eq \"MANUAL\"".to_owned(), everything),
        (
            "sessionState eq \"POTENTIAL_ROLES_CREATED\"".to_owned(),
            everything,
        ),
        ("sessionState eq \"FAILED\"".to_owned(), 0),
        ("identityAttribute co \"department\"".to_owned(), everything),
        ("identityAttribute co \"no such attribute\"".to_owned(), 0),
    ] {
        assert_eq!(count_of(&filter), expected, "{filter}");
    }
    let quality_sorted = items(
        server,
        bearer,
        "getAllPotentialRoleSummaries",
        &format!("{all_base}?sorters=-quality,identityCount"),
    );
    let qualities: Vec<i64> = quality_sorted
        .iter()
        .map(|s| s["quality"].as_i64().unwrap())
        .collect();
    assert!(qualities.windows(2).all(|w| w[0] >= w[1]));
    for sorter in [
        "createdDate",
        "identityCount",
        "-entitlementCount",
        "freshness",
    ] {
        items(
            server,
            bearer,
            "getAllPotentialRoleSummaries",
            &format!("{all_base}?sorters={sorter}"),
        );
    }
    for (query, text) in [
        ("filters=density%20eq%2050", "density"),
        ("filters=identityAttribute%20eq%20%22x%22", "eq"),
        ("sorters=name", "name"),
        ("limit=251", "limit"),
    ] {
        let (status, _, body) = list(server, bearer, &format!("{all_base}?{query}"));
        assert_eq!(status, 400, "{query}: {body}");
        assert_error_body(&body, "400.1 Bad request content", text);
    }
}

/// getPotentialRoleSourceIdentityUsage.
async fn source_usage(fx: &Fixture) {
    let server = &fx.server;
    let bearer = &fx.bearer;
    let pool = &fx.pool;
    let role = &fx.role;
    let members = fx.members;
    let popular = &fx.popular;
    // getPotentialRoleSourceIdentityUsage: each member's days, from the usage table.
    let source = popular[0]["sourceId"].as_str().unwrap();
    let usage_path =
        format!("/beta/role-mining-potential-roles/{role}/sources/{source}/identityUsage");
    let usage_rows = every_page(
        server,
        bearer,
        "getPotentialRoleSourceIdentityUsage",
        &format!("{usage_path}?count=true"),
    );
    assert_eq!(usage_rows.len() as i64, members);
    let counts: Vec<i64> = usage_rows
        .iter()
        .map(|u| u["usageCount"].as_i64().unwrap())
        .collect();
    assert!(
        counts.windows(2).all(|w| w[0] >= w[1]),
        "most usage first by default"
    );
    let stored: HashMap<String, i64> = sqlx::query_as::<_, (String, i64)>(
        "SELECT i.ext_id, u.usage_days::bigint FROM source_usage u
           JOIN identities i ON i.id = u.identity_id JOIN sources s ON s.id = u.source_id
          WHERE s.ext_id = $1",
    )
    .bind(source)
    .fetch_all(pool)
    .await
    .unwrap()
    .into_iter()
    .collect();
    for row in &usage_rows {
        let expected = stored
            .get(row["id"].as_str().unwrap())
            .copied()
            .unwrap_or(0);
        assert_eq!(row["usageCount"].as_i64().unwrap(), expected, "{row}");
    }
    let by_email = items(
        server,
        bearer,
        "getPotentialRoleSourceIdentityUsage",
        &format!("{usage_path}?sorters=email&limit=50"),
    );
    let emails = ids(&by_email, "email");
    assert!(emails.windows(2).all(|w| w[0] <= w[1]));
    items(
        server,
        bearer,
        "getPotentialRoleSourceIdentityUsage",
        &format!("{usage_path}?sorters=-displayName"),
    );
    let (status, body) = get(
        server,
        bearer,
        &format!("/beta/role-mining-potential-roles/{role}/sources/no-such-source/identityUsage"),
    );
    assert_eq!(status, 404);
    assert_error_body(&body, "404 Not found", "no-such-source");
}

/// updateEntitlementsPotentialRole, getExcludedEntitlementsPotentialRole.
async fn edit_entitlements(fx: &Fixture) {
    let server = &fx.server;
    let bearer = &fx.bearer;
    let role = &fx.role;
    let detail = &fx.detail;
    let members = fx.members;
    let roles_path = fx.roles_path();
    let summary_path = fx.in_session();
    let specialized = &fx.specialized;
    // updateEntitlementsPotentialRole: exclusions change every view at once.
    let excluded_ids: Vec<String> = specialized
        .iter()
        .take(2)
        .map(|e| e["entitlementRef"]["id"].as_str().unwrap().to_owned())
        .collect();
    let edit = |body: Value| {
        post(
            server,
            bearer,
            &format!("{roles_path}/edit-entitlements"),
            &body.to_string(),
            "application/json",
        )
    };
    let (status, edited) = edit(json!({"ids": excluded_ids, "exclude": true}));
    assert_eq!(status, 201, "{edited}");
    assert_contract_shape("updateEntitlementsPotentialRole", 201, &edited);
    assert_eq!(
        edited["entitlementCount"].as_i64().unwrap(),
        specialized.len() as i64 - 2
    );
    assert_eq!(
        edited["excludedEntitlements"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap().to_owned())
            .collect::<BTreeSet<_>>(),
        excluded_ids.iter().cloned().collect::<BTreeSet<_>>()
    );
    // Density over what is left, by the engine's own definition.
    let kept_counts: Vec<u32> = specialized
        .iter()
        .skip(2)
        .map(|e| e["identityCount"].as_u64().unwrap() as u32)
        .collect();
    let density = rolemine_engine::metrics::density(members as u32, kept_counts.into_iter());
    assert_eq!(edited["density"].as_i64().unwrap(), i64::from(density));
    let quality =
        (edited["density"].as_i64().unwrap() + edited["freshness"].as_i64().unwrap()) as f64 / 2.0;
    assert_eq!(edited["quality"].as_i64().unwrap(), quality.round() as i64);
    let excluded = items(
        server,
        bearer,
        "getExcludedEntitlementsPotentialRole",
        &format!("{roles_path}/excluded-entitlements?sorters=-popularity"),
    );
    assert_eq!(excluded.len(), 2);
    assert!(
        excluded[0]["popularity"].as_f64().unwrap() >= excluded[1]["popularity"].as_f64().unwrap()
    );
    let after = every_page(
        server,
        bearer,
        "getEntitlementsPotentialRole",
        &format!("{roles_path}/entitlement-popularities?includeCommonAccess=false"),
    );
    assert_eq!(after.len(), specialized.len() - 2);
    assert!(after
        .iter()
        .all(|e| !excluded_ids.contains(&e["entitlementRef"]["id"].as_str().unwrap().to_owned())));
    assert_eq!(
        bucket_total(&distribution(fx, false)),
        specialized.len() as i64 - 2
    );
    let refs_after = every_page(
        server,
        bearer,
        "getPotentialRoleEntitlements",
        &format!("{summary_path}/entitlements?count=true"),
    );
    assert_eq!(refs_after.len(), specialized.len() - 2);
    let (_, summary_after) = get(
        server,
        bearer,
        &format!("/beta/role-mining-potential-roles/{role}"),
    );
    assert_eq!(
        summary_after["entitlementCount"],
        edited["entitlementCount"]
    );
    assert_eq!(summary_after["density"], edited["density"]);
    // Brought back: everything as mined.
    let (status, restored) = edit(json!({"ids": excluded_ids, "exclude": false}));
    assert_eq!(status, 201, "{restored}");
    for field in ["entitlementCount", "density", "freshness", "quality"] {
        assert_eq!(restored[field], detail[field], "{field}");
    }
    assert_eq!(restored["excludedEntitlements"], json!([]));
    for (body, text) in [
        (
            json!({"ids": ["no-such-entitlement"], "exclude": true}),
            "no-such-entitlement",
        ),
        (json!({"ids": [], "exclude": true}), "ids"),
        (json!({"ids": [excluded_ids[0]]}), "exclude"),
        (json!({"ids": "x", "exclude": true}), "ids"),
    ] {
        let (status, response) = edit(body.clone());
        assert_eq!(status, 400, "{body}: {response}");
        assert_error_body(&response, "400.1 Bad request content", text);
    }
}

/// patchPotentialRoleSession, patchRoleMiningPotentialRole, getSavedPotentialRoles.
async fn patch_and_saved(fx: &Fixture) {
    let server = &fx.server;
    let bearer = &fx.bearer;
    let role = &fx.role;
    let summaries = &fx.summaries;
    let detail = &fx.detail;
    let in_session = fx.in_session();
    // PATCH (session path and global path), saved roles.
    let (status, patched) = patch(
        server,
        bearer,
        &in_session,
        json!([
            {"op": "replace", "path": "/name", "value": "Accounting"},
            {"op": "replace", "path": "/description", "value": "Acct I - Potential Role"},
            {"op": "replace", "path": "/saved", "value": "true"},
        ]),
    );
    assert_eq!(status, 200, "{patched}");
    assert_contract_shape("patchPotentialRoleSession", 200, &patched);
    assert_eq!(patched["name"], "Accounting");
    assert_eq!(patched["description"], "Acct I - Potential Role");
    assert_eq!(patched["saved"], true);
    let global = format!("/beta/role-mining-potential-roles/{role}");
    let (status, patched) = patch(
        server,
        bearer,
        &global,
        json!([{"op": "remove", "path": "/description"}, {"op": "remove", "path": "/name"}]),
    );
    assert_eq!(status, 200, "{patched}");
    assert_contract_shape("patchRoleMiningPotentialRole", 200, &patched);
    assert_eq!(patched["description"], Value::Null);
    assert_eq!(patched["name"], first_specialised(summaries)["name"]);
    assert_eq!(patched["saved"], true);
    let (status, fetched) = get(server, bearer, &global);
    assert_eq!(status, 200);
    assert_contract_shape("getRoleMiningPotentialRole", 200, &fetched);
    assert_eq!(fetched["saved"], true);
    for (body, text) in [
        (
            json!([{"op": "replace", "path": "/density", "value": 3}]),
            "/density",
        ),
        (json!([{"op": "add", "path": "/name", "value": "x"}]), "add"),
        (
            json!([{"op": "replace", "path": "/saved", "value": "perhaps"}]),
            "true or false",
        ),
        (
            json!([{"op": "replace", "path": "/name", "value": ""}]),
            "non-empty",
        ),
        (json!([]), "empty"),
        (json!({"op": "replace"}), "sequence"),
    ] {
        let (status, response) = patch(server, bearer, &global, body.clone());
        assert_eq!(status, 400, "{body}: {response}");
        assert_error_body(&response, "400.1 Bad request content", text);
    }
    let (status, body) = patch(
        server,
        bearer,
        &format!("/beta/role-mining-potential-roles/{}", uuid::Uuid::new_v4()),
        json!([{"op": "replace", "path": "/name", "value": "x"}]),
    );
    assert_eq!(status, 404, "{body}");
    let saved = items(
        server,
        bearer,
        "getSavedPotentialRoles",
        "/beta/role-mining-potential-roles/saved?sorters=-modified&count=true",
    );
    assert_eq!(ids(&saved, "id"), vec![role.clone()]);
    assert_eq!(
        saved[0]["entitlementIds"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap().to_owned())
            .collect::<BTreeSet<_>>(),
        entitlement_ids(&fx.specialized)
    );
    assert_eq!(saved[0]["identityIds"], detail["identityIds"]);
    let (status, _, body) = list(
        server,
        bearer,
        "/beta/role-mining-potential-roles/saved?sorters=name",
    );
    assert_eq!(status, 400);
    assert_error_body(&body, "400.1 Bad request content", "name");
}

/// getPotentialRoleSummaries is served from each server's page cache while the session is
/// unchanged: every change a summary shows must reach the next read at once, on the server
/// that made it and on another server of the same database (whose cache holds the old page).
async fn summaries_follow_every_change(fx: &Fixture) {
    let (replica, _, replica_bearer) = serve(&fx.db, &[("ROLEMINE_RATE_LIMIT", "1000".to_owned())]);
    let path = format!(
        "/beta/role-mining-sessions/{}/potential-role-summaries?limit=50&count=true",
        fx.session
    );
    // This role's summary, read twice on each server so both cache the page.
    let summary = || {
        [
            (&fx.server, fx.bearer.as_str()),
            (&replica, replica_bearer.as_str()),
        ]
        .map(|(server, bearer)| {
            let mut last = Value::Null;
            for _ in 0..2 {
                let (status, total, body) = list(server, bearer, &path);
                assert_eq!(status, 200, "{body}");
                assert_eq!(total, Some(fx.role_count));
                last = body
                    .as_array()
                    .unwrap()
                    .iter()
                    .find(|role| role["id"] == fx.role.as_str())
                    .cloned()
                    .unwrap();
            }
            last
        })
    };
    let [before, on_replica] = summary();
    assert_eq!(before, on_replica);
    let global = format!("/beta/role-mining-potential-roles/{}", fx.role);

    let (status, body) = patch(
        &fx.server,
        &fx.bearer,
        &global,
        json!([{"op": "replace", "path": "/name", "value": "Renamed while cached"}]),
    );
    assert_eq!(status, 200, "{body}");
    for seen in summary() {
        assert_eq!(seen["name"], "Renamed while cached");
    }
    let (status, body) = patch(
        &fx.server,
        &fx.bearer,
        &global,
        json!([{"op": "replace", "path": "/name", "value": before["name"].clone()}]),
    );
    assert_eq!(status, 200, "{body}");

    let excluded = fx.specialized[0]["entitlementRef"]["id"].as_str().unwrap();
    let edit = |exclude: bool| {
        let (status, body) = post(
            &replica,
            &replica_bearer,
            &format!("{}/edit-entitlements", fx.roles_path()),
            &json!({"ids": [excluded], "exclude": exclude}).to_string(),
            "application/json",
        );
        assert_eq!(status, 201, "{body}");
    };
    edit(true);
    for seen in summary() {
        assert_eq!(
            seen["entitlementCount"].as_i64(),
            before["entitlementCount"].as_i64().map(|n| n - 1)
        );
    }
    edit(false);

    let session_path = format!("/beta/role-mining-sessions/{}", fx.session);
    let (status, body) = patch(
        &fx.server,
        &fx.bearer,
        &session_path,
        json!([{"op": "replace", "path": "/name", "value": "renamed session"}]),
    );
    assert_eq!(status, 202, "{body}");
    for seen in summary() {
        assert_eq!(seen["session"]["name"], "renamed session");
    }
    let (status, body) = patch(
        &fx.server,
        &fx.bearer,
        &session_path,
        json!([{"op": "replace", "path": "/name", "value": before["session"]["name"].clone()}]),
    );
    assert_eq!(status, 202, "{body}");
    let [after, on_replica] = summary();
    assert_eq!(after["entitlementCount"], before["entitlementCount"]);
    assert_eq!(after["name"], before["name"]);
    assert_eq!(on_replica["session"], before["session"]);
}

/// patchRoleMiningSession.
async fn saved_roles_survive_a_re_mine(fx: &Fixture) {
    let server = &fx.server;
    let bearer = &fx.bearer;
    let session = &fx.session;
    let in_session = fx.in_session();
    // Saved roles survive a re-mine, with their edits.
    let (status, _) = patch(
        server,
        bearer,
        &format!("/beta/role-mining-sessions/{session}"),
        json!([{"op": "replace", "path": "/minNumIdentitiesInPotentialRole", "value": 25}]),
    );
    assert_eq!(status, 202);
    mined(server, bearer, session);
    let (status, kept) = get(server, bearer, &in_session);
    assert_eq!(status, 200, "{kept}");
    assert_eq!(kept["saved"], true);
}

/// One case of the potential-role operations.
type Case = for<'a> fn(&'a Fixture) -> Pin<Box<dyn Future<Output = ()> + 'a>>;

macro_rules! cases {
    ($($case:ident),* $(,)?) => {
        &[$((stringify!($case), |fx| Box::pin($case(fx)))),*]
    };
}

/// The cases, in the order they run: readers, then the cases that change roles.
const CASES: &[(&str, Case)] = cases![
    session_summaries,
    potential_role_and_unknown_ids,
    entitlement_popularities,
    popularity_distribution,
    entitlement_refs_and_applications,
    identities,
    all_summaries,
    source_usage,
    edit_entitlements,
    patch_and_saved,
    summaries_follow_every_change,
    saved_roles_survive_a_re_mine,
];

/// Names the case that panicked, so a failure says which operation broke.
struct Running(&'static str);

impl Drop for Running {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("potential-role case `{}` failed", self.0);
        }
    }
}

#[tokio::test]
async fn potential_role_operations_follow_the_contract() {
    let fx = Fixture::new().await;
    for (name, case) in CASES {
        let _running = Running(name);
        case(&fx).await;
    }
    let Fixture {
        db, pool, server, ..
    } = fx;
    drop(server);
    pool.close().await;
    db.drop_database().await;
}
