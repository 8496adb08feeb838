//! The official SailPoint Python SDKs against a running server: `sailpoint` 1.4.2 under
//! `/beta`, `/v2024` and `/v2025`, and 2.1.72 at the `/role-mining-*/v1` paths, each getting its
//! token from `/oauth/token` with a client made by the CLI and calling all 25 operations
//! (`tests/sdk/python/journey.py`), deserialising every response with its own models; and 1.4.2
//! listing sessions with filters, sorters and counts.
//!
//! Each SDK is installed once into a virtualenv under the target directory. Without `python3`
//! the tests are skipped with a message; any other failure (no network to PyPI, an SDK error)
//! fails.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a failed test

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::support::{create_client, import_planted, rolemine, Server, TestDatabase, MANAGE};
use rolemine_dataset::planted::PlantedSpec;

/// The 1.x SDK: `sailpoint.beta`, `sailpoint.v2024`, `sailpoint.v2025` at `/beta/...` etc.
const SDK_1: &str = "sailpoint==1.4.2";
/// The 2.x SDK: `sailpoint.iai_role_mining` at the resource-versioned `/role-mining-*/v1` paths.
const SDK_2: &str = "sailpoint==2.1.72";

/// The virtualenv's python with `sdk` installed, or `None` when there is no Python at all.
/// Each SDK is installed once per test process: the tests of this file run in parallel
/// threads, and two of them creating the same virtualenv at once collide.
fn sdk_python(sdk: &'static str) -> Option<PathBuf> {
    static INSTALLED: std::sync::Mutex<Vec<(&'static str, Option<PathBuf>)>> =
        std::sync::Mutex::new(Vec::new());
    let mut installed = INSTALLED
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    if let Some((_, python)) = installed.iter().find(|(name, _)| *name == sdk) {
        return python.clone();
    }
    let python = install_sdk(sdk);
    installed.push((sdk, python.clone()));
    python
}

fn install_sdk(sdk: &str) -> Option<PathBuf> {
    let venv = crate::support::python_venv(&format!("sdk-venv-{}", sdk.replace("==", "-")), sdk)?;
    Some(venv.join("bin/python"))
}

/// A database with planted access data of `identities` identities, a server on it (logging to
/// the returned file) and a manage-scope client: (database, server, log, client id, secret).
pub(crate) async fn sdk_server(
    identities: u32,
) -> (
    TestDatabase,
    Server,
    tempfile::NamedTempFile,
    String,
    String,
) {
    let db = TestDatabase::create().await;
    let log = tempfile::NamedTempFile::new().unwrap();
    import_planted(
        &db.url,
        PlantedSpec {
            identities,
            entitlements: 200,
            roles: 6,
            ..PlantedSpec::default()
        },
    );
    let mut command = rolemine();
    command
        .env("DATABASE_URL", &db.url)
        .env("ROLEMINE_UPLOAD_DIR", std::env::temp_dir())
        // Not the default `<data-dir>/artifacts`, which is relative to the crate directory.
        .env(
            "ROLEMINE_ARTIFACT_DIR",
            std::env::temp_dir().join("rolemine-test-artifacts"),
        );
    let server = Server::start(command, log.path());
    let (id, secret) = create_client(&db.url, &[MANAGE]);
    (db, server, log, id, secret)
}

/// Runs `script` (after [`PRELUDE`]) with the server's base URL, the client and `extra`
/// arguments; returns the JSON it prints, failing with its stderr and the server log.
fn run_sdk(
    python: &Path,
    script: &str,
    server: &Server,
    id: &str,
    secret: &str,
    extra: &[&str],
) -> serde_json::Value {
    // Downloads land in the working directory.
    let cwd = tempfile::tempdir().unwrap();
    let output = Command::new(python)
        .current_dir(cwd.path())
        .args([
            "-c",
            &format!("{PRELUDE}{script}"),
            &server.base,
            id,
            secret,
        ])
        .args(extra)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "the SDK failed:\n{stderr}\nserver log:\n{}",
        server.log_text()
    );
    // The script's result is its last line; the SDK prints where it saved downloads before.
    let stdout = String::from_utf8_lossy(&output.stdout);
    let last = stdout.lines().last().unwrap_or_default();
    serde_json::from_str(last).unwrap_or_else(|err| panic!("{err}: {stdout}"))
}

/// What every script starts with: the SDK configured for the server and client in argv.
const PRELUDE: &str = r#"
import json, sys, time
import sailpoint.beta, sailpoint.v2025
from sailpoint.configuration import Configuration, ConfigurationParams

params = ConfigurationParams()
params.base_url, params.client_id, params.client_secret = sys.argv[1:4]
config = Configuration(params)
config.experimental = True
config.suppress_experimental_warnings = True
out = {}
"#;

const SCRIPT: &str = r#"
with sailpoint.beta.ApiClient(config) as client:
    api = sailpoint.beta.IAIRoleMiningApi(client)
    sessions = api.get_role_mining_sessions(filters='saved eq "true"', sorters="-createdDate", limit=10, count=True)
    out["beta"] = [[s.name, s.saved, s.status.state, s.created_by.actual_instance.display_name] for s in sessions]
    response = api.get_role_mining_sessions_with_http_info(count=True)
    headers = {k.lower(): v for k, v in (response.headers or {}).items()}
    out["beta_total"] = headers.get("x-total-count")
with sailpoint.v2025.ApiClient(config) as client:
    sessions = sailpoint.v2025.IAIRoleMiningApi(client).get_role_mining_sessions(sorters="createdDate")
    out["v2025"] = [s.name for s in sessions]
if len(sys.argv) > 4:
    from sailpoint.beta.models.role_mining_session_dto import RoleMiningSessionDto
    from sailpoint.beta.models.role_mining_session_scope import RoleMiningSessionScope
    from sailpoint.beta.models.json_patch_operation import JsonPatchOperation
    with sailpoint.beta.ApiClient(config) as client:
        api = sailpoint.beta.IAIRoleMiningApi(client)
        created = api.create_role_mining_sessions(RoleMiningSessionDto(
            scope=RoleMiningSessionScope(criteria="department:Finance OR department:Sales"),
            min_num_identities_in_potential_role=5, name="From the SDK", saved=True))
        deadline = time.time() + 60
        while api.get_role_mining_session_status(created.id).state != "POTENTIAL_ROLES_CREATED":
            assert time.time() < deadline, "mining did not finish"
            time.sleep(0.2)
        session = api.get_role_mining_session(created.id)
        out["created"] = [session.name, session.scoping_method, session.identity_count, session.potential_role_count]
        api.patch_role_mining_session(created.id, [JsonPatchOperation.from_dict({"op": "replace", "path": "/pruneThreshold", "value": "70"})])
        while api.get_role_mining_session_status(created.id).state != "POTENTIAL_ROLES_CREATED":
            assert time.time() < deadline, "re-mining did not finish"
            time.sleep(0.2)
        out["patched"] = api.get_role_mining_session(created.id).prune_threshold
print(json.dumps(out))
"#;

/// Runs `tests/sdk/python/journey.py` for one API generation (`module`) and checks what it
/// saw: all 25 operations called, each response deserialised by the SDK's models.
fn journey(python: &Path, server: &Server, id: &str, secret: &str, module: &str) {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/sdk/python/journey.py");
    let cwd = tempfile::tempdir().unwrap();
    let output = Command::new(python)
        .current_dir(cwd.path())
        .arg(&script)
        .args([server.base.as_str(), id, secret, module])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "the {module} journey failed:\n{stderr}\nserver log:\n{}",
        server.log_text()
    );
    let stdout = String::from_utf8_lossy(&output.stdout);
    let result: serde_json::Value = serde_json::from_str(stdout.lines().last().unwrap_or_default())
        .unwrap_or_else(|err| panic!("{err}: {stdout}"));
    assert_eq!(result["operations"], 25, "{module}: {result}");
    assert_eq!(
        result["missing"],
        serde_json::json!([]),
        "{module}: {result}"
    );
    assert_eq!(result["created_identity_count"], 0, "{module}: {result}");
    assert_eq!(
        result["session"],
        serde_json::json!([format!("Journey {module}"), true, true])
    );
    assert!(result["summaries"].as_u64().unwrap() >= 1, "{result}");
    assert!(result["members"].as_u64().unwrap() >= 5, "{result}");
    assert_eq!(
        result["never_provisioned_state"],
        serde_json::Value::Null,
        "{result}"
    );
    assert!(
        result["distribution_total"].as_u64().unwrap() > 0,
        "{result}"
    );
    let excluded = result["excluded_id"].clone();
    assert_eq!(
        result["edited"],
        serde_json::json!([excluded.clone()]),
        "{result}"
    );
    assert_eq!(
        result["excluded"],
        serde_json::json!([excluded]),
        "{result}"
    );
    assert_eq!(
        result["patched"],
        serde_json::json!(["Journeyed", true]),
        "{result}"
    );
    assert!(result["saved"]
        .as_array()
        .unwrap()
        .contains(&serde_json::json!("Journeyed")));
    assert!(result["usage"].as_u64().unwrap() >= 1, "{result}");
    assert_eq!(
        result["export_files"],
        serde_json::json!([
            "entitlements.csv",
            "identities.csv",
            "missing_access.csv",
            "outliers.csv",
            "rules.csv"
        ])
    );
    assert_eq!(result["download_matches"], true, "{result}");
    assert_eq!(result["provision_requested"], "PENDING", "{result}");
    assert_eq!(result["provisioned"], "COMPLETE", "{result}");
}

#[tokio::test]
async fn python_sdk_1_runs_every_operation_under_beta_v2024_and_v2025() {
    let Some(python) = sdk_python(SDK_1) else {
        eprintln!("SKIPPED: python3 is not installed, so the official SailPoint SDK cannot run");
        return;
    };
    let (db, server, _log, id, secret) = sdk_server(600).await;
    for module in ["sailpoint.beta", "sailpoint.v2024", "sailpoint.v2025"] {
        journey(&python, &server, &id, &secret, module);
    }
    assert!(server.terminate().success());
    db.drop_database().await;
}

#[tokio::test]
async fn python_sdk_2_runs_every_operation_at_the_v1_paths() {
    let Some(python) = sdk_python(SDK_2) else {
        eprintln!("SKIPPED: python3 is not installed, so the official SailPoint SDK cannot run");
        return;
    };
    let (db, server, _log, id, secret) = sdk_server(600).await;
    journey(&python, &server, &id, &secret, "sailpoint.iai_role_mining");
    assert!(server.terminate().success());
    db.drop_database().await;
}

#[tokio::test]
async fn the_official_python_sdk_lists_sessions_under_beta_and_v2025_and_mines_one() {
    let Some(python) = sdk_python(SDK_1) else {
        eprintln!("SKIPPED: python3 is not installed, so the official SailPoint SDK cannot run");
        return;
    };
    let (db, server, _log, id, secret) = sdk_server(400).await;
    let pool = db.pool().await;
    sqlx::query(
        "INSERT INTO role_mining_sessions (id, name, saved, created_by_id, created_by_name, created_at, scope, prune_threshold)
         VALUES (gen_random_uuid(), 'First', true, 'c1', 'Ann', '2026-01-01', '{\"identityIds\": [\"u1\"]}', 70),
                (gen_random_uuid(), 'Second', false, 'c1', 'Ann', '2026-01-02', '{}', NULL),
                (gen_random_uuid(), 'Third', true, 'c2', 'Bob', '2026-01-03', '{\"criteria\": \"department:Finance\"}', NULL)",
    )
    .execute(&pool)
    .await
    .unwrap();
    let result = run_sdk(&python, SCRIPT, &server, &id, &secret, &["mine"]);
    assert_eq!(
        result["beta"],
        serde_json::json!([
            ["Third", true, "CREATED", "Bob"],
            ["First", true, "CREATED", "Ann"]
        ])
    );
    assert_eq!(result["beta_total"], "3");
    assert_eq!(
        result["v2025"],
        serde_json::json!(["First", "Second", "Third"])
    );

    assert!(server.terminate().success());
    pool.close().await;
    db.drop_database().await;
}
