//! `/v1/kv/<key>`: get, list, keys, put and delete, as Consul's `agent/kvs_endpoint.go`
//! serves them.
//!
//! A request is parsed once into a `KvRequest` and then served with `match`. Points that
//! clients depend on:
//! - a missing key (or an empty `?recurse` listing) is a 404 with an empty body that still
//!   carries the index headers, so a client can block until the key appears;
//! - `?keys` on the empty prefix answers `[]` rather than 404;
//! - `?raw` answers the bare value as `text/plain` with `nosniff` and a sandbox CSP
//!   (CVE-2020-25864);
//! - PUT and DELETE answer the JSON literal `true`/`false`; only `cas` can say `false`;
//! - `cas`, `acquire` and `release` exclude each other, as do `recurse` and `cas` on DELETE.
//!
//! Keys are normalised the way Consul's HTTP mux does before its handler runs: Go's
//! `ServeMux` redirects a non-canonical path (`/v1/kv//a`, `/v1/kv/a/./b`) to its cleaned
//! form, so such a key is served as its cleaned self (`a`, `a/b`). `..` is refused.
//!
//! `?acquire=<session>` and `?release=<session>` answer `true`/`false`; the store decides
//! (a held lock, a running lock-delay, a release by a non-holder all answer `false`), and an
//! acquire with an unknown session fails as Consul's does (500 `invalid session "<id>"`).

use crate::backend::Backend;
use crate::body::{self, BodyError};
use crate::error::ApiError;
use crate::options::RequestOptions;
use crate::params::Params;
use crate::reply;
use crate::router::{unexpected, Api, Incoming};
use crate::types::KvPair;
use axum::body::Body;
use axum::http::{header, HeaderValue, Method};
use axum::response::Response;
use legate_catalog::command::{KvCondition, KvDelete, KvDeleteMode, KvSet};
use legate_catalog::{Command, Index, KvEntry, Outcome, Query, QueryResult, SessionId};

/// A KV request, parsed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum KvRequest {
    Get {
        key: String,
        raw: bool,
    },
    List {
        prefix: String,
    },
    Keys {
        prefix: String,
        separator: Option<String>,
    },
    Put {
        key: String,
        flags: u64,
        mode: PutMode,
    },
    Delete {
        key: String,
        mode: KvDeleteMode,
    },
}

/// How a PUT applies.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PutMode {
    Plain,
    Cas(Index),
    Acquire(String),
    Release(String),
}

/// Cleans a key as Go's `path.Clean` cleans the URL path around it: empty and `.`
/// segments go, a trailing `/` stays. `..` segments are refused.
pub fn normalize_key(raw: &str) -> Result<String, ApiError> {
    if raw.contains("../") || raw.contains("..\\") || raw.ends_with("/..") || raw == ".." {
        return Err(ApiError::BadRequest(
            "URL path contains invalid traversal sequence".into(),
        ));
    }
    let lowered = raw.to_ascii_lowercase();
    let encoded = [
        "%2e%2e%2f",
        "%2e%2e/",
        "..%2f",
        "%2e%2e%5c",
        "%252e%252e%252f",
    ];
    if encoded.iter().any(|pattern| lowered.contains(pattern)) {
        return Err(ApiError::BadRequest(
            "URL path contains encoded traversal sequence".into(),
        ));
    }
    let segments: Vec<&str> = raw
        .split('/')
        .filter(|segment| !segment.is_empty() && *segment != ".")
        .collect();
    let mut key = segments.join("/");
    if raw.ends_with('/') && !key.is_empty() {
        key.push('/');
    }
    Ok(key)
}

/// Go's `strconv.ParseUint` error text, which Consul returns as a 500.
fn parse_u64(text: &str) -> Result<u64, ApiError> {
    text.parse().map_err(|error: std::num::ParseIntError| {
        let reason = match error.kind() {
            std::num::IntErrorKind::PosOverflow => "value out of range",
            _ => "invalid syntax",
        };
        ApiError::Refused(format!("strconv.ParseUint: parsing {text:?}: {reason}"))
    })
}

/// Consul's answer when exclusive flags meet: 400 and the query, re-encoded.
fn conflicting(params: &Params, flags: &[&str]) -> Result<(), ApiError> {
    if flags.iter().filter(|flag| params.has(flag)).count() > 1 {
        return Err(ApiError::BadRequest(format!(
            "Conflicting flags: {}\n",
            params.encode_sorted()
        )));
    }
    Ok(())
}

fn missing_key() -> ApiError {
    ApiError::BadRequest("Missing key name".into())
}

impl KvRequest {
    /// Parses a request for `raw_key` (as it appeared in the path).
    pub fn parse(method: &Method, raw_key: &str, params: &Params) -> Result<KvRequest, ApiError> {
        let key = normalize_key(raw_key)?;
        match *method {
            Method::GET if params.has("keys") => {
                // The historic misspelling is accepted; the right spelling wins.
                let separator = params
                    .get("separator")
                    .or_else(|| params.get("seperator"))
                    .filter(|separator| !separator.is_empty())
                    .map(str::to_owned);
                Ok(KvRequest::Keys {
                    prefix: key,
                    separator,
                })
            }
            Method::GET if params.has("recurse") => Ok(KvRequest::List { prefix: key }),
            Method::GET if key.is_empty() => Err(missing_key()),
            Method::GET => Ok(KvRequest::Get {
                key,
                raw: params.has("raw"),
            }),
            Method::PUT => {
                if key.is_empty() {
                    return Err(missing_key());
                }
                conflicting(params, &["cas", "acquire", "release"])?;
                let flags = params.get("flags").map(parse_u64).transpose()?.unwrap_or(0);
                let mode = if let Some(cas) = params.get("cas") {
                    PutMode::Cas(Index(parse_u64(cas)?))
                } else if let Some(session) = params.get("acquire") {
                    PutMode::Acquire(session.to_owned())
                } else if let Some(session) = params.get("release") {
                    PutMode::Release(session.to_owned())
                } else {
                    PutMode::Plain
                };
                Ok(KvRequest::Put { key, flags, mode })
            }
            Method::DELETE => {
                conflicting(params, &["recurse", "cas"])?;
                let mode = if params.has("recurse") {
                    KvDeleteMode::Tree
                } else if key.is_empty() {
                    return Err(missing_key());
                } else if let Some(cas) = params.get("cas") {
                    KvDeleteMode::ModifyIndex(Index(parse_u64(cas)?))
                } else {
                    KvDeleteMode::Key
                };
                Ok(KvRequest::Delete { key, mode })
            }
            _ => Err(ApiError::MethodNotAllowed {
                method: method.clone(),
                allow: &[Method::GET, Method::PUT, Method::DELETE],
            }),
        }
    }
}

/// Serves one KV request.
pub async fn handle<B: Backend>(
    api: &Api<B>,
    raw_key: String,
    request: Incoming,
) -> Result<Response, ApiError> {
    let options = api.options(&request)?;
    let parsed = KvRequest::parse(&request.method, &raw_key, &request.params)?;
    match parsed {
        KvRequest::Get { key, raw } => get(api, &options, key, raw).await,
        KvRequest::List { prefix } => list(api, &options, prefix).await,
        KvRequest::Keys { prefix, separator } => keys(api, &options, prefix, separator).await,
        KvRequest::Put { key, flags, mode } => {
            let value = read_value(api, request).await?;
            put(api, &options, key, flags, mode, value).await
        }
        KvRequest::Delete { key, mode } => {
            let command = Command::KvDelete(KvDelete { key, mode });
            let outcome = api.write(options.datacenter.clone(), command).await?;
            Ok(answer(&outcome, options.pretty))
        }
    }
}

fn entries(result: QueryResult) -> Result<Vec<KvEntry>, ApiError> {
    match result {
        QueryResult::Kv(entries) => Ok(entries),
        other => Err(unexpected(&other)),
    }
}

async fn get<B: Backend>(
    api: &Api<B>,
    options: &RequestOptions,
    key: String,
    raw: bool,
) -> Result<Response, ApiError> {
    let read = api.read(options, Query::KvGet { key }).await?;
    let found = entries(read.value)?;
    let Some(entry) = found.first() else {
        return Ok(reply::not_found(&read.meta));
    };
    if !raw {
        let pairs: Vec<KvPair> = found.iter().map(KvPair::from).collect();
        return Ok(reply::read_json(&pairs, &read.meta, options.pretty));
    }
    let mut response = Response::new(Body::from(entry.value.clone()));
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain"));
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static("sandbox"),
    );
    reply::set_meta(&mut response, &read.meta);
    Ok(response)
}

async fn list<B: Backend>(
    api: &Api<B>,
    options: &RequestOptions,
    prefix: String,
) -> Result<Response, ApiError> {
    let read = api.read(options, Query::KvList { prefix }).await?;
    let found = entries(read.value)?;
    if found.is_empty() {
        return Ok(reply::not_found(&read.meta));
    }
    let pairs: Vec<KvPair> = found.iter().map(KvPair::from).collect();
    Ok(reply::read_json(&pairs, &read.meta, options.pretty))
}

async fn keys<B: Backend>(
    api: &Api<B>,
    options: &RequestOptions,
    prefix: String,
    separator: Option<String>,
) -> Result<Response, ApiError> {
    let root = prefix.is_empty();
    let read = api
        .read(options, Query::KvKeys { prefix, separator })
        .await?;
    let QueryResult::Keys(keys) = read.value else {
        return Err(unexpected(&read.value));
    };
    // Consul answers 404 for a prefix without keys, but `[]` for the root.
    if keys.is_empty() && !root {
        return Ok(reply::not_found(&read.meta));
    }
    Ok(reply::read_json(&keys, &read.meta, options.pretty))
}

/// Reads a PUT body, refusing values over `kv_max_value_size` with Consul's text.
async fn read_value<B: Backend>(api: &Api<B>, request: Incoming) -> Result<Vec<u8>, ApiError> {
    read_capped(api, request, "kv_max_value_size").await
}

/// Reads a body of at most `kv_max_value_size` bytes (Consul's limit for KV values and, as
/// `txn_max_req_len`'s default, for transactions), refusing a larger one with Consul's text
/// naming the `setting`.
pub(crate) async fn read_capped<B: Backend>(
    api: &Api<B>,
    request: Incoming,
    setting: &str,
) -> Result<Vec<u8>, ApiError> {
    let limit = api.config.kv_max_value_size;
    let value = body::read_limited(
        request.body,
        &request.headers,
        limit,
        api.config.max_discarded_body,
    )
    .await
    .map_err(|error| match error {
        BodyError::TooLarge { length } => ApiError::TooLarge(format!(
            "Request body({length} bytes) too large, max size: {limit} bytes. See \
             https://developer.hashicorp.com/docs/agent/config/config-files#{setting}."
        )),
        BodyError::Read(text) => ApiError::BadRequest(text),
    })?;
    Ok(value.to_vec())
}

async fn put<B: Backend>(
    api: &Api<B>,
    options: &RequestOptions,
    key: String,
    flags: u64,
    mode: PutMode,
    value: Vec<u8>,
) -> Result<Response, ApiError> {
    let condition = match mode {
        PutMode::Plain => KvCondition::Always,
        PutMode::Cas(index) => KvCondition::ModifyIndex(index),
        PutMode::Acquire(session) => KvCondition::Acquire(SessionId::new(session)),
        PutMode::Release(session) => KvCondition::Release(SessionId::new(session)),
    };
    let entry = KvEntry {
        key,
        value,
        flags,
        ..KvEntry::default()
    };
    let command = Command::KvSet(KvSet { entry, condition });
    let outcome = api.write(options.datacenter.clone(), command).await?;
    Ok(answer(&outcome, options.pretty))
}

/// `true` for a write that applied unconditionally, the verdict for a conditional one.
fn answer(outcome: &Outcome, pretty: bool) -> Response {
    let verdict = match outcome {
        Outcome::Done => true,
        Outcome::Condition(verdict) => *verdict,
        // A single KV command never answers as a batch (the server unbatches results); if
        // one ever did, `false` is the answer that promises nothing.
        Outcome::Batch(_)
        | Outcome::SessionCreated(_)
        | Outcome::Txn(_)
        | Outcome::QuerySaved(_) => false,
    };
    reply::json(&verdict, pretty)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(method: Method, key: &str, query: &str) -> Result<KvRequest, ApiError> {
        KvRequest::parse(&method, key, &Params::parse(Some(query)).unwrap())
    }

    #[test]
    fn normalises_keys_like_the_go_mux() {
        assert_eq!(normalize_key("a/b").unwrap(), "a/b");
        assert_eq!(normalize_key("/a").unwrap(), "a");
        assert_eq!(normalize_key("a//b/./c/").unwrap(), "a/b/c/");
        assert_eq!(normalize_key("folder/").unwrap(), "folder/");
        assert_eq!(normalize_key("").unwrap(), "");
        assert!(normalize_key("a/../b").is_err());
        assert!(normalize_key("a/%2e%2e%2fb").is_err());
    }

    #[test]
    fn parses_each_form() {
        assert_eq!(
            parse(Method::GET, "a", "raw").unwrap(),
            KvRequest::Get {
                key: "a".into(),
                raw: true
            }
        );
        assert_eq!(
            parse(Method::GET, "", "keys&seperator=/").unwrap(),
            KvRequest::Keys {
                prefix: String::new(),
                separator: Some("/".into())
            }
        );
        assert_eq!(
            parse(Method::GET, "p/", "recurse").unwrap(),
            KvRequest::List {
                prefix: "p/".into()
            }
        );
        assert_eq!(
            parse(Method::PUT, "a", "flags=42&cas=0").unwrap(),
            KvRequest::Put {
                key: "a".into(),
                flags: 42,
                mode: PutMode::Cas(Index(0))
            }
        );
        assert_eq!(
            parse(Method::DELETE, "", "recurse").unwrap(),
            KvRequest::Delete {
                key: String::new(),
                mode: KvDeleteMode::Tree
            }
        );
    }

    #[test]
    fn refuses_like_consul() {
        let text = |method, key, query| parse(method, key, query).unwrap_err().to_string();
        assert_eq!(text(Method::GET, "", ""), "Missing key name");
        assert_eq!(text(Method::PUT, "", ""), "Missing key name");
        assert_eq!(text(Method::DELETE, "", ""), "Missing key name");
        assert_eq!(
            text(Method::PUT, "a", "cas=1&acquire=s"),
            "Conflicting flags: acquire=s&cas=1\n"
        );
        assert!(text(Method::DELETE, "a", "recurse&cas=1").starts_with("Conflicting flags"));
        assert_eq!(
            text(Method::DELETE, "a", "cas=x"),
            "strconv.ParseUint: parsing \"x\": invalid syntax"
        );
        assert_eq!(
            text(Method::PUT, "a", "flags=-1"),
            "strconv.ParseUint: parsing \"-1\": invalid syntax"
        );
    }
}
