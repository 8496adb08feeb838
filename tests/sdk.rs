//! The official SailPoint Python SDK (`sailpoint==1.4.2`) against a running server: it gets a
//! token from `/oauth/token` with a client made by the CLI, lists sessions under `/beta` and
//! `/v2025`, creates a session, polls it to completion and patches it, deserialising every
//! response with its own models.
//!
//! The SDK is installed once into a virtualenv under the target directory. Without `python3`
//! the test is skipped with a message; any other failure (no network to PyPI, an SDK error) fails.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a failed test

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;

use rolemine_dataset::planted::PlantedSpec;
use support::{create_client, import_planted, rolemine, Server, TestDatabase, MANAGE};

const SDK: &str = "sailpoint==1.4.2";

/// The virtualenv's python with the SDK installed, or `None` when there is no Python at all.
fn sdk_python() -> Option<PathBuf> {
    let python = ["python3", "python"].into_iter().find(|p| {
        Command::new(p)
            .arg("--version")
            .output()
            .is_ok_and(|o| o.status.success())
    })?;
    let venv = Path::new(env!("CARGO_TARGET_TMPDIR")).join("sailpoint-sdk-venv");
    let bin = venv.join("bin/python");
    let marker = venv.join(".installed-sailpoint-1.4.2");
    if !marker.is_file() {
        let _ = std::fs::remove_dir_all(&venv);
        let made = Command::new(python)
            .args(["-m", "venv"])
            .arg(&venv)
            .status()
            .unwrap();
        assert!(
            made.success(),
            "python3 -m venv failed (install python3-venv)"
        );
        let installed = Command::new(&bin)
            .args([
                "-m",
                "pip",
                "install",
                "--quiet",
                "--disable-pip-version-check",
                SDK,
            ])
            .status()
            .unwrap();
        assert!(installed.success(), "pip install {SDK} failed");
        std::fs::write(&marker, SDK).unwrap();
    }
    Some(bin)
}

const SCRIPT: &str = r#"
import json, sys
import sailpoint.beta, sailpoint.v2025
from sailpoint.configuration import Configuration, ConfigurationParams

params = ConfigurationParams()
params.base_url, params.client_id, params.client_secret = sys.argv[1:4]
config = Configuration(params)
config.experimental = True
config.suppress_experimental_warnings = True
out = {}
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
    import time
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

#[tokio::test]
async fn the_official_python_sdk_lists_sessions_under_beta_and_v2025_and_mines_one() {
    let Some(python) = sdk_python() else {
        eprintln!("SKIPPED: python3 is not installed, so the official SailPoint SDK cannot run");
        return;
    };
    let db = TestDatabase::create().await;
    let log = tempfile::NamedTempFile::new().unwrap();
    import_planted(
        &db.url,
        PlantedSpec {
            identities: 400,
            entitlements: 200,
            roles: 6,
            ..PlantedSpec::default()
        },
    );
    let mut command = rolemine();
    command
        .env("DATABASE_URL", &db.url)
        .env("ROLEMINE_UPLOAD_DIR", std::env::temp_dir());
    let server = Server::start(command, log.path());
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
    let (id, secret) = create_client(&db.url, &[MANAGE]);

    let output = Command::new(&python)
        .args(["-c", SCRIPT, &server.base, &id, &secret, "mine"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "the SDK failed:\n{stderr}\nserver log:\n{}",
        server.log_text()
    );
    let result: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
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
