//! The official SailPoint TypeScript SDK (`sailpoint-api-client`, pinned in
//! `tests/sdk/typescript/package.json` and its lockfile) against a running server: the journey
//! in `tests/sdk/typescript/journey.mjs` gets its token through the SDK's own `Configuration`
//! (client credentials posted to `/oauth/token` as multipart/form-data), then walks all 25
//! IAI Role Mining operations with the SDK's API class, under `/beta` and under `/v2024`
//! (whose calls carry `X-SailPoint-Experimental: true`). Every response is checked against the
//! type the SDK declares for it (see the script); the script prints one JSON object, asserted
//! on here.
//!
//! The SDK is installed once per test process with `npm ci` under the target directory.
//! Without `node` or `npm` the tests are skipped with a message; any other failure (no access
//! to the npm registry, an SDK error, a response the SDK does not expect) fails.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a failed test

use crate::support;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::support::Server;
use serde_json::{json, Value};

/// The folder holding `package.json`, `package-lock.json` and `journey.mjs`.
const SOURCES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../tests/sdk/typescript");
const FILES: [&str; 3] = ["package.json", "package-lock.json", "journey.mjs"];

/// The installed journey script, or `None` when `node` or `npm` is missing. Installed once per
/// test process: the tests of this file run in parallel threads, and two `npm ci` in the same
/// folder at once collide.
fn journey() -> Option<PathBuf> {
    static INSTALLED: std::sync::OnceLock<Option<PathBuf>> = std::sync::OnceLock::new();
    INSTALLED.get_or_init(install_sdk).clone()
}

fn runs(program: &str) -> bool {
    Command::new(program)
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
}

fn install_sdk() -> Option<PathBuf> {
    if !runs("node") || !runs("npm") {
        return None;
    }
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("sailpoint-typescript-sdk");
    let lock = std::fs::read(Path::new(SOURCES).join("package-lock.json")).unwrap();
    // Reinstalled whenever the lockfile changes.
    let marker = dir.join(".installed-package-lock.json");
    if std::fs::read(&marker).ok().as_deref() != Some(&lock[..]) {
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        for file in FILES {
            std::fs::copy(Path::new(SOURCES).join(file), dir.join(file)).unwrap();
        }
        let installed = Command::new("npm")
            .args(["ci", "--no-audit", "--no-fund", "--loglevel=error"])
            .current_dir(&dir)
            .status()
            .unwrap();
        assert!(
            installed.success(),
            "npm ci (sailpoint-api-client, tests/sdk/typescript) failed"
        );
        std::fs::write(&marker, &lock).unwrap();
    }
    // The script next to its node_modules, where `import "sailpoint-api-client"` resolves.
    let script = dir.join("journey.mjs");
    std::fs::copy(Path::new(SOURCES).join("journey.mjs"), &script).unwrap();
    Some(script)
}

/// Runs the journey under `generation` and returns the JSON it prints on its last line,
/// failing with its output and the server log.
fn run_journey(script: &Path, server: &Server, id: &str, secret: &str, generation: &str) -> Value {
    let output = Command::new("node")
        .current_dir(script.parent().unwrap())
        .arg(script)
        .args([&server.base, id, secret, generation])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "the TypeScript SDK journey ({generation}) failed:\n{stderr}\n{stdout}\nserver log:\n{}",
        server.log_text()
    );
    let last = stdout.lines().last().unwrap_or_default();
    serde_json::from_str(last).unwrap_or_else(|err| panic!("{err}: {stdout}\n{stderr}"))
}

/// Every contract operation as the journey reports it: "METHOD /<generation><path> <status>",
/// the status being the operation's success code in the contract.
fn contract_requests(generation: &str) -> BTreeSet<String> {
    let contract = support::contract();
    let mut requests = BTreeSet::new();
    for (path, item) in contract["paths"].as_object().unwrap() {
        for (method, operation) in item.as_object().unwrap() {
            let Some(responses) = operation["responses"].as_object() else {
                continue;
            };
            let success = responses.keys().find(|code| code.starts_with('2')).unwrap();
            requests.insert(format!(
                "{} /{generation}{path} {success}",
                method.to_uppercase()
            ));
        }
    }
    requests
}

fn strings(value: &Value) -> BTreeSet<String> {
    value
        .as_array()
        .unwrap_or_else(|| panic!("not an array: {value}"))
        .iter()
        .map(|v| v.as_str().unwrap().to_owned())
        .collect()
}

/// The SDK method names of the 25 operations under `generation`: the same in both, except the
/// cross-session potential-role PATCH, which the v2024 generator named `patchPotentialRole_1`.
fn sdk_methods(generation: &str) -> BTreeSet<String> {
    let across_sessions = match generation {
        "v2024" => "patchPotentialRole_1",
        _ => "patchRoleMiningPotentialRole",
    };
    [
        "createPotentialRoleProvisionRequest",
        "createRoleMiningSessions",
        "downloadRoleMiningPotentialRoleZip",
        "exportRoleMiningPotentialRole",
        "exportRoleMiningPotentialRoleAsync",
        "exportRoleMiningPotentialRoleStatus",
        "getAllPotentialRoleSummaries",
        "getEntitlementDistributionPotentialRole",
        "getEntitlementsPotentialRole",
        "getExcludedEntitlementsPotentialRole",
        "getIdentitiesPotentialRole",
        "getPotentialRole",
        "getPotentialRoleApplications",
        "getPotentialRoleEntitlements",
        "getPotentialRoleSourceIdentityUsage",
        "getPotentialRoleSummaries",
        "getRoleMiningPotentialRole",
        "getRoleMiningSession",
        "getRoleMiningSessionStatus",
        "getRoleMiningSessions",
        "getSavedPotentialRoles",
        "patchPotentialRole",
        across_sessions,
        "patchRoleMiningSession",
        "updateEntitlementsPotentialRole",
    ]
    .into_iter()
    .map(str::to_owned)
    .collect()
}

/// Rolemine's extension fields (documented on their structs in `crates/api/src`, listed in
/// tests/support's `extension_fields`) as `Model.property`: the SDK models do not declare them,
/// and the journey may meet these and no other undeclared property (but see
/// [`sdk_divergences`]).
fn extensions() -> BTreeSet<String> {
    support::extension_fields()
        .into_iter()
        .map(|(model, field, _)| format!("{model}.{field}"))
        .collect()
}

/// Where the SDK's declared types, generated from older API documents, differ from the contract
/// Rolemine serves: (the Model.property of a tolerated type violation, tolerated undeclared
/// properties), for `generation`.
fn sdk_divergences(generation: &str) -> (BTreeSet<String>, BTreeSet<String>) {
    let mut violations = BTreeSet::new();
    let mut extras = BTreeSet::new();
    match generation {
        // The beta SDK declares identityDistribution[].distribution as
        // `Array<{ [key: string]: string }>`; the contract's items are
        // `{ attributeValue: string, count: integer }` (v2024 declares `{ [key: string]: any }`).
        "beta" => {
            violations.insert("RoleMiningIdentityDistribution.distribution".to_owned());
        }
        // The v2024 SDK declares getRoleMiningSessions as `RoleMiningSessionDto[]` (beta:
        // `RoleMiningSessionResponse[]`); the contract answers RoleMiningSessionResponse, whose
        // fields (and Rolemine's extensions of it) the Dto lacks.
        "v2024" => {
            let contract = support::contract();
            let response = contract["components"]["schemas"]["RoleMiningSessionResponse"]
                ["properties"]
                .as_object()
                .unwrap();
            let extended = support::extension_fields()
                .into_iter()
                .filter(|(model, _, _)| *model == "RoleMiningSessionResponse")
                .map(|(_, field, _)| field);
            for field in response.keys().map(String::as_str).chain(extended) {
                extras.insert(format!("RoleMiningSessionDto.{field}"));
            }
        }
        _ => unreachable!("{generation}"),
    }
    (violations, extras)
}

async fn walk(generation: &str) {
    let Some(script) = journey() else {
        eprintln!(
            "SKIPPED: node or npm is not installed, so the official SailPoint TypeScript SDK cannot run"
        );
        return;
    };
    let (db, server, _log, id, secret) = crate::sdk::sdk_server(600).await;
    let result = run_journey(&script, &server, &id, &secret, generation);
    eprintln!("{generation}: {result}");

    // The token came through the SDK's Configuration; all 25 operations were called, each at
    // the contract's path under the generation's prefix, answering the contract's success code.
    assert_eq!(result["token"], true, "{result}");
    assert_eq!(
        strings(&result["operations"]),
        sdk_methods(generation),
        "{result}"
    );
    let requests = strings(&result["requests"]);
    assert_eq!(requests.len(), 25, "{result}");
    assert_eq!(requests, contract_requests(generation), "{result}");
    // v2024 sends the experimental header on every call (and needs configuration.experimental).
    let experimental = match generation {
        "v2024" => json!(["true"]),
        _ => json!([null]),
    };
    assert_eq!(result["experimental_headers"], experimental, "{result}");

    // Every response is of the type the SDK declares, but where the SDK is known to differ
    // from the contract; undeclared properties are Rolemine's documented extensions.
    let (divergent, divergent_extras) = sdk_divergences(generation);
    let violations = strings(&result["violations"]);
    let unexpected: Vec<_> = violations
        .iter()
        .filter(|v| !divergent.contains(v.split(':').next().unwrap()))
        .collect();
    assert!(unexpected.is_empty(), "{unexpected:#?}\n{result}");
    let mut extensions = extensions();
    extensions.extend(divergent_extras);
    let extras = strings(&result["extras"]);
    assert!(
        extras.is_subset(&extensions),
        "undeclared: {:?}\n{result}",
        extras.difference(&extensions).collect::<Vec<_>>()
    );
    // null where the SDK's type does not admit it: only provisionState, which semantics.md
    // requires to be null until the role is provisioned (tests/support's `widened_values`).
    let nulls = strings(&result["nulls"]);
    let allowed: BTreeSet<String> = [
        "RoleMiningPotentialRole.provisionState",
        "RoleMiningPotentialRoleSummary.provisionState",
    ]
    .into_iter()
    .map(str::to_owned)
    .collect();
    assert!(
        nulls.is_subset(&allowed),
        "null where the SDK does not admit it: {:?}\n{result}",
        nulls.difference(&allowed).collect::<Vec<_>>()
    );

    // The session was mined and listed.
    assert_eq!(
        result["created"],
        json!([
            format!("Walk {generation}"),
            "department:Finance OR department:Sales OR department:Engineering"
        ])
    );
    assert_eq!(result["session"]["state"], "POTENTIAL_ROLES_CREATED");
    assert!(
        result["session"]["identityCount"].as_u64().unwrap() > 0,
        "{result}"
    );
    let roles = result["session"]["potentialRoleCount"].as_u64().unwrap();
    assert!(roles >= 2, "{result}");
    assert_eq!(result["sessions"], json!([format!("Walk {generation}")]));
    assert_eq!(result["sessions_total"], "1");

    // Potential roles: summaries, one role, its applications, entitlements and identities.
    assert_eq!(result["summaries"].as_u64().unwrap(), roles, "{result}");
    assert_eq!(result["summaries_total"], roles.to_string());
    assert!(
        result["role"]["identityIds"].as_u64().unwrap() >= 10,
        "{result}"
    );
    assert_eq!(
        result["role"]["identityIds"],
        result["role"]["identityCount"]
    );
    assert!(result["applications"].as_u64().unwrap() > 0, "{result}");
    assert_eq!(result["applications_filtered"], true);
    assert!(result["entitlements"].as_u64().unwrap() > 0, "{result}");
    assert_eq!(result["popularities"][0][2], "complete", "{result}");
    assert!(
        result["popularities"][0][1].as_u64().unwrap() > 0,
        "{result}"
    );
    assert_eq!(result["popularities_sorted"], true);
    assert!(
        result["distribution_total"].as_u64().unwrap() > 0,
        "{result}"
    );
    assert!(result["identities"].as_u64().unwrap() > 0, "{result}");
    assert_eq!(result["identities_sorted"], true);
    assert_eq!(result["identities_filtered"], true);
    assert_eq!(result["all"].as_u64().unwrap(), roles, "{result}");
    assert_eq!(result["all_total"], roles.to_string());

    // The excluded entitlement comes back as excluded.
    let excluded = &result["excluded_id"];
    assert!(excluded.is_string(), "{result}");
    assert_eq!(result["edited"][1], json!([excluded]), "{result}");
    assert_eq!(result["excluded"], json!([excluded]), "{result}");

    // Patches in the session and across sessions read back; the role is saved.
    let walked = format!("Walked {generation}");
    assert_eq!(
        result["patched"],
        json!([walked, true, "Walked by the TypeScript SDK"])
    );
    assert_eq!(result["saved"], json!([walked]));
    let usage = result["usage"].as_array().unwrap();
    assert_eq!(usage.len(), 5, "{result}");
    assert!(usage.iter().all(|u| u.as_u64().unwrap() > 0), "{result}");

    // Exports: real zips with their five files, the asynchronous one the same as the direct one.
    let files = json!([
        "entitlements.csv",
        "identities.csv",
        "missing_access.csv",
        "outliers.csv",
        "rules.csv"
    ]);
    assert_eq!(result["export_files"], files, "{result}");
    assert_eq!(result["download_files"], files, "{result}");
    assert_eq!(result["download_matches"], true);
    assert_eq!(result["export_type"], "application/zip");
    assert!(
        result["export_identities"].as_u64().unwrap() >= 10,
        "{result}"
    );
    assert_eq!(result["export_queued"], json!(["QUEUED", 0, true]));

    // Provisioning, polled to completion.
    assert_eq!(result["provision_requested"], "PENDING");
    assert_eq!(result["provisioned"], json!(["COMPLETE", true]));

    // The session patched (renamed, saved, re-mined with the new threshold).
    let session = format!("Walked session {generation}");
    assert_eq!(result["patched_session"], json!([session, true, 70]));
    assert_eq!(result["saved_sessions"], json!([session]));

    assert!(server.terminate().success());
    db.drop_database().await;
}

#[tokio::test]
async fn the_official_typescript_sdk_walks_every_operation_under_beta() {
    walk("beta").await;
}

#[tokio::test]
async fn the_official_typescript_sdk_walks_every_operation_under_v2024() {
    walk("v2024").await;
}
