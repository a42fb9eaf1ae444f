//! `consul.api.http`: how long each request took, labelled by method and route, as Consul's
//! `handleFuncMetrics` records it (`agent/http.go`).
//!
//! The `path` label is the route's pattern without its leading slash, every `/` made `_`
//! (`/v1/kv/` → `v1_kv_`, `/v1/agent/metrics` → `v1_agent_metrics`), so a route whose path
//! carries an argument is one series however many keys or names it serves. Current Consul
//! emits only this labelled form (the per-path names of Consul before 1.9, such as
//! `consul.http.GET.v1.kv._`, are gone), and so does Legate. Paths that name no route (404s)
//! are not timed, as in Consul, whose mux never reaches a timed handler for them.
//!
//! Recording goes through the `metrics` facade, into a handle each router keeps per route
//! and method (`HttpTimings`), so a request costs a table lookup and the record itself; with
//! no recorder installed (metrics off) the record is a no-op.

use crate::route::{Endpoint, EXACT, PREFIXES};
use axum::http::Method;
use std::collections::HashMap;
use std::mem::{discriminant, Discriminant};
use std::sync::OnceLock;
use std::time::Instant;

/// The metric's name.
pub const NAME: &str = "consul.api.http";

/// The methods a request is timed under, in the order of `method_index`; methods no route
/// takes share the last.
const METHODS: [&str; 8] = [
    "GET", "PUT", "POST", "DELETE", "HEAD", "OPTIONS", "PATCH", "OTHER",
];

fn method_index(method: &Method) -> usize {
    match *method {
        Method::GET => 0,
        Method::PUT => 1,
        Method::POST => 2,
        Method::DELETE => 3,
        Method::HEAD => 4,
        Method::OPTIONS => 5,
        Method::PATCH => 6,
        _ => 7,
    }
}

/// `pattern` as Consul's `path` label.
pub fn path_label(pattern: &str) -> String {
    pattern.trim_start_matches('/').replace('/', "_")
}

/// Every route's position and label, built once from the route tables so that it cannot
/// drift from them. The labels are leaked once (a few dozen short strings for the life of the
/// process) so that metric keys can borrow them.
fn routes() -> &'static HashMap<Discriminant<Endpoint>, (usize, &'static str)> {
    static ROUTES: OnceLock<HashMap<Discriminant<Endpoint>, (usize, &'static str)>> =
        OnceLock::new();
    ROUTES.get_or_init(|| {
        let leak = |pattern: &str| -> &'static str { Box::leak(path_label(pattern).into()) };
        let exact = EXACT
            .iter()
            .map(|(pattern, endpoint)| (discriminant(endpoint), leak(pattern)));
        let prefixed = PREFIXES
            .iter()
            .map(|(pattern, build)| (discriminant(&build(String::new())), leak(pattern)));
        exact
            .chain(prefixed)
            .enumerate()
            .map(|(position, (route, label))| (route, (position, label)))
            .collect()
    })
}

/// The label of `endpoint`'s route, or `None` for the index page, which Consul does not time.
pub fn route_label(endpoint: &Endpoint) -> Option<&'static str> {
    routes()
        .get(&discriminant(endpoint))
        .map(|(_, label)| *label)
}

/// One router's histogram handles, one per route and method, each registered with the
/// recorder on its first request. A request then records straight into its handle, with no
/// key to build or look up: the recorder must therefore be installed before the router is
/// built (the agent installs it first thing), or this router's timings go nowhere.
pub struct HttpTimings {
    handles: Vec<[OnceLock<metrics::Histogram>; METHODS.len()]>,
}

impl Default for HttpTimings {
    fn default() -> Self {
        HttpTimings {
            handles: (0..routes().len()).map(|_| Default::default()).collect(),
        }
    }
}

impl HttpTimings {
    /// Starts timing a request to `endpoint`.
    pub fn start(&self, method: &Method, endpoint: &Endpoint) -> RequestTiming<'_> {
        let histogram = routes()
            .get(&discriminant(endpoint))
            .map(|(position, label)| {
                let method = method_index(method);
                self.handles[*position][method].get_or_init(
                    || metrics::histogram!(NAME, "method" => METHODS[method], "path" => *label),
                )
            });
        RequestTiming {
            started: Instant::now(),
            histogram,
        }
    }
}

/// Records the request's duration, in milliseconds, when dropped: however the handler ends,
/// including when the request timeout cancels it.
pub struct RequestTiming<'a> {
    started: Instant,
    histogram: Option<&'a metrics::Histogram>,
}

impl Drop for RequestTiming<'_> {
    fn drop(&mut self) {
        if let Some(histogram) = self.histogram {
            histogram.record(self.started.elapsed().as_secs_f64() * 1000.0);
        }
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
        assert_eq!(METHODS[method_index(&Method::PUT)], "PUT");
        assert_eq!(METHODS[method_index(&Method::TRACE)], "OTHER");
    }
}
