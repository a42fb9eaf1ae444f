//! Building answers: JSON bodies (optionally indented) and the read-meta headers.
//!
//! Every read answers `X-Consul-Index` (never 0), `X-Consul-KnownLeader`,
//! `X-Consul-LastContact` and `X-Consul-Effective-Consistency`, on 404s and empty lists too:
//! py-consul raises "Missing index header" without the first, and the Go client fails to
//! parse a response without the third.

use crate::backend::ReadMeta;
use axum::body::Body;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::Response;
use serde::Serialize;

const JSON: &str = "application/json";

/// Serialises `value` as Consul does: compact, or indented by four spaces with a trailing
/// newline (Go's `json.MarshalIndent(v, "", "    ")` plus `"\n"`).
pub fn to_json<T: Serialize + ?Sized>(value: &T, pretty: bool) -> Vec<u8> {
    if !pretty {
        return serde_json::to_vec(value).expect("wire types always serialise");
    }
    let mut out = Vec::new();
    let formatter = serde_json::ser::PrettyFormatter::with_indent(b"    ");
    let mut serializer = serde_json::Serializer::with_formatter(&mut out, formatter);
    value
        .serialize(&mut serializer)
        .expect("wire types always serialise");
    out.push(b'\n');
    out
}

/// A 200 JSON answer.
pub fn json<T: Serialize + ?Sized>(value: &T, pretty: bool) -> Response {
    let mut response = Response::new(Body::from(to_json(value, pretty)));
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(JSON));
    response
}

/// A 200 with an empty body (a write Consul answers with nothing).
pub fn empty() -> Response {
    Response::new(Body::empty())
}

/// A 200 JSON answer to a read, with its meta headers.
pub fn read_json<T: Serialize + ?Sized>(value: &T, meta: &ReadMeta, pretty: bool) -> Response {
    let mut response = json(value, pretty);
    set_meta(&mut response, meta);
    response
}

/// A 404 with an empty body and the meta headers, so a client can block on creation.
pub fn not_found(meta: &ReadMeta) -> Response {
    let mut response = Response::new(Body::empty());
    *response.status_mut() = StatusCode::NOT_FOUND;
    set_meta(&mut response, meta);
    response
}

/// Writes the read-meta headers.
pub fn set_meta(response: &mut Response, meta: &ReadMeta) {
    let headers = response.headers_mut();
    let number = |value: u64| HeaderValue::from(value);
    headers.insert("X-Consul-Index", number(meta.index.for_header()));
    headers.insert(
        "X-Consul-KnownLeader",
        HeaderValue::from_static(if meta.known_leader { "true" } else { "false" }),
    );
    let last_contact = u64::try_from(meta.last_contact.as_millis()).unwrap_or(u64::MAX);
    headers.insert("X-Consul-LastContact", number(last_contact));
    headers.insert(
        "X-Consul-Effective-Consistency",
        HeaderValue::from_static(meta.consistency.header_value()),
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn pretty_matches_go_marshal_indent() {
        let value = json!({"a": [1], "b": {}, "c": []});
        assert_eq!(
            String::from_utf8(to_json(&value, true)).unwrap(),
            "{\n    \"a\": [\n        1\n    ],\n    \"b\": {},\n    \"c\": []\n}\n"
        );
        assert_eq!(to_json(&true, false), b"true");
    }
}
