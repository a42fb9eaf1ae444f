//! `ApiError`: every way a request fails, and the plain-text answer Consul gives for it.
//!
//! Consul's error bodies are plain text, never JSON, and clients map the status codes
//! (py-consul: 400 BadRequest, 404 NotFound, 5xx ConsulException). Variants say whether
//! anything changed and whether retrying can help.

use crate::backend::BackendError;
use crate::decode::DecodeError;
use axum::http::{header, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use thiserror::Error;

#[derive(Debug, Error)]
pub enum ApiError {
    /// A malformed request (bad parameter, missing name, undecodable body). Nothing
    /// changed; the same request fails again. (400)
    #[error("{0}")]
    BadRequest(String),
    /// No such endpoint. (404)
    #[error("{0}")]
    NotFound(String),
    /// The endpoint exists but not for this method; `allow` lists the methods it takes. (405)
    #[error("method {method} not allowed")]
    MethodNotAllowed {
        method: Method,
        allow: &'static [Method],
    },
    /// The body is larger than the endpoint accepts. Nothing changed. (413)
    #[error("{0}")]
    TooLarge(String),
    /// The request was well formed but refused the way Consul's servers refuse it (an RPC
    /// error such as "Must provide node"). Nothing changed; retrying fails again. (500)
    #[error("{0}")]
    Refused(String),
    /// The backend failed; its variant says whether a retry may help. (500)
    #[error(transparent)]
    Backend(#[from] BackendError),
    /// The request outlived the request timeout. A write may or may not have applied. (503)
    #[error("Request timed out")]
    TimedOut,
}

impl From<DecodeError> for ApiError {
    fn from(error: DecodeError) -> Self {
        ApiError::BadRequest(error.to_string())
    }
}

impl From<crate::local::LocalError> for ApiError {
    fn from(error: crate::local::LocalError) -> Self {
        use crate::local::LocalError;
        match error {
            LocalError::NotFound(text) => ApiError::NotFound(text),
            LocalError::Invalid(text) => ApiError::BadRequest(text),
            LocalError::Refused(text) | LocalError::Storage(text) => ApiError::Refused(text),
        }
    }
}

impl ApiError {
    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::MethodNotAllowed { .. } => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::TooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::Refused(_) | ApiError::Backend(_) => StatusCode::INTERNAL_SERVER_ERROR,
            ApiError::TimedOut => StatusCode::SERVICE_UNAVAILABLE,
        }
    }
}

/// The `Allow` header value for an endpoint: `OPTIONS` first, then its methods, joined with
/// commas as Consul writes it.
pub fn allow_header(methods: &[Method]) -> HeaderValue {
    let mut text = String::from("OPTIONS");
    for method in methods {
        text.push(',');
        text.push_str(method.as_str());
    }
    HeaderValue::from_str(&text).expect("method names are valid header text")
}

/// A plain-text answer with `status`.
pub fn plain_text(status: StatusCode, text: impl Into<String>) -> Response {
    let mut response = (status, text.into()).into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    response
}

/// Says what kind of failure a 5xx answer is. Consul answers 500 both when a server
/// refuses what a request asked (a bad filter, a missing node name, an unknown `?dc=`) and
/// when it fails; Legate keeps the status clients expect and names the kind here, so that a
/// caller, or a fuzzer, can tell a refusal from a fault.
pub const ERROR_KIND_HEADER: &str = "X-Legate-Error";

impl ApiError {
    /// The `X-Legate-Error` value of a 5xx answer: `refused` (the request's content is the
    /// cause; the same request fails again), `unavailable` (no leader, or out of time; a
    /// retry may succeed), `indeterminate` (a write whose fate is unknown) or `internal`.
    pub fn kind(&self) -> Option<&'static str> {
        match self {
            ApiError::Refused(_)
            | ApiError::Backend(BackendError::Rejected(_))
            | ApiError::Backend(BackendError::Refused(_))
            | ApiError::Backend(BackendError::NoPathToDatacenter) => Some("refused"),
            ApiError::Backend(BackendError::NoLeader) | ApiError::TimedOut => Some("unavailable"),
            ApiError::Backend(BackendError::Indeterminate(_)) => Some("indeterminate"),
            ApiError::Backend(BackendError::Internal(_)) => Some("internal"),
            ApiError::BadRequest(_)
            | ApiError::NotFound(_)
            | ApiError::MethodNotAllowed { .. }
            | ApiError::TooLarge(_) => None,
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut response = plain_text(self.status(), self.to_string());
        if let ApiError::MethodNotAllowed { allow, .. } = &self {
            response
                .headers_mut()
                .insert(header::ALLOW, allow_header(allow));
        }
        if let Some(kind) = self.kind() {
            response
                .headers_mut()
                .insert(ERROR_KIND_HEADER, HeaderValue::from_static(kind));
        }
        response
    }
}
