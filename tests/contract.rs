//! What every contract operation shares, proven on `getRoleMiningSessions`: base paths, OAuth2
//! tokens and scopes, 401/403/429 bodies, the collection parameters, and the `client` CLI.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a failed test

use std::collections::{BTreeSet, HashSet};
use std::time::Duration;

use serde_json::Value;

use crate::support;
use crate::support::{
    assert_error_body, create_client, fail, http, json_response, rolemine, succeed, token, Server,
    TestDatabase, MANAGE, READ,
};

fn start(db: &TestDatabase, log: &std::path::Path, extra: &[(&str, &str)]) -> Server {
    let mut command = rolemine();
    command
        .env("DATABASE_URL", &db.url)
        .env("ROLEMINE_NO_WORKER", "true")
        .env("ROLEMINE_UPLOAD_DIR", std::env::temp_dir());
    for (key, value) in extra {
        command.env(key, value);
    }
    Server::start(command, log)
}

/// GET `path` with an optional bearer token: (status, named header, JSON body).
fn get(
    server: &Server,
    path: &str,
    bearer: Option<&str>,
    header: &str,
) -> (u16, Option<String>, Value) {
    let mut request = http().get(format!("{}{path}", server.base));
    if let Some(bearer) = bearer {
        request = request.header("Authorization", format!("Bearer {bearer}"));
    }
    json_response(
        request
            .header("X-SailPoint-Experimental", "true")
            .call()
            .unwrap(),
        header,
    )
}

fn names(body: &Value) -> Vec<String> {
    body.as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap_or("").to_owned())
        .collect()
}

#[tokio::test]
async fn sessions_list_under_every_base_path_with_collection_parameters() {
    let db = TestDatabase::create().await;
    let log = tempfile::NamedTempFile::new().unwrap();
    let server = start(&db, log.path(), &[]);
    let pool = db.pool().await;
    sqlx::query(
        "INSERT INTO role_mining_sessions (id, name, saved, created_by_id, created_by_name, created_at, scope)
         SELECT gen_random_uuid(), n, s, 'c-' || b, b, timestamptz '2026-01-01' + d * interval '1 day', '{}'
           FROM (VALUES ('RM Session 1', true, 'carol', 1), ('RM Session 2', false, 'alice', 2),
                        ('RM Session 3', true, 'bob', 3), ('Other', true, 'dave', 4),
                        ('rm session lower', true, 'erin', 5), ('100% _odd_', false, 'frank', 6))
                AS t(n, s, b, d)",
    )
    .execute(&pool)
    .await
    .unwrap();
    let (id, secret) = create_client(&db.url, &[READ]);
    let bearer = token(&server.base, &id, &secret);

    // One operation, every base path.
    for base in ["/beta", "/v2024", "/v2025", "/v2026"] {
        let (status, _, body) = get(
            &server,
            &format!("{base}/role-mining-sessions"),
            Some(&bearer),
            "X",
        );
        assert_eq!(status, 200, "{base}: {body}");
        assert_eq!(body.as_array().unwrap().len(), 6, "{base}");
    }
    let (status, _, body) = get(&server, "/role-mining-sessions/v1", Some(&bearer), "X");
    assert_eq!((status, body.as_array().map(Vec::len)), (200, Some(6)));
    let (status, _, _) = get(&server, "/role-mining-sessions", Some(&bearer), "X");
    assert_eq!(status, 404, "no unversioned path");

    // Default order: newest first. Shape: the contract's RoleMiningSessionResponse.
    let (_, _, body) = get(&server, "/beta/role-mining-sessions", Some(&bearer), "X");
    assert_eq!(names(&body)[0], "100% _odd_");
    support::assert_contract_shape("getRoleMiningSessions", 200, &body);
    let first = &body[0];
    for field in [
        "scope",
        "minNumIdentitiesInPotentialRole",
        "scopingMethod",
        "prescribedPruneThreshold",
        "pruneThreshold",
        "potentialRoleCount",
        "potentialRolesReadyCount",
        "status",
        "emailRecipientId",
        "createdBy",
        "identityCount",
        "saved",
        "name",
        "dataFilePath",
        "id",
        "createdDate",
        "modifiedDate",
        "type",
    ] {
        assert!(first.get(field).is_some(), "missing {field} in {first}");
    }
    assert_eq!(
        first["createdBy"],
        serde_json::json!({"id": "c-frank", "displayName": "frank"})
    );
    assert_eq!(first["status"], serde_json::json!({"state": "CREATED"}));

    let query = |q: &str| {
        let encoded: String = url::form_urlencoded::byte_serialize(q.as_bytes()).collect();
        encoded
    };
    let list = |params: &str| {
        get(
            &server,
            &format!("/beta/role-mining-sessions?{params}"),
            Some(&bearer),
            "X-Total-Count",
        )
    };

    // Filters as the contract lists them; sw is case-insensitive, LIKE characters are literal.
    let (_, _, body) = list(&format!(
        "filters={}&sorters=createdDate",
        query("saved eq \"true\" and name sw \"RM Session\"")
    ));
    assert_eq!(
        names(&body),
        ["RM Session 1", "RM Session 3", "rm session lower"]
    );
    let (_, _, body) = list(&format!("filters={}", query("name eq \"Other\"")));
    assert_eq!(names(&body), ["Other"]);
    let (_, _, body) = list(&format!("filters={}", query("name sw \"100% _\"")));
    assert_eq!(names(&body), ["100% _odd_"]);
    let (_, _, body) = list(&format!(
        "filters={}&sorters=createdDate",
        query("not (saved eq false) and not name sw \"rm\"")
    ));
    assert_eq!(names(&body), ["Other"]);
    let (_, _, body) = list(&format!(
        "filters={}&sorters=createdDate",
        query("saved eq false or name eq \"Other\"")
    ));
    assert_eq!(names(&body), ["RM Session 2", "Other", "100% _odd_"]);

    // Sorters, paging and the total.
    let (_, _, body) = list("sorters=createdBy");
    assert_eq!(
        names(&body)[..3],
        ["RM Session 2", "RM Session 3", "RM Session 1"]
    );
    let (_, _, body) = list("sorters=-createdDate");
    assert_eq!(names(&body)[0], "100% _odd_");
    let (status, total, body) = list("sorters=createdDate&limit=2&offset=1&count=true");
    assert_eq!(status, 200);
    assert_eq!(names(&body), ["RM Session 2", "RM Session 3"]);
    assert_eq!(total.as_deref(), Some("6"));
    let (_, total, body) = list(&format!(
        "limit=0&count=true&filters={}",
        query("saved eq true")
    ));
    assert_eq!(
        (body.as_array().unwrap().len(), total.as_deref()),
        (0, Some("4"))
    );
    let (_, total, _) = list("limit=1");
    assert_eq!(total, None, "X-Total-Count only with count=true");

    // Bad parameters: 400 with the contract body and a pointed message.
    let mut tracking = HashSet::new();
    for (params, message) in [
        ("limit=251".to_owned(), "limit: must be a whole number from 0 to 250, got \"251\""),
        ("limit=-1".to_owned(), "limit: must be a whole number from 0 to 250"),
        ("limit=ten".to_owned(), "limit: must be a whole number"),
        ("offset=-5".to_owned(), "offset: must be a whole number of 0 or more, got \"-5\""),
        ("count=yes".to_owned(), "count: must be true or false, got \"yes\""),
        ("sorters=name".to_owned(), "sorters: `name` cannot be sorted on here; sortable fields: createdBy, createdDate"),
        ("sorters=createdBy,,createdDate".to_owned(), "sorters: sort field 2 is empty"),
        (format!("filters={}", query("name co \"x\"")), "filters: `name` does not support `co`; it supports eq, sw"),
        (format!("filters={}", query("type eq \"COMMON\"")), "filters: `type` cannot be filtered on here; filterable fields: saved (eq); name (eq, sw)"),
        (format!("filters={}", query("saved eq \"maybe\"")), "filters: `saved` takes true or false"),
        (format!("filters={}", query("name eq \"x\" and")), "filters: expected a field name, `not` or `(` at position 15, found the end of the filter"),
        (format!("filters={}", query("name eq \"unterminated")), "the closing `\"` of the string"),
    ] {
        let (status, _, body) = list(&params);
        assert_eq!(status, 400, "{params}: {body}");
        assert_error_body(&body, "400.1 Bad request content", message);
        support::assert_contract_shape("getRoleMiningSessions", 400, &body);
        assert!(tracking.insert(body["trackingId"].as_str().unwrap().to_owned()), "tracking ids are unique");
    }
    // The tracking id of an error is in the server log, to find the request from a report.
    let (_, _, body) = list("limit=999");
    let id = body["trackingId"].as_str().unwrap().to_owned();
    std::thread::sleep(Duration::from_millis(200));
    assert!(
        server.log_text().contains(&id),
        "tracking id {id} not logged"
    );

    assert!(server.terminate().success());
    pool.close().await;
    db.drop_database().await;
}

#[tokio::test]
async fn tokens_scopes_and_their_failures() {
    let db = TestDatabase::create().await;
    let log = tempfile::NamedTempFile::new().unwrap();
    let server = start(&db, log.path(), &[("ROLEMINE_TOKEN_TTL", "2")]);
    let (reader_id, reader_secret) = create_client(&db.url, &[READ]);
    let (manager_id, manager_secret) = create_client(&db.url, &[MANAGE]);

    // The token endpoint, as the SDKs call it.
    let response = http()
        .post(format!("{}/oauth/token", server.base))
        .send_form([
            ("grant_type", "client_credentials"),
            ("client_id", &reader_id),
            ("client_secret", &reader_secret),
        ])
        .unwrap();
    let (status, _, body) = json_response(response, "X");
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["token_type"], "bearer");
    assert_eq!(body["expires_in"], 2);
    assert_eq!(body["scope"], READ);
    let reader = body["access_token"].as_str().unwrap().to_owned();
    // HTTP Basic credentials work too.
    use base64::Engine;
    let basic =
        base64::engine::general_purpose::STANDARD.encode(format!("{manager_id}:{manager_secret}"));
    let response = http()
        .post(format!("{}/oauth/token", server.base))
        .header("Authorization", format!("Basic {basic}"))
        .send_form([("grant_type", "client_credentials")])
        .unwrap();
    let (status, _, body) = json_response(response, "X");
    assert_eq!(status, 200, "{body}");
    let manager = body["access_token"].as_str().unwrap().to_owned();
    for (form, status, error) in [
        (
            vec![
                ("grant_type", "client_credentials"),
                ("client_id", reader_id.as_str()),
                ("client_secret", "wrong"),
            ],
            401,
            "invalid_client",
        ),
        (
            vec![
                ("grant_type", "client_credentials"),
                ("client_id", "nobody"),
                ("client_secret", "x"),
            ],
            401,
            "invalid_client",
        ),
        (
            vec![
                ("grant_type", "password"),
                ("client_id", reader_id.as_str()),
                ("client_secret", reader_secret.as_str()),
            ],
            400,
            "unsupported_grant_type",
        ),
        (
            vec![("client_id", reader_id.as_str())],
            400,
            "invalid_request",
        ),
    ] {
        let response = http()
            .post(format!("{}/oauth/token", server.base))
            .send_form(form)
            .unwrap();
        let (got, _, body) = json_response(response, "X");
        assert_eq!(
            (got, body["error"].as_str()),
            (status, Some(error)),
            "{body}"
        );
    }

    // Both scopes read; only manage may upload.
    for bearer in [&reader, &manager] {
        let (status, _, body) = get(&server, "/beta/role-mining-sessions", Some(bearer), "X");
        assert_eq!(status, 200, "{body}");
    }
    let response = http()
        .post(format!("{}/rolemine/v1/imports", server.base))
        .header("Authorization", format!("Bearer {reader}"))
        .header("Content-Type", "application/zip")
        .send(&b"PK"[..])
        .unwrap();
    let (status, _, body) = json_response(response, "X");
    assert_eq!(status, 403);
    assert_error_body(&body, "403 Forbidden", "this operation needs the scope iai:access-modeling:manage; the access token has: iai:access-modeling:read");

    // 401: {"error": ...} with WWW-Authenticate.
    let (status, challenge, body) = get(
        &server,
        "/beta/role-mining-sessions",
        None,
        "WWW-Authenticate",
    );
    assert_eq!((status, challenge.as_deref()), (401, Some("Bearer")));
    support::assert_contract_shape("getRoleMiningSessions", 401, &body);
    assert!(
        body["error"].as_str().unwrap().contains("no bearer token"),
        "{body}"
    );
    let (status, _, body) = get(
        &server,
        "/beta/role-mining-sessions",
        Some("not.a.jwt"),
        "X",
    );
    assert_eq!(status, 401);
    assert!(
        body["error"].as_str().unwrap().contains("malformed"),
        "{body}"
    );
    // Forged: same claims, signed with another key.
    let mut parts: Vec<&str> = reader.split('.').collect();
    let forged_signature = "c2lnbmVkIHdpdGggYW5vdGhlciBrZXk";
    parts[2] = forged_signature;
    let (status, _, body) = get(
        &server,
        "/beta/role-mining-sessions",
        Some(&parts.join(".")),
        "X",
    );
    assert_eq!(status, 401);
    assert!(
        body["error"]
            .as_str()
            .unwrap()
            .contains("signature is not valid"),
        "{body}"
    );

    // Revoked: the token stops working at once, and no new token is issued.
    let output = succeed(
        rolemine()
            .args(["client", "revoke", &manager_id])
            .env("DATABASE_URL", &db.url),
    );
    let revoked: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert!(revoked["revoked_at"].is_string(), "{revoked}");
    let (status, _, body) = get(&server, "/beta/role-mining-sessions", Some(&manager), "X");
    assert_eq!(status, 401);
    assert!(
        body["error"].as_str().unwrap().contains("revoked"),
        "{body}"
    );

    // Expired (tokens of this server live two seconds).
    std::thread::sleep(Duration::from_millis(3100));
    let (status, _, body) = get(&server, "/beta/role-mining-sessions", Some(&reader), "X");
    assert_eq!(status, 401);
    assert!(
        body["error"].as_str().unwrap().contains("expired"),
        "{body}"
    );

    // The CLI lists clients without secrets and refuses bad input with one error line.
    let output = succeed(
        rolemine()
            .args(["client", "list"])
            .env("DATABASE_URL", &db.url),
    );
    let listed = String::from_utf8(output.stdout).unwrap();
    assert_eq!(listed.lines().count(), 2);
    assert!(
        !listed.contains(&reader_secret) && !listed.contains("secret"),
        "{listed}"
    );
    let stderr = fail(
        rolemine()
            .args([
                "client",
                "create",
                "--name",
                "x",
                "--scope",
                "sp:scopes:all",
            ])
            .env("DATABASE_URL", &db.url),
    );
    assert!(
        stderr.contains("unknown scope \"sp:scopes:all\""),
        "{stderr}"
    );
    let stderr = fail(
        rolemine()
            .args(["client", "revoke", "nobody"])
            .env("DATABASE_URL", &db.url),
    );
    assert!(stderr.contains("API client nobody not found"), "{stderr}");

    assert!(server.terminate().success());
    db.drop_database().await;
}

#[tokio::test]
async fn clients_over_their_rate_get_429_with_retry_after() {
    let db = TestDatabase::create().await;
    let log = tempfile::NamedTempFile::new().unwrap();
    let server = start(
        &db,
        log.path(),
        &[("ROLEMINE_RATE_LIMIT", "1"), ("ROLEMINE_RATE_BURST", "3")],
    );
    let (id, secret) = create_client(&db.url, &[READ]);
    let bearer = token(&server.base, &id, &secret);
    let mut statuses = Vec::new();
    let mut limited = None;
    for _ in 0..5 {
        let (status, retry_after, body) = get(
            &server,
            "/beta/role-mining-sessions",
            Some(&bearer),
            "Retry-After",
        );
        statuses.push(status);
        if status == 429 {
            limited = Some((retry_after, body));
        }
    }
    assert_eq!(&statuses[..3], [200, 200, 200], "{statuses:?}");
    let (retry_after, body) = limited.expect("no 429 after the burst");
    support::assert_contract_shape("getRoleMiningSessions", 429, &body);
    let seconds: u64 = retry_after.unwrap().parse().unwrap();
    assert!((1..=2).contains(&seconds), "{seconds}");
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .contains("Rate limit exceeded"),
        "{body}"
    );
    // Another client has its own budget.
    let (other_id, other_secret) = create_client(&db.url, &[READ]);
    let other = token(&server.base, &other_id, &other_secret);
    let (status, _, _) = get(&server, "/beta/role-mining-sessions", Some(&other), "X");
    assert_eq!(status, 200);
    assert!(server.terminate().success());
    db.drop_database().await;
}

#[tokio::test]
async fn openapi_json_documents_what_is_served_and_matches_the_contract() {
    let db = TestDatabase::create().await;
    let log = tempfile::NamedTempFile::new().unwrap();
    let server = start(&db, log.path(), &[]);
    let (status, _, document) = get(&server, "/openapi.json", None, "X");
    assert_eq!(status, 200, "served without a token");
    assert_eq!(document["openapi"].as_str().map(|v| &v[..2]), Some("3."));
    let servers: Vec<&str> = document["servers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["url"].as_str().unwrap())
        .collect();
    assert_eq!(servers, ["/beta", "/v2024", "/v2025", "/v2026"]);
    let scheme = &document["components"]["securitySchemes"]["applicationAuth"];
    assert_eq!(
        scheme["flows"]["clientCredentials"]["tokenUrl"],
        "/oauth/token"
    );
    assert_eq!(
        document["paths"]["/rolemine/v1/imports"]["servers"][0]["url"],
        "/"
    );

    // Every contract operation we document has the contract's path, method and operationId.
    let contract = support::contract();
    let mut documented = 0;
    for (path, item) in document["paths"].as_object().unwrap() {
        for (method, operation) in item.as_object().unwrap() {
            let Some(id) = operation["operationId"].as_str() else {
                continue;
            };
            if path.starts_with("/rolemine/") || path == "/oauth/token" {
                continue;
            }
            assert_eq!(
                contract["paths"][path][method]["operationId"], id,
                "{method} {path} is not {id} in the contract"
            );
            let security = &contract["paths"][path][method]["security"][1]["applicationAuth"];
            assert_eq!(
                &operation["security"][0]["applicationAuth"], security,
                "{id}"
            );
            documented += 1;
        }
    }
    assert_eq!(documented, 25, "every contract operation is documented");
    // The schemas the operations refer to are all in the document.
    fn references<'a>(value: &'a Value, found: &mut Vec<&'a str>) {
        match value {
            Value::Object(map) => {
                if let Some(Value::String(target)) = map.get("$ref") {
                    found.push(target);
                }
                map.values().for_each(|v| references(v, found));
            }
            Value::Array(items) => items.iter().for_each(|v| references(v, found)),
            _ => {}
        }
    }
    let mut found = Vec::new();
    references(&document, &mut found);
    assert!(found.len() > 25, "{found:?}");
    let missing: BTreeSet<&str> = found
        .into_iter()
        .filter(|target| {
            let name = target.trim_start_matches("#/components/schemas/");
            !document["components"]["schemas"][name].is_object()
        })
        .collect();
    assert!(missing.is_empty(), "not in the document: {missing:?}");
    assert!(server.terminate().success());
    db.drop_database().await;
}

/// The contract check itself ([`support::contract_violations`]): the contract's own examples
/// pass, objects are closed, `nullable` admits null, formats are checked, and only the
/// documented extensions are allowed on top.
#[test]
fn the_contract_check_closes_objects_and_allows_only_the_documented_extensions() {
    let contract = support::contract();
    let example = |component: &str| contract["components"]["schemas"][component]["example"].clone();
    let violations = |operation: &str, body: &Value| {
        support::contract_violations(operation, 200, body).join("\n")
    };

    let session = example("RoleMiningSessionResponse");
    assert_eq!(violations("getRoleMiningSession", &session), "");
    for (field, value) in [
        (
            "failureMessage",
            serde_json::json!("mining failed: out of memory"),
        ),
        ("failureMessage", Value::Null),
        ("stalledSince", serde_json::json!("2026-01-02T03:04:05Z")),
        ("stalledSince", Value::Null),
        (
            "status",
            serde_json::json!({"state": "FAILED", "failureMessage": "x", "stalledSince": null}),
        ),
        ("name", serde_json::json!("Saved")),
        (
            "createdBy",
            serde_json::json!({"id": "c-1", "displayName": "client"}),
        ),
    ] {
        let mut body = session.clone();
        body[field] = value;
        assert_eq!(
            violations("getRoleMiningSession", &body),
            "",
            "{field}: {body}"
        );
    }
    for (field, value, expected) in [
        ("identityCunt", serde_json::json!(3), "identityCunt"),
        ("stalledSince", serde_json::json!("yesterday"), "date-time"),
        ("identityCount", Value::Null, "identityCount"),
        (
            "status",
            serde_json::json!({"state": "EXPLODED"}),
            "/status/state",
        ),
        (
            "status",
            serde_json::json!({"state": "CREATED", "reason": "x"}),
            "reason",
        ),
        (
            "scope",
            serde_json::json!({"criteria": "a:b", "identityIDs": []}),
            "identityIDs",
        ),
        (
            "createdBy",
            serde_json::json!({"id": "c-1", "name": "client"}),
            "/createdBy",
        ),
    ] {
        let mut body = session.clone();
        body[field] = value;
        let found = violations("getRoleMiningSession", &body);
        assert!(
            found.contains(expected),
            "{field}: {expected:?} not in {found:?}"
        );
    }
    let mut list = serde_json::json!([session.clone(), session]);
    list[1]["extra"] = serde_json::json!(1);
    assert!(violations("getRoleMiningSessions", &list).contains("/1"));

    // An allOf of two objects is one closed object with both objects' fields.
    let export = example("RoleMiningPotentialRoleExportResponse");
    assert_eq!(
        violations("exportRoleMiningPotentialRoleStatus", &export),
        ""
    );
    let mut failed = export.clone();
    failed["status"] = serde_json::json!("ERROR");
    failed["errorMessage"] = serde_json::json!("the artifact store is unreachable");
    failed["expiresAt"] = Value::Null;
    assert_eq!(
        violations("exportRoleMiningPotentialRoleStatus", &failed),
        ""
    );
    for (field, value, expected) in [
        ("exportId", serde_json::json!("not-a-uuid"), "uuid"),
        (
            "minEntitlementPopularity",
            serde_json::json!("0"),
            "minEntitlementPopularity",
        ),
        ("downloadUrl", serde_json::json!("/x"), "downloadUrl"),
    ] {
        let mut body = export.clone();
        body[field] = value;
        let found = violations("exportRoleMiningPotentialRoleStatus", &body);
        assert!(
            found.contains(expected),
            "{field}: {expected:?} not in {found:?}"
        );
    }

    // provisionState: null until provisioned (semantics.md), else the contract's values.
    let summary = serde_json::json!([{"id": "r", "name": "Role", "provisionState": null}]);
    assert_eq!(violations("getPotentialRoleSummaries", &summary), "");
    let summary = serde_json::json!([{"id": "r", "name": "Role", "provisionState": "DONE"}]);
    assert!(violations("getPotentialRoleSummaries", &summary).contains("provisionState"));
    // Extensions are allowed only where they are documented.
    let entitlement = serde_json::json!([{"name": "e", "commonAccess": true}]);
    assert_eq!(violations("getEntitlementsPotentialRole", &entitlement), "");
    let role = serde_json::json!({"id": "r", "commonAccess": true});
    assert!(violations("getPotentialRole", &role).contains("commonAccess"));
    // Nullable $ref (identityDistribution's items, potentialRoleRef, provisionState).
    let role = serde_json::json!({
        "id": "r", "identityDistribution": null, "potentialRoleRef": null,
        "provisionState": null, "provisionFailureMessage": null,
    });
    assert_eq!(violations("getPotentialRole", &role), "");
}
