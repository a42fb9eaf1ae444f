//! Go string literals, read and written as go-bexpr reads and prints them.
//!
//! go-bexpr hands every quoted value to Go's `strconv.Unquote`, so a double-quoted value
//! takes Go's escapes (`\n`, `\t`, `\x41`, `\101`, `\u00e9`, `\\`, ...) and rejects a raw
//! newline or an unknown escape, while a backquoted value is taken as written (carriage
//! returns dropped). Its grammar ends a double-quoted string at the first `"`, so `\"`
//! cannot appear inside one. Errors quote values with Go's `%q`, which `go_quote` imitates.

/// Go's `strconv.Unquote` for a complete `"..."` or `` `...` `` literal. `Err` is Go's
/// `strconv.ErrSyntax`.
pub fn unquote(literal: &str) -> Result<String, SyntaxError> {
    if let Some(raw) = literal
        .strip_prefix('`')
        .and_then(|rest| rest.strip_suffix('`'))
    {
        if raw.contains('`') {
            return Err(SyntaxError);
        }
        return Ok(raw.replace('\r', ""));
    }
    let inner = literal
        .strip_prefix('"')
        .and_then(|rest| rest.strip_suffix('"'))
        .ok_or(SyntaxError)?;
    let bytes = inner.as_bytes();
    // `\x` and octal escapes name bytes, which need not form UTF-8 in Go; here a value that
    // does not is kept with replacement characters (it could not equal a stored string
    // in either case).
    let mut out: Vec<u8> = Vec::with_capacity(bytes.len());
    let mut at = 0;
    while at < bytes.len() {
        let byte = bytes[at];
        match byte {
            b'"' | b'\n' => return Err(SyntaxError),
            b'\\' => {
                let escape = *bytes.get(at + 1).ok_or(SyntaxError)?;
                at += 2;
                match escape {
                    b'a' => out.push(7),
                    b'b' => out.push(8),
                    b'f' => out.push(12),
                    b'n' => out.push(b'\n'),
                    b'r' => out.push(b'\r'),
                    b't' => out.push(b'\t'),
                    b'v' => out.push(11),
                    b'\\' => out.push(b'\\'),
                    b'"' => out.push(b'"'),
                    b'x' | b'u' | b'U' => {
                        let digits = match escape {
                            b'x' => 2,
                            b'u' => 4,
                            _ => 8,
                        };
                        let hex = bytes.get(at..at + digits).ok_or(SyntaxError)?;
                        let mut value: u32 = 0;
                        for &digit in hex {
                            value = value * 16 + (digit as char).to_digit(16).ok_or(SyntaxError)?;
                        }
                        at += digits;
                        if escape == b'x' {
                            out.push(value as u8);
                        } else {
                            let c = char::from_u32(value).ok_or(SyntaxError)?;
                            out.extend_from_slice(c.encode_utf8(&mut [0; 4]).as_bytes());
                        }
                    }
                    b'0'..=b'7' => {
                        let rest = bytes.get(at..at + 2).ok_or(SyntaxError)?;
                        let mut value = u32::from(escape - b'0');
                        for &digit in rest {
                            if !(b'0'..=b'7').contains(&digit) {
                                return Err(SyntaxError);
                            }
                            value = value * 8 + u32::from(digit - b'0');
                        }
                        if value > 255 {
                            return Err(SyntaxError);
                        }
                        at += 2;
                        out.push(value as u8);
                    }
                    _ => return Err(SyntaxError),
                }
            }
            _ => {
                out.push(byte);
                at += 1;
            }
        }
    }
    Ok(String::from_utf8(out)
        .unwrap_or_else(|error| String::from_utf8_lossy(error.as_bytes()).into_owned()))
}

/// Go's `strconv.ErrSyntax`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SyntaxError;

impl SyntaxError {
    pub const TEXT: &'static str = "invalid syntax";
}

/// Go's `%q` for the texts go-bexpr's errors quote: `"..."` with `\"`, `\\`, the named
/// control escapes, and `\xNN` for other ASCII control characters. (Go also escapes
/// non-printable non-ASCII runes; selectors and values practically never hold any.)
pub fn go_quote(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\u{7}' => out.push_str("\\a"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{b}' => out.push_str("\\v"),
            c if (c as u32) < 0x20 || c as u32 == 0x7f => {
                out.push_str(&format!("\\x{:02x}", c as u32));
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn double_quoted_escapes_follow_go() {
        assert_eq!(unquote(r#""a\tb\n""#).unwrap(), "a\tb\n");
        assert_eq!(unquote(r#""\x41\101\u00e9\U0001F600""#).unwrap(), "AAé😀");
        assert_eq!(unquote(r#""\\""#).unwrap(), "\\");
        assert_eq!(unquote(r#""plain é""#).unwrap(), "plain é");
        for bad in [
            r#""\q""#,
            r#""\'""#,
            r#""\x4""#,
            r#""\400""#,
            r#""\ud800""#,
            "\"a\nb\"",
        ] {
            assert_eq!(unquote(bad), Err(SyntaxError), "{bad}");
        }
    }

    #[test]
    fn raw_strings_are_verbatim_without_carriage_returns() {
        assert_eq!(unquote("`a\\n\r\"b`").unwrap(), "a\\n\"b");
    }

    #[test]
    fn quoting_matches_go() {
        assert_eq!(go_quote("Meta.a b"), "\"Meta.a b\"");
        assert_eq!(go_quote("x\"y\\z\n\u{1}"), r#""x\"y\\z\n\x01""#);
    }
}
