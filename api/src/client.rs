//! `Client`: a typed HTTP client for the endpoints this crate serves, used by the CLI and
//! the end-to-end tests. It speaks to Legate or to Consul alike.
//!
//! Reads take `QueryOptions` and answer `(value, QueryMeta)`, the meta parsed from the
//! `X-Consul-*` headers; writes answer what the server answered (`true`/`false`). A
//! non-2xx answer is `ClientError::Status` with its code and plain-text body.

mod calls;
mod event;
mod membership;
mod operator;
mod session;

pub use operator::{KeyringOptions, PeerBy};

use crate::params::percent_encode_query;
use serde::de::DeserializeOwned;
use std::time::Duration;
use thiserror::Error;

/// Why a call failed.
#[derive(Debug, Error)]
pub enum ClientError {
    /// The server answered with a non-success status. Whether anything changed depends on
    /// the status: 4xx never changes anything; 5xx may (a write whose fate is unknown).
    #[error("Unexpected response code: {status} ({body})")]
    Status { status: u16, body: String },
    /// The request did not complete (connection refused, reset, timed out). A write may
    /// or may not have been applied; a retry may help.
    #[error("transport error: {0}")]
    Transport(#[from] reqwest::Error),
    /// The answer was not the JSON expected, or lacked a header a read must carry.
    #[error("bad answer: {0}")]
    Decode(String),
}

/// Options of a read.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct QueryOptions {
    /// `?dc=`.
    pub datacenter: Option<String>,
    /// `?index=`: block until the result's index passes this one.
    pub index: u64,
    /// `?wait=`: how long to block (the server's default is 5 minutes).
    pub wait: Option<Duration>,
    /// `?stale`.
    pub stale: bool,
    /// `?consistent`.
    pub consistent: bool,
    /// `?near=`.
    pub near: Option<String>,
    /// `?node-meta=key:value`, repeated.
    pub node_meta: Vec<(String, String)>,
}

/// What a read's headers said.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct QueryMeta {
    pub index: u64,
    pub known_leader: bool,
    pub last_contact: Duration,
    /// `X-Consul-Effective-Consistency`, when sent.
    pub consistency: Option<String>,
}

/// Options of a KV put.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct KvPutOptions {
    pub flags: u64,
    /// Check-and-set: 0 writes only if the key is absent, else only at this `ModifyIndex`.
    pub cas: Option<u64>,
    /// `?acquire=<session>`: take the key's lock.
    pub acquire: Option<String>,
    /// `?release=<session>`: let go of the key's lock.
    pub release: Option<String>,
    /// `?dc=`: write in that datacenter.
    pub datacenter: Option<String>,
}

/// Options of a KV delete.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct KvDeleteOptions {
    /// Delete every key with this prefix.
    pub recurse: bool,
    /// `?dc=`: delete in that datacenter.
    pub datacenter: Option<String>,
    /// Delete only at this `ModifyIndex`.
    pub cas: Option<u64>,
}

/// A Consul HTTP API client.
#[derive(Clone, Debug)]
pub struct Client {
    base: String,
    http: reqwest::Client,
    token: Option<String>,
}

/// Time allowed on top of a blocking read's wait (and its 1/16 jitter) for the answer.
const READ_MARGIN: Duration = Duration::from_secs(30);
/// Time allowed for a call that does not block.
const CALL_TIMEOUT: Duration = Duration::from_secs(60);
/// The server's default wait, used to size the timeout of a blocking read without one.
const DEFAULT_WAIT: Duration = Duration::from_secs(300);

type Query = Vec<(String, String)>;

impl Client {
    /// A client for `base_url` (`http://127.0.0.1:8500`).
    pub fn new(base_url: impl Into<String>) -> Client {
        Client {
            base: base_url.into().trim_end_matches('/').to_owned(),
            http: reqwest::Client::new(),
            token: None,
        }
    }

    /// Sends `X-Consul-Token` with every request.
    pub fn with_token(mut self, token: impl Into<String>) -> Client {
        self.token = Some(token.into());
        self
    }

    fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    fn query_of(options: &QueryOptions) -> Query {
        let mut query = Query::new();
        let mut push = |key: &str, value: String| query.push((key.to_owned(), value));
        if let Some(dc) = &options.datacenter {
            push("dc", dc.clone());
        }
        if options.index > 0 {
            push("index", options.index.to_string());
        }
        if let Some(wait) = options.wait {
            // Whole milliseconds, as the Go client sends them (`300000ms`).
            push("wait", format!("{}ms", wait.as_millis()));
        }
        if options.stale {
            push("stale", String::new());
        }
        if options.consistent {
            push("consistent", String::new());
        }
        if let Some(near) = &options.near {
            push("near", near.clone());
        }
        for (key, value) in &options.node_meta {
            push("node-meta", format!("{key}:{value}"));
        }
        query
    }

    fn encode(path: &str, query: &Query) -> String {
        if query.is_empty() {
            return path.to_owned();
        }
        let pairs: Vec<String> = query
            .iter()
            .map(|(key, value)| {
                if value.is_empty() {
                    percent_encode_query(key)
                } else {
                    format!(
                        "{}={}",
                        percent_encode_query(key),
                        percent_encode_query(value)
                    )
                }
            })
            .collect();
        format!("{path}?{}", pairs.join("&"))
    }

    async fn send(
        &self,
        method: reqwest::Method,
        path_and_query: &str,
        body: Option<Vec<u8>>,
        timeout: Duration,
    ) -> Result<reqwest::Response, ClientError> {
        let mut request = self
            .http
            .request(method, self.url(path_and_query))
            .timeout(timeout);
        if let Some(token) = &self.token {
            request = request.header("X-Consul-Token", token);
        }
        if let Some(body) = body {
            request = request.body(body);
        }
        let response = request.send().await?;
        Ok(response)
    }

    async fn fail(response: reqwest::Response) -> ClientError {
        let status = response.status().as_u16();
        let body = response.text().await.unwrap_or_default();
        ClientError::Status {
            status,
            body: body.trim_end().to_owned(),
        }
    }

    fn meta(response: &reqwest::Response) -> Result<QueryMeta, ClientError> {
        let header = |name: &str| {
            response
                .headers()
                .get(name)
                .and_then(|value| value.to_str().ok())
                .map(str::to_owned)
        };
        let missing = |name: &str| ClientError::Decode(format!("missing header {name}"));
        let index = header("X-Consul-Index")
            .ok_or_else(|| missing("X-Consul-Index"))?
            .parse()
            .map_err(|_| ClientError::Decode("Failed to parse X-Consul-Index".into()))?;
        let last_contact: u64 = header("X-Consul-LastContact")
            .ok_or_else(|| missing("X-Consul-LastContact"))?
            .parse()
            .map_err(|_| ClientError::Decode("Failed to parse X-Consul-LastContact".into()))?;
        Ok(QueryMeta {
            index,
            known_leader: header("X-Consul-KnownLeader").as_deref() == Some("true"),
            last_contact: Duration::from_millis(last_contact),
            consistency: header("X-Consul-Effective-Consistency"),
        })
    }

    /// A read. `Ok(None)` for a 404 (which still carries meta).
    async fn read<T: DeserializeOwned>(
        &self,
        path: &str,
        mut query: Query,
        options: &QueryOptions,
    ) -> Result<(Option<T>, QueryMeta), ClientError> {
        query.extend(Self::query_of(options));
        let timeout = if options.index > 0 {
            let wait = options.wait.unwrap_or(DEFAULT_WAIT);
            wait + wait / 16 + READ_MARGIN
        } else {
            CALL_TIMEOUT
        };
        let response = self
            .send(
                reqwest::Method::GET,
                &Self::encode(path, &query),
                None,
                timeout,
            )
            .await?;
        if response.status() == reqwest::StatusCode::NOT_FOUND {
            let meta = Self::meta(&response)?;
            return Ok((None, meta));
        }
        if !response.status().is_success() {
            return Err(Self::fail(response).await);
        }
        let meta = Self::meta(&response)?;
        let bytes = response.bytes().await?;
        let value = serde_json::from_slice(&bytes)
            .map_err(|error| ClientError::Decode(error.to_string()))?;
        Ok((Some(value), meta))
    }

    /// A read whose 404 is an error (only KV uses 404 for "none").
    async fn read_found<T: DeserializeOwned>(
        &self,
        path: &str,
        query: Query,
        options: &QueryOptions,
    ) -> Result<(T, QueryMeta), ClientError> {
        match self.read(path, query, options).await? {
            (Some(value), meta) => Ok((value, meta)),
            (None, _) => Err(ClientError::Status {
                status: 404,
                body: String::new(),
            }),
        }
    }

    /// A call whose answer is JSON, without read meta.
    async fn call<T: DeserializeOwned>(
        &self,
        method: reqwest::Method,
        path_and_query: &str,
        body: Option<Vec<u8>>,
    ) -> Result<T, ClientError> {
        self.call_accepting(method, path_and_query, body, &[]).await
    }

    /// A call whose answer is JSON, also on the non-2xx statuses in `accepted` (autopilot
    /// health answers its body with 429 when unhealthy).
    async fn call_accepting<T: DeserializeOwned>(
        &self,
        method: reqwest::Method,
        path_and_query: &str,
        body: Option<Vec<u8>>,
        accepted: &[u16],
    ) -> Result<T, ClientError> {
        let response = self
            .send(method, path_and_query, body, CALL_TIMEOUT)
            .await?;
        let status = response.status();
        if !status.is_success() && !accepted.contains(&status.as_u16()) {
            return Err(Self::fail(response).await);
        }
        let bytes = response.bytes().await?;
        serde_json::from_slice(&bytes).map_err(|error| ClientError::Decode(error.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_strings_match_the_go_client() {
        let options = QueryOptions {
            index: 7,
            wait: Some(Duration::from_secs(300)),
            stale: true,
            node_meta: vec![("rack".into(), "r 1".into())],
            ..QueryOptions::default()
        };
        let query = Client::query_of(&options);
        assert_eq!(
            Client::encode("/v1/catalog/nodes", &query),
            "/v1/catalog/nodes?index=7&wait=300000ms&stale&node-meta=rack%3Ar+1"
        );
        assert_eq!(Client::encode("/v1/x", &Query::new()), "/v1/x");
    }
}
