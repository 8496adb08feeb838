//! Role-mining sessions end to end: a client creates sessions over each kind of scope, the
//! server's worker mines them, and the results match the engine run directly on the same data.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a failed test

use crate::support;

use std::time::{Duration, Instant};

use crate::support::{
    assert_error_body, get, http, import_planted, json_response, mined, patch_session, post,
    rolemine, serve, succeed, TestDatabase,
};
use roaring::RoaringBitmap;
use rolemine_dataset::planted::PlantedSpec;
use rolemine_dataset::AccessData;
use rolemine_engine::mine::{MiningInput, MiningParams};
use rolemine_engine::Silent;
use serde_json::{json, Value};

/// Imports a two-column assignments.csv with `rolemine import`.
fn import_assignments(db: &TestDatabase, csv: &str) {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("assignments.csv"), csv).unwrap();
    succeed(
        rolemine()
            .args(["import", "--quiet"])
            .arg(dir.path())
            .env("DATABASE_URL", &db.url),
    );
}

/// Identity indices of `data` whose department is (or, `negate`, is not) one of `values`.
fn department(data: &AccessData, values: &[&str], negate: bool) -> RoaringBitmap {
    let attribute = data
        .attributes
        .iter()
        .find(|a| a.name == "department")
        .unwrap();
    (0..data.matrix.identities())
        .filter(|&i| {
            let value = attribute.codes[i as usize].map(|c| attribute.values[c as usize].as_str());
            value.is_some_and(|v| values.contains(&v)) != negate
        })
        .collect()
}

#[tokio::test]
async fn sessions_over_every_scope_kind_mine_like_the_engine() {
    let db = TestDatabase::create().await;
    let data_dir = import_planted(
        &db.url,
        PlantedSpec {
            identities: 3000,
            entitlements: 800,
            roles: 16,
            ..PlantedSpec::default()
        },
    );
    let data = AccessData::load(data_dir.path()).unwrap();
    let (server, id, bearer) = serve(&db, &[]);

    let first: Vec<&String> = data.identity_ids.iter().take(1800).collect();
    // A widely held entitlement (a birthright), for an access.id criterion.
    let held = (0..data.matrix.entitlements())
        .max_by_key(|&e| data.matrix.holders(e).len())
        .unwrap();
    let first_set: RoaringBitmap = (0..1800).collect();
    let cases: Vec<(Value, RoaringBitmap)> = vec![
        (json!({"identityIds": first}), first_set.clone()),
        (
            json!({"attributeFilterCriteria": [{"data": {"name": "department", "operator": "EQUALS", "values": ["Finance", "Sales", "Engineering"]}}]}),
            department(&data, &["Finance", "Sales", "Engineering"], false),
        ),
        (
            json!({"identityIds": first, "attributeFilterCriteria": [{"data": {"name": "department", "operator": "NOT_EQUALS", "values": ["HR"]}}]}),
            &first_set & &department(&data, &["HR"], true),
        ),
        (json!({}), (0..data.matrix.identities()).collect()),
        (
            json!({"criteria": "department:fin* OR (department:Sales AND NOT department:HR)"}),
            department(&data, &["Finance", "Sales"], false),
        ),
        (
            json!({"criteria": format!("access.id:\"{}\"", data.entitlements[held as usize].id), "identityIds": first}),
            data.matrix.holders(held) & &first_set,
        ),
        (
            json!({"criteria": "NOT department:HR", "attributeFilterCriteria": [{"data": {"name": "department", "operator": "NOT_EQUALS", "values": ["Legal"]}}]}),
            &department(&data, &["HR"], true) & &department(&data, &["Legal"], true),
        ),
    ];
    let existing: Vec<RoaringBitmap> = data.roles.iter().map(|r| r.entitlements.clone()).collect();
    for (scope, population) in cases {
        let request = json!({"scope": scope, "minNumIdentitiesInPotentialRole": 15, "name": "scoped", "emailRecipientId": "owner-1"});
        let (status, created) = post(
            &server,
            &bearer,
            "/beta/role-mining-sessions",
            &request.to_string(),
            "application/json",
        );
        assert_eq!(status, 201, "{created}");
        assert_eq!(created["status"]["state"], "CREATED");
        assert_eq!(created["scopingMethod"], "MANUAL");
        assert_eq!(created["type"], "SPECIALIZED");
        assert_eq!(created["createdBy"]["id"], id.as_str());
        assert_eq!(created["createdBy"]["displayName"], "test client");
        assert_eq!(created["scope"], scope);
        let session = mined(&server, &bearer, created["id"].as_str().unwrap());

        let expected = rolemine_engine::mine(
            MiningInput {
                matrix: &data.matrix,
                population: &population,
                existing_roles: &existing,
                attributes: &data.attributes,
            },
            MiningParams {
                min_identities: 15,
                ..MiningParams::default()
            },
            &Silent,
        )
        .unwrap();
        assert_eq!(session["identityCount"], population.len(), "{scope}");
        assert_eq!(
            session["prescribedPruneThreshold"], expected.prescribed_threshold,
            "{scope}"
        );
        assert_eq!(
            session["potentialRoleCount"],
            expected.roles.len(),
            "{scope}"
        );
        assert_eq!(
            session["potentialRolesReadyCount"],
            expected.roles.len(),
            "{scope}"
        );
        assert!(!expected.roles.is_empty(), "{scope}");

        let pool = db.pool().await;
        let sizes: Vec<i64> = sqlx::query_scalar(
            "SELECT count(m.identity_id) FROM potential_roles r
               JOIN potential_role_members m ON m.potential_role_id = r.id
              WHERE r.session_id = $1::uuid GROUP BY r.id, r.ordinal ORDER BY r.ordinal",
        )
        .bind(session["id"].as_str().unwrap())
        .fetch_all(&pool)
        .await
        .unwrap();
        let expected_sizes: Vec<i64> = expected
            .roles
            .iter()
            .map(|r| r.members.len() as i64)
            .collect();
        assert_eq!(sizes, expected_sizes, "{scope}");
        // Recorded in the outbox and, without SMTP, delivered to the log.
        let started = Instant::now();
        let channel = loop {
            let channel: Option<String> = sqlx::query_scalar(
                "SELECT channel FROM notification_outbox WHERE session_id = $1::uuid AND recipient_id = 'owner-1'",
            )
            .bind(session["id"].as_str().unwrap())
            .fetch_one(&pool)
            .await
            .unwrap();
            if channel.is_some() || started.elapsed() > Duration::from_secs(20) {
                break channel;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        };
        assert_eq!(channel.as_deref(), Some("log"));
        pool.close().await;
    }

    // An empty population is a valid session with no roles.
    let request = json!({"scope": {"attributeFilterCriteria": [{"data": {"name": "department", "operator": "EQUALS", "values": ["Nowhere"]}}]}});
    let (status, created) = post(
        &server,
        &bearer,
        "/beta/role-mining-sessions",
        &request.to_string(),
        "application/json",
    );
    assert_eq!(status, 201, "{created}");
    let session = mined(&server, &bearer, created["id"].as_str().unwrap());
    assert_eq!(
        (
            session["identityCount"].as_i64(),
            session["potentialRoleCount"].as_i64()
        ),
        (Some(0), Some(0))
    );

    assert!(server.terminate().success());
    db.drop_database().await;
}

#[tokio::test]
async fn bad_session_requests_get_contract_errors() {
    let db = TestDatabase::create().await;
    import_assignments(&db, "identity_id,entitlement_id\nu1,e1\nu2,e1\n");
    let (server, _, bearer) = serve(&db, &[]);
    let many: Vec<String> = (0..15).map(|i| format!("ghost{i}")).collect();
    let cases = [
        (json!({"scope": {"identityIds": ["u1", "nobody"]}}).to_string(), "scope.identityIds: unknown identity \"nobody\""),
        (json!({"scope": {"identityIds": many}}).to_string(), "unknown identities \"ghost0\", \"ghost1\", \"ghost2\", \"ghost3\", \"ghost4\", \"ghost5\", \"ghost6\", \"ghost7\", \"ghost8\", \"ghost9\" and 5 more"),
        (json!({"pruneThreshold": 101}).to_string(), "pruneThreshold: must be from 0 to 100, got 101"),
        (json!({"pruneThreshold": -1}).to_string(), "pruneThreshold: must be from 0 to 100, got -1"),
        (json!({"pruneThreshold": "50"}).to_string(), "field `pruneThreshold`: invalid type: string \"50\""),
        (json!({"minNumIdentitiesInPotentialRole": 0}).to_string(), "minNumIdentitiesInPotentialRole: must be 1 or more, got 0"),
        (json!({"type": "RARE"}).to_string(), "field `type`: unknown variant `RARE`, expected `SPECIALIZED` or `COMMON`"),
        (json!({"scope": {"attributeFilterCriteria": [{"data": {"name": "department", "operator": "LIKE", "values": ["x"]}}]}}).to_string(), "field `scope.attributeFilterCriteria[0].data.operator`: unknown variant `LIKE`"),
        (json!({"scope": {"attributeFilterCriteria": [{"data": {"name": "department", "operator": "EQUALS", "values": []}}]}}).to_string(), "scope.attributeFilterCriteria[0].data.values: give at least one value"),
        ("{\"scope\": ".to_owned(), "the request body is not valid JSON"),
        (json!({"scope": {"criteria": "department"}}).to_string(), "scope.criteria: expected `:` after the field name (terms are field:value) at position 10"),
        (json!({"scope": {"criteria": "department:Finance AND (location:Miami"}}).to_string(), "scope.criteria: expected `)` closing the parenthesis"),
    ];
    for (body, message) in cases {
        let (status, response) = post(
            &server,
            &bearer,
            "/beta/role-mining-sessions",
            &body,
            "application/json",
        );
        assert_eq!(status, 400, "{body}: {response}");
        assert_error_body(&response, "400.1 Bad request content", message);
    }
    let (status, response) = post(
        &server,
        &bearer,
        "/beta/role-mining-sessions",
        "{}",
        "text/plain",
    );
    assert_eq!(status, 400);
    assert_error_body(
        &response,
        "400.1 Bad request content",
        "Content-Type must be application/json",
    );
    for path in [
        "/beta/role-mining-sessions/00000000-0000-0000-0000-000000000000",
        "/beta/role-mining-sessions/nope/status",
    ] {
        let (status, response) = get(&server, &bearer, path);
        assert_eq!(status, 404, "{path}");
        assert_error_body(&response, "404 Not found", "role mining session");
    }
    assert!(server.terminate().success());
    db.drop_database().await;
}

#[tokio::test]
async fn patching_parameters_remines_and_supersedes_the_running_job() {
    let db = TestDatabase::create().await;
    let data_dir = import_planted(
        &db.url,
        PlantedSpec {
            identities: 20_000,
            ..PlantedSpec::default()
        },
    );
    let data = AccessData::load(data_dir.path()).unwrap();
    let (server, _, bearer) = serve(&db, &[]);

    // A first result with one role the user saved: it must survive re-mining.
    let (status, created) = post(
        &server,
        &bearer,
        "/beta/role-mining-sessions",
        "{}",
        "application/json",
    );
    assert_eq!(status, 201, "{created}");
    let saved_session = created["id"].as_str().unwrap().to_owned();
    mined(&server, &bearer, &saved_session);
    let pool = db.pool().await;
    let kept: uuid::Uuid = sqlx::query_scalar(
        "UPDATE potential_roles SET saved = true
          WHERE id = (SELECT id FROM potential_roles WHERE session_id = $1::uuid ORDER BY ordinal LIMIT 1)
         RETURNING id",
    )
    .bind(&saved_session)
    .fetch_one(&pool)
    .await
    .unwrap();
    let (status, _) = patch_session(
        &server,
        &bearer,
        &saved_session,
        json!([{"op": "replace", "path": "/pruneThreshold", "value": 90}]),
    );
    assert_eq!(status, 202);
    let remined = mined(&server, &bearer, &saved_session);
    let (kept_still, total): (i64, i64) = sqlx::query_as(
        "SELECT count(*) FILTER (WHERE id = $2), count(*) FROM potential_roles WHERE session_id = $1::uuid",
    )
    .bind(&saved_session)
    .bind(kept)
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(kept_still, 1, "the saved role survived");
    assert_eq!(total, remined["potentialRoleCount"].as_i64().unwrap() + 1);

    let (status, created) = post(
        &server,
        &bearer,
        "/beta/role-mining-sessions",
        "{}",
        "application/json",
    );
    assert_eq!(status, 201, "{created}");
    let id = created["id"].as_str().unwrap().to_owned();
    // Straight away, while the first job is queued or mining: integers as strings, as the
    // contract's example sends them.
    let (status, patched) = patch_session(
        &server,
        &bearer,
        &id,
        json!([
            {"op": "replace", "path": "/pruneThreshold", "value": "60"},
            {"op": "add", "path": "/minNumIdentitiesInPotentialRole", "value": "30"},
        ]),
    );
    assert_eq!(status, 202, "{patched}");
    assert_eq!(patched["status"]["state"], "UPDATED");
    assert_eq!(
        (
            patched["pruneThreshold"].as_i64(),
            patched["minNumIdentitiesInPotentialRole"].as_i64()
        ),
        (Some(60), Some(30))
    );
    let session = mined(&server, &bearer, &id);

    let expected = data
        .mine(
            MiningParams {
                prune_threshold: Some(60),
                min_identities: 30,
                ..MiningParams::default()
            },
            &Silent,
        )
        .unwrap();
    assert_eq!(session["potentialRoleCount"], expected.roles.len());
    let rows: Vec<(i32, i64)> = sqlx::query_as(
        "SELECT r.generation, count(m.identity_id) FROM potential_roles r
           JOIN potential_role_members m ON m.potential_role_id = r.id
          WHERE r.session_id = $1::uuid GROUP BY r.id ORDER BY r.ordinal",
    )
    .bind(&id)
    .fetch_all(&pool)
    .await
    .unwrap();
    assert!(
        rows.iter().all(|(generation, _)| *generation == 1),
        "only the new generation's roles: {rows:?}"
    );
    let sizes: Vec<i64> = rows.iter().map(|(_, size)| *size).collect();
    let expected_sizes: Vec<i64> = expected
        .roles
        .iter()
        .map(|r| r.members.len() as i64)
        .collect();
    assert_eq!(sizes, expected_sizes);
    // The session is published before its job is recorded as done (the job then vacuums).
    let started = Instant::now();
    let states = loop {
        let states: Vec<(i64, String)> = sqlx::query_as(
            "SELECT (payload ->> 'generation')::bigint, state FROM jobs
              WHERE subject_id = $1::uuid ORDER BY created_at",
        )
        .bind(&id)
        .fetch_all(&pool)
        .await
        .unwrap();
        if states.iter().all(|(_, state)| state != "RUNNING")
            || started.elapsed() > Duration::from_secs(30)
        {
            break states;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(
        matches!(states.as_slice(), [(0, first), (1, second)]
            if ["CANCELLED", "SUCCEEDED"].contains(&first.as_str()) && second == "SUCCEEDED"),
        "the first job was superseded, the second ran: {states:?}"
    );

    // Saved flag and name: no re-mine.
    let (status, patched) = patch_session(
        &server,
        &bearer,
        &id,
        json!([
            {"op": "replace", "path": "/saved", "value": "true"},
            {"op": "replace", "path": "/name", "value": "Kept"},
        ]),
    );
    assert_eq!(status, 202, "{patched}");
    assert_eq!(
        (patched["saved"].as_bool(), patched["name"].as_str()),
        (Some(true), Some("Kept"))
    );
    assert_eq!(patched["status"]["state"], "POTENTIAL_ROLES_CREATED");
    assert_eq!(patched["potentialRoleCount"], expected.roles.len());

    for (body, message) in [
        (json!([{"op": "remove", "path": "/name"}]), "[0].op: `remove` is not supported on a session"),
        (json!([{"op": "replace", "path": "/saved", "value": true}, {"op": "replace", "path": "/type", "value": "COMMON"}]), "[1].path: `/type` cannot be changed; changeable: /pruneThreshold, /minNumIdentitiesInPotentialRole, /saved, /name"),
        (json!([{"op": "replace", "path": "/pruneThreshold", "value": "abc"}]), "[0].value for /pruneThreshold: must be a whole number, got \"abc\""),
        (json!([{"op": "replace", "path": "/pruneThreshold", "value": 101}]), "[0].value for /pruneThreshold: must be from 0 to 100, got 101"),
        (json!([{"op": "replace", "path": "/minNumIdentitiesInPotentialRole", "value": "0"}]), "must be 1 or more, got 0"),
        (json!([{"op": "replace", "path": "/saved", "value": "yes"}]), "[0].value for /saved: must be true or false"),
        (json!([]), "the patch is empty"),
        (json!({"op": "replace"}), "the request body: invalid type: map, expected a sequence"),
    ] {
        let (status, response) = patch_session(&server, &bearer, &id, body.clone());
        assert_eq!(status, 400, "{body}: {response}");
        assert_error_body(&response, "400.1 Bad request content", message);
    }
    let (status, response) = patch_session(
        &server,
        &bearer,
        "00000000-0000-0000-0000-000000000000",
        json!([{"op": "replace", "path": "/saved", "value": true}]),
    );
    assert_eq!(status, 404);
    assert_error_body(
        &response,
        "404 Not found",
        "role mining session 00000000-0000-0000-0000-000000000000 not found",
    );

    pool.close().await;
    assert!(server.terminate().success());
    db.drop_database().await;
}

/// A `rolemine worker` process on `url` with a short lease, logging to `log`.
fn worker(url: &str, log: &std::path::Path) -> std::process::Child {
    rolemine()
        .arg("worker")
        .env("DATABASE_URL", url)
        .env("ROLEMINE_JOB_LEASE", "3")
        .stdout(std::process::Stdio::null())
        .stderr(std::fs::File::create(log).unwrap())
        .spawn()
        .unwrap()
}

#[tokio::test]
async fn a_worker_killed_mid_job_loses_its_lease_and_another_finishes_the_session() {
    let db = TestDatabase::create().await;
    let data_dir = import_planted(
        &db.url,
        PlantedSpec {
            identities: 60_000,
            entitlements: 4_000,
            roles: 120,
            ..PlantedSpec::default()
        },
    );
    let data = AccessData::load(data_dir.path()).unwrap();
    let (server, _, bearer) = serve(&db, &[("ROLEMINE_NO_WORKER", "true".to_owned())]);
    let pool = db.pool().await;

    let first_log = tempfile::NamedTempFile::new().unwrap();
    let mut first = worker(&db.url, first_log.path());
    let (status, created) = post(
        &server,
        &bearer,
        "/beta/role-mining-sessions",
        "{}",
        "application/json",
    );
    assert_eq!(status, 201, "{created}");
    let id = created["id"].as_str().unwrap().to_owned();
    // Kill the worker as soon as it holds the job.
    let started = Instant::now();
    loop {
        let running: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM jobs WHERE payload ->> 'sessionId' = $1 AND state = 'RUNNING'",
        )
        .bind(&id)
        .fetch_one(&pool)
        .await
        .unwrap();
        if running == 1 {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "the job never started"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    support::signal(&first, nix::sys::signal::Signal::SIGKILL);
    first.wait().unwrap();
    let state: String =
        sqlx::query_scalar("SELECT state FROM role_mining_sessions WHERE id = $1::uuid")
            .bind(&id)
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_ne!(
        state, "POTENTIAL_ROLES_CREATED",
        "the first worker finished before it was killed"
    );

    let second_log = tempfile::NamedTempFile::new().unwrap();
    let mut second = worker(&db.url, second_log.path());
    let session = mined(&server, &bearer, &id);
    support::signal(&second, nix::sys::signal::Signal::SIGTERM);
    second.wait().unwrap();

    let attempts: i32 =
        sqlx::query_scalar("SELECT attempts FROM jobs WHERE payload ->> 'sessionId' = $1")
            .bind(&id)
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!(attempts, 2, "the second worker ran it again");
    let expected = data.mine(MiningParams::default(), &Silent).unwrap();
    assert_eq!(session["potentialRoleCount"], expected.roles.len());
    // The coverage the engine reports is the session's.
    let explained = expected.explained;
    assert!(
        (session["assignmentsExplainedPercent"].as_f64().unwrap() - explained.explained_percent())
            .abs()
            < 1e-9,
        "{session}"
    );
    assert_eq!(session["overGrants"], explained.over_grants);
    assert!(
        (session["identitiesInRolesPercent"].as_f64().unwrap()
            - explained.identities_in_roles_percent())
        .abs()
            < 1e-9
    );
    let sizes: Vec<i64> = sqlx::query_scalar(
        "SELECT count(m.identity_id) FROM potential_roles r
           JOIN potential_role_members m ON m.potential_role_id = r.id
          WHERE r.session_id = $1::uuid GROUP BY r.id, r.ordinal ORDER BY r.ordinal",
    )
    .bind(&id)
    .fetch_all(&pool)
    .await
    .unwrap();
    let expected_sizes: Vec<i64> = expected
        .roles
        .iter()
        .map(|r| r.members.len() as i64)
        .collect();
    assert_eq!(
        sizes, expected_sizes,
        "the same roles as an undisturbed run"
    );

    pool.close().await;
    assert!(server.terminate().success());
    db.drop_database().await;
}

#[tokio::test]
async fn a_session_whose_job_fails_is_left_failed_with_a_message() {
    let db = TestDatabase::create().await;
    import_assignments(&db, "identity_id,entitlement_id\nu1,e1\n");
    let (server, _, bearer) = serve(&db, &[("ROLEMINE_NO_WORKER", "true".to_owned())]);
    let (status, created) = post(
        &server,
        &bearer,
        "/beta/role-mining-sessions",
        "{}",
        "application/json",
    );
    assert_eq!(status, 201);
    let id = created["id"].as_str().unwrap().to_owned();
    // Damage the stored criteria before any worker runs the job: the job cannot succeed.
    let pool = db.pool().await;
    sqlx::query(
        "UPDATE role_mining_sessions SET scope = '{\"criteria\": \"name eq\"}' WHERE id = $1::uuid",
    )
    .bind(&id)
    .execute(&pool)
    .await
    .unwrap();
    let worker_log = tempfile::NamedTempFile::new().unwrap();
    let mut worker = worker(&db.url, worker_log.path());
    let started = Instant::now();
    let status = loop {
        let (code, body) = get(
            &server,
            &bearer,
            &format!("/v2025/role-mining-sessions/{id}/status"),
        );
        assert_eq!(code, 200);
        if body["state"] == "FAILED" {
            break body;
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "not failed: {body}"
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    assert!(
        status["failureMessage"]
            .as_str()
            .unwrap()
            .contains("cannot build the query"),
        "{status}"
    );
    let (_, session) = get(
        &server,
        &bearer,
        &format!("/beta/role-mining-sessions/{id}"),
    );
    assert_eq!(session["status"]["state"], "FAILED");
    assert!(session["failureMessage"].is_string());
    support::signal(&worker, nix::sys::signal::Signal::SIGTERM);
    worker.wait().unwrap();
    pool.close().await;
    assert!(server.terminate().success());
    db.drop_database().await;
}

/// A minimal SMTP server on loopback that accepts every message; returns its port and what it
/// received.
fn fake_smtp() -> (u16, std::sync::Arc<std::sync::Mutex<Vec<String>>>) {
    use std::io::{BufRead, BufReader, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let received = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let store = received.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { return };
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let _ = stream.write_all(b"220 fake ESMTP\r\n");
            let mut line = String::new();
            while reader.read_line(&mut line).is_ok_and(|n| n > 0) {
                let command = line.to_ascii_uppercase();
                let reply: &[u8] = if command.starts_with("EHLO") || command.starts_with("HELO") {
                    b"250 fake\r\n"
                } else if command.starts_with("DATA") {
                    let _ = stream.write_all(b"354 send it\r\n");
                    let mut message = String::new();
                    let mut data = String::new();
                    while reader.read_line(&mut data).is_ok_and(|n| n > 0) {
                        if data == ".\r\n" {
                            break;
                        }
                        message.push_str(&data);
                        data.clear();
                    }
                    store.lock().unwrap().push(message);
                    b"250 queued\r\n"
                } else if command.starts_with("QUIT") {
                    let _ = stream.write_all(b"221 bye\r\n");
                    break;
                } else {
                    b"250 OK\r\n"
                };
                let _ = stream.write_all(reply);
                line.clear();
            }
        }
    });
    (port, received)
}

#[tokio::test]
async fn completion_is_emailed_when_smtp_is_configured() {
    let db = TestDatabase::create().await;
    import_planted(
        &db.url,
        PlantedSpec {
            identities: 400,
            entitlements: 200,
            roles: 6,
            ..PlantedSpec::default()
        },
    );
    let (port, received) = fake_smtp();
    let (server, _, bearer) = serve(
        &db,
        &[
            ("ROLEMINE_SMTP_URL", format!("smtp://127.0.0.1:{port}")),
            (
                "ROLEMINE_MAIL_FROM",
                "Rolemine <rolemine@test.example>".to_owned(),
            ),
        ],
    );
    let request = json!({"emailRecipientId": "id5", "minNumIdentitiesInPotentialRole": 5});
    let (status, created) = post(
        &server,
        &bearer,
        "/beta/role-mining-sessions",
        &request.to_string(),
        "application/json",
    );
    assert_eq!(status, 201, "{created}");
    let id = created["id"].as_str().unwrap().to_owned();
    mined(&server, &bearer, &id);
    let started = Instant::now();
    while received.lock().unwrap().is_empty() {
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "no mail:\n{}",
            server.log_text()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let mail = received.lock().unwrap()[0].clone();
    assert!(mail.contains("To: id5@example.com"), "{mail}");
    assert!(
        mail.contains("Subject: Role mining session complete"),
        "{mail}"
    );
    assert!(mail.contains(&id), "{mail}");
    let pool = db.pool().await;
    let mut channel = None;
    while started.elapsed() < Duration::from_secs(20) {
        channel = sqlx::query_scalar::<_, Option<String>>(
            "SELECT channel FROM notification_outbox WHERE session_id = $1::uuid",
        )
        .bind(&id)
        .fetch_one(&pool)
        .await
        .unwrap();
        if channel.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(channel.as_deref(), Some("smtp"));
    pool.close().await;
    assert!(server.terminate().success());
    db.drop_database().await;
}

/// Empty scope fields (what clients that fill every model field send) mean "not given".
#[tokio::test]
async fn empty_scope_fields_count_as_not_given() {
    let db = TestDatabase::create().await;
    let data_dir = import_planted(
        &db.url,
        PlantedSpec {
            identities: 600,
            entitlements: 120,
            roles: 5,
            ..PlantedSpec::default()
        },
    );
    let data = AccessData::load(data_dir.path()).unwrap();
    let (server, _, bearer) = serve(&db, &[]);
    let everyone = u64::from(data.matrix.identities());
    let finance = department(&data, &["Finance"], false).len();
    assert!(finance > 0);
    for (scope, expected) in [
        (
            json!({"identityIds": [], "criteria": "", "attributeFilterCriteria": []}),
            everyone,
        ),
        (
            json!({"identityIds": [], "criteria": null, "attributeFilterCriteria": null}),
            everyone,
        ),
        (json!({"identityIds": []}), everyone),
        (
            json!({"criteria": "department:Finance", "identityIds": []}),
            finance,
        ),
    ] {
        let id = support::create_session(&server, &bearer, &json!({ "scope": scope }));
        let session = mined(&server, &bearer, &id);
        support::assert_contract_shape("getRoleMiningSession", 200, &session);
        let (_, status) = get(
            &server,
            &bearer,
            &format!("/beta/role-mining-sessions/{id}/status"),
        );
        support::assert_contract_shape("getRoleMiningSessionStatus", 200, &status);
        assert_eq!(
            session["identityCount"].as_u64(),
            Some(expected),
            "{scope}: {session}"
        );
    }
    // Before the population is known, identityCount is 0, never null.
    let (status, created) = post(
        &server,
        &bearer,
        "/beta/role-mining-sessions",
        &json!({"scope": {}}).to_string(),
        "application/json",
    );
    assert_eq!(status, 201, "{created}");
    assert!(created["identityCount"].is_u64(), "{created}");
    support::assert_contract_shape("createRoleMiningSessions", 201, &created);
    drop(server);
    db.drop_database().await;
}

/// While a PATCH mines a session again, readers keep seeing the complete earlier role list,
/// and then the complete new one: never an empty or half-written list.
#[tokio::test]
async fn readers_never_see_an_empty_or_partial_role_list_during_a_re_mine() {
    let db = TestDatabase::create().await;
    let _data = import_planted(
        &db.url,
        PlantedSpec {
            identities: 6000,
            entitlements: 1500,
            roles: 150,
            ..PlantedSpec::default()
        },
    );
    // Polling as fast as it can: above the default per-client rate.
    let (server, _, bearer) = serve(&db, &[("ROLEMINE_RATE_LIMIT", "100000".into())]);
    let id = support::mine_session(
        &server,
        &bearer,
        &json!({"minNumIdentitiesInPotentialRole": 10}),
    );
    let before = support::role_summaries(&server, &bearer, &id).len();
    assert!(
        before > 100,
        "{before} roles: too few batches to see a partial list"
    );
    let response = http()
        .patch(format!("{}/beta/role-mining-sessions/{id}", server.base))
        .header("Authorization", format!("Bearer {bearer}"))
        .header("Content-Type", "application/json-patch+json")
        .send(r#"[{"op": "replace", "path": "/pruneThreshold", "value": "40"}]"#)
        .unwrap();
    let (status, _, patched) = json_response(response, "X");
    assert_eq!(status, 202);
    support::assert_contract_shape("patchRoleMiningSession", 202, &patched);
    let started = Instant::now();
    let mut seen = Vec::new();
    loop {
        let count = support::role_summaries(&server, &bearer, &id).len();
        seen.push(count);
        let (_, status) = get(
            &server,
            &bearer,
            &format!("/beta/role-mining-sessions/{id}/status"),
        );
        if status["state"] == "POTENTIAL_ROLES_CREATED" {
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(120), "{status}");
    }
    let after = support::role_summaries(&server, &bearer, &id).len();
    assert!(after > 0);
    assert!(
        seen.iter().all(|count| *count == before || *count == after),
        "partial lists seen: {seen:?} (before {before}, after {after})"
    );
    drop(server);
    db.drop_database().await;
}
