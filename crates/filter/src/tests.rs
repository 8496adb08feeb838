//! Table-driven tests of the filter and sorter languages, and a no-panic property.

use proptest::prelude::*;

use crate::{parse, parse_sorters, FieldSpec, Filter, Kind, Op, SorterSpec, Value};

fn cmp(field: &str, op: Op, value: Value) -> Filter {
    Filter::Compare {
        field: field.to_owned(),
        op,
        value,
    }
}

fn s(text: &str) -> Value {
    Value::String(text.to_owned())
}

#[test]
fn every_operator_parses() {
    let cases: Vec<(&str, Filter)> = vec![
        ("name eq \"a\"", cmp("name", Op::Eq, s("a"))),
        ("name ne \"a\"", cmp("name", Op::Ne, s("a"))),
        ("name sw \"RM\"", cmp("name", Op::Sw, s("RM"))),
        ("name co \"x\"", cmp("name", Op::Co, s("x"))),
        ("quality ge 50", cmp("quality", Op::Ge, Value::Number(50.0))),
        (
            "quality gt -1.5",
            cmp("quality", Op::Gt, Value::Number(-1.5)),
        ),
        (
            "quality le 100",
            cmp("quality", Op::Le, Value::Number(100.0)),
        ),
        ("quality lt 7", cmp("quality", Op::Lt, Value::Number(7.0))),
        ("saved eq true", cmp("saved", Op::Eq, Value::Bool(true))),
        ("saved eq FALSE", cmp("saved", Op::Eq, Value::Bool(false))),
        (
            "id in (\"a\", \"b\",\"c\")",
            Filter::In {
                field: "id".into(),
                values: vec![s("a"), s("b"), s("c")],
            },
        ),
        (
            "description pr",
            Filter::Present {
                field: "description".into(),
            },
        ),
        (
            "description isnull",
            Filter::IsNull {
                field: "description".into(),
            },
        ),
        ("NAME EQ \"a\"", cmp("NAME", Op::Eq, s("a"))),
        (
            "identityAttribute.department eq \"x\"",
            cmp("identityAttribute.department", Op::Eq, s("x")),
        ),
    ];
    for (text, expected) in cases {
        assert_eq!(parse(text).unwrap(), expected, "{text}");
    }
}

#[test]
fn dates_are_unquoted_iso_8601() {
    let Filter::Compare {
        value: Value::DateTime(time),
        ..
    } = parse("startDate gt 2024-01-02T03:04:05Z").unwrap()
    else {
        panic!("not a date-time");
    };
    assert_eq!(time.to_rfc3339(), "2024-01-02T03:04:05+00:00");
    let Filter::Compare {
        value: Value::DateTime(day),
        ..
    } = parse("endDate le 2024-02-29").unwrap()
    else {
        panic!("not a date");
    };
    assert_eq!(day.to_rfc3339(), "2024-02-29T00:00:00+00:00");
    assert!(matches!(
        parse("endDate le 2024-01-02T03:04:05.123+02:00").unwrap(),
        Filter::Compare {
            value: Value::DateTime(_),
            ..
        }
    ));
}

#[test]
fn precedence_is_not_then_and_then_or() {
    let a = || cmp("a", Op::Eq, Value::Number(1.0));
    let b = || cmp("b", Op::Eq, Value::Number(2.0));
    let c = || cmp("c", Op::Eq, Value::Number(3.0));
    assert_eq!(
        parse("a eq 1 or b eq 2 and c eq 3").unwrap(),
        Filter::Or(vec![a(), Filter::And(vec![b(), c()])])
    );
    assert_eq!(
        parse("a eq 1 and b eq 2 or c eq 3").unwrap(),
        Filter::Or(vec![Filter::And(vec![a(), b()]), c()])
    );
    assert_eq!(
        parse("not a eq 1 and b eq 2").unwrap(),
        Filter::And(vec![Filter::Not(Box::new(a())), b()])
    );
    assert_eq!(
        parse("not (a eq 1 and b eq 2)").unwrap(),
        Filter::Not(Box::new(Filter::And(vec![a(), b()])))
    );
    assert_eq!(
        parse("(a eq 1 or b eq 2) and c eq 3").unwrap(),
        Filter::And(vec![Filter::Or(vec![a(), b()]), c()])
    );
    assert_eq!(
        parse("not not a eq 1").unwrap(),
        Filter::Not(Box::new(Filter::Not(Box::new(a()))))
    );
    assert_eq!(
        parse("  ( ( a eq 1 ) )  ").unwrap(),
        a(),
        "spaces and redundant parentheses"
    );
    // Keywords need a word boundary: these are field names.
    assert_eq!(
        parse("notes eq 1").unwrap(),
        cmp("notes", Op::Eq, Value::Number(1.0))
    );
    assert_eq!(
        parse("order eq 1").unwrap(),
        cmp("order", Op::Eq, Value::Number(1.0))
    );
}

#[test]
fn strings_take_escaped_quotes_and_backslashes() {
    let cases = [
        (r#"name eq "say \"hi\"""#, "say \"hi\""),
        (r#"name eq "back\\slash""#, "back\\slash"),
        (r#"name eq """#, ""),
        (r#"name eq "and or not ( ) , eq""#, "and or not ( ) , eq"),
        (r#"name eq "ünïcødé ✓""#, "ünïcødé ✓"),
    ];
    for (text, expected) in cases {
        assert_eq!(
            parse(text).unwrap(),
            cmp("name", Op::Eq, s(expected)),
            "{text}"
        );
    }
}

#[test]
fn malformed_filters_are_pointed_at() {
    let cases = [
        ("", "the filter is empty"),
        ("   ", "the filter is empty"),
        ("name", "expected an operator"),
        ("name eq", "expected a value"),
        ("name eq ", "found the end of the filter"),
        ("name equals \"x\"", "expected an operator (eq, ne, sw, co, in, ge, gt, le, lt, pr or isnull) after the field at position 5, found `equals"),
        ("name = \"x\"", "expected an operator"),
        ("name eq \"x", "the closing `\"` of the string"),
        ("name eq x\"", "expected a value"),
        ("name eq \"a\\q\"", "the only escapes in a string"),
        ("name eq 'x'", "expected a value"),
        ("name eq \"x\" and", "expected a field name, `not` or `(`"),
        ("name eq \"x\" or", "at position 14"),
        ("and name eq \"x\"", "expected a field name"),
        ("name eq \"x\" name eq \"y\"", "expected `and`, `or`, `)` or the end of the filter at position 12, found `name"),
        ("(name eq \"x\"", "`)` closing the parenthesis"),
        ("name eq \"x\")", "expected `and`, `or`, `)` or the end"),
        ("()", "expected a field name"),
        ("not", "expected a field name"),
        ("not ()", "expected a field name"),
        ("name in \"x\"", "`(` starting the list of `in`"),
        ("name in ()", "expected a value"),
        ("name in (\"a\" \"b\")", "`,` or `)` in the list of `in`"),
        ("name in (\"a\",)", "expected a value"),
        ("name in (\"a\"", "`,` or `)` in the list of `in`"),
        ("name eq \"x\" and and", "expected a field name"),
        ("name eq \"x\" xor name eq \"y\"", "found `xor"),
        ("1name eq \"x\"", "expected a field name"),
        ("name eq 2024-13-45", "expected a value"),
        ("name eq 12abc", "expected a value"),
        ("name eq tru", "expected a value"),
        ("name pr \"x\"", "expected `and`, `or`, `)` or the end"),
        ("\"name\" eq \"x\"", "expected a field name"),
        ("name eq \"x\" and (", "expected a field name"),
        ("name eq @", "expected a value"),
    ];
    assert!(cases.len() >= 30);
    for (text, message) in cases {
        let err = parse(text).expect_err(text);
        assert_eq!(err.parameter, "filters");
        assert!(
            err.message.contains(message),
            "{text:?}: {:?} does not contain {message:?}",
            err.message
        );
    }
}

const SESSION_FIELDS: &[FieldSpec] = &[
    FieldSpec {
        name: "saved",
        kind: Kind::Bool,
        ops: &[Op::Eq],
        target: "saved",
    },
    FieldSpec {
        name: "name",
        kind: Kind::Text,
        ops: &[Op::Eq, Op::Sw],
        target: "name",
    },
    FieldSpec {
        name: "quality",
        kind: Kind::Number,
        ops: &[Op::Ge, Op::Le, Op::In],
        target: "quality",
    },
    FieldSpec {
        name: "created",
        kind: Kind::DateTime,
        ops: &[Op::Gt, Op::Pr],
        target: "created_at",
    },
];

#[test]
fn checking_coerces_values_and_names_what_is_not_allowed() {
    let checked = parse("saved eq \"true\" and name sw \"RM Session\"")
        .unwrap()
        .check(SESSION_FIELDS)
        .unwrap();
    assert_eq!(
        checked,
        Filter::And(vec![
            cmp("saved", Op::Eq, Value::Bool(true)),
            cmp("name", Op::Sw, s("RM Session"))
        ])
    );
    assert_eq!(
        parse("quality in (\"10\", 20)")
            .unwrap()
            .check(SESSION_FIELDS)
            .unwrap(),
        Filter::In {
            field: "quality".into(),
            values: vec![Value::Number(10.0), Value::Number(20.0)]
        }
    );
    assert!(matches!(
        parse("created gt \"2024-01-01\"")
            .unwrap()
            .check(SESSION_FIELDS)
            .unwrap(),
        Filter::Compare {
            value: Value::DateTime(_),
            ..
        }
    ));
    let rejected = [
        ("type eq \"x\"", "`type` cannot be filtered on here; filterable fields: saved (eq); name (eq, sw); quality (ge, le, in); created (gt, pr)"),
        ("name co \"x\"", "`name` does not support `co`; it supports eq, sw"),
        ("saved eq \"maybe\"", "`saved` takes true or false, not \"maybe\""),
        ("saved eq 1", "`saved` takes true or false, not 1"),
        ("name eq 5", "`name` takes a quoted string, not 5"),
        ("quality ge \"high\"", "`quality` takes a number, not \"high\""),
        ("created gt \"yesterday\"", "`created` takes an ISO 8601 date or date-time"),
        ("not (saved eq true or Name eq \"x\")", "`Name` cannot be filtered on"),
        ("created isnull", "`created` does not support `isnull`; it supports gt, pr"),
    ];
    for (text, message) in rejected {
        let err = parse(text).unwrap().check(SESSION_FIELDS).expect_err(text);
        assert!(err.to_string().starts_with("filters: "), "{err}");
        assert!(
            err.message.contains(message),
            "{text:?}: {:?} vs {message:?}",
            err.message
        );
    }
}

#[test]
fn sorters_parse_and_name_what_is_not_allowed() {
    let allowed = [
        SorterSpec {
            name: "createdBy",
            target: "created_by_name",
        },
        SorterSpec {
            name: "createdDate",
            target: "created_at",
        },
    ];
    let sorts = parse_sorters("createdBy, -createdDate", &allowed).unwrap();
    assert_eq!(sorts.len(), 2);
    assert_eq!(
        (sorts[0].target, sorts[0].descending),
        ("created_by_name", false)
    );
    assert_eq!((sorts[1].target, sorts[1].descending), ("created_at", true));
    for (text, message) in [
        (
            "name",
            "sorters: `name` cannot be sorted on here; sortable fields: createdBy, createdDate",
        ),
        ("createdBy,,createdDate", "sorters: sort field 2 is empty"),
        ("-", "sorters: sort field 1 is empty"),
        (
            "createdBy,-createdBy",
            "sorters: `createdBy` is listed twice",
        ),
    ] {
        let err = parse_sorters(text, &allowed).expect_err(text);
        assert!(err.to_string().starts_with(message), "{err}");
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    /// Any input at all: a tree or an error, never a panic.
    #[test]
    fn arbitrary_text_never_panics(text in ".{0,80}") {
        let _ = parse(&text).map(|f| f.check(SESSION_FIELDS));
    }

    /// Inputs built from the language's own pieces reach deep into the grammar.
    #[test]
    fn token_soup_never_panics(tokens in proptest::collection::vec(
        prop_oneof![
            Just("name"), Just("saved"), Just("eq"), Just("sw"), Just("in"), Just("pr"),
            Just("and"), Just("or"), Just("not"), Just("("), Just(")"), Just(","),
            Just("\"x\""), Just("\"a\\\"b\""), Just("true"), Just("12"), Just("2024-01-01"),
            Just("\""), Just("\\"), Just(" "),
        ],
        0..24,
    )) {
        let text = tokens.join(" ");
        let _ = parse(&text).map(|f| f.check(SESSION_FIELDS));
        let _ = parse_sorters(&text, &[SorterSpec { name: "name", target: "name" }]);
    }
}

#[test]
fn deep_long_and_wide_inputs_are_refused_with_their_limit() {
    let deep = format!("{}name eq \"a\"{}", "(".repeat(2_000), ")".repeat(2_000));
    let nots = format!("{}name eq \"a\"", "not ".repeat(5_000));
    let wide = vec!["name eq \"a\""; 300].join(" or ");
    let long = format!("name eq \"{}\"", "x".repeat(20_000));
    let listed = format!("name in ({})", vec!["\"a\""; 1_200].join(","));
    for (text, message) in [
        (
            deep.as_str(),
            "at most 32 levels of parentheses and negations",
        ),
        (nots.as_str(), "at most 10000 are accepted"),
        (wide.as_str(), "has 300 comparisons; at most 256"),
        (long.as_str(), "bytes long; at most 10000"),
        (listed.as_str(), "hold 1200 values; at most 1000"),
        ("name eq \"a\0\"", "NUL character"),
    ] {
        let err = parse(text).unwrap_err();
        assert!(err.message.contains(message), "{}", err.message);
    }
    let nots = format!("{}name eq \"a\"", "not ".repeat(40));
    assert!(parse(&nots)
        .unwrap_err()
        .message
        .contains("at most 32 levels"));
    // At the limit, still accepted.
    let ok = format!("{}name eq \"a\"{}", "(".repeat(31), ")".repeat(31));
    assert!(parse(&ok).is_ok());
    let ok = format!("{}name eq \"a\"", "not ".repeat(32));
    assert!(parse(&ok).is_ok());
}

#[test]
fn deep_long_and_wide_criteria_are_refused_with_their_limit() {
    use crate::parse_search;
    let deep = format!("{}a:1{}", "(".repeat(2_000), ")".repeat(2_000));
    let nots = format!("{}a:1", "NOT ".repeat(100));
    let wide = vec!["a:1"; 300].join(" AND ");
    let long = format!("a:{}", "x".repeat(500_000));
    for (text, message) in [
        (deep.as_str(), "at most 32 levels"),
        (nots.as_str(), "at most 32 levels"),
        (wide.as_str(), "has 300 comparisons; at most 256"),
        (long.as_str(), "bytes long; at most 10000"),
    ] {
        let err = parse_search(text).unwrap_err();
        assert_eq!(err.parameter, "scope.criteria");
        assert!(err.message.contains(message), "{}", err.message);
    }
}

/// Deep or long inputs from the languages' own pieces: an answer for each, quickly.
fn nesting_soup() -> impl Strategy<Value = String> {
    proptest::collection::vec(
        prop_oneof![
            4 => Just("("), 2 => Just(")"), 3 => Just("not "), 3 => Just("NOT "),
            2 => Just("name eq \"x\" "), 2 => Just("a:1 "), 1 => Just("and "), 1 => Just("OR "),
            1 => Just("\""), 1 => Just("in (1,2"), 1 => Just(","),
        ],
        0..3_000,
    )
    .prop_map(|tokens| tokens.concat())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(10_000))]

    /// 10,000 deep, long and unbalanced inputs to both parsers: no panic, no stack overflow
    /// (the test thread has the default 2 MiB stack, as tokio's workers do), and each one
    /// answered within a bounded time.
    #[test]
    fn deep_and_long_inputs_never_overflow(text in nesting_soup()) {
        let started = std::time::Instant::now();
        let _ = parse(&text).map(|f| f.check(SESSION_FIELDS));
        let _ = crate::parse_search(&text);
        // Generous: a debug build on a busy 2-core machine; real cost is well under 1 ms.
        prop_assert!(started.elapsed() < std::time::Duration::from_secs(2));
    }
}
