//! Values converted to a field's type as go-bexpr converts them: with Go's
//! `strconv.ParseBool` and `strconv.ParseInt(value, 0, 64)`, whose error texts Consul
//! passes on. So `ServicePort == "0x50"` selects port 80 and `ServicePort == 1_000` port
//! 1000, as in Consul; every Consul field we filter is a string, a bool or a Go `int`.

use crate::filter::literal::go_quote;

/// Go's `strconv.ParseBool`.
pub fn parse_bool(text: &str) -> Result<bool, String> {
    match text {
        "1" | "t" | "T" | "TRUE" | "true" | "True" => Ok(true),
        "0" | "f" | "F" | "FALSE" | "false" | "False" => Ok(false),
        _ => Err(number_error("ParseBool", text, SYNTAX)),
    }
}

const SYNTAX: &str = "invalid syntax";
const RANGE: &str = "value out of range";

fn number_error(function: &str, text: &str, reason: &str) -> String {
    format!("strconv.{function}: parsing {}: {reason}", go_quote(text))
}

/// Go's `strconv.ParseInt(text, 0, 64)`: an optional sign, then decimal, `0x` hex, `0o` or
/// leading-`0` octal, or `0b` binary, with `_` allowed between digits.
pub fn parse_int(text: &str) -> Result<i64, String> {
    let syntax = || number_error("ParseInt", text, SYNTAX);
    let range = || number_error("ParseInt", text, RANGE);
    if text.is_empty() {
        return Err(syntax());
    }
    let (negative, digits) = match text.as_bytes()[0] {
        b'+' => (false, &text[1..]),
        b'-' => (true, &text[1..]),
        _ => (false, text),
    };
    let magnitude = match parse_uint(digits) {
        Ok(value) => value,
        Err(Failure::Syntax) => return Err(syntax()),
        Err(Failure::Range) => return Err(range()),
    };
    let limit = 1u64 << 63;
    if negative {
        if magnitude > limit {
            return Err(range());
        }
        Ok((magnitude as i64).wrapping_neg())
    } else if magnitude >= limit {
        Err(range())
    } else {
        Ok(magnitude as i64)
    }
}

enum Failure {
    Syntax,
    Range,
}

/// Go's `strconv.ParseUint(text, 0, 64)`, reporting which of its two errors it hit first.
fn parse_uint(text: &str) -> Result<u64, Failure> {
    let bytes = text.as_bytes();
    if bytes.is_empty() {
        return Err(Failure::Syntax);
    }
    let (base, digits): (u64, &[u8]) = if bytes[0] == b'0' && bytes.len() >= 3 {
        match bytes[1].to_ascii_lowercase() {
            b'b' => (2, &bytes[2..]),
            b'o' => (8, &bytes[2..]),
            b'x' => (16, &bytes[2..]),
            _ => (8, &bytes[1..]),
        }
    } else if bytes[0] == b'0' {
        (8, &bytes[1..])
    } else {
        (10, bytes)
    };
    let mut value: u64 = 0;
    let mut underscores = false;
    for &byte in digits {
        let digit = match byte {
            b'_' => {
                underscores = true;
                continue;
            }
            b'0'..=b'9' => u64::from(byte - b'0'),
            b'a'..=b'z' | b'A'..=b'Z' => u64::from(byte.to_ascii_lowercase() - b'a') + 10,
            _ => return Err(Failure::Syntax),
        };
        if digit >= base {
            return Err(Failure::Syntax);
        }
        value = value
            .checked_mul(base)
            .and_then(|shifted| shifted.checked_add(digit))
            .ok_or(Failure::Range)?;
    }
    if underscores && !underscores_separate_digits(bytes) {
        return Err(Failure::Syntax);
    }
    Ok(value)
}

/// Go's `underscoreOK`: each `_` sits between two digits (a base prefix counts as one).
fn underscores_separate_digits(bytes: &[u8]) -> bool {
    #[derive(PartialEq)]
    enum Saw {
        Start,
        Digit,
        Underscore,
        Other,
    }
    let mut saw = Saw::Start;
    let mut at = 0;
    let mut hex = false;
    if bytes.len() >= 2
        && bytes[0] == b'0'
        && matches!(bytes[1].to_ascii_lowercase(), b'b' | b'o' | b'x')
    {
        at = 2;
        saw = Saw::Digit;
        hex = bytes[1].eq_ignore_ascii_case(&b'x');
    }
    for &byte in &bytes[at..] {
        if byte.is_ascii_digit() || (hex && byte.is_ascii_hexdigit()) {
            saw = Saw::Digit;
        } else if byte == b'_' {
            if saw != Saw::Digit {
                return false;
            }
            saw = Saw::Underscore;
        } else if saw == Saw::Underscore {
            return false;
        } else {
            saw = Saw::Other;
        }
    }
    saw != Saw::Underscore
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integers_follow_go_base_zero() {
        let cases = [
            ("80", 80),
            ("-80", -80),
            ("+7", 7),
            ("0x50", 80),
            ("0X50", 80),
            ("0o17", 15),
            ("017", 15),
            ("0b101", 5),
            ("1_000", 1000),
            ("0", 0),
            ("-9223372036854775808", i64::MIN),
        ];
        for (text, value) in cases {
            assert_eq!(parse_int(text), Ok(value), "{text}");
        }
    }

    #[test]
    fn integer_errors_use_go_texts() {
        assert_eq!(
            parse_int("abc").unwrap_err(),
            r#"strconv.ParseInt: parsing "abc": invalid syntax"#
        );
        assert_eq!(
            parse_int("9223372036854775808").unwrap_err(),
            r#"strconv.ParseInt: parsing "9223372036854775808": value out of range"#
        );
        for bad in ["", "1.5", "08", "0x", "_1", "1__0", "1_", "--1", "0b2"] {
            assert!(
                parse_int(bad).unwrap_err().ends_with("invalid syntax"),
                "{bad}"
            );
        }
    }

    #[test]
    fn booleans_follow_go() {
        assert_eq!(parse_bool("T"), Ok(true));
        assert_eq!(parse_bool("0"), Ok(false));
        assert_eq!(
            parse_bool("yes").unwrap_err(),
            r#"strconv.ParseBool: parsing "yes": invalid syntax"#
        );
    }
}
