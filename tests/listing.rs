//! Listings: every filter operator on every kind of field becomes SQL with bound values that
//! selects what the filter says (`rolemine_store::listing`).

use rolemine_filter::{parse, parse_sorters, FieldSpec, Kind, Op, SorterSpec};
use rolemine_store::listing::{fetch, Listing};
use sqlx::PgPool;

const ALL: &[Op] = &Op::ALL;
const FIELDS: &[FieldSpec] = &[
    FieldSpec {
        name: "name",
        kind: Kind::Text,
        ops: ALL,
        target: "name",
    },
    FieldSpec {
        name: "flag",
        kind: Kind::Bool,
        ops: ALL,
        target: "flag",
    },
    FieldSpec {
        name: "score",
        kind: Kind::Number,
        ops: ALL,
        target: "score",
    },
    FieldSpec {
        name: "at",
        kind: Kind::DateTime,
        ops: ALL,
        target: "at",
    },
];
const SORTERS: &[SorterSpec] = &[SorterSpec {
    name: "score",
    target: "score",
}];

async fn ids(pool: &PgPool, filter: &str) -> Vec<i32> {
    let listing = Listing {
        filter: Some(parse(filter).unwrap().check(FIELDS).unwrap()),
        sorts: parse_sorters("score", SORTERS).unwrap(),
        limit: 100,
        offset: 0,
        count: true,
    };
    let page = fetch::<(i32,)>(
        pool,
        |query| {
            query.push("SELECT id FROM items WHERE true");
        },
        FIELDS,
        &listing,
        "id",
        "id",
    )
    .await
    .unwrap();
    assert_eq!(page.total, Some(page.items.len() as i64), "{filter}");
    page.items.into_iter().map(|(id,)| id).collect()
}

#[sqlx::test(migrator = "rolemine_store::MIGRATOR")]
async fn every_operator_and_kind_becomes_bound_sql(pool: PgPool) {
    sqlx::raw_sql(
        "CREATE TABLE items (id int, name text, flag boolean, score smallint, at timestamptz);
         INSERT INTO items VALUES
           (1, 'Alpha', true, 10, '2024-01-01T00:00:00Z'),
           (2, 'alphabet', false, 20, '2024-06-01T00:00:00Z'),
           (3, 'Beta''s \"quote\"', NULL, 30, NULL),
           (4, NULL, true, 40, '2025-01-01T00:00:00Z'),
           (5, '50% off_', false, 50, '2023-01-01T00:00:00Z');",
    )
    .execute(&pool)
    .await
    .unwrap();
    let cases: &[(&str, &[i32])] = &[
        (r#"name eq "Alpha""#, &[1]),
        (r#"name ne "Alpha""#, &[2, 3, 4, 5]),
        (r#"name sw "alp""#, &[1, 2]),
        (r#"name co "ET""#, &[2, 3]),
        (r#"name co "%""#, &[5]),
        (r#"name sw "50% off_""#, &[5]),
        (r#"name co "_""#, &[5]),
        (r#"name eq "Beta's \"quote\"""#, &[3]),
        (r#"name in ("Alpha", "alphabet", "zzz")"#, &[1, 2]),
        ("name pr", &[1, 2, 3, 5]),
        ("name isnull", &[4]),
        ("flag eq true", &[1, 4]),
        (r#"flag eq "false""#, &[2, 5]),
        ("flag in (true)", &[1, 4]),
        ("score ge 30", &[3, 4, 5]),
        ("score gt 30", &[4, 5]),
        ("score le 20", &[1, 2]),
        ("score lt 20", &[1]),
        (r#"score in (10, "50")"#, &[1, 5]),
        ("at gt 2024-01-01T00:00:00Z", &[2, 4]),
        ("at le 2024-01-01", &[1, 5]),
        ("at in (2024-06-01T02:00:00+02:00)", &[2]),
        ("at isnull", &[3]),
        ("not flag eq true", &[2, 3, 5]),
        ("not (name sw \"a\" or score ge 40)", &[3]),
        (
            "flag eq true and score gt 10 or name eq \"alphabet\"",
            &[2, 4],
        ),
    ];
    for (filter, expected) in cases {
        assert_eq!(ids(&pool, filter).await, *expected, "{filter}");
    }
}
