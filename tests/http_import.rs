//! `POST /rolemine/v1/imports` and `GET /rolemine/v1/imports/{id}` against a running server:
//! an upload imported by the server's worker, bad data reported on the import, and uploads that
//! are refused at once (wrong type, empty, truncated, over the size limit, even at 2 GB).

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a failed test

use crate::support;

use std::io::{BufReader, Write};
use std::net::TcpStream;
use std::path::Path;
use std::time::{Duration, Instant};

use crate::support::{
    assert_error_body, create_client, http, import_finished, json_response, read_response,
    rolemine, token, upload_import as upload, Server, TestDatabase, MANAGE, READ,
};
use rolemine_store::import::{counts, AccessCounts};
use serde_json::Value;

/// Upload limit of the test server: small, so the over-limit stream stops early.
const LIMIT: u64 = 64 << 20;

const IDENTITIES: &[u8] = b"id,name,department\nu1,Ann,Finance\nu2,Bob,Sales\n";
const ENTITLEMENTS: &[u8] = b"id,source_id\ne1,ad\ne2,ad\ne3,sap\n";
const ASSIGNMENTS: &[u8] = b"identity_id,entitlement_id\nu1,e1\nu1,e2\nu2,e1\nu2,e3\n";

/// Files in the upload directory, after giving the worker a moment to remove a finished one.
fn uploads_left(dir: &Path) -> usize {
    let started = Instant::now();
    loop {
        let left = std::fs::read_dir(dir).unwrap().count();
        if left == 0 || started.elapsed() > Duration::from_secs(10) {
            return left;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Sends a raw request head (and optionally a body from another thread) and reads the status
/// line and JSON body of the response.
fn raw_request(server: &Server, head: &str, body: Option<(u64, usize)>) -> (u16, Value) {
    let address = server.base.trim_start_matches("http://");
    let mut stream = TcpStream::connect(address).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(120)))
        .unwrap();
    stream.write_all(head.as_bytes()).unwrap();
    let writer = body.map(|(total, chunk)| {
        let mut out = stream.try_clone().unwrap();
        std::thread::spawn(move || {
            // Chunked: the server cannot know the size in advance and must count.
            let data = vec![b'z'; chunk];
            let mut sent = 0u64;
            while sent < total {
                let frame = [format!("{chunk:x}\r\n").as_bytes(), &data, b"\r\n"].concat();
                if out.write_all(&frame).is_err() {
                    return sent;
                }
                sent += chunk as u64;
            }
            let _ = out.write_all(b"0\r\n\r\n");
            sent
        })
    });
    let (status, _, body) = read_response(&mut BufReader::new(stream));
    assert!(!body.is_null(), "the response body is not JSON");
    if let Some(writer) = writer {
        let sent = writer.join().unwrap();
        assert!(sent < 2 << 30, "the whole stream was accepted");
    }
    (status, body)
}

#[tokio::test]
async fn uploads_are_imported_by_the_worker_and_bad_ones_refused() {
    let db = TestDatabase::create().await;
    let uploads = tempfile::tempdir().unwrap();
    let log = tempfile::NamedTempFile::new().unwrap();
    let mut command = rolemine();
    command
        .env("DATABASE_URL", &db.url)
        .env("ROLEMINE_UPLOAD_DIR", uploads.path())
        .env("ROLEMINE_MAX_IMPORT_BYTES", LIMIT.to_string());
    let server = Server::start(command, log.path());
    let pool = db.pool().await;
    let (id, secret) = create_client(&db.url, &[MANAGE]);
    let bearer = token(&server.base, &id, &secret);
    let auth = format!("Authorization: Bearer {bearer}\r\n");

    // Uploading needs the manage scope.
    let (reader_id, reader_secret) = create_client(&db.url, &[READ]);
    let reader = token(&server.base, &reader_id, &reader_secret);
    let (status, _, body) = upload(&server, &reader, "application/zip", b"PK");
    assert_eq!(status, 403, "{body}");
    assert_error_body(
        &body,
        "403 Forbidden",
        "needs the scope iai:access-modeling:manage",
    );

    // A good upload: 202 with a Location, then SUCCESS with the totals; the file is removed.
    let good = support::zip_of(&[
        ("identities.csv", IDENTITIES),
        ("entitlements.csv", ENTITLEMENTS),
        ("assignments.csv", ASSIGNMENTS),
    ]);
    let (status, location, body) = upload(&server, &bearer, "application/zip", &good);
    assert_eq!(status, 202, "{body}");
    assert_eq!(body["state"], "QUEUED");
    assert_eq!(body["sizeBytes"], good.len());
    let location = location.unwrap();
    assert_eq!(
        location,
        format!("/rolemine/v1/imports/{}", body["id"].as_str().unwrap())
    );
    let done = import_finished(&server, &bearer, &location);
    assert_eq!(done["state"], "SUCCESS", "{done}");
    let expected = AccessCounts {
        identities: 2,
        entitlements: 3,
        sources: 2,
        assignments: 4,
        usage: 0,
        roles: 0,
    };
    assert_eq!(done["counts"], serde_json::to_value(expected).unwrap());
    assert_eq!(done["errors"], serde_json::json!([]));
    assert!(
        done["started"].is_string() && done["finished"].is_string(),
        "{done}"
    );
    assert_eq!(counts(&pool).await.unwrap(), expected);
    assert_eq!(uploads_left(uploads.path()), 0);

    // Bad data: accepted as a zip, then ERROR naming file, line and column; nothing changed.
    let bad = support::zip_of(&[
        (
            "assignments.csv",
            b"identity_id,entitlement_id\nu1,e1\nu3,e1\n",
        ),
        (
            "usage.csv",
            b"identity_id,source_id,usage_days\nu1,default,abc\nu3,default,91\n",
        ),
    ]);
    let (status, location, body) =
        upload(&server, &bearer, "application/zip; charset=binary", &bad);
    assert_eq!(status, 202, "{body}");
    let done = import_finished(&server, &bearer, &location.unwrap());
    assert_eq!(done["state"], "ERROR", "{done}");
    assert_eq!(done["errorTotal"], 2);
    assert_eq!(
        done["errors"],
        serde_json::json!([
            "usage.csv, line 2, column usage_days: must be a whole number from 0 to 90, got \"abc\"",
            "usage.csv, line 3, column usage_days: must be a whole number from 0 to 90, got \"91\""
        ])
    );
    assert!(done["counts"].is_null());
    assert_eq!(counts(&pool).await.unwrap(), expected);
    assert_eq!(uploads_left(uploads.path()), 0);

    // Refused at once, with nothing queued or kept.
    let (status, _, body) = upload(&server, &bearer, "text/csv", ASSIGNMENTS);
    assert_eq!(status, 400);
    assert_error_body(
        &body,
        "400.1 Bad request content",
        "Content-Type must be application/zip",
    );
    let (status, _, body) = upload(&server, &bearer, "application/zip", b"");
    assert_eq!(status, 400);
    assert_error_body(
        &body,
        "400.1 Bad request content",
        "the request body is empty",
    );
    let (status, _, body) = upload(&server, &bearer, "application/zip", &good[..good.len() / 2]);
    assert_eq!(status, 400);
    assert_error_body(
        &body,
        "400.1 Bad request content",
        "not a readable zip archive",
    );
    let no_assignments = support::zip_of(&[("identities.csv", IDENTITIES)]);
    let (status, _, body) = upload(&server, &bearer, "application/zip", &no_assignments);
    assert_eq!(status, 400);
    assert_error_body(
        &body,
        "400.1 Bad request content",
        "holds no assignments.csv",
    );

    // 2 GB declared: refused before a byte of the body is read.
    let (status, body) = raw_request(
        &server,
        &format!(
            "POST /rolemine/v1/imports HTTP/1.1\r\nHost: test\r\nContent-Type: application/zip\r\n\
             {auth}Content-Length: 2147483648\r\n\r\n"
        ),
        None,
    );
    assert_eq!(status, 413);
    assert_error_body(
        &body,
        "413 Payload too large",
        &format!("limit of {LIMIT} bytes"),
    );
    // 2 GB streamed without a length: cut off at the limit.
    let (status, body) = raw_request(
        &server,
        &format!(
            "POST /rolemine/v1/imports HTTP/1.1\r\nHost: test\r\nContent-Type: application/zip\r\n\
             {auth}Transfer-Encoding: chunked\r\n\r\n"
        ),
        Some((2 << 30, 1 << 20)),
    );
    assert_eq!(status, 413);
    assert_error_body(&body, "413 Payload too large", "larger than the limit");
    assert_eq!(
        uploads_left(uploads.path()),
        0,
        "a refused upload was left on disk"
    );
    let imports: i64 = sqlx::query_scalar("SELECT count(*) FROM imports")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(imports, 2, "only the two accepted uploads are recorded");

    // Unknown and malformed ids.
    for id in [uuid::Uuid::new_v4().to_string(), "not-an-id".to_owned()] {
        let response = http()
            .get(format!("{}/rolemine/v1/imports/{id}", server.base))
            .header("Authorization", format!("Bearer {bearer}"))
            .call()
            .unwrap();
        let (status, _, body) = json_response(response, "Location");
        assert_eq!(status, 404);
        assert_error_body(&body, "404 Not found", &format!("import {id} not found"));
    }

    assert!(server.terminate().success());
    pool.close().await;
    db.drop_database().await;
}
