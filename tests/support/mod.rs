//! Helpers shared by the integration tests: databases, the `rolemine` binary, HTTP.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

pub mod browser;
mod contract;

#[allow(unused_imports)] // each test binary uses its own share of the helpers
pub use contract::{assert_contract_shape, contract, contract_violations, extension_fields};

use std::io::BufRead;
use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::str::FromStr;
use std::time::{Duration, Instant};

use serde_json::Value;
use sqlx::postgres::PgConnectOptions;
use sqlx::{Connection, PgConnection, PgPool};

/// The server the tests create their databases on.
pub fn database_url() -> String {
    std::env::var("DATABASE_URL").expect(
        "DATABASE_URL is not set: run the suite with scripts/test, which starts a throwaway \
         PostgreSQL, or point DATABASE_URL at a server where databases may be created",
    )
}

/// A database created for one test and dropped by [`TestDatabase::drop_database`].
pub struct TestDatabase {
    pub name: String,
    pub url: String,
}

impl TestDatabase {
    /// A new empty database (no migrations applied). Its collation is `C`, so tests can compare
    /// the server's text order with Rust's byte order whatever the server's default locale.
    pub async fn create() -> Self {
        let base = database_url();
        let name = format!("rolemine_t_{}", uuid::Uuid::new_v4().simple());
        let mut conn = PgConnection::connect(&base).await.unwrap();
        sqlx::query(&format!(
            "CREATE DATABASE {name} TEMPLATE template0 ENCODING 'UTF8' LC_COLLATE 'C' LC_CTYPE 'C'"
        ))
        .execute(&mut conn)
        .await
        .unwrap();
        conn.close().await.unwrap();
        let mut url = url::Url::parse(&base).unwrap();
        url.set_path(&format!("/{name}"));
        TestDatabase {
            name,
            url: url.to_string(),
        }
    }

    /// A pool on this database.
    pub async fn pool(&self) -> PgPool {
        PgPool::connect_with(PgConnectOptions::from_str(&self.url).unwrap())
            .await
            .unwrap()
    }

    /// Drops the database, closing whatever still uses it.
    pub async fn drop_database(self) {
        let mut conn = PgConnection::connect(&database_url()).await.unwrap();
        sqlx::query(&format!(
            "DROP DATABASE IF EXISTS {} WITH (FORCE)",
            self.name
        ))
        .execute(&mut conn)
        .await
        .unwrap();
    }
}

/// The `rolemine` binary, with an environment free of the caller's rolemine settings.
pub fn rolemine() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_rolemine"));
    for (key, _) in std::env::vars() {
        if key.starts_with("ROLEMINE_") || key == "DATABASE_URL" {
            command.env_remove(key);
        }
    }
    command.env("RUST_LOG", "info");
    command
}

/// Runs `command`, expecting success; returns its output (stderr is shown on failure).
pub fn succeed(command: &mut Command) -> std::process::Output {
    let output = command.stdin(Stdio::null()).output().unwrap();
    assert!(
        output.status.success(),
        "exit {}: {}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

/// Runs `command`, expecting exit code 1 with exactly one `error:` line and no panic; returns
/// the whole stderr.
pub fn fail(command: &mut Command) -> String {
    let output = command.stdin(Stdio::null()).output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert_eq!(output.status.code(), Some(1), "stderr: {stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(!stderr.contains("RUST_BACKTRACE"), "{stderr}");
    let errors = stderr.lines().filter(|l| l.starts_with("error:")).count();
    assert_eq!(errors, 1, "expected one error line in: {stderr}");
    stderr
}

/// A loopback port nobody listens on right now.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A `rolemine serve` process, stopped with SIGTERM when dropped.
pub struct Server {
    pub child: Child,
    pub base: String,
    pub log: std::path::PathBuf,
    /// The log file, when the server made its own ([`Server::spawn`]).
    log_file: Option<tempfile::NamedTempFile>,
}

impl Server {
    /// Starts `rolemine serve` with `args`, logging to `log`, and waits for `/ready`.
    pub fn start(mut command: Command, log: &Path) -> Server {
        let port = free_port();
        let file = std::fs::File::create(log).unwrap();
        let child = command
            .args(["serve", "--bind", &format!("127.0.0.1:{port}")])
            .stdout(Stdio::null())
            .stderr(file)
            .spawn()
            .unwrap();
        let mut server = Server {
            child,
            base: format!("http://127.0.0.1:{port}"),
            log: log.to_path_buf(),
            log_file: None,
        };
        server.wait_ready(Duration::from_secs(60));
        server
    }

    /// [`Server::start`] with a log file of its own, kept as long as the server.
    pub fn spawn(command: Command) -> Server {
        let file = tempfile::NamedTempFile::new().unwrap();
        let mut server = Server::start(command, file.path());
        server.log_file = Some(file);
        server
    }

    fn wait_ready(&mut self, limit: Duration) {
        let started = Instant::now();
        while started.elapsed() < limit {
            if let Some(status) = self.child.try_wait().unwrap() {
                panic!(
                    "rolemine serve exited with {status} before it was ready:\n{}",
                    std::fs::read_to_string(&self.log).unwrap_or_default()
                );
            }
            if get_status(&format!("{}/ready", self.base)) == Some(200) {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!(
            "rolemine serve not ready after {limit:?}:\n{}",
            std::fs::read_to_string(&self.log).unwrap_or_default()
        );
    }

    /// Sends SIGTERM and waits for the exit status.
    pub fn terminate(self) -> std::process::ExitStatus {
        self.stop_with(nix::sys::signal::Signal::SIGTERM)
    }

    /// Sends `sig` and waits for the exit status.
    pub fn stop_with(mut self, sig: nix::sys::signal::Signal) -> std::process::ExitStatus {
        signal(&self.child, sig);
        let status = wait_with_timeout(&mut self.child, Duration::from_secs(60));
        std::mem::forget(self);
        status
    }

    /// The server's log so far.
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        signal(&self.child, nix::sys::signal::Signal::SIGTERM);
        let _ = wait_with_timeout(&mut self.child, Duration::from_secs(30));
    }
}

/// Sends `sig` to a child process.
pub fn signal(child: &Child, sig: nix::sys::signal::Signal) {
    let pid = nix::unistd::Pid::from_raw(i32::try_from(child.id()).unwrap());
    let _ = nix::sys::signal::kill(pid, sig);
}

/// Waits for a child, killing it if it outlives `limit`.
pub fn wait_with_timeout(child: &mut Child, limit: Duration) -> std::process::ExitStatus {
    let started = Instant::now();
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        if started.elapsed() > limit {
            let _ = child.kill();
            panic!("process {} did not exit within {limit:?}", child.id());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The status code of a GET, or `None` when nothing answers.
pub fn get_status(url: &str) -> Option<u16> {
    match ureq::get(url).call() {
        Ok(response) => Some(response.status().as_u16()),
        Err(ureq::Error::StatusCode(code)) => Some(code),
        Err(_) => None,
    }
}

/// An HTTP client that returns 4xx/5xx responses instead of failing on them.
pub fn http() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into()
}

/// Reads a response's status, one header and JSON body (`null` when the body is not JSON).
pub fn json_response(
    mut response: ureq::http::Response<ureq::Body>,
    header: &str,
) -> (u16, Option<String>, serde_json::Value) {
    let status = response.status().as_u16();
    let value = response
        .headers()
        .get(header)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let text = response.body_mut().read_to_string().unwrap();
    let body = serde_json::from_str(&text).unwrap_or(serde_json::Value::Null);
    (status, value, body)
}

/// Asserts that `body` is the contract's ErrorResponseDto with `code` and a message holding
/// `text`.
pub fn assert_error_body(body: &serde_json::Value, code: &str, text: &str) {
    assert_eq!(body["detailCode"], code, "{body}");
    assert!(
        body["trackingId"].as_str().is_some_and(|id| !id.is_empty()),
        "{body}"
    );
    let message = &body["messages"][0];
    assert_eq!(message["locale"], "en-US", "{body}");
    assert_eq!(message["localeOrigin"], "DEFAULT", "{body}");
    assert!(
        message["text"].as_str().is_some_and(|m| m.contains(text)),
        "expected {text:?} in {body}"
    );
}

/// Creates an API client with `scopes` through the CLI; returns (client_id, client_secret).
pub fn create_client(database_url: &str, scopes: &[&str]) -> (String, String) {
    let mut command = rolemine();
    command
        .args(["client", "create", "--name", "test client"])
        .env("DATABASE_URL", database_url);
    for scope in scopes {
        command.args(["--scope", scope]);
    }
    let output = succeed(&mut command);
    let created: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    (
        created["client_id"].as_str().unwrap().to_owned(),
        created["client_secret"].as_str().unwrap().to_owned(),
    )
}

/// An access token from the server's `POST /oauth/token`.
pub fn token(base: &str, client_id: &str, secret: &str) -> String {
    let response = http()
        .post(format!("{base}/oauth/token"))
        .send_form([
            ("grant_type", "client_credentials"),
            ("client_id", client_id),
            ("client_secret", secret),
        ])
        .unwrap();
    let (status, _, body) = json_response(response, "Location");
    assert_eq!(status, 200, "{body}");
    body["access_token"].as_str().unwrap().to_owned()
}

/// The read and manage scopes.
pub const READ: &str = "iai:access-modeling:read";
/// The manage scope.
pub const MANAGE: &str = "iai:access-modeling:manage";

/// Generates planted access data and imports it with `rolemine import` into `database_url`;
/// returns the directory holding the files.
pub fn import_planted(
    database_url: &str,
    spec: rolemine_dataset::planted::PlantedSpec,
) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    rolemine_dataset::planted::Planted::new(spec)
        .write(dir.path(), |_| {})
        .unwrap();
    succeed(
        rolemine()
            .args(["import", "--quiet"])
            .arg(dir.path())
            .env("DATABASE_URL", database_url),
    );
    dir
}

/// A server on `db` (its in-process worker unless `ROLEMINE_NO_WORKER` is among `env`) and a
/// client with the manage scope: (server, client id, bearer token).
pub fn serve(db: &TestDatabase, env: &[(&str, String)]) -> (Server, String, String) {
    let mut command = rolemine();
    command
        .env("DATABASE_URL", &db.url)
        .env("ROLEMINE_UPLOAD_DIR", std::env::temp_dir())
        // Not the default `<data-dir>/artifacts`, which is relative to the crate directory.
        .env(
            "ROLEMINE_ARTIFACT_DIR",
            std::env::temp_dir().join("rolemine-test-artifacts"),
        );
    for (key, value) in env {
        command.env(key, value);
    }
    let server = Server::spawn(command);
    let (client, secret) = create_client(&db.url, &[MANAGE]);
    let bearer = token(&server.base, &client, &secret);
    (server, client, bearer)
}

/// POSTs `body` with `content_type`; returns the status and JSON body.
pub fn post(
    server: &Server,
    bearer: &str,
    path: &str,
    body: &str,
    content_type: &str,
) -> (u16, serde_json::Value) {
    let (status, _, body) = post_bytes(server, bearer, path, content_type, body.as_bytes());
    (status, body)
}

/// POSTs `body` with `content_type`; returns the status, `Location` and JSON body.
fn post_bytes(
    server: &Server,
    bearer: &str,
    path: &str,
    content_type: &str,
    body: &[u8],
) -> (u16, Option<String>, serde_json::Value) {
    let response = http()
        .post(format!("{}{path}", server.base))
        .header("Authorization", format!("Bearer {bearer}"))
        .header("Content-Type", content_type)
        .send(body)
        .unwrap();
    json_response(response, "Location")
}

/// GETs `path`; returns the status and JSON body.
pub fn get(server: &Server, bearer: &str, path: &str) -> (u16, serde_json::Value) {
    let response = http()
        .get(format!("{}{path}", server.base))
        .header("Authorization", format!("Bearer {bearer}"))
        .call()
        .unwrap();
    let (status, _, body) = json_response(response, "X");
    (status, body)
}

/// Polls the session's status until mining is done (or failed).
pub fn mined(server: &Server, bearer: &str, id: &str) -> serde_json::Value {
    let started = Instant::now();
    loop {
        let (status, body) = get(
            server,
            bearer,
            &format!("/beta/role-mining-sessions/{id}/status"),
        );
        assert_eq!(status, 200, "{body}");
        match body["state"].as_str().unwrap() {
            "POTENTIAL_ROLES_CREATED" => break,
            "FAILED" => panic!("session failed: {body}"),
            _ => {}
        }
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "still {body}:\n{}",
            server.log_text()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let (status, session) = get(server, bearer, &format!("/beta/role-mining-sessions/{id}"));
    assert_eq!(status, 200);
    session
}

/// Creates a session from `body` (asserting the 201); returns its id.
pub fn create_session(server: &Server, bearer: &str, body: &serde_json::Value) -> String {
    let (status, created) = post(
        server,
        bearer,
        "/beta/role-mining-sessions",
        &body.to_string(),
        "application/json",
    );
    assert_eq!(status, 201, "{created}");
    created["id"].as_str().unwrap().to_owned()
}

/// Creates a session from `body` and waits until the server's worker has mined it; returns its
/// id.
pub fn mine_session(server: &Server, bearer: &str, body: &serde_json::Value) -> String {
    let id = create_session(server, bearer, body);
    mined(server, bearer, &id);
    id
}

/// The potential-role summaries of `session`, in the engine's order.
/// Polls the potential role until its provisioning is no longer `PENDING`.
pub fn provisioned(server: &Server, bearer: &str, role: &str) -> serde_json::Value {
    let started = Instant::now();
    loop {
        let (status, body) = get(
            server,
            bearer,
            &format!("/beta/role-mining-potential-roles/{role}"),
        );
        assert_eq!(status, 200, "{body}");
        if body["provisionState"] != "PENDING" {
            return body;
        }
        assert!(started.elapsed() < Duration::from_secs(60), "{body}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// GETs `path` (a download); returns status, Content-Disposition and the body's bytes.
pub fn get_bytes(base: &str, bearer: &str, path: &str) -> (u16, Option<String>, Vec<u8>) {
    use std::io::Read;
    let mut response = http()
        .get(format!("{base}{path}"))
        .header("Authorization", format!("Bearer {bearer}"))
        .call()
        .unwrap();
    let status = response.status().as_u16();
    let disposition = response
        .headers()
        .get("Content-Disposition")
        .map(|v| v.to_str().unwrap().to_owned());
    let mut bytes = Vec::new();
    response
        .body_mut()
        .with_config()
        .limit(1 << 30)
        .reader()
        .read_to_end(&mut bytes)
        .unwrap();
    (status, disposition, bytes)
}

/// PATCHes `path` with a JSON Patch `body`: (status, body).
pub fn patch_json(
    server: &Server,
    bearer: &str,
    path: &str,
    body: serde_json::Value,
) -> (u16, serde_json::Value) {
    let response = http()
        .patch(format!("{}{path}", server.base))
        .header("Authorization", format!("Bearer {bearer}"))
        .header("Content-Type", "application/json-patch+json")
        .send(body.to_string())
        .unwrap();
    let (status, _, body) = json_response(response, "X");
    (status, body)
}

/// PATCHes session `id` with a JSON Patch `body`: (status, body).
pub fn patch_session(
    server: &Server,
    bearer: &str,
    id: &str,
    body: serde_json::Value,
) -> (u16, serde_json::Value) {
    patch_json(
        server,
        bearer,
        &format!("/beta/role-mining-sessions/{id}"),
        body,
    )
}

/// The first page of a session's potential-role summaries.
pub fn role_summaries(server: &Server, bearer: &str, session: &str) -> Vec<serde_json::Value> {
    let (status, summaries) = get(
        server,
        bearer,
        &format!("/beta/role-mining-sessions/{session}/potential-role-summaries"),
    );
    assert_eq!(status, 200, "{summaries}");
    summaries.as_array().unwrap().clone()
}

/// The specialised roles' summaries, in order: a `SPECIALIZED` session's birthright role (typed
/// `COMMON`) holds only common access, which checks of a role's specialised access need beside it.
pub fn specialised(summaries: &[serde_json::Value]) -> Vec<serde_json::Value> {
    summaries
        .iter()
        .filter(|summary| summary["type"] == "SPECIALIZED")
        .cloned()
        .collect()
}

/// The first specialised role's summary (see [`specialised`]).
pub fn first_specialised(summaries: &[serde_json::Value]) -> &serde_json::Value {
    summaries
        .iter()
        .find(|summary| summary["type"] == "SPECIALIZED")
        .expect("a specialised potential role")
}

/// A zip archive holding `files` (name, bytes), deflated.
pub fn zip_of(files: &[(&str, &[u8])]) -> Vec<u8> {
    use std::io::Write;
    let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    for (name, text) in files {
        zip.start_file(*name, zip::write::SimpleFileOptions::default())
            .unwrap();
        zip.write_all(text).unwrap();
    }
    zip.finish().unwrap().into_inner()
}

/// Planted access data of `spec` as an import zip (every file the generator writes).
pub fn planted_zip(spec: rolemine_dataset::planted::PlantedSpec) -> Vec<u8> {
    let dir = tempfile::tempdir().unwrap();
    rolemine_dataset::planted::Planted::new(spec)
        .write(dir.path(), |_| {})
        .unwrap();
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir.path()).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        files.push((name, std::fs::read(&path).unwrap()));
    }
    let borrowed: Vec<(&str, &[u8])> = files
        .iter()
        .map(|(name, bytes)| (name.as_str(), bytes.as_slice()))
        .collect();
    zip_of(&borrowed)
}

/// Polls the import at `location` until it leaves QUEUED/IN_PROGRESS.
pub fn import_finished(server: &Server, bearer: &str, location: &str) -> Value {
    let started = Instant::now();
    loop {
        let response = http()
            .get(format!("{}{location}", server.base))
            .header("Authorization", format!("Bearer {bearer}"))
            .call()
            .unwrap();
        let (status, _, body) = json_response(response, "Location");
        assert_eq!(status, 200, "{body}");
        if body["state"] != "QUEUED" && body["state"] != "IN_PROGRESS" {
            return body;
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "import still {} after a minute:\n{}",
            body["state"],
            server.log_text()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Reads one HTTP/1.1 response: (status, lower-cased headers, JSON body or `null`).
pub fn read_response(reader: &mut impl BufRead) -> (u16, Vec<(String, String)>, Value) {
    let mut status_line = String::new();
    reader.read_line(&mut status_line).unwrap();
    let status: u16 = status_line
        .split_whitespace()
        .nth(1)
        .unwrap_or_else(|| panic!("no status line: {status_line:?}"))
        .parse()
        .unwrap();
    let mut headers = Vec::new();
    let mut length = 0usize;
    loop {
        let mut line = String::new();
        reader.read_line(&mut line).unwrap();
        if line == "\r\n" || line.is_empty() {
            break;
        }
        let (name, value) = line.split_once(':').unwrap();
        let (name, value) = (name.trim().to_ascii_lowercase(), value.trim().to_owned());
        if name == "content-length" {
            length = value.parse().unwrap();
        }
        headers.push((name, value));
    }
    let mut body = vec![0; length];
    reader.read_exact(&mut body).unwrap();
    (
        status,
        headers,
        serde_json::from_slice(&body).unwrap_or(Value::Null),
    )
}

/// The value of the (lower-cased) header `name`.
pub fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.as_str())
}

/// The entitlements each mined role stands for: those at least half its members hold (each
/// member's random extras are in its full list at low popularity).
pub fn role_definitions(result: &rolemine_engine::MiningResult) -> Vec<Vec<u32>> {
    result
        .roles
        .iter()
        .map(|role| {
            let members = role.members.len() as u32;
            role.entitlements
                .iter()
                .filter(|s| rolemine_engine::metrics::is_defining(s.identity_count, members))
                .map(|s| s.entitlement)
                .collect()
        })
        .collect()
}

/// A Python virtualenv under the target directory's `name` with `package` (a pinned pip
/// requirement) installed, made on first use and reused while its marker names the same
/// package; `None` without Python (callers skip their test with a message). Not safe for two
/// callers making the same virtualenv at once: callers install once per test process.
pub fn python_venv(name: &str, package: &str) -> Option<std::path::PathBuf> {
    let python = ["python3", "python"].into_iter().find(|p| {
        Command::new(p)
            .arg("--version")
            .output()
            .is_ok_and(|o| o.status.success())
    })?;
    let venv = Path::new(env!("CARGO_TARGET_TMPDIR")).join(name);
    let marker = venv.join(".installed");
    if std::fs::read_to_string(&marker).ok().as_deref() != Some(package) {
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
        let installed = Command::new(venv.join("bin/python"))
            .args([
                "-m",
                "pip",
                "install",
                "--quiet",
                "--disable-pip-version-check",
                package,
            ])
            .status()
            .unwrap();
        assert!(installed.success(), "pip install {package} failed");
        std::fs::write(&marker, package).unwrap();
    }
    Some(venv)
}

/// The text of entry `name` of the zip `bytes`.
pub fn zip_entry(bytes: &[u8], name: &str) -> String {
    use std::io::Read;
    let mut archive = zip::ZipArchive::new(std::io::Cursor::new(bytes)).unwrap();
    let mut text = String::new();
    archive
        .by_name(name)
        .unwrap()
        .read_to_string(&mut text)
        .unwrap();
    text
}

/// `POST /rolemine/v1/imports` of `body` as `content_type`: status, `Location` and body.
pub fn upload_import(
    server: &Server,
    bearer: &str,
    content_type: &str,
    body: &[u8],
) -> (u16, Option<String>, Value) {
    post_bytes(server, bearer, "/rolemine/v1/imports", content_type, body)
}
