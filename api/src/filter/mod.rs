//! Consul's `?filter=` expressions (go-bexpr), parsed and evaluated server-side.
//!
//! Consul builds every filter with go-bexpr v0.1.2 (`bexpr.CreateFilter(expr, nil, T)`) and
//! so do we, in behaviour: the same grammar, the same checks against the filtered Go type
//! before the query runs, the same evaluation, and the same error texts.
//!
//! ```text
//!  "Service.Tags contains \"v1\" and Checks.Status == passing"
//!      │ Filter::parse        (syntax; pure text)
//!      ▼
//!  Filter ──bind(&records::SERVICE_ENTRY)──▶ Matcher ──matches(&json)──▶ bool
//!                (selectors, operators, value types, regexes)
//! ```
//!
//! A filter is evaluated against the JSON serialization of our wire types, whose field
//! names are Consul's; `records` says which fields each endpoint's records expose and of
//! what type, since JSON alone cannot tell a struct from a map.
//!
//! Consul answers an expression that fails to parse or to bind with HTTP 500 and the text
//! `Failed to create boolean expression evaluator: <error>` (the error comes from its RPC
//! layer, which has no way to mark it a client error; hashicorp/consul#7338).
//!
//! Limits (Consul has none; a filter arrives in a URL, so these are generous): at most
//! `MAX_LENGTH` bytes and `MAX_DEPTH` levels of parentheses and `not`. `and`/`or` chains
//! are not nesting and may be as long as the text allows.
//!
//! Layout:
//! - `expression`: `Expression`, the parsed tree, and its printed form.
//! - `parser`: the grammar, rule for rule, and pigeon-style syntax errors.
//! - `literal`: Go string literals (`strconv.Unquote`, `%q`).
//! - `shape`: `Shape`, the type of a filtered record, and what each type allows.
//! - `records`: the shapes of Consul's filtered records (`NODE`, `SERVICE_ENTRY`, ...).
//! - `coercion`: Go's `ParseBool`/`ParseInt` for values compared with bools and numbers.
//! - `matcher`: `Matcher`, binding and evaluation, and the `retain` helpers.

pub mod coercion;
pub mod expression;
pub mod literal;
pub mod matcher;
pub mod parser;
pub mod records;
pub mod shape;

pub use expression::{Expression, Match, Operator, Selector};
pub use matcher::Matcher;
pub use shape::{Field, Shape};

use thiserror::Error;

/// The longest expression accepted, in bytes.
pub const MAX_LENGTH: usize = 8 * 1024;

/// The deepest nesting of parentheses and `not` accepted.
pub const MAX_DEPTH: usize = 32;

/// Why an expression was refused. Nothing was read or changed; the same expression fails
/// again, so retrying does not help. The texts are go-bexpr's (the limits are ours).
#[derive(Clone, Debug, PartialEq, Eq, Error)]
pub enum FilterError {
    /// Longer than `MAX_LENGTH`.
    #[error("filter expression is {length} bytes long; at most {MAX_LENGTH} are accepted")]
    TooLong { length: usize },
    /// Parentheses or `not` nested deeper than `MAX_DEPTH`.
    #[error("filter expression nests deeper than {MAX_DEPTH} levels")]
    TooDeep,
    /// Not in the grammar: pigeon's messages, one per line.
    #[error("{0}")]
    Syntax(String),
    /// A selector naming no field of the record (the path up to the unknown element).
    #[error("Selector {0} is not valid")]
    UnknownSelector(String),
    /// An operator the selected field's type does not support.
    #[error("Invalid match operator {operator} for selector {selector}")]
    UnsupportedOperator { operator: String, selector: String },
    /// A value that does not convert to the selected field's type.
    #[error("Failed to coerce value {value} for selector {selector}: {reason}")]
    Coercion {
        value: String,
        selector: String,
        reason: String,
    },
    /// A `matches` value that is not a valid regular expression.
    #[error("Failed to compile regular expression {pattern}: {reason}")]
    Pattern { pattern: String, reason: String },
}

impl FilterError {
    /// The text Consul answers with.
    pub fn consul_text(&self) -> String {
        format!("Failed to create boolean expression evaluator: {self}")
    }
}

/// A parsed `?filter=` expression, not yet checked against any record type.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Filter {
    source: String,
    expression: Expression,
}

impl Filter {
    /// Parses `source`; only its syntax is checked.
    pub fn parse(source: &str) -> Result<Filter, FilterError> {
        Ok(Filter {
            source: source.to_owned(),
            expression: parser::parse(source)?,
        })
    }

    /// The expression as the client wrote it.
    pub fn source(&self) -> &str {
        &self.source
    }

    pub fn expression(&self) -> &Expression {
        &self.expression
    }

    /// Checks the filter against the records it will run on, as Consul does before its
    /// query: unknown fields, unsupported operators, unconvertible values and bad regular
    /// expressions are refused here.
    pub fn bind(&self, shape: &'static Shape) -> Result<Matcher, FilterError> {
        Matcher::bind(&self.expression, shape)
    }
}
