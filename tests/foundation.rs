//! The foundation: migrations, health and readiness, the server process, the embedded default
//! cluster, bad configuration, and the docker-compose wiring.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a failed test

use crate::support;

use crate::support::{rolemine, Server, TestDatabase};
use axum::body::Body;
use axum::http::{Request, StatusCode};
use rolemine_store::{Readiness, MIGRATOR};
use sqlx::PgPool;
use tower::ServiceExt;

async fn get(pool: PgPool, path: &str) -> (StatusCode, serde_json::Value) {
    let state = rolemine_api::AppState {
        pool,
        uploads: rolemine_api::Uploads {
            dir: std::env::temp_dir(),
            max_bytes: 1 << 20,
        },
        auth: rolemine_api::Auth::new(rolemine_api::AuthSettings {
            signing_key: b"test key".to_vec(),
            issuer: "test".to_owned(),
            token_ttl: std::time::Duration::from_secs(60),
            rate_per_second: std::num::NonZeroU32::MIN,
            burst: std::num::NonZeroU32::MIN,
            token_failures_per_minute: 20,
        })
        .unwrap(),
        request_timeout: std::time::Duration::from_secs(5),
        max_body_bytes: 1 << 20,
        artifacts: rolemine_artifacts::Artifacts::open(
            &std::env::temp_dir().join("rolemine-foundation-artifacts"),
            None,
        )
        .unwrap(),
        pages: rolemine_api::PageCache::new(0),
    };
    let app = rolemine_api::router(state);
    let response = app
        .oneshot(Request::get(path).body(Body::empty()).unwrap())
        .await
        .unwrap();
    let status = response.status();
    let bytes = axum::body::to_bytes(response.into_body(), 1 << 20)
        .await
        .unwrap();
    (status, serde_json::from_slice(&bytes).unwrap())
}

#[sqlx::test(migrations = false)]
async fn migrations_apply_to_an_empty_database_and_reapply_as_a_no_op(pool: PgPool) {
    assert!(matches!(
        rolemine_store::readiness(&pool).await.unwrap(),
        Readiness::PendingMigrations(_)
    ));
    rolemine_store::migrate(&pool).await.unwrap();
    assert_eq!(
        rolemine_store::readiness(&pool).await.unwrap(),
        Readiness::Ready
    );
    let tables = |pool: PgPool| async move {
        sqlx::query_scalar::<_, String>(
            "SELECT table_name::text FROM information_schema.tables
              WHERE table_schema = 'public' ORDER BY 1",
        )
        .fetch_all(&pool)
        .await
        .unwrap()
    };
    let before = tables(pool.clone()).await;
    for expected in [
        "identities",
        "sources",
        "entitlements",
        "identity_access",
        "imports",
        "source_usage",
        "roles",
        "role_mining_sessions",
        "potential_roles",
        "potential_role_members",
        "potential_role_entitlements",
        "potential_role_exports",
        "access_profiles",
        "jobs",
        "api_clients",
    ] {
        assert!(
            before.iter().any(|t| t == expected),
            "missing table {expected}"
        );
    }
    let applied = |pool: PgPool| async move {
        sqlx::query_scalar::<_, i64>("SELECT count(*) FROM _sqlx_migrations")
            .fetch_one(&pool)
            .await
            .unwrap()
    };
    let applied_before = applied(pool.clone()).await;
    assert_eq!(applied_before, MIGRATOR.iter().count() as i64);
    rolemine_store::migrate(&pool).await.unwrap();
    assert_eq!(applied(pool.clone()).await, applied_before);
    assert_eq!(tables(pool).await, before);
}

#[sqlx::test(migrator = "rolemine_store::MIGRATOR")]
async fn health_ready_and_unknown_paths(pool: PgPool) {
    let (status, body) = get(pool.clone(), "/health").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["status"], "UP");

    let (status, body) = get(pool.clone(), "/ready").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["status"], "READY");

    let (status, body) = get(pool, "/no/such/thing").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(
        body["messages"][0]["text"],
        "no operation is served at /no/such/thing"
    );
    assert_eq!(body["messages"][0]["locale"], "en-US");
    assert_eq!(body["messages"][0]["localeOrigin"], "DEFAULT");
    assert_eq!(body["trackingId"].as_str().unwrap().len(), 32);
}

#[sqlx::test(migrations = false)]
async fn ready_is_503_until_migrations_are_applied(pool: PgPool) {
    let (status, body) = get(pool.clone(), "/ready").await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    let text = body["messages"][0]["text"].as_str().unwrap();
    assert!(text.contains("migrations"), "{text}");
    // /health does not depend on the database.
    assert_eq!(get(pool, "/health").await.0, StatusCode::OK);
}

#[tokio::test]
async fn serve_on_database_url_migrates_loads_demo_data_and_stops_on_sigterm() {
    let db = TestDatabase::create().await;
    let dir = tempfile::tempdir().unwrap();
    let mut command = rolemine();
    command
        .env("DATABASE_URL", &db.url)
        .env("ROLEMINE_DEMO", "true");
    let server = Server::start(command, &dir.path().join("serve.log"));
    assert_eq!(
        support::get_status(&format!("{}/health", server.base)),
        Some(200)
    );
    let status = server.terminate();
    assert!(status.success(), "exit status {status}");
    let pool = db.pool().await;
    assert_eq!(
        rolemine_store::readiness(&pool).await.unwrap(),
        Readiness::Ready
    );
    let totals = rolemine_store::import::counts(&pool).await.unwrap();
    assert_eq!(totals.identities, 2_000, "demo data loaded");
    assert!(totals.assignments > 20_000);
    pool.close().await;
    db.drop_database().await;
}

/// Whether any postgres process runs on `data_dir`'s cluster.
fn postgres_running_on(data_dir: &std::path::Path) -> bool {
    let needle = data_dir.join("pgdata");
    std::fs::read_dir("/proc").unwrap().flatten().any(|entry| {
        std::fs::read(entry.path().join("cmdline"))
            .map(|cmdline| {
                let cmdline = String::from_utf8_lossy(&cmdline).replace('\0', " ");
                cmdline.contains("postgres") && cmdline.contains(&*needle.to_string_lossy())
            })
            .unwrap_or(false)
    })
}

#[tokio::test]
async fn embedded_default_starts_stops_cleanly_and_is_reused() {
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().join("data");
    let serve = |log: &str| {
        let mut command = rolemine();
        command.arg("--log-format=text");
        command.env("ROLEMINE_DATA_DIR", &data_dir);
        Server::start(command, &dir.path().join(log))
    };

    let first = serve("first.log");
    assert!(postgres_running_on(&data_dir));
    // Leave a mark in the database to find it again after a restart.
    let url = format!(
        "postgres://rolemine@localhost:5432/rolemine?host={}",
        data_dir.canonicalize().unwrap().join("run").display()
    );
    let pool = PgPool::connect(&url).await.unwrap();
    sqlx::query("INSERT INTO sources (ext_id, name) VALUES ('marker', 'survives restarts')")
        .execute(&pool)
        .await
        .unwrap();
    pool.close().await;
    let log = first.log_text();
    assert!(
        log.contains("creating the embedded PostgreSQL cluster"),
        "{log}"
    );
    assert!(first.terminate().success());
    assert!(
        !postgres_running_on(&data_dir),
        "postgres still running after the server stopped"
    );

    let second = serve("second.log");
    let log = second.log_text();
    assert!(!log.contains("creating the embedded"), "{log}");
    let pool = PgPool::connect(&url).await.unwrap();
    let name: String = sqlx::query_scalar("SELECT name FROM sources WHERE ext_id = 'marker'")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(name, "survives restarts");
    pool.close().await;
    // A closed terminal (SIGHUP) shuts down as cleanly as Ctrl-C or SIGTERM.
    assert!(second.stop_with(nix::sys::signal::Signal::SIGHUP).success());
    assert!(!postgres_running_on(&data_dir));
}

/// Runs `rolemine` expecting failure; returns its one `error:` line.
fn run_failing(command: &mut std::process::Command) -> String {
    let stderr = support::fail(command);
    let line = stderr
        .lines()
        .find(|l| l.starts_with("error:"))
        .unwrap_or_default();
    line.to_owned()
}

#[test]
fn bad_configuration_gives_one_clear_line_and_a_non_zero_exit() {
    let unreachable = run_failing(
        rolemine()
            .args([
                "serve",
                "--bind",
                "127.0.0.1:0",
                "--db-connect-timeout",
                "3",
            ])
            .env("DATABASE_URL", "postgres://nobody@127.0.0.1:1/nothing"),
    );
    assert!(
        unreachable.contains("cannot connect to the database at 127.0.0.1:1")
            && unreachable.contains("Connection refused"),
        "{unreachable}"
    );

    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let address = taken.local_addr().unwrap().to_string();
    let in_use = run_failing(rolemine().args(["serve", "--bind", &address]));
    assert!(
        in_use.contains(&format!("cannot listen on {address}")) && in_use.contains("in use"),
        "{in_use}"
    );

    let file = tempfile::NamedTempFile::new().unwrap();
    let below_a_file = file.path().join("data");
    let unwritable = run_failing(
        rolemine()
            .args(["migrate", "--data-dir"])
            .arg(&below_a_file),
    );
    assert!(
        unwritable.contains(&format!(
            "cannot use data directory {}",
            below_a_file.display()
        )),
        "{unwritable}"
    );

    let not_postgres = run_failing(
        rolemine()
            .arg("migrate")
            .env("DATABASE_URL", "mysql://root@localhost/db"),
    );
    assert!(not_postgres.contains("postgres://"), "{not_postgres}");

    let bad_smtp = run_failing(
        rolemine()
            .arg("worker")
            .env("DATABASE_URL", "postgres://127.0.0.1:1/db")
            .env("ROLEMINE_SMTP_URL", "carrier-pigeon://coop"),
    );
    assert!(bad_smtp.contains("invalid SMTP URL"), "{bad_smtp}");
}

#[test]
fn docker_compose_wires_postgres_server_and_worker() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let text = std::fs::read_to_string(root.join("docker-compose.yml")).unwrap();
    let docs = yaml_rust2::YamlLoader::load_from_str(&text).unwrap();
    let compose = &docs[0];
    let services = &compose["services"];

    let postgres = &services["postgres"];
    assert!(postgres["image"].as_str().unwrap().starts_with("postgres:"));
    let pg_test = format!("{:?}", postgres["healthcheck"]["test"]);
    assert!(pg_test.contains("pg_isready"), "{pg_test}");
    let pg_volume = postgres["volumes"][0].as_str().unwrap();
    let volume_name = pg_volume.split(':').next().unwrap();
    assert!(!compose["volumes"][volume_name].is_badvalue());

    for name in ["rolemine", "worker"] {
        let service = &services[name];
        assert_eq!(service["build"]["context"].as_str(), Some("."), "{name}");
        let dockerfile = service["build"]["dockerfile"]
            .as_str()
            .unwrap_or("Dockerfile");
        assert!(root.join(dockerfile).is_file(), "{name}: {dockerfile}");
        assert_eq!(
            service["depends_on"]["postgres"]["condition"].as_str(),
            Some("service_healthy"),
            "{name}"
        );
        let url = service["environment"]["DATABASE_URL"].as_str().unwrap();
        assert!(
            url.starts_with("postgres://") && url.contains("@postgres:5432/"),
            "{url}"
        );
    }
    let server = &services["rolemine"];
    assert_eq!(
        server["command"][0].as_str(),
        Some("serve"),
        "the server service runs `rolemine serve`"
    );
    assert_eq!(services["worker"]["command"][0].as_str(), Some("worker"));
    // Uploaded imports are read by whichever worker claims them: one shared volume, mounted at
    // the upload directory the server writes to.
    // Export artifacts likewise: written by any worker, served by any server.
    for (index, variable) in [(0, "ROLEMINE_UPLOAD_DIR"), (1, "ROLEMINE_ARTIFACT_DIR")] {
        let dir = server["environment"][variable].as_str().unwrap();
        for name in ["rolemine", "worker"] {
            if variable == "ROLEMINE_ARTIFACT_DIR" {
                assert_eq!(services[name]["environment"][variable].as_str(), Some(dir));
            }
            let mount = services[name]["volumes"][index].as_str().unwrap();
            let (volume, path) = mount.split_once(':').unwrap();
            assert_eq!(path, dir, "{name}");
            assert!(
                !compose["volumes"][volume].is_badvalue(),
                "{name}: {volume}"
            );
        }
    }
    let bind = server["environment"]["ROLEMINE_BIND"].as_str().unwrap();
    let port = bind.rsplit(':').next().unwrap();
    let published = server["ports"][0].as_str().unwrap();
    assert!(
        published.ends_with(&format!(":{port}")),
        "{published} vs {bind}"
    );
    let health = format!("{:?}", server["healthcheck"]["test"]);
    assert!(health.contains(&format!("{port}/ready")), "{health}");
    let dockerfile = std::fs::read_to_string(root.join("Dockerfile")).unwrap();
    assert!(dockerfile.contains(&format!("EXPOSE {port}")));
    assert!(
        dockerfile.contains("curl"),
        "the healthcheck needs curl in the image"
    );
}

/// The `scale` profile: two API replicas without workers behind the proxy, two workers, and an
/// S3-compatible store every one of them uses for artifacts.
#[test]
fn docker_compose_scale_profile_puts_two_replicas_behind_a_proxy() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let text = std::fs::read_to_string(root.join("docker-compose.yml")).unwrap();
    let docs = yaml_rust2::YamlLoader::load_from_str(&text).unwrap();
    let services = &docs[0]["services"];
    let in_profile = |name: &str| {
        services[name]["profiles"]
            .as_vec()
            .is_some_and(|p| p.iter().any(|p| p.as_str() == Some("scale")))
    };
    for name in [
        "api-1",
        "api-2",
        "worker-1",
        "worker-2",
        "proxy",
        "s3",
        "s3-bucket",
    ] {
        assert!(in_profile(name), "{name} is not in the scale profile");
    }
    for name in ["api-1", "api-2", "worker-1", "worker-2"] {
        let env = &services[name]["environment"];
        assert_eq!(env["ROLEMINE_NO_WORKER"].as_str(), Some("true"), "{name}");
        let url = env["ROLEMINE_ARTIFACT_URL"].as_str().unwrap();
        assert!(url.starts_with("s3://"), "{name}: {url}");
        assert_eq!(
            env["AWS_ENDPOINT"].as_str(),
            Some("http://s3:9000"),
            "{name}"
        );
    }
    for name in ["api-1", "api-2"] {
        assert_eq!(services[name]["command"][0].as_str(), Some("serve"));
    }
    for name in ["worker-1", "worker-2"] {
        assert_eq!(services[name]["command"][0].as_str(), Some("worker"));
    }
    let mount = services["proxy"]["volumes"][0].as_str().unwrap();
    let config = mount.split(':').next().unwrap();
    let nginx = std::fs::read_to_string(root.join(config)).unwrap();
    for needle in ["api-1:8080", "api-2:8080", "proxy_next_upstream error"] {
        assert!(nginx.contains(needle), "{config} lacks {needle}");
    }
}

/// The database flags are global: before or after the subcommand (and after a nested one).
#[tokio::test]
async fn database_flags_go_before_or_after_the_subcommand() {
    let db = TestDatabase::create().await;
    for args in [
        vec!["--database-url", &db.url, "client", "create", "--name", "a"],
        vec!["client", "--database-url", &db.url, "create", "--name", "b"],
        vec!["client", "create", "--name", "c", "--database-url", &db.url],
    ] {
        support::succeed(
            rolemine()
                .args(&args)
                .args(["--scope", "iai:access-modeling:read"]),
        );
    }
    let listed = support::succeed(rolemine().args(["client", "list", "--database-url", &db.url]));
    assert_eq!(String::from_utf8(listed.stdout).unwrap().lines().count(), 3);
    db.drop_database().await;
}
