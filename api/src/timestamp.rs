//! RFC 3339 timestamps as Go's `time.Time` writes them in JSON (`2017-03-06T22:07:51Z`,
//! with up to nine fraction digits, trailing zeros dropped), always in UTC.
//!
//! Only formatting is needed (autopilot's `StableSince`), so a few lines of civil-calendar
//! arithmetic replace a date library.

use std::time::{SystemTime, UNIX_EPOCH};

const SECONDS_PER_DAY: u64 = 86_400;

/// `time` as Go's `RFC3339Nano`, in UTC. Times before 1970 print as the epoch: no Legate
/// server has been stable since then.
pub fn rfc3339_nanos(time: SystemTime) -> String {
    let since = time.duration_since(UNIX_EPOCH).unwrap_or_default();
    let mut text = rfc3339_seconds_of(since.as_secs());
    let nanos = since.subsec_nanos();
    if nanos > 0 {
        let fraction = format!("{nanos:09}");
        text.pop(); // the `Z`
        text.push('.');
        text.push_str(fraction.trim_end_matches('0'));
        text.push('Z');
    }
    text
}

/// `time` rounded to the nearest second, as Consul's health endpoint sends `StableSince`.
pub fn rfc3339_rounded(time: SystemTime) -> String {
    let since = time.duration_since(UNIX_EPOCH).unwrap_or_default();
    let seconds = since.as_secs() + u64::from(since.subsec_nanos() >= 500_000_000);
    rfc3339_seconds_of(seconds)
}

/// `time` as Go's `time.Time.String()` writes a UTC time rounded to the second
/// (`2026-12-02 01:30:00 +0000 UTC`), the `Timestamp` of go-metrics' `/v1/agent/metrics`.
pub fn go_utc_rounded(time: SystemTime) -> String {
    let since = time.duration_since(UNIX_EPOCH).unwrap_or_default();
    let seconds = since.as_secs() + u64::from(since.subsec_nanos() >= 500_000_000);
    let rfc3339 = rfc3339_seconds_of(seconds);
    // "YYYY-MM-DDTHH:MM:SSZ" → "YYYY-MM-DD HH:MM:SS +0000 UTC".
    format!("{} {} +0000 UTC", &rfc3339[..10], &rfc3339[11..19])
}

fn rfc3339_seconds_of(seconds: u64) -> String {
    let days = seconds / SECONDS_PER_DAY;
    let in_day = seconds % SECONDS_PER_DAY;
    let (year, month, day) = civil_from_days(days);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        in_day / 3600,
        in_day % 3600 / 60,
        in_day % 60
    )
}

/// Days since 1970-01-01 → (year, month, day) in the proleptic Gregorian calendar
/// (Howard Hinnant's `civil_from_days`, for non-negative days).
fn civil_from_days(days: u64) -> (u64, u64, u64) {
    let z = days + 719_468;
    let era = z / 146_097;
    let day_of_era = z % 146_097;
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let shifted_month = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * shifted_month + 2) / 5 + 1;
    let month = if shifted_month < 10 {
        shifted_month + 3
    } else {
        shifted_month - 9
    };
    let year = year_of_era + era * 400 + u64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn formats_like_go() {
        let at = |seconds: u64, nanos: u32| UNIX_EPOCH + Duration::new(seconds, nanos);
        assert_eq!(rfc3339_nanos(at(0, 0)), "1970-01-01T00:00:00Z");
        // 2017-03-06T22:07:51Z, the sample in Consul's autopilot documentation.
        assert_eq!(rfc3339_nanos(at(1_488_838_071, 0)), "2017-03-06T22:07:51Z");
        assert_eq!(
            rfc3339_nanos(at(1_488_838_071, 120_000_000)),
            "2017-03-06T22:07:51.12Z"
        );
        assert_eq!(
            rfc3339_rounded(at(1_488_838_071, 600_000_000)),
            "2017-03-06T22:07:52Z"
        );
        // A leap day and the turn of a century.
        assert_eq!(rfc3339_nanos(at(951_782_400, 0)), "2000-02-29T00:00:00Z");
        assert_eq!(rfc3339_nanos(at(4_107_542_399, 0)), "2100-02-28T23:59:59Z");
        assert_eq!(
            go_utc_rounded(at(1_488_838_071, 600_000_000)),
            "2017-03-06 22:07:52 +0000 UTC"
        );
    }
}
