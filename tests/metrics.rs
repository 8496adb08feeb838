//! `--metrics-bind`: Prometheus metrics on their own address, with the request, job, mining,
//! import, export, rate-limit, queue and pool figures an operator watches.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a failed test

use std::time::{Duration, Instant};

use rolemine_dataset::planted::PlantedSpec;
use rolemine_domain::JobKind;
use serde_json::json;

use crate::support::{
    free_port, get, http, import_finished, mine_session, planted_zip, post, serve, TestDatabase,
};

/// The value of the first sample of `name` whose labels include every one of `labels`.
fn sample(text: &str, name: &str, labels: &[&str]) -> Option<f64> {
    text.lines()
        .filter(|line| !line.starts_with('#'))
        .filter(|line| {
            line.starts_with(&format!("{name}{{")) || line.starts_with(&format!("{name} "))
        })
        .find(|line| labels.iter().all(|label| line.contains(label)))
        .and_then(|line| line.rsplit(' ').next())
        .and_then(|value| value.parse().ok())
}

/// A parsed scrape.
type Exposition = openmetrics_parser::MetricsExposition<
    openmetrics_parser::PrometheusType,
    openmetrics_parser::PrometheusValue,
>;

/// Scrapes `/metrics`; the text must parse with a Prometheus text-format parser (a grammar of
/// the exposition format, checked against the OpenMetrics test cases).
fn scrape(port: u16) -> (String, Exposition) {
    let mut response = http()
        .get(format!("http://127.0.0.1:{port}/metrics"))
        .call()
        .unwrap();
    assert_eq!(response.status(), 200);
    let text = response.body_mut().read_to_string().unwrap();
    let parsed = openmetrics_parser::prometheus::parse_prometheus(&text)
        .unwrap_or_else(|err| panic!("the scrape does not parse: {err:?}\n{text}"));
    (text, parsed)
}

/// The total over every label set of counter `name` in a parsed scrape.
fn counter_total(scrape: &Exposition, name: &str) -> f64 {
    scrape.families.get(name).map_or(0.0, |family| {
        family
            .iter_samples()
            .map(|sample| match &sample.value {
                openmetrics_parser::PrometheusValue::Counter(counter) => counter.value.as_f64(),
                _ => 0.0,
            })
            .sum()
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_are_served_on_their_own_address() {
    let db = TestDatabase::create().await;
    let port = free_port();
    let (server, client, bearer) = serve(
        &db,
        &[
            ("ROLEMINE_METRICS_BIND", format!("127.0.0.1:{port}")),
            ("ROLEMINE_RATE_LIMIT", "10000".to_owned()),
            ("ROLEMINE_RATE_BURST", "10000".to_owned()),
        ],
    );
    let (_, before) = scrape(port);

    // An import over HTTP, a mined session, an asynchronous export.
    let zip = planted_zip(PlantedSpec {
        identities: 400,
        entitlements: 200,
        roles: 4,
        ..PlantedSpec::default()
    });
    let (status, location, body) =
        crate::support::upload_import(&server, &bearer, "application/zip", &zip);
    assert_eq!(status, 202, "{body}");
    let imported = import_finished(&server, &bearer, &location.unwrap());
    assert_eq!(imported["state"], "SUCCESS", "{imported}");
    let session = mine_session(
        &server,
        &bearer,
        &json!({"name": "metrics", "minNumIdentitiesInPotentialRole": 10}),
    );
    let (_, roles) = get(
        &server,
        &bearer,
        &format!("/beta/role-mining-sessions/{session}/potential-role-summaries"),
    );
    let role = roles[0]["id"].as_str().unwrap();
    let (status, export) = post(
        &server,
        &bearer,
        &format!("/beta/role-mining-sessions/{session}/potential-roles/{role}/export-async"),
        "{}",
        "application/json",
    );
    assert_eq!(status, 202, "{export}");
    let started = Instant::now();
    loop {
        let (_, state) = get(
            &server,
            &bearer,
            &format!(
                "/beta/role-mining-sessions/{session}/potential-roles/{role}/export-async/{}",
                export["exportId"].as_str().unwrap()
            ),
        );
        if state["status"] == "SUCCESS" {
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(60), "{state}");
        std::thread::sleep(Duration::from_millis(100));
    }
    // Wrong secrets until the failure throttle answers 429.
    let mut throttled = false;
    for _ in 0..40 {
        let response = http()
            .post(format!("{}/oauth/token", server.base))
            .send_form([
                ("grant_type", "client_credentials"),
                ("client_id", client.as_str()),
                ("client_secret", "wrong"),
            ])
            .unwrap();
        if response.status() == 429 {
            throttled = true;
            break;
        }
    }
    assert!(throttled, "no 429 after 40 wrong secrets");

    // A burst of reads from four threads, scraped while it runs: the text parses and the
    // request counter moves between scrapes.
    let summaries = format!(
        "{}/beta/role-mining-sessions/{session}/potential-role-summaries?limit=50",
        server.base
    );
    let mut during = Vec::new();
    std::thread::scope(|scope| {
        for _ in 0..4 {
            scope.spawn(|| {
                for _ in 0..100 {
                    let response = http()
                        .get(&summaries)
                        .header("Authorization", format!("Bearer {bearer}"))
                        .call()
                        .unwrap();
                    assert_eq!(response.status(), 200);
                }
            });
        }
        for _ in 0..3 {
            during.push(scrape(port).1);
            std::thread::sleep(Duration::from_millis(50));
        }
    });
    let (text, after) = scrape(port);
    let requests = "rolemine_http_requests_total";
    let mut seen = vec![counter_total(&before, requests)];
    seen.extend(during.iter().map(|scrape| counter_total(scrape, requests)));
    seen.push(counter_total(&after, requests));
    assert!(seen.windows(2).all(|pair| pair[0] <= pair[1]), "{seen:?}");
    assert!(seen[seen.len() - 1] >= seen[0] + 400.0, "{seen:?}");
    assert!(
        counter_total(&after, "rolemine_page_cache_total") >= 400.0,
        "{text}"
    );
    let session_path = "operation=\"/beta/role-mining-sessions/{sessionId}\"";
    assert!(
        sample(
            &text,
            "rolemine_http_requests_total",
            &[session_path, "status=\"200\""]
        )
        .is_some()
            || sample(
                &text,
                "rolemine_http_requests_total",
                &[
                    "operation=\"/beta/role-mining-sessions/{sessionId}/potential-role-summaries\"",
                    "status=\"200\""
                ]
            )
            .is_some(),
        "{text}"
    );
    assert!(
        sample(
            &text,
            "rolemine_http_request_duration_seconds_count",
            &["method=\"GET\""]
        )
        .unwrap()
            >= 1.0,
        "{text}"
    );
    for kind in [JobKind::Mine, JobKind::Import, JobKind::Export].map(JobKind::as_str) {
        let done = sample(
            &text,
            "rolemine_jobs_total",
            &[&format!("kind=\"{kind}\""), "outcome=\"succeeded\""],
        );
        assert!(done.unwrap_or(0.0) >= 1.0, "{kind}: {text}");
        assert!(
            sample(
                &text,
                "rolemine_job_duration_seconds_count",
                &[&format!("kind=\"{kind}\"")]
            )
            .is_some(),
            "{text}"
        );
    }
    for phase in [
        "population",
        "similarity",
        "clustering",
        "metrics",
        "insights",
    ] {
        assert!(
            sample(
                &text,
                "rolemine_mining_phase_seconds_count",
                &[&format!("phase=\"{phase}\"")]
            )
            .is_some(),
            "{phase}: {text}"
        );
    }
    assert!(
        sample(&text, "rolemine_import_assignment_rows_total", &[]).unwrap() > 1000.0,
        "{text}"
    );
    assert!(
        sample(&text, "rolemine_export_bytes_total", &[]).unwrap() > 0.0,
        "{text}"
    );
    assert!(
        sample(&text, "rolemine_rate_limited_total", &[]).unwrap() >= 1.0,
        "{text}"
    );
    let mine = format!("kind=\"{}\"", JobKind::Mine.as_str());
    assert_eq!(
        sample(&text, "rolemine_jobs_queued", &[&mine]),
        Some(0.0),
        "{text}"
    );
    assert!(sample(&text, "rolemine_jobs_oldest_queued_seconds", &[&mine]).is_some());
    assert!(
        sample(&text, "rolemine_db_pool_connections", &["state=\"idle\""]).is_some(),
        "{text}"
    );
    assert!(sample(&text, "rolemine_db_pool_max_connections", &[]).unwrap() >= 1.0);

    // Not on the API's address.
    let (status, _) = get(&server, &bearer, "/metrics");
    assert_eq!(status, 404);
    drop(server);
    db.drop_database().await;
}
