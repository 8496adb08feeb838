//! Importing access data: totals, re-import semantics, and every kind of bad input leaving the
//! database unchanged.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a failed test

use crate::support;

use std::io::Write;
use std::path::Path;

use crate::support::{rolemine, TestDatabase};
use rolemine_store::import::{counts, import_path, import_path_with, AccessCounts, ImportError};
use sqlx::PgPool;

/// Writes `files` into a fresh directory.
fn dir_with(files: &[(&str, &[u8])]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for (name, text) in files {
        std::fs::write(dir.path().join(name), text).unwrap();
    }
    dir
}

const IDENTITIES: &[u8] =
    b"id,name,email,department\nu1,Ann,ann@x.org,Finance\nu2,Bob,,Sales\nu3,Cy,,\n";
const ENTITLEMENTS: &[u8] =
    b"id,source_id,name,source_name\ne1,ad,Domain Users,Active Directory\ne2,ad,VPN,Active Directory\ne3,sap,Ledger,SAP\n";
const ASSIGNMENTS: &[u8] =
    b"identity_id,entitlement_id\nu1,e1\nu1,e2\nu2,e1\nu2,e3\nu3,e1\nu1,e1\n";
const USAGE: &[u8] = b"identity_id,source_id,usage_days\nu1,ad,30\nu2,sap,90\n";
const ROLES: &[u8] = b"role_id,role_name,entitlement_id\nr1,Base,e1\nr1,Base,e2\n";

fn valid() -> tempfile::TempDir {
    dir_with(&[
        ("identities.csv", IDENTITIES),
        ("entitlements.csv", ENTITLEMENTS),
        ("assignments.csv", ASSIGNMENTS),
        ("usage.csv", USAGE),
        ("roles.csv", ROLES),
    ])
}

const AFTER_VALID: AccessCounts = AccessCounts {
    identities: 3,
    entitlements: 3,
    sources: 2,
    assignments: 5,
    usage: 2,
    roles: 1,
};

async fn import(pool: &PgPool, path: &Path) -> Result<AccessCounts, ImportError> {
    import_path(pool, path, |_| {})
        .await
        .map(|report| report.counts)
}

#[sqlx::test(migrator = "rolemine_store::MIGRATOR")]
async fn a_full_import_loads_every_file_and_reimport_updates_in_place(pool: PgPool) {
    let data = valid();
    assert_eq!(import(&pool, data.path()).await.unwrap(), AFTER_VALID);
    // The same files again: nothing duplicated, and no key values used up.
    assert_eq!(import(&pool, data.path()).await.unwrap(), AFTER_VALID);
    let highest: (i32, i32) = sqlx::query_as(
        "SELECT (SELECT max(id) FROM identities), (SELECT max(id) FROM entitlements)",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(highest, (3, 3));

    let (name, attributes): (String, serde_json::Value) =
        sqlx::query_as("SELECT name, attributes FROM identities WHERE ext_id = 'u1'")
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!(name, "Ann");
    assert_eq!(attributes, serde_json::json!({"department": "Finance"}));
    let source: String = sqlx::query_scalar(
        "SELECT s.name FROM entitlements e JOIN sources s ON s.id = e.source_id WHERE e.ext_id = 'e3'",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(source, "SAP");

    // u1 moves department and loses e2; attributes and assignments are replaced for u1 only.
    let update = dir_with(&[
        ("identities.csv", b"id,name,location\nu1,Ann B,Miami\n"),
        ("assignments.csv", b"identity_id,entitlement_id\nu1,e1\n"),
    ]);
    let after = import(&pool, update.path()).await.unwrap();
    assert_eq!(after.assignments, 4);
    assert_eq!(after.identities, 3);
    let (name, attributes): (String, serde_json::Value) =
        sqlx::query_as("SELECT name, attributes FROM identities WHERE ext_id = 'u1'")
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!(name, "Ann B");
    assert_eq!(attributes, serde_json::json!({"location": "Miami"}));
}

#[sqlx::test(migrator = "rolemine_store::MIGRATOR")]
async fn the_bulk_path_rebuilds_every_key_and_constraint(pool: PgPool) {
    let constraints = |pool: PgPool| async move {
        sqlx::query_scalar::<_, String>(
            "SELECT conname::text FROM pg_constraint
              WHERE conrelid IN ('identity_access'::regclass, 'source_usage'::regclass)
                AND convalidated ORDER BY 1",
        )
        .fetch_all(&pool)
        .await
        .unwrap()
    };
    let before = constraints(pool.clone()).await;
    assert_eq!(before.len(), 7, "{before:?}");
    let totals = import_path_with(&pool, valid().path(), 1, |_| {})
        .await
        .unwrap()
        .counts;
    assert_eq!(totals, AFTER_VALID);
    assert_eq!(constraints(pool.clone()).await, before);
    // The rebuilt keys work: a second row for an identity and a dangling identity are refused.
    for refused in [
        "INSERT INTO identity_access SELECT identity_id, entitlement_ids FROM identity_access LIMIT 1",
        "INSERT INTO identity_access VALUES (999999, '{1}')",
        "INSERT INTO source_usage SELECT identity_id, source_id, usage_days FROM source_usage LIMIT 1",
        "INSERT INTO source_usage VALUES (999999, (SELECT min(id) FROM sources), 1)",
    ] {
        assert!(sqlx::query(refused).execute(&pool).await.is_err(), "{refused}");
    }
}

#[sqlx::test(migrator = "rolemine_store::MIGRATOR")]
async fn the_two_column_benchmark_files_import_as_they_are(pool: PgPool) {
    let hp = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../datasets/hp/healthcare");
    let totals = import(&pool, &hp).await.unwrap();
    assert_eq!(
        (totals.identities, totals.entitlements, totals.sources),
        (46, 46, 1)
    );
    assert_eq!(totals.assignments, 1486);
    let source: String = sqlx::query_scalar("SELECT ext_id FROM sources")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(source, "default");
}

#[sqlx::test(migrator = "rolemine_store::MIGRATOR")]
async fn usage_may_name_identities_and_the_default_source_that_assignments_introduce(pool: PgPool) {
    let data = dir_with(&[
        (
            "assignments.csv",
            b"identity_id,entitlement_id\nu1,e1\nu2,e1\nu1,e2\n",
        ),
        (
            "usage.csv",
            b"identity_id,source_id,usage_days\nu2,default,7\n",
        ),
    ]);
    let totals = import(&pool, data.path()).await.unwrap();
    assert_eq!(
        (
            totals.identities,
            totals.sources,
            totals.assignments,
            totals.usage
        ),
        (2, 1, 3, 1)
    );
    let (identity, source, days): (String, String, i16) = sqlx::query_as(
        "SELECT i.ext_id, s.ext_id, u.usage_days FROM source_usage u
           JOIN identities i ON i.id = u.identity_id JOIN sources s ON s.id = u.source_id",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(
        (identity.as_str(), source.as_str(), days),
        ("u2", "default", 7)
    );
    let access: Vec<i32> = sqlx::query_scalar(
        "SELECT a.entitlement_ids FROM identity_access a JOIN identities i ON i.id = a.identity_id
          WHERE i.ext_id = 'u1'",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    let mut sorted = access.clone();
    sorted.sort_unstable();
    assert_eq!(
        (access.len(), access),
        (2, sorted),
        "sorted entitlement ids"
    );
}

fn zip_of(files: &[(&str, &[u8])], folder: &str) -> tempfile::NamedTempFile {
    let file = tempfile::Builder::new().suffix(".zip").tempfile().unwrap();
    let mut zip = zip::ZipWriter::new(file.reopen().unwrap());
    for (name, text) in files {
        zip.start_file(
            format!("{folder}{name}"),
            zip::write::SimpleFileOptions::default(),
        )
        .unwrap();
        zip.write_all(text).unwrap();
    }
    zip.finish().unwrap();
    file
}

#[sqlx::test(migrator = "rolemine_store::MIGRATOR")]
async fn a_zip_imports_like_a_directory(pool: PgPool) {
    let zip = zip_of(
        &[
            ("identities.csv", IDENTITIES),
            ("entitlements.csv", ENTITLEMENTS),
            ("assignments.csv", ASSIGNMENTS),
            ("usage.csv", USAGE),
            ("roles.csv", ROLES),
        ],
        "export/",
    );
    assert_eq!(import(&pool, zip.path()).await.unwrap(), AFTER_VALID);
}

/// A digest of every access-data row: equal digests, identical data.
async fn snapshot(pool: &PgPool) -> String {
    sqlx::query_scalar(
        "SELECT md5(concat_ws('|',
            (SELECT string_agg(concat_ws(',', id, ext_id, name), ';' ORDER BY id) FROM sources),
            (SELECT string_agg(concat_ws(',', id, ext_id, name, email, attributes), ';' ORDER BY id) FROM identities),
            (SELECT string_agg(concat_ws(',', id, ext_id, source_id, name, attribute, description), ';' ORDER BY id) FROM entitlements),
            (SELECT string_agg(concat_ws(',', identity_id, entitlement_ids), ';' ORDER BY identity_id) FROM identity_access),
            (SELECT string_agg(concat_ws(',', identity_id, source_id, usage_days), ';' ORDER BY identity_id, source_id) FROM source_usage),
            (SELECT string_agg(concat_ws(',', r.ext_id, r.name, e.entitlement_id), ';' ORDER BY r.ext_id, e.entitlement_id)
               FROM roles r JOIN role_entitlements e ON e.role_id = r.id)))",
    )
    .fetch_one(pool)
    .await
    .unwrap()
}

/// Imports `path` over a database holding the valid data, expects rejection, and checks that
/// every expected message is listed and that nothing changed, neither the row counts nor a
/// single value.
async fn rejected(pool: &PgPool, path: &Path, expected: &[&str]) {
    let before_digest = snapshot(pool).await;
    let before = counts(pool).await.unwrap();
    let err = import(pool, path).await.unwrap_err();
    let ImportError::Invalid(errors) = &err else {
        panic!("expected invalid input, got {err}");
    };
    let text = errors.to_string();
    for message in expected {
        assert!(text.contains(message), "missing {message:?} in:\n{text}");
    }
    assert_eq!(
        counts(pool).await.unwrap(),
        before,
        "the row counts changed"
    );
    assert_eq!(snapshot(pool).await, before_digest, "the data changed");
}

#[sqlx::test(migrator = "rolemine_store::MIGRATOR")]
async fn bad_input_is_rejected_with_positions_and_changes_nothing(pool: PgPool) {
    import(&pool, valid().path()).await.unwrap();

    let missing_column = dir_with(&[("assignments.csv", b"identity_id,entitlement\nu1,e1\n")]);
    rejected(&pool, missing_column.path(), &["assignments.csv, line 1, column entitlement_id: required column is missing from the header"]).await;

    let unknown = dir_with(&[
        ("identities.csv", b"id\nu1\n"),
        (
            "assignments.csv",
            b"identity_id,entitlement_id\nu1,e1\nu9,e1\n",
        ),
    ]);
    rejected(&pool, unknown.path(), &["assignments.csv, line 3, column identity_id: unknown identity \"u9\" (not in identities.csv)"]).await;

    // usage.csv is loaded while assignments.csv is still being read; a later error must undo it.
    let late = dir_with(&[
        ("identities.csv", IDENTITIES),
        ("entitlements.csv", ENTITLEMENTS),
        (
            "usage.csv",
            b"identity_id,source_id,usage_days\nu1,ad,1\nu3,sap,2\n",
        ),
        (
            "assignments.csv",
            b"identity_id,entitlement_id\nu1,e1\nu1,e9\n",
        ),
    ]);
    rejected(&pool, late.path(), &["assignments.csv, line 3, column entitlement_id: unknown entitlement \"e9\" (not in entitlements.csv)"]).await;

    let duplicates = dir_with(&[
        ("identities.csv", b"id\nu1\nu2\nu1\n"),
        ("entitlements.csv", b"id,source_id\ne1,ad\ne1,ad\n"),
        ("assignments.csv", b"identity_id,entitlement_id\nu1,e1\n"),
    ]);
    rejected(
        &pool,
        duplicates.path(),
        &[
            "identities.csv, line 4, column id: duplicate id \"u1\" (first on line 2)",
            "entitlements.csv, line 3, column id: duplicate id \"e1\" (first on line 2)",
        ],
    )
    .await;

    let usage = dir_with(&[
        (
            "assignments.csv",
            b"identity_id,entitlement_id\nu1,e1\nu2,e1\n",
        ),
        (
            "usage.csv",
            b"identity_id,source_id,usage_days\nu1,default,abc\nu2,default,91\n",
        ),
    ]);
    rejected(&pool, usage.path(), &[
        "usage.csv, line 2, column usage_days: must be a whole number from 0 to 90, got \"abc\"",
        "usage.csv, line 3, column usage_days: must be a whole number from 0 to 90, got \"91\"",
        "2 errors in the input",
    ]).await;

    let full = zip_of(&[("assignments.csv", ASSIGNMENTS)], "");
    let bytes = std::fs::read(full.path()).unwrap();
    let truncated = tempfile::Builder::new().suffix(".zip").tempfile().unwrap();
    std::fs::write(truncated.path(), &bytes[..bytes.len() / 2]).unwrap();
    rejected(&pool, truncated.path(), &["not a readable zip archive"]).await;

    let latin1 = dir_with(&[(
        "assignments.csv",
        b"identity_id,entitlement_id\nu1,e1\nJos\xe9,e1\n",
    )]);
    rejected(
        &pool,
        latin1.path(),
        &["assignments.csv, line 3, column identity_id: the value is not valid UTF-8"],
    )
    .await;

    let empty = dir_with(&[("assignments.csv", b""), ("usage.csv", b"")]);
    rejected(
        &pool,
        empty.path(),
        &[
            "assignments.csv: the file is empty; a header row is required",
            "usage.csv: the file is empty; a header row is required",
        ],
    )
    .await;

    let nothing = dir_with(&[("identities.csv", IDENTITIES)]);
    rejected(
        &pool,
        nothing.path(),
        &["assignments.csv: the file is required but missing from the input"],
    )
    .await;

    // Past the listing limit the total is still counted.
    let mut many = b"identity_id,entitlement_id\n".to_vec();
    for i in 0..250 {
        many.extend_from_slice(format!("x{i},e1\n").as_bytes());
    }
    let many = dir_with(&[("identities.csv", b"id\nu1\n"), ("assignments.csv", &many)]);
    rejected(
        &pool,
        many.path(),
        &["250 errors in the input (first 100 listed)"],
    )
    .await;
}

#[tokio::test]
async fn the_cli_prints_totals_and_rejects_bad_input_with_exit_code_1() {
    let db = TestDatabase::create().await;
    let data = valid();
    let output = support::succeed(
        rolemine()
            .args(["import", "--quiet"])
            .arg(data.path())
            .env("DATABASE_URL", &db.url),
    );
    let totals: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(
        totals,
        serde_json::json!({"identities":3,"entitlements":3,"sources":2,"assignments":5,"usage":2,"roles":1})
    );

    let bad = dir_with(&[("assignments.csv", b"identity_id\nu1\n")]);
    let output = rolemine()
        .args(["import", "--quiet"])
        .arg(bad.path())
        .env("DATABASE_URL", &db.url)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("column entitlement_id: required column is missing"),
        "{stderr}"
    );
    assert!(
        stderr.contains("error: import rejected: 1 error in the input; nothing was changed"),
        "{stderr}"
    );
    assert!(output.stdout.is_empty());
    db.drop_database().await;
}
