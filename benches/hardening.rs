//! Bounded load test of the hardening targets (issue #18), on loopback, stopping by itself:
//!
//! 1. valid token requests at 16 connections for 15 s: req/s, p99 and RSS;
//! 2. 64 connections of wrong-secret token requests for 30 s, while one client reads
//!    `GET /beta/role-mining-sessions`: the server's peak RSS and that operation's p99 (the
//!    loopback address is throttled for a minute after this);
//! 3. a zip holding a 1 GiB line of NUL bytes uploaded as an import: peak RSS and the outcome.
//!
//! Run with `scripts/bench-hardening` (release build, throwaway PostgreSQL).

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::io::Write;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let database_url =
        std::env::var("DATABASE_URL").expect("DATABASE_URL (scripts/bench-hardening)");
    let binary = env!("CARGO_BIN_EXE_rolemine");
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let base = format!("http://127.0.0.1:{port}");
    let created = Command::new(binary)
        .args([
            "client",
            "create",
            "--name",
            "bench",
            "--scope",
            "iai:access-modeling:manage",
        ])
        .env("DATABASE_URL", &database_url)
        .output()
        .unwrap();
    assert!(
        created.status.success(),
        "{}",
        String::from_utf8_lossy(&created.stderr)
    );
    let created: serde_json::Value = serde_json::from_slice(&created.stdout).unwrap();
    let (id, secret) = (
        created["client_id"].as_str().unwrap().to_owned(),
        created["client_secret"].as_str().unwrap().to_owned(),
    );
    let upload_dir = tempfile::tempdir().unwrap();
    let mut server = Command::new(binary)
        .args(["serve", "--bind", &format!("127.0.0.1:{port}")])
        .env("DATABASE_URL", &database_url)
        .env("ROLEMINE_UPLOAD_DIR", upload_dir.path())
        .env("ROLEMINE_ARTIFACT_DIR", upload_dir.path())
        .env("ROLEMINE_RATE_LIMIT", "100000")
        .env("ROLEMINE_RATE_BURST", "100000")
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    wait_ready(&base, &mut server);
    let bearer = token(&base, &id, &secret).expect("a token");

    let peak = Arc::new(Mutex::new(0u64));
    let watching = watch_rss(server.id(), Arc::clone(&peak));
    println!("== valid token requests, 16 connections, 15 s");
    let latencies = Arc::new(Mutex::new(Vec::new()));
    let started = Instant::now();
    let workers: Vec<_> = (0..16)
        .map(|_| {
            let (base, id, secret, latencies) = (
                base.clone(),
                id.clone(),
                secret.clone(),
                Arc::clone(&latencies),
            );
            std::thread::spawn(move || {
                while started.elapsed() < Duration::from_secs(15) {
                    let sent = Instant::now();
                    let ok = token(&base, &id, &secret).is_some();
                    latencies.lock().unwrap().push((sent.elapsed(), ok));
                }
            })
        })
        .collect();
    for worker in workers {
        worker.join().unwrap();
    }
    let latencies = latencies.lock().unwrap().clone();
    report("POST /oauth/token (valid)", &latencies, started.elapsed());
    println!(
        "server peak RSS under token load: {} MB",
        *peak.lock().unwrap() / 1024
    );

    println!("== 64 connections of wrong-secret token requests for 30 s, one reader alongside");
    *peak.lock().unwrap() = 0;
    let stop = Arc::new(AtomicBool::new(false));
    let statuses = Arc::new(Mutex::new(std::collections::BTreeMap::<u16, u64>::new()));
    let flood: Vec<_> = (0..64)
        .map(|n| {
            let (base, stop, statuses) = (base.clone(), Arc::clone(&stop), Arc::clone(&statuses));
            let client = if n % 2 == 0 {
                id.clone()
            } else {
                format!("made-up-{n}")
            };
            std::thread::spawn(move || {
                let agent = agent();
                while !stop.load(Ordering::Relaxed) {
                    let status = agent
                        .post(format!("{base}/oauth/token"))
                        .send_form([
                            ("grant_type", "client_credentials"),
                            ("client_id", client.as_str()),
                            ("client_secret", "wrong"),
                        ])
                        .map(|r| r.status().as_u16())
                        .unwrap_or(0);
                    *statuses.lock().unwrap().entry(status).or_default() += 1;
                }
            })
        })
        .collect();
    let reads = timed_loop(Duration::from_secs(30), || {
        agent()
            .get(format!("{base}/beta/role-mining-sessions?limit=50"))
            .header("Authorization", format!("Bearer {bearer}"))
            .call()
            .map(|r| r.status().as_u16() == 200)
            .unwrap_or(false)
    });
    stop.store(true, Ordering::Relaxed);
    for thread in flood {
        thread.join().unwrap();
    }
    let flood_rss = *peak.lock().unwrap();
    println!("token answers: {:?}", statuses.lock().unwrap());
    report(
        "GET role-mining-sessions during the flood",
        &reads,
        Duration::from_secs(30),
    );
    println!(
        "server peak RSS during the flood: {} MB (target < 500 MB)",
        flood_rss / 1024
    );

    println!("== a zip holding a 1 GiB line of NUL bytes, uploaded as an import");
    *peak.lock().unwrap() = 0;
    let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    zip.start_file("assignments.csv", zip::write::SimpleFileOptions::default())
        .unwrap();
    zip.write_all(b"identity_id,entitlement_id\nu1,").unwrap();
    let zeros = vec![0u8; 1 << 20];
    for _ in 0..1024 {
        zip.write_all(&zeros).unwrap();
    }
    let zip = zip.finish().unwrap().into_inner();
    let started = Instant::now();
    let response = agent()
        .post(format!("{base}/rolemine/v1/imports"))
        .header("Authorization", format!("Bearer {bearer}"))
        .header("Content-Type", "application/zip")
        .send(&zip[..])
        .unwrap();
    let location = response
        .headers()
        .get("Location")
        .unwrap()
        .to_str()
        .unwrap()
        .to_owned();
    let outcome = loop {
        let mut response = agent()
            .get(format!("{base}{location}"))
            .header("Authorization", format!("Bearer {bearer}"))
            .call()
            .unwrap();
        let body: serde_json::Value =
            serde_json::from_str(&response.body_mut().read_to_string().unwrap()).unwrap();
        if body["state"] != "QUEUED" && body["state"] != "IN_PROGRESS" {
            break body;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    println!(
        "{} KB zip: {} in {:.2} s, {}; server peak RSS {} MB (target < 300 MB)",
        zip.len() / 1024,
        outcome["state"],
        started.elapsed().as_secs_f64(),
        outcome["errors"][0],
        *peak.lock().unwrap() / 1024
    );
    let _ = server.kill();
    let _ = server.wait();
    drop(watching);
}

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into()
}

fn token(base: &str, id: &str, secret: &str) -> Option<String> {
    let mut response = agent()
        .post(format!("{base}/oauth/token"))
        .send_form([
            ("grant_type", "client_credentials"),
            ("client_id", id),
            ("client_secret", secret),
        ])
        .ok()?;
    let body: serde_json::Value =
        serde_json::from_str(&response.body_mut().read_to_string().ok()?).ok()?;
    body["access_token"].as_str().map(str::to_owned)
}

fn wait_ready(base: &str, server: &mut Child) {
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(60) {
        assert!(server.try_wait().unwrap().is_none(), "the server exited");
        if agent()
            .get(format!("{base}/ready"))
            .call()
            .is_ok_and(|r| r.status() == 200)
        {
            return;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("server not ready");
}

/// Samples the process's RSS every 50 ms into `peak` (KB) until dropped.
fn watch_rss(pid: u32, peak: Arc<Mutex<u64>>) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || loop {
        let Ok(status) = std::fs::read_to_string(format!("/proc/{pid}/status")) else {
            return;
        };
        let rss = status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
            .unwrap_or(0);
        let mut peak = peak.lock().unwrap();
        *peak = (*peak).max(rss);
        drop(peak);
        std::thread::sleep(Duration::from_millis(50));
    })
}

fn timed_loop(limit: Duration, mut call: impl FnMut() -> bool) -> Vec<(Duration, bool)> {
    let started = Instant::now();
    let mut out = Vec::new();
    while started.elapsed() < limit {
        let sent = Instant::now();
        let ok = call();
        out.push((sent.elapsed(), ok));
    }
    out
}

fn report(what: &str, samples: &[(Duration, bool)], over: Duration) {
    let mut times: Vec<Duration> = samples.iter().map(|(t, _)| *t).collect();
    times.sort();
    let at = |q: f64| {
        times
            .get(((times.len() as f64 * q) as usize).min(times.len().saturating_sub(1)))
            .copied()
            .unwrap_or_default()
    };
    let ok = samples.iter().filter(|(_, ok)| *ok).count();
    println!(
        "{what}: {} requests ({ok} ok), {:.0} req/s, p50 {:.1} ms, p99 {:.1} ms",
        samples.len(),
        samples.len() as f64 / over.as_secs_f64(),
        at(0.5).as_secs_f64() * 1e3,
        at(0.99).as_secs_f64() * 1e3
    );
}
