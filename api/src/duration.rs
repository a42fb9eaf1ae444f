//! Go duration strings: `"10s"`, `"1m30s"`, `"60000ms"`, `"1h2m3.5s"`.
//!
//! Consul's clients send durations the way Go's `time.ParseDuration` reads them (the Go
//! client sends `wait=300000ms`), and Consul prints them the way `time.Duration.String`
//! writes them (`"15s"`, `"1m30s"`, `"1h0m0s"`). Both directions are reproduced here on
//! signed nanoseconds, Go's own representation, so values round-trip exactly.

use std::time::Duration;
use thiserror::Error;

/// Why a duration string was refused. The texts follow Go's, which clients may show.
#[derive(Clone, Debug, PartialEq, Eq, Error)]
pub enum DurationError {
    #[error("time: invalid duration {0:?}")]
    Invalid(String),
    #[error("time: missing unit in duration {0:?}")]
    MissingUnit(String),
    #[error("time: unknown unit {unit:?} in duration {text:?}")]
    UnknownUnit { unit: String, text: String },
}

const NANOSECOND: u64 = 1;
const MICROSECOND: u64 = 1_000;
const MILLISECOND: u64 = 1_000_000;
const SECOND: u64 = 1_000_000_000;
const MINUTE: u64 = 60 * SECOND;
const HOUR: u64 = 60 * MINUTE;

fn unit_nanos(unit: &str) -> Option<u64> {
    match unit {
        "ns" => Some(NANOSECOND),
        // Go accepts the micro sign (U+00B5), the Greek mu (U+03BC) and plain `us`.
        "us" | "\u{b5}s" | "\u{3bc}s" => Some(MICROSECOND),
        "ms" => Some(MILLISECOND),
        "s" => Some(SECOND),
        "m" => Some(MINUTE),
        "h" => Some(HOUR),
        _ => None,
    }
}

/// Parses a Go duration into signed nanoseconds, with Go's grammar: an optional sign, then
/// one or more `<decimal><unit>` parts; a bare `0` needs no unit.
pub fn parse(text: &str) -> Result<i64, DurationError> {
    let invalid = || DurationError::Invalid(text.to_owned());
    let (negative, mut rest) = match text.as_bytes().first() {
        Some(b'-') => (true, &text[1..]),
        Some(b'+') => (false, &text[1..]),
        _ => (false, text),
    };
    if rest == "0" {
        return Ok(0);
    }
    if rest.is_empty() {
        return Err(invalid());
    }
    // Accumulate in u128 so that overflow is detected once, at the end, against Go's range.
    let mut total: u128 = 0;
    while !rest.is_empty() {
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        let whole = &rest[..digits];
        rest = &rest[digits..];
        let mut fraction = "";
        if let Some(after_dot) = rest.strip_prefix('.') {
            let count = after_dot.bytes().take_while(u8::is_ascii_digit).count();
            fraction = &after_dot[..count];
            rest = &after_dot[count..];
        }
        if whole.is_empty() && fraction.is_empty() {
            return Err(invalid());
        }
        let unit_len = rest
            .char_indices()
            .find(|(_, c)| *c == '.' || c.is_ascii_digit())
            .map_or(rest.len(), |(at, _)| at);
        let unit = &rest[..unit_len];
        rest = &rest[unit_len..];
        if unit.is_empty() {
            return Err(DurationError::MissingUnit(text.to_owned()));
        }
        let scale = unit_nanos(unit).ok_or_else(|| DurationError::UnknownUnit {
            unit: unit.to_owned(),
            text: text.to_owned(),
        })? as u128;
        let whole_value: u128 = if whole.is_empty() {
            0
        } else {
            // More than 20 digits cannot fit any duration; refuse before parsing.
            if whole.len() > 20 {
                return Err(invalid());
            }
            whole.parse().map_err(|_| invalid())?
        };
        // Below 2^63 before each part, a part adds at most 10^20 h in nanoseconds (3.6e32):
        // nothing here can overflow u128.
        total += whole_value * scale;
        // Go keeps fractional digits only as far as they can matter for nanoseconds (it
        // stops at about 18). Twenty keep `fraction_value * scale` below 10^20 × 3.6e12, so
        // a long fraction cannot overflow (the fuzzer found 30 digits of hours doing so).
        let mut fraction_value: u128 = 0;
        let mut fraction_scale: u128 = 1;
        for digit in fraction.bytes().take(20) {
            fraction_value = fraction_value * 10 + u128::from(digit - b'0');
            fraction_scale *= 10;
        }
        total += fraction_value * scale / fraction_scale;
        if total > 1u128 << 63 {
            return Err(invalid());
        }
    }
    match (negative, total) {
        (true, total) => Ok((total as i128).wrapping_neg() as i64),
        (false, total) if total > i64::MAX as u128 => Err(invalid()),
        (false, total) => Ok(total as i64),
    }
}

/// Parses a Go duration that must not be negative into a `std::time::Duration`.
pub fn parse_std(text: &str) -> Result<Duration, DurationError> {
    let nanos = parse(text)?;
    u64::try_from(nanos)
        .map(Duration::from_nanos)
        .map_err(|_| DurationError::Invalid(text.to_owned()))
}

/// Formats signed nanoseconds as Go's `time.Duration.String` does.
pub fn format(nanos: i64) -> String {
    if nanos == 0 {
        return "0s".to_owned();
    }
    let sign = if nanos < 0 { "-" } else { "" };
    let magnitude = nanos.unsigned_abs();
    if magnitude < SECOND {
        let (unit, scale) = if magnitude < MICROSECOND {
            ("ns", NANOSECOND)
        } else if magnitude < MILLISECOND {
            ("\u{b5}s", MICROSECOND)
        } else {
            ("ms", MILLISECOND)
        };
        return format!("{sign}{}{unit}", decimal(magnitude, scale));
    }
    let hours = magnitude / HOUR;
    let minutes = magnitude % HOUR / MINUTE;
    let seconds = decimal(magnitude % MINUTE, SECOND);
    match (hours, minutes) {
        (0, 0) => format!("{sign}{seconds}s"),
        (0, minutes) => format!("{sign}{minutes}m{seconds}s"),
        (hours, minutes) => format!("{sign}{hours}h{minutes}m{seconds}s"),
    }
}

/// Formats a `std::time::Duration` as Go does (saturating at Go's maximum).
pub fn format_std(duration: Duration) -> String {
    format(i64::try_from(duration.as_nanos()).unwrap_or(i64::MAX))
}

/// `value / scale` with the remainder as decimals, trailing zeros dropped.
fn decimal(value: u64, scale: u64) -> String {
    let whole = value / scale;
    let fraction = value % scale;
    if fraction == 0 {
        return whole.to_string();
    }
    let width = scale.ilog10() as usize;
    let digits = format!("{fraction:0width$}");
    format!("{whole}.{}", digits.trim_end_matches('0'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_go_forms() {
        let cases: &[(&str, i64)] = &[
            ("0", 0),
            ("-0", 0),
            ("10s", 10 * SECOND as i64),
            ("1m30s", 90 * SECOND as i64),
            ("60000ms", 60 * SECOND as i64),
            ("300000ms", 300 * SECOND as i64),
            ("1h2m3.5s", (3723 * SECOND + SECOND / 2) as i64),
            ("1.5h", (90 * MINUTE) as i64),
            (".5s", (SECOND / 2) as i64),
            ("5.s", (5 * SECOND) as i64),
            ("250us", 250_000),
            ("250\u{b5}s", 250_000),
            ("250\u{3bc}s", 250_000),
            ("15ns", 15),
            ("-1m", -(MINUTE as i64)),
            ("+2h", (2 * HOUR) as i64),
            ("1.000000001s", (SECOND + 1) as i64),
            ("9223372036854775807ns", i64::MAX),
            ("-9223372036854775808ns", i64::MIN),
        ];
        for (text, nanos) in cases {
            assert_eq!(parse(text), Ok(*nanos), "{text}");
        }
    }

    #[test]
    fn refuses_what_go_refuses() {
        for text in [
            "",
            "s",
            "10",
            "1x",
            ".s",
            "-",
            "forever",
            "1h 2m",
            "9223372036854775808ns",
            "99999999999999999999h",
        ] {
            assert!(parse(text).is_err(), "{text:?} should fail");
        }
        assert_eq!(
            parse("0.000000000000000000000000000001h"),
            Ok(0),
            "digits past nanoseconds count for nothing"
        );
        // Found by the config-file fuzz target: a long fraction of hours once overflowed the
        // accumulator (a panic in debug builds, a wrapped value in release).
        assert_eq!(
            parse("1.337777777771111111111111011111111111111h"),
            Ok(4_815_999_999_975)
        );
        assert_eq!(
            parse("10"),
            Err(DurationError::MissingUnit("10".to_owned()))
        );
        assert!(matches!(
            parse("3d"),
            Err(DurationError::UnknownUnit { .. })
        ));
        assert!(parse_std("-1s").is_err());
    }

    #[test]
    fn formats_like_go() {
        let cases: &[(i64, &str)] = &[
            (0, "0s"),
            (15 * SECOND as i64, "15s"),
            (90 * SECOND as i64, "1m30s"),
            (60 * SECOND as i64, "1m0s"),
            (HOUR as i64, "1h0m0s"),
            ((3723 * SECOND + SECOND / 2) as i64, "1h2m3.5s"),
            (1_500_000, "1.5ms"),
            (800, "800ns"),
            (2_000, "2\u{b5}s"),
            (-(90 * SECOND as i64), "-1m30s"),
            ((SECOND + 1) as i64, "1.000000001s"),
        ];
        for (nanos, text) in cases {
            assert_eq!(format(*nanos), *text, "{nanos}");
        }
        assert_eq!(format_std(Duration::from_secs(15)), "15s");
    }

    #[test]
    fn round_trips() {
        for text in ["15s", "1m30s", "1h0m0s", "1.5ms", "2h45m0.25s"] {
            assert_eq!(format(parse(text).unwrap()), text);
        }
    }
}
