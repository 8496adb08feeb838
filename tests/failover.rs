//! Scaling out, as processes on loopback (the topology of docker-compose's `scale` profile):
//! two API replicas without workers and two worker processes on one PostgreSQL, with a shared
//! artifact directory. Mid-traffic one replica and one worker are killed (SIGKILL); the client
//! fails over to the other replica as a proxy would. No request is lost beyond the one in
//! flight at the kill (retried on the survivor), and every mining job finishes exactly once.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a failed test

use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use nix::sys::signal::Signal;
use rolemine_dataset::planted::PlantedSpec;
use rolemine_domain::{JobKind, JobState};
use serde_json::{json, Value};

use crate::support::{
    create_client, http, import_planted, json_response, rolemine, signal, token, Server,
    TestDatabase, MANAGE,
};

/// A `rolemine worker` process.
fn worker(db: &TestDatabase, artifacts: &std::path::Path) -> Child {
    rolemine()
        .arg("worker")
        .env("DATABASE_URL", &db.url)
        .env("ROLEMINE_ARTIFACT_DIR", artifacts)
        // A killed worker's job goes back to the queue after its lease: 3 s here.
        .env("ROLEMINE_JOB_LEASE", "3")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

/// An API replica without a worker.
fn replica(db: &TestDatabase, artifacts: &std::path::Path) -> Server {
    let mut command = rolemine();
    command
        .env("DATABASE_URL", &db.url)
        .env("ROLEMINE_NO_WORKER", "true")
        .env("ROLEMINE_ARTIFACT_DIR", artifacts)
        .env("ROLEMINE_RATE_LIMIT", "1000");
    Server::spawn(command)
}

/// The client side of a proxy: sends to the preferred replica, and on a connection failure
/// (a dead replica) to the other. Counts failovers.
struct Balancer {
    bases: Vec<String>,
    bearer: String,
    next: usize,
    failovers: usize,
}

impl Balancer {
    fn send(&mut self, method: &str, path: &str, body: Option<&Value>) -> (u16, Value) {
        self.next += 1;
        for attempt in 0..self.bases.len() {
            let base = &self.bases[(self.next + attempt) % self.bases.len()];
            let url = format!("{base}{path}");
            let request = match method {
                "POST" => http()
                    .post(&url)
                    .header("Authorization", format!("Bearer {}", self.bearer))
                    .header("Content-Type", "application/json")
                    .send(body.map(Value::to_string).unwrap_or_default()),
                _ => http()
                    .get(&url)
                    .header("Authorization", format!("Bearer {}", self.bearer))
                    .call(),
            };
            match request {
                Ok(response) => {
                    let (status, _, body) = json_response(response, "X");
                    return (status, body);
                }
                Err(_) => self.failovers += 1,
            }
        }
        panic!("no replica answered {method} {path}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replica_and_a_worker_die_mid_traffic_and_nothing_is_lost() {
    let db = TestDatabase::create().await;
    let _files = import_planted(
        &db.url,
        PlantedSpec {
            identities: 8_000,
            entitlements: 1_000,
            roles: 20,
            ..PlantedSpec::default()
        },
    );
    let artifacts = tempfile::tempdir().unwrap();
    let mut replicas = vec![
        replica(&db, artifacts.path()),
        replica(&db, artifacts.path()),
    ];
    let mut workers = vec![worker(&db, artifacts.path()), worker(&db, artifacts.path())];
    let (client, secret) = create_client(&db.url, &[MANAGE]);
    let bearer = token(&replicas[0].base, &client, &secret);
    let mut balancer = Balancer {
        bases: replicas.iter().map(|r| r.base.clone()).collect(),
        bearer,
        next: 0,
        failovers: 0,
    };

    let mut sessions = Vec::new();
    let mut answered = 0;
    for i in 0..8 {
        if i == 4 {
            // Mid-traffic: one replica and one worker die without warning.
            signal(&replicas[0].child, Signal::SIGKILL);
            signal(&workers[0], Signal::SIGKILL);
        }
        let (status, created) = balancer.send(
            "POST",
            "/beta/role-mining-sessions",
            Some(&json!({"name": format!("scale {i}"), "minNumIdentitiesInPotentialRole": 20})),
        );
        assert_eq!(status, 201, "{created}");
        sessions.push(created["id"].as_str().unwrap().to_owned());
        for _ in 0..10 {
            let (status, body) = balancer.send("GET", "/beta/role-mining-sessions?limit=5", None);
            assert_eq!(status, 200, "{body}");
            answered += 1;
        }
    }
    assert_eq!(answered, 80);
    assert!(balancer.failovers >= 1, "the dead replica was never tried");

    // Every session is mined, by the surviving worker where the dead one held the job.
    let started = Instant::now();
    for session in &sessions {
        loop {
            let (status, body) = balancer.send(
                "GET",
                &format!("/beta/role-mining-sessions/{session}"),
                None,
            );
            assert_eq!(status, 200, "{body}");
            if body["status"]["state"] == "POTENTIAL_ROLES_CREATED" {
                assert!(body["potentialRoleCount"].as_i64().unwrap() >= 15, "{body}");
                break;
            }
            assert_ne!(body["status"]["state"], "FAILED", "{body}");
            assert!(
                started.elapsed() < Duration::from_secs(120),
                "{session} not mined: {body}"
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    // Each mining job succeeds exactly once; a job whose worker died after publishing is
    // closed once its lease runs out (by the surviving worker, without mining again). Each
    // session holds one generation's roles.
    let pool = db.pool().await;
    for session in &sessions {
        let id: uuid::Uuid = session.parse().unwrap();
        let since = Instant::now();
        let (succeeded, open) = loop {
            let (succeeded, open): (i64, i64) = sqlx::query_as(
                "SELECT count(*) FILTER (WHERE state = $2),
                        count(*) FILTER (WHERE state = ANY($3))
                   FROM jobs WHERE subject_id = $1 AND kind = $4",
            )
            .bind(id)
            .bind(JobState::Succeeded.as_str())
            .bind(vec![JobState::Queued.as_str(), JobState::Running.as_str()])
            .bind(JobKind::Mine.as_str())
            .fetch_one(&pool)
            .await
            .unwrap();
            if open == 0 || since.elapsed() > Duration::from_secs(60) {
                break (succeeded, open);
            }
            std::thread::sleep(Duration::from_millis(200));
        };
        assert_eq!((succeeded, open), (1, 0), "{session}");
        let (roles, expected): (i64, i32) = sqlx::query_as(
            "SELECT (SELECT count(*) FROM potential_roles WHERE session_id = $1),
                    potential_role_count FROM role_mining_sessions WHERE id = $1",
        )
        .bind(id)
        .fetch_one(&pool)
        .await
        .unwrap();
        assert_eq!(roles, i64::from(expected), "{session}");
    }
    pool.close().await;
    for mut worker in workers.drain(..) {
        signal(&worker, Signal::SIGTERM);
        let _ = worker.wait();
    }
    replicas.clear();
    db.drop_database().await;
}
