//! Expressions → the tree they parse to, or go-bexpr's error (`golden/parse.txt`).

use crate::golden::{check, indent};
use legate_api::filter::Filter;
use std::fmt::Write;

/// Groups of expressions, each a heading and its cases.
fn cases() -> Vec<(&'static str, Vec<String>)> {
    let owned = |list: &[&str]| list.iter().map(|text| text.to_string()).collect();
    vec![
        (
            "every operator",
            owned(&[
                "Node == n1",
                "Node != n1",
                "v1 in Service.Tags",
                "v1 not in Service.Tags",
                "Service.Tags contains v1",
                "Service.Tags not contains v1",
                "Node matches `^web-[0-9]+$`",
                "Node not matches \"^db\"",
                "Checks is empty",
                "Checks is not empty",
                "Node==n1",
                "Node!=n1",
            ]),
        ),
        (
            "precedence: not, then and, then or",
            owned(&[
                "A == 1 or B == 2 and C == 3",
                "A == 1 and B == 2 or C == 3",
                "not A == 1 and B == 2",
                "not A == 1 or not B == 2",
                "A == 1 or B == 2 or C == 3 or D == 4",
                "A == 1 and B == 2 and C == 3",
            ]),
        ),
        (
            "parentheses and negation",
            owned(&[
                "(A == 1 or B == 2) and C == 3",
                "not (A == 1 or B == 2)",
                "not not A == 1",
                "not not not A == 1",
                "( A == 1 )",
                " \t\n( ( A == 1 ) )\n",
                "((A == 1))",
                "(A == 1) and (B == 2)",
                "not (A == 1) or B == 2",
            ]),
        ),
        (
            "values: bare words, selectors, numbers, strings",
            owned(&[
                "Status == passing",
                "Port == 8080",
                "Port == -1",
                "Port == 1.5",
                "Port == 0",
                "Connect.Native == true",
                "Node == Foo.Bar",
                "Node == \"with spaces\"",
                "Node == ``",
                "Node == \"\"",
                "and == or",
                "not == not",
            ]),
        ),
        (
            "strings: raw, escapes",
            owned(&[
                "Node == `raw \\n \"quotes\"`",
                "Node == \"tab\\tnewline\\n\"",
                "Node == \"\\x41\\101\\u00e9\\U0001F600\"",
                "Node == \"back\\\\slash\"",
                "Node == \"bad \\q escape\"",
                "Node == \"a\\\"b\"",
                "Node == \"line\nbreak\"",
            ]),
        ),
        (
            "selectors: maps, index expressions, case",
            owned(&[
                "Meta.env == prod",
                "Meta[\"env\"] == prod",
                "Meta[ `env` ] == prod",
                "TaggedAddresses[\"lan.v4\"].Address == \"10.0.0.1\"",
                "Node.Meta[\"a b\"].c == x",
                "service.tags contains v1",
                "Service.Tags_2 contains v1",
            ]),
        ),
        (
            "syntax errors",
            owned(&[
                "",
                "   ",
                "foo",
                "Service ==",
                "Service.",
                "Node == 10.10.10.10",
                "Port == 1e5",
                "Port == 007",
                "Meta[",
                "Meta[1] == x",
                "Meta[\"k\" == x",
                "Meta[\"k",
                "Node == \"abc",
                "Node == `abc",
                "(A == 1",
                "A == 1)",
                "not(A == 1)",
                "A == 1 and",
                "A == 1 AND B == 2",
                "\"a\" in \"b\"",
                "Service contains",
                "Service is",
                "Node == a-b",
                "Node ==\n  a b",
            ]),
        ),
        (
            "limits",
            vec![
                "x".repeat(legate_api::filter::MAX_LENGTH + 1),
                format!("{}A == 1{}", "(".repeat(33), ")".repeat(33)),
                format!("{}A == 1", "not ".repeat(33)),
                format!("{}A == 1", "(".repeat(40)),
                format!("{}A == 1{}", "(".repeat(31), ")".repeat(31)),
            ],
        ),
    ]
}

#[test]
fn expressions_parse_as_the_golden_file_says() {
    let mut rendered = String::new();
    for (heading, expressions) in cases() {
        writeln!(rendered, "### {heading}").unwrap();
        for expression in expressions {
            let label = if expression.len() > 120 {
                format!("<{} bytes: {:?}...>", expression.len(), &expression[..40])
            } else {
                format!("{expression:?}")
            };
            let outcome = match Filter::parse(&expression) {
                Ok(filter) => {
                    let printed = filter.expression().to_string();
                    if printed.len() > 160 {
                        format!("parsed ({} bytes printed)", printed.len())
                    } else {
                        printed
                    }
                }
                Err(error) => format!("error: {}", indent(&error.to_string())),
            };
            writeln!(rendered, "{label}\n  => {outcome}").unwrap();
        }
        rendered.push('\n');
    }
    check("parse.txt", &rendered);
}

#[test]
fn long_chains_are_loops_not_recursion() {
    // 600 terms, near the length limit, with no nesting to limit.
    let terms: Vec<String> = (0..600).map(|n| format!("Port=={n}")).collect();
    let chain = terms.join(" or ");
    assert!(chain.len() <= legate_api::filter::MAX_LENGTH);
    let parsed = Filter::parse(&chain).unwrap();
    let legate_api::filter::Expression::Or(operands) = parsed.expression() else {
        panic!("an or-chain");
    };
    assert_eq!(operands.len(), 600);
    let matcher = parsed
        .bind(&legate_api::filter::records::NODE_SERVICE)
        .unwrap();
    assert!(matcher.matches(&serde_json::json!({"Port": 599})));
    assert!(!matcher.matches(&serde_json::json!({"Port": 600})));
}

#[test]
fn unbalanced_parentheses_fail_fast() {
    // Without memoization pigeon's backtracking doubles per level; this must be instant.
    let started = std::time::Instant::now();
    let text = format!("{}A == 1", "(".repeat(legate_api::filter::MAX_DEPTH - 1));
    assert!(Filter::parse(&text).is_err());
    assert!(started.elapsed() < std::time::Duration::from_secs(2));
}
