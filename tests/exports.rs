//! The synchronous export of a potential role: every row of the three CSV files checked against
//! the database, with and without the popularity and common-access filters and an exclusion.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a failed test

use crate::support;

use std::collections::{BTreeMap, BTreeSet};
use std::io::{Cursor, Read};

use crate::support::{
    assert_error_body, create_session, first_specialised, get, get_bytes, import_planted,
    mine_session, mined, post, role_summaries, rolemine, serve, Server, TestDatabase,
};
use rolemine_dataset::planted::PlantedSpec;
use serde_json::{json, Value};
use sqlx::PgPool;

/// Each file of the zip as its header and rows.
type Files = BTreeMap<String, (Vec<String>, Vec<Vec<String>>)>;

fn unzip(bytes: &[u8]) -> Files {
    let mut archive = zip::ZipArchive::new(Cursor::new(bytes)).unwrap();
    let mut files = Files::new();
    for i in 0..archive.len() {
        let mut file = archive.by_index(i).unwrap();
        let mut text = String::new();
        file.read_to_string(&mut text).unwrap();
        let mut reader = csv::Reader::from_reader(text.as_bytes());
        let header = reader
            .headers()
            .unwrap()
            .iter()
            .map(str::to_owned)
            .collect();
        let rows = reader
            .records()
            .map(|r| r.unwrap().iter().map(str::to_owned).collect())
            .collect();
        files.insert(file.name().to_owned(), (header, rows));
    }
    files
}

/// The role's entitlements the export should hold, from the tables: ext id → (popularity,
/// common access), not excluded, at or above `min`, common access only when `common`.
async fn expected_entitlements(
    pool: &PgPool,
    role: &str,
    min: f64,
    common: bool,
) -> BTreeMap<String, (f64, bool, i32)> {
    sqlx::query_as::<_, (String, f64, bool, i32)>(
        "SELECT e.ext_id, pre.popularity, pre.common_access, pre.identity_count
           FROM potential_role_entitlements pre JOIN entitlements e ON e.id = pre.entitlement_id
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
    .map(|(id, popularity, common, count)| (id, (popularity, common, count)))
    .collect()
}

/// (member, entitlement) pairs of `entitlements` the member does not hold, from the tables.
async fn expected_missing(
    pool: &PgPool,
    role: &str,
    entitlements: &BTreeSet<String>,
) -> BTreeSet<(String, String)> {
    let held: Vec<(String, String)> = sqlx::query_as(
        "SELECT i.ext_id, e.ext_id FROM potential_role_members m
           JOIN identities i ON i.id = m.identity_id
           JOIN identity_access a ON a.identity_id = m.identity_id
           JOIN entitlements e ON e.id = ANY(a.entitlement_ids)
          WHERE m.potential_role_id = $1::uuid",
    )
    .bind(role)
    .fetch_all(pool)
    .await
    .unwrap();
    let held: BTreeSet<(String, String)> = held.into_iter().collect();
    let members: Vec<String> = sqlx::query_scalar(
        "SELECT i.ext_id FROM potential_role_members m JOIN identities i ON i.id = m.identity_id
          WHERE m.potential_role_id = $1::uuid",
    )
    .bind(role)
    .fetch_all(pool)
    .await
    .unwrap();
    members
        .iter()
        .flat_map(|m| entitlements.iter().map(move |e| (m.clone(), e.clone())))
        .filter(|pair| !held.contains(pair))
        .collect()
}

fn check(files: &Files, expected: &BTreeMap<String, (f64, bool, i32)>) -> BTreeSet<String> {
    let (header, rows) = &files["entitlements.csv"];
    assert_eq!(
        header,
        &[
            "id",
            "name",
            "attribute",
            "application",
            "source_id",
            "identity_count",
            "popularity",
            "popularity_in_org",
            "common_access"
        ]
    );
    let exported: BTreeMap<String, (f64, bool, i32)> = rows
        .iter()
        .map(|r| {
            (
                r[0].clone(),
                (r[6].parse().unwrap(), r[8] == "true", r[5].parse().unwrap()),
            )
        })
        .collect();
    assert_eq!(&exported, expected);
    exported.into_keys().collect()
}

#[tokio::test]
async fn exports_hold_the_roles_rows_filtered_as_asked() {
    let db = TestDatabase::create().await;
    import_planted(
        &db.url,
        PlantedSpec {
            identities: 2000,
            entitlements: 600,
            roles: 10,
            ..PlantedSpec::default()
        },
    );
    let pool = db.pool().await;
    let (server, _, bearer) = serve(&db, &[]);
    let session = mine_session(
        &server,
        &bearer,
        &json!({"minNumIdentitiesInPotentialRole": 20}),
    );
    let role = first_specialised(&role_summaries(&server, &bearer, &session))["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let (_, detail) = get(
        &server,
        &bearer,
        &format!("/beta/role-mining-potential-roles/{role}"),
    );
    let path = format!("/beta/role-mining-sessions/{session}/potential-roles/{role}/export");

    // Everything: identities with their attributes, all entitlements, the missing access.
    let (status, disposition, bytes) = get_bytes(&server.base, &bearer, &path);
    assert_eq!(status, 200);
    let disposition = disposition.unwrap();
    // The file is named after the role ("Potential role 2" → "Potential-role-2-<id>.zip").
    let named = detail["name"].as_str().unwrap().replace(' ', "-");
    assert!(
        disposition.starts_with(&format!("attachment; filename=\"{named}-"))
            && disposition.ends_with(".zip\""),
        "{disposition}"
    );
    let files = unzip(&bytes);
    assert_eq!(
        files.keys().collect::<Vec<_>>(),
        [
            "entitlements.csv",
            "identities.csv",
            "missing_access.csv",
            "outliers.csv",
            "rules.csv"
        ]
    );
    let (header, identities) = &files["identities.csv"];
    assert_eq!(&header[..3], ["id", "name", "email"]);
    assert!(header.contains(&"department".to_owned()), "{header:?}");
    let exported_members: BTreeSet<String> = identities.iter().map(|r| r[0].clone()).collect();
    let members: BTreeSet<String> = detail["identityIds"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_owned())
        .collect();
    assert_eq!(exported_members, members);
    let department = header.iter().position(|h| h == "department").unwrap();
    let stored: BTreeMap<String, String> = sqlx::query_as::<_, (String, String)>(
        "SELECT ext_id, coalesce(attributes ->> 'department', '') FROM identities",
    )
    .fetch_all(&pool)
    .await
    .unwrap()
    .into_iter()
    .collect();
    for row in identities {
        assert_eq!(row[department], stored[&row[0]]);
    }
    let all = expected_entitlements(&pool, &role, 0.0, true).await;
    assert!(
        all.values().any(|(_, common, _)| *common),
        "birthrights are common access"
    );
    let ids = check(&files, &all);
    let missing: BTreeSet<(String, String)> = files["missing_access.csv"]
        .1
        .iter()
        .map(|r| (r[0].clone(), r[1].clone()))
        .collect();
    assert_eq!(missing, expected_missing(&pool, &role, &ids).await);
    assert!(!missing.is_empty());

    // Filtered, after excluding the most popular specialized entitlement.
    let excluded = all
        .iter()
        .filter(|(_, (_, common, _))| !common)
        .max_by(|a, b| a.1 .0.total_cmp(&b.1 .0))
        .unwrap()
        .0
        .clone();
    let (status, _) = post(
        &server,
        &bearer,
        &format!("/beta/role-mining-sessions/{session}/potential-roles/{role}/edit-entitlements"),
        &json!({"ids": [excluded], "exclude": true}).to_string(),
        "application/json",
    );
    assert_eq!(status, 201);
    let (status, _, bytes) = get_bytes(
        &server.base,
        &bearer,
        &format!("{path}?minEntitlementPopularity=30&includeCommonAccess=false"),
    );
    assert_eq!(status, 200);
    let files = unzip(&bytes);
    let narrowed = expected_entitlements(&pool, &role, 30.0, false).await;
    assert!(!narrowed.contains_key(&excluded));
    assert!(narrowed.len() < all.len());
    let ids = check(&files, &narrowed);
    let missing: BTreeSet<(String, String)> = files["missing_access.csv"]
        .1
        .iter()
        .map(|r| (r[0].clone(), r[1].clone()))
        .collect();
    assert_eq!(missing, expected_missing(&pool, &role, &ids).await);
    assert_eq!(files["identities.csv"].1.len(), members.len());

    // Bad input.
    for (query, text) in [
        ("minEntitlementPopularity=101", "minEntitlementPopularity"),
        ("minEntitlementPopularity=abc", "minEntitlementPopularity"),
        ("includeCommonAccess=yes", "includeCommonAccess"),
    ] {
        let (status, body) = get(&server, &bearer, &format!("{path}?{query}"));
        assert_eq!(status, 400, "{query}");
        assert_error_body(&body, "400.1 Bad request content", text);
    }
    let (status, body): (u16, Value) = get(
        &server,
        &bearer,
        &format!(
            "/beta/role-mining-sessions/{session}/potential-roles/{}/export",
            uuid::Uuid::new_v4()
        ),
    );
    assert_eq!(status, 404);
    assert_error_body(&body, "404 Not found", "not found");

    drop(server);
    pool.close().await;
    db.drop_database().await;
}

/// A `rolemine worker` process on `url`, keeping artifacts in `artifacts` for `ttl` seconds.
fn worker(url: &str, artifacts: &std::path::Path, ttl: &str) -> std::process::Child {
    rolemine()
        .arg("worker")
        .env("DATABASE_URL", url)
        .env("ROLEMINE_ARTIFACT_DIR", artifacts)
        .env("ROLEMINE_EXPORT_TTL", ttl)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap()
}

fn stop(mut child: std::process::Child) {
    support::signal(&child, nix::sys::signal::Signal::SIGTERM);
    support::wait_with_timeout(&mut child, std::time::Duration::from_secs(30));
}

/// Polls the export's status until it is `state`; returns the status body.
fn export_reaches(server: &Server, bearer: &str, path: &str, state: &str) -> Value {
    let started = std::time::Instant::now();
    loop {
        let (status, body) = get(server, bearer, path);
        assert_eq!(status, 200, "{body}");
        if body["status"] == state {
            return body;
        }
        assert!(
            body["status"] != "ERROR" && body["status"] != "SUCCESS",
            "{body}"
        );
        assert!(
            started.elapsed() < std::time::Duration::from_secs(60),
            "{body}"
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
}

#[tokio::test]
async fn async_exports_queue_run_download_and_expire() {
    let db = TestDatabase::create().await;
    import_planted(
        &db.url,
        PlantedSpec {
            identities: 1500,
            entitlements: 500,
            roles: 8,
            ..PlantedSpec::default()
        },
    );
    let artifacts = tempfile::tempdir().unwrap();
    let (server, _, bearer) = serve(
        &db,
        &[
            ("ROLEMINE_NO_WORKER", "true".to_owned()),
            (
                "ROLEMINE_ARTIFACT_DIR",
                artifacts.path().display().to_string(),
            ),
        ],
    );
    let session = create_session(
        &server,
        &bearer,
        &json!({"minNumIdentitiesInPotentialRole": 20}),
    );
    let mining = worker(&db.url, artifacts.path(), "3");
    mined(&server, &bearer, &session);
    stop(mining);
    let role = role_summaries(&server, &bearer, &session)[0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let base = format!("/beta/role-mining-sessions/{session}/potential-roles/{role}");

    // Queued, with no worker running: readable, not downloadable.
    let (status, queued) = post(
        &server,
        &bearer,
        &format!("{base}/export-async"),
        &json!({"minEntitlementPopularity": 25, "includeCommonAccess": false}).to_string(),
        "application/json",
    );
    assert_eq!(status, 202, "{queued}");
    support::assert_contract_shape("exportRoleMiningPotentialRoleAsync", 202, &queued);
    assert_eq!(queued["status"], "QUEUED");
    assert_eq!(queued["minEntitlementPopularity"], 25);
    assert_eq!(queued["includeCommonAccess"], false);
    let export_id = queued["exportId"].as_str().unwrap().to_owned();
    let status_path = format!("{base}/export-async/{export_id}");
    let (status, body) = get(&server, &bearer, &status_path);
    assert_eq!(status, 200);
    support::assert_contract_shape("exportRoleMiningPotentialRoleStatus", 200, &body);
    assert_eq!(body["status"], "QUEUED");
    let (status, body) = get(&server, &bearer, &format!("{status_path}/download"));
    assert_eq!(status, 400, "{body}");
    assert_error_body(&body, "400.1 Bad request content", "is QUEUED");

    // A worker writes it; the download is the synchronous export with the same filter.
    let exporting = worker(&db.url, artifacts.path(), "3");
    export_reaches(&server, &bearer, &status_path, "SUCCESS");
    let (status, disposition, downloaded) =
        get_bytes(&server.base, &bearer, &format!("{status_path}/download"));
    assert_eq!(status, 200);
    assert!(disposition.unwrap().ends_with(".zip\""));
    let (status, _, direct) = get_bytes(
        &server.base,
        &bearer,
        &format!("{base}/export?minEntitlementPopularity=25&includeCommonAccess=false"),
    );
    assert_eq!(status, 200);
    assert_eq!(unzip(&downloaded), unzip(&direct));
    let stored = artifacts.path().join(format!("exports/{export_id}.zip"));
    assert!(stored.is_file(), "{}", stored.display());

    // Past its time to live the sweeper deletes it and the download says so.
    let started = std::time::Instant::now();
    while stored.exists() {
        assert!(
            started.elapsed() < std::time::Duration::from_secs(30),
            "never swept"
        );
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    let (status, body) = get(&server, &bearer, &format!("{status_path}/download"));
    assert_eq!(status, 400, "{body}");
    assert_error_body(&body, "400.1 Bad request content", "expired");

    // An artifact store that cannot be written fails the export after its retries: ERROR with
    // the reason, and a download that names the state.
    std::fs::remove_dir_all(artifacts.path()).unwrap();
    std::fs::write(artifacts.path(), "not a directory").unwrap();
    let (status, queued) = post(
        &server,
        &bearer,
        &format!("{base}/export-async"),
        "",
        "application/json",
    );
    assert_eq!(status, 202, "{queued}");
    let failed_path = format!(
        "{base}/export-async/{}",
        queued["exportId"].as_str().unwrap()
    );
    let failed = export_reaches(&server, &bearer, &failed_path, "ERROR");
    support::assert_contract_shape("exportRoleMiningPotentialRoleStatus", 200, &failed);
    assert!(
        failed["errorMessage"]
            .as_str()
            .unwrap()
            .contains("could not be written"),
        "{failed}"
    );
    let (status, body) = get(&server, &bearer, &format!("{failed_path}/download"));
    assert_eq!(status, 400, "{body}");
    assert_error_body(&body, "400.1 Bad request content", "is ERROR");
    std::fs::remove_file(artifacts.path()).unwrap();
    stop(exporting);

    // Bad input.
    let (status, body) = post(
        &server,
        &bearer,
        &format!("{base}/export-async"),
        &json!({"minEntitlementPopularity": 101}).to_string(),
        "application/json",
    );
    assert_eq!(status, 400, "{body}");
    assert_error_body(
        &body,
        "400.1 Bad request content",
        "minEntitlementPopularity",
    );
    let (status, body) = post(
        &server,
        &bearer,
        &format!("{base}/export-async"),
        &json!({"includeCommonAccess": "maybe"}).to_string(),
        "application/json",
    );
    assert_eq!(status, 400, "{body}");
    assert_error_body(&body, "400.1 Bad request content", "includeCommonAccess");
    let (status, body) = get(
        &server,
        &bearer,
        &format!("{base}/export-async/{}", uuid::Uuid::new_v4()),
    );
    assert_eq!(status, 404, "{body}");
    assert_error_body(&body, "404 Not found", "export");

    drop(server);
    db.drop_database().await;
}
