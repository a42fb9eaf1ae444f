//! `consul.api.http`: how long each request took, labelled by method and route, as Consul's
//! `handleFuncMetrics` records it (`agent/http.go`).
//!
//! The `path` label is the route's pattern without its leading slash, every `/` made `_`
//! (`/v1/kv/` → `v1_kv_`, `/v1/agent/metrics` → `v1_agent_metrics`), so a route whose path
//! carries an argument is one series however many keys or names it serves. Consul dropped its
//! older per-path names (`consul.http.GET.v1.kv._`) in 1.9's compatibility cut, so only the
//! labelled form is kept. Paths that name no route (404s) are not timed, as in Consul, whose
//! mux never reaches a timed handler for them.
//!
//! Recording goes through the `metrics` facade: with no recorder installed (metrics
//! disabled) it costs a lookup of the label and a no-op.

use crate::route::{Endpoint, EXACT, PREFIXES};
use axum::http::Method;
use std::collections::HashMap;
use std::mem::{discriminant, Discriminant};
use std::sync::OnceLock;
use std::time::Instant;

/// The metric's name.
pub const NAME: &str = "consul.api.http";

/// `pattern` as Consul's `path` label.
pub fn path_label(pattern: &str) -> String {
    pattern.trim_start_matches('/').replace('/', "_")
}

/// Every route's label, built once from the route tables so that it cannot drift from them.
/// The labels are leaked once (a few dozen short strings for the life of the process) so that
/// each request's key borrows them rather than allocating.
fn labels() -> &'static HashMap<Discriminant<Endpoint>, &'static str> {
    static LABELS: OnceLock<HashMap<Discriminant<Endpoint>, &'static str>> = OnceLock::new();
    LABELS.get_or_init(|| {
        let leak = |pattern: &str| -> &'static str { Box::leak(path_label(pattern).into()) };
        let exact = EXACT
            .iter()
            .map(|(pattern, endpoint)| (discriminant(endpoint), leak(pattern)));
        let prefixed = PREFIXES
            .iter()
            .map(|(pattern, build)| (discriminant(&build(String::new())), leak(pattern)));
        exact.chain(prefixed).collect()
    })
}

/// The label of `endpoint`'s route, or `None` for the index page, which Consul does not time.
pub fn route_label(endpoint: &Endpoint) -> Option<&'static str> {
    labels().get(&discriminant(endpoint)).copied()
}

/// A method as a `'static` label value; methods no route takes share one.
fn method_label(method: &Method) -> &'static str {
    match *method {
        Method::GET => "GET",
        Method::PUT => "PUT",
        Method::POST => "POST",
        Method::DELETE => "DELETE",
        Method::HEAD => "HEAD",
        Method::OPTIONS => "OPTIONS",
        Method::PATCH => "PATCH",
        _ => "OTHER",
    }
}

/// Records the request's duration, in milliseconds, when dropped: however the handler ends,
/// including when the request timeout cancels it.
pub struct RequestTiming {
    started: Instant,
    method: &'static str,
    route: Option<&'static str>,
}

impl RequestTiming {
    pub fn start(method: &Method, endpoint: &Endpoint) -> RequestTiming {
        RequestTiming {
            started: Instant::now(),
            method: method_label(method),
            route: route_label(endpoint),
        }
    }
}

impl Drop for RequestTiming {
    fn drop(&mut self) {
        let Some(route) = self.route else {
            return;
        };
        let millis = self.started.elapsed().as_secs_f64() * 1000.0;
        metrics::histogram!(NAME, "method" => self.method, "path" => route).record(millis);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_routes_as_consul_does() {
        assert_eq!(path_label("/v1/kv/"), "v1_kv_");
        let label = |path: &str| route_label(&Endpoint::parse(path).expect("a route"));
        assert_eq!(label("/v1/kv/a/b"), Some("v1_kv_"));
        assert_eq!(label("/v1/kv/"), Some("v1_kv_"));
        assert_eq!(label("/v1/agent/metrics"), Some("v1_agent_metrics"));
        assert_eq!(label("/v1/catalog/nodes"), Some("v1_catalog_nodes"));
        assert_eq!(
            label("/v1/agent/service/deregister/web"),
            Some("v1_agent_service_deregister_")
        );
        assert_eq!(label("/v1/agent/service/web"), Some("v1_agent_service_"));
        assert_eq!(label("/"), None);
        // Every route but the index page has a label.
        for (pattern, endpoint) in EXACT {
            assert_eq!(route_label(endpoint), Some(path_label(pattern).as_str()));
        }
        assert_eq!(method_label(&Method::PUT), "PUT");
        assert_eq!(method_label(&Method::TRACE), "OTHER");
    }
}
