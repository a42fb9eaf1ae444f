//! The raw query string: parameters by name, in order, repeats kept.
//!
//! Consul's flags are presence-based (`?recurse`, `?stale=`), some parameters repeat
//! (`?tag=a&tag=b`, `?node-meta=`), and `Get` means "the first value", as Go's
//! `url.Values.Get` does. Decoding follows Go's `url.ParseQuery`: `+` is a space and
//! `%XX` is a byte.

use thiserror::Error;

/// A URL component with a malformed `%` escape. Go's server answers such a request with 400.
#[derive(Clone, Debug, PartialEq, Eq, Error)]
#[error("invalid URL escape {0:?}")]
pub struct EscapeError(pub String);

/// Decodes `%XX` escapes (and `+` as a space when `plus_is_space`).
pub fn percent_decode(text: &str, plus_is_space: bool) -> Result<String, EscapeError> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut at = 0;
    while at < bytes.len() {
        match bytes[at] {
            b'%' => {
                let hex = bytes
                    .get(at + 1..at + 3)
                    .and_then(|pair| std::str::from_utf8(pair).ok())
                    .and_then(|pair| u8::from_str_radix(pair, 16).ok());
                match hex {
                    Some(byte) => out.push(byte),
                    None => {
                        let end = (at + 3).min(bytes.len());
                        return Err(EscapeError(
                            String::from_utf8_lossy(&bytes[at..end]).into_owned(),
                        ));
                    }
                }
                at += 3;
            }
            b'+' if plus_is_space => {
                out.push(b' ');
                at += 1;
            }
            byte => {
                out.push(byte);
                at += 1;
            }
        }
    }
    Ok(String::from_utf8_lossy(&out).into_owned())
}

/// Percent-encodes a path segment list for a URL, leaving `/` and unreserved characters.
pub fn percent_encode_path(text: &str) -> String {
    encode(text, |byte| byte == b'/')
}

/// Percent-encodes a query value, a space as `+` (Go's `url.QueryEscape`).
pub fn percent_encode_query(text: &str) -> String {
    encode(text, |_| false).replace("%20", "+")
}

fn encode(text: &str, keep: impl Fn(u8) -> bool) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || b"-._~".contains(&byte) || keep(byte) {
            out.push(byte as char);
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

/// A parsed query string.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Params {
    pairs: Vec<(String, String)>,
}

/// At most this many parameters are kept; a longer query string is refused.
pub const MAX_PARAMS: usize = 256;

impl Params {
    /// Parses `a=1&b&c=x+y`. Empty pieces (`&&`) are skipped.
    pub fn parse(query: Option<&str>) -> Result<Params, EscapeError> {
        let mut pairs = Vec::new();
        for piece in query.unwrap_or("").split('&').filter(|p| !p.is_empty()) {
            if pairs.len() == MAX_PARAMS {
                return Err(EscapeError("too many query parameters".to_owned()));
            }
            let (name, value) = piece.split_once('=').unwrap_or((piece, ""));
            pairs.push((percent_decode(name, true)?, percent_decode(value, true)?));
        }
        Ok(Params { pairs })
    }

    /// Whether the parameter is present at all (`?stale`, `?stale=`, `?stale=x`).
    pub fn has(&self, name: &str) -> bool {
        self.pairs.iter().any(|(key, _)| key == name)
    }

    /// The first value, or `None` when absent (an empty string when present without one).
    pub fn get(&self, name: &str) -> Option<&str> {
        self.pairs
            .iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.as_str())
    }

    /// The first value when it is present and non-empty, as Go's `Get(..) != ""` tests.
    pub fn non_empty(&self, name: &str) -> Option<&str> {
        self.get(name).filter(|value| !value.is_empty())
    }

    /// Every value of a repeated parameter, in order.
    pub fn all(&self, name: &str) -> Vec<&str> {
        self.pairs
            .iter()
            .filter(|(key, _)| key == name)
            .map(|(_, value)| value.as_str())
            .collect()
    }

    /// Re-encodes the parameters sorted by name, as Go's `url.Values.Encode` (used in
    /// Consul's "Conflicting flags" message).
    pub fn encode_sorted(&self) -> String {
        let mut pairs: Vec<&(String, String)> = self.pairs.iter().collect();
        pairs.sort_by(|a, b| a.0.cmp(&b.0));
        pairs
            .iter()
            .map(|(key, value)| {
                format!(
                    "{}={}",
                    percent_encode_query(key),
                    percent_encode_query(value)
                )
            })
            .collect::<Vec<_>>()
            .join("&")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_flags_repeats_and_escapes() {
        let params = Params::parse(Some("stale&tag=a&tag=b%2Fc&wait=1m+&x=")).unwrap();
        assert!(params.has("stale"));
        assert_eq!(params.get("stale"), Some(""));
        assert_eq!(params.non_empty("stale"), None);
        assert_eq!(params.all("tag"), ["a", "b/c"]);
        assert_eq!(params.get("wait"), Some("1m "));
        assert!(!params.has("index"));
        assert!(Params::parse(Some("a=%zz")).is_err());
    }

    #[test]
    fn encodes_sorted_like_go() {
        let params = Params::parse(Some("cas=1&acquire=x%20y")).unwrap();
        assert_eq!(params.encode_sorted(), "acquire=x+y&cas=1");
    }

    #[test]
    fn decodes_paths_without_plus() {
        assert_eq!(percent_decode("a+b%20c", false).unwrap(), "a+b c");
        assert_eq!(percent_encode_path("a b/c"), "a%20b/c");
    }
}
