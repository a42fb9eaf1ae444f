//! `Expression`: a parsed filter, before it is bound to the shape of the records it filters.
//!
//! go-bexpr's grammar nests `a or b or c` to the right, two operands at a time; `Or` and
//! `And` here hold the whole chain instead. Evaluation is left to right with short-circuit
//! either way, so the answers are the same, and a chain of a thousand `or`s costs a loop
//! rather than a thousand stack frames.

use std::fmt;

/// A boolean expression over one record.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Expression {
    /// True when any operand is (two or more operands).
    Or(Vec<Expression>),
    /// True when every operand is (two or more operands).
    And(Vec<Expression>),
    /// Never directly around another `Not`: the parser drops `not not`, as go-bexpr does.
    Not(Box<Expression>),
    Match(Match),
}

/// One comparison: a selector, an operator and, except for the emptiness tests, a value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Match {
    pub selector: Selector,
    pub operator: Operator,
    /// The value as written, unquoted: go-bexpr keeps every value as text and converts it
    /// to the selected field's type only once it knows that type.
    pub value: Option<String>,
}

/// A path into a record: field names, map keys (`Meta.k` or `Meta["k"]`), never indexes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Selector(pub Vec<String>);

impl Selector {
    /// The path as go-bexpr prints it in errors: elements joined with dots, whatever they
    /// contain.
    pub fn dotted(&self) -> String {
        self.0.join(".")
    }
}

impl fmt::Display for Selector {
    /// Dotted, with elements that are not identifiers in `["..."]`, so the form reads back.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (at, element) in self.0.iter().enumerate() {
            if is_identifier(element) {
                if at > 0 {
                    f.write_str(".")?;
                }
                f.write_str(element)?;
            } else {
                write!(f, "[{element:?}]")?;
            }
        }
        Ok(())
    }
}

fn is_identifier(text: &str) -> bool {
    let mut chars = text.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic())
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// The match operators. `contains` is `In` and `not contains` is `NotIn` with the operands
/// written the other way round, exactly as go-bexpr parses them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Operator {
    Equal,
    NotEqual,
    In,
    NotIn,
    IsEmpty,
    IsNotEmpty,
    Matches,
    NotMatches,
}

impl Operator {
    /// go-bexpr's name for the operator, which its errors quote.
    pub fn name(self) -> &'static str {
        match self {
            Operator::Equal => "Equal",
            Operator::NotEqual => "Not Equal",
            Operator::In => "In",
            Operator::NotIn => "Not In",
            Operator::IsEmpty => "Is Empty",
            Operator::IsNotEmpty => "Is Not Empty",
            Operator::Matches => "Matches",
            Operator::NotMatches => "Not Matches",
        }
    }

    fn symbol(self) -> &'static str {
        match self {
            Operator::Equal => "==",
            Operator::NotEqual => "!=",
            Operator::In => "in",
            Operator::NotIn => "not-in",
            Operator::IsEmpty => "is-empty",
            Operator::IsNotEmpty => "is-not-empty",
            Operator::Matches => "matches",
            Operator::NotMatches => "not-matches",
        }
    }
}

impl fmt::Display for Expression {
    /// A prefix form, `(and (== Service.Service "web") (not (in Service.Tags "v1")))`, that
    /// shows precedence and grouping unambiguously (golden files use it).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Expression::Or(operands) => list(f, "or", operands),
            Expression::And(operands) => list(f, "and", operands),
            Expression::Not(operand) => write!(f, "(not {operand})"),
            Expression::Match(m) => {
                write!(f, "({} {}", m.operator.symbol(), m.selector)?;
                if let Some(value) = &m.value {
                    write!(f, " {value:?}")?;
                }
                f.write_str(")")
            }
        }
    }
}

fn list(f: &mut fmt::Formatter<'_>, name: &str, operands: &[Expression]) -> fmt::Result {
    write!(f, "({name}")?;
    for operand in operands {
        write!(f, " {operand}")?;
    }
    f.write_str(")")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn selectors_print_dotted_or_bracketed() {
        let selector = Selector(vec!["Node".into(), "Meta".into(), "a.b c".into()]);
        assert_eq!(selector.to_string(), r#"Node.Meta["a.b c"]"#);
        assert_eq!(selector.dotted(), "Node.Meta.a.b c");
    }
}
