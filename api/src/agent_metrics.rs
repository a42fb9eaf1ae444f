//! `GET /v1/agent/metrics`: the agent's metrics, as Consul's JSON or, with
//! `?format=prometheus` (or an `Accept` header asking for OpenMetrics, as Prometheus sends
//! it), as Prometheus text.
//!
//! Consul serves the Prometheus form only once `telemetry.prometheus_retention_time` is set,
//! and otherwise answers `415 Prometheus is not enabled since its retention time is not
//! positive`. Legate always serves it: its recorder keeps every metric for the life of the
//! process whatever that setting says, so there is nothing to enable, and a scraper pointed at
//! a fresh agent works without a config change. With metrics turned off
//! (`telemetry.disable_metrics`, a Legate key) both forms answer with nothing recorded.

use crate::backend::Backend;
use crate::error::ApiError;
use crate::reply;
use crate::router::{Api, Incoming};
use crate::telemetry::{json, prometheus};
use axum::body::Body;
use axum::http::{header, HeaderMap, HeaderValue};
use axum::response::Response;

/// `GET /v1/agent/metrics[?format=prometheus]`.
pub async fn metrics<B: Backend>(api: &Api<B>, request: Incoming) -> Result<Response, ApiError> {
    let options = api.options(&request)?;
    let snapshot = api.backend.metrics();
    if request.params.get("format") == Some("prometheus") || accepts_openmetrics(&request.headers) {
        let mut response = Response::new(Body::from(prometheus::render(&snapshot)));
        response.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static(prometheus::CONTENT_TYPE),
        );
        return Ok(response);
    }
    Ok(reply::json(&json::summary(&snapshot), options.pretty))
}

/// Consul's `acceptsOpenMetricsMimeType`: an `Accept` entry of `application/openmetrics-text`,
/// or `text/plain; version=0.4.0`.
fn accepts_openmetrics(headers: &HeaderMap) -> bool {
    headers
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .any(|entry| {
            let mut parts = entry.split(';').map(str::trim);
            let mime = parts.next().unwrap_or_default().to_ascii_lowercase();
            mime == "application/openmetrics-text"
                || (mime == "text/plain" && parts.next() == Some("version=0.4.0"))
        })
}

#[cfg(test)]
mod tests {
    use super::accepts_openmetrics;
    use axum::http::{header, HeaderMap, HeaderValue};

    #[test]
    fn recognises_prometheus_accept_headers() {
        let accepts = |value: &'static str| {
            let mut headers = HeaderMap::new();
            headers.insert(header::ACCEPT, HeaderValue::from_static(value));
            accepts_openmetrics(&headers)
        };
        // What Prometheus 2.x sends when scraping.
        assert!(accepts(
            "application/openmetrics-text;version=1.0.0;q=0.5,text/plain;version=0.0.4;q=0.3,*/*;q=0.2"
        ));
        assert!(accepts("text/plain; version=0.4.0"));
        assert!(!accepts("application/json"));
        assert!(!accepts("text/plain"));
        assert!(!accepts_openmetrics(&HeaderMap::new()));
    }
}
