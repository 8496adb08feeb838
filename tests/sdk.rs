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
/// Installed once per test process: the tests of this file run in parallel threads, and two
/// of them creating the same virtualenv at once collide.
fn sdk_python() -> Option<PathBuf> {
    static INSTALLED: std::sync::OnceLock<Option<PathBuf>> = std::sync::OnceLock::new();
    INSTALLED.get_or_init(install_sdk).clone()
}

fn install_sdk() -> Option<PathBuf> {
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

/// A database with planted access data of `identities` identities, a server on it (logging to
/// the returned file) and a manage-scope client: (database, server, log, client id, secret).
async fn sdk_server(
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

/// Walks a mined session's potential roles through every potential-role operation; each call
/// deserialises its response into the SDK's models (a wrong field type or enum value raises).
const WALK: &str = r#"
from sailpoint.beta.models.role_mining_session_dto import RoleMiningSessionDto
from sailpoint.beta.models.json_patch_operation import JsonPatchOperation
from sailpoint.beta.models.patch_role_mining_potential_role_request_inner import PatchRoleMiningPotentialRoleRequestInner
from sailpoint.beta.models.role_mining_potential_role_edit_entitlements import RoleMiningPotentialRoleEditEntitlements
with sailpoint.beta.ApiClient(config) as client:
    api = sailpoint.beta.IAIRoleMiningApi(client)
    session = api.create_role_mining_sessions(RoleMiningSessionDto(min_num_identities_in_potential_role=10, name="Walk"))
    deadline = time.time() + 60
    while api.get_role_mining_session_status(session.id).state != "POTENTIAL_ROLES_CREATED":
        assert time.time() < deadline, "mining did not finish"
        time.sleep(0.2)
    summaries = api.get_potential_role_summaries(session.id, sorters="createdDate", filters="quality ge 0", limit=50, count=True)
    out["summaries"] = len(summaries)
    role = summaries[0]
    rid = role.id
    detail = api.get_potential_role(session.id, rid)
    out["identity_ids"] = len(detail.identity_ids)
    apps = api.get_potential_role_applications(session.id, rid, filters='applicationName sw "A"')
    refs = api.get_potential_role_entitlements(session.id, rid, limit=10)
    pops = api.get_entitlements_potential_role(session.id, rid, include_common_access=False, sorters="-popularity", limit=250)
    out["popularities"] = [[p.entitlement_ref.id, p.identity_count, p.activity_source_state] for p in pops][:3]
    dist = api.get_entitlement_distribution_potential_role(session.id, rid, include_common_access=True)
    out["distribution_total"] = sum(dist.values())
    edited = api.update_entitlements_potential_role(session.id, rid, RoleMiningPotentialRoleEditEntitlements(ids=[pops[0].entitlement_ref.id], exclude=True))
    out["edited"] = [edited.entitlement_count, edited.excluded_entitlements]
    excluded = api.get_excluded_entitlements_potential_role(session.id, rid, sorters="popularity")
    out["excluded"] = [e.entitlement_ref.id for e in excluded]
    people = api.get_identities_potential_role(session.id, rid, sorters="name", limit=5)
    named = api.get_identities_potential_role(session.id, rid, filters='name sw "%s"' % people[0].name[:2])
    out["named"] = all(p.name.startswith(people[0].name[:2]) for p in named) and len(named) > 0
    everyone = api.get_all_potential_role_summaries(sorters="-quality", filters='sessionState eq "POTENTIAL_ROLES_CREATED" and identityAttribute co "department"', count=True)
    out["all"] = len(everyone)
    api.patch_potential_role_session(session.id, rid, [JsonPatchOperation.from_dict({"op": "replace", "path": "/name", "value": "Walked"})])
    api.patch_role_mining_potential_role(rid, [PatchRoleMiningPotentialRoleRequestInner.from_dict({"op": "replace", "path": "/saved", "value": True})])
    fetched = api.get_role_mining_potential_role(rid)
    out["patched"] = [fetched.name, fetched.saved]
    saved = api.get_saved_potential_roles(sorters="-modified")
    out["saved"] = [s.name for s in saved]
    usage = api.get_potential_role_source_identity_usage(rid, pops[0].source_id, sorters="-usageCount", limit=5)
    out["usage"] = [u.usage_count for u in usage]
    out["types"] = sorted({type(x).__name__ for x in [detail, apps[0], refs[0], pops[0], edited, excluded[0], people[0], everyone[0], fetched, saved[0], usage[0]]})

    # Exports: synchronous, then asynchronous with its status and download.
    import io, zipfile
    from sailpoint.beta.models.role_mining_potential_role_export_request import RoleMiningPotentialRoleExportRequest
    from sailpoint.beta.models.role_mining_potential_role_provision_request import RoleMiningPotentialRoleProvisionRequest
    # The SDK saves a binary response under its Content-Disposition name and returns the path.
    direct = open(api.export_role_mining_potential_role(session.id, rid), "rb").read()
    out["export_files"] = sorted(zipfile.ZipFile(io.BytesIO(direct)).namelist())
    queued = api.export_role_mining_potential_role_async(session.id, rid, RoleMiningPotentialRoleExportRequest(min_entitlement_popularity=0, include_common_access=True))
    out["export_queued"] = [queued.status, queued.min_entitlement_popularity, queued.include_common_access]
    deadline = time.time() + 60
    while api.export_role_mining_potential_role_status(session.id, rid, queued.export_id).status != "SUCCESS":
        assert time.time() < deadline, "the export did not finish"
        time.sleep(0.2)
    downloaded = open(api.download_role_mining_potential_role_zip(session.id, rid, queued.export_id), "rb").read()
    same = lambda a, b: all(zipfile.ZipFile(io.BytesIO(a)).read(n) == zipfile.ZipFile(io.BytesIO(b)).read(n) for n in out["export_files"])
    out["download_matches"] = same(direct, downloaded)

    # Provisioning, polled to completion.
    summary = api.create_potential_role_provision_request(session.id, rid, min_entitlement_popularity=10, include_common_access=False,
        role_mining_potential_role_provision_request=RoleMiningPotentialRoleProvisionRequest(role_name="From the SDK", include_identities=True, directly_assigned_entitlements=True))
    out["provision_requested"] = str(summary.provision_state.value if hasattr(summary.provision_state, "value") else summary.provision_state)
    while api.get_role_mining_potential_role(rid).provision_state in ("PENDING", "POTENTIAL"):
        assert time.time() < deadline, "provisioning did not finish"
        time.sleep(0.2)
    final = api.get_role_mining_potential_role(rid)
    out["provisioned"] = [str(final.provision_state.value if hasattr(final.provision_state, "value") else final.provision_state), final.role_id is not None]
print(json.dumps(out))
"#;

#[tokio::test]
async fn the_official_python_sdk_walks_potential_roles_through_every_operation() {
    let Some(python) = sdk_python() else {
        eprintln!("SKIPPED: python3 is not installed, so the official SailPoint SDK cannot run");
        return;
    };
    let (db, server, _log, id, secret) = sdk_server(600).await;
    let result = run_sdk(&python, WALK, &server, &id, &secret, &[]);
    assert!(result["summaries"].as_u64().unwrap() >= 2, "{result}");
    assert!(result["identity_ids"].as_u64().unwrap() >= 10, "{result}");
    let first_popular = &result["popularities"][0];
    assert_eq!(first_popular[2], "complete", "{result}");
    let excluded_id = first_popular[0].clone();
    assert_eq!(result["edited"][1], serde_json::json!([excluded_id]));
    assert_eq!(result["excluded"], serde_json::json!([excluded_id]));
    assert_eq!(result["all"], result["summaries"]);
    assert_eq!(result["named"], true);
    assert_eq!(result["patched"], serde_json::json!(["Walked", true]));
    assert_eq!(result["saved"], serde_json::json!(["Walked"]));
    assert_eq!(result["usage"].as_array().unwrap().len(), 5);
    assert_eq!(
        result["types"],
        serde_json::json!([
            "RoleMiningEntitlement",
            "RoleMiningIdentity",
            "RoleMiningPotentialRole",
            "RoleMiningPotentialRoleApplication",
            "RoleMiningPotentialRoleEntitlements",
            "RoleMiningPotentialRoleSourceUsage",
            "RoleMiningPotentialRoleSummary",
            "RoleMiningSessionDraftRoleDto"
        ])
    );
    assert_eq!(
        result["export_files"],
        serde_json::json!(["entitlements.csv", "identities.csv", "missing_access.csv"])
    );
    assert_eq!(
        result["export_queued"],
        serde_json::json!(["QUEUED", 0, true])
    );
    assert_eq!(result["download_matches"], true);
    assert_eq!(result["provision_requested"], "PENDING");
    assert_eq!(result["provisioned"], serde_json::json!(["COMPLETE", true]));
    assert!(server.terminate().success());
    db.drop_database().await;
}

#[tokio::test]
async fn the_official_python_sdk_lists_sessions_under_beta_and_v2025_and_mines_one() {
    let Some(python) = sdk_python() else {
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
