//! Pages of a 100k-member potential role, as the identities, entitlement-popularity and
//! source-usage endpoints ask for them, straight against PostgreSQL.
//!
//! Needs `DATABASE_URL` (a server it may create a database on; `scripts/bench-role-pages`
//! starts a throwaway one). Before criterion's own runs it prints p50/p99 over 300 requests of
//! each page, the figure the potential-role endpoints are held to (under 50 ms at p99).

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)] // a benchmark: panics are failures

use std::str::FromStr;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion};
use rolemine_filter::{parse, parse_sorters, FieldSpec, SorterSpec};
use rolemine_store::listing::Listing;
use rolemine_store::potential_roles::{self as roles, EntitlementView};
use sqlx::postgres::PgConnectOptions;
use sqlx::{Connection, PgConnection, PgPool};
use tokio::runtime::Runtime;
use uuid::Uuid;

const MEMBERS: i32 = 100_000;
const DATABASE: &str = "rolemine_bench_role_pages";

/// Creates the database afresh and fills it with one 100k-member role; returns (pool, role).
async fn setup(url: &str) -> (PgPool, Uuid) {
    let mut admin = PgConnection::connect(url).await.unwrap();
    sqlx::query(&format!("DROP DATABASE IF EXISTS {DATABASE}"))
        .execute(&mut admin)
        .await
        .unwrap();
    sqlx::query(&format!("CREATE DATABASE {DATABASE}"))
        .execute(&mut admin)
        .await
        .unwrap();
    let options = rolemine_store::database::with_session_settings(
        PgConnectOptions::from_str(url).unwrap().database(DATABASE),
    );
    let pool = PgPool::connect_with(options).await.unwrap();
    rolemine_store::migrate(&pool).await.unwrap();
    let role = Uuid::new_v4();
    let session = Uuid::new_v4();
    sqlx::raw_sql(&format!(
        "INSERT INTO sources (ext_id, name) SELECT 's' || n, 'Application ' || n FROM generate_series(1, 10) n;
         INSERT INTO entitlements (ext_id, source_id, name)
           SELECT 'e' || n, 1 + n % 10, 'Entitlement ' || md5(n::text) FROM generate_series(1, 300) n;
         INSERT INTO identities (ext_id, name, email, attributes)
           SELECT 'u' || n, initcap(md5(n::text)), 'u' || n || '@example.com',
                  jsonb_build_object('department', 'D' || n % 12)
             FROM generate_series(1, {MEMBERS}) n;
         INSERT INTO source_usage (identity_id, source_id, usage_days)
           SELECT i.id, s.id, (i.id * s.id) % 91 FROM identities i, sources s WHERE s.id <= 3;
         INSERT INTO role_mining_sessions (id, state) VALUES ('{session}', 'POTENTIAL_ROLES_CREATED');
         INSERT INTO potential_roles (id, session_id, generation, ordinal, name, type, identity_count,
                                      entitlement_count, density, freshness, quality)
           VALUES ('{role}', '{session}', 0, 0, 'Potential role 1', 'SPECIALIZED', {MEMBERS}, 300, 80, 90, 85);
         INSERT INTO potential_role_members SELECT '{role}', id, name FROM identities;
         INSERT INTO potential_role_entitlements (potential_role_id, entitlement_id, identity_count,
                                                  popularity, popularity_in_org, common_access)
           SELECT '{role}', id, {MEMBERS} * (id % 100 + 1) / 100, (id % 100 + 1), 50, false FROM entitlements;
         INSERT INTO potential_role_sources SELECT '{role}', id, {MEMBERS} / 2 FROM sources;
         -- Each member holds an entitlement with about its popularity, for the export's
         -- missing_access.csv.
         INSERT INTO identity_access
           SELECT i.id, ARRAY(SELECT e.id FROM entitlements e
                               WHERE (i.id * 7 + e.id * 13) % 100 < e.id % 100 + 1 ORDER BY e.id)
                        || ARRAY[301]
             FROM identities i;
         INSERT INTO entitlements (ext_id, source_id, name) VALUES ('e301', 1, 'Everyone');
         ANALYZE;"
    ))
    .execute(&pool)
    .await
    .unwrap();
    // As the mining job leaves a role it wrote (`store::mining::write_roles`), or autovacuum
    // soon after: pages all-visible, so deep pages are index-only. A VACUUM right after the load
    // can find the rows not yet visible to every snapshot, so it is repeated until it took.
    for _ in 0..20 {
        sqlx::query("VACUUM (ANALYZE) potential_role_members")
            .execute(&pool)
            .await
            .unwrap();
        let visible: i32 = sqlx::query_scalar(
            "SELECT relallvisible FROM pg_class WHERE relname = 'potential_role_members'",
        )
        .fetch_one(&pool)
        .await
        .unwrap();
        if visible > 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    (pool, role)
}

fn listing(
    filter: Option<&str>,
    fields: &[FieldSpec],
    sorters: Option<&str>,
    sorter_specs: &[SorterSpec],
    offset: i64,
) -> Listing {
    Listing {
        filter: filter.map(|f| parse(f).unwrap().check(fields).unwrap()),
        sorts: sorters
            .map(|s| parse_sorters(s, sorter_specs).unwrap())
            .unwrap_or_default(),
        limit: 250,
        offset,
        count: true,
    }
}

/// The pages measured: a name, and the listing of the identities, entitlements or usage page.
fn cases() -> Vec<(&'static str, Listing)> {
    let ids = roles::IDENTITY_FIELDS;
    let id_sorters = roles::IDENTITY_SORTERS;
    vec![
        (
            "identities first page",
            listing(None, ids, None, id_sorters, 0),
        ),
        (
            "identities deep page",
            listing(None, ids, None, id_sorters, 99_000),
        ),
        (
            "identities by name",
            listing(None, ids, Some("name"), id_sorters, 0),
        ),
        (
            "identities by -name deep",
            listing(None, ids, Some("-name"), id_sorters, 50_000),
        ),
        (
            "identities name sw",
            listing(Some("name sw \"Ab\""), ids, Some("name"), id_sorters, 0),
        ),
        (
            "entitlement popularities",
            listing(
                None,
                roles::ENTITLEMENT_FIELDS,
                None,
                roles::POPULARITY_SORTERS,
                0,
            ),
        ),
        (
            "entitlements by application",
            listing(
                Some("applicationName sw \"Application 1\""),
                roles::ENTITLEMENT_FIELDS,
                Some("applicationName,-popularity"),
                roles::POPULARITY_SORTERS,
                0,
            ),
        ),
        (
            "source usage",
            listing(None, &[], None, roles::USAGE_SORTERS, 0),
        ),
        (
            "source usage by email",
            listing(None, &[], Some("email"), roles::USAGE_SORTERS, 0),
        ),
    ]
}

async fn run(pool: &PgPool, role: Uuid, name: &str, listing: &Listing) -> usize {
    if name.starts_with("identities") {
        roles::identities(pool, role, listing)
            .await
            .unwrap()
            .items
            .len()
    } else if name.starts_with("entitlement") {
        let view = EntitlementView::Kept {
            include_common_access: true,
        };
        roles::entitlements(pool, role, view, listing)
            .await
            .unwrap()
            .items
            .len()
    } else {
        roles::source_usage(pool, role, 1, listing)
            .await
            .unwrap()
            .items
            .len()
    }
}

/// Times the export zip of the role (entitlements of at least 70 % popularity, so about 90 of
/// them and 1.3M missing-access rows) and prints this process's peak memory after it.
fn export(runtime: &Runtime, pool: &PgPool, role: Uuid) {
    let filter = rolemine_store::exports::ExportFilter {
        min_entitlement_popularity: 70,
        include_common_access: true,
    };
    for _ in 0..3 {
        let started = Instant::now();
        let file = tempfile::tempfile().unwrap();
        let (file, counts) = runtime
            .block_on(rolemine_store::exports::write_zip_blocking(
                pool,
                role,
                filter,
                std::io::BufWriter::new(file),
            ))
            .unwrap();
        let bytes = file.into_inner().unwrap().metadata().unwrap().len();
        eprintln!(
            "  export of the role: {:.2} s, {} identities, {} entitlements, {} missing-access rows, {:.1} MB zip",
            started.elapsed().as_secs_f64(),
            counts.identities,
            counts.entitlements,
            counts.missing_access,
            bytes as f64 / 1e6
        );
    }
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    if let Some(peak) = status.lines().find(|line| line.starts_with("VmHWM")) {
        eprintln!("  peak memory of this process after the exports: {peak}");
    }
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let index = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[index]
}

fn role_pages(c: &mut Criterion) {
    let Ok(url) = std::env::var("DATABASE_URL") else {
        eprintln!("skipped: set DATABASE_URL (or run scripts/bench-role-pages)");
        return;
    };
    let runtime = Runtime::new().unwrap();
    let (pool, role) = runtime.block_on(setup(&url));
    let cases = cases();
    eprintln!("pages of a {MEMBERS}-member role, 250 rows with count=true, 300 requests each:");
    for (name, listing) in &cases {
        let mut times: Vec<Duration> = (0..300)
            .map(|_| {
                let started = Instant::now();
                let rows = runtime.block_on(run(&pool, role, name, listing));
                assert!(rows > 0, "{name}: empty page");
                started.elapsed()
            })
            .collect();
        times.sort();
        eprintln!(
            "  {name:<30} p50 {:>7.2} ms   p99 {:>7.2} ms",
            percentile(&times, 0.5).as_secs_f64() * 1000.0,
            percentile(&times, 0.99).as_secs_f64() * 1000.0
        );
    }
    export(&runtime, &pool, role);
    let mut group = c.benchmark_group("role_pages");
    group.sample_size(30);
    for (name, listing) in &cases {
        group.bench_function(*name, |b| {
            b.iter(|| runtime.block_on(run(&pool, role, name, listing)))
        });
    }
    group.finish();
}

criterion_group!(benches, role_pages);
criterion_main!(benches);
