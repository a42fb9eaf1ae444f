//! `Matcher`: a filter bound to the shape of the records it runs against, and its
//! evaluation on their JSON.
//!
//! Binding is go-bexpr v0.1.2's validation, done once before any record is read, with its
//! error texts: every selector must resolve in the shape, its operator must suit the
//! selected type, the value must convert to it, and a `matches` value must compile.
//! Evaluation then follows go-bexpr's rules:
//!
//! 1. A selector that passes through a list tests every element and is true when any
//!    element is (`Checks.Status == critical`: some check is critical). Negated operators
//!    negate per element, so `Checks.Status != passing` is "some check is not passing" and
//!    an empty list makes both false.
//! 2. A map key that is absent makes `==`, `in` and `is not empty` false, and `!=`,
//!    `not in`, `is empty`, `matches` and `not matches` true. (Both regex operators being
//!    true is go-bexpr v0.1.2's behaviour, which Consul ships; we keep it so a filter
//!    selects what it selects in Consul.)
//! 3. `in`/`contains` on text is a substring test, on a list membership, on a map a key
//!    test. `matches` is an unanchored regular expression search.
//! 4. A struct field missing from the JSON reads as its Go zero value.

use crate::filter::coercion::{parse_bool, parse_int};
use crate::filter::expression::{Expression, Match, Operator, Selector};
use crate::filter::literal::go_quote;
use crate::filter::shape::{Children, Shape};
use crate::filter::FilterError;
use regex::{Regex, RegexBuilder};
use serde::Serialize;
use serde_json::Value;
use std::borrow::Cow;
use std::collections::BTreeMap;

/// The most memory one compiled `matches` pattern may take; larger ones are refused
/// rather than compiled.
const PATTERN_SIZE_MAX: usize = 1 << 20;

/// A filter ready to run against records of one shape.
#[derive(Clone, Debug)]
pub struct Matcher {
    shape: &'static Shape,
    test: Test,
}

#[derive(Clone, Debug)]
enum Test {
    Or(Vec<Test>),
    And(Vec<Test>),
    Not(Box<Test>),
    Compare(Comparison),
}

#[derive(Clone, Debug)]
struct Comparison {
    path: Vec<String>,
    operator: Operator,
    operand: Operand,
}

/// The value of a comparison, converted to the selected field's type.
#[derive(Clone, Debug)]
enum Operand {
    Nothing,
    Text(String),
    Boolean(bool),
    Integer(i64),
    Pattern(Regex),
}

impl Matcher {
    /// Checks `expression` against `shape` and prepares its values.
    pub fn bind(expression: &Expression, shape: &'static Shape) -> Result<Matcher, FilterError> {
        Ok(Matcher {
            shape,
            test: bind(expression, shape)?,
        })
    }

    /// Whether `record`, the JSON of one record of the bound shape, matches.
    pub fn matches(&self, record: &Value) -> bool {
        self.test.run(record, self.shape)
    }

    /// Whether `record` matches, judged on its JSON serialization. A record that cannot be
    /// serialized (never the case for our wire types) does not match.
    pub fn matches_record<T: Serialize + ?Sized>(&self, record: &T) -> bool {
        serde_json::to_value(record).is_ok_and(|value| self.matches(&value))
    }

    /// Keeps the records that match, in order.
    pub fn retain<T: Serialize>(&self, records: &mut Vec<T>) {
        records.retain(|record| self.matches_record(record));
    }

    /// Keeps the entries whose value matches: Consul filters maps such as
    /// `/v1/agent/services` (ID → service) and `/v1/agent/checks` by value.
    pub fn retain_values<T: Serialize>(&self, records: &mut BTreeMap<String, T>) {
        records.retain(|_, record| self.matches_record(record));
    }
}

fn bind(expression: &Expression, shape: &'static Shape) -> Result<Test, FilterError> {
    let all = |operands: &[Expression]| -> Result<Vec<Test>, FilterError> {
        operands
            .iter()
            .map(|operand| bind(operand, shape))
            .collect()
    };
    Ok(match expression {
        Expression::Or(operands) => Test::Or(all(operands)?),
        Expression::And(operands) => Test::And(all(operands)?),
        Expression::Not(operand) => Test::Not(Box::new(bind(operand, shape)?)),
        Expression::Match(found) => Test::Compare(bind_match(found, shape)?),
    })
}

fn bind_match(found: &Match, root: &'static Shape) -> Result<Comparison, FilterError> {
    let path = &found.selector.0;
    let quoted = |length: usize| go_quote(&Selector(path[..length].to_vec()).dotted());
    let mut children = root.children();
    let mut selected = None;
    for (at, name) in path.iter().enumerate() {
        let shape = match children {
            Children::Fields(fields) => fields
                .iter()
                .find(|field| field.name == name)
                .map(|field| &field.shape),
            Children::Any(value) => Some(value),
            Children::None => None,
        }
        .ok_or_else(|| FilterError::UnknownSelector(quoted(at + 1)))?;
        children = shape.children();
        selected = Some(shape);
    }
    let Some(selected) = selected else {
        return Err(FilterError::UnknownSelector(quoted(0)));
    };
    if !selected.operators().contains(&found.operator) {
        return Err(FilterError::UnsupportedOperator {
            operator: go_quote(found.operator.name()),
            selector: quoted(path.len()),
        });
    }
    let coerced = |error: String| FilterError::Coercion {
        value: go_quote(found.value.as_deref().unwrap_or_default()),
        selector: quoted(path.len()),
        reason: error,
    };
    let mut operand = match (&found.value, selected.operand()) {
        (None, _) => Operand::Nothing,
        (Some(raw), Some(Shape::Boolean)) => Operand::Boolean(parse_bool(raw).map_err(coerced)?),
        (Some(raw), Some(Shape::Integer)) => Operand::Integer(parse_int(raw).map_err(coerced)?),
        (Some(raw), _) => Operand::Text(raw.clone()),
    };
    if matches!(found.operator, Operator::Matches | Operator::NotMatches) {
        let Operand::Text(pattern) = &operand else {
            return Err(FilterError::UnsupportedOperator {
                operator: go_quote(found.operator.name()),
                selector: quoted(path.len()),
            });
        };
        let compiled = RegexBuilder::new(pattern)
            .size_limit(PATTERN_SIZE_MAX)
            .dfa_size_limit(PATTERN_SIZE_MAX)
            .build()
            .map_err(|error| FilterError::Pattern {
                pattern: go_quote(pattern),
                reason: describe(&error, pattern),
            })?;
        operand = Operand::Pattern(compiled);
    }
    Ok(Comparison {
        path: path.clone(),
        operator: found.operator,
        operand,
    })
}

/// A regex error in Go's form, `error parsing regexp: <what>: `<pattern>``. The description
/// is the `regex` crate's, whose syntax is RE2's, as Go's is. (One difference: `\d`, `\w`,
/// `\s` and `\b` also match non-ASCII letters and digits here.)
fn describe(error: &regex::Error, pattern: &str) -> String {
    match error {
        regex::Error::Syntax(text) => {
            let what = text
                .lines()
                .rev()
                .find_map(|line| line.strip_prefix("error: "))
                .unwrap_or("invalid syntax");
            format!("error parsing regexp: {what}: `{pattern}`")
        }
        other => format!("error parsing regexp: {other}"),
    }
}

impl Test {
    fn run(&self, record: &Value, shape: &Shape) -> bool {
        match self {
            Test::Or(operands) => operands.iter().any(|test| test.run(record, shape)),
            Test::And(operands) => operands.iter().all(|test| test.run(record, shape)),
            Test::Not(operand) => !operand.run(record, shape),
            Test::Compare(comparison) => comparison.run(record, shape, 0),
        }
    }
}

static NULL: Value = Value::Null;

impl Comparison {
    /// Follows the path from element `depth` on; `value` has `shape`.
    fn run(&self, value: &Value, shape: &Shape, depth: usize) -> bool {
        let Some(name) = self.path.get(depth) else {
            return self.apply(value, shape);
        };
        match shape {
            Shape::Record(fields) => match fields.iter().find(|field| field.name == name) {
                Some(field) => self.run(value.get(name).unwrap_or(&NULL), &field.shape, depth + 1),
                None => false,
            },
            // Rule 1: the same path element, in every element of the list.
            Shape::List(element) => items(value)
                .iter()
                .any(|item| self.run(item, element, depth)),
            Shape::Map(element) => match value.get(name) {
                Some(found) => self.run(found, element, depth + 1),
                None => self.absent_key(),
            },
            Shape::Text | Shape::Boolean | Shape::Integer => false,
        }
    }

    /// Rule 2.
    fn absent_key(&self) -> bool {
        !matches!(
            self.operator,
            Operator::Equal | Operator::In | Operator::IsNotEmpty
        )
    }

    fn apply(&self, value: &Value, shape: &Shape) -> bool {
        match self.operator {
            Operator::Equal => self.equals(value),
            Operator::NotEqual => !self.equals(value),
            Operator::In => self.contains(value, shape),
            Operator::NotIn => !self.contains(value, shape),
            Operator::IsEmpty => is_empty(value),
            Operator::IsNotEmpty => !is_empty(value),
            Operator::Matches => self.found_by_pattern(value),
            Operator::NotMatches => !self.found_by_pattern(value),
        }
    }

    fn equals(&self, value: &Value) -> bool {
        match &self.operand {
            Operand::Text(wanted) => text(value) == wanted.as_str(),
            Operand::Boolean(wanted) => boolean(value) == *wanted,
            Operand::Integer(wanted) => integer(value) == Some(*wanted),
            Operand::Nothing | Operand::Pattern(_) => false,
        }
    }

    /// Rule 3.
    fn contains(&self, value: &Value, shape: &Shape) -> bool {
        match shape {
            Shape::Text => match &self.operand {
                Operand::Text(needle) => text(value).contains(needle.as_str()),
                _ => false,
            },
            Shape::Map(_) => match &self.operand {
                Operand::Text(key) => value.as_object().is_some_and(|map| map.contains_key(key)),
                _ => false,
            },
            Shape::List(_) => items(value).iter().any(|item| self.equals(item)),
            Shape::Boolean | Shape::Integer | Shape::Record(_) => false,
        }
    }

    fn found_by_pattern(&self, value: &Value) -> bool {
        match &self.operand {
            Operand::Pattern(pattern) => pattern.is_match(&text(value)),
            _ => false,
        }
    }
}

/// Rule 4 for each type: Go's zero value when the JSON has none.
fn text(value: &Value) -> Cow<'_, str> {
    match value {
        Value::String(text) => Cow::Borrowed(text),
        Value::Null => Cow::Borrowed(""),
        Value::Bool(flag) => Cow::Owned(flag.to_string()),
        Value::Number(number) => Cow::Owned(number.to_string()),
        Value::Array(_) | Value::Object(_) => Cow::Borrowed(""),
    }
}

fn boolean(value: &Value) -> bool {
    value.as_bool().unwrap_or(false)
}

fn integer(value: &Value) -> Option<i64> {
    match value {
        Value::Null => Some(0),
        other => other.as_i64(),
    }
}

fn items(value: &Value) -> &[Value] {
    value.as_array().map_or(&[], Vec::as_slice)
}

fn is_empty(value: &Value) -> bool {
    match value {
        Value::Null => true,
        Value::Array(items) => items.is_empty(),
        Value::Object(map) => map.is_empty(),
        Value::String(text) => text.is_empty(),
        Value::Bool(_) | Value::Number(_) => false,
    }
}
