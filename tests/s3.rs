//! The artifact store against a real S3-compatible server: `moto_server` (moto from PyPI, pinned,
//! installed once under the target directory) on loopback. An asynchronous export lands in the
//! bucket, downloads, and is deleted from the bucket when it expires; a bucket that refuses the
//! write leaves the export in ERROR with the reason.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a failed test

use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use rolemine_dataset::planted::PlantedSpec;
use serde_json::{json, Value};

use crate::support::{
    free_port, get, get_bytes, http, import_planted, mine_session, post, role_summaries, serve,
    Server, TestDatabase,
};

/// The S3-compatible server the tests run against.
const MOTO: &str = "moto[server]==5.1.22";
const BUCKET: &str = "rolemine-artifacts";

/// `moto_server` in a virtualenv of its own, installed once per test process; `None` without
/// Python (the test is then skipped with a message, as the SDK journeys are).
fn moto_server() -> Option<PathBuf> {
    static INSTALLED: std::sync::OnceLock<Option<PathBuf>> = std::sync::OnceLock::new();
    INSTALLED
        .get_or_init(|| {
            let venv = crate::support::python_venv("moto-venv", MOTO)?;
            Some(venv.join("bin/moto_server"))
        })
        .clone()
}

/// A running `moto_server` on loopback, stopped when dropped.
struct S3 {
    child: Child,
    endpoint: String,
}

impl S3 {
    fn start(program: &Path) -> S3 {
        let port = free_port();
        let child = Command::new(program)
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let started = Instant::now();
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                started.elapsed() < Duration::from_secs(30),
                "moto_server did not start"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        S3 {
            child,
            endpoint: format!("http://127.0.0.1:{port}"),
        }
    }

    /// Keys in `bucket` (moto does not check signatures, so a plain GET lists them).
    fn keys(&self, bucket: &str) -> Vec<String> {
        let mut response = http()
            .get(format!("{}/{bucket}?list-type=2", self.endpoint))
            .call()
            .unwrap();
        let text = response.body_mut().read_to_string().unwrap();
        text.split("<Key>")
            .skip(1)
            .filter_map(|part| part.split("</Key>").next())
            .map(str::to_owned)
            .collect()
    }

    /// The environment a rolemine process needs to use `s3://bucket/prefix` here.
    fn env(&self, url: &str) -> Vec<(&'static str, String)> {
        vec![
            ("ROLEMINE_ARTIFACT_URL", url.to_owned()),
            ("AWS_ACCESS_KEY_ID", "test".to_owned()),
            ("AWS_SECRET_ACCESS_KEY", "test".to_owned()),
            ("AWS_REGION", "us-east-1".to_owned()),
            ("AWS_ENDPOINT", self.endpoint.clone()),
            ("AWS_ALLOW_HTTP", "true".to_owned()),
            ("ROLEMINE_EXPORT_TTL", "3".to_owned()),
        ]
    }
}

impl Drop for S3 {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts an async export of the session's first role and waits for it to finish.
fn export_finished(server: &Server, bearer: &str, session: &str) -> (String, Value) {
    let role = role_summaries(server, bearer, session)[0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let base = format!("/beta/role-mining-sessions/{session}/potential-roles/{role}");
    let (status, started) = post(
        server,
        bearer,
        &format!("{base}/export-async"),
        "{}",
        "application/json",
    );
    assert_eq!(status, 202, "{started}");
    let id = started["exportId"].as_str().unwrap().to_owned();
    let since = Instant::now();
    loop {
        let (_, state) = get(server, bearer, &format!("{base}/export-async/{id}"));
        if state["status"] != "QUEUED" && state["status"] != "IN_PROGRESS" {
            return (format!("{base}/export-async/{id}"), state);
        }
        assert!(since.elapsed() < Duration::from_secs(60), "{state}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn async_exports_live_in_a_real_s3_bucket_until_they_expire() {
    let Some(program) = moto_server() else {
        eprintln!("skipped: no python3 to run moto_server");
        return;
    };
    let s3 = S3::start(&program);
    let created = http()
        .put(format!("{}/{BUCKET}", s3.endpoint))
        .send_empty()
        .unwrap();
    assert_eq!(created.status(), 200);

    let db = TestDatabase::create().await;
    let _files = import_planted(
        &db.url,
        PlantedSpec {
            identities: 300,
            entitlements: 150,
            roles: 3,
            ..PlantedSpec::default()
        },
    );
    let env = s3.env(&format!("s3://{BUCKET}/rolemine"));
    let (server, _, bearer) = serve(&db, &env);
    let session = mine_session(
        &server,
        &bearer,
        &json!({"name": "s3", "minNumIdentitiesInPotentialRole": 10}),
    );
    let (path, state) = export_finished(&server, &bearer, &session);
    assert_eq!(state["status"], "SUCCESS", "{state}");
    let key = format!(
        "rolemine/exports/{}.zip",
        state["exportId"].as_str().unwrap()
    );
    assert!(
        s3.keys(BUCKET).contains(&key),
        "{key} not in {:?}",
        s3.keys(BUCKET)
    );
    let (status, _, zip) = get_bytes(&server.base, &bearer, &format!("{path}/download"));
    assert_eq!(status, 200);
    let archive = zip::ZipArchive::new(std::io::Cursor::new(zip)).unwrap();
    assert!(archive.file_names().any(|name| name == "identities.csv"));

    // The sweeper deletes it from the bucket once it expires (3 s here).
    let since = Instant::now();
    while s3.keys(BUCKET).contains(&key) {
        assert!(
            since.elapsed() < Duration::from_secs(30),
            "{key} still in the bucket"
        );
        std::thread::sleep(Duration::from_millis(250));
    }
    let (status, body) = get(&server, &bearer, &format!("{path}/download"));
    assert_eq!(status, 400, "{body}");
    crate::support::assert_error_body(&body, "400.1 Bad request content", "expired");
    drop(server);

    // A bucket that refuses the write: the export ends in ERROR with the reason.
    let env = s3.env("s3://no-such-bucket/rolemine");
    let (server, _, bearer) = serve(&db, &env);
    let (_, state) = export_finished(&server, &bearer, &session);
    assert_eq!(state["status"], "ERROR", "{state}");
    let reason = state["errorMessage"].as_str().unwrap_or_default();
    assert!(
        reason.contains("no-such-bucket") || reason.contains("NoSuchBucket"),
        "{state}"
    );
    drop(server);
    db.drop_database().await;
}
