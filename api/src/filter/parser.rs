//! The parser: go-bexpr's PEG grammar, rule for rule, with its error reporting.
//!
//! Consul builds filters with go-bexpr v0.1.2 (its `go.mod` pins that version, and its
//! endpoints call that version's `CreateFilter(expr, nil, T)`), whose parser pigeon
//! generated from `grammar.peg`. Each function below is one rule of that grammar,
//! tried in the same order with the same backtracking, so the same texts parse to the same
//! trees. Errors are reported as pigeon reports them, because Consul hands them to the
//! client verbatim:
//!
//! 1. A rule that fails outright leaves no message; pigeon remembers the farthest position
//!    where any literal or character class failed to match, and what was expected there.
//! 2. A few rules end in a predicate that records an explicit error ("Invalid number
//!    literal", "Unmatched parentheses", ...) as `line:col (offset): rule "name": text`,
//!    `col` counting characters and `offset` bytes. So does a string literal that Go's
//!    `strconv.Unquote` rejects ("invalid syntax", at the literal's start).
//! 3. If any error was recorded, the parse fails with all of them, one per line, duplicates
//!    dropped, even if the text otherwise parsed. Otherwise a failed parse reports
//!    `line:col (offset): no match found, expected: a, b or c` for the farthest position.
//! 4. Inside a `!` lookahead the bookkeeping of rule 1 is inverted: a match there is
//!    recorded as `!want`, and `!.` is listed as `EOF`.
//!
//! Two departures, neither visible in results: `a or b or c` is parsed by a loop rather
//! than by right recursion (the grammar's `OrExpression <- AndExpression _ "or" _
//! OrExpression / AndExpression` accepts exactly `AndExpression (_ "or" _ AndExpression)*`),
//! and `OrExpression` is memoized by position, so an unbalanced `(((((` costs linear time
//! instead of pigeon's exponential backtracking. Memoizing cannot change the errors: a rule
//! re-run at the same position records the same expectations and errors again, which are
//! sets. Nesting (parentheses and `not`) is limited to `MAX_DEPTH` so recursion stays
//! shallow.

use crate::filter::expression::{Expression, Match, Operator, Selector};
use crate::filter::literal::{unquote, SyntaxError};
use crate::filter::{FilterError, MAX_DEPTH, MAX_LENGTH};
use std::collections::HashMap;

/// Parses a filter expression.
pub fn parse(source: &str) -> Result<Expression, FilterError> {
    if source.len() > MAX_LENGTH {
        return Err(FilterError::TooLong {
            length: source.len(),
        });
    }
    let mut parser = Parser::new(source);
    let parsed = parser.input();
    if parser.too_deep {
        return Err(FilterError::TooDeep);
    }
    if !parser.errors.is_empty() {
        return Err(FilterError::Syntax(parser.errors.join("\n")));
    }
    parsed.ok_or_else(|| FilterError::Syntax(parser.no_match()))
}

const WHITESPACE: &str = "[ \\t\\r\\n]";

fn is_whitespace(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\r' | '\n')
}

struct Parser<'a> {
    source: &'a str,
    chars: Vec<char>,
    /// The byte offset of each character, and of the end.
    offsets: Vec<usize>,
    /// The current position, as an index into `chars`.
    at: usize,
    /// Rule 1: the farthest failure and what was expected there.
    farthest: usize,
    expected: Vec<String>,
    /// Rule 4: inside a `!` lookahead.
    inverted: bool,
    /// Rule 2, in the order recorded, without duplicates.
    errors: Vec<String>,
    /// `OrExpression` results by start position: the expression and where it ended.
    memo: HashMap<usize, Option<(Expression, usize)>>,
    depth: usize,
    too_deep: bool,
}

impl<'a> Parser<'a> {
    fn new(source: &'a str) -> Parser<'a> {
        let mut chars = Vec::with_capacity(source.len());
        let mut offsets = Vec::with_capacity(source.len() + 1);
        for (offset, c) in source.char_indices() {
            chars.push(c);
            offsets.push(offset);
        }
        offsets.push(source.len());
        Parser {
            source,
            chars,
            offsets,
            at: 0,
            farthest: 0,
            expected: Vec::new(),
            inverted: false,
            errors: Vec::new(),
            memo: HashMap::new(),
            depth: 0,
            too_deep: false,
        }
    }

    // ---- Positions and error bookkeeping.

    /// pigeon's `line:col (offset)`. It counts a newline as column 0 of the next line.
    fn position(&self, at: usize) -> String {
        let mut line = 1;
        let mut column = 0;
        for &c in &self.chars[..at.min(self.chars.len())] {
            column += 1;
            if c == '\n' {
                line += 1;
                column = 0;
            }
        }
        // The character at `at` itself (or the end) is one column further, unless it is a
        // newline, which pigeon places at column 0 of the line it opens.
        match self.chars.get(at) {
            Some('\n') => {
                line += 1;
                column = 0;
            }
            _ => column += 1,
        }
        format!("{line}:{column} ({})", self.offsets[at])
    }

    /// Whether rule 1 (and 4) would record the outcome of a matcher at `at`.
    fn noteworthy(&self, matched: bool, at: usize) -> bool {
        matched == self.inverted && at >= self.farthest
    }

    /// Rule 1 (and 4): a matcher at `at` matched (`matched`) or not.
    fn note(&mut self, matched: bool, at: usize, want: &str) {
        if !self.noteworthy(matched, at) {
            return;
        }
        if at > self.farthest {
            self.farthest = at;
            self.expected.clear();
        }
        let want = if self.inverted {
            format!("!{want}")
        } else {
            want.to_owned()
        };
        self.expected.push(want);
    }

    /// Rule 2: an error from a rule's predicate or action.
    fn error(&mut self, rule: &str, text: &str, at: usize) {
        let message = format!("{}: rule \"{rule}\": {text}", self.position(at));
        if !self.errors.contains(&message) {
            self.errors.push(message);
        }
    }

    /// Rule 3: the message for a parse that failed without recording errors.
    fn no_match(&self) -> String {
        let mut expected: Vec<&str> = Vec::new();
        let mut end = false;
        for want in &self.expected {
            if want == "!." {
                end = true;
            } else if !expected.contains(&want.as_str()) {
                expected.push(want);
            }
        }
        expected.sort_unstable();
        if end {
            expected.push("EOF");
        }
        let list = match expected.split_last() {
            None => String::new(),
            Some((last, [])) => (*last).to_owned(),
            Some((last, rest)) => format!("{} or {last}", rest.join(", ")),
        };
        format!(
            "{}: no match found, expected: {list}",
            self.position(self.farthest)
        )
    }

    fn text(&self, from: usize) -> &'a str {
        &self.source[self.offsets[from]..self.offsets[self.at]]
    }

    // ---- Matchers.

    fn literal(&mut self, literal: &str) -> bool {
        let start = self.at;
        let matched = literal.chars().all(|want| {
            let same = self.chars.get(self.at) == Some(&want);
            self.at += usize::from(same);
            same
        });
        if !matched {
            self.at = start;
        }
        // pigeon lists a literal as Go's `%q` of it, which `{:?}` matches for ours.
        if self.noteworthy(matched, start) {
            self.note(matched, start, &format!("{literal:?}"));
        }
        matched
    }

    fn class(&mut self, want: &str, test: fn(char) -> bool) -> bool {
        let start = self.at;
        match self.chars.get(start) {
            Some(&c) if test(c) => {
                self.at += 1;
                self.note(true, start, want);
                true
            }
            _ => {
                self.note(false, start, want);
                false
            }
        }
    }

    /// `.`: any character.
    fn any(&mut self) -> bool {
        let start = self.at;
        if start >= self.chars.len() {
            self.note(false, start, ".");
            return false;
        }
        self.at += 1;
        self.note(true, start, ".");
        true
    }

    /// `!e`: succeeds, consuming nothing, when `e` fails.
    fn not_ahead(&mut self, expression: impl FnOnce(&mut Self) -> bool) -> bool {
        let start = self.at;
        self.inverted = !self.inverted;
        let matched = expression(self);
        self.inverted = !self.inverted;
        self.at = start;
        !matched
    }

    /// `&e`: succeeds, consuming nothing, when `e` does.
    fn and_ahead(&mut self, expression: impl FnOnce(&mut Self) -> bool) -> bool {
        let start = self.at;
        let matched = expression(self);
        self.at = start;
        matched
    }

    /// `_ "whitespace" <- [ \t\r\n]+`
    fn whitespace(&mut self) -> bool {
        if !self.class(WHITESPACE, is_whitespace) {
            return false;
        }
        while self.class(WHITESPACE, is_whitespace) {}
        true
    }

    /// `_?`
    fn optional_whitespace(&mut self) {
        self.whitespace();
    }

    /// `EOF <- !.`
    fn end(&mut self) -> bool {
        self.not_ahead(|p| p.any())
    }

    /// Runs a rule one nesting level deeper, refusing past `MAX_DEPTH`.
    fn nested<T>(&mut self, rule: impl FnOnce(&mut Self) -> Option<T>) -> Option<T> {
        if self.depth >= MAX_DEPTH {
            self.too_deep = true;
            return None;
        }
        self.depth += 1;
        let result = rule(self);
        self.depth -= 1;
        result
    }

    // ---- Rules.

    /// `Input <- _? "(" _? OrExpression _? ")" _? EOF / _? OrExpression _? EOF`
    fn input(&mut self) -> Option<Expression> {
        let start = self.at;
        self.optional_whitespace();
        if self.literal("(") {
            self.optional_whitespace();
            if let Some(expression) = self.or_expression() {
                self.optional_whitespace();
                if self.literal(")") {
                    self.optional_whitespace();
                    if self.end() {
                        return Some(expression);
                    }
                }
            }
        }
        self.at = start;
        self.optional_whitespace();
        if let Some(expression) = self.or_expression() {
            self.optional_whitespace();
            if self.end() {
                return Some(expression);
            }
        }
        self.at = start;
        None
    }

    /// `OrExpression <- AndExpression _ "or" _ OrExpression / AndExpression`, memoized.
    fn or_expression(&mut self) -> Option<Expression> {
        if self.too_deep {
            return None;
        }
        let start = self.at;
        if let Some(known) = self.memo.get(&start) {
            let (expression, end) = known.clone()?;
            self.at = end;
            return Some(expression);
        }
        let parsed = self.chain("or", Self::and_expression, Expression::Or);
        let entry = parsed.clone().map(|expression| (expression, self.at));
        self.memo.insert(start, entry);
        parsed
    }

    /// `AndExpression <- NotExpression _ "and" _ AndExpression / NotExpression`
    fn and_expression(&mut self) -> Option<Expression> {
        self.chain("and", Self::not_expression, Expression::And)
    }

    /// `operand (_ keyword _ operand)*`, which is what the right-recursive rules accept.
    fn chain(
        &mut self,
        keyword: &str,
        operand: fn(&mut Self) -> Option<Expression>,
        combine: fn(Vec<Expression>) -> Expression,
    ) -> Option<Expression> {
        let mut operands = vec![operand(self)?];
        loop {
            let save = self.at;
            if self.whitespace() && self.literal(keyword) && self.whitespace() {
                if let Some(next) = operand(self) {
                    operands.push(next);
                    continue;
                }
            }
            self.at = save;
            break;
        }
        Some(if operands.len() == 1 {
            operands.remove(0)
        } else {
            combine(operands)
        })
    }

    /// `NotExpression <- "not" _ NotExpression / ParenthesizedExpression`, with `not not x`
    /// reduced to `x`.
    fn not_expression(&mut self) -> Option<Expression> {
        let start = self.at;
        if self.literal("not") && self.whitespace() {
            if let Some(operand) = self.nested(Self::not_expression) {
                return Some(match operand {
                    Expression::Not(inner) => *inner,
                    other => Expression::Not(Box::new(other)),
                });
            }
        }
        self.at = start;
        self.parenthesized()
    }

    /// ```text
    /// ParenthesizedExpression "grouping" <- "(" _? OrExpression _? ")" / MatchExpression
    ///     / "(" _? OrExpression _? !")" &{ "Unmatched parentheses" }
    /// ```
    fn parenthesized(&mut self) -> Option<Expression> {
        let start = self.at;
        if self.literal("(") {
            self.optional_whitespace();
            if let Some(expression) = self.nested(Self::or_expression) {
                self.optional_whitespace();
                if self.literal(")") {
                    return Some(expression);
                }
            }
        }
        self.at = start;
        if let Some(found) = self.match_expression() {
            return Some(Expression::Match(found));
        }
        self.at = start;
        if self.literal("(") {
            self.optional_whitespace();
            if self.nested(Self::or_expression).is_some() {
                self.optional_whitespace();
                if self.not_ahead(|p| p.literal(")")) {
                    self.error("grouping", "Unmatched parentheses", self.at);
                }
            }
        }
        self.at = start;
        None
    }

    /// ```text
    /// MatchExpression "match" <- Selector (== / != / contains / not contains / matches
    ///         / not matches) Value
    ///     / Selector (is empty / is not empty)
    ///     / Value (in / not in) Selector
    ///     / Value (in / not in) !Selector &{ "Invalid selector" }
    /// ```
    fn match_expression(&mut self) -> Option<Match> {
        let start = self.at;
        if let Some(selector) = self.selector() {
            if let Some(operator) = self.value_operator() {
                if let Some(value) = self.value() {
                    return Some(Match {
                        selector,
                        operator,
                        value: Some(value),
                    });
                }
            }
        }
        self.at = start;
        if let Some(selector) = self.selector() {
            if let Some(operator) = self.emptiness_operator() {
                return Some(Match {
                    selector,
                    operator,
                    value: None,
                });
            }
        }
        self.at = start;
        if let Some(value) = self.value() {
            if let Some(operator) = self.membership_operator() {
                if let Some(selector) = self.selector() {
                    return Some(Match {
                        selector,
                        operator,
                        value: Some(value),
                    });
                }
            }
        }
        self.at = start;
        if self.value().is_some()
            && self.membership_operator().is_some()
            && self.not_ahead(|p| p.selector().is_some())
        {
            self.error("match", "Invalid selector", self.at);
        }
        self.at = start;
        None
    }

    /// Tries each operator, a sequence of whitespace and keywords, in the grammar's order.
    fn operator(&mut self, choices: &[(&[Token], Operator)]) -> Option<Operator> {
        let start = self.at;
        for (tokens, operator) in choices {
            let mut matched = true;
            for token in tokens.iter() {
                matched = match token {
                    Token::Space => self.whitespace(),
                    Token::MaybeSpace => {
                        self.optional_whitespace();
                        true
                    }
                    Token::Word(word) => self.literal(word),
                };
                if !matched {
                    break;
                }
            }
            if matched {
                return Some(*operator);
            }
            self.at = start;
        }
        None
    }

    /// `MatchEqual <- _? "==" _?`, `MatchNotEqual <- _? "!=" _?`, `MatchContains <- _
    /// "contains" _`, `MatchNotContains <- _ "not" _ "contains" _`, `MatchMatches`,
    /// `MatchNotMatches`.
    fn value_operator(&mut self) -> Option<Operator> {
        use Token::{MaybeSpace as M, Space as S, Word as W};
        self.operator(&[
            (&[M, W("=="), M], Operator::Equal),
            (&[M, W("!="), M], Operator::NotEqual),
            (&[S, W("contains"), S], Operator::In),
            (&[S, W("not"), S, W("contains"), S], Operator::NotIn),
            (&[S, W("matches"), S], Operator::Matches),
            (&[S, W("not"), S, W("matches"), S], Operator::NotMatches),
        ])
    }

    /// `MatchIsEmpty <- _ "is" _ "empty"`, `MatchIsNotEmpty <- _ "is" _ "not" _ "empty"`.
    fn emptiness_operator(&mut self) -> Option<Operator> {
        use Token::{Space as S, Word as W};
        self.operator(&[
            (&[S, W("is"), S, W("empty")], Operator::IsEmpty),
            (
                &[S, W("is"), S, W("not"), S, W("empty")],
                Operator::IsNotEmpty,
            ),
        ])
    }

    /// `MatchIn <- _ "in" _`, `MatchNotIn <- _ "not" _ "in" _`.
    fn membership_operator(&mut self) -> Option<Operator> {
        use Token::{Space as S, Word as W};
        self.operator(&[
            (&[S, W("in"), S], Operator::In),
            (&[S, W("not"), S, W("in"), S], Operator::NotIn),
        ])
    }

    /// `Selector "selector" <- Identifier SelectorOrIndex*` where
    /// `SelectorOrIndex <- "." Identifier / IndexExpression`.
    fn selector(&mut self) -> Option<Selector> {
        let mut path = vec![self.identifier()?];
        loop {
            let save = self.at;
            if self.literal(".") {
                if let Some(name) = self.identifier() {
                    path.push(name);
                    continue;
                }
            }
            self.at = save;
            if let Some(key) = self.index_expression() {
                path.push(key);
                continue;
            }
            self.at = save;
            break;
        }
        Some(Selector(path))
    }

    /// `Identifier <- [a-zA-Z] [a-zA-Z0-9_]*`: case matters, as Go field names do.
    fn identifier(&mut self) -> Option<String> {
        let start = self.at;
        if !self.class("[a-zA-Z]", |c| c.is_ascii_alphabetic()) {
            return None;
        }
        while self.class("[a-zA-Z0-9_]", |c| c.is_ascii_alphanumeric() || c == '_') {}
        Some(self.text(start).to_owned())
    }

    /// ```text
    /// IndexExpression "index" <- "[" _? StringLiteral _? "]"
    ///     / "[" _? !StringLiteral &{ "Invalid index" }
    ///     / "[" _? StringLiteral _? !"]" &{ "Unclosed index expression" }
    /// ```
    fn index_expression(&mut self) -> Option<String> {
        let start = self.at;
        if self.literal("[") {
            self.optional_whitespace();
            if let Some(key) = self.string_literal() {
                self.optional_whitespace();
                if self.literal("]") {
                    return Some(key);
                }
            }
        }
        self.at = start;
        if self.literal("[") {
            self.optional_whitespace();
            if self.not_ahead(|p| p.string_literal().is_some()) {
                self.error("index", "Invalid index", self.at);
            }
        }
        self.at = start;
        if self.literal("[") {
            self.optional_whitespace();
            if self.string_literal().is_some() {
                self.optional_whitespace();
                if self.not_ahead(|p| p.literal("]")) {
                    self.error("index", "Unclosed index expression", self.at);
                }
            }
        }
        self.at = start;
        None
    }

    /// `Value "value" <- Selector / NumberLiteral / StringLiteral`. A bare word is a
    /// selector whose dotted text is the value, so `Status == passing` compares with
    /// "passing" and `Port == Foo.Bar` with "Foo.Bar".
    fn value(&mut self) -> Option<String> {
        let start = self.at;
        if let Some(selector) = self.selector() {
            return Some(selector.dotted());
        }
        self.at = start;
        if let Some(number) = self.number_literal() {
            return Some(number);
        }
        self.at = start;
        let string = self.string_literal();
        if string.is_none() {
            self.at = start;
        }
        string
    }

    /// ```text
    /// NumberLiteral "number" <- "-"? IntegerOrFloat &AfterNumbers
    ///     / "-"? IntegerOrFloat !AfterNumbers &{ "Invalid number literal" }
    /// AfterNumbers <- &(_ / EOF / ")")
    /// ```
    fn number_literal(&mut self) -> Option<String> {
        let start = self.at;
        self.literal("-");
        if self.integer_or_float() && self.and_ahead(Self::after_number) {
            return Some(self.text(start).to_owned());
        }
        self.at = start;
        self.literal("-");
        if self.integer_or_float() && self.not_ahead(Self::after_number) {
            self.error("number", "Invalid number literal", self.at);
        }
        self.at = start;
        None
    }

    fn after_number(&mut self) -> bool {
        self.and_ahead(|p| p.whitespace() || p.end() || p.literal(")"))
    }

    /// `IntegerOrFloat <- ("0" / [1-9][0-9]*) ("." [0-9]+)?`
    fn integer_or_float(&mut self) -> bool {
        let start = self.at;
        if !self.literal("0") {
            if !self.class("[1-9]", |c| matches!(c, '1'..='9')) {
                self.at = start;
                return false;
            }
            while self.class("[0-9]", |c| c.is_ascii_digit()) {}
        }
        let save = self.at;
        if self.literal(".") && self.class("[0-9]", |c| c.is_ascii_digit()) {
            while self.class("[0-9]", |c| c.is_ascii_digit()) {}
        } else {
            self.at = save;
        }
        true
    }

    /// ```text
    /// StringLiteral "string" <- ('`' RawStringChar* '`' / '"' DoubleStringChar* '"')
    ///         { strconv.Unquote }
    ///     / ('`' RawStringChar* / '"' DoubleStringChar*) EOF &{ "Unterminated string literal" }
    /// RawStringChar <- !'`' .      DoubleStringChar <- !'"' .
    /// ```
    fn string_literal(&mut self) -> Option<String> {
        let start = self.at;
        if self.quoted("`", true) || self.quoted("\"", true) {
            let literal = self.text(start);
            return Some(match unquote(literal) {
                Ok(value) => value,
                Err(SyntaxError) => {
                    // pigeon keeps the (empty) value and records the action's error.
                    self.error("string", SyntaxError::TEXT, start);
                    String::new()
                }
            });
        }
        self.at = start;
        if (self.quoted("`", false) || self.quoted("\"", false)) && self.end() {
            self.error("string", "Unterminated string literal", self.at);
        }
        self.at = start;
        None
    }

    /// A quote, any characters but that quote, and (when `closed`) the closing quote.
    fn quoted(&mut self, quote: &str, closed: bool) -> bool {
        let start = self.at;
        if !self.literal(quote) {
            return false;
        }
        loop {
            let save = self.at;
            if self.not_ahead(|p| p.literal(quote)) && self.any() {
                continue;
            }
            self.at = save;
            break;
        }
        if closed && !self.literal(quote) {
            self.at = start;
            return false;
        }
        true
    }
}

/// One element of an operator's sequence.
#[derive(Clone, Copy)]
enum Token {
    /// `_`
    Space,
    /// `_?`
    MaybeSpace,
    Word(&'static str),
}
