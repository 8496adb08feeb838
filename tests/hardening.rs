//! Regression tests of the hardening campaign's findings: no request crashes the server or
//! takes its memory, and every refusal is a contract answer. Each test names the finding
//! (issue #18, items 1-8) it pins down.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a failed test

use crate::support;

use std::io::{BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::support::{
    assert_error_body, create_client, get, header, http, import_planted, json_response, post,
    read_response, rolemine, serve, Server, TestDatabase, READ,
};
use rolemine_dataset::planted::PlantedSpec;
use serde_json::{json, Value};

/// A raw HTTP/1.1 exchange: (status, lower-cased headers, body).
fn raw(server: &Server, request: &[u8]) -> (u16, Vec<(String, String)>, Value) {
    let address = server.base.trim_start_matches("http://");
    let mut stream = TcpStream::connect(address).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    stream.write_all(request).unwrap();
    read_response(&mut BufReader::new(stream))
}

fn small_data(db: &TestDatabase) -> tempfile::TempDir {
    import_planted(
        &db.url,
        PlantedSpec {
            identities: 300,
            entitlements: 60,
            roles: 4,
            ..PlantedSpec::default()
        },
    )
}

/// Finding 1 and 5: deep, long and wide filters and criteria are 400s naming the limit, from a
/// read-scope token too, and the server keeps serving.
#[tokio::test]
async fn deep_and_long_queries_are_refused_and_the_server_stays_up() {
    let db = TestDatabase::create().await;
    let _data = small_data(&db);
    let (server, _, bearer) = serve(&db, &[]);
    let (reader_id, reader_secret) = create_client(&db.url, &[READ]);
    let reader = support::token(&server.base, &reader_id, &reader_secret);
    let deep = format!("{}name eq \"a\"{}", "(".repeat(2_000), ")".repeat(2_000));
    let nots = format!("{}name eq \"a\"", "not ".repeat(2_400));
    for (filters, text) in [
        (deep.as_str(), "at most 32 levels"),
        (nots.as_str(), "at most 32 levels"),
    ] {
        let response = http()
            .get(format!("{}/beta/role-mining-sessions", server.base))
            .query("filters", filters)
            .header("Authorization", format!("Bearer {reader}"))
            .call()
            .unwrap();
        let (status, _, body) = json_response(response, "X");
        assert_eq!(status, 400, "{body}");
        assert_error_body(&body, "400.1 Bad request content", text);
    }
    let long = format!("{}name eq \"a\"", "not ".repeat(5_000));
    let (status, body) = post(
        &server,
        &bearer,
        "/beta/role-mining-sessions",
        &json!({"scope": {"criteria": long}}).to_string(),
        "application/json",
    );
    assert_eq!(status, 400, "{body}");
    assert_error_body(&body, "400.1 Bad request content", "scope.criteria");
    for (criteria, text) in [
        (
            format!("{}a:1{}", "(".repeat(2_000), ")".repeat(2_000)),
            "at most 32 levels",
        ),
        (
            vec!["a:1"; 2_000].join(" AND "),
            "at most 10000 are accepted",
        ),
        (
            vec!["a:1"; 300].join(" AND "),
            "300 comparisons; at most 256",
        ),
    ] {
        let (status, body) = post(
            &server,
            &bearer,
            "/beta/role-mining-sessions",
            &json!({"scope": {"criteria": criteria}}).to_string(),
            "application/json",
        );
        assert_eq!(status, 400, "{body}");
        assert_error_body(&body, "400.1 Bad request content", text);
    }
    // Unknown scope keys are named, not ignored (the session would have mined everyone).
    let (status, body) = post(
        &server,
        &bearer,
        "/beta/role-mining-sessions",
        r#"{"scope": {"critera": "department:Finance"}}"#,
        "application/json",
    );
    assert_eq!(status, 400, "{body}");
    assert_error_body(
        &body,
        "400.1 Bad request content",
        "unknown field `critera`",
    );
    let (status, body) = post(
        &server,
        &bearer,
        "/beta/role-mining-sessions",
        r#"{"name": "x", "colour": "red"}"#,
        "application/json",
    );
    assert_eq!(status, 400, "{body}");
    assert_error_body(&body, "400.1 Bad request content", "unknown field `colour`");
    // Chips as the contract's example shapes them (labels included) are accepted.
    let (status, body) = post(
        &server,
        &bearer,
        "/beta/role-mining-sessions",
        &json!({"scope": {"identityIds": [], "attributeFilterCriteria": [{
            "displayName": {"untranslated": "Department: Finance"},
            "ariaLabel": {"untranslated": "Department: Finance"},
            "data": {"displayName": {"translateKey": "IDN.DEPARTMENT"}, "name": "department",
                     "operator": "EQUALS", "values": ["Finance"]}}]}})
        .to_string(),
        "application/json",
    );
    assert_eq!(status, 201, "{body}");
    let (status, _) = get(&server, &bearer, "/beta/role-mining-sessions");
    assert_eq!(status, 200, "the server still serves");
    assert!(server.log_text().lines().all(|l| !l.contains("panicked")));
    db.drop_database().await;
}

/// Finding 3: a NUL character anywhere is a 400 naming where it is.
#[tokio::test]
async fn nul_characters_are_refused_where_they_are() {
    let db = TestDatabase::create().await;
    let _data = small_data(&db);
    let (server, client, bearer) = serve(&db, &[]);
    let response = http()
        .get(format!("{}/beta/role-mining-sessions", server.base))
        .query("filters", "name eq \"a\0b\"")
        .header("Authorization", format!("Bearer {bearer}"))
        .call()
        .unwrap();
    let (status, _, body) = json_response(response, "X");
    assert_eq!(status, 400, "{body}");
    assert_error_body(
        &body,
        "400.1 Bad request content",
        "\"filters\" contains a NUL",
    );
    for (request, text) in [
        (
            json!({"scope": {"criteria": "department:Fi\u{0}n"}}),
            "`scope.criteria` contains a NUL",
        ),
        (
            json!({"scope": {"identityIds": ["a", "b\u{0}"]}}),
            "`scope.identityIds[1]` contains a NUL",
        ),
        (json!({"name": "x\u{0}"}), "`name` contains a NUL"),
    ] {
        let (status, body) = post(
            &server,
            &bearer,
            "/beta/role-mining-sessions",
            &request.to_string(),
            "application/json",
        );
        assert_eq!(status, 400, "{body}");
        assert_error_body(&body, "400.1 Bad request content", text);
    }
    let session = support::create_session(&server, &bearer, &json!({}));
    let response = http()
        .patch(format!(
            "{}/beta/role-mining-sessions/{session}",
            server.base
        ))
        .header("Authorization", format!("Bearer {bearer}"))
        .header("Content-Type", "application/json-patch+json")
        .send(r#"[{"op": "replace", "path": "/name", "value": "a\u0000"}]"#)
        .unwrap();
    let (status, _, body) = json_response(response, "X");
    assert_eq!(status, 400, "{body}");
    assert_error_body(
        &body,
        "400.1 Bad request content",
        "`[0].value` contains a NUL",
    );
    let (status, body) = get(
        &server,
        &bearer,
        "/beta/role-mining-potential-roles/x/sources/a%00b/identityUsage",
    );
    assert_eq!(status, 400, "{body}");
    assert_error_body(&body, "400.1 Bad request content", "NUL character (%00)");
    let response = http()
        .post(format!("{}/oauth/token", server.base))
        .send_form([
            ("grant_type", "client_credentials"),
            ("client_id", &format!("{client}\0")),
            ("client_secret", "x"),
        ])
        .unwrap();
    let (status, _, body) = json_response(response, "X");
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["error"], "invalid_request");
    assert!(body["error_description"]
        .as_str()
        .unwrap()
        .contains("client_id contains a NUL"));
    db.drop_database().await;
}

/// Finding 7: what the HTTP layer refuses by itself carries the contract's body.
#[tokio::test]
async fn every_refusal_has_the_contract_body() {
    let db = TestDatabase::create().await;
    let (server, _, bearer) = serve(&db, &[("ROLEMINE_MAX_BODY_BYTES", "1024".into())]);
    let (reader_id, reader_secret) = create_client(&db.url, &[READ]);
    let reader = support::token(&server.base, &reader_id, &reader_secret);
    // Invalid UTF-8 in a path.
    let (status, _, body) = raw(
        &server,
        format!(
            "GET /beta/role-mining-sessions/%FF%FE HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer {bearer}\r\nConnection: close\r\n\r\n"
        )
        .as_bytes(),
    );
    assert_eq!(status, 400, "{body}");
    assert_error_body(&body, "400.1 Bad request content", "not valid UTF-8");
    // A method the path does not serve: 405 with Allow, whatever the token's scope.
    for token in [&reader, &bearer] {
        for method in ["DELETE", "PUT"] {
            let (status, headers, body) = raw(
                &server,
                format!(
                    "{method} /beta/role-mining-sessions HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer {token}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                )
                .as_bytes(),
            );
            assert_eq!(status, 405, "{method}: {body}");
            assert_error_body(&body, "405 Method not allowed", "is not served at");
            let allow = header(&headers, "allow").unwrap();
            assert!(allow.contains("GET") && allow.contains("POST"), "{allow}");
        }
    }
    // A URI over the limit.
    let (status, _, body) = raw(
        &server,
        format!(
            "GET /beta/role-mining-sessions?filters={} HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n",
            "a".repeat(40_000)
        )
        .as_bytes(),
    );
    assert_eq!(status, 414, "{body}");
    assert_error_body(&body, "414 URI too long", "at most 32768");
    // Headers over the limit.
    let (status, _, body) = raw(
        &server,
        format!(
            "GET /beta/role-mining-sessions HTTP/1.1\r\nHost: t\r\nX-Big: {}\r\nConnection: close\r\n\r\n",
            "b".repeat(40_000)
        )
        .as_bytes(),
    );
    assert_eq!(status, 431, "{body}");
    assert_error_body(
        &body,
        "431 Request header fields too large",
        "at most 32768",
    );
    // A JSON body over the limit is a 413.
    let (status, body) = post(
        &server,
        &bearer,
        "/beta/role-mining-sessions",
        &json!({"name": "x".repeat(4_000)}).to_string(),
        "application/json",
    );
    assert_eq!(status, 413, "{body}");
    assert_error_body(
        &body,
        "413 Payload too large",
        "larger than the server accepts",
    );
    // Refused before its body was read: the connection is closed, and says so.
    let address = server.base.trim_start_matches("http://");
    let mut stream = TcpStream::connect(address).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    stream
        .write_all(
            b"POST /beta/role-mining-sessions HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n{\"name\":",
        )
        .unwrap();
    let mut reader = BufReader::new(stream);
    let (status, headers, body) = read_response(&mut reader);
    assert_eq!(status, 401, "{body}");
    assert_eq!(header(&headers, "connection"), Some("close"));
    db.drop_database().await;
}

/// Finding 2: wrong secrets are throttled per client id and per address, unknown clients get
/// the same answer as wrong secrets, and the token endpoint takes every body encoding.
#[tokio::test]
async fn token_failures_are_throttled_and_every_encoding_is_read() {
    let db = TestDatabase::create().await;
    let (server, client, _) = serve(&db, &[("ROLEMINE_TOKEN_FAILURES", "5".into())]);
    let (id, secret) = create_client(&db.url, &[READ]);
    // Form, multipart (the TypeScript SDK), JSON, HTTP Basic.
    let boundary = "XyZ";
    let multipart = format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"grant_type\"\r\n\r\nclient_credentials\r\n\
         --{boundary}\r\nContent-Disposition: form-data; name=\"client_id\"\r\n\r\n{id}\r\n\
         --{boundary}\r\nContent-Disposition: form-data; name=\"client_secret\"\r\n\r\n{secret}\r\n--{boundary}--\r\n"
    );
    let json_body =
        json!({"grant_type": "client_credentials", "client_id": id, "client_secret": secret})
            .to_string();
    let form = format!("grant_type=client_credentials&client_id={id}&client_secret={secret}");
    for (content_type, body, basic) in [
        ("application/x-www-form-urlencoded", form.clone(), false),
        (
            &*format!("multipart/form-data; boundary={boundary}"),
            multipart,
            false,
        ),
        ("application/json", json_body, false),
        (
            "application/x-www-form-urlencoded",
            "grant_type=client_credentials".to_owned(),
            true,
        ),
    ] {
        let mut request = http()
            .post(format!("{}/oauth/token", server.base))
            .header("Content-Type", content_type);
        if basic {
            use base64::Engine;
            let credentials =
                base64::engine::general_purpose::STANDARD.encode(format!("{id}:{secret}"));
            request = request.header("Authorization", format!("Basic {credentials}"));
        }
        let (status, _, body) = json_response(request.send(body.as_bytes()).unwrap(), "X");
        assert_eq!(status, 200, "{content_type}: {body}");
        assert!(body["access_token"].is_string());
    }
    // Unknown client and wrong secret: the same 401.
    let attempt = |client_id: &str, secret: &str| {
        let response = http()
            .post(format!("{}/oauth/token", server.base))
            .send_form([
                ("grant_type", "client_credentials"),
                ("client_id", client_id),
                ("client_secret", secret),
            ])
            .unwrap();
        json_response(response, "Retry-After")
    };
    let (status, _, unknown) = attempt("nobody", "x");
    let (status2, _, wrong) = attempt(&client, "wrong");
    assert_eq!((status, status2), (401, 401));
    assert_eq!(unknown, wrong);
    // Five failures for one client id from this address in a minute: that pair is refused
    // before any secret is checked, the right secret included, with Retry-After.
    for _ in 0..5 {
        assert_eq!(attempt(&id, "wrong").0, 401);
    }
    let (status, retry, body) = attempt(&id, &secret);
    assert_eq!(status, 429, "{body}");
    assert!(retry.unwrap().parse::<u64>().unwrap() >= 1);
    assert!(body["message"].as_str().unwrap().contains("Rate limit"));
    // Other client ids from this address still get their answer (1 failure so far)...
    assert_eq!(attempt(&client, "wrong").0, 401);
    // ...until the address itself has failed 5 x 5 times (8 so far), whatever the ids.
    for n in 0..17 {
        assert_eq!(attempt(&format!("made-up-{n}"), "x").0, 401, "attempt {n}");
    }
    assert_eq!(attempt("made-up-last", "x").0, 429);
    db.drop_database().await;
}

/// A TCP forwarder to PostgreSQL that can be cut, to play a database outage.
struct Outage {
    port: u16,
    down: Arc<AtomicBool>,
}

impl Outage {
    fn start(target: String) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let down = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&down);
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(client) = stream else { return };
                if flag.load(Ordering::SeqCst) {
                    continue; // dropped at once: the connection is refused in effect
                }
                let Ok(upstream) = TcpStream::connect(&target) else {
                    continue;
                };
                for (mut from, mut to) in [
                    (client.try_clone().unwrap(), upstream.try_clone().unwrap()),
                    (upstream, client),
                ] {
                    let flag = Arc::clone(&flag);
                    std::thread::spawn(move || {
                        let mut buffer = [0u8; 16 * 1024];
                        from.set_read_timeout(Some(Duration::from_millis(100)))
                            .unwrap();
                        loop {
                            if flag.load(Ordering::SeqCst) {
                                let _ = from.shutdown(std::net::Shutdown::Both);
                                let _ = to.shutdown(std::net::Shutdown::Both);
                                return;
                            }
                            match from.read(&mut buffer) {
                                Ok(0) => return,
                                Ok(n) => {
                                    if to.write_all(&buffer[..n]).is_err() {
                                        return;
                                    }
                                }
                                Err(err)
                                    if matches!(
                                        err.kind(),
                                        std::io::ErrorKind::WouldBlock
                                            | std::io::ErrorKind::TimedOut
                                    ) => {}
                                Err(_) => return,
                            }
                        }
                    });
                }
            }
        });
        Outage { port, down }
    }
}

/// Finding 6: with the database gone, requests are a 503 with Retry-After within a second.
#[tokio::test]
async fn a_database_outage_is_a_fast_503() {
    let db = TestDatabase::create().await;
    let mut url = url::Url::parse(&db.url).unwrap();
    let target = format!("{}:{}", url.host_str().unwrap(), url.port().unwrap_or(5432));
    let outage = Outage::start(target);
    url.set_port(Some(outage.port)).unwrap();
    let mut command = rolemine();
    command
        .env("DATABASE_URL", url.as_str())
        .env("ROLEMINE_NO_WORKER", "true")
        .env("ROLEMINE_UPLOAD_DIR", std::env::temp_dir());
    let server = Server::spawn(command);
    let (client, secret) = create_client(&db.url, &[READ]);
    let bearer = support::token(&server.base, &client, &secret);
    let (status, _) = get(&server, &bearer, "/beta/role-mining-sessions");
    assert_eq!(status, 200);
    outage.down.store(true, Ordering::SeqCst);
    std::thread::sleep(Duration::from_millis(300));
    for _ in 0..3 {
        let started = Instant::now();
        let response = http()
            .get(format!("{}/beta/role-mining-sessions", server.base))
            .header("Authorization", format!("Bearer {bearer}"))
            .call()
            .unwrap();
        let (status, retry, body) = json_response(response, "Retry-After");
        let took = started.elapsed();
        assert_eq!(status, 503, "{body}");
        assert_eq!(retry.as_deref(), Some("1"));
        assert_error_body(&body, "503 Service unavailable", "retry shortly");
        assert!(took < Duration::from_millis(1_500), "took {took:?}");
    }
    outage.down.store(false, Ordering::SeqCst);
    let started = Instant::now();
    loop {
        let (status, _) = get(&server, &bearer, "/beta/role-mining-sessions");
        if status == 200 {
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(20), "no recovery");
        std::thread::sleep(Duration::from_millis(200));
    }
    drop(server);
    db.drop_database().await;
}

/// Finding 4: a zip bomb, an endless line and a file of bad lines end at once as the input's
/// fault (ERROR, one attempt), naming what is wrong.
#[tokio::test]
async fn hostile_imports_fail_at_once_with_their_reason() {
    let db = TestDatabase::create().await;
    let (server, _, bearer) = serve(&db, &[]);
    let mut bomb = b"identity_id,entitlement_id\nu1,".to_vec();
    bomb.resize(256 << 20, 0);
    let mut bad_lines = b"identity_id,entitlement_id\n".to_vec();
    for i in 0..30_000 {
        bad_lines.extend_from_slice(format!("u{i}\n").as_bytes());
    }
    let long_line: Vec<u8> = b"identity_id,entitlement_id\nu1,"
        .iter()
        .copied()
        .chain((0..3_000_000u32).map(|i| b'a' + (i % 26) as u8))
        .collect();
    let nul = b"identity_id,entitlement_id\nu1,e1\nu2,e\0\n".to_vec();
    for (zip, text) in [
        (support::zip_of(&[("assignments.csv", &bomb)]), "expands"),
        (
            support::zip_of(&[("assignments.csv", &long_line)]),
            "line 2 is longer than 1048576 bytes",
        ),
        (
            support::zip_of(&[("assignments.csv", &bad_lines)]),
            "reading stopped after 10000 errors",
        ),
        (
            support::zip_of(&[("assignments.csv", &nul)]),
            "assignments.csv, line 3, column entitlement_id: the value contains a NUL character",
        ),
    ] {
        let (status, location, body) =
            support::upload_import(&server, &bearer, "application/zip", &zip);
        assert_eq!(status, 202, "{body}");
        let outcome = support::import_finished(&server, &bearer, &location.unwrap());
        assert_eq!(outcome["state"], "ERROR", "{outcome}");
        let errors = outcome["errors"].to_string();
        assert!(errors.contains(text), "{text:?} not in {outcome}");
        assert!(
            outcome["errorTotal"].as_i64().unwrap() <= 10_001,
            "{outcome}"
        );
    }
    let attempts: Vec<i32> = sqlx::query_scalar("SELECT attempts FROM jobs WHERE kind = 'import'")
        .fetch_all(&db.pool().await)
        .await
        .unwrap();
    assert!(attempts.iter().all(|a| *a == 1), "retried: {attempts:?}");
    let identities: i64 = sqlx::query_scalar("SELECT count(*) FROM identities")
        .fetch_one(&db.pool().await)
        .await
        .unwrap();
    assert_eq!(identities, 0, "nothing was written");
    drop(server);
    db.drop_database().await;
}

/// Finding 8: a session whose worker went silent says since when.
#[tokio::test]
async fn a_stalled_session_says_since_when() {
    let db = TestDatabase::create().await;
    let _data = small_data(&db);
    let (server, _, bearer) = serve(&db, &[("ROLEMINE_NO_WORKER", "true".into())]);
    let session = support::create_session(&server, &bearer, &json!({}));
    let (_, status) = get(
        &server,
        &bearer,
        &format!("/beta/role-mining-sessions/{session}/status"),
    );
    assert_eq!(status["stalledSince"], Value::Null, "{status}");
    let pool = db.pool().await;
    sqlx::query(
        "UPDATE jobs SET state = 'RUNNING', attempts = 1, locked_by = 'gone',
                lease_expires_at = now() - interval '5 seconds' WHERE kind = 'mine-session'",
    )
    .execute(&pool)
    .await
    .unwrap();
    for path in [
        format!("/beta/role-mining-sessions/{session}/status"),
        format!("/beta/role-mining-sessions/{session}"),
    ] {
        let (status, body) = get(&server, &bearer, &path);
        assert_eq!(status, 200);
        assert!(body["stalledSince"].is_string(), "{body}");
    }
    drop(server);
    db.drop_database().await;
}

#[test]
fn import_cli_refuses_a_zip_bomb_without_reading_it() {
    let dir = tempfile::tempdir().unwrap();
    let mut bomb = b"identity_id,entitlement_id\nu1,".to_vec();
    bomb.resize(64 << 20, b'x');
    let path = dir.path().join("bomb.zip");
    std::fs::write(&path, support::zip_of(&[("assignments.csv", &bomb)])).unwrap();
    let output = rolemine()
        .args(["mine", "--quiet"])
        .arg(&path)
        .arg("--out")
        .arg(dir.path().join("out.zip"))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("expands"), "{stderr}");
}
